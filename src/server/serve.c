/*
 * serve.c - the server object (serve.h): the start-up sequence, the wait
 * for a stop and the graceful stop.  The options of `logseal serve` and
 * what it prints are cli/cmd_serve.c's.
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
 * its state and is emitted after the next start).  SIGTERM/SIGINT are
 * blocked in every thread (serve_open() blocks them before it starts one)
 * and taken by serve_run() with sigtimedwait(), so no handler runs in an
 * arbitrary thread.
 *
 * Plain HTTP is served only on loopback; any other address needs
 * --tls-cert/--tls-key or --insecure-plaintext.
 */
#include "server/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
#include "store/reader.h"
#include "store/log.h"
#include "store/signer.h"
#include "server/metrics.h"
#include "followers/retention.h"
#include "followers/verify.h"
#include "followers/webhook.h"
#include "followers/witnesses.h"
#include "followers/upload.h"
#include "server/serve_upload.h"
#include "server/session.h"
#include "server/serve_cluster.h"
#include "server/syslog_in.h"

#define DEFAULT_MAX_BODY (16u << 20)
#define DEFAULT_READY_MAX_LAG 100000
#define DEFAULT_MAX_FRESH_LAG 100000
#define TLS_FILE_MAX (1u << 20)
#define DEFAULT_IDEM_WINDOW_S 86400
#define DEFAULT_IDEM_MAX_KEYS 2000000
#define DEFAULT_IDEM_SNAPSHOT_S 60
#define NOTICE_MAX 2048

struct serve {
	struct server s;	/* what the handlers see (api.h) */
	struct serve_opts o;
	struct http *h;
	struct retention_worker *retention;
	struct syslog_in *relp, *syslog_tls;	/* syslog listeners; may be NULL */
	struct idem_start ist;
	char host[256];
	char *cert, *key;	/* PEM text (the key wiped before it is freed) */
	sigset_t sigs;		/* SIGTERM, SIGINT: blocked, taken by serve_run() */
	atomic_int stop;	/* serve_stop() */
};

/* One line to the notice callback. */
static void say(const struct serve_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const struct serve_opts *o, const char *fmt, ...)
{
	char msg[NOTICE_MAX];
	va_list ap;

	if (!o->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->notice(o->notice_ctx, msg);
}

void serve_opts_init(struct serve_opts *o)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

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
	event_policy_init(&o->policy);
	syslog_map_init(&o->syslog_map);
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
	if (!ls_parse_u64(port, 0, 65535, &pn))
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

ls_rc serve_check_listen(const struct serve_opts *o, int *exposed, struct ls_err *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[256];
	int loopback = 0;

	if (exposed)
		*exposed = 0;
	if (!o->listen || !parse_listen(o->listen, &ss, &len, &loopback, host, sizeof(host)))
		return ls_err_set(err, LS_INVALID, "--listen %s: expected HOST:PORT or [IPv6]:PORT",
				  o->listen ? o->listen : "");
	if (!o->tls_cert && !loopback) {
		if (!o->insecure_plaintext)
			return ls_err_set(err, LS_DENIED,
					  "refusing plain HTTP on %s, which is not a loopback "
					  "address: give --tls-cert and --tls-key (or, only on a "
					  "trusted network, --insecure-plaintext)", o->listen);
		if (exposed)
			*exposed = 1;
	}
	return LS_OK;
}

/* Like ssh with a private key: a key others may read is no longer private,
 * and a server that starts with it anyway hides that. */
static ls_rc key_file_private(const char *path, struct ls_err *err)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	if (st.st_mode & 077)
		return ls_err_set(err, LS_DENIED,
				  "the TLS key %s is accessible to others (mode %04o): "
				  "refusing to use it; make it readable by its owner only "
				  "(chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
	return LS_OK;
}

static ls_rc read_pem(const char *path, char **out, struct ls_err *err)
{
	size_t len;

	return fs_read_file(path, TLS_FILE_MAX, out, &len, err);
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
	struct serve *sv = ctx;

	if (rc != LS_OK)
		say(&sv->o, "retention pass failed (%s): %s", ls_rc_name(rc), msg);
	else
		say(&sv->o, "retention: archived %u %s, purged %u, %u held", rep->archived,
		    LS_PL(rep->archived, "segment", "segments"), rep->purged, rep->held);
}

/*
 * Everything serve_open() opened, closed in the order the top of this file
 * gives; ran: the server served (the idempotency snapshot is saved and the
 * stop of the log is reported only then).  Returns LS_OK when all of it
 * closed cleanly.
 */
static ls_rc teardown(struct serve *sv, int ran, uint64_t *signed_size)
{
	struct server *s = &sv->s;
	struct ls_err err = { { 0 } };
	ls_rc r, rc = LS_OK;

	/* The syslog listeners append through the handlers: before anything. */
	syslog_in_stop(sv->relp);
	syslog_in_stop(sv->syslog_tls);
	sv->relp = sv->syslog_tls = NULL;
	if (sv->h) {
		http_stop(sv->h, 30000);
		sv->h = NULL;
	}
	retention_worker_stop(sv->retention);
	/* Before log_close: it appends its events and reads checkpoints. */
	witnesses_stop(s->witnesses);
	s->witnesses = NULL;
	/* Before the log closes; what it did not upload goes up at the next start. */
	upload_stop(s->upload);
	s->upload = NULL;
	/* No request is left (http_stop): the open window's summaries go into
	 * the log while it is still open. */
	denials_close(s->denials);
	/* No request is in flight any more (http_stop): the snapshot is exact. */
	api_idem_saver_stop(s);
	if (ran && api_idem_save(s, &err) != LS_OK)
		say(&sv->o, "idempotency snapshot: %s", err.msg);
	pthread_mutex_lock(&s->emit_mu);
	s->emit_closed = 1;
	pthread_mutex_unlock(&s->emit_mu);
	/* After the last append, before log_close (its threads apply to it). */
	serve_cluster_close(s->cluster);
	s->cluster = NULL;
	if (s->log) {
		uint64_t size = log_size(s->log);

		r = log_close(s->log, &err);
		if (r != LS_OK) {
			say(&sv->o, "closing the log: %s", err.msg);
			rc = r;
		} else if (signed_size) {
			*signed_size = size;
		}
	}
	/* After log_close: the sequencer may notify the followers until then. */
	if (s->alerts && (r = alert_close(s->alerts, &err)) != LS_OK) {
		say(&sv->o, "closing the alert engine: %s", err.msg);
		if (rc == LS_OK)
			rc = r;
	}
	index_close(s->index);
	store_reader_free(s->jr);
	streams_free(s->streams);
	metrics_free(s->metrics);
	denials_free(s->denials);
	sessions_free(s->sessions);
	pthread_mutex_destroy(&s->emit_mu);
	auth_free(s->auth);
	idem_free(s->idem);
	if (sv->key)
		ls_wipe(sv->key, strlen(sv->key));
	free(sv->key);
	free(sv->cert);
	free(sv);
	return rc;
}

ls_rc serve_open(const struct serve_opts *opts, struct serve **out, struct ls_err *err)
{
	struct serve *sv;
	struct server *s;
	const struct serve_opts *o;
	struct http_opts ho;
	struct log_opts lo;
	struct store_recovery rec;
	struct ls_err e = { { 0 } };
	int loopback = 0;
	ls_rc r;

	*out = NULL;
	r = serve_check_listen(opts, NULL, err);
	if (r != LS_OK)
		return r;
	sv = calloc(1, sizeof(*sv));
	if (!sv)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	sv->o = *opts;
	o = &sv->o;
	s = &sv->s;
	if (!sv->o.body_memory)
		sv->o.body_memory = o->max_body * 2 > (256u << 20) ? o->max_body * 2 : (256u << 20);
	pthread_mutex_init(&s->emit_mu, NULL);
	/* Block the stop signals before any thread exists, so all inherit it. */
	sigemptyset(&sv->sigs);
	sigaddset(&sv->sigs, SIGTERM);
	sigaddset(&sv->sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sv->sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&ho, 0, sizeof(ho));
	parse_listen(o->listen, &ho.addr, &ho.addrlen, &loopback, sv->host, sizeof(sv->host));
	if (o->tls_cert) {
		if ((r = key_file_private(o->tls_key, err)) != LS_OK ||
		    (r = read_pem(o->tls_cert, &sv->cert, err)) != LS_OK ||
		    (r = read_pem(o->tls_key, &sv->key, err)) != LS_OK)
			goto fail;
	}

	s->dir = o->dir;
	s->max_body = o->max_body;
	s->ready_max_lag = o->ready_max_lag;
	s->max_fresh_lag = o->max_fresh_lag;
	s->policy = &sv->o.policy;
	memset(&lo, 0, sizeof(lo));
	lo.dir = o->dir;
	lo.checkpoint_interval_ms = o->checkpoint_ms;
	lo.max_unsigned_entries = o->max_unsigned;
	lo.max_unsigned_ms = o->max_unsigned_ms;
	lo.segment_leaves = o->segment_leaves;
	struct signer_spec spec = { o->signing_key, o->sign_command, o->verifier_key,
				    o->notice, o->notice_ctx };
	lo.signer = &spec;
	memset(&rec, 0, sizeof(rec));
	{
		/* What is served is checked first (verify.h): a tile or bundle
		 * changed or deleted since the last full verify refuses the start. */
		uint64_t from = 0;

		r = verify_serve_start(o->dir, &from, &e);
		if (r != LS_OK) {
			ls_err_set(err, r, "refusing to start: %s (%s); run `logseal verify --data %s`",
				   e.msg, ls_rc_name(r), o->dir);
			goto fail;
		}
	}
	r = log_open(&lo, &s->log, &rec, &e);
	if (r != LS_OK) {
		ls_err_set(err, r, "cannot open the log in %s: %s (%s)", o->dir, e.msg,
			   ls_rc_name(r));
		goto fail;
	}
	if (rec.cut)
		say(o, "recovery cut a torn tail of %s at byte %llu (%llu bytes, "
		    "%llu unacknowledged records from index %llu); the event "
		    "logseal.recovery.truncated at index %llu says so", rec.segment,
		    (unsigned long long)rec.offset, (unsigned long long)rec.bytes,
		    (unsigned long long)rec.records, (unsigned long long)rec.first,
		    (unsigned long long)rec.first);
	r = auth_open(o->dir, &s->auth, &e);
	if (r == LS_NOTFOUND) {
		r = auth_bootstrap(o->dir, &e);
		if (r == LS_OK) {
			say(o, "no token store in %s: created one with a new admin token", o->dir);
			r = auth_open(o->dir, &s->auth, &e);
		}
	}
	if (r != LS_OK) {
		ls_err_set(err, r, "token store: %s", e.msg);
		goto fail;
	}
	{
		struct idem_opts io = {
			.window_us = (int64_t)o->idem_window_s * 1000000,
			.max_keys = (size_t)o->idem_max_keys,
		};

		r = api_idem_open(s, &io, &sv->ist, &e);
		if (r != LS_OK) {
			ls_err_set(err, r, "idempotency keys: %s", e.msg);
			goto fail;
		}
		if (sv->ist.why[0])
			say(o, "idempotency snapshot not used (%s): rebuilt from the journal",
			    sv->ist.why);
		r = api_idem_saver_start(s, (unsigned)o->idem_snapshot_s, err);
		if (r != LS_OK)
			goto fail;
	}
	r = index_open(o->dir, &s->index, &e);
	if (r == LS_OK) {
		char jdir[PATH_MAX];

		/* The index cuts its posting lists where the log seals its segments. */
		index_set_range_leaves(s->index, o->segment_leaves ? (uint32_t)o->segment_leaves
								   : 65536);

		/* Every entry read (queries, entry bundles) goes through it. */
		if (snprintf(jdir, sizeof(jdir), "%s/journal", o->dir) >= (int)sizeof(jdir))
			r = ls_err_set(&e, LS_LIMIT, "data directory path too long");
		else
			r = store_reader_open(jdir, &s->jr, &e);
		if (r == LS_OK) {
			index_notify(s->index, log_size(s->log));
			r = index_start(s->index, &e);
		}
	}
	if (r != LS_OK) {
		ls_err_set(err, r, "query index: %s (%s)%s", e.msg, ls_rc_name(r),
			   r == LS_BUSY ? "; is another server or `logseal reindex` running?" : "");
		goto fail;
	}
	{
		struct stream_opts so = {
			.max_clients = o->max_streams,
			.max_lag = o->stream_buffer,
			.heartbeat_ms = o->stream_heartbeat_s * 1000,
			.auth = s->auth,
		};
		size_t nlabels;
		const char *const *methods;
		const char *const *labels = http_route_labels(&nlabels, &methods);

		r = streams_new(&so, o->dir, log_size(s->log), &s->streams, err);
		if (r == LS_OK && (r = metrics_new(labels, methods, nlabels, &s->metrics)) != LS_OK)
			ls_err_set(err, r, "cannot set up metrics: %zu routes (at most %d)", nlabels,
				   METRICS_MAX_ROUTES);
		if (r != LS_OK)
			goto fail;
	}
	if (!o->no_alerts) {
		struct alert_opts ao;
		char jdir[PATH_MAX];
		const char *clock_file = getenv(SERVE_TEST_CLOCK_ENV);

		memset(&ao, 0, sizeof(ao));
		ao.emit = api_alert_emit;
		ao.emit_ctx = s;
		if (o->cluster) {
			serve_cluster_node_name(o->cluster_node, o->listen, s->node, sizeof(s->node));
			ao.node = s->node;
		}
		ao.webhook_allow = o->webhook_allow;
		if (clock_file && *clock_file) {
			say(o, "TESTING: the alert engine's clock follows %s", clock_file);
			ao.now_us = test_clock;
			ao.clock_ctx = (void *)clock_file;
		}
		snprintf(jdir, sizeof(jdir), "%s/journal", o->dir);
		r = alert_open(o->dir, &ao, &s->alerts, &e);
		if (r == LS_OK)
			r = alert_catch_up(s->alerts, jdir, log_size(s->log), &e);
		if (r != LS_OK) {
			ls_err_set(err, r, "alert engine: %s (%s)", e.msg, ls_rc_name(r));
			goto fail;
		}
	}
	{
		struct denials_opts dopt = {
			.window_ms = o->denial_window_s * 1000,
			.burst = o->denial_burst,
			.throttle = o->denial_throttle,
			.no_throttle = o->denial_throttle == 0,
			.emit = api_denial_summary,
			.ctx = s,
		};

		r = denials_new(&dopt, &s->denials, err);
		if (r != LS_OK)
			goto fail;
	}
	r = sessions_new(o->session_idle_s, o->tls_cert != NULL, &s->sessions, err);
	if (r != LS_OK)
		goto fail;
	log_set_observer(s->log, on_durable, s);
	if (o->cluster) {
		/* Cluster mode: appends go through the database from here on,
		 * before anything (the alert engine first) appends. */
		char cfg[PATH_MAX];
		struct serve_cluster_args ca = { o->cluster, o->cluster_node, o->listen, s->log,
						 0, o->notice, o->notice_ctx,
						 o->cluster_liveness_s, o->idem_window_s,
						 s->auth, o->dir }; /* tokens shared via the db */

		snprintf(cfg, sizeof(cfg), "%s/objstore.json", o->dir);
		ca.object_store = o->object_store || access(cfg, F_OK) == 0;

		r = serve_cluster_open(&ca, &s->cluster, err);
		if (r != LS_OK)
			goto fail;
	}
	if (s->alerts && (r = alert_start(s->alerts, &e)) != LS_OK) {
		ls_err_set(err, r, "alert engine: %s", e.msg);
		goto fail;
	}

	/* The uploader (never in the acknowledgement path) before the first
	 * request: ingest asks it whether the backlog is past its bound. */
	{
		struct serve_upload_args ua = {
			o->dir, o->object_store, o->object_store_endpoint, o->object_store_region,
			o->object_store_path_style, o->object_lock_days, o->object_store_backlog,
			s->log, o->notice, o->notice_ctx, serve_cluster_gate(s->cluster),
		};

		r = serve_upload_open(&ua, &s->upload, err);
		if (r != LS_OK)
			goto fail;
	}
	if (s->upload) {
		struct upload_stats us;

		upload_stats(s->upload, &us);
		say(o, "object store: uploading to %s", us.describe);
	}
	ho.threads = o->threads;
	ho.conn_limit = o->conn_limit;
	ho.per_ip_limit = o->per_ip_limit;
	ho.timeout_s = o->timeout_s;
	ho.conn_memory = 64 * 1024;
	ho.body_budget = o->body_memory;
	ho.tls_cert = sv->cert;
	ho.tls_key = sv->key;
	r = http_start(s, &ho, &sv->h, &e);
	if (r != LS_OK) {
		ls_err_set(err, r, "%s: %s", o->listen, e.msg);
		goto fail;
	}
	for (int k = 0; k < 2; k++) {
		struct syslog_in_opts so = {
			.kind = k ? SYSLOG_IN_OCTET : SYSLOG_IN_RELP,
			.listen = k ? o->syslog_tls_listen : o->relp_listen,
			.tls_cert = o->tls_cert, .tls_key = o->tls_key,
			.token_file = o->syslog_token_file, .map = &o->syslog_map,
			.notice = o->notice, .notice_ctx = o->notice_ctx,
		};

		if (so.listen && (r = syslog_in_start(s, &so, k ? &sv->syslog_tls : &sv->relp,
						      &e)) != LS_OK) {
			ls_err_set(err, r, "%s %s: %s", k ? "--syslog-tls" : "--relp", so.listen,
				   e.msg);
			goto fail;
		}
	}
	{
		/* Retention follows the alert engine's test clock too, and
		 * then runs every LOGSEAL_TEST_RETENTION_MS (testing only). */
		struct retention_worker_opts wo;
		const char *clock_file = getenv(SERVE_TEST_CLOCK_ENV);
		const char *ms = getenv(SERVE_TEST_RETENTION_ENV);

		memset(&wo, 0, sizeof(wo));
		wo.report = retention_said;
		wo.report_ctx = sv;
		if (clock_file && *clock_file) {
			wo.now_us = test_clock;
			wo.clock_ctx = (void *)clock_file;
			if (ms && *ms)
				wo.interval_ms = (unsigned)strtoul(ms, NULL, 10);
		}
		r = retention_worker_start(s->log, &wo, &sv->retention, err);
		if (r != LS_OK)
			goto fail;
	}
	{
		struct witnesses_opts wo = {
			.dir = o->dir,
			.log = s->log,
			.specs = o->witnesses,
			.nspecs = o->nwitnesses,
			.quorum = o->witness_quorum,
			.interval_ms = o->witness_interval_ms,
			.alert_s = o->witness_alert_s,
			.cacert = o->witness_cacert,
			.notice = o->notice,
			.notice_ctx = o->notice_ctx,
		};

		r = witnesses_start(&wo, &s->witnesses, err);
		if (r != LS_OK)
			goto fail;
	}
	*out = sv;
	return LS_OK;
fail:
	teardown(sv, 0, NULL);
	return r;
}

void serve_info(struct serve *sv, struct serve_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->host, sizeof(out->host), "%s", sv->host);
	out->port = http_port(sv->h);
	out->tls = sv->cert != NULL;
	out->entries = log_size(sv->s.log);
	out->idem_keys = idem_count(sv->s.idem);
	out->index_at = index_watermark(sv->s.index);
	out->idem_snapshot_keys = sv->ist.snapshot_keys;
	out->idem_covered = sv->ist.covered;
	out->idem_scanned = sv->ist.scanned;
	out->idem_seconds = sv->ist.seconds;
	out->idem_cpu_seconds = sv->ist.cpu_seconds;
	out->relp_port = syslog_in_port(sv->relp);
	out->syslog_tls_port = syslog_in_port(sv->syslog_tls);
}

int serve_run(struct serve *sv)
{
	/* serve_stop() is seen within a tick; a signal at once.  Between two
	 * waits a signal stays pending: every thread blocks it. */
	const struct timespec tick = { 0, 100 * 1000000L };
	int sig;

	while (!atomic_load(&sv->stop)) {
		sig = sigtimedwait(&sv->sigs, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
			return SIGTERM;
	}
	return 0;
}

void serve_stop(struct serve *sv)
{
	atomic_store(&sv->stop, 1);
}

ls_rc serve_close(struct serve *sv, uint64_t *signed_size)
{
	if (!sv)
		return LS_OK;
	return teardown(sv, 1, signed_size);
}
