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
#include "base/jcanon.h"
#include "base/jlex.h"

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
	j->i = jlex_ws(j->s, j->n, j->i);
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
 * (appended); strings without escapes are the common case and come from
 * the lexer as one run, copied at once.
 */
static bool read_string(struct jc *j, struct buf *b)
{
	struct jlex_str t;
	const char *p;
	size_t len;

	for (;;) {
		switch (jlex_str_next(j->s, j->n, &j->i, 0, &t)) {
		case JLEX_END:
			return true;
		case JLEX_RUN:
			p = j->s + t.start;
			len = j->i - t.start;
			break;
		case JLEX_CHAR:
			p = t.utf8;
			len = t.len;
			break;
		default:
			return fail(j, LS_INVALID, t.why);
		}
		if (!grow(j, b, len))
			return false;
		memcpy(b->p + b->len, p, len);
		b->len += len;
	}
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
		int sep = jlex_sep(j->s, j->n, &j->i, '}');
		if (sep > 0)
			continue;
		if (sep == 0)
			break;
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
		int sep = jlex_sep(j->s, j->n, &j->i, ']');
		if (sep > 0)
			continue;
		if (sep == 0)
			return putc1(j, ']');
		return fail(j, LS_INVALID, "expected ',' or ']'");
	}
}

/*
 * The number at s[*pi] (RFC 8259 grammar, read by jlex_number()), converted
 * as jansson converts it (integers to long long, overflow refused; reals
 * with strtod, overflow to infinity refused) and written canonically into
 * out.  *pi moves past what
 * was read, also on failure (error positions count from there).  Both
 * parsers below use it, so they read numbers identically.
 */
static ls_rc scan_number(const char *s, size_t n, size_t *pi, char out[64], size_t *outlen,
			 bool *real, long long *ival, const char **why)
{
	size_t i = *pi, start = i, len;
	char *end, *heap = NULL, *txt;
	int k;

	*real = false;
	*ival = 0;
	if (!jlex_number(s, n, &i, real))
		goto bad;
	*pi = i;
	len = i - start;
	if (!*real && len <= 18) {
		/* Up to 18 characters (17 digits with a sign): in range, and
		 * already canonical as the grammar took it, "-0" aside. */
		long long v = 0;

		for (size_t d = start + (s[start] == '-'); d < i; d++)
			v = v * 10 + (s[d] - '0');
		*ival = s[start] == '-' ? -v : v;
		if (*ival == 0) {
			out[0] = '0';
			*outlen = 1;
		} else {
			memcpy(out, s + start, len);
			*outlen = len;
		}
		out[*outlen] = 0;
		return LS_OK;
	}
	if (len < 64) {
		memcpy(out, s + start, len);
		out[len] = 0;
		txt = out;
	} else {
		heap = malloc(len + 1);
		if (!heap) {
			*why = "out of memory";
			return LS_NOMEM;
		}
		memcpy(heap, s + start, len);
		heap[len] = 0;
		txt = heap;
	}
	errno = 0;
	if (!*real) {
		*ival = strtoll(txt, &end, 10);
		free(heap);
		if (errno == ERANGE) {
			*why = "integer out of range";
			return LS_INVALID;
		}
		k = snprintf(out, 64, "%lld", *ival);
	} else {
		double d = strtod(txt, &end);

		free(heap);
		if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) {
			*why = "real number overflow";
			return LS_INVALID;
		}
		k = d == 0 ? snprintf(out, 64, "0") : snprintf(out, 64, "%.17g", d);
	}
	*outlen = (size_t)k;
	return LS_OK;
bad:
	*pi = i;
	*why = "invalid number";
	return LS_INVALID;
}

static bool number(struct jc *j)
{
	char tmp[64];
	const char *why;
	size_t len;
	long long iv;
	bool real;
	ls_rc rc = scan_number(j->s, j->n, &j->i, tmp, &len, &real, &iv, &why);

	if (rc != LS_OK)
		return fail(j, rc, why);
	return put(j, tmp, len);
}

static bool literal(struct jc *j, const char *word, size_t n)
{
	if (!jlex_literal(j->s, j->n, &j->i, word, n))
		return fail(j, LS_INVALID, "invalid token");
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
		if (jlex_number_start((unsigned char)j->s[j->i]))
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

/* ------------------------------------------------------------------ */
/* jdom: the same grammar into an arena DOM                            */

struct jp {
	struct jdom *d;
	const char *s;
	size_t n, i, max_depth;
	ls_rc rc;
	const char *why;
};

static bool jp_fail(struct jp *p, ls_rc rc, const char *why)
{
	if (p->rc == LS_OK) {
		p->rc = rc;
		p->why = why;
	}
	return false;
}

/* Room for more elements of size sz in *arr (count *len, capacity *cap). */
static bool jp_room(struct jp *p, void **arr, size_t *cap, size_t len, size_t more, size_t sz,
		    size_t first)
{
	size_t ncap;
	void *np;

	if (len + more <= *cap)
		return true;
	ncap = *cap ? *cap : first;
	while (ncap < len + more)
		ncap *= 2;
	np = realloc(*arr, ncap * sz);
	if (!np)
		return jp_fail(p, LS_NOMEM, "out of memory");
	*arr = np;
	*cap = ncap;
	return true;
}

static bool jp_str_room(struct jp *p, size_t more)
{
	return jp_room(p, (void **)&p->d->str, &p->d->str_cap, p->d->nstr, more, 1, 4096);
}

static bool jp_node(struct jp *p, uint32_t type, size_t *idx)
{
	struct jdom *d = p->d;

	if (!jp_room(p, (void **)&d->node, &d->node_cap, d->nnode, 1, sizeof(*d->node), 256))
		return false;
	memset(&d->node[d->nnode], 0, sizeof(*d->node));
	d->node[d->nnode].type = type;
	*idx = d->nnode++;
	return true;
}

static void jp_ws(struct jp *p)
{
	p->i = jlex_ws(p->s, p->n, p->i);
}

/* Decode the string after the opening quote into str, NUL-terminated. */
static bool jp_string(struct jp *p, uint32_t *off, uint32_t *len)
{
	struct jdom *d = p->d;
	size_t start_out = d->nstr, n;
	struct jlex_str t;
	const char *src;

	for (;;) {
		switch (jlex_str_next(p->s, p->n, &p->i, 0, &t)) {
		case JLEX_END:
			if (!jp_str_room(p, 1))
				return false;
			d->str[d->nstr] = 0;
			*off = (uint32_t)start_out;
			*len = (uint32_t)(d->nstr - start_out);
			d->nstr++;
			return true;
		case JLEX_RUN:
			src = p->s + t.start;
			n = p->i - t.start;
			break;
		case JLEX_CHAR:
			src = t.utf8;
			n = t.len;
			break;
		default:
			return jp_fail(p, LS_INVALID, t.why);
		}
		if (!jp_str_room(p, n))
			return false;
		memcpy(d->str + d->nstr, src, n);
		d->nstr += n;
	}
}

/* Number at p->i (scan_number); the canonical text goes into str. */
static bool jp_number(struct jp *p, size_t idx)
{
	char tmp[64];
	const char *why;
	struct jnode *nd;
	size_t k;
	long long iv;
	bool real;
	ls_rc rc = scan_number(p->s, p->n, &p->i, tmp, &k, &real, &iv, &why);

	if (rc != LS_OK)
		return jp_fail(p, rc, why);
	if (!jp_str_room(p, k + 1))
		return jp_fail(p, LS_NOMEM, "out of memory");
	nd = &p->d->node[idx];
	nd->type = real ? JN_REAL : JN_INT;
	nd->ival = iv;
	nd->off = (uint32_t)p->d->nstr;
	nd->len = (uint32_t)k;
	memcpy(p->d->str + p->d->nstr, tmp, k + 1);
	p->d->nstr += k + 1;
	return true;
}

/* Byte order of two keys, shorter first on a tie: keys are short and
 * mostly differ early, where a call to memcmp cost more than the loop. */
static inline int key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t m = an < bn ? an : bn;

	for (size_t i = 0; i < m; i++)
		if (a[i] != b[i])
			return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
	return an < bn ? -1 : an > bn;
}

static int jp_key_cmp(const void *a, const void *b, void *ctx)
{
	const struct jdom *d = ctx;
	const struct jnode *x = &d->node[*(const uint32_t *)a], *y = &d->node[*(const uint32_t *)b];

	return key_cmp(d->str + x->key, x->key_len, d->str + y->key, y->key_len);
}

static bool jp_value(struct jp *p, size_t depth, size_t *idx);

static bool jp_object(struct jp *p, size_t depth, size_t idx)
{
	struct jdom *d = p->d;
	size_t base = d->nstk, cnt, deepest = 0, k;
	uint32_t *ins, *srt;

	if (depth > p->max_depth)
		return jp_fail(p, LS_INVALID, "nested too deep");
	p->i++; /* '{' */
	jp_ws(p);
	if (p->i < p->n && p->s[p->i] == '}') {
		p->i++;
		d->node[idx].depth = 1;
		return true;
	}
	for (;;) {
		uint32_t koff, klen;
		size_t v;

		jp_ws(p);
		if (p->i >= p->n || p->s[p->i] != '"')
			return jp_fail(p, LS_INVALID, "expected a string key");
		p->i++;
		if (!jp_string(p, &koff, &klen))
			return false;
		jp_ws(p);
		if (p->i >= p->n || p->s[p->i] != ':')
			return jp_fail(p, LS_INVALID, "expected ':'");
		p->i++;
		jp_ws(p);
		if (!jp_value(p, depth, &v))
			return false;
		d->node[v].key = koff;
		d->node[v].key_len = klen;
		if (d->node[v].depth > deepest)
			deepest = d->node[v].depth;
		if (!jp_room(p, (void **)&d->stk, &d->stk_cap, d->nstk, 1, sizeof(*d->stk), 64))
			return false;
		d->stk[d->nstk++] = (uint32_t)v;
		jp_ws(p);
		int sep = jlex_sep(p->s, p->n, &p->i, '}');
		if (sep > 0)
			continue;
		if (sep == 0)
			break;
		return jp_fail(p, LS_INVALID, "expected ',' or '}'");
	}
	cnt = d->nstk - base;
	if (!jp_room(p, (void **)&d->kid, &d->kid_cap, d->nkid, 2 * cnt, sizeof(*d->kid), 1024))
		return false;
	ins = d->kid + d->nkid;
	srt = ins + cnt;
	memcpy(ins, d->stk + base, cnt * sizeof(*ins));
	memcpy(srt, ins, cnt * sizeof(*srt));
	/* Insertion sort: events have a handful of members per object. */
	if (cnt <= 16) {
		for (k = 1; k < cnt; k++) {
			uint32_t x = srt[k];
			size_t j = k;

			while (j > 0 && jp_key_cmp(&srt[j - 1], &x, d) > 0) {
				srt[j] = srt[j - 1];
				j--;
			}
			srt[j] = x;
		}
	} else {
		qsort_r(srt, cnt, sizeof(*srt), jp_key_cmp, d);
	}
	for (k = 1; k < cnt; k++)
		if (jp_key_cmp(&srt[k - 1], &srt[k], d) == 0)
			return jp_fail(p, LS_INVALID, "duplicate object key");
	d->node[idx].off = (uint32_t)d->nkid;
	d->node[idx].len = (uint32_t)cnt;
	d->node[idx].depth = (uint32_t)deepest + 1;
	d->nkid += 2 * cnt;
	d->nstk = base;
	return true;
}

static bool jp_array(struct jp *p, size_t depth, size_t idx)
{
	struct jdom *d = p->d;
	size_t base = d->nstk, cnt, deepest = 0;

	if (depth > p->max_depth)
		return jp_fail(p, LS_INVALID, "nested too deep");
	p->i++; /* '[' */
	jp_ws(p);
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		d->node[idx].depth = 1;
		return true;
	}
	for (;;) {
		size_t v;

		jp_ws(p);
		if (!jp_value(p, depth, &v))
			return false;
		if (d->node[v].depth > deepest)
			deepest = d->node[v].depth;
		if (!jp_room(p, (void **)&d->stk, &d->stk_cap, d->nstk, 1, sizeof(*d->stk), 64))
			return false;
		d->stk[d->nstk++] = (uint32_t)v;
		jp_ws(p);
		int sep = jlex_sep(p->s, p->n, &p->i, ']');
		if (sep > 0)
			continue;
		if (sep == 0)
			break;
		return jp_fail(p, LS_INVALID, "expected ',' or ']'");
	}
	cnt = d->nstk - base;
	if (!jp_room(p, (void **)&d->kid, &d->kid_cap, d->nkid, cnt, sizeof(*d->kid), 1024))
		return false;
	memcpy(d->kid + d->nkid, d->stk + base, cnt * sizeof(*d->kid));
	d->node[idx].off = (uint32_t)d->nkid;
	d->node[idx].len = (uint32_t)cnt;
	d->node[idx].depth = (uint32_t)deepest + 1;
	d->nkid += cnt;
	d->nstk = base;
	return true;
}

static bool jp_literal(struct jp *p, const char *word, size_t n)
{
	if (!jlex_literal(p->s, p->n, &p->i, word, n))
		return jp_fail(p, LS_INVALID, "invalid token");
	return true;
}

static bool jp_value(struct jp *p, size_t depth, size_t *idx)
{
	if (p->i >= p->n)
		return jp_fail(p, LS_INVALID, "unexpected end of input");
	if (!jp_node(p, JN_NULL, idx))
		return false;
	switch (p->s[p->i]) {
	case '{':
		p->d->node[*idx].type = JN_OBJ;
		return jp_object(p, depth + 1, *idx);
	case '[':
		p->d->node[*idx].type = JN_ARR;
		return jp_array(p, depth + 1, *idx);
	case '"': {
		uint32_t off, len;

		p->i++;
		if (!jp_string(p, &off, &len))
			return false;
		p->d->node[*idx].type = JN_STR;
		p->d->node[*idx].off = off;
		p->d->node[*idx].len = len;
		return true;
	}
	case 't':
		p->d->node[*idx].type = JN_TRUE;
		return jp_literal(p, "true", 4);
	case 'f':
		p->d->node[*idx].type = JN_FALSE;
		return jp_literal(p, "false", 5);
	case 'n':
		return jp_literal(p, "null", 4);
	default:
		if (jlex_number_start((unsigned char)p->s[p->i]))
			return jp_number(p, *idx);
		return jp_fail(p, LS_INVALID, "invalid token");
	}
}

/* ------------------------------------------------------------ validate */

struct jv {
	const unsigned char *s;
	size_t n, i, max_depth;
};

static void jv_ws(struct jv *v)
{
	v->i = jlex_ws((const char *)v->s, v->n, v->i);
}

static bool jv_string(struct jv *v)
{
	return jlex_str_skip((const char *)v->s, v->n, &v->i, 0, NULL);
}

/* A number: scan_number's grammar and range checks, as jdom's. */
static bool jv_number(struct jv *v)
{
	char out[64];
	size_t outlen, at = v->i;
	bool real;
	long long ival;
	const char *why;

	if (scan_number((const char *)v->s, v->n, &at, out, &outlen, &real, &ival, &why) != LS_OK)
		return false;
	v->i = at;
	return true;
}

static bool jv_value(struct jv *v, size_t depth)
{
	unsigned char c, close;

	jv_ws(v);
	if (v->i >= v->n)
		return false;
	c = v->s[v->i];
	if (c == '"')
		return jv_string(v);
	if (jlex_number_start(c))
		return jv_number(v);
	if (c == 't' || c == 'f' || c == 'n')
		return jlex_literal_any((const char *)v->s, v->n, &v->i);
	if (c != '{' && c != '[')
		return false;
	if (depth >= v->max_depth)
		return false;
	close = c == '{' ? '}' : ']';
	v->i++;
	jv_ws(v);
	if (v->i < v->n && v->s[v->i] == close) {
		v->i++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			jv_ws(v);
			if (v->i >= v->n || v->s[v->i] != '"' || !jv_string(v))
				return false;
			jv_ws(v);
			if (v->i >= v->n || v->s[v->i] != ':')
				return false;
			v->i++;
		}
		if (!jv_value(v, depth + 1))
			return false;
		jv_ws(v);
		if (v->i >= v->n)
			return false;
		if (v->s[v->i] == ',') {
			v->i++;
			continue;
		}
		if (v->s[v->i] != close)
			return false;
		v->i++;
		return true;
	}
}

bool jcanon_is_object(const char *s, size_t n, size_t max_depth)
{
	struct jv v = { (const unsigned char *)s, n, 0, max_depth };

	if (!s || n > JDOM_MAX_INPUT)
		return false;
	jv_ws(&v);
	if (v.i >= n || s[v.i] != '{' || !jv_value(&v, 0))
		return false;
	jv_ws(&v);
	return v.i == n;
}

void jdom_reset(struct jdom *d)
{
	d->nnode = d->nkid = d->nstr = d->nstk = 0;
}

void jdom_release(struct jdom *d)
{
	if (!d)
		return;
	free(d->node);
	free(d->kid);
	free(d->str);
	free(d->stk);
	memset(d, 0, sizeof(*d));
}

ls_rc jdom_parse(struct jdom *d, const char *s, size_t n, size_t max_depth, size_t *root,
		 struct ls_err *err)
{
	struct jp p = { .d = d, .s = s, .n = n, .max_depth = max_depth };

	*root = 0;
	if (n > JDOM_MAX_INPUT)
		return ls_err_set(err, LS_LIMIT, "input over %u bytes", JDOM_MAX_INPUT);
	jp_ws(&p);
	if (p.i >= n || (s[p.i] != '{' && s[p.i] != '['))
		return ls_err_set(err, LS_INVALID, "expected an object or an array");
	if (jp_value(&p, 0, root)) {
		jp_ws(&p);
		if (p.i != n)
			jp_fail(&p, LS_INVALID, "end of input expected");
	}
	if (p.rc)
		return ls_err_set(err, p.rc, "invalid JSON at byte %zu: %s", p.i, p.why);
	return LS_OK;
}

const char *jdom_get_str(const struct jdom *d, const struct jnode *obj, const char *key)
{
	const struct jnode *v = obj ? jdom_get(d, obj, key) : NULL;

	return v && v->type == JN_STR ? d->str + v->off : NULL;
}

const struct jnode *jdom_get(const struct jdom *d, const struct jnode *obj, const char *key)
{
	const uint32_t *srt;
	size_t lo = 0, hi, kl = strlen(key);

	if (obj->type != JN_OBJ || obj->len == 0) /* then kid may be NULL */
		return NULL;
	srt = d->kid + obj->off + obj->len;
	hi = obj->len;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct jnode *m = &d->node[srt[mid]];
		int c = key_cmp(d->str + m->key, m->key_len, key, kl);

		if (!c)
			return m;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void jcanon_buf_put_slow(struct jcanon_buf *b, const char *s, size_t n)
{
	size_t ncap;
	char *np;

	if (b->nomem || b->over || n == 0)
		return;
	if (n > b->max - b->len) {
		b->over = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 1024;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->nomem = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void jcanon_buf_str(struct jcanon_buf *b, const char *s, size_t n)
{
	size_t run = 0, el;
	char u[8];

	jcanon_buf_put(b, "\"", 1);
	for (size_t k = 0; k < n; k++) {
		unsigned char c;
		const char *esc;

		/* the common bytes stand for themselves: skip the call */
		k += jcanon_ascii_run(s + k, n - k);
		if (k >= n)
			break;
		c = (unsigned char)s[k];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		esc = jcanon_escape(c, u, &el);
		if (!esc)
			continue;
		jcanon_buf_put(b, s + run, k - run);
		jcanon_buf_put(b, esc, el);
		run = k + 1;
	}
	jcanon_buf_put(b, s + run, n - run);
	jcanon_buf_put(b, "\"", 1);
}

void jdom_canon(const struct jdom *d, const struct jnode *v, struct jcanon_buf *b)
{
	const uint32_t *kids;

	switch (v->type) {
	case JN_NULL:
		jcanon_buf_put(b, "null", 4);
		return;
	case JN_FALSE:
		jcanon_buf_put(b, "false", 5);
		return;
	case JN_TRUE:
		jcanon_buf_put(b, "true", 4);
		return;
	case JN_INT:
	case JN_REAL:
		jcanon_buf_put(b, d->str + v->off, v->len);
		return;
	case JN_STR:
		jcanon_buf_str(b, d->str + v->off, v->len);
		return;
	case JN_ARR:
		kids = d->kid + v->off;
		jcanon_buf_put(b, "[", 1);
		for (uint32_t k = 0; k < v->len; k++) {
			if (k)
				jcanon_buf_put(b, ",", 1);
			jdom_canon(d, &d->node[kids[k]], b);
		}
		jcanon_buf_put(b, "]", 1);
		return;
	case JN_OBJ:
		kids = d->kid + v->off + v->len;
		jcanon_buf_put(b, "{", 1);
		for (uint32_t k = 0; k < v->len; k++) {
			const struct jnode *m = &d->node[kids[k]];

			if (k)
				jcanon_buf_put(b, ",", 1);
			jcanon_buf_str(b, d->str + m->key, m->key_len);
			jcanon_buf_put(b, ":", 1);
			jdom_canon(d, m, b);
		}
		jcanon_buf_put(b, "}", 1);
		return;
	}
}
