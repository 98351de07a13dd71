/*
 * postings_codec.c - postings_encode() and postings_decode(): the blob of
 * docs/FORMAT.md section 12 ("Postings files"), summarised:
 *
 *   header      "LSPOST02", first (u64), count (u32), total length (u32),
 *               47 sections as (offset u32, length u32), terms per field
 *               (10 x u32), time bounds (flags u32, then lo, hi of the
 *               time and of the received time, 4 x i64); big-endian like
 *               the rest of the project
 *   sections    contiguous from byte PS_HEAD, in section order:
 *               per field 1..10: DICT, RESTART, SETS, ANY;
 *               then HAS time, COL time, HAS received, COL received,
 *               VAL action, VAL outcome, VAL service
 *   checksum    CRC-32 (zlib's) of every byte before it, u32
 *
 * Decoding copies the blob and checks every byte's meaning before the
 * first lookup (postings.h invariant 2); the checksum is checked last, so
 * an error names where the structure first breaks when it does.  A view
 * (postings_view()) runs the same code on the caller's bytes, every check
 * or (light) the fixed parts only: the rest is checked at use (postings.c).
 */
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "core/postings_int.h"

/* ------------------------------------------------------------------ */
/* encode */

struct obuf {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

static uint8_t *ob_room(struct obuf *o, size_t n)
{
	if (o->oom)
		return NULL;
	if (n > o->cap - o->len) {
		size_t nc = o->cap ? o->cap : 256;
		uint8_t *np;

		while (nc - o->len < n)
			nc *= 2;
		np = realloc(o->p, nc);
		if (!np) {
			o->oom = 1;
			return NULL;
		}
		o->p = np;
		o->cap = nc;
	}
	return o->p + o->len;
}

static void ob_put(struct obuf *o, const void *b, size_t n)
{
	uint8_t *d = n ? ob_room(o, n) : NULL;

	if (d) {
		memcpy(d, b, n);
		o->len += n;
	}
}

static void ob_u8(struct obuf *o, uint8_t v)
{
	ob_put(o, &v, 1);
}

static void ob_u32(struct obuf *o, uint32_t v)
{
	uint8_t b[4];

	ps_put32(b, v);
	ob_put(o, b, 4);
}

static void ob_varint(struct obuf *o, uint32_t v)
{
	uint8_t *d = ob_room(o, 5);

	if (d)
		o->len += ps_put_varint(d, v);
}

/* One of the two encodings of v[0..n) (ascending) into o; returns the
 * kind.  Roaring when it is at most 1/4 larger than delta, or at most
 * twice as large for 256 rels and more: a roaring set decodes by copying
 * containers, a delta set one rel at a time (100x slower on a dense set,
 * bench_postings), and the sets that gain are the dense ones, a small part
 * of a blob.  Tried from 8 rels up (below, delta is always far smaller). */
static int put_set(struct obuf *o, const uint32_t *v, size_t n)
{
	size_t dsize = ps_delta_size(v, n);
	uint8_t *d;

	if (n >= 8) {
		roaring_bitmap_t *bm = roaring_bitmap_of_ptr(n, v);
		size_t rsize;

		if (!bm) {
			o->oom = 1;
			return PS_DELTA;
		}
		roaring_bitmap_run_optimize(bm);
		rsize = roaring_bitmap_portable_size_in_bytes(bm);
		if (rsize <= dsize + dsize / 4 || (n >= 256 && rsize <= 2 * dsize)) {
			d = ob_room(o, rsize);
			if (d)
				o->len += roaring_bitmap_portable_serialize(bm, (char *)d);
			roaring_bitmap_free(bm);
			return PS_ROARING;
		}
		roaring_bitmap_free(bm);
	}
	d = ob_room(o, dsize);
	if (d)
		o->len += ps_delta_put(d, v, n);
	return PS_DELTA;
}

/* A bitmap as kind byte + set. */
static void put_bitmap(struct obuf *o, const roaring_bitmap_t *bm, uint32_t *tmp)
{
	size_t n = roaring_bitmap_get_cardinality(bm), at;

	roaring_bitmap_to_uint32_array(bm, tmp);
	at = o->len;
	ob_u8(o, 0);
	if (o->oom)
		return;
	o->p[at] = (uint8_t)put_set(o, tmp, n);
}

static const uint32_t *term_rels(const struct pterm *t, uint32_t *tmp)
{
	if (t->n > PS_ARR_MAX) {
		roaring_bitmap_to_uint32_array(t->u.bm, tmp);
		return tmp;
	}
	return t->n > PS_INLINE ? t->u.arr : t->u.inl;
}

/* A term to sort: its first 8 bytes big-endian (zero-padded) decide
 * almost every comparison without touching the arena. */
struct skey {
	uint64_t pre;
	uint32_t id;
};

static int skey_cmp(const void *a, const void *b, void *ctx)
{
	const struct skey *x = a, *y = b;
	const struct postings *p = ctx;
	const uint8_t *s, *t;

	if (x->pre != y->pre)
		return x->pre < y->pre ? -1 : 1;
	s = ps_key(p, ps_term(p, x->id)->off);
	t = ps_key(p, ps_term(p, y->id)->off);
	return ps_cmp(s + 2, s[1], t + 2, t[1]);
}

/*
 * Sort terms: LSD radix sort on the 8-byte prefix (a pass is skipped when
 * every key has the same byte there: short plaintext terms), then the runs
 * of equal prefixes by the whole term.  tmp: room for n keys.
 */
static void sort_terms(struct skey *k, struct skey *tmp, uint32_t n, const struct postings *p)
{
	struct skey *src = k, *dst = tmp, *sw;
	uint32_t cnt[256];

	for (int pass = 0; pass < 8; pass++) {
		int sh = 8 * pass;
		uint32_t sum = 0;

		memset(cnt, 0, sizeof(cnt));
		for (uint32_t i = 0; i < n; i++)
			cnt[src[i].pre >> sh & 255]++;
		if (n && cnt[src[0].pre >> sh & 255] == n)
			continue;
		for (int b = 0; b < 256; b++) {
			uint32_t c = cnt[b];

			cnt[b] = sum;
			sum += c;
		}
		for (uint32_t i = 0; i < n; i++)
			dst[cnt[src[i].pre >> sh & 255]++] = src[i];
		sw = src;
		src = dst;
		dst = sw;
	}
	if (src != k)
		memcpy(k, src, (size_t)n * sizeof(*k));
	for (uint32_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && k[j].pre == k[i].pre; j++)
			;
		if (j - i > 1)
			qsort_r(k + i, j - i, sizeof(*k), skey_cmp, (void *)p);
	}
}

static uint64_t prefix8(const uint8_t *k)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (i < k[1] ? k[2 + i] : 0);
	return v;
}

static unsigned bits_for(uint64_t v)
{
	return v ? 64 - (unsigned)__builtin_clzll(v) : 0;
}

static void put_bits(uint8_t *b, uint64_t bit, unsigned w, uint64_t v)
{
	for (unsigned i = 0; i < w; i++, bit++)
		if (v >> i & 1)
			b[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* A time column: per block of PS_TBLOCK rels (base i64, width u8), then
 * each block's offsets from base in width bits. */
static void put_column(struct obuf *o, const struct postings *p, int c)
{
	uint32_t nb = (p->count + PS_TBLOCK - 1) / PS_TBLOCK;
	size_t dir = o->len;
	uint8_t *d;

	d = ob_room(o, (size_t)nb * 9);
	if (!d)
		return;
	memset(d, 0, (size_t)nb * 9);
	o->len += (size_t)nb * 9;
	for (uint32_t b = 0; b < nb; b++) {
		uint32_t r0 = b * PS_TBLOCK, r1 = r0 + PS_TBLOCK < p->count ? r0 + PS_TBLOCK : p->count;
		int64_t base = 0;
		uint64_t span = 0;
		int any = 0;
		unsigned w;

		for (uint32_t r = r0; r < r1; r++)
			if (roaring_bitmap_contains(p->has[c], r) && (!any || p->col[c][r] < base)) {
				base = p->col[c][r];
				any = 1;
			}
		for (uint32_t r = r0; r < r1; r++)
			if (roaring_bitmap_contains(p->has[c], r) &&
			    (uint64_t)p->col[c][r] - (uint64_t)base > span)
				span = (uint64_t)p->col[c][r] - (uint64_t)base;
		w = bits_for(span);
		d = ob_room(o, 16 * (size_t)w);
		if (!d)
			return;
		memset(d, 0, 16 * (size_t)w);
		for (uint32_t r = r0; r < r1; r++)
			if (roaring_bitmap_contains(p->has[c], r))
				put_bits(d, (uint64_t)(r - r0) * w, w,
					 (uint64_t)p->col[c][r] - (uint64_t)base);
		o->len += 16 * (size_t)w;
		ps_put64(o->p + dir + 9 * (size_t)b, (uint64_t)base);
		o->p[dir + 9 * (size_t)b + 8] = (uint8_t)w;
	}
}

/* Copy of a decoded blob: it is already the encoding. */
static ls_rc encode_copy(const struct postings *p, uint8_t **out, size_t *len,
			 struct ls_err *err)
{
	*out = malloc(p->len);
	if (!*out)
		return ls_err_set(err, LS_NOMEM, "postings: out of memory");
	memcpy(*out, p->buf, p->len);
	*len = p->len;
	return LS_OK;
}

ls_rc postings_encode(const struct postings *p, uint8_t **out, size_t *len, struct ls_err *err)
{
	struct obuf o = {0};
	uint32_t *tmp = NULL, *rank = NULL, nf[PF_FIELDS] = {0}, maxf = 0;
	struct skey *order[PF_FIELDS] = {0}, *stmp = NULL;
	size_t sect[PS_NSECT + 1];
	int s = 0;
	ls_rc rc = LS_NOMEM;

	*out = NULL;
	*len = 0;
	if (p->buf)
		return encode_copy(p, out, len, err);
	tmp = malloc(((size_t)p->count + 1) * sizeof(*tmp));
	rank = malloc(((size_t)p->nterms + 1) * sizeof(*rank));
	for (int f = 1; f < PF_FIELDS; f++)
		maxf = p->fn[f] > maxf ? p->fn[f] : maxf;
	stmp = malloc(((size_t)maxf + 1) * sizeof(*stmp));
	if (!tmp || !rank || !stmp)
		goto done;
	/* each field's live terms in term order; rank: a term's index there */
	for (int f = 1; f < PF_FIELDS; f++) {
		order[f] = malloc(((size_t)p->fn[f] + 1) * sizeof(struct skey));
		if (!order[f])
			goto done;
		for (uint32_t i = 0; i < p->fn[f]; i++) {
			const struct pterm *t = ps_term(p, p->fterms[f][i]);

			if (t->n)
				order[f][nf[f]++] = (struct skey){prefix8(ps_key(p, t->off)),
								  p->fterms[f][i]};
		}
		sort_terms(order[f], stmp, nf[f], p);
		if (ps_valcol((uint8_t)f) >= 0)
			for (uint32_t i = 0; i < nf[f]; i++)
				rank[order[f][i].id] = i;
	}
	if (!ob_room(&o, PS_HEAD))
		goto done;
	memset(o.p, 0, PS_HEAD);
	o.len = PS_HEAD;
	for (int f = 1; f < PF_FIELDS; f++) {
		struct obuf sets = {0};
		struct obuf rs = {0};	/* the restart points, written after DICT */
		size_t dict0 = o.len;

		sect[s++] = o.len;
		{

			for (uint32_t i = 0; i < nf[f]; i++) {
				const struct pterm *t = ps_term(p, order[f][i].id);
				const uint8_t *k = ps_key(p, t->off);

				/* terms in sorted order are all over memory: fetch ahead */
				if (i + 16 < nf[f])
					__builtin_prefetch(ps_term(p, order[f][i + 16].id));
				if (i + 8 < nf[f])
					__builtin_prefetch(
						ps_key(p, ps_term(p, order[f][i + 8].id)->off));
				size_t at = sets.len;
				int kind;

				if (i % PS_RESTART == 0) {
					ob_u32(&rs, (uint32_t)(o.len - dict0));
					ob_u32(&rs, (uint32_t)sets.len);
				}
				kind = put_set(&sets, term_rels(t, tmp), t->n);
				ob_u8(&o, k[1]);
				ob_put(&o, k + 2, k[1]);
				ob_varint(&o, (uint32_t)((sets.len - at) << 1 | (size_t)kind));
			}
			sect[s++] = o.len;
			ob_put(&o, rs.p, rs.len);
			o.oom |= rs.oom;
			free(rs.p);
		}
		sect[s++] = o.len;
		ob_put(&o, sets.p, sets.len);
		o.oom |= sets.oom;
		free(sets.p);
		sect[s++] = o.len;
		put_bitmap(&o, p->any[f], tmp);
	}
	for (int c = 0; c < 2; c++) {
		sect[s++] = o.len;
		put_bitmap(&o, p->has[c], tmp);
		sect[s++] = o.len;
		put_column(&o, p, c);
	}
	for (int v = 0; v < 3; v++) {
		uint8_t f = v == 0 ? PF_ACTION : v == 1 ? PF_OUTCOME : PF_SERVICE;
		unsigned w = bits_for(nf[f]);
		size_t nbytes = ((size_t)p->count * w + 7) / 8;
		uint8_t *d;

		sect[s++] = o.len;
		ob_u8(&o, (uint8_t)w);
		d = ob_room(&o, nbytes);
		if (!d)
			goto done;
		memset(d, 0, nbytes);
		for (uint32_t r = 0; r < p->count; r++) {
			uint32_t id1 = p->val[3 * (size_t)r + (size_t)v];

			if (id1)
				put_bits(d, (uint64_t)r * w, w, rank[id1 - 1] + 1);
		}
		o.len += nbytes;
	}
	sect[s] = o.len;
	if (o.oom || !ob_room(&o, 4))
		goto done;
	if (o.len + 4 > UINT32_MAX) {
		rc = ls_err_set(err, LS_LIMIT, "postings: blob over 4 GiB");
		goto out;
	}
	memcpy(o.p, PS_MAGIC, 8);
	ps_put64(o.p + 8, p->first);
	ps_put32(o.p + 16, p->count);
	ps_put32(o.p + 20, (uint32_t)(o.len + 4));
	for (int i = 0; i < PS_NSECT; i++) {
		ps_put32(o.p + 24 + 8 * i, (uint32_t)sect[i]);
		ps_put32(o.p + 28 + 8 * i, (uint32_t)(sect[i + 1] - sect[i]));
	}
	for (int f = 1; f < PF_FIELDS; f++)
		ps_put32(o.p + 24 + 8 * PS_NSECT + 4 * (f - 1), nf[f]);
	ps_put32(o.p + PS_BOUNDS, (uint32_t)((p->bounds[0] ? 1 : 0) | (p->bounds[1] ? 2 : 0)));
	for (int c = 0; c < 2; c++) {
		ps_put64(o.p + PS_BOUNDS + 4 + 16 * c, p->bounds[c] ? (uint64_t)p->lo[c] : 0);
		ps_put64(o.p + PS_BOUNDS + 12 + 16 * c, p->bounds[c] ? (uint64_t)p->hi[c] : 0);
	}
	ps_put32(o.p + o.len, (uint32_t)libdeflate_crc32(0, o.p, o.len));
	o.len += 4;
	*out = o.p;
	*len = o.len;
	o.p = NULL;
	rc = LS_OK;
	goto out;
done:
	rc = ls_err_set(err, LS_NOMEM, "postings: out of memory");
out:
	free(o.p);
	free(tmp);
	free(rank);
	free(stmp);
	for (int f = 1; f < PF_FIELDS; f++)
		free(order[f]);
	return rc;
}

/* ------------------------------------------------------------------ */
/* decode */

#define BAD(at, what)                                                                  \
	do {                                                                           \
		rc = ls_err_set(err, LS_CORRUPT, "postings offset %zu: %s", (size_t)(at), \
				(what));                                               \
		goto fail;                                                             \
	} while (0)

/* A section that is a kind byte and a set. */
static const char *check_kset(const struct postings *p, size_t off, size_t len, size_t *bad)
{
	const char *why;

	if (!len) {
		*bad = off;
		return "empty set section";
	}
	why = ps_set_check(p->buf[off], p->buf + off + 1, len - 1, p->count, 0, bad);
	if (why)
		*bad = p->buf[off] > PS_ROARING ? off : *bad + off + 1;
	return why;
}

static ls_rc decode_field(struct postings *p, int f, const size_t *so, const size_t *sl,
			  int light, struct ls_err *err)
{
	struct pdfield *d = &p->f[f];
	size_t pos, setpos, end, bad, prev = 0, prevlen = 0;
	uint32_t nr, i;
	const char *why;
	ls_rc rc = LS_OK;

	d->dict = so[PS_S_DICT(f)];
	d->dict_len = sl[PS_S_DICT(f)];
	d->restart = so[PS_S_RESTART(f)];
	d->sets = so[PS_S_SETS(f)];
	d->sets_len = sl[PS_S_SETS(f)];
	d->any = so[PS_S_ANY(f)];
	d->any_len = sl[PS_S_ANY(f)];
	d->nterms = ps_get32(p->buf + 24 + 8 * PS_NSECT + 4 * (f - 1));
	if (d->nterms > d->dict_len / 3)
		BAD(24 + 8 * PS_NSECT + 4 * (f - 1), "more terms than the dictionary holds");
	nr = (d->nterms + PS_RESTART - 1) / PS_RESTART;
	if (sl[PS_S_RESTART(f)] != (size_t)nr * 8)
		BAD(28 + 8 * PS_S_RESTART(f), "restart section of the wrong length");
	if (ps_valcol((uint8_t)f) >= 0 && d->nterms) {
		d->entry = malloc(d->nterms * sizeof(uint32_t));
		if (!d->entry)
			return ls_err_set(err, LS_NOMEM, "postings: out of memory");
	} else if (light) {
		return LS_OK;	/* read and checked at use */
	}
	pos = d->dict;
	setpos = d->sets;
	end = d->dict + d->dict_len;
	for (i = 0; i < d->nterms; i++) {
		size_t klen, k;
		uint32_t w, slen;
		int kind;

		if (i % PS_RESTART == 0 && !light) {
			size_t r = d->restart + 8 * (size_t)(i / PS_RESTART);

			if (ps_get32(p->buf + r) != pos - d->dict)
				BAD(r, "restart point off its entry");
			if (ps_get32(p->buf + r + 4) != setpos - d->sets)
				BAD(r + 4, "restart point off its set");
		}
		if (pos >= end)
			BAD(pos, "dictionary ends early");
		klen = p->buf[pos];
		if (!klen || end - pos < 1 + klen)
			BAD(pos, "bad term length");
		if (i && !light && ps_cmp(p->buf + prev + 1, prevlen, p->buf + pos + 1, klen) >= 0)
			BAD(pos, "terms out of order");
		if (d->entry)
			d->entry[i] = (uint32_t)pos;
		prev = pos;
		prevlen = klen;
		pos += 1 + klen;
		k = ps_get_varint(p->buf + pos, end - pos, &w);
		if (!k)
			BAD(pos, "bad set word");
		kind = (int)(w & 1);
		slen = w >> 1;
		if (slen > d->sets + d->sets_len - setpos)
			BAD(pos, "set beyond its section");
		why = light ? NULL : ps_set_check(kind, p->buf + setpos, slen, p->count, 1, &bad);
		if (why)
			BAD(setpos + bad, why);
		pos += k;
		setpos += slen;
	}
	if (pos != end)
		BAD(pos, "bytes after the dictionary");
	if (setpos != d->sets + d->sets_len)
		BAD(setpos, "bytes after the sets");
	why = light ? NULL : check_kset(p, d->any, d->any_len, &bad);
	if (why)
		BAD(bad, why);
	return LS_OK;
fail:
	return rc;
}

static ls_rc decode_column(struct postings *p, int c, const size_t *so, const size_t *sl,
			   int light, struct ls_err *err)
{
	struct pdcol *d = &p->c[c];
	size_t off = so[PS_S_COL(c)], len = sl[PS_S_COL(c)], pos, bad;
	uint32_t nb = (p->count + PS_TBLOCK - 1) / PS_TBLOCK;
	roaring_uint32_iterator_t it;
	const char *why;
	ls_rc rc = LS_OK;

	d->has = so[PS_S_HAS(c)];
	d->has_len = sl[PS_S_HAS(c)];
	why = check_kset(p, d->has, d->has_len, &bad);
	if (why)
		BAD(bad, why);
	p->has[c] = ps_set_bitmap(p->buf[d->has], p->buf + d->has + 1, d->has_len - 1);
	if (!p->has[c])
		return ls_err_set(err, LS_NOMEM, "postings: out of memory");
	d->dir = off;
	if ((size_t)nb * 9 > len)
		BAD(off + len, "column directory beyond its section");
	d->data = malloc(((size_t)nb + 1) * sizeof(uint32_t));
	if (!d->data)
		return ls_err_set(err, LS_NOMEM, "postings: out of memory");
	pos = off + (size_t)nb * 9;
	for (uint32_t b = 0; b < nb; b++) {
		unsigned w = p->buf[off + 9 * (size_t)b + 8];

		if (w > 64)
			BAD(off + 9 * (size_t)b + 8, "column width over 64");
		d->data[b] = (uint32_t)pos;
		if (16 * (size_t)w > off + len - pos)
			BAD(off + 9 * (size_t)b + 8, "column block beyond its section");
		pos += 16 * (size_t)w;
	}
	if (pos != off + len)
		BAD(pos, "bytes after the column");
	{
		uint32_t fl = ps_get32(p->buf + PS_BOUNDS);

		if (fl > 3)
			BAD(PS_BOUNDS, "bad time bounds flags");
		if (light) {
			d->any = (int)(fl >> c & 1);
			d->lo = d->any ? (int64_t)ps_get64(p->buf + PS_BOUNDS + 4 + 16 * c) : 0;
			d->hi = d->any ? (int64_t)ps_get64(p->buf + PS_BOUNDS + 12 + 16 * c) : 0;
			return LS_OK;
		}
	}
	roaring_init_iterator(p->has[c], &it);
	for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
		int64_t v = ps_col_get(p, c, it.current_value);

		if (!d->any || v < d->lo)
			d->lo = v;
		if (!d->any || v > d->hi)
			d->hi = v;
		d->any = 1;
	}
	if ((int)(ps_get32(p->buf + PS_BOUNDS) >> c & 1) != d->any ||
	    (d->any && ((int64_t)ps_get64(p->buf + PS_BOUNDS + 4 + 16 * c) != d->lo ||
			(int64_t)ps_get64(p->buf + PS_BOUNDS + 12 + 16 * c) != d->hi)) ||
	    (!d->any && (ps_get64(p->buf + PS_BOUNDS + 4 + 16 * c) ||
			 ps_get64(p->buf + PS_BOUNDS + 12 + 16 * c))))
		BAD(PS_BOUNDS + 4 + 16 * c, "time bounds differ from the column");
	return LS_OK;
fail:
	return rc;
}

static ls_rc decode_values(struct postings *p, int v, const size_t *so, const size_t *sl,
			   int light, struct ls_err *err)
{
	uint8_t f = v == 0 ? PF_ACTION : v == 1 ? PF_OUTCOME : PF_SERVICE;
	size_t off = so[PS_S_VAL(v)], len = sl[PS_S_VAL(v)], n;
	uint32_t nt = p->f[f].nterms;
	unsigned w;
	ls_rc rc = LS_OK;

	if (!len)
		BAD(off, "empty value column");
	w = p->buf[off];
	if (w != bits_for(nt))
		BAD(off, "value column of the wrong width");
	n = ((size_t)p->count * w + 7) / 8;
	if (len != 1 + n)
		BAD(off, "value column of the wrong length");
	p->valsec[v] = off;
	p->valw[v] = (uint8_t)w;
	for (uint32_t r = 0; w && !light && r < p->count; r++)
		if (ps_get_bits(p->buf + off + 1, n, (uint64_t)r * w, w) > nt)
			BAD(off + 1 + (uint64_t)r * w / 8, "value beyond the dictionary");
	return LS_OK;
fail:
	return rc;
}

/* Decode buf, which p owns from here on (freed with p on failure), or
 * view it (view: buf stays the caller's; light: the fixed parts only). */
static ls_rc decode_any(uint8_t *buf, size_t len, int view, int light, struct postings **out,
			struct ls_err *err)
{
	struct postings *p;
	uint8_t *own = view ? NULL : buf;	/* freed on the early failures */
	size_t so[PS_NSECT], sl[PS_NSECT], pos = PS_HEAD;
	ls_rc rc = LS_OK;

	*out = NULL;
	if (len < PS_HEAD + 4) {
		free(own);
		return ls_err_set(err, LS_CORRUPT, "postings offset %zu: truncated (%zu bytes)", len,
				  len);
	}
	if (memcmp(buf, PS_MAGIC, 8)) {
		free(own);
		return ls_err_set(err, LS_CORRUPT, "postings offset 0: bad magic");
	}
	if (ps_get32(buf + 20) != len) {
		rc = ls_err_set(err, LS_CORRUPT, "postings offset 20: length %u, %zu bytes",
				ps_get32(buf + 20), len);
		free(own);
		return rc;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		free(own);
		return ls_err_set(err, LS_NOMEM, "postings: out of memory");
	}
	p->buf = buf;
	p->view = view;
	p->len = len;
	p->first = ps_get64(buf + 8);
	p->count = ps_get32(buf + 16);
	if (p->count && p->first > UINT64_MAX - p->count)
		BAD(8, "range beyond 2^64");
	for (int i = 0; i < PS_NSECT; i++) {
		so[i] = ps_get32(buf + 24 + 8 * i);
		sl[i] = ps_get32(buf + 28 + 8 * i);
		if (so[i] != pos)
			BAD(24 + 8 * i, "section out of place");
		if (sl[i] > len - 4 - pos)
			BAD(28 + 8 * i, "section beyond the blob");
		pos += sl[i];
	}
	if (pos != len - 4)
		BAD(pos, "bytes after the last section");
	for (int f = 1; f < PF_FIELDS; f++)
		if ((rc = decode_field(p, f, so, sl, light, err)) != LS_OK)
			goto fail;
	for (int c = 0; c < 2; c++)
		if ((rc = decode_column(p, c, so, sl, light, err)) != LS_OK)
			goto fail;
	for (int v = 0; v < 3; v++)
		if ((rc = decode_values(p, v, so, sl, light, err)) != LS_OK)
			goto fail;
	if (!light && ps_get32(buf + len - 4) != (uint32_t)libdeflate_crc32(0, buf, len - 4))
		BAD(len - 4, "checksum mismatch");
	*out = p;
	return LS_OK;
fail:
	postings_free(p);
	return rc;
}

ls_rc postings_decode(const uint8_t *buf, size_t len, struct postings **out, struct ls_err *err)
{
	uint8_t *own;

	*out = NULL;
	if (len < PS_HEAD + 4)
		return decode_any(NULL, len, 0, 0, out, err);	/* the message for a short blob */
	own = malloc(len);
	if (!own)
		return ls_err_set(err, LS_NOMEM, "postings: out of memory");
	memcpy(own, buf, len);
	return decode_any(own, len, 0, 0, out, err);
}

ls_rc postings_decode_owned(uint8_t *buf, size_t len, struct postings **out, struct ls_err *err)
{
	return decode_any(buf, len, 0, 0, out, err);
}

ls_rc postings_view(const uint8_t *buf, size_t len, int full, struct postings **out,
		    struct ls_err *err)
{
	*out = NULL;
	if (len < PS_HEAD + 4)
		return decode_any(NULL, len, 1, 0, out, err);
	return decode_any((uint8_t *)buf, len, 1, !full, out, err);
}

int postings_corrupt(const struct postings *p)
{
	return __atomic_load_n(&p->bad, __ATOMIC_RELAXED);
}
