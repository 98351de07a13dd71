/*
 * test_postings.c - posting lists (core/postings.h) against a plain model.
 *
 *  - model test: random rows (every field, terms repeated across rows and
 *    unique ones, terms that are prefixes of others, missing fields, a term
 *    twice in a row, missing and extreme times) in ranges of 1, 255, 256,
 *    257 and 65536 entries; every lookup (get, prefix, any, the columns,
 *    the values, the time bounds) is compared with an inverted index built
 *    naively from the rows, on the building set and again after
 *    encode + decode (invariant 1), also decoded in place
 *    (postings_decode_owned), and encoding the decoded set gives the same
 *    bytes;
 *  - pset_take in both orders, with and without `after`, against sorted
 *    arrays, on sets with array, bitset and run containers across 2^16;
 *  - add_row refuses a wrong rel, an unknown field, an empty term;
 *  - a value pointer stays valid while the building set grows;
 *  - decode refuses every truncation of a blob and every flipped bit with
 *    LS_CORRUPT, names an offset, and a flip with the checksum made right
 *    again is either refused or decodes to something every lookup can run
 *    on (run under the asan build: no read out of bounds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libdeflate.h>

#include "core/postings.h"

/* ------------------------------------------------------------------ */
/* the model */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t rndn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

struct mterm {
	uint8_t field, len;
	uint32_t off;		/* in arena */
};

struct mrow {
	int has_t, has_r;
	int64_t t, r;
	uint8_t n;
	struct mterm term[PF_ROW_TERMS];
};

struct tuple {
	struct mterm t;
	uint32_t rel;
};

struct model {
	uint8_t *arena;
	size_t alen, acap;
	struct mrow *rows;
	uint32_t nrows;
	struct tuple *tup;	/* sorted by field, term, rel */
	size_t ntup;
};

static const char *actions[] = {
	"user.login", "user.logout", "user", "user.", "u", "db.query", "db.queryx", "db",
	"file.read", "file.write", "secret.read", "role.grant", "api.call", "\xff\xfe",
	"user.login.failed",
};
static const char *outcomes[] = {"success", "failure", "denied", "error"};
static const char *services[] = {"billing", "auth", "storage", "search", "payments", "b"};

static uint32_t arena_add(struct model *m, const void *b, size_t n)
{
	if (m->alen + n > m->acap) {
		m->acap = m->acap ? m->acap * 2 : 1 << 16;
		m->arena = realloc(m->arena, m->acap);
		assert_non_null(m->arena);
	}
	memcpy(m->arena + m->alen, b, n);
	m->alen += n;
	return (uint32_t)(m->alen - n);
}

static const uint8_t *tbytes(const struct model *m, const struct mterm *t)
{
	return m->arena + t->off;
}

/* A repeated hash-like term of field f: one of 40, 16 bytes. */
static void pooled(uint8_t *b, uint8_t f, uint32_t k)
{
	for (int i = 0; i < 16; i++)
		b[i] = (uint8_t)(f * 31 + k * 7 + i * (k + 1));
}

static struct mterm gen_term(struct model *m, uint8_t f)
{
	uint8_t b[PF_TERM_MAX];
	size_t len = 16;
	struct mterm t = {.field = f};
	const char *s = NULL;

	switch (f) {
	case PF_ACTION:
		if (rndn(8))
			s = actions[rndn(sizeof(actions) / sizeof(actions[0]))];
		break;
	case PF_OUTCOME:
		s = outcomes[rndn(20) < 17 ? 0 : rndn(4)];
		break;
	case PF_SERVICE:
		s = services[rndn(6)];
		break;
	case PF_FAMILY:
		b[0] = rndn(5) ? 4 : 6;
		len = 1;
		goto done;
	default:
		break;
	}
	if (s) {
		len = strlen(s);
		memcpy(b, s, len);
		goto done;
	}
	if (rndn(3) == 0) {
		pooled(b, f, rndn(40));
	} else {
		/* unique: mostly 16 bytes, some of any length 1..255 */
		len = rndn(10) ? 16 : 1 + rndn(PF_TERM_MAX);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)rnd();
	}
done:
	t.len = (uint8_t)len;
	t.off = arena_add(m, b, len);
	return t;
}

static int64_t gen_time(uint32_t rel)
{
	switch (rndn(100)) {
	case 0:
		return INT64_MIN;
	case 1:
		return INT64_MAX;
	case 2:
		return (int64_t)rnd();
	default:
		return 1700000000000000 + (int64_t)rel * 7 + (int64_t)rndn(2000000) - 1000000;
	}
}

static void gen_row(struct model *m, struct mrow *r, uint32_t rel, int pmiss)
{
	memset(r, 0, sizeof(*r));
	r->has_t = rndn(10) != 0;
	r->has_r = rndn(20) != 0;
	r->t = r->has_t ? gen_time(rel) : 0;
	r->r = r->has_r ? gen_time(rel) : 0;
	for (uint8_t f = 1; f < PF_FIELDS; f++) {
		int k = f == PF_NET ? 1 + (int)rndn(4) : f == PF_ACTION ? 1 + (rndn(10) == 0) : 1;

		if ((int)rndn(100) < pmiss)
			continue;
		while (k-- > 0)
			r->term[r->n++] = gen_term(m, f);
	}
	if (r->n && r->n < PF_ROW_TERMS && rndn(10) == 0) {
		uint8_t k = (uint8_t)rndn(r->n);

		r->term[r->n++] = r->term[k];	/* the same term twice */
	}
	/* shuffle: the first term of a field is its value, wherever it is */
	for (uint8_t i = r->n; i > 1; i--) {
		uint8_t j = (uint8_t)rndn(i);
		struct mterm x = r->term[i - 1];

		r->term[i - 1] = r->term[j];
		r->term[j] = x;
	}
}

static const struct model *sort_model;

static int tcmp(const struct mterm *a, const struct mterm *b)
{
	int c;

	if (a->field != b->field)
		return a->field < b->field ? -1 : 1;
	c = memcmp(tbytes(sort_model, a), tbytes(sort_model, b), a->len < b->len ? a->len : b->len);
	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static int tuple_cmp(const void *x, const void *y)
{
	const struct tuple *a = x, *b = y;
	int c = tcmp(&a->t, &b->t);

	if (c)
		return c;
	return (a->rel > b->rel) - (a->rel < b->rel);
}

static void model_index(struct model *m)
{
	size_t n = 0, k = 0;

	for (uint32_t i = 0; i < m->nrows; i++)
		n += m->rows[i].n;
	m->tup = malloc((n + 1) * sizeof(*m->tup));
	assert_non_null(m->tup);
	for (uint32_t i = 0; i < m->nrows; i++)
		for (uint8_t j = 0; j < m->rows[i].n; j++)
			m->tup[k++] = (struct tuple){m->rows[i].term[j], i};
	sort_model = m;
	qsort(m->tup, k, sizeof(*m->tup), tuple_cmp);
	/* drop duplicates (a term twice in one row) */
	n = 0;
	for (size_t i = 0; i < k; i++)
		if (!n || tuple_cmp(&m->tup[n - 1], &m->tup[i]))
			m->tup[n++] = m->tup[i];
	m->ntup = n;
}

static void model_free(struct model *m)
{
	free(m->arena);
	free(m->rows);
	free(m->tup);
	memset(m, 0, sizeof(*m));
}

static void add_rows(struct postings *p, const struct model *m)
{
	for (uint32_t i = 0; i < m->nrows; i++) {
		const struct mrow *r = &m->rows[i];
		struct pf_row row = {.has_time = r->has_t, .has_received = r->has_r,
				     .time_us = r->t, .received_us = r->r, .nterms = r->n};
		struct ls_err err;

		for (uint8_t j = 0; j < r->n; j++) {
			row.t[j].field = r->term[j].field;
			row.t[j].len = r->term[j].len;
			row.t[j].bytes = tbytes(m, &r->term[j]);
		}
		assert_int_equal(postings_add_row(p, i, &row, &err), LS_OK);
	}
}

/* ------------------------------------------------------------------ */
/* comparing */

static int u32cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Sort and dedupe v[0..n). */
static size_t uniq(uint32_t *v, size_t n)
{
	size_t k = 0;

	qsort(v, n, sizeof(*v), u32cmp);
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/* s (freed here) holds exactly want[0..n) (ascending). */
static void expect_set(struct pset *s, const uint32_t *want, size_t n)
{
	uint32_t *got = malloc((n + 1) * sizeof(*got));

	assert_non_null(s);
	assert_non_null(got);
	assert_int_equal(pset_count(s), n);
	assert_int_equal(pset_take(s, 0, 0, 0, got, n + 1), n);
	if (n)
		assert_memory_equal(got, want, n * sizeof(*got));
	free(got);
	pset_free(s);
}

/* The model's answer for field f and prefix b[0..len) (exact: equal). */
static size_t model_lookup(const struct model *m, uint8_t f, const uint8_t *b, size_t len,
			   int exact, uint32_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < m->ntup; i++) {
		const struct tuple *t = &m->tup[i];

		if (t->t.field != f || t->t.len < len || memcmp(tbytes(m, &t->t), b, len))
			continue;
		if (exact && t->t.len != len)
			continue;
		out[n++] = t->rel;
	}
	return uniq(out, n);
}

static void check_prefix(const struct postings *p, const struct model *m, uint8_t f,
			 const uint8_t *b, size_t len, uint32_t *buf)
{
	size_t n = model_lookup(m, f, b, len, 0, buf);

	expect_set(postings_prefix(p, f, b, len), buf, n);
}

static void check_all(const struct postings *p, const struct model *m, uint64_t first)
{
	uint32_t *buf = malloc((m->ntup + m->nrows + 1) * sizeof(*buf));
	size_t i, j, step;
	uint8_t junk[PF_TERM_MAX];

	assert_non_null(buf);
	assert_int_equal(postings_count(p), m->nrows);
	assert_int_equal(postings_first(p), first);
	/* every distinct term (a sample of them in big ranges) */
	step = m->ntup > 40000 ? 7 : 1;
	for (i = 0; i < m->ntup; i = j) {
		size_t n = 0;

		for (j = i; j < m->ntup && !tcmp(&m->tup[j].t, &m->tup[i].t); j++)
			buf[n++] = m->tup[j].rel;
		if (step > 1 && rndn((uint32_t)step) && m->tup[i].t.field > PF_SERVICE)
			continue;
		expect_set(postings_get(p, m->tup[i].t.field, tbytes(m, &m->tup[i].t),
					m->tup[i].t.len),
			   buf, n);
	}
	/* terms that are not there, fields that do not exist */
	for (int k = 0; k < 20; k++) {
		size_t len = 1 + rndn(PF_TERM_MAX);
		uint8_t f = (uint8_t)(1 + rndn(PF_FIELDS - 1));

		for (size_t x = 0; x < len; x++)
			junk[x] = (uint8_t)rnd();
		expect_set(postings_get(p, f, junk, len), buf,
			   model_lookup(m, f, junk, len, 1, buf));
	}
	expect_set(postings_get(p, 0, "x", 1), NULL, 0);
	expect_set(postings_get(p, PF_FIELDS, "x", 1), NULL, 0);
	expect_set(postings_any(p, 0), NULL, 0);
	expect_set(postings_prefix(p, 200, "x", 1), NULL, 0);
	/* any, and prefixes */
	for (uint8_t f = 1; f < PF_FIELDS; f++) {
		size_t n = 0;

		for (i = 0; i < m->ntup; i++)
			if (m->tup[i].t.field == f)
				buf[n++] = m->tup[i].rel;
		expect_set(postings_any(p, f), buf, uniq(buf, n));
		check_prefix(p, m, f, (const uint8_t *)"", 0, buf);
		for (int k = 0; k < 4 && m->ntup; k++) {
			const struct tuple *t = &m->tup[rndn((uint32_t)m->ntup)];
			uint8_t b[PF_TERM_MAX];

			memcpy(b, tbytes(m, &t->t), t->t.len);
			check_prefix(p, m, f, b, 1 + rndn(t->t.len), buf);
			check_prefix(p, m, f, b, t->t.len, buf);
		}
	}
	for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++)
		for (size_t len = 1; len <= strlen(actions[a]); len++)
			check_prefix(p, m, PF_ACTION, (const uint8_t *)actions[a], len, buf);
	check_prefix(p, m, PF_ACTION, (const uint8_t *)"user.login.failed.x", 19, buf);
	check_prefix(p, m, PF_ACTION, (const uint8_t *)"\xff\xff", 2, buf);
	/* columns and values */
	for (uint32_t r = 0; r < m->nrows; r++) {
		const struct mrow *row = &m->rows[r];
		int has = -1;

		assert_int_equal(postings_time(p, r, &has), row->t);
		assert_int_equal(has, row->has_t);
		assert_int_equal(postings_received(p, r, &has), row->r);
		assert_int_equal(has, row->has_r);
		for (uint8_t f = PF_ACTION; f <= PF_SERVICE; f++) {
			const struct mterm *want = NULL;
			const char *v;
			size_t len = 99;

			for (uint8_t x = 0; x < row->n && !want; x++)
				if (row->term[x].field == f)
					want = &row->term[x];
			v = postings_value(p, r, f, &len);
			if (!want) {
				assert_null(v);
				continue;
			}
			assert_non_null(v);
			assert_int_equal(len, want->len);
			assert_memory_equal(v, tbytes(m, want), len);
		}
		assert_null(postings_value(p, r, PF_ACTOR, &j));
	}
	{
		int has = -1;
		size_t len;

		postings_time(p, m->nrows, &has);
		assert_int_equal(has, 0);
		assert_null(postings_value(p, m->nrows, PF_ACTION, &len));
	}
	for (int c = 0; c < 2; c++) {
		int64_t lo = 0, hi = 0, wlo = 0, whi = 0;
		int has = -1, whas = 0;

		for (uint32_t r = 0; r < m->nrows; r++) {
			int h = c ? m->rows[r].has_r : m->rows[r].has_t;
			int64_t v = c ? m->rows[r].r : m->rows[r].t;

			if (!h)
				continue;
			if (!whas || v < wlo)
				wlo = v;
			if (!whas || v > whi)
				whi = v;
			whas = 1;
		}
		postings_time_bounds(p, c, &lo, &hi, &has);
		assert_int_equal(has, whas);
		assert_int_equal(lo, wlo);
		assert_int_equal(hi, whi);
	}
	free(buf);
}

static void model_round(uint32_t nrows, int pmiss, uint64_t seed)
{
	struct model m = {0};
	struct postings *p, *q;
	struct ls_err err;
	uint8_t *blob, *blob2;
	size_t len, len2;
	uint64_t first = seed * 65536;

	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	m.rows = calloc(nrows + 1, sizeof(*m.rows));
	assert_non_null(m.rows);
	m.nrows = nrows;
	for (uint32_t i = 0; i < nrows; i++)
		gen_row(&m, &m.rows[i], i, pmiss);
	model_index(&m);
	assert_int_equal(postings_new(first, &p, &err), LS_OK);
	add_rows(p, &m);
	check_all(p, &m, first);
	assert_int_equal(postings_encode(p, &blob, &len, &err), LS_OK);
	assert_int_equal(postings_decode(blob, len, &q, &err), LS_OK);
	check_all(q, &m, first);
	/* decoded in place from a buffer it takes over: the same answers */
	{
		uint8_t *own = malloc(len + 1);
		struct postings *o;

		assert_non_null(own);
		memcpy(own, blob, len);
		assert_int_equal(postings_decode_owned(own, len, &o, &err), LS_OK);
		if (nrows <= 1000)
			check_all(o, &m, first);
		assert_int_equal(postings_encode(o, &blob2, &len2, &err), LS_OK);
		assert_int_equal(len2, len);
		assert_memory_equal(blob2, blob, len);
		free(blob2);
		postings_free(o);
	}
	/* viewed in place, every check or the fixed parts only: the same
	 * answers and bytes, and the blob is not on the heap of the view */
	for (int full = 0; full < 2; full++) {
		struct postings *o;

		assert_int_equal(postings_view(blob, len, full, &o, &err), LS_OK);
		if (nrows <= 1000 || !full)
			check_all(o, &m, first);
		assert_false(postings_corrupt(o));
		assert_int_equal(postings_encode(o, &blob2, &len2, &err), LS_OK);
		assert_int_equal(len2, len);
		assert_memory_equal(blob2, blob, len);
		free(blob2);
		assert_int_equal(postings_memory(q) - postings_memory(o), len);
		postings_free(o);
	}
	/* the decoded set encodes to the same bytes; encoding is repeatable */
	assert_int_equal(postings_encode(q, &blob2, &len2, &err), LS_OK);
	assert_int_equal(len2, len);
	assert_memory_equal(blob2, blob, len);
	free(blob2);
	assert_int_equal(postings_encode(p, &blob2, &len2, &err), LS_OK);
	assert_int_equal(len2, len);
	assert_memory_equal(blob2, blob, len);
	free(blob2);
	assert_true(postings_memory(p) > 0 && postings_memory(q) >= len);
	/* a decoded set takes no more rows */
	{
		struct pf_row row = {.nterms = 0};

		assert_int_equal(postings_add_row(q, nrows, &row, &err), LS_INVALID);
	}
	postings_free(q);
	postings_free(p);
	free(blob);
	model_free(&m);
}

static void test_model_small(void **state)
{
	(void)state;
	model_round(1, 10, 1);
	model_round(1, 100, 2);	/* a row with no terms */
	model_round(2, 50, 3);
	model_round(255, 10, 4);
	model_round(256, 10, 5);
	model_round(257, 30, 6);
	model_round(1000, 5, 7);
}

static void test_model_empty(void **state)
{
	(void)state;
	model_round(0, 10, 8);
}

static void test_model_65536(void **state)
{
	(void)state;
	model_round(65536, 10, 9);
}

/* ------------------------------------------------------------------ */
/* pset_take */

/* The model of pset_take over want[0..n). */
static size_t take_model(const uint32_t *want, size_t n, int desc, int has_after, uint32_t after,
			 uint32_t *out, size_t max)
{
	size_t k = 0;

	if (!desc) {
		for (size_t i = 0; i < n && k < max; i++)
			if (!has_after || want[i] > after)
				out[k++] = want[i];
	} else {
		for (size_t i = n; i-- > 0 && k < max;)
			if (!has_after || want[i] < after)
				out[k++] = want[i];
	}
	return k;
}

static void check_take(const struct pset *s, const uint32_t *want, size_t n)
{
	uint32_t *got = malloc((n + 8) * sizeof(*got)), *exp = malloc((n + 8) * sizeof(*exp));
	uint32_t afters[12];
	size_t maxes[5] = {0, 1, 3, 1000, n + 5};

	assert_non_null(got);
	assert_non_null(exp);
	afters[0] = 0;
	afters[1] = 1;
	afters[2] = UINT32_MAX;
	afters[3] = 65535;
	afters[4] = 65536;
	afters[5] = rndn(200000);
	for (int i = 6; i < 12; i++)
		afters[i] = n ? want[rndn((uint32_t)n)] + (uint32_t)(i % 3) - 1 : (uint32_t)i;
	for (int desc = 0; desc < 2; desc++)
		for (int ha = 0; ha < 2; ha++)
			for (int a = 0; a < (ha ? 12 : 1); a++)
				for (int x = 0; x < 5; x++) {
					size_t e = take_model(want, n, desc, ha, afters[a], exp,
							      maxes[x]);
					size_t g = pset_take(s, desc, ha, afters[a], got, maxes[x]);

					assert_int_equal(g, e);
					if (e)
						assert_memory_equal(got, exp, e * sizeof(*got));
				}
	free(got);
	free(exp);
}

static void test_take(void **state)
{
	enum { N = 140000 };
	static const char *names[] = {"a", "b", "c", "d", "e"};
	uint32_t *want[5], nw[5] = {0}, *tmp = malloc(2 * N * sizeof(uint32_t));
	struct postings *p, *q;
	struct ls_err err;
	uint8_t *blob;
	size_t len;

	(void)state;
	rng_state = 77;
	assert_non_null(tmp);
	for (int i = 0; i < 5; i++) {
		want[i] = malloc(N * sizeof(uint32_t));
		assert_non_null(want[i]);
	}
	assert_int_equal(postings_new(0, &p, &err), LS_OK);
	for (uint32_t r = 0; r < N; r++) {
		struct pf_row row = {.nterms = 0};
		int in[5];

		in[0] = r % 3 == 0;					/* bitsets */
		in[1] = (r >= 1000 && r < 5000) || (r >= 70000 && r < 80000) ||
			r == 65535 || r == 65536;			/* runs */
		in[2] = r % 1000 == 7;					/* arrays */
		in[3] = r == 65535 || r == 131071 || r == 139999;	/* a few */
		in[4] = rndn(5) == 0;					/* random */
		for (int i = 0; i < 5; i++)
			if (in[i]) {
				row.t[row.nterms].field = PF_OUTCOME;
				row.t[row.nterms].len = 1;
				row.t[row.nterms++].bytes = names[i];
				want[i][nw[i]++] = r;
			}
		assert_int_equal(postings_add_row(p, r, &row, &err), LS_OK);
	}
	assert_int_equal(postings_encode(p, &blob, &len, &err), LS_OK);
	assert_int_equal(postings_decode(blob, len, &q, &err), LS_OK);
	for (int k = 0; k < 2; k++) {
		const struct postings *x = k ? q : p;

		for (int i = 0; i < 5; i++) {
			struct pset *s = postings_get(x, PF_OUTCOME, names[i], 1), *t;
			size_t n;

			check_take(s, want[i], nw[i]);
			/* and/or with the next set */
			t = postings_get(x, PF_OUTCOME, names[(i + 1) % 5], 1);
			memcpy(tmp, want[i], nw[i] * sizeof(uint32_t));
			memcpy(tmp + nw[i], want[(i + 1) % 5], nw[(i + 1) % 5] * sizeof(uint32_t));
			n = uniq(tmp, nw[i] + nw[(i + 1) % 5]);
			pset_or(s, t);
			check_take(s, tmp, n);
			pset_free(s);
			s = postings_get(x, PF_OUTCOME, names[i], 1);
			pset_and(s, t);
			n = 0;
			for (uint32_t a = 0, b = 0; a < nw[i] && b < nw[(i + 1) % 5];) {
				uint32_t va = want[i][a], vb = want[(i + 1) % 5][b];

				if (va == vb)
					tmp[n++] = va;
				a += va <= vb;
				b += vb <= va;
			}
			check_take(s, tmp, n);
			pset_free(s);
			pset_free(t);
		}
	}
	{
		struct pset *s = pset_all(N), *e = pset_new(), *z = pset_all(0);

		for (uint32_t r = 0; r < N; r++)
			tmp[r] = r;
		check_take(s, tmp, N);
		check_take(e, tmp, 0);
		check_take(z, tmp, 0);
		pset_free(s);
		pset_free(e);
		pset_free(z);
	}
	postings_free(p);
	postings_free(q);
	free(blob);
	for (int i = 0; i < 5; i++)
		free(want[i]);
	free(tmp);
}

/* ------------------------------------------------------------------ */
/* bad input */

static void test_add_row_errors(void **state)
{
	struct postings *p;
	struct ls_err err;
	struct pf_row row = {.nterms = 1};

	(void)state;
	assert_int_equal(postings_new(5, &p, &err), LS_OK);
	row.t[0].field = PF_ACTOR;
	row.t[0].len = 3;
	row.t[0].bytes = "abc";
	assert_int_equal(postings_add_row(p, 1, &row, &err), LS_INVALID);
	row.t[0].field = 0;
	assert_int_equal(postings_add_row(p, 0, &row, &err), LS_INVALID);
	row.t[0].field = PF_FIELDS;
	assert_int_equal(postings_add_row(p, 0, &row, &err), LS_INVALID);
	row.t[0].field = PF_ACTOR;
	row.t[0].len = 0;
	assert_int_equal(postings_add_row(p, 0, &row, &err), LS_INVALID);
	row.t[0].len = 3;
	row.nterms = PF_ROW_TERMS + 1;
	assert_int_equal(postings_add_row(p, 0, &row, &err), LS_INVALID);
	assert_int_equal(postings_count(p), 0);
	row.nterms = 1;
	assert_int_equal(postings_add_row(p, 0, &row, &err), LS_OK);
	assert_int_equal(postings_count(p), 1);
	expect_set(postings_get(p, PF_ACTOR, "abc", 3), (const uint32_t[]){0}, 1);
	postings_free(p);
	postings_free(NULL);
	pset_free(NULL);
}

/* postings_value() points into p for as long as p lives, also while rows
 * are added (the term arena grows in chunks, it never moves). */
static void test_value_stable(void **state)
{
	struct postings *p;
	struct ls_err err;
	struct pf_row row = {.nterms = 2};
	uint8_t big[200];
	const char *v;
	size_t len;

	(void)state;
	assert_int_equal(postings_new(0, &p, &err), LS_OK);
	row.t[0].field = PF_ACTION;
	row.t[0].len = 10;
	row.t[0].bytes = "user.login";
	row.t[1].field = PF_RID;
	row.t[1].len = sizeof(big);
	row.t[1].bytes = big;
	memset(big, 0, sizeof(big));
	assert_int_equal(postings_add_row(p, 0, &row, &err), LS_OK);
	v = postings_value(p, 0, PF_ACTION, &len);
	assert_non_null(v);
	for (uint32_t r = 1; r < 5000; r++) {
		memcpy(big, &r, sizeof(r));
		row.t[0].bytes = r % 2 ? "db.query" : "user.login";
		row.t[0].len = r % 2 ? 8 : 10;
		assert_int_equal(postings_add_row(p, r, &row, &err), LS_OK);
	}
	assert_true(postings_memory(p) > 5000 * sizeof(big));
	assert_int_equal(len, 10);
	assert_memory_equal(v, "user.login", 10);
	assert_ptr_equal(postings_value(p, 0, PF_ACTION, &len), v);
	postings_free(p);
}

/* Every lookup on a decoded set, for bytes that decoded: must not crash. */
static void exercise(const struct postings *q)
{
	uint32_t out[64];
	uint32_t n = postings_count(q);

	for (uint8_t f = 0; f <= PF_FIELDS; f++) {
		struct pset *s = postings_any(q, f), *t = postings_prefix(q, f, "u", 1);
		size_t len;

		pset_take(s, 1, 1, n / 2, out, 64);
		pset_or(s, t);
		pset_free(t);
		t = postings_get(q, f, "user.login", 10);
		pset_and(s, t);
		pset_free(t);
		pset_free(s);
		for (uint32_t r = 0; r < n + 2 && r < 300; r++) {
			int has;

			postings_value(q, r, f, &len);
			postings_time(q, r, &has);
			postings_received(q, r, &has);
		}
	}
}

static void test_corrupt(void **state)
{
	struct model m = {0};
	struct postings *p, *q;
	struct ls_err err;
	uint8_t *blob, *bad;
	size_t len;

	(void)state;
	rng_state = 4242;
	m.nrows = 40;
	m.rows = calloc(m.nrows, sizeof(*m.rows));
	assert_non_null(m.rows);
	for (uint32_t i = 0; i < m.nrows; i++)
		gen_row(&m, &m.rows[i], i, 10);
	model_index(&m);
	assert_int_equal(postings_new(1 << 20, &p, &err), LS_OK);
	add_rows(p, &m);
	/* a dense term so that a roaring set is in the blob too */
	assert_int_equal(postings_encode(p, &blob, &len, &err), LS_OK);
	bad = malloc(len);
	assert_non_null(bad);
	for (size_t n = 0; n < len; n++) {
		memcpy(bad, blob, n);
		q = (struct postings *)1;
		assert_int_equal(postings_decode(bad, n, &q, &err), LS_CORRUPT);
		assert_null(q);
		assert_non_null(strstr(err.msg, "offset"));
		if (n % 7 == 0) {	/* a buffer handed over is freed on failure */
			uint8_t *own = malloc(n + 1);

			assert_non_null(own);
			memcpy(own, blob, n);
			assert_int_equal(postings_decode_owned(own, n, &q, &err), LS_CORRUPT);
			assert_null(q);
		}
	}
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			ls_rc rc;

			memcpy(bad, blob, len);
			bad[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(postings_decode(bad, len, &q, &err), LS_CORRUPT);
			if (i % 13 == 0 && bit == 0) {
				uint8_t *own = malloc(len);

				assert_non_null(own);
				memcpy(own, bad, len);
				assert_int_equal(postings_decode_owned(own, len, &q, &err),
						 LS_CORRUPT);
			}
			/* the same flip with the checksum made right */
			if (i >= len - 4)
				continue;
			{
				uint32_t crc = (uint32_t)libdeflate_crc32(0, bad, len - 4);

				bad[len - 4] = (uint8_t)(crc >> 24);
				bad[len - 3] = (uint8_t)(crc >> 16);
				bad[len - 2] = (uint8_t)(crc >> 8);
				bad[len - 1] = (uint8_t)crc;
			}
			rc = postings_decode(bad, len, &q, &err);
			assert_true(rc == LS_OK || rc == LS_CORRUPT);
			if (rc == LS_OK) {
				exercise(q);
				postings_free(q);
			}
		}
	postings_free(p);
	free(blob);
	free(bad);
	model_free(&m);
}

/* Every set of every field, by a prefix lookup per first byte. */
static void exercise_all(const struct postings *q)
{
	uint32_t out[64];

	exercise(q);
	for (uint8_t f = 1; f < PF_FIELDS; f++)
		for (unsigned b = 0; b < 256; b++) {
			uint8_t k = (uint8_t)b;
			struct pset *s = postings_prefix(q, f, &k, 1);

			if (s)
				pset_take(s, 0, 0, 0, out, 64);
			pset_free(s);
		}
}

static void crc_fix(uint8_t *b, size_t len)
{
	uint32_t crc = (uint32_t)libdeflate_crc32(0, b, len - 4);

	b[len - 4] = (uint8_t)(crc >> 24);
	b[len - 3] = (uint8_t)(crc >> 16);
	b[len - 2] = (uint8_t)(crc >> 8);
	b[len - 1] = (uint8_t)crc;
}

/* A view: a full one refuses what postings_decode() refuses; a light one
 * opened on good bytes that change afterwards (a file rewritten under the
 * map) answers without reading outside them (ASan) and says so. */
static void test_view_corrupt(void **state)
{
	struct model m = {0};
	struct postings *p, *q;
	struct ls_err err;
	uint8_t *blob, *bad;
	size_t len, flagged = 0;
	int64_t lo, hi;
	int has;

	(void)state;
	rng_state = 777;
	m.nrows = 300;
	m.rows = calloc(m.nrows, sizeof(*m.rows));
	assert_non_null(m.rows);
	for (uint32_t i = 0; i < m.nrows; i++)
		gen_row(&m, &m.rows[i], i, 10);
	model_index(&m);
	assert_int_equal(postings_new(5 << 16, &p, &err), LS_OK);
	add_rows(p, &m);
	assert_int_equal(postings_encode(p, &blob, &len, &err), LS_OK);
	assert_memory_equal(blob, "LSPOST02", 8);
	bad = malloc(len);
	assert_non_null(bad);
	/* short: refused by both kinds */
	for (size_t n = 0; n < len; n += 1 + n / 8) {
		assert_int_equal(postings_view(blob, n, 0, &q, &err), LS_CORRUPT);
		assert_null(q);
		assert_int_equal(postings_view(blob, n, 1, &q, &err), LS_CORRUPT);
	}
	/* the time bounds are the header's in a light view, checked in a full one */
	memcpy(bad, blob, len);
	bad[440 + 4 + 7] ^= 1;	/* the least byte of the time's low bound */
	crc_fix(bad, len);
	assert_int_equal(postings_view(bad, len, 1, &q, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "offset 444: time bounds"));
	assert_int_equal(postings_view(bad, len, 0, &q, &err), LS_OK);
	postings_time_bounds(q, 0, &lo, &hi, &has);
	postings_free(q);
	{
		int64_t wlo, whi;
		int whas;

		postings_time_bounds(p, 0, &wlo, &whi, &whas);
		assert_true(has && whas);
		assert_int_equal(lo, wlo ^ 1);
		assert_int_equal(hi, whi);
	}
	/* Every byte of the header, directory and trailer; every 5th byte of
	 * the sets between (an exhaustive pass took 80 s of the suite). */
	for (size_t i = 0; i < len; i += i < 1024 || i + 64 >= len ? 1 : 5)
		for (int bit = 0; bit < 8; bit += (i % 3 ? 8 : 1)) {
			ls_rc rc;

			memcpy(bad, blob, len);
			bad[i] ^= (uint8_t)(1u << bit);
			if (i < len - 4)
				crc_fix(bad, len);
			rc = postings_view(bad, len, 1, &q, &err);
			assert_true(rc == LS_OK || rc == LS_CORRUPT);
			if (rc == LS_OK)
				postings_free(q);
			/* opened on the good bytes, changed after */
			memcpy(bad, blob, len);
			assert_int_equal(postings_view(bad, len, 0, &q, &err), LS_OK);
			bad[i] ^= (uint8_t)(1u << bit);
			if (i % 4 == 0)
				exercise_all(q);
			else
				exercise(q);
			flagged += postings_corrupt(q) != 0;
			postings_free(q);
			/* opened on the bad bytes (checksum right) */
			if (i < len - 4)
				crc_fix(bad, len);
			rc = postings_view(bad, len, 0, &q, &err);
			assert_true(rc == LS_OK || rc == LS_CORRUPT);
			if (rc == LS_OK) {
				exercise(q);
				postings_free(q);
			}
		}
	assert_true(flagged > 0);
	postings_free(p);
	free(blob);
	free(bad);
	model_free(&m);
}

/* Blobs with roaring sets (dense terms): flips there, checksum fixed. */
static void test_corrupt_roaring(void **state)
{
	struct postings *p, *q;
	struct ls_err err;
	uint8_t *blob, *bad;
	size_t len;
	int roaring_seen = 0;

	(void)state;
	rng_state = 99;
	assert_int_equal(postings_new(0, &p, &err), LS_OK);
	for (uint32_t r = 0; r < 9000; r++) {
		struct pf_row row = {.nterms = 2, .has_time = 1, .time_us = r};

		row.t[0].field = PF_OUTCOME;
		row.t[0].len = 1;
		row.t[0].bytes = r % 2 ? "s" : "f";
		row.t[1].field = PF_SERVICE;
		row.t[1].len = 1;
		row.t[1].bytes = r < 300 || (r > 5000 && r < 5100) ? "x" : "y";
		assert_int_equal(postings_add_row(p, r, &row, &err), LS_OK);
	}
	assert_int_equal(postings_encode(p, &blob, &len, &err), LS_OK);
	bad = malloc(len);
	assert_non_null(bad);
	for (size_t i = 0; i + 4 < len; i += 1 + rndn(7)) {
		uint32_t crc;
		ls_rc rc;

		memcpy(bad, blob, len);
		bad[i] ^= (uint8_t)(1u << rndn(8));
		crc = (uint32_t)libdeflate_crc32(0, bad, len - 4);
		bad[len - 4] = (uint8_t)(crc >> 24);
		bad[len - 3] = (uint8_t)(crc >> 16);
		bad[len - 2] = (uint8_t)(crc >> 8);
		bad[len - 1] = (uint8_t)crc;
		rc = postings_decode(bad, len, &q, &err);
		assert_true(rc == LS_OK || rc == LS_CORRUPT);
		if (rc == LS_OK) {
			exercise(q);
			postings_free(q);
		}
		roaring_seen = 1;
	}
	assert_true(roaring_seen);
	/* the blob holds roaring sets: the cookie of a portable bitmap */
	assert_non_null(memmem(blob, len, "\x3b\x30", 2));
	postings_free(p);
	free(blob);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_small),
		cmocka_unit_test(test_model_empty),
		cmocka_unit_test(test_model_65536),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_add_row_errors),
		cmocka_unit_test(test_value_stable),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_corrupt_roaring),
		cmocka_unit_test(test_view_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
