/*
 * evidence.c - the evidence file for one event (evidence.h): written by the
 * export route, checked offline by `logseal verify-bundle`.  The check
 * order is the order of trust: the signatures on the checkpoint first (a
 * root nobody trusted proves nothing), then the entry to its leaf, then the
 * leaf through the proof to that root, then the witness quorum.
 */
#include "followers/evidence.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/merkle.h"

/* err's message with a prefix (err->msg is copied first: formatting it into
 * itself would overlap). */
static ls_rc err_prefix(struct ls_err *err, ls_rc rc, const char *prefix)
{
	char m[sizeof(err->msg)];

	if (!err)
		return rc;
	snprintf(m, sizeof(m), "%s", err->msg);
	return ls_err_set(err, rc, "%s%s", prefix, m);
}

static json_t *b64_json(const void *data, size_t n)
{
	size_t cap = LS_B64_LEN(n) + 1;
	char *s = malloc(cap);
	json_t *j;

	if (!s)
		return NULL;
	ls_b64_encode(data, n, s, cap);
	j = json_string(s);
	free(s);
	return j;
}

ls_rc evidence_format(const char *origin, uint64_t index, const uint8_t *entry, size_t len,
		      uint64_t tree_size, const uint8_t (*proof)[LS_HASH_LEN], size_t nproof,
		      const char *checkpoint, char **out, size_t *out_len, struct ls_err *err)
{
	uint8_t leaf[LS_HASH_LEN];
	json_t *o = json_object(), *arr = json_array();
	char *s = NULL;
	int bad = !o || !arr;

	*out = NULL;
	merkle_leaf_hash(entry, len, leaf);
	for (size_t i = 0; i < nproof && !bad; i++)
		bad = json_array_append_new(arr, b64_json(proof[i], LS_HASH_LEN)) != 0;
	if (!bad)
		bad = json_object_set_new(o, "evidence", json_string(EVIDENCE_MAGIC)) ||
		      json_object_set_new(o, "origin", json_string(origin)) ||
		      json_object_set_new(o, "index", json_integer((json_int_t)index)) ||
		      json_object_set_new(o, "entry_b64", b64_json(entry, len)) ||
		      json_object_set_new(o, "leaf_hash", b64_json(leaf, LS_HASH_LEN)) ||
		      json_object_set_new(o, "tree_size", json_integer((json_int_t)tree_size)) ||
		      json_object_set(o, "proof", arr) ||
		      json_object_set_new(o, "checkpoint", json_string(checkpoint));
	if (!bad)
		s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(arr);
	json_decref(o);
	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory formatting the evidence");
	*out_len = strlen(s);
	/* json_dumps leaves no newline: a text file ends in one. */
	{
		char *t = realloc(s, *out_len + 2);

		if (!t) {
			free(s);
			return ls_err_set(err, LS_NOMEM, "out of memory");
		}
		s = t;
		s[(*out_len)++] = '\n';
		s[*out_len] = 0;
	}
	*out = s;
	return LS_OK;
}

/* A base64 string member of exactly want bytes (want 0: any length, at
 * most cap) into buf. */
static ls_rc get_b64(json_t *o, const char *key, uint8_t *buf, size_t cap, size_t want,
		     size_t *got, struct ls_err *err)
{
	json_t *j = json_object_get(o, key);
	const char *s = json_string_value(j);
	size_t n = 0;

	if (!s)
		return ls_err_set(err, LS_INVALID, "evidence: \"%s\" is missing or not a string", key);
	if (ls_b64_decode(s, strlen(s), buf, cap, &n) != LS_OK || (want && n != want))
		return ls_err_set(err, LS_INVALID, "evidence: \"%s\" is not base64 of %s", key,
				  want == LS_HASH_LEN ? "32 bytes" : "the entry");
	if (got)
		*got = n;
	return LS_OK;
}

ls_rc evidence_verify(const char *text, size_t n, const struct note_verifier *logkey,
		      const struct cosig_verifier *wit, size_t nwit, size_t quorum,
		      struct evidence_report *rep, struct ls_err *err)
{
	uint8_t leaf[LS_HASH_LEN], claimed[LS_HASH_LEN], (*proof)[LS_HASH_LEN] = NULL;
	uint8_t *entry = NULL;
	struct cosig_report cr;
	json_error_t je;
	json_t *o, *arr;
	const char *magic, *origin, *note;
	json_int_t idx, size;
	size_t elen = 0, np;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	if (n > EVIDENCE_MAX)
		return ls_err_set(err, LS_LIMIT, "evidence: larger than %u bytes", EVIDENCE_MAX);
	o = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return ls_err_set(err, LS_INVALID, "evidence: not a JSON object (line %d: %s)",
				  je.line, je.text);
	}
	magic = json_string_value(json_object_get(o, "evidence"));
	origin = json_string_value(json_object_get(o, "origin"));
	note = json_string_value(json_object_get(o, "checkpoint"));
	arr = json_object_get(o, "proof");
	if (!magic || strcmp(magic, EVIDENCE_MAGIC) != 0) {
		rc = ls_err_set(err, LS_INVALID, "evidence: not a \"" EVIDENCE_MAGIC "\" file");
		goto out;
	}
	if (!origin || !note || !json_is_array(arr) ||
	    !json_is_integer(json_object_get(o, "index")) ||
	    !json_is_integer(json_object_get(o, "tree_size"))) {
		rc = ls_err_set(err, LS_INVALID,
				"evidence: origin, index, tree_size, proof or checkpoint missing");
		goto out;
	}
	idx = json_integer_value(json_object_get(o, "index"));
	size = json_integer_value(json_object_get(o, "tree_size"));
	if (idx < 0 || size <= idx) {
		rc = ls_err_set(err, LS_INVALID, "evidence: index %lld is not below tree_size %lld",
				(long long)idx, (long long)size);
		goto out;
	}
	rep->index = (uint64_t)idx;
	rep->tree_size = (uint64_t)size;

	/* 1. The checkpoint: the log's signature, every given witness's line. */
	rc = cosig_note_check(note, strlen(note), logkey, 1, wit, nwit, NULL, &cr, err);
	if (rc == LS_TAMPERED) {
		rc = err_prefix(err, LS_TAMPERED, "evidence: the checkpoint: ");
		goto out;
	}
	if (rc != LS_OK) {
		char pre[NOTE_MAX_NAME + 64];

		snprintf(pre, sizeof(pre), "evidence: the checkpoint is not signed by %s+%08x: ",
			 logkey->name, (unsigned)logkey->key_id);
		rc = err_prefix(err, rc, pre);
		goto out;
	}
	rep->cosigned = cr.cosigned;
	rep->unknown = cr.unknown;
	if (strcmp(cr.cp.origin, origin) != 0 || strcmp(cr.cp.origin, logkey->name) != 0) {
		rc = ls_err_set(err, LS_TAMPERED,
				"evidence: the checkpoint's origin %s is not the file's %s or the key's %s",
				cr.cp.origin, origin, logkey->name);
		goto out;
	}
	if (cr.cp.size != (uint64_t)size) {
		rc = ls_err_set(err, LS_TAMPERED,
				"evidence: the checkpoint is of size %llu, the file says %lld",
				(unsigned long long)cr.cp.size, (long long)size);
		goto out;
	}

	/* 2. The entry to its leaf. */
	entry = malloc(n + 1);
	if (!entry) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = get_b64(o, "entry_b64", entry, n + 1, 0, &elen, err);
	if (rc == LS_OK)
		rc = get_b64(o, "leaf_hash", claimed, sizeof(claimed), LS_HASH_LEN, NULL, err);
	if (rc != LS_OK)
		goto out;
	merkle_leaf_hash(entry, elen, leaf);
	if (!ls_ct_equal(leaf, claimed, LS_HASH_LEN)) {
		rc = ls_err_set(err, LS_TAMPERED,
				"evidence: the entry does not hash to leaf_hash (the entry was changed)");
		goto out;
	}

	/* 3. The leaf through the proof to the signed root. */
	np = json_array_size(arr);
	if (np > MERKLE_MAX_PROOF) {
		rc = ls_err_set(err, LS_INVALID, "evidence: %zu proof hashes (at most %d)", np,
				MERKLE_MAX_PROOF);
		goto out;
	}
	proof = calloc(np ? np : 1, LS_HASH_LEN);
	if (!proof) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		size_t got = 0;

		if (!s || ls_b64_decode(s, strlen(s), proof[i], LS_HASH_LEN, &got) != LS_OK ||
		    got != LS_HASH_LEN) {
			rc = ls_err_set(err, LS_INVALID, "evidence: proof hash %zu is not base64 of "
					"32 bytes", i);
			goto out;
		}
	}
	rc = merkle_verify_inclusion(leaf, (uint64_t)idx, (uint64_t)size,
				     (const uint8_t(*)[LS_HASH_LEN])proof, np, cr.cp.root);
	if (rc != LS_OK) {
		rc = ls_err_set(err, LS_TAMPERED,
				"evidence: the inclusion proof of entry %lld does not lead to the "
				"signed root of the checkpoint of size %lld",
				(long long)idx, (long long)size);
		goto out;
	}

	/* 4. The witnesses. */
	if (rep->cosigned < quorum) {
		rc = ls_err_set(err, LS_TAMPERED,
				"evidence: %zu of the %zu given witnesses cosigned the checkpoint; "
				"the quorum is %zu", rep->cosigned, nwit, quorum);
		goto out;
	}
	rc = LS_OK;
out:
	free(entry);
	free(proof);
	json_decref(o);
	return rc;
}
