/*
 * test_syslog.c - unit tests for core/formats/syslog.c: the parser against
 * the published examples of RFC 5424 section 6.5 and RFC 3164 section 5.4,
 * refusals of malformed headers and structured data, RFC 3164's missing
 * year, and the mapping onto the standard event (SD params, header
 * fallbacks, defaults, JSON bodies, the service binding, the hash id), each
 * mapped object then validated by event_batch_parse() like an HTTP body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/crypto.h"
#include "core/event.h"
#include "core/formats/syslog.h"

/* 2003-10-12T00:00:00Z */
#define NOW_2003 1065916800000000LL

#define BOM "\xEF\xBB\xBF"

/* RFC 5424 section 6.5, examples 1 to 4 (BOM as the RFC marks it). */
static const char ex1[] = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
			  BOM "'su root' failed for lonvick on /dev/pts/8";
static const char ex2[] = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
			  "%% It's time to make the do-nuts.";
static const char ex3[] = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
			  "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
			  "eventID=\"1011\"] " BOM "An application event log entry...";
static const char ex4[] = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
			  "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
			  "eventID=\"1011\"][examplePriority@32473 class=\"high\"]";

static int span_is(struct syslog_span s, const char *want)
{
	if (!want)
		return s.p == NULL;
	return s.p && s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static void parse_ok(const char *text, struct syslog_msg *m)
{
	struct ls_err err = { { 0 } };
	ls_rc rc = syslog_parse(text, strlen(text), NOW_2003, m, &err);

	if (rc != LS_OK)
		fail_msg("%s: %s", text, err.msg);
}

static void test_rfc5424_example1(void **state)
{
	struct syslog_msg m;
	(void)state;

	parse_ok(ex1, &m);
	assert_int_equal(m.pri, 34);
	assert_int_equal(m.version, 1);
	assert_true(m.has_time);
	assert_int_equal(m.time_us, 1065910455003000LL);
	assert_true(span_is(m.hostname, "mymachine.example.com"));
	assert_true(span_is(m.app_name, "su"));
	assert_true(span_is(m.procid, NULL));
	assert_true(span_is(m.msgid, "ID47"));
	assert_true(span_is(m.sd, NULL));
	assert_true(span_is(m.msg, "'su root' failed for lonvick on /dev/pts/8"));
}

static void test_rfc5424_example2(void **state)
{
	struct syslog_msg m;
	(void)state;

	parse_ok(ex2, &m);
	assert_int_equal(m.pri, 165);
	/* 05:14:15.000003-07:00 is 12:14:15.000003Z */
	assert_int_equal(m.time_us, 1061727255000003LL);
	assert_true(span_is(m.hostname, "192.0.2.1"));
	assert_true(span_is(m.app_name, "myproc"));
	assert_true(span_is(m.procid, "8710"));
	assert_true(span_is(m.msgid, NULL));
	assert_true(span_is(m.msg, "%% It's time to make the do-nuts."));
}

struct sdlist {
	char buf[512];
};

static int sd_print(void *ctx, struct syslog_span id, struct syslog_span name,
		    struct syslog_span value, int esc)
{
	struct sdlist *l = ctx;
	size_t n = strlen(l->buf);

	snprintf(l->buf + n, sizeof(l->buf) - n, "%.*s/%.*s=%.*s%s;", (int)id.n, id.p,
		 (int)name.n, name.p, (int)value.n, value.p, esc ? "(esc)" : "");
	return 0;
}

static void test_rfc5424_example3_4(void **state)
{
	struct syslog_msg m;
	struct sdlist l = { "" };
	(void)state;

	parse_ok(ex3, &m);
	assert_true(span_is(m.msg, "An application event log entry..."));
	syslog_sd_foreach(&m, sd_print, &l);
	assert_string_equal(l.buf, "exampleSDID@32473/iut=3;exampleSDID@32473/eventSource=Application;"
				   "exampleSDID@32473/eventID=1011;");
	parse_ok(ex4, &m);
	assert_true(span_is(m.msg, NULL));
	l.buf[0] = 0;
	syslog_sd_foreach(&m, sd_print, &l);
	assert_string_equal(l.buf, "exampleSDID@32473/iut=3;exampleSDID@32473/eventSource=Application;"
				   "exampleSDID@32473/eventID=1011;examplePriority@32473/class=high;");
}

static void test_rfc5424_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"no pri",
		"<192>1 - - - - - -",			/* PRI over 191 */
		"<1x>1 - - - - - -",
		"<34>1 2003-10-11 host app - - -",	/* not RFC 3339 */
		"<34>1 - host app - -",			/* no STRUCTURED-DATA */
		"<34>1 - host app - - [x",		/* unterminated element */
		"<34>1 - host app - - [x a=\"1]",	/* unterminated value */
		"<34>1 - host app - - [x a=1]",		/* value without quotes */
		"<34>1 - host app - - [abcdefghijklmnopqrstuvwxyz0123456789 a=\"1\"]", /* SD-ID > 32 */
		"<34>1 - host app - - [x a=\"1\"]msg",	/* no SP before MSG */
		"<34>1 - host app - - x",		/* SD neither - nor [ */
		"<34>1 - host 0123456789012345678901234567890123456789012345678 - - -", /* APP-NAME 49 */
		"<34>1 - host app - 012345678901234567890123456789012 -",	/* MSGID 33 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct syslog_msg m;
		struct ls_err err = { { 0 } };

		if (syslog_parse(bad[i], strlen(bad[i]), NOW_2003, &m, &err) == LS_OK)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err.msg[0] != 0);
	}
}

static void test_escapes(void **state)
{
	static const char t[] = "<13>1 - h a - - [x@1 v=\"q\\\"b\\\\s\\]e\"] m";
	struct syslog_msg m;
	struct sdlist l = { "" };
	(void)state;

	parse_ok(t, &m);
	syslog_sd_foreach(&m, sd_print, &l);
	assert_string_equal(l.buf, "x@1/v=q\\\"b\\\\s\\]e(esc);");
	assert_true(span_is(m.msg, "m"));
}

/* RFC 3164 section 5.4 examples. */
static void test_rfc3164(void **state)
{
	static const char a[] = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";
	static const char b[] = "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!";
	static const char c[] = "<86>Dec 31 23:59:59 host sshd[4242]: x";
	struct syslog_msg m;
	struct ls_err err = { { 0 } };
	(void)state;

	parse_ok(a, &m);
	assert_int_equal(m.version, 0);
	assert_int_equal(m.pri, 34);
	assert_int_equal(m.time_us, 1065910455000000LL); /* 2003-10-11T22:14:15Z */
	assert_true(span_is(m.hostname, "mymachine"));
	assert_true(span_is(m.app_name, "su"));
	assert_true(span_is(m.msg, "'su root' failed for lonvick on /dev/pts/8"));
	parse_ok(b, &m);
	assert_true(span_is(m.hostname, "10.0.0.99"));
	assert_true(span_is(m.app_name, NULL));
	assert_true(span_is(m.msg, "Use the BFG!"));
	/* Dec 31 seen on Jan 1: last year's. */
	assert_int_equal(syslog_parse(c, strlen(c), 1072915210000000LL /* 2004-01-01T00:00:10Z */,
				      &m, &err), LS_OK);
	assert_int_equal(m.time_us, 1072915199000000LL); /* 2003-12-31T23:59:59Z */
	assert_true(span_is(m.app_name, "sshd"));
	assert_true(span_is(m.procid, "4242"));
	assert_true(span_is(m.msg, "x"));
}

/* Map text, then validate the object as POST /v1/events would; returns the
 * canonical entry (caller frees) or NULL with *why set. */
static char *map_and_store(const char *text, const struct syslog_map *map, const char *bound,
			   char *why, size_t cap)
{
	struct ls_err err = { { 0 } };
	struct event_ctx ctx = { "tok-w", "192.0.2.9", bound, 1700000000000000LL, NULL };
	struct event_batch b = { 0 };
	struct event_error e;
	json_t *o = NULL;
	char *body, *out;
	ls_rc rc = syslog_to_native(text, strlen(text), map, "192.0.2.9", bound, NOW_2003, &o, &err);

	if (rc != LS_OK) {
		snprintf(why, cap, "%s", err.msg);
		return NULL;
	}
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	memset(&e, 0, sizeof(e));
	rc = event_batch_parse(body, strlen(body), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, &b, &e);
	free(body);
	if (rc != LS_OK) {
		snprintf(why, cap, "%s: %s", e.field, e.reason);
		return NULL;
	}
	assert_int_equal(b.n, 1);
	out = strdup(b.items[0].json);
	event_batch_release(&b);
	return out;
}

static json_t *stored(const char *text, const struct syslog_map *map, const char *bound)
{
	char why[512] = "";
	char *s = map_and_store(text, map, bound, why, sizeof(why));
	json_t *j;

	if (!s)
		fail_msg("%s: refused: %s", text, why);
	j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	return j;
}

static const char *str(json_t *o, const char *path)
{
	json_t *v = o;
	char key[64];

	while (*path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		memcpy(key, path, n);
		key[n] = 0;
		v = json_object_get(v, key);
		path += n + (dot ? 1 : 0);
	}
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_map_refuses_without_actor(void **state)
{
	struct syslog_map map;
	char why[512];
	(void)state;

	syslog_map_init(&map);
	assert_null(map_and_store(ex3, &map, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "no actor"));
	/* No action anywhere (no MSGID either). */
	assert_null(map_and_store("<13>1 - h app - - [logseal@32473 actor=\"a\"] m", &map, NULL,
				  why, sizeof(why)));
	assert_non_null(strstr(why, "no action"));
	/* No outcome with the default turned off. */
	map.default_outcome = NULL;
	assert_null(map_and_store("<13>1 - h app - act [logseal@32473 actor=\"a\"] m", &map, NULL,
				  why, sizeof(why)));
	assert_non_null(strstr(why, "no outcome"));
	/* One of our params twice. */
	syslog_map_init(&map);
	assert_null(map_and_store("<13>1 - h a - x [logseal@32473 actor=\"a\" actor=\"b\"]", &map,
				  NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "twice"));
	/* A reserved action is refused by the validator, as over HTTP. */
	assert_null(map_and_store("<13>1 - h a - - [logseal@32473 actor=\"a\" action=\"logseal.x\"]",
				  &map, NULL, why, sizeof(why)));
}

static void test_map_header_and_defaults(void **state)
{
	struct syslog_map map;
	uint8_t h[LS_HASH_LEN];
	char hex[2 * LS_HASH_LEN + 1], want[96];
	json_t *j;
	(void)state;

	syslog_map_init(&map);
	map.default_actor = "system";
	j = stored(ex3, &map, NULL);
	assert_string_equal(str(j, "time"), "2003-10-11T22:14:15.003000Z");
	assert_string_equal(str(j, "actor.id"), "system");
	assert_string_equal(str(j, "action"), "ID47");
	assert_string_equal(str(j, "outcome"), "unknown");
	assert_string_equal(str(j, "source.endpoint"), "mymachine.example.com");
	assert_string_equal(str(j, "service"), "evntslog");
	assert_string_equal(str(j, "details.sd.exampleSDID@32473.eventID"), "1011");
	assert_string_equal(str(j, "details.syslog.msg"), "An application event log entry...");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
			 json_object_get(j, "details"), "syslog"), "facility")), 20);
	ls_sha256(ex3, strlen(ex3), NULL, 0, h);
	ls_hex(h, sizeof(h), hex);
	snprintf(want, sizeof(want), "syslog:%s", hex);
	assert_string_equal(str(j, "id"), want);
	json_decref(j);
	/* Without the hash rule there is no id. */
	map.id_hash = 0;
	j = stored(ex3, &map, NULL);
	assert_null(json_object_get(j, "id"));
	json_decref(j);
}

static void test_map_our_sd(void **state)
{
	static const char t[] =
		"<86>1 2026-01-02T03:04:05Z web01 shop 77 - [logseal@32473 actor=\"a\\\"b\" "
		"actor_type=\"user\" action=\"cart.add\" outcome=\"denied\" resource=\"cart\\]9\" "
		"resource_type=\"cart\" id=\"k-1\" reason=\"policy\" source_ip=\"2001:db8::0:1\" "
		"source_port=\"443\" extra=\"kept\"] text";
	struct syslog_map map;
	json_t *j;
	(void)state;

	syslog_map_init(&map);
	j = stored(t, &map, NULL);
	assert_string_equal(str(j, "actor.id"), "a\"b");
	assert_string_equal(str(j, "actor.type"), "user");
	assert_string_equal(str(j, "action"), "cart.add");
	assert_string_equal(str(j, "outcome"), "denied");
	assert_string_equal(str(j, "resource.id"), "cart]9");
	assert_string_equal(str(j, "resource.type"), "cart");
	assert_string_equal(str(j, "id"), "k-1");
	assert_string_equal(str(j, "reason"), "policy");
	assert_string_equal(str(j, "source.ip"), "2001:db8::1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "source"), "port")),
			 443);
	assert_string_equal(str(j, "details.sd.logseal@32473.extra"), "kept");
	assert_string_equal(str(j, "details.syslog.procid"), "77");
	json_decref(j);
}

static void test_map_json_body(void **state)
{
	static const char t[] =
		"<13>1 2026-01-02T03:04:05Z host app - - - {\"actor\":{\"id\":\"z\"},"
		"\"action\":\"a.b\",\"outcome\":\"success\",\"time\":\"2025-05-05T05:05:05Z\"}\n";
	static const char t2[] = "<13>1 2026-01-02T03:04:05Z host app - - - {\"actor\":{\"id\":\"z\"},"
				 "\"action\":\"a.b\",\"outcome\":\"success\",\"bogus\":1}";
	struct syslog_map map;
	char why[512];
	json_t *j;
	(void)state;

	syslog_map_init(&map);
	j = stored(t, &map, NULL);
	assert_string_equal(str(j, "time"), "2025-05-05T05:05:05.000000Z"); /* the body's */
	assert_string_equal(str(j, "source.endpoint"), "host");
	assert_string_equal(str(j, "service"), "app");
	assert_null(json_object_get(j, "details")); /* the body is the event */
	json_decref(j);
	/* An unknown member is refused by the validator, as over HTTP. */
	assert_null(map_and_store(t2, &map, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "bogus"));
	/* Turned off, the body is text. */
	map.json_body = 0;
	assert_null(map_and_store(t, &map, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "no actor"));
}

static void test_map_bound_service(void **state)
{
	static const char t[] = "<13>1 - - app - login [logseal@32473 actor=\"a\"] x";
	static const char t2[] = "<13>1 - - app - login [logseal@32473 actor=\"a\" service=\"other\"]";
	struct syslog_map map;
	char why[512];
	json_t *j;
	(void)state;

	syslog_map_init(&map);
	j = stored(t, &map, "payments");
	assert_string_equal(str(j, "service"), "payments");
	assert_string_equal(str(j, "details.syslog.app_name"), "app");
	/* NILVALUE HOSTNAME: the peer's address. */
	assert_string_equal(str(j, "source.ip"), "192.0.2.9");
	assert_string_equal(str(j, "time"), "2003-10-12T00:00:00.000000Z"); /* NILVALUE: now */
	json_decref(j);
	/* An explicit other service is refused by the binding. */
	assert_null(map_and_store(t2, &map, "payments", why, sizeof(why)));
	assert_non_null(strstr(why, "payments"));
}

static void test_map_resend_same_id(void **state)
{
	static const char t[] = "<13>1 2026-01-02T03:04:05.1Z h a - act [logseal@32473 actor=\"a\"] x";
	struct syslog_map map;
	json_t *a, *b;
	(void)state;

	syslog_map_init(&map);
	a = stored(t, &map, NULL);
	b = stored(t, &map, NULL);
	assert_string_equal(str(a, "id"), str(b, "id"));
	json_decref(a);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5424_example1),
		cmocka_unit_test(test_rfc5424_example2),
		cmocka_unit_test(test_rfc5424_example3_4),
		cmocka_unit_test(test_rfc5424_refused),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_rfc3164),
		cmocka_unit_test(test_map_refuses_without_actor),
		cmocka_unit_test(test_map_header_and_defaults),
		cmocka_unit_test(test_map_our_sd),
		cmocka_unit_test(test_map_json_body),
		cmocka_unit_test(test_map_bound_service),
		cmocka_unit_test(test_map_resend_same_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
