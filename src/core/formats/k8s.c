/*
 * formats/k8s.c - one Kubernetes audit Event (audit.k8s.io/v1 or v1beta1,
 * as sent by the kube-apiserver webhook backend) mapped onto a native
 * logseal/v1 object:
 *
 *   user.username            -> actor.id  (type service for
 *                               "system:serviceaccount:*", anonymous for
 *                               "system:anonymous", system for other
 *                               "system:*", else user)
 *   verb + objectRef         -> action "k8s.<resource>[.<subresource>].<verb>",
 *                               or "k8s.nonresource.<verb>"
 *   objectRef                -> resource {type, id: namespace/name, name}
 *   sourceIPs[0]             -> source.ip (requestURI -> source.endpoint
 *                               when there is no address); userAgent
 *   responseStatus.code      -> outcome: 1xx-3xx success (101 is a granted
 *                               exec/attach upgrade), 401/403 denied, other
 *                               4xx failure, 5xx error, missing unknown
 *   stageTimestamp (or requestReceivedTimestamp) -> time
 *   "k8s:<auditID>:<stage>"  -> id (the idempotency key)
 *
 * details keeps auditID, stage, level, verb, requestURI, sourceIPs, groups,
 * the impersonated user, the "authorization.k8s.io/" annotations and
 * responseStatus {code, reason, message, status}.  Invariant:
 * requestObject and responseObject are never copied - they may hold
 * secrets and are often far larger than an entry may be.
 */
#include "core/formats/formats.h"
#include "core/event.h"

#include <stdio.h>
#include <string.h>

#define AUTHZ_PREFIX "authorization.k8s.io/"

/* Optional string member: 0 absent, 1 good, -1 refused (e filled). */
static int str_of(json_t *obj, const char *key, const char *fname, bool nonempty, size_t pos,
		  struct event_error *e, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v)) {
		evt_fail(e, pos, fname, "must be a string");
		return -1;
	}
	if (nonempty && json_string_length(v) == 0) {
		evt_fail(e, pos, fname, "must not be empty");
		return -1;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		evt_fail(e, pos, fname, "must not contain NUL");
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

static const char *actor_type(const char *u)
{
	if (!strncmp(u, "system:serviceaccount:", 22))
		return "service";
	if (!strcmp(u, "system:anonymous"))
		return "anonymous";
	if (!strncmp(u, "system:", 7))
		return "system";
	return "user";
}

static const char *outcome_of(json_int_t c)
{
	if (c >= 100 && c <= 399)
		return "success";
	if (c == 401 || c == 403)
		return "denied";
	if (c >= 400 && c <= 499)
		return "failure";
	if (c >= 500 && c <= 599)
		return "error";
	return "unknown";
}

/* json_object_set_new that also takes NULL values as failures. */
static bool setn(json_t *o, const char *k, json_t *v)
{
	return v && json_object_set_new(o, k, v) == 0;
}

static bool set_str(json_t *o, const char *k, const char *s)
{
	return !s || setn(o, k, json_string(s));
}

/* An array member that must hold only strings: copied into details. */
static int str_array(json_t *obj, const char *key, const char *fname, size_t pos,
		     struct event_error *e, json_t **out)
{
	json_t *v = json_object_get(obj, key);
	size_t i;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v)) {
		evt_fail(e, pos, fname, "must be an array of strings");
		return -1;
	}
	for (i = 0; i < json_array_size(v); i++) {
		if (!json_is_string(json_array_get(v, i))) {
			evt_fail(e, pos, fname, "must be an array of strings");
			return -1;
		}
	}
	*out = v;
	return 1;
}

ls_rc evt_k8s_to_native(json_t *in, size_t pos, struct event_error *e, json_t **out)
{
	const char *kind, *audit_id, *stage, *level, *verb, *uri, *ua, *user, *imp = NULL;
	const char *res = NULL, *sub = NULL, *ns = NULL, *name = NULL, *ts, *tsf, *first = NULL;
	json_t *user_obj, *oref, *ips, *groups, *ann, *rs, *code = NULL, *v;
	json_t *o = NULL, *actor = NULL, *src = NULL, *rsc = NULL, *det = NULL, *jrs = NULL;
	json_t *jann = NULL;
	char ipbuf[64], key[EVENT_MAX_ID + 1], action[300];
	const char *k;
	int64_t t;
	int n;

	*out = NULL;
	if (!json_is_object(in)) {
		evt_fail(e, pos, "", "an audit event must be a JSON object");
		return LS_INVALID;
	}
	if (str_of(in, "kind", "kind", false, pos, e, &kind) < 0)
		return LS_INVALID;
	if (kind && strcmp(kind, "Event")) {
		evt_fail(e, pos, "kind", "must be Event");
		return LS_INVALID;
	}
	if (str_of(in, "auditID", "auditID", true, pos, e, &audit_id) < 0 ||
	    str_of(in, "stage", "stage", true, pos, e, &stage) < 0 ||
	    str_of(in, "level", "level", false, pos, e, &level) < 0 ||
	    str_of(in, "verb", "verb", true, pos, e, &verb) < 0 ||
	    str_of(in, "requestURI", "requestURI", false, pos, e, &uri) < 0 ||
	    str_of(in, "userAgent", "userAgent", false, pos, e, &ua) < 0)
		return LS_INVALID;
	if (!audit_id || !stage || !verb) {
		evt_fail(e, pos, !audit_id ? "auditID" : !stage ? "stage" : "verb", "required");
		return LS_INVALID;
	}
	n = snprintf(key, sizeof(key), "k8s:%s:%s", audit_id, stage);
	if (n < 0 || (size_t)n >= sizeof(key)) {
		evt_fail(e, pos, "auditID", "auditID and stage longer than the %d-byte key limit",
			 EVENT_MAX_ID);
		return LS_INVALID;
	}

	user_obj = json_object_get(in, "user");
	if (!json_is_object(user_obj)) {
		evt_fail(e, pos, "user", user_obj ? "must be an object" : "required");
		return LS_INVALID;
	}
	if (str_of(user_obj, "username", "user.username", true, pos, e, &user) < 0 ||
	    str_array(user_obj, "groups", "user.groups", pos, e, &groups) < 0)
		return LS_INVALID;
	if (!user) {
		evt_fail(e, pos, "user.username", "required");
		return LS_INVALID;
	}
	v = json_object_get(in, "impersonatedUser");
	if (v && (!json_is_object(v) ||
		  str_of(v, "username", "impersonatedUser.username", false, pos, e, &imp) < 0)) {
		if (!json_is_object(v))
			evt_fail(e, pos, "impersonatedUser", "must be an object");
		return LS_INVALID;
	}

	oref = json_object_get(in, "objectRef");
	if (oref) {
		if (!json_is_object(oref)) {
			evt_fail(e, pos, "objectRef", "must be an object");
			return LS_INVALID;
		}
		if (str_of(oref, "resource", "objectRef.resource", true, pos, e, &res) < 0 ||
		    str_of(oref, "subresource", "objectRef.subresource", false, pos, e, &sub) < 0 ||
		    str_of(oref, "namespace", "objectRef.namespace", false, pos, e, &ns) < 0 ||
		    str_of(oref, "name", "objectRef.name", false, pos, e, &name) < 0)
			return LS_INVALID;
	}
	if (res && sub && *sub)
		n = snprintf(action, sizeof(action), "k8s.%s.%s.%s", res, sub, verb);
	else if (res)
		n = snprintf(action, sizeof(action), "k8s.%s.%s", res, verb);
	else
		n = snprintf(action, sizeof(action), "k8s.nonresource.%s", verb);
	if (n < 0 || (size_t)n >= sizeof(action)) {
		evt_fail(e, pos, res ? "objectRef.resource" : "verb", "too long for an action");
		return LS_INVALID;
	}

	if (str_array(in, "sourceIPs", "sourceIPs", pos, e, &ips) < 0)
		return LS_INVALID;
	if (ips && json_array_size(ips) > 0) {
		v = json_array_get(ips, 0);
		first = json_string_value(v);
		if (strlen(first) != json_string_length(v) ||
		    event_normalize_ip(first, ipbuf, sizeof(ipbuf))) {
			evt_fail(e, pos, "sourceIPs[0]", "not an IPv4 or IPv6 address");
			return LS_INVALID;
		}
	} else if (!uri || !*uri) {
		evt_fail(e, pos, "sourceIPs", "required (or requestURI)");
		return LS_INVALID;
	}

	tsf = "stageTimestamp";
	if (str_of(in, tsf, tsf, true, pos, e, &ts) < 0)
		return LS_INVALID;
	if (!ts) {
		tsf = "requestReceivedTimestamp";
		if (str_of(in, tsf, tsf, true, pos, e, &ts) < 0)
			return LS_INVALID;
	}
	if (!ts) {
		evt_fail(e, pos, "stageTimestamp", "required");
		return LS_INVALID;
	}
	if (event_parse_time(ts, &t)) {
		evt_fail(e, pos, tsf, "not an RFC 3339 time");
		return LS_INVALID;
	}

	rs = json_object_get(in, "responseStatus");
	if (rs) {
		const char *r1, *r2, *r3;

		if (!json_is_object(rs)) {
			evt_fail(e, pos, "responseStatus", "must be an object");
			return LS_INVALID;
		}
		code = json_object_get(rs, "code");
		if (code && !json_is_integer(code)) {
			evt_fail(e, pos, "responseStatus.code", "must be an integer");
			return LS_INVALID;
		}
		if (str_of(rs, "reason", "responseStatus.reason", false, pos, e, &r1) < 0 ||
		    str_of(rs, "message", "responseStatus.message", false, pos, e, &r2) < 0 ||
		    str_of(rs, "status", "responseStatus.status", false, pos, e, &r3) < 0)
			return LS_INVALID;
		jrs = json_object();
		if (!jrs || (code && json_object_set(jrs, "code", code)) ||
		    !set_str(jrs, "reason", r1) || !set_str(jrs, "message", r2) ||
		    !set_str(jrs, "status", r3))
			goto nomem;
	}

	ann = json_object_get(in, "annotations");
	if (ann) {
		if (!json_is_object(ann)) {
			evt_fail(e, pos, "annotations", "must be an object");
			goto invalid;
		}
		jann = json_object();
		if (!jann)
			goto nomem;
		json_object_foreach(ann, k, v) {
			if (strncmp(k, AUTHZ_PREFIX, strlen(AUTHZ_PREFIX)))
				continue;
			if (!json_is_string(v)) {
				evt_fail(e, pos, "annotations", "values must be strings");
				goto invalid;
			}
			if (json_object_set(jann, k, v))
				goto nomem;
		}
	}

	o = json_object();
	actor = json_object();
	src = json_object();
	det = json_object();
	if (!o || !actor || !src || !det)
		goto nomem;
	if (!set_str(actor, "id", user) || !set_str(actor, "type", actor_type(user)))
		goto nomem;
	if (first ? !set_str(src, "ip", first) : !set_str(src, "endpoint", uri))
		goto nomem;
	if (!set_str(src, "user_agent", ua))
		goto nomem;
	if (res) {
		char rid[512];
		bool have_id = ns || name;

		rsc = json_object();
		if (have_id) {
			n = snprintf(rid, sizeof(rid), "%s%s%s", ns ? ns : "",
				     ns && name ? "/" : "", name ? name : "");
			if (n < 0 || (size_t)n >= sizeof(rid)) {
				evt_fail(e, pos, "objectRef.name", "too long");
				goto invalid;
			}
		}
		if (!rsc || !set_str(rsc, "type", res) || (have_id && !set_str(rsc, "id", rid)) ||
		    !set_str(rsc, "name", name))
			goto nomem;
	}
	if (!set_str(det, "auditID", audit_id) || !set_str(det, "stage", stage) ||
	    !set_str(det, "level", level) || !set_str(det, "verb", verb) ||
	    !set_str(det, "requestURI", uri) || !set_str(det, "impersonatedUser", imp) ||
	    (ips && json_object_set(det, "sourceIPs", ips)) ||
	    (groups && json_object_set(det, "groups", groups)))
		goto nomem;
	if (jann && json_object_size(jann) > 0 && json_object_set(det, "annotations", jann))
		goto nomem;
	if (jrs && json_object_set(det, "responseStatus", jrs))
		goto nomem;

	if (!set_str(o, "time", ts) || !set_str(o, "action", action) ||
	    !set_str(o, "outcome", code ? outcome_of(json_integer_value(code)) : "unknown") ||
	    !set_str(o, "service", "kubernetes") || !set_str(o, "id", key) ||
	    json_object_set(o, "actor", actor) || json_object_set(o, "source", src) ||
	    (rsc && json_object_set(o, "resource", rsc)) || json_object_set(o, "details", det))
		goto nomem;
	json_decref(actor);
	json_decref(src);
	json_decref(rsc);
	json_decref(det);
	json_decref(jrs);
	json_decref(jann);
	*out = o;
	return LS_OK;
nomem:
	json_decref(actor);
	json_decref(src);
	json_decref(rsc);
	json_decref(det);
	json_decref(jrs);
	json_decref(jann);
	json_decref(o);
	return LS_NOMEM;
invalid:
	json_decref(actor);
	json_decref(src);
	json_decref(rsc);
	json_decref(det);
	json_decref(jrs);
	json_decref(jann);
	json_decref(o);
	return LS_INVALID;
}
