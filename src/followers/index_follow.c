/*
 * index_follow.c - the follower's two threads: the extractor, which turns
 * entries (from the feed or the journal) into terms and adds them to the
 * range in memory, and the writer, which writes each complete range to its
 * .post file and hands it over to the sealed ranges and the cache.  Their
 * invariants (F1, F2) are at the top of index.c.
 */
#include "followers/index.h"
#include "followers/index_int.h"

void ix_building_free(struct building *b)
{
	postings_free(b->p);
	free(b->offs);
	memset(b, 0, sizeof(*b));
}

/* Publish the watermark next (F1: before a range is marked complete). */
static void publish(struct index *idx, uint64_t next)
{
	pthread_mutex_lock(&idx->mu);
	idx->end = next;
	if (idx->waiters)
		pthread_cond_broadcast(&idx->moved);
	pthread_mutex_unlock(&idx->mu);
}

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

/*
 * Make range k's slot ready for leaf next (its first leaf, or the first
 * after a start).  0: ready; 1: the slot still holds range k - 2 and the
 * extractor waited (F2), try again; -1: out of memory.
 */
static int slot_ready(struct index *idx, uint64_t next)
{
	uint64_t L = idx->L, k = next / L;
	struct building *b = &idx->b[k & 1];
	struct postings *p = NULL;
	uint64_t *offs;
	struct ls_err err;
	size_t i;

	if (b->p && b->first == k * L)
		return 0;
	if (b->p) {
		pthread_mutex_lock(&idx->mu);
		idx->ext_waiting = true;
		pthread_cond_signal(&idx->wcv);
		if (idx->waiters) /* index_wait_extracted() */
			pthread_cond_broadcast(&idx->moved);
		while (!idx->stop && !idx->failed && b->p)
			pthread_cond_wait(&idx->wake, &idx->mu);
		idx->ext_waiting = false;
		pthread_mutex_unlock(&idx->mu);
		return 1;
	}
	/* A start in the middle of a range never happens: the extractor
	 * starts at the end of the sealed ranges (reconcile()). */
	offs = malloc(L * sizeof(*offs));
	if (!offs || postings_new(k * L, &p, &err) != LS_OK) {
		free(offs);
		return -1;
	}
	for (i = 0; i < L; i++)
		offs[i] = INDEX_NO_OFFSET;
	pthread_rwlock_wrlock(&idx->act_rw);
	b->p = p;
	b->first = k * L;
	b->offs = offs;
	b->complete = false;
	pthread_rwlock_unlock(&idx->act_rw);
	return 0;
}

void *ix_extractor(void *arg)
{
	struct index *idx = arg;
	struct store_iter *it = NULL;
	struct fbatch *fb = NULL;	/* the fed batch last taken from */
	struct ls_err err = { { 0 } };
	EVP_MD_CTX *w = EVP_MD_CTX_new();
	struct bcache *bc = ix_bcache_new(); /* NULL: no cache, still right */
	char *arena = malloc(STORE_MAX_ENTRY + 1);	/* decoded strings of one entry */
	struct terms *t = malloc(sizeof(*t));
	uint64_t next, pub, bound, n_fed = 0, n_read = 0, L = idx->L;
	uint64_t gap_end = 0;	/* leaves below it were retained away: empty rows */
	struct pf_row empty;
	ls_rc rc = LS_OK;

	pthread_setname_np(pthread_self(), "ls-idx-extract");
	/* Cheap work that ingest may wait for (--max-search-lag): ahead of
	 * the HTTP workers where the process may raise a thread's priority
	 * (CAP_SYS_NICE); at the default priority otherwise. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -5);

	if (!w || !arena || !t) {
		ix_follower_fail(idx, LS_NOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&idx->mu);
	next = pub = idx->end;
	pthread_mutex_unlock(&idx->mu);
	memset(&empty, 0, sizeof(empty));
	for (;;) {
		const uint8_t *data;
		struct building *b;
		struct row r;
		size_t len;
		uint64_t at, joff, kept;
		const struct pf_row *row;
		uint32_t rel;
		bool bounded, quit;
		int s;

		pthread_mutex_lock(&idx->mu);
		idx->n_fed += n_fed;
		idx->n_read += n_read;
		n_fed = n_read = 0;
		quit = idx->stop || idx->failed;
		bounded = idx->bounded;
		bound = idx->limit;
		pthread_mutex_unlock(&idx->mu);
		if (pub < next && (quit || (bounded && next >= bound) || next - pub >= PUB_ROWS)) {
			publish(idx, next);
			pub = next;
		}
		if (quit)
			break;
		if (bounded && next >= bound) {
			extractor_idle(idx);
			continue;
		}
		s = slot_ready(idx, next);
		if (s > 0)
			continue;
		if (s < 0) {
			rc = ls_err_set(&err, LS_NOMEM, "out of memory");
			break;
		}
		/* Leaves that retention moved out before the index saw them:
		 * an empty row each, so that ranges stay whole. */
		if (next < gap_end) {
			row = &empty;
			data = NULL;
			len = 0;
			joff = INDEX_NO_OFFSET;
			goto add;
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
			joff = fb->offs[i];
			n_fed++;
			goto extract;
		}
		if (!it) {
			/* The journal directory may not exist yet. */
			rc = store_iter_open(idx->jdir, next, 0, &it, &err);
			if (rc == LS_NOTFOUND) {
				rc = LS_OK;
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
				publish(idx, next);
				pub = next;
			}
			extractor_idle(idx);
			continue;
		}
		if (rc != LS_OK)
			break;
		if (at > next && store_retained(idx->jdir, &kept, NULL) == LS_OK && at <= kept) {
			/* next .. at - 1 are below the retained point: fill
			 * them, then read at again from a new iterator. */
			gap_end = at;
			store_iter_free(it);
			it = NULL;
			continue;
		}
		if (at != next) {
			rc = ls_err_set(&err, LS_CORRUPT, "journal gave entry %llu, expected %llu",
					(unsigned long long)at, (unsigned long long)next);
			break;
		}
		{
			int64_t o = ix_iter_offset(it);

			joff = o >= 0 ? (uint64_t)o : INDEX_NO_OFFSET;
		}
		n_read++;
extract:
		ix_row_extract(data, len, arena, &r);
		if (ix_terms_fill(&idx->bl, w, bc, &r, t)) {
			rc = ls_err_set(&err, LS_NOMEM, "out of memory");
			break;
		}
		row = &t->row;
add:
		b = &idx->b[(next / L) & 1];
		rel = (uint32_t)(next - b->first);
		pthread_rwlock_wrlock(&idx->act_rw);
		rc = postings_add_row(b->p, rel, row, &err);
		b->offs[rel] = joff;
		pthread_rwlock_unlock(&idx->act_rw);
		if (rc != LS_OK)
			break;
		next++;
		if (rel == L - 1) {
			/* Complete: published first (F1), then the writer's. */
			if (data)
				ls_sha256(data, len, NULL, 0, b->last_hash);
			else
				memset(b->last_hash, 0, LS_HASH_LEN);
			publish(idx, next);
			pub = next;
			pthread_mutex_lock(&idx->mu);
			b->complete = true;
			pthread_cond_signal(&idx->wcv);
			pthread_mutex_unlock(&idx->mu);
		}
	}
	/* What was extracted before an error is good: queries may use it. */
	pthread_mutex_lock(&idx->mu);
	idx->n_fed += n_fed;
	idx->n_read += n_read;
	pthread_mutex_unlock(&idx->mu);
	if (pub < next)
		publish(idx, next);
	if (rc != LS_OK)
		ix_follower_fail(idx, rc, err.msg);
out:
	/* The writer's last pass may begin: nothing is completed after this. */
	pthread_mutex_lock(&idx->mu);
	idx->ext_done = true;
	pthread_cond_broadcast(&idx->wcv);
	pthread_mutex_unlock(&idx->mu);
	store_iter_free(it);
	EVP_MD_CTX_free(w);
	free(bc);
	free(arena);
	free(t);
	return NULL;
}

/* The complete range the writer takes next (the one after the sealed
 * ones), or NULL.  Under mu. */
static struct building *due(struct index *idx)
{
	uint64_t k = idx->nranges;
	struct building *b = &idx->b[k & 1];

	return b->p && b->complete && b->first == k * idx->L ? b : NULL;
}

void *ix_writer(void *arg)
{
	struct index *idx = arg;
	struct ls_err err = { { 0 } };
	unsigned backoff = NOSPACE_RETRY_MS;
	struct building *b;
	ls_rc rc = LS_OK;

	pthread_setname_np(pthread_self(), "ls-idx-writer");
	pthread_mutex_lock(&idx->mu);
	for (;;) {
		struct range r;
		struct meta m;
		struct postings *p;

		/* Stopping, a complete range is still written (not when paused),
		 * the last one once the extractor has returned. */
		while (!idx->failed && (idx->pause_writer || !(b = due(idx))) &&
		       !(idx->stop && idx->ext_done))
			pthread_cond_wait(&idx->wcv, &idx->mu);
		if (idx->failed || idx->pause_writer || !(b = due(idx)))
			break;
		idx->writing = true;
		pthread_mutex_unlock(&idx->mu);

		/* Nobody adds to a complete range: read without act_rw. */
		ix_range_bounds(b->p, &r);
		rc = ix_post_write(idx->idir, b->p, &err);
		if (rc == LS_OK) {
			memset(&m, 0, sizeof(m));
			memcpy(m.check, idx->check, BLIND_LEN);
			m.L = idx->L;
			m.has_last = true;
			m.last = b->first + idx->L - 1;
			memcpy(m.last_hash, b->last_hash, LS_HASH_LEN);
			rc = ix_meta_write(idx->idir, &m, &err);
		}
		pthread_mutex_lock(&idx->mu);
		idx->writing = false;
		pthread_cond_broadcast(&idx->moved);
		if (rc == LS_NOSPACE || (rc == LS_IO && (strstr(err.msg, strerror(ENOSPC)) ||
							  strstr(err.msg, strerror(EDQUOT))))) {
			/* A full disk is not the index's fault and goes away:
			 * the range stays in memory (queries still see it) and
			 * is written again after a wait that doubles up to
			 * NOSPACE_RETRY_MAX_MS.  Any other error stays sticky. */
			struct timespec ts;

			idx->nospace = true;
			snprintf(idx->nospace_msg, sizeof(idx->nospace_msg), "%s", err.msg);
			deadline_after(&ts, backoff);
			while (!idx->stop &&
			       pthread_cond_timedwait(&idx->wcv, &idx->mu, &ts) != ETIMEDOUT)
				;
			backoff = backoff * 2 < NOSPACE_RETRY_MAX_MS ? backoff * 2
								      : NOSPACE_RETRY_MAX_MS;
			rc = LS_OK;
			if (idx->stop)
				break;
			continue;
		}
		if (rc != LS_OK)
			break;
		idx->nospace = false;
		backoff = NOSPACE_RETRY_MS;
		pthread_mutex_unlock(&idx->mu);

		/* Sealed: into the list and the cache, out of memory's slot. */
		pthread_rwlock_wrlock(&idx->act_rw);
		pthread_mutex_lock(&idx->mu);
		if (ix_ranges_append(idx, &r)) {
			pthread_mutex_unlock(&idx->mu);
			pthread_rwlock_unlock(&idx->act_rw);
			rc = ls_err_set(&err, LS_NOMEM, "out of memory");
			pthread_mutex_lock(&idx->mu);
			break;
		}
		p = b->p;
		b->p = NULL;
		free(b->offs);
		b->offs = NULL;
		b->complete = false;
		pthread_cond_broadcast(&idx->wake);
		pthread_mutex_unlock(&idx->mu);
		pthread_rwlock_unlock(&idx->act_rw);
		ix_cache_add(idx, p);
		pthread_mutex_lock(&idx->mu);
	}
	pthread_mutex_unlock(&idx->mu);
	if (rc != LS_OK)
		ix_follower_fail(idx, rc, err.msg);
	return NULL;
}
