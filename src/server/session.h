/*
 * session.h - the dashboard's sign-in sessions: a bearer token exchanged
 * once (POST /v1/session) for a random cookie, so the browser never keeps
 * the token itself.
 *
 * A session is a 256-bit random cookie value (64 hex digits) handed to the
 * browser as `logseal_session` (HttpOnly, SameSite=Strict, Path=/, Secure on
 * TLS) and a 256-bit random CSRF value handed to the page in JSON; every
 * state-changing request made with the cookie must echo the CSRF value in
 * X-CSRF-Token (http.c checks it).  Sessions live in memory only: a restart
 * signs everyone out.
 *
 * Invariants:
 *  1. Only SHA-256 of a cookie value is kept; a cookie is looked up by its
 *     hash (a keyed hash table), compared in constant time.
 *  2. A session ends at the first of: its idle deadline (idle seconds after
 *     its last use), its absolute deadline (SESSION_MAX_S after it opened),
 *     sign-out, or the revocation of its token (sessions_revoke_token, and
 *     auth_active() is checked again at every use by http.c).
 *  3. At most SESSION_MAX_COUNT sessions exist; a new one replaces an
 *     expired one or, when none is, the one idle the longest.
 *  4. A session that ends without a sign-out (idle, absolute deadline,
 *     token revoked, replaced when the table was full) is queued as a
 *     struct session_end, at most SESSION_ENDED_MAX of them (past that
 *     they are counted as lost), until sessions_take_ended() takes them:
 *     the server writes each as a logseal.session.close event.  An expired
 *     session no request touches again is found by sessions_sweep().
 *
 * Calling sequence: sessions_new() -> session_open()/session_check()/
 * session_close()/sessions_revoke_token() from any thread -> sessions_free().
 */
#ifndef LS_SESSION_H
#define LS_SESSION_H

#include <stdint.h>

#include "base/ls.h"
#include "server/auth.h"

#define SESSION_COOKIE "logseal_session"
#define SESSION_VALUE_LEN 64	/* hex digits of a cookie value */
#define SESSION_CSRF_LEN 64	/* hex digits of a CSRF value */
#define SESSION_ID_LEN 16	/* hex digits of a session's public id */
#define SESSION_IDLE_DEFAULT_S 900u
#define SESSION_MAX_S (12u * 3600u)
#define SESSION_MAX_COUNT 4096u

struct sessions;

/* What a live session says about itself. */
struct session_info {
	struct auth_principal who;
	char csrf[SESSION_CSRF_LEN + 1];
	char id[SESSION_ID_LEN + 1];	/* public: names the session in the log */
	unsigned idle_s;		/* seconds of idleness left (a fresh deadline) */
	unsigned left_s;		/* seconds before the absolute deadline */
};

/* idle_s: idle timeout (0: SESSION_IDLE_DEFAULT_S); secure: cookies carry
 * Secure (the server speaks TLS). */
ls_rc sessions_new(unsigned idle_s, int secure, struct sessions **out, struct ls_err *err);
void sessions_free(struct sessions *ss);

/* Open a session for who; cookie receives the NUL-terminated value (cap >
 * SESSION_VALUE_LEN; the caller wipes it). */
ls_rc session_open(struct sessions *ss, const struct auth_principal *who, char *cookie,
		   size_t cap, struct session_info *info, struct ls_err *err);

/* LS_OK and *info filled when the n-byte cookie value names a live session
 * (its idle deadline moved forward); LS_DENIED otherwise. */
ls_rc session_check(struct sessions *ss, const char *cookie, size_t n, struct session_info *info);

/* End the session the cookie names; LS_NOTFOUND when there is none.
 * *info (may be NULL) says whose it was. */
ls_rc session_close(struct sessions *ss, const char *cookie, size_t n, struct session_info *info);

/* End every session of token id; the number ended. */
unsigned sessions_revoke_token(struct sessions *ss, const char *id);

/* A session that ended by itself (invariant 4). */
#define SESSION_ENDED_MAX 256
struct session_end {
	char id[SESSION_ID_LEN + 1];	/* the session's public id */
	char who[AUTH_ID_LEN + 1];	/* its token's id */
	const char *why;		/* "idle", "max_age", "revoked", "replaced" */
};

/* End every expired session now (queued for sessions_take_ended()); the
 * number ended. */
unsigned sessions_sweep(struct sessions *ss);

/* Move up to max queued ends into out (oldest first); *lost (may be NULL)
 * receives how many were dropped since the last call because the queue
 * was full.  Returns the number moved. */
size_t sessions_take_ended(struct sessions *ss, struct session_end *out, size_t max,
			   unsigned *lost);

/* The Set-Cookie header value that sets (value non-NULL) or clears the
 * cookie; out needs 192 bytes. */
void session_cookie_header(const struct sessions *ss, const char *value, char *out, size_t cap);

unsigned sessions_idle(const struct sessions *ss);

#endif
