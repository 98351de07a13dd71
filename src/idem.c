/*
 * idem.c - the idempotency map (see idem.h): a chained hash table under one
 * mutex, with a condition variable for requests waiting on pending keys.
 *
 * The lock is held only for lookups and inserts, never across the append
 * itself; waiting happens on the condition variable.
 */
#include "idem.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

struct node {
	struct node *next;
	uint64_t hash;
	uint64_t index;
	int pending;
	char key[];
};

struct idem {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t k0, k1;
	struct node **b;
	size_t nb;	/* power of two */
	size_t n;	/* nodes, pending included */
	size_t committed;
};

/* ---- SipHash-2-4 (Aumasson & Bernstein), written from the paper */

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
	} while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m, last = (uint64_t)n << 56;
	size_t i, whole = n & ~(size_t)7;

	for (i = 0; i < whole; i += 8) {
		m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | in[i + (size_t)j];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < (n & 7); j++)
		last |= (uint64_t)in[whole + j] << (8 * j);
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- table */

ls_rc idem_new(struct idem **out)
{
	struct idem *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	uint64_t k[2];

	if (!m)
		return LS_NOMEM;
	m->nb = 1024;
	m->b = calloc(m->nb, sizeof(*m->b));
	if (!m->b || ls_random(k, sizeof(k)) != LS_OK) {
		ls_rc rc = m->b ? LS_IO : LS_NOMEM;
		free(m->b);
		free(m);
		return rc;
	}
	m->k0 = k[0];
	m->k1 = k[1];
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = m;
	return LS_OK;
}

void idem_free(struct idem *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		struct node *x = m->b[i], *next;
		for (; x; x = next) {
			next = x->next;
			free(x);
		}
	}
	free(m->b);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

static struct node *find(struct idem *m, const char *key, uint64_t h)
{
	for (struct node *x = m->b[h & (m->nb - 1)]; x; x = x->next)
		if (x->hash == h && strcmp(x->key, key) == 0)
			return x;
	return NULL;
}

/* Doubling is best effort: when memory is short the chains just get longer. */
static void grow(struct idem *m)
{
	size_t nb = m->nb * 2;
	struct node **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		struct node *x = m->b[i], *next;
		for (; x; x = next) {
			next = x->next;
			x->next = b[x->hash & (nb - 1)];
			b[x->hash & (nb - 1)] = x;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

static struct node *insert(struct idem *m, const char *key, uint64_t h, uint64_t index,
			   int pending)
{
	size_t len = strlen(key);
	struct node *x = malloc(sizeof(*x) + len + 1);

	if (!x)
		return NULL;
	x->hash = h;
	x->index = index;
	x->pending = pending;
	memcpy(x->key, key, len + 1);
	x->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = x;
	m->n++;
	if (!pending)
		m->committed++;
	if (m->n > m->nb)
		grow(m);
	return x;
}

static void remove_node(struct idem *m, struct node *target)
{
	struct node **pp = &m->b[target->hash & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == target) {
			*pp = target->next;
			free(target);
			m->n--;
			return;
		}
	}
}

static uint64_t hash_key(const struct idem *m, const char *key)
{
	return siphash(m->k0, m->k1, (const uint8_t *)key, strlen(key));
}

ls_rc idem_put(struct idem *m, const char *key, uint64_t index)
{
	uint64_t h = hash_key(m, key);
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&m->mu);
	if (!find(m, key, h) && !insert(m, key, h, index, 0))
		rc = LS_NOMEM;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

ls_rc idem_reserve(struct idem *m, const char *const *keys, size_t n, int64_t *found,
		   int timeout_ms)
{
	struct timespec until;
	uint64_t *h;
	size_t i;

	if (n == 0)
		return LS_OK;
	h = malloc(n * sizeof(*h));
	if (!h)
		return LS_NOMEM;
	for (i = 0; i < n; i++)
		h[i] = hash_key(m, keys[i]);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->mu);
	for (;;) {
		for (i = 0; i < n; i++) {
			struct node *x = find(m, keys[i], h[i]);
			if (x && x->pending)
				break;
		}
		if (i == n)
			break;
		if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&m->mu);
			free(h);
			return LS_BUSY;
		}
	}
	for (i = 0; i < n; i++) {
		struct node *x = find(m, keys[i], h[i]);
		if (x) {
			found[i] = (int64_t)x->index;
			continue;
		}
		if (!insert(m, keys[i], h[i], 0, 1)) {
			/* Undo what this call reserved: all or nothing. */
			for (size_t k = 0; k < i; k++) {
				struct node *y = find(m, keys[k], h[k]);
				if (found[k] == IDEM_RESERVED && y)
					remove_node(m, y);
			}
			pthread_mutex_unlock(&m->mu);
			free(h);
			return LS_NOMEM;
		}
		found[i] = IDEM_RESERVED;
	}
	pthread_mutex_unlock(&m->mu);
	free(h);
	return LS_OK;
}

static void resolve(struct idem *m, const char *const *keys, const int64_t *found,
		    const uint64_t *index, size_t n)
{
	int any = 0;

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < n; i++) {
		struct node *x;
		if (found[i] != IDEM_RESERVED)
			continue;
		x = find(m, keys[i], hash_key(m, keys[i]));
		if (!x || !x->pending)
			continue;
		any = 1;
		if (index) {
			x->pending = 0;
			x->index = index[i];
			m->committed++;
		} else {
			remove_node(m, x);
		}
	}
	if (any)
		pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void idem_commit(struct idem *m, const char *const *keys, const int64_t *found,
		 const uint64_t *index, size_t n)
{
	resolve(m, keys, found, index, n);
}

void idem_abort(struct idem *m, const char *const *keys, const int64_t *found, size_t n)
{
	resolve(m, keys, found, NULL, n);
}

size_t idem_count(struct idem *m)
{
	size_t n;

	pthread_mutex_lock(&m->mu);
	n = m->committed;
	pthread_mutex_unlock(&m->mu);
	return n;
}
