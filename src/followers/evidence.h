/*
 * evidence.h - evidence for one event: a self-contained JSON file holding
 * one entry, its inclusion proof to a signed checkpoint of a larger tree,
 * and that checkpoint as stored (with the witnesses' cosignature lines when
 * the log has them); and its offline check with the log's key and the
 * witnesses' keys (`logseal verify-bundle`, docs/API.md "Evidence").
 *
 * The file (UTF-8 JSON, one object, keys in this order when written):
 *   "evidence"   "logseal evidence v1"
 *   "origin"     the log's origin (the checkpoint's first line)
 *   "index"      N, the entry's leaf index
 *   "entry_b64"  base64 of the exact entry bytes (the leaf is
 *                SHA-256(0x00 || entry), RFC 6962)
 *   "leaf_hash"  base64 of that leaf hash
 *   "tree_size"  S > N, the checkpoint's size
 *   "proof"      [base64 of 32 bytes, ...]: RFC 6962 PATH(N, D[0:S]),
 *                the leaf's sibling first
 *   "checkpoint" the signed checkpoint note of size S, as stored: its text,
 *                the log's signature line and any cosignature/v1 lines
 * Nothing in the file is trusted: every claim is recomputed from the entry
 * bytes and checked under keys the checker brings.
 */
#ifndef LS_EVIDENCE_H
#define LS_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "core/cosig.h"
#include "core/note.h"

#define EVIDENCE_MAGIC "logseal evidence v1"
#define EVIDENCE_MAX (4u << 20)	/* a file larger than this is refused */

/* Format the evidence file into *out (malloc'd, NUL-terminated, ends in
 * "\n"). */
ls_rc evidence_format(const char *origin, uint64_t index, const uint8_t *entry, size_t len,
		      uint64_t tree_size, const uint8_t (*proof)[LS_HASH_LEN], size_t nproof,
		      const char *checkpoint, char **out, size_t *out_len, struct ls_err *err);

struct evidence_report {
	uint64_t index, tree_size;
	size_t cosigned;	/* distinct given witnesses whose cosignature verified */
	size_t unknown;		/* signature lines of keys not given (not trusted) */
};

/*
 * Check an evidence file: the entry hashes to leaf_hash, the proof leads
 * from it to the checkpoint's root, the checkpoint is signed by logkey and
 * its origin and size are the file's, every cosignature line of a given
 * witness verifies, and at least quorum distinct given witnesses cosigned.
 * LS_OK when all hold; LS_TAMPERED (with the reason) when one does not;
 * LS_UNTRUSTED when logkey did not sign it; LS_INVALID when malformed.
 */
ls_rc evidence_verify(const char *text, size_t n, const struct note_verifier *logkey,
		      const struct cosig_verifier *wit, size_t nwit, size_t quorum,
		      struct evidence_report *rep, struct ls_err *err);

#endif
