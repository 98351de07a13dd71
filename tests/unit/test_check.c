/*
 * test_check.c - unit tests of the store's check of sealed segments
 * (src/store/check.c): a data directory is built here from parts, sealed
 * segments with segment_write() and the hash tiles with tiles_writer, and
 * then damaged one way at a time.  Expected leaf hashes are computed here
 * with merkle_leaf_hash(), not taken from the code under test.
 *
 * What is shown: a clean directory passes with the right counts and the
 * callback sees every leaf hash in order (1 and 2 threads); a flipped byte
 * in each part of a segment file fails and the message names the file and
 * an offset; a missing segment, a misnamed one, a stray name, a changed
 * level-1 hash tile (the full level-0 tiles of a sealed range being the
 * segment's hashes, the segments are tied to the tree one level up), a
 * changed partial level-0 tile and a WAL that does not continue at the
 * sealed end are named; with the level-0 tiles deleted, as the sealer
 * does, the check passes, store_sealed_keep_tiles() writes them back for
 * retention, and a segment rewritten whole with a forged entry is caught;
 * the retained point skips left-overs; store_sealed_list(),
 * store_sealed_each() and store_sealed_hashes() give the segments, every
 * entry and the stored hashes from any leaf back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/merkle.h"
#include "store/check.h"
#include "store/log.h"
#include "store/segment.h"
#include "store/tiles.h"

#define N 1536		/* leaves: three segments of 512 */
#define SEG 512
#define TILE_BYTES_T (TILE_WIDTH * LS_HASH_LEN)

static char root[64];
static uint8_t hashes[N][LS_HASH_LEN];

static size_t make_entry(uint64_t i, char *buf, size_t cap)
{
	return (size_t)snprintf(buf, cap,
				"{\"seq\":%llu,\"actor\":{\"id\":\"u%llu\"},\"action\":\"a.b\","
				"\"note\":\"%.*s\"}",
				(unsigned long long)i, (unsigned long long)(i % 37),
				(int)(i % 97), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
					       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* DIR: segments [0, nseg * SEG) sealed, tiles for all N leaves. */
static void build(const char *dir, int nseg)
{
	static char bufs[N][200];
	struct iovec iov[N];
	struct tiles_writer *w;
	char p[256];
	struct ls_err err = { "" };

	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/log", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	for (uint64_t i = 0; i < N; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = make_entry(i, bufs[i], sizeof(bufs[i]));
		merkle_leaf_hash(bufs[i], iov[i].iov_len, hashes[i]);
	}
	assert_int_equal(tiles_writer_open(p, 0, &w, &err), LS_OK);
	for (uint64_t i = 0; i < N; i++) {
		assert_int_equal(tiles_writer_append(w, hashes[i], iov[i].iov_base, iov[i].iov_len),
				 LS_OK);
		if (i + 1 == 700) /* a checkpoint there: partial tile 0/002.p/188 */
			assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	}
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_free(w);
	snprintf(p, sizeof(p), "%s/segments", dir);
	for (int s = 0; s < nseg; s++)
		if (segment_write(p, (uint64_t)s * SEG, SEG, iov + s * SEG,
				  (const uint8_t (*)[LS_HASH_LEN])hashes + s * SEG, NULL, &err) != LS_OK)
			fail_msg("segment_write: %s", err.msg);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/test_check.XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

struct seen {
	uint64_t next;
	int bad;
	uint64_t progress;
};

static ls_rc see(void *ctx, uint64_t first, size_t n, const uint8_t (*h)[LS_HASH_LEN],
		 struct ls_err *err)
{
	struct seen *s = ctx;

	(void)err;
	if (first != s->next)
		s->bad = 1;
	for (size_t i = 0; i < n; i++)
		if (memcmp(h[i], hashes[first + i], LS_HASH_LEN) != 0)
			s->bad = 1;
	s->next = first + n;
	return LS_OK;
}

static void prog(void *ctx, uint64_t done)
{
	((struct seen *)ctx)->progress = done;
}

static void test_clean(void **state)
{
	char dir[128];
	struct store_check_report rep;
	struct ls_err err = { "" };

	(void)state;
	snprintf(dir, sizeof(dir), "%s/clean", root);
	build(dir, 3);
	for (unsigned threads = 1; threads <= 2; threads++) {
		struct seen s = { 0 };
		struct store_check_cb cb = { see, prog, &s, threads };

		if (store_check_segments(dir, 0, N, &cb, &rep, &err) != LS_OK)
			fail_msg("threads %u: %s", threads, err.msg);
		assert_false(s.bad);
		assert_int_equal(s.next, N);
		assert_int_equal(s.progress, N);
		assert_int_equal(rep.segments, 3);
		assert_int_equal(rep.first, 0);
		assert_int_equal(rep.end, N);
		assert_int_equal(rep.entries, N);
		assert_int_equal(rep.tiles, N / TILE_WIDTH);
		assert_true(rep.bytes > 0);
	}
	/* The tree signed at a smaller size: only the tiles below it (a
	 * partial one at 700) are compared. */
	assert_int_equal(store_check_segments(dir, 0, 700, NULL, &rep, &err), LS_OK);
	assert_int_equal(rep.tiles, 3);
	/* From the retained point 512: the first segment is a left-over. */
	{
		struct seen s = { 512, 0, 0 };
		struct store_check_cb cb = { see, NULL, &s, 2 };

		assert_int_equal(store_check_segments(dir, 512, N, &cb, &rep, &err), LS_OK);
		assert_int_equal(rep.segments, 2);
		assert_int_equal(rep.first, 512);
		assert_int_equal(s.next, N);
		assert_false(s.bad);
	}
	/* A retained point inside a segment: half retired. */
	assert_int_equal(store_check_segments(dir, 256, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000000.seal: spans the retained point 256"));
	/* No DIR/segments at all: nothing sealed. */
	snprintf(dir, sizeof(dir), "%s/none", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(store_check_segments(dir, 0, 0, NULL, &rep, &err), LS_OK);
	assert_int_equal(rep.segments, 0);
	assert_int_equal(rep.end, 0);
}

/* Flip byte `off` of file path (xor 0x5a); returns the file's size. */
static long flip(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	long size;
	int c;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	if (off >= 0 && off < size) {
		fseek(f, off, SEEK_SET);
		c = fgetc(f);
		fseek(f, off, SEEK_SET);
		fputc(c ^ 0x5a, f);
	}
	fclose(f);
	return size;
}

static void test_flips(void **state)
{
	char dir[128], path[256];
	struct store_check_report rep;
	long size;
	int n = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/flip", root);
	build(dir, 3);
	store_sealed_path(dir, SEG, path, sizeof(path));
	size = flip(path, -1);
	assert_true(size > 64);
	/* Every region: the header, the blocks, the hashes, the table, the
	 * footer; a byte at each of 64 spread offsets and the first and last. */
	for (long k = 0; k <= 64; k++) {
		long off = k == 64 ? size - 1 : k * size / 64;
		struct ls_err err = { "" };
		ls_rc rc;

		flip(path, off);
		rc = store_check_segments(dir, 0, N, NULL, &rep, &err);
		flip(path, off);
		if (rc != LS_CORRUPT && rc != LS_TAMPERED)
			fail_msg("byte %ld of %ld flipped: %s (%s)", off, size, ls_rc_name(rc),
				 err.msg);
		if (!strstr(err.msg, "0000000000000200.seal") || !strstr(err.msg, "offset"))
			fail_msg("byte %ld: the message does not name the file and offset: %s", off,
				 err.msg);
		n++;
	}
	assert_int_equal(n, 65);
	{
		struct ls_err err = { "" };

		assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_OK);
	}
}

static void test_layout(void **state)
{
	char dir[128], a[256], b[256];
	struct store_check_report rep;
	struct ls_err err = { "" };

	(void)state;
	snprintf(dir, sizeof(dir), "%s/layout", root);
	build(dir, 3);

	/* A missing segment. */
	store_sealed_path(dir, SEG, a, sizeof(a));
	snprintf(b, sizeof(b), "%s/away.seal", dir);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000400.seal: starts at leaf 1024"));
	assert_non_null(strstr(err.msg, "a segment is missing"));

	/* A stray name in DIR/segments. */
	assert_int_equal(rename(b, a), 0);
	snprintf(b, sizeof(b), "%s/segments/notes.txt", dir);
	{
		FILE *f = fopen(b, "w");
		assert_non_null(f);
		fclose(f);
	}
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "notes.txt: not a sealed segment's name"));
	unlink(b);

	/* A segment under another name. */
	store_sealed_path(dir, 2 * SEG, a, sizeof(a));
	store_sealed_path(dir, 2 * SEG + 256, b, sizeof(b));
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000500.seal"));
	assert_int_equal(rename(b, a), 0);

	/* A level-1 hash that is not the root of a segment's 256 hashes
	 * (hash 1 of tile 1/000.p/6 = leaves 256..511: the first segment). */
	snprintf(a, sizeof(a), "%s/log/tile/1/000.p/6", dir);
	flip(a, 32 * 1 + 3);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000000.seal: the leaf hashes of entries "
					"256..511 do not hash to hash 1"));
	assert_non_null(strstr(err.msg, "tile/1/000.p/6"));
	flip(a, 32 * 1 + 3);
	/* A level-1 tile deleted. */
	snprintf(b, sizeof(b), "%s.away", a);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "tile/1/000.p/6: cannot be read"));
	assert_int_equal(rename(b, a), 0);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_OK);
	/* A partial level-0 tile (a file: 0/002.p/188 at the signed size 700)
	 * that is not the segment's hashes. */
	snprintf(a, sizeof(a), "%s/log/tile/0/002.p/188", dir);
	flip(a, 32 * 5);
	assert_int_equal(store_check_segments(dir, 0, 700, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000200.seal: the leaf hash of entry 517 "
					"differs from hash 5"));
	assert_non_null(strstr(err.msg, "tile/0/002.p/188"));
	flip(a, 32 * 5);
	assert_int_equal(store_check_segments(dir, 0, 700, NULL, &rep, &err), LS_OK);
}

/* Each leaf hash stored once: with the full level-0 tiles of the sealed
 * ranges deleted (as the sealer does) the check passes, the tiles read as
 * the segments' hashes, and a segment rewritten whole with another entry
 * (its own leaf hash, so segment_verify() passes) is still caught by the
 * level-1 tile. */
static void test_level0_dropped(void **state)
{
	static char bufs[SEG][200];
	struct iovec iov[SEG];
	uint8_t h[SEG][LS_HASH_LEN], *data = NULL;
	char dir[128], p[256], logdir[160];
	struct store_check_report rep;
	struct ls_err err = { "" };
	uint64_t dropped = 0;
	size_t len = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/dropped", root);
	build(dir, 3);
	snprintf(logdir, sizeof(logdir), "%s/log", dir);
	for (int s = 0; s < 3; s++) {
		uint64_t d = 0;

		assert_int_equal(tiles_drop_level0(logdir, (uint64_t)s * SEG, SEG,
						   (const uint8_t (*)[LS_HASH_LEN])hashes + s * SEG,
						   &d, &err), LS_OK);
		dropped += d;
	}
	assert_int_equal(dropped, N / TILE_WIDTH);
	snprintf(p, sizeof(p), "%s/tile/0/003", logdir);
	assert_int_not_equal(access(p, F_OK), 0);
	assert_int_equal(tiles_read_file(logdir, 0, 3, TILE_WIDTH, &data, &len, &err), LS_OK);
	assert_int_equal(len, TILE_BYTES_T);
	assert_memory_equal(data, hashes[3 * TILE_WIDTH], TILE_BYTES_T);
	free(data);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_OK);
	assert_int_equal(rep.tiles, N / TILE_WIDTH);
	assert_int_equal(store_check_segments(dir, 0, 700, NULL, &rep, &err), LS_OK);

	/* Before retention moves the first segment out, its tiles come back
	 * as files with the same bytes; a segment already gone is no error. */
	assert_int_equal(store_sealed_keep_tiles(dir, 0, &err), LS_OK);
	for (int t = 0; t < 2; t++) {
		FILE *f;
		uint8_t buf[TILE_BYTES_T + 1];

		snprintf(p, sizeof(p), "%s/tile/0/00%d", logdir, t);
		f = fopen(p, "rb");
		assert_non_null(f);
		assert_int_equal(fread(buf, 1, sizeof(buf), f), TILE_BYTES_T);
		fclose(f);
		assert_memory_equal(buf, hashes[t * TILE_WIDTH], TILE_BYTES_T);
	}
	snprintf(p, sizeof(p), "%s/tile/0/002", logdir);
	assert_int_not_equal(access(p, F_OK), 0);
	assert_int_equal(store_sealed_keep_tiles(dir, 7 * SEG, &err), LS_OK);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_OK);
	/* A level-0 tile file left in a sealed range is read before the
	 * segment: one with other bytes is named, by the check and by the
	 * start check's walk of the stored hashes. */
	snprintf(p, sizeof(p), "%s/tile/0/001", logdir);
	flip(p, 32 * 9);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "tile/0/001: differs from the leaf hashes of sealed "
					"segment"));
	assert_non_null(strstr(err.msg, "at hash 9"));
	{
		uint64_t end = 0;

		assert_int_equal(store_sealed_hashes(dir, 0, NULL, NULL, &end, &err), LS_TAMPERED);
		assert_non_null(strstr(err.msg, "tile/0/001: differs"));
	}
	flip(p, 32 * 9);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_OK);

	/* The second segment again, entry 600 replaced (and its hash). */
	for (unsigned i = 0; i < SEG; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = make_entry(SEG + i, bufs[i], sizeof(bufs[i]));
		if (SEG + i == 600)
			iov[i].iov_len = (size_t)snprintf(bufs[i], sizeof(bufs[i]), "{\"forged\":1}");
		merkle_leaf_hash(bufs[i], iov[i].iov_len, h[i]);
	}
	store_sealed_path(dir, SEG, p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/segments", dir);
	if (segment_write(p, SEG, SEG, iov, (const uint8_t (*)[LS_HASH_LEN])h, NULL, &err) != LS_OK)
		fail_msg("segment_write: %s", err.msg);
	assert_int_equal(store_check_segments(dir, 0, N, NULL, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000200.seal: the leaf hashes of entries "
					"512..767 do not hash to hash 2"));
}

struct walk {
	uint64_t next;
	int bad;
};

static ls_rc each(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
	struct walk *w = ctx;
	uint8_t h[LS_HASH_LEN];

	merkle_leaf_hash(data, len, h);
	if (index != w->next || memcmp(h, hashes[index], LS_HASH_LEN) != 0)
		w->bad = 1;
	w->next = index + 1;
	return index == 1000 ? LS_BUSY : LS_OK;
}

static void test_list_each(void **state)
{
	char dir[128], path[256];
	struct store_sealed *v = NULL;
	size_t n = 0;
	struct ls_err err = { "" };
	struct walk w = { SEG, 0 };
	uint8_t (*h)[LS_HASH_LEN] = NULL;
	uint32_t count = 0;
	uint64_t bytes = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/list", root);
	build(dir, 2);
	assert_int_equal(store_sealed_list(dir, &v, &n, &err), LS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].first, 0);
	assert_int_equal(v[0].count, SEG);
	assert_int_equal(v[1].first, SEG);
	assert_int_equal(v[1].count, SEG);
	free(v);
	store_sealed_path(dir, SEG, path, sizeof(path));
	assert_non_null(strstr(path, "/segments/0000000000000200.seal"));
	/* Every entry, in order, until the callback says stop. */
	assert_int_equal(store_sealed_each(dir, path, each, &w, &err), LS_BUSY);
	assert_false(w.bad);
	assert_int_equal(w.next, 1001);
	/* One file checked alone (an archived copy is checked this way). */
	assert_int_equal(store_check_sealed_file(dir, path, SEG, N, &h, &count, &bytes, &err),
			 LS_OK);
	assert_int_equal(count, SEG);
	assert_memory_equal(h, hashes[SEG], (size_t)SEG * LS_HASH_LEN);
	assert_true(bytes > 0);
	free(h);
	assert_int_equal(store_check_sealed_file(dir, path, 0, N, NULL, NULL, NULL, &err),
			 LS_TAMPERED);
	assert_non_null(strstr(err.msg, "holds the segment of leaf 512, not 0"));
}

static void test_hashes_from(void **state)
{
	char dir[128], a[256], b[256];
	struct ls_err err = { "" };
	uint64_t end = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/from", root);
	build(dir, 3);
	/* From inside the first segment: its tail, then the others. */
	for (uint64_t from = 0; from <= N; from += 256) {
		struct seen s = { from, 0, 0 };

		if (store_sealed_hashes(dir, from, see, &s, &end, &err) != LS_OK)
			fail_msg("from %llu: %s", (unsigned long long)from, err.msg);
		assert_false(s.bad);
		assert_int_equal(s.next, N);
		assert_int_equal(end, N);
	}
	/* A missing segment in the way is named. */
	store_sealed_path(dir, SEG, a, sizeof(a));
	snprintf(b, sizeof(b), "%s/away.seal", dir);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(store_sealed_hashes(dir, 256, NULL, NULL, &end, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000400.seal: starts at leaf 1024"));
	/* ... and not when it lies below from. */
	assert_int_equal(store_sealed_hashes(dir, 1024, NULL, NULL, &end, &err), LS_OK);
	assert_int_equal(end, N);
	assert_int_equal(rename(b, a), 0);
}

/* A log written through log_open() with segments of 256: the WAL goes on
 * at the sealed end; without the last segment it does not, and that is
 * named. */
static void test_wal(void **state)
{
	char dir[128], path[256];
	struct log_opts lo = { 0 };
	struct log *l;
	struct store_check_report rep;
	struct ls_err err = { "" };

	(void)state;
	snprintf(dir, sizeof(dir), "%s/wal", root);
	assert_int_equal(log_init(dir, "check.test/log", &err), LS_OK);
	lo.dir = dir;
	lo.no_threads = 1;
	lo.segment_leaves = 256;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	for (int i = 0; i < 600; i++) {
		char buf[64];
		struct iovec iov = { buf, 0 };
		uint64_t first;

		iov.iov_len = (size_t)snprintf(buf, sizeof(buf), "{\"n\":%d}", i);
		assert_int_equal(log_append(l, &iov, 1, &first, &err), LS_OK);
	}
	assert_int_equal(log_checkpoint(l, &err), LS_OK);
	assert_int_equal(log_close(l, &err), LS_OK);
	if (store_check_segments(dir, 0, 600, NULL, &rep, &err) != LS_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.segments, 2);
	assert_int_equal(rep.end, 512);
	store_sealed_path(dir, 256, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_check_segments(dir, 0, 600, NULL, &rep, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "(the write-ahead log up to leaf 256, where the sealed "
					"segments end)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_flips),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_level0_dropped),
		cmocka_unit_test(test_list_each),
		cmocka_unit_test(test_hashes_from),
		cmocka_unit_test(test_wal),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
