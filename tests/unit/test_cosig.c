/*
 * test_cosig.c - cosignature/v1, cosigned notes and the tlog-witness
 * add-checkpoint request against published and independently made vectors.
 *
 * Vectors:
 *  - C2SP tlog-witness.md: the example add-checkpoint request body (byte for
 *    byte, its two log signature lines included) and the example reply.
 *  - C2SP tlog-cosignature.md: the example cosigned checkpoint; its witness
 *    line (key not published) must parse as a well-formed line of an unknown
 *    key, with the timestamp 1679315147 the text's signed message shows.
 *  - golang.org/x/mod/sumdb/note reference seed (tests/vectors/
 *    signed-note-vectors.txt, "PeterNeumann") reused as a witness seed with
 *    signature type 0x04: the key id, vkey and the cosignature line below
 *    were computed with PyNaCl (libsodium), not with logseal, from the
 *    C2SP text (Ed25519 is deterministic, so ours must match byte for byte).
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
#include "core/cosig.h"
#include "core/merkle.h"
#include "core/note.h"

#define EM_DASH "\xe2\x80\x94"

/* Go's reference seed as a witness key (type 0x04). */
#define W_SKEY "PRIVATE+KEY+witness.example/w1+cc9a7044+BIEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define W_VKEY "witness.example/w1+cc9a7044+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define CP_TEXT "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define W_TS 1679315147ull
#define W_LINE EM_DASH " witness.example/w1 zJpwRAAAAABkGFDLJeR//pqzhnEKVvEm2wWbh2RJ6oru5+cUUfm5X9NnlaGr8aSH9QE5RVZD4QGlxl2F5UpVIIi94p178KLfqPPsAA==\n"
/* The log key of the Go reference, for signing checkpoints in tests. */
#define LOG_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"

/* C2SP tlog-cosignature.md example witness line (key unpublished). */
#define SPEC_WLINE EM_DASH " witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"

/* C2SP tlog-witness.md example request body. */
static const char spec_req[] =
	"old 20852014\n"
	"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
	"jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
	"5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
	"/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
	"\n"
	"example.com/behind-the-sofa\n"
	"20852163\n"
	"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	"\n"
	EM_DASH " example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
	EM_DASH " example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

static void test_keys(void **state)
{
	struct cosig_verifier v, v2;
	struct cosig_signer s;
	struct ls_err err = { { 0 } };
	char out[512];

	(void)state;
	assert_int_equal(cosig_verifier_parse(W_VKEY, strlen(W_VKEY), &v, &err), LS_OK);
	assert_string_equal(v.name, "witness.example/w1");
	assert_int_equal(v.key_id, 0xcc9a7044u);
	assert_int_equal(cosig_key_id(v.name, strlen(v.name), v.pub), 0xcc9a7044u);
	assert_int_equal(cosig_verifier_format(&v, out, sizeof(out)), LS_OK);
	assert_string_equal(out, W_VKEY);

	assert_int_equal(cosig_signer_parse(W_SKEY, strlen(W_SKEY), &s, &err), LS_OK);
	cosig_signer_verifier(&s, &v2);
	assert_memory_equal(&v, &v2, sizeof(v));
	assert_int_equal(cosig_signer_format(&s, out, sizeof(out)), LS_OK);
	assert_string_equal(out, W_SKEY);
	cosig_signer_wipe(&s);

	/* The same key as a note (type 0x01) vkey is not a witness key: its
	 * type byte and its key id differ. */
	{
		const char *logv = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
		const char *badid = "witness.example/w1+cc9a7045+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
		const char *typ1 = "witness.example/w1+cc9a7044+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

		assert_int_equal(cosig_verifier_parse(logv, strlen(logv), &v2, &err), LS_INVALID);
		assert_int_equal(cosig_verifier_parse(badid, strlen(badid), &v2, &err), LS_INVALID);
		assert_int_equal(cosig_verifier_parse(typ1, strlen(typ1), &v2, &err), LS_INVALID);
		assert_int_equal(cosig_verifier_parse("a+b", 3, &v2, &err), LS_INVALID);
	}
	/* A generated key round-trips and its id is computed with type 0x04. */
	assert_int_equal(cosig_signer_generate("w.example/x", &s, &err), LS_OK);
	assert_int_equal(s.key_id, cosig_key_id("w.example/x", 11, s.pub));
	assert_int_not_equal(s.key_id, note_key_id_alg("w.example/x", 11, 0x01, s.pub));
	assert_int_equal(cosig_signer_generate("bad name", &s, &err), LS_INVALID);
}

static void test_sign_vector(void **state)
{
	struct cosig_signer s;
	struct cosig_verifier v;
	struct ls_err err = { { 0 } };
	char line[COSIG_LINE_MAX];
	char *msg = NULL;
	size_t mlen = 0, which = 9;
	uint64_t ts = 0;

	(void)state;
	assert_int_equal(cosig_signer_parse(W_SKEY, strlen(W_SKEY), &s, &err), LS_OK);
	assert_int_equal(cosig_sign(&s, CP_TEXT, strlen(CP_TEXT), W_TS, line, sizeof(line), &err),
			 LS_OK);
	assert_string_equal(line, W_LINE);
	assert_int_equal(cosig_sign(&s, CP_TEXT, strlen(CP_TEXT), 0, line, sizeof(line), &err),
			 LS_INVALID);
	assert_int_equal(cosig_sign(&s, CP_TEXT, strlen(CP_TEXT), 1ull << 63, line, sizeof(line),
				    &err),
			 LS_INVALID);

	/* The message is the spec's example, byte for byte. */
	assert_int_equal(cosig_message(CP_TEXT, strlen(CP_TEXT), W_TS, &msg, &mlen, &err), LS_OK);
	assert_int_equal(mlen, strlen("cosignature/v1\ntime 1679315147\n" CP_TEXT));
	assert_memory_equal(msg, "cosignature/v1\ntime 1679315147\n" CP_TEXT, mlen);
	free(msg);

	cosig_signer_verifier(&s, &v);
	assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), W_LINE, strlen(W_LINE), &v, 1,
					   &which, &ts, &err),
			 LS_OK);
	assert_int_equal(which, 0);
	assert_int_equal(ts, W_TS);
	cosig_signer_wipe(&s);
}

static void test_verify_line_rejects(void **state)
{
	struct cosig_verifier v, other;
	struct cosig_signer s2;
	struct ls_err err = { { 0 } };
	char line[COSIG_LINE_MAX], text[sizeof(CP_TEXT)];
	size_t n = strlen(W_LINE), k;

	(void)state;
	assert_int_equal(cosig_verifier_parse(W_VKEY, strlen(W_VKEY), &v, &err), LS_OK);
	/* Another checkpoint text: the signature fails. */
	memcpy(text, CP_TEXT, sizeof(CP_TEXT));
	text[30] = '4';
	assert_int_equal(cosig_verify_line(text, strlen(text), W_LINE, n, &v, 1, NULL, NULL, &err),
			 LS_TAMPERED);
	/* Every base64 digit of the timestamp and signature changed in turn. */
	for (k = strlen(EM_DASH " witness.example/w1 ") + 6; k < n - 3; k += 7) {
		memcpy(line, W_LINE, n + 1);
		line[k] = line[k] == 'A' ? 'B' : 'A';
		assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), line, n, &v, 1, NULL,
						   NULL, &err),
				 LS_TAMPERED);
	}
	/* Unknown witness (same name, other key): never trusted. */
	assert_int_equal(cosig_signer_generate("witness.example/w1", &s2, &err), LS_OK);
	cosig_signer_verifier(&s2, &other);
	assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), W_LINE, n, &other, 1, NULL,
					   NULL, &err),
			 LS_UNTRUSTED);
	/* The spec's example line is well formed, of an unknown key. */
	assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), SPEC_WLINE,
					   strlen(SPEC_WLINE), &v, 1, NULL, NULL, &err),
			 LS_UNTRUSTED);
	/* Not signature lines. */
	assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), "- w x\n", 6, &v, 1, NULL,
					   NULL, &err),
			 LS_INVALID);
	assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), "", 0, &v, 1, NULL, NULL,
					   &err),
			 LS_INVALID);
	memcpy(line, W_LINE, n + 1);
	line[n - 2] = '*';
	assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), line, n, &v, 1, NULL, NULL,
					   &err),
			 LS_INVALID);
	/* A short line with the known name and id: tampered (wrong length). */
	{
		uint8_t raw[4 + 8 + 10] = { 0xcc, 0x9a, 0x70, 0x44 };
		char b64[64];

		ls_b64_encode(raw, sizeof(raw), b64, sizeof(b64));
		snprintf(line, sizeof(line), EM_DASH " witness.example/w1 %s\n", b64);
		assert_int_equal(cosig_verify_line(CP_TEXT, strlen(CP_TEXT), line, strlen(line), &v,
						   1, NULL, NULL, &err),
				 LS_TAMPERED);
	}
}

/* The spec's witness line carries time 1679315147 (the spec's message). */
static void test_spec_line_time(void **state)
{
	const char *b = strrchr(SPEC_WLINE, ' ') + 1;
	uint8_t raw[128];
	size_t len = 0;
	uint64_t t = 0;

	(void)state;
	assert_int_equal(ls_b64_decode(b, strlen(b) - 1, raw, sizeof(raw), &len), LS_OK);
	assert_int_equal(len, 4 + COSIG_SIG_LEN);
	for (int i = 0; i < 8; i++)
		t = t << 8 | raw[4 + i];
	assert_int_equal(t, 1679315147ull);
}

/* A checkpoint signed by the Go reference log key, cosigned by our vector
 * witness, with the spec's unknown witness line. */
static char *make_note(const char *extra)
{
	struct note_signer ls;
	struct ls_err err = { { 0 } };
	char *note = NULL, *all;
	size_t n;

	assert_int_equal(note_signer_parse(LOG_SKEY, strlen(LOG_SKEY), &ls, &err), LS_OK);
	assert_int_equal(note_sign(&ls, CP_TEXT, strlen(CP_TEXT), &note, &err), LS_OK);
	note_signer_wipe(&ls);
	n = strlen(note) + strlen(extra) + 1;
	all = malloc(n);
	assert_non_null(all);
	snprintf(all, n, "%s%s", note, extra);
	free(note);
	return all;
}

static void test_note_check(void **state)
{
	struct note_verifier logv;
	struct note_signer ls;
	struct cosig_verifier w[2];
	struct cosig_signer s2;
	struct cosig_report rep;
	struct ls_err err = { { 0 } };
	uint64_t ts[2];
	char *note;

	(void)state;
	assert_int_equal(note_signer_parse(LOG_SKEY, strlen(LOG_SKEY), &ls, &err), LS_OK);
	note_signer_verifier(&ls, &logv);
	note_signer_wipe(&ls);
	assert_int_equal(cosig_verifier_parse(W_VKEY, strlen(W_VKEY), &w[0], &err), LS_OK);
	assert_int_equal(cosig_signer_generate("w2.example", &s2, &err), LS_OK);
	cosig_signer_verifier(&s2, &w[1]);

	note = make_note(W_LINE SPEC_WLINE);
	assert_int_equal(cosig_note_check(note, strlen(note), &logv, 1, w, 2, ts, &rep, &err),
			 LS_OK);
	assert_int_equal(rep.log_sigs, 1);
	assert_int_equal(rep.cosigned, 1);
	assert_int_equal(rep.unknown, 1);
	assert_int_equal(rep.lines, 3);
	assert_int_equal(ts[0], W_TS);
	assert_int_equal(ts[1], 0);
	assert_int_equal(rep.cp.size, 20852163);
	assert_string_equal(rep.cp.origin, "example.com/behind-the-sofa");
	assert_int_equal(rep.text_len, strlen(CP_TEXT));
	/* note_open (log keys only) accepts the cosigned note as well. */
	assert_int_equal(note_open(note, strlen(note), &logv, 1, NULL, &err), LS_OK);
	/* No log key known: untrusted. */
	assert_int_equal(cosig_note_check(note, strlen(note), NULL, 0, w, 2, ts, &rep, &err),
			 LS_UNTRUSTED);
	free(note);

	/* A second cosignature by w2 counts a second witness. */
	{
		char line[COSIG_LINE_MAX], extra[2 * COSIG_LINE_MAX];

		assert_int_equal(cosig_sign(&s2, CP_TEXT, strlen(CP_TEXT), 5, line, sizeof(line),
					    &err),
				 LS_OK);
		snprintf(extra, sizeof(extra), "%s%s%s", W_LINE, line, W_LINE);
		note = make_note(extra);
		assert_int_equal(cosig_note_check(note, strlen(note), &logv, 1, w, 2, ts, &rep,
						  &err),
				 LS_OK);
		assert_int_equal(rep.cosigned, 2);
		assert_int_equal(ts[1], 5);
		free(note);
	}
	/* A known witness line that fails: the whole note is tampered. */
	{
		char bad[sizeof(W_LINE)];

		memcpy(bad, W_LINE, sizeof(W_LINE));
		bad[sizeof(W_LINE) - 10] ^= 1;
		note = make_note(bad);
		assert_int_equal(cosig_note_check(note, strlen(note), &logv, 1, w, 2, ts, &rep,
						  &err),
				 LS_TAMPERED);
		free(note);
	}
	/* The log signature changed: tampered. */
	note = make_note("");
	{
		char *p = strstr(note, "PeterNeumann ") + 20;

		*p = *p == 'A' ? 'B' : 'A';
	}
	assert_int_equal(cosig_note_check(note, strlen(note), &logv, 1, w, 2, ts, &rep, &err),
			 LS_TAMPERED);
	free(note);
	/* Not a checkpoint (the C2SP signed-note example text). */
	{
		const char *ex = "This is an example message.\n\n" EM_DASH
				 " example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
		struct note_verifier exv;
		const char *vk = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

		assert_int_equal(note_verifier_parse(vk, strlen(vk), &exv, &err), LS_OK);
		assert_int_equal(note_open(ex, strlen(ex), &exv, 1, NULL, &err), LS_OK);
		assert_int_equal(cosig_note_check(ex, strlen(ex), &exv, 1, w, 2, ts, &rep, &err),
				 LS_INVALID);
	}
	cosig_signer_wipe(&s2);
}

static void test_request(void **state)
{
	struct witness_req r;
	struct ls_err err = { { 0 } };
	struct note_split sp;
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(witness_req_parse(spec_req, strlen(spec_req), &r, &err), LS_OK);
	assert_int_equal(r.old, 20852014);
	assert_int_equal(r.nproof, 4);
	{
		uint8_t h[32];
		size_t hl = 0;

		assert_int_equal(ls_b64_decode("/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=", 44, h,
					       32, &hl),
				 LS_OK);
		assert_memory_equal(r.proof[3], h, 32);
	}
	assert_ptr_equal(r.note, strstr(spec_req, "example.com/behind-the-sofa\n"));
	assert_int_equal(note_split(r.note, r.note_len, &sp, &err), LS_OK);
	assert_int_equal(sp.nsigs, 2);
	assert_int_equal(sp.text_len, strlen(CP_TEXT));
	/* Formatting gives the spec's bytes back. */
	assert_int_equal(witness_req_format(r.old, (const uint8_t(*)[32])r.proof, r.nproof, r.note,
					    r.note_len, &out, &len, &err),
			 LS_OK);
	assert_int_equal(len, strlen(spec_req));
	assert_memory_equal(out, spec_req, len);
	free(out);
}

static void test_request_rejects(void **state)
{
	static const char *bad[] = {
		"",
		"old 01\n\nx\n",
		"old -1\n\nx\n",
		"old  1\n\nx\n",
		"old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\nx\n",	/* no blank line */
		"old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpk=\n\nx\n",	/* 30 bytes */
		"old 1\n\n",							/* no checkpoint */
		"Old 1\n\nx\n",
		"old 18446744073709551616\n\nx\n",				/* past 2^64-1 */
		"old 1",
		"old 1\nAAAA",
	};
	struct witness_req r;
	struct ls_err err = { { 0 } };
	char *big, *p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(witness_req_parse(bad[i], strlen(bad[i]), &r, &err), LS_OK);
	/* 63 proof lines are allowed, 64 are not. */
	big = malloc(64 * 45 + 64);
	assert_non_null(big);
	for (int lines = 63; lines <= 64; lines++) {
		p = big + sprintf(big, "old 1\n");
		for (int i = 0; i < lines; i++)
			p += sprintf(p, "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n");
		sprintf(p, "\nx\n");
		assert_int_equal(witness_req_parse(big, strlen(big), &r, &err),
				 lines == 63 ? LS_OK : LS_INVALID);
	}
	free(big);
}

static void test_size_and_reply(void **state)
{
	struct cosig_verifier v;
	struct ls_err err = { { 0 } };
	uint64_t n = 0;
	size_t ok = 9;
	char buf[32];

	(void)state;
	assert_int_equal(witness_size_parse("20852014\n", 9, &n), LS_OK);
	assert_int_equal(n, 20852014);
	assert_int_equal(witness_size_parse("0\n", 2, &n), LS_OK);
	assert_int_equal(n, 0);
	assert_int_equal(witness_size_parse("012\n", 4, &n), LS_INVALID);
	assert_int_equal(witness_size_parse("12", 2, &n), LS_INVALID);
	assert_int_equal(witness_size_parse("12\n\n", 4, &n), LS_INVALID);
	assert_int_equal(witness_size_format(42, buf, sizeof(buf)), LS_OK);
	assert_string_equal(buf, "42\n");

	assert_int_equal(cosig_verifier_parse(W_VKEY, strlen(W_VKEY), &v, &err), LS_OK);
	assert_int_equal(witness_reply_check(CP_TEXT, strlen(CP_TEXT), W_LINE SPEC_WLINE,
					     strlen(W_LINE SPEC_WLINE), &v, 1, &ok, &err),
			 LS_OK);
	assert_int_equal(ok, 1);
	assert_int_equal(witness_reply_check(CP_TEXT, strlen(CP_TEXT), SPEC_WLINE,
					     strlen(SPEC_WLINE), &v, 1, &ok, &err),
			 LS_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(witness_reply_check(CP_TEXT, strlen(CP_TEXT), "hello\n", 6, &v, 1, &ok,
					     &err),
			 LS_INVALID);
}

/* A consistency proof carried by a formatted request verifies after parsing. */
static ls_rc leaves_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
	uint8_t (*leaves)[32] = ctx;
	uint8_t l[32], r[32];

	if (level == 0) {
		memcpy(out, leaves[index], 32);
		return LS_OK;
	}
	leaves_node(ctx, level - 1, 2 * index, l);
	leaves_node(ctx, level - 1, 2 * index + 1, r);
	merkle_node_hash(l, r, out);
	return LS_OK;
}

static void test_request_proof(void **state)
{
	uint8_t leaves[13][32], proof[MERKLE_MAX_PROOF][32], r1[32], r2[32];
	struct witness_req r;
	struct ls_err err = { { 0 } };
	size_t np = 0, len = 0;
	char *body = NULL;

	(void)state;
	for (int i = 0; i < 13; i++)
		merkle_leaf_hash(&i, sizeof(i), leaves[i]);
	assert_int_equal(merkle_consistency_proof(leaves_node, leaves, 6, 13, proof, &np), LS_OK);
	assert_int_equal(merkle_root(leaves_node, leaves, 6, r1), LS_OK);
	assert_int_equal(merkle_root(leaves_node, leaves, 13, r2), LS_OK);
	assert_int_equal(witness_req_format(6, (const uint8_t(*)[32])proof, np, "x\n", 2, &body,
					    &len, &err),
			 LS_OK);
	assert_int_equal(witness_req_parse(body, len, &r, &err), LS_OK);
	assert_int_equal(r.nproof, np);
	assert_int_equal(merkle_verify_consistency(6, 13, r1, r2, (const uint8_t(*)[32])r.proof,
						   r.nproof),
			 LS_OK);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_sign_vector),
		cmocka_unit_test(test_verify_line_rejects),
		cmocka_unit_test(test_spec_line_time),
		cmocka_unit_test(test_note_check),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_request_rejects),
		cmocka_unit_test(test_size_and_reply),
		cmocka_unit_test(test_request_proof),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
