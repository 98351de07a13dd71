/*
 * jlex.h - the one JSON lexer: the tokens of RFC 8259 below the grammar.
 *
 * Every JSON reader of logseal scans its bytes with these functions: the
 * canonicaliser, the arena DOM and the validator (jcanon.c) and the
 * index's row scanner (followers/index_row.c).  The grammar above the
 * tokens (objects, arrays, depth, duplicate keys) stays with each parser;
 * how white space, strings, escapes, numbers and literals are read lives
 * only here, so the readers cannot drift apart on what a token is.
 *
 * Calling convention: s[0..n) is the text and *i the position, moved past
 * what was read; on failure *i is left where the error is reported (the
 * canonicaliser prints it as "invalid JSON at byte *i") and *why, where
 * there is one, says what was wrong.  Nothing allocates; pure, thread-safe.
 *
 * The functions are inline (jlex_str_next() always): ingest reads every
 * event through them, and a call per token costs measurably
 * (bench/bench_ingest_parse.c).  Only the vector run and the rarely met
 * escapes are calls, into jlex.c.
 *
 * Strings are read piece by piece (jlex_str_next()) so that each caller
 * copies into its own buffer: a piece is a run of input bytes that stand
 * for themselves, or one escape decoded to UTF-8, or the closing quote.
 * What a string may hold:
 *  - raw bytes from 0x20 up other than '"' and '\\', as valid UTF-8 (no
 *    overlong forms, no surrogates, nothing above U+10FFFF) unless the
 *    caller passes JLEX_RAW, which takes bytes from 0x80 up unchecked (for
 *    text that was checked when it was written);
 *  - the escapes \" \\ \/ \b \f \n \r \t and \uXXXX, where a high
 *    surrogate must be followed by a \u low surrogate, and a lone low or
 *    high surrogate is refused always; \u0000 is refused unless the caller
 *    passes JLEX_NUL (then it is a piece with code point 0).
 */
#ifndef LS_JLEX_H
#define LS_JLEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the run at s[0..n) of bytes that stand for themselves in
 * a JSON string and need no UTF-8 check: printable ASCII (0x20..0x7f) other
 * than '"' and '\\'.  Sixteen bytes at a time where SSE2 is there.  Used by
 * the string scanner below and by the canonical writers. */
size_t jlex_ascii_run(const char *s, size_t n);

/* ---------------------------------------------------------- white space */

static inline bool jlex_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The position of the first byte at or after i that is not white space. */
static inline size_t jlex_ws(const char *s, size_t n, size_t i)
{
	while (i < n && jlex_is_ws((unsigned char)s[i]))
		i++;
	return i;
}

/* -------------------------------------------------------------- strings */

#define JLEX_RAW 1u	/* bytes from 0x80 up pass unchecked */
#define JLEX_NUL 2u	/* \u0000 is a piece (code point 0), not an error */

enum jlex_piece {
	JLEX_ERR = -1,	/* why says what; *i where */
	JLEX_END = 0,	/* the closing quote (read) */
	JLEX_RUN,	/* s[start .. *i) stands for itself */
	JLEX_CHAR	/* one escape: code point cp, as UTF-8 in utf8[0..len) */
};

struct jlex_str {
	size_t start;
	uint32_t cp;
	char utf8[4];
	size_t len;
	const char *why;
};

static inline int jlex_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The value of the four hex digits at p (all four readable). */
static inline bool jlex_hex4(const char *p, unsigned *v)
{
	unsigned x = 0;

	for (int k = 0; k < 4; k++) {
		int h = jlex_hexval((unsigned char)p[k]);

		if (h < 0)
			return false;
		x = x << 4 | (unsigned)h;
	}
	*v = x;
	return true;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static inline size_t jlex_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned c = p[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		len = 2;
		cp = c & 0x1F;
	} else if (c < 0xF0) {
		len = 3;
		cp = c & 0x0F;
	} else if (c < 0xF5) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* Code point cp (at most U+10FFFF) as UTF-8 in o; its length in *n. */
static inline void jlex_utf8_enc(uint32_t cp, char o[4], size_t *n)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		*n = 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		*n = 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		*n = 3;
	} else {
		o[0] = (char)(0xF0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[3] = (char)(0x80 | (cp & 0x3F));
		*n = 4;
	}
}

static inline int jlex_str_fail(struct jlex_str *t, size_t *pi, size_t at, const char *why)
{
	*pi = at;
	t->why = why;
	return JLEX_ERR;
}

/* The escape whose backslash is at s[*pi] (out of line: escapes are rare,
 * and jlex_str_next() stays small enough to inline in every loop). */
int jlex_escape(const char *s, size_t n, size_t *pi, unsigned flags, struct jlex_str *t);

/*
 * The next piece of the string whose opening quote is before s[*i] (call
 * it first with *i just past the quote, then again until JLEX_END or
 * JLEX_ERR).  Runs are as long as they can be: a string without escapes is
 * one JLEX_RUN and the JLEX_END.
 */
static inline __attribute__((always_inline)) int
jlex_str_next(const char *s, size_t n, size_t *pi, unsigned flags, struct jlex_str *t)
{
	size_t i = *pi;
	unsigned char c;

	if (i >= n)
		return jlex_str_fail(t, pi, i, "unterminated string");
	c = (unsigned char)s[i];
	if (c == '"') {
		*pi = i + 1;
		return JLEX_END;
	}
	if (c == '\\')
		return jlex_escape(s, n, pi, flags, t);
	if (c < 0x20)
		return jlex_str_fail(t, pi, i, "control character in string");
	t->start = i;
	for (;;) {
		size_t l;

		i += jlex_ascii_run(s + i, n - i);
		if (i >= n)
			break;
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c < 0x20)
			break;
		if (flags & JLEX_RAW) {
			i++;
			continue;
		}
		l = jlex_utf8_len((const unsigned char *)s + i, n - i);
		if (!l)
			return jlex_str_fail(t, pi, i, "invalid UTF-8 in string");
		i += l;
	}
	*pi = i;
	return JLEX_RUN;
}

/* Read the string whose opening quote is at s[*i] without keeping it:
 * false (why in *why) when it is no valid string. */
static inline bool jlex_str_skip(const char *s, size_t n, size_t *pi, unsigned flags,
				 const char **why)
{
	struct jlex_str t;
	int k;

	++*pi;
	while ((k = jlex_str_next(s, n, pi, flags, &t)) > 0)
		;
	if (k == JLEX_ERR) {
		if (why)
			*why = t.why;
		return false;
	}
	return true;
}

/* After a member or an element, white space skipped: a ',' at s[*pi]
 * means another one follows (1); `close` (']' or '}') ends the container
 * (0); either is consumed.  Anything else is -1, *pi left on it. */
static inline int jlex_sep(const char *s, size_t n, size_t *pi, char close)
{
	if (*pi < n && (s[*pi] == ',' || s[*pi] == close))
		return s[(*pi)++] == ',';
	return -1;
}

/* The position just past the string whose opening quote is at s[i],
 * found without checking the string (a backslash takes the next byte with
 * it); n when it never closes.  For structure scans ahead of a full
 * parser (nesting depth, which array element a byte falls in), which must
 * not stop on input the parser will refuse with a better message. */
static inline size_t jlex_str_end_loose(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return n;
}

/* -------------------------------------------------------------- numbers */

/*
 * The number at s[*i] by the grammar of RFC 8259:
 *	[ '-' ] ( '0' | [1-9][0-9]* ) [ '.' [0-9]+ ] [ ( 'e' | 'E' ) [ '+' | '-' ] [0-9]+ ]
 * (no '+', no leading zeros, no bare '.' or exponent).  *real says whether
 * it had a fraction or an exponent.  Only the grammar: the range of the
 * value is the caller's (jcanon.c converts as jansson does).  On failure
 * *i is at the byte that broke the grammar.
 */
static inline bool jlex_number(const char *s, size_t n, size_t *pi, bool *real)
{
	size_t i = *pi;

#define JLEX_DIGIT(x) ((x) >= '0' && (x) <= '9')
	*real = false;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n || !JLEX_DIGIT(s[i]))
		goto bad;
	if (s[i] == '0')
		i++;
	else
		while (i < n && JLEX_DIGIT(s[i]))
			i++;
	if (i < n && s[i] == '.') {
		*real = true;
		if (++i >= n || !JLEX_DIGIT(s[i]))
			goto bad;
		while (i < n && JLEX_DIGIT(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		*real = true;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !JLEX_DIGIT(s[i]))
			goto bad;
		while (i < n && JLEX_DIGIT(s[i]))
			i++;
	}
#undef JLEX_DIGIT
	*pi = i;
	return true;
bad:
	*pi = i;
	return false;
}

/* Does a number start at byte c? */
static inline bool jlex_number_start(unsigned char c)
{
	return c == '-' || (c >= '0' && c <= '9');
}

/* ------------------------------------------------------------- literals */

/* The literal word[0..len) ("true", "false", "null") at s[*i]; *i moves
 * past it only when it is there. */
static inline bool jlex_literal(const char *s, size_t n, size_t *pi, const char *word, size_t len)
{
	size_t k;

	if (n - *pi < len)
		return false;
	for (k = 0; k < len; k++)
		if (s[*pi + k] != word[k])
			return false;
	*pi += len;
	return true;
}

/* The literal that starts with c at s[*i] (true, false or null): false when
 * c starts none or the word is not all there. */
static inline bool jlex_literal_any(const char *s, size_t n, size_t *pi)
{
	switch (s[*pi]) {
	case 't': return jlex_literal(s, n, pi, "true", 4);
	case 'f': return jlex_literal(s, n, pi, "false", 5);
	case 'n': return jlex_literal(s, n, pi, "null", 4);
	}
	return false;
}

#endif /* LS_JLEX_H */
