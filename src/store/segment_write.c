/*
 * segment_write.c - writing a sealed segment file (segment.h; the bytes in
 * segment_int.h and docs/FORMAT.md §11): the header, then each block
 * framed, compressed and sealed as its entries arrive, then the leaf
 * hashes, the block table and the footer, into a temporary file made
 * durable and renamed without replacing.  segment_write() is the streamed
 * writer fed from an array.
 *
 * The output is a function of the arguments, except for the nonces of an
 * encrypted segment (random per block, never derived: a segment rewritten
 * after a crash must not reuse one under the same key).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zstd.h>

#include "base/fsutil.h"
#include "core/merkle.h"
#include "store/keys.h"
#include "store/segment_int.h"

void segment_path(const char *dir, uint64_t first, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%016llx%s", dir, (unsigned long long)first, SEGMENT_SUFFIX);
}

int segment_parse_name(const char *name, uint64_t *first)
{
	uint64_t v = 0;

	if (strlen(name) != 16 + strlen(SEGMENT_SUFFIX) || strcmp(name + 16, SEGMENT_SUFFIX) != 0)
		return 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	*first = v;
	return 1;
}

static ls_rc write_all(int fd, const void *buf, size_t n, const char *tmp, struct ls_err *err)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ls_err_set(err, errno == ENOSPC ? LS_NOSPACE : LS_IO, "%s: write: %s",
					  tmp, strerror(w < 0 ? errno : EIO));
		p += w;
		n -= (size_t)w;
	}
	return LS_OK;
}

/* The write in progress. */
struct segment_writer {
	char *dir, *path, *tmp;
	int fd;
	uint64_t first;
	uint32_t count, k, keyid, nblocks;
	int level;
	uint32_t added;			/* entries given so far */
	uint32_t inblock;		/* of them in the current block */
	uint8_t key[LS_AEAD_KEY_LEN];
	ZSTD_CCtx *cctx;
	uint8_t *raw, *z, *sealed;
	size_t rawlen, rawcap, zcap, sealedcap;
	uint8_t (*hashes)[LS_HASH_LEN];	/* count */
	struct seg_ent *tbl;
	uint64_t pos;
};

static ls_rc grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *n;
	size_t c = *cap ? *cap : 4096;

	if (need <= *cap)
		return LS_OK;
	while (c < need)
		c *= 2;
	n = realloc(*buf, c);
	if (!n)
		return LS_NOMEM;
	*buf = n;
	*cap = c;
	return LS_OK;
}

/* Compress, seal and write the current block (block number no). */
static ls_rc flush_block(struct segment_writer *w, uint32_t no, struct ls_err *err)
{
	uint64_t base = (uint64_t)no * w->k * SEGMENT_BUNDLE;
	size_t zlen, outlen;
	const uint8_t *out;
	uint8_t aad[SEG_AAD_LEN];
	ls_rc rc;

	if (grow(&w->z, &w->zcap, ZSTD_compressBound(w->rawlen)) != LS_OK)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	zlen = ZSTD_compressCCtx(w->cctx, w->z, w->zcap, w->raw, w->rawlen, w->level);
	if (ZSTD_isError(zlen))
		return ls_err_set(err, LS_IO, "%s: zstd: %s", w->tmp, ZSTD_getErrorName(zlen));
	out = w->z;
	outlen = zlen;
	if (w->keyid) {
		if (grow(&w->sealed, &w->sealedcap, zlen + LS_AEAD_OVERHEAD) != LS_OK)
			return ls_err_set(err, LS_NOMEM, "out of memory");
		seg_aad(aad, w->first, no);
		rc = ls_aead_seal_blob(w->key, aad, sizeof(aad), w->z, zlen, w->sealed);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "%s: sealing block %u failed", w->tmp, no);
		out = w->sealed;
		outlen = zlen + LS_AEAD_OVERHEAD;
	}
	if (outlen > UINT32_MAX || w->rawlen > UINT32_MAX)
		return ls_err_set(err, LS_LIMIT, "%s: block %u too large", w->tmp, no);
	w->tbl[no].off = w->pos;
	w->tbl[no].stored = (uint32_t)outlen;
	w->tbl[no].raw = (uint32_t)w->rawlen;
	w->tbl[no].crc = libdeflate_crc32(0, out, outlen);
	w->tbl[no].hcrc = libdeflate_crc32(0, w->hashes[base], (size_t)w->inblock * LS_HASH_LEN);
	rc = write_all(w->fd, out, outlen, w->tmp, err);
	w->pos += outlen;
	w->rawlen = 0;
	w->inblock = 0;
	return rc;
}

ls_rc segment_writer_add(struct segment_writer *w, const void *entry, size_t len,
			 const uint8_t hash[LS_HASH_LEN], struct ls_err *err)
{
	uint32_t no = w->added / (w->k * SEGMENT_BUNDLE);

	if (w->added >= w->count)
		return ls_err_set(err, LS_INVALID, "%s: more than %u entries", w->path, w->count);
	if (len > SEG_ENTRY_MAX || (len && !entry))
		return ls_err_set(err, LS_INVALID, "segment: entry %llu has %zu bytes",
				  (unsigned long long)(w->first + w->added), len);
	if (grow(&w->raw, &w->rawcap, w->rawlen + 2 + len) != LS_OK)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	w->raw[w->rawlen] = (uint8_t)(len >> 8);
	w->raw[w->rawlen + 1] = (uint8_t)len;
	if (len)
		memcpy(w->raw + w->rawlen + 2, entry, len);
	w->rawlen += 2 + len;
	if (hash)
		memcpy(w->hashes[w->added], hash, LS_HASH_LEN);
	else
		merkle_leaf_hash(entry, len, w->hashes[w->added]);
	w->added++;
	w->inblock++;
	if (w->inblock == seg_block_entries(w->count, w->k, no))
		return flush_block(w, no, err);
	return LS_OK;
}

/* The leaf hashes, the table and the footer. */
static ls_rc write_tail(struct segment_writer *w, struct ls_err *err)
{
	uint8_t f[SEG_FTR_LEN] = { 0 }, *tbl;
	uint64_t hashes_off = w->pos, table_off;
	size_t tlen = (size_t)w->nblocks * SEG_TBL_ENT;
	ls_rc rc;

	rc = write_all(w->fd, w->hashes, (size_t)w->count * LS_HASH_LEN, w->tmp, err);
	if (rc != LS_OK)
		return rc;
	table_off = hashes_off + (uint64_t)w->count * LS_HASH_LEN;
	tbl = malloc(tlen);
	if (!tbl)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	for (uint32_t i = 0; i < w->nblocks; i++) {
		uint8_t *t = tbl + (size_t)i * SEG_TBL_ENT;

		seg_put64(t, w->tbl[i].off);
		seg_put32(t + 8, w->tbl[i].stored);
		seg_put32(t + 12, w->tbl[i].raw);
		seg_put32(t + 16, w->tbl[i].crc);
		seg_put32(t + 20, w->tbl[i].hcrc);
	}
	seg_put64(f + SEG_F_HASHES, hashes_off);
	seg_put64(f + SEG_F_TABLE, table_off);
	seg_put64(f + SEG_F_LENGTH, table_off + tlen + SEG_FTR_LEN);
	seg_put64(f + SEG_F_FIRST, w->first);
	seg_put32(f + SEG_F_COUNT, w->count);
	seg_put32(f + SEG_F_NBLOCKS, w->nblocks);
	seg_put32(f + SEG_F_TBLCRC, libdeflate_crc32(0, tbl, tlen));
	seg_put32(f + SEG_F_CRC, libdeflate_crc32(0, f, SEG_F_CRC));
	memcpy(f + SEG_F_MAGIC, SEG_MAGIC, SEG_MAGIC_LEN);
	rc = write_all(w->fd, tbl, tlen, w->tmp, err);
	free(tbl);
	if (rc == LS_OK)
		rc = write_all(w->fd, f, sizeof(f), w->tmp, err);
	return rc;
}

/* Rename tmp to path unless path exists (no window where a concurrent
 * writer's file is replaced). */
static ls_rc publish(const char *tmp, const char *path, struct ls_err *err)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return LS_OK;
	if (errno == EEXIST)
		return ls_err_set(err, LS_EXISTS, "%s: already exists", path);
	if (errno != EINVAL && errno != ENOSYS)
		return ls_err_set(err, LS_IO, "rename %s: %s", path, strerror(errno));
	/* A file system without RENAME_NOREPLACE: link() refuses to replace. */
	if (link(tmp, path) != 0)
		return ls_err_set(err, errno == EEXIST ? LS_EXISTS : LS_IO, "link %s: %s", path,
				  strerror(errno));
	unlink(tmp);
	return LS_OK;
}

static void writer_free(struct segment_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp && w->fd >= 0)
		unlink(w->tmp);
	ls_wipe(w->key, sizeof(w->key));
	ZSTD_freeCCtx(w->cctx);
	free(w->tbl);
	free(w->hashes);
	free(w->raw);
	free(w->z);
	free(w->sealed);
	free(w->dir);
	free(w->path);
	free(w->tmp);
	free(w);
}

void segment_writer_abort(struct segment_writer *w)
{
	if (w)
		writer_free(w);
}

ls_rc segment_writer_commit(struct segment_writer *w, struct ls_err *err)
{
	ls_rc rc = LS_OK;

	if (w->added != w->count)
		rc = ls_err_set(err, LS_INVALID, "%s: %u of %u entries given", w->path, w->added,
				w->count);
	if (rc == LS_OK)
		rc = write_tail(w, err);
	if (rc == LS_OK && fsync(w->fd) != 0)
		rc = ls_err_set(err, LS_IO, "%s: fsync: %s", w->tmp, strerror(errno));
	if (rc == LS_OK) {
		int c = close(w->fd);

		w->fd = -1;
		if (c != 0)
			rc = ls_err_set(err, LS_IO, "%s: close: %s", w->tmp, strerror(errno));
		if (rc == LS_OK)
			rc = publish(w->tmp, w->path, err);
		if (rc != LS_OK)
			unlink(w->tmp);
		else
			rc = fs_sync_dir(w->dir, err);
	}
	writer_free(w);
	return rc;
}

ls_rc segment_writer_open(const char *dir, uint64_t first, uint32_t count, struct keyring *kr,
			  const struct segment_wopts *o, struct segment_writer **out,
			  struct ls_err *err)
{
	static atomic_uint seq;
	struct segment_writer *w;
	uint8_t h[SEG_HDR_LEN] = { 0 };
	char path[4096], tmp[4200];
	unsigned k = o && o->block_bundles ? o->block_bundles : SEGMENT_BLOCK_BUNDLES;
	struct stat st;
	ls_rc rc;

	if (!dir || !out)
		return ls_err_set(err, LS_INVALID, "segment: missing argument");
	if (first % SEGMENT_BUNDLE || count % SEGMENT_BUNDLE || count == 0)
		return ls_err_set(err, LS_INVALID,
				  "segment: first %llu and count %u must be multiples of %d",
				  (unsigned long long)first, count, SEGMENT_BUNDLE);
	if (first > UINT64_MAX - count)
		return ls_err_set(err, LS_INVALID, "segment: leaf range overflows");
	if (k < 1 || k > SEG_MAX_K)
		return ls_err_set(err, LS_INVALID, "segment: %u bundles per block (1..%d)", k,
				  SEG_MAX_K);
	segment_path(dir, first, path, sizeof(path));
	if (stat(path, &st) == 0)
		return ls_err_set(err, LS_EXISTS, "%s: already exists", path);
	rc = fs_mkdirs(dir, 0700, err);
	if (rc != LS_OK)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	w->fd = -1;
	w->first = first;
	w->count = count;
	w->k = k;
	w->level = o && o->zstd_level ? o->zstd_level : SEGMENT_ZSTD_LEVEL;
	w->nblocks = (count / SEGMENT_BUNDLE + k - 1) / k;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
		 atomic_fetch_add(&seq, 1));
	w->dir = strdup(dir);
	w->path = strdup(path);
	w->tmp = strdup(tmp);
	w->cctx = ZSTD_createCCtx();
	w->tbl = calloc(w->nblocks, sizeof(*w->tbl));
	w->hashes = malloc((size_t)count * LS_HASH_LEN);
	if (!w->dir || !w->path || !w->tmp || !w->cctx || !w->tbl || !w->hashes) {
		writer_free(w);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	if (kr) {
		rc = keys_current(kr, &w->keyid, w->key, err);
		if (rc == LS_OK && w->keyid == 0)
			rc = ls_err_set(err, LS_INVALID, "segment: data key id 0");
		if (rc != LS_OK) {
			writer_free(w);
			return rc;
		}
	}
	w->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		rc = ls_err_set(err, LS_IO, "%s: %s", tmp, strerror(errno));
		writer_free(w);
		return rc;
	}
	memcpy(h, SEG_MAGIC, SEG_MAGIC_LEN);
	seg_put32(h + SEG_H_VERSION, SEG_VERSION);
	seg_put32(h + SEG_H_FLAGS, w->keyid ? SEG_F_ENCRYPTED : 0);
	seg_put64(h + SEG_H_FIRST, first);
	seg_put32(h + SEG_H_COUNT, count);
	seg_put32(h + SEG_H_K, k);
	seg_put32(h + SEG_H_KEYID, w->keyid);
	seg_put32(h + SEG_H_CRC, libdeflate_crc32(0, h, SEG_H_CRC));
	rc = write_all(w->fd, h, sizeof(h), tmp, err);
	if (rc != LS_OK) {
		writer_free(w);
		return rc;
	}
	w->pos = SEG_HDR_LEN;
	*out = w;
	return LS_OK;
}

ls_rc segment_write_ex(const char *dir, uint64_t first, uint32_t count,
		       const struct iovec *entries, const uint8_t (*hashes)[LS_HASH_LEN],
		       struct keyring *kr, const struct segment_wopts *o, struct ls_err *err)
{
	struct segment_writer *w;
	ls_rc rc;

	if (!entries || !hashes)
		return ls_err_set(err, LS_INVALID, "segment: missing argument");
	for (uint32_t i = 0; i < count; i++)
		if (entries[i].iov_len > SEG_ENTRY_MAX || (entries[i].iov_len && !entries[i].iov_base))
			return ls_err_set(err, LS_INVALID, "segment: entry %llu has %zu bytes",
					  (unsigned long long)(first + i), entries[i].iov_len);
	rc = segment_writer_open(dir, first, count, kr, o, &w, err);
	if (rc != LS_OK)
		return rc;
	for (uint32_t i = 0; i < count; i++) {
		rc = segment_writer_add(w, entries[i].iov_base, entries[i].iov_len, hashes[i], err);
		if (rc != LS_OK) {
			segment_writer_abort(w);
			return rc;
		}
	}
	return segment_writer_commit(w, err);
}

ls_rc segment_write(const char *dir, uint64_t first, uint32_t count, const struct iovec *entries,
		    const uint8_t (*hashes)[LS_HASH_LEN], struct keyring *kr, struct ls_err *err)
{
	return segment_write_ex(dir, first, count, entries, hashes, kr, NULL, err);
}
