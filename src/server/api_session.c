/*
 * api_session.c - POST /v1/session (sign in: a bearer token of any role is
 * exchanged for the session cookie), GET /v1/session (who is signed in; a
 * fresh idle deadline) and DELETE /v1/session (sign out).  See session.h.
 *
 * Sign-in and sign-out are events of service "logseal"
 * (logseal.session.open, logseal.session.close) whose actor is the token's
 * id and whose details name the session by its public id, never its cookie
 * or CSRF value.  A session whose opening cannot be logged is closed again
 * and the client gets the log's error: no session exists that the log does
 * not account for.
 *
 * A session that ends without a sign-out (idle, its 12 hours, its token
 * revoked, replaced in a full table) is written as logseal.session.close
 * too, by the server itself (source endpoint "internal", details.reason
 * the cause): api_sessions_log_ended(), after a revocation at once, for
 * idle ones at the server's periodic sweep (the idempotency snapshot
 * thread, every --idem-snapshot seconds).
 *
 * Reply (POST and GET):
 *	{"role":"admin","roles":["admin","auditor"],"token_id":"tok_...",
 *	 "session":"<16 hex>","csrf":"<64 hex>","idle_seconds":900,
 *	 "expires_in":43200}
 * role is the strongest of roles (admin, then auditor, then writer).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/session.h"

#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "store/log.h"

static json_t *session_json(struct server *s, const struct session_info *si)
{
	unsigned r = si->who.roles;
	const char *role = (r & AUTH_ROLE_ADMIN) ? "admin" :
			   (r & AUTH_ROLE_AUDITOR) ? "auditor" : "writer";

	return json_pack("{ss so ss ss ss sI sI}", "role", role, "roles", auth_roles_json(r),
			 "token_id", si->who.id, "session", si->id, "csrf", si->csrf,
			 "idle_seconds", (json_int_t)sessions_idle(s->sessions),
			 "expires_in", (json_int_t)si->left_s);
}

void api_session_post(struct server *s, const struct request *q, struct reply *r)
{
	char cookie[SESSION_VALUE_LEN + 1];
	struct session_info si;
	struct ls_err err = { { 0 } };
	json_t *d;
	ls_rc rc;

	if (!s->sessions) {
		reply_error(r, 503, "unavailable", "sessions are not enabled on this server");
		return;
	}
	if (q->session) {
		reply_error(r, 400, "invalid_request",
			    "sign in with Authorization: Bearer <token>, not with a session");
		return;
	}
	rc = session_open(s->sessions, q->who, cookie, sizeof(cookie), &si, &err);
	if (rc != LS_OK) {
		api_reply_rc(s, r, rc, API_RC_READ, "%s", err.msg);
		return;
	}
	d = json_pack("{ss so sI}", "session", si.id, "roles", auth_roles_json(si.who.roles),
		      "idle_seconds", (json_int_t)sessions_idle(s->sessions));
	rc = api_log_internal(s, q, "logseal.session.open", q->who->id, "success", d);
	json_decref(d);
	if (rc != LS_OK) {
		session_close(s->sessions, cookie, SESSION_VALUE_LEN, NULL);
		ls_wipe(cookie, sizeof(cookie));
		reply_append_error(s, r, rc, NULL);
		return;
	}
	session_cookie_header(s->sessions, cookie, r->set_cookie, sizeof(r->set_cookie));
	ls_wipe(cookie, sizeof(cookie));
	r->status = 200;
	r->body = session_json(s, &si);
	ls_wipe(&si, sizeof(si));
}

void api_session_get(struct server *s, const struct request *q, struct reply *r)
{
	if (!q->session) {
		reply_error(r, 401, "no_session", "not signed in (or the session has ended)");
		return;
	}
	r->status = 200;
	r->body = session_json(s, q->session);
}

void api_session_delete(struct server *s, const struct request *q, struct reply *r)
{
	struct session_info si;
	json_t *d;
	int closed = 0;

	if (q->session && session_close(s->sessions, q->session_cookie,
					strlen(q->session_cookie), &si) == LS_OK) {
		closed = 1;
		d = json_pack("{ss ss}", "session", si.id, "reason", "sign-out");
		/* Signed out either way: ending the session matters more than
		 * its event; the reply says when it could not be logged. */
		if (api_log_internal(s, q, "logseal.session.close", si.who.id, "success", d) != LS_OK)
			closed = 2;
		json_decref(d);
		ls_wipe(&si, sizeof(si));
	}
	if (s->sessions)
		session_cookie_header(s->sessions, NULL, r->set_cookie, sizeof(r->set_cookie));
	r->status = 200;
	r->body = json_pack("{sb}", "closed", closed != 0);
	if (closed == 2)
		json_object_set_new(r->body, "logged", json_false());
}

/* One logseal.session.close of the server itself. */
static ls_rc log_end(struct server *s, const char *session, const char *who, const char *why,
		     unsigned lost)
{
	struct timespec ts;
	struct event_ctx ctx = { 0 };
	struct event_item it = { 0 };
	struct iovec iov;
	uint64_t first;
	json_t *d;
	ls_rc rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ctx.received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	d = lost ? json_pack("{ss sI}", "reason", why, "sessions", (json_int_t)lost)
		 : json_pack("{ss ss}", "session", session, "reason", why);
	if (!d)
		return LS_NOMEM;
	rc = event_internal("logseal.session.close", who, NULL, "success", d, &ctx, &it);
	json_decref(d);
	if (rc != LS_OK)
		return rc;
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(s->log, &iov, 1, &first, NULL);
	if (rc == LS_OK)
		api_appended(s, first + 1);
	event_item_release(&it);
	return rc;
}

unsigned api_sessions_log_ended(struct server *s, int sweep)
{
	struct session_end e[32];
	unsigned logged = 0, lost = 0;
	size_t n;

	if (!s->sessions)
		return 0;
	if (sweep)
		sessions_sweep(s->sessions);
	do {
		n = sessions_take_ended(s->sessions, e, sizeof(e) / sizeof(e[0]), &lost);
		for (size_t i = 0; i < n; i++)
			if (log_end(s, e[i].id, e[i].who, e[i].why, 0) == LS_OK)
				logged++;
		/* More ended than the queue held: one event counts them. */
		if (lost && log_end(s, NULL, "logseal", "lost_from_queue", lost) == LS_OK)
			logged++;
	} while (n == sizeof(e) / sizeof(e[0]));
	ls_wipe(e, sizeof(e));
	return logged;
}
