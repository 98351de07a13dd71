/*
 * test_bundlekey.c - HKDF-SHA256 against RFC 5869's vectors (cases 1 and 3),
 * the bundle key of a data directory equal to HKDF(master key, "logseal
 * bucket bundles v1"), and the "LSB1" envelope: it opens to the exact bundle;
 * sealing is deterministic per place and bytes; a wrong key, any flipped byte (magic, nonce, ciphertext, tag), another
 * index N, width W or origin in the AAD, and a truncated envelope all fail.
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

#include "base/crypto.h"
#include "store/bundlekey.h"
#include "store/keys.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(ls_unhex(h, strlen(h), out, n), LS_OK);
}

static void test_hkdf_rfc5869(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
	size_t i;

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	/* RFC 5869 A.1 */
	assert_int_equal(ls_hkdf_sha256(ikm, 22, salt, 13, info, 10, okm, 42), LS_OK);
	unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	      "34007208d5b887185865", want, 42);
	assert_memory_equal(okm, want, 42);
	/* RFC 5869 A.3: no salt, no info */
	assert_int_equal(ls_hkdf_sha256(ikm, 22, NULL, 0, "", 0, okm, 42), LS_OK);
	unhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	      "9d201395faa4b61a96c8", want, 42);
	assert_memory_equal(okm, want, 42);
}

static void test_dir_key(void **state)
{
	char dir[] = "/tmp/test_bundlekey.XXXXXX", kf[128], cmd[160];
	const char *b64 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n";
	struct keys_source src = { KEYS_SRC_FILE, kf };
	struct ls_err err = { "" };
	uint8_t master[32], want[32], got[32];
	FILE *f;
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(kf, sizeof(kf), "%s.key", dir);
	f = fopen(kf, "w");
	assert_non_null(f);
	fputs(b64, f);
	fclose(f);
	assert_int_equal(chmod(kf, 0600), 0);
	assert_int_equal(keys_init(dir, &src, 0, &err), LS_OK);
	assert_int_equal(bundlekey_get(dir, got, &err), LS_OK);
	for (i = 0; i < 32; i++)
		master[i] = (uint8_t)(i + 1);
	assert_int_equal(ls_hkdf_sha256(master, 32, NULL, 0, "logseal bucket bundles v1", 25,
					want, 32), LS_OK);
	assert_memory_equal(got, want, 32);
	assert_int_equal(bundlekey_derive(master, got), LS_OK);
	assert_memory_equal(got, want, 32);
	assert_memory_not_equal(got, master, 32);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, kf);
	assert_int_equal(system(cmd), 0);
	/* not encrypted: LS_NOTFOUND */
	assert_non_null(mkdtemp(strcpy(dir, "/tmp/test_bundlekey.XXXXXX")));
	assert_int_equal(bundlekey_get(dir, got, &err), LS_NOTFOUND);
	rmdir(dir);
}

static void test_envelope(void **state)
{
	static const char bundle[] = "\x00\x05" "hello\x00\x03" "abc";
	const char *origin = "example.com/log";
	uint8_t key[32], other[32], *env, *pt;
	struct ls_err err = { "" };
	size_t n, m, i;
	char aad[128];

	(void)state;
	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	assert_int_equal(bundlekey_aad(origin, 12, 256, aad, sizeof(aad)),
			 strlen("logseal bundle v1\nexample.com/log\n12\n256"));
	assert_string_equal(aad, "logseal bundle v1\nexample.com/log\n12\n256");
	assert_int_equal(bundlekey_seal(key, origin, 12, 256, bundle, sizeof(bundle) - 1, &env,
					&n), LS_OK);
	assert_int_equal(n, sizeof(bundle) - 1 + BUNDLEKEY_OVERHEAD);
	assert_memory_equal(env, "LSB1", 4);
	/* the plaintext does not show */
	assert_null(memmem(env, n, "hello", 5));
	assert_int_equal(bundlekey_open(key, origin, 12, 256, env, n, &pt, &m, &err), LS_OK);
	assert_int_equal(m, sizeof(bundle) - 1);
	assert_memory_equal(pt, bundle, m);
	free(pt);
	assert_int_equal(bundlekey_open(other, origin, 12, 256, env, n, &pt, &m, &err),
			 LS_TAMPERED);
	assert_int_equal(bundlekey_open(key, origin, 13, 256, env, n, &pt, &m, &err),
			 LS_TAMPERED);
	assert_int_equal(bundlekey_open(key, origin, 12, 255, env, n, &pt, &m, &err),
			 LS_TAMPERED);
	assert_int_equal(bundlekey_open(key, "example.com/log2", 12, 256, env, n, &pt, &m, &err),
			 LS_TAMPERED);
	assert_non_null(strstr(err.msg, "bundle 12"));
	for (i = 0; i < n; i++) {
		env[i] ^= 0x01;
		assert_int_not_equal(bundlekey_open(key, origin, 12, 256, env, n, &pt, &m, &err),
				     LS_OK);
		env[i] ^= 0x01;
	}
	assert_int_equal(bundlekey_open(key, origin, 12, 256, env, n - 1, &pt, &m, &err),
			 LS_TAMPERED);
	assert_int_equal(bundlekey_open(key, origin, 12, 256, env, 20, &pt, &m, &err),
			 LS_CORRUPT);
	/* sealing is deterministic: the same bundle at the same place gives
	 * the same bytes; another place or another byte another nonce */
	{
		uint8_t *env2;
		size_t n2;

		assert_int_equal(bundlekey_seal(key, origin, 12, 256, bundle, sizeof(bundle) - 1,
						&env2, &n2), LS_OK);
		assert_memory_equal(env, env2, n);
		free(env2);
		assert_int_equal(bundlekey_seal(key, origin, 13, 256, bundle, sizeof(bundle) - 1,
						&env2, &n2), LS_OK);
		assert_memory_not_equal(env + 4, env2 + 4, 12);
		free(env2);
		assert_int_equal(bundlekey_seal(key, origin, 12, 256, bundle, sizeof(bundle) - 2,
						&env2, &n2), LS_OK);
		assert_memory_not_equal(env + 4, env2 + 4, 12);
		free(env2);
	}
	free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_dir_key),
		cmocka_unit_test(test_envelope),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
