/*
 * log_int.h - what the pieces of the log share, private to them (log.c:
 * opening, recovery, checkpoints; log_append.c: the append API, the
 * sequencer thread and the cluster hooks).  log.h is the API; the threads
 * and the invariants are described at the top of log.c.
 */
#ifndef LS_LOG_INT_H
#define LS_LOG_INT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/crypto.h"
#include "base/ls.h"
#include "core/note.h"
#include "store/log.h"
#include "store/sealer.h"

#define MAX_ROUND_BYTES (16u << 20) /* one group commit writes at most this much */
/* Batches waiting this long for room in the unsigned window fail with
 * LS_BUSY, unwritten: a checkpointer that cannot sign (disk full, broken
 * tiles) must not hold every caller forever. */
#define BACKPRESSURE_GIVE_UP_MS 5000

struct pending {
	const struct iovec *entries;
	uint8_t (*hashes)[LS_HASH_LEN]; /* leaf hashes, computed by the caller */
	size_t n;
	size_t bytes;
	uint64_t first;
	ls_rc rc;
	int done;
	int apply;		/* log_apply(): must land at apply_first */
	uint64_t apply_first;
	struct pending *next;
};

/* Leaves appended since the last checkpoint: their hashes (the tiles
 * need no entry bytes: entries are read back from the store). */
struct fresh {
	uint8_t *hashes;	/* count * 32 */
	size_t count, hcap;
};

/* A key rotation asked of the sequencer (log_rotate_key_ids()): done
 * between two rounds, so that no batch straddles the segments. */
struct rotation {
	ls_rc rc;
	uint32_t old_id, new_id;
	int done;
	struct ls_err err;
};

struct log {
	char *dir;
	int lockfd;		/* flock()ed data directory: one process per log */
	char logdir[PATH_MAX];
	char cpdir[PATH_MAX];
	struct journal *journal;
	struct note_signer signer;
	struct signer *ext;	/* signer.h: an external signer's state, or NULL */
	struct note_verifier verifier;
	uint64_t interval_ms;
	uint64_t max_unsigned;	 /* entries (invariant 6) */
	uint64_t max_unsigned_ns;
	size_t queue_max;

	pthread_mutex_t mu;
	pthread_cond_t work_cv;	 /* sequencer: work queued or stopping */
	pthread_cond_t done_cv;	 /* callers: a batch finished */
	pthread_cond_t cp_cv;	 /* checkpointer: stop, leaves to sign (CLOCK_MONOTONIC) */
	pthread_cond_t room_cv;	 /* sequencer: a checkpoint was published (CLOCK_MONOTONIC) */
	struct pending *head, *tail;
	size_t queued_bytes;
	int stopping, failed, threads;
	int seq_blocked;	/* the sequencer waits for a checkpoint */
	int cp_nospace;		/* the last checkpoint round failed for want of disk space */
	int test_hold;		/* log_test_hold_checkpoints() */
	struct rotation *rot;	/* a rotation waiting for the sequencer, or NULL */
	uint64_t size;		/* durable entries */
	/* When (CLOCK_MONOTONIC ns) the oldest unsigned entry was acknowledged:
	 * t_taken for the leaves a checkpoint round has taken and not yet
	 * published, t_fresh for those in fresh; 0: none. */
	uint64_t t_taken, t_fresh;
	struct fresh fresh;	/* under mu */
	/* The buffers of the last checkpoint's fresh leaves, emptied, for the
	 * next (under mu): grown once, they are not mapped and faulted in
	 * again every second (up to FRESH_KEEP bytes of entries). */
	struct fresh spare;
	log_observer_fn observer;
	void *observer_ctx;
	log_sequencer_fn seqfn;	/* cluster mode (log_set_sequencer()), under mu */
	void *seqctx;
	int seq_calls;		/* calls of a sequencer fn running (under mu) */
	pthread_t seq_thread, cp_thread;

	pthread_mutex_t cp_lock; /* serialises checkpoint creation; owns tw */
	struct tiles_writer *tw; /* NULL after a failed reset (tw_behind: its size) */
	uint64_t tw_behind;
	uint64_t cp_failures;	 /* checkpoint rounds that failed */
	char *latest_note;	 /* under mu */
	uint64_t latest_size;
	uint8_t cpkey[32];	 /* seals checkpoints.index lines (cpindex.h) */
	uint64_t cp_indexed;	 /* size of the index's last line (cp_lock) */
	struct log_stats stats;	 /* under mu */
	struct sealer *sealer;	 /* sealer.h */
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Absolute CLOCK_MONOTONIC deadline for the condition variables. */
static inline struct timespec deadline_ns(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000u),
			       .tv_nsec = (long)(t % 1000000000u) };
	return ts;
}

/* When the oldest unsigned entry was acknowledged; 0: none (under mu). */
static inline uint64_t oldest_unsigned(const struct log *l)
{
	return l->t_taken ? l->t_taken : l->t_fresh;
}

/* Invariant 6: no more acknowledgements until a checkpoint (under mu). */
static inline int window_full(const struct log *l, uint64_t now)
{
	uint64_t t = oldest_unsigned(l);

	return l->size - l->latest_size >= l->max_unsigned ||
	       (t && now - t >= l->max_unsigned_ns) || sealer_behind(l->sealer, l->size);
}

/* log_append.c: the sequencer thread (started by log_open()), and a key
 * rotation done in the thread that appends. */
void *log_sequencer_main(void *arg);
void log_rotate_now(struct log *l, struct rotation *rot);

#endif
