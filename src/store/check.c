/*
 * check.c - the check of the sealed segments of a data directory against
 * themselves, each other, the hash tiles and the write-ahead log (check.h),
 * and the listing and walks of sealed segments that retention uses.
 *
 * The work is per segment file and independent: segment_verify() (every
 * byte), then the stored leaf hashes against the signed tree's hash tiles
 * (each whole level-0 tile's root against its hash in the level-1 tile:
 * the level-0 tiles of a sealed range are the segment's, tiles.h).  A pool of
 * worker threads takes the files in order, at most `window` ahead of the
 * one the caller's thread hands on; the caller's thread checks the order
 * (contiguity) and calls the callback, in leaf order.
 */
#include "store/check.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fsutil.h"
#include "core/merkle.h"
#include "store/journal.h"
#include "store/keys.h"
#include "store/sealer.h"
#include "store/segment.h"
#include "store/tiles.h"


ls_rc store_check_format(const char *datadir, struct ls_err *err)
{
	return sealer_format_check(datadir, err);
}

void store_sealed_path(const char *datadir, uint64_t first, char *out, size_t cap)
{
	snprintf(out, cap, "%s/" STORE_SEALED_DIR "/%016llx" SEGMENT_SUFFIX, datadir,
		 (unsigned long long)first);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The numbers of the segment files, ascending.  strict: any other name
 * (but a temporary file of an interrupted write) is LS_TAMPERED. */
static ls_rc list_names(const char *sdir, int strict, uint64_t **out, size_t *n,
			struct ls_err *err)
{
	DIR *d = opendir(sdir);
	struct dirent *de;
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;
	ls_rc rc = LS_OK;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? LS_OK : ls_err_set(err, LS_IO, "%s: %s", sdir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		uint64_t first;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp"))
			continue;
		if (!segment_parse_name(de->d_name, &first)) {
			if (!strict)
				continue;
			rc = ls_err_set(err, LS_TAMPERED, "%s/%s: not a sealed segment's name", sdir,
					de->d_name);
			break;
		}
		if (cnt == cap) {
			size_t c2 = cap ? cap * 2 : 64;
			uint64_t *p = realloc(v, c2 * sizeof(*v));

			if (!p) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				break;
			}
			v = p;
			cap = c2;
		}
		v[cnt++] = first;
	}
	closedir(d);
	if (rc != LS_OK) {
		free(v);
		return rc;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), u64_cmp);
	*out = v;
	*n = cnt;
	return LS_OK;
}

ls_rc store_sealed_list(const char *datadir, struct store_sealed **out, size_t *n,
			struct ls_err *err)
{
	char sdir[PATH_MAX], path[PATH_MAX];
	struct keyring *kr = NULL;
	struct store_sealed *v = NULL;
	uint64_t *names = NULL;
	size_t cnt = 0;
	ls_rc rc;

	*out = NULL;
	*n = 0;
	snprintf(sdir, sizeof(sdir), "%s/" STORE_SEALED_DIR, datadir);
	rc = list_names(sdir, 0, &names, &cnt, err);
	if (rc != LS_OK || !cnt)
		return rc;
	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND) {
		kr = NULL;
		rc = LS_OK;
	}
	if (rc == LS_OK && !(v = calloc(cnt, sizeof(*v))))
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	for (size_t i = 0; rc == LS_OK && i < cnt; i++) {
		struct segment *s;

		store_sealed_path(datadir, names[i], path, sizeof(path));
		rc = segment_open(path, kr, &s, err);
		if (rc != LS_OK)
			break;
		v[i].first = segment_first(s);
		v[i].count = segment_count(s);
		segment_close(s);
		if (v[i].first != names[i])
			rc = ls_err_set(err, LS_TAMPERED, "%s: holds the segment of leaf %llu", path,
					(unsigned long long)v[i].first);
	}
	free(names);
	if (rc != LS_OK) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return LS_OK;
}

ls_rc store_sealed_each(const char *datadir, const char *path,
			ls_rc (*fn)(void *ctx, uint64_t index, const uint8_t *data, size_t len),
			void *ctx, struct ls_err *err)
{
	struct keyring *kr = NULL;
	struct segment *s = NULL;
	struct segment_iter *it = NULL;
	ls_rc rc;

	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND) {
		kr = NULL;
		rc = LS_OK;
	}
	if (rc == LS_OK)
		rc = segment_open(path, kr, &s, err);
	if (rc != LS_OK)
		return rc;
	rc = segment_iter_open(s, segment_first(s), &it, err);
	while (rc == LS_OK) {
		const uint8_t *data;
		size_t len;
		uint64_t idx;

		rc = segment_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc == LS_OK)
			rc = fn(ctx, idx, data, len);
	}
	segment_iter_free(it);
	segment_close(s);
	return rc;
}

ls_rc store_journal_each(const char *jdir, uint64_t start,
			 ls_rc (*fn)(void *ctx, uint64_t index, const uint8_t *data, size_t len),
			 void *ctx, struct ls_err *err)
{
	struct journal_iter *it = NULL;
	ls_rc rc;

	rc = journal_iter_open_strict(jdir, start, &it, err);
	while (rc == LS_OK) {
		const uint8_t *data;
		size_t len;
		uint64_t idx;

		rc = journal_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc == LS_OK)
			rc = fn(ctx, idx, data, len);
	}
	journal_iter_free(it);
	return rc;
}

ls_rc store_sealed_keep_tiles(const char *datadir, uint64_t first, struct ls_err *err)
{
	char path[PATH_MAX], logdir[PATH_MAX];
	struct keyring *kr = NULL;
	struct segment *s = NULL;
	uint8_t (*h)[LS_HASH_LEN] = NULL;
	uint32_t n;
	ls_rc rc;

	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND)
		kr = NULL;
	else if (rc != LS_OK)
		return rc;
	store_sealed_path(datadir, first, path, sizeof(path));
	rc = segment_open(path, kr, &s, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	n = segment_count(s);
	if (!(h = malloc((size_t)n * LS_HASH_LEN)))
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	if (rc == LS_OK)
		rc = segment_hashes(s, first, n, h, err);
	segment_close(s);
	snprintf(logdir, sizeof(logdir), "%s/log", datadir);
	if (rc == LS_OK)
		rc = tiles_restore_level0(logdir, first, n, (const uint8_t (*)[LS_HASH_LEN])h, err);
	free(h);
	return rc;
}

/* ------------------------------------------------------------ one file --- */

/* Full level-0 tile files left in a sealed range (a crash between the seal
 * and their deletion, or put there): a reader takes the file before the
 * segment (tiles.h), so each must be exactly the segment's 256 hashes.
 * h[i] is leaf lo + i, for cnt leaves. */
static ls_rc check_l0_files(const char *logdir, const char *path, uint64_t lo, uint64_t cnt,
			    const uint8_t (*h)[LS_HASH_LEN], struct ls_err *err)
{
	char rel[TILES_PATH_MAX], file[PATH_MAX];

	for (uint64_t t = (lo + TILE_WIDTH - 1) / TILE_WIDTH; (t + 1) * TILE_WIDTH <= lo + cnt;
	     t++) {
		const uint8_t *want = h[t * TILE_WIDTH - lo];
		struct ls_err e = { "" };
		char *data = NULL;
		size_t len = 0, at = 0;
		ls_rc rc;

		tiles_path(0, t, TILE_WIDTH, rel, sizeof(rel));
		snprintf(file, sizeof(file), "%s/%s", logdir, rel);
		rc = fs_read_file(file, (size_t)TILE_WIDTH * LS_HASH_LEN, &data, &len, &e);
		if (rc == LS_NOTFOUND)
			continue;	/* the segment serves it */
		if (rc == LS_LIMIT)
			return ls_err_set(err, LS_TAMPERED, "%s: not a tile of %d hashes", file,
					  TILE_WIDTH);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "%s", e.msg);
		while (at < len && at < (size_t)TILE_WIDTH * LS_HASH_LEN &&
		       (uint8_t)data[at] == want[at])
			at++;
		free(data);
		if (len != (size_t)TILE_WIDTH * LS_HASH_LEN || at != len)
			return ls_err_set(err, LS_TAMPERED,
					  "%s: differs from the leaf hashes of sealed segment %s at "
					  "hash %zu (a level-0 tile file left in a sealed range must "
					  "be the segment's)",
					  file, path, at / LS_HASH_LEN);
	}
	return LS_OK;
}

/* Root of the 256 leaf hashes at h: the level-8 node above them. */
static void tile_root(const uint8_t (*h)[LS_HASH_LEN], uint8_t out[LS_HASH_LEN])
{
	uint8_t v[TILE_WIDTH / 2][LS_HASH_LEN];

	for (unsigned i = 0; i < TILE_WIDTH / 2; i++)
		merkle_node_hash(h[2 * i], h[2 * i + 1], v[i]);
	for (unsigned cnt = TILE_WIDTH / 2; cnt > 1; cnt /= 2)
		for (unsigned i = 0; i < cnt / 2; i++)
			merkle_node_hash(v[2 * i], v[2 * i + 1], v[i]);
	memcpy(out, v[0], LS_HASH_LEN);
}

/* The stored hashes of leaves [first, first + n) against the signed tree
 * of `size` (only those below it).  The full level-0 tiles of a sealed
 * range are the segment's own hashes (the files are deleted, tiles.h), so
 * they are tied to the tree one level up: the 256 hashes of each whole
 * tile must hash to its node at tree level 8, which is hash t % 256 of the
 * level-1 tile (a file).  Leaves in a tile not yet full at size are
 * compared with the level-0 partial tile itself (a file). */
static ls_rc check_tiles(const char *datadir, const char *path, uint64_t first, uint64_t n,
			 uint64_t size, const uint8_t (*h)[LS_HASH_LEN], uint64_t *tiles,
			 struct ls_err *err)
{
	char logdir[PATH_MAX], rel[TILES_PATH_MAX];
	uint64_t end = first + n < size ? first + n : size;
	struct tiles_reader *r = NULL;
	ls_rc rc = LS_OK;

	if (end <= first)
		return LS_OK;
	snprintf(logdir, sizeof(logdir), "%s/log", datadir);
	rc = tiles_reader_open(logdir, size, &r);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "%s: cannot open the hash tiles", logdir);
	for (uint64_t t = first / TILE_WIDTH; rc == LS_OK && t * TILE_WIDTH < end; t++) {
		uint64_t lo = t * TILE_WIDTH;
		uint8_t want[LS_HASH_LEN], got[LS_HASH_LEN];

		if (lo + TILE_WIDTH <= size && lo >= first && lo + TILE_WIDTH <= first + n) {
			uint64_t tl = t / TILE_WIDTH;
			unsigned w = (size >> TILE_HEIGHT) - tl * TILE_WIDTH >= TILE_WIDTH ?
				TILE_WIDTH : (unsigned)((size >> TILE_HEIGHT) - tl * TILE_WIDTH);

			tiles_path(1, tl, w, rel, sizeof(rel));
			tile_root(h + (lo - first), got);
			rc = tiles_node_hash(r, TILE_HEIGHT, t, want);
			if (rc != LS_OK)
				rc = ls_err_set(err, rc == LS_NOTFOUND ? LS_TAMPERED : rc,
						"%s/%s: cannot be read; sealed segment %s needs it",
						logdir, rel, path);
			else if (memcmp(got, want, LS_HASH_LEN) != 0)
				rc = ls_err_set(err, LS_TAMPERED,
						"%s: the leaf hashes of entries %llu..%llu do not hash "
						"to hash %u of %s/%s (the signed tree)",
						path, (unsigned long long)lo,
						(unsigned long long)(lo + TILE_WIDTH - 1),
						(unsigned)(t % TILE_WIDTH), logdir, rel);
		} else {
			unsigned w = size - lo >= TILE_WIDTH ? TILE_WIDTH : (unsigned)(size - lo);

			tiles_path(0, t, w, rel, sizeof(rel));
			for (uint64_t leaf = lo; rc == LS_OK && leaf < lo + w; leaf++) {
				if (leaf < first || leaf >= end)
					continue;
				rc = tiles_node_hash(r, 0, leaf, want);
				if (rc != LS_OK)
					rc = ls_err_set(err, rc == LS_NOTFOUND ? LS_TAMPERED : rc,
							"%s/%s: cannot be read; sealed segment %s "
							"needs it", logdir, rel, path);
				else if (memcmp(h[leaf - first], want, LS_HASH_LEN) != 0)
					rc = ls_err_set(err, LS_TAMPERED,
							"%s: the leaf hash of entry %llu differs from "
							"hash %u of %s/%s (the signed tree)",
							path, (unsigned long long)leaf,
							(unsigned)(leaf - lo), logdir, rel);
			}
		}
		if (rc == LS_OK && tiles)
			(*tiles)++;
	}
	tiles_reader_free(r);
	if (rc == LS_OK)
		rc = check_l0_files(logdir, path, first, end - first, h, err);
	return rc;
}

static ls_rc check_file(const char *datadir, struct keyring *kr, const char *path,
			uint64_t first, uint64_t size, uint8_t (**hashes)[LS_HASH_LEN],
			uint32_t *count, uint64_t *bytes, uint64_t *tiles, struct ls_err *err)
{
	struct segment *s = NULL;
	uint8_t (*h)[LS_HASH_LEN] = NULL;
	struct stat st;
	uint32_t n;
	ls_rc rc;

	if (hashes)
		*hashes = NULL;
	rc = segment_verify(path, kr, err);
	if (rc == LS_OK)
		rc = segment_open(path, kr, &s, err);
	if (rc != LS_OK)
		return rc;
	n = segment_count(s);
	if (segment_first(s) != first)
		rc = ls_err_set(err, LS_TAMPERED, "%s: holds the segment of leaf %llu, not %llu",
				path, (unsigned long long)segment_first(s),
				(unsigned long long)first);
	else if (first % SEGMENT_BUNDLE || n % SEGMENT_BUNDLE || n == 0)
		rc = ls_err_set(err, LS_TAMPERED,
				"%s: leaves %llu..+%u are not whole entry bundles of %d", path,
				(unsigned long long)first, n, SEGMENT_BUNDLE);
	else if (!(h = malloc((size_t)n * LS_HASH_LEN)))
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	if (rc == LS_OK)
		rc = segment_hashes(s, first, n, h, err);
	segment_close(s);
	if (rc == LS_OK)
		rc = check_tiles(datadir, path, first, n, size, (const uint8_t (*)[LS_HASH_LEN])h,
				 tiles, err);
	if (rc == LS_OK && bytes)
		*bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (rc != LS_OK || !hashes)
		free(h);
	else
		*hashes = h;
	if (count)
		*count = rc == LS_OK ? n : 0;
	return rc;
}

ls_rc store_check_sealed_file(const char *datadir, const char *path, uint64_t first,
			      uint64_t size, uint8_t (**hashes)[LS_HASH_LEN], uint32_t *count,
			      uint64_t *bytes, struct ls_err *err)
{
	struct keyring *kr = NULL;
	ls_rc rc = keys_get(datadir, &kr, err);

	if (rc == LS_NOTFOUND)
		kr = NULL;
	else if (rc != LS_OK)
		return rc;
	return check_file(datadir, kr, path, first, size, hashes, count, bytes, NULL, err);
}

/* ----------------------------------------------------------- the pool --- */

struct job {
	uint64_t first;
	int done;
	ls_rc rc;
	struct ls_err err;
	uint8_t (*hashes)[LS_HASH_LEN];
	uint32_t count;
	uint64_t bytes, tiles;
};

struct pool {
	const char *datadir;
	struct keyring *kr;
	uint64_t size;
	struct job *jobs;
	size_t n, next, consumed, window;
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		struct job *j;
		char path[PATH_MAX];
		size_t i;

		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->next < p->n && p->next >= p->consumed + p->window)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop || p->next >= p->n) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		j = &p->jobs[i];
		store_sealed_path(p->datadir, j->first, path, sizeof(path));
		j->rc = check_file(p->datadir, p->kr, path, j->first, p->size, &j->hashes, &j->count,
				   &j->bytes, &j->tiles, &j->err);
		pthread_mutex_lock(&p->mu);
		j->done = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

/* The write-ahead log goes on at end: its records are read (framing,
 * checksums, seals) from the start of the file that holds end, those below
 * end too (a copy of sealed entries until the file is dropped), and the
 * first one at or past end is end, or there is none.  An error past end is left to the
 * caller's own read of the WAL (a live server may be writing there). */
static ls_rc check_wal(const char *datadir, uint64_t end, struct ls_err *err)
{
	char jdir[PATH_MAX];
	struct journal_iter *it = NULL;
	uint64_t *firsts = NULL, start = end, last = 0;
	size_t n = 0;
	int seen = 0;
	ls_rc rc;

	snprintf(jdir, sizeof(jdir), "%s/journal", datadir);
	rc = journal_files(jdir, &firsts, &n, err);
	if (rc == LS_NOTFOUND)
		return LS_OK; /* no WAL directory: nothing goes on */
	if (rc != LS_OK)
		return rc;
	/* From the file that holds end (its records below end are a copy of
	 * sealed ones); files before it hold entries before the first segment
	 * or were dropped, and are not this check's. */
	for (size_t k = 0; k < n && firsts[k] <= end; k++)
		start = firsts[k];
	free(firsts);
	if (!n)
		return LS_OK;
	rc = journal_iter_open_strict(jdir, start, &it, err);
	while (rc == LS_OK) {
		const uint8_t *data;
		size_t len;
		uint64_t idx;

		rc = journal_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc != LS_OK) {
			if (seen && last + 1 >= end)
				rc = LS_OK;
			break;
		}
		if (idx >= end) {
			if (idx != end)
				rc = ls_err_set(err, LS_TAMPERED,
						"%s: the write-ahead log goes on at leaf %llu, the "
						"sealed segments end at %llu",
						jdir, (unsigned long long)idx, (unsigned long long)end);
			break;
		}
		last = idx;
		seen = 1;
	}
	journal_iter_free(it);
	if (rc != LS_OK && rc != LS_TAMPERED) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		return ls_err_set(err, rc, "%s (the write-ahead log up to leaf %llu, where the "
				  "sealed segments end)",
				  why, (unsigned long long)end);
	}
	return rc;
}

ls_rc store_sealed_hashes(const char *datadir, uint64_t from,
			  ls_rc (*fn)(void *ctx, uint64_t first, size_t n,
				      const uint8_t (*hashes)[LS_HASH_LEN], struct ls_err *err),
			  void *ctx, uint64_t *end, struct ls_err *err)
{
	char sdir[PATH_MAX], path[PATH_MAX];
	struct keyring *kr = NULL;
	uint64_t *names = NULL, expect = from;
	uint8_t (*h)[LS_HASH_LEN] = NULL;
	size_t n = 0, i;
	ls_rc rc;

	*end = from;
	snprintf(sdir, sizeof(sdir), "%s/" STORE_SEALED_DIR, datadir);
	rc = list_names(sdir, 1, &names, &n, err);
	if (rc != LS_OK)
		return rc;
	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND) {
		kr = NULL;
		rc = LS_OK;
	}
	/* The last segment starting at or below from holds it, if any. */
	for (i = n; i > 0 && names[i - 1] > from; i--)
		;
	i = i ? i - 1 : 0;
	for (; rc == LS_OK && i < n; i++) {
		struct segment *s = NULL;
		uint64_t first, lo;
		uint32_t count;

		store_sealed_path(datadir, names[i], path, sizeof(path));
		rc = segment_open(path, kr, &s, err);
		if (rc != LS_OK)
			break;
		first = segment_first(s);
		count = segment_count(s);
		if (first != names[i])
			rc = ls_err_set(err, LS_TAMPERED, "%s: holds the segment of leaf %llu", path,
					(unsigned long long)first);
		else if (first + count <= from) {
			segment_close(s);
			continue; /* wholly below: not asked for */
		} else if (first > expect)
			rc = ls_err_set(err, LS_TAMPERED,
					"%s: starts at leaf %llu, the sealed segments before it end "
					"at %llu (a segment is missing)",
					path, (unsigned long long)first, (unsigned long long)expect);
		lo = first > from ? first : from;
		if (rc == LS_OK && !(h = malloc((size_t)(first + count - lo) * LS_HASH_LEN)))
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		if (rc == LS_OK)
			rc = segment_hashes(s, lo, (size_t)(first + count - lo), h, err);
		segment_close(s);
		if (rc == LS_OK) {
			char logdir[PATH_MAX];

			snprintf(logdir, sizeof(logdir), "%s/log", datadir);
			rc = check_l0_files(logdir, path, lo, first + count - lo,
					    (const uint8_t (*)[LS_HASH_LEN])h, err);
		}
		if (rc == LS_OK && fn)
			rc = fn(ctx, lo, (size_t)(first + count - lo),
				(const uint8_t (*)[LS_HASH_LEN])h, err);
		free(h);
		h = NULL;
		if (rc == LS_OK)
			expect = *end = first + count;
	}
	free(names);
	if (rc == LS_OK)
		rc = check_wal(datadir, *end, err);
	return rc;
}

/* Check names[0..n) (ascending) with nth workers, handing results on in
 * order from *expect; *expect ends where the last one checked ends. */
static ls_rc run_pool(const char *datadir, struct keyring *kr, uint64_t size, unsigned nth,
		      const struct store_check_cb *cb, const uint64_t *names, size_t n,
		      uint64_t from, uint64_t *expect, struct store_check_report *rep,
		      struct ls_err *err)
{
	char path[PATH_MAX];
	struct pool p;
	pthread_t th[16];
	unsigned started = 0;
	ls_rc rc = LS_OK;

	if (!n)
		return LS_OK;
	memset(&p, 0, sizeof(p));
	p.datadir = datadir;
	p.kr = kr;
	p.size = size;
	p.n = n;
	p.jobs = calloc(n, sizeof(*p.jobs));
	if (!p.jobs)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		p.jobs[i].first = names[i];
	p.window = 2 * (size_t)nth;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (started = 0; started < nth && started < p.n; started++)
		if (pthread_create(&th[started], NULL, worker, &p) != 0)
			break;
	if (!started)
		rc = ls_err_set(err, LS_NOMEM, "cannot start a thread");
	for (size_t i = 0; rc == LS_OK && i < p.n; i++) {
		struct job *j = &p.jobs[i];

		pthread_mutex_lock(&p.mu);
		while (!j->done)
			pthread_cond_wait(&p.cv, &p.mu);
		pthread_mutex_unlock(&p.mu);
		store_sealed_path(datadir, j->first, path, sizeof(path));
		/* The order first: a gap explains a bad file after it. */
		if (j->first > *expect)
			rc = ls_err_set(err, LS_TAMPERED,
					"%s: starts at leaf %llu, the sealed segments before it end "
					"at %llu (a segment is missing)",
					path, (unsigned long long)j->first, (unsigned long long)*expect);
		else if (j->first < *expect)
			rc = ls_err_set(err, LS_TAMPERED,
					"%s: starts at leaf %llu, inside the segment before it (which "
					"ends at %llu)",
					path, (unsigned long long)j->first, (unsigned long long)*expect);
		else if (j->rc != LS_OK)
			rc = ls_err_set(err, j->rc, "%s", j->err.msg);
		else if (cb && cb->hashes)
			rc = cb->hashes(cb->ctx, j->first, j->count,
					(const uint8_t (*)[LS_HASH_LEN])j->hashes, err);
		free(j->hashes);
		j->hashes = NULL;
		if (rc != LS_OK)
			break;
		*expect = j->first + j->count;
		rep->segments++;
		rep->bytes += j->bytes;
		rep->tiles += j->tiles;
		rep->end = *expect;
		if (cb && cb->progress)
			cb->progress(cb->ctx, *expect - from);
		pthread_mutex_lock(&p.mu);
		p.consumed = i + 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	for (unsigned t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	for (size_t i = 0; i < p.n; i++)
		free(p.jobs[i].hashes);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	free(p.jobs);
	return rc;
}

ls_rc store_check_segments(const char *datadir, uint64_t from, uint64_t size,
			   const struct store_check_cb *cb, struct store_check_report *rep,
			   struct ls_err *err)
{
	char sdir[PATH_MAX], path[PATH_MAX];
	struct timespec t0, t1;
	struct keyring *kr = NULL;
	unsigned nth = cb && cb->threads ? cb->threads : 2;
	uint64_t *names = NULL, expect = from;
	size_t n = 0, skip = 0;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	rep->first = rep->end = from;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (strlen(datadir) > PATH_MAX - 64)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	if (nth > 16)
		nth = 16;
	snprintf(sdir, sizeof(sdir), "%s/" STORE_SEALED_DIR, datadir);
	rc = list_names(sdir, 1, &names, &n, err);
	if (rc != LS_OK)
		return rc;
	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND) {
		kr = NULL;
		rc = LS_OK;
	}
	/* Left-overs wholly below the retained point; the first one kept must
	 * start there (a segment spanning it would be half retired). */
	while (rc == LS_OK && skip < n && names[skip] < from) {
		if (skip + 1 < n && names[skip + 1] <= from) {
			skip++;
			continue;
		}
		/* The last one below: it must end at or before from. */
		{
			struct segment *s;

			store_sealed_path(datadir, names[skip], path, sizeof(path));
			rc = segment_open(path, kr, &s, err);
			if (rc != LS_OK)
				break;
			if (names[skip] + segment_count(s) > from)
				rc = ls_err_set(err, LS_TAMPERED,
						"%s: spans the retained point %llu (retention moves "
						"whole segments)",
						path, (unsigned long long)from);
			segment_close(s);
		}
		skip++;
	}
	if (rc == LS_OK)
		rc = run_pool(datadir, kr, size, nth, cb, names + skip, n - skip, from, &expect, rep,
			      err);
	/* The WAL goes on at the sealed end.  Beside a live server the sealer
	 * may have sealed more (and dropped the WAL files) since the listing:
	 * new segments from the sealed end are checked too, then again. */
	for (int round = 0; rc == LS_OK; round++) {
		size_t k;

		rc = check_wal(datadir, expect, err);
		if (rc == LS_OK || round == 64)
			break;
		free(names);
		names = NULL;
		if (list_names(sdir, 1, &names, &n, NULL) != LS_OK)
			break;
		for (k = 0; k < n && names[k] < expect; k++)
			;
		if (k == n || names[k] != expect)
			break; /* nothing sealed meanwhile: the WAL's error stands */
		rc = run_pool(datadir, kr, size, nth, cb, names + k, n - k, from, &expect, rep,
			      err);
	}
	free(names);
	rep->entries = rep->end - rep->first;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	rep->entries_per_s = rep->seconds > 0 ? (double)rep->entries / rep->seconds : 0;
	return rc;
}
