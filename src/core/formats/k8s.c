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
 * the impersonated user, the "authorization.k8s.io/" annotations,
 * responseStatus {code, reason, message, status}, objectRef {apiGroup,
 * apiVersion, resource, subresource, namespace, name, uid} as sent, and
 * requestObject / responseObject (the audit levels Request and
 * RequestResponse), so that what a create, update or patch changed is in
 * the record.  Invariants for those two objects:
 *  1. Secret data never reaches the log: in an object of kind Secret or
 *     SecretList and everything below it (a list's items carry no kind),
 *     and in the whole object when objectRef is the core group's "secrets"
 *     (a patch body has no kind), every value of "data" and "stringData" and the
 *     kubectl.kubernetes.io/last-applied-configuration annotation (a copy
 *     of the whole Secret) become "[REDACTED]"; the keys stay, so which
 *     keys a patch touched is on record.  A JSON patch (an array of
 *     operations) on a Secret has the value of each operation whose path
 *     is under /data, /stringData or that annotation replaced likewise.
 *  2. Bounded: an object whose canonical JSON is over K8S_OBJECT_MAX bytes
 *     (after the redaction) or nested too deep for an entry is replaced by
 *     {"omitted": why, "bytes": its size, "sha256": hex of its canonical
 *     JSON}, so the record still pins down what was sent.
 */
#include "core/formats/formats.h"
#include "core/event.h"
#include "base/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTHZ_PREFIX "authorization.k8s.io/"
#define K8S_OBJECT_MAX 16384	/* bytes of canonical JSON per request/response object */
/* Levels an object may have under details (entry, details, the object's
 * own member take three of EVENT_MAX_DEPTH). */
#define K8S_OBJECT_DEPTH (EVENT_MAX_DEPTH - 2)
#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"
#define REDACTED "[REDACTED]"

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

/* ------------------------------------------------------------------ */
/* request and response objects                                        */

/* Replace every value of the object member key of o with REDACTED. */
static bool redact_values(json_t *o, const char *key)
{
	json_t *m = json_object_get(o, key), *v;
	const char *k;

	if (!m)
		return true;
	if (!json_is_object(m))
		return json_object_set_new(o, key, json_string(REDACTED)) == 0;
	json_object_foreach(m, k, v) {
		if (json_object_set_new(m, k, json_string(REDACTED)))
			return false;
	}
	return true;
}

/* data, stringData and the last-applied annotation of one Secret object. */
static bool redact_secret(json_t *o)
{
	json_t *ann = json_object_get(json_object_get(o, "metadata"), "annotations");

	if (!redact_values(o, "data") || !redact_values(o, "stringData"))
		return false;
	if (json_is_object(ann) && json_object_get(ann, LAST_APPLIED) &&
	    json_object_set_new(ann, LAST_APPLIED, json_string(REDACTED)))
		return false;
	return true;
}

/* A JSON patch operation's path that reaches Secret data. */
static bool secret_path(const char *p)
{
	return !strncmp(p, "/data", 5) || !strncmp(p, "/stringData", 11) ||
	       !strcmp(p, "/metadata/annotations") ||
	       !strncmp(p, "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
			71) ||
	       !strcmp(p, "/metadata");
}

/* Redact v in place: every object of kind Secret (or SecretList) and all
 * below it; all of v when is_secret (the request is about secrets). */
static bool redact_tree(json_t *v, bool is_secret, unsigned depth)
{
	json_t *x;
	const char *k;
	size_t i;

	if (depth > 64)
		return true;	/* deeper than an entry may be: omitted later */
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			json_t *path = json_object_get(x, "path");

			/* a JSON patch operation on a Secret */
			if (is_secret && json_is_object(x) && json_is_string(path) &&
			    json_object_get(x, "value") && secret_path(json_string_value(path)) &&
			    json_object_set_new(x, "value", json_string(REDACTED)))
				return false;
			if (!redact_tree(x, is_secret, depth + 1))
				return false;
		}
		return true;
	}
	if (!json_is_object(v))
		return true;
	x = json_object_get(v, "kind");
	if (json_is_string(x) && (!strcmp(json_string_value(x), "Secret") ||
				  !strcmp(json_string_value(x), "SecretList")))
		is_secret = true;
	if (is_secret && !redact_secret(v))
		return false;
	/* Below a Secret (a list's items carry no kind) every object is
	 * treated as one. */
	json_object_foreach(v, k, x) {
		if (!redact_tree(x, is_secret, depth + 1))
			return false;
	}
	return true;
}

static size_t depth_of(const json_t *v)
{
	size_t best = 0, d, i;
	const char *k;
	json_t *x;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
			if ((d = depth_of(x)) > best)
				best = d;
		return best + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if ((d = depth_of(x)) > best)
				best = d;
		return best + 1;
	}
	return 0;
}

/*
 * in's member key (requestObject or responseObject), redacted and bounded
 * (the invariants above), into det under the same name.  The input event is
 * modified (it is the caller's parse of the request body, dropped after).
 */
static ls_rc keep_object(json_t *in, const char *key, bool is_secret, json_t *det)
{
	json_t *v = json_object_get(in, key), *o;
	const char *why = NULL;
	char *canon = NULL, hex[2 * LS_HASH_LEN + 1];
	uint8_t h[LS_HASH_LEN];
	size_t len = 0;
	ls_rc rc;

	if (!v || json_is_null(v))
		return LS_OK;
	if (!redact_tree(v, is_secret, 0))
		return LS_NOMEM;
	if (depth_of(v) > K8S_OBJECT_DEPTH)
		why = "nested too deep for an entry";
	rc = event_canonical(v, &canon, &len);
	if (rc)
		return rc == LS_NOMEM ? LS_NOMEM : LS_INVALID;
	if (!why && len > K8S_OBJECT_MAX)
		why = "larger than 16384 bytes";
	if (!why) {
		free(canon);
		return json_object_set(det, key, v) ? LS_NOMEM : LS_OK;
	}
	ls_sha256(canon, len, NULL, 0, h);
	ls_hex(h, sizeof(h), hex);
	free(canon);
	o = json_pack("{s:s, s:I, s:s}", "omitted", why, "bytes", (json_int_t)len, "sha256", hex);
	if (!o || json_object_set_new(det, key, o))
		return LS_NOMEM;
	return LS_OK;
}

ls_rc evt_k8s_to_native(json_t *in, size_t pos, struct event_error *e, json_t **out)
{
	const char *kind, *audit_id, *stage, *level, *verb, *uri, *ua, *user, *imp = NULL;
	const char *res = NULL, *sub = NULL, *ns = NULL, *name = NULL, *ts, *tsf, *first = NULL;
	const char *group = NULL, *gver = NULL, *uid = NULL;
	json_t *jref = NULL;
	ls_rc orc;
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
		    str_of(oref, "name", "objectRef.name", false, pos, e, &name) < 0 ||
		    str_of(oref, "apiGroup", "objectRef.apiGroup", false, pos, e, &group) < 0 ||
		    str_of(oref, "apiVersion", "objectRef.apiVersion", false, pos, e, &gver) < 0 ||
		    str_of(oref, "uid", "objectRef.uid", false, pos, e, &uid) < 0)
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
	if (oref) {
		jref = json_object();
		if (!jref || !set_str(jref, "apiGroup", group) || !set_str(jref, "apiVersion", gver) ||
		    !set_str(jref, "resource", res) || !set_str(jref, "subresource", sub) ||
		    !set_str(jref, "namespace", ns) || !set_str(jref, "name", name) ||
		    !set_str(jref, "uid", uid) || json_object_set(det, "objectRef", jref))
			goto nomem;
	}
	{
		/* the core group's secrets: group "" or absent */
		bool is_secret = res && !strcmp(res, "secrets") && (!group || !*group);

		orc = keep_object(in, "requestObject", is_secret, det);
		if (!orc)
			orc = keep_object(in, "responseObject", is_secret, det);
		if (orc == LS_NOMEM)
			goto nomem;
		if (orc) {
			evt_fail(e, pos, "requestObject", "has a value with no JSON form");
			goto invalid;
		}
	}

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
	json_decref(jref);
	*out = o;
	return LS_OK;
nomem:
	json_decref(actor);
	json_decref(src);
	json_decref(rsc);
	json_decref(det);
	json_decref(jrs);
	json_decref(jann);
	json_decref(jref);
	json_decref(o);
	return LS_NOMEM;
invalid:
	json_decref(actor);
	json_decref(src);
	json_decref(rsc);
	json_decref(det);
	json_decref(jrs);
	json_decref(jann);
	json_decref(jref);
	json_decref(o);
	return LS_INVALID;
}
