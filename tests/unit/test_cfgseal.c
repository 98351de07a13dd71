/*
 * test_cfgseal.c - configuration seals and the checkpoint index: a sealed
 * text opens to exactly the text written; any byte changed (content, white
 * space, the mac itself), another file name or another key fails; an
 * unsealed file is told apart; in a data directory the file helpers refuse
 * an edited or unsealed file naming it, unless adopt mode is on; index lines
 * are chained, so a removed or edited line is named, and a torn last line
 * is skipped (and cut with repair).
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

#include "store/cfgseal.h"
#include "store/cpindex.h"
#include "base/crypto.h"
#include "base/fsutil.h"
#include "store/log.h"

static char dir[] = "/tmp/test_cfgseal.XXXXXX";

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

static void test_seal_bytes(void **state)
{
	uint8_t k1[32], k2[32];
	const char *text = "{\n \"roles\": [\"writer\"],\n \"v\": 1\n}";
	char *f, *copy;
	size_t n, len;

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	assert_int_equal(cfgseal_seal(k1, "tokens.json", text, strlen(text), &f, &n), LS_OK);
	assert_int_equal(strncmp(f, "{\"mac\":\"", 8), 0);
	assert_int_equal(n, strlen(f));

	/* opens to exactly the text */
	copy = strdup(f);
	len = n;
	assert_int_equal(cfgseal_open(k1, "tokens.json", copy, &len), LS_OK);
	assert_int_equal(len, strlen(text));
	assert_string_equal(copy, text);
	free(copy);

	/* another key, another name */
	copy = strdup(f);
	len = n;
	assert_int_equal(cfgseal_open(k2, "tokens.json", copy, &len), LS_TAMPERED);
	free(copy);
	copy = strdup(f);
	len = n;
	assert_int_equal(cfgseal_open(k1, "rules.json", copy, &len), LS_TAMPERED);
	free(copy);

	/* every single byte after the seal, and a hex digit of the seal */
	for (size_t i = 8; i < n; i++) {
		if (i == 8 + 64 || i == 8 + 64 + 1)
			continue; /* the framing: changing it unseals (below) */
		copy = strdup(f);
		copy[i] = copy[i] == 'a' ? 'b' : 'a';
		len = n;
		assert_int_not_equal(cfgseal_open(k1, "tokens.json", copy, &len), LS_OK);
		free(copy);
	}
	/* a file without the seal in front */
	copy = strdup(text);
	len = strlen(text);
	assert_int_equal(cfgseal_open(k1, "tokens.json", copy, &len), LS_NOTFOUND);
	assert_string_equal(copy, text);
	free(copy);
	free(f);

	/* the empty object, and a non-object */
	assert_int_equal(cfgseal_seal(k1, "x.json", "{}", 2, &f, &n), LS_OK);
	len = n;
	assert_int_equal(cfgseal_open(k1, "x.json", f, &len), LS_OK);
	assert_string_equal(f, "{}");
	free(f);
	assert_int_equal(cfgseal_seal(k1, "x.json", "[1]", 3, &f, &n), LS_INVALID);
}

static void test_files(void **state)
{
	char path[256], *data = NULL;
	struct ls_err err = { "" };
	size_t len;
	const char *text = "{\"tokens\":[],\"version\":1}";

	/* no key in a bare directory: files pass through as they are */
	snprintf(path, sizeof(path), "%s/tokens.json", dir);
	assert_int_equal(cfgseal_write_file(dir, CFGSEAL_TOKENS, path, text, strlen(text), 0600,
					    &err), LS_OK);
	assert_int_equal(cfgseal_read_file(dir, CFGSEAL_TOKENS, path, 1 << 20, &data, &len, &err),
			 LS_OK);
	assert_string_equal(data, text);
	free(data);

	/* a data directory: sealed with the signing key's derived key */
	assert_int_equal(log_init(dir, "cfgseal.test/log", &err), LS_OK);
	assert_int_equal(cfgseal_read_file(dir, CFGSEAL_TOKENS, path, 1 << 20, &data, &len, &err),
			 LS_TAMPERED);
	assert_non_null(strstr(err.msg, "tokens.json"));
	assert_non_null(strstr(err.msg, "seal-config"));
	cfgseal_set_adopt(1);
	assert_int_equal(cfgseal_read_file(dir, CFGSEAL_TOKENS, path, 1 << 20, &data, &len, &err),
			 LS_OK);
	free(data);
	cfgseal_set_adopt(0);
	assert_int_equal(cfgseal_write_file(dir, CFGSEAL_TOKENS, path, text, strlen(text), 0600,
					    &err), LS_OK);
	assert_int_equal(cfgseal_read_file(dir, CFGSEAL_TOKENS, path, 1 << 20, &data, &len, &err),
			 LS_OK);
	assert_string_equal(data, text);
	free(data);
	/* sealed for one purpose, read for another: another key */
	assert_int_equal(cfgseal_read_file(dir, CFGSEAL_ALERTS, path, 1 << 20, &data, &len, &err),
			 LS_TAMPERED);
	/* edited */
	assert_int_equal(fs_read_file(path, 1 << 20, &data, &len, &err), LS_OK);
	data[len - 3] = '2';
	assert_int_equal(fs_write_file(path, data, len, 0600, 0, &err), LS_OK);
	free(data);
	assert_int_equal(cfgseal_read_file(dir, CFGSEAL_TOKENS, path, 1 << 20, &data, &len, &err),
			 LS_TAMPERED);
	assert_non_null(strstr(err.msg, "does not match"));
}

static void test_cpindex(void **state)
{
	char path[256], *data = NULL;
	struct ls_err err = { "" };
	struct cpindex_ent *v = NULL, e[3];
	uint8_t k[32], k2[32];
	size_t n = 0, len;
	FILE *f;

	/* log_init (test_files) wrote the first line */
	assert_int_equal(cfgseal_key(dir, CFGSEAL_CHECKPOINTS, k, &err), LS_OK);
	assert_int_equal(cpindex_load(dir, k, 0, &v, &n, &err), LS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].size, 0);
	free(v);
	memset(e, 0, sizeof(e));
	e[1].size = 5;
	e[1].root[0] = 5;
	e[2].size = 9;
	e[2].root[0] = 9;
	assert_int_equal(cpindex_append(dir, k, 0, 5, e[1].root, &err), LS_OK);
	assert_int_equal(cpindex_append(dir, k, 5, 9, e[2].root, &err), LS_OK);
	assert_int_equal(cpindex_load(dir, k, 0, &v, &n, &err), LS_OK);
	assert_int_equal(n, 3);
	assert_int_equal(v[2].size, 9);
	assert_int_equal(v[2].root[0], 9);
	free(v);
	/* another key */
	memset(k2, 7, sizeof(k2));
	assert_int_equal(cpindex_load(dir, k2, 0, &v, &n, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "line 1"));

	/* the middle line removed */
	snprintf(path, sizeof(path), "%s/" CPINDEX_FILE, dir);
	assert_int_equal(fs_read_file(path, 1 << 20, &data, &len, &err), LS_OK);
	{
		char *l2 = strchr(data, '\n') + 1, *l3 = strchr(l2, '\n') + 1, *cut = malloc(len);
		size_t a = (size_t)(l2 - data);

		memcpy(cut, data, a);
		memcpy(cut + a, l3, len - (size_t)(l3 - data));
		assert_int_equal(fs_write_file(path, cut, a + len - (size_t)(l3 - data), 0644, 0,
					       &err), LS_OK);
		free(cut);
	}
	assert_int_equal(cpindex_load(dir, k, 0, &v, &n, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "line 2"));
	assert_non_null(strstr(err.msg, "removed"));
	/* a size edited */
	data[0] = '1';
	assert_int_equal(fs_write_file(path, data, len, 0644, 0, &err), LS_OK);
	assert_int_equal(cpindex_load(dir, k, 0, &v, &n, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "line 1"));
	data[0] = '0';
	/* a torn last append: skipped, and cut with repair */
	assert_int_equal(fs_write_file(path, data, len, 0644, 0, &err), LS_OK);
	free(data);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("12 9 AAAA", f);
	fclose(f);
	assert_int_equal(cpindex_load(dir, k, 0, &v, &n, &err), LS_OK);
	assert_int_equal(n, 3);
	free(v);
	assert_int_equal(cpindex_load(dir, k, 1, &v, &n, &err), LS_OK);
	free(v);
	assert_int_equal(fs_read_file(path, 1 << 20, &data, &len, &err), LS_OK);
	assert_int_equal(data[len - 1], '\n');
	free(data);
	/* rewritten whole */
	assert_int_equal(cpindex_write_all(dir, k, e, 3, &err), LS_OK);
	assert_int_equal(cpindex_load(dir, k, 0, &v, &n, &err), LS_OK);
	assert_int_equal(n, 3);
	free(v);
}

/* An index line is accepted only in the form cpindex_append writes.  The
 * parser once took any white space between the fields (sscanf) but checked
 * the HMAC over the text before the line's last space: with a tab before
 * the HMAC, the root was outside what the HMAC covered; and other spellings
 * of the same sizes ("+5", "05", "5  7<root>") made lines the writer never
 * makes.  Each line below carries the right HMAC of the text the old parser
 * checked, so only the form refuses it. */
static void test_cpindex_strict(void **state)
{
	/* the fields before the root, and the separator after it */
	static const char *const bad[][2] = {
		{ "5 0 ", "\t" },	/* HMAC over "5 0": the root unsealed */
		{ "+5 0 ", " " },
		{ "05 0 ", " " },
		{ "5  0 ", " " },
		{ " 5 0 ", " " },
	};
	char sub[256], path[512], b64[LS_B64_LEN(LS_HASH_LEN) + 1], hex[2 * CFGSEAL_MAC_LEN + 1];
	char line[256], body[256];
	struct ls_err err = { "" };
	struct cpindex_ent e = { 0 }, *v = NULL;
	uint8_t k[32], mac[CFGSEAL_MAC_LEN], root[LS_HASH_LEN];
	size_t n = 0;
	FILE *f;

	memset(k, 3, sizeof(k));
	memset(root, 0xab, sizeof(root));
	ls_b64_encode(root, sizeof(root), b64, sizeof(b64));
	snprintf(sub, sizeof(sub), "%s/strict", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/" CPINDEX_FILE, sub);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *sp;

		assert_int_equal(cpindex_write_all(sub, k, &e, 1, &err), LS_OK);
		snprintf(line, sizeof(line), "%s%s%s", bad[i][0], b64, bad[i][1]);
		/* the old parser's MAC: over the text before the last space */
		sp = strrchr(line, ' ');
		snprintf(body, sizeof(body), "%.*s", (int)(sp - line), line);
		cfgseal_mac(k, CPINDEX_FILE, body, strlen(body), mac);
		ls_hex(mac, sizeof(mac), hex);
		f = fopen(path, "a");
		assert_non_null(f);
		fprintf(f, "%s%s\n", line, hex);
		fclose(f);
		assert_int_equal(cpindex_load(sub, k, 0, &v, &n, &err), LS_TAMPERED);
		assert_non_null(strstr(err.msg, "line 2"));
	}
	/* the writer's own form still loads */
	assert_int_equal(cpindex_write_all(sub, k, &e, 1, &err), LS_OK);
	assert_int_equal(cpindex_append(sub, k, 0, 5, root, &err), LS_OK);
	assert_int_equal(cpindex_load(sub, k, 0, &v, &n, &err), LS_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(v[1].root, root, sizeof(root));
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_bytes),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_cpindex),
		cmocka_unit_test(test_cpindex_strict),
	};
	return cmocka_run_group_tests_name("cfgseal", tests, setup, teardown);
}
