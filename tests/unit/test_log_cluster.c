/*
 * test_log_cluster - the log's cluster hooks (store/log.h) against a fake
 * sequencer (an in-memory "database": a counter, the batches, a key map)
 * and a fake follower thread that applies the batches in order through
 * log_apply(): log_append*() return the indexes the sequencer gave, in
 * order, and the journal holds exactly the sequenced entries; log_apply()
 * refuses a batch that is not at log_size() (LS_INVALID, nothing written);
 * log_append_keyed() gets an earlier index back for a key the sequencer
 * holds and appends nothing for it; an append returns only once the local
 * replica holds its entries (read your writes), even when the follower is
 * slow; single node, log_append_keyed() is log_append(); log_set_sequencer()
 * waits for the calls of the fn it replaces.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/journal.h"
#include "store/log.h"

#define MAXB 64
#define MAXE 256

struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct log *log;
	/* the "database": entries by leaf, batches by first leaf */
	char *ent[MAXE];
	size_t len[MAXE];
	uint8_t key[MAXE][LOG_KEY_LEN];
	uint64_t next;
	uint64_t bfirst[MAXB], bn[MAXB];
	size_t nb, applied_b;
	int stop;
	long delay_ms;		/* the follower sleeps this long per batch */
	int observed;		/* entries the observer saw */
	long seq_delay_ms;	/* the sequencer fn sleeps this long first */
	int seq_returned;	/* calls of the fn that returned */
	pthread_t follower;
};

static const uint8_t zero_key[LOG_KEY_LEN];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ls_rc fake_seq(void *ctx, const struct iovec *e, size_t n, const uint8_t (*keys)[LOG_KEY_LEN],
		      uint64_t *idx, struct ls_err *err)
{
	struct fake *f = ctx;
	uint64_t first;
	size_t k = 0;

	if (f->seq_delay_ms)
		sleep_ms(f->seq_delay_ms);
	pthread_mutex_lock(&f->mu);
	first = f->next;
	for (size_t i = 0; i < n; i++) {
		int dup = -1;

		if (keys && memcmp(keys[i], zero_key, LOG_KEY_LEN))
			for (uint64_t j = 0; j < f->next; j++)
				if (!memcmp(f->key[j], keys[i], LOG_KEY_LEN))
					dup = (int)j;
		if (dup >= 0) {
			idx[i] = (uint64_t)dup;
			continue;
		}
		f->ent[f->next] = malloc(e[i].iov_len);
		memcpy(f->ent[f->next], e[i].iov_base, e[i].iov_len);
		f->len[f->next] = e[i].iov_len;
		memcpy(f->key[f->next], keys ? keys[i] : zero_key, LOG_KEY_LEN);
		idx[i] = f->next++;
		k++;
	}
	if (k) {
		f->bfirst[f->nb] = first;
		f->bn[f->nb++] = k;
		pthread_cond_broadcast(&f->cv);
	}
	f->seq_returned++;
	pthread_mutex_unlock(&f->mu);
	(void)err;
	return LS_OK;
}

static void *follow(void *arg)
{
	struct fake *f = arg;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->stop && f->applied_b == f->nb)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->applied_b == f->nb)
			break;
		uint64_t first = f->bfirst[f->applied_b], n = f->bn[f->applied_b];
		struct iovec iov[MAXE];
		struct ls_err err = { "" };

		for (uint64_t i = 0; i < n; i++) {
			iov[i].iov_base = f->ent[first + i];
			iov[i].iov_len = f->len[first + i];
		}
		pthread_mutex_unlock(&f->mu);
		if (f->delay_ms)
			sleep_ms(f->delay_ms);
		assert_int_equal(log_apply(f->log, first, iov, n, &err), LS_OK);
		pthread_mutex_lock(&f->mu);
		f->applied_b++;
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static void observe(void *ctx, uint64_t first, const struct iovec *e, const uint64_t *offs, size_t n)
{
	struct fake *f = ctx;

	assert_int_equal(first, (uint64_t)f->observed);
	f->observed += (int)n;
}

static void setup(struct fake *f, char *root, int threads)
{
	char dir[128];
	struct log_opts lo = { 0 };
	struct ls_err err = { "" };

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	assert_int_equal(log_init(dir, "test.example/cluster", &err), LS_OK);
	lo.dir = dir;
	lo.no_threads = !threads;
	assert_int_equal(log_open(&lo, &f->log, NULL, &err), LS_OK);
	log_set_observer(f->log, observe, f);
	log_set_sequencer(f->log, fake_seq, f);
	assert_int_equal(pthread_create(&f->follower, NULL, follow, f), 0);
}

static void teardown(struct fake *f, const char *root)
{
	char cmd[200];
	struct ls_err err = { "" };

	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->follower, NULL);
	assert_int_equal(log_close(f->log, &err), LS_OK);
	for (uint64_t i = 0; i < f->next; i++)
		free(f->ent[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

/* The journal holds exactly the fake database's entries, in leaf order. */
static void check_journal(struct fake *f, const char *root)
{
	char jdir[256];
	struct journal_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t index, got = 0;
	struct ls_err err = { "" };
	ls_rc rc;

	snprintf(jdir, sizeof(jdir), "%s/d/journal", root);
	assert_int_equal(journal_iter_open(jdir, 0, &it, &err), LS_OK);
	while ((rc = journal_iter_next(it, &data, &len, &index, &err)) == LS_OK) {
		assert_int_equal(index, got);
		assert_true(got < f->next);
		assert_int_equal(len, f->len[got]);
		assert_memory_equal(data, f->ent[got], len);
		got++;
	}
	assert_int_equal(rc, LS_NOTFOUND);
	assert_int_equal(got, f->next);
	journal_iter_free(it);
}

static void mkiov(struct iovec *iov, char (*text)[64], int n, int base)
{
	for (int i = 0; i < n; i++) {
		snprintf(text[i], sizeof(text[i]), "{\"n\":%d}", base + i);
		iov[i].iov_base = text[i];
		iov[i].iov_len = strlen(text[i]);
	}
}

static void test_order(void **state)
{
	char root[] = "/tmp/test_log_cluster.XXXXXX", text[8][64];
	struct iovec iov[8];
	struct fake f;
	struct ls_err err = { "" };
	struct log_ticket *t;
	uint64_t first;

	setup(&f, root, 1);
	mkiov(iov, text, 3, 0);
	assert_int_equal(log_append(f.log, iov, 3, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	assert_true(log_size(f.log) >= 3);	/* read your writes */
	mkiov(iov, text, 2, 3);
	assert_int_equal(log_append_start(f.log, iov, 2, &t, &err), LS_OK);
	assert_int_equal(log_append_finish(f.log, t, &first, &err), LS_OK);
	assert_int_equal(first, 3);
	mkiov(iov, text, 1, 5);
	assert_int_equal(log_append(f.log, iov, 1, &first, &err), LS_OK);
	assert_int_equal(first, 5);
	assert_int_equal(log_size(f.log), 6);
	assert_int_equal(f.observed, 6);
	/* the local journal is written only through log_apply() */
	assert_int_equal(f.nb, 3);
	/* an empty batch is refused before the sequencer sees it */
	assert_int_equal(log_append(f.log, iov, 0, &first, &err), LS_INVALID);
	assert_int_equal(f.nb, 3);
	check_journal(&f, root);
	teardown(&f, root);
}

static void test_apply_index(void **state)
{
	char root[] = "/tmp/test_log_cluster.XXXXXX", text[8][64];
	struct iovec iov[8];
	struct fake f;
	struct ls_err err = { "" };

	for (int threads = 0; threads <= 1; threads++) {
		memcpy(root + strlen(root) - 6, "XXXXXX", 6);
		setup(&f, root, threads);
		log_set_sequencer(f.log, NULL, NULL);
		mkiov(iov, text, 2, 0);
		assert_int_equal(log_apply(f.log, 1, iov, 2, &err), LS_INVALID);
		assert_non_null(strstr(err.msg, "leaf 1"));
		assert_int_equal(log_size(f.log), 0);
		assert_int_equal(log_apply(f.log, 0, iov, 2, &err), LS_OK);
		assert_int_equal(log_size(f.log), 2);
		assert_int_equal(log_apply(f.log, 0, iov, 2, &err), LS_INVALID);
		assert_int_equal(log_apply(f.log, 5, iov, 2, &err), LS_INVALID);
		assert_non_null(strstr(err.msg, "holds 2 entries"));
		assert_int_equal(log_size(f.log), 2);
		assert_int_equal(log_apply(f.log, 2, iov, 1, &err), LS_OK);
		assert_int_equal(log_size(f.log), 3);
		assert_int_equal(f.observed, 3);
		teardown(&f, root);
	}
}

static void test_keyed(void **state)
{
	char root[] = "/tmp/test_log_cluster.XXXXXX", text[8][64];
	struct iovec iov[8];
	uint8_t keys[4][LOG_KEY_LEN];
	uint64_t idx[4];
	struct fake f;
	struct ls_err err = { "" };

	setup(&f, root, 1);
	memset(keys, 0, sizeof(keys));
	memset(keys[0], 'A', LOG_KEY_LEN);
	memset(keys[2], 'B', LOG_KEY_LEN);
	mkiov(iov, text, 3, 0);
	assert_int_equal(log_append_keyed(f.log, iov, 3, (const uint8_t (*)[LOG_KEY_LEN])keys, idx,
					  &err), LS_OK);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 2);
	/* a retry of A, and a new C: A gets 0 back, only C is appended */
	memset(keys[0], 'A', LOG_KEY_LEN);
	memset(keys[1], 'C', LOG_KEY_LEN);
	mkiov(iov, text, 2, 10);
	assert_int_equal(log_append_keyed(f.log, iov, 2, (const uint8_t (*)[LOG_KEY_LEN])keys, idx,
					  &err), LS_OK);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 3);
	assert_int_equal(log_size(f.log), 4);
	/* the whole batch again: nothing new */
	assert_int_equal(log_append_keyed(f.log, iov, 2, (const uint8_t (*)[LOG_KEY_LEN])keys, idx,
					  &err), LS_OK);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 3);
	assert_int_equal(log_size(f.log), 4);
	assert_int_equal(f.nb, 2);
	check_journal(&f, root);

	/* single node: the keys are ignored, indexes are consecutive */
	log_set_sequencer(f.log, NULL, NULL);
	assert_int_equal(log_append_keyed(f.log, iov, 2, (const uint8_t (*)[LOG_KEY_LEN])keys, idx,
					  &err), LS_OK);
	assert_int_equal(idx[0], 4);
	assert_int_equal(idx[1], 5);
	assert_int_equal(log_size(f.log), 6);
	teardown(&f, root);
}

static void test_read_your_writes(void **state)
{
	char root[] = "/tmp/test_log_cluster.XXXXXX", text[8][64];
	struct iovec iov[8];
	struct fake f;
	struct ls_err err = { "" };
	uint64_t first;
	double t0;

	setup(&f, root, 1);
	f.delay_ms = 300;
	mkiov(iov, text, 4, 0);
	t0 = now_s();
	assert_int_equal(log_append(f.log, iov, 4, &first, &err), LS_OK);
	assert_true(now_s() - t0 >= 0.25);	/* it waited for the follower */
	assert_int_equal(first, 0);
	assert_int_equal(log_size(f.log), 4);
	mkiov(iov, text, 1, 4);
	assert_int_equal(log_append(f.log, iov, 1, &first, &err), LS_OK);
	assert_int_equal(first, 4);
	assert_int_equal(log_size(f.log), 5);
	check_journal(&f, root);
	teardown(&f, root);
}

static void *append_one(void *arg)
{
	struct fake *f = arg;
	struct iovec iov = { "{\"slow\":1}", 10 };
	struct ls_err err = { "" };
	uint64_t first;

	assert_int_equal(log_append(f->log, &iov, 1, &first, &err), LS_OK);
	return NULL;
}

/* log_set_sequencer() returns only once no call of the previous fn runs
 * (cluster_close() frees that fn's context right after). */
static void test_set_sequencer_waits(void **state)
{
	char root[] = "/tmp/test_log_cluster.XXXXXX";
	struct fake f;
	pthread_t th;
	int returned;

	setup(&f, root, 1);
	f.seq_delay_ms = 300;
	assert_int_equal(pthread_create(&th, NULL, append_one, &f), 0);
	sleep_ms(100);		/* the append is inside fake_seq now */
	log_set_sequencer(f.log, NULL, NULL);
	pthread_mutex_lock(&f.mu);
	returned = f.seq_returned;
	pthread_mutex_unlock(&f.mu);
	assert_int_equal(returned, 1);
	pthread_join(th, NULL);
	assert_int_equal(log_size(f.log), 1);
	teardown(&f, root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_apply_index),
		cmocka_unit_test(test_keyed),
		cmocka_unit_test(test_read_your_writes),
		cmocka_unit_test(test_set_sequencer_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
