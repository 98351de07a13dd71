/*
 * event_parse.c - request bodies to batches of standard events: the strict
 * parse of JSON, NDJSON and kube-apiserver audit bodies, each event through
 * its template (formats/) and evt_finish() (event.c), and the native fast
 * path's dispatch to event_fast.c.  Pure, like event.c.
 *
 * Pipeline for a request body:
 *   pre-scan bracket nesting (so a 1 MB "[[[[" never reaches jansson)
 *   -> json_loadb with JSON_REJECT_DUPLICATES (jansson itself refuses
 *      invalid UTF-8 and \u0000) -> per event: template (flat, k8s) ->
 *      evt_finish: validate, normalise, add server fields -> canonical JSON.
 *   Native-format batches take event_fast.c instead (same bytes, no
 *   jansson); the functions here stay the reference it is checked against.
 */
#include "base/jlex.h"
#include "core/event.h"
#include "core/event_fast.h"
#include "core/event_int.h"
#include "base/jcanon.h"
#include "core/formats/formats.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K8S_SCAN_DEPTH 256	/* k8s bodies carry deep request objects we drop */

/* ------------------------------------------------------------------ */
/* strict parsing                                                      */

/*
 * Deepest bracket nesting of s outside strings; gives up (returns max + 1,
 * with *at the offending byte) as soon as max is passed.  Unbalanced input
 * is left for jansson to refuse; this only keeps absurd nesting away from
 * its recursive parser.
 */
static size_t scan_depth(const char *s, size_t n, size_t max, size_t *at)
{
	size_t i = 0, d = 0, deepest = 0;

	while (i < n) {
		char c = s[i];

		if (c == '"') {
			i = jlex_str_end_loose(s, n, i);
			continue;
		}
		if (c == '[' || c == '{') {
			if (++d > deepest) {
				deepest = d;
				if (deepest > max) {
					*at = i;
					return deepest;
				}
			}
		} else if ((c == ']' || c == '}') && d > 0) {
			d--;
		}
		i++;
	}
	return deepest;
}

/* Index of the element of a top-level array that byte off falls in
 * (counts commas at nesting level 1 before off). */
static size_t scan_element(const char *s, size_t n, size_t off)
{
	size_t i = 0, d = 0, idx = 0;

	while (i < n && i < off) {
		char c = s[i];

		if (c == '"') {
			i = jlex_str_end_loose(s, n, i);
			continue;
		}
		if (c == '[' || c == '{')
			d++;
		else if ((c == ']' || c == '}') && d > 0)
			d--;
		else if (c == ',' && d == 1)
			idx++;
		i++;
	}
	return idx;
}

/*
 * Parse one JSON text strictly, at most max_depth + outer levels deep
 * (outer: the array levels around the events, not counted in messages).
 * On failure *why says what and *at is the byte offset it stopped at.
 * LS_INVALID or LS_NOMEM.
 */
static ls_rc strict_parse(const char *s, size_t n, size_t max_depth, size_t outer, json_t **out,
			  char *why, size_t whycap, size_t *at)
{
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	*at = 0;
	/* jansson silently skips a NUL byte that follows a number or a
	 * literal; a NUL is never valid JSON text, so refuse it first. */
	{
		const char *nul = memchr(s, 0, n);
		if (nul) {
			*at = (size_t)(nul - s);
			snprintf(why, whycap, "invalid JSON: NUL byte at offset %zu", *at);
			return LS_INVALID;
		}
	}
	if (scan_depth(s, n, max_depth + outer, at) > max_depth + outer) {
		snprintf(why, whycap, "nested deeper than %zu levels", max_depth);
		return LS_INVALID;
	}
	v = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return LS_NOMEM;
		snprintf(why, whycap, "invalid JSON at line %d, column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		*at = (size_t)jerr.position;
		return LS_INVALID;
	}
	*out = v;
	return LS_OK;
}

ls_rc event_canonicalize_text(const char *text, size_t n, char **out, size_t *len,
			      struct ls_err *err)
{
	if (!text) {
		*out = NULL;
		*len = 0;
		return ls_err_set(err, LS_INVALID, "no text");
	}
	return jcanon_object(text, n, EVENT_MAX_DEPTH, EVENT_MAX_BYTES, out, len, err);
}

ls_rc event_canonicalize_text_ref(const char *text, size_t n, char **out, size_t *len,
				  struct ls_err *err)
{
	char why[256];
	size_t at;
	json_t *v;
	ls_rc rc;

	*out = NULL;
	*len = 0;
	if (!text)
		return ls_err_set(err, LS_INVALID, "no text");
	rc = strict_parse(text, n, EVENT_MAX_DEPTH, 0, &v, why, sizeof(why), &at);
	if (rc == LS_NOMEM)
		return ls_err_set(err, rc, "out of memory");
	if (rc)
		return ls_err_set(err, rc, "%s", why);
	if (!json_is_object(v)) {
		json_decref(v);
		return ls_err_set(err, LS_INVALID, "an entry must be a JSON object");
	}
	if (evt_json_depth(v) > EVENT_MAX_DEPTH) {
		json_decref(v);
		return ls_err_set(err, LS_INVALID, "nested deeper than %d levels",
				  EVENT_MAX_DEPTH);
	}
	rc = evt_canon(v, EVENT_MAX_BYTES, out, len);
	json_decref(v);
	if (rc == LS_LIMIT)
		return ls_err_set(err, rc, "entry over %d bytes", EVENT_MAX_BYTES);
	if (rc)
		return ls_err_set(err, rc, "cannot canonicalise: %s", ls_rc_name(rc));
	return LS_OK;
}

/* ------------------------------------------------------------------ */
/* batches                                                             */

struct acc {
	struct event_batch b;
	size_t cap;
};

static ls_rc acc_push(struct acc *a, struct event_item *it)
{
	struct event_item *n;
	size_t ncap;

	if (a->b.n == a->cap) {
		ncap = a->cap ? a->cap * 2 : 8;
		n = realloc(a->b.items, ncap * sizeof(*n));
		if (!n)
			return LS_NOMEM;
		a->b.items = n;
		a->cap = ncap;
	}
	a->b.items[a->b.n++] = *it;
	return LS_OK;
}

/* Template (if any), validation, append: one event of a batch. */
static ls_rc one_event(json_t *v, enum event_format fmt, const struct event_ctx *ctx, size_t pos,
		       struct event_error *e, struct acc *a)
{
	struct event_item it;
	json_t *native = NULL;
	ls_rc rc;

	if (!json_is_object(v)) {
		evt_fail(e, pos, "", "an event must be a JSON object");
		return LS_INVALID;
	}
	if (fmt == EVENT_FORMAT_FLAT) {
		rc = evt_flat_to_native(v, pos, e, &native);
		if (rc)
			return rc;
		rc = evt_finish(native, ctx, pos, e, &it);
		json_decref(native);
		if (rc && e)
			evt_flat_rename_field(e);
	} else {
		rc = evt_finish(v, ctx, pos, e, &it);
	}
	if (rc)
		return rc;
	rc = acc_push(a, &it);
	if (rc)
		event_item_release(&it);
	return rc;
}

/* A line of NDJSON with nothing but white space on it. */
static bool blank(const char *s, size_t n)
{
	return jlex_ws(s, n, 0) == n;
}

static ls_rc parse_ndjson(const char *body, size_t n, enum event_format fmt,
			  const struct event_ctx *ctx, struct event_error *e, struct acc *a)
{
	size_t off = 0, pos = 0, line = 0, len, at;
	const char *nl;
	char why[224];
	json_t *v;
	ls_rc rc;

	while (off < n) {
		nl = memchr(body + off, '\n', n - off);
		len = nl ? (size_t)(nl - (body + off)) : n - off;
		line++;
		if (!blank(body + off, len)) {
			size_t l = len;

			if (l && body[off + l - 1] == '\r')
				l--;
			rc = strict_parse(body + off, l, EVENT_MAX_DEPTH, 0, &v, why, sizeof(why), &at);
			if (rc == LS_NOMEM)
				return rc;
			if (rc) {
				evt_fail(e, pos, "", "line %zu: %s", line, why);
				return rc;
			}
			rc = one_event(v, fmt, ctx, pos, e, a);
			json_decref(v);
			if (rc)
				return rc;
			pos++;
		}
		off += len + (nl ? 1 : 0);
	}
	return LS_OK;
}

static ls_rc parse_json(const char *body, size_t n, enum event_format fmt,
			const struct event_ctx *ctx, struct event_error *e, struct acc *a)
{
	char why[256];
	size_t at, i;
	json_t *v;
	ls_rc rc;

	rc = strict_parse(body, n, EVENT_MAX_DEPTH, 1, &v, why, sizeof(why), &at);
	if (rc == LS_NOMEM)
		return rc;
	if (rc) {
		/* Name the element the parser stopped in when the body is an array. */
		i = jlex_ws(body, n, 0);
		evt_fail(e, i < n && body[i] == '[' ? scan_element(body, n, at) : 0, "", "%s",
			 why);
		return rc;
	}
	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++) {
			rc = one_event(json_array_get(v, i), fmt, ctx, i, e, a);
			if (rc)
				break;
		}
	} else {
		rc = one_event(v, fmt, ctx, 0, e, a);
	}
	json_decref(v);
	return rc;
}

/* The native format goes through event_fast.c, which agrees with this
 * reference byte for byte (tests/unit/test_event_fast.c, fuzz_event_fast). */
ls_rc event_batch_parse(const char *body, size_t n, enum event_body kind, enum event_format fmt,
			const struct event_ctx *ctx, struct event_batch *out,
			struct event_error *e)
{
	if (fmt == EVENT_FORMAT_NATIVE)
		return event_fast_parse(body, n, kind, ctx, out, e, NULL);
	return event_batch_parse_ref(body, n, kind, fmt, ctx, out, e);
}

ls_rc event_batch_parse_ref(const char *body, size_t n, enum event_body kind,
			    enum event_format fmt, const struct event_ctx *ctx,
			    struct event_batch *out, struct event_error *e)
{
	struct acc a = { { NULL, 0 }, 0 };
	ls_rc rc;

	out->items = NULL;
	out->n = 0;
	if (!body) {
		evt_fail(e, 0, "", "empty body");
		return LS_INVALID;
	}
	if (kind == EVENT_BODY_NDJSON)
		rc = parse_ndjson(body, n, fmt, ctx, e, &a);
	else
		rc = parse_json(body, n, fmt, ctx, e, &a);
	if (!rc && a.b.n == 0) {
		evt_fail(e, 0, "", "no events");
		rc = LS_INVALID;
	}
	if (rc) {
		event_batch_release(&a.b);
		return rc;
	}
	*out = a.b;
	return LS_OK;
}

ls_rc evt_k8s_envelope(json_t *v, json_t **items, struct event_error *e)
{
	json_t *kind, *api;
	const char *ks, *as;

	*items = NULL;
	if (!json_is_object(v)) {
		evt_fail(e, 0, "", "must be an EventList or Event object");
		return LS_INVALID;
	}
	kind = json_object_get(v, "kind");
	api = json_object_get(v, "apiVersion");
	if (kind && !json_is_string(kind)) {
		evt_fail(e, 0, "kind", "must be a string");
		return LS_INVALID;
	}
	ks = kind ? json_string_value(kind) : NULL;
	if (api) {
		as = json_is_string(api) ? json_string_value(api) : "";
		if (strcmp(as, "audit.k8s.io/v1") && strcmp(as, "audit.k8s.io/v1beta1")) {
			evt_fail(e, 0, "apiVersion", "must be audit.k8s.io/v1 or v1beta1");
			return LS_INVALID;
		}
	}
	if (ks && !strcmp(ks, "EventList")) {
		*items = json_object_get(v, "items");
		if (!json_is_array(*items)) {
			evt_fail(e, 0, "items", *items ? "must be an array" : "required");
			*items = NULL;
			return LS_INVALID;
		}
	} else if (ks && strcmp(ks, "Event")) {
		evt_fail(e, 0, "kind", "must be EventList or Event");
		return LS_INVALID;
	}
	return LS_OK;
}

ls_rc event_k8s_parse(const char *body, size_t n, const struct event_ctx *ctx,
		      struct event_batch *out, struct event_error *e)
{
	struct acc a = { { NULL, 0 }, 0 };
	struct event_item it;
	json_t *v, *items, *native;
	char why[256];
	size_t at, i;
	ls_rc rc;

	out->items = NULL;
	out->n = 0;
	if (!body) {
		evt_fail(e, 0, "", "empty body");
		return LS_INVALID;
	}
	rc = strict_parse(body, n, K8S_SCAN_DEPTH, 0, &v, why, sizeof(why), &at);
	if (rc == LS_NOMEM)
		return rc;
	if (rc) {
		evt_fail(e, 0, "", "%s", why);
		return rc;
	}
	rc = evt_k8s_envelope(v, &items, e);
	if (rc)
		goto out;
	for (i = 0; i < (items ? json_array_size(items) : 1); i++) {
		rc = evt_k8s_to_native(items ? json_array_get(items, i) : v, i, e, &native);
		if (rc)
			goto out;
		rc = evt_finish(native, ctx, i, e, &it);
		json_decref(native);
		if (rc)
			goto out;
		rc = acc_push(&a, &it);
		if (rc) {
			event_item_release(&it);
			goto out;
		}
	}
	rc = LS_OK;
out:
	json_decref(v);
	if (rc) {
		event_batch_release(&a.b);
		return rc;
	}
	*out = a.b;
	return LS_OK;
}

ls_rc evt_strict_parse(const char *s, size_t n, size_t max_depth, size_t outer, json_t **out,
		       char *why, size_t whycap, size_t *at)
{
	return strict_parse(s, n, max_depth, outer, out, why, whycap, at);
}
