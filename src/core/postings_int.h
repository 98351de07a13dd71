/*
 * postings_int.h - the private side of postings.h, shared by its files:
 *	postings.c        building a range, and every lookup (both kinds)
 *	postings_set.c    struct pset, the two encodings of a set of rels
 *	                  (delta varints, CRoaring portable) and their checks
 *	postings_codec.c  postings_encode() and postings_decode()
 *
 * One struct postings is either building (p->buf == NULL: a hash table of
 * terms, each with its rels in line, in an array or in a roaring bitmap,
 * and plain column arrays) or decoded (p->buf holds a copy of the checked
 * blob, docs/FORMAT.md section 12; lookups read it in place) or a view
 * (p->view: p->buf is the caller's, a mapped file, checked at open only in
 * its fixed parts and possibly changed since; every lookup checks what it
 * reads, a set before CRoaring sees it, and sets p->bad on bad bytes).
 *
 * Invariants (besides those of postings.h):
 *  1. Building: a term's rels are strictly increasing and all < count;
 *     tn <= PS_INLINE: in line, tn <= PS_ARR_MAX: in arr (capacity
 *     arr_cap(tn)), else in a roaring bitmap.  A term with tn == 0 exists
 *     only after a row failed with LS_NOMEM and is skipped everywhere.
 *  2. Decoded: every offset and length kept in struct pdfield/pdcol was
 *     checked by postings_decode() against the blob; lookups still check
 *     the bounds they rely on, so a wrong value there costs an empty
 *     answer, never a read outside p->buf.
 */
#ifndef LS_POSTINGS_INT_H
#define LS_POSTINGS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <roaring/roaring.h>

#include "core/postings.h"

#define PS_INLINE 2		/* rels kept in the term itself */
#define PS_ARR_MAX 32		/* rels kept in a plain array; more: roaring */
#define PS_RESTART 32		/* dictionary entries per restart point */
#define PS_TBLOCK 128		/* rels per block of a time column */
#define PS_NSECT 47		/* sections of the blob (FORMAT.md 12) */
#define PS_BOUNDS (24 + PS_NSECT * 8 + (PF_FIELDS - 1) * 4)	/* the time bounds: 440 */
#define PS_HEAD (PS_BOUNDS + 4 + 4 * 8)	/* bytes before section 0: 476 */
#define PS_MAGIC "LSPOST02"
#define PS_CHUNK_BITS 16	/* arena chunks of 64 KiB: a term offset is chunk << 16 | at */
#define PS_CHUNK ((uint32_t)1 << PS_CHUNK_BITS)
#define PS_TCHUNK_BITS 12	/* struct pterm chunks of 4096 (64 KiB): no doubling slack */
#define PS_TCHUNK ((uint32_t)1 << PS_TCHUNK_BITS)

/* Set kinds (the low bit of a dictionary entry's set word). */
enum { PS_DELTA = 0, PS_ROARING = 1 };

/* Section numbers: per field f (1..10) four, then the columns. */
#define PS_S_DICT(f) (4 * ((f) - 1))
#define PS_S_RESTART(f) (4 * ((f) - 1) + 1)
#define PS_S_SETS(f) (4 * ((f) - 1) + 2)
#define PS_S_ANY(f) (4 * ((f) - 1) + 3)
#define PS_S_HAS(c) (40 + 2 * (c))	/* c: 0 time, 1 received */
#define PS_S_COL(c) (41 + 2 * (c))
#define PS_S_VAL(v) (44 + (v))		/* v: 0 action, 1 outcome, 2 service */

struct pset {
	roaring_bitmap_t *bm;
};

/* Building: one term.  Its bytes are in the arena at off (ps_key): field,
 * len, bytes. */
struct pterm {
	uint32_t off;
	uint32_t n;
	union {
		uint32_t inl[PS_INLINE];
		uint32_t *arr;
		roaring_bitmap_t *bm;
	} u;
};

#define PS_MRU 8			/* recent terms per field (postings.c) */
#define PS_MRU_TRIAL 4096

struct pmru {
	uint32_t id1[PS_MRU];	/* term id + 1, most recent first */
	uint32_t hits, misses;
	int off;
};

struct pslot {
	uint32_t hash;
	uint32_t id1;		/* term id + 1; 0: empty slot */
};

/* Decoded: one field's dictionary (absolute offsets into p->buf). */
struct pdfield {
	uint32_t nterms;
	size_t dict, dict_len;
	size_t restart;		/* nrestart * 8 bytes */
	size_t sets, sets_len;
	size_t any, any_len;	/* kind byte + set */
	uint32_t *entry;	/* value fields only: offset of each entry */
};

/* Decoded: one time column. */
struct pdcol {
	size_t has, has_len;	/* kind byte + set */
	size_t dir;		/* nblocks * 9 bytes */
	uint32_t *data;		/* absolute offset of each block's bits */
	int64_t lo, hi;
	int any;
};

struct postings {
	uint64_t first;
	uint32_t count;

	/* building */
	uint8_t fkey[PF_FIELDS][16];	/* SipHash key per field */
	struct pmru mru[PF_FIELDS];
	uint8_t **chunk;	/* the arena: PS_CHUNK-byte chunks that never move */
	uint32_t nchunks, chunks_cap, chunk_used;
	struct pterm **tchunk;	/* the terms, PS_TCHUNK to a chunk (ps_term) */
	uint32_t nterms, ntchunks, tchunks_cap;
	struct pslot *slots;
	uint32_t nslots;	/* a power of two, or 0 */
	uint32_t *fterms[PF_FIELDS];	/* term ids of each field, in arrival order */
	uint32_t fn[PF_FIELDS], fcap[PF_FIELDS];
	roaring_bitmap_t *any[PF_FIELDS];
	int64_t *col[2];	/* time, received */
	roaring_bitmap_t *has[2];	/* both kinds: the rels with a time, received */
	uint32_t *val;		/* 3 per rel: term id + 1 of action, outcome, service */
	uint32_t rows_cap;
	int64_t lo[2], hi[2];
	int bounds[2];

	/* decoded, or a view (buf not ours) */
	int view;
	int bad;		/* a view's lookup met bad bytes (atomic) */
	uint8_t *buf;
	size_t len;
	struct pdfield f[PF_FIELDS];
	struct pdcol c[2];
	size_t valsec[3];	/* offset of the width byte */
	uint8_t valw[3];
};

/* A building term's record (field, len, bytes) in the arena.  Chunks never
 * move, so postings_value() can hand out pointers into them. */
static inline const uint8_t *ps_key(const struct postings *p, uint32_t off)
{
	return p->chunk[off >> PS_CHUNK_BITS] + (off & (PS_CHUNK - 1));
}

static inline struct pterm *ps_term(const struct postings *p, uint32_t id)
{
	return &p->tchunk[id >> PS_TCHUNK_BITS][id & (PS_TCHUNK - 1)];
}

/* Value fields in the order of the columns. */
static inline int ps_valcol(uint8_t field)
{
	return field == PF_ACTION ? 0 : field == PF_OUTCOME ? 1 : field == PF_SERVICE ? 2 : -1;
}

static inline void ps_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t ps_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void ps_put64(uint8_t *p, uint64_t v)
{
	ps_put32(p, (uint32_t)(v >> 32));
	ps_put32(p + 4, (uint32_t)v);
}

static inline uint64_t ps_get64(const uint8_t *p)
{
	return (uint64_t)ps_get32(p) << 32 | ps_get32(p + 4);
}

/* LEB128 of a uint32: at most 5 bytes. */
static inline size_t ps_put_varint(uint8_t *p, uint32_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline size_t ps_varint_len(uint32_t v)
{
	return v < 1u << 7 ? 1 : v < 1u << 14 ? 2 : v < 1u << 21 ? 3 : v < 1u << 28 ? 4 : 5;
}

/* Read a varint of p[0..n): bytes used, 0 when truncated, longer than its
 * shortest form, or over 32 bits. */
static inline size_t ps_get_varint(const uint8_t *p, size_t n, uint32_t *v)
{
	uint32_t x = 0;

	for (size_t i = 0; i < n && i < 5; i++) {
		if (i == 4 && p[i] > 0x0f)
			return 0;
		x |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			if (i && !p[i])
				return 0;
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

/* Term order: bytes, then length (a prefix sorts first). */
static inline int ps_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c)
		return c;
	return (al > bl) - (al < bl);
}

/* Bits [bit, bit + w) of b[0..n), least significant first (w <= 64);
 * bits beyond n read as 0. */
static inline uint64_t ps_get_bits(const uint8_t *b, size_t n, uint64_t bit, unsigned w)
{
	size_t i = (size_t)(bit / 8);
	unsigned got;
	uint64_t v;

	if (!w || i >= n)
		return 0;
	v = b[i++] >> (bit % 8);
	got = 8 - (unsigned)(bit % 8);
	for (; got < w && i < n; got += 8)
		v |= (uint64_t)b[i++] << got;
	return w == 64 ? v : v & ((UINT64_C(1) << w) - 1);
}

/* postings.c: value of rel in time column c of a decoded set (no has check). */
int64_t ps_col_get(const struct postings *p, int c, uint32_t rel);

/* postings_set.c */
struct pset *ps_wrap(roaring_bitmap_t *bm);	/* takes bm; frees it on failure */
/* Bytes of the delta encoding of n strictly increasing rels. */
size_t ps_delta_size(const uint32_t *v, size_t n);
size_t ps_delta_put(uint8_t *out, const uint32_t *v, size_t n);
/* Check an encoded set of kind (non-empty when nonempty) whose rels must
 * be < count: NULL when good, else what is wrong and *bad the offset in
 * s of the first bad byte. */
const char *ps_set_check(int kind, const uint8_t *s, size_t len, uint32_t count, int nonempty,
			 size_t *bad);
/* Add the rels of a checked encoded set to bm; 0 on OOM. */
int ps_set_or(roaring_bitmap_t *bm, int kind, const uint8_t *s, size_t len);
/* The encoded set as a new bitmap; NULL on OOM. */
roaring_bitmap_t *ps_set_bitmap(int kind, const uint8_t *s, size_t len);

#endif
