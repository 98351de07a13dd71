/*
 * test_auth.c - the token store: bootstrap writes one admin secret to
 * admin.token and only its hash to tokens.json; created tokens
 * authenticate with their roles and service; a revoked token is refused at
 * once and after reopening; the last admin cannot be revoked; a corrupt
 * store is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/auth.h"
#include "base/fsutil.h"

static char dir[] = "/tmp/test_auth.XXXXXX";

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

static void read_in(const char *name, char **text)
{
	char path[256];
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fs_read_file(path, 1 << 20, text, &len, NULL), LS_OK);
}

static void test_store(void **state)
{
	struct auth *a;
	struct auth_principal p;
	struct ls_err err;
	char *admin, *store, secret[AUTH_SECRET_LEN + 1], id[AUTH_ID_LEN + 1], path[256];
	json_t *info;
	int changed;
	struct stat st;

	assert_int_equal(auth_bootstrap(dir, &err), LS_OK);
	assert_int_equal(auth_bootstrap(dir, &err), LS_EXISTS);
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	read_in("admin.token", &admin);
	assert_int_equal(strlen(admin), AUTH_SECRET_LEN + 1);
	assert_memory_equal(admin, "lsk_", 4);
	admin[AUTH_SECRET_LEN] = 0;
	read_in("tokens.json", &store);
	assert_null(strstr(store, admin));
	free(store);

	assert_int_equal(auth_open(dir, &a, &err), LS_OK);
	assert_int_equal(auth_check(a, admin, strlen(admin), &p), LS_OK);
	assert_int_equal(p.roles, AUTH_ROLE_ADMIN | AUTH_ROLE_AUDITOR);
	assert_int_equal(auth_check(a, admin, strlen(admin) - 1, &p), LS_DENIED);

	assert_int_equal(auth_create(a, AUTH_ROLE_WRITER, "billing", "w", secret, sizeof(secret),
				     &info, &err), LS_OK);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(info, "id")));
	assert_null(json_object_get(info, "token"));
	json_decref(info);
	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_OK);
	assert_string_equal(p.id, id);
	assert_string_equal(p.service, "billing");
	assert_int_equal(p.roles, AUTH_ROLE_WRITER);
	assert_int_equal(auth_create(a, AUTH_ROLE_AUDITOR, "x", NULL, secret + 0, sizeof(secret),
				     &info, &err), LS_INVALID);
	assert_int_equal(auth_create(a, 0, NULL, NULL, secret, sizeof(secret), &info, &err),
			 LS_INVALID);

	/* A fresh writer for the revocation checks. */
	assert_int_equal(auth_create(a, AUTH_ROLE_WRITER, NULL, NULL, secret, sizeof(secret),
				     &info, &err), LS_OK);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(info, "id")));
	json_decref(info);
	assert_int_equal(auth_revoke(a, id, &changed, &info, &err), LS_OK);
	assert_int_equal(changed, 1);
	assert_non_null(json_object_get(info, "revoked"));
	json_decref(info);
	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_DENIED);
	assert_int_equal(auth_revoke(a, "tok_0000000000000000", &changed, &info, &err),
			 LS_NOTFOUND);
	assert_int_equal(auth_check(a, admin, strlen(admin), &p), LS_OK);
	assert_int_equal(auth_revoke(a, p.id, &changed, &info, &err), LS_DENIED);
	auth_free(a);

	/* Reopened: same state. */
	assert_int_equal(auth_open(dir, &a, &err), LS_OK);
	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_DENIED);
	assert_int_equal(auth_check(a, admin, strlen(admin), &p), LS_OK);
	info = auth_list(a);
	assert_int_equal(json_array_size(info), 3);
	json_decref(info);
	auth_free(a);
	read_in("tokens.json", &store);
	assert_null(strstr(store, secret));
	free(store);

	/* A damaged store is refused, not half-loaded. */
	snprintf(path, sizeof(path), "%s/tokens.json", dir);
	assert_int_equal(fs_write_file(path, "{\"version\":1,\"tokens\":[{\"id\":\"x\"}]}", 35,
				       0600, 0, NULL), LS_OK);
	assert_int_equal(auth_open(dir, &a, &err), LS_CORRUPT);
	free(admin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store),
	};
	return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
