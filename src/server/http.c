/*
 * http.c - libmicrohttpd daemon, routing, limits and JSON replies.
 *
 * A request goes through these steps; each can end it with an error reply:
 *  1. headers in (first call of the access handler): refuse while shutting
 *     down (503), refuse an ambiguous request (400: a NUL byte, %00, in the
 *     path, which would cut it short; Content-Length given twice or next to
 *     Transfer-Encoding, which a proxy in front may read differently - the
 *     request smuggling of RFC 9112 section 6.3), route by path and method
 *     (404, 405), authenticate (401) and check the role (403) - both logged
 *     as events - then the content type (415), the query (400) and
 *     Content-Length (413, or 503 when the body budget has no room for it).
 *     A refused request never has its body read.
 *  2. body: copied into a buffer that grows as the bytes arrive (see "body
 *     memory") and never past max_body; beyond it the rest is discarded and
 *     the reply is 413 once the client has sent all of it, and likewise 503
 *     when the body budget runs out in the middle.  libmicrohttpd 0.9.75
 *     cannot queue a reply in the middle of an upload, so a client that goes
 *     on past twice the cap is simply disconnected (one with a Content-Length
 *     over the cap gets its 413 at step 1 without sending anything).
 *  3. complete: the handler runs in this pool thread (log_append blocks
 *     until the batch is durable) and its reply is queued: JSON, raw bytes
 *     (tiles, checkpoints, dashboard files), or a body produced piece by
 *     piece by the handler's callback (exports, live streams) with bounded
 *     memory.  A live stream (GET /v1/stream) that has nothing to send
 *     suspends its connection (libmicrohttpd suspend/resume), so waiting
 *     clients hold no pool thread; http_stop() has streams_stop() resume and
 *     end them all before the daemon stops, as libmicrohttpd requires.
 *  4. the reply is counted (metrics.h) by route pattern and status when
 *     libmicrohttpd reports the request complete.
 *
 * Query-string parameters are handed to handlers as decoded pairs in their
 * order (struct request.args); one that decodes to a NUL byte, or more than
 * REQUEST_MAX_ARGS of them, is a 400 here.  Each handler refuses names it
 * does not know.
 *
 * Limits that protect the server from slow or hostile clients: the
 * connection count in all and per address, an idle timeout, the memory a
 * connection may use for its headers, the body cap above and the body
 * budget (all bodies being received at once).
 *
 * TLS: 1.2 and 1.3 with AEAD suites and ECDHE only (Mozilla's
 * "intermediate" profile without its finite-field DHE); no CBC, no SHA-1
 * MAC, no static RSA key exchange.
 *
 * Every reply carries X-Content-Type-Options: nosniff, X-Frame-Options:
 * DENY, Referrer-Policy: no-referrer and a Content-Security-Policy: the
 * dashboard's (web_csp()) on its files, "default-src 'none'" on the rest.
 *
 * The endpoints are rows of the route table (api.h, api_routes.c); this file
 * knows none of them by name.  A row gives the method and path, the role,
 * the body it takes and the handler called at step 3.
 *
 * Invariants:
 *  1. Every route but those the table marks API_PUBLIC (/healthz, /readyz
 *     and the dashboard's static files) needs an active token whose roles
 *     allow it (deny by default: a path missing from the table is a 404, a
 *     row that names no role reaches nobody).
 *  2. server.active counts requests from their first call until libmicrohttpd
 *     reports them complete, so http_stop() can wait for them.
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/session.h"
#include "server/web.h"

#define AUTH_HEADER_MAX 512

#define LIVE_SNDBUF (64 * 1024)	/* kernel send buffer of a live stream's socket */

const char *const *http_route_labels(size_t *n, const char *const **methods)
{
	return api_route_labels(n, methods);
}

struct http {
	struct MHD_Daemon *d;
	struct server *s;
	unsigned port;
	size_t page;			/* the page size, for mapped bodies */
	size_t body_budget;		/* cap on body_charged */
	_Atomic size_t body_charged;	/* what all body buffers hold beyond BODY_FIRST each */
	_Atomic size_t body_heap;	/* what body buffers hold in the heap */
	atomic_int body_flood;		/* body_heap has passed TRIM_HIGH since the last trim */
};

/* Per request state, from the first call to the completion callback. */
struct conn {
	const struct api_route *route;
	struct request q;
	struct auth_principal who;
	struct session_info sess;	/* when the session cookie authenticated it */
	struct query_arg *args;
	size_t nargs;
	int bad_args;		/* a parameter held a NUL byte, or too many */
	int started;		/* the access handler has been called */
	int nul_in_path;	/* the raw path holds %00 */
	char *buf;		/* the body: heap below BODY_MAP_MIN, else a mapping */
	size_t len, cap;
	size_t body_limit;	/* the body cannot be longer: max_body, or less by Content-Length */
	size_t discarded;
	int too_large;
	int over_budget;	/* the body budget ran out: discard the body, reply 503 */
	int replied;		/* a reply was queued at step 1 */
	int counted;
};

void http_conn_suspend(struct http_conn *c)
{
	MHD_suspend_connection((struct MHD_Connection *)c);
}

void http_conn_resume(struct http_conn *c)
{
	MHD_resume_connection((struct MHD_Connection *)c);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ======================================================= replies */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
			       struct MHD_Response *resp, const char *ctype, const struct reply *r,
			       int close)
{
	enum MHD_Result ret;
	char num[24];

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				r && r->cache_control ? r->cache_control : "no-store");
	if (r && r->disposition[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, r->disposition);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Content-Security-Policy",
				r && r->dashboard ? web_csp() :
						    "default-src 'none'; frame-ancestors 'none'");
	if (r && r->etag)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
	if (r && r->set_cookie[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
	if (r && r->retry_after > 0) {
		snprintf(num, sizeof(num), "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (r && r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text,
				 size_t len, const char *ctype, const struct reply *r, int close)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	return queue(c, status, resp, ctype, r, close);
}

struct stream {
	reply_stream_fn fn;
	reply_stream_free_fn free;
	void *ctx;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	long n = st->fn(st->ctx, pos, buf, max);

	if (n >= 0)
		return (ssize_t)n;	/* 0: the stream suspended its connection */
	return n == REPLY_STREAM_END ? MHD_CONTENT_READER_END_OF_STREAM
				     : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;

	if (st->free)
		st->free(st->ctx);
	free(st);
}

/* A body of unknown length: HTTP/1.1 chunked encoding, so a cut stream is
 * visible to the client as an incomplete transfer. */
static enum MHD_Result send_stream(struct MHD_Connection *c, struct reply *r)
{
	struct MHD_Response *resp;
	struct stream *st = malloc(sizeof(*st));

	if (!st) {
		if (r->stream_free)
			r->stream_free(r->stream_ctx);
		return MHD_NO;
	}
	st->fn = r->stream;
	st->free = r->stream_free;
	st->ctx = r->stream_ctx;
	r->stream = NULL;
	r->stream_free = NULL;
	r->stream_ctx = NULL;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, st,
						 stream_free);
	if (!resp) {
		stream_free(st);
		return MHD_NO;
	}
	/* A live stream ends only to be left (overflow, shutdown): close the
	 * connection with it rather than keep it alive. */
	return queue(c, r->status, resp, r->content_type ? r->content_type :
				   "application/octet-stream", r, r->stream_live);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *r, int close)
{
	char *text = NULL, *t2;
	size_t len;

	if (r->stream) {
		json_decref(r->body);
		r->body = NULL;
		free(r->raw);
		r->raw = NULL;
		return send_stream(c, r);
	}
	if (r->raw_static) {
		struct MHD_Response *resp;
		json_decref(r->body);
		r->body = NULL;
		free(r->raw);
		r->raw = NULL;
		resp = MHD_create_response_from_buffer(r->raw_len, (void *)r->raw_static,
						       MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		return queue(c, r->status, resp,
			     r->content_type ? r->content_type : "application/octet-stream", r,
			     close);
	}
	if (r->raw) {
		char *raw = r->raw;
		json_decref(r->body);
		r->body = NULL;
		r->raw = NULL;
		return send_text(c, r->status, raw, r->raw_len,
				 r->content_type ? r->content_type : "application/octet-stream", r,
				 close);
	}
	if (r->body)
		text = json_dumps(r->body, JSON_COMPACT | JSON_ENSURE_ASCII |
					   (r->real_digits > 0 && r->real_digits <= 17
						    ? JSON_REAL_PRECISION(r->real_digits) : 0));
	if (!text) {
		reply_error(r, 500, "internal", "could not encode the reply");
		text = json_dumps(r->body, JSON_COMPACT);
		if (!text)
			text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
		if (!text)
			return MHD_NO;
	}
	len = strlen(text);
	t2 = realloc(text, len + 2);
	if (t2) {
		text = t2;
		text[len++] = '\n';
		text[len] = 0;
	}
	json_decref(r->body);
	r->body = NULL;
	return send_text(c, r->status, text, len, "application/json", r, close);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
				  const char *allow, int retry_after, int close,
				  const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
				  const char *allow, int retry_after, int close,
				  const char *fmt, ...)
{
	struct reply r = { 0 };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error(&r, status, code, "%s", msg);
	r.allow = allow;
	r.retry_after = retry_after;
	return send_reply(c, &r, close);
}

/* ======================================================= body memory */

/*
 * A body buffer grows as the bytes arrive, doubling from BODY_FIRST, and
 * never from what Content-Length announces, which only lowers the cap: a
 * client that announces 16 MiB and sends a few bytes costs a few KiB.
 *
 * Below BODY_MAP_MIN the buffer comes from the heap, where a batch's body
 * (1,000 events are about 350 KiB) is soon reused by the next one: mapping
 * those too cost 35-45% of the events/s with 8 clients (mmap, page faults
 * and munmap serialise the threads).  From BODY_MAP_MIN up it is a mapping
 * of its own: mremap() grows it without a copy and munmap() hands it back
 * as soon as the request ends.  In the heap a large body would stay
 * resident after it was freed, since serve.c has the allocator keep freed
 * heap for speed (64 stalled 16 MiB uploads left 0.85 GB behind them).
 * What the heap holds for bodies is bounded by the budget; once it has held
 * more than TRIM_HIGH and is back under TRIM_LOW (a flood of bodies has
 * ended), malloc_trim() hands the free pages back, once per flood.
 *
 * The budget: all buffers together hold at most body_budget bytes beyond
 * the first BODY_FIRST of each.  That first part is not counted so small
 * requests go through while large uploads fill the budget; it is bounded by
 * the connection limit, like each connection's header memory.  A body the
 * budget has no room for is refused with 503 busy and Retry-After: at step 1
 * when its Content-Length says so, else once the client has sent it all.
 */
#define BODY_FIRST (64 * 1024)
#define BODY_MAP_MIN (1024 * 1024)
#define TRIM_HIGH (8u << 20)
#define TRIM_LOW (2u << 20)

/* Counts heap bytes going to (+) or leaving (-) body buffers. */
static void body_heap(struct http *h, size_t add, size_t sub)
{
	size_t now;

	if (add) {
		now = atomic_fetch_add(&h->body_heap, add) + add;
		if (now > TRIM_HIGH && !atomic_load(&h->body_flood))
			atomic_store(&h->body_flood, 1);
	}
	if (sub) {
		now = atomic_fetch_sub(&h->body_heap, sub) - sub;
		if (now < TRIM_LOW && atomic_load(&h->body_flood) &&
		    atomic_exchange(&h->body_flood, 0))
			malloc_trim(0);
	}
}

static size_t body_charge(size_t cap)
{
	return cap > BODY_FIRST ? cap - BODY_FIRST : 0;
}

/* Whether a body of len bytes would fit in the budget now. */
static int body_fits(struct http *h, size_t len)
{
	return atomic_load(&h->body_charged) + body_charge(len) <= h->body_budget;
}

/* Grows k->buf to hold at least need bytes; 0 when the budget or the
 * memory has no room (k unchanged). */
static int body_grow(struct http *h, struct conn *k, size_t need)
{
	size_t ncap = k->cap ? k->cap : BODY_FIRST, delta;
	char *nb;

	while (ncap < need)
		ncap *= 2;
	if (ncap > k->body_limit + 1)
		ncap = k->body_limit + 1;
	if (ncap >= BODY_MAP_MIN)
		ncap = (ncap + h->page - 1) / h->page * h->page;
	delta = body_charge(ncap) - body_charge(k->cap);
	if (delta && atomic_fetch_add(&h->body_charged, delta) + delta > h->body_budget) {
		atomic_fetch_sub(&h->body_charged, delta);
		return 0;
	}
	if (ncap < BODY_MAP_MIN) {
		nb = realloc(k->buf, ncap);
		if (nb)
			body_heap(h, ncap - k->cap, 0);
	} else if (k->cap >= BODY_MAP_MIN) {
		nb = mremap(k->buf, k->cap, ncap, MREMAP_MAYMOVE);
		if (nb == MAP_FAILED)
			nb = NULL;
	} else {
		nb = mmap(NULL, ncap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (nb == MAP_FAILED) {
			nb = NULL;
		} else if (k->buf) {
			memcpy(nb, k->buf, k->len);
			free(k->buf);
			body_heap(h, 0, k->cap);
		}
	}
	if (!nb) {
		atomic_fetch_sub(&h->body_charged, delta);
		return 0;
	}
	k->buf = nb;
	k->cap = ncap;
	return 1;
}

static void body_free(struct http *h, struct conn *k)
{
	atomic_fetch_sub(&h->body_charged, body_charge(k->cap));
	if (k->cap >= BODY_MAP_MIN) {
		munmap(k->buf, k->cap);
	} else {
		free(k->buf);
		body_heap(h, 0, k->cap);
	}
	k->buf = NULL;
	k->len = k->cap = 0;
}

/* ======================================================= step 1: headers */

static void client_ip(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, cap, "unknown");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)cap);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)cap);
	}
}

/* Media type of Content-Type without parameters; the only parameter
 * accepted is charset=utf-8.  0 when unusable. */
static int media_type(const char *ct, char *out, size_t cap)
{
	const char *semi, *p;
	size_t n;

	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	semi = strchr(ct, ';');
	n = semi ? (size_t)(semi - ct) : strlen(ct);
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= cap)
		return 0;
	memcpy(out, ct, n);
	out[n] = 0;
	for (p = semi; p; p = strchr(p + 1, ';')) {
		const char *v = p + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == 0)
			continue;
		if (strncasecmp(v, "charset=", 8) != 0)
			return 0;
		v += 8;
		if (*v == '"')
			v++;
		if (strncasecmp(v, "utf-8", 5) != 0 ||
		    (v[5] && v[5] != '"' && v[5] != ';' && v[5] != ' ' && v[5] != '\t'))
			return 0;
	}
	return 1;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	struct conn *k = cls;

	if (!key || strlen(key) != key_size || (value && strlen(value) != value_size) ||
	    k->nargs >= REQUEST_MAX_ARGS) {
		k->bad_args = 1;
		return MHD_NO;
	}
	k->args[k->nargs].key = key;
	k->args[k->nargs].value = value ? value : "";
	k->nargs++;
	return MHD_YES;
}

struct framing {
	unsigned content_length, transfer_encoding;
	int te_other;		/* a Transfer-Encoding other than "chunked" */
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct framing *f = cls;

	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		f->content_length++;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->transfer_encoding++;
		if (!value || strcasecmp(value, "chunked") != 0)
			f->te_other = 1;
	}
	return MHD_YES;
}

/* Why the body's length is ambiguous, or NULL.  libmicrohttpd reads the
 * first Content-Length (and ignores it next to Transfer-Encoding); a proxy
 * in front may take another, and the rest of the body would then be read
 * as a request of its own (RFC 9112 section 6.3 asks for a 400). */
static const char *ambiguous_framing(struct MHD_Connection *c)
{
	struct framing f = { 0 };

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
	if (f.content_length > 1)
		return "Content-Length is given more than once";
	if (f.content_length && f.transfer_encoding)
		return "Content-Length and Transfer-Encoding are both given";
	if (f.transfer_encoding > 1 || f.te_other)
		return "the only Transfer-Encoding accepted is a single \"chunked\"";
	return NULL;
}

static enum MHD_Result refuse_unauthorised(struct http *h, struct MHD_Connection *c,
					   struct conn *k, unsigned status, const char *actor,
					   const char *reason)
{
	int retry_after = 0;
	unsigned send = api_log_denial_status(h->s, &k->q, status, actor, reason, &retry_after);

	metrics_auth_denial(h->s->metrics, status);
	k->replied = 1;
	if (send == 429)
		return send_error(c, 429, "too_many_denials", NULL, retry_after, 0,
				  "%s; and this address was refused too often: wait %d s",
				  reason, retry_after);
	return send_error(c, status, status == 401 ? "unauthenticated" : "forbidden", NULL, 0, 0,
			  "%s", reason);
}

/* The session cookie (session.h): 1 when it names a live session of an
 * active token (k->who and k->q.session filled), 0 when there is none, -1
 * when it names none (expired, signed out, or its token revoked). */
static int cookie_session(struct server *s, struct MHD_Connection *c, struct conn *k)
{
	const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, SESSION_COOKIE);

	if (!v || !s->sessions)
		return 0;
	if (session_check(s->sessions, v, strlen(v), &k->sess) != LS_OK)
		return -1;
	if (!auth_active(s->auth, k->sess.who.id)) {
		sessions_revoke_token(s->sessions, k->sess.who.id);
		return -1;
	}
	k->who = k->sess.who;
	k->q.who = &k->who;
	k->q.session = &k->sess;
	k->q.session_cookie = v;
	return 1;
}

/* A state-changing call made with the cookie must echo the session's CSRF
 * value: a page of another site can make the browser send the cookie, but
 * cannot read the value (SameSite=Strict is the first line, this the second). */
static int csrf_ok(struct MHD_Connection *c, const struct conn *k)
{
	const char *m = k->q.method, *v;

	if (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS"))
		return 1;
	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
	return v && strlen(v) == SESSION_CSRF_LEN &&
	       ls_ct_equal(v, k->sess.csrf, SESSION_CSRF_LEN);
}

static enum MHD_Result first_call(struct http *h, struct MHD_Connection *c, struct conn *k,
				  const char *url, const char *method)
{
	struct server *s = h->s;
	char allow[128], mt[64];
	int known;
	const char *v;

	k->q.method = method;
	k->q.path = url;
	k->q.received_us = now_us();
	k->q.conn = (struct http_conn *)c;
	k->q.if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_IF_NONE_MATCH);
	k->q.last_event_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	client_ip(c, k->q.remote_ip, sizeof(k->q.remote_ip));

	if (atomic_load(&s->stopping)) {
		k->replied = 1;
		return send_error(c, 503, "shutting_down", NULL, 5, 1, "the server is stopping");
	}
	if (k->nul_in_path) {
		k->replied = 1;
		return send_error(c, 400, "bad_request", NULL, 0, 1,
				  "the path holds a NUL byte (%%00)");
	}
	if ((v = ambiguous_framing(c)) != NULL) {
		k->replied = 1;
		return send_error(c, 400, "bad_request", NULL, 0, 1, "%s", v);
	}
	k->route = api_route_find(url, method, allow, sizeof(allow), &known);
	if (!k->route) {
		k->replied = 1;
		if (known)
			return send_error(c, 405, "method_not_allowed", allow, 0, 0,
					  "%s is not allowed here (allowed: %s)", method, allow);
		return send_error(c, 404, "not_found", NULL, 0, 0, "no such endpoint");
	}

	if (k->route->match == API_PREFIX)
		k->q.tail = url + strlen(k->route->path);
	/* Deny by default (api.h, routes invariant 1): only a row that says
	 * API_PUBLIC is reached without a token. */
	if (!(k->route->flags & API_PUBLIC)) {
		const char *ah = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_AUTHORIZATION);
		size_t n;

		if (!ah) {
			int sr = cookie_session(s, c, k);
			if (sr < 0)
				return refuse_unauthorised(h, c, k, 401, NULL,
							   "the session has ended; sign in again");
			if (sr == 0)
				return refuse_unauthorised(h, c, k, 401, NULL, "missing bearer token");
			if (!csrf_ok(c, k))
				return refuse_unauthorised(h, c, k, 403, k->who.id,
							   "missing or wrong X-CSRF-Token");
			goto authenticated;
		}
		n = strlen(ah);
		if (n < 7 || n > AUTH_HEADER_MAX || strncasecmp(ah, "Bearer ", 7) != 0)
			return refuse_unauthorised(h, c, k, 401, NULL,
						   "Authorization must be \"Bearer <token>\"");
		ah += 7;
		while (*ah == ' ')
			ah++;
		n = strlen(ah);
		while (n > 0 && ah[n - 1] == ' ')
			n--;
		if (auth_check(s->auth, ah, n, &k->who) != LS_OK) {
			char reason[96];

			if (!k->who.expired[0])
				return refuse_unauthorised(h, c, k, 401, NULL,
							   "invalid or revoked token");
			snprintf(reason, sizeof(reason), "token %s expired at %s", k->who.id,
				 k->who.expired);
			return refuse_unauthorised(h, c, k, 401, k->who.id, reason);
		}
		k->q.who = &k->who;
authenticated:
		if (!(k->who.roles & k->route->role)) {
			char reason[128];
			json_t *need = auth_roles_json(k->route->role);
			const char *role = json_string_value(json_array_get(need, 0));
			snprintf(reason, sizeof(reason), "this endpoint needs role %s",
				 role ? role : "(none)");
			json_decref(need);
			return refuse_unauthorised(h, c, k, 403, k->who.id, reason);
		}
	} else if (k->route->flags & API_SESSION) {
		(void)cookie_session(s, c, k);
		if (k->q.session && !csrf_ok(c, k))
			return refuse_unauthorised(h, c, k, 403, k->who.id,
						   "missing or wrong X-CSRF-Token");
	}

	k->body_limit = k->route->body != API_BODY_NONE ? s->max_body : 0;
	if (k->route->body != API_BODY_NONE) {
		v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (!media_type(v, mt, sizeof(mt))) {
			k->replied = 1;
			return send_error(c, 415, "unsupported_media_type", NULL, 0, 0,
					  "Content-Type must be application/json%s",
					  k->route->body == API_BODY_JSON_NDJSON ?
						  " or application/x-ndjson" : "");
		}
		if (strcasecmp(mt, "application/json") == 0) {
			k->q.body_kind = EVENT_BODY_JSON;
		} else if (k->route->body == API_BODY_OTLP &&
			   strcasecmp(mt, "application/x-protobuf") == 0) {
			k->q.body_protobuf = 1;
		} else if (k->route->body == API_BODY_JSON_NDJSON &&
			   strcasecmp(mt, "application/x-ndjson") == 0) {
			k->q.body_kind = EVENT_BODY_NDJSON;
		} else {
			k->replied = 1;
			return send_error(c, 415, "unsupported_media_type", NULL, 0, 0,
					  "Content-Type must be application/json%s",
					  k->route->body == API_BODY_JSON_NDJSON ?
						  " or application/x-ndjson" :
					  k->route->body == API_BODY_OTLP ?
						  " or application/x-protobuf" : "");
		}
		if (k->route->body == API_BODY_OTLP)
			k->q.content_encoding = MHD_lookup_connection_value(
				c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
	}

	k->args = calloc(REQUEST_MAX_ARGS, sizeof(*k->args));
	if (!k->args) {
		k->replied = 1;
		return send_error(c, 503, "busy", NULL, 1, 1, "out of memory");
	}
	MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, collect_arg, k);
	if (k->bad_args) {
		k->replied = 1;
		return send_error(c, 400, "bad_query", NULL, 0, 0,
				  "the query string holds a NUL byte or more than %d parameters",
				  REQUEST_MAX_ARGS);
	}
	k->q.args = k->args;
	k->q.nargs = k->nargs;

	if (k->route->flags & API_FORMAT) {
		v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
		if (v && strcmp(v, "flat") != 0 && strcmp(v, "native") != 0) {
			k->replied = 1;
			return send_error(c, 400, "unknown_format", NULL, 0, 0,
					  "unknown format; use format=native or format=flat");
		}
		k->q.format = v;
	}

	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (v) {
		char *end;
		unsigned long long cl;
		errno = 0;
		cl = strtoull(v, &end, 10);
		if (errno || end == v || *end) {
			k->replied = 1;
			return send_error(c, 400, "bad_request", NULL, 0, 1, "bad Content-Length");
		}
		if (cl > s->max_body) {
			k->replied = 1;
			return send_error(c, 413, "too_large", NULL, 0, 1,
					  "the body is larger than %zu bytes", s->max_body);
		}
		if (k->route->body != API_BODY_NONE) {
			k->body_limit = (size_t)cl;
			if (!body_fits(h, (size_t)cl + 1)) {
				k->replied = 1;
				return send_error(c, 503, "busy", NULL, 1, 1,
						  "too many request bodies are being received at "
						  "once; retry later");
			}
		}
	}
	return MHD_YES;
}

/* ======================================================= step 2: body */

static enum MHD_Result take_body(struct http *h, struct conn *k, const char *data, size_t n)
{
	size_t max = h->s->max_body;

	if (k->too_large || k->over_budget || k->route->body == API_BODY_NONE) {
		/* Bodies on GET/DELETE are ignored; refused ones discarded up to
		 * a point, so the 413 or 503 can still be delivered. */
		k->discarded += n;
		if (k->over_budget && k->discarded > max) {
			k->over_budget = 0;
			k->too_large = 1;
		}
		if (k->too_large ? k->discarded > 2 * max : k->discarded > max)
			return MHD_NO;
		return MHD_YES;
	}
	if (n > max - k->len) {
		k->too_large = 1;
		k->discarded = k->len + n;
		body_free(h, k);
		return MHD_YES;
	}
	if (k->len + n + 1 > k->cap && !body_grow(h, k, k->len + n + 1)) {
		k->over_budget = 1;
		k->discarded = k->len + n;
		body_free(h, k);
		return MHD_YES;
	}
	memcpy(k->buf + k->len, data, n);
	k->len += n;
	return MHD_YES;
}

/* ======================================================= step 3: handle */

static enum MHD_Result dispatch(struct http *h, struct MHD_Connection *c, struct conn *k)
{
	struct server *s = h->s;
	struct reply r = { 0 };

	if (k->too_large)
		return send_error(c, 413, "too_large", NULL, 0, 1,
				  "the body is larger than %zu bytes", s->max_body);
	if (k->over_budget)
		return send_error(c, 503, "busy", NULL, 1, 1,
				  "too many request bodies are being received at once; retry later");
	if (!k->buf) {
		k->body_limit = 0;	/* no body came: room for the NUL only */
		if (!body_grow(h, k, 1))
			return send_error(c, 503, "busy", NULL, 1, 1, "out of memory");
	}
	k->buf[k->len] = 0;
	k->q.body = k->buf;
	k->q.body_len = k->len;

	k->route->fn(s, &k->q, &r);
	if (!r.body && !r.raw && !r.raw_static && !r.stream)
		reply_error(&r, 500, "internal", "the handler gave no reply");
	if (r.stream && r.stream_live) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		int sndbuf = LIVE_SNDBUF;

		/* A fixed, small send buffer: a client that stops reading is
		 * noticed after LIVE_SNDBUF bytes instead of the megabytes TCP
		 * autotuning would queue for it in the kernel. */
		if (ci)
			setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		/* A live stream lasts as long as its client: http_stop() ends
		 * it through streams_stop() instead of waiting for it. */
		if (k->counted) {
			k->counted = 0;
			atomic_fetch_sub(&s->active, 1);
		}
	}
	return send_reply(c, &r, 0);
}

/* ======================================================= callbacks */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct conn *k = *con_cls;

	/* on_uri() made k: without it the path could not be checked. */
	if (!k)
		return MHD_NO;
	if (!k->started) {
		k->started = 1;
		k->counted = 1;
		atomic_fetch_add(&h->s->active, 1);
		return first_call(h, c, k, url, method);
	}
	if (k->replied) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		enum MHD_Result ret = take_body(h, k, upload, *upload_size);
		*upload_size = 0;
		return ret;
	}
	k->replied = 1;
	return dispatch(h, c, k);
}

/* libmicrohttpd shows the request target here before it decodes it: a
 * %00 decodes to a NUL byte, and the path the handler sees would end there
 * ("/v1/events%00x" would be served as "/v1/events").  The query string is
 * checked after decoding (collect_arg). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct conn *k = calloc(1, sizeof(*k));

	if (k && uri)
		for (const char *p = uri; *p && *p != '?'; p++)
			if (p[0] == '%' && p[1] == '0' && p[2] == '0') {
				k->nul_in_path = 1;
				break;
			}
	return k;
}

/* A route's position in the table (metrics), or the row count for none. */
static size_t route_slot(const struct api_route *rt)
{
	size_t n;
	const struct api_route *all = api_routes(&n);

	return rt ? (size_t)(rt - all) : n;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct conn *k = *con_cls;

	if (!k)
		return;
	if (h->s->metrics) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
		if (ci && ci->http_status)
			metrics_http(h->s->metrics, route_slot(k->route),
				     ci->http_status);
	}
	if (k->counted)
		atomic_fetch_sub(&h->s->active, 1);
	free(k->args);
	body_free(h, k);
	free(k);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "logseal: http: %s%s", msg,
		msg[0] && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
}

/* ======================================================= daemon */

ls_rc http_start(struct server *s, const struct http_opts *o, struct http **out,
		 struct ls_err *err)
{
	struct http *h = calloc(1, sizeof(*h));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem opts[16];
	int n = 0;
	uint16_t port;
	const union MHD_DaemonInfo *di;

	if (!h)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	h->s = s;
	h->page = (size_t)sysconf(_SC_PAGESIZE);
	if (h->page < 4096 || (h->page & (h->page - 1)))
		h->page = 4096;
	/* A body up to max_body must always fit when nothing else is in flight. */
	h->body_budget = o->body_budget > s->max_body ? o->body_budget : s->max_body;
	atomic_init(&h->body_charged, 0);
	atomic_init(&h->body_heap, 0);
	atomic_init(&h->body_flood, 0);
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	if (o->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	port = o->addr.ss_family == AF_INET6 ?
		       ntohs(((const struct sockaddr_in6 *)&o->addr)->sin6_port) :
		       ntohs(((const struct sockaddr_in *)&o->addr)->sin_port);
	if (o->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			free(h);
			return ls_err_set(err, LS_INVALID, "this libmicrohttpd has no TLS support");
		}
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
						     (void *)o->tls_cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
						     (void *)o->tls_key };
		/* TLS 1.2 is the floor (PCI DSS, NIST SP 800-52r2), with AEAD
		 * suites and forward secrecy only (see the top of this file). */
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						     (void *)HTTP_TLS_PRIORITIES };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)&o->addr };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, o->conn_limit, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_limit,
					     NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					     (intptr_t)o->conn_memory, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	h->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, h,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return ls_err_set(err, LS_IO, "cannot listen (address in use or not available?)");
	}
	h->port = port;
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
	if (di) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(di->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
			h->port = ss.ss_family == AF_INET6 ?
					  ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
					  ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	*out = h;
	return LS_OK;
}

unsigned http_port(const struct http *h)
{
	return h->port;
}

void http_stop(struct http *h, unsigned drain_ms)
{
	MHD_socket fd;

	if (!h)
		return;
	atomic_store(&h->s->stopping, 1);
	fd = MHD_quiesce_daemon(h->d);
	/* Resume and end every live stream: no connection may stay suspended
	 * when the daemon stops. */
	streams_stop(h->s->streams);
	for (unsigned waited = 0; atomic_load(&h->s->active) > 0 && waited < drain_ms;
	     waited += 10)
		usleep(10000);
	/* Streams end at their next write; one whose client does not read is
	 * not suspended, and closing it with the daemon is fine. */
	streams_wait_closed(h->s->streams, 1000);
	MHD_stop_daemon(h->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	free(h);
}
