/*
 * test_event_policy.c - redaction and the event-time check
 * (src/core/event_policy.c) as ingest applies them: default key names in
 * any case and as suffixes, JSON pointers, the sorted "redacted" list, the
 * secret gone from the stored bytes, the future limit (400
 * time_in_future), the past flag "time_skew", the size limit after
 * redaction, the server-only fields refused from clients, option
 * validation; on the fast path (native) and through the reference (flat),
 * every result a canonical fixed point.
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

/* 2024-01-02T03:04:05.123456Z */
#define RECEIVED_US 1704164645123456LL

static struct event_policy pol;
static struct event_ctx ctx = { "tok-w1", "127.0.0.1", NULL, RECEIVED_US, &pol };

static ls_rc parse(const char *body, enum event_format fmt, struct event_batch *b,
		   struct event_error *e)
{
	memset(e, 0, sizeof(*e));
	return event_batch_parse(body, strlen(body), EVENT_BODY_JSON, fmt, &ctx, b, e);
}

static void fixed_point(const struct event_item *it)
{
	char *again = NULL;
	size_t n = 0;

	assert_int_equal(event_canonicalize_text(it->json, it->len, &again, &n, NULL), LS_OK);
	assert_int_equal(n, it->len);
	assert_memory_equal(again, it->json, n);
	free(again);
}

static void expect(const char *json, const char *member, const char *want)
{
	json_t *o = json_loads(json, 0, NULL), *v;
	char *got;

	assert_non_null(o);
	v = json_object_get(o, member);
	got = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (want ? !got || strcmp(got, want) : got != NULL)
		fail_msg("%s: want %s, got %s", member, want ? want : "(absent)",
			 got ? got : "(absent)");
	free(got);
	json_decref(o);
}

#define EV(time, extra)                                                                  \
	"{\"time\":\"" time "\",\"actor\":{\"id\":\"alice\"},\"action\":\"db.connect\","   \
	"\"outcome\":\"success\",\"source\":{\"ip\":\"192.0.2.1\"}" extra "}"

static int setup(void **state)
{
	(void)state;
	event_policy_init(&pol);
	return 0;
}

static void test_redaction(void **state)
{
	struct event_batch b;
	struct event_error e;
	const char *body = EV("2024-01-02T03:00:00Z",
			      ",\"reason\":\"login by alice\",\"details\":{\"password\":\"hunter2\","
			      "\"nested\":{\"DB_Password\":\"pw2\",\"api-key\":\"k3\",\"list\":["
			      "{\"Authorization\":\"Bearer t4\"}],\"x.token\":{\"deep\":\"t5\"}},"
			      "\"passwordless\":\"keep\",\"mytoken\":\"keep\",\"count\":3}");

	(void)state;
	assert_int_equal(parse(body, EVENT_FORMAT_NATIVE, &b, &e), LS_OK);
	fixed_point(&b.items[0]);
	expect(b.items[0].json, "details",
	       "{\"count\":3,\"mytoken\":\"keep\",\"nested\":{\"DB_Password\":\"[REDACTED]\","
	       "\"api-key\":\"[REDACTED]\",\"list\":[{\"Authorization\":\"[REDACTED]\"}],"
	       "\"x.token\":\"[REDACTED]\"},\"password\":\"[REDACTED]\",\"passwordless\":\"keep\"}");
	expect(b.items[0].json, "redacted",
	       "[\"/details/nested/DB_Password\",\"/details/nested/api-key\","
	       "\"/details/nested/list/0/Authorization\",\"/details/nested/x.token\","
	       "\"/details/password\"]");
	expect(b.items[0].json, "reason", "\"login by alice\"");
	for (const char *s = "hunter2\0pw2\0k3\0t4\0t5\0"; *s; s += strlen(s) + 1)
		assert_null(strstr(b.items[0].json, s));
	event_batch_release(&b);

	/* nothing to redact: the bytes are what they were without a policy */
	{
		struct event_batch c;
		const char *plain = EV("2024-01-02T03:00:00Z", ",\"details\":{\"tokens\":1}");

		assert_int_equal(parse(plain, EVENT_FORMAT_NATIVE, &b, &e), LS_OK);
		ctx.policy = NULL;
		assert_int_equal(parse(plain, EVENT_FORMAT_NATIVE, &c, &e), LS_OK);
		ctx.policy = &pol;
		assert_int_equal(b.items[0].len, c.items[0].len);
		assert_memory_equal(b.items[0].json, c.items[0].json, c.items[0].len);
		event_batch_release(&b);
		event_batch_release(&c);
	}
}

static void test_pointers_and_flat(void **state)
{
	struct event_policy saved = pol;
	struct event_batch b;
	struct event_error e;
	struct ls_err err;

	(void)state;
	assert_int_equal(event_policy_add_pointer(&pol, "/details/card/number", &err), LS_OK);
	assert_int_equal(event_policy_add_pointer(&pol, "/reason", &err), LS_OK);
	assert_int_equal(event_policy_add_pointer(&pol, "/details/a~1b", &err), LS_OK);
	assert_int_equal(parse(EV("2024-01-02T03:00:00Z",
				  ",\"reason\":\"pin 1234\",\"details\":{\"card\":{\"number\":"
				  "\"4111111111111111\",\"brand\":\"visa\"},\"a/b\":1}"),
			       EVENT_FORMAT_NATIVE, &b, &e),
			 LS_OK);
	fixed_point(&b.items[0]);
	expect(b.items[0].json, "reason", "\"[REDACTED]\"");
	expect(b.items[0].json, "details",
	       "{\"a/b\":\"[REDACTED]\",\"card\":{\"brand\":\"visa\",\"number\":\"[REDACTED]\"}}");
	expect(b.items[0].json, "redacted",
	       "[\"/details/a~1b\",\"/details/card/number\",\"/reason\"]");
	event_batch_release(&b);

	/* the flat template goes through the reference path: same policy */
	assert_int_equal(parse("{\"timestamp\":\"2024-01-02T03:00:00Z\",\"user_id\":\"bob\","
			       "\"action\":\"login\",\"status\":\"ok\",\"location\":\"10.0.0.1\","
			       "\"details\":{\"Secret\":\"s\"}}",
			       EVENT_FORMAT_FLAT, &b, &e),
			 LS_OK);
	expect(b.items[0].json, "details", "{\"Secret\":\"[REDACTED]\"}");
	expect(b.items[0].json, "redacted", "[\"/details/Secret\"]");
	event_batch_release(&b);

	/* options */
	assert_int_equal(event_policy_add_pointer(&pol, "/actor/id", &err), LS_INVALID);
	assert_int_equal(event_policy_add_pointer(&pol, "/details/", &err), LS_INVALID);
	assert_int_equal(event_policy_add_pointer(&pol, "/details/a~2", &err), LS_INVALID);
	assert_int_equal(event_policy_add_key(&pol, "", &err), LS_INVALID);
	assert_int_equal(event_policy_add_key(&pol, "a b", &err), LS_INVALID);
	assert_int_equal(event_policy_add_key(&pol, "PIN", &err), LS_OK);
	event_policy_drop_defaults(&pol);
	assert_int_equal(pol.nkeys, 1);
	assert_string_equal(pol.keys[0], "pin");
	pol = saved;
}

static void test_time(void **state)
{
	struct event_batch b;
	struct event_error e;

	(void)state;
	/* received 2024-01-02T03:04:05.123456Z; limit 300 s */
	assert_int_equal(parse(EV("2024-01-02T03:09:05Z", ""), EVENT_FORMAT_NATIVE, &b, &e), LS_OK);
	expect(b.items[0].json, "time_skew", NULL);
	event_batch_release(&b);
	assert_int_equal(parse("[" EV("2024-01-02T03:00:00Z", "") "," EV("2024-01-02T03:09:06Z", "") "]",
			       EVENT_FORMAT_NATIVE, &b, &e),
			 LS_INVALID);
	assert_int_equal(e.position, 1);
	assert_string_equal(e.field, "time");
	assert_string_equal(e.code, EVENT_ERR_TIME_FUTURE);
	assert_non_null(strstr(e.reason, "is 300 s ahead of the server's clock"));
	assert_int_equal(parse(EV("2099-01-01T00:00:00Z", ""), EVENT_FORMAT_NATIVE, &b, &e),
			 LS_INVALID);
	assert_string_equal(e.code, EVENT_ERR_TIME_FUTURE);

	/* the past: kept, flagged when a limit is set */
	assert_int_equal(parse(EV("2020-01-01T00:00:00Z", ""), EVENT_FORMAT_NATIVE, &b, &e), LS_OK);
	expect(b.items[0].json, "time_skew", NULL);
	event_batch_release(&b);
	pol.flag_past_us = 86400LL * 1000000;
	assert_int_equal(parse(EV("2020-01-01T00:00:00Z", ""), EVENT_FORMAT_NATIVE, &b, &e), LS_OK);
	fixed_point(&b.items[0]);
	expect(b.items[0].json, "time_skew", "true");
	assert_non_null(strstr(b.items[0].json, "\"time\":\"2020-01-01T00:00:00.000000Z\","
						"\"time_skew\":true,\"writer\":\"tok-w1\"}"));
	event_batch_release(&b);
	/* both: redaction and the flag */
	assert_int_equal(parse(EV("2020-01-01T00:00:00Z", ",\"details\":{\"token\":\"t\"}"),
			       EVENT_FORMAT_NATIVE, &b, &e),
			 LS_OK);
	fixed_point(&b.items[0]);
	expect(b.items[0].json, "time_skew", "true");
	expect(b.items[0].json, "redacted", "[\"/details/token\"]");
	event_batch_release(&b);
	/* a details "time" key later than the top-level one does not fool it */
	assert_int_equal(parse(EV("2024-01-02T03:00:00Z",
				  ",\"details\":{\"x\":{\"time\":\"2010-01-01T00:00:00Z\"}}"),
			       EVENT_FORMAT_NATIVE, &b, &e),
			 LS_OK);
	expect(b.items[0].json, "time_skew", NULL);
	event_batch_release(&b);
	pol.flag_past_us = 0;
	pol.max_future_us = 0;
	assert_int_equal(parse(EV("2099-01-01T00:00:00Z", ""), EVENT_FORMAT_NATIVE, &b, &e), LS_OK);
	event_batch_release(&b);
	pol.max_future_us = EVENT_POLICY_DEFAULT_FUTURE_US;
}

static void test_server_fields_and_size(void **state)
{
	struct event_batch b;
	struct event_error e;
	size_t cap = 80000, n;
	char *body;

	(void)state;
	assert_int_equal(parse(EV("2024-01-02T03:00:00Z", ",\"redacted\":[]"), EVENT_FORMAT_NATIVE,
			       &b, &e),
			 LS_INVALID);
	assert_string_equal(e.field, "redacted");
	assert_non_null(strstr(e.reason, "set by the server"));
	assert_int_equal(parse(EV("2024-01-02T03:00:00Z", ",\"time_skew\":false"),
			       EVENT_FORMAT_NATIVE, &b, &e),
			 LS_INVALID);
	assert_string_equal(e.field, "time_skew");

	/* just under the entry limit, then over it once redacted */
	body = malloc(cap);
	assert_non_null(body);
	n = (size_t)snprintf(body, cap, "%s", EV("2024-01-02T03:00:00Z", ",\"details\":{"));
	n--;	/* drop the closing brace of EV, re-added below */
	for (int i = 0; n < 63000; i++)
		n += (size_t)snprintf(body + n, cap - n, "%s\"k%05d_token\":\"\"", i ? "," : "", i);
	snprintf(body + n, cap - n, "}}");
	assert_int_equal(parse(body, EVENT_FORMAT_NATIVE, &b, &e), LS_LIMIT);
	assert_non_null(strstr(e.reason, "after redaction"));
	ctx.policy = NULL;
	assert_int_equal(parse(body, EVENT_FORMAT_NATIVE, &b, &e), LS_OK);
	event_batch_release(&b);
	ctx.policy = &pol;
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_pointers_and_flat),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_server_fields_and_size),
	};

	return cmocka_run_group_tests_name("event_policy", tests, setup, NULL);
}
