/*
 * log_append.c - the append API of the log (log.h): callers hash and queue
 * their batches, the sequencer thread writes every queued batch with one
 * journal append (group commit) and wakes them; and the cluster hooks
 * (log_append_keyed, log_set_sequencer, log_apply).  Threads and
 * invariants: the top of log.c.
 */
#include "store/log_int.h"
#include "store/journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/merkle.h"

/* Cluster mode: how long an append waits for the local replica to hold
 * what the database sequenced (read your writes). */
#define REPLICA_WAIT_MS 5000

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

	/* Replica batches (log_apply()) land exactly where the database put
	 * them: one that would not is refused alone, before anything is
	 * written (the sequencer is the only writer of l->size). */
	pthread_mutex_lock(&l->mu);
	{
		struct pending **pp = &list;
		uint64_t at = l->size;
		int refused = 0;

		while (*pp) {
			struct pending *p = *pp;

			if (p->apply && p->apply_first != at) {
				p->rc = LS_INVALID;
				p->first = at;
				p->done = 1;
				l->queued_bytes -= p->bytes;
				*pp = p->next;
				refused = 1;
				continue;
			}
			at += p->n;
			pp = &p->next;
		}
		if (refused)
			pthread_cond_broadcast(&l->done_cv);
	}
	pthread_mutex_unlock(&l->mu);
	if (!list)
		return;
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
void log_rotate_now(struct log *l, struct rotation *rot)
{
	rot->old_id = journal_key_id(l->journal);
	rot->rc = journal_rotate(l->journal, &rot->err);
	rot->new_id = journal_key_id(l->journal);
}

void *log_sequencer_main(void *arg)
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
			log_rotate_now(l, rot);
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
/* The checks every batch passes before it is queued or sequenced: *bytes
 * receives its journal bytes (records, unsealed). */
static ls_rc check_batch(const struct iovec *entries, size_t n, size_t *bytes_out,
			 struct ls_err *err)
{
	size_t bytes = 0;

	if (n == 0)
		return ls_err_set(err, LS_INVALID, "empty batch");
	for (size_t i = 0; i < n; i++) {
		if (entries[i].iov_len == 0)
			return ls_err_set(err, LS_INVALID, "entry %zu is empty", i);
		if (entries[i].iov_len > JOURNAL_MAX_ENTRY)
			return ls_err_set(err, LS_LIMIT, "entry %zu is larger than %u bytes", i,
					  JOURNAL_MAX_ENTRY);
		bytes += entries[i].iov_len + JOURNAL_REC_HEADER;
	}
	/* The journal's batch limit, counted as if sealed; a round merges
	 * batches only up to MAX_ROUND_BYTES, far below it. */
	if (bytes + n * LS_AEAD_OVERHEAD > JOURNAL_MAX_BATCH)
		return ls_err_set(err, LS_LIMIT, "a batch of %zu entries (%zu bytes) is larger than "
				  "the journal's batch limit (%u bytes)", n, bytes, JOURNAL_MAX_BATCH);
	*bytes_out = bytes;
	return LS_OK;
}

static ls_rc enqueue(struct log *l, struct pending *p, void (*enqueued)(void *ctx), void *ctx,
		     struct ls_err *err)
{
	const struct iovec *entries = p->entries;
	size_t n = p->n, bytes = 0;
	ls_rc rc;

	rc = check_batch(entries, n, &bytes, err);
	if (rc != LS_OK) {
		if (enqueued)
			enqueued(ctx);
		return rc;
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
	else if (rc == LS_INVALID && p->apply)
		ls_err_set(err, rc, "a replica batch for leaf %llu, but the log holds %llu entries; "
			   "nothing of it was written", (unsigned long long)p->apply_first,
			   (unsigned long long)p->first);
	else if (rc == LS_NOSPACE)
		ls_err_set(err, rc, "no space left on the journal's disk; nothing of the batch was kept");
	else if (rc == LS_BUSY)
		ls_err_set(err, rc, "the checkpointer or the sealer is behind (no room for %d ms); "
			   "nothing of the batch was written", BACKPRESSURE_GIVE_UP_MS);
	else
		ls_err_set(err, rc, "journal append failed: %s", ls_rc_name(rc));
	return rc;
}

/* The sequencer of cluster mode, or NULL (single node). */
static log_sequencer_fn sequencer_of(struct log *l, void **ctx)
{
	log_sequencer_fn fn;

	pthread_mutex_lock(&l->mu);
	fn = l->seqfn;
	*ctx = l->seqctx;
	if (fn)
		l->seq_calls++;	/* released by cluster_append() */
	pthread_mutex_unlock(&l->mu);
	return fn;
}

static void sequencer_release(struct log *l)
{
	pthread_mutex_lock(&l->mu);
	if (--l->seq_calls == 0)
		pthread_cond_broadcast(&l->done_cv);
	pthread_mutex_unlock(&l->mu);
}

/* Cluster mode: the database sequences the batch (fn returns once it is
 * durably committed there, with its indexes), then this waits, at most
 * REPLICA_WAIT_MS, until the local replica holds every index: read your
 * writes on this node.  Past that it still returns LS_OK: the batch is
 * acknowledged by the database, and failing now would make a client
 * without idempotency keys send it twice; the follower applies it soon. */
static ls_rc cluster_append_held(struct log *l, log_sequencer_fn fn, void *ctx,
				 const struct iovec *entries, size_t n,
				 const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx,
				 struct ls_err *err)
{
	struct timespec ts;
	uint64_t need = 0;
	size_t bytes;
	ls_rc rc;

	rc = check_batch(entries, n, &bytes, err);
	if (rc != LS_OK)
		return rc;
	rc = fn(ctx, entries, n, keys, idx, err);
	if (rc != LS_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (idx[i] + 1 > need)
			need = idx[i] + 1;
	clock_gettime(CLOCK_REALTIME, &ts);	/* done_cv uses the default clock */
	ts.tv_sec += REPLICA_WAIT_MS / 1000;
	pthread_mutex_lock(&l->mu);
	while (l->size < need && !l->stopping && !l->failed)
		if (pthread_cond_timedwait(&l->done_cv, &l->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&l->mu);
	return LS_OK;
}

/* cluster_append_held(), then the release of what sequencer_of() took:
 * every call of a sequencer fn obtained by sequencer_of() ends here. */
static ls_rc cluster_append(struct log *l, log_sequencer_fn fn, void *ctx,
			    const struct iovec *entries, size_t n,
			    const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx, struct ls_err *err)
{
	ls_rc rc = cluster_append_held(l, fn, ctx, entries, n, keys, idx, err);

	sequencer_release(l);
	return rc;
}

/* cluster_append() for a batch whose indexes are consecutive (no keys). */
static ls_rc cluster_append_run(struct log *l, log_sequencer_fn fn, void *ctx,
				const struct iovec *entries, size_t n, uint64_t *first,
				struct ls_err *err)
{
	uint64_t one, *idx = n > 1 ? malloc(n * sizeof(*idx)) : &one;
	ls_rc rc;

	if (!idx) {
		sequencer_release(l);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = cluster_append(l, fn, ctx, entries, n, NULL, idx, err);
	if (rc == LS_OK)
		*first = idx[0];
	if (idx != &one)
		free(idx);
	return rc;
}

ls_rc log_append_ordered(struct log *l, const struct iovec *entries, size_t n, uint64_t *first,
			 void (*enqueued)(void *ctx), void *ctx, struct ls_err *err)
{
	struct pending p;
	log_sequencer_fn fn;
	void *sctx;
	ls_rc rc;

	fn = sequencer_of(l, &sctx);
	if (fn) {
		/* The order among callers is kept by holding it until the
		 * database has sequenced the batch (no group commit among
		 * them: `logseal import` is a single-node tool). */
		rc = cluster_append_run(l, fn, sctx, entries, n, first, err);
		if (enqueued)
			enqueued(ctx);
		return rc;
	}
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
	int cluster;		/* cluster mode: start did the whole append */
	uint64_t first;
};

ls_rc log_append_start(struct log *l, const struct iovec *entries, size_t n,
		       struct log_ticket **out, struct ls_err *err)
{
	struct log_ticket *t = calloc(1, sizeof(*t));
	log_sequencer_fn fn;
	void *sctx;
	ls_rc rc;

	*out = NULL;
	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	t->p.entries = entries;
	t->p.n = n;
	fn = sequencer_of(l, &sctx);
	if (fn) {
		t->cluster = 1;
		rc = cluster_append_run(l, fn, sctx, entries, n, &t->first, err);
	} else {
		rc = enqueue(l, &t->p, NULL, NULL, err);
	}
	if (rc != LS_OK) {
		free(t);
		return rc;
	}
	*out = t;
	return LS_OK;
}

ls_rc log_append_finish(struct log *l, struct log_ticket *t, uint64_t *first, struct ls_err *err)
{
	ls_rc rc = LS_OK;

	if (t->cluster)
		*first = t->first;
	else
		rc = wait_done(l, &t->p, first, err);

	free(t);
	return rc;
}

ls_rc log_append_keyed(struct log *l, const struct iovec *entries, size_t n,
		       const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx, struct ls_err *err)
{
	log_sequencer_fn fn;
	void *sctx;
	uint64_t first;
	ls_rc rc;

	fn = sequencer_of(l, &sctx);
	if (fn)
		return cluster_append(l, fn, sctx, entries, n, keys, idx, err);
	rc = log_append(l, entries, n, &first, err);
	if (rc == LS_OK)
		for (size_t i = 0; i < n; i++)
			idx[i] = first + i;
	return rc;
}

void log_set_sequencer(struct log *l, log_sequencer_fn fn, void *ctx)
{
	pthread_mutex_lock(&l->mu);
	l->seqfn = fn;
	l->seqctx = fn ? ctx : NULL;
	/* No call of the previous fn is running once this returns: its owner
	 * may free ctx then. */
	while (l->seq_calls)
		pthread_cond_wait(&l->done_cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

ls_rc log_apply(struct log *l, uint64_t first, const struct iovec *entries, size_t n,
		struct ls_err *err)
{
	struct pending p;
	uint64_t size, got;
	ls_rc rc;

	size = log_size(l);
	if (first < size)
		return ls_err_set(err, LS_INVALID, "a replica batch for leaf %llu, but the log holds "
				  "%llu entries; nothing of it was written",
				  (unsigned long long)first, (unsigned long long)size);
	memset(&p, 0, sizeof(p));
	p.entries = entries;
	p.n = n;
	p.apply = 1;
	p.apply_first = first;
	rc = enqueue(l, &p, NULL, NULL, err);
	if (rc != LS_OK)
		return rc;
	return wait_done(l, &p, &got, err);
}
