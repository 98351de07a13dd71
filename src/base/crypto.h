/*
 * crypto.h - the few primitives logseal needs, all from OpenSSL 3 libcrypto:
 * SHA-256, Ed25519, AES-256-GCM, the system RNG, strict base64 and hex.
 * Pure: no files, no logging.  Safe to call from any thread (SHA-256 and
 * AES-GCM keep one reusable context per thread).
 */
#ifndef LS_CRYPTO_H
#define LS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define LS_HASH_LEN 32
#define LS_ED25519_SEED_LEN 32
#define LS_ED25519_PUB_LEN 32
#define LS_ED25519_SIG_LEN 64

/* SHA-256 of the concatenation a || b (b may be NULL with bn == 0). */
void ls_sha256(const void *a, size_t an, const void *b, size_t bn, uint8_t out[LS_HASH_LEN]);

/* HMAC-SHA256(key, msg). */
void ls_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
		    uint8_t out[LS_HASH_LEN]);

/* HKDF-SHA256 (RFC 5869) of ikm with salt (may be NULL, 0) and info into
 * out (n <= 255 * 32 bytes): LS_INVALID when OpenSSL refuses. */
ls_rc ls_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen,
		     const void *info, size_t infolen, uint8_t *out, size_t n);

/* Fill buf with n bytes from the OS CSPRNG. */
ls_rc ls_random(void *buf, size_t n);

/* A new Ed25519 key: random 32-byte seed and its public key. */
ls_rc ls_ed25519_keygen(uint8_t seed[32], uint8_t pub[32]);
ls_rc ls_ed25519_public(const uint8_t seed[32], uint8_t pub[32]);
ls_rc ls_ed25519_sign(const uint8_t seed[32], const void *msg, size_t n, uint8_t sig[64]);
/* LS_OK when sig is a valid signature of msg under pub, else LS_TAMPERED. */
ls_rc ls_ed25519_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64]);

/* AES-256-GCM with a 96-bit nonce and a 128-bit tag (NIST SP 800-38D).
 * A nonce must never be used twice with one key: callers draw them at
 * random (ls_random) for every message. */
#define LS_AEAD_KEY_LEN 32
#define LS_AEAD_NONCE_LEN 12
#define LS_AEAD_TAG_LEN 16
#define LS_AEAD_OVERHEAD (LS_AEAD_NONCE_LEN + LS_AEAD_TAG_LEN)
/* ct receives n bytes (it may be pt itself), tag 16. */
ls_rc ls_aes256gcm_seal(const uint8_t key[LS_AEAD_KEY_LEN], const uint8_t nonce[LS_AEAD_NONCE_LEN],
			const void *aad, size_t aadlen, const void *pt, size_t n, uint8_t *ct,
			uint8_t tag[LS_AEAD_TAG_LEN]);
/* pt receives n bytes (it may be ct itself); LS_TAMPERED when the tag does
 * not authenticate ct and aad under key (pt is then zeroed). */
ls_rc ls_aes256gcm_open(const uint8_t key[LS_AEAD_KEY_LEN], const uint8_t nonce[LS_AEAD_NONCE_LEN],
			const void *aad, size_t aadlen, const void *ct, size_t n,
			const uint8_t tag[LS_AEAD_TAG_LEN], uint8_t *pt);
/* The blob form used on disk: out = nonce (12, fresh random) || ciphertext
 * (n) || tag (16); out must hold n + LS_AEAD_OVERHEAD bytes. */
ls_rc ls_aead_seal_blob(const uint8_t key[LS_AEAD_KEY_LEN], const void *aad, size_t aadlen,
			const void *pt, size_t n, uint8_t *out);
/* Open such a blob of n bytes into out (n - LS_AEAD_OVERHEAD bytes):
 * LS_CORRUPT when too short, LS_TAMPERED when it does not authenticate. */
ls_rc ls_aead_open_blob(const uint8_t key[LS_AEAD_KEY_LEN], const void *aad, size_t aadlen,
			const uint8_t *in, size_t n, uint8_t *out);

/* Standard base64 with padding.  Returns the encoded length (excluding the
 * NUL it always writes); cap must be >= 4*((n+2)/3)+1. */
size_t ls_b64_encode(const void *in, size_t n, char *out, size_t cap);
#define LS_B64_LEN(n) (4 * (((n) + 2) / 3))
/* Strict standard base64 (padding required, no white space).  LS_INVALID on
 * anything else, LS_LIMIT when the result would exceed cap. */
ls_rc ls_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/* Lower-case hex; out must hold 2n+1 bytes. */
void ls_hex(const void *in, size_t n, char *out);
/* Exactly 2*cap hex digits (either case) into out; LS_INVALID otherwise. */
ls_rc ls_unhex(const char *in, size_t n, uint8_t *out, size_t cap);

/* Overwrite key material before it is freed (not optimised away). */
void ls_wipe(void *p, size_t n);

/* Constant-time comparison: 1 when equal. */
int ls_ct_equal(const void *a, const void *b, size_t n);

/* SipHash-2-4 of data under a 128-bit key: for hash tables keyed by client
 * data, under a random key so clients cannot aim at one bucket. */
uint64_t ls_siphash24(const uint8_t key[16], const void *data, size_t n);

#endif
