/*
 * test_event.c - unit tests for src/event.c and the flat/k8s templates:
 * canonical bytes, strict parsing, schema validation, normalisation,
 * batches (array, NDJSON) all-or-nothing, templates against the real
 * Kubernetes audit events in tests/vectors/k8s/, service binding and the
 * server's own events.  Every produced entry is also checked to be a fixed
 * point of strict parse + canonicalise.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/event.h"

/* 2024-01-02T03:04:05.123456Z */
#define RECEIVED_US 1704164645123456LL

static const struct event_ctx ctx = {
	.writer = "tok-w1",
	.remote_ip = "127.0.0.1",
	.bound_service = NULL,
	.received_us = RECEIVED_US,
};

#define BASE_TAIL                                                                         \
	"\"received\":\"2024-01-02T03:04:05.123456Z\",\"remote_ip\":\"127.0.0.1\","       \
	"\"schema\":\"logseal/v1\""

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n);

	if (!p)
		abort();
	return p;
}

static void assert_fixed_point(const struct event_item *it)
{
	char *again = NULL;
	size_t n = 0;
	struct ls_err err;

	assert_true(it->len <= EVENT_MAX_BYTES);
	assert_int_equal(strlen(it->json), it->len);
	assert_int_equal(event_canonicalize_text(it->json, it->len, &again, &n, &err), LS_OK);
	assert_int_equal(n, it->len);
	assert_memory_equal(again, it->json, n);
	free(again);
}

/* Parse a body expected to hold exactly one good event; returns its JSON. */
static char *one(const char *body, enum event_body kind, enum event_format fmt,
		 const struct event_ctx *c, char **key)
{
	struct event_batch b;
	struct event_error e;
	ls_rc rc;
	char *s;

	memset(&e, 0, sizeof(e));
	rc = event_batch_parse(body, strlen(body), kind, fmt, c, &b, &e);
	if (rc != LS_OK)
		fail_msg("refused (%s) at %zu field '%s': %s", ls_rc_name(rc), e.position, e.field,
			 e.reason);
	assert_int_equal(b.n, 1);
	assert_fixed_point(&b.items[0]);
	s = strdup(b.items[0].json);
	if (key)
		*key = b.items[0].key ? strdup(b.items[0].key) : NULL;
	event_batch_release(&b);
	return s;
}

/* A body that must be refused: checks rc, position, field, and that the
 * reason contains want_reason; out must stay empty. */
static void refused(const char *body, size_t n, enum event_body kind, enum event_format fmt,
		    const struct event_ctx *c, ls_rc want, size_t pos, const char *field,
		    const char *want_reason)
{
	struct event_batch b = { (void *)1, 99 };
	struct event_error e;
	ls_rc rc;

	memset(&e, 0, sizeof(e));
	rc = event_batch_parse(body, n, kind, fmt, c, &b, &e);
	if (rc != want || e.position != pos || (field && strcmp(e.field, field)) ||
	    (want_reason && !strstr(e.reason, want_reason)))
		fail_msg("body %.80s: got %s pos %zu field '%s' reason '%s'; want %s pos %zu "
			 "field '%s' reason '%s'",
			 body, ls_rc_name(rc), e.position, e.field, e.reason, ls_rc_name(want), pos,
			 field ? field : "*", want_reason ? want_reason : "*");
	assert_null(b.items);
	assert_int_equal(b.n, 0);
}

static void refused_s(const char *body, ls_rc want, const char *field, const char *why)
{
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, want, 0, field,
		why);
}

/* String at a dotted path of a JSON text, or NULL. */
static char *path_str(const char *json, const char *path)
{
	json_t *root = json_loads(json, 0, NULL), *v = root;
	char p[256], *tok, *save = NULL, *res = NULL;

	snprintf(p, sizeof(p), "%s", path);
	for (tok = strtok_r(p, ".", &save); v && tok; tok = strtok_r(NULL, ".", &save))
		v = json_object_get(v, tok);
	if (v && json_is_string(v))
		res = strdup(json_string_value(v));
	else if (v && json_is_integer(v)) {
		char num[32];

		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		res = strdup(num);
	}
	json_decref(root);
	return res;
}

static void assert_path(const char *json, const char *path, const char *want)
{
	char *got = path_str(json, path);

	if (!want) {
		if (got)
			fail_msg("%s: want absent, got '%s'", path, got);
		return;
	}
	if (!got || strcmp(got, want))
		fail_msg("%s: want '%s', got '%s' in %s", path, want, got ? got : "(absent)",
			 json);
	free(got);
}

static char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long sz;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz > 0);
	rewind(f);
	buf = xmalloc((size_t)sz + 1);
	assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
	buf[sz] = '\0';
	fclose(f);
	*n = (size_t)sz;
	return buf;
}

/* ------------------------------------------------------------------ */
/* canonical JSON                                                      */

static void canon_is(const char *in, const char *want)
{
	char *out = NULL;
	size_t n = 0;
	struct ls_err err = { "" };
	ls_rc rc = event_canonicalize_text(in, strlen(in), &out, &n, &err);

	if (rc != LS_OK)
		fail_msg("%s: %s (%s)", in, ls_rc_name(rc), err.msg);
	if (n != strlen(want) || memcmp(out, want, n))
		fail_msg("canonical of %s\n got  %.*s\n want %s", in, (int)n, out, want);
	free(out);
}

static void test_canonical_bytes(void **state)
{
	(void)state;
	canon_is("{ \"b\" : 1 ,\n \"a\" : [ true , false , null ],\t\"c\":{\"z\":\"x\",\"y\":-5}}",
		 "{\"a\":[true,false,null],\"b\":1,\"c\":{\"y\":-5,\"z\":\"x\"}}");
	/* keys by byte value: "" < "Z" < "a" < "aa" < "z" < "\xc3\xa9" */
	canon_is("{\"\xc3\xa9\":1,\"z\":2,\"Z\":3,\"a\":4,\"aa\":5,\"\":6}",
		 "{\"\":6,\"Z\":3,\"a\":4,\"aa\":5,\"z\":2,\"\xc3\xa9\":1}");
	/* minimal escaping: \/ unescaped, short forms, other controls as \u00xx,
	 * DEL and non-ASCII as raw UTF-8 */
	canon_is("{\"s\":\"a\\\"b\\\\c\\/d\\u0001\\u001F\\b\\f\\n\\r\\t\\u007f\"}",
		 "{\"s\":\"a\\\"b\\\\c/d\\u0001\\u001f\\b\\f\\n\\r\\t\x7f\"}");
	canon_is("{\"k\":\"\\u00e9\\ud83d\\ude00 \xc3\xa9\"}",
		 "{\"k\":\"\xc3\xa9\xf0\x9f\x98\x80 \xc3\xa9\"}");
	/* numbers */
	canon_is("{\"i\":-0,\"big\":9223372036854775807,\"neg\":-9223372036854775808,"
		 "\"r\":1.5,\"e\":1e2,\"z\":-0.0,\"t\":0.1,\"x\":1E-7}",
		 "{\"big\":9223372036854775807,\"e\":100,\"i\":0,"
		 "\"neg\":-9223372036854775808,\"r\":1.5,\"t\":0.10000000000000001,"
		 "\"x\":9.9999999999999995e-08,\"z\":0}");
	canon_is("{}", "{}");
	canon_is("{\"a\":[],\"b\":{}}", "{\"a\":[],\"b\":{}}");
}

static void test_canonical_value(void **state)
{
	json_t *v = json_pack("{s:[i,f,s],s:o}", "b", 42, 2.5, "x\ny", "a", json_null());
	char *out = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(v);
	assert_int_equal(event_canonical(v, &out, &n), LS_OK);
	assert_string_equal(out, "{\"a\":null,\"b\":[42,2.5,\"x\\ny\"]}");
	assert_int_equal(n, strlen(out));
	free(out);
	json_decref(v);
	assert_int_equal(event_canonical(NULL, &out, &n), LS_INVALID);
}

static void text_refused(const char *in, size_t n, ls_rc want)
{
	char *out = (char *)1;
	size_t len = 7;
	struct ls_err err = { "" };
	ls_rc rc = event_canonicalize_text(in, n, &out, &len, &err);

	if (rc != want)
		fail_msg("%.60s: got %s (%s), want %s", in, ls_rc_name(rc), err.msg,
			 ls_rc_name(want));
	assert_null(out);
	assert_int_equal(len, 0);
	assert_true(err.msg[0] != '\0');
}

/* {"a":[[...]]} with levels arrays inside the object */
static void nest(char *buf, size_t cap, size_t levels)
{
	size_t i, o = 0;

	assert_true(cap > 2 * levels + 8);
	memcpy(buf, "{\"a\":", 5);
	o = 5;
	for (i = 0; i < levels; i++)
		buf[o++] = '[';
	for (i = 0; i < levels; i++)
		buf[o++] = ']';
	buf[o++] = '}';
	buf[o] = '\0';
}

static void test_canonicalize_text_strict(void **state)
{
	static const char nul[] = "{\"a\":\"x\\u0000y\"}";
	char *big, *deep;

	(void)state;
	text_refused("[1,2]", 5, LS_INVALID);
	text_refused("\"s\"", 3, LS_INVALID);
	text_refused("{\"a\":1,\"a\":2}", 13, LS_INVALID);	/* duplicate key */
	text_refused("{\"a\":\"\xff\"}", 9, LS_INVALID);	/* invalid UTF-8 */
	text_refused("{\"a\":\"\xc0\xaf\"}", 10, LS_INVALID); /* overlong */
	text_refused(nul, strlen(nul), LS_INVALID);		/* \u0000 */
	text_refused("{\"a\":1} x", 9, LS_INVALID);		/* trailing garbage */
	text_refused("{\"a\":1,}", 8, LS_INVALID);
	text_refused("{\"a\":NaN}", 9, LS_INVALID);
	text_refused("{\"a\":1e999}", 11, LS_INVALID);
	text_refused("{\"a\":99999999999999999999}", 26, LS_INVALID);

	/* 16 levels pass, 17 do not */
	deep = xmalloc(200);
	nest(deep, 200, 15);
	canon_is(deep, deep);
	nest(deep, 200, 16);
	text_refused(deep, strlen(deep), LS_INVALID);
	free(deep);

	/* a megabyte of '[' must be refused cheaply, not parsed */
	big = xmalloc(1 << 20);
	memset(big, '[', 1 << 20);
	text_refused(big, 1 << 20, LS_INVALID);
	/* brackets inside strings do not count */
	memcpy(big, "{\"a\":\"", 6);
	memset(big + 6, '[', 1000);
	memcpy(big + 1006, "\"}", 3);
	canon_is(big, big);

	/* over the entry size limit */
	memcpy(big, "{\"a\":\"", 6);
	memset(big + 6, 'x', EVENT_MAX_BYTES);
	memcpy(big + 6 + EVENT_MAX_BYTES, "\"}", 3);
	text_refused(big, strlen(big), LS_LIMIT);
	free(big);
}

/* ------------------------------------------------------------------ */
/* native events                                                       */

static const char *const good =
	"{\"time\":\"2024-05-06T07:08:09Z\",\"actor\":{\"id\":\"u1\"},"
	"\"action\":\"user.login\",\"outcome\":\"success\",\"source\":{\"ip\":\"10.0.0.1\"}}";

static void test_native_minimal_exact(void **state)
{
	char *key = (char *)1;
	char *s = one(good, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, &key);

	(void)state;
	assert_string_equal(s, "{\"action\":\"user.login\",\"actor\":{\"id\":\"u1\"},"
			       "\"outcome\":\"success\"," BASE_TAIL ","
			       "\"source\":{\"ip\":\"10.0.0.1\"},"
			       "\"time\":\"2024-05-06T07:08:09.000000Z\",\"writer\":\"tok-w1\"}");
	assert_null(key);
	free(s);
}

static void test_native_full_exact(void **state)
{
	const char *in =
		"{\"id\":\"evt-42\",\"time\":\"2024-02-29T23:30:00.5-01:00\","
		"\"actor\":{\"id\":\"alice\",\"type\":\"user\",\"name\":\"Alice \xc3\x89\","
		"\"email\":\"a@example.com\"},\"action\":\"profile.update\","
		"\"outcome\":\"denied\",\"source\":{\"ip\":\"2001:DB8:0:0:0:0:0:1\","
		"\"endpoint\":\"https://app/x\",\"port\":443,\"user_agent\":\"curl/8\"},"
		"\"resource\":{\"type\":\"profile\",\"id\":\"p1\",\"name\":\"main\"},"
		"\"service\":\"billing\",\"request_id\":\"r-1\",\"reason\":\"mfa\\nmissing\","
		"\"details\":{\"z\":[1,2.25,{\"b\":null,\"a\":true}],\"a\":\"\\u0007\"}}";
	char *key = NULL;
	char *s = one(in, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, &key);

	(void)state;
	assert_string_equal(
		s, "{\"action\":\"profile.update\",\"actor\":{\"email\":\"a@example.com\","
		   "\"id\":\"alice\",\"name\":\"Alice \xc3\x89\",\"type\":\"user\"},"
		   "\"details\":{\"a\":\"\\u0007\",\"z\":[1,2.25,{\"a\":true,\"b\":null}]},"
		   "\"id\":\"evt-42\",\"outcome\":\"denied\",\"reason\":\"mfa\\nmissing\","
		   "\"received\":\"2024-01-02T03:04:05.123456Z\",\"remote_ip\":\"127.0.0.1\","
		   "\"request_id\":\"r-1\","
		   "\"resource\":{\"id\":\"p1\",\"name\":\"main\",\"type\":\"profile\"},"
		   "\"schema\":\"logseal/v1\",\"service\":\"billing\","
		   "\"source\":{\"endpoint\":\"https://app/x\","
		   "\"ip\":\"2001:db8::1\",\"port\":443,\"user_agent\":\"curl/8\"},"
		   "\"time\":\"2024-03-01T00:30:00.500000Z\",\"writer\":\"tok-w1\"}");
	assert_string_equal(key, "evt-42");
	free(key);
	free(s);
}

static void test_ctx_without_writer(void **state)
{
	struct event_ctx c = { .received_us = 0 };
	char *s = one(good, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &c, NULL);

	(void)state;
	assert_path(s, "received", "1970-01-01T00:00:00.000000Z");
	assert_path(s, "writer", NULL);
	assert_path(s, "remote_ip", NULL);
	assert_path(s, "schema", "logseal/v1");
	free(s);
}

static void test_required_fields(void **state)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{ "{\"actor\":{\"id\":\"u\"},\"action\":\"a\",\"outcome\":\"success\","
		  "\"source\":{\"ip\":\"1.2.3.4\"}}", "time" },
		{ "{\"time\":\"2024-01-01T00:00:00Z\",\"action\":\"a\",\"outcome\":\"success\","
		  "\"source\":{\"ip\":\"1.2.3.4\"}}", "actor" },
		{ "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"type\":\"user\"},"
		  "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"1.2.3.4\"}}",
		  "actor.id" },
		{ "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},"
		  "\"outcome\":\"success\",\"source\":{\"ip\":\"1.2.3.4\"}}", "action" },
		{ "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},\"action\":\"a\","
		  "\"source\":{\"ip\":\"1.2.3.4\"}}", "outcome" },
		{ "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},\"action\":\"a\","
		  "\"outcome\":\"success\"}", "source" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refused_s(cases[i].body, LS_INVALID, cases[i].field, "required");
	/* source present but with neither ip nor endpoint */
	refused_s("{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},\"action\":\"a\","
		  "\"outcome\":\"success\",\"source\":{\"port\":1}}",
		  LS_INVALID, "source", "ip or endpoint");
}

/* good with one member replaced (or added) */
static char *with(const char *key, const char *value_json)
{
	json_t *o = json_loads(good, 0, NULL), *v = json_loads(value_json, JSON_DECODE_ANY, NULL);
	char *s;

	assert_non_null(o);
	assert_non_null(v);
	json_object_set_new(o, key, v);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void bad(const char *key, const char *value_json, const char *field, const char *why)
{
	char *s = with(key, value_json);

	refused_s(s, LS_INVALID, field, why);
	free(s);
}

static void test_bad_values(void **state)
{
	char longs[400];

	(void)state;
	bad("time", "1704164645", "time", "must be a string");
	bad("time", "\"2024-02-30T00:00:00Z\"", "time", "RFC 3339");
	bad("time", "\"2023-02-29T00:00:00Z\"", "time", "RFC 3339");
	bad("time", "\"2024-01-01 00:00:00Z\"", "time", "RFC 3339");
	bad("time", "\"2024-01-01T00:00:00\"", "time", "RFC 3339");
	bad("time", "\"2024-01-01T24:00:00Z\"", "time", "RFC 3339");
	bad("time", "\"2016-12-31T23:59:60Z\"", "time", "RFC 3339");
	bad("time", "\"2024-01-01T00:00:00.Z\"", "time", "RFC 3339");
	bad("time", "\"2024-01-01T00:00:00.1234567890Z\"", "time", "RFC 3339");
	bad("time", "\"2024-01-01T00:00:00+1:00\"", "time", "RFC 3339");
	bad("time", "\"2024-01-01T00:00:00Zjunk\"", "time", "RFC 3339");
	bad("actor", "\"alice\"", "actor", "must be an object");
	bad("actor", "{\"id\":\"\"}", "actor.id", "empty");
	bad("actor", "{\"id\":7}", "actor.id", "must be a string");
	bad("actor", "{\"id\":\"u\",\"type\":\"robot\"}", "actor.type", "user, service");
	bad("actor", "{\"id\":\"u\",\"role\":\"x\"}", "actor.role", "unknown field");
	bad("actor", "{\"id\":\"u\",\"email\":1}", "actor.email", "must be a string");
	bad("action", "\"\"", "action", "empty");
	bad("action", "[\"a\"]", "action", "must be a string");
	bad("action", "\"a\\nb\"", "action", "control");
	memset(longs, 'a', 258);
	longs[0] = '"';
	longs[258] = '"';
	longs[259] = '\0';
	bad("action", longs, "action", "longer");
	bad("outcome", "\"ok\"", "outcome", "success, failure");
	bad("outcome", "\"Success\"", "outcome", "success, failure");
	bad("source", "{\"ip\":\"999.1.1.1\"}", "source.ip", "IPv4 or IPv6");
	bad("source", "{\"ip\":\"fe80::1%eth0\"}", "source.ip", "IPv4 or IPv6");
	bad("source", "{\"ip\":\"10.0.0.1\",\"port\":65536}", "source.port", "0 to 65535");
	bad("source", "{\"ip\":\"10.0.0.1\",\"port\":\"80\"}", "source.port", "integer");
	bad("source", "{\"ip\":\"10.0.0.1\",\"port\":80.5}", "source.port", "integer");
	bad("source", "{\"endpoint\":\"\"}", "source.endpoint", "empty");
	bad("source", "{\"ip\":\"10.0.0.1\",\"mac\":\"x\"}", "source.mac", "unknown field");
	bad("resource", "\"doc\"", "resource", "must be an object");
	bad("resource", "{\"id\":5}", "resource.id", "must be a string");
	bad("resource", "{\"owner\":\"x\"}", "resource.owner", "unknown field");
	bad("details", "[1]", "details", "must be an object");
	bad("service", "\"\"", "service", "empty");
	bad("id", "\"\"", "id", "empty");
	memset(longs, 'k', 130);
	longs[0] = '"';
	longs[130] = '"';
	longs[131] = '\0';
	bad("id", longs, "id", "longer than 128");
	bad("request_id", "1", "request_id", "must be a string");
	bad("level", "\"info\"", "level", "unknown field");
}

static void test_id_limit_ok(void **state)
{
	char v[140], *s, *body, *key = NULL;

	(void)state;
	memset(v, 'k', 129);
	v[0] = '"';
	v[129] = '"';
	v[130] = '\0';
	body = with("id", v);
	s = one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, &key);
	assert_int_equal(strlen(key), EVENT_MAX_ID);
	free(key);
	free(s);
	free(body);
}

static void test_server_fields_refused(void **state)
{
	static const char *const fields[] = { "received", "writer", "remote_ip", "schema" };
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++)
		bad(fields[i], "\"2024-01-01T00:00:00.000000Z\"", fields[i], "set by the server");
}

static void test_strict_json(void **state)
{
	static const char nul[] = "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\\u0000\"},"
				  "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}";
	static const char dup[] = "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u\"},"
				  "\"action\":\"a\",\"action\":\"b\",\"outcome\":\"success\","
				  "\"source\":{\"ip\":\"::1\"}}";
	static const char utf[] = "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"\xed\xa0\x80\"},"
				  "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}";

	(void)state;
	refused_s(nul, LS_INVALID, "", "invalid JSON");
	refused_s(dup, LS_INVALID, "", "duplicate");
	refused_s(utf, LS_INVALID, "", "invalid JSON");
	refused_s("", LS_INVALID, "", "invalid JSON");
	refused_s("42", LS_INVALID, "", "invalid JSON");
	refused_s("[]", LS_INVALID, "", "no events");
	refused_s("[1]", LS_INVALID, "", "JSON object");
}

/* {"d":{"d":...1...}} with levels objects; buf holds 256 bytes */
static void nest_obj(char *buf, size_t levels)
{
	size_t i, n = 0;

	for (i = 0; i < levels; i++, n += 5)
		memcpy(buf + n, "{\"d\":", 5);
	buf[n++] = '1';
	for (i = 0; i < levels; i++)
		buf[n++] = '}';
	buf[n] = '\0';
}

static void test_depth_and_size(void **state)
{
	char *body, *s, *deep;
	size_t n;

	(void)state;
	/* details 15 levels deep: event depth 16, accepted */
	deep = xmalloc(256);
	nest_obj(deep, 15);
	body = with("details", deep);
	s = one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, NULL);
	free(s);
	free(body);
	/* one more level: refused, naming details */
	nest_obj(deep, 16);
	body = with("details", deep);
	refused_s(body, LS_INVALID, "details", "deeper");
	/* the same event second in an array: the array level is not the
	 * event's, and the pre-scan names the element */
	n = strlen(body) + strlen(good);
	s = xmalloc(n + 4);
	snprintf(s, n + 4, "[%s,%s]", good, body);
	refused(s, n + 3, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 1, "",
		"nested deeper than 16 levels");
	free(s);
	free(body);
	free(deep);
	/* 16 levels inside an array are fine */
	deep = xmalloc(256);
	nest_obj(deep, 15);
	body = with("details", deep);
	n = strlen(body);
	s = xmalloc(n + 3);
	snprintf(s, n + 3, "[%s]", body);
	{
		struct event_batch b;
		struct event_error e;

		assert_int_equal(event_batch_parse(s, n + 2, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE,
						   &ctx, &b, &e), LS_OK);
		assert_int_equal(b.n, 1);
		event_batch_release(&b);
	}
	free(s);
	free(body);
	free(deep);

	/* a megabyte of '[' */
	n = 1 << 20;
	s = xmalloc(n);
	memset(s, '[', n);
	refused(s, n, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 0, "", "deeper");
	refused(s, n, EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 0, "",
		"deeper");
	free(s);

	/* an event whose canonical form is over 65535 bytes: 413 */
	n = EVENT_MAX_BYTES;
	s = xmalloc(n + 3);
	s[0] = '"';
	memset(s + 1, 'x', n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	body = with("reason", s);
	refused_s(body, LS_LIMIT, "", "65535");
	free(body);
	/* ... and one that fits exactly is accepted: find the limit */
	body = with("reason", "\"\"");
	{
		char *base = one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, NULL);
		size_t room = EVENT_MAX_BYTES - strlen(base);

		free(base);
		free(body);
		s[room + 1] = '"';
		s[room + 2] = '\0';
		body = with("reason", s);
		base = one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, NULL);
		assert_int_equal(strlen(base), EVENT_MAX_BYTES);
		free(base);
		free(body);
		s[room + 1] = 'x';
		s[room + 2] = '"';
		s[room + 3] = '\0';
		body = with("reason", s);
		refused_s(body, LS_LIMIT, "", "65535");
		free(body);
	}
	free(s);
}

/* ------------------------------------------------------------------ */
/* time and IP normalisation                                           */

static void test_time(void **state)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{ "2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00.000000Z" },
		{ "2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00.000000Z" },
		{ "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z" },
		{ "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z" },
		{ "2024-01-02t03:04:05.1z", "2024-01-02T03:04:05.100000Z" },
		/* 9 digits: truncated, not rounded */
		{ "2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05.123456Z" },
		{ "2024-12-31T23:59:59.9999999+00:00", "2024-12-31T23:59:59.999999Z" },
		{ "2000-02-29T12:00:00-00:00", "2000-02-29T12:00:00.000000Z" },
		{ "2024-06-30T23:45:00+05:45", "2024-06-30T18:00:00.000000Z" },
		{ "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.000000Z" },
		{ "0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000000Z" },
	};
	static const char *const no[] = {
		"1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T00:60:00Z",
		"2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+00:60", "2024-01-01T00:00Z",
		"24-01-01T00:00:00Z", "2024-1-01T00:00:00Z", "", "2024-01-01T00:00:00",
		"0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "2024-01-01T00:00:00 Z",
	};
	char buf[32];
	int64_t us;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (event_parse_time(ok[i].in, &us) != LS_OK)
			fail_msg("refused %s", ok[i].in);
		event_format_time(us, buf, sizeof(buf));
		if (strcmp(buf, ok[i].want))
			fail_msg("%s -> %s, want %s", ok[i].in, buf, ok[i].want);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (event_parse_time(no[i], &us) != LS_INVALID)
			fail_msg("accepted %s", no[i]);
	assert_int_equal(event_parse_time("2024-01-02T03:04:05.123456Z", &us), LS_OK);
	assert_int_equal(us, RECEIVED_US);
	event_format_time(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
	event_format_time(951782400000000LL, buf, sizeof(buf));
	assert_string_equal(buf, "2000-02-29T00:00:00.000000Z");
}

static void test_ip(void **state)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1" },
		{ "::1", "::1" },
		{ "0:0:0:0:0:0:0:0", "::" },
		{ "192.168.1.10", "192.168.1.10" },
		{ "::ffff:192.0.2.1", "::ffff:192.0.2.1" },
		{ "FE80:0000:0000:0000:0202:B3FF:FE1E:8329", "fe80::202:b3ff:fe1e:8329" },
	};
	static const char *const no[] = {
		"", "1.2.3", "256.1.1.1", "1.2.3.4.5", "::g", "1:2:3:4:5:6:7:8:9",
		" 1.2.3.4", "1.2.3.4 ", "example.com", "fe80::1%lo",
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(event_normalize_ip(ok[i].in, buf, sizeof(buf)), LS_OK);
		assert_string_equal(buf, ok[i].want);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (event_normalize_ip(no[i], buf, sizeof(buf)) != LS_INVALID)
			fail_msg("accepted %s", no[i]);
}

/* ------------------------------------------------------------------ */
/* batches                                                             */

#define EV(actor) "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"" actor "\"}," \
		  "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}"

static void test_array_batch(void **state)
{
	const char *body = " [ " EV("a") ",\n" EV("b") "," EV("c") " ] \n";
	struct event_batch b;
	struct event_error e;
	size_t i;

	(void)state;
	assert_int_equal(event_batch_parse(body, strlen(body), EVENT_BODY_JSON,
					   EVENT_FORMAT_NATIVE, &ctx, &b, &e), LS_OK);
	assert_int_equal(b.n, 3);
	for (i = 0; i < 3; i++) {
		char want[2] = { (char)('a' + i), 0 };

		assert_fixed_point(&b.items[i]);
		assert_path(b.items[i].json, "actor.id", want);
	}
	event_batch_release(&b);
	event_batch_release(&b); /* idempotent */

	/* all-or-nothing: a bad third event refuses the batch, naming it */
	body = "[" EV("a") "," EV("b") ",{\"time\":\"x\"}," EV("d") "]";
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 2,
		"time", "RFC 3339");
	/* a syntax error in the second element is reported at position 1 */
	body = "[" EV("a") ",{\"time\":\"x\",}," EV("c") "]";
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 1,
		"", "invalid JSON");
	body = "[" EV("a") "," EV("b") "," EV("c") ",42]";
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 3,
		"", "JSON object");
	body = EV("a") EV("b");
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 0,
		"", "invalid JSON");
}

static void test_ndjson_batch(void **state)
{
	const char *body = "\n" EV("a") "\r\n\r\n   \n" EV("b") "\n\n" EV("c") "\n";
	struct event_batch b;
	struct event_error e;

	(void)state;
	assert_int_equal(event_batch_parse(body, strlen(body), EVENT_BODY_NDJSON,
					   EVENT_FORMAT_NATIVE, &ctx, &b, &e), LS_OK);
	assert_int_equal(b.n, 3);
	assert_path(b.items[0].json, "actor.id", "a");
	assert_path(b.items[1].json, "actor.id", "b");
	assert_path(b.items[2].json, "actor.id", "c");
	assert_fixed_point(&b.items[2]);
	event_batch_release(&b);

	/* no trailing newline */
	body = EV("a") "\n" EV("b");
	assert_int_equal(event_batch_parse(body, strlen(body), EVENT_BODY_NDJSON,
					   EVENT_FORMAT_NATIVE, &ctx, &b, &e), LS_OK);
	assert_int_equal(b.n, 2);
	event_batch_release(&b);

	/* positions count events, not lines; blank lines skipped */
	body = EV("a") "\n\n\n" EV("b") "\r\n{\"actor\":{\"id\":\"c\"}}\n" EV("d") "\n";
	refused(body, strlen(body), EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 2,
		"time", "required");
	body = EV("a") "\n\n" EV("b") "\n{\"a\":1,\"a\":2}\n";
	refused(body, strlen(body), EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 2,
		"", "line 4");
	/* an event split over two lines is not NDJSON */
	body = "{\"time\":\"2024-01-01T00:00:00Z\",\n\"actor\":{\"id\":\"a\"}}\n";
	refused(body, strlen(body), EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 0,
		"", "invalid JSON");
	/* an array line is not an event */
	body = "[" EV("a") "]\n";
	refused(body, strlen(body), EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 0,
		"", "JSON object");
	refused("\n\r\n \n", 5, EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 0, "",
		"no events");
}

/* ------------------------------------------------------------------ */
/* service binding                                                     */

static void test_service_binding(void **state)
{
	struct event_ctx c = ctx;
	char *s, *body;

	(void)state;
	c.bound_service = "billing";
	s = one(good, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &c, NULL);
	assert_path(s, "service", "billing");
	free(s);
	body = with("service", "\"billing\"");
	s = one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &c, NULL);
	assert_path(s, "service", "billing");
	free(s);
	free(body);
	body = with("service", "\"payroll\"");
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &c, LS_DENIED, 0,
		"service", "billing");
	/* an unbound writer may write any service, and none */
	s = one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, NULL);
	assert_path(s, "service", "payroll");
	free(s);
	free(body);
	s = one(good, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, NULL);
	assert_path(s, "service", NULL);
	free(s);
}

/* ------------------------------------------------------------------ */
/* the server's own service and actions are reserved                   */

/* body refused in both body kinds as reserved (400, EVENT_ERR_RESERVED) */
static void reserved(const char *body, const struct event_ctx *c, enum event_format fmt,
		     const char *field)
{
	for (int k = 0; k < 2; k++) {
		enum event_body kind = k ? EVENT_BODY_NDJSON : EVENT_BODY_JSON;
		struct event_batch b = { (void *)1, 99 };
		struct event_error e;
		ls_rc rc;

		memset(&e, 0, sizeof(e));
		rc = event_batch_parse(body, strlen(body), kind, fmt, c, &b, &e);
		if (rc != LS_INVALID || strcmp(e.field, field) ||
		    strcmp(e.code, EVENT_ERR_RESERVED) || !strstr(e.reason, "reserved"))
			fail_msg("%s: got %s field '%s' code '%s' reason '%s'", body,
				 ls_rc_name(rc), e.field, e.code, e.reason);
		assert_null(b.items);
		assert_int_equal(b.n, 0);
	}
}

static void test_reserved_for_server(void **state)
{
	static const char *const services[] = {
		"\"logseal\"", "\"LogSeal\"", "\"LOGSEAL\"", "\" logseal \"", "\"\\u006cogseal\"",
	};
	static const char *const actions[] = {
		"\"logseal.alert.fired\"", "\"logseal.token.create\"", "\"LogSeal.auth.denied\"",
		"\"logseal.\"", "\"logseal\"", "\" logseal.x\"", "\"\\u004cOGSEAL.events.query\"",
	};
	static const char *const fine[][2] = {
		{ "service", "\"logseal-shop\"" }, { "service", "\"mylogseal\"" },
		{ "action", "\"logsealing.x\"" }, { "action", "\"shop.logseal.x\"" },
		{ "action", "\"logseal_x\"" },
	};
	struct event_ctx c = ctx;
	char *body, flatb[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		body = with("service", services[i]);
		reserved(body, &ctx, EVENT_FORMAT_NATIVE, "service");
		free(body);
	}
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		body = with("action", actions[i]);
		reserved(body, &ctx, EVENT_FORMAT_NATIVE, "action");
		free(body);
	}
	for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		body = with(fine[i][0], fine[i][1]);
		free(one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, NULL));
		free(body);
	}
	/* a writer bound to another service is refused as before (403) ... */
	c.bound_service = "billing";
	body = with("service", "\"logseal\"");
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &c, LS_DENIED, 0,
		"service", "billing");
	/* ... and a token bound to "logseal" (made before the reservation)
	 * writes it neither explicitly nor by default */
	c.bound_service = "LogSeal";
	reserved(good, &c, EVENT_FORMAT_NATIVE, "service");
	c.bound_service = "logseal";
	reserved(body, &c, EVENT_FORMAT_NATIVE, "service");
	free(body);

	/* the flat template passes service and action through */
	snprintf(flatb, sizeof(flatb),
		 "{\"timestamp\":\"2024-05-06T07:08:09Z\",\"user_id\":\"bob\",\"action\":%s,"
		 "\"status\":\"ok\",\"location\":\"10.1.2.3\",\"service\":%s}",
		 "\"logseal.alert.fired\"", "\"shop\"");
	reserved(flatb, &ctx, EVENT_FORMAT_FLAT, "action");
	snprintf(flatb, sizeof(flatb),
		 "{\"timestamp\":\"2024-05-06T07:08:09Z\",\"user_id\":\"bob\",\"action\":%s,"
		 "\"status\":\"ok\",\"location\":\"10.1.2.3\",\"service\":%s}",
		 "\"file.read\"", "\"Logseal\"");
	reserved(flatb, &ctx, EVENT_FORMAT_FLAT, "service");

	/* the server itself still writes them */
	{
		struct event_item it;

		assert_int_equal(event_internal("logseal.alert.fired", "logseal", NULL, "success",
						NULL, &ctx, &it),
				 LS_OK);
		assert_path(it.json, "service", "logseal");
		assert_path(it.json, "action", "logseal.alert.fired");
		event_item_release(&it);
	}

	/* `logseal import`: the same reservation on canonical entries */
	{
		static const char *const bad[] = {
			"{\"action\":\"logseal.alert.fired\",\"details\":{\"since_us\":1}}",
			"{\"service\":\"LOGSEAL\"}",
			"{\"action\":\"LogSeal.token.create\",\"service\":\"shop\"}",
		};
		static const char *const ok[] = {
			"{\"action\":\"x\",\"details\":{\"service\":\"logseal\"}}",
			"{\"service\":\"shop\",\"note\":\"logseal.alert.fired\"}",
			"{\"a\":1}",
		};
		struct ls_err err = { "" };

		for (i = 0; i < 3; i++) {
			if (event_check_foreign(bad[i], strlen(bad[i]), &err) != LS_DENIED)
				fail_msg("import of %s not refused", bad[i]);
			assert_non_null(strstr(err.msg, "reserved"));
			assert_int_equal(event_check_foreign(ok[i], strlen(ok[i]), &err), LS_OK);
		}
	}
}

/* ------------------------------------------------------------------ */
/* characters that hide or reorder text in identifiers                 */

static void test_hidden_characters(void **state)
{
	static const struct {
		const char *field, *json, *cp;
	} bad[] = {
		{ "actor.id", "\"admin\\u202e\"", "U+202E" },
		{ "actor.id", "\"ad\xe2\x80\xaemin\"", "U+202E" },
		{ "actor.id", "\"ad\\u202amin\"", "U+202A" },
		{ "actor.id", "\"ad\\u2066min\\u2069\"", "U+2066" },
		{ "actor.id", "\"ad\\u200bmin\"", "U+200B" },
		{ "actor.id", "\"ad\\u200dmin\"", "U+200D" },
		{ "actor.id", "\"ad\\u2060min\"", "U+2060" },
		{ "actor.id", "\"\\ufeffadmin\"", "U+FEFF" },
		{ "actor.id", "\"ad\\u0085min\"", "U+0085" },
		{ "actor.id", "\"ad\\u009bmin\"", "U+009B" },
		{ "actor.id", "\"ad\\u0001min\"", "U+0001" },
		{ "actor.id", "\"admin\\n\"", "U+000A" },
		{ "actor.id", "\"ad\\u007fmin\"", "U+007F" },
		{ "actor.id", "\"ad\\u200emin\"", "U+200E" },
		{ "actor.id", "\"admin\\udb40\\udc41\"", "U+E0041" },
		{ "actor.email", "\"a\\u202e@x\"", "U+202E" },
		{ "actor.name", "\"Bob\\u202e\"", "U+202E" },
		{ "actor.name", "\"Bob\\u0000x\"", NULL },
		{ "resource.id", "\"doc\\u200b1\"", "U+200B" },
	};
	static const struct {
		const char *field, *json;
	} ok[] = {
		{ "actor.id", "\"caf\\u00e9-\\u4e2d\\ud83d\\ude00\"" },
		{ "actor.id", "\"ad\\u00a0min\"" }, /* a visible space: shown, not hidden */
		{ "actor.name", "\"\\u0645\\u06cc\\u200c\\u062e\\u0648\\u0627\\u0647\\u0645\"" },
		{ "actor.name", "\"\\ud83d\\udc69\\u200d\\ud83d\\udcbb\"" },
		{ "resource.name", "\"notes\\u202e.txt\"" }, /* free text: kept, escaped for display */
	};
	char body[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *f = bad[i].field;
		const char *dot = strchr(f, '.');

		if (!strncmp(f, "actor", 5))
			snprintf(body, sizeof(body),
				 "{\"time\":\"2024-05-06T07:08:09Z\",\"actor\":{\"id\":%s%s%s%s},"
				 "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}",
				 strcmp(dot + 1, "id") ? "\"u1\",\"" : "",
				 strcmp(dot + 1, "id") ? dot + 1 : "",
				 strcmp(dot + 1, "id") ? "\":" : "", bad[i].json);
		else
			snprintf(body, sizeof(body),
				 "{\"time\":\"2024-05-06T07:08:09Z\",\"actor\":{\"id\":\"u1\"},"
				 "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"},"
				 "\"resource\":{\"%s\":%s}}",
				 dot + 1, bad[i].json);
		refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID, 0,
			bad[i].cp ? f : NULL, bad[i].cp);
		refused(body, strlen(body), EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, LS_INVALID,
			0, bad[i].cp ? f : NULL, bad[i].cp);
	}
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *f = ok[i].field, *dot = strchr(f, '.');

		if (!strncmp(f, "actor", 5))
			snprintf(body, sizeof(body),
				 "{\"time\":\"2024-05-06T07:08:09Z\",\"actor\":{\"id\":%s%s%s%s},"
				 "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"}}",
				 strcmp(dot + 1, "id") ? "\"u1\",\"" : "",
				 strcmp(dot + 1, "id") ? dot + 1 : "",
				 strcmp(dot + 1, "id") ? "\":" : "", ok[i].json);
		else
			snprintf(body, sizeof(body),
				 "{\"time\":\"2024-05-06T07:08:09Z\",\"actor\":{\"id\":\"u1\"},"
				 "\"action\":\"a\",\"outcome\":\"success\",\"source\":{\"ip\":\"::1\"},"
				 "\"resource\":{\"%s\":%s}}",
				 dot + 1, ok[i].json);
		free(one(body, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, NULL));
	}
	/* the flat template's user_id is actor.id, named as the client sent it */
	snprintf(body, sizeof(body),
		 "{\"timestamp\":\"2024-05-06T07:08:09Z\",\"user_id\":\"bob\\u202e\","
		 "\"action\":\"file.read\",\"status\":\"ok\",\"location\":\"10.1.2.3\"}");
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"user_id", "U+202E");
}

/* ------------------------------------------------------------------ */
/* flat template                                                       */

static char *flat(const char *status_json, const char *location)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"timestamp\":\"2024-05-06T07:08:09+02:00\",\"user_id\":\"bob\","
		 "\"action\":\"file.read\",\"status\":%s,\"location\":\"%s\"}",
		 status_json, location);
	return one(body, EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, NULL);
}

static void flat_status(const char *status_json, const char *want)
{
	char *s = flat(status_json, "10.1.2.3");

	assert_path(s, "outcome", want);
	free(s);
}

static void test_flat(void **state)
{
	static const char *const st[][2] = {
		{ "\"success\"", "success" }, { "\"OK\"", "success" }, { "\"allowed\"", "success" },
		{ "200", "success" }, { "204", "success" }, { "\"299\"", "success" },
		{ "\"denied\"", "denied" }, { "\"Forbidden\"", "denied" },
		{ "\"unauthorized\"", "denied" }, { "401", "denied" }, { "403", "denied" },
		{ "\"fail\"", "failure" }, { "\"failure\"", "failure" }, { "\"FAILED\"", "failure" },
		{ "404", "failure" }, { "\"409\"", "failure" }, { "\"error\"", "error" },
		{ "500", "error" }, { "503", "error" },
	};
	char *s, body[512];
	size_t i;

	(void)state;
	s = flat("\"ok\"", "10.1.2.3");
	assert_string_equal(s, "{\"action\":\"file.read\",\"actor\":{\"id\":\"bob\"},"
			       "\"outcome\":\"success\"," BASE_TAIL ","
			       "\"source\":{\"ip\":\"10.1.2.3\"},"
			       "\"time\":\"2024-05-06T05:08:09.000000Z\",\"writer\":\"tok-w1\"}");
	free(s);
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		flat_status(st[i][0], st[i][1]);

	s = flat("200", "2001:DB8::0:1");
	assert_path(s, "source.ip", "2001:db8::1");
	assert_path(s, "source.endpoint", NULL);
	free(s);
	s = flat("200", "eu-west-1/web-3");
	assert_path(s, "source.endpoint", "eu-west-1/web-3");
	assert_path(s, "source.ip", NULL);
	free(s);

	/* optional members pass through */
	s = one("{\"timestamp\":\"2024-05-06T07:08:09Z\",\"user_id\":\"bob\",\"action\":\"x\","
		"\"status\":\"ok\",\"location\":\"::1\",\"service\":\"files\",\"id\":\"f-1\","
		"\"resource\":{\"type\":\"file\",\"id\":\"/etc/passwd\"},\"details\":{\"n\":1}}",
		EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, NULL);
	assert_path(s, "service", "files");
	assert_path(s, "id", "f-1");
	assert_path(s, "resource.id", "/etc/passwd");
	assert_path(s, "details.n", "1");
	free(s);

	/* refusals name the flat field */
#define FLAT(ts, st_, loc, extra)                                                        \
	"{\"timestamp\":" ts ",\"user_id\":\"bob\",\"action\":\"x\",\"status\":" st_    \
	",\"location\":" loc extra "}"
	snprintf(body, sizeof(body), FLAT("\"2024-05-06T07:08:09Z\"", "\"maybe\"", "\"::1\"", ""));
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"status", "not a known status");
	for (i = 0; i < 7; i++) {
		static const char *const bad_st[] = { "302", "100", "600", "\"1xx\"", "true",
						      "\"\"", "200.0" };

		snprintf(body, sizeof(body),
			 FLAT("\"2024-05-06T07:08:09Z\"", "%s", "\"::1\"", ""), bad_st[i]);
		refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID,
			0, "status", NULL);
	}
	snprintf(body, sizeof(body), FLAT("\"yesterday\"", "\"ok\"", "\"::1\"", ""));
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"timestamp", "RFC 3339");
	snprintf(body, sizeof(body), FLAT("\"2024-05-06T07:08:09Z\"", "\"ok\"", "\"\"", ""));
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"location", NULL);
	snprintf(body, sizeof(body), FLAT("\"2024-05-06T07:08:09Z\"", "\"ok\"", "\"::1\"",
					  ",\"received\":\"x\""));
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"received", "set by the server");
	snprintf(body, sizeof(body), FLAT("\"2024-05-06T07:08:09Z\"", "\"ok\"", "\"::1\"",
					  ",\"time\":\"x\""));
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"time", "unknown field");
	snprintf(body, sizeof(body), "{\"timestamp\":\"2024-05-06T07:08:09Z\",\"user_id\":\"\","
				     "\"action\":\"x\",\"status\":\"ok\",\"location\":\"::1\"}");
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"user_id", "empty");
	snprintf(body, sizeof(body), "{\"timestamp\":\"2024-05-06T07:08:09Z\","
				     "\"action\":\"x\",\"status\":\"ok\",\"location\":\"::1\"}");
	refused(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 0,
		"user_id", "required");
	/* flat NDJSON */
	snprintf(body, sizeof(body), "%s\r\n\r\n%s\r\n",
		 FLAT("\"2024-05-06T07:08:09Z\"", "\"ok\"", "\"::1\"", ""),
		 FLAT("\"2024-05-06T07:08:09Z\"", "\"nope\"", "\"::1\"", ""));
	refused(body, strlen(body), EVENT_BODY_NDJSON, EVENT_FORMAT_FLAT, &ctx, LS_INVALID, 1,
		"status", NULL);
#undef FLAT
}

/* ------------------------------------------------------------------ */
/* k8s template                                                        */

static struct event_batch k8s_file(const char *path)
{
	struct event_batch b;
	struct event_error e;
	size_t n;
	char *body = read_file(path, &n);
	ls_rc rc = event_k8s_parse(body, n, &ctx, &b, &e);

	if (rc != LS_OK)
		fail_msg("%s: %s at %zu field '%s': %s", path, ls_rc_name(rc), e.position, e.field,
			 e.reason);
	free(body);
	assert_int_equal(b.n, 1);
	assert_fixed_point(&b.items[0]);
	return b;
}

static void test_k8s_create_configmap(void **state)
{
	struct event_batch b = k8s_file("tests/vectors/k8s/create_configmap.json");
	const char *j = b.items[0].json;

	(void)state;
	assert_path(j, "action", "k8s.configmaps.create");
	assert_path(j, "actor.id", "minikube-user");
	assert_path(j, "actor.type", "user");
	assert_path(j, "outcome", "success");
	assert_path(j, "resource.type", "configmaps");
	assert_path(j, "resource.id", "default/my-config");
	assert_path(j, "resource.name", "my-config");
	assert_path(j, "source.ip", "192.168.99.1");
	assert_path(j, "service", "kubernetes");
	assert_path(j, "time", "2018-10-26T13:13:03.544952Z");
	assert_path(j, "id", "k8s:155b887c-c27c-4fdb-9667-999f74512d0a:ResponseComplete");
	assert_path(j, "details.auditID", "155b887c-c27c-4fdb-9667-999f74512d0a");
	assert_path(j, "details.verb", "create");
	assert_path(j, "details.level", "RequestResponse");
	assert_path(j, "details.responseStatus.code", "201");
	assert_path(j, "details.requestURI", "/api/v1/namespaces/default/configmaps");
	assert_non_null(strstr(j, "\"groups\":[\"system:masters\",\"system:authenticated\"]"));
	assert_non_null(strstr(j, "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\","
				  "\"authorization.k8s.io/reason\":\"\"}"));
	assert_non_null(strstr(j, "\"sourceIPs\":[\"192.168.99.1\"]"));
	/* the request and response objects are kept (a ConfigMap: not redacted;
	 * Secrets and bounds: test_k8s_objects.c), objectRef as sent */
	assert_path(j, "details.requestObject.kind", "ConfigMap");
	assert_non_null(strstr(j, "\"requestObject\":{\"apiVersion\":\"v1\",\"data\":"
				  "{\"ui.properties\":\"color.good=purple\\ncolor.bad=yellow"));
	assert_path(j, "details.responseObject.metadata.resourceVersion", "265142");
	assert_path(j, "details.objectRef.apiVersion", "v1");
	assert_path(j, "details.objectRef.uid", "b4952dc3-d670-11e5-8cd0-68f728db1985");
	assert_string_equal(b.items[0].key,
			    "k8s:155b887c-c27c-4fdb-9667-999f74512d0a:ResponseComplete");
	event_batch_release(&b);
}

static void test_k8s_exec_pod(void **state)
{
	struct event_batch b = k8s_file("tests/vectors/k8s/exec_pod.json");
	const char *j = b.items[0].json;

	(void)state;
	assert_path(j, "action", "k8s.pods.exec.create");
	assert_path(j, "actor.id", "minikube-user");
	assert_path(j, "actor.type", "user");
	assert_path(j, "outcome", "success"); /* 101 Switching Protocols: exec granted */
	assert_path(j, "resource.type", "pods");
	assert_path(j, "resource.id", "default/nginx-deployment-7998647bdf-phvq7");
	assert_path(j, "resource.name", "nginx-deployment-7998647bdf-phvq7");
	assert_path(j, "source.ip", "192.168.99.1");
	assert_path(j, "time", "2018-10-26T13:38:34.902914Z");
	assert_path(j, "details.stage", "ResponseStarted");
	assert_path(j, "details.responseStatus.code", "101");
	assert_string_equal(b.items[0].key,
			    "k8s:ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6:ResponseStarted");
	event_batch_release(&b);
}

static void test_k8s_malformed(void **state)
{
	struct event_batch b = { (void *)1, 5 };
	struct event_error e;
	size_t n;
	char *body = read_file("tests/vectors/k8s/malformed_fal_01_003.json", &n);

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(event_k8s_parse(body, n, &ctx, &b, &e), LS_INVALID);
	assert_int_equal(e.position, 0);
	assert_string_equal(e.field, "kind");
	assert_null(b.items);
	assert_int_equal(b.n, 0);
	free(body);
}

/* The two real events wrapped in an audit.k8s.io/v1 EventList. */
static char *event_list(const char *api, const char *extra_item)
{
	size_t n1, n2;
	char *a = read_file("tests/vectors/k8s/create_configmap.json", &n1);
	char *b = read_file("tests/vectors/k8s/exec_pod.json", &n2);
	size_t cap = n1 + n2 + 512 + (extra_item ? strlen(extra_item) : 0);
	char *body = malloc(cap);

	assert_non_null(body);
	snprintf(body, cap, "{\"kind\":\"EventList\",\"apiVersion\":\"%s\",\"metadata\":{},"
			    "\"items\":[%s,%s%s%s]}",
		 api, a, b, extra_item ? "," : "", extra_item ? extra_item : "");
	free(a);
	free(b);
	return body;
}

static void test_k8s_event_list(void **state)
{
	struct event_batch b;
	struct event_error e;
	char *body;
	struct event_ctx c = ctx;

	(void)state;
	body = event_list("audit.k8s.io/v1", NULL);
	assert_int_equal(event_k8s_parse(body, strlen(body), &ctx, &b, &e), LS_OK);
	assert_int_equal(b.n, 2);
	assert_path(b.items[0].json, "action", "k8s.configmaps.create");
	assert_path(b.items[1].json, "action", "k8s.pods.exec.create");
	event_batch_release(&b);
	free(body);

	/* a writer bound to another service may not write k8s events */
	c.bound_service = "billing";
	body = event_list("audit.k8s.io/v1beta1", NULL);
	memset(&e, 0, sizeof(e));
	assert_int_equal(event_k8s_parse(body, strlen(body), &c, &b, &e), LS_DENIED);
	assert_string_equal(e.field, "service");
	assert_null(b.items);
	c.bound_service = "kubernetes";
	assert_int_equal(event_k8s_parse(body, strlen(body), &c, &b, &e), LS_OK);
	assert_int_equal(b.n, 2);
	event_batch_release(&b);
	free(body);

	body = event_list("audit.k8s.io/v2", NULL);
	assert_int_equal(event_k8s_parse(body, strlen(body), &ctx, &b, &e), LS_INVALID);
	assert_string_equal(e.field, "apiVersion");
	free(body);

	/* a bad third item refuses the whole list, naming position 2 */
	body = event_list("audit.k8s.io/v1",
			  "{\"kind\":\"Event\",\"auditID\":\"x\",\"stage\":\"ResponseComplete\","
			  "\"verb\":\"get\",\"user\":{\"username\":\"u\"},\"sourceIPs\":[\"nope\"],"
			  "\"stageTimestamp\":\"2024-01-01T00:00:00Z\"}");
	memset(&e, 0, sizeof(e));
	assert_int_equal(event_k8s_parse(body, strlen(body), &ctx, &b, &e), LS_INVALID);
	assert_int_equal(e.position, 2);
	assert_string_equal(e.field, "sourceIPs[0]");
	assert_null(b.items);
	free(body);
}

static char *k8s_one(const char *body)
{
	struct event_batch b;
	struct event_error e;
	ls_rc rc;
	char *s;

	memset(&e, 0, sizeof(e));
	rc = event_k8s_parse(body, strlen(body), &ctx, &b, &e);
	if (rc)
		fail_msg("%s: %s field '%s': %s", body, ls_rc_name(rc), e.field, e.reason);
	assert_int_equal(b.n, 1);
	assert_fixed_point(&b.items[0]);
	s = strdup(b.items[0].json);
	event_batch_release(&b);
	return s;
}

static void k8s_bad(const char *body, const char *field)
{
	struct event_batch b;
	struct event_error e;

	memset(&e, 0, sizeof(e));
	if (event_k8s_parse(body, strlen(body), &ctx, &b, &e) != LS_INVALID ||
	    strcmp(e.field, field))
		fail_msg("%s: want invalid '%s', got field '%s' (%s)", body, field, e.field,
			 e.reason);
	assert_null(b.items);
}

#define K8S(user, rest)                                                                  \
	"{\"apiVersion\":\"audit.k8s.io/v1\",\"kind\":\"Event\",\"auditID\":\"id-1\","  \
	"\"stage\":\"ResponseComplete\",\"user\":{\"username\":\"" user "\"}" rest "}"

static void test_k8s_mapping(void **state)
{
	char *s;

	(void)state;
	s = k8s_one(K8S("system:serviceaccount:kube-system:deployer",
			",\"verb\":\"delete\",\"objectRef\":{\"resource\":\"secrets\","
			"\"name\":\"db\",\"namespace\":\"prod\"},\"sourceIPs\":[\"10.0.0.5\",\"10.0.0.6\"],"
			"\"userAgent\":\"kubectl/1.29\",\"responseStatus\":{\"code\":403,"
			"\"reason\":\"Forbidden\",\"message\":\"no\"},"
			"\"annotations\":{\"authorization.k8s.io/decision\":\"forbid\","
			"\"other.io/x\":\"drop\"},"
			"\"requestReceivedTimestamp\":\"2024-01-01T10:00:00.1+01:00\""));
	assert_path(s, "actor.type", "service");
	assert_path(s, "action", "k8s.secrets.delete");
	assert_path(s, "outcome", "denied");
	assert_path(s, "resource.id", "prod/db");
	assert_path(s, "source.user_agent", "kubectl/1.29");
	assert_path(s, "time", "2024-01-01T09:00:00.100000Z");
	assert_path(s, "details.responseStatus.reason", "Forbidden");
	assert_path(s, "details.responseStatus.message", "no");
	assert_non_null(strstr(s, "\"sourceIPs\":[\"10.0.0.5\",\"10.0.0.6\"]"));
	assert_null(strstr(s, "other.io"));
	free(s);

	s = k8s_one(K8S("system:kube-scheduler",
			",\"verb\":\"get\",\"requestURI\":\"/healthz\",\"sourceIPs\":[\"::1\"],"
			"\"responseStatus\":{\"code\":500},"
			"\"stageTimestamp\":\"2024-01-01T00:00:00Z\""));
	assert_path(s, "actor.type", "system");
	assert_path(s, "action", "k8s.nonresource.get");
	assert_path(s, "outcome", "error");
	assert_path(s, "resource", NULL);
	assert_path(s, "details.requestURI", "/healthz");
	free(s);

	s = k8s_one(K8S("system:anonymous",
			",\"verb\":\"list\",\"objectRef\":{\"resource\":\"nodes\"},"
			"\"requestURI\":\"/api/v1/nodes\",\"responseStatus\":{\"code\":401},"
			"\"stageTimestamp\":\"2024-01-01T00:00:00Z\""));
	assert_path(s, "actor.type", "anonymous");
	assert_path(s, "outcome", "denied");
	assert_path(s, "source.endpoint", "/api/v1/nodes");
	assert_path(s, "resource.type", "nodes");
	assert_path(s, "resource.id", NULL);
	free(s);

	s = k8s_one(K8S("jane", ",\"verb\":\"patch\",\"objectRef\":{\"resource\":\"nodes\","
				"\"name\":\"n1\"},\"sourceIPs\":[\"1.2.3.4\"],"
				"\"responseStatus\":{\"code\":422},"
				"\"stageTimestamp\":\"2024-01-01T00:00:00Z\""));
	assert_path(s, "outcome", "failure");
	assert_path(s, "resource.id", "n1");
	free(s);

	s = k8s_one(K8S("jane", ",\"verb\":\"watch\",\"objectRef\":{\"resource\":\"pods\"},"
				"\"sourceIPs\":[\"1.2.3.4\"],"
				"\"stageTimestamp\":\"2024-01-01T00:00:00Z\""));
	assert_path(s, "outcome", "unknown");
	free(s);

	k8s_bad(K8S("u", ",\"verb\":\"get\",\"sourceIPs\":[\"1.2.3.4\"]"), "stageTimestamp");
	k8s_bad(K8S("u", ",\"verb\":\"get\",\"sourceIPs\":[\"1.2.3.4\"],"
			 "\"stageTimestamp\":\"yesterday\""), "stageTimestamp");
	k8s_bad(K8S("u", ",\"sourceIPs\":[\"1.2.3.4\"],"
			 "\"stageTimestamp\":\"2024-01-01T00:00:00Z\""), "verb");
	k8s_bad(K8S("", ",\"verb\":\"get\",\"sourceIPs\":[\"1.2.3.4\"],"
			"\"stageTimestamp\":\"2024-01-01T00:00:00Z\""), "user.username");
	k8s_bad(K8S("u", ",\"verb\":\"get\",\"sourceIPs\":[1],"
			 "\"stageTimestamp\":\"2024-01-01T00:00:00Z\""), "sourceIPs");
	k8s_bad(K8S("u", ",\"verb\":\"get\","
			 "\"stageTimestamp\":\"2024-01-01T00:00:00Z\""), "sourceIPs");
	k8s_bad(K8S("u", ",\"verb\":\"get\",\"sourceIPs\":[\"1.2.3.4\"],"
			 "\"responseStatus\":{\"code\":\"200\"},"
			 "\"stageTimestamp\":\"2024-01-01T00:00:00Z\""), "responseStatus.code");
	k8s_bad("{\"kind\":\"EventList\",\"items\":{}}", "items");
	k8s_bad("{\"kind\":\"Pod\"}", "kind");
	k8s_bad("[]", "");
	k8s_bad("{\"kind\":\"EventList\",\"items\":[1]}", "");
}

/* ------------------------------------------------------------------ */
/* the server's own events                                             */

static void test_internal(void **state)
{
	struct event_item it;
	json_t *d = json_pack("{s:s}", "token", "tok-9");

	(void)state;
	assert_int_equal(event_internal("token.create", "tok-admin", "::FFFF:10.0.0.1", "success",
					d, &ctx, &it),
			 LS_OK);
	assert_string_equal(it.json,
			    "{\"action\":\"token.create\",\"actor\":{\"id\":\"tok-admin\","
			    "\"type\":\"service\"},\"details\":{\"token\":\"tok-9\"},"
			    "\"outcome\":\"success\"," BASE_TAIL ",\"service\":\"logseal\","
			    "\"source\":{\"ip\":\"::ffff:10.0.0.1\"},"
			    "\"time\":\"2024-01-02T03:04:05.123456Z\",\"writer\":\"tok-w1\"}");
	assert_null(it.key);
	assert_fixed_point(&it);
	event_item_release(&it);
	/* details not stolen */
	assert_int_equal(d->refcount, 1);
	json_decref(d);

	assert_int_equal(event_internal("auth.denied", "anonymous", "203.0.113.9", "denied", NULL,
					&ctx, &it),
			 LS_OK);
	assert_path(it.json, "actor.type", "anonymous");
	assert_path(it.json, "details", NULL);
	event_item_release(&it);

	assert_int_equal(event_internal("x", "y", "1.2.3.4", "maybe", NULL, &ctx, &it),
			 LS_INVALID);
	assert_null(it.json);
	assert_int_equal(event_internal("", "y", "1.2.3.4", "success", NULL, &ctx, &it),
			 LS_INVALID);
	event_item_release(&it);
}

/* The hand-written time formatter agrees with the parser and with known
 * dates over the whole supported range (leap years, the epoch, negatives). */
static void test_format_time_round_trip(void **state)
{
	static const struct {
		int64_t us;
		const char *want;
	} known[] = {
		{ 0, "1970-01-01T00:00:00.000000Z" },
		{ -1, "1969-12-31T23:59:59.999999Z" },
		{ 951782400123456LL, "2000-02-29T00:00:00.123456Z" },
		{ 253402300799999999LL, "9999-12-31T23:59:59.999999Z" },
		{ -62135596800000000LL, "0001-01-01T00:00:00.000000Z" },
	};
	char buf[40];
	int64_t back;
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		event_format_time(known[i].us, buf, sizeof(buf));
		assert_string_equal(buf, known[i].want);
	}
	for (int i = 0; i < 100000; i++) {
		int64_t us;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		us = (int64_t)(x % 315537897600000000ULL) - 62135596800000000LL;
		event_format_time(us, buf, sizeof(buf));
		assert_int_equal(strlen(buf), 27);
		assert_int_equal(event_parse_time(buf, &back), LS_OK);
		assert_true(back == us);
	}
}

/* IPv4 addresses come out as inet_ntop() writes them (the server formats
 * them by hand): every value of every octet, in the forms inet_pton
 * takes; what it refuses stays refused. */
static void test_ipv4_canonical(void **state)
{
	char in[32], out[64], want[INET_ADDRSTRLEN];
	unsigned char a[4];

	(void)state;
	for (int pos = 0; pos < 4; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			unsigned o[4] = { 10, 0, 255, 7 };

			o[pos] = v;
			snprintf(in, sizeof(in), "%u.%u.%u.%u", o[0], o[1], o[2], o[3]);
			assert_int_equal(inet_pton(AF_INET, in, a), 1);
			assert_non_null(inet_ntop(AF_INET, a, want, sizeof(want)));
			assert_int_equal(event_normalize_ip(in, out, sizeof(out)), LS_OK);
			assert_string_equal(out, want);
		}
	}
	assert_int_equal(event_normalize_ip("255.255.255.255", out, INET_ADDRSTRLEN), LS_OK);
	assert_string_equal(out, "255.255.255.255");
	assert_int_equal(event_normalize_ip("1.2.3.4", out, INET_ADDRSTRLEN - 1), LS_LIMIT);
	assert_int_equal(event_normalize_ip("01.2.3.4", out, sizeof(out)), LS_INVALID);
	assert_int_equal(event_normalize_ip("1.2.3.256", out, sizeof(out)), LS_INVALID);
	assert_int_equal(event_normalize_ip("::ffff:1.2.3.4", out, sizeof(out)), LS_OK);
	assert_string_equal(out, "::ffff:1.2.3.4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_bytes),
		cmocka_unit_test(test_canonical_value),
		cmocka_unit_test(test_canonicalize_text_strict),
		cmocka_unit_test(test_native_minimal_exact),
		cmocka_unit_test(test_native_full_exact),
		cmocka_unit_test(test_ctx_without_writer),
		cmocka_unit_test(test_required_fields),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_id_limit_ok),
		cmocka_unit_test(test_server_fields_refused),
		cmocka_unit_test(test_strict_json),
		cmocka_unit_test(test_depth_and_size),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_array_batch),
		cmocka_unit_test(test_ndjson_batch),
		cmocka_unit_test(test_service_binding),
		cmocka_unit_test(test_reserved_for_server),
		cmocka_unit_test(test_hidden_characters),
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_k8s_create_configmap),
		cmocka_unit_test(test_k8s_exec_pod),
		cmocka_unit_test(test_k8s_malformed),
		cmocka_unit_test(test_k8s_event_list),
		cmocka_unit_test(test_k8s_mapping),
		cmocka_unit_test(test_internal),
		cmocka_unit_test(test_format_time_round_trip),
		cmocka_unit_test(test_ipv4_canonical),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
