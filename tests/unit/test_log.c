/*
 * test_log - log_append_start() / log_append_finish(): batches started
 * together take consecutive indexes in the order they were started, and
 * each finish gives exactly what log_append() would; with and without the
 * sequencer thread; refusals at start leave nothing to finish; the
 * entries are in the journal afterwards, byte for byte.  The unsigned
 * window: with the checkpointer held back, the sequencer acknowledges no
 * more than max_unsigned_entries (or nothing once the oldest unsigned
 * entry is max_unsigned_ms old) until a checkpoint lands; a recovery cut
 * is reported in the log, also when the process that made it died first.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/journal.h"
#include "store/log.h"

static void rm_rf(const char *root)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void entry_text(char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "{\"n\":%d,\"pad\":\"%0*d\"}", i, 10 + i % 7, i);
}

/* Every journal entry, in order, against entry_text(0..n). */
static void check_journal(const char *dir, int n)
{
	char jdir[256], want[128];
	struct journal_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t index;
	struct ls_err err = { "" };
	int got = 0;
	ls_rc rc;

	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	assert_int_equal(journal_iter_open(jdir, 0, &it, &err), LS_OK);
	while ((rc = journal_iter_next(it, &data, &len, &index, &err)) == LS_OK) {
		assert_true(got < n);
		assert_int_equal(index, (uint64_t)got);
		entry_text(want, sizeof(want), got);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(data, want, len);
		got++;
	}
	assert_int_equal(rc, LS_NOTFOUND);
	assert_int_equal(got, n);
	journal_iter_free(it);
}

static void run(int no_threads)
{
	char root[] = "/tmp/test_log.XXXXXX", dir[128], text[8][128];
	struct log_opts lo = { 0 };
	struct log *l;
	struct log_ticket *t[8];
	struct iovec iov[8];
	struct ls_err err = { "" };
	uint64_t first;

	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	assert_int_equal(log_init(dir, "log.test/x", &err), LS_OK);
	lo.dir = dir;
	lo.no_threads = no_threads;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);

	/* one plain append first: index 0 */
	entry_text(text[0], sizeof(text[0]), 0);
	iov[0] = (struct iovec){ text[0], strlen(text[0]) };
	assert_int_equal(log_append(l, iov, 1, &first, &err), LS_OK);
	assert_int_equal(first, 0);

	/* seven batches of one started before any is finished: 1..7 */
	for (int i = 1; i < 8; i++) {
		entry_text(text[i], sizeof(text[i]), i);
		iov[i] = (struct iovec){ text[i], strlen(text[i]) };
		assert_int_equal(log_append_start(l, &iov[i], 1, &t[i], &err), LS_OK);
		assert_non_null(t[i]);
	}
	/* finished out of order, each learns its own index */
	for (int i = 7; i >= 1; i--) {
		first = 99;
		assert_int_equal(log_append_finish(l, t[i], &first, &err), LS_OK);
		assert_int_equal(first, (uint64_t)i);
	}
	assert_int_equal(log_size(l), 8);

	/* refusals at start: nothing queued, no ticket */
	t[0] = (struct log_ticket *)&err; /* must be reset */
	assert_int_equal(log_append_start(l, iov, 0, &t[0], &err), LS_INVALID);
	assert_null(t[0]);
	iov[0].iov_len = 0;
	assert_int_equal(log_append_start(l, iov, 1, &t[0], &err), LS_INVALID);
	assert_null(t[0]);
	assert_int_equal(log_size(l), 8);

	assert_int_equal(log_close(l, &err), LS_OK);
	check_journal(dir, 8);
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		assert_int_equal(system(cmd), 0);
	}
}

struct bg_append {
	struct log *l;
	char text[64];
	uint64_t first;
	ls_rc rc;
	atomic_int done;
};

static void *bg_append_main(void *arg)
{
	struct bg_append *b = arg;
	struct iovec iov = { b->text, strlen(b->text) };
	struct ls_err err = { "" };

	b->rc = log_append(b->l, &iov, 1, &b->first, &err);
	atomic_store(&b->done, 1);
	return NULL;
}

/* Waits up to ms for b to finish; 1 when it did. */
static int bg_wait(struct bg_append *b, long ms)
{
	for (long i = 0; i < ms / 10 && !atomic_load(&b->done); i++)
		sleep_ms(10);
	return atomic_load(&b->done);
}

static uint64_t signed_size(struct log *l)
{
	char *note = NULL;
	uint64_t size = 0;

	assert_int_equal(log_latest_checkpoint(l, &note, &size), LS_OK);
	free(note);
	return size;
}

/* Issue 12 item 5: the checkpointer falls behind (held); the sequencer
 * stops acknowledging at max_unsigned_entries and goes on once a
 * checkpoint covers them. */
static void test_unsigned_window_entries(void **state)
{
	char root[] = "/tmp/test_log.XXXXXX", dir[128], text[8][64];
	struct log_opts lo = { 0 };
	struct log_stats st;
	struct iovec iov[8];
	struct ls_err err = { "" };
	struct bg_append b = { 0 };
	pthread_t th;
	struct log *l;
	uint64_t first;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	assert_int_equal(log_init(dir, "log.test/x", &err), LS_OK);
	lo.dir = dir;
	lo.checkpoint_interval_ms = 600000; /* only the bound may trigger a checkpoint */
	lo.max_unsigned_entries = 8;
	lo.max_unsigned_ms = 600000;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	log_test_hold_checkpoints(l, 1);

	for (int i = 0; i < 8; i++) {
		entry_text(text[i], sizeof(text[i]), i);
		iov[i] = (struct iovec){ text[i], strlen(text[i]) };
	}
	assert_int_equal(log_append(l, iov, 5, &first, &err), LS_OK);
	assert_int_equal(log_append(l, iov + 5, 3, &first, &err), LS_OK);
	assert_int_equal(log_size(l), 8);
	assert_int_equal(signed_size(l), 0);

	/* The window is full: the next append waits, unacknowledged. */
	b.l = l;
	entry_text(b.text, sizeof(b.text), 8);
	assert_int_equal(pthread_create(&th, NULL, bg_append_main, &b), 0);
	assert_false(bg_wait(&b, 300));
	assert_int_equal(log_size(l), 8);
	log_get_stats(l, &st);
	assert_int_equal(st.unsigned_entries, 8);
	assert_true(st.unsigned_entries_max <= 8);
	assert_true(st.backpressure_waits >= 1);

	/* The checkpointer catches up: the wait ends, everything is signed. */
	log_test_hold_checkpoints(l, 0);
	assert_true(bg_wait(&b, 5000));
	pthread_join(th, NULL);
	assert_int_equal(b.rc, LS_OK);
	assert_int_equal(b.first, 8);
	assert_true(signed_size(l) >= 8);
	log_get_stats(l, &st);
	assert_true(st.unsigned_entries_max <= 8);
	assert_int_equal(log_close(l, &err), LS_OK);
	check_journal(dir, 9);
	rm_rf(root);
}

/* The same bound in time: once the oldest unsigned entry is
 * max_unsigned_ms old, nothing more is acknowledged until it is signed. */
static void test_unsigned_window_time(void **state)
{
	char root[] = "/tmp/test_log.XXXXXX", dir[128], text[64];
	struct log_opts lo = { 0 };
	struct iovec iov;
	struct ls_err err = { "" };
	struct bg_append b = { 0 };
	pthread_t th;
	struct log *l;
	uint64_t first;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	assert_int_equal(log_init(dir, "log.test/x", &err), LS_OK);
	lo.dir = dir;
	lo.checkpoint_interval_ms = 600000;
	lo.max_unsigned_entries = 1000;
	lo.max_unsigned_ms = 100;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	log_test_hold_checkpoints(l, 1);
	entry_text(text, sizeof(text), 0);
	iov = (struct iovec){ text, strlen(text) };
	assert_int_equal(log_append(l, &iov, 1, &first, &err), LS_OK);
	sleep_ms(150);
	b.l = l;
	entry_text(b.text, sizeof(b.text), 1);
	assert_int_equal(pthread_create(&th, NULL, bg_append_main, &b), 0);
	assert_false(bg_wait(&b, 300));
	assert_int_equal(log_size(l), 1);
	log_test_hold_checkpoints(l, 0);
	assert_true(bg_wait(&b, 5000));
	pthread_join(th, NULL);
	assert_int_equal(b.rc, LS_OK);
	assert_int_equal(b.first, 1);
	assert_true(signed_size(l) >= 1);
	assert_int_equal(log_close(l, &err), LS_OK);
	check_journal(dir, 2);
	rm_rf(root);
}

/* What a crash mid-write leaves after the last batch: a batch's first
 * record whole (leaf index idx, FIRST, no COMMIT, 40 bytes of 'z'), then
 * torn bytes of the next record (index idx + 1). */
static void append_torn(const char *seg, int idx, size_t torn)
{
	uint8_t r[20 + 40] = { 0x4C, 0x52, 0x00, 0x02, 0, 0, 0, 40 };
	uint32_t crc;
	int fd = open(seg, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	r[15] = (uint8_t)idx;
	memset(r + 20, 'z', 40);
	/* CRC-32 (zlib's) of header bytes 0..15 and the payload. */
	crc = 0xFFFFFFFFu;
	for (size_t k = 0; k < sizeof(r); k++) {
		if (k >= 16 && k < 20)
			continue;
		crc ^= r[k];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	crc ^= 0xFFFFFFFFu;
	r[16] = (uint8_t)(crc >> 24);
	r[17] = (uint8_t)(crc >> 16);
	r[18] = (uint8_t)(crc >> 8);
	r[19] = (uint8_t)crc;
	assert_int_equal(write(fd, r, sizeof(r)), (ssize_t)sizeof(r));
	r[15] = (uint8_t)(idx + 1);
	assert_true(torn < sizeof(r));
	assert_int_equal(write(fd, r, torn), (ssize_t)torn);
	close(fd);
}

/* Issue 12 item 5: batches acknowledged but never checkpointed (a crash
 * before the checkpointer ran) are kept and signed at the next open; the
 * unfinished batch after them is cut, and the cut is an event in the log
 * naming the leaf range it removed. */
static void test_recovery_keeps_batches_and_reports_cut(void **state)
{
	char root[] = "/tmp/test_log.XXXXXX", dir[128], jdir[160], seg[200], text[8][64];
	struct log_opts lo = { 0 };
	struct journal_opts jo = { 0 };
	struct store_recovery rec;
	struct journal *j;
	struct journal_iter *it;
	struct iovec iov[8];
	struct ls_err err = { "" };
	struct log *l;
	const uint8_t *data;
	size_t len;
	uint64_t first, idx;
	char *ev;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	assert_int_equal(log_init(dir, "log.test/x", &err), LS_OK);
	/* Three complete batches, 0..5, that no checkpoint covers. */
	assert_int_equal(journal_open(jdir, &jo, &j, NULL, &err), LS_OK);
	for (int i = 0; i < 6; i++) {
		entry_text(text[i], sizeof(text[i]), i);
		iov[i] = (struct iovec){ text[i], strlen(text[i]) };
	}
	assert_int_equal(journal_append(j, iov, 2, &first, &err), LS_OK);
	assert_int_equal(journal_append(j, iov + 2, 1, &first, &err), LS_OK);
	assert_int_equal(journal_append(j, iov + 3, 3, &first, &err), LS_OK);
	journal_close(j);
	/* Then what a crash mid-write leaves: the next batch's first record
	 * whole (index 6, FIRST, no COMMIT), the second one torn. */
	snprintf(seg, sizeof(seg), "%s/0000000000000000.seg", jdir);
	append_torn(seg, 6, 30);

	lo.dir = dir;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(log_open(&lo, &l, &rec, &err), LS_OK);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.first, 6);
	assert_int_equal(rec.records, 1);
	assert_int_equal(rec.last, 6);
	/* 0..5 kept, the event at 6, and all of it signed. */
	assert_int_equal(log_size(l), 7);
	assert_int_equal(signed_size(l), 7);
	assert_int_equal(log_close(l, &err), LS_OK);

	assert_int_equal(journal_iter_open(jdir, 0, &it, &err), LS_OK);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), LS_OK);
		assert_int_equal(len, strlen(text[i]));
		assert_memory_equal(data, text[i], len);
	}
	assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), LS_OK);
	assert_int_equal(idx, 6);
	ev = strndup((const char *)data, len);
	assert_non_null(ev);
	if (!strstr(ev, "\"action\":\"logseal.recovery.truncated\"") ||
	    !strstr(ev, "\"first\":6") || !strstr(ev, "\"last\":6") ||
	    !strstr(ev, "\"records\":1") || !strstr(ev, "\"segment\":\"0000000000000000.seg\"") ||
	    !strstr(ev, "\"service\":\"logseal\""))
		fail_msg("recovery event: %s", ev);
	free(ev);
	assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), LS_NOTFOUND);
	journal_iter_free(it);

	/* Reported once: the next open finds nothing to cut. */
	assert_int_equal(log_open(&lo, &l, &rec, &err), LS_OK);
	assert_int_equal(rec.cut, 0);
	assert_int_equal(log_size(l), 7);
	assert_int_equal(log_close(l, &err), LS_OK);
	rm_rf(root);
}

/* The event of a recovery cut at index idx, as the journal holds it. */
static void check_cut_event(const char *jdir, uint64_t idx, const char *records,
			    const char *bytes)
{
	struct journal_iter *it;
	struct ls_err err = { "" };
	const uint8_t *data;
	size_t len;
	uint64_t got;
	char *ev;

	assert_int_equal(journal_iter_open(jdir, idx, &it, &err), LS_OK);
	assert_int_equal(journal_iter_next(it, &data, &len, &got, &err), LS_OK);
	assert_int_equal(got, idx);
	ev = strndup((const char *)data, len);
	assert_non_null(ev);
	if (!strstr(ev, "\"action\":\"logseal.recovery.truncated\"") || !strstr(ev, "\"first\":6") ||
	    !strstr(ev, records) || !strstr(ev, bytes) || !strstr(ev, "\"offset\":") ||
	    !strstr(ev, "\"segment\":\"0000000000000000.seg\"") || !strstr(ev, "\"service\":\"logseal\""))
		fail_msg("recovery event at %llu: %s", (unsigned long long)idx, ev);
	free(ev);
	journal_iter_free(it);
}

/* Journal.h invariant 5: a process that dies after recovery cut the tail
 * but before the log said so (simulated: the journal opened and closed on
 * its own, which cuts and reports nothing) leaves the cut written down,
 * and the next log_open() reports it.  A second crash that tears the next
 * batch before that report adds a second cut: both are reported, in
 * order, and then nothing more. */
static void test_recovery_cut_reported_after_crash(void **state)
{
	char root[] = "/tmp/test_log.XXXXXX", dir[128], jdir[160], seg[200], pend[200], text[6][64];
	struct log_opts lo = { 0 };
	struct journal_opts jo = { 0 };
	struct store_recovery rec;
	struct journal *j;
	struct iovec iov[6];
	struct ls_err err = { "" };
	struct log *l;
	uint64_t first;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	snprintf(seg, sizeof(seg), "%s/0000000000000000.seg", jdir);
	snprintf(pend, sizeof(pend), "%s/cut.pending", jdir);
	assert_int_equal(log_init(dir, "log.test/x", &err), LS_OK);
	assert_int_equal(journal_open(jdir, &jo, &j, NULL, &err), LS_OK);
	for (int i = 0; i < 6; i++) {
		entry_text(text[i], sizeof(text[i]), i);
		iov[i] = (struct iovec){ text[i], strlen(text[i]) };
	}
	assert_int_equal(journal_append(j, iov, 6, &first, &err), LS_OK);
	journal_close(j);

	/* Crash 1 tears a batch at 6; recovery cuts it, then the process
	 * dies before any report. */
	append_torn(seg, 6, 30);
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(journal_open(jdir, &jo, &j, &rec, &err), LS_OK);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.bytes, 90);
	assert_int_equal(journal_size(j), 6);
	journal_close(j);
	assert_int_equal(access(pend, F_OK), 0);
	/* The same cut written down twice (a run that died between writing
	 * it down and cutting) is one cut. */
	append_torn(seg, 6, 30);
	assert_int_equal(journal_open(jdir, &jo, &j, &rec, &err), LS_OK);
	journal_close(j);

	/* Crash 2 tears another batch at 6 (25 bytes torn this time). */
	append_torn(seg, 6, 25);
	lo.dir = dir;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(log_open(&lo, &l, &rec, &err), LS_OK);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.bytes, 85);
	/* 0..5, the first cut's event at 6 and the second's at 7, signed. */
	assert_int_equal(log_size(l), 8);
	assert_int_equal(signed_size(l), 8);
	assert_int_equal(log_close(l, &err), LS_OK);
	check_cut_event(jdir, 6, "\"records\":1", "\"bytes\":90");
	check_cut_event(jdir, 7, "\"records\":1", "\"bytes\":85");
	assert_int_equal(access(pend, F_OK), -1);

	/* Reported once: the next open reports nothing. */
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(log_open(&lo, &l, &rec, &err), LS_OK);
	assert_int_equal(rec.cut, 0);
	assert_int_equal(log_size(l), 8);
	assert_int_equal(log_close(l, &err), LS_OK);
	rm_rf(root);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

/* A second opener of a log that is open (a CLI beside the running server)
 * is refused before it reads or repairs anything: here a checkpoint file
 * the index has no line for yet (the server between writing the two) is
 * left alone, where the second opener used to judge it, and with a real
 * checkpoint add the index line the server was about to add. */
static void test_second_open_refused_first(void **state)
{
	char root[] = "/tmp/test_log.XXXXXX", dir[128], path[256], idx[256];
	struct log_opts lo = { 0 };
	struct log *l, *l2 = NULL;
	struct ls_err err = { "" };
	size_t n0, n1;
	char *before, *after;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	assert_int_equal(log_init(dir, "log.test/x", &err), LS_OK);
	lo.dir = dir;
	lo.no_threads = 1;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	snprintf(idx, sizeof(idx), "%s/checkpoints.index", dir);
	before = slurp(idx, &n0);
	snprintf(path, sizeof(path), "%s/checkpoints/%020d", dir, 5);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("being written\n", f);
	fclose(f);

	assert_int_equal(log_open(&lo, &l2, NULL, &err), LS_BUSY);
	assert_null(l2);
	assert_non_null(strstr(err.msg, "open by another process"));
	after = slurp(idx, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	free(before);
	free(after);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(log_close(l, &err), LS_OK);
	/* Closed: the lock is gone with it. */
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	assert_int_equal(log_close(l, &err), LS_OK);
	rm_rf(root);
}

static void test_threads(void **state)
{
	(void)state;
	run(0);
}

static void test_no_threads(void **state)
{
	(void)state;
	run(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_no_threads),
		cmocka_unit_test(test_second_open_refused_first),
		cmocka_unit_test(test_unsigned_window_entries),
		cmocka_unit_test(test_unsigned_window_time),
		cmocka_unit_test(test_recovery_keeps_batches_and_reports_cut),
		cmocka_unit_test(test_recovery_cut_reported_after_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
