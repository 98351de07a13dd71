/*
 * note.h - C2SP signed notes (signed-note.md) with Ed25519 signatures, and
 * C2SP tlog-checkpoint bodies (tlog-checkpoint.md).  Pure: no I/O.
 *
 * Verifier key:  <name>+<hex key id>+<base64(0x01 || 32-byte public key)>
 * Signer key:    PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>
 *                (the golang.org/x/mod/sumdb/note encoding, so keys interoperate)
 * Key id:        first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)
 * Note:          <text, ending in \n>\n then one line per signature:
 *                "\u2014 <name> <base64(key id || signature)>\n"
 * Checkpoint:    "<origin>\n<decimal size>\n<base64 root hash>\n" then optional
 *                extension lines, as the note's text.
 */
#ifndef LS_NOTE_H
#define LS_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define NOTE_MAX_NAME 256
#define NOTE_MAX_SIZE 65536 /* a note larger than this is refused */
/* The spec asks verifiers to accept at least 16 signatures; 100 leaves room
 * for many witnesses while bounding the work one note can cause. */
#define NOTE_MAX_SIGS 100

/*
 * A signer whose private key is not in this process (an HSM, a KMS): sign
 * the n bytes of msg with Ed25519 into sig.  Called by note_sign(), which
 * checks the result under the signer's public key before it is used, so a
 * wrong or compromised signer cannot make a note that does not verify.
 */
typedef ls_rc (*note_sign_fn)(void *ctx, const uint8_t *msg, size_t n,
			      uint8_t sig[LS_ED25519_SIG_LEN], struct ls_err *err);

struct note_signer {
	char name[NOTE_MAX_NAME];
	uint32_t key_id;
	uint8_t seed[32];	/* unused when sign is set */
	uint8_t pub[32];
	note_sign_fn sign;	/* NULL: the seed in memory (the default) */
	void *sign_ctx;
};

struct note_verifier {
	char name[NOTE_MAX_NAME];
	uint32_t key_id;
	uint8_t pub[32];
};

/* Key names: non-empty, no white space, no '+', valid UTF-8. */
ls_rc note_signer_generate(const char *name, struct note_signer *s, struct ls_err *err);
ls_rc note_signer_parse(const char *skey, size_t n, struct note_signer *s, struct ls_err *err);
/* Writes the PRIVATE+KEY+... string (NUL-terminated) into out. */
ls_rc note_signer_format(const struct note_signer *s, char *out, size_t cap);
void note_signer_verifier(const struct note_signer *s, struct note_verifier *v);
void note_signer_wipe(struct note_signer *s);
/* A signer for the key `name` with public key pub, whose signatures come
 * from fn(ctx, ...); no seed is held.  LS_INVALID for a bad name. */
ls_rc note_signer_external(const char *name, const uint8_t pub[32], note_sign_fn fn, void *ctx,
			   struct note_signer *s, struct ls_err *err);

ls_rc note_verifier_parse(const char *vkey, size_t n, struct note_verifier *v, struct ls_err *err);
ls_rc note_verifier_format(const struct note_verifier *v, char *out, size_t cap);

/* Sign text (must be non-empty and end in '\n', no NUL bytes) and return the
 * whole note in *out (malloc'd, NUL-terminated, caller frees). */
ls_rc note_sign(const struct note_signer *s, const char *text, size_t n, char **out,
		struct ls_err *err);

/*
 * Open a signed note: parse it strictly and check the signatures made by
 * keys in `known` (signatures by other keys are ignored, never trusted).
 * LS_OK when at least one known key signed it and every known-key signature
 * verifies; *text_len is the length of the signed text (a prefix of note).
 * LS_UNTRUSTED when no known key signed it; LS_TAMPERED when a known key's
 * signature does not verify; LS_INVALID when malformed.
 */
ls_rc note_open(const char *note, size_t n, const struct note_verifier *known, size_t nknown,
		size_t *text_len, struct ls_err *err);

/*
 * The parts of a note, without verifying anything: the length of its text
 * and each signature line, as offsets into the note (so they stay valid as
 * long as the note's bytes do).  note_split() applies every check of
 * note_open() but the signatures' (strict UTF-8, no control characters, a
 * blank line, well-formed signature lines of any type, NOTE_MAX_SIZE and
 * NOTE_MAX_SIGS).  Lines of unknown keys and types are listed too.
 */
struct note_sigref {
	size_t off, len;		/* the line, without its newline */
	size_t name_off, name_len;	/* the key name */
	uint32_t key_id;
	size_t sig_len;			/* decoded bytes after the key id */
};
struct note_split {
	size_t text_len;
	size_t nsigs;
	struct note_sigref sigs[NOTE_MAX_SIGS];
};
ls_rc note_split(const char *note, size_t n, struct note_split *out, struct ls_err *err);
/* The sig_len bytes after the key id of one line (cap: room in sig). */
ls_rc note_sigref_decode(const char *note, const struct note_sigref *r, uint8_t *sig, size_t cap);

/* Key helpers shared with other signature types (core/cosig.h): the key id
 * SHA-256(name || 0x0A || alg || pub)[:4]; a valid key name; and the split
 * of "<name>+<hex id>+base64(alg || 32 bytes)" (the id is not checked). */
uint32_t note_key_id_alg(const char *name, size_t n, uint8_t alg, const uint8_t pub[32]);
int note_name_ok(const char *s, size_t n);
/* The private key line "PRIVATE+KEY+<name>+<hex id>+<base64(alg || seed)>"
 * of an Ed25519 key (the log's signer; a witness's cosigner, core/cosig.h,
 * whose key id is computed another way: id_of).  parse checks the id
 * against id_of(name, public key) and names the key by what in its errors;
 * format never leaves a cut key behind (LS_LIMIT, out wiped). */
typedef uint32_t (*note_key_id_fn)(const char *name, size_t n, const uint8_t pub[32]);
ls_rc note_skey_parse(const char *skey, size_t n, uint8_t alg, const char *what,
		      note_key_id_fn id_of, char name[NOTE_MAX_NAME], uint32_t *kid,
		      uint8_t seed[32], uint8_t pub[32], struct ls_err *err);
ls_rc note_skey_format(const char *name, uint32_t kid, uint8_t alg, const uint8_t seed[32],
		       char *out, size_t cap);
/* The same for the public key line "<name>+<hex id>+<base64(alg || pub)>". */
ls_rc note_vkey_parse(const char *vkey, size_t n, uint8_t alg, const char *what,
		      note_key_id_fn id_of, char name[NOTE_MAX_NAME], uint32_t *kid,
		      uint8_t pub[32], struct ls_err *err);
ls_rc note_vkey_format(const char *name, uint32_t kid, uint8_t alg, const uint8_t pub[32],
		       char *out, size_t cap);

struct checkpoint {
	char origin[NOTE_MAX_NAME];
	uint64_t size;
	uint8_t root[LS_HASH_LEN];
};

/* Body text "<origin>\n<size>\n<base64 root>\n" into out (NUL-terminated). */
ls_rc checkpoint_format(const struct checkpoint *c, char *out, size_t cap);
/* Parse a checkpoint body (the signed text, extension lines allowed). */
ls_rc checkpoint_parse(const char *text, size_t n, struct checkpoint *c, struct ls_err *err);

#endif
