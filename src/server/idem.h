/*
 * idem.h - the idempotency map: scoped event key -> leaf index of the event
 * that first carried it, plus the keys of batches being appended right now.
 *
 * A key is scoped by who sent it: (writer token id, service, key), where key
 * is the event_item.key of event.h ("id" of a native event,
 * "k8s:<auditID>:<stage>" of a Kubernetes one).  So one writer's id can never
 * make another writer's event, or another service's, look like a duplicate.
 * The map holds no strings, only IDEM_KEY_LEN bytes of
 * HMAC-SHA256(secret, scope) per key (idem_key_of): the secret is a key
 * derived from the data keys when the directory is encrypted at rest, so
 * neither the map nor its snapshot (below) holds a plaintext id.
 *
 * Calling sequence:
 *	idem_new() -> idem_snapshot_load()? -> idem_put()* (the journal after the
 *	snapshot) -> per request:
 *	    idem_reserve() -> log_append() -> idem_commit() or idem_abort()
 *	idem_expire() and idem_snapshot_encode() any time; idem_free().
 *
 * Bounds: a committed key is forgotten once its event was received more than
 * window_us before the newest time the map has seen (idem_expire, commits,
 * puts), and the oldest keys go first whenever more than max_keys are held.
 * Within both bounds a retry is always recognised.
 *
 * Invariants:
 *  1. A key is either absent, pending (reserved by exactly one request) or
 *     committed with the index it was appended at; so no key is appended
 *     twice, even by concurrent requests.
 *  2. idem_reserve() takes all of a request's keys at once or none of them
 *     (it waits while any is pending elsewhere), so two requests can never
 *     hold each other's keys and deadlock.
 *  3. Bucket positions come from SipHash-2-4 under a random key, so clients
 *     choosing keys cannot make the table degrade into a list.
 *  4. Committed keys sit on a list in commit order; eviction takes only from
 *     its old end, pending keys are never evicted.
 *  5. A snapshot made with idem_snapshot_encode(size) says it covers
 *     `covered` <= size entries: every keyed entry below `covered` that the
 *     bounds keep is in it.  A reservation remembers the log size before it
 *     was taken (its entries land at or above it), and `covered` stays below
 *     every reservation still pending.
 */
#ifndef LS_IDEM_H
#define LS_IDEM_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define IDEM_RESERVED (-1)	/* found[i]: absent before, now pending for the caller */
#define IDEM_KEY_LEN 16		/* bytes of HMAC-SHA256 kept per key */
#define IDEM_SECRET_LEN 32

struct idem_key {
	uint8_t b[IDEM_KEY_LEN];
};

struct idem_opts {
	int64_t window_us;	/* forget keys older than this; 0: no time bound */
	size_t max_keys;	/* hold at most this many committed keys; 0: no cap */
	const uint8_t *secret;	/* IDEM_SECRET_LEN bytes, or NULL: public (all zero)
				 * for a directory that is not encrypted */
};

struct idem;

ls_rc idem_new(const struct idem_opts *o, struct idem **out);
void idem_free(struct idem *m);

/* The map key of (writer, service, key); writer and service may be NULL
 * (an entry without them), which is the same as "".  LS_NOMEM only for
 * strings over 1 KiB in all. */
ls_rc idem_key_of(const struct idem *m, const char *writer, const char *service, const char *key,
		 struct idem_key *out);

/* Record key -> index, received at received_us (a key already present keeps
 * its first index). */
ls_rc idem_put(struct idem *m, const struct idem_key *key, uint64_t index, int64_t received_us);

/* For n distinct keys: wait (at most timeout_ms, then LS_BUSY) until none is
 * pending in another request, then set found[i] to the committed index, or
 * to IDEM_RESERVED after reserving it.  size is the log size read before
 * the call (invariant 5); now_us the request's time (the window's end).  LS_NOMEM leaves nothing reserved. */
ls_rc idem_reserve(struct idem *m, const struct idem_key *keys, size_t n, uint64_t size,
		   int64_t now_us, int64_t *found, int timeout_ms);

/* Resolve the reservations made by idem_reserve (found[i] == IDEM_RESERVED):
 * commit them with index[i] (events received at received_us), or drop them
 * after a failed append. */
void idem_commit(struct idem *m, const struct idem_key *keys, const int64_t *found,
		 const uint64_t *index, size_t n, int64_t received_us);
void idem_abort(struct idem *m, const struct idem_key *keys, const int64_t *found, size_t n);

/* Forget what the bounds say to forget, with now_us as the newest time. */
void idem_expire(struct idem *m, int64_t now_us);

/* Number of committed keys; keys evicted by the bounds since idem_new. */
size_t idem_count(struct idem *m);
uint64_t idem_evicted(struct idem *m);

/*
 * The snapshot (docs/FORMAT.md, "Idempotency snapshot"): a header, the
 * committed keys oldest first (key, index, received), and an HMAC-SHA256
 * under the secret.  encode: *out is malloc'd; *covered as in invariant 5.
 * load: into an empty map; records at or above size (entries the journal no
 * longer has) are skipped and *covered is at most size.  LS_CORRUPT for a
 * file that does not check (format, length, MAC, or made under another
 * secret); the map is then left empty.
 */
ls_rc idem_snapshot_encode(struct idem *m, uint64_t size, int64_t now_us, uint8_t **out,
			   size_t *len, uint64_t *covered);
ls_rc idem_snapshot_load(struct idem *m, const uint8_t *buf, size_t len, uint64_t size,
			 uint64_t *covered, struct ls_err *err);

#endif
