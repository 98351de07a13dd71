/*
 * index_rebuild.c - index_rebuild(): the .post files made again from the
 * entries, two threads over disjoint ranges; and index_verify_postings():
 * every .post file checked against the entries.
 */
#include "followers/index.h"
#include "followers/index_int.h"

#include <stdatomic.h>

#define REBUILD_THREADS 2
#define PROGRESS_EVERY 65536

/* What building one range from the entries needs (one per thread). */
struct builder {
	const struct blind *bl;
	const char *jdir;
	EVP_MD_CTX *w;
	struct bcache *bc;
	char *arena;
	struct terms t;
};

static ls_rc builder_init(struct builder *bd, const struct blind *bl, const char *jdir,
			  struct ls_err *err)
{
	memset(bd, 0, sizeof(*bd));
	bd->bl = bl;
	bd->jdir = jdir;
	bd->w = EVP_MD_CTX_new();
	bd->bc = ix_bcache_new();
	bd->arena = malloc(STORE_MAX_ENTRY + 1);
	if (!bd->w || !bd->arena)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
}

static void builder_free(struct builder *bd)
{
	EVP_MD_CTX_free(bd->w);
	free(bd->bc);
	free(bd->arena);
}

/* The terms of one entry into bd->t. */
static int builder_terms(struct builder *bd, const uint8_t *data, size_t len)
{
	struct row r;

	ix_row_extract(data, len, bd->arena, &r);
	return ix_terms_fill(bd->bl, bd->w, bd->bc, &r, &bd->t);
}

/*
 * Range [first, first + L) made from the entries: *out (NULL when the log
 * holds none of them), *got the entries it holds (< L: the log ends in
 * it), last the SHA-256 of its last entry.  each (may be NULL) is called
 * per entry with its terms (verify).
 */
typedef ls_rc (*entry_fn)(void *ctx, uint32_t rel, const struct pf_row *row,
			  struct ls_err *err);
static ls_rc build_range(struct builder *bd, uint64_t first, uint32_t L, struct postings **out,
			 uint32_t *got, uint8_t last[LS_HASH_LEN], entry_fn each, void *ctx,
			 atomic_uint_fast64_t *done, struct ls_err *err)
{
	struct store_iter *it = NULL;
	struct postings *p = NULL;
	struct pf_row empty;
	const uint8_t *data;
	size_t len;
	uint64_t at, kept = 0;
	uint32_t n = 0;
	ls_rc rc;

	*out = NULL;
	*got = 0;
	memset(&empty, 0, sizeof(empty));
	memset(last, 0, LS_HASH_LEN);
	rc = store_retained(bd->jdir, &kept, err);
	if (rc != LS_OK)
		return rc;
	rc = store_iter_open(bd->jdir, first > kept ? first : kept, 0, &it, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc == LS_OK)
		rc = postings_new(first, &p, err);
	/* Leaves below the retained point were moved out by retention: an
	 * empty row each, as the follower gives them, so ranges stay whole. */
	while (rc == LS_OK && n < L && first + n < kept) {
		rc = postings_add_row(p, n, &empty, err);
		if (rc == LS_OK && each)
			rc = each(ctx, n, &empty, err);
		if (rc == LS_OK)
			n++;
	}
	while (rc == LS_OK && n < L) {
		rc = store_iter_next(it, &data, &len, &at, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc != LS_OK)
			break;
		if (at != first + n) {
			rc = ls_err_set(err, LS_CORRUPT, "journal gave entry %llu, expected %llu",
					(unsigned long long)at, (unsigned long long)(first + n));
			break;
		}
		if (builder_terms(bd, data, len)) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			break;
		}
		rc = postings_add_row(p, n, &bd->t.row, err);
		if (rc == LS_OK && each)
			rc = each(ctx, n, &bd->t.row, err);
		if (rc != LS_OK)
			break;
		n++;
		if (n == L)
			ls_sha256(data, len, NULL, 0, last);
		if (done && n % 4096 == 0)
			atomic_fetch_add(done, 4096);
	}
	if (done)
		atomic_fetch_add(done, n % 4096);
	store_iter_free(it);
	if (rc != LS_OK || n == 0) {
		postings_free(p);
		return rc;
	}
	*out = p;
	*got = n;
	return LS_OK;
}

/* ================================================================ rebuild */

struct rebuild {
	struct blind bl;
	const char *jdir, *idir;
	uint32_t L;
	atomic_uint_fast64_t next;	/* the next range to build */
	atomic_uint_fast64_t done;	/* entries read */
	pthread_mutex_t mu;
	uint64_t end;			/* the log's end, once a thread found it */
	bool ended;
	uint64_t last_k;		/* the last complete range written ... */
	uint8_t last_hash[LS_HASH_LEN];	/* ... and the hash of its last entry */
	bool has_last;
	ls_rc rc;
	struct ls_err err;
	index_progress_fn progress;
	void *ctx;
	uint64_t reported;
};

static void report(struct rebuild *rb)
{
	uint64_t d = atomic_load(&rb->done);

	if (!rb->progress)
		return;
	pthread_mutex_lock(&rb->mu);
	if (d >= rb->reported + PROGRESS_EVERY) {
		rb->reported = d;
		rb->progress(rb->ctx, d);
	}
	pthread_mutex_unlock(&rb->mu);
}

static void *rebuild_thread(void *arg)
{
	struct rebuild *rb = arg;
	struct builder bd;
	struct ls_err err = { { 0 } };
	ls_rc rc;

	rc = builder_init(&bd, &rb->bl, rb->jdir, &err);
	while (rc == LS_OK) {
		uint64_t k = atomic_fetch_add(&rb->next, 1), first = k * rb->L;
		struct postings *p;
		uint8_t last[LS_HASH_LEN];
		uint32_t got;
		bool stop;

		pthread_mutex_lock(&rb->mu);
		stop = rb->rc != LS_OK || (rb->ended && first >= rb->end);
		pthread_mutex_unlock(&rb->mu);
		if (stop)
			break;
		rc = build_range(&bd, first, rb->L, &p, &got, last, NULL, NULL, &rb->done, &err);
		if (rc == LS_OK && got == rb->L)
			rc = ix_post_write(rb->idir, p, &err);
		postings_free(p);
		if (rc != LS_OK)
			break;
		pthread_mutex_lock(&rb->mu);
		if (got < rb->L && (!rb->ended || first + got < rb->end)) {
			rb->ended = true;
			rb->end = first + got;
		}
		if (got == rb->L && (!rb->has_last || k > rb->last_k)) {
			rb->has_last = true;
			rb->last_k = k;
			memcpy(rb->last_hash, last, LS_HASH_LEN);
		}
		pthread_mutex_unlock(&rb->mu);
		report(rb);
		if (got < rb->L)
			break;
	}
	if (rc != LS_OK) {
		pthread_mutex_lock(&rb->mu);
		if (rb->rc == LS_OK) {
			rb->rc = rc;
			rb->err = err;
		}
		pthread_mutex_unlock(&rb->mu);
	}
	builder_free(&bd);
	return NULL;
}

ls_rc index_rebuild(const char *datadir, index_progress_fn progress, void *ctx, uint64_t *count,
		    struct ls_err *err)
{
	struct rebuild rb;
	pthread_t th[REBUILD_THREADS];
	char *idir = ix_path_join(datadir, "index"), *jdir = ix_path_join(datadir, "journal");
	uint8_t check[BLIND_LEN];
	struct meta m;
	int lockfd = -1, nt = 0, i;
	ls_rc rc;

	memset(&rb, 0, sizeof(rb));
	pthread_mutex_init(&rb.mu, NULL);
	if (count)
		*count = 0;
	if (!idir || !jdir) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = fs_mkdirs(idir, 0700, err);
	if (rc == LS_OK)
		rc = ix_lock_dir(idir, &lockfd, err);
	if (rc == LS_OK)
		rc = ix_blind_open(datadir, &rb.bl, check, err);
	if (rc != LS_OK)
		goto out;
	rb.L = INDEX_RANGE_LEAVES_DEFAULT;
	if (ix_meta_read(idir, &m, err) == LS_OK && m.L % 256 == 0)
		rb.L = m.L;
	/* Derived data: the old files, and a SQLite index of an older
	 * version, go first. */
	{
		static const char *const old[] = { "index.sqlite", "index.sqlite-wal",
						   "index.sqlite-shm" };

		for (i = 0; i < 3; i++) {
			char *p = ix_path_join(idir, old[i]);

			if (p)
				unlink(p);
			free(p);
		}
	}
	rc = ix_post_remove_from(idir, 0, err);
	memset(&m, 0, sizeof(m));
	memcpy(m.check, check, BLIND_LEN);
	m.L = rb.L;
	if (rc == LS_OK)
		rc = ix_meta_write(idir, &m, err);
	if (rc != LS_OK)
		goto out;
	rb.jdir = jdir;
	rb.idir = idir;
	rb.progress = progress;
	rb.ctx = ctx;
	for (i = 0; i < REBUILD_THREADS; i++) {
		if (pthread_create(&th[i], NULL, rebuild_thread, &rb) != 0)
			break;
		nt++;
	}
	if (nt == 0) {
		rc = ls_err_set(err, LS_NOMEM, "index: cannot start a rebuild thread");
		goto out;
	}
	for (i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	if (rb.rc != LS_OK) {
		rc = ls_err_set(err, rb.rc, "%s", rb.err.msg);
		goto out;
	}
	if (rb.has_last) {
		m.has_last = true;
		m.last = rb.last_k * rb.L + rb.L - 1;
		memcpy(m.last_hash, rb.last_hash, LS_HASH_LEN);
	}
	rc = ix_meta_write(idir, &m, err);
	if (rc != LS_OK)
		goto out;
	if (count)
		*count = rb.end;
	if (progress)
		progress(ctx, rb.end);
out:
	ix_blind_free(&rb.bl);
	pthread_mutex_destroy(&rb.mu);
	if (lockfd >= 0)
		close(lockfd);
	free(idir);
	free(jdir);
	return rc;
}

/* ================================================================= verify */

/* Per entry: its terms posted, its columns as stored (the file's p). */
struct vctx {
	const struct postings *p;
	const char *name;
	uint64_t first, end;
};

static bool has_rel(const struct pset *s, uint32_t rel)
{
	uint32_t x;

	return s && pset_take(s, 0, rel > 0, rel - 1, &x, 1) == 1 && x == rel;
}

static ls_rc check_entry(void *arg, uint32_t rel, const struct pf_row *row, struct ls_err *err)
{
	struct vctx *v = arg;
	uint64_t leaf = v->first + rel;
	int64_t c;
	int h;
	size_t i;

#define BAD(...)                                                                               \
	ls_err_set(err, LS_CORRUPT, "index/%s: range [%llu, %llu): leaf %llu: %s", v->name,     \
		   (unsigned long long)v->first, (unsigned long long)v->end,                     \
		   (unsigned long long)leaf, __VA_ARGS__)
	c = postings_time(v->p, rel, &h);
	if (h != row->has_time || (h && c != row->time_us))
		return BAD("field time: column differs from the entry");
	c = postings_received(v->p, rel, &h);
	if (h != row->has_received || (h && c != row->received_us))
		return BAD("field received: column differs from the entry");
	for (i = 0; i < row->nterms; i++) {
		struct pset *s = postings_get(v->p, row->t[i].field, row->t[i].bytes, row->t[i].len);
		bool ok = has_rel(s, rel);
		char m[96];

		pset_free(s);
		if (!ok) {
			snprintf(m, sizeof(m), "field %s: the entry's term is not posted",
				 ix_field_name(row->t[i].field));
			return BAD(m);
		}
		if (row->t[i].field <= PF_SERVICE) {
			size_t n = 0;
			const char *val = postings_value(v->p, rel, row->t[i].field, &n);

			if (!val || n != row->t[i].len || memcmp(val, row->t[i].bytes, n)) {
				snprintf(m, sizeof(m), "field %s: column differs from the entry",
					 ix_field_name(row->t[i].field));
				return BAD(m);
			}
		}
	}
#undef BAD
	return LS_OK;
}

ls_rc index_verify_postings(const char *datadir, index_progress_fn progress, void *ctx,
			    uint64_t *files, uint64_t *entries, struct ls_err *err)
{
	char *idir = ix_path_join(datadir, "index"), *jdir = ix_path_join(datadir, "journal");
	uint8_t check[BLIND_LEN];
	struct blind bl = { NULL, NULL };
	struct builder bd;
	struct meta m;
	uint64_t *f = NULL, nent = 0, nfiles = 0, reported = 0, kept = 0;
	size_t nf = 0, i;
	ls_rc rc;

	memset(&bd, 0, sizeof(bd));
	if (files)
		*files = 0;
	if (entries)
		*entries = 0;
	if (!idir || !jdir) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = ix_meta_read(idir, &m, err);
	if (rc == LS_NOTFOUND) {
		rc = ls_err_set(err, LS_NOTFOUND, "%s: no index", idir);
		goto out;
	}
	if (rc == LS_CORRUPT) {
		rc = ls_err_set(err, LS_CORRUPT, "index/" META_FILE ": not an index meta file");
		goto out;
	}
	if (rc == LS_OK)
		rc = ix_blind_open(datadir, &bl, check, err);
	if (rc != LS_OK)
		goto out;
	if (!ls_ct_equal(check, m.check, BLIND_LEN)) {
		rc = ls_err_set(err, LS_CORRUPT, "index/" META_FILE ": made under another index key");
		goto out;
	}
	rc = builder_init(&bd, &bl, jdir, err);
	if (rc == LS_OK)
		rc = ix_post_list(idir, &f, &nf, err);
	/* Entries below the retained point were moved out by retention: the
	 * ranges that hold any of them cannot be rebuilt from the log here
	 * and are not checked (their segments are checked in the archive). */
	if (rc == LS_OK)
		rc = store_retained(jdir, &kept, err);
	for (i = 0; rc == LS_OK && i < nf; i++) {
		uint64_t first = (uint64_t)i * m.L;
		struct postings *p = NULL, *mine = NULL;
		uint8_t last[LS_HASH_LEN], *a = NULL, *b = NULL;
		size_t an = 0, bn = 0, k;
		char name[32];
		uint32_t got;
		struct vctx v;

		ix_post_name(f[i], name);
		if (f[i] != first) {
			rc = ls_err_set(err, LS_CORRUPT,
					"index/%s: out of order: the range at leaf %llu is missing",
					name, (unsigned long long)first);
			break;
		}
		if (first < kept)
			continue;
		rc = ix_post_read(idir, first, &p, err);
		if (rc != LS_OK)
			break;
		if (postings_count(p) != m.L) {
			rc = ls_err_set(err, LS_CORRUPT, "index/%s: %u leaves, want %u", name,
					postings_count(p), m.L);
			postings_free(p);
			break;
		}
		v = (struct vctx){ .p = p, .name = name, .first = first, .end = first + m.L };
		rc = build_range(&bd, first, m.L, &mine, &got, last, NULL, NULL, NULL, err);
		if (rc == LS_OK && got != m.L)
			rc = ls_err_set(err, LS_CORRUPT,
					"index/%s: range [%llu, %llu) goes past the log's end (%llu)",
					name, (unsigned long long)first,
					(unsigned long long)(first + m.L),
					(unsigned long long)(first + got));
		/* Every posting points at an entry with the term: the range
		 * made from the entries encodes to the same bytes. */
		if (rc == LS_OK)
			rc = postings_encode(mine, &a, &an, err);
		if (rc == LS_OK)
			rc = postings_encode(p, &b, &bn, err);
		if (rc == LS_OK && (an != bn || memcmp(a, b, an))) {
			/* Different: name the first leaf and field that differ,
			 * entry by entry (slow, only here). */
			struct postings *again = NULL;

			rc = build_range(&bd, first, m.L, &again, &got, last, check_entry, &v, NULL,
					 err);
			postings_free(again);
		}
		if (rc == LS_OK && (an != bn || memcmp(a, b, an))) {
			for (k = 0; k < an && k < bn && a[k] == b[k]; k++)
				;
			rc = ls_err_set(err, LS_CORRUPT,
					"index/%s: range [%llu, %llu): byte %zu differs from the "
					"postings its entries give (a posting of a term the entry "
					"does not have)",
					name, (unsigned long long)first,
					(unsigned long long)(first + m.L), k);
		}
		free(a);
		free(b);
		postings_free(mine);
		postings_free(p);
		if (rc != LS_OK)
			break;
		nfiles++;
		nent += m.L;
		if (progress && nent >= reported + PROGRESS_EVERY) {
			reported = nent;
			progress(ctx, nent);
		}
	}
	if (rc == LS_OK && progress)
		progress(ctx, nent);
out:
	if (files)
		*files = nfiles;
	if (entries)
		*entries = nent;
	builder_free(&bd);
	ix_blind_free(&bl);
	free(f);
	free(idir);
	free(jdir);
	return rc;
}
