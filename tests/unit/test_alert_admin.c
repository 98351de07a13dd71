/*
 * test_alert_admin.c - the alert engine's management calls (alert.h
 * "management", alert_admin.c): a dry run fires exactly where the engine
 * would (match per event, threshold on the Nth in the window per group and
 * then muted, absence by the newest event's age) and never on the engine's
 * own alerts; a rule is replaced in place, keeps its id, and disabling it
 * stops it firing; a fired alert goes open -> acknowledged -> resolved and
 * no other way; a webhook test to a closed port is a failed delivery in
 * the webhook's history.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "base/fsutil.h"
#include "core/event.h"
#include "followers/alert.h"

#define T0 1700000000000000LL /* 2023-11-14T22:13:20Z */
#define SEC 1000000LL

static int64_t now = T0;
static int64_t fake_now(void *ctx) { (void)ctx; return now; }

/* An event received at t (µs). */
static char *ev(int64_t t, const char *action, const char *outcome, const char *actor,
		const char *service)
{
	char tb[40], *s = malloc(512);

	event_format_time(t, tb, sizeof(tb));
	snprintf(s, 512, "{\"received\":\"%s\",\"time\":\"%s\",\"action\":\"%s\",\"outcome\":\"%s\","
		 "\"actor\":{\"id\":\"%s\"},\"service\":\"%s\",\"writer\":\"tok_w\"}", tb, tb,
		 action, outcome, actor, service);
	return s;
}

static json_t *dry(const char *rule, char **evs, size_t n)
{
	struct iovec iov[16];
	uint64_t idx[16];
	struct ls_err err = { { 0 } };
	json_t *r = json_loads(rule, 0, NULL), *out = NULL;

	assert_non_null(r);
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = evs[i];
		iov[i].iov_len = strlen(evs[i]);
		idx[i] = 100 + i;
	}
	if (alert_rule_dry_run(r, iov, idx, n, now, &out, &err) != LS_OK)
		fail_msg("dry run: %s", err.msg);
	json_decref(r);
	for (size_t i = 0; i < n; i++)
		free(evs[i]);
	return out;
}

static int64_t ival(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void test_dry_run(void **state)
{
	json_t *o, *r;
	struct ls_err err = { { 0 } };
	char *e[8];

	/* match: every matching event, never the engine's own alerts */
	e[0] = ev(T0, "user.login", "denied", "a", "app");
	e[1] = ev(T0, "user.login", "success", "a", "app");
	e[2] = ev(T0, "user.logout", "denied", "b", "app");
	e[3] = ev(T0, "logseal.alert.fired", "denied", "a", "app");
	o = dry("{\"name\":\"m\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"}}", e, 4);
	assert_true(json_is_true(json_object_get(o, "would_fire")));
	assert_int_equal(ival(o, "fires_count"), 2);
	assert_int_equal(ival(o, "matched"), 2);
	assert_int_equal(ival(o, "evaluated"), 3);
	assert_int_equal(ival(json_array_get(json_object_get(o, "fires"), 1), "index"), 102);
	json_decref(o);

	/* threshold 3 in 60 s per actor: a's 3rd within the window fires (index
	 * 104), b never reaches 3, a's next one is muted, one 61 s later is not
	 * enough alone */
	e[0] = ev(T0, "x", "denied", "a", "app");
	e[1] = ev(T0 + 10 * SEC, "x", "denied", "b", "app");
	e[2] = ev(T0 + 20 * SEC, "x", "denied", "a", "app");
	e[3] = ev(T0 + 30 * SEC, "x", "denied", "b", "app");
	e[4] = ev(T0 + 40 * SEC, "x", "denied", "a", "app");
	e[5] = ev(T0 + 50 * SEC, "x", "denied", "a", "app");
	e[6] = ev(T0 + 150 * SEC, "x", "denied", "a", "app");
	o = dry("{\"name\":\"t\",\"kind\":\"threshold\",\"filter\":{\"outcome\":\"denied\"},"
		"\"threshold\":{\"count\":3,\"window_seconds\":60,\"group_by\":\"actor\"}}", e, 7);
	assert_int_equal(ival(o, "fires_count"), 1);
	r = json_array_get(json_object_get(o, "fires"), 0);
	assert_int_equal(ival(r, "index"), 104);
	assert_string_equal(json_string_value(json_object_get(r, "group")), "a");
	json_decref(o);

	/* the window: 3 events spread over more than 60 s do not fire */
	e[0] = ev(T0, "x", "denied", "a", "app");
	e[1] = ev(T0 + 40 * SEC, "x", "denied", "a", "app");
	e[2] = ev(T0 + 70 * SEC, "x", "denied", "a", "app");
	o = dry("{\"name\":\"t\",\"kind\":\"threshold\",\"filter\":{\"outcome\":\"denied\"},"
		"\"threshold\":{\"count\":3,\"window_seconds\":60}}", e, 3);
	assert_true(json_is_false(json_object_get(o, "would_fire")));
	json_decref(o);

	/* absence of service app for 60 s: its newest event is 120 s old */
	now = T0 + 120 * SEC;
	e[0] = ev(T0, "x", "success", "a", "app");
	e[1] = ev(T0 + 110 * SEC, "x", "success", "a", "other");
	o = dry("{\"name\":\"q\",\"kind\":\"absence\",\"absence\":{\"service\":\"app\",\"seconds\":60}}",
		e, 2);
	assert_true(json_is_true(json_object_get(o, "would_fire")));
	assert_int_equal(ival(o, "matched"), 1);
	json_decref(o);
	e[0] = ev(T0 + 100 * SEC, "x", "success", "a", "app");
	o = dry("{\"name\":\"q\",\"kind\":\"absence\",\"absence\":{\"service\":\"app\",\"seconds\":60}}",
		e, 1);
	assert_true(json_is_false(json_object_get(o, "would_fire")));
	json_decref(o);
	now = T0;

	/* an invalid rule is refused naming the field */
	r = json_loads("{\"name\":\"t\",\"kind\":\"threshold\",\"filter\":{\"outcome\":\"denied\"},"
		       "\"threshold\":{\"count\":0,\"window_seconds\":60}}", 0, NULL);
	assert_int_equal(alert_rule_dry_run(r, NULL, NULL, 0, now, &o, &err), LS_INVALID);
	assert_int_equal(strncmp(err.msg, "threshold.count:", 16), 0);
	assert_null(o);
	json_decref(r);
}

/* ------------------------------------------------------------ engine */

static char dir[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static struct alert *open_engine(void)
{
	struct alert_opts o;
	struct alert *a;
	struct ls_err err = { { 0 } };
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/test_alert_admin.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alerts", dir);
	assert_int_equal(fs_mkdirs(path, 0700, NULL), LS_OK);
	snprintf(path, sizeof(path), "%s/alerts/rules.json", dir);
	assert_int_equal(fs_write_file(path, "{\"version\":1,\"rules\":[]}", 24, 0600, 0, NULL), LS_OK);
	memset(&o, 0, sizeof(o));
	o.now_us = fake_now;
	o.webhook_allow = "127.0.0.1";
	if (alert_open(dir, &o, &a, &err) != LS_OK)
		fail_msg("alert_open: %s", err.msg);
	return a;
}

static void close_engine(struct alert *a)
{
	assert_int_equal(alert_close(a, NULL), LS_OK);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t fed;

static void feed(struct alert *a, char *e)
{
	struct iovec iov = { e, strlen(e) };

	alert_feed(a, fed++, &iov, 1);
	free(e);
}

static size_t nfired(struct alert *a, json_t **list)
{
	json_t *o;
	size_t n;

	assert_int_equal(alert_fired_list(a, 1000, &o), LS_OK);
	n = json_array_size(json_object_get(o, "alerts"));
	if (list)
		*list = o;
	else
		json_decref(o);
	return n;
}

static void test_replace_and_disable(void **state)
{
	struct alert *a = open_engine();
	struct ls_err err = { { 0 } };
	json_t *r, *old = NULL, *list;
	char *id = NULL;

	fed = 0;
	r = json_loads("{\"id\":\"r_one\",\"name\":\"one\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"}}",
		       0, NULL);
	assert_int_equal(alert_rule_add(a, r, &id, &err), LS_OK);
	free(id);
	json_decref(r);
	r = json_loads("{\"id\":\"r_two\",\"name\":\"two\",\"kind\":\"match\",\"filter\":{\"outcome\":\"error\"}}",
		       0, NULL);
	assert_int_equal(alert_rule_add(a, r, &id, &err), LS_OK);
	free(id);
	json_decref(r);

	/* edit r_one, without its id in the body: same place, same id, new name */
	r = json_loads("{\"name\":\"one, renamed\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"},"
		       "\"enabled\":false}", 0, NULL);
	assert_int_equal(alert_rule_replace(a, "r_one", r, &old, &err), LS_OK);
	assert_string_equal(json_string_value(json_object_get(old, "name")), "one");
	json_decref(old);
	json_decref(r);
	assert_int_equal(alert_rules_list(a, &list), LS_OK);
	r = json_array_get(json_object_get(list, "rules"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "r_one");
	assert_string_equal(json_string_value(json_object_get(r, "name")), "one, renamed");
	assert_true(json_is_false(json_object_get(r, "enabled")));
	json_decref(list);

	/* disabled: a matching event fires nothing */
	feed(a, ev(T0, "x", "denied", "a", "app"));
	assert_int_equal(nfired(a, NULL), 0);
	/* enabled again: the next one fires */
	r = json_loads("{\"name\":\"one\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"}}", 0, NULL);
	assert_int_equal(alert_rule_replace(a, "r_one", r, NULL, &err), LS_OK);
	json_decref(r);
	feed(a, ev(T0, "x", "denied", "a", "app"));
	assert_int_equal(nfired(a, NULL), 1);

	/* refusals */
	r = json_loads("{\"id\":\"r_other\",\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"}}",
		       0, NULL);
	assert_int_equal(alert_rule_replace(a, "r_one", r, NULL, &err), LS_INVALID);
	assert_int_equal(strncmp(err.msg, "id:", 3), 0);
	assert_int_equal(alert_rule_replace(a, "r_none", r, NULL, &err), LS_INVALID);
	json_decref(r);
	r = json_loads("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"}}", 0, NULL);
	assert_int_equal(alert_rule_replace(a, "r_none", r, NULL, &err), LS_NOTFOUND);
	json_decref(r);
	r = json_loads("{\"name\":\"x\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"},"
		       "\"webhooks\":[\"nope\"]}", 0, NULL);
	assert_int_equal(alert_rule_replace(a, "r_one", r, NULL, &err), LS_INVALID);
	assert_int_equal(strncmp(err.msg, "webhooks[0]:", 12), 0);
	json_decref(r);
	close_engine(a);
}

static void test_status(void **state)
{
	struct alert *a = open_engine();
	struct ls_err err = { { 0 } };
	json_t *r, *out = NULL, *list;
	char *id = NULL, aid[128];

	fed = 0;
	r = json_loads("{\"name\":\"m\",\"kind\":\"match\",\"filter\":{\"outcome\":\"denied\"}}", 0, NULL);
	assert_int_equal(alert_rule_add(a, r, &id, &err), LS_OK);
	json_decref(r);
	feed(a, ev(T0, "x", "denied", "a", "app"));
	assert_int_equal(nfired(a, &list), 1);
	snprintf(aid, sizeof(aid), "%s", json_string_value(json_object_get(
		json_array_get(json_object_get(list, "alerts"), 0), "id")));
	assert_null(json_object_get(json_array_get(json_object_get(list, "alerts"), 0), "status"));
	json_decref(list);

	assert_int_equal(alert_fired_set_status(a, aid, "closed", "tok_x", "why", &out, &err), LS_INVALID);
	assert_int_equal(alert_fired_set_status(a, "r_x@1", "resolved", "tok_x", "why", &out, &err),
			 LS_NOTFOUND);
	assert_int_equal(alert_fired_set_status(a, aid, "acknowledged", "tok_x", "looking", &out, &err),
			 LS_OK);
	assert_string_equal(json_string_value(json_object_get(out, "status")), "acknowledged");
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "acknowledged"), "by")),
			    "tok_x");
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "acknowledged"),
							      "reason")), "looking");
	json_decref(out);
	assert_int_equal(alert_fired_set_status(a, aid, "acknowledged", "tok_x", "again", &out, &err),
			 LS_EXISTS);
	assert_int_equal(alert_fired_set_status(a, aid, "resolved", "tok_y", "fixed", &out, &err), LS_OK);
	json_decref(out);
	assert_int_equal(alert_fired_set_status(a, aid, "acknowledged", "tok_y", "late", &out, &err),
			 LS_EXISTS);
	assert_int_equal(alert_fired_set_status(a, aid, "resolved", "tok_y", "twice", &out, &err),
			 LS_EXISTS);
	/* the listed alert says so */
	assert_int_equal(nfired(a, &list), 1);
	r = json_array_get(json_object_get(list, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "status")), "resolved");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "resolved"), "by")),
			    "tok_y");
	json_decref(list);
	free(id);
	close_engine(a);
}

static void test_webhook_test_history(void **state)
{
	struct alert *a = open_engine();
	struct ls_err err = { { 0 } };
	json_t *w, *out = NULL, *d;

	assert_int_equal(alert_webhook_test(a, "none", &out, &err), LS_NOTFOUND);
	assert_int_equal(alert_webhook_deliveries(a, "none", &out, &err), LS_NOTFOUND);
	/* port 9 (discard) on loopback: nothing listens there in the tests */
	w = json_loads("{\"name\":\"h\",\"url\":\"http://127.0.0.1:9/x\",\"secret\":\"s3cr3t\","
		       "\"timeout_ms\":300}", 0, NULL);
	assert_int_equal(alert_webhook_set(a, w, &err), LS_OK);
	json_decref(w);
	assert_int_equal(alert_webhook_deliveries(a, "h", &out, &err), LS_OK);
	assert_int_equal(json_array_size(json_object_get(out, "deliveries")), 0);
	json_decref(out);
	assert_int_equal(alert_webhook_test(a, "h", &out, &err), LS_OK);
	assert_true(json_is_false(json_object_get(out, "delivered")));
	assert_non_null(json_object_get(out, "error"));
	json_decref(out);
	assert_int_equal(alert_webhook_test(a, "h", &out, &err), LS_OK);
	json_decref(out);
	assert_int_equal(alert_webhook_deliveries(a, "h", &out, &err), LS_OK);
	d = json_object_get(out, "deliveries");
	assert_int_equal(json_array_size(d), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "result")),
			    "test_failed");
	assert_true(json_is_integer(json_object_get(json_array_get(d, 0), "latency_ms")));
	assert_null(json_object_get(json_array_get(d, 0), "status"));
	json_decref(out);
	close_engine(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dry_run),
		cmocka_unit_test(test_replace_and_disable),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_webhook_test_history),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
