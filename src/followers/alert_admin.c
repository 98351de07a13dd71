/*
 * alert_admin.c - what the dashboard's alert management needs from the
 * engine besides add, list and delete (alert.h "management"):
 *	alert_rule_replace      edit a rule in place (same id, same position);
 *	                        disabling is an edit with "enabled": false
 *	alert_rule_dry_run      would a rule fire on these entries? (pure)
 *	alert_fired_set_status  a fired alert's status: open -> acknowledged ->
 *	                        resolved, with who, why and when
 *	alert_webhook_test      one signed test POST to a webhook, now
 *	alert_webhook_deliveries  the newest deliveries of a webhook
 *	alert_delivery_note     (alert_int.h) records one in its ring
 *
 * The delivery history is a ring of ALERT_DELIVERY_KEEP per webhook, in
 * memory only (a->deliveries: name -> array, oldest first): it says how
 * the receiver answered lately, the log keeps what was fired.
 *
 * A fired alert's "status" lives in its listed object (and so in
 * state.json with the rest of the recent alerts); the log keeps the
 * transitions as events (the server writes them: api_alerts_admin.c).
 * Transitions: open -> acknowledged, open|acknowledged -> resolved; any
 * other is LS_EXISTS (the alert is already there or past it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/event.h"
#include "followers/alert.h"
#include "followers/alert_int.h"
#include "followers/webhook.h"

/* ============================================================ edit */

ls_rc alert_rule_replace(struct alert *a, const char *id, const json_t *rule, json_t **old,
			 struct ls_err *err)
{
	json_t *chk, *h;
	struct rule *prev, *next;
	const char *cid;
	size_t pos, i;
	ls_rc rc = alert_rule_check(rule, &chk, err);

	if (old)
		*old = NULL;
	if (rc)
		return rc;
	cid = alert_str_at(chk, "id", NULL);
	if (cid && strcmp(cid, id)) {
		json_decref(chk);
		return ls_err_set(err, LS_INVALID, "id: a rule keeps its id (%.80s)", id);
	}
	if (!cid)
		json_object_set_new(chk, "id", json_string(id));
	pthread_mutex_lock(&a->mu);
	json_array_foreach(json_object_get(chk, "webhooks"), i, h) {
		if (!alert_hook_find(a, json_string_value(h))) {
			rc = ls_err_set(err, LS_INVALID, "webhooks[%zu]: no webhook named \"%s\"", i,
					json_string_value(h));
			goto out;
		}
	}
	prev = alert_rule_find(a, id, &pos);
	if (!prev) {
		rc = ls_err_set(err, LS_NOTFOUND, "no rule %.80s", id);
		goto out;
	}
	next = alert_rule_compile(chk);
	if (!next) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	/* An edited rule starts afresh: new windows, and an absence rule
	 * counts its silence from now. */
	next->since_us = alert_now_us(a);
	a->rules[pos] = next;
	rc = alert_save_rules(a, err);
	if (rc) {
		a->rules[pos] = prev;
		alert_rule_free(next);
		goto out;
	}
	if (old)
		*old = json_incref(prev->json);
	alert_rule_free(prev);
	a->dirty = 1;
out:
	pthread_mutex_unlock(&a->mu);
	json_decref(chk);
	return rc;
}

/* ============================================================ dry run */

static const char *group_key(const struct rule *r, const struct ev *e)
{
	const char *k = NULL;

	switch (r->group_by) {
	case G_ACTOR: k = e->actor; break;
	case G_SOURCE_IP: k = e->source_ip; break;
	case G_SERVICE: k = e->service; break;
	default: return "";
	}
	return k ? k : "-";
}

ls_rc alert_rule_dry_run(const json_t *rule, const struct iovec *entries, const uint64_t *index,
			 size_t n, int64_t now_us, json_t **out, struct ls_err *err)
{
	json_t *chk, *groups, *fires;
	struct rule *r;
	uint64_t matched = 0, evaluated = 0, nfires = 0;
	int64_t last_seen = INT64_MIN;
	ls_rc rc = alert_rule_check(rule, &chk, err);

	*out = NULL;
	if (rc)
		return rc;
	r = alert_rule_compile(chk);
	json_decref(chk);
	groups = json_object();
	fires = json_array();
	if (!r || !groups || !fires) {
		alert_rule_free(r);
		json_decref(groups);
		json_decref(fires);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		json_t *root = json_loadb(entries[i].iov_base, entries[i].iov_len, 0, NULL);
		struct ev e;
		int hit;

		if (!json_is_object(root)) {
			json_decref(root);
			continue;
		}
		if (!alert_ev_from(root, &e))
			e.t = now_us;
		/* the engine never evaluates its own alerts (alert.h) */
		if (e.action && !strncmp(e.action, ALERT_ACTION_PREFIX, strlen(ALERT_ACTION_PREFIX))) {
			json_decref(root);
			continue;
		}
		evaluated++;
		hit = alert_filter_match(&r->f, &e);
		if (hit && r->kind == K_ABSENCE)
			hit = alert_str_eq(r->abs_service, e.service);
		if (!hit) {
			json_decref(root);
			continue;
		}
		matched++;
		if (r->kind == K_ABSENCE) {
			if (e.t > last_seen)
				last_seen = e.t;
		} else if (r->kind == K_MATCH) {
			nfires++;
			if (json_array_size(fires) < ALERT_TRIGGER_MAX)
				json_array_append_new(fires, json_pack("{sI}", "index",
								       (json_int_t)index[i]));
		} else {
			/* threshold: the times of the group's matches in the window;
			 * the one that makes count fires, then the group is muted
			 * for a window (alert.h) */
			const char *key = group_key(r, &e);
			json_t *g = json_object_get(groups, key), *times;
			int64_t muted;
			size_t k = 0, j;
			json_t *t;

			if (!g) {
				g = json_pack("{s[]sI}", "t", "muted", (json_int_t)INT64_MIN);
				json_object_set_new(groups, key, g);
			}
			times = json_object_get(g, "t");
			muted = json_integer_value(json_object_get(g, "muted"));
			if (e.t < muted) {
				json_decref(root);
				continue;
			}
			json_array_append_new(times, json_integer(e.t));
			/* drop what left the window */
			json_array_foreach(times, j, t)
				if (json_integer_value(t) > e.t - r->window_us)
					json_array_set(times, k++, t);
			while (json_array_size(times) > k)
				json_array_remove(times, k);
			if (json_array_size(times) >= r->count) {
				nfires++;
				if (json_array_size(fires) < ALERT_TRIGGER_MAX)
					json_array_append_new(fires, json_pack("{sIss}", "index",
									       (json_int_t)index[i],
									       "group", key));
				json_array_clear(times);
				json_object_set_new(g, "muted", json_integer(e.t + r->window_us));
			}
		}
		json_decref(root);
	}
	if (r->kind == K_ABSENCE && (last_seen == INT64_MIN || now_us - last_seen >= r->abs_us))
		nfires = 1;
	*out = json_pack("{sbsIsIsIso}", "would_fire", nfires > 0, "fires_count",
			 (json_int_t)nfires, "evaluated", (json_int_t)evaluated, "matched",
			 (json_int_t)matched, "fires", fires);
	if (*out && r->kind == K_ABSENCE && last_seen != INT64_MIN) {
		char tb[40];

		event_format_time(last_seen, tb, sizeof(tb));
		json_object_set_new(*out, "last_seen", json_string(tb));
	}
	json_decref(groups);
	alert_rule_free(r);
	return *out ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
}

/* ============================================================ status */

ls_rc alert_fired_set_status(struct alert *a, const char *id, const char *status, const char *by,
			     const char *reason, json_t **out, struct ls_err *err)
{
	struct fired *f;
	const char *cur;
	char tb[40];
	ls_rc rc = LS_OK;

	*out = NULL;
	if (strcmp(status, "acknowledged") && strcmp(status, "resolved"))
		return ls_err_set(err, LS_INVALID, "state: \"acknowledged\" or \"resolved\"");
	event_format_time(alert_now_us(a), tb, sizeof(tb));
	pthread_mutex_lock(&a->mu);
	f = alert_fired_find(a, id);
	if (!f) {
		rc = ls_err_set(err, LS_NOTFOUND, "no recent alert %.100s", id);
		goto out;
	}
	cur = alert_str_at(f->obj, "status", NULL);
	if (!cur)
		cur = "open";
	if (!strcmp(cur, "resolved") || !strcmp(cur, status)) {
		rc = ls_err_set(err, LS_EXISTS, "the alert is already %s", cur);
		goto out;
	}
	json_object_set_new(f->obj, "status", json_string(status));
	json_object_set_new(f->obj, !strcmp(status, "resolved") ? "resolved" : "acknowledged",
			    json_pack("{ssssss}", "by", by, "reason", reason, "time", tb));
	*out = json_deep_copy(f->obj);
	a->dirty = 1;
out:
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* ============================================================ webhooks */

void alert_delivery_note(struct alert *a, const char *webhook, const char *job,
			 const char *result, long http_status, int64_t latency_ms,
			 const char *error)
{
	json_t *ring, *e;
	char tb[40];

	if (!a->deliveries && !(a->deliveries = json_object()))
		return;
	ring = json_object_get(a->deliveries, webhook);
	if (!ring) {
		ring = json_array();
		if (json_object_set_new(a->deliveries, webhook, ring))
			return;
	}
	event_format_time(alert_now_us(a), tb, sizeof(tb));
	e = json_pack("{ssssssss?}", "time", tb, "result", result, "alert", job ? job : "", "error",
		      error);
	if (!e)
		return;
	if (http_status > 0)
		json_object_set_new(e, "status", json_integer(http_status));
	json_object_set_new(e, "latency_ms", latency_ms >= 0 ? json_integer(latency_ms) :
							      json_null());
	json_array_append_new(ring, e);
	while (json_array_size(ring) > ALERT_DELIVERY_KEEP)
		json_array_remove(ring, 0);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ls_rc alert_webhook_test(struct alert *a, const char *name, json_t **out, struct ls_err *err)
{
	struct webhook_cfg w, *cfg;
	struct ls_err perr = { { 0 } };
	json_t *alert;
	char id[80], *body;
	int64_t now = alert_now_us(a), t0, ms;
	long status = 0;
	ls_rc rc;

	*out = NULL;
	pthread_mutex_lock(&a->mu);
	cfg = alert_hook_find(a, name);
	rc = cfg ? webhook_cfg_copy(cfg, &w) : ls_err_set(err, LS_NOTFOUND, "no webhook %.80s",
							   name);
	pthread_mutex_unlock(&a->mu);
	if (rc)
		return rc == LS_NOMEM ? ls_err_set(err, rc, "out of memory") : rc;
	snprintf(id, sizeof(id), "test@%lld", (long long)now);
	alert = json_pack("{sss{ssssssss}sbss}", "id", id, "rule", "id", "r_test", "name",
			  "logseal test delivery", "kind", "match", "severity", "low", "test", 1,
			  "state", "pending");
	body = alert ? webhook_body(&w, alert, "logseal: test delivery", now / 1000000) : NULL;
	json_decref(alert);
	if (!body) {
		webhook_cfg_release(&w);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	/* In the caller's thread, without the engine's lock: a slow receiver
	 * holds up this request only. */
	t0 = mono_ms();
	rc = webhook_post(&w, &a->policy, body, strlen(body), now / 1000000, &status, &perr);
	ms = mono_ms() - t0;
	free(body);
	webhook_cfg_release(&w);
	pthread_mutex_lock(&a->mu);
	alert_delivery_note(a, name, id, rc == LS_OK ? "test_delivered" : "test_failed", status, ms,
			    rc == LS_OK ? NULL : perr.msg);
	pthread_mutex_unlock(&a->mu);
	*out = json_pack("{sbsIss*}", "delivered", rc == LS_OK, "latency_ms", (json_int_t)ms,
			 "error", rc == LS_OK ? NULL : perr.msg);
	if (*out && status > 0)
		json_object_set_new(*out, "status", json_integer(status));
	return *out ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
}

ls_rc alert_webhook_deliveries(struct alert *a, const char *name, json_t **out,
			       struct ls_err *err)
{
	json_t *ring;

	*out = NULL;
	pthread_mutex_lock(&a->mu);
	if (!alert_hook_find(a, name)) {
		pthread_mutex_unlock(&a->mu);
		return ls_err_set(err, LS_NOTFOUND, "no webhook %.80s", name);
	}
	ring = a->deliveries ? json_object_get(a->deliveries, name) : NULL;
	*out = json_pack("{ssso}", "webhook", name, "deliveries",
			 ring ? json_deep_copy(ring) : json_array());
	pthread_mutex_unlock(&a->mu);
	if (*out) {
		/* newest first, as the other lists */
		json_t *d = json_object_get(*out, "deliveries");
		size_t n = json_array_size(d);

		for (size_t i = 0; i < n / 2; i++) {
			json_t *x = json_incref(json_array_get(d, i));
			json_array_set(d, i, json_array_get(d, n - 1 - i));
			json_array_set_new(d, n - 1 - i, x);
		}
	}
	return *out ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
}
