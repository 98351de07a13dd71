/*
 * backend_segments.c - the local storage backend: sealed segments
 * (DIR/segments, segment.h through sealed.h) below the sealed end, the
 * write-ahead log (DIR/journal, journal.h) above it, read through the seam
 * of reader.h as one sequence of entries.
 *
 * The sealer (sealer.h) moves entries from the journal into segments while
 * readers run: a journal file may vanish under an iterator or a reader
 * once every entry in it is sealed.  So a read that the journal cannot
 * answer looks at the segments again (a fresh listing) before it gives up;
 * an entry is in one of the two, and the same bytes in both while both
 * hold it.
 *
 * Invariants:
 *  B1. An iterator yields next, next + 1, ... with no gap: from the
 *      segment that holds next when there is one, else from the journal.
 *  B2. Nothing below the retained point (store_retained) is yielded or
 *      read.  The retained point is the local one (DIR/journal/retained)
 *      lowered over the segments kept in the bucket only (tier.h): those
 *      are read through the tier's local cache.
 *  B3. A hint is used only for the journal; a missing (UINT64_MAX) or
 *      stale one costs a lookup (journal_reader_find), never a wrong entry.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/reader.h"
#include "store/reader_int.h"
#include "store/journal.h"
#include "store/keys.h"
#include "store/sealed.h"
#include "store/segment.h"
#include "store/tier.h"

/* ---------------------------------------------------------------- bundles */

/* Offsets of the entries of a C2SP bundle holding want entries: off[i]
 * where entry i's length prefix is, off[want] the end. */
static ls_rc bundle_parse(const uint8_t *d, size_t len, unsigned want, size_t *off)
{
	size_t pos = 0;

	for (unsigned i = 0; i < want; i++) {
		size_t n;

		if (len - pos < 2)
			return LS_CORRUPT;
		n = (size_t)d[pos] << 8 | d[pos + 1];
		if (len - pos - 2 < n)
			return LS_CORRUPT;
		off[i] = pos;
		pos += 2 + n;
	}
	off[want] = pos;
	return LS_OK;
}

/* ---------------------------------------------------------------- iterator */

struct mix_iter {
	char *jdir;
	char segdir[PATH_MAX];
	int strict;
	struct keyring *kr;
	struct sealed_list list;
	uint64_t next;		/* B1 */
	int yielded;		/* anything yet */
	/* from a segment */
	struct segment *seg;
	struct segment_iter *si;
	uint64_t seg_end;
	char seg_name[32];
	/* from the journal */
	struct journal_iter *j;
	int in_wal;		/* the last entry came from the journal */
};

static void mix_drop_seg(struct mix_iter *it)
{
	segment_iter_free(it->si);
	it->si = NULL;
	segment_close(it->seg);
	it->seg = NULL;
}

/* Open the segment at position i of the listing for it->next. */
static ls_rc mix_open_seg(struct mix_iter *it, long i, struct ls_err *err)
{
	uint64_t first = it->list.first[i], end = sealed_list_end_of(&it->list, (size_t)i);
	char path[PATH_MAX + 32];
	ls_rc rc;

	mix_drop_seg(it);
	segment_path(it->segdir, first, path, sizeof(path));
	rc = segment_open(path, it->kr, &it->seg, err);
	if (rc != LS_OK)
		return rc;
	if (segment_first(it->seg) != first || segment_count(it->seg) != end - first) {
		mix_drop_seg(it);
		return ls_err_set(err, LS_CORRUPT,
				  "%s offset 0: does not hold leaves [%llu, %llu) as its name and "
				  "the next segment's say", path, (unsigned long long)first,
				  (unsigned long long)end);
	}
	rc = segment_iter_open(it->seg, it->next, &it->si, err);
	if (rc != LS_OK) {
		mix_drop_seg(it);
		return rc;
	}
	it->seg_end = end;
	snprintf(it->seg_name, sizeof(it->seg_name), "%016llx%s", (unsigned long long)first,
		 SEGMENT_SUFFIX);
	return LS_OK;
}

/* Open the remote segment (tier.h) that holds it->next: LS_NOTFOUND when
 * there is none. */
static ls_rc mix_open_remote(struct mix_iter *it, struct ls_err *err)
{
	char datadir[PATH_MAX];
	uint64_t first, end;
	ls_rc rc;

	if (tier_parent(it->segdir, datadir, sizeof(datadir)) != LS_OK)
		return ls_err_set(err, LS_LIMIT, "path too long");
	mix_drop_seg(it);
	rc = tier_open(datadir, it->kr, it->next, &it->seg, &first, &end, err);
	if (rc != LS_OK)
		return rc;
	rc = segment_iter_open(it->seg, it->next, &it->si, err);
	if (rc != LS_OK) {
		mix_drop_seg(it);
		return rc;
	}
	journal_iter_free(it->j);
	it->j = NULL;
	it->seg_end = end;
	snprintf(it->seg_name, sizeof(it->seg_name), "%016llx%s", (unsigned long long)first,
		 SEGMENT_SUFFIX);
	return LS_OK;
}

static ls_rc mix_relist(struct mix_iter *it, struct ls_err *err)
{
	sealed_list_release(&it->list);
	return sealed_list_load(it->segdir, it->kr, &it->list, err);
}

static ls_rc mix_next(void *impl, const uint8_t **data, size_t *len, uint64_t *index,
		      struct ls_err *err)
{
	struct mix_iter *it = impl;
	int relisted = 0;
	ls_rc rc;

	for (;;) {
		long i;

		if (it->seg && it->next < it->seg_end) {
			uint64_t idx;

			rc = segment_iter_next(it->si, data, len, &idx, err);
			if (rc == LS_OK && idx != it->next)
				rc = ls_err_set(err, LS_CORRUPT, "%s/%s: leaf %llu where %llu was expected",
						it->segdir, it->seg_name, (unsigned long long)idx,
						(unsigned long long)it->next);
			if (rc == LS_NOTFOUND)
				rc = ls_err_set(err, LS_CORRUPT, "%s/%s: ends before leaf %llu",
						it->segdir, it->seg_name,
						(unsigned long long)it->next);
			if (rc != LS_OK)
				return rc;
			*index = it->next++;
			it->yielded = 1;
			it->in_wal = 0;
			return LS_OK;
		}
		i = sealed_list_find(&it->list, it->next);
		if (i >= 0) {
			journal_iter_free(it->j);
			it->j = NULL;
			rc = mix_open_seg(it, i, err);
			if (rc != LS_OK)
				return rc;
			continue;
		}
		if (it->list.n == 0 || it->next < it->list.first[0]) {
			rc = mix_open_remote(it, err);
			if (rc == LS_OK)
				continue;
			if (rc != LS_NOTFOUND)
				return rc;
		}
		if (it->seg)
			mix_drop_seg(it);
		if (!it->j) {
			rc = it->strict ? journal_iter_open_strict(it->jdir, it->next, &it->j, err)
					: journal_iter_open(it->jdir, it->next, &it->j, err);
			if (rc != LS_OK)
				it->j = NULL;
		} else {
			rc = LS_OK;
		}
		if (rc == LS_OK) {
			uint64_t idx;

			rc = journal_iter_next(it->j, data, len, &idx, err);
			if (rc == LS_OK && (idx == it->next || !it->yielded)) {
				it->next = idx + 1;
				it->yielded = 1;
				it->in_wal = 1;
				*index = idx;
				return LS_OK;
			}
			if (rc == LS_OK)
				rc = ls_err_set(err, LS_CORRUPT, "%s: record %llu where %llu was expected",
						it->jdir, (unsigned long long)idx,
						(unsigned long long)it->next);
			if (rc == LS_NOTFOUND)
				return rc;
		}
		/* The journal cannot go on: sealed (and its file dropped) since
		 * the listing?  Then a segment holds next now. */
		if (relisted)
			return rc;
		{
			struct ls_err e2;
			char msg[sizeof(e2.msg)];

			snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
			if (mix_relist(it, &e2) != LS_OK || sealed_list_find(&it->list, it->next) < 0) {
				if (err)
					snprintf(err->msg, sizeof(err->msg), "%s", msg);
				return rc;
			}
		}
		journal_iter_free(it->j);
		it->j = NULL;
		relisted = 1;
	}
}

static void mix_where(const void *impl, const char **name, uint64_t *hint)
{
	const struct mix_iter *it = impl;

	if (it->in_wal && it->j) {
		journal_iter_where(it->j, name, hint);
		return;
	}
	if (name)
		*name = it->seg_name;
	if (hint)
		*hint = UINT64_MAX;	/* B3: sealed entries need none */
}

static void mix_iter_free(void *impl)
{
	struct mix_iter *it = impl;

	if (!it)
		return;
	mix_drop_seg(it);
	journal_iter_free(it->j);
	sealed_list_release(&it->list);
	free(it->jdir);
	free(it);
}

/* The first leaf readable: the local retained point, lowered to the start
 * of the segments kept in the bucket only (tier.h) that run up to it. */
static ls_rc seg_retained(const char *dir, uint64_t *first, struct ls_err *err)
{
	char datadir[PATH_MAX];
	uint64_t kept;
	ls_rc rc = journal_retained(dir, &kept, err);

	*first = kept;
	if (rc != LS_OK || kept == 0)
		return rc;
	if (tier_parent(dir, datadir, sizeof(datadir)) != LS_OK)
		return ls_err_set(err, LS_LIMIT, "path too long");
	return tier_readable_from(datadir, kept, first, err);
}

static ls_rc seg_iter_open(const char *dir, uint64_t start, int flags, struct store_iter **out,
			   struct ls_err *err)
{
	struct store_iter *it = calloc(1, sizeof(*it));
	struct mix_iter *m = calloc(1, sizeof(*m));
	uint64_t kept = 0;
	ls_rc rc;

	if (!it || !m || !(m->jdir = strdup(dir))) {
		free(it);
		free(m);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	m->strict = (flags & STORE_STRICT) != 0;
	rc = sealed_dir_of(dir, m->segdir, sizeof(m->segdir));
	if (rc != LS_OK)
		rc = ls_err_set(err, rc, "path too long");
	if (rc == LS_OK) {
		rc = keys_get_parent(dir, &m->kr, err);
		if (rc == LS_NOTFOUND) {
			m->kr = NULL;
			rc = LS_OK;
		}
	}
	if (rc == LS_OK)
		rc = seg_retained(dir, &kept, err);
	if (rc == LS_OK)
		rc = sealed_list_load(m->segdir, m->kr, &m->list, err);
	if (rc != LS_OK) {
		free(it);
		mix_iter_free(m);
		return rc;
	}
	/* B2: what retention moved out is not here; start where it kept. */
	m->next = start > kept ? start : kept;
	it->next = mix_next;
	it->where = mix_where;
	it->free = mix_iter_free;
	it->impl = m;
	*out = it;
	return LS_OK;
}

/* ------------------------------------------------------------------ reader */

struct mix_reader {
	char *jdir;
	struct journal_reader *jr;
	struct sealed_cache *sc;
	uint64_t forgot;	/* sealed end the journal reader was trimmed to */
};

/* Entry index from a segment (relist: list again when it is past the end
 * last listed). */
static ls_rc mix_seg_get(struct mix_reader *r, uint64_t index, int relist, uint8_t **data,
			 size_t *len, struct ls_err *err)
{
	struct segment *seg;
	uint64_t first, end;
	ls_rc rc = sealed_cache_get(r->sc, index, relist, &seg, err);

	if (relist) {
		/* Newly sealed: the journal files below are deleted or soon
		 * will be; the reader lets go of their fds. */
		sealed_cache_span(r->sc, &first, &end);
		if (end > __atomic_load_n(&r->forgot, __ATOMIC_RELAXED)) {
			__atomic_store_n(&r->forgot, end, __ATOMIC_RELAXED);
			journal_reader_forget(r->jr, first, end);
		}
	}
	if (rc != LS_OK)
		return rc;
	rc = segment_get(seg, index, data, len, err);
	sealed_cache_put(r->sc, seg);
	return rc;
}

static ls_rc mix_get(void *impl, struct store_pass *pass, uint64_t index, uint64_t hint,
		     uint8_t **data, size_t *len, struct ls_err *err)
{
	struct mix_reader *r = impl;
	struct journal_pass jp = { .kept = pass ? pass->kept : 0, .known = pass ? pass->known : 0 };
	ls_rc rc;

	*data = NULL;
	*len = 0;
	rc = journal_reader_kept(r->jr, &jp, err);
	if (rc != LS_OK)
		return rc;
	if (pass) {
		pass->kept = jp.kept;
		pass->known = jp.known;
	}
	if (index < jp.kept) {
		/* In the bucket (tier.h), or gone. */
		rc = mix_seg_get(r, index, 0, data, len, err);
		if (rc != LS_NOTFOUND)
			return rc;
		return ls_err_set(err, LS_NOTFOUND,
				  "%s: entry %llu was moved out by retention (kept from %llu)",
				  r->jdir, (unsigned long long)index, (unsigned long long)jp.kept);
	}
	rc = mix_seg_get(r, index, 0, data, len, err);
	if (rc != LS_NOTFOUND)
		return rc;
	if (hint != UINT64_MAX) {
		rc = journal_reader_get_in(r->jr, &jp, index, hint, data, len, err);
		if (rc != LS_NOTFOUND)
			return rc;
	}
	/* Sealed since the last listing (its journal file may be gone)? */
	rc = mix_seg_get(r, index, 1, data, len, err);
	if (rc != LS_NOTFOUND)
		return rc;
	return journal_reader_find(r->jr, &jp, index, data, len, err);
}

/* Entry bundle n, w entries (w <= 256), as C2SP frames it. */
static ls_rc mix_bundle(void *impl, uint64_t n, unsigned w, uint8_t **data, size_t *len,
			struct ls_err *err)
{
	struct mix_reader *r = impl;
	struct journal_pass jp = { 0 };
	struct segment *seg;
	struct store_iter *it;
	uint64_t first = n * SEGMENT_BUNDLE;
	uint8_t *out = NULL;
	size_t cap = 0, used = 0;
	ls_rc rc;

	*data = NULL;
	*len = 0;
	if (w == 0 || w > SEGMENT_BUNDLE || n > UINT64_MAX / SEGMENT_BUNDLE)
		return ls_err_set(err, LS_INVALID, "no entry bundle %llu of width %u",
				  (unsigned long long)n, w);
	rc = journal_reader_kept(r->jr, &jp, err);
	if (rc != LS_OK)
		return rc;
	rc = sealed_cache_get(r->sc, first, first >= jp.kept, &seg, err);
	if (rc == LS_NOTFOUND && first < jp.kept)
		return ls_err_set(err, LS_NOTFOUND,
				  "%s: entry bundle %llu was moved out by retention", r->jdir,
				  (unsigned long long)n);
	if (rc == LS_OK) {
		rc = segment_bundle(seg, n, data, len, err);
		sealed_cache_put(r->sc, seg);
		if (rc == LS_OK && w < SEGMENT_BUNDLE) {
			size_t off[SEGMENT_BUNDLE + 1];

			if (bundle_parse(*data, *len, w, off) != LS_OK) {
				free(*data);
				*data = NULL;
				*len = 0;
				return ls_err_set(err, LS_CORRUPT, "entry bundle %llu: bad framing",
						  (unsigned long long)n);
			}
			*len = off[w];
		}
		return rc;
	}
	if (rc != LS_NOTFOUND)
		return rc;
	rc = store_iter_open(r->jdir, first, 0, &it, err);
	if (rc != LS_OK)
		return rc;
	for (unsigned i = 0; i < w; i++) {
		const uint8_t *d;
		size_t l;
		uint64_t idx;

		rc = store_iter_next(it, &d, &l, &idx, err);
		if (rc == LS_OK && idx != first + i)
			rc = ls_err_set(err, LS_NOTFOUND, "%s: entry %llu is not here", r->jdir,
					(unsigned long long)(first + i));
		if (rc == LS_NOTFOUND)
			rc = ls_err_set(err, LS_NOTFOUND, "%s: the log ends before entry %llu",
					r->jdir, (unsigned long long)(first + i));
		if (rc != LS_OK)
			break;
		if (used + 2 + l > cap) {
			uint8_t *no;

			cap = (used + 2 + l) * 2;
			no = realloc(out, cap);
			if (!no) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				break;
			}
			out = no;
		}
		out[used] = (uint8_t)(l >> 8);
		out[used + 1] = (uint8_t)l;
		memcpy(out + used + 2, d, l);
		used += 2 + l;
	}
	store_iter_free(it);
	if (rc != LS_OK) {
		free(out);
		return rc;
	}
	*data = out;
	*len = used;
	return LS_OK;
}

static void mix_reader_free(void *impl)
{
	struct mix_reader *r = impl;

	if (!r)
		return;
	journal_reader_free(r->jr);
	sealed_cache_free(r->sc);
	free(r->jdir);
	free(r);
}

static ls_rc seg_reader_open(const char *dir, struct store_reader **out, struct ls_err *err)
{
	struct store_reader *sr = calloc(1, sizeof(*sr));
	struct mix_reader *r = calloc(1, sizeof(*r));
	char segdir[PATH_MAX];
	ls_rc rc;

	if (!sr || !r || !(r->jdir = strdup(dir))) {
		free(sr);
		free(r);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = sealed_dir_of(dir, segdir, sizeof(segdir));
	if (rc != LS_OK)
		rc = ls_err_set(err, rc, "path too long");
	if (rc == LS_OK)
		rc = journal_reader_open(dir, &r->jr, err);
	if (rc == LS_OK)
		rc = sealed_cache_open(segdir, &r->sc, err);
	if (rc != LS_OK) {
		free(sr);
		mix_reader_free(r);
		return rc;
	}
	sr->get = mix_get;
	sr->bundle = mix_bundle;
	sr->free = mix_reader_free;
	sr->impl = r;
	*out = sr;
	return LS_OK;
}

const struct store_backend store_segments = {
	.name = "segments",
	.iter_open = seg_iter_open,
	.reader_open = seg_reader_open,
	.retained = seg_retained,
	.set_retained = journal_set_retained,
};
