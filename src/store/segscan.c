/*
 * segscan.c - a sealed segment held in memory, checked without the data
 * keys (segscan.h; the layout is docs/FORMAT.md §11 and segment_int.h).
 * A plaintext one is then handed whole to segment_verify() through a
 * temporary file, so its every byte is checked by the same code as a local
 * segment's.
 */
#include "store/segscan.h"

#include <errno.h>
#include <libdeflate.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/segment.h"
#include "store/segment_int.h"

static ls_rc at(ls_rc rc, uint64_t off, struct ls_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static ls_rc at(ls_rc rc, uint64_t off, struct ls_err *err, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ls_err_set(err, rc, "offset %llu: %s", (unsigned long long)off, what);
}

/* Write buf to a fresh temporary file and run segment_verify() on it. */
static ls_rc verify_copy(const uint8_t *buf, size_t n, const char *tmpdir, struct ls_err *err)
{
	char path[PATH_MAX];
	struct ls_err e = { "" };
	const char *dir = tmpdir ? tmpdir : getenv("TMPDIR");
	size_t done = 0;
	int fd;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/logseal-segscan-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return ls_err_set(err, LS_IO, "temporary file in %s: %s", dir && *dir ? dir : "/tmp",
				  strerror(errno));
	while (done < n) {
		ssize_t w = write(fd, buf + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = ls_err_set(err, LS_IO, "temporary file %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return rc;
		}
		done += (size_t)w;
	}
	close(fd);
	rc = segment_verify(path, NULL, &e);
	unlink(path);
	if (rc != LS_OK) {
		/* e names the temporary file: keep "offset X: what" only */
		const char *p = strstr(e.msg, " offset ");
		return ls_err_set(err, rc, "%s", p ? p + 1 : e.msg);
	}
	return LS_OK;
}

ls_rc segscan_buffer(const uint8_t *buf, size_t n, const char *tmpdir, struct segscan *out,
		     struct ls_err *err)
{
	const uint8_t *h = buf, *f, *t;
	uint64_t hashes_off, table_off, pos = SEG_HDR_LEN;
	uint32_t flags, k, nblocks, min;

	memset(out, 0, sizeof(*out));
	if (n < SEG_HDR_LEN + SEG_FTR_LEN)
		return at(LS_CORRUPT, 0, err, "%zu bytes: too short for a sealed segment", n);
	if (memcmp(h, SEG_MAGIC, SEG_MAGIC_LEN) != 0)
		return at(LS_CORRUPT, 0, err, "not a sealed segment (bad magic)");
	if (seg_get32(h + SEG_H_CRC) != libdeflate_crc32(0, h, SEG_H_CRC))
		return at(LS_CORRUPT, 0, err, "header checksum mismatch");
	if (seg_get32(h + SEG_H_VERSION) != SEG_VERSION)
		return at(LS_CORRUPT, 0, err, "unknown version %u", seg_get32(h + SEG_H_VERSION));
	flags = seg_get32(h + SEG_H_FLAGS);
	out->first = seg_get64(h + SEG_H_FIRST);
	out->count = seg_get32(h + SEG_H_COUNT);
	k = seg_get32(h + SEG_H_K);
	out->key_id = seg_get32(h + SEG_H_KEYID);
	out->encrypted = (flags & SEG_F_ENCRYPTED) != 0;
	if ((flags & ~SEG_F_ENCRYPTED) || seg_get64(h + SEG_H_RSVD) != 0 ||
	    !out->encrypted != !out->key_id)
		return at(LS_CORRUPT, 0, err, "bad flags, key id or reserved bytes");
	if (out->first % SEGMENT_BUNDLE || out->count % SEGMENT_BUNDLE || out->count == 0 ||
	    out->first > UINT64_MAX - out->count)
		return at(LS_CORRUPT, 0, err, "bad leaf range %llu+%u",
			  (unsigned long long)out->first, out->count);
	if (k < 1 || k > SEG_MAX_K)
		return at(LS_CORRUPT, 0, err, "bad bundles per block %u", k);
	nblocks = (out->count / SEGMENT_BUNDLE + k - 1) / k;
	out->blocks = nblocks;

	f = buf + n - SEG_FTR_LEN;
	if (memcmp(f + SEG_F_MAGIC, SEG_MAGIC, SEG_MAGIC_LEN) != 0)
		return at(LS_CORRUPT, n - SEG_FTR_LEN, err, "no footer (truncated or not a segment)");
	if (seg_get32(f + SEG_F_CRC) != libdeflate_crc32(0, f, SEG_F_CRC))
		return at(LS_CORRUPT, n - SEG_FTR_LEN, err, "footer checksum mismatch");
	hashes_off = seg_get64(f + SEG_F_HASHES);
	table_off = seg_get64(f + SEG_F_TABLE);
	if (seg_get64(f + SEG_F_LENGTH) != n)
		return at(LS_CORRUPT, n - SEG_FTR_LEN, err, "footer says %llu bytes, the object has %zu",
			  (unsigned long long)seg_get64(f + SEG_F_LENGTH), n);
	if (seg_get64(f + SEG_F_FIRST) != out->first || seg_get32(f + SEG_F_COUNT) != out->count ||
	    seg_get32(f + SEG_F_NBLOCKS) != nblocks || seg_get64(f + SEG_F_RSVD) != 0)
		return at(LS_CORRUPT, n - SEG_FTR_LEN, err, "footer does not match the header");
	if (hashes_off < SEG_HDR_LEN || hashes_off > n ||
	    table_off != hashes_off + (uint64_t)out->count * LS_HASH_LEN ||
	    table_off + (uint64_t)nblocks * SEG_TBL_ENT + SEG_FTR_LEN != n)
		return at(LS_CORRUPT, n - SEG_FTR_LEN, err, "section offsets do not tile the object");

	t = buf + table_off;
	if (libdeflate_crc32(0, t, (size_t)nblocks * SEG_TBL_ENT) != seg_get32(f + SEG_F_TBLCRC))
		return at(LS_CORRUPT, table_off, err, "block table checksum mismatch");
	min = out->encrypted ? LS_AEAD_OVERHEAD + 1 : 1;
	for (uint32_t i = 0; i < nblocks; i++, t += SEG_TBL_ENT) {
		uint64_t off = seg_get64(t), ne = seg_block_entries(out->count, k, i);
		uint32_t stored = seg_get32(t + 8), raw = seg_get32(t + 12);
		uint64_t hoff = hashes_off + (uint64_t)i * k * SEGMENT_BUNDLE * LS_HASH_LEN;

		if (off != pos || stored < min || stored > hashes_off - pos || raw < 2 * ne ||
		    raw > ne * (2 + SEG_ENTRY_MAX))
			return at(LS_CORRUPT, table_off + (uint64_t)i * SEG_TBL_ENT, err,
				  "block table entry %u is inconsistent", i);
		if (libdeflate_crc32(0, buf + off, stored) != seg_get32(t + 16))
			return at(LS_CORRUPT, off, err, "block %u: checksum mismatch", i);
		if (libdeflate_crc32(0, buf + hoff, (size_t)ne * LS_HASH_LEN) != seg_get32(t + 20))
			return at(LS_CORRUPT, hoff, err, "leaf hashes of block %u: checksum mismatch",
				  i);
		pos += stored;
	}
	if (pos != hashes_off)
		return at(LS_CORRUPT, table_off, err, "blocks end at %llu, the leaf hashes start at %llu",
			  (unsigned long long)pos, (unsigned long long)hashes_off);
	out->hashes = (const uint8_t (*)[LS_HASH_LEN])(buf + hashes_off);
	if (out->encrypted)
		return LS_OK;
	{
		ls_rc rc = verify_copy(buf, n, tmpdir, err);
		if (rc != LS_OK)
			return rc;
	}
	out->full = 1;
	return LS_OK;
}
