/*
 * api.c - what the endpoint handlers share: error replies, mapping the log's
 * result codes onto HTTP statuses, and the server's own events (denials,
 * token changes and audited reads), which go through the same log as
 * everyone else's.  Also the health endpoints: /healthz (the process is up
 * and the journal accepts writes), /readyz (it should get traffic: writes
 * accepted and reads current) and /metrics.
 *
 * Invariant: api_audit_read() returns LS_OK only once the read's event is
 * durable (log_append() returned); otherwise the caller sends the error it
 * filled in and none of the data (fail closed).
 *
 * /metrics is not an audited read: it shows counters and sizes, never an
 * event or anything derived from one, and a scraper every 15 s would
 * otherwise fill the log with its own reads.
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"
#include "server/auth.h"
#include "server/denials.h"
#include "followers/alert.h"
#include "server/metrics.h"
#include "followers/witnesses.h"
#include "followers/upload.h"
#include "server/serve_cluster.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

void reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	json_t *err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(r->body);
	r->status = status;
	err = json_object();
	json_object_set_new(err, "code", json_string(code));
	/* json_string refuses invalid UTF-8; a message quoting client bytes
	 * could hold some, so fall back to a plain one. */
	if (json_object_set_new(err, "message", json_string(msg)) < 0)
		json_object_set_new(err, "message", json_string("(message not valid UTF-8)"));
	r->body = json_object();
	json_object_set_new(r->body, "error", err);
}

/* ======================================================= ls_rc -> HTTP */

#define RC_ANY ((ls_rc)-1)

/* One row per answer: the first row of kind whose rc is the one failed (or
 * RC_ANY) gives the status, code, Retry-After and, when not NULL, the
 * message.  Each kind ends with an RC_ANY row. */
static const struct rc_reply {
	enum api_rc_kind kind;
	ls_rc rc;
	unsigned status;
	const char *code;
	int retry_after;
	const char *msg;
} rc_replies[] = {
	{ API_RC_READ, LS_NOMEM, 503, "busy", 1, "out of memory" },
	{ API_RC_READ, RC_ANY, 500, "internal", 0, NULL },

	{ API_RC_WRITE, LS_BUSY, 503, "busy", 1, "the log is saturated; retry later" },
	{ API_RC_WRITE, LS_NOSPACE, 507, "no_space", 0,
	  "the disk is full; nothing of the batch was kept" },
	{ API_RC_WRITE, LS_LIMIT, 413, "too_large", 0, NULL },
	{ API_RC_WRITE, LS_FAILED, 503, "log_failed", 60,
	  "the log refuses writes after a storage failure; the operator must restart it" },
	{ API_RC_WRITE, LS_NOMEM, 503, "busy", 1, "out of memory; retry later" },
	{ API_RC_WRITE, RC_ANY, 500, "internal", 0, NULL },

	/* Fail closed: a read that leaves no trace is not served. */
	{ API_RC_AUDIT, LS_NOSPACE, 507, "no_space",
	  0, "the disk is full: this read cannot be recorded in the log, so it is refused" },
	{ API_RC_AUDIT, LS_FAILED, 503, "log_failed", 60,
	  "the log refuses writes after a storage failure: this read cannot be recorded, so "
	  "it is refused" },
	{ API_RC_AUDIT, RC_ANY, 503, "audit_failed", 1, NULL },
};

static const struct rc_reply *rc_reply_of(ls_rc rc, enum api_rc_kind kind)
{
	for (size_t i = 0; i < sizeof(rc_replies) / sizeof(rc_replies[0]); i++)
		if (rc_replies[i].kind == kind &&
		    (rc_replies[i].rc == rc || rc_replies[i].rc == RC_ANY))
			return &rc_replies[i];
	return NULL;	/* not reached: every kind ends with RC_ANY */
}

unsigned api_status_of(ls_rc rc, enum api_rc_kind kind)
{
	const struct rc_reply *x;

	if (rc == LS_OK)
		return 200;
	x = rc_reply_of(rc, kind);
	return x ? x->status : 500;
}

void api_reply_rc(struct server *s, struct reply *r, ls_rc rc, enum api_rc_kind kind,
		  const char *fmt, ...)
{
	const struct rc_reply *x = rc_reply_of(rc, kind);
	char msg[1024];
	va_list ap;

	if (!x) {
		reply_error(r, 500, "internal", "%s", ls_rc_name(rc));
		return;
	}
	if (x->msg) {
		reply_error(r, x->status, x->code, "%s", x->msg);
	} else {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		reply_error(r, x->status, x->code, "%s", msg);
	}
	r->retry_after = x->retry_after;
	if (rc == LS_FAILED && kind == API_RC_WRITE && s)
		atomic_store(&s->failed, 1);
}

void reply_append_error(struct server *s, struct reply *r, ls_rc rc, const struct ls_err *err)
{
	if (rc == LS_BUSY && s && s->cluster && err && err->msg[0]) {
		/* Cluster mode: say why (a failover, a refusal); the client
		 * sends the batch again, to this node or another. */
		reply_error(r, 503, "busy", "%s; retry later", err->msg);
		r->retry_after = 1;
		return;
	}
	api_reply_rc(s, r, rc, API_RC_WRITE, "%s",
		     err && err->msg[0] ? err->msg : ls_rc_name(rc));
}

void api_appended(struct server *s, uint64_t size)
{
	uint64_t v = atomic_load(&s->visible);

	while (v < size && !atomic_compare_exchange_weak(&s->visible, &v, size))
		;
}

uint64_t api_query_horizon(struct server *s, const char *service)
{
	if (service && !strcmp(service, "logseal"))
		return log_size(s->log);
	return atomic_load(&s->visible);
}

/* The event of an internal action, as a canonical entry in *it. */
static ls_rc internal_event(const struct request *q, const char *action, const char *actor,
			    const char *outcome, json_t *details, struct event_item *it)
{
	struct event_ctx ctx = {
		.writer = NULL,
		.remote_ip = q->remote_ip,
		.bound_service = NULL,
		.received_us = q->received_us,
	};
	json_t *d = details ? json_deep_copy(details) : json_object();
	ls_rc rc;

	if (!d)
		return LS_NOMEM;
	json_object_set_new(d, "method", json_string(q->method));
	/* The path came from the client: keep it only if it is valid UTF-8
	 * (json_string refuses otherwise) and bounded.  A caller that cut it
	 * shorter (denials) has put its own. */
	if (!json_object_get(d, "path") && strlen(q->path) <= 512)
		json_object_set_new(d, "path", json_string(q->path));
	rc = event_internal(action, actor, q->remote_ip, outcome, d, &ctx, it);
	json_decref(d);
	return rc;
}

static ls_rc log_internal(struct server *s, const struct request *q, const char *action,
			  const char *actor, const char *outcome, json_t *details, bool read)
{
	struct event_item it = { 0 };
	struct iovec iov;
	uint64_t first;
	ls_rc rc;

	rc = internal_event(q, action, actor, outcome, details, &it);
	if (rc != LS_OK)
		return rc;
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(s->log, &iov, 1, &first, NULL);
	if (rc == LS_FAILED)
		atomic_store(&s->failed, 1);
	if (rc == LS_OK && !read)
		api_appended(s, first + 1);
	event_item_release(&it);
	return rc;
}

ls_rc api_log_internal(struct server *s, const struct request *q, const char *action,
		       const char *actor, const char *outcome, json_t *details)
{
	return log_internal(s, q, action, actor, outcome, details, false);
}

unsigned api_log_denial_status(struct server *s, const struct request *q, unsigned status,
			       const char *actor, const char *reason, int *retry_after)
{
	enum denials_verdict v = DENIALS_LOG;
	unsigned wait_s = 0;
	size_t plen;
	json_t *d;

	if (retry_after)
		*retry_after = 0;
	/* Anyone can be refused as often as they like: past a few a window,
	 * refusals are counted into one summary per source (denials.h). */
	if (s->denials)
		v = denials_note(s->denials, q->remote_ip, actor ? actor : "anonymous", status,
				 q->path, reason, q->received_us, &wait_s);
	if (v == DENIALS_THROTTLE) {
		if (retry_after)
			*retry_after = (int)wait_s;
		return 429;
	}
	if (v != DENIALS_LOG)
		return status;
	d = json_object();
	json_object_set_new(d, "status", json_integer(status));
	json_object_set_new(d, "reason", json_string(reason));
	/* What a client without a token makes the server write stays small:
	 * the path is cut to DENIALS_PATH_MAX bytes (json_string refuses a
	 * cut that is not UTF-8; then there is no path). */
	plen = denials_cut_utf8(q->path, DENIALS_PATH_MAX);
	if (plen < strlen(q->path)) {
		if (json_object_set_new(d, "path", json_stringn(q->path, plen)) == 0)
			json_object_set_new(d, "path_truncated", json_true());
		else
			json_object_set_new(d, "path", json_null());
	}
	api_log_internal(s, q, status == 401 ? "logseal.auth.unauthenticated" : "logseal.auth.denied",
			 actor ? actor : "anonymous", "denied", d);
	json_decref(d);
	return status;
}

void api_log_denial(struct server *s, const struct request *q, unsigned status,
		    const char *actor, const char *reason)
{
	api_log_denial_status(s, q, status, actor, reason, NULL);
}

void api_denial_summary(void *ctx, const char *source, const char *actor, json_t *details)
{
	struct server *s = ctx;
	struct event_ctx ec = { .received_us = 0 };
	struct event_item it = { 0 };
	struct timespec ts;
	struct iovec iov;
	uint64_t first;
	ls_rc rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ec.received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	rc = event_internal("logseal.auth.denied.summary", actor, source, "denied", details, &ec,
			    &it);
	if (rc == LS_OK) {
		iov.iov_base = it.json;
		iov.iov_len = it.len;
		rc = log_append(s->log, &iov, 1, &first, NULL);
		if (rc == LS_FAILED)
			atomic_store(&s->failed, 1);
		if (rc == LS_OK)
			api_appended(s, first + 1);
	}
	event_item_release(&it);
	/* Nowhere else to say it: the counts of this summary are lost, and the
	 * operator must know. */
	if (rc != LS_OK)
		fprintf(stderr, "logseal serve: cannot append a denial summary for %s (%lld "
			"denials): %s\n", source,
			(long long)json_integer_value(json_object_get(details, "count")),
			ls_rc_name(rc));
}

/* Who a read's event names as its actor: the token's id. */
static const char *reader(const struct request *q)
{
	return q->who ? q->who->id : "anonymous";
}

/* The reply of a read whose event could not be appended. */
static void audit_refused(struct reply *r, ls_rc rc)
{
	api_reply_rc(NULL, r, rc, API_RC_AUDIT,
		     "this read cannot be recorded in the log (%s), so it is refused",
		     ls_rc_name(rc));
}

ls_rc api_audit_read(struct server *s, const struct request *q, const char *action,
		     const char *outcome, json_t *details, struct reply *r)
{
	ls_rc rc = log_internal(s, q, action, reader(q), outcome, details, true);

	if (rc != LS_OK)
		audit_refused(r, rc);
	return rc;
}

void api_audit_read_start(struct server *s, const struct request *q, const char *action,
			  const char *outcome, json_t *details, struct api_audit *a)
{
	memset(a, 0, sizeof(*a));
	a->started = 1;
	a->rc = internal_event(q, action, reader(q), outcome, details, &a->it);
	if (a->rc != LS_OK)
		return;
	a->iov.iov_base = a->it.json;
	a->iov.iov_len = a->it.len;
	a->rc = log_append_start(s->log, &a->iov, 1, &a->t, NULL);
}

void api_audit_read_failed(struct server *s, const struct request *q, const char *action,
			   json_t *details, unsigned status)
{
	json_t *d = details ? json_deep_copy(details) : json_object();

	if (d && !json_object_set_new(d, "status", json_integer(status)))
		log_internal(s, q, action, reader(q), "failure", d, true);
	json_decref(d);
}

ls_rc api_reply_audited(struct server *s, const struct request *q, const char *action,
			json_t *details, json_t **body, struct reply *r)
{
	ls_rc rc = api_audit_read(s, q, action, "success", details, r);

	if (rc != LS_OK)
		return rc;
	json_decref(r->body);
	r->status = 200;
	r->body = *body;
	*body = NULL;
	return LS_OK;
}

ls_rc api_reply_audited_raw(struct server *s, const struct request *q, const char *action,
			    json_t *details, void *raw, size_t len, const char *ctype,
			    struct reply *r)
{
	ls_rc rc = api_audit_read(s, q, action, "success", details, r);

	if (rc != LS_OK)
		return rc;
	json_decref(r->body);
	r->body = NULL;
	r->status = 200;
	r->raw = raw;
	r->raw_len = len;
	r->content_type = ctype;
	return LS_OK;
}

ls_rc api_audit_read_finish(struct server *s, struct api_audit *a, struct reply *r)
{
	uint64_t first;
	ls_rc rc = a->rc;

	if (!a->started)
		return LS_INVALID;
	if (a->t)
		rc = log_append_finish(s->log, a->t, &first, NULL);
	a->t = NULL;
	a->started = 0;
	event_item_release(&a->it);
	if (rc == LS_FAILED)
		atomic_store(&s->failed, 1);
	if (rc != LS_OK && r)
		audit_refused(r, rc);
	return rc;
}

/* ======================================================= health */

void api_healthz(struct server *s, const struct request *q, struct reply *r)
{
	int failed = atomic_load(&s->failed) || log_failed(s->log);
	int stopping = atomic_load(&s->stopping);

	(void)q;
	r->body = json_object();
	r->status = failed || stopping ? 503 : 200;
	json_object_set_new(r->body, "status",
			    json_string(failed ? "failed" : stopping ? "stopping" : "ok"));
	json_object_set_new(r->body, "tree_size", json_integer((json_int_t)log_size(s->log)));
	if (failed)
		r->retry_after = 60;
}

void api_readyz(struct server *s, const struct request *q, struct reply *r)
{
	uint64_t size = log_size(s->log), wm = index_watermark(s->index);
	uint64_t lag = size > wm ? size - wm : 0;
	const char *ierr = index_error(s->index);
	json_t *reasons = json_array();
	char msg[160];

	(void)q;
	if (atomic_load(&s->stopping))
		json_array_append_new(reasons, json_string("stopping"));
	if (atomic_load(&s->failed) || log_failed(s->log))
		json_array_append_new(reasons,
				      json_string("log_failed: the journal refuses writes"));
	if (ierr) {
		json_array_append_new(reasons, json_string("index_failed"));
	} else if (index_no_space(s->index, NULL, 0)) {
		/* It recovers by itself once space is freed (index.h). */
		json_array_append_new(reasons, json_string("index_no_space: the index waits for "
							   "disk space and retries"));
	} else if (lag > s->ready_max_lag) {
		snprintf(msg, sizeof(msg), "index_behind: %llu entries (ready below %llu)",
			 (unsigned long long)lag, (unsigned long long)s->ready_max_lag);
		json_array_append_new(reasons, json_string(msg));
	}
	{
		/* A witness showed this directory rolled back (witnesses.h). */
		char why[512];

		if (witnesses_refusing(s->witnesses, why, sizeof(why)))
			json_array_append_new(reasons, json_string(why));
	}
	if (s->upload) {
		struct upload_stats us;

		upload_stats(s->upload, &us);
		if (us.conflict)
			json_array_append_new(reasons, json_string("object_store_conflict: a write-once "
								   "object differs from the log's"));
		else if (!us.reachable) {
			snprintf(msg, sizeof(msg), "object_store_unreachable: %.120s",
				 us.last_error);
			json_array_append_new(reasons, json_string(msg));
		}
		if (upload_over_backlog(s->upload)) {
			snprintf(msg, sizeof(msg), "object_store_backlog: %llu bytes (bound %llu)",
				 (unsigned long long)us.backlog_bytes,
				 (unsigned long long)us.backlog_limit);
			json_array_append_new(reasons, json_string(msg));
		}
	}
	if (s->cluster) {
		char why[700];

		if (serve_cluster_not_ready(s->cluster, why, sizeof(why)))
			json_array_append_new(reasons, json_string(why));
	}
	r->body = json_object();
	r->status = json_array_size(reasons) ? 503 : 200;
	json_object_set_new(r->body, "status", json_string(r->status == 200 ? "ready" : "not_ready"));
	if (s->cluster)
		json_object_set_new(r->body, "cluster", serve_cluster_json(s->cluster));
	json_object_set_new(r->body, "reasons", reasons);
	json_object_set_new(r->body, "tree_size", json_integer((json_int_t)size));
	json_object_set_new(r->body, "index_watermark", json_integer((json_int_t)wm));
	if (r->status != 200)
		r->retry_after = 5;
}

void api_metrics(struct server *s, const struct request *q, struct reply *r)
{
	struct metrics_snapshot snap;
	char path[PATH_MAX];
	struct stat st;
	struct statvfs vfs;
	struct timespec now;
	char *text = NULL;
	size_t len = 0;

	if (q->nargs) {
		reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
		return;
	}
	if (!s->metrics) {
		reply_error(r, 503, "busy", "metrics are not available");
		return;
	}
	memset(&snap, 0, sizeof(snap));
	log_get_stats(s->log, &snap.log);
	snap.tree_size = log_size(s->log);
	snap.index_watermark = index_watermark(s->index);
	snap.search_watermark = index_fresh_watermark(s->index);
	snap.index_failed = index_error(s->index) != NULL;
	index_follow_counts(s->index, &snap.index_fed, &snap.index_read);
	snap.log_failed = atomic_load(&s->failed) || log_failed(s->log);
	clock_gettime(CLOCK_REALTIME, &now);
	if (snprintf(path, sizeof(path), "%s/log/checkpoint", s->dir) < (int)sizeof(path) &&
	    stat(path, &st) == 0) {
		snap.has_checkpoint_age = 1;
		snap.checkpoint_age_seconds =
			(double)(now.tv_sec - st.st_mtim.tv_sec) +
			(double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
	}
	if (statvfs(s->dir, &vfs) == 0) {
		snap.has_disk = 1;
		snap.disk_free_bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	}
	if (s->alerts) {
		snap.has_alerts = 1;
		alert_get_counters(s->alerts, &snap.alerts);
	}
	if (s->streams)
		streams_counts(s->streams, &snap.stream_clients, &snap.stream_opened_total,
			       &snap.stream_overflows_total);
	snap.has_objstore = s->upload != NULL;
	upload_stats(s->upload, &snap.objstore);
	if (metrics_render(s->metrics, &snap, &text, &len) != LS_OK) {
		reply_error(r, 503, "busy", "out of memory");
		r->retry_after = 1;
		return;
	}
	if (s->cluster) {
		/* The cluster's families, after the others (metrics.h invariant 1). */
		char *ct = serve_cluster_metrics(s->cluster), *t;
		size_t cl = ct ? strlen(ct) : 0;

		if (cl && (t = realloc(text, len + cl + 1)) != NULL) {
			memcpy(t + len, ct, cl + 1);
			text = t;
			len += cl;
		}
		free(ct);
	}
	if (s->witnesses) {
		/* The witness families, after the others (metrics.h invariant 1). */
		char *wt = witnesses_metrics(s->witnesses), *t;
		size_t wl = wt ? strlen(wt) : 0;

		if (wl && (t = realloc(text, len + wl + 1)) != NULL) {
			memcpy(t + len, wt, wl + 1);
			text = t;
			len += wl;
		}
		free(wt);
	}
	r->status = 200;
	r->raw = text;
	r->raw_len = len;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

json_t *api_body_object(const struct request *q, struct reply *r)
{
	json_error_t je;
	json_t *o = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);

	if (!o) {
		reply_error(r, 400, "invalid_json", "line %d column %d: %s", je.line, je.column,
			    je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		reply_error(r, 400, "invalid_request", "the body must be a JSON object");
		return NULL;
	}
	return o;
}

int api_alert_engine(struct server *s, struct reply *r)
{
	if (s->alerts)
		return 1;
	reply_error(r, 503, "busy", "the alert engine is not running");
	r->retry_after = 5;
	return 0;
}
