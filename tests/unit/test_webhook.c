/*
 * test_webhook.c - the webhook target policy, URL masking and secrets at
 * rest (webhook.h invariants 6 and 7, webhook_cfg_stored/_load); the
 * configuration's validation (invariant 1: http and https URLs with a host
 * only); the signature (RFC 4231 vector) and both body formats byte for
 * byte; one POST's wire format against a receiver on 127.0.0.1 (headers,
 * signature over the exact body, 2xx only, redirects not followed); and the
 * queue's retries (invariant 3: backoff doubling up to its cap, one done
 * call), its bound (invariant 4) and its stop.
 *
 * The classifier is checked against the special-purpose ranges of the IANA
 * IPv4 and IPv6 registries, both sides of every boundary, and against the
 * IPv4-mapped / NAT64 / 6to4 spellings an attacker would use to slip a
 * loopback or metadata address past a naive check.  Nothing connects beyond
 * 127.0.0.1: resolution is of literals and of "localhost" (/etc/hosts), and
 * deliveries go to this file's receiver or to loopback ports.
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

#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

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

/* ------------------------------------------------------------ configuration */

static ls_rc parse_text(const char *text, struct webhook_cfg *w, struct ls_err *err)
{
	json_t *o = json_loads(text, JSON_ALLOW_NUL, NULL);
	ls_rc rc;

	assert_non_null(o);
	rc = webhook_cfg_parse(o, w, err);
	json_decref(o);
	return rc;
}

/* Refused with LS_INVALID and a message naming field. */
static void expect_refused(const char *text, const char *field)
{
	struct webhook_cfg w;
	struct ls_err err = { { 0 } };

	if (parse_text(text, &w, &err) != LS_INVALID)
		fail_msg("accepted: %s", text);
	webhook_cfg_release(&w);
	if (!strstr(err.msg, field))
		fail_msg("%s: message \"%s\" does not name %s", text, err.msg, field);
}

static void test_cfg_parse(void **state)
{
	struct webhook_cfg w, c;
	struct ls_err err = { { 0 } };
	char *text;
	size_t n;

	(void)state;
	assert_int_equal(parse_text("{\"name\":\"ops.pager-1_x\",\"url\":\"https://h.example/a?b=c\","
				    "\"secret\":\"s3\",\"timeout_ms\":100}",
				    &w, &err),
			 LS_OK);
	assert_string_equal(w.name, "ops.pager-1_x");
	assert_string_equal(w.url, "https://h.example/a?b=c");
	assert_int_equal(w.secret_len, 2);
	assert_memory_equal(w.secret, "s3", 3);
	assert_int_equal(w.format, WEBHOOK_FORMAT_JSON);
	assert_int_equal(w.timeout_ms, 100);
	/* a copy owns its secret */
	assert_int_equal(webhook_cfg_copy(&w, &c), LS_OK);
	assert_ptr_not_equal(c.secret, w.secret);
	assert_string_equal(c.secret, "s3");
	webhook_cfg_release(&w);
	assert_null(w.secret);
	assert_int_equal(w.secret_len, 0);
	assert_string_equal(c.secret, "s3");
	webhook_cfg_release(&c);
	webhook_cfg_release(NULL);

	/* defaults; slack needs no secret */
	assert_int_equal(parse_text("{\"name\":\"s\",\"url\":\"http://h:8080\",\"format\":\"slack\"}",
				    &w, &err),
			 LS_OK);
	assert_int_equal(w.format, WEBHOOK_FORMAT_SLACK);
	assert_int_equal(w.timeout_ms, WEBHOOK_TIMEOUT_DEFAULT_MS);
	assert_null(w.secret);
	webhook_cfg_release(&w);
	assert_int_equal(parse_text("{\"name\":\"j\",\"url\":\"http://h\",\"secret\":\"k\","
				    "\"timeout_ms\":60000,\"format\":\"json\"}",
				    &w, &err),
			 LS_OK);
	assert_int_equal(w.timeout_ms, WEBHOOK_TIMEOUT_MAX_MS);
	webhook_cfg_release(&w);

	/* invariant 1: http and https only, with a host, printable */
	expect_refused("{\"name\":\"x\",\"url\":\"ftp://h/\",\"secret\":\"k\"}", "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"file:///etc/passwd\",\"secret\":\"k\"}",
		       "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"HTTP://h/\",\"secret\":\"k\"}", "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"http://\",\"secret\":\"k\"}", "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"https:///path\",\"secret\":\"k\"}", "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h/a b\",\"secret\":\"k\"}", "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h/\\u0000x\",\"secret\":\"k\"}",
		       "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h/\\u00e9\",\"secret\":\"k\"}",
		       "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h/\\u007f\",\"secret\":\"k\"}",
		       "webhook.url");
	expect_refused("{\"name\":\"x\",\"url\":7,\"secret\":\"k\"}", "webhook.url");
	expect_refused("{\"name\":\"x\",\"secret\":\"k\"}", "webhook.url");
	/* the longest URL, and one byte more */
	n = WEBHOOK_URL_MAX + 64;
	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "{\"name\":\"x\",\"secret\":\"k\",\"url\":\"http://h/%0*d\"}",
		 WEBHOOK_URL_MAX - 9, 0);
	assert_int_equal(parse_text(text, &w, &err), LS_OK);
	assert_int_equal(strlen(w.url), WEBHOOK_URL_MAX);
	webhook_cfg_release(&w);
	snprintf(text, n, "{\"name\":\"x\",\"secret\":\"k\",\"url\":\"http://h/%0*d\"}",
		 WEBHOOK_URL_MAX - 8, 0);
	expect_refused(text, "webhook.url");
	free(text);

	/* name */
	expect_refused("{\"url\":\"http://h\",\"secret\":\"k\"}", "webhook.name");
	expect_refused("{\"name\":\"\",\"url\":\"http://h\",\"secret\":\"k\"}", "webhook.name");
	expect_refused("{\"name\":\"a/b\",\"url\":\"http://h\",\"secret\":\"k\"}", "webhook.name");
	expect_refused("{\"name\":\"a b\",\"url\":\"http://h\",\"secret\":\"k\"}", "webhook.name");
	expect_refused("{\"name\":\"0123456789012345678901234567890123456789012345678901234567890"
		       "1234\",\"url\":\"http://h\",\"secret\":\"k\"}",
		       "webhook.name");
	assert_int_equal(parse_text("{\"name\":\"012345678901234567890123456789012345678901234567890"
				    "1234567890123\",\"url\":\"http://h\",\"secret\":\"k\"}",
				    &w, &err),
			 LS_OK);
	webhook_cfg_release(&w);

	/* secret: required for json, 1..1024 bytes */
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\"}", "webhook.secret");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"format\":\"json\"}", "webhook.secret");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"\"}", "webhook.secret");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":1}", "webhook.secret");
	n = WEBHOOK_SECRET_MAX + 64;
	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"%0*d\"}",
		 WEBHOOK_SECRET_MAX, 0);
	assert_int_equal(parse_text(text, &w, &err), LS_OK);
	assert_int_equal(w.secret_len, WEBHOOK_SECRET_MAX);
	webhook_cfg_release(&w);
	snprintf(text, n, "{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"%0*d\"}",
		 WEBHOOK_SECRET_MAX + 1, 0);
	expect_refused(text, "webhook.secret");
	free(text);

	/* format, timeout, unknown fields */
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"k\",\"format\":\"xml\"}",
		       "webhook.format");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"k\",\"format\":null}",
		       "webhook.format");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"k\",\"timeout_ms\":99}",
		       "webhook.timeout_ms");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"k\",\"timeout_ms\":60001}",
		       "webhook.timeout_ms");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"k\",\"timeout_ms\":1e3}",
		       "webhook.timeout_ms");
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"k\",\"tls\":false}",
		       "unknown field \"tls\"");
	/* the stored form's fields are not for clients */
	expect_refused("{\"name\":\"x\",\"url\":\"http://h\",\"secret\":\"k\",\"url_masked\":\"x\"}",
		       "unknown field \"url_masked\"");
	expect_refused("[]", "expected an object");
}

/* ------------------------------------------------------------ signature and body */

static void test_sign_and_body(void **state)
{
	/* RFC 4231 test case 2 */
	struct webhook_cfg w = { .name = "x", .url = "http://h", .secret = "Jefe", .secret_len = 4 };
	const char *data = "what do ya want for nothing?";
	json_t *alert = json_pack("{sss[ii]s{ss}}", "id", "r_x@7", "indexes", 7, 8, "rule", "name",
				  "caf\xc3\xa9");
	char sig[65], *body;

	(void)state;
	webhook_sign(&w, data, strlen(data), sig);
	assert_string_equal(sig, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* the length given is what is signed, not up to a NUL */
	webhook_sign(&w, "what do ya want for nothing?!!", strlen(data), sig);
	assert_string_equal(sig, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	/* json: the alert and the timestamp, compact, keys sorted (the bytes
	 * a receiver verifies) */
	body = webhook_body(&w, alert, "ignored", 1700000000);
	assert_non_null(body);
	assert_string_equal(body, "{\"alert\":{\"id\":\"r_x@7\",\"indexes\":[7,8],\"rule\":{\"name\":"
				  "\"caf\xc3\xa9\"}},\"timestamp\":1700000000}");
	free(body);
	/* the caller's alert is left as it was */
	assert_int_equal(json_object_size(alert), 3);
	assert_null(json_object_get(alert, "timestamp"));

	/* slack: the text only (and a default) */
	w.format = WEBHOOK_FORMAT_SLACK;
	body = webhook_body(&w, alert, "logseal alert [high] \"x\": 5 events", 1);
	assert_string_equal(body, "{\"text\":\"logseal alert [high] \\\"x\\\": 5 events\"}");
	free(body);
	body = webhook_body(&w, alert, NULL, 1);
	assert_string_equal(body, "{\"text\":\"logseal alert\"}");
	free(body);
	json_decref(alert);
}

/* ------------------------------------------------------------ a receiver on 127.0.0.1 */

#define RX_MAX 16

struct rx_req {
	char head[4096];
	char body[8192];
	int64_t at_ms;
};

struct rx {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t mu;
	int statuses[RX_MAX];	/* what to answer the i-th request (0 after: 200) */
	const char *extra;	/* extra response header lines */
	int n;			/* requests seen */
	struct rx_req req[RX_MAX];
	int stop;
};

static const char *rx_header(const char *head, const char *name, char *out, size_t cap)
{
	const char *p = head;
	size_t n = strlen(name);

	while ((p = strchr(p, '\n'))) {
		p++;
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1, *e;
			while (*v == ' ')
				v++;
			e = strpbrk(v, "\r\n");
			snprintf(out, cap, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return out;
		}
	}
	return NULL;
}

static void rx_serve(struct rx *r, int c)
{
	char buf[16384], reply[512], cl[32];
	size_t have = 0, hlen, blen = 0;
	char *end = NULL;
	ssize_t k;
	int i, status;

	while (!end && have < sizeof(buf) - 1) {
		k = read(c, buf + have, sizeof(buf) - 1 - have);
		if (k <= 0)
			return;
		have += (size_t)k;
		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	if (!end)
		return;
	hlen = (size_t)(end - buf) + 4;
	buf[hlen - 2] = 0;
	if (rx_header(buf, "Content-Length", cl, sizeof(cl)))
		blen = strtoul(cl, NULL, 10);
	while (have < hlen + blen && have < sizeof(buf) - 1) {
		k = read(c, buf + have, sizeof(buf) - 1 - have);
		if (k <= 0)
			return;
		have += (size_t)k;
	}
	pthread_mutex_lock(&r->mu);
	i = r->n < RX_MAX ? r->n : RX_MAX - 1;
	snprintf(r->req[i].head, sizeof(r->req[i].head), "%s", buf);
	snprintf(r->req[i].body, sizeof(r->req[i].body), "%.*s", (int)blen, buf + hlen);
	r->req[i].at_ms = now_ms();
	status = r->statuses[i] ? r->statuses[i] : 200;
	r->n++;
	pthread_mutex_unlock(&r->mu);
	snprintf(reply, sizeof(reply),
		 "HTTP/1.1 %d X\r\n%sContent-Length: 2\r\nConnection: close\r\n\r\nok", status,
		 r->extra ? r->extra : "");
	if (write(c, reply, strlen(reply)) < 0)
		return;
}

static void *rx_main(void *p)
{
	struct rx *r = p;

	for (;;) {
		int c = accept(r->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		pthread_mutex_lock(&r->mu);
		if (r->stop) {
			pthread_mutex_unlock(&r->mu);
			close(c);
			return NULL;
		}
		pthread_mutex_unlock(&r->mu);
		rx_serve(r, c);
		close(c);
	}
}

static void rx_start(struct rx *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->port = loopback_port(1, &r->fd);
	assert_int_equal(pthread_create(&r->thread, NULL, rx_main, r), 0);
}

static void rx_stop(struct rx *r)
{
	int fd;

	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_mutex_unlock(&r->mu);
	/* wake accept() with a connection of our own */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			fail_msg("cannot wake the receiver");
	}
	pthread_join(r->thread, NULL);
	close(fd);
	close(r->fd);
	pthread_mutex_destroy(&r->mu);
}

static int rx_count(struct rx *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* The wire format of webhook.h: headers, signature over the exact body, a
 * 2xx is success, anything else (a redirect too: never followed) is not. */
static void test_post_wire_format(void **state)
{
	struct webhook_cfg w = { .name = "x", .secret = "k3y", .secret_len = 3, .timeout_ms = 5000 };
	struct webhook_policy lo;
	struct ls_err err = { { 0 } };
	const char *body = "{\"alert\":{\"id\":\"a@1\"},\"timestamp\":1700000001}";
	char v[256], want[80], sig[65], location[80];
	long status = -1;
	struct rx r;

	(void)state;
	assert_int_equal(webhook_policy_parse("127.0.0.1/32", &lo, NULL), LS_OK);
	rx_start(&r);
	r.statuses[1] = 204;
	r.statuses[2] = 302;
	r.statuses[3] = 500;
	/* followed, the redirect would come back here as a 4th request */
	snprintf(location, sizeof(location), "Location: http://127.0.0.1:%d/followed\r\n", r.port);
	r.extra = location;
	snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%d/hook?x=1", r.port);

	assert_int_equal(webhook_post(&w, &lo, body, strlen(body), 1700000001, &status, &err),
			 LS_OK);
	assert_int_equal(status, 200);
	assert_int_equal(rx_count(&r), 1);
	assert_true(!strncmp(r.req[0].head, "POST /hook?x=1 HTTP/1.1\r\n", 25));
	assert_string_equal(r.req[0].body, body);
	assert_string_equal(rx_header(r.req[0].head, "Content-Type", v, sizeof(v)),
			    "application/json");
	assert_string_equal(rx_header(r.req[0].head, "X-Logseal-Timestamp", v, sizeof(v)),
			    "1700000001");
	webhook_sign(&w, body, strlen(body), sig);
	snprintf(want, sizeof(want), "sha256=%s", sig);
	assert_string_equal(rx_header(r.req[0].head, "X-Logseal-Signature", v, sizeof(v)), want);
	assert_string_equal(rx_header(r.req[0].head, "User-Agent", v, sizeof(v)),
			    "logseal-webhook/1");
	assert_null(rx_header(r.req[0].head, "Expect", v, sizeof(v)));

	/* any 2xx */
	assert_int_equal(webhook_post(&w, &lo, body, strlen(body), 2, &status, &err), LS_OK);
	assert_int_equal(status, 204);
	/* a redirect is a failure and is not followed */
	assert_int_equal(webhook_post(&w, &lo, body, strlen(body), 3, &status, &err), LS_IO);
	assert_int_equal(status, 302);
	assert_string_equal(err.msg, "delivery failed: HTTP status 302");
	assert_int_equal(rx_count(&r), 3);
	assert_int_equal(webhook_post(&w, &lo, body, strlen(body), 4, &status, &err), LS_IO);
	assert_int_equal(status, 500);
	assert_string_equal(err.msg, "delivery failed: HTTP status 500");

	/* slack without a secret: no signature header */
	w.format = WEBHOOK_FORMAT_SLACK;
	w.secret = NULL;
	w.secret_len = 0;
	assert_int_equal(webhook_post(&w, &lo, "{\"text\":\"t\"}", 12, 5, &status, &err), LS_OK);
	assert_int_equal(rx_count(&r), 5);
	assert_null(rx_header(r.req[4].head, "X-Logseal-Signature", v, sizeof(v)));
	assert_string_equal(rx_header(r.req[4].head, "X-Logseal-Timestamp", v, sizeof(v)), "5");
	assert_string_equal(r.req[4].body, "{\"text\":\"t\"}");
	rx_stop(&r);
}

/* ------------------------------------------------------------ the queue */

struct outcomes {
	pthread_mutex_t mu;
	int done, retries;
	enum webhook_outcome outcome[8];
	unsigned attempts[8];
	char last_error[8][128];
	char job[8][32];
	unsigned retry_attempts[16];
	char retry_error[128];
};

static void on_done(void *ctx, const char *job_id, const char *webhook, enum webhook_outcome o,
		    unsigned attempts, const char *last_error)
{
	struct outcomes *c = ctx;

	(void)webhook;
	pthread_mutex_lock(&c->mu);
	if (c->done < 8) {
		c->outcome[c->done] = o;
		c->attempts[c->done] = attempts;
		snprintf(c->last_error[c->done], sizeof(c->last_error[0]), "%s",
			 last_error ? last_error : "");
		snprintf(c->job[c->done], sizeof(c->job[0]), "%s", job_id);
	}
	c->done++;
	pthread_mutex_unlock(&c->mu);
}

static void on_retry(void *ctx, const char *job_id, const char *webhook, unsigned attempts,
		     const char *error)
{
	struct outcomes *c = ctx;

	(void)job_id;
	(void)webhook;
	pthread_mutex_lock(&c->mu);
	if (c->retries < 16)
		c->retry_attempts[c->retries] = attempts;
	snprintf(c->retry_error, sizeof(c->retry_error), "%s", error);
	c->retries++;
	pthread_mutex_unlock(&c->mu);
}

/* Invariant 3: retries after backoff_ms, doubling, capped at max_backoff_ms,
 * attempts in all, then one done call with the outcome. */
static void test_queue_retry_backoff(void **state)
{
	struct webhook_queue_opts qo = { 0 };
	struct webhook_queue *q;
	struct webhook_cfg w = { .name = "h", .secret = "k", .secret_len = 1, .timeout_ms = 5000 };
	struct webhook_policy lo;
	struct outcomes c = { .mu = PTHREAD_MUTEX_INITIALIZER };
	json_t *alert = json_pack("{ss}", "id", "r@1");
	/* 100, 200 (the cap), 200 ...: 1.3 s of waits in all, where doubling
	 * on would wait 12.7 s */
	const int64_t want[] = { 100, 200, 200, 200, 200, 200, 200 };
	char ts[32];
	struct rx r;
	int i;

	(void)state;
	assert_int_equal(webhook_policy_parse("127.0.0.1", &lo, NULL), LS_OK);
	rx_start(&r);
	for (i = 0; i < RX_MAX; i++)
		r.statuses[i] = 503;
	snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%d/", r.port);
	qo.attempts = 8;
	qo.backoff_ms = 100;
	qo.max_backoff_ms = 200;
	qo.policy = &lo;
	qo.done = on_done;
	qo.retry = on_retry;
	qo.ctx = &c;
	assert_int_equal(webhook_queue_start(&qo, &q, NULL), LS_OK);
	assert_int_equal(webhook_queue_push(q, &w, "r@1", alert, "text"), LS_OK);
	/* the cap: done well before an uncapped doubling (slack for a busy
	 * machine, or a sanitizer build) */
	assert_int_equal(webhook_queue_idle(q, 9000), LS_OK);
	assert_int_equal(rx_count(&r), 8);
	assert_int_equal(c.done, 1);
	assert_int_equal(c.outcome[0], WEBHOOK_FAILED);
	assert_int_equal(c.attempts[0], 8);
	assert_string_equal(c.job[0], "r@1");
	assert_string_equal(c.last_error[0], "delivery failed: HTTP status 503");
	/* every failed attempt but the last is reported as a retry */
	assert_int_equal(c.retries, 7);
	for (i = 0; i < 7; i++)
		assert_int_equal(c.retry_attempts[i], i + 1);
	assert_string_equal(c.retry_error, "delivery failed: HTTP status 503");
	/* never sooner than the backoff (the doubling) */
	for (i = 0; i < 7; i++) {
		int64_t gap = r.req[i + 1].at_ms - r.req[i].at_ms;
		if (gap < want[i] - 5)
			fail_msg("gap %d: %lld ms, want at least %lld", i, (long long)gap,
				 (long long)want[i]);
	}
	/* every attempt is signed with its own timestamp, in the body too */
	for (i = 0; i < 8; i++) {
		char v[64], body[96];
		assert_non_null(rx_header(r.req[i].head, "X-Logseal-Timestamp", ts, sizeof(ts)));
		snprintf(body, sizeof(body), "{\"alert\":{\"id\":\"r@1\"},\"timestamp\":%s}", ts);
		assert_string_equal(r.req[i].body, body);
		assert_non_null(rx_header(r.req[i].head, "X-Logseal-Signature", v, sizeof(v)));
	}

	/* delivered on the third attempt */
	pthread_mutex_lock(&r.mu);
	r.n = 0;
	r.statuses[2] = 201;
	pthread_mutex_unlock(&r.mu);
	c.retries = 0;
	assert_int_equal(webhook_queue_push(q, &w, "r@2", alert, NULL), LS_OK);
	assert_int_equal(webhook_queue_idle(q, 20000), LS_OK);
	assert_int_equal(c.done, 2);
	assert_int_equal(c.outcome[1], WEBHOOK_DELIVERED);
	assert_int_equal(c.attempts[1], 3);
	assert_string_equal(c.last_error[1], "");
	assert_int_equal(c.retries, 2);
	assert_int_equal(rx_count(&r), 3);
	webhook_queue_stop(q);
	assert_int_equal(c.done, 2);
	rx_stop(&r);
	json_decref(alert);
}

/* Invariant 4 and webhook_queue_stop(): the queue holds max_jobs and then
 * says LS_BUSY without blocking; stopping interrupts a backoff at once and
 * reports the job in it and every queued one as WEBHOOK_STOPPED. */
static void test_queue_bounded_and_stopped(void **state)
{
	struct webhook_queue_opts qo = { 0 };
	struct webhook_queue *q;
	/* refused before connecting (no policy allows loopback): fails at once */
	struct webhook_cfg w = { .name = "h", .url = "http://127.0.0.1:9/", .secret = "k",
				 .secret_len = 1, .timeout_ms = 5000 };
	struct outcomes c = { .mu = PTHREAD_MUTEX_INITIALIZER };
	int64_t t0;
	int i;

	(void)state;
	qo.max_jobs = 2;
	qo.attempts = 3;
	qo.backoff_ms = 60000;
	qo.done = on_done;
	qo.retry = on_retry;
	qo.ctx = &c;
	assert_int_equal(webhook_queue_start(&qo, &q, NULL), LS_OK);
	assert_int_equal(webhook_queue_push(q, &w, "j0", NULL, NULL), LS_OK);
	/* j0's first attempt fails at once: it then waits a minute */
	for (i = 0; i < 500; i++) {
		pthread_mutex_lock(&c.mu);
		int r = c.retries;
		pthread_mutex_unlock(&c.mu);
		if (r)
			break;
		usleep(10000);
	}
	assert_int_equal(c.retries, 1);
	assert_string_equal(c.retry_error, "delivery failed: the target address is not allowed "
					   "(loopback)");
	assert_int_equal(webhook_queue_push(q, &w, "j1", NULL, NULL), LS_OK);
	assert_int_equal(webhook_queue_push(q, &w, "j2", NULL, NULL), LS_OK);
	t0 = now_ms();
	assert_int_equal(webhook_queue_push(q, &w, "j3", NULL, NULL), LS_BUSY);
	assert_int_equal(webhook_queue_idle(q, 50), LS_BUSY);
	webhook_queue_stop(q);
	if (now_ms() - t0 > 5000)
		fail_msg("stop waited out the backoff");
	assert_int_equal(c.done, 3);
	assert_string_equal(c.job[0], "j0");
	assert_int_equal(c.outcome[0], WEBHOOK_STOPPED);
	assert_int_equal(c.attempts[0], 1);
	for (i = 1; i < 3; i++) {
		assert_int_equal(c.outcome[i], WEBHOOK_STOPPED);
		assert_int_equal(c.attempts[i], 0);
		assert_string_equal(c.last_error[i], "stopped");
	}
	assert_string_equal(c.job[1], "j1");
	assert_string_equal(c.job[2], "j2");
	webhook_queue_stop(NULL);
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
		cmocka_unit_test(test_cfg_parse),
		cmocka_unit_test(test_sign_and_body),
		cmocka_unit_test(test_post_wire_format),
		cmocka_unit_test(test_queue_retry_backoff),
		cmocka_unit_test(test_queue_bounded_and_stopped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
