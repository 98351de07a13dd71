/*
 * web.h - the dashboard's static files (the files under web/), built into the binary.
 *
 * scripts/embed_web.py turns every file under web/ into a byte array in the
 * generated build/gen/web_assets.c, with its content type and an ETag made
 * from its SHA-256, so the server needs no files on disk and an asset can
 * never differ from what was built.  http.c serves them without a token
 * (rule 4 of DESIGN.md: the static files are the one public part besides
 * /healthz) with these headers:
 *	Content-Type: the asset's content_type
 *	ETag: the asset's etag (answer If-None-Match with 304)
 *	Content-Security-Policy: web_csp()
 *	X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer,
 *	Cache-Control: no-cache (revalidate with the ETag)
 *
 * Invariants:
 *  1. Paths are exact, absolute and case-sensitive ("/app.js"); "/" is
 *     index.html.  Nothing else maps onto a file: there is no directory
 *     traversal because there is no file system behind the table.
 *  2. Every asset has a known content type; the generator refuses a file
 *     whose extension it does not know rather than guess.
 *  3. data is followed by a NUL byte not counted in len (so an empty file
 *     is still a valid array); the bytes are immutable for the process.
 */
#ifndef LS_WEB_H
#define LS_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

/* One embedded file (the generated table; use the functions below). */
struct web_asset {
	const char *path;		/* "/index.html" */
	const uint8_t *data;
	size_t len;
	const char *content_type;	/* "text/html; charset=utf-8" */
	const char *etag;		/* "\"<32 hex digits of SHA-256>\"" (quotes included) */
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

/*
 * Find the asset for a request path (a query string after '?' is ignored).
 * LS_OK (0) and the out parameters filled (each may be NULL) when found,
 * LS_NOTFOUND otherwise (the out parameters are left alone).
 */
ls_rc web_asset_lookup(const char *path, const uint8_t **data, size_t *len,
		       const char **content_type, const char **etag);

/* Number of assets and the path of asset i (NULL past the end), for a
 * router that registers each path, plus "/". */
size_t web_asset_count(void);
const char *web_asset_path(size_t i);

/* The Content-Security-Policy header value for every dashboard response. */
const char *web_csp(void);

/* 1 when the If-None-Match header value (may be NULL) matches etag:
 * "*", or a comma-separated list holding it, weak ("W/") forms included. */
int web_etag_matches(const char *if_none_match, const char *etag);

#endif
