/*
 * cluster_seq.c - the sequencer of a cluster node (store/cluster.h): the
 * log's appends (log_set_sequencer -> cluster_sequence) queue here, and
 * one thread with its own connection takes every queued batch (group
 * commit) and, in one transaction:
 *
 *	SELECT next, origin FROM logseal.seq WHERE id = 1 FOR UPDATE
 *	SELECT key, leaf FROM logseal.idem WHERE key = ANY(the group's keys)
 *	INSERT INTO logseal.batch (first, n, data)   -- the new entries
 *	INSERT INTO logseal.idem (key, leaf)          -- their keys
 *	UPDATE logseal.seq SET next = next + n; NOTIFY logseal_seq; COMMIT
 *
 * (BEGIN goes with the first statement, and the last three are one query
 * string: 3 round trips without keys, 5 with.)
 * batch.data is, for each entry, its length as u32 big-endian then its
 * bytes.  An entry whose key the database holds, or which repeats a key
 * earlier in the group, is not appended: it gets the first entry's leaf.
 *
 * Invariants:
 *  1. A caller gets LS_OK only after COMMIT returned without a cancelled
 *     wait for synchronous replication: the batch is on the standby too.
 *  2. Leaf order is commit order (the coordination row lock), and every
 *     committed batch starts at the previous one's end: no gaps.
 *  3. Any failure fails every batch of the group with LS_BUSY and a
 *     reason; a batch that may have been committed anyway (commit lost
 *     or cancelled) is found again by its keys on a retry.
 */
#include "store/cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct kent {
	const uint8_t *key;
	size_t g;		/* position in the group */
};

static int kent_cmp(const void *a, const void *b)
{
	const struct kent *x = a, *y = b;
	int c = memcmp(x->key, y->key, LOG_KEY_LEN);

	return c ? c : (x->g < y->g ? -1 : x->g > y->g);
}

static const uint8_t no_key[LOG_KEY_LEN];

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);

		if (h < 0 || l < 0)
			return -1;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

/* The group, flattened. */
struct group {
	size_t total;
	const struct iovec **ent;	/* [total] */
	const uint8_t **key;		/* [total], NULL: none */
	uint64_t *leaf;			/* [total] */
	size_t *owner;			/* [total]: the first entry with the same key */
	struct kent *ks;		/* the keyed entries, sorted */
	size_t nk;
};

static void group_free(struct group *g)
{
	free(g->ent);
	free(g->key);
	free(g->leaf);
	free(g->owner);
	free(g->ks);
}

static ls_rc group_build(struct seq_req *list, struct group *g, struct ls_err *err)
{
	size_t k = 0;

	memset(g, 0, sizeof(*g));
	for (struct seq_req *r = list; r; r = r->next)
		g->total += r->n;
	g->ent = calloc(g->total, sizeof(*g->ent));
	g->key = calloc(g->total, sizeof(*g->key));
	g->leaf = calloc(g->total, sizeof(*g->leaf));
	g->owner = calloc(g->total, sizeof(*g->owner));
	g->ks = calloc(g->total, sizeof(*g->ks));
	if (!g->ent || !g->key || !g->leaf || !g->owner || !g->ks)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	for (struct seq_req *r = list; r; r = r->next)
		for (size_t i = 0; i < r->n; i++, k++) {
			g->ent[k] = &r->entries[i];
			g->owner[k] = k;
			g->leaf[k] = UINT64_MAX;
			if (r->keys && memcmp(r->keys[i], no_key, LOG_KEY_LEN)) {
				g->key[k] = r->keys[i];
				g->ks[g->nk].key = r->keys[i];
				g->ks[g->nk++].g = k;
			}
		}
	qsort(g->ks, g->nk, sizeof(*g->ks), kent_cmp);
	for (size_t i = 1; i < g->nk; i++)
		if (!memcmp(g->ks[i].key, g->ks[i - 1].key, LOG_KEY_LEN))
			g->owner[g->ks[i].g] = g->owner[g->ks[i - 1].g];
	return LS_OK;
}

/* The keys the database already holds: their entries get those leaves. */
static ls_rc lookup_keys(struct cluster *c, struct group *g, struct ls_err *err)
{
	char *list, *p;
	const char *vals[1];
	PGresult *res, *bad;
	size_t nu = 0;

	if (!g->nk)
		return LS_OK;
	list = malloc(g->nk * (2 * LOG_KEY_LEN + 1) + 1);
	if (!list)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	p = list;
	for (size_t i = 0; i < g->nk; i++) {
		if (g->owner[g->ks[i].g] != g->ks[i].g)
			continue;
		if (nu++)
			*p++ = ',';
		cluster_hex(g->ks[i].key, LOG_KEY_LEN, p);
		p += 2 * LOG_KEY_LEN;
	}
	*p = 0;
	vals[0] = list;
	res = cdb_exec(&c->seq_db, "SELECT encode(key, 'hex'), leaf FROM logseal.idem WHERE key = "
		       "ANY(ARRAY(SELECT decode(x, 'hex') FROM unnest(string_to_array($1, ',')) x))",
		       1, vals, NULL, NULL, 0, &bad, err);
	free(list);
	if (!res) {
		cdb_failed(c, &c->seq_db, bad);
		PQclear(bad);
		return LS_BUSY;
	}
	for (int row = 0; row < PQntuples(res); row++) {
		uint8_t kb[LOG_KEY_LEN];
		size_t lo = 0, hi = g->nk;

		if (unhex(PQgetvalue(res, row, 0), kb, LOG_KEY_LEN))
			continue;
		/* the key's first entry in the sorted list (lower bound) */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (memcmp(g->ks[mid].key, kb, LOG_KEY_LEN) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < g->nk && !memcmp(g->ks[lo].key, kb, LOG_KEY_LEN))
			g->leaf[g->owner[g->ks[lo].g]] = strtoull(PQgetvalue(res, row, 1), NULL, 10);
	}
	PQclear(res);
	return LS_OK;
}

/* Run one statement of the transaction; on failure drop the session. */
static ls_rc step(struct cluster *c, const char *sql, int n, const char *const *vals,
		  const int *lens, const int *fmts, struct ls_err *err)
{
	PGresult *bad, *res = cdb_exec(&c->seq_db, sql, n, vals, lens, fmts, 0, &bad, err);

	if (!res) {
		cdb_failed(c, &c->seq_db, bad);
		PQclear(bad);
		return LS_BUSY;
	}
	PQclear(res);
	return LS_OK;
}

/* The transaction for one group; LS_OK: every req->idx is filled. */
static ls_rc commit_group(struct cluster *c, struct seq_req *list, struct ls_err *err)
{
	struct cdb *d = &c->seq_db;
	struct group g;
	PGresult *res, *bad;
	uint64_t next, k = 0;
	size_t dlen = 0, knew = 0;
	uint8_t *data = NULL, *dp;
	char *klist = NULL, *llist = NULL, *kp, *lp;
	char sfirst[24], sn[24], snext[24];
	ls_rc rc;

	if (cluster_refused(c)) {
		pthread_mutex_lock(&c->mu);
		rc = ls_err_set(err, LS_BUSY, "cluster: refusing: %s", c->st.reason);
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	rc = cdb_connect(c, d, err);
	if (rc != LS_OK)
		return rc;
	rc = group_build(list, &g, err);
	if (rc != LS_OK)
		goto out;
	res = cdb_exec(d, "BEGIN; SELECT next, origin FROM logseal.seq WHERE id = 1 FOR UPDATE", 0,
		       NULL, NULL, NULL, 0, &bad, err);
	if (!res || PQntuples(res) != 1) {
		if (res)
			ls_err_set(err, LS_BUSY, "cluster database: no coordination row");
		cdb_failed(c, d, bad);
		PQclear(bad);
		PQclear(res);
		rc = LS_BUSY;
		goto out;
	}
	next = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	if (strcmp(PQgetvalue(res, 0, 1), log_origin(c->log))) {
		cluster_refuse(c, "the cluster database belongs to the log \"%s\", this node's log is "
			       "\"%s\"", PQgetvalue(res, 0, 1), log_origin(c->log));
		PQclear(res);
		cdb_failed(c, d, NULL);
		rc = ls_err_set(err, LS_BUSY, "cluster: the database belongs to another log");
		goto out;
	}
	PQclear(res);
	rc = lookup_keys(c, &g, err);
	if (rc != LS_OK)
		goto out;
	/* Leaves in group order: a key's first entry, unless the database
	 * held it, is appended; its repeats take its leaf. */
	for (size_t i = 0; i < g.total; i++) {
		if (g.owner[i] != i) {
			g.leaf[i] = g.leaf[g.owner[i]];
			continue;
		}
		if (g.leaf[i] != UINT64_MAX)
			continue;
		g.leaf[i] = next + k++;
		dlen += 4 + g.ent[i]->iov_len;
		knew += g.key[i] != NULL;
	}
	if (k == 0) {
		PQclear(PQexec(d->pg, "ROLLBACK"));
		goto fill;
	}
	data = malloc(dlen ? dlen : 1);
	klist = malloc(knew * (2 * LOG_KEY_LEN + 1) + 1);
	llist = malloc(knew * 21 + 1);
	if (!data || !klist || !llist) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		cdb_failed(c, d, NULL);
		goto out;
	}
	dp = data;
	kp = klist;
	lp = llist;
	for (size_t i = 0; i < g.total; i++) {
		size_t len;

		if (g.owner[i] != i || g.leaf[i] < next)
			continue;
		len = g.ent[i]->iov_len;
		dp[0] = (uint8_t)(len >> 24);
		dp[1] = (uint8_t)(len >> 16);
		dp[2] = (uint8_t)(len >> 8);
		dp[3] = (uint8_t)len;
		memcpy(dp + 4, g.ent[i]->iov_base, len);
		dp += 4 + len;
		if (g.key[i]) {
			if (kp != klist) {
				*kp++ = ',';
				*lp++ = ',';
			}
			cluster_hex(g.key[i], LOG_KEY_LEN, kp);
			kp += 2 * LOG_KEY_LEN;
			lp += sprintf(lp, "%llu", (unsigned long long)g.leaf[i]);
		}
	}
	*kp = *lp = 0;
	snprintf(sfirst, sizeof(sfirst), "%llu", (unsigned long long)next);
	snprintf(sn, sizeof(sn), "%llu", (unsigned long long)k);
	snprintf(snext, sizeof(snext), "%llu", (unsigned long long)(next + k));
	{
		const char *vals[3] = { sfirst, sn, (const char *)data };
		int lens[3] = { 0, 0, (int)dlen }, fmts[3] = { 0, 0, 1 };

		rc = step(c, "INSERT INTO logseal.batch (first, n, data) VALUES ($1, $2, $3)", 3, vals,
			  lens, fmts, err);
	}
	if (rc == LS_OK && knew) {
		const char *vals[2] = { klist, llist };

		rc = step(c, "INSERT INTO logseal.idem (key, leaf) SELECT decode(k, 'hex'), l FROM "
			  "unnest(string_to_array($1, ','), string_to_array($2, ',')::bigint[]) "
			  "AS t(k, l)", 2, vals, NULL, NULL, err);
	}
	if (rc != LS_OK)
		goto out;
	/* The last round trip: no parameters but our own number. */
	{
		char tail[128];

		snprintf(tail, sizeof(tail), "UPDATE logseal.seq SET next = %s WHERE id = 1; "
			 "NOTIFY logseal_seq; COMMIT", snext);
		d->sync_cancelled = 0;
		rc = step(c, tail, 0, NULL, NULL, NULL, err);
	}
	if (rc != LS_OK) {
		char m[sizeof(err->msg)];

		snprintf(m, sizeof(m), "%s", err->msg);
		ls_err_set(err, LS_BUSY, "the commit of leaves %s..%llu did not return (%s): not "
			   "acknowledged; a retry with the same idempotency keys finds them", sfirst,
			   (unsigned long long)(next + k - 1), m);
		goto out;
	}
	if (d->sync_cancelled) {
		pthread_mutex_lock(&c->mu);
		c->st.cancelled_sync++;
		pthread_mutex_unlock(&c->mu);
		cdb_close(d);
		rc = ls_err_set(err, LS_BUSY, "the database cancelled the wait for synchronous "
				"replication of leaves %s..%llu: not acknowledged (committed on the "
				"primary only; a retry with the same idempotency keys finds them)",
				sfirst, (unsigned long long)(next + k - 1));
		goto out;
	}
	pthread_mutex_lock(&c->mu);
	c->st.sequenced = next + k;
	pthread_mutex_unlock(&c->mu);
	{
		ssize_t w = write(c->wake[1], "s", 1);

		(void)w;
	}
fill:
	{
		size_t i = 0;

		for (struct seq_req *r = list; r; r = r->next)
			for (size_t j = 0; j < r->n; j++)
				r->idx[j] = g.leaf[i++];
	}
	rc = LS_OK;
out:
	group_free(&g);
	free(data);
	free(klist);
	free(llist);
	return rc;
}

void *cluster_seq_main(void *arg)
{
	struct cluster *c = arg;

	pthread_setname_np(pthread_self(), "ls-cluster-seq");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct seq_req *list, *last;
		size_t entries, bytes;
		struct ls_err err = { "" };
		struct timespec t0, t1;
		ls_rc rc;

		while (!c->head && !c->stopping)
			pthread_cond_wait(&c->work_cv, &c->mu);
		if (c->stopping) {
			for (struct seq_req *r = c->head; r; r = r->next) {
				r->rc = ls_err_set(&r->err, LS_BUSY, "the cluster connection is closing");
				r->done = 1;
			}
			c->head = c->tail = NULL;
			pthread_cond_broadcast(&c->done_cv);
			break;
		}
		list = last = c->head;
		entries = last->n;
		bytes = last->bytes;
		while (last->next && entries + last->next->n <= c->batch_max &&
		       bytes + last->next->bytes <= CLUSTER_BATCH_MAX_BYTES) {
			last = last->next;
			entries += last->n;
			bytes += last->bytes;
		}
		c->head = last->next;
		if (!c->head)
			c->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&c->mu);

		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = commit_group(c, list, &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);

		pthread_mutex_lock(&c->mu);
		c->st.db_seconds += (double)(t1.tv_sec - t0.tv_sec) +
				    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (rc == LS_OK)
			c->st.commits++;
		else
			c->st.commit_failures++;
		c->seq_retry_at = c->seq_db.pg ? 0 : c->seq_db.retry_at;
		for (struct seq_req *r = list, *next; r; r = next) {
			next = r->next;
			r->rc = rc;
			if (rc != LS_OK)
				r->err = err;
			r->done = 1;
		}
		pthread_cond_broadcast(&c->done_cv);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

ls_rc cluster_sequence(void *ctx, const struct iovec *entries, size_t n,
		       const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx, struct ls_err *err)
{
	struct cluster *c = ctx;
	struct seq_req r;
	ls_rc rc;

	memset(&r, 0, sizeof(r));
	r.entries = entries;
	r.n = n;
	r.keys = keys;
	r.idx = idx;
	for (size_t i = 0; i < n; i++)
		r.bytes += entries[i].iov_len;
	pthread_mutex_lock(&c->mu);
	if (c->stopping) {
		pthread_mutex_unlock(&c->mu);
		return ls_err_set(err, LS_BUSY, "the cluster connection is closing");
	}
	if (c->st.refused || (c->seq_retry_at && cluster_now_ms() < c->seq_retry_at)) {
		rc = ls_err_set(err, LS_BUSY, "%s%s", c->st.refused ? "cluster: refusing: " : "",
				c->st.reason[0] ? c->st.reason : "cluster database unavailable");
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	if (c->tail)
		c->tail->next = &r;
	else
		c->head = &r;
	c->tail = &r;
	pthread_cond_signal(&c->work_cv);
	while (!r.done)
		pthread_cond_wait(&c->done_cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	if (r.rc != LS_OK && err)
		*err = r.err;
	return r.rc;
}
