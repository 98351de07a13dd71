/*
 * alert_engine.c - the alert engine (see alert.h for rules, semantics, files
 * and the calling sequence; alert_int.h for the locking and invariants).
 *
 * Layout: firing and the fired list, evaluating entries and absence ticks,
 * webhook bookkeeping, feeding and the engine thread, and the public API.
 * Rule validation and matching live in alert_rules.c, the files in
 * alert_store.c.
 */
#include "followers/alert.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"
#include "base/jcanon.h"
#include "store/reader.h"
#include "store/keys.h"
#include "followers/alert_int.h"
#include "followers/webhook.h"

/* keys_derive() label of the key sealing webhook secrets at rest */
#define WEBHOOK_SEAL_LABEL "logseal webhook secrets v1"

/* Entries nested deeper go the jansson way (stored events are at most
 * EVENT_MAX_DEPTH deep; anything else in a journal is still judged). */
#define ENTRY_DOM_DEPTH 64
/* The dom keeps its arenas between entries up to this many bytes; an
 * outsized entry's are given back once it is evaluated. */
#define ENTRY_DOM_KEEP (1u << 20)
/* keys_derive() label of the key that blinds group keys in state.json. */
#define STATE_KEY_LABEL "logseal/alert-state/v1"

/* ============================================================ the engine */


static int64_t real_clock(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t alert_now_us(struct alert *a)
{
	return a->o.now_us(a->o.clock_ctx);
}

struct fired *alert_fired_find(struct alert *a, const char *id)
{
	size_t i;

	for (i = a->ring_len; i-- > 0;) {
		struct fired *f = &a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP];
		if (!strcmp(alert_str_at(f->obj, "id", NULL), id))
			return f;
	}
	return NULL;
}

struct fired *alert_fired_push(struct alert *a)
{
	struct fired *f;

	if (a->ring_len == ALERT_FIRED_KEEP) {
		f = &a->ring[a->ring_head];
		json_decref(f->obj);
		memset(f, 0, sizeof(*f));
		a->ring_head = (a->ring_head + 1) % ALERT_FIRED_KEEP;
		a->ring_len--;
	}
	f = &a->ring[(a->ring_head + a->ring_len) % ALERT_FIRED_KEEP];
	memset(f, 0, sizeof(*f));
	a->ring_len++;
	return f;
}

struct rule *alert_rule_find(struct alert *a, const char *id, size_t *pos)
{
	size_t i;

	for (i = 0; i < a->nrules; i++) {
		if (!strcmp(a->rules[i]->id, id)) {
			if (pos)
				*pos = i;
			return a->rules[i];
		}
	}
	return NULL;
}

struct webhook_cfg *alert_hook_find(struct alert *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nhooks; i++)
		if (!strcmp(a->hooks[i].name, name))
			return &a->hooks[i];
	return NULL;
}

/* "group_hash" of state.json: hex HMAC-SHA256(blind_key, group). */
void alert_group_hash(const struct alert *a, const char *group, char out[65])
{
	uint8_t h[32];

	ls_hmac_sha256(a->blind_key, sizeof(a->blind_key), group, strlen(group), h);
	ls_hex(h, sizeof(h), out);
}

/*
 * A fired alert restored from state.json knows its group by hash only;
 * the group comes back when the alert fires again in the replay (not yet
 * logged) or its logseal.alert.fired entry is read back (logged), and is
 * taken when it hashes the same (mu held).
 */
static void group_restore(struct alert *a, struct fired *f, const char *group)
{
	const char *want = alert_str_at(f->obj, "group_hash", NULL);
	char h[65];

	if (!want || !group || !a->blind || json_object_get(f->obj, "group"))
		return;
	alert_group_hash(a, group, h);
	if (strcmp(h, want) || json_object_set_new(f->obj, "group", json_string(group)))
		return;
	json_object_del(f->obj, "group_hash");
	a->dirty = 1;
}

static void set_delivery_state(json_t *obj)
{
	json_t *hooks = json_object_get(obj, "webhooks"), *h;
	const char *st = "none";
	int pending = 0, failed = 0, other = 0;
	size_t i;

	json_array_foreach(hooks, i, h) {
		const char *s = alert_str_at(h, "state", NULL);
		if (s && !strcmp(s, "pending"))
			pending = 1;
		else if (s && !strcmp(s, "failed"))
			failed = 1;
		else if (s && !strcmp(s, "other_node"))
			other = 1;
	}
	if (json_array_size(hooks))
		st = pending ? "pending" : failed ? "failed" : other ? "other_node" : "delivered";
	json_object_set_new(obj, "state", json_string(st));
}

/* The alert without its local delivery state: what is logged and sent. */
static json_t *alert_public(const json_t *obj)
{
	json_t *c = json_deep_copy(obj);

	if (c) {
		json_object_del(c, "webhooks");
		json_object_del(c, "state");
	}
	return c;
}

static char *alert_text(const json_t *obj)
{
	char buf[768], *s;
	json_t *rule = json_object_get(obj, "rule");
	const char *kind = alert_str_at(rule, "kind", NULL), *group = alert_str_at((json_t *)obj, "group", NULL);
	json_t *li = json_object_get(obj, "log_index");
	char where[48] = "";

	if (json_is_integer(li))
		snprintf(where, sizeof(where), ", log index %lld",
			 (long long)json_integer_value(li));
	if (kind && !strcmp(kind, "absence"))
		snprintf(buf, sizeof(buf), "logseal alert [%s] %s: no events from %s for %lld s%s",
			 alert_str_at(rule, "severity", NULL), alert_str_at(rule, "name", NULL),
			 alert_str_at((json_t *)obj, "service", NULL),
			 (long long)json_integer_value(json_object_get(obj, "seconds")), where);
	else if (kind && !strcmp(kind, "threshold"))
		snprintf(buf, sizeof(buf), "logseal alert [%s] %s: %lld %s in %lld s%s%s%s",
			 alert_str_at(rule, "severity", NULL), alert_str_at(rule, "name", NULL),
			 (long long)json_integer_value(json_object_get(obj, "count")),
			 LS_PL(json_integer_value(json_object_get(obj, "count")), "event", "events"),
			 (long long)json_integer_value(json_object_get(obj, "window_seconds")),
			 group ? " from " : "", group ? group : "", where);
	else
		snprintf(buf, sizeof(buf), "logseal alert [%s] %s: matching event%s",
			 alert_str_at(rule, "severity", NULL), alert_str_at(rule, "name", NULL), where);
	s = strdup(buf);
	return s;
}

/* Queue the pending deliveries of f (mu held). */
static void queue_hooks(struct alert *a, struct fired *f)
{
	json_t *hooks = json_object_get(f->obj, "webhooks"), *h, *pub;
	const char *id = alert_str_at(f->obj, "id", NULL);
	char *text;
	size_t i;

	f->hooks_queued = 1;
	if (!json_array_size(hooks))
		return;
	pub = alert_public(f->obj);
	text = alert_text(f->obj);
	json_array_foreach(hooks, i, h) {
		struct webhook_cfg *w;
		const char *why = NULL;

		if (strcmp(alert_str_at(h, "state", NULL), "pending"))
			continue;
		w = alert_hook_find(a, alert_str_at(h, "name", NULL));
		if (!w)
			why = "no webhook of this name is configured";
		else if (!pub || webhook_queue_push(a->wq, w, id, pub, text) != LS_OK)
			why = "delivery queue full";
		if (why) {
			json_object_set_new(h, "state", json_string("failed"));
			json_object_set_new(h, "last_error", json_string(why));
			a->c.webhook_failures_total++;
		}
	}
	json_decref(pub);
	free(text);
	set_delivery_state(f->obj);
	a->dirty = 1;
}

/* Another cluster node logged f's event first: its webhooks are that
 * node's to deliver (mu held). */
static void hooks_elsewhere(struct alert *a, struct fired *f, const char *node)
{
	json_t *h;
	size_t i;

	f->hooks_queued = 1;
	json_array_foreach(json_object_get(f->obj, "webhooks"), i, h) {
		if (strcmp(alert_str_at(h, "state", NULL), "pending"))
			continue;
		json_object_set_new(h, "state", json_string("other_node"));
		if (node)
			json_object_set_new(h, "node", json_string(node));
	}
	set_delivery_state(f->obj);
	a->dirty = 1;
}

/* Record a fired alert (mu held).  obj is stolen. */
static void fire(struct alert *a, struct rule *r, json_t *obj, uint64_t trigger)
{
	json_t *hooks, *h, *ruleo;
	struct fired *f;
	char tbuf[40];
	size_t i;

	if (!obj)
		return;
	f = alert_fired_find(a, alert_str_at(obj, "id", NULL));
	if (f) {
		/* fired before a restart and restored from state.json */
		group_restore(a, f, alert_str_at(obj, "group", NULL));
		json_decref(obj);
		return;
	}
	event_format_time(alert_now_us(a), tbuf, sizeof(tbuf));
	ruleo = json_pack("{ssssssss}", "id", r->id, "name", r->name, "kind",
			  alert_str_at(r->json, "kind", NULL), "severity", r->severity);
	hooks = json_array();
	if (!ruleo || !hooks || json_object_set_new(obj, "rule", ruleo) ||
	    json_object_set_new(obj, "time", json_string(tbuf))) {
		json_decref(hooks);
		json_decref(obj);
		return;
	}
	json_array_foreach(json_object_get(r->json, "webhooks"), i, h)
		json_array_append_new(hooks, json_pack("{sOsssi}", "name", h, "state", "pending",
						       "attempts", 0));
	json_object_set_new(obj, "webhooks", hooks);
	set_delivery_state(obj);
	f = alert_fired_push(a);
	f->obj = obj;
	f->trigger = trigger;
	a->c.alerts_fired_total++;
	a->dirty = 1;
	if (a->o.emit) {
		f->emit = EMIT_PENDING;
		a->emit_wanted = 1;
	} else {
		f->emit = EMIT_DONE;
		queue_hooks(a, f);
	}
}

static json_t *indexes_json(const struct group *g, const struct rule *r)
{
	json_t *arr = json_array();
	unsigned i, skip = g->len > ALERT_TRIGGER_MAX ? g->len - ALERT_TRIGGER_MAX : 0;

	for (i = skip; arr && i < g->len; i++) {
		uint64_t idx = g->ring[(g->head + i) % r->count].idx;
		/* a weighted entry (denial summary) fills several slots: name it once */
		if (i > skip && idx == g->ring[(g->head + i - 1) % r->count].idx)
			continue;
		json_array_append_new(arr, json_integer((json_int_t)idx));
	}
	return arr;
}

/* The time e counts at in r's windows; 0 when it is not counted (late). */
static int threshold_time(struct alert *a, const struct rule *r, const struct ev *e, int live,
			  int64_t *t)
{
	if (r->clock_arrival || !e->has_t_event) {
		*t = e->t;
		return 1;
	}
	*t = e->t_event < e->t ? e->t_event : e->t;	/* never after its arrival */
	if (*t >= e->t - r->late_us)
		return 1;
	if (live)
		a->c.late_total++;
	return 0;
}

static void eval_threshold(struct alert *a, struct rule *r, const struct ev *e, uint64_t idx,
			   int live)
{
	const char *key = "*";
	char id[ALERT_ID_MAX];
	struct group *g;
	struct slot *s;
	int64_t t;

	if (!threshold_time(a, r, e, live, &t))
		return;

	switch (r->group_by) {
	case G_ACTOR: key = e->actor ? e->actor : "-"; break;
	case G_SOURCE_IP: key = e->source_ip ? e->source_ip : "-"; break;
	case G_SERVICE: key = e->service ? e->service : "-"; break;
	case G_NONE: break;
	}
	g = alert_group_get(r, key);
	if (!g)
		return; /* out of memory: this event is not counted */
	if (t < g->muted_until)
		return;
	for (int64_t w = e->weight > (int64_t)r->count ? (int64_t)r->count : e->weight; ; w--) {
		/* The window ends at the newest time of the group; the ring
		 * is kept in time order (an event may come later than a newer
		 * one, within the lateness bound, or by a few microseconds of
		 * "received" between HTTP threads). */
		int64_t newest = g->len ? g->ring[(g->head + g->len - 1) % r->count].t : t;
		unsigned at;

		if (t > newest)
			newest = t;
		while (g->len && g->ring[g->head].t <= newest - r->window_us) {
			g->head = (g->head + 1) % r->count;
			g->len--;
		}
		if (t <= newest - r->window_us)
			return;	/* older than the window: starts none */
		for (at = g->len; at > 0 && g->ring[(g->head + at - 1) % r->count].t > t; at--)
			g->ring[(g->head + at) % r->count] = g->ring[(g->head + at - 1) % r->count];
		s = &g->ring[(g->head + at) % r->count];
		s->t = t;
		s->idx = idx;
		g->len++;
		if (g->len >= r->count)
			break;
		if (w <= 1)
			return;
	}
	if (live) {
		snprintf(id, sizeof(id), "%s@%llu", r->id, (unsigned long long)idx);
		fire(a, r,
		     json_pack("{sssIsIso*so}", "id", id, "count", (json_int_t)g->len,
			       "window_seconds", (json_int_t)(r->window_us / 1000000), "group",
			       r->group_by == G_NONE ? NULL : json_string(key), "indexes",
			       indexes_json(g, r)),
		     idx);
	}
	g->fire_first = g->ring[g->head].idx;
	g->muted_until = g->ring[(g->head + g->len - 1) % r->count].t + r->window_us;
	g->len = 0;
	g->head = 0;
}

/* A logseal.alert.fired entry came back from the log (mu held). */
static void note_fired_event(struct alert *a, uint64_t idx, json_t *root)
{
	json_t *d = json_object_get(root, "details");
	const char *id = alert_str_at(d, "id", NULL);
	const char *rid = alert_str_at(d, "rule", "id");
	json_t *since = json_object_get(d, "since_us");
	struct fired *f = id ? alert_fired_find(a, id) : NULL;
	struct rule *r;

	if (f)
		group_restore(a, f, alert_str_at(d, "group", NULL));
	if (f && f->emit != EMIT_DONE) {
		/* logged before a crash, fired again by the replay: not twice;
		 * or (cluster) logged by another node, which delivers it */
		const char *by = alert_str_at(d, "node", NULL);

		f->emit = f->emit == EMIT_RUNNING ? EMIT_RUNNING : EMIT_DONE;
		json_object_set_new(f->obj, "log_index", json_integer((json_int_t)idx));
		if (f->emit == EMIT_DONE && !f->hooks_queued) {
			if (a->o.node && by && strcmp(by, a->o.node) != 0)
				hooks_elsewhere(a, f, by);
			else
				queue_hooks(a, f);
		}
		a->dirty = 1;
	}
	r = rid ? alert_rule_find(a, rid, NULL) : NULL;
	if (r && r->kind == K_ABSENCE && json_is_integer(since) &&
	    json_integer_value(since) >= r->since_us) {
		r->abs_fired = 1;
		a->dirty = 1;
	}
}

static void dom_trim(struct jdom *d)
{
	size_t bytes = d->node_cap * sizeof(*d->node) + d->kid_cap * sizeof(*d->kid) +
		       d->str_cap + d->stk_cap * sizeof(*d->stk);

	if (bytes > ENTRY_DOM_KEEP)
		jdom_release(d);
}

/*
 * The fields of entry data into *e, parsed into a->dom; where jdom refuses
 * the entry (duplicate keys, deeper than ENTRY_DOM_DEPTH, out of memory)
 * json_loadb decides, as it always did, and *root is set.  0 when the
 * entry is not an object: not an event, nothing can match it.
 */
static int entry_parse(struct alert *a, const char *data, size_t len, struct ev *e,
		       json_t **root)
{
	size_t top;
	int timed;

	*root = NULL;
	jdom_reset(&a->dom);
	if (jdom_parse(&a->dom, data, len, ENTRY_DOM_DEPTH, &top, NULL) == LS_OK) {
		if (a->dom.node[top].type != JN_OBJ)
			return 0;
		timed = alert_ev_from_dom(&a->dom, &a->dom.node[top], e);
	} else {
		*root = json_loadb(data, len, 0, NULL);
		if (!json_is_object(*root)) {
			json_decref(*root);
			*root = NULL;
			return 0;
		}
		timed = alert_ev_from(*root, e);
	}
	if (!timed)
		e->t = alert_now_us(a);
	return 1;
}

/*
 * May entry data concern the engine: is it one of its own fired events
 * (they keep the fired list), or can an enabled rule match it?  Entries
 * are canonical JSON, so an entry whose top-level service is S holds the
 * bytes '"service":' + S as a JSON string (likewise outcome and action),
 * and a fired event holds '"action":"logseal.alert.fired"'; when every
 * enabled rule names one of those fields, entries without any rule's
 * bytes are passed over unparsed (the bytes may also sit deeper in an
 * entry: then it is parsed, and the rules decide).  Most entries concern
 * no rule, and parsing was nearly all the engine's cost.  Passed-over
 * entries leave the clock latest_t where it was; it only bounds the mutes
 * of threshold groups, which the entries their rule matches move on.
 */
static int may_concern(struct alert *a, const char *data, size_t len)
{
	static const char fired[] = "\"action\":\"" ALERT_ACTION_FIRED "\"";
	size_t i;

	if (memmem(data, len, fired, sizeof(fired) - 1))
		return 1;
	for (i = 0; i < a->nrules; i++) {
		const struct rule *r = a->rules[i];

		if (!r->enabled)
			continue;
		if (!r->pat || memmem(data, len, r->pat, r->pat_n))
			return 1;
	}
	return 0;
}

/* Evaluate entry idx (mu held, idx == a->next). */
static void eval_entry(struct alert *a, uint64_t idx, const char *data, size_t len)
{
	int live = idx >= a->live_from;
	char id[ALERT_ID_MAX];
	struct ev e;
	json_t *root;
	size_t i;

	a->next = idx + 1;
	a->dirty = 1;
	if (!may_concern(a, data, len))
		return;
	a->c.parsed++;
	if (!entry_parse(a, data, len, &e, &root))
		goto out;
	if (e.t > a->latest_t)
		a->latest_t = e.t;
	if (e.action && !strncmp(e.action, ALERT_ACTION_PREFIX, strlen(ALERT_ACTION_PREFIX))) {
		/* rare (one per fired alert): the details are read with jansson.
		 * Only the server's own: a forged one (a journal from before the
		 * reservation) must not restore state - a huge since_us kept an
		 * absence rule from ever firing - nor pass for a logged alert. */
		if (e.from_server && !strcmp(e.action, ALERT_ACTION_FIRED)) {
			if (!root)
				root = json_loadb(data, len, 0, NULL);
			if (json_is_object(root))
				note_fired_event(a, idx, root);
		}
		goto out;
	}
	for (i = 0; i < a->nrules; i++) {
		struct rule *r = a->rules[i];

		if (!r->enabled || !alert_filter_match(&r->f, &e))
			continue;
		switch (r->kind) {
		case K_MATCH:
			if (!live)
				break;
			snprintf(id, sizeof(id), "%s@%llu", r->id, (unsigned long long)idx);
			fire(a, r, json_pack("{sssisIs[I]}", "id", id, "count", 1, "window_seconds",
					     (json_int_t)0, "indexes", (json_int_t)idx),
			     idx);
			break;
		case K_THRESHOLD:
			eval_threshold(a, r, &e, idx, live);
			break;
		case K_ABSENCE:
			if (!alert_str_eq(r->abs_service, e.service))
				break;
			if (e.t > r->since_us)
				r->since_us = e.t;
			r->abs_fired = 0;
			break;
		}
	}
out:
	json_decref(root);
	dom_trim(&a->dom);
}

static void tick_absence(struct alert *a, int64_t now)
{
	char id[ALERT_ID_MAX];
	size_t i;

	for (i = 0; i < a->nrules; i++) {
		struct rule *r = a->rules[i];

		if (r->kind != K_ABSENCE || !r->enabled || r->abs_fired ||
		    now - r->since_us < r->abs_us)
			continue;
		r->abs_fired = 1;
		snprintf(id, sizeof(id), "%s@since:%lld", r->id, (long long)r->since_us);
		fire(a, r,
		     json_pack("{sssssIsIsI}", "id", id, "service", r->abs_service, "seconds",
			       (json_int_t)(r->abs_us / 1000000), "since_us", (json_int_t)r->since_us,
			       "silent_seconds", (json_int_t)((now - r->since_us) / 1000000)),
		     UINT64_MAX);
	}
}

/* ============================================================ webhooks */

static void on_delivery(void *ctx, const char *job_id, const char *webhook,
			enum webhook_outcome outcome, unsigned attempts, const char *last_error)
{
	struct alert *a = ctx;
	struct fired *f;
	json_t *h;
	size_t i;

	pthread_mutex_lock(&a->mu);
	if (outcome == WEBHOOK_DELIVERED)
		a->c.webhook_deliveries_total++;
	else if (outcome == WEBHOOK_FAILED) {
		a->c.webhook_failures_total++;
		a->c.webhook_attempt_failures_total++;
	}
	if (outcome != WEBHOOK_STOPPED)
		alert_delivery_note(a, webhook, job_id,
				    outcome == WEBHOOK_DELIVERED ? "delivered" : "failed", 0, -1,
				    last_error);
	f = alert_fired_find(a, job_id);
	if (f) {
		json_array_foreach(json_object_get(f->obj, "webhooks"), i, h) {
			if (strcmp(alert_str_at(h, "name", NULL), webhook))
				continue;
			if (outcome != WEBHOOK_STOPPED)
				json_object_set_new(h, "state",
						    json_string(outcome == WEBHOOK_DELIVERED ?
									"delivered" : "failed"));
			json_object_set_new(h, "attempts", json_integer(attempts));
			if (last_error)
				json_object_set_new(h, "last_error", json_string(last_error));
			break;
		}
		set_delivery_state(f->obj);
		a->dirty = 1;
	}
	pthread_mutex_unlock(&a->mu);
}

static void on_retry(void *ctx, const char *job_id, const char *webhook, unsigned attempts,
		     const char *error)
{
	struct alert *a = ctx;
	struct fired *f;
	json_t *h;
	size_t i;

	pthread_mutex_lock(&a->mu);
	a->c.webhook_attempt_failures_total++;
	alert_delivery_note(a, webhook, job_id, "retrying", 0, -1, error);
	f = alert_fired_find(a, job_id);
	if (f) {
		json_array_foreach(json_object_get(f->obj, "webhooks"), i, h) {
			if (!strcmp(alert_str_at(h, "name", NULL), webhook)) {
				json_object_set_new(h, "attempts", json_integer(attempts));
				json_object_set_new(h, "last_error", json_string(error));
			}
		}
	}
	pthread_mutex_unlock(&a->mu);
}

/* ============================================================ feeding */

static ls_rc eval_one(struct alert *a, uint64_t idx, const void *data, size_t len)
{
	pthread_mutex_lock(&a->mu);
	if (a->fresh) {
		a->fresh = 0;
		a->next = a->live_from = idx;
	}
	if (idx == a->next)
		eval_entry(a, idx, data, len);
	pthread_mutex_unlock(&a->mu);
	return LS_OK;
}

/* Evaluate journal entries [a->next, upto) (mu not held). */
static ls_rc read_journal(struct alert *a, const char *jdir, uint64_t upto, struct ls_err *err)
{
	struct store_iter *it;
	const uint8_t *data;
	uint64_t idx, start;
	size_t len;
	ls_rc rc;

	pthread_mutex_lock(&a->mu);
	start = a->next;
	pthread_mutex_unlock(&a->mu);
	if (start >= upto)
		return LS_OK;
	rc = store_iter_open(jdir, start, 0, &it, err);
	if (rc)
		return rc;
	for (;;) {
		rc = store_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc || idx >= upto)
			break;
		eval_one(a, idx, data, len);
	}
	store_iter_free(it);
	return rc;
}

static void process(struct alert *a, uint64_t first, const struct iovec *entries, size_t n)
{
	uint64_t next;
	size_t i;

	pthread_mutex_lock(&a->mu);
	if (a->fresh) {
		a->fresh = 0;
		a->next = a->live_from = first;
	}
	next = a->next;
	pthread_mutex_unlock(&a->mu);
	if (first > next && read_journal(a, a->journal_dir, first, NULL) != LS_OK) {
		/* The journal cannot give the gap back: skip it rather than stall. */
		pthread_mutex_lock(&a->mu);
		if (a->next < first)
			a->next = first;
		pthread_mutex_unlock(&a->mu);
	}
	for (i = 0; i < n; i++)
		eval_one(a, first + i, entries[i].iov_base, entries[i].iov_len);
}

static void emit_pending(struct alert *a, struct ls_err *err, ls_rc *first_rc)
{
	for (;;) {
		json_t *details = NULL;
		char id[ALERT_ID_MAX];
		struct fired *f = NULL;
		uint64_t index = 0;
		int elsewhere = 0;
		size_t i;
		ls_rc rc;

		pthread_mutex_lock(&a->mu);
		a->emit_wanted = 0;
		for (i = 0; i < a->ring_len; i++) {
			f = &a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP];
			if (f->emit == EMIT_PENDING)
				break;
		}
		if (i == a->ring_len || !a->o.emit) {
			pthread_mutex_unlock(&a->mu);
			return;
		}
		f->emit = EMIT_RUNNING;
		snprintf(id, sizeof(id), "%s", alert_str_at(f->obj, "id", NULL));
		details = alert_public(f->obj);
		pthread_mutex_unlock(&a->mu);

		rc = details ? a->o.emit(a->o.emit_ctx, details, &index, &elsewhere) : LS_NOMEM;
		json_decref(details);

		pthread_mutex_lock(&a->mu);
		f = alert_fired_find(a, id);
		if (f) {
			if (rc == LS_OK) {
				f->emit = EMIT_DONE;
				json_object_set_new(f->obj, "log_index",
						    json_integer((json_int_t)index));
				if (elsewhere && !f->hooks_queued)
					hooks_elsewhere(a, f, NULL);
			} else {
				f->emit = EMIT_PENDING;
			}
			/* deliver even when the log refuses: a broken log is news */
			if (!f->hooks_queued)
				queue_hooks(a, f);
			a->dirty = 1;
		}
		if (rc != LS_OK)
			a->c.emit_failures_total++;
		pthread_mutex_unlock(&a->mu);
		if (rc != LS_OK) {
			if (*first_rc == LS_OK)
				*first_rc = ls_err_set(err, rc, "emitting alert %s failed", id);
			return; /* try the rest next tick */
		}
	}
}

static void batch_free(struct batch *b)
{
	if (b) {
		free(b->lens);
		free(b->data);
		free(b);
	}
}

static void *engine_main(void *p)
{
	struct alert *a = p;
	struct timespec dl;
	struct batch *b;
	int64_t tick_at;

	pthread_setname_np(pthread_self(), "ls-alerts");
	/* Under a burst, accepting events comes first: rules judge events by
	 * their "received" time, so evaluating them a moment later changes no
	 * threshold outcome (only an absence rule shorter than the lag could
	 * misfire).  Linux nice applies per thread. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	tick_at = (int64_t)dl.tv_sec * 1000 + dl.tv_nsec / 1000000;
	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		int64_t now_ms;

		if ((b = a->qhead)) {
			struct iovec iov[64];
			size_t i, off = 0;

			a->qhead = b->next;
			if (!a->qhead)
				a->qtail = NULL;
			a->qbytes -= b->bytes;
			a->busy = 1;
			pthread_mutex_unlock(&a->mu);
			for (i = 0; i < b->n; i += 64) {
				size_t k, m = b->n - i < 64 ? b->n - i : 64;
				for (k = 0; k < m; k++) {
					iov[k].iov_base = b->data + off;
					iov[k].iov_len = b->lens[i + k];
					off += b->lens[i + k];
				}
				process(a, b->first + i, iov, m);
			}
			batch_free(b);
			pthread_mutex_lock(&a->mu);
			a->busy = 0;
			if (a->emit_wanted) {
				pthread_mutex_unlock(&a->mu);
				emit_pending(a, NULL, &(ls_rc){ LS_OK });
				pthread_mutex_lock(&a->mu);
			}
			continue;
		}
		if (a->next < a->known_size) {
			/* batches were dropped: read them back */
			uint64_t upto = a->known_size;
			a->busy = 1;
			pthread_mutex_unlock(&a->mu);
			if (read_journal(a, a->journal_dir, upto, NULL) != LS_OK) {
				pthread_mutex_lock(&a->mu);
				if (a->next < upto)
					a->next = upto;
				pthread_mutex_unlock(&a->mu);
			}
			pthread_mutex_lock(&a->mu);
			a->busy = 0;
			continue;
		}
		pthread_cond_broadcast(&a->drained);
		clock_gettime(CLOCK_MONOTONIC, &dl);
		now_ms = (int64_t)dl.tv_sec * 1000 + dl.tv_nsec / 1000000;
		if (now_ms >= tick_at) {
			pthread_mutex_unlock(&a->mu);
			alert_tick(a, NULL);
			pthread_mutex_lock(&a->mu);
			tick_at = now_ms + a->o.tick_ms;
			continue;
		}
		dl.tv_sec = tick_at / 1000;
		dl.tv_nsec = (tick_at % 1000) * 1000000;
		pthread_cond_timedwait(&a->cv, &a->mu, &dl);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ============================================================ API */

/* The blind key of an encrypted data directory (none for a plaintext one). */
static ls_rc state_key(struct alert *a, const char *datadir, struct ls_err *err)
{
	struct keyring *kr;
	ls_rc rc = keys_get(datadir, &kr, err);

	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc == LS_OK)
		rc = keys_derive(kr, STATE_KEY_LABEL, a->blind_key, err);
	a->blind = rc == LS_OK;
	return rc;
}

ls_rc alert_open(const char *datadir, const struct alert_opts *opts, struct alert **out,
		 struct ls_err *err)
{
	struct webhook_queue_opts qo;
	struct alert *a;
	pthread_condattr_t ca;
	char path[4096];
	ls_rc rc;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if (opts)
		a->o = *opts;
	if (!a->o.now_us)
		a->o.now_us = real_clock;
	if (!a->o.tick_ms)
		a->o.tick_ms = 1000;
	if (!a->o.state_interval_ms)
		a->o.state_interval_ms = 1000;
	if (!a->o.feed_queue_bytes)
		a->o.feed_queue_bytes = 64u << 20;
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->save_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_cond_init(&a->drained, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(path, sizeof(path), "%s/alerts", datadir);
	a->dir = strdup(path);
	snprintf(path, sizeof(path), "%s/journal", datadir);
	a->journal_dir = strdup(path);
	if (!a->dir || !a->journal_dir) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	rc = fs_mkdirs(a->dir, 0700, err);
	if (!rc)
		rc = state_key(a, datadir, err);
	if (!rc)
		rc = webhook_policy_parse(a->o.webhook_allow, &a->policy, err);
	if (!rc) {
		struct keyring *kr;

		rc = keys_get(datadir, &kr, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK; /* not encrypted: webhooks.json is plaintext (mode 0600) */
		} else if (!rc) {
			rc = keys_derive(kr, WEBHOOK_SEAL_LABEL, a->seal_key, err);
			a->sealed = rc == LS_OK;
		}
	}
	if (!rc)
		rc = alert_load_hooks(a, err);
	if (!rc)
		rc = alert_load_rules(a, err);
	if (!rc)
		rc = alert_load_state(a, err);
	if (rc)
		goto fail;
	a->last_save = alert_now_us(a);
	memset(&qo, 0, sizeof(qo));
	qo.max_jobs = a->o.webhook_queue;
	qo.attempts = a->o.webhook_attempts;
	qo.backoff_ms = a->o.webhook_backoff_ms;
	qo.max_backoff_ms = a->o.webhook_max_backoff_ms;
	qo.policy = &a->policy;
	qo.done = on_delivery;
	qo.retry = on_retry;
	qo.ctx = a;
	rc = webhook_queue_start(&qo, &a->wq, err);
	if (rc)
		goto fail;
	/* deliveries cut short by the last stop, or never started */
	{
		size_t i;

		pthread_mutex_lock(&a->mu);
		for (i = 0; i < a->ring_len; i++) {
			struct fired *f = &a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP];
			if (f->emit == EMIT_DONE)
				queue_hooks(a, f);
		}
		pthread_mutex_unlock(&a->mu);
	}
	a->opened = 1;
	*out = a;
	return LS_OK;
fail:
	a->wq = NULL;
	alert_close(a, NULL);
	return rc;
}

uint64_t alert_resume_from(struct alert *a)
{
	uint64_t n;

	pthread_mutex_lock(&a->mu);
	n = a->next;
	pthread_mutex_unlock(&a->mu);
	return n;
}

ls_rc alert_catch_up(struct alert *a, const char *journal_dir, uint64_t upto, struct ls_err *err)
{
	pthread_mutex_lock(&a->mu);
	if (a->fresh && upto != UINT64_MAX) {
		/* A new engine does not page anyone about history. */
		a->fresh = 0;
		a->next = a->live_from = upto;
	} else if (a->fresh) {
		a->fresh = 0;
		a->next = 0;
		a->live_from = UINT64_MAX;
	}
	pthread_mutex_unlock(&a->mu);
	{
		ls_rc rc = read_journal(a, journal_dir ? journal_dir : a->journal_dir, upto, err);

		pthread_mutex_lock(&a->mu);
		if (a->live_from == UINT64_MAX)
			a->live_from = a->next;
		pthread_mutex_unlock(&a->mu);
		return rc;
	}
}

void alert_feed(struct alert *a, uint64_t first, const struct iovec *entries, size_t n)
{
	struct batch *b;
	size_t i, bytes = 0, off = 0;
	int started;

	if (!n)
		return;
	pthread_mutex_lock(&a->mu);
	started = a->started;
	if (first + n > a->known_size)
		a->known_size = first + n;
	pthread_mutex_unlock(&a->mu);
	if (!started) {
		process(a, first, entries, n);
		return;
	}
	for (i = 0; i < n; i++)
		bytes += entries[i].iov_len;
	b = calloc(1, sizeof(*b));
	if (b) {
		b->lens = malloc(n * sizeof(*b->lens));
		b->data = malloc(bytes ? bytes : 1);
	}
	if (!b || !b->lens || !b->data) {
		batch_free(b);
		pthread_mutex_lock(&a->mu);
		a->c.feed_dropped_total++;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		return;
	}
	b->first = first;
	b->n = n;
	b->bytes = bytes;
	for (i = 0; i < n; i++) {
		memcpy(b->data + off, entries[i].iov_base, entries[i].iov_len);
		b->lens[i] = entries[i].iov_len;
		off += entries[i].iov_len;
	}
	pthread_mutex_lock(&a->mu);
	if (a->qbytes + bytes > a->o.feed_queue_bytes) {
		/* invariant 2 of alert.h: the engine reads the gap back */
		a->c.feed_dropped_total++;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		batch_free(b);
		return;
	}
	if (a->qtail)
		a->qtail->next = b;
	else
		a->qhead = b;
	a->qtail = b;
	a->qbytes += bytes;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

ls_rc alert_tick(struct alert *a, struct ls_err *err)
{
	ls_rc rc = LS_OK;
	int64_t now;
	int save;

	pthread_mutex_lock(&a->mu);
	now = alert_now_us(a);
	if (!a->fresh)
		tick_absence(a, now);
	pthread_mutex_unlock(&a->mu);
	emit_pending(a, err, &rc);
	pthread_mutex_lock(&a->mu);
	save = a->dirty && now - a->last_save >= (int64_t)a->o.state_interval_ms * 1000;
	pthread_mutex_unlock(&a->mu);
	if (save) {
		ls_rc r2 = alert_save_state(a, rc ? NULL : err);
		if (!rc)
			rc = r2;
	}
	return rc;
}

ls_rc alert_start(struct alert *a, struct ls_err *err)
{
	pthread_mutex_lock(&a->mu);
	if (a->started) {
		pthread_mutex_unlock(&a->mu);
		return LS_OK;
	}
	if (pthread_create(&a->thread, NULL, engine_main, a)) {
		pthread_mutex_unlock(&a->mu);
		return ls_err_set(err, LS_NOMEM, "cannot start the alert thread");
	}
	a->started = 1;
	pthread_mutex_unlock(&a->mu);
	return LS_OK;
}

ls_rc alert_rules_list(struct alert *a, json_t **out)
{
	json_t *o = json_pack("{s[]}", "rules"), *arr;
	size_t i;

	*out = NULL;
	if (!o)
		return LS_NOMEM;
	arr = json_object_get(o, "rules");
	pthread_mutex_lock(&a->mu);
	for (i = 0; i < a->nrules; i++)
		json_array_append_new(arr, json_deep_copy(a->rules[i]->json));
	pthread_mutex_unlock(&a->mu);
	*out = o;
	return LS_OK;
}

ls_rc alert_rule_add(struct alert *a, const json_t *rule, char **id_out, struct ls_err *err)
{
	json_t *chk, *h;
	char id[RULE_ID_MAX + 1];
	uint8_t rnd[8];
	size_t i;
	ls_rc rc = alert_rule_check(rule, &chk, err);

	if (id_out)
		*id_out = NULL;
	if (rc)
		return rc;
	if (!json_object_get(chk, "id")) {
		if (ls_random(rnd, sizeof(rnd)) != LS_OK) {
			json_decref(chk);
			return ls_err_set(err, LS_IO, "no randomness for a rule id");
		}
		memcpy(id, "r_", 2);
		ls_hex(rnd, sizeof(rnd), id + 2);
		json_object_set_new(chk, "id", json_string(id));
	}
	snprintf(id, sizeof(id), "%s", alert_str_at(chk, "id", NULL));
	pthread_mutex_lock(&a->mu);
	json_array_foreach(json_object_get(chk, "webhooks"), i, h) {
		if (!alert_hook_find(a, json_string_value(h))) {
			rc = ls_err_set(err, LS_INVALID, "webhooks[%zu]: no webhook named \"%s\"", i,
					json_string_value(h));
			goto out;
		}
	}
	if (alert_rule_find(a, id, NULL)) {
		rc = ls_err_set(err, LS_EXISTS, "id: a rule %s already exists", id);
		goto out;
	}
	rc = alert_add_compiled(a, chk, err);
	if (rc)
		goto out;
	rc = alert_save_rules(a, err);
	if (rc) {
		alert_rule_free(a->rules[--a->nrules]);
		goto out;
	}
	a->dirty = 1;
	if (id_out) {
		*id_out = strdup(id);
		if (!*id_out)
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
	}
out:
	pthread_mutex_unlock(&a->mu);
	json_decref(chk);
	return rc;
}

ls_rc alert_rule_delete(struct alert *a, const char *id, struct ls_err *err)
{
	struct rule *r;
	size_t pos;
	ls_rc rc;

	pthread_mutex_lock(&a->mu);
	r = alert_rule_find(a, id, &pos);
	if (!r) {
		pthread_mutex_unlock(&a->mu);
		return ls_err_set(err, LS_NOTFOUND, "no rule %.80s", id);
	}
	memmove(&a->rules[pos], &a->rules[pos + 1], (a->nrules - pos - 1) * sizeof(a->rules[0]));
	a->nrules--;
	rc = alert_save_rules(a, err);
	if (rc) {
		memmove(&a->rules[pos + 1], &a->rules[pos],
			(a->nrules - pos) * sizeof(a->rules[0]));
		a->rules[pos] = r;
		a->nrules++;
	} else {
		alert_rule_free(r);
		a->dirty = 1;
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

ls_rc alert_fired_list(struct alert *a, size_t limit, json_t **out)
{
	json_t *o = json_pack("{s[]}", "alerts"), *arr;
	size_t i;

	*out = NULL;
	if (!o)
		return LS_NOMEM;
	if (!limit)
		limit = 100;
	arr = json_object_get(o, "alerts");
	pthread_mutex_lock(&a->mu);
	for (i = a->ring_len; i-- > 0 && json_array_size(arr) < limit;)
		json_array_append_new(
			arr, json_deep_copy(a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP].obj));
	pthread_mutex_unlock(&a->mu);
	*out = o;
	return LS_OK;
}

ls_rc alert_webhook_set(struct alert *a, const json_t *webhook, struct ls_err *err)
{
	struct webhook_cfg w;
	ls_rc rc = webhook_cfg_parse(webhook, &w, err);

	/* refused here with a clear error, and again at every delivery, where
	 * the name may resolve elsewhere (webhook.h invariant 6) */
	if (!rc)
		rc = webhook_target_check(w.url, &a->policy, err);
	if (rc) {
		webhook_cfg_release(&w);
		return rc;
	}
	pthread_mutex_lock(&a->mu);
	rc = alert_hook_add(a, &w, 1, err);
	if (!rc)
		rc = alert_save_hooks(a, err);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

ls_rc alert_webhooks_list(struct alert *a, json_t **out)
{
	json_t *o = json_pack("{s[]}", "webhooks"), *arr;
	size_t i;

	*out = NULL;
	if (!o)
		return LS_NOMEM;
	arr = json_object_get(o, "webhooks");
	pthread_mutex_lock(&a->mu);
	for (i = 0; i < a->nhooks; i++)
		json_array_append_new(arr, webhook_cfg_json(&a->hooks[i], 0));
	pthread_mutex_unlock(&a->mu);
	*out = o;
	return LS_OK;
}

void alert_get_counters(struct alert *a, struct alert_counters *c)
{
	pthread_mutex_lock(&a->mu);
	*c = a->c;
	c->evaluated = a->next;
	pthread_mutex_unlock(&a->mu);
}

ls_rc alert_drain(struct alert *a, unsigned timeout_ms)
{
	struct timespec dl;
	ls_rc rc = LS_OK;

	ls_deadline(&dl, CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&a->mu);
	while (a->started && !a->stop && (a->qhead || a->busy || a->next < a->known_size)) {
		if (pthread_cond_timedwait(&a->drained, &a->mu, &dl) == ETIMEDOUT) {
			rc = LS_BUSY;
			break;
		}
	}
	pthread_mutex_unlock(&a->mu);
	if (rc == LS_OK && a->wq)
		rc = webhook_queue_idle(a->wq, timeout_ms);
	return rc;
}

ls_rc alert_close(struct alert *a, struct ls_err *err)
{
	struct batch *b;
	ls_rc rc = LS_OK;
	size_t i;

	if (!a)
		return LS_OK;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->started)
		pthread_join(a->thread, NULL);
	/* entries still queued are evaluated now: they are durable in the log */
	while ((b = a->qhead)) {
		size_t k, off = 0;
		a->qhead = b->next;
		for (k = 0; k < b->n; k++) {
			eval_one(a, b->first + k, b->data + off, b->lens[k]);
			off += b->lens[k];
		}
		batch_free(b);
	}
	webhook_queue_stop(a->wq);
	a->wq = NULL;
	if (a->opened)
		rc = alert_save_state(a, err);
	for (i = 0; i < a->nrules; i++)
		alert_rule_free(a->rules[i]);
	for (i = 0; i < a->nhooks; i++)
		webhook_cfg_release(&a->hooks[i]);
	for (i = 0; i < a->ring_len; i++)
		json_decref(a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP].obj);
	json_decref(a->deliveries);
	pthread_cond_destroy(&a->cv);
	pthread_cond_destroy(&a->drained);
	pthread_mutex_destroy(&a->save_mu);
	pthread_mutex_destroy(&a->mu);
	jdom_release(&a->dom);
	ls_wipe(a->blind_key, sizeof(a->blind_key));
	ls_wipe(a->seal_key, sizeof(a->seal_key));
	free(a->dir);
	free(a->journal_dir);
	free(a);
	return rc;
}
