/*
 * serve_cluster.h - `logseal serve --cluster CONNINFO`: the server's side of
 * cluster mode (store/cluster.h, docs/CLUSTER.md).  Opens the cluster on
 * the server's local replica of the log, gates the object store's uploader
 * (followers/upload.h upload_gate) so only the integrating node writes the
 * bucket, and says the cluster's state in /readyz, /v1/integrity ("cluster"
 * object) and /metrics (logseal_cluster_*).
 */
#ifndef LS_SERVE_CLUSTER_H
#define LS_SERVE_CLUSTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "server/auth.h"
#include "followers/upload.h"
#include "store/log.h"

struct serve_cluster_args {
	const char *conninfo;	/* libpq connection string or URI */
	const char *node;	/* NULL: HOSTNAME:PORT of listen */
	const char *listen;	/* the serve --listen, for the default name */
	struct log *log;	/* the local replica, open */
	int object_store;	/* an object store is configured (the uploader
				 * tells what it publishes) */
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
	int64_t liveness_s;	/* cluster_opts.liveness_ms in s (0: default, < 0: off) */
	uint64_t idem_window_s;	/* serve --idem-window: old keys are pruned (0: never) */
	struct auth *auth;	/* shared through the database (auth_cluster.h) */
	const char *dir;	/* the data directory (the rows' sealing key) */
};
struct serve_cluster;

/* The node's name: node, else HOSTNAME:PORT of listen. */
void serve_cluster_node_name(const char *node, const char *listen, char *out, size_t cap);
/* Connect (cluster_open); err names the database when it cannot. */
ls_rc serve_cluster_open(const struct serve_cluster_args *a, struct serve_cluster **out,
			 struct ls_err *err);
/* Stop the cluster's threads and unhook the log; before log_close, after
 * the last append.  NULL is a no-op. */
void serve_cluster_close(struct serve_cluster *sc);
/* For serve_upload_open(): only the integrating node uploads. */
const struct upload_gate *serve_cluster_gate(struct serve_cluster *sc);
/* The "cluster" object of /readyz and /v1/integrity (new reference). */
json_t *serve_cluster_json(struct serve_cluster *sc);
/* 1 when this node should get no traffic (a refusal, or no read-write
 * primary reached), with why ("cluster_refused: ...", "cluster_unreachable:
 * ..."). */
int serve_cluster_not_ready(struct serve_cluster *sc, char *why, size_t cap);
/* The logseal_cluster_* metric families, Prometheus text (malloc'd). */
char *serve_cluster_metrics(struct serve_cluster *sc);

#endif
