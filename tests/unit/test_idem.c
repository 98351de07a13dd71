/*
 * test_idem.c - the idempotency map: first index wins, reservations are
 * all-or-nothing, a request waits while another holds one of its keys and
 * then sees the committed index, aborted reservations free the key, and
 * many keys (growth) stay findable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "idem.h"

static void test_put_and_reserve(void **state)
{
	struct idem *m;
	const char *keys[] = { "a", "b", "c" };
	int64_t found[3];
	uint64_t idx[3] = { 0, 10, 11 };

	assert_int_equal(idem_new(&m), LS_OK);
	assert_int_equal(idem_put(m, "a", 5), LS_OK);
	assert_int_equal(idem_put(m, "a", 9), LS_OK); /* first index wins */
	assert_int_equal(idem_reserve(m, keys, 3, found, 100), LS_OK);
	assert_int_equal(found[0], 5);
	assert_int_equal(found[1], IDEM_RESERVED);
	assert_int_equal(found[2], IDEM_RESERVED);
	idem_commit(m, keys, found, idx, 3);
	assert_int_equal(idem_count(m), 3);
	assert_int_equal(idem_reserve(m, keys, 3, found, 100), LS_OK);
	assert_int_equal(found[0], 5);
	assert_int_equal(found[1], 10);
	assert_int_equal(found[2], 11);
	idem_free(m);
}

static void test_abort_frees(void **state)
{
	struct idem *m;
	const char *keys[] = { "x" };
	int64_t found[1];

	assert_int_equal(idem_new(&m), LS_OK);
	assert_int_equal(idem_reserve(m, keys, 1, found, 100), LS_OK);
	assert_int_equal(found[0], IDEM_RESERVED);
	/* held by "another request": a second reservation times out */
	assert_int_equal(idem_reserve(m, keys, 1, found, 50), LS_BUSY);
	idem_abort(m, keys, (int64_t[]){ IDEM_RESERVED }, 1);
	assert_int_equal(idem_reserve(m, keys, 1, found, 50), LS_OK);
	assert_int_equal(found[0], IDEM_RESERVED);
	assert_int_equal(idem_count(m), 0);
	idem_free(m);
}

struct waiter {
	struct idem *m;
	int64_t found[2];
	ls_rc rc;
};

static void *wait_thread(void *p)
{
	struct waiter *w = p;
	const char *keys[] = { "free", "held" };

	w->rc = idem_reserve(w->m, keys, 2, w->found, 5000);
	return NULL;
}

static void test_waits_for_pending(void **state)
{
	struct idem *m;
	const char *held[] = { "held" };
	int64_t f[1];
	uint64_t idx[1] = { 42 };
	struct waiter w;
	pthread_t t;

	assert_int_equal(idem_new(&m), LS_OK);
	assert_int_equal(idem_reserve(m, held, 1, f, 100), LS_OK);
	w.m = m;
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	usleep(100000);
	idem_commit(m, held, f, idx, 1);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, LS_OK);
	assert_int_equal(w.found[0], IDEM_RESERVED); /* taken only after the wait */
	assert_int_equal(w.found[1], 42);	      /* the committed index */
	idem_free(m);
}

static void test_many_keys(void **state)
{
	struct idem *m;
	char key[32];
	const char *k[1] = { key };
	int64_t f[1];

	assert_int_equal(idem_new(&m), LS_OK);
	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(idem_put(m, key, (uint64_t)i * 3), LS_OK);
	}
	assert_int_equal(idem_count(m), 50000);
	for (int i = 0; i < 50000; i += 997) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(idem_reserve(m, k, 1, f, 10), LS_OK);
		assert_int_equal(f[0], (int64_t)i * 3);
	}
	idem_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_and_reserve),
		cmocka_unit_test(test_abort_frees),
		cmocka_unit_test(test_waits_for_pending),
		cmocka_unit_test(test_many_keys),
	};
	return cmocka_run_group_tests_name("idem", tests, NULL, NULL);
}
