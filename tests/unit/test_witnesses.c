/*
 * test_witnesses.c - the pure parts of witness cosigning, log side:
 * the --witness URL=VKEY parser and the k-of-n quorum size
 * (followers/witnesses.h), the merge of cosignature lines into a signed
 * note (followers/cosigned.h, checked with core/cosig.h's verifier), and
 * what GET /v1/proof/consistency does for sizes the log never signed:
 * proofs between ANY a <= b made from the tiles of a larger tree, verified
 * with merkle_verify_consistency() against roots computed here from the
 * leaves, not from the tiles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cosig.h"
#include "core/merkle.h"
#include "core/note.h"
#include "followers/cosigned.h"
#include "followers/witnesses.h"
#include "store/tiles.h"

static void test_quorum_size(void **state)
{
	const uint64_t s[] = { 10, 30, 20, 0 };

	(void)state;
	assert_int_equal(witnesses_quorum_size(s, 4, 1), 30);
	assert_int_equal(witnesses_quorum_size(s, 4, 2), 20);
	assert_int_equal(witnesses_quorum_size(s, 4, 3), 10);
	/* all of them: the one that never cosigned holds the policy at 0 */
	assert_int_equal(witnesses_quorum_size(s, 4, 4), 0);
	assert_int_equal(witnesses_quorum_size(s, 4, 5), 0);
	assert_int_equal(witnesses_quorum_size(s, 4, 0), 0);
	/* the input is not reordered */
	assert_int_equal(s[0], 10);
	assert_int_equal(s[1], 30);
}

static void witness_key(const char *name, struct cosig_signer *s, char *vkey, size_t cap)
{
	struct cosig_verifier v;

	assert_int_equal(cosig_signer_generate(name, s, NULL), LS_OK);
	cosig_signer_verifier(s, &v);
	assert_int_equal(cosig_verifier_format(&v, vkey, cap), LS_OK);
}

static void test_parse_spec(void **state)
{
	struct cosig_signer s;
	char vkey[512], spec[1024], url[256], vk[512];
	struct ls_err err = { { 0 } };

	(void)state;
	witness_key("witness.example/w1", &s, vkey, sizeof(vkey));
	snprintf(spec, sizeof(spec), "http://127.0.0.1:9000/=%s", vkey);
	assert_int_equal(witnesses_parse_spec(spec, url, sizeof(url), vk, sizeof(vk), &err), LS_OK);
	assert_string_equal(url, "http://127.0.0.1:9000");	/* trailing '/' dropped */
	assert_string_equal(vk, vkey);
	/* '=' in the URL: the key is what parses as one */
	snprintf(spec, sizeof(spec), "https://w.example/p?a=b=%s", vkey);
	assert_int_equal(witnesses_parse_spec(spec, url, sizeof(url), vk, sizeof(vk), &err), LS_OK);
	assert_string_equal(url, "https://w.example/p?a=b");
	/* not http(s) */
	snprintf(spec, sizeof(spec), "file:///etc=%s", vkey);
	assert_int_equal(witnesses_parse_spec(spec, url, sizeof(url), vk, sizeof(vk), &err),
			 LS_INVALID);
	/* no key, a log key (type 0x01) instead of a cosigner key, no URL */
	assert_int_equal(witnesses_parse_spec("http://x", url, sizeof(url), vk, sizeof(vk), &err),
			 LS_INVALID);
	{
		struct note_signer ls;
		struct note_verifier lv;
		char lk[512];

		assert_int_equal(note_signer_generate("log.example", &ls, NULL), LS_OK);
		note_signer_verifier(&ls, &lv);
		assert_int_equal(note_verifier_format(&lv, lk, sizeof(lk)), LS_OK);
		snprintf(spec, sizeof(spec), "http://x=%s", lk);
		assert_int_equal(witnesses_parse_spec(spec, url, sizeof(url), vk, sizeof(vk), &err),
				 LS_INVALID);
	}
	snprintf(spec, sizeof(spec), "=%s", vkey);
	assert_int_equal(witnesses_parse_spec(spec, url, sizeof(url), vk, sizeof(vk), &err),
			 LS_INVALID);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_merge(void **state)
{
	struct note_signer ls;
	struct note_verifier lv;
	struct cosig_signer w1, w2;
	struct cosig_verifier v[2];
	char vk[512], body[256], l1[COSIG_LINE_MAX], l1b[COSIG_LINE_MAX], l2[COSIG_LINE_MAX];
	char both[2 * COSIG_LINE_MAX], *note = NULL, *m1 = NULL, *m2 = NULL, *m3 = NULL;
	size_t n1, n2, n3, tl = 0;
	uint64_t ts[2];
	struct cosig_report rep;
	struct checkpoint cp = { .size = 5 };

	(void)state;
	assert_int_equal(note_signer_generate("log.example/a", &ls, NULL), LS_OK);
	note_signer_verifier(&ls, &lv);
	witness_key("w1.example", &w1, vk, sizeof(vk));
	witness_key("w2.example", &w2, vk, sizeof(vk));
	cosig_signer_verifier(&w1, &v[0]);
	cosig_signer_verifier(&w2, &v[1]);
	snprintf(cp.origin, sizeof(cp.origin), "log.example/a");
	memset(cp.root, 7, sizeof(cp.root));
	assert_int_equal(checkpoint_format(&cp, body, sizeof(body)), LS_OK);
	assert_int_equal(note_sign(&ls, body, strlen(body), &note, NULL), LS_OK);
	assert_int_equal(cosig_sign(&w1, body, strlen(body), 1000, l1, sizeof(l1), NULL), LS_OK);
	assert_int_equal(cosig_sign(&w1, body, strlen(body), 2000, l1b, sizeof(l1b), NULL), LS_OK);
	assert_int_equal(cosig_sign(&w2, body, strlen(body), 1500, l2, sizeof(l2), NULL), LS_OK);
	snprintf(both, sizeof(both), "%s%s", l1, l2);

	assert_int_equal(cosigned_merge(note, strlen(note), both, strlen(both), &m1, &n1), LS_OK);
	/* invariant 1: the log's note byte for byte, then the lines */
	assert_memory_equal(m1, note, strlen(note));
	assert_string_equal(m1 + strlen(note), both);
	assert_int_equal(note_open(m1, n1, &lv, 1, &tl, NULL), LS_OK);
	assert_int_equal(cosig_note_check(m1, n1, &lv, 1, v, 2, ts, &rep, NULL), LS_OK);
	assert_int_equal(rep.cosigned, 2);
	assert_int_equal(ts[0], 1000);
	assert_int_equal(ts[1], 1500);
	/* the same lines again: nothing added */
	assert_int_equal(cosigned_merge(m1, n1, both, strlen(both), &m2, &n2), LS_OK);
	assert_int_equal(n2, n1);
	assert_string_equal(m2, m1);
	/* w1 cosigns again later: its line is replaced, not doubled */
	assert_int_equal(cosigned_merge(m2, n2, l1b, strlen(l1b), &m3, &n3), LS_OK);
	assert_int_equal(count_lines(m3), count_lines(m1));
	assert_int_equal(cosig_note_check(m3, n3, &lv, 1, v, 2, ts, &rep, NULL), LS_OK);
	assert_int_equal(rep.cosigned, 2);
	assert_int_equal(ts[0], 2000);
	assert_memory_equal(m3, note, strlen(note));
	/* not a signature line; no signature block; a line without newline */
	free(m2);
	m2 = NULL;
	assert_int_equal(cosigned_merge(note, strlen(note), "hello\n", 6, &m2, &n2), LS_INVALID);
	assert_int_equal(cosigned_merge(body, strlen(body), l1, strlen(l1), &m2, &n2), LS_INVALID);
	assert_int_equal(cosigned_merge(note, strlen(note), l1, strlen(l1) - 1, &m2, &n2),
			 LS_INVALID);
	assert_null(m2);
	free(note);
	free(m1);
	free(m3);
}

/* ------------------------------------------------------------ any-size proofs */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

#define NLEAVES 700

static void test_consistency_any_size(void **state)
{
	static uint8_t roots[NLEAVES + 1][LS_HASH_LEN];
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN], leaf[LS_HASH_LEN], r[LS_HASH_LEN];
	char dir[] = "/tmp/test_witnesses.XXXXXX";
	const uint64_t signed_sizes[] = { 100, 256, 513, NLEAVES };
	struct merkle_tree t;
	struct tiles_writer *w = NULL;
	struct tiles_reader *tr = NULL;
	struct ls_err err = { { 0 } };
	size_t np, k = 0, pairs = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	merkle_tree_init(&t);
	merkle_tree_root(&t, roots[0]);
	assert_int_equal(tiles_writer_open(dir, 0, &w, &err), LS_OK);
	for (uint64_t i = 0; i < NLEAVES; i++) {
		char e[32];

		snprintf(e, sizeof(e), "entry %llu", (unsigned long long)i);
		merkle_leaf_hash(e, strlen(e), leaf);
		merkle_tree_append(&t, leaf);
		merkle_tree_root(&t, roots[i + 1]);
		assert_int_equal(tiles_writer_append(w, leaf, NULL, 0), LS_OK);
		/* tiles only for the sizes a log would have signed */
		if (i + 1 == signed_sizes[k]) {
			assert_int_equal(tiles_writer_flush(w, &err), LS_OK);
			k++;
		}
	}
	tiles_writer_free(w);
	/* The reader of the latest signed size answers every smaller tree. */
	assert_int_equal(tiles_reader_open(dir, NLEAVES, &tr), LS_OK);
	for (uint64_t b = 1; b <= NLEAVES; b += (b < 20 ? 1 : 37)) {
		assert_int_equal(merkle_root(tiles_node_hash, tr, b, r), LS_OK);
		assert_memory_equal(r, roots[b], LS_HASH_LEN);
		for (uint64_t a = 1; a < b; a += (a < 20 ? 1 : 29)) {
			assert_int_equal(merkle_consistency_proof(tiles_node_hash, tr, a, b, proof, &np),
					 LS_OK);
			assert_int_equal(merkle_verify_consistency(a, b, roots[a], roots[b],
								   (const uint8_t(*)[LS_HASH_LEN])proof,
								   np), LS_OK);
			/* and it proves nothing else */
			assert_int_equal(merkle_verify_consistency(a, b, roots[a], roots[b - 1],
								   (const uint8_t(*)[LS_HASH_LEN])proof,
								   np), LS_TAMPERED);
			pairs++;
		}
	}
	assert_true(pairs > 300);
	/* beyond the reader's size: refused, never a wrong hash */
	assert_int_not_equal(merkle_consistency_proof(tiles_node_hash, tr, 5, NLEAVES + 1, proof,
						      &np), LS_OK);
	tiles_reader_free(tr);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quorum_size),
		cmocka_unit_test(test_parse_spec),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_consistency_any_size),
	};

	return cmocka_run_group_tests_name("witnesses", tests, NULL, NULL);
}
