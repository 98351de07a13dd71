/*
 * event.h - the standard event (schema "logseal/v1"): validation,
 * normalisation, templates (flat, k8s) and canonical JSON.  Pure: no I/O,
 * no threads.  See ../docs/API.md for the schema.
 *
 * Canonical JSON (what is stored, hashed and exported): UTF-8, object keys
 * sorted by byte value, no insignificant white space, strings escaped only
 * where JSON requires it (", \, control characters as \uXXXX except \b \f \n
 * \r \t), integers in plain decimal; non-integer numbers are refused in
 * the standard fields and written with 17 significant digits in details.
 */
#ifndef LS_EVENT_H
#define LS_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/ls.h"
#include "core/event_types.h"

/* The outcome names of the schema, EVENT_N_OUTCOMES of them in this order,
 * then NULL: the one list that the validators (event.c, event_fast.c), the
 * alert rules and the index check outcomes against. */
#define EVENT_N_OUTCOMES 5
extern const char *const event_outcomes[EVENT_N_OUTCOMES + 1];

/*
 * Parse a request body (one object, an array of objects, or NDJSON) of
 * standard or flat events, validate and normalise each, add the server's
 * fields and produce canonical JSON.  All-or-nothing: on error nothing is
 * left in out and e names the first bad event.  LS_INVALID (400) or
 * LS_LIMIT (413: an event over EVENT_MAX_BYTES) or LS_DENIED (403: an event
 * for a service the writer is not bound to).
 */
ls_rc event_batch_parse(const char *body, size_t n, enum event_body kind, enum event_format fmt,
			const struct event_ctx *ctx, struct event_batch *out,
			struct event_error *e);

/* The kube-apiserver audit webhook body (audit.k8s.io/v1 EventList; a single
 * Event object is accepted too) mapped onto standard events. */
ls_rc event_k8s_parse(const char *body, size_t n, const struct event_ctx *ctx,
		      struct event_batch *out, struct event_error *e);

/* An event of service "logseal" written by the server itself (denials,
 * token changes, audited reads).  details may be NULL; it is not stolen. */
ls_rc event_internal(const char *action, const char *actor_id, const char *source_ip,
		     const char *outcome, json_t *details, const struct event_ctx *ctx,
		     struct event_item *out);

/*
 * The server's own events are service "logseal" and actions "logseal.*"
 * (denials, token changes, audited reads, fired alerts); nothing from
 * outside may look like one, or it could fire or silence alerts and pass for
 * the server's record.  Reserved: a service that is "logseal" in any case,
 * with white space around it ignored, and an action that starts with
 * "logseal." in any case after leading white space.  Writers get 400
 * EVENT_ERR_RESERVED; `logseal import` refuses the line.
 */
bool event_service_reserved(const char *s, size_t n);
bool event_action_reserved(const char *s, size_t n);

/* A canonical entry from outside the server (logseal import): LS_DENIED,
 * with err saying why, when its top-level service or action is reserved. */
ls_rc event_check_foreign(const char *entry, size_t n, struct ls_err *err);

/* Canonical JSON of any JSON value (used by `logseal import`). */
ls_rc event_canonical(const json_t *v, char **out, size_t *len);

/* Parse one JSON text strictly (duplicate keys, invalid UTF-8 and \u0000
 * refused; depth limited) into a canonical entry.  Runs the one-pass
 * jcanon.c; event_canonicalize_text_ref() is the same function over jansson,
 * kept as the reference that fuzz_jcanon and the tests compare it with. */
ls_rc event_canonicalize_text(const char *text, size_t n, char **out, size_t *len,
			      struct ls_err *err);
ls_rc event_canonicalize_text_ref(const char *text, size_t n, char **out, size_t *len,
				  struct ls_err *err);

void event_item_release(struct event_item *it);
void event_batch_release(struct event_batch *b);

/*
 * Per-item mode (event_partial.c): a batch taken event by event.  Each item
 * of the body (an element of a JSON array, a line of NDJSON, an item of a
 * Kubernetes EventList) is parsed and validated on its own; the valid ones
 * go to ok (ok_pos[i] is where ok.items[i] was in the body, 0-based), the
 * others to rej, in body order, with what was wrong and their bytes as
 * sent.  A body that cannot be cut into items (no closing bracket, not an
 * EventList, empty) is refused as a whole: LS_INVALID with e filled, as in
 * event_batch_parse().  LS_OK even when every item was refused.
 */
struct event_reject {
	struct event_error e;	/* e.position: the item's place in the body */
	ls_rc rc;		/* LS_INVALID, LS_LIMIT (too large) or LS_DENIED */
	const char *bytes;	/* the item as sent: in the body, or in own */
	size_t len;
	char *own;		/* malloc'd when the item is not a span of the body */
};

struct event_partial {
	struct event_batch ok;
	size_t *ok_pos;
	struct event_reject *rej;
	size_t nrej;
	size_t total;		/* items in the body: ok.n + nrej */
};

ls_rc event_batch_parse_partial(const char *body, size_t n, enum event_body kind,
				enum event_format fmt, const struct event_ctx *ctx,
				struct event_partial *out, struct event_error *e);
ls_rc event_k8s_parse_partial(const char *body, size_t n, const struct event_ctx *ctx,
			      struct event_partial *out, struct event_error *e);
void event_partial_release(struct event_partial *p);

/* The bounded, printable excerpt of an item for the record of its refusal:
 * at most max input bytes (never cutting a UTF-8 sequence), each byte that
 * is not printable ASCII or part of valid UTF-8, and each control
 * character, written \xNN, a backslash \\.  out gets at most 4 * max + 1
 * bytes (NUL-terminated); returns 1 when the item was longer than max. */
int event_excerpt(const char *s, size_t n, size_t max, char *out, size_t cap);

/* "2024-01-02T03:04:05.123456Z" from microseconds since the epoch; out >= 28 bytes. */
void event_format_time(int64_t us, char *out, size_t cap);
/* RFC 3339 with any offset -> microseconds since epoch (UTC). */
ls_rc event_parse_time(const char *s, int64_t *us);
/* IPv4/IPv6 text -> canonical text (inet_ntop form); out >= 46 bytes. */
ls_rc event_normalize_ip(const char *s, char *out, size_t cap);

#endif
