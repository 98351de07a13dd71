/*
 * test_tier - sealed segments kept in the bucket only (store/tier.h) and
 * the bounded cache they are read through.  The "bucket" here is a local
 * directory behind tier_set_fetch() (the object store is tested by the
 * integration tests t0745/t0750 against RGW):
 *  - a log of 6 segments of 256 leaves, the first 4 moved out as retention
 *    does it (level-0 tiles written back, remote list, local retained
 *    point, local file deleted): store_retained() is still 0, iterators
 *    from every start, store_reader_get() and store_bundle() give every
 *    entry byte for byte;
 *  - the cache never holds more than its budget (one segment's worth; then
 *    less than one segment: nothing stays, reads still work), evictions
 *    counted, least recently used first;
 *  - a tampered object is refused with its key named, is not served and
 *    leaves no file in the cache; a short one too;
 *  - the remote list refuses a gap; removing a segment from it moves the
 *    readable point up.
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

#include "base/crypto.h"
#include "base/fsutil.h"
#include "store/check.h"
#include "store/log.h"
#include "store/reader.h"
#include "store/tier.h"

#define L 256
#define NSEG 6
#define NREMOTE 4

static char root[64], dir[128], jdir[160], bucket[160];
static unsigned fetches;

static size_t entry(uint64_t i, char *buf, size_t cap)
{
	int pad = (int)(i * 41 % 400);

	return (size_t)snprintf(buf, cap, "{\"i\":%llu,\"m\":\"tier\",\"pad\":\"%0*d\"}",
				(unsigned long long)i, pad, 3);
}

static void rm_rf(const char *p)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	assert_int_equal(system(cmd), 0);
}

/* The test's bucket: copy bucket/<key> to path. */
static ls_rc local_fetch(void *ctx, const char *datadir, const char *key, const char *path,
			 struct ls_err *err)
{
	char src[512], *data;
	size_t len;
	ls_rc rc;

	(void)ctx;
	(void)datadir;
	fetches++;
	snprintf(src, sizeof(src), "%s/%s", bucket, key);
	rc = fs_read_file(src, 1u << 30, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	rc = fs_write_file(path, data, len, 0600, 0, err);
	free(data);
	return rc;
}

/* Bytes and files in DIR/cache/segments. */
static uint64_t cache_bytes(unsigned *files)
{
	char p[256], f[600];
	struct dirent *e;
	struct stat st;
	uint64_t total = 0;
	DIR *d;

	*files = 0;
	snprintf(p, sizeof(p), "%s/" TIER_CACHE_SUBDIR, dir);
	d = opendir(p);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", p, e->d_name);
		assert_int_equal(stat(f, &st), 0);
		total += (uint64_t)st.st_size;
		(*files)++;
	}
	closedir(d);
	return total;
}

static uint64_t seg_bytes[NSEG];

/* A log of NSEG sealed segments, the first NREMOTE moved to the bucket. */
static void make(void)
{
	struct log_opts lo = { 0 };
	struct ls_err err = { "" };
	struct log *l = NULL;
	static char text[1024];
	char p[512], q[512];
	uint64_t first;

	snprintf(root, sizeof(root), "/tmp/test_tier.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	snprintf(bucket, sizeof(bucket), "%s/bucket", root);
	if (log_init(dir, "tier.test/x", &err) != LS_OK)
		fail_msg("log_init: %s", err.msg);
	lo.dir = dir;
	lo.segment_leaves = L;
	lo.checkpoint_interval_ms = 20;
	if (log_open(&lo, &l, NULL, &err) != LS_OK)
		fail_msg("log_open: %s", err.msg);
	for (uint64_t i = 0; i < (NSEG * L) + 10; i++) {
		struct iovec iov = { text, entry(i, text, sizeof(text)) };

		if (log_append(l, &iov, 1, &first, &err) != LS_OK)
			fail_msg("append: %s", err.msg);
		if (i % 100 == 99)
			assert_int_equal(log_checkpoint(l, &err), LS_OK);
	}
	assert_int_equal(log_checkpoint(l, &err), LS_OK);
	assert_int_equal(log_close(l, &err), LS_OK);
	if (log_open(&lo, &l, NULL, &err) != LS_OK)
		fail_msg("log_open: %s", err.msg);
	assert_int_equal(log_close(l, &err), LS_OK);
	snprintf(p, sizeof(p), "%s/segments", bucket);
	assert_int_equal(fs_mkdirs(p, 0700, &err), LS_OK);
	for (unsigned k = 0; k < NSEG; k++) {
		struct stat st;

		store_sealed_path(dir, (uint64_t)k * L, p, sizeof(p));
		if (stat(p, &st) != 0)
			fail_msg("segment %u was not sealed", k);
		seg_bytes[k] = (uint64_t)st.st_size;
	}
	for (unsigned k = 0; k < NREMOTE; k++) {
		struct tier_seg s = { (uint64_t)k * L, L, 0, { 0 } };
		char *data;
		size_t len;

		assert_int_equal(store_sealed_keep_tiles(dir, s.first, &err), LS_OK);
		store_sealed_path(dir, s.first, p, sizeof(p));
		assert_int_equal(fs_read_file(p, 1u << 30, &data, &len, &err), LS_OK);
		snprintf(q, sizeof(q), "%s/segments/%016llx.seal", bucket,
			 (unsigned long long)s.first);
		assert_int_equal(fs_write_file(q, data, len, 0600, 0, &err), LS_OK);
		s.bytes = len;
		ls_sha256(data, len, NULL, 0, s.sha256);
		free(data);
		assert_int_equal(tier_remote_add(dir, &s, &err), LS_OK);
		assert_int_equal(store_set_retained(jdir, s.first + L, &err), LS_OK);
		assert_int_equal(unlink(p), 0);
	}
	tier_set_fetch(local_fetch, NULL);
}

static void check_iter(uint64_t start)
{
	struct store_iter *it;
	struct ls_err err = { "" };
	const uint8_t *data;
	size_t len;
	uint64_t idx, want = start;
	char text[1024];

	if (store_iter_open(jdir, start, 0, &it, &err) != LS_OK)
		fail_msg("iter_open: %s", err.msg);
	for (;;) {
		ls_rc rc = store_iter_next(it, &data, &len, &idx, &err);

		if (rc == LS_NOTFOUND)
			break;
		if (rc != LS_OK)
			fail_msg("iter at %llu: %s", (unsigned long long)want, err.msg);
		assert_int_equal(idx, want);
		assert_int_equal(len, entry(idx, text, sizeof(text)));
		assert_memory_equal(data, text, len);
		want++;
	}
	assert_int_equal(want, NSEG * L + 10);
	store_iter_free(it);
}

static void test_reads_and_bound(void **state)
{
	struct ls_err err = { "" };
	struct store_reader *r;
	struct tier_stats st;
	uint64_t kept, max = 0, used;
	unsigned files;
	char text[1024];

	(void)state;
	make();
	for (unsigned k = 0; k < NSEG; k++)
		if (seg_bytes[k] > max)
			max = seg_bytes[k];
	/* Room for one segment, not two. */
	tier_set_budget(max + max / 2);
	assert_int_equal(store_retained(jdir, &kept, &err), LS_OK);
	assert_int_equal(kept, 0);
	assert_int_equal(tier_local_retained(jdir, &kept, &err), LS_OK);
	assert_int_equal(kept, NREMOTE * L);

	for (uint64_t s = 0; s < NSEG * L; s += 300) {
		check_iter(s);
		used = cache_bytes(&files);
		assert_true(used <= max + max / 2);
		assert_true(files <= 1);
	}
	assert_int_equal(store_reader_open(jdir, &r, &err), LS_OK);
	for (uint64_t i = 0; i < NREMOTE * L; i += 37) {
		struct store_pass pass = { 0 };
		uint8_t *d;
		size_t len;

		if (store_reader_get(r, &pass, i, UINT64_MAX, &d, &len, &err) != LS_OK)
			fail_msg("get %llu: %s", (unsigned long long)i, err.msg);
		assert_int_equal(len, entry(i, text, sizeof(text)));
		assert_memory_equal(d, text, len);
		free(d);
		assert_true(cache_bytes(&files) <= max + max / 2);
	}
	store_reader_free(r);
	for (uint64_t n = 0; n < NREMOTE; n++) {
		uint8_t *d;
		size_t len, pos = 0;

		if (store_bundle(jdir, n, 256, &d, &len, &err) != LS_OK)
			fail_msg("bundle %llu: %s", (unsigned long long)n, err.msg);
		for (unsigned i = 0; i < 256; i++) {
			size_t el = entry(n * 256 + i, text, sizeof(text));

			assert_true(pos + 2 + el <= len);
			assert_int_equal(((size_t)d[pos] << 8) | d[pos + 1], el);
			assert_memory_equal(d + pos + 2, text, el);
			pos += 2 + el;
		}
		assert_int_equal(pos, len);
		free(d);
	}
	tier_stats_of(dir, &st);
	assert_true(st.evictions > 0);
	assert_true(st.misses >= NREMOTE);
	assert_true(st.bytes <= max + max / 2);

	/* A budget smaller than one segment: nothing stays, reads work. */
	tier_set_budget(max / 4);
	fetches = 0;
	check_iter(0);
	assert_int_equal(cache_bytes(&files), 0);
	assert_int_equal(files, 0);
	assert_true(fetches >= NREMOTE);
	tier_set_budget(0);
	rm_rf(root);
}

static void test_tampered(void **state)
{
	struct ls_err err = { "" };
	struct store_reader *r;
	struct store_pass pass = { 0 };
	char p[512];
	uint8_t *d;
	size_t len;
	unsigned files;
	FILE *f;
	ls_rc rc;

	(void)state;
	make();
	tier_set_budget(0);
	/* Flip a byte in the middle of the bucket's copy of segment 2. */
	snprintf(p, sizeof(p), "%s/segments/%016llx.seal", bucket, (unsigned long long)(2 * L));
	f = fopen(p, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)(seg_bytes[2] / 2), SEEK_SET), 0);
	{
		int c = fgetc(f);

		assert_int_equal(fseek(f, (long)(seg_bytes[2] / 2), SEEK_SET), 0);
		fputc(c ^ 0x40, f);
	}
	fclose(f);
	assert_int_equal(store_reader_open(jdir, &r, &err), LS_OK);
	rc = store_reader_get(r, &pass, 2 * L + 5, UINT64_MAX, &d, &len, &err);
	assert_int_equal(rc, LS_TAMPERED);
	assert_non_null(strstr(err.msg, "segments/0000000000000200.seal"));
	/* Segment 1 reads; no copy of segment 2 was kept. */
	memset(&pass, 0, sizeof(pass));
	assert_int_equal(store_reader_get(r, &pass, L + 5, UINT64_MAX, &d, &len, &err), LS_OK);
	free(d);
	snprintf(p, sizeof(p), "%s/" TIER_CACHE_SUBDIR "/%016llx.seal", dir,
		 (unsigned long long)(2 * L));
	assert_int_equal(access(p, F_OK), -1);
	store_reader_free(r);
	/* A short object: also refused, by the key. */
	snprintf(p, sizeof(p), "%s/segments/%016llx.seal", bucket, (unsigned long long)(3 * L));
	assert_int_equal(truncate(p, (off_t)(seg_bytes[3] - 1)), 0);
	rc = store_bundle(jdir, 3, 256, &d, &len, &err);
	assert_int_equal(rc, LS_TAMPERED);
	assert_non_null(strstr(err.msg, "segments/0000000000000300.seal"));
	assert_true(cache_bytes(&files) > 0);	/* segment 1's copy */
	rm_rf(root);
}

static void test_list(void **state)
{
	struct ls_err err = { "" };
	struct tier_seg gap = { 9 * L, L, 10, { 0 } }, *v;
	uint64_t kept;
	size_t n;

	(void)state;
	make();
	assert_int_equal(tier_remote_add(dir, &gap, &err), LS_INVALID);
	assert_int_equal(tier_remote_load(dir, &v, &n, &err), LS_OK);
	assert_int_equal(n, NREMOTE);
	assert_int_equal(v[3].first, 3 * L);
	assert_int_equal(v[3].count, L);
	free(v);
	/* Purge of the first: readable from segment 1 on. */
	assert_int_equal(tier_remote_remove(dir, 0, &err), LS_OK);
	assert_int_equal(store_retained(jdir, &kept, &err), LS_OK);
	assert_int_equal(kept, L);
	assert_int_equal(tier_remote_remove(dir, 1 * L, &err), LS_OK);
	assert_int_equal(tier_remote_remove(dir, 2 * L, &err), LS_OK);
	assert_int_equal(tier_remote_remove(dir, 3 * L, &err), LS_OK);
	assert_int_equal(store_retained(jdir, &kept, &err), LS_OK);
	assert_int_equal(kept, NREMOTE * L);
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/" TIER_REMOTE_FILE, dir);
		assert_int_equal(access(p, F_OK), -1);
	}
	rm_rf(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_and_bound),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
