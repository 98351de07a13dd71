/*
 * cluster_int.h - what the pieces of the cluster module share, private to
 * them (cluster.c: connections, schema, open/close, status, the uploader's
 * gate; cluster_seq.c: the sequencer thread; cluster_follow.c: the
 * follower thread; cluster_integ.c: the integrator thread;
 * cluster_prune.c: logseal.node and the pruning; cluster_adopt.c: `logseal
 * cluster adopt`).  cluster.h is
 * the API and describes the tables.
 *
 * Each thread has its own connection (struct cdb); the integrator's is
 * shared with cluster_publish() under integ_mu.  Lock order: integ_mu
 * before mu.
 */
#ifndef LS_CLUSTER_INT_H
#define LS_CLUSTER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "base/ls.h"
#include "store/cluster.h"
#include "store/log.h"

/* statement_timeout of every session: 5000 ms (cluster.c); the client
 * waits for any statement at most this long before it cancels it (COMMIT's
 * wait for the synchronous standby is not bound by statement_timeout). */
#define CLUSTER_CLIENT_TIMEOUT_MS 6000
#define CLUSTER_BATCH_MAX_BYTES (32u << 20) /* entry bytes per group commit */
#define CLUSTER_BACKOFF_MIN_MS 200
#define CLUSTER_BACKOFF_MAX_MS 1000

/* One connection and what its notice processor saw. */
struct cdb {
	PGconn *pg;
	int sync_cancelled;	/* "canceling wait for synchronous replication" */
	uint64_t backoff_ms;	/* wait before the next connection attempt */
	uint64_t retry_at;	/* CLOCK_MONOTONIC ms of the next attempt */
	unsigned gen;		/* successful connections so far */
};

/* A batch waiting for the sequencer thread (on its caller's stack). */
struct seq_req {
	const struct iovec *entries;
	size_t n;
	const uint8_t (*keys)[LOG_KEY_LEN];
	uint64_t *idx;
	size_t bytes;
	ls_rc rc;
	int done;
	struct ls_err err;
	struct seq_req *next;
};

struct cluster {
	char *conninfo, *node;
	struct log *log;
	uint64_t integrate_ms;
	size_t batch_max;
	struct cluster_opts o;	/* callbacks */

	pthread_mutex_t mu;	/* status, queue, stopping */
	pthread_cond_t work_cv;	/* sequencer: work queued, stopping */
	pthread_cond_t done_cv;	/* callers: a request finished */
	pthread_cond_t stop_cv;	/* timed sleeps of the threads (CLOCK_MONOTONIC) */
	int stopping;
	struct seq_req *head, *tail;
	struct cluster_status st;
	uint64_t seq_retry_at;	/* ms: the sequencer's connection is backing off */
	uint64_t my_integrated;	/* the size this node committed as integrator */
	int64_t liveness_ms;	/* < 0: no batch pruning */
	int64_t idem_window_ms;	/* 0: no key pruning */
	uint64_t prune_at;	/* ms: the integrator's next pruning round */
	unsigned prune_limit;	/* batches per pruning transaction (adapts) */
	uint64_t hb_at, hb_applied; /* the follower's last logseal.node update */
	int wake[2];		/* sequencer -> follower: a batch was committed */

	pthread_mutex_t integ_mu; /* the integrator's connection */
	struct cdb seq_db, fol_db, integ_db;
	pthread_t seq_thread, fol_thread, integ_thread;
	int threads_started;	/* bit 0 seq, 1 follower, 2 integrator */
};

/* logseal.seq.origin while `logseal cluster adopt` fills the database
 * (cluster_adopt.h): this prefix, then the log's origin.  No node follows,
 * sequences on or integrates into such a database (another origin). */
#define CLUSTER_ADOPTING "(adopting) "

/* cluster.c */
uint64_t cluster_now_ms(void);
/* Inside the caller's transaction on d: take the schema's advisory lock
 * and create the tables that are absent (cluster.h). */
ls_rc cluster_create_tables(struct cdb *d, struct ls_err *err);
/* Connect d (when not connected, and its backoff has passed): read-write
 * primary, timeouts set, notice processor installed.  Updates the status
 * (connected, host, reason). */
ls_rc cdb_connect(struct cluster *c, struct cdb *d, struct ls_err *err);
/* After an error: roll back, and drop the connection unless the error was
 * a lock not available (NOWAIT), so the next use reconnects. */
void cdb_failed(struct cluster *c, struct cdb *d, const PGresult *res);
void cdb_close(struct cdb *d);
/* Run sql with text parameters (binary where fmts[i] is 1; lens for
 * those), all results in text (binary when rfmt is 1).  NULL on failure,
 * with err "cluster database unavailable: ..." (res_out, when given,
 * receives the failed result for its SQLSTATE: PQclear it). */
PGresult *cdb_exec(struct cdb *d, const char *sql, int n, const char *const *vals, const int *lens,
		   const int *fmts, int rfmt, PGresult **res_out, struct ls_err *err);
ls_rc cdb_cmd(struct cdb *d, const char *sql, struct ls_err *err);
/* Record a refusal (first one wins); stops sequencing, following and
 * integration; tells the notice callback. */
void cluster_refuse(struct cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cluster_refused(struct cluster *c);
void cluster_set_unavailable(struct cluster *c, const char *msg);
void cluster_notice(struct cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sleep up to ms, or until the cluster stops (returns 1 then). */
int cluster_sleep(struct cluster *c, uint64_t ms);
void cluster_hex(const uint8_t *b, size_t n, char *out);
uint64_t cluster_be64(const char *p);

/* cluster_seq.c */
void *cluster_seq_main(void *arg);
ls_rc cluster_sequence(void *ctx, const struct iovec *entries, size_t n,
		       const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx, struct ls_err *err);

/* cluster_follow.c */
void *cluster_follow_main(void *arg);

/* cluster_integ.c */
void *cluster_integ_main(void *arg);

/* cluster_prune.c */
/* The refusal of a replica of `size` entries below the pruned point. */
void cluster_refuse_pruned(struct cluster *c, uint64_t size, uint64_t pruned);
/* logseal.integ.pruned, read on d: 0, or -1 (the session is dropped). */
int cluster_read_pruned(struct cluster *c, struct cdb *d, uint64_t *pruned);
/* Record this node's applied size in logseal.node on d (the follower's
 * session) when due (force: now). */
void cluster_heartbeat(struct cluster *c, struct cdb *d, int force);
/* The integrator's pruning round (under integ_mu, on integ_db), when due. */
void cluster_prune(struct cluster *c);

#endif
