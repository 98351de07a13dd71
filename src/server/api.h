/*
 * api.h - the interface between the HTTP layer (http.c), the server's
 * setup (serve.c) and the endpoint handlers (api_*.c): the shared server
 * state, a request, a reply, and the route table (api_routes.c) that maps
 * a method and path onto a handler.  Not used outside the server; what the
 * handlers share among themselves is in api_int.h.
 *
 * http.c does everything that is the same for every endpoint: routing,
 * limits, content types, authentication and the role check, and turning a
 * struct reply into bytes on the wire.  A handler sees a fully received,
 * authorised request and fills a reply; it never touches libmicrohttpd.
 *
 * A reply is one of three kinds: JSON (body), raw bytes with a content type
 * (raw), or a body streamed by a callback (stream) once the status line has
 * been sent.  A streaming handler does everything that can fail (parsing,
 * the read-audit event, the checkpoint) before it returns, so an error is
 * still an ordinary JSON reply; what fails later can only cut the stream.
 */
#ifndef LS_API_H
#define LS_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/ls.h"
#include "core/event.h"

struct alert;
struct auth;
struct event_policy;
struct auth_principal;
struct denials;
struct witnesses;
struct idem;
struct idem_opts;
struct idem_saver;
struct index;
struct store_reader;
struct log;
struct metrics;
struct streams;
struct sessions;
struct session_info;
struct serve_cluster;

/* What every handler shares; owned by serve.c, outlives the HTTP daemon. */
struct server {
	struct log *log;
	struct auth *auth;
	struct idem *idem;
	struct idem_saver *idem_saver; /* api_idem_saver_start(); may be NULL */
	struct index *index;	/* the query index (follows the log) */
	struct store_reader *jr; /* single entries by their journal offset; may be NULL */
	const char *dir;
	size_t max_body;
	atomic_int failed;	/* the log refused an append with LS_FAILED: unhealthy */
	atomic_int stopping;	/* shutting down: refuse new requests */
	atomic_long active;	/* requests between their first byte and their reply */
	struct alert *alerts;	/* the alert engine (alert.h); NULL: alert routes answer 503 */
	struct streams *streams; /* live streams (api_stream.c) */
	struct metrics *metrics; /* may be NULL */
	struct denials *denials; /* which refusals are logged one by one; NULL: all */
	struct witnesses *witnesses; /* witness cosigning (followers/witnesses.h); may be NULL */
	uint64_t ready_max_lag;	/* GET /readyz: largest index lag that is still ready */
	uint64_t max_fresh_lag;	/* ingest waits while more are not searchable; 0: never */
	/* api_alert_emit() appends under emit_mu, and not at all once
	 * emit_closed is set (before log_close: the engine thread outlives the
	 * log, whose observer feeds it until the end). */
	pthread_mutex_t emit_mu;
	int emit_closed;
	/* The tree size after the latest append that was not a read's own
	 * audit event: queries wait for the index to cover this much. */
	_Atomic uint64_t visible;
	/* The object store's uploader (followers/upload.h); NULL: no store. */
	struct upload *upload;
	struct sessions *sessions; /* dashboard sign-ins (session.h); NULL: none */
	/* Cluster mode (server/serve_cluster.h); NULL: single node. */
	struct serve_cluster *cluster;
	char node[256];		/* cluster mode: this node's name; "" single node */
	/* Redaction and the event-time check of every ingested event
	 * (core/event_policy.h); NULL: none. */
	const struct event_policy *policy;
};

/* One query-string parameter, percent-decoded by http.c (NUL-free). */
struct query_arg {
	const char *key;
	const char *value;	/* "" for a name without '=' */
};

#define REQUEST_MAX_ARGS 64

/* The connection a request arrived on (a libmicrohttpd connection), for
 * streams that wait for data: see reply_stream_fn. */
struct http_conn;

struct request {
	const char *method;
	const char *path;
	const char *tail;	/* a prefix route: the path after its prefix (non-empty) */
	const char *format;	/* ?format=..., or NULL (POST /v1/events) */
	const struct query_arg *args;	/* every query parameter, in order */
	size_t nargs;
	enum event_body body_kind;
	const char *body;	/* NUL-terminated, body_len bytes */
	size_t body_len;
	char remote_ip[64];
	const struct auth_principal *who; /* NULL on routes that need no token */
	int64_t received_us;
	const char *if_none_match;	/* If-None-Match header, or NULL */
	const char *last_event_id;	/* Last-Event-ID header (SSE), or NULL */
	struct http_conn *conn;
	/* Set when the session cookie authenticated the request (session.h):
	 * the session and the cookie's value; NULL otherwise. */
	const struct session_info *session;
	const char *session_cookie;
	int body_protobuf;		/* API_BODY_OTLP: the body is application/x-protobuf */
	const char *content_encoding;	/* API_BODY_OTLP: Content-Encoding header, or NULL */
};

/*
 * Streamed body: fn is called (in one HTTP thread at a time) with the
 * position reached so far and room for max bytes; it returns the number of
 * bytes written (> 0), REPLY_STREAM_END when the body is complete, or
 * REPLY_STREAM_ERROR to cut the connection (the client sees a truncated
 * body, which a bundle's manifest makes evident).  free is called once,
 * whatever happened, when the request is over.
 *
 * A stream that has nothing to send yet (live events) calls
 * http_conn_suspend() on its request's conn from inside fn and returns 0;
 * fn is called again after some thread calls http_conn_resume().  Every
 * suspended connection must be resumed before http_stop() stops the daemon
 * (libmicrohttpd's rule): api_stream.c does that in streams_stop().
 */
#define REPLY_STREAM_END (-1)
#define REPLY_STREAM_ERROR (-2)
typedef long (*reply_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
typedef void (*reply_stream_free_fn)(void *ctx);
void http_conn_suspend(struct http_conn *c);
void http_conn_resume(struct http_conn *c);

struct reply {
	unsigned status;
	json_t *body;		/* owned; the JSON reply */
	char *raw;		/* owned (malloc'd); when set, sent instead of body */
	const void *raw_static;	/* not owned, lives for the process: sent like raw */
	size_t raw_len;
	reply_stream_fn stream;	/* when set, the body is streamed (body and raw unused) */
	reply_stream_free_fn stream_free;
	void *stream_ctx;	/* owned through stream_free */
	const char *content_type; /* raw and stream replies */
	const char *cache_control; /* NULL: "no-store" */
	char disposition[128];	/* Content-Disposition when non-empty */
	int retry_after;	/* seconds; 0: no Retry-After header */
	const char *allow;	/* Allow header for 405 */
	const char *etag;	/* ETag header */
	int dashboard;		/* a dashboard page: its Content-Security-Policy (web.h) */
	int stream_live;	/* a live stream (SSE): not waited for when draining at stop */
	char set_cookie[192];	/* Set-Cookie header when non-empty */
	int real_digits;	/* JSON reals of body with at most this many significant
				 * digits (0: jansson's 17); for rounded measurements */
};

/* Fill r with {"error":{"code":code,"message":...}} (replacing any body). */
void reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ======================================================= routes */

/*
 * The route table (api_routes.c): one row per method and path, the only
 * list of the endpoints.  http.c routes, authenticates, checks the role,
 * the content type and the query string from a row, then calls its
 * handler; it knows no endpoint by name.
 *
 * Invariants (tests/unit/test_http_routes.c):
 *  1. Every row names its role: AUTH_ROLE_* bits, or API_PUBLIC in flags
 *     with role 0 (no token).  A row with neither reaches nobody.
 *  2. The first row that matches wins: exact rows before a prefix row that
 *     would also match, the dashboard's files (API_ASSET) last.
 *  3. A path that some row matches, with a method no row takes, is a 405
 *     listing the methods that are taken; a path no row matches is a 404.
 */
enum api_match {
	API_EXACT,	/* the path is the row's path */
	API_PREFIX,	/* the path is the row's path followed by one byte or more
			 * (request.tail) */
	API_ASSET,	/* the path of an embedded dashboard file (api_web_exists) */
};

enum api_body {
	API_BODY_NONE,		/* a body sent anyway is discarded */
	API_BODY_JSON,		/* Content-Type application/json */
	API_BODY_JSON_NDJSON,	/* ... or application/x-ndjson */
	API_BODY_OTLP,		/* application/json or application/x-protobuf (OTLP/HTTP);
				 * request.body_protobuf and .content_encoding are set */
};

#define API_PUBLIC 0x1u	/* no token needed (role must be 0) */
#define API_AUDITED 0x2u	/* a read the handler records in the log before replying */
#define API_STREAMS 0x4u	/* the reply may be a streamed body (reply.stream) */
#define API_FORMAT 0x8u	/* ?format=native|flat, checked by http.c (request.format) */
#define API_SESSION 0x10u	/* API_PUBLIC, but a session cookie still fills request.session */

typedef void (*api_handler_fn)(struct server *s, const struct request *q, struct reply *r);

struct api_route {
	const char *method;
	const char *path;
	enum api_match match;
	unsigned role;		/* AUTH_ROLE_* the token needs one of; 0 with API_PUBLIC */
	api_handler_fn fn;
	enum api_body body;
	unsigned flags;		/* API_* */
	const char *label;	/* route pattern for metrics (never the request path) */
};

/* The table and its length; static. */
const struct api_route *api_routes(size_t *n);
/* Each row's label and method, in the table's order (metrics_new());
 * static. */
const char *const *api_route_labels(size_t *n, const char *const **methods);

/* The row for method and path, or NULL.  allow (cap bytes) receives the
 * methods of every row whose path matches ("GET, POST"), *path_known
 * whether there is one: NULL with *path_known set is a 405, without a 404.
 * HEAD reaches the dashboard's files only. */
const struct api_route *api_route_find(const char *path, const char *method, char *allow,
				       size_t cap, int *path_known);

/* ======================================================= shared with http.c and serve.c */

/* Account for a 401/403: logged as logseal.auth.unauthenticated /
 * logseal.auth.denied (path cut to DENIALS_PATH_MAX bytes), or counted into
 * its source's summary (denials.h).  _status returns the status to send:
 * status, or 429 when the source is throttled (*retry_after then set). */
void api_log_denial(struct server *s, const struct request *q, unsigned status,
		    const char *actor, const char *reason);
unsigned api_log_denial_status(struct server *s, const struct request *q, unsigned status,
			       const char *actor, const char *reason, int *retry_after);
/* denials_opts.emit: append one logseal.auth.denied.summary (ctx: the server). */
void api_denial_summary(void *ctx, const char *source, const char *actor, json_t *details);
/* alert_opts.emit for the engine: the fired alert's event into the log
 * (ctx is the struct server). */
ls_rc api_alert_emit(void *ctx, json_t *details, uint64_t *index, int *elsewhere);

/*
 * Live stream (api_stream.c): GET /v1/stream.  struct streams holds the
 * newest entries (a ring shared by every client, filled by the log observer)
 * and the open streams.
 *	streams_new() before the log observer is set; streams_feed() from the
 *	observer; streams_stop() when the HTTP server stops (ends every stream,
 *	resumes every suspended connection); streams_free() after http_stop().
 */
struct stream_opts {
	unsigned max_clients;	/* concurrent streams; 0: 64 (more: 429) */
	size_t ring_entries;	/* newest entries kept in memory for live clients; 0: 4096 */
	size_t ring_bytes;	/* and at most these bytes; 0: 16 MiB */
	uint64_t max_lag;	/* a client further behind the log is cut; 0: 65536 */
	unsigned heartbeat_ms;	/* comment sent after this much silence; 0: 15000 */
	struct auth *auth;	/* a stream opens only while its token is active; may be NULL */
};
ls_rc streams_new(const struct stream_opts *o, const char *datadir, uint64_t size,
		  struct streams **out, struct ls_err *err);
void streams_feed(struct streams *st, uint64_t first, const struct iovec *entries, size_t n);
void streams_stop(struct streams *st);
/* Token id was revoked (auth_revoke() returned): end its streams now, each
 * with a last "event: revoked" message, whether or not entries flow. */
void streams_revoke(struct streams *st, const char *token_id);
/* Wait up to timeout_ms for every stream to be over; 1 when none is left. */
int streams_wait_closed(struct streams *st, unsigned timeout_ms);
void streams_free(struct streams *st);
void streams_counts(struct streams *st, uint64_t *clients, uint64_t *opened,
		    uint64_t *overflows);

/* The idempotency map (idem.h) of a server whose log is open: create it
 * (keyed under a derived key when the directory is encrypted), load
 * DIR/state/idem.snap when it checks and read the journal after what it
 * covers (all of it, within the window, without one).  st says what
 * happened.  api_idem_save() writes the snapshot (temp, fsync, rename);
 * the saver thread does so every interval_s seconds (0: never) while the
 * log grows; stop it before the last api_idem_save(). */
struct idem_start {
	int snapshot;		/* 1: the snapshot was loaded */
	char why[200];		/* why one that exists was not used ("" otherwise) */
	uint64_t covered;	/* entries the snapshot covered */
	size_t snapshot_keys;	/* keys it gave */
	uint64_t scanned;	/* journal entries read after it */
	double seconds;		/* how long all that took */
	double cpu_seconds;	/* ... in CPU time of the thread */
};
ls_rc api_idem_open(struct server *s, const struct idem_opts *o, struct idem_start *st,
		    struct ls_err *err);
ls_rc api_idem_save(struct server *s, struct ls_err *err);
ls_rc api_idem_saver_start(struct server *s, unsigned interval_s, struct ls_err *err);
void api_idem_saver_stop(struct server *s);

#endif
