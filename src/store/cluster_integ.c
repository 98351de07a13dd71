/*
 * cluster_integ.c - the integrator of a cluster node (store/cluster.h):
 * every integrate_ms one transaction
 *
 *	SELECT size, root, node, age FROM logseal.integ WHERE id = 1
 *	    FOR UPDATE NOWAIT                -- another node has it: skip
 *	(checks below)
 *	UPDATE logseal.integ SET size, root, checkpoint, node, at = now()
 *	COMMIT
 *
 * with the local replica's latest signed checkpoint (size S; every node
 * signs the same tree with the same key).  The lock is transaction-scoped:
 * it cannot outlive the primary it was taken on, and works through a
 * transaction-pooling pgbouncer.  Once the commit returned (synchronously
 * replicated), cluster_may_upload() lets this node's uploader write the
 * tiles and segments of S, and cluster_publish() its log/checkpoint.
 *
 * Checks, each against the tiles of the local checkpoint (merkle_root at
 * a size through tiles_node_hash, as /v1/proof/consistency does):
 *  - the object store's published checkpoint (opts.published) is not
 *    larger than the database's integrated size, and its root is this
 *    tree's root at its size: otherwise the database was restored from an
 *    older copy, and integrating would fork what the world has seen ->
 *    refusal naming both sizes;
 *  - the database's integrated root is this tree's root at that size ->
 *    otherwise refusal;
 *  - S grows past the integrated size, and the node named in the row is
 *    this one or has not integrated for a lease (3 periods + 1 s), so one
 *    node keeps the role while it is alive instead of the nodes taking
 *    turns.
 */
#include "store/cluster_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/merkle.h"
#include "store/tiles.h"

/* Roots of the local tree at sizes a and b (0: not wanted), from the tiles
 * of the checkpoint of size s.  LS_OK or an error (not a refusal: tiles
 * may have moved on; the next round tries again). */
static ls_rc local_roots(struct cluster *c, uint64_t s, uint64_t a, uint8_t ra[LS_HASH_LEN],
			 uint64_t b, uint8_t rb[LS_HASH_LEN])
{
	char logdir[PATH_MAX];
	struct tiles_reader *tr;
	ls_rc rc;

	if (snprintf(logdir, sizeof(logdir), "%s/log", log_dir(c->log)) >= (int)sizeof(logdir))
		return LS_LIMIT;
	rc = tiles_reader_open(logdir, s, &tr);
	if (rc != LS_OK)
		return rc;
	if (a)
		rc = merkle_root(tiles_node_hash, tr, a, ra);
	if (rc == LS_OK && b)
		rc = merkle_root(tiles_node_hash, tr, b, rb);
	tiles_reader_free(tr);
	return rc;
}

static void set_role(struct cluster *c, int integrator, uint64_t integrated)
{
	pthread_mutex_lock(&c->mu);
	c->st.integrator = integrator && !c->st.refused;
	c->st.integrated = integrated;
	if (integrator && integrated > c->my_integrated)
		c->my_integrated = integrated;
	pthread_mutex_unlock(&c->mu);
}

static void integrate_once(struct cluster *c)
{
	struct cdb *d = &c->integ_db;
	struct ls_err err = { "" };
	PGresult *res, *bad;
	char *note = NULL, sroot[2 * LS_HASH_LEN + 1], ssize[24], node[128];
	uint8_t iroot[LS_HASH_LEN], proot[LS_HASH_LEN], lroot_i[LS_HASH_LEN],
		lroot_p[LS_HASH_LEN], lroot_s[LS_HASH_LEN];
	uint64_t s = 0, isz, psz = 0, age_ms, lease = 3 * c->integrate_ms + 1000;
	int have_iroot, known = 0, mine;

	if (cdb_connect(c, d, &err) != LS_OK) {
		/* Cut off from the database: the role goes with it (the row's
		 * lock is gone with the session). */
		pthread_mutex_lock(&c->mu);
		c->st.integrator = 0;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (log_latest_checkpoint(c->log, &note, &s) != LS_OK)
		return;
	if (cdb_cmd(d, "BEGIN", &err) != LS_OK) {
		cdb_failed(c, d, NULL);
		goto out;
	}
	res = cdb_exec(d, "SELECT size, root, coalesce(node, ''), "
		       "coalesce(extract(epoch from now() - at) * 1000, 1e15)::bigint "
		       "FROM logseal.integ WHERE id = 1 FOR UPDATE NOWAIT", 0, NULL, NULL, NULL, 1,
		       &bad, &err);
	if (!res || PQntuples(res) != 1) {
		/* 55P03: another node holds the lock; it integrates. */
		const char *state = bad ? PQresultErrorField(bad, PG_DIAG_SQLSTATE) : NULL;

		if (state && !strcmp(state, "55P03")) {
			pthread_mutex_lock(&c->mu);
			c->st.integrator = 0;
			pthread_mutex_unlock(&c->mu);
		}
		cdb_failed(c, d, bad);
		PQclear(bad);
		PQclear(res);
		goto out;
	}
	isz = PQgetisnull(res, 0, 0) ? 0 : cluster_be64(PQgetvalue(res, 0, 0));
	have_iroot = !PQgetisnull(res, 0, 1) && PQgetlength(res, 0, 1) == LS_HASH_LEN;
	if (have_iroot)
		memcpy(iroot, PQgetvalue(res, 0, 1), LS_HASH_LEN);
	snprintf(node, sizeof(node), "%.*s", PQgetlength(res, 0, 2), PQgetvalue(res, 0, 2));
	age_ms = cluster_be64(PQgetvalue(res, 0, 3));
	PQclear(res);
	mine = !strcmp(node, c->node);

	if (c->o.published)
		known = c->o.published(c->o.published_ctx, &psz, proot);
	pthread_mutex_lock(&c->mu);
	c->st.integrated = isz;
	if (known)
		c->st.published = psz;
	pthread_mutex_unlock(&c->mu);
	if (known && psz > isz) {
		cluster_refuse(c, "the object store's checkpoint is at size %llu, but the cluster "
			       "database says the tree was integrated only to size %llu: the "
			       "database was restored from an older copy; refusing to integrate "
			       "(it would fork the published tree)", (unsigned long long)psz,
			       (unsigned long long)isz);
		goto rollback;
	}
	if (s < isz || s == 0) {
		/* This replica is behind the integrated tree: another node's
		 * turn, or this one catches up first. */
		set_role(c, 0, isz);
		goto rollback;
	}
	if (local_roots(c, s, isz && have_iroot ? isz : 0, lroot_i,
			known && psz ? psz : 0, lroot_p) != LS_OK)
		goto rollback;
	if (known && psz && memcmp(lroot_p, proot, LS_HASH_LEN)) {
		cluster_refuse(c, "the object store's checkpoint of size %llu has another root than "
			       "this node's tree at that size (the database holds %llu integrated "
			       "entries): another log's data; refusing to integrate",
			       (unsigned long long)psz, (unsigned long long)isz);
		goto rollback;
	}
	if (isz && have_iroot && memcmp(lroot_i, iroot, LS_HASH_LEN)) {
		cluster_refuse(c, "the cluster database's integrated tree of size %llu has another "
			       "root than this node's tree at that size: refusing to integrate",
			       (unsigned long long)isz);
		goto rollback;
	}
	if (s == isz) {
		set_role(c, mine, isz);
		goto rollback;
	}
	if (!mine && node[0] && age_ms < lease) {
		set_role(c, 0, isz);
		goto rollback;
	}
	if (local_roots(c, s, s, lroot_s, 0, NULL) != LS_OK)
		goto rollback;
	cluster_hex(lroot_s, LS_HASH_LEN, sroot);
	snprintf(ssize, sizeof(ssize), "%llu", (unsigned long long)s);
	{
		const char *vals[4] = { ssize, sroot, note, c->node };

		res = cdb_exec(d, "UPDATE logseal.integ SET size = $1, root = decode($2, 'hex'), "
			       "checkpoint = $3, node = $4, at = now() WHERE id = 1", 4, vals, NULL,
			       NULL, 0, &bad, &err);
		if (!res) {
			cdb_failed(c, d, bad);
			PQclear(bad);
			goto out;
		}
		PQclear(res);
	}
	d->sync_cancelled = 0;
	if (cdb_cmd(d, "COMMIT", &err) != LS_OK) {
		cdb_failed(c, d, NULL);
		set_role(c, 0, isz);
		goto out;
	}
	if (d->sync_cancelled) {
		pthread_mutex_lock(&c->mu);
		c->st.cancelled_sync++;
		pthread_mutex_unlock(&c->mu);
		cdb_close(d);
		set_role(c, 0, isz);
		goto out;
	}
	set_role(c, 1, s);
	if (!mine)
		cluster_notice(c, "cluster: node %s integrates (tree size %llu; was %s at %llu)",
			       c->node, (unsigned long long)s, node[0] ? node : "nobody",
			       (unsigned long long)isz);
	goto out;
rollback:
	PQclear(PQexec(d->pg, "ROLLBACK"));
out:
	free(note);
}

void *cluster_integ_main(void *arg)
{
	struct cluster *c = arg;

	pthread_setname_np(pthread_self(), "ls-cluster-int");
	while (!cluster_sleep(c, c->integrate_ms)) {
		if (cluster_refused(c))
			continue;
		pthread_mutex_lock(&c->integ_mu);
		integrate_once(c);
		if (!cluster_refused(c))
			cluster_prune(c);	/* cluster_prune.c: when due, if integrating */
		pthread_mutex_unlock(&c->integ_mu);
	}
	return NULL;
}
