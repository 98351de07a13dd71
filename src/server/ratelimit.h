/*
 * ratelimit.h - a token bucket per client address, for endpoints that cost
 * the server far more than the request costs the client (the witness's
 * add-checkpoint: a signature check, a consistency proof and a durable
 * write each).
 *
 * A client is an IPv4 address (an IPv4-mapped IPv6 address counts as its
 * IPv4 address) or an IPv6 /64 (one subscriber's usual allocation: a
 * client with a /64 could otherwise take a fresh bucket per address);
 * anything else (a Unix socket) is one client.  Its bucket holds up to
 * `burst` tokens and gains `rate` tokens a second; each request takes one
 * or is refused with the seconds until one is there (Retry-After).
 *
 * Memory is fixed at creation: max_clients buckets (rounded up to a power
 * of two), found by SipHash-2-4 under a key drawn at random at creation
 * (clients cannot aim at one slot) with at most RATELIMIT_PROBE slots
 * probed.  A new client takes a free slot or a full bucket's (a full
 * bucket says nothing an absent one would not), else the least recently
 * used of the probed ones: eviction only ever gives a client a fresh
 * bucket, never refuses one that would have been allowed.
 *
 * Calling sequence: ratelimit_new() -> ratelimit_take() from any thread
 * (one mutex) -> ratelimit_free().
 *
 * Invariants:
 *  1. 0 <= tokens <= burst for every bucket; a client that sends at most
 *     `rate` requests a second on average, never more than `burst` at once,
 *     is never refused (unless evicted, which only refills it).
 *  2. allowed + refused = calls to ratelimit_take().
 */
#ifndef LS_RATELIMIT_H
#define LS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/ls.h"

#define RATELIMIT_PROBE 8
#define RATELIMIT_KEY 9		/* family byte, then IPv4 address or IPv6 /64 */

struct ratelimit;

struct ratelimit_opts {
	double rate;		/* tokens a second per client, > 0 */
	unsigned burst;		/* bucket size, >= 1 */
	unsigned max_clients;	/* buckets; 0: 4096 */
};

ls_rc ratelimit_new(const struct ratelimit_opts *o, struct ratelimit **out,
		    struct ls_err *err);
void ratelimit_free(struct ratelimit *rl);

/* One request from sa at now_ns (a monotonic clock).  1: allowed.  0:
 * refused; *retry_after_s gets the whole seconds (>= 1) until the bucket
 * has a token, and *episode 1 when this is the client's first refusal
 * since its last allowed request (for logging one line per episode). */
int ratelimit_take(struct ratelimit *rl, const struct sockaddr *sa, uint64_t now_ns,
		   unsigned *retry_after_s, int *episode);

/* Totals since creation. */
void ratelimit_counts(struct ratelimit *rl, uint64_t *allowed, uint64_t *refused);

/* Pure: the client key of sa (RATELIMIT_KEY bytes) and, when text is not
 * NULL, its text ("192.0.2.1", "2001:db8::/64", "unknown"). */
void ratelimit_client(const struct sockaddr *sa, uint8_t key[RATELIMIT_KEY], char *text,
		      size_t cap);

#endif
