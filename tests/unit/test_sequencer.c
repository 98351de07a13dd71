/*
 * test_sequencer - the invariants of the log's group commit (log.c):
 *  - a checkpoint covers only entries that are durable: after a batch that
 *    failed in the journal, the next checkpoint signs exactly what was
 *    acknowledged, and its root is the root of the entries read back from
 *    the journal (with and without the sequencer thread);
 *  - many threads appending at once get distinct, contiguous indexes, the
 *    final size is the sum of their batches, every entry is where its
 *    caller was told, and every checkpoint seen meanwhile is within the
 *    durable size;
 *  - a failed journal write or fdatasync is sticky: the log says it failed,
 *    refuses every later append (LS_FAILED, "reopen"), keeps its size, and
 *    what was acknowledged before is intact after a reopen; a full disk
 *    (ENOSPC) is not sticky;
 *  - busy: a full queue refuses a batch at once with LS_BUSY, and a batch
 *    that waits too long for a checkpoint (the checkpointer is stuck) fails
 *    with LS_BUSY; neither writes anything of the batch.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/merkle.h"
#include "core/note.h"
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

/* A fresh data directory under root (mkdtemp'd by the caller). */
static void new_log(char *root, char *dir, size_t cap)
{
	struct ls_err err = { "" };

	assert_non_null(mkdtemp(root));
	snprintf(dir, cap, "%s/d", root);
	assert_int_equal(log_init(dir, "log.test/seq", &err), LS_OK);
}

/* The first n entries of the journal of dir, malloc'd copies (the caller
 * frees them with free_entries()); fewer when the journal holds fewer. */
struct entries {
	char **text;
	size_t *len;
	size_t n;
};

static void read_entries(const char *dir, size_t n, struct entries *out)
{
	char jdir[256];
	struct journal_iter *it;
	struct ls_err err = { "" };
	const uint8_t *data;
	uint64_t index;
	size_t len;

	out->text = calloc(n ? n : 1, sizeof(*out->text));
	out->len = calloc(n ? n : 1, sizeof(*out->len));
	out->n = 0;
	assert_non_null(out->text);
	assert_non_null(out->len);
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	assert_int_equal(journal_iter_open(jdir, 0, &it, &err), LS_OK);
	while (out->n < n && journal_iter_next(it, &data, &len, &index, &err) == LS_OK) {
		assert_int_equal(index, (uint64_t)out->n);
		out->text[out->n] = malloc(len + 1);
		assert_non_null(out->text[out->n]);
		memcpy(out->text[out->n], data, len);
		out->text[out->n][len] = 0;
		out->len[out->n] = len;
		out->n++;
	}
	journal_iter_free(it);
}

static void free_entries(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->text[i]);
	free(e->text);
	free(e->len);
}

/* The latest checkpoint of l, its signature checked with the log's own
 * verifier, parsed. */
static void latest_checkpoint(struct log *l, struct checkpoint *cp)
{
	char *note = NULL;
	uint64_t size = 0;
	size_t text_len = 0;
	struct ls_err err = { "" };

	assert_int_equal(log_latest_checkpoint(l, &note, &size), LS_OK);
	assert_int_equal(note_open(note, strlen(note), log_verifier(l), 1, &text_len, &err), LS_OK);
	assert_int_equal(checkpoint_parse(note, text_len, cp, &err), LS_OK);
	assert_int_equal(cp->size, size);
	free(note);
}

/* The checkpoint's root is the root of its first cp->size journal entries:
 * every leaf it signs is durable and is the entry stored there. */
static void check_root_matches_journal(const char *dir, const struct checkpoint *cp)
{
	struct merkle_tree t;
	struct entries e;
	uint8_t leaf[LS_HASH_LEN], root[LS_HASH_LEN];

	read_entries(dir, cp->size, &e);
	assert_int_equal(e.n, cp->size);
	merkle_tree_init(&t);
	for (size_t i = 0; i < e.n; i++) {
		merkle_leaf_hash(e.text[i], e.len[i], leaf);
		merkle_tree_append(&t, leaf);
	}
	merkle_tree_root(&t, root);
	assert_memory_equal(root, cp->root, LS_HASH_LEN);
	free_entries(&e);
}

static void entry_text(char *buf, size_t cap, int t, int i, int k)
{
	snprintf(buf, cap, "{\"t\":%d,\"i\":%d,\"k\":%d,\"pad\":\"%0*d\"}", t, i, k, 8 + (i + k) % 9,
		 i);
}

/* ------------------------------------------------ checkpoint publication */

/* Acknowledged: 3 + 2 entries.  The third batch fails in the journal (a
 * half-written batch, as when the disk errs mid-write): its leaves must
 * never reach a checkpoint, though the next checkpoint round runs. */
static void checkpoint_only_durable(int no_threads)
{
	char root[] = "/tmp/test_sequencer.XXXXXX", dir[128], text[9][96];
	struct log_opts lo = { 0 };
	struct iovec iov[9];
	struct ls_err err = { "" };
	struct checkpoint cp;
	struct log *l;
	uint64_t first;

	new_log(root, dir, sizeof(dir));
	lo.dir = dir;
	lo.no_threads = no_threads;
	lo.checkpoint_interval_ms = 600000; /* we sign when we want to */
	lo.max_unsigned_ms = 600000;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	if (!no_threads)
		log_test_hold_checkpoints(l, 1);
	for (int i = 0; i < 9; i++) {
		entry_text(text[i], sizeof(text[i]), 0, i, 0);
		iov[i] = (struct iovec){ text[i], strlen(text[i]) };
	}
	assert_int_equal(log_append(l, iov, 3, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	assert_int_equal(log_checkpoint(l, &err), LS_OK);
	latest_checkpoint(l, &cp);
	assert_int_equal(cp.size, 3);

	assert_int_equal(log_append(l, iov + 3, 2, &first, &err), LS_OK);
	assert_int_equal(first, 3);
	log_test_fail_next(l, JOURNAL_FAULT_WRITE, EIO);
	assert_int_not_equal(log_append(l, iov + 5, 4, &first, &err), LS_OK);
	assert_int_equal(log_size(l), 5);

	/* Sign what is there: exactly the acknowledged entries. */
	(void)log_checkpoint(l, &err);
	latest_checkpoint(l, &cp);
	assert_int_equal(cp.size, 5);
	assert_true(cp.size <= log_size(l));
	check_root_matches_journal(dir, &cp);

	log_close(l, &err);
	rm_rf(root);
}

static void test_checkpoint_only_durable_threads(void **state)
{
	(void)state;
	checkpoint_only_durable(0);
}

static void test_checkpoint_only_durable_no_threads(void **state)
{
	(void)state;
	checkpoint_only_durable(1);
}

/* ------------------------------------------------- concurrent appends */

#define NT 6
#define PER_THREAD 120

struct writer {
	struct log *l;
	int t;
	uint64_t first[PER_THREAD];
	int n[PER_THREAD];
	ls_rc rc;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char text[3][96];
	struct iovec iov[3];
	struct ls_err err = { "" };

	for (int i = 0; i < PER_THREAD; i++) {
		w->n[i] = 1 + (i + w->t) % 3;
		for (int k = 0; k < w->n[i]; k++) {
			entry_text(text[k], sizeof(text[k]), w->t, i, k);
			iov[k] = (struct iovec){ text[k], strlen(text[k]) };
		}
		w->rc = log_append(w->l, iov, (size_t)w->n[i], &w->first[i], &err);
		if (w->rc != LS_OK)
			break;
	}
	return NULL;
}

struct poller {
	struct log *l;
	atomic_int stop;
	int seen;		/* checkpoints observed */
	int bad;		/* a checkpoint beyond the durable size, or going back */
};

/* Every checkpoint observed while the writers run lies within the durable
 * size, read after it, and never goes back. */
static void *poller_main(void *arg)
{
	struct poller *p = arg;
	uint64_t last = 0;

	while (!atomic_load(&p->stop)) {
		char *note = NULL;
		uint64_t size = 0;

		if (log_latest_checkpoint(p->l, &note, &size) == LS_OK) {
			if (size > log_size(p->l) || size < last)
				p->bad++;
			if (size != last)
				p->seen++;
			last = size;
		}
		free(note);
		sleep_ms(1);
	}
	return NULL;
}

static void test_concurrent_appends(void **state)
{
	char root[] = "/tmp/test_sequencer.XXXXXX", dir[128], want[96];
	struct log_opts lo = { 0 };
	struct ls_err err = { "" };
	static struct writer w[NT];
	struct poller p = { 0 };
	pthread_t th[NT], pt;
	struct checkpoint cp;
	struct entries e;
	uint64_t total = 0;
	uint8_t *owner;
	struct log *l;

	(void)state;
	new_log(root, dir, sizeof(dir));
	lo.dir = dir;
	lo.checkpoint_interval_ms = 5; /* checkpoints land while appends run */
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	p.l = l;
	assert_int_equal(pthread_create(&pt, NULL, poller_main, &p), 0);
	for (int t = 0; t < NT; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].l = l;
		w[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
	}
	for (int t = 0; t < NT; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < NT; t++) {
		assert_int_equal(w[t].rc, LS_OK);
		for (int i = 0; i < PER_THREAD; i++)
			total += (uint64_t)w[t].n[i];
	}
	/* The poller watches until the checkpointer has signed everything
	 * (the writers may be done before the first interval is over). */
	for (int i = 0; i < 500; i++) {
		char *note = NULL;
		uint64_t size = 0;

		assert_int_equal(log_latest_checkpoint(l, &note, &size), LS_OK);
		free(note);
		if (size == total)
			break;
		sleep_ms(10);
	}
	sleep_ms(20);
	atomic_store(&p.stop, 1);
	pthread_join(pt, NULL);
	assert_int_equal(p.bad, 0);
	assert_true(p.seen >= 1); /* the check above saw checkpoints land */
	assert_int_equal(log_size(l), total);
	/* Every index 0..total-1 was given to exactly one entry. */
	owner = calloc(total, 1);
	assert_non_null(owner);
	for (int t = 0; t < NT; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			for (int k = 0; k < w[t].n[i]; k++) {
				uint64_t x = w[t].first[i] + (uint64_t)k;

				assert_true(x < total);
				assert_int_equal(owner[x], 0);
				owner[x] = 1;
			}
			/* A caller's batches come back in its own order. */
			if (i)
				assert_true(w[t].first[i] > w[t].first[i - 1]);
		}
	}
	free(owner);

	/* Each entry is stored where its caller was told. */
	read_entries(dir, total, &e);
	assert_int_equal(e.n, total);
	for (int t = 0; t < NT; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			for (int k = 0; k < w[t].n[i]; k++) {
				uint64_t x = w[t].first[i] + (uint64_t)k;

				entry_text(want, sizeof(want), t, i, k);
				assert_string_equal(e.text[x], want);
			}
		}
	}
	free_entries(&e);

	assert_int_equal(log_checkpoint(l, &err), LS_OK);
	latest_checkpoint(l, &cp);
	assert_int_equal(cp.size, total);
	check_root_matches_journal(dir, &cp);
	assert_int_equal(log_close(l, &err), LS_OK);
	rm_rf(root);
}

/* ------------------------------------------------------ sticky failure */

static void sticky_failure(int op)
{
	char root[] = "/tmp/test_sequencer.XXXXXX", dir[128], text[6][96];
	struct log_opts lo = { 0 };
	struct iovec iov[6];
	struct ls_err err = { "" };
	struct log_ticket *t;
	struct entries e;
	struct log *l;
	uint64_t first;

	new_log(root, dir, sizeof(dir));
	lo.dir = dir;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	for (int i = 0; i < 6; i++) {
		entry_text(text[i], sizeof(text[i]), 1, i, op);
		iov[i] = (struct iovec){ text[i], strlen(text[i]) };
	}
	assert_int_equal(log_append(l, iov, 2, &first, &err), LS_OK);
	assert_int_equal(log_failed(l), 0);

	log_test_fail_next(l, op, EIO);
	assert_int_equal(log_append(l, iov + 2, 2, &first, &err), LS_IO);
	assert_int_equal(log_failed(l), 1);
	assert_int_equal(log_size(l), 2);

	/* Sticky: no retry (a retried fdatasync may claim success for pages
	 * the kernel dropped), every later append is refused, clearly. */
	for (int round = 0; round < 3; round++) {
		err.msg[0] = 0;
		assert_int_equal(log_append(l, iov + 4, 1, &first, &err), LS_FAILED);
		assert_non_null(strstr(err.msg, "reopen"));
	}
	t = (struct log_ticket *)&err;
	assert_int_equal(log_append_start(l, iov + 4, 1, &t, &err), LS_FAILED);
	assert_null(t);
	assert_int_equal(log_rotate_key(l, &err), LS_FAILED);
	assert_int_equal(log_size(l), 2);
	assert_int_equal(log_failed(l), 1);
	log_close(l, &err);

	/* Reopened: what was acknowledged is there, byte for byte, and the
	 * log takes appends again. */
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	assert_int_equal(log_failed(l), 0);
	assert_true(log_size(l) >= 2);
	read_entries(dir, 2, &e);
	assert_int_equal(e.n, 2);
	for (int i = 0; i < 2; i++)
		assert_string_equal(e.text[i], text[i]);
	free_entries(&e);
	assert_int_equal(log_append(l, iov + 5, 1, &first, &err), LS_OK);
	assert_int_equal(log_close(l, &err), LS_OK);
	rm_rf(root);
}

static void test_sticky_after_write_failure(void **state)
{
	(void)state;
	sticky_failure(JOURNAL_FAULT_WRITE);
}

static void test_sticky_after_sync_failure(void **state)
{
	(void)state;
	sticky_failure(JOURNAL_FAULT_SYNC);
}

/* A full disk is not a failure of the journal: the half-written batch is
 * undone, refused with LS_NOSPACE, and the next batch takes its place. */
static void test_nospace_is_not_sticky(void **state)
{
	char root[] = "/tmp/test_sequencer.XXXXXX", dir[128], text[3][96];
	struct log_opts lo = { 0 };
	struct iovec iov[3];
	struct ls_err err = { "" };
	struct entries e;
	struct log *l;
	uint64_t first;

	(void)state;
	new_log(root, dir, sizeof(dir));
	lo.dir = dir;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	for (int i = 0; i < 3; i++) {
		entry_text(text[i], sizeof(text[i]), 2, i, 0);
		iov[i] = (struct iovec){ text[i], strlen(text[i]) };
	}
	assert_int_equal(log_append(l, iov, 1, &first, &err), LS_OK);
	log_test_fail_next(l, JOURNAL_FAULT_WRITE, ENOSPC);
	assert_int_equal(log_append(l, iov + 1, 1, &first, &err), LS_NOSPACE);
	assert_int_equal(log_failed(l), 0);
	assert_int_equal(log_append(l, iov + 2, 1, &first, &err), LS_OK);
	assert_int_equal(first, 1);
	assert_int_equal(log_close(l, &err), LS_OK);
	read_entries(dir, 3, &e);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.text[0], text[0]);
	assert_string_equal(e.text[1], text[2]);
	free_entries(&e);
	rm_rf(root);
}

/* ---------------------------------------------------------------- busy */

struct bg {
	struct log *l;
	struct iovec iov[2];
	size_t n;
	uint64_t first;
	ls_rc rc;
	char msg[256];
	atomic_int done;
};

static void *bg_main(void *arg)
{
	struct bg *b = arg;
	struct ls_err err = { "" };

	b->rc = log_append(b->l, b->iov, b->n, &b->first, &err);
	snprintf(b->msg, sizeof(b->msg), "%s", err.msg);
	atomic_store(&b->done, 1);
	return NULL;
}

/* Waits up to ms for b to finish; 1 when it did. */
static int bg_wait(struct bg *b, long ms)
{
	for (long i = 0; i < ms / 10 && !atomic_load(&b->done); i++)
		sleep_ms(10);
	return atomic_load(&b->done);
}

/* A window of one unsigned entry, full, with the checkpointer held: the
 * sequencer holds the next batch in its queue. */
static struct log *open_stalled(char *root, char *dir, size_t cap, size_t queue_max, char *text0)
{
	struct log_opts lo = { 0 };
	struct ls_err err = { "" };
	struct iovec iov;
	struct log *l;
	uint64_t first;

	new_log(root, dir, cap);
	lo.dir = dir;
	lo.checkpoint_interval_ms = 600000;
	lo.max_unsigned_entries = 1;
	lo.max_unsigned_ms = 600000;
	lo.queue_max_bytes = queue_max;
	assert_int_equal(log_open(&lo, &l, NULL, &err), LS_OK);
	log_test_hold_checkpoints(l, 1);
	iov = (struct iovec){ text0, strlen(text0) };
	assert_int_equal(log_append(l, &iov, 1, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	return l;
}

/* The queue holds at most queue_max_bytes: beyond, LS_BUSY at once. */
static void test_busy_when_queue_full(void **state)
{
	char root[] = "/tmp/test_sequencer.XXXXXX", dir[128], text[4][128];
	struct bg x = { 0 }, y = { 0 };
	struct ls_err err = { "" };
	struct entries e;
	pthread_t tx, ty;
	struct log *l;

	(void)state;
	for (int i = 0; i < 4; i++)
		entry_text(text[i], sizeof(text[i]), 3, i, 0);
	/* Room for x's record (under 100 bytes with its header), not for y's two. */
	l = open_stalled(root, dir, sizeof(dir), 160, text[0]);

	x.l = l;
	x.iov[0] = (struct iovec){ text[1], strlen(text[1]) };
	x.n = 1;
	assert_int_equal(pthread_create(&tx, NULL, bg_main, &x), 0);
	assert_false(bg_wait(&x, 300)); /* queued, waiting for a checkpoint */

	y.l = l;
	y.iov[0] = (struct iovec){ text[2], strlen(text[2]) };
	y.iov[1] = (struct iovec){ text[3], strlen(text[3]) };
	y.n = 2;
	assert_int_equal(pthread_create(&ty, NULL, bg_main, &y), 0);
	assert_true(bg_wait(&y, 2000)); /* refused at once, not queued */
	pthread_join(ty, NULL);
	assert_int_equal(y.rc, LS_BUSY);
	assert_non_null(strstr(y.msg, "saturated"));
	assert_int_equal(log_size(l), 1);

	/* The checkpointer catches up: x is written, y never was. */
	log_test_hold_checkpoints(l, 0);
	assert_true(bg_wait(&x, 5000));
	pthread_join(tx, NULL);
	assert_int_equal(x.rc, LS_OK);
	assert_int_equal(x.first, 1);
	assert_int_equal(log_close(l, &err), LS_OK);
	read_entries(dir, 4, &e);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.text[0], text[0]);
	assert_string_equal(e.text[1], text[1]);
	free_entries(&e);
	rm_rf(root);
}

/* A checkpointer that cannot sign does not hold writers forever: after
 * BACKPRESSURE_GIVE_UP_MS (5 s) the waiting batch fails with LS_BUSY,
 * unwritten, and the log goes on once checkpoints land again. */
static void test_busy_when_checkpointer_stuck(void **state)
{
	char root[] = "/tmp/test_sequencer.XXXXXX", dir[128], text[3][128];
	struct ls_err err = { "" };
	struct bg x = { 0 };
	struct iovec iov;
	struct entries e;
	pthread_t tx;
	struct log *l;
	uint64_t first;

	(void)state;
	for (int i = 0; i < 3; i++)
		entry_text(text[i], sizeof(text[i]), 4, i, 0);
	l = open_stalled(root, dir, sizeof(dir), 0, text[0]);
	x.l = l;
	x.iov[0] = (struct iovec){ text[1], strlen(text[1]) };
	x.n = 1;
	assert_int_equal(pthread_create(&tx, NULL, bg_main, &x), 0);
	assert_false(bg_wait(&x, 2000));
	assert_true(bg_wait(&x, 8000));
	pthread_join(tx, NULL);
	assert_int_equal(x.rc, LS_BUSY);
	assert_non_null(strstr(x.msg, "nothing of the batch was written"));
	assert_int_equal(log_size(l), 1);
	assert_int_equal(log_failed(l), 0);

	log_test_hold_checkpoints(l, 0);
	iov = (struct iovec){ text[2], strlen(text[2]) };
	assert_int_equal(log_append(l, &iov, 1, &first, &err), LS_OK);
	assert_int_equal(first, 1);
	assert_int_equal(log_close(l, &err), LS_OK);
	read_entries(dir, 3, &e);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.text[0], text[0]);
	assert_string_equal(e.text[1], text[2]);
	free_entries(&e);
	rm_rf(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpoint_only_durable_no_threads),
		cmocka_unit_test(test_checkpoint_only_durable_threads),
		cmocka_unit_test(test_concurrent_appends),
		cmocka_unit_test(test_sticky_after_write_failure),
		cmocka_unit_test(test_sticky_after_sync_failure),
		cmocka_unit_test(test_nospace_is_not_sticky),
		cmocka_unit_test(test_busy_when_queue_full),
		cmocka_unit_test(test_busy_when_checkpointer_stuck),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
