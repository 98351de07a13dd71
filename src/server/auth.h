/*
 * auth.h - the token store: bearer tokens, their roles and the durable
 * file DIR/tokens.json that holds them.
 *
 * A token is "lsk_" followed by 64 hex digits (256 random bits).  It is shown
 * once, when created; the store keeps only SHA-256 of the whole secret text,
 * so neither the file nor the server's memory after creation can give a
 * secret back.  Each token has a public id ("tok_" + 16 hex) that is what
 * the log names as the actor or writer.
 *
 * tokens.json (mode 0600, replaced durably on every change):
 *	{"version":1,"tokens":[{"id":"tok_...","sha256":"<64 hex>",
 *	  "roles":["writer"],"service":"billing","name":"...",
 *	  "created":"<UTC time>","revoked":"<UTC time>",
 *	  "expires":"<UTC time>","partial":true,"last_used":"<UTC time>"}, ...]}
 * "service", "name", "revoked", "expires", "partial" and "last_used" are
 * optional.  Revoked tokens stay in the file (they are named by events in
 * the log) but never authenticate; nor does a token at or past "expires".
 * "partial" (writers): its batches are taken event by event (api_events.c,
 * POST /v1/events?partial=1).  "last_used" is when the token last
 * authenticated, to AUTH_USED_GRAIN: moved in memory at most once per
 * AUTH_USED_GRAIN per token, written to the file by auth_save_used() (the
 * server calls it from a background thread and at stop), so no request
 * waits for it and a busy writer does not rewrite the store.
 *
 * Calling sequence: auth_open() -> auth_check()/auth_create()/auth_revoke()/
 * auth_list() from any thread -> auth_free().
 *
 * Invariants:
 *  1. A secret is compared only through its hash, in constant time, against
 *     every active token (no early exit that depends on the secret).
 *  2. A change is visible to auth_check() only once it is durable on disk;
 *     a revocation is refused by the very next auth_check().
 *  3. The last active admin token cannot be revoked (that would lock the
 *     operator out of token management for good).
 *  4. An expired token is refused like a revoked one; auth_check() says
 *     which token expired so the refusal can name it.
 *
 * Cluster mode (serve --cluster, server/auth_cluster.c, docs/CLUSTER.md):
 * the store is shared through the cluster database (store/cluster_tokens.h,
 * one sealed row per token) and tokens.json is each node's cache of it.
 * There invariant 2 reads: a change is visible only once committed in the
 * database (with synchronous replication); the node that made it sees it
 * before create/revoke returns, every other node within about a second
 * (LISTEN/NOTIFY; at the latest CTOK_RELOAD_MS = 2 s plus one load, while
 * the database can be reached).  Invariant 3 holds cluster-wide: the check
 * runs inside the change's transaction, under a table lock.  A row whose
 * seal does not verify never authenticates.  A token this node has seen
 * revoked stays revoked here even if the database later says otherwise (a
 * replayed old row).  last_used stays per node (never in the database).
 * While the database cannot be reached, checks go on from the cache and
 * create/revoke fail with LS_BUSY.
 */
#ifndef LS_AUTH_H
#define LS_AUTH_H

#include <jansson.h>

#include "base/ls.h"

#define AUTH_ROLE_WRITER 1u
#define AUTH_ROLE_AUDITOR 2u
#define AUTH_ROLE_ADMIN 4u

#define AUTH_SECRET_LEN 68	/* "lsk_" + 64 hex */
#define AUTH_ID_LEN 20		/* "tok_" + 16 hex */
#define AUTH_SERVICE_MAX 128
#define AUTH_NAME_MAX 256
#define AUTH_MAX_TOKENS 10000
#define AUTH_USED_GRAIN (60 * (int64_t)1000000) /* last_used resolution, us */

struct auth;

/* Who made a request: a copy, safe to keep after the token is revoked. */
struct auth_principal {
	char id[AUTH_ID_LEN + 1];
	unsigned roles;
	char service[AUTH_SERVICE_MAX + 1]; /* "" when not bound */
	int partial;		/* batches event by event (writer setting) */
	char expired[32];	/* auth_check() refused it: when it expired; else "" */
};

/* What a new token may have besides roles, service and name. */
struct auth_new {
	int64_t expires_us;	/* microseconds since the epoch; 0: never */
	int partial;		/* writer: batches event by event */
};

/* Create DIR/tokens.json with one admin token (roles admin + auditor) and
 * write its secret to DIR/admin.token (mode 0600, one line), the only place
 * a secret is ever written.  LS_EXISTS when DIR already has a token store.
 * (`logseal init`.) */
ls_rc auth_bootstrap(const char *dir, struct ls_err *err);

/* Load DIR/tokens.json.  LS_NOTFOUND when there is none (see
 * auth_bootstrap), LS_CORRUPT when it does not parse. */
ls_rc auth_open(const char *dir, struct auth **out, struct ls_err *err);
void auth_free(struct auth *a);

/* LS_OK and *p filled when secret (n bytes) is an active token, LS_DENIED
 * otherwise; when it matched a token that has expired, p->id names it and
 * p->expired says since when (both "" for an unknown or revoked secret).
 * Notes the use (last_used, see the file format). */
ls_rc auth_check(struct auth *a, const char *secret, size_t n, struct auth_principal *p);

/* Write the store when a last_used moved since it was last written (else
 * nothing).  Best effort for the caller: last_used informs operators, it
 * controls nothing; a store changed by create/revoke holds it too. */
ls_rc auth_save_used(struct auth *a, struct ls_err *err);

/* Create a token.  secret receives the NUL-terminated secret (cap >=
 * AUTH_SECRET_LEN + 1; the caller wipes it), *info a new JSON description
 * (id, roles, service, name, created; never the secret).  LS_INVALID for bad
 * roles, service or name; LS_LIMIT when the store is full. */
ls_rc auth_create(struct auth *a, unsigned roles, const char *service, const char *name,
		  char *secret, size_t cap, json_t **info, struct ls_err *err);
/* The same with the options of struct auth_new (nw may be NULL): LS_INVALID
 * also for an expiry not in the future or partial on a non-writer. */
ls_rc auth_create_ex(struct auth *a, unsigned roles, const char *service, const char *name,
		     const struct auth_new *nw, char *secret, size_t cap, json_t **info,
		     struct ls_err *err);

/* Revoke token id.  *changed is 0 when it was already revoked.  *info is a
 * new JSON description.  LS_NOTFOUND, LS_DENIED (last admin token). */
ls_rc auth_revoke(struct auth *a, const char *id, int *changed, json_t **info,
		  struct ls_err *err);

/* 1 when token id exists and is not revoked.  What a holder of a
 * long-lived authorisation (a live stream) checks against, so a revocation
 * that raced its authentication is still seen. */
int auth_active(struct auth *a, const char *id);

/* A new JSON array describing every token (no secrets, no hashes). */
json_t *auth_list(struct auth *a);

/* Cluster mode: where create and revoke go instead of the file.  create
 * gets the new token as stored (sha256, no secret, no last_used); revoke
 * revokes id at `when` (its text) under the store's rules (invariant 3),
 * with *changed and *tok (new reference: the token as stored after).  Both
 * LS_BUSY when the shared store cannot be reached.  On LS_OK the local
 * table and tokens.json take the change too. */
struct auth_remote {
	ls_rc (*create)(void *ctx, json_t *tok, struct ls_err *err);
	ls_rc (*revoke)(void *ctx, const char *id, const char *when, int *changed, json_t **tok,
			struct ls_err *err);
	void *ctx;
};
/* r NULL: back to the file alone.  Set before requests come in. */
void auth_set_remote(struct auth *a, const struct auth_remote *r);
/* A new JSON array of every token as stored (with sha256, no last_used). */
json_t *auth_export(struct auth *a);
/* Replace the table with tokens (an array as auth_export gives), keeping
 * each token's last_used and, for a token revoked here, its revocation;
 * a token that does not parse is left out and counted in *skipped.
 * tokens.json is rewritten when the table changed. */
ls_rc auth_replace(struct auth *a, json_t *tokens, size_t *skipped, struct ls_err *err);

/* "writer"/"auditor"/"admin" -> bit; 0 for anything else. */
unsigned auth_role_parse(const char *s);
/* JSON array of role names for a bit set. */
json_t *auth_roles_json(unsigned roles);

#endif
