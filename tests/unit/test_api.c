/*
 * test_api.c - endpoint handlers called in-process with a made-up request
 * (no HTTP): the ls_rc -> HTTP status table and the error bodies built from
 * it, handlers that refuse before touching the log (no engine, no stream
 * hub, no metrics, unexpected parameters), the dashboard's files, and an
 * audited read against a real log in a temporary directory: the read's
 * event is appended before the 200, a read the log cannot record is
 * refused, and DELETE handlers find their id in the request's tail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"
#include "store/log.h"

static struct request fake_request(const char *method, const char *path)
{
	struct request q;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.path = path;
	q.body = "";
	q.received_us = 1700000000000000;
	snprintf(q.remote_ip, sizeof(q.remote_ip), "127.0.0.1");
	return q;
}

static void reply_release(struct reply *r)
{
	json_decref(r->body);
	free(r->raw);
	if (r->stream_free)
		r->stream_free(r->stream_ctx);
	memset(r, 0, sizeof(*r));
}

static void expect_error(struct reply *r, unsigned status, const char *code, const char *msg)
{
	json_t *e = json_object_get(r->body, "error");

	assert_int_equal(r->status, status);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	if (msg)
		assert_string_equal(json_string_value(json_object_get(e, "message")), msg);
}

/* ======================================================= ls_rc -> HTTP */

static void test_status_table(void **state)
{
	assert_int_equal(api_status_of(LS_OK, API_RC_READ), 200);
	assert_int_equal(api_status_of(LS_NOMEM, API_RC_READ), 503);
	assert_int_equal(api_status_of(LS_IO, API_RC_READ), 500);
	assert_int_equal(api_status_of(LS_LIMIT, API_RC_READ), 500);
	assert_int_equal(api_status_of(LS_CORRUPT, API_RC_READ), 500);

	assert_int_equal(api_status_of(LS_BUSY, API_RC_WRITE), 503);
	assert_int_equal(api_status_of(LS_NOMEM, API_RC_WRITE), 503);
	assert_int_equal(api_status_of(LS_NOSPACE, API_RC_WRITE), 507);
	assert_int_equal(api_status_of(LS_LIMIT, API_RC_WRITE), 413);
	assert_int_equal(api_status_of(LS_FAILED, API_RC_WRITE), 503);
	assert_int_equal(api_status_of(LS_IO, API_RC_WRITE), 500);

	assert_int_equal(api_status_of(LS_NOSPACE, API_RC_AUDIT), 507);
	assert_int_equal(api_status_of(LS_FAILED, API_RC_AUDIT), 503);
	assert_int_equal(api_status_of(LS_IO, API_RC_AUDIT), 503);
	assert_int_equal(api_status_of(LS_NOMEM, API_RC_AUDIT), 503);
}

static void test_error_bodies(void **state)
{
	struct server s;
	struct reply r = { 0 };
	struct ls_err err = { "" };

	memset(&s, 0, sizeof(s));
	/* the fixed messages, and Retry-After, come from the table */
	api_reply_rc(&s, &r, LS_NOMEM, API_RC_READ, "ignored %d", 1);
	expect_error(&r, 503, "busy", "out of memory");
	assert_int_equal(r.retry_after, 1);
	reply_release(&r);

	api_reply_rc(&s, &r, LS_IO, API_RC_READ, "reading the tile: %s", "short read");
	expect_error(&r, 500, "internal", "reading the tile: short read");
	assert_int_equal(r.retry_after, 0);
	reply_release(&r);

	reply_append_error(&s, &r, LS_BUSY, NULL);
	expect_error(&r, 503, "busy", "the log is saturated; retry later");
	assert_int_equal(r.retry_after, 1);
	reply_release(&r);

	reply_append_error(&s, &r, LS_NOSPACE, NULL);
	expect_error(&r, 507, "no_space", "the disk is full; nothing of the batch was kept");
	assert_int_equal(r.retry_after, 0);
	reply_release(&r);

	snprintf(err.msg, sizeof(err.msg), "event 3 is larger than 1 MiB");
	reply_append_error(&s, &r, LS_LIMIT, &err);
	expect_error(&r, 413, "too_large", "event 3 is larger than 1 MiB");
	reply_release(&r);

	/* only a write's LS_FAILED marks the server unhealthy */
	api_reply_rc(&s, &r, LS_FAILED, API_RC_AUDIT, "x");
	expect_error(&r, 503, "log_failed", NULL);
	assert_int_equal(r.retry_after, 60);
	assert_int_equal(atomic_load(&s.failed), 0);
	reply_release(&r);
	reply_append_error(&s, &r, LS_FAILED, NULL);
	expect_error(&r, 503, "log_failed",
		     "the log refuses writes after a storage failure; the operator must restart it");
	assert_int_equal(r.retry_after, 60);
	assert_int_equal(atomic_load(&s.failed), 1);
	reply_release(&r);

	api_reply_rc(&s, &r, LS_IO, API_RC_AUDIT,
		     "this read cannot be recorded in the log (%s), so it is refused", "I/O error");
	expect_error(&r, 503, "audit_failed",
		     "this read cannot be recorded in the log (I/O error), so it is refused");
	assert_int_equal(r.retry_after, 1);
	reply_release(&r);
}

/* ======================================================= refusals */

static void test_refusals(void **state)
{
	struct server s;
	struct reply r = { 0 };
	struct request q = fake_request("GET", "/v1/alerts");
	struct query_arg arg = { "x", "1" };

	memset(&s, 0, sizeof(s));
	/* no alert engine: every alert route says so */
	api_alerts_list(&s, &q, &r);
	expect_error(&r, 503, "busy", "the alert engine is not running");
	reply_release(&r);
	api_rules_get(&s, &q, &r);
	expect_error(&r, 503, "busy", "the alert engine is not running");
	reply_release(&r);

	/* no stream hub */
	q.path = "/v1/stream";
	api_stream(&s, &q, &r);
	expect_error(&r, 503, "busy", "live streams are not available");
	reply_release(&r);

	/* /metrics takes no parameters, and needs its counters */
	q.path = "/metrics";
	q.args = &arg;
	q.nargs = 1;
	api_metrics(&s, &q, &r);
	expect_error(&r, 400, "bad_parameter", "this endpoint takes no parameters");
	reply_release(&r);
	q.nargs = 0;
	api_metrics(&s, &q, &r);
	expect_error(&r, 503, "busy", "metrics are not available");
	reply_release(&r);
}

static void test_web(void **state)
{
	struct reply r = { 0 };
	struct request q = fake_request("GET", "/");
	const char *etag;

	api_web_get(NULL, &q, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.raw_static);
	assert_true(r.raw_len > 0);
	assert_int_equal(r.dashboard, 1);
	assert_non_null(r.etag);
	etag = r.etag;
	reply_release(&r);

	/* the ETag a browser sends back gives a 304 without a body */
	q.if_none_match = etag;
	api_web_get(NULL, &q, &r);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.raw_len, 0);
	reply_release(&r);

	q.if_none_match = NULL;
	q.path = "/no-such-file.js";
	api_web_get(NULL, &q, &r);
	expect_error(&r, 404, "not_found", "no such endpoint");
	reply_release(&r);
}

/* ======================================================= audited read */

static void test_audited_read(void **state)
{
	char root[] = "/tmp/test_api.XXXXXX", dir[128], cmd[200];
	struct log_opts lo = { 0 };
	struct server s;
	struct auth_principal who = { .id = "tok_0123456789abcdef", .roles = AUTH_ROLE_ADMIN };
	struct request q = fake_request("GET", "/v1/tokens");
	struct reply r = { 0 };
	struct ls_err err = { "" };
	json_t *tokens;
	uint64_t before;

	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/d", root);
	assert_int_equal(log_init(dir, "log.test/api", &err), LS_OK);
	assert_int_equal(auth_bootstrap(dir, &err), LS_OK);
	memset(&s, 0, sizeof(s));
	s.dir = dir;
	lo.dir = dir;
	assert_int_equal(log_open(&lo, &s.log, NULL, &err), LS_OK);
	assert_int_equal(auth_open(dir, &s.auth, &err), LS_OK);
	q.who = &who;

	/* the token list is shown once the read's event is in the log */
	before = log_size(s.log);
	api_tokens_get(&s, &q, &r);
	assert_int_equal(r.status, 200);
	tokens = json_object_get(r.body, "tokens");
	assert_true(json_is_array(tokens));
	assert_int_equal(json_array_size(tokens), 1);
	assert_int_equal(log_size(s.log), before + 1);
	reply_release(&r);

	/* healthz reads the size without writing */
	api_healthz(&s, &q, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "ok");
	assert_int_equal(json_integer_value(json_object_get(r.body, "tree_size")), before + 1);
	reply_release(&r);

	/* DELETE handlers take their id from the prefix route's tail */
	{
		struct request d = fake_request("DELETE", "/v1/tokens/tok_0000000000000000");

		d.who = &who;
		d.tail = d.path + strlen("/v1/tokens/");
		api_tokens_delete(&s, &d, &r);
		expect_error(&r, 404, "not_found", "no token with this id");
		reply_release(&r);
		d.path = "/v1/holds/hold_nope";
		d.tail = d.path + strlen("/v1/holds/");
		api_holds_delete(&s, &d, &r);
		expect_error(&r, 404, "not_found", "no hold with this id");
		reply_release(&r);
	}

	/* a read whose event is refused is not served (fail closed): an
	 * audit event of over the entry cap cannot be appended */
	{
		char *huge = malloc(2u << 20);
		json_t *d;

		assert_non_null(huge);
		memset(huge, 'a', (2u << 20) - 1);
		huge[(2u << 20) - 1] = 0;
		d = json_pack("{ss}", "pad", huge);
		free(huge);
		tokens = json_pack("{s[]}", "tokens");
		before = log_size(s.log);
		assert_int_not_equal(api_reply_audited(&s, &q, "logseal.tokens.list", d, &tokens,
						       &r),
				     LS_OK);
		json_decref(d);
		assert_non_null(tokens);	/* left to the caller */
		json_decref(tokens);
		assert_int_equal(r.status, 503);
		assert_null(json_object_get(r.body, "tokens"));
		assert_int_equal(log_size(s.log), before);
		reply_release(&r);
	}

	auth_free(s.auth);
	assert_int_equal(log_close(s.log, &err), LS_OK);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_error_bodies),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_web),
		cmocka_unit_test(test_audited_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
