/*
 * formats/formats.h - internal interface between the event code (event.c,
 * event_parse.c, event_fast.c) and the input templates (flat.c, k8s.c).
 * Not part of the public API: only those files include it.
 *
 * A template maps one already strictly parsed JSON value onto a *native*
 * logseal/v1 object (the shape a client would have sent), which event.c then
 * validates, normalises and canonicalises exactly like a native event.  So
 * every stored event, whatever its origin, went through the one validator.
 */
#ifndef LS_FORMATS_H
#define LS_FORMATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/event_types.h"

/* Fill e (if not NULL) with position, field and a formatted reason. */
void evt_fail(struct event_error *e, size_t pos, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* True when the n bytes of s hold a C0 control character or DEL. */
bool evt_has_ctl(const char *s, size_t n);

/* True when the n bytes of s (valid UTF-8) hold a character that hides or
 * reorders text (controls, bidirectional controls, invisible format
 * characters; see event.c); *cp is the first.  joiners_ok lets ZWNJ and ZWJ
 * through (names). */
bool evt_hidden_char(const char *s, size_t n, bool joiners_ok, unsigned long *cp);

/* -1 with e filled (code EVENT_ERR_RESERVED) when the value s[0..n) of
 * field "service" or "action" is reserved for the server's own events. */
int evt_refuse_reserved(const char *field, const char *s, size_t n, size_t pos,
			struct event_error *e);

/* True for the fields only the server may set (received, writer, ...). */
bool evt_is_server_field(const char *key);

/*
 * Validate and normalise one native event object (not modified), add the
 * server's fields from ctx and write its canonical JSON into out.  pos is
 * the event's index in the batch, used for e.  LS_INVALID, LS_LIMIT (over
 * EVENT_MAX_BYTES), LS_DENIED (service binding) or LS_NOMEM.
 */
ls_rc evt_finish(json_t *in, const struct event_ctx *ctx, size_t pos, struct event_error *e,
		 struct event_item *out);

/*
 * Apply ctx->policy (event_policy.h; nothing when NULL) to one accepted
 * event: it->json is replaced when redaction or the time flag changes it
 * (still canonical, still at most EVENT_MAX_BYTES: LS_LIMIT with e filled
 * otherwise).  LS_INVALID with e (code "time_in_future") for a time too
 * far ahead; LS_NOMEM.  Called by event.c and event_fast.c for every event
 * they accept, so the two paths stay byte for byte the same.
 */
ls_rc evt_policy_apply(const struct event_ctx *ctx, size_t pos, struct event_error *e,
		       struct event_item *it);

/* Flat template: {"timestamp","user_id","action","status","location",...}
 * -> new native object in *out (caller decrefs). */
ls_rc evt_flat_to_native(json_t *in, size_t pos, struct event_error *e, json_t **out);

/* Rename a native field in e back to the flat name the client used
 * ("time" -> "timestamp", "actor.id" -> "user_id", ...). */
void evt_flat_rename_field(struct event_error *e);

/* One audit.k8s.io Event -> new native object in *out (caller decrefs). */
ls_rc evt_k8s_to_native(json_t *in, size_t pos, struct event_error *e, json_t **out);

#endif
