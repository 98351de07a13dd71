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
 *  3. Replies are read whole (Content-Length, chunked or until close) into a
 *     buffer capped at RESP_MAX before the next request is sent.
 *  4. Exit status 0 only when something was accepted and every non-2xx
 *     reply was back-pressure (429/503); anything else means the server or
 *     the bench is broken, and the figure is not to be trusted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_event.h"

#define BODIES 8		   /* distinct request bodies per connection */
#define RESP_MAX (16u << 20)	   /* cap of one reply */
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
	int fd;
	char *req[BODIES];
	size_t reqlen[BODIES];
	char *rbuf;
	size_t rcap, rlen;
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
static pthread_mutex_t sample_lock = PTHREAD_MUTEX_INITIALIZER;
static char *sample_body[MAX_STATUS]; /* first reply body per non-2xx status */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *commas(double v, char *buf, size_t cap)
{
	char raw[32];
	size_t n, j = 0;
	int len;

	len = snprintf(raw, sizeof(raw), "%.0f", v < 0 ? 0 : v);
	if (len < 0 || (size_t)len >= sizeof(raw)) {
		snprintf(buf, cap, "?");
		return buf;
	}
	n = (size_t)len;
	for (size_t i = 0; i < n && j + 2 < cap; i++) {
		if (i && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = raw[i];
	}
	buf[j] = '\0';
	return buf;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

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
		h = snprintf(hdr, sizeof(hdr),
			     "POST %s HTTP/1.1\r\n"
			     "Host: %s:%d\r\n"
			     "Authorization: Bearer %s\r\n"
			     "Content-Type: application/x-ndjson\r\n"
			     "Content-Length: %zu\r\n"
			     "\r\n",
			     cfg->path, cfg->host, cfg->port, cfg->token, blen);
		if (h < 0 || (size_t)h >= sizeof(hdr)) {
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
	c->rlen = 0;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rlen = 0;
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

/* Read more bytes into rbuf; 0 on data, -1 on error, 1 on EOF. */
static int fill(struct conn *c)
{
	ssize_t r;

	if (c->rlen == c->rcap) {
		size_t ncap = c->rcap * 2;
		char *nb;

		if (ncap > RESP_MAX)
			return -1;
		nb = realloc(c->rbuf, ncap);
		if (!nb)
			return -1;
		c->rbuf = nb;
		c->rcap = ncap;
	}
	do
		r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0)
		return 1;
	c->rlen += (size_t)r;
	return 0;
}

static const char *find_crlf(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

static void keep_sample(int status, const char *body, size_t n)
{
	if (status < 0 || status >= MAX_STATUS)
		return;
	pthread_mutex_lock(&sample_lock);
	if (!sample_body[status]) {
		size_t k = n < 300 ? n : 300;
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

/*
 * Read one whole reply.  Returns 0 with *status set, or -1 on a network or
 * protocol error.  *close_after is set when the server will close.
 */
static int read_response(struct conn *c, int *status, int *close_after)
{
	const char *hend = NULL, *p, *end;
	size_t hlen, body_off, need;
	long long clen = -1;
	int chunked = 0, rc;

	*close_after = 0;
	for (;;) {
		if (c->rlen >= 4) {
			hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
			if (hend)
				break;
		}
		if (fill(c) != 0)
			return -1;
	}
	hlen = (size_t)(hend - c->rbuf) + 4;
	if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.", 7) != 0)
		return -1;
	*status = (c->rbuf[9] - '0') * 100 + (c->rbuf[10] - '0') * 10 + (c->rbuf[11] - '0');
	if (*status < 100 || *status >= MAX_STATUS)
		return -1;
	if (c->rbuf[7] == '0')
		*close_after = 1; /* HTTP/1.0 closes unless told otherwise */

	/* Headers: one per line after the status line. */
	p = find_crlf(c->rbuf, hend + 2) + 2;
	end = hend + 2;
	while (p < end) {
		const char *eol = find_crlf(p, end);
		size_t ln;

		if (!eol)
			break;
		ln = (size_t)(eol - p);
		if (ln > 15 && !strncasecmp(p, "content-length:", 15)) {
			char tmp[32];
			size_t k = ln - 15 < sizeof(tmp) - 1 ? ln - 15 : sizeof(tmp) - 1;
			char *e;

			memcpy(tmp, p + 15, k);
			tmp[k] = '\0';
			errno = 0;
			clen = strtoll(tmp, &e, 10);
			if (errno || clen < 0 || clen > RESP_MAX)
				return -1;
		} else if (ln > 18 && !strncasecmp(p, "transfer-encoding:", 18)) {
			if (memmem(p, ln, "chunked", 7))
				chunked = 1;
		} else if (ln > 11 && !strncasecmp(p, "connection:", 11)) {
			if (memmem(p, ln, "close", 5))
				*close_after = 1;
		}
		p = eol + 2;
	}
	body_off = hlen;

	if (*status < 200 || *status == 204 || *status == 304) {
		need = body_off;
	} else if (chunked) {
		/* Walk the chunks, reading more as needed, then the trailer. */
		size_t pos = body_off, out = body_off;

		for (;;) {
			const char *eol;
			unsigned long long sz;
			char *e;

			while (!(eol = find_crlf(c->rbuf + pos, c->rbuf + c->rlen)))
				if (fill(c) != 0)
					return -1;
			errno = 0;
			sz = strtoull(c->rbuf + pos, &e, 16);
			if (errno || e == c->rbuf + pos || sz > RESP_MAX)
				return -1;
			pos = (size_t)(eol - c->rbuf) + 2;
			if (sz == 0)
				break;
			while (c->rlen < pos + sz + 2)
				if (fill(c) != 0)
					return -1;
			/* Compact the data so the body is contiguous for samples. */
			memmove(c->rbuf + out, c->rbuf + pos, sz);
			out += sz;
			memmove(c->rbuf + out, c->rbuf + pos + sz + 2, c->rlen - (pos + sz + 2));
			c->rlen -= (pos + sz + 2) - out;
			pos = out;
		}
		/* Trailer lines up to an empty line. */
		for (;;) {
			const char *eol;

			while (!(eol = find_crlf(c->rbuf + pos, c->rbuf + c->rlen)))
				if (fill(c) != 0)
					return -1;
			if (eol == c->rbuf + pos) {
				pos += 2;
				break;
			}
			pos = (size_t)(eol - c->rbuf) + 2;
		}
		if (*status < 200 || *status >= 300)
			keep_sample(*status, c->rbuf + body_off, out - body_off);
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
		return 0;
	} else if (clen >= 0) {
		need = body_off + (size_t)clen;
	} else {
		while ((rc = fill(c)) == 0)
			;
		if (rc < 0)
			return -1;
		need = c->rlen;
		*close_after = 1;
	}
	while (c->rlen < need)
		if (fill(c) != 0)
			return -1;
	if (*status < 200 || *status >= 300)
		keep_sample(*status, c->rbuf + body_off, need - body_off);
	memmove(c->rbuf, c->rbuf + need, c->rlen - need);
	c->rlen -= need;
	return 0;
}

static void net_error(struct conn *c, const char *what)
{
	c->neterr++;
	if (!c->neterr_msg[0])
		snprintf(c->neterr_msg, sizeof(c->neterr_msg), "%s: %s", what,
			 errno ? strerror(errno) : "connection closed");
	conn_close(c);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	unsigned b = 0;

	while (now() < deadline && !atomic_load(&aborted)) {
		int status, close_after;
		double t0;

		if (c->fd < 0 && conn_open(c) != 0) {
			net_error(c, "connect");
			sleep_ms(10);
			continue;
		}
		t0 = now();
		errno = 0;
		if (send_all(c->fd, c->req[b], c->reqlen[b]) != 0) {
			net_error(c, "send");
			continue;
		}
		errno = 0;
		if (read_response(c, &status, &close_after) != 0) {
			net_error(c, "receive");
			continue;
		}
		if (c->nlat == c->latcap) {
			size_t ncap = c->latcap ? c->latcap * 2 : 4096;
			uint32_t *nl = realloc(c->lat, ncap * sizeof(*nl));
			if (nl) {
				c->lat = nl;
				c->latcap = ncap;
			}
		}
		if (c->nlat < c->latcap) {
			double us = (now() - t0) * 1e6;
			c->lat[c->nlat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
		}
		c->status[status]++;
		if (status >= 200 && status < 300)
			c->ok_req++;
		else if (status == 503 || status == 429)
			sleep_ms(5); /* back-pressure: back off briefly, as a client should */
		else
			atomic_store(&aborted, 1); /* e.g. 400/401: every retry would fail too */
		if (close_after)
			conn_close(c);
		b = (b + 1) % BODIES;
	}
	conn_close(c);
	return NULL;
}

/* ---------------------------------------------------------------- main */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static double pct_ms(const uint32_t *s, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)s[i < n ? i : n - 1] / 1000.0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --port P --token-file F [--host 127.0.0.1] [--path /v1/events]\n"
		"               [--batch N] [--conns C] [--seconds S] [--results FILE --key NAME]\n"
		"  POSTs NDJSON batches of N logseal/v1 events (~350 B each) on C keep-alive\n"
		"  connections for S seconds; prints accepted events/s and latency percentiles.\n");
}

static int read_token(const char *file, char *out, size_t cap)
{
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] <= ' ' || out[i] == 0x7f)
			return -1;
	return n ? 0 : -1;
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
	if (read_token(token_file, cfg->token, sizeof(cfg->token))) {
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

	if (parse_args(argc, argv, &cfg)) {
		usage();
		return 2;
	}
	memset(&server_addr, 0, sizeof(server_addr));
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons((uint16_t)cfg.port);
	if (inet_pton(AF_INET, cfg.host, &server_addr.sin_addr) != 1) {
		fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
		return 2;
	}
	cs = calloc((size_t)cfg.conns, sizeof(*cs));
	if (!cs)
		return 1;
	for (int i = 0; i < cfg.conns; i++) {
		cs[i].cfg = &cfg;
		cs[i].idx = i;
		cs[i].fd = -1;
		cs[i].rcap = 64 * 1024;
		cs[i].rbuf = malloc(cs[i].rcap);
		if (!cs[i].rbuf || build_requests(&cs[i])) {
			fprintf(stderr, "loadgen: out of memory\n");
			return 1;
		}
	}

	t0 = now();
	deadline = t0 + cfg.seconds;
	for (int i = 0; i < cfg.conns; i++) {
		if (pthread_create(&cs[i].th, NULL, conn_main, &cs[i]) != 0) {
			fprintf(stderr, "loadgen: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < cfg.conns; i++)
		pthread_join(cs[i].th, NULL);
	elapsed = now() - t0;

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
	qsort(all, nall, sizeof(*all), cmp_u32);
	eps = (double)ok_req * cfg.batch / elapsed;

	snprintf(label, sizeof(label), "HTTP batch %4d, %d conn%s", cfg.batch, cfg.conns,
		 cfg.conns > 1 ? "s" : "");
	printf("  %-40s %12s events/s  p50 %7.2f  p90 %7.2f  p99 %7.2f  max %7.2f ms"
	       "  (%.0f req/s, %s accepted in %.1f s)\n",
	       label, commas(eps, c1, sizeof(c1)), pct_ms(all, nall, 0.50),
	       pct_ms(all, nall, 0.90), pct_ms(all, nall, 0.99), pct_ms(all, nall, 1.0),
	       (double)ok_req / elapsed, commas((double)ok_req * cfg.batch, c2, sizeof(c2)),
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
		free(cs[i].rbuf);
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
