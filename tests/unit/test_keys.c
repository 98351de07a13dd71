/*
 * test_keys.c - AES-256-GCM against the published GCM test vector, the
 * on-disk blob form, and keys.c: master key sources, the key check,
 * file mode refusal, data key wrapping and re-wrapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crypto.h"
#include "store/keys.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(h), 2 * n);
	assert_int_equal(ls_unhex(h, 2 * n, out, n), LS_OK);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test case
 * 16 (AES-256, 96-bit IV, 20 bytes of AAD, 60 bytes of plaintext). */
static void test_gcm_vector16(void **state)
{
	uint8_t key[32], iv[12], aad[20], pt[60], ct[60], tag[16], out[60], t[16];

	(void)state;
	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, 32);
	unhex("cafebabefacedbaddecaf888", iv, 12);
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, 20);
	unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", pt, 60);
	unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", ct, 60);
	unhex("76fc6ece0f4e1768cddf8853bb2d551b", tag, 16);

	assert_int_equal(ls_aes256gcm_seal(key, iv, aad, 20, pt, 60, out, t), LS_OK);
	assert_memory_equal(out, ct, 60);
	assert_memory_equal(t, tag, 16);
	assert_int_equal(ls_aes256gcm_open(key, iv, aad, 20, ct, 60, tag, out), LS_OK);
	assert_memory_equal(out, pt, 60);

	/* Any change to ciphertext, tag or associated data is refused. */
	ct[7] ^= 1;
	assert_int_equal(ls_aes256gcm_open(key, iv, aad, 20, ct, 60, tag, out), LS_TAMPERED);
	ct[7] ^= 1;
	tag[15] ^= 0x80;
	assert_int_equal(ls_aes256gcm_open(key, iv, aad, 20, ct, 60, tag, out), LS_TAMPERED);
	tag[15] ^= 0x80;
	assert_int_equal(ls_aes256gcm_open(key, iv, aad, 19, ct, 60, tag, out), LS_TAMPERED);
}

static void test_blob(void **state)
{
	uint8_t key[32], a[64 + LS_AEAD_OVERHEAD], b[64 + LS_AEAD_OVERHEAD], out[64];
	const char msg[] = "a record that must not be read on the disk";
	size_t n = sizeof(msg);

	(void)state;
	assert_int_equal(ls_random(key, sizeof(key)), LS_OK);
	assert_int_equal(ls_aead_seal_blob(key, "pos1", 4, msg, n, a), LS_OK);
	assert_int_equal(ls_aead_seal_blob(key, "pos1", 4, msg, n, b), LS_OK);
	/* Fresh random nonces: the same message never gives the same bytes. */
	assert_memory_not_equal(a, b, LS_AEAD_NONCE_LEN);
	assert_null(memmem(a, n + LS_AEAD_OVERHEAD, "record", 6));
	assert_int_equal(ls_aead_open_blob(key, "pos1", 4, a, n + LS_AEAD_OVERHEAD, out), LS_OK);
	assert_memory_equal(out, msg, n);
	/* Bound to its position. */
	assert_int_equal(ls_aead_open_blob(key, "pos2", 4, a, n + LS_AEAD_OVERHEAD, out),
			 LS_TAMPERED);
	assert_int_equal(ls_aead_open_blob(key, "pos1", 4, a, LS_AEAD_OVERHEAD - 1, out),
			 LS_CORRUPT);
}

struct fx {
	char root[PATH_MAX];
	char dir[PATH_MAX + 8];
	char keyfile[PATH_MAX + 16];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/test_keys.XXXXXX");
	if (!f || !mkdtemp(f->root))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/d", f->root);
	snprintf(f->keyfile, sizeof(f->keyfile), "%s/d.master.key", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[PATH_MAX + 16];

	keys_forget(f->dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void write_key(const char *path, const char *b64, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b64, strlen(b64)), (ssize_t)strlen(b64));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_file_source(void **state)
{
	struct fx *f = *state;
	struct keys_source src = { KEYS_SRC_FILE, f->keyfile };
	struct keyring *kr;
	struct ls_err err = { "" };
	uint8_t k1[32], k2[32], again[32], mk[32];
	uint32_t id = 0;
	struct stat st;
	char *json;
	FILE *fp;
	size_t len;
	char path[PATH_MAX + 64];

	assert_int_equal(keys_init(f->dir, &src, 1, &err), LS_OK);
	assert_int_equal(stat(f->keyfile, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(keys_init(f->dir, &src, 1, &err), LS_EXISTS);

	/* master.json names the source and never holds the key. */
	assert_int_equal(keys_master_load(&src, 0, mk, &err), LS_OK);
	snprintf(path, sizeof(path), "%s/keys/master.json", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	json = calloc(1, 4096);
	len = fread(json, 1, 4095, fp);
	fclose(fp);
	assert_true(len > 0);
	assert_non_null(strstr(json, "\"source\":\"file\""));
	assert_non_null(strstr(json, f->keyfile));
	{
		char b64[64];
		ls_b64_encode(mk, 32, b64, sizeof(b64));
		assert_null(strstr(json, b64));
	}
	free(json);

	assert_int_equal(keys_get(f->dir, &kr, &err), LS_OK);
	assert_int_equal(keys_count(kr), 1);
	assert_int_equal(keys_data_key(kr, 1, k1, &err), LS_OK);
	assert_int_equal(keys_new_data_key(kr, &id, k2, &err), LS_OK);
	assert_int_equal(id, 2);
	assert_memory_not_equal(k1, k2, 32);

	/* A fresh process (cache dropped) unwraps the same keys. */
	keys_forget(f->dir);
	assert_int_equal(keys_get(f->dir, &kr, &err), LS_OK);
	assert_int_equal(keys_data_key(kr, 2, again, &err), LS_OK);
	assert_memory_equal(again, k2, 32);
	assert_int_equal(keys_data_key(kr, 3, again, &err), LS_NOTFOUND);

	/* Group- or world-readable key files are refused. */
	keys_forget(f->dir);
	assert_int_equal(chmod(f->keyfile, 0640), 0);
	assert_int_equal(keys_get(f->dir, &kr, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "readable by group or others"));
	assert_int_equal(chmod(f->keyfile, 0600), 0);

	/* A wrong key fails the key check: a clear error, nothing unwrapped. */
	snprintf(path, sizeof(path), "%s/saved.key", f->root);
	rename(f->keyfile, path);
	write_key(f->keyfile, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0600);
	assert_int_equal(keys_get(f->dir, &kr, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "wrong master key"));
	/* Not a key at all. */
	write_key(f->keyfile, "hello\n", 0600);
	assert_int_equal(keys_get(f->dir, &kr, &err), LS_INVALID);
	/* Missing. */
	unlink(f->keyfile);
	assert_int_equal(keys_get(f->dir, &kr, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "master key file"));
	rename(path, f->keyfile);
	assert_int_equal(keys_get(f->dir, &kr, &err), LS_OK);
	assert_int_equal(keys_derive(kr, "index", k1, &err), LS_OK);

	/* Re-wrap under a key from a command; the data keys stay the same. */
	{
		struct keys_source cmd = { KEYS_SRC_COMMAND,
					   "printf 'MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=\\n'" };
		uint8_t d1[32];

		assert_int_equal(keys_rewrap(f->dir, &cmd, 0, &err), LS_OK);
		keys_forget(f->dir);
		unlink(f->keyfile); /* the old master key is no longer needed */
		assert_int_equal(keys_get(f->dir, &kr, &err), LS_OK);
		assert_int_equal(keys_data_key(kr, 2, again, &err), LS_OK);
		assert_memory_equal(again, k2, 32);
		assert_int_equal(keys_derive(kr, "index", d1, &err), LS_OK);
		assert_memory_equal(d1, k1, 32);
		assert_non_null(strstr(keys_source_desc(kr), "command"));
	}
	/* And to the environment. */
	{
		struct keys_source env = { KEYS_SRC_ENV, "TEST_KEYS_NEW" };

		setenv("TEST_KEYS_NEW", "ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg=", 1);
		assert_int_equal(keys_rewrap(f->dir, &env, 0, &err), LS_OK);
		keys_forget(f->dir);
		unsetenv(KEYS_ENV);
		assert_int_equal(keys_get(f->dir, &kr, &err), LS_DENIED);
		assert_non_null(strstr(err.msg, KEYS_ENV));
		setenv(KEYS_ENV, "ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg=", 1);
		assert_int_equal(keys_get(f->dir, &kr, &err), LS_OK);
		assert_int_equal(keys_data_key(kr, 2, again, &err), LS_OK);
		assert_memory_equal(again, k2, 32);
		unsetenv(KEYS_ENV);
	}
}

static void test_command_failure(void **state)
{
	struct fx *f = *state;
	struct keys_source src = { KEYS_SRC_COMMAND, "sh -c 'exit 3'" };
	struct ls_err err = { "" };

	assert_int_not_equal(keys_init(f->dir, &src, 0, &err), LS_OK);
	assert_non_null(strstr(err.msg, "failed"));
	/* Nothing marks the directory as encrypted after a failed init. */
	{
		struct keyring *kr;
		assert_int_equal(keys_get(f->dir, &kr, &err), LS_NOTFOUND);
	}
}

/* The command is a program and its arguments, never shell syntax: ';',
 * '$(...)', '|' and '>' reach the program as literal text. */
static void test_command_no_shell(void **state)
{
	static const char b64[] = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=";
	struct fx *f = *state;
	char cmd[PATH_MAX + 200], mark[PATH_MAX + 16];
	struct keys_source src = { KEYS_SRC_COMMAND, cmd };
	struct ls_err err = { "" };
	uint8_t key[KEYS_KEY_LEN];
	static const char *const injections[] = { "printf %s %s; touch %s",
						  "printf %s %s$(touch${IFS}%s)",
						  "printf %s %s`touch %s`",
						  "printf %s %s && touch %s",
						  "printf %s %s | tee %s",
						  "printf %s %s > %s" };
	size_t i;

	snprintf(mark, sizeof(mark), "%s/pwned", f->root);
	for (i = 0; i < sizeof(injections) / sizeof(injections[0]); i++) {
		/* The format strings are constant; -Wformat-nonliteral aside. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(cmd, sizeof(cmd), injections[i], "%s", b64, mark);
#pragma GCC diagnostic pop
		assert_int_not_equal(keys_master_load(&src, 0, key, &err), LS_OK);
		assert_int_equal(access(mark, F_OK), -1);
	}

	/* Quotes group words; the program gets them without the quotes. */
	snprintf(cmd, sizeof(cmd), "printf '%%s\\n' \"%s\"", b64);
	assert_int_equal(keys_master_load(&src, 0, key, &err), LS_OK);
	assert_memory_equal(key, "12345678901234567890123456789012", KEYS_KEY_LEN);
	snprintf(cmd, sizeof(cmd), "\t printf   %%s  %s\n", b64);
	assert_int_equal(keys_master_load(&src, 0, key, &err), LS_OK);
	/* Outside quotes a backslash takes the next character literally:
	 * "%s\n" unquoted is the format "%sn", whose output is no key. */
	snprintf(cmd, sizeof(cmd), "printf %%s\\n %s", b64);
	assert_int_equal(keys_master_load(&src, 0, key, &err), LS_INVALID);
	/* One argument with a space in it: printf prints it whole. */
	snprintf(cmd, sizeof(cmd), "printf \"%%s %%s\" '%s' \"\\\"x\"", b64);
	assert_int_not_equal(keys_master_load(&src, 0, key, &err), LS_OK);
	assert_non_null(strstr(err.msg, "output of the master key command"));

	/* Malformed commands are refused before anything runs. */
	snprintf(cmd, sizeof(cmd), "printf '%%s %s", b64);
	assert_int_equal(keys_master_load(&src, 0, key, &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "unclosed quote"));
	snprintf(cmd, sizeof(cmd), "printf %s \\", b64);
	assert_int_equal(keys_master_load(&src, 0, key, &err), LS_INVALID);
	snprintf(cmd, sizeof(cmd), " \t ");
	assert_int_equal(keys_master_load(&src, 0, key, &err), LS_INVALID);
	/* A program that does not exist. */
	snprintf(cmd, sizeof(cmd), "%s/no-such-program", f->root);
	assert_int_equal(keys_master_load(&src, 0, key, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "cannot run"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_vector16),
		cmocka_unit_test(test_blob),
		cmocka_unit_test_setup_teardown(test_file_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_no_shell, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
