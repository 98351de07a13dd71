/*
 * event_policy.h - what the server does to every accepted event before it
 * is hashed, beyond the schema (event.h): redaction of secrets and the
 * sanity check of the event's time against its arrival.  Pure, like the
 * rest of core/; the server builds one policy at start (serve options,
 * docs/SCHEMA.md "Redaction" and "Event time") and points every
 * event_ctx at it.
 *
 * Redaction: in "details", every member whose key is one of the policy's
 * names - compared case-insensitively with '-' and '.' taken as '_'
 * ("API-Key" is api_key), and also when the key ends with the name after
 * '_', '-' or '.' ("db_password", "X-Auth-Token") - and
 * every member a JSON pointer (RFC 6901) of the policy names, has its value
 * replaced by the string "[REDACTED]"; the entry then carries
 * "redacted": [the pointers, sorted], so a reader knows a value was there
 * and where.  Defaults: password, passwd, secret, token, authorization,
 * api_key, apikey.  Pointers may name "/reason" or a place under
 * "/details/".
 *
 * Event time: an event whose time is more than max_future_us after its
 * received time is refused (400, code time_in_future): a clock that far
 * ahead would put it after everything logged until then.  One more than
 * flag_past_us before received is kept and marked "time_skew": true
 * (refusing would lose a late event: a shipper's backlog, a replay).
 * Zero turns either off.
 */
#ifndef LS_EVENT_POLICY_H
#define LS_EVENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "core/event_types.h"

#define EVENT_POLICY_MAX_NAMES 64
#define EVENT_POLICY_NAME_MAX 128
#define EVENT_POLICY_DEFAULT_FUTURE_US (300LL * 1000000)	/* 5 minutes */
#define EVENT_ERR_TIME_FUTURE "time_in_future"

struct event_policy {
	char keys[EVENT_POLICY_MAX_NAMES][EVENT_POLICY_NAME_MAX];	/* lower case */
	size_t nkeys;
	char pointers[EVENT_POLICY_MAX_NAMES][EVENT_POLICY_NAME_MAX];
	size_t npointers;
	int64_t max_future_us;	/* 0: no limit */
	int64_t flag_past_us;	/* 0: never flagged */
};

/* The defaults: the default key names, 5 minutes into the future, no
 * past flag. */
void event_policy_init(struct event_policy *p);
/* Drop the default key names (those added by name stay). */
void event_policy_drop_defaults(struct event_policy *p);
/* Add a key name (LS_INVALID if empty or with characters other than
 * letters, digits, '_', '-', '.'; LS_LIMIT past EVENT_POLICY_MAX_NAMES). */
ls_rc event_policy_add_key(struct event_policy *p, const char *name, struct ls_err *err);
/* Add a JSON pointer: "/reason" or "/details/..." (LS_INVALID otherwise,
 * or with a '~' not followed by 0 or 1). */
ls_rc event_policy_add_pointer(struct event_policy *p, const char *ptr, struct ls_err *err);

/* Whether an attribute or member named key (kl bytes) is redacted by p's
 * names (the rule above); false when p is NULL.  For inputs kept outside
 * details, such as the excerpt of a rejected OTLP record. */
bool event_policy_key_redacted(const struct event_policy *p, const char *key, size_t kl);

/* Applied to every accepted event by evt_policy_apply() (formats/formats.h:
 * the event code's side, so that event.c need not include this header). */

#endif
