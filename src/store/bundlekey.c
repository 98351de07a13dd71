/*
 * bundlekey.c - the bucket's bundle key (HKDF of the master key) and the
 * "LSB1" envelope of entry bundles published by an encrypted directory.
 * bundlekey.h has the bytes.
 */
#include "store/bundlekey.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "store/keys.h"

ls_rc bundlekey_derive(const uint8_t master[BUNDLEKEY_LEN], uint8_t key[BUNDLEKEY_LEN])
{
	return ls_hkdf_sha256(master, BUNDLEKEY_LEN, NULL, 0, BUNDLEKEY_INFO,
			      strlen(BUNDLEKEY_INFO), key, BUNDLEKEY_LEN);
}

ls_rc bundlekey_get(const char *dir, uint8_t key[BUNDLEKEY_LEN], struct ls_err *err)
{
	struct keyring *kr;
	ls_rc rc = keys_get(dir, &kr, err);

	if (rc != LS_OK)
		return rc;
	return keys_master_hkdf(kr, BUNDLEKEY_INFO, key, err);
}

size_t bundlekey_aad(const char *origin, uint64_t n, unsigned w, char *out, size_t cap)
{
	int k = snprintf(out, cap, "logseal bundle v1\n%s\n%" PRIu64 "\n%u", origin, n, w);

	return k < 0 || (size_t)k >= cap ? 0 : (size_t)k;
}

static char *aad_alloc(const char *origin, uint64_t n, unsigned w, size_t *len)
{
	size_t cap = strlen(origin) + 64;
	char *a = malloc(cap);

	if (a && !(*len = bundlekey_aad(origin, n, w, a, cap))) {
		free(a);
		a = NULL;
	}
	return a;
}

ls_rc bundlekey_seal(const uint8_t key[BUNDLEKEY_LEN], const char *origin, uint64_t n,
		     unsigned w, const void *pt, size_t len, uint8_t **out, size_t *outlen)
{
	size_t alen;
	char *aad = aad_alloc(origin, n, w, &alen);
	uint8_t *b = malloc(len + BUNDLEKEY_OVERHEAD);
	ls_rc rc;

	if (!aad || !b) {
		free(aad);
		free(b);
		return LS_NOMEM;
	}
	memcpy(b, BUNDLEKEY_MAGIC, 4);
	{
		/* nonce = HMAC(key, "LSB1 nonce" 0 aad 0 SHA-256(pt))[:12]:
		 * the same bundle at the same place gives the same object (a
		 * write-once re-upload compares equal); a nonce repeats only
		 * with the same AAD and plaintext, i.e. the same envelope. */
		size_t ml = 11 + alen + 1 + LS_HASH_LEN;
		uint8_t *m = malloc(ml), mac[LS_HASH_LEN];

		if (!m) {
			free(aad);
			free(b);
			return LS_NOMEM;
		}
		memcpy(m, "LSB1 nonce", 11);
		memcpy(m + 11, aad, alen);
		m[11 + alen] = 0;
		ls_sha256(pt, len, NULL, 0, m + 12 + alen);
		ls_hmac_sha256(key, BUNDLEKEY_LEN, m, ml, mac);
		memcpy(b + 4, mac, LS_AEAD_NONCE_LEN);
		free(m);
	}
	rc = ls_aes256gcm_seal(key, b + 4, aad, alen, pt, len, b + 16, b + 16 + len);
	free(aad);
	if (rc != LS_OK) {
		free(b);
		return rc;
	}
	*out = b;
	*outlen = len + BUNDLEKEY_OVERHEAD;
	return LS_OK;
}

ls_rc bundlekey_open(const uint8_t key[BUNDLEKEY_LEN], const char *origin, uint64_t n,
		     unsigned w, const void *in, size_t len, uint8_t **out, size_t *outlen,
		     struct ls_err *err)
{
	const uint8_t *p = in;
	size_t alen, m;
	char *aad;
	uint8_t *b;
	ls_rc rc;

	if (len < BUNDLEKEY_OVERHEAD || memcmp(p, BUNDLEKEY_MAGIC, 4) != 0)
		return ls_err_set(err, LS_CORRUPT,
				  "bundle %" PRIu64 " (width %u): not an LSB1 envelope", n, w);
	m = len - BUNDLEKEY_OVERHEAD;
	aad = aad_alloc(origin, n, w, &alen);
	b = malloc(m + 1);
	if (!aad || !b) {
		free(aad);
		free(b);
		return ls_err_set(err, LS_NOMEM, "bundle envelope: out of memory");
	}
	rc = ls_aes256gcm_open(key, p + 4, aad, alen, p + 16, m, p + 16 + m, b);
	free(aad);
	if (rc != LS_OK) {
		free(b);
		return ls_err_set(err, LS_TAMPERED,
				  "bundle %" PRIu64 " (width %u): the envelope does not open with "
				  "this bundle key (wrong key, altered bytes or another place)",
				  n, w);
	}
	b[m] = 0;
	*out = b;
	*outlen = m;
	return LS_OK;
}
