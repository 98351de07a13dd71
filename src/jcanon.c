/*
 * jcanon.c - strict JSON in, canonical JSON out, in one pass (see jcanon.h).
 *
 * Why it exists: `logseal import` spent most of its time in jansson building
 * hash tables that were thrown away right after serialising them.  This
 * parser writes each value's canonical form as it reads it; an object is
 * written member by member ("key":value spans) and, at its closing brace,
 * rewritten with the spans sorted by decoded key.
 *
 * Invariants:
 *  1. For every input, the result (accept with identical bytes, or refuse)
 *     equals event_canonicalize_text() over jansson.  fuzz/fuzz_jcanon.c
 *     checks exactly that.
 *  2. Memory is bounded by a small multiple of the output cap plus the
 *     input size; recursion depth by max_depth.
 */
#include "jcanon.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *p;
	size_t len, cap;
};

struct member {
	size_t key_off, key_len;   /* decoded key in keys */
	size_t span_off, span_len; /* "key":value in out */
};

struct jc {
	const char *s;
	size_t n, i;
	size_t max_depth, max_out;
	struct buf out, keys, tmp;
	struct member *m;
	size_t nm, mcap;
	bool over;	/* output passed max_out: keep parsing (a syntax error
			 * still wins, as in the jansson path), stop writing */
	ls_rc rc;
	char why[160];
};

static bool fail(struct jc *j, ls_rc rc, const char *why)
{
	if (j->rc == LS_OK) {
		j->rc = rc;
		snprintf(j->why, sizeof(j->why), "%s", why);
	}
	return false;
}

static bool grow(struct jc *j, struct buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->len + more + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return fail(j, LS_NOMEM, "out of memory");
	b->p = p;
	b->cap = cap;
	return true;
}

static bool put(struct jc *j, const char *s, size_t n)
{
	if (j->over || n == 0)
		return true;
	if (j->out.len + n > j->max_out) {
		j->over = true;
		return true;
	}
	if (!grow(j, &j->out, n))
		return false;
	memcpy(j->out.p + j->out.len, s, n);
	j->out.len += n;
	return true;
}

static bool putc1(struct jc *j, char c)
{
	return put(j, &c, 1);
}

static void skip_ws(struct jc *j)
{
	while (j->i < j->n) {
		char c = j->s[j->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		j->i++;
	}
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static bool read_hex4(struct jc *j, unsigned *v)
{
	unsigned x = 0;

	if (j->n - j->i < 4)
		return fail(j, LS_INVALID, "truncated \\u escape");
	for (int k = 0; k < 4; k++) {
		int h = hexv(j->s[j->i + (size_t)k]);
		if (h < 0)
			return fail(j, LS_INVALID, "invalid \\u escape");
		x = x << 4 | (unsigned)h;
	}
	j->i += 4;
	*v = x;
	return true;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t avail)
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

static void enc_utf8(uint32_t cp, char *o, size_t *n)
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

const char *jcanon_escape(unsigned char c, char u[8], size_t *len)
{
	static const char hex[] = "0123456789abcdef";

	*len = 2;
	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	}
	if (c >= 0x20)
		return NULL;
	memcpy(u, "\\u00", 4);
	u[4] = hex[c >> 4];
	u[5] = hex[c & 15];
	u[6] = 0;
	*len = 6;
	return u;
}

/* Write decoded bytes d[0..n) as a canonical JSON string. */
static bool put_canon_str(struct jc *j, const char *d, size_t n)
{
	size_t run = 0, el;
	char u[8];

	if (!putc1(j, '"'))
		return false;
	for (size_t k = 0; k < n; k++) {
		const char *esc = jcanon_escape((unsigned char)d[k], u, &el);

		if (!esc)
			continue;
		if (!put(j, d + run, k - run) || !put(j, esc, el))
			return false;
		run = k + 1;
	}
	return put(j, d + run, n - run) && putc1(j, '"');
}

/*
 * Decode the string at j->i (just after the opening quote) into b
 * (appended); strings without escapes are the common case and are
 * validated and copied in runs.
 */
static bool read_string(struct jc *j, struct buf *b)
{
	while (j->i < j->n) {
		unsigned char c = (unsigned char)j->s[j->i];

		if (c == '"') {
			j->i++;
			return true;
		}
		if (c == '\\') {
			char o[4];
			size_t on = 1;
			unsigned v, lo;

			if (++j->i >= j->n)
				break;
			c = (unsigned char)j->s[j->i++];
			switch (c) {
			case '"': o[0] = '"'; break;
			case '\\': o[0] = '\\'; break;
			case '/': o[0] = '/'; break;
			case 'b': o[0] = '\b'; break;
			case 'f': o[0] = '\f'; break;
			case 'n': o[0] = '\n'; break;
			case 'r': o[0] = '\r'; break;
			case 't': o[0] = '\t'; break;
			case 'u':
				if (!read_hex4(j, &v))
					return false;
				if (v == 0)
					return fail(j, LS_INVALID, "\\u0000 is not allowed");
				if (v >= 0xDC00 && v <= 0xDFFF)
					return fail(j, LS_INVALID, "invalid Unicode escape (lone low surrogate)");
				if (v >= 0xD800 && v <= 0xDBFF) {
					if (j->n - j->i < 2 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u')
						return fail(j, LS_INVALID, "invalid Unicode escape (lone high surrogate)");
					j->i += 2;
					if (!read_hex4(j, &lo))
						return false;
					if (lo < 0xDC00 || lo > 0xDFFF)
						return fail(j, LS_INVALID, "invalid Unicode escape (bad surrogate pair)");
					v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
				}
				enc_utf8(v, o, &on);
				break;
			default:
				return fail(j, LS_INVALID, "invalid escape in string");
			}
			if (!grow(j, b, on))
				return false;
			memcpy(b->p + b->len, o, on);
			b->len += on;
			continue;
		}
		if (c < 0x20)
			return fail(j, LS_INVALID, "control character in string");
		{
			size_t start = j->i;
			/* a run of plain bytes */
			while (j->i < j->n) {
				size_t l;
				c = (unsigned char)j->s[j->i];
				if (c == '"' || c == '\\' || c < 0x20)
					break;
				if (c < 0x80) {
					j->i++;
					continue;
				}
				l = utf8_len((const unsigned char *)j->s + j->i, j->n - j->i);
				if (!l)
					return fail(j, LS_INVALID, "invalid UTF-8 in string");
				j->i += l;
			}
			if (!grow(j, b, j->i - start))
				return false;
			memcpy(b->p + b->len, j->s + start, j->i - start);
			b->len += j->i - start;
		}
	}
	return fail(j, LS_INVALID, "unterminated string");
}

static bool value(struct jc *j, size_t depth);

static int member_cmp(const void *a, const void *b, void *ctx)
{
	const struct member *x = a, *y = b;
	const char *k = ctx;
	size_t m = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(k + x->key_off, k + y->key_off, m);

	if (c)
		return c;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static bool object(struct jc *j, size_t depth)
{
	size_t base = j->nm, start = j->out.len, keys_base = j->keys.len;
	bool first = true;

	if (depth > j->max_depth)
		return fail(j, LS_INVALID, "nested too deep");
	j->i++; /* '{' */
	skip_ws(j);
	if (j->i < j->n && j->s[j->i] == '}') {
		j->i++;
		return put(j, "{}", 2);
	}
	for (;;) {
		struct member mb;

		skip_ws(j);
		if (j->i >= j->n || j->s[j->i] != '"')
			return fail(j, LS_INVALID, first ? "expected a string key or '}'"
							 : "expected a string key");
		first = false;
		j->i++;
		mb.key_off = j->keys.len;
		if (!read_string(j, &j->keys))
			return false;
		mb.key_len = j->keys.len - mb.key_off;
		mb.span_off = j->out.len;
		if (!put_canon_str(j, j->keys.p + mb.key_off, mb.key_len) || !putc1(j, ':'))
			return false;
		skip_ws(j);
		if (j->i >= j->n || j->s[j->i] != ':')
			return fail(j, LS_INVALID, "expected ':'");
		j->i++;
		skip_ws(j);
		if (!value(j, depth))
			return false;
		mb.span_len = j->out.len - mb.span_off;
		if (j->nm == j->mcap) {
			size_t cap = j->mcap ? j->mcap * 2 : 64;
			struct member *p = realloc(j->m, cap * sizeof(*p));
			if (!p)
				return fail(j, LS_NOMEM, "out of memory");
			j->m = p;
			j->mcap = cap;
		}
		j->m[j->nm++] = mb;
		skip_ws(j);
		if (j->i < j->n && j->s[j->i] == ',') {
			j->i++;
			continue;
		}
		if (j->i < j->n && j->s[j->i] == '}') {
			j->i++;
			break;
		}
		return fail(j, LS_INVALID, "expected ',' or '}'");
	}

	/* Sort this object's members by decoded key and rewrite them. */
	{
		size_t cnt = j->nm - base, body = j->out.len - start, pos;
		struct member *ms = j->m + base;
		bool sorted = true;

		for (size_t k = 1; k < cnt && sorted; k++)
			if (member_cmp(&ms[k - 1], &ms[k], j->keys.p) >= 0)
				sorted = false;
		if (!sorted) {
			qsort_r(ms, cnt, sizeof(*ms), member_cmp, j->keys.p);
			for (size_t k = 1; k < cnt; k++)
				if (member_cmp(&ms[k - 1], &ms[k], j->keys.p) == 0)
					return fail(j, LS_INVALID, "duplicate object key");
		}
		if (j->over)
			goto done;
		j->tmp.len = 0;
		if (!grow(j, &j->tmp, body))
			return false;
		memcpy(j->tmp.p, j->out.p + start, body);
		j->out.len = start;
		/* braces and commas: body + cnt + 1 bytes in all */
		if (!putc1(j, '{'))
			return false;
		for (size_t k = 0; k < cnt; k++) {
			pos = ms[k].span_off - start;
			if ((k && !putc1(j, ',')) || !put(j, j->tmp.p + pos, ms[k].span_len))
				return false;
		}
		if (!putc1(j, '}'))
			return false;
	}
done:
	j->nm = base;
	j->keys.len = keys_base;
	return true;
}

static bool array(struct jc *j, size_t depth)
{
	if (depth > j->max_depth)
		return fail(j, LS_INVALID, "nested too deep");
	j->i++; /* '[' */
	if (!putc1(j, '['))
		return false;
	skip_ws(j);
	if (j->i < j->n && j->s[j->i] == ']') {
		j->i++;
		return putc1(j, ']');
	}
	for (bool first = true;; first = false) {
		skip_ws(j);
		if (!first && !putc1(j, ','))
			return false;
		if (!value(j, depth))
			return false;
		skip_ws(j);
		if (j->i < j->n && j->s[j->i] == ',') {
			j->i++;
			continue;
		}
		if (j->i < j->n && j->s[j->i] == ']') {
			j->i++;
			return putc1(j, ']');
		}
		return fail(j, LS_INVALID, "expected ',' or ']'");
	}
}

static bool number(struct jc *j)
{
	size_t start = j->i;
	bool real = false;
	char tmp[64], *end, *heap = NULL, *txt;
	size_t len;

	if (j->s[j->i] == '-')
		j->i++;
	if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
		return fail(j, LS_INVALID, "invalid number");
	if (j->s[j->i] == '0') {
		j->i++;
	} else {
		while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->n && j->s[j->i] == '.') {
		real = true;
		j->i++;
		if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
			return fail(j, LS_INVALID, "invalid number");
		while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
		real = true;
		j->i++;
		if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
			j->i++;
		if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
			return fail(j, LS_INVALID, "invalid number");
		while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	}
	len = j->i - start;
	if (len < sizeof(tmp)) {
		memcpy(tmp, j->s + start, len);
		tmp[len] = 0;
		txt = tmp;
	} else {
		heap = malloc(len + 1);
		if (!heap)
			return fail(j, LS_NOMEM, "out of memory");
		memcpy(heap, j->s + start, len);
		heap[len] = 0;
		txt = heap;
	}
	errno = 0;
	if (!real) {
		long long v = strtoll(txt, &end, 10);
		free(heap);
		if (errno == ERANGE)
			return fail(j, LS_INVALID, "integer out of range");
		len = (size_t)snprintf(tmp, sizeof(tmp), "%lld", v);
		return put(j, tmp, len);
	} else {
		double d = strtod(txt, &end);
		free(heap);
		if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
			return fail(j, LS_INVALID, "real number overflow");
		if (d == 0)
			len = (size_t)snprintf(tmp, sizeof(tmp), "0");
		else
			len = (size_t)snprintf(tmp, sizeof(tmp), "%.17g", d);
		return put(j, tmp, len);
	}
}

static bool literal(struct jc *j, const char *word, size_t n)
{
	if (j->n - j->i < n || memcmp(j->s + j->i, word, n) != 0)
		return fail(j, LS_INVALID, "invalid token");
	j->i += n;
	return put(j, word, n);
}

static bool value(struct jc *j, size_t depth)
{
	if (j->i >= j->n)
		return fail(j, LS_INVALID, "unexpected end of input");
	switch (j->s[j->i]) {
	case '{':
		return object(j, depth + 1);
	case '[':
		return array(j, depth + 1);
	case '"': {
		size_t k0 = j->keys.len;
		bool ok;
		j->i++;
		ok = read_string(j, &j->keys) &&
		     put_canon_str(j, j->keys.p + k0, j->keys.len - k0);
		j->keys.len = k0;
		return ok;
	}
	case 't':
		return literal(j, "true", 4);
	case 'f':
		return literal(j, "false", 5);
	case 'n':
		return literal(j, "null", 4);
	default:
		if (j->s[j->i] == '-' || (j->s[j->i] >= '0' && j->s[j->i] <= '9'))
			return number(j);
		return fail(j, LS_INVALID, "invalid token");
	}
}

ls_rc jcanon_object(const char *s, size_t n, size_t max_depth, size_t max_out, char **out,
		    size_t *len, struct ls_err *err)
{
	struct jc j;
	bool ok;

	memset(&j, 0, sizeof(j));
	j.s = s;
	j.n = n;
	j.max_depth = max_depth;
	j.max_out = max_out;
	*out = NULL;
	*len = 0;
	/* keys.p is used as a base pointer even for empty keys */
	if (!grow(&j, &j.keys, 64)) {
		free(j.keys.p);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	skip_ws(&j);
	if (j.i >= n || s[j.i] != '{') {
		ok = false;
		if (j.i < n && s[j.i] == '[')
			fail(&j, LS_INVALID, "an entry must be a JSON object");
		else
			fail(&j, LS_INVALID, "invalid JSON: expected an object");
	} else {
		ok = object(&j, 1);
		if (ok) {
			skip_ws(&j);
			if (j.i != n)
				ok = fail(&j, LS_INVALID, "end of input expected after the object");
		}
	}
	free(j.keys.p);
	free(j.tmp.p);
	free(j.m);
	if (ok && j.over) {
		ok = false;
		j.rc = LS_LIMIT;
	}
	if (!ok) {
		free(j.out.p);
		if (j.rc == LS_LIMIT)
			return ls_err_set(err, LS_LIMIT, "entry over %zu bytes", max_out);
		return ls_err_set(err, j.rc, "invalid JSON at byte %zu: %s", j.i, j.why);
	}
	if (!grow(&j, &j.out, 0)) {
		free(j.out.p);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	j.out.p[j.out.len] = 0;
	*out = j.out.p;
	*len = j.out.len;
	return LS_OK;
}
