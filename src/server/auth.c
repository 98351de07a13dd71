/*
 * auth.c - the token store (see auth.h for the file format and invariants).
 *
 * The table is small (operators create tokens by hand or by automation, a
 * few hundred at most) so a flat array under a read-write lock is enough:
 * every request takes the read lock once; a create or revoke takes the write
 * lock for as long as the durable file replace takes.  A use that moves a
 * token's last_used on (once a minute at most, auth.h) only marks the store
 * dirty: auth_save_used() (the server's saver thread, and its stop) writes
 * it under the read lock and file_mu, so no request waits for an fsync and
 * create/revoke (write lock) cannot interleave with the write.
 */
#include "server/auth.h"

#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"

#define TOKENS_FILE "tokens.json"
#define TOKENS_FILE_MAX (16u << 20)

struct auth_tok {
	char id[AUTH_ID_LEN + 1];
	uint8_t hash[LS_HASH_LEN];
	unsigned roles;
	char *service;	/* NULL when not bound */
	char *name;	/* NULL when none */
	char created[32];
	char revoked[32]; /* "" while active */
	int64_t expires_us; /* 0: never */
	int partial;
	_Atomic int64_t used_us; /* last authenticated, to AUTH_USED_GRAIN; 0: never */
};

struct auth {
	pthread_rwlock_t lock;
	pthread_mutex_t file_mu; /* a last_used rewrite under the read lock */
	atomic_int used_dirty;	 /* a last_used moved since the file was written */
	char path[PATH_MAX];
	struct auth_tok *t;
	size_t n, cap;
	struct auth_remote remote; /* cluster mode: remote.create set */
};

static const char *const role_names[] = { "writer", "auditor", "admin" };

unsigned auth_role_parse(const char *s)
{
	for (unsigned i = 0; i < 3; i++)
		if (strcmp(s, role_names[i]) == 0)
			return 1u << i;
	return 0;
}

json_t *auth_roles_json(unsigned roles)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < 3; i++)
		if (roles & (1u << i))
			json_array_append_new(a, json_string(role_names[i]));
	return a;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void now_text(char *out, size_t cap)
{
	event_format_time(now_us(), out, cap);
}

/* Service names and token names end up in events and in listings: printable
 * text only, so nothing can smuggle line breaks into an operator's terminal. */
static int text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static void tok_release(struct auth_tok *t)
{
	free(t->service);
	free(t->name);
	t->service = t->name = NULL;
}

static json_t *tok_public(const struct auth_tok *t)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_string(t->id));
	json_object_set_new(o, "roles", auth_roles_json(t->roles));
	if (t->service)
		json_object_set_new(o, "service", json_string(t->service));
	if (t->name)
		json_object_set_new(o, "name", json_string(t->name));
	json_object_set_new(o, "created", json_string(t->created));
	if (t->revoked[0])
		json_object_set_new(o, "revoked", json_string(t->revoked));
	if (t->expires_us) {
		char tb[32];
		event_format_time(t->expires_us, tb, sizeof(tb));
		json_object_set_new(o, "expires", json_string(tb));
	}
	if (t->partial)
		json_object_set_new(o, "partial", json_true());
	{
		int64_t used = atomic_load_explicit(&((struct auth_tok *)t)->used_us,
						    memory_order_relaxed);
		char tb[32];
		if (used) {
			event_format_time(used, tb, sizeof(tb));
			json_object_set_new(o, "last_used", json_string(tb));
		}
	}
	return o;
}

/* ======================================================= file format */

static ls_rc tok_from_json(json_t *o, struct auth_tok *t, struct ls_err *err)
{
	json_t *roles = json_object_get(o, "roles"), *v;
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *hash = json_string_value(json_object_get(o, "sha256"));
	const char *created = json_string_value(json_object_get(o, "created"));
	const char *revoked = json_string_value(json_object_get(o, "revoked"));
	const char *service = json_string_value(json_object_get(o, "service"));
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *expires = json_string_value(json_object_get(o, "expires"));
	const char *used = json_string_value(json_object_get(o, "last_used"));
	json_t *partial = json_object_get(o, "partial");
	int64_t us = 0;
	uint8_t raw[8];
	size_t i;

	memset(t, 0, sizeof(*t));
	if (!id || strlen(id) != AUTH_ID_LEN || strncmp(id, "tok_", 4) != 0 ||
	    ls_unhex(id + 4, 16, raw, sizeof(raw)) != LS_OK)
		return ls_err_set(err, LS_CORRUPT, "bad token id");
	snprintf(t->id, sizeof(t->id), "%s", id);
	if (!hash || ls_unhex(hash, strlen(hash), t->hash, sizeof(t->hash)) != LS_OK)
		return ls_err_set(err, LS_CORRUPT, "%s: bad sha256", id);
	if (!created || strlen(created) >= sizeof(t->created))
		return ls_err_set(err, LS_CORRUPT, "%s: bad created", id);
	snprintf(t->created, sizeof(t->created), "%s", created);
	if (revoked) {
		if (strlen(revoked) >= sizeof(t->revoked) || !revoked[0])
			return ls_err_set(err, LS_CORRUPT, "%s: bad revoked", id);
		snprintf(t->revoked, sizeof(t->revoked), "%s", revoked);
	}
	if ((json_object_get(o, "expires") &&
	     (!expires || event_parse_time(expires, &t->expires_us) != LS_OK || !t->expires_us)) ||
	    (json_object_get(o, "last_used") && (!used || event_parse_time(used, &us) != LS_OK)) ||
	    (partial && !json_is_boolean(partial)))
		return ls_err_set(err, LS_CORRUPT, "%s: bad expires, last_used or partial", id);
	atomic_init(&t->used_us, us);
	t->partial = json_is_true(partial);
	if (!json_is_array(roles) || json_array_size(roles) == 0)
		return ls_err_set(err, LS_CORRUPT, "%s: bad roles", id);
	json_array_foreach(roles, i, v) {
		unsigned r = json_is_string(v) ? auth_role_parse(json_string_value(v)) : 0;
		if (!r)
			return ls_err_set(err, LS_CORRUPT, "%s: unknown role", id);
		t->roles |= r;
	}
	if ((json_object_get(o, "service") && (!service || !text_ok(service, AUTH_SERVICE_MAX))) ||
	    (json_object_get(o, "name") && (!name || !text_ok(name, AUTH_NAME_MAX))))
		return ls_err_set(err, LS_CORRUPT, "%s: bad service or name", id);
	if (service && !(t->service = strdup(service)))
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if (name && !(t->name = strdup(name))) {
		tok_release(t);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	return LS_OK;
}

static json_t *tok_to_json(const struct auth_tok *t)
{
	json_t *o = tok_public(t);
	char hex[2 * LS_HASH_LEN + 1];

	if (!o)
		return NULL;
	ls_hex(t->hash, sizeof(t->hash), hex);
	json_object_set_new(o, "sha256", json_string(hex));
	return o;
}

/* Write the first n tokens of tab to path durably. */
static ls_rc store_write(const char *path, const struct auth_tok *tab, size_t n,
			 struct ls_err *err)
{
	json_t *root = json_object(), *arr = json_array();
	char *text = NULL;
	ls_rc rc = LS_NOMEM;

	if (!root || !arr)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_t *o = tok_to_json(&tab[i]);
		if (!o || json_array_append_new(arr, o) < 0)
			goto out;
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set(root, "tokens", arr);
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		goto out;
	{
		/* Sealed (cfgseal.h): an edited role or hash is refused at load. */
		char dir[PATH_MAX];

		cfgseal_parent(path, 1, dir, sizeof(dir));
		rc = cfgseal_write_file(dir, CFGSEAL_TOKENS, path, text, strlen(text), 0600, err);
	}
	free(text);
	json_decref(root);
	json_decref(arr);
	return rc;
out:
	json_decref(root);
	json_decref(arr);
	return ls_err_set(err, rc, "out of memory");
}

static ls_rc store_load(struct auth *a, struct ls_err *err)
{
	char *text;
	size_t len, i;
	json_error_t je;
	json_t *root, *arr, *v;
	char dir[PATH_MAX];
	ls_rc rc;

	cfgseal_parent(a->path, 1, dir, sizeof(dir));
	rc = cfgseal_read_file(dir, CFGSEAL_TOKENS, a->path, TOKENS_FILE_MAX, &text, &len, err);
	if (rc != LS_OK)
		return rc;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!root)
		return ls_err_set(err, LS_CORRUPT, "%s: line %d: %s", a->path, je.line, je.text);
	arr = json_object_get(root, "tokens");
	if (!json_is_array(arr) || json_integer_value(json_object_get(root, "version")) != 1) {
		json_decref(root);
		return ls_err_set(err, LS_CORRUPT, "%s: not a version 1 token store", a->path);
	}
	a->cap = json_array_size(arr) + 16;
	a->t = calloc(a->cap, sizeof(*a->t));
	if (!a->t) {
		json_decref(root);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	json_array_foreach(arr, i, v) {
		rc = tok_from_json(v, &a->t[a->n], err);
		if (rc != LS_OK) {
			json_decref(root);
			return rc == LS_CORRUPT ? ls_err_set(err, rc, "%s: token %zu: %s", a->path,
							     i, err ? err->msg : "bad") : rc;
		}
		a->n++;
	}
	json_decref(root);
	return LS_OK;
}

/* ======================================================= new tokens */

static ls_rc new_token(unsigned roles, const char *service, const char *name,
		       const struct auth_new *nw, char *secret, size_t cap, struct auth_tok *t,
		       struct ls_err *err)
{
	uint8_t raw[32], idraw[8];
	char hex[65];

	if (cap < AUTH_SECRET_LEN + 1)
		return ls_err_set(err, LS_LIMIT, "secret buffer too small");
	if (!roles || (roles & ~(AUTH_ROLE_WRITER | AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN)))
		return ls_err_set(err, LS_INVALID, "roles must be writer, auditor and/or admin");
	if (service && !text_ok(service, AUTH_SERVICE_MAX))
		return ls_err_set(err, LS_INVALID,
				  "service must be 1..%d printable characters", AUTH_SERVICE_MAX);
	if (service && !(roles & AUTH_ROLE_WRITER))
		return ls_err_set(err, LS_INVALID, "only a writer token can be bound to a service");
	if (service && event_service_reserved(service, strlen(service)))
		return ls_err_set(err, LS_INVALID,
				  "service \"logseal\" is reserved for the server's own events");
	if (name && !text_ok(name, AUTH_NAME_MAX))
		return ls_err_set(err, LS_INVALID, "name must be 1..%d printable characters",
				  AUTH_NAME_MAX);
	if (nw && nw->expires_us && nw->expires_us <= now_us())
		return ls_err_set(err, LS_INVALID, "expires must be in the future");
	if (nw && nw->partial && !(roles & AUTH_ROLE_WRITER))
		return ls_err_set(err, LS_INVALID, "only a writer token can be partial");
	memset(t, 0, sizeof(*t));
	if (nw) {
		t->expires_us = nw->expires_us;
		t->partial = nw->partial ? 1 : 0;
	}
	atomic_init(&t->used_us, 0);
	if (ls_random(raw, sizeof(raw)) != LS_OK || ls_random(idraw, sizeof(idraw)) != LS_OK)
		return ls_err_set(err, LS_IO, "no randomness available");
	ls_hex(raw, sizeof(raw), hex);
	snprintf(secret, cap, "lsk_%s", hex);
	ls_wipe(raw, sizeof(raw));
	ls_wipe(hex, sizeof(hex));
	ls_sha256(secret, AUTH_SECRET_LEN, NULL, 0, t->hash);
	ls_hex(idraw, sizeof(idraw), hex);
	snprintf(t->id, sizeof(t->id), "tok_%.16s", hex);
	t->roles = roles;
	now_text(t->created, sizeof(t->created));
	if ((service && !(t->service = strdup(service))) || (name && !(t->name = strdup(name)))) {
		tok_release(t);
		ls_wipe(secret, cap);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	return LS_OK;
}

ls_rc auth_bootstrap(const char *dir, struct ls_err *err)
{
	char path[PATH_MAX], tpath[PATH_MAX], secret[AUTH_SECRET_LEN + 2];
	struct auth_tok t;
	ls_rc rc;

	if (snprintf(path, sizeof(path), "%s/" TOKENS_FILE, dir) >= (int)sizeof(path) ||
	    snprintf(tpath, sizeof(tpath), "%s/admin.token", dir) >= (int)sizeof(tpath))
		return ls_err_set(err, LS_LIMIT, "path too long");
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already exists", path);
	rc = new_token(AUTH_ROLE_ADMIN | AUTH_ROLE_AUDITOR, NULL, "initial admin", NULL, secret,
		       sizeof(secret), &t, err);
	if (rc != LS_OK)
		return rc;
	rc = store_write(path, &t, 1, err);
	tok_release(&t);
	if (rc == LS_OK) {
		size_t n = strlen(secret);
		secret[n] = '\n';
		rc = fs_write_file(tpath, secret, n + 1, 0600, 0, err);
		if (rc != LS_OK)
			unlink(path);
	}
	ls_wipe(secret, sizeof(secret));
	return rc;
}

/* ======================================================= the store */

ls_rc auth_open(const char *dir, struct auth **out, struct ls_err *err)
{
	struct auth *a = calloc(1, sizeof(*a));
	ls_rc rc;

	if (!a)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if (snprintf(a->path, sizeof(a->path), "%s/" TOKENS_FILE, dir) >= (int)sizeof(a->path)) {
		free(a);
		return ls_err_set(err, LS_LIMIT, "path too long");
	}
	pthread_rwlock_init(&a->lock, NULL);
	pthread_mutex_init(&a->file_mu, NULL);
	rc = store_load(a, err);
	if (rc != LS_OK) {
		auth_free(a);
		return rc;
	}
	*out = a;
	return LS_OK;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		tok_release(&a->t[i]);
	free(a->t);
	pthread_rwlock_destroy(&a->lock);
	pthread_mutex_destroy(&a->file_mu);
	free(a);
}

ls_rc auth_check(struct auth *a, const char *secret, size_t n, struct auth_principal *p)
{
	uint8_t h[LS_HASH_LEN];
	size_t hit = SIZE_MAX;
	ls_rc rc = LS_DENIED;
	int64_t now = now_us();

	memset(p, 0, sizeof(*p));
	ls_sha256(secret, n, NULL, 0, h);
	pthread_rwlock_rdlock(&a->lock);
	/* Compare against every token so the time taken does not depend on
	 * where (or whether) the secret matches. */
	for (size_t i = 0; i < a->n; i++) {
		int eq = ls_ct_equal(h, a->t[i].hash, sizeof(h));
		hit = eq ? i : hit;
	}
	if (hit != SIZE_MAX && !a->t[hit].revoked[0] && a->t[hit].expires_us &&
	    now >= a->t[hit].expires_us) {
		snprintf(p->id, sizeof(p->id), "%s", a->t[hit].id);
		event_format_time(a->t[hit].expires_us, p->expired, sizeof(p->expired));
	} else if (hit != SIZE_MAX && !a->t[hit].revoked[0]) {
		struct auth_tok *t = &a->t[hit];
		int64_t used = atomic_load_explicit(&t->used_us, memory_order_relaxed);

		snprintf(p->id, sizeof(p->id), "%s", t->id);
		p->roles = t->roles;
		p->partial = t->partial;
		if (t->service)
			snprintf(p->service, sizeof(p->service), "%s", t->service);
		rc = LS_OK;
		/* One request per token and grain wins the exchange; the
		 * others only read. */
		if (now - used >= AUTH_USED_GRAIN &&
		    atomic_compare_exchange_strong(&t->used_us, &used, now))
			atomic_store(&a->used_dirty, 1);
	}
	pthread_rwlock_unlock(&a->lock);
	ls_wipe(h, sizeof(h));
	return rc;
}

ls_rc auth_save_used(struct auth *a, struct ls_err *err)
{
	ls_rc rc = LS_OK;

	if (!a || !atomic_exchange(&a->used_dirty, 0))
		return LS_OK;
	pthread_rwlock_rdlock(&a->lock);
	pthread_mutex_lock(&a->file_mu);
	rc = store_write(a->path, a->t, a->n, err);
	pthread_mutex_unlock(&a->file_mu);
	pthread_rwlock_unlock(&a->lock);
	if (rc != LS_OK)
		atomic_store(&a->used_dirty, 1);	/* the next call tries again */
	return rc;
}

/* ======================================================= cluster mode */

/* A token as stored: what tokens.json holds, without last_used. */
static json_t *tok_stored(const struct auth_tok *t)
{
	json_t *o = tok_to_json(t);

	if (o)
		json_object_del(o, "last_used");
	return o;
}

static int tok_same(const struct auth_tok *x, const struct auth_tok *y)
{
	return !strcmp(x->id, y->id) && !memcmp(x->hash, y->hash, sizeof(x->hash)) &&
	       x->roles == y->roles && !strcmp(x->service ? x->service : "", y->service ? y->service : "") &&
	       !strcmp(x->name ? x->name : "", y->name ? y->name : "") &&
	       !strcmp(x->created, y->created) && !strcmp(x->revoked, y->revoked) &&
	       x->expires_us == y->expires_us && x->partial == y->partial &&
	       !!x->service == !!y->service && !!x->name == !!y->name;
}

static ssize_t find_locked(struct auth *a, const char *id)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->t[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

/* What the local copy keeps of old when nt replaces it: last_used, and a
 * revocation (a token revoked here stays revoked). */
static void tok_carry(const struct auth_tok *old, struct auth_tok *nt)
{
	int64_t u = atomic_load(&((struct auth_tok *)old)->used_us);

	if (u > atomic_load(&nt->used_us))
		atomic_store(&nt->used_us, u);
	if (old->revoked[0] && !nt->revoked[0])
		snprintf(nt->revoked, sizeof(nt->revoked), "%s", old->revoked);
}

/* Under the write lock: put the stored description o into the table
 * (replacing the token of the same id) and write the file.  The index of
 * the token in *at. */
static ls_rc upsert_locked(struct auth *a, json_t *o, size_t *at, struct ls_err *err)
{
	struct auth_tok nt;
	ssize_t i;
	ls_rc rc = tok_from_json(o, &nt, err);

	if (rc != LS_OK)
		return rc;
	i = find_locked(a, nt.id);
	if (i >= 0) {
		tok_carry(&a->t[i], &nt);
		tok_release(&a->t[i]);
		a->t[i] = nt;
	} else {
		if (a->n == a->cap) {
			size_t ncap = a->cap ? 2 * a->cap : 16;
			struct auth_tok *g = realloc(a->t, ncap * sizeof(*g));
			if (!g) {
				tok_release(&nt);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
			a->t = g;
			a->cap = ncap;
		}
		i = (ssize_t)a->n++;
		a->t[i] = nt;
	}
	*at = (size_t)i;
	return store_write(a->path, a->t, a->n, err);
}

static ls_rc create_remote(struct auth *a, struct auth_tok *t, char *secret, size_t cap,
			   json_t **info, struct ls_err *err)
{
	json_t *o = tok_stored(t);
	struct ls_err e2 = { { 0 } };
	size_t at;
	ls_rc rc;

	rc = o ? a->remote.create(a->remote.ctx, o, err) : ls_err_set(err, LS_NOMEM, "out of memory");
	if (rc == LS_OK) {
		/* Committed in the shared store: the cache file is best effort. */
		pthread_rwlock_wrlock(&a->lock);
		if (upsert_locked(a, o, &at, &e2) != LS_OK)
			atomic_store(&a->used_dirty, 1);
		pthread_rwlock_unlock(&a->lock);
		*info = tok_public(t);
	} else {
		ls_wipe(secret, cap);
	}
	json_decref(o);
	tok_release(t);
	return rc;
}

static ls_rc revoke_remote(struct auth *a, const char *id, int *changed, json_t **info,
			   struct ls_err *err)
{
	char when[32];
	json_t *o = NULL;
	struct ls_err e2 = { { 0 } };
	size_t at = 0;
	ls_rc rc;

	now_text(when, sizeof(when));
	rc = a->remote.revoke(a->remote.ctx, id, when, changed, &o, err);
	if (rc != LS_OK)
		return rc;
	pthread_rwlock_wrlock(&a->lock);
	if (upsert_locked(a, o, &at, &e2) != LS_OK && find_locked(a, id) < 0) {
		pthread_rwlock_unlock(&a->lock);
		/* Revoked in the shared store; this node learns it at the next load. */
		*info = json_pack("{s:s, s:O}", "id", id, "roles", json_object_get(o, "roles"));
		json_decref(o);
		return *info ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
	}
	if (e2.msg[0])
		atomic_store(&a->used_dirty, 1);
	*info = tok_public(&a->t[find_locked(a, id)]);
	pthread_rwlock_unlock(&a->lock);
	json_decref(o);
	return LS_OK;
}

void auth_set_remote(struct auth *a, const struct auth_remote *r)
{
	pthread_rwlock_wrlock(&a->lock);
	if (r)
		a->remote = *r;
	else
		memset(&a->remote, 0, sizeof(a->remote));
	pthread_rwlock_unlock(&a->lock);
}

json_t *auth_export(struct auth *a)
{
	json_t *arr = json_array();

	pthread_rwlock_rdlock(&a->lock);
	for (size_t i = 0; arr && i < a->n; i++) {
		json_t *o = tok_stored(&a->t[i]);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	pthread_rwlock_unlock(&a->lock);
	return arr;
}

ls_rc auth_replace(struct auth *a, json_t *tokens, size_t *skipped, struct ls_err *err)
{
	size_t k = json_array_size(tokens), nn = 0, i;
	struct auth_tok *nt = calloc(k + 16, sizeof(*nt)), *old;
	size_t oldn;
	int changed;
	json_t *v;
	ls_rc rc = LS_OK;

	*skipped = 0;
	if (!nt)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	json_array_foreach(tokens, i, v) {
		struct ls_err e = { { 0 } };
		if (nn < AUTH_MAX_TOKENS && tok_from_json(v, &nt[nn], &e) == LS_OK)
			nn++;
		else
			(*skipped)++;
	}
	pthread_rwlock_wrlock(&a->lock);
	changed = nn != a->n;
	for (i = 0; i < nn; i++) {
		ssize_t j = find_locked(a, nt[i].id);
		if (j >= 0)
			tok_carry(&a->t[j], &nt[i]);
		changed |= j < 0 || !tok_same(&a->t[j], &nt[i]);
	}
	old = a->t;
	oldn = a->n;
	a->t = nt;
	a->n = nn;
	a->cap = k + 16;
	if (changed && store_write(a->path, a->t, a->n, err) != LS_OK) {
		atomic_store(&a->used_dirty, 1);	/* auth_save_used tries again */
		rc = LS_IO;
	}
	pthread_rwlock_unlock(&a->lock);
	for (i = 0; i < oldn; i++)
		tok_release(&old[i]);
	free(old);
	return rc;
}

ls_rc auth_create(struct auth *a, unsigned roles, const char *service, const char *name,
		  char *secret, size_t cap, json_t **info, struct ls_err *err)
{
	return auth_create_ex(a, roles, service, name, NULL, secret, cap, info, err);
}

ls_rc auth_create_ex(struct auth *a, unsigned roles, const char *service, const char *name,
		     const struct auth_new *nw, char *secret, size_t cap, json_t **info,
		     struct ls_err *err)
{
	struct auth_tok t;
	ls_rc rc;

	rc = new_token(roles, service, name, nw, secret, cap, &t, err);
	if (rc != LS_OK)
		return rc;
	if (a->remote.create)
		return create_remote(a, &t, secret, cap, info, err);
	pthread_rwlock_wrlock(&a->lock);
	if (a->n >= AUTH_MAX_TOKENS) {
		rc = ls_err_set(err, LS_LIMIT, "the token store is full (%d tokens)",
				AUTH_MAX_TOKENS);
		goto fail;
	}
	if (a->n == a->cap) {
		size_t ncap = a->cap ? 2 * a->cap : 16;
		struct auth_tok *nt = realloc(a->t, ncap * sizeof(*nt));
		if (!nt) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto fail;
		}
		a->t = nt;
		a->cap = ncap;
	}
	a->t[a->n] = t;
	/* Only a durable store makes the token usable (invariant 2). */
	rc = store_write(a->path, a->t, a->n + 1, err);
	if (rc != LS_OK)
		goto fail;
	a->n++;
	*info = tok_public(&t);
	pthread_rwlock_unlock(&a->lock);
	return LS_OK;
fail:
	pthread_rwlock_unlock(&a->lock);
	tok_release(&t);
	ls_wipe(secret, cap);
	return rc;
}

ls_rc auth_revoke(struct auth *a, const char *id, int *changed, json_t **info,
		  struct ls_err *err)
{
	size_t i, admins = 0;
	ls_rc rc = LS_OK;

	*changed = 0;
	if (a->remote.revoke)
		return revoke_remote(a, id, changed, info, err);
	pthread_rwlock_wrlock(&a->lock);
	for (i = 0; i < a->n; i++)
		if (strcmp(a->t[i].id, id) == 0)
			break;
	if (i == a->n) {
		pthread_rwlock_unlock(&a->lock);
		return ls_err_set(err, LS_NOTFOUND, "no token with id %s", id);
	}
	if (!a->t[i].revoked[0]) {
		for (size_t k = 0; k < a->n; k++)
			if (!a->t[k].revoked[0] && (a->t[k].roles & AUTH_ROLE_ADMIN))
				admins++;
		if ((a->t[i].roles & AUTH_ROLE_ADMIN) && admins <= 1) {
			pthread_rwlock_unlock(&a->lock);
			return ls_err_set(err, LS_DENIED,
					  "%s is the last admin token; create another first", id);
		}
		now_text(a->t[i].revoked, sizeof(a->t[i].revoked));
		rc = store_write(a->path, a->t, a->n, err);
		if (rc != LS_OK)
			a->t[i].revoked[0] = 0;
		else
			*changed = 1;
	}
	if (rc == LS_OK)
		*info = tok_public(&a->t[i]);
	pthread_rwlock_unlock(&a->lock);
	return rc;
}

int auth_active(struct auth *a, const char *id)
{
	int on = 0;

	pthread_rwlock_rdlock(&a->lock);
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->t[i].id, id) == 0) {
			on = !a->t[i].revoked[0] &&
			     (!a->t[i].expires_us || now_us() < a->t[i].expires_us);
			break;
		}
	}
	pthread_rwlock_unlock(&a->lock);
	return on;
}

json_t *auth_list(struct auth *a)
{
	json_t *arr = json_array();

	pthread_rwlock_rdlock(&a->lock);
	for (size_t i = 0; arr && i < a->n; i++) {
		json_t *o = tok_public(&a->t[i]);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	pthread_rwlock_unlock(&a->lock);
	return arr;
}
