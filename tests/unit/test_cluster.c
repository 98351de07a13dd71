/*
 * test_cluster - the cluster module (store/cluster.h) against a real
 * PostgreSQL: LOGSEAL_TEST_PG is a libpq connection string to a database
 * the test may wipe (it drops and recreates the schema "logseal"); unset,
 * every test is skipped (TAP "# SKIP").  tests/run.sh starts the engine
 * (tests/engines/pgha.sh) for it.
 *
 * Two nodes are two struct log in two directories made from one
 * (log_init, then copied: the same keys and origin), each with its own
 * cluster_open():
 *  - appends through both nodes at once get disjoint, gap-free indexes,
 *    and both replicas end with the same entries at the same indexes and
 *    the same signed checkpoint (same root at the same size);
 *  - a keyed batch retried through the other node gets the same indexes
 *    and appends nothing;
 *  - exactly one node integrates: logseal.integ holds its checkpoint's
 *    size and root, cluster_may_upload() and cluster_publish() say yes to
 *    it only, and only for that size;
 *  - the database reset to an older state under a running node: its
 *    follower refuses, with the sizes in the reason, and appends fail
 *    with LS_BUSY; reopening refuses too;
 *  - a database of another origin is refused;
 *  - an object store published past the database's integrated size makes
 *    integration refuse, naming both sizes;
 *  - pruning (cluster_prune.c): batches below what both nodes applied and
 *    the integrated size are deleted and logseal.integ.pruned says where;
 *    a keyed retry inside the idempotency window still gets its first leaf
 *    after its batch was pruned, and the key is deleted once the window
 *    passed; a stopped node holds pruning back while it is seen, not after
 *    the liveness window, and then, reopened, refuses with the re-seed
 *    message;
 *  - a database made by the previous version (no logseal.node, no
 *    idem.at, no integ.pruned) gains them at the first start, its keys
 *    still answer, and a second start changes nothing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "store/cluster.h"
#include "store/journal.h"
#include "store/log.h"

#define ORIGIN "test.example/cluster"

static const char *pg_env(void)
{
	const char *s = getenv("LOGSEAL_TEST_PG");

	return s && *s ? s : NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void quiet(void *arg, const char *msg)
{
}

/* Run SQL on the test database; the first value of the first row (static
 * buffer) when it returns rows. */
static const char *sql(const char *q)
{
	static char out[512];
	PGconn *pg = PQconnectdb(pg_env());
	PGresult *res;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	PQsetNoticeProcessor(pg, quiet, NULL);
	res = PQexec(pg, q);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(res));
	out[0] = 0;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		snprintf(out, sizeof(out), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
	return out;
}

static void on_notice(void *ctx, const char *msg)
{
	fprintf(stderr, "# %s: %s\n", (const char *)ctx, msg);
}

struct node {
	char dir[160];
	const char *name;
	struct log *log;
	struct cluster *c;
	/* what the published callback answers */
	int pub_known;
	uint64_t pub_size;
	uint8_t pub_root[32];
};

static int published(void *ctx, uint64_t *size, uint8_t root[32])
{
	struct node *n = ctx;

	*size = n->pub_size;
	memcpy(root, n->pub_root, 32);
	return n->pub_known;
}

static void node_open_log(struct node *n)
{
	struct log_opts lo = { 0 };
	struct ls_err err = { "" };

	lo.dir = n->dir;
	lo.checkpoint_interval_ms = 50;
	assert_int_equal(log_open(&lo, &n->log, NULL, &err), LS_OK);
}

/* Pruning settings of the nodes opened next (0: the module's defaults). */
static int64_t g_liveness_ms, g_idem_ms;

static ls_rc node_cluster(struct node *n, struct ls_err *err)
{
	struct cluster_opts o = { 0 };

	o.liveness_ms = g_liveness_ms;
	o.idem_window_ms = g_idem_ms;
	o.conninfo = pg_env();
	o.node = n->name;
	o.log = n->log;
	o.integrate_ms = 100;
	o.notice = on_notice;
	o.notice_ctx = (void *)n->name;
	o.published = published;
	o.published_ctx = n;
	return cluster_open(&o, &n->c, err);
}

/* A fresh schema and two nodes of one log (b copied from a). */
static void two_nodes(char *root, struct node *a, struct node *b)
{
	char cmd[400];
	struct ls_err err = { "" };

	sql("DROP SCHEMA IF EXISTS logseal CASCADE");
	assert_non_null(mkdtemp(root));
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->name = "node-a";
	b->name = "node-b";
	snprintf(a->dir, sizeof(a->dir), "%s/a", root);
	snprintf(b->dir, sizeof(b->dir), "%s/b", root);
	assert_int_equal(log_init(a->dir, ORIGIN, &err), LS_OK);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", a->dir, b->dir);
	assert_int_equal(system(cmd), 0);
	node_open_log(a);
	node_open_log(b);
	assert_int_equal(node_cluster(a, &err), LS_OK);
	assert_int_equal(node_cluster(b, &err), LS_OK);
}

static void node_close(struct node *n)
{
	struct ls_err err = { "" };

	cluster_close(n->c);
	n->c = NULL;
	log_set_sequencer(n->log, NULL, NULL);
	assert_int_equal(log_close(n->log, &err), LS_OK);
	n->log = NULL;
}

static void rm_rf(const char *root)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

/* Wait until the node's replica holds size entries (10 s at most). */
static void wait_size(struct node *n, uint64_t size)
{
	for (int i = 0; i < 1000 && log_size(n->log) < size; i++)
		sleep_ms(10);
	assert_int_equal(log_size(n->log), size);
}

/* Wait until the latest checkpoint covers size; its note (malloc'd). */
static char *wait_checkpoint(struct node *n, uint64_t size)
{
	char *note = NULL;
	uint64_t s = 0;

	for (int i = 0; i < 1000; i++) {
		free(note);
		note = NULL;
		assert_int_equal(log_latest_checkpoint(n->log, &note, &s), LS_OK);
		if (s >= size)
			break;
		sleep_ms(10);
	}
	assert_int_equal(s, size);
	return note;
}

#define WRITERS 4
#define BATCHES 40
#define PER 3
#define TOTAL (WRITERS * BATCHES * PER)

struct writer {
	struct node *n;
	int w;
	uint64_t first[BATCHES];
};

static void entry_text(char *buf, size_t cap, int w, int b, int e)
{
	snprintf(buf, cap, "{\"writer\":%d,\"batch\":%d,\"entry\":%d}", w, b, e);
}

static void *write_main(void *arg)
{
	struct writer *wr = arg;

	for (int b = 0; b < BATCHES; b++) {
		char text[PER][80];
		struct iovec iov[PER];
		struct ls_err err = { "" };
		ls_rc rc;

		for (int e = 0; e < PER; e++) {
			entry_text(text[e], sizeof(text[e]), wr->w, b, e);
			iov[e].iov_base = text[e];
			iov[e].iov_len = strlen(text[e]);
		}
		rc = log_append(wr->n->log, iov, PER, &wr->first[b], &err);
		if (rc != LS_OK) {
			fprintf(stderr, "# append: %s\n", err.msg);
			wr->first[b] = UINT64_MAX;
		}
	}
	return NULL;
}

/* Every journal entry of dir against the text written at that index. */
static void check_replica(const char *dir, char **want)
{
	char jdir[256];
	struct journal_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t index, got = 0;
	struct ls_err err = { "" };
	ls_rc rc;

	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	assert_int_equal(journal_iter_open(jdir, 0, &it, &err), LS_OK);
	while ((rc = journal_iter_next(it, &data, &len, &index, &err)) == LS_OK) {
		assert_int_equal(index, got);
		assert_true(got < TOTAL);
		assert_non_null(want[got]);
		assert_int_equal(len, strlen(want[got]));
		assert_memory_equal(data, want[got], len);
		got++;
	}
	assert_int_equal(rc, LS_NOTFOUND);
	assert_int_equal(got, TOTAL);
	journal_iter_free(it);
}

static ls_rc count_put(void *ctx, struct ls_err *e)
{
	(*(int *)ctx)++;
	return LS_OK;
}

static void test_two_nodes(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX";
	struct node a, b;
	struct writer wr[WRITERS];
	pthread_t th[WRITERS];
	char *want[TOTAL] = { 0 }, *na, *nb;
	struct cluster_status sa, sb;
	struct timespec t0, t1;
	double secs;
	uint64_t isz;

	if (!pg_env())
		skip();
	two_nodes(root, &a, &b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int w = 0; w < WRITERS; w++) {
		wr[w].n = w % 2 ? &b : &a;
		wr[w].w = w;
		assert_int_equal(pthread_create(&th[w], NULL, write_main, &wr[w]), 0);
	}
	for (int w = 0; w < WRITERS; w++)
		pthread_join(th[w], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* disjoint and gap-free: every index taken exactly once */
	for (int w = 0; w < WRITERS; w++)
		for (int bt = 0; bt < BATCHES; bt++) {
			assert_true(wr[w].first[bt] <= TOTAL - PER);
			for (int e = 0; e < PER; e++) {
				char text[80];

				entry_text(text, sizeof(text), w, bt, e);
				assert_null(want[wr[w].first[bt] + (uint64_t)e]);
				want[wr[w].first[bt] + (uint64_t)e] = strdup(text);
			}
		}
	for (int i = 0; i < TOTAL; i++)
		assert_non_null(want[i]);
	assert_int_equal(strtoull(sql("SELECT next FROM logseal.seq"), NULL, 10), TOTAL);
	/* both replicas: everything, and the same signed tree */
	wait_size(&a, TOTAL);
	wait_size(&b, TOTAL);
	na = wait_checkpoint(&a, TOTAL);
	nb = wait_checkpoint(&b, TOTAL);
	assert_string_equal(na, nb);

	/* one integrator; the database has its size and root */
	for (int i = 0; i < 300; i++) {
		cluster_status(a.c, &sa);
		cluster_status(b.c, &sb);
		if (sa.integrated == TOTAL && sb.integrated == TOTAL && sa.integrator + sb.integrator == 1)
			break;
		sleep_ms(20);
	}
	assert_int_equal(sa.refused + sb.refused, 0);
	assert_int_equal(sa.integrator + sb.integrator, 1);
	printf("# two nodes, %d writers: %d batches of %d entries in %.2f s (%.0f batches/s); "
	       "%llu database commits, %.2f s in them\n", WRITERS, WRITERS * BATCHES, PER, secs,
	       WRITERS * BATCHES / secs, (unsigned long long)(sa.commits + sb.commits),
	       sa.db_seconds + sb.db_seconds);
	assert_int_equal(sa.applied, TOTAL);
	assert_int_equal(sb.sequenced, TOTAL);
	assert_true(sa.commits + sb.commits >= 1);
	isz = strtoull(sql("SELECT size FROM logseal.integ"), NULL, 10);
	assert_int_equal(isz, TOTAL);
	assert_string_equal(sql("SELECT checkpoint FROM logseal.integ"), na);
	{
		struct node *in = sa.integrator ? &a : &b, *out = sa.integrator ? &b : &a;
		struct ls_err err = { "" };
		int puts = 0;

		assert_string_equal(sql("SELECT node FROM logseal.integ"), in->name);
		assert_int_equal(cluster_may_upload(in->c, TOTAL), 1);
		assert_int_equal(cluster_may_upload(out->c, TOTAL), 0);
		assert_int_equal(cluster_publish(in->c, TOTAL, count_put, &puts, &err), LS_OK);
		assert_int_equal(puts, 1);
		assert_int_equal(cluster_publish(in->c, TOTAL - 1, count_put, &puts, &err), LS_BUSY);
		assert_non_null(strstr(err.msg, "integrated size is 480"));
		assert_int_equal(puts, 1);
	}
	free(na);
	free(nb);
	node_close(&a);
	node_close(&b);
	check_replica(a.dir, want);
	check_replica(b.dir, want);
	for (int i = 0; i < TOTAL; i++)
		free(want[i]);
	rm_rf(root);
}

static void test_keyed_retry(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX";
	struct node a, b;
	char text[4][40];
	struct iovec iov[4];
	uint8_t keys[4][LOG_KEY_LEN];
	uint64_t ia[4], ib[4], first;
	struct ls_err err = { "" };

	if (!pg_env())
		skip();
	two_nodes(root, &a, &b);
	/* something before, so that indexes are not 0.. */
	snprintf(text[0], sizeof(text[0]), "{\"pre\":1}");
	iov[0].iov_base = text[0];
	iov[0].iov_len = strlen(text[0]);
	assert_int_equal(log_append(b.log, iov, 1, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	memset(keys, 0, sizeof(keys));
	for (int i = 0; i < 4; i++) {
		snprintf(text[i], sizeof(text[i]), "{\"keyed\":%d}", i);
		iov[i].iov_base = text[i];
		iov[i].iov_len = strlen(text[i]);
		if (i != 2)
			memset(keys[i], 'k' + i, LOG_KEY_LEN);
	}
	memcpy(keys[3], keys[0], LOG_KEY_LEN);	/* a repeat inside the batch */
	assert_int_equal(log_append_keyed(a.log, iov, 4, (const uint8_t (*)[LOG_KEY_LEN])keys, ia,
					  &err), LS_OK);
	assert_int_equal(ia[0], 1);
	assert_int_equal(ia[1], 2);
	assert_int_equal(ia[2], 3);
	assert_int_equal(ia[3], 1);
	/* the client retries through the other node after a failover */
	assert_int_equal(log_append_keyed(b.log, iov, 2, (const uint8_t (*)[LOG_KEY_LEN])keys, ib,
					  &err), LS_OK);
	assert_int_equal(ib[0], 1);
	assert_int_equal(ib[1], 2);
	assert_string_equal(sql("SELECT next FROM logseal.seq"), "4");
	assert_string_equal(sql("SELECT count(*) FROM logseal.idem"), "2");
	wait_size(&a, 4);
	wait_size(&b, 4);
	sleep_ms(200);
	assert_int_equal(log_size(a.log), 4);
	assert_int_equal(log_size(b.log), 4);
	node_close(&a);
	node_close(&b);
	rm_rf(root);
}

static void test_older_database(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX";
	struct node a, b;
	struct iovec iov;
	char text[40];
	uint64_t first;
	struct cluster_status st;
	struct ls_err err = { "" };

	if (!pg_env())
		skip();
	two_nodes(root, &a, &b);
	for (int i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "{\"i\":%d}", i);
		iov.iov_base = text;
		iov.iov_len = strlen(text);
		assert_int_equal(log_append(a.log, &iov, 1, &first, &err), LS_OK);
		assert_int_equal(first, (uint64_t)i);
	}
	wait_size(&b, 6);
	/* a restore from a copy taken at 4 entries */
	sql("BEGIN; DELETE FROM logseal.batch WHERE first >= 4; "
	    "UPDATE logseal.seq SET next = 4; COMMIT");
	for (int i = 0; i < 300; i++) {
		cluster_status(b.c, &st);
		if (st.refused)
			break;
		sleep_ms(20);
	}
	assert_int_equal(st.refused, 1);
	assert_non_null(strstr(st.reason, "holds 4 entries"));
	assert_non_null(strstr(st.reason, "(6)"));
	/* the refused node sequences nothing more */
	assert_int_equal(log_append(b.log, &iov, 1, &first, &err), LS_BUSY);
	assert_non_null(strstr(err.msg, "refusing"));
	assert_string_equal(sql("SELECT next FROM logseal.seq"), "4");
	assert_int_equal(log_size(b.log), 6);
	/* and a node opened on it refuses at once */
	cluster_close(b.c);
	b.c = NULL;
	assert_int_equal(node_cluster(&b, &err), LS_OK);
	cluster_status(b.c, &st);
	assert_int_equal(st.refused, 1);
	assert_non_null(strstr(st.reason, "fewer than this node's replica"));
	node_close(&a);
	node_close(&b);
	rm_rf(root);
}

/* Wait (at most ms) until SQL q answers want. */
static void wait_sql(const char *q, const char *want, int ms)
{
	for (int i = 0; i < ms / 50 && strcmp(sql(q), want); i++)
		sleep_ms(50);
	assert_string_equal(sql(q), want);
}

static void test_prune(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX", text[40];
	struct node a, b;
	struct iovec iov;
	uint8_t key[1][LOG_KEY_LEN];
	uint64_t first, idx;
	struct cluster_status sa, sb;
	struct ls_err err = { "" };

	if (!pg_env())
		skip();
	g_liveness_ms = 6000;
	g_idem_ms = 8000;
	two_nodes(root, &a, &b);
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "{\"p\":%d}", i);
		iov.iov_base = text;
		iov.iov_len = strlen(text);
		assert_int_equal(log_append(i % 2 ? b.log : a.log, &iov, 1, &first, &err), LS_OK);
		assert_int_equal(first, (uint64_t)i);
	}
	wait_size(&a, 10);
	wait_size(&b, 10);
	/* integrated and applied by both: every batch goes */
	wait_sql("SELECT pruned FROM logseal.integ", "10", 10000);
	assert_string_equal(sql("SELECT count(*) FROM logseal.batch"), "0");
	cluster_status(a.c, &sa);
	cluster_status(b.c, &sb);
	assert_int_equal(sa.pruned_batches + sb.pruned_batches, 10);
	/* a keyed entry, its batch pruned, retried inside the window */
	memset(key, 'q', sizeof(key));
	snprintf(text, sizeof(text), "{\"keyed\":1}");
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	assert_int_equal(log_append_keyed(a.log, &iov, 1, (const uint8_t (*)[LOG_KEY_LEN])key, &idx,
					  &err), LS_OK);
	assert_int_equal(idx, 10);
	wait_size(&b, 11);
	wait_sql("SELECT pruned FROM logseal.integ", "11", 10000);
	assert_int_equal(log_append_keyed(b.log, &iov, 1, (const uint8_t (*)[LOG_KEY_LEN])key, &idx,
					  &err), LS_OK);
	assert_int_equal(idx, 10);
	assert_string_equal(sql("SELECT next FROM logseal.seq"), "11");
	/* past the window the key is deleted */
	wait_sql("SELECT count(*) FROM logseal.idem", "0", 20000);
	cluster_status(a.c, &sa);
	cluster_status(b.c, &sb);
	assert_int_equal(sa.pruned_keys + sb.pruned_keys, 1);
	/* node b stops at 11 (once logseal.node says so) */
	wait_sql("SELECT applied FROM logseal.node WHERE name = 'node-b'", "11", 5000);
	node_close(&b);
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "{\"late\":%d}", i);
		iov.iov_base = text;
		iov.iov_len = strlen(text);
		assert_int_equal(log_append(a.log, &iov, 1, &first, &err), LS_OK);
	}
	free(wait_checkpoint(&a, 16));
	sleep_ms(1500);
	/* b is still seen: nothing past its 11 entries goes */
	assert_string_equal(sql("SELECT pruned FROM logseal.integ"), "11");
	assert_string_equal(sql("SELECT count(*) FROM logseal.batch"), "5");
	/* b not seen for the liveness window: pruning goes past it */
	wait_sql("SELECT pruned FROM logseal.integ", "16", 15000);
	assert_string_equal(sql("SELECT count(*) FROM logseal.batch"), "0");
	/* b comes back: it refuses, saying it must be re-seeded */
	node_open_log(&b);
	assert_int_equal(node_cluster(&b, &err), LS_OK);
	cluster_status(b.c, &sb);
	assert_int_equal(sb.refused, 1);
	assert_non_null(strstr(sb.reason, "holds 11 entries"));
	assert_non_null(strstr(sb.reason, "below leaf 16"));
	assert_non_null(strstr(sb.reason, "re-seed it from another node's data directory"));
	assert_int_equal(log_append(b.log, &iov, 1, &first, &err), LS_BUSY);
	assert_int_equal(log_size(b.log), 11);
	assert_string_equal(sql("SELECT applied FROM logseal.node WHERE name = 'node-b'"), "11");
	g_liveness_ms = g_idem_ms = 0;
	node_close(&a);
	node_close(&b);
	rm_rf(root);
}

static void test_upgrade(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX", text[40];
	struct node a;
	struct iovec iov;
	uint8_t key[2][LOG_KEY_LEN];
	uint64_t idx[2];
	struct cluster_status st;
	struct ls_err err = { "" };

	if (!pg_env())
		skip();
	/* the previous version's schema, one entry and its key */
	sql("DROP SCHEMA IF EXISTS logseal CASCADE");
	sql("CREATE SCHEMA logseal; "
	    "CREATE TABLE logseal.seq (id int PRIMARY KEY CHECK (id = 1), next bigint NOT NULL, "
	    "origin text NOT NULL); "
	    "CREATE TABLE logseal.batch (first bigint PRIMARY KEY, n int NOT NULL, "
	    "data bytea NOT NULL); "
	    "CREATE TABLE logseal.idem (key bytea PRIMARY KEY, leaf bigint NOT NULL); "
	    "CREATE TABLE logseal.integ (id int PRIMARY KEY CHECK (id = 1), size bigint, "
	    "root bytea, checkpoint text, node text, at timestamptz); "
	    "INSERT INTO logseal.integ (id, size) VALUES (1, 0); "
	    "INSERT INTO logseal.seq VALUES (1, 1, '" ORIGIN "'); "
	    "INSERT INTO logseal.batch VALUES (0, 1, '\\x000000077b2275223a317d'); "
	    "INSERT INTO logseal.idem VALUES (decode(repeat('75', 16), 'hex'), 0)");
	assert_non_null(mkdtemp(root));
	memset(&a, 0, sizeof(a));
	a.name = "node-a";
	snprintf(a.dir, sizeof(a.dir), "%s/a", root);
	assert_int_equal(log_init(a.dir, ORIGIN, &err), LS_OK);
	node_open_log(&a);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(node_cluster(&a, &err), LS_OK);
		cluster_status(a.c, &st);
		assert_int_equal(st.refused, 0);
		assert_string_equal(sql("SELECT count(*) FROM information_schema.columns WHERE "
					"table_schema = 'logseal' AND ((table_name = 'idem' AND "
					"column_name = 'at') OR (table_name = 'integ' AND "
					"column_name = 'pruned'))"), "2");
		assert_string_equal(sql("SELECT to_regclass('logseal.idem_at') IS NOT NULL"), "t");
		assert_string_equal(sql("SELECT count(*) FROM logseal.idem WHERE at IS NULL"), "0");
		/* (the node may have pruned its own batches already) */
		assert_string_equal(sql("SELECT pruned <= 2 FROM logseal.integ"), "t");
		assert_string_equal(sql("SELECT count(*) FROM logseal.node WHERE name = 'node-a'"),
				    "1");
		wait_size(&a, 1 + (uint64_t)round);
		if (round == 0) {
			/* the old key answers; a new one is appended with its time */
			memset(key[0], 'u', LOG_KEY_LEN);
			memset(key[1], 'v', LOG_KEY_LEN);
			snprintf(text, sizeof(text), "{\"u\":1}");
			iov.iov_base = text;
			iov.iov_len = strlen(text);
			{
				struct iovec two[2] = { iov, iov };

				assert_int_equal(log_append_keyed(a.log, two, 2,
								  (const uint8_t (*)[LOG_KEY_LEN])key,
								  idx, &err), LS_OK);
			}
			assert_int_equal(idx[0], 0);
			assert_int_equal(idx[1], 1);
			assert_string_equal(sql("SELECT count(*) FROM logseal.idem WHERE at > now() - "
						"interval '1 minute'"), "2");
		}
		cluster_close(a.c);
		a.c = NULL;
		log_set_sequencer(a.log, NULL, NULL);
	}
	assert_int_equal(log_close(a.log, &err), LS_OK);
	rm_rf(root);
}

static void test_wrong_origin(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX";
	struct node a, b;
	struct cluster_status st;
	struct iovec iov = { "{\"x\":1}", 7 };
	uint64_t first;
	struct ls_err err = { "" };

	if (!pg_env())
		skip();
	two_nodes(root, &a, &b);
	cluster_close(b.c);
	b.c = NULL;
	sql("UPDATE logseal.seq SET origin = 'other.example/log'");
	assert_int_equal(node_cluster(&b, &err), LS_OK);
	cluster_status(b.c, &st);
	assert_int_equal(st.refused, 1);
	assert_non_null(strstr(st.reason, "other.example/log"));
	assert_non_null(strstr(st.reason, ORIGIN));
	assert_int_equal(log_append(b.log, &iov, 1, &first, &err), LS_BUSY);
	/* the running node finds out at its next commit or poll */
	assert_int_equal(log_append(a.log, &iov, 1, &first, &err), LS_BUSY);
	cluster_status(a.c, &st);
	assert_int_equal(st.refused, 1);
	assert_string_equal(sql("SELECT next FROM logseal.seq"), "0");
	assert_int_equal(log_size(a.log), 0);
	node_close(&a);
	node_close(&b);
	rm_rf(root);
}

static void test_published_ahead(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX";
	struct node a, b;
	struct cluster_status st;
	struct iovec iov = { "{\"x\":1}", 7 };
	uint64_t first;
	struct ls_err err = { "" };

	if (!pg_env())
		skip();
	two_nodes(root, &a, &b);
	assert_int_equal(log_append(a.log, &iov, 1, &first, &err), LS_OK);
	free(wait_checkpoint(&a, 1));
	for (int i = 0; i < 300 && strcmp(sql("SELECT size FROM logseal.integ"), "1"); i++)
		sleep_ms(20);
	assert_string_equal(sql("SELECT size FROM logseal.integ"), "1");
	/* the object store says 7: the database was restored from a copy
	 * older than what was published */
	a.pub_size = b.pub_size = 7;
	a.pub_known = b.pub_known = 1;
	for (int i = 0; i < 300; i++) {
		cluster_status(a.c, &st);
		if (st.refused)
			break;
		sleep_ms(20);
	}
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.published, 7);
	assert_non_null(strstr(st.reason, "size 7"));
	assert_non_null(strstr(st.reason, "only to size 1"));
	assert_int_equal(cluster_may_upload(a.c, 1), 0);
	assert_int_equal(log_append(a.log, &iov, 1, &first, &err), LS_BUSY);
	node_close(&a);
	node_close(&b);
	rm_rf(root);
}

/* Only when LOGSEAL_TEST_PG_SETTINGS=1 (the test may change the server's
 * settings: a server of its own): synchronous_standby_names names a
 * standby that does not exist, so COMMIT waits until statement_timeout
 * cancels the wait; the batch must fail (LS_BUSY), and its retry with the
 * same keys, once replication works again, gets the same index. */
static void test_sync_cancelled(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX";
	const char *set = getenv("LOGSEAL_TEST_PG_SETTINGS");
	struct node a, b;
	struct cluster_status st;
	struct iovec iov = { "{\"x\":1}", 7 };
	uint8_t key[1][LOG_KEY_LEN];
	uint64_t idx[1];
	struct ls_err err = { "" };
	ls_rc rc;

	if (!pg_env() || !set || strcmp(set, "1"))
		skip();
	two_nodes(root, &a, &b);
	memset(key, 's', sizeof(key));
	sql("ALTER SYSTEM SET synchronous_standby_names = 'logseal_absent_standby'");
	sql("SELECT pg_reload_conf()");
	sleep_ms(300);
	rc = log_append_keyed(a.log, &iov, 1, (const uint8_t (*)[LOG_KEY_LEN])key, idx, &err);
	sql("ALTER SYSTEM RESET synchronous_standby_names");
	sql("SELECT pg_reload_conf()");
	assert_int_equal(rc, LS_BUSY);
	assert_non_null(strstr(err.msg, "synchronous replication"));
	cluster_status(a.c, &st);
	assert_int_equal(st.cancelled_sync, 1);
	assert_int_equal(st.commit_failures, 1);
	sleep_ms(300);
	assert_int_equal(log_append_keyed(b.log, &iov, 1, (const uint8_t (*)[LOG_KEY_LEN])key, idx,
					  &err), LS_OK);
	assert_int_equal(idx[0], 0);
	assert_string_equal(sql("SELECT next FROM logseal.seq"), "1");
	node_close(&a);
	node_close(&b);
	rm_rf(root);
}

static void test_unreachable(void **state)
{
	char root[] = "/tmp/test_cluster.XXXXXX", dir[160];
	struct node n;
	struct cluster_opts o = { 0 };
	struct ls_err err = { "" };

	assert_non_null(mkdtemp(root));
	memset(&n, 0, sizeof(n));
	snprintf(n.dir, sizeof(n.dir), "%s/n", root);
	snprintf(dir, sizeof(dir), "%s", n.dir);
	assert_int_equal(log_init(dir, ORIGIN, &err), LS_OK);
	node_open_log(&n);
	/* nothing listens on port 1 */
	o.conninfo = "host=127.0.0.1 port=1 dbname=x connect_timeout=2";
	o.log = n.log;
	assert_int_equal(cluster_open(&o, &n.c, &err), LS_BUSY);
	assert_null(n.c);
	assert_non_null(strstr(err.msg, "cannot open the cluster database"));
	assert_int_equal(log_close(n.log, &err), LS_OK);
	rm_rf(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_two_nodes),
		cmocka_unit_test(test_keyed_retry),
		cmocka_unit_test(test_older_database),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_wrong_origin),
		cmocka_unit_test(test_published_ahead),
		cmocka_unit_test(test_sync_cancelled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
