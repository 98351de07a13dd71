/*
 * alert_store.c - the alert engine's files (alert.h "Files"): rules.json
 * (created with the default rules when missing), webhooks.json (sealed in an
 * encrypted data directory) and state.json (E, R, absence state and the
 * recent fired alerts), all sealed against edits (cfgseal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "followers/alert.h"
#include "followers/alert_int.h"
#include "followers/webhook.h"
#include "store/cfgseal.h"

#define FILE_MAX (8u << 20)

/* ============================================================ persistence */

/* Every file under alerts/ is sealed (cfgseal.h): rules, webhooks and the
 * engine's position cannot be edited on disk to silence an alert. */
static ls_rc write_json(const char *dir, const char *name, json_t *o, mode_t mode,
			struct ls_err *err)
{
	char path[4096], ddir[4096];
	char *s = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	ls_rc rc;

	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cfgseal_parent(dir, 1, ddir, sizeof(ddir));
	rc = cfgseal_write_file(ddir, CFGSEAL_ALERTS, path, s, strlen(s), mode, err);
	free(s);
	return rc;
}

static ls_rc read_json(const char *dir, const char *name, json_t **out, struct ls_err *err)
{
	char path[4096], ddir[4096], *data;
	json_error_t je;
	size_t len;
	ls_rc rc;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cfgseal_parent(dir, 1, ddir, sizeof(ddir));
	rc = cfgseal_read_file(ddir, CFGSEAL_ALERTS, path, FILE_MAX, &data, &len, err);
	if (rc)
		return rc;
	*out = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	free(data);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return ls_err_set(err, LS_CORRUPT, "%s: not a JSON object (%s)", path, je.text);
	}
	return LS_OK;
}

ls_rc alert_save_rules(struct alert *a, struct ls_err *err)
{
	json_t *o = json_pack("{sis[]}", "version", 1, "rules"), *arr;
	size_t i;
	ls_rc rc;

	if (!o)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	arr = json_object_get(o, "rules");
	for (i = 0; i < a->nrules; i++)
		json_array_append(arr, a->rules[i]->json);
	rc = write_json(a->dir, "rules.json", o, 0600, err);
	json_decref(o);
	return rc;
}

ls_rc alert_save_hooks(struct alert *a, struct ls_err *err)
{
	json_t *o = json_pack("{s[]}", "webhooks"), *arr;
	size_t i;
	ls_rc rc;

	if (!o)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	arr = json_object_get(o, "webhooks");
	for (i = 0; i < a->nhooks; i++)
		if (a->hook_persist[i] &&
		    json_array_append_new(arr, webhook_cfg_stored(&a->hooks[i],
								  a->sealed ? a->seal_key : NULL))) {
			json_decref(o);
			return ls_err_set(err, LS_NOMEM, "out of memory (sealing webhooks)");
		}
	rc = write_json(a->dir, "webhooks.json", o, 0600, err);
	/* the serialised secrets live on in freed heap otherwise */
	json_decref(o);
	return rc;
}

/* E and R of alert.h (mu held). */
static void resume_points(struct alert *a, uint64_t *e_out, uint64_t *r_out)
{
	uint64_t e = a->next, r;
	size_t i;

	for (i = 0; i < a->ring_len; i++) {
		struct fired *f = &a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP];
		if (f->emit != EMIT_DONE && f->trigger < e)
			e = f->trigger; /* invariant 3 */
	}
	r = e;
	for (i = 0; i < a->nrules; i++) {
		struct group *g;

		if (a->rules[i]->kind != K_THRESHOLD)
			continue;
		for (g = a->rules[i]->lru_head; g; g = g->next) {
			if (g->len && g->ring[g->head].idx < r)
				r = g->ring[g->head].idx;
			if (g->muted_until > a->latest_t && g->fire_first < r)
				r = g->fire_first;
		}
	}
	*e_out = e;
	*r_out = r;
}

static json_t *state_json(struct alert *a)
{
	uint64_t e, r;
	json_t *o, *abs, *fl;
	size_t i, skip;

	resume_points(a, &e, &r);
	o = json_pack("{sisIsIs{}s[]}", "version", 1, "evaluated", (json_int_t)e, "replay_from",
		      (json_int_t)r, "absence", "fired");
	if (!o)
		return NULL;
	abs = json_object_get(o, "absence");
	fl = json_object_get(o, "fired");
	for (i = 0; i < a->nrules; i++) {
		struct rule *ru = a->rules[i];
		if (ru->kind == K_ABSENCE)
			json_object_set_new(abs, ru->id,
					    json_pack("{sIsb}", "since_us", (json_int_t)ru->since_us,
						      "fired", ru->abs_fired));
	}
	skip = a->ring_len > ALERT_FIRED_PERSIST ? a->ring_len - ALERT_FIRED_PERSIST : 0;
	for (i = skip; i < a->ring_len; i++) {
		struct fired *f = &a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP];
		const char *g = alert_str_at(f->obj, "group", NULL);
		json_t *al = f->obj, *copy = NULL;

		if (a->blind && g) {
			/* encrypted at rest: no actor id or address in the clear
			 * here either (the logged alert, sealed, keeps it) */
			char h[65];

			alert_group_hash(a, g, h);
			copy = json_copy(f->obj);
			if (!copy || json_object_del(copy, "group") ||
			    json_object_set_new(copy, "group_hash", json_string(h))) {
				json_decref(copy);
				json_decref(o);
				return NULL;
			}
			al = copy;
		}
		json_array_append_new(
			fl, json_pack("{sOsosb}", "alert", al, "trigger",
				      f->trigger == UINT64_MAX ? json_null() :
								 json_integer((json_int_t)f->trigger),
				      "emitted", f->emit == EMIT_DONE));
		json_decref(copy);
	}
	return o;
}

ls_rc alert_save_state(struct alert *a, struct ls_err *err)
{
	json_t *o;
	ls_rc rc;

	pthread_mutex_lock(&a->save_mu);
	pthread_mutex_lock(&a->mu);
	o = state_json(a);
	a->dirty = 0;
	a->last_save = alert_now_us(a);
	pthread_mutex_unlock(&a->mu);
	rc = o ? write_json(a->dir, "state.json", o, 0600, err) :
		 ls_err_set(err, LS_NOMEM, "out of memory");
	if (rc) {
		pthread_mutex_lock(&a->mu);
		a->dirty = 1;
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_unlock(&a->save_mu);
	json_decref(o);
	return rc;
}

ls_rc alert_load_state(struct alert *a, struct ls_err *err)
{
	json_t *o, *abs, *fl, *v;
	const char *key;
	size_t i;
	ls_rc rc = read_json(a->dir, "state.json", &o, err);

	if (rc == LS_NOTFOUND) {
		a->fresh = 1;
		return LS_OK;
	}
	if (rc)
		return rc;
	v = json_object_get(o, "evaluated");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    !json_is_integer(json_object_get(o, "replay_from")) ||
	    json_integer_value(json_object_get(o, "replay_from")) < 0 ||
	    json_integer_value(json_object_get(o, "replay_from")) > json_integer_value(v)) {
		json_decref(o);
		return ls_err_set(err, LS_CORRUPT, "%s/state.json: bad evaluated/replay_from",
				  a->dir);
	}
	a->live_from = (uint64_t)json_integer_value(v);
	a->next = (uint64_t)json_integer_value(json_object_get(o, "replay_from"));
	abs = json_object_get(o, "absence");
	json_object_foreach(abs, key, v) {
		struct rule *r = alert_rule_find(a, key, NULL);
		if (r && r->kind == K_ABSENCE) {
			r->since_us = json_integer_value(json_object_get(v, "since_us"));
			r->abs_fired = json_is_true(json_object_get(v, "fired"));
		}
	}
	fl = json_object_get(o, "fired");
	json_array_foreach(fl, i, v) {
		json_t *al = json_object_get(v, "alert"), *tr = json_object_get(v, "trigger");
		struct fired *f;

		if (!json_is_object(al) || !json_is_string(json_object_get(al, "id")))
			continue;
		f = alert_fired_push(a);
		f->obj = json_deep_copy(al);
		f->trigger = json_is_integer(tr) ? (uint64_t)json_integer_value(tr) : UINT64_MAX;
		f->emit = json_is_true(json_object_get(v, "emitted")) || !a->o.emit ? EMIT_DONE :
										       EMIT_PENDING;
		if (!f->obj) {
			a->ring_len--;
			continue;
		}
		if (f->emit == EMIT_PENDING)
			a->emit_wanted = 1;
	}
	json_decref(o);
	return LS_OK;
}

static const char *const default_rules[] = {
	"{\"id\":\"r_default_token_change\",\"name\":\"token created or revoked\","
	"\"kind\":\"match\",\"severity\":\"medium\","
	"\"filter\":{\"service\":\"logseal\",\"action\":\"logseal.token.*\"}}",
	"{\"id\":\"r_default_logseal_denials\",\"name\":\"repeated denials to logseal\","
	"\"kind\":\"threshold\",\"severity\":\"high\","
	"\"filter\":{\"service\":\"logseal\",\"outcome\":\"denied\"},"
	"\"threshold\":{\"count\":5,\"window_seconds\":60,\"group_by\":\"source_ip\"}}",
	"{\"id\":\"r_default_actor_denials\",\"name\":\"repeated denied actions by one actor\","
	"\"kind\":\"threshold\",\"severity\":\"high\",\"filter\":{\"outcome\":\"denied\"},"
	"\"threshold\":{\"count\":5,\"window_seconds\":60,\"group_by\":\"actor\"}}",
	/* witness cosigning (followers/witnesses.h): quorum lost, fork, rollback */
	"{\"id\":\"r_default_witness\",\"name\":\"witness policy unmet, fork or rollback\","
	"\"kind\":\"match\",\"severity\":\"high\","
	"\"filter\":{\"service\":\"logseal\",\"action\":\"logseal.witness.*\","
	"\"outcome\":\"failure\"}}",
};

ls_rc alert_add_compiled(struct alert *a, json_t *j, struct ls_err *err)
{
	struct rule *r;

	if (a->nrules >= ALERT_MAX_RULES)
		return ls_err_set(err, LS_LIMIT, "at most %d rules", ALERT_MAX_RULES);
	r = alert_rule_compile(j);
	if (!r)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	r->since_us = alert_now_us(a);
	a->rules[a->nrules++] = r;
	return LS_OK;
}

ls_rc alert_load_rules(struct alert *a, struct ls_err *err)
{
	json_t *o, *arr, *v, *chk;
	size_t i;
	ls_rc rc = read_json(a->dir, "rules.json", &o, err);

	if (rc == LS_NOTFOUND) {
		for (i = 0; i < sizeof(default_rules) / sizeof(default_rules[0]); i++) {
			rc = alert_rule_check_text(default_rules[i], strlen(default_rules[i]), &chk,
						   err);
			if (!rc)
				rc = alert_add_compiled(a, chk, err);
			json_decref(chk);
			if (rc)
				return rc;
		}
		return alert_save_rules(a, err);
	}
	if (rc)
		return rc;
	arr = json_object_get(o, "rules");
	if (!json_is_array(arr)) {
		json_decref(o);
		return ls_err_set(err, LS_CORRUPT, "%s/rules.json: no \"rules\" array", a->dir);
	}
	json_array_foreach(arr, i, v) {
		struct ls_err e2;

		rc = alert_rule_check(v, &chk, &e2);
		if (!rc && !json_object_get(chk, "id"))
			rc = ls_err_set(&e2, LS_INVALID, "id: missing");
		if (!rc && alert_rule_find(a, alert_str_at(chk, "id", NULL), NULL))
			rc = ls_err_set(&e2, LS_INVALID, "id: duplicate");
		if (rc) {
			json_decref(chk);
			json_decref(o);
			return ls_err_set(err, LS_CORRUPT, "%s/rules.json: rule %zu: %s", a->dir,
					  i, e2.msg);
		}
		rc = alert_add_compiled(a, chk, err);
		json_decref(chk);
		if (rc) {
			json_decref(o);
			return rc;
		}
	}
	json_decref(o);
	return LS_OK;
}

/* Add or replace w (taken over, also on failure). */
ls_rc alert_hook_add(struct alert *a, struct webhook_cfg *w, int persist, struct ls_err *err)
{
	struct webhook_cfg *old = alert_hook_find(a, w->name);

	if (old) {
		webhook_cfg_release(old);
		*old = *w;
		a->hook_persist[old - a->hooks] = persist;
		return LS_OK;
	}
	if (a->nhooks >= ALERT_MAX_WEBHOOKS) {
		webhook_cfg_release(w);
		return ls_err_set(err, LS_LIMIT, "at most %d webhooks", ALERT_MAX_WEBHOOKS);
	}
	a->hook_persist[a->nhooks] = persist;
	a->hooks[a->nhooks++] = *w;
	return LS_OK;
}

ls_rc alert_load_hooks(struct alert *a, struct ls_err *err)
{
	struct webhook_cfg w;
	json_t *o, *v;
	size_t i;
	int plain = 0;
	ls_rc rc = read_json(a->dir, "webhooks.json", &o, err);

	if (rc == LS_NOTFOUND)
		rc = LS_OK;
	else if (!rc) {
		json_array_foreach(json_object_get(o, "webhooks"), i, v) {
			rc = webhook_cfg_load(v, a->sealed ? a->seal_key : NULL, &w, &plain, err);
			if (!rc)
				rc = alert_hook_add(a, &w, 1, err);
			if (rc)
				break;
		}
		json_decref(o);
		/* a file from before sealing: sealed now rather than at the
		 * next change, which may never come */
		if (!rc && plain)
			rc = alert_save_hooks(a, err);
	}
	if (!rc && a->o.webhooks) {
		json_array_foreach(a->o.webhooks, i, v) {
			rc = webhook_cfg_parse(v, &w, err);
			if (!rc)
				rc = alert_hook_add(a, &w, 0, err);
			if (rc)
				break;
		}
	}
	return rc;
}
