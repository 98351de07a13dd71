/*
 * serve_cluster.c - the server's side of cluster mode (serve_cluster.h):
 * cluster_open() on the local replica, the uploader's gate (only the node
 * that integrated a size uploads its objects; log/checkpoint goes up under
 * the integration lock), and the cluster's state for /readyz,
 * /v1/integrity and /metrics.
 */
#include "server/serve_cluster.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "server/auth_cluster.h"
#include "store/cluster.h"

/* How long the integrator waits, once, for the uploader's first reading of
 * the bucket before it integrates without knowing what is published. */
#define FIRST_READ_WAIT_S 15

struct serve_cluster {
	struct cluster *c;
	struct auth_cluster *tokens; /* the shared token store */
	struct upload_gate gate;
	char node[256];
	/* the bucket's log/checkpoint as the uploader last read it; -1: none
	 * there, -2: not read yet; its root */
	_Atomic int64_t bucket_size;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t bucket_root[32];
	int has_store;		/* an object store is configured */
	int waited;		/* the integrator waited for the first reading */
};

static int gate_may_upload(void *ctx, uint64_t size)
{
	struct serve_cluster *sc = ctx;

	return cluster_may_upload(sc->c, size);
}

static ls_rc gate_publish(void *ctx, uint64_t size, ls_rc (*put)(void *pctx, struct ls_err *err),
			  void *pctx, struct ls_err *err)
{
	struct serve_cluster *sc = ctx;

	return cluster_publish(sc->c, size, put, pctx, err);
}

/* The uploader read the bucket's log/checkpoint (size -1: none there). */
static void gate_published(void *ctx, int64_t size, const char *note, size_t len)
{
	struct serve_cluster *sc = ctx;
	uint8_t root[32];
	size_t n = 0;
	const char *l2 = size >= 0 ? memchr(note, '\n', len) : NULL;
	const char *l3 = l2 ? memchr(l2 + 1, '\n', len - (size_t)(l2 + 1 - note)) : NULL;
	const char *e3 = l3 ? memchr(l3 + 1, '\n', len - (size_t)(l3 + 1 - note)) : NULL;

	if (size >= 0 && (!e3 || ls_b64_decode(l3 + 1, (size_t)(e3 - l3 - 1), root, sizeof(root),
						&n) != LS_OK || n != sizeof(root)))
		return;	/* not a checkpoint: as if not read */
	pthread_mutex_lock(&sc->mu);
	if (size >= 0)
		memcpy(sc->bucket_root, root, sizeof(root));
	atomic_store(&sc->bucket_size, size);
	pthread_cond_broadcast(&sc->cv);
	pthread_mutex_unlock(&sc->mu);
}

/* For the integrator (cluster_opts.published): 1 with the bucket's size and
 * root once the uploader has read a checkpoint there.  The first call waits
 * (bounded) for that first reading, so a node that starts on a restored
 * database does not integrate before it knows what was published. */
static int cluster_published(void *ctx, uint64_t *size, uint8_t root[32])
{
	struct serve_cluster *sc = ctx;
	int known;

	pthread_mutex_lock(&sc->mu);
	if (sc->has_store && !sc->waited) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FIRST_READ_WAIT_S;
		while (atomic_load(&sc->bucket_size) == -2 &&
		       pthread_cond_timedwait(&sc->cv, &sc->mu, &ts) == 0)
			;
		sc->waited = 1;
	}
	known = atomic_load(&sc->bucket_size) >= 0;
	if (known) {
		*size = (uint64_t)atomic_load(&sc->bucket_size);
		memcpy(root, sc->bucket_root, 32);
	}
	pthread_mutex_unlock(&sc->mu);
	return known;
}

void serve_cluster_node_name(const char *node, const char *listen, char *out, size_t cap)
{
	char host[200] = "";
	const char *port = listen ? strrchr(listen, ':') : NULL;

	if (node && *node) {
		snprintf(out, cap, "%s", node);
		return;
	}
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "logseal");
	snprintf(out, cap, "%s%s", host, port ? port : "");
}

ls_rc serve_cluster_open(const struct serve_cluster_args *a, struct serve_cluster **out,
			 struct ls_err *err)
{
	struct serve_cluster *sc;
	struct cluster_opts co;
	ls_rc rc;

	*out = NULL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	atomic_store(&sc->bucket_size, -2);
	pthread_mutex_init(&sc->mu, NULL);
	pthread_cond_init(&sc->cv, NULL);
	sc->has_store = a->object_store;
	serve_cluster_node_name(a->node, a->listen, sc->node, sizeof(sc->node));
	memset(&co, 0, sizeof(co));
	co.conninfo = a->conninfo;
	co.node = sc->node;
	co.log = a->log;
	co.notice = a->notice;
	co.notice_ctx = a->notice_ctx;
	co.published = cluster_published;
	co.published_ctx = sc;
	co.liveness_ms = a->liveness_s < 0 ? -1 : a->liveness_s * 1000;
	co.idem_window_ms = (int64_t)a->idem_window_s * 1000;
	rc = cluster_open(&co, &sc->c, err);
	if (rc != LS_OK) {
		pthread_cond_destroy(&sc->cv);
		pthread_mutex_destroy(&sc->mu);
		free(sc);
		return rc;
	}
	if (a->auth && a->dir) {
		rc = auth_cluster_open(a->auth, sc->c, a->dir, a->notice, a->notice_ctx, &sc->tokens,
				       err);
		if (rc != LS_OK) {
			cluster_close(sc->c);
			pthread_cond_destroy(&sc->cv);
			pthread_mutex_destroy(&sc->mu);
			free(sc);
			return rc;
		}
	}
	sc->gate.may_upload = gate_may_upload;
	sc->gate.publish = gate_publish;
	sc->gate.published = gate_published;
	sc->gate.ctx = sc;
	*out = sc;
	return LS_OK;
}

void serve_cluster_close(struct serve_cluster *sc)
{
	if (!sc)
		return;
	auth_cluster_close(sc->tokens);
	cluster_close(sc->c);
	pthread_cond_destroy(&sc->cv);
	pthread_mutex_destroy(&sc->mu);
	free(sc);
}

const struct upload_gate *serve_cluster_gate(struct serve_cluster *sc)
{
	return sc ? &sc->gate : NULL;
}

/* cluster_status, with the bucket's size when the module does not know it. */
static void status_of(struct serve_cluster *sc, struct cluster_status *st)
{
	int64_t b = atomic_load(&sc->bucket_size);

	memset(st, 0, sizeof(*st));
	cluster_status(sc->c, st);
	if (!st->published && b > 0)
		st->published = (uint64_t)b;
}

json_t *serve_cluster_json(struct serve_cluster *sc)
{
	struct cluster_status st;
	json_t *o;

	if (!sc)
		return json_null();
	status_of(sc, &st);
	o = json_pack("{s:s, s:b, s:b, s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, "
			 "s:I, s:I, s:I}",
			 "node", sc->node, "connected", st.connected, "integrator", st.integrator,
			 "refused", st.refused, "primary", st.host, "reason", st.reason,
			 "sequenced", (json_int_t)st.sequenced, "applied", (json_int_t)st.applied,
			 "integrated", (json_int_t)st.integrated, "published",
			 (json_int_t)st.published, "commits", (json_int_t)st.commits,
			 "commit_failures", (json_int_t)st.commit_failures, "cancelled_sync",
			 (json_int_t)st.cancelled_sync, "db_seconds", st.db_seconds, "pruned",
			 (json_int_t)st.pruned, "pruned_batches", (json_int_t)st.pruned_batches,
			 "pruned_keys", (json_int_t)st.pruned_keys);
	if (o && sc->tokens)
		json_object_set_new(o, "tokens", auth_cluster_json(sc->tokens));
	return o;
}

int serve_cluster_not_ready(struct serve_cluster *sc, char *why, size_t cap)
{
	struct cluster_status st;

	if (!sc)
		return 0;
	status_of(sc, &st);
	if (st.refused) {
		snprintf(why, cap, "cluster_refused: %s", st.reason);
		return 1;
	}
	if (!st.connected) {
		snprintf(why, cap, "cluster_unreachable: %s",
			 st.reason[0] ? st.reason : "no read-write primary reached");
		return 1;
	}
	return 0;
}

char *serve_cluster_metrics(struct serve_cluster *sc)
{
	struct cluster_status st;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!sc)
		return NULL;
	status_of(sc, &st);
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
#define G(name, help, type, fmt, v)                                                              \
	fprintf(f, "# HELP logseal_cluster_" name " " help "\n# TYPE logseal_cluster_" name " " type \
		   "\nlogseal_cluster_" name " " fmt "\n", v)
	G("connected", "1 when the last statement reached a read-write primary.", "gauge", "%d",
	  st.connected);
	G("integrator", "1 when this node integrated last.", "gauge", "%d", st.integrator);
	G("refused", "1 while the node refuses to follow or integrate (see /readyz).", "gauge",
	  "%d", st.refused);
	G("sequenced_entries", "Entries the database has sequenced (logseal.seq.next).", "gauge",
	  "%llu", (unsigned long long)st.sequenced);
	G("applied_entries", "Entries in this node's replica of the log.", "gauge", "%llu",
	  (unsigned long long)st.applied);
	G("integrated_size", "Tree size the database records as integrated.", "gauge", "%llu",
	  (unsigned long long)st.integrated);
	G("published_size", "Size of the checkpoint published in the object store.", "gauge",
	  "%llu", (unsigned long long)st.published);
	G("commits_total", "Sequencing transactions committed by this node.", "counter", "%llu",
	  (unsigned long long)st.commits);
	G("commit_failures_total", "Sequencing transactions that failed (answered 503).",
	  "counter", "%llu", (unsigned long long)st.commit_failures);
	G("cancelled_sync_total",
	  "Commits whose wait for the synchronous standby was cancelled (not acknowledged).",
	  "counter", "%llu", (unsigned long long)st.cancelled_sync);
	G("db_seconds_total", "Time spent in sequencing transactions.", "counter", "%.6f",
	  st.db_seconds);
	G("pruned_batches_total", "Batch rows this node deleted from logseal.batch (pruning).",
	  "counter", "%llu", (unsigned long long)st.pruned_batches);
	G("pruned_keys_total", "Idempotency keys this node deleted from logseal.idem (pruning).",
	  "counter", "%llu", (unsigned long long)st.pruned_keys);
	G("pruned_below", "Leaf below which the database's batches are deleted.", "gauge", "%llu",
	  (unsigned long long)st.pruned);
	G("held_entries", "Entries whose batches the database holds (sequenced - pruned).",
	  "gauge", "%llu",
	  (unsigned long long)(st.sequenced > st.pruned ? st.sequenced - st.pruned : 0));
#undef G
	auth_cluster_metrics(sc->tokens, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
