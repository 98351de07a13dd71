/*
 * index_files.c - what the index keeps in DIR/index/: the lock, the meta
 * file, the .post files (one per sealed range: the bytes of
 * postings_encode(), docs/FORMAT.md section 12), the list of sealed ranges
 * in memory and the cache of decoded ones.
 */
#include "followers/index.h"
#include "followers/index_int.h"

#include <dirent.h>
#include <sys/mman.h>

ls_rc ix_lock_dir(const char *indexdir, int *fd, struct ls_err *err)
{
	char *p = ix_path_join(indexdir, "lock");

	*fd = -1;
	if (!p)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	*fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(p);
	if (*fd < 0)
		return ls_err_set(err, LS_IO, "%s/lock: %s", indexdir, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return ls_err_set(err, LS_BUSY,
					  "%s is in use by another process (a running server?)",
					  indexdir);
		return ls_err_set(err, LS_IO, "%s/lock: %s", indexdir, strerror(e));
	}
	return LS_OK;
}

/* ================================================================ meta */

/*
 * DIR/index/meta, text, replaced durably (fs_write_file()):
 *	logseal index postings 2
 *	key_check <32 hex digits: B("key-check", "")>
 *	range_leaves <L>
 *	last <leaf> <64 hex digits: SHA-256 of that entry>	(when a range is sealed)
 * A file made under another key or range size is not this index's.
 */
ls_rc ix_meta_read(const char *idir, struct meta *m, struct ls_err *err)
{
	char *path = ix_path_join(idir, META_FILE), *data = NULL, chk[64], lh[80];
	unsigned long long last;
	unsigned L;
	size_t len;
	int k;
	ls_rc rc;

	memset(m, 0, sizeof(*m));
	if (!path)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = fs_read_file(path, 4096, &data, &len, err);
	free(path);
	if (rc != LS_OK)
		return rc;
	k = sscanf(data, META_MAGIC "\nkey_check %63s\nrange_leaves %u\nlast %llu %79s", chk, &L,
		   &last, lh);
	rc = LS_OK;
	if (k < 2 || strlen(chk) != 2 * BLIND_LEN ||
	    ls_unhex(chk, strlen(chk), m->check, BLIND_LEN) != LS_OK || L == 0)
		rc = ls_err_set(err, LS_CORRUPT, "%s/" META_FILE ": not an index meta file", idir);
	m->L = L;
	if (rc == LS_OK && k == 4) {
		if (strlen(lh) != 2 * LS_HASH_LEN ||
		    ls_unhex(lh, strlen(lh), m->last_hash, LS_HASH_LEN) != LS_OK)
			rc = ls_err_set(err, LS_CORRUPT, "%s/" META_FILE ": bad last", idir);
		m->has_last = true;
		m->last = last;
	}
	free(data);
	return rc;
}

ls_rc ix_meta_write(const char *idir, const struct meta *m, struct ls_err *err)
{
	char *path = ix_path_join(idir, META_FILE), buf[512], chk[2 * BLIND_LEN + 1];
	char lh[2 * LS_HASH_LEN + 1];
	int n;
	ls_rc rc;

	if (!path)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	ls_hex(m->check, BLIND_LEN, chk);
	n = snprintf(buf, sizeof(buf), META_MAGIC "\nkey_check %s\nrange_leaves %u\n", chk, m->L);
	if (m->has_last) {
		ls_hex(m->last_hash, LS_HASH_LEN, lh);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "last %llu %s\n",
			      (unsigned long long)m->last, lh);
	}
	rc = fs_write_file(path, buf, (size_t)n, 0600, 0, err);
	free(path);
	return rc;
}

/* ========================================================== .post files */

void ix_post_name(uint64_t first, char out[32])
{
	snprintf(out, 32, "%016llx.post", (unsigned long long)first);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The first leaves of the .post files in idir, sorted.  Leftover temp
 * files of an interrupted write are removed. */
ls_rc ix_post_list(const char *idir, uint64_t **firsts, size_t *n, struct ls_err *err)
{
	DIR *d = opendir(idir);
	struct dirent *e;
	uint64_t *v = NULL;
	size_t cap = 0;

	*firsts = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			return LS_OK;
		return ls_err_set(err, LS_IO, "%s: %s", idir, strerror(errno));
	}
	while ((e = readdir(d))) {
		const char *s = e->d_name;
		char name[32];
		uint64_t f;
		char *endp;

		if (strlen(s) > 21 && !strncmp(s + 16, ".post.tmp", 9)) {
			unlinkat(dirfd(d), s, 0);
			continue;
		}
		if (strlen(s) != 21 || strcmp(s + 16, ".post"))
			continue;
		errno = 0;
		f = strtoull(s, &endp, 16);
		ix_post_name(f, name);
		if (errno || endp != s + 16 || strcmp(name, s)) {
			unlinkat(dirfd(d), s, 0);	/* not a name this index writes */
			continue;
		}
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			uint64_t *nv = realloc(v, nc * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
			v = nv;
			cap = nc;
		}
		v[(*n)++] = f;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), u64_cmp);
	*firsts = v;
	return LS_OK;
}

ls_rc ix_post_read(const char *idir, uint64_t first, struct postings **out, struct ls_err *err)
{
	char name[32], *path, *data = NULL;
	size_t len;
	ls_rc rc;

	*out = NULL;
	ix_post_name(first, name);
	path = ix_path_join(idir, name);
	if (!path)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = fs_read_file(path, POST_MAX, &data, &len, err);
	if (rc == LS_OK) {
		/* decoded in place: the postings take the buffer over */
		rc = postings_decode_owned((uint8_t *)data, len, out, err);
		data = NULL;
		if (rc == LS_OK && postings_first(*out) != first) {
			uint64_t got = postings_first(*out);

			postings_free(*out);
			*out = NULL;
			rc = ls_err_set(err, LS_CORRUPT, "index/%s: holds leaves from %llu", name,
					(unsigned long long)got);
		} else if (rc != LS_OK && rc != LS_NOMEM) {
			char m[sizeof(err->msg)];

			snprintf(m, sizeof(m), "%s", err->msg);
			rc = ls_err_set(err, rc, "index/%s: %s", name, m);
		}
	}
	free(data);
	free(path);
	return rc;
}

/* Write p as its .post file, durably (temp file, fsync, rename, fsync dir). */
ls_rc ix_post_write(const char *idir, const struct postings *p, struct ls_err *err)
{
	char name[32], *path;
	uint8_t *buf = NULL;
	size_t len;
	ls_rc rc;

	ix_post_name(postings_first(p), name);
	path = ix_path_join(idir, name);
	if (!path)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = postings_encode(p, &buf, &len, err);
	if (rc == LS_OK)
		rc = fs_write_file(path, buf, len, 0600, 0, err);
	free(buf);
	free(path);
	return rc;
}

/* Remove every .post file of leaves >= from, then sync the directory. */
ls_rc ix_post_remove_from(const char *idir, uint64_t from, struct ls_err *err)
{
	uint64_t *f;
	size_t n, i;
	bool any = false;
	ls_rc rc = ix_post_list(idir, &f, &n, err);

	for (i = 0; rc == LS_OK && i < n; i++) {
		char name[32], *path;

		if (f[i] < from)
			continue;
		ix_post_name(f[i], name);
		path = ix_path_join(idir, name);
		if (!path)
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		else if (unlink(path) != 0 && errno != ENOENT)
			rc = ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
		free(path);
		any = true;
	}
	free(f);
	if (rc == LS_OK && any)
		rc = fs_sync_dir(idir, err);
	return rc;
}

/* ================================================== sealed ranges in memory */

void ix_range_bounds(const struct postings *p, struct range *r)
{
	r->first = postings_first(p);
	postings_time_bounds(p, 0, &r->tlo, &r->thi, &r->has_t);
	postings_time_bounds(p, 1, &r->rlo, &r->rhi, &r->has_r);
}

/* Append r (the next sealed range) under mu.  -1 on OOM. */
int ix_ranges_append(struct index *idx, const struct range *r)
{
	if (idx->nranges == idx->capranges) {
		size_t nc = idx->capranges ? idx->capranges * 2 : 64;
		struct range *nr = malloc(nc * sizeof(*nr));
		void **no = realloc(idx->old, (idx->nold + 1) * sizeof(*no));

		if (!nr || !no) {
			free(nr);
			if (no)
				idx->old = no;
			return -1;
		}
		idx->old = no;
		if (idx->nranges)
			memcpy(nr, idx->ranges, idx->nranges * sizeof(*nr));
		/* Readers may hold the old array: it stays until close. */
		if (idx->ranges)
			idx->old[idx->nold++] = idx->ranges;
		idx->ranges = nr;
		idx->capranges = nc;
	}
	idx->ranges[idx->nranges++] = *r;
	return 0;
}

/* ============================================================= the cache */

/*
 * The cache holds views (postings_view()) of sealed ranges over their .post
 * files mapped read-only: the page cache holds the bytes, not the heap, so
 * a cached range costs RssAnon only its struct postings and the small
 * arrays of its columns (a few KiB), and CACHE_SLOTS of them stay mapped,
 * least recently used unmapped first.  A file's every byte (its checksum,
 * every set) is checked at its first open in this process (read and
 * decoded as ix_post_read() does, then freed); later opens of the same
 * file (same dev, inode, size, mtime) check only the fixed parts,
 * and every lookup checks what it reads (postings.h), so bytes changed
 * under the map cost that query LS_CORRUPT, never a crash.  Files are
 * replaced by rename, never rewritten in place: a truncation by another
 * hand would be SIGBUS on the mapped pages past the new end.
 */

static void centry_release(struct centry *c)
{
	if (c->p)
		postings_free(c->p);
	if (c->map)
		munmap(c->map, c->maplen);
	memset(c, 0, sizeof(*c));
}

/* The slot range first is looked up in first (its home): most lookups
 * end there, the others scan. */
static size_t home(const struct index *idx, uint64_t first)
{
	return (size_t)((first / idx->L) % CACHE_SLOTS);
}

/* A slot for range first: its home when free, else a free one, else the
 * least recently used unheld one (moved to *gone, released outside the
 * lock); NULL when every slot is held.  Under cmu. */
static struct centry *cache_slot(struct index *idx, uint64_t first, struct centry *gone)
{
	struct centry *lru = NULL, *h = &idx->cache[home(idx, first)];
	size_t i;

	if (!h->p)
		return h;
	for (i = 0; i < CACHE_SLOTS; i++) {
		struct centry *c = &idx->cache[i];

		if (!c->p)
			return c;
		if (!c->refs && (!lru || c->tick < lru->tick))
			lru = c;
	}
	if (lru) {
		*gone = *lru;
		memset(lru, 0, sizeof(*lru));
	}
	return lru;
}

static void stat_seen(const struct stat *st, struct vseen *v)
{
	v->dev = (uint64_t)st->st_dev;
	v->ino = (uint64_t)st->st_ino;
	v->size = (uint64_t)st->st_size;
	v->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Remember (under cmu) that the file of range k, as st says, was checked. */
static void seen_set(struct index *idx, uint64_t k, const struct stat *st)
{
	if (k >= idx->nseen) {
		size_t n = idx->nseen ? idx->nseen : 64;
		struct vseen *nv;

		while (n <= k)
			n *= 2;
		nv = realloc(idx->seen, n * sizeof(*nv));
		if (!nv)
			return;	/* not remembered: checked again next time */
		memset(nv + idx->nseen, 0, (n - idx->nseen) * sizeof(*nv));
		idx->seen = nv;
		idx->nseen = n;
	}
	stat_seen(st, &idx->seen[k]);
}

static bool seen_is(struct index *idx, uint64_t k, const struct stat *st)
{
	struct vseen v;

	if (k >= idx->nseen)
		return false;
	stat_seen(st, &v);
	return !memcmp(&v, &idx->seen[k], sizeof(v));
}

enum { MAP_LIGHT, MAP_ONCE };	/* fixed parts only; every check unless seen */

/* Map the .post file of range first and view it.  *c gets p, map and
 * maplen. */
static ls_rc post_map(struct index *idx, uint64_t first, int mode, struct centry *c,
		      struct ls_err *err)
{
	char name[32], *path;
	struct stat sb, *st = &sb;
	int fd, full = 0;
	ls_rc rc = LS_OK;

	memset(c, 0, sizeof(*c));
	ix_post_name(first, name);
	path = ix_path_join(idx->idir, name);
	if (!path)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		rc = ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO, "%s: %s", path,
				strerror(errno));
	else if (fstat(fd, st) != 0)
		rc = ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	else if (st->st_size <= 0 || (uint64_t)st->st_size > POST_MAX)
		rc = ls_err_set(err, LS_CORRUPT, "index/%s: %lld bytes", name,
				(long long)st->st_size);
	if (rc == LS_OK && mode == MAP_ONCE) {
		pthread_mutex_lock(&idx->cmu);
		full = !seen_is(idx, first / idx->L, st);
		pthread_mutex_unlock(&idx->cmu);
	}
	if (rc == LS_OK && full) {
		/* Every byte, once: read into the heap and decoded (a few ms),
		 * then freed; cheaper than faulting every page of the map in. */
		struct postings *whole;

		rc = ix_post_read(idx->idir, first, &whole, err);
		postings_free(whole);
	}
	if (rc == LS_OK) {
		c->maplen = (size_t)st->st_size;
		c->map = mmap(NULL, c->maplen, PROT_READ, MAP_SHARED, fd, 0);
		if (c->map == MAP_FAILED) {
			c->map = NULL;
			rc = ls_err_set(err, errno == ENOMEM ? LS_NOMEM : LS_IO, "%s: mmap: %s",
					path, strerror(errno));
		} else {
			/* lookups read a few pages: no readahead around them */
			madvise(c->map, c->maplen, MADV_RANDOM);
		}
	}
	if (fd >= 0)
		close(fd);
	free(path);
	if (rc != LS_OK) {
		centry_release(c);
		return rc;
	}
	rc = postings_view(c->map, c->maplen, 0, &c->p, err);
	if (rc == LS_OK && postings_first(c->p) != first)
		rc = ls_err_set(err, LS_CORRUPT, "index/%s: holds leaves from %llu", name,
				(unsigned long long)postings_first(c->p));
	else if (rc != LS_OK && rc != LS_NOMEM) {
		char m[sizeof(err->msg)];

		snprintf(m, sizeof(m), "%s", err->msg);
		rc = ls_err_set(err, rc, "index/%s: %s", name, m);
	}
	if (rc != LS_OK) {
		centry_release(c);
		return rc;
	}
	c->first = first;
	if (full) {
		pthread_mutex_lock(&idx->cmu);
		seen_set(idx, first / idx->L, st);
		pthread_mutex_unlock(&idx->cmu);
	}
	return rc;
}

/* At start: the .post file of range first holds L leaves; *r its bounds
 * (from the header: the rest is checked at the first query). */
ls_rc ix_post_check(struct index *idx, uint64_t first, struct range *r, struct ls_err *err)
{
	struct centry c;
	ls_rc rc = post_map(idx, first, MAP_LIGHT, &c, err);

	if (rc != LS_OK)
		return rc;
	if (postings_count(c.p) != idx->L)
		rc = ls_err_set(err, LS_CORRUPT, "index: range %llu holds %u leaves",
				(unsigned long long)first, postings_count(c.p));
	else
		ix_range_bounds(c.p, r);
	centry_release(&c);
	return rc;
}

/* A sealed range the writer has just written from p (freed here): its
 * file is remembered as checked (it holds p's own bytes). */
void ix_cache_add(struct index *idx, struct postings *p)
{
	char name[32], *path;
	struct stat st;

	ix_post_name(postings_first(p), name);
	path = ix_path_join(idx->idir, name);
	if (path && stat(path, &st) == 0) {
		pthread_mutex_lock(&idx->cmu);
		seen_set(idx, postings_first(p) / idx->L, &st);
		pthread_mutex_unlock(&idx->cmu);
	}
	free(path);
	postings_free(p);
}

/* The sealed range at first, viewed, held until ix_cache_put(). */
ls_rc ix_cache_get(struct index *idx, uint64_t first, struct centry **out, struct ls_err *err)
{
	struct centry got = {0}, gone = {0}, *c = NULL;
	size_t i;
	ls_rc rc;

	*out = NULL;
	for (;;) {
		pthread_mutex_lock(&idx->cmu);
		c = &idx->cache[home(idx, first)];
		if (!c->p || c->first != first)
			c = NULL;
		for (i = 0; !c && i < CACHE_SLOTS; i++)
			if (idx->cache[i].p && idx->cache[i].first == first)
				c = &idx->cache[i];
		if (c) {
			c->refs++;
			c->tick = ++idx->tick;
			pthread_mutex_unlock(&idx->cmu);
			centry_release(&got);	/* another thread mapped it too */
			*out = c;
			return LS_OK;
		}
		if (got.p) {
			c = cache_slot(idx, first, &gone);
			if (!c) {
				pthread_mutex_unlock(&idx->cmu);
				centry_release(&got);
				return ls_err_set(err, LS_BUSY, "index: range cache full");
			}
			*c = got;
			c->refs = 1;
			c->tick = ++idx->tick;
			pthread_mutex_unlock(&idx->cmu);
			centry_release(&gone);
			*out = c;
			return LS_OK;
		}
		pthread_mutex_unlock(&idx->cmu);
		rc = post_map(idx, first, MAP_ONCE, &got, err);
		if (rc != LS_OK)
			return rc;
	}
}

/* Release a range held by ix_cache_get(). */
void ix_cache_put(struct index *idx, struct centry *ce)
{
	if (!ce)
		return;
	pthread_mutex_lock(&idx->cmu);
	ce->refs--;
	pthread_mutex_unlock(&idx->cmu);
}

void ix_cache_free(struct index *idx)
{
	size_t i;

	for (i = 0; i < CACHE_SLOTS; i++)
		centry_release(&idx->cache[i]);
	free(idx->seen);
	idx->seen = NULL;
	idx->nseen = 0;
}
