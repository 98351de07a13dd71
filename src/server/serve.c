/*
 * serve.c - `logseal serve`: options, the start-up sequence and the
 * graceful stop.
 *
 * Start-up order matters: the listening address and TLS files are checked
 * before anything is opened, the log is opened (recovering the journal)
 * before the idempotency map is rebuilt from it, and the socket is opened
 * last, so a client never reaches a server that cannot yet tell duplicates
 * apart.  The query index is opened and started (index.h invariant 3:
 * reconciled with the recovered journal) before the first append, and is
 * told the durable size first, so its follower never reads past it; it then
 * catches up in its own thread while the server already accepts requests
 * (queries report the watermark they cover).  At the stop the log is closed
 * before the index, because the log's sequencer calls the index's observer
 * until it has drained.  The alert engine (alert.h) and the live streams
 * follow the log the same way: the engine catches up from the journal
 * before the observer is set, so it misses nothing; it may append fired
 * alerts until log_close, so api_alert_emit() is closed first and the
 * engine freed after the log (what it has not yet logged stays pending in
 * its state and is emitted after the next start).  SIGTERM/SIGINT are blocked in every thread and taken by the main
 * thread with sigwait(), so no handler runs in an arbitrary thread.
 *
 * Plain HTTP is served only on loopback; any other address needs
 * --tls-cert/--tls-key or --insecure-plaintext.
 */
#include "server/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "followers/alert.h"
#include "server/api.h"
#include "server/auth.h"
#include "base/crypto.h"
#include "server/denials.h"
#include "base/fsutil.h"
#include "server/http.h"
#include "server/idem.h"
#include "followers/index.h"
#include "store/journal.h"
#include "store/log.h"
#include "server/metrics.h"
#include "followers/retention.h"
#include "followers/verify.h"
#include "followers/webhook.h"

#define DEFAULT_MAX_BODY (16u << 20)
#define DEFAULT_READY_MAX_LAG 100000
#define DEFAULT_MAX_FRESH_LAG 100000
#define TEST_CLOCK_ENV "LOGSEAL_TEST_CLOCK_FILE"
#define TEST_RETENTION_ENV "LOGSEAL_TEST_RETENTION_MS"
#define TLS_FILE_MAX (1u << 20)
#define DEFAULT_IDEM_WINDOW_S 86400
#define DEFAULT_IDEM_MAX_KEYS 2000000
#define DEFAULT_IDEM_SNAPSHOT_S 60

struct serve_opts {
	const char *dir;
	const char *listen;
	const char *tls_cert;
	const char *tls_key;
	int insecure_plaintext;
	unsigned threads;
	uint64_t checkpoint_ms;
	uint64_t max_unsigned, max_unsigned_ms;
	size_t max_body;
	size_t body_memory;	/* 0: the default, body_memory_default() */
	unsigned conn_limit;
	unsigned per_ip_limit;
	unsigned timeout_s;
	unsigned max_streams;
	uint64_t stream_buffer;
	unsigned stream_heartbeat_s;
	uint64_t ready_max_lag;
	uint64_t max_fresh_lag;
	int no_alerts;
	unsigned denial_window_s;
	unsigned denial_burst;
	unsigned denial_throttle;	/* 0: never 429 */
	const char *webhook_allow;
	uint64_t idem_window_s;
	uint64_t idem_max_keys;
	uint64_t idem_snapshot_s;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: logseal serve [--data DIR] [--listen HOST:PORT] [options]\n"
		"\n"
		"  --data DIR               data directory made by `logseal init` (default ./data)\n"
		"  --listen HOST:PORT       address to listen on (default 127.0.0.1:8080;\n"
		"                           IPv6 as [::1]:8080)\n"
		"  --tls-cert FILE          PEM certificate (chain) for HTTPS\n"
		"  --tls-key FILE           PEM private key for HTTPS\n"
		"  --insecure-plaintext     allow plain HTTP on a non-loopback address (NOT for\n"
		"                           production: tokens and events travel unencrypted)\n"
		"  --threads N              HTTP worker threads (default: 4 per CPU, >= 16, <= 64)\n"
		"  --checkpoint-interval MS sign a checkpoint once the oldest unsigned entry is\n"
		"                           MS ms old (default 500)\n"
		"  --max-unsigned N         acknowledge no more while N entries, or\n"
		"  --max-unsigned-ms MS     an entry MS ms old, wait for a signed checkpoint\n"
		"                           (default 65536; 1000, or twice the interval)\n"
		"  --max-body BYTES         largest request body (default %u)\n"
		"  --max-body-memory BYTES  request bodies held at once, all connections together\n"
		"                           (default 256 MiB, or 2 x --max-body if more); a body\n"
		"                           that does not fit is refused with 503 and Retry-After\n"
		"  --max-connections N      connections in all (default 1024)\n"
		"  --max-connections-per-ip N  connections from one address (default 256)\n"
		"  --timeout SECONDS        idle connection timeout (default 30)\n"
		"  --max-streams N          concurrent live streams, GET /v1/stream (default 64)\n"
		"  --stream-buffer N        a live stream more than N entries behind the log is\n"
		"                           cut with an overflow message (default 65536)\n"
		"  --stream-heartbeat S     keepalive comment after S idle seconds (default 15)\n"
		"  --ready-max-lag N        /readyz fails while the index is N entries behind\n"
		"                           (default %u)\n"
		"  --max-search-lag N       ingest waits while more than N accepted entries are not\n"
		"                           yet searchable (default %u; 0: never wait)\n"
		"  --no-alerts              do not run the alert engine (alert routes answer 503)\n"
		"  --denial-window S        refused requests (401/403) are accounted per source\n"
		"                           (IPv4 address, IPv6 /64) in windows of S s (default 10)\n"
		"  --denial-burst N         the first N refusals of a source in a window are logged\n"
		"                           one by one, the rest counted into one summary event\n"
		"                           per window (default 10)\n"
		"  --denial-throttle N      past N refusals in a window a source gets 429\n"
		"                           (default 1000; 0: never)\n"
		"  --webhook-allow-private CIDR[,CIDR...]\n"
		"                           let webhooks reach these loopback, private or\n"
		"                           link-local networks (refused by default: SSRF)\n"
		"  --idem-window SECONDS    remember idempotency keys for events received in the\n"
		"                           last SECONDS (default %u; 0: no time bound)\n"
		"  --idem-max-keys N        remember at most N keys, oldest forgotten first\n"
		"                           (default %u; 0: no cap)\n"
		"  --idem-snapshot-interval S  save the keys to DIR/state/idem.snap every S\n"
		"                           seconds while the log grows, and at the stop\n"
		"                           (default %u; 0: only at the stop)\n"
		"  --help                   this text\n"
		"\n"
		"Testing only: the environment variable " TEST_CLOCK_ENV "=FILE shifts the\n"
		"alert engine's clock by the number of seconds in FILE (re-read at every use),\n"
		"so tests can make absence rules fire without waiting.\n",
		DEFAULT_MAX_BODY, DEFAULT_READY_MAX_LAG, DEFAULT_MAX_FRESH_LAG,
		DEFAULT_IDEM_WINDOW_S, DEFAULT_IDEM_MAX_KEYS, DEFAULT_IDEM_SNAPSHOT_S);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return 0;
	*out = v;
	return 1;
}

/* HOST:PORT or [V6]:PORT -> address.  *loopback tells whether plain HTTP
 * may be served there. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
			int *loopback, char *host, size_t hcap)
{
	const char *colon, *port;
	struct addrinfo hints, *res = NULL;
	uint64_t pn;
	size_t hl;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return 0;
		hl = (size_t)(close - spec - 1);
		if (hl == 0 || hl >= hcap)
			return 0;
		memcpy(host, spec + 1, hl);
		host[hl] = 0;
		port = close + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return 0;
		hl = (size_t)(colon - spec);
		if (hl == 0 || hl >= hcap || memchr(spec, ':', hl))
			return 0;
		memcpy(host, spec, hl);
		host[hl] = 0;
		port = colon + 1;
	}
	if (!parse_u64(port, 0, 65535, &pn))
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		return 0;
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET) {
		uint32_t a = ntohl(((struct sockaddr_in *)ss)->sin_addr.s_addr);
		*loopback = (a >> 24) == 127;
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)ss)->sin6_addr;
		*loopback = IN6_IS_ADDR_LOOPBACK(a) ||
			    (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	} else {
		return 0;
	}
	return 1;
}

static int parse_args(int argc, char **argv, struct serve_opts *o)
{
	static const struct option longs[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "insecure-plaintext", no_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 't' },
		{ "checkpoint-interval", required_argument, NULL, 'i' },
		{ "max-unsigned", required_argument, NULL, 'U' },
		{ "max-unsigned-ms", required_argument, NULL, 'W' },
		{ "max-body", required_argument, NULL, 'b' },
		{ "max-body-memory", required_argument, NULL, 'M' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "max-connections-per-ip", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "max-streams", required_argument, NULL, 'S' },
		{ "stream-buffer", required_argument, NULL, 'B' },
		{ "stream-heartbeat", required_argument, NULL, 'H' },
		{ "ready-max-lag", required_argument, NULL, 'R' },
		{ "max-search-lag", required_argument, NULL, 'F' },
		{ "no-alerts", no_argument, NULL, 'A' },
		{ "denial-window", required_argument, NULL, 1001 },
		{ "denial-burst", required_argument, NULL, 1002 },
		{ "denial-throttle", required_argument, NULL, 1003 },
		{ "webhook-allow-private", required_argument, NULL, 1004 },
		{ "idem-window", required_argument, NULL, 0x1d0 },
		{ "idem-max-keys", required_argument, NULL, 0x1d1 },
		{ "idem-snapshot-interval", required_argument, NULL, 0x1d2 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->dir = "./data";
	o->listen = "127.0.0.1:8080";
	/* A worker waits for its batch's fdatasync: with more workers than
	 * cores, more batches share each group commit (8 clients on 2 cores:
	 * 16 workers took 12-44% more events/s than 4). */
	o->threads = ncpu > 4 ? (unsigned)(4 * ncpu > 64 ? 64 : 4 * ncpu) : 16;
	o->max_body = DEFAULT_MAX_BODY;
	o->conn_limit = 1024;
	o->per_ip_limit = 256;
	o->timeout_s = 30;
	o->max_streams = 64;
	o->stream_buffer = 65536;
	o->stream_heartbeat_s = 15;
	o->ready_max_lag = DEFAULT_READY_MAX_LAG;
	o->max_fresh_lag = DEFAULT_MAX_FRESH_LAG;
	o->denial_window_s = 10;
	o->denial_burst = 10;
	o->denial_throttle = 1000;
	o->idem_window_s = DEFAULT_IDEM_WINDOW_S;
	o->idem_max_keys = DEFAULT_IDEM_MAX_KEYS;
	o->idem_snapshot_s = DEFAULT_IDEM_SNAPSHOT_S;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'c': o->tls_cert = optarg; break;
		case 'k': o->tls_key = optarg; break;
		case 'P': o->insecure_plaintext = 1; break;
		case 't':
			if (!parse_u64(optarg, 1, 256, &v))
				goto bad;
			o->threads = (unsigned)v;
			break;
		case 'i':
			if (!parse_u64(optarg, 1, 3600000, &v))
				goto bad;
			o->checkpoint_ms = v;
			break;
		case 'U':
			if (!parse_u64(optarg, 1, 100000000, &v))
				goto bad;
			o->max_unsigned = v;
			break;
		case 'W':
			if (!parse_u64(optarg, 10, 3600000, &v))
				goto bad;
			o->max_unsigned_ms = v;
			break;
		case 'b':
			if (!parse_u64(optarg, 1024, 1ull << 30, &v))
				goto bad;
			o->max_body = (size_t)v;
			break;
		case 'M':
			if (!parse_u64(optarg, 1024, 1ull << 40, &v))
				goto bad;
			o->body_memory = (size_t)v;
			break;
		case 'C':
			if (!parse_u64(optarg, 1, 1000000, &v))
				goto bad;
			o->conn_limit = (unsigned)v;
			break;
		case 'I':
			if (!parse_u64(optarg, 1, 1000000, &v))
				goto bad;
			o->per_ip_limit = (unsigned)v;
			break;
		case 'T':
			if (!parse_u64(optarg, 1, 3600, &v))
				goto bad;
			o->timeout_s = (unsigned)v;
			break;
		case 'S':
			if (!parse_u64(optarg, 1, 100000, &v))
				goto bad;
			o->max_streams = (unsigned)v;
			break;
		case 'B':
			if (!parse_u64(optarg, 1, 1u << 24, &v))
				goto bad;
			o->stream_buffer = v;
			break;
		case 'H':
			if (!parse_u64(optarg, 1, 3600, &v))
				goto bad;
			o->stream_heartbeat_s = (unsigned)v;
			break;
		case 'R':
			if (!parse_u64(optarg, 0, UINT64_MAX, &v))
				goto bad;
			o->ready_max_lag = v;
			break;
		case 'F':
			if (!parse_u64(optarg, 0, UINT64_MAX, &v))
				goto bad;
			o->max_fresh_lag = v;
			break;
		case 'A':
			o->no_alerts = 1;
			break;
		case 1001:
			if (!parse_u64(optarg, 1, 3600, &v))
				goto bad;
			o->denial_window_s = (unsigned)v;
			break;
		case 1002:
			if (!parse_u64(optarg, 1, 1000000, &v))
				goto bad;
			o->denial_burst = (unsigned)v;
			break;
		case 1003:
			if (!parse_u64(optarg, 0, 100000000, &v))
				goto bad;
			o->denial_throttle = (unsigned)v;
			break;
		case 1004: {
			struct webhook_policy wp;

			if (webhook_policy_parse(optarg, &wp, NULL) != LS_OK)
				goto bad;
			o->webhook_allow = optarg;
			break;
		}
		case 0x1d0:
			if (!parse_u64(optarg, 0, 100ull * 365 * 86400, &v))
				goto bad;
			o->idem_window_s = v;
			break;
		case 0x1d1:
			if (!parse_u64(optarg, 0, 1ull << 32, &v))
				goto bad;
			o->idem_max_keys = v;
			break;
		case 0x1d2:
			if (!parse_u64(optarg, 0, 86400, &v))
				goto bad;
			o->idem_snapshot_s = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "logseal serve: unknown option or missing value: %s\n",
				argv[optind - 1]);
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "logseal serve: unexpected argument: %s\n", argv[optind]);
		return -1;
	}
	if (!o->tls_cert != !o->tls_key) {
		fprintf(stderr, "logseal serve: --tls-cert and --tls-key go together\n");
		return -1;
	}
	if (o->body_memory && o->body_memory < o->max_body) {
		fprintf(stderr, "logseal serve: --max-body-memory %zu is less than --max-body %zu\n",
			o->body_memory, o->max_body);
		return -1;
	}
	if (!o->body_memory)
		o->body_memory = o->max_body * 2 > (256u << 20) ? o->max_body * 2 : (256u << 20);
	return 1;
bad:
	fprintf(stderr, "logseal serve: bad value for %s: %s\n", argv[optind - 1 > 0 ? optind - 1 : 0],
		optarg);
	return -1;
}

/* Like ssh with a private key: a key others may read is no longer private,
 * and a server that starts with it anyway hides that. */
static int key_file_private(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "logseal serve: %s: %s\n", path, strerror(errno));
		return 0;
	}
	if (st.st_mode & 077) {
		fprintf(stderr,
			"logseal serve: the TLS key %s is accessible to others (mode %04o): "
			"refusing to use it; make it readable by its owner only "
			"(chmod 600 %s)\n", path, (unsigned)(st.st_mode & 07777), path);
		return 0;
	}
	return 1;
}

static int read_pem(const char *path, char **out)
{
	struct ls_err err;
	size_t len;

	if (fs_read_file(path, TLS_FILE_MAX, out, &len, &err) != LS_OK) {
		fprintf(stderr, "logseal serve: %s\n", err.msg);
		return 0;
	}
	return 1;
}

/* Log observer (sequencer thread): entries [0, first + n) are durable.
 * Each follower only queues or copies; none blocks. */
static void on_durable(void *ctx, uint64_t first, const struct iovec *entries,
		       const uint64_t *offsets, size_t n)
{
	struct server *s = ctx;

	index_feed(s->index, first, entries, offsets, n);
	if (s->alerts)
		alert_feed(s->alerts, first, entries, n);
	streams_feed(s->streams, first, entries, n);
}

/* The alert engine's clock under LOGSEAL_TEST_CLOCK_FILE (testing only):
 * the real clock plus the whole seconds in the file, re-read each time. */
static int64_t test_clock(void *ctx)
{
	const char *path = ctx;
	struct timespec ts;
	char *text = NULL, *end;
	size_t len;
	long long off = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (fs_read_file(path, 64, &text, &len, NULL) == LS_OK) {
		errno = 0;
		off = strtoll(text, &end, 10);
		if (errno || end == text || off < -315360000LL || off > 315360000LL)
			off = 0;
	}
	free(text);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + (int64_t)off * 1000000;
}

/* Retention passes that did something, or failed, go to the server's log. */
static void retention_said(void *ctx, ls_rc rc, const struct retention_report *rep,
			   const char *msg)
{
	(void)ctx;
	if (rc != LS_OK)
		fprintf(stderr, "logseal serve: retention pass failed (%s): %s\n", ls_rc_name(rc),
			msg);
	else
		fprintf(stderr, "logseal serve: retention: archived %u segments, purged %u, "
			"%u held\n", rep->archived, rep->purged, rep->held);
}

int serve_main(int argc, char **argv)
{
	struct serve_opts o;
	struct http_opts ho;
	struct server s;
	struct log_opts lo;
	struct journal_recovery rec;
	struct ls_err err = { { 0 } };
	struct http *h = NULL;
	struct retention_worker *retention = NULL;
	char host[256], *cert = NULL, *key = NULL;
	int loopback = 0, rc = 1, sig;
	struct idem_start ist;
	sigset_t set;
	ls_rc r;

	memset(&s, 0, sizeof(s));
	/* The allocator keeps what the server frees: a batch's buffers are
	 * hundreds of KiB (request bodies, entry bundles, copies for the
	 * followers), and with glibc's defaults each was mapped afresh and
	 * faulted in page by page, then handed back.  Up to 32 MiB an
	 * allocation comes from the heap, and up to 256 MiB of free heap is
	 * kept; the peak is what the bounded queues allow either way.  Request
	 * bodies from 1 MiB up are mappings of their own (http.c), handed back
	 * as soon as their request ends. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	pthread_mutex_init(&s.emit_mu, NULL);
	switch (parse_args(argc, argv, &o)) {
	case 0: return 0;
	case -1: return 2;
	}
	memset(&ho, 0, sizeof(ho));
	if (!parse_listen(o.listen, &ho.addr, &ho.addrlen, &loopback, host, sizeof(host))) {
		fprintf(stderr, "logseal serve: --listen %s: expected HOST:PORT or [IPv6]:PORT\n",
			o.listen);
		return 2;
	}
	if (!o.tls_cert && !loopback) {
		if (!o.insecure_plaintext) {
			fprintf(stderr,
				"logseal serve: refusing plain HTTP on %s, which is not a loopback "
				"address: give --tls-cert and --tls-key (or, only on a trusted "
				"network, --insecure-plaintext)\n", o.listen);
			return 2;
		}
		fprintf(stderr,
			"logseal serve: WARNING: --insecure-plaintext: serving plain HTTP on %s; "
			"bearer tokens and events cross the network UNENCRYPTED\n", o.listen);
	}
	if (o.tls_cert && (!key_file_private(o.tls_key) || !read_pem(o.tls_cert, &cert) ||
			   !read_pem(o.tls_key, &key)))
		goto out;

	s.dir = o.dir;
	s.max_body = o.max_body;
	s.ready_max_lag = o.ready_max_lag;
	s.max_fresh_lag = o.max_fresh_lag;
	memset(&lo, 0, sizeof(lo));
	lo.dir = o.dir;
	lo.checkpoint_interval_ms = o.checkpoint_ms;
	lo.max_unsigned_entries = o.max_unsigned;
	lo.max_unsigned_ms = o.max_unsigned_ms;
	memset(&rec, 0, sizeof(rec));
	{
		/* What is served is checked first (verify.h): a tile or bundle
		 * changed or deleted since the last full verify refuses the start. */
		uint64_t from = 0;

		r = verify_serve_start(o.dir, &from, &err);
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: refusing to start: %s (%s); run `logseal "
				"verify --data %s`\n", err.msg, ls_rc_name(r), o.dir);
			goto out;
		}
	}
	r = log_open(&lo, &s.log, &rec, &err);
	if (r != LS_OK) {
		fprintf(stderr, "logseal serve: cannot open the log in %s: %s (%s)\n", o.dir,
			err.msg, ls_rc_name(r));
		goto out;
	}
	if (rec.cut)
		fprintf(stderr,
			"logseal serve: recovery cut a torn tail of %s at byte %llu (%llu bytes, "
			"%llu unacknowledged records from index %llu); the event "
			"logseal.recovery.truncated at index %llu says so\n", rec.segment,
			(unsigned long long)rec.offset, (unsigned long long)rec.bytes,
			(unsigned long long)rec.records, (unsigned long long)rec.first,
			(unsigned long long)rec.first);
	r = auth_open(o.dir, &s.auth, &err);
	if (r == LS_NOTFOUND) {
		r = auth_bootstrap(o.dir, &err);
		if (r == LS_OK) {
			fprintf(stderr, "logseal serve: no token store in %s: created one with a "
					"new admin token\n", o.dir);
			r = auth_open(o.dir, &s.auth, &err);
		}
	}
	if (r != LS_OK) {
		fprintf(stderr, "logseal serve: token store: %s\n", err.msg);
		goto out;
	}
	{
		struct idem_opts io = {
			.window_us = (int64_t)o.idem_window_s * 1000000,
			.max_keys = (size_t)o.idem_max_keys,
		};

		r = api_idem_open(&s, &io, &ist, &err);
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: idempotency keys: %s\n", err.msg);
			goto out;
		}
		if (ist.why[0])
			fprintf(stderr, "logseal serve: idempotency snapshot not used (%s): "
				"rebuilt from the journal\n", ist.why);
		r = api_idem_saver_start(&s, (unsigned)o.idem_snapshot_s, &err);
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: %s\n", err.msg);
			goto out;
		}
	}
	r = index_open(o.dir, &s.index, &err);
	if (r == LS_OK) {
		char jdir[PATH_MAX];

		/* Without it, reads take entries from the bundles: slower, not wrong. */
		if (snprintf(jdir, sizeof(jdir), "%s/journal", o.dir) < (int)sizeof(jdir) &&
		    journal_reader_open(jdir, &s.jr, &err) != LS_OK)
			s.jr = NULL;
		index_notify(s.index, log_size(s.log));
		r = index_start(s.index, &err);
	}
	if (r != LS_OK) {
		fprintf(stderr, "logseal serve: query index: %s (%s)%s\n", err.msg, ls_rc_name(r),
			r == LS_BUSY ? "; is another server or `logseal reindex` running?" : "");
		goto out;
	}
	{
		struct stream_opts so = {
			.max_clients = o.max_streams,
			.max_lag = o.stream_buffer,
			.heartbeat_ms = o.stream_heartbeat_s * 1000,
			.auth = s.auth,
		};
		size_t nlabels;
		const char *const *labels = http_route_labels(&nlabels);

		r = streams_new(&so, o.dir, log_size(s.log), &s.streams, &err);
		if (r == LS_OK && (r = metrics_new(labels, nlabels, &s.metrics)) != LS_OK)
			ls_err_set(&err, r, "cannot set up metrics");
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: %s\n", err.msg);
			goto out;
		}
	}
	if (!o.no_alerts) {
		struct alert_opts ao;
		char jdir[PATH_MAX];
		const char *clock_file = getenv(TEST_CLOCK_ENV);

		memset(&ao, 0, sizeof(ao));
		ao.emit = api_alert_emit;
		ao.emit_ctx = &s;
		ao.webhook_allow = o.webhook_allow;
		if (clock_file && *clock_file) {
			fprintf(stderr, "logseal serve: TESTING: the alert engine's clock follows %s\n",
				clock_file);
			ao.now_us = test_clock;
			ao.clock_ctx = (void *)clock_file;
		}
		snprintf(jdir, sizeof(jdir), "%s/journal", o.dir);
		r = alert_open(o.dir, &ao, &s.alerts, &err);
		if (r == LS_OK)
			r = alert_catch_up(s.alerts, jdir, log_size(s.log), &err);
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: alert engine: %s (%s)\n", err.msg,
				ls_rc_name(r));
			goto out;
		}
	}
	{
		struct denials_opts dopt = {
			.window_ms = o.denial_window_s * 1000,
			.burst = o.denial_burst,
			.throttle = o.denial_throttle,
			.no_throttle = o.denial_throttle == 0,
			.emit = api_denial_summary,
			.ctx = &s,
		};

		r = denials_new(&dopt, &s.denials, &err);
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: %s\n", err.msg);
			goto out;
		}
	}
	log_set_observer(s.log, on_durable, &s);
	if (s.alerts && (r = alert_start(s.alerts, &err)) != LS_OK) {
		fprintf(stderr, "logseal serve: alert engine: %s\n", err.msg);
		goto out;
	}

	ho.threads = o.threads;
	ho.conn_limit = o.conn_limit;
	ho.per_ip_limit = o.per_ip_limit;
	ho.timeout_s = o.timeout_s;
	ho.conn_memory = 64 * 1024;
	ho.body_budget = o.body_memory;
	ho.tls_cert = cert;
	ho.tls_key = key;

	/* Block the stop signals before any thread exists, so all inherit it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = http_start(&s, &ho, &h, &err);
	if (r != LS_OK) {
		fprintf(stderr, "logseal serve: %s: %s\n", o.listen, err.msg);
		goto out;
	}
	{
		/* Retention follows the alert engine's test clock too, and
		 * then runs every LOGSEAL_TEST_RETENTION_MS (testing only). */
		struct retention_worker_opts wo;
		const char *clock_file = getenv(TEST_CLOCK_ENV), *ms = getenv(TEST_RETENTION_ENV);

		memset(&wo, 0, sizeof(wo));
		wo.report = retention_said;
		if (clock_file && *clock_file) {
			wo.now_us = test_clock;
			wo.clock_ctx = (void *)clock_file;
			if (ms && *ms)
				wo.interval_ms = (unsigned)strtoul(ms, NULL, 10);
		}
		r = retention_worker_start(s.log, &wo, &retention, &err);
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: %s\n", err.msg);
			goto out;
		}
	}
	if (strchr(host, ':'))
		printf("logseal: listening on %s://[%s]:%u\n", cert ? "https" : "http", host,
		       http_port(h));
	else
		printf("logseal: listening on %s://%s:%u\n", cert ? "https" : "http", host,
		       http_port(h));
	printf("logseal: data in %s, %llu entries, %zu idempotency keys, index at %llu\n", o.dir,
	       (unsigned long long)log_size(s.log), idem_count(s.idem),
	       (unsigned long long)index_watermark(s.index));
	printf("logseal: idempotency keys: %zu from the snapshot covering %llu entries, "
	       "%llu journal entries read after it (%.2f s, %.2f s CPU)\n", ist.snapshot_keys,
	       (unsigned long long)ist.covered, (unsigned long long)ist.scanned, ist.seconds,
	       ist.cpu_seconds);
	printf("logseal: admin token in %s/admin.token (send it as \"Authorization: Bearer ...\")\n",
	       o.dir);
	fflush(stdout);

	do {
		sig = 0;
		if (sigwait(&set, &sig) != 0)
			sig = SIGTERM;
	} while (sig != SIGTERM && sig != SIGINT);
	printf("logseal: %s: finishing requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	fflush(stdout);
	http_stop(h, 30000);
	h = NULL;
	rc = 0;
out:
	retention_worker_stop(retention);
	/* No request is left (http_stop): the open window's summaries go into
	 * the log while it is still open. */
	denials_close(s.denials);
	/* No request is in flight any more (http_stop): the snapshot is exact. */
	api_idem_saver_stop(&s);
	if (rc == 0 && api_idem_save(&s, &err) != LS_OK)
		fprintf(stderr, "logseal serve: idempotency snapshot: %s\n", err.msg);
	pthread_mutex_lock(&s.emit_mu);
	s.emit_closed = 1;
	pthread_mutex_unlock(&s.emit_mu);
	if (s.log) {
		uint64_t size = log_size(s.log);
		r = log_close(s.log, &err);
		if (r != LS_OK) {
			fprintf(stderr, "logseal serve: closing the log: %s\n", err.msg);
			rc = 1;
		} else if (rc == 0) {
			printf("logseal: stopped; last checkpoint signed at size %llu\n",
			       (unsigned long long)size);
		}
	}
	/* After log_close: the sequencer may notify the followers until then. */
	if (s.alerts && alert_close(s.alerts, &err) != LS_OK) {
		fprintf(stderr, "logseal serve: closing the alert engine: %s\n", err.msg);
		rc = 1;
	}
	index_close(s.index);
	journal_reader_free(s.jr);
	streams_free(s.streams);
	metrics_free(s.metrics);
	denials_free(s.denials);
	pthread_mutex_destroy(&s.emit_mu);
	auth_free(s.auth);
	idem_free(s.idem);
	if (key)
		ls_wipe(key, strlen(key));
	free(key);
	free(cert);
	return rc;
}

/* ======================================================= reindex */

static void reindex_progress(void *ctx, uint64_t done)
{
	(void)ctx;
	fprintf(stderr, "\rlogseal reindex: %llu entries indexed", (unsigned long long)done);
	fflush(stderr);
}

int reindex_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_text[] =
		"usage: logseal reindex --data DIR\n"
		"\n"
		"Rebuilds the query index (DIR/index/index.sqlite) from the journal, from\n"
		"entry 0, into a new file that then replaces the old one.  The index is\n"
		"derived data: nothing else in DIR is changed.  Refuses to run while a\n"
		"server holds the index (stop `logseal serve` first).\n"
		"\n"
		"  --data DIR   data directory (default ./data)\n"
		"  --help       this text\n";
	const char *dir = "./data";
	struct ls_err err = { { 0 } };
	uint64_t count = 0;
	int c, tty = isatty(2);
	ls_rc r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "logseal reindex: unknown option or missing value: %s\n",
				argv[optind - 1]);
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "logseal reindex: unexpected argument: %s\n", argv[optind]);
		return 2;
	}
	r = index_rebuild(dir, tty ? reindex_progress : NULL, NULL, &count, &err);
	if (tty)
		fputc('\n', stderr);
	if (r == LS_BUSY) {
		fprintf(stderr, "logseal reindex: %s: the index is in use by a running server; "
				"stop it first (%s)\n", dir, err.msg);
		return 1;
	}
	if (r != LS_OK) {
		fprintf(stderr, "logseal reindex: %s: %s (%s)\n", dir, err.msg, ls_rc_name(r));
		return 1;
	}
	printf("logseal reindex: %llu entries indexed in %s/index\n", (unsigned long long)count,
	       dir);
	return 0;
}
