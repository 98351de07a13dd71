/*
 * alert.h - the alert engine: rules evaluated on the journal stream, fired
 * alerts written back into the log, and webhook delivery (webhook.h).
 *
 * Files (DIR = the data directory):
 *	DIR/alerts/rules.json     {"version":1,"rules":[<rule>...]}
 *	DIR/alerts/webhooks.json  {"webhooks":[<webhook>...]}   (mode 0600: secrets;
 *	                          sealed when DIR is encrypted, webhook.h
 *	                          webhook_cfg_stored)
 *	DIR/alerts/state.json     {"version":1,"evaluated":E,"replay_from":R,
 *	                           "absence":{...},"fired":[<recent alerts>]}
 * All are replaced durably (fsutil.h fs_write_file).  rules.json is created
 * with the default rules below when it is missing.  In an encrypted data
 * directory a fired alert's "group" is written to state.json as
 * "group_hash" (hex HMAC-SHA256 under keys_derive("logseal/alert-state/v1"))
 * and restored when the replay fires the alert again or reads its logged
 * logseal.alert.fired entry.
 *
 * Rule (JSON object; unknown fields are refused):
 *	"id"        optional on add: r_[A-Za-z0-9_-]{1,64}; generated when absent
 *	"name"      required, 1..200 bytes
 *	"kind"      "match" | "threshold" | "absence"
 *	"filter"    object, all fields optional, all must hold (AND):
 *	            "action"   exact, or a prefix when it ends in '*' ("user.*")
 *	            "outcome"  success|failure|denied|error|unknown
 *	            "service", "actor" (actor.id), "resource_type"  exact
 *	            "source_ip"  exact address or CIDR ("10.0.0.0/8", "2001:db8::/32")
 *	            a match rule needs at least one field (it would fire on everything)
 *	"threshold" (threshold only) {"count":1..10000,"window_seconds":1..604800,
 *	            "group_by":"actor"|"source_ip"|"service"} (no group_by: one group)
 *	            "clock":"event"|"arrival" (default event), "lateness_seconds":
 *	            0..86400 (event clock only; default 300)
 *	"absence"   (absence only) {"service":S,"seconds":1..2592000}
 *	"severity"  low|medium|high|critical (default medium)
 *	"webhooks"  array of configured webhook names (at most 16)
 *	"enabled"   boolean (default true)
 *
 * Default rules (rules.json missing):
 *	r_default_token_change     match      service=logseal action=logseal.token.*
 *	                                      (a token created or revoked) - medium
 *	r_default_logseal_denials  threshold  service=logseal outcome=denied, 5 in 60 s
 *	                                      per source_ip (probing the log server) - high
 *	r_default_actor_denials    threshold  outcome=denied, 5 in 60 s per actor - high
 * No default absence rule: which services must keep logging is site policy.
 *
 * Semantics:
 *  - Time of an event: its "received" field (the server's clock at ingest),
 *    else "time", else the engine's clock.  Received time is used because it
 *    is assigned by us (writers' clocks can be wrong or hostile) and is in
 *    the entry, so a replay after a restart sees the same times.  Except in
 *    the windows of threshold rules on the event clock (the default): there
 *    an event counts at its "time", bounded by its "received": a time after
 *    received counts as received (a writer's clock cannot hold a window
 *    open), and an event whose time is more than lateness_seconds before
 *    its received is late and not counted at all (counters.late_total), so
 *    a backfill or a shipper's delayed batch of old events raises no burst,
 *    while a real burst, sent as it happens, still fires.  Both times are in
 *    the entry: a replay decides the same.
 *  - Only the server's own entries (no "writer" member) speak for it: a
 *    logseal.alert.fired entry with a writer restores nothing, and a rule
 *    whose filter names service "logseal" or a "logseal." action (or an
 *    absence rule of service "logseal") counts no entry with a writer.
 *  - Events whose action starts with "logseal.alert." are never evaluated by
 *    any rule nor count as activity for absence rules: a fired alert is
 *    itself appended to the log and comes back through alert_feed(), and
 *    must not trigger further alerts (no feedback loop).
 *  - match: fires once for every matching event.
 *  - threshold: per group key (the event's actor.id, source.ip or service;
 *    "-" when the event lacks it) the matching events of the window_seconds
 *    up to the newest time counted in the group are kept (in time order, so
 *    events within the lateness bound may come out of order); one older
 *    than that window is not counted; the event that makes it count fires.  Then the
 *    group is cleared and muted for window_seconds from that event: events
 *    in the mute are ignored, so a group fires at most once per window and
 *    a sustained burst gives one alert per window, not one per event.
 *    A logseal.auth.denied.summary the server wrote (no "writer") counts as
 *    details.count events: the refusals it stands for (denials.h).
 *    Memory is bounded: at most max(16, 262144 / count) groups per rule;
 *    the least recently active group is evicted.  A group key longer than
 *    256 bytes is grouped by its first 256 bytes.  Groups are found by
 *    SipHash under a random key per rule (base/htab.h): a writer cannot
 *    choose keys that collide.
 *  - absence: fires once when no matching event of the service has been
 *    seen for "seconds" (since its last event, or since the rule was created
 *    or the engine first started); re-arms on the next event of the service.
 *    Checked by alert_tick() against the clock.
 *
 * Restart (rules evaluate on the journal stream):
 *  state.json keeps E (entries < E evaluated, and every alert they fired
 *  is in the log) and R <= E (the oldest entry still held in a sliding
 *  window).  At open, entries [R, E) are replayed without firing, to rebuild
 *  the windows, and entries >= E are evaluated normally.  An alert that
 *  fires again for an entry whose logseal.alert.fired event is already in
 *  the journal (a crash after it was written but before state was saved)
 *  is recognised by its id when that event is fed, and not emitted twice.
 *
 * Threads and calling sequence (server):
 *	alert_open(datadir, opts)
 *	alert_catch_up(a, DIR/journal, log_size(log))     replay from alert_resume_from()
 *	log observer: alert_feed(a, first, entries, n)    (also index_notify etc.)
 *	alert_start(a)        background thread: evaluates fed entries, calls
 *	                      alert_tick() every tick_ms, emits fired alerts
 *	HTTP threads: alert_rules_list / alert_rule_add / alert_rule_delete /
 *	              alert_fired_list / alert_webhook_set / alert_counters
 *	alert_close(a)        (after log_close: the observer may still feed)
 * Without alert_start() (tests, offline), alert_feed() evaluates inline and
 * the caller drives alert_tick() with its own clock.
 *
 * Invariants:
 *  1. emit is never called from alert_feed() (the log's sequencer thread
 *     would wait on itself); only from alert_tick() and the engine thread.
 *  2. Entries are evaluated once, in leaf order; alert_feed() tolerates
 *     overlap (skips what was evaluated) and gaps (reads the missing entries
 *     from DIR/journal, which holds them since the observer reports only
 *     durable entries).  It never blocks: when its queue is full (bytes cap)
 *     it drops the batch, and the gap is read back from the journal.
 *  3. Every fired alert has a unique id ("<rule id>@<leaf index>" or, for
 *     absence, "<rule id>@since:<µs>"), which webhook receivers can use to
 *     drop duplicates (delivery is at least once).
 *  4. Core module: never logs, never aborts; all memory is bounded (rules,
 *     groups, fired list, queues).
 */
#ifndef LS_ALERT_H
#define LS_ALERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/ls.h"

#define ALERT_ACTION_FIRED "logseal.alert.fired"
#define ALERT_ACTION_PREFIX "logseal.alert."
#define ALERT_MAX_RULES 256
#define ALERT_MAX_WEBHOOKS 32
#define ALERT_FIRED_KEEP 1000	   /* fired alerts kept in memory for alert_fired_list() */
#define ALERT_FIRED_PERSIST 200	   /* of which the newest are kept in state.json */
#define ALERT_TRIGGER_MAX 20	   /* leaf indexes listed in one alert (the newest) */
#define ALERT_RULE_TEXT_MAX 65536  /* bytes of one rule's JSON text */

/* Microseconds since the Unix epoch. */
typedef int64_t (*alert_clock_fn)(void *ctx);
/* Append one event of action ALERT_ACTION_FIRED, service "logseal", with
 * these details (borrowed) to the log; *index receives its leaf index.
 * *elsewhere (set to 0 by the caller) becomes 1 when the log already held
 * this alert's event from another cluster node (the same id as key): that
 * node delivers its webhooks, this one does not (one page per alert, not
 * one per node).  Anything but LS_OK leaves the alert pending: emit is
 * retried next tick. */
typedef ls_rc (*alert_emit_fn)(void *ctx, json_t *details, uint64_t *index, int *elsewhere);

struct alert_opts {
	alert_clock_fn now_us;		/* NULL: CLOCK_REALTIME */
	void *clock_ctx;
	alert_emit_fn emit;		/* NULL: alerts are listed and delivered, not logged */
	void *emit_ctx;
	const json_t *webhooks;		/* extra webhook configs (array), not persisted */
	unsigned tick_ms;		/* engine thread tick; 0: 1000 */
	unsigned state_interval_ms;	/* min interval between state saves by ticks; 0: 1000 */
	unsigned webhook_attempts;	/* 0: 6 */
	unsigned webhook_backoff_ms;	/* first retry delay, doubling; 0: 500 */
	unsigned webhook_max_backoff_ms; /* 0: 60000 */
	unsigned webhook_queue;		/* deliveries waiting; 0: 1024 */
	const char *webhook_allow;	/* networks webhooks may reach besides public
					 * addresses ("CIDR,..."; webhook.h); NULL: none */
	size_t feed_queue_bytes;	/* entries waiting for the engine thread; 0: 64 MiB */
	/* Cluster mode: this node's name, which the server writes in the
	 * fired events it logs ("node"); a fired event fed from another node
	 * leaves that alert's webhooks to that node (state "other_node").
	 * NULL: single node. */
	const char *node;
};

struct alert_counters {
	uint64_t alerts_fired_total;
	uint64_t webhook_deliveries_total;	 /* deliveries that succeeded */
	uint64_t webhook_failures_total;	 /* deliveries that failed after every attempt */
	uint64_t webhook_attempt_failures_total; /* failed attempts (retried or not) */
	uint64_t emit_failures_total;		 /* emit calls that failed (retried) */
	uint64_t evaluated;			 /* next leaf index to evaluate */
	uint64_t parsed;			 /* entries parsed (the others concerned no rule) */
	uint64_t feed_dropped_total;		 /* batches dropped by a full queue (re-read) */
	uint64_t late_total;			 /* (event, rule) not counted: later than the
						  * rule's lateness bound (event clock) */
};

struct alert;

ls_rc alert_open(const char *datadir, const struct alert_opts *opts, struct alert **out,
		 struct ls_err *err);

/* The leaf index the engine expects next (R above): feed from there. */
uint64_t alert_resume_from(struct alert *a);

/* Evaluate the entries of journal_dir from alert_resume_from() up to (not
 * including) upto, or to its end with UINT64_MAX. */
ls_rc alert_catch_up(struct alert *a, const char *journal_dir, uint64_t upto,
		     struct ls_err *err);

/* Durable entries first, first+1, ... (the log observer).  Never blocks on
 * emit or I/O once alert_start() has run. */
void alert_feed(struct alert *a, uint64_t first, const struct iovec *entries, size_t n);

/* Check absence rules against the clock, emit pending alerts (invariant 1),
 * save state when due.  Returns the first error met (state save or emit),
 * after doing the rest. */
ls_rc alert_tick(struct alert *a, struct ls_err *err);

/* Start the engine thread (see above).  Optional. */
ls_rc alert_start(struct alert *a, struct ls_err *err);

/* Rules: list ({"rules":[...]}), add (validated, persisted; *id_out is
 * malloc'd), delete (LS_NOTFOUND). */
ls_rc alert_rules_list(struct alert *a, json_t **out);
ls_rc alert_rule_add(struct alert *a, const json_t *rule, char **id_out, struct ls_err *err);
ls_rc alert_rule_delete(struct alert *a, const char *id, struct ls_err *err);

/* The newest fired alerts first ({"alerts":[...]}), at most limit (0: 100).
 * Each: id, rule {id,name,kind,severity}, time, indexes, group, count,
 * window_seconds / service, seconds, since, log_index (once logged),
 * state ("none": no webhooks | "pending" | "delivered" | "failed"),
 * webhooks [{name, state, attempts, last_error}]. */
ls_rc alert_fired_list(struct alert *a, size_t limit, json_t **out);

/* Webhooks: add or replace by name (persisted to webhooks.json), list
 * ({"webhooks":[...]} with secrets shown as "set" and URLs masked).  Set
 * resolves the URL's host first (without holding the engine's lock):
 * LS_DENIED when an address is outside what the policy allows, LS_NOTFOUND
 * when it does not resolve (webhook_target_check). */
ls_rc alert_webhook_set(struct alert *a, const json_t *webhook, struct ls_err *err);
ls_rc alert_webhooks_list(struct alert *a, json_t **out);

void alert_get_counters(struct alert *a, struct alert_counters *c);

/* Wait until the engine thread has evaluated everything fed and no webhook
 * delivery is queued or in flight (tests, shutdown).  LS_BUSY on timeout. */
ls_rc alert_drain(struct alert *a, unsigned timeout_ms);

/* Stop threads, save state, free.  NULL is a no-op. */
ls_rc alert_close(struct alert *a, struct ls_err *err);

/* ---------------------------------------------------------------- management */
/* (alert_admin.c) */

/* Replace rule id by rule (validated; its id, when given, must be id);
 * same position, fresh windows.  *old (may be NULL) gets the previous
 * rule.  LS_NOTFOUND, LS_INVALID naming the field. */
ls_rc alert_rule_replace(struct alert *a, const char *id, const json_t *rule, json_t **old,
			 struct ls_err *err);
/* Would rule fire on these n entries (leaf index[i] each, in order) at
 * now_us?  *out {"would_fire","fires_count","evaluated","matched",
 * "fires":[{"index","group"}], "last_seen" (absence)}.  Pure. */
ls_rc alert_rule_dry_run(const json_t *rule, const struct iovec *entries, const uint64_t *index,
			 size_t n, int64_t now_us, json_t **out, struct ls_err *err);
/* Set a recent fired alert's status ("acknowledged" or "resolved") with
 * who and why; *out the alert as listed.  LS_NOTFOUND (not among the
 * recent alerts), LS_EXISTS (already there or resolved). */
ls_rc alert_fired_set_status(struct alert *a, const char *id, const char *status, const char *by,
			     const char *reason, json_t **out, struct ls_err *err);
/* One test POST to webhook name now; *out {"delivered","status",
 * "latency_ms","error"}.  LS_NOTFOUND.  Recorded in its history. */
ls_rc alert_webhook_test(struct alert *a, const char *name, json_t **out, struct ls_err *err);
/* {"webhook","deliveries":[{time,result,alert,status,latency_ms,error}]},
 * newest first (at most ALERT_DELIVERY_KEEP).  LS_NOTFOUND. */
ls_rc alert_webhook_deliveries(struct alert *a, const char *name, json_t **out,
			       struct ls_err *err);
#define ALERT_DELIVERY_KEEP 50

/* ---------------------------------------------------------------- pure */

/* Validate a rule and return its normalised form (defaults filled in,
 * *out new reference).  LS_INVALID with the field named in err.  Webhook
 * names are checked by alert_rule_add(), not here. */
ls_rc alert_rule_check(const json_t *in, json_t **out, struct ls_err *err);
/* The same from JSON text (at most ALERT_RULE_TEXT_MAX bytes). */
ls_rc alert_rule_check_text(const char *text, size_t n, json_t **out, struct ls_err *err);
/* Does the filter of a (checked) rule match one entry?  *match 0/1.  For
 * absence rules the service is part of the filter. */
ls_rc alert_rule_matches(const json_t *rule, const char *entry, size_t n, int *match);

#endif
