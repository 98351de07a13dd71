/*
 * auth_cluster.h - the token store in cluster mode: the node's struct auth
 * (server/auth.h) backed by the cluster database's shared token table
 * (store/cluster_tokens.h), so a token created or revoked through any node
 * holds on every node (docs/CLUSTER.md, "Tokens").
 *
 * At open: when the table is empty the node's tokens.json is imported (the
 * initial admin of `logseal init`, so its admin.token works everywhere);
 * then the table is loaded into the struct auth (tokens.json is rewritten
 * as the node's cache).  From then on create and revoke go to the database
 * (auth_set_remote), and every load replaces the node's table.  A row whose
 * seal does not verify (or whose body is not its id's) is left out, named
 * once in the log output and listed by auth_cluster_json() (/readyz's
 * cluster.tokens) and the metric logseal_cluster_token_rows_unsealed.
 */
#ifndef LS_AUTH_CLUSTER_H
#define LS_AUTH_CLUSTER_H

#include <jansson.h>
#include <stdio.h>

#include "base/ls.h"
#include "server/auth.h"

struct cluster;
struct auth_cluster;

ls_rc auth_cluster_open(struct auth *a, struct cluster *c, const char *dir,
			void (*notice)(void *ctx, const char *msg), void *notice_ctx,
			struct auth_cluster **out, struct ls_err *err);
/* Back to the file alone (auth_set_remote NULL), stop the listener.  NULL
 * is a no-op.  Before cluster_close. */
void auth_cluster_close(struct auth_cluster *ac);

/* {"rows", "unsealed", "unsealed_ids", "loads", "last_load_ms_ago",
 * "imported"} (new reference). */
json_t *auth_cluster_json(struct auth_cluster *ac);
/* The logseal_cluster_token_* metric families, to f. */
void auth_cluster_metrics(struct auth_cluster *ac, FILE *f);

#endif
