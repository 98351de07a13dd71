/*
 * api_alerts.c - the HTTP side of the alert engine (alert.h):
 *	POST   /v1/alerts/rules         admin    add a rule            201 {"id"}
 *	GET    /v1/alerts/rules         admin    {"rules":[...]}
 *	DELETE /v1/alerts/rules/{id}    admin    200 {"id","deleted":true}
 *	POST   /v1/alerts/webhooks      admin    add or replace one    200 {"name"}
 *	GET    /v1/alerts/webhooks      admin    {"webhooks":[...]} (secrets hidden)
 *	GET    /v1/alerts?limit=N       auditor  fired alerts, newest first
 * and the engine's emit callback, which appends a fired alert to the log.
 *
 * Invariants:
 *  1. Configuration changes are events of service "logseal" (actions
 *     logseal.rule.create, logseal.rule.delete, logseal.webhook.set) and a
 *     change stands only once its event is durable: if the event cannot be
 *     appended the change is undone and the client gets the log's error,
 *     as for tokens.  These actions are deliberately outside
 *     "logseal.alert.*", which the engine never evaluates (alert.h): rule
 *     changes are themselves things a rule may watch.
 *  2. A webhook's secret, URL credentials and URL query values never reach
 *     the log or a reply; the event names the webhook and the URL's scheme
 *     and host, GET shows the URL masked (webhook_url_mask).
 *  3. GET /v1/alerts is an audited read (logseal.alerts.list; fail closed):
 *     fired alerts quote the leaf indexes and groups of events.
 *  4. A webhook whose host is or resolves to an address the server does not
 *     allow (loopback, private, link-local ...: webhook.h invariant 6) is
 *     refused with 400 webhook_target_forbidden before anything changes.
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"
#include "server/auth.h"
#include "followers/alert.h"
#include "base/crypto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int no_args(const struct request *q, struct reply *r)
{
	if (q->nargs == 0)
		return 1;
	reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
	return 0;
}

static void config_error(struct reply *r, ls_rc rc, const struct ls_err *err)
{
	switch (rc) {
	case LS_INVALID: {
		/* "field.path: message": the field, for a form to show it by its input */
		size_t n = strcspn(err->msg, ": ");

		reply_error(r, 400, "invalid_request", "%s", err->msg);
		if (err->msg[n] == ':' && n > 0)
			json_object_set_new(json_object_get(r->body, "error"), "field",
					    json_stringn(err->msg, n));
		break;
	}
	case LS_EXISTS:
		reply_error(r, 409, "exists", "%s", err->msg);
		break;
	case LS_LIMIT:
		reply_error(r, 409, "limit", "%s", err->msg);
		break;
	case LS_NOTFOUND:
		reply_error(r, 404, "not_found", "%s", err->msg[0] ? err->msg : "no such rule");
		break;
	default:
		api_reply_rc(NULL, r, rc, API_RC_READ, "%s",
			     err->msg[0] ? err->msg : ls_rc_name(rc));
		break;
	}
}

/* The rule of that id in the engine's list (new reference), or NULL. */
static json_t *find_rule(struct server *s, const char *id)
{
	json_t *all = NULL, *v, *hit = NULL;
	size_t i;

	if (alert_rules_list(s->alerts, &all) != LS_OK)
		return NULL;
	json_array_foreach(json_object_get(all, "rules"), i, v) {
		const char *rid = json_string_value(json_object_get(v, "id"));
		if (rid && !strcmp(rid, id)) {
			hit = json_incref(v);
			break;
		}
	}
	json_decref(all);
	return hit;
}

static json_t *rule_summary(const json_t *rule, const char *id)
{
	json_t *d = json_object();

	json_object_set_new(d, "rule_id", json_string(id));
	if (rule) {
		json_object_set(d, "name", json_object_get(rule, "name"));
		json_object_set(d, "kind", json_object_get(rule, "kind"));
		json_object_set(d, "severity", json_object_get(rule, "severity"));
	}
	return d;
}

void api_rules_post(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_t *body, *d, *rule;
	char *id = NULL;
	ls_rc rc;

	if (!api_alert_engine(s, r) || !no_args(q, r))
		return;
	if (q->body_len > ALERT_RULE_TEXT_MAX) {
		reply_error(r, 413, "too_large", "a rule is at most %d bytes", ALERT_RULE_TEXT_MAX);
		return;
	}
	body = api_body_object(q, r);
	if (!body)
		return;
	rc = alert_rule_add(s->alerts, body, &id, &err);
	json_decref(body);
	if (rc != LS_OK) {
		config_error(r, rc, &err);
		return;
	}
	rule = find_rule(s, id);
	d = rule_summary(rule, id);
	rc = api_log_internal(s, q, "logseal.rule.create", q->who->id, "success", d);
	json_decref(d);
	if (rc != LS_OK) {
		/* invariant 1: no rule the log does not account for */
		alert_rule_delete(s->alerts, id, NULL);
		json_decref(rule);
		free(id);
		reply_append_error(s, r, rc, NULL);
		return;
	}
	r->status = 201;
	r->body = json_object();
	json_object_set_new(r->body, "id", json_string(id));
	if (rule)
		json_object_set_new(r->body, "rule", rule);
	free(id);
}

/* Rules and webhooks are configuration: reading them is an audited read,
 * recorded before anything is shown (fail closed): *out, the list under
 * key, is the reply once its event is durable. */
static void reply_config_read(struct server *s, const struct request *q, const char *action,
			      const char *key, json_t **out, struct reply *r)
{
	json_t *d = json_pack("{sI}", "results",
			      (json_int_t)json_array_size(json_object_get(*out, key)));

	api_reply_audited(s, q, action, d, out, r);
	json_decref(d);
	json_decref(*out);
	*out = NULL;
}

void api_rules_get(struct server *s, const struct request *q, struct reply *r)
{
	json_t *out = NULL;

	if (!api_alert_engine(s, r) || !no_args(q, r))
		return;
	if (alert_rules_list(s->alerts, &out) != LS_OK) {
		reply_error(r, 503, "busy", "out of memory");
		r->retry_after = 1;
		return;
	}
	reply_config_read(s, q, "logseal.rules.list", "rules", &out, r);
}

void api_rules_delete(struct server *s, const struct request *q, struct reply *r)
{
	const char *id = q->tail;
	struct ls_err err = { { 0 } };
	json_t *rule, *d;
	ls_rc rc;

	if (!api_alert_engine(s, r) || !no_args(q, r))
		return;
	rule = find_rule(s, id);
	if (!rule) {
		reply_error(r, 404, "not_found", "no rule with this id");
		return;
	}
	rc = alert_rule_delete(s->alerts, id, &err);
	if (rc != LS_OK) {
		json_decref(rule);
		config_error(r, rc, &err);
		return;
	}
	d = rule_summary(rule, id);
	rc = api_log_internal(s, q, "logseal.rule.delete", q->who->id, "success", d);
	json_decref(d);
	if (rc != LS_OK) {
		char *back = NULL;
		/* invariant 1: put it back (best effort: same id, same text) */
		if (alert_rule_add(s->alerts, rule, &back, NULL) == LS_OK)
			free(back);
		json_decref(rule);
		reply_append_error(s, r, rc, NULL);
		return;
	}
	json_decref(rule);
	r->status = 200;
	r->body = json_object();
	json_object_set_new(r->body, "id", json_string(id));
	json_object_set_new(r->body, "deleted", json_true());
}

/* scheme://host[:port] of a URL, without path, query or credentials. */
static json_t *url_origin(const char *url)
{
	const char *p = strstr(url, "://"), *host, *end, *at;
	char buf[300];
	size_t n;

	if (!p)
		return json_null();
	host = p + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at)
		host = at + 1;
	n = (size_t)(p + 3 - url) + (size_t)(end - host);
	if (n >= sizeof(buf))
		return json_null();
	snprintf(buf, sizeof(buf), "%.*s%.*s", (int)(p + 3 - url), url, (int)(end - host), host);
	return json_string(buf);
}

void api_webhooks_post(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_t *body, *d;
	const char *name, *url;
	ls_rc rc;

	if (!api_alert_engine(s, r) || !no_args(q, r))
		return;
	body = api_body_object(q, r);
	if (!body)
		return;
	rc = alert_webhook_set(s->alerts, body, &err);
	if (rc != LS_OK) {
		json_decref(body);
		if (rc == LS_DENIED)
			reply_error(r, 400, "webhook_target_forbidden", "%s", err.msg);
		else if (rc == LS_NOTFOUND)
			reply_error(r, 400, "webhook_target_unresolved", "%s", err.msg);
		else
			config_error(r, rc, &err);
		return;
	}
	name = json_string_value(json_object_get(body, "name"));
	url = json_string_value(json_object_get(body, "url"));
	d = json_object();
	json_object_set_new(d, "webhook", json_string(name ? name : ""));
	json_object_set_new(d, "url_origin", url ? url_origin(url) : json_null());
	json_object_set(d, "format", json_object_get(body, "format"));
	/* A replaced webhook cannot be restored (its old secret is gone from
	 * the reply path by design), so a failed event leaves it set and
	 * says so, like a token revocation. */
	rc = api_log_internal(s, q, "logseal.webhook.set", q->who->id, "success", d);
	json_decref(d);
	r->status = 200;
	r->body = json_object();
	json_object_set_new(r->body, "name", json_string(name ? name : ""));
	if (rc != LS_OK)
		json_object_set_new(r->body, "logged", json_false());
	json_decref(body);
}

void api_webhooks_get(struct server *s, const struct request *q, struct reply *r)
{
	json_t *out = NULL;

	if (!api_alert_engine(s, r) || !no_args(q, r))
		return;
	if (alert_webhooks_list(s->alerts, &out) != LS_OK) {
		reply_error(r, 503, "busy", "out of memory");
		r->retry_after = 1;
		return;
	}
	reply_config_read(s, q, "logseal.webhooks.list", "webhooks", &out, r);
}

void api_alerts_list(struct server *s, const struct request *q, struct reply *r)
{
	uint64_t limit = 100;
	json_t *out = NULL, *d;

	if (!api_alert_engine(s, r))
		return;
	for (size_t i = 0; i < q->nargs; i++) {
		const char *v = q->args[i].value;

		if (strcmp(q->args[i].key, "limit") != 0) {
			reply_error(r, 400, "bad_parameter", "unknown parameter (only limit)");
			return;
		}
		if (!ls_parse_u64(v, 1, ALERT_FIRED_KEEP, &limit)) {
			reply_error(r, 400, "bad_parameter", "parameter 'limit': 1..%d",
				    ALERT_FIRED_KEEP);
			return;
		}
	}
	if (alert_fired_list(s->alerts, (size_t)limit, &out) != LS_OK) {
		reply_error(r, 503, "busy", "out of memory");
		r->retry_after = 1;
		return;
	}
	d = json_object();
	json_object_set_new(d, "limit", json_integer((json_int_t)limit));
	json_object_set_new(d, "results",
			    json_integer((json_int_t)json_array_size(json_object_get(out, "alerts"))));
	api_reply_audited(s, q, "logseal.alerts.list", d, &out, r);
	json_decref(d);
	json_decref(out);
}

/* ======================================================= emit */

ls_rc api_alert_emit(void *ctx, json_t *details, uint64_t *index, int *elsewhere)
{
	struct server *s = ctx;
	json_t *logged = NULL;
	uint8_t key[1][LOG_KEY_LEN];
	struct timespec ts;
	struct event_ctx ec = { 0 };
	struct event_item it = { 0 };
	struct iovec iov;
	ls_rc rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ec.received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	/* Cluster: the event names the node that logged it, whose webhooks
	 * deliver the alert (alert.h). */
	if (s->node[0]) {
		logged = json_deep_copy(details);
		if (!logged || json_object_set_new(logged, "node", json_string(s->node))) {
			json_decref(logged);
			return LS_NOMEM;
		}
		details = logged;
	}
	rc = event_internal(ALERT_ACTION_FIRED, "logseal", NULL, "success", details, &ec, &it);
	if (rc != LS_OK) {
		json_decref(logged);
		return rc;
	}
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	/* The fired alert's id ("rule@leaf") as its idempotency key: in
	 * cluster mode every node's engine fires on the same log, and the
	 * database keeps the first node's event only (the others get its
	 * index back).  A single node ignores the key. */
	{
		const char *id = json_string_value(json_object_get(details, "id"));
		uint8_t h[LS_HASH_LEN];

		ls_sha256("logseal alert v1\n", 17, id ? id : "", id ? strlen(id) : 0, h);
		memcpy(key[0], h, LOG_KEY_LEN);
	}
	json_decref(logged);
	details = NULL;
	pthread_mutex_lock(&s->emit_mu);
	/* Closed: the alert stays pending and is emitted again after a restart. */
	rc = s->emit_closed ? LS_BUSY
			      : log_append_keyed(s->log, &iov, 1, (const uint8_t (*)[LOG_KEY_LEN])key,
						 index, NULL);
	pthread_mutex_unlock(&s->emit_mu);
	if (rc == LS_FAILED)
		atomic_store(&s->failed, 1);
	if (rc == LS_OK)
		api_appended(s, *index + 1);
	/* Cluster: the key may have given back another node's event (its own
	 * received time and node name: never these bytes).  Unreadable: ours,
	 * so the alert is delivered at least once. */
	if (rc == LS_OK && s->node[0]) {
		uint8_t *data = NULL;
		size_t len = 0;
		struct ls_err rerr = { { 0 } };

		if (api_read_entry(s, NULL, NULL, *index, UINT64_MAX, &data, &len, &rerr) == LS_OK &&
		    (len != it.len || memcmp(data, it.json, len) != 0))
			*elsewhere = 1;
		free(data);
	}
	event_item_release(&it);
	return rc;
}
