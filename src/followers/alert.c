/*
 * alert.c - the alert engine (see alert.h for rules, semantics, files and
 * the calling sequence).
 *
 * Layout of this file: rule validation (pure), rule compilation and
 * matching, per-group sliding windows, firing and the fired list, state and
 * rules persistence, webhook bookkeeping, feeding and the engine thread,
 * and the public API.
 *
 * Locking: one mutex (mu) guards rules, windows, the fired list, counters,
 * the feed queue and the dom entries are parsed into.  It is never held while calling emit, reading the
 * journal, or writing state.json (save_mu orders state writes), so the
 * log's sequencer, which calls alert_feed(), never waits on I/O of ours.
 *
 * Entries are parsed once each, into a reused arena DOM (jcanon.h jdom), and
 * never with jansson unless jdom refuses them or they are the engine's own
 * logseal.alert.fired events: with thousands of events a second and few
 * rules, parsing is nearly all the engine's work.
 *
 * Invariants (besides alert.h's):
 *  1. a->next is the next leaf index to evaluate; entries are evaluated
 *     under mu, one at a time, only when their index equals a->next.
 *  2. Entries below a->live_from are replayed to rebuild windows: every
 *     state transition happens, but no alert is recorded.
 *  3. The persisted E never exceeds the trigger index of an alert that is
 *     not yet in the log, so a crash before emit re-fires it at restart.
 */
#include "followers/alert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"
#include "base/jcanon.h"
#include "store/journal.h"
#include "store/keys.h"
#include "followers/webhook.h"

/* keys_derive() label of the key sealing webhook secrets at rest */
#define WEBHOOK_SEAL_LABEL "logseal webhook secrets v1"

#define FILTER_VALUE_MAX 256
#define NAME_MAX_LEN 200
#define RULE_ID_MAX 66		/* "r_" + 64 */
#define COUNT_MAX 10000
#define WINDOW_MAX_S 604800
#define ABSENCE_MAX_S 2592000
#define RULE_WEBHOOKS_MAX 16
#define WINDOW_SLOTS 262144	/* ring slots per rule, across its groups */
#define GROUP_BUCKETS 1024
#define GROUP_KEY_MAX 256
#define FILE_MAX (8u << 20)
#define ALERT_ID_MAX 128
/* Entries nested deeper go the jansson way (stored events are at most
 * EVENT_MAX_DEPTH deep; anything else in a journal is still judged). */
#define ENTRY_DOM_DEPTH 64
/* The dom keeps its arenas between entries up to this many bytes; an
 * outsized entry's are given back once it is evaluated. */
#define ENTRY_DOM_KEEP (1u << 20)
/* keys_derive() label of the key that blinds group keys in state.json. */
#define STATE_KEY_LABEL "logseal/alert-state/v1"

/* ============================================================ validation */

static const char *const outcomes[] = { "success", "failure", "denied", "error", "unknown" };
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

struct cidr {
	int family;
	uint8_t addr[16];
	unsigned bits;
};

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
		if (!strcmp(key, "outcome") && !IN_LIST(s, outcomes))
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
	const char *key, *g;
	json_int_t count, win;
	json_t *v, *o;

	if (!json_is_object(t))
		return ls_err_set(err, LS_INVALID,
				  "threshold: required for a threshold rule, an object "
				  "{count, window_seconds, group_by}");
	json_object_foreach((json_t *)t, key, v) {
		if (strcmp(key, "count") && strcmp(key, "window_seconds") && strcmp(key, "group_by"))
			return ls_err_set(err, LS_INVALID, "threshold.%.64s: unknown field", key);
	}
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
	o = json_pack("{sIsI}", "count", (json_int_t)count, "window_seconds", (json_int_t)win);
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

enum kind { K_MATCH, K_THRESHOLD, K_ABSENCE };
enum group_by { G_NONE, G_ACTOR, G_SOURCE_IP, G_SERVICE };

struct slot {
	int64_t t;
	uint64_t idx;
};

struct group {
	struct group *hnext;		/* hash chain */
	struct group *prev, *next;	/* LRU list, most recent first */
	char *key;
	struct slot *ring;		/* rule->count slots */
	unsigned head, len;
	int64_t muted_until;
	uint64_t fire_first;		/* oldest index of the burst that fired (while muted) */
};

struct filter {
	const char *action, *outcome, *service, *actor, *resource_type;
	size_t action_prefix;		/* > 0: match the first action_prefix bytes */
	int has_ip;
	struct cidr net;
	int server_only;		/* names the server's service or actions */
};

struct rule {
	json_t *json;
	const char *id, *name, *severity;
	enum kind kind;
	int enabled;
	struct filter f;
	unsigned count;
	int64_t window_us;
	enum group_by group_by;
	const char *abs_service;
	int64_t abs_us, since_us;
	int abs_fired;
	/* Bytes every entry the rule can match holds (see may_concern()):
	 * '"service":' and the service's canonical JSON string when the rule
	 * names one, else the same of its outcome, else of its action (of an
	 * action prefix, without the closing quote); NULL when it names none
	 * of them. */
	char *pat;
	size_t pat_n;
	struct group **buckets;
	struct group *lru_head, *lru_tail;
	size_t ngroups, max_groups;
};

/*
 * The fields of an entry that rules look at.  The strings point into the
 * parsed entry (the jansson root, or the string arena of struct alert's
 * dom), so they live exactly as long as that parse: until the next entry.
 */
struct ev {
	const char *action, *outcome, *service, *actor, *source_ip, *resource_type;
	int64_t t;
	/* No "writer" member: the server wrote it (event_internal).  Anything a
	 * writer sent carries its token id there; only the server's own entries
	 * can speak for the server (event.h: the reserved service and actions
	 * are refused at ingest, but a journal may predate that). */
	int from_server;
	int64_t weight;	/* events it stands for in a threshold (see denial_weight) */
};

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

static const char *str_at(json_t *o, const char *a, const char *b)
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
static int ev_from(json_t *root, struct ev *e)
{
	e->action = str_at(root, "action", NULL);
	e->outcome = str_at(root, "outcome", NULL);
	e->service = str_at(root, "service", NULL);
	e->actor = str_at(root, "actor", "id");
	e->source_ip = str_at(root, "source", "ip");
	e->resource_type = str_at(root, "resource", "type");
	e->from_server = json_object_get(root, "writer") == NULL;
	{
		json_t *cnt = json_object_get(json_object_get(root, "details"), "count");
		e->weight = denial_weight(e->action, json_object_get(root, "writer") != NULL,
					  json_is_integer(cnt), json_integer_value(cnt));
	}
	return ev_time(str_at(root, "received", NULL), str_at(root, "time", NULL), &e->t);
}

/* str_at() on a jdom: only a string member (of an object member) counts,
 * as json_string_value() of a missing or non-string value is NULL. */
static const char *dom_str_at(const struct jdom *d, const struct jnode *o, const char *a,
			      const char *b)
{
	return b ? jdom_get_str(d, jdom_get(d, o, a), b) : jdom_get_str(d, o, a);
}

/* ev_from() on a jdom: the same fields, so the two routes agree on every
 * entry jdom accepts (a subset of what json_loadb accepts, same values). */
static int ev_from_dom(const struct jdom *d, const struct jnode *root, struct ev *e)
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
	return ev_time(dom_str_at(d, root, "received", NULL), dom_str_at(d, root, "time", NULL),
		       &e->t);
}

static void filter_compile(const json_t *f, struct filter *out)
{
	char canon[INET6_ADDRSTRLEN + 8];
	const char *ip;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->action = str_at((json_t *)f, "action", NULL);
	out->outcome = str_at((json_t *)f, "outcome", NULL);
	out->service = str_at((json_t *)f, "service", NULL);
	out->actor = str_at((json_t *)f, "actor", NULL);
	out->resource_type = str_at((json_t *)f, "resource_type", NULL);
	if (out->action && (n = strlen(out->action)) && out->action[n - 1] == '*') {
		out->action_prefix = n - 1;
		if (n == 1)
			out->action = NULL; /* "*": any action */
	}
	ip = str_at((json_t *)f, "source_ip", NULL);
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

static int eq(const char *want, const char *have)
{
	return !want || (have && !strcmp(want, have));
}

static int filter_match(const struct filter *f, const struct ev *e)
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
	if (!eq(f->outcome, e->outcome) || !eq(f->service, e->service) ||
	    !eq(f->actor, e->actor) || !eq(f->resource_type, e->resource_type))
		return 0;
	if (f->has_ip && (!e->source_ip || !cidr_contains(&f->net, e->source_ip)))
		return 0;
	return 1;
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
	free(r->buckets);
	r->buckets = NULL;
	r->lru_head = r->lru_tail = NULL;
	r->ngroups = 0;
}

static void rule_free(struct rule *r)
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
static struct rule *rule_compile(json_t *j)
{
	struct rule *r = calloc(1, sizeof(*r));
	const char *k, *g;
	json_t *t;

	if (!r)
		return NULL;
	r->json = json_incref(j);
	r->id = str_at(j, "id", NULL);
	r->name = str_at(j, "name", NULL);
	r->severity = str_at(j, "severity", NULL);
	r->enabled = json_is_true(json_object_get(j, "enabled"));
	k = str_at(j, "kind", NULL);
	r->kind = !strcmp(k, "match") ? K_MATCH : !strcmp(k, "threshold") ? K_THRESHOLD : K_ABSENCE;
	filter_compile(json_object_get(j, "filter"), &r->f);
	if (r->kind == K_THRESHOLD) {
		t = json_object_get(j, "threshold");
		r->count = (unsigned)json_integer_value(json_object_get(t, "count"));
		r->window_us = json_integer_value(json_object_get(t, "window_seconds")) * 1000000;
		g = str_at(t, "group_by", NULL);
		r->group_by = !g ? G_NONE : !strcmp(g, "actor") ? G_ACTOR :
				  !strcmp(g, "source_ip") ? G_SOURCE_IP : G_SERVICE;
		r->max_groups = WINDOW_SLOTS / r->count;
		if (r->max_groups < 16)
			r->max_groups = 16;
		r->buckets = calloc(GROUP_BUCKETS, sizeof(*r->buckets));
		if (!r->buckets) {
			rule_free(r);
			return NULL;
		}
	} else if (r->kind == K_ABSENCE) {
		t = json_object_get(j, "absence");
		r->abs_service = str_at(t, "service", NULL);
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
	if (!ev_from(root, &e))
		e.t = 0;
	if (json_object_get(rule, "absence"))
		svc = str_at((json_t *)rule, "absence", "service");
	if (svc && event_service_reserved(svc, strlen(svc)))
		f.server_only = 1;
	*match = !(e.action && !strncmp(e.action, ALERT_ACTION_PREFIX,
					 strlen(ALERT_ACTION_PREFIX))) &&
		 filter_match(&f, &e) && eq(svc, e.service);
	json_decref(root);
	return LS_OK;
}

/* ============================================================ windows */

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

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
	struct group **pp = &r->buckets[fnv(g->key) % GROUP_BUCKETS];

	while (*pp && *pp != g)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = g->hnext;
	lru_unlink(r, g);
	free(g->key);
	free(g->ring);
	free(g);
	r->ngroups--;
}

static struct group *group_get(struct rule *r, const char *key)
{
	size_t b = fnv(key) % GROUP_BUCKETS;
	struct group *g;

	for (g = r->buckets[b]; g; g = g->hnext) {
		if (!strcmp(g->key, key)) {
			lru_unlink(r, g);
			lru_front(r, g);
			return g;
		}
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
	g->hnext = r->buckets[b];
	r->buckets[b] = g;
	lru_front(r, g);
	r->ngroups++;
	return g;
}

/* ============================================================ the engine */

enum emit_state { EMIT_PENDING, EMIT_RUNNING, EMIT_DONE };

struct fired {
	json_t *obj;		/* the alert as listed (includes delivery state) */
	uint64_t trigger;	/* leaf index that fired it; UINT64_MAX for absence */
	enum emit_state emit;
	int hooks_queued;
};

struct batch {
	struct batch *next;
	uint64_t first;
	size_t n, bytes;
	size_t *lens;
	char *data;
};

struct alert {
	char *dir;		/* DIR/alerts */
	char *journal_dir;	/* DIR/journal */
	struct alert_opts o;
	pthread_mutex_t mu;
	pthread_mutex_t save_mu;
	pthread_cond_t cv;	/* work for the engine thread, or stop */
	pthread_cond_t drained;	/* the engine thread is idle */

	struct rule *rules[ALERT_MAX_RULES];
	size_t nrules;
	struct webhook_cfg hooks[ALERT_MAX_WEBHOOKS];
	int hook_persist[ALERT_MAX_WEBHOOKS];
	size_t nhooks;
	struct webhook_policy policy;	/* where webhooks may go (read-only after open) */
	uint8_t seal_key[KEYS_KEY_LEN];	/* webhooks.json's sealing key, when sealed */
	int sealed;			/* the data directory is encrypted */

	struct fired ring[ALERT_FIRED_KEEP]; /* oldest at ring_head */
	size_t ring_head, ring_len;

	uint64_t next;		/* invariant 1 */
	uint64_t live_from;	/* invariant 2 */
	uint64_t known_size;	/* largest first+n fed */
	int fresh;		/* no state.json: start where the first feed/catch-up starts */
	int64_t latest_t;	/* largest event time seen */
	struct jdom dom;	/* the entry being evaluated (under mu) */
	int dirty;
	int64_t last_save;
	struct alert_counters c;
	/* Encrypted data directory: state.json names a fired alert's group
	 * (an actor id, an address) only by HMAC-SHA256(blind_key, group). */
	int blind;
	uint8_t blind_key[KEYS_KEY_LEN];

	struct webhook_queue *wq;

	pthread_t thread;
	int opened, started, stop, busy, emit_wanted;
	struct batch *qhead, *qtail;
	size_t qbytes;
};

static int64_t real_clock(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_us(struct alert *a)
{
	return a->o.now_us(a->o.clock_ctx);
}

static struct fired *fired_find(struct alert *a, const char *id)
{
	size_t i;

	for (i = a->ring_len; i-- > 0;) {
		struct fired *f = &a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP];
		if (!strcmp(str_at(f->obj, "id", NULL), id))
			return f;
	}
	return NULL;
}

static struct fired *fired_push(struct alert *a)
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

static struct rule *rule_find(struct alert *a, const char *id, size_t *pos)
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

static struct webhook_cfg *hook_find(struct alert *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nhooks; i++)
		if (!strcmp(a->hooks[i].name, name))
			return &a->hooks[i];
	return NULL;
}

/* "group_hash" of state.json: hex HMAC-SHA256(blind_key, group). */
static void group_hash(const struct alert *a, const char *group, char out[65])
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
	const char *want = str_at(f->obj, "group_hash", NULL);
	char h[65];

	if (!want || !group || !a->blind || json_object_get(f->obj, "group"))
		return;
	group_hash(a, group, h);
	if (strcmp(h, want) || json_object_set_new(f->obj, "group", json_string(group)))
		return;
	json_object_del(f->obj, "group_hash");
	a->dirty = 1;
}

static void set_delivery_state(json_t *obj)
{
	json_t *hooks = json_object_get(obj, "webhooks"), *h;
	const char *st = "none";
	int pending = 0, failed = 0;
	size_t i;

	json_array_foreach(hooks, i, h) {
		const char *s = str_at(h, "state", NULL);
		if (s && !strcmp(s, "pending"))
			pending = 1;
		else if (s && !strcmp(s, "failed"))
			failed = 1;
	}
	if (json_array_size(hooks))
		st = pending ? "pending" : failed ? "failed" : "delivered";
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
	const char *kind = str_at(rule, "kind", NULL), *group = str_at((json_t *)obj, "group", NULL);
	json_t *li = json_object_get(obj, "log_index");
	char where[48] = "";

	if (json_is_integer(li))
		snprintf(where, sizeof(where), ", log index %lld",
			 (long long)json_integer_value(li));
	if (kind && !strcmp(kind, "absence"))
		snprintf(buf, sizeof(buf), "logseal alert [%s] %s: no events from %s for %lld s%s",
			 str_at(rule, "severity", NULL), str_at(rule, "name", NULL),
			 str_at((json_t *)obj, "service", NULL),
			 (long long)json_integer_value(json_object_get(obj, "seconds")), where);
	else if (kind && !strcmp(kind, "threshold"))
		snprintf(buf, sizeof(buf), "logseal alert [%s] %s: %lld events in %lld s%s%s%s",
			 str_at(rule, "severity", NULL), str_at(rule, "name", NULL),
			 (long long)json_integer_value(json_object_get(obj, "count")),
			 (long long)json_integer_value(json_object_get(obj, "window_seconds")),
			 group ? " from " : "", group ? group : "", where);
	else
		snprintf(buf, sizeof(buf), "logseal alert [%s] %s: matching event%s",
			 str_at(rule, "severity", NULL), str_at(rule, "name", NULL), where);
	s = strdup(buf);
	return s;
}

/* Queue the pending deliveries of f (mu held). */
static void queue_hooks(struct alert *a, struct fired *f)
{
	json_t *hooks = json_object_get(f->obj, "webhooks"), *h, *pub;
	const char *id = str_at(f->obj, "id", NULL);
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

		if (strcmp(str_at(h, "state", NULL), "pending"))
			continue;
		w = hook_find(a, str_at(h, "name", NULL));
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

/* Record a fired alert (mu held).  obj is stolen. */
static void fire(struct alert *a, struct rule *r, json_t *obj, uint64_t trigger)
{
	json_t *hooks, *h, *ruleo;
	struct fired *f;
	char tbuf[40];
	size_t i;

	if (!obj)
		return;
	f = fired_find(a, str_at(obj, "id", NULL));
	if (f) {
		/* fired before a restart and restored from state.json */
		group_restore(a, f, str_at(obj, "group", NULL));
		json_decref(obj);
		return;
	}
	event_format_time(now_us(a), tbuf, sizeof(tbuf));
	ruleo = json_pack("{ssssssss}", "id", r->id, "name", r->name, "kind",
			  str_at(r->json, "kind", NULL), "severity", r->severity);
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
	f = fired_push(a);
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

static void eval_threshold(struct alert *a, struct rule *r, const struct ev *e, uint64_t idx,
			   int live)
{
	const char *key = "*";
	char id[ALERT_ID_MAX];
	struct group *g;
	struct slot *s;

	switch (r->group_by) {
	case G_ACTOR: key = e->actor ? e->actor : "-"; break;
	case G_SOURCE_IP: key = e->source_ip ? e->source_ip : "-"; break;
	case G_SERVICE: key = e->service ? e->service : "-"; break;
	case G_NONE: break;
	}
	g = group_get(r, key);
	if (!g)
		return; /* out of memory: this event is not counted */
	if (e->t < g->muted_until)
		return;
	for (int64_t w = e->weight > (int64_t)r->count ? (int64_t)r->count : e->weight; ; w--) {
		while (g->len && g->ring[g->head].t <= e->t - r->window_us) {
			g->head = (g->head + 1) % r->count;
			g->len--;
		}
		s = &g->ring[(g->head + g->len) % r->count];
		s->t = e->t;
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
	g->muted_until = e->t + r->window_us;
	g->len = 0;
	g->head = 0;
}

/* A logseal.alert.fired entry came back from the log (mu held). */
static void note_fired_event(struct alert *a, uint64_t idx, json_t *root)
{
	json_t *d = json_object_get(root, "details");
	const char *id = str_at(d, "id", NULL);
	const char *rid = str_at(d, "rule", "id");
	json_t *since = json_object_get(d, "since_us");
	struct fired *f = id ? fired_find(a, id) : NULL;
	struct rule *r;

	if (f)
		group_restore(a, f, str_at(d, "group", NULL));
	if (f && f->emit != EMIT_DONE) {
		/* logged before a crash, fired again by the replay: not twice */
		f->emit = f->emit == EMIT_RUNNING ? EMIT_RUNNING : EMIT_DONE;
		json_object_set_new(f->obj, "log_index", json_integer((json_int_t)idx));
		if (f->emit == EMIT_DONE && !f->hooks_queued)
			queue_hooks(a, f);
		a->dirty = 1;
	}
	r = rid ? rule_find(a, rid, NULL) : NULL;
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
		timed = ev_from_dom(&a->dom, &a->dom.node[top], e);
	} else {
		*root = json_loadb(data, len, 0, NULL);
		if (!json_is_object(*root)) {
			json_decref(*root);
			*root = NULL;
			return 0;
		}
		timed = ev_from(*root, e);
	}
	if (!timed)
		e->t = now_us(a);
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

		if (!r->enabled || !filter_match(&r->f, &e))
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
			if (!eq(r->abs_service, e.service))
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

static ls_rc save_rules(struct alert *a, struct ls_err *err)
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

static ls_rc save_hooks(struct alert *a, struct ls_err *err)
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
		const char *g = str_at(f->obj, "group", NULL);
		json_t *al = f->obj, *copy = NULL;

		if (a->blind && g) {
			/* encrypted at rest: no actor id or address in the clear
			 * here either (the logged alert, sealed, keeps it) */
			char h[65];

			group_hash(a, g, h);
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

static ls_rc save_state(struct alert *a, struct ls_err *err)
{
	json_t *o;
	ls_rc rc;

	pthread_mutex_lock(&a->save_mu);
	pthread_mutex_lock(&a->mu);
	o = state_json(a);
	a->dirty = 0;
	a->last_save = now_us(a);
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

static ls_rc load_state(struct alert *a, struct ls_err *err)
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
		struct rule *r = rule_find(a, key, NULL);
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
		f = fired_push(a);
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
};

static ls_rc add_compiled(struct alert *a, json_t *j, struct ls_err *err)
{
	struct rule *r;

	if (a->nrules >= ALERT_MAX_RULES)
		return ls_err_set(err, LS_LIMIT, "at most %d rules", ALERT_MAX_RULES);
	r = rule_compile(j);
	if (!r)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	r->since_us = now_us(a);
	a->rules[a->nrules++] = r;
	return LS_OK;
}

static ls_rc load_rules(struct alert *a, struct ls_err *err)
{
	json_t *o, *arr, *v, *chk;
	size_t i;
	ls_rc rc = read_json(a->dir, "rules.json", &o, err);

	if (rc == LS_NOTFOUND) {
		for (i = 0; i < sizeof(default_rules) / sizeof(default_rules[0]); i++) {
			rc = alert_rule_check_text(default_rules[i], strlen(default_rules[i]), &chk,
						   err);
			if (!rc)
				rc = add_compiled(a, chk, err);
			json_decref(chk);
			if (rc)
				return rc;
		}
		return save_rules(a, err);
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
		if (!rc && rule_find(a, str_at(chk, "id", NULL), NULL))
			rc = ls_err_set(&e2, LS_INVALID, "id: duplicate");
		if (rc) {
			json_decref(chk);
			json_decref(o);
			return ls_err_set(err, LS_CORRUPT, "%s/rules.json: rule %zu: %s", a->dir,
					  i, e2.msg);
		}
		rc = add_compiled(a, chk, err);
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
static ls_rc hook_add(struct alert *a, struct webhook_cfg *w, int persist, struct ls_err *err)
{
	struct webhook_cfg *old = hook_find(a, w->name);

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

static ls_rc load_hooks(struct alert *a, struct ls_err *err)
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
				rc = hook_add(a, &w, 1, err);
			if (rc)
				break;
		}
		json_decref(o);
		/* a file from before sealing: sealed now rather than at the
		 * next change, which may never come */
		if (!rc && plain)
			rc = save_hooks(a, err);
	}
	if (!rc && a->o.webhooks) {
		json_array_foreach(a->o.webhooks, i, v) {
			rc = webhook_cfg_parse(v, &w, err);
			if (!rc)
				rc = hook_add(a, &w, 0, err);
			if (rc)
				break;
		}
	}
	return rc;
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
	f = fired_find(a, job_id);
	if (f) {
		json_array_foreach(json_object_get(f->obj, "webhooks"), i, h) {
			if (strcmp(str_at(h, "name", NULL), webhook))
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
	f = fired_find(a, job_id);
	if (f) {
		json_array_foreach(json_object_get(f->obj, "webhooks"), i, h) {
			if (!strcmp(str_at(h, "name", NULL), webhook)) {
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
	struct journal_iter *it;
	const uint8_t *data;
	uint64_t idx, start;
	size_t len;
	ls_rc rc;

	pthread_mutex_lock(&a->mu);
	start = a->next;
	pthread_mutex_unlock(&a->mu);
	if (start >= upto)
		return LS_OK;
	rc = journal_iter_open(jdir, start, &it, err);
	if (rc)
		return rc;
	for (;;) {
		rc = journal_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc || idx >= upto)
			break;
		eval_one(a, idx, data, len);
	}
	journal_iter_free(it);
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
		snprintf(id, sizeof(id), "%s", str_at(f->obj, "id", NULL));
		details = alert_public(f->obj);
		pthread_mutex_unlock(&a->mu);

		rc = details ? a->o.emit(a->o.emit_ctx, details, &index) : LS_NOMEM;
		json_decref(details);

		pthread_mutex_lock(&a->mu);
		f = fired_find(a, id);
		if (f) {
			if (rc == LS_OK) {
				f->emit = EMIT_DONE;
				json_object_set_new(f->obj, "log_index",
						    json_integer((json_int_t)index));
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
		rc = load_hooks(a, err);
	if (!rc)
		rc = load_rules(a, err);
	if (!rc)
		rc = load_state(a, err);
	if (rc)
		goto fail;
	a->last_save = now_us(a);
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
	now = now_us(a);
	if (!a->fresh)
		tick_absence(a, now);
	pthread_mutex_unlock(&a->mu);
	emit_pending(a, err, &rc);
	pthread_mutex_lock(&a->mu);
	save = a->dirty && now - a->last_save >= (int64_t)a->o.state_interval_ms * 1000;
	pthread_mutex_unlock(&a->mu);
	if (save) {
		ls_rc r2 = save_state(a, rc ? NULL : err);
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
	snprintf(id, sizeof(id), "%s", str_at(chk, "id", NULL));
	pthread_mutex_lock(&a->mu);
	json_array_foreach(json_object_get(chk, "webhooks"), i, h) {
		if (!hook_find(a, json_string_value(h))) {
			rc = ls_err_set(err, LS_INVALID, "webhooks[%zu]: no webhook named \"%s\"", i,
					json_string_value(h));
			goto out;
		}
	}
	if (rule_find(a, id, NULL)) {
		rc = ls_err_set(err, LS_EXISTS, "id: a rule %s already exists", id);
		goto out;
	}
	rc = add_compiled(a, chk, err);
	if (rc)
		goto out;
	rc = save_rules(a, err);
	if (rc) {
		rule_free(a->rules[--a->nrules]);
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
	r = rule_find(a, id, &pos);
	if (!r) {
		pthread_mutex_unlock(&a->mu);
		return ls_err_set(err, LS_NOTFOUND, "no rule %.80s", id);
	}
	memmove(&a->rules[pos], &a->rules[pos + 1], (a->nrules - pos - 1) * sizeof(a->rules[0]));
	a->nrules--;
	rc = save_rules(a, err);
	if (rc) {
		memmove(&a->rules[pos + 1], &a->rules[pos],
			(a->nrules - pos) * sizeof(a->rules[0]));
		a->rules[pos] = r;
		a->nrules++;
	} else {
		rule_free(r);
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
	rc = hook_add(a, &w, 1, err);
	if (!rc)
		rc = save_hooks(a, err);
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
		rc = save_state(a, err);
	for (i = 0; i < a->nrules; i++)
		rule_free(a->rules[i]);
	for (i = 0; i < a->nhooks; i++)
		webhook_cfg_release(&a->hooks[i]);
	for (i = 0; i < a->ring_len; i++)
		json_decref(a->ring[(a->ring_head + i) % ALERT_FIRED_KEEP].obj);
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
