/*
 * qbench.c - read-side client for `make bench`: sequential requests over one
 * keep-alive HTTP/1.1 connection to `logseal serve`, with latency
 * percentiles and body throughput; and a probe of the index's lag behind
 * ingest.
 *
 *	qbench get --port P --token-file F --urls FILE [--requests N]
 *	           [--seconds S] [--results FILE --key NAME]
 *	qbench lag --port P --token-file AUDITOR --writer-token-file WRITER
 *	           [--seconds S] [--interval S] [--results FILE --key NAME]
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
 * Invariants:
 *  1. Bounded: each socket has send and receive timeouts; get stops after N
 *     requests or S seconds, lag after S seconds (a probe in progress is
 *     given at most LAG_GIVE_UP_S more).
 *  2. Any status other than 200 (a 404 of /metrics aside) ends the run with
 *     exit status 1 and the first bytes of the reply, so a figure is never
 *     made of error replies.
 *  3. Replies are parsed by Content-Length, chunked encoding or connection
 *     close; at most CAPTURE_MAX bytes of a body are kept, for parsing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 60
#define BUF_SIZE (256u << 10)
#define HEAD_MAX (64u << 10)
#define CAPTURE_MAX (1u << 20)
#define TOKEN_MAX 4096
#define PATH_MAX_LEN 8192
#define URLS_MAX 1000000
#define LAG_GIVE_UP_S 30.0

struct conn {
	int fd;
	char *buf;
	size_t off, len;	/* unread bytes are buf[off..len) */
	char *cap;		/* captured start of the current body */
	size_t caplen;
	uint64_t body;		/* body bytes of the current reply */
};

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
};

static struct sockaddr_in server_addr;
static const char *host_name = "127.0.0.1";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------- connection */

static int conn_open(struct conn *c)
{
	struct timeval tv = {IO_TIMEOUT_S, 0};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (const struct sockaddr *)&server_addr, sizeof(server_addr)) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->off = c->len = 0;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->off = c->len = 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read more bytes after the unread ones; 0 on data, 1 on EOF, -1 on error. */
static int fill(struct conn *c)
{
	ssize_t r;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == BUF_SIZE)
		return -1;
	do
		r = recv(c->fd, c->buf + c->len, BUF_SIZE - c->len, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0)
		return 1;
	c->len += (size_t)r;
	return 0;
}

/* Take n body bytes (with n == UINT64_MAX: all of them, until EOF). */
static int take_body(struct conn *c, uint64_t n)
{
	int until_eof = n == UINT64_MAX;

	while (n) {
		size_t have = c->len - c->off, k;

		if (!have) {
			int r = fill(c);

			if (r == 1 && until_eof)
				return 0;
			if (r != 0)
				return -1;
			continue;
		}
		k = have < n ? have : (size_t)n;
		if (c->caplen < CAPTURE_MAX) {
			size_t room = CAPTURE_MAX - c->caplen, m = k < room ? k : room;

			memcpy(c->cap + c->caplen, c->buf + c->off, m);
			c->caplen += m;
		}
		c->off += k;
		c->body += k;
		if (!until_eof)
			n -= k;
	}
	return 0;
}

/* One CRLF-terminated line (without the CRLF) of at most cap - 1 bytes. */
static int take_line(struct conn *c, char *out, size_t cap)
{
	for (;;) {
		char *s = c->buf + c->off;
		char *e = memmem(s, c->len - c->off, "\r\n", 2);

		if (e) {
			size_t n = (size_t)(e - s);

			if (n >= cap)
				return -1;
			memcpy(out, s, n);
			out[n] = '\0';
			c->off += n + 2;
			return 0;
		}
		if (c->len - c->off >= cap || fill(c) != 0)
			return -1;
	}
}

/*
 * Read one whole reply: 0 with *status, the body counted in c->body and its
 * start in c->cap (NUL-terminated); -1 on a network or protocol error.
 */
static int read_response(struct conn *c, int *status, int *close_after)
{
	char line[HEAD_MAX];
	long long clen = -1;
	int chunked = 0;

	c->caplen = 0;
	c->body = 0;
	*close_after = 0;
	if (take_line(c, line, sizeof(line)) != 0)
		return -1;
	if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12)
		return -1;
	{
		char *end;
		long st = strtol(line + 9, &end, 10);

		if (end != line + 12 || st < 100 || st > 599)
			return -1;
		*status = (int)st;
	}
	if (line[7] == '0')
		*close_after = 1;
	for (;;) {
		char *v;

		if (take_line(c, line, sizeof(line)) != 0)
			return -1;
		if (!line[0])
			break;
		v = strchr(line, ':');
		if (!v)
			return -1;
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (!strcasecmp(line, "Content-Length")) {
			char *end;

			errno = 0;
			clen = strtoll(v, &end, 10);
			if (errno || end == v || clen < 0)
				return -1;
		} else if (!strcasecmp(line, "Transfer-Encoding") && strcasestr(v, "chunked")) {
			chunked = 1;
		} else if (!strcasecmp(line, "Connection")) {
			if (strcasestr(v, "close"))
				*close_after = 1;
			else if (strcasestr(v, "keep-alive"))
				*close_after = 0;
		}
	}
	if (chunked) {
		for (;;) {
			unsigned long long n;
			char *end;

			if (take_line(c, line, sizeof(line)) != 0)
				return -1;
			errno = 0;
			n = strtoull(line, &end, 16);
			if (errno || end == line)
				return -1;
			if (n == 0) {
				do
					if (take_line(c, line, sizeof(line)) != 0)
						return -1;
				while (line[0]);
				break;
			}
			if (take_body(c, n) != 0 || take_line(c, line, sizeof(line)) != 0 || line[0])
				return -1;
		}
	} else if (clen >= 0) {
		if (take_body(c, (uint64_t)clen) != 0)
			return -1;
	} else if (*status != 204 && *status != 304) {
		*close_after = 1;
		if (take_body(c, UINT64_MAX) != 0)
			return -1;
	}
	c->cap[c->caplen < CAPTURE_MAX ? c->caplen : CAPTURE_MAX - 1] = '\0';
	return 0;
}

/*
 * One request and its reply over c, reconnecting once if the server closed
 * the idle connection.  Returns 0 with *status, -1 on a network error.
 */
static int request(struct conn *c, const char *method, const char *path, const char *token,
		   const char *body, size_t blen, int *status)
{
	char head[TOKEN_MAX + PATH_MAX_LEN + 512];
	int h, close_after;

	if (body)
		h = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
			     "Content-Type: application/x-ndjson\r\nContent-Length: %zu\r\n\r\n",
			     method, path, host_name, ntohs(server_addr.sin_port), token, blen);
	else
		h = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n\r\n",
			     method, path, host_name, ntohs(server_addr.sin_port), token);
	if (h < 0 || (size_t)h >= sizeof(head))
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && conn_open(c) != 0)
			return -1;
		if (send_all(c->fd, head, (size_t)h) == 0 &&
		    (!body || send_all(c->fd, body, blen) == 0) &&
		    read_response(c, status, &close_after) == 0) {
			if (close_after)
				conn_close(c);
			return 0;
		}
		conn_close(c);
	}
	return -1;
}

static void show_body(const char *what, int status, const struct conn *c)
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

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

static int run_get(const struct cfg *cfg, struct conn *c)
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
	t_start = now();
	deadline = t_start + cfg->seconds;
	while (n < (size_t)cfg->requests && now() < deadline) {
		const char *path = urls[n % nurls];
		double t0 = now();
		int status;

		if (request(c, "GET", path, cfg->token, NULL, 0, &status) != 0) {
			fprintf(stderr, "qbench: GET %s: network or protocol error\n", path);
			goto out;
		}
		if (status != 200) {
			show_body(path, status, c);
			goto out;
		}
		lat[n++] = now() - t0;
		bytes += c->body;
	}
	t_end = now();
	qsort(lat, n, sizeof(*lat), cmp_double);
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
static long long metrics_lag(const struct cfg *cfg, struct conn *c, int *have)
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

static int run_lag(const struct cfg *cfg, struct conn *rd, struct conn *wr)
{
	size_t cap = (size_t)(cfg->seconds / cfg->interval) + 16, n = 0;
	double *lag = calloc(cap, sizeof(*lag));
	double t_start = now(), deadline = t_start + cfg->seconds, worst = 0;
	long long size0 = -1, size1 = -1, max_behind = -1, max_metric = -1;
	long long first_size = -1;
	unsigned long long tag = (unsigned long long)time(NULL) * 1000003ULL + (unsigned)getpid();
	int have_metrics = 1, rc = 1;
	FILE *rf;

	if (!lag)
		return 1;
	while (now() < deadline && n < cap) {
		double t_tick = now(), t_ack, t_found = 0;
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
		t_ack = now();
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
				t_found = now();
				break;
			}
			/* Keep sampling the lag in entries while this probe waits. */
			m = metrics_lag(cfg, rd, &have_metrics);
			if (m > max_metric)
				max_metric = m;
			if (now() - t_ack > LAG_GIVE_UP_S) {
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
		sleep_s(t_tick + cfg->interval - now());
	}
	if (request(rd, "GET", "/healthz", cfg->token, NULL, 0, &(int){0}) == 0)
		size1 = json_uint(rd->cap, "tree_size");
	qsort(lag, n, sizeof(*lag), cmp_double);
	{
		double el = now() - t_start;
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

/* ----------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fputs("usage: qbench get --port P --token-file F --urls FILE [--requests N] [--seconds S]\n"
	      "                  [--host 127.0.0.1] [--results FILE --key NAME]\n"
	      "       qbench lag --port P --token-file AUDITOR --writer-token-file WRITER\n"
	      "                  [--seconds S] [--interval S] [--results FILE --key NAME]\n", f);
}

static int read_token(const char *file, char *out, size_t cap)
{
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f)
		return -1;
	if (!fgets(out, (int)cap, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return n ? 0 : -1;
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
	if (strcmp(cfg->mode, "get") && strcmp(cfg->mode, "lag"))
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
		else if (!strcmp(a, "--key"))
			cfg->key = val;
		else
			return -1;
	}
	if (!cfg->port || !tok || read_token(tok, cfg->token, sizeof(cfg->token)) != 0) {
		fprintf(stderr, "qbench: --port and a readable --token-file are required\n");
		return -1;
	}
	if (!strcmp(cfg->mode, "get") && !cfg->urls)
		return -1;
	if (!strcmp(cfg->mode, "lag") &&
	    (!wtok || read_token(wtok, cfg->wtoken, sizeof(cfg->wtoken)) != 0)) {
		fprintf(stderr, "qbench: lag needs a readable --writer-token-file\n");
		return -1;
	}
	if (cfg->results && !cfg->key)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct cfg cfg = {.host = "127.0.0.1", .requests = 1000, .seconds = 30, .interval = 0.5};
	struct conn c1 = {.fd = -1}, c2 = {.fd = -1};
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
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons((uint16_t)cfg.port);
	if (inet_pton(AF_INET, cfg.host, &server_addr.sin_addr) != 1) {
		fprintf(stderr, "qbench: --host must be an IPv4 address\n");
		return 2;
	}
	c1.buf = malloc(BUF_SIZE);
	c1.cap = malloc(CAPTURE_MAX);
	c2.buf = malloc(BUF_SIZE);
	c2.cap = malloc(CAPTURE_MAX);
	if (!c1.buf || !c1.cap || !c2.buf || !c2.cap) {
		fprintf(stderr, "qbench: out of memory\n");
		return 1;
	}
	if (!strcmp(cfg.mode, "get"))
		rc = run_get(&cfg, &c1);
	else
		rc = run_lag(&cfg, &c1, &c2);
	conn_close(&c1);
	conn_close(&c2);
	free(c1.buf);
	free(c1.cap);
	free(c2.buf);
	free(c2.cap);
	return rc;
}
