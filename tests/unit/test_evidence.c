/*
 * test_evidence.c - the evidence file for one event (followers/evidence.h):
 * a file for entry 0 or 1 of a two-entry tree (root = H(0x01 || leaf0 ||
 * leaf1), RFC 6962), signed by a log key and cosigned by two witnesses
 * (core/cosig.h), verifies with the right keys and quorum; a wrong proof,
 * another index, another log key, an unmet quorum, a changed entry or
 * cosignature and a file that is not evidence are refused with the code
 * evidence.h promises.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cosig.h"
#include "core/merkle.h"
#include "core/note.h"
#include "followers/evidence.h"

static const char e0[] = "{\"id\":\"zero\"}", e1[] = "{\"id\":\"one\"}";

struct fx {
	struct note_signer log;
	struct note_verifier logv;
	struct cosig_signer w[3];
	struct cosig_verifier wv[3];
	uint8_t l0[LS_HASH_LEN], l1[LS_HASH_LEN];
	char *note;	/* the checkpoint of size 2, cosigned by w[0] and w[1] */
};

static void fx_make(struct fx *f)
{
	struct checkpoint cp;
	char body[512], line[COSIG_LINE_MAX];
	size_t tl;

	memset(f, 0, sizeof(*f));
	assert_int_equal(note_signer_generate("evidence.test/log", &f->log, NULL), LS_OK);
	note_signer_verifier(&f->log, &f->logv);
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "evidence.test/w%d", i + 1);
		assert_int_equal(cosig_signer_generate(name, &f->w[i], NULL), LS_OK);
		cosig_signer_verifier(&f->w[i], &f->wv[i]);
	}
	merkle_leaf_hash(e0, strlen(e0), f->l0);
	merkle_leaf_hash(e1, strlen(e1), f->l1);
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "evidence.test/log");
	cp.size = 2;
	merkle_node_hash(f->l0, f->l1, cp.root);
	assert_int_equal(checkpoint_format(&cp, body, sizeof(body)), LS_OK);
	assert_int_equal(note_sign(&f->log, body, strlen(body), &f->note, NULL), LS_OK);
	tl = strlen(body);
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(f->note);
		char *t;

		assert_int_equal(cosig_sign(&f->w[i], body, tl, 1700000000 + i, line, sizeof(line),
					    NULL), LS_OK);
		t = realloc(f->note, n + strlen(line) + 1);
		assert_non_null(t);
		memcpy(t + n, line, strlen(line) + 1);
		f->note = t;
	}
}

static char *file_for(struct fx *f, uint64_t index, const char *entry, const uint8_t *sib)
{
	uint8_t proof[1][LS_HASH_LEN];
	char *out = NULL;
	size_t len;

	memcpy(proof[0], sib, LS_HASH_LEN);
	assert_int_equal(evidence_format("evidence.test/log", index, (const uint8_t *)entry,
					 strlen(entry), 2, (const uint8_t(*)[LS_HASH_LEN])proof, 1,
					 f->note, &out, &len, NULL),
			 LS_OK);
	assert_int_equal(strlen(out), len);
	assert_int_equal(out[len - 1], '\n');
	return out;
}

static ls_rc check(struct fx *f, const char *file, size_t nwit, size_t quorum,
		   struct evidence_report *rep, struct ls_err *err)
{
	return evidence_verify(file, strlen(file), &f->logv, f->wv, nwit, quorum, rep, err);
}

static void test_good(void **state)
{
	struct fx f;
	struct evidence_report rep;
	struct ls_err err = { "" };
	char *a, *b;

	(void)state;
	fx_make(&f);
	a = file_for(&f, 0, e0, f.l1);
	b = file_for(&f, 1, e1, f.l0);
	assert_int_equal(check(&f, a, 2, 2, &rep, &err), LS_OK);
	assert_int_equal(rep.index, 0);
	assert_int_equal(rep.tree_size, 2);
	assert_int_equal(rep.cosigned, 2);
	assert_int_equal(check(&f, b, 2, 2, &rep, &err), LS_OK);
	assert_int_equal(rep.index, 1);
	/* The log key alone: the cosignatures are lines of unknown keys. */
	assert_int_equal(check(&f, a, 0, 0, &rep, &err), LS_OK);
	assert_int_equal(rep.unknown, 2);
	assert_non_null(strstr(a, "\"evidence\": \"logseal evidence v1\""));
	free(a);
	free(b);
	free(f.note);
}

static void test_refused(void **state)
{
	struct fx f;
	struct evidence_report rep;
	struct ls_err err = { "" };
	struct note_signer other;
	struct note_verifier ov;
	char *a, *p;

	(void)state;
	fx_make(&f);
	/* The proof of entry 1 given for entry 0. */
	a = file_for(&f, 0, e0, f.l0);
	assert_int_equal(check(&f, a, 2, 2, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "inclusion proof of entry 0 does not lead"));
	free(a);
	/* Entry 0 claimed at index 1. */
	a = file_for(&f, 1, e0, f.l1);
	assert_int_equal(check(&f, a, 2, 2, &rep, &err), LS_TAMPERED);
	free(a);
	/* Another entry under entry 0's leaf hash. */
	a = file_for(&f, 0, e0, f.l1);
	p = strstr(a, "\"entry_b64\": \"");
	assert_non_null(p);
	p += strlen("\"entry_b64\": \"");
	*p = *p == 'e' ? 'f' : 'e';
	assert_int_equal(check(&f, a, 2, 2, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "does not hash to leaf_hash"));
	free(a);
	/* Quorum 3 of w1, w2, w3: w3 never cosigned. */
	a = file_for(&f, 0, e0, f.l1);
	assert_int_equal(check(&f, a, 3, 3, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "2 of the 3 given witnesses cosigned"));
	assert_int_equal(check(&f, a, 3, 2, &rep, &err), LS_OK);
	/* Another log's key. */
	assert_int_equal(note_signer_generate("evidence.test/log", &other, NULL), LS_OK);
	note_signer_verifier(&other, &ov);
	assert_int_equal(evidence_verify(a, strlen(a), &ov, f.wv, 2, 2, &rep, &err), LS_UNTRUSTED);
	/* A changed byte in w2's cosignature (the last line). */
	p = strstr(a, "\\n\u2014 evidence.test/w2 ");
	assert_non_null(p);
	p += strlen("\\n\u2014 evidence.test/w2 ") + 20;
	*p = *p == 'A' ? 'B' : 'A';
	assert_int_equal(check(&f, a, 2, 2, &rep, &err), LS_TAMPERED);
	assert_non_null(strstr(err.msg, "cosignature by evidence.test/w2"));
	free(a);
	assert_int_equal(check(&f, "{\"evidence\":\"x\"}", 0, 0, &rep, &err), LS_INVALID);
	assert_int_equal(check(&f, "not json", 0, 0, &rep, &err), LS_INVALID);
	note_signer_wipe(&other);
	free(f.note);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
