/*
 * fuzz_evidence.c - libFuzzer target for the evidence file check
 * (followers/evidence.h): the JSON, the base64 members, the proof, the
 * checkpoint note and its cosignature lines, read by evidence_verify().
 *
 * Input: an evidence file.  The keys are fixed: the log key (origin
 * fuzz.test/log, from a seed of 32 bytes 0x01) and one witness
 * (fuzz.test/w1, seed 0x02).  Invariants (abort on breach): the result is one of
 * OK, TAMPERED, UNTRUSTED, INVALID, LIMIT, NOMEM; on OK the index is below
 * the tree size and the cosigned count is at most the witnesses given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "followers/evidence.h"

static ls_rc no_sign(void *ctx, const uint8_t *msg, size_t n, uint8_t sig[64],
		     struct ls_err *err)
{
	(void)ctx; (void)msg; (void)n; (void)sig;
	return ls_err_set(err, LS_INVALID, "not used");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct note_verifier lk;
	static struct cosig_verifier wk;
	static int ready;
	struct evidence_report rep;
	struct ls_err err = { "" };
	ls_rc rc;

	if (!ready) {
		uint8_t seed[32];

		memset(&lk, 0, sizeof(lk));
		memset(&wk, 0, sizeof(wk));
		memset(seed, 1, sizeof(seed));
		ls_ed25519_public(seed, lk.pub);
		strcpy(lk.name, "fuzz.test/log");
		memset(seed, 2, sizeof(seed));
		ls_ed25519_public(seed, wk.pub);
		strcpy(wk.name, "fuzz.test/w1");
		wk.key_id = cosig_key_id(wk.name, strlen(wk.name), wk.pub);
		{
			/* the key id as note.c computes it */
			struct note_signer s;

			if (note_signer_external(lk.name, lk.pub, no_sign, NULL, &s, NULL) == LS_OK)
				lk.key_id = s.key_id;
		}
		ready = 1;
	}
	rc = evidence_verify((const char *)data, size, &lk, &wk, 1, 1, &rep, &err);
	if (rc != LS_OK && rc != LS_TAMPERED && rc != LS_UNTRUSTED && rc != LS_INVALID &&
	    rc != LS_LIMIT && rc != LS_NOMEM)
		abort();
	if (rc == LS_OK && (rep.index >= rep.tree_size || rep.cosigned > 1))
		abort();
	return 0;
}
