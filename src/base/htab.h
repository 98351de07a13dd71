/*
 * htab.h - a chained hash table whose nodes live inside the caller's items
 * (git's hashmap.h is the model), keyed with SipHash-2-4 under a random key
 * drawn for each table: clients that choose the keys (actor ids, source
 * addresses, idempotency keys) cannot aim them at one chain, since they do
 * not know where any key lands.
 *
 * The table owns its bucket array only.  An item embeds a struct htab_node
 * and is found again with htab_entry(); the table never allocates or frees
 * items, and compares keys through the eq function given to htab_init().
 *
 * Calling sequence:
 *	htab_init(&t, n, eq)             buckets for n nodes, a fresh random key
 *	h = htab_hash(&t, key, len)      once per key: find, then add, use it
 *	htab_find(&t, h, key, len)       the node of key, or NULL
 *	htab_add(&t, &item->hn, h)       key must not be in the table yet
 *	htab_del(&t, &item->hn)          by identity (no hashing, no compare)
 *	htab_iter_init / htab_iter_next  every node once, in no given order
 *	htab_clear(&t)                   forget every node (not freed: yours)
 *	htab_release(&t)                 the bucket array; the key is wiped
 *
 * Invariants:
 *  1. nb is a power of two, at least HTAB_MIN_BUCKETS; a node whose key
 *     hashes to h is on chain h & (nb - 1), and its hash field holds h.
 *  2. htab_add() never fails: the table doubles once it holds more nodes
 *     than buckets, and when that allocation fails it stays as it is (the
 *     chains just get longer).  A table that htab_init() or htab_reserve()
 *     sized for n nodes allocates nothing until it holds more than n.
 *  3. Nothing here locks: the owner's lock covers the table.
 */
#ifndef LS_HTAB_H
#define LS_HTAB_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define HTAB_MIN_BUCKETS 16

struct htab_node {
	struct htab_node *next;	/* chain */
	uint32_t hash;		/* htab_hash() of the key */
	uint32_t spare;		/* the owner's: padding otherwise (idem keeps a flag here) */
};

/* Does node n hold this key?  Called only on nodes whose hash matches. */
typedef int (*htab_eq_fn)(const struct htab_node *n, const void *key, size_t len);

struct htab {
	struct htab_node **b;
	size_t nb;		/* buckets: a power of two */
	size_t n;		/* nodes */
	htab_eq_fn eq;
	uint8_t key[16];	/* SipHash key, random per table */
};

struct htab_iter {
	const struct htab *t;
	size_t b;
	struct htab_node *next;
};

/* The item of type holding node in its member. */
#define htab_entry(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* Buckets for n nodes (at least HTAB_MIN_BUCKETS).  LS_NOMEM, or LS_IO when
 * no randomness is to be had; *t is then released already. */
ls_rc htab_init(struct htab *t, size_t n, htab_eq_fn eq);
/* The bucket array (not the nodes); the key is wiped.  Zeroed *t is fine. */
void htab_release(struct htab *t);

uint32_t htab_hash(const struct htab *t, const void *key, size_t len);

/* Inline: it is on the hot paths of its users (ingest with idempotency
 * keys, threshold rules), and the loop is small. */
static inline struct htab_node *htab_find(const struct htab *t, uint32_t hash, const void *key,
					  size_t len)
{
	struct htab_node *x;

	for (x = t->b[hash & (t->nb - 1)]; x; x = x->next)
		if (x->hash == hash && t->eq(x, key, len))
			return x;
	return NULL;
}

/* Add n, whose key hashes to hash and is not in t (invariant 2). */
void htab_add(struct htab *t, struct htab_node *n, uint32_t hash);
/* Take n out of t; a node not in t is left alone. */
void htab_del(struct htab *t, struct htab_node *n);
/* Forget every node (the bucket array stays). */
void htab_clear(struct htab *t);
/* Buckets for n nodes now rather than by doublings (LS_NOMEM: unchanged). */
ls_rc htab_reserve(struct htab *t, size_t n);

static inline size_t htab_count(const struct htab *t)
{
	return t->n;
}

/* Every node once.  The node last returned may be deleted (and freed)
 * before the next call; no other change is allowed while iterating. */
void htab_iter_init(const struct htab *t, struct htab_iter *it);
struct htab_node *htab_iter_next(struct htab_iter *it);

#endif
