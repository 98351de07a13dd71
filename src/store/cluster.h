/*
 * cluster.h - several logseal nodes on one PostgreSQL database (Patroni,
 * strict synchronous replication): the database sequences, every node keeps
 * a full local replica of the log, and whichever node holds the
 * integration row lock publishes.  docs/CLUSTER.md tells operators.
 *
 * Roles of the parts.
 *   database   the truth for what was acknowledged: every sequenced batch,
 *              its leaf indexes, the idempotency keys, the integrated size
 *              and root.  A batch is acknowledged only after its commit
 *              returned with synchronous replication (DESIGN rule 3).
 *   node       `logseal serve --cluster CONNINFO` on its own data directory
 *              (the same keys on every node: the directory is made once by
 *              `logseal init` and copied before the first entry).  Its
 *              struct log (store/log.h) is a replica: log_append() hands
 *              batches to this module (log_set_sequencer), and the local
 *              journal is written only by the follower thread through
 *              log_apply(), in leaf order, exactly what the database holds.
 *              So tiles, sealed segments, the index, alerts and the stream
 *              of every node follow the same log.
 *   integrator the node that holds the integration row lock, taken per
 *              transaction (SELECT ... FOR UPDATE NOWAIT on logseal.integ):
 *              it cannot outlive the primary it was taken on and works
 *              through a transaction-pooling pgbouncer.  It commits the new
 *              tree size and root first, then lets its uploader write tiles
 *              and segments to the object store, then publish the signed
 *              checkpoint (log/checkpoint), the last step again under the
 *              lock and only if the row still names that size.
 *
 * Tables (schema "logseal", created by cluster_open when absent, under an
 * advisory lock; FORMAT.md section "cluster database"):
 *   logseal.seq   (id int primary key check (id = 1), next bigint not null,
 *                  origin text not null)          the coordination row
 *   logseal.batch (first bigint primary key, n int not null,
 *                  data bytea not null)            one row per group commit:
 *                  data = for each entry, u32 big-endian length | bytes
 *   logseal.idem  (key bytea primary key, leaf bigint not null,
 *                  at timestamptz not null default now())
 *                  idempotency keys (the 16 bytes of server/idem.h) and
 *                  when they were sequenced (index logseal.idem_at)
 *   logseal.integ (id int primary key check (id = 1), size bigint,
 *                  root bytea, checkpoint text, node text, at timestamptz,
 *                  pruned bigint not null default 0)
 *                  pruned: every batch below this leaf was deleted
 *   logseal.node  (name text primary key, applied bigint not null,
 *                  seen timestamptz not null)
 *                  how far each node's replica has applied, and when it
 *                  said so last
 *   logseal.tokens (id text primary key, body text, mac text)
 *                  the shared token store: store/cluster_tokens.h
 * A database made by an earlier version gains the new columns, the index
 * and logseal.node at the first start (same transaction, same lock).
 *
 * Pruning (cluster_prune.c).  Each node's follower records its replica's
 * size in logseal.node (at most once a second while it grows, and at least
 * every min(30 s, liveness / 4) besides).  The integrating node, at most
 * once a second, in small transactions that each hold the integration
 * row lock (NOWAIT) for a moment: deletes the batches wholly below
 * min(integrated size, applied of every node seen within the liveness
 * window) and raises logseal.integ.pruned; deletes the idempotency keys
 * sequenced more than the idempotency window ago (a retry inside the
 * window still finds its key).  A node whose replica is below
 * logseal.integ.pruned (it was not seen for longer than the window, or
 * is a fresh copy) cannot catch up: it refuses, saying it must be
 * re-seeded from another node's data directory.
 *
 * Sequencing.  One sequencer thread per node takes every queued batch
 * (group commit) and in one transaction: locks the coordination row
 * (SELECT next ... FOR UPDATE), looks up the batches' keys in logseal.idem
 * (an entry whose key is there is not appended again: it gets its first
 * leaf back), inserts one batch row for the rest, inserts their keys,
 * advances next, NOTIFY logseal_seq, COMMIT.  Commit order is leaf order
 * (the row lock), so the log has no gaps.  A commit during which libpq
 * reported "canceling wait for synchronous replication" is a failure
 * (committed on the primary, maybe not replicated): the caller gets
 * LS_BUSY, and a retry with the same keys finds them (no duplicate).
 *
 * Failover.  A lost connection, a read-only server or a cancelled commit
 * gives LS_BUSY with a reason (the server answers 503 with Retry-After);
 * the connection string names every host with
 * target_session_attrs=read-write, and the module reconnects by itself.
 *
 * Refusals (no silent repair, cluster_status says why and /readyz fails):
 *   - the database holds fewer entries than this node's replica, or a batch
 *     whose first leaf is not the next one here: the database was restored
 *     from an older copy or is another log's.  The follower stops.
 *   - the database's integrated size is below the size of the checkpoint
 *     published in the object store (or the roots differ): integration
 *     refuses, naming both sizes.
 *   - logseal.seq.origin is not this log's origin.
 * A refusal also stops sequencing: log_append*() then fail with LS_BUSY
 * "cluster: refusing: <reason>".
 *
 * Using it (serve --cluster).
 *   log_open() -> cluster_open() -> ingest ... -> stop ingest ->
 *   cluster_close() -> log_close().  Nothing may append to the log between
 *   log_open() and cluster_open(): such an entry lands in the local journal
 *   only, the replica is then ahead of the database and the follower
 *   refuses.  (log_open()'s own "logseal.recovery.truncated" event after a
 *   cut journal is such an entry: a node whose journal was cut must be
 *   made again from a copy.)  cluster_close() leaves the log refusing
 *   appends (LS_BUSY "the cluster connection is closed") instead of
 *   writing its journal alone; log_set_sequencer(l, NULL, NULL) undoes it.
 *   Every node's directory is a copy of one `logseal init` directory made
 *   before the first entry (same keys, so the same signed checkpoints and
 *   the same idempotency secret); a new node joins with such a copy while
 *   logseal.batch still holds every batch (nothing pruned yet), else with
 *   a copy of another node's data directory (docs/CLUSTER.md).  An existing
 *   single-node log started on an empty database is refused (it holds
 *   fewer entries than its replica): it is moved in by `logseal cluster
 *   adopt` (store/cluster_adopt.h); a database it is still filling
 *   (logseal.seq.origin "(adopting) ORIGIN") is refused too.
 *
 *   log_append*() in cluster mode: LS_OK once the database committed the
 *   batch with synchronous replication (then it waits up to 5 s for the
 *   local replica, and returns LS_OK even if that wait ran out); LS_BUSY
 *   with a reason ("cluster database unavailable: ...", "the database
 *   cancelled the wait for synchronous replication ...", "the commit of
 *   leaves a..b did not return ...", "cluster: refusing: ...") -> 503 with
 *   Retry-After.  While a connection backs off (200 ms doubling to 1 s)
 *   appends fail at once.  Every statement is bounded: statement_timeout
 *   5 s, the client cancels after 6 s (COMMIT's wait for the standby
 *   included) and drops the session 3 s later; connect_timeout 5 s, TCP
 *   keepalives, tcp_user_timeout 10 s (the connection string may override
 *   them).
 *
 *   The uploader: opts.published answers with the object store's
 *   log/checkpoint (size and root), or 0 while unknown.  It uploads the
 *   objects of a local checkpoint of size s only while
 *   cluster_may_upload(c, s) (this node committed an integration of at
 *   least s and still holds the role), and writes log/checkpoint through
 *   cluster_publish(c, s, put, ctx, err), which runs put only while
 *   logseal.integ.size is exactly s (LS_BUSY otherwise: skip to a newer
 *   checkpoint).
 *
 *   Tests: tests/unit/test_cluster.c reads LOGSEAL_TEST_PG (a connection
 *   string to a database whose schema "logseal" it may drop); unset, its
 *   tests are skipped.  LOGSEAL_TEST_PG_SETTINGS=1 also runs the test that
 *   changes the server's synchronous_standby_names (a server of its own).
 */
#ifndef LS_STORE_CLUSTER_H
#define LS_STORE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/ls.h"

struct log;

struct cluster_opts {
	const char *conninfo;	/* libpq connection string or postgresql:// URI */
	const char *node;	/* this node's name (logseal.integ.node, logs) */
	struct log *log;	/* the local replica, opened by the caller */
	uint64_t integrate_ms;	/* integration attempt period; 0: 500 */
	size_t batch_max_entries; /* group commit bound; 0: 16384 */
	/* Publishing through the object store: the uploader asks these
	 * (followers/upload.h gate) before it uploads for a checkpoint of size
	 * `size`, and before it writes log/checkpoint. */
	void (*notice)(void *ctx, const char *msg); /* what it did or refused */
	void *notice_ctx;
	/* The object store's published checkpoint (log/checkpoint): return 1
	 * with its size and root hash when known, 0 when not (not read yet,
	 * no object store).  Asked by the integrator thread before each
	 * integration; NULL: not checked. */
	int (*published)(void *ctx, uint64_t *size, uint8_t root[32]);
	void *published_ctx;
	/* Pruning: a node not seen for liveness_ms no longer holds back the
	 * deletion of old batches (0: 10 minutes; < 0: batches are never
	 * deleted); idempotency keys sequenced more than idem_window_ms ago
	 * are deleted (0: never). */
	int64_t liveness_ms;
	int64_t idem_window_ms;
};

struct cluster;

/* Connect, create the tables when absent, check origin and sizes, start the
 * sequencer, follower and integrator threads, and hook log (log_set_sequencer).
 * Fails with a message naming the database when it cannot be reached. */
ls_rc cluster_open(const struct cluster_opts *o, struct cluster **out, struct ls_err *err);

/* Stop the threads (queued batches fail with LS_BUSY), leave the log
 * refusing appends (above), free.  NULL is a no-op. */
void cluster_close(struct cluster *c);

struct cluster_status {
	int connected;		/* the last statement reached a read-write primary */
	int integrator;		/* this node integrated last */
	int refused;		/* a refusal above holds; reason says which */
	uint64_t sequenced;	/* logseal.seq.next last seen */
	uint64_t applied;	/* entries in the local replica */
	uint64_t integrated;	/* logseal.integ.size last seen */
	uint64_t published;	/* the object store's log/checkpoint size, if known */
	uint64_t commits, commit_failures, cancelled_sync;
	double db_seconds;	/* time spent in sequencing transactions */
	uint64_t pruned;	/* logseal.integ.pruned last seen: batches below
				 * this leaf are deleted */
	uint64_t pruned_batches, pruned_keys; /* rows this node deleted */
	char host[128];		/* the primary it is connected to */
	char reason[512];	/* "" or why it refuses / is not connected */
};
void cluster_status(struct cluster *c, struct cluster_status *out);

/* For the uploader (followers/upload.h): 1 when this node may upload the
 * objects of the checkpoint of `size` (it integrated that size); and
 * cluster_publish(), which runs put(ctx) (the PUT of log/checkpoint) inside
 * a transaction holding the integration lock, only if logseal.integ still
 * says `size`; LS_BUSY otherwise (someone integrated further: do not
 * publish an older checkpoint). */
int cluster_may_upload(struct cluster *c, uint64_t size);
ls_rc cluster_publish(struct cluster *c, uint64_t size, ls_rc (*put)(void *ctx, struct ls_err *err),
		      void *ctx, struct ls_err *err);

#endif
