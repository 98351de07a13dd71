/*
 * web.c - lookup of the dashboard's embedded files (web.h) and the
 * Content-Security-Policy they are served with.
 *
 * The table itself is generated (build/gen/web_assets.c) and small (a
 * handful of files), so a linear scan with exact comparison is both the
 * simplest and fast enough; it also keeps invariant 1 of web.h obvious.
 *
 * The CSP allows nothing but the server's own scripts, styles and fetches:
 * no inline script or style, no framing, no <base>, no form posts, images
 * only from the server or data: URIs.  The dashboard is written for it.
 */
#include "server/web.h"

#include <string.h>

/* A request path longer than this cannot be an asset. */
#define WEB_PATH_MAX 256

static const char csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const char *web_csp(void)
{
	return csp;
}

size_t web_asset_count(void)
{
	return web_assets_count;
}

const char *web_asset_path(size_t i)
{
	return i < web_assets_count ? web_assets[i].path : NULL;
}

ls_rc web_asset_lookup(const char *path, const uint8_t **data, size_t *len,
		       const char **content_type, const char **etag)
{
	const char *q;
	size_t n;

	if (!path || path[0] != '/')
		return LS_NOTFOUND;
	q = strchr(path, '?');
	n = q ? (size_t)(q - path) : strlen(path);
	if (n > WEB_PATH_MAX)
		return LS_NOTFOUND;
	if (n == 1) {
		path = "/index.html";
		n = strlen(path);
	}
	for (size_t i = 0; i < web_assets_count; i++) {
		const struct web_asset *a = &web_assets[i];

		if (strlen(a->path) != n || memcmp(a->path, path, n) != 0)
			continue;
		if (data)
			*data = a->data;
		if (len)
			*len = a->len;
		if (content_type)
			*content_type = a->content_type;
		if (etag)
			*etag = a->etag;
		return LS_OK;
	}
	return LS_NOTFOUND;
}

int web_etag_matches(const char *inm, const char *etag)
{
	size_t el;

	if (!inm || !etag)
		return 0;
	el = strlen(etag);
	while (*inm) {
		const char *end;
		size_t n;

		while (*inm == ' ' || *inm == '\t' || *inm == ',')
			inm++;
		if (!*inm)
			break;
		end = inm;
		/* An entity tag is quoted and may not contain '"', so the next
		 * comma outside quotes ends it. */
		if (*end == '*') {
			end++;
		} else {
			if (end[0] == 'W' && end[1] == '/')
				end += 2;
			if (*end == '"') {
				const char *close = strchr(end + 1, '"');
				end = close ? close + 1 : end + strlen(end);
			}
			while (*end && *end != ',')
				end++;
		}
		n = (size_t)(end - inm);
		while (n > 0 && (inm[n - 1] == ' ' || inm[n - 1] == '\t'))
			n--;
		if (n == 1 && inm[0] == '*')
			return 1;
		if (n > 2 && inm[0] == 'W' && inm[1] == '/') {
			inm += 2;
			n -= 2;
			end = inm + n;
		}
		if (n == el && memcmp(inm, etag, el) == 0)
			return 1;
		inm = end;
	}
	return 0;
}
