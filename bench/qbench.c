/*
 * qbench.c - read-side client for `make bench`: sequential requests over one
 * keep-alive HTTP/1.1 connection to `logseal serve`, with latency
 * percentiles and body throughput; a probe of the index's lag behind
 * ingest; and the per-second watch of a sustained load.
 *
 *	qbench get --port P --token-file F --urls FILE [--requests N]
 *	           [--seconds S] [--results FILE --key NAME]
 *	qbench lag --port P --token-file AUDITOR --writer-token-file WRITER
 *	           [--seconds S] [--interval S] [--results FILE --key NAME]
 *	qbench sustain --port P --token-file AUDITOR --writer-token-file WRITER
 *	           --pid SERVER [--seconds S] [--after 30] [--report 10]
 *	           [--lag-cap 60] [--lag-bound 2] [--data DIR --min-free-mb M
 *	           --stop-pid LOADGEN] [--samples FILE] [--results FILE --key NAME]
 *
 * get: sends the paths of FILE (one per line, used in turn, from the top
 * again when N exceeds them) as GET requests, one at a time, and prints the
 * number of requests, requests/s, latency p50/p90/p99/max and the body
 * bytes/s.  Latency runs from the first byte sent to the last byte of the
 * reply read.  Bodies are read and counted but not kept (an export may be
 * hundreds of MB).
 *
 * lag: every --interval seconds posts one event with an actor id used
 * nowhere else, notes when it is acknowledged, then queries
 * GET /v1/events?actor=<id>&limit=1 until the reply holds that event.  The
 * lag is the time from the acknowledgement to the reply that holds it: how
 * long after a writer got its 2xx an auditor can find the event.  Each
 * sample also records /healthz's tree size, the reply's watermark and, when
 * GET /metrics answers with logseal_index_lag_entries, that value.
 *
 * sustain: while loadgen (started by the caller) posts for S seconds, and
 * for --after seconds more: once a second the log's size (/healthz), the
 * server's RssAnon (/proc/PID/status) and the free disk, and during the load
 * one probe event whose search lag is measured as in lag, but with one
 * query for every pending probe (run_sustain() says how); a line every
 * --report seconds, and at the end mean and min events/s, lag
 * p50/p99/max, whether the lag stayed within --lag-bound, and the memory
 * peaks during and after.  Below --min-free-mb of free disk it sends
 * SIGTERM to --stop-pid (loadgen stops early and still reports).
 *
 * Invariants:
 *  1. Bounded: each socket has send and receive timeouts; get stops after N
 *     requests or S seconds, lag after S seconds (a probe in progress is
 *     given at most LAG_GIVE_UP_S more); sustain after S + --after seconds
 *     (a pending probe is given up --lag-cap seconds after its ack), with
 *     memory fixed by S (a record per second and per probe).
 *  2. Any status other than 200 (a 404 of /metrics aside) ends the run with
 *     exit status 1 and the first bytes of the reply, so a figure is never
 *     made of error replies.
 *  3. Replies are parsed by Content-Length, chunked encoding or connection
 *     close (bench_http.c); at most CAPTURE_MAX - 1 bytes of a body are
 *     kept, for parsing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "bench_http.h"
#include "bench_util.h"

#define IO_TIMEOUT_S 60
#define BUF_SIZE (256u << 10)
#define CAPTURE_MAX (1u << 20)
#define TOKEN_MAX 4096
#define PATH_MAX_LEN 8192
#define URLS_MAX 1000000
#define LAG_GIVE_UP_S 30.0

struct cfg {
	const char *mode;
	const char *host;
	int port;
	char token[TOKEN_MAX];
	char wtoken[TOKEN_MAX];
	const char *urls;
	long requests;
	double seconds;
	double interval;
	const char *results;
	const char *key;
	/* sustain */
	double after, lag_cap, lag_bound;
	int pid, stop_pid;
	long report;
	long long min_free_mb;
	const char *data;
	const char *samples;
};

static struct sockaddr_in server_addr;
static const char *host_name = "127.0.0.1";

/* ---------------------------------------------------------- connection */

/*
 * One request and its reply over c, reconnecting once if the server closed
 * the idle connection.  Returns 0 with *status, -1 on a network error.
 */
static int request(struct bench_conn *c, const char *method, const char *path, const char *token,
		   const char *body, size_t blen, int *status)
{
	char head[TOKEN_MAX + PATH_MAX_LEN + 512];
	int h, close_after;

	h = bench_http_head(head, sizeof(head), method, path, host_name,
			    ntohs(server_addr.sin_port), token, body != NULL, blen);
	if (h < 0)
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && bench_conn_open(c) != 0)
			return -1;
		if (bench_send_all(c->fd, head, (size_t)h) == 0 &&
		    (!body || bench_send_all(c->fd, body, blen) == 0) &&
		    bench_http_read_response(c, status, &close_after) == 0) {
			if (close_after)
				bench_conn_close(c);
			return 0;
		}
		bench_conn_close(c);
	}
	return -1;
}

static void show_body(const char *what, int status, const struct bench_conn *c)
{
	char s[301];
	size_t n = c->caplen < 300 ? c->caplen : 300;

	memcpy(s, c->cap, n);
	s[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n' || s[i] == '\r')
			s[i] = ' ';
	fprintf(stderr, "qbench: %s: status %d: %s\n", what, status, s);
}

/* ------------------------------------------------------------ figures */

/* Nearest-rank percentile of sorted s[0..n). */
static double pct(const double *s, size_t n, double p)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return s[k - 1];
}

static FILE *results_open(const struct cfg *cfg)
{
	FILE *f;

	if (!cfg->results)
		return NULL;
	f = fopen(cfg->results, "a");
	if (!f)
		fprintf(stderr, "qbench: cannot append to %s\n", cfg->results);
	return f;
}

/* ------------------------------------------------------------------ get */

static char **read_urls(const char *file, size_t *n)
{
	FILE *f = fopen(file, "r");
	char line[PATH_MAX_LEN];
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		size_t l = strcspn(line, "\r\n");

		line[l] = '\0';
		if (!l)
			continue;
		if (line[0] != '/' || *n >= URLS_MAX) {
			fclose(f);
			goto fail;
		}
		if (*n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				fclose(f);
				goto fail;
			}
			v = nv;
		}
		v[*n] = strdup(line);
		if (!v[*n]) {
			fclose(f);
			goto fail;
		}
		(*n)++;
	}
	fclose(f);
	if (*n)
		return v;
fail:
	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	free(v);
	*n = 0;
	return NULL;
}

static int run_get(const struct cfg *cfg, struct bench_conn *c)
{
	size_t nurls, n = 0;
	char **urls = read_urls(cfg->urls, &nurls);
	double *lat, t_start, t_end, deadline;
	uint64_t bytes = 0;
	int rc = 1;
	FILE *rf;

	if (!urls) {
		fprintf(stderr, "qbench: no usable paths in %s (one per line, each starting with /)\n",
			cfg->urls);
		return 2;
	}
	lat = calloc((size_t)cfg->requests, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "qbench: out of memory\n");
		goto out;
	}
	t_start = bench_now();
	deadline = t_start + cfg->seconds;
	while (n < (size_t)cfg->requests && bench_now() < deadline) {
		const char *path = urls[n % nurls];
		double t0 = bench_now();
		int status;

		if (request(c, "GET", path, cfg->token, NULL, 0, &status) != 0) {
			fprintf(stderr, "qbench: GET %s: network or protocol error\n", path);
			goto out;
		}
		if (status != 200) {
			show_body(path, status, c);
			goto out;
		}
		lat[n++] = bench_now() - t0;
		bytes += c->body;
	}
	t_end = bench_now();
	qsort(lat, n, sizeof(*lat), bench_cmp_double);
	{
		double el = t_end - t_start, sum = 0;
		double p50 = pct(lat, n, 50) * 1e3, p90 = pct(lat, n, 90) * 1e3;
		double p99 = pct(lat, n, 99) * 1e3, mx = n ? lat[n - 1] * 1e3 : 0;

		for (size_t i = 0; i < n; i++)
			sum += lat[i];
		printf("%zu requests in %.2f s: %.1f/s; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f;"
		       " %.1f MB of bodies, %.1f MB/s\n",
		       n, el, (double)n / el, p50, p90, p99, mx, (double)bytes / 1e6,
		       (double)bytes / 1e6 / el);
		rf = results_open(cfg);
		if (rf) {
			fprintf(rf, "%s_n %zu\n%s_rps %.6f\n%s_p50_ms %.6f\n%s_p90_ms %.6f\n"
				    "%s_p99_ms %.6f\n%s_max_ms %.6f\n%s_mean_ms %.6f\n"
				    "%s_bytes %" PRIu64 "\n%s_mbps %.6f\n%s_seconds %.6f\n",
				cfg->key, n, cfg->key, (double)n / el, cfg->key, p50, cfg->key, p90,
				cfg->key, p99, cfg->key, mx, cfg->key, n ? sum / (double)n * 1e3 : 0,
				cfg->key, bytes, cfg->key, (double)bytes / 1e6 / el, cfg->key, el);
			fclose(rf);
		}
	}
	rc = n ? 0 : 1;
out:
	for (size_t i = 0; i < nurls; i++)
		free(urls[i]);
	free(urls);
	free(lat);
	return rc;
}

/* ------------------------------------------------------------------ lag */

/* The unsigned integer after "key": in s, or -1. */
static long long json_uint(const char *s, const char *key)
{
	char pat[64];
	const char *p;
	char *end;
	unsigned long long v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	if (*p == '[')
		p++;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p || v > (unsigned long long)INT64_MAX)
		return -1;
	return (long long)v;
}

/* logseal_index_lag_entries from /metrics: the value, -1 when absent. */
static long long metrics_lag(const struct cfg *cfg, struct bench_conn *c, int *have)
{
	int status;
	const char *p;

	if (!*have)
		return -1;
	if (request(c, "GET", "/metrics", cfg->token, NULL, 0, &status) != 0 || status != 200) {
		*have = 0;
		return -1;
	}
	for (p = c->cap; (p = strstr(p, "logseal_index_lag_entries")); p++) {
		const char *q = p + strlen("logseal_index_lag_entries");

		if ((p == c->cap || p[-1] == '\n') && (*q == ' ' || *q == '{')) {
			q = strchr(q, ' ');
			return q ? (long long)strtod(q, NULL) : -1;
		}
	}
	*have = 0;
	return -1;
}

static int run_lag(const struct cfg *cfg, struct bench_conn *rd, struct bench_conn *wr)
{
	size_t cap = (size_t)(cfg->seconds / cfg->interval) + 16, n = 0;
	double *lag = calloc(cap, sizeof(*lag));
	double t_start = bench_now(), deadline = t_start + cfg->seconds, worst = 0;
	long long size0 = -1, size1 = -1, max_behind = -1, max_metric = -1;
	long long first_size = -1;
	unsigned long long tag = (unsigned long long)time(NULL) * 1000003ULL + (unsigned)getpid();
	int have_metrics = 1, rc = 1;
	FILE *rf;

	if (!lag)
		return 1;
	while (bench_now() < deadline && n < cap) {
		double t_tick = bench_now(), t_ack, t_found = 0;
		char body[512], path[256], stamp[32];
		long long idx, wm = -1, m;
		int status, blen;

		if (request(rd, "GET", "/healthz", cfg->token, NULL, 0, &status) != 0 ||
		    status != 200) {
			fprintf(stderr, "qbench: GET /healthz failed\n");
			goto out;
		}
		size0 = json_uint(rd->cap, "tree_size");
		if (first_size < 0)
			first_size = size0;
		m = metrics_lag(cfg, rd, &have_metrics);
		if (m > max_metric)
			max_metric = m;

		{
			struct timespec ts;
			struct tm tm;

			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
			blen = snprintf(body, sizeof(body),
					"{\"time\":\"%s.%06ldZ\","
					"\"actor\":{\"id\":\"lagprobe-%llx-%zu\",\"type\":\"service\"},"
					"\"action\":\"bench.lag_probe\",\"outcome\":\"success\","
					"\"source\":{\"ip\":\"127.0.0.1\"},\"service\":\"bench\"}\n",
					stamp, ts.tv_nsec / 1000, tag, n);
		}
		if (request(wr, "POST", "/v1/events", cfg->wtoken, body, (size_t)blen, &status) != 0 ||
		    status != 200) {
			if (status != 200)
				show_body("POST /v1/events", status, wr);
			fprintf(stderr, "qbench: the probe event was not accepted\n");
			goto out;
		}
		t_ack = bench_now();
		idx = json_uint(wr->cap, "indexes");
		if (idx < 0) {
			fprintf(stderr, "qbench: no index in the POST reply\n");
			goto out;
		}
		snprintf(path, sizeof(path), "/v1/events?actor=lagprobe-%llx-%zu&limit=1", tag, n);
		for (;;) {
			char want[48];

			if (request(rd, "GET", path, cfg->token, NULL, 0, &status) != 0 ||
			    status != 200) {
				if (status != 200)
					show_body(path, status, rd);
				goto out;
			}
			snprintf(want, sizeof(want), "\"index\":%lld,", idx);
			wm = json_uint(rd->cap, "watermark");
			if (strstr(rd->cap, want)) {
				t_found = bench_now();
				break;
			}
			/* Keep sampling the lag in entries while this probe waits. */
			m = metrics_lag(cfg, rd, &have_metrics);
			if (m > max_metric)
				max_metric = m;
			if (bench_now() - t_ack > LAG_GIVE_UP_S) {
				fprintf(stderr, "qbench: event %lld not queryable %.0f s after its ack\n",
					idx, LAG_GIVE_UP_S);
				goto out;
			}
		}
		lag[n++] = t_found - t_ack;
		if (t_found - t_ack > worst)
			worst = t_found - t_ack;
		if (size0 >= 0 && wm >= 0 && size0 - wm > max_behind)
			max_behind = size0 - wm;
		bench_sleep(t_tick + cfg->interval - bench_now());
	}
	if (request(rd, "GET", "/healthz", cfg->token, NULL, 0, &(int){0}) == 0)
		size1 = json_uint(rd->cap, "tree_size");
	qsort(lag, n, sizeof(*lag), bench_cmp_double);
	{
		double el = bench_now() - t_start;
		double rate = first_size >= 0 && size1 >= first_size ? (double)(size1 - first_size) / el : 0;

		printf("%zu probes in %.1f s: ack->queryable lag p50 %.3f s, max %.3f s;"
		       " log grew %.0f entries/s; about %.0f entries behind at the worst",
		       n, el, pct(lag, n, 50), worst, rate, worst * rate);
		if (max_metric >= 0)
			printf("; /metrics logseal_index_lag_entries max %lld", max_metric);
		printf("\n");
		rf = results_open(cfg);
		if (rf) {
			fprintf(rf, "%s_samples %zu\n%s_p50_s %.6f\n%s_max_s %.6f\n%s_rate_eps %.6f\n"
				    "%s_max_entries_est %.0f\n",
				cfg->key, n, cfg->key, pct(lag, n, 50), cfg->key, worst, cfg->key, rate,
				cfg->key, worst * rate);
			if (max_metric >= 0)
				fprintf(rf, "%s_metrics_max_entries %lld\n", cfg->key, max_metric);
			fclose(rf);
		}
	}
	rc = n ? 0 : 1;
out:
	free(lag);
	return rc;
}

/* -------------------------------------------------------------- sustain */

/*
 * sustain: the search lag, the log's growth, the server's anonymous memory
 * and the free disk, every second, while loadgen (started by the caller)
 * posts for --seconds, then for --after seconds more without load.
 *
 * A ticker thread, once a second: GET /healthz (the tree size), RssAnon of
 * --pid from /proc, free space of --data's file system (below --min-free-mb
 * during the load it sends SIGTERM to --stop-pid, once, and the run says it
 * stopped early), and during the load it posts one probe event (action
 * bench.lag_probe, an actor id used nowhere else).  The main thread polls
 * GET /v1/events?action=bench.lag_probe&limit=100 every POLL_S while a probe
 * is pending: a probe's lag is the time from its acknowledgement to the end
 * of the first reply that holds its index.  One query serves every pending
 * probe (at most --lag-cap of them, fewer than the limit), so a slow index
 * does not thin out the samples; a probe not found --lag-cap seconds after
 * its acknowledgement is given up ("censored") and counted as the cap.
 * Memory is fixed by the duration: one record per second and per probe.
 */
#define POLL_S 0.02
#define PROBE_LIMIT 100

struct probe {
	double t_ack, lag;	/* lag < 0: pending */
	long long idx;
	int censored;
};

struct tick {
	double t;		/* seconds since the start */
	long long size;		/* /healthz tree_size */
	long long rss_kb;	/* RssAnon of --pid */
	long long free_mb;	/* free space of --data's file system */
	int load;		/* 1: during the load */
};

struct sustain {
	const struct cfg *cfg;
	struct bench_conn hc, wc;	/* /healthz and the probes' POSTs */
	pthread_mutex_t mu;
	struct probe *probes;
	size_t nprobes, probecap, first_pending;
	struct tick *ticks;
	size_t nticks, tickcap;
	double t0;
	int done, failed, stopped_early, refused;
	unsigned long long tag;
};

static long long rss_anon_kb(int pid)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "RssAnon:", 8)) {
			v = strtoll(line + 8, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long long free_mb(const char *dir)
{
	struct statvfs sv;

	if (!dir || statvfs(dir, &sv) != 0)
		return -1;
	return (long long)((unsigned long long)sv.f_bavail * sv.f_frsize >> 20);
}

/* Lag percentiles and count of probes [a, b) that are no longer pending
 * (censored ones count as the cap). */
static size_t probe_lags(struct sustain *s, size_t a, size_t b, double *out)
{
	size_t n = 0;

	for (size_t i = a; i < b && i < s->nprobes; i++)
		if (s->probes[i].lag >= 0)
			out[n++] = s->probes[i].lag;
	qsort(out, n, sizeof(*out), bench_cmp_double);
	return n;
}

static void *ticker_main(void *arg)
{
	struct sustain *s = arg;
	const struct cfg *cfg = s->cfg;
	double *tmp = calloc(s->probecap + 1, sizeof(*tmp));
	long long last_print_size = s->ticks[0].size;
	double last_print_t = 0;
	size_t last_print_probe = 0, last_print_tick = 1;
	double t_end = cfg->seconds + cfg->after; /* earlier when the load stops early */

	if (!tmp) {
		s->failed = 1;
		goto out;
	}
	for (long k = 1;; k++) {
		double now, due = s->t0 + (double)k;
		struct tick tk;
		int status, load;
		char c1[32], c2[32];

		bench_sleep(due - bench_now());
		now = bench_now() - s->t0;
		if (now > t_end + 0.5)
			break;
		/* Late (a slow reply): skip the seconds already gone. */
		if (now > (double)k + 1)
			k = (long)now;
		load = now <= cfg->seconds + 0.25 && !s->stopped_early;
		if (request(&s->hc, "GET", "/healthz", cfg->token, NULL, 0, &status) != 0 ||
		    status != 200) {
			fprintf(stderr, "qbench: GET /healthz failed at %.0f s\n", now);
			s->failed = 1;
			break;
		}
		tk.t = bench_now() - s->t0;
		tk.size = json_uint(s->hc.cap, "tree_size");
		tk.rss_kb = rss_anon_kb(cfg->pid);
		tk.free_mb = free_mb(cfg->data);
		tk.load = load;
		if (load && cfg->min_free_mb && tk.free_mb >= 0 && tk.free_mb < cfg->min_free_mb) {
			printf("  free space %lld MiB < %lld MiB: load stopped early (SIGTERM to %d)\n",
			       tk.free_mb, cfg->min_free_mb, cfg->stop_pid);
			fflush(stdout);
			if (cfg->stop_pid > 0)
				kill(cfg->stop_pid, SIGTERM);
			s->stopped_early = 1;
			t_end = tk.t + cfg->after;
		}
		pthread_mutex_lock(&s->mu);
		if (s->nticks < s->tickcap)
			s->ticks[s->nticks++] = tk;
		pthread_mutex_unlock(&s->mu);

		if (load && tk.t < cfg->seconds && s->nprobes < s->probecap) {
			char body[512];
			char stamp[32];
			struct timespec ts;
			struct tm tm;
			int blen;
			long long idx;

			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
			blen = snprintf(body, sizeof(body),
					"{\"time\":\"%s.%06ldZ\","
					"\"actor\":{\"id\":\"lagprobe-%llx-%zu\",\"type\":\"service\"},"
					"\"action\":\"bench.lag_probe\",\"outcome\":\"success\","
					"\"source\":{\"ip\":\"127.0.0.1\"},\"service\":\"bench\"}\n",
					stamp, ts.tv_nsec / 1000, s->tag, s->nprobes);
			if (request(&s->wc, "POST", "/v1/events", cfg->wtoken, body, (size_t)blen,
				    &status) != 0) {
				fprintf(stderr, "qbench: POST of a probe failed (network)\n");
				s->failed = 1;
				break;
			}
			if (status == 503 || status == 429) {
				s->refused++;	/* back-pressure: no probe this second */
			} else if (status != 200 || (idx = json_uint(s->wc.cap, "indexes")) < 0) {
				show_body("POST /v1/events (probe)", status, &s->wc);
				s->failed = 1;
				break;
			} else {
				pthread_mutex_lock(&s->mu);
				s->probes[s->nprobes].t_ack = bench_now();
				s->probes[s->nprobes].idx = idx;
				s->probes[s->nprobes].lag = -1;
				s->probes[s->nprobes].censored = 0;
				s->nprobes++;
				pthread_mutex_unlock(&s->mu);
			}
		}

		/* The interval line: rates from the ticks since the last one. */
			if (k % cfg->report == 0 || tk.t >= t_end) {
			double mn = -1;
			size_t nl, pending = 0, np;
			char lagtxt[96];

			for (size_t i = last_print_tick; i < s->nticks; i++) {
				double dt = s->ticks[i].t - s->ticks[i - 1].t;
				double r = dt > 0 ? (double)(s->ticks[i].size - s->ticks[i - 1].size) / dt : 0;
				if (mn < 0 || r < mn)
					mn = r;
			}
			pthread_mutex_lock(&s->mu);
			np = s->nprobes;
			nl = probe_lags(s, last_print_probe, np, tmp);
			for (size_t i = last_print_probe; i < np; i++)
				pending += s->probes[i].lag < 0;
			pthread_mutex_unlock(&s->mu);
			if (nl)
				snprintf(lagtxt, sizeof(lagtxt), "lag p50 %6.3f max %6.3f s (%2zu found, %zu pending)",
					 pct(tmp, nl, 50), tmp[nl - 1], nl, pending);
			else
				snprintf(lagtxt, sizeof(lagtxt), "lag %-29s (%zu pending)", "-", pending);
			printf("  t=%4.0f s %s %9s ev/s (slowest s %9s)  %s  RssAnon %5.0f MiB  size %lld"
			       "  free %lld GiB\n",
			       tk.t, load ? "load" : "idle",
			       bench_commas((double)(tk.size - last_print_size) / (tk.t - last_print_t), c1,
					    sizeof(c1)),
			       bench_commas(mn < 0 ? 0 : mn, c2, sizeof(c2)), lagtxt,
			       (double)tk.rss_kb / 1024.0, tk.size, tk.free_mb >> 10);
			fflush(stdout);
			last_print_size = tk.size;
			last_print_t = tk.t;
			last_print_tick = s->nticks;
			/* Pending probes stay in the next interval's count. */
			pthread_mutex_lock(&s->mu);
			while (last_print_probe < s->nprobes && s->probes[last_print_probe].lag >= 0)
				last_print_probe++;
			pthread_mutex_unlock(&s->mu);
		}
	}
out:
	free(tmp);
	pthread_mutex_lock(&s->mu);
	s->done = 1;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int run_sustain(const struct cfg *cfg, struct bench_conn *rd)
{
	struct sustain s;
	pthread_t th;
	double *lags = NULL, first = 0, last = 0, *tmp = NULL;
	double eps_min = -1, eps_mean = 0, t_load_end = 0;
	long long rss_peak = -1, rss_after_peak = -1, rss_end = -1, size_start = -1, size_load_end = -1;
	size_t nl, censored = 0, third;
	char path[128], want[48], c1[32], c2[32];
	int rc = 1, bounded;
	FILE *rf;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.tag = (unsigned long long)time(NULL) * 1000003ULL + (unsigned)getpid();
	s.probecap = (size_t)cfg->seconds + 16;
	s.tickcap = (size_t)(cfg->seconds + cfg->after) + 16;
	s.probes = calloc(s.probecap, sizeof(*s.probes));
	s.ticks = calloc(s.tickcap, sizeof(*s.ticks));
	lags = calloc(s.probecap, sizeof(*lags));
	tmp = calloc(s.probecap, sizeof(*tmp));
	pthread_mutex_init(&s.mu, NULL);
	if (!s.probes || !s.ticks || !lags || !tmp ||
	    bench_conn_init(&s.hc, &server_addr, IO_TIMEOUT_S, 64u << 10, 64u << 10) != 0 ||
	    bench_conn_init(&s.wc, &server_addr, IO_TIMEOUT_S, 64u << 10, 64u << 10) != 0) {
		fprintf(stderr, "qbench: out of memory\n");
		goto out;
	}
	/* The first tick (t = 0): the size before the load. */
	{
		int status;

		if (request(&s.hc, "GET", "/healthz", cfg->token, NULL, 0, &status) != 0 ||
		    status != 200) {
			fprintf(stderr, "qbench: GET /healthz failed\n");
			goto out;
		}
		s.ticks[0].size = json_uint(s.hc.cap, "tree_size");
		s.ticks[0].rss_kb = rss_anon_kb(cfg->pid);
		s.ticks[0].free_mb = free_mb(cfg->data);
		s.ticks[0].load = 1;
		s.nticks = 1;
	}
	s.t0 = bench_now();
	if (pthread_create(&th, NULL, ticker_main, &s) != 0) {
		fprintf(stderr, "qbench: pthread_create failed\n");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/events?action=bench.lag_probe&limit=%d", PROBE_LIMIT);
	for (;;) {
		size_t a, b;
		int status, done;

		pthread_mutex_lock(&s.mu);
		done = s.done;
		a = s.first_pending;
		b = s.nprobes;
		pthread_mutex_unlock(&s.mu);
		if (a >= b) {
			if (done)
				break;
			bench_sleep(POLL_S);
			continue;
		}
		if (request(rd, "GET", path, cfg->token, NULL, 0, &status) != 0 || status != 200) {
			if (status != 200)
				show_body(path, status, rd);
			fprintf(stderr, "qbench: the probe query failed\n");
			s.failed = 1;
			pthread_join(th, NULL);
			goto out;
		}
		{
			double t = bench_now();

			pthread_mutex_lock(&s.mu);
			for (size_t i = a; i < b; i++) {
				struct probe *p = &s.probes[i];

				if (p->lag >= 0)
					continue;
				snprintf(want, sizeof(want), "\"index\":%lld,", p->idx);
				if (strstr(rd->cap, want)) {
					p->lag = t - p->t_ack;
				} else if (t - p->t_ack > cfg->lag_cap) {
					p->lag = cfg->lag_cap;
					p->censored = 1;
				}
			}
			while (s.first_pending < s.nprobes && s.probes[s.first_pending].lag >= 0)
				s.first_pending++;
			pthread_mutex_unlock(&s.mu);
		}
		bench_sleep(POLL_S);
	}
	pthread_join(th, NULL);
	if (s.failed)
		goto out;

	/* Figures over the load's ticks (the first and last seconds are partial:
	 * the min leaves them out). */
	for (size_t i = 0; i < s.nticks; i++) {
		const struct tick *tk = &s.ticks[i];

		if (tk->load) {
			if (tk->rss_kb > rss_peak)
				rss_peak = tk->rss_kb;
			if (size_start < 0)
				size_start = tk->size;
			size_load_end = tk->size;
			t_load_end = tk->t;
			if (i >= 2 && i + 1 < s.nticks && s.ticks[i + 1].load) {
				double dt = tk->t - s.ticks[i - 1].t;
				double r = dt > 0 ? (double)(tk->size - s.ticks[i - 1].size) / dt : 0;
				if (eps_min < 0 || r < eps_min)
					eps_min = r;
			}
		} else {
			if (tk->rss_kb > rss_after_peak)
				rss_after_peak = tk->rss_kb;
			rss_end = tk->rss_kb;
		}
	}
	eps_mean = t_load_end > 0 ? (double)(size_load_end - size_start) / t_load_end : 0;
	nl = 0;
	for (size_t i = 0; i < s.nprobes; i++) {
		lags[nl++] = s.probes[i].lag;
		censored += (size_t)s.probes[i].censored;
	}
	/* The trend: the first third's median next to the last third's. */
	third = nl / 3;
	if (third) {
		memcpy(tmp, lags, third * sizeof(*tmp));
		qsort(tmp, third, sizeof(*tmp), bench_cmp_double);
		first = pct(tmp, third, 50);
		memcpy(tmp, lags + nl - third, third * sizeof(*tmp));
		qsort(tmp, third, sizeof(*tmp), bench_cmp_double);
		last = pct(tmp, third, 50);
	}
	qsort(lags, nl, sizeof(*lags), bench_cmp_double);
	bounded = nl > 0 && !censored && lags[nl - 1] <= cfg->lag_bound;
	printf("  %-40s mean %s events/s, min %s events/s in one second (%.0f s of load%s)\n",
	       "ingest (log growth)", bench_commas(eps_mean, c1, sizeof(c1)),
	       bench_commas(eps_min < 0 ? 0 : eps_min, c2, sizeof(c2)), t_load_end,
	       s.stopped_early ? ", STOPPED EARLY: disk nearly full" : "");
	printf("  %-40s p50 %.3f s, p99 %.3f s, max %.3f s (bound %.1f s; %zu probes, one a second;"
	       " %zu not found within %.0f s%s)\n",
	       "search lag (ack -> returned by a query)", pct(lags, nl, 50), pct(lags, nl, 99),
	       nl ? lags[nl - 1] : 0, cfg->lag_bound, nl, censored, cfg->lag_cap,
	       s.refused ? ", some seconds refused by back-pressure" : "");
	printf("  %-40s %s (%s; median lag of the first third of the probes %.3f s, of the last"
	       " third %.3f s)\n",
	       "lag bounded throughout", bounded ? "yes" : "NO",
	       censored ? "some probes were never found" :
	       bounded ? "every probe found within the bound" : "a probe took longer than the bound",
	       first, last);
	printf("  %-40s peak %.0f MiB during the load; after it: peak %.0f MiB, %.0f MiB at %.0f s after\n",
	       "server RssAnon", (double)rss_peak / 1024, (double)rss_after_peak / 1024,
	       (double)rss_end / 1024, cfg->after);
	rf = results_open(cfg);
	if (rf) {
		fprintf(rf, "%s_eps_mean %.6f\n%s_eps_min %.6f\n%s_seconds %.3f\n%s_probes %zu\n"
			    "%s_lag_p50_s %.6f\n%s_lag_p99_s %.6f\n%s_lag_max_s %.6f\n"
			    "%s_lag_censored %zu\n%s_lag_first_third_s %.6f\n%s_lag_last_third_s %.6f\n"
			    "%s_bounded %d\n%s_rss_peak_kb %lld\n%s_rss_after_peak_kb %lld\n"
			    "%s_rss_after_kb %lld\n%s_stopped_early %d\n%s_size_end %lld\n",
			cfg->key, eps_mean, cfg->key, eps_min < 0 ? 0 : eps_min, cfg->key, t_load_end,
			cfg->key, nl, cfg->key, pct(lags, nl, 50), cfg->key, pct(lags, nl, 99), cfg->key,
			nl ? lags[nl - 1] : 0, cfg->key, censored, cfg->key, first, cfg->key, last,
			cfg->key, bounded, cfg->key, rss_peak, cfg->key, rss_after_peak, cfg->key,
			rss_end, cfg->key, s.stopped_early, cfg->key,
			s.nticks ? s.ticks[s.nticks - 1].size : -1);
		fclose(rf);
	}
	if (cfg->samples) {
		FILE *f = fopen(cfg->samples, "w");

		if (f) {
			fprintf(f, "# t_s tree_size rss_anon_kb free_mb load\n");
			for (size_t i = 0; i < s.nticks; i++)
				fprintf(f, "%.3f %lld %lld %lld %d\n", s.ticks[i].t, s.ticks[i].size,
					s.ticks[i].rss_kb, s.ticks[i].free_mb, s.ticks[i].load);
			fprintf(f, "# probe t_ack_s index lag_s censored\n");
			for (size_t i = 0; i < s.nprobes; i++)
				fprintf(f, "# %zu %.3f %lld %.6f %d\n", i, s.probes[i].t_ack - s.t0,
					s.probes[i].idx, s.probes[i].lag, s.probes[i].censored);
			fclose(f);
		}
	}
	rc = nl ? 0 : 1;
	if (!nl)
		fprintf(stderr, "qbench: no probe was acknowledged\n");
out:
	bench_conn_release(&s.hc);
	bench_conn_release(&s.wc);
	pthread_mutex_destroy(&s.mu);
	free(s.probes);
	free(s.ticks);
	free(lags);
	free(tmp);
	return rc;
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fputs("usage: qbench get --port P --token-file F --urls FILE [--requests N] [--seconds S]\n"
	      "                  [--host 127.0.0.1] [--results FILE --key NAME]\n"
	      "       qbench lag --port P --token-file AUDITOR --writer-token-file WRITER\n"
	      "                  [--seconds S] [--interval S] [--results FILE --key NAME]\n"
	      "       qbench sustain --port P --token-file AUDITOR --writer-token-file WRITER\n"
	      "                  --pid SERVER_PID [--seconds S] [--after 30] [--report 10]\n"
	      "                  [--lag-cap 60] [--lag-bound 2] [--data DIR --min-free-mb M\n"
	      "                  --stop-pid LOADGEN_PID] [--samples FILE]\n"
	      "                  [--results FILE --key NAME]\n", f);
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || *out < lo || *out > hi ? -1 : 0;
}

static int parse_args(int argc, char **argv, struct cfg *cfg)
{
	const char *tok = NULL, *wtok = NULL;
	double v;

	if (argc < 2)
		return -1;
	cfg->mode = argv[1];
	if (strcmp(cfg->mode, "get") && strcmp(cfg->mode, "lag") && strcmp(cfg->mode, "sustain"))
		return -1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			return -1;
		i++;
		if (!strcmp(a, "--port") && num(val, 1, 65535, &v) == 0)
			cfg->port = (int)v;
		else if (!strcmp(a, "--host"))
			cfg->host = val;
		else if (!strcmp(a, "--token-file"))
			tok = val;
		else if (!strcmp(a, "--writer-token-file"))
			wtok = val;
		else if (!strcmp(a, "--urls"))
			cfg->urls = val;
		else if (!strcmp(a, "--requests") && num(val, 1, 1e7, &v) == 0)
			cfg->requests = (long)v;
		else if (!strcmp(a, "--seconds") && num(val, 0.1, 3600, &v) == 0)
			cfg->seconds = v;
		else if (!strcmp(a, "--interval") && num(val, 0.01, 60, &v) == 0)
			cfg->interval = v;
		else if (!strcmp(a, "--results"))
			cfg->results = val;
		else if (!strcmp(a, "--after") && num(val, 0, 3600, &v) == 0)
			cfg->after = v;
		else if (!strcmp(a, "--lag-cap") && num(val, 1, 3600, &v) == 0)
			cfg->lag_cap = v;
		else if (!strcmp(a, "--lag-bound") && num(val, 0.001, 3600, &v) == 0)
			cfg->lag_bound = v;
		else if (!strcmp(a, "--pid") && num(val, 1, 1e9, &v) == 0)
			cfg->pid = (int)v;
		else if (!strcmp(a, "--stop-pid") && num(val, 1, 1e9, &v) == 0)
			cfg->stop_pid = (int)v;
		else if (!strcmp(a, "--report") && num(val, 1, 3600, &v) == 0)
			cfg->report = (long)v;
		else if (!strcmp(a, "--min-free-mb") && num(val, 0, 1e12, &v) == 0)
			cfg->min_free_mb = (long long)v;
		else if (!strcmp(a, "--data"))
			cfg->data = val;
		else if (!strcmp(a, "--samples"))
			cfg->samples = val;
		else if (!strcmp(a, "--key"))
			cfg->key = val;
		else
			return -1;
	}
	if (!cfg->port || !tok || bench_read_token(tok, cfg->token, sizeof(cfg->token)) != 0) {
		fprintf(stderr, "qbench: --port and a readable --token-file are required\n");
		return -1;
	}
	if (!strcmp(cfg->mode, "get") && !cfg->urls)
		return -1;
	if (!strcmp(cfg->mode, "sustain") && !cfg->pid) {
		fprintf(stderr, "qbench: sustain needs --pid (the server)\n");
		return -1;
	}
	if (strcmp(cfg->mode, "get") &&
	    (!wtok || bench_read_token(wtok, cfg->wtoken, sizeof(cfg->wtoken)) != 0)) {
		fprintf(stderr, "qbench: lag needs a readable --writer-token-file\n");
		return -1;
	}
	if (cfg->results && !cfg->key)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct cfg cfg = {.host = "127.0.0.1", .requests = 1000, .seconds = 30, .interval = 0.5,
			  .after = 30, .lag_cap = 60, .lag_bound = 2, .report = 10};
	struct bench_conn c1, c2;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (parse_args(argc, argv, &cfg) != 0) {
		usage(stderr);
		return 2;
	}
	host_name = cfg.host;
	if (bench_http_addr(&server_addr, cfg.host, cfg.port) != 0) {
		fprintf(stderr, "qbench: --host must be an IPv4 address\n");
		return 2;
	}
	if (bench_conn_init(&c1, &server_addr, IO_TIMEOUT_S, BUF_SIZE, CAPTURE_MAX) != 0 ||
	    bench_conn_init(&c2, &server_addr, IO_TIMEOUT_S, BUF_SIZE, CAPTURE_MAX) != 0) {
		fprintf(stderr, "qbench: out of memory\n");
		return 1;
	}
	if (!strcmp(cfg.mode, "get"))
		rc = run_get(&cfg, &c1);
	else if (!strcmp(cfg.mode, "lag"))
		rc = run_lag(&cfg, &c1, &c2);
	else
		rc = run_sustain(&cfg, &c1);
	bench_conn_release(&c1);
	bench_conn_release(&c2);
	return rc;
}
