/*
 * cluster_follow.c - the follower of a cluster node (store/cluster.h): one
 * thread with its own connection keeps the local replica equal to the
 * database.  It LISTENs on logseal_seq, is woken by this node's sequencer
 * after each commit, and polls once a second besides; each round it reads
 * the coordination row, then the batches past the local size in leaf order
 * (SELECT first, n, data FROM logseal.batch WHERE first + n > size ORDER
 * BY first LIMIT 4: each batch is at most 32 MiB), and hands each to
 * log_apply(), which writes it at exactly that index or refuses.
 *
 * Refusals (cluster_refuse: the follower stops, /readyz fails):
 *   - logseal.seq.origin is not this log's origin;
 *   - logseal.seq.next is below the local size (a restore from an older
 *     copy, or another log's database);
 *   - the local size is below logseal.integ.pruned: the batches it needs
 *     were deleted (cluster_prune.c) while this node was away; it must be
 *     re-seeded from another node's data directory (said so, by
 *     cluster_refuse_pruned; also when a gap below is found to be that);
 *   - the next batch does not start at the local size (a gap, or a batch
 *     overlapping what the replica holds), or no batch holds the entries
 *     the coordination row says exist, or a batch's bytes are malformed;
 *   - log_apply() says the batch is not at the local size.
 *
 * After each round it records the replica's size in logseal.node
 * (cluster_heartbeat: at most once a second while it grows), which holds
 * back the pruning of the batches it has not applied yet.
 */
#include "store/cluster_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOLLOW_POLL_MS 1000

/* Split a batch row's data into n entries (iov points into data). */
static int split(const char *data, size_t len, uint64_t n, struct iovec *iov)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len;

	for (uint64_t i = 0; i < n; i++) {
		size_t l;

		if (end - p < 4)
			return -1;
		l = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		p += 4;
		if ((size_t)(end - p) < l || l == 0)
			return -1;
		iov[i].iov_base = (void *)p;
		iov[i].iov_len = l;
		p += l;
	}
	return p == end ? 0 : -1;
}

/* One round: 1 more may wait, 0 up to date, -1 failed (session dropped or
 * refused), -2 the log is busy: try again shortly. */
static int follow_round(struct cluster *c)
{
	struct cdb *d = &c->fol_db;
	struct ls_err err = { "" };
	PGresult *res, *bad;
	uint64_t next, pruned, size = log_size(c->log);
	char ssize[24];
	const char *vals[1] = { ssize };
	int rows, ret = 0;

	res = cdb_exec(d, "SELECT s.next, s.origin, i.pruned FROM logseal.seq s, logseal.integ i "
		       "WHERE s.id = 1 AND i.id = 1", 0, NULL, NULL, NULL, 0, &bad, &err);
	if (!res || PQntuples(res) != 1) {
		cdb_failed(c, d, bad);
		PQclear(bad);
		PQclear(res);
		return -1;
	}
	next = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	if (strcmp(PQgetvalue(res, 0, 1), log_origin(c->log))) {
		cluster_refuse(c, "the cluster database belongs to the log \"%s\", this node's log is "
			       "\"%s\"", PQgetvalue(res, 0, 1), log_origin(c->log));
		PQclear(res);
		return -1;
	}
	pruned = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	pthread_mutex_lock(&c->mu);
	c->st.sequenced = next;
	c->st.applied = size;
	c->st.pruned = pruned;
	pthread_mutex_unlock(&c->mu);
	if (size < pruned && next >= size) {
		cluster_refuse_pruned(c, size, pruned);
		return -1;
	}
	if (next < size) {
		cluster_refuse(c, "the cluster database holds %llu entries, fewer than this node's "
			       "replica (%llu): it was restored from an older copy or is another "
			       "log's; not following it", (unsigned long long)next,
			       (unsigned long long)size);
		return -1;
	}
	if (next == size)
		return 0;
	snprintf(ssize, sizeof(ssize), "%llu", (unsigned long long)size);
	res = cdb_exec(d, "SELECT first, n, data FROM logseal.batch WHERE first + n > $1 "
		       "ORDER BY first LIMIT 4", 1, vals, NULL, NULL, 1, &bad, &err);
	if (!res) {
		cdb_failed(c, d, bad);
		PQclear(bad);
		return -1;
	}
	rows = PQntuples(res);
	if (rows == 0 || (PQgetlength(res, 0, 0) == 8 && cluster_be64(PQgetvalue(res, 0, 0)) > size)) {
		/* A gap: were the batches pruned while this node was away
		 * (since the coordination row was read)? */
		if (cluster_read_pruned(c, d, &pruned)) {
			PQclear(res);
			return -1;
		}
		if (size < pruned) {
			cluster_refuse_pruned(c, size, pruned);
			PQclear(res);
			return -1;
		}
	}
	if (rows == 0) {
		cluster_refuse(c, "the cluster database says it holds %llu entries but has no batch "
			       "past leaf %llu: rows were removed or restored apart",
			       (unsigned long long)next, (unsigned long long)size);
		PQclear(res);
		return -1;
	}
	for (int row = 0; row < rows; row++) {
		uint64_t first, n;
		struct iovec *iov;
		ls_rc rc;

		if (PQgetlength(res, row, 0) != 8 || PQgetlength(res, row, 1) != 4) {
			cluster_refuse(c, "cluster database: unexpected column types in logseal.batch");
			ret = -1;
			break;
		}
		first = cluster_be64(PQgetvalue(res, row, 0));
		{
			const unsigned char *u = (const unsigned char *)PQgetvalue(res, row, 1);

			n = (uint64_t)u[0] << 24 | (uint64_t)u[1] << 16 | (uint64_t)u[2] << 8 | u[3];
		}
		if (first != size) {
			cluster_refuse(c, first > size ?
				       "the cluster database's next batch starts at leaf %llu, but this "
				       "node's replica holds %llu entries: a gap; not following it" :
				       "the cluster database has a batch at leaf %llu overlapping this "
				       "node's replica of %llu entries: it was restored from an older "
				       "copy or is another log's; not following it",
				       (unsigned long long)first, (unsigned long long)size);
			ret = -1;
			break;
		}
		iov = n ? calloc(n, sizeof(*iov)) : NULL;
		if (!iov) {
			ret = -2;
			break;
		}
		if (split(PQgetvalue(res, row, 2), (size_t)PQgetlength(res, row, 2), n, iov)) {
			free(iov);
			cluster_refuse(c, "the cluster database's batch at leaf %llu is malformed",
				       (unsigned long long)first);
			ret = -1;
			break;
		}
		rc = log_apply(c->log, first, iov, n, &err);
		free(iov);
		if (rc == LS_INVALID) {
			cluster_refuse(c, "%s", err.msg);
			ret = -1;
			break;
		}
		if (rc != LS_OK) {
			pthread_mutex_lock(&c->mu);
			if (!c->st.refused)
				snprintf(c->st.reason, sizeof(c->st.reason),
					 "cannot apply the batch at leaf %llu here: %s",
					 (unsigned long long)first, err.msg);
			pthread_mutex_unlock(&c->mu);
			ret = -2;
			break;
		}
		size += n;
		pthread_mutex_lock(&c->mu);
		c->st.applied = size;
		pthread_mutex_unlock(&c->mu);
	}
	PQclear(res);
	if (ret == 0 && size < next)
		ret = 1;
	return ret;
}

/* Wait for a notification, this node's sequencer, the poll period or the
 * stop. */
static void wait_wake(struct cluster *c)
{
	struct pollfd fds[2];
	int nf = 1;
	char buf[64];

	fds[0].fd = c->wake[0];
	fds[0].events = POLLIN;
	if (c->fol_db.pg && PQsocket(c->fol_db.pg) >= 0) {
		fds[1].fd = PQsocket(c->fol_db.pg);
		fds[1].events = POLLIN;
		nf = 2;
	}
	if (poll(fds, (nfds_t)nf, FOLLOW_POLL_MS) > 0) {
		while (read(c->wake[0], buf, sizeof(buf)) > 0)
			;
		if (c->fol_db.pg) {
			PGnotify *nt;

			PQconsumeInput(c->fol_db.pg);
			while ((nt = PQnotifies(c->fol_db.pg)))
				PQfreemem(nt);
		}
	}
}

void *cluster_follow_main(void *arg)
{
	struct cluster *c = arg;
	unsigned listening = 0;	/* the session (cdb.gen) that LISTENs */

	pthread_setname_np(pthread_self(), "ls-cluster-fol");
	for (;;) {
		struct ls_err err = { "" };
		int r;

		pthread_mutex_lock(&c->mu);
		r = c->stopping;
		pthread_mutex_unlock(&c->mu);
		if (r)
			break;
		if (cluster_refused(c)) {
			if (cluster_sleep(c, FOLLOW_POLL_MS))
				break;
			continue;
		}
		if (cdb_connect(c, &c->fol_db, &err) != LS_OK) {
			if (cluster_sleep(c, 100))
				break;
			continue;
		}
		if (listening != c->fol_db.gen) {
			if (cdb_cmd(&c->fol_db, "LISTEN logseal_seq", &err) != LS_OK) {
				cdb_failed(c, &c->fol_db, NULL);
				continue;
			}
			listening = c->fol_db.gen;
		}
		r = follow_round(c);
		if (r >= 0 && !cluster_refused(c))
			cluster_heartbeat(c, &c->fol_db, 0);
		if (r == 1)
			continue;
		if (r < 0) {
			if (cluster_sleep(c, 200))
				break;
			continue;
		}
		wait_wake(c);
	}
	return NULL;
}
