/*
 * log.h - the log: journal + Merkle tree + tiles + signed checkpoints,
 * sequenced by one thread.
 *
 * Data directory layout (docs/FORMAT.md):
 *	DIR/format              the format marker (sealer.h)
 *	DIR/journal/            the write-ahead log (journal.h): entries not
 *	                        sealed yet
 *	DIR/segments/           sealed segments (segment.h): every entry below
 *	                        the sealed end, stored once
 *	DIR/log/checkpoint      latest signed checkpoint (C2SP)
 *	DIR/log/tile/<L>/...    hash tiles (C2SP tlog-tiles); entry bundles are
 *	                        no files: reader.h builds them (store_bundle)
 *	DIR/checkpoints/<size>  every signed checkpoint, kept forever
 *	DIR/keys/log.key        the signer key (mode 0600)
 *	DIR/keys/master.json, datakeys.json  encryption keys (keys.h); when
 *	                        present, the journal and the segments are
 *	                        encrypted, and their readers find the keys
 *	DIR/verifier.key        the verifier key (one line)
 *
 * Sealing (sealer.h): once a signed checkpoint covers a whole range of
 * segment_leaves entries, the sealer thread writes it as a sealed segment
 * and deletes the journal files it covers; when more than
 * SEALER_MAX_BEHIND ranges wait, the sequencer stops acknowledging as it
 * does for the unsigned window below.  log_close() seals what is whole.
 *
 * Calling sequence: log_open() -> log_append()* (any threads) -> log_close().
 *
 * Many threads call log_append() at once.  Each hashes its own entries, then
 * queues the batch; the sequencer thread takes every queued batch, writes
 * them with one journal_append() (group commit: one fdatasync), and wakes
 * each caller with its first leaf index.  A checkpointer thread extends the
 * tiles and signs a new checkpoint when the tree has grown: once the oldest
 * unsigned acknowledged entry is checkpoint_interval_ms old, or sooner when
 * half of max_unsigned_entries wait.  The unsigned window (entries
 * acknowledged but covered by no signed checkpoint: recovery could cut
 * them, undetected, if they were lost) is bounded: when it holds
 * max_unsigned_entries, or its oldest entry is max_unsigned_ms old, the
 * sequencer acknowledges nothing more until a checkpoint lands
 * (back-pressure); batches that wait longer than a few seconds for that
 * fail with LS_BUSY, unwritten.  The queue is bounded: when it is full
 * log_append() returns LS_BUSY at once instead of waiting (the server
 * answers 503).
 *
 * After a recovery that cut a torn tail (journal.h invariant 4),
 * log_open() appends an event of service "logseal", action
 * "logseal.recovery.truncated", naming what was cut (segment, offset,
 * bytes, records and their leaf range) and signs a checkpoint covering it,
 * whoever opened the log: a cut is never silent.  That includes cuts an
 * earlier process made and died before reporting (journal.h invariant 5):
 * each is reported, in order, at the next open.
 */
#ifndef LS_LOG_H
#define LS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "store/reader.h"
#include "base/ls.h"
#include "core/note.h"

struct log;

struct log_opts {
	const char *dir;
	uint64_t checkpoint_interval_ms; /* 0: 500 */
	uint64_t max_unsigned_entries;	 /* 0: 65536 */
	uint64_t max_unsigned_ms;	 /* 0: 1000, or twice the interval if longer */
	uint64_t segment_size;		 /* 0: journal default */
	size_t queue_max_bytes;		 /* bytes waiting for the sequencer; 0: 64 MiB */
	int no_threads;			 /* 1: no checkpointer thread (import, tests): call log_checkpoint() */
	uint64_t segment_leaves;	 /* leaves per sealed segment: a multiple of 256 in
					  * [256, 2^24]; 0: 65536 (sealer.h) */
	int old_format;			 /* 1: open a directory of the format before sealed
					  * segments (`logseal migrate` only) */
	const struct signer_spec *signer; /* store/signer.h; NULL: DIR/keys/log.key */
};

/* Create a new data directory: keys, verifier.key, empty journal, and a
 * signed checkpoint of size 0.  LS_EXISTS if DIR already holds a log. */
ls_rc log_init(const char *dir, const char *origin, struct ls_err *err);
/* log_init() with the signer of spec (store/signer.h): an external one
 * leaves no keys/log.key, only verifier.key and keys/seal.key. */
struct signer_spec;
ls_rc log_init_signer(const char *dir, const char *origin, const struct signer_spec *spec,
		      struct ls_err *err);

ls_rc log_open(const struct log_opts *opts, struct log **out, struct store_recovery *rec,
	       struct ls_err *err);

/* Append n entries durably; *first receives the leaf index of the first
 * (the rest follow consecutively).  Entries are stored byte for byte. */
ls_rc log_append(struct log *l, const struct iovec *entries, size_t n, uint64_t *first,
		 struct ls_err *err);

/* log_append() that calls enqueued(ctx) exactly once, as soon as the batch
 * holds its place in the sequencer's queue (or has failed before that):
 * callers that must keep an order among themselves release it there and
 * let the group commit merge their batches, instead of waiting for each
 * other's fdatasync. */
ls_rc log_append_ordered(struct log *l, const struct iovec *entries, size_t n, uint64_t *first,
			 void (*enqueued)(void *ctx), void *ctx, struct ls_err *err);

/* log_append() in two halves, so that the caller works while the batch is
 * written: start queues it (the entries must stay valid until finish), and
 * finish waits until it is durable and gives its result, exactly as
 * log_append() would.  A started batch must be finished.  When start fails
 * nothing was queued and there is nothing to finish. */
struct log_ticket;
ls_rc log_append_start(struct log *l, const struct iovec *entries, size_t n,
		       struct log_ticket **t, struct ls_err *err);
ls_rc log_append_finish(struct log *l, struct log_ticket *t, uint64_t *first, struct ls_err *err);

/* Appends whose events carry idempotency keys: keys[i] is entry i's
 * LOG_KEY_LEN-byte scoped key (server/idem.h) or all zero for none.
 * idx[i] receives entry i's leaf index.  Single node: the same as
 * log_append() (keys are ignored; the server's idem map dedupes).  Cluster
 * (log_set_sequencer): the database dedupes across nodes, so an entry whose
 * key it already holds is not appended and gets its first index. */
#define LOG_KEY_LEN 16
ls_rc log_append_keyed(struct log *l, const struct iovec *entries, size_t n,
		       const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx, struct ls_err *err);

/* Cluster mode (store/cluster.h).  Once a sequencer is set, every
 * log_append*() hands its batch to fn (which returns only after the
 * batch is durably sequenced, with its indexes, or fails) and then waits,
 * bounded, until the local replica holds those entries (read your writes
 * on this node); the local journal is then written only by log_apply().
 * fn NULL: back to single node.  Returns once no call of the previous fn
 * is running (its ctx may be freed then). */
typedef ls_rc (*log_sequencer_fn)(void *ctx, const struct iovec *entries, size_t n,
				  const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx,
				  struct ls_err *err);
void log_set_sequencer(struct log *l, log_sequencer_fn fn, void *ctx);
/* Replica: append entries at leaf index first, which must be log_size()
 * (LS_INVALID otherwise, nothing written); durable (fdatasync) on return;
 * observers run as for log_append(). */
ls_rc log_apply(struct log *l, uint64_t first, const struct iovec *entries, size_t n,
		struct ls_err *err);

/* Sign a checkpoint now if the tree grew since the last one (also called by
 * the checkpointer thread).  Returns once it is durable. */
ls_rc log_checkpoint(struct log *l, struct ls_err *err);

/* Number of entries durably appended. */
uint64_t log_size(struct log *l);

/* 1 when the journal has failed and appends are refused until reopened. */
int log_failed(struct log *l);

/* The latest signed checkpoint: note text (malloc'd) and its size. */
ls_rc log_latest_checkpoint(struct log *l, char **note, uint64_t *size);

const struct note_verifier *log_verifier(const struct log *l);

/* Publish the latest checkpoint again with witnesses' cosignature lines
 * appended (followers/witness.h): note must be the log's signed note of
 * `size` (the same text, signed by this log's key) plus other signature
 * lines.  It replaces DIR/log/checkpoint durably and what
 * log_latest_checkpoint() returns.  LS_NOTFOUND when a newer checkpoint
 * was published meanwhile (nothing is written).  The lines are not checked
 * here: the caller verified them with the witnesses' keys. */
ls_rc log_publish_cosigned(struct log *l, uint64_t size, const char *note, size_t n,
			   struct ls_err *err);


/* Sign any text (ending in '\n') with the log's key as a C2SP signed note:
 * for documents other than checkpoints, such as export manifests, whose
 * first line must then make them unmistakable for a checkpoint.  *note is
 * malloc'd. */
ls_rc log_sign_note(struct log *l, const char *text, size_t n, char **note,
		    struct ls_err *err);

/* The log's origin (its key name). */
const char *log_origin(const struct log *l);
const char *log_dir(const struct log *l);

/* Start a new journal segment now, and so (encrypted directory, keys.h) a
 * new data key for everything written from here on.  Online too: with
 * threads the sequencer does it between two group commits (ingest goes on;
 * the call waits for its turn); without, in the caller, with no append in
 * flight.  *old_id / *new_id (may be NULL): the data key id of the segment
 * before and after (0: plaintext). */
ls_rc log_rotate_key(struct log *l, struct ls_err *err);
ls_rc log_rotate_key_ids(struct log *l, uint32_t *old_id, uint32_t *new_id, struct ls_err *err);

/* Bring a data directory of the format before sealed segments to the
 * current one (`logseal migrate`; migrate.c): seal every whole range the
 * signed log covers, delete the old entry bundle files, write DIR/format.
 * Leaves, hash tiles and checkpoints stay as they are.  Nothing to do
 * (out->already) when DIR is in the current format.  The log must not be
 * open elsewhere. */
struct log_migration {
	int already;
	uint64_t size;		/* entries in the log */
	uint64_t segments;	/* sealed now */
	uint64_t sealed_end;	/* entries below are in segments */
	double seal_seconds;	/* spent sealing them */
};
ls_rc log_migrate(const char *dir, uint64_t segment_leaves, struct log_migration *out,
		  struct ls_err *err);

/* Stop threads, sign a last checkpoint, close.  NULL is a no-op. */
ls_rc log_close(struct log *l, struct ls_err *err);

/* Observer called by the sequencer after each durable batch (in its thread;
 * must be quick).  Used by followers (index, stream, alerts).  offsets[i]
 * is the byte offset of entry first + i's record in its journal segment
 * (journal_append_at()). */
typedef void (*log_observer_fn)(void *ctx, uint64_t first, const struct iovec *entries,
				const uint64_t *offsets, size_t n);
void log_set_observer(struct log *l, log_observer_fn fn, void *ctx);

/* Counters of the sequencer since log_open(), for metrics.  A commit is one
 * journal_append() (write + fdatasync of a group of batches); its latency
 * is counted in sync_buckets[i] for the first i with seconds <=
 * log_sync_bounds[i], or past the last bound only in sync_count. */
#define LOG_SYNC_BUCKETS 12
extern const double log_sync_bounds[LOG_SYNC_BUCKETS];
struct log_stats {
	uint64_t commits;		/* successful journal appends */
	uint64_t entries;		/* entries they made durable */
	uint64_t bytes;			/* entry bytes they made durable */
	uint64_t sync_count;		/* timed appends, failed ones included */
	uint64_t sync_buckets[LOG_SYNC_BUCKETS]; /* not cumulative */
	double sync_seconds;		/* sum of their latencies */
	/* The unsigned window: entries acknowledged and not yet covered by a
	 * signed checkpoint, now and at most since log_open(); the age of the
	 * oldest of them (seconds since it was acknowledged), now and at most
	 * (measured when the checkpoint covering it is published); how often
	 * and how long the sequencer waited for a checkpoint. */
	uint64_t unsigned_entries;
	uint64_t unsigned_entries_max;
	double unsigned_age;
	double unsigned_age_max;
	uint64_t backpressure_waits;
	double backpressure_seconds;
	/* The sealer (sealer.h): segments sealed since log_open(), where
	 * sealing stands (entries below are in segments), the time spent
	 * sealing, and how often the sequencer waited because more than
	 * SEALER_MAX_BEHIND whole ranges waited to be sealed. */
	uint64_t sealed_segments;
	uint64_t sealed_end;
	double seal_seconds;
	uint64_t sealer_waits;
};
void log_get_stats(struct log *l, struct log_stats *out);

/* Testing only: while hold is 1 the checkpointer thread signs nothing
 * (log_checkpoint() still works), as when it falls behind. */
void log_test_hold_checkpoints(struct log *l, int hold);

/* Testing only: journal_test_fail_next() on the log's journal, for the
 * next batch the sequencer writes (call it with no append in flight). */
void log_test_fail_next(struct log *l, int op, int errnum);

#endif
