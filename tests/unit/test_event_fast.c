/*
 * test_event_fast.c - differential test of the native ingest fast path
 * (event_fast.c, jdom in jcanon.c) against the jansson reference
 * (event_batch_parse_ref): for every body and context both must return the
 * same rc, the same items (bytes, lengths, keys) and the same event_error
 * (position, field, reason).
 *
 * Inputs: the bodies of tests/unit/test_event.c, then thousands of
 * generated events - valid ones and near-valid ones with fields missing,
 * of the wrong type, bad times and addresses, unknown and server-only
 * keys, duplicates, deep and large details, escapes and non-ASCII text,
 * and random byte damage - sent alone, as JSON arrays and as NDJSON,
 * under contexts with and without writer, address and service binding.
 * The fast path must decide most of them itself (not hand them to the
 * reference), or the test would compare the reference with itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/event.h"
#include "core/event_fast.h"
#include "core/event_policy.h"

/* Redaction and the time check (event_policy.h) run on both paths: the
 * defaults plus a pointer and the past flag, set up in main(). */
static struct event_policy policy;

static const struct event_ctx ctxs[] = {
	{ "tok-w1", "127.0.0.1", NULL, 1704164645123456LL, NULL },
	{ NULL, NULL, NULL, 0, NULL },
	{ "w\"2\\\x01", "::1", "billing", -1, NULL },
	{ "tok", "10.0.0.1", "caf\xc3\xa9", 253402300799999999LL, NULL },
	{ "tok-r", "::1", "LogSeal", 0, NULL }, /* bound before the reservation */
	{ "tok-p", "127.0.0.1", NULL, 1704164645123456LL, &policy },
};
#define NCTX (sizeof(ctxs) / sizeof(ctxs[0]))

static size_t n_cases, n_fast, n_ok;

/* ------------------------------------------------------------------ */
/* comparison                                                          */

static void same(const char *body, size_t n, enum event_body kind, const struct event_ctx *c)
{
	struct event_batch a, b;
	struct event_error ea, eb;
	bool fell;
	ls_rc ra, rb;

	memset(&ea, 0x5a, sizeof(ea));
	memset(&eb, 0x5a, sizeof(eb));
	ra = event_fast_parse(body, n, kind, c, &a, &ea, &fell);
	rb = event_batch_parse_ref(body, n, kind, EVENT_FORMAT_NATIVE, c, &b, &eb);
	n_cases++;
	n_fast += !fell;
	n_ok += ra == LS_OK;
	if (ra != rb)
		fail_msg("rc %s vs ref %s (%s: %s) for %s body:\n%.*s", ls_rc_name(ra),
			 ls_rc_name(rb), eb.field, eb.reason,
			 kind == EVENT_BODY_NDJSON ? "NDJSON" : "JSON", (int)n, body);
	if (memcmp(&ea, &eb, sizeof(ea)) != 0)
		fail_msg("error (%zu, %s, %s) vs ref (%zu, %s, %s) for:\n%.*s", ea.position,
			 ea.field, ea.reason, eb.position, eb.field, eb.reason, (int)n, body);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		if (a.items[i].len != b.items[i].len ||
		    memcmp(a.items[i].json, b.items[i].json, a.items[i].len) != 0)
			fail_msg("item %zu:\n%s\nref:\n%s", i, a.items[i].json, b.items[i].json);
		assert_int_equal(a.items[i].json[a.items[i].len], 0);
		if (!a.items[i].key || !b.items[i].key)
			assert_true(a.items[i].key == b.items[i].key);
		else {
			assert_string_equal(a.items[i].key, b.items[i].key);
			/* the scope of the key (idem.h) */
			assert_string_equal(a.items[i].key_service, b.items[i].key_service);
		}
	}
	if (ra)
		assert_true(a.n == 0 && a.items == NULL);
	event_batch_release(&a);
	event_batch_release(&b);
}

static void same_all(const char *body, enum event_body kind)
{
	for (size_t i = 0; i < NCTX; i++)
		same(body, strlen(body), kind, &ctxs[i]);
}

/* ------------------------------------------------------------------ */
/* the bodies of test_event.c                                          */

#define GOOD                                                                               \
	"{\"time\":\"2024-05-06T07:08:09Z\",\"actor\":{\"id\":\"u1\"},"                    \
	"\"action\":\"user.login\",\"outcome\":\"success\",\"source\":{\"ip\":\"10.0.0.1\"}}"
#define EV(actor)                                                                          \
	"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"" actor "\"},"             \
	"\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}"

/* GOOD with member key set to raw value v (replaced or added). */
static char *with(const char *key, const char *v)
{
	static const char *const base[][2] = {
		{ "time", "\"2024-05-06T07:08:09Z\"" }, { "actor", "{\"id\":\"u1\"}" },
		{ "action", "\"user.login\"" }, { "outcome", "\"success\"" },
		{ "source", "{\"ip\":\"10.0.0.1\"}" },
	};
	size_t cap = strlen(v) + 512, n = 0;
	char *s = malloc(cap);
	bool done = false;

	assert_non_null(s);
	s[n++] = '{';
	for (size_t i = 0; i < 5; i++) {
		const char *val = base[i][1];

		if (!strcmp(base[i][0], key)) {
			val = v;
			done = true;
		}
		n += (size_t)snprintf(s + n, cap - n, "%s\"%s\":%s", n > 1 ? "," : "", base[i][0],
				      val);
	}
	if (!done)
		n += (size_t)snprintf(s + n, cap - n, ",\"%s\":%s", key, v);
	snprintf(s + n, cap - n, "}");
	return s;
}

static void same_with(const char *key, const char *v)
{
	char *s = with(key, v);

	same_all(s, EVENT_BODY_JSON);
	same_all(s, EVENT_BODY_NDJSON);
	free(s);
}

static void nest_obj(char *buf, size_t levels)
{
	size_t i, n = 0;

	for (i = 0; i < levels; i++, n += 5)
		memcpy(buf + n, "{\"d\":", 5);
	buf[n++] = '1';
	for (i = 0; i < levels; i++)
		buf[n++] = '}';
	buf[n] = '\0';
}

static void test_event_c_bodies(void **state)
{
	static const char *const bodies[] = {
		GOOD,
		"{\"id\":\"evt-42\",\"time\":\"2024-02-29T23:30:00.5-01:00\","
		"\"actor\":{\"id\":\"alice\",\"type\":\"user\",\"name\":\"Alice \xc3\xa9\","
		"\"email\":\"a@example.com\"},\"action\":\"profile.update\",\"outcome\":\"denied\","
		"\"source\":{\"ip\":\"2001:DB8::1\",\"endpoint\":\"web-1\",\"port\":443,"
		"\"user_agent\":\"curl/8\"},\"resource\":{\"type\":\"user\",\"id\":\"42\","
		"\"name\":\"Bob\"},\"service\":\"billing\",\"request_id\":\"r-1\","
		"\"reason\":\"policy\",\"details\":{\"z\":[1,2.5,\"x\"],\"a\":null,\"m\":{\"b\":true,"
		"\"a\":false}}}",
		"{\"actor\":{\"id\":\"u\"},\"action\":\"a\",\"outcome\":\"success\","
		"\"source\":{\"ip\":\"::1\"}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"action\":\"a\",\"outcome\":\"success\","
		"\"source\":{\"ip\":\"::1\"}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"type\":\"user\"},"
		"\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},"
		"\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},\"action\":\"a\","
		"\"source\":{\"ip\":\"::1\"}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},\"action\":\"a\","
		"\"outcome\":\"success\"}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},\"action\":\"a\","
		"\"outcome\":\"success\",\"source\":{}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\\u0000\"},"
		"\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},"
		"\"action\":\"a\",\"action\":\"b\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}",
		"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"\xed\xa0\x80\"},"
		"\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}",
		"", "42", "[]", "[1]", "{}", " [ " EV("a") ",\n" EV("b") "," EV("c") " ] \n",
		"[" EV("a") "," EV("b") ",{\"time\":\"x\"}," EV("d") "]",
		"[" EV("a") ",{\"time\":\"x\",}," EV("c") "]",
		"[" EV("a") "," EV("b") "," EV("c") ",42]", EV("a") EV("b"),
		"\n" EV("a") "\r\n\r\n   \n" EV("b") "\n\n" EV("c") "\n", EV("a") "\n" EV("b"),
		EV("a") "\n\n\n" EV("b") "\r\n{\"actor\":{\"id\":\"c\"}}\n" EV("d") "\n",
		EV("a") "\n\n" EV("b") "\n{\"a\":1,\"a\":2}\n",
		"{\"time\":\"2024-01-01T00:00:00Z\",\n\"actor\":{\"id\":\"a\"}}\n",
		"[" EV("a") "]\n", "\n\r\n \n",
	};
	static const char *const badv[][2] = {
		{ "time", "1704164645" }, { "time", "\"2024-02-30T00:00:00Z\"" },
		{ "time", "\"2023-02-29T00:00:00Z\"" }, { "time", "\"2024-01-01 00:00:00Z\"" },
		{ "time", "\"2024-01-01T00:00:00\"" }, { "time", "\"2024-01-01T24:00:00Z\"" },
		{ "time", "\"2016-12-31T23:59:60Z\"" }, { "time", "\"2024-01-01T00:00:00.Z\"" },
		{ "time", "\"2024-01-01T00:00:00.1234567890Z\"" },
		{ "time", "\"2024-01-01T00:00:00+1:00\"" }, { "time", "\"2024-01-01T00:00:00Zjunk\"" },
		{ "time", "\"2024-02-29T23:30:00-01:00\"" }, { "time", "\"2024-01-02t03:04:05.1z\"" },
		{ "time", "\"2024-12-31T23:59:59.9999999+00:00\"" },
		{ "time", "\"0000-01-01T00:00:00Z\"" }, { "time", "\"9999-12-31T23:59:59Z\"" },
		{ "time", "\"0000-01-01T00:00:00+00:01\"" }, { "time", "\"9999-12-31T23:59:59-00:01\"" },
		{ "actor", "\"alice\"" }, { "actor", "{\"id\":\"\"}" }, { "actor", "{\"id\":7}" },
		{ "actor", "{\"id\":\"u\",\"type\":\"robot\"}" },
		{ "actor", "{\"id\":\"u\",\"role\":\"x\"}" }, { "actor", "{\"id\":\"u\",\"email\":1}" },
		{ "action", "\"\"" }, { "action", "[\"a\"]" }, { "action", "\"a\\nb\"" },
		{ "outcome", "\"ok\"" }, { "outcome", "\"Success\"" },
		{ "source", "{\"ip\":\"999.1.1.1\"}" }, { "source", "{\"ip\":\"fe80::1%eth0\"}" },
		{ "source", "{\"ip\":\"10.0.0.1\",\"port\":65536}" },
		{ "source", "{\"ip\":\"10.0.0.1\",\"port\":\"80\"}" },
		{ "source", "{\"ip\":\"10.0.0.1\",\"port\":80.5}" }, { "source", "{\"endpoint\":\"\"}" },
		{ "source", "{\"ip\":\"10.0.0.1\",\"mac\":\"x\"}" },
		{ "source", "{\"ip\":\"FE80:0000:0000:0000:0202:B3FF:FE1E:8329\"}" },
		{ "source", "{\"ip\":\"::ffff:192.0.2.1\"}" }, { "source", "{\"ip\":\"0:0:0:0:0:0:0:0\"}" },
		{ "resource", "\"doc\"" }, { "resource", "{\"id\":5}" },
		{ "resource", "{\"owner\":\"x\"}" }, { "details", "[1]" }, { "service", "\"\"" },
		{ "service", "\"billing\"" }, { "service", "\"other\"" }, { "id", "\"\"" },
		{ "request_id", "1" }, { "level", "\"info\"" },
		{ "received", "\"2024-01-01T00:00:00.000000Z\"" },
		{ "writer", "\"2024-01-01T00:00:00.000000Z\"" },
		{ "remote_ip", "\"2024-01-01T00:00:00.000000Z\"" },
		{ "schema", "\"2024-01-01T00:00:00.000000Z\"" },
		/* reserved for the server; hidden characters in identifiers */
		{ "service", "\"logseal\"" }, { "service", "\" LogSeal\"" },
		{ "service", "\"logseal-x\"" }, { "action", "\"logseal.alert.fired\"" },
		{ "action", "\"LOGSEAL\"" }, { "action", "\"logsealx\"" },
		{ "actor", "{\"id\":\"a\\u202eb\"}" }, { "actor", "{\"id\":\"a\\u200bb\"}" },
		{ "actor", "{\"id\":\"\\ufeffa\"}" }, { "actor", "{\"id\":\"a\\u0085\"}" },
		{ "actor", "{\"id\":\"a\\t\"}" }, { "actor", "{\"id\":\"a\\udb40\\udc41\"}" },
		{ "actor", "{\"id\":\"u\",\"name\":\"a\\u200db\"}" },
		{ "actor", "{\"id\":\"u\",\"name\":\"a\\u2066b\"}" },
		{ "actor", "{\"id\":\"u\",\"email\":\"a\\u200cb\"}" },
		{ "resource", "{\"id\":\"a\\u2069\"}" }, { "resource", "{\"name\":\"a\\u2069\"}" },
		{ "action", "\"a\\u202db\"" }, { "service", "\"a\\u00adb\"" },
	};
	char longs[400], deep[256], *s, *body;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		same_all(bodies[i], EVENT_BODY_JSON);
		same_all(bodies[i], EVENT_BODY_NDJSON);
	}
	for (i = 0; i < sizeof(badv) / sizeof(badv[0]); i++)
		same_with(badv[i][0], badv[i][1]);
	for (n = 255; n <= 258; n++) {
		memset(longs, 'a', n + 2);
		longs[0] = longs[n + 1] = '"';
		longs[n + 2] = 0;
		same_with("action", longs);
		if (n == 255) {
			longs[127 + 1] = longs[0];
			longs[127 + 2] = 0;
			same_with("id", longs);
			same_with("service", longs);
			longs[129] = 'k';
			longs[130] = '"';
			longs[131] = 0;
			same_with("id", longs);
			same_with("service", longs);
		}
	}
	/* depth: 15 and 16 levels of details, alone and second in an array */
	for (n = 14; n <= 17; n++) {
		nest_obj(deep, n);
		body = with("details", deep);
		same_all(body, EVENT_BODY_JSON);
		same_all(body, EVENT_BODY_NDJSON);
		s = malloc(strlen(body) + sizeof(GOOD) + 4);
		assert_non_null(s);
		sprintf(s, "[" GOOD ",%s]", body);
		same_all(s, EVENT_BODY_JSON);
		free(s);
		free(body);
	}
	/* size: details strings around the 65535-byte limit */
	for (n = 65000; n < 65600; n += 37) {
		s = malloc(n + 3);
		assert_non_null(s);
		s[0] = '"';
		memset(s + 1, 'x', n);
		s[n + 1] = '"';
		s[n + 2] = 0;
		body = malloc(n + 16);
		assert_non_null(body);
		snprintf(body, n + 16, "{\"p\":%s}", s);
		same_with("details", body);
		free(body);
		free(s);
	}
	same(NULL, 0, EVENT_BODY_JSON, &ctxs[0]);
	same(GOOD, sizeof(GOOD) - 1, EVENT_BODY_JSON, NULL);
}

/* ------------------------------------------------------------------ */
/* generated events                                                    */

static uint64_t rng = 0x1234567887654321ULL;
static bool clean;	/* this body: valid events only (no injected faults) */

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static size_t rn(size_t n)
{
	return (size_t)(rnd() % n);
}

/* A fault with probability 1/n, never in a clean body. */
static bool fault(size_t n)
{
	return !clean && rn(n) == 0;
}

#define PICK(a) ((a)[rn(sizeof(a) / sizeof((a)[0]))])

struct sb {
	char *p;
	size_t len, cap;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_s(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static bool ndjson;	/* this body: NDJSON, no newline inside an event */

static void ws(struct sb *b)
{
	static const char *const w[] = { " ", "\n", "\t", "\r\n", "  " };
	static const char *const w1[] = { " ", "\t", "\r ", "  " };

	if (rn(8) == 0)
		sb_s(b, ndjson ? PICK(w1) : PICK(w));
}

/* Pools: the first good_* values are valid for the field. */
static const char *const times[] = {
	"\"2024-05-06T07:08:09Z\"", "\"2024-02-29T23:30:00.5-01:00\"",
	"\"2024-01-02t03:04:05.123456789z\"", "\"1969-12-31T23:59:59.999999Z\"",
	"\"2024-06-30T23:45:00+05:45\"", "\"0000-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"",
	"\"2024-01-01T00:00:00\\u002e5Z\"",
	/* bad */
	"\"2024-02-30T00:00:00Z\"", "\"2016-12-31T23:59:60Z\"", "\"2024-01-01T00:00:00\"",
	"\"2024-01-01T00:00:00.Z\"", "\"\"", "\"x\"", "1704164645", "null", "{}", "[]", "true",
	"\"2024-01-01T00:00:00+24:00\"", "\"9999-12-31T23:59:59-00:01\"",
	"\"2024-01-01T00:00:00Z \"", "\"\xc3\xa9\"",
};
#define GOOD_TIMES 8
static const char *const strs[] = {
	"\"u1\"", "\"alice\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "\"\\u00e9\\ud83d\\ude00\"",
	"\"a\\\"b\\\\c\\/d\"", "\"tab\\there\"", "\"\\u007f\"", "\"x\x7f\"", "\"\\u0001\"",
	"\"line\\nbreak\"", "\"\"", "\"billing\"", "\"caf\\u00e9\"",
	/* hidden characters: refused in identifiers only */
	"\"a\\u202eb\"", "\"a\xe2\x80\x8b" "b\"", "\"a\\u200db\"", "\"\xc2\x85\"",
	/* never strings */
	"7", "-0", "1.5", "null", "true", "[]", "{}", "[\"a\"]",
};
#define N_STR 13
static const char *const actor_types[] = {
	"\"user\"", "\"service\"", "\"system\"", "\"anonymous\"",
	"\"robot\"", "\"User\"", "1", "\"\"", "\"use\\u0072\"",
};
static const char *const outcomes[] = {
	"\"success\"", "\"failure\"", "\"denied\"", "\"error\"", "\"unknown\"",
	"\"ok\"", "\"Success\"", "1", "null", "\"succes\\u0073\"",
};
static const char *const ips[] = {
	"\"10.0.0.1\"", "\"::1\"", "\"2001:DB8:0:0:0:0:0:1\"", "\"::ffff:192.0.2.1\"",
	"\"FE80:0000:0000:0000:0202:B3FF:FE1E:8329\"", "\"192.168.001.1\"",
	"\"999.1.1.1\"", "\"fe80::1%eth0\"", "\"\"", "\" 1.2.3.4\"", "\"example.com\"", "4",
	"\"1:2:3:4:5:6:7:8:9\"",
	"\"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001\"",
};
static const char *const ports[] = {
	"0", "80", "443", "65535", "-0", "65536", "-1", "\"80\"", "80.5", "1e2", "8e0",
	"99999999999999999", "null",
};
static const char *const unknown_keys[] = {
	"level", "received", "writer", "remote_ip", "schema", "Time", "", "\xc3\xa9",
	"tim\\u0065", "a\\nb",
	"a-very-long-unknown-key-name-that-goes-on-and-on-and-on-and-on-and-on-and-on-"
	"and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on",
};
static const char *const scalars[] = {
	"0", "-0", "1", "-12", "9223372036854775807", "-9223372036854775808", "1.5", "-0.0",
	"1e2", "1E-400", "2.5e+300", "0.1", "123456789.123456789", "true", "false", "null",
	"\"\"", "\"x\"", "\"\\u00e9\\n\\t\\\"\"", "\"\xe2\x82\xac\"", "\"\\ud83d\\ude00\"",
};

static void gen_string(struct sb *b, size_t len)
{
	sb_s(b, "\"");
	for (size_t i = 0; i < len; i++) {
		switch (rn(20)) {
		case 0:
			sb_s(b, "\\n");
			break;
		case 1:
			sb_s(b, "\xc3\xa9");
			break;
		case 2:
			sb_s(b, "\\u0002");
			break;
		default: {
			char c = (char)('a' + rn(26));
			sb_put(b, &c, 1);
		}
		}
	}
	sb_s(b, "\"");
}

static void gen_value(struct sb *b, int depth);

static void gen_object(struct sb *b, int depth)
{
	static const char *const keys[] = { "a", "b", "B", "", "z", "aa", "\xc3\xa9", "k\\u0041",
					     "rows", "pad", "x\\ny", "\\u00e9" };
	size_t n = rn(5);

	sb_s(b, "{");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_s(b, ",");
		ws(b);
		/* duplicates happen now and then: the pool is small */
		sb_s(b, "\"");
		sb_s(b, PICK(keys));
		if (!fault(30)) {
			char suffix[8];

			snprintf(suffix, sizeof(suffix), "%zu", i);
			sb_s(b, suffix);
		}
		sb_s(b, "\"");
		ws(b);
		sb_s(b, ":");
		ws(b);
		gen_value(b, depth + 1);
	}
	ws(b);
	sb_s(b, "}");
}

static void gen_value(struct sb *b, int depth)
{
	size_t k = depth > (clean ? 10 : 18) ? 0 : rn(10);

	if (k < 5) {
		sb_s(b, PICK(scalars));
	} else if (k < 6) {
		gen_string(b, rn(20));
	} else if (k < 8) {
		gen_object(b, depth);
	} else {
		size_t n = rn(4);

		sb_s(b, "[");
		for (size_t i = 0; i < n; i++) {
			if (i)
				sb_s(b, ",");
			gen_value(b, depth + 1);
		}
		sb_s(b, "]");
	}
}

static const char *pick_good(const char *const *pool, size_t n, size_t good)
{
	return clean || rn(6) ? pool[rn(good)] : pool[rn(n)];
}

#define PG(a, g) pick_good(a, sizeof(a) / sizeof((a)[0]), g)

static void member(struct sb *b, bool *first, const char *key)
{
	if (!*first)
		sb_s(b, ",");
	*first = false;
	ws(b);
	sb_s(b, "\"");
	sb_s(b, key);
	sb_s(b, "\"");
	ws(b);
	sb_s(b, ":");
	ws(b);
}

/* An object from (key, pool) candidates, shuffled, some dropped. */
static void gen_sub(struct sb *b, const char *const *keys, size_t nk, unsigned need)
{
	size_t order[8], i;
	bool first = true;

	for (i = 0; i < nk; i++)
		order[i] = i;
	for (i = nk; i > 1; i--) {
		size_t j = rn(i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	sb_s(b, "{");
	for (i = 0; i < nk; i++) {
		size_t k = order[i];
		const char *key = keys[k];

		if (!((need >> k) & 1) ? rn(2) == 0 : fault(30))
			continue;
		member(b, &first, key);
		if (!strcmp(key, "type") && keys == NULL)
			continue;
		if (!strcmp(key, "ip"))
			sb_s(b, PG(ips, 5));
		else if (!strcmp(key, "port"))
			sb_s(b, PG(ports, 5));
		else if (!strcmp(key, "type") && nk == 4)
			sb_s(b, PG(actor_types, 4));
		else if (clean)
			sb_s(b, strs[rn(5)]);
		else
			sb_s(b, PG(strs, N_STR));
	}
	if (fault(25)) {
		member(b, &first, PICK(unknown_keys));
		sb_s(b, "1");
	}
	if (fault(40) && nk) {
		member(b, &first, keys[rn(nk)]);
		sb_s(b, "\"dup\"");
	}
	ws(b);
	sb_s(b, "}");
}

static void gen_event(struct sb *b)
{
	static const char *const top[] = { "time", "actor", "action", "outcome", "source",
					    "resource", "service", "id", "request_id", "reason",
					    "details" };
	static const char *const akeys[] = { "id", "type", "name", "email" };
	static const char *const skeys[] = { "ip", "endpoint", "port", "user_agent" };
	static const char *const rkeys[] = { "type", "id", "name" };
	size_t order[11], i;
	bool first = true;

	for (i = 0; i < 11; i++)
		order[i] = i;
	for (i = 11; i > 1; i--) {
		size_t j = rn(i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	ws(b);
	sb_s(b, "{");
	for (i = 0; i < 11; i++) {
		const char *key = top[order[i]];
		bool required = order[i] < 5;

		if (required ? fault(40) : rn(2) == 0)
			continue;
		member(b, &first, key);
		switch (order[i]) {
		case 0:
			sb_s(b, PG(times, GOOD_TIMES));
			break;
		case 1:
			if (fault(30))
				sb_s(b, PICK(strs));
			else
				gen_sub(b, akeys, 4, 1);
			break;
		case 4:
			if (fault(30))
				sb_s(b, PICK(strs));
			else
				gen_sub(b, skeys, 4, rn(2) ? 1 : 2);
			break;
		case 5:
			if (fault(30))
				sb_s(b, PICK(strs));
			else
				gen_sub(b, rkeys, 3, 0);
			break;
		case 3:
			sb_s(b, PG(outcomes, 5));
			break;
		case 10:
			if (fault(30)) {
				sb_s(b, PICK(scalars));
			} else if (fault(40)) {
				/* deep: 14 to 17 levels below details */
				size_t lv = 14 + rn(4);
				for (size_t k = 0; k < lv; k++)
					sb_s(b, rn(2) ? "{\"d\":" : "[");
				sb_s(b, "1");
				for (size_t k = b->len; k-- > 0 && lv;) {
					/* close in reverse order of opening */
					(void)k;
					break;
				}
				{
					/* reconstruct closers from the opened text */
					size_t pos = b->len - 1, m = 0;
					char closers[32];
					while (m < lv) {
						pos--;
						if (b->p[pos] == '[') {
							closers[m++] = ']';
						} else if (b->p[pos] == '{') {
							closers[m++] = '}';
						}
					}
					sb_put(b, closers, m);
				}
			} else if (fault(60)) {
				sb_s(b, "{\"pad\":");
				gen_string(b, 65000 + rn(700));
				sb_s(b, "}");
			} else {
				gen_object(b, 1);
			}
			break;
		case 2:
		case 6:
		case 7:
			if (fault(30)) {
				size_t len = 120 + rn(140);
				gen_string(b, len);
			} else if (fault(6)) {
				sb_s(b, PICK(strs));
			} else if (fault(10)) {
				static const char *const rsv[] = {
					"\"logseal\"", "\"LogSeal.alert.fired\"", "\"logseal.\"",
					"\" logseal \"", "\"\\u006cogseal.x\"", "\"logseal2\"",
					"\"a\\u202eb\"", "\"a\\u200bb\"",
				};
				sb_s(b, PICK(rsv));
			} else {
				sb_s(b, rn(3) ? "\"billing\"" : "\"caf\xc3\xa9\"");
			}
			break;
		default:
			sb_s(b, PG(strs, N_STR));
		}
	}
	if (fault(20)) {
		member(b, &first, PICK(unknown_keys));
		sb_s(b, PICK(scalars));
	}
	if (fault(50)) {
		member(b, &first, top[rn(11)]);
		sb_s(b, "\"dup\"");
	}
	ws(b);
	sb_s(b, "}");
	ws(b);
}

/* Random damage: flip, drop or insert a byte. */
static void damage(struct sb *b)
{
	static const char ins[] = "{}[]\",:\\\x00\x01\xff\n ";
	size_t at;

	if (!b->len)
		return;
	at = rn(b->len);
	switch (rn(3)) {
	case 0:
		b->p[at] = (char)rnd();
		break;
	case 1:
		memmove(b->p + at, b->p + at + 1, b->len - at);
		b->len--;
		break;
	default:
		sb_put(b, "x", 1);
		memmove(b->p + at + 1, b->p + at, b->len - at - 1);
		b->p[at] = ins[rn(sizeof(ins) - 1)];
	}
}

static void test_generated(void **state)
{
	struct sb b = { 0 };
	size_t round, fast0 = n_fast, cases0 = n_cases, ok0 = n_ok;

	(void)state;
	for (round = 0; round < 20000; round++) {
		size_t k = 1 + rn(round % 3 ? 4 : 12), i;
		enum event_body kind = rn(2) ? EVENT_BODY_NDJSON : EVENT_BODY_JSON;

		b.len = 0;
		clean = rn(3) == 0;
		ndjson = kind == EVENT_BODY_NDJSON;
		if (kind == EVENT_BODY_JSON && (k > 1 || rn(2))) {
			sb_s(&b, "[");
			for (i = 0; i < k; i++) {
				if (i)
					sb_s(&b, ",");
				gen_event(&b);
			}
			sb_s(&b, "]");
		} else {
			for (i = 0; i < k; i++) {
				gen_event(&b);
				if (rn(10) == 0)
					sb_s(&b, "\n \r");
				if (i + 1 < k || rn(2))
					sb_s(&b, rn(4) ? "\n" : "\r\n");
			}
		}
		if (fault(10))
			damage(&b);
		/* clean bodies name no service: any binding holds */
		same(b.p, b.len, kind, &ctxs[clean ? rn(2) : rn(NCTX)]);
	}
	free(b.p);
	print_message("# %zu generated bodies: %zu decided by the fast path, %zu accepted\n",
		      n_cases - cases0, n_fast - fast0, n_ok - ok0);
	/* the fast path must do the work, not delegate it */
	assert_true(n_fast - fast0 > (n_cases - cases0) * 3 / 4);
	assert_true(n_ok - ok0 > (n_cases - cases0) / 20);
}

int main(void)
{
	event_policy_init(&policy);
	event_policy_add_pointer(&policy, "/details/a", NULL);
	event_policy_add_pointer(&policy, "/reason", NULL);
	event_policy_add_key(&policy, "k", NULL);
	policy.flag_past_us = 86400LL * 1000000;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_c_bodies),
		cmocka_unit_test(test_generated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
