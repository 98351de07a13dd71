/*
 * sealer.c - the sealer (sealer.h): reads a range of the write-ahead log,
 * writes it as a sealed segment (segment.h), drops the journal files it
 * covers and the full level-0 hash tile files of the range (the segment
 * serves them from then on, tiles.h); its thread; the data directory's
 * format marker.
 *
 * Threads: the sealer thread (or the caller of sealer_run()) seals under
 * run_mu, one range at a time; mu guards the signed size, the stats and
 * stopping; end is read without a lock (an atomic), so that the sequencer
 * checks back-pressure without waiting for a seal.
 */
#include "store/sealer.h"
#include "store/journal.h"
#include "store/keys.h"
#include "store/sealed.h"
#include "store/segment.h"
#include "store/tiles.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "base/fsutil.h"
#include "core/merkle.h"

struct sealer {
	char jdir[PATH_MAX];
	char segdir[PATH_MAX];
	char logdir[PATH_MAX];
	uint32_t leaves;
	struct keyring *kr;	/* NULL: plaintext */
	uint64_t end;		/* atomic (invariant 1) */
	uint64_t base;		/* where the segments begin: journal files
				 * before it hold entries no segment has */
	int tidy;		/* journal files below end dropped once */
	uint64_t last_first;	/* of the last segment at open (last_n: its count) */
	uint32_t last_n;

	pthread_mutex_t run_mu;	/* one seal at a time */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t signed_size;
	int stopping, threaded;
	pthread_t th;
	struct sealer_stats stats;
};

ls_rc sealer_leaves(uint64_t want, uint32_t *out, struct ls_err *err)
{
	if (want == 0)
		want = SEALER_DEFAULT_LEAVES;
	if (want < SEALER_MIN_LEAVES || want > SEALER_MAX_LEAVES || want % SEGMENT_BUNDLE)
		return ls_err_set(err, LS_INVALID,
				  "segment leaves must be a multiple of %d from %d to %d, not %llu",
				  SEGMENT_BUNDLE, SEALER_MIN_LEAVES, SEALER_MAX_LEAVES,
				  (unsigned long long)want);
	*out = (uint32_t)want;
	return LS_OK;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t sealer_end(struct sealer *s)
{
	return __atomic_load_n(&s->end, __ATOMIC_ACQUIRE);
}

int sealer_behind(struct sealer *s, uint64_t size)
{
	uint64_t end = sealer_end(s);

	return size > end && (size - end) / s->leaves > SEALER_MAX_BEHIND;
}

/* Seal [first, first + leaves) from the journal (under run_mu), streamed:
 * memory is one block of the segment and its leaf hashes, not the range. */
static ls_rc seal_one(struct sealer *s, uint64_t first, struct ls_err *err)
{
	struct segment_writer *w = NULL;
	struct journal_iter *it = NULL;
	uint8_t (*h)[LS_HASH_LEN];
	ls_rc rc;

	/* The leaf hashes (the writer holds as many) decide below which
	 * level-0 tile files the segment replaces. */
	h = malloc((size_t)s->leaves * LS_HASH_LEN);
	if (!h)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = segment_writer_open(s->segdir, first, s->leaves, s->kr, NULL, &w, err);
	if (rc == LS_OK)
		rc = journal_iter_open(s->jdir, first, &it, err);
	for (uint32_t i = 0; rc == LS_OK && i < s->leaves; i++) {
		const uint8_t *data;
		size_t len;
		uint64_t idx;

		rc = journal_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND || (rc == LS_OK && idx != first + i))
			rc = ls_err_set(err, LS_CORRUPT, "%s: the journal ends before leaf %llu",
					s->jdir, (unsigned long long)(first + i));
		if (rc == LS_OK) {
			merkle_leaf_hash(data, len, h[i]);
			rc = segment_writer_add(w, data, len, h[i], err);
		}
	}
	journal_iter_free(it);
	if (rc != LS_OK) {
		segment_writer_abort(w);
		free(h);
		return rc;
	}
	rc = segment_writer_commit(w, err);
	/* Already there: sealed before a crash that came before the end
	 * moved (invariant 1); segments never change. */
	if (rc == LS_EXISTS)
		rc = LS_OK;
	/* Durable now (commit: fsync of the file, rename, fsync of the
	 * directory): the segment serves the range's full level-0 tiles
	 * (invariant 4).  A failure here leaves files that are still right. */
	if (rc == LS_OK)
		tiles_drop_level0(s->logdir, first, s->leaves, (const uint8_t (*)[LS_HASH_LEN])h,
				  NULL, NULL);
	free(h);
	return rc;
}

/* The level-0 tile files of the segment of first that a crash between its
 * seal and their deletion left (invariant 4); best effort. */
static void drop_tiles_of(struct sealer *s, uint64_t first, uint32_t n)
{
	struct segment *seg;
	uint8_t (*h)[LS_HASH_LEN];
	char path[PATH_MAX];

	segment_path(s->segdir, first, path, sizeof(path));
	if (segment_open(path, s->kr, &seg, NULL) != LS_OK)
		return;
	h = malloc((size_t)n * LS_HASH_LEN);
	if (h && segment_count(seg) == n && segment_hashes(seg, first, n, h, NULL) == LS_OK)
		tiles_drop_level0(s->logdir, first, n, (const uint8_t (*)[LS_HASH_LEN])h, NULL,
				  NULL);
	free(h);
	segment_close(seg);
}

ls_rc sealer_run(struct sealer *s, uint64_t size, struct ls_err *err)
{
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&s->run_mu);
	if (!s->tidy) {
		/* A crash between a seal and its deletion left files behind. */
		rc = journal_drop_below(s->jdir, s->base, sealer_end(s), NULL, err);
		s->tidy = rc == LS_OK;
		if (rc == LS_OK && s->last_n)
			drop_tiles_of(s, s->last_first, s->last_n);
	}
	while (rc == LS_OK && sealer_end(s) + s->leaves <= size) {
		uint64_t first = sealer_end(s);
		double t0 = now_s(), t;

		rc = seal_one(s, first, err);
		if (rc != LS_OK)
			break;
		__atomic_store_n(&s->end, first + s->leaves, __ATOMIC_RELEASE);
		rc = journal_drop_below(s->jdir, s->base, first + s->leaves, NULL, err);
		t = now_s() - t0;
		pthread_mutex_lock(&s->mu);
		s->stats.segments++;
		s->stats.entries += s->leaves;
		s->stats.seconds += t;
		pthread_mutex_unlock(&s->mu);
	}
	if (rc != LS_OK) {
		pthread_mutex_lock(&s->mu);
		s->stats.failures++;
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&s->run_mu);
	return rc;
}

static void *sealer_main(void *arg)
{
	struct sealer *s = arg;
	uint64_t size;

	pthread_setname_np(pthread_self(), "ls-sealer");
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct timespec ts;

		if (sealer_end(s) + s->leaves > s->signed_size) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		size = s->signed_size;
		pthread_mutex_unlock(&s->mu);
		/* A failure (disk full, a damaged journal record) leaves the
		 * range in the journal; it is tried again a second later, and
		 * back-pressure stops the writers if it goes on. */
		if (sealer_run(s, size, NULL) != LS_OK) {
			pthread_mutex_lock(&s->mu);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (!s->stopping)
				pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			continue;
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

ls_rc sealer_open(const char *datadir, uint32_t leaves, int thread, struct sealer **out,
		  struct ls_err *err)
{
	struct sealed_list list;
	struct sealer *s;
	uint64_t kept = 0;
	ls_rc rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	s->leaves = leaves;
	if ((size_t)snprintf(s->jdir, sizeof(s->jdir), "%s/journal", datadir) >= sizeof(s->jdir) ||
	    (size_t)snprintf(s->segdir, sizeof(s->segdir), "%s/" SEALED_SUBDIR, datadir) >=
		    sizeof(s->segdir) ||
	    (size_t)snprintf(s->logdir, sizeof(s->logdir), "%s/log", datadir) >=
		    sizeof(s->logdir)) {
		free(s);
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	}
	rc = keys_get(datadir, &s->kr, err);
	if (rc == LS_NOTFOUND) {
		s->kr = NULL;
		rc = LS_OK;
	}
	if (rc == LS_OK)
		rc = journal_retained(s->jdir, &kept, err);
	if (rc == LS_OK)
		rc = sealed_list_load(s->segdir, s->kr, &list, err);
	if (rc != LS_OK) {
		free(s);
		return rc;
	}
	/* With no segment (a new log, or retention moved every one out):
	 * from the retained point, at a whole entry bundle. */
	kept = (kept + SEGMENT_BUNDLE - 1) / SEGMENT_BUNDLE * SEGMENT_BUNDLE;
	s->end = list.n && list.end > kept ? list.end : kept;
	/* A retained point that is no multiple of 256 (retention before
	 * sealed segments) leaves [kept, rounded up) in the journal only. */
	s->base = list.n && list.first[0] < s->end ? list.first[0] : s->end;
	if (list.n) {
		s->last_first = list.first[list.n - 1];
		s->last_n = (uint32_t)(list.end - s->last_first);
	}
	sealed_list_release(&list);
	pthread_mutex_init(&s->run_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (thread) {
		if (pthread_create(&s->th, NULL, sealer_main, s) != 0) {
			sealer_close(s);
			return ls_err_set(err, LS_NOMEM, "cannot start the sealer thread");
		}
		s->threaded = 1;
	}
	*out = s;
	return LS_OK;
}

void sealer_signed(struct sealer *s, uint64_t size)
{
	pthread_mutex_lock(&s->mu);
	if (size > s->signed_size)
		s->signed_size = size;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void sealer_get_stats(struct sealer *s, struct sealer_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
	out->end = sealer_end(s);
}

void sealer_close(struct sealer *s)
{
	if (!s)
		return;
	if (s->threaded) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->th, NULL);
	}
	pthread_mutex_destroy(&s->run_mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* ---------------------------------------------------------------- format */

ls_rc sealer_format_check(const char *datadir, struct ls_err *err)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	ls_rc rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/" SEALER_FORMAT_FILE, datadir) >= sizeof(path))
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = fs_read_file(path, 256, &text, &len, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_INVALID,
				  "data directory in the format before sealed segments: run "
				  "`logseal migrate --data %s`", datadir);
	if (rc != LS_OK)
		return rc;
	if (len != strlen(SEALER_FORMAT) || memcmp(text, SEALER_FORMAT, len) != 0)
		rc = ls_err_set(err, LS_CORRUPT,
				"%s: not a format this version knows (a newer logseal made it?)", path);
	free(text);
	return rc;
}

ls_rc sealer_format_write(const char *datadir, struct ls_err *err)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/" SEALER_FORMAT_FILE, datadir) >= sizeof(path))
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	return fs_write_file(path, SEALER_FORMAT, strlen(SEALER_FORMAT), 0644, 0, err);
}
