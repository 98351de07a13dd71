/*
 * test_denials.c - accounting of refused requests: SipHash-2-4 against the
 * paper's test vector; per source and window the first `burst` denials are
 * logged and the rest counted into one summary whose count makes the total
 * exact; IPv6 sources are grouped by /64 and IPv4-mapped addresses count as
 * IPv4; past `throttle` the verdict is 429; a full table falls back to one
 * global aggregate without losing a count; close() summarises the open
 * window; samples are bounded and cut on a UTF-8 boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/crypto.h"
#include "server/denials.h"

#define MAXSUM 128

struct got {
	atomic_int n;	/* the window thread emits too */
	char source[MAXSUM][64];
	char actor[MAXSUM][32];
	json_t *d[MAXSUM];
};

static void emit(void *ctx, const char *source, const char *actor, json_t *details)
{
	struct got *g = ctx;
	int i = atomic_load(&g->n);

	assert_true(i < MAXSUM);
	snprintf(g->source[i], sizeof(g->source[0]), "%s", source);
	snprintf(g->actor[i], sizeof(g->actor[0]), "%s", actor);
	g->d[i] = json_deep_copy(details);
	atomic_store(&g->n, i + 1);
}

static void got_release(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		json_decref(g->d[i]);
	g->n = 0;
}

static long long count_of(json_t *d, const char *k)
{
	return (long long)json_integer_value(json_object_get(d, k));
}

static struct denials *make(struct got *g, unsigned burst, unsigned throttle, unsigned max)
{
	struct denials_opts o = {
		.window_ms = 3600000,	/* only close() ends it: deterministic */
		.burst = burst,
		.throttle = throttle,
		.no_throttle = throttle == 0,
		.max_sources = max,
		.emit = emit,
		.ctx = g,
	};
	struct denials *d = NULL;

	assert_int_equal(denials_new(&o, &d, NULL), LS_OK);
	return d;
}

static void test_siphash_vector(void **state)
{
	uint8_t key[16], msg[15];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	/* SipHash-2-4 paper, appendix A: 15-byte message 00..0e, key 00..0f */
	assert_true(ls_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
	/* and the 64 vectors' first (empty message) */
	assert_true(ls_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
}

static void test_burst_then_count(void **state)
{
	struct got g = { 0 };
	struct denials *d = make(&g, 3, 0, 16);
	int logged = 0, counted = 0;
	unsigned ra;

	(void)state;
	for (int i = 0; i < 100; i++) {
		enum denials_verdict v = denials_note(d, "192.0.2.7", "anonymous", 401,
						      i % 2 ? "/v1/events" : "/v1/tokens",
						      "missing bearer token", 1000 + i, &ra);
		logged += v == DENIALS_LOG;
		counted += v == DENIALS_COUNT;
		assert_true(v != DENIALS_THROTTLE);
	}
	assert_int_equal(logged, 3);
	assert_int_equal(counted, 97);
	/* a 403 by a token is another actor: its own burst */
	assert_int_equal(denials_note(d, "192.0.2.7", "tok_0123456789abcdef", 403, "/v1/tokens",
				      "this endpoint needs role admin", 2000, &ra), DENIALS_LOG);
	assert_int_equal(g.n, 0);	/* nothing before the window closes */
	denials_close(d);
	assert_int_equal(g.n, 1);	/* the token's one denial was logged: no summary */
	assert_string_equal(g.source[0], "192.0.2.7");
	assert_string_equal(g.actor[0], "anonymous");
	assert_int_equal(count_of(g.d[0], "count"), 97);
	assert_int_equal(count_of(g.d[0], "logged"), 3);
	assert_int_equal(count_of(json_object_get(g.d[0], "statuses"), "401"), 97);
	assert_int_equal(json_array_size(json_object_get(g.d[0], "paths")), 2);
	assert_int_equal(json_array_size(json_object_get(g.d[0], "reasons")), 1);
	got_release(&g);
	denials_free(d);
}

static void test_ipv6_prefix_and_mapped(void **state)
{
	struct got g = { 0 };
	struct denials *d = make(&g, 1, 0, 16);
	unsigned ra;

	(void)state;
	/* two addresses of one /64: one source */
	assert_int_equal(denials_note(d, "2001:db8:1:2::1", NULL, 401, "/", "r", 1, &ra),
			 DENIALS_LOG);
	assert_int_equal(denials_note(d, "2001:db8:1:2:ffff::9", NULL, 401, "/", "r", 2, &ra),
			 DENIALS_COUNT);
	/* another /64: another source */
	assert_int_equal(denials_note(d, "2001:db8:1:3::1", NULL, 401, "/", "r", 3, &ra),
			 DENIALS_LOG);
	/* IPv4-mapped is the IPv4 address */
	assert_int_equal(denials_note(d, "192.0.2.9", NULL, 401, "/", "r", 4, &ra), DENIALS_LOG);
	assert_int_equal(denials_note(d, "::ffff:192.0.2.9", NULL, 401, "/", "r", 5, &ra),
			 DENIALS_COUNT);
	denials_close(d);
	assert_int_equal(g.n, 2);
	for (int i = 0; i < 2; i++) {
		const char *src = json_string_value(json_object_get(g.d[i], "source"));
		assert_int_equal(count_of(g.d[i], "count"), 1);
		if (!strcmp(src, "2001:db8:1:2::/64"))
			assert_string_equal(g.source[i], "2001:db8:1:2::");
		else
			assert_string_equal(src, "192.0.2.9");
	}
	got_release(&g);
	denials_free(d);
}

static void test_throttle(void **state)
{
	struct got g = { 0 };
	struct denials *d = make(&g, 2, 10, 16);
	int n429 = 0;
	unsigned ra = 0;

	(void)state;
	for (int i = 0; i < 30; i++)
		n429 += denials_note(d, "198.51.100.1", NULL, 401, "/x", "r", i, &ra) ==
			DENIALS_THROTTLE;
	assert_int_equal(n429, 20);
	assert_true(ra >= 1);
	/* other sources are not throttled */
	assert_int_equal(denials_note(d, "198.51.100.2", NULL, 401, "/x", "r", 99, &ra),
			 DENIALS_LOG);
	denials_close(d);
	assert_int_equal(g.n, 1);
	assert_int_equal(count_of(g.d[0], "count"), 28);
	assert_int_equal(count_of(g.d[0], "throttled"), 20);
	got_release(&g);
	denials_free(d);
}

static void test_full_table_global(void **state)
{
	struct got g = { 0 };
	struct denials *d = make(&g, 1, 0, 4);
	char ip[32];
	long long total = 0;
	int logged = 0;
	unsigned ra;

	(void)state;
	/* 50 sources x 3 denials into a table of 4: nothing is dropped */
	for (int i = 0; i < 50; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", i + 1);
		for (int k = 0; k < 3; k++)
			logged += denials_note(d, ip, NULL, 401, "/", "r", i, &ra) == DENIALS_LOG;
	}
	denials_close(d);
	assert_int_equal(g.n, 5);	/* 4 sources + the global aggregate */
	for (int i = 0; i < g.n; i++)
		total += count_of(g.d[i], "count");
	assert_int_equal(total + logged, 150);
	assert_string_equal(g.source[4], "various");
	assert_non_null(json_object_get(g.d[4], "scope"));
	got_release(&g);
	denials_free(d);
}

static void test_global_burst(void **state)
{
	struct got g = { 0 };
	struct denials *d = make(&g, 1, 0, 1024);
	char ip[32];
	int logged = 0;
	unsigned ra;

	(void)state;
	/* one denial each from 100 sources: at most 20 x burst logged one by one */
	for (int i = 0; i < 100; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.1", i);
		logged += denials_note(d, ip, NULL, 401, "/", "r", i, &ra) == DENIALS_LOG;
	}
	assert_int_equal(logged, 20);
	denials_close(d);
	assert_int_equal(g.n, 80);
	got_release(&g);
	denials_free(d);
}

static void test_window_closes_by_itself(void **state)
{
	struct got g = { 0 };
	struct denials_opts o = { .window_ms = 100, .burst = 1, .emit = emit, .ctx = &g };
	struct denials *d = NULL;
	unsigned ra;

	(void)state;
	assert_int_equal(denials_new(&o, &d, NULL), LS_OK);
	for (int i = 0; i < 5; i++)
		denials_note(d, "192.0.2.1", NULL, 401, "/", "r", i, &ra);
	for (int i = 0; i < 200 && atomic_load(&g.n) == 0; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&g.n), 1);	/* before close(): the thread did it */
	denials_close(d);
	assert_int_equal(g.n, 1);
	assert_int_equal(count_of(g.d[0], "count"), 4);
	got_release(&g);
	denials_free(d);
}

static void test_cut_utf8(void **state)
{
	(void)state;
	assert_int_equal(denials_cut_utf8("abc", 10), 3);
	assert_int_equal(denials_cut_utf8("abcdef", 4), 4);
	/* "aé" is 61 c3 a9: a cut at 2 would split é */
	assert_int_equal(denials_cut_utf8("a\xc3\xa9z", 2), 1);
	assert_int_equal(denials_cut_utf8("a\xc3\xa9z", 3), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_burst_then_count),
		cmocka_unit_test(test_ipv6_prefix_and_mapped),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_full_table_global),
		cmocka_unit_test(test_global_burst),
		cmocka_unit_test(test_window_closes_by_itself),
		cmocka_unit_test(test_cut_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
