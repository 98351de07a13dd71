/*
 * test_event_partial.c - batches taken event by event (event_partial.c):
 * a bad element among good ones is refused alone, with its position, field
 * and its bytes exactly as sent (a span of the body, also for a malformed
 * element and for a pretty-printed Kubernetes EventList); the accepted
 * entries are byte for byte what the all-or-nothing parse makes of the same
 * events; NDJSON positions skip blank lines as event_batch_parse() does; a
 * body that cannot be cut into items is refused whole; and the excerpt of
 * the rejection record escapes controls, keeps whole UTF-8 characters and
 * says when it cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/event.h"

static const struct event_ctx ctx = {
	.writer = "tok_0123456789abcdef",
	.remote_ip = "192.0.2.1",
	.bound_service = NULL,
	.received_us = 1700000000000000,
};

#define GOOD(n)                                                                          \
	"{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"u" #n "\"},\"action\":\"a.b\"," \
	"\"outcome\":\"success\",\"source\":{\"ip\":\"10.0.0." #n "\"}}"
#define NOSOURCE "{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":\"x\"},\"action\":\"a.b\",\"outcome\":\"success\"}"
#define MALFORMED "{\"time\": [1, ], \"x\": }"

static void span_is(const struct event_reject *r, const char *want)
{
	assert_int_equal(r->len, strlen(want));
	assert_memory_equal(r->bytes, want, r->len);
}

static void test_array(void **state)
{
	static const char body[] = "[ " GOOD(1) ",\n  " NOSOURCE " , " MALFORMED ",\t" GOOD(4) " ]\n";
	static const char good_only[] = "[" GOOD(1) "," GOOD(4) "]";
	struct event_partial p;
	struct event_batch ref;
	struct event_error e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(event_batch_parse_partial(body, strlen(body), EVENT_BODY_JSON,
						   EVENT_FORMAT_NATIVE, &ctx, &p, &e), LS_OK);
	assert_int_equal(p.total, 4);
	assert_int_equal(p.ok.n, 2);
	assert_int_equal(p.ok_pos[0], 0);
	assert_int_equal(p.ok_pos[1], 3);
	assert_int_equal(p.nrej, 2);
	assert_int_equal(p.rej[0].e.position, 1);
	assert_string_equal(p.rej[0].e.field, "source");
	assert_int_equal(p.rej[0].rc, LS_INVALID);
	span_is(&p.rej[0], NOSOURCE);	/* white space around it trimmed */
	assert_int_equal(p.rej[1].e.position, 2);
	assert_non_null(strstr(p.rej[1].e.reason, "invalid JSON"));
	span_is(&p.rej[1], MALFORMED);

	/* the accepted entries are what all-or-nothing makes of them */
	assert_int_equal(event_batch_parse(good_only, strlen(good_only), EVENT_BODY_JSON,
					   EVENT_FORMAT_NATIVE, &ctx, &ref, &e), LS_OK);
	assert_int_equal(ref.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(p.ok.items[i].len, ref.items[i].len);
		assert_memory_equal(p.ok.items[i].json, ref.items[i].json, ref.items[i].len);
	}
	event_batch_release(&ref);
	event_partial_release(&p);
	event_partial_release(&p);	/* released twice: a no-op */

	/* a single object is a batch of one; refused, it is still an item */
	assert_int_equal(event_batch_parse_partial(NOSOURCE "\n", strlen(NOSOURCE) + 1,
						   EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, &p,
						   &e), LS_OK);
	assert_int_equal(p.total, 1);
	assert_int_equal(p.nrej, 1);
	span_is(&p.rej[0], NOSOURCE);
	event_partial_release(&p);

	/* a trailing comma is an empty element, refused alone */
	{
		static const char tc[] = "[" GOOD(1) ",]";
		assert_int_equal(event_batch_parse_partial(tc, strlen(tc), EVENT_BODY_JSON,
							   EVENT_FORMAT_NATIVE, &ctx, &p, &e), LS_OK);
		assert_int_equal(p.ok.n, 1);
		assert_int_equal(p.nrej, 1);
		assert_int_equal(p.rej[0].len, 0);
		event_partial_release(&p);
	}
}

static void test_whole_body_refused(void **state)
{
	static const char *const bodies[] = { "", "  \n", "[", "[" GOOD(1) ",", "[" GOOD(1) "] x",
					      "[]", "[\"abc" };
	struct event_partial p;
	struct event_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(event_batch_parse_partial(bodies[i], strlen(bodies[i]),
							   EVENT_BODY_JSON, EVENT_FORMAT_NATIVE,
							   &ctx, &p, &e), LS_INVALID);
		assert_true(e.reason[0] != 0);
		assert_null(p.rej);
		assert_null(p.ok.items);
	}
}

static void test_ndjson(void **state)
{
	static const char body[] = GOOD(1) "\n\n  \r\nnot json\r\n" GOOD(2) "\n" NOSOURCE;
	struct event_partial p;
	struct event_error e;

	(void)state;
	assert_int_equal(event_batch_parse_partial(body, strlen(body), EVENT_BODY_NDJSON,
						   EVENT_FORMAT_NATIVE, &ctx, &p, &e), LS_OK);
	assert_int_equal(p.total, 4);
	assert_int_equal(p.ok.n, 2);
	assert_int_equal(p.ok_pos[1], 2);
	assert_int_equal(p.nrej, 2);
	assert_int_equal(p.rej[0].e.position, 1);
	assert_non_null(strstr(p.rej[0].e.reason, "line 4: "));
	span_is(&p.rej[0], "not json");	/* without its \r */
	assert_int_equal(p.rej[1].e.position, 3);
	span_is(&p.rej[1], NOSOURCE);
	event_partial_release(&p);
}

static void test_flat_and_denied(void **state)
{
	static const char flat[] =
		"[{\"timestamp\":\"2024-01-01T00:00:00Z\",\"user_id\":\"u\",\"action\":\"a.b\","
		"\"status\":\"success\",\"location\":\"10.0.0.1\"},"
		"{\"timestamp\":\"2024-01-01T00:00:00Z\",\"action\":\"a.b\",\"status\":\"success\","
		"\"location\":\"10.0.0.1\"}]";
	static const char svc[] = "[" GOOD(1) ",{\"time\":\"2024-01-01T00:00:00Z\",\"actor\":{\"id\":"
				  "\"x\"},\"action\":\"a.b\",\"outcome\":\"success\",\"source\":"
				  "{\"ip\":\"10.0.0.1\"},\"service\":\"billing\"}]";
	struct event_ctx bound = ctx;
	struct event_partial p;
	struct event_error e;

	(void)state;
	assert_int_equal(event_batch_parse_partial(flat, strlen(flat), EVENT_BODY_JSON,
						   EVENT_FORMAT_FLAT, &ctx, &p, &e), LS_OK);
	assert_int_equal(p.ok.n, 1);
	assert_int_equal(p.nrej, 1);
	assert_string_equal(p.rej[0].e.field, "user_id");	/* the flat name */
	event_partial_release(&p);

	bound.bound_service = "shop";
	assert_int_equal(event_batch_parse_partial(svc, strlen(svc), EVENT_BODY_JSON,
						   EVENT_FORMAT_NATIVE, &bound, &p, &e), LS_OK);
	assert_int_equal(p.nrej, 1);
	assert_int_equal(p.rej[0].rc, LS_DENIED);
	event_partial_release(&p);
}

#define K8S_ITEM(id, ips)                                                                  \
	"{\"kind\": \"Event\", \"apiVersion\": \"audit.k8s.io/v1\", \"level\": \"Metadata\",\n" \
	"   \"auditID\": \"" id "\", \"stage\": \"ResponseComplete\", \"verb\": \"get\",\n"     \
	"   \"user\": {\"username\": \"alice\"}" ips ",\n"                                       \
	"   \"objectRef\": {\"resource\": \"pods\", \"note\": \"a ] and a \\\" in a string\"},\n" \
	"   \"stageTimestamp\": \"2024-01-01T00:00:00Z\"}"

static void test_k8s(void **state)
{
	static const char item2[] = K8S_ITEM("b2", "");
	static const char body[] =
		"{\"metadata\": {\"x\": [1, {\"items\": 2}]},\n \"kind\": \"EventList\",\n"
		" \"apiVersion\": \"audit.k8s.io/v1\",\n \"items\": [\n  "
		K8S_ITEM("a1", ", \"sourceIPs\": [\"10.0.0.1\"]") ",\n  " K8S_ITEM("b2", "") ",\n  "
		K8S_ITEM("c3", ", \"sourceIPs\": [\"10.0.0.3\"]") "\n ]\n}\n";
	static const char notlist[] = "{\"kind\":\"EventList\",\"apiVersion\":\"v2\",\"items\":[]}";
	struct event_partial p;
	struct event_error e;

	(void)state;
	assert_int_equal(event_k8s_parse_partial(body, strlen(body), &ctx, &p, &e), LS_OK);
	assert_int_equal(p.total, 3);
	assert_int_equal(p.ok.n, 2);
	assert_int_equal(p.nrej, 1);
	assert_int_equal(p.rej[0].e.position, 1);
	assert_string_equal(p.rej[0].e.field, "sourceIPs");
	assert_null(p.rej[0].own);	/* a span of the body, not a copy */
	span_is(&p.rej[0], item2);
	event_partial_release(&p);

	memset(&e, 0, sizeof(e));
	assert_int_equal(event_k8s_parse_partial(notlist, strlen(notlist), &ctx, &p, &e),
			 LS_INVALID);
	assert_string_equal(e.field, "apiVersion");
}

static void test_excerpt(void **state)
{
	char out[4 * 16 + 1], big[600];

	(void)state;
	assert_int_equal(event_excerpt("a\x01" "b\\c\x7f", 6, 16, out, sizeof(out)), 0);
	assert_string_equal(out, "a\\x01b\\\\c\\x7f");
	/* "\xc3\xa9" (U+00E9) kept whole; one that would be cut is left out */
	assert_int_equal(event_excerpt("ab\xc3\xa9\xc3\xa9", 6, 5, out, sizeof(out)), 1);
	assert_string_equal(out, "ab\xc3\xa9");
	/* invalid UTF-8 and a character that hides text are escaped */
	assert_int_equal(event_excerpt("\xff" "x\xe2\x80\xae", 5, 16, out, sizeof(out)), 0);
	assert_string_equal(out, "\\xffx\\xe2\\x80\\xae");
	memset(big, 'z', sizeof(big));
	assert_int_equal(event_excerpt(big, sizeof(big), 16, out, sizeof(out)), 1);
	assert_int_equal(strlen(out), 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array),
		cmocka_unit_test(test_whole_body_refused),
		cmocka_unit_test(test_ndjson),
		cmocka_unit_test(test_flat_and_denied),
		cmocka_unit_test(test_k8s),
		cmocka_unit_test(test_excerpt),
	};
	return cmocka_run_group_tests_name("event_partial", tests, NULL, NULL);
}
