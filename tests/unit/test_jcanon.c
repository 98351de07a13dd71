/*
 * test_jcanon - the one-pass canonicaliser agrees with the jansson
 * reference (event_canonicalize_text_ref): exact bytes on known inputs,
 * the same refusals, and agreement on thousands of generated documents.
 * jcanon_is_object() takes exactly what jdom_parse() takes as an object
 * (duplicate keys aside).
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
#include <jansson.h>

#include "core/event.h"
#include "base/jcanon.h"

static ls_rc both(const char *s, size_t n, char **out, size_t *len)
{
	char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	ls_rc ra = jcanon_object(s, n, EVENT_MAX_DEPTH, EVENT_MAX_BYTES, &a, &al, NULL);
	ls_rc rb = event_canonicalize_text_ref(s, n, &b, &bl, NULL);

	if (ra != rb)
		fail_msg("jcanon %s, reference %s, for %.*s", ls_rc_name(ra), ls_rc_name(rb),
			 (int)(n > 200 ? 200 : n), s);
	if (ra == LS_OK) {
		assert_int_equal(al, bl);
		assert_memory_equal(a, b, al);
	}
	free(b);
	if (out) {
		*out = a;
		*len = al;
	} else {
		free(a);
	}
	return ra;
}

static void expect(const char *in, const char *want)
{
	char *out;
	size_t len;

	assert_int_equal(both(in, strlen(in), &out, &len), LS_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
}

static void test_exact(void **state)
{
	(void)state;
	expect("{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}");
	expect(" { \"z\" : [ 1 , 2.5 , -0 , -0.0 , 1e2 , true , false , null ] } \n",
	       "{\"z\":[1,2.5,0,0,100,true,false,null]}");
	expect("{\"s\":\"\\u00e9\\/\\b\\u0001\\ud83d\\ude00\"}",
	       "{\"s\":\"\xc3\xa9/\\b\\u0001\xf0\x9f\x98\x80\"}");
	expect("{\"b\":{\"y\":1,\"x\":{\"d\":[],\"c\":{}}},\"a\":\"\"}",
	       "{\"a\":\"\",\"b\":{\"x\":{\"c\":{},\"d\":[]},\"y\":1}}");
	/* keys sort by decoded bytes, not by their escaped form */
	expect("{\"\\u0002\":1,\"\\u0001\":2,\"A\":3}", "{\"\\u0001\":2,\"\\u0002\":1,\"A\":3}");
	expect("{\"n\":9223372036854775807,\"m\":-9223372036854775808}",
	       "{\"m\":-9223372036854775808,\"n\":9223372036854775807}");
	expect("{\"r\":0.1}", "{\"r\":0.10000000000000001}");
}

static void test_refusals(void **state)
{
	static const char *bad[] = {
		"", "[]", "1", "\"x\"", "{", "{\"a\":1,}", "{\"a\":1}x", "{\"a\":1,\"a\":2}",
		"{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}",
		"{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\x01\"}",
		"{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
		"{\"a\":99999999999999999999}", "{\"a\":1e400}", "{\"a\":tru}", "{a:1}",
		"\xef\xbb\xbf{}", "{\"a\":[1,]}", "{\"a\":[1 2]}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(both(bad[i], strlen(bad[i]), NULL, NULL), LS_INVALID);
	/* a NUL byte after a number: jansson alone would skip it */
	assert_int_equal(both("{\"a\":8\0}", 8, NULL, NULL), LS_INVALID);
}

static void test_limits(void **state)
{
	char deep[256], *big;
	size_t n = 0;

	(void)state;
	/* 16 levels accepted, 17 refused */
	for (int d = 16; d <= 17; d++) {
		n = 0;
		deep[n++] = '{';
		for (int k = 1; k < d; k++) {
			memcpy(deep + n, "\"a\":{", 5);
			n += 5;
		}
		for (int k = 0; k < d; k++)
			deep[n++] = '}';
		assert_int_equal(both(deep, n, NULL, NULL), d == 16 ? LS_OK : LS_INVALID);
	}
	/* exactly the size limit, and one byte more */
	big = malloc(EVENT_MAX_BYTES + 16);
	assert_non_null(big);
	for (int extra = 0; extra <= 1; extra++) {
		size_t body = EVENT_MAX_BYTES - 8 + (size_t)extra; /* {"a":"..."} is 8 bytes + body */
		memcpy(big, "{\"a\":\"", 6);
		memset(big + 6, 'x', body);
		memcpy(big + 6 + body, "\"}", 2);
		assert_int_equal(both(big, body + 8, NULL, NULL), extra ? LS_LIMIT : LS_OK);
	}
	/* over the limit and a syntax error later: the syntax error wins */
	memcpy(big + EVENT_MAX_BYTES + 1, "x", 1);
	assert_int_equal(both(big, EVENT_MAX_BYTES + 2, NULL, NULL), LS_INVALID);
	free(big);
}

/* ------------------------------------------------ generated documents --- */

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8) & 0xffffff;
}

static void gen_string(unsigned *s, char *o, size_t *n)
{
	static const char *pieces[] = { "a", "b", "key", "\\n", "\\u00e9", "\\\"", "\xc3\xa9",
					"\\ud83d\\ude00", "\\/", "\\u0007", "Z", "" };
	unsigned k = rnd(s) % 4;

	o[(*n)++] = '"';
	for (unsigned i = 0; i < k; i++) {
		const char *p = pieces[rnd(s) % (sizeof(pieces) / sizeof(pieces[0]))];
		memcpy(o + *n, p, strlen(p));
		*n += strlen(p);
	}
	o[(*n)++] = '"';
}

static void gen_value(unsigned *s, char *o, size_t *n, int depth)
{
	static const char *scalars[] = { "0", "-1", "42", "3.25", "-0.0", "1e5", "2E-3", "true",
					 "false", "null", "123456789012", "0.1", "-0",
					 "-99999999999999999", "999999999999999999",
					 "9223372036854775807", "-9223372036854775808",
					 "9223372036854775808" };
	unsigned kind = depth > 4 ? rnd(s) % 3 : rnd(s) % 5;

	if (kind == 0) {
		const char *p = scalars[rnd(s) % (sizeof(scalars) / sizeof(scalars[0]))];
		memcpy(o + *n, p, strlen(p));
		*n += strlen(p);
	} else if (kind <= 2) {
		gen_string(s, o, n);
	} else if (kind == 3) {
		unsigned k = rnd(s) % 4;
		o[(*n)++] = '[';
		for (unsigned i = 0; i < k; i++) {
			if (i)
				o[(*n)++] = ',';
			gen_value(s, o, n, depth + 1);
		}
		o[(*n)++] = ']';
	} else {
		unsigned k = rnd(s) % 5;
		o[(*n)++] = '{';
		for (unsigned i = 0; i < k; i++) {
			if (i)
				o[(*n)++] = rnd(s) % 8 ? ',' : ' ';
			gen_string(s, o, n);
			o[(*n)++] = ':';
			gen_value(s, o, n, depth + 1);
		}
		o[(*n)++] = '}';
	}
}

static void test_generated(void **state)
{
	char *buf = malloc(1 << 20);
	unsigned seed = 12345, ok = 0, refused = 0;

	(void)state;
	assert_non_null(buf);
	for (int i = 0; i < 20000; i++) {
		size_t n = 0;
		buf[n++] = '{';
		gen_string(&seed, buf, &n);
		buf[n++] = ':';
		gen_value(&seed, buf, &n, 1);
		buf[n++] = '}';
		if (both(buf, n, NULL, NULL) == LS_OK)
			ok++;
		else
			refused++;
	}
	/* the generator makes duplicate keys and stray spaces on purpose:
	 * both outcomes must be exercised */
	assert_true(ok > 1000);
	assert_true(refused > 100);
	free(buf);
}

/* jcanon_is_object says yes exactly when jdom_parse() takes the text as an
 * object; duplicate keys it does not look for. */
static void check_is_object(const char *s, size_t n, size_t depth)
{
	struct jdom d = { 0 };
	struct ls_err err = { { 0 } };
	size_t root;
	ls_rc rc = jdom_parse(&d, s, n, depth, &root, &err);
	bool want = rc == LS_OK && d.node[root].type == JN_OBJ;

	if (rc == LS_INVALID && strstr(err.msg, "duplicate object key")) {
		/* jdom stopped there: jansson, taking duplicates, judges the rest */
		json_t *j = json_loadb(s, n, 0, NULL);

		want = j && json_is_object(j);
		json_decref(j);
	}

	if (jcanon_is_object(s, n, depth) != want)
		fail_msg("jcanon_is_object %d, jdom %s (%s), for %.*s", !want, ls_rc_name(rc),
			 err.msg, (int)(n > 200 ? 200 : n), s);
	jdom_release(&d);
}

static void test_is_object(void **state)
{
	static const char *cases[] = {
		"{}", " {\"a\":1} ", "{\"a\":[1,2,{\"b\":null}],\"c\":true}", "[]", "[1]", "1",
		"\"s\"", "", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}",
		"{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":.5}",
		"{\"a\":1e+5}", "{\"a\":-0.0e-0}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":falsey}",
		"{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\\ud83d\\u0041\"}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12g4\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\xc3\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\xac\"}",
		"{\"a\":\"tab\there\"}", "{\"a\":1}{}", "{\"a\":1}x", "{\"a\":1,\"a\":2}",
		"{\"a\":123456789012345678}", "{\"a\":1234567890123456789}",
		"{\"a\":99999999999999999999}", "{\"a\":-9223372036854775808}",
		"{\"a\":-9223372036854775809}", "{\"a\":1e400}", "{\"a\":1e-400}",
		"{\"a\":[[[[]]]]}", "{\"\\\"\":\"\\/\\b\\f\\n\\r\\t\"}",
	};
	char deep[256];
	size_t n;
	unsigned seed = 777;
	char *buf = malloc(1 << 20);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_is_object(cases[i], strlen(cases[i]), 16);
	/* the depth limit counts the same way: 16 levels taken, 17 refused */
	for (int dd = 15; dd <= 17; dd++) {
		n = 0;
		deep[n++] = '{';
		for (int k = 1; k < dd; k++) {
			memcpy(deep + n, "\"a\":{", 5);
			n += 5;
		}
		for (int k = 0; k < dd; k++)
			deep[n++] = '}';
		check_is_object(deep, n, 16);
		assert_int_equal(jcanon_is_object(deep, n, 16), dd <= 16);
	}
	assert_true(jcanon_is_object("{\"a\":1}", 7, 16));
	assert_false(jcanon_is_object("{\"a\":1}", 6, 16));
	assert_false(jcanon_is_object(NULL, 0, 16));
	/* generated documents, and every prefix of some of them */
	for (int i = 0; i < 20000; i++) {
		n = 0;
		gen_value(&seed, buf, &n, 0);
		check_is_object(buf, n, 16);
		if (i % 50 == 0)
			for (size_t k = 0; k < n; k++)
				check_is_object(buf, k, 16);
	}
	free(buf);
}

/* jcanon_ascii_run (sixteen bytes at a time) against the rule it states,
 * byte by byte: every byte value at every position of a 40-byte window,
 * over every length and start, so that the stop is found in the vector
 * part, in the scalar tail, and not at all. */
static void test_ascii_run(void **state)
{
	char buf[40];

	(void)state;
	for (int v = 0; v < 256; v++) {
		for (size_t pos = 0; pos < sizeof(buf); pos++) {
			memset(buf, 'a', sizeof(buf));
			buf[pos] = (char)v;
			for (size_t start = 0; start < 3; start++) {
				for (size_t n = 0; start + n <= sizeof(buf); n++) {
					size_t want = 0;

					while (want < n) {
						unsigned char c = (unsigned char)buf[start + want];

						if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
							break;
						want++;
					}
					if (jcanon_ascii_run(buf + start, n) != want)
						fail_msg("byte 0x%02x at %zu, start %zu, n %zu: %zu, want %zu",
							 v, pos, start, n,
							 jcanon_ascii_run(buf + start, n), want);
				}
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_is_object),
		cmocka_unit_test(test_ascii_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
