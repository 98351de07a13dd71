/*
 * fuzz_witness.c - libFuzzer target for the tlog-witness add-checkpoint
 * request parser and the cosignature parsers (core/cosig.h).
 *
 * The input is fed to witness_req_parse, cosig_note_check (with a fixed log
 * key and witness key: the golang.org/x/mod/sumdb/note reference seed as
 * both), cosig_verify_line, witness_reply_check, witness_size_parse and
 * cosig_verifier_parse.  Invariants checked (abort on breach):
 *  - an accepted request formats back to exactly its input bytes;
 *  - an accepted request's note lies inside the input, at its end;
 *  - an accepted cosigned note has text_len < n, at most `lines` lines, and
 *    cosigned <= 1 (one known witness);
 *  - a parsed witness vkey formats to a string that parses to the same key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cosig.h"

static const char log_skey[] =
	"PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char wit_vkey[] =
	"witness.example/w1+cc9a7044+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char cp_text[] =
	"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

static struct note_verifier logv;
static struct cosig_verifier witv;
static int ready;

static void setup(void)
{
	struct note_signer s;

	if (note_signer_parse(log_skey, strlen(log_skey), &s, NULL) != LS_OK ||
	    cosig_verifier_parse(wit_vkey, strlen(wit_vkey), &witv, NULL) != LS_OK)
		abort();
	note_signer_verifier(&s, &logv);
	note_signer_wipe(&s);
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct witness_req r;
	struct cosig_report rep;
	struct cosig_verifier v, v2;
	uint64_t ts[1], sz;
	size_t ok;
	char out[1024];

	if (!ready)
		setup();
	if (witness_req_parse(in, size, &r, NULL) == LS_OK) {
		char *body = NULL;
		size_t len = 0;

		if (r.note < in || r.note + r.note_len != in + size || r.nproof > COSIG_MAX_PROOF)
			abort();
		if (witness_req_format(r.old, (const uint8_t(*)[LS_HASH_LEN])r.proof, r.nproof,
				       r.note, r.note_len, &body, &len, NULL) != LS_OK ||
		    len != size || memcmp(body, in, size) != 0)
			abort();
		free(body);
		if (cosig_note_check(r.note, r.note_len, &logv, 1, &witv, 1, ts, &rep, NULL) ==
		    LS_OK) {
			if (rep.text_len >= r.note_len || rep.cosigned > 1 ||
			    rep.log_sigs + rep.unknown > rep.lines)
				abort();
		}
	}
	if (cosig_note_check(in, size, &logv, 1, &witv, 1, ts, &rep, NULL) == LS_OK) {
		if (rep.text_len >= size || rep.cosigned > 1 || rep.log_sigs < 1)
			abort();
	}
	(void)cosig_verify_line(cp_text, sizeof(cp_text) - 1, in, size, &witv, 1, NULL, NULL,
				NULL);
	(void)witness_reply_check(cp_text, sizeof(cp_text) - 1, in, size, &witv, 1, &ok, NULL);
	(void)witness_size_parse(in, size, &sz);
	if (cosig_verifier_parse(in, size, &v, NULL) == LS_OK) {
		if (cosig_verifier_format(&v, out, sizeof(out)) != LS_OK ||
		    cosig_verifier_parse(out, strlen(out), &v2, NULL) != LS_OK ||
		    memcmp(&v, &v2, sizeof(v)) != 0)
			abort();
	}
	return 0;
}
