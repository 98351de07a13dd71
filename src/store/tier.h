/*
 * tier.h - sealed segments that live in the object store only (retention
 * moved them there, followers/retention_archive.c) and the bounded local
 * cache they are read through.  Private to store/ and to the layers above
 * through this header only: the seam that says where a segment lives.
 *
 * Files:
 *	DIR/segments.remote        the segments kept in the bucket only, text:
 *	                           "logseal remote segments v1\n", then one line
 *	                           per segment, ascending and contiguous:
 *	                           "<016x first> <count> <bytes> <sha256 hex>\n"
 *	                           (written by retention before the local copy
 *	                           goes, removed from by purge; durable: temp
 *	                           file, fsync, rename)
 *	DIR/cache/segments/<016x>.seal   downloaded copies (the bucket key is
 *	                           segments/<016x>.seal), least recently used
 *	                           deleted first past the byte budget
 *
 * Invariants:
 *  T1. A cached copy is used only after its size and SHA-256 equal the
 *      remote list's, and segment_verify() passed (header, checksums,
 *      seals, every leaf hash) and it holds [first, first + count); a bad
 *      download is deleted and the error names the bucket key, never
 *      served.  A copy already on disk at start is checked once per
 *      process (size and SHA-256) before its first use.
 *  T2. The files under DIR/cache/segments total at most the budget
 *      (tier_set_budget(), default TIER_DEFAULT_BUDGET) after every call;
 *      a single segment larger than the whole budget is opened and its
 *      file deleted at once (the open descriptor keeps it readable).  Open
 *      segments (a reader keeps up to SEALED_CACHE, sealed.h) are not
 *      counted: their files may already be deleted.
 *  T3. The remote segments and the local ones (DIR/segments) never
 *      overlap: retention lists a segment here before the local file goes
 *      and the local retained point (journal) moves past it.
 *  T4. Thread-safe: one state per data directory per process, under a
 *      mutex; downloads of one directory are done one at a time.
 */
#ifndef LS_TIER_H
#define LS_TIER_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define TIER_REMOTE_FILE "segments.remote"
#define TIER_CACHE_SUBDIR "cache/segments"
#define TIER_DEFAULT_BUDGET (1ull << 30)

struct tier_seg {
	uint64_t first;
	uint32_t count;
	uint64_t bytes;
	uint8_t sha256[LS_HASH_LEN];
};

/* The remote list of datadir (none: *n = 0); *v malloc'd. */
ls_rc tier_remote_load(const char *datadir, struct tier_seg **v, size_t *n, struct ls_err *err);
/* Add s (it must start where the list ends, or the list be empty) /
 * remove the entry of first (absent: LS_OK); durable before return. */
ls_rc tier_remote_add(const char *datadir, const struct tier_seg *s, struct ls_err *err);
ls_rc tier_remote_remove(const char *datadir, uint64_t first, struct ls_err *err);

/* The first leaf readable at all: kept (the local retained point) lowered
 * to the start of the remote segments that run contiguously up to it. */
ls_rc tier_readable_from(const char *datadir, uint64_t kept, uint64_t *from,
			 struct ls_err *err);

/* The local retained point (DIR/journal/retained, jdir = DIR/journal):
 * the first leaf whose segment is still in DIR/segments or the WAL.
 * store_retained() (reader.h) is the first readable, which may be lower. */
ls_rc tier_local_retained(const char *jdir, uint64_t *first, struct ls_err *err);

/* The remote segment that holds index: *first and *end of its range and
 * the segment, open (the caller segment_close()s it).  LS_NOTFOUND: no
 * remote segment holds index. */
struct keyring;
struct segment;
ls_rc tier_open(const char *datadir, struct keyring *kr, uint64_t index, struct segment **seg,
		uint64_t *first, uint64_t *end, struct ls_err *err);
/* Only the range: LS_NOTFOUND when no remote segment holds index. */
ls_rc tier_find(const char *datadir, uint64_t index, uint64_t *first, uint64_t *end,
		struct ls_err *err);

/* The byte budget of every cache of this process (0: the environment's
 * TIER_BUDGET_ENV in bytes, else the default; `serve --object-cache-bytes`). */
#define TIER_BUDGET_ENV "LOGSEAL_OBJECT_CACHE_BYTES"
void tier_set_budget(uint64_t bytes);
uint64_t tier_budget(void);

/* How a missing copy is fetched: fn(ctx, datadir, key, path) writes the
 * object `key` (e.g. "segments/0000000000000100.seal") into the file at
 * path.  NULL (the default): the object store of DIR/objstore.json
 * (tier_objstore()).  For the unit tests. */
typedef ls_rc (*tier_fetch_fn)(void *ctx, const char *datadir, const char *key,
			       const char *path, struct ls_err *err);
void tier_set_fetch(tier_fetch_fn fn, void *ctx);

struct tier_stats {
	uint64_t bytes;		/* in DIR/cache/segments now */
	uint64_t files;
	uint64_t hits, misses, evictions, bad;
};
void tier_stats_of(const char *datadir, struct tier_stats *st);

/* The object store of the data directory (tier_s3.c): DIR/objstore.json
 * (LS_NOTFOUND when there is none), its client opened once per process
 * and kept (never closed by the caller). */
struct objstore;
struct tier_store_cfg {
	char url[1024];
	char endpoint[512];
	char region[64];
	int path_style;
	uint64_t lock_days;	/* 0: not set */
};
ls_rc tier_store_cfg_load(const char *datadir, struct tier_store_cfg *cfg, struct ls_err *err);
ls_rc tier_store(const char *datadir, struct objstore **os, struct tier_store_cfg *cfg,
		 struct ls_err *err);
/* Hex MD5 of data (an S3 ETag of a single-part object). */
void tier_md5_hex(const void *data, size_t n, char out[33]);
/* Fetch the remote segment of first into the file at path (not cached),
 * checked as a cached copy is (T1). */
ls_rc tier_fetch_copy(const char *datadir, uint64_t first, const char *path,
		      struct ls_err *err);

/* "DIR" for any "DIR/<sub>" (the journal or segments directory). */
ls_rc tier_parent(const char *sub, char *out, size_t cap);

#endif
