/*
 * test_auth.c - the token store: bootstrap writes one admin secret to
 * admin.token and only its hash to tokens.json; created tokens
 * authenticate with their roles and service; a revoked token is refused at
 * once and after reopening; the last admin cannot be revoked; a corrupt
 * store is refused.  Expiry: refused from that time on, naming the token
 * and the time, also after reopening; last_used is noted on the first use,
 * kept to the minute (a second use does not move it), written to the
 * store; partial is kept with the token and only for writers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

static int64_t wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_expiry_used_partial(void **state)
{
	struct auth *a;
	struct auth_principal p;
	struct ls_err err;
	char secret[AUTH_SECRET_LEN + 1], w2[AUTH_SECRET_LEN + 1], id[AUTH_ID_LEN + 1];
	char used1[40], *store;
	struct auth_new nw = { .expires_us = wall() + 1200000, .partial = 1 };
	json_t *info, *list, *o;
	size_t i, len;
	char d2[300], path[400];

	/* a store of its own: test_store leaves a damaged one behind */
	snprintf(d2, sizeof(d2), "%s/b", dir);
	assert_int_equal(mkdir(d2, 0700), 0);
	assert_int_equal(auth_bootstrap(d2, &err), LS_OK);
	assert_int_equal(auth_open(d2, &a, &err), LS_OK);
	/* partial only for writers; an expiry in the past is refused */
	assert_int_equal(auth_create_ex(a, AUTH_ROLE_AUDITOR, NULL, NULL, &nw, secret,
					sizeof(secret), &info, &err), LS_INVALID);
	nw.expires_us = wall() - 1;
	assert_int_equal(auth_create_ex(a, AUTH_ROLE_WRITER, NULL, NULL, &nw, secret,
					sizeof(secret), &info, &err), LS_INVALID);
	nw.expires_us = wall() + 1200000;
	assert_int_equal(auth_create_ex(a, AUTH_ROLE_WRITER, NULL, NULL, &nw, secret,
					sizeof(secret), &info, &err), LS_OK);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(info, "id")));
	assert_true(json_is_true(json_object_get(info, "partial")));
	assert_non_null(json_string_value(json_object_get(info, "expires")));
	assert_null(json_object_get(info, "last_used"));
	json_decref(info);
	assert_int_equal(auth_create(a, AUTH_ROLE_WRITER, NULL, NULL, w2, sizeof(w2), &info, &err),
			 LS_OK);
	assert_null(json_object_get(info, "partial"));
	json_decref(info);

	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_OK);
	assert_int_equal(p.partial, 1);
	assert_string_equal(p.expired, "");
	assert_int_equal(auth_check(a, w2, strlen(w2), &p), LS_OK);
	assert_int_equal(p.partial, 0);
	assert_int_equal(auth_active(a, id), 1);

	/* last_used: set by the first use, not moved by the next one */
	list = auth_list(a);
	used1[0] = 0;
	json_array_foreach(list, i, o)
		if (!strcmp(json_string_value(json_object_get(o, "id")), id))
			snprintf(used1, sizeof(used1), "%s",
				 json_string_value(json_object_get(o, "last_used")));
	json_decref(list);
	assert_int_equal(strlen(used1), 27);
	usleep(20000);
	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_OK);
	list = auth_list(a);
	json_array_foreach(list, i, o)
		if (!strcmp(json_string_value(json_object_get(o, "id")), id))
			assert_string_equal(json_string_value(json_object_get(o, "last_used")),
					    used1);
	json_decref(list);
	snprintf(path, sizeof(path), "%s/tokens.json", d2);
	assert_int_equal(fs_read_file(path, 1 << 20, &store, &len, NULL), LS_OK);
	assert_null(strstr(store, used1));	/* not by the request */
	free(store);
	assert_int_equal(auth_save_used(a, &err), LS_OK);
	assert_int_equal(fs_read_file(path, 1 << 20, &store, &len, NULL), LS_OK);
	assert_non_null(strstr(store, used1));	/* written by the saver */
	free(store);

	/* past its expiry: refused, naming the token and the time */
	usleep(1300000);
	memset(&p, 'x', sizeof(p));
	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_DENIED);
	assert_string_equal(p.id, id);
	assert_int_equal(strlen(p.expired), 27);
	assert_int_equal(p.roles, 0);
	assert_int_equal(auth_active(a, id), 0);
	/* an unknown secret names nothing */
	assert_int_equal(auth_check(a, "lsk_nope", 8, &p), LS_DENIED);
	assert_string_equal(p.id, "");
	assert_string_equal(p.expired, "");
	auth_free(a);

	assert_int_equal(auth_open(d2, &a, &err), LS_OK);
	assert_int_equal(auth_check(a, secret, strlen(secret), &p), LS_DENIED);
	assert_string_equal(p.id, id);
	assert_int_equal(auth_check(a, w2, strlen(w2), &p), LS_OK);
	list = auth_list(a);
	json_array_foreach(list, i, o)
		if (!strcmp(json_string_value(json_object_get(o, "id")), id)) {
			assert_string_equal(json_string_value(json_object_get(o, "last_used")),
					    used1);
			assert_true(json_is_true(json_object_get(o, "partial")));
		}
	json_decref(list);
	auth_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_expiry_used_partial),
	};
	return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
