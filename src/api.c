/*
 * api.c - what the endpoint handlers share: error replies, mapping the log's
 * result codes onto HTTP statuses, and the server's own events (denials,
 * token changes and audited reads), which go through the same log as
 * everyone else's.
 *
 * Invariant: api_audit_read() returns LS_OK only once the read's event is
 * durable (log_append() returned); otherwise the caller sends the error it
 * filled in and none of the data (fail closed).
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void reply_append_error(struct server *s, struct reply *r, ls_rc rc, const struct ls_err *err)
{
	const char *detail = err && err->msg[0] ? err->msg : ls_rc_name(rc);

	switch (rc) {
	case LS_BUSY:
		reply_error(r, 503, "busy", "the log is saturated; retry later");
		r->retry_after = 1;
		break;
	case LS_NOSPACE:
		reply_error(r, 507, "no_space", "the disk is full; nothing of the batch was kept");
		break;
	case LS_LIMIT:
		reply_error(r, 413, "too_large", "%s", detail);
		break;
	case LS_FAILED:
		atomic_store(&s->failed, 1);
		reply_error(r, 503, "log_failed",
			    "the log refuses writes after a storage failure; the operator must restart it");
		r->retry_after = 60;
		break;
	case LS_NOMEM:
		reply_error(r, 503, "busy", "out of memory; retry later");
		r->retry_after = 1;
		break;
	default:
		reply_error(r, 500, "internal", "%s", detail);
		break;
	}
}

ls_rc api_log_internal(struct server *s, const struct request *q, const char *action,
		       const char *actor, const char *outcome, json_t *details)
{
	struct event_ctx ctx = {
		.writer = NULL,
		.remote_ip = q->remote_ip,
		.bound_service = NULL,
		.received_us = q->received_us,
	};
	struct event_item it = { 0 };
	json_t *d = details ? json_deep_copy(details) : json_object();
	struct iovec iov;
	uint64_t first;
	ls_rc rc;

	if (!d)
		return LS_NOMEM;
	json_object_set_new(d, "method", json_string(q->method));
	/* The path came from the client: keep it only if it is valid UTF-8
	 * (json_string refuses otherwise) and bounded. */
	if (strlen(q->path) <= 512)
		json_object_set_new(d, "path", json_string(q->path));
	rc = event_internal(action, actor, q->remote_ip, outcome, d, &ctx, &it);
	json_decref(d);
	if (rc != LS_OK)
		return rc;
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(s->log, &iov, 1, &first, NULL);
	if (rc == LS_FAILED)
		atomic_store(&s->failed, 1);
	event_item_release(&it);
	return rc;
}

void api_log_denial(struct server *s, const struct request *q, unsigned status,
		    const char *actor, const char *reason)
{
	json_t *d = json_object();

	json_object_set_new(d, "status", json_integer(status));
	json_object_set_new(d, "reason", json_string(reason));
	api_log_internal(s, q, status == 401 ? "logseal.auth.unauthenticated" : "logseal.auth.denied",
			 actor ? actor : "anonymous", "denied", d);
	json_decref(d);
}

ls_rc api_audit_read(struct server *s, const struct request *q, const char *action,
		     const char *outcome, json_t *details, struct reply *r)
{
	const char *actor = q->who ? q->who->id : "anonymous";
	ls_rc rc = api_log_internal(s, q, action, actor, outcome, details);

	if (rc == LS_OK)
		return LS_OK;
	/* Fail closed: a read that leaves no trace is not served. */
	switch (rc) {
	case LS_NOSPACE:
		reply_error(r, 507, "no_space",
			    "the disk is full: this read cannot be recorded in the log, so it is "
			    "refused");
		break;
	case LS_FAILED:
		reply_error(r, 503, "log_failed",
			    "the log refuses writes after a storage failure: this read cannot be "
			    "recorded, so it is refused");
		r->retry_after = 60;
		break;
	default:
		reply_error(r, 503, "audit_failed",
			    "this read cannot be recorded in the log (%s), so it is refused",
			    ls_rc_name(rc));
		r->retry_after = 1;
		break;
	}
	return rc;
}
