/*
 * test_ratelimit.c - token buckets per client (server/ratelimit.h), on a
 * clock the test drives: exactly `burst` requests at once, then 429 with
 * the Retry-After the refill rate gives; refill over time, never beyond
 * burst; one episode line per run of refusals; clients are independent,
 * IPv6 by /64, IPv4-mapped as IPv4; a full table evicts (a fresh bucket,
 * never a wrong refusal); fractional rates; bad options refused; counts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/ratelimit.h"

#define S 1000000000ull	/* one second in ns */

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
	return ss;
}

static int take(struct ratelimit *rl, const struct sockaddr_storage *ss, uint64_t now,
		unsigned *retry, int *episode)
{
	unsigned r;
	int e;

	return ratelimit_take(rl, (const struct sockaddr *)ss, now, retry ? retry : &r,
			      episode ? episode : &e);
}

static struct ratelimit *make(double rate, unsigned burst, unsigned max)
{
	struct ratelimit_opts o = { .rate = rate, .burst = burst, .max_clients = max };
	struct ls_err err = { { 0 } };
	struct ratelimit *rl = NULL;

	assert_int_equal(ratelimit_new(&o, &rl, &err), LS_OK);
	return rl;
}

static void test_burst_then_429(void **state)
{
	struct ratelimit *rl = make(10, 20, 0);
	struct sockaddr_storage a = v4("192.0.2.1");
	uint64_t t = 1000 * S, ok, no;
	unsigned retry;
	int ep;

	(void)state;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(take(rl, &a, t, &retry, &ep), 1);
		assert_int_equal(retry, 0);
	}
	assert_int_equal(take(rl, &a, t, &retry, &ep), 0);
	assert_int_equal(retry, 1);	/* 0.1 s to the next token, rounded up */
	assert_int_equal(ep, 1);
	assert_int_equal(take(rl, &a, t, &retry, &ep), 0);
	assert_int_equal(ep, 0);	/* the same episode */
	/* 99 ms: still no whole token */
	assert_int_equal(take(rl, &a, t + 99 * S / 1000, NULL, NULL), 0);
	/* 100 ms after the burst: exactly one */
	assert_int_equal(take(rl, &a, t + S / 10, NULL, NULL), 1);
	assert_int_equal(take(rl, &a, t + S / 10, &retry, &ep), 0);
	assert_int_equal(ep, 1);	/* allowed in between: a new episode */
	/* 10 s idle: full again, but never more than the burst */
	t += 10 * S;
	for (int i = 0; i < 20; i++)
		assert_int_equal(take(rl, &a, t, NULL, NULL), 1);
	assert_int_equal(take(rl, &a, t, NULL, NULL), 0);
	ratelimit_counts(rl, &ok, &no);
	assert_int_equal(ok, 20 + 1 + 20);
	assert_int_equal(no, 2 + 1 + 1 + 1);
	ratelimit_free(rl);
}

static void test_steady_rate_never_refused(void **state)
{
	struct ratelimit *rl = make(10, 1, 0);
	struct sockaddr_storage a = v4("198.51.100.7");
	uint64_t t = 5 * S;

	(void)state;
	/* exactly 10 a second with burst 1: every one allowed */
	for (int i = 0; i < 1000; i++, t += S / 10)
		assert_int_equal(take(rl, &a, t, NULL, NULL), 1);
	/* 11 a second with burst 1: a bucket of one token cannot save the
	 * 0.91 token left after 91 ms: every other request is refused */
	int refused = 0;
	for (int i = 0; i < 110; i++, t += S / 11)
		refused += !take(rl, &a, t, NULL, NULL);
	assert_int_equal(refused, 55);
	ratelimit_free(rl);
	/* burst 2 at 11 a second for 10 s: 10 a second get through, plus the
	 * one token of headroom */
	rl = make(10, 2, 0);
	refused = 0;
	for (int i = 0; i < 110; i++, t += S / 11)
		refused += !take(rl, &a, t, NULL, NULL);
	assert_true(refused >= 8 && refused <= 10);
	ratelimit_free(rl);
}

static void test_slow_rate_retry_after(void **state)
{
	struct ratelimit *rl = make(0.2, 2, 0);	/* one every 5 s */
	struct sockaddr_storage a = v4("203.0.113.9");
	unsigned retry;

	(void)state;
	assert_int_equal(take(rl, &a, S, NULL, NULL), 1);
	assert_int_equal(take(rl, &a, S, NULL, NULL), 1);
	assert_int_equal(take(rl, &a, S, &retry, NULL), 0);
	assert_int_equal(retry, 5);
	assert_int_equal(take(rl, &a, 3 * S, &retry, NULL), 0);
	assert_int_equal(retry, 3);	/* 2 s gone, 3 to go */
	assert_int_equal(take(rl, &a, 6 * S, NULL, NULL), 1);
	ratelimit_free(rl);
}

static void test_clients_and_prefixes(void **state)
{
	struct ratelimit *rl = make(1, 2, 0);
	struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
	struct sockaddr_storage m = v6("::ffff:192.0.2.1");
	struct sockaddr_storage p1 = v6("2001:db8:1:2::1"), p2 = v6("2001:db8:1:2:ffff::9");
	struct sockaddr_storage q = v6("2001:db8:1:3::1");
	uint8_t key[RATELIMIT_KEY];
	char text[64];

	(void)state;
	assert_int_equal(take(rl, &a, S, NULL, NULL), 1);
	assert_int_equal(take(rl, &m, S, NULL, NULL), 1);	/* the same client as a */
	assert_int_equal(take(rl, &a, S, NULL, NULL), 0);
	assert_int_equal(take(rl, &b, S, NULL, NULL), 1);	/* another one */
	assert_int_equal(take(rl, &p1, S, NULL, NULL), 1);
	assert_int_equal(take(rl, &p2, S, NULL, NULL), 1);	/* the same /64 */
	assert_int_equal(take(rl, &p1, S, NULL, NULL), 0);
	assert_int_equal(take(rl, &q, S, NULL, NULL), 1);	/* the next /64 */
	ratelimit_client((const struct sockaddr *)&m, key, text, sizeof(text));
	assert_string_equal(text, "192.0.2.1");
	assert_int_equal(key[0], 4);
	ratelimit_client((const struct sockaddr *)&p2, key, text, sizeof(text));
	assert_string_equal(text, "2001:db8:1:2::/64");
	ratelimit_client(NULL, key, text, sizeof(text));
	assert_string_equal(text, "unknown");
	ratelimit_free(rl);
}

static void test_full_table_evicts(void **state)
{
	struct ratelimit *rl = make(1, 1, 8);	/* 8 slots, all probed */
	struct sockaddr_storage a = v4("10.0.0.1");
	char ip[32];

	(void)state;
	assert_int_equal(take(rl, &a, S, NULL, NULL), 1);
	assert_int_equal(take(rl, &a, S, NULL, NULL), 0);
	/* 100 other clients, each emptying its bucket: a is evicted at some point */
	for (int i = 0; i < 100; i++) {
		struct sockaddr_storage x;

		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250);
		x = v4(ip);
		assert_int_equal(take(rl, &x, S + (uint64_t)i, NULL, NULL), 1);
	}
	/* evicted: a fresh bucket, allowed (eviction never refuses wrongly) */
	assert_int_equal(take(rl, &a, S + 200, NULL, NULL), 1);
	ratelimit_free(rl);
}

static void test_bad_options(void **state)
{
	struct ratelimit_opts o = { .rate = 0, .burst = 1 };
	struct ls_err err = { { 0 } };
	struct ratelimit *rl = (struct ratelimit *)&o;

	(void)state;
	assert_int_equal(ratelimit_new(&o, &rl, &err), LS_INVALID);
	assert_null(rl);
	o.rate = 1;
	o.burst = 0;
	assert_int_equal(ratelimit_new(&o, &rl, &err), LS_INVALID);
	ratelimit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_429),
		cmocka_unit_test(test_steady_rate_never_refused),
		cmocka_unit_test(test_slow_rate_retry_after),
		cmocka_unit_test(test_clients_and_prefixes),
		cmocka_unit_test(test_full_table_evicts),
		cmocka_unit_test(test_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
