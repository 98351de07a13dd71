/*
 * segment.c - reading and checking sealed segment files (segment.h; the
 * bytes in segment_int.h and docs/FORMAT.md §11; segment_write.c writes
 * them).
 *
 * segment_open() checks the header, the footer and the block table, and
 * that the sections tile the file exactly; blocks and their slices of the
 * leaf hashes are checked when they are read.  A decoded block is shared
 * through a cache of SEG_CACHE blocks per open segment (refcounted under
 * the segment's mutex), so that readers walking one bundle or entry by
 * entry decompress it once; the iterator decodes blocks privately so a
 * long scan does not evict them.
 *
 * Every failure names "<file> offset <X>" with X the start of the region
 * whose check failed: 0 the header, a block's offset, the start of a
 * block's slice of the leaf hashes, the block table (or the entry of the
 * table that is inconsistent), the footer (file length - 64).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zstd.h>

#include "core/merkle.h"
#include "store/keys.h"
#include "store/segment_int.h"

/* ------------------------------------------------------------ helpers */

static ls_rc bad(const char *path, ls_rc rc, uint64_t off, struct ls_err *err, const char *fmt,
		 ...) __attribute__((format(printf, 5, 6)));

static ls_rc bad(const char *path, ls_rc rc, uint64_t off, struct ls_err *err, const char *fmt,
		 ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ls_err_set(err, rc, "%s offset %llu: %s", path, (unsigned long long)off, what);
}

static ls_rc read_at(const char *path, int fd, void *buf, size_t n, uint64_t off,
		     struct ls_err *err)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return bad(path, LS_IO, off, err, "read: %s", strerror(errno));
		if (r == 0)
			return bad(path, LS_CORRUPT, off, err, "file ends early");
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return LS_OK;
}

static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t dctx_key;

static void dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void dctx_init(void)
{
	pthread_key_create(&dctx_key, dctx_free);
}

/* This thread's decompression context (kept for the thread's life). */
static ZSTD_DCtx *dctx_get(void)
{
	ZSTD_DCtx *d;

	pthread_once(&dctx_once, dctx_init);
	d = pthread_getspecific(dctx_key);
	if (!d) {
		d = ZSTD_createDCtx();
		if (d && pthread_setspecific(dctx_key, d) != 0) {
			ZSTD_freeDCtx(d);
			d = NULL;
		}
	}
	return d;
}

static void block_free(struct seg_block *b)
{
	if (!b)
		return;
	free(b->raw);
	free(b->off);
	free(b->hash);
	free(b);
}

/* ------------------------------------------------------------ open */

/* A file named like a segment must name the segment's first leaf. */
static ls_rc check_name(const char *path, uint64_t first, struct ls_err *err)
{
	const char *base = strrchr(path, '/');
	size_t n;
	uint64_t v = 0;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n != 16 + strlen(SEGMENT_SUFFIX) || strcmp(base + 16, SEGMENT_SUFFIX) != 0)
		return LS_OK;
	for (int i = 0; i < 16; i++) {
		char c = base[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return LS_OK;
	}
	if (v != first)
		return bad(path, LS_CORRUPT, SEG_H_FIRST, err,
			   "header's first leaf %llu is not the file name's %llu",
			   (unsigned long long)first, (unsigned long long)v);
	return LS_OK;
}

static ls_rc parse_header(struct segment *s, const uint8_t *h, struct ls_err *err)
{
	const char *p = s->path;
	uint32_t flags;

	if (memcmp(h, SEG_MAGIC, SEG_MAGIC_LEN) != 0)
		return bad(p, LS_CORRUPT, 0, err, "not a sealed segment (bad magic)");
	if (seg_get32(h + SEG_H_CRC) != libdeflate_crc32(0, h, SEG_H_CRC))
		return bad(p, LS_CORRUPT, 0, err, "header checksum mismatch");
	if (seg_get32(h + SEG_H_VERSION) != SEG_VERSION)
		return bad(p, LS_CORRUPT, 0, err, "unknown version %u", seg_get32(h + SEG_H_VERSION));
	flags = seg_get32(h + SEG_H_FLAGS);
	s->first = seg_get64(h + SEG_H_FIRST);
	s->count = seg_get32(h + SEG_H_COUNT);
	s->k = seg_get32(h + SEG_H_K);
	s->keyid = seg_get32(h + SEG_H_KEYID);
	if ((flags & ~SEG_F_ENCRYPTED) || seg_get64(h + SEG_H_RSVD) != 0 ||
	    !(flags & SEG_F_ENCRYPTED) != !s->keyid)
		return bad(p, LS_CORRUPT, 0, err, "bad flags, key id or reserved bytes");
	if (s->first % SEGMENT_BUNDLE || s->count % SEGMENT_BUNDLE || s->count == 0 ||
	    s->first > UINT64_MAX - s->count)
		return bad(p, LS_CORRUPT, 0, err, "bad leaf range %llu+%u",
			   (unsigned long long)s->first, s->count);
	if (s->k < 1 || s->k > SEG_MAX_K)
		return bad(p, LS_CORRUPT, 0, err, "bad bundles per block %u", s->k);
	s->nblocks = (s->count / SEGMENT_BUNDLE + s->k - 1) / s->k;
	return check_name(p, s->first, err);
}

static ls_rc parse_footer(struct segment *s, const uint8_t *f, struct ls_err *err)
{
	uint64_t fo = s->size - SEG_FTR_LEN;
	const char *p = s->path;

	if (memcmp(f + SEG_F_MAGIC, SEG_MAGIC, SEG_MAGIC_LEN) != 0)
		return bad(p, LS_CORRUPT, fo, err, "no footer (truncated or not a segment)");
	if (seg_get32(f + SEG_F_CRC) != libdeflate_crc32(0, f, SEG_F_CRC))
		return bad(p, LS_CORRUPT, fo, err, "footer checksum mismatch");
	s->hashes_off = seg_get64(f + SEG_F_HASHES);
	s->table_off = seg_get64(f + SEG_F_TABLE);
	if (seg_get64(f + SEG_F_LENGTH) != s->size)
		return bad(p, LS_CORRUPT, fo, err, "footer says %llu bytes, the file has %llu",
			   (unsigned long long)seg_get64(f + SEG_F_LENGTH),
			   (unsigned long long)s->size);
	if (seg_get64(f + SEG_F_FIRST) != s->first || seg_get32(f + SEG_F_COUNT) != s->count ||
	    seg_get32(f + SEG_F_NBLOCKS) != s->nblocks || seg_get64(f + SEG_F_RSVD) != 0)
		return bad(p, LS_CORRUPT, fo, err, "footer does not match the header");
	if (s->hashes_off < SEG_HDR_LEN || s->hashes_off > s->size ||
	    s->table_off != s->hashes_off + (uint64_t)s->count * LS_HASH_LEN ||
	    s->table_off + (uint64_t)s->nblocks * SEG_TBL_ENT + SEG_FTR_LEN != s->size)
		return bad(p, LS_CORRUPT, fo, err, "section offsets do not tile the file");
	return LS_OK;
}

static ls_rc parse_table(struct segment *s, const uint8_t *t, uint32_t tcrc, struct ls_err *err)
{
	size_t tlen = (size_t)s->nblocks * SEG_TBL_ENT;
	uint64_t pos = SEG_HDR_LEN;
	uint32_t min = s->keyid ? LS_AEAD_OVERHEAD + 1 : 1;

	if (libdeflate_crc32(0, t, tlen) != tcrc)
		return bad(s->path, LS_CORRUPT, s->table_off, err, "block table checksum mismatch");
	s->tbl = calloc(s->nblocks, sizeof(*s->tbl));
	if (!s->tbl)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	for (uint32_t i = 0; i < s->nblocks; i++, t += SEG_TBL_ENT) {
		struct seg_ent *e = &s->tbl[i];
		uint64_t n = seg_block_entries(s->count, s->k, i);

		e->off = seg_get64(t);
		e->stored = seg_get32(t + 8);
		e->raw = seg_get32(t + 12);
		e->crc = seg_get32(t + 16);
		e->hcrc = seg_get32(t + 20);
		if (e->off != pos || e->stored < min || e->stored > s->hashes_off - pos ||
		    e->raw < 2 * n || e->raw > n * (2 + SEG_ENTRY_MAX))
			return bad(s->path, LS_CORRUPT, s->table_off + (uint64_t)i * SEG_TBL_ENT, err,
				   "block table entry %u is inconsistent", i);
		pos += e->stored;
	}
	if (pos != s->hashes_off)
		return bad(s->path, LS_CORRUPT, s->table_off, err,
			   "blocks end at %llu, the leaf hashes start at %llu",
			   (unsigned long long)pos, (unsigned long long)s->hashes_off);
	return LS_OK;
}

static ls_rc open_checks(struct segment *s, struct ls_err *err)
{
	uint8_t h[SEG_HDR_LEN], f[SEG_FTR_LEN], *t;
	uint8_t key[LS_AEAD_KEY_LEN];
	struct stat st;
	ls_rc rc;

	if (fstat(s->fd, &st) != 0)
		return ls_err_set(err, LS_IO, "%s: %s", s->path, strerror(errno));
	s->size = (uint64_t)st.st_size;
	if (s->size < SEG_HDR_LEN)
		return bad(s->path, LS_CORRUPT, 0, err, "%llu bytes: shorter than a header",
			   (unsigned long long)s->size);
	rc = read_at(s->path, s->fd, h, sizeof(h), 0, err);
	if (rc == LS_OK)
		rc = parse_header(s, h, err);
	if (rc != LS_OK)
		return rc;
	if (s->size < SEG_HDR_LEN + SEG_FTR_LEN)
		return bad(s->path, LS_CORRUPT, s->size, err, "truncated: no room for a footer");
	rc = read_at(s->path, s->fd, f, sizeof(f), s->size - SEG_FTR_LEN, err);
	if (rc == LS_OK)
		rc = parse_footer(s, f, err);
	if (rc != LS_OK)
		return rc;
	t = malloc((size_t)s->nblocks * SEG_TBL_ENT);
	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = read_at(s->path, s->fd, t, (size_t)s->nblocks * SEG_TBL_ENT, s->table_off, err);
	if (rc == LS_OK)
		rc = parse_table(s, t, seg_get32(f + SEG_F_TBLCRC), err);
	free(t);
	if (rc != LS_OK)
		return rc;
	if (s->keyid && !s->kr)
		return ls_err_set(err, LS_INVALID, "%s: encrypted segment (data key %u) and no keys",
				  s->path, s->keyid);
	if (!s->keyid && s->kr)
		return bad(s->path, LS_TAMPERED, 0, err, "plaintext segment in an encrypted directory");
	if (s->keyid) {
		rc = keys_data_key(s->kr, s->keyid, key, err);
		ls_wipe(key, sizeof(key));
		if (rc == LS_NOTFOUND)
			return bad(s->path, LS_CORRUPT, SEG_H_KEYID, err, "unknown data key %u",
				   s->keyid);
	}
	return rc;
}

ls_rc segment_open(const char *path, struct keyring *kr, struct segment **out,
		   struct ls_err *err)
{
	struct segment *s;
	ls_rc rc;

	if (!path || !out)
		return ls_err_set(err, LS_INVALID, "segment: missing argument");
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	s->kr = kr;
	pthread_mutex_init(&s->mu, NULL);
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		rc = ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO, "%s: %s", path,
				strerror(errno));
		segment_close(s);
		return rc;
	}
	rc = open_checks(s, err);
	if (rc != LS_OK) {
		segment_close(s);
		return rc;
	}
	*out = s;
	return LS_OK;
}

uint64_t segment_first(const struct segment *s)
{
	return s->first;
}

uint32_t segment_count(const struct segment *s)
{
	return s->count;
}

void segment_close(struct segment *s)
{
	if (!s)
		return;
	for (int i = 0; i < SEG_CACHE; i++)
		block_free(s->cache[i]);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s->tbl);
	free(s->path);
	free(s);
}

/* ------------------------------------------------------------ blocks */

/* The stored bytes of block no, checked and opened: *z is the zstd frame
 * (malloc'd). */
static ls_rc block_frame(struct segment *s, uint32_t no, uint8_t **z, size_t *zlen,
			 struct ls_err *err)
{
	const struct seg_ent *e = &s->tbl[no];
	uint8_t key[LS_AEAD_KEY_LEN], aad[SEG_AAD_LEN], *st, *pt;
	ls_rc rc;

	st = malloc(e->stored);
	if (!st)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = read_at(s->path, s->fd, st, e->stored, e->off, err);
	if (rc == LS_OK && libdeflate_crc32(0, st, e->stored) != e->crc)
		rc = bad(s->path, LS_CORRUPT, e->off, err, "block %u checksum mismatch", no);
	if (rc != LS_OK || !s->keyid) {
		if (rc != LS_OK)
			free(st);
		*z = rc == LS_OK ? st : NULL;
		*zlen = e->stored;
		return rc;
	}
	pt = malloc(e->stored - LS_AEAD_OVERHEAD);
	if (!pt) {
		free(st);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = keys_data_key(s->kr, s->keyid, key, err);
	if (rc == LS_NOTFOUND)
		rc = bad(s->path, LS_CORRUPT, SEG_H_KEYID, err, "unknown data key %u", s->keyid);
	if (rc == LS_OK) {
		seg_aad(aad, s->first, no);
		if (ls_aead_open_blob(key, aad, sizeof(aad), st, e->stored, pt) != LS_OK)
			rc = bad(s->path, LS_TAMPERED, e->off, err,
				 "block %u does not authenticate (altered, moved, or another key)",
				 no);
	}
	ls_wipe(key, sizeof(key));
	free(st);
	if (rc != LS_OK) {
		free(pt);
		return rc;
	}
	*z = pt;
	*zlen = e->stored - LS_AEAD_OVERHEAD;
	return LS_OK;
}

/* Read, check and decode block no into a new block with one reference. */
static ls_rc block_decode(struct segment *s, uint32_t no, struct seg_block **out,
			  struct ls_err *err)
{
	const struct seg_ent *e = &s->tbl[no];
	uint32_t n = seg_block_entries(s->count, s->k, no);
	uint64_t hoff = s->hashes_off + (uint64_t)no * s->k * SEGMENT_BUNDLE * LS_HASH_LEN;
	ZSTD_DCtx *d = dctx_get();
	struct seg_block *b;
	uint8_t *z = NULL;
	size_t zlen = 0, got, pos = 0;
	ls_rc rc;

	b = calloc(1, sizeof(*b));
	if (!b || !d) {
		free(b);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	b->no = no;
	b->nent = n;
	b->refs = 1;
	b->rawlen = e->raw;
	b->raw = malloc(e->raw);
	b->off = malloc(((size_t)n + 1) * sizeof(*b->off));
	b->hash = malloc((size_t)n * LS_HASH_LEN);
	if (!b->raw || !b->off || !b->hash) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	rc = block_frame(s, no, &z, &zlen, err);
	if (rc != LS_OK)
		goto fail;
	got = ZSTD_decompressDCtx(d, b->raw, e->raw, z, zlen);
	free(z);
	if (ZSTD_isError(got) || got != e->raw) {
		rc = bad(s->path, LS_CORRUPT, e->off, err, "block %u: %s", no,
			 ZSTD_isError(got) ? ZSTD_getErrorName(got) : "shorter than its raw length");
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		b->off[i] = (uint32_t)pos;
		if (b->rawlen - pos < 2 ||
		    b->rawlen - pos - 2 < (size_t)(b->raw[pos] << 8 | b->raw[pos + 1])) {
			rc = bad(s->path, LS_CORRUPT, e->off, err, "block %u: entry %u overruns",
				 no, i);
			goto fail;
		}
		pos += 2 + (size_t)(b->raw[pos] << 8 | b->raw[pos + 1]);
	}
	b->off[n] = (uint32_t)pos;
	if (pos != b->rawlen) {
		rc = bad(s->path, LS_CORRUPT, e->off, err, "block %u: %zu bytes after entry %u", no,
			 b->rawlen - pos, n - 1);
		goto fail;
	}
	rc = read_at(s->path, s->fd, b->hash, (size_t)n * LS_HASH_LEN, hoff, err);
	if (rc == LS_OK && libdeflate_crc32(0, b->hash, (size_t)n * LS_HASH_LEN) != e->hcrc)
		rc = bad(s->path, LS_CORRUPT, hoff, err, "leaf hashes of block %u: checksum mismatch",
			 no);
	if (rc != LS_OK)
		goto fail;
	*out = b;
	return LS_OK;
fail:
	block_free(b);
	return rc;
}

/* Entry i of b checks against its leaf hash. */
static ls_rc check_leaf(struct segment *s, const struct seg_block *b, uint32_t i,
			struct ls_err *err)
{
	uint8_t h[LS_HASH_LEN];

	merkle_leaf_hash(b->raw + b->off[i] + 2, b->off[i + 1] - b->off[i] - 2, h);
	if (memcmp(h, b->hash[i], LS_HASH_LEN) != 0)
		return bad(s->path, LS_TAMPERED, s->tbl[b->no].off, err,
			   "entry %llu does not match its leaf hash",
			   (unsigned long long)(s->first + (uint64_t)b->no * s->k * SEGMENT_BUNDLE +
						i));
	return LS_OK;
}

static void block_put(struct segment *s, struct seg_block *b)
{
	int last;

	pthread_mutex_lock(&s->mu);
	last = --b->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (last)
		block_free(b);
}

/* Block no with a reference for the caller (block_put), through the cache. */
static ls_rc block_get(struct segment *s, uint32_t no, struct seg_block **out,
		       struct ls_err *err)
{
	struct seg_block *b, *old = NULL;
	ls_rc rc;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < SEG_CACHE; i++) {
		b = s->cache[i];
		if (b && b->no == no) {
			b->refs++;
			memmove(&s->cache[1], &s->cache[0], (size_t)i * sizeof(b));
			s->cache[0] = b;
			pthread_mutex_unlock(&s->mu);
			*out = b;
			return LS_OK;
		}
	}
	pthread_mutex_unlock(&s->mu);
	rc = block_decode(s, no, &b, err);
	if (rc != LS_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	b->refs++;
	if (s->cache[SEG_CACHE - 1] && --s->cache[SEG_CACHE - 1]->refs == 0)
		old = s->cache[SEG_CACHE - 1];
	memmove(&s->cache[1], &s->cache[0], (SEG_CACHE - 1) * sizeof(b));
	s->cache[0] = b;
	pthread_mutex_unlock(&s->mu);
	block_free(old);
	*out = b;
	return LS_OK;
}

/* ------------------------------------------------------------ reads */

static ls_rc in_range(const struct segment *s, uint64_t index, uint64_t n, struct ls_err *err)
{
	if (index < s->first || index - s->first > s->count || n > s->count - (index - s->first))
		return ls_err_set(err, LS_NOTFOUND, "%s: leaves %llu+%llu are not in the segment",
				  s->path, (unsigned long long)index, (unsigned long long)n);
	return LS_OK;
}

ls_rc segment_get(struct segment *s, uint64_t index, uint8_t **data, size_t *len,
		  struct ls_err *err)
{
	uint64_t rel = index - s->first, per = (uint64_t)s->k * SEGMENT_BUNDLE;
	struct seg_block *b;
	uint32_t i;
	ls_rc rc;

	rc = in_range(s, index, 1, err);
	if (rc != LS_OK)
		return rc;
	rc = block_get(s, (uint32_t)(rel / per), &b, err);
	if (rc != LS_OK)
		return rc;
	i = (uint32_t)(rel % per);
	rc = check_leaf(s, b, i, err);
	if (rc == LS_OK) {
		*len = b->off[i + 1] - b->off[i] - 2;
		*data = malloc(*len ? *len : 1);
		if (*data)
			memcpy(*data, b->raw + b->off[i] + 2, *len);
		else
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
	}
	block_put(s, b);
	return rc;
}

ls_rc segment_bundle(struct segment *s, uint64_t n, uint8_t **data, size_t *len,
		     struct ls_err *err)
{
	uint64_t per = (uint64_t)s->k * SEGMENT_BUNDLE, rel;
	struct seg_block *b;
	uint32_t i0;
	ls_rc rc;

	if (n > UINT64_MAX / SEGMENT_BUNDLE)
		return ls_err_set(err, LS_NOTFOUND, "%s: no bundle %llu", s->path,
				  (unsigned long long)n);
	rc = in_range(s, n * SEGMENT_BUNDLE, SEGMENT_BUNDLE, err);
	if (rc != LS_OK)
		return rc;
	rel = n * SEGMENT_BUNDLE - s->first;
	rc = block_get(s, (uint32_t)(rel / per), &b, err);
	if (rc != LS_OK)
		return rc;
	i0 = (uint32_t)(rel % per);
	for (uint32_t i = i0; rc == LS_OK && i < i0 + SEGMENT_BUNDLE; i++)
		rc = check_leaf(s, b, i, err);
	if (rc == LS_OK) {
		*len = b->off[i0 + SEGMENT_BUNDLE] - b->off[i0];
		*data = malloc(*len);
		if (*data)
			memcpy(*data, b->raw + b->off[i0], *len);
		else
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
	}
	block_put(s, b);
	return rc;
}

ls_rc segment_hashes(struct segment *s, uint64_t index, size_t n, uint8_t (*out)[LS_HASH_LEN],
		     struct ls_err *err)
{
	uint64_t per = (uint64_t)s->k * SEGMENT_BUNDLE, rel = index - s->first, end;
	uint8_t (*buf)[LS_HASH_LEN];
	ls_rc rc;

	rc = in_range(s, index, n, err);
	if (rc != LS_OK || n == 0)
		return rc;
	buf = malloc((size_t)per * LS_HASH_LEN);
	if (!buf)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	end = rel + n;
	while (rc == LS_OK && rel < end) {
		uint32_t no = (uint32_t)(rel / per);
		uint64_t lo = (uint64_t)no * per, cnt = seg_block_entries(s->count, s->k, no);
		uint64_t hoff = s->hashes_off + lo * LS_HASH_LEN;
		uint64_t take = (lo + cnt < end ? lo + cnt : end) - rel;

		rc = read_at(s->path, s->fd, buf, (size_t)cnt * LS_HASH_LEN, hoff, err);
		if (rc == LS_OK &&
		    libdeflate_crc32(0, buf, (size_t)cnt * LS_HASH_LEN) != s->tbl[no].hcrc)
			rc = bad(s->path, LS_CORRUPT, hoff, err,
				 "leaf hashes of block %u: checksum mismatch", no);
		if (rc == LS_OK)
			memcpy(out, buf[rel - lo], (size_t)take * LS_HASH_LEN);
		out += take;
		rel += take;
	}
	free(buf);
	return rc;
}

/* ------------------------------------------------------------ iterator */

struct segment_iter {
	struct segment *s;
	struct seg_block *b;
	uint64_t next;		/* leaf index of the next entry */
};

ls_rc segment_iter_open(struct segment *s, uint64_t start, struct segment_iter **out,
			struct ls_err *err)
{
	struct segment_iter *it;

	if (!s || !out || start < s->first || start - s->first > s->count)
		return ls_err_set(err, LS_INVALID, "segment: iterator start %llu out of range",
				  (unsigned long long)start);
	it = calloc(1, sizeof(*it));
	if (!it)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	it->s = s;
	it->next = start;
	*out = it;
	return LS_OK;
}

ls_rc segment_iter_next(struct segment_iter *it, const uint8_t **data, size_t *len,
			uint64_t *index, struct ls_err *err)
{
	struct segment *s = it->s;
	uint64_t per = (uint64_t)s->k * SEGMENT_BUNDLE, rel = it->next - s->first;
	uint32_t no, i;
	ls_rc rc;

	if (rel >= s->count)
		return LS_NOTFOUND;
	no = (uint32_t)(rel / per);
	if (!it->b || it->b->no != no) {
		block_free(it->b);
		it->b = NULL;
		rc = block_decode(s, no, &it->b, err);
		if (rc != LS_OK)
			return rc;
	}
	i = (uint32_t)(rel % per);
	rc = check_leaf(s, it->b, i, err);
	if (rc != LS_OK)
		return rc;
	*data = it->b->raw + it->b->off[i] + 2;
	*len = it->b->off[i + 1] - it->b->off[i] - 2;
	if (index)
		*index = it->next;
	it->next++;
	return LS_OK;
}

void segment_iter_free(struct segment_iter *it)
{
	if (!it)
		return;
	block_free(it->b);
	free(it);
}

/* ------------------------------------------------------------ verify */

ls_rc segment_verify(const char *path, struct keyring *kr, struct ls_err *err)
{
	struct segment *s;
	ls_rc rc;

	rc = segment_open(path, kr, &s, err);
	if (rc != LS_OK)
		return rc;
	for (uint32_t no = 0; rc == LS_OK && no < s->nblocks; no++) {
		struct seg_block *b = NULL;

		rc = block_decode(s, no, &b, err);
		if (rc != LS_OK)
			break;
		for (uint32_t i = 0; rc == LS_OK && i < b->nent; i++)
			rc = check_leaf(s, b, i, err);
		block_free(b);
	}
	segment_close(s);
	return rc;
}
