/*
 * api_tokens.c - POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/{id}
 * (role admin).  Every change is written to the log as an event of service
 * "logseal" naming the token's id and roles, never its secret.
 *
 * A created token is only handed out once its creation is in the log: if
 * the event cannot be appended the token is revoked again and the client
 * gets the log's error, so no token exists that the log does not account for.
 *
 * A token may expire: "expires" is an RFC 3339 time or a duration from now
 * (a number and s, m, h, d or w: "30d").  A writer may be "partial": its
 * batches are taken event by event (api_events.c).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"
#include "server/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"

static int parse_roles(json_t *body, unsigned *roles, struct reply *r)
{
	json_t *role = json_object_get(body, "role"), *list = json_object_get(body, "roles"), *v;
	size_t i;

	*roles = 0;
	if (role && list) {
		reply_error(r, 400, "invalid_request", "give either role or roles, not both");
		return 0;
	}
	if (role) {
		if (!json_is_string(role) || !(*roles = auth_role_parse(json_string_value(role)))) {
			reply_error(r, 400, "invalid_request",
				    "field role: must be \"writer\", \"auditor\" or \"admin\"");
			return 0;
		}
		return 1;
	}
	if (!json_is_array(list) || json_array_size(list) == 0) {
		reply_error(r, 400, "invalid_request",
			    "field role: required (\"writer\", \"auditor\" or \"admin\")");
		return 0;
	}
	json_array_foreach(list, i, v) {
		unsigned bit = json_is_string(v) ? auth_role_parse(json_string_value(v)) : 0;
		if (!bit) {
			reply_error(r, 400, "invalid_request",
				    "field roles[%zu]: must be \"writer\", \"auditor\" or \"admin\"", i);
			return 0;
		}
		*roles |= bit;
	}
	return 1;
}

/* "30d" (s, m, h, d, w) from now, or an RFC 3339 time: microseconds since
 * the epoch, 0 when s is neither. */
static int64_t parse_expires(const char *s, int64_t now)
{
	static const struct { char unit; int64_t us; } units[] = {
		{ 's', 1000000 }, { 'm', 60 * (int64_t)1000000 },
		{ 'h', 3600 * (int64_t)1000000 }, { 'd', 86400 * (int64_t)1000000 },
		{ 'w', 7 * 86400 * (int64_t)1000000 },
	};
	char *end;
	unsigned long long n;
	int64_t t;

	if (s[0] >= '0' && s[0] <= '9' && strlen(s) <= 8) {
		errno = 0;
		n = strtoull(s, &end, 10);
		if (!errno && end[0] && !end[1] && n > 0)
			for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
				if (units[i].unit == end[0])
					return now + (int64_t)n * units[i].us;
	}
	return event_parse_time(s, &t) == LS_OK && t > 0 ? t : 0;
}

void api_tokens_post(struct server *s, const struct request *q, struct reply *r)
{
	json_error_t je;
	json_t *body, *info = NULL, *d;
	const char *k, *service = NULL, *name = NULL;
	json_t *v;
	char secret[AUTH_SECRET_LEN + 1];
	struct ls_err err = { { 0 } };
	struct auth_new nw = { 0 };
	unsigned roles;
	ls_rc rc;

	body = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!body) {
		reply_error(r, 400, "invalid_json", "line %d column %d: %s", je.line, je.column,
			    je.text);
		return;
	}
	if (!json_is_object(body)) {
		reply_error(r, 400, "invalid_request", "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(body, k, v) {
		if (strcmp(k, "role") && strcmp(k, "roles") && strcmp(k, "service") &&
		    strcmp(k, "name") && strcmp(k, "expires") && strcmp(k, "partial")) {
			reply_error(r, 400, "invalid_request", "field %s: unknown", k);
			goto out;
		}
	}
	if (!parse_roles(body, &roles, r))
		goto out;
	v = json_object_get(body, "service");
	if (v && !(service = json_string_value(v))) {
		reply_error(r, 400, "invalid_request", "field service: must be a string");
		goto out;
	}
	v = json_object_get(body, "name");
	if (v && !(name = json_string_value(v))) {
		reply_error(r, 400, "invalid_request", "field name: must be a string");
		goto out;
	}
	v = json_object_get(body, "expires");
	if (v && (!json_is_string(v) ||
		  !(nw.expires_us = parse_expires(json_string_value(v), q->received_us)))) {
		reply_error(r, 400, "invalid_request",
			    "field expires: an RFC 3339 time or a duration such as \"30d\" "
			    "(s, m, h, d, w)");
		goto out;
	}
	v = json_object_get(body, "partial");
	if (v && !json_is_boolean(v)) {
		reply_error(r, 400, "invalid_request", "field partial: must be true or false");
		goto out;
	}
	nw.partial = json_is_true(v);
	rc = auth_create_ex(s->auth, roles, service, name, &nw, secret, sizeof(secret), &info,
			    &err);
	if (rc == LS_INVALID) {
		reply_error(r, 400, "invalid_request", "%s", err.msg);
		goto out;
	}
	if (rc != LS_OK) {
		reply_append_error(s, r, rc, &err);
		goto out;
	}
	d = json_object();
	json_object_set(d, "token_id", json_object_get(info, "id"));
	json_object_set(d, "roles", json_object_get(info, "roles"));
	if (service)
		json_object_set_new(d, "service", json_string(service));
	if (name)
		json_object_set_new(d, "name", json_string(name));
	if (json_object_get(info, "expires"))
		json_object_set(d, "expires", json_object_get(info, "expires"));
	if (nw.partial)
		json_object_set_new(d, "partial", json_true());
	rc = api_log_internal(s, q, "logseal.token.create", q->who->id, "success", d);
	json_decref(d);
	if (rc != LS_OK) {
		int changed;
		json_t *gone = NULL;
		auth_revoke(s->auth, json_string_value(json_object_get(info, "id")), &changed,
			    &gone, NULL);
		json_decref(gone);
		reply_append_error(s, r, rc, NULL);
		goto out;
	}
	r->status = 201;
	r->body = info;
	info = NULL;
	json_object_set_new(r->body, "token", json_string(secret));
out:
	ls_wipe(secret, sizeof(secret));
	json_decref(info);
	json_decref(body);
}

void api_tokens_get(struct server *s, const struct request *q, struct reply *r)
{
	json_t *list = auth_list(s->auth), *d, *body;

	if (!list) {
		reply_append_error(s, r, LS_NOMEM, NULL);
		return;
	}
	/* The token list is configuration, and reading it is a read like any
	 * other: recorded before it is shown, or not shown. */
	d = json_pack("{sI}", "results", (json_int_t)json_array_size(list));
	body = json_object();
	json_object_set_new(body, "tokens", list);
	api_reply_audited(s, q, "logseal.tokens.list", d, &body, r);
	json_decref(d);
	json_decref(body);
}

void api_tokens_delete(struct server *s, const struct request *q, struct reply *r)
{
	const char *id = q->tail;
	struct ls_err err = { { 0 } };
	json_t *info = NULL, *d;
	int changed = 0;
	ls_rc rc;

	rc = auth_revoke(s->auth, id, &changed, &info, &err);
	if (rc == LS_NOTFOUND) {
		reply_error(r, 404, "not_found", "no token with this id");
		return;
	}
	if (rc == LS_DENIED) {
		reply_error(r, 409, "last_admin", "%s", err.msg);
		return;
	}
	if (rc != LS_OK) {
		reply_append_error(s, r, rc, &err);
		return;
	}
	if (changed) {
		/* A revoked token reads nothing more, live streams included. */
		streams_revoke(s->streams, id);
		sessions_revoke_token(s->sessions, id);
		api_sessions_log_ended(s, 0);
		d = json_object();
		json_object_set(d, "token_id", json_object_get(info, "id"));
		json_object_set(d, "roles", json_object_get(info, "roles"));
		if (json_object_get(info, "service"))
			json_object_set(d, "service", json_object_get(info, "service"));
		rc = api_log_internal(s, q, "logseal.token.revoke", q->who->id, "success", d);
		json_decref(d);
		/* The revocation stands even when it cannot be logged: refusing
		 * the token matters more.  The reply says so. */
		if (rc != LS_OK)
			json_object_set_new(info, "logged", json_false());
	}
	r->status = 200;
	r->body = info;
}
