/*
 * test_webhook.c - the webhook target policy, URL masking and secrets at
 * rest (webhook.h invariants 6 and 7, webhook_cfg_stored/_load).
 *
 * The classifier is checked against the special-purpose ranges of the IANA
 * IPv4 and IPv6 registries, both sides of every boundary, and against the
 * IPv4-mapped / NAT64 / 6to4 spellings an attacker would use to slip a
 * loopback or metadata address past a naive check.  No test connects
 * anywhere: resolution is of literals and of "localhost" (/etc/hosts), and
 * the one attempt made (webhook_post) is refused before its socket exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "base/crypto.h"
#include "followers/webhook.h"

static enum webhook_addr_class cls(const char *text)
{
	uint8_t a[16], v4[4];

	if (inet_pton(AF_INET, text, v4) == 1) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, v4, 4);
	} else if (inet_pton(AF_INET6, text, a) != 1) {
		fail_msg("bad test address %s", text);
	}
	return webhook_addr_classify(a);
}

static void addr16(const char *text, uint8_t a[16])
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, text, v4) == 1) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, v4, 4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, a), 1);
	}
}

static void test_classify(void **state)
{
	static const struct {
		const char *addr;
		enum webhook_addr_class want;
	} cases[] = {
		/* what the issue names */
		{ "127.0.0.1", WEBHOOK_ADDR_LOOPBACK },
		{ "127.255.255.254", WEBHOOK_ADDR_LOOPBACK },
		{ "169.254.169.254", WEBHOOK_ADDR_LINK_LOCAL },
		{ "::1", WEBHOOK_ADDR_LOOPBACK },
		{ "10.1.2.3", WEBHOOK_ADDR_PRIVATE },
		/* boundaries of every IPv4 range */
		{ "9.255.255.255", WEBHOOK_ADDR_PUBLIC },
		{ "10.0.0.0", WEBHOOK_ADDR_PRIVATE },
		{ "10.255.255.255", WEBHOOK_ADDR_PRIVATE },
		{ "11.0.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "126.255.255.255", WEBHOOK_ADDR_PUBLIC },
		{ "128.0.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "169.253.255.255", WEBHOOK_ADDR_PUBLIC },
		{ "169.254.0.0", WEBHOOK_ADDR_LINK_LOCAL },
		{ "169.255.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "172.15.255.255", WEBHOOK_ADDR_PUBLIC },
		{ "172.16.0.0", WEBHOOK_ADDR_PRIVATE },
		{ "172.31.255.255", WEBHOOK_ADDR_PRIVATE },
		{ "172.32.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "192.167.255.255", WEBHOOK_ADDR_PUBLIC },
		{ "192.168.0.1", WEBHOOK_ADDR_PRIVATE },
		{ "192.169.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "100.63.255.255", WEBHOOK_ADDR_PUBLIC },
		{ "100.64.0.0", WEBHOOK_ADDR_SHARED },
		{ "100.127.255.255", WEBHOOK_ADDR_SHARED },
		{ "100.128.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "0.0.0.0", WEBHOOK_ADDR_UNSPECIFIED },
		{ "0.255.255.255", WEBHOOK_ADDR_UNSPECIFIED },
		{ "1.0.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "223.255.255.255", WEBHOOK_ADDR_PUBLIC },
		{ "224.0.0.1", WEBHOOK_ADDR_MULTICAST },
		{ "239.255.255.255", WEBHOOK_ADDR_MULTICAST },
		{ "240.0.0.0", WEBHOOK_ADDR_RESERVED },
		{ "255.255.255.255", WEBHOOK_ADDR_RESERVED },
		{ "192.0.0.170", WEBHOOK_ADDR_RESERVED },
		{ "198.18.0.1", WEBHOOK_ADDR_RESERVED },
		{ "198.19.255.255", WEBHOOK_ADDR_RESERVED },
		{ "198.20.0.0", WEBHOOK_ADDR_PUBLIC },
		{ "8.8.8.8", WEBHOOK_ADDR_PUBLIC },
		{ "198.51.100.7", WEBHOOK_ADDR_PUBLIC },
		/* IPv6 */
		{ "::", WEBHOOK_ADDR_UNSPECIFIED },
		{ "::2", WEBHOOK_ADDR_RESERVED },
		{ "::127.0.0.1", WEBHOOK_ADDR_RESERVED },
		{ "fe80::1", WEBHOOK_ADDR_LINK_LOCAL },
		{ "febf:ffff::1", WEBHOOK_ADDR_LINK_LOCAL },
		{ "fec0::1", WEBHOOK_ADDR_PRIVATE },
		{ "fc00::1", WEBHOOK_ADDR_PRIVATE },
		{ "fdff:ffff::1", WEBHOOK_ADDR_PRIVATE },
		{ "fbff:ffff::1", WEBHOOK_ADDR_PUBLIC },
		{ "fe00::1", WEBHOOK_ADDR_PUBLIC },
		{ "ff02::1", WEBHOOK_ADDR_MULTICAST },
		{ "100::1", WEBHOOK_ADDR_RESERVED },
		{ "2001:4860:4860::8888", WEBHOOK_ADDR_PUBLIC },
		{ "2606:4700::1", WEBHOOK_ADDR_PUBLIC },
		/* IPv4 inside IPv6: what the IPv4 address is */
		{ "::ffff:127.0.0.1", WEBHOOK_ADDR_LOOPBACK },
		{ "::ffff:7f00:1", WEBHOOK_ADDR_LOOPBACK },
		{ "::ffff:169.254.169.254", WEBHOOK_ADDR_LINK_LOCAL },
		{ "::ffff:10.0.0.1", WEBHOOK_ADDR_PRIVATE },
		{ "::ffff:100.64.1.1", WEBHOOK_ADDR_SHARED },
		{ "::ffff:0.0.0.0", WEBHOOK_ADDR_UNSPECIFIED },
		{ "::ffff:8.8.8.8", WEBHOOK_ADDR_PUBLIC },
		{ "64:ff9b::127.0.0.1", WEBHOOK_ADDR_LOOPBACK },
		{ "64:ff9b::169.254.169.254", WEBHOOK_ADDR_LINK_LOCAL },
		{ "64:ff9b::8.8.8.8", WEBHOOK_ADDR_PUBLIC },
		{ "64:ff9b:1::1", WEBHOOK_ADDR_PRIVATE },
		{ "2002:7f00:1::1", WEBHOOK_ADDR_LOOPBACK },
		{ "2002:a9fe:a9fe::1", WEBHOOK_ADDR_LINK_LOCAL },
		{ "2002:808:808::1", WEBHOOK_ADDR_PUBLIC },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum webhook_addr_class got = cls(cases[i].addr);
		if (got != cases[i].want)
			fail_msg("%s: %s, expected %s", cases[i].addr, webhook_addr_class_name(got),
				 webhook_addr_class_name(cases[i].want));
	}
}

static void test_sockaddr_forms(void **state)
{
	struct sockaddr_in s4 = { 0 };
	struct sockaddr_in6 s6 = { 0 };
	uint8_t a[16];

	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "169.254.169.254", &s4.sin_addr);
	assert_true(webhook_addr16((struct sockaddr *)&s4, sizeof(s4), a));
	assert_int_equal(webhook_addr_classify(a), WEBHOOK_ADDR_LINK_LOCAL);
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	assert_true(webhook_addr16((struct sockaddr *)&s6, sizeof(s6), a));
	assert_int_equal(webhook_addr_classify(a), WEBHOOK_ADDR_LOOPBACK);
	/* a short address or another family is not an address to connect to */
	assert_false(webhook_addr16((struct sockaddr *)&s4, sizeof(s4) - 1, a));
	s4.sin_family = AF_UNIX;
	assert_false(webhook_addr16((struct sockaddr *)&s4, sizeof(s4), a));
}

static void test_policy(void **state)
{
	struct webhook_policy p;
	struct ls_err err = { { 0 } };
	uint8_t a[16];
	const char *bad[] = { "127.0.0.1/33", "::1/129", "10.0.0.0/", "10.0.0.0/x", "host.example",
			      "127.0.0.1/-1", "1.2.3", "10.0.0.0/8,nope" };
	size_t i;

	/* nothing allowed: the private ranges are refused, public allowed */
	assert_int_equal(webhook_policy_parse(NULL, &p, &err), LS_OK);
	assert_int_equal(p.n, 0);
	addr16("127.0.0.1", a);
	assert_false(webhook_addr_allowed(&p, a));
	assert_false(webhook_addr_allowed(NULL, a));
	addr16("8.8.8.8", a);
	assert_true(webhook_addr_allowed(NULL, a));

	assert_int_equal(webhook_policy_parse("127.0.0.1,10.1.0.0/16,fd00::/8", &p, &err), LS_OK);
	assert_int_equal(p.n, 3);
	addr16("127.0.0.1", a);
	assert_true(webhook_addr_allowed(&p, a));
	addr16("::ffff:127.0.0.1", a); /* the same address in its mapped form */
	assert_true(webhook_addr_allowed(&p, a));
	addr16("127.0.0.2", a); /* a bare address is one host */
	assert_false(webhook_addr_allowed(&p, a));
	addr16("::1", a);	/* IPv4 loopback allowed is not IPv6 loopback */
	assert_false(webhook_addr_allowed(&p, a));
	addr16("10.1.255.255", a);
	assert_true(webhook_addr_allowed(&p, a));
	addr16("10.2.0.0", a);
	assert_false(webhook_addr_allowed(&p, a));
	addr16("fd12::1", a);
	assert_true(webhook_addr_allowed(&p, a));
	addr16("169.254.169.254", a);
	assert_false(webhook_addr_allowed(&p, a));

	/* host bits are ignored: 127.0.0.1/8 is 127/8 */
	assert_int_equal(webhook_policy_parse("127.0.0.1/8", &p, &err), LS_OK);
	addr16("127.9.9.9", a);
	assert_true(webhook_addr_allowed(&p, a));
	/* 0/0 allows everything (an operator's explicit choice) */
	assert_int_equal(webhook_policy_parse("0.0.0.0/0,::/0", &p, &err), LS_OK);
	addr16("169.254.169.254", a);
	assert_true(webhook_addr_allowed(&p, a));
	addr16("fe80::1", a);
	assert_true(webhook_addr_allowed(&p, a));

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (webhook_policy_parse(bad[i], &p, &err) != LS_INVALID)
			fail_msg("accepted allow list %s", bad[i]);
	}
	assert_non_null(strstr(err.msg, "nope"));
}

static void test_target_check(void **state)
{
	struct webhook_policy none, lo;
	struct ls_err err = { { 0 } };
	const char *refused[] = {
		"http://127.0.0.1:8080/hook",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:80/",
		"http://10.0.0.5/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:169.254.169.254]/",
		"http://[fe80::1]/",
		"http://0.0.0.0:22/",
		"http://100.64.0.1/",
		"http://localhost:9/",	/* a name resolving to loopback (/etc/hosts) */
		"http://2130706433/",	/* 127.0.0.1 as one number */
		"http://0x7f.1/",	/* ... in hex */
		"http://user:pw@127.0.0.1/",
	};
	size_t i;

	assert_int_equal(webhook_policy_parse(NULL, &none, &err), LS_OK);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		err.msg[0] = 0;
		if (webhook_target_check(refused[i], &none, &err) != LS_DENIED)
			fail_msg("accepted target %s (%s)", refused[i], err.msg);
		assert_non_null(strstr(err.msg, "webhook.url"));
	}
	assert_int_equal(webhook_target_check("http://169.254.169.254/", &none, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "link-local"));
	/* public literals pass (nothing is sent: the check only resolves) */
	assert_int_equal(webhook_target_check("https://198.51.100.7/hook", &none, &err), LS_OK);
	assert_int_equal(webhook_target_check("https://[2001:db8::1]:8443/", &none, &err), LS_OK);
	/* with the operator's allow list */
	assert_int_equal(webhook_policy_parse("127.0.0.0/8,::1", &lo, &err), LS_OK);
	assert_int_equal(webhook_target_check("http://127.0.0.1:8080/hook", &lo, &err), LS_OK);
	assert_int_equal(webhook_target_check("http://[::1]:8080/hook", &lo, &err), LS_OK);
	assert_int_equal(webhook_target_check("http://localhost:8080/hook", &lo, &err), LS_OK);
	assert_int_equal(webhook_target_check("http://169.254.169.254/", &lo, &err), LS_DENIED);
}

static void test_post_refused_before_connecting(void **state)
{
	struct webhook_cfg w = { .name = "x", .url = "http://127.0.0.1:9/hook",
				 .secret = "k", .secret_len = 1, .timeout_ms = 30000 };
	struct webhook_policy none;
	struct ls_err err = { { 0 } };
	long status = -1;

	/* A delivery to a name that now resolves to loopback (rebinding): the
	 * socket is refused before it exists, at once, and says why. */
	assert_int_equal(webhook_policy_parse(NULL, &none, NULL), LS_OK);
	assert_int_equal(webhook_post(&w, &none, "{}", 2, 1, &status, &err), LS_DENIED);
	assert_int_equal(status, 0);
	assert_non_null(strstr(err.msg, "not allowed (loopback)"));
	snprintf(w.url, sizeof(w.url), "http://localhost:9/hook");
	assert_int_equal(webhook_post(&w, &none, "{}", 2, 1, &status, &err), LS_DENIED);
	snprintf(w.url, sizeof(w.url), "http://[::ffff:169.254.169.254]:9/hook");
	assert_int_equal(webhook_post(&w, &none, "{}", 2, 1, &status, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "link-local"));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loopback port: listening (never accepting: connections complete in the
 * backlog and then hear nothing) or, with listening 0, closed. */
static int loopback_port(int listening, int *fd_out)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	if (listening) {
		assert_int_equal(listen(fd, 4), 0);
		*fd_out = fd;
	} else {
		close(fd); /* nothing listens there now: connections are refused */
		*fd_out = -1;
	}
	return ntohs(sa.sin_port);
}

/* Invariant 7: a refused connection and an unanswered one give the same
 * text after the same time. */
static void test_post_failure_is_opaque(void **state)
{
	struct webhook_cfg w = { .name = "x", .secret = "k", .secret_len = 1, .timeout_ms = 300 };
	struct webhook_policy lo;
	struct ls_err e1 = { { 0 } }, e2 = { { 0 } };
	long status;
	int64_t t0, d_closed, d_silent;
	int fd;

	assert_int_equal(webhook_policy_parse("127.0.0.1", &lo, NULL), LS_OK);
	snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%d/hook", loopback_port(0, &fd));
	t0 = now_ms();
	assert_int_equal(webhook_post(&w, &lo, "{}", 2, 1, &status, &e1), LS_IO);
	d_closed = now_ms() - t0;
	assert_int_equal(status, 0);
	snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%d/hook", loopback_port(1, &fd));
	t0 = now_ms();
	assert_int_equal(webhook_post(&w, &lo, "{}", 2, 1, &status, &e2), LS_IO);
	d_silent = now_ms() - t0;
	close(fd);
	assert_string_equal(e1.msg, "delivery failed");
	assert_string_equal(e2.msg, e1.msg);
	if (d_closed < 290 || d_silent < 290)
		fail_msg("closed port %lld ms, silent port %lld ms: both should last the timeout",
			 (long long)d_closed, (long long)d_silent);
}

static void test_url_mask(void **state)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "https://hooks.example/T1", "https://hooks.example/T1" },
		{ "https://user:pass@hooks.example/x", "https://***@hooks.example/x" },
		{ "https://tok@hooks.example", "https://***@hooks.example" },
		{ "http://a@b@127.0.0.1:80/p", "http://***@127.0.0.1:80/p" },
		{ "https://h/p?token=abc&x=1", "https://h/p?token=***&x=***" },
		{ "https://h/p?abc", "https://h/p?***" },
		{ "https://h/p?a=1#frag", "https://h/p?a=***#***" },
		{ "https://h/p#frag", "https://h/p#***" },
		{ "https://u:p@h?k=v", "https://***@h?k=***" },
		{ "https://h/p?=v&&k", "https://h/p?=***&***&***" },
	};
	char out[WEBHOOK_URL_MAX + 1], small[24];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		webhook_url_mask(cases[i].url, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
	/* cut short: the credential never shows, the end says "..." */
	webhook_url_mask("https://user:secretpass@very-long-host.example/path?q=secret", small,
			 sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_null(strstr(small, "secret"));
	assert_null(strstr(small, "user"));
	assert_string_equal(small + strlen(small) - 3, "...");
}

static void test_cfg_json_masks(void **state)
{
	json_t *in = json_loads("{\"name\":\"h\",\"url\":\"https://u:pw@h.example/x?key=sk_live\","
				"\"secret\":\"hmac-key\"}",
				0, NULL);
	struct webhook_cfg w;
	json_t *shown;
	char *s;

	assert_int_equal(webhook_cfg_parse(in, &w, NULL), LS_OK);
	shown = webhook_cfg_json(&w, 0);
	s = json_dumps(shown, JSON_SORT_KEYS);
	assert_null(strstr(s, "pw"));
	assert_null(strstr(s, "sk_live"));
	assert_null(strstr(s, "hmac-key"));
	assert_string_equal(json_string_value(json_object_get(shown, "url")),
			    "https://***@h.example/x?key=***");
	assert_string_equal(json_string_value(json_object_get(shown, "secret")), "set");
	free(s);
	json_decref(shown);
	webhook_cfg_release(&w);
	json_decref(in);
}

static void test_sealed_at_rest(void **state)
{
	uint8_t key[32], other[32];
	json_t *in = json_loads("{\"name\":\"soc\",\"url\":\"https://u:pw@h.example/x?key=sk\","
				"\"secret\":\"s3cr3t-hmac\",\"timeout_ms\":1500}",
				0, NULL);
	struct webhook_cfg w, back;
	struct ls_err err = { { 0 } };
	json_t *st, *moved;
	char *s;
	int plain = 0;

	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	assert_int_equal(webhook_cfg_parse(in, &w, &err), LS_OK);
	st = webhook_cfg_stored(&w, key);
	assert_non_null(st);
	s = json_dumps(st, JSON_SORT_KEYS);
	assert_null(strstr(s, "s3cr3t-hmac"));
	assert_null(strstr(s, "pw@"));
	assert_null(strstr(s, "key=sk"));
	assert_null(json_object_get(st, "secret"));
	assert_null(json_object_get(st, "url"));
	assert_non_null(json_object_get(st, "secret_sealed"));
	free(s);

	/* round trip */
	assert_int_equal(webhook_cfg_load(st, key, &back, &plain, &err), LS_OK);
	assert_int_equal(plain, 0);
	assert_string_equal(back.url, w.url);
	assert_int_equal(back.secret_len, w.secret_len);
	assert_memory_equal(back.secret, w.secret, w.secret_len);
	assert_int_equal(back.timeout_ms, 1500);
	webhook_cfg_release(&back);

	/* the wrong key, no key, an altered blob, a blob moved to another
	 * webhook: all refused */
	assert_int_equal(webhook_cfg_load(st, other, &back, NULL, &err), LS_TAMPERED);
	assert_int_equal(webhook_cfg_load(st, NULL, &back, NULL, &err), LS_INVALID);
	moved = json_deep_copy(st);
	json_object_set_new(moved, "name", json_string("other"));
	assert_int_equal(webhook_cfg_load(moved, key, &back, NULL, &err), LS_TAMPERED);
	json_decref(moved);
	moved = json_deep_copy(st);
	json_object_set(moved, "url_sealed", json_object_get(st, "secret_sealed"));
	assert_int_equal(webhook_cfg_load(moved, key, &back, NULL, &err), LS_TAMPERED);
	json_decref(moved);
	moved = json_deep_copy(st);
	json_object_set_new(moved, "secret_sealed", json_string("AAAA"));
	assert_int_equal(webhook_cfg_load(moved, key, &back, NULL, &err), LS_CORRUPT);
	json_decref(moved);
	json_decref(st);

	/* an old plaintext entry still loads, and says it should be sealed */
	st = webhook_cfg_stored(&w, NULL);
	assert_string_equal(json_string_value(json_object_get(st, "secret")), "s3cr3t-hmac");
	plain = 0;
	assert_int_equal(webhook_cfg_load(st, key, &back, &plain, &err), LS_OK);
	assert_int_equal(plain, 1);
	assert_string_equal(back.url, w.url);
	webhook_cfg_release(&back);
	/* ... and without encryption it is just what it was */
	plain = 0;
	assert_int_equal(webhook_cfg_load(st, NULL, &back, &plain, &err), LS_OK);
	assert_int_equal(plain, 0);
	webhook_cfg_release(&back);
	json_decref(st);

	webhook_cfg_release(&w);
	json_decref(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_sockaddr_forms),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_target_check),
		cmocka_unit_test(test_post_refused_before_connecting),
		cmocka_unit_test(test_post_failure_is_opaque),
		cmocka_unit_test(test_url_mask),
		cmocka_unit_test(test_cfg_json_masks),
		cmocka_unit_test(test_sealed_at_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
