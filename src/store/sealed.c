/*
 * sealed.c - the list of sealed segments and the cache of open ones (see
 * sealed.h).
 *
 * Cache invariants (under mu):
 *  C1. list is the last listing; a slot's segment is the one of its first
 *      in that or an earlier listing (segments never change once written).
 *  C2. A slot with refs > 0 is in use by a caller and is not closed; an
 *      evicted slot is the least recently used one with refs == 0; when
 *      every slot is in use the segment is opened for the caller alone and
 *      closed by sealed_cache_put().
 */
#include "store/sealed.h"
#include "store/keys.h"
#include "store/segment.h"
#include "store/tier.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

ls_rc sealed_dir_of(const char *sub, char *out, size_t cap)
{
	const char *slash;
	size_t n = strlen(sub);

	while (n > 1 && sub[n - 1] == '/')
		n--;
	slash = n ? memrchr(sub, '/', n) : NULL;
	if (!slash) {
		if ((size_t)snprintf(out, cap, "%s", SEALED_SUBDIR) >= cap)
			return LS_LIMIT;
		return LS_OK;
	}
	if ((size_t)snprintf(out, cap, "%.*s/%s", (int)(slash - sub), sub, SEALED_SUBDIR) >= cap)
		return LS_LIMIT;
	return LS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

ls_rc sealed_list_load(const char *segdir, struct keyring *kr, struct sealed_list *out,
		       struct ls_err *err)
{
	struct segment *seg;
	struct dirent *e;
	uint64_t first, *v = NULL;
	size_t n = 0, cap = 0;
	char path[4096];
	DIR *d;
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	d = opendir(segdir);
	if (!d) {
		if (errno == ENOENT)
			return LS_OK;
		return ls_err_set(err, LS_IO, "%s: %s", segdir, strerror(errno));
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (!segment_parse_name(e->d_name, &first))
			continue;
		if (n == cap) {
			uint64_t *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				return ls_err_set(err, LS_NOMEM, "out of memory listing %s", segdir);
			}
			v = nv;
		}
		v[n++] = first;
	}
	closedir(d);
	if (n == 0) {
		free(v);
		return LS_OK;
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	segment_path(segdir, v[n - 1], path, sizeof(path));
	rc = segment_open(path, kr, &seg, err);
	if (rc != LS_OK) {
		free(v);
		return rc;
	}
	if (segment_first(seg) != v[n - 1]) {
		segment_close(seg);
		free(v);
		return ls_err_set(err, LS_CORRUPT, "%s offset 0: holds leaves from %llu", path,
				  (unsigned long long)segment_first(seg));
	}
	out->end = v[n - 1] + segment_count(seg);
	segment_close(seg);
	out->first = v;
	out->n = n;
	return LS_OK;
}

void sealed_list_release(struct sealed_list *l)
{
	free(l->first);
	memset(l, 0, sizeof(*l));
}

uint64_t sealed_list_end_of(const struct sealed_list *l, size_t i)
{
	return i + 1 < l->n ? l->first[i + 1] : l->end;
}

long sealed_list_find(const struct sealed_list *l, uint64_t index)
{
	size_t lo = 0, hi = l->n;

	if (l->n == 0 || index < l->first[0] || index >= l->end)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->first[mid] <= index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

/* ------------------------------------------------------------------ cache */

struct slot {
	struct segment *seg;	/* NULL: free */
	uint64_t first;
	unsigned refs;
	uint64_t used;		/* LRU clock */
};

struct sealed_cache {
	char *dir;
	struct keyring *kr;
	pthread_mutex_t mu;
	struct sealed_list list;
	int listed;
	struct stat st;		/* of the directory when it was listed */
	int stable;		/* st is old enough to be trusted */
	struct slot slot[SEALED_CACHE];
	uint64_t clock;
};

ls_rc sealed_cache_open(const char *segdir, struct sealed_cache **out, struct ls_err *err)
{
	struct sealed_cache *c = calloc(1, sizeof(*c));
	ls_rc rc;

	*out = NULL;
	if (!c || !(c->dir = strdup(segdir))) {
		free(c);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = keys_get_parent(segdir, &c->kr, err);
	if (rc != LS_OK && rc != LS_NOTFOUND) {
		free(c->dir);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return LS_OK;
}

/* A fresh listing into c->list (under mu: listings are rare). */
static ls_rc cache_relist(struct sealed_cache *c, struct ls_err *err)
{
	struct sealed_list l;
	struct timespec now;
	struct stat st;
	ls_rc rc;

	/* A segment added or removed changes the directory's times: an
	 * unchanged directory needs no new listing. */
	memset(&st, 0, sizeof(st));
	if (stat(c->dir, &st) == 0 && c->listed && c->stable && st.st_ino == c->st.st_ino &&
	    st.st_mtim.tv_sec == c->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == c->st.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == c->st.st_ctim.tv_nsec)
		return LS_OK;
	/* File times are coarse (a clock tick): a listing made within a
	 * second of the last change is not trusted to be the last one. */
	clock_gettime(CLOCK_REALTIME, &now);
	c->stable = now.tv_sec > st.st_mtim.tv_sec + 1;
	rc = sealed_list_load(c->dir, c->kr, &l, err);
	if (rc != LS_OK)
		return rc;
	c->st = st;
	sealed_list_release(&c->list);
	c->list = l;
	c->listed = 1;
	return LS_OK;
}

/* The cached segment that starts at first, with a reference taken, or
 * NULL.  Under mu. */
static struct segment *cache_slot_take(struct sealed_cache *c, uint64_t first)
{
	for (int k = 0; k < SEALED_CACHE; k++) {
		struct slot *sl = &c->slot[k];

		if (sl->seg && sl->first == first) {
			sl->refs++;
			sl->used = ++c->clock;
			return sl->seg;
		}
	}
	return NULL;
}

/* Put s (first) in a free or least recently used slot, or leave it to the
 * caller alone (C2).  Under mu. */
static void cache_slot_put(struct sealed_cache *c, struct segment *s, uint64_t first)
{
	struct slot *victim = NULL;

	for (int k = 0; k < SEALED_CACHE; k++) {
		struct slot *sl = &c->slot[k];

		if (sl->refs == 0 && (!victim || !sl->seg || (victim->seg && sl->used < victim->used)))
			victim = sl;
	}
	if (victim) {
		if (victim->seg)
			segment_close(victim->seg);
		victim->seg = s;
		victim->first = first;
		victim->refs = 1;
		victim->used = ++c->clock;
	}
}

/* The remote segment that holds index (tier.h), from a slot or the tier. */
static ls_rc cache_get_remote(struct sealed_cache *c, uint64_t index, struct segment **seg,
			      struct ls_err *err)
{
	char datadir[4096];
	struct segment *s;
	uint64_t first, end;
	ls_rc rc;

	if (tier_parent(c->dir, datadir, sizeof(datadir)) != LS_OK)
		return ls_err_set(err, LS_LIMIT, "path too long");
	rc = tier_find(datadir, index, &first, &end, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_NOTFOUND, "%s: no sealed segment holds leaf %llu", c->dir,
				  (unsigned long long)index);
	if (rc != LS_OK)
		return rc;
	pthread_mutex_lock(&c->mu);
	*seg = cache_slot_take(c, first);
	pthread_mutex_unlock(&c->mu);
	if (*seg)
		return LS_OK;
	rc = tier_open(datadir, c->kr, index, &s, &first, &end, err);
	if (rc == LS_NOTFOUND)
		rc = ls_err_set(err, LS_NOTFOUND, "%s: no sealed segment holds leaf %llu", c->dir,
				(unsigned long long)index);
	if (rc != LS_OK)
		return rc;
	pthread_mutex_lock(&c->mu);
	*seg = cache_slot_take(c, first);	/* another thread opened it meanwhile? */
	if (!*seg)
		cache_slot_put(c, s, first);
	pthread_mutex_unlock(&c->mu);
	if (*seg)
		segment_close(s);
	else
		*seg = s;
	return LS_OK;
}

ls_rc sealed_cache_get(struct sealed_cache *c, uint64_t index, int relist, struct segment **seg,
		       struct ls_err *err)
{
	char path[4096];
	struct segment *s;
	uint64_t first, end;
	long i;
	ls_rc rc = LS_OK;

	*seg = NULL;
	pthread_mutex_lock(&c->mu);
	if (!c->listed || (relist && index >= c->list.end))
		rc = cache_relist(c, err);
	i = rc == LS_OK ? sealed_list_find(&c->list, index) : -1;
	if (rc == LS_OK && i < 0 && (c->list.n == 0 || index < c->list.first[0])) {
		/* Below the local segments: one retention moved to the bucket
		 * (tier.h) is read through the local cache of downloads. */
		pthread_mutex_unlock(&c->mu);
		return cache_get_remote(c, index, seg, err);
	}
	if (rc == LS_OK && i < 0)
		rc = ls_err_set(err, LS_NOTFOUND, "%s: no sealed segment holds leaf %llu", c->dir,
				(unsigned long long)index);
	if (rc != LS_OK) {
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	first = c->list.first[i];
	end = sealed_list_end_of(&c->list, (size_t)i);
	*seg = cache_slot_take(c, first);
	pthread_mutex_unlock(&c->mu);
	if (*seg)
		return LS_OK;
	/* Opening reads the header, footer and block table: not under mu. */
	segment_path(c->dir, first, path, sizeof(path));
	rc = segment_open(path, c->kr, &s, err);
	if (rc == LS_NOTFOUND) {
		/* Moved to the bucket since the listing? */
		pthread_mutex_lock(&c->mu);
		c->listed = 0;
		pthread_mutex_unlock(&c->mu);
		if (cache_get_remote(c, index, seg, NULL) == LS_OK)
			return LS_OK;
		rc = ls_err_set(err, LS_NOTFOUND, "%s: gone (moved out by retention?)", path);
	}
	if (rc != LS_OK)
		return rc;
	if (segment_first(s) != first || segment_count(s) != end - first) {
		segment_close(s);
		return ls_err_set(err, LS_CORRUPT,
				  "%s offset 0: holds leaves [%llu, +%u), the directory says [%llu, %llu)",
				  path, (unsigned long long)segment_first(s), segment_count(s),
				  (unsigned long long)first, (unsigned long long)end);
	}
	pthread_mutex_lock(&c->mu);
	*seg = cache_slot_take(c, first);	/* another thread opened it meanwhile? */
	if (!*seg)
		cache_slot_put(c, s, first);	/* else uncached (C2): closed by sealed_cache_put() */
	pthread_mutex_unlock(&c->mu);
	if (*seg)
		segment_close(s);
	else
		*seg = s;
	return LS_OK;
}

void sealed_cache_put(struct sealed_cache *c, struct segment *seg)
{
	if (!seg)
		return;
	pthread_mutex_lock(&c->mu);
	for (int k = 0; k < SEALED_CACHE; k++) {
		if (c->slot[k].seg == seg) {
			c->slot[k].refs--;
			pthread_mutex_unlock(&c->mu);
			return;
		}
	}
	pthread_mutex_unlock(&c->mu);
	segment_close(seg);
}

void sealed_cache_span(struct sealed_cache *c, uint64_t *first, uint64_t *end)
{
	pthread_mutex_lock(&c->mu);
	*first = c->list.n ? c->list.first[0] : 0;
	*end = c->list.end;
	pthread_mutex_unlock(&c->mu);
}

void sealed_cache_free(struct sealed_cache *c)
{
	if (!c)
		return;
	for (int k = 0; k < SEALED_CACHE; k++)
		if (c->slot[k].seg)
			segment_close(c->slot[k].seg);
	sealed_list_release(&c->list);
	pthread_mutex_destroy(&c->mu);
	free(c->dir);
	free(c);
}
