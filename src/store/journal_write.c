/*
 * journal_write.c - the journal's writer: open and recovery, append, rotate
 * (see journal.h for the API and its invariants, journal_record.c for the
 * on-disk format).
 *
 * Writer invariants (in addition to journal.h):
 *  W1. One batch = one write() at the end of the segment then fdatasync();
 *      its last record, and only that one, has COMMIT; its first, and only
 *      that one, has FIRST (so a batch's start is known even when the
 *      COMMIT before it is damaged).  A batch takes at most max_batch bytes.  A batch never spans
 *      segments, so every segment but a torn last one ends with COMMIT.
 *  W2. Rotation happens between batches, when the current segment already
 *      holds segment_size bytes or more: create, write the header, fsync the
 *      file, fsync the directory.  A segment may exceed segment_size by up
 *      to one batch.
 *  W3. seg_end is the durable end of the current segment; after an ENOSPC
 *      the file is cut back to it before the journal accepts more.
 *  W4. One writer per directory, enforced with flock() on the directory.
 *
 * Recovery (journal_open) trusts the names and headers of all segments but
 * the last (their bodies are checked by the iterators, e.g. `verify`), and
 * scans the last one completely.  A bad or short record at offset X, or a
 * final batch without COMMIT, is a torn tail when no valid COMMIT record
 * found after X is followed by yet another valid record, and no valid
 * FIRST record after X starts a batch beyond the last complete one (either
 * is a later batch, written only once the damaged one was durable and
 * acknowledged), and when the tail after the last COMMIT is no longer than
 * one batch (a crash leaves at most one unfinished write); the tail is then cut
 * back to the end of the last COMMIT record, so a batch is kept whole or
 * not at all, unless that would leave fewer than min_size records.  A last
 * segment whose header is short or bad and which holds no valid record at
 * all was being created at the crash (records follow only a durable
 * header): it is rewritten with a fresh header, reported as a cut at 0.
 */
#include "store/journal_int.h"
#include "store/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SEGMENT_SIZE (64ull << 20)

struct journal {
	char *dir;
	int dirfd;		/* holds the writer's flock */
	int fd;			/* current (last) segment */
	uint64_t seg_first;
	uint64_t seg_end;	/* durable end of the current segment (W3) */
	uint64_t size;		/* records = next leaf index */
	uint64_t segment_size;
	uint64_t rotate_leaves;	/* journal_opts */
	uint64_t rotate_at;	/* rotate before a batch reaching this index; 0: to
				 * be computed at the next append */
	uint64_t max_batch;	/* bytes of one batch in a segment (W1) */
	int failed;		/* sticky (journal.h invariant 3) */
	uint8_t *buf;		/* batch buffer, reused */
	size_t buf_cap;
	int fault_op;		/* testing only */
	int fault_errno;
	struct keyring *kr;	/* NULL: the directory is not encrypted */
	uint32_t key_id;	/* of the current segment; 0: plaintext */
	uint8_t key[LS_AEAD_KEY_LEN];
};

/* ------------------------------------------------------------------ writer */

/* Create segment "first" durably (W2) and make it current.  On ENOSPC the
 * half-made file is removed and the journal stays usable. */
static ls_rc segment_create(struct journal *j, uint64_t first, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER], key[LS_AEAD_KEY_LEN];
	uint32_t key_id = 0;
	int fd, e;
	ls_rc rc;

	/* Every segment of an encrypted directory gets a fresh data key,
	 * durable in datakeys.json before the header names it. */
	if (j->kr) {
		rc = keys_new_data_key(j->kr, &key_id, key, err);
		if (rc != LS_OK)
			return rc;
	}
	jnl_seg_name(name, first);
	fd = openat(j->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		if (e != ENOSPC)
			j->failed = 1;
		return ls_err_set(err, e == ENOSPC ? LS_NOSPACE : LS_IO, "%s/%s: create: %s",
				  j->dir, name, strerror(e));
	}
	jnl_seg_header_build(h, first, key_id);
	if (jnl_pwrite_all(fd, h, sizeof(h), 0) != 0 || fsync(fd) != 0 || fsync(j->dirfd) != 0) {
		e = errno;
		close(fd);
		ls_wipe(key, sizeof(key));
		if (unlinkat(j->dirfd, name, 0) != 0 || fsync(j->dirfd) != 0 || e != ENOSPC)
			j->failed = 1;
		return ls_err_set(err, e == ENOSPC ? LS_NOSPACE : LS_IO, "%s/%s: %s", j->dir, name,
				  strerror(e));
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->seg_first = first;
	j->seg_end = JOURNAL_SEG_HEADER;
	j->rotate_at = 0;
	j->key_id = key_id;
	memcpy(j->key, key, sizeof(key));
	ls_wipe(key, sizeof(key));
	return LS_OK;
}

/* A cut at byte off of segment first: the records from leaf index `from`
 * on are gone, `records` of them whole and valid, the last of those being
 * `last`. */
static void recovery_note(struct store_recovery *rec, uint64_t first, uint64_t off,
			  uint64_t bytes, uint64_t records, uint64_t from, uint64_t last)
{
	memset(rec, 0, sizeof(*rec));
	rec->cut = 1;
	jnl_seg_name(rec->segment, first);
	rec->offset = off;
	rec->bytes = bytes;
	rec->records = records;
	rec->first = from;
	/* Holes (lost pages) make the range wider than the count. */
	rec->last = records && last >= from + records - 1 ? last : from + records - (records > 0);
}

/* Valid records found at or after x, by searching for record magic: 1 when a
 * COMMIT record among them is followed by another one, or a FIRST record
 * among them has an index above `batch` (the index the unfinished batch
 * starts at): a later batch, so the damage at x is not a torn tail.  Else
 * 0; *nvalid counts them and *maxidx is the largest index among those at
 * or above `batch` (left alone when none). */
static int later_batch_after(const uint8_t *m, size_t size, size_t x, size_t max,
			     uint64_t batch, uint64_t *nvalid, uint64_t *maxidx)
{
	int seen_commit = 0;
	size_t off = x;

	*nvalid = 0;
	while (size - off >= JOURNAL_REC_HEADER) {
		const uint8_t *p = memchr(m + off, REC_MAGIC >> 8, size - off - 1);
		struct rec r;
		const char *why;

		if (!p)
			break;
		off = (size_t)(p - m);
		if (size - off < JOURNAL_REC_HEADER)
			break;
		if (p[1] != (REC_MAGIC & 0xff) ||
		    jnl_rec_parse_max(p, size - off, max, &r, &why) != LS_OK) {
			off++;
			continue;
		}
		if (seen_commit)
			return 1;
		if ((r.flags & JOURNAL_FLAG_FIRST) && r.index > batch)
			return 1;
		if (r.flags & JOURNAL_FLAG_COMMIT)
			seen_commit = 1;
		if (r.index >= batch && r.index > *maxidx)
			*maxidx = r.index;
		(*nvalid)++;
		off += r.size;
	}
	return 0;
}

/* The last segment was being created at a crash: nothing was ever
 * acknowledged in it, so it is rewritten empty. */
static ls_rc rewrite_header(struct journal *j, uint64_t size, struct store_recovery *rec,
			    struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER];
	struct store_recovery cut;
	ls_rc rc;

	/* The torn header's key id is unknown: an encrypted directory gets
	 * a fresh data key for the segment. */
	j->key_id = 0;
	if (j->kr) {
		rc = keys_new_data_key(j->kr, &j->key_id, j->key, err);
		if (rc != LS_OK)
			return rc;
	}
	jnl_seg_name(name, j->seg_first);
	jnl_seg_header_build(h, j->seg_first, j->key_id);
	recovery_note(&cut, j->seg_first, 0, size, 0, j->seg_first, 0);
	rc = jnl_cut_pending_add(j->dir, &cut, err);
	if (rc != LS_OK)
		return rc;
	if (ftruncate(j->fd, 0) != 0 || jnl_pwrite_all(j->fd, h, sizeof(h), 0) != 0 ||
	    fsync(j->fd) != 0 || fsync(j->dirfd) != 0)
		return ls_err_set(err, LS_IO, "%s/%s: rewriting torn header: %s", j->dir, name,
				  strerror(errno));
	if (rec)
		*rec = cut;
	j->seg_end = JOURNAL_SEG_HEADER;
	j->size = j->seg_first;
	return LS_OK;
}

/* Check the last segment completely; cut a torn tail (see the top comment). */
static ls_rc scan_last(struct journal *j, uint64_t min_size, struct store_recovery *rec,
		       struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	struct stat st;
	uint8_t *m;
	size_t size, off, x, commit_off, max;
	uint64_t idx, commit_idx, nvalid = 0, maxidx = 0;
	const char *why = NULL, *hwhy;
	char idxwhy[96];
	struct store_recovery cut;
	ls_rc rc = LS_OK;

	jnl_seg_name(name, j->seg_first);
	if (fstat(j->fd, &st) != 0)
		return ls_err_set(err, LS_IO, "%s/%s: %s", j->dir, name, strerror(errno));
	if ((uint64_t)st.st_size < JOURNAL_SEG_HEADER)
		return rewrite_header(j, (uint64_t)st.st_size, rec, err);
	size = (size_t)st.st_size;
	m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, j->fd, 0);
	if (m == MAP_FAILED)
		return ls_err_set(err, LS_IO, "%s/%s: mmap: %s", j->dir, name, strerror(errno));
	hwhy = jnl_seg_header_check(m, j->seg_first);
	if (hwhy) {
		/* Records are written only after the header is durable, so a
		 * bad header with no valid record anywhere after it is a
		 * segment whose creation was torn; with records it is damage. */
		later_batch_after(m, size, 0, ENC_MAX, UINT64_MAX, &nvalid, &maxidx);
		if (nvalid == 0) {
			munmap(m, size);
			return rewrite_header(j, size, rec, err);
		}
		rc = ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: %s", j->dir, name, hwhy);
		goto out;
	}
	rc = jnl_seg_key(j->dir, name, m, &j->kr, &j->key_id, j->key, err);
	if (rc != LS_OK)
		goto out;
	max = j->key_id ? ENC_MAX : JOURNAL_MAX_ENTRY;
	off = commit_off = JOURNAL_SEG_HEADER;
	idx = commit_idx = j->seg_first;
	while (off < size) {
		struct rec r;

		if (jnl_rec_parse_max(m + off, size - off, max, &r, &why) != LS_OK)
			break;
		if (r.index != idx) {
			snprintf(idxwhy, sizeof(idxwhy), "record has index %llu",
				 (unsigned long long)r.index);
			why = idxwhy;
			break;
		}
		off += r.size;
		idx++;
		if (r.flags & JOURNAL_FLAG_COMMIT) {
			commit_off = off;
			commit_idx = idx;
		}
	}
	x = off;
	if (commit_off == size)
		goto clean;
	if (!why)
		why = "last batch has no COMMIT record";
	if (x < size && later_batch_after(m, size, x, max, commit_idx, &nvalid, &maxidx)) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %zu: %s in record %llu, and a later batch follows it "
				"(it was acknowledged: refusing to cut)",
				j->dir, name, x, why, (unsigned long long)idx);
		goto out;
	}
	if (size - commit_off > j->max_batch) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %zu: %s in record %llu, and %zu bytes follow the last "
				"complete batch, more than one batch (%llu) that a crash can leave "
				"unfinished: refusing to cut",
				j->dir, name, x, why, (unsigned long long)idx, size - commit_off,
				(unsigned long long)j->max_batch);
		goto out;
	}
	if (commit_idx < min_size) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %zu: %s in record %llu; cutting the tail would leave "
				"%llu records, fewer than the %llu signed",
				j->dir, name, x, why, (unsigned long long)idx,
				(unsigned long long)commit_idx, (unsigned long long)min_size);
		goto out;
	}
	if (idx > commit_idx && idx - 1 > maxidx)
		maxidx = idx - 1;
	recovery_note(&cut, j->seg_first, commit_off, size - commit_off, idx - commit_idx + nvalid,
		      commit_idx, maxidx);
	rc = jnl_cut_pending_add(j->dir, &cut, err);	/* journal.h invariant 5 */
	if (rc != LS_OK)
		goto out;
	if (ftruncate(j->fd, (off_t)commit_off) != 0 || fsync(j->fd) != 0) {
		rc = ls_err_set(err, LS_IO, "%s/%s: cutting torn tail: %s", j->dir, name,
				strerror(errno));
		goto out;
	}
	if (rec)
		*rec = cut;
clean:
	j->seg_end = commit_off;
	j->size = commit_idx;
out:
	munmap(m, size);
	return rc;
}

/* Names and headers of the segments before the last; see the top comment. */
static ls_rc check_segment(struct journal *j, uint64_t first, uint64_t next, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER];
	struct stat st;
	size_t got;
	const char *why;
	int fd;
	ls_rc rc = LS_OK;

	jnl_seg_name(name, first);
	fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ls_err_set(err, LS_IO, "%s/%s: %s", j->dir, name, strerror(errno));
	if (jnl_pread_all(fd, h, sizeof(h), 0, &got) != 0 || fstat(fd, &st) != 0) {
		rc = ls_err_set(err, LS_IO, "%s/%s: %s", j->dir, name, strerror(errno));
	} else if (got < sizeof(h)) {
		rc = ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: truncated segment header",
				j->dir, name);
	} else if ((why = jnl_seg_header_check(h, first)) != NULL) {
		rc = ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: %s", j->dir, name, why);
	} else if (next - first >
		   ((uint64_t)st.st_size - JOURNAL_SEG_HEADER) / (JOURNAL_REC_HEADER + 1)) {
		/* Too short for the records its successor's name implies: a
		 * truncated segment or a missing one after it. */
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %llu: segment ends before record %llu (next segment "
				"starts at %llu)",
				j->dir, name, (unsigned long long)st.st_size,
				(unsigned long long)next - 1, (unsigned long long)next);
	}
	close(fd);
	return rc;
}

ls_rc journal_open(const char *dir, const struct journal_opts *opts, struct journal **out,
		   struct store_recovery *rec, struct ls_err *err)
{
	struct journal *j;
	uint64_t *segs = NULL, min_size = opts ? opts->min_size : 0;
	size_t nsegs = 0;
	char name[SEG_NAME_LEN + 1];
	ls_rc rc;

	*out = NULL;
	if (rec)
		memset(rec, 0, sizeof(*rec));
	j = calloc(1, sizeof(*j));
	if (!j)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	j->dirfd = j->fd = -1;
	j->segment_size = opts && opts->segment_size ? opts->segment_size : DEFAULT_SEGMENT_SIZE;
	j->max_batch = opts && opts->max_batch ? opts->max_batch : JOURNAL_MAX_BATCH;
	j->rotate_leaves = opts ? opts->rotate_leaves : 0;
	j->dir = strdup(dir);
	if (!j->dir) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	/* Keys first: a wrong or missing master key must stop us before
	 * anything is created, cut or rewritten. */
	rc = keys_get_parent(dir, &j->kr, err);
	if (rc != LS_OK && rc != LS_NOTFOUND)
		goto fail;
	if (mkdir(dir, 0700) == 0) {
		rc = jnl_sync_parent(dir, err);
		if (rc != LS_OK)
			goto fail;
	} else if (errno != EEXIST) {
		rc = ls_err_set(err, LS_IO, "mkdir %s: %s", dir, strerror(errno));
		goto fail;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		rc = ls_err_set(err, LS_IO, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK
			     ? ls_err_set(err, LS_BUSY, "%s: journal is open by another writer", dir)
			     : ls_err_set(err, LS_IO, "flock %s: %s", dir, strerror(errno));
		goto fail;
	}
	rc = jnl_list_segments(dir, &segs, &nsegs, err);
	if (rc != LS_OK)
		goto fail;
	if (nsegs == 0) {
		if (min_size > (opts ? opts->sealed : 0)) {
			rc = ls_err_set(err, LS_CORRUPT, "%s: no segments, but %llu records were signed",
					dir, (unsigned long long)min_size);
			goto fail;
		}
		/* Everything before is sealed: the log goes on from there. */
		rc = segment_create(j, opts ? opts->sealed : 0, err);
		if (rc != LS_OK)
			goto fail;
		j->size = j->seg_first;
		*out = j;
		return LS_OK;
	}
	if (segs[0] != 0) {
		int k = jnl_prefix_archived(dir, segs, nsegs, err);

		if (k < 0) {
			rc = LS_CORRUPT;
			goto fail;
		}
	}
	if (segs[0] != 0 && !(opts && segs[0] <= opts->sealed) &&
	    !jnl_prefix_archived(dir, segs, nsegs, NULL)) {
		jnl_seg_name(name, segs[0]);
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s: first segment starts at record %llu; segments before it are missing",
				dir, name, (unsigned long long)segs[0]);
		goto fail;
	}
	for (size_t i = 0; i + 1 < nsegs; i++) {
		rc = check_segment(j, segs[i], segs[i + 1], err);
		if (rc != LS_OK)
			goto fail;
	}
	j->seg_first = segs[nsegs - 1];
	jnl_seg_name(name, j->seg_first);
	j->fd = openat(j->dirfd, name, O_RDWR | O_CLOEXEC);
	if (j->fd < 0) {
		rc = ls_err_set(err, LS_IO, "%s/%s: %s", dir, name, strerror(errno));
		goto fail;
	}
	rc = scan_last(j, min_size, rec, err);
	if (rc != LS_OK)
		goto fail;
	if (j->size < min_size) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %llu: journal ends at record %llu, but %llu were signed",
				dir, name, (unsigned long long)j->seg_end,
				(unsigned long long)j->size, (unsigned long long)min_size);
		goto fail;
	}
	free(segs);
	*out = j;
	return LS_OK;
fail:
	free(segs);
	journal_close(j);
	return rc;
}

uint64_t journal_size(const struct journal *j)
{
	return j->size;
}

void journal_test_fail_next(struct journal *j, int op, int errnum)
{
	j->fault_op = op;
	j->fault_errno = errnum;
}

/* The batch write; an injected fault writes half of it first, like a disk
 * that fills up in the middle. */
static int batch_write(struct journal *j, size_t total)
{
	if (j->fault_op == JOURNAL_FAULT_WRITE) {
		int e = j->fault_errno;

		j->fault_op = 0;
		if (jnl_pwrite_all(j->fd, j->buf, total / 2, j->seg_end) != 0)
			return -1;
		errno = e;
		return -1;
	}
	return jnl_pwrite_all(j->fd, j->buf, total, j->seg_end);
}

static int batch_sync(struct journal *j)
{
	if (j->fault_op == JOURNAL_FAULT_SYNC) {
		j->fault_op = 0;
		errno = j->fault_errno;
		return -1;
	}
	return fdatasync(j->fd);
}

/* Invariant 3: ENOSPC is undone when possible, anything else is sticky. */
static ls_rc append_failed(struct journal *j, int e, const char *what, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];

	jnl_seg_name(name, j->seg_first);
	if (e == ENOSPC) {
		if (ftruncate(j->fd, (off_t)j->seg_end) == 0 && fdatasync(j->fd) == 0)
			return ls_err_set(err, LS_NOSPACE, "%s/%s: %s: %s; batch discarded", j->dir,
					  name, what, strerror(e));
		j->failed = 1;
		return ls_err_set(err, LS_NOSPACE,
				  "%s/%s: %s: %s; undoing it failed too, journal failed", j->dir,
				  name, what, strerror(e));
	}
	j->failed = 1;
	return ls_err_set(err, LS_IO, "%s/%s: %s: %s; journal failed", j->dir, name, what,
			  strerror(e));
}

ls_rc journal_append(struct journal *j, const struct iovec *entries, size_t n, uint64_t *first,
		     struct ls_err *err)
{
	return journal_append_at(j, entries, n, first, NULL, err);
}

ls_rc journal_append_at(struct journal *j, const struct iovec *entries, size_t n,
			uint64_t *first, uint64_t *offsets, struct ls_err *err)
{
	size_t total = 0, off = 0;
	ls_rc rc;

	if (j->failed)
		return ls_err_set(err, LS_FAILED, "%s: journal failed earlier; reopen it", j->dir);
	if (n == 0)
		return ls_err_set(err, LS_INVALID, "empty batch");
	if (n > SIZE_MAX / REC_MAX)
		return ls_err_set(err, LS_LIMIT, "batch of %zu entries is too large", n);
	for (size_t i = 0; i < n; i++) {
		if (entries[i].iov_len == 0 || !entries[i].iov_base)
			return ls_err_set(err, LS_INVALID, "entry %zu of the batch is empty", i);
		if (entries[i].iov_len > JOURNAL_MAX_ENTRY)
			return ls_err_set(err, LS_LIMIT, "entry %zu is %zu bytes; the limit is %d", i,
					  entries[i].iov_len, JOURNAL_MAX_ENTRY);
		total += JOURNAL_REC_HEADER + entries[i].iov_len;
	}
	/* Rotate first: the records are sealed for the segment they go to.
	 * With rotate_leaves L, a file is closed before the batch that
	 * reaches the next multiple of L after its first batch: every record
	 * of the file then lies below that multiple, and the file goes once
	 * the range ending there is sealed (sealer.h). */
	if (j->rotate_leaves && !j->rotate_at)
		j->rotate_at = ((j->size > j->seg_first ? j->size - 1 : j->size + n - 1) /
				j->rotate_leaves + 1) * j->rotate_leaves;
	if ((j->seg_end >= j->segment_size || (j->rotate_leaves && j->size + n > j->rotate_at)) &&
	    j->size > j->seg_first) {
		rc = segment_create(j, j->size, err);
		if (rc != LS_OK)
			return rc;
		j->rotate_at = j->rotate_leaves ? ((j->size + n - 1) / j->rotate_leaves + 1) *
							  j->rotate_leaves : 0;
	}
	if (j->key_id)
		total += n * LS_AEAD_OVERHEAD;
	if (total > j->max_batch)
		return ls_err_set(err, LS_LIMIT, "a batch of %zu bytes is larger than the limit (%llu)",
				  total, (unsigned long long)j->max_batch);
	if (total > j->buf_cap) {
		size_t cap = j->buf_cap ? j->buf_cap : 1u << 20;
		uint8_t *nb;

		while (cap < total)
			cap *= 2;
		nb = realloc(j->buf, cap);
		if (!nb)
			return ls_err_set(err, LS_NOMEM, "out of memory for a batch of %zu bytes",
					  total);
		j->buf = nb;
		j->buf_cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		size_t size;

		rc = jnl_rec_encode(j->buf + off,
				    (i == 0 ? JOURNAL_FLAG_FIRST : 0) |
					    (i + 1 == n ? JOURNAL_FLAG_COMMIT : 0),
				    j->size + i, entries[i].iov_base, entries[i].iov_len, j->seg_first,
				    j->key_id, j->key, &size);
		if (rc != LS_OK)
			return ls_err_set(err, LS_IO, "%s: encrypting record %llu failed", j->dir,
					  (unsigned long long)(j->size + i));
		if (offsets)
			offsets[i] = j->seg_end + off;
		off += size;
	}
	if (batch_write(j, total) != 0)
		return append_failed(j, errno, "write", err);
	if (batch_sync(j) != 0)
		return append_failed(j, errno, "fdatasync", err);
	j->seg_end += total;
	if (first)
		*first = j->size;
	j->size += n;
	return LS_OK;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	ls_wipe(j->key, sizeof(j->key));
	free(j->buf);
	free(j->dir);
	free(j);
}

ls_rc journal_rotate(struct journal *j, struct ls_err *err)
{
	if (j->failed)
		return ls_err_set(err, LS_FAILED, "%s: journal failed earlier; reopen it", j->dir);
	if (j->size > j->seg_first)
		return segment_create(j, j->size, err);
	/* The current segment holds no record yet: give it a new header
	 * (and so a new data key) in place. */
	return rewrite_header(j, 0, NULL, err);
}

uint32_t journal_key_id(const struct journal *j)
{
	return j->key_id;
}
