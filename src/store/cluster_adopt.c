/*
 * cluster_adopt.c - `logseal cluster adopt` (store/cluster_adopt.h): fill a
 * brand new cluster database from one data directory's log, in bounded
 * transactions, behind a mark in logseal.seq.origin (CLUSTER_ADOPTING) that
 * makes every node refuse the database until the last transaction has set
 * the coordination and integration rows.
 *
 * Invariants:
 *  1. Every transaction first locks the coordination row and checks the
 *     mark (and, while copying, that the batch rows end where this run is),
 *     so a second adoption running at the same time fails instead of
 *     interleaving rows.
 *  2. The batch rows are contiguous from the retained point R: a rerun
 *     checks that (min(first) = R, max(first + n) - R = sum(n)) and goes
 *     on after the last one.
 *  3. The mark goes only in the last transaction, together with next = N
 *     and the integrated size N: no node ever sees a part of the log as the
 *     whole of it.
 */
#include "store/cluster_adopt.h"
#include "store/cluster_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/merkle.h"
#include "store/reader.h"
#include "store/tiles.h"

#define ADOPT_ENTRIES 4096
#define ADOPT_BYTES (4u << 20)

struct adopt {
	struct cluster *c;
	struct cdb *d;
	const char *origin;
	char mark[600];
	uint64_t n, r;		/* the log's size; the retained point */
};

static ls_rc fail(struct adopt *a, PGresult *bad, ls_rc rc)
{
	cdb_failed(a->c, a->d, bad);
	PQclear(bad);
	return rc;
}

/* COMMIT, with the sequencer's rule: a cancelled wait for the synchronous
 * standby is a failure. */
static ls_rc commit(struct adopt *a, struct ls_err *err)
{
	a->d->sync_cancelled = 0;
	if (cdb_cmd(a->d, "COMMIT", err) != LS_OK)
		return fail(a, NULL, LS_BUSY);
	if (a->d->sync_cancelled) {
		cdb_close(a->d);
		return ls_err_set(err, LS_BUSY, "the database cancelled the wait for synchronous "
				  "replication: not sure it is replicated; run the adoption again");
	}
	return LS_OK;
}

/* BEGIN; lock the coordination row; *origin (malloc'd), *next, and where
 * the batch rows end (-1: none), their first and their count of entries. */
static ls_rc lock_row(struct adopt *a, char **origin, uint64_t *next, int64_t *end, int64_t *first,
		      uint64_t *sum, struct ls_err *err)
{
	PGresult *res, *bad;

	res = cdb_exec(a->d, "BEGIN; SELECT s.next, s.origin, "
		       "(SELECT coalesce(max(first + n), -1) FROM logseal.batch), "
		       "(SELECT coalesce(min(first), -1) FROM logseal.batch), "
		       "(SELECT coalesce(sum(n), 0) FROM logseal.batch), "
		       "(SELECT coalesce(size, 0) FROM logseal.integ WHERE id = 1) "
		       "FROM logseal.seq s WHERE s.id = 1 FOR UPDATE OF s", 0, NULL, NULL, NULL, 0,
		       &bad, err);
	if (!res || PQntuples(res) != 1) {
		if (res)
			ls_err_set(err, LS_BUSY, "cluster database: no coordination row");
		PQclear(res);
		return fail(a, bad, LS_BUSY);
	}
	*next = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	*origin = strdup(PQgetvalue(res, 0, 1));
	*end = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	*first = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	*sum = strtoull(PQgetvalue(res, 0, 4), NULL, 10);
	if (strtoull(PQgetvalue(res, 0, 5), NULL, 10) != 0)
		*next = *next ? *next : 1;	/* integrated something: not new */
	PQclear(res);
	if (!*origin)
		return fail(a, NULL, ls_err_set(err, LS_NOMEM, "out of memory"));
	return LS_OK;
}

/* Step 1: create the tables when absent, check the database is new (or
 * this log's unfinished adoption), mark it; *from: where copying goes on. */
static ls_rc mark(struct adopt *a, uint64_t *from, struct ls_err *err)
{
	const char *vals[1] = { a->mark };
	char *origin = NULL;
	uint64_t next, sum;
	int64_t end, first;
	PGresult *res, *bad;
	ls_rc rc;

	if (cdb_cmd(a->d, "BEGIN", err) != LS_OK || cluster_create_tables(a->d, err) != LS_OK)
		return fail(a, NULL, LS_BUSY);
	res = cdb_exec(a->d, "INSERT INTO logseal.seq (id, next, origin) VALUES (1, 0, $1) "
		       "ON CONFLICT (id) DO NOTHING", 1, vals, NULL, NULL, 0, &bad, err);
	if (!res)
		return fail(a, bad, LS_BUSY);
	PQclear(res);
	if (cdb_cmd(a->d, "COMMIT", err) != LS_OK)
		return fail(a, NULL, LS_BUSY);
	rc = lock_row(a, &origin, &next, &end, &first, &sum, err);
	if (rc != LS_OK)
		return rc;
	if (!strcmp(origin, a->mark)) {
		/* An unfinished adoption of this log: go on after its rows. */
		if (end < 0) {
			*from = a->r;
		} else if ((uint64_t)first != a->r || (uint64_t)end - (uint64_t)first != sum ||
			   (uint64_t)end > a->n) {
			rc = ls_err_set(err, LS_CORRUPT, "the cluster database's unfinished adoption "
					"holds batch rows from leaf %lld to %lld (%llu entries), which "
					"do not continue this log (retained from %llu, size %llu): "
					"start again with a new database", (long long)first,
					(long long)end, (unsigned long long)sum,
					(unsigned long long)a->r, (unsigned long long)a->n);
		} else {
			*from = (uint64_t)end;
		}
	} else if (!strncmp(origin, CLUSTER_ADOPTING, strlen(CLUSTER_ADOPTING)) ||
		   strcmp(origin, a->origin)) {
		rc = ls_err_set(err, LS_INVALID, "the cluster database belongs to the log \"%s\", "
				"this directory's log is \"%s\": refusing to adopt into it", origin,
				a->origin);
	} else if (next != 0 || end >= 0) {
		rc = ls_err_set(err, LS_EXISTS, "the cluster database already holds %llu entries "
				"of this log (already adopted, or nodes have run on it): adoption "
				"needs a brand new database", (unsigned long long)next);
	} else {
		*from = a->r;
		res = cdb_exec(a->d, "UPDATE logseal.seq SET origin = $1 WHERE id = 1", 1, vals, NULL,
			       NULL, 0, &bad, err);
		if (!res) {
			free(origin);
			return fail(a, bad, LS_BUSY);
		}
		PQclear(res);
	}
	free(origin);
	if (rc != LS_OK)
		return fail(a, NULL, rc);
	return commit(a, err);
}

/* Step 2, one row: entries [first, first + k) in buf (dlen bytes). */
static ls_rc put_row(struct adopt *a, uint64_t first, size_t k, const uint8_t *buf, size_t dlen,
		     struct ls_err *err)
{
	char *origin = NULL, sfirst[24], sn[24];
	uint64_t next, sum;
	int64_t end, min;
	PGresult *res, *bad;
	ls_rc rc;

	rc = lock_row(a, &origin, &next, &end, &min, &sum, err);
	if (rc != LS_OK)
		return rc;
	if (strcmp(origin, a->mark) || (end < 0 ? first != a->r : (uint64_t)end != first))
		rc = ls_err_set(err, LS_BUSY, "the cluster database changed during the adoption "
				"(another adoption running?): stopped at leaf %llu",
				(unsigned long long)first);
	free(origin);
	if (rc != LS_OK)
		return fail(a, NULL, rc);
	snprintf(sfirst, sizeof(sfirst), "%llu", (unsigned long long)first);
	snprintf(sn, sizeof(sn), "%zu", k);
	{
		const char *vals[3] = { sfirst, sn, (const char *)buf };
		int lens[3] = { 0, 0, (int)dlen }, fmts[3] = { 0, 0, 1 };

		res = cdb_exec(a->d, "INSERT INTO logseal.batch (first, n, data) VALUES ($1, $2, $3)",
			       3, vals, lens, fmts, 0, &bad, err);
	}
	if (!res)
		return fail(a, bad, LS_BUSY);
	PQclear(res);
	return commit(a, err);
}

/* Step 3: the coordination and integration rows, the mark removed. */
static ls_rc finish(struct adopt *a, const char *note, const uint8_t root[LS_HASH_LEN],
		    struct ls_err *err)
{
	char *origin = NULL, sn[24], sr[24], sroot[2 * LS_HASH_LEN + 1];
	uint64_t next, sum;
	int64_t end, min;
	PGresult *res, *bad;
	ls_rc rc;

	rc = lock_row(a, &origin, &next, &end, &min, &sum, err);
	if (rc != LS_OK)
		return rc;
	if (strcmp(origin, a->mark) || (end < 0 ? a->r != a->n : (uint64_t)end != a->n))
		rc = ls_err_set(err, LS_BUSY, "the cluster database changed during the adoption "
				"(another adoption running?): not finishing");
	free(origin);
	if (rc != LS_OK)
		return fail(a, NULL, rc);
	snprintf(sn, sizeof(sn), "%llu", (unsigned long long)a->n);
	snprintf(sr, sizeof(sr), "%llu", (unsigned long long)a->r);
	cluster_hex(root, LS_HASH_LEN, sroot);
	{
		const char *vals[5] = { sn, a->origin, sroot, note, sr };

		res = cdb_exec(a->d, "WITH s AS (UPDATE logseal.seq SET next = $1, origin = $2 "
			       "WHERE id = 1) UPDATE logseal.integ SET size = $1, "
			       "root = decode($3, 'hex'), checkpoint = $4, node = NULL, at = now(), "
			       "pruned = $5 WHERE id = 1", 5, vals, NULL, NULL, 0, &bad, err);
	}
	if (!res)
		return fail(a, bad, LS_BUSY);
	PQclear(res);
	return commit(a, err);
}

/* Step 2: copy [from, N) in rows. */
static ls_rc copy(struct adopt *a, const struct cluster_adopt_opts *o, uint64_t from,
		  struct cluster_adopt_result *out, struct ls_err *err)
{
	size_t max_e = o->batch_entries ? o->batch_entries : ADOPT_ENTRIES;
	size_t cap = o->batch_bytes ? o->batch_bytes : ADOPT_BYTES;
	char jdir[PATH_MAX];
	struct store_iter *it = NULL;
	uint8_t *buf;
	size_t used = 0, k = 0;
	uint64_t first = from;
	ls_rc rc = LS_OK;

	if (from >= a->n)
		return LS_OK;
	if (cap < 4 + STORE_MAX_ENTRY)
		cap = 4 + STORE_MAX_ENTRY;
	buf = malloc(cap);
	if (!buf)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	snprintf(jdir, sizeof(jdir), "%s/journal", log_dir(o->log));
	rc = store_iter_open(jdir, from, 0, &it, err);
	for (uint64_t i = from; rc == LS_OK && i < a->n; i++) {
		const uint8_t *data;
		size_t len;
		uint64_t idx;

		rc = store_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND)
			rc = ls_err_set(err, LS_CORRUPT, "the log ends at %llu, before its "
					"checkpoint's size %llu", (unsigned long long)i,
					(unsigned long long)a->n);
		if (rc == LS_OK && idx != i)
			rc = ls_err_set(err, LS_CORRUPT, "the log yielded leaf %llu where %llu was "
					"expected", (unsigned long long)idx, (unsigned long long)i);
		if (rc != LS_OK)
			break;
		buf[used] = (uint8_t)(len >> 24);
		buf[used + 1] = (uint8_t)(len >> 16);
		buf[used + 2] = (uint8_t)(len >> 8);
		buf[used + 3] = (uint8_t)len;
		memcpy(buf + used + 4, data, len);
		used += 4 + len;
		k++;
		if (k == max_e || used + 4 + STORE_MAX_ENTRY > cap || i + 1 == a->n) {
			rc = put_row(a, first, k, buf, used, err);
			if (rc != LS_OK)
				break;
			out->rows++;
			first += k;
			k = used = 0;
			if (o->progress)
				o->progress(o->ctx, first - a->r, a->n - a->r);
		}
	}
	store_iter_free(it);
	free(buf);
	return rc;
}

ls_rc cluster_adopt(const struct cluster_adopt_opts *o, struct cluster_adopt_result *out,
		    struct ls_err *err)
{
	struct adopt a = { 0 };
	struct cluster *c;
	char path[PATH_MAX], *note = NULL;
	uint8_t root[LS_HASH_LEN];
	uint64_t s = 0, from = 0;
	struct tiles_reader *tr;
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	a.origin = log_origin(o->log);
	snprintf(a.mark, sizeof(a.mark), "%s%s", CLUSTER_ADOPTING, a.origin);
	/* The latest signed checkpoint must cover the whole log. */
	a.n = log_size(o->log);
	rc = log_latest_checkpoint(o->log, &note, &s);
	if (rc == LS_OK && s != a.n) {
		free(note);
		note = NULL;
		rc = log_checkpoint(o->log, err);
		if (rc == LS_OK)
			rc = log_latest_checkpoint(o->log, &note, &s);
	}
	if (rc != LS_OK) {
		free(note);
		return err && err->msg[0] ? rc : ls_err_set(err, rc, "no signed checkpoint");
	}
	if (s != a.n) {
		free(note);
		return ls_err_set(err, LS_CORRUPT, "the latest signed checkpoint covers %llu entries, "
				  "the log holds %llu", (unsigned long long)s,
				  (unsigned long long)a.n);
	}
	if (a.n == 0) {
		free(note);
		return ls_err_set(err, LS_INVALID, "the log is empty: nothing to adopt (start the "
				  "nodes on copies of this directory, docs/CLUSTER.md)");
	}
	snprintf(path, sizeof(path), "%s/journal", log_dir(o->log));
	rc = store_retained(path, &a.r, err);
	snprintf(path, sizeof(path), "%s/log", log_dir(o->log));
	if (rc == LS_OK && (rc = tiles_reader_open(path, a.n, &tr)) == LS_OK) {
		rc = merkle_root(tiles_node_hash, tr, a.n, root);
		tiles_reader_free(tr);
		if (rc != LS_OK)
			ls_err_set(err, rc, "the tree's root at %llu: unreadable tiles",
				   (unsigned long long)a.n);
	} else if (rc != LS_OK && !err->msg[0]) {
		ls_err_set(err, rc, "the tiles of size %llu cannot be read", (unsigned long long)a.n);
	}
	if (rc != LS_OK) {
		free(note);
		return rc;
	}
	out->size = a.n;
	out->retained = a.r;

	c = calloc(1, sizeof(*c));
	if (!c || !(c->conninfo = strdup(o->conninfo))) {
		free(c);
		free(note);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&c->mu, NULL);
	c->log = o->log;
	a.c = c;
	a.d = &c->seq_db;
	rc = cdb_connect(c, a.d, err);
	if (rc == LS_OK)
		rc = mark(&a, &from, err);
	if (rc == LS_OK) {
		out->resumed_at = from;
		rc = copy(&a, o, from, out, err);
	}
	if (rc == LS_OK)
		rc = finish(&a, note, root, err);
	cdb_close(a.d);
	pthread_mutex_destroy(&c->mu);
	free(c->conninfo);
	free(c);
	free(note);
	return rc;
}
