/*
 * test_witness.c - the tlog-witness decision of server/witness.c without
 * HTTP: a log of 20 leaves held in memory, checkpoints signed with the
 * golang.org/x/mod/sumdb/note reference key, requests made with
 * core/cosig's formatter and proofs with core/merkle.  Every status of the
 * spec's table, the 409 body, the cosignature verifying with the witness's
 * vkey, evidence files, and the state surviving a reopen (and a state file
 * that does not check refused at open).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/crypto.h"
#include "core/cosig.h"
#include "core/merkle.h"
#include "core/note.h"
#include "server/witness.h"

#define LOG_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define ORIGIN "PeterNeumann"

static uint8_t leaves[2][20][32];	/* two histories: [0] the log, [1] a fork */
static char wdir[256];

static ls_rc node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
	uint8_t (*lv)[32] = ctx, l[32], r[32];

	if (level == 0) {
		memcpy(out, lv[index], 32);
		return LS_OK;
	}
	node(ctx, level - 1, 2 * index, l);
	node(ctx, level - 1, 2 * index + 1, r);
	merkle_node_hash(l, r, out);
	return LS_OK;
}

/* The signed note of history h at size n. */
static char *signed_cp(int h, uint64_t n)
{
	struct note_signer s;
	struct checkpoint cp;
	char text[512], *note = NULL;

	assert_int_equal(note_signer_parse(LOG_SKEY, strlen(LOG_SKEY), &s, NULL), LS_OK);
	memset(&cp, 0, sizeof(cp));
	strcpy(cp.origin, ORIGIN);
	cp.size = n;
	assert_int_equal(merkle_root(node, leaves[h], n, cp.root), LS_OK);
	assert_int_equal(checkpoint_format(&cp, text, sizeof(text)), LS_OK);
	assert_int_equal(note_sign(&s, text, strlen(text), &note, NULL), LS_OK);
	note_signer_wipe(&s);
	return note;
}

/* Request: history h, old size, new size; proof from h's own tree. */
static char *request(int h, uint64_t old, uint64_t n, size_t *len)
{
	uint8_t proof[MERKLE_MAX_PROOF][32];
	size_t np = 0;
	char *note = signed_cp(h, n), *body = NULL;

	if (old > 0 && old < n)
		assert_int_equal(merkle_consistency_proof(node, leaves[h], old, n, proof, &np),
				 LS_OK);
	assert_int_equal(witness_req_format(old, (const uint8_t(*)[32])proof, np, note,
					    strlen(note), &body, len, NULL),
			 LS_OK);
	free(note);
	return body;
}

static struct witness *open_w(void)
{
	struct note_signer s;
	struct witness_log_cfg cfg;
	struct witness *w = NULL;
	struct ls_err err = { { 0 } };
	char vk[256], spec[512];

	assert_int_equal(note_signer_parse(LOG_SKEY, strlen(LOG_SKEY), &s, NULL), LS_OK);
	note_signer_verifier(&s, &cfg.key);
	note_signer_wipe(&s);
	assert_int_equal(note_verifier_format(&cfg.key, vk, sizeof(vk)), LS_OK);
	snprintf(spec, sizeof(spec), ORIGIN "=%s", vk);
	assert_int_equal(witness_log_cfg_parse(spec, &cfg, &err), LS_OK);
	assert_string_equal(cfg.origin, ORIGIN);
	assert_int_equal(witness_open(wdir, &cfg, 1, &w, &err), LS_OK);
	return w;
}

static int send(struct witness *w, int h, uint64_t old, uint64_t n, struct witness_reply *r)
{
	size_t len = 0;
	char *b = request(h, old, n, &len);

	witness_add_checkpoint(w, b, len, 1700000000, r);
	free(b);
	return r->status;
}

static int count_evidence(const char *status)
{
	char path[300];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/evidence", wdir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strstr(e->d_name, status) && strstr(e->d_name, ".req"))
			n++;
	closedir(d);
	return n;
}

static void test_decisions(void **state)
{
	struct witness_reply r;
	struct cosig_verifier wv;
	struct ls_err err = { { 0 } };
	char vkey[256], hex[65], *note;
	uint8_t h[32];
	struct witness *w;
	size_t ok = 0;

	(void)state;
	assert_int_equal(witness_init(wdir, "witness.test/unit", vkey, sizeof(vkey), &err), LS_OK);
	assert_int_equal(cosig_verifier_parse(vkey, strlen(vkey), &wv, &err), LS_OK);
	assert_int_equal(witness_init(wdir, "again", vkey, sizeof(vkey), &err), LS_EXISTS);
	w = open_w();
	ls_sha256(ORIGIN, strlen(ORIGIN), NULL, 0, h);
	ls_hex(h, 32, hex);

	witness_get_checkpoint(w, hex, &r);
	assert_int_equal(r.status, 404);
	free(r.body);

	/* old 0 -> 7: 200, a cosignature that verifies with the vkey. */
	assert_int_equal(send(w, 0, 0, 7, &r), 200);
	note = signed_cp(0, 7);
	{
		struct note_split sp;

		assert_int_equal(note_split(note, strlen(note), &sp, NULL), LS_OK);
		assert_int_equal(witness_reply_check(note, sp.text_len, r.body, r.len, &wv, 1, &ok,
						     &err),
				 LS_OK);
		assert_int_equal(ok, 1);
	}
	free(note);
	free(r.body);
	/* old 0 again: 409 "7\n". */
	assert_int_equal(send(w, 0, 0, 9, &r), 409);
	assert_string_equal(r.ctype, "text/x.tlog.size");
	assert_int_equal(r.len, 2);
	assert_memory_equal(r.body, "7\n", 2);
	free(r.body);
	/* old 7 -> 13 of the fork: the proof does not verify against our 7. */
	assert_int_equal(send(w, 1, 7, 13, &r), 422);
	free(r.body);
	/* the fork at the same size 7: 422. */
	assert_int_equal(send(w, 1, 7, 7, &r), 422);
	free(r.body);
	assert_int_equal(count_evidence("-422-"), 2);
	assert_int_equal(count_evidence("-409-"), 1);
	/* old > size: 400. */
	assert_int_equal(send(w, 0, 9, 8, &r), 400);
	free(r.body);
	/* 7 -> 13 of the log: 200; the same again (old 13, same root): 200. */
	assert_int_equal(send(w, 0, 7, 13, &r), 200);
	free(r.body);
	assert_int_equal(send(w, 0, 13, 13, &r), 200);
	free(r.body);
	/* garbage: 400; an unknown origin: 404. */
	witness_add_checkpoint(w, "old 1\n\nx\n", 9, 1, &r);
	assert_int_equal(r.status, 400);
	free(r.body);
	{
		struct note_signer o;
		char *n2 = NULL, *b = NULL;
		size_t bl = 0;
		const char *t = "other.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";

		assert_int_equal(note_signer_generate("other.example/log", &o, NULL), LS_OK);
		assert_int_equal(note_sign(&o, t, strlen(t), &n2, NULL), LS_OK);
		assert_int_equal(witness_req_format(0, NULL, 0, n2, strlen(n2), &b, &bl, NULL), LS_OK);
		witness_add_checkpoint(w, b, bl, 1, &r);
		assert_int_equal(r.status, 404);
		free(r.body);
		free(b);
		/* The log's origin signed by another key: 403. */
		free(n2);
		note_signer_wipe(&o);
		assert_int_equal(note_signer_generate(ORIGIN, &o, NULL), LS_OK);
		t = ORIGIN "\n13\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
		assert_int_equal(note_sign(&o, t, strlen(t), &n2, NULL), LS_OK);
		assert_int_equal(witness_req_format(13, NULL, 0, n2, strlen(n2), &b, &bl, NULL),
				 LS_OK);
		witness_add_checkpoint(w, b, bl, 1, &r);
		assert_int_equal(r.status, 403);
		free(r.body);
		free(b);
		free(n2);
		note_signer_wipe(&o);
	}
	witness_close(w);

	/* Reopened: the state is 13 (409 says so), served by the endpoint. */
	w = open_w();
	assert_int_equal(send(w, 0, 7, 20, &r), 409);
	assert_memory_equal(r.body, "13\n", 3);
	free(r.body);
	witness_get_checkpoint(w, hex, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, ORIGIN "\n13\n"));
	assert_non_null(strstr(r.body, "\xe2\x80\x94 witness.test/unit "));
	assert_non_null(strstr(r.body, "\xe2\x80\x94 PeterNeumann "));
	free(r.body);
	witness_close(w);

	/* A state file changed on disk: refused at open, never reset. */
	{
		char path[400];
		FILE *f;
		struct witness_log_cfg cfg;
		struct note_signer s;
		struct witness *w2 = NULL;
		struct ls_err e2 = { { 0 } };

		snprintf(path, sizeof(path), "%s/state/%s", wdir, hex);
		f = fopen(path, "r+");
		assert_non_null(f);
		fseek(f, (long)strlen(ORIGIN) + 1, SEEK_SET);
		fputs("14", f);
		fclose(f);
		assert_int_equal(note_signer_parse(LOG_SKEY, strlen(LOG_SKEY), &s, NULL), LS_OK);
		note_signer_verifier(&s, &cfg.key);
		note_signer_wipe(&s);
		strcpy(cfg.origin, ORIGIN);
		assert_int_equal(witness_open(wdir, &cfg, 1, &w2, &e2), LS_CORRUPT);
		assert_null(w2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions),
	};
	char tmpl[] = "/tmp/test_witness.XXXXXX";
	int rc;

	for (int h = 0; h < 2; h++)
		for (int i = 0; i < 20; i++) {
			char e[16];

			snprintf(e, sizeof(e), "%c%d", h && i >= 5 ? 'f' : 'e', i);
			merkle_leaf_hash(e, strlen(e), leaves[h][i]);
		}
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(wdir, sizeof(wdir), "%s/w", tmpl);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
