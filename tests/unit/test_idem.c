/*
 * test_idem.c - the idempotency map: first index wins, reservations are
 * all-or-nothing, a request waits while another holds one of its keys and
 * then sees the committed index, aborted reservations free the key, many
 * keys (growth) stay findable; keys are scoped by writer and service; the
 * window and the cap evict oldest first; the snapshot round-trips, covers
 * no further than a pending reservation, and is refused when it does not
 * check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/crypto.h"
#include "server/idem.h"

/* The key of id under one fixed writer and service. */
static struct idem_key K(struct idem *m, const char *id)
{
	struct idem_key k;

	assert_int_equal(idem_key_of(m, "tok_w", "svc", id, &k), LS_OK);
	return k;
}

static void test_put_and_reserve(void **state)
{
	struct idem *m;
	struct idem_key keys[3];
	int64_t found[3];
	uint64_t idx[3] = { 0, 10, 11 };

	assert_int_equal(idem_new(NULL, &m), LS_OK);
	keys[0] = K(m, "a");
	keys[1] = K(m, "b");
	keys[2] = K(m, "c");
	assert_int_equal(idem_put(m, &keys[0], 5, 1), LS_OK);
	assert_int_equal(idem_put(m, &keys[0], 9, 1), LS_OK); /* first index wins */
	assert_int_equal(idem_reserve(m, keys, 3, 6, 0, found, 100), LS_OK);
	assert_int_equal(found[0], 5);
	assert_int_equal(found[1], IDEM_RESERVED);
	assert_int_equal(found[2], IDEM_RESERVED);
	idem_commit(m, keys, found, idx, 3, 2);
	assert_int_equal(idem_count(m), 3);
	assert_int_equal(idem_reserve(m, keys, 3, 12, 0, found, 100), LS_OK);
	assert_int_equal(found[0], 5);
	assert_int_equal(found[1], 10);
	assert_int_equal(found[2], 11);
	idem_free(m);
}

static void test_abort_frees(void **state)
{
	struct idem *m;
	struct idem_key keys[1];
	int64_t found[1];

	assert_int_equal(idem_new(NULL, &m), LS_OK);
	keys[0] = K(m, "x");
	assert_int_equal(idem_reserve(m, keys, 1, 0, 0, found, 100), LS_OK);
	assert_int_equal(found[0], IDEM_RESERVED);
	/* held by "another request": a second reservation times out */
	assert_int_equal(idem_reserve(m, keys, 1, 0, 0, found, 50), LS_BUSY);
	idem_abort(m, keys, (int64_t[]){ IDEM_RESERVED }, 1);
	assert_int_equal(idem_reserve(m, keys, 1, 0, 0, found, 50), LS_OK);
	assert_int_equal(found[0], IDEM_RESERVED);
	assert_int_equal(idem_count(m), 0);
	idem_free(m);
}

struct waiter {
	struct idem *m;
	struct idem_key keys[2];
	int64_t found[2];
	ls_rc rc;
};

static void *wait_thread(void *p)
{
	struct waiter *w = p;

	w->rc = idem_reserve(w->m, w->keys, 2, 0, 0, w->found, 5000);
	return NULL;
}

static void test_waits_for_pending(void **state)
{
	struct idem *m;
	struct idem_key held[1];
	int64_t f[1];
	uint64_t idx[1] = { 42 };
	struct waiter w;
	pthread_t t;

	assert_int_equal(idem_new(NULL, &m), LS_OK);
	held[0] = K(m, "held");
	assert_int_equal(idem_reserve(m, held, 1, 0, 0, f, 100), LS_OK);
	w.m = m;
	w.keys[0] = K(m, "free");
	w.keys[1] = K(m, "held");
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	usleep(100000);
	idem_commit(m, held, f, idx, 1, 1);
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
	struct idem_key k[1];
	int64_t f[1];

	assert_int_equal(idem_new(NULL, &m), LS_OK);
	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		k[0] = K(m, key);
		assert_int_equal(idem_put(m, &k[0], (uint64_t)i * 3, 1), LS_OK);
	}
	assert_int_equal(idem_count(m), 50000);
	for (int i = 0; i < 50000; i += 997) {
		snprintf(key, sizeof(key), "key-%d", i);
		k[0] = K(m, key);
		assert_int_equal(idem_reserve(m, k, 1, 0, 0, f, 10), LS_OK);
		assert_int_equal(f[0], (int64_t)i * 3);
	}
	idem_free(m);
}

/* The same id from another writer or for another service is another key;
 * the fields are length-delimited; the digest is HMAC-SHA256 under the
 * secret, truncated. */
static void test_scoped_keys(void **state)
{
	uint8_t secret[IDEM_SECRET_LEN], mac[LS_HASH_LEN];
	const uint8_t msg[] = { 0, 0, 0, 1, 'w', 0, 0, 0, 1, 's', 0, 0, 0, 2, 'i', 'd' };
	struct idem_opts o = { .secret = secret };
	struct idem *m;
	struct idem_key a, b, c, d, e;

	memset(secret, 7, sizeof(secret));
	assert_int_equal(idem_new(&o, &m), LS_OK);
	assert_int_equal(idem_key_of(m, "w", "s", "id", &a), LS_OK);
	ls_hmac_sha256(secret, sizeof(secret), msg, sizeof(msg), mac);
	assert_memory_equal(a.b, mac, IDEM_KEY_LEN);
	assert_int_equal(idem_key_of(m, "w2", "s", "id", &b), LS_OK);
	assert_int_equal(idem_key_of(m, "w", "s2", "id", &c), LS_OK);
	assert_int_equal(idem_key_of(m, "ws", "", "id", &d), LS_OK);
	assert_int_equal(idem_key_of(m, "w", "s", "id", &e), LS_OK);
	assert_memory_not_equal(a.b, b.b, IDEM_KEY_LEN);
	assert_memory_not_equal(a.b, c.b, IDEM_KEY_LEN);
	assert_memory_not_equal(a.b, d.b, IDEM_KEY_LEN);
	assert_memory_equal(a.b, e.b, IDEM_KEY_LEN);
	idem_free(m);
}

static int64_t lookup(struct idem *m, const char *id)
{
	struct idem_key k = K(m, id);
	int64_t f;

	assert_int_equal(idem_reserve(m, &k, 1, 0, 0, &f, 10), LS_OK);
	if (f == IDEM_RESERVED)
		idem_abort(m, &k, &f, 1);
	return f;
}

#define SEC 1000000LL

/* Keys received more than the window before the newest time are
 * forgotten, oldest first; younger ones stay. */
static void test_window_evicts(void **state)
{
	struct idem_opts o = { .window_us = 100 * SEC };
	struct idem *m;
	struct idem_key k;
	int64_t f;
	uint64_t idx;

	assert_int_equal(idem_new(&o, &m), LS_OK);
	k = K(m, "t0");
	assert_int_equal(idem_put(m, &k, 0, 1000 * SEC), LS_OK);
	k = K(m, "t50");
	assert_int_equal(idem_put(m, &k, 1, 1050 * SEC), LS_OK);
	/* a commit at t=1099: both within 100 s */
	k = K(m, "t99");
	assert_int_equal(idem_reserve(m, &k, 1, 2, 0, &f, 10), LS_OK);
	idx = 2;
	idem_commit(m, &k, &f, &idx, 1, 1099 * SEC);
	assert_int_equal(idem_count(m), 3);
	assert_int_equal(lookup(m, "t0"), 0);
	/* time moves to 1120: t0 is older than the window */
	idem_expire(m, 1120 * SEC);
	assert_int_equal(idem_count(m), 2);
	assert_int_equal(idem_evicted(m), 1);
	assert_int_equal(lookup(m, "t0"), IDEM_RESERVED);
	assert_int_equal(lookup(m, "t50"), 1);
	/* a commit far later evicts by itself */
	k = K(m, "t500");
	assert_int_equal(idem_reserve(m, &k, 1, 3, 0, &f, 10), LS_OK);
	idx = 3;
	idem_commit(m, &k, &f, &idx, 1, 1500 * SEC);
	assert_int_equal(idem_count(m), 1);
	assert_int_equal(lookup(m, "t50"), IDEM_RESERVED);
	assert_int_equal(lookup(m, "t99"), IDEM_RESERVED);
	assert_int_equal(lookup(m, "t500"), 3);
	/* a retry after the window, nothing committed meanwhile: the
	 * request's own time expires the key */
	k = K(m, "t500");
	assert_int_equal(idem_reserve(m, &k, 1, 4, 1550 * SEC, &f, 10), LS_OK);
	assert_int_equal(f, 3);
	assert_int_equal(idem_reserve(m, &k, 1, 4, 1601 * SEC, &f, 10), LS_OK);
	assert_int_equal(f, IDEM_RESERVED);
	assert_int_equal(idem_count(m), 0);
	idem_abort(m, &k, &f, 1);
	idem_free(m);
}

/* Over the cap the oldest keys go first, whatever their time; pending
 * keys are not counted and never evicted. */
static void test_cap_evicts(void **state)
{
	struct idem_opts o = { .max_keys = 100 };
	struct idem *m;
	struct idem_key k, p;
	char id[32];
	int64_t f, fp;

	assert_int_equal(idem_new(&o, &m), LS_OK);
	p = K(m, "pending");
	assert_int_equal(idem_reserve(m, &p, 1, 0, 0, &fp, 10), LS_OK);
	for (int i = 0; i < 250; i++) {
		snprintf(id, sizeof(id), "k%d", i);
		k = K(m, id);
		assert_int_equal(idem_put(m, &k, (uint64_t)i, 5 * SEC), LS_OK);
		assert_true(idem_count(m) <= 100);
	}
	assert_int_equal(idem_count(m), 100);
	assert_int_equal(idem_evicted(m), 150);
	assert_int_equal(lookup(m, "k149"), IDEM_RESERVED);
	assert_int_equal(lookup(m, "k150"), 150);
	assert_int_equal(lookup(m, "k249"), 249);
	/* still pending: another request waits for it, then times out */
	assert_int_equal(idem_reserve(m, &p, 1, 0, 0, &f, 20), LS_BUSY);
	idem_abort(m, &p, &fp, 1);
	idem_free(m);
}

/* What goes in comes back out: same keys, same indexes, in a new map (a
 * new process: other SipHash keys) with the same secret. */
static void test_snapshot_round_trip(void **state)
{
	uint8_t secret[IDEM_SECRET_LEN], *buf;
	struct idem_opts o = { .secret = secret, .window_us = 3600 * SEC, .max_keys = 1000 };
	struct idem *m, *m2;
	struct idem_key k;
	char id[32];
	uint64_t covered;
	size_t len;
	struct ls_err err = { { 0 } };

	memset(secret, 3, sizeof(secret));
	assert_int_equal(idem_new(&o, &m), LS_OK);
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "k%d", i);
		k = K(m, id);
		assert_int_equal(idem_put(m, &k, (uint64_t)i * 2, 100 * SEC + i), LS_OK);
	}
	assert_int_equal(idem_snapshot_encode(m, 600, 100 * SEC, &buf, &len, &covered), LS_OK);
	assert_int_equal(covered, 600);
	assert_int_equal(len, 64 + 300 * 32 + 32);
	/* no plaintext id in the file */
	assert_null(memmem(buf, len, "k29", 3));

	assert_int_equal(idem_new(&o, &m2), LS_OK);
	/* the journal was cut to 500 entries since: later records are dropped */
	assert_int_equal(idem_snapshot_load(m2, buf, len, 500, &covered, &err), LS_OK);
	assert_int_equal(covered, 500);
	assert_int_equal(idem_count(m2), 250);
	assert_int_equal(lookup(m2, "k0"), 0);
	assert_int_equal(lookup(m2, "k249"), 498);
	assert_int_equal(lookup(m2, "k250"), IDEM_RESERVED);
	idem_free(m2);

	/* one flipped bit anywhere: refused, map left empty */
	assert_int_equal(idem_new(&o, &m2), LS_OK);
	buf[64 + 5 * 32 + 17] ^= 1;
	assert_int_equal(idem_snapshot_load(m2, buf, len, 600, &covered, &err), LS_CORRUPT);
	assert_int_equal(idem_count(m2), 0);
	buf[64 + 5 * 32 + 17] ^= 1;
	assert_int_equal(idem_snapshot_load(m2, buf, len - 32, 600, &covered, &err), LS_CORRUPT);
	idem_free(m2);

	/* another secret (or a plaintext map) cannot use it */
	secret[0] ^= 1;
	assert_int_equal(idem_new(&o, &m2), LS_OK);
	assert_int_equal(idem_snapshot_load(m2, buf, len, 600, &covered, &err), LS_CORRUPT);
	idem_free(m2);
	assert_int_equal(idem_new(NULL, &m2), LS_OK);
	assert_int_equal(idem_snapshot_load(m2, buf, len, 600, &covered, &err), LS_CORRUPT);
	idem_free(m2);
	free(buf);
	idem_free(m);
}

/* A reservation still pending may be appended anywhere from the log size
 * it saw: the snapshot does not claim to cover past it. */
static void test_snapshot_covers_below_pending(void **state)
{
	struct idem *m;
	struct idem_key k;
	uint8_t *buf;
	uint64_t covered;
	size_t len;
	int64_t f;

	assert_int_equal(idem_new(NULL, &m), LS_OK);
	k = K(m, "done");
	assert_int_equal(idem_put(m, &k, 3, 1), LS_OK);
	k = K(m, "inflight");
	assert_int_equal(idem_reserve(m, &k, 1, 40, 0, &f, 10), LS_OK);
	assert_int_equal(idem_snapshot_encode(m, 50, 1, &buf, &len, &covered), LS_OK);
	assert_int_equal(covered, 40);
	assert_int_equal(len, 64 + 32 + 32);
	free(buf);
	idem_abort(m, &k, &f, 1);
	assert_int_equal(idem_snapshot_encode(m, 50, 1, &buf, &len, &covered), LS_OK);
	assert_int_equal(covered, 50);
	free(buf);
	idem_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_and_reserve),
		cmocka_unit_test(test_abort_frees),
		cmocka_unit_test(test_waits_for_pending),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_scoped_keys),
		cmocka_unit_test(test_window_evicts),
		cmocka_unit_test(test_cap_evicts),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_snapshot_covers_below_pending),
	};
	return cmocka_run_group_tests_name("idem", tests, NULL, NULL);
}
