/*
 * formats/otlp.c - OTLP logs (ExportLogsServiceRequest, JSON or protobuf)
 * mapped onto standard events, one per log record, by this attribute
 * convention (docs/SCHEMA.md, "OTLP mapping"; first present wins):
 *
 *   actor.id       logseal.actor.id, enduser.id, user.id        (required)
 *   actor.type     logseal.actor.type
 *   actor.name     logseal.actor.name, user.name
 *   actor.email    logseal.actor.email, user.email
 *   action         logseal.action, event.name, the record's eventName
 *                                                              (required)
 *   outcome        logseal.outcome, event.outcome; absent: "unknown"
 *                  (never guessed from the severity)
 *   source.ip / .endpoint   client.address, source.address (an IP address
 *                  goes to ip, a name to endpoint); else the resource's
 *                  host.name as endpoint                        (required)
 *   source.port    client.port, source.port
 *   source.user_agent       user_agent.original
 *   service        logseal.service, the resource's service.name
 *   resource.*     logseal.resource.type, .id, .name
 *   request_id     logseal.request_id
 *   reason         logseal.reason, else the body when it is a string
 *   id             logseal.id, event.id; else "otlp:" + hex SHA-256 of the
 *                  digests of the record's resource, scope and record
 *                  (one_record): the idempotency key, so a resent export
 *                  is one event
 *   time           timeUnixNano, else observedTimeUnixNano (nanoseconds;
 *                  stored with microseconds, the rest truncated)
 *   details        attributes: the record's other attributes;
 *                  resource: the resource's other attributes;
 *                  scope {name, version}; trace_id, span_id (hex);
 *                  severity_text, severity_number; body (when not a string)
 *
 * Attribute values (AnyValue) become plain JSON: string, bool, integer,
 * number, array, object (kvlist), bytes as base64, an empty value null.
 * Record attributes are read where the record is, then resource attributes
 * for the two fields that fall back to them.  Names are matched exactly.
 *
 * Invariants:
 *  1. Every mapped record goes through evt_finish (event.c), the validator
 *     of every stored event; nothing here is stored unchecked.
 *  2. A record that cannot be mapped is not dropped silently: it is counted
 *     (the reply's partialSuccess) and recorded by a logseal.ingest.rejected
 *     event in the same batch (details: record, field, error, sha256 of the
 *     record's canonical OTLP/JSON, and its first OTLP_EXCERPT bytes), the
 *     values of attributes the redaction policy names replaced first.
 *  3. A record's digest (digest(): SHA-256 of its canonical OTLP/JSON,
 *     redacted) is made once and serves both its id and its rejection.
 *  4. The request as a whole is refused only when it is not an
 *     ExportLogsServiceRequest (not JSON/protobuf, wrong member types
 *     outside the records).
 */
#include "core/formats/otlp.h"
#include "core/formats/formats.h"
#include "core/event.h"
#include "core/event_policy.h"
#include "base/crypto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTLP_EXCERPT 256	/* bytes of a rejected record kept in its event */
#define ANY_MAX_DEPTH 32	/* recursion guard over AnyValue in JSON */
#define OTLP_ID_PREFIX "otlp:"	/* of the id made from a record's digest */

struct acc {
	struct otlp_result *r;
	size_t cap;
	const struct event_ctx *ctx;
};

static ls_rc push(struct acc *a, struct event_item *it)
{
	struct event_batch *b = &a->r->batch;

	if (b->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 16;
		struct event_item *ni = realloc(b->items, nc * sizeof(*ni));

		if (!ni)
			return LS_NOMEM;
		b->items = ni;
		a->cap = nc;
	}
	b->items[b->n++] = *it;
	return LS_OK;
}

/* ------------------------------------------------------------------ */
/* AnyValue -> plain JSON                                              */

/* A JSON int64 from OTLP/JSON: an integer, or a string of one. */
static bool int64_of(json_t *v, json_int_t *out)
{
	const char *s;
	char *end;
	long long x;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	if (!*s || strlen(s) != json_string_length(v))
		return false;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = (json_int_t)x;
	return true;
}

/* A uint64 (fixed64 times) from OTLP/JSON: a non-negative integer or a
 * string of decimal digits. */
static bool uint64_of(json_t *v, uint64_t *out)
{
	const char *s;
	uint64_t x = 0;
	size_t i, n;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return false;
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > 20)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*out = x;
	return true;
}

static json_t *any_to_json(json_t *av, unsigned depth, const char **why);

/* KeyValue list (array of {key, value}) -> object; duplicate keys refused. */
static json_t *kvs_to_object(json_t *list, unsigned depth, const char **why)
{
	json_t *o, *kv, *k, *v;
	size_t i;

	if (list && !json_is_array(list)) {
		*why = "attributes must be an array of {key, value}";
		return NULL;
	}
	o = json_object();
	if (!o) {
		*why = NULL;
		return NULL;
	}
	json_array_foreach(list, i, kv) {
		k = json_object_get(kv, "key");
		if (!json_is_object(kv) || !json_is_string(k) ||
		    strlen(json_string_value(k)) != json_string_length(k)) {
			*why = "an attribute needs a string key";
			goto bad;
		}
		if (json_object_get(o, json_string_value(k))) {
			*why = "an attribute key occurs twice";
			goto bad;
		}
		v = any_to_json(json_object_get(kv, "value"), depth + 1, why);
		if (!v || json_object_set_new(o, json_string_value(k), v))
			goto bad;
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* NULL with *why set (bad value) or *why NULL (out of memory). */
static json_t *any_to_json(json_t *av, unsigned depth, const char **why)
{
	const char *k;
	json_t *v, *list, *a, *x;
	json_int_t iv;
	size_t i;

	*why = NULL;
	if (depth > ANY_MAX_DEPTH) {
		*why = "values nested too deep";
		return NULL;
	}
	if (!av)
		return json_null();
	if (!json_is_object(av)) {
		*why = "an attribute value must be an AnyValue object";
		return NULL;
	}
	if (json_object_size(av) == 0)
		return json_null();
	if (json_object_size(av) != 1) {
		*why = "an AnyValue holds one of stringValue, boolValue, intValue, doubleValue, "
		       "arrayValue, kvlistValue, bytesValue";
		return NULL;
	}
	json_object_foreach(av, k, v) {
		if (!strcmp(k, "stringValue") || !strcmp(k, "bytesValue")) {
			if (json_is_string(v))
				return json_copy(v);
		} else if (!strcmp(k, "boolValue")) {
			if (json_is_boolean(v))
				return json_copy(v);
		} else if (!strcmp(k, "intValue")) {
			if (int64_of(v, &iv))
				return json_integer(iv);
		} else if (!strcmp(k, "doubleValue")) {
			if (json_is_number(v) || json_is_string(v))
				return json_copy(v);
		} else if (!strcmp(k, "arrayValue") || !strcmp(k, "kvlistValue")) {
			list = json_is_object(v) ? json_object_get(v, "values") : NULL;
			if (!json_is_object(v) || (list && !json_is_array(list)))
				break;
			if (k[0] == 'k')
				return kvs_to_object(list, depth, why);
			a = json_array();
			if (!a)
				return NULL;
			json_array_foreach(list, i, x) {
				json_t *e = any_to_json(x, depth + 1, why);

				if (!e || json_array_append_new(a, e)) {
					json_decref(a);
					return NULL;
				}
			}
			return a;
		} else {
			*why = "unknown AnyValue member";
			return NULL;
		}
	}
	*why = "an AnyValue member has the wrong type";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* one record                                                          */

struct rec {
	json_t *attrs;	/* record attributes as plain JSON (consumed ones removed) */
	json_t *rattrs;	/* resource attributes (likewise) */
	json_t *native;
	/* which OTLP name each native field came from, for error messages */
	const char *from[8];
	const char *from_what[8];
	size_t nfrom;
};

static void note_from(struct rec *c, const char *native, const char *otlp)
{
	if (c->nfrom < sizeof(c->from) / sizeof(c->from[0])) {
		c->from[c->nfrom] = native;
		c->from_what[c->nfrom++] = otlp;
	}
}

/* The first present of names in attrs: taken out of attrs (*v owned). */
static const char *take_attr(json_t *attrs, const char *const *names, json_t **v)
{
	*v = NULL;
	for (size_t i = 0; names[i]; i++) {
		json_t *x = json_object_get(attrs, names[i]);

		if (x) {
			*v = json_incref(x);
			json_object_del(attrs, names[i]);
			return names[i];
		}
	}
	return NULL;
}

/* Map string attribute(s) onto native member key of obj. */
static int map_str(struct rec *c, json_t *attrs, const char *const *names, json_t *obj,
		   const char *key, const char *native, size_t pos, struct event_error *e)
{
	json_t *v;
	const char *name = take_attr(attrs, names, &v);

	if (!name)
		return 0;
	if (!json_is_string(v)) {
		evt_fail(e, pos, name, "must be a string attribute (stringValue)");
		json_decref(v);
		return -1;
	}
	note_from(c, native, name);
	if (json_object_set_new(obj, key, v))
		return -2;
	return 1;
}

static void rename_field(const struct rec *c, struct event_error *e)
{
	for (size_t i = 0; i < c->nfrom; i++)
		if (!strcmp(e->field, c->from[i])) {
			snprintf(e->field, sizeof(e->field), "%s", c->from_what[i]);
			return;
		}
}

static bool set_new(json_t *o, const char *k, json_t *v)
{
	return v && json_object_set_new(o, k, v) == 0;
}

/*
 * One log record -> native object in c->native.  LS_INVALID (e filled) or
 * LS_NOMEM.
 */
static ls_rc map_record(struct rec *c, json_t *lr, json_t *rattrs_in, json_t *scope, size_t pos,
			struct event_error *e)
{
	static const char *const n_actor_id[] = { "logseal.actor.id", "enduser.id", "user.id",
						  NULL };
	static const char *const n_actor_type[] = { "logseal.actor.type", NULL };
	static const char *const n_actor_name[] = { "logseal.actor.name", "user.name", NULL };
	static const char *const n_actor_email[] = { "logseal.actor.email", "user.email", NULL };
	static const char *const n_action[] = { "logseal.action", "event.name", NULL };
	static const char *const n_outcome[] = { "logseal.outcome", "event.outcome", NULL };
	static const char *const n_addr[] = { "client.address", "source.address", NULL };
	static const char *const n_port[] = { "client.port", "source.port", NULL };
	static const char *const n_ua[] = { "user_agent.original", NULL };
	static const char *const n_service[] = { "logseal.service", NULL };
	static const char *const n_rtype[] = { "logseal.resource.type", NULL };
	static const char *const n_rid[] = { "logseal.resource.id", NULL };
	static const char *const n_rname[] = { "logseal.resource.name", NULL };
	static const char *const n_reqid[] = { "logseal.request_id", NULL };
	static const char *const n_reason[] = { "logseal.reason", NULL };
	static const char *const n_svc_name[] = { "service.name", NULL };
	static const char *const n_host[] = { "host.name", NULL };
	static const char *const n_id[] = { "logseal.id", "event.id", NULL };
	json_t *o, *actor, *src, *rsc, *det, *v, *body;
	const char *why, *name;
	char tbuf[32], ip[64];
	uint64_t ns = 0;
	int r;

	if (!json_is_object(lr)) {
		evt_fail(e, pos, "", "a log record must be an object");
		return LS_INVALID;
	}
	c->attrs = kvs_to_object(json_object_get(lr, "attributes"), 0, &why);
	if (!c->attrs) {
		if (!why)
			return LS_NOMEM;
		evt_fail(e, pos, "attributes", "%s", why);
		return LS_INVALID;
	}
	c->rattrs = json_deep_copy(rattrs_in);
	o = c->native = json_object();
	actor = json_object();
	src = json_object();
	rsc = json_object();
	det = json_object();
	if (!c->rattrs || !o || !set_new(o, "actor", actor) || !set_new(o, "source", src) ||
	    !set_new(o, "resource", rsc) || !set_new(o, "details", det))
		return LS_NOMEM;

	/* time */
	v = json_object_get(lr, "timeUnixNano");
	if (v && !uint64_of(v, &ns)) {
		evt_fail(e, pos, "timeUnixNano", "must be a uint64 (decimal string or integer)");
		return LS_INVALID;
	}
	if (ns == 0) {
		v = json_object_get(lr, "observedTimeUnixNano");
		if (v && !uint64_of(v, &ns)) {
			evt_fail(e, pos, "observedTimeUnixNano",
				 "must be a uint64 (decimal string or integer)");
			return LS_INVALID;
		}
	}
	if (ns == 0) {
		evt_fail(e, pos, "timeUnixNano", "required (timeUnixNano or observedTimeUnixNano)");
		return LS_INVALID;
	}
	event_format_time((int64_t)(ns / 1000), tbuf, sizeof(tbuf));
	note_from(c, "time", "timeUnixNano");
	if (!set_new(o, "time", json_string(tbuf)))
		return LS_NOMEM;

#define MAP(attrs, names, obj, key, native)                                          \
	do {                                                                         \
		r = map_str(c, attrs, names, obj, key, native, pos, e);              \
		if (r == -1)                                                         \
			return LS_INVALID;                                           \
		if (r == -2)                                                         \
			return LS_NOMEM;                                             \
	} while (0)

	MAP(c->attrs, n_actor_id, actor, "id", "actor.id");
	if (r == 0) {
		evt_fail(e, pos, "logseal.actor.id",
			 "required (attribute logseal.actor.id, enduser.id or user.id)");
		return LS_INVALID;
	}
	MAP(c->attrs, n_actor_type, actor, "type", "actor.type");
	MAP(c->attrs, n_actor_name, actor, "name", "actor.name");
	MAP(c->attrs, n_actor_email, actor, "email", "actor.email");

	MAP(c->attrs, n_action, o, "action", "action");
	if (r == 0) {
		v = json_object_get(lr, "eventName");
		if (v && !json_is_string(v)) {
			evt_fail(e, pos, "eventName", "must be a string");
			return LS_INVALID;
		}
		if (!v || json_string_length(v) == 0) {
			evt_fail(e, pos, "logseal.action",
				 "required (attribute logseal.action or event.name, or the "
				 "record's eventName)");
			return LS_INVALID;
		}
		note_from(c, "action", "eventName");
		if (json_object_set(o, "action", v))
			return LS_NOMEM;
	}
	MAP(c->attrs, n_outcome, o, "outcome", "outcome");
	if (r == 0 && !set_new(o, "outcome", json_string("unknown")))
		return LS_NOMEM;

	name = take_attr(c->attrs, n_addr, &v);
	if (name) {
		const char *s = json_string_value(v);

		if (!json_is_string(v) || json_string_length(v) == 0) {
			evt_fail(e, pos, name, "must be a non-empty string attribute");
			json_decref(v);
			return LS_INVALID;
		}
		r = strlen(s) == json_string_length(v) && !event_normalize_ip(s, ip, sizeof(ip));
		note_from(c, r ? "source.ip" : "source.endpoint", name);
		if (json_object_set_new(src, r ? "ip" : "endpoint", v))
			return LS_NOMEM;
	} else {
		MAP(c->rattrs, n_host, src, "endpoint", "source.endpoint");
		if (r == 0) {
			evt_fail(e, pos, "client.address",
				 "required (attribute client.address or source.address, or the "
				 "resource's host.name)");
			return LS_INVALID;
		}
	}
	name = take_attr(c->attrs, n_port, &v);
	if (name) {
		json_int_t p;

		if (!int64_of(v, &p) || !json_is_integer(v)) {
			evt_fail(e, pos, name, "must be an integer attribute (intValue)");
			json_decref(v);
			return LS_INVALID;
		}
		note_from(c, "source.port", name);
		if (json_object_set_new(src, "port", v))
			return LS_NOMEM;
	}
	MAP(c->attrs, n_ua, src, "user_agent", "source.user_agent");

	MAP(c->attrs, n_service, o, "service", "service");
	if (r == 0)
		MAP(c->rattrs, n_svc_name, o, "service", "service");
	MAP(c->attrs, n_rtype, rsc, "type", "resource.type");
	MAP(c->attrs, n_rid, rsc, "id", "resource.id");
	MAP(c->attrs, n_rname, rsc, "name", "resource.name");
	if (json_object_size(rsc) == 0)
		json_object_del(o, "resource");
	MAP(c->attrs, n_reqid, o, "request_id", "request_id");
	MAP(c->attrs, n_reason, o, "reason", "reason");
	MAP(c->attrs, n_id, o, "id", "id");
#undef MAP

	body = json_object_get(lr, "body");
	if (body) {
		v = any_to_json(body, 0, &why);
		if (!v) {
			if (!why)
				return LS_NOMEM;
			evt_fail(e, pos, "body", "%s", why);
			return LS_INVALID;
		}
		if (json_is_string(v) && !json_object_get(o, "reason")) {
			note_from(c, "reason", "body");
			if (json_object_set_new(o, "reason", v))
				return LS_NOMEM;
		} else if (!json_is_null(v) && json_object_set_new(det, "body", v)) {
			return LS_NOMEM;
		} else if (json_is_null(v)) {
			json_decref(v);
		}
	}

	/* details: what is left, and the record's context */
	if (json_object_size(c->attrs) && json_object_set(det, "attributes", c->attrs))
		return LS_NOMEM;
	if (json_object_size(c->rattrs) && json_object_set(det, "resource", c->rattrs))
		return LS_NOMEM;
	if (json_is_object(scope)) {
		json_t *sc = json_object(), *sn = json_object_get(scope, "name"),
		       *sv = json_object_get(scope, "version");

		if (!sc)
			return LS_NOMEM;
		if ((json_is_string(sn) && json_string_length(sn) && json_object_set(sc, "name", sn)) ||
		    (json_is_string(sv) && json_string_length(sv) &&
		     json_object_set(sc, "version", sv))) {
			json_decref(sc);
			return LS_NOMEM;
		}
		if (json_object_size(sc) == 0)
			json_decref(sc);
		else if (json_object_set_new(det, "scope", sc))
			return LS_NOMEM;
	}
	{
		static const struct {
			const char *otlp, *det;
		} keep[] = { { "traceId", "trace_id" }, { "spanId", "span_id" },
			     { "severityText", "severity_text" } };

		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
			v = json_object_get(lr, keep[i].otlp);
			if (!v)
				continue;
			if (!json_is_string(v)) {
				evt_fail(e, pos, keep[i].otlp, "must be a string");
				return LS_INVALID;
			}
			if (json_string_length(v) && json_object_set(det, keep[i].det, v))
				return LS_NOMEM;
		}
		v = json_object_get(lr, "severityNumber");
		if (v && !json_is_integer(v)) {
			evt_fail(e, pos, "severityNumber", "must be an integer");
			return LS_INVALID;
		}
		if (v && json_integer_value(v) && json_object_set(det, "severity_number", v))
			return LS_NOMEM;
	}
	if (json_object_size(det) == 0)
		json_object_del(o, "details");
	return LS_OK;
}

/* In a copy of a rejected record: the value of every attribute (at any
 * depth) whose key the policy redacts becomes {"stringValue":"[REDACTED]"},
 * so the record's excerpt does not carry the secrets its event would not
 * have.  Returns the number replaced, -1 on OOM. */
static int redact_record(const struct event_policy *p, json_t *v, unsigned depth)
{
	json_t *x, *k;
	const char *key;
	size_t i;
	int n = 0, r;

	if (!p || depth > ANY_MAX_DEPTH * 3)
		return 0;
	if (json_is_object(v)) {
		k = json_object_get(v, "key");
		if (json_is_string(k) && json_object_get(v, "value") &&
		    event_policy_key_redacted(p, json_string_value(k), json_string_length(k))) {
			if (json_object_set_new(v, "value",
						json_pack("{s:s}", "stringValue", "[REDACTED]")))
				return -1;
			return 1;
		}
		json_object_foreach(v, key, x) {
			if ((r = redact_record(p, x, depth + 1)) < 0)
				return -1;
			n += r;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if ((r = redact_record(p, x, depth + 1)) < 0)
				return -1;
			n += r;
		}
	}
	return n;
}

/*
 * The canonical OTLP/JSON of v (a record, a resource or a scope as the body
 * gave it, or as otlp_pb_decode() gave it), the values of the attributes
 * the policy redacts replaced in v first (v is changed: call it once v has
 * been mapped), and its SHA-256.  One digest serves both the record's
 * idempotency key and the sha256 of its logseal.ingest.rejected event.
 * *canon: malloc'd, or NULL (and h the SHA-256 of no bytes) when v is
 * absent or has no canonical form; canon may be NULL when only h is wanted.
 */
static ls_rc digest(const struct event_policy *p, json_t *v, uint8_t h[LS_HASH_LEN], char **canon,
		    size_t *clen)
{
	char *c = NULL;
	size_t n = 0;
	ls_rc rc = LS_INVALID;

	if (canon) {
		*canon = NULL;
		*clen = 0;
	}
	if (v) {
		if (redact_record(p, v, 0) < 0)
			return LS_NOMEM;
		rc = event_canonical(v, &c, &n);
		if (rc == LS_NOMEM)
			return rc;
		if (rc) {
			c = NULL;
			n = 0;
		}
	}
	ls_sha256(c ? c : "", n, NULL, 0, h);
	if (canon) {
		*canon = c;
		*clen = n;
	} else {
		free(c);
	}
	return rc == LS_OK ? LS_OK : LS_INVALID;
}

/* The logseal.ingest.rejected event of record pos: canon (clen bytes, or
 * NULL) and h are its digest. */
static ls_rc rejected_event(struct acc *a, const char *canon, size_t clen,
			    const uint8_t h[LS_HASH_LEN], size_t pos, const struct event_error *e)
{
	struct event_item it;
	char hex[2 * LS_HASH_LEN + 1];
	size_t cut;
	json_t *d;
	ls_rc rc;

	ls_hex(h, LS_HASH_LEN, hex);
	/* Cut the excerpt on a UTF-8 character boundary. */
	cut = clen < OTLP_EXCERPT ? clen : OTLP_EXCERPT;
	while (cut > 0 && cut < clen && ((unsigned char)canon[cut] & 0xc0) == 0x80)
		cut--;
	d = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s%}", "format", "otlp", "record",
		      (json_int_t)pos, "field", e->field, "error", e->reason, "sha256", hex,
		      "excerpt", canon ? canon : "", cut);
	if (!d)
		return LS_NOMEM;
	rc = event_internal(OTLP_REJECTED_ACTION, a->ctx->writer ? a->ctx->writer : "anonymous",
			    a->ctx->remote_ip, "failure", d, a->ctx, &it);
	json_decref(d);
	if (rc)
		return rc == LS_INVALID ? LS_OK : rc;	/* cannot describe it: counted only */
	rc = push(a, &it);
	if (rc)
		event_item_release(&it);
	return rc;
}

/*
 * A record without logseal.id / event.id gets the id "otlp:" + hex of
 * SHA-256(ctx || SHA-256 of the record), ctx being the SHA-256 of its
 * resource and of its scope (hctx, made by walk): a resent export is the
 * same bytes, so the same id, and the idempotency map drops it.  No id
 * when the record has no canonical form (then it is stored as often as it
 * is sent).
 */
static ls_rc one_record(struct acc *a, json_t *lr, json_t *rattrs, json_t *scope,
			const uint8_t hctx[2 * LS_HASH_LEN])
{
	struct otlp_result *r = a->r;
	size_t pos = r->records++;
	struct event_error e = { 0 };
	struct event_item it;
	struct rec c = { 0 };
	uint8_t h[LS_HASH_LEN];
	char *canon = NULL;
	size_t clen = 0;
	ls_rc rc, drc;

	rc = map_record(&c, lr, rattrs, scope, pos, &e);
	drc = digest(a->ctx->policy, lr, h, &canon, &clen);
	if (drc == LS_NOMEM)
		rc = LS_NOMEM;
	if (!rc && drc == LS_OK && !json_object_get(c.native, "id")) {
		uint8_t k[LS_HASH_LEN];
		char id[sizeof(OTLP_ID_PREFIX) + 2 * LS_HASH_LEN];

		ls_sha256(hctx, 2 * LS_HASH_LEN, h, LS_HASH_LEN, k);
		memcpy(id, OTLP_ID_PREFIX, sizeof(OTLP_ID_PREFIX) - 1);
		ls_hex(k, sizeof(k), id + sizeof(OTLP_ID_PREFIX) - 1);
		if (!set_new(c.native, "id", json_string(id)))
			rc = LS_NOMEM;
	}
	if (!rc) {
		rc = evt_finish(c.native, a->ctx, pos, &e, &it);
		if (rc && rc != LS_NOMEM)
			rename_field(&c, &e);
	}
	json_decref(c.attrs);
	json_decref(c.rattrs);
	json_decref(c.native);
	if (rc == LS_NOMEM) {
		free(canon);
		return rc;
	}
	if (rc == LS_OK) {
		free(canon);
		r->accepted++;
		rc = push(a, &it);
		if (rc)
			event_item_release(&it);
		return rc;
	}
	/* LS_INVALID, LS_LIMIT (over the entry size), LS_DENIED (service
	 * binding): this record only. */
	if (r->rejected++ == 0)
		snprintf(r->message, sizeof(r->message), "record %zu: %s%s%s", pos, e.field,
			 e.field[0] ? ": " : "", e.reason);
	rc = rejected_event(a, canon, clen, h, pos, &e);
	free(canon);
	return rc;
}

static ls_rc walk(struct acc *a, json_t *req, char *why, size_t whycap)
{
	json_t *rls, *rl, *res, *sls, *sl, *lrs, *lr, *rattrs;
	uint8_t hctx[2 * LS_HASH_LEN];	/* SHA-256 of the resource, of the scope */
	size_t i, j, k;
	const char *w;
	ls_rc rc;

	if (!json_is_object(req)) {
		snprintf(why, whycap, "the body must be an ExportLogsServiceRequest object");
		return LS_INVALID;
	}
	rls = json_object_get(req, "resourceLogs");
	if (rls && !json_is_array(rls)) {
		snprintf(why, whycap, "resourceLogs must be an array");
		return LS_INVALID;
	}
	json_array_foreach(rls, i, rl) {
		if (!json_is_object(rl)) {
			snprintf(why, whycap, "resourceLogs[%zu] must be an object", i);
			return LS_INVALID;
		}
		res = json_object_get(rl, "resource");
		if (res && !json_is_object(res)) {
			snprintf(why, whycap, "resourceLogs[%zu].resource must be an object", i);
			return LS_INVALID;
		}
		rattrs = kvs_to_object(res ? json_object_get(res, "attributes") : NULL, 0, &w);
		if (!rattrs) {
			if (!w)
				return LS_NOMEM;
			snprintf(why, whycap, "resourceLogs[%zu].resource: %s", i, w);
			return LS_INVALID;
		}
		if (digest(a->ctx->policy, res, hctx, NULL, NULL) == LS_NOMEM) {
			json_decref(rattrs);
			return LS_NOMEM;
		}
		sls = json_object_get(rl, "scopeLogs");
		if (sls && !json_is_array(sls)) {
			json_decref(rattrs);
			snprintf(why, whycap, "resourceLogs[%zu].scopeLogs must be an array", i);
			return LS_INVALID;
		}
		json_array_foreach(sls, j, sl) {
			lrs = json_is_object(sl) ? json_object_get(sl, "logRecords") : NULL;
			if (!json_is_object(sl) || (lrs && !json_is_array(lrs))) {
				json_decref(rattrs);
				snprintf(why, whycap,
					 "resourceLogs[%zu].scopeLogs[%zu] must be an object with "
					 "an array logRecords", i, j);
				return LS_INVALID;
			}
			if (digest(a->ctx->policy, json_object_get(sl, "scope"), hctx + LS_HASH_LEN,
				   NULL, NULL) == LS_NOMEM) {
				json_decref(rattrs);
				return LS_NOMEM;
			}
			json_array_foreach(lrs, k, lr) {
				rc = one_record(a, lr, rattrs, json_object_get(sl, "scope"), hctx);
				if (rc) {
					json_decref(rattrs);
					return rc;
				}
			}
		}
		json_decref(rattrs);
	}
	return LS_OK;
}

ls_rc otlp_logs_parse(const char *body, size_t n, enum otlp_encoding enc,
		      const struct event_ctx *ctx, struct otlp_result *out, char *why,
		      size_t whycap)
{
	static const struct event_ctx empty_ctx;
	struct acc a = { .r = out, .ctx = ctx ? ctx : &empty_ctx };
	json_error_t jerr;
	json_t *req = NULL;
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	if (whycap)
		why[0] = 0;
	if (enc == OTLP_PROTOBUF) {
		rc = otlp_pb_decode((const uint8_t *)(body ? body : ""), body ? n : 0, &req, why,
				    whycap);
		if (rc)
			return rc;
	} else {
		if (!body || memchr(body, 0, n)) {
			snprintf(why, whycap, "invalid JSON: NUL byte");
			return LS_INVALID;
		}
		req = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
		if (!req) {
			if (json_error_code(&jerr) == json_error_out_of_memory)
				return LS_NOMEM;
			snprintf(why, whycap, "invalid JSON at line %d, column %d: %s", jerr.line,
				 jerr.column, jerr.text);
			return LS_INVALID;
		}
	}
	rc = walk(&a, req, why, whycap);
	json_decref(req);
	if (rc) {
		otlp_result_release(out);
		return rc;
	}
	if (out->rejected > 1) {
		size_t l = strlen(out->message);

		snprintf(out->message + l, sizeof(out->message) - l,
			 " (and %zu more records rejected)", out->rejected - 1);
	}
	return LS_OK;
}

void otlp_result_release(struct otlp_result *r)
{
	if (!r)
		return;
	event_batch_release(&r->batch);
	r->records = r->accepted = r->rejected = 0;
}
