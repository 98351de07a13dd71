/*
 * upload.h - the uploader: a thread of its own that keeps an S3 bucket
 * (store/objstore.h) a complete, immutable copy of the log, behind the
 * signed checkpoints and never in the acknowledgement path.  The bucket
 * layout, the envelope of entry bundles and the files below are
 * docs/FORMAT.md §13; docs/OBJECT-STORE.md says what goes up and when.
 *
 *	DIR/objstore.json    where the store is (URL, endpoint, region,
 *	                     path_style, lock_days, backlog_bytes; never
 *	                     credentials), sealed like the other configuration
 *	                     files (cfgseal.h, purpose CFGSEAL_OBJSTORE): a
 *	                     tampered file is refused, not followed
 *	DIR/objstore/state   upload progress (JSON, replaced durably): what is
 *	                     confirmed in the bucket, so a restart resumes
 *
 * One round, for the latest signed checkpoint of size S (read from
 * DIR/log/checkpoint, cosignatures included), in this order, each step
 * finished before the next starts:
 *   1. every sealed segment DIR/segments/<016x>.seal not yet confirmed;
 *   2. every full hash tile and full entry bundle below S not yet up (in
 *      chunks of UPLOAD_CHUNK entries, progress saved after each);
 *   3. the partial tiles and the partial bundle of S;
 *   4. checkpoints/<s> for every signed checkpoint s <= S not yet up (the
 *      sizes from DIR/checkpoints.index, read on from where it stopped);
 *   5. log/checkpoint;
 * and keys/verifier.key, keys/datakeys.json when their bytes change.
 * Segments, full tiles, full bundles and checkpoints/<s> are LOCKED: PUT
 * with If-None-Match: * and COMPLIANCE retention until now + lock_days; an
 * object already there with the same bytes counts as uploaded (a re-upload
 * after a crash is harmless), with other bytes it is a conflict: reported
 * loudly (notice, metric, integrity state "conflict") and the uploader
 * stops advancing the bucket.  Every failure is retried with exponential
 * backoff (100 ms doubling, capped at 30 s); within a step several objects
 * go up at once (UPLOAD_THREADS workers).
 *
 * Entry bundles of an encrypted directory go up sealed in the "LSB1"
 * envelope (store/bundlekey.h), with a nonce derived from the key, place
 * and bytes: the same bundle always gives the same object.
 */
#ifndef LS_UPLOAD_H
#define LS_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "store/log.h"
#include "store/objstore.h"

#define UPLOAD_CFG_FILE "objstore.json"
#define UPLOAD_STATE_FILE "objstore/state"
#define UPLOAD_DEFAULT_LOCK_DAYS 365
#define UPLOAD_DEFAULT_BACKLOG (1ull << 30)
#define UPLOAD_CHUNK 65536

/* DIR/objstore.json. */
struct upload_cfg {
	char url[1024];
	char endpoint[512];
	char region[64];
	int path_style;
	uint64_t lock_days;	/* 0: not set (the default applies) */
	uint64_t backlog_bytes;	/* 0: not set */
};
/* LS_NOTFOUND when there is none; LS_TAMPERED when its seal is wrong. */
ls_rc upload_cfg_load(const char *dir, struct upload_cfg *cfg, struct ls_err *err);
ls_rc upload_cfg_save(const char *dir, const struct upload_cfg *cfg, struct ls_err *err);
/* The default lock period: the longest hot_days + archive_days of the
 * retention policy (DIR/retention.json), else UPLOAD_DEFAULT_LOCK_DAYS. */
uint64_t upload_default_lock_days(const char *dir);

/* ----------------------------------------------------------- planning --- */
/* Pure: which tiles a tree needs.  fn(ctx, level, n, w) is called for each
 * hash tile (level >= 0) and entry bundle (level -1); w 256 is a full one. */
typedef int (*upload_tile_fn)(void *ctx, int level, uint64_t n, unsigned w);
/* Every full tile and bundle of a tree of size `to` that a tree of size
 * `from` does not have yet (from <= to), lowest level first. */
int upload_plan_full(uint64_t from, uint64_t to, upload_tile_fn fn, void *ctx);
/* The partial tiles and bundle of a tree of size `size`. */
int upload_plan_partial(uint64_t size, upload_tile_fn fn, void *ctx);
/* The object key of a tile ("log/tile/..."), of segment first
 * ("segments/<016x>.seal") and of checkpoint size ("checkpoints/<size>"). */
void upload_tile_key(int level, uint64_t n, unsigned w, char *out, size_t cap);
void upload_segment_key(uint64_t first, char *out, size_t cap);
void upload_checkpoint_key(uint64_t size, char *out, size_t cap);
/* The size in a checkpoint note (its second line), or -1. */
int64_t upload_note_size(const char *note, size_t n);

/* ----------------------------------------------------------- uploader --- */
/* Cluster mode (store/cluster.h, docs/CLUSTER.md): several nodes hold the
 * same log and only the integrating one writes the bucket.  may_upload(S)
 * is asked before a round for the local checkpoint of size S (0: skip the
 * round; this node's backlog then counts as 0: another node uploads);
 * publish() runs put(pctx), the PUT of log/checkpoint of size S, under the
 * integration lock (LS_BUSY: not now, another node got further); published()
 * is told the bucket's own log/checkpoint (size -1: none there) when the
 * uploader reads it: at its first round, every 25th round, and before each
 * publish, which is skipped when the bucket already has a larger size. */
struct upload_gate {
	int (*may_upload)(void *ctx, uint64_t size);
	ls_rc (*publish)(void *ctx, uint64_t size, ls_rc (*put)(void *pctx, struct ls_err *err),
			 void *pctx, struct ls_err *err);
	void (*published)(void *ctx, int64_t size, const char *note, size_t len);
	void *ctx;
};

struct upload_opts {
	const char *dir;
	struct objstore_cfg *store;	/* filled (objstore_cfg_env done) */
	uint64_t lock_days;
	uint64_t backlog_bytes;
	struct log *log;		/* for the backlog estimate; may be NULL */
	unsigned threads;		/* 0: 8 */
	unsigned poll_ms;		/* 0: 200 */
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
	const struct upload_gate *gate;	/* NULL: single node (no gate) */
};
struct upload;

ls_rc upload_start(const struct upload_opts *o, struct upload **out, struct ls_err *err);
/* Stop (waits for requests in flight) and free; NULL is a no-op. */
void upload_stop(struct upload *u);
/* Wake the uploader now (a new checkpoint or segment). */
void upload_kick(struct upload *u);

struct upload_stats {
	uint64_t backlog_bytes;		/* local bytes not yet confirmed up */
	uint64_t backlog_objects;	/* objects still to upload */
	uint64_t backlog_limit;
	uint64_t failures;		/* failed requests since the start */
	uint64_t uploaded_objects, uploaded_bytes;
	uint64_t conflicts;
	int64_t last_success;		/* Unix s of the last upload; 0: none */
	int reachable;			/* the last request reached the store */
	int conflict;			/* a locked object has other bytes */
	int object_lock;		/* the bucket's Object Lock: 1, 0, -1 not known yet */
	uint64_t uploaded_size;		/* log/checkpoint in the bucket */
	uint64_t log_size;		/* the latest signed checkpoint here */
	char last_error[512];		/* "" when none since the last success */
	char describe[1200];		/* the store, no secrets */
};
/* u NULL: all zero (no store). */
void upload_stats(struct upload *u, struct upload_stats *out);
/* 1 when the backlog is past its bound (ingest answers 503). */
int upload_over_backlog(struct upload *u);
/* 1 when segments/<016x first>.seal is confirmed in the bucket. */
int upload_segment_confirmed(struct upload *u, uint64_t first);

#endif
