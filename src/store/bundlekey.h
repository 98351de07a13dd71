/*
 * bundlekey.h - the bucket's bundle key and the "LSB1" envelope in which an
 * encrypted data directory publishes its entry bundles (docs/FORMAT.md §13).
 *
 * The bundle key is HKDF-SHA256(master key, salt empty, info
 * "logseal bucket bundles v1", 32 bytes): derived, so it reveals nothing of
 * the master key; stable across data-key rotation (it changes only with the
 * master key).  `logseal keys bundle-key --data DIR` prints it for an
 * auditor (standard base64, one line).
 *
 * The envelope, bytes:
 *	"LSB1" (4) | nonce (12) | AES-256-GCM ciphertext of the C2SP
 *	entry bundle (same length) | tag (16)
 * with associated data
 *	"logseal bundle v1\n" ORIGIN "\n" N "\n" W
 * where ORIGIN is the log's origin line, N the bundle's index and W its
 * width (256 for a full bundle, 1..255 for a partial one), both decimal
 * ASCII without leading zeros.  The AAD binds the bytes to their place:
 * an envelope moved to another index or width, or to another log, does not
 * open.  The nonce is HMAC-SHA256(key, "LSB1 nonce" 0x00 AAD 0x00
 * SHA-256(bundle)), first 12 bytes: sealing is deterministic, so a
 * write-once object uploaded again after a crash has the same bytes, and a
 * nonce repeats only for the same place and the same bundle.  A reader
 * needs no rule for it (it is in the envelope).
 */
#ifndef LS_BUNDLEKEY_H
#define LS_BUNDLEKEY_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define BUNDLEKEY_LEN 32
#define BUNDLEKEY_INFO "logseal bucket bundles v1"
#define BUNDLEKEY_MAGIC "LSB1"
#define BUNDLEKEY_OVERHEAD (4 + 12 + 16)

/* The bundle key of a master key (pure). */
ls_rc bundlekey_derive(const uint8_t master[BUNDLEKEY_LEN], uint8_t key[BUNDLEKEY_LEN]);

/* The bundle key of data directory dir (its master key obtained through
 * keys_get).  LS_NOTFOUND when dir is not encrypted. */
ls_rc bundlekey_get(const char *dir, uint8_t key[BUNDLEKEY_LEN], struct ls_err *err);

/* The associated data of bundle (n, w) of origin into out: its length, or
 * 0 when cap is too small. */
size_t bundlekey_aad(const char *origin, uint64_t n, unsigned w, char *out, size_t cap);

/* Seal bundle bytes pt (len) as bundle n of width w: *out malloc'd,
 * *outlen = len + BUNDLEKEY_OVERHEAD. */
ls_rc bundlekey_seal(const uint8_t key[BUNDLEKEY_LEN], const char *origin, uint64_t n,
		     unsigned w, const void *pt, size_t len, uint8_t **out, size_t *outlen);

/* Open an envelope: *out malloc'd (NUL-terminated beyond *outlen).
 * LS_CORRUPT for bytes that are not an envelope (too short, no magic),
 * LS_TAMPERED when the tag does not check (wrong key, altered bytes,
 * another N, W or origin). */
ls_rc bundlekey_open(const uint8_t key[BUNDLEKEY_LEN], const char *origin, uint64_t n,
		     unsigned w, const void *in, size_t len, uint8_t **out, size_t *outlen,
		     struct ls_err *err);

#endif
