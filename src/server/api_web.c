/*
 * api_web.c - GET / and the dashboard's other static files (web.h), the one
 * part of the server besides /healthz and /readyz that needs no token
 * (DESIGN rule 4): they hold no data, only the code that asks for it with
 * the user's token.
 *
 * Each reply carries the asset's ETag and the dashboard's security headers
 * (http.c adds them for reply.dashboard: Content-Security-Policy from
 * web_csp(), X-Frame-Options: DENY, Referrer-Policy: no-referrer,
 * X-Content-Type-Options: nosniff), Cache-Control: no-cache so the browser
 * revalidates, and a matching If-None-Match gets 304 without a body.  The
 * bytes are sent from the table built into the binary, never copied.
 */
#include "server/api.h"
#include "server/api_int.h"

#include "server/web.h"

int api_web_exists(const char *path)
{
	return web_asset_lookup(path, NULL, NULL, NULL, NULL) == LS_OK;
}

void api_web_get(struct server *s, const struct request *q, struct reply *r)
{
	const uint8_t *data;
	size_t len;
	const char *ctype, *etag;

	(void)s;
	if (web_asset_lookup(q->path, &data, &len, &ctype, &etag) != LS_OK) {
		reply_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	r->dashboard = 1;
	r->cache_control = "no-cache";
	r->etag = etag;
	r->content_type = ctype;
	if (web_etag_matches(q->if_none_match, etag)) {
		r->status = 304;
		r->raw_static = "";
		r->raw_len = 0;
		return;
	}
	r->status = 200;
	r->raw_static = data;
	r->raw_len = len;
}
