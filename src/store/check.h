/*
 * check.h - the store's check of its sealed segments, and the little that
 * layers above store/ need of them (retention, verify): a listing, the
 * entries of one segment in order, and the check of one segment file.
 *
 * store_check_segments() checks every DIR/segments/<016x>.seal from the
 * retained point on, oldest first:
 *   - names: 16 lowercase hex digits and ".seal"; the name is the file's
 *     first leaf; first and count multiples of 256 (segment.h invariant 1);
 *     each segment starts where the previous one ended (no gap, no overlap);
 *   - every byte: segment_verify() (checksums, seals, framing, every
 *     entry's leaf hash against the stored one);
 *   - the stored leaf hashes are those of the signed tree of `size`: the
 *     full level-0 tiles of a sealed range are served from the segment
 *     (its files are deleted, tiles.h), so each whole tile of 256 leaf
 *     hashes must hash to its node at tree level 8, a hash of the level-1
 *     tile DIR/log/tile/1/...; leaves in a tile still partial at `size`
 *     are compared with the level-0 partial tile.  With segment_verify()'s
 *     leaf hash = SHA-256(0x00 || entry) the segments are  *     leaf hash = SHA-256(0x00 || entry) the segments are tied to the
 *     signed checkpoints; a full level-0 tile file still in a sealed range
 *     (a crash between the seal and its deletion) is read before the
 *     segment, so it must be exactly the segment's hashes;
 *   - the write-ahead log (DIR/journal) continues at the sealed end: its
 *     first entry from there is that leaf (or there is none).
 * The first failure is LS_CORRUPT or LS_TAMPERED with the file and byte
 * offset (from segment_verify()) or the leaf and tile, in err.
 *
 * Segments are checked by cb->threads worker threads (0: 2); the results
 * are handed to cb->hashes in leaf order, in the caller's thread, so a
 * caller can go on hashing the tree while the next segments are read.
 * Memory: at most 2 x threads segments' leaf hashes (32 bytes a leaf).
 */
#ifndef LS_STORE_CHECK_H
#define LS_STORE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define STORE_SEALED_DIR "segments"

struct store_check_report {
	uint64_t segments;	/* sealed segment files checked */
	uint64_t first;		/* first leaf of the first one checked */
	uint64_t end;		/* leaf after the last one: where the WAL goes on */
	uint64_t entries;	/* entries in them (end - first) */
	uint64_t bytes;		/* bytes of the files */
	uint64_t tiles;		/* level-0 tiles checked (whole ones: against level 1) */
	double seconds;		/* wall time of the check */
	double entries_per_s;
};

struct store_check_cb {
	/* Segment [first, first + n) passed: hashes[i] is leaf first + i.
	 * Anything but LS_OK stops the check with that result (err set by
	 * the callback).  May be NULL. */
	ls_rc (*hashes)(void *ctx, uint64_t first, size_t n, const uint8_t (*hashes)[LS_HASH_LEN],
			struct ls_err *err);
	/* Entries checked so far, after each segment.  May be NULL. */
	void (*progress)(void *ctx, uint64_t done);
	void *ctx;
	unsigned threads;	/* 0: 2 */
};

/* from: the retained point (store_retained(); segments wholly below it are
 * left-overs of an interrupted retention pass and are skipped, one that
 * spans it is an error).  size: the tree size the tiles are read at.
 * cb may be NULL.  No DIR/segments: LS_OK with no segment (end = from). */
ls_rc store_check_segments(const char *datadir, uint64_t from, uint64_t size,
			   const struct store_check_cb *cb, struct store_check_report *rep,
			   struct ls_err *err);

/* DIR/format: LS_OK for the format of sealed segments; LS_INVALID naming
 * `logseal migrate` for a directory made before them (no DIR/format);
 * LS_CORRUPT for a format this version does not know. */
ls_rc store_check_format(const char *datadir, struct ls_err *err);

/* One segment file anywhere (an archived copy too), with datadir's keys:
 * segment_verify(), its first leaf must be `first`, and its leaf hashes
 * below `size` must be those of datadir's signed tree of `size` (as
 * store_check_segments() checks them).  *hashes (malloc'd,
 * *count of them) when hashes is not NULL; *bytes the file's size (may be
 * NULL). */
ls_rc store_check_sealed_file(const char *datadir, const char *path, uint64_t first,
			      uint64_t size, uint8_t (**hashes)[LS_HASH_LEN], uint32_t *count,
			      uint64_t *bytes, struct ls_err *err);

/* The sealed segments of datadir, ascending; a name that is not a segment's
 * is skipped (store_check_segments() names it).  *out malloc'd; none (or no
 * directory): *n = 0. */
struct store_sealed {
	uint64_t first;
	uint32_t count;
};
ls_rc store_sealed_list(const char *datadir, struct store_sealed **out, size_t *n,
			struct ls_err *err);
/* Before the sealed segment of `first` leaves DIR/segments (retention
 * moves it to the archive, or removes a left-over): the full level-0 hash
 * tiles it serves in place of their files (tiles.h) are written back as
 * files, durably, so that proofs, checkpoints and the tiles writer keep
 * working without it.  The segment's hashes are read checked.  A segment
 * already gone: LS_OK (nothing left to write from). */
ls_rc store_sealed_keep_tiles(const char *datadir, uint64_t first, struct ls_err *err);
/* "DIR/segments/<016x>.seal" */
void store_sealed_path(const char *datadir, uint64_t first, char *out, size_t cap);

/* Every entry of the segment file at path, in order: fn(ctx, index, data,
 * len); a result other than LS_OK from fn stops the walk and is returned.
 * Each entry is checked as it is read (segment.h invariant 2). */
ls_rc store_sealed_each(const char *datadir, const char *path,
			ls_rc (*fn)(void *ctx, uint64_t index, const uint8_t *data, size_t len),
			void *ctx, struct ls_err *err);

/* The stored leaf hashes of the sealed segments from leaf `from` on, in
 * order, without reading the entries (what serve's start check needs):
 * fn(ctx, first, n, hashes) per segment (the first one from `from`); the
 * segments must be contiguous from the one holding `from`, and the WAL
 * must go on where they end (*end; `from` when no segment holds it), and
 * a full level-0 tile file left in their range must be their hashes.
 * Only each segment's header, table and hash blocks are read and
 * checked (segment.h). */
ls_rc store_sealed_hashes(const char *datadir, uint64_t from,
			  ls_rc (*fn)(void *ctx, uint64_t first, size_t n,
				      const uint8_t (*hashes)[LS_HASH_LEN], struct ls_err *err),
			  void *ctx, uint64_t *end, struct ls_err *err);

/* Every entry of the journal files (write-ahead log format) in jdir, a
 * directory right under the data directory (whose keys it uses), from
 * index start, in order and strictly checked (a torn tail is LS_CORRUPT):
 * what an archive made before sealed segments holds.  Read from those
 * files only, never from DIR/segments.  fn as for store_sealed_each(). */
ls_rc store_journal_each(const char *jdir, uint64_t start,
			 ls_rc (*fn)(void *ctx, uint64_t index, const uint8_t *data, size_t len),
			 void *ctx, struct ls_err *err);

#endif
