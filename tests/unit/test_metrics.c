/*
 * test_metrics.c - the Prometheus text rendering (metrics.h): every family
 * has exactly one HELP and one TYPE line, before its samples; the fsync
 * histogram's buckets are cumulative and end with +Inf = _count; request
 * counters are printed by route label and status, with unknown routes
 * under "other" and impossible statuses dropped; values the caller does not
 * know (checkpoint age, disk, alerts) are left out rather than printed as 0;
 * the syslog listeners' counters and gauge by listener (and result).
 * The format itself is also checked with promtool by t0520-metrics.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/metrics.h"

/* two rows share a label, as GET and POST /v1/events do in the real table */
static const char *const labels[] = { "/healthz", "/v1/events/{index}", "/v1/events",
				      "/v1/events" };
static const char *const methods[] = { "GET", "GET", "POST", "GET" };
#define NLABELS 4

static char *render(struct metrics *m, const struct metrics_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(m, s, &text, &len), LS_OK);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_true(len > 0 && text[len - 1] == '\n');
	return text;
}

/* The value of the sample line starting with series + " ", or -1. */
static long long sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	}
	return -1;
}

static int count_lines(const char *text, const char *prefix)
{
	int c = 0;
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, n) == 0)
			c++;
	return c;
}

/* How many sample lines repeat an earlier line's series (name and labels,
 * everything before the value): a scrape must name each series once. */
static int repeated_series(const char *text)
{
	int rep = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *sp = strchr(p, ' ');
		if (p[0] == '#' || !sp)
			continue;
		for (const char *q = text; q < p; q = strchr(q, '\n') + 1)
			if (q[0] != '#' && strncmp(q, p, (size_t)(sp - p + 1)) == 0)
				rep++;
	}
	return rep;
}

/* The first sample line of a family (name, name{...} or name_suffix). */
static const char *first_sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (p[0] != '#' && strncmp(p, name, n) == 0 &&
		    (p[n] == ' ' || p[n] == '{' || p[n] == '_'))
			return p;
	return NULL;
}

static void test_families(void **state)
{
	struct metrics *m;
	struct metrics_snapshot s;
	char *t;
	/* Every "# TYPE name" line must come before any sample of name and
	 * appear once; every family has a HELP line. */
	const char *names[] = { "logseal_ingest_events_total", "logseal_ingest_batches_total",
				"logseal_ingest_bytes_total", "logseal_fsync_seconds",
				"logseal_http_requests_total", "logseal_auth_denials_total",
				"logseal_tree_size", "logseal_index_lag_entries",
				"logseal_stream_clients", "logseal_stream_overflows_total",
				"logseal_ingest_rejected_total" };

	(void)state;
	assert_int_equal(metrics_new(labels, methods, NLABELS, &m), LS_OK);
	memset(&s, 0, sizeof(s));
	s.tree_size = 10;
	s.index_watermark = 7;
	t = render(m, &s);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char help[128], type[128];
		const char *tp, *first;

		snprintf(help, sizeof(help), "# HELP %s ", names[i]);
		snprintf(type, sizeof(type), "# TYPE %s ", names[i]);
		assert_int_equal(count_lines(t, help), 1);
		assert_int_equal(count_lines(t, type), 1);
		tp = strstr(t, type);
		assert_true(strstr(t, help) < tp);
		/* (no request was counted: that family has no sample yet) */
		first = first_sample(t, names[i]);
		assert_true(first || !strcmp(names[i], "logseal_http_requests_total"));
		assert_true(!first || tp < first);
	}
	assert_int_equal(sample(t, "logseal_index_lag_entries"), 3);
	assert_int_equal(sample(t, "logseal_tree_size"), 10);
	/* unknown values are left out (metrics.h invariant 3) */
	assert_null(strstr(t, "logseal_checkpoint_age_seconds"));
	assert_null(strstr(t, "logseal_disk_free_bytes"));
	assert_null(strstr(t, "logseal_alerts_fired_total"));
	free(t);

	s.has_alerts = 1;
	s.alerts.alerts_fired_total = 4;
	s.alerts.webhook_failures_total = 1;
	s.has_disk = 1;
	s.disk_free_bytes = 123456789;
	s.index_watermark = 12;	/* ahead of tree_size: lag is 0, not negative */
	t = render(m, &s);
	assert_int_equal(sample(t, "logseal_alerts_fired_total"), 4);
	assert_int_equal(sample(t, "logseal_webhook_failures_total"), 1);
	assert_int_equal(sample(t, "logseal_disk_free_bytes"), 123456789);
	assert_int_equal(sample(t, "logseal_index_lag_entries"), 0);
	free(t);
	metrics_free(m);
}

static void test_histogram(void **state)
{
	struct metrics *m;
	struct metrics_snapshot s;
	char *t, series[64];
	long long prev = 0;

	(void)state;
	assert_int_equal(metrics_new(labels, methods, NLABELS, &m), LS_OK);
	memset(&s, 0, sizeof(s));
	/* 3 commits in the first bucket, 2 in the fifth, 1 beyond the last */
	s.log.sync_buckets[0] = 3;
	s.log.sync_buckets[4] = 2;
	s.log.sync_count = 6;
	s.log.sync_seconds = 3.5;
	t = render(m, &s);
	for (int i = 0; i < LOG_SYNC_BUCKETS; i++) {
		long long v;
		snprintf(series, sizeof(series), "logseal_fsync_seconds_bucket{le=\"%g\"}",
			 log_sync_bounds[i]);
		v = sample(t, series);
		assert_true(v >= prev); /* cumulative */
		prev = v;
	}
	assert_int_equal(prev, 5);
	assert_int_equal(sample(t, "logseal_fsync_seconds_bucket{le=\"+Inf\"}"), 6);
	assert_int_equal(sample(t, "logseal_fsync_seconds_count"), 6);
	assert_non_null(strstr(t, "logseal_fsync_seconds_sum 3.5"));
	assert_non_null(strstr(t, "# TYPE logseal_fsync_seconds histogram\n"));
	free(t);
	metrics_free(m);
}

static void test_requests(void **state)
{
	struct metrics *m;
	struct metrics_snapshot s;
	char *t;

	(void)state;
	assert_int_equal(metrics_new(labels, methods, NLABELS, &m), LS_OK);
	memset(&s, 0, sizeof(s));
	metrics_http(m, 1, 200);
	metrics_http(m, 1, 200);
	metrics_http(m, 1, 404);
	metrics_http(m, 0, 503);
	metrics_http(m, 99, 404);	/* no such route: "other" */
	metrics_http(m, 2, 200);
	metrics_http(m, 2, 200);
	metrics_http(m, 2, 200);
	metrics_http(m, 3, 200);
	metrics_http(m, 0, 42);		/* not an HTTP status: dropped */
	metrics_http(m, 0, 600);
	metrics_auth_denial(m, 401);
	metrics_auth_denial(m, 403);
	metrics_auth_denial(m, 403);
	t = render(m, &s);
	assert_int_equal(sample(t, "logseal_http_requests_total{method=\"GET\",route=\"/v1/events/{index}\",status=\"200\"}"), 2);
	assert_int_equal(sample(t, "logseal_http_requests_total{method=\"GET\",route=\"/v1/events/{index}\",status=\"404\"}"), 1);
	assert_int_equal(sample(t, "logseal_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"503\"}"), 1);
	assert_int_equal(sample(t, "logseal_http_requests_total{method=\"other\",route=\"other\",status=\"404\"}"), 1);
	/* GET and POST of one route: two series, each once (it was the same
	 * {route,status} twice) */
	assert_int_equal(sample(t, "logseal_http_requests_total{method=\"POST\",route=\"/v1/events\",status=\"200\"}"), 3);
	assert_int_equal(sample(t, "logseal_http_requests_total{method=\"GET\",route=\"/v1/events\",status=\"200\"}"), 1);
	assert_int_equal(count_lines(t, "logseal_http_requests_total{"), 6);
	assert_int_equal(repeated_series(t), 0);
	assert_int_equal(sample(t, "logseal_auth_denials_total{status=\"401\"}"), 1);
	assert_int_equal(sample(t, "logseal_auth_denials_total{status=\"403\"}"), 2);
	free(t);
	metrics_free(m);
	metrics_free(NULL);
	metrics_http(NULL, 0, 200);	/* no metrics: a no-op */
	assert_int_equal(metrics_new(labels, methods, METRICS_MAX_ROUTES + 1, &m), LS_LIMIT);
}

/* The syslog listeners' series: both kinds always (0 when unused), each
 * family's HELP and TYPE once, connections open going down again. */
static void test_syslog(void **state)
{
	struct metrics *m;
	struct metrics_snapshot s;
	char *t;
	const char *fam[][2] = { { "logseal_syslog_connections_total", "counter" },
				 { "logseal_syslog_connections_open", "gauge" },
				 { "logseal_syslog_messages_total", "counter" },
				 { "logseal_syslog_bytes_total", "counter" } };

	(void)state;
	assert_int_equal(metrics_new(labels, methods, NLABELS, &m), LS_OK);
	memset(&s, 0, sizeof(s));
	metrics_syslog_conn(m, METRICS_LSN_RELP, 1);
	metrics_syslog_conn(m, METRICS_LSN_RELP, 1);
	metrics_syslog_conn(m, METRICS_LSN_RELP, 0);
	metrics_syslog_conn(m, METRICS_LSN_SYSLOG_TLS, 1);
	metrics_syslog_msgs(m, METRICS_LSN_RELP, METRICS_MSG_ACCEPTED, 50);
	metrics_syslog_msgs(m, METRICS_LSN_RELP, METRICS_MSG_ACCEPTED, 3);
	metrics_syslog_msgs(m, METRICS_LSN_RELP, METRICS_MSG_REFUSED, 2);
	metrics_syslog_msgs(m, METRICS_LSN_SYSLOG_TLS, METRICS_MSG_FAILED, 7);
	metrics_syslog_msgs(m, METRICS_LSN_SYSLOG_TLS, METRICS_MSG_REFUSED, 0);
	metrics_syslog_bytes(m, METRICS_LSN_RELP, 1000);
	metrics_syslog_bytes(m, METRICS_LSN_RELP, 234);
	metrics_syslog_msgs(m, METRICS_LSN_N, METRICS_MSG_ACCEPTED, 9);	/* out of range: ignored */
	metrics_syslog_bytes(NULL, METRICS_LSN_RELP, 1);		/* no metrics: a no-op */
	t = render(m, &s);
	for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		char help[128], type[128];

		snprintf(help, sizeof(help), "# HELP %s ", fam[i][0]);
		snprintf(type, sizeof(type), "# TYPE %s %s\n", fam[i][0], fam[i][1]);
		assert_int_equal(count_lines(t, help), 1);
		assert_int_equal(count_lines(t, type), 1);
		assert_true(strstr(t, help) < strstr(t, type));
		assert_true(strstr(t, type) < first_sample(t, fam[i][0]));
	}
	assert_int_equal(repeated_series(t), 0);
	assert_int_equal(sample(t, "logseal_syslog_connections_total{listener=\"relp\"}"), 2);
	assert_int_equal(sample(t, "logseal_syslog_connections_open{listener=\"relp\"}"), 1);
	assert_int_equal(sample(t, "logseal_syslog_connections_total{listener=\"syslog-tls\"}"), 1);
	assert_int_equal(sample(t, "logseal_syslog_connections_open{listener=\"syslog-tls\"}"), 1);
	assert_int_equal(sample(t, "logseal_syslog_messages_total{listener=\"relp\",result=\"accepted\"}"), 53);
	assert_int_equal(sample(t, "logseal_syslog_messages_total{listener=\"relp\",result=\"refused\"}"), 2);
	assert_int_equal(sample(t, "logseal_syslog_messages_total{listener=\"relp\",result=\"failed\"}"), 0);
	assert_int_equal(sample(t, "logseal_syslog_messages_total{listener=\"syslog-tls\",result=\"failed\"}"), 7);
	assert_int_equal(sample(t, "logseal_syslog_messages_total{listener=\"syslog-tls\",result=\"accepted\"}"), 0);
	assert_int_equal(count_lines(t, "logseal_syslog_messages_total{"), 6);
	assert_int_equal(sample(t, "logseal_syslog_bytes_total{listener=\"relp\"}"), 1234);
	assert_int_equal(sample(t, "logseal_syslog_bytes_total{listener=\"syslog-tls\"}"), 0);
	free(t);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_syslog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
