/*
 * tier.c - the remote segments list (DIR/segments.remote) and the bounded
 * cache of downloaded segments (DIR/cache/segments), see tier.h.
 *
 * State per data directory (one per process, found by path in a small
 * list): the remote list as last read (re-read when the file's identity
 * changes), and the cache's files with a use clock (least recently used
 * evicted first).  Files found in the cache directory at start get a clock
 * by their modification time and are checked (size, SHA-256) on first use.
 */
#include "store/tier.h"
#include "store/journal.h"
#include "store/keys.h"
#include "store/segment.h"
#include "base/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REMOTE_HEADER "logseal remote segments v1\n"
#define REMOTE_MAX (64u << 20)
#define SEGMENT_FILE_MAX (4ull << 30)

/* tier_s3.c: fetch through the object store of DIR/objstore.json. */
ls_rc tier_s3_fetch(void *ctx, const char *datadir, const char *key, const char *path,
		    struct ls_err *err);

struct cfile {
	uint64_t first;
	uint64_t bytes;
	uint64_t used;		/* use clock */
	int checked;		/* T1: checked in this process */
};

struct tier {
	struct tier *next;
	char *dir;
	pthread_mutex_t mu;
	/* the remote list */
	struct tier_seg *segs;
	size_t nsegs;
	int loaded;
	struct stat st;
	/* the cache */
	int scanned;
	struct cfile *files;
	size_t nfiles, capfiles;
	uint64_t total, clock;
	struct tier_stats stats;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tier *g_tiers;
static uint64_t g_budget;
static tier_fetch_fn g_fetch;
static void *g_fetch_ctx;

void tier_set_budget(uint64_t bytes)
{
	__atomic_store_n(&g_budget, bytes, __ATOMIC_RELAXED);
}

uint64_t tier_budget(void)
{
	uint64_t b = __atomic_load_n(&g_budget, __ATOMIC_RELAXED);
	const char *env;

	if (b)
		return b;
	/* Commands other than serve (query, export, verify) take it from the
	 * environment. */
	env = getenv(TIER_BUDGET_ENV);
	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (!*end && v > 0)
			return v;
	}
	return TIER_DEFAULT_BUDGET;
}

void tier_set_fetch(tier_fetch_fn fn, void *ctx)
{
	pthread_mutex_lock(&g_mu);
	g_fetch = fn;
	g_fetch_ctx = ctx;
	pthread_mutex_unlock(&g_mu);
}

ls_rc tier_parent(const char *sub, char *out, size_t cap)
{
	const char *slash;
	size_t n = strlen(sub);

	while (n > 1 && sub[n - 1] == '/')
		n--;
	slash = n ? memrchr(sub, '/', n) : NULL;
	if (!slash)
		return (size_t)snprintf(out, cap, ".") >= cap ? LS_LIMIT : LS_OK;
	if ((size_t)(slash - sub) + 1 > cap)
		return LS_LIMIT;
	snprintf(out, cap, "%.*s", (int)(slash > sub ? (slash - sub) : 1), sub);
	return LS_OK;
}

static struct tier *tier_get(const char *given)
{
	char real[PATH_MAX];
	const char *datadir = given;
	struct tier *t;

	/* One state per directory, however it is named (T4). */
	if (realpath(given, real))
		datadir = real;
	pthread_mutex_lock(&g_mu);
	for (t = g_tiers; t; t = t->next)
		if (!strcmp(t->dir, datadir))
			break;
	if (!t && (t = calloc(1, sizeof(*t))) != NULL) {
		if (!(t->dir = strdup(datadir))) {
			free(t);
			t = NULL;
		} else {
			pthread_mutex_init(&t->mu, NULL);
			t->next = g_tiers;
			g_tiers = t;
		}
	}
	pthread_mutex_unlock(&g_mu);
	return t;
}

/* ---------------------------------------------------------- remote list --- */

static ls_rc parse_remote(const char *path, const char *text, size_t len, struct tier_seg **out,
			  size_t *n, struct ls_err *err)
{
	struct tier_seg *v = NULL;
	size_t cnt = 0, cap = 0, line = 1;
	const char *p = text, *end = text + len;

	*out = NULL;
	*n = 0;
	if (len < strlen(REMOTE_HEADER) || memcmp(text, REMOTE_HEADER, strlen(REMOTE_HEADER)))
		return ls_err_set(err, LS_CORRUPT, "%s: not a remote segments list", path);
	p += strlen(REMOTE_HEADER);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char buf[256], hex[65];
		unsigned long long first, bytes;
		unsigned count;
		struct tier_seg s;

		line++;
		if (!nl || (size_t)(nl - p) >= sizeof(buf)) {
			free(v);
			return ls_err_set(err, LS_CORRUPT, "%s: line %zu is malformed", path, line);
		}
		memcpy(buf, p, (size_t)(nl - p));
		buf[nl - p] = 0;
		p = nl + 1;
		memset(&s, 0, sizeof(s));
		if (sscanf(buf, "%16llx %u %llu %64s", &first, &count, &bytes, hex) != 4 ||
		    strlen(buf) < 16 || buf[16] != ' ' || count == 0 ||
		    ls_unhex(hex, strlen(hex), s.sha256, LS_HASH_LEN) != LS_OK ||
		    (cnt && v[cnt - 1].first + v[cnt - 1].count != first)) {
			free(v);
			return ls_err_set(err, LS_CORRUPT, "%s: line %zu is malformed", path, line);
		}
		s.first = first;
		s.count = count;
		s.bytes = bytes;
		if (cnt == cap) {
			struct tier_seg *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
			v = nv;
		}
		v[cnt++] = s;
	}
	*out = v;
	*n = cnt;
	return LS_OK;
}

ls_rc tier_remote_load(const char *datadir, struct tier_seg **v, size_t *n, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	size_t len;
	ls_rc rc;

	*v = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/" TIER_REMOTE_FILE, datadir);
	rc = fs_read_file(path, REMOTE_MAX, &text, &len, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	rc = parse_remote(path, text, len, v, n, err);
	free(text);
	return rc;
}

static ls_rc remote_save(const char *datadir, const struct tier_seg *v, size_t n,
			 struct ls_err *err)
{
	char path[PATH_MAX], *text;
	size_t cap = strlen(REMOTE_HEADER) + n * 128 + 1, used;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/" TIER_REMOTE_FILE, datadir);
	if (n == 0) {
		if (unlink(path) != 0 && errno != ENOENT)
			return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
		return fs_sync_dir(datadir, err);
	}
	if (!(text = malloc(cap)))
		return ls_err_set(err, LS_NOMEM, "out of memory");
	used = (size_t)snprintf(text, cap, "%s", REMOTE_HEADER);
	for (size_t i = 0; i < n; i++) {
		char hex[65];

		ls_hex(v[i].sha256, LS_HASH_LEN, hex);
		used += (size_t)snprintf(text + used, cap - used, "%016llx %u %llu %s\n",
					 (unsigned long long)v[i].first, v[i].count,
					 (unsigned long long)v[i].bytes, hex);
	}
	rc = fs_write_file(path, text, used, 0644, 0, err);
	free(text);
	return rc;
}

/* The list of t, read again when the file changed.  Under t->mu. */
static ls_rc remote_fresh(struct tier *t, struct ls_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	struct tier_seg *v;
	size_t n;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/" TIER_REMOTE_FILE, t->dir);
	memset(&st, 0, sizeof(st));
	if (stat(path, &st) != 0) {
		if (errno != ENOENT)
			return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
		memset(&st, 0, sizeof(st));
	}
	if (t->loaded && st.st_ino == t->st.st_ino && st.st_size == t->st.st_size &&
	    st.st_mtim.tv_sec == t->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == t->st.st_mtim.tv_nsec)
		return LS_OK;
	rc = tier_remote_load(t->dir, &v, &n, err);
	if (rc != LS_OK)
		return rc;
	free(t->segs);
	t->segs = v;
	t->nsegs = n;
	t->st = st;
	t->loaded = 1;
	return LS_OK;
}

ls_rc tier_remote_add(const char *datadir, const struct tier_seg *s, struct ls_err *err)
{
	struct tier_seg *v, *nv;
	size_t n;
	ls_rc rc;

	rc = tier_remote_load(datadir, &v, &n, err);
	if (rc != LS_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (v[i].first == s->first) {
			free(v);
			return LS_OK;	/* already listed (a pass that stopped) */
		}
	if (n && v[n - 1].first + v[n - 1].count != s->first) {
		free(v);
		return ls_err_set(err, LS_INVALID,
				  "%s/" TIER_REMOTE_FILE ": segment %016llx does not follow the last one",
				  datadir, (unsigned long long)s->first);
	}
	nv = realloc(v, (n + 1) * sizeof(*v));
	if (!nv) {
		free(v);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	nv[n] = *s;
	rc = remote_save(datadir, nv, n + 1, err);
	free(nv);
	return rc;
}

ls_rc tier_remote_remove(const char *datadir, uint64_t first, struct ls_err *err)
{
	struct tier_seg *v;
	size_t n, i;
	ls_rc rc;

	rc = tier_remote_load(datadir, &v, &n, err);
	if (rc != LS_OK)
		return rc;
	for (i = 0; i < n && v[i].first != first; i++)
		;
	if (i == n) {
		free(v);
		return LS_OK;
	}
	memmove(&v[i], &v[i + 1], (n - i - 1) * sizeof(*v));
	rc = remote_save(datadir, v, n - 1, err);
	free(v);
	if (rc == LS_OK) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/" TIER_CACHE_SUBDIR "/%016llx" SEGMENT_SUFFIX,
			 datadir, (unsigned long long)first);
		unlink(path);
	}
	return rc;
}

ls_rc tier_local_retained(const char *jdir, uint64_t *first, struct ls_err *err)
{
	return journal_retained(jdir, first, err);
}

static long find_seg(const struct tier *t, uint64_t index)
{
	size_t lo = 0, hi = t->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->segs[mid].first + t->segs[mid].count <= index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->nsegs && t->segs[lo].first <= index)
		return (long)lo;
	return -1;
}

ls_rc tier_readable_from(const char *datadir, uint64_t kept, uint64_t *from, struct ls_err *err)
{
	struct tier *t = tier_get(datadir);
	ls_rc rc;

	*from = kept;
	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	pthread_mutex_lock(&t->mu);
	rc = remote_fresh(t, err);
	for (size_t i = t->nsegs; rc == LS_OK && i > 0; i--) {
		if (t->segs[i - 1].first + t->segs[i - 1].count != *from)
			break;
		*from = t->segs[i - 1].first;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

ls_rc tier_find(const char *datadir, uint64_t index, uint64_t *first, uint64_t *end,
		struct ls_err *err)
{
	struct tier *t = tier_get(datadir);
	long i;
	ls_rc rc;

	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	pthread_mutex_lock(&t->mu);
	rc = remote_fresh(t, err);
	i = rc == LS_OK ? find_seg(t, index) : -1;
	if (i >= 0) {
		*first = t->segs[i].first;
		*end = t->segs[i].first + t->segs[i].count;
	}
	pthread_mutex_unlock(&t->mu);
	if (rc == LS_OK && i < 0)
		rc = LS_NOTFOUND;
	return rc;
}

/* ---------------------------------------------------------------- cache --- */

static struct cfile *cache_find(struct tier *t, uint64_t first)
{
	for (size_t i = 0; i < t->nfiles; i++)
		if (t->files[i].first == first)
			return &t->files[i];
	return NULL;
}

static void cache_forget(struct tier *t, struct cfile *f)
{
	t->total -= f->bytes;
	*f = t->files[--t->nfiles];
}

static void cache_path(const struct tier *t, uint64_t first, char *out, size_t cap)
{
	snprintf(out, cap, "%s/" TIER_CACHE_SUBDIR "/%016llx" SEGMENT_SUFFIX, t->dir,
		 (unsigned long long)first);
}

static int cmp_used(const void *a, const void *b)
{
	const struct cfile *x = a, *y = b;

	return x->used < y->used ? -1 : x->used > y->used;
}

/* The files in the cache directory: at the first use, and again before
 * every download, since other processes reading the directory (a CLI next
 * to the server) add files too.  Files known keep their use clock; new
 * ones are the least recently used. */
static ls_rc cache_scan(struct tier *t, struct ls_err *err)
{
	char cdir[PATH_MAX], path[PATH_MAX + 300];
	struct cfile *old = t->files;
	size_t nold = t->nfiles;
	int first_scan = !t->scanned;
	struct dirent *e;
	DIR *d;

	t->files = NULL;
	t->nfiles = t->capfiles = 0;
	t->total = 0;
	snprintf(cdir, sizeof(cdir), "%s/" TIER_CACHE_SUBDIR, t->dir);
	d = opendir(cdir);
	if (!d) {
		free(old);
		if (errno != ENOENT)
			return ls_err_set(err, LS_IO, "%s: %s", cdir, strerror(errno));
		t->scanned = 1;
		return LS_OK;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		uint64_t first;

		snprintf(path, sizeof(path), "%s/%s", cdir, e->d_name);
		if (!segment_parse_name(e->d_name, &first)) {
			/* a download that stopped half-way */
			if (strstr(e->d_name, ".tmp"))
				unlink(path);
			continue;
		}
		if (stat(path, &st) != 0)
			continue;
		if (t->nfiles == t->capfiles) {
			size_t nc = t->capfiles ? t->capfiles * 2 : 16;
			struct cfile *nv = realloc(t->files, nc * sizeof(*nv));

			if (!nv) {
				closedir(d);
				free(old);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
			t->files = nv;
			t->capfiles = nc;
		}
		{
			struct cfile f = { first, (uint64_t)st.st_size,
					   first_scan ? (uint64_t)st.st_mtim.tv_sec : 0, 0 };

			for (size_t i = 0; i < nold; i++)
				if (old[i].first == first && old[i].bytes == f.bytes) {
					f.used = old[i].used;
					f.checked = old[i].checked;
				}
			t->files[t->nfiles++] = f;
		}
		t->total += (uint64_t)st.st_size;
	}
	closedir(d);
	free(old);
	if (first_scan) {
		/* Use clocks in modification order, then from there on. */
		if (t->nfiles)	/* (files is NULL while the cache is empty) */
			qsort(t->files, t->nfiles, sizeof(*t->files), cmp_used);
		for (size_t i = 0; i < t->nfiles; i++)
			t->files[i].used = ++t->clock;
	}
	t->scanned = 1;
	return LS_OK;
}

/* Delete the least recently used files (never keep_first's) until the
 * cache holds at most budget bytes.  Under t->mu. */
static void cache_evict(struct tier *t, uint64_t budget, uint64_t keep_first)
{
	while (t->total > budget) {
		struct cfile *victim = NULL;
		char path[PATH_MAX];

		for (size_t i = 0; i < t->nfiles; i++)
			if (t->files[i].first != keep_first &&
			    (!victim || t->files[i].used < victim->used))
				victim = &t->files[i];
		if (!victim)
			return;
		cache_path(t, victim->first, path, sizeof(path));
		unlink(path);
		t->stats.evictions++;
		cache_forget(t, victim);
	}
}

/* Size and SHA-256 of the file at path against s (T1). */
static ls_rc check_sum(const char *path, const char *key, const struct tier_seg *s,
		       struct ls_err *err)
{
	char *data;
	size_t len;
	uint8_t h[LS_HASH_LEN];
	ls_rc rc = fs_read_file(path, SEGMENT_FILE_MAX, &data, &len, err);

	if (rc != LS_OK)
		return rc;
	ls_sha256(data, len, NULL, 0, h);
	free(data);
	if (len != s->bytes)
		return ls_err_set(err, LS_TAMPERED,
				  "object %s: %zu bytes where the remote list says %llu", key, len,
				  (unsigned long long)s->bytes);
	if (!ls_ct_equal(h, s->sha256, LS_HASH_LEN))
		return ls_err_set(err, LS_TAMPERED,
				  "object %s: SHA-256 differs from the remote list", key);
	return LS_OK;
}

/* Fetch s into the file at dst and check it (T1); a bad one is deleted. */
static ls_rc fetch_checked(const char *datadir, struct keyring *kr, const struct tier_seg *s,
			   const char *key, const char *dst, struct ls_err *err)
{
	tier_fetch_fn fn;
	void *ctx;
	ls_rc rc;

	pthread_mutex_lock(&g_mu);
	fn = g_fetch;
	ctx = g_fetch_ctx;
	pthread_mutex_unlock(&g_mu);
	rc = fn ? fn(ctx, datadir, key, dst, err) : tier_s3_fetch(NULL, datadir, key, dst, err);
	if (rc == LS_OK)
		rc = check_sum(dst, key, s, err);
	if (rc == LS_OK) {
		struct ls_err e2;

		rc = segment_verify(dst, kr, &e2);
		if (rc != LS_OK)
			rc = ls_err_set(err, rc, "object %s: %s", key, e2.msg);
	}
	if (rc != LS_OK)
		unlink(dst);
	return rc;
}

/* Download s into the cache and check it (T1).  Under t->mu. */
static ls_rc cache_fetch(struct tier *t, struct keyring *kr, const struct tier_seg *s,
			 const char *key, struct ls_err *err)
{
	char cdir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 32];
	ls_rc rc;

	snprintf(cdir, sizeof(cdir), "%s/" TIER_CACHE_SUBDIR, t->dir);
	rc = fs_mkdirs(cdir, 0700, err);
	if (rc != LS_OK)
		return rc;
	cache_path(t, s->first, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	/* Room first: the new file is counted when it is there. */
	cache_evict(t, tier_budget() > s->bytes ? tier_budget() - s->bytes : 0, UINT64_MAX);
	rc = fetch_checked(t->dir, kr, s, key, tmp, err);
	if (rc != LS_OK) {
		if (rc == LS_TAMPERED || rc == LS_CORRUPT)
			t->stats.bad++;
		return rc;
	}
	if (rename(tmp, path) != 0) {
		rc = ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	return LS_OK;
}

ls_rc tier_fetch_copy(const char *datadir, uint64_t first, const char *path,
		      struct ls_err *err)
{
	struct tier_seg *v, s;
	struct keyring *kr = NULL;
	char key[64];
	size_t n, i;
	ls_rc rc;

	rc = tier_remote_load(datadir, &v, &n, err);
	if (rc != LS_OK)
		return rc;
	for (i = 0; i < n && v[i].first != first; i++)
		;
	if (i == n) {
		free(v);
		return ls_err_set(err, LS_NOTFOUND, "%s/" TIER_REMOTE_FILE ": no segment %016llx",
				  datadir, (unsigned long long)first);
	}
	s = v[i];
	free(v);
	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND) {
		kr = NULL;
		rc = LS_OK;
	}
	if (rc != LS_OK)
		return rc;
	snprintf(key, sizeof(key), "segments/%016llx" SEGMENT_SUFFIX, (unsigned long long)first);
	return fetch_checked(datadir, kr, &s, key, path, err);
}

ls_rc tier_open(const char *datadir, struct keyring *kr, uint64_t index, struct segment **seg,
		uint64_t *first, uint64_t *end, struct ls_err *err)
{
	struct tier *t = tier_get(datadir);
	char path[PATH_MAX], key[64];
	struct tier_seg s;
	struct cfile *f;
	long i;
	ls_rc rc;

	*seg = NULL;
	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	pthread_mutex_lock(&t->mu);
	rc = remote_fresh(t, err);
	if (rc == LS_OK && !t->scanned)
		rc = cache_scan(t, err);
	i = rc == LS_OK ? find_seg(t, index) : -1;
	if (rc == LS_OK && i < 0)
		rc = LS_NOTFOUND;
	if (rc != LS_OK) {
		pthread_mutex_unlock(&t->mu);
		return rc;
	}
	s = t->segs[i];
	snprintf(key, sizeof(key), "segments/%016llx" SEGMENT_SUFFIX, (unsigned long long)s.first);
	cache_path(t, s.first, path, sizeof(path));
	f = cache_find(t, s.first);
	if (f && !f->checked) {
		struct ls_err e2;

		if (check_sum(path, key, &s, &e2) == LS_OK) {
			f->checked = 1;
		} else {
			unlink(path);
			cache_forget(t, f);
			f = NULL;
		}
	}
	if (f) {
		t->stats.hits++;
	} else {
		t->stats.misses++;
		rc = cache_scan(t, err);
		if (rc == LS_OK && (f = cache_find(t, s.first)) != NULL) {
			/* Fetched meanwhile by another process: checked below. */
			struct ls_err e2;

			if (check_sum(path, key, &s, &e2) == LS_OK) {
				f->checked = 1;
				goto have;
			}
			unlink(path);
			cache_forget(t, f);
			f = NULL;
		}
		if (rc == LS_OK)
			rc = cache_fetch(t, kr, &s, key, err);
		if (rc == LS_OK) {
			if (t->nfiles == t->capfiles) {
				size_t nc = t->capfiles ? t->capfiles * 2 : 16;
				struct cfile *nv = realloc(t->files, nc * sizeof(*nv));

				if (!nv) {
					rc = ls_err_set(err, LS_NOMEM, "out of memory");
				} else {
					t->files = nv;
					t->capfiles = nc;
				}
			}
			if (rc == LS_OK) {
				t->files[t->nfiles++] = (struct cfile){ s.first, s.bytes, 0, 1 };
				t->total += s.bytes;
				f = &t->files[t->nfiles - 1];
			} else {
				unlink(path);
			}
		}
	}
have:
	if (rc == LS_OK) {
		f->used = ++t->clock;
		rc = segment_open(path, kr, seg, err);
		if (rc == LS_OK && (segment_first(*seg) != s.first || segment_count(*seg) != s.count)) {
			segment_close(*seg);
			*seg = NULL;
			rc = ls_err_set(err, LS_TAMPERED,
					"object %s: does not hold leaves [%llu, +%u)", key,
					(unsigned long long)s.first, s.count);
		}
		if (rc != LS_OK) {
			unlink(path);
			cache_forget(t, f);
		} else {
			/* T2: bigger than the whole budget: served from the
			 * descriptor only. */
			cache_evict(t, tier_budget(), s.first);
			if (t->total > tier_budget()) {
				f = cache_find(t, s.first);
				unlink(path);
				if (f)
					cache_forget(t, f);
			}
			*first = s.first;
			*end = s.first + s.count;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

void tier_stats_of(const char *datadir, struct tier_stats *st)
{
	struct tier *t = tier_get(datadir);

	memset(st, 0, sizeof(*st));
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	*st = t->stats;
	st->bytes = t->total;
	st->files = t->nfiles;
	pthread_mutex_unlock(&t->mu);
}
