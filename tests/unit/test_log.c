/*
 * test_log - log_append_start() / log_append_finish(): batches started
 * together take consecutive indexes in the order they were started, and
 * each finish gives exactly what log_append() would; with and without the
 * sequencer thread; refusals at start leave nothing to finish; the
 * entries are in the journal afterwards, byte for byte.
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

#include "journal.h"
#include "log.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
