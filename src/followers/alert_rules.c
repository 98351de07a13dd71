/*
 * alert_rules.c - alert rules: validation (pure: alert_rule_check, fuzzed
 * by fuzz/fuzz_alert_rule.c), compiled rules and how they match an entry,
 * and the per-group sliding windows of threshold rules.  No I/O, no
 * locking: the engine (alert_engine.c) calls in with its mutex held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcanon.h"
#include "core/event.h"
#include "followers/alert.h"
#include "followers/alert_int.h"

#define FILTER_VALUE_MAX 256
#define NAME_MAX_LEN 200
#define COUNT_MAX 10000
#define WINDOW_MAX_S 604800
#define LATENESS_MAX_S 86400
#define LATENESS_DEFAULT_S 300
#define ABSENCE_MAX_S 2592000
#define RULE_WEBHOOKS_MAX 16
#define WINDOW_SLOTS 262144	/* ring slots per rule, across its groups */
#define GROUP_KEY_MAX 256

/* ============================================================ validation */

static const char *const severities[] = { "low", "medium", "high", "critical" };
static const char *const filter_keys[] = { "action", "outcome", "service", "actor", "source_ip",
					   "resource_type" };

static int in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

#define IN_LIST(s, l) in_list((s), (l), sizeof(l) / sizeof((l)[0]))

static int printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int id_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 3 || n > RULE_ID_MAX || strncmp(s, "r_", 2))
		return 0;
	for (i = 2; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}


/* "addr" or "addr/bits" -> network with host bits cleared; canonical text. */
static int cidr_parse(const char *s, struct cidr *c, char *canon, size_t cap)
{
	char buf[80], txt[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned long bits;
	size_t alen = slash ? (size_t)(slash - s) : strlen(s), i, max;
	char *end;

	if (alen == 0 || alen >= sizeof(buf))
		return 0;
	memcpy(buf, s, alen);
	buf[alen] = 0;
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return 0;
	}
	bits = max;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return 0;
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || *end || bits > max)
			return 0;
	}
	c->bits = (unsigned)bits;
	for (i = 0; i < max / 8; i++) {
		unsigned keep = c->bits > i * 8 ? c->bits - (unsigned)i * 8 : 0;
		if (keep < 8)
			c->addr[i] &= (uint8_t)(0xff00u >> keep);
	}
	if (!inet_ntop(c->family, c->addr, txt, sizeof(txt)))
		return 0;
	if (slash)
		snprintf(canon, cap, "%s/%u", txt, c->bits);
	else
		snprintf(canon, cap, "%s", txt);
	return 1;
}

static int cidr_contains(const struct cidr *c, const char *ip)
{
	uint8_t a[16];
	unsigned i, full = c->bits / 8, rest = c->bits % 8;

	if (inet_pton(c->family, ip, a) != 1)
		return 0;
	for (i = 0; i < full; i++)
		if (a[i] != c->addr[i])
			return 0;
	if (rest && (a[full] & (uint8_t)(0xff00u >> rest)) != c->addr[full])
		return 0;
	return 1;
}

static ls_rc check_filter(const json_t *f, json_t *out, int need_one, struct ls_err *err)
{
	const char *key, *s;
	char canon[INET6_ADDRSTRLEN + 8];
	struct cidr c;
	size_t n;
	json_t *v;

	if (!f) {
		if (need_one)
			return ls_err_set(err, LS_INVALID,
					  "filter: required for a match rule (at least one field)");
		return LS_OK;
	}
	if (!json_is_object(f))
		return ls_err_set(err, LS_INVALID, "filter: expected an object");
	if (need_one && json_object_size(f) == 0)
		return ls_err_set(err, LS_INVALID,
				  "filter: a match rule needs at least one field (it would fire "
				  "on every event)");
	json_object_foreach((json_t *)f, key, v) {
		if (!IN_LIST(key, filter_keys))
			return ls_err_set(err, LS_INVALID,
					  "filter.%.64s: unknown field (expected action, outcome, "
					  "service, actor, source_ip or resource_type)",
					  key);
		if (!json_is_string(v) || (n = json_string_length(v)) == 0 ||
		    n > FILTER_VALUE_MAX || !printable(json_string_value(v), n))
			return ls_err_set(err, LS_INVALID,
					  "filter.%s: a string of 1..%d printable characters", key,
					  FILTER_VALUE_MAX);
		s = json_string_value(v);
		if (!strcmp(key, "outcome") && !in_list(s, event_outcomes, EVENT_N_OUTCOMES))
			return ls_err_set(err, LS_INVALID,
					  "filter.outcome: one of success, failure, denied, error, "
					  "unknown");
		if (!strcmp(key, "action") && strchr(s, '*') && strchr(s, '*') != s + n - 1)
			return ls_err_set(err, LS_INVALID,
					  "filter.action: '*' is allowed only at the end (a prefix)");
		if (!strcmp(key, "source_ip")) {
			if (!cidr_parse(s, &c, canon, sizeof(canon)))
				return ls_err_set(err, LS_INVALID,
						  "filter.source_ip: an IPv4/IPv6 address or CIDR "
						  "block");
			if (json_object_set_new(out, key, json_string(canon)))
				return ls_err_set(err, LS_NOMEM, "out of memory");
			continue;
		}
		if (json_object_set_new(out, key, json_stringn(s, n)))
			return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	return LS_OK;
}

static int get_int(const json_t *o, const char *k, json_int_t lo, json_int_t hi, json_int_t *v)
{
	json_t *x = json_object_get(o, k);

	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return 0;
	*v = json_integer_value(x);
	return 1;
}

static ls_rc check_threshold(const json_t *t, json_t *out, struct ls_err *err)
{
	const char *key, *g, *clock = "event";
	json_int_t count, win, late = LATENESS_DEFAULT_S;
	json_t *v, *o;

	if (!json_is_object(t))
		return ls_err_set(err, LS_INVALID,
				  "threshold: required for a threshold rule, an object "
				  "{count, window_seconds, group_by}");
	json_object_foreach((json_t *)t, key, v) {
		if (strcmp(key, "count") && strcmp(key, "window_seconds") && strcmp(key, "group_by") &&
		    strcmp(key, "clock") && strcmp(key, "lateness_seconds"))
			return ls_err_set(err, LS_INVALID, "threshold.%.64s: unknown field", key);
	}
	v = json_object_get(t, "clock");
	if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "event") &&
					 strcmp(json_string_value(v), "arrival"))))
		return ls_err_set(err, LS_INVALID, "threshold.clock: \"event\" or \"arrival\"");
	if (v)
		clock = json_string_value(v);
	if (json_object_get(t, "lateness_seconds") &&
	    (strcmp(clock, "event") || !get_int(t, "lateness_seconds", 0, LATENESS_MAX_S, &late)))
		return ls_err_set(err, LS_INVALID,
				  "threshold.lateness_seconds: an integer 0..%d, with clock \"event\"",
				  LATENESS_MAX_S);
	if (!get_int(t, "count", 1, COUNT_MAX, &count))
		return ls_err_set(err, LS_INVALID, "threshold.count: an integer 1..%d", COUNT_MAX);
	if (!get_int(t, "window_seconds", 1, WINDOW_MAX_S, &win))
		return ls_err_set(err, LS_INVALID, "threshold.window_seconds: an integer 1..%d",
				  WINDOW_MAX_S);
	v = json_object_get(t, "group_by");
	g = v ? json_string_value(v) : NULL;
	if (v && (!g || (strcmp(g, "actor") && strcmp(g, "source_ip") && strcmp(g, "service"))))
		return ls_err_set(err, LS_INVALID,
				  "threshold.group_by: \"actor\", \"source_ip\" or \"service\"");
	o = json_pack("{sIsIss}", "count", (json_int_t)count, "window_seconds", (json_int_t)win,
		      "clock", clock);
	if (o && !strcmp(clock, "event") &&
	    json_object_set_new(o, "lateness_seconds", json_integer(late))) {
		json_decref(o);
		o = NULL;
	}
	if (!o || (g && json_object_set_new(o, "group_by", json_string(g))) ||
	    json_object_set_new(out, "threshold", o))
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
}

static ls_rc check_absence(const json_t *t, json_t *out, struct ls_err *err)
{
	const char *key;
	json_int_t secs;
	json_t *v, *o;
	size_t n;

	if (!json_is_object(t))
		return ls_err_set(err, LS_INVALID,
				  "absence: required for an absence rule, an object {service, "
				  "seconds}");
	json_object_foreach((json_t *)t, key, v) {
		if (strcmp(key, "service") && strcmp(key, "seconds"))
			return ls_err_set(err, LS_INVALID, "absence.%.64s: unknown field", key);
	}
	v = json_object_get(t, "service");
	if (!json_is_string(v) || (n = json_string_length(v)) == 0 || n > FILTER_VALUE_MAX ||
	    !printable(json_string_value(v), n))
		return ls_err_set(err, LS_INVALID, "absence.service: a string of 1..%d characters",
				  FILTER_VALUE_MAX);
	if (!get_int(t, "seconds", 1, ABSENCE_MAX_S, &secs))
		return ls_err_set(err, LS_INVALID, "absence.seconds: an integer 1..%d",
				  ABSENCE_MAX_S);
	o = json_pack("{sOsI}", "service", v, "seconds", (json_int_t)secs);
	if (!o || json_object_set_new(out, "absence", o))
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
}

ls_rc alert_rule_check(const json_t *in, json_t **out, struct ls_err *err)
{
	static const char *const keys[] = { "id",	"name",	    "kind",	"filter",  "threshold",
					    "absence", "severity", "webhooks", "enabled" };
	const char *key, *kind, *s;
	json_t *o, *v, *f, *hooks;
	size_t i, n;
	ls_rc rc;

	*out = NULL;
	if (!json_is_object(in))
		return ls_err_set(err, LS_INVALID, "rule: expected a JSON object");
	json_object_foreach((json_t *)in, key, v) {
		if (!IN_LIST(key, keys))
			return ls_err_set(err, LS_INVALID, "%.64s: unknown field", key);
	}
	o = json_object();
	f = json_object();
	hooks = json_array();
	if (!o || !f || !hooks) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	v = json_object_get(in, "id");
	if (v) {
		if (!json_is_string(v) || !id_ok(json_string_value(v))) {
			rc = ls_err_set(err, LS_INVALID,
					"id: \"r_\" followed by 1..64 of A-Z a-z 0-9 _ -");
			goto fail;
		}
		json_object_set(o, "id", v);
	}
	v = json_object_get(in, "name");
	if (!json_is_string(v) || (n = json_string_length(v)) == 0 || n > NAME_MAX_LEN ||
	    !printable(json_string_value(v), n)) {
		rc = ls_err_set(err, LS_INVALID, "name: required, 1..%d printable characters",
				NAME_MAX_LEN);
		goto fail;
	}
	json_object_set(o, "name", v);
	v = json_object_get(in, "kind");
	kind = json_string_value(v);
	if (!kind || (strcmp(kind, "match") && strcmp(kind, "threshold") && strcmp(kind, "absence"))) {
		rc = ls_err_set(err, LS_INVALID,
				"kind: required, \"match\", \"threshold\" or \"absence\"");
		goto fail;
	}
	json_object_set(o, "kind", v);
	rc = check_filter(json_object_get(in, "filter"), f, !strcmp(kind, "match"), err);
	if (rc)
		goto fail;
	json_object_set(o, "filter", f);
	if (strcmp(kind, "threshold") && json_object_get(in, "threshold")) {
		rc = ls_err_set(err, LS_INVALID, "threshold: only for kind \"threshold\"");
		goto fail;
	}
	if (strcmp(kind, "absence") && json_object_get(in, "absence")) {
		rc = ls_err_set(err, LS_INVALID, "absence: only for kind \"absence\"");
		goto fail;
	}
	if (!strcmp(kind, "threshold"))
		rc = check_threshold(json_object_get(in, "threshold"), o, err);
	else if (!strcmp(kind, "absence"))
		rc = check_absence(json_object_get(in, "absence"), o, err);
	if (rc)
		goto fail;
	v = json_object_get(in, "severity");
	s = v ? json_string_value(v) : "medium";
	if (!s || !IN_LIST(s, severities)) {
		rc = ls_err_set(err, LS_INVALID, "severity: low, medium, high or critical");
		goto fail;
	}
	json_object_set_new(o, "severity", json_string(s));
	v = json_object_get(in, "webhooks");
	if (v) {
		if (!json_is_array(v) || json_array_size(v) > RULE_WEBHOOKS_MAX) {
			rc = ls_err_set(err, LS_INVALID,
					"webhooks: an array of at most %d webhook names",
					RULE_WEBHOOKS_MAX);
			goto fail;
		}
		for (i = 0; i < json_array_size(v); i++) {
			json_t *h = json_array_get(v, i);
			if (!json_is_string(h) || json_string_length(h) == 0 ||
			    json_string_length(h) > WEBHOOK_NAME_MAX) {
				rc = ls_err_set(err, LS_INVALID,
						"webhooks[%zu]: a webhook name (1..%d bytes)", i,
						WEBHOOK_NAME_MAX);
				goto fail;
			}
			json_array_append(hooks, h);
		}
	}
	json_object_set(o, "webhooks", hooks);
	v = json_object_get(in, "enabled");
	if (v && !json_is_boolean(v)) {
		rc = ls_err_set(err, LS_INVALID, "enabled: true or false");
		goto fail;
	}
	json_object_set_new(o, "enabled", json_boolean(!v || json_is_true(v)));
	json_decref(f);
	json_decref(hooks);
	*out = o;
	return LS_OK;
fail:
	json_decref(o);
	json_decref(f);
	json_decref(hooks);
	return rc;
}

ls_rc alert_rule_check_text(const char *text, size_t n, json_t **out, struct ls_err *err)
{
	json_error_t je;
	json_t *in;
	ls_rc rc;

	*out = NULL;
	if (n > ALERT_RULE_TEXT_MAX)
		return ls_err_set(err, LS_LIMIT, "rule: larger than %d bytes", ALERT_RULE_TEXT_MAX);
	in = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	if (!in)
		return ls_err_set(err, LS_INVALID, "rule: not JSON: %s (offset %d)", je.text,
				  je.position);
	rc = alert_rule_check(in, out, err);
	json_decref(in);
	return rc;
}

/* ============================================================ compiled rules */


/* The server counts refusals past a burst into one summary event
 * (denials.h): to a threshold rule it stands for the refusals it counted,
 * so a rule counting denials sees a flood whole.  Only the server's own
 * entries (no "writer") weigh more than one. */
#define DENIAL_SUMMARY "logseal.auth.denied.summary"
static int64_t denial_weight(const char *action, int has_writer, int has_count, int64_t count)
{
	if (!action || strcmp(action, DENIAL_SUMMARY) != 0 || has_writer || !has_count || count < 1)
		return 1;
	return count;
}

const char *alert_str_at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

/* The event's time: "received", else "time".  0 when neither parses (the
 * caller then uses its clock). */
static int ev_time(const char *received, const char *at, int64_t *t)
{
	return (received && event_parse_time(received, t) == LS_OK) ||
	       (at && event_parse_time(at, t) == LS_OK);
}

/* The fields of root into *e; 0 when it has no time (e->t then unset). */
int alert_ev_from(json_t *root, struct ev *e)
{
	e->action = alert_str_at(root, "action", NULL);
	e->outcome = alert_str_at(root, "outcome", NULL);
	e->service = alert_str_at(root, "service", NULL);
	e->actor = alert_str_at(root, "actor", "id");
	e->source_ip = alert_str_at(root, "source", "ip");
	e->resource_type = alert_str_at(root, "resource", "type");
	e->from_server = json_object_get(root, "writer") == NULL;
	{
		json_t *cnt = json_object_get(json_object_get(root, "details"), "count");
		e->weight = denial_weight(e->action, json_object_get(root, "writer") != NULL,
					  json_is_integer(cnt), json_integer_value(cnt));
	}
	e->has_t_event = ev_time(NULL, alert_str_at(root, "time", NULL), &e->t_event);
	return ev_time(alert_str_at(root, "received", NULL), alert_str_at(root, "time", NULL), &e->t);
}

/* alert_str_at() on a jdom: only a string member (of an object member) counts,
 * as json_string_value() of a missing or non-string value is NULL. */
static const char *dom_str_at(const struct jdom *d, const struct jnode *o, const char *a,
			      const char *b)
{
	return b ? jdom_get_str(d, jdom_get(d, o, a), b) : jdom_get_str(d, o, a);
}

/* alert_ev_from() on a jdom: the same fields, so the two routes agree on every
 * entry jdom accepts (a subset of what json_loadb accepts, same values). */
int alert_ev_from_dom(const struct jdom *d, const struct jnode *root, struct ev *e)
{
	e->action = dom_str_at(d, root, "action", NULL);
	e->outcome = dom_str_at(d, root, "outcome", NULL);
	e->service = dom_str_at(d, root, "service", NULL);
	e->actor = dom_str_at(d, root, "actor", "id");
	e->source_ip = dom_str_at(d, root, "source", "ip");
	e->resource_type = dom_str_at(d, root, "resource", "type");
	e->from_server = jdom_get(d, root, "writer") == NULL;
	{
		const struct jnode *det = jdom_get(d, root, "details");
		const struct jnode *cnt = det ? jdom_get(d, det, "count") : NULL;
		e->weight = denial_weight(e->action, jdom_get(d, root, "writer") != NULL,
					  cnt && cnt->type == JN_INT, cnt ? cnt->ival : 0);
	}
	e->has_t_event = ev_time(NULL, dom_str_at(d, root, "time", NULL), &e->t_event);
	return ev_time(dom_str_at(d, root, "received", NULL), dom_str_at(d, root, "time", NULL),
		       &e->t);
}

static void filter_compile(const json_t *f, struct filter *out)
{
	char canon[INET6_ADDRSTRLEN + 8];
	const char *ip;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->action = alert_str_at((json_t *)f, "action", NULL);
	out->outcome = alert_str_at((json_t *)f, "outcome", NULL);
	out->service = alert_str_at((json_t *)f, "service", NULL);
	out->actor = alert_str_at((json_t *)f, "actor", NULL);
	out->resource_type = alert_str_at((json_t *)f, "resource_type", NULL);
	if (out->action && (n = strlen(out->action)) && out->action[n - 1] == '*') {
		out->action_prefix = n - 1;
		if (n == 1)
			out->action = NULL; /* "*": any action */
	}
	ip = alert_str_at((json_t *)f, "source_ip", NULL);
	if (ip && cidr_parse(ip, &out->net, canon, sizeof(canon)))
		out->has_ip = 1;
	/* A rule about the server's own events (the default token and denial
	 * rules) must not be fired by entries that only claim to be. */
	out->server_only =
		(out->service && event_service_reserved(out->service, strlen(out->service))) ||
		(out->action && event_action_reserved(out->action, out->action_prefix ?
									   out->action_prefix :
									   strlen(out->action)));
}

int alert_str_eq(const char *want, const char *have)
{
	return !want || (have && !strcmp(want, have));
}

int alert_filter_match(const struct filter *f, const struct ev *e)
{
	if (f->server_only && !e->from_server)
		return 0;
	if (f->action) {
		if (!e->action)
			return 0;
		if (f->action_prefix ? strncmp(f->action, e->action, f->action_prefix) :
				       strcmp(f->action, e->action))
			return 0;
	}
	if (!alert_str_eq(f->outcome, e->outcome) || !alert_str_eq(f->service, e->service) ||
	    !alert_str_eq(f->actor, e->actor) || !alert_str_eq(f->resource_type, e->resource_type))
		return 0;
	if (f->has_ip && (!e->source_ip || !cidr_contains(&f->net, e->source_ip)))
		return 0;
	return 1;
}

/* The group keys of rule->groups: an event's actor id, address or service,
 * which its writer chooses, hence the table's keyed hash (htab.h). */
static int group_eq(const struct htab_node *n, const void *key, size_t len)
{
	const struct group *g = htab_entry(n, const struct group, hn);

	return strlen(g->key) == len && !memcmp(g->key, key, len);
}

static void groups_free(struct rule *r)
{
	struct group *g, *n;

	for (g = r->lru_head; g; g = n) {
		n = g->next;
		free(g->key);
		free(g->ring);
		free(g);
	}
	htab_release(&r->groups);
	r->lru_head = r->lru_tail = NULL;
	r->ngroups = 0;
}

void alert_rule_free(struct rule *r)
{
	if (!r)
		return;
	groups_free(r);
	json_decref(r->json);
	free(r->pat);
	free(r);
}

/* r->pat, from the most selective field the rule names (NULL when none,
 * or out of memory: then every entry is parsed for it). */
static void rule_pattern(struct rule *r)
{
	struct jcanon_buf b = { .max = SIZE_MAX };
	const char *field, *v = NULL;
	size_t n = 0;
	int prefix = 0;

	if (r->f.service || r->abs_service) {
		field = "\"service\":";
		v = r->f.service ? r->f.service : r->abs_service;
		n = strlen(v);
	} else if (r->f.outcome) {
		field = "\"outcome\":";
		v = r->f.outcome;
		n = strlen(v);
	} else if (r->f.action) {
		field = "\"action\":";
		v = r->f.action;
		prefix = r->f.action_prefix > 0;
		n = prefix ? r->f.action_prefix : strlen(v);
	} else {
		return;
	}
	jcanon_buf_put(&b, field, strlen(field));
	jcanon_buf_str(&b, v, n);
	if (b.nomem || b.len < 2) {
		free(b.p);
		return;
	}
	r->pat = b.p;
	r->pat_n = b.len - (prefix ? 1 : 0); /* a prefix goes on: no closing quote */
}

/* Build a rule from its checked JSON (a reference is taken). */
struct rule *alert_rule_compile(json_t *j)
{
	struct rule *r = calloc(1, sizeof(*r));
	const char *k, *g;
	json_t *t;

	if (!r)
		return NULL;
	r->json = json_incref(j);
	r->id = alert_str_at(j, "id", NULL);
	r->name = alert_str_at(j, "name", NULL);
	r->severity = alert_str_at(j, "severity", NULL);
	r->enabled = json_is_true(json_object_get(j, "enabled"));
	k = alert_str_at(j, "kind", NULL);
	r->kind = !strcmp(k, "match") ? K_MATCH : !strcmp(k, "threshold") ? K_THRESHOLD : K_ABSENCE;
	filter_compile(json_object_get(j, "filter"), &r->f);
	if (r->kind == K_THRESHOLD) {
		t = json_object_get(j, "threshold");
		r->count = (unsigned)json_integer_value(json_object_get(t, "count"));
		r->window_us = json_integer_value(json_object_get(t, "window_seconds")) * 1000000;
		/* (a rule saved before the clock existed has none: event) */
		r->clock_arrival = alert_str_eq("arrival", alert_str_at(t, "clock", NULL));
		r->late_us = json_object_get(t, "lateness_seconds") ?
				     json_integer_value(json_object_get(t, "lateness_seconds")) * 1000000 :
				     (int64_t)LATENESS_DEFAULT_S * 1000000;
		g = alert_str_at(t, "group_by", NULL);
		r->group_by = !g ? G_NONE : !strcmp(g, "actor") ? G_ACTOR :
				  !strcmp(g, "source_ip") ? G_SOURCE_IP : G_SERVICE;
		r->max_groups = WINDOW_SLOTS / r->count;
		if (r->max_groups < 16)
			r->max_groups = 16;
		if (htab_init(&r->groups, 0, group_eq) != LS_OK) {
			alert_rule_free(r);
			return NULL;
		}
	} else if (r->kind == K_ABSENCE) {
		t = json_object_get(j, "absence");
		r->abs_service = alert_str_at(t, "service", NULL);
		r->abs_us = json_integer_value(json_object_get(t, "seconds")) * 1000000;
		if (r->abs_service && event_service_reserved(r->abs_service, strlen(r->abs_service)))
			r->f.server_only = 1;
	}
	rule_pattern(r);
	return r;
}

ls_rc alert_rule_matches(const json_t *rule, const char *entry, size_t n, int *match)
{
	struct filter f;
	struct ev e;
	json_t *root;
	const char *svc = NULL;

	*match = 0;
	if (!json_is_object(rule))
		return LS_INVALID;
	root = json_loadb(entry, n, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return LS_INVALID;
	}
	filter_compile(json_object_get(rule, "filter"), &f);
	if (!alert_ev_from(root, &e))
		e.t = 0;
	if (json_object_get(rule, "absence"))
		svc = alert_str_at((json_t *)rule, "absence", "service");
	if (svc && event_service_reserved(svc, strlen(svc)))
		f.server_only = 1;
	*match = !(e.action && !strncmp(e.action, ALERT_ACTION_PREFIX,
					 strlen(ALERT_ACTION_PREFIX))) &&
		 alert_filter_match(&f, &e) && alert_str_eq(svc, e.service);
	json_decref(root);
	return LS_OK;
}

/* ============================================================ windows */


static void lru_unlink(struct rule *r, struct group *g)
{
	if (g->prev)
		g->prev->next = g->next;
	else
		r->lru_head = g->next;
	if (g->next)
		g->next->prev = g->prev;
	else
		r->lru_tail = g->prev;
	g->prev = g->next = NULL;
}

static void lru_front(struct rule *r, struct group *g)
{
	g->next = r->lru_head;
	g->prev = NULL;
	if (r->lru_head)
		r->lru_head->prev = g;
	r->lru_head = g;
	if (!r->lru_tail)
		r->lru_tail = g;
}

static void group_evict(struct rule *r, struct group *g)
{
	htab_del(&r->groups, &g->hn);
	lru_unlink(r, g);
	free(g->key);
	free(g->ring);
	free(g);
	r->ngroups--;
}

struct group *alert_group_get(struct rule *r, const char *key)
{
	size_t klen = strnlen(key, GROUP_KEY_MAX); /* as kept in g->key */
	uint32_t h = htab_hash(&r->groups, key, klen);
	struct htab_node *hn = htab_find(&r->groups, h, key, klen);
	struct group *g;

	if (hn) {
		g = htab_entry(hn, struct group, hn);
		lru_unlink(r, g);
		lru_front(r, g);
		return g;
	}
	if (r->ngroups >= r->max_groups && r->lru_tail)
		group_evict(r, r->lru_tail);
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->key = strndup(key, GROUP_KEY_MAX);
	g->ring = calloc(r->count, sizeof(*g->ring));
	if (!g->key || !g->ring) {
		free(g->key);
		free(g->ring);
		free(g);
		return NULL;
	}
	htab_add(&r->groups, &g->hn, h);
	lru_front(r, g);
	r->ngroups++;
	return g;
}
