/*
 * auth_cluster.c - the token store in cluster mode (auth_cluster.h): what a
 * row of logseal.tokens says (the token's stored description, compact JSON
 * with sorted keys, the same members as in tokens.json minus last_used),
 * the rules of a change applied to the whole table under its lock (the
 * store's limit; the last active admin cannot be revoked, cluster-wide),
 * and the loads that replace the node's table.
 */
#include "server/auth_cluster.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/cluster.h"
#include "store/cluster_tokens.h"

struct auth_cluster {
	struct auth *a;
	struct ctok *t;
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
	pthread_mutex_t mu;	/* what follows */
	char **seen;		/* "id mac" of every rejected row already reported */
	size_t nseen;
	json_t *unsealed_ids;	/* of the last load */
};

static void say(struct auth_cluster *ac, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct auth_cluster *ac, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!ac->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ac->notice(ac->notice_ctx, msg);
}

/* A row's body, when it is a token object naming the row's id. */
static json_t *row_token(const struct ctok_row *r)
{
	json_t *o = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);
	const char *id = json_string_value(json_object_get(o, "id"));

	if (!json_is_object(o) || !id || strcmp(id, r->id) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static char *body_text(json_t *o)
{
	return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Reported once per (id, mac): a row that stays wrong is not repeated at
 * every load; a new forgery under the same id is. */
static void reject(struct auth_cluster *ac, const struct ctok_row *r, const char *why)
{
	size_t len = strlen(r->id) + strlen(r->mac) + 2;
	char *key = malloc(len), **g;

	json_array_append_new(ac->unsealed_ids, json_string(r->id));
	if (!key)
		return;
	snprintf(key, len, "%s %s", r->id, r->mac);
	for (size_t i = 0; i < ac->nseen; i++)
		if (!strcmp(ac->seen[i], key)) {
			free(key);
			return;
		}
	g = realloc(ac->seen, (ac->nseen + 1) * sizeof(*g));
	if (!g) {
		free(key);
		return;
	}
	ac->seen = g;
	ac->seen[ac->nseen++] = key;
	say(ac, "cluster: SECURITY: the row of token %.64s in logseal.tokens %s (changed "
	    "outside logseal?): it does not authenticate on any node", r->id, why);
}

static void on_loaded(void *ctx, const struct ctok_row *rows, size_t n)
{
	struct auth_cluster *ac = ctx;
	json_t *arr = json_array();
	struct ls_err e = { { 0 } };
	size_t skipped = 0;

	if (!arr)
		return;
	pthread_mutex_lock(&ac->mu);
	json_array_clear(ac->unsealed_ids);
	for (size_t i = 0; i < n; i++) {
		json_t *o = rows[i].sealed ? row_token(&rows[i]) : NULL;

		if (!rows[i].sealed)
			reject(ac, &rows[i], "fails its seal");
		else if (!o)
			reject(ac, &rows[i], "is not a token named by its id");
		else
			json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&ac->mu);
	if (auth_replace(ac->a, arr, &skipped, &e) != LS_OK)
		say(ac, "cluster: tokens.json (this node's cache of the shared tokens): %s", e.msg);
	if (skipped)
		say(ac, "cluster: %zu sealed token row(s) could not be read and were left out",
		    skipped);
	json_decref(arr);
}

/* ======================================================= changes */

struct create_ctx {
	json_t *tok;
};

static ls_rc decide_create(void *ctx, const struct ctok_row *rows, size_t n,
			   char id[CTOK_ID_MAX + 1], char **body, struct ls_err *err)
{
	struct create_ctx *cc = ctx;
	const char *tid = json_string_value(json_object_get(cc->tok, "id"));

	if (n >= AUTH_MAX_TOKENS)
		return ls_err_set(err, LS_LIMIT, "the token store is full (%d tokens)",
				  AUTH_MAX_TOKENS);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].id, tid))
			return ls_err_set(err, LS_EXISTS, "token id %s exists", tid);
	snprintf(id, CTOK_ID_MAX + 1, "%s", tid);
	*body = body_text(cc->tok);
	return *body ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
}

static ls_rc remote_create(void *ctx, json_t *tok, struct ls_err *err)
{
	struct auth_cluster *ac = ctx;
	struct create_ctx cc = { tok };

	return ctok_change(ac->t, decide_create, &cc, err);
}

struct revoke_ctx {
	const char *id, *when;
	int changed;
	json_t *after;
};

static int tok_admin(json_t *o)
{
	json_t *roles = json_object_get(o, "roles"), *v;
	size_t i;

	json_array_foreach(roles, i, v)
		if (json_is_string(v) && auth_role_parse(json_string_value(v)) == AUTH_ROLE_ADMIN)
			return 1;
	return 0;
}

/* Invariant 3 of auth.h over the whole table, under its lock: only rows
 * whose seal verifies count (a forged admin row is no admin). */
static ls_rc decide_revoke(void *ctx, const struct ctok_row *rows, size_t n,
			   char id[CTOK_ID_MAX + 1], char **body, struct ls_err *err)
{
	struct revoke_ctx *rc = ctx;
	json_t *target = NULL;
	size_t admins = 0;

	for (size_t i = 0; i < n; i++) {
		json_t *o;

		if (!strcmp(rows[i].id, rc->id) && !rows[i].sealed) {
			json_decref(target);
			return ls_err_set(err, LS_TAMPERED, "the database row of token %s fails its "
					  "seal; it does not authenticate anyway", rc->id);
		}
		if (!rows[i].sealed || !(o = row_token(&rows[i])))
			continue;
		if (!json_object_get(o, "revoked") && tok_admin(o))
			admins++;
		if (!strcmp(rows[i].id, rc->id))
			target = o;
		else
			json_decref(o);
	}
	if (!target)
		return ls_err_set(err, LS_NOTFOUND, "no token with id %s", rc->id);
	if (json_object_get(target, "revoked")) {
		rc->after = target;	/* already revoked: nothing to write */
		return LS_OK;
	}
	if (tok_admin(target) && admins <= 1) {
		json_decref(target);
		return ls_err_set(err, LS_DENIED, "%s is the last admin token; create another first",
				  rc->id);
	}
	json_object_set_new(target, "revoked", json_string(rc->when));
	snprintf(id, CTOK_ID_MAX + 1, "%s", rc->id);
	*body = body_text(target);
	if (!*body) {
		json_decref(target);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc->after = target;
	rc->changed = 1;
	return LS_OK;
}

static ls_rc remote_revoke(void *ctx, const char *id, const char *when, int *changed,
			   json_t **tok, struct ls_err *err)
{
	struct auth_cluster *ac = ctx;
	struct revoke_ctx rc = { id, when, 0, NULL };
	ls_rc r = ctok_change(ac->t, decide_revoke, &rc, err);

	*changed = 0;
	if (r != LS_OK) {
		json_decref(rc.after);
		return r;
	}
	*changed = rc.changed;
	*tok = rc.after;
	return LS_OK;
}

/* ======================================================= open */

ls_rc auth_cluster_open(struct auth *a, struct cluster *c, const char *dir,
			void (*notice)(void *ctx, const char *msg), void *notice_ctx,
			struct auth_cluster **out, struct ls_err *err)
{
	struct auth_cluster *ac = calloc(1, sizeof(*ac));
	json_t *mine = auth_export(a), *v;
	struct ctok_row *imp = NULL;
	char **bodies = NULL;
	struct ctok_opts o;
	size_t n = json_array_size(mine), i;
	ls_rc rc = LS_NOMEM;

	*out = NULL;
	if (!ac || !mine || !(ac->unsealed_ids = json_array()))
		goto fail;
	ac->a = a;
	ac->notice = notice;
	ac->notice_ctx = notice_ctx;
	pthread_mutex_init(&ac->mu, NULL);
	imp = calloc(n + 1, sizeof(*imp));
	bodies = calloc(n + 1, sizeof(*bodies));
	if (!imp || !bodies)
		goto fail;
	json_array_foreach(mine, i, v) {
		imp[i].id = json_string_value(json_object_get(v, "id"));
		if (!imp[i].id || !(bodies[i] = body_text(v)))
			goto fail;
		imp[i].body = bodies[i];
	}
	memset(&o, 0, sizeof(o));
	o.cluster = c;
	o.dir = dir;
	o.loaded = on_loaded;
	o.ctx = ac;
	o.import = imp;
	o.nimport = n;
	o.notice = notice;
	o.notice_ctx = notice_ctx;
	rc = ctok_open(&o, &ac->t, err);
	if (rc != LS_OK)
		goto fail;
	{
		struct auth_remote r = { remote_create, remote_revoke, ac };
		auth_set_remote(a, &r);
	}
	*out = ac;
	ac = NULL;
	rc = LS_OK;
fail:
	for (i = 0; bodies && i < n; i++)
		free(bodies[i]);
	free(bodies);
	free(imp);
	json_decref(mine);
	if (ac) {
		if (ac->unsealed_ids)
			pthread_mutex_destroy(&ac->mu);
		json_decref(ac->unsealed_ids);
		free(ac);
	}
	return rc == LS_NOMEM ? ls_err_set(err, rc, "%s", err && err->msg[0] ? err->msg :
					   "out of memory") : rc;
}

void auth_cluster_close(struct auth_cluster *ac)
{
	if (!ac)
		return;
	auth_set_remote(ac->a, NULL);
	ctok_close(ac->t);
	for (size_t i = 0; i < ac->nseen; i++)
		free(ac->seen[i]);
	free(ac->seen);
	json_decref(ac->unsealed_ids);
	pthread_mutex_destroy(&ac->mu);
	free(ac);
}

json_t *auth_cluster_json(struct auth_cluster *ac)
{
	struct ctok_stats st;
	json_t *o, *ids;

	if (!ac)
		return json_null();
	ctok_stats(ac->t, &st);
	pthread_mutex_lock(&ac->mu);
	ids = json_deep_copy(ac->unsealed_ids);
	pthread_mutex_unlock(&ac->mu);
	o = json_pack("{s:I, s:I, s:o, s:I, s:I, s:b}", "rows", (json_int_t)st.rows, "unsealed",
		      (json_int_t)json_array_size(ids), "unsealed_ids", ids ? ids : json_array(), "loads",
		      (json_int_t)st.loads, "last_load_ms_ago", (json_int_t)st.last_load_age_ms,
		      "imported", st.imported);
	return o ? o : json_null();
}

void auth_cluster_metrics(struct auth_cluster *ac, FILE *f)
{
	struct ctok_stats st;
	size_t bad;

	if (!ac)
		return;
	ctok_stats(ac->t, &st);
	pthread_mutex_lock(&ac->mu);
	bad = json_array_size(ac->unsealed_ids);
	pthread_mutex_unlock(&ac->mu);
	fprintf(f, "# HELP logseal_cluster_token_rows Rows of the shared token table at the last "
		"load.\n# TYPE logseal_cluster_token_rows gauge\nlogseal_cluster_token_rows %llu\n",
		(unsigned long long)st.rows);
	fprintf(f, "# HELP logseal_cluster_token_rows_unsealed Rows of the shared token table "
		"whose seal does not verify (never authenticate).\n"
		"# TYPE logseal_cluster_token_rows_unsealed gauge\n"
		"logseal_cluster_token_rows_unsealed %zu\n", bad);
	fprintf(f, "# HELP logseal_cluster_token_loads_total Loads of the shared token table.\n"
		"# TYPE logseal_cluster_token_loads_total counter\n"
		"logseal_cluster_token_loads_total %llu\n", (unsigned long long)st.loads);
}
