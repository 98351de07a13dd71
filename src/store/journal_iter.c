/*
 * journal_iter.c - sequential readers of the journal: journal_iter_open(),
 * journal_iter_open_strict() (verify), journal_iter_next() (see journal.h;
 * the records are checked by journal_record.c, as under the reader).
 */
#include "store/journal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ITER_BUF (1u << 20)

struct journal_iter {
	char *dir;
	int strict;
	int fd;			/* -1: segment seg_first not opened yet */
	int hdr_ok;		/* segment header read and checked */
	uint64_t seg_first;
	uint64_t next;		/* expected leaf index of the next record */
	uint64_t start;
	uint16_t last_flags;	/* of the previous record, across segments */
	uint8_t *buf;
	size_t pos, end;
	uint64_t buf_off;	/* file offset of buf[0] */
	char where_seg[SEG_NAME_LEN + 1];
	uint64_t where_named;	/* the segment where_seg names (a printf per
				 * entry was a tenth of reading one) */
	uint64_t where_off;
	ls_rc broken;		/* sticky LS_CORRUPT/LS_IO after an error */
	char broken_msg[sizeof(((struct ls_err *)0)->msg)];
	uint32_t key_id;	/* of the current segment; 0: plaintext */
	uint8_t key[LS_AEAD_KEY_LEN];
	uint8_t *plain;		/* decrypted entry of an encrypted segment */
};

/* ---------------------------------------------------------------- iterator */

static ls_rc iter_open(const char *dir, uint64_t start, int strict, struct journal_iter **out,
		       struct ls_err *err)
{
	struct journal_iter *it;
	uint64_t *segs;
	size_t n, i;
	ls_rc rc;

	*out = NULL;
	rc = jnl_list_segments(dir, &segs, &n, err);
	if (rc != LS_OK)
		return rc;
	it = calloc(1, sizeof(*it));
	if (!it) {
		free(segs);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	it->dir = strdup(dir);
	it->buf = malloc(ITER_BUF);
	if (!it->dir || !it->buf) {
		free(segs);
		journal_iter_free(it);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	it->fd = -1;
	it->where_named = UINT64_MAX;
	it->strict = strict;
	it->start = start;
	it->last_flags = JOURNAL_FLAG_COMMIT;
	/* The last segment starting at or before start; an empty directory
	 * means an empty journal whose first segment is not there yet. */
	for (i = n; i > 0 && segs[i - 1] > start; i--)
		;
	/* Records before an archived prefix are not here: start at the first
	 * segment that is (the caller sees it from the indexes). */
	if (i == 0 && n > 0 && jnl_prefix_archived(dir, segs, n, NULL) == 1)
		i = 1;
	if (i == 0 && n > 0) {
		char name[SEG_NAME_LEN + 1];

		jnl_seg_name(name, segs[0]);
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset 0: no segment holds record %llu (first segment starts at %llu)",
				dir, name, (unsigned long long)start, (unsigned long long)segs[0]);
		free(segs);
		journal_iter_free(it);
		return rc;
	}
	it->seg_first = it->next = i ? segs[i - 1] : 0;
	free(segs);
	*out = it;
	return LS_OK;
}

ls_rc journal_iter_open(const char *dir, uint64_t start, struct journal_iter **out,
			struct ls_err *err)
{
	return iter_open(dir, start, 0, out, err);
}

ls_rc journal_iter_open_strict(const char *dir, uint64_t start, struct journal_iter **out,
			       struct ls_err *err)
{
	return iter_open(dir, start, 1, out, err);
}

/* At least need bytes buffered: LS_OK, LS_NOTFOUND at end of file, LS_IO. */
static ls_rc iter_fill(struct journal_iter *it, size_t need)
{
	if (it->end - it->pos >= need)
		return LS_OK;
	if (it->pos) {
		memmove(it->buf, it->buf + it->pos, it->end - it->pos);
		it->buf_off += it->pos;
		it->end -= it->pos;
		it->pos = 0;
	}
	while (it->end < need) {
		ssize_t r = read(it->fd, it->buf + it->end, ITER_BUF - it->end);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return LS_IO;
		}
		if (r == 0)
			return LS_NOTFOUND;
		it->end += (size_t)r;
	}
	return LS_OK;
}

/* Record a sticky error at the current position of the current segment. */
static ls_rc iter_fail(struct journal_iter *it, ls_rc rc, struct ls_err *err, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

static ls_rc iter_fail(struct journal_iter *it, ls_rc rc, struct ls_err *err, const char *fmt,
		       ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	jnl_seg_name(it->where_seg, it->seg_first);
	it->where_named = it->seg_first;
	it->where_off = it->buf_off + it->pos;
	snprintf(it->broken_msg, sizeof(it->broken_msg), "%s/%s offset %llu: %s", it->dir,
		 it->where_seg, (unsigned long long)it->where_off, what);
	it->broken = rc;
	return ls_err_set(err, rc, "%s", it->broken_msg);
}

/* The iterator stands at the end of the data of a segment (clean = at a
 * record boundary).  LS_OK when it moved on (or more data arrived),
 * LS_NOTFOUND at the end of the journal, else an error. */
static ls_rc iter_at_end(struct journal_iter *it, int clean, const char *why, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	int fd, later;
	ls_rc rc;

	fd = -1;
	if (clean && it->next > it->seg_first) {
		jnl_seg_name(name, it->next);
		fd = openat(AT_FDCWD, it->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			int dfd = fd;

			fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
			if (fd < 0 && errno != ENOENT) {
				int e = errno;

				close(dfd);
				return iter_fail(it, LS_IO, err, "opening %s: %s", name, strerror(e));
			}
			close(dfd);
		}
	}
	if (fd >= 0) {
		/* The writer creates the next segment only after its last
		 * write to this one: read once more before leaving. */
		rc = iter_fill(it, 1);
		if (rc == LS_OK) {
			close(fd);
			return LS_OK;
		}
		if (rc == LS_IO) {
			close(fd);
			return iter_fail(it, LS_IO, err, "read: %s", strerror(errno));
		}
		if (!(it->last_flags & JOURNAL_FLAG_COMMIT)) {
			close(fd);
			return iter_fail(it, LS_CORRUPT, err,
					 "segment ends inside a batch (record %llu has no COMMIT)",
					 (unsigned long long)it->next - 1);
		}
		close(it->fd);
		it->fd = fd;
		it->hdr_ok = 0;
		it->seg_first = it->next;
		it->pos = it->end = 0;
		it->buf_off = 0;
		return LS_OK;
	}
	later = jnl_segment_after(it->dir, it->seg_first);
	if (later < 0)
		return iter_fail(it, LS_IO, err, "cannot list the journal directory");
	if (later) {
		if (clean && it->next == it->seg_first)
			return iter_fail(it, LS_CORRUPT, err,
					 "segment holds no record but is not the last");
		if (clean)
			return iter_fail(it, LS_CORRUPT, err,
					 "segment %016llx.seg (record %llu) is missing",
					 (unsigned long long)it->next, (unsigned long long)it->next);
		return iter_fail(it, LS_CORRUPT, err, "%s in record %llu before a later segment",
				 why, (unsigned long long)it->next);
	}
	if (it->strict) {
		if (!clean)
			return iter_fail(it, LS_CORRUPT, err, "%s in record %llu", why,
					 (unsigned long long)it->next);
		if (!(it->last_flags & JOURNAL_FLAG_COMMIT))
			return iter_fail(it, LS_CORRUPT, err,
					 "last batch is not committed (record %llu has no COMMIT)",
					 (unsigned long long)it->next - 1);
	}
	return LS_NOTFOUND;
}

ls_rc journal_iter_next(struct journal_iter *it, const uint8_t **data, size_t *len,
			uint64_t *index, struct ls_err *err)
{
	struct rec r;
	const char *why;
	char whybuf[160];
	ls_rc rc;

	if (it->broken)
		return ls_err_set(err, it->broken, "%s", it->broken_msg);
	for (;;) {
		if (it->fd < 0) {
			char name[SEG_NAME_LEN + 1];
			int dfd;

			jnl_seg_name(name, it->seg_first);
			dfd = open(it->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0)
				return iter_fail(it, LS_IO, err, "%s: %s", it->dir, strerror(errno));
			it->fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
			if (it->fd < 0 && errno != ENOENT) {
				int e = errno;

				close(dfd);
				return iter_fail(it, LS_IO, err, "open: %s", strerror(e));
			}
			close(dfd);
			if (it->fd < 0) {
				/* An empty journal whose writer has not made
				 * its first segment yet. */
				if (it->strict || jnl_segment_after(it->dir, it->seg_first) != 0)
					return iter_fail(it, LS_CORRUPT, err, "segment is missing");
				return LS_NOTFOUND;
			}
		}
		if (!it->hdr_ok) {
			rc = iter_fill(it, JOURNAL_SEG_HEADER);
			if (rc == LS_IO)
				return iter_fail(it, LS_IO, err, "read: %s", strerror(errno));
			if (rc == LS_NOTFOUND) {
				/* Being created right now, or torn at a crash. */
				if (it->strict || jnl_segment_after(it->dir, it->seg_first) != 0)
					return iter_fail(it, LS_CORRUPT, err,
							 "truncated segment header");
				return LS_NOTFOUND;
			}
			why = jnl_seg_header_check(it->buf + it->pos, it->seg_first);
			if (why)
				return iter_fail(it, LS_CORRUPT, err, "%s", why);
			{
				char name[SEG_NAME_LEN + 1];
				struct keyring *kr = NULL;
				struct ls_err e;

				jnl_seg_name(name, it->seg_first);
				rc = jnl_seg_key(it->dir, name, it->buf + it->pos, &kr, &it->key_id,
						 it->key, &e);
				if (rc != LS_OK)
					return iter_fail(it, rc, err, "%s", e.msg);
			}
			if (it->key_id && !it->plain) {
				it->plain = malloc(JOURNAL_MAX_ENTRY);
				if (!it->plain)
					return iter_fail(it, LS_NOMEM, err, "out of memory");
			}
			it->pos += JOURNAL_SEG_HEADER;
			it->hdr_ok = 1;
		}
		why = "truncated record";
		rc = iter_fill(it, JOURNAL_REC_HEADER);
		if (rc == LS_OK) {
			size_t max = it->key_id ? ENC_MAX : JOURNAL_MAX_ENTRY;

			rc = jnl_rec_parse_max(it->buf + it->pos, it->end - it->pos, max, &r, &why);
			if (rc == LS_NOTFOUND) {
				/* The header checked, so its length is sane. */
				rc = iter_fill(it, JOURNAL_REC_HEADER + get32(it->buf + it->pos + 4));
				if (rc == LS_OK)
					rc = jnl_rec_parse_max(it->buf + it->pos, it->end - it->pos,
							       max, &r, &why);
			}
		}
		if (rc == LS_IO)
			return iter_fail(it, LS_IO, err, "read: %s", strerror(errno));
		if (rc == LS_CORRUPT)
			return iter_fail(it, LS_CORRUPT, err, "%s in record %llu", why,
					 (unsigned long long)it->next);
		if (rc == LS_NOTFOUND) {
			rc = iter_at_end(it, it->end == it->pos, "truncated record", err);
			if (rc != LS_OK)
				return rc;
			continue;
		}
		rc = jnl_rec_check(&r, it->next, it->seg_first, it->key_id, it->key,
				   r.index >= it->start ? it->plain : NULL, whybuf, sizeof(whybuf));
		if (rc != LS_OK)
			return iter_fail(it, rc, err, "%s", whybuf);
		if (it->where_named != it->seg_first) {
			jnl_seg_name(it->where_seg, it->seg_first);
			it->where_named = it->seg_first;
		}
		it->where_off = it->buf_off + it->pos;
		it->pos += r.size;
		it->next++;
		it->last_flags = r.flags;
		if (r.index < it->start)
			continue;
		if (data)
			*data = r.data;
		if (len)
			*len = r.len;
		if (index)
			*index = r.index;
		return LS_OK;
	}
}

void journal_iter_where(const struct journal_iter *it, const char **segment, uint64_t *offset)
{
	if (segment)
		*segment = it->where_seg;
	if (offset)
		*offset = it->where_off;
}

void journal_iter_free(struct journal_iter *it)
{
	if (!it)
		return;
	if (it->fd >= 0)
		close(it->fd);
	ls_wipe(it->key, sizeof(it->key));
	if (it->plain) {
		ls_wipe(it->plain, JOURNAL_MAX_ENTRY);
		free(it->plain);
	}
	free(it->buf);
	free(it->dir);
	free(it);
}
