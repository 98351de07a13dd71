/*
 * loadgen.c - HTTP load generator for `logseal serve`: POSTs NDJSON batches
 * of logseal/v1 events over keep-alive HTTP/1.1 connections and reports the
 * accepted events per second and the request latency percentiles.
 *
 *	loadgen --port P --token-file F [--host 127.0.0.1] [--path /v1/events]
 *	        [--batch 1000] [--conns 8] [--seconds 4] [--results FILE --key NAME]
 *
 * One thread per connection, each sending one request at a time (no
 * pipelining), as a log shipper does.  Bodies are generated before the clock
 * starts (a rotating set of distinct batches per connection), so the
 * generator's own CPU goes into sockets, not into printing JSON.
 *
 * Invariants:
 *  1. Only 2xx replies count as accepted; every other status is counted by
 *     code and the first reply body of each code is shown.
 *  2. The run is bounded: no request starts after --seconds, and each socket
 *     has send and receive timeouts, so a stuck server cannot hang it.  A
 *     reply other than 2xx, 429 or 503 stops every connection at once.
 *  3. Replies are read whole (Content-Length, chunked or until close) before
 *     the next request is sent, through bench_http.c's fixed read buffer: a
 *     body over RESP_MAX is an error, and only the first SAMPLE_MAX bytes
 *     of a non-2xx body are copied out, 2xx bodies not at all.
 *  4. Exit status 0 only when something was accepted and every non-2xx
 *     reply was back-pressure (429/503); anything else means the server or
 *     the bench is broken, and the figure is not to be trusted.
 *  5. SIGTERM ends the run early (bench/run.sh's disk watchdog sends it):
 *     the requests in flight complete and the figures cover the time run.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_event.h"
#include "bench_http.h"
#include "bench_util.h"

#define BODIES 8		   /* distinct request bodies per connection */
#define RESP_MAX (16u << 20)	   /* cap of one reply's body */
#define RBUF_SIZE (64u << 10)	   /* read buffer per connection */
#define SAMPLE_MAX 300		   /* bytes shown of a non-2xx reply */
#define IO_TIMEOUT_S 30
#define MAX_STATUS 600
#define TOKEN_MAX 4096

struct cfg {
	const char *host;
	int port;
	const char *path;
	char token[TOKEN_MAX];
	int batch;
	int conns;
	double seconds;
	const char *results;
	const char *key;
};

struct conn {
	const struct cfg *cfg;
	int idx;
	struct bench_conn http;
	char *req[BODIES];
	size_t reqlen[BODIES];
	uint32_t *lat;		/* microseconds */
	size_t nlat, latcap;
	uint64_t ok_req;
	uint64_t status[MAX_STATUS];
	uint64_t neterr;
	char neterr_msg[160];
	pthread_t th;
};

static struct sockaddr_in server_addr;
static double deadline;
static atomic_int aborted; /* set on a status that retrying cannot fix */
static atomic_int stopped; /* SIGTERM: finish the requests in flight, then report */
static pthread_mutex_t sample_lock = PTHREAD_MUTEX_INITIALIZER;
static char *sample_body[MAX_STATUS]; /* first reply body per non-2xx status */

/* ------------------------------------------------------------ requests */

static int build_requests(struct conn *c)
{
	const struct cfg *cfg = c->cfg;
	uint64_t rng = ((uint64_t)c->idx + 1) * 0xD1B54A32D192ED03ULL;
	time_t base = time(NULL);
	size_t bodycap = (size_t)cfg->batch * (BENCH_EVENT_CAP + 1);

	for (int b = 0; b < BODIES; b++) {
		char hdr[TOKEN_MAX + 512];
		size_t blen = 0;
		char *body = malloc(bodycap);
		int h;

		if (!body)
			return -1;
		for (int i = 0; i < cfg->batch; i++) {
			long us = (long)((b * cfg->batch + i) * 37 % 1000000);
			size_t n = bench_event(body + blen, bodycap - blen, &rng, base, us);
			if (!n) {
				free(body);
				return -1;
			}
			blen += n;
			body[blen++] = '\n';
		}
		h = bench_http_head(hdr, sizeof(hdr), "POST", cfg->path, cfg->host, cfg->port,
				    cfg->token, 1, blen);
		if (h < 0) {
			free(body);
			return -1;
		}
		c->req[b] = malloc((size_t)h + blen);
		if (!c->req[b]) {
			free(body);
			return -1;
		}
		memcpy(c->req[b], hdr, (size_t)h);
		memcpy(c->req[b] + h, body, blen);
		c->reqlen[b] = (size_t)h + blen;
		free(body);
	}
	return 0;
}

static void keep_sample(int status, const char *body, size_t n)
{
	if (status < 0 || status >= MAX_STATUS)
		return;
	pthread_mutex_lock(&sample_lock);
	if (!sample_body[status]) {
		size_t k = n < SAMPLE_MAX ? n : SAMPLE_MAX;
		sample_body[status] = malloc(k + 1);
		if (sample_body[status]) {
			memcpy(sample_body[status], body, k);
			sample_body[status][k] = '\0';
			for (size_t i = 0; i < k; i++)
				if (sample_body[status][i] == '\n' || sample_body[status][i] == '\r')
					sample_body[status][i] = ' ';
		}
	}
	pthread_mutex_unlock(&sample_lock);
}

static void net_error(struct conn *c, const char *what)
{
	c->neterr++;
	if (!c->neterr_msg[0])
		snprintf(c->neterr_msg, sizeof(c->neterr_msg), "%s: %s", what,
			 errno ? strerror(errno) : "connection closed");
	bench_conn_close(&c->http);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	unsigned b = 0;

	while (bench_now() < deadline && !atomic_load(&aborted) && !atomic_load(&stopped)) {
		int status, close_after;
		double t0;

		if (c->http.fd < 0 && bench_conn_open(&c->http) != 0) {
			net_error(c, "connect");
			bench_sleep(0.010);
			continue;
		}
		t0 = bench_now();
		errno = 0;
		if (bench_send_all(c->http.fd, c->req[b], c->reqlen[b]) != 0) {
			net_error(c, "send");
			continue;
		}
		errno = 0;
		if (bench_http_read_response(&c->http, &status, &close_after) != 0) {
			net_error(c, "receive");
			continue;
		}
		if (status < 200 || status >= 300)
			keep_sample(status, c->http.cap, c->http.caplen);
		if (c->nlat == c->latcap) {
			size_t ncap = c->latcap ? c->latcap * 2 : 4096;
			uint32_t *nl = realloc(c->lat, ncap * sizeof(*nl));
			if (nl) {
				c->lat = nl;
				c->latcap = ncap;
			}
		}
		if (c->nlat < c->latcap) {
			double us = (bench_now() - t0) * 1e6;
			c->lat[c->nlat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
		}
		c->status[status]++;
		if (status >= 200 && status < 300)
			c->ok_req++;
		else if (status == 503 || status == 429)
			bench_sleep(0.005); /* back-pressure: back off briefly, as a client should */
		else
			atomic_store(&aborted, 1); /* e.g. 400/401: every retry would fail too */
		if (close_after)
			bench_conn_close(&c->http);
		b = (b + 1) % BODIES;
	}
	bench_conn_close(&c->http);
	return NULL;
}

/* ---------------------------------------------------------------- main */

static double pct_ms(const uint32_t *s, size_t n, double p)
{
	return n ? (double)s[bench_pct_index(n, p)] / 1000.0 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --port P --token-file F [--host 127.0.0.1] [--path /v1/events]\n"
		"               [--batch N] [--conns C] [--seconds S] [--results FILE --key NAME]\n"
		"  POSTs NDJSON batches of N logseal/v1 events (~350 B each) on C keep-alive\n"
		"  connections for S seconds; prints accepted events/s and latency percentiles.\n");
}

static int parse_args(int argc, char **argv, struct cfg *cfg)
{
	const char *token_file = NULL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->host = "127.0.0.1";
	cfg->path = "/v1/events";
	cfg->batch = 1000;
	cfg->conns = 8;
	cfg->seconds = 4;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		long n;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			exit(0);
		}
		if (!v)
			return -1;
		i++;
		errno = 0;
		if (!strcmp(a, "--host")) {
			cfg->host = v;
		} else if (!strcmp(a, "--path")) {
			cfg->path = v;
		} else if (!strcmp(a, "--token-file")) {
			token_file = v;
		} else if (!strcmp(a, "--results")) {
			cfg->results = v;
		} else if (!strcmp(a, "--key")) {
			cfg->key = v;
		} else if (!strcmp(a, "--seconds")) {
			cfg->seconds = strtod(v, &end);
			if (errno || *end || !(cfg->seconds > 0 && cfg->seconds <= 3600))
				return -1;
		} else if (!strcmp(a, "--port") || !strcmp(a, "--batch") || !strcmp(a, "--conns")) {
			n = strtol(v, &end, 10);
			if (errno || *end || n <= 0)
				return -1;
			if (!strcmp(a, "--port")) {
				if (n > 65535)
					return -1;
				cfg->port = (int)n;
			} else if (!strcmp(a, "--batch")) {
				if (n > 100000)
					return -1;
				cfg->batch = (int)n;
			} else {
				if (n > 4096)
					return -1;
				cfg->conns = (int)n;
			}
		} else {
			return -1;
		}
	}
	if (!cfg->port || !token_file)
		return -1;
	if (bench_read_token(token_file, cfg->token, sizeof(cfg->token))) {
		fprintf(stderr, "loadgen: %s: no usable token\n", token_file);
		exit(1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	struct conn *cs;
	uint64_t ok_req = 0, status[MAX_STATUS] = {0}, neterr = 0, bad = 0;
	uint32_t *all;
	size_t nall = 0;
	double t0, elapsed, eps;
	char label[64], c1[32], c2[32];
	const char *neterr_msg = NULL;
	sigset_t term;

	if (parse_args(argc, argv, &cfg)) {
		usage();
		return 2;
	}
	if (bench_http_addr(&server_addr, cfg.host, cfg.port) != 0) {
		fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
		return 2;
	}
	cs = calloc((size_t)cfg.conns, sizeof(*cs));
	if (!cs)
		return 1;
	for (int i = 0; i < cfg.conns; i++) {
		cs[i].cfg = &cfg;
		cs[i].idx = i;
		if (bench_conn_init(&cs[i].http, &server_addr, IO_TIMEOUT_S, RBUF_SIZE,
				    SAMPLE_MAX + 1) != 0 || build_requests(&cs[i])) {
			fprintf(stderr, "loadgen: out of memory\n");
			return 1;
		}
		cs[i].http.body_max = RESP_MAX;
		cs[i].http.capture_2xx = 0;
	}

	/* SIGTERM ends the run early but still reports it (invariant 5): the
	 * connection threads never see it, the main thread waits for it. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	t0 = bench_now();
	deadline = t0 + cfg.seconds;
	for (int i = 0; i < cfg.conns; i++) {
		if (pthread_create(&cs[i].th, NULL, conn_main, &cs[i]) != 0) {
			fprintf(stderr, "loadgen: pthread_create failed\n");
			return 1;
		}
	}
	while (bench_now() < deadline && !atomic_load(&aborted)) {
		struct timespec tick = {0, 100000000};

		if (sigtimedwait(&term, NULL, &tick) == SIGTERM) {
			atomic_store(&stopped, 1);
			printf("  (SIGTERM after %.1f s: stopped early)\n", bench_now() - t0);
			break;
		}
	}
	for (int i = 0; i < cfg.conns; i++)
		pthread_join(cs[i].th, NULL);
	elapsed = bench_now() - t0;

	for (int i = 0; i < cfg.conns; i++) {
		ok_req += cs[i].ok_req;
		neterr += cs[i].neterr;
		if (cs[i].neterr && !neterr_msg)
			neterr_msg = cs[i].neterr_msg;
		for (int s = 0; s < MAX_STATUS; s++)
			status[s] += cs[i].status[s];
		nall += cs[i].nlat;
	}
	all = malloc((nall ? nall : 1) * sizeof(*all));
	if (!all)
		return 1;
	nall = 0;
	for (int i = 0; i < cfg.conns; i++) {
		memcpy(all + nall, cs[i].lat, cs[i].nlat * sizeof(*all));
		nall += cs[i].nlat;
	}
	qsort(all, nall, sizeof(*all), bench_cmp_u32);
	eps = (double)ok_req * cfg.batch / elapsed;

	snprintf(label, sizeof(label), "HTTP batch %4d, %d conn%s", cfg.batch, cfg.conns,
		 cfg.conns > 1 ? "s" : "");
	printf("  %-40s %12s events/s  p50 %7.2f  p90 %7.2f  p99 %7.2f  max %7.2f ms"
	       "  (%.0f req/s, %s accepted in %.1f s)\n",
	       label, bench_commas(eps, c1, sizeof(c1)), pct_ms(all, nall, 0.50),
	       pct_ms(all, nall, 0.90), pct_ms(all, nall, 0.99), pct_ms(all, nall, 1.0),
	       (double)ok_req / elapsed, bench_commas((double)ok_req * cfg.batch, c2, sizeof(c2)),
	       elapsed);
	for (int s = 0; s < MAX_STATUS; s++) {
		if (!status[s] || (s >= 200 && s < 300))
			continue;
		printf("  %-40s   status %d x %" PRIu64 "%s%s\n", "", s, status[s],
		       sample_body[s] ? ": " : "", sample_body[s] ? sample_body[s] : "");
		if (s != 503 && s != 429)
			bad += status[s];
	}
	if (neterr)
		printf("  %-40s   network errors x %" PRIu64 " (first: %s)\n", "", neterr,
		       neterr_msg ? neterr_msg : "?");

	if (cfg.results && cfg.key) {
		FILE *f = fopen(cfg.results, "a");
		if (f) {
			fprintf(f, "%s_eps %.6f\n%s_accepted %" PRIu64 "\n%s_p50_ms %.3f\n"
				"%s_p99_ms %.3f\n", cfg.key, eps, cfg.key, ok_req * (uint64_t)cfg.batch,
				cfg.key, pct_ms(all, nall, 0.50), cfg.key, pct_ms(all, nall, 0.99));
			fclose(f);
		}
	}
	free(all);
	for (int i = 0; i < cfg.conns; i++) {
		for (int b = 0; b < BODIES; b++)
			free(cs[i].req[b]);
		bench_conn_release(&cs[i].http);
		free(cs[i].lat);
	}
	free(cs);
	for (int s = 0; s < MAX_STATUS; s++)
		free(sample_body[s]);
	if (!ok_req) {
		fprintf(stderr, "loadgen: no request was accepted\n");
		return 1;
	}
	if (bad) {
		fprintf(stderr, "loadgen: %" PRIu64 " replies with an unexpected status\n", bad);
		return 1;
	}
	return 0;
}
