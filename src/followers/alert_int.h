/*
 * alert_int.h - what the pieces of the alert engine share (private to
 * src/followers/alert_*.c; the API is alert.h):
 *	alert_rules.c   rule validation (pure), compiled rules and matching,
 *	                per-group sliding windows
 *	alert_store.c   rules.json, webhooks.json and state.json
 *	alert_engine.c  firing and the fired list, evaluation, webhook
 *	                bookkeeping, feeding and the engine thread, the API
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
#ifndef LS_ALERT_INT_H
#define LS_ALERT_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "base/htab.h"
#include "base/jcanon.h"
#include "base/ls.h"
#include "followers/alert.h"
#include "followers/webhook.h"
#include "store/keys.h"

#define RULE_ID_MAX 66		/* "r_" + 64 */
#define ALERT_ID_MAX 128

struct cidr {
	int family;
	uint8_t addr[16];
	unsigned bits;
};

enum kind { K_MATCH, K_THRESHOLD, K_ABSENCE };
enum group_by { G_NONE, G_ACTOR, G_SOURCE_IP, G_SERVICE };

struct slot {
	int64_t t;
	uint64_t idx;
};

struct group {
	struct htab_node hn;		/* in rule->groups, by key */
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
	int clock_arrival;		/* threshold windows by "received", else by "time" */
	int64_t late_us;		/* event clock: an event later than this is not counted */
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
	struct htab groups;		/* threshold rules: the groups by key */
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
	int64_t t;		/* arrival: "received" (else "time") */
	int64_t t_event;	/* "time", when has_t_event */
	int has_t_event;
	/* No "writer" member: the server wrote it (event_internal).  Anything a
	 * writer sent carries its token id there; only the server's own entries
	 * can speak for the server (event.h: the reserved service and actions
	 * are refused at ingest, but a journal may predate that). */
	int from_server;
	int64_t weight;	/* events it stands for in a threshold (see denial_weight) */
};

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
	json_t *deliveries;	/* webhook name -> its recent deliveries (alert_admin.c) */

	pthread_t thread;
	int opened, started, stop, busy, emit_wanted;
	struct batch *qhead, *qtail;
	size_t qbytes;
};

/* ---------------------------------------------------------------- alert_rules.c */

/* json_string_value() of o[a] (of o[a][b] when b is not NULL). */
const char *alert_str_at(json_t *o, const char *a, const char *b);
/* 1 when want is NULL (no condition) or equals have. */
int alert_str_eq(const char *want, const char *have);
/* The fields of an entry's root (jansson, or jdom) into *e; 0 when it has
 * no time (e->t then unset). */
int alert_ev_from(json_t *root, struct ev *e);
int alert_ev_from_dom(const struct jdom *d, const struct jnode *root, struct ev *e);
int alert_filter_match(const struct filter *f, const struct ev *e);
/* Build a rule from its checked JSON (a reference is taken); NULL when out
 * of memory.  alert_rule_free(NULL) is a no-op. */
struct rule *alert_rule_compile(json_t *j);
void alert_rule_free(struct rule *r);
/* The window of group key in a threshold rule, made (evicting the least
 * recently active group when the rule has max_groups) when missing; NULL
 * when out of memory. */
struct group *alert_group_get(struct rule *r, const char *key);

/* ---------------------------------------------------------------- alert_engine.c (mu held) */

int64_t alert_now_us(struct alert *a);
struct fired *alert_fired_find(struct alert *a, const char *id);
struct fired *alert_fired_push(struct alert *a);
struct rule *alert_rule_find(struct alert *a, const char *id, size_t *pos);
struct webhook_cfg *alert_hook_find(struct alert *a, const char *name);
void alert_group_hash(const struct alert *a, const char *group, char out[65]);

/* ---------------------------------------------------------------- alert_admin.c (mu held) */

/* Record one delivery (or attempt) of webhook in its history; latency_ms
 * < 0: unknown; http_status 0: no response. */
void alert_delivery_note(struct alert *a, const char *webhook, const char *job,
			 const char *result, long http_status, int64_t latency_ms,
			 const char *error);

/* ---------------------------------------------------------------- alert_store.c */

/* mu held: */
ls_rc alert_save_rules(struct alert *a, struct ls_err *err);
ls_rc alert_save_hooks(struct alert *a, struct ls_err *err);
ls_rc alert_add_compiled(struct alert *a, json_t *j, struct ls_err *err);
/* Add or replace w (taken over, also on failure). */
ls_rc alert_hook_add(struct alert *a, struct webhook_cfg *w, int persist, struct ls_err *err);
/* Takes save_mu and mu itself (mu not held). */
ls_rc alert_save_state(struct alert *a, struct ls_err *err);
/* At open, in this order: */
ls_rc alert_load_hooks(struct alert *a, struct ls_err *err);
ls_rc alert_load_rules(struct alert *a, struct ls_err *err);
ls_rc alert_load_state(struct alert *a, struct ls_err *err);

#endif
