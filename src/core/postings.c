/*
 * postings.c - posting lists of one range of leaves (postings.h): building
 * the active range row by row, and every lookup, on a building set and on
 * a decoded one (postings_codec.c makes and reads the blob).
 *
 * Building keeps, per entry of about ten terms, little more than the rels:
 *   - an arena of term bytes (field, len, bytes: no allocation per term)
 *     in 64 KiB chunks that never move (postings_value() points into it);
 *   - struct pterm (16 bytes, in chunks of 4096: no doubling slack) per
 *     distinct term, its rels in line (up to two), in a doubling array (up
 *     to PS_ARR_MAX) or in a roaring bitmap (dense terms: outcome, service,
 *     action);
 *   - an open-addressing table of (SipHash, term id) slots: the terms are
 *     client values, the hash is keyed at random per range so nobody can
 *     aim them at one chain;
 *   - per field a roaring bitmap of the rels that have the field at all
 *     (postings_any) and the list of its term ids (prefix scans);
 *   - the columns: two int64 arrays, two "has" bitmaps, and three uint32
 *     term ids per rel for postings_value().
 * postings_memory() counts all of it: about 200 bytes an entry on bench
 * shapes (bench_postings), most of it the near-unique terms (resource id,
 * address, /24): record, pterm, slot and their rel.
 */
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/postings_int.h"

/* Capacity of a term's rel array holding n rels (PS_INLINE < n <= PS_ARR_MAX). */
static uint32_t arr_cap(uint32_t n)
{
	uint32_t c = 4;

	while (c < n)
		c *= 2;
	return c;
}

ls_rc postings_new(uint64_t first, struct postings **out, struct ls_err *err)
{
	struct postings *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return ls_err_set(err, LS_NOMEM, "postings: out of memory");
	p->first = first;
	if (ls_random(p->fkey[0], sizeof(p->fkey[0])) != LS_OK) {
		free(p);
		return ls_err_set(err, LS_IO, "postings: no randomness for the hash key");
	}
	for (int f = 1; f < PF_FIELDS; f++) {
		memcpy(p->fkey[f], p->fkey[0], sizeof(p->fkey[0]));
		p->fkey[f][0] ^= (uint8_t)f;
	}
	for (int f = 1; f < PF_FIELDS; f++) {
		p->any[f] = roaring_bitmap_create();
		if (!p->any[f]) {
			postings_free(p);
			return ls_err_set(err, LS_NOMEM, "postings: out of memory");
		}
	}
	for (int c = 0; c < 2; c++) {
		p->has[c] = roaring_bitmap_create();
		if (!p->has[c]) {
			postings_free(p);
			return ls_err_set(err, LS_NOMEM, "postings: out of memory");
		}
	}
	*out = p;
	return LS_OK;
}

static void bm_free(roaring_bitmap_t *bm)
{
	if (bm)
		roaring_bitmap_free(bm);
}

static void term_release(struct pterm *t)
{
	if (t->n > PS_ARR_MAX)
		roaring_bitmap_free(t->u.bm);
	else if (t->n > PS_INLINE)
		free(t->u.arr);
}

void postings_free(struct postings *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->nterms; i++)
		term_release(ps_term(p, i));
	for (uint32_t i = 0; i < p->ntchunks; i++)
		free(p->tchunk[i]);
	free(p->tchunk);
	for (uint32_t i = 0; i < p->nchunks; i++)
		free(p->chunk[i]);
	free(p->chunk);
	free(p->slots);
	for (int f = 0; f < PF_FIELDS; f++) {
		free(p->fterms[f]);
		bm_free(p->any[f]);
		free(p->f[f].entry);
	}
	for (int c = 0; c < 2; c++) {
		free(p->col[c]);
		bm_free(p->has[c]);
		free(p->c[c].data);
	}
	free(p->val);
	if (!p->view)
		free(p->buf);
	ls_wipe(p->fkey, sizeof(p->fkey));
	free(p);
}

uint64_t postings_first(const struct postings *p)
{
	return p->first;
}

uint32_t postings_count(const struct postings *p)
{
	return p->count;
}

/* ------------------------------------------------------------------ */
/* building */

/* SipHash of the term's bytes under the field's key (field = first
 * byte of the range's random key changed): no copy of the term. */
static uint32_t term_hash(const struct postings *p, uint8_t field, const void *b, size_t len)
{
	return (uint32_t)ls_siphash24(p->fkey[field], b, len);
}

static const uint8_t *term_key(const struct postings *p, uint32_t id)
{
	return ps_key(p, ps_term(p, id)->off);
}

/* The id of a term, or UINT32_MAX. */
static uint32_t term_find(const struct postings *p, uint8_t field, const void *b, size_t len,
			  uint32_t h)
{
	if (!p->nslots)
		return UINT32_MAX;
	for (uint32_t i = h & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
		const struct pslot *s = &p->slots[i];
		const uint8_t *k;

		if (!s->id1)
			return UINT32_MAX;
		if (s->hash != h)
			continue;
		k = term_key(p, s->id1 - 1);
		if (k[0] == field && k[1] == len && !memcmp(k + 2, b, len))
			return s->id1 - 1;
	}
}

static void slot_put(struct pslot *slots, uint32_t nslots, uint32_t h, uint32_t id1)
{
	uint32_t i = h & (nslots - 1);

	while (slots[i].id1)
		i = (i + 1) & (nslots - 1);
	slots[i].hash = h;
	slots[i].id1 = id1;
}

/* Room for one more term in the table (load at most 3/4). */
static int slots_reserve(struct postings *p)
{
	struct pslot *ns;
	uint32_t nn;

	if (p->nslots && (uint64_t)(p->nterms + 1) * 4 <= (uint64_t)p->nslots * 3)
		return 1;
	nn = p->nslots ? p->nslots * 2 : 64;
	if (!nn)
		return 0;
	ns = calloc(nn, sizeof(*ns));
	if (!ns)
		return 0;
	for (uint32_t i = 0; i < p->nslots; i++)
		if (p->slots[i].id1)
			slot_put(ns, nn, p->slots[i].hash, p->slots[i].id1);
	free(p->slots);
	p->slots = ns;
	p->nslots = nn;
	return 1;
}

static int grow(void **a, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t nc;
	void *na;

	if (need <= *cap)
		return 1;
	nc = *cap ? *cap : 16;
	while (nc < need) {
		if (nc > UINT32_MAX / 2)
			return 0;
		nc *= 2;
	}
	na = realloc(*a, (size_t)nc * elem);
	if (!na)
		return 0;
	*a = na;
	*cap = nc;
	return 1;
}

/* A new term (not yet in the table): its id, or UINT32_MAX on OOM. */
static uint32_t term_add(struct postings *p, uint8_t field, const void *b, size_t len, uint32_t h)
{
	uint32_t id = p->nterms;
	struct pterm *t;
	uint8_t *rec;

	if (id == UINT32_MAX - 1)
		return UINT32_MAX;
	if (!p->nchunks || p->chunk_used + 2 + len > PS_CHUNK) {
		if (p->nchunks == PS_CHUNK ||
		    !grow((void **)&p->chunk, &p->chunks_cap, p->nchunks + 1, sizeof(*p->chunk)))
			return UINT32_MAX;
		p->chunk[p->nchunks] = malloc(PS_CHUNK);
		if (!p->chunk[p->nchunks])
			return UINT32_MAX;
		p->nchunks++;
		p->chunk_used = 0;
	}
	if (id >> PS_TCHUNK_BITS >= p->ntchunks) {
		if (!grow((void **)&p->tchunk, &p->tchunks_cap, p->ntchunks + 1,
			  sizeof(*p->tchunk)))
			return UINT32_MAX;
		p->tchunk[p->ntchunks] = malloc(PS_TCHUNK * sizeof(struct pterm));
		if (!p->tchunk[p->ntchunks])
			return UINT32_MAX;
		p->ntchunks++;
	}
	if (!grow((void **)&p->fterms[field], &p->fcap[field], p->fn[field] + 1, sizeof(uint32_t)) ||
	    !slots_reserve(p))
		return UINT32_MAX;
	t = ps_term(p, id);
	memset(t, 0, sizeof(*t));
	t->off = (p->nchunks - 1) << PS_CHUNK_BITS | p->chunk_used;
	rec = p->chunk[p->nchunks - 1] + p->chunk_used;
	rec[0] = field;
	rec[1] = (uint8_t)len;
	memcpy(rec + 2, b, len);
	p->chunk_used += 2 + (uint32_t)len;
	p->fterms[field][p->fn[field]++] = id;
	p->nterms++;
	slot_put(p->slots, p->nslots, h, id + 1);
	return id;
}

/* Append rel (> every rel of t): 0 on OOM, t unchanged. */
static int term_push(struct pterm *t, uint32_t rel)
{
	if (t->n < PS_INLINE) {
		t->u.inl[t->n++] = rel;
		return 1;
	}
	if (t->n == PS_INLINE) {
		uint32_t *a = malloc(arr_cap(PS_INLINE + 1) * sizeof(*a));

		if (!a)
			return 0;
		memcpy(a, t->u.inl, sizeof(t->u.inl));
		a[t->n++] = rel;
		t->u.arr = a;
		return 1;
	}
	if (t->n < PS_ARR_MAX) {
		if (t->n == arr_cap(t->n)) {
			uint32_t *a = realloc(t->u.arr, 2 * (size_t)t->n * sizeof(*a));

			if (!a)
				return 0;
			t->u.arr = a;
		}
		t->u.arr[t->n++] = rel;
		return 1;
	}
	if (t->n == PS_ARR_MAX) {
		roaring_bitmap_t *bm = roaring_bitmap_of_ptr(t->n, t->u.arr);

		if (!bm)
			return 0;
		roaring_bitmap_add(bm, rel);
		free(t->u.arr);
		t->u.bm = bm;
		t->n++;
		return 1;
	}
	roaring_bitmap_add(t->u.bm, rel);
	t->n++;
	return 1;
}

/* Take rel (the last one) out of t again: a row that failed half-way. */
static void term_pop(struct pterm *t)
{
	if (t->n > PS_ARR_MAX + 1) {
		roaring_bitmap_remove(t->u.bm, roaring_bitmap_maximum(t->u.bm));
		t->n--;
	} else if (t->n == PS_ARR_MAX + 1) {
		uint32_t *a = malloc(arr_cap(PS_ARR_MAX) * sizeof(*a));

		if (a) {
			roaring_bitmap_t *bm = t->u.bm;

			roaring_bitmap_remove(bm, roaring_bitmap_maximum(bm));
			roaring_bitmap_to_uint32_array(bm, a);
			roaring_bitmap_free(bm);
			t->u.arr = a;
			t->n--;
		} else {
			/* Keep the bitmap: n stays above PS_ARR_MAX. */
			roaring_bitmap_remove(t->u.bm, roaring_bitmap_maximum(t->u.bm));
		}
	} else if (t->n == PS_INLINE + 1) {
		uint32_t *a = t->u.arr;

		memcpy(t->u.inl, a, sizeof(t->u.inl));
		free(a);
		t->n--;
	} else if (t->n) {
		t->n--;
	}
}

/*
 * A few recent terms per field, compared before hashing: outcome, service,
 * action, family, writer and the short network prefixes repeat from row
 * to row, and a compare of a cached term is cheaper than SipHash.  A field
 * whose terms rarely repeat (ids, addresses) stops using it after
 * PS_MRU_TRIAL lookups.
 */
static uint32_t mru_find(struct postings *p, uint8_t f, const void *b, size_t len)
{
	struct pmru *m = &p->mru[f];

	if (m->off)
		return UINT32_MAX;
	for (int j = 0; j < PS_MRU; j++) {
		const uint8_t *k;

		if (!m->id1[j])
			break;
		k = term_key(p, m->id1[j] - 1);
		if (k[1] == len && !memcmp(k + 2, b, len)) {
			uint32_t id1 = m->id1[j];

			if (j) {	/* move towards the front */
				m->id1[j] = m->id1[j - 1];
				m->id1[j - 1] = id1;
			}
			m->hits++;
			return id1 - 1;
		}
	}
	if (++m->misses == PS_MRU_TRIAL && m->hits < PS_MRU_TRIAL)
		m->off = 1;
	return UINT32_MAX;
}

static void mru_put(struct postings *p, uint8_t f, uint32_t id)
{
	struct pmru *m = &p->mru[f];

	memmove(m->id1 + 1, m->id1, (PS_MRU - 1) * sizeof(m->id1[0]));
	m->id1[0] = id + 1;
}

static int row_check(const struct postings *p, uint32_t rel, const struct pf_row *row,
		     struct ls_err *err)
{
	if (rel != p->count)
		return ls_err_set(err, LS_INVALID, "postings: row %u added, %u expected", rel,
				  p->count);
	if (p->buf)
		return ls_err_set(err, LS_INVALID, "postings: a decoded range is read-only");
	if (rel == UINT32_MAX || p->first > UINT64_MAX - rel - 1)
		return ls_err_set(err, LS_LIMIT, "postings: range full");
	if (row->nterms > PF_ROW_TERMS)
		return ls_err_set(err, LS_INVALID, "postings: %zu terms in a row", row->nterms);
	for (size_t i = 0; i < row->nterms; i++) {
		uint8_t f = row->t[i].field;

		if (f < 1 || f >= PF_FIELDS)
			return ls_err_set(err, LS_INVALID, "postings: unknown field %u", f);
		if (!row->t[i].len || !row->t[i].bytes)
			return ls_err_set(err, LS_INVALID, "postings: empty term");
	}
	return LS_OK;
}

ls_rc postings_add_row(struct postings *p, uint32_t rel, const struct pf_row *row,
		       struct ls_err *err)
{
	uint32_t touched[PF_ROW_TERMS], val[3] = {0, 0, 0}, ids[PF_ROW_TERMS], hs[PF_ROW_TERMS];
	uint8_t fields[PF_FIELDS] = {0};
	size_t nt = 0;
	ls_rc rc = row_check(p, rel, row, err);

	if (rc != LS_OK)
		return rc;
	if (rel >= p->rows_cap) {
		uint32_t nc = p->rows_cap ? p->rows_cap * 2 : 256;
		int64_t *c0, *c1;
		uint32_t *v;

		if (nc < p->rows_cap)
			return ls_err_set(err, LS_LIMIT, "postings: range full");
		c0 = realloc(p->col[0], (size_t)nc * sizeof(*c0));
		if (c0)
			p->col[0] = c0;
		c1 = c0 ? realloc(p->col[1], (size_t)nc * sizeof(*c1)) : NULL;
		if (c1)
			p->col[1] = c1;
		v = c1 ? realloc(p->val, (size_t)nc * 3 * sizeof(*v)) : NULL;
		if (!v)
			return ls_err_set(err, LS_NOMEM, "postings: out of memory");
		p->val = v;
		p->rows_cap = nc;
	}
	/* first hash every term and fetch its slot, so that the row's cache
	 * misses overlap instead of queueing one after the other */
	for (size_t i = 0; i < row->nterms; i++) {
		ids[i] = mru_find(p, row->t[i].field, row->t[i].bytes, row->t[i].len);
		if (ids[i] != UINT32_MAX)
			continue;
		hs[i] = term_hash(p, row->t[i].field, row->t[i].bytes, row->t[i].len);
		if (p->nslots)
			__builtin_prefetch(&p->slots[hs[i] & (p->nslots - 1)]);
	}
	for (size_t i = 0; i < row->nterms; i++) {
		uint8_t f = row->t[i].field, len = row->t[i].len;
		const void *b = row->t[i].bytes;
		uint32_t id = ids[i];
		size_t j;
		int vc;

		if (id == UINT32_MAX) {
			uint32_t h = hs[i];

			id = term_find(p, f, b, len, h);
			if (id == UINT32_MAX) {
				id = term_add(p, f, b, len, h);
				if (id == UINT32_MAX)
					goto nomem;
			}
			mru_put(p, f, id);
		}
		for (j = 0; j < nt && touched[j] != id; j++)
			;
		if (j < nt)
			continue;	/* the same term twice in one row */
		if (!term_push(ps_term(p, id), rel))
			goto nomem;
		touched[nt++] = id;
		fields[f] = 1;
		vc = ps_valcol(f);
		if (vc >= 0 && !val[vc])
			val[vc] = id + 1;
	}
	for (int f = 1; f < PF_FIELDS; f++)
		if (fields[f])
			roaring_bitmap_add(p->any[f], rel);
	for (int c = 0; c < 2; c++) {
		int has = c ? row->has_received : row->has_time;
		int64_t v = c ? row->received_us : row->time_us;

		p->col[c][rel] = has ? v : 0;
		if (!has)
			continue;
		roaring_bitmap_add(p->has[c], rel);
		if (!p->bounds[c] || v < p->lo[c])
			p->lo[c] = v;
		if (!p->bounds[c] || v > p->hi[c])
			p->hi[c] = v;
		p->bounds[c] = 1;
	}
	memcpy(p->val + 3 * (size_t)rel, val, sizeof(val));
	p->count++;
	return LS_OK;
nomem:
	while (nt)
		term_pop(ps_term(p, touched[--nt]));
	return ls_err_set(err, LS_NOMEM, "postings: out of memory");
}

/* The rels of a building term as a new bitmap. */
static roaring_bitmap_t *term_bitmap(const struct pterm *t)
{
	if (t->n > PS_ARR_MAX)
		return roaring_bitmap_copy(t->u.bm);
	return roaring_bitmap_of_ptr(t->n, t->n > PS_INLINE ? t->u.arr : t->u.inl);
}

static int term_or(roaring_bitmap_t *bm, const struct pterm *t)
{
	if (t->n > PS_ARR_MAX)
		roaring_bitmap_or_inplace(bm, t->u.bm);
	else
		roaring_bitmap_add_many(bm, t->n, t->n > PS_INLINE ? t->u.arr : t->u.inl);
	return 1;
}

/* ------------------------------------------------------------------ */
/* decoded dictionaries */

/* Entry at dictionary offset *pos (absolute) of field d: its term and set;
 * advances *pos and *setpos.  0 when the bytes are not an entry. */
static int dentry(const struct postings *p, const struct pdfield *d, size_t *pos, size_t *setpos,
		  const uint8_t **key, size_t *klen, int *kind, size_t *set, size_t *slen)
{
	size_t end = d->dict + d->dict_len, k;
	uint32_t w;

	if (*pos >= end || end - *pos < 1u + p->buf[*pos])
		return 0;
	*klen = p->buf[*pos];
	*key = p->buf + *pos + 1;
	*pos += 1 + *klen;
	k = ps_get_varint(p->buf + *pos, end - *pos, &w);
	if (!k)
		return 0;
	*pos += k;
	*kind = (int)(w & 1);
	*slen = w >> 1;
	*set = *setpos;
	if (*set < d->sets || *set > d->sets + d->sets_len ||
	    *slen > d->sets + d->sets_len - *set)
		return 0;
	*setpos += *slen;
	return 1;
}

/* Index of the last restart point whose first term sorts before
 * (strict = 1) or not after (strict = 0) the key; 0 when none. */
static uint32_t restart_find(const struct postings *p, const struct pdfield *d, const uint8_t *key,
			     size_t len, int strict)
{
	uint32_t lo = 0, hi = (d->nterms + PS_RESTART - 1) / PS_RESTART;

	/* invariant: restart lo qualifies or lo == 0; hi does not */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		size_t off = d->dict + ps_get32(p->buf + d->restart + 8 * (size_t)mid);
		int c;

		if (off >= d->dict + d->dict_len || d->dict + d->dict_len - off < 1u + p->buf[off])
			return lo;
		c = ps_cmp(p->buf + off + 1, p->buf[off], key, len);
		if (strict ? c < 0 : c <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* A view's set at s[0..len) as the lookup is about to read it: 1 when it
 * is a good set of kind (postings_int.h: the bytes may have changed since
 * the open), else 0 and p marked bad. */
static int view_set_ok(const struct postings *p, int kind, const uint8_t *s, size_t len,
		       int nonempty)
{
	size_t bad;

	if (!p->view || !ps_set_check(kind, s, len, p->count, nonempty, &bad))
		return 1;
	__atomic_store_n(&((struct postings *)p)->bad, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Walk field d from the restart point before key: calls fn on every
 * entry that matches (exact: equal to key; else: starts with key). */
static int dict_scan(const struct postings *p, const struct pdfield *d, const uint8_t *key,
		     size_t len, int exact, roaring_bitmap_t *bm)
{
	uint32_t r, i;
	size_t pos, setpos, set, slen, klen;
	const uint8_t *k;
	int kind;

	if (!d->nterms)
		return 1;
	r = restart_find(p, d, key, len, !exact);
	pos = d->dict + ps_get32(p->buf + d->restart + 8 * (size_t)r);
	setpos = d->sets + ps_get32(p->buf + d->restart + 8 * (size_t)r + 4);
	for (i = r * PS_RESTART; i < d->nterms; i++) {
		int c;

		if (!dentry(p, d, &pos, &setpos, &k, &klen, &kind, &set, &slen))
			return 1;
		if (exact) {
			c = ps_cmp(k, klen, key, len);
			if (c < 0)
				continue;
			if (c == 0 && view_set_ok(p, kind, p->buf + set, slen, 1) &&
			    !ps_set_or(bm, kind, p->buf + set, slen))
				return 0;
			return 1;
		}
		if (klen >= len && !memcmp(k, key, len)) {
			if (view_set_ok(p, kind, p->buf + set, slen, 1) &&
			    !ps_set_or(bm, kind, p->buf + set, slen))
				return 0;
		} else if (ps_cmp(k, klen, key, len) > 0) {
			return 1;
		}
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* lookups */

static int field_ok(uint8_t field)
{
	return field >= 1 && field < PF_FIELDS;
}

struct pset *postings_get(const struct postings *p, uint8_t field, const void *term, size_t len)
{
	roaring_bitmap_t *bm;
	uint32_t id;

	if (!field_ok(field) || !len || len > PF_TERM_MAX)
		return pset_new();
	if (!p->buf) {
		id = term_find(p, field, term, len, term_hash(p, field, term, len));
		if (id == UINT32_MAX || !ps_term(p, id)->n)
			return pset_new();
		return ps_wrap(term_bitmap(ps_term(p, id)));
	}
	bm = roaring_bitmap_create();
	if (bm && !dict_scan(p, &p->f[field], term, len, 1, bm)) {
		roaring_bitmap_free(bm);
		return NULL;
	}
	return ps_wrap(bm);
}

struct pset *postings_prefix(const struct postings *p, uint8_t field, const void *prefix,
			     size_t len)
{
	roaring_bitmap_t *bm;

	if (!field_ok(field) || len > PF_TERM_MAX)
		return pset_new();
	if (!len)
		return postings_any(p, field);
	bm = roaring_bitmap_create();
	if (!bm)
		return NULL;
	if (!p->buf) {
		for (uint32_t i = 0; i < p->fn[field]; i++) {
			const struct pterm *t = ps_term(p, p->fterms[field][i]);
			const uint8_t *k = ps_key(p, t->off);

			if (t->n && k[1] >= len && !memcmp(k + 2, prefix, len))
				term_or(bm, t);
		}
	} else if (!dict_scan(p, &p->f[field], prefix, len, 0, bm)) {
		roaring_bitmap_free(bm);
		return NULL;
	}
	return ps_wrap(bm);
}

struct pset *postings_any(const struct postings *p, uint8_t field)
{
	const struct pdfield *d;

	if (!field_ok(field))
		return pset_new();
	if (!p->buf)
		return ps_wrap(roaring_bitmap_copy(p->any[field]));
	d = &p->f[field];
	if (!d->any_len || !view_set_ok(p, p->buf[d->any], p->buf + d->any + 1, d->any_len - 1, 0))
		return pset_new();
	return ps_wrap(ps_set_bitmap(p->buf[d->any], p->buf + d->any + 1, d->any_len - 1));
}

int64_t ps_col_get(const struct postings *p, int c, uint32_t rel)
{
	const struct pdcol *d = &p->c[c];
	uint32_t b = rel / PS_TBLOCK;
	const uint8_t *dir = p->buf + d->dir + 9 * (size_t)b;
	unsigned w = dir[8];
	uint64_t base = ps_get64(dir);
	size_t n = 16 * (size_t)w;

	if (w > 64)
		return 0;
	/* A view's width may have changed since data[] was set: stay in buf. */
	if (d->data[b] >= p->len)
		return 0;
	if (n > p->len - d->data[b])
		n = p->len - d->data[b];
	return (int64_t)(base + ps_get_bits(p->buf + d->data[b], n,
					  (uint64_t)(rel % PS_TBLOCK) * w, w));
}

static int64_t column(const struct postings *p, int c, uint32_t rel, int *has)
{
	if (rel >= p->count || !roaring_bitmap_contains(p->has[c], rel)) {
		*has = 0;
		return 0;
	}
	*has = 1;
	return p->buf ? ps_col_get(p, c, rel) : p->col[c][rel];
}

int64_t postings_time(const struct postings *p, uint32_t rel, int *has)
{
	return column(p, 0, rel, has);
}

int64_t postings_received(const struct postings *p, uint32_t rel, int *has)
{
	return column(p, 1, rel, has);
}

void postings_time_bounds(const struct postings *p, int received, int64_t *lo, int64_t *hi,
			  int *has)
{
	int c = received ? 1 : 0;

	if (p->buf) {
		*has = p->c[c].any;
		*lo = p->c[c].any ? p->c[c].lo : 0;
		*hi = p->c[c].any ? p->c[c].hi : 0;
		return;
	}
	*has = p->bounds[c];
	*lo = p->bounds[c] ? p->lo[c] : 0;
	*hi = p->bounds[c] ? p->hi[c] : 0;
}

const char *postings_value(const struct postings *p, uint32_t rel, uint8_t field, size_t *len)
{
	int vc = ps_valcol(field);
	uint64_t k;
	const struct pdfield *d;
	size_t off, n;

	*len = 0;
	if (vc < 0 || rel >= p->count)
		return NULL;
	if (!p->buf) {
		uint32_t id1 = p->val[3 * (size_t)rel + (size_t)vc];
		const uint8_t *t;

		if (!id1)
			return NULL;
		t = term_key(p, id1 - 1);
		*len = t[1];
		return (const char *)t + 2;
	}
	d = &p->f[field];
	n = ((size_t)p->count * p->valw[vc] + 7) / 8;
	k = ps_get_bits(p->buf + p->valsec[vc] + 1, n, (uint64_t)rel * p->valw[vc], p->valw[vc]);
	if (!k || k > d->nterms || !d->entry)
		return NULL;
	off = d->entry[k - 1];
	if (off >= d->dict + d->dict_len || p->buf[off] > d->dict + d->dict_len - off - 1 ||
	    !p->buf[off])
		return NULL;
	*len = p->buf[off];
	return (const char *)p->buf + off + 1;
}

size_t postings_memory(const struct postings *p)
{
	size_t m = sizeof(*p);

	if (p->buf) {
		m += p->view ? 0 : p->len;
		for (int f = 1; f < PF_FIELDS; f++)
			if (p->f[f].entry)
				m += p->f[f].nterms * sizeof(uint32_t);
		for (int c = 0; c < 2; c++)
			m += ((size_t)p->count + PS_TBLOCK - 1) / PS_TBLOCK * sizeof(uint32_t) +
			     roaring_bitmap_size_in_bytes(p->has[c]);
		return m;
	}
	m += (size_t)p->nchunks * PS_CHUNK + (size_t)p->chunks_cap * sizeof(*p->chunk) +
	     (size_t)p->ntchunks * PS_TCHUNK * sizeof(struct pterm) +
	     (size_t)p->tchunks_cap * sizeof(*p->tchunk) +
	     (size_t)p->nslots * sizeof(struct pslot);
	for (uint32_t i = 0; i < p->nterms; i++) {
		const struct pterm *t = ps_term(p, i);

		if (t->n > PS_ARR_MAX)
			m += roaring_bitmap_size_in_bytes(t->u.bm) + 64;
		else if (t->n > PS_INLINE)
			m += arr_cap(t->n) * sizeof(uint32_t) + 16;
	}
	for (int f = 1; f < PF_FIELDS; f++)
		m += p->fcap[f] * sizeof(uint32_t) + roaring_bitmap_size_in_bytes(p->any[f]) + 64;
	for (int c = 0; c < 2; c++)
		m += roaring_bitmap_size_in_bytes(p->has[c]) + 64;
	m += (size_t)p->rows_cap * (2 * sizeof(int64_t) + 3 * sizeof(uint32_t));
	return m;
}
