/*
 * formats/flat.c - the "flat" input template (?format=flat):
 *
 *   {"timestamp","user_id","action","status","location"}
 *   + optional "service", "id", "resource", "details"
 *
 * mapped onto a native logseal/v1 object, which event.c then validates like
 * any other event.  Invariants: unknown members are refused (as in the
 * native schema), server fields are refused, and a status we cannot map
 * with certainty is refused rather than guessed: an audit log must not
 * record a denial as a success.
 */
#include "core/formats/formats.h"
#include "core/event.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const flat_fields[] = {
	"timestamp", "user_id", "action", "status", "location",
	"service", "id", "resource", "details", NULL
};

static const char *status_from_code(json_int_t c)
{
	if (c >= 200 && c <= 299)
		return "success";
	if (c == 401 || c == 403)
		return "denied";
	if (c >= 400 && c <= 499)
		return "failure";
	if (c >= 500 && c <= 599)
		return "error";
	return NULL;
}

static const char *status_from_word(const char *s, size_t n)
{
	static const struct {
		const char *word, *outcome;
	} words[] = {
		{ "success", "success" }, { "ok", "success" }, { "allowed", "success" },
		{ "allow", "success" }, { "succeeded", "success" },
		{ "denied", "denied" }, { "deny", "denied" }, { "forbidden", "denied" },
		{ "unauthorized", "denied" },
		{ "fail", "failure" }, { "failure", "failure" }, { "failed", "failure" },
		{ "error", "error" }, { "unknown", "unknown" },
	};
	size_t i;
	json_int_t c = 0;

	if (n >= 1 && n <= 3) {
		for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			c = c * 10 + (s[i] - '0');
		if (i == n)
			return status_from_code(c);
	}
	if (strlen(s) != n)
		return NULL;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i].word))
			return words[i].outcome;
	return NULL;
}

ls_rc evt_flat_to_native(json_t *in, size_t pos, struct event_error *e, json_t **out)
{
	static const char *const pass[] = { "action", "service", "id", "resource", "details" };
	json_t *o, *v, *actor = NULL, *src = NULL;
	const char *k, *outcome;
	char ip[64];
	size_t i;

	*out = NULL;
	json_object_foreach(in, k, v) {
		for (i = 0; flat_fields[i]; i++)
			if (!strcmp(k, flat_fields[i]))
				break;
		if (flat_fields[i])
			continue;
		evt_fail(e, pos, k, evt_is_server_field(k) ?
			 "is set by the server and must not be sent" : "unknown field");
		return LS_INVALID;
	}
	if (!json_object_get(in, "timestamp")) {
		evt_fail(e, pos, "timestamp", "required");
		return LS_INVALID;
	}
	if (!json_object_get(in, "user_id")) {
		evt_fail(e, pos, "user_id", "required");
		return LS_INVALID;
	}
	if (!json_object_get(in, "action")) {
		evt_fail(e, pos, "action", "required");
		return LS_INVALID;
	}

	v = json_object_get(in, "status");
	if (!v) {
		evt_fail(e, pos, "status", "required");
		return LS_INVALID;
	}
	if (json_is_integer(v))
		outcome = status_from_code(json_integer_value(v));
	else if (json_is_string(v))
		outcome = status_from_word(json_string_value(v), json_string_length(v));
	else {
		evt_fail(e, pos, "status", "must be a string or an integer");
		return LS_INVALID;
	}
	if (!outcome) {
		evt_fail(e, pos, "status",
			 "not a known status (success/ok/allowed, denied/forbidden/unauthorized, "
			 "fail/failure/failed, error, or an HTTP code 2xx/4xx/5xx)");
		return LS_INVALID;
	}

	v = json_object_get(in, "location");
	if (!v) {
		evt_fail(e, pos, "location", "required");
		return LS_INVALID;
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		evt_fail(e, pos, "location", "must be a non-empty string");
		return LS_INVALID;
	}

	o = json_object();
	actor = json_object();
	src = json_object();
	if (!o || !actor || !src)
		goto nomem;
	if (json_object_set(actor, "id", json_object_get(in, "user_id")))
		goto nomem;
	if (json_object_set(src,
			    strlen(json_string_value(v)) == json_string_length(v) &&
				    !event_normalize_ip(json_string_value(v), ip, sizeof(ip)) ?
				    "ip" : "endpoint", v))
		goto nomem;
	if (json_object_set(o, "time", json_object_get(in, "timestamp")) ||
	    json_object_set_new(o, "outcome", json_string(outcome)))
		goto nomem;
	if (json_object_set_new(o, "actor", actor)) {
		actor = NULL;
		goto nomem;
	}
	actor = NULL;
	if (json_object_set_new(o, "source", src)) {
		src = NULL;
		goto nomem;
	}
	src = NULL;
	for (i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		v = json_object_get(in, pass[i]);
		if (v && json_object_set(o, pass[i], v))
			goto nomem;
	}
	*out = o;
	return LS_OK;
nomem:
	json_decref(actor);
	json_decref(src);
	json_decref(o);
	return LS_NOMEM;
}

void evt_flat_rename_field(struct event_error *e)
{
	static const struct {
		const char *native, *flat;
	} map[] = {
		{ "time", "timestamp" }, { "actor", "user_id" }, { "actor.id", "user_id" },
		{ "outcome", "status" }, { "source", "location" }, { "source.ip", "location" },
		{ "source.endpoint", "location" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(e->field, map[i].native)) {
			snprintf(e->field, sizeof(e->field), "%s", map[i].flat);
			return;
		}
	}
}
