/*
 * api_alerts_admin.c - alert management for the dashboard (alert.h
 * "management"), next to api_alerts.c's add, list and delete:
 *	POST /v1/alerts/rules/test       admin  dry-run a rule        200
 *	     {"rule":{...},"last":N}  (the last N entries, 1..10000, default 1000)
 *	     {"rule":{...},"events":[<event>...]}  (sample events, at most 1000)
 *	     -> {"would_fire","fires_count","evaluated","matched","fires":[...]}
 *	POST /v1/alerts/rules/{id}       admin  replace the rule (edit; disable
 *	                                        and enable are edits of "enabled")
 *	POST /v1/alerts/state            admin  {"id","state":"acknowledged"|
 *	                                        "resolved","reason"} -> the alert
 *	POST /v1/webhooks/{name}/test    admin  one test delivery, now
 *	GET  /v1/webhooks/{name}/deliveries admin  the webhook's recent deliveries
 *
 * A refused rule is a 400 whose error names the field ("field": the path
 * before the message's first ':', e.g. "threshold.count"), so a form can
 * put the message next to its input.
 *
 * Invariants (as api_alerts.c's):
 *  1. Changes are events of service "logseal" with the admin's token as
 *     actor: logseal.rule.update, logseal.alert.acknowledge,
 *     logseal.alert.resolve (with the reason), logseal.webhook.test.  A rule
 *     edit whose event cannot be written is undone; a status change is
 *     written first and made after (a logged change the engine then
 *     refuses is reported, never an unlogged one).
 *  2. A dry run over the log's entries and the delivery history are
 *     audited reads (logseal.rules.test, logseal.webhooks.deliveries).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"
#include "store/log.h"
#include "followers/alert.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEST_LAST_DEFAULT 1000
#define TEST_LAST_MAX 10000
#define TEST_EVENTS_MAX 1000
#define REASON_MAX 1024

/* 400 naming the field of a validation message "field.path: message". */
static void invalid(struct reply *r, const char *msg)
{
	size_t n = strcspn(msg, ": ");

	reply_error(r, 400, "invalid_request", "%s", msg);
	if (msg[n] == ':' && n > 0)
		json_object_set_new(json_object_get(r->body, "error"), "field",
				    json_stringn(msg, n));
}

static void engine_error(struct server *s, struct reply *r, ls_rc rc, const struct ls_err *err)
{
	if (rc == LS_INVALID)
		invalid(r, err->msg);
	else if (rc == LS_NOTFOUND)
		reply_error(r, 404, "not_found", "%s", err->msg);
	else if (rc == LS_EXISTS)
		reply_error(r, 409, "conflict", "%s", err->msg);
	else if (rc == LS_LIMIT)
		reply_error(r, 409, "limit", "%s", err->msg);
	else
		api_reply_rc(s, r, rc, API_RC_READ, "%s", err->msg[0] ? err->msg : ls_rc_name(rc));
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ======================================================= rules */

/* The last n entries of the log (those still stored), oldest first. */
static ls_rc last_entries(struct server *s, uint64_t n, struct iovec **iov, uint64_t **idx,
			  size_t *got, struct ls_err *err)
{
	uint64_t size = log_size(s->log), from = size > n ? size - n : 0;

	*got = 0;
	*iov = calloc(size - from + 1, sizeof(**iov));
	*idx = calloc(size - from + 1, sizeof(**idx));
	if (!*iov || !*idx)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	for (uint64_t i = from; i < size; i++) {
		uint8_t *data;
		size_t len;

		/* purged or unreadable entries are left out of a dry run */
		if (api_read_entry(s, NULL, NULL, i, UINT64_MAX, &data, &len, err) != LS_OK)
			continue;
		(*iov)[*got].iov_base = data;
		(*iov)[*got].iov_len = len;
		(*idx)[*got] = i;
		(*got)++;
	}
	return LS_OK;
}

void api_rules_test(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_t *body, *rule, *events, *last, *out = NULL, *d, *v;
	struct iovec *iov = NULL;
	uint64_t *idx = NULL, n = TEST_LAST_DEFAULT;
	size_t got = 0, i;
	const char *k;
	ls_rc rc;

	if (!api_alert_engine(s, r) || !(body = api_body_object(q, r)))
		return;
	json_object_foreach(body, k, v) {
		if (strcmp(k, "rule") && strcmp(k, "events") && strcmp(k, "last")) {
			reply_error(r, 400, "invalid_request", "field %s: unknown", k);
			goto done;
		}
	}
	rule = json_object_get(body, "rule");
	events = json_object_get(body, "events");
	last = json_object_get(body, "last");
	if (!json_is_object(rule)) {
		invalid(r, "rule: required, the rule to test (an object)");
		goto done;
	}
	if (events && last) {
		invalid(r, "events: give either events or last, not both");
		goto done;
	}
	if (last && (!json_is_integer(last) || json_integer_value(last) < 1 ||
		     json_integer_value(last) > TEST_LAST_MAX)) {
		reply_error(r, 400, "invalid_request", "last: an integer 1..%d", TEST_LAST_MAX);
		json_object_set_new(json_object_get(r->body, "error"), "field", json_string("last"));
		goto done;
	}
	if (last)
		n = (uint64_t)json_integer_value(last);
	if (events) {
		if (!json_is_array(events) || json_array_size(events) > TEST_EVENTS_MAX) {
			reply_error(r, 400, "invalid_request", "events: an array of at most %d events",
				    TEST_EVENTS_MAX);
			json_object_set_new(json_object_get(r->body, "error"), "field",
					    json_string("events"));
			goto done;
		}
		got = json_array_size(events);
		iov = calloc(got + 1, sizeof(*iov));
		idx = calloc(got + 1, sizeof(*idx));
		if (!iov || !idx) {
			api_reply_rc(s, r, LS_NOMEM, API_RC_READ, "out of memory");
			goto done;
		}
		json_array_foreach(events, i, v) {
			iov[i].iov_base = json_dumps(v, JSON_COMPACT);
			iov[i].iov_len = iov[i].iov_base ? strlen(iov[i].iov_base) : 0;
			idx[i] = i;
		}
	} else if ((rc = last_entries(s, n, &iov, &idx, &got, &err)) != LS_OK) {
		api_reply_rc(s, r, rc, API_RC_READ, "%s", err.msg);
		goto done;
	}
	rc = alert_rule_dry_run(rule, iov, idx, got, now_us(), &out, &err);
	if (rc != LS_OK) {
		engine_error(s, r, rc, &err);
		goto done;
	}
	json_object_set_new(out, "source", json_string(events ? "events" : "log"));
	if (events) {
		r->status = 200;
		r->body = out;
		out = NULL;
	} else {
		/* the entries' fields were read: an audited read */
		d = json_pack("{sI}", "evaluated", (json_int_t)got);
		api_reply_audited(s, q, "logseal.rules.test", d, &out, r);
		json_decref(d);
	}
done:
	for (i = 0; iov && i < got; i++)
		free(iov[i].iov_base);
	free(iov);
	free(idx);
	json_decref(out);
	json_decref(body);
}

void api_rules_edit(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_t *body, *old = NULL, *d, *back;
	const char *id = q->tail;
	ls_rc rc;

	if (!api_alert_engine(s, r))
		return;
	if (q->body_len > ALERT_RULE_TEXT_MAX) {
		reply_error(r, 413, "too_large", "a rule is at most %d bytes", ALERT_RULE_TEXT_MAX);
		return;
	}
	if (!(body = api_body_object(q, r)))
		return;
	rc = alert_rule_replace(s->alerts, id, body, &old, &err);
	if (rc != LS_OK) {
		json_decref(body);
		engine_error(s, r, rc, &err);
		return;
	}
	d = json_pack("{sssO?sO?sO?s{sOsO}}", "rule_id", id, "name",
		      json_object_get(body, "name"), "kind", json_object_get(body, "kind"),
		      "severity", json_object_get(body, "severity"), "enabled", "before",
		      json_object_get(old, "enabled") ?: json_true(), "after",
		      json_object_get(body, "enabled") ?: json_true());
	rc = api_log_internal(s, q, "logseal.rule.update", q->who->id, "success", d);
	json_decref(d);
	if (rc != LS_OK) {
		/* invariant 1: no change the log does not account for */
		alert_rule_replace(s->alerts, id, old, &back, NULL);
		json_decref(back);
		json_decref(old);
		json_decref(body);
		reply_append_error(s, r, rc, NULL);
		return;
	}
	json_decref(old);
	json_decref(body);
	r->status = 200;
	r->body = json_pack("{ss}", "id", id);
}

/* ======================================================= fired alerts */

/* The listed alert of that id (new reference), or NULL. */
static json_t *find_fired(struct server *s, const char *id)
{
	json_t *all = NULL, *v, *hit = NULL;
	size_t i;

	if (alert_fired_list(s->alerts, ALERT_FIRED_KEEP, &all) != LS_OK)
		return NULL;
	json_array_foreach(json_object_get(all, "alerts"), i, v) {
		const char *aid = json_string_value(json_object_get(v, "id"));
		if (aid && !strcmp(aid, id)) {
			hit = json_incref(v);
			break;
		}
	}
	json_decref(all);
	return hit;
}

void api_alert_state(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_t *body, *al = NULL, *d, *out = NULL, *v;
	const char *id, *state, *reason, *cur, *k;
	ls_rc rc;

	if (!api_alert_engine(s, r) || !(body = api_body_object(q, r)))
		return;
	json_object_foreach(body, k, v) {
		if (strcmp(k, "id") && strcmp(k, "state") && strcmp(k, "reason")) {
			reply_error(r, 400, "invalid_request", "field %s: unknown", k);
			goto done;
		}
	}
	id = json_string_value(json_object_get(body, "id"));
	state = json_string_value(json_object_get(body, "state"));
	reason = json_string_value(json_object_get(body, "reason"));
	if (!id) {
		invalid(r, "id: required, the fired alert's id");
		goto done;
	}
	if (!state || (strcmp(state, "acknowledged") && strcmp(state, "resolved"))) {
		invalid(r, "state: \"acknowledged\" or \"resolved\"");
		goto done;
	}
	if (!reason || !reason[0] || strlen(reason) > REASON_MAX) {
		invalid(r, "reason: required, 1..1024 bytes: why");
		goto done;
	}
	al = find_fired(s, id);
	if (!al) {
		reply_error(r, 404, "not_found", "no recent alert with this id");
		goto done;
	}
	cur = json_string_value(json_object_get(al, "status")) ?: "open";
	if (!strcmp(cur, "resolved") || !strcmp(cur, state)) {
		reply_error(r, 409, "conflict", "the alert is already %s", cur);
		goto done;
	}
	d = json_pack("{sssOsssssO}", "alert_id", id, "rule_id",
		      json_object_get(json_object_get(al, "rule"), "id") ?: json_null(), "from", cur,
		      "reason", reason, "rule_name",
		      json_object_get(json_object_get(al, "rule"), "name") ?: json_null());
	rc = api_log_internal(s, q,
			      !strcmp(state, "resolved") ? "logseal.alert.resolve" :
							   "logseal.alert.acknowledge",
			      q->who->id, "success", d);
	json_decref(d);
	if (rc != LS_OK) {
		reply_append_error(s, r, rc, NULL);
		goto done;
	}
	rc = alert_fired_set_status(s->alerts, id, state, q->who->id, reason, &out, &err);
	if (rc != LS_OK) {
		engine_error(s, r, rc, &err);
		goto done;
	}
	r->status = 200;
	r->body = out;
done:
	json_decref(al);
	json_decref(body);
}

/* ======================================================= webhooks */

/* q->tail is "{name}/{what}": name into buf, *what the rest. */
static int split_tail(const char *tail, char *buf, size_t cap, const char **what)
{
	const char *sl = strchr(tail, '/');
	size_t n = sl ? (size_t)(sl - tail) : 0;

	if (!sl || n == 0 || n >= cap)
		return 0;
	memcpy(buf, tail, n);
	buf[n] = 0;
	*what = sl + 1;
	return 1;
}

void api_webhook_test(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	char name[128];
	const char *what;
	json_t *out = NULL, *d;
	ls_rc rc;

	if (!api_alert_engine(s, r))
		return;
	if (!split_tail(q->tail, name, sizeof(name), &what) || strcmp(what, "test")) {
		reply_error(r, 404, "not_found", "POST /v1/webhooks/{name}/test");
		return;
	}
	rc = alert_webhook_test(s->alerts, name, &out, &err);
	if (rc != LS_OK) {
		engine_error(s, r, rc, &err);
		return;
	}
	d = json_pack("{sssO}", "webhook", name, "delivered", json_object_get(out, "delivered"));
	if (json_object_get(out, "status"))
		json_object_set(d, "status", json_object_get(out, "status"));
	rc = api_log_internal(s, q, "logseal.webhook.test", q->who->id,
			      json_is_true(json_object_get(out, "delivered")) ? "success" :
										 "failure", d);
	json_decref(d);
	if (rc != LS_OK)
		json_object_set_new(out, "logged", json_false());
	r->status = 200;
	r->body = out;
}

void api_webhook_deliveries(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	char name[128];
	const char *what;
	json_t *out = NULL, *d;
	ls_rc rc;

	if (!api_alert_engine(s, r))
		return;
	if (!split_tail(q->tail, name, sizeof(name), &what) || strcmp(what, "deliveries")) {
		reply_error(r, 404, "not_found", "GET /v1/webhooks/{name}/deliveries");
		return;
	}
	rc = alert_webhook_deliveries(s->alerts, name, &out, &err);
	if (rc != LS_OK) {
		engine_error(s, r, rc, &err);
		return;
	}
	d = json_pack("{sssI}", "webhook", name, "results",
		      (json_int_t)json_array_size(json_object_get(out, "deliveries")));
	api_reply_audited(s, q, "logseal.webhooks.deliveries", d, &out, r);
	json_decref(d);
	json_decref(out);
}
