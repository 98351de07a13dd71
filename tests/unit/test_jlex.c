/*
 * test_jlex - the JSON lexer (base/jlex.h) on the tokens of RFC 8259:
 * white space, strings (escapes, \u surrogate pairs, UTF-8, what is
 * refused and where), numbers (grammar only: -0, 1e400, 01, 1.) and
 * literals, and how the canonicaliser built on it treats the numbers the
 * grammar lets through.
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

#include "base/jcanon.h"
#include "base/jlex.h"
#include "core/event.h"

/* Lex the string whose opening quote is s[0] (n bytes in all, or strlen):
 * 1 with the decoded bytes in out (*olen) and *end past the closing quote,
 * 0 with *why and *end at the error. */
static int lex_str(const char *s, size_t n, unsigned flags, char *out, size_t *olen, size_t *end,
		   const char **why)
{
	struct jlex_str t;
	size_t i = 1, o = 0;
	int k;

	assert_int_equal(s[0], '"');
	while ((k = jlex_str_next(s, n, &i, flags, &t)) > 0) {
		const char *src = k == JLEX_RUN ? s + t.start : t.utf8;
		size_t sn = k == JLEX_RUN ? i - t.start : t.len;

		assert_true(i <= n);
		memcpy(out + o, src, sn);
		o += sn;
	}
	*end = i;
	*olen = o;
	if (k == JLEX_ERR) {
		*why = t.why;
		return 0;
	}
	return 1;
}

static void ok_str(const char *s, size_t n, unsigned flags, const char *want, size_t wn)
{
	char out[256];
	size_t olen, end, skip = 0;
	const char *why = NULL;

	if (!n)
		n = strlen(s);
	if (!lex_str(s, n, flags, out, &olen, &end, &why))
		fail_msg("refused %s: %s", s, why);
	assert_int_equal(end, n);
	assert_int_equal(olen, wn);
	assert_memory_equal(out, want, wn);
	/* the skipping form agrees */
	assert_true(jlex_str_skip(s, n, &skip, flags, NULL));
	assert_int_equal(skip, n);
}

static void bad_str(const char *s, size_t n, unsigned flags, const char *why_part, size_t at)
{
	char out[256];
	size_t olen, end, skip = 0;
	const char *why = NULL, *why2 = NULL;

	if (!n)
		n = strlen(s);
	if (lex_str(s, n, flags, out, &olen, &end, &why))
		fail_msg("took %s", s);
	if (!strstr(why, why_part))
		fail_msg("%s: why is \"%s\", not \"%s\"", s, why, why_part);
	assert_int_equal(end, at);
	assert_false(jlex_str_skip(s, n, &skip, flags, &why2));
	assert_string_equal(why, why2);
}

static void test_ws(void **state)
{
	(void)state;
	assert_int_equal(jlex_ws(" \t\n\rx", 5, 0), 4);
	assert_int_equal(jlex_ws("x ", 2, 0), 0);
	assert_int_equal(jlex_ws("  ", 2, 0), 2);
	assert_int_equal(jlex_ws("  ", 2, 2), 2);
	/* only the four of RFC 8259: no \v, \f, NBSP */
	assert_int_equal(jlex_ws("\v", 1, 0), 0);
	assert_int_equal(jlex_ws("\f", 1, 0), 0);
	assert_int_equal(jlex_ws("\xc2\xa0", 2, 0), 0);
}

static void test_strings_valid(void **state)
{
	(void)state;
	ok_str("\"\"", 0, 0, "", 0);
	ok_str("\"abc\"", 0, 0, "abc", 3);
	ok_str("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, 0, "\"\\/\b\f\n\r\t", 8);
	ok_str("\"\\u0041\\u00e9\\u20AC\"", 0, 0, "A\xc3\xa9\xe2\x82\xac", 6);
	/* a surrogate pair: U+1D11E */
	ok_str("\"\\uD834\\uDD1E\"", 0, 0, "\xf0\x9d\x84\x9e", 4);
	ok_str("\"\\udbff\\udfff\"", 0, 0, "\xf4\x8f\xbf\xbf", 4);
	/* raw UTF-8 of every length, and DEL, which needs no escape */
	ok_str("\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\x7f\"", 0, 0,
	       "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\x7f", 10);
	/* a long run (past the 16-byte vector steps) then an escape */
	ok_str("\"0123456789abcdef0123456789abcdef\\n\"", 0, 0,
	       "0123456789abcdef0123456789abcdef\n", 33);
	/* \u0000 only when the caller lets it through */
	ok_str("\"a\\u0000b\"", 0, JLEX_NUL, "a\0b", 3);
	/* JLEX_RAW: bytes from 0x80 up unchecked */
	ok_str("\"\xff\xc0\x80\xed\xa0\x80\"", 0, JLEX_RAW, "\xff\xc0\x80\xed\xa0\x80", 6);
	/* the closing quote ends it: what follows is not read */
	ok_str("\"a\"", 3, 0, "a", 1);
}

static void test_strings_invalid(void **state)
{
	(void)state;
	bad_str("\"abc", 0, 0, "unterminated", 4);
	bad_str("\"", 0, 0, "unterminated", 1);
	bad_str("\"ab\\", 0, 0, "unterminated", 4);
	bad_str("\"a\nb\"", 0, 0, "control character", 2);
	bad_str("\"a\tb\"", 0, 0, "control character", 2);
	bad_str("\"\x1f\"", 0, 0, "control character", 1);
	/* a raw NUL is a control character too */
	bad_str("\"a\0\"", 4, 0, "control character", 2);
	bad_str("\"\\x\"", 0, 0, "invalid escape", 3);
	bad_str("\"\\U0041\"", 0, 0, "invalid escape", 3);
	bad_str("\"\\'\"", 0, 0, "invalid escape", 3);
	bad_str("\"\\u12\"}", 0, 0, "invalid \\u escape", 3);
	bad_str("\"\\u12", 0, 0, "truncated", 3);
	bad_str("\"\\u12G4\"", 0, 0, "invalid \\u escape", 3);
	bad_str("\"\\u0000\"", 0, 0, "\\u0000", 7);
	bad_str("\"\\u0000\"", 0, JLEX_RAW, "\\u0000", 7);
	/* lone surrogates, always refused */
	bad_str("\"\\uDC00\"", 0, JLEX_NUL | JLEX_RAW, "lone low surrogate", 7);
	bad_str("\"\\uDFFF\"", 0, 0, "lone low surrogate", 7);
	bad_str("\"\\uD800\"", 0, 0, "lone high surrogate", 7);
	bad_str("\"\\uD800x\"", 0, 0, "lone high surrogate", 7);
	bad_str("\"\\uD800\\n\"", 0, 0, "lone high surrogate", 7);
	bad_str("\"\\uDBFF", 0, 0, "lone high surrogate", 7);
	bad_str("\"\\uD800\\u0041\"", 0, 0, "bad surrogate pair", 13);
	bad_str("\"\\uD800\\uD800\"", 0, 0, "bad surrogate pair", 13);
	bad_str("\"\\uD800\\u00", 0, 0, "truncated", 9);
	bad_str("\"\\uD800\\uZZZZ\"", 0, 0, "invalid \\u escape", 9);
	/* invalid UTF-8: overlong, an encoded surrogate, past U+10FFFF, a
	 * stray continuation byte, a sequence cut short, bytes never used */
	bad_str("\"a\xc0\x80\"", 0, 0, "UTF-8", 2);
	bad_str("\"\xe0\x80\xaf\"", 0, 0, "UTF-8", 1);
	bad_str("\"\xed\xa0\x80\"", 0, 0, "UTF-8", 1);
	bad_str("\"\xf4\x90\x80\x80\"", 0, 0, "UTF-8", 1);
	bad_str("\"\x80\"", 0, 0, "UTF-8", 1);
	bad_str("\"\xe2\x82\"", 0, 0, "UTF-8", 1);
	bad_str("\"ab\xe2\x82", 0, 0, "UTF-8", 3);
	bad_str("\"\xfe\"", 0, 0, "UTF-8", 1);
	bad_str("\"\xff\"", 0, 0, "UTF-8", 1);
}

/* Every code point but the surrogates encodes to a sequence utf8_len
 * takes whole; every encoded surrogate is refused. */
static void test_utf8_roundtrip(void **state)
{
	(void)state;
	for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
		char o[4];
		size_t n;

		jlex_utf8_enc(cp, o, &n);
		if (cp >= 0xD800 && cp <= 0xDFFF)
			assert_int_equal(jlex_utf8_len((const unsigned char *)o, n), 0);
		else
			assert_int_equal(jlex_utf8_len((const unsigned char *)o, n), n);
		/* one byte short is never a sequence */
		if (n > 1)
			assert_int_equal(jlex_utf8_len((const unsigned char *)o, n - 1), 0);
	}
}

/* The number token at s: its length, or -1 (*at where it broke). */
static long num(const char *s, bool *real, size_t *at)
{
	size_t i = 0;
	bool ok = jlex_number(s, strlen(s), &i, real);

	*at = i;
	return ok ? (long)i : -1;
}

static void test_numbers(void **state)
{
	static const struct {
		const char *s;
		long len;	/* token length, -1 refused */
		bool real;
	} cases[] = {
		{ "0", 1, false }, { "-0", 2, false }, { "7", 1, false }, { "-12", 3, false },
		{ "1234567890", 10, false }, { "0.5", 3, true }, { "-0.0", 4, true },
		{ "1e5", 3, true }, { "1E5", 3, true }, { "1e+5", 4, true }, { "1e-5", 4, true },
		{ "2.5E-3", 6, true }, { "1e400", 5, true }, { "-1e400", 6, true },
		{ "99999999999999999999", 20, false },
		/* a leading zero ends the number: "01" is 0 then 1 */
		{ "01", 1, false }, { "-01", 2, false }, { "00", 1, false },
		/* what follows a complete number is not read */
		{ "1,", 1, false }, { "1]", 1, false }, { "1 ", 1, false }, { "0x10", 1, false },
		/* refused */
		{ "1.", -1, true }, { "1.e5", -1, true }, { "-", -1, false }, { "--1", -1, false },
		{ "-a", -1, false }, { "1e", -1, true }, { "1e+", -1, true }, { "1E-", -1, true },
		{ "-.5", -1, false }, { "", -1, false },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		bool real = !cases[k].real;
		size_t at;
		long len = num(cases[k].s, &real, &at);

		if (len != cases[k].len)
			fail_msg("\"%s\": %ld, not %ld", cases[k].s, len, cases[k].len);
		if (len >= 0)
			assert_int_equal(real, cases[k].real);
	}
	/* the error position is the byte that broke the grammar */
	{
		bool real;
		size_t at;

		assert_int_equal(num("1.x", &real, &at), -1);
		assert_int_equal(at, 2);
		assert_int_equal(num("-", &real, &at), -1);
		assert_int_equal(at, 1);
		assert_int_equal(num("12e+", &real, &at), -1);
		assert_int_equal(at, 4);
	}
	/* no number starts with '+', '.' or a letter */
	assert_true(jlex_number_start('-'));
	assert_true(jlex_number_start('0'));
	assert_true(jlex_number_start('9'));
	assert_false(jlex_number_start('+'));
	assert_false(jlex_number_start('.'));
	assert_false(jlex_number_start('e'));
}

/* What the canonicaliser makes of numbers the grammar takes: the range is
 * its business, not the lexer's. */
static void test_numbers_canonical(void **state)
{
	static const struct {
		const char *in, *out;	/* out NULL: refused */
	} cases[] = {
		{ "{\"a\":-0}", "{\"a\":0}" },
		{ "{\"a\":-0.0}", "{\"a\":0}" },
		{ "{\"a\":1e2}", "{\"a\":100}" },
		{ "{\"a\":9223372036854775807}", "{\"a\":9223372036854775807}" },
		{ "{\"a\":9223372036854775808}", NULL },
		{ "{\"a\":1e400}", NULL },
		{ "{\"a\":-1e400}", NULL },
		{ "{\"a\":1e-400}", "{\"a\":0}" },
		{ "{\"a\":01}", NULL },
		{ "{\"a\":1.}", NULL },
		{ "{\"a\":.5}", NULL },
		{ "{\"a\":+1}", NULL },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *out = NULL;
		size_t len = 0;
		ls_rc rc = jcanon_object(cases[k].in, strlen(cases[k].in), EVENT_MAX_DEPTH,
					 EVENT_MAX_BYTES, &out, &len, NULL);

		if (!cases[k].out) {
			if (rc != LS_INVALID)
				fail_msg("%s: took it as %s", cases[k].in, out ? out : "?");
		} else {
			if (rc != LS_OK)
				fail_msg("%s: refused", cases[k].in);
			assert_string_equal(out, cases[k].out);
		}
		free(out);
	}
}

static void test_literals(void **state)
{
	size_t i;

	(void)state;
	i = 0;
	assert_true(jlex_literal_any("true", 4, &i));
	assert_int_equal(i, 4);
	i = 0;
	assert_true(jlex_literal_any("false,", 6, &i));
	assert_int_equal(i, 5);
	i = 1;
	assert_true(jlex_literal_any("[null]", 6, &i));
	assert_int_equal(i, 5);
	/* cut short, misspelt, wrong case: refused, position kept */
	i = 0;
	assert_false(jlex_literal_any("tru", 3, &i));
	assert_int_equal(i, 0);
	assert_false(jlex_literal_any("nul", 3, &i));
	assert_false(jlex_literal_any("nulL", 4, &i));
	assert_false(jlex_literal_any("True", 4, &i));
	assert_false(jlex_literal_any("fals", 4, &i));
	assert_false(jlex_literal_any("x", 1, &i));
	assert_int_equal(i, 0);
	/* a word only as long as the text: "true" in "tr" of a longer buffer */
	assert_false(jlex_literal("true", 2, &i, "true", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ws),
		cmocka_unit_test(test_strings_valid),
		cmocka_unit_test(test_strings_invalid),
		cmocka_unit_test(test_utf8_roundtrip),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_numbers_canonical),
		cmocka_unit_test(test_literals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
