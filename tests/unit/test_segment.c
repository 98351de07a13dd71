/*
 * test_segment.c - sealed segment files (store/segment.h, docs/FORMAT.md
 * §11): round trips plaintext and encrypted, the exact C2SP bundle bytes,
 * the leaf hashes, the documented header bytes (checked with zlib's crc32,
 * not the writer's), the streamed writer (same bytes, nothing left behind
 * by an abort, a short commit or a lost race), wrong keys, blocks moved within and between segments,
 * a flipped byte at every offset of small segments (verify must name the
 * region of the flip), truncation at every length of the tail and several
 * of the head.
 *
 * Leaf hashes are computed here with merkle_leaf_hash (RFC 6962, checked
 * against published vectors in test_merkle.c); tampering tests rewrite the
 * file's checksums from the format's description so that only the seal or
 * the leaf hashes can catch them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/merkle.h"
#include "store/keys.h"
#include "store/segment.h"

#define H LS_HASH_LEN

/* ------------------------------------------------------------ helpers */

struct set {
	uint32_t count;
	struct iovec *e;
	uint8_t (*h)[H];
	uint8_t *mem;
};

/* Entry i of a set: its length from size(i), bytes from i. */
typedef size_t (*sizer)(uint64_t i);

static size_t size_small(uint64_t i)
{
	size_t n = (size_t)((i * 2654435761u) >> 9) % 300;

	if (i % 97 == 3)
		return 0;
	if (i % 1000 == 7)
		return 65535;
	if (i % 333 == 1)
		return 1;
	return n;
}

static size_t size_tiny(uint64_t i)
{
	return (size_t)(i % 7);
}

static size_t size_max(uint64_t i)
{
	(void)i;
	return 65535;
}

static void set_make(struct set *s, uint64_t first, uint32_t count, sizer sz, uint32_t period)
{
	size_t total = 0, pos = 0;

	s->count = count;
	s->e = calloc(count, sizeof(*s->e));
	s->h = calloc(count, sizeof(*s->h));
	for (uint32_t i = 0; i < count; i++)
		total += sz(period ? i % period : first + i);
	s->mem = malloc(total + 1);
	assert_non_null(s->e);
	assert_non_null(s->h);
	assert_non_null(s->mem);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t id = period ? i % period : first + i;
		size_t n = sz(id);

		for (size_t j = 0; j < n; j++)
			s->mem[pos + j] = (uint8_t)(id * 131 + j * 7 + (j >> 8));
		s->e[i].iov_base = s->mem + pos;
		s->e[i].iov_len = n;
		merkle_leaf_hash(s->mem + pos, n, s->h[i]);
		pos += n;
	}
}

static void set_free(struct set *s)
{
	free(s->e);
	free(s->h);
	free(s->mem);
}

static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The layout of a segment file read from its footer (FORMAT.md §11). */
struct layout {
	uint64_t size, hashes, table, footer;
	uint32_t nblocks;
	uint64_t off[64];
	uint32_t stored[64];
};

static void layout_of(const uint8_t *b, size_t n, struct layout *l)
{
	const uint8_t *f = b + n - 64;

	l->size = n;
	l->footer = n - 64;
	l->hashes = be64(f);
	l->table = be64(f + 8);
	l->nblocks = be32(f + 36);
	assert_true(l->nblocks <= 64);
	for (uint32_t i = 0; i < l->nblocks; i++) {
		l->off[i] = be64(b + l->table + 24 * i);
		l->stored[i] = be32(b + l->table + 24 * i + 8);
	}
}

/* Recompute every checksum of the file (blocks, hash slices, table,
 * footer): what an attacker without the key can do. */
static void refresh_crcs(uint8_t *b, size_t n)
{
	struct layout l;
	uint32_t k = be32(b + 28), count = be32(b + 24);

	layout_of(b, n, &l);
	for (uint32_t i = 0; i < l.nblocks; i++) {
		uint8_t *t = b + l.table + 24 * i;
		uint64_t lo = (uint64_t)i * k * 256, hi = lo + (uint64_t)k * 256;

		if (hi > count)
			hi = count;
		put32(t + 16, (uint32_t)crc32(0, b + l.off[i], l.stored[i]));
		put32(t + 20, (uint32_t)crc32(0, b + l.hashes + lo * 32, (uInt)((hi - lo) * 32)));
	}
	put32(b + n - 64 + 40, (uint32_t)crc32(0, b + l.table, l.nblocks * 24));
	put32(b + n - 64 + 52, (uint32_t)crc32(0, b + n - 64, 52));
}

/* The offset named by an error message "<file> offset <X>: ...". */
static uint64_t named_offset(const char *msg)
{
	const char *p = strstr(msg, " offset ");

	if (!p)
		fail_msg("no offset in \"%s\"", msg);
	return strtoull(p + 8, NULL, 10);
}

/* The start of the region that holds byte x. */
static uint64_t region_of(const struct layout *l, uint32_t k, uint32_t count, uint64_t x)
{
	if (x < 48)
		return 0;
	for (uint32_t i = 0; i < l->nblocks; i++)
		if (x >= l->off[i] && x < l->off[i] + l->stored[i])
			return l->off[i];
	if (x >= l->hashes && x < l->table) {
		uint64_t leaf = (x - l->hashes) / 32;

		return l->hashes + (leaf / (256 * k)) * 256 * k * 32;
	}
	(void)count;
	if (x >= l->table && x < l->footer)
		return l->table;
	return l->footer;
}

/* ------------------------------------------------------------ fixture */

struct fx {
	char root[64];
	char dir[128];		/* plaintext segments */
	char data1[128], data2[128];
	char edir1[160], edir2[160];
	struct keyring *kr1, *kr2;
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

	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/ls-segment-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/plain/segments", fx->root);
	for (int i = 1; i <= 2; i++) {
		char *data = i == 1 ? fx->data1 : fx->data2;
		struct keyring **kr = i == 1 ? &fx->kr1 : &fx->kr2;
		struct keys_source src = { KEYS_SRC_FILE, keyfile };

		snprintf(data, 128, "%s/enc%d", fx->root, i);
		snprintf(keyfile, sizeof(keyfile), "%s/master%d.key", fx->root, i);
		snprintf(i == 1 ? fx->edir1 : fx->edir2, 160, "%s/segments", data);
		if (keys_init(data, &src, 1, &err) != LS_OK ||
		    keys_get(data, kr, &err) != LS_OK) {
			fprintf(stderr, "keys: %s\n", err.msg);
			return -1;
		}
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	keys_forget(fx->data1);
	keys_forget(fx->data2);
	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* ------------------------------------------------------------ round trips */

/* Everything read back equals the set: every entry, every bundle's exact
 * C2SP framing, the hashes, the iterator from two starts. */
static void check_all(struct segment *s, const struct set *set, uint64_t first)
{
	struct ls_err err;
	uint8_t *d;
	size_t n;

	assert_int_equal(segment_first(s), first);
	assert_int_equal(segment_count(s), set->count);
	for (uint32_t i = 0; i < set->count; i++) {
		assert_int_equal(segment_get(s, first + i, &d, &n, &err), LS_OK);
		assert_int_equal(n, set->e[i].iov_len);
		assert_memory_equal(d, set->e[i].iov_base, n);
		free(d);
	}
	for (uint32_t b = 0; b < set->count / 256; b++) {
		size_t want = 0, pos = 0;
		uint8_t *exp;

		for (uint32_t i = b * 256; i < b * 256 + 256; i++)
			want += 2 + set->e[i].iov_len;
		exp = malloc(want);
		for (uint32_t i = b * 256; i < b * 256 + 256; i++) {
			exp[pos] = (uint8_t)(set->e[i].iov_len >> 8);
			exp[pos + 1] = (uint8_t)set->e[i].iov_len;
			memcpy(exp + pos + 2, set->e[i].iov_base, set->e[i].iov_len);
			pos += 2 + set->e[i].iov_len;
		}
		assert_int_equal(segment_bundle(s, first / 256 + b, &d, &n, &err), LS_OK);
		assert_int_equal(n, want);
		assert_memory_equal(d, exp, want);
		free(d);
		free(exp);
	}
	{
		uint8_t (*hs)[H] = malloc((size_t)set->count * H);

		assert_int_equal(segment_hashes(s, first, set->count, hs, &err), LS_OK);
		assert_memory_equal(hs, set->h, (size_t)set->count * H);
		assert_int_equal(segment_hashes(s, first + 3, 300, hs, &err),
				 set->count >= 303 ? LS_OK : LS_NOTFOUND);
		if (set->count >= 303)
			assert_memory_equal(hs, set->h[3], 300 * H);
		free(hs);
	}
	for (int pass = 0; pass < 2; pass++) {
		uint64_t start = pass ? first + set->count / 2 + 1 : first, idx;
		struct segment_iter *it;
		const uint8_t *p;
		uint64_t want = start;

		assert_int_equal(segment_iter_open(s, start, &it, &err), LS_OK);
		while (segment_iter_next(it, &p, &n, &idx, &err) == LS_OK) {
			assert_int_equal(idx, want);
			assert_int_equal(n, set->e[idx - first].iov_len);
			assert_memory_equal(p, set->e[idx - first].iov_base, n);
			want++;
		}
		assert_int_equal(want, first + set->count);
		segment_iter_free(it);
	}
	assert_int_equal(segment_get(s, first + set->count, &d, &n, &err), LS_NOTFOUND);
	if (first)
		assert_int_equal(segment_get(s, first - 1, &d, &n, &err), LS_NOTFOUND);
	assert_int_equal(segment_bundle(s, first / 256 + set->count / 256, &d, &n, &err),
			 LS_NOTFOUND);
}

static void round_trip(struct fx *fx, struct keyring *kr, const char *dir, uint64_t first,
		       uint32_t count, sizer sz, unsigned k)
{
	struct segment_wopts o = { .block_bundles = k };
	struct segment *s;
	struct ls_err err;
	struct set set;
	char path[256];

	(void)fx;
	set_make(&set, first, count, sz, 0);
	if (segment_write_ex(dir, first, count, set.e, (const uint8_t (*)[H])set.h, kr, &o, &err) !=
	    LS_OK)
		fail_msg("write: %s", err.msg);
	segment_path(dir, first, path, sizeof(path));
	if (segment_open(path, kr, &s, &err) != LS_OK)
		fail_msg("open: %s", err.msg);
	check_all(s, &set, first);
	segment_close(s);
	if (segment_verify(path, kr, &err) != LS_OK)
		fail_msg("verify: %s", err.msg);
	/* Written once: a second write of the same first is refused. */
	assert_int_equal(segment_write_ex(dir, first, count, set.e, (const uint8_t (*)[H])set.h, kr,
					  &o, &err), LS_EXISTS);
	set_free(&set);
}

static void test_round_trip_plain(void **state)
{
	struct fx *fx = *state;

	round_trip(fx, NULL, fx->dir, 0, 256, size_small, 0);
	round_trip(fx, NULL, fx->dir, 256, 512, size_small, 1);
	round_trip(fx, NULL, fx->dir, 1024, 4096, size_small, 0);
	round_trip(fx, NULL, fx->dir, 8192, 4096, size_tiny, 16);
	round_trip(fx, NULL, fx->dir, 16384, 1280, size_small, 4);	/* last block short */
	round_trip(fx, NULL, fx->dir, 0x7fffffffff00ull, 256, size_max, 0);
}

static void test_round_trip_encrypted(void **state)
{
	struct fx *fx = *state;

	round_trip(fx, fx->kr1, fx->edir1, 0, 256, size_small, 0);
	round_trip(fx, fx->kr1, fx->edir1, 256, 512, size_small, 1);
	round_trip(fx, fx->kr1, fx->edir1, 1024, 4096, size_small, 0);
	round_trip(fx, fx->kr1, fx->edir1, 16384, 1280, size_tiny, 16);
	round_trip(fx, fx->kr1, fx->edir1, 0x7fffffffff00ull, 256, size_max, 2);
}

/* The header's bytes as FORMAT.md §11 gives them, CRC by zlib. */
static void test_header_bytes(void **state)
{
	struct fx *fx = *state;
	struct segment_wopts o = { .block_bundles = 2 };
	struct ls_err err;
	struct set set;
	char path[256];
	uint8_t *b;
	size_t n;
	struct layout l;

	set_make(&set, 0x1200, 768, size_small, 0);
	assert_int_equal(segment_write_ex(fx->dir, 0x1200, 768, set.e,
					  (const uint8_t (*)[H])set.h, NULL, &o, &err), LS_OK);
	segment_path(fx->dir, 0x1200, path, sizeof(path));
	assert_non_null(strstr(path, "/0000000000001200.seal"));
	b = slurp(path, &n);
	assert_memory_equal(b, "LSSEAL01", 8);
	assert_int_equal(be32(b + 8), 1);
	assert_int_equal(be32(b + 12), 0);
	assert_int_equal(be64(b + 16), 0x1200);
	assert_int_equal(be32(b + 24), 768);
	assert_int_equal(be32(b + 28), 2);
	assert_int_equal(be32(b + 32), 0);
	assert_int_equal(be64(b + 36), 0);
	assert_int_equal(be32(b + 44), (uint32_t)crc32(0, b, 44));
	layout_of(b, n, &l);
	assert_int_equal(l.nblocks, 2);
	assert_int_equal(l.off[0], 48);
	assert_int_equal(l.off[1], 48 + l.stored[0]);
	assert_int_equal(l.hashes, l.off[1] + l.stored[1]);
	assert_memory_equal(b + l.hashes, set.h, 768 * H);
	assert_int_equal(l.table, l.hashes + 768 * H);
	assert_int_equal(l.footer, l.table + 2 * 24);
	/* raw length of block 0: 512 entries framed */
	{
		size_t raw = 0;

		for (int i = 0; i < 512; i++)
			raw += 2 + set.e[i].iov_len;
		assert_int_equal(be32(b + l.table + 12), raw);
		assert_int_equal(be32(b + l.table + 16), (uint32_t)crc32(0, b + 48, l.stored[0]));
		assert_int_equal(be32(b + l.table + 20), (uint32_t)crc32(0, b + l.hashes, 512 * H));
	}
	assert_int_equal(be64(b + n - 64 + 16), n);
	assert_int_equal(be64(b + n - 64 + 24), 0x1200);
	assert_int_equal(be32(b + n - 64 + 32), 768);
	assert_int_equal(be32(b + n - 64 + 40), (uint32_t)crc32(0, b + l.table, 48));
	assert_int_equal(be64(b + n - 64 + 44), 0);
	assert_int_equal(be32(b + n - 64 + 52), (uint32_t)crc32(0, b + n - 64, 52));
	assert_memory_equal(b + n - 8, "LSSEAL01", 8);
	/* Plaintext blocks are one zstd frame each (magic 28 b5 2f fd). */
	assert_int_equal(be32(b + 48), 0x28b52ffd);
	free(b);
	set_free(&set);
}

static void test_bad_args(void **state)
{
	struct fx *fx = *state;
	struct segment_wopts o = { .block_bundles = 17 };
	struct ls_err err;
	struct set set;

	set_make(&set, 0, 512, size_tiny, 0);
	assert_int_equal(segment_write(fx->dir, 1, 256, set.e, (const uint8_t (*)[H])set.h, NULL,
				       &err), LS_INVALID);
	assert_int_equal(segment_write(fx->dir, 0, 255, set.e, (const uint8_t (*)[H])set.h, NULL,
				       &err), LS_INVALID);
	assert_int_equal(segment_write(fx->dir, 0, 0, set.e, (const uint8_t (*)[H])set.h, NULL,
				       &err), LS_INVALID);
	assert_int_equal(segment_write_ex(fx->dir, 0, 256, set.e, (const uint8_t (*)[H])set.h,
					  NULL, &o, &err), LS_INVALID);
	set.e[5].iov_len = 65536;
	assert_int_equal(segment_write(fx->dir, 0, 256, set.e, (const uint8_t (*)[H])set.h, NULL,
				       &err), LS_INVALID);
	set_free(&set);
}

/* Files in dir (temporary ones included). */
static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The streamed writer: leaf hashes computed when not given, the same file
 * as segment_write(), and nothing left behind by an abort or a short
 * commit. */
static void test_writer_stream(void **state)
{
	struct fx *fx = *state;
	struct segment_writer *w;
	struct segment *s;
	struct ls_err err;
	struct set set;
	char d1[200], d2[200], p1[256], p2[256];
	uint8_t *a, *b;
	size_t na, nb;

	set_make(&set, 0, 768, size_small, 0);
	snprintf(d1, sizeof(d1), "%s/stream1", fx->root);
	snprintf(d2, sizeof(d2), "%s/stream2", fx->root);
	assert_int_equal(segment_write(d1, 0x300, 768, set.e, (const uint8_t (*)[H])set.h, NULL,
				       &err), LS_OK);
	assert_int_equal(segment_writer_open(d2, 0x300, 768, NULL, NULL, &w, &err), LS_OK);
	for (uint32_t i = 0; i < 768; i++)
		assert_int_equal(segment_writer_add(w, set.e[i].iov_base, set.e[i].iov_len,
						    i % 2 ? set.h[i] : NULL, &err), LS_OK);
	assert_int_equal(segment_writer_add(w, "x", 1, NULL, &err), LS_INVALID);
	assert_int_equal(segment_writer_commit(w, &err), LS_OK);
	segment_path(d1, 0x300, p1, sizeof(p1));
	segment_path(d2, 0x300, p2, sizeof(p2));
	a = slurp(p1, &na);
	b = slurp(p2, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
	assert_int_equal(segment_open(p2, NULL, &s, &err), LS_OK);
	check_all(s, &set, 0x300);
	segment_close(s);
	assert_int_equal(files_in(d2), 1);

	/* Aborted, short, and too long an entry: no file, no temporary. */
	assert_int_equal(segment_writer_open(d2, 0x1000, 256, fx->kr1, NULL, &w, &err), LS_OK);
	assert_int_equal(segment_writer_add(w, "abc", 3, NULL, &err), LS_OK);
	assert_int_equal(files_in(d2), 2);
	segment_writer_abort(w);
	assert_int_equal(files_in(d2), 1);
	assert_int_equal(segment_writer_open(d2, 0x1000, 256, NULL, NULL, &w, &err), LS_OK);
	for (uint32_t i = 0; i < 255; i++)
		assert_int_equal(segment_writer_add(w, "abc", 3, NULL, &err), LS_OK);
	assert_int_equal(segment_writer_commit(w, &err), LS_INVALID);
	assert_int_equal(files_in(d2), 1);
	assert_int_equal(segment_writer_open(d2, 0x1000, 256, NULL, NULL, &w, &err), LS_OK);
	assert_int_equal(segment_writer_add(w, set.mem, 65536, NULL, &err), LS_INVALID);
	segment_writer_abort(w);
	assert_int_equal(files_in(d2), 1);
	/* Two writers of one segment: the second to commit finds it there. */
	{
		struct segment_writer *w2;

		assert_int_equal(segment_writer_open(d2, 0x2000, 256, NULL, NULL, &w, &err), LS_OK);
		assert_int_equal(segment_writer_open(d2, 0x2000, 256, NULL, NULL, &w2, &err), LS_OK);
		for (uint32_t i = 0; i < 256; i++) {
			assert_int_equal(segment_writer_add(w, "a", 1, NULL, &err), LS_OK);
			assert_int_equal(segment_writer_add(w2, "b", 1, NULL, &err), LS_OK);
		}
		assert_int_equal(segment_writer_commit(w, &err), LS_OK);
		assert_int_equal(segment_writer_commit(w2, &err), LS_EXISTS);
		assert_int_equal(files_in(d2), 2);
	}
	set_free(&set);
}

/* ------------------------------------------------------------ keys */

static void test_wrong_key(void **state)
{
	struct fx *fx = *state;
	struct segment *s;
	struct ls_err err;
	struct set set;
	char path[256], other[300];
	uint8_t *d;
	size_t n;

	set_make(&set, 0, 512, size_small, 0);
	assert_int_equal(segment_write(fx->edir1, 0, 512, set.e, (const uint8_t (*)[H])set.h,
				       fx->kr1, &err), LS_OK);
	segment_path(fx->edir1, 0, path, sizeof(path));
	/* Data key 1 of another directory: opens, but nothing authenticates. */
	assert_int_equal(segment_open(path, fx->kr2, &s, &err), LS_OK);
	assert_int_equal(segment_get(s, 5, &d, &n, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "offset 48: block 0 does not authenticate"));
	assert_int_equal(segment_bundle(s, 1, &d, &n, &err), LS_TAMPERED);
	segment_close(s);
	assert_int_equal(segment_verify(path, fx->kr2, &err), LS_TAMPERED);
	/* No keyring for an encrypted segment; a keyring for a plaintext one. */
	assert_int_equal(segment_open(path, NULL, &s, &err), LS_INVALID);
	snprintf(other, sizeof(other), "%s/x", fx->root);
	assert_int_equal(segment_write(other, 0, 512, set.e, (const uint8_t (*)[H])set.h, NULL,
				       &err), LS_OK);
	segment_path(other, 0, path, sizeof(path));
	assert_int_equal(segment_open(path, fx->kr1, &s, &err), LS_TAMPERED);
	set_free(&set);
}

/* After a new data key: new segments are sealed with it, older ones still
 * read with theirs; a keyring without the segment's key refuses it. */
static void test_key_rotation(void **state)
{
	struct fx *fx = *state;
	uint8_t key[LS_AEAD_KEY_LEN], *b, *d;
	struct segment *s;
	struct ls_err err;
	struct set set;
	char p1[256], p2[256];
	uint32_t id;
	size_t n;

	set_make(&set, 0, 256, size_small, 0);
	assert_int_equal(segment_write(fx->edir1, 0, 256, set.e, (const uint8_t (*)[H])set.h,
				       fx->kr1, &err), LS_OK);
	assert_int_equal(keys_new_data_key(fx->kr1, &id, key, &err), LS_OK);
	ls_wipe(key, sizeof(key));
	assert_int_equal(id, 2);
	assert_int_equal(segment_write(fx->edir1, 256, 256, set.e, (const uint8_t (*)[H])set.h,
				       fx->kr1, &err), LS_OK);
	segment_path(fx->edir1, 0, p1, sizeof(p1));
	segment_path(fx->edir1, 256, p2, sizeof(p2));
	b = slurp(p1, &n);
	assert_int_equal(be32(b + 32), 1);
	free(b);
	b = slurp(p2, &n);
	assert_int_equal(be32(b + 32), 2);
	free(b);
	assert_int_equal(segment_verify(p1, fx->kr1, &err), LS_OK);
	assert_int_equal(segment_verify(p2, fx->kr1, &err), LS_OK);
	assert_int_equal(segment_open(p2, fx->kr2, &s, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "offset 32: unknown data key 2"));
	assert_int_equal(segment_open(p1, fx->kr1, &s, &err), LS_OK);
	assert_int_equal(segment_get(s, 17, &d, &n, &err), LS_OK);
	assert_int_equal(n, set.e[17].iov_len);
	assert_memory_equal(d, set.e[17].iov_base, n);
	free(d);
	segment_close(s);
	set_free(&set);
}

/* Ciphertexts are not deterministic (random nonces), plaintext files are. */
static void test_deterministic(void **state)
{
	struct fx *fx = *state;
	char d1[200], d2[200], p1[256], p2[256];
	struct ls_err err;
	struct set set;
	uint8_t *a, *b;
	size_t na, nb;

	set_make(&set, 0, 1024, size_small, 0);
	for (int enc = 0; enc < 2; enc++) {
		snprintf(d1, sizeof(d1), "%s/det%d-1", fx->root, enc);
		snprintf(d2, sizeof(d2), "%s/det%d-2", fx->root, enc);
		assert_int_equal(segment_write(d1, 0, 1024, set.e, (const uint8_t (*)[H])set.h,
					       enc ? fx->kr1 : NULL, &err), LS_OK);
		assert_int_equal(segment_write(d2, 0, 1024, set.e, (const uint8_t (*)[H])set.h,
					       enc ? fx->kr1 : NULL, &err), LS_OK);
		segment_path(d1, 0, p1, sizeof(p1));
		segment_path(d2, 0, p2, sizeof(p2));
		a = slurp(p1, &na);
		b = slurp(p2, &nb);
		assert_int_equal(na, nb);
		if (enc)
			assert_memory_not_equal(a + 48, b + 48, 12);
		else
			assert_memory_equal(a, b, na);
		free(a);
		free(b);
	}
	set_free(&set);
}

/* ------------------------------------------------------------ tampering */

/* Blocks of identical content moved within and between segments, with
 * every checksum recomputed: the associated data must catch it. */
static void test_blocks_swapped(void **state)
{
	struct fx *fx = *state;
	struct segment_wopts o = { .block_bundles = 1 };
	struct segment *s;
	struct ls_err err;
	struct set set;
	char pa[256], pb[256];
	uint8_t *a, *b, *d, tmp[65536];
	size_t na, nb, n;
	struct layout la, lb;

	/* Period 256: every block holds the same entries (and leaf hashes). */
	set_make(&set, 0, 512, size_small, 256);
	assert_int_equal(segment_write_ex(fx->edir1, 0x10000, 512, set.e,
					  (const uint8_t (*)[H])set.h, fx->kr1, &o, &err), LS_OK);
	assert_int_equal(segment_write_ex(fx->edir1, 0x20000, 512, set.e,
					  (const uint8_t (*)[H])set.h, fx->kr1, &o, &err), LS_OK);
	segment_path(fx->edir1, 0x10000, pa, sizeof(pa));
	segment_path(fx->edir1, 0x20000, pb, sizeof(pb));
	a = slurp(pa, &na);
	b = slurp(pb, &nb);
	layout_of(a, na, &la);
	layout_of(b, nb, &lb);
	assert_int_equal(la.stored[0], lb.stored[0]);
	assert_int_equal(la.stored[0], la.stored[1]);
	assert_true(la.stored[0] <= sizeof(tmp));

	/* Between segments: A's block 0 replaced by B's block 0. */
	memcpy(a + la.off[0], b + lb.off[0], la.stored[0]);
	refresh_crcs(a, na);
	spit(pa, a, na);
	assert_int_equal(segment_open(pa, fx->kr1, &s, &err), LS_OK);
	assert_int_equal(segment_get(s, 0x10000 + 1, &d, &n, &err), LS_TAMPERED);
	assert_int_equal(named_offset(err.msg), la.off[0]);
	assert_int_equal(segment_get(s, 0x10000 + 257, &d, &n, &err), LS_OK);
	free(d);
	segment_close(s);
	assert_int_equal(segment_verify(pa, fx->kr1, &err), LS_TAMPERED);

	/* Within B: blocks 0 and 1 exchanged. */
	memcpy(tmp, b + lb.off[0], lb.stored[0]);
	memcpy(b + lb.off[0], b + lb.off[1], lb.stored[0]);
	memcpy(b + lb.off[1], tmp, lb.stored[0]);
	refresh_crcs(b, nb);
	spit(pb, b, nb);
	assert_int_equal(segment_verify(pb, fx->kr1, &err), LS_TAMPERED);
	assert_int_equal(named_offset(err.msg), lb.off[0]);

	/* A segment renamed to another first leaf. */
	{
		char pc[256];

		segment_path(fx->edir1, 0x30000, pc, sizeof(pc));
		assert_int_equal(rename(pb, pc), 0);
		assert_int_equal(segment_open(pc, fx->kr1, &s, &err), LS_CORRUPT);
	}
	free(a);
	free(b);
	set_free(&set);
}

/* A stored leaf hash changed with its checksum recomputed: the entry no
 * longer matches (plaintext, where there is no seal). */
static void test_leaf_hash_altered(void **state)
{
	struct fx *fx = *state;
	struct segment *s;
	struct ls_err err;
	struct set set;
	char path[256];
	uint8_t *b, *d;
	size_t n, dn;
	struct layout l;

	set_make(&set, 0, 512, size_small, 0);
	assert_int_equal(segment_write(fx->dir, 0x40000, 512, set.e, (const uint8_t (*)[H])set.h,
				       NULL, &err), LS_OK);
	segment_path(fx->dir, 0x40000, path, sizeof(path));
	b = slurp(path, &n);
	layout_of(b, n, &l);
	b[l.hashes + 300 * H + 7] ^= 0x40;
	refresh_crcs(b, n);
	spit(path, b, n);
	assert_int_equal(segment_open(path, NULL, &s, &err), LS_OK);
	assert_int_equal(segment_get(s, 0x40000 + 299, &d, &dn, &err), LS_OK);
	free(d);
	assert_int_equal(segment_get(s, 0x40000 + 300, &d, &dn, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "entry 262444 does not match its leaf hash"));
	assert_int_equal(segment_bundle(s, 0x40000 / 256 + 1, &d, &dn, &err), LS_TAMPERED);
	assert_int_equal(segment_bundle(s, 0x40000 / 256, &d, &dn, &err), LS_OK);
	free(d);
	{
		struct segment_iter *it;
		const uint8_t *p;
		uint64_t idx, good = 0;
		ls_rc rc;

		assert_int_equal(segment_iter_open(s, 0x40000, &it, &err), LS_OK);
		while ((rc = segment_iter_next(it, &p, &dn, &idx, &err)) == LS_OK)
			good++;
		assert_int_equal(rc, LS_TAMPERED);
		assert_int_equal(good, 300);
		segment_iter_free(it);
		/* From the end: nothing; past it: refused. */
		assert_int_equal(segment_iter_open(s, 0x40000 + 512, &it, &err), LS_OK);
		assert_int_equal(segment_iter_next(it, &p, &dn, &idx, &err), LS_NOTFOUND);
		segment_iter_free(it);
		assert_int_equal(segment_iter_open(s, 0x40000 + 513, &it, &err), LS_INVALID);
		assert_int_equal(segment_iter_open(s, 0x40000 - 1, &it, &err), LS_INVALID);
	}
	segment_close(s);
	assert_int_equal(segment_verify(path, NULL, &err), LS_TAMPERED);
	free(b);
	set_free(&set);
}

/* Flip one byte at every offset: verify fails and names the region. */
static void flip_everywhere(struct fx *fx, struct keyring *kr, const char *dir, unsigned k)
{
	struct segment_wopts o = { .block_bundles = k };
	struct ls_err err;
	struct set set;
	char path[256];
	uint8_t *b;
	size_t n;
	struct layout l;
	int fd;

	(void)fx;
	set_make(&set, 0, 768, size_tiny, 0);
	assert_int_equal(segment_write_ex(dir, 0x50000, 768, set.e, (const uint8_t (*)[H])set.h,
					  kr, &o, &err), LS_OK);
	segment_path(dir, 0x50000, path, sizeof(path));
	b = slurp(path, &n);
	layout_of(b, n, &l);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	for (size_t x = 0; x < n; x++) {
		uint8_t mask = (uint8_t)(1u << (x % 8)), v = b[x] ^ mask;
		ls_rc rc;

		assert_int_equal(pwrite(fd, &v, 1, (off_t)x), 1);
		rc = segment_verify(path, kr, &err);
		if (rc != LS_CORRUPT && rc != LS_TAMPERED)
			fail_msg("flip at %zu of %zu: %s (%s)", x, n, ls_rc_name(rc), err.msg);
		if (named_offset(err.msg) != region_of(&l, k, 768, x))
			fail_msg("flip at %zu: region %llu, reported \"%s\"", x,
				 (unsigned long long)region_of(&l, k, 768, x), err.msg);
		assert_int_equal(pwrite(fd, &b[x], 1, (off_t)x), 1);
	}
	close(fd);
	assert_int_equal(segment_verify(path, kr, &err), LS_OK);
	unlink(path);
	free(b);
	set_free(&set);
}

static void test_flip_plain(void **state)
{
	struct fx *fx = *state;

	flip_everywhere(fx, NULL, fx->dir, 1);
	flip_everywhere(fx, NULL, fx->dir, 2);
}

static void test_flip_encrypted(void **state)
{
	struct fx *fx = *state;

	flip_everywhere(fx, fx->kr1, fx->edir1, 1);
}

/* Truncated files fail at open with LS_CORRUPT, never crash. */
static void test_truncated(void **state)
{
	struct fx *fx = *state;
	struct segment *s;
	struct ls_err err;
	struct set set;
	char path[256];
	uint8_t *b;
	size_t n;

	set_make(&set, 0, 512, size_small, 0);
	assert_int_equal(segment_write(fx->edir1, 0x60000, 512, set.e, (const uint8_t (*)[H])set.h,
				       fx->kr1, &err), LS_OK);
	segment_path(fx->edir1, 0x60000, path, sizeof(path));
	b = slurp(path, &n);
	for (size_t len = 0; len < n; len += (len < 200 || len > n - 200) ? 1 : 997) {
		spit(path, b, len);
		assert_int_equal(segment_open(path, fx->kr1, &s, &err), LS_CORRUPT);
		assert_non_null(strstr(err.msg, " offset "));
	}
	/* One byte more is no better. */
	b[n] = 0;
	spit(path, b, n + 1);
	assert_int_equal(segment_open(path, fx->kr1, &s, &err), LS_CORRUPT);
	unlink(path);
	assert_int_equal(segment_open(path, fx->kr1, &s, &err), LS_NOTFOUND);
	free(b);
	set_free(&set);
}

/* ------------------------------------------------------------ threads */

struct reader_arg {
	struct segment *s;
	const struct set *set;
	unsigned seed;
	int bad;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	struct ls_err err;

	for (int r = 0; r < 3000; r++) {
		uint32_t i = (uint32_t)rand_r(&a->seed) % a->set->count;
		uint8_t *d;
		size_t n;

		if (segment_get(a->s, i, &d, &n, &err) != LS_OK || n != a->set->e[i].iov_len ||
		    memcmp(d, a->set->e[i].iov_base, n) != 0)
			a->bad++;
		else
			free(d);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *fx = *state;
	struct segment_wopts o = { .block_bundles = 1 };
	struct reader_arg args[4];
	pthread_t th[4];
	struct segment *s;
	struct ls_err err;
	struct set set;
	char path[256];

	set_make(&set, 0, 2048, size_small, 0);
	assert_int_equal(segment_write_ex(fx->edir2, 0, 2048, set.e, (const uint8_t (*)[H])set.h,
					  fx->kr2, &o, &err), LS_OK);
	segment_path(fx->edir2, 0, path, sizeof(path));
	assert_int_equal(segment_open(path, fx->kr2, &s, &err), LS_OK);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct reader_arg){ .s = s, .set = &set, .seed = (unsigned)i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
	}
	segment_close(s);
	set_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_encrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_swapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaf_hash_altered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip_encrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
