/*
 * htab.c - the chained hash table of htab.h: buckets are a power-of-two
 * array of chain heads, a node's bucket is the low bits of its stored
 * 32-bit SipHash (so growing never hashes a key again), and the table
 * doubles at one node per bucket.
 */
#include "base/htab.h"

#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"

/* The stored hash has 32 bits: more buckets would stay empty. */
#define HTAB_MAX_BUCKETS ((size_t)1 << 32)

static size_t buckets_for(size_t n)
{
	size_t nb = HTAB_MIN_BUCKETS;

	while (nb < n && nb < HTAB_MAX_BUCKETS)
		nb *= 2;
	return nb;
}

ls_rc htab_init(struct htab *t, size_t n, htab_eq_fn eq)
{
	memset(t, 0, sizeof(*t));
	t->eq = eq;
	t->nb = buckets_for(n);
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b) {
		t->nb = 0;
		return LS_NOMEM;
	}
	if (ls_random(t->key, sizeof(t->key)) != LS_OK) {
		htab_release(t);
		return LS_IO;
	}
	return LS_OK;
}

void htab_release(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
	ls_wipe(t->key, sizeof(t->key));
}

uint32_t htab_hash(const struct htab *t, const void *key, size_t len)
{
	return (uint32_t)ls_siphash24(t->key, key, len);
}

/* Move every node to a table of nb buckets (nb a power of two). */
static int rehash(struct htab *t, size_t nb)
{
	struct htab_node **b = calloc(nb, sizeof(*b)), *x, *next;
	size_t i;

	if (!b)
		return 0;
	for (i = 0; i < t->nb; i++) {
		for (x = t->b[i]; x; x = next) {
			next = x->next;
			x->next = b[x->hash & (nb - 1)];
			b[x->hash & (nb - 1)] = x;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 1;
}

void htab_add(struct htab *t, struct htab_node *n, uint32_t hash)
{
	struct htab_node **head = &t->b[hash & (t->nb - 1)];

	n->hash = hash;
	n->next = *head;
	*head = n;
	t->n++;
	if (t->n > t->nb && t->nb < HTAB_MAX_BUCKETS)
		rehash(t, t->nb * 2); /* best effort: invariant 2 */
}

void htab_del(struct htab *t, struct htab_node *n)
{
	struct htab_node **pp;

	for (pp = &t->b[n->hash & (t->nb - 1)]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->n--;
			return;
		}
	}
}

void htab_clear(struct htab *t)
{
	memset(t->b, 0, t->nb * sizeof(*t->b));
	t->n = 0;
}

ls_rc htab_reserve(struct htab *t, size_t n)
{
	size_t nb = buckets_for(n);

	if (nb <= t->nb)
		return LS_OK;
	return rehash(t, nb) ? LS_OK : LS_NOMEM;
}

void htab_iter_init(const struct htab *t, struct htab_iter *it)
{
	it->t = t;
	it->b = 0;
	it->next = NULL;
}

struct htab_node *htab_iter_next(struct htab_iter *it)
{
	struct htab_node *x = it->next;

	while (!x) {
		if (it->b >= it->t->nb)
			return NULL;
		x = it->t->b[it->b++];
	}
	it->next = x->next;
	return x;
}
