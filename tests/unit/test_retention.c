/*
 * test_retention.c - unit tests of retention (src/followers/retention*.c):
 * policy parsing and its errors, the archive and purge decisions under a
 * fake clock, legal hold parsing and matching, and whole passes on a log
 * built here (entries with chosen "received" times, sealed into segments
 * of 256 leaves), checked down to the retained point, the files in
 * DIR/segments and DIR/archive, the manifest, the events it logs, the WAL
 * tail left alone, and verify_data_dir() (an archived copy altered too).
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "core/event.h"
#include "store/check.h"
#include "store/log.h"
#include "store/reader.h"
#include "followers/retention.h"
#include "followers/verify.h"

#define DAY (86400LL * 1000000LL)

static int64_t t(const char *s)
{
	int64_t us = 0;

	assert_int_equal(event_parse_time(s, &us), LS_OK);
	return us;
}

static void test_policy_parse(void **state)
{
	static const char ok[] =
		"{\"default\":{\"hot_days\":30,\"archive_days\":365},"
		"\"services\":{\"billing\":{\"hot_days\":90,\"archive_days\":0}}}";
	static const struct {
		const char *text, *needle;
	} bad[] = {
		{ "[]", "must be an object" },
		{ "{}", "'default' is required" },
		{ "{\"default\":{\"hot_days\":1}}", "needs both" },
		{ "{\"default\":{\"hot_days\":-1,\"archive_days\":1}}", "default.hot_days" },
		{ "{\"default\":{\"hot_days\":1.5,\"archive_days\":1}}", "default.hot_days" },
		{ "{\"default\":{\"hot_days\":1,\"archive_days\":99999999}}", "default.archive_days" },
		{ "{\"default\":{\"hot_days\":1,\"archive_days\":1,\"x\":1}}", "unknown field 'x'" },
		{ "{\"default\":{\"hot_days\":1,\"archive_days\":1},\"extra\":1}", "unknown field" },
		{ "{\"default\":{\"hot_days\":1,\"archive_days\":1},\"services\":{\"a\":{}}}",
		  "services.a" },
		{ "{\"default\":{\"hot_days\":1,\"archive_days\":1},"
		  "\"default\":{\"hot_days\":1,\"archive_days\":1}}",
		  "line" },
	};
	struct retention_policy p;
	struct ls_err err;

	(void)state;
	assert_int_equal(retention_policy_parse(ok, strlen(ok), &p, &err), LS_OK);
	assert_int_equal(p.def.hot_days, 30);
	assert_int_equal(p.def.archive_days, 365);
	assert_int_equal(p.nsvc, 1);
	assert_int_equal(retention_rule_for(&p, "billing")->hot_days, 90);
	assert_int_equal(retention_rule_for(&p, "billing")->archive_days, 0);
	assert_ptr_equal(retention_rule_for(&p, "other"), &p.def);
	assert_ptr_equal(retention_rule_for(&p, NULL), &p.def);
	retention_policy_release(&p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(retention_policy_parse(bad[i].text, strlen(bad[i].text), &p, &err),
				 LS_INVALID);
		if (!strstr(err.msg, bad[i].needle))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, bad[i].needle);
		assert_null(p.svc);
	}
}

static void test_decisions(void **state)
{
	static const char text[] = "{\"default\":{\"hot_days\":30,\"archive_days\":60},"
				   "\"services\":{\"billing\":{\"hot_days\":90,\"archive_days\":10}}}";
	char *web[] = { "web" }, *both[] = { "billing", "web" };
	struct retention_policy p;
	struct retention_seg s = { 0 };
	int64_t newest = t("2025-01-01T00:00:00Z");

	(void)state;
	assert_int_equal(retention_policy_parse(text, strlen(text), &p, NULL), LS_OK);
	s.first = 0;
	s.last = 9;
	s.oldest_us = newest - DAY;
	s.newest_us = newest;
	s.services = web;
	s.nservices = 1;
	/* Due strictly after hot_days have passed since the newest event. */
	assert_false(retention_archive_due(&p, &s, newest + 30 * DAY));
	assert_true(retention_archive_due(&p, &s, newest + 30 * DAY + 1));
	assert_false(retention_purge_due(&p, &s, newest + 90 * DAY));
	assert_true(retention_purge_due(&p, &s, newest + 90 * DAY + 1));
	/* A segment is due only when every service in it is. */
	s.services = both;
	s.nservices = 2;
	assert_false(retention_archive_due(&p, &s, newest + 31 * DAY));
	assert_true(retention_archive_due(&p, &s, newest + 91 * DAY));
	assert_false(retention_purge_due(&p, &s, newest + 99 * DAY));
	assert_true(retention_purge_due(&p, &s, newest + 101 * DAY));
	/* No service: the default. */
	s.nservices = 0;
	assert_true(retention_archive_due(&p, &s, newest + 31 * DAY));
	retention_policy_release(&p);
}

static void test_holds(void **state)
{
	uint8_t key[32] = { 1 };
	char *svc[] = { "billing" };
	struct retention_seg s = { 0 };
	struct holds hs = { 0 };
	struct hold h[3];
	struct ls_err err;
	const char *b;
	static const char *bad[] = {
		"{}", "{\"service\":\"a\",\"actor\":\"b\"}", "{\"from\":\"2024-01-01T00:00:00Z\"}",
		"{\"from\":\"2024-02-01T00:00:00Z\",\"to\":\"2024-01-01T00:00:00Z\"}",
		"{\"service\":\"\"}", "{\"service\":\"a\",\"x\":1}", "{\"service\":\"a\",\"to\":\"2024-01-01T00:00:00Z\"}",
		"not json",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hold x;

		if (hold_parse(bad[i], strlen(bad[i]), key, &x, &err) != LS_INVALID)
			fail_msg("accepted %s", bad[i]);
	}
	b = "{\"service\":\"billing\",\"reason\":\"case 7\"}";
	assert_int_equal(hold_parse(b, strlen(b), key, &h[0], &err), LS_OK);
	assert_int_equal(h[0].kind, HOLD_SERVICE);
	assert_string_equal(h[0].reason, "case 7");
	b = "{\"actor\":\"alice\"}";
	assert_int_equal(hold_parse(b, strlen(b), key, &h[1], &err), LS_OK);
	assert_int_equal(h[1].kind, HOLD_ACTOR);
	/* The actor is kept only as a keyed hash. */
	assert_null(strstr(h[1].value, "alice"));
	assert_int_equal(strlen(h[1].value), 64);
	b = "{\"from\":\"2024-01-01T00:00:00Z\",\"to\":\"2024-01-31T00:00:00Z\"}";
	assert_int_equal(hold_parse(b, strlen(b), key, &h[2], &err), LS_OK);
	assert_int_equal(h[2].kind, HOLD_TIME);

	s.oldest_us = t("2024-03-01T00:00:00Z");
	s.newest_us = t("2024-03-02T00:00:00Z");
	hs.v = h;
	hs.n = 3;
	assert_false(holds_block(&hs, &s));
	s.services = svc;
	s.nservices = 1;
	assert_true(holds_block(&hs, &s));
	s.nservices = 0;
	s.oldest_us = t("2024-01-31T00:00:00Z"); /* touches the range's end */
	assert_true(holds_block(&hs, &s));
	s.oldest_us = t("2024-02-01T00:00:00Z");
	{
		char hex[65];
		char *actors[1];
		struct hold y;

		/* The same actor hashed through a new parse matches. */
		assert_int_equal(hold_parse("{\"actor\":\"alice\"}", 17, key, &y, &err), LS_OK);
		memcpy(hex, y.value, 65);
		hold_release(&y);
		actors[0] = hex;
		s.actors = actors;
		s.nactors = 1;
		assert_true(holds_block(&hs, &s));
		s.nactors = 0;
		assert_false(holds_block(&hs, &s));
		s.actors_truncated = 1;
		assert_true(holds_block(&hs, &s));
	}
	for (int i = 0; i < 3; i++)
		hold_release(&h[i]);
}

/* ---------------------------------------------------- a pass on a real log */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void append(struct log *l, const char *service, const char *received, int n)
{
	for (int i = 0; i < n; i++) {
		char buf[256];
		struct iovec iov;
		uint64_t first;

		snprintf(buf, sizeof(buf),
			 "{\"action\":\"a\",\"actor\":{\"id\":\"u%d\"},\"received\":\"%s\","
			 "\"service\":\"%s\"}",
			 i, received, service);
		iov.iov_base = buf;
		iov.iov_len = strlen(buf);
		assert_int_equal(log_append(l, &iov, 1, &first, NULL), LS_OK);
	}
}

/* Entries of the log still kept (sealed segments and the WAL) holding
 * needle; *total counts them all. */
static int count_in_log(const char *dir, const char *needle, uint64_t *total)
{
	char jdir[256];
	struct store_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t idx, kept, next;
	int n = 0;

	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	assert_int_equal(store_retained(jdir, &kept, NULL), LS_OK);
	assert_int_equal(store_iter_open(jdir, kept, 0, &it, NULL), LS_OK);
	next = kept;
	while (store_iter_next(it, &data, &len, &idx, NULL) == LS_OK) {
		assert_int_equal(idx, next);
		next++;
		if (memmem(data, len, needle, strlen(needle)))
			n++;
	}
	store_iter_free(it);
	if (total)
		*total = next - kept;
	return n;
}

static int exists(const char *dir, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return access(path, F_OK) == 0;
}

static void flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	fseek(f, off, SEEK_SET);
	c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 1, f);
	fclose(f);
}

/*
 * Sealed segments of 256 leaves: web (day 1), billing (day 2), web (day 3),
 * then a tail in the write-ahead log.  Passes at day 16, 40 and 152 under
 * web 10+10 days, billing 20+100 days, and a hold on day 2.
 */
static void test_pass(void **state)
{
	char root[] = "/tmp/test_retention.XXXXXX", dir[128], path[256];
	struct log_opts lo = { 0 };
	struct log *l;
	struct retention_report rep;
	struct verify_report vr;
	struct ls_err err = { "" };
	struct retention_archived *a;
	size_t na;
	uint64_t kept, total;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	assert_int_equal(log_init(dir, "retention.test/log", &err), LS_OK);
	lo.dir = dir;
	lo.no_threads = 1;
	lo.segment_leaves = 256;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	append(l, "web", "2024-01-01T00:00:00Z", 256);
	append(l, "billing", "2024-01-02T00:00:00Z", 256);
	append(l, "web", "2024-01-03T00:00:00Z", 256);
	append(l, "web", "2024-01-04T00:00:00Z", 10);
	assert_int_equal(log_checkpoint(l, &err), LS_OK); /* signs, then seals three */
	assert_true(exists(dir, "segments/0000000000000200.seal"));
	assert_false(exists(dir, "segments/0000000000000300.seal"));

	/* No policy file: nothing happens. */
	assert_int_equal(retention_run(l, t("2030-01-01T00:00:00Z"), &rep, &err), LS_OK);
	assert_int_equal(rep.policy, 0);

	snprintf(path, sizeof(path), "%s/retention.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"default\":{\"hot_days\":10,\"archive_days\":10},"
	      "\"services\":{\"billing\":{\"hot_days\":20,\"archive_days\":100}}}",
	      f);
	fclose(f);

	/* Day 15: the first web segment is due, billing is not, so the prefix
	 * stops there.  The sealed file moves to the archive as it is. */
	assert_int_equal(retention_run(l, t("2024-01-16T00:00:00Z"), &rep, &err), LS_OK);
	assert_int_equal(rep.archived, 1);
	assert_int_equal(rep.purged, 0);
	snprintf(path, sizeof(path), "%s/journal", dir);
	assert_int_equal(store_retained(path, &kept, NULL), LS_OK);
	assert_int_equal(kept, 256);
	assert_false(exists(dir, "segments/0000000000000000.seal"));
	assert_true(exists(dir, "segments/0000000000000100.seal"));
	assert_true(exists(dir, "archive/0000000000000000.seal"));
	assert_false(exists(dir, "archive/0000000000000000.seg.zst"));
	assert_int_equal(count_in_log(dir, "logseal.retention.archive", &total), 1);
	/* Everything from the retained point on is still there, WAL included:
	 * 512 sealed, 10 + 1 event in the WAL. */
	assert_int_equal(total, 512 + 10 + 1);

	/* Day 40: billing and the second web segment archived; both web
	 * segments purged (10 + 10 days); the WAL tail is never touched. */
	assert_int_equal(retention_run(l, t("2024-02-10T00:00:00Z"), &rep, &err), LS_OK);
	assert_int_equal(rep.archived, 2);
	assert_int_equal(rep.purged, 2);
	assert_false(exists(dir, "archive/0000000000000000.seal"));
	assert_true(exists(dir, "archive/0000000000000100.seal"));
	assert_false(exists(dir, "archive/0000000000000200.seal"));
	assert_false(exists(dir, "segments/0000000000000100.seal"));
	assert_int_equal(count_in_log(dir, "logseal.retention.purge", &total), 2);
	assert_int_equal(count_in_log(dir, "logseal.retention.archive", NULL), 3);
	assert_int_equal(total, 10 + 5);
	/* Hash tiles stay: the purged leaves are still in the tree. */
	assert_true(exists(dir, "log/tile/0/000"));

	/* A hold by time range keeps billing past its 120 days. */
	{
		char *json = NULL;
		const char *b = "{\"from\":\"2024-01-02T00:00:00Z\",\"to\":\"2024-01-02T00:00:00Z\"}";

		assert_int_equal(retention_hold_place(l, b, strlen(b), "tester",
						      t("2024-02-10T00:00:00Z"), &json, &err),
				 LS_OK);
		free(json);
	}
	assert_int_equal(retention_run(l, t("2024-06-01T00:00:00Z"), &rep, &err), LS_OK);
	assert_int_equal(rep.purged, 0);
	assert_int_equal(rep.held, 1);
	assert_int_equal(count_in_log(dir, "logseal.hold.place", NULL), 1);
	assert_int_equal(retention_manifest_list(dir, &a, &na, &err), LS_OK);
	assert_int_equal(na, 3);
	assert_int_equal(a[0].first, 0);
	assert_int_equal(a[0].last, 255);
	assert_true(a[0].purged);
	assert_true(a[0].sealed);
	assert_string_equal(a[0].file, "0000000000000000.seal");
	assert_int_equal(a[1].first, 256);
	assert_int_equal(a[1].last, 511);
	assert_false(a[1].purged);
	assert_int_equal(a[2].first, 512);
	assert_true(a[2].purged);
	free(a);

	assert_int_equal(log_checkpoint(l, &err), LS_OK);
	assert_int_equal(log_close(l, &err), LS_OK);
	memset(&vr, 0, sizeof(vr));
	if (verify_data_dir(dir, 0, &vr, &err) != LS_OK)
		fail_msg("verify: %s", err.msg);
	assert_int_equal(vr.purged, 512);
	assert_int_equal(vr.archived, 256);
	assert_non_null(strstr(vr.retention, "entries 0..255 purged by policy (event #"));
	assert_non_null(strstr(vr.retention, "entries 512..767 purged by policy (event #"));

	/* The archived copy is checked: a flipped byte is named. */
	snprintf(path, sizeof(path), "%s/archive/0000000000000100.seal", dir);
	flip_byte(path, 100);
	assert_int_equal(verify_data_dir(dir, 0, &vr, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "archive/0000000000000100.seal: SHA-256 differs"));
	flip_byte(path, 100);
	assert_int_equal(verify_data_dir(dir, 0, &vr, &err), LS_OK);

	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * An archive made before sealed segments: a journal segment, zstd, named
 * "<016x>.seg.zst" in the manifest.  Built here from the WAL file of the
 * first 256 entries (copied before they are sealed), put where a pass of
 * the old code would have: verify reads it back, and names it when it
 * is altered.  Also with a retained point that is no multiple of 256.
 */
static void old_archive(unsigned n)
{
	char root[] = "/tmp/test_retention_old.XXXXXX", dir[128], path[256], jdir[200];
	struct log_opts lo = { 0 };
	struct log *l;
	struct verify_report vr;
	struct ls_err err = { "" };
	char *seg = NULL, hex[65], *man;
	size_t len, zcap, zlen;
	uint8_t h[32];
	void *z;

	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	assert_int_equal(log_init(dir, "retention.test/log", &err), LS_OK);
	lo.dir = dir;
	lo.no_threads = 1;
	lo.segment_leaves = 256;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	append(l, "web", "2024-01-01T00:00:00Z", (int)n);
	assert_int_equal(log_rotate_key(l, &err), LS_OK);
	snprintf(path, sizeof(path), "%s/journal/0000000000000000.seg", dir);
	assert_int_equal(fs_read_file(path, 1 << 26, &seg, &len, &err), LS_OK);
	if (n % 256) {
		/* The old pass ran before sealing: the journal file goes, the
		 * retained point is n, and sealing starts at the next whole
		 * bundle, leaving [n, 256) in the WAL. */
		assert_int_equal(log_close(l, &err), LS_OK);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(store_set_retained(jdir, n, &err), LS_OK);
		assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	}
	append(l, "web", "2024-01-02T00:00:00Z", 300 + 256 - (int)n);
	assert_int_equal(log_checkpoint(l, &err), LS_OK);
	assert_int_equal(log_close(l, &err), LS_OK);
	assert_false(exists(dir, "journal/0000000000000000.seg"));
	assert_true(exists(dir, n % 256 ? "segments/0000000000000100.seal"
				       : "segments/0000000000000000.seal"));

	/* What the old pass left: the zstd copy, the manifest, "retained". */
	zcap = ZSTD_compressBound(len);
	z = malloc(zcap);
	assert_non_null(z);
	zlen = ZSTD_compress(z, zcap, seg, len, 3);
	assert_false(ZSTD_isError(zlen));
	free(seg);
	snprintf(path, sizeof(path), "%s/archive", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/archive/0000000000000000.seg.zst", dir);
	assert_int_equal(fs_write_file(path, z, zlen, 0600, 0, &err), LS_OK);
	ls_sha256(z, zlen, NULL, 0, h);
	free(z);
	ls_hex(h, 32, hex);
	assert_true(asprintf(&man,
			     "{\"version\":1,\"segments\":[{\"segment\":\"0000000000000000.seg\","
			     "\"file\":\"0000000000000000.seg.zst\",\"first\":0,\"last\":%u,"
			     "\"sha256\":\"%s\",\"purged\":false,\"archive_event\":0}]}",
			     n - 1, hex) > 0);
	snprintf(path, sizeof(path), "%s/archive/manifest.json", dir);
	assert_int_equal(fs_write_file(path, man, strlen(man), 0600, 0, &err), LS_OK);
	free(man);
	assert_int_equal(store_set_retained(jdir, n, &err), LS_OK);
	snprintf(path, sizeof(path), "%s/segments/0000000000000000.seal", dir);
	if (!(n % 256)) {
		/* (its level-0 tiles were files in the old format) */
		assert_int_equal(store_sealed_keep_tiles(dir, 0, &err), LS_OK);
		assert_int_equal(unlink(path), 0);
	}

	memset(&vr, 0, sizeof(vr));
	if (verify_data_dir(dir, 0, &vr, &err) != LS_OK)
		fail_msg("verify: %s", err.msg);
	assert_int_equal(vr.archived, n);
	assert_int_equal(vr.tree_size, 556);
	/* A flipped byte in the old archive is named. */
	snprintf(path, sizeof(path), "%s/archive/0000000000000000.seg.zst", dir);
	flip_byte(path, 30);
	assert_int_equal(verify_data_dir(dir, 0, &vr, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "0000000000000000.seg.zst: SHA-256 differs"));
	flip_byte(path, 30);
	assert_int_equal(verify_data_dir(dir, 0, &vr, &err), LS_OK);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_old_archive(void **state)
{
	(void)state;
	old_archive(256);
	/* A retained point inside an entry bundle: [4, 256) stays in the WAL,
	 * before the first segment. */
	old_archive(4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_holds),
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_old_archive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
