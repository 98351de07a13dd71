/*
 * verify.h - full verification of a data directory, and of any static C2SP
 * tlog-tiles log.
 *
 * verify_data_dir() checks every byte of the sealed segments and of the
 * write-ahead log after them (the archived ones too), recomputes every leaf
 * hash from the entries, checks every hash tile on disk against them, every
 * stored checkpoint's signature and root (so every old checkpoint is proven
 * a prefix of the log, which is what consistency means), that
 * DIR/log/checkpoint is the latest, and then the index's postings
 * (index_verify_postings(), when there is an index).  A directory without
 * DIR/format is of the format before sealed segments: LS_INVALID, "run
 * logseal migrate".  verify_tiles_dir() does the same for a static tiles
 * directory, using its entry bundles as the source.  Both stop at the first
 * problem and name it (file and byte offset, tile path, or checkpoint
 * file) in err.
 */
#ifndef LS_VERIFY_H
#define LS_VERIFY_H

#include <stdint.h>

#include "base/ls.h"
#include "core/note.h"

struct verify_report {
	uint64_t entries;	/* entries under the checkpoint */
	uint64_t checkpoints;	/* signed checkpoints checked */
	uint64_t tiles;		/* tile and bundle files checked */
	uint64_t tree_size;	/* size of the latest checkpoint */
	uint8_t root[32];	/* its root */
	uint64_t uncovered;	/* entries beyond the latest checkpoint */
	uint64_t segments;	/* sealed segments checked (DIR/segments) */
	uint64_t sealed;	/* entries in them */
	uint64_t sealed_bytes;	/* bytes of those files */
	double sealed_seconds;	/* time their check took */
	int postings;		/* the index's postings were checked (1), or there is none */
	uint64_t postings_files;	/* DIR/index/<016x>.post files checked */
	uint64_t postings_entries;	/* entries they cover */
	double postings_seconds;	/* time that check took */
	uint64_t archived;	/* entries read back from the archive (retention.h) */
	uint64_t purged;	/* entries whose content was purged by policy */
	char retention[1024];	/* the purged ranges and their purge events */
};

/*
 * How far a verify is, for a progress line: fn(ctx, done, total) as entries
 * are checked (done of total; total 0 when unknown), at most every 4096
 * entries and 250 ms, and once with done == VERIFY_PROGRESS_END when the
 * walk over the entries ended or failed.  The library prints nothing.
 */
#define VERIFY_PROGRESS_END UINT64_MAX
struct verify_progress {
	void (*fn)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

/* progress: NULL for none. */
ls_rc verify_data_dir(const char *dir, const struct verify_progress *progress,
		      struct verify_report *rep, struct ls_err *err);
/* verify_data_dir() with flags: VERIFY_NO_POSTINGS leaves the index out
 * (it is derived; `logseal reindex` rebuilds it). */
#define VERIFY_NO_POSTINGS 1
ls_rc verify_data_dir_ex(const char *dir, const struct verify_progress *progress, int flags,
			 struct verify_report *rep, struct ls_err *err);
/* What `serve` checks before it opens the log: the hash tiles of the
 * published checkpoint from the last size a full verify vouched for
 * (DIR/state/last-verify.json, sealed; 0 without one) are recomputed from
 * the sealed segments' stored leaf hashes and the WAL's entries, those
 * below it give the starting state, and the result must be the signed
 * root; the sealed segments must be contiguous and the WAL must go on
 * where they end; a missing file or any difference is named.
 * *from: where the recomputation started. */
ls_rc verify_serve_start(const char *dir, uint64_t *from, struct ls_err *err);
/* verify_tiles_src() over the directory dir (a tiles log: dir/checkpoint
 * and dir/tile/, or a copy of a bucket: dir/log/...), stopping at nothing
 * but reporting the first problem in err. */
ls_rc verify_tiles_dir(const char *dir, const struct note_verifier *key,
		       const struct verify_progress *progress, struct verify_report *rep,
		       struct ls_err *err);

/*
 * A published log checked in place (verify_tiles.c), read object by object
 * from a source (followers/verify_src.h: a directory, an s3:// bucket or an
 * http(s):// tree), with no local copy: the latest checkpoint's signature
 * (LOG/checkpoint, LOG being "log/" in the bucket layout or the root of a
 * bare tiles log), every hash tile and entry bundle the tree needs and
 * every other one listed (plaintext C2SP bundles; "LSB1" envelopes opened
 * with bundle_key, else not checked and counted in bundles_sealed), every
 * checkpoints/<size> (signature, and its root that of the log's first
 * <size> entries: consistent with the latest), every segments/<016x>.seal
 * (segscan.h: framing and CRCs; with plaintext blocks every entry; its leaf
 * hashes against the tree's).  Every missing or altered object is handed
 * to o->problem with its name ("s3://b/p/log/tile/0/000") and the walk
 * goes on; objects beyond the latest checkpoint are warnings.  LS_OK when
 * there is no problem; LS_TAMPERED with the first one in err; another
 * code when the walk could not run (listing failed, out of memory).
 */
struct verify_src;
struct verify_tiles_opts {
	const uint8_t *bundle_key;	/* 32 bytes, or NULL */
	unsigned fetchers;		/* concurrent reads; 0: 4, at most 16 */
	unsigned max_problems;		/* handed to problem(); 0: 1000 (all are counted) */
	const struct verify_progress *progress;
	/* where: the object's name; warning 1: not a failure */
	void (*problem)(void *ctx, int warning, const char *where, const char *what);
	void *ctx;
	const char *tmpdir;		/* plaintext segments are checked from a copy here */
};
struct verify_tiles_report {
	uint64_t tree_size;
	uint8_t root[LS_HASH_LEN];
	uint64_t entries;		/* leaves recomputed */
	uint64_t tiles;			/* hash tiles compared */
	uint64_t bundles;		/* entry bundles read (opened) and hashed */
	uint64_t bundles_sealed;	/* LSB1 bundles not opened: no bundle key */
	uint64_t checkpoints;		/* signed checkpoints checked */
	uint64_t segments;		/* segment objects read */
	uint64_t segments_full;		/* every entry checked (plaintext) */
	uint64_t segments_keyless;	/* encrypted: framing, CRCs, hashes only */
	int segments_probed;		/* no listing: found by name from leaf 0 on */
	int layout;			/* 1: bucket layout (log/, checkpoints/, segments/) */
	int listed;			/* 1: the source was listed */
	int broken;			/* some leaves could not be had at all */
	uint64_t problems, warnings;
	uint64_t objects, bytes;	/* read */
	double seconds;
};
ls_rc verify_tiles_src(struct verify_src *src, const struct note_verifier *key,
		       const struct verify_tiles_opts *o, struct verify_tiles_report *rep,
		       struct ls_err *err);

#endif
