/*
 * metrics.c - request counters and the Prometheus text rendering (metrics.h).
 *
 * Requests are counted in a fixed table [route][status - 100] of relaxed
 * atomics: a reply costs one atomic add and no lock, and the table (49 x
 * 500 x 8 bytes) is small enough that a scrape simply walks it, printing
 * only the series that happened.  Statuses outside 100..599 cannot be sent
 * by libmicrohttpd and are not counted.
 *
 * The text is built in a growing buffer (struct buf) that remembers the
 * first allocation failure, so the renderer is a straight list of prints
 * and one check at the end.
 */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MIN 100
#define STATUS_SPAN 500

struct metrics {
	const char *const *labels, *const *methods;
	size_t nroutes;
	atomic_uint_fast64_t req[METRICS_MAX_ROUTES + 1][STATUS_SPAN];
	atomic_uint_fast64_t denied_401, denied_403;
	atomic_uint_fast64_t rejected[METRICS_REJ_N];	/* by enum metrics_rejected */
	/* the syslog listeners, by enum metrics_listener (zeroed by calloc) */
	atomic_uint_fast64_t sl_conns[METRICS_LSN_N], sl_open[METRICS_LSN_N];
	atomic_uint_fast64_t sl_bytes[METRICS_LSN_N], sl_msgs[METRICS_LSN_N][METRICS_MSG_N];
};

ls_rc metrics_new(const char *const *route_labels, const char *const *route_methods,
		  size_t nroutes, struct metrics **out)
{
	struct metrics *m;

	*out = NULL;
	if (nroutes > METRICS_MAX_ROUTES)
		return LS_LIMIT;
	m = calloc(1, sizeof(*m));
	if (!m)
		return LS_NOMEM;
	m->labels = route_labels;
	m->methods = route_methods;
	m->nroutes = nroutes;
	for (size_t r = 0; r <= METRICS_MAX_ROUTES; r++)
		for (size_t i = 0; i < STATUS_SPAN; i++)
			atomic_init(&m->req[r][i], 0);
	atomic_init(&m->denied_401, 0);
	atomic_init(&m->denied_403, 0);
	for (int i = 0; i < METRICS_REJ_N; i++)
		atomic_init(&m->rejected[i], 0);
	for (int i = 0; i < METRICS_LSN_N; i++) {
		atomic_init(&m->sl_conns[i], 0);
		atomic_init(&m->sl_open[i], 0);
		atomic_init(&m->sl_bytes[i], 0);
		for (int k = 0; k < METRICS_MSG_N; k++)
			atomic_init(&m->sl_msgs[i][k], 0);
	}
	*out = m;
	return LS_OK;
}

void metrics_free(struct metrics *m)
{
	free(m);
}

void metrics_http(struct metrics *m, size_t route, unsigned status)
{
	if (!m || status < STATUS_MIN || status >= STATUS_MIN + STATUS_SPAN)
		return;
	if (route > m->nroutes)
		route = m->nroutes;
	atomic_fetch_add_explicit(&m->req[route][status - STATUS_MIN], 1, memory_order_relaxed);
}

void metrics_auth_denial(struct metrics *m, unsigned status)
{
	if (!m)
		return;
	atomic_fetch_add_explicit(status == 401 ? &m->denied_401 : &m->denied_403, 1,
				  memory_order_relaxed);
}

void metrics_ingest_rejected(struct metrics *m, enum metrics_rejected from, uint64_t n)
{
	if (m && n && from < METRICS_REJ_N)
		atomic_fetch_add_explicit(&m->rejected[from], n, memory_order_relaxed);
}

void metrics_syslog_conn(struct metrics *m, enum metrics_listener l, int opened)
{
	if (!m || l >= METRICS_LSN_N)
		return;
	if (opened) {
		atomic_fetch_add_explicit(&m->sl_conns[l], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&m->sl_open[l], 1, memory_order_relaxed);
	} else {
		atomic_fetch_sub_explicit(&m->sl_open[l], 1, memory_order_relaxed);
	}
}

void metrics_syslog_msgs(struct metrics *m, enum metrics_listener l, enum metrics_msg_result r,
			 uint64_t n)
{
	if (m && n && l < METRICS_LSN_N && r < METRICS_MSG_N)
		atomic_fetch_add_explicit(&m->sl_msgs[l][r], n, memory_order_relaxed);
}

void metrics_syslog_bytes(struct metrics *m, enum metrics_listener l, uint64_t n)
{
	if (m && n && l < METRICS_LSN_N)
		atomic_fetch_add_explicit(&m->sl_bytes[l], n, memory_order_relaxed);
}

/* ======================================================= text buffer */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 8192;
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

/* HELP and TYPE of one family (invariant 1). */
static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "counter", help);
	bprintf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge_u(struct buf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "gauge", help);
	bprintf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* ======================================================= render */

static void render_http(struct buf *b, struct metrics *m)
{
	family(b, "logseal_http_requests_total", "counter",
	       "HTTP replies sent, by method, route pattern and status code.");
	for (size_t r = 0; r <= m->nroutes; r++) {
		const char *label = r < m->nroutes ? m->labels[r] : "other";
		const char *method = r < m->nroutes ? m->methods[r] : "other";
		for (size_t i = 0; i < STATUS_SPAN; i++) {
			uint64_t v = atomic_load_explicit(&m->req[r][i], memory_order_relaxed);
			if (v)
				bprintf(b, "logseal_http_requests_total{method=\"%s\",route=\"%s\","
					"status=\"%zu\"} %llu\n",
					method, label, i + STATUS_MIN, (unsigned long long)v);
		}
	}
	family(b, "logseal_auth_denials_total", "counter",
	       "Requests refused for a missing or bad token (401) or a missing role (403).");
	bprintf(b, "logseal_auth_denials_total{status=\"401\"} %llu\n",
		(unsigned long long)atomic_load(&m->denied_401));
	bprintf(b, "logseal_auth_denials_total{status=\"403\"} %llu\n",
		(unsigned long long)atomic_load(&m->denied_403));
	family(b, "logseal_ingest_rejected_total", "counter",
	       "Items refused and recorded as logseal.ingest.rejected, by how they came.");
	{
		static const char *const names[METRICS_REJ_N] = { "events", "k8s", "syslog", "otlp" };

		for (int i = 0; i < METRICS_REJ_N; i++)
			bprintf(b, "logseal_ingest_rejected_total{format=\"%s\"} %llu\n", names[i],
				(unsigned long long)atomic_load(&m->rejected[i]));
	}
}

/* Every listener kind, configured or not (0), so the series are stable. */
static void render_syslog(struct buf *b, struct metrics *m)
{
	static const char *const lsn[METRICS_LSN_N] = { "relp", "syslog-tls" };
	static const char *const res[METRICS_MSG_N] = { "accepted", "refused", "failed" };

	family(b, "logseal_syslog_connections_total", "counter",
	       "Connections the syslog listeners accepted, by listener.");
	for (int i = 0; i < METRICS_LSN_N; i++)
		bprintf(b, "logseal_syslog_connections_total{listener=\"%s\"} %llu\n", lsn[i],
			(unsigned long long)atomic_load(&m->sl_conns[i]));
	family(b, "logseal_syslog_connections_open", "gauge",
	       "Connections of the syslog listeners open now, by listener.");
	for (int i = 0; i < METRICS_LSN_N; i++)
		bprintf(b, "logseal_syslog_connections_open{listener=\"%s\"} %llu\n", lsn[i],
			(unsigned long long)atomic_load(&m->sl_open[i]));
	family(b, "logseal_syslog_messages_total", "counter",
	       "Syslog messages received, by listener and result (accepted: durable or a "
	       "duplicate of a durable one; refused: for good, recorded as "
	       "logseal.ingest.rejected; failed: not taken, not acknowledged, to be resent).");
	for (int i = 0; i < METRICS_LSN_N; i++)
		for (int k = 0; k < METRICS_MSG_N; k++)
			bprintf(b, "logseal_syslog_messages_total{listener=\"%s\",result=\"%s\"} %llu\n",
				lsn[i], res[k], (unsigned long long)atomic_load(&m->sl_msgs[i][k]));
	family(b, "logseal_syslog_bytes_total", "counter",
	       "Bytes the syslog listeners read from their connections (after TLS), by listener.");
	for (int i = 0; i < METRICS_LSN_N; i++)
		bprintf(b, "logseal_syslog_bytes_total{listener=\"%s\"} %llu\n", lsn[i],
			(unsigned long long)atomic_load(&m->sl_bytes[i]));
}

static void render_fsync(struct buf *b, const struct log_stats *st)
{
	uint64_t cum = 0;

	family(b, "logseal_fsync_seconds", "histogram",
	       "Latency of one group commit of the journal (write and fdatasync).");
	for (int i = 0; i < LOG_SYNC_BUCKETS; i++) {
		cum += st->sync_buckets[i];
		bprintf(b, "logseal_fsync_seconds_bucket{le=\"%g\"} %llu\n", log_sync_bounds[i],
			(unsigned long long)cum);
	}
	bprintf(b, "logseal_fsync_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)st->sync_count);
	bprintf(b, "logseal_fsync_seconds_sum %.9f\n", st->sync_seconds);
	bprintf(b, "logseal_fsync_seconds_count %llu\n", (unsigned long long)st->sync_count);
}

ls_rc metrics_render(struct metrics *m, const struct metrics_snapshot *s, char **text,
		     size_t *len)
{
	struct buf b = { 0 };

	*text = NULL;
	*len = 0;
	counter(&b, "logseal_ingest_events_total",
		"Entries made durable in the journal (every writer's and the server's own).",
		s->log.entries);
	counter(&b, "logseal_ingest_batches_total",
		"Group commits of the journal (one fdatasync each, holding one or more batches).",
		s->log.commits);
	counter(&b, "logseal_ingest_bytes_total", "Entry bytes made durable in the journal.",
		s->log.bytes);
	render_fsync(&b, &s->log);
	render_http(&b, m);
	render_syslog(&b, m);
	gauge_u(&b, "logseal_tree_size", "Entries in the log (durable).", s->tree_size);
	gauge_u(&b, "logseal_unsigned_entries",
		"Entries acknowledged but not yet covered by a signed checkpoint.",
		s->log.unsigned_entries);
	gauge_u(&b, "logseal_unsigned_entries_max",
		"The most entries acknowledged and unsigned at once since the server started.",
		s->log.unsigned_entries_max);
	family(&b, "logseal_unsigned_oldest_seconds", "gauge",
	       "Seconds since the oldest acknowledged, unsigned entry was acknowledged (0: none).");
	bprintf(&b, "logseal_unsigned_oldest_seconds %.3f\n", s->log.unsigned_age);
	family(&b, "logseal_unsigned_oldest_seconds_max", "gauge",
	       "The longest an acknowledged entry waited for a signed checkpoint since the start.");
	bprintf(&b, "logseal_unsigned_oldest_seconds_max %.3f\n", s->log.unsigned_age_max);
	counter(&b, "logseal_checkpoint_backpressure_total",
		"Times the sequencer stopped acknowledging until a checkpoint was signed.",
		s->log.backpressure_waits);
	family(&b, "logseal_checkpoint_backpressure_seconds_total", "counter",
	       "Seconds the sequencer spent waiting for a checkpoint.");
	bprintf(&b, "logseal_checkpoint_backpressure_seconds_total %.6f\n",
		s->log.backpressure_seconds);
	counter(&b, "logseal_sealed_segments_total",
		"Sealed segments written since the server started.", s->log.sealed_segments);
	gauge_u(&b, "logseal_sealed_entries",
		"Entries below this index are in sealed segments; the rest are in the write-ahead log.",
		s->log.sealed_end);
	family(&b, "logseal_seal_seconds_total", "counter",
	       "Seconds spent sealing segments since the server started.");
	bprintf(&b, "logseal_seal_seconds_total %.6f\n", s->log.seal_seconds);
	counter(&b, "logseal_sealer_backpressure_total",
		"Times the sequencer stopped acknowledging because too many ranges waited to be sealed.",
		s->log.sealer_waits);
	if (s->has_checkpoint_age) {
		family(&b, "logseal_checkpoint_age_seconds", "gauge",
		       "Seconds since the latest signed checkpoint was published.");
		bprintf(&b, "logseal_checkpoint_age_seconds %.3f\n",
			s->checkpoint_age_seconds < 0 ? 0.0 : s->checkpoint_age_seconds);
	}
	gauge_u(&b, "logseal_index_lag_entries",
		"Entries in the log that the query index (SQLite) does not cover yet.",
		s->tree_size > s->index_watermark ? s->tree_size - s->index_watermark : 0);
	gauge_u(&b, "logseal_search_lag_entries",
		"Entries in the log that GET /v1/events cannot find yet (index and its tail).",
		s->tree_size > s->search_watermark ? s->tree_size - s->search_watermark : 0);
	gauge_u(&b, "logseal_index_failed", "1 when the query index has stopped on an error.",
		s->index_failed ? 1 : 0);
	counter(&b, "logseal_index_fed_entries_total",
		"Entries the index took from the sequencer's copy as they became durable.",
		s->index_fed);
	counter(&b, "logseal_index_read_entries_total",
		"Entries the index read back from the journal (at start, or when the copy was full).",
		s->index_read);
	gauge_u(&b, "logseal_log_failed",
		"1 when the journal refuses appends after a storage failure.", s->log_failed ? 1 : 0);
	if (s->has_alerts) {
		counter(&b, "logseal_alerts_fired_total", "Alerts fired by the rules.",
			s->alerts.alerts_fired_total);
		counter(&b, "logseal_alerts_late_events_total",
			"Events a threshold rule on the event clock did not count: their time "
			"was further before their arrival than the rule's lateness bound.",
			s->alerts.late_total);
		counter(&b, "logseal_webhook_deliveries_total",
			"Alert webhook deliveries that succeeded.",
			s->alerts.webhook_deliveries_total);
		counter(&b, "logseal_webhook_failures_total",
			"Alert webhook deliveries given up after every attempt failed.",
			s->alerts.webhook_failures_total);
		counter(&b, "logseal_webhook_attempt_failures_total",
			"Alert webhook attempts that failed (retried or not).",
			s->alerts.webhook_attempt_failures_total);
		counter(&b, "logseal_alert_emit_failures_total",
			"Fired alerts whose log event could not be appended yet (retried).",
			s->alerts.emit_failures_total);
		gauge_u(&b, "logseal_alert_evaluated_entries",
			"Next leaf index the alert engine will evaluate.", s->alerts.evaluated);
	}
	if (s->has_disk)
		gauge_u(&b, "logseal_disk_free_bytes",
			"Bytes available to the server on the data directory's file system.",
			s->disk_free_bytes);
	gauge_u(&b, "logseal_stream_clients", "Open live streams (GET /v1/stream).",
		s->stream_clients);
	counter(&b, "logseal_stream_opened_total", "Live streams opened.", s->stream_opened_total);
	counter(&b, "logseal_stream_overflows_total",
		"Live streams cut because the client fell too far behind.",
		s->stream_overflows_total);
	if (s->has_objstore) {
		gauge_u(&b, "logseal_objstore_backlog_bytes",
			"Local bytes not yet confirmed in the object store.",
			s->objstore.backlog_bytes);
		gauge_u(&b, "logseal_objstore_backlog_objects",
			"Objects still to upload to the object store.", s->objstore.backlog_objects);
		counter(&b, "logseal_objstore_upload_failures_total",
			"Object store requests that failed (each is retried).", s->objstore.failures);
		gauge_u(&b, "logseal_objstore_last_success_timestamp_seconds",
			"Unix time of the last successful upload (0: none yet).",
			(uint64_t)(s->objstore.last_success > 0 ? s->objstore.last_success : 0));
		gauge_u(&b, "logseal_objstore_uploaded_size",
			"Tree size of the checkpoint published in the bucket (log/checkpoint).",
			s->objstore.uploaded_size);
		gauge_u(&b, "logseal_objstore_conflicts",
			"1 when a write-once object in the bucket has other bytes than the log's.",
			s->objstore.conflict ? 1 : 0);
	}
	if (b.oom) {
		free(b.p);
		return LS_NOMEM;
	}
	*text = b.p;
	*len = b.len;
	return LS_OK;
}
