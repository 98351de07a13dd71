/* crypto.c - SHA-256, HMAC, Ed25519, AES-256-GCM, RNG, base64, hex (see crypto.h). */
#include "base/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

static __thread EVP_MD_CTX *sha_ctx;
static EVP_MD *sha_md;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha_key;	/* frees a thread's sha_ctx when it exits */

static void sha_ctx_free(void *c)
{
	EVP_MD_CTX_free(c);
}

static void sha_init(void)
{
	sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&sha_key, sha_ctx_free) != 0)
		sha_key = (pthread_key_t)-1;
}

void ls_sha256(const void *a, size_t an, const void *b, size_t bn, uint8_t out[LS_HASH_LEN])
{
	unsigned int len = 0;

	pthread_once(&sha_once, sha_init);
	if (!sha_ctx) {
		sha_ctx = EVP_MD_CTX_new();
		if (sha_ctx && sha_key != (pthread_key_t)-1)
			pthread_setspecific(sha_key, sha_ctx);
	}
	/* Out-of-memory here leaves no way to return a hash: fall back to the
	 * one-shot API, which allocates internally and is simply slower. */
	if (!sha_ctx || !sha_md) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_DigestInit_ex(c, EVP_sha256(), NULL);
		EVP_DigestUpdate(c, a, an);
		if (bn)
			EVP_DigestUpdate(c, b, bn);
		EVP_DigestFinal_ex(c, out, &len);
		EVP_MD_CTX_free(c);
		return;
	}
	EVP_DigestInit_ex2(sha_ctx, sha_md, NULL);
	EVP_DigestUpdate(sha_ctx, a, an);
	if (bn)
		EVP_DigestUpdate(sha_ctx, b, bn);
	EVP_DigestFinal_ex(sha_ctx, out, &len);
}

void ls_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
		    uint8_t out[LS_HASH_LEN])
{
	unsigned int len = LS_HASH_LEN;

	HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len);
}

/* One cipher context per thread, reset by every call: the key schedule is
 * redone each time (cheap with AES-NI), the allocation is not. */
/*
 * One AES-GCM context per thread, remembering the key it was set up with and
 * for which direction: records of one segment share a data key, so the key
 * schedule and GHASH tables are built once per key, not once per record.
 * The key copy is wiped when the key changes and when the thread ends.
 */
struct gcm_state {
	EVP_CIPHER_CTX *ctx;
	uint8_t key[LS_AEAD_KEY_LEN];
	int dir; /* 0: none, 1: encrypt, 2: decrypt */
	uint8_t pool[1024]; /* random bytes for nonces, refilled in bulk */
	size_t pool_left;
};
static __thread struct gcm_state *gcm_st;
static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;
static pthread_key_t gcm_key;

static void gcm_state_free(void *p)
{
	struct gcm_state *st = p;

	if (!st)
		return;
	EVP_CIPHER_CTX_free(st->ctx);
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
}

static void gcm_init(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (pthread_key_create(&gcm_key, gcm_state_free) != 0)
		gcm_key = (pthread_key_t)-1;
}

static struct gcm_state *gcm_state(void)
{
	pthread_once(&gcm_once, gcm_init);
	if (!gcm_cipher)
		return NULL;
	if (!gcm_st) {
		struct gcm_state *st = calloc(1, sizeof(*st));
		if (!st)
			return NULL;
		st->ctx = EVP_CIPHER_CTX_new();
		if (!st->ctx) {
			free(st);
			return NULL;
		}
		gcm_st = st;
		if (gcm_key != (pthread_key_t)-1)
			pthread_setspecific(gcm_key, st);
	}
	return gcm_st;
}

/* Set up st->ctx for key and nonce in direction dir (1 enc, 2 dec). */
static int gcm_setup(struct gcm_state *st, int dir, const uint8_t *key, const uint8_t *nonce)
{
	int same = st->dir == dir && CRYPTO_memcmp(st->key, key, LS_AEAD_KEY_LEN) == 0;
	int ok;

	if (dir == 1)
		ok = same ? EVP_EncryptInit_ex2(st->ctx, NULL, NULL, nonce, NULL)
			  : EVP_EncryptInit_ex2(st->ctx, gcm_cipher, key, nonce, NULL);
	else
		ok = same ? EVP_DecryptInit_ex2(st->ctx, NULL, NULL, nonce, NULL)
			  : EVP_DecryptInit_ex2(st->ctx, gcm_cipher, key, nonce, NULL);
	if (ok != 1) {
		st->dir = 0;
		return 0;
	}
	if (!same) {
		memcpy(st->key, key, LS_AEAD_KEY_LEN);
		st->dir = dir;
	}
	return 1;
}

ls_rc ls_aes256gcm_seal(const uint8_t key[LS_AEAD_KEY_LEN], const uint8_t nonce[LS_AEAD_NONCE_LEN],
			const void *aad, size_t aadlen, const void *pt, size_t n, uint8_t *ct,
			uint8_t tag[LS_AEAD_TAG_LEN])
{
	struct gcm_state *st = gcm_state();
	EVP_CIPHER_CTX *c;
	int len;

	if (!st || n > INT_MAX || aadlen > INT_MAX)
		return st ? LS_LIMIT : LS_NOMEM;
	c = st->ctx;
	/* The default IV length of AES-GCM in OpenSSL is 96 bits. */
	if (!gcm_setup(st, 1, key, nonce))
		return LS_INVALID;
	if (aadlen && EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1)
		return LS_INVALID;
	if (n && EVP_EncryptUpdate(c, ct, &len, pt, (int)n) != 1)
		return LS_INVALID;
	if (EVP_EncryptFinal_ex(c, ct + n, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, LS_AEAD_TAG_LEN, tag) != 1)
		return LS_INVALID;
	return LS_OK;
}

ls_rc ls_aes256gcm_open(const uint8_t key[LS_AEAD_KEY_LEN], const uint8_t nonce[LS_AEAD_NONCE_LEN],
			const void *aad, size_t aadlen, const void *ct, size_t n,
			const uint8_t tag[LS_AEAD_TAG_LEN], uint8_t *pt)
{
	struct gcm_state *st = gcm_state();
	EVP_CIPHER_CTX *c;
	uint8_t t[LS_AEAD_TAG_LEN];
	int len;

	if (!st || n > INT_MAX || aadlen > INT_MAX)
		return st ? LS_LIMIT : LS_NOMEM;
	c = st->ctx;
	memcpy(t, tag, sizeof(t));
	if (!gcm_setup(st, 2, key, nonce))
		return LS_INVALID;
	if (aadlen && EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1)
		return LS_INVALID;
	if (n && EVP_DecryptUpdate(c, pt, &len, ct, (int)n) != 1)
		return LS_INVALID;
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, LS_AEAD_TAG_LEN, t) != 1)
		return LS_INVALID;
	if (EVP_DecryptFinal_ex(c, pt + n, &len) != 1) {
		/* Unauthenticated plaintext must not leak to the caller. */
		if (n)
			OPENSSL_cleanse(pt, n);
		return LS_TAMPERED;
	}
	return LS_OK;
}

ls_rc ls_aead_seal_blob(const uint8_t key[LS_AEAD_KEY_LEN], const void *aad, size_t aadlen,
			const void *pt, size_t n, uint8_t *out)
{
	struct gcm_state *st = gcm_state();

	if (!st)
		return LS_NOMEM;
	/* Random 96-bit nonces, drawn from the CSPRNG a kilobyte at a time. */
	if (st->pool_left < LS_AEAD_NONCE_LEN) {
		if (ls_random(st->pool, sizeof(st->pool)) != LS_OK)
			return LS_IO;
		st->pool_left = sizeof(st->pool);
	}
	memcpy(out, st->pool + sizeof(st->pool) - st->pool_left, LS_AEAD_NONCE_LEN);
	OPENSSL_cleanse(st->pool + sizeof(st->pool) - st->pool_left, LS_AEAD_NONCE_LEN);
	st->pool_left -= LS_AEAD_NONCE_LEN;
	return ls_aes256gcm_seal(key, out, aad, aadlen, pt, n, out + LS_AEAD_NONCE_LEN,
				 out + LS_AEAD_NONCE_LEN + n);
}

ls_rc ls_aead_open_blob(const uint8_t key[LS_AEAD_KEY_LEN], const void *aad, size_t aadlen,
			const uint8_t *in, size_t n, uint8_t *out)
{
	if (n < LS_AEAD_OVERHEAD)
		return LS_CORRUPT;
	n -= LS_AEAD_OVERHEAD;
	return ls_aes256gcm_open(key, in, aad, aadlen, in + LS_AEAD_NONCE_LEN, n,
				 in + LS_AEAD_NONCE_LEN + n, out);
}

ls_rc ls_random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? LS_OK : LS_IO;
}

ls_rc ls_ed25519_public(const uint8_t seed[32], uint8_t pub[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t len = 32;
	ls_rc rc = LS_OK;

	if (!k)
		return LS_INVALID;
	if (EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != 32)
		rc = LS_INVALID;
	EVP_PKEY_free(k);
	return rc;
}

ls_rc ls_ed25519_keygen(uint8_t seed[32], uint8_t pub[32])
{
	if (ls_random(seed, 32) != LS_OK)
		return LS_IO;
	return ls_ed25519_public(seed, pub);
}

ls_rc ls_ed25519_sign(const uint8_t seed[32], const void *msg, size_t n, uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t siglen = 64;
	ls_rc rc = LS_INVALID;

	if (k && c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(c, sig, &siglen, msg, n) == 1 && siglen == 64)
		rc = LS_OK;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return rc;
}

ls_rc ls_ed25519_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	ls_rc rc = LS_TAMPERED;

	if (k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(c, sig, 64, msg, n) == 1)
		rc = LS_OK;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return rc;
}

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ls_b64_encode(const void *in, size_t n, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t o = 0, i;

	if (cap < LS_B64_LEN(n) + 1) {
		if (cap)
			out[0] = 0;
		return 0;
	}
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

ls_rc ls_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t o = 0, i;

	if (n % 4)
		return LS_INVALID;
	for (i = 0; i < n; i += 4) {
		int v[4], pad = 0, k;
		uint32_t w;

		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return LS_INVALID; /* data after padding */
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return LS_INVALID;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Non-canonical encodings (stray low bits before padding) are rejected. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return LS_INVALID;
		if (o + 3 - (size_t)pad > cap)
			return LS_LIMIT;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return LS_OK;
}

void ls_hex(const void *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	const uint8_t *p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

ls_rc ls_unhex(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n != 2 * cap)
		return LS_INVALID;
	for (size_t i = 0; i < cap; i++) {
		int h = hexval(in[2 * i]), l = hexval(in[2 * i + 1]);
		if (h < 0 || l < 0)
			return LS_INVALID;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return LS_OK;
}

void ls_wipe(void *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
}

int ls_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* ======================================================= SipHash-2-4 */

/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012), from the paper's description: 2 compression rounds per 8-byte
 * little-endian word, 4 finalisation rounds. */
static uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
	v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
}

uint64_t ls_siphash24(const uint8_t key[16], const void *data, size_t n)
{
	const uint8_t *in = data;
	uint64_t k0 = 0, k1 = 0, m, v[4];
	size_t i, whole = n & ~(size_t)7;

	for (i = 0; i < 8; i++) {
		k0 |= (uint64_t)key[i] << (8 * i);
		k1 |= (uint64_t)key[8 + i] << (8 * i);
	}
	v[0] = 0x736f6d6570736575ULL ^ k0;
	v[1] = 0x646f72616e646f6dULL ^ k1;
	v[2] = 0x6c7967656e657261ULL ^ k0;
	v[3] = 0x7465646279746573ULL ^ k1;
	for (i = 0; i < whole; i += 8) {
		m = 0;
		for (unsigned j = 0; j < 8; j++)
			m |= (uint64_t)in[i + j] << (8 * j);
		v[3] ^= m;
		sip_round(v);
		sip_round(v);
		v[0] ^= m;
	}
	m = (uint64_t)(n & 0xff) << 56;
	for (i = 0; i < (n & 7); i++)
		m |= (uint64_t)in[whole + i] << (8 * i);
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

ls_rc ls_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen,
		     const void *info, size_t infolen, uint8_t *out, size_t n)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5], *q = p;
	static const uint8_t nosalt[1];
	int ok;

	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 salt ? (void *)salt : (void *)nosalt, saltlen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	*q = OSSL_PARAM_construct_end();
	ok = c && EVP_KDF_derive(c, out, n, p) == 1;
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
	return ok ? LS_OK : LS_INVALID;
}
