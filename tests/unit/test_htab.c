/*
 * test_htab.c - the keyed hash table (htab.h): add, find and delete; keys
 * chosen to collide under the unkeyed FNV-1a the alert engine used (all in
 * one of its 1024 buckets) spread over the chains, and two tables place the
 * same keys differently; the table grows at one node per bucket and
 * htab_reserve() sizes it at once; iteration sees every node once, also
 * when it deletes as it goes; clear forgets everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/htab.h"

struct item {
	struct htab_node hn;
	char key[32];
	int seen;
};

static unsigned eq_calls;

static int item_eq(const struct htab_node *n, const void *key, size_t len)
{
	const struct item *it = htab_entry(n, const struct item, hn);

	eq_calls++;
	return strlen(it->key) == len && !memcmp(it->key, key, len);
}

static struct item *find(struct htab *t, const char *key)
{
	struct htab_node *n = htab_find(t, htab_hash(t, key, strlen(key)), key, strlen(key));

	return n ? htab_entry(n, struct item, hn) : NULL;
}

static void add(struct htab *t, struct item *it)
{
	htab_add(t, &it->hn, htab_hash(t, it->key, strlen(it->key)));
}

static size_t longest_chain(const struct htab *t)
{
	size_t i, most = 0;

	for (i = 0; i < t->nb; i++) {
		size_t n = 0;
		for (struct htab_node *x = t->b[i]; x; x = x->next)
			n++;
		if (n > most)
			most = n;
	}
	return most;
}

static void test_add_find_delete(void **state)
{
	struct item a = { .key = "alice" }, b = { .key = "bob" }, c = { .key = "carol" };
	struct htab t;

	(void)state;
	assert_int_equal(htab_init(&t, 0, item_eq), LS_OK);
	assert_int_equal(t.nb, HTAB_MIN_BUCKETS);
	assert_null(find(&t, "alice"));
	add(&t, &a);
	add(&t, &b);
	assert_ptr_equal(find(&t, "alice"), &a);
	assert_ptr_equal(find(&t, "bob"), &b);
	assert_null(find(&t, "carol"));
	assert_null(find(&t, "alic"));
	assert_null(find(&t, ""));
	assert_int_equal(htab_count(&t), 2);
	htab_del(&t, &a.hn);
	assert_null(find(&t, "alice"));
	assert_ptr_equal(find(&t, "bob"), &b);
	assert_int_equal(htab_count(&t), 1);
	/* a node that is not in the table: nothing happens */
	c.hn.hash = b.hn.hash;
	htab_del(&t, &c.hn);
	assert_int_equal(htab_count(&t), 1);
	assert_ptr_equal(find(&t, "bob"), &b);
	/* deleted, then added again */
	add(&t, &a);
	assert_ptr_equal(find(&t, "alice"), &a);
	htab_clear(&t);
	assert_int_equal(htab_count(&t), 0);
	assert_null(find(&t, "alice"));
	assert_null(find(&t, "bob"));
	htab_release(&t);
	htab_release(&t); /* twice: nothing left to free */
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

/* Keys a writer could send to fill one bucket of the old unkeyed table. */
static struct item *colliding_keys(size_t n)
{
	struct item *v = calloc(n, sizeof(*v));
	size_t k = 0;

	assert_non_null(v);
	for (unsigned long i = 0; k < n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "actor-%lu", i);
		if (fnv1a(key) % 1024 == 0)
			snprintf(v[k++].key, sizeof(v[0].key), "%s", key);
	}
	return v;
}

static void test_colliding_keys_spread(void **state)
{
	const size_t n = 4096;
	struct item *v = colliding_keys(n);
	struct htab t, u;
	size_t i, same = 0;

	(void)state;
	assert_int_equal(htab_init(&t, n, item_eq), LS_OK);
	assert_int_equal(htab_init(&u, n, item_eq), LS_OK);
	for (i = 0; i < n; i++)
		add(&t, &v[i]);
	assert_int_equal(htab_count(&t), n);
	assert_int_equal(t.nb, n); /* sized by init: no growth (invariant 2) */
	/* 4096 keys in 4096 buckets: the longest chain of a random hash is
	 * about 7; under the old hash all of them shared one chain. */
	assert_true(longest_chain(&t) <= 16);
	eq_calls = 0;
	for (i = 0; i < n; i++)
		assert_ptr_equal(find(&t, v[i].key), &v[i]);
	/* keys are compared only where the hashes agree */
	assert_int_equal(eq_calls, n);
	/* another table, another key: the same keys land elsewhere */
	for (i = 0; i < n; i++)
		if (htab_hash(&t, v[i].key, strlen(v[i].key)) ==
		    htab_hash(&u, v[i].key, strlen(v[i].key)))
			same++;
	assert_true(same < 4);
	htab_release(&t);
	htab_release(&u);
	free(v);
}

static void test_growth(void **state)
{
	const size_t n = 100000;
	struct item *v = calloc(n, sizeof(*v));
	struct htab t;
	size_t i;

	(void)state;
	assert_non_null(v);
	assert_int_equal(htab_init(&t, 0, item_eq), LS_OK);
	for (i = 0; i < n; i++) {
		snprintf(v[i].key, sizeof(v[i].key), "k%zu", i);
		add(&t, &v[i]);
		/* at most one node per bucket: doubled as soon as it is more */
		assert_true(htab_count(&t) <= t.nb);
	}
	assert_int_equal(t.nb, 131072);
	assert_true(longest_chain(&t) <= 16);
	for (i = 0; i < n; i++)
		assert_ptr_equal(find(&t, v[i].key), &v[i]);
	assert_null(find(&t, "k100000"));
	htab_release(&t);

	/* reserve: one allocation up front, then none while adding */
	assert_int_equal(htab_init(&t, 0, item_eq), LS_OK);
	assert_int_equal(htab_reserve(&t, 5000), LS_OK);
	assert_int_equal(t.nb, 8192);
	assert_int_equal(htab_reserve(&t, 10), LS_OK); /* never shrinks */
	assert_int_equal(t.nb, 8192);
	for (i = 0; i < 5000; i++)
		add(&t, &v[i]);
	assert_int_equal(t.nb, 8192);
	for (i = 0; i < 5000; i++)
		assert_ptr_equal(find(&t, v[i].key), &v[i]);
	htab_release(&t);
	free(v);
}

static void test_delete_many(void **state)
{
	const size_t n = 20000;
	struct item *v = calloc(n, sizeof(*v));
	struct htab t;
	size_t i;

	(void)state;
	assert_non_null(v);
	assert_int_equal(htab_init(&t, 0, item_eq), LS_OK);
	for (i = 0; i < n; i++) {
		snprintf(v[i].key, sizeof(v[i].key), "key/%zu", i);
		add(&t, &v[i]);
	}
	for (i = 0; i < n; i += 2)
		htab_del(&t, &v[i].hn);
	assert_int_equal(htab_count(&t), n / 2);
	for (i = 0; i < n; i++) {
		if (i % 2)
			assert_ptr_equal(find(&t, v[i].key), &v[i]);
		else
			assert_null(find(&t, v[i].key));
	}
	/* the rest, in reverse */
	for (i = n; i-- > 0;)
		if (i % 2)
			htab_del(&t, &v[i].hn);
	assert_int_equal(htab_count(&t), 0);
	for (i = 0; i < t.nb; i++)
		assert_null(t.b[i]);
	htab_release(&t);
	free(v);
}

static void test_iterate(void **state)
{
	const size_t n = 3000;
	struct item *v = calloc(n, sizeof(*v));
	struct htab_iter it;
	struct htab_node *x;
	struct htab t;
	size_t i, seen = 0;

	(void)state;
	assert_non_null(v);
	assert_int_equal(htab_init(&t, 0, item_eq), LS_OK);
	htab_iter_init(&t, &it);
	assert_null(htab_iter_next(&it));
	for (i = 0; i < n; i++) {
		snprintf(v[i].key, sizeof(v[i].key), "%zu", i);
		add(&t, &v[i]);
	}
	htab_iter_init(&t, &it);
	while ((x = htab_iter_next(&it))) {
		htab_entry(x, struct item, hn)->seen++;
		seen++;
	}
	assert_int_equal(seen, n);
	for (i = 0; i < n; i++)
		assert_int_equal(v[i].seen, 1);
	/* deleting each node as it is returned */
	seen = 0;
	htab_iter_init(&t, &it);
	while ((x = htab_iter_next(&it))) {
		struct item *e = htab_entry(x, struct item, hn);
		htab_del(&t, x);
		memset(&e->hn, 0xa5, sizeof(e->hn)); /* as if freed */
		seen++;
	}
	assert_int_equal(seen, n);
	assert_int_equal(htab_count(&t), 0);
	htab_release(&t);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_delete),
		cmocka_unit_test(test_colliding_keys_spread),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_delete_many),
		cmocka_unit_test(test_iterate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
