/*
 * jlex.c - the parts of the JSON lexer (jlex.h) that are not inline: the
 * run of bytes that stand for themselves in a string, sixteen at a time
 * where SSE2 is there, and the escapes, which are rare.
 */
#include "base/jlex.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

size_t jlex_ascii_run(const char *s, size_t n)
{
	size_t i = 0;

#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	for (; n - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		/* Signed compare: below 0x20 are the controls and, negative,
		 * every byte from 0x80 up. */
		__m128i stop = _mm_or_si128(_mm_cmplt_epi8(x, space),
					    _mm_or_si128(_mm_cmpeq_epi8(x, quote),
							 _mm_cmpeq_epi8(x, bslash)));
		int m = _mm_movemask_epi8(stop);

		if (m)
			return i + (size_t)__builtin_ctz((unsigned)m);
	}
#endif
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
			break;
	}
	return i;
}

int jlex_escape(const char *s, size_t n, size_t *pi, unsigned flags, struct jlex_str *t)
{
	size_t i = *pi + 1;
	unsigned v, lo;
	unsigned char c;

	if (i >= n)
		return jlex_str_fail(t, pi, i, "unterminated string");
	c = (unsigned char)s[i++];
	switch (c) {
	case '"': case '\\': case '/': v = c; break;
	case 'b': v = '\b'; break;
	case 'f': v = '\f'; break;
	case 'n': v = '\n'; break;
	case 'r': v = '\r'; break;
	case 't': v = '\t'; break;
	case 'u':
		if (n - i < 4)
			return jlex_str_fail(t, pi, i, "truncated \\u escape");
		if (!jlex_hex4(s + i, &v))
			return jlex_str_fail(t, pi, i, "invalid \\u escape");
		i += 4;
		if (v == 0 && !(flags & JLEX_NUL))
			return jlex_str_fail(t, pi, i, "\\u0000 is not allowed");
		if (v >= 0xDC00 && v <= 0xDFFF)
			return jlex_str_fail(t, pi, i,
					     "invalid Unicode escape (lone low surrogate)");
		if (v >= 0xD800 && v <= 0xDBFF) {
			if (n - i < 2 || s[i] != '\\' || s[i + 1] != 'u')
				return jlex_str_fail(t, pi, i,
						     "invalid Unicode escape (lone high surrogate)");
			i += 2;
			if (n - i < 4)
				return jlex_str_fail(t, pi, i, "truncated \\u escape");
			if (!jlex_hex4(s + i, &lo))
				return jlex_str_fail(t, pi, i, "invalid \\u escape");
			i += 4;
			if (lo < 0xDC00 || lo > 0xDFFF)
				return jlex_str_fail(t, pi, i,
						     "invalid Unicode escape (bad surrogate pair)");
			v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
		}
		break;
	default:
		return jlex_str_fail(t, pi, i, "invalid escape in string");
	}
	t->cp = v;
	jlex_utf8_enc(v, t->utf8, &t->len);
	*pi = i;
	return JLEX_CHAR;
}
