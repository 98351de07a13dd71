/*
 * api_int.h - what the endpoint handlers (api_*.c) share and http.c does
 * not see: the handlers the route table (api_routes.c) points at, the
 * ls_rc -> HTTP status table, the server's own events (denials, token
 * changes, read audits) and the helpers of the read side.
 */
#ifndef LS_API_INT_H
#define LS_API_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/ls.h"
#include "core/event.h"
#include "followers/index.h"

/* api.h; pointers are all this header needs (and it must not include
 * api.h, which api.c implements: no include cycle). */
struct reply;
struct request;
struct server;

struct checkpoint;
struct store_pass;
struct log_ticket;
struct tiles_reader;

/* ======================================================= ls_rc -> HTTP */

/*
 * How a failed ls_rc is answered, by what failed (one table in api.c):
 *	API_RC_READ	reading for a reply: out of memory is 503 busy
 *			(Retry-After 1), everything else 500 internal;
 *	API_RC_WRITE	an append (or idem): 503 busy when the log is
 *			saturated or memory short, 507 when the disk is full,
 *			413 past a limit, 503 log_failed (Retry-After 60, and
 *			the server marked unhealthy) after a storage failure;
 *	API_RC_AUDIT	the event of a read: 507 disk full, 503 log_failed,
 *			else 503 audit_failed (the read is refused).
 * Handlers answer the codes that mean something at their endpoint (400,
 * 404, 409) themselves and hand the rest over to these.
 */
enum api_rc_kind { API_RC_READ, API_RC_WRITE, API_RC_AUDIT };

/* The status rc is answered with (200 for LS_OK). */
unsigned api_status_of(ls_rc rc, enum api_rc_kind kind);

/* Fill r with the error reply for rc: status, code, Retry-After and, for
 * the failures whose message is fixed, the message; else the message is
 * fmt.  LS_FAILED on a write marks s unhealthy (s may be NULL otherwise). */
void api_reply_rc(struct server *s, struct reply *r, ls_rc rc, enum api_rc_kind kind,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* api_reply_rc(API_RC_WRITE) with err's message (or rc's name). */
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

/* The tail of a JSON read: api_audit_read(action, "success", details) and,
 * once the event is durable, a 200 with *body, taken (*body set to NULL).
 * On failure r holds the refusal and *body is left to the caller.  Returns
 * the audit's result. */
ls_rc api_reply_audited(struct server *s, const struct request *q, const char *action,
			json_t *details, json_t **body, struct reply *r);
/* The same for raw bytes: raw (malloc'd, len bytes, sent as ctype) is
 * taken when this returns LS_OK, and left to the caller otherwise. */
ls_rc api_reply_audited_raw(struct server *s, const struct request *q, const char *action,
			    json_t *details, void *raw, size_t len, const char *ctype,
			    struct reply *r);

/* Handlers. */
void api_events_post(struct server *s, const struct request *q, struct reply *r);
void api_k8s_post(struct server *s, const struct request *q, struct reply *r);
/* POST /v1/logs (api_otlp.c): OTLP/HTTP logs. */
void api_otlp_logs_post(struct server *s, const struct request *q, struct reply *r);
/* GET /v1/schema (api_otlp.c): the JSON Schema of the standard event. */
void api_schema_get(struct server *s, const struct request *q, struct reply *r);
/* Ingest back-pressure (api_events.c): 1 when a batch may be appended now,
 * else 0 with r filled (503 with Retry-After). */
int api_ingest_paced(struct server *s, struct reply *r);
void api_tokens_post(struct server *s, const struct request *q, struct reply *r);
void api_tokens_get(struct server *s, const struct request *q, struct reply *r);
void api_holds_post(struct server *s, const struct request *q, struct reply *r);
void api_holds_get(struct server *s, const struct request *q, struct reply *r);
/* DELETE .../{id}: the id is q->tail. */
void api_holds_delete(struct server *s, const struct request *q, struct reply *r);
void api_tokens_delete(struct server *s, const struct request *q, struct reply *r);
/* POST /v1/keys/rotate (api_keys.c): a new data key, online. */
void api_keys_rotate(struct server *s, const struct request *q, struct reply *r);

/* GET /v1/export?format=evidence&index=N (api_evidence.c). */
int api_export_is_evidence(const struct request *q);
void api_export_evidence(struct server *s, const struct request *q, struct reply *r);

/* Read side (api_read.c): GET /v1/events, /v1/events/stats, /v1/events/{index},
 * /v1/proof/consistency, /log/checkpoint, /log/tile/... */
void api_events_query(struct server *s, const struct request *q, struct reply *r);
void api_events_stats(struct server *s, const struct request *q, struct reply *r);
void api_events_get(struct server *s, const struct request *q, struct reply *r);
void api_proof_consistency(struct server *s, const struct request *q, struct reply *r);
void api_log_checkpoint(struct server *s, const struct request *q, struct reply *r);
void api_checkpoints_list(struct server *s, const struct request *q, struct reply *r);
void api_checkpoints_get(struct server *s, const struct request *q, struct reply *r);
void api_log_tile(struct server *s, const struct request *q, struct reply *r);

/* Helpers of the read side (api_read.c), shared with the export.  Each
 * fills r with the error to send when it fails. */
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
ls_rc api_read_entry(struct server *s, struct store_pass *pass, struct tiles_reader *tr,
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

/* The dashboard's overview (api_overview.c): GET /v1/stats/denied,
 * POST and GET /v1/verify, GET /v1/whoami. */
void api_stats_denied(struct server *s, const struct request *q, struct reply *r);
void api_verify_post(struct server *s, const struct request *q, struct reply *r);
void api_verify_get(struct server *s, const struct request *q, struct reply *r);
void api_whoami(struct server *s, const struct request *q, struct reply *r);

/* Alerts (api_alerts.c). */
void api_alerts_list(struct server *s, const struct request *q, struct reply *r);
void api_rules_post(struct server *s, const struct request *q, struct reply *r);
void api_rules_get(struct server *s, const struct request *q, struct reply *r);
void api_rules_delete(struct server *s, const struct request *q, struct reply *r);
void api_webhooks_post(struct server *s, const struct request *q, struct reply *r);
void api_webhooks_get(struct server *s, const struct request *q, struct reply *r);

/* Alert management (api_alerts_admin.c), saved searches (api_searches.c),
 * the retention plan (api_holds.c): the dashboard's admin screens. */
void api_rules_test(struct server *s, const struct request *q, struct reply *r);
void api_rules_edit(struct server *s, const struct request *q, struct reply *r);
void api_alert_state(struct server *s, const struct request *q, struct reply *r);
void api_webhook_test(struct server *s, const struct request *q, struct reply *r);
void api_webhook_deliveries(struct server *s, const struct request *q, struct reply *r);
void api_searches_get(struct server *s, const struct request *q, struct reply *r);
void api_searches_post(struct server *s, const struct request *q, struct reply *r);
void api_searches_delete(struct server *s, const struct request *q, struct reply *r);
void api_retention_plan(struct server *s, const struct request *q, struct reply *r);

/* The request body as a JSON object (duplicate keys refused), or NULL with
 * the 400 (invalid_json naming line and column, or invalid_request) in r. */
json_t *api_body_object(const struct request *q, struct reply *r);
/* 1 when the alert engine runs; else 0 with 503 busy (Retry-After 5) in r. */
int api_alert_engine(struct server *s, struct reply *r);

/* Sign-in sessions (api_session.c): POST, GET, DELETE /v1/session. */
void api_session_post(struct server *s, const struct request *q, struct reply *r);
void api_session_get(struct server *s, const struct request *q, struct reply *r);
void api_session_delete(struct server *s, const struct request *q, struct reply *r);
/* Write a logseal.session.close for every session that ended without a
 * sign-out (session.h invariant 4), after ending the expired ones when
 * sweep; the number written. */
unsigned api_sessions_log_ended(struct server *s, int sweep);

/* The dashboard's static files (api_web.c): GET / and every embedded path. */
int api_web_exists(const char *path);
void api_web_get(struct server *s, const struct request *q, struct reply *r);

/* GET /v1/stream (api_stream.c). */
void api_stream(struct server *s, const struct request *q, struct reply *r);

#endif
