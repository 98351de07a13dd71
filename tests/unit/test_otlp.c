/*
 * test_otlp.c - unit tests for src/core/formats/otlp.c and otlp_pb.c: the
 * OTLP logs request of tests/fixtures/otlp/ (the specification's example
 * and the mapping's attributes) in protobuf (bytes made by protoc from
 * logs.txtpb) and in OTLP/JSON maps to the same events, field by field;
 * the unmappable record is counted and recorded; the reply bytes equal
 * protoc's encoding; malformed wire input (truncation at every length, bad
 * varints, groups, field 0, invalid UTF-8, deep nesting) is refused without
 * reading out of bounds.  The idempotency key: "otlp:" + SHA-256 of the
 * digests of resource, scope and record (pinned against a Python
 * computation), stable across parses, redacted values left out of it,
 * logseal.id / event.id taking its place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/event.h"
#include "core/event_policy.h"
#include "core/formats/otlp.h"

#define RECEIVED_US 1704164645123456LL

static const struct event_ctx ctx = {
	.writer = "tok-w1",
	.remote_ip = "127.0.0.1",
	.received_us = RECEIVED_US,
};

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
	buf = calloc(1, (size_t)sz + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return buf;
}

/* The string at a dotted path of the item's JSON ("" when absent). */
static void expect(json_t *o, const char *path, const char *want)
{
	char buf[256], *p, *save = NULL;
	json_t *v = o;
	char *got;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strtok_r(buf, "|", &save); p && v; p = strtok_r(NULL, "|", &save))
		v = json_object_get(v, p);
	got = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!got || strcmp(got, want))
		fail_msg("%s: want %s, got %s", path, want, got ? got : "(absent)");
	free(got);
}

static json_t *item(const struct otlp_result *r, size_t i)
{
	json_t *o;

	assert_true(i < r->batch.n);
	o = json_loadb(r->batch.items[i].json, r->batch.items[i].len, 0, NULL);
	assert_non_null(o);
	return o;
}

#define MSG2 "record 2: logseal.actor.id: required (attribute logseal.actor.id, enduser.id or user.id)"

static void check_fixture(const struct otlp_result *r)
{
	json_t *o;

	assert_int_equal(r->records, 3);
	assert_int_equal(r->accepted, 2);
	assert_int_equal(r->rejected, 1);
	assert_int_equal(r->batch.n, 3);
	assert_string_equal(r->message, MSG2);

	o = item(r, 0);
	expect(o, "time", "\"2018-12-13T14:51:00.300000Z\"");
	expect(o, "actor", "{\"id\":\"alice\"}");
	expect(o, "action", "\"invoice.pay\"");
	expect(o, "outcome", "\"success\"");
	expect(o, "source", "{\"ip\":\"2001:db8::1\",\"port\":51234}");
	expect(o, "service", "\"billing\"");
	expect(o, "resource", "{\"id\":\"inv-42\",\"type\":\"invoice\"}");
	expect(o, "reason", "\"invoice paid\"");
	expect(o, "details|trace_id", "\"5b8efff798038103d269b633813fc60c\"");
	expect(o, "details|span_id", "\"eee19b7ec3c1b174\"");
	expect(o, "details|severity_text", "\"Information\"");
	expect(o, "details|severity_number", "10");
	expect(o, "details|scope", "{\"name\":\"my.library\",\"version\":\"1.0.0\"}");
	expect(o, "details|resource", "{\"host.name\":\"web-7\"}");
	expect(o, "details|attributes",
	       "{\"amount\":12.5,\"nested\":{\"ok\":true},\"raw\":\"AQL/\",\"tags\":[\"a\",7]}");
	expect(o, "writer", "\"tok-w1\"");
	expect(o, "schema", "\"logseal/v1\"");
	json_decref(o);

	/* the fallbacks: observedTimeUnixNano, eventName, user.id, host.name */
	o = item(r, 1);
	expect(o, "time", "\"2023-11-14T22:13:20.123456Z\"");
	expect(o, "actor", "{\"id\":\"bob\"}");
	expect(o, "action", "\"login\"");
	expect(o, "outcome", "\"unknown\"");
	expect(o, "source", "{\"endpoint\":\"web-7\"}");
	expect(o, "service", "\"billing\"");
	json_decref(o);

	/* the record that could not be mapped is in the log too */
	o = item(r, 2);
	expect(o, "action", "\"logseal.ingest.rejected\"");
	expect(o, "service", "\"logseal\"");
	expect(o, "outcome", "\"failure\"");
	expect(o, "actor|id", "\"tok-w1\"");
	expect(o, "details|record", "2");
	expect(o, "details|field", "\"logseal.actor.id\"");
	expect(o, "details|format", "\"otlp\"");
	assert_int_equal(strlen(json_string_value(
				 json_object_get(json_object_get(o, "details"), "sha256"))),
			 64);
	json_decref(o);
}

static void test_protobuf_and_json_agree(void **state)
{
	struct otlp_result a, b;
	char why[256], *pb, *js;
	size_t npb, njs;

	(void)state;
	pb = read_file("tests/fixtures/otlp/logs.bin", &npb);
	js = read_file("tests/fixtures/otlp/logs.json", &njs);
	assert_int_equal(otlp_logs_parse(pb, npb, OTLP_PROTOBUF, &ctx, &a, why, sizeof(why)),
			 LS_OK);
	assert_int_equal(otlp_logs_parse(js, njs, OTLP_JSON, &ctx, &b, why, sizeof(why)), LS_OK);
	check_fixture(&a);
	check_fixture(&b);
	/* the same events but for the id: the key is of each encoding's
	 * OTLP/JSON (protobuf's int64 values decode as numbers, the JSON
	 * fixture has strings) */
	for (size_t i = 0; i < a.batch.n; i++) {
		json_t *x = item(&a, i), *y = item(&b, i);

		json_object_del(x, "id");
		json_object_del(y, "id");
		assert_true(json_equal(x, y));
		json_decref(x);
		json_decref(y);
	}
	otlp_result_release(&a);
	otlp_result_release(&b);
	free(pb);
	free(js);
}

static void test_response_bytes(void **state)
{
	uint8_t out[256];
	size_t n, nw;
	char *want = read_file("tests/fixtures/otlp/response.bin", &nw);

	(void)state;
	n = otlp_pb_response(1, MSG2, out, sizeof(out));
	assert_int_equal(n, nw);
	assert_memory_equal(out, want, n);
	/* too small a buffer: the length, nothing written past cap */
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(otlp_pb_response(1, MSG2, out, 10), nw);
	assert_int_equal(out[10], 0xaa);
	assert_int_equal(otlp_pb_response(0, NULL, out, sizeof(out)), 0);
	free(want);
}

static ls_rc pb(const char *bytes, size_t n, char *why)
{
	json_t *o = NULL;
	ls_rc rc = otlp_pb_decode((const uint8_t *)bytes, n, &o, why, 256);

	json_decref(o);
	return rc;
}

static void test_malformed_protobuf(void **state)
{
	char why[256], *bin;
	size_t n;

	(void)state;
	assert_int_equal(pb("\x0a\x05\x0a", 3, why), LS_INVALID);
	assert_non_null(strstr(why, "length past the end"));
	assert_int_equal(pb("\x0b", 1, why), LS_INVALID);	/* wire type 3: group */
	assert_int_equal(pb("\x02\x00", 2, why), LS_INVALID);	/* field 0 */
	assert_int_equal(pb("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11, why),
			 LS_INVALID);	/* varint over 64 bits */
	assert_int_equal(pb("\x09\x01\x02", 3, why), LS_INVALID);	/* truncated fixed64 */
	assert_int_equal(pb("\x08\x01", 2, why), LS_INVALID);	/* resource_logs as varint */
	assert_non_null(strstr(why, "wrong wire type"));
	/* unknown fields (varint 15, fixed32 16) are skipped */
	assert_int_equal(pb("\x78\x01\x85\x01\x01\x02\x03\x04", 8, why), LS_OK);
	/* KeyValue.key with invalid UTF-8: resource { attributes { key: "\xff" } } */
	assert_int_equal(pb("\x0a\x07\x0a\x05\x0a\x03\x0a\x01\xff", 9, why), LS_INVALID);
	assert_non_null(strstr(why, "UTF-8"));
	/* ... and with U+0000, which no stored entry may hold (found by fuzz_otlp) */
	assert_int_equal(pb("\x0a\x08\x0a\x06\x0a\x04\x0a\x02\x61\x00", 10, why), LS_INVALID);
	assert_non_null(strstr(why, "NUL"));
	/* AnyValue nested 13 arrays deep in a record body */
	{
		uint8_t buf[128], inner[128];
		size_t len = 0;

		/* innermost AnyValue {} then wrap: AnyValue{array_value{values: x}} */
		for (int d = 0; d < 14; d++) {
			size_t l2 = 0;

			inner[l2++] = 0x0a;	/* ArrayValue.values */
			inner[l2++] = (uint8_t)len;
			memcpy(inner + l2, buf, len);
			l2 += len;
			buf[0] = 0x2a;		/* AnyValue.array_value */
			buf[1] = (uint8_t)l2;
			memcpy(buf + 2, inner, l2);
			len = l2 + 2;
		}
		/* request{resource_logs{scope_logs{log_records{body}}}} */
		uint8_t req[256];
		size_t k = 0;
		size_t lr = len + 2, sl = lr + 2, rl = sl + 2;

		req[k++] = 0x0a; req[k++] = (uint8_t)rl;
		req[k++] = 0x12; req[k++] = (uint8_t)sl;
		req[k++] = 0x12; req[k++] = (uint8_t)lr;
		req[k++] = 0x2a; req[k++] = (uint8_t)len;
		memcpy(req + k, buf, len);
		k += len;
		assert_int_equal(pb((const char *)req, k, why), LS_INVALID);
		assert_non_null(strstr(why, "nested"));
	}
	/* every truncation of the fixture: refused or a shorter valid message,
	 * never a read past the end (ASan build) */
	bin = read_file("tests/fixtures/otlp/logs.bin", &n);
	for (size_t cut = 0; cut < n; cut++) {
		char *c = malloc(cut ? cut : 1);
		ls_rc rc;

		assert_non_null(c);
		memcpy(c, bin, cut);
		rc = pb(c, cut, why);
		assert_true(rc == LS_OK || rc == LS_INVALID);
		free(c);
	}
	assert_int_equal(pb(bin, n, why), LS_OK);
	free(bin);
}

static void test_json_requests(void **state)
{
	struct otlp_result r;
	char why[256];
	const char *s;

	(void)state;
	s = "{\"resourceLogs\":{}}";
	assert_int_equal(otlp_logs_parse(s, strlen(s), OTLP_JSON, &ctx, &r, why, sizeof(why)),
			 LS_INVALID);
	assert_non_null(strstr(why, "resourceLogs must be an array"));
	s = "[1]";
	assert_int_equal(otlp_logs_parse(s, strlen(s), OTLP_JSON, &ctx, &r, why, sizeof(why)),
			 LS_INVALID);
	s = "{\"resourceLogs\":[";
	assert_int_equal(otlp_logs_parse(s, strlen(s), OTLP_JSON, &ctx, &r, why, sizeof(why)),
			 LS_INVALID);
	/* empty request: nothing to do, full success */
	s = "{}";
	assert_int_equal(otlp_logs_parse(s, strlen(s), OTLP_JSON, &ctx, &r, why, sizeof(why)),
			 LS_OK);
	assert_int_equal(r.records, 0);
	otlp_result_release(&r);
	/* unknown members are ignored; a bad outcome and a reserved action are
	 * this record's problem only */
	s = "{\"x\":1,\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
	    "{\"timeUnixNano\":1700000000000000000,\"future\":true,\"attributes\":["
	    "{\"key\":\"logseal.actor.id\",\"value\":{\"stringValue\":\"a\"}},"
	    "{\"key\":\"logseal.action\",\"value\":{\"stringValue\":\"x\"}},"
	    "{\"key\":\"source.address\",\"value\":{\"stringValue\":\"10.0.0.1\"}},"
	    "{\"key\":\"logseal.outcome\",\"value\":{\"stringValue\":\"ok\"}}]},"
	    "{\"timeUnixNano\":\"1700000000000000000\",\"attributes\":["
	    "{\"key\":\"logseal.actor.id\",\"value\":{\"stringValue\":\"a\"}},"
	    "{\"key\":\"logseal.action\",\"value\":{\"stringValue\":\"logseal.token.create\"}},"
	    "{\"key\":\"source.address\",\"value\":{\"stringValue\":\"10.0.0.1\"}}]},"
	    "{\"timeUnixNano\":\"1700000000000000000\",\"attributes\":["
	    "{\"key\":\"logseal.actor.id\",\"value\":{\"stringValue\":\"a\"}},"
	    "{\"key\":\"logseal.action\",\"value\":{\"stringValue\":\"ok\"}},"
	    "{\"key\":\"logseal.outcome\",\"value\":{\"stringValue\":\"denied\"}},"
	    "{\"key\":\"source.address\",\"value\":{\"stringValue\":\"10.0.0.1\"}}]}"
	    "]}]}]}";
	assert_int_equal(otlp_logs_parse(s, strlen(s), OTLP_JSON, &ctx, &r, why, sizeof(why)),
			 LS_OK);
	assert_int_equal(r.records, 3);
	assert_int_equal(r.rejected, 2);
	assert_int_equal(r.accepted, 1);
	assert_string_equal(r.message,
			    "record 0: logseal.outcome: must be success, failure, denied, error or "
			    "unknown (and 1 more records rejected)");
	{
		json_t *o = item(&r, 2);

		expect(o, "outcome", "\"denied\"");
		expect(o, "source", "{\"ip\":\"10.0.0.1\"}");
		json_decref(o);
	}
	otlp_result_release(&r);
}

static void test_service_binding(void **state)
{
	struct event_ctx bound = ctx;
	struct otlp_result r;
	char why[256], *js;
	size_t n;

	(void)state;
	bound.bound_service = "payments";
	js = read_file("tests/fixtures/otlp/logs.json", &n);
	assert_int_equal(otlp_logs_parse(js, n, OTLP_JSON, &bound, &r, why, sizeof(why)), LS_OK);
	/* service.name billing is not this writer's: every record refused */
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.rejected, 3);
	assert_non_null(strstr(r.message, "may only write service"));
	otlp_result_release(&r);
	free(js);
}

/* A rejected record's excerpt does not carry what redaction would remove. */
static void test_rejected_excerpt_redacted(void **state)
{
	static struct event_policy pol;
	struct event_ctx c = ctx;
	struct otlp_result r;
	char why[256];
	const char *s =
		"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":"
		"\"1700000000000000000\",\"attributes\":[{\"key\":\"event.name\",\"value\":"
		"{\"stringValue\":\"login\"}},{\"key\":\"db.Password\",\"value\":"
		"{\"stringValue\":\"hunter2\"}}]}]}]}]}";

	(void)state;
	event_policy_init(&pol);
	c.policy = &pol;
	assert_int_equal(otlp_logs_parse(s, strlen(s), OTLP_JSON, &c, &r, why, sizeof(why)), LS_OK);
	assert_int_equal(r.rejected, 1);
	assert_int_equal(r.batch.n, 1);
	assert_null(strstr(r.batch.items[0].json, "hunter2"));
	assert_non_null(strstr(r.batch.items[0].json, "db.Password"));
	assert_non_null(strstr(r.batch.items[0].json, "[REDACTED]"));
	otlp_result_release(&r);
	/* without a policy the excerpt is the record as sent */
	assert_int_equal(otlp_logs_parse(s, strlen(s), OTLP_JSON, &ctx, &r, why, sizeof(why)),
			 LS_OK);
	assert_non_null(strstr(r.batch.items[0].json, "hunter2"));
	otlp_result_release(&r);
}

#define REC_A                                                                                \
	"{\"timeUnixNano\":\"1700000001000000000\",\"body\":{\"stringValue\":\"paid\"},"     \
	"\"attributes\":[{\"key\":\"logseal.actor.id\",\"value\":{\"stringValue\":\"dave\"}},"\
	"{\"key\":\"logseal.action\",\"value\":{\"stringValue\":\"x.a\"}},"                  \
	"{\"key\":\"source.address\",\"value\":{\"stringValue\":\"10.0.0.9\"}}%s]}"
#define RES_SCOPE                                                                            \
	"{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","       \
	"\"value\":{\"stringValue\":\"shop\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"t\","  \
	"\"version\":\"1\"},\"logRecords\":[%s]}]}]}"

/* parse body (JSON) under c: LS_OK expected */
static void parse_json(const char *body, const struct event_ctx *c, struct otlp_result *r)
{
	char why[256];

	assert_int_equal(otlp_logs_parse(body, strlen(body), OTLP_JSON, c, r, why, sizeof(why)),
			 LS_OK);
}

/* The request of records (each REC_A with its extra attributes) in RES_SCOPE. */
static char *request(const char *extra1, const char *extra2)
{
	char recs[2048], *out = malloc(4096);

	assert_non_null(out);
	snprintf(recs, sizeof(recs), REC_A, extra1);
	if (extra2) {
		size_t l = strlen(recs);

		recs[l++] = ',';
		snprintf(recs + l, sizeof(recs) - l, REC_A, extra2);
	}
	snprintf(out, 4096, RES_SCOPE, recs);
	return out;
}

/* "otlp:" + hex SHA-256(SHA-256(resource) || SHA-256(scope) ||
 * SHA-256(record)), each of its canonical JSON: the values are Python's
 * (json.dumps sort_keys, separators (',',':'); hashlib.sha256). */
static void test_record_key(void **state)
{
	struct otlp_result r, r2;
	char *body = request("", NULL);
	const char *none =
		"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":"
		"\"1700000001000000000\",\"body\":{\"stringValue\":\"paid\"},\"attributes\":[{"
		"\"key\":\"logseal.actor.id\",\"value\":{\"stringValue\":\"dave\"}},{\"key\":"
		"\"logseal.action\",\"value\":{\"stringValue\":\"x.a\"}},{\"key\":"
		"\"source.address\",\"value\":{\"stringValue\":\"10.0.0.9\"}}]}]}]}]}";
	json_t *o;

	(void)state;
	parse_json(body, &ctx, &r);
	assert_int_equal(r.batch.n, 1);
	assert_non_null(r.batch.items[0].key);
	assert_string_equal(r.batch.items[0].key,
			    "otlp:8b010f5fd0990579142641b9d4c08ec4b7efa83567e91c0e132310df4fa5727c");
	assert_string_equal(r.batch.items[0].key_service, "shop");
	o = item(&r, 0);
	expect(o, "id", "\"otlp:8b010f5fd0990579142641b9d4c08ec4b7efa83567e91c0e132310df4fa5727c\"");
	json_decref(o);
	/* parsed again: the same key (and the same event) */
	parse_json(body, &ctx, &r2);
	assert_string_equal(r.batch.items[0].key, r2.batch.items[0].key);
	otlp_result_release(&r2);
	otlp_result_release(&r);
	/* no resource, no scope: the SHA-256 of no bytes in their places */
	parse_json(none, &ctx, &r);
	assert_string_equal(r.batch.items[0].key,
			    "otlp:2dbfbf8a5dce86b46dec2732c51f1240fafe305c44d162f108f9173e5c532b40");
	assert_string_equal(r.batch.items[0].key_service, "");
	otlp_result_release(&r);
	free(body);

	/* two records that differ in one attribute: two keys */
	body = request(",{\"key\":\"n\",\"value\":{\"intValue\":\"1\"}}",
		       ",{\"key\":\"n\",\"value\":{\"intValue\":\"2\"}}");
	parse_json(body, &ctx, &r);
	assert_int_equal(r.batch.n, 2);
	assert_string_not_equal(r.batch.items[0].key, r.batch.items[1].key);
	otlp_result_release(&r);
	free(body);
	/* the same record twice: the same key (the second is a resend) */
	body = request("", "");
	parse_json(body, &ctx, &r);
	assert_int_equal(r.batch.n, 2);
	assert_string_equal(r.batch.items[0].key, r.batch.items[1].key);
	otlp_result_release(&r);
	free(body);
}

/* logseal.id, else event.id, is the key and the id; the content does not
 * matter then; a bad one rejects the record under its attribute name. */
static void test_record_key_attribute(void **state)
{
	struct otlp_result r;
	char *body;
	json_t *o;

	(void)state;
	body = request(",{\"key\":\"logseal.id\",\"value\":{\"stringValue\":\"order-7\"}},"
		       "{\"key\":\"event.id\",\"value\":{\"stringValue\":\"ev-1\"}}",
		       ",{\"key\":\"event.id\",\"value\":{\"stringValue\":\"ev-1\"}}");
	parse_json(body, &ctx, &r);
	assert_int_equal(r.accepted, 2);
	assert_non_null(r.batch.items[0].key);
	assert_non_null(r.batch.items[1].key);
	assert_string_equal(r.batch.items[0].key, "order-7");
	assert_string_equal(r.batch.items[1].key, "ev-1");
	o = item(&r, 0);
	expect(o, "id", "\"order-7\"");
	/* taken, not left in details: the other one stays an attribute */
	expect(o, "details|attributes", "{\"event.id\":\"ev-1\"}");
	json_decref(o);
	otlp_result_release(&r);
	free(body);

	body = request(",{\"key\":\"logseal.id\",\"value\":{\"intValue\":\"7\"}}", NULL);
	parse_json(body, &ctx, &r);
	assert_int_equal(r.rejected, 1);
	assert_non_null(strstr(r.message, "record 0: logseal.id: must be a string"));
	assert_null(r.batch.items[0].key);	/* the rejection carries no key */
	otlp_result_release(&r);
	free(body);

	body = request(",{\"key\":\"logseal.id\",\"value\":{\"stringValue\":\"\"}}", NULL);
	parse_json(body, &ctx, &r);
	assert_int_equal(r.rejected, 1);
	assert_non_null(strstr(r.message, "record 0: logseal.id:"));
	otlp_result_release(&r);
	free(body);
}

/* The key is of the redacted record: a secret is not in the id's preimage
 * as stored (so the id does not let one test guesses of it), and the
 * rejected record's sha256 is the same digest of the record. */
static void test_record_key_redacted(void **state)
{
	static struct event_policy pol;
	struct event_ctx c = ctx;
	struct otlp_result r;
	char *body;

	(void)state;
	event_policy_init(&pol);
	c.policy = &pol;
	body = request(",{\"key\":\"db.Password\",\"value\":{\"stringValue\":\"hunter2\"}}",
		       ",{\"key\":\"db.Password\",\"value\":{\"stringValue\":\"swordfish\"}}");
	parse_json(body, &c, &r);
	assert_int_equal(r.batch.n, 2);
	assert_non_null(r.batch.items[0].key);
	assert_non_null(r.batch.items[1].key);
	assert_string_equal(r.batch.items[0].key, r.batch.items[1].key);
	otlp_result_release(&r);
	/* without the policy they differ */
	parse_json(body, &ctx, &r);
	assert_string_not_equal(r.batch.items[0].key, r.batch.items[1].key);
	otlp_result_release(&r);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protobuf_and_json_agree),
		cmocka_unit_test(test_response_bytes),
		cmocka_unit_test(test_malformed_protobuf),
		cmocka_unit_test(test_json_requests),
		cmocka_unit_test(test_service_binding),
		cmocka_unit_test(test_rejected_excerpt_redacted),
		cmocka_unit_test(test_record_key),
		cmocka_unit_test(test_record_key_attribute),
		cmocka_unit_test(test_record_key_redacted),
	};

	return cmocka_run_group_tests_name("otlp", tests, NULL, NULL);
}
