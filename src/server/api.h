/*
 * api.h - internal interface between the HTTP layer (http.c) and the
 * endpoint handlers (api_*.c).  Not used outside the server.
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

#include "followers/alert.h"
#include "server/auth.h"
#include "server/denials.h"
#include "core/event.h"
#include "server/idem.h"
#include "followers/index.h"
#include "store/journal.h"
#include "store/log.h"
#include "server/metrics.h"

struct streams;
struct idem_saver;

/* What every handler shares; owned by serve.c, outlives the HTTP daemon. */
struct server {
	struct log *log;
	struct auth *auth;
	struct idem *idem;
	struct idem_saver *idem_saver; /* api_idem_saver_start(); may be NULL */
	struct index *index;	/* the query index (follows the log) */
	struct journal_reader *jr; /* single entries by their journal offset; may be NULL */
	const char *dir;
	size_t max_body;
	atomic_int failed;	/* the log refused an append with LS_FAILED: unhealthy */
	atomic_int stopping;	/* shutting down: refuse new requests */
	atomic_long active;	/* requests between their first byte and their reply */
	struct alert *alerts;	/* the alert engine (alert.h); NULL: alert routes answer 503 */
	struct streams *streams; /* live streams (api_stream.c) */
	struct metrics *metrics; /* may be NULL */
	struct denials *denials; /* which refusals are logged one by one; NULL: all */
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
};

/* Fill r with {"error":{"code":code,"message":...}} (replacing any body). */
void reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Map a failed log_append (or idem) result onto 503/507 and mark the server
 * unhealthy on LS_FAILED. */
void reply_append_error(struct server *s, struct reply *r, ls_rc rc, const struct ls_err *err);

/*
 * Append one event of the server itself (service "logseal") describing what
 * happened to request q: a denial, a token change.  actor is the token id or
 * "anonymous".  details is not stolen; method and path are added to it.
 * Best effort: returns the log's result, which the caller may ignore when it
 * is refusing the request anyway.
 */
ls_rc api_log_internal(struct server *s, const struct request *q, const char *action,
		       const char *actor, const char *outcome, json_t *details);

/* Entries [0, size) were appended by something other than a read audit:
 * raise s->visible to size. */
void api_appended(struct server *s, uint64_t size);

/* The tree size a query over the index waits for before it runs: every
 * event appended before the request except the audit events of other
 * reads (they are indexed within a fraction of a second), and those too
 * when the query asks for service "logseal", the log's own events. */
uint64_t api_query_horizon(struct server *s, const char *service);

/*
 * The read audit (issue 4): append the event of service "logseal" that
 * records a read by q's token (actor = token id, source = client address),
 * durably, before any of the data is sent.  details is not stolen.  On
 * failure r is filled with the error to send instead (503/507): the read
 * is refused (fail closed).  Returns LS_OK when the read may proceed.
 */
ls_rc api_audit_read(struct server *s, const struct request *q, const char *action,
		     const char *outcome, json_t *details, struct reply *r);

/* api_audit_read() in two halves, so that a handler reads its data while
 * the read's event is written: start queues the event (details is not
 * stolen); finish waits until it is durable and returns what
 * api_audit_read() would, filling r (when not NULL) on failure.  Nothing
 * may be sent before finish returned LS_OK, and every start needs its
 * finish. */
struct api_audit {
	struct event_item it;
	struct iovec iov;
	struct log_ticket *t;
	ls_rc rc;
	int started;
};
void api_audit_read_start(struct server *s, const struct request *q, const char *action,
			  const char *outcome, json_t *details, struct api_audit *a);
ls_rc api_audit_read_finish(struct server *s, struct api_audit *a, struct reply *r);
/* After a started read's reply turned into an error (status): append, best
 * effort, a second event of action with outcome "failure", details (not
 * stolen; may be NULL) and the status, as the first one said success. */
void api_audit_read_failed(struct server *s, const struct request *q, const char *action,
			   json_t *details, unsigned status);

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

/* Handlers. */
void api_events_post(struct server *s, const struct request *q, struct reply *r);
void api_k8s_post(struct server *s, const struct request *q, struct reply *r);
void api_tokens_post(struct server *s, const struct request *q, struct reply *r);
void api_tokens_get(struct server *s, const struct request *q, struct reply *r);
void api_holds_post(struct server *s, const struct request *q, struct reply *r);
void api_holds_get(struct server *s, const struct request *q, struct reply *r);
void api_holds_delete(struct server *s, const struct request *q, const char *id,
		      struct reply *r);
void api_tokens_delete(struct server *s, const struct request *q, const char *id,
		       struct reply *r);
/* POST /v1/keys/rotate (api_keys.c): a new data key, online. */
void api_keys_rotate(struct server *s, const struct request *q, struct reply *r);

/* Read side (api_read.c): GET /v1/events, /v1/events/stats, /v1/events/{index},
 * /v1/proof/consistency, /log/checkpoint, /log/tile/...; tail is the part of
 * the path after the route's prefix. */
void api_events_query(struct server *s, const struct request *q, struct reply *r);
void api_events_stats(struct server *s, const struct request *q, struct reply *r);
void api_events_get(struct server *s, const struct request *q, const char *tail,
		    struct reply *r);
void api_proof_consistency(struct server *s, const struct request *q, struct reply *r);
void api_log_checkpoint(struct server *s, const struct request *q, struct reply *r);
void api_log_tile(struct server *s, const struct request *q, const char *tail,
		  struct reply *r);

/* Helpers of the read side (api_read.c), shared with the export.  Each
 * fills r with the error to send when it fails. */
struct tiles_reader;
struct checkpoint;
/* Parse q's parameters into iq (initialised here): extra sees each first
 * and returns LS_NOTFOUND for the filter names it leaves to the index.
 * 1, or 0 with a 400 in r (iq then holds nothing). */
int api_parse_filters(const struct request *q, struct index_query *iq, index_param_fn extra,
		      void *ctx, struct reply *r);
/* Wait up to timeout_ms for the index to cover size.  Not strict: a timeout
 * is fine (the reply states the watermark); strict: 503.  1 to go on. */
int api_index_ready(struct server *s, uint64_t size, unsigned timeout_ms, int strict,
		    struct reply *r);
/* api_index_ready() (not strict) for GET /v1/events, which also reads the
 * index's in-memory tail: waits for index_wait_fresh(). */
int api_index_fresh(struct server *s, uint64_t size, unsigned timeout_ms, struct reply *r);
/* The latest signed checkpoint, signing one first when it does not cover
 * `need` entries; *note is malloc'd. */
ls_rc api_covering_checkpoint(struct server *s, uint64_t need, char **note, uint64_t *size,
			      struct reply *r);
/* Parse a signed checkpoint note of this log (signature checked). */
ls_rc api_checkpoint_root(struct server *s, const char *note, struct checkpoint *cp);
/* A tiles reader over DIR/log for a tree of size entries. */
/* The entry at index, malloc'd: from the journal when off (the index's hint,
 * INDEX_NO_OFFSET when unknown) finds it there, one small read; else from
 * its entry bundle through tr.  pass (zeroed per page of results; NULL for
 * a single read) lets the journal check its retained point once a page. */
ls_rc api_read_entry(struct server *s, struct journal_pass *pass, struct tiles_reader *tr,
		     uint64_t index, uint64_t off, uint8_t **data, size_t *len,
		     struct ls_err *err);

ls_rc api_tiles_reader(struct server *s, uint64_t size, struct tiles_reader **tr,
		       struct reply *r);
/* Standard base64 of data as a JSON string; NULL on OOM. */
json_t *api_b64_json(const void *data, size_t n);

/* The dashboard's integrity and retention views (api_integrity.c):
 * GET /v1/integrity, GET /v1/retention; audited reads. */
void api_integrity_get(struct server *s, const struct request *q, struct reply *r);
void api_retention_get(struct server *s, const struct request *q, struct reply *r);

/* GET /v1/export (api_export.c): a streamed reply on success. */
void api_export(struct server *s, const struct request *q, struct reply *r);

/* Health (api.c): GET /healthz, GET /readyz (no token), GET /metrics. */
void api_healthz(struct server *s, const struct request *q, struct reply *r);
void api_readyz(struct server *s, const struct request *q, struct reply *r);
void api_metrics(struct server *s, const struct request *q, struct reply *r);

/* Alerts (api_alerts.c). */
void api_alerts_list(struct server *s, const struct request *q, struct reply *r);
void api_rules_post(struct server *s, const struct request *q, struct reply *r);
void api_rules_get(struct server *s, const struct request *q, struct reply *r);
void api_rules_delete(struct server *s, const struct request *q, const char *id,
		      struct reply *r);
void api_webhooks_post(struct server *s, const struct request *q, struct reply *r);
void api_webhooks_get(struct server *s, const struct request *q, struct reply *r);
/* alert_opts.emit for the engine: the fired alert's event into the log
 * (ctx is the struct server). */
ls_rc api_alert_emit(void *ctx, json_t *details, uint64_t *index);

/* The dashboard's static files (api_web.c): GET / and every embedded path. */
int api_web_exists(const char *path);
void api_web_get(struct server *s, const struct request *q, struct reply *r);

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
void api_stream(struct server *s, const struct request *q, struct reply *r);

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
