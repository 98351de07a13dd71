/*
 * test_tiles.c - C2SP tlog-tiles paths, writer, reader and recovery.
 *
 * Paths are checked against the examples of c2sp.org/tlog-tiles (index
 * 1234067 -> x001/x234/067, the file counts of a tree of 70,000 and of 256).
 * Everything read back from the tiles is compared with a reference built
 * here straight from the list of leaves with merkle_node_hash, not with the
 * writer's own state.
 *
 * Full level-0 tiles of a sealed range (tiles.h): with the files deleted
 * (tiles_drop_level0), the readers give the same bytes from the segment,
 * the writer reopens on them, does not write them again and refuses other
 * bytes; without DIR/segments (a static copy) they are missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/merkle.h"
#include "store/segment.h"
#include "store/tiles.h"

#define H LS_HASH_LEN

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Entry i: mostly short, some empty, one of the maximum size. */
static size_t make_entry(uint64_t i, uint8_t *buf)
{
	size_t len = (size_t)((i * 2654435761u) >> 7) % 120;

	if (i % 997 == 5)
		len = 0;
	if (i == 300)
		len = 65535;
	for (size_t j = 0; j < len; j++)
		buf[j] = (uint8_t)(i * 31 + j * 7 + (i >> 8));
	return len;
}

static uint8_t entry_buf[65536];

/* Every complete node of a tree of n leaves: ref[k][i] = node (k, i). */
struct ref {
	uint64_t n;
	uint8_t (*lv[64])[H];
	uint64_t cnt[64];
};

static void ref_build(struct ref *r, uint64_t n)
{
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->cnt[0] = n;
	r->lv[0] = malloc((n ? n : 1) * H);
	assert_non_null(r->lv[0]);
	for (uint64_t i = 0; i < n; i++) {
		size_t len = make_entry(i, entry_buf);
		merkle_leaf_hash(entry_buf, len, r->lv[0][i]);
	}
	for (int k = 1; k < 64; k++) {
		r->cnt[k] = n >> k;
		if (!r->cnt[k])
			break;
		r->lv[k] = malloc(r->cnt[k] * H);
		assert_non_null(r->lv[k]);
		for (uint64_t i = 0; i < r->cnt[k]; i++)
			merkle_node_hash(r->lv[k - 1][2 * i], r->lv[k - 1][2 * i + 1], r->lv[k][i]);
	}
}

static void ref_free(struct ref *r)
{
	for (int k = 0; k < 64; k++)
		free(r->lv[k]);
}

/* RFC 6962 MTH(D[lo:lo+n]) by its definition (split at the largest power
 * of two below n), using complete nodes when the range is one. */
static void ref_mth(const struct ref *r, uint64_t lo, uint64_t n, uint8_t out[H])
{
	uint64_t k = 1;
	uint8_t a[H], b[H];
	int lg = 0;

	if (n == 0) {
		merkle_empty_root(out);
		return;
	}
	if ((n & (n - 1)) == 0) {
		while (((uint64_t)1 << lg) < n)
			lg++;
		if (lo % n == 0) {
			memcpy(out, r->lv[lg][lo >> lg], H);
			return;
		}
	}
	while (k * 2 < n)
		k *= 2;
	ref_mth(r, lo, k, a);
	ref_mth(r, lo + k, n - k, b);
	merkle_node_hash(a, b, out);
}

/* The root of a tree of size from the tiles alone, split the same way. */
static int tiles_mth(struct tiles_reader *rd, uint64_t lo, uint64_t n, uint8_t out[H])
{
	uint64_t k = 1;
	uint8_t a[H], b[H];
	int lg = 0;

	if ((n & (n - 1)) == 0) {
		while (((uint64_t)1 << lg) < n)
			lg++;
		return tiles_node_hash(rd, (unsigned)lg, lo >> lg, out);
	}
	while (k * 2 < n)
		k *= 2;
	if (tiles_mth(rd, lo, k, a) != LS_OK || tiles_mth(rd, lo + k, n - k, b) != LS_OK)
		return -1;
	merkle_node_hash(a, b, out);
	return LS_OK;
}

static char *make_dir(void)
{
	char *d = strdup("/tmp/test_tiles.XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void remove_dir(char *d)
{
	nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

static void append_range(struct tiles_writer *w, const struct ref *r, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		size_t len = make_entry(i, entry_buf);
		assert_int_equal(tiles_writer_append(w, r->lv[0][i], entry_buf, len), LS_OK);
	}
}

static void assert_root(const struct ref *r, uint64_t size, const uint8_t got[H])
{
	uint8_t want[H];

	ref_mth(r, 0, size, want);
	assert_memory_equal(got, want, H);
}

/* Reader for size: the root from tiles, old partials included. */
static void check_root_from_tiles(const char *dir, const struct ref *r, uint64_t size)
{
	struct tiles_reader *rd;
	uint8_t got[H];

	if (size == 0)
		return;
	assert_int_equal(tiles_reader_open(dir, size, &rd), LS_OK);
	assert_int_equal(tiles_mth(rd, 0, size, got), LS_OK);
	assert_root(r, size, got);
	/* tiles_node_hash as the merkle module's node callback */
	memset(got, 0, H);
	assert_int_equal(merkle_root(tiles_node_hash, rd, size, got), LS_OK);
	assert_root(r, size, got);
	tiles_reader_free(rd);
}

/* Every node hash and entry of a tree of size, from the tiles. */
static void check_reader(const char *dir, const struct ref *r, uint64_t size)
{
	struct tiles_reader *rd;
	uint8_t got[H];
	struct ls_err err;

	assert_int_equal(tiles_reader_open(dir, size, &rd), LS_OK);
	for (unsigned k = 0; k < 64; k++) {
		uint64_t cnt = size >> k;

		for (uint64_t i = 0; i < cnt; i++) {
			assert_int_equal(tiles_node_hash(rd, k, i, got), LS_OK);
			assert_memory_equal(got, r->lv[k][i], H);
		}
		/* the next node is not complete within size */
		assert_int_equal(tiles_node_hash(rd, k, cnt, got), LS_INVALID);
	}
	/* The writer keeps no entry bundle files: entries are stored once,
	 * in the store (reader.h builds the bundles). */
	for (uint64_t i = 0; i < size; i += 97) {
		uint8_t *data = NULL;
		size_t len = 0;

		assert_int_equal(tiles_read_entry(rd, i, &data, &len, &err), LS_NOTFOUND);
		assert_null(data);
	}
	{
		uint8_t *data = NULL;
		size_t len = 0;
		assert_int_equal(tiles_read_entry(rd, size, &data, &len, &err), LS_INVALID);
	}
	/* proofs made from the tiles verify against the reference roots */
	for (int t = 0; t < 20 && size; t++) {
		uint8_t proof[MERKLE_MAX_PROOF][H], root[H], old[H];
		uint64_t i = rng() % size, m = rng() % size + 1;
		size_t np;

		ref_mth(r, 0, size, root);
		assert_int_equal(merkle_inclusion_proof(tiles_node_hash, rd, i, size, proof, &np),
				 LS_OK);
		assert_int_equal(merkle_verify_inclusion(r->lv[0][i], i, size, proof, np, root),
				 LS_OK);
		ref_mth(r, 0, m, old);
		assert_int_equal(merkle_consistency_proof(tiles_node_hash, rd, m, size, proof, &np),
				 LS_OK);
		assert_int_equal(merkle_verify_consistency(m, size, old, root, proof, np), LS_OK);
	}
	tiles_reader_free(rd);
}

/* Walk of every file under the log dir: each must be a canonical tile path
 * with the right size and contents for one of the flushed sizes. */
static const struct ref *walk_ref;
static const uint64_t *walk_sizes;
static size_t walk_nsizes;
static size_t walk_prefix;
static size_t walk_files;
static uint64_t walk_count[2][8];	/* [partial?][level]: files seen */
static unsigned walk_final_w[9];	/* [level + 1]: widest partial in the last size's tile */

static int partial_of_flushed(int level, uint64_t n, unsigned w)
{
	for (size_t i = 0; i < walk_nsizes; i++) {
		uint64_t c = level < 0 ? walk_sizes[i] : walk_sizes[i] >> (8 * level);

		if (c / 256 == n && c % 256 == w)
			return 1;
	}
	return 0;
}

static int walk_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	const char *rel = p + walk_prefix;
	int level;
	uint64_t n, top = walk_sizes[walk_nsizes - 1];
	unsigned w;
	FILE *fp;
	uint8_t *buf;

	(void)f;
	if (flag != FTW_F)
		return 0;
	if (strcmp(rel, "checkpoint") == 0)
		return 0;
	walk_files++;
	if (tiles_path_parse(rel, &level, &n, &w) != LS_OK) {
		print_error("unexpected file %s\n", rel);
		return 1;
	}
	if (w == 256) {
		uint64_t c = level < 0 ? top : top >> (8 * level);
		if (n >= c / 256) {
			print_error("full tile %s beyond the tree\n", rel);
			return 1;
		}
	} else if (!partial_of_flushed(level, n, w)) {
		print_error("partial tile %s of no flushed size\n", rel);
		return 1;
	}
	if (level >= 0 && level < 8)
		walk_count[w < 256][level]++;
	if (level < 8 && w < 256 && n == (level < 0 ? top : top >> (8 * level)) / 256 &&
	    w > walk_final_w[level + 1])
		walk_final_w[level + 1] = w;
	buf = malloc((size_t)st->st_size + 1);
	fp = fopen(p, "rb");
	if (!buf || !fp || fread(buf, 1, (size_t)st->st_size, fp) != (size_t)st->st_size) {
		print_error("cannot read %s\n", rel);
		return 1;
	}
	fclose(fp);
	if (level >= 0) {
		if ((size_t)st->st_size != (size_t)w * H) {
			print_error("%s has %lld bytes\n", rel, (long long)st->st_size);
			return 1;
		}
		for (unsigned i = 0; i < w; i++)
			if (memcmp(buf + i * H, walk_ref->lv[8 * level][n * 256 + i], H) != 0) {
				print_error("%s: hash %u is wrong\n", rel, i);
				return 1;
			}
	} else {
		size_t pos = 0;

		for (unsigned i = 0; i < w; i++) {
			size_t want = make_entry(n * 256 + i, entry_buf), len;

			if ((size_t)st->st_size - pos < 2)
				return 1;
			len = (size_t)buf[pos] << 8 | buf[pos + 1];
			if (len != want || (size_t)st->st_size - pos - 2 < len ||
			    memcmp(buf + pos + 2, entry_buf, len) != 0) {
				print_error("%s: entry %u is wrong\n", rel, i);
				return 1;
			}
			pos += 2 + len;
		}
		if (pos != (size_t)st->st_size) {
			print_error("%s: trailing bytes\n", rel);
			return 1;
		}
	}
	free(buf);
	return 0;
}

static void check_files(const char *dir, const struct ref *r, const uint64_t *sizes, size_t n)
{
	walk_ref = r;
	walk_sizes = sizes;
	walk_nsizes = n;
	walk_prefix = strlen(dir) + 1;
	walk_files = 0;
	memset(walk_count, 0, sizeof(walk_count));
	memset(walk_final_w, 0, sizeof(walk_final_w));
	assert_int_equal(nftw(dir, walk_one, 16, FTW_PHYS), 0);
}

/* Write n leaves, flushing at random points, and check everything. */
static void write_and_check(uint64_t n, uint64_t seed)
{
	struct ref r;
	struct tiles_writer *w;
	struct ls_err err;
	uint64_t sizes[64];
	size_t nsizes = 0;
	uint8_t root[H];
	char *dir = make_dir();

	print_message("# size %llu seed %llu\n", (unsigned long long)n, (unsigned long long)seed);
	rng_state = seed;
	ref_build(&r, n);
	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	tiles_writer_root(w, root);
	assert_root(&r, 0, root);
	for (uint64_t i = 0; i < n; i++) {
		append_range(w, &r, i, i + 1);
		if (i + 1 < n && nsizes < 40 && rng() % (n / 6 + 1) == 0) {
			assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
			sizes[nsizes++] = i + 1;
			tiles_writer_root(w, root);
			assert_root(&r, i + 1, root);
			check_root_from_tiles(dir, &r, i + 1);
		}
	}
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	sizes[nsizes++] = n;
	assert_int_equal(tiles_writer_size(w), n);
	tiles_writer_root(w, root);
	assert_root(&r, n, root);
	tiles_writer_free(w);

	check_files(dir, &r, sizes, nsizes);
	check_reader(dir, &r, n);
	/* older checkpoints stay provable from their partial tiles */
	for (size_t i = 0; i < nsizes; i++)
		check_root_from_tiles(dir, &r, sizes[i]);
	ref_free(&r);
	remove_dir(dir);
}

/* ------------------------------------------------------------ paths */

static void expect_path(int level, uint64_t n, unsigned w, const char *want)
{
	char buf[TILES_PATH_MAX];
	int pl;
	uint64_t pn;
	unsigned pw;

	assert_int_equal(tiles_path(level, n, w, buf, sizeof(buf)), LS_OK);
	assert_string_equal(buf, want);
	assert_int_equal(tiles_path_parse(buf, &pl, &pn, &pw), LS_OK);
	assert_int_equal(pl, level < 0 ? -1 : level);
	assert_true(pn == n);
	assert_int_equal(pw, w);
}

static void test_path_format(void **state)
{
	char buf[TILES_PATH_MAX];

	(void)state;
	/* the spec's example: index 1234067 is x001/x234/067 */
	expect_path(0, 1234067, 256, "tile/0/x001/x234/067");
	expect_path(1, 1234067, 8, "tile/1/x001/x234/067.p/8");
	expect_path(-1, 1234067, 256, "tile/entries/x001/x234/067");
	expect_path(-1, 1234067, 255, "tile/entries/x001/x234/067.p/255");
	expect_path(0, 0, 256, "tile/0/000");
	expect_path(0, 5, 1, "tile/0/005.p/1");
	expect_path(2, 999, 256, "tile/2/999");
	expect_path(2, 1000, 1, "tile/2/x001/000.p/1");
	expect_path(63, 1000000, 256, "tile/63/x001/x000/000");
	expect_path(0, UINT64_MAX, 255, "tile/0/x018/x446/x744/x073/x709/x551/615.p/255");
	expect_path(-1, UINT64_MAX, 255,
		    "tile/entries/x018/x446/x744/x073/x709/x551/615.p/255");

	assert_int_equal(tiles_path(0, 0, 0, buf, sizeof(buf)), LS_INVALID);
	assert_int_equal(tiles_path(0, 0, 257, buf, sizeof(buf)), LS_INVALID);
	assert_int_equal(tiles_path(64, 0, 256, buf, sizeof(buf)), LS_INVALID);
	assert_int_equal(tiles_path(0, 1234067, 256, buf, 20), LS_LIMIT);
	assert_int_equal(tiles_path(0, 1234067, 256, buf, 21), LS_OK);
	assert_int_equal(tiles_path(0, 1234067, 8, buf, 24), LS_LIMIT);
	assert_int_equal(tiles_path(0, 1234067, 8, buf, 25), LS_OK);
}

static void test_path_roundtrip(void **state)
{
	(void)state;
	rng_state = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 20000; i++) {
		char buf[TILES_PATH_MAX];
		int level = (int)(rng() % 65) - 1, pl;
		uint64_t n = rng() >> (rng() % 64), pn;
		unsigned w = (unsigned)(rng() % 256) + 1, pw;

		assert_int_equal(tiles_path(level, n, w, buf, sizeof(buf)), LS_OK);
		assert_int_equal(tiles_path_parse(buf, &pl, &pn, &pw), LS_OK);
		assert_int_equal(pl, level);
		assert_true(pn == n);
		assert_int_equal(pw, w);
	}
}

static void test_path_reject(void **state)
{
	static const char *const bad[] = {
		"", "tile", "tile/", "tile/0", "tile/0/", "checkpoint", "/tile/0/000",
		"tile/0/1234067", "tile/0/x001/x234/67", "tile/0/x001/x234/0677",
		"tile/00/000", "tile/01/000", "tile/64/000", "tile/-1/000", "tile/100/000",
		"tile//000", "tile/0/x000/001", "tile/0/x000/000", "tile/0/X001/000",
		"tile/0/x01/000", "tile/0/x001", "tile/0/x001/", "tile/0/000/",
		"tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/08", "tile/0/000.p/",
		"tile/0/000.p", "tile/0/000.q/8", "tile/0/000.p/8/", "tile/0/000.p/8/x",
		"tile/0/000.p/1a", "tile/0/000 ", "tile/0/000\n", "tile/0/abc",
		"tile/0/../000", "tile/../tile/0/000", "tile/entries/../0/000",
		"tile/0/./000", "tile/entries/000.p/300", "tile/entry/000", "tile/entries",
		"tile/0/x018/x446/x744/x073/x709/x551/616",
		"tile/0/x001/x018/x446/x744/x073/x709/x551/615",
		"tile/0/000/001", "tile/0/000.p/8.p/8", "tile/0/+01", "tile/0/ 001",
	};
	int level;
	uint64_t n;
	unsigned w;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tiles_path_parse(bad[i], &level, &n, &w) != LS_INVALID)
			fail_msg("accepted %s", bad[i]);
	}
	assert_int_equal(tiles_path_parse(NULL, &level, &n, &w), LS_INVALID);
	assert_int_equal(tiles_path_parse("tile/63/000", &level, &n, &w), LS_OK);
	assert_int_equal(level, 63);
	assert_int_equal(tiles_path_parse("tile/entries/x001/000.p/255", &level, &n, &w), LS_OK);
	assert_int_equal(level, -1);
	assert_true(n == 1000);
	assert_int_equal(w, 255);
}

/* ------------------------------------------------------------ writer */

static void test_write_small(void **state)
{
	(void)state;
	write_and_check(0, 1);
	write_and_check(1, 2);
	write_and_check(255, 3);
	write_and_check(256, 4);
	/* the spec: size 256 is one full level 0 tile and a level 1 partial of 1 */
	assert_int_equal(walk_count[0][0], 1);
	assert_int_equal(walk_count[0][1], 0);
	assert_int_equal(walk_final_w[1], 0);
	assert_int_equal(walk_final_w[2], 1);
	assert_int_equal(walk_final_w[3], 0);
	write_and_check(257, 5);
	write_and_check(1000, 6);
}

static void test_write_65535(void **state)
{
	(void)state;
	write_and_check(65535, 7);
}

static void test_write_65536(void **state)
{
	(void)state;
	write_and_check(65536, 8);
}

static void test_write_65537(void **state)
{
	(void)state;
	write_and_check(65537, 9);
}

static void test_write_70000(void **state)
{
	(void)state;
	write_and_check(70000, 10);
	/* the spec: 273 full level 0 tiles, one full level 1 tile, and the
	 * partials 0/273.p/112, 1/001.p/17 and 2/000.p/1 */
	assert_int_equal(walk_count[0][0], 273);
	assert_int_equal(walk_count[0][1], 1);
	assert_int_equal(walk_count[0][2], 0);
	assert_int_equal(walk_final_w[1], 112);
	assert_int_equal(walk_final_w[2], 17);
	assert_int_equal(walk_final_w[3], 1);
	assert_int_equal(walk_final_w[4], 0);
	assert_int_equal(walk_final_w[0], 0);	/* no entry bundle files */
}

static int same_file(const char *a, const char *b, int level, uint64_t n, unsigned w)
{
	uint8_t *da, *db;
	size_t la, lb;
	int same;

	if (tiles_read_file(a, level, n, w, &da, &la, NULL) != LS_OK)
		return 0;
	if (tiles_read_file(b, level, n, w, &db, &lb, NULL) != LS_OK) {
		free(da);
		return 0;
	}
	same = la == lb && memcmp(da, db, la) == 0;
	free(da);
	free(db);
	return same;
}

/* Every file a checkpoint at size needs is byte for byte the same. */
static void assert_same_log(const char *a, const char *b, uint64_t size)
{
	for (int level = 0; level < 8; level++) {
		uint64_t c = size >> (8 * level);

		for (uint64_t n = 0; n < c / 256; n++)
			assert_true(same_file(a, b, level, n, 256));
		if (c % 256)
			assert_true(same_file(a, b, level, c / 256, (unsigned)(c % 256)));
	}
}

static void reopen_case(const struct ref *r, const char *straight, uint64_t cut, uint64_t n)
{
	struct tiles_writer *w;
	struct ls_err err;
	uint8_t root[H];
	char *dir = make_dir();
	uint64_t sizes[3] = { cut, (cut + n) / 2, n };

	print_message("# reopen at %llu of %llu\n", (unsigned long long)cut,
		      (unsigned long long)n);
	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	append_range(w, r, 0, cut);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	/* appended but never flushed: lost, like a crash before the flush */
	append_range(w, r, cut, cut + (n - cut) / 3);
	tiles_writer_free(w);

	assert_int_equal(tiles_writer_open(dir, cut, &w, &err), LS_OK);
	assert_true(tiles_writer_size(w) == cut);
	tiles_writer_root(w, root);
	assert_root(r, cut, root);
	/* nothing new: a no-op */
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	append_range(w, r, cut, sizes[1]);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	append_range(w, r, sizes[1], n);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_root(w, root);
	assert_root(r, n, root);
	tiles_writer_free(w);

	check_files(dir, r, sizes, 3);
	check_root_from_tiles(dir, r, sizes[1]);
	assert_same_log(dir, straight, n);
	remove_dir(dir);
}

static void test_reopen(void **state)
{
	const uint64_t n = 70000;
	static const uint64_t cuts[] = { 1, 255, 256, 257, 65535, 65536, 65537 };
	struct tiles_writer *w;
	struct ls_err err;
	struct ref r;
	char *straight = make_dir();

	(void)state;
	ref_build(&r, n);
	assert_int_equal(tiles_writer_open(straight, 0, &w, &err), LS_OK);
	append_range(w, &r, 0, n);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_free(w);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		reopen_case(&r, straight, cuts[i], n);
	rng_state = 77;
	reopen_case(&r, straight, rng() % n + 1, n);

	/* opening at size 0 over an existing log and writing the same entries
	 * again finds the full tiles already there and keeps them */
	assert_int_equal(tiles_writer_open(straight, 0, &w, &err), LS_OK);
	append_range(w, &r, 0, 1000);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_free(w);
	check_reader(straight, &r, 1000);
	ref_free(&r);
	remove_dir(straight);
}

static void test_flush_noop_and_partials_kept(void **state)
{
	struct tiles_writer *w;
	struct ls_err err;
	struct ref r;
	struct stat st1, st2;
	char *dir = make_dir(), path[512];

	(void)state;
	ref_build(&r, 600);
	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	append_range(w, &r, 0, 300);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	snprintf(path, sizeof(path), "%s/tile/0/001.p/44", dir);
	assert_int_equal(stat(path, &st1), 0);
	/* a second flush with nothing new writes nothing */
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	assert_true(st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec &&
		    st1.st_mtim.tv_sec == st2.st_mtim.tv_sec);
	append_range(w, &r, 300, 600);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_free(w);
	/* the partial of the older size is still there */
	assert_int_equal(stat(path, &st2), 0);
	check_root_from_tiles(dir, &r, 300);
	/* a client of size 300 whose partial tile is gone falls back to the
	 * full tile that has replaced it */
	assert_int_equal(unlink(path), 0);
	check_reader(dir, &r, 300);
	ref_free(&r);
	remove_dir(dir);
}

static void test_append_limits(void **state)
{
	struct tiles_writer *w;
	struct ls_err err;
	uint8_t leaf[H] = { 0 };
	char *dir = make_dir();

	(void)state;
	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	assert_int_equal(tiles_writer_append(w, leaf, entry_buf, 65536), LS_LIMIT);
	assert_true(tiles_writer_size(w) == 0);
	assert_int_equal(tiles_writer_append(w, leaf, entry_buf, 65535), LS_OK);
	assert_true(tiles_writer_size(w) == 1);
	tiles_writer_free(w);
	tiles_writer_free(NULL);
	tiles_reader_free(NULL);
	remove_dir(dir);
}

static int find_tmp(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	return strstr(p + f->base, ".tmp") != NULL;
}

static void test_flush_failure_is_sticky(void **state)
{
	struct tiles_writer *w;
	struct ls_err err;
	struct ref r;
	char *dir = make_dir(), path[512];
	FILE *fp;

	(void)state;
	ref_build(&r, 300);
	/* a file where the level 0 directory must go */
	snprintf(path, sizeof(path), "%s/tile", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/tile/0", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	append_range(w, &r, 0, 300);
	assert_int_equal(tiles_writer_flush(w, &err), LS_IO);
	assert_int_equal(tiles_writer_flush(w, &err), LS_FAILED);
	assert_int_equal(tiles_writer_append(w, r.lv[0][0], "", 0), LS_FAILED);
	tiles_writer_free(w);
	assert_int_equal(nftw(dir, find_tmp, 16, FTW_PHYS), 0);
	ref_free(&r);
	remove_dir(dir);
}

/* ------------------------------------------------------------ damage */

static char *build_log(struct ref *r, uint64_t n)
{
	struct tiles_writer *w;
	struct ls_err err;
	char *dir = make_dir();

	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	append_range(w, r, 0, n);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_free(w);
	return dir;
}

static void flip_byte(const char *dir, const char *rel, long off)
{
	char path[512];
	uint8_t c;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void truncate_file(const char *dir, const char *rel, off_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(truncate(path, len), 0);
}

static void remove_file(const char *dir, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(unlink(path), 0);
}

/* One saved file, to undo a damage. */
static char saved_path[512];
static uint8_t *saved_data;
static size_t saved_len;

static void save_file(const char *dir, const char *rel)
{
	struct stat st;
	FILE *fp;

	snprintf(saved_path, sizeof(saved_path), "%s/%s", dir, rel);
	assert_int_equal(stat(saved_path, &st), 0);
	saved_len = (size_t)st.st_size;
	saved_data = malloc(saved_len + 1);
	assert_non_null(saved_data);
	fp = fopen(saved_path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(saved_data, 1, saved_len, fp), saved_len);
	fclose(fp);
}

static void restore_file(void)
{
	FILE *fp = fopen(saved_path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(saved_data, 1, saved_len, fp), saved_len);
	assert_int_equal(fclose(fp), 0);
	free(saved_data);
	saved_data = NULL;
}

static ls_rc open_rc(const char *dir, uint64_t size)
{
	struct tiles_writer *w = NULL;
	struct ls_err err;
	ls_rc rc = tiles_writer_open(dir, size, &w, &err);

	tiles_writer_free(w);
	return rc;
}

static void test_damage(void **state)
{
	const uint64_t n = 70000;
	struct ref r;
	struct tiles_writer *w;
	struct tiles_reader *rd;
	struct ls_err err;
	uint8_t root[H], got[H], *data;
	size_t len;
	char *dir, *empty = make_dir();

	(void)state;
	ref_build(&r, n);
	assert_int_equal(open_rc(empty, 1000), LS_NOTFOUND);
	assert_int_equal(open_rc("/nonexistent/test_tiles", 1000), LS_NOTFOUND);
	assert_int_equal(open_rc(empty, 0), LS_OK);
	remove_dir(empty);

	/* one log, each file damaged and then put back */
	dir = build_log(&r, n);
	assert_int_equal(open_rc(dir, n), LS_OK);

	/* a missing right-edge tile (no full tile to fall back to) */
	save_file(dir, "tile/1/001.p/17");
	remove_file(dir, "tile/1/001.p/17");
	assert_int_equal(open_rc(dir, n), LS_NOTFOUND);
	assert_int_equal(tiles_reader_open(dir, n, &rd), LS_OK);
	assert_int_equal(tiles_node_hash(rd, 8, 256 + 3, got), LS_NOTFOUND);
	assert_int_equal(tiles_node_hash(rd, 8, 3, got), LS_OK);
	assert_memory_equal(got, r.lv[8][3], H);
	tiles_reader_free(rd);
	restore_file();
	assert_int_equal(open_rc(dir, n), LS_OK);

	/* a partial tile of the wrong size */
	save_file(dir, "tile/0/273.p/112");
	truncate_file(dir, "tile/0/273.p/112", 100);
	assert_int_equal(open_rc(dir, n), LS_CORRUPT);
	assert_int_equal(tiles_reader_open(dir, n, &rd), LS_OK);
	assert_int_equal(tiles_node_hash(rd, 0, 273 * 256, got), LS_CORRUPT);
	tiles_reader_free(rd);
	assert_int_equal(tiles_read_file(dir, 0, 273, 112, &data, &len, &err), LS_CORRUPT);
	restore_file();

	/* a full tile that does not hash to its hash one level up */
	save_file(dir, "tile/0/272");
	flip_byte(dir, "tile/0/272", 5000);
	assert_int_equal(open_rc(dir, n), LS_CORRUPT);
	restore_file();

	/* (Entry bundles are no files the writer keeps: nothing to damage.) */

	/* a changed hash inside a partial tile is not visible to the writer
	 * alone: the root it recomputes differs, which the caller compares with
	 * the signed checkpoint */
	flip_byte(dir, "tile/1/001.p/17", 3 * H + 1);
	assert_int_equal(tiles_writer_open(dir, n, &w, &err), LS_OK);
	tiles_writer_root(w, root);
	ref_mth(&r, 0, n, got);
	assert_memory_not_equal(root, got, H);
	tiles_writer_free(w);
	assert_int_equal(tiles_reader_open(dir, n, &rd), LS_OK);
	assert_int_equal(tiles_node_hash(rd, 8, 256 + 3, got), LS_OK);
	assert_memory_not_equal(got, r.lv[8][256 + 3], H);
	tiles_reader_free(rd);
	remove_dir(dir);

	ref_free(&r);
}

static void test_tampered_full_tile(void **state)
{
	struct tiles_writer *w;
	struct ls_err err;
	struct ref r;
	uint8_t other[H];
	char *dir;

	(void)state;
	ref_build(&r, 600);
	dir = build_log(&r, 600);
	/* rebuilding from 0 with a different leaf: the published full tile
	 * must not be replaced */
	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	memset(other, 0xab, H);
	assert_int_equal(tiles_writer_append(w, other, "x", 1), LS_OK);
	append_range(w, &r, 1, 600);
	assert_int_equal(tiles_writer_flush(w, &err), LS_TAMPERED);
	tiles_writer_free(w);
	check_reader(dir, &r, 600);
	ref_free(&r);
	remove_dir(dir);
}

static void test_sealed_level0(void **state)
{
	const uint64_t n = 1000, sealed = 768;
	struct iovec iov[768];
	struct tiles_writer *w;
	struct ls_err err = { "" };
	struct ref r;
	char *root = make_dir(), logdir[128], segdir[128], p[256];
	uint8_t *data = NULL, other[H];
	uint64_t dropped = 0;
	size_t len = 0;

	(void)state;
	ref_build(&r, n);
	snprintf(logdir, sizeof(logdir), "%s/log", root);
	snprintf(segdir, sizeof(segdir), "%s/segments", root);
	assert_int_equal(mkdir(logdir, 0755), 0);
	assert_int_equal(tiles_writer_open(logdir, 0, &w, &err), LS_OK);
	append_range(w, &r, 0, n);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_free(w);
	for (uint64_t i = 0; i < sealed; i++) {
		iov[i].iov_base = malloc(65536);
		assert_non_null(iov[i].iov_base);
		iov[i].iov_len = make_entry(i, iov[i].iov_base);
	}
	if (segment_write(segdir, 0, (uint32_t)sealed, iov,
			  (const uint8_t (*)[H])r.lv[0], NULL, &err) != LS_OK)
		fail_msg("segment_write: %s", err.msg);
	for (uint64_t i = 0; i < sealed; i++)
		free(iov[i].iov_base);

	/* A tile whose file has other bytes is kept; the others go. */
	flip_byte(logdir, "tile/0/001", 40);
	assert_int_equal(tiles_drop_level0(logdir, 0, sealed, (const uint8_t (*)[H])r.lv[0],
					   &dropped, &err), LS_OK);
	assert_int_equal(dropped, 2);
	flip_byte(logdir, "tile/0/001", 40);
	assert_int_equal(tiles_drop_level0(logdir, 0, sealed, (const uint8_t (*)[H])r.lv[0],
					   &dropped, &err), LS_OK);
	assert_int_equal(dropped, 1);
	for (int t = 0; t < 3; t++) {
		snprintf(p, sizeof(p), "%s/tile/0/00%d", logdir, t);
		assert_int_not_equal(access(p, F_OK), 0);
	}
	snprintf(p, sizeof(p), "%s/tile/0/003.p/232", logdir);
	assert_int_equal(access(p, F_OK), 0);

	/* The same bytes as the file had, for GET and for every node. */
	assert_int_equal(tiles_read_file(logdir, 0, 1, 256, &data, &len, &err), LS_OK);
	assert_int_equal(len, 256 * H);
	assert_memory_equal(data, r.lv[0][256], 256 * H);
	free(data);
	check_reader(logdir, &r, n);

	/* The writer reopens on them and, rebuilt from 0, skips them. */
	assert_int_equal(tiles_writer_open(logdir, n, &w, &err), LS_OK);
	tiles_writer_free(w);
	assert_int_equal(tiles_writer_open(logdir, 0, &w, &err), LS_OK);
	append_range(w, &r, 0, n);
	assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
	tiles_writer_free(w);
	snprintf(p, sizeof(p), "%s/tile/0/000", logdir);
	assert_int_not_equal(access(p, F_OK), 0);
	/* ... and refuses a leaf the segment does not hold. */
	assert_int_equal(tiles_writer_open(logdir, 0, &w, &err), LS_OK);
	memset(other, 0xab, H);
	assert_int_equal(tiles_writer_append(w, other, "x", 1), LS_OK);
	append_range(w, &r, 1, n);
	assert_int_equal(tiles_writer_flush(w, &err), LS_TAMPERED);
	tiles_writer_free(w);

	/* A static copy (no DIR/segments beside it): the tile is missing. */
	snprintf(p, sizeof(p), "%s/away", root);
	assert_int_equal(rename(segdir, p), 0);
	assert_int_equal(tiles_read_file(logdir, 0, 1, 256, &data, &len, &err), LS_NOTFOUND);
	assert_non_null(strstr(err.msg, "tile/0/001"));
	ref_free(&r);
	remove_dir(root);
}

static void test_reader_limits(void **state)
{
	struct ref r;
	struct tiles_reader *rd;
	struct ls_err err;
	uint8_t got[H], *data;
	size_t len;
	char *dir;

	(void)state;
	ref_build(&r, 512);
	dir = build_log(&r, 512);
	assert_int_equal(tiles_reader_open(dir, 512, &rd), LS_OK);
	assert_int_equal(tiles_node_hash(rd, 9, 0, got), LS_OK);
	assert_memory_equal(got, r.lv[9][0], H);
	assert_int_equal(tiles_node_hash(rd, 10, 0, got), LS_INVALID);
	assert_int_equal(tiles_node_hash(rd, 64, 0, got), LS_INVALID);
	assert_int_equal(tiles_node_hash(rd, 0, 512, got), LS_INVALID);
	tiles_reader_free(rd);
	/* a reader of a larger size than the tiles on disk */
	assert_int_equal(tiles_reader_open(dir, 1000, &rd), LS_OK);
	assert_int_equal(tiles_node_hash(rd, 0, 900, got), LS_NOTFOUND);
	tiles_reader_free(rd);

	assert_int_equal(tiles_read_file(dir, 0, 1, 256, &data, &len, &err), LS_OK);
	assert_int_equal(len, 8192);
	assert_memory_equal(data, r.lv[0][256], H);
	free(data);
	assert_int_equal(tiles_read_file(dir, 1, 0, 2, &data, &len, &err), LS_OK);
	assert_int_equal(len, 2 * H);
	free(data);
	assert_int_equal(tiles_read_file(dir, 0, 2, 256, &data, &len, &err), LS_NOTFOUND);
	assert_int_equal(tiles_read_file(dir, 0, 0, 0, &data, &len, &err), LS_INVALID);
	assert_int_equal(tiles_read_file(dir, 0, 0, 300, &data, &len, &err), LS_INVALID);
	assert_int_equal(tiles_reader_open("/nonexistent/test_tiles", 1, &rd), LS_NOTFOUND);
	ref_free(&r);
	remove_dir(dir);
}

static void test_checkpoint(void **state)
{
	static const char note1[] = "example.com/log\n1\nAAAA\n\n— sig\n";
	static const char note2[] = "example.com/log\n2\nBBBB\n\n— sig\n";
	struct ls_err err;
	char *dir = make_dir(), path[512], buf[128];
	FILE *fp;
	size_t n;

	(void)state;
	assert_int_equal(tiles_write_checkpoint(dir, note1, strlen(note1), &err), LS_OK);
	assert_int_equal(tiles_write_checkpoint(dir, note2, strlen(note2), &err), LS_OK);
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	assert_int_equal(n, strlen(note2));
	assert_memory_equal(buf, note2, n);
	assert_int_not_equal(tiles_write_checkpoint("/nonexistent/test_tiles", note1,
						    strlen(note1), &err), LS_OK);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_format),
		cmocka_unit_test(test_path_roundtrip),
		cmocka_unit_test(test_path_reject),
		cmocka_unit_test(test_write_small),
		cmocka_unit_test(test_write_65535),
		cmocka_unit_test(test_write_65536),
		cmocka_unit_test(test_write_65537),
		cmocka_unit_test(test_write_70000),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_flush_noop_and_partials_kept),
		cmocka_unit_test(test_append_limits),
		cmocka_unit_test(test_flush_failure_is_sticky),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_tampered_full_tile),
		cmocka_unit_test(test_sealed_level0),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_checkpoint),
	};

	return cmocka_run_group_tests_name("tiles", tests, NULL, NULL);
}
