/*
 * test_sealer - the sealer (store/sealer.h) and reads across sealed
 * segments and the write-ahead log (store/reader.h), with small segments
 * (256 leaves) so that every test crosses several boundaries:
 *  - appends across boundaries seal every range a signed checkpoint covers,
 *    and only those; the journal files they cover are deleted;
 *  - after a restart, iterators from every start yield every entry once,
 *    in order, byte for byte; store_reader_get() finds every entry with
 *    its hint, without one and with a stale one; store_bundle() gives the
 *    C2SP bundles;
 *  - a crash between a seal and the deletion of the journal files (both
 *    left on disk) reopens, reads the same, and the next seal tidies up;
 *  - when sealing fails, the sequencer stops acknowledging after
 *    SEALER_MAX_BEHIND ranges (LS_BUSY), and goes on once it works again;
 *  - an encrypted directory (with a key rotation) seals and reads the
 *    same, and no plaintext reaches a segment;
 *  - a directory without DIR/format is refused with the way out;
 *  - each leaf hash is stored once: the full level-0 tile files of a sealed
 *    range are deleted, and tiles_read_file(), the tiles reader and the
 *    writer's reopen give their exact bytes from the segment; partial
 *    tiles and level 1 stay files.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/merkle.h"
#include "store/keys.h"
#include "store/log.h"
#include "store/reader.h"
#include "store/tiles.h"

#define L 256
#define MARK "sealer-marker"

static char root[64], dir[128], jdir[160];

static size_t entry(uint64_t i, char *buf, size_t cap)
{
	int pad = (int)(i * 37 % 300);

	return (size_t)snprintf(buf, cap, "{\"i\":%llu,\"m\":\"" MARK "\",\"pad\":\"%0*d\"}",
				(unsigned long long)i, pad, 7);
}

static void rm_rf(const char *p)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	assert_int_equal(system(cmd), 0);
}

static void make(int enc)
{
	struct ls_err err = { "" };

	snprintf(root, sizeof(root), "/tmp/test_sealer.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	if (enc) {
		struct keys_source src = { KEYS_SRC_ENV, NULL };

		setenv(KEYS_ENV, "ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg=", 1);
		assert_int_equal(mkdir(dir, 0700), 0);
		if (keys_init(dir, &src, 0, &err) != LS_OK)
			fail_msg("keys_init: %s", err.msg);
	}
	if (log_init(dir, "sealer.test/x", &err) != LS_OK)
		fail_msg("log_init: %s", err.msg);
}

static struct log *open_log(int no_threads)
{
	struct log_opts lo = { .dir = dir, .no_threads = no_threads, .segment_leaves = L,
			       .checkpoint_interval_ms = 20 };
	struct ls_err err = { "" };
	struct log *l = NULL;

	if (log_open(&lo, &l, NULL, &err) != LS_OK)
		fail_msg("log_open: %s", err.msg);
	return l;
}

/* Append entries [from, to) in batches of b. */
static void append(struct log *l, uint64_t from, uint64_t to, uint64_t b, int checkpoint)
{
	static char text[100][512];
	struct iovec iov[100];
	struct ls_err err = { "" };
	uint64_t first;

	for (uint64_t i = from; i < to; i += b) {
		uint64_t n = to - i < b ? to - i : b;

		for (uint64_t k = 0; k < n; k++)
			iov[k] = (struct iovec){ text[k], entry(i + k, text[k], sizeof(text[k])) };
		if (log_append(l, iov, n, &first, &err) != LS_OK)
			fail_msg("append at %llu: %s", (unsigned long long)i, err.msg);
		assert_int_equal(first, i);
		if (checkpoint)
			assert_int_equal(log_checkpoint(l, &err), LS_OK);
	}
}

/* The first indexes of the files of sub ("journal" or "segments"). */
static size_t list(const char *sub, const char *suffix, uint64_t *out, size_t cap)
{
	char p[256];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	d = opendir(p);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 16 + strlen(suffix) || strcmp(e->d_name + 16, suffix))
			continue;
		assert_true(n < cap);
		out[n++] = strtoull(e->d_name, NULL, 16);
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && out[k - 1] > out[k]; k--) {
			uint64_t t = out[k];

			out[k] = out[k - 1];
			out[k - 1] = t;
		}
	return n;
}

/* Level-0 tiles of a log of size whose sealed end is sealed: files for
 * tiles not wholly sealed only, and every full one reads (through the
 * file or the segment) as the leaf hashes of the entries, the same for
 * tiles_read_file() and the reader; the level-1 hashes agree with them. */
static void check_tiles0(uint64_t size, uint64_t sealed)
{
	char logdir[256], rel[TILES_PATH_MAX], p[512];
	struct tiles_reader *r;
	struct ls_err err = { "" };
	struct stat st;

	snprintf(logdir, sizeof(logdir), "%s/log", dir);
	assert_int_equal(tiles_reader_open(logdir, size, &r), LS_OK);
	for (uint64_t t = 0; t < size / 256; t++) {
		uint8_t want[256][LS_HASH_LEN], node[LS_HASH_LEN], *data = NULL;
		char text[512];
		size_t len = 0;

		tiles_path(0, t, 256, rel, sizeof(rel));
		snprintf(p, sizeof(p), "%s/%s", logdir, rel);
		assert_int_equal(stat(p, &st) == 0, (t + 1) * 256 > sealed);
		for (unsigned i = 0; i < 256; i++)
			merkle_leaf_hash(text, entry(t * 256 + i, text, sizeof(text)), want[i]);
		if (tiles_read_file(logdir, 0, t, 256, &data, &len, &err) != LS_OK)
			fail_msg("tile 0/%llu: %s", (unsigned long long)t, err.msg);
		assert_int_equal(len, sizeof(want));
		assert_memory_equal(data, want, sizeof(want));
		free(data);
		for (unsigned i = 0; i < 256; i += 51) {
			assert_int_equal(tiles_node_hash(r, 0, t * 256 + i, node), LS_OK);
			assert_memory_equal(node, want[i], LS_HASH_LEN);
		}
		/* level 8 (a level-1 tile, a file) over the 256 leaves */
		for (unsigned k = 128; k >= 1; k /= 2)
			for (unsigned i = 0; i < k; i++)
				merkle_node_hash(want[2 * i], want[2 * i + 1], want[i]);
		assert_int_equal(tiles_node_hash(r, 8, t, node), LS_OK);
		assert_memory_equal(node, want[0], LS_HASH_LEN);
	}
	tiles_reader_free(r);
	if (size % 256) {
		tiles_path(0, size / 256, (unsigned)(size % 256), rel, sizeof(rel));
		snprintf(p, sizeof(p), "%s/%s", logdir, rel);
		assert_int_equal(stat(p, &st), 0);
	}
}

/* Every entry from start to the end: in order, byte for byte; hints out. */
static void check_iter(uint64_t start, uint64_t size, uint64_t max, uint64_t *hints)
{
	struct store_iter *it;
	struct ls_err err = { "" };
	const uint8_t *data;
	size_t len;
	uint64_t idx, want = start, n = 0;
	char buf[512];
	ls_rc rc;

	if (store_iter_open(jdir, start, 0, &it, &err) != LS_OK)
		fail_msg("iter_open %llu: %s", (unsigned long long)start, err.msg);
	while (n < max && (rc = store_iter_next(it, &data, &len, &idx, &err)) == LS_OK) {
		size_t wl = entry(idx, buf, sizeof(buf));

		assert_int_equal(idx, want);
		assert_int_equal(len, wl);
		assert_memory_equal(data, buf, wl);
		if (hints)
			store_iter_where(it, NULL, &hints[idx]);
		want++;
		n++;
	}
	if (n < max) {
		if (rc != LS_NOTFOUND)
			fail_msg("iter from %llu: %s", (unsigned long long)start, err.msg);
		assert_int_equal(want, size);
	}
	store_iter_free(it);
}

static void check_get(uint64_t size, const uint64_t *hints)
{
	struct store_reader *r;
	struct store_pass pass = { 0 };
	struct ls_err err = { "" };
	uint8_t *data;
	size_t len;
	char buf[512];

	assert_int_equal(store_reader_open(jdir, &r, &err), LS_OK);
	for (uint64_t i = 0; i < size; i++) {
		size_t wl = entry(i, buf, sizeof(buf));
		uint64_t h[3] = { hints[i], UINT64_MAX, hints[i ? i - 1 : 1] };

		for (int k = 0; k < 3; k++) {
			if (store_reader_get(r, k ? NULL : &pass, i, h[k], &data, &len, &err) != LS_OK)
				fail_msg("get %llu (hint %d): %s", (unsigned long long)i, k, err.msg);
			assert_int_equal(len, wl);
			assert_memory_equal(data, buf, wl);
			free(data);
		}
	}
	data = (uint8_t *)"x";
	assert_int_equal(store_reader_get(r, &pass, size, UINT64_MAX, &data, &len, &err),
			 LS_NOTFOUND);
	assert_null(data);
	/* Entry bundles: sealed ones from the segments, the rest from the
	 * journal, the same C2SP bytes. */
	for (uint64_t n = 0; n * 256 < size; n++) {
		unsigned w = size - n * 256 >= 256 ? 256 : (unsigned)(size - n * 256);
		uint8_t want[256 * 520];
		size_t wl = 0;

		for (unsigned k = 0; k < w; k++) {
			size_t el = entry(n * 256 + k, buf, sizeof(buf));

			want[wl] = (uint8_t)(el >> 8);
			want[wl + 1] = (uint8_t)el;
			memcpy(want + wl + 2, buf, el);
			wl += 2 + el;
		}
		if (store_reader_bundle(r, n, w, &data, &len, &err) != LS_OK)
			fail_msg("bundle %llu: %s", (unsigned long long)n, err.msg);
		assert_int_equal(len, wl);
		assert_memory_equal(data, want, wl);
		free(data);
		if (w > 3) {
			assert_int_equal(store_bundle(jdir, n, 3, &data, &len, &err), LS_OK);
			assert_memory_equal(data, want, len);
			free(data);
		}
	}
	assert_int_equal(store_reader_bundle(r, (size + 255) / 256 + 1, 256, &data, &len, &err),
			 LS_NOTFOUND);
	store_reader_free(r);
}

static void check_all(uint64_t size)
{
	uint64_t *hints = calloc(size + 1, sizeof(*hints));

	assert_non_null(hints);
	check_iter(0, size, UINT64_MAX, hints);
	for (uint64_t s = 0; s <= size; s++)
		check_iter(s, size, s % 97 ? 300 : UINT64_MAX, NULL);
	check_get(size, hints);
	free(hints);
}

static void seal_across(int enc)
{
	struct ls_err err = { "" };
	struct log_stats st;
	uint64_t segs[64], wal[64];
	size_t ns, nw;
	struct log *l;

	make(enc);
	l = open_log(1);
	append(l, 0, 700, 100, 1);
	if (enc)
		assert_int_equal(log_rotate_key(l, &err), LS_OK);
	append(l, 700, 1300, 100, 1);
	log_get_stats(l, &st);
	/* Signed 1300: [0, 1280) sealed in 5 segments, the rest waits. */
	assert_int_equal(st.sealed_end, 1280);
	assert_int_equal(st.sealed_segments, 5);
	ns = list("segments", ".seal", segs, 64);
	assert_int_equal(ns, 5);
	for (size_t i = 0; i < ns; i++)
		assert_int_equal(segs[i], i * L);
	/* Journal files whose entries are all sealed are gone; the one that
	 * holds the sealed end stays. */
	nw = list("journal", ".seg", wal, 64);
	assert_true(nw >= 1);
	assert_true(wal[0] > 0 && wal[0] <= 1280);
	assert_true(nw == 1 || wal[1] > 1280);
	check_all(1300);
	check_tiles0(1300, 1280);
	assert_int_equal(log_close(l, &err), LS_OK);

	/* Restart: the sealed end comes from the files; the tiles writer
	 * reopens on a last full level-0 tile that is the segment's. */
	l = open_log(0);
	log_get_stats(l, &st);
	assert_int_equal(st.sealed_end, 1280);
	assert_int_equal(log_size(l), 1300);
	check_all(1300);
	append(l, 1300, 1700, 100, 0);
	assert_int_equal(log_close(l, &err), LS_OK);
	ns = list("segments", ".seal", segs, 64);
	assert_int_equal(ns, 6);	/* log_close seals what is whole: 1536 */
	check_all(1700);
	check_tiles0(1700, 1536);
	if (enc) {
		/* Nothing stored in plaintext: segments and journal sealed. */
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "grep -rqa '" MARK "' '%s/segments' '%s/journal'", dir,
			 dir);
		assert_int_not_equal(system(cmd), 0);
		unsetenv(KEYS_ENV);
		keys_forget(dir);
	}
	rm_rf(root);
}

static void test_seal_plain(void **state)
{
	(void)state;
	seal_across(0);
}

static void test_seal_encrypted(void **state)
{
	(void)state;
	seal_across(1);
}

/* A crash after segment_write() and before the journal files went: both
 * stay; reads prefer the segment; the next seal deletes the files. */
static void test_crash_between(void **state)
{
	struct ls_err err = { "" };
	uint64_t wal[64], wal2[64];
	size_t nw, nw2;
	char cmd[512];
	struct log *l;

	(void)state;
	make(0);
	l = open_log(1);
	append(l, 0, 500, 100, 1);
	nw = list("journal", ".seg", wal, 64);
	assert_true(nw >= 1);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s/saved'", jdir, root);
	assert_int_equal(system(cmd), 0);
	append(l, 500, 800, 100, 1);	/* seals [256, 768): drops files */
	assert_int_equal(log_close(l, &err), LS_OK);
	nw2 = list("journal", ".seg", wal2, 64);
	assert_true(wal2[0] > wal[0]);
	/* Put the deleted files back, as if the crash came first. */
	snprintf(cmd, sizeof(cmd), "cp -an '%s/saved/.' '%s/'", root, jdir);
	assert_int_equal(system(cmd), 0);
	assert_true(list("journal", ".seg", wal2, 64) > nw2);
	check_all(800);
	l = open_log(1);
	assert_int_equal(log_size(l), 800);
	check_all(800);
	append(l, 800, 1100, 100, 1);	/* seals [768, 1024) and tidies */
	assert_int_equal(log_close(l, &err), LS_OK);
	nw2 = list("journal", ".seg", wal2, 64);
	assert_true(wal2[0] > 768 - 300 && wal2[0] <= 1024);
	check_all(1100);
	rm_rf(root);
}

/* Sealing that fails holds the writers back (LS_BUSY), never unbounded. */
static void test_backpressure(void **state)
{
	struct ls_err err = { "" };
	struct log_stats st;
	char p[256], text[64][32];
	struct iovec iov[64];
	uint64_t first, n;
	struct log *l;
	ls_rc rc = LS_OK;
	FILE *f;

	(void)state;
	make(0);
	l = open_log(0);
	/* DIR/segments as a file: every segment_write() fails. */
	snprintf(p, sizeof(p), "%s/segments", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	for (n = 0; n < 100 * L; n += 64) {
		for (int k = 0; k < 64; k++) {
			snprintf(text[k], sizeof(text[k]), "{\"i\":%llu}", (unsigned long long)(n + k));
			iov[k] = (struct iovec){ text[k], strlen(text[k]) };
		}
		rc = log_append(l, iov, 64, &first, &err);
		if (rc != LS_OK)
			break;
	}
	assert_int_equal(rc, LS_BUSY);
	/* It stopped once more than SEALER_MAX_BEHIND (4) whole ranges
	 * waited, not before. */
	assert_true(n >= 5 * L && n <= 5 * L + 64);
	log_get_stats(l, &st);
	assert_true(st.sealer_waits > 0);
	assert_int_equal(st.sealed_end, 0);
	/* Sealing works again: the writers go on. */
	assert_int_equal(unlink(p), 0);
	snprintf(text[0], sizeof(text[0]), "{\"i\":%llu}", (unsigned long long)n);
	iov[0] = (struct iovec){ text[0], strlen(text[0]) };
	assert_int_equal(log_append(l, iov, 1, &first, &err), LS_OK);
	assert_int_equal(first, n);
	log_get_stats(l, &st);
	assert_true(st.sealed_end >= n + 1 - 5 * L);
	assert_int_equal(log_close(l, &err), LS_OK);
	rm_rf(root);
}

static void test_old_format_refused(void **state)
{
	struct log_opts lo = { 0 };
	struct ls_err err = { "" };
	char p[256];
	struct log *l = NULL;

	(void)state;
	make(0);
	snprintf(p, sizeof(p), "%s/format", dir);
	assert_int_equal(unlink(p), 0);
	lo.dir = dir;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "format before sealed segments"));
	assert_non_null(strstr(err.msg, "logseal migrate --data"));
	lo.segment_leaves = 300;	/* not a multiple of 256 */
	lo.old_format = 1;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_INVALID);
	rm_rf(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_plain),
		cmocka_unit_test(test_seal_encrypted),
		cmocka_unit_test(test_crash_between),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_old_format_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
