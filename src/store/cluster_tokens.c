/*
 * cluster_tokens.c - the cluster's shared token table (cluster_tokens.h):
 * sealing and checking rows, the import into an empty table, the one-row
 * change transaction, and the listener thread (LISTEN logseal_tokens, a
 * reload on each notification and every CTOK_RELOAD_MS).
 *
 * Two connections of its own (cluster_int.h struct cdb): lis for the
 * listener thread (and the first load in ctok_open), chg for changes, under
 * chg_mu.  Lock order: chg_mu before load_mu.
 */
#include "store/cluster_tokens.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "store/cfgseal.h"
#include "store/cluster_int.h"

#define CHANNEL "logseal_tokens"

struct ctok {
	struct cluster *c;
	uint8_t key[CFGSEAL_KEY_LEN];
	ctok_loaded_fn loaded;
	void *ctx;
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
	char **imp_id, **imp_body;	/* import still to do: nimport > 0 */
	size_t nimport;

	pthread_mutex_t chg_mu;	/* chg */
	pthread_mutex_t load_mu; /* one load at a time (invariant 3) */
	pthread_mutex_t st_mu;	/* st */
	struct ctok_stats st;
	uint64_t last_load_ms;	/* CLOCK_MONOTONIC; 0 never */
	struct cdb lis, chg;
	atomic_int stop;
	pthread_t thread;
	int started;
};

static void say(struct ctok *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ctok *t, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!t->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->notice(t->notice_ctx, msg);
}

static void row_mac(const struct ctok *t, const char *id, const char *body, char hex[65])
{
	uint8_t mac[CFGSEAL_MAC_LEN];

	cfgseal_mac(t->key, id, body, strlen(body), mac);
	cluster_hex(mac, sizeof(mac), hex);
}

static int row_sealed(const struct ctok *t, const char *id, const char *body, const char *mac)
{
	char want[65];
	int ok;

	if (strlen(mac) != 64)
		return 0;
	row_mac(t, id, body, want);
	ok = ls_ct_equal(want, mac, 64);
	ls_wipe(want, sizeof(want));
	return ok;
}

/* res (id, body, mac) -> rows pointing into res; *n.  NULL with n = 0 when
 * empty or out of memory (*oom). */
static struct ctok_row *rows_of(const struct ctok *t, PGresult *res, size_t *n, uint64_t *bad)
{
	size_t k = (size_t)PQntuples(res);
	struct ctok_row *rows = k ? calloc(k, sizeof(*rows)) : NULL;

	*n = 0;
	*bad = 0;
	if (!rows)
		return NULL;
	for (size_t i = 0; i < k; i++) {
		rows[i].id = PQgetvalue(res, (int)i, 0);
		rows[i].body = PQgetvalue(res, (int)i, 1);
		rows[i].mac = PQgetvalue(res, (int)i, 2);
		rows[i].sealed = strlen(rows[i].id) <= CTOK_ID_MAX &&
				 row_sealed(t, rows[i].id, rows[i].body, rows[i].mac);
		*bad += !rows[i].sealed;
	}
	*n = k;
	return rows;
}

/* Read the table on d and hand it to loaded(), under load_mu. */
static ls_rc load(struct ctok *t, struct cdb *d, struct ls_err *err)
{
	PGresult *res, *bad;
	struct ctok_row *rows;
	size_t n;
	uint64_t unsealed;

	pthread_mutex_lock(&t->load_mu);
	res = cdb_exec(d, "SELECT id, body, mac FROM logseal.tokens ORDER BY id", 0, NULL, NULL,
		       NULL, 0, &bad, err);
	if (!res) {
		cdb_failed(t->c, d, bad);
		PQclear(bad);
		pthread_mutex_unlock(&t->load_mu);
		return LS_BUSY;
	}
	rows = rows_of(t, res, &n, &unsealed);
	if (PQntuples(res) > 0 && !rows) {
		PQclear(res);
		pthread_mutex_unlock(&t->load_mu);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	t->loaded(t->ctx, rows, n);
	pthread_mutex_lock(&t->st_mu);
	t->st.loads++;
	t->st.rows = n;
	t->st.unsealed = unsealed;
	t->last_load_ms = cluster_now_ms();
	pthread_mutex_unlock(&t->st_mu);
	pthread_mutex_unlock(&t->load_mu);
	free(rows);
	PQclear(res);
	return LS_OK;
}

static ls_rc begin_locked(struct ctok *t, struct cdb *d, struct ls_err *err)
{
	ls_rc rc = cdb_cmd(d, "BEGIN", err);

	if (rc == LS_OK)
		rc = cdb_cmd(d, "LOCK TABLE logseal.tokens IN SHARE ROW EXCLUSIVE MODE", err);
	if (rc != LS_OK)
		cdb_failed(t->c, d, NULL);
	return rc;
}

static ls_rc put_row(struct ctok *t, struct cdb *d, const char *id, const char *body,
		     const char *conflict, struct ls_err *err)
{
	char mac[65], sql[300];
	const char *vals[3] = { id, body, mac };
	PGresult *res, *bad;

	row_mac(t, id, body, mac);
	snprintf(sql, sizeof(sql), "INSERT INTO logseal.tokens (id, body, mac) VALUES ($1, $2, $3) "
		 "ON CONFLICT (id) %s", conflict);
	res = cdb_exec(d, sql, 3, vals, NULL, NULL, 0, &bad, err);
	if (!res) {
		cdb_failed(t->c, d, bad);
		PQclear(bad);
		return LS_BUSY;
	}
	PQclear(res);
	return LS_OK;
}

/* NOTIFY and COMMIT; a cancelled wait for the standby is a failure. */
static ls_rc commit(struct ctok *t, struct cdb *d, struct ls_err *err)
{
	ls_rc rc = cdb_cmd(d, "NOTIFY " CHANNEL, err);

	if (rc == LS_OK) {
		d->sync_cancelled = 0;
		rc = cdb_cmd(d, "COMMIT", err);
		if (rc == LS_OK && d->sync_cancelled)
			rc = ls_err_set(err, LS_BUSY, "the database cancelled the wait for "
					"synchronous replication of the token change");
	}
	if (rc != LS_OK)
		cdb_failed(t->c, d, NULL);
	return rc;
}

/* The import (invariant 4), on d; clears the pending rows when done. */
static ls_rc import(struct ctok *t, struct cdb *d, struct ls_err *err)
{
	PGresult *res, *bad;
	long have;
	ls_rc rc;

	if (!t->nimport)
		return LS_OK;
	rc = begin_locked(t, d, err);
	if (rc != LS_OK)
		return rc;
	res = cdb_exec(d, "SELECT count(*) FROM logseal.tokens", 0, NULL, NULL, NULL, 0, &bad,
		       err);
	if (!res) {
		cdb_failed(t->c, d, bad);
		PQclear(bad);
		return LS_BUSY;
	}
	have = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	for (size_t i = 0; !have && rc == LS_OK && i < t->nimport; i++)
		rc = put_row(t, d, t->imp_id[i], t->imp_body[i], "DO NOTHING", err);
	if (rc == LS_OK)
		rc = commit(t, d, err);
	if (rc != LS_OK)
		return rc;
	if (!have)
		say(t, "cluster: imported %zu token(s) of this node's tokens.json into the empty "
		    "logseal.tokens", t->nimport);
	for (size_t i = 0; i < t->nimport; i++) {
		free(t->imp_id[i]);
		free(t->imp_body[i]);
	}
	free(t->imp_id);
	free(t->imp_body);
	t->imp_id = t->imp_body = NULL;
	t->nimport = 0;
	pthread_mutex_lock(&t->st_mu);
	t->st.imported = 1;
	pthread_mutex_unlock(&t->st_mu);
	return LS_OK;
}

/* Connect lis (LISTEN first, so no change between the load and the
 * LISTEN is missed), import if pending, load.  LS_OK: connected and
 * loaded. */
static ls_rc lis_sync(struct ctok *t, struct ls_err *err)
{
	struct cdb *d = &t->lis;
	ls_rc rc;

	if (!d->pg || PQstatus(d->pg) != CONNECTION_OK) {
		rc = cdb_connect(t->c, d, err);
		if (rc != LS_OK)
			return rc;
		rc = cdb_cmd(d, "LISTEN " CHANNEL, err);
		if (rc != LS_OK) {
			cdb_failed(t->c, d, NULL);
			return rc;
		}
	}
	rc = import(t, d, err);
	if (rc == LS_OK)
		rc = load(t, d, err);
	return rc;
}

static void *lis_main(void *arg)
{
	struct ctok *t = arg;
	uint64_t next = 0;
	int need = 0;

	while (!atomic_load(&t->stop)) {
		struct ls_err e = { { 0 } };
		uint64_t now = cluster_now_ms();
		struct pollfd pfd;
		PGnotify *nf;

		if (!t->lis.pg || PQstatus(t->lis.pg) != CONNECTION_OK || need || now >= next) {
			if (lis_sync(t, &e) != LS_OK) {
				/* Not connected (backing off) or the load failed:
				 * try again shortly; the cache keeps serving. */
				struct timespec ts = { 0, 200 * 1000000L };
				nanosleep(&ts, NULL);
				continue;
			}
			need = 0;
			next = cluster_now_ms() + CTOK_RELOAD_MS;
			now = cluster_now_ms();
		}
		pfd.fd = PQsocket(t->lis.pg);
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* Short polls: the stop flag is seen within 200 ms. */
		if (poll(&pfd, 1, (int)(next - now < 200 ? next - now : 200)) < 0 && errno != EINTR)
			continue;
		if (!PQconsumeInput(t->lis.pg)) {
			cdb_failed(t->c, &t->lis, NULL);
			continue;
		}
		while ((nf = PQnotifies(t->lis.pg)) != NULL) {
			need = 1;
			PQfreemem(nf);
		}
	}
	return NULL;
}

static void ctok_free(struct ctok *t)
{
	for (size_t i = 0; i < t->nimport; i++) {
		free(t->imp_id ? t->imp_id[i] : NULL);
		free(t->imp_body ? t->imp_body[i] : NULL);
	}
	free(t->imp_id);
	free(t->imp_body);
	cdb_close(&t->lis);
	cdb_close(&t->chg);
	ls_wipe(t->key, sizeof(t->key));
	pthread_mutex_destroy(&t->chg_mu);
	pthread_mutex_destroy(&t->load_mu);
	pthread_mutex_destroy(&t->st_mu);
	free(t);
}

ls_rc ctok_open(const struct ctok_opts *o, struct ctok **out, struct ls_err *err)
{
	struct ctok *t;
	struct ls_err e = { { 0 } };
	ls_rc rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	t->c = o->cluster;
	t->loaded = o->loaded;
	t->ctx = o->ctx;
	t->notice = o->notice;
	t->notice_ctx = o->notice_ctx;
	pthread_mutex_init(&t->chg_mu, NULL);
	pthread_mutex_init(&t->load_mu, NULL);
	pthread_mutex_init(&t->st_mu, NULL);
	rc = cfgseal_key(o->dir, CFGSEAL_CLUSTER_TOKENS, t->key, err);
	if (rc != LS_OK) {
		ctok_free(t);
		return rc;
	}
	if (o->nimport) {
		t->imp_id = calloc(o->nimport, sizeof(char *));
		t->imp_body = calloc(o->nimport, sizeof(char *));
		t->nimport = o->nimport;
		for (size_t i = 0; t->imp_id && t->imp_body && i < o->nimport; i++) {
			t->imp_id[i] = strdup(o->import[i].id);
			t->imp_body[i] = strdup(o->import[i].body);
			if (!t->imp_id[i] || !t->imp_body[i])
				break;
		}
		for (size_t i = 0; i < o->nimport; i++)
			if (!t->imp_id || !t->imp_body || !t->imp_id[i] || !t->imp_body[i]) {
				ctok_free(t);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
	} else {
		t->st.imported = 1;
	}
	if (lis_sync(t, &e) != LS_OK)
		say(t, "cluster: the shared token table cannot be read yet (%s); serving this "
		    "node's tokens.json until it can", e.msg);
	if (pthread_create(&t->thread, NULL, lis_main, t) != 0) {
		ctok_free(t);
		return ls_err_set(err, LS_NOMEM, "cluster: cannot start the token listener");
	}
	t->started = 1;
	*out = t;
	return LS_OK;
}

void ctok_close(struct ctok *t)
{
	if (!t)
		return;
	atomic_store(&t->stop, 1);
	if (t->started)
		pthread_join(t->thread, NULL);
	ctok_free(t);
}

ls_rc ctok_change(struct ctok *t, ctok_decide_fn decide, void *ctx, struct ls_err *err)
{
	struct cdb *d = &t->chg;
	PGresult *res, *bad;
	struct ctok_row *rows;
	char id[CTOK_ID_MAX + 1] = "";
	char *body = NULL;
	size_t n;
	uint64_t unsealed;
	ls_rc rc;

	pthread_mutex_lock(&t->chg_mu);
	rc = cdb_connect(t->c, d, err);
	if (rc == LS_OK)
		rc = begin_locked(t, d, err);
	if (rc != LS_OK)
		goto out;
	res = cdb_exec(d, "SELECT id, body, mac FROM logseal.tokens ORDER BY id", 0, NULL, NULL,
		       NULL, 0, &bad, err);
	if (!res) {
		cdb_failed(t->c, d, bad);
		PQclear(bad);
		rc = LS_BUSY;
		goto out;
	}
	rows = rows_of(t, res, &n, &unsealed);
	if (PQntuples(res) > 0 && !rows)
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	else
		rc = decide(ctx, rows, n, id, &body, err);
	free(rows);
	PQclear(res);
	if (rc != LS_OK || !body) {
		PQclear(PQexec(d->pg, "ROLLBACK"));
		goto out;
	}
	rc = put_row(t, d, id, body, "DO UPDATE SET body = EXCLUDED.body, mac = EXCLUDED.mac",
		     err);
	if (rc == LS_OK)
		rc = commit(t, d, err);
	if (rc == LS_OK) {
		/* Invariant 3: seen here before the caller hears of it (a failed
		 * load leaves it to the caller's own update and the listener). */
		struct ls_err e2 = { { 0 } };
		(void)load(t, d, &e2);
	}
out:
	free(body);
	pthread_mutex_unlock(&t->chg_mu);
	return rc;
}

void ctok_stats(struct ctok *t, struct ctok_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!t)
		return;
	pthread_mutex_lock(&t->st_mu);
	*out = t->st;
	out->last_load_age_ms = t->last_load_ms ? (int64_t)(cluster_now_ms() - t->last_load_ms) : -1;
	pthread_mutex_unlock(&t->st_mu);
}
