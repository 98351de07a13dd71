/*
 * idem.c - the idempotency map (see idem.h): a hash table (htab.h) of fixed
 * size keys under one mutex, with a condition variable for requests waiting
 * on pending keys, and a list of the committed keys in commit order for
 * eviction; plus the snapshot's encoder and decoder (no file I/O here: the
 * caller writes and reads the bytes).
 *
 * The lock is held only for lookups, inserts and the snapshot's copy, never
 * across the append itself; waiting happens on the condition variable.
 *
 * Memory: a key costs one 56-byte node (64 with malloc's header) and a
 * bucket pointer, about 72 bytes whatever the length of the id (the node's
 * pending flag sits in its htab_node's spare word, which would be padding).
 */
#include "server/idem.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "base/htab.h"

#define SNAP_MAGIC "LSIDEM01"
#define SNAP_VERSION 1
#define SNAP_FLAG_KEYED 1u
#define SNAP_HDR 64
#define SNAP_REC 32
#define SNAP_MAC LS_HASH_LEN

struct node {
	struct htab_node hn;	/* in idem.tab; hn.spare: 1 while pending */
	struct node *newer;	/* commit-order list; committed nodes only */
	uint64_t index;		/* committed: leaf index; pending: the log size
				 * before the reservation (idem.h invariant 5) */
	int64_t received_us;
	struct idem_key key;
};

struct idem {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t ipad[64], opad[64];	/* HMAC-SHA256 pads of the secret */
	uint8_t secret[IDEM_SECRET_LEN];
	int keyed;
	int64_t window_us;
	size_t max_keys;
	int64_t now_us;		/* the newest time seen */
	struct htab tab;	/* every node, pending included (idem.h invariant 3) */
	size_t committed;
	uint64_t evicted;
	struct node *oldest, *newest;	/* the commit-order list */
};

/* ---- table */

static int node_eq(const struct htab_node *n, const void *key, size_t len)
{
	const struct node *x = htab_entry(n, const struct node, hn);

	return len == IDEM_KEY_LEN && memcmp(x->key.b, key, IDEM_KEY_LEN) == 0;
}

static struct node *node_of(struct htab_node *n)
{
	return n ? htab_entry(n, struct node, hn) : NULL;
}

static int is_pending(const struct node *x)
{
	return x->hn.spare != 0;
}

ls_rc idem_new(const struct idem_opts *o, struct idem **out)
{
	struct idem *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	ls_rc rc;

	if (!m)
		return LS_NOMEM;
	rc = htab_init(&m->tab, 1024, node_eq);
	if (rc) {
		free(m);
		return rc;
	}
	if (o) {
		m->window_us = o->window_us > 0 ? o->window_us : 0;
		m->max_keys = o->max_keys;
		if (o->secret) {
			memcpy(m->secret, o->secret, IDEM_SECRET_LEN);
			m->keyed = 1;
		}
	}
	/* HMAC with a key of one SHA-256 block or less: the key zero-padded
	 * to 64 bytes, XORed with the pads. */
	for (size_t i = 0; i < 64; i++) {
		uint8_t kb = i < IDEM_SECRET_LEN ? m->secret[i] : 0;
		m->ipad[i] = kb ^ 0x36;
		m->opad[i] = kb ^ 0x5c;
	}
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = m;
	return LS_OK;
}

static void clear(struct idem *m)
{
	struct htab_iter it;
	struct htab_node *x;

	htab_iter_init(&m->tab, &it);
	while ((x = htab_iter_next(&it)))
		free(node_of(x));
	htab_clear(&m->tab);
	m->committed = 0;
	m->oldest = m->newest = NULL;
}

void idem_free(struct idem *m)
{
	if (!m)
		return;
	clear(m);
	htab_release(&m->tab);
	ls_wipe(m->secret, sizeof(m->secret));
	ls_wipe(m->ipad, sizeof(m->ipad));
	ls_wipe(m->opad, sizeof(m->opad));
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* HMAC-SHA256(secret, len32 writer || len32 service || len32 key): the
 * lengths keep ("a", "bc") and ("ab", "c") apart. */
ls_rc idem_key_of(const struct idem *m, const char *writer, const char *service, const char *key,
		  struct idem_key *out)
{
	const char *f[3] = { writer ? writer : "", service ? service : "", key ? key : "" };
	uint8_t stack[1024], *p = stack, inner[LS_HASH_LEN], outer[LS_HASH_LEN];
	size_t l[3], total = 0, pos = 0;

	for (int i = 0; i < 3; i++) {
		l[i] = strlen(f[i]);
		total += 4 + l[i];
	}
	if (total > sizeof(stack) && !(p = malloc(total)))
		return LS_NOMEM;
	for (int i = 0; i < 3; i++) {
		put_be32(p + pos, (uint32_t)l[i]);
		memcpy(p + pos + 4, f[i], l[i]);
		pos += 4 + l[i];
	}
	ls_sha256(m->ipad, sizeof(m->ipad), p, total, inner);
	ls_sha256(m->opad, sizeof(m->opad), inner, sizeof(inner), outer);
	memcpy(out->b, outer, IDEM_KEY_LEN);
	if (p != stack)
		free(p);
	return LS_OK;
}

static uint32_t hash_key(const struct idem *m, const struct idem_key *k)
{
	return htab_hash(&m->tab, k->b, IDEM_KEY_LEN);
}

static struct node *find(struct idem *m, const struct idem_key *key, uint32_t h)
{
	return node_of(htab_find(&m->tab, h, key->b, IDEM_KEY_LEN));
}

static void list_push(struct idem *m, struct node *x)
{
	x->newer = NULL;
	if (m->newest)
		m->newest->newer = x;
	else
		m->oldest = x;
	m->newest = x;
}

/* Growing the table is best effort (htab.h invariant 2): when memory is
 * short the chains just get longer. */
static struct node *insert(struct idem *m, const struct idem_key *key, uint32_t h,
			   uint64_t index, int64_t received_us, int pending)
{
	struct node *x = malloc(sizeof(*x));

	if (!x)
		return NULL;
	x->index = index;
	x->received_us = received_us;
	x->key = *key;
	htab_add(&m->tab, &x->hn, h);
	x->hn.spare = pending ? 1 : 0;
	if (!pending) {
		list_push(m, x);
		m->committed++;
	}
	return x;
}

static void unchain(struct idem *m, struct node *target)
{
	htab_del(&m->tab, &target->hn);
}

/* A pending node (never on the commit-order list). */
static void remove_pending(struct idem *m, struct node *x)
{
	unchain(m, x);
	free(x);
}

static void saw_time(struct idem *m, int64_t t)
{
	if (t > m->now_us)
		m->now_us = t;
}

/* Oldest first, while over the cap or older than the window. */
static void evict(struct idem *m)
{
	int have_cut = m->window_us > 0 && m->now_us > m->window_us;
	int64_t cut = have_cut ? m->now_us - m->window_us : 0;

	while (m->oldest &&
	       ((m->max_keys && m->committed > m->max_keys) ||
		(have_cut && m->oldest->received_us < cut))) {
		struct node *x = m->oldest;

		m->oldest = x->newer;
		if (!m->oldest)
			m->newest = NULL;
		unchain(m, x);
		free(x);
		m->committed--;
		m->evicted++;
	}
}

ls_rc idem_put(struct idem *m, const struct idem_key *key, uint64_t index, int64_t received_us)
{
	uint64_t h = hash_key(m, key);
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&m->mu);
	if (!find(m, key, h) && !insert(m, key, h, index, received_us, 0))
		rc = LS_NOMEM;
	saw_time(m, received_us);
	evict(m);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

ls_rc idem_reserve(struct idem *m, const struct idem_key *keys, size_t n, uint64_t size,
		   int64_t now_us, int64_t *found, int timeout_ms)
{
	struct timespec until;
	uint32_t *h;
	size_t i;

	if (n == 0)
		return LS_OK;
	h = malloc(n * sizeof(*h));
	if (!h)
		return LS_NOMEM;
	for (i = 0; i < n; i++)
		h[i] = hash_key(m, &keys[i]);
	ls_deadline(&until, CLOCK_MONOTONIC, (uint64_t)timeout_ms);
	pthread_mutex_lock(&m->mu);
	/* A key past the window is no duplicate any more, even when nothing
	 * was committed since it expired. */
	saw_time(m, now_us);
	evict(m);
	for (;;) {
		for (i = 0; i < n; i++) {
			struct node *x = find(m, &keys[i], h[i]);
			if (x && is_pending(x))
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
		struct node *x = find(m, &keys[i], h[i]);
		if (x) {
			found[i] = (int64_t)x->index;
			continue;
		}
		if (!insert(m, &keys[i], h[i], size, 0, 1)) {
			/* Undo what this call reserved: all or nothing. */
			for (size_t k = 0; k < i; k++) {
				struct node *y = find(m, &keys[k], h[k]);
				if (found[k] == IDEM_RESERVED && y)
					remove_pending(m, y);
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

static void resolve(struct idem *m, const struct idem_key *keys, const int64_t *found,
		    const uint64_t *index, size_t n, int64_t received_us)
{
	int any = 0;

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < n; i++) {
		struct node *x;
		if (found[i] != IDEM_RESERVED)
			continue;
		x = find(m, &keys[i], hash_key(m, &keys[i]));
		if (!x || !is_pending(x))
			continue;
		any = 1;
		if (index) {
			x->hn.spare = 0;
			x->index = index[i];
			x->received_us = received_us;
			list_push(m, x);
			m->committed++;
		} else {
			remove_pending(m, x);
		}
	}
	if (index) {
		saw_time(m, received_us);
		evict(m);
	}
	if (any)
		pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void idem_commit(struct idem *m, const struct idem_key *keys, const int64_t *found,
		 const uint64_t *index, size_t n, int64_t received_us)
{
	resolve(m, keys, found, index, n, received_us);
}

void idem_abort(struct idem *m, const struct idem_key *keys, const int64_t *found, size_t n)
{
	resolve(m, keys, found, NULL, n, 0);
}

void idem_expire(struct idem *m, int64_t now_us)
{
	pthread_mutex_lock(&m->mu);
	saw_time(m, now_us);
	evict(m);
	pthread_mutex_unlock(&m->mu);
}

size_t idem_count(struct idem *m)
{
	size_t n;

	pthread_mutex_lock(&m->mu);
	n = m->committed;
	pthread_mutex_unlock(&m->mu);
	return n;
}

uint64_t idem_evicted(struct idem *m)
{
	uint64_t n;

	pthread_mutex_lock(&m->mu);
	n = m->evicted;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* ---- snapshot (docs/FORMAT.md, "Idempotency snapshot") */

ls_rc idem_snapshot_encode(struct idem *m, uint64_t size, int64_t now_us, uint8_t **out,
			   size_t *len, uint64_t *covered)
{
	uint64_t cov = size;
	uint8_t *buf, *p;
	size_t total;

	pthread_mutex_lock(&m->mu);
	saw_time(m, now_us);
	evict(m);
	/* A pending reservation may still land anywhere from the size it
	 * saw: the snapshot covers no further than that. */
	if (htab_count(&m->tab) > m->committed) {
		struct htab_iter it;
		struct htab_node *hn;

		htab_iter_init(&m->tab, &it);
		while ((hn = htab_iter_next(&it))) {
			struct node *x = node_of(hn);
			if (is_pending(x) && x->index < cov)
				cov = x->index;
		}
	}
	total = SNAP_HDR + m->committed * SNAP_REC + SNAP_MAC;
	buf = malloc(total);
	if (!buf) {
		pthread_mutex_unlock(&m->mu);
		return LS_NOMEM;
	}
	memset(buf, 0, SNAP_HDR);
	memcpy(buf, SNAP_MAGIC, 8);
	put_be32(buf + 8, SNAP_VERSION);
	put_be32(buf + 12, m->keyed ? SNAP_FLAG_KEYED : 0);
	put_be64(buf + 16, cov);
	put_be64(buf + 24, (uint64_t)m->window_us);
	put_be64(buf + 32, m->committed);
	put_be64(buf + 40, (uint64_t)m->now_us);
	p = buf + SNAP_HDR;
	for (struct node *x = m->oldest; x; x = x->newer, p += SNAP_REC) {
		memcpy(p, x->key.b, IDEM_KEY_LEN);
		put_be64(p + 16, x->index);
		put_be64(p + 24, (uint64_t)x->received_us);
	}
	pthread_mutex_unlock(&m->mu);
	ls_hmac_sha256(m->secret, sizeof(m->secret), buf, total - SNAP_MAC, buf + total - SNAP_MAC);
	*out = buf;
	*len = total;
	*covered = cov;
	return LS_OK;
}

ls_rc idem_snapshot_load(struct idem *m, const uint8_t *buf, size_t len, uint64_t size,
			 uint64_t *covered, struct ls_err *err)
{
	uint8_t mac[SNAP_MAC];
	uint64_t count, cov;
	ls_rc rc = LS_OK;

	if (len < SNAP_HDR + SNAP_MAC || memcmp(buf, SNAP_MAGIC, 8) != 0)
		return ls_err_set(err, LS_CORRUPT, "not an idempotency snapshot");
	if (get_be32(buf + 8) != SNAP_VERSION)
		return ls_err_set(err, LS_CORRUPT, "snapshot version %u not known",
				  get_be32(buf + 8));
	if (get_be32(buf + 12) != (m->keyed ? SNAP_FLAG_KEYED : 0))
		return ls_err_set(err, LS_CORRUPT, "snapshot made for %s data",
				  m->keyed ? "plaintext" : "encrypted");
	count = get_be64(buf + 32);
	if (count > (len - SNAP_HDR - SNAP_MAC) / SNAP_REC ||
	    len != SNAP_HDR + count * SNAP_REC + SNAP_MAC)
		return ls_err_set(err, LS_CORRUPT, "snapshot length does not match its count");
	ls_hmac_sha256(m->secret, sizeof(m->secret), buf, len - SNAP_MAC, mac);
	if (!ls_ct_equal(mac, buf + len - SNAP_MAC, SNAP_MAC))
		return ls_err_set(err, LS_CORRUPT, "snapshot MAC does not match");
	cov = get_be64(buf + 16);
	if (cov > size)
		cov = size;
	pthread_mutex_lock(&m->mu);
	clear(m);
	/* Size the table once rather than doubling it all the way up (best
	 * effort: short of memory, it doubles as it fills). */
	(void)htab_reserve(&m->tab, count < ((size_t)1 << 31) ? (size_t)count : (size_t)1 << 31);
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *p = buf + SNAP_HDR + i * SNAP_REC;
		struct idem_key k;
		uint64_t index = get_be64(p + 16);
		uint32_t h;
		int64_t received = (int64_t)get_be64(p + 24);

		/* Entries the journal no longer holds (cut by recovery)
		 * were never acknowledged twice: forget them. */
		if (index >= size)
			continue;
		memcpy(k.b, p, IDEM_KEY_LEN);
		h = hash_key(m, &k);
		if (find(m, &k, h))
			continue;
		if (!insert(m, &k, h, index, received, 0)) {
			clear(m);
			rc = ls_err_set(err, LS_NOMEM, "out of memory loading the snapshot");
			break;
		}
		saw_time(m, received);
		evict(m);
	}
	pthread_mutex_unlock(&m->mu);
	if (rc == LS_OK)
		*covered = cov;
	return rc;
}
