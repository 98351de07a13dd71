/*
 * cluster_prune.c - keeping the cluster database bounded (store/cluster.h,
 * "Pruning"): logseal.node, where each node's follower records how far its
 * replica has applied, and the integrating node's deletion of old batches
 * (logseal.batch) and old idempotency keys (logseal.idem).
 *
 * One pruning transaction, on the integrator's session:
 *
 *	BEGIN
 *	SELECT size, pruned, (SELECT min(applied) FROM logseal.node
 *	                      WHERE seen > now() - liveness)
 *	    FROM logseal.integ WHERE id = 1 FOR UPDATE NOWAIT
 *	DELETE the first `limit` batches wholly below
 *	    lim = min(size, that min)  (first >= pruned, first + n <= lim)
 *	UPDATE logseal.integ SET pruned = the end of the last one deleted
 *	DELETE PRUNE_KEYS keys sequenced before now() - idempotency window
 *	COMMIT
 *
 * Invariants:
 *  1. A batch is deleted only when it lies wholly below the integrated size
 *     and below the applied size of every node seen within the liveness
 *     window, and logseal.integ.pruned becomes the end of the last batch
 *     deleted in the same transaction (batches are contiguous and deleted
 *     in leaf order): a replica of at least `pruned` entries finds every
 *     batch it still needs.
 *  2. A replica below `pruned` is refused (cluster_refuse_pruned), never
 *     moved ahead over leaves it does not have.
 *  3. A key is deleted only once it was sequenced more than the
 *     idempotency window ago (the database's clock): a retry inside the
 *     window finds it and gets its first leaf back.
 *  4. Each transaction holds the integration row for a moment (NOWAIT:
 *     never waits for it) and deletes at most `limit` batches and
 *     PRUNE_KEYS keys; `limit` adapts to what a transaction takes (halved
 *     after one that failed or took over PRUNE_SLOW_MS, doubled after a
 *     full one under PRUNE_FAST_MS; PRUNE_LIMIT_MIN..PRUNE_LIMIT_MAX), so
 *     rows of 32 MiB cannot make every attempt run into the statement
 *     timeout.  A round runs transactions while they are full, for at most
 *     PRUNE_ROUND_MS, at most once every PRUNE_PERIOD_MS, only on the node
 *     that integrates.
 */
#include "store/cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define PRUNE_PERIOD_MS 1000
#define PRUNE_ROUND_MS 250
#define PRUNE_LIMIT_MIN 1	/* batches per transaction (a row: up to 32 MiB) */
#define PRUNE_LIMIT_START 32
#define PRUNE_LIMIT_MAX 512
#define PRUNE_FAST_MS 100
#define PRUNE_SLOW_MS 1000
#define PRUNE_KEYS 5000
#define HB_MIN_MS 1000		/* at most one logseal.node update a second */
#define HB_MAX_MS 30000		/* and at least one every 30 s */

void cluster_refuse_pruned(struct cluster *c, uint64_t size, uint64_t pruned)
{
	cluster_refuse(c, "this node's replica holds %llu entries, but the cluster database has "
		       "pruned its batches below leaf %llu (the node was not seen for longer than "
		       "the liveness window, --cluster-liveness, or its directory is an old "
		       "copy): it cannot catch up; re-seed it from another node's data directory "
		       "(docs/CLUSTER.md, \"Adding or re-seeding a node\")",
		       (unsigned long long)size, (unsigned long long)pruned);
}

int cluster_read_pruned(struct cluster *c, struct cdb *d, uint64_t *pruned)
{
	struct ls_err err = { "" };
	PGresult *bad, *res = cdb_exec(d, "SELECT pruned FROM logseal.integ WHERE id = 1", 0, NULL,
				       NULL, NULL, 0, &bad, &err);

	if (!res || PQntuples(res) != 1) {
		cdb_failed(c, d, bad);
		PQclear(bad);
		PQclear(res);
		return -1;
	}
	*pruned = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	pthread_mutex_lock(&c->mu);
	c->st.pruned = *pruned;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void cluster_heartbeat(struct cluster *c, struct cdb *d, int force)
{
	uint64_t now = cluster_now_ms(), size = log_size(c->log);
	uint64_t idle = c->liveness_ms > 0 ? (uint64_t)c->liveness_ms / 4 : HB_MAX_MS;
	char ssize[24];
	const char *vals[2] = { c->node, ssize };
	struct ls_err err = { "" };
	PGresult *res, *bad;

	if (idle < HB_MIN_MS)
		idle = HB_MIN_MS;
	if (idle > HB_MAX_MS)
		idle = HB_MAX_MS;
	if (!force && now < c->hb_at + idle &&
	    (size == c->hb_applied || now < c->hb_at + HB_MIN_MS))
		return;
	snprintf(ssize, sizeof(ssize), "%llu", (unsigned long long)size);
	res = cdb_exec(d, "INSERT INTO logseal.node (name, applied, seen) VALUES ($1, $2, now()) "
		       "ON CONFLICT (name) DO UPDATE SET applied = excluded.applied, "
		       "seen = excluded.seen", 2, vals, NULL, NULL, 0, &bad, &err);
	if (!res) {
		cdb_failed(c, d, bad);
		PQclear(bad);
		return;
	}
	PQclear(res);
	c->hb_at = now;
	c->hb_applied = size;
}

/* A count or a leaf in a text result. */
static uint64_t val(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? 0 : strtoull(PQgetvalue(res, 0, col), NULL, 10);
}

/* One transaction: 1 it deleted a full bound (more may wait), 0 nothing
 * more to do, -1 a deletion or the commit failed, -2 the row could not be
 * had (another node holds it, or the session failed). */
static int prune_txn(struct cluster *c, struct cdb *d)
{
	struct ls_err err = { "" };
	PGresult *res, *bad;
	char slive[24], swin[24], sa[24], sb[24], sl[24];
	uint64_t size, pruned, lim, nb = 0, nk = 0, end = 0;
	int more = 0;

	snprintf(slive, sizeof(slive), "%lld", (long long)(c->liveness_ms > 0 ? c->liveness_ms : 0));
	snprintf(swin, sizeof(swin), "%lld", (long long)c->idem_window_ms);
	if (cdb_cmd(d, "BEGIN", &err) != LS_OK) {
		cdb_failed(c, d, NULL);
		return -2;
	}
	{
		const char *vals[1] = { slive };

		res = cdb_exec(d, "SELECT size, pruned, (SELECT min(applied) FROM logseal.node WHERE "
			       "seen > now() - $1::bigint * interval '1 millisecond') "
			       "FROM logseal.integ WHERE id = 1 FOR UPDATE NOWAIT", 1, vals, NULL,
			       NULL, 0, &bad, &err);
	}
	if (!res || PQntuples(res) != 1) {
		cdb_failed(c, d, bad);
		PQclear(bad);
		PQclear(res);
		return -2;
	}
	size = val(res, 0);
	pruned = val(res, 1);
	lim = size;
	if (!PQgetisnull(res, 0, 2) && val(res, 2) < lim)
		lim = val(res, 2);
	PQclear(res);
	pthread_mutex_lock(&c->mu);
	c->st.pruned = pruned;
	pthread_mutex_unlock(&c->mu);
	if (c->liveness_ms > 0 && lim > pruned) {
		const char *vals[3] = { sa, sb, sl };

		snprintf(sa, sizeof(sa), "%llu", (unsigned long long)pruned);
		snprintf(sb, sizeof(sb), "%llu", (unsigned long long)lim);
		snprintf(sl, sizeof(sl), "%u", c->prune_limit);
		res = cdb_exec(d, "WITH d AS (DELETE FROM logseal.batch WHERE first IN (SELECT first "
			       "FROM logseal.batch WHERE first >= $1 AND first + n <= $2 ORDER BY "
			       "first LIMIT $3::int) RETURNING first + n AS e) "
			       "SELECT count(*), max(e) FROM d", 3, vals, NULL, NULL, 0, &bad, &err);
		if (!res || PQntuples(res) != 1)
			goto failed;
		nb = val(res, 0);
		end = val(res, 1);
		PQclear(res);
		more |= nb == c->prune_limit;
		if (nb && end > pruned) {
			snprintf(sa, sizeof(sa), "%llu", (unsigned long long)end);
			res = cdb_exec(d, "UPDATE logseal.integ SET pruned = $1 WHERE id = 1", 1, vals,
				       NULL, NULL, 0, &bad, &err);
			if (!res)
				goto failed;
			PQclear(res);
		}
	}
	if (c->idem_window_ms > 0) {
		const char *vals[1] = { swin };

		res = cdb_exec(d, "WITH d AS (DELETE FROM logseal.idem WHERE key IN (SELECT key FROM "
			       "logseal.idem WHERE at < now() - $1::bigint * interval '1 millisecond' "
			       "ORDER BY at LIMIT " STR(PRUNE_KEYS) ") RETURNING 1) "
			       "SELECT count(*) FROM d", 1, vals, NULL, NULL, 0, &bad, &err);
		if (!res || PQntuples(res) != 1)
			goto failed;
		nk = val(res, 0);
		PQclear(res);
		more |= nk == PRUNE_KEYS;
	}
	if (!nb && !nk) {
		PQclear(PQexec(d->pg, "ROLLBACK"));
		return 0;
	}
	d->sync_cancelled = 0;
	if (cdb_cmd(d, "COMMIT", &err) != LS_OK) {
		cdb_failed(c, d, NULL);
		return -1;
	}
	pthread_mutex_lock(&c->mu);
	if (d->sync_cancelled) {
		/* committed on the primary, perhaps not replicated: not
		 * counted; the next round reads the pruned point again */
		c->st.cancelled_sync++;
	} else {
		c->st.pruned_batches += nb;
		c->st.pruned_keys += nk;
		if (nb && end > c->st.pruned)
			c->st.pruned = end;
	}
	pthread_mutex_unlock(&c->mu);
	if (d->sync_cancelled) {
		cdb_close(d);
		return -1;
	}
	return more;
failed:
	cdb_failed(c, d, bad);
	PQclear(bad);
	PQclear(res);
	return -1;
}

void cluster_prune(struct cluster *c)
{
	uint64_t now = cluster_now_ms(), t0, took;
	int integ, r;

	if (now < c->prune_at || (c->liveness_ms < 0 && c->idem_window_ms <= 0))
		return;
	c->prune_at = now + PRUNE_PERIOD_MS;
	pthread_mutex_lock(&c->mu);
	integ = c->st.integrator && !c->st.refused;
	pthread_mutex_unlock(&c->mu);
	if (!integ || !c->integ_db.pg)
		return;
	if (!c->prune_limit)
		c->prune_limit = PRUNE_LIMIT_START;
	do {
		t0 = cluster_now_ms();
		r = prune_txn(c, &c->integ_db);
		took = cluster_now_ms() - t0;
		if ((r == -1 || took > PRUNE_SLOW_MS) && c->prune_limit > PRUNE_LIMIT_MIN)
			c->prune_limit /= 2;
		else if (r > 0 && took < PRUNE_FAST_MS && c->prune_limit < PRUNE_LIMIT_MAX)
			c->prune_limit *= 2;
	} while (r > 0 && cluster_now_ms() - now < PRUNE_ROUND_MS && c->integ_db.pg);
}
