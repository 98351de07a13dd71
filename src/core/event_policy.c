/*
 * event_policy.c - redaction and the event-time check (event_policy.h)
 * over one accepted event's canonical JSON, before it is hashed.
 *
 * Works on the canonical bytes that event.c or event_fast.c produced, so
 * both paths get the same result by construction.  Most events hold none of
 * the policy's names: one memchr pass over the key ends (`":`), each
 * compared backwards with the names, rules those out without a parse
 * (ingest of 1,000-event batches: within a few per cent of no policy; a
 * scan per name was 45% slower).  The time is read from the bytes too:
 * in canonical JSON every `"time":"` is a member named time (a quote inside
 * a string is escaped), members are sorted, and after the top-level "time"
 * come only "time_skew" and "writer" (a string): so the last occurrence is
 * the top-level one.
 *
 * Invariants:
 *  1. The result is canonical and at most EVENT_MAX_BYTES (evt_canon).
 *  2. A replaced value is listed in "redacted" (sorted, each once); a value
 *     is never removed, so the entry keeps its shape.
 *  3. "redacted" and "time_skew" come only from here: a client that sends
 *     them is refused (evt_is_server_field).
 */
#include "core/event_policy.h"
#include "core/event.h"
#include "core/event_int.h"
#include "core/formats/formats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDACTED "[REDACTED]"
#define TIME_KEY "\"time\":\""

static const char *const default_keys[] = {
	"password", "passwd", "secret", "token", "authorization", "api_key", "apikey", NULL
};

void event_policy_drop_defaults(struct event_policy *p)
{
	size_t o = 0;

	for (size_t i = 0; i < p->nkeys; i++) {
		size_t d;

		for (d = 0; default_keys[d] && strcmp(default_keys[d], p->keys[i]); d++)
			;
		if (default_keys[d])
			continue;
		if (o != i)
			memcpy(p->keys[o], p->keys[i], sizeof(p->keys[o]));
		o++;
	}
	p->nkeys = o;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* How key names compare: case-insensitively, '-' and '.' as '_'
 * ("API-Key" is "api_key"). */
static char norm(char c)
{
	return c == '-' || c == '.' ? '_' : lower(c);
}

ls_rc event_policy_add_key(struct event_policy *p, const char *name, struct ls_err *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= EVENT_POLICY_NAME_MAX)
		return ls_err_set(err, LS_INVALID, "a redaction key must be 1 to %d bytes",
				  EVENT_POLICY_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return ls_err_set(err, LS_INVALID,
					  "redaction key \"%s\": only letters, digits, '_', '-' and "
					  "'.'", name);
	}
	if (p->nkeys >= EVENT_POLICY_MAX_NAMES)
		return ls_err_set(err, LS_LIMIT, "more than %d redaction keys",
				  EVENT_POLICY_MAX_NAMES);
	for (size_t i = 0; i <= n; i++)
		p->keys[p->nkeys][i] = norm(name[i]);
	for (size_t i = 0; i < p->nkeys; i++)
		if (!strcmp(p->keys[i], p->keys[p->nkeys]))
			return LS_OK;
	p->nkeys++;
	return LS_OK;
}

ls_rc event_policy_add_pointer(struct event_policy *p, const char *ptr, struct ls_err *err)
{
	size_t n = ptr ? strlen(ptr) : 0;

	if (n == 0 || n >= EVENT_POLICY_NAME_MAX ||
	    (strcmp(ptr, "/reason") && (strncmp(ptr, "/details/", 9) || n == 9)))
		return ls_err_set(err, LS_INVALID,
				  "redaction pointer \"%s\": must be /reason or /details/... (RFC "
				  "6901, under %d bytes)", ptr ? ptr : "", EVENT_POLICY_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (ptr[i] == '~' && ptr[i + 1] != '0' && ptr[i + 1] != '1')
			return ls_err_set(err, LS_INVALID,
					  "redaction pointer \"%s\": '~' must be ~0 or ~1", ptr);
	if (p->npointers >= EVENT_POLICY_MAX_NAMES)
		return ls_err_set(err, LS_LIMIT, "more than %d redaction pointers",
				  EVENT_POLICY_MAX_NAMES);
	memcpy(p->pointers[p->npointers++], ptr, n + 1);
	return LS_OK;
}

void event_policy_init(struct event_policy *p)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; default_keys[i]; i++)
		event_policy_add_key(p, default_keys[i], NULL);
	p->max_future_us = EVENT_POLICY_DEFAULT_FUTURE_US;
}

/* ------------------------------------------------------------------ */
/* matching                                                            */

/* Does key (kl bytes) match the lower-case name: equal, or ending with it
 * right after '_', '-' or '.', ignoring case? */
static bool key_matches(const char *key, size_t kl, const char *name)
{
	size_t nl = strlen(name), off;

	if (kl < nl)
		return false;
	off = kl - nl;
	if (off > 0 && key[off - 1] != '_' && key[off - 1] != '-' && key[off - 1] != '.')
		return false;
	for (size_t i = 0; i < nl; i++)
		if (norm(key[off + i]) != name[i])
			return false;
	return true;
}

bool event_policy_key_redacted(const struct event_policy *p, const char *key, size_t kl)
{
	for (size_t n = 0; p && n < p->nkeys; n++)
		if (key_matches(key, kl, p->keys[n]))
			return true;
	return false;
}

/* The last segment of a pointer, unescaped, into out. */
static void last_segment(const char *ptr, char *out, size_t cap)
{
	const char *p = strrchr(ptr, '/');
	size_t o = 0;

	for (p = p ? p + 1 : ptr; *p && o + 1 < cap; p++) {
		if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
			out[o++] = p[1] == '0' ? '~' : '/';
			p++;
		} else {
			out[o++] = norm(*p);
		}
	}
	out[o] = 0;
}

/* Does the text just before s[end] end with name (normalised)? */
static bool ends_with(const char *s, size_t end, const char *name)
{
	size_t nl = strlen(name);

	if (end < nl)
		return false;
	for (size_t i = 0; i < nl; i++)
		if (norm(s[end - nl + i]) != name[i])
			return false;
	return true;
}

/*
 * Might s[0..n) hold a member whose key ends with one of the policy's names
 * or pointer segments?  One memchr pass over the colons: every key ends
 * with `":`, so each `":` is checked against the names backwards.  (A `":`
 * inside a string value is escaped as `\":`, a harmless extra check.)
 */
static bool maybe_keys(const struct event_policy *p, const char *s, size_t n)
{
	const char *c = s, *end = s + n;
	char seg[EVENT_POLICY_MAX_NAMES][EVENT_POLICY_NAME_MAX];

	for (size_t i = 0; i < p->npointers; i++)
		last_segment(p->pointers[i], seg[i], sizeof(seg[i]));
	while ((c = memchr(c, ':', (size_t)(end - c))) != NULL) {
		size_t at = (size_t)(c - s);

		c++;
		if (at < 2 || s[at - 1] != '"')
			continue;
		for (size_t i = 0; i < p->nkeys; i++)
			if (ends_with(s, at - 1, p->keys[i]))
				return true;
		for (size_t i = 0; i < p->npointers; i++)
			if (ends_with(s, at - 1, seg[i]))
				return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* redaction over the parsed entry                                     */

struct found {
	json_t *list;	/* array of pointer strings */
	bool nomem;
};

static void note(struct found *f, const char *ptr)
{
	size_t i;
	json_t *x;

	json_array_foreach(f->list, i, x)
		if (!strcmp(json_string_value(x), ptr))
			return;
	if (json_array_append_new(f->list, json_string(ptr)))
		f->nomem = true;
}

/* path + "/" + escaped key into out; false when it would not fit. */
static bool join(char *out, size_t cap, const char *path, const char *key)
{
	size_t o = strlen(path);

	if (o + 2 > cap)
		return false;
	memmove(out, path, o);
	out[o++] = '/';
	for (; *key; key++) {
		if (o + 3 > cap)
			return false;
		if (*key == '~' || *key == '/') {
			out[o++] = '~';
			out[o++] = *key == '~' ? '0' : '1';
		} else {
			out[o++] = *key;
		}
	}
	out[o] = 0;
	return true;
}

static void redact_keys(const struct event_policy *p, json_t *v, const char *path,
			struct found *f, unsigned depth)
{
	char sub[1024];
	const char *k;
	json_t *x;
	size_t i;

	if (depth > EVENT_MAX_DEPTH || f->nomem)
		return;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			snprintf(sub, sizeof(sub), "%s/%zu", path, i);
			redact_keys(p, x, sub, f, depth + 1);
		}
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach(v, k, x) {
		size_t kl = strlen(k);
		bool hit = false;

		if (!join(sub, sizeof(sub), path, k))
			continue;	/* a path over 1 KiB: its members are not named */
		for (size_t n = 0; n < p->nkeys && !hit; n++)
			hit = key_matches(k, kl, p->keys[n]);
		if (hit) {
			if (json_object_set_new(v, k, json_string(REDACTED)))
				f->nomem = true;
			note(f, sub);
			continue;
		}
		redact_keys(p, x, sub, f, depth + 1);
	}
}

/* The member a pointer names: its parent container and key/index. */
static void redact_pointer(json_t *o, const char *ptr, struct found *f)
{
	char seg[EVENT_POLICY_NAME_MAX];
	const char *p = ptr;
	json_t *cur = o, *parent = NULL;
	char last[EVENT_POLICY_NAME_MAX] = "";

	while (*p == '/' && cur) {
		size_t o2 = 0;

		p++;
		while (*p && *p != '/' && o2 + 1 < sizeof(seg)) {
			if (*p == '~') {
				seg[o2++] = p[1] == '0' ? '~' : '/';
				p += 2;
			} else {
				seg[o2++] = *p++;
			}
		}
		seg[o2] = 0;
		parent = cur;
		memcpy(last, seg, o2 + 1);
		if (json_is_object(cur)) {
			cur = json_object_get(cur, seg);
		} else if (json_is_array(cur)) {
			char *end;
			unsigned long ix = strtoul(seg, &end, 10);

			cur = *seg && !*end ? json_array_get(cur, ix) : NULL;
		} else {
			cur = NULL;
		}
	}
	if (!cur || !parent)
		return;
	if (json_is_object(parent)) {
		if (json_object_set_new(parent, last, json_string(REDACTED)))
			f->nomem = true;
	} else if (json_array_set_new(parent, strtoul(last, NULL, 10), json_string(REDACTED))) {
		f->nomem = true;
	}
	note(f, ptr);
}

static int cmp_ptr(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* ------------------------------------------------------------------ */

/* The top-level time of a canonical entry (microseconds), or false. */
static bool entry_time(const char *s, size_t n, int64_t *t, size_t *end)
{
	const char *hit = NULL, *p = s;
	size_t kl = sizeof(TIME_KEY) - 1;
	char buf[40];
	const char *q;

	/* From the end: the top-level time is near it (only time_skew and
	 * writer follow). */
	(void)p;
	for (size_t i = n >= kl ? n - kl + 1 : 0; i-- > 0;)
		if (s[i] == '"' && !memcmp(s + i, TIME_KEY, kl)) {
			hit = s + i;
			break;
		}
	if (!hit)
		return false;
	hit += kl;
	q = memchr(hit, '"', n - (size_t)(hit - s));
	if (!q || (size_t)(q - hit) >= sizeof(buf))
		return false;
	memcpy(buf, hit, (size_t)(q - hit));
	buf[q - hit] = 0;
	*end = (size_t)(q - s) + 1;
	return event_parse_time(buf, t) == LS_OK;
}

ls_rc evt_policy_apply(const struct event_ctx *ctx, size_t pos, struct event_error *e,
		       struct event_item *it)
{
	const struct event_policy *p = ctx ? ctx->policy : NULL;
	bool skew = false, maybe = false;
	struct found f = { 0 };
	size_t tend = 0;
	int64_t t;
	json_t *o, *list;
	char *out = NULL;
	size_t len = 0;
	ls_rc rc;

	if (!p)
		return LS_OK;
	if ((p->max_future_us || p->flag_past_us) && entry_time(it->json, it->len, &t, &tend)) {
		if (p->max_future_us && t > ctx->received_us &&
		    t - ctx->received_us > p->max_future_us) {
			char rbuf[32];

			event_format_time(ctx->received_us, rbuf, sizeof(rbuf));
			evt_fail(e, pos, "time",
				 "is %lld s ahead of the server's clock (received %s); the limit is "
				 "%lld s (logseal serve --max-future-skew)",
				 (long long)((t - ctx->received_us) / 1000000), rbuf,
				 (long long)(p->max_future_us / 1000000));
			if (e)
				snprintf(e->code, sizeof(e->code), "%s", EVENT_ERR_TIME_FUTURE);
			return LS_INVALID;
		}
		skew = p->flag_past_us && t < ctx->received_us &&
		       ctx->received_us - t > p->flag_past_us;
	}
	if (p->nkeys || p->npointers)
		maybe = maybe_keys(p, it->json, it->len);
	if (!maybe && !skew)
		return LS_OK;
	if (!maybe) {
		/* Only the flag: "time_skew" sorts right after "time". */
		static const char ins[] = ",\"time_skew\":true";
		size_t il = sizeof(ins) - 1;

		if (it->len + il > EVENT_MAX_BYTES) {
			evt_fail(e, pos, "", "event is over %d bytes", EVENT_MAX_BYTES);
			return LS_LIMIT;
		}
		out = malloc(it->len + il + 1);
		if (!out)
			return LS_NOMEM;
		memcpy(out, it->json, tend);
		memcpy(out + tend, ins, il);
		memcpy(out + tend + il, it->json + tend, it->len - tend + 1);
		free(it->json);
		it->json = out;
		it->len += il;
		return LS_OK;
	}
	o = json_loadb(it->json, it->len, 0, NULL);
	f.list = json_array();
	if (!o || !f.list) {
		json_decref(o);
		json_decref(f.list);
		return LS_NOMEM;
	}
	if (json_is_object(json_object_get(o, "details")))
		redact_keys(p, json_object_get(o, "details"), "/details", &f, 1);
	for (size_t i = 0; i < p->npointers && !f.nomem; i++)
		redact_pointer(o, p->pointers[i], &f);
	list = f.list;
	if (!f.nomem && json_array_size(list) > 1) {
		json_t **v = malloc(json_array_size(list) * sizeof(*v));
		json_t *sorted = json_array();
		size_t n = json_array_size(list);

		if (!v || !sorted) {
			f.nomem = true;
		} else {
			for (size_t i = 0; i < n; i++)
				v[i] = json_array_get(list, i);
			qsort(v, n, sizeof(*v), cmp_ptr);
			for (size_t i = 0; i < n && !f.nomem; i++)
				if (json_array_append(sorted, v[i]))
					f.nomem = true;
			json_decref(list);
			list = sorted;
			sorted = NULL;
		}
		free(v);
		json_decref(sorted);
	}
	if (f.nomem) {
		json_decref(list);
		json_decref(o);
		return LS_NOMEM;
	}
	if ((json_array_size(list) && json_object_set(o, "redacted", list)) ||
	    (skew && json_object_set_new(o, "time_skew", json_true()))) {
		json_decref(list);
		json_decref(o);
		return LS_NOMEM;
	}
	json_decref(list);
	rc = evt_canon(o, EVENT_MAX_BYTES, &out, &len);
	json_decref(o);
	if (rc == LS_LIMIT) {
		evt_fail(e, pos, "", "event is over %d bytes after redaction", EVENT_MAX_BYTES);
		return rc;
	}
	if (rc)
		return rc;
	free(it->json);
	it->json = out;
	it->len = len;
	return LS_OK;
}
