/*
 * test_crypto.c - crypto.h against published vectors: SHA-256 (FIPS 180-2
 * examples), HMAC-SHA256 (RFC 4231 cases 1, 2, 3 and 6), Ed25519 (RFC 8032
 * section 7.1 tests 1 and 2), AES-256-GCM (McGrew and Viega's GCM spec, test
 * cases 13 and 14), SipHash-2-4 (the 64 vectors of the reference
 * implementation: key 00..0f, messages 00, 00 01, ... 00..3e; the paper's
 * Appendix A example is entry 15), base64 (RFC 4648 section 10); then the
 * properties the callers rely on: the AEAD blob round-trips and refuses any
 * flipped bit, a wrong key or wrong associated data (zeroing what it
 * wrote), strict base64 and hex refuse what is not canonical, ls_ct_equal
 * sees a difference in any byte, ls_wipe zeroes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/crypto.h"

/* The test's own hex decoder (independent of ls_unhex, which is under
 * test too): n bytes from 2n hex digits. */
static void H(const char *hex, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void assert_hash(const uint8_t got[LS_HASH_LEN], const char *hex)
{
	uint8_t want[LS_HASH_LEN];

	H(hex, want, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
}

/* ======================================================= SHA-256 */

static void test_sha256_vectors(void **state)
{
	uint8_t h[LS_HASH_LEN];
	static const char two_blocks[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char *million = malloc(1000000);

	ls_sha256("abc", 3, NULL, 0, h);
	assert_hash(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ls_sha256("", 0, NULL, 0, h);
	assert_hash(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ls_sha256(two_blocks, strlen(two_blocks), NULL, 0, h);
	assert_hash(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	assert_non_null(million);
	memset(million, 'a', 1000000);
	ls_sha256(million, 1000000, NULL, 0, h);
	assert_hash(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void test_sha256_concatenates(void **state)
{
	static const char two_blocks[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	uint8_t h[LS_HASH_LEN];

	/* a || b hashes as one message, wherever the cut is. */
	ls_sha256("ab", 2, "c", 1, h);
	assert_hash(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ls_sha256("", 0, "abc", 3, h);
	assert_hash(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	for (size_t cut = 0; cut <= strlen(two_blocks); cut += 7) {
		ls_sha256(two_blocks, cut, two_blocks + cut, strlen(two_blocks) - cut, h);
		assert_hash(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	}
}

/* ======================================================= HMAC-SHA256 */

static void test_hmac_rfc4231(void **state)
{
	uint8_t key[131], msg[50], h[LS_HASH_LEN];
	static const char tc6[] = "Test Using Larger Than Block-Size Key - Hash Key First";

	/* Test Case 1 */
	memset(key, 0x0b, 20);
	ls_hmac_sha256(key, 20, "Hi There", 8, h);
	assert_hash(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* Test Case 2: a key shorter than the output */
	ls_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, h);
	assert_hash(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* Test Case 3: 50 bytes 0xdd under 20 bytes 0xaa */
	memset(key, 0xaa, 20);
	memset(msg, 0xdd, 50);
	ls_hmac_sha256(key, 20, msg, 50, h);
	assert_hash(h, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	/* Test Case 6: a key longer than the block is hashed first */
	memset(key, 0xaa, 131);
	ls_hmac_sha256(key, 131, tc6, strlen(tc6), h);
	assert_hash(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* ======================================================= Ed25519 */

static void test_ed25519_rfc8032(void **state)
{
	uint8_t seed[32], pub[32], want_pub[32], sig[64], want_sig[64], msg = 0x72;

	/* TEST 1: the empty message */
	H("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
	H("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", want_pub, 32);
	H("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
	  want_sig, 64);
	assert_int_equal(ls_ed25519_public(seed, pub), LS_OK);
	assert_memory_equal(pub, want_pub, 32);
	assert_int_equal(ls_ed25519_sign(seed, "", 0, sig), LS_OK);
	assert_memory_equal(sig, want_sig, 64);
	assert_int_equal(ls_ed25519_verify(pub, "", 0, sig), LS_OK);
	/* TEST 2: one byte, 0x72 */
	H("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", seed, 32);
	H("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", want_pub, 32);
	H("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
	  want_sig, 64);
	assert_int_equal(ls_ed25519_public(seed, pub), LS_OK);
	assert_memory_equal(pub, want_pub, 32);
	assert_int_equal(ls_ed25519_sign(seed, &msg, 1, sig), LS_OK);
	assert_memory_equal(sig, want_sig, 64);
	assert_int_equal(ls_ed25519_verify(pub, &msg, 1, sig), LS_OK);
}

static void test_ed25519_refuses(void **state)
{
	uint8_t seed[32], pub[32], pub2[32], sig[64];
	static const char m[] = "checkpoint body";

	assert_int_equal(ls_ed25519_keygen(seed, pub), LS_OK);
	assert_int_equal(ls_ed25519_public(seed, pub2), LS_OK);
	assert_memory_equal(pub, pub2, 32);
	assert_int_equal(ls_ed25519_sign(seed, m, strlen(m), sig), LS_OK);
	assert_int_equal(ls_ed25519_verify(pub, m, strlen(m), sig), LS_OK);
	/* any flipped bit of the signature or of the message */
	for (size_t i = 0; i < 64; i++) {
		sig[i] ^= 0x01;
		assert_int_equal(ls_ed25519_verify(pub, m, strlen(m), sig), LS_TAMPERED);
		sig[i] ^= 0x01;
	}
	assert_int_equal(ls_ed25519_verify(pub, "checkpoint bodY", strlen(m), sig), LS_TAMPERED);
	assert_int_equal(ls_ed25519_verify(pub, m, strlen(m) - 1, sig), LS_TAMPERED);
	/* another key */
	assert_int_equal(ls_ed25519_keygen(seed, pub2), LS_OK);
	assert_memory_not_equal(pub, pub2, 32);
	assert_int_equal(ls_ed25519_verify(pub2, m, strlen(m), sig), LS_TAMPERED);
}

/* ======================================================= AES-256-GCM */

static void test_gcm_known_answers(void **state)
{
	uint8_t key[32] = { 0 }, nonce[12] = { 0 }, pt[16] = { 0 }, ct[16], tag[16], want[16];

	/* GCM spec test case 13: K = 0^256, IV = 0^96, no plaintext */
	assert_int_equal(ls_aes256gcm_seal(key, nonce, NULL, 0, NULL, 0, ct, tag), LS_OK);
	H("530f8afbc74536b9a963b4f1c4cb738b", want, 16);
	assert_memory_equal(tag, want, 16);
	/* test case 14: one zero block */
	assert_int_equal(ls_aes256gcm_seal(key, nonce, NULL, 0, pt, 16, ct, tag), LS_OK);
	H("cea7403d4d606b6e074ec5d3baf39d18", want, 16);
	assert_memory_equal(ct, want, 16);
	H("d0d1c8a799996bf0265b98b5d48ab919", want, 16);
	assert_memory_equal(tag, want, 16);
	memset(pt, 0xee, sizeof(pt));
	assert_int_equal(ls_aes256gcm_open(key, nonce, NULL, 0, ct, 16, tag, pt), LS_OK);
	assert_memory_equal(pt, (uint8_t[16]){ 0 }, 16);
}

static void test_gcm_in_place_and_refusal(void **state)
{
	uint8_t key[32], nonce[12], buf[40], orig[40], tag[16];
	static const char aad[] = "segment 7";

	assert_int_equal(ls_random(key, sizeof(key)), LS_OK);
	assert_int_equal(ls_random(nonce, sizeof(nonce)), LS_OK);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	memcpy(orig, buf, sizeof(buf));
	/* ct may be pt itself */
	assert_int_equal(ls_aes256gcm_seal(key, nonce, aad, strlen(aad), buf, sizeof(buf), buf, tag),
			 LS_OK);
	assert_memory_not_equal(buf, orig, sizeof(buf));
	/* a wrong tag: refused, and what it wrote is zeroed */
	{
		uint8_t out[40], bad[16];

		memcpy(bad, tag, 16);
		bad[15] ^= 0x80;
		memset(out, 0x55, sizeof(out));
		assert_int_equal(ls_aes256gcm_open(key, nonce, aad, strlen(aad), buf, sizeof(buf),
						   bad, out),
				 LS_TAMPERED);
		assert_memory_equal(out, (uint8_t[40]){ 0 }, sizeof(out));
	}
	/* pt may be ct itself */
	assert_int_equal(ls_aes256gcm_open(key, nonce, aad, strlen(aad), buf, sizeof(buf), tag, buf),
			 LS_OK);
	assert_memory_equal(buf, orig, sizeof(buf));
}

static void test_aead_blob_round_trip(void **state)
{
	uint8_t key[LS_AEAD_KEY_LEN], key2[LS_AEAD_KEY_LEN];
	static const char pt[] = "{\"action\":\"doc.read\",\"actor\":{\"id\":\"alice\"}}";
	static const char aad[] = "entry 42";
	size_t n = strlen(pt), bn = n + LS_AEAD_OVERHEAD;
	uint8_t blob[128], blob2[128], out[128];

	assert_int_equal(ls_random(key, sizeof(key)), LS_OK);
	assert_int_equal(ls_aead_seal_blob(key, aad, strlen(aad), pt, n, blob), LS_OK);
	assert_null(memmem(blob, bn, "alice", 5)); /* the plaintext is not in the blob */
	memset(out, 0, sizeof(out));
	assert_int_equal(ls_aead_open_blob(key, aad, strlen(aad), blob, bn, out), LS_OK);
	assert_memory_equal(out, pt, n);
	/* a fresh nonce each time: the same plaintext seals differently */
	assert_int_equal(ls_aead_seal_blob(key, aad, strlen(aad), pt, n, blob2), LS_OK);
	assert_memory_not_equal(blob, blob2, LS_AEAD_NONCE_LEN);
	assert_memory_not_equal(blob + LS_AEAD_NONCE_LEN, blob2 + LS_AEAD_NONCE_LEN, n);
	assert_int_equal(ls_aead_open_blob(key, aad, strlen(aad), blob2, bn, out), LS_OK);
	assert_memory_equal(out, pt, n);
	/* an empty plaintext is a blob of the overhead alone */
	assert_int_equal(ls_aead_seal_blob(key, NULL, 0, "", 0, blob2), LS_OK);
	assert_int_equal(ls_aead_open_blob(key, NULL, 0, blob2, LS_AEAD_OVERHEAD, out), LS_OK);
	/* shorter than nonce and tag: corrupt, not tampered */
	assert_int_equal(ls_aead_open_blob(key, NULL, 0, blob2, LS_AEAD_OVERHEAD - 1, out),
			 LS_CORRUPT);
	assert_int_equal(ls_aead_open_blob(key, NULL, 0, blob2, 0, out), LS_CORRUPT);
	/* another key */
	memcpy(key2, key, sizeof(key));
	key2[0] ^= 1;
	assert_int_equal(ls_aead_open_blob(key2, aad, strlen(aad), blob, bn, out), LS_TAMPERED);
	/* other associated data: the blob is bound to where it belongs */
	assert_int_equal(ls_aead_open_blob(key, "entry 43", 8, blob, bn, out), LS_TAMPERED);
	assert_int_equal(ls_aead_open_blob(key, NULL, 0, blob, bn, out), LS_TAMPERED);
	/* cut short by one byte */
	assert_int_equal(ls_aead_open_blob(key, aad, strlen(aad), blob, bn - 1, out), LS_TAMPERED);
}

static void test_aead_blob_any_flipped_bit(void **state)
{
	uint8_t key[LS_AEAD_KEY_LEN], blob[64], out[64];
	static const char pt[] = "twenty bytes of data";
	static const char aad[] = "aad";
	size_t n = strlen(pt), bn = n + LS_AEAD_OVERHEAD;

	assert_int_equal(ls_random(key, sizeof(key)), LS_OK);
	assert_int_equal(ls_aead_seal_blob(key, aad, 3, pt, n, blob), LS_OK);
	/* nonce, ciphertext and tag: every bit of every byte */
	for (size_t i = 0; i < bn; i++) {
		for (int b = 0; b < 8; b++) {
			blob[i] ^= (uint8_t)(1u << b);
			memset(out, 0x33, sizeof(out));
			assert_int_equal(ls_aead_open_blob(key, aad, 3, blob, bn, out), LS_TAMPERED);
			assert_memory_equal(out, (uint8_t[64]){ 0 }, n);
			blob[i] ^= (uint8_t)(1u << b);
		}
	}
	assert_int_equal(ls_aead_open_blob(key, aad, 3, blob, bn, out), LS_OK);
	assert_memory_equal(out, pt, n);
}

/* ======================================================= SipHash-2-4 */

/* SipHash-2-4 of 00, 00 01, ..., 00 01 .. 3e under key 00 01 .. 0f: the
 * table of the reference implementation (its vectors.h, here as 64-bit
 * little-endian values); [15] is the example of the paper's Appendix A. */
static const uint64_t sip_vectors[64] = {
	UINT64_C(0x726fdb47dd0e0e31), UINT64_C(0x74f839c593dc67fd), UINT64_C(0x0d6c8009d9a94f5a), UINT64_C(0x85676696d7fb7e2d),
	UINT64_C(0xcf2794e0277187b7), UINT64_C(0x18765564cd99a68d), UINT64_C(0xcbc9466e58fee3ce), UINT64_C(0xab0200f58b01d137),
	UINT64_C(0x93f5f5799a932462), UINT64_C(0x9e0082df0ba9e4b0), UINT64_C(0x7a5dbbc594ddb9f3), UINT64_C(0xf4b32f46226bada7),
	UINT64_C(0x751e8fbc860ee5fb), UINT64_C(0x14ea5627c0843d90), UINT64_C(0xf723ca908e7af2ee), UINT64_C(0xa129ca6149be45e5),
	UINT64_C(0x3f2acc7f57c29bdb), UINT64_C(0x699ae9f52cbe4794), UINT64_C(0x4bc1b3f0968dd39c), UINT64_C(0xbb6dc91da77961bd),
	UINT64_C(0xbed65cf21aa2ee98), UINT64_C(0xd0f2cbb02e3b67c7), UINT64_C(0x93536795e3a33e88), UINT64_C(0xa80c038ccd5ccec8),
	UINT64_C(0xb8ad50c6f649af94), UINT64_C(0xbce192de8a85b8ea), UINT64_C(0x17d835b85bbb15f3), UINT64_C(0x2f2e6163076bcfad),
	UINT64_C(0xde4daaaca71dc9a5), UINT64_C(0xa6a2506687956571), UINT64_C(0xad87a3535c49ef28), UINT64_C(0x32d892fad841c342),
	UINT64_C(0x7127512f72f27cce), UINT64_C(0xa7f32346f95978e3), UINT64_C(0x12e0b01abb051238), UINT64_C(0x15e034d40fa197ae),
	UINT64_C(0x314dffbe0815a3b4), UINT64_C(0x027990f029623981), UINT64_C(0xcadcd4e59ef40c4d), UINT64_C(0x9abfd8766a33735c),
	UINT64_C(0x0e3ea96b5304a7d0), UINT64_C(0xad0c42d6fc585992), UINT64_C(0x187306c89bc215a9), UINT64_C(0xd4a60abcf3792b95),
	UINT64_C(0xf935451de4f21df2), UINT64_C(0xa9538f0419755787), UINT64_C(0xdb9acddff56ca510), UINT64_C(0xd06c98cd5c0975eb),
	UINT64_C(0xe612a3cb9ecba951), UINT64_C(0xc766e62cfcadaf96), UINT64_C(0xee64435a9752fe72), UINT64_C(0xa192d576b245165a),
	UINT64_C(0x0a8787bf8ecb74b2), UINT64_C(0x81b3e73d20b49b6f), UINT64_C(0x7fa8220ba3b2ecea), UINT64_C(0x245731c13ca42499),
	UINT64_C(0xb78dbfaf3a8d83bd), UINT64_C(0xea1ad565322a1a0b), UINT64_C(0x60e61c23a3795013), UINT64_C(0x6606d7e446282b93),
	UINT64_C(0x6ca4ecb15c5f91e1), UINT64_C(0x9f626da15c9625f3), UINT64_C(0xe51b38608ef25f57), UINT64_C(0x958a324ceb064572),
};

static void test_siphash_reference_vectors(void **state)
{
	uint8_t key[16], msg[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* every length 0..63 exercises each tail length 0..7 of the last word */
	for (size_t n = 0; n < 64; n++) {
		uint64_t h = ls_siphash24(key, msg, n);

		if (h != sip_vectors[n])
			fail_msg("SipHash-2-4 of %zu bytes: %016llx, expected %016llx", n,
				 (unsigned long long)h, (unsigned long long)sip_vectors[n]);
	}
	/* the data need not be aligned */
	{
		uint8_t shifted[65];

		memcpy(shifted + 1, msg, 64);
		assert_true(ls_siphash24(key, shifted + 1, 15) == sip_vectors[15]);
	}
}

static void test_siphash_keyed(void **state)
{
	uint8_t key[16] = { 0 }, key2[16] = { 0 };

	key2[15] = 1;
	/* the key changes the hash (it is not an unkeyed hash of the data) */
	assert_true(ls_siphash24(key, "client-id", 9) != ls_siphash24(key2, "client-id", 9));
	assert_true(ls_siphash24(key, "client-id", 9) == ls_siphash24(key, "client-id", 9));
	assert_true(ls_siphash24(key, "client-id", 9) != ls_siphash24(key, "client-ie", 9));
}

/* ======================================================= base64, hex */

static void test_b64_rfc4648(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	char out[16];
	uint8_t dec[16];
	size_t len;

	for (size_t i = 0; i < 7; i++) {
		size_t n = strlen(plain[i]);

		assert_int_equal(ls_b64_encode(plain[i], n, out, sizeof(out)), strlen(enc[i]));
		assert_string_equal(out, enc[i]);
		assert_int_equal(LS_B64_LEN(n), strlen(enc[i]));
		assert_int_equal(ls_b64_decode(enc[i], strlen(enc[i]), dec, sizeof(dec), &len), LS_OK);
		assert_int_equal(len, n);
		assert_memory_equal(dec, plain[i], n);
	}
	/* all 256 byte values round-trip */
	{
		uint8_t all[256], back[256];
		char e[LS_B64_LEN(256) + 1];

		for (int i = 0; i < 256; i++)
			all[i] = (uint8_t)i;
		assert_int_equal(ls_b64_encode(all, 256, e, sizeof(e)), LS_B64_LEN(256));
		assert_int_equal(ls_b64_decode(e, strlen(e), back, sizeof(back), &len), LS_OK);
		assert_int_equal(len, 256);
		assert_memory_equal(back, all, 256);
	}
}

static void test_b64_strict(void **state)
{
	static const char *const bad[] = {
		"Zg",		/* no padding */
		"Zg=",		/* short padding */
		"Z===",		/* padding too early */
		"Zg==Zg==",	/* data after padding */
		"Zm9v\n",	/* white space */
		" Zm9",		/* white space */
		"Zm9-",		/* URL-safe alphabet */
		"Zh==",		/* stray low bits before padding (not canonical) */
		"Zm9=",		/* the same with one pad */
		"=Zm9",
	};
	uint8_t dec[16];
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ls_b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &len) != LS_INVALID)
			fail_msg("ls_b64_decode accepted \"%s\"", bad[i]);
	/* a result larger than cap */
	assert_int_equal(ls_b64_decode("Zm9vYmFy", 8, dec, 5, &len), LS_LIMIT);
	assert_int_equal(ls_b64_decode("Zm9vYmFy", 8, dec, 6, &len), LS_OK);
	assert_int_equal(len, 6);
}

static void test_hex(void **state)
{
	static const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[2 * sizeof(bytes) + 1];
	uint8_t back[sizeof(bytes)];

	ls_hex(bytes, sizeof(bytes), out);
	assert_string_equal(out, "00017f80abff");
	assert_int_equal(ls_unhex("00017f80abff", 12, back, sizeof(back)), LS_OK);
	assert_memory_equal(back, bytes, sizeof(bytes));
	assert_int_equal(ls_unhex("00017F80ABFF", 12, back, sizeof(back)), LS_OK);
	assert_memory_equal(back, bytes, sizeof(bytes));
	/* exactly 2*cap digits */
	assert_int_equal(ls_unhex("00017f80ab", 10, back, sizeof(back)), LS_INVALID);
	assert_int_equal(ls_unhex("00017f80abff00", 14, back, sizeof(back)), LS_INVALID);
	assert_int_equal(ls_unhex("00017f80abf", 11, back, sizeof(back)), LS_INVALID);
	/* digits only */
	assert_int_equal(ls_unhex("00017f80abfg", 12, back, sizeof(back)), LS_INVALID);
	assert_int_equal(ls_unhex("0x017f80abff", 12, back, sizeof(back)), LS_INVALID);
	assert_int_equal(ls_unhex(" 0017f80abff", 12, back, sizeof(back)), LS_INVALID);
}

/* ======================================================= small helpers */

static void test_ct_equal(void **state)
{
	uint8_t a[32], b[32];

	assert_int_equal(ls_random(a, sizeof(a)), LS_OK);
	memcpy(b, a, sizeof(a));
	assert_int_equal(ls_ct_equal(a, b, sizeof(a)), 1);
	assert_int_equal(ls_ct_equal(a, b, 0), 1);
	/* a difference in any byte, in any bit */
	for (size_t i = 0; i < sizeof(a); i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(ls_ct_equal(a, b, sizeof(a)), 0);
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* only the first n bytes count */
	b[31] ^= 1;
	assert_int_equal(ls_ct_equal(a, b, 31), 1);
}

static void test_wipe_and_random(void **state)
{
	uint8_t a[64], b[64];

	memset(a, 0xa5, sizeof(a));
	ls_wipe(a, sizeof(a));
	assert_memory_equal(a, (uint8_t[64]){ 0 }, sizeof(a));
	ls_wipe(NULL, 16); /* a no-op */
	/* two draws of 512 bits differ, and neither is all zero */
	assert_int_equal(ls_random(a, sizeof(a)), LS_OK);
	assert_int_equal(ls_random(b, sizeof(b)), LS_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, (uint8_t[64]){ 0 }, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_concatenates),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ed25519_refuses),
		cmocka_unit_test(test_gcm_known_answers),
		cmocka_unit_test(test_gcm_in_place_and_refusal),
		cmocka_unit_test(test_aead_blob_round_trip),
		cmocka_unit_test(test_aead_blob_any_flipped_bit),
		cmocka_unit_test(test_siphash_reference_vectors),
		cmocka_unit_test(test_siphash_keyed),
		cmocka_unit_test(test_b64_rfc4648),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_wipe_and_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
