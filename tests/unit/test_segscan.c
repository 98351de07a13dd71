/*
 * test_segscan.c - store/segscan.c: a sealed segment checked from memory
 * (what `verify --tiles s3://` does with a segments/<016x>.seal object).
 * Segments are written by segment_write() (plaintext, and encrypted under a
 * real keyring); the bytes are read back and scanned; then every region is
 * altered in turn (header, a block, the leaf hashes, the table, the
 * footer, a truncation) and the scan must fail naming that region's
 * offset.  Encrypted: checked by CRCs only (full = 0), and an altered
 * ciphertext byte with its CRC recomputed passes the scan (only the data
 * key could notice: that is what "not checked without the keys" means),
 * while the plaintext scan of the same kind of change fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "core/merkle.h"
#include "store/keys.h"
#include "store/segment.h"
#include "store/segscan.h"

#define H LS_HASH_LEN
#define COUNT 512

struct fx {
	char root[64];
	char plain[128], data[128], enc[160];
	struct keyring *kr;
	struct iovec e[COUNT];
	uint8_t h[COUNT][H];
	char buf[COUNT][64];
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char keyfile[160];
	struct ls_err err;
	struct keys_source src = { KEYS_SRC_FILE, keyfile };

	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/ls-segscan-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->plain, sizeof(fx->plain), "%s/plain", fx->root);
	snprintf(fx->data, sizeof(fx->data), "%s/enc", fx->root);
	snprintf(fx->enc, sizeof(fx->enc), "%s/segments", fx->data);
	snprintf(keyfile, sizeof(keyfile), "%s/master.key", fx->root);
	if (keys_init(fx->data, &src, 1, &err) != LS_OK || keys_get(fx->data, &fx->kr, &err) != LS_OK) {
		fprintf(stderr, "keys: %s\n", err.msg);
		return -1;
	}
	for (int i = 0; i < COUNT; i++) {
		int n = snprintf(fx->buf[i], sizeof(fx->buf[i]), "{\"n\":%d,\"pad\":\"%0*d\"}", i,
				 i % 17, 0);
		fx->e[i].iov_base = fx->buf[i];
		fx->e[i].iov_len = (size_t)n;
		merkle_leaf_hash(fx->buf[i], (size_t)n, fx->h[i]);
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	keys_forget(fx->data);
	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static uint8_t *load(const char *dir, uint64_t first, size_t *n)
{
	char path[256];
	char *d = NULL;

	segment_path(dir, first, path, sizeof(path));
	assert_int_equal(fs_read_file(path, 1 << 24, &d, n, NULL), LS_OK);
	return (uint8_t *)d;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* The scan of buf with byte at flipped fails, naming offset want. */
static void fails_at(const uint8_t *orig, size_t n, size_t at, uint64_t want)
{
	uint8_t *b = malloc(n);
	struct segscan sc;
	struct ls_err err = { "" };
	char exp[64];

	memcpy(b, orig, n);
	b[at] ^= 0x40;
	assert_int_not_equal(segscan_buffer(b, n, NULL, &sc, &err), LS_OK);
	snprintf(exp, sizeof(exp), "offset %llu:", (unsigned long long)want);
	if (strncmp(err.msg, exp, strlen(exp)) != 0)
		fail_msg("byte %zu flipped: \"%s\", wanted \"%s ...\"", at, err.msg, exp);
	free(b);
}

static void test_plaintext(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	struct segscan sc;
	uint8_t *b;
	size_t n;
	uint64_t hoff, toff;

	assert_int_equal(segment_write(fx->plain, 0x200, COUNT, fx->e,
				       (const uint8_t (*)[H])fx->h, NULL, &err), LS_OK);
	b = load(fx->plain, 0x200, &n);
	assert_int_equal(segscan_buffer(b, n, NULL, &sc, &err), LS_OK);
	assert_int_equal(sc.first, 0x200);
	assert_int_equal(sc.count, COUNT);
	assert_int_equal(sc.encrypted, 0);
	assert_int_equal(sc.full, 1);
	assert_int_equal(sc.blocks, 2);
	assert_memory_equal(sc.hashes, fx->h, sizeof(fx->h));
	hoff = get64(b + n - 64);
	toff = get64(b + n - 64 + 8);
	fails_at(b, n, 3, 0);			/* magic */
	fails_at(b, n, 20, 0);			/* first leaf: header CRC */
	fails_at(b, n, 48 + 5, 48);		/* block 0 */
	fails_at(b, n, hoff + 3, hoff);		/* block 0's leaf hashes */
	fails_at(b, n, hoff + 256 * H + 1, hoff + 256 * H); /* block 1's */
	fails_at(b, n, toff + 2, toff);		/* table */
	fails_at(b, n, n - 64 + 30, n - 64);	/* footer */
	/* truncated */
	assert_int_equal(segscan_buffer(b, n - 1, NULL, &sc, &err), LS_CORRUPT);
	assert_int_equal(segscan_buffer(b, 40, NULL, &sc, &err), LS_CORRUPT);
	free(b);
}

/* A block whose stored CRC is recomputed after a change: plaintext, the
 * decompression or the leaf hashes catch it (segment_verify). */
static void test_plaintext_deep(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	struct segscan sc;
	uint8_t *b;
	size_t n;
	uint64_t toff;
	uint32_t stored, crc;

	b = load(fx->plain, 0x200, &n);
	toff = get64(b + n - 64 + 8);
	stored = get32(b + toff + 8);
	b[48 + stored / 2] ^= 1;
	crc = libdeflate_crc32(0, b + 48, stored);
	b[toff + 16] = (uint8_t)(crc >> 24);
	b[toff + 17] = (uint8_t)(crc >> 16);
	b[toff + 18] = (uint8_t)(crc >> 8);
	b[toff + 19] = (uint8_t)crc;
	/* the table's own CRC in the footer */
	crc = libdeflate_crc32(0, b + toff, 2 * 24);
	b[n - 64 + 40] = (uint8_t)(crc >> 24);
	b[n - 64 + 41] = (uint8_t)(crc >> 16);
	b[n - 64 + 42] = (uint8_t)(crc >> 8);
	b[n - 64 + 43] = (uint8_t)crc;
	crc = libdeflate_crc32(0, b + n - 64, 52);
	b[n - 64 + 52] = (uint8_t)(crc >> 24);
	b[n - 64 + 53] = (uint8_t)(crc >> 16);
	b[n - 64 + 54] = (uint8_t)(crc >> 8);
	b[n - 64 + 55] = (uint8_t)crc;
	assert_int_not_equal(segscan_buffer(b, n, NULL, &sc, &err), LS_OK);
	assert_non_null(strstr(err.msg, "offset 48:"));
	/* not the CRC (it was recomputed): the block's contents */
	if (strstr(err.msg, "checksum"))
		fail_msg("%s", err.msg);
	free(b);
}

static void test_encrypted(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	struct segscan sc;
	uint8_t *b;
	size_t n;
	uint64_t toff;
	uint32_t stored, crc;

	assert_int_equal(segment_write(fx->enc, 0, COUNT, fx->e, (const uint8_t (*)[H])fx->h,
				       fx->kr, &err), LS_OK);
	b = load(fx->enc, 0, &n);
	assert_int_equal(segscan_buffer(b, n, NULL, &sc, &err), LS_OK);
	assert_int_equal(sc.encrypted, 1);
	assert_int_not_equal(sc.key_id, 0);
	assert_int_equal(sc.full, 0);
	assert_memory_equal(sc.hashes, fx->h, sizeof(fx->h));
	fails_at(b, n, 48 + 20, 48);		/* a ciphertext byte: block CRC */
	fails_at(b, n, n - 64 + 3, n - 64);	/* footer */
	/* ciphertext changed with its CRC recomputed: only the key would see it */
	toff = get64(b + n - 64 + 8);
	stored = get32(b + toff + 8);
	b[48 + stored / 2] ^= 1;
	crc = libdeflate_crc32(0, b + 48, stored);
	b[toff + 16] = (uint8_t)(crc >> 24);
	b[toff + 17] = (uint8_t)(crc >> 16);
	b[toff + 18] = (uint8_t)(crc >> 8);
	b[toff + 19] = (uint8_t)crc;
	crc = libdeflate_crc32(0, b + toff, 2 * 24);
	b[n - 64 + 40] = (uint8_t)(crc >> 24);
	b[n - 64 + 41] = (uint8_t)(crc >> 16);
	b[n - 64 + 42] = (uint8_t)(crc >> 8);
	b[n - 64 + 43] = (uint8_t)crc;
	crc = libdeflate_crc32(0, b + n - 64, 52);
	b[n - 64 + 52] = (uint8_t)(crc >> 24);
	b[n - 64 + 53] = (uint8_t)(crc >> 16);
	b[n - 64 + 54] = (uint8_t)(crc >> 8);
	b[n - 64 + 55] = (uint8_t)crc;
	assert_int_equal(segscan_buffer(b, n, NULL, &sc, &err), LS_OK);
	assert_int_equal(sc.full, 0);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plaintext),
		cmocka_unit_test(test_plaintext_deep),
		cmocka_unit_test(test_encrypted),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
