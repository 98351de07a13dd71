/*
 * test_alert_clock.c - which time a threshold rule counts an event at
 * (alert.h, "Time of an event"): on the event clock (the default) a
 * backfilled burst of old events fires nothing and is counted as late, a
 * real burst fires, a shipper's batch that arrives at once but happened
 * over minutes fires nothing, events out of order within the lateness
 * bound still make a burst, a writer's clock ahead of the server's cannot
 * hold a window open; on the arrival clock the old behaviour stays (the
 * same batch fires); the rule's normalised form and its refusals; and a
 * restart replays to the same decision (both times are in the entry).
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
#include "store/journal.h"

#define T0 1800000000000000LL /* 2027-01-15T08:00:00Z */
#define SEC 1000000LL

struct fx {
	char dir[64], jdir[96];
	struct journal *j;
	struct alert *a;
	int64_t now;
};

static int64_t fake_now(void *ctx)
{
	return ((struct fx *)ctx)->now;
}

static void fx_open(struct fx *f)
{
	struct alert_opts o;
	struct ls_err err = { { 0 } };

	memset(&o, 0, sizeof(o));
	o.now_us = fake_now;
	o.clock_ctx = f;
	o.state_interval_ms = 1;
	assert_int_equal(alert_open(f->dir, &o, &f->a, &err), LS_OK);
	assert_int_equal(alert_catch_up(f->a, f->jdir, journal_size(f->j), &err), LS_OK);
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[160];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_alert_clock.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
	assert_int_equal(journal_open(f->jdir, NULL, &f->j, NULL, NULL), LS_OK);
	snprintf(path, sizeof(path), "%s/alerts", f->dir);
	assert_int_equal(fs_mkdirs(path, 0700, NULL), LS_OK);
	snprintf(path, sizeof(path), "%s/alerts/rules.json", f->dir);
	assert_int_equal(fs_write_file(path, "{\"version\":1,\"rules\":[]}", 24, 0600, 0, NULL),
			 LS_OK);
	f->now = T0;
	fx_open(f);
	return f;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void fx_free(struct fx *f)
{
	assert_int_equal(alert_close(f->a, NULL), LS_OK);
	journal_close(f->j);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
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

/* A denied login of actor that happened at `time` and arrived at `received`. */
static void put(struct fx *f, const char *actor, int64_t time, int64_t received)
{
	char tb[40], rb[40], buf[512];
	struct iovec iov;
	uint64_t idx;

	event_format_time(time, tb, sizeof(tb));
	event_format_time(received, rb, sizeof(rb));
	snprintf(buf, sizeof(buf),
		 "{\"action\":\"user.login\",\"actor\":{\"id\":\"%s\"},\"outcome\":\"denied\","
		 "\"received\":\"%s\",\"service\":\"auth\",\"source\":{\"ip\":\"10.0.0.1\"},"
		 "\"time\":\"%s\",\"writer\":\"tok_0123456789abcdef\"}",
		 actor, rb, tb);
	iov.iov_base = buf;
	iov.iov_len = strlen(buf);
	assert_int_equal(journal_append(f->j, &iov, 1, &idx, NULL), LS_OK);
	alert_feed(f->a, idx, &iov, 1);
}

/* Alerts fired so far (tick first: that is where they are recorded). */
static size_t nfired(struct fx *f)
{
	struct ls_err err = { { 0 } };
	json_t *o;
	size_t n;

	alert_tick(f->a, &err);
	assert_int_equal(alert_fired_list(f->a, 1000, &o), LS_OK);
	n = json_array_size(json_object_get(o, "alerts"));
	json_decref(o);
	return n;
}

static uint64_t late(struct fx *f)
{
	struct alert_counters c;

	alert_get_counters(f->a, &c);
	return c.late_total;
}

#define RULE(clock)                                                                     \
	"{\"id\":\"r_t\",\"name\":\"five denials\",\"kind\":\"threshold\","               \
	"\"filter\":{\"outcome\":\"denied\"},\"threshold\":{\"count\":5,\"window_seconds\":60," \
	"\"group_by\":\"actor\"" clock "}}"

static void test_backfill_does_not_fire(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	add_rule(f, RULE(""));
	/* 200 denials from two days ago, imported in one go */
	for (int i = 0; i < 200; i++)
		put(f, "alice", T0 - 2 * 86400 * SEC + i * SEC, T0 + i);
	assert_int_equal(nfired(f), 0);
	assert_int_equal(late(f), 200);
	/* a real burst, as it happens, still fires: once */
	for (int i = 0; i < 5; i++)
		put(f, "alice", T0 + 10 * SEC + i * SEC, T0 + 10 * SEC + i * SEC + 20000);
	assert_int_equal(nfired(f), 1);
	assert_int_equal(late(f), 200);
	fx_free(f);
}

static void test_batched_shipper(void **state)
{
	struct fx *e = fx_new(), *a = fx_new();

	(void)state;
	add_rule(e, RULE(""));
	add_rule(a, RULE(",\"clock\":\"arrival\""));
	/* five denials 50 s apart (never five in 60 s), shipped together
	 * four minutes later: within the lateness bound, counted at their
	 * times on the event clock; a burst by arrival */
	for (int i = 0; i < 5; i++) {
		put(e, "bob", T0 + i * 50 * SEC, T0 + 240 * SEC + i);
		put(a, "bob", T0 + i * 50 * SEC, T0 + 240 * SEC + i);
	}
	assert_int_equal(nfired(e), 0);
	assert_int_equal(late(e), 0);
	assert_int_equal(nfired(a), 1);
	fx_free(e);
	fx_free(a);
}

static void test_out_of_order_and_future(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	add_rule(f, RULE(""));
	/* five within 60 s of event time, arriving newest first */
	for (int i = 4; i >= 0; i--)
		put(f, "carol", T0 + i * 10 * SEC, T0 + 100 * SEC + (4 - i) * SEC);
	assert_int_equal(nfired(f), 1);
	/* dave's clock is an hour ahead: his times count as their arrival, so
	 * four events now and one 61 s later are not five within 60 s */
	for (int i = 0; i < 4; i++)
		put(f, "dave", T0 + 3600 * SEC, T0 + 200 * SEC + i * SEC);
	put(f, "dave", T0 + 3600 * SEC, T0 + 264 * SEC);
	assert_int_equal(nfired(f), 1);
	/* an event older than the group's window starts none */
	put(f, "erin", T0 + 300 * SEC, T0 + 300 * SEC);
	for (int i = 0; i < 4; i++)
		put(f, "erin", T0 + 200 * SEC, T0 + 301 * SEC + i);
	assert_int_equal(nfired(f), 1);
	fx_free(f);
}

static void test_restart_same_decision(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	add_rule(f, RULE(""));
	for (int i = 0; i < 4; i++)
		put(f, "frank", T0 - 3 * 86400 * SEC, T0 + i * SEC);
	for (int i = 0; i < 4; i++)
		put(f, "frank", T0 + i * SEC, T0 + i * SEC + 1000);
	assert_int_equal(nfired(f), 0);
	assert_int_equal(alert_close(f->a, NULL), LS_OK);
	fx_open(f);	/* the windows are rebuilt from the journal */
	put(f, "frank", T0 + 5 * SEC, T0 + 5 * SEC);
	assert_int_equal(nfired(f), 1);
	fx_free(f);
}

static void test_rule_form(void **state)
{
	static const struct {
		const char *clock;
		ls_rc rc;
	} cases[] = {
		{ "", LS_OK },
		{ ",\"clock\":\"arrival\"", LS_OK },
		{ ",\"clock\":\"event\",\"lateness_seconds\":0", LS_OK },
		{ ",\"clock\":\"wall\"", LS_INVALID },
		{ ",\"clock\":1", LS_INVALID },
		{ ",\"clock\":\"arrival\",\"lateness_seconds\":60", LS_INVALID },
		{ ",\"lateness_seconds\":86401", LS_INVALID },
		{ ",\"lateness_seconds\":-1", LS_INVALID },
	};
	struct ls_err err = { { 0 } };
	char text[512];
	json_t *out = NULL, *t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), RULE("%s"), cases[i].clock);
		assert_int_equal(alert_rule_check_text(text, strlen(text), &out, &err), cases[i].rc);
		if (cases[i].rc != LS_OK) {
			assert_non_null(strstr(err.msg, "threshold."));
			continue;
		}
		t = json_object_get(out, "threshold");
		if (i == 1) {
			assert_string_equal(json_string_value(json_object_get(t, "clock")), "arrival");
			assert_null(json_object_get(t, "lateness_seconds"));
		} else {
			/* the default is written out: a listing says what applies */
			assert_string_equal(json_string_value(json_object_get(t, "clock")), "event");
			assert_int_equal(json_integer_value(json_object_get(t, "lateness_seconds")),
					 i == 0 ? 300 : 0);
		}
		json_decref(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backfill_does_not_fire),
		cmocka_unit_test(test_batched_shipper),
		cmocka_unit_test(test_out_of_order_and_future),
		cmocka_unit_test(test_restart_same_decision),
		cmocka_unit_test(test_rule_form),
	};
	return cmocka_run_group_tests_name("alert_clock", tests, NULL, NULL);
}
