/*
 * idem.h - the idempotency map: event key -> leaf index of the event that
 * first carried it, plus the keys of batches being appended right now.
 *
 * Keys are the event_item.key strings of event.h ("id" of a native event,
 * "k8s:<auditID>:<stage>" of a Kubernetes one).  The server fills the map
 * from the journal at start (idem_put) and then, per request:
 *	idem_reserve() -> log_append() -> idem_commit() or idem_abort()
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
 */
#ifndef LS_IDEM_H
#define LS_IDEM_H

#include <stddef.h>
#include <stdint.h>

#include "ls.h"

#define IDEM_RESERVED (-1)	/* found[i]: absent before, now pending for the caller */

struct idem;

ls_rc idem_new(struct idem **out);
void idem_free(struct idem *m);

/* Record key -> index (a key already present keeps its first index). */
ls_rc idem_put(struct idem *m, const char *key, uint64_t index);

/* For n distinct keys: wait (at most timeout_ms, then LS_BUSY) until none is
 * pending in another request, then set found[i] to the committed index, or
 * to IDEM_RESERVED after reserving it.  LS_NOMEM leaves nothing reserved. */
ls_rc idem_reserve(struct idem *m, const char *const *keys, size_t n, int64_t *found,
		   int timeout_ms);

/* Resolve the reservations made by idem_reserve (found[i] == IDEM_RESERVED):
 * commit them with index[i], or drop them after a failed append. */
void idem_commit(struct idem *m, const char *const *keys, const int64_t *found,
		 const uint64_t *index, size_t n);
void idem_abort(struct idem *m, const char *const *keys, const int64_t *found, size_t n);

/* Number of committed keys. */
size_t idem_count(struct idem *m);

#endif
