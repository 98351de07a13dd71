/*
 * postings.h - posting lists of one range of leaves: term -> the set of
 * leaves whose entry has that term, plus the per-leaf columns that queries
 * and stats need (event time, received time, and the value of outcome,
 * action and service).  Pure: no files, no threads, no keys.  The caller
 * (the query index, followers/index*) decides what the terms are (plain
 * values or keyed hashes, the blind index) and keeps the bytes where it
 * wants (docs/FORMAT.md, "Postings files").
 *
 * A range is [first, first + count) of leaf indexes; inside it a leaf is
 * named by its offset rel = index - first (uint32).  A term is a field
 * (enum pf_field) and a byte string of 1..PF_TERM_MAX bytes.
 *
 * Calling sequence:
 *	building (the active range):  postings_new(first) ->
 *	    postings_add_row(rel, &row) for rel = 0, 1, 2, ... (no gaps) ->
 *	    postings_encode() when the range is complete -> postings_free()
 *	reading (a complete range):   postings_decode(bytes) -> lookups ->
 *	    postings_free(), or postings_view(mapped bytes) -> lookups ->
 *	    postings_corrupt()? -> postings_free() -> unmap
 * Lookups work on both; a building set is read by its own thread or under
 * the caller's lock (it is not thread-safe against postings_add_row()).
 *
 * Invariants:
 *  1. postings_decode(postings_encode(p)) answers every lookup exactly as p.
 *  2. postings_decode() checks everything it reads (lengths, order, the
 *     checksum): on bytes it did not make it returns LS_CORRUPT with the
 *     byte offset of the first bad byte, never crashes, never reads out of
 *     bounds (fuzzed: fuzz/fuzz_postings.c).
 *  3. Every set holds only rels < postings_count().
 */
#ifndef LS_POSTINGS_H
#define LS_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define PF_TERM_MAX 255

/* What a term is.  The values are written to files: never renumber. */
enum pf_field {
	PF_ACTION = 1,		/* plaintext action; prefix lookups */
	PF_OUTCOME = 2,		/* plaintext */
	PF_SERVICE = 3,		/* plaintext */
	PF_ACTOR = 4,		/* keyed hash (16 bytes) */
	PF_RTYPE = 5,		/* keyed hash */
	PF_RID = 6,		/* keyed hash */
	PF_WRITER = 7,		/* keyed hash */
	PF_IP = 8,		/* keyed hash of the 16-byte address */
	PF_NET = 9,		/* 1 byte prefix length || keyed hash of the network */
	PF_FAMILY = 10,		/* 1 byte: 4 or 6 */
	PF_FIELDS = 11
};

/* One leaf's terms, as postings_add_row() takes them.  NULL/0: absent. */
#define PF_ROW_TERMS 24
struct pf_row {
	int has_time, has_received;
	int64_t time_us, received_us;	/* event time, received time (us since the epoch) */
	size_t nterms;
	struct {
		uint8_t field;		/* enum pf_field */
		uint8_t len;		/* 1..PF_TERM_MAX */
		const void *bytes;
	} t[PF_ROW_TERMS];
};

/* A set of rels: the result of lookups and set operations. */
struct pset;
struct pset *pset_new(void);			/* empty; NULL on OOM */
void pset_free(struct pset *s);
struct pset *pset_all(uint32_t count);		/* 0..count-1 */
void pset_and(struct pset *a, const struct pset *b);	/* a &= b */
void pset_or(struct pset *a, const struct pset *b);	/* a |= b */
void pset_andnot(struct pset *a, const struct pset *b);	/* a &= ~b */
uint64_t pset_count(const struct pset *s);
/* Up to max rels of s, in ascending (desc = 0) or descending order,
 * strictly after `after` in that order when has_after; returns how many. */
size_t pset_take(const struct pset *s, int desc, int has_after, uint32_t after, uint32_t *out,
		 size_t max);

struct postings;

ls_rc postings_new(uint64_t first, struct postings **out, struct ls_err *err);
/* Add leaf first + rel; rel must be postings_count() (the next one).
 * LS_INVALID for a bad row, LS_NOMEM. */
ls_rc postings_add_row(struct postings *p, uint32_t rel, const struct pf_row *row,
		       struct ls_err *err);
uint64_t postings_first(const struct postings *p);
uint32_t postings_count(const struct postings *p);

/* The leaves with exactly this term (a new set, empty when none; NULL on OOM). */
struct pset *postings_get(const struct postings *p, uint8_t field, const void *term, size_t len);
/* The leaves with a term of `field` that starts with prefix (union). */
struct pset *postings_prefix(const struct postings *p, uint8_t field, const void *prefix,
			     size_t len);
/* Every leaf that has a term of `field` at all. */
struct pset *postings_any(const struct postings *p, uint8_t field);

/* Columns.  0 when rel has no such value (*has set to 0). */
int64_t postings_time(const struct postings *p, uint32_t rel, int *has);
int64_t postings_received(const struct postings *p, uint32_t rel, int *has);
/* Min and max of the time columns over the range (has = 0: none). */
void postings_time_bounds(const struct postings *p, int received, int64_t *lo, int64_t *hi,
			  int *has);
/* The value of a plaintext field (PF_ACTION, PF_OUTCOME, PF_SERVICE) of
 * rel: pointer into p, valid while p lives; NULL when absent. */
const char *postings_value(const struct postings *p, uint32_t rel, uint8_t field, size_t *len);

/* Serialise a range (docs/FORMAT.md "Postings files": the exact bytes).
 * *out malloc'd. */
ls_rc postings_encode(const struct postings *p, uint8_t **out, size_t *len, struct ls_err *err);
/* Parse bytes made by postings_encode() (invariant 2).  Copies what it
 * keeps: the caller may free buf after the call. */
ls_rc postings_decode(const uint8_t *buf, size_t len, struct postings **out, struct ls_err *err);
/* The same on a malloc'd buf that p takes over (no copy: a postings file
 * read into memory is decoded in place); buf is freed on failure too. */
ls_rc postings_decode_owned(uint8_t *buf, size_t len, struct postings **out, struct ls_err *err);
/* A read-only view of bytes made by postings_encode() that the caller
 * keeps unchanged in address (a file mapped with mmap()) until
 * postings_free(p), which does not free them.  full: every check of
 * postings_decode() (the checksum too); else only the header, the section
 * table and the small fixed parts (the column directories, the value
 * columns' widths, the value fields' dictionaries): O(count / 128 + value
 * terms), and the time bounds are the header's.  Lookups on a view read
 * the bytes in place and check every offset, length and set they use: the
 * bytes may change after the open, a bad one makes that lookup's answer
 * empty (never a read outside buf) and postings_corrupt() true. */
ls_rc postings_view(const uint8_t *buf, size_t len, int full, struct postings **out,
		    struct ls_err *err);
/* A view met bad bytes in a lookup since it was opened. */
int postings_corrupt(const struct postings *p);
/* Bytes of heap memory p holds (for the index's memory budget; a view's
 * bytes are not counted). */
size_t postings_memory(const struct postings *p);
void postings_free(struct postings *p);

#endif
