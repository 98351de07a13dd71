/*
 * event_types.h - the types and limits of the standard event that the
 * pieces of the event code share: event.h (the API) includes it, and so do
 * event_fast.h and formats/formats.h, which event.c and event_parse.c
 * include in turn (so those two headers need not include event.h).
 */
#ifndef LS_EVENT_TYPES_H
#define LS_EVENT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define EVENT_MAX_BYTES 65535	/* canonical entry size limit (C2SP bundle limit) */
#define EVENT_MAX_DEPTH 16	/* nesting depth of a whole event */
#define EVENT_MAX_ID 128	/* idempotency key length */

struct event_policy;

/* What the server adds to every event. */
struct event_ctx {
	const char *writer;	   /* token id of the writer */
	const char *remote_ip;	   /* TCP peer address, canonical text */
	const char *bound_service; /* the writer token's service, or NULL */
	int64_t received_us;	   /* server time, microseconds since the Unix epoch */
	/* Redaction and the time check (event_policy.h); NULL: none. */
	const struct event_policy *policy;
};

struct event_item {
	char *json;	/* canonical JSON of the whole stored event (malloc'd) */
	size_t len;
	char *key;	/* idempotency key ("id", or "k8s:<auditID>:<stage>"), or NULL */
	const char *key_service; /* with key: the stored event's service ("" when it
				  * has none), in key's allocation; else NULL */
};

struct event_batch {
	struct event_item *items;
	size_t n;
};

/* Where a batch was refused: which event (0-based), which field, why;
 * code is "" or a more precise error code than the caller's default
 * (EVENT_ERR_RESERVED). */
struct event_error {
	size_t position;
	char field[128];
	char reason[256];
	char code[32];
};

/* The error code of an event that would pass for one of the server's own. */
#define EVENT_ERR_RESERVED "reserved_by_server"

enum event_format { EVENT_FORMAT_NATIVE, EVENT_FORMAT_FLAT };
enum event_body { EVENT_BODY_JSON, EVENT_BODY_NDJSON };

#endif
