/*
 * event_fast.c - HTTP ingest of native logseal/v1 events without jansson.
 *
 * The body is parsed once into an arena DOM (jcanon.h: jdom, no per-node
 * allocation), each event is validated and normalised against it with the
 * rules of event.c's evt_finish/build_event, and the stored canonical JSON
 * is written directly, members in sorted order; details' canonical bytes
 * come from the DOM.  Per event the only allocations are the item's json
 * and key, which event_item_release() frees.
 *
 * Invariants:
 *  1. For every body and ctx the result equals event_batch_parse_ref() with
 *     EVENT_FORMAT_NATIVE: same rc, same items (bytes and keys), same
 *     event_error.  tests/unit/test_event_fast.c and fuzz/fuzz_event_fast.c
 *     check it.  Change a rule in event.c and here together.
 *  2. Errors the jansson parser words (syntax, duplicates, depth found
 *     while parsing, NUL bytes) never come from here: whatever jdom_parse
 *     refuses is handed to the reference whole, so messages stay jansson's.
 *     jdom accepts only what json_loadb(JSON_REJECT_DUPLICATES) accepts.
 *  3. All-or-nothing as in event.c: on error out is empty.
 */
#include "base/jlex.h"
#include "core/event_fast.h"
#include "core/event.h"
#include "base/jcanon.h"
#include "core/formats/formats.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Must match event.c. */
#define ACTION_MAX 256
#define SERVICE_MAX 128
#define S_NONEMPTY 1u
#define S_NOCTL 2u
#define S_ID 4u
#define S_NAME 8u

struct fast {
	struct jdom dom;
	struct jcanon_buf out;	/* one event's canonical JSON, reused */
	struct event_batch b;
	size_t cap;
	const struct event_ctx *ctx;
	char received[32];
};

static const char *const top_fields[] = {
	"time", "actor", "action", "outcome", "source", "resource", "service",
	"id", "request_id", "reason", "details", NULL
};
static const char *const actor_fields[] = { "id", "type", "name", "email", NULL };
static const char *const actor_types[] = { "user", "service", "system", "anonymous", NULL };
static const char *const source_fields[] = { "ip", "endpoint", "port", "user_agent", NULL };
static const char *const resource_fields[] = { "type", "id", "name", NULL };

static const char *sv(const struct jdom *d, const struct jnode *v)
{
	return d->str + v->off;
}

static const char *kv(const struct jdom *d, const struct jnode *v)
{
	return d->str + v->key;
}

static bool one_of(const char *s, const char *const *set)
{
	/* The first byte rules out most of a set without a call. */
	for (size_t i = 0; set[i]; i++)
		if (s[0] == set[i][0] && !strcmp(s, set[i]))
			return true;
	return false;
}

/* event.c's only_keys: the first unknown member in document order. */
static bool only_keys(const struct jdom *d, const struct jnode *obj, const char *prefix,
		      const char *const *allowed, size_t pos, struct event_error *e)
{
	char f[128];

	/* kid may be NULL when the document has no object member at all:
	 * index it only inside the loop (NULL + 0 is undefined). */
	for (uint32_t k = 0; k < obj->len; k++) {
		const char *key = kv(d, &d->node[d->kid[obj->off + k]]);

		if (one_of(key, allowed))
			continue;
		snprintf(f, sizeof(f), "%s%s", prefix, key);
		if (!*prefix && evt_is_server_field(key))
			evt_fail(e, pos, f, "is set by the server and must not be sent");
		else
			evt_fail(e, pos, f, "unknown field");
		return false;
	}
	return true;
}

/* event.c's get_str: 0 absent, 1 good (*out), -1 refused. */
static int get_str(const struct jdom *d, const struct jnode *obj, const char *key,
		   const char *fname, size_t maxlen, unsigned flags, size_t pos,
		   struct event_error *e, const struct jnode **out)
{
	const struct jnode *v = jdom_get(d, obj, key);
	unsigned long cp;

	*out = NULL;
	if (!v)
		return 0;
	if (v->type != JN_STR) {
		evt_fail(e, pos, fname, "must be a string");
		return -1;
	}
	if ((flags & S_NONEMPTY) && v->len == 0) {
		evt_fail(e, pos, fname, "must not be empty");
		return -1;
	}
	if (maxlen && v->len > maxlen) {
		evt_fail(e, pos, fname, "longer than %zu bytes", maxlen);
		return -1;
	}
	if ((flags & S_NOCTL) && evt_has_ctl(sv(d, v), v->len)) {
		evt_fail(e, pos, fname, "must not contain control characters");
		return -1;
	}
	if ((flags & (S_ID | S_NAME)) && evt_hidden_char(sv(d, v), v->len, !(flags & S_ID), &cp)) {
		evt_fail(e, pos, fname,
			 "must not contain control, bidirectional or invisible characters (U+%04lX)",
			 cp);
		return -1;
	}
	*out = v;
	return 1;
}

static const struct jnode *need_obj(const struct jdom *d, const struct jnode *in, const char *key,
				    size_t pos, struct event_error *e)
{
	const struct jnode *v = jdom_get(d, in, key);

	if (!v)
		evt_fail(e, pos, key, "required");
	else if (v->type != JN_OBJ)
		evt_fail(e, pos, key, "must be an object");
	else
		return v;
	return NULL;
}

/* Writer of one object's members, in the caller's (sorted) order. */
struct obj_w {
	struct jcanon_buf *b;
	bool first;
};

static void ow_key(struct obj_w *w, const char *qkey)
{
	if (!w->first)
		jcanon_buf_put(w->b, ",", 1);
	w->first = false;
	jcanon_buf_put(w->b, qkey, strlen(qkey));
}

static void ow_str(struct obj_w *w, const char *qkey, const char *s, size_t n)
{
	ow_key(w, qkey);
	jcanon_buf_str(w->b, s, n);
}

static void ow_node(struct obj_w *w, const struct jdom *d, const char *qkey,
		    const struct jnode *v)
{
	if (v)
		ow_str(w, qkey, sv(d, v), v->len);
}

/* The validated parts of one event, pointing into the dom. */
struct ev {
	char time[32];
	const struct jnode *a_id, *a_type, *a_name, *a_email;
	const struct jnode *action, *outcome;
	const struct jnode *ip, *ep, *port, *ua;
	char ip_canon[INET6_ADDRSTRLEN];
	const struct jnode *res, *r_type, *r_id, *r_name;
	const struct jnode *service, *id, *rid, *reason, *details;
};

static ls_rc check_event(struct fast *f, const struct jnode *in, size_t pos,
			 struct event_error *e, struct ev *o)
{
	const struct jdom *d = &f->dom;
	const struct event_ctx *ctx = f->ctx;
	const struct jnode *v, *a, *s;
	int64_t t;

	if (!only_keys(d, in, "", top_fields, pos, e))
		return LS_INVALID;

	v = jdom_get(d, in, "time");
	if (!v) {
		evt_fail(e, pos, "time", "required");
		return LS_INVALID;
	}
	if (v->type != JN_STR) {
		evt_fail(e, pos, "time", "must be a string");
		return LS_INVALID;
	}
	if (strlen(sv(d, v)) != v->len || event_parse_time(sv(d, v), &t)) {
		evt_fail(e, pos, "time", "not an RFC 3339 time");
		return LS_INVALID;
	}
	event_format_time(t, o->time, sizeof(o->time));

	a = need_obj(d, in, "actor", pos, e);
	if (!a || !only_keys(d, a, "actor.", actor_fields, pos, e))
		return LS_INVALID;
	if (get_str(d, a, "id", "actor.id", 0, S_NONEMPTY | S_ID, pos, e, &o->a_id) < 0)
		return LS_INVALID;
	if (!o->a_id) {
		evt_fail(e, pos, "actor.id", "required");
		return LS_INVALID;
	}
	if (get_str(d, a, "type", "actor.type", 0, 0, pos, e, &o->a_type) < 0)
		return LS_INVALID;
	if (o->a_type && !one_of(sv(d, o->a_type), actor_types)) {
		evt_fail(e, pos, "actor.type", "must be user, service, system or anonymous");
		return LS_INVALID;
	}
	if (get_str(d, a, "name", "actor.name", 0, S_NAME, pos, e, &o->a_name) < 0 ||
	    get_str(d, a, "email", "actor.email", 0, S_ID, pos, e, &o->a_email) < 0)
		return LS_INVALID;

	if (get_str(d, in, "action", "action", ACTION_MAX, S_NONEMPTY | S_NOCTL | S_ID, pos, e,
		    &o->action) < 0)
		return LS_INVALID;
	if (!o->action) {
		evt_fail(e, pos, "action", "required");
		return LS_INVALID;
	}
	if (evt_refuse_reserved("action", sv(d, o->action), o->action->len, pos, e))
		return LS_INVALID;
	if (get_str(d, in, "outcome", "outcome", 0, 0, pos, e, &o->outcome) < 0)
		return LS_INVALID;
	if (!o->outcome) {
		evt_fail(e, pos, "outcome", "required");
		return LS_INVALID;
	}
	if (!one_of(sv(d, o->outcome), event_outcomes)) {
		evt_fail(e, pos, "outcome", "must be success, failure, denied, error or unknown");
		return LS_INVALID;
	}

	s = need_obj(d, in, "source", pos, e);
	if (!s || !only_keys(d, s, "source.", source_fields, pos, e))
		return LS_INVALID;
	if (get_str(d, s, "ip", "source.ip", 0, S_NONEMPTY, pos, e, &o->ip) < 0 ||
	    get_str(d, s, "endpoint", "source.endpoint", 0, S_NONEMPTY, pos, e, &o->ep) < 0 ||
	    get_str(d, s, "user_agent", "source.user_agent", 0, 0, pos, e, &o->ua) < 0)
		return LS_INVALID;
	if (!o->ip && !o->ep) {
		evt_fail(e, pos, "source", "needs ip or endpoint");
		return LS_INVALID;
	}
	if (o->ip && (strlen(sv(d, o->ip)) != o->ip->len ||
		      event_normalize_ip(sv(d, o->ip), o->ip_canon, sizeof(o->ip_canon)))) {
		evt_fail(e, pos, "source.ip", "not an IPv4 or IPv6 address");
		return LS_INVALID;
	}
	o->port = jdom_get(d, s, "port");
	if (o->port && (o->port->type != JN_INT || o->port->ival < 0 || o->port->ival > 65535)) {
		evt_fail(e, pos, "source.port", "must be an integer from 0 to 65535");
		return LS_INVALID;
	}

	o->res = jdom_get(d, in, "resource");
	if (o->res) {
		if (o->res->type != JN_OBJ) {
			evt_fail(e, pos, "resource", "must be an object");
			return LS_INVALID;
		}
		if (!only_keys(d, o->res, "resource.", resource_fields, pos, e) ||
		    get_str(d, o->res, "type", "resource.type", 0, 0, pos, e, &o->r_type) < 0 ||
		    get_str(d, o->res, "id", "resource.id", 0, S_ID, pos, e, &o->r_id) < 0 ||
		    get_str(d, o->res, "name", "resource.name", 0, 0, pos, e, &o->r_name) < 0)
			return LS_INVALID;
	}

	if (get_str(d, in, "service", "service", SERVICE_MAX, S_NONEMPTY | S_NOCTL | S_ID, pos, e,
		    &o->service) < 0 ||
	    get_str(d, in, "id", "id", EVENT_MAX_ID, S_NONEMPTY | S_NOCTL, pos, e, &o->id) < 0 ||
	    get_str(d, in, "request_id", "request_id", 0, 0, pos, e, &o->rid) < 0 ||
	    get_str(d, in, "reason", "reason", 0, 0, pos, e, &o->reason) < 0)
		return LS_INVALID;
	o->details = jdom_get(d, in, "details");
	if (o->details && o->details->type != JN_OBJ) {
		evt_fail(e, pos, "details", "must be an object");
		return LS_INVALID;
	}
	if (ctx->bound_service && o->service && strcmp(sv(d, o->service), ctx->bound_service)) {
		evt_fail(e, pos, "service", "this writer may only write service \"%s\"",
			 ctx->bound_service);
		return LS_DENIED;
	}
	/* event.c's build_event: the service stored, the event's or the binding */
	if (o->service && evt_refuse_reserved("service", sv(d, o->service), o->service->len, pos, e))
		return LS_INVALID;
	if (!o->service && ctx->bound_service &&
	    evt_refuse_reserved("service", ctx->bound_service, strlen(ctx->bound_service), pos, e))
		return LS_INVALID;
	return LS_OK;
}

/* The stored event, members in byte order of their keys. */
static void emit_event(struct fast *f, const struct ev *o)
{
	const struct jdom *d = &f->dom;
	const struct event_ctx *ctx = f->ctx;
	struct obj_w w = { &f->out, true }, in;

	f->out.len = 0;
	f->out.over = 0;
	f->out.nomem = 0;
	jcanon_buf_put(&f->out, "{", 1);
	ow_node(&w, d, "\"action\":", o->action);
	ow_key(&w, "\"actor\":{");
	in = (struct obj_w){ &f->out, true };
	ow_node(&in, d, "\"email\":", o->a_email);
	ow_node(&in, d, "\"id\":", o->a_id);
	ow_node(&in, d, "\"name\":", o->a_name);
	ow_node(&in, d, "\"type\":", o->a_type);
	jcanon_buf_put(&f->out, "}", 1);
	if (o->details) {
		ow_key(&w, "\"details\":");
		jdom_canon(d, o->details, &f->out);
	}
	ow_node(&w, d, "\"id\":", o->id);
	ow_node(&w, d, "\"outcome\":", o->outcome);
	ow_node(&w, d, "\"reason\":", o->reason);
	ow_str(&w, "\"received\":", f->received, strlen(f->received));
	if (ctx->remote_ip)
		ow_str(&w, "\"remote_ip\":", ctx->remote_ip, strlen(ctx->remote_ip));
	ow_node(&w, d, "\"request_id\":", o->rid);
	if (o->res) {
		ow_key(&w, "\"resource\":{");
		in = (struct obj_w){ &f->out, true };
		ow_node(&in, d, "\"id\":", o->r_id);
		ow_node(&in, d, "\"name\":", o->r_name);
		ow_node(&in, d, "\"type\":", o->r_type);
		jcanon_buf_put(&f->out, "}", 1);
	}
	ow_str(&w, "\"schema\":", "logseal/v1", 10);
	if (o->service)
		ow_node(&w, d, "\"service\":", o->service);
	else if (ctx->bound_service)
		ow_str(&w, "\"service\":", ctx->bound_service, strlen(ctx->bound_service));
	ow_key(&w, "\"source\":{");
	in = (struct obj_w){ &f->out, true };
	ow_node(&in, d, "\"endpoint\":", o->ep);
	if (o->ip)
		ow_str(&in, "\"ip\":", o->ip_canon, strlen(o->ip_canon));
	if (o->port) {
		ow_key(&in, "\"port\":");
		jcanon_buf_put(&f->out, sv(d, o->port), o->port->len);
	}
	ow_node(&in, d, "\"user_agent\":", o->ua);
	jcanon_buf_put(&f->out, "}", 1);
	ow_str(&w, "\"time\":", o->time, strlen(o->time));
	if (ctx->writer)
		ow_str(&w, "\"writer\":", ctx->writer, strlen(ctx->writer));
	jcanon_buf_put(&f->out, "}", 1);
}

static ls_rc push(struct fast *f, struct event_item *it)
{
	if (f->b.n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 8;
		struct event_item *p = realloc(f->b.items, ncap * sizeof(*p));

		if (!p)
			return LS_NOMEM;
		f->b.items = p;
		f->cap = ncap;
	}
	f->b.items[f->b.n++] = *it;
	return LS_OK;
}

/* event.c's one_event + evt_finish for one native event. */
static ls_rc one_event(struct fast *f, const struct jnode *in, size_t pos, struct event_error *e)
{
	const struct jdom *d = &f->dom;
	struct event_item it = { 0 };
	struct ev o;
	ls_rc rc;

	if (in->type != JN_OBJ) {
		evt_fail(e, pos, "", "an event must be a JSON object");
		return LS_INVALID;
	}
	for (uint32_t k = 0; k < in->len; k++) {
		const struct jnode *m = &d->node[d->kid[in->off + k]];

		if (m->depth + 1 > EVENT_MAX_DEPTH) {
			evt_fail(e, pos, kv(d, m), "nested deeper than %d levels", EVENT_MAX_DEPTH);
			return LS_INVALID;
		}
	}
	memset(&o, 0, sizeof(o));
	rc = check_event(f, in, pos, e, &o);
	if (rc)
		return rc;
	emit_event(f, &o);
	if (f->out.nomem)
		return LS_NOMEM;
	if (f->out.over) {
		evt_fail(e, pos, "", "event is over %d bytes", EVENT_MAX_BYTES);
		return LS_LIMIT;
	}
	it.json = malloc(f->out.len + 1);
	if (!it.json)
		return LS_NOMEM;
	memcpy(it.json, f->out.p, f->out.len);
	it.json[f->out.len] = 0;
	it.len = f->out.len;
	rc = evt_policy_apply(f->ctx, pos, e, &it);	/* as event.c's finish() */
	if (rc) {
		event_item_release(&it);
		return rc;
	}
	if (o.id) {
		/* The service rides along as in event.c: keys are scoped by it. */
		const char *svc = o.service ? sv(d, o.service) : f->ctx->bound_service;
		size_t il = (size_t)o.id->len, sl = svc ? strlen(svc) : 0;

		it.key = malloc(il + sl + 2);
		if (!it.key) {
			event_item_release(&it);
			return LS_NOMEM;
		}
		memcpy(it.key, sv(d, o.id), il + 1);
		memcpy(it.key + il + 1, svc ? svc : "", sl + 1);
		it.key_service = it.key + il + 1;
	}
	rc = push(f, &it);
	if (rc)
		event_item_release(&it);
	return rc;
}

/* The strings jansson would refuse to json_string() make the reference
 * fail with LS_NOMEM; leave those rare contexts to it. */
static bool ctx_str_ok(const char *s)
{
	json_t *t;

	if (!s)
		return true;
	t = json_string(s);
	if (!t)
		return false;
	json_decref(t);
	return true;
}

/* A line of NDJSON with nothing but white space on it. */
static bool blank(const char *s, size_t n)
{
	return jlex_ws(s, n, 0) == n;
}

/* 1 = handled (rc in *rc), 0 = hand the body to the reference. */
static int fast_ndjson(struct fast *f, const char *body, size_t n, struct event_error *e,
		       ls_rc *rc)
{
	size_t off = 0, pos = 0, len, root;
	const char *nl;

	while (off < n) {
		nl = memchr(body + off, '\n', n - off);
		len = nl ? (size_t)(nl - (body + off)) : n - off;
		if (!blank(body + off, len)) {
			size_t l = len;

			if (l && body[off + l - 1] == '\r')
				l--;
			jdom_reset(&f->dom);
			if (jdom_parse(&f->dom, body + off, l, EVENT_MAX_DEPTH, &root, NULL))
				return 0;
			*rc = one_event(f, &f->dom.node[root], pos, e);
			if (*rc)
				return 1;
			pos++;
		}
		off += len + (nl ? 1 : 0);
	}
	*rc = LS_OK;
	return 1;
}

static int fast_json(struct fast *f, const char *body, size_t n, struct event_error *e,
		     ls_rc *rc)
{
	const struct jnode *top;
	size_t root;

	/* One level more: the array around the events (event.c's outer). */
	if (jdom_parse(&f->dom, body, n, EVENT_MAX_DEPTH + 1, &root, NULL))
		return 0;
	top = &f->dom.node[root];
	*rc = LS_OK;
	if (top->type == JN_ARR) {
		for (uint32_t i = 0; i < top->len && !*rc; i++)
			*rc = one_event(f, &f->dom.node[f->dom.kid[top->off + i]], i, e);
	} else {
		*rc = one_event(f, top, 0, e);
	}
	return 1;
}

ls_rc event_fast_parse(const char *body, size_t n, enum event_body kind,
		       const struct event_ctx *ctx, struct event_batch *out,
		       struct event_error *e, bool *fell_back)
{
	static const struct event_ctx empty_ctx;
	struct fast f;
	ls_rc rc = LS_OK;
	int done;

	if (fell_back)
		*fell_back = false;
	if (!ctx)
		ctx = &empty_ctx;
	if (!body || !ctx_str_ok(ctx->writer) || !ctx_str_ok(ctx->remote_ip) ||
	    !ctx_str_ok(ctx->bound_service))
		goto ref;
	memset(&f, 0, sizeof(f));
	f.ctx = ctx;
	f.out.max = EVENT_MAX_BYTES;
	event_format_time(ctx->received_us, f.received, sizeof(f.received));
	if (kind == EVENT_BODY_NDJSON)
		done = fast_ndjson(&f, body, n, e, &rc);
	else
		done = fast_json(&f, body, n, e, &rc);
	jdom_release(&f.dom);
	free(f.out.p);
	if (!done) {
		event_batch_release(&f.b);
		goto ref;
	}
	if (!rc && f.b.n == 0) {
		evt_fail(e, 0, "", "no events");
		rc = LS_INVALID;
	}
	if (rc) {
		event_batch_release(&f.b);
		out->items = NULL;
		out->n = 0;
		return rc;
	}
	*out = f.b;
	return LS_OK;
ref:
	if (fell_back)
		*fell_back = true;
	return event_batch_parse_ref(body, n, kind, EVENT_FORMAT_NATIVE, ctx, out, e);
}
