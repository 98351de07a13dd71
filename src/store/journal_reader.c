/*
 * journal_reader.c - random access to one record of the journal by leaf
 * index and a byte offset hint, shared by every thread of a process (see
 * journal.h; records are checked by journal_record.c, as under an iterator).
 */
#include "store/journal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ reader */

/*
 * Random access for the read side: the index keeps, for every leaf index,
 * the offset journal_iter_where() gave when the follower passed it, and a
 * query result is then one pread of one record instead of a tile bundle.
 * A hint is only a hint: the record found there must name the index asked
 * for and pass jnl_rec_check(), as under an iterator.
 *
 * Reader invariants:
 *  R1. segs[] is ascending by first index and holds no segment wholly
 *      below the retained point last read (the one that spans it stays:
 *      its tail is still read); a segment leaves it when a listing no
 *      longer shows it or retention moved it out.
 *  R2. A segment object lives while refs > 0: one ref is segs[]'s, one is
 *      taken by each call reading it, so its fd stays open under a pread
 *      even when the segment is dropped meanwhile.  Its fd, key_id and key
 *      are set once, under mu, before ready, and never change afterwards:
 *      a caller holding a ref that saw ready under mu uses them unlocked.
 *  R3. mu guards segs[], refs, ready and the retained cache.  It is held
 *      for lookups and list changes only; the one I/O under it is reading
 *      the small "retained" file after it changed (so that two threads
 *      cannot store a newer and an older value in the wrong order), and
 *      the close() of a dropped segment's fd.
 *  R4. segs[] never goes back to an older listing: threads list the
 *      directory concurrently, and a listing begun before another one was
 *      committed may miss a segment created in between.
 *  R5. A segment's sparse index (under its smu) only says where to look:
 *      the record found there is checked as a hinted one, and an index
 *      that led to no record is dropped and rebuilt once.
 */

/* One pread covers the header and a typical entry; a longer record costs
 * a second one for the rest. */
#define READER_FIRST_READ 1024
/* Hints above this are nonsense: keeps offset + REC_MAX within off_t. */
#define READER_MAX_OFFSET ((uint64_t)INT64_MAX - REC_MAX - READER_FIRST_READ)

struct rd_seg {
	uint64_t first;
	unsigned refs;		/* R2; 0 only while rd_relist builds a list */
	int ready;
	int fd;
	uint32_t key_id;	/* 0: plaintext */
	uint8_t key[LS_AEAD_KEY_LEN];
	/* The sparse offset index of journal_reader_find() (R5): sparse[k]
	 * is the offset of record first + k * JOURNAL_SPARSE_STEP; the scan
	 * has read the headers up to scan_off, where record scan_idx starts. */
	pthread_mutex_t smu;
	uint64_t *sparse;
	size_t nsparse, scap;
	uint64_t scan_off, scan_idx;
};

/* Identity of the "retained" file when it was last read. */
struct rd_stamp {
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct journal_reader {
	char *dir;
	int dirfd;
	pthread_mutex_t mu;
	struct rd_seg **segs;	/* R1 */
	size_t nsegs;
	uint64_t list_started;	/* listings begun ... */
	uint64_t list_done;	/* ... and the one segs[] comes from (R4) */
	uint64_t retained;
	int stamp_known;
	struct rd_stamp stamp;
};

/* Drop one ref (under mu); the last one closes and wipes. */
static void rd_seg_put(struct rd_seg *s)
{
	if (--s->refs)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->sparse);
	pthread_mutex_destroy(&s->smu);
	ls_wipe(s->key, sizeof(s->key));
	free(s);
}

/* R1 after the retained point moved to first.  Under mu. */
static void rd_drop_below(struct journal_reader *r, uint64_t first)
{
	size_t k = 0;

	/* Only files wholly below first: the one that spans it (its start
	 * sealed and retired, its tail not) still holds the entries from
	 * first on. */
	while (k + 1 < r->nsegs && r->segs[k + 1]->first <= first)
		rd_seg_put(r->segs[k++]);
	if (k == 0)
		return;
	memmove(r->segs, r->segs + k, (r->nsegs - k) * sizeof(*r->segs));
	r->nsegs -= k;
}

static int rd_stamp_eq(const struct rd_stamp *a, const struct rd_stamp *b)
{
	if (a->present != b->present)
		return 0;
	if (!a->present)
		return 1;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The retained point, for every call: a stat, and a read of the file only
 * when it is not the one read last time (journal_set_retained() replaces
 * it, so a new inode or time says it changed). */
static ls_rc rd_retained(struct journal_reader *r, uint64_t *out, struct ls_err *err)
{
	struct rd_stamp s;
	struct stat st;
	uint64_t v = 0;
	ls_rc rc = LS_OK;

	memset(&s, 0, sizeof(s));
	if (fstatat(r->dirfd, RETAINED_FILE, &st, 0) == 0) {
		s.present = 1;
		s.dev = st.st_dev;
		s.ino = st.st_ino;
		s.size = st.st_size;
		s.mtime = st.st_mtim;
	} else if (errno != ENOENT) {
		return ls_err_set(err, LS_IO, "%s/" RETAINED_FILE ": %s", r->dir, strerror(errno));
	}
	pthread_mutex_lock(&r->mu);
	if (!r->stamp_known || !rd_stamp_eq(&r->stamp, &s)) {
		/* Read after the stat: the value is at least as new as the
		 * stamp stored with it, so a later change is still seen. */
		if (s.present)
			rc = journal_retained(r->dir, &v, err);
		if (rc == LS_OK) {
			r->stamp = s;
			r->stamp_known = 1;
			r->retained = v;
			rd_drop_below(r, v);
		}
	}
	*out = r->retained;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* Bring segs[] up to a fresh listing of the directory (R1): segments
 * still listed keep their object (and fd), new ones get one, the others
 * are dropped. */
static ls_rc rd_relist(struct journal_reader *r, struct ls_err *err)
{
	struct rd_seg **ns;
	uint64_t *v;
	size_t n, m = 0, i = 0, j = 0;
	int oom = 0;
	uint64_t seq;
	ls_rc rc;

	pthread_mutex_lock(&r->mu);
	seq = ++r->list_started;
	pthread_mutex_unlock(&r->mu);
	rc = jnl_list_segments(r->dir, &v, &n, err);
	if (rc != LS_OK)
		return rc;
	ns = malloc((n ? n : 1) * sizeof(*ns));
	if (!ns) {
		free(v);
		return ls_err_set(err, LS_NOMEM, "out of memory listing %s", r->dir);
	}
	pthread_mutex_lock(&r->mu);
	if (seq < r->list_done) {
		/* A listing begun after this one is in place already: this
		 * one may lack a segment created in between. */
		pthread_mutex_unlock(&r->mu);
		free(ns);
		free(v);
		return LS_OK;
	}
	for (size_t k = 0; k < n; k++) {
		struct rd_seg *s;

		if (k + 1 < n && v[k + 1] <= r->retained)
			continue;	/* wholly below the retained point (R1) */
		while (i < r->nsegs && r->segs[i]->first < v[k])
			i++;
		if (i < r->nsegs && r->segs[i]->first == v[k]) {
			ns[m++] = r->segs[i++];
			continue;
		}
		/* refs 0 marks it new until the list is committed. */
		s = calloc(1, sizeof(*s));
		if (!s) {
			oom = 1;
			break;
		}
		s->first = v[k];
		s->fd = -1;
		pthread_mutex_init(&s->smu, NULL);
		ns[m++] = s;
	}
	if (oom) {
		for (size_t k = 0; k < m; k++)
			if (ns[k]->refs == 0)
				free(ns[k]);
		pthread_mutex_unlock(&r->mu);
		free(ns);
		free(v);
		return ls_err_set(err, LS_NOMEM, "out of memory listing %s", r->dir);
	}
	/* Both lists ascend: an old segment not in the new one is dropped. */
	for (i = 0; i < r->nsegs; i++) {
		while (j < m && ns[j]->first < r->segs[i]->first)
			j++;
		if (j == m || ns[j] != r->segs[i])
			rd_seg_put(r->segs[i]);
	}
	for (size_t k = 0; k < m; k++)
		if (ns[k]->refs == 0)
			ns[k]->refs = 1;
	free(r->segs);
	r->segs = ns;
	r->nsegs = m;
	r->list_done = seq;
	pthread_mutex_unlock(&r->mu);
	free(v);
	return LS_OK;
}

/* The segment that would hold index: the last one starting at or before
 * it, with a ref taken; *last when no later one is cached.  Under mu. */
static struct rd_seg *rd_find(struct journal_reader *r, uint64_t index, int *last)
{
	size_t lo = 0, hi = r->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->segs[mid]->first <= index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	*last = lo == r->nsegs;
	r->segs[lo - 1]->refs++;
	return r->segs[lo - 1];
}

/* Open s and check its header and key, once (R2).  I/O without the lock;
 * when two threads race, the first to finish installs its fd. */
static ls_rc rd_seg_prepare(struct journal_reader *r, struct rd_seg *s, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER], key[LS_AEAD_KEY_LEN];
	struct keyring *kr = NULL;
	uint32_t key_id = 0;
	const char *why;
	struct stat st;
	size_t got = 0;
	int ready, fd;
	ls_rc rc;

	pthread_mutex_lock(&r->mu);
	ready = s->ready;
	pthread_mutex_unlock(&r->mu);
	if (ready)
		return LS_OK;
	jnl_seg_name(name, s->first);
	fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ls_err_set(err, LS_NOTFOUND, "%s/%s: segment is gone", r->dir, name);
		return ls_err_set(err, LS_IO, "%s/%s: %s", r->dir, name, strerror(errno));
	}
	/* A segment without a record may still get a new header (and data
	 * key) in place: journal_rotate(), or recovery of a torn header.
	 * Once a record is there the header is final, so the size is taken
	 * before the header is read, and an empty segment is not cached. */
	if (fstat(fd, &st) != 0 ||
	    (st.st_size > JOURNAL_SEG_HEADER && jnl_pread_all(fd, h, sizeof(h), 0, &got) != 0)) {
		rc = ls_err_set(err, LS_IO, "%s/%s offset 0: %s", r->dir, name, strerror(errno));
		close(fd);
		return rc;
	}
	if (st.st_size <= JOURNAL_SEG_HEADER || got < sizeof(h)) {
		close(fd);
		return ls_err_set(err, LS_NOTFOUND, "%s/%s: segment holds no record yet", r->dir,
				  name);
	}
	why = jnl_seg_header_check(h, s->first);
	if (why) {
		close(fd);
		return ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: %s", r->dir, name, why);
	}
	rc = jnl_seg_key(r->dir, name, h, &kr, &key_id, key, err);
	if (rc != LS_OK) {
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&r->mu);
	if (!s->ready) {
		s->fd = fd;
		s->key_id = key_id;
		memcpy(s->key, key, sizeof(key));
		s->ready = 1;
		fd = -1;
	}
	pthread_mutex_unlock(&r->mu);
	if (fd >= 0)
		close(fd);
	ls_wipe(key, sizeof(key));
	return LS_OK;
}

/* Read and check the record of index at offset of s (ready, ref held). */
static ls_rc rd_read(struct journal_reader *r, struct rd_seg *s, uint64_t index, uint64_t offset,
		     int last, uint8_t **data, size_t *len, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1], whybuf[160];
	uint8_t head[READER_FIRST_READ], *big = NULL, *p = head, *out;
	size_t got, more, need, max = s->key_id ? ENC_MAX : JOURNAL_MAX_ENTRY;
	unsigned long long off = offset, idx = index;
	const char *why;
	struct rec rec;
	ls_rc rc;

	jnl_seg_name(name, s->first);
	if (jnl_pread_all(s->fd, head, sizeof(head), offset, &got) != 0)
		return ls_err_set(err, LS_IO, "%s/%s offset %llu: read: %s", r->dir, name, off,
				  strerror(errno));
	/* A stale hint may point anywhere: only a record header that names
	 * index is the record asked for; anything else is for the caller to
	 * look up elsewhere, not damage. */
	if (got < JOURNAL_REC_HEADER || get16(head) != REC_MAGIC || get64(head + 8) != index)
		return ls_err_set(err, LS_NOTFOUND, "%s/%s offset %llu: no record %llu there",
				  r->dir, name, off, idx);
	need = JOURNAL_REC_HEADER + (size_t)get32(head + 4);
	if (need > got && got == sizeof(head) && need <= JOURNAL_REC_HEADER + max) {
		big = malloc(need);
		if (!big)
			return ls_err_set(err, LS_NOMEM, "out of memory reading record %llu", idx);
		memcpy(big, head, got);
		if (jnl_pread_all(s->fd, big + got, need - got, offset + got, &more) != 0) {
			rc = ls_err_set(err, LS_IO, "%s/%s offset %llu: read: %s", r->dir, name,
					off, strerror(errno));
			free(big);
			return rc;
		}
		got += more;
		p = big;
	}
	rc = jnl_rec_parse_max(p, got, max, &rec, &why);
	if (rc == LS_NOTFOUND && last) {
		/* The end of the segment being written: not (yet) whole. */
		free(big);
		return ls_err_set(err, LS_NOTFOUND, "%s/%s offset %llu: record %llu is not complete",
				  r->dir, name, off, idx);
	}
	if (rc != LS_OK) {
		free(big);
		return ls_err_set(err, LS_CORRUPT, "%s/%s offset %llu: %s in record %llu", r->dir,
				  name, off, why, idx);
	}
	out = malloc(s->key_id ? rec.len - LS_AEAD_OVERHEAD : rec.len);
	if (!out) {
		free(big);
		return ls_err_set(err, LS_NOMEM, "out of memory reading record %llu", idx);
	}
	rc = jnl_rec_check(&rec, index, s->first, s->key_id, s->key, out, whybuf, sizeof(whybuf));
	if (rc != LS_OK) {
		free(out);
		free(big);
		return ls_err_set(err, rc, "%s/%s offset %llu: %s", r->dir, name, off, whybuf);
	}
	if (!s->key_id)
		memcpy(out, rec.data, rec.len);
	*data = out;
	*len = rec.len;
	free(big);
	return LS_OK;
}

ls_rc journal_reader_open(const char *dir, struct journal_reader **out, struct ls_err *err)
{
	struct journal_reader *r;
	uint64_t kept;
	ls_rc rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	r->dirfd = -1;
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		free(r);
		return ls_err_set(err, LS_NOMEM, "cannot create a mutex");
	}
	r->dir = strdup(dir);
	if (!r->dir) {
		journal_reader_free(r);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		rc = ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO, "%s: %s", dir,
				strerror(errno));
		journal_reader_free(r);
		return rc;
	}
	rc = rd_retained(r, &kept, err);
	if (rc == LS_OK)
		rc = rd_relist(r, err);
	if (rc != LS_OK) {
		journal_reader_free(r);
		return rc;
	}
	*out = r;
	return LS_OK;
}

ls_rc journal_reader_get(struct journal_reader *r, uint64_t index, uint64_t offset,
			 uint8_t **data, size_t *len, struct ls_err *err)
{
	struct journal_pass pass = { 0 };

	return journal_reader_get_in(r, &pass, index, offset, data, len, err);
}

ls_rc journal_reader_get_in(struct journal_reader *r, struct journal_pass *pass, uint64_t index,
			    uint64_t offset, uint8_t **data, size_t *len, struct ls_err *err)
{
	uint64_t kept, tried = 0;
	int relisted = 0, have_tried = 0;
	ls_rc rc;

	*data = NULL;
	*len = 0;
	if (!pass->known) {
		rc = rd_retained(r, &pass->kept, err);
		if (rc != LS_OK)
			return rc;
		pass->known = 1;
	}
	kept = pass->kept;
	if (index < kept)
		return ls_err_set(err, LS_NOTFOUND,
				  "%s: record %llu was moved out by retention (kept from %llu)",
				  r->dir, (unsigned long long)index, (unsigned long long)kept);
	if (offset < JOURNAL_SEG_HEADER || offset > READER_MAX_OFFSET)
		return ls_err_set(err, LS_NOTFOUND, "%s: no record can start at offset %llu",
				  r->dir, (unsigned long long)offset);
	for (;;) {
		struct rd_seg *s;
		size_t nsegs;
		int last = 0;

		pthread_mutex_lock(&r->mu);
		s = rd_find(r, index, &last);
		nsegs = r->nsegs;
		pthread_mutex_unlock(&r->mu);
		if (s && have_tried && s->first == tried) {
			/* The listing brought no later segment: err still
			 * says why the read there found nothing. */
			pthread_mutex_lock(&r->mu);
			rd_seg_put(s);
			pthread_mutex_unlock(&r->mu);
			return LS_NOTFOUND;
		}
		if (s) {
			rc = rd_seg_prepare(r, s, err);
			if (rc == LS_OK)
				rc = rd_read(r, s, index, offset, last, data, len, err);
			tried = s->first;
			have_tried = 1;
			pthread_mutex_lock(&r->mu);
			rd_seg_put(s);
			pthread_mutex_unlock(&r->mu);
			/* Only the last segment can end before index: a later
			 * one may have been created since the list was made. */
			if (rc != LS_NOTFOUND || !last || relisted)
				return rc;
		} else if (nsegs || relisted) {
			/* Segments are only ever added after the last one. */
			return ls_err_set(err, LS_NOTFOUND, "%s: no segment holds record %llu",
					  r->dir, (unsigned long long)index);
		}
		rc = rd_relist(r, err);
		if (rc != LS_OK)
			return rc;
		relisted = 1;
	}
}

/* ------------------------------------------------- lookup without a hint */

#define SCAN_BUF (64u << 10)

struct scan {
	int fd;
	uint8_t *buf;
	uint64_t boff;		/* file offset of buf[0] */
	size_t blen;
};

/* The record header at off: 1 with its size and index, 0 when no whole
 * header of a record is there (the end of the file, or not a record). */
static int scan_hdr(struct scan *sc, uint64_t off, uint64_t *size, uint64_t *idx)
{
	const uint8_t *h;
	uint32_t len;

	if (off < sc->boff || off + JOURNAL_REC_HEADER > sc->boff + sc->blen) {
		size_t got = 0;

		if (jnl_pread_all(sc->fd, sc->buf, SCAN_BUF, off, &got) != 0)
			return 0;
		sc->boff = off;
		sc->blen = got;
		if (got < JOURNAL_REC_HEADER)
			return 0;
	}
	h = sc->buf + (off - sc->boff);
	len = get32(h + 4);
	if (get16(h) != REC_MAGIC || len > ENC_MAX)
		return 0;
	*size = JOURNAL_REC_HEADER + (uint64_t)len;
	*idx = get64(h + 8);
	return 1;
}

/* Where the record of index starts in s (ready, ref held), from its sparse
 * index, scanning record headers from the nearest known offset. */
static ls_rc rd_locate(struct journal_reader *r, struct rd_seg *s, uint64_t index, uint64_t *out,
		       struct ls_err *err)
{
	struct scan sc = { .fd = s->fd };
	uint64_t off, idx, size, ridx;
	ls_rc rc = LS_NOTFOUND;

	sc.buf = malloc(SCAN_BUF);
	if (!sc.buf)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	pthread_mutex_lock(&s->smu);
	if (!s->nsparse) {
		if (!s->scap) {
			s->sparse = malloc(16 * sizeof(*s->sparse));
			s->scap = s->sparse ? 16 : 0;
		}
		if (!s->scap) {
			pthread_mutex_unlock(&s->smu);
			free(sc.buf);
			return ls_err_set(err, LS_NOMEM, "out of memory");
		}
		s->sparse[s->nsparse++] = JOURNAL_SEG_HEADER;
		s->scan_off = JOURNAL_SEG_HEADER;
		s->scan_idx = s->first;
	}
	if (index < s->scan_idx) {
		size_t k = (size_t)((index - s->first) / JOURNAL_SPARSE_STEP);

		off = s->sparse[k];
		idx = s->first + (uint64_t)k * JOURNAL_SPARSE_STEP;
		pthread_mutex_unlock(&s->smu);
		while (scan_hdr(&sc, off, &size, &ridx) && ridx == idx) {
			if (idx == index) {
				*out = off;
				rc = LS_OK;
				break;
			}
			off += size;
			idx++;
		}
	} else {
		off = s->scan_off;
		idx = s->scan_idx;
		while (scan_hdr(&sc, off, &size, &ridx) && ridx == idx) {
			if (idx == index) {
				*out = off;
				rc = LS_OK;
				break;
			}
			off += size;
			idx++;
			if ((idx - s->first) % JOURNAL_SPARSE_STEP == 0) {
				if (s->nsparse == s->scap) {
					uint64_t *v = realloc(s->sparse, 2 * s->scap * sizeof(*v));

					if (!v)
						break;
					s->sparse = v;
					s->scap *= 2;
				}
				s->sparse[s->nsparse++] = off;
			}
			s->scan_off = off;
			s->scan_idx = idx;
		}
		pthread_mutex_unlock(&s->smu);
	}
	free(sc.buf);
	if (rc != LS_OK) {
		char name[SEG_NAME_LEN + 1];

		jnl_seg_name(name, s->first);
		ls_err_set(err, LS_NOTFOUND, "%s/%s: no record %llu in it", r->dir, name,
			   (unsigned long long)index);
	}
	return rc;
}

/* Forget what rd_locate() learnt of s (R5). */
static void rd_unlocate(struct rd_seg *s)
{
	pthread_mutex_lock(&s->smu);
	s->nsparse = 0;
	pthread_mutex_unlock(&s->smu);
}

void journal_reader_forget(struct journal_reader *r, uint64_t from, uint64_t end)
{
	size_t k, m = 0;

	pthread_mutex_lock(&r->mu);
	for (k = 0; k < r->nsegs; k++) {
		if (k + 1 < r->nsegs && r->segs[k]->first >= from && r->segs[k + 1]->first <= end)
			rd_seg_put(r->segs[k]);
		else
			r->segs[m++] = r->segs[k];
	}
	r->nsegs = m;
	pthread_mutex_unlock(&r->mu);
}

ls_rc journal_reader_kept(struct journal_reader *r, struct journal_pass *pass,
			  struct ls_err *err)
{
	ls_rc rc;

	if (pass->known)
		return LS_OK;
	rc = rd_retained(r, &pass->kept, err);
	if (rc == LS_OK)
		pass->known = 1;
	return rc;
}

ls_rc journal_reader_find(struct journal_reader *r, struct journal_pass *pass, uint64_t index,
			  uint8_t **data, size_t *len, struct ls_err *err)
{
	int relisted = 0;
	ls_rc rc;

	*data = NULL;
	*len = 0;
	rc = journal_reader_kept(r, pass, err);
	if (rc != LS_OK)
		return rc;
	if (index < pass->kept)
		return ls_err_set(err, LS_NOTFOUND,
				  "%s: record %llu was moved out by retention (kept from %llu)",
				  r->dir, (unsigned long long)index, (unsigned long long)pass->kept);
	for (;;) {
		struct rd_seg *s;
		uint64_t off = 0;
		int last = 0;

		pthread_mutex_lock(&r->mu);
		s = rd_find(r, index, &last);
		pthread_mutex_unlock(&r->mu);
		if (s) {
			rc = rd_seg_prepare(r, s, err);
			if (rc == LS_OK)
				rc = rd_locate(r, s, index, &off, err);
			if (rc == LS_OK) {
				rc = rd_read(r, s, index, off, last, data, len, err);
				if (rc == LS_NOTFOUND || rc == LS_CORRUPT) {
					/* A stale sparse index (R5): once more from scratch. */
					rd_unlocate(s);
					rc = rd_locate(r, s, index, &off, err);
					if (rc == LS_OK)
						rc = rd_read(r, s, index, off, last, data, len, err);
				}
			}
			pthread_mutex_lock(&r->mu);
			rd_seg_put(s);
			pthread_mutex_unlock(&r->mu);
			if (rc != LS_NOTFOUND || !last || relisted)
				return rc;
		} else if (relisted) {
			return ls_err_set(err, LS_NOTFOUND, "%s: no segment holds record %llu",
					  r->dir, (unsigned long long)index);
		}
		rc = rd_relist(r, err);
		if (rc != LS_OK)
			return rc;
		relisted = 1;
	}
}

void journal_reader_free(struct journal_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsegs; i++)
		rd_seg_put(r->segs[i]);
	free(r->segs);
	if (r->dirfd >= 0)
		close(r->dirfd);
	pthread_mutex_destroy(&r->mu);
	free(r->dir);
	free(r);
}
