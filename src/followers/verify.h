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
ls_rc verify_tiles_dir(const char *dir, const struct note_verifier *key,
		       const struct verify_progress *progress, struct verify_report *rep,
		       struct ls_err *err);

#endif
