/*
 * test_reader.c - the storage seam (src/store/reader.h) keeps its contract
 * over the segment backend: entries in order with no gap from any start;
 * entry i by the hint the iterator gave, the same bytes; a wrong hint or
 * an index past the end is LS_NOTFOUND and never another entry; a strict
 * iterator turns a torn tail into LS_CORRUPT where a following one stops
 * cleanly; nothing below the retained point is served; and an iterator
 * opened before more entries arrive sees them.  Entries are written with
 * journal.h (the writer's side, below the seam); everything is read back
 * through reader.h only.  Each test works in its own directory under /tmp.
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

#include "store/journal.h"
#include "store/reader.h"

#define SEG_SIZE 2048		/* small: many segments */
#define N 300

struct fx {
	char root[64];
	char dir[96];
	struct journal *j;
	uint64_t hint[N];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* Entry i: its number, then filler of a length that varies with i. */
static size_t entry_make(uint64_t i, char *out, size_t cap)
{
	size_t len = 20 + (size_t)(i * 29 % 150);
	int n = snprintf(out, cap, "entry-%llu;", (unsigned long long)i);

	for (size_t k = (size_t)n; k < len; k++)
		out[k] = (char)('a' + (i + k) % 26);
	return len;
}

static void append(struct fx *fx, uint64_t from, uint64_t n)
{
	struct ls_err err = { "" };
	char buf[256];

	for (uint64_t i = from; i < from + n; i++) {
		struct iovec iov = { buf, entry_make(i, buf, sizeof(buf)) };
		uint64_t first;

		assert_int_equal(journal_append(fx->j, &iov, 1, &first, &err), LS_OK);
		assert_int_equal(first, i);
	}
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct journal_opts o = { .segment_size = SEG_SIZE };
	struct ls_err err = { "" };

	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/ls-reader-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/journal", fx->root);
	if (journal_open(fx->dir, &o, &fx->j, NULL, &err) != LS_OK) {
		fprintf(stderr, "journal_open: %s\n", err.msg);
		return -1;
	}
	*state = fx;
	append(fx, 0, N);
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	journal_close(fx->j);
	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Read from start to the end through the seam, checking each entry and
 * keeping its hint; returns how many were read. */
static uint64_t read_all(struct fx *fx, uint64_t start, int flags)
{
	struct store_iter *it = NULL;
	struct ls_err err = { "" };
	const uint8_t *data;
	const char *name;
	uint64_t idx, want = start, n = 0;
	size_t len;
	char buf[256];
	ls_rc rc;

	assert_int_equal(store_iter_open(fx->dir, start, flags, &it, &err), LS_OK);
	while ((rc = store_iter_next(it, &data, &len, &idx, &err)) == LS_OK) {
		size_t wl = entry_make(idx, buf, sizeof(buf));

		assert_int_equal(idx, want);
		assert_int_equal(len, wl);
		assert_memory_equal(data, buf, wl);
		store_iter_where(it, &name, &fx->hint[idx]);
		assert_non_null(name);
		want++;
		n++;
	}
	assert_int_equal(rc, LS_NOTFOUND);
	store_iter_free(it);
	return n;
}

static void test_backend(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(store_backend_of(fx->dir)->name, "segments");
}

/* Every entry in order from 0, and from a start inside a later segment. */
static void test_in_order(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(read_all(fx, 0, 0), N);
	assert_int_equal(read_all(fx, 137, 0), N - 137);
	assert_int_equal(read_all(fx, 0, STORE_STRICT), N);
	assert_int_equal(read_all(fx, N, 0), 0);
}

/* Entry i by its hint: the same bytes; wrong hints and indexes past the
 * end are LS_NOTFOUND with nothing returned. */
static void test_by_hint(void **state)
{
	struct fx *fx = *state;
	struct store_reader *r = NULL;
	struct store_pass pass = { 0 };
	struct ls_err err = { "" };
	uint8_t *data;
	size_t len;
	char buf[256];

	read_all(fx, 0, 0);
	assert_int_equal(store_reader_open(fx->dir, &r, &err), LS_OK);
	for (uint64_t i = 0; i < N; i += 7) {
		size_t wl = entry_make(i, buf, sizeof(buf));

		assert_int_equal(store_reader_get(r, &pass, i, fx->hint[i], &data, &len, &err), LS_OK);
		assert_int_equal(len, wl);
		assert_memory_equal(data, buf, wl);
		free(data);
		/* Without a pass too. */
		assert_int_equal(store_reader_get(r, NULL, i, fx->hint[i], &data, &len, &err), LS_OK);
		free(data);
	}
	/* The hint of entry 11 does not give entry 12: a stale hint costs a
	 * lookup and still gives entry 12 (reader.h), as no hint does. */
	{
		size_t wl = entry_make(12, buf, sizeof(buf));

		assert_int_equal(store_reader_get(r, &pass, 12, fx->hint[11], &data, &len, &err),
				 LS_OK);
		assert_int_equal(len, wl);
		assert_memory_equal(data, buf, wl);
		free(data);
		assert_int_equal(store_reader_get(r, &pass, 12, UINT64_MAX, &data, &len, &err),
				 LS_OK);
		assert_int_equal(len, wl);
		assert_memory_equal(data, buf, wl);
		free(data);
	}
	assert_int_equal(store_reader_get(r, &pass, N + 5, 32, &data, &len, &err), LS_NOTFOUND);
	assert_null(data);
	store_reader_free(r);
}

/* Entries appended after an iterator reached the end are seen by it. */
static void test_follows(void **state)
{
	struct fx *fx = *state;
	struct store_iter *it = NULL;
	struct ls_err err = { "" };
	const uint8_t *data;
	uint64_t idx, last = 0;
	size_t len;

	assert_int_equal(store_iter_open(fx->dir, N - 3, 0, &it, &err), LS_OK);
	while (store_iter_next(it, &data, &len, &idx, &err) == LS_OK)
		last = idx;
	assert_int_equal(last, N - 1);
	append(fx, N, 40);
	while (store_iter_next(it, &data, &len, &idx, &err) == LS_OK)
		last = idx;
	assert_int_equal(last, N + 39);
	store_iter_free(it);
}

/* A torn tail: a following iterator stops cleanly before it, a strict one
 * says LS_CORRUPT and where. */
static void test_torn_tail(void **state)
{
	struct fx *fx = *state;
	struct store_iter *it = NULL;
	struct ls_err err = { "" };
	const uint8_t *data;
	const char *name = NULL;
	uint64_t idx, hint, n = 0;
	size_t len;
	char path[256], seg[64];
	struct stat st;
	ls_rc rc;

	/* Find the last segment and cut its last record in half. */
	assert_int_equal(store_iter_open(fx->dir, N - 1, 0, &it, &err), LS_OK);
	assert_int_equal(store_iter_next(it, &data, &len, &idx, &err), LS_OK);
	store_iter_where(it, &name, &hint);
	/* name belongs to the iterator: keep a copy. */
	snprintf(seg, sizeof(seg), "%s", name);
	snprintf(path, sizeof(path), "%s/%s", fx->dir, seg);
	store_iter_free(it);
	journal_close(fx->j);
	fx->j = NULL;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 10), 0);

	assert_int_equal(store_iter_open(fx->dir, 0, 0, &it, &err), LS_OK);
	while ((rc = store_iter_next(it, &data, &len, &idx, &err)) == LS_OK)
		n++;
	assert_int_equal(rc, LS_NOTFOUND);
	assert_int_equal(n, N - 1);
	store_iter_free(it);

	n = 0;
	assert_int_equal(store_iter_open(fx->dir, 0, STORE_STRICT, &it, &err), LS_OK);
	while ((rc = store_iter_next(it, &data, &len, &idx, &err)) == LS_OK)
		n++;
	assert_int_equal(rc, LS_CORRUPT);
	assert_int_equal(n, N - 1);
	assert_non_null(strstr(err.msg, seg));
	store_iter_free(it);
}

/* Retention: once entries below a point may go, nothing below it is
 * served by the reader, and the point reads back. */
static void test_retained(void **state)
{
	struct fx *fx = *state;
	struct store_reader *r = NULL;
	struct store_pass pass = { 0 };
	struct ls_err err = { "" };
	uint64_t first = 99;
	uint8_t *data;
	size_t len;

	read_all(fx, 0, 0);
	assert_int_equal(store_retained(fx->dir, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	assert_int_equal(store_reader_open(fx->dir, &r, &err), LS_OK);
	assert_int_equal(store_reader_get(r, &pass, 3, fx->hint[3], &data, &len, &err), LS_OK);
	free(data);
	assert_int_equal(store_set_retained(fx->dir, 200, &err), LS_OK);
	assert_int_equal(store_retained(fx->dir, &first, &err), LS_OK);
	assert_int_equal(first, 200);
	/* A new pass reads the retained point again. */
	memset(&pass, 0, sizeof(pass));
	assert_int_equal(store_reader_get(r, &pass, 3, fx->hint[3], &data, &len, &err), LS_NOTFOUND);
	assert_int_equal(store_reader_get(r, &pass, 250, fx->hint[250], &data, &len, &err), LS_OK);
	free(data);
	store_reader_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_by_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retained, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
