/*
 * cosig.h - C2SP tlog-cosignature "cosignature/v1" (timestamped Ed25519
 * witness cosignatures over checkpoints), whole cosigned notes, and the
 * C2SP tlog-witness add-checkpoint request and replies.  Pure: no I/O.
 *
 * Witness keys (signature type 0x04):
 *   key id     SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]
 *   vkey       <name>+<8 hex key id>+base64(0x04 || public key)
 *   signer     PRIVATE+KEY+<name>+<8 hex key id>+base64(0x04 || 32-byte seed)
 *              (logseal's own file form, the shape of Go's note signer keys)
 * Signed message (bytes signed by Ed25519):
 *   "cosignature/v1\n" "time " <decimal T, no leading zero> "\n" <checkpoint text>
 *   where the checkpoint text is the note body with its final newline and
 *   without any signature line.
 * Cosignature line:
 *   U+2014 " " <name> " " base64(key id[4] || T as uint64 big-endian[8] || sig[64]) "\n"
 *   (76 bytes decoded, 104 base64 characters)
 *
 * add-checkpoint request body (c2sp.org/tlog-witness):
 *   "old " <decimal size> "\n"
 *   0..63 lines of base64(32-byte hash) "\n"      (the consistency proof)
 *   "\n"
 *   <signed checkpoint note>
 * Replies: 200 one or more cosignature lines; 409 "text/x.tlog.size" body
 * <decimal size> "\n"; 400, 403, 404, 422 without a defined body.
 */
#ifndef LS_COSIG_H
#define LS_COSIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"
#include "core/note.h"

#define COSIG_ALG_ED25519 0x04
#define COSIG_SIG_LEN (8 + LS_ED25519_SIG_LEN)	/* after the key id */
#define COSIG_MAX_PROOF 63			/* proof lines in a request */
#define COSIG_MAX_TS INT64_MAX			/* timestamps must not exceed 2^63-1 */
/* A cosignature line with its newline and NUL always fits in this. */
#define COSIG_LINE_MAX (4 + NOTE_MAX_NAME + LS_B64_LEN(4 + COSIG_SIG_LEN) + 2)

struct cosig_signer {
	char name[NOTE_MAX_NAME];
	uint32_t key_id;
	uint8_t seed[32];
	uint8_t pub[32];
};

struct cosig_verifier {
	char name[NOTE_MAX_NAME];
	uint32_t key_id;
	uint8_t pub[32];
};

uint32_t cosig_key_id(const char *name, size_t n, const uint8_t pub[32]);

/* Key names as for notes: non-empty, no white space, no '+', UTF-8. */
ls_rc cosig_signer_generate(const char *name, struct cosig_signer *s, struct ls_err *err);
ls_rc cosig_signer_parse(const char *skey, size_t n, struct cosig_signer *s, struct ls_err *err);
ls_rc cosig_signer_format(const struct cosig_signer *s, char *out, size_t cap);
void cosig_signer_verifier(const struct cosig_signer *s, struct cosig_verifier *v);
void cosig_signer_wipe(struct cosig_signer *s);

/* The key id in the vkey must match the name and key (else LS_INVALID). */
ls_rc cosig_verifier_parse(const char *vkey, size_t n, struct cosig_verifier *v,
			   struct ls_err *err);
ls_rc cosig_verifier_format(const struct cosig_verifier *v, char *out, size_t cap);

/* The message a cosignature signs, malloc'd into *msg (caller frees). */
ls_rc cosig_message(const char *text, size_t n, uint64_t ts, char **msg, size_t *len,
		    struct ls_err *err);

/* Cosign a checkpoint text (the note body, ending in '\n') at time ts
 * (1 .. 2^63-1): the signature line with its newline into line (cap >=
 * COSIG_LINE_MAX is always enough), NUL-terminated. */
ls_rc cosig_sign(const struct cosig_signer *s, const char *text, size_t n, uint64_t ts,
		 char *line, size_t cap, struct ls_err *err);

/*
 * Check one signature line (with or without its newline) against the
 * checkpoint text and the known witness keys.  LS_OK: a known key's
 * cosignature that verifies (*which its index, *ts its time); LS_UNTRUSTED:
 * a well-formed line of no known key (an unknown witness, or a type we do
 * not check, such as ML-DSA-44); LS_TAMPERED: a known key's name and id
 * whose signature does not verify; LS_INVALID: not a signature line.
 */
ls_rc cosig_verify_line(const char *text, size_t tn, const char *line, size_t ln,
			const struct cosig_verifier *known, size_t nknown, size_t *which,
			uint64_t *ts, struct ls_err *err);

/*
 * A whole cosigned checkpoint: the log's signature (note keys, type 0x01)
 * and the witnesses' cosignatures.  cosig_note_check() parses the note
 * strictly (note_split), then the checkpoint body, then judges every line:
 *   - lines matching a log key: must verify (else LS_TAMPERED);
 *   - lines matching a witness key: must verify (else LS_TAMPERED), each
 *     witness counted once (its latest time kept);
 *   - any other line (unknown keys, other signature types): counted in
 *     `unknown`, kept in the note by callers, never trusted.
 * LS_OK when a log key's signature verified and no known line failed;
 * LS_UNTRUSTED when no log key signed it.  The quorum is the caller's:
 * rep->cosigned is the number of distinct witnesses whose cosignature
 * verified.  witness_ts (nwit entries, may be NULL) gets each witness's
 * time, 0 when it did not cosign.
 */
struct cosig_report {
	struct checkpoint cp;
	size_t text_len;	/* the checkpoint text: note[0 .. text_len) */
	size_t log_sigs;	/* log signatures that verified */
	size_t cosigned;	/* distinct witnesses whose cosignature verified */
	size_t unknown;		/* lines of keys or types not checked */
	size_t lines;		/* all signature lines */
};

ls_rc cosig_note_check(const char *note, size_t n, const struct note_verifier *logkeys,
		       size_t nlog, const struct cosig_verifier *wit, size_t nwit,
		       uint64_t *witness_ts, struct cosig_report *rep, struct ls_err *err);

/* ------------------------------------------------------------------------
 * tlog-witness add-checkpoint
 */
struct witness_req {
	uint64_t old;
	size_t nproof;
	uint8_t proof[COSIG_MAX_PROOF][LS_HASH_LEN];
	const char *note;	/* the signed checkpoint, inside the parsed body */
	size_t note_len;
};

/* Parse a request body strictly (LS_INVALID: the reply is 400).  The note
 * is only located, not parsed: callers open it with their log keys. */
ls_rc witness_req_parse(const char *body, size_t n, struct witness_req *r, struct ls_err *err);
/* Format a request body, malloc'd into *out (NUL-terminated). */
ls_rc witness_req_format(uint64_t old, const uint8_t (*proof)[LS_HASH_LEN], size_t nproof,
			 const char *note, size_t note_len, char **out, size_t *len,
			 struct ls_err *err);

/* The 409 body "<size>\n" (exactly that; LS_INVALID otherwise). */
ls_rc witness_size_parse(const char *body, size_t n, uint64_t *size);
ls_rc witness_size_format(uint64_t size, char *out, size_t cap);

/*
 * A 200 reply: one or more signature lines.  Each line is checked against
 * the checkpoint text with cosig_verify_line; LS_OK when every line is
 * well formed and no known key's line fails, *ok counting the lines of
 * known witnesses that verified (0 is possible: a witness we do not know).
 */
ls_rc witness_reply_check(const char *text, size_t tn, const char *body, size_t n,
			  const struct cosig_verifier *known, size_t nknown, size_t *ok,
			  struct ls_err *err);

#endif
