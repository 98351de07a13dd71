/*
 * test_auth_remote.c - the token store's cluster-mode hooks (auth.h
 * auth_set_remote, auth_export, auth_replace; server/auth_cluster.c uses
 * them with the database): create and revoke go to the remote store and
 * only its success changes the local table and tokens.json; the stored
 * description never holds the secret nor last_used; a remote failure
 * (LS_BUSY) leaves nothing and wipes the secret; a replaced table drops
 * tokens that are gone, keeps last_used, keeps a revocation seen here even
 * when the new table says active (a replayed row), and skips a bad entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/auth.h"
#include "base/fsutil.h"

static char dir[] = "/tmp/test_auth_remote.XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The fake shared store: the descriptions it was given, by id. */
struct fake {
	json_t *rows;		/* object id -> description */
	ls_rc fail;		/* answer this instead when set */
	int creates, revokes;
};

static ls_rc fake_create(void *ctx, json_t *tok, struct ls_err *err)
{
	struct fake *f = ctx;

	f->creates++;
	if (f->fail)
		return ls_err_set(err, f->fail, "fake: unavailable");
	json_object_set(f->rows, json_string_value(json_object_get(tok, "id")), tok);
	return LS_OK;
}

static ls_rc fake_revoke(void *ctx, const char *id, const char *when, int *changed,
			 json_t **tok, struct ls_err *err)
{
	struct fake *f = ctx;
	json_t *o = json_object_get(f->rows, id);

	f->revokes++;
	*changed = 0;
	if (f->fail)
		return ls_err_set(err, f->fail, "fake: unavailable");
	if (!o)
		return ls_err_set(err, LS_NOTFOUND, "no token with id %s", id);
	if (!json_object_get(o, "revoked")) {
		json_object_set_new(o, "revoked", json_string(when));
		*changed = 1;
	}
	*tok = json_deep_copy(o);
	return LS_OK;
}

static char *read_in(const char *name)
{
	char path[256], *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fs_read_file(path, 1 << 20, &text, &len, NULL), LS_OK);
	return text;
}

static json_t *find(json_t *list, const char *id)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "id")), id))
			return v;
	return NULL;
}

static void test_remote(void **state)
{
	struct auth *a;
	struct auth_principal p;
	struct ls_err err = { { 0 } };
	struct fake f = { json_object(), 0, 0, 0 };
	struct auth_remote r = { fake_create, fake_revoke, &f };
	char *admin, *text, secret[AUTH_SECRET_LEN + 1], id[AUTH_ID_LEN + 1];
	char admin_id[AUTH_ID_LEN + 1];
	json_t *info, *exp, *v, *list, *old_row;
	size_t i, skipped;
	int changed;

	assert_int_equal(auth_bootstrap(dir, &err), LS_OK);
	assert_int_equal(auth_open(dir, &a, &err), LS_OK);
	admin = read_in("admin.token");
	admin[AUTH_SECRET_LEN] = 0;
	assert_int_equal(auth_check(a, admin, AUTH_SECRET_LEN, &p), LS_OK);
	snprintf(admin_id, sizeof(admin_id), "%s", p.id);

	/* The export: one token, its hash, no secret, no last_used (it was
	 * just used). */
	exp = auth_export(a);
	assert_int_equal(json_array_size(exp), 1);
	v = json_array_get(exp, 0);
	assert_string_equal(json_string_value(json_object_get(v, "id")), admin_id);
	assert_int_equal(strlen(json_string_value(json_object_get(v, "sha256"))), 64);
	assert_null(json_object_get(v, "last_used"));
	text = json_dumps(exp, 0);
	assert_null(strstr(text, "lsk_"));
	free(text);
	json_array_foreach(exp, i, v)
		json_object_set(f.rows, json_string_value(json_object_get(v, "id")), v);
	json_decref(exp);

	auth_set_remote(a, &r);

	/* Create goes to the remote store, then holds here and in the file. */
	assert_int_equal(auth_create(a, AUTH_ROLE_WRITER, "billing", "w", secret, sizeof(secret),
				     &info, &err), LS_OK);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(info, "id")));
	json_decref(info);
	assert_int_equal(f.creates, 1);
	v = json_object_get(f.rows, id);
	assert_non_null(v);
	assert_null(json_object_get(v, "last_used"));
	text = json_dumps(v, 0);
	assert_null(strstr(text, secret));
	free(text);
	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_OK);
	assert_int_equal(p.roles, AUTH_ROLE_WRITER);
	text = read_in("tokens.json");
	assert_non_null(strstr(text, id));
	free(text);

	/* A remote failure: nothing created, the secret wiped. */
	f.fail = LS_BUSY;
	memset(secret, 'x', sizeof(secret));
	assert_int_equal(auth_create(a, AUTH_ROLE_WRITER, NULL, NULL, secret, sizeof(secret),
				     &info, &err), LS_BUSY);
	for (i = 0; i < sizeof(secret); i++)
		assert_int_equal(secret[i], 0);
	list = auth_list(a);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	assert_int_equal(auth_revoke(a, id, &changed, &info, &err), LS_BUSY);
	f.fail = LS_OK;

	/* A second writer, to revoke; keep its active row for a replay. */
	assert_int_equal(auth_create(a, AUTH_ROLE_WRITER, NULL, "w2", secret, sizeof(secret),
				     &info, &err), LS_OK);
	{
		char id2[AUTH_ID_LEN + 1], s2[AUTH_SECRET_LEN + 1];

		snprintf(id2, sizeof(id2), "%s", json_string_value(json_object_get(info, "id")));
		snprintf(s2, sizeof(s2), "%s", secret);
		json_decref(info);
		old_row = json_deep_copy(json_object_get(f.rows, id2));
		assert_int_equal(auth_revoke(a, id2, &changed, &info, &err), LS_OK);
		assert_int_equal(changed, 1);
		assert_non_null(json_object_get(info, "revoked"));
		json_decref(info);
		assert_int_equal(f.revokes, 2);
		assert_int_equal(auth_check(a, s2, strlen(s2), &p), LS_DENIED);

		/* The table replaced: the first writer gone, the second one's
		 * pre-revocation row replayed, one entry that does not parse.
		 * Only the admin authenticates; the admin's last_used stays. */
		list = json_array();
		json_array_append(list, json_object_get(f.rows, admin_id));
		json_array_append(list, old_row);
		json_array_append_new(list, json_pack("{s:s}", "id", "tok_nothex"));
		assert_int_equal(auth_replace(a, list, &skipped, &err), LS_OK);
		assert_int_equal(skipped, 1);
		json_decref(list);
		assert_int_equal(auth_check(a, s2, strlen(s2), &p), LS_DENIED);
		list = auth_list(a);
		assert_int_equal(json_array_size(list), 2);
		assert_null(find(list, id));
		assert_non_null(json_object_get(find(list, id2), "revoked"));
		assert_non_null(json_object_get(find(list, admin_id), "last_used"));
		json_decref(list);
		json_decref(old_row);
	}
	assert_int_equal(auth_check(a, admin, AUTH_SECRET_LEN, &p), LS_OK);
	text = read_in("tokens.json");
	assert_null(strstr(text, id));
	free(text);

	/* Back to the file alone: the remote store is not asked. */
	auth_set_remote(a, NULL);
	assert_int_equal(auth_create(a, AUTH_ROLE_AUDITOR, NULL, NULL, secret, sizeof(secret),
				     &info, &err), LS_OK);
	json_decref(info);
	assert_int_equal(f.creates, 3);
	auth_free(a);
	free(admin);
	json_decref(f.rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
