/*
 * index_tail.c - the tail (the rows extracted but not yet in SQLite, and its
 * invariants T1-T5) and the extractor thread that fills it from the feed or
 * the journal.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ============================================================== the tail */

/*
 * The follower is two threads.  The extractor (normal priority) reads the
 * journal up to the notified bound, computes each entry's row (struct
 * trow: keyed hashes and all) and appends it to the tail, in memory.  The
 * writer (nice 10) inserts the tail's rows into SQLite in batches, commits,
 * and then drops what it committed.  Queries read SQLite below its
 * watermark W and the tail from W to the tail's end, so an entry is found
 * as soon as it is extracted, however far SQLite lags.
 *
 * Layout: chunk k holds rows k * TAIL_CHUNK_ROWS .. + TAIL_CHUNK_ROWS - 1
 * and lives in ring[k % TAIL_RING]; its strings are in blocks it owns, so
 * a row never moves and is freed with its chunk (no malloc per row).
 * Rows present: [tail_head, tail_end) plus the extractor's unpublished ones.
 *
 * Invariants of the tail:
 *  T1. A row below tail_end is never written again until it is freed;
 *      the extractor fills rows at and above tail_end and publishes them by
 *      moving tail_end under mu, so whoever read tail_end under mu may read
 *      every row below it without a lock.
 *  T2. tail_head <= W <= tail_end, W being SQLite's committed watermark:
 *      the writer only inserts published rows, and only frees chunks whose
 *      rows are all below a watermark it has committed.
 *  T3. Every row and chunk slot a query reads stays put until it is done.
 *      A query takes tail_rw shared before its read transaction starts and
 *      keeps it until its tail scan ends; the writer commits first, then
 *      takes tail_rw exclusively to free chunks below that commit.  So the
 *      query's snapshot W is at least every watermark a drop has used
 *      before it (the drop's commit precedes the query's snapshot), hence
 *      tail_head <= W throughout, and the rows [W, tail_end) it reads are
 *      all present: the query's results are SQLite's below W and the
 *      tail's from W, each entry exactly once (invariant 5 then holds with
 *      the tail's end as the watermark).
 *  T4. The last row of every publication is an anchor (T_HASH: the hash
 *      of its entry); a writer's batch ends on an anchor, so last_hash is
 *      always that of entry W-1 (invariant 3).  Publications hold at most
 *      PUB_ROWS rows, so a batch of BATCH_ROWS always finds one.
 *  T5. The tail holds at most TAIL_MAX_ROWS rows or about TAIL_MAX_BYTES;
 *      then the extractor waits for the writer (and freshness degrades to
 *      SQLite's pace, as before the tail).  Live chunks then span fewer
 *      than TAIL_RING slots, so two never share one.
 */
_Static_assert(BATCH_ROWS >= 2 * PUB_ROWS, "a batch must reach an anchor");
_Static_assert(sizeof(NET_V6) == NET_MAX && sizeof(NET_V4) <= NET_MAX, "NET_MAX");
_Static_assert((TAIL_CHUNK_ROWS & (TAIL_CHUNK_ROWS - 1)) == 0, "a power of two");

void ix_chunk_free(struct tchunk *c)
{
	while (c && c->blocks) {
		struct tblock *b = c->blocks;

		c->blocks = b->next;
		free(b);
	}
	free(c);
}

/* Give c's memory back: to the spares while there is room, else free. */
static void chunk_recycle(struct index *idx, struct tchunk *c)
{
	struct tblock *drop = NULL;

	pthread_mutex_lock(&idx->mu);
	while (c->blocks) {
		struct tblock *b = c->blocks;

		c->blocks = b->next;
		if (idx->nspare_blocks < SPARE_BLOCKS) {
			b->next = idx->spare_blocks;
			idx->spare_blocks = b;
			idx->nspare_blocks++;
		} else {
			b->next = drop;
			drop = b;
		}
	}
	if (idx->nspare_chunks < SPARE_CHUNKS) {
		c->blocks = (struct tblock *)idx->spare_chunks; /* the spare list's link */
		idx->spare_chunks = c;
		idx->nspare_chunks++;
		c = NULL;
	}
	pthread_mutex_unlock(&idx->mu);
	while (drop) {
		struct tblock *b = drop;

		drop = b->next;
		free(b);
	}
	free(c);
}

static struct tchunk *chunk_get(struct index *idx)
{
	struct tchunk *c;

	pthread_mutex_lock(&idx->mu);
	c = idx->spare_chunks;
	if (c) {
		idx->spare_chunks = (struct tchunk *)c->blocks;
		idx->nspare_chunks--;
	}
	pthread_mutex_unlock(&idx->mu);
	return c ? c : malloc(sizeof(*c));
}

static struct tblock *block_get(struct index *idx)
{
	struct tblock *b;

	pthread_mutex_lock(&idx->mu);
	b = idx->spare_blocks;
	if (b) {
		idx->spare_blocks = b->next;
		idx->nspare_blocks--;
	}
	pthread_mutex_unlock(&idx->mu);
	return b ? b : malloc(sizeof(*b));
}

void ix_spares_free(struct index *idx)
{
	while (idx->spare_chunks) {
		struct tchunk *c = idx->spare_chunks;

		idx->spare_chunks = (struct tchunk *)c->blocks;
		free(c);
	}
	while (idx->spare_blocks) {
		struct tblock *b = idx->spare_blocks;

		idx->spare_blocks = b->next;
		free(b);
	}
	idx->nspare_chunks = idx->nspare_blocks = 0;
}

static const char *block_copy(struct tblock *b, const char *s, uint32_t n)
{
	char *d;

	if (!s)
		return NULL;
	if (n == 0)
		return "";
	d = b->data + b->used;
	memcpy(d, s, n);
	b->used += n;
	return d;
}

/*
 * Put t as row i (unpublished) with its strings copied into i's chunk,
 * which is made when i is its first row to come.  *grown += the bytes
 * allocated.  Only the extractor calls it; the slot it fills is no other
 * live chunk's (T5) and nobody reads it before tail_end passes i (T1).
 */
int ix_tail_put(struct index *idx, uint64_t i, const struct trow *t, size_t *grown)
{
	struct tchunk **slot = &idx->ring[(i / TAIL_CHUNK_ROWS) % TAIL_RING], *c = *slot;
	size_t need = (t->action ? t->action_n : 0) + (t->outcome ? t->outcome_n : 0) +
		      (t->service ? t->service_n : 0);
	struct trow *d;

	if (!c) {
		c = chunk_get(idx);
		if (!c)
			return -1;
		c->blocks = NULL;
		c->bytes = sizeof(*c);
		*slot = c;
		*grown += sizeof(*c);
	}
	if (need && (!c->blocks || TAIL_BLOCK - c->blocks->used < need)) {
		struct tblock *b = block_get(idx);

		if (!b)
			return -1;
		b->used = 0;
		b->next = c->blocks;
		c->blocks = b;
		c->bytes += sizeof(*b);
		*grown += sizeof(*b);
	}
	d = &c->rows[i % TAIL_CHUNK_ROWS];
	*d = *t;
	d->flags &= ~(uint32_t)T_HASH;
	d->action = block_copy(c->blocks, t->action, t->action_n);
	d->outcome = block_copy(c->blocks, t->outcome, t->outcome_n);
	d->service = block_copy(c->blocks, t->service, t->service_n);
	return 0;
}

/*
 * Free the chunks whose rows are all below wm, a watermark the writer has
 * committed (T2, T3).  wait: block for the queries to finish (the
 * extractor waits for room); else leave it for later when one runs.
 * Returns whether rows below wm's chunk remain.
 */
bool ix_tail_drop(struct index *idx, uint64_t wm, bool wait)
{
	struct tchunk *gone[TAIL_RING];
	uint64_t first, last, k;
	size_t n = 0, freed = 0;

	pthread_mutex_lock(&idx->mu);
	first = idx->tail_head / TAIL_CHUNK_ROWS;
	pthread_mutex_unlock(&idx->mu);
	last = wm / TAIL_CHUNK_ROWS;
	if (first >= last)
		return false;
	if (wait)
		pthread_rwlock_wrlock(&idx->tail_rw);
	else if (pthread_rwlock_trywrlock(&idx->tail_rw) != 0)
		return true;
	pthread_mutex_lock(&idx->mu);
	for (k = first; k < last; k++) {
		struct tchunk **slot = &idx->ring[k % TAIL_RING];

		if (*slot) {
			freed += (*slot)->bytes;
			gone[n++] = *slot;
			*slot = NULL;
		}
	}
	idx->tail_head = last * TAIL_CHUNK_ROWS;
	idx->tail_bytes -= freed;
	pthread_cond_broadcast(&idx->wake);
	pthread_mutex_unlock(&idx->mu);
	pthread_rwlock_unlock(&idx->tail_rw);
	while (n > 0)
		chunk_recycle(idx, gone[--n]);
	return false;
}

/* Publish the rows up to next (T1), the last one an anchor (T4); last is
 * the bytes of entry next-1. */
static void tail_publish(struct index *idx, uint64_t next, const void *last, size_t last_len)
{
	struct trow *t = tail_row(idx, next - 1);

	ls_sha256(last, last_len, NULL, 0, t->hash);
	t->flags |= T_HASH;
	pthread_mutex_lock(&idx->mu);
	idx->tail_end = next;
	pthread_cond_signal(&idx->wcv);
	if (idx->fresh_waiters)
		pthread_cond_broadcast(&idx->moved);
	pthread_mutex_unlock(&idx->mu);
}

/* ============================================================ the extractor */

/* Nothing to read: sleep until notified (or POLL_MS, for a journal that
 * grows without notifications). */
static void extractor_idle(struct index *idx)
{
	pthread_mutex_lock(&idx->mu);
	if (!idx->kicked && !idx->stop && !idx->failed) {
		struct timespec ts;

		deadline_after(&ts, POLL_MS);
		pthread_cond_timedwait(&idx->wake, &idx->mu, &ts);
	}
	idx->kicked = false;
	pthread_mutex_unlock(&idx->mu);
}

void *ix_extractor(void *arg)
{
	struct index *idx = arg;
	struct store_iter *it = NULL;
	struct fbatch *fb = NULL;	/* the fed batch last taken from */
	struct ls_err err = { { 0 } };
	EVP_MD_CTX *w = EVP_MD_CTX_new();
	struct bcache *bc = ix_bcache_new(); /* NULL: no cache, still right */
	/* Decoded strings of one entry, then a copy of the last entry read. */
	char *arena = malloc(2 * (STORE_MAX_ENTRY + 1));
	char *last = arena ? arena + STORE_MAX_ENTRY + 1 : NULL;
	size_t last_len = 0, grown = 0;
	uint64_t next, pub, bound, n_fed = 0, n_read = 0;
	ls_rc rc = LS_OK;

	pthread_setname_np(pthread_self(), "ls-idx-extract");
	/* Cheap work that ingest may wait for (--max-search-lag): ahead of
	 * the HTTP workers where the process may raise a thread's priority
	 * (CAP_SYS_NICE); at the default priority otherwise. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -5);

	if (!w || !arena) {
		ix_follower_fail(idx, LS_NOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&idx->mu);
	next = pub = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	for (;;) {
		const uint8_t *data;
		struct trow t;
		struct row r;
		size_t len;
		uint64_t at;
		int64_t joff;
		bool full, bounded, quit;

		pthread_mutex_lock(&idx->mu);
		idx->tail_bytes += grown;
		grown = 0;
		idx->n_fed += n_fed;
		idx->n_read += n_read;
		n_fed = n_read = 0;
		quit = idx->stop || idx->failed;
		bounded = idx->bounded;
		bound = idx->limit;
		full = next - idx->tail_head >= TAIL_MAX_ROWS || idx->tail_bytes >= TAIL_MAX_BYTES;
		pthread_mutex_unlock(&idx->mu);
		if (pub < next && (quit || full || (bounded && next >= bound) ||
				   next - pub >= PUB_ROWS)) {
			tail_publish(idx, next, last, last_len);
			pub = next;
		}
		if (quit)
			break;
		if (full) {
			pthread_mutex_lock(&idx->mu);
			idx->ext_waiting = true;
			pthread_cond_signal(&idx->wcv);
			if (idx->fresh_waiters) /* index_wait_extracted() */
				pthread_cond_broadcast(&idx->moved);
			while (!idx->stop && !idx->failed &&
			       (next - idx->tail_head >= TAIL_MAX_ROWS ||
				idx->tail_bytes >= TAIL_MAX_BYTES))
				pthread_cond_wait(&idx->wake, &idx->mu);
			idx->ext_waiting = false;
			pthread_mutex_unlock(&idx->mu);
			continue;
		}
		if (bounded && next >= bound) {
			extractor_idle(idx);
			continue;
		}
		/* The feed when it holds next; the journal otherwise. */
		if (!fb || next < fb->first || next - fb->first >= fb->n)
			fb = ix_feed_at(idx, next);
		if (fb) {
			size_t i = (size_t)(next - fb->first);

			if (it) {
				/* Past the stretch it was opened for. */
				store_iter_free(it);
				it = NULL;
			}
			data = fb->data + fb->at[i];
			len = fb->at[i + 1] - fb->at[i];
			joff = fb->offs[i] <= INT64_MAX ? (int64_t)fb->offs[i] : -1;
			n_fed++;
			goto extract;
		}
		if (!it) {
			/* The journal directory may not exist yet. */
			rc = store_iter_open(idx->jdir, next, 0, &it, &err);
			if (rc == LS_NOTFOUND) {
				it = NULL;
				extractor_idle(idx);
				continue;
			}
			if (rc != LS_OK)
				break;
		}
		rc = store_iter_next(it, &data, &len, &at, &err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			if (pub < next) {
				tail_publish(idx, next, last, last_len);
				pub = next;
			}
			extractor_idle(idx);
			continue;
		}
		if (rc != LS_OK)
			break;
		if (at != next) {
			rc = ls_err_set(&err, LS_CORRUPT, "journal gave entry %llu, expected %llu",
					(unsigned long long)at, (unsigned long long)next);
			break;
		}
		joff = ix_iter_offset(it);
		n_read++;
extract:
		ix_row_extract(data, len, arena, &r);
		if (ix_trow_fill(&idx->bl, w, bc, &r, joff, &t) ||
		    ix_tail_put(idx, next, &t, &grown)) {
			rc = ls_err_set(&err, LS_NOMEM, "out of memory");
			break;
		}
		memcpy(last, data, len);
		last_len = len;
		next++;
	}
	/* What was read before an error is good: the writer may take it. */
	pthread_mutex_lock(&idx->mu);
	idx->tail_bytes += grown;
	idx->n_fed += n_fed;
	idx->n_read += n_read;
	pthread_mutex_unlock(&idx->mu);
	if (pub < next)
		tail_publish(idx, next, last, last_len);
	if (rc != LS_OK)
		ix_follower_fail(idx, rc, err.msg);
out:
	store_iter_free(it);
	EVP_MD_CTX_free(w);
	free(bc);
	free(arena);
	return NULL;
}
