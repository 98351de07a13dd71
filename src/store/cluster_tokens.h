/*
 * cluster_tokens.h - the cluster's shared token table: one sealed row per
 * bearer token in the cluster database, so that every node of a cluster
 * (store/cluster.h) authenticates the same tokens.  What a row says is the
 * server's business (server/auth_cluster.c); this module stores, seals,
 * checks, serialises changes and tells every node about them.
 *
 * Table (schema "logseal", created with the cluster's other tables):
 *   logseal.tokens (id text PRIMARY KEY, body text NOT NULL, mac text NOT NULL)
 *     body  the token's description as the node's tokens.json holds it
 *           (SHA-256 of the secret, never the secret; no last_used), as
 *           compact JSON text
 *     mac   lowercase hex of HMAC-SHA256(K, id || 0x00 || body), K the
 *           data directory's cfgseal key of purpose CFGSEAL_CLUSTER_TOKENS
 *           (store/cfgseal.h: every node has the same directory keys), so a
 *           row is bound to its id and every byte of its description: rows
 *           cannot be swapped, edited or forged with database access alone.
 *
 * Invariants:
 *  1. A row whose mac does not verify is handed to the caller with
 *     sealed = 0 and must never authenticate (auth_cluster.c drops it).
 *  2. A change (ctok_change) runs in one transaction that first takes
 *     LOCK TABLE logseal.tokens IN SHARE ROW EXCLUSIVE MODE (one changer
 *     at a time, cluster-wide; readers are not blocked), reads every row,
 *     lets the caller decide on them (its rules, such as "the last active
 *     admin cannot be revoked", see the whole table under the lock), writes
 *     one row and NOTIFY logseal_tokens.  A commit whose wait for the
 *     synchronous standby was cancelled is a failure (LS_BUSY).
 *  3. The changing node hands the table to its loaded() callback before
 *     ctok_change() returns; every other node within about a second: its
 *     listener thread LISTENs on logseal_tokens and reloads on each
 *     notification, and in any case every CTOK_RELOAD_MS (fallback for a
 *     lost notification or a reconnection after a failover).  Loads are
 *     serialised (load_mu), so an older snapshot never overwrites a newer
 *     one.
 *  4. Import (the node's own tokens.json at the first start of a cluster)
 *     inserts only into an empty table, under the same lock, with
 *     ON CONFLICT DO NOTHING: two nodes starting together with copies of
 *     one directory import once.
 */
#ifndef LS_STORE_CLUSTER_TOKENS_H
#define LS_STORE_CLUSTER_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define CTOK_RELOAD_MS 2000	/* fallback reload period */
#define CTOK_ID_MAX 64

struct cluster;
struct ctok;

struct ctok_row {
	const char *id;
	const char *body;	/* NUL-terminated */
	const char *mac;	/* as stored (hex) */
	int sealed;		/* 1: the mac verifies */
};

/* The whole table (n rows, sorted by id), after each load.  Called from
 * the listener thread or from ctok_change()'s caller, one at a time. */
typedef void (*ctok_loaded_fn)(void *ctx, const struct ctok_row *rows, size_t n);

/* ctok_change's rule: given the table (under the lock), either LS_OK with
 * a row to write (*id, *body malloc'd; *body NULL: nothing to write) or an
 * error (err set), which rolls back and is ctok_change's result. */
typedef ls_rc (*ctok_decide_fn)(void *ctx, const struct ctok_row *rows, size_t n,
				char id[CTOK_ID_MAX + 1], char **body, struct ls_err *err);

struct ctok_opts {
	struct cluster *cluster;	/* open (cluster_open) */
	const char *dir;		/* the data directory: the sealing key */
	ctok_loaded_fn loaded;
	void *ctx;
	/* Rows to import into an empty table (id and body; mac and sealed
	 * ignored), copied by ctok_open. */
	const struct ctok_row *import;
	size_t nimport;
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
};

/* Get the key, try once to import and load (a database that cannot be
 * reached now is not an error: the listener keeps trying), start the
 * listener thread.  LS_NOTFOUND/... when the key cannot be had. */
ls_rc ctok_open(const struct ctok_opts *o, struct ctok **out, struct ls_err *err);
void ctok_close(struct ctok *t);

/* One change, see invariant 2.  LS_BUSY (database unavailable, sync wait
 * cancelled: the caller answers 503), or decide's error. */
ls_rc ctok_change(struct ctok *t, ctok_decide_fn decide, void *ctx, struct ls_err *err);

struct ctok_stats {
	uint64_t loads;		/* successful loads */
	uint64_t rows;		/* rows at the last load */
	uint64_t unsealed;	/* of which the mac did not verify */
	int64_t last_load_age_ms; /* since the last load; -1 never */
	int imported;		/* 1 once this node's import is done (or not needed) */
};
void ctok_stats(struct ctok *t, struct ctok_stats *out);

#endif
