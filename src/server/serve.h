/*
 * serve.h - the server as an object: open it from options, run it until a
 * stop signal or serve_stop(), close it.  `logseal serve` (cli/cmd_serve.c)
 * parses its options into a struct serve_opts and prints what it says; a
 * test opens one in-process (tests/unit/test_server.c).  Also the two pieces
 * of `logseal init` that belong to the server (the token store and a
 * self-signed TLS certificate for trying it out).
 *
 * Calling sequence: serve_opts_init() -> (fill in) -> serve_open() ->
 * serve_info() -> serve_run() (blocks) -> serve_close().  serve_stop() may
 * be called from any thread while serve_run() runs.
 *
 * serve_open() blocks SIGTERM and SIGINT in the calling thread before it
 * starts any thread, so that every server thread inherits the mask and only
 * serve_run() takes them (sigtimedwait), and ignores SIGPIPE: both are
 * process-wide effects.  One server per process.
 */
#ifndef LS_SERVE_H
#define LS_SERVE_H

#include "core/event_policy.h"
#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "core/formats/syslog.h"

/* Testing only: FILE holding seconds by which the alert engine's and the
 * retention worker's clock are shifted (re-read at every use). */
#define SERVE_TEST_CLOCK_ENV "LOGSEAL_TEST_CLOCK_FILE"
/* Testing only, with the test clock: run retention every N ms. */
#define SERVE_TEST_RETENTION_ENV "LOGSEAL_TEST_RETENTION_MS"

struct serve_opts {
	const char *dir;
	/* Redaction and the event-time check (core/event_policy.h): the
	 * defaults after serve_opts_init(). */
	struct event_policy policy;
	const char *listen;		/* HOST:PORT or [V6]:PORT; port 0: any free one */
	const char *tls_cert;		/* PEM files; both or neither */
	const char *tls_key;
	int insecure_plaintext;		/* allow plain HTTP on a non-loopback address */
	unsigned threads;
	uint64_t checkpoint_ms;
	uint64_t max_unsigned, max_unsigned_ms;
	uint64_t segment_leaves;	/* log_opts.segment_leaves; 0: 65536 */
	size_t max_body;
	size_t body_memory;	/* 0: the default, max(256 MiB, 2 x max_body) */
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
	const char *webhook_allow;	/* CIDR[,CIDR...] (webhook.h), or NULL */
	unsigned session_idle_s;	/* dashboard sessions' idle timeout (session.h); 0: 900 */
	/* The signing key off the disk (store/signer.h): a pkcs11: URI or a
	 * sign command, and the public key file; NULL: DIR/keys/log.key. */
	const char *signing_key, *sign_command, *verifier_key;
	uint64_t idem_window_s;
	uint64_t idem_max_keys;
	uint64_t idem_snapshot_s;
	/* Witness cosigning (followers/witnesses.h): "URL=VKEY" each. */
	const char *witnesses[16];
	size_t nwitnesses;
	unsigned witness_quorum;	/* k of n; 0: all */
	uint64_t witness_interval_ms;	/* 0: 1000 */
	uint64_t witness_alert_s;	/* 0: 300 */
	const char *witness_cacert;	/* CA file for https witnesses; NULL: system store */
	/* The object store (followers/upload.h): s3://BUCKET/PREFIX, written
	 * to DIR/objstore.json with the rest; NULL: that file's, if any. */
	const char *object_store;
	const char *object_store_endpoint;	/* NULL: the file's / AWS_ENDPOINT_URL */
	const char *object_store_region;
	int object_store_path_style;		/* 1: path-style addressing */
	uint64_t object_lock_days;		/* 0: the file's, else from retention */
	uint64_t object_store_backlog;		/* 0: the file's, else 1 GiB */
	/* Cluster mode (store/cluster.h, docs/CLUSTER.md): the database's
	 * libpq connection string; NULL: single node.  cluster_node: this
	 * node's name (NULL: the host name and the port). */
	const char *cluster;
	const char *cluster_node;
	/* A node not seen for this long no longer holds back the pruning of
	 * the database's old batches (0: 600 s; < 0: never prune them). */
	int64_t cluster_liveness_s;
	/* The syslog listeners (server/syslog_in.h): RELP and RFC 5425
	 * syslog over TLS (TLS with tls_cert/tls_key; plain TCP only on
	 * loopback), writing as the writer token in syslog_token_file,
	 * mapped by syslog_map (core/formats/syslog.h).  NULL: not served. */
	const char *relp_listen, *syslog_tls_listen;
	const char *syslog_token_file;
	struct syslog_map syslog_map;
	/* What the server has to say besides its errors (a recovered torn
	 * tail, a token store it created, retention passes, problems at the
	 * stop), one line each; from any thread.  NULL: nothing is said. */
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
};

/* The defaults of `logseal serve` (its --help prints them from here). */
void serve_opts_init(struct serve_opts *o);

/* o->listen checked: LS_INVALID when it is not HOST:PORT or [V6]:PORT,
 * LS_DENIED for plain HTTP on an address that is not loopback without
 * o->insecure_plaintext; *exposed (may be NULL) is 1 when plain HTTP will
 * be served on such an address anyway. */
ls_rc serve_check_listen(const struct serve_opts *o, int *exposed, struct ls_err *err);

struct serve;

/* Check what is served, open the log, the token store (created when
 * missing), the idempotency keys, the index, streams, alerts and denials,
 * then listen.  On failure nothing is left open and err says which step
 * failed.  The server keeps a copy of *o; the strings it points to must
 * outlive the server. */
ls_rc serve_open(const struct serve_opts *o, struct serve **out, struct ls_err *err);

/* What an open server says about itself. */
struct serve_info {
	char host[256];		/* the listening host (IPv6 without brackets) */
	unsigned port;		/* the bound port (the real one when 0 was asked) */
	int tls;		/* 1: https */
	uint64_t entries;	/* the log's size */
	size_t idem_keys;	/* idempotency keys remembered */
	uint64_t index_at;	/* the index's watermark */
	/* How the idempotency keys were rebuilt at the start. */
	size_t idem_snapshot_keys;	/* from the snapshot */
	uint64_t idem_covered;		/* entries the snapshot covered */
	uint64_t idem_scanned;		/* journal entries read after it */
	double idem_seconds, idem_cpu_seconds;
	unsigned relp_port, syslog_tls_port;	/* 0: not served */
};
void serve_info(struct serve *s, struct serve_info *out);

/* Serve until SIGTERM or SIGINT (returned) or serve_stop() (0). */
int serve_run(struct serve *s);
void serve_stop(struct serve *s);

/* Finish requests in flight (up to 30 s), save the idempotency keys, close
 * the log (signing a last checkpoint) and everything else, and free s.
 * *signed_size (may be NULL): the log's size at the close, set only when
 * the log closed cleanly.  LS_OK when everything closed cleanly; what went
 * wrong is said through the notice callback.  serve_close(NULL) is a no-op. */
ls_rc serve_close(struct serve *s, uint64_t *signed_size);


#endif
