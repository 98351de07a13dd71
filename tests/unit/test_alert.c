/*
 * test_alert.c - the alert engine with a fake clock and a real journal:
 * rule validation, the default rules, each rule kind firing exactly when it
 * should (match on every matching event; threshold on the Nth event within
 * the window, per group, once per window; absence after the silence and
 * again after re-arming), no feedback loop through the engine's own
 * logseal.alert.fired events, restart (windows rebuilt from the journal, no
 * duplicate after a crash between emit and state save), the engine thread
 * reading back a gap from the journal, and webhook delivery against a
 * receiver thread on 127.0.0.1 that checks the HMAC and fails the first two
 * attempts, and one that never answers.  Then how entries are read: which
 * field each filter looks at (and the same names elsewhere that it must
 * not), escapes, entries that are not events or that only jansson accepts,
 * and which time an event counts at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "followers/alert.h"
#include "store/cfgseal.h"
#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"
#include "store/journal.h"
#include "store/keys.h"
#include "followers/webhook.h"

#define T0 1700000000000000LL /* 2023-11-14T22:13:20Z */
#define SEC 1000000LL

/* ------------------------------------------------------------ fixture */

struct fx {
	char dir[64];
	char jdir[96];
	struct journal *j;
	struct alert *a;
	int64_t now;
	unsigned emitted;
	int fail_emit;
	int emit_elsewhere;	/* emit says another node logged it first */
	const char *node;	/* alert_opts.node */
	json_t *webhooks;
	unsigned attempts, backoff_ms;
	const char *allow;	/* alert_opts.webhook_allow */
	pthread_mutex_t log_mu; /* the journal has one writer: the test or emit */
};

static int64_t fake_now(void *ctx)
{
	return ((struct fx *)ctx)->now;
}

/* The server's emit: append to the log; the sequencer then calls the
 * observer (alert_feed) before log_append returns. */
static ls_rc fake_emit(void *ctx, json_t *details, uint64_t *index, int *elsewhere)
{
	struct fx *f = ctx;
	char tbuf[40], *s;
	struct iovec iov;
	json_t *ev;
	ls_rc rc;

	if (f->fail_emit)
		return LS_IO;
	event_format_time(f->now, tbuf, sizeof(tbuf));
	ev = json_pack("{sssssss{ss}sOss}", "action", ALERT_ACTION_FIRED, "outcome", "success",
		       "service", "logseal", "actor", "id", "logseal", "details", details,
		       "received", tbuf);
	s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(ev);
	iov.iov_base = s;
	iov.iov_len = strlen(s);
	pthread_mutex_lock(&f->log_mu);
	rc = journal_append(f->j, &iov, 1, index, NULL);
	if (rc == LS_OK) {
		__atomic_add_fetch(&f->emitted, 1, __ATOMIC_SEQ_CST);
		alert_feed(f->a, *index, &iov, 1);
		*elsewhere = f->emit_elsewhere;
	}
	pthread_mutex_unlock(&f->log_mu);
	free(s);
	return rc;
}

static char *entry(const char *action, const char *outcome, const char *service,
		   const char *actor, const char *ip, int64_t received)
{
	char tbuf[40];
	json_t *o;
	char *s;

	event_format_time(received, tbuf, sizeof(tbuf));
	o = json_pack("{sssssss{ss}s{ss}ssss}", "action", action, "outcome", outcome, "service",
		      service, "actor", "id", actor, "source", "ip", ip, "received", tbuf, "time",
		      tbuf);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Append an event to the journal and feed it: returns its leaf index. */
static uint64_t put(struct fx *f, const char *action, const char *outcome, const char *service,
		    const char *actor, const char *ip, int64_t received, int feed)
{
	char *s = entry(action, outcome, service, actor, ip, received);
	struct iovec iov = { s, strlen(s) };
	uint64_t idx;

	pthread_mutex_lock(&f->log_mu);
	assert_int_equal(journal_append(f->j, &iov, 1, &idx, NULL), LS_OK);
	if (feed)
		alert_feed(f->a, idx, &iov, 1);
	pthread_mutex_unlock(&f->log_mu);
	free(s);
	return idx;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void fx_open_alert(struct fx *f)
{
	struct alert_opts o;
	struct ls_err err = { { 0 } };

	memset(&o, 0, sizeof(o));
	o.now_us = fake_now;
	o.clock_ctx = f;
	o.emit = fake_emit;
	o.emit_ctx = f;
	o.node = f->node;
	o.webhooks = f->webhooks;
	o.webhook_allow = f->allow;
	o.state_interval_ms = 1;
	o.webhook_attempts = f->attempts;
	o.webhook_backoff_ms = f->backoff_ms ? f->backoff_ms : 20;
	if (alert_open(f->dir, &o, &f->a, &err) != LS_OK)
		fail_msg("alert_open: %s", err.msg);
	if (alert_catch_up(f->a, f->jdir, journal_size(f->j), &err) != LS_OK)
		fail_msg("alert_catch_up: %s", err.msg);
}

static struct fx *fx_new(int with_defaults)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[128];

	assert_non_null(f);
	pthread_mutex_init(&f->log_mu, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_alert.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
	assert_int_equal(journal_open(f->jdir, NULL, &f->j, NULL, NULL), LS_OK);
	f->now = T0;
	if (!with_defaults) {
		/* an empty rule set instead of the defaults */
		snprintf(path, sizeof(path), "%s/alerts", f->dir);
		assert_int_equal(fs_mkdirs(path, 0700, NULL), LS_OK);
		snprintf(path, sizeof(path), "%s/alerts/rules.json", f->dir);
		assert_int_equal(fs_write_file(path, "{\"version\":1,\"rules\":[]}", 24, 0600, 0,
					       NULL),
				 LS_OK);
	}
	return f;
}

static void fx_free(struct fx *f)
{
	assert_int_equal(alert_close(f->a, NULL), LS_OK);
	journal_close(f->j);
	json_decref(f->webhooks);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	pthread_mutex_destroy(&f->log_mu);
	free(f);
}

static void add_rule(struct fx *f, const char *text)
{
	struct ls_err err = { { 0 } };
	json_t *r = json_loads(text, 0, NULL);
	char *id = NULL;

	assert_non_null(r);
	if (alert_rule_add(f->a, r, &id, &err) != LS_OK)
		fail_msg("alert_rule_add: %s", err.msg);
	free(id);
	json_decref(r);
}

static json_t *fired(struct fx *f)
{
	json_t *o;

	assert_int_equal(alert_fired_list(f->a, 1000, &o), LS_OK);
	return o;
}

static size_t nfired(struct fx *f)
{
	json_t *o = fired(f);
	size_t n = json_array_size(json_object_get(o, "alerts"));

	json_decref(o);
	return n;
}

static void tick(struct fx *f)
{
	struct ls_err err = { { 0 } };

	if (alert_tick(f->a, &err) != LS_OK && !f->fail_emit)
		fail_msg("alert_tick: %s", err.msg);
}

/* ------------------------------------------------------------ validation */

static void expect_invalid(const char *text, const char *field)
{
	struct ls_err err = { { 0 } };
	json_t *out = NULL;

	assert_int_equal(alert_rule_check_text(text, strlen(text), &out, &err), LS_INVALID);
	assert_null(out);
	if (!strstr(err.msg, field))
		fail_msg("error for %s does not name %s: %s", text, field, err.msg);
}

static void test_rule_validation(void **state)
{
	struct ls_err err = { { 0 } };
	const char *good = "{\"name\":\"x\",\"kind\":\"threshold\",\"filter\":{\"source_ip\":"
			   "\"10.1.2.3/8\",\"action\":\"user.*\"},\"threshold\":{\"count\":5,"
			   "\"window_seconds\":60}}";
	json_t *out;

	expect_invalid("[]", "rule");
	expect_invalid("{\"kind\":\"match\",\"filter\":{\"action\":\"a\"}}", "name");
	expect_invalid("{\"name\":\"x\",\"kind\":\"sometimes\"}", "kind");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\"}", "filter");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{}}", "filter");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"colour\":\"red\"}}",
		       "filter.colour");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"outcome\":\"meh\"}}",
		       "filter.outcome");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"source_ip\":\"10.0.0/8\"}}",
		       "filter.source_ip");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"source_ip\":\"10.0.0.0/33\"}}",
		       "filter.source_ip");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a*b\"}}",
		       "filter.action");
	expect_invalid("{\"name\":\"x\",\"kind\":\"threshold\"}", "threshold");
	expect_invalid("{\"name\":\"x\",\"kind\":\"threshold\",\"threshold\":{\"count\":0,"
		       "\"window_seconds\":60}}",
		       "threshold.count");
	expect_invalid("{\"name\":\"x\",\"kind\":\"threshold\",\"threshold\":{\"count\":5,"
		       "\"window_seconds\":0}}",
		       "threshold.window_seconds");
	expect_invalid("{\"name\":\"x\",\"kind\":\"threshold\",\"threshold\":{\"count\":5,"
		       "\"window_seconds\":9,\"group_by\":\"colour\"}}",
		       "threshold.group_by");
	expect_invalid("{\"name\":\"x\",\"kind\":\"absence\",\"absence\":{\"service\":\"b\"}}",
		       "absence.seconds");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a\"},"
		       "\"absence\":{\"service\":\"b\",\"seconds\":5}}",
		       "absence");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a\"},"
		       "\"severity\":\"dire\"}",
		       "severity");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a\"},"
		       "\"webhooks\":\"ops\"}",
		       "webhooks");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a\"},"
		       "\"enabled\":1}",
		       "enabled");
	expect_invalid("{\"id\":\"rule1\",\"name\":\"x\",\"kind\":\"match\",\"filter\":"
		       "{\"action\":\"a\"}}",
		       "id");
	expect_invalid("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a\"},\"x\":1}",
		       "x");
	assert_int_equal(alert_rule_check_text("{\"name\":", 8, &out, &err), LS_INVALID);

	/* a good rule comes back normalised, defaults filled in */
	assert_int_equal(alert_rule_check_text(good, strlen(good), &out, &err), LS_OK);
	assert_string_equal(json_string_value(json_object_get(out, "severity")), "medium");
	assert_true(json_is_true(json_object_get(out, "enabled")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "filter"),
							      "source_ip")),
			    "10.0.0.0/8");
	assert_int_equal(json_array_size(json_object_get(out, "webhooks")), 0);
	json_decref(out);
}

static void test_filter_matching(void **state)
{
	const char *text = "{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"source_ip\":"
			   "\"10.0.0.0/8\",\"action\":\"user.*\",\"outcome\":\"denied\"}}";
	const char *text6 = "{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"source_ip\":"
			    "\"2001:db8::/32\"}}";
	struct {
		const char *action, *outcome, *ip;
		int want;
	} cases[] = {
		{ "user.login", "denied", "10.1.2.3", 1 },
		{ "user.login", "denied", "11.0.0.1", 0 },
		{ "user.login", "success", "10.1.2.3", 0 },
		{ "users.login", "denied", "10.1.2.3", 0 },
		{ "user.", "denied", "10.255.255.255", 1 },
		{ "logseal.alert.fired", "denied", "10.1.2.3", 0 },
	};
	json_t *rule, *rule6;
	size_t i;
	int m;

	assert_int_equal(alert_rule_check_text(text, strlen(text), &rule, NULL), LS_OK);
	assert_int_equal(alert_rule_check_text(text6, strlen(text6), &rule6, NULL), LS_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *e = entry(cases[i].action, cases[i].outcome, "svc", "alice", cases[i].ip, T0);
		assert_int_equal(alert_rule_matches(rule, e, strlen(e), &m), LS_OK);
		if (m != cases[i].want)
			fail_msg("case %zu: %s %s %s: got %d", i, cases[i].action, cases[i].outcome,
				 cases[i].ip, m);
		free(e);
	}
	{
		char *e = entry("x", "success", "svc", "a", "2001:db8:1::5", T0);
		char *e2 = entry("x", "success", "svc", "a", "2001:db9::5", T0);
		assert_int_equal(alert_rule_matches(rule6, e, strlen(e), &m), LS_OK);
		assert_int_equal(m, 1);
		assert_int_equal(alert_rule_matches(rule6, e2, strlen(e2), &m), LS_OK);
		assert_int_equal(m, 0);
		free(e);
		free(e2);
	}
	json_decref(rule);
	json_decref(rule6);
}

/* ------------------------------------------------------------ kinds */

static void test_defaults(void **state)
{
	struct fx *f = fx_new(1);
	char path[128];
	json_t *rules, *al;
	struct stat st;
	int i;

	fx_open_alert(f);
	snprintf(path, sizeof(path), "%s/alerts/rules.json", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(alert_rules_list(f->a, &rules), LS_OK);
	assert_int_equal(json_array_size(json_object_get(rules, "rules")), 4);
	json_decref(rules);

	/* a token created: the match default fires once */
	put(f, "logseal.token.create", "success", "logseal", "admin", "127.0.0.1", T0, 1);
	tick(f);
	assert_int_equal(nfired(f), 1);
	/* five denials from one address to logseal in 60 s: both threshold
	 * defaults fire (same actor "anonymous" too), on the fifth */
	for (i = 0; i < 4; i++)
		put(f, "logseal.auth.unauthenticated", "denied", "logseal", "anonymous",
		    "192.0.2.7", T0 + i * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 1);
	put(f, "logseal.auth.unauthenticated", "denied", "logseal", "anonymous", "192.0.2.7",
	    T0 + 10 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 3);
	assert_int_equal(f->emitted, 3);
	al = fired(f);
	{
		json_t *first = json_array_get(json_object_get(al, "alerts"), 0);
		const char *rid = json_string_value(json_object_get(json_object_get(first, "rule"),
								    "id"));
		assert_true(!strcmp(rid, "r_default_logseal_denials") ||
			    !strcmp(rid, "r_default_actor_denials"));
		assert_int_equal(json_integer_value(json_object_get(first, "count")), 5);
		assert_true(json_is_integer(json_object_get(first, "log_index")));
	}
	json_decref(al);
	/* the witness policy lost (followers/witnesses.h): the witness default
	 * fires; its success counterpart does not */
	put(f, "logseal.witness.quorum_restored", "success", "logseal", "logseal", "127.0.0.1",
	    T0 + 11 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 3);
	put(f, "logseal.witness.quorum_lost", "failure", "logseal", "logseal", "127.0.0.1",
	    T0 + 12 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 4);
	fx_free(f);
}

static void test_match_every_event_no_loop(void **state)
{
	struct fx *f = fx_new(0);
	struct alert_counters c;
	int i;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"denied user actions\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"user.*\",\"outcome\":\"denied\"}}");
	/* a rule that would match the engine's own events if they were evaluated */
	add_rule(f, "{\"id\":\"r_loop\",\"name\":\"anything from logseal\",\"kind\":\"match\","
		    "\"filter\":{\"service\":\"logseal\"}}");
	for (i = 0; i < 3; i++)
		put(f, "user.login", "denied", "auth", "alice", "10.0.0.1", T0 + i, 1);
	put(f, "user.login", "success", "auth", "alice", "10.0.0.1", T0 + 5, 1);
	put(f, "db.query", "denied", "auth", "alice", "10.0.0.1", T0 + 6, 1);
	for (i = 0; i < 3; i++)
		tick(f);
	assert_int_equal(nfired(f), 3);
	assert_int_equal(f->emitted, 3);
	/* the three fired events came back through alert_feed and fired nothing */
	assert_int_equal(journal_size(f->j), 8);
	alert_get_counters(f->a, &c);
	assert_int_equal(c.alerts_fired_total, 3);
	assert_int_equal(c.evaluated, 8);
	fx_free(f);
}

static void test_threshold(void **state)
{
	struct fx *f = fx_new(0);
	json_t *al, *first;
	uint64_t idx[5];
	int i;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_t\",\"name\":\"denied logins\",\"kind\":\"threshold\","
		    "\"filter\":{\"action\":\"user.login\",\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":5,\"window_seconds\":60,\"group_by\":\"actor\"}}");
	/* four each for alice and bob: nothing */
	for (i = 0; i < 4; i++) {
		idx[i] = put(f, "user.login", "denied", "auth", "alice", "10.0.0.1",
			     T0 + i * 10 * SEC, 1);
		put(f, "user.login", "denied", "auth", "bob", "10.0.0.2", T0 + i * 10 * SEC, 1);
	}
	/* other events of alice do not count */
	put(f, "user.login", "success", "auth", "alice", "10.0.0.1", T0 + 35 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 0);
	/* alice's fifth within 60 s fires, with her five indexes */
	idx[4] = put(f, "user.login", "denied", "auth", "alice", "10.0.0.1", T0 + 40 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 1);
	al = fired(f);
	first = json_array_get(json_object_get(al, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(first, "group")), "alice");
	for (i = 0; i < 5; i++)
		assert_int_equal(json_integer_value(
					 json_array_get(json_object_get(first, "indexes"), i)),
				 idx[i]);
	json_decref(al);
	/* muted for the window: more denials of alice fire nothing */
	for (i = 0; i < 6; i++)
		put(f, "user.login", "denied", "auth", "alice", "10.0.0.1", T0 + (41 + i) * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 1);
	/* bob's fifth fires for bob alone */
	put(f, "user.login", "denied", "auth", "bob", "10.0.0.2", T0 + 50 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 2);
	/* carol: five denials 20 s apart never have five within 60 s */
	for (i = 0; i < 5; i++)
		put(f, "user.login", "denied", "auth", "carol", "10.0.0.3", T0 + i * 20 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 2);
	/* after alice's mute (ends at T0+100 s) five new denials fire again */
	for (i = 0; i < 5; i++)
		put(f, "user.login", "denied", "auth", "alice", "10.0.0.1", T0 + (100 + i) * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 3);
	assert_int_equal(f->emitted, 3);
	fx_free(f);
}

static void test_threshold_group_eviction(void **state)
{
	struct fx *f = fx_new(0);
	char actor[32];
	int i;

	fx_open_alert(f);
	/* count 10000: at most 26 groups (262144 / 10000) */
	add_rule(f, "{\"id\":\"r_big\",\"name\":\"big\",\"kind\":\"threshold\","
		    "\"filter\":{\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":10000,\"window_seconds\":60,\"group_by\":\"actor\"}}");
	add_rule(f, "{\"id\":\"r_two\",\"name\":\"two\",\"kind\":\"threshold\","
		    "\"filter\":{\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":2,\"window_seconds\":60,\"group_by\":\"actor\"}}");
	/* 300 distinct actors once each: no alert, memory bounded */
	for (i = 0; i < 300; i++) {
		snprintf(actor, sizeof(actor), "u%d", i);
		put(f, "x", "denied", "svc", actor, "10.0.0.1", T0 + i, 1);
	}
	tick(f);
	assert_int_equal(nfired(f), 0);
	/* a second event of the most recent actor still fires "two" */
	put(f, "x", "denied", "svc", "u299", "10.0.0.1", T0 + 400, 1);
	tick(f);
	assert_int_equal(nfired(f), 1);
	fx_free(f);
}

/* Group keys past GROUP_KEY_MAX (256) bytes are kept cut: they are looked
 * up cut too, so a long actor id still makes a group that fires.  The table
 * used to look them up whole (never finding them) and to unlink evicted
 * groups from the chain of the cut key, leaving freed groups on the chain of
 * the whole one (ASan saw the use after free). */
static void test_threshold_long_group_keys(void **state)
{
	struct fx *f = fx_new(0);
	char actor[320];
	int i;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_big\",\"name\":\"big\",\"kind\":\"threshold\","
		    "\"filter\":{\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":10000,\"window_seconds\":60,\"group_by\":\"actor\"}}");
	add_rule(f, "{\"id\":\"r_two\",\"name\":\"two\",\"kind\":\"threshold\","
		    "\"filter\":{\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":2,\"window_seconds\":60,\"group_by\":\"actor\"}}");
	memset(actor, 'a', 300);
	actor[300] = 0;
	/* 400 distinct 300-byte actors once each: groups evicted all along */
	for (i = 0; i < 400; i++) {
		snprintf(actor, sizeof(actor), "%020d", i);
		actor[20] = 'a';
		put(f, "x", "denied", "svc", actor, "10.0.0.1", T0 + i, 1);
	}
	tick(f);
	assert_int_equal(nfired(f), 0);
	/* the last one again: its group is found and "two" fires */
	put(f, "x", "denied", "svc", actor, "10.0.0.1", T0 + 500, 1);
	tick(f);
	assert_int_equal(nfired(f), 1);
	fx_free(f);
}

static void test_absence(void **state)
{
	struct fx *f = fx_new(0);
	json_t *al;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_a\",\"name\":\"billing silent\",\"kind\":\"absence\","
		    "\"absence\":{\"service\":\"billing\",\"seconds\":300}}");
	/* other services do not count as billing activity */
	put(f, "x", "success", "auth", "a", "10.0.0.1", T0 + 100 * SEC, 1);
	f->now = T0 + 299 * SEC;
	tick(f);
	assert_int_equal(nfired(f), 0);
	f->now = T0 + 300 * SEC;
	tick(f);
	assert_int_equal(nfired(f), 1);
	f->now = T0 + 400 * SEC;
	tick(f);
	assert_int_equal(nfired(f), 1); /* once, not every tick */
	/* the fired event (service logseal) came back and was ignored */
	assert_int_equal(f->emitted, 1);
	/* billing logs again: re-armed */
	f->now = T0 + 450 * SEC;
	put(f, "invoice.create", "success", "billing", "svc", "10.0.0.9", T0 + 450 * SEC, 1);
	f->now = T0 + 749 * SEC;
	tick(f);
	assert_int_equal(nfired(f), 1);
	f->now = T0 + 750 * SEC;
	tick(f);
	assert_int_equal(nfired(f), 2);
	al = fired(f);
	{
		json_t *last = json_array_get(json_object_get(al, "alerts"), 0);
		assert_int_equal(json_integer_value(json_object_get(last, "since_us")),
				 T0 + 450 * SEC);
		assert_string_equal(json_string_value(json_object_get(last, "service")), "billing");
	}
	json_decref(al);
	fx_free(f);
}

/* ------------------------------------------------------------ forgeries */

static uint64_t put_raw(struct fx *f, const char *text);

/*
 * Entries that claim to be the server's (service logseal, logseal.* actions)
 * but carry a writer - a journal from before the reservation, or anything a
 * token wrote - neither restore engine state nor fire the rules about the
 * server's own events.  The forged logseal.alert.fired with a huge since_us
 * used to keep an absence rule from ever firing.
 */
static void test_forged_server_events(void **state)
{
	struct fx *f = fx_new(1);
	char buf[1024], tbuf[40];
	int i;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_a\",\"name\":\"billing silent\",\"kind\":\"absence\","
		    "\"absence\":{\"service\":\"billing\",\"seconds\":300}}");
	add_rule(f, "{\"id\":\"r_self\",\"name\":\"logseal silent\",\"kind\":\"absence\","
		    "\"absence\":{\"service\":\"logseal\",\"seconds\":300}}");
	put(f, "invoice.create", "success", "billing", "svc", "10.0.0.9", T0 + 10 * SEC, 1);
	event_format_time(T0 + 20 * SEC, tbuf, sizeof(tbuf));
	snprintf(buf, sizeof(buf),
		 "{\"action\":\"logseal.alert.fired\",\"actor\":{\"id\":\"logseal\"},"
		 "\"details\":{\"id\":\"r_a@since:9\",\"rule\":{\"id\":\"r_a\"},"
		 "\"since_us\":4611686018427387904},\"outcome\":\"success\",\"received\":\"%s\","
		 "\"service\":\"logseal\",\"writer\":\"tok_0123456789abcdef\"}",
		 tbuf);
	put_raw(f, buf);
	/* forged token change and denials of the server: no default fires */
	snprintf(buf, sizeof(buf),
		 "{\"action\":\"logseal.token.create\",\"actor\":{\"id\":\"admin\"},"
		 "\"outcome\":\"success\",\"received\":\"%s\",\"service\":\"logseal\","
		 "\"source\":{\"ip\":\"127.0.0.1\"},\"writer\":\"tok_0123456789abcdef\"}",
		 tbuf);
	put_raw(f, buf);
	for (i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf),
			 "{\"action\":\"logseal.auth.denied\",\"actor\":{\"id\":\"u%d\"},"
			 "\"outcome\":\"denied\",\"received\":\"%s\",\"service\":\"logseal\","
			 "\"source\":{\"ip\":\"192.0.2.1\"},\"writer\":\"tok_0123456789abcdef\"}",
			 i, tbuf);
		put_raw(f, buf);
	}
	f->now = T0 + 200 * SEC;
	tick(f);
	assert_int_equal(nfired(f), 0);
	/* billing silent for 300 s since its last real event: fires */
	f->now = T0 + 310 * SEC;
	tick(f);
	{
		json_t *al = fired(f), *v;
		size_t k;
		int billing = 0, self = 0;

		json_array_foreach(json_object_get(al, "alerts"), k, v) {
			const char *rid = json_string_value(
				json_object_get(json_object_get(v, "rule"), "id"));
			billing += !strcmp(rid, "r_a");
			self += !strcmp(rid, "r_self");
			assert_true(!strcmp(rid, "r_a") || !strcmp(rid, "r_self"));
		}
		/* the forged logseal events were no activity of the server either */
		assert_int_equal(billing, 1);
		assert_int_equal(self, 1);
		json_decref(al);
	}
	/* a match rule of a user on the server's actions: forged ones don't count */
	add_rule(f, "{\"id\":\"r_reads\",\"name\":\"reads\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"logseal.events.*\"}}");
	snprintf(buf, sizeof(buf),
		 "{\"action\":\"logseal.events.query\",\"actor\":{\"id\":\"x\"},"
		 "\"outcome\":\"success\",\"received\":\"%s\",\"service\":\"logseal\","
		 "\"writer\":\"tok_0123456789abcdef\"}",
		 tbuf);
	put_raw(f, buf);
	put(f, "logseal.events.query", "success", "logseal", "tok_a", "127.0.0.1", T0 + 320 * SEC,
	    1);
	tick(f);
	assert_int_equal(nfired(f), 3);
	fx_free(f);
}

/* ------------------------------------------------------------ state at rest */

/*
 * In an encrypted data directory state.json names no actor: a fired
 * alert's group is kept as a keyed hash, and the listing gets the group
 * back from the logged alert after a restart.
 */
static void test_state_blinds_groups(void **state)
{
	struct keys_source src = { KEYS_SRC_ENV, NULL };
	struct ls_err err = { { 0 } };
	struct fx *f = calloc(1, sizeof(*f));
	char path[128], *saved;
	size_t slen;
	json_t *al;

	(void)state;
	assert_non_null(f);
	pthread_mutex_init(&f->log_mu, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_alert.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
	setenv(KEYS_ENV, "ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg=", 1);
	if (keys_init(f->dir, &src, 0, &err) != LS_OK)
		fail_msg("keys_init: %s", err.msg);
	assert_int_equal(journal_open(f->jdir, NULL, &f->j, NULL, NULL), LS_OK);
	assert_true(journal_key_id(f->j) > 0);
	f->now = T0;
	snprintf(path, sizeof(path), "%s/alerts", f->dir);
	assert_int_equal(fs_mkdirs(path, 0700, NULL), LS_OK);
	/* an encrypted directory's alert files carry their integrity seal */
	snprintf(path, sizeof(path), "%s/alerts/rules.json", f->dir);
	assert_int_equal(cfgseal_write_file(f->dir, CFGSEAL_ALERTS, path,
					    "{\"version\":1,\"rules\":[]}", 24, 0600, NULL),
			 LS_OK);
	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_t\",\"name\":\"two denials\",\"kind\":\"threshold\","
		    "\"filter\":{\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":2,\"window_seconds\":60,\"group_by\":\"actor\"}}");
	add_rule(f, "{\"id\":\"r_ip\",\"name\":\"two from one address\",\"kind\":\"threshold\","
		    "\"filter\":{\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":2,\"window_seconds\":60,\"group_by\":\"source_ip\"}}");
	put(f, "x", "denied", "svc", "alice-secret-7", "198.51.100.77", T0 + SEC, 1);
	put(f, "x", "denied", "svc", "alice-secret-7", "198.51.100.77", T0 + 2 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 2);
	assert_int_equal(f->emitted, 2);
	assert_int_equal(alert_close(f->a, NULL), LS_OK);
	f->a = NULL;

	snprintf(path, sizeof(path), "%s/alerts/state.json", f->dir);
	assert_int_equal(fs_read_file(path, 1 << 20, &saved, &slen, NULL), LS_OK);
	if (memmem(saved, slen, "alice-secret-7", 14) || memmem(saved, slen, "198.51.100.77", 13))
		fail_msg("state.json names the actor or address in the clear:\n%.*s", (int)slen,
			 saved);
	assert_non_null(memmem(saved, slen, "\"group_hash\"", 12));
	free(saved);

	/* restart: the listing shows the groups again (from the logged alerts) */
	fx_open_alert(f);
	al = fired(f);
	{
		json_t *v;
		size_t k;
		int actor = 0, ip = 0;

		json_array_foreach(json_object_get(al, "alerts"), k, v) {
			const char *g = json_string_value(json_object_get(v, "group"));

			assert_non_null(g);
			actor += !strcmp(g, "alice-secret-7");
			ip += !strcmp(g, "198.51.100.77");
			assert_null(json_object_get(v, "group_hash"));
		}
		assert_int_equal(actor, 1);
		assert_int_equal(ip, 1);
	}
	json_decref(al);
	fx_free(f);
	unsetenv(KEYS_ENV);
}

/* ------------------------------------------------------------ restart */

static void test_restart(void **state)
{
	struct fx *f = fx_new(0);
	char spath[128], *saved;
	size_t slen;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_t\",\"name\":\"three denials\",\"kind\":\"threshold\","
		    "\"filter\":{\"outcome\":\"denied\"},"
		    "\"threshold\":{\"count\":3,\"window_seconds\":60,\"group_by\":\"actor\"}}");
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"deletes\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.delete\"}}");
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	put(f, "x", "denied", "svc", "alice", "10.0.0.1", T0 + 1 * SEC, 1);
	put(f, "x", "denied", "svc", "alice", "10.0.0.1", T0 + 2 * SEC, 1);
	tick(f);
	assert_int_equal(nfired(f), 1);
	assert_int_equal(f->emitted, 1);
	assert_int_equal(alert_close(f->a, NULL), LS_OK);
	f->a = NULL;

	/* while the engine is down, the log goes on */
	put(f, "x", "denied", "svc", "alice", "10.0.0.1", T0 + 3 * SEC, 0);
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0 + 4 * SEC, 0);
	fx_open_alert(f); /* catches up from state.json's index */
	assert_int_equal(nfired(f), 3); /* restored one + threshold (window rebuilt) + match */
	tick(f);
	assert_int_equal(f->emitted, 3); /* the first one was not emitted again */

	/* crash between emit and state save: keep state.json from before */
	snprintf(spath, sizeof(spath), "%s/alerts/state.json", f->dir);
	tick(f);
	assert_int_equal(fs_read_file(spath, 1 << 20, &saved, &slen, NULL), LS_OK);
	put(f, "file.delete", "success", "fs", "carol", "10.0.0.1", T0 + 5 * SEC, 1);
	tick(f);
	assert_int_equal(f->emitted, 4);
	assert_int_equal(alert_close(f->a, NULL), LS_OK);
	f->a = NULL;
	assert_int_equal(fs_write_file(spath, saved, slen, 0600, 0, NULL), LS_OK);
	free(saved);
	fx_open_alert(f);
	/* the replay fires carol's delete again, then meets its logged event */
	tick(f);
	tick(f);
	assert_int_equal(f->emitted, 4);
	assert_int_equal(nfired(f), 4);
	fx_free(f);
}

static void test_emit_failure_retried(void **state)
{
	struct fx *f = fx_new(0);
	struct alert_counters c;
	json_t *al;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"deletes\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.delete\"}}");
	f->fail_emit = 1;
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	tick(f);
	tick(f);
	alert_get_counters(f->a, &c);
	assert_int_equal(c.emit_failures_total, 2);
	assert_int_equal(f->emitted, 0);
	f->fail_emit = 0;
	tick(f);
	assert_int_equal(f->emitted, 1);
	al = fired(f);
	assert_true(json_is_integer(
		json_object_get(json_array_get(json_object_get(al, "alerts"), 0), "log_index")));
	json_decref(al);
	fx_free(f);
}

static void test_thread_and_gap(void **state)
{
	struct fx *f = fx_new(0);
	struct alert_counters c;
	int i;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"deletes\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.delete\"}}");
	assert_int_equal(alert_start(f->a, NULL), LS_OK);
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	/* two entries the observer never reported (a dropped batch) */
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 0);
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 0);
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	for (i = 0; i < 100 && __atomic_load_n(&f->emitted, __ATOMIC_SEQ_CST) < 4; i++) {
		assert_int_equal(alert_drain(f->a, 5000), LS_OK);
		usleep(20000);
	}
	assert_int_equal(f->emitted, 4);
	assert_int_equal(nfired(f), 4);
	assert_int_equal(alert_drain(f->a, 5000), LS_OK);
	alert_get_counters(f->a, &c);
	assert_int_equal(c.evaluated, journal_size(f->j));
	fx_free(f);
}

/* ------------------------------------------------------------ webhooks */

#define SECRET "s3cret-for-tests"

struct receiver {
	int fd;
	int port;
	int fail_first;	/* answer 500 to the first N requests */
	int hang;	/* never answer */
	int stop;
	int requests;
	int bad_sig;
	char last_body[8192];
	pthread_t th;
	pthread_mutex_t mu;
};

static const char *hdr_value(const char *head, const char *name)
{
	const char *p = strcasestr(head, name);

	return p ? p + strlen(name) : NULL;
}

static void serve_one(struct receiver *r, int c)
{
	char buf[16384], sig[65], want[80];
	const char *p, *body;
	size_t got = 0, clen = 0, hlen;
	ssize_t k;
	int ok_sig;

	for (;;) {
		struct pollfd pf = { c, POLLIN, 0 };
		if (poll(&pf, 1, 200) <= 0) {
			if (__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST))
				return;
			continue;
		}
		k = read(c, buf + got, sizeof(buf) - 1 - got);
		if (k <= 0)
			return;
		got += (size_t)k;
		buf[got] = 0;
		body = strstr(buf, "\r\n\r\n");
		if (!body)
			continue;
		body += 4;
		hlen = (size_t)(body - buf);
		p = hdr_value(buf, "\r\nContent-Length: ");
		clen = p ? strtoul(p, NULL, 10) : 0;
		if (got >= hlen + clen)
			break;
	}
	pthread_mutex_lock(&r->mu);
	r->requests++;
	snprintf(r->last_body, sizeof(r->last_body), "%.*s", (int)clen, body);
	{
		struct webhook_cfg w = { .secret = SECRET, .secret_len = strlen(SECRET) };
		webhook_sign(&w, body, clen, sig);
		snprintf(want, sizeof(want), "sha256=%s\r\n", sig);
		p = hdr_value(buf, "\r\nX-Logseal-Signature: ");
		ok_sig = p && !strncmp(p, want, strlen(want)) &&
			 hdr_value(buf, "\r\nX-Logseal-Timestamp: ");
		if (!ok_sig)
			r->bad_sig++;
	}
	k = r->requests;
	pthread_mutex_unlock(&r->mu);
	if (r->hang) {
		while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST) && read(c, buf, 1) > 0)
			;
		return;
	}
	if (!ok_sig || k <= r->fail_first)
		p = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	else
		p = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	if (write(c, p, strlen(p)) < 0)
		return;
}

static void *receiver_main(void *p)
{
	struct receiver *r = p;

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		struct pollfd pf = { r->fd, POLLIN, 0 };
		int c;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		c = accept(r->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(r, c);
		close(c);
	}
	return NULL;
}

static void receiver_start(struct receiver *r, int fail_first, int hang)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(r, 0, sizeof(*r));
	r->fail_first = fail_first;
	r->hang = hang;
	pthread_mutex_init(&r->mu, NULL);
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->fd, 16), 0);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&sa, &sl), 0);
	r->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&r->th, NULL, receiver_main, r), 0);
}

static void receiver_stop(struct receiver *r)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(r->th, NULL);
	close(r->fd);
	pthread_mutex_destroy(&r->mu);
}

static json_t *hook_cfg(int port, unsigned timeout_ms)
{
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
	return json_pack("[{sssssssssi}]", "name", "ops", "url", url, "secret", SECRET, "format",
			 "json", "timeout_ms", (int)timeout_ms);
}

static void test_webhook_retries_then_delivers(void **state)
{
	struct fx *f = fx_new(0);
	struct receiver r;
	struct alert_counters c;
	json_t *al, *a0, *h0, *body;

	receiver_start(&r, 2, 0);
	f->webhooks = hook_cfg(r.port, 2000);
	f->allow = "127.0.0.1";
	f->attempts = 5;
	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"deletes\",\"kind\":\"match\",\"severity\":"
		    "\"high\",\"filter\":{\"action\":\"file.delete\"},\"webhooks\":[\"ops\"]}");
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	tick(f);
	assert_int_equal(alert_drain(f->a, 10000), LS_OK);
	receiver_stop(&r);
	assert_int_equal(r.requests, 3);
	assert_int_equal(r.bad_sig, 0);
	body = json_loads(r.last_body, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "alert"), "id")),
			    "r_m@0");
	assert_true(json_is_integer(json_object_get(body, "timestamp")));
	assert_true(json_is_integer(
		json_object_get(json_object_get(body, "alert"), "log_index")));
	json_decref(body);
	al = fired(f);
	a0 = json_array_get(json_object_get(al, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(a0, "state")), "delivered");
	h0 = json_array_get(json_object_get(a0, "webhooks"), 0);
	assert_int_equal(json_integer_value(json_object_get(h0, "attempts")), 3);
	json_decref(al);
	alert_get_counters(f->a, &c);
	assert_int_equal(c.webhook_deliveries_total, 1);
	assert_int_equal(c.webhook_attempt_failures_total, 2);
	assert_int_equal(c.webhook_failures_total, 0);
	fx_free(f);
}

/* Cluster: every node's engine fires the same alert; the node whose event
 * the log kept delivers its webhooks, the others do not (one page per
 * alert).  Learnt from the emit (the key gave another node's event back)
 * or from the feed (another node's event arrived first). */
static void test_webhook_other_node(void **state)
{
	struct fx *f = fx_new(0);
	struct receiver r;
	char buf[1024], tbuf[40];
	json_t *al, *v, *h0;
	size_t k;
	int seen = 0;

	receiver_start(&r, 0, 0);
	f->webhooks = hook_cfg(r.port, 2000);
	f->allow = "127.0.0.1";
	f->node = "node-a";
	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"deletes\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.delete\"},\"webhooks\":[\"ops\"]}");
	add_rule(f, "{\"id\":\"r_n\",\"name\":\"moves\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.move\"},\"webhooks\":[\"ops\"]}");
	add_rule(f, "{\"id\":\"r_o\",\"name\":\"copies\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.copy\"},\"webhooks\":[\"ops\"]}");
	/* r_m@0: node-b's event arrives (feed) before this node emits */
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	event_format_time(T0, tbuf, sizeof(tbuf));
	snprintf(buf, sizeof(buf),
		 "{\"action\":\"logseal.alert.fired\",\"actor\":{\"id\":\"logseal\"},"
		 "\"details\":{\"id\":\"r_m@0\",\"node\":\"node-b\",\"rule\":{\"id\":\"r_m\"}},"
		 "\"outcome\":\"success\",\"received\":\"%s\",\"service\":\"logseal\"}",
		 tbuf);
	put_raw(f, buf);
	/* r_n@2: this node's own event (a replay after a crash): delivered */
	put(f, "file.move", "success", "fs", "bob", "10.0.0.1", T0, 1);
	snprintf(buf, sizeof(buf),
		 "{\"action\":\"logseal.alert.fired\",\"actor\":{\"id\":\"logseal\"},"
		 "\"details\":{\"id\":\"r_n@2\",\"node\":\"node-a\",\"rule\":{\"id\":\"r_n\"}},"
		 "\"outcome\":\"success\",\"received\":\"%s\",\"service\":\"logseal\"}",
		 tbuf);
	put_raw(f, buf);
	tick(f);
	assert_int_equal(f->emitted, 0);
	/* r_o@4: emitted here, but the log gave another node's event back */
	f->emit_elsewhere = 1;
	put(f, "file.copy", "success", "fs", "bob", "10.0.0.1", T0, 1);
	tick(f);
	assert_int_equal(f->emitted, 1);
	assert_int_equal(alert_drain(f->a, 10000), LS_OK);
	receiver_stop(&r);
	assert_int_equal(r.requests, 1);
	assert_non_null(strstr(r.last_body, "r_n@2"));
	al = fired(f);
	json_array_foreach(json_object_get(al, "alerts"), k, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *st = json_string_value(json_object_get(v, "state"));

		h0 = json_array_get(json_object_get(v, "webhooks"), 0);
		if (!strcmp(id, "r_n@2")) {
			assert_string_equal(st, "delivered");
		} else {
			assert_string_equal(st, "other_node");
			assert_string_equal(json_string_value(json_object_get(h0, "state")),
					    "other_node");
			if (!strcmp(id, "r_m@0"))
				assert_string_equal(
					json_string_value(json_object_get(h0, "node")), "node-b");
		}
		seen++;
	}
	assert_int_equal(seen, 3);
	json_decref(al);
	fx_free(f);
}

static void test_webhook_never_answers(void **state)
{
	struct fx *f = fx_new(0);
	struct receiver r;
	struct alert_counters c;
	json_t *al, *a0, *h0;

	receiver_start(&r, 0, 1);
	f->webhooks = hook_cfg(r.port, 300);
	f->allow = "127.0.0.1";
	f->attempts = 2;
	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"deletes\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.delete\"},\"webhooks\":[\"ops\"]}");
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	tick(f);
	assert_int_equal(alert_drain(f->a, 10000), LS_OK);
	receiver_stop(&r);
	assert_int_equal(r.requests, 2);
	al = fired(f);
	a0 = json_array_get(json_object_get(al, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(a0, "state")), "failed");
	h0 = json_array_get(json_object_get(a0, "webhooks"), 0);
	assert_int_equal(json_integer_value(json_object_get(h0, "attempts")), 2);
	/* the reader learns that it failed, not how (webhook.h invariant 7) */
	assert_string_equal(json_string_value(json_object_get(h0, "last_error")),
			    "delivery failed");
	json_decref(al);
	alert_get_counters(f->a, &c);
	assert_int_equal(c.webhook_failures_total, 1);
	assert_int_equal(c.webhook_deliveries_total, 0);
	fx_free(f);
}

/* A target that passed no creation check (a configured name may resolve
 * elsewhere later: DNS rebinding) is refused at delivery, before any
 * connection: the receiver on loopback never sees a request. */
static void test_webhook_refused_at_delivery(void **state)
{
	struct fx *f = fx_new(0);
	struct receiver r;
	json_t *al, *a0, *h0;

	receiver_start(&r, 0, 0);
	f->webhooks = hook_cfg(r.port, 300);
	f->attempts = 2;
	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_m\",\"name\":\"deletes\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"file.delete\"},\"webhooks\":[\"ops\"]}");
	put(f, "file.delete", "success", "fs", "bob", "10.0.0.1", T0, 1);
	tick(f);
	assert_int_equal(alert_drain(f->a, 10000), LS_OK);
	receiver_stop(&r);
	assert_int_equal(r.requests, 0);
	al = fired(f);
	a0 = json_array_get(json_object_get(al, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(a0, "state")), "failed");
	h0 = json_array_get(json_object_get(a0, "webhooks"), 0);
	assert_non_null(strstr(json_string_value(json_object_get(h0, "last_error")),
			       "not allowed (loopback)"));
	json_decref(al);
	fx_free(f);
}

static void test_webhook_config(void **state)
{
	struct fx *f = fx_new(0);
	struct ls_err err = { { 0 } };
	struct webhook_cfg w;
	json_t *j, *list, *rule, *body;
	char path[128], *s;
	struct stat st;
	size_t i;
	const char *bad[] = {
		"{\"name\":\"a\",\"url\":\"ftp://x/\",\"secret\":\"k\"}",
		"{\"name\":\"a\",\"url\":\"file:///etc/passwd\",\"secret\":\"k\"}",
		"{\"name\":\"a\",\"url\":\"http://\",\"secret\":\"k\"}",
		"{\"name\":\"a\",\"url\":\"http://x/ y\",\"secret\":\"k\"}",
		"{\"name\":\"a b\",\"url\":\"http://x/\",\"secret\":\"k\"}",
		"{\"name\":\"a\",\"url\":\"http://x/\"}",
		"{\"name\":\"a\",\"url\":\"http://x/\",\"secret\":\"k\",\"format\":\"xml\"}",
		"{\"name\":\"a\",\"url\":\"http://x/\",\"secret\":\"k\",\"timeout_ms\":1}",
	};

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		if (webhook_cfg_parse(j, &w, &err) != LS_INVALID)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(strstr(err.msg, "webhook."));
		webhook_cfg_release(&w);
		json_decref(j);
	}
	fx_open_alert(f);
	/* a rule naming an unknown webhook is refused */
	rule = json_loads("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a\"},"
			  "\"webhooks\":[\"chat\"]}",
			  0, NULL);
	assert_int_equal(alert_rule_add(f->a, rule, NULL, &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "webhooks[0]"));
	j = json_loads("{\"name\":\"chat\",\"url\":\"https://198.51.100.10/T1\","
		       "\"format\":\"slack\"}",
		       0, NULL);
	assert_int_equal(alert_webhook_set(f->a, j, &err), LS_OK);
	assert_int_equal(alert_rule_add(f->a, rule, NULL, &err), LS_OK);
	json_decref(rule);
	snprintf(path, sizeof(path), "%s/alerts/webhooks.json", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(alert_webhooks_list(f->a, &list), LS_OK);
	assert_int_equal(json_array_size(json_object_get(list, "webhooks")), 1);
	json_decref(list);
	/* slack format: {"text": ...} */
	assert_int_equal(webhook_cfg_parse(j, &w, &err), LS_OK);
	s = webhook_body(&w, NULL, "logseal alert [high] x", 5);
	body = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "text")),
			    "logseal alert [high] x");
	assert_int_equal(json_object_size(body), 1);
	json_decref(body);
	free(s);
	webhook_cfg_release(&w);
	json_decref(j);
	/* loopback is refused without the operator's allow list */
	j = json_loads("{\"name\":\"sig\",\"url\":\"http://127.0.0.1:9/\",\"secret\":\"k1\"}", 0,
		       NULL);
	assert_int_equal(alert_webhook_set(f->a, j, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "loopback"));
	json_decref(j);
	/* a secret shown by the list is masked */
	j = json_loads("{\"name\":\"sig\",\"url\":\"http://198.51.100.9:9/\",\"secret\":\"k1\"}",
		       0, NULL);
	assert_int_equal(alert_webhook_set(f->a, j, &err), LS_OK);
	json_decref(j);
	assert_int_equal(alert_webhooks_list(f->a, &list), LS_OK);
	s = json_dumps(list, 0);
	assert_null(strstr(s, "k1"));
	free(s);
	json_decref(list);
	/* the signature is HMAC-SHA256(secret, body): RFC 4231 test case 2 */
	{
		struct webhook_cfg k = { .secret = "Jefe", .secret_len = 4 };
		char sig[65];
		const char *msg = "what do ya want for nothing?";
		webhook_sign(&k, msg, strlen(msg), sig);
		assert_string_equal(sig, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b9"
					 "64ec3843");
	}
	fx_free(f);
}

static void test_rule_delete_and_persist(void **state)
{
	struct fx *f = fx_new(1);
	struct ls_err err = { { 0 } };
	json_t *rules;

	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_x\",\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"action\":\"a\"}}");
	{
		json_t *dup = json_loads("{\"id\":\"r_x\",\"name\":\"y\",\"kind\":\"match\","
					 "\"filter\":{\"action\":\"b\"}}",
					 0, NULL);
		assert_int_equal(alert_rule_add(f->a, dup, NULL, &err), LS_EXISTS);
		json_decref(dup);
	}
	assert_int_equal(alert_rule_delete(f->a, "r_default_actor_denials", &err), LS_OK);
	assert_int_equal(alert_rule_delete(f->a, "r_nope", &err), LS_NOTFOUND);
	assert_int_equal(alert_close(f->a, NULL), LS_OK);
	f->a = NULL;
	fx_open_alert(f);
	assert_int_equal(alert_rules_list(f->a, &rules), LS_OK);
	/* the 4 defaults and r_x, less the one deleted */
	assert_int_equal(json_array_size(json_object_get(rules, "rules")), 4);
	json_decref(rules);
	fx_free(f);
}

/* ------------------------------------------------------------ entry fields */

/* Append arbitrary bytes to the journal and feed them: returns the index. */
static uint64_t put_raw(struct fx *f, const char *text)
{
	struct iovec iov = { (void *)text, strlen(text) };
	uint64_t idx;

	pthread_mutex_lock(&f->log_mu);
	assert_int_equal(journal_append(f->j, &iov, 1, &idx, NULL), LS_OK);
	alert_feed(f->a, idx, &iov, 1);
	pthread_mutex_unlock(&f->log_mu);
	return idx;
}

/* When every enabled rule names a service, outcome or action, entries
 * without one of those (as their canonical bytes) are passed over
 * unparsed; the rules still decide for any entry that holds the bytes
 * elsewhere, and values that need escaping match. */
static void test_service_prefilter(void **state)
{
	struct fx *f = fx_new(0);
	struct alert_counters c;
	json_t *o;

	(void)state;
	fx_open_alert(f);
	add_rule(f, "{\"id\":\"r_b\",\"name\":\"billing x\",\"kind\":\"match\","
		    "\"filter\":{\"service\":\"bil\\\"ling/\\u00e9\",\"action\":\"x.*\"}}");
	/* of the watched service (escaped in the entry as it is canonically) */
	put_raw(f, "{\"action\":\"x.a\",\"outcome\":\"success\",\"service\":\"bil\\\"ling/\xc3\xa9\"}");
	/* another service, the watched one only in its details: parsed, no match */
	put_raw(f, "{\"action\":\"x.b\",\"details\":{\"service\":\"bil\\\"ling/\xc3\xa9\"},"
		   "\"outcome\":\"success\",\"service\":\"web\"}");
	/* other services: passed over */
	put_raw(f, "{\"action\":\"x.c\",\"outcome\":\"success\",\"service\":\"web\"}");
	put_raw(f, "{\"action\":\"x.d\",\"outcome\":\"success\",\"service\":\"billing\"}");
	put_raw(f, "not json at all");
	tick(f);
	assert_int_equal(nfired(f), 1);
	o = fired(f);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(json_object_get(o, "alerts"), 0),
						    "rule"),
				    "id")),
			    "r_b");
	json_decref(o);
	alert_get_counters(f->a, &c);
	/* 5 entries and the fired event evaluated; parsed: the match, the
	 * details one, and the fired event (its action's bytes) */
	assert_int_equal(c.evaluated, 6);
	assert_int_equal(c.parsed, 3);
	/* rules on an outcome and on an action prefix: their bytes decide */
	add_rule(f, "{\"id\":\"r_den\",\"name\":\"denied\",\"kind\":\"match\","
		    "\"filter\":{\"outcome\":\"denied\"}}");
	add_rule(f, "{\"id\":\"r_y\",\"name\":\"any y\",\"kind\":\"match\","
		    "\"filter\":{\"action\":\"y.*\"}}");
	put_raw(f, "{\"action\":\"y.a\",\"outcome\":\"success\",\"service\":\"web\"}");
	put_raw(f, "{\"action\":\"z.a\",\"outcome\":\"denied\",\"service\":\"web\"}");
	put_raw(f, "{\"action\":\"z.b\",\"outcome\":\"success\",\"service\":\"web\"}");
	tick(f);
	assert_int_equal(nfired(f), 3);
	alert_get_counters(f->a, &c);
	/* + y.a, z.a and their two fired events; z.b passed over */
	assert_int_equal(c.evaluated, 6 + 3 + 2);
	assert_int_equal(c.parsed, 3 + 2 + 2);
	/* a rule naming none of those fields: every entry is parsed */
	add_rule(f, "{\"id\":\"r_zed\",\"name\":\"zed\",\"kind\":\"match\","
		    "\"filter\":{\"actor\":\"zed\"}}");
	put_raw(f, "{\"action\":\"z.c\",\"outcome\":\"success\",\"service\":\"web\"}");
	tick(f);
	alert_get_counters(f->a, &c);
	assert_int_equal(c.evaluated, 12);
	assert_int_equal(c.parsed, 8);
	assert_int_equal(nfired(f), 3);
	fx_free(f);
}

/* '{"action":"user.login","details":' + [[[...]]] nested n deep + rest */
static char *nested(size_t n, const char *head, const char *rest)
{
	size_t hl = strlen(head), rl = strlen(rest), i;
	char *s = malloc(hl + 2 * n + rl + 1);

	assert_non_null(s);
	memcpy(s, head, hl);
	for (i = 0; i < n; i++) {
		s[hl + i] = '[';
		s[hl + n + i] = ']';
	}
	memcpy(s + hl + 2 * n, rest, rl + 1);
	return s;
}

/* head + [0,0,...] with n members + rest */
static char *zeros(size_t n, const char *head, const char *rest)
{
	size_t hl = strlen(head), rl = strlen(rest), i, k;
	char *s = malloc(hl + 2 * n + 2 + rl);

	assert_non_null(s);
	memcpy(s, head, hl);
	k = hl;
	s[k++] = '[';
	for (i = 0; i < n; i++) {
		if (i)
			s[k++] = ',';
		s[k++] = '0';
	}
	s[k++] = ']';
	memcpy(s + k, rest, rl + 1);
	return s;
}

/*
 * Which rules fire for which entry: one match rule per filter field, each
 * entry given as JSON text.  Catches a wrong field mapping (the field
 * under another name, at another depth, or of another type must not
 * match), escapes in keys and values, entries that are not events, and
 * the entries the strict parser refuses but json_loadb accepts.  Every
 * expectation is also checked against alert_rule_matches(), which parses
 * with jansson.
 */
static void test_entry_fields(void **state)
{
	static const char *const rules[] = {
		"{\"id\":\"r_actor\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"actor\":\"alice\"}}",
		"{\"id\":\"r_ip\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"source_ip\":"
		"\"10.0.0.0/8\"}}",
		"{\"id\":\"r_rtype\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"resource_type\":"
		"\"secret\"}}",
		"{\"id\":\"r_outcome\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"outcome\":"
		"\"denied\"}}",
		"{\"id\":\"r_action\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"action\":"
		"\"user.*\"}}",
		"{\"id\":\"r_exact\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"action\":"
		"\"user.logout\"}}",
		"{\"id\":\"r_service\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"service\":"
		"\"billing\"}}",
		"{\"id\":\"r_esc\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"actor\":"
		"\"q\\\"b\\\\s/\\u00e9\"}}",
		"{\"id\":\"r_any\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"action\":\"*\"}}",
		"{\"id\":\"r_num\",\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"resource_type\":"
		"\"2024\"}}",
	};
	enum { ACTOR = 1, IP = 2, RTYPE = 4, OUTCOME = 8, ACTION = 16, EXACT = 32, SERVICE = 64,
	       ESC = 128, ANY = 256, NUM = 512, NRULES = 10 };
#define NEUTRAL "\"action\":\"db.query\",\"actor\":{\"id\":\"bob\",\"type\":\"user\"}," \
		"\"outcome\":\"success\",\"resource\":{\"id\":\"t1\",\"type\":\"table\"}," \
		"\"schema\":\"logseal/v1\",\"service\":\"crm\",\"source\":{\"ip\":\"192.0.2.1\"}"
	char *deep = nested(70, "{\"action\":\"user.login\",\"details\":", "}");
	char *big = zeros(32000, "{\"actor\":{\"id\":\"alice\"},\"details\":", "}");
	struct {
		const char *text;
		unsigned want;
	} cases[] = {
		/* canonical events: a neutral one, then one field at a time */
		{ "{" NEUTRAL "}", ANY },
		{ "{\"action\":\"db.query\",\"actor\":{\"id\":\"alice\",\"type\":\"user\"}}",
		  ACTOR | ANY },
		{ "{\"action\":\"db.query\",\"source\":{\"ip\":\"10.200.3.4\",\"port\":22}}",
		  IP | ANY },
		{ "{\"action\":\"db.query\",\"resource\":{\"id\":\"k\",\"type\":\"secret\"}}",
		  RTYPE | ANY },
		{ "{\"action\":\"db.query\",\"outcome\":\"denied\"}", OUTCOME | ANY },
		{ "{\"action\":\"user.login\"}", ACTION | ANY },
		{ "{\"action\":\"user.logout\"}", ACTION | EXACT | ANY },
		{ "{\"action\":\"users.logout\"}", ANY },
		{ "{\"action\":\"db.query\",\"service\":\"billing\"}", SERVICE | ANY },
		/* the same names nested in details, or in the wrong place or
		 * shape, are not the fields */
		{ "{" NEUTRAL ",\"details\":{\"action\":\"user.login\",\"actor\":{\"id\":\"alice\"},"
		  "\"outcome\":\"denied\",\"resource\":{\"type\":\"secret\"},\"resource_type\":"
		  "\"secret\",\"service\":\"billing\",\"source\":{\"ip\":\"10.1.1.1\"},"
		  "\"source_ip\":\"10.0.0.1\"}}",
		  ANY },
		{ "{\"action\":\"db.query\",\"actor\":\"alice\",\"resource\":{\"name\":\"secret\"},"
		  "\"resource_type\":\"secret\",\"source\":{\"ip\":[\"10.0.0.1\"]},\"source_ip\":"
		  "\"10.0.0.1\"}",
		  ANY },
		{ "{\"action\":\"db.query\",\"actor\":{\"name\":\"alice\"},\"id\":\"alice\",\"ip\":"
		  "\"10.0.0.1\",\"outcome\":[\"denied\"],\"service\":{\"id\":\"billing\"},\"type\":"
		  "\"secret\"}",
		  ANY },
		{ "{\"action\":5,\"outcome\":\"denied\",\"source\":{\"ip\":\"10.0.0.300\"}}",
		  OUTCOME | ANY },
		{ "{\"resource\":{\"type\":2024}}", ANY },
		{ "{\"resource\":{\"type\":\"2024\"}}", NUM | ANY },
		/* escapes in keys and values, white space */
		{ "{\n  \"\\u0061ctor\" : { \"id\" : \"q\\\"b\\\\s\\/\\u00e9\" } ,\n"
		  "  \"action\" : \"user.\\u006cogin\", \"service\":\"bill\\u0069ng\"\n}\n",
		  ESC | ACTION | SERVICE | ANY },
		{ "{\"actor\":{\"id\":\"q\\\"b\\\\s/\xc3\xa9\"}}", ESC | ANY },
		/* not events: nothing matches */
		{ "[{\"action\":\"user.login\"}]", 0 },
		{ "\"user.login\"", 0 },
		{ "{\"action\":\"user.login\"", 0 },
		{ "{\"action\":\"user.login\"} x", 0 },
		{ "not json", 0 },
		{ "{\"action\":\"user.login\",\"actor\":{\"id\":\"al\\u0000ice\"}}", 0 },
		/* refused by jdom, accepted by jansson: duplicate keys (the last
		 * one wins) and deep nesting */
		{ "{\"action\":\"user.login\",\"outcome\":\"denied\",\"action\":\"user.logout\"}",
		  ACTION | EXACT | OUTCOME | ANY },
		{ deep, ACTION | ANY },
		/* the engine's own events are never evaluated */
		{ "{\"action\":\"logseal.alert.test\",\"actor\":{\"id\":\"alice\"},\"service\":"
		  "\"billing\"}",
		  0 },
		/* an entry that makes the dom outgrow what it keeps, then more */
		{ big, ACTOR | ANY },
		{ "{\"action\":\"db.query\",\"outcome\":\"denied\"}", OUTCOME | ANY },
	};
#undef NEUTRAL
	size_t ncases = sizeof(cases) / sizeof(cases[0]), i, k;
	unsigned got[sizeof(cases) / sizeof(cases[0])] = { 0 };
	uint64_t first = 0, idx;
	json_t *checked[NRULES], *al, *v;
	struct fx *f = fx_new(0);

	assert_true(strlen(big) < 65535); /* JOURNAL_MAX_ENTRY */
	fx_open_alert(f);
	for (k = 0; k < NRULES; k++) {
		add_rule(f, rules[k]);
		assert_int_equal(alert_rule_check_text(rules[k], strlen(rules[k]), &checked[k], NULL),
				 LS_OK);
	}
	for (i = 0; i < ncases; i++) {
		idx = put_raw(f, cases[i].text);
		if (i == 0)
			first = idx;
		assert_int_equal(idx, first + i);
		/* the jansson route agrees with the table */
		for (k = 0; k < NRULES; k++) {
			int m = -1;
			alert_rule_matches(checked[k], cases[i].text, strlen(cases[i].text), &m);
			if (m != !!(cases[i].want & (1u << k)))
				fail_msg("case %zu rule %zu: alert_rule_matches says %d", i, k, m);
		}
	}
	al = fired(f);
	json_array_foreach(json_object_get(al, "alerts"), k, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *at = strchr(id, '@');
		unsigned long long n = strtoull(at + 1, NULL, 10);
		size_t r;

		assert_non_null(at);
		assert_true(n >= first && n < first + ncases);
		for (r = 0; r < NRULES; r++)
			if (!strncmp(rules[r] + 7, id, (size_t)(at - id)) &&
			    rules[r][7 + (at - id)] == '"')
				break;
		assert_true(r < NRULES);
		assert_int_equal(got[n - first] & (1u << r), 0); /* once */
		got[n - first] |= 1u << r;
	}
	for (i = 0; i < ncases; i++)
		if (got[i] != cases[i].want)
			fail_msg("case %zu: fired rules %#x, want %#x: %.80s", i, got[i],
				 cases[i].want, cases[i].text);
	json_decref(al);
	for (k = 0; k < NRULES; k++)
		json_decref(checked[k]);
	free(deep);
	free(big);
	fx_free(f);
}

/*
 * The time an entry counts at: "received", else "time", else the engine's
 * clock, on both parse routes.  Seen through absence rules, whose alert
 * carries the time of the service's last event (since_us).
 */
static void test_entry_times(void **state)
{
	struct {
		const char *svc, *text;
		int64_t now, want;
	} cases[] = {
		{ "c1", "{\"received\":\"2023-11-14T22:13:30Z\",\"service\":\"c1\","
			"\"time\":\"2023-11-14T22:13:40Z\"}",
		  T0, T0 + 10 * SEC },
		{ "c2", "{\"service\":\"c2\",\"time\":\"2023-11-14T22:13:50.25Z\"}", T0,
		  T0 + 30 * SEC + 250000 },
		{ "c3", "{\"received\":\"yesterday\",\"service\":\"c3\","
			"\"time\":\"2023-11-14T22:14:00Z\"}",
		  T0, T0 + 40 * SEC },
		{ "c4", "{\"received\":1700000070,\"service\":\"c4\",\"time\":{\"at\":1}}",
		  T0 + 50 * SEC, T0 + 50 * SEC },
		{ "c5", "{\"details\":{\"received\":\"2023-11-14T22:20:00Z\"},\"received\":"
			"\"2023-11-14T22:14:20Z\",\"service\":\"c5\"}",
		  T0, T0 + 60 * SEC },
		/* duplicate keys: jansson's route, the last one wins */
		{ "c6", "{\"received\":\"2023-11-14T22:20:00Z\",\"service\":\"c6\",\"received\":"
			"\"2023-11-14T22:14:30Z\"}",
		  T0, T0 + 70 * SEC },
		{ "c7", NULL, T0, T0 + 80 * SEC },
	};
	size_t n = sizeof(cases) / sizeof(cases[0]), i, k;
	struct fx *f = fx_new(0);
	char rule[256], want[64];
	json_t *al, *v = NULL;

	cases[n - 1].text = nested(70, "{\"details\":", ",\"received\":\"2023-11-14T22:14:40Z\","
						       "\"service\":\"c7\"}");
	fx_open_alert(f);
	for (i = 0; i < n; i++) {
		snprintf(rule, sizeof(rule),
			 "{\"id\":\"r_%s\",\"name\":\"n\",\"kind\":\"absence\",\"absence\":"
			 "{\"service\":\"%s\",\"seconds\":1000}}",
			 cases[i].svc, cases[i].svc);
		add_rule(f, rule);
	}
	for (i = 0; i < n; i++) {
		f->now = cases[i].now;
		put_raw(f, cases[i].text);
	}
	f->now = T0 + 5000 * SEC;
	tick(f);
	al = fired(f);
	assert_int_equal(json_array_size(json_object_get(al, "alerts")), n);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "r_%s@since:%lld", cases[i].svc,
			 (long long)cases[i].want);
		json_array_foreach(json_object_get(al, "alerts"), k, v)
			if (!strcmp(json_string_value(json_object_get(v, "id")), want))
				break;
		if (k == json_array_size(json_object_get(al, "alerts")))
			fail_msg("case %zu: no alert %s", i, want);
		assert_int_equal(json_integer_value(json_object_get(v, "since_us")),
				 cases[i].want);
	}
	json_decref(al);
	free((char *)cases[n - 1].text);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_validation),
		cmocka_unit_test(test_filter_matching),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_match_every_event_no_loop),
		cmocka_unit_test(test_service_prefilter),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_threshold_group_eviction),
		cmocka_unit_test(test_threshold_long_group_keys),
		cmocka_unit_test(test_absence),
		cmocka_unit_test(test_forged_server_events),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_state_blinds_groups),
		cmocka_unit_test(test_emit_failure_retried),
		cmocka_unit_test(test_thread_and_gap),
		cmocka_unit_test(test_webhook_retries_then_delivers),
		cmocka_unit_test(test_webhook_other_node),
		cmocka_unit_test(test_webhook_never_answers),
		cmocka_unit_test(test_webhook_refused_at_delivery),
		cmocka_unit_test(test_webhook_config),
		cmocka_unit_test(test_rule_delete_and_persist),
		cmocka_unit_test(test_entry_fields),
		cmocka_unit_test(test_entry_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
