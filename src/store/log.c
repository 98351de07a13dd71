/*
 * log.c - the sequencer: journal + Merkle tree + tiles + signed checkpoints.
 *
 * Threads:
 *  - callers of log_append() hash their own entries (leaf hashes do not
 *    depend on the index, so hashing scales with the callers), queue the
 *    batch and sleep;
 *  - the sequencer takes every queued batch at once, writes them with a
 *    single journal_append() (one write, one fdatasync: group commit), hands
 *    the new leaves to the checkpointer and wakes the callers;
 *  - the checkpointer, once the oldest unsigned acknowledged entry is an
 *    interval old (or sooner when many wait, or the sequencer waits for
 *    it), extends the tiles with the new leaves, writes them durably, signs
 *    a checkpoint, stores it under DIR/checkpoints/ and publishes it as
 *    DIR/log/checkpoint.
 *
 * Invariants:
 *  1. log_append() returns LS_OK only when its entries are durable in the
 *     journal (journal.h invariant 2); indexes are dense and ordered.
 *  2. A checkpoint is published only after every tile it needs is durable,
 *     and is stored in DIR/checkpoints/ before DIR/log/checkpoint.
 *  3. The queue holds at most queue_max_bytes; beyond that appends are
 *     refused with LS_BUSY instead of waiting (bounded memory).
 *  4. After the journal fails (LS_FAILED/LS_IO) every append fails until
 *     the log is reopened.
 *  5. Lock order: cp_lock (checkpoint creation) before mu (queue and state).
 *  6. The unsigned window (size - latest_size) grows past max_unsigned only
 *     by one batch taken alone, and no round starts while it is full or its
 *     oldest entry is max_unsigned_ms old, unless the log is closing (the
 *     close signs a checkpoint at once).
 */
#include "store/log.h"
#include "store/journal.h"
#include "store/sealer.h"
#include "store/signer.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "store/cpindex.h"
#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"
#include "core/merkle.h"
#include "store/tiles.h"

#define DEFAULT_QUEUE_MAX (64u << 20)
#define MAX_ROUND_BYTES (16u << 20) /* one group commit writes at most this much */
#define REBUILD_FLUSH_EVERY 65536   /* bound memory when tiles are rebuilt */
#define DEFAULT_INTERVAL_MS 500
#define DEFAULT_MAX_UNSIGNED 65536
#define DEFAULT_MAX_UNSIGNED_MS 1000
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

const double log_sync_bounds[LOG_SYNC_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

static void stats_commit(struct log_stats *st, double secs, uint64_t entries, uint64_t bytes,
			 int ok)
{
	int i;

	for (i = 0; i < LOG_SYNC_BUCKETS && secs > log_sync_bounds[i]; i++)
		;
	if (i < LOG_SYNC_BUCKETS)
		st->sync_buckets[i]++;
	st->sync_count++;
	st->sync_seconds += secs;
	if (ok) {
		st->commits++;
		st->entries += entries;
		st->bytes += bytes;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Absolute CLOCK_MONOTONIC deadline for the condition variables. */
static struct timespec deadline_ns(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000u),
			       .tv_nsec = (long)(t % 1000000000u) };
	return ts;
}

/* When the oldest unsigned entry was acknowledged; 0: none (under mu). */
static uint64_t oldest_unsigned(const struct log *l)
{
	return l->t_taken ? l->t_taken : l->t_fresh;
}

/* Invariant 6: no more acknowledgements until a checkpoint (under mu). */
static int window_full(const struct log *l, uint64_t now)
{
	uint64_t t = oldest_unsigned(l);

	return l->size - l->latest_size >= l->max_unsigned ||
	       (t && now - t >= l->max_unsigned_ns) || sealer_behind(l->sealer, l->size);
}

static void fresh_release(struct fresh *f)
{
	free(f->hashes);
	memset(f, 0, sizeof(*f));
}

#define FRESH_KEEP ((size_t)4 << 20)	/* hashes: 131072 leaves */

static ls_rc fresh_add(struct fresh *f, const uint8_t hash[LS_HASH_LEN])
{
	if (f->count == f->hcap) {
		size_t cap = f->hcap ? f->hcap * 2 : 1024;
		uint8_t *h = realloc(f->hashes, cap * LS_HASH_LEN);

		if (!h)
			return LS_NOMEM;
		f->hashes = h;
		f->hcap = cap;
	}
	memcpy(f->hashes + f->count++ * LS_HASH_LEN, hash, LS_HASH_LEN);
	return LS_OK;
}

static void path_join(char *out, size_t cap, const char *a, const char *b)
{
	snprintf(out, cap, "%s/%s", a, b);
}

static ls_rc load_keys(struct log *l, const struct signer_spec *spec, struct ls_err *err)
{
	ls_rc rc = signer_load(l->dir, spec, &l->signer, &l->ext, err);

	if (rc == LS_OK)
		note_signer_verifier(&l->signer, &l->verifier);
	return rc;
}

/* Store a signed note as the checkpoint of `size`: history first, its line
 * in checkpoints.index, then the published DIR/log/checkpoint (invariant 2),
 * so that everything published is indexed. */
static ls_rc store_checkpoint(struct log *l, const char *note, uint64_t size, struct ls_err *err)
{
	char path[PATH_MAX];
	uint8_t root[LS_HASH_LEN];
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/%020llu", l->cpdir, (unsigned long long)size);
	rc = fs_write_file(path, note, strlen(note), 0644, 0, err);
	if (rc != LS_OK)
		return rc;
	/* The same size again (signed before a crash, never published): its
	 * line is there, and Ed25519 signs the same body to the same note. */
	if (size != l->cp_indexed) {
		tiles_writer_root(l->tw, root);
		rc = cpindex_append(l->dir, l->cpkey, l->cp_indexed, size, root, err);
		if (rc != LS_OK)
			return rc;
		l->cp_indexed = size;
	}
	return tiles_write_checkpoint(l->logdir, note, strlen(note), err);
}

static ls_rc sign_current(struct log *l, char **note_out, struct ls_err *err)
{
	struct checkpoint cp;
	char body[NOTE_MAX_NAME + 128];
	ls_rc rc;

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", l->signer.name);
	cp.size = tiles_writer_size(l->tw);
	tiles_writer_root(l->tw, cp.root);
	rc = checkpoint_format(&cp, body, sizeof(body));
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot format checkpoint");
	return note_sign(&l->signer, body, strlen(body), note_out, err);
}

/* Tiles are durable, now sign and publish (caller holds cp_lock). */
static ls_rc publish(struct log *l, struct ls_err *err)
{
	char *note = NULL;
	uint64_t size = tiles_writer_size(l->tw);
	ls_rc rc;

	rc = tiles_writer_flush(l->tw, err);
	if (rc != LS_OK)
		return rc;
	rc = sign_current(l, &note, err);
	if (rc != LS_OK)
		return rc;
	rc = store_checkpoint(l, note, size, err);
	if (rc != LS_OK) {
		free(note);
		return rc;
	}
	pthread_mutex_lock(&l->mu);
	free(l->latest_note);
	l->latest_note = note;
	l->latest_size = size;
	/* Every leaf a round took is in the tiles, so now signed. */
	if (l->t_taken) {
		double age = (double)(now_ns() - l->t_taken) / 1e9;

		if (age > l->stats.unsigned_age_max)
			l->stats.unsigned_age_max = age;
		l->t_taken = 0;
	}
	pthread_cond_broadcast(&l->room_cv);
	pthread_mutex_unlock(&l->mu);
	sealer_signed(l->sealer, size);
	return LS_OK;
}

static ls_rc replay(struct log *l, uint64_t from, uint64_t end, struct ls_err *err);

/*
 * After a failed flush the tiles writer is stuck (retrying a failed fsync
 * is unsafe): start a new one from the last published checkpoint and replay
 * the journal up to `target`, the size the lost writer had reached.  If that
 * fails too, the next checkpoint round tries again.
 */
static void reset_tiles(struct log *l, uint64_t target)
{
	tiles_writer_free(l->tw);
	l->tw = NULL;
	l->cp_failures++;
	if (tiles_writer_open(l->logdir, l->latest_size, &l->tw, NULL) != LS_OK ||
	    replay(l, l->latest_size, target, NULL) != LS_OK) {
		tiles_writer_free(l->tw);
		l->tw = NULL;
		l->tw_behind = target;
	}
}

ls_rc log_checkpoint(struct log *l, struct ls_err *err)
{
	struct fresh f;
	uint64_t target;
	size_t appended;
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&l->cp_lock);
	if (!l->tw) {
		/* An earlier reset failed: try it again before going on. */
		reset_tiles(l, l->tw_behind);
		if (!l->tw) {
			pthread_mutex_unlock(&l->cp_lock);
			return ls_err_set(err, LS_IO, "the tiles cannot be written; see the last error");
		}
	}
	pthread_mutex_lock(&l->mu);
	f = l->fresh;
	l->fresh = l->spare;
	memset(&l->spare, 0, sizeof(l->spare));
	/* A failed round leaves its leaves unsigned: keep the older time. */
	if (!l->t_taken)
		l->t_taken = l->t_fresh;
	l->t_fresh = 0;
	pthread_mutex_unlock(&l->mu);

	for (appended = 0; appended < f.count && rc == LS_OK; appended++)
		rc = tiles_writer_append(l->tw, f.hashes + appended * LS_HASH_LEN, NULL, 0);
	if (rc != LS_OK)
		appended--;
	target = tiles_writer_size(l->tw) + (f.count - appended);
	f.count = 0;
	pthread_mutex_lock(&l->mu);
	if (!l->spare.hashes && f.hcap * LS_HASH_LEN <= FRESH_KEEP) {
		l->spare = f;
		memset(&f, 0, sizeof(f));
	}
	pthread_mutex_unlock(&l->mu);
	fresh_release(&f);
	if (rc != LS_OK) {
		ls_err_set(err, rc, "extending tiles: %s", ls_rc_name(rc));
	} else if (tiles_writer_size(l->tw) != l->latest_size) {
		rc = publish(l, err);
	}
	if (rc != LS_OK)
		reset_tiles(l, target);
	pthread_mutex_unlock(&l->cp_lock);
	/* Without threads the caller seals (sealer.h: never the sequencer). */
	if (rc == LS_OK && !l->threads)
		rc = sealer_run(l->sealer, l->latest_size, err);
	return rc;
}

static void *checkpointer_main(void *arg)
{
	struct log *l = arg;
	uint64_t retry_at = 0;	/* after a failed round: not before this */
	uint64_t took = 0;	/* how long the last round took */

	pthread_setname_np(pthread_self(), "ls-checkpoint");
	pthread_mutex_lock(&l->mu);
	while (!l->stopping) {
		uint64_t now = now_ns(), t = oldest_unsigned(l), due;
		struct timespec ts;

		/* Sign once the oldest unsigned entry is an interval old, less
		 * what the last round took (so that it is signed about an
		 * interval after it was acknowledged, under load too), or at
		 * once when half the window is used or the sequencer waits
		 * for room; a failed round is retried an interval later.
		 * Otherwise sleep until that is due, at most a second
		 * (sequence_round() wakes us when leaves arrive). */
		if ((l->fresh.count == 0 && !l->t_taken) || l->test_hold)
			due = UINT64_MAX;
		else if (l->seq_blocked || l->size - l->latest_size >= (l->max_unsigned + 1) / 2)
			due = now;
		else if (t && took < l->interval_ms * 1000000u)
			due = t + l->interval_ms * 1000000u - took;
		else
			due = now;
		if (due < retry_at)
			due = retry_at;
		if (due > now) {
			if (due - now > 1000000000u)
				due = now + (l->test_hold ? 10000000u : 1000000000u);
			ts = deadline_ns(due);
			pthread_cond_timedwait(&l->cp_cv, &l->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&l->mu);
		/* A failure here leaves the last good checkpoint in place; the
		 * leaves stay in the journal and the next round retries from
		 * the tiles writer's state. */
		{
			ls_rc crc = log_checkpoint(l, NULL);

			retry_at = crc == LS_OK ? 0 : now_ns() + l->interval_ms * 1000000u;
			took = retry_at ? 0 : now_ns() - now;
			pthread_mutex_lock(&l->mu);
			/* A full disk cannot be waited out by the writers: the
			 * sequencer refuses at once with LS_NOSPACE (507)
			 * while it lasts, instead of 503 after the give-up. */
			l->cp_nospace = crc == LS_NOSPACE;
			if (l->cp_nospace)
				pthread_cond_broadcast(&l->room_cv);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* One round of group commit: every queued batch, in one journal append. */
static void sequence_round(struct log *l, struct pending *list)
{
	struct iovec *iov = NULL;
	uint64_t *offs;
	size_t total = 0, k = 0;
	uint64_t first = 0, bytes = 0;
	struct timespec t0, t1;
	double secs = -1;
	struct ls_err err;
	ls_rc rc;

	for (struct pending *p = list; p; p = p->next)
		total += p->n;
	/* The iovecs, then each record's offset in its segment (for the
	 * observer: the index keeps it, and need not read the journal back). */
	iov = calloc(total ? total : 1, sizeof(*iov) + sizeof(*offs));
	offs = iov ? (uint64_t *)(iov + (total ? total : 1)) : NULL;
	if (!iov) {
		rc = LS_NOMEM;
	} else {
		for (struct pending *p = list; p; p = p->next) {
			memcpy(iov + k, p->entries, p->n * sizeof(*iov));
			k += p->n;
		}
		for (size_t i = 0; i < total; i++)
			bytes += iov[i].iov_len;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = journal_append_at(l->journal, iov, total, &first, offs, &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}

	pthread_mutex_lock(&l->mu);
	if (secs >= 0)
		stats_commit(&l->stats, secs, total, bytes, rc == LS_OK);
	if (rc == LS_OK) {
		size_t had = l->fresh.count;

		/* Leaf hashes were computed by the callers, outside the lock. */
		for (struct pending *p = list; p && rc == LS_OK; p = p->next)
			for (size_t i = 0; i < p->n && rc == LS_OK; i++)
				rc = fresh_add(&l->fresh, p->hashes[i]);
		/* Durable but not handed to the checkpointer: the tiles would
		 * miss leaves, so no further checkpoint may be signed. */
		if (rc != LS_OK)
			l->failed = 1;
		rc = LS_OK;
		l->size = first + total;
		if (!l->t_fresh)
			l->t_fresh = now_ns();
		if (l->size - l->latest_size > l->stats.unsigned_entries_max)
			l->stats.unsigned_entries_max = l->size - l->latest_size;
		if (l->threads && (had == 0 || l->size - l->latest_size >= (l->max_unsigned + 1) / 2))
			pthread_cond_signal(&l->cp_cv);
		uint64_t next = first;
		for (struct pending *p = list; p; p = p->next) {
			p->first = next;
			next += p->n;
		}
	} else if (rc == LS_FAILED || rc == LS_IO) {
		l->failed = 1;
	}
	for (struct pending *p = list; p; p = p->next) {
		p->rc = rc;
		l->queued_bytes -= p->bytes;
	}
	pthread_mutex_unlock(&l->mu);

	if (rc == LS_OK && l->observer)
		l->observer(l->observer_ctx, first, iov, offs, total);
	free(iov);

	pthread_mutex_lock(&l->mu);
	for (struct pending *p = list, *next; p; p = next) {
		next = p->next;
		p->done = 1;
	}
	pthread_cond_broadcast(&l->done_cv);
	pthread_mutex_unlock(&l->mu);
}

/* Back-pressure (invariant 6), under mu: wake the checkpointer and wait
 * until it publishes, or the log closes.  Batches that waited
 * BACKPRESSURE_GIVE_UP_MS fail with LS_BUSY, unwritten, so that a
 * checkpointer that cannot sign stops the writers with an error instead
 * of holding them; when its last round failed for want of disk space they
 * fail at once with LS_NOSPACE (the disk is full: waiting does not help,
 * and 507 tells the writer why). */
static void wait_for_room(struct log *l)
{
	uint64_t t0 = now_ns(), give_up = t0 + BACKPRESSURE_GIVE_UP_MS * 1000000ull, now;
	struct timespec ts;

	l->seq_blocked = 1;
	l->stats.backpressure_waits++;
	l->stats.sealer_waits += sealer_behind(l->sealer, l->size);
	pthread_cond_signal(&l->cp_cv);
	while (!l->stopping && l->head && window_full(l, now = now_ns())) {
		if (now >= give_up || l->cp_nospace) {
			for (struct pending *p = l->head; p; p = p->next) {
				p->rc = l->cp_nospace ? LS_NOSPACE : LS_BUSY;
				p->done = 1;
				l->queued_bytes -= p->bytes;
			}
			l->head = l->tail = NULL;
			pthread_cond_broadcast(&l->done_cv);
			break;
		}
		ts = deadline_ns(now + 100000000u < give_up ? now + 100000000u : give_up);
		pthread_cond_timedwait(&l->room_cv, &l->mu, &ts);
	}
	l->seq_blocked = 0;
	l->stats.backpressure_seconds += (double)(now_ns() - t0) / 1e9;
}

/* In the thread that appends (the sequencer, or the only one). */
static void rotate_now(struct log *l, struct rotation *rot)
{
	rot->old_id = journal_key_id(l->journal);
	rot->rc = journal_rotate(l->journal, &rot->err);
	rot->new_id = journal_key_id(l->journal);
}

static void *sequencer_main(void *arg)
{
	struct log *l = arg;

	pthread_setname_np(pthread_self(), "ls-sequencer");
	pthread_mutex_lock(&l->mu);
	for (;;) {
		struct pending *list, *last;
		size_t bytes;
		uint64_t room, entries;

		while (!l->head && !l->stopping && !l->rot)
			pthread_cond_wait(&l->work_cv, &l->mu);
		if (l->rot) {
			struct rotation *rot = l->rot;

			pthread_mutex_unlock(&l->mu);
			rotate_now(l, rot);
			pthread_mutex_lock(&l->mu);
			rot->done = 1;
			l->rot = NULL;
			pthread_cond_broadcast(&l->done_cv);
			continue;
		}
		if (!l->head)
			break;
		if (!l->stopping && window_full(l, now_ns())) {
			wait_for_room(l);
			continue;
		}
		/* Take batches up to MAX_ROUND_BYTES and what the unsigned
		 * window has room for (at least one). */
		room = l->stopping ? UINT64_MAX : l->max_unsigned - (l->size - l->latest_size);
		list = last = l->head;
		bytes = last->bytes;
		entries = last->n;
		while (last->next && bytes + last->next->bytes <= MAX_ROUND_BYTES &&
		       entries + last->next->n <= room) {
			last = last->next;
			bytes += last->bytes;
			entries += last->n;
		}
		l->head = last->next;
		if (!l->head)
			l->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&l->mu);
		sequence_round(l, list);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

ls_rc log_append(struct log *l, const struct iovec *entries, size_t n, uint64_t *first,
		 struct ls_err *err)
{
	return log_append_ordered(l, entries, n, first, NULL, NULL, err);
}

/* Check, hash and enqueue a batch described by p (entries, n set by the
 * caller); enqueued(ctx), when given, is called exactly once.  LS_OK: the
 * batch is queued (or, single-threaded, already sequenced) and p->done will
 * be set under l->mu.  Otherwise nothing was queued and p owns nothing. */
static ls_rc enqueue(struct log *l, struct pending *p, void (*enqueued)(void *ctx), void *ctx,
		     struct ls_err *err)
{
	const struct iovec *entries = p->entries;
	size_t n = p->n, bytes = 0;
	ls_rc rc;

	if (n == 0) {
		if (enqueued)
			enqueued(ctx);
		return ls_err_set(err, LS_INVALID, "empty batch");
	}
	for (size_t i = 0; i < n; i++) {
		rc = LS_OK;
		if (entries[i].iov_len == 0)
			rc = ls_err_set(err, LS_INVALID, "entry %zu is empty", i);
		else if (entries[i].iov_len > JOURNAL_MAX_ENTRY)
			rc = ls_err_set(err, LS_LIMIT, "entry %zu is larger than %u bytes", i,
					JOURNAL_MAX_ENTRY);
		if (rc != LS_OK) {
			if (enqueued)
				enqueued(ctx);
			return rc;
		}
		bytes += entries[i].iov_len + JOURNAL_REC_HEADER;
	}
	/* The journal's batch limit, counted as if sealed; a round merges
	 * batches only up to MAX_ROUND_BYTES, far below it. */
	if (bytes + n * LS_AEAD_OVERHEAD > JOURNAL_MAX_BATCH) {
		if (enqueued)
			enqueued(ctx);
		return ls_err_set(err, LS_LIMIT, "a batch of %zu entries (%zu bytes) is larger than "
				  "the journal's batch limit (%u bytes)", n, bytes, JOURNAL_MAX_BATCH);
	}
	p->bytes = bytes;
	/* Hash here, in the caller's thread: leaf hashes do not depend on the
	 * index, so hashing scales with the callers instead of serialising in
	 * the sequencer. */
	p->hashes = malloc(n * sizeof(*p->hashes));
	if (!p->hashes) {
		if (enqueued)
			enqueued(ctx);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		merkle_leaf_hash(entries[i].iov_base, entries[i].iov_len, p->hashes[i]);

	pthread_mutex_lock(&l->mu);
	rc = LS_OK;
	if (l->failed)
		rc = ls_err_set(err, LS_FAILED, "the journal failed; reopen the log");
	else if (l->stopping)
		rc = ls_err_set(err, LS_BUSY, "the log is closing");
	else if (l->queued_bytes && l->queued_bytes + bytes > l->queue_max)
		rc = ls_err_set(err, LS_BUSY, "the sequencer is saturated");
	if (rc != LS_OK) {
		pthread_mutex_unlock(&l->mu);
		free(p->hashes);
		p->hashes = NULL;
		if (enqueued)
			enqueued(ctx);
		return rc;
	}
	l->queued_bytes += bytes;
	if (l->tail)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	/* The queue is FIFO: the order of enqueueing is the order of indexes. */
	if (l->threads) {
		if (enqueued)
			enqueued(ctx);
		pthread_cond_signal(&l->work_cv);
		pthread_mutex_unlock(&l->mu);
	} else {
		/* Single-threaded use (tests): sequence in the caller. */
		l->head = l->tail = NULL;
		pthread_mutex_unlock(&l->mu);
		sequence_round(l, p);
		if (enqueued)
			enqueued(ctx);
	}
	return LS_OK;
}

/* Wait for an enqueued batch and release what enqueue() took. */
static ls_rc wait_done(struct log *l, struct pending *p, uint64_t *first, struct ls_err *err)
{
	ls_rc rc;

	pthread_mutex_lock(&l->mu);
	while (!p->done)
		pthread_cond_wait(&l->done_cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
	free(p->hashes);
	p->hashes = NULL;
	rc = p->rc;
	if (rc == LS_OK)
		*first = p->first;
	else if (rc == LS_NOSPACE)
		ls_err_set(err, rc, "no space left on the journal's disk; nothing of the batch was kept");
	else if (rc == LS_BUSY)
		ls_err_set(err, rc, "the checkpointer or the sealer is behind (no room for %d ms); "
			   "nothing of the batch was written", BACKPRESSURE_GIVE_UP_MS);
	else
		ls_err_set(err, rc, "journal append failed: %s", ls_rc_name(rc));
	return rc;
}

ls_rc log_append_ordered(struct log *l, const struct iovec *entries, size_t n, uint64_t *first,
			 void (*enqueued)(void *ctx), void *ctx, struct ls_err *err)
{
	struct pending p;
	ls_rc rc;

	memset(&p, 0, sizeof(p));
	p.entries = entries;
	p.n = n;
	rc = enqueue(l, &p, enqueued, ctx, err);
	if (rc != LS_OK)
		return rc;
	return wait_done(l, &p, first, err);
}

struct log_ticket {
	struct pending p;
};

ls_rc log_append_start(struct log *l, const struct iovec *entries, size_t n,
		       struct log_ticket **out, struct ls_err *err)
{
	struct log_ticket *t = calloc(1, sizeof(*t));
	ls_rc rc;

	*out = NULL;
	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	t->p.entries = entries;
	t->p.n = n;
	rc = enqueue(l, &t->p, NULL, NULL, err);
	if (rc != LS_OK) {
		free(t);
		return rc;
	}
	*out = t;
	return LS_OK;
}

ls_rc log_append_finish(struct log *l, struct log_ticket *t, uint64_t *first, struct ls_err *err)
{
	ls_rc rc = wait_done(l, &t->p, first, err);

	free(t);
	return rc;
}

uint64_t log_size(struct log *l)
{
	uint64_t s;

	pthread_mutex_lock(&l->mu);
	s = l->size;
	pthread_mutex_unlock(&l->mu);
	return s;
}

int log_failed(struct log *l)
{
	int f;

	pthread_mutex_lock(&l->mu);
	f = l->failed;
	pthread_mutex_unlock(&l->mu);
	return f;
}

ls_rc log_latest_checkpoint(struct log *l, char **note, uint64_t *size)
{
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&l->mu);
	if (!l->latest_note)
		rc = LS_NOTFOUND;
	else if (!(*note = strdup(l->latest_note)))
		rc = LS_NOMEM;
	else
		*size = l->latest_size;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

ls_rc log_publish_cosigned(struct log *l, uint64_t size, const char *note, size_t n,
			   struct ls_err *err)
{
	size_t tlen = 0;
	char *copy = NULL;
	ls_rc rc = note_open(note, n, &l->verifier, 1, &tlen, err); /* the log's, signed by it */

	pthread_mutex_lock(&l->cp_lock);
	pthread_mutex_lock(&l->mu);
	if (rc == LS_OK && (!l->latest_note || l->latest_size != size ||
			    strncmp(l->latest_note, note, tlen + 1) != 0)) /* same text? */
		rc = ls_err_set(err, LS_NOTFOUND, "no longer the latest checkpoint");
	pthread_mutex_unlock(&l->mu);
	if (rc == LS_OK && (rc = tiles_write_checkpoint(l->logdir, note, n, err)) == LS_OK &&
	    (copy = strndup(note, n)) != NULL) {
		pthread_mutex_lock(&l->mu);
		free(l->latest_note);
		l->latest_note = copy;
		pthread_mutex_unlock(&l->mu);
	}
	pthread_mutex_unlock(&l->cp_lock);
	return rc;
}

const struct note_verifier *log_verifier(const struct log *l)
{
	return &l->verifier;
}

ls_rc log_sign_note(struct log *l, const char *text, size_t n, char **note,
		    struct ls_err *err)
{
	return note_sign(&l->signer, text, n, note, err);
}

const char *log_origin(const struct log *l)
{
	return l->signer.name;
}

const char *log_dir(const struct log *l)
{
	return l->dir;
}

ls_rc log_rotate_key(struct log *l, struct ls_err *err)
{
	return log_rotate_key_ids(l, NULL, NULL, err);
}

ls_rc log_rotate_key_ids(struct log *l, uint32_t *old_id, uint32_t *new_id, struct ls_err *err)
{
	struct rotation rot;

	memset(&rot, 0, sizeof(rot));
	if (!l->threads) {
		rotate_now(l, &rot);
	} else {
		pthread_mutex_lock(&l->mu);
		/* One at a time: a second caller waits for the first's turn. */
		while (l->rot && !l->stopping)
			pthread_cond_wait(&l->done_cv, &l->mu);
		if (l->stopping || l->failed) {
			pthread_mutex_unlock(&l->mu);
			return ls_err_set(err, l->failed ? LS_FAILED : LS_BUSY,
					  l->failed ? "the journal failed; reopen the log"
						    : "the log is closing");
		}
		l->rot = &rot;
		pthread_cond_signal(&l->work_cv);
		while (!rot.done)
			pthread_cond_wait(&l->done_cv, &l->mu);
		pthread_mutex_unlock(&l->mu);
	}
	if (rot.rc != LS_OK)
		return ls_err_set(err, rot.rc, "%s", rot.err.msg);
	if (old_id)
		*old_id = rot.old_id;
	if (new_id)
		*new_id = rot.new_id;
	return LS_OK;
}

void log_get_stats(struct log *l, struct log_stats *out)
{
	struct sealer_stats ss;
	uint64_t t;

	sealer_get_stats(l->sealer, &ss);
	pthread_mutex_lock(&l->mu);
	*out = l->stats;
	out->unsigned_entries = l->size - l->latest_size;
	t = oldest_unsigned(l);
	out->unsigned_age = t ? (double)(now_ns() - t) / 1e9 : 0;
	if (out->unsigned_age > out->unsigned_age_max)
		out->unsigned_age_max = out->unsigned_age;
	pthread_mutex_unlock(&l->mu);
	out->sealed_segments = ss.segments;
	out->sealed_end = ss.end;
	out->seal_seconds = ss.seconds;
}

void log_test_hold_checkpoints(struct log *l, int hold)
{
	pthread_mutex_lock(&l->mu);
	l->test_hold = hold;
	pthread_cond_broadcast(&l->cp_cv);
	pthread_mutex_unlock(&l->mu);
}

void log_test_fail_next(struct log *l, int op, int errnum)
{
	/* Under mu: the sequencer takes its next batch under it too, so the
	 * fault is in place before that batch is written. */
	pthread_mutex_lock(&l->mu);
	journal_test_fail_next(l->journal, op, errnum);
	pthread_mutex_unlock(&l->mu);
}

void log_set_observer(struct log *l, log_observer_fn fn, void *ctx)
{
	pthread_mutex_lock(&l->mu);
	l->observer = fn;
	l->observer_ctx = ctx;
	pthread_mutex_unlock(&l->mu);
}

/* ---------------------------------------------------------------- open --- */

/* The published checkpoint, checked against our own key. */
static ls_rc read_published(struct log *l, struct checkpoint *cp, char **note_out,
			    struct ls_err *err)
{
	char path[PATH_MAX], *note = NULL;
	size_t len, text_len;
	ls_rc rc;

	path_join(path, sizeof(path), l->logdir, "checkpoint");
	rc = fs_read_file(path, NOTE_MAX_SIZE, &note, &len, err);
	if (rc != LS_OK)
		return rc;
	rc = note_open(note, len, &l->verifier, 1, &text_len, err);
	if (rc == LS_OK)
		rc = checkpoint_parse(note, text_len, cp, err);
	if (rc == LS_OK && strcmp(cp->origin, l->signer.name) != 0)
		rc = ls_err_set(err, LS_TAMPERED, "%s: origin %s is not this log's (%s)", path,
				cp->origin, l->signer.name);
	if (rc != LS_OK) {
		free(note);
		return rc;
	}
	*note_out = note;
	return LS_OK;
}

/* Largest size among DIR/checkpoints/<size> (names only: verify checks them). */
static uint64_t largest_stored_checkpoint(const char *cpdir)
{
	struct dirent *de;
	uint64_t best = 0;
	DIR *d = opendir(cpdir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		unsigned long long v;

		if (strlen(de->d_name) != 20)
			continue;
		errno = 0;
		v = strtoull(de->d_name, &end, 10);
		if (errno == 0 && *end == 0 && v > best)
			best = v;
	}
	closedir(d);
	return best;
}

/*
 * Load checkpoints.index (cpindex.h) and bring it level with
 * DIR/checkpoints/: a crash between a checkpoint's file and its line leaves
 * one signed checkpoint above the last line, which gets its line now.  More
 * than one is not what a crash leaves: lines were removed.
 */
static ls_rc cpindex_sync(struct log *l, struct ls_err *err)
{
	struct cpindex_ent *v = NULL;
	struct dirent *de;
	struct checkpoint cp;
	uint64_t above = 0, last;
	size_t n = 0, count = 0, len, text_len;
	char path[PATH_MAX + 32], *note = NULL;
	DIR *d;
	ls_rc rc;

	rc = cfgseal_key(l->dir, CFGSEAL_CHECKPOINTS, l->cpkey, err);
	if (rc != LS_OK)
		return rc;
	rc = cpindex_load(l->dir, l->cpkey, 1, &v, &n, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_TAMPERED,
				  "%s/" CPINDEX_FILE " is missing (a data directory made before "
				  "checkpoints were indexed: stop the server and run `logseal keys "
				  "seal-config --data %s`)",
				  l->dir, l->dir);
	if (rc != LS_OK)
		return rc;
	last = v[n - 1].size;
	free(v);
	d = opendir(l->cpdir);
	if (!d)
		return ls_err_set(err, LS_IO, "%s: %s", l->cpdir, strerror(errno));
	while ((de = readdir(d))) {
		unsigned long long s;
		char *end;

		if (strlen(de->d_name) != 20)
			continue;
		errno = 0;
		s = strtoull(de->d_name, &end, 10);
		if (errno == 0 && *end == 0 && s > last) {
			count++;
			above = s;
		}
	}
	closedir(d);
	l->cp_indexed = last;
	if (count == 0)
		return LS_OK;
	if (count > 1)
		return ls_err_set(err, LS_TAMPERED,
				  "%s: %zu signed checkpoints above size %llu are not in %s/" CPINDEX_FILE
				  " (its lines were removed); run `logseal verify --data %s`",
				  l->cpdir, count, (unsigned long long)last, l->dir, l->dir);
	snprintf(path, sizeof(path), "%s/%020llu", l->cpdir, (unsigned long long)above);
	rc = fs_read_file(path, NOTE_MAX_SIZE, &note, &len, err);
	if (rc == LS_OK)
		rc = note_open(note, len, &l->verifier, 1, &text_len, err);
	if (rc == LS_OK)
		rc = checkpoint_parse(note, text_len, &cp, err);
	free(note);
	if (rc == LS_OK && cp.size != above)
		rc = ls_err_set(err, LS_TAMPERED, "%s holds the checkpoint of size %llu", path,
				(unsigned long long)cp.size);
	if (rc != LS_OK)
		return ls_err_set(err, rc == LS_INVALID ? LS_TAMPERED : rc, "%s: %s", path,
				  err ? err->msg : "");
	rc = cpindex_append(l->dir, l->cpkey, last, above, cp.root, err);
	if (rc == LS_OK)
		l->cp_indexed = above;
	return rc;
}

/* Feed journal records [from, end) into the tiles writer. */
static ls_rc replay(struct log *l, uint64_t from, uint64_t end, struct ls_err *err)
{
	char jdir[PATH_MAX];
	struct store_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t idx, n = 0;
	ls_rc rc;

	if (from >= end)
		return LS_OK;
	path_join(jdir, sizeof(jdir), l->dir, "journal");
	/* Sealed segments, then the journal: a rebuild from 0 needs both. */
	rc = store_iter_open(jdir, from, 0, &it, err);
	if (rc != LS_OK)
		return rc;
	while (from + n < end) {
		uint8_t h[LS_HASH_LEN];

		rc = store_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_OK && idx != from + n)
			rc = ls_err_set(err, LS_CORRUPT, "the log starts at %llu, not %llu (moved out "
					"by retention?)", (unsigned long long)idx,
					(unsigned long long)(from + n));
		if (rc == LS_NOTFOUND)
			rc = ls_err_set(err, LS_CORRUPT, "journal ends at %llu, expected %llu",
					(unsigned long long)(from + n), (unsigned long long)end);
		if (rc != LS_OK)
			break;
		merkle_leaf_hash(data, len, h);
		rc = tiles_writer_append(l->tw, h, NULL, 0);
		if (rc != LS_OK)
			break;
		if (++n % REBUILD_FLUSH_EVERY == 0) {
			rc = tiles_writer_flush(l->tw, err);
			if (rc != LS_OK)
				break;
		}
	}
	store_iter_free(it);
	return rc;
}

/* Bring the tiles to the journal's size, from the published checkpoint when
 * the tiles on disk agree with it, else from scratch. */
static ls_rc catch_up(struct log *l, const struct checkpoint *cp, struct ls_err *err)
{
	uint8_t root[LS_HASH_LEN];
	uint64_t from = cp->size;
	ls_rc rc;

	rc = tiles_writer_open(l->logdir, cp->size, &l->tw, NULL);
	if (rc == LS_OK) {
		tiles_writer_root(l->tw, root);
		if (!ls_ct_equal(root, cp->root, LS_HASH_LEN)) {
			tiles_writer_free(l->tw);
			l->tw = NULL;
			rc = LS_TAMPERED;
		}
	}
	if (rc != LS_OK) {
		from = 0;
		rc = tiles_writer_open(l->logdir, 0, &l->tw, err);
		if (rc != LS_OK)
			return rc;
	}
	if (from == 0 && cp->size > 0) {
		/* Rebuilt from scratch: the journal must reproduce the signed root. */
		rc = replay(l, 0, cp->size, err);
		if (rc != LS_OK)
			return rc;
		tiles_writer_root(l->tw, root);
		if (!ls_ct_equal(root, cp->root, LS_HASH_LEN))
			return ls_err_set(err, LS_TAMPERED,
					  "the journal does not reproduce the root of the signed "
					  "checkpoint of size %llu; run `logseal verify`",
					  (unsigned long long)cp->size);
		from = cp->size;
	}
	return replay(l, from, journal_size(l->journal), err);
}

/* Journal.h invariant 4 made visible: what recovery cut goes into the log
 * as an event of the server (before anything else is appended), so that
 * the signed log itself says that entries from jr->first on were cut and
 * their indexes given again. */
static ls_rc report_cut(struct log *l, const struct store_recovery *jr, struct ls_err *err)
{
	struct event_ctx ctx = { 0 };
	struct event_item it;
	struct timespec ts;
	struct iovec iov;
	uint64_t first;
	json_t *d;
	ls_rc rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ctx.received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	d = json_pack("{s:s,s:I,s:I,s:I,s:I,s:s}", "segment", jr->segment, "offset",
		      (json_int_t)jr->offset, "bytes", (json_int_t)jr->bytes, "records",
		      (json_int_t)jr->records, "first", (json_int_t)jr->first, "reason",
		      "torn tail: an unfinished last batch, never acknowledged, was cut at "
		      "recovery; its indexes are given again from first on");
	if (d && jr->records)
		json_object_set_new(d, "last", json_integer((json_int_t)jr->last));
	if (!d)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = event_internal("logseal.recovery.truncated", "logseal", NULL, "success", d, &ctx, &it);
	json_decref(d);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot build the recovery event");
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(l, &iov, 1, &first, err);
	event_item_release(&it);
	if (rc == LS_OK)
		rc = log_checkpoint(l, err);
	if (rc != LS_OK) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err && err->msg[0] ? err->msg : ls_rc_name(rc));
		ls_err_set(err, rc,
			   "recovery cut %llu bytes (%llu records from index %llu) at %s offset %llu "
			   "and cannot record that in the log: %s",
			   (unsigned long long)jr->bytes, (unsigned long long)jr->records,
			   (unsigned long long)jr->first, jr->segment, (unsigned long long)jr->offset,
			   why);
	}
	return rc;
}

/* Every cut written down and not reported yet (journal.h invariant 5):
 * this open's, and any that a process dying before its report left. */
static ls_rc report_cuts(struct log *l, const char *jdir, struct store_recovery *rec,
			 struct ls_err *err)
{
	struct store_recovery *cuts;
	size_t n;
	ls_rc rc = journal_cuts_pending(jdir, &cuts, &n, err);

	for (size_t i = 0; rc == LS_OK && i < n; i++)
		rc = report_cut(l, &cuts[i], err);
	if (rc == LS_OK && n)
		rc = journal_cuts_reported(jdir, err);
	if (rc == LS_OK && n && rec)
		*rec = cuts[n - 1];
	free(cuts);
	return rc;
}

static void log_free(struct log *l)
{
	if (!l)
		return;
	sealer_close(l->sealer);
	journal_close(l->journal);
	tiles_writer_free(l->tw);
	fresh_release(&l->fresh);
	fresh_release(&l->spare);
	free(l->latest_note);
	note_signer_wipe(&l->signer);
	signer_close(l->ext);
	ls_wipe(l->cpkey, sizeof(l->cpkey));
	free(l->dir);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->cp_lock);
	pthread_cond_destroy(&l->work_cv);
	pthread_cond_destroy(&l->done_cv);
	pthread_cond_destroy(&l->cp_cv);
	pthread_cond_destroy(&l->room_cv);
	free(l);
}

ls_rc log_open(const struct log_opts *opts, struct log **out, struct store_recovery *rec,
	       struct ls_err *err)
{
	struct journal_opts jo;
	struct store_recovery jr;
	struct checkpoint cp;
	char jdir[PATH_MAX], *note = NULL;
	struct log *l;
	uint64_t stored;
	uint32_t leaves;
	ls_rc rc;

	/* Every path below is DIR plus a short suffix: bound DIR once. */
	if (strlen(opts->dir) > PATH_MAX - 256)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = sealer_leaves(opts->segment_leaves, &leaves, err);
	if (rc != LS_OK)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l || !(l->dir = strdup(opts->dir))) {
		free(l);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->cp_lock, NULL);
	pthread_cond_init(&l->work_cv, NULL);
	pthread_cond_init(&l->done_cv, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&l->cp_cv, &ca);
		pthread_cond_init(&l->room_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	l->interval_ms = opts->checkpoint_interval_ms ? opts->checkpoint_interval_ms
						      : DEFAULT_INTERVAL_MS;
	l->max_unsigned = opts->max_unsigned_entries ? opts->max_unsigned_entries
						     : DEFAULT_MAX_UNSIGNED;
	if (opts->max_unsigned_ms)
		l->max_unsigned_ns = opts->max_unsigned_ms * 1000000u;
	else if (l->interval_ms * 2 > DEFAULT_MAX_UNSIGNED_MS)
		l->max_unsigned_ns = l->interval_ms * 2 * 1000000u;
	else
		l->max_unsigned_ns = DEFAULT_MAX_UNSIGNED_MS * 1000000ull;
	l->queue_max = opts->queue_max_bytes ? opts->queue_max_bytes : DEFAULT_QUEUE_MAX;
	path_join(l->logdir, sizeof(l->logdir), l->dir, "log");
	path_join(l->cpdir, sizeof(l->cpdir), l->dir, "checkpoints");
	path_join(jdir, sizeof(jdir), l->dir, "journal");

	if (access(jdir, F_OK) != 0) {
		log_free(l);
		return ls_err_set(err, LS_NOTFOUND, "%s holds no log (run `logseal init --data %s`)",
				  opts->dir, opts->dir);
	}
	rc = opts->old_format ? LS_OK : sealer_format_check(l->dir, err);
	if (rc == LS_OK)
		rc = load_keys(l, opts->signer, err);
	if (rc == LS_OK)
		rc = read_published(l, &cp, &note, err);
	if (rc == LS_OK)
		rc = sealer_open(l->dir, leaves, !opts->no_threads, &l->sealer, err);
	if (rc == LS_OK)
		rc = cpindex_sync(l, err);
	if (rc != LS_OK) {
		free(note);
		log_free(l);
		return rc;
	}
	l->latest_note = note;
	l->latest_size = cp.size;

	/* Never cut acknowledged, signed history (journal.h invariant 4). */
	stored = largest_stored_checkpoint(l->cpdir);
	memset(&jo, 0, sizeof(jo));
	jo.segment_size = opts->segment_size;
	jo.min_size = stored > cp.size ? stored : cp.size;
	jo.sealed = sealer_end(l->sealer);
	jo.rotate_leaves = leaves;
	memset(&jr, 0, sizeof(jr));
	rc = journal_open(jdir, &jo, &l->journal, &jr, err);
	if (rc != LS_OK) {
		log_free(l);
		return rc;
	}
	if (rec)
		*rec = jr;
	l->size = journal_size(l->journal);
	if (l->size < jo.min_size) {
		rc = ls_err_set(err, LS_CORRUPT,
				"journal holds %llu entries but a checkpoint of size %llu was signed: "
				"acknowledged entries are missing",
				(unsigned long long)l->size, (unsigned long long)jo.min_size);
		log_free(l);
		return rc;
	}
	rc = catch_up(l, &cp, err);
	if (rc == LS_OK && tiles_writer_size(l->tw) != l->latest_size) {
		pthread_mutex_lock(&l->cp_lock);
		rc = publish(l, err);
		pthread_mutex_unlock(&l->cp_lock);
	}
	if (rc == LS_OK)
		rc = report_cuts(l, jdir, rec, err);
	if (rc != LS_OK) {
		log_free(l);
		return rc;
	}
	if (!opts->no_threads) {
		l->threads = 1;
		if (pthread_create(&l->seq_thread, NULL, sequencer_main, l) != 0) {
			log_free(l);
			return ls_err_set(err, LS_NOMEM, "cannot start the sequencer thread");
		}
		if (pthread_create(&l->cp_thread, NULL, checkpointer_main, l) != 0) {
			pthread_mutex_lock(&l->mu);
			l->stopping = 1;
			pthread_cond_broadcast(&l->work_cv);
			pthread_mutex_unlock(&l->mu);
			pthread_join(l->seq_thread, NULL);
			log_free(l);
			return ls_err_set(err, LS_NOMEM, "cannot start the checkpointer thread");
		}
	}
	sealer_signed(l->sealer, l->latest_size);
	*out = l;
	return LS_OK;
}

ls_rc log_close(struct log *l, struct ls_err *err)
{
	ls_rc rc = LS_OK;

	if (!l)
		return LS_OK;
	if (l->threads) {
		/* The sequencer drains the queue before it exits. */
		pthread_mutex_lock(&l->mu);
		l->stopping = 1;
		pthread_cond_broadcast(&l->work_cv);
		pthread_cond_broadcast(&l->cp_cv);
		pthread_cond_broadcast(&l->room_cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->seq_thread, NULL);
		pthread_join(l->cp_thread, NULL);
	}
	if (!l->failed)
		rc = log_checkpoint(l, err);
	if (rc == LS_OK && !l->failed)
		rc = sealer_run(l->sealer, l->latest_size, err);
	log_free(l);
	return rc;
}

/* ---------------------------------------------------------------- init --- */

ls_rc log_init(const char *dir, const char *origin, struct ls_err *err)
{
	return log_init_signer(dir, origin, NULL, err);
}

ls_rc log_init_signer(const char *dir, const char *origin, const struct signer_spec *spec,
		      struct ls_err *err)
{
	char path[PATH_MAX], buf[1024];
	struct note_signer s;
	struct signer *ext = NULL;
	struct journal *j = NULL;
	struct tiles_writer *tw = NULL;
	struct checkpoint cp;
	char *note = NULL;
	ls_rc rc;

	if (strlen(dir) > PATH_MAX - 256)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	path_join(path, sizeof(path), dir, "journal");
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already holds a log; refusing to overwrite it", dir);
	path_join(path, sizeof(path), dir, "log/checkpoint");
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already holds a log; refusing to overwrite it", dir);

	rc = signer_create(dir, origin, spec, &s, &ext, err);
	if (rc != LS_OK)
		return rc;
	path_join(path, sizeof(path), dir, "checkpoints");
	rc = fs_mkdirs(path, 0755, err);
	if (rc != LS_OK)
		goto out;
	path_join(path, sizeof(path), dir, "log/tile");
	rc = fs_mkdirs(path, 0755, err);
	if (rc != LS_OK)
		goto out;
	path_join(path, sizeof(path), dir, "journal");
	rc = journal_open(path, NULL, &j, NULL, err);
	if (rc != LS_OK)
		goto out;
	journal_close(j);

	/* The empty tree's checkpoint, so that a log always has one. */
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", s.name);
	merkle_empty_root(cp.root);
	rc = checkpoint_format(&cp, buf, sizeof(buf));
	if (rc == LS_OK)
		rc = note_sign(&s, buf, strlen(buf), &note, err);
	if (rc != LS_OK)
		goto out;
	path_join(path, sizeof(path), dir, "checkpoints/00000000000000000000");
	rc = fs_write_file(path, note, strlen(note), 0644, 0, err);
	if (rc != LS_OK)
		goto out;
	{
		uint8_t k[32];
		struct cpindex_ent e0 = { 0, { 0 } };

		memcpy(e0.root, cp.root, LS_HASH_LEN);
		rc = cfgseal_key(dir, CFGSEAL_CHECKPOINTS, k, err);
		if (rc == LS_OK)
			rc = cpindex_write_all(dir, k, &e0, 1, err);
		ls_wipe(k, sizeof(k));
		if (rc != LS_OK)
			goto out;
	}
	path_join(path, sizeof(path), dir, "log");
	rc = tiles_write_checkpoint(path, note, strlen(note), err);
	if (rc == LS_OK)
		rc = sealer_format_write(dir, err);
out:
	(void)tw;
	free(note);
	note_signer_wipe(&s);
	signer_close(ext);
	return rc;
}
