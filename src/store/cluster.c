/*
 * cluster.c - the cluster module's frame (store/cluster.h): connections to
 * the database (timeouts, keepalives, the notice processor that catches a
 * cancelled wait for synchronous replication, reconnection with backoff),
 * the schema (created when absent, under an advisory lock), cluster_open /
 * cluster_close, the status, and the uploader's gate (cluster_may_upload,
 * cluster_publish).  The threads: cluster_seq.c, cluster_follow.c,
 * cluster_integ.c; what they share: cluster_int.h.
 *
 * Invariants:
 *  1. Every session has statement_timeout and
 *     idle_in_transaction_session_timeout set, and TCP keepalives and a TCP
 *     user timeout, and every statement is bounded on the client too
 *     (run_bounded: cancel after CLUSTER_CLIENT_TIMEOUT_MS, drop the session
 *     3 s later), so a dead primary or a missing synchronous standby fails
 *     a statement within seconds instead of hanging a thread; a
 *     transaction of a dead node cannot hold the coordination or
 *     integration row for long.
 *  2. A session is used only when it reached a primary (not in recovery).
 *  3. After any failed statement the session is dropped (rolled back and
 *     closed) and the next use reconnects: the connection string may name
 *     several hosts, and libpq finds the new primary.  The one exception is
 *     a lock not available (SELECT ... NOWAIT), which is rolled back only.
 *  4. A refusal, once recorded, stays until the module is closed: no
 *     thread sequences, applies or integrates after it.
 */
#include "store/cluster_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/log.h"

/* The advisory lock that serialises schema creation among nodes. */
#define SCHEMA_LOCK_KEY "7471982201335221"

static const char *const schema_sql[] = {
	"CREATE SCHEMA IF NOT EXISTS logseal",
	"CREATE TABLE IF NOT EXISTS logseal.seq (id int PRIMARY KEY CHECK (id = 1), "
	"next bigint NOT NULL, origin text NOT NULL)",
	"CREATE TABLE IF NOT EXISTS logseal.batch (first bigint PRIMARY KEY, n int NOT NULL, "
	"data bytea NOT NULL)",
	"CREATE TABLE IF NOT EXISTS logseal.idem (key bytea PRIMARY KEY, leaf bigint NOT NULL, "
	"at timestamptz NOT NULL DEFAULT now())",
	"CREATE TABLE IF NOT EXISTS logseal.integ (id int PRIMARY KEY CHECK (id = 1), size bigint, "
	"root bytea, checkpoint text, node text, at timestamptz, pruned bigint NOT NULL DEFAULT 0)",
	"CREATE TABLE IF NOT EXISTS logseal.node (name text PRIMARY KEY, applied bigint NOT NULL, "
	"seen timestamptz NOT NULL)",
	/* A database of an earlier version: its keys count as sequenced now
	 * (kept one more window); each step only when missing, so a running
	 * cluster's tables are not locked at every start. */
	"DO $$ BEGIN "
	"IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'logseal' "
	"AND table_name = 'idem' AND column_name = 'at') THEN "
	"ALTER TABLE logseal.idem ADD COLUMN at timestamptz NOT NULL DEFAULT now(); END IF; "
	"IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'logseal' "
	"AND table_name = 'integ' AND column_name = 'pruned') THEN "
	"ALTER TABLE logseal.integ ADD COLUMN pruned bigint NOT NULL DEFAULT 0; END IF; "
	"IF to_regclass('logseal.idem_at') IS NULL THEN "
	"CREATE INDEX idem_at ON logseal.idem (at); END IF; END $$",
	"INSERT INTO logseal.integ (id, size) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
	"CREATE TABLE IF NOT EXISTS logseal.tokens (id text PRIMARY KEY, body text NOT NULL, "
	"mac text NOT NULL)",	/* store/cluster_tokens.h */
};

uint64_t cluster_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cluster_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = 0;
}

uint64_t cluster_be64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u[i];
	return v;
}

void cluster_notice(struct cluster *c, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (!c->o.notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->o.notice(c->o.notice_ctx, msg);
}

void cluster_refuse(struct cluster *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int first;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->mu);
	first = !c->st.refused;
	if (first) {
		c->st.refused = 1;
		c->st.integrator = 0;
		snprintf(c->st.reason, sizeof(c->st.reason), "%s", msg);
	}
	pthread_mutex_unlock(&c->mu);
	if (first)
		cluster_notice(c, "cluster: refusing: %s", msg);
}

int cluster_refused(struct cluster *c)
{
	int r;

	pthread_mutex_lock(&c->mu);
	r = c->st.refused;
	pthread_mutex_unlock(&c->mu);
	return r;
}

void cluster_set_unavailable(struct cluster *c, const char *msg)
{
	pthread_mutex_lock(&c->mu);
	c->st.connected = 0;
	if (!c->st.refused)
		snprintf(c->st.reason, sizeof(c->st.reason), "cluster database unavailable: %s", msg);
	pthread_mutex_unlock(&c->mu);
}

int cluster_sleep(struct cluster *c, uint64_t ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->stopping && pthread_cond_timedwait(&c->stop_cv, &c->mu, &ts) != ETIMEDOUT)
		;
	stop = c->stopping;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

/* libpq's notices: a commit whose wait for the synchronous standby was
 * cancelled (statement timeout, shutdown, admin) is committed locally but
 * maybe not replicated: the caller must not acknowledge it. */
/* The warning a backend sends when it stops waiting for the synchronous
 * standby ("canceling wait for synchronous replication ..."): its SQLSTATE
 * is 57014 (query_canceled) or 57P01 (admin_shutdown) whatever language the
 * server's messages are in; the English text is checked too. */
static void on_notice(void *arg, const PGresult *res)
{
	struct cdb *d = arg;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorMessage(res);

	if ((state && (!strcmp(state, "57014") || !strcmp(state, "57P01"))) ||
	    (msg && strstr(msg, "synchronous replication") && strstr(msg, "cancel")))
		d->sync_cancelled = 1;
}

/* One line of libpq's message (they end in newlines, sometimes several). */
static void one_line(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	while (in && *in && n + 1 < cap) {
		out[n++] = *in == '\n' ? ' ' : *in;
		in++;
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = 0;
}

void cdb_close(struct cdb *d)
{
	if (d->pg)
		PQfinish(d->pg);
	d->pg = NULL;
}

ls_rc cdb_connect(struct cluster *c, struct cdb *d, struct ls_err *err)
{
	const char *kw[] = { "connect_timeout", "keepalives", "keepalives_idle",
			     "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			     "application_name", "dbname", NULL };
	const char *val[] = { "5", "1", "5", "2", "3", "10000", "logseal", c->conninfo, NULL };
	char msg[400], host[128];
	PGresult *res;
	uint64_t now = cluster_now_ms();

	if (d->pg && PQstatus(d->pg) == CONNECTION_OK)
		return LS_OK;
	cdb_close(d);
	if (now < d->retry_at) {
		pthread_mutex_lock(&c->mu);
		snprintf(msg, sizeof(msg), "%s", c->st.reason);
		pthread_mutex_unlock(&c->mu);
		return ls_err_set(err, LS_BUSY, "%s", msg[0] ? msg : "cluster database unavailable");
	}
	d->pg = PQconnectdbParams(kw, val, 1);
	if (!d->pg || PQstatus(d->pg) != CONNECTION_OK) {
		one_line(d->pg ? PQerrorMessage(d->pg) : "out of memory", msg, sizeof(msg));
		goto fail;
	}
	PQsetNoticeReceiver(d->pg, on_notice, d);
	res = PQexec(d->pg, "SET statement_timeout = 5000; "
		     "SET idle_in_transaction_session_timeout = 15000");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		one_line(PQresultErrorMessage(res), msg, sizeof(msg));
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	res = PQexec(d->pg, "SELECT pg_is_in_recovery()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		one_line(PQresultErrorMessage(res), msg, sizeof(msg));
		PQclear(res);
		goto fail;
	}
	if (PQgetvalue(res, 0, 0)[0] == 't') {
		PQclear(res);
		snprintf(msg, sizeof(msg), "%s:%s is a standby (read-only); the connection string "
			 "should name every host with target_session_attrs=read-write",
			 PQhost(d->pg), PQport(d->pg));
		goto fail;
	}
	PQclear(res);
	d->backoff_ms = 0;
	d->retry_at = 0;
	d->gen++;
	snprintf(host, sizeof(host), "%s:%s", PQhost(d->pg), PQport(d->pg));
	pthread_mutex_lock(&c->mu);
	c->st.connected = 1;
	snprintf(c->st.host, sizeof(c->st.host), "%s", host);
	if (!c->st.refused)
		c->st.reason[0] = 0;
	pthread_mutex_unlock(&c->mu);
	return LS_OK;
fail:
	cdb_close(d);
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : CLUSTER_BACKOFF_MIN_MS;
	if (d->backoff_ms > CLUSTER_BACKOFF_MAX_MS)
		d->backoff_ms = CLUSTER_BACKOFF_MAX_MS;
	d->retry_at = cluster_now_ms() + d->backoff_ms;
	cluster_set_unavailable(c, msg);
	return ls_err_set(err, LS_BUSY, "cluster database unavailable: %s", msg);
}

void cdb_failed(struct cluster *c, struct cdb *d, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[400];

	if (!d->pg)
		return;
	if (state && !strcmp(state, "55P03") && PQstatus(d->pg) == CONNECTION_OK) {
		PQclear(PQexec(d->pg, "ROLLBACK"));
		return;
	}
	one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(d->pg), msg, sizeof(msg));
	if (msg[0])
		cluster_set_unavailable(c, msg);
	cdb_close(d);
}

/* Send one statement and wait for its result, at most
 * CLUSTER_CLIENT_TIMEOUT_MS; then ask the server to cancel it and wait a
 * little more (a COMMIT waiting for the synchronous standby is not bound by
 * statement_timeout: the cancel makes it return with the notice "canceling
 * wait for synchronous replication", which on_notice() records); then
 * give up on the session.  NULL: no result (the session is unusable). */
static PGresult *run_bounded(struct cdb *d, const char *sql, int n, const char *const *vals,
			     const int *lens, const int *fmts, int rfmt)
{
	uint64_t deadline = cluster_now_ms() + CLUSTER_CLIENT_TIMEOUT_MS;
	PGresult *last = NULL, *r;
	int cancelled = 0;

	/* Without parameters, the simple protocol: sql may hold several
	 * statements (one round trip); the last result, or the first error,
	 * is what comes back. */
	if (!(n == 0 && rfmt == 0 ? PQsendQuery(d->pg, sql) :
	      PQsendQueryParams(d->pg, sql, n, NULL, vals, lens, fmts, rfmt)))
		return NULL;
	for (;;) {
		struct pollfd pfd = { .fd = PQsocket(d->pg), .events = POLLIN };
		uint64_t now;

		while (!PQisBusy(d->pg)) {
			r = PQgetResult(d->pg);
			if (!r)
				return last;
			PQclear(last);
			last = r;
		}
		now = cluster_now_ms();
		if (now >= deadline) {
			PGcancel *pc;
			char ebuf[256];

			if (cancelled) {
				PQclear(last);
				cdb_close(d);
				return NULL;
			}
			pc = PQgetCancel(d->pg);
			if (pc) {
				PQcancel(pc, ebuf, sizeof(ebuf));
				PQfreeCancel(pc);
			}
			cancelled = 1;
			deadline = now + 3000;
			continue;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR) {
			PQclear(last);
			return NULL;
		}
		if (!PQconsumeInput(d->pg)) {
			PQclear(last);
			return NULL;
		}
	}
}

PGresult *cdb_exec(struct cdb *d, const char *sql, int n, const char *const *vals, const int *lens,
		   const int *fmts, int rfmt, PGresult **res_out, struct ls_err *err)
{
	PGresult *res;
	ExecStatusType st;
	char msg[400];

	if (res_out)
		*res_out = NULL;
	if (!d->pg) {
		ls_err_set(err, LS_BUSY, "cluster database unavailable: not connected");
		return NULL;
	}
	res = run_bounded(d, sql, n, vals, lens, fmts, rfmt);
	st = PQresultStatus(res);
	if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
		return res;
	if (res)
		one_line(PQresultErrorMessage(res), msg, sizeof(msg));
	else if (d->pg)
		one_line(PQerrorMessage(d->pg), msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "no answer within %d ms", CLUSTER_CLIENT_TIMEOUT_MS + 3000);
	if (!msg[0])
		snprintf(msg, sizeof(msg), "the connection was lost");
	ls_err_set(err, LS_BUSY, "cluster database unavailable: %s", msg);
	if (res_out)
		*res_out = res;
	else
		PQclear(res);
	return NULL;
}

ls_rc cdb_cmd(struct cdb *d, const char *sql, struct ls_err *err)
{
	PGresult *res = cdb_exec(d, sql, 0, NULL, NULL, NULL, 0, NULL, err);

	if (!res)
		return LS_BUSY;
	PQclear(res);
	return LS_OK;
}

ls_rc cluster_create_tables(struct cdb *d, struct ls_err *err)
{
	ls_rc rc = cdb_cmd(d, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", err);

	for (size_t i = 0; rc == LS_OK && i < sizeof(schema_sql) / sizeof(schema_sql[0]); i++)
		rc = cdb_cmd(d, schema_sql[i], err);
	return rc;
}

/* The tables, when absent (cluster.h), and the check of the coordination
 * row against this log. */
static ls_rc create_schema(struct cluster *c, struct ls_err *err)
{
	struct cdb *d = &c->seq_db;
	const char *origin = log_origin(c->log);
	const char *vals[1] = { origin };
	PGresult *res;
	ls_rc rc;

	rc = cdb_cmd(d, "BEGIN", err);
	if (rc == LS_OK)
		rc = cluster_create_tables(d, err);
	if (rc == LS_OK) {
		res = cdb_exec(d, "INSERT INTO logseal.seq (id, next, origin) VALUES (1, 0, $1) "
			       "ON CONFLICT (id) DO NOTHING", 1, vals, NULL, NULL, 0, NULL, err);
		rc = res ? LS_OK : LS_BUSY;
		PQclear(res);
	}
	if (rc == LS_OK)
		rc = cdb_cmd(d, "COMMIT", err);
	if (rc != LS_OK) {
		cdb_failed(c, d, NULL);
		return rc;
	}
	res = cdb_exec(d, "SELECT s.next, s.origin, i.pruned FROM logseal.seq s, logseal.integ i "
		       "WHERE s.id = 1 AND i.id = 1", 0, NULL, NULL, NULL, 0, NULL, err);
	if (!res || PQntuples(res) != 1) {
		PQclear(res);
		cdb_failed(c, d, NULL);
		return ls_err_set(err, LS_BUSY, "cluster database: no coordination row");
	}
	uint64_t next = strtoull(PQgetvalue(res, 0, 0), NULL, 10), size = log_size(c->log);
	uint64_t pruned = strtoull(PQgetvalue(res, 0, 2), NULL, 10);

	pthread_mutex_lock(&c->mu);
	c->st.sequenced = next;
	c->st.applied = size;
	c->st.pruned = pruned;
	pthread_mutex_unlock(&c->mu);
	if (!strncmp(PQgetvalue(res, 0, 1), CLUSTER_ADOPTING, strlen(CLUSTER_ADOPTING)))
		cluster_refuse(c, "the cluster database is being adopted from the single-node log "
			       "\"%s\" and the adoption is not complete (`logseal cluster adopt` is "
			       "running or was interrupted): run it again to finish, then start the "
			       "nodes", PQgetvalue(res, 0, 1) + strlen(CLUSTER_ADOPTING));
	else if (strcmp(PQgetvalue(res, 0, 1), origin))
		cluster_refuse(c, "the cluster database belongs to the log \"%s\", this node's log is "
			       "\"%s\"", PQgetvalue(res, 0, 1), origin);
	else if (next < size)
		cluster_refuse(c, "the cluster database holds %llu entries, fewer than this node's "
			       "replica (%llu): it was restored from an older copy or is another "
			       "log's; not following it", (unsigned long long)next,
			       (unsigned long long)size);
	else if (size < pruned)
		cluster_refuse_pruned(c, size, pruned);
	else
		cluster_heartbeat(c, d, 1);	/* holds pruning back from now on */
	PQclear(res);
	return LS_OK;
}

/* Appends after cluster_close(): the log is a replica and must not write
 * its journal by itself. */
static ls_rc closed_sequencer(void *ctx, const struct iovec *entries, size_t n,
			      const uint8_t (*keys)[LOG_KEY_LEN], uint64_t *idx, struct ls_err *err)
{
	return ls_err_set(err, LS_BUSY, "the cluster connection is closed");
}

static void stop_threads(struct cluster *c)
{
	ssize_t w;

	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->work_cv);
	pthread_cond_broadcast(&c->stop_cv);
	pthread_cond_broadcast(&c->done_cv);
	pthread_mutex_unlock(&c->mu);
	w = write(c->wake[1], "x", 1);
	(void)w;
	if (c->threads_started & 1)
		pthread_join(c->seq_thread, NULL);
	if (c->threads_started & 2)
		pthread_join(c->fol_thread, NULL);
	if (c->threads_started & 4)
		pthread_join(c->integ_thread, NULL);
	c->threads_started = 0;
}

static void cluster_free(struct cluster *c)
{
	cdb_close(&c->seq_db);
	cdb_close(&c->fol_db);
	cdb_close(&c->integ_db);
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->integ_mu);
	pthread_cond_destroy(&c->work_cv);
	pthread_cond_destroy(&c->done_cv);
	pthread_cond_destroy(&c->stop_cv);
	free(c->conninfo);
	free(c->node);
	free(c);
}

ls_rc cluster_open(const struct cluster_opts *o, struct cluster **out, struct ls_err *err)
{
	struct cluster *c;
	pthread_condattr_t ca;
	ls_rc rc;

	*out = NULL;
	if (!o->conninfo || !o->log)
		return ls_err_set(err, LS_INVALID, "cluster: a connection string and a log are needed");
	c = calloc(1, sizeof(*c));
	if (!c)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	c->wake[0] = c->wake[1] = -1;
	c->o = *o;
	c->log = o->log;
	c->integrate_ms = o->integrate_ms ? o->integrate_ms : 500;
	c->batch_max = o->batch_max_entries ? o->batch_max_entries : 16384;
	c->liveness_ms = o->liveness_ms ? o->liveness_ms : 600000;
	c->idem_window_ms = o->idem_window_ms > 0 ? o->idem_window_ms : 0;
	c->conninfo = strdup(o->conninfo);
	c->node = strdup(o->node && o->node[0] ? o->node : "logseal");
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->integ_mu, NULL);
	pthread_cond_init(&c->work_cv, NULL);
	pthread_cond_init(&c->done_cv, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->stop_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (!c->conninfo || !c->node) {
		cluster_free(c);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		cluster_free(c);
		return ls_err_set(err, LS_IO, "pipe: %s", strerror(errno));
	}
	rc = cdb_connect(c, &c->seq_db, err);
	if (rc == LS_OK)
		rc = create_schema(c, err);
	if (rc != LS_OK) {
		char m[sizeof(err->msg)];

		snprintf(m, sizeof(m), "%s", err ? err->msg : "");
		cluster_free(c);
		return ls_err_set(err, rc, "cannot open the cluster database: %s", m);
	}
	if (pthread_create(&c->seq_thread, NULL, cluster_seq_main, c) == 0)
		c->threads_started |= 1;
	if (pthread_create(&c->fol_thread, NULL, cluster_follow_main, c) == 0)
		c->threads_started |= 2;
	if (pthread_create(&c->integ_thread, NULL, cluster_integ_main, c) == 0)
		c->threads_started |= 4;
	if (c->threads_started != 7) {
		stop_threads(c);
		cluster_free(c);
		return ls_err_set(err, LS_NOMEM, "cluster: cannot start its threads");
	}
	log_set_sequencer(c->log, cluster_sequence, c);
	cluster_notice(c, "cluster: node %s connected to %s", c->node, c->st.host);
	*out = c;
	return LS_OK;
}

void cluster_close(struct cluster *c)
{
	if (!c)
		return;
	log_set_sequencer(c->log, closed_sequencer, NULL);
	stop_threads(c);
	cluster_free(c);
}

void cluster_status(struct cluster *c, struct cluster_status *out)
{
	uint64_t size = log_size(c->log);

	pthread_mutex_lock(&c->mu);
	c->st.applied = size;
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
}

int cluster_may_upload(struct cluster *c, uint64_t size)
{
	int r;

	pthread_mutex_lock(&c->mu);
	r = !c->st.refused && c->st.integrator && size <= c->my_integrated;
	pthread_mutex_unlock(&c->mu);
	return r;
}

ls_rc cluster_publish(struct cluster *c, uint64_t size, ls_rc (*put)(void *ctx, struct ls_err *err),
		      void *ctx, struct ls_err *err)
{
	struct cdb *d = &c->integ_db;
	PGresult *res, *bad;
	uint64_t at;
	ls_rc rc;

	pthread_mutex_lock(&c->integ_mu);
	if (cluster_refused(c)) {
		rc = ls_err_set(err, LS_BUSY, "cluster: refusing to publish (see its status)");
		goto out;
	}
	rc = cdb_connect(c, d, err);
	if (rc != LS_OK)
		goto out;
	rc = cdb_cmd(d, "BEGIN", err);
	if (rc != LS_OK) {
		cdb_failed(c, d, NULL);
		goto out;
	}
	res = cdb_exec(d, "SELECT size FROM logseal.integ WHERE id = 1 FOR UPDATE", 0, NULL, NULL,
		       NULL, 0, &bad, err);
	if (!res || PQntuples(res) != 1) {
		cdb_failed(c, d, bad);
		PQclear(bad);
		PQclear(res);
		rc = LS_BUSY;
		goto out;
	}
	at = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (at != size) {
		PQclear(PQexec(d->pg, "ROLLBACK"));
		rc = ls_err_set(err, LS_BUSY, "the cluster database's integrated size is %llu, not "
				"%llu: not publishing that checkpoint", (unsigned long long)at,
				(unsigned long long)size);
		goto out;
	}
	rc = put(ctx, err);
	if (rc == LS_OK) {
		struct ls_err e2;

		/* The object is written: a failed commit only releases the lock. */
		if (cdb_cmd(d, "COMMIT", &e2) != LS_OK)
			cdb_failed(c, d, NULL);
	} else {
		PQclear(PQexec(d->pg, "ROLLBACK"));
	}
out:
	pthread_mutex_unlock(&c->integ_mu);
	return rc;
}
