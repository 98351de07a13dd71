/*
 * signer.h - where the log's signing key lives: in memory from
 * DIR/keys/log.key (the default), in a PKCS#11 token (an HSM, SoftHSM2),
 * or behind an external command (a KMS, a vault).  The two external forms
 * hand core/note.h a note_sign_fn; the key never enters this process.
 *
 * Calling sequence: signer_create() once at `init`, signer_load() at every
 * open, signer_close() when the note_signer it filled is no longer used.
 *
 * Invariants:
 *  1. DIR/verifier.key is what clients trust.  An external signer's public
 *     key (from the token, or --verifier-key for a command) must be the one
 *     in DIR/verifier.key, or the log does not open.
 *  2. Every signature an external signer returns is checked under that key
 *     before it is used (note_sign() in core/note.c): a wrong or
 *     compromised signer cannot publish a checkpoint that does not verify.
 *  3. A directory whose key is off the disk has no keys/log.key; its
 *     configuration files are sealed under keys/seal.key instead (a random
 *     32-byte MAC key, base64, mode 0600; cfgseal.c), which signs nothing.
 *
 * The sign command contract (docs/KEYS.md): the program and its arguments
 * (keys_split_command() rules, no shell, PATH lookup), the exact bytes to
 * sign on standard input (closed after them), the 64-byte Ed25519
 * signature on standard output, raw or in base64 (white space around it is
 * ignored), exit status 0, within SIGNER_CMD_TIMEOUT_MS (or
 * $LOGSEAL_SIGN_TIMEOUT_MS) and SIGNER_CMD_OUT_CAP bytes of output.
 */
#ifndef LS_STORE_SIGNER_H
#define LS_STORE_SIGNER_H

#include <stdint.h>

#include "base/ls.h"
#include "core/note.h"

#define SIGNER_CMD_TIMEOUT_MS 10000
#define SIGNER_CMD_OUT_CAP 4096
#define SIGNER_TIMEOUT_ENV "LOGSEAL_SIGN_TIMEOUT_MS"

struct signer_spec {
	/* "pkcs11:token=...;object=...?pin-value=..." (RFC 7512; pin-source
	 * names a file holding the PIN; module-path the PKCS#11 module,
	 * otherwise every module p11-kit knows is searched), or NULL */
	const char *pkcs11;
	/* the sign command, or NULL (at most one of the two) */
	const char *command;
	/* a file with the public key: a verifier key line
	 * (name+keyid+base64) or an Ed25519 PEM public key.  Needed by
	 * `init --sign-command`; elsewhere it must match DIR/verifier.key. */
	const char *verifier_key;
	/* told each signing failure (rate-limited); NULL: nobody */
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
};

struct signer;

/* 1 when spec names an external signer (a token or a command). */
int signer_spec_external(const struct signer_spec *spec);

/* Open DIR's signer into *s: keys/log.key without an external spec, or
 * the external signer checked against DIR/verifier.key (invariant 1).
 * *out holds the external signer's state (NULL for the key file) and
 * must outlive *s. */
ls_rc signer_load(const char *dir, const struct signer_spec *spec, struct note_signer *s,
		  struct signer **out, struct ls_err *err);

/* For `init`: make DIR/keys/ and the key files (keys/log.key, or the
 * external signer's public key plus keys/seal.key), then DIR/verifier.key;
 * *s and *out as for signer_load(). */
ls_rc signer_create(const char *dir, const char *origin, const struct signer_spec *spec,
		    struct note_signer *s, struct signer **out, struct ls_err *err);

void signer_close(struct signer *sg);

/* ---- the backends (signer.c, signer_pkcs11.c) ---- */

/* Ask the token for the key's public half: LS_NOTFOUND when it has no
 * public key object. */
struct p11;
ls_rc p11_open(const char *uri, struct p11 **out, struct ls_err *err);
ls_rc p11_public(struct p11 *p, uint8_t pub[32], struct ls_err *err);
ls_rc p11_sign(struct p11 *p, const uint8_t *msg, size_t n, uint8_t sig[64], struct ls_err *err);
void p11_close(struct p11 *p);

/* Run the sign command (argv, NULL-terminated) on msg. */
ls_rc signer_run_command(char *const *argv, const uint8_t *msg, size_t n, uint8_t sig[64],
			 struct ls_err *err);

#endif
