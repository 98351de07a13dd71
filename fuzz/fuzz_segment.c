/*
 * fuzz_segment.c - libFuzzer target for the sealed segment reader
 * (store/segment.c), through real files in /dev/shm (or /tmp).
 *
 * Input: byte 0 selects what to do with the rest (the body):
 *   0     the body is a segment file (named seg.seal, so no name check):
 *         segment_open(), then on success segment_get() of the first, a
 *         middle and the last entry, segment_bundle() of the first bundle,
 *         segment_hashes() of all, the iterator to its end, and
 *         segment_verify();
 *   1, 2  a valid segment is written from the body (1 plaintext, 2 sealed
 *         under a data key): body byte 0 gives the count (256 or 512) and
 *         the bundles per block, the rest the entries' lengths and bytes;
 *         then body bytes 1..4 pick an offset and byte 5 a mask (0: none)
 *         that alters one byte of the file, or, with byte 6 odd, a length
 *         to cut the file to.
 * Invariants checked: nothing crashes or reads out of bounds; an unaltered
 * segment opens, verifies, and gives back every entry, bundle and hash
 * exactly as written; a segment with one byte altered or cut short never
 * passes segment_verify() (every byte is under a CRC), and any error names
 * an offset inside the file.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/merkle.h"
#include "store/keys.h"
#include "store/segment.h"

static char root[64];
static char dir[96];
static char datadir[96];
static struct keyring *kr;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	keys_forget(datadir);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void init(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char keyfile[128];
	struct keys_source src = { KEYS_SRC_FILE, keyfile };
	struct ls_err err;

	snprintf(root, sizeof(root), "%s/fuzz-segment-XXXXXX", base);
	if (!mkdtemp(root))
		abort();
	snprintf(dir, sizeof(dir), "%s/s", root);
	snprintf(datadir, sizeof(datadir), "%s/d", root);
	snprintf(keyfile, sizeof(keyfile), "%s/master.key", root);
	if (mkdir(dir, 0700) != 0 || keys_init(datadir, &src, 1, &err) != LS_OK ||
	    keys_get(datadir, &kr, &err) != LS_OK)
		abort();
	atexit(cleanup);
}

/* An error must name an offset within the file, or none at all. */
static void check_offset(const struct ls_err *err, size_t fsize)
{
	const char *p = strstr(err->msg, " offset ");

	if (p && strtoull(p + 8, NULL, 10) > fsize)
		abort();
}

/* Read everything the API offers; returns 0 if all of it checked. */
static int read_all(const char *path, struct keyring *k, size_t fsize)
{
	struct segment *s;
	struct segment_iter *it;
	struct ls_err err;
	uint8_t *d, (*hs)[LS_HASH_LEN];
	const uint8_t *p;
	size_t n;
	uint64_t first, idx, seen = 0;
	uint32_t count;
	int bad = 0;
	ls_rc rc;

	rc = segment_open(path, k, &s, &err);
	if (rc != LS_OK) {
		check_offset(&err, fsize);
		return -1;
	}
	first = segment_first(s);
	count = segment_count(s);
	if (count == 0 || count % SEGMENT_BUNDLE || first % SEGMENT_BUNDLE)
		abort();
	for (int i = 0; i < 3; i++) {
		uint64_t probe[3] = { first, first + count / 2, first + count - 1 };

		if (segment_get(s, probe[i], &d, &n, &err) == LS_OK) {
			if (n > 65535)
				abort();
			free(d);
		} else {
			check_offset(&err, fsize);
			bad = 1;
		}
	}
	if (segment_bundle(s, first / SEGMENT_BUNDLE, &d, &n, &err) == LS_OK)
		free(d);
	else
		bad = 1;
	hs = malloc((size_t)count * LS_HASH_LEN);
	if (!hs || segment_hashes(s, first, count, hs, &err) != LS_OK)
		bad = 1;
	free(hs);
	if (segment_iter_open(s, first, &it, &err) != LS_OK)
		abort();
	while ((rc = segment_iter_next(it, &p, &n, &idx, &err)) == LS_OK)
		if (idx != first + seen++)
			abort();
	if (rc != LS_NOTFOUND || seen != count)
		bad = 1;
	segment_iter_free(it);
	segment_close(s);
	rc = segment_verify(path, k, &err);
	if (rc != LS_OK)
		check_offset(&err, fsize);
	if ((rc == LS_OK) == bad)
		abort();	/* verify and the reads disagree */
	return rc == LS_OK ? 0 : -1;
}

static void raw_file(const uint8_t *body, size_t n)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/seg.seal", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (n && write(fd, body, n) != (ssize_t)n))
		abort();
	close(fd);
	read_all(path, NULL, n);
	unlink(path);
}

static void written(const uint8_t *body, size_t n, int sealed)
{
	struct segment_wopts o;
	struct iovec *e;
	uint8_t (*h)[LS_HASH_LEN];
	char path[160];
	uint32_t count;
	size_t pos = 7, fsize;
	struct ls_err err;
	struct stat st;
	struct segment *s;
	int fd;

	if (n < 7)
		return;
	count = SEGMENT_BUNDLE * (1 + (body[0] & 1));
	o.block_bundles = 1 + ((body[0] >> 1) & 3);
	o.zstd_level = 1 + ((body[0] >> 3) & 3);
	e = calloc(count, sizeof(*e));
	h = calloc(count, sizeof(*h));
	if (!e || !h)
		abort();
	for (uint32_t i = 0; i < count; i++) {
		size_t len = pos < n ? body[pos] % 48 : 0;

		pos++;
		if (pos + len > n)
			len = pos < n ? n - pos : 0;
		e[i].iov_base = (void *)(body + (pos < n ? pos : 0));
		e[i].iov_len = len;
		merkle_leaf_hash(e[i].iov_base, len, h[i]);
		pos += len;
	}
	segment_path(dir, 0, path, sizeof(path));
	unlink(path);
	if (segment_write_ex(dir, 0, count, e, (const uint8_t (*)[LS_HASH_LEN])h,
			     sealed ? kr : NULL, &o, &err) != LS_OK)
		abort();
	if (stat(path, &st) != 0)
		abort();
	fsize = (size_t)st.st_size;
	/* Unaltered: every entry back, exactly. */
	if (segment_open(path, sealed ? kr : NULL, &s, &err) != LS_OK)
		abort();
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *d;
		size_t dn;

		if (segment_get(s, i, &d, &dn, &err) != LS_OK || dn != e[i].iov_len ||
		    memcmp(d, e[i].iov_base, dn) != 0)
			abort();
		free(d);
	}
	segment_close(s);
	if (read_all(path, sealed ? kr : NULL, fsize) != 0)
		abort();
	/* Altered: one byte, or cut short. */
	{
		uint32_t at = (uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 |
			      (uint32_t)body[3] << 8 | body[4];
		uint8_t mask = body[5], b;

		if (body[6] & 1) {
			if (truncate(path, (off_t)(at % fsize)) != 0)
				abort();
			if (read_all(path, sealed ? kr : NULL, at % fsize) == 0)
				abort();
		} else if (mask) {
			fd = open(path, O_RDWR);
			if (fd < 0 || pread(fd, &b, 1, (off_t)(at % fsize)) != 1)
				abort();
			b ^= mask;
			if (pwrite(fd, &b, 1, (off_t)(at % fsize)) != 1)
				abort();
			close(fd);
			if (read_all(path, sealed ? kr : NULL, fsize) == 0)
				abort();
		}
	}
	unlink(path);
	free(e);
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!root[0])
		init();
	switch (data[0] % 3) {
	case 0:
		raw_file(data + 1, size - 1);
		break;
	default:
		written(data + 1, size - 1, data[0] % 3 == 2);
		break;
	}
	return 0;
}
