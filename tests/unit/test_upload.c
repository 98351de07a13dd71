/*
 * test_upload.c - the uploader's pure planning (followers/upload.h): which
 * full tiles and bundles a tree gains between two sizes (counted by hand
 * for small trees, and the plan from 0 to b equal to the plans 0..a and
 * a..b together), the partial tiles of a size, the object keys of the
 * bucket layout, the size read from a checkpoint note, and objstore.json
 * written sealed and read back (an edited file refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fsutil.h"
#include "followers/upload.h"
#include "store/log.h"

struct rec {
	char keys[4096][64];
	size_t n;
};

static int collect(void *ctx, int level, uint64_t n, unsigned w)
{
	struct rec *r = ctx;

	if (r->n < 4096)
		upload_tile_key(level, n, w, r->keys[r->n++], 64);
	return 0;
}

static int has(const struct rec *r, const char *k)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->keys[i], k))
			return 1;
	return 0;
}

static void test_plan_small(void **state)
{
	static struct rec r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(upload_plan_full(0, 255, collect, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(upload_plan_full(0, 300, collect, &r), 0);
	assert_int_equal(r.n, 2);
	assert_true(has(&r, "log/tile/entries/000"));
	assert_true(has(&r, "log/tile/0/000"));
	r.n = 0;
	assert_int_equal(upload_plan_partial(300, collect, &r), 0);
	assert_int_equal(r.n, 3);
	assert_true(has(&r, "log/tile/entries/001.p/44"));
	assert_true(has(&r, "log/tile/0/001.p/44"));
	assert_true(has(&r, "log/tile/1/000.p/1"));
	r.n = 0;
	assert_int_equal(upload_plan_partial(512, collect, &r), 0);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "log/tile/1/000.p/2"));
	r.n = 0;
	assert_int_equal(upload_plan_partial(0, collect, &r), 0);
	assert_int_equal(r.n, 0);
	/* 65536 entries: 256 bundles, 256 level-0 tiles, 1 level-1 tile;
	 * the partial at level 2 of width 1 */
	r.n = 0;
	assert_int_equal(upload_plan_full(0, 65536, collect, &r), 0);
	assert_int_equal(r.n, 256 + 256 + 1);
	assert_true(has(&r, "log/tile/1/000"));
	assert_true(has(&r, "log/tile/entries/255"));
	assert_false(has(&r, "log/tile/entries/256"));
	r.n = 0;
	assert_int_equal(upload_plan_partial(65536, collect, &r), 0);
	assert_int_equal(r.n, 1);
	assert_true(has(&r, "log/tile/2/000.p/1"));
	/* nothing new between equal sizes, or within one tile */
	r.n = 0;
	assert_int_equal(upload_plan_full(300, 300, collect, &r), 0);
	assert_int_equal(upload_plan_full(257, 511, collect, &r), 0);
	assert_int_equal(r.n, 0);
}

static void test_plan_split(void **state)
{
	static struct rec all, parts;
	const uint64_t sizes[][2] = { { 1000, 70000 }, { 65535, 65537 }, { 256, 512 },
				      { 7, 131072 } };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(&all, 0, sizeof(all));
		memset(&parts, 0, sizeof(parts));
		upload_plan_full(0, sizes[k][1], collect, &all);
		upload_plan_full(0, sizes[k][0], collect, &parts);
		upload_plan_full(sizes[k][0], sizes[k][1], collect, &parts);
		assert_int_equal(all.n, parts.n);
		for (size_t i = 0; i < all.n; i++)
			assert_true(has(&parts, all.keys[i]));
	}
}

static void test_keys(void **state)
{
	char k[128];
	static const char note[] = "example.com/log\n1234\nAAAA=\n\n— sig\n";

	(void)state;
	upload_tile_key(0, 1234067, 256, k, sizeof(k));
	assert_string_equal(k, "log/tile/0/x001/x234/067");
	upload_tile_key(-1, 5, 17, k, sizeof(k));
	assert_string_equal(k, "log/tile/entries/005.p/17");
	upload_segment_key(0x10000, k, sizeof(k));
	assert_string_equal(k, "segments/0000000000010000.seal");
	upload_checkpoint_key(1234, k, sizeof(k));
	assert_string_equal(k, "checkpoints/1234");
	assert_int_equal(upload_note_size(note, strlen(note)), 1234);
	assert_int_equal(upload_note_size("o\n0\nx\n", 6), 0);
	assert_int_equal(upload_note_size("o\n012\nx\n", 8), -1);
	assert_int_equal(upload_note_size("o\n12a\nx\n", 8), -1);
	assert_int_equal(upload_note_size("o\n12", 4), -1);
	assert_int_equal(upload_note_size("o", 1), -1);
}

static void test_cfg(void **state)
{
	char dir[] = "/tmp/test_upload.XXXXXX", path[256], cmd[300], *text;
	struct ls_err err = { "" };
	struct upload_cfg c, d;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d", dir);
	assert_int_equal(log_init(path, "test/upload", &err), LS_OK);
	assert_int_equal(upload_cfg_load(path, &d, &err), LS_NOTFOUND);
	memset(&c, 0, sizeof(c));
	snprintf(c.url, sizeof(c.url), "s3://bucket/pre");
	snprintf(c.endpoint, sizeof(c.endpoint), "http://127.0.0.1:7480");
	snprintf(c.region, sizeof(c.region), "us-east-1");
	c.path_style = 1;
	c.lock_days = 30;
	assert_int_equal(upload_cfg_save(path, &c, &err), LS_OK);
	assert_int_equal(upload_cfg_load(path, &d, &err), LS_OK);
	assert_string_equal(d.url, "s3://bucket/pre");
	assert_string_equal(d.endpoint, "http://127.0.0.1:7480");
	assert_string_equal(d.region, "us-east-1");
	assert_int_equal(d.path_style, 1);
	assert_int_equal(d.lock_days, 30);
	assert_int_equal(d.backlog_bytes, 0);
	/* sealed: the seal is in the file, and an edit is refused */
	snprintf(cmd, sizeof(cmd), "%s/objstore.json", path);
	assert_int_equal(fs_read_file(cmd, 1 << 20, &text, &len, &err), LS_OK);
	assert_non_null(strstr(text, "\"mac\""));
	assert_null(strstr(text, "secret"));
	{
		char *p = strstr(text, "s3://bucket/pre");

		assert_non_null(p);
		p[5] = 'B';
		assert_int_equal(fs_write_file(cmd, text, len, 0600, 0, &err), LS_OK);
	}
	free(text);
	assert_int_equal(upload_cfg_load(path, &d, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "objstore.json"));
	/* no retention policy: 365 days */
	assert_int_equal(upload_default_lock_days(path), 365);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_small),
		cmocka_unit_test(test_plan_split),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_cfg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
