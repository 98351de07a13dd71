/*
 * ratelimit.c - token buckets per client address (ratelimit.h): a fixed
 * table of slots, SipHash-2-4 under a random key, linear probing over at
 * most RATELIMIT_PROBE slots, one mutex.
 *
 * A bucket is kept as the generic cell rate algorithm's one number, in
 * integer nanoseconds (no rounding drift: exactly `rate` a second is never
 * refused): with the interval T = 1/rate and tau = (burst - 1) * T, tat is
 * when the bucket will be full again.  A request at now is allowed when
 * max(tat, now) - now <= tau, and then tat = max(tat, now) + T; the tokens
 * left are (now + tau + T - max(tat, now)) / T.  Refused: a token is there
 * at max(tat, now) - tau.
 */
#include "server/ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"

struct slot {
	uint8_t key[RATELIMIT_KEY];
	uint8_t used;
	uint8_t refusing;	/* refused since the last allowed request */
	uint64_t tat;		/* when the bucket is full again (ns) */
	uint64_t seen;		/* the last request (ns), for eviction */
};

struct ratelimit {
	pthread_mutex_t mu;
	uint8_t sipkey[16];
	uint64_t t, tau;	/* ns per token; (burst - 1) * t */
	size_t mask;		/* slots - 1 */
	uint64_t allowed, refused;
	struct slot *slots;
};

void ratelimit_client(const struct sockaddr *sa, uint8_t key[RATELIMIT_KEY], char *text,
		      size_t cap)
{
	char t[INET6_ADDRSTRLEN];

	memset(key, 0, RATELIMIT_KEY);
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		key[0] = 4;
		memcpy(key + 1, &s4->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = s6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 8);
		}
	}
	if (!text || !cap)
		return;
	if (key[0] == 4) {
		inet_ntop(AF_INET, key + 1, t, sizeof(t));
		snprintf(text, cap, "%s", t);
	} else if (key[0] == 6) {
		uint8_t a[16] = { 0 };

		memcpy(a, key + 1, 8);
		inet_ntop(AF_INET6, a, t, sizeof(t));
		snprintf(text, cap, "%s/64", t);
	} else {
		snprintf(text, cap, "unknown");
	}
}

ls_rc ratelimit_new(const struct ratelimit_opts *o, struct ratelimit **out,
		    struct ls_err *err)
{
	struct ratelimit *rl;
	size_t n = 1, want = o->max_clients ? o->max_clients : 4096;

	*out = NULL;
	if (!(o->rate > 0) || !isfinite(o->rate) || o->burst < 1)
		return ls_err_set(err, LS_INVALID, "rate limit: the rate must be > 0 and the "
				  "burst >= 1");
	if (want > (1u << 24))
		return ls_err_set(err, LS_INVALID, "rate limit: at most %u clients", 1u << 24);
	while (n < want || n < RATELIMIT_PROBE)
		n <<= 1;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rl->slots = calloc(n, sizeof(*rl->slots));
	if (!rl->slots || ls_random(rl->sipkey, sizeof(rl->sipkey)) != LS_OK) {
		free(rl->slots);
		free(rl);
		return ls_err_set(err, LS_NOMEM, "rate limit: cannot allocate %zu clients", n);
	}
	pthread_mutex_init(&rl->mu, NULL);
	rl->t = (uint64_t)(1e9 / o->rate);
	if (!rl->t)
		rl->t = 1;
	rl->tau = (uint64_t)(o->burst - 1) * rl->t;
	rl->mask = n - 1;
	*out = rl;
	return LS_OK;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl->slots);
	free(rl);
}

/* The slot of key: its own, else a free one, a full one, or the least
 * recently used of the probed ones (reset to a full bucket). */
static struct slot *find(struct ratelimit *rl, const uint8_t *key, uint64_t now)
{
	size_t i, at = (size_t)ls_siphash24(rl->sipkey, key, RATELIMIT_KEY) & rl->mask;
	struct slot *spare = NULL, *lru = NULL;

	for (i = 0; i < RATELIMIT_PROBE; i++) {
		struct slot *s = &rl->slots[(at + i) & rl->mask];

		if (s->used && !memcmp(s->key, key, RATELIMIT_KEY))
			return s;
		if (!spare && (!s->used || s->tat <= now))
			spare = s;
		if (s->used && (!lru || s->seen < lru->seen))
			lru = s;
	}
	if (!spare)
		spare = lru;
	memcpy(spare->key, key, RATELIMIT_KEY);
	spare->used = 1;
	spare->refusing = 0;
	spare->tat = now;
	spare->seen = now;
	return spare;
}

int ratelimit_take(struct ratelimit *rl, const struct sockaddr *sa, uint64_t now_ns,
		   unsigned *retry_after_s, int *episode)
{
	uint8_t key[RATELIMIT_KEY];
	struct slot *s;
	uint64_t tat, wait;
	int ok;

	ratelimit_client(sa, key, NULL, 0);
	*retry_after_s = 0;
	*episode = 0;
	pthread_mutex_lock(&rl->mu);
	s = find(rl, key, now_ns);
	if (now_ns > s->seen)
		s->seen = now_ns;
	tat = s->tat > now_ns ? s->tat : now_ns;
	ok = tat - now_ns <= rl->tau;
	if (ok) {
		s->tat = tat + rl->t;
		s->refusing = 0;
		rl->allowed++;
	} else {
		*episode = !s->refusing;
		s->refusing = 1;
		rl->refused++;
		wait = tat - rl->tau - now_ns;	/* > 0 */
		wait = (wait + 999999999u) / 1000000000u;
		*retry_after_s = wait < 1 ? 1 : wait > 86400 ? 86400 : (unsigned)wait;
	}
	pthread_mutex_unlock(&rl->mu);
	return ok;
}

void ratelimit_counts(struct ratelimit *rl, uint64_t *allowed, uint64_t *refused)
{
	pthread_mutex_lock(&rl->mu);
	*allowed = rl->allowed;
	*refused = rl->refused;
	pthread_mutex_unlock(&rl->mu);
}
