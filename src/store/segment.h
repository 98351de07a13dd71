/*
 * segment.h - sealed segments: DIR/segments/<016x first leaf>.seal, one
 * file per contiguous range of leaves, written once and never changed
 * (docs/FORMAT.md §11 to the byte; segment_int.h for the constants).
 *
 * A sealed segment holds the entries of its range compressed (zstd) in
 * blocks and, in an encrypted data directory, each block sealed after
 * compression with AES-256-GCM under a data key (keys.h), bound to the
 * segment and the block; the leaf hashes of the range (the level-0 hash
 * tiles it completes); a block table; and checksums over every byte, so
 * that segment_verify() names the first bad byte's region.  Blocks hold
 * whole C2SP entry bundles (256 entries), so an entry bundle is served
 * by opening one block.
 *
 * It is storage (rule 1: the truth once sealed; the write-ahead log it
 * covers is then dropped).  Only store/ includes this header.
 *
 * Calling sequence:
 *	write:  segment_write(dir, first, count, entries, hashes, kr) - durable
 *	        (temporary file, fsync, rename, fsync of the directory) before
 *	        it returns; LS_EXISTS when the file is already there.  Or
 *	        streamed: segment_writer_open() -> segment_writer_add() x count
 *	        -> segment_writer_commit() (or segment_writer_abort()).
 *	read:   segment_open(path, kr) -> segment_get()/segment_bundle()/
 *	        segment_hashes() from any number of threads -> segment_close();
 *	        for a range, segment_iter_open() -> segment_iter_next()... ->
 *	        segment_iter_free() (before segment_close)
 *	check:  segment_verify(path, kr, &err)
 *
 * Invariants:
 *  1. first and count are multiples of SEGMENT_BUNDLE (256), count >= 256:
 *     a segment holds whole entry bundles.
 *  2. Every read checks what it reads (the block's checksum, its seal, the
 *     framing, and that the entry's leaf hash equals the stored hash):
 *     LS_CORRUPT or LS_TAMPERED with "<file> offset <X>: <what>", never
 *     another entry's bytes.
 *  3. segment_open() on a file not made by segment_write() (truncated,
 *     altered, foreign) fails with LS_CORRUPT and the offset; it never
 *     crashes or reads out of bounds (fuzzed: fuzz/fuzz_segment.c).
 *
 * Memory: an open segment holds its block table (24 bytes a block) and a
 * cache of at most two decoded blocks (a block's raw entries, 4 bytes and
 * a 32-byte hash per entry: about 130 KB for a bundle of 459-byte events,
 * at most 17 MB for one of 65,535-byte entries); an iterator holds one
 * block; a writer one block and 32 bytes per entry of the range.  Whoever
 * keeps segments open bounds how many.
 */
#ifndef LS_SEGMENT_H
#define LS_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/crypto.h"
#include "base/ls.h"

#define SEGMENT_BUNDLE 256		/* entries per C2SP entry bundle */
#define SEGMENT_SUFFIX ".seal"

struct keyring;

/* Write the sealed segment of leaves [first, first + count) into dir
 * (DIR/segments, created if missing): entries[i] is leaf first + i and
 * hashes[i] its leaf hash (RFC 6962; not recomputed here: a wrong one
 * makes its entry unreadable, LS_TAMPERED).  kr NULL: plaintext blocks;
 * else sealed under the keyring's newest data key. */
ls_rc segment_write(const char *dir, uint64_t first, uint32_t count, const struct iovec *entries,
		    const uint8_t (*hashes)[LS_HASH_LEN], struct keyring *kr, struct ls_err *err);

/* Block size and compression of segment_write(); readers take any value
 * the file states (k 1..16).  The defaults were chosen by measurement
 * (bench/bench_segment.c, docs/FORMAT.md §11). */
#define SEGMENT_BLOCK_BUNDLES 1		/* entry bundles per compressed block */
#define SEGMENT_ZSTD_LEVEL 1

struct segment_wopts {
	unsigned block_bundles;		/* 1..16; 0: SEGMENT_BLOCK_BUNDLES */
	int zstd_level;			/* 0: SEGMENT_ZSTD_LEVEL */
};

/* segment_write() with explicit block size and level (o NULL: defaults);
 * for the benchmark and the tests. */
ls_rc segment_write_ex(const char *dir, uint64_t first, uint32_t count,
		       const struct iovec *entries, const uint8_t (*hashes)[LS_HASH_LEN],
		       struct keyring *kr, const struct segment_wopts *o, struct ls_err *err);

/* The same, streamed: entries are given one at a time in leaf order, so
 * the caller need not hold the range (memory: one block and the count leaf
 * hashes).  segment_writer_add(): hash NULL computes the leaf hash here.
 * segment_writer_commit() makes the file durable and visible (LS_EXISTS if
 * it appeared meanwhile) and frees w, as segment_writer_abort() does after
 * removing the temporary file; after a failed add, only abort. */
struct segment_writer;
ls_rc segment_writer_open(const char *dir, uint64_t first, uint32_t count, struct keyring *kr,
			  const struct segment_wopts *o, struct segment_writer **out,
			  struct ls_err *err);
ls_rc segment_writer_add(struct segment_writer *w, const void *entry, size_t len,
			 const uint8_t hash[LS_HASH_LEN], struct ls_err *err);
ls_rc segment_writer_commit(struct segment_writer *w, struct ls_err *err);
void segment_writer_abort(struct segment_writer *w);

/* "<dir>/<016x>.seal" for first. */
void segment_path(const char *dir, uint64_t first, char *out, size_t cap);
/* 1 when name is a segment file's name, "<16 lower-case hex>.seal" (*first
 * its number); 0 for any other name. */
int segment_parse_name(const char *name, uint64_t *first);

struct segment;

/* Open and check the header, the footer and the block table (not every
 * block: those are checked as they are read).  kr must be the directory's
 * keyring for an encrypted segment (LS_INVALID without), NULL for a
 * plaintext one (a plaintext segment in an encrypted directory is
 * LS_TAMPERED).  LS_NOTFOUND when path does not exist. */
ls_rc segment_open(const char *path, struct keyring *kr, struct segment **out,
		   struct ls_err *err);
uint64_t segment_first(const struct segment *s);
uint32_t segment_count(const struct segment *s);
/* Entry `index` (first <= index < first + count, else LS_NOTFOUND):
 * *data malloc'd.  The entry's block is decoded once for consecutive calls
 * (a cache of the last two blocks per open segment). */
ls_rc segment_get(struct segment *s, uint64_t index, uint8_t **data, size_t *len,
		  struct ls_err *err);
/* The C2SP entry bundle number n (the tile index of
 * tile/entries/<n>: leaves [256 n, 256 n + 256), which must lie in the
 * segment), its exact bytes (each entry's 2-byte length, then the entry):
 * *data malloc'd. */
ls_rc segment_bundle(struct segment *s, uint64_t n, uint8_t **data, size_t *len,
		     struct ls_err *err);
/* Leaf hashes [index, index + n) (within the segment) into out. */
ls_rc segment_hashes(struct segment *s, uint64_t index, size_t n, uint8_t (*out)[LS_HASH_LEN],
		     struct ls_err *err);
void segment_close(struct segment *s);

/* Sequential reading of leaves [start, first + count): each block is
 * decoded once (outside the cache of segment_get), each entry checked
 * against its leaf hash.  segment_iter_next() gives *data (valid until the
 * next call or segment_iter_free) and its leaf index; LS_NOTFOUND after
 * the last entry.  One iterator is used by one thread at a time; several
 * iterators may share s. */
struct segment_iter;
ls_rc segment_iter_open(struct segment *s, uint64_t start, struct segment_iter **out,
			struct ls_err *err);
ls_rc segment_iter_next(struct segment_iter *it, const uint8_t **data, size_t *len,
			uint64_t *index, struct ls_err *err);
void segment_iter_free(struct segment_iter *it);

/* Check every byte: checksums, seals, framing, leaf hashes.  LS_OK, or
 * LS_CORRUPT/LS_TAMPERED with err naming the file and the offset of the
 * first bad region. */
ls_rc segment_verify(const char *path, struct keyring *kr, struct ls_err *err);

#endif
