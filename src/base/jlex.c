/*
 * jlex.c - the part of the JSON lexer (jlex.h) that is not inline: the
 * run of bytes that stand for themselves in a string, sixteen at a time
 * where SSE2 is there.
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
