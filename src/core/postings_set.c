/*
 * postings_set.c - sets of rels (struct pset, a CRoaring bitmap inside) and
 * the two ways a set is written in a postings blob (docs/FORMAT.md 12):
 *
 *   delta (kind 0)    the rels ascending as LEB128 varints: the first as
 *                     it is, each next one as (rel - previous - 1); the
 *                     empty set is zero bytes.
 *   roaring (kind 1)  CRoaring's portable serialisation (the Roaring
 *                     format spec, little-endian, as written by
 *                     roaring_bitmap_portable_serialize()).
 *
 * ps_set_check() parses either encoding itself before CRoaring ever sees
 * the bytes: roaring_bitmap_portable_deserialize_safe() of 0.2.66 checks
 * lengths but not the content of containers (sorted arrays, bitset
 * cardinalities, runs inside 16 bits), and bitmap operations on a bad
 * container write out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "core/postings_int.h"

#define RB_COOKIE_NORUN 12346u
#define RB_COOKIE_RUN 12347u
#define RB_NO_OFFSET 4
#define RB_ARRAY_MAX 4096
#define RB_BITSET 8192

struct pset *ps_wrap(roaring_bitmap_t *bm)
{
	struct pset *s;

	if (!bm)
		return NULL;
	s = malloc(sizeof(*s));
	if (!s) {
		roaring_bitmap_free(bm);
		return NULL;
	}
	s->bm = bm;
	return s;
}

struct pset *pset_new(void)
{
	return ps_wrap(roaring_bitmap_create());
}

void pset_free(struct pset *s)
{
	if (!s)
		return;
	roaring_bitmap_free(s->bm);
	free(s);
}

struct pset *pset_all(uint32_t count)
{
	if (!count)
		return pset_new();
	return ps_wrap(roaring_bitmap_from_range(0, count, 1));
}

void pset_and(struct pset *a, const struct pset *b)
{
	roaring_bitmap_and_inplace(a->bm, b->bm);
}

void pset_or(struct pset *a, const struct pset *b)
{
	roaring_bitmap_or_inplace(a->bm, b->bm);
}

void pset_andnot(struct pset *a, const struct pset *b)
{
	roaring_bitmap_andnot_inplace(a->bm, b->bm);
}

uint64_t pset_count(const struct pset *s)
{
	return roaring_bitmap_get_cardinality(s->bm);
}

/*
 * Ascending: the iterator moved to after + 1, then read in bulk.
 * Descending: moved to the first rel >= after and stepped back once (or
 * started at the last rel when there is none), then walked backwards:
 * O(max + log n) either way.
 */
size_t pset_take(const struct pset *s, int desc, int has_after, uint32_t after, uint32_t *out,
		 size_t max)
{
	roaring_uint32_iterator_t it;
	size_t k = 0;

	if (!max)
		return 0;
	if (!desc) {
		if (has_after && after == UINT32_MAX)
			return 0;
		roaring_init_iterator(s->bm, &it);
		if (has_after)
			roaring_move_uint32_iterator_equalorlarger(&it, after + 1);
		while (k < max && it.has_value) {
			size_t want = max - k > 65536 ? 65536 : max - k;

			k += roaring_read_uint32_iterator(&it, out + k, (uint32_t)want);
		}
		return k;
	}
	if (has_after) {
		if (!after)
			return 0;
		roaring_init_iterator(s->bm, &it);
		if (!roaring_move_uint32_iterator_equalorlarger(&it, after))
			roaring_init_iterator_last(s->bm, &it);
		else
			roaring_previous_uint32_iterator(&it);
	} else {
		roaring_init_iterator_last(s->bm, &it);
	}
	while (k < max && it.has_value) {
		out[k++] = it.current_value;
		roaring_previous_uint32_iterator(&it);
	}
	return k;
}

/* ------------------------------------------------------------------ */
/* delta encoding */

size_t ps_delta_size(const uint32_t *v, size_t n)
{
	size_t sz = 0;

	for (size_t i = 0; i < n; i++)
		sz += ps_varint_len(i ? v[i] - v[i - 1] - 1 : v[0]);
	return sz;
}

size_t ps_delta_put(uint8_t *out, const uint32_t *v, size_t n)
{
	size_t sz = 0;

	for (size_t i = 0; i < n; i++)
		sz += ps_put_varint(out + sz, i ? v[i] - v[i - 1] - 1 : v[0]);
	return sz;
}

static const char *delta_check(const uint8_t *s, size_t len, uint32_t count, int nonempty,
			       size_t *bad)
{
	uint64_t prev = 0;
	size_t pos = 0, k;
	uint32_t d;
	int first = 1;

	if (!len && nonempty) {
		*bad = 0;
		return "empty set";
	}
	while (pos < len) {
		k = ps_get_varint(s + pos, len - pos, &d);
		if (!k) {
			*bad = pos;
			return "bad varint";
		}
		prev = first ? d : prev + 1 + d;
		if (prev >= count) {
			*bad = pos;
			return "rel beyond the range";
		}
		first = 0;
		pos += k;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* roaring portable encoding */

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static const char *roaring_check(const uint8_t *s, size_t len, uint32_t count, int nonempty,
				 size_t *bad)
{
	size_t pos, runbits = 0, head, offs = 0, size;
	uint32_t cookie;
	int hasrun = 0, hasoffs;
	int64_t prevkey = -1;

	*bad = 0;
	if (len < 4)
		return "roaring set too short";
	cookie = le32(s);
	if ((cookie & 0xffff) == RB_COOKIE_RUN) {
		hasrun = 1;
		size = (cookie >> 16) + 1;
		runbits = 4;
		pos = 4 + (size + 7) / 8;
	} else if (cookie == RB_COOKIE_NORUN) {
		if (len < 8)
			return "roaring set too short";
		size = le32(s + 4);
		pos = 8;
		if (size > 65536) {
			*bad = 4;
			return "too many roaring containers";
		}
	} else {
		return "bad roaring cookie";
	}
	hasoffs = !hasrun || size >= RB_NO_OFFSET;
	head = pos;
	pos += size * 4;
	if (hasoffs) {
		offs = pos;
		pos += size * 4;
	}
	if (pos > len) {
		*bad = len;
		return "roaring header beyond the set";
	}
	if (!size && nonempty)
		return "empty set";
	for (size_t i = 0; i < size; i++) {
		uint32_t key = le16(s + head + 4 * i), card = le16(s + head + 4 * i + 2) + 1;
		uint32_t last;

		if ((int64_t)key <= prevkey) {
			*bad = head + 4 * i;
			return "roaring keys out of order";
		}
		prevkey = key;
		if (hasoffs && le32(s + offs + 4 * i) != pos) {
			*bad = offs + 4 * i;
			return "bad roaring container offset";
		}
		if (hasrun && (s[runbits + i / 8] >> (i % 8) & 1)) {
			uint32_t nruns, sum = 0;
			int64_t prevend = -2;

			if (len - pos < 2) {
				*bad = pos;
				return "roaring run container beyond the set";
			}
			nruns = le16(s + pos);
			if (!nruns) {
				*bad = pos;
				return "empty run container";
			}
			if ((len - pos - 2) / 4 < nruns) {
				*bad = pos;
				return "roaring run container beyond the set";
			}
			pos += 2;
			for (uint32_t r = 0; r < nruns; r++, pos += 4) {
				uint32_t start = le16(s + pos), rl = le16(s + pos + 2);

				if ((int64_t)start <= prevend + 1 || start + rl > 0xffff) {
					*bad = pos;
					return "bad roaring run";
				}
				prevend = start + rl;
				sum += rl + 1;
			}
			if (sum != card) {
				*bad = head + 4 * i + 2;
				return "roaring run cardinality mismatch";
			}
			last = (uint32_t)prevend;
		} else if (card > RB_ARRAY_MAX) {
			uint32_t pop = 0;

			if (len - pos < RB_BITSET) {
				*bad = pos;
				return "roaring bitset beyond the set";
			}
			last = 0;
			for (uint32_t w = 0; w < RB_BITSET / 8; w++) {
				uint64_t x = 0;

				for (int b = 7; b >= 0; b--)
					x = x << 8 | s[pos + 8 * w + (uint32_t)b];
				if (x) {
					pop += (uint32_t)__builtin_popcountll(x);
					last = 64 * w + 63 - (uint32_t)__builtin_clzll(x);
				}
			}
			if (pop != card) {
				*bad = head + 4 * i + 2;
				return "roaring bitset cardinality mismatch";
			}
			pos += RB_BITSET;
		} else {
			if ((len - pos) / 2 < card) {
				*bad = pos;
				return "roaring array beyond the set";
			}
			for (uint32_t j = 1; j < card; j++)
				if (le16(s + pos + 2 * j) <= le16(s + pos + 2 * j - 2)) {
					*bad = pos + 2 * j;
					return "roaring array out of order";
				}
			last = le16(s + pos + 2 * (card - 1));
			pos += 2 * card;
		}
		if ((key << 16 | last) >= count) {
			*bad = head + 4 * i;
			return "rel beyond the range";
		}
	}
	if (pos != len) {
		*bad = pos;
		return "bytes after the roaring set";
	}
	return NULL;
}

const char *ps_set_check(int kind, const uint8_t *s, size_t len, uint32_t count, int nonempty,
			 size_t *bad)
{
	if (kind == PS_DELTA)
		return delta_check(s, len, count, nonempty, bad);
	if (kind == PS_ROARING)
		return roaring_check(s, len, count, nonempty, bad);
	*bad = 0;
	return "unknown set kind";
}

/* Decode a delta set in chunks into bm (rels ascending: add_many appends). */
static int delta_or(roaring_bitmap_t *bm, const uint8_t *s, size_t len)
{
	uint32_t v[256], d, prev = 0;
	size_t pos = 0, n = 0, k;
	int first = 1;

	while (pos < len) {
		k = ps_get_varint(s + pos, len - pos, &d);
		if (!k)
			break;
		prev = first ? d : prev + 1 + d;
		first = 0;
		pos += k;
		v[n++] = prev;
		if (n == sizeof(v) / sizeof(v[0])) {
			roaring_bitmap_add_many(bm, n, v);
			n = 0;
		}
	}
	if (n)
		roaring_bitmap_add_many(bm, n, v);
	return 1;
}

int ps_set_or(roaring_bitmap_t *bm, int kind, const uint8_t *s, size_t len)
{
	roaring_bitmap_t *x;

	if (kind == PS_DELTA)
		return delta_or(bm, s, len);
	if (kind != PS_ROARING || !len)
		return 1;
	x = roaring_bitmap_portable_deserialize_safe((const char *)s, len);
	if (!x)
		return 0;
	roaring_bitmap_or_inplace(bm, x);
	roaring_bitmap_free(x);
	return 1;
}

roaring_bitmap_t *ps_set_bitmap(int kind, const uint8_t *s, size_t len)
{
	roaring_bitmap_t *bm;

	if (kind == PS_ROARING && len)
		return roaring_bitmap_portable_deserialize_safe((const char *)s, len);
	bm = roaring_bitmap_create();
	if (bm && kind == PS_DELTA)
		delta_or(bm, s, len);
	return bm;
}
