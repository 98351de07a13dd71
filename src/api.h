/*
 * api.h - internal interface between the HTTP layer (http.c) and the
 * endpoint handlers (api_events.c, api_tokens.c).  Not used outside the
 * server.
 *
 * http.c does everything that is the same for every endpoint: routing,
 * limits, content types, authentication and the role check, and turning a
 * struct reply into bytes on the wire.  A handler sees a fully received,
 * authorised request and fills a reply; it never touches libmicrohttpd.
 */
#ifndef LS_API_H
#define LS_API_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "event.h"
#include "idem.h"
#include "log.h"

/* What every handler shares; owned by serve.c, outlives the HTTP daemon. */
struct server {
	struct log *log;
	struct auth *auth;
	struct idem *idem;
	const char *dir;
	size_t max_body;
	atomic_int failed;	/* the log refused an append with LS_FAILED: unhealthy */
	atomic_int stopping;	/* shutting down: refuse new requests */
	atomic_long active;	/* requests between their first byte and their reply */
};

struct request {
	const char *method;
	const char *path;
	const char *format;	/* ?format=..., or NULL */
	enum event_body body_kind;
	const char *body;	/* NUL-terminated, body_len bytes */
	size_t body_len;
	char remote_ip[64];
	const struct auth_principal *who; /* NULL on routes that need no token */
	int64_t received_us;
};

struct reply {
	unsigned status;
	json_t *body;		/* owned */
	int retry_after;	/* seconds; 0: no Retry-After header */
	const char *allow;	/* Allow header for 405 */
};

/* Fill r with {"error":{"code":code,"message":...}} (replacing any body). */
void reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Map a failed log_append (or idem) result onto 503/507 and mark the server
 * unhealthy on LS_FAILED. */
void reply_append_error(struct server *s, struct reply *r, ls_rc rc, const struct ls_err *err);

/*
 * Append one event of the server itself (service "logseal") describing what
 * happened to request q: a denial, a token change.  actor is the token id or
 * "anonymous".  details is not stolen; method and path are added to it.
 * Best effort: returns the log's result, which the caller may ignore when it
 * is refusing the request anyway.
 */
ls_rc api_log_internal(struct server *s, const struct request *q, const char *action,
		       const char *actor, const char *outcome, json_t *details);

/* Log a 401/403 (action logseal.auth.unauthenticated / logseal.auth.denied). */
void api_log_denial(struct server *s, const struct request *q, unsigned status,
		    const char *actor, const char *reason);

/* Handlers. */
void api_events_post(struct server *s, const struct request *q, struct reply *r);
void api_k8s_post(struct server *s, const struct request *q, struct reply *r);
void api_tokens_post(struct server *s, const struct request *q, struct reply *r);
void api_tokens_get(struct server *s, const struct request *q, struct reply *r);
void api_tokens_delete(struct server *s, const struct request *q, const char *id,
		       struct reply *r);

/* Fill the idempotency map from the journal (entries [0, size)). */
ls_rc api_events_scan(struct server *s, uint64_t *scanned, struct ls_err *err);

#endif
