/*
 * export.c - what an auditor takes home (see export.h and the section
 * "Export bundle" of docs/FORMAT.md): the writer of the verifiable NDJSON
 * bundle (and of the SIEM formats, whose mappings are in export_formats.c)
 * and the helpers the module shares (export_int.h).  The offline check of a
 * bundle is export_verify.c; the invariants below hold across the three.
 *
 * Bundle lines (each ends in "\n", nothing else in the file):
 *   1       {"bundle":"logseal/export/v1","origin":..,"verifier_key":..,
 *            "checkpoint":"<signed note>","tree_size":N,"filter":{..},
 *            "created":"<UTC time>"}
 *   2..k+1  {"index":N,"entry":"<b64>","leaf_hash":"<b64>","proof":[..]}
 *   k+2     {"manifest":"<signed note>"}
 *
 * Invariants:
 *  1. The writer never produces a bundle its own verifier would refuse:
 *     export_begin() opens the checkpoint note with the header's verifier
 *     key and checks its origin, size and root against the header and the
 *     signer's key; export_entry() checks each proof against that root
 *     before the line is written; the manifest is signed by that same key.
 *  2. The verifier trusts nothing but the key it is given: the header must
 *     name that key, and both signed notes (checkpoint, manifest) must
 *     verify with it.  A note signed by another key is LS_UNTRUSTED.
 *  3. Every member of every line is required and known; unknown members are
 *     refused, so nothing unverified rides along in a bundle that passes.
 *  4. Nothing read from the file sizes an allocation: lines go into one
 *     buffer of BUNDLE_LINE_MAX bytes, entries decode into one buffer of
 *     EVENT_MAX_BYTES, proofs into MERKLE_MAX_PROOF hashes.  Memory is
 *     constant whatever the bundle's length.
 *  5. The manifest text is made by one function (manifest_text()) for the
 *     writer and the verifier, so the two cannot drift apart.
 *
 * Pure formatting on the server side: bytes go to the caller's callback in
 * chunks of about EXPORT_FLUSH bytes (always at line boundaries).
 */
#include "followers/export.h"
#include "followers/export_int.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/merkle.h"
#include "store/log.h"

/* ------------------------------------------------------------------------
 * Small helpers
 */

ls_rc ob_reserve(struct obuf *b, size_t more)
{
	size_t ncap;
	char *np;

	if (more <= b->cap - b->n)
		return LS_OK;
	if (more > SIZE_MAX / 4 - b->n)
		return LS_NOMEM;
	ncap = b->cap ? b->cap : 4096;
	while (ncap - b->n < more)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (!np)
		return LS_NOMEM;
	b->p = np;
	b->cap = ncap;
	return LS_OK;
}

ls_rc ob_put(struct obuf *b, const void *s, size_t n)
{
	if (ob_reserve(b, n + 1))
		return LS_NOMEM;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	return LS_OK;
}

ls_rc ob_puts(struct obuf *b, const char *s)
{
	return ob_put(b, s, strlen(s));
}

ls_rc ob_u64(struct obuf *b, uint64_t v)
{
	char t[24];
	int k = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);

	return ob_put(b, t, (size_t)k);
}

ls_rc ob_b64(struct obuf *b, const void *in, size_t n)
{
	size_t need = LS_B64_LEN(n) + 1;

	if (ob_reserve(b, need))
		return LS_NOMEM;
	b->n += ls_b64_encode(in, n, b->p + b->n, b->cap - b->n);
	return LS_OK;
}

/* A JSON value appended compactly (strings escaped by jansson). */
ls_rc ob_json(struct obuf *b, const json_t *v, size_t flags)
{
	char *s;
	ls_rc rc;

	if (!v)
		return LS_NOMEM;
	s = json_dumps(v, flags | JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s)
		return LS_NOMEM;
	rc = ob_puts(b, s);
	free(s);
	return rc;
}

ls_rc ob_json_str(struct obuf *b, const char *s)
{
	json_t *v = json_string(s);
	ls_rc rc;

	if (!v)
		return LS_INVALID; /* not UTF-8, or no memory */
	rc = ob_json(b, v, 0);
	json_decref(v);
	return rc;
}

/* Incremental SHA-256 (crypto.h only has the one-shot form). */
EVP_MD_CTX *digest_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return md;
}

/* The manifest digest covers (index as 8 bytes big-endian || leaf hash). */
int digest_add(EVP_MD_CTX *md, uint64_t index, const uint8_t leaf[LS_HASH_LEN])
{
	uint8_t rec[8 + LS_HASH_LEN];

	for (int i = 0; i < 8; i++)
		rec[i] = (uint8_t)(index >> (56 - 8 * i));
	memcpy(rec + 8, leaf, LS_HASH_LEN);
	return EVP_DigestUpdate(md, rec, sizeof(rec)) == 1;
}

int digest_final(EVP_MD_CTX *md, uint8_t out[LS_HASH_LEN])
{
	unsigned int n = 0;

	return EVP_DigestFinal_ex(md, out, &n) == 1 && n == LS_HASH_LEN;
}

/*
 * The manifest's signed text, one field per line:
 *   logseal export manifest v1
 *   <origin>
 *   filter <canonical JSON>
 *   checkpoint <size> <root base64>
 *   entries <count>
 *   digest <base64>
 *   created <time>
 */
ls_rc manifest_text(const char *origin, const char *filter, uint64_t size,
			   const uint8_t root[LS_HASH_LEN], uint64_t count,
			   const uint8_t digest[LS_HASH_LEN], const char *created, char **out,
			   size_t *len)
{
	char rb[LS_B64_LEN(LS_HASH_LEN) + 1], db[LS_B64_LEN(LS_HASH_LEN) + 1];
	int k;

	ls_b64_encode(root, LS_HASH_LEN, rb, sizeof(rb));
	ls_b64_encode(digest, LS_HASH_LEN, db, sizeof(db));
	k = snprintf(NULL, 0, MANIFEST_FMT, origin, filter, (unsigned long long)size, rb,
		     (unsigned long long)count, db, created);
	if (k < 0)
		return LS_INVALID;
	*out = malloc((size_t)k + 1);
	if (!*out)
		return LS_NOMEM;
	snprintf(*out, (size_t)k + 1, MANIFEST_FMT, origin, filter, (unsigned long long)size, rb,
		 (unsigned long long)count, db, created);
	*len = (size_t)k;
	return LS_OK;
}

/* Canonical JSON of a filter object (text given, or "{}" for none). */
ls_rc canon_filter(const char *text, char **out, struct ls_err *err)
{
	json_error_t je;
	json_t *v;
	size_t len;
	ls_rc rc;

	*out = NULL;
	v = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &je);
	if (!v || !json_is_object(v)) {
		json_decref(v);
		return ls_err_set(err, LS_INVALID, "filter is not a JSON object");
	}
	rc = event_canonical(v, out, &len);
	json_decref(v);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "filter has no canonical form");
	if (len > FILTER_MAX) {
		free(*out);
		*out = NULL;
		return ls_err_set(err, LS_LIMIT, "filter longer than %d bytes", FILTER_MAX);
	}
	return LS_OK;
}

int same_key(const struct note_verifier *a, const struct note_verifier *b)
{
	return a->key_id == b->key_id && !strcmp(a->name, b->name) &&
	       !memcmp(a->pub, b->pub, sizeof(a->pub));
}

/* ------------------------------------------------------------------------
 * Formats
 */

ls_rc export_format_parse(const char *s, enum export_format *fmt)
{
	if (!s || !strcmp(s, "bundle"))
		*fmt = EXPORT_BUNDLE;
	else if (!strcmp(s, "csv"))
		*fmt = EXPORT_CSV;
	else if (!strcmp(s, "ecs"))
		*fmt = EXPORT_ECS;
	else if (!strcmp(s, "ocsf"))
		*fmt = EXPORT_OCSF;
	else
		return LS_INVALID;
	return LS_OK;
}

const char *export_content_type(enum export_format fmt)
{
	return fmt == EXPORT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
}

/* ------------------------------------------------------------------------
 * Writer
 */

static ls_rc w_flush(struct export_writer *w)
{
	ls_rc rc;

	if (!w->b.n)
		return LS_OK;
	rc = w->out(w->ctx, w->b.p, w->b.n);
	w->b.n = 0;
	return rc;
}

static ls_rc w_fail(struct export_writer *w, ls_rc rc)
{
	if (rc != LS_OK && w->failed == LS_OK)
		w->failed = rc;
	return rc;
}

/* Header line of a bundle: check everything a verifier will check. */
static ls_rc bundle_begin(struct export_writer *w, const struct export_header *h,
			  struct ls_err *err)
{
	struct note_verifier v;
	struct checkpoint cp;
	size_t tl = 0;
	ls_rc rc;

	if (!w->has_signer || !w->signer.name || !w->signer.verifier || !w->signer.sign)
		return ls_err_set(err, LS_INVALID, "a bundle needs the log to sign its manifest");
	if (!h->origin || !h->verifier_key || !h->checkpoint)
		return ls_err_set(err, LS_INVALID, "header lacks origin, verifier key or checkpoint");
	if (h->tree_size > (uint64_t)INT64_MAX)
		return ls_err_set(err, LS_INVALID, "tree size out of range");
	rc = note_verifier_parse(h->verifier_key, strlen(h->verifier_key), &v, err);
	if (rc != LS_OK)
		return rc;
	if (strcmp(v.name, h->origin) || strcmp(w->signer.name, h->origin) ||
	    !same_key(&v, w->signer.verifier))
		return ls_err_set(err, LS_INVALID,
				  "origin, verifier key and signing log do not agree");
	rc = note_open(h->checkpoint, strlen(h->checkpoint), &v, 1, &tl, err);
	if (rc != LS_OK)
		return rc;
	rc = checkpoint_parse(h->checkpoint, tl, &cp, err);
	if (rc != LS_OK)
		return rc;
	if (strcmp(cp.origin, h->origin) || cp.size != h->tree_size ||
	    memcmp(cp.root, h->root, LS_HASH_LEN))
		return ls_err_set(err, LS_INVALID,
				  "checkpoint does not match the header's origin, size or root");
	w->md = digest_new();
	w->origin = strdup(h->origin);
	if (!w->md || !w->origin)
		return ls_err_set(err, LS_NOMEM, "out of memory");

	if (ob_puts(&w->b, "{\"bundle\":\"" BUNDLE_ID "\",\"origin\":") ||
	    ob_json_str(&w->b, h->origin) || ob_puts(&w->b, ",\"verifier_key\":") ||
	    ob_json_str(&w->b, h->verifier_key) || ob_puts(&w->b, ",\"checkpoint\":") ||
	    ob_json_str(&w->b, h->checkpoint) || ob_puts(&w->b, ",\"tree_size\":") ||
	    ob_u64(&w->b, h->tree_size) || ob_puts(&w->b, ",\"filter\":") ||
	    ob_puts(&w->b, w->filter) || ob_puts(&w->b, ",\"created\":\"") ||
	    ob_puts(&w->b, w->created) || ob_puts(&w->b, "\"}\n"))
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
}

ls_rc export_begin(enum export_format fmt, const struct export_header *h,
		   const struct export_signer *signer,
		   export_out_fn out, void *ctx, struct export_writer **wp, struct ls_err *err)
{
	struct export_writer *w;
	ls_rc rc = LS_OK;

	*wp = NULL;
	if (!out || (fmt == EXPORT_BUNDLE && !h))
		return ls_err_set(err, LS_INVALID, "export needs an output and, for a bundle, a header");
	if (fmt != EXPORT_BUNDLE && fmt != EXPORT_CSV && fmt != EXPORT_ECS && fmt != EXPORT_OCSF)
		return ls_err_set(err, LS_INVALID, "unknown export format");
	w = calloc(1, sizeof(*w));
	if (!w)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	w->fmt = fmt;
	w->out = out;
	w->ctx = ctx;
	if (signer) {
		w->signer = *signer;
		w->has_signer = 1;
	}
	if (h) {
		w->tree_size = h->tree_size;
		memcpy(w->root, h->root, LS_HASH_LEN);
		event_format_time(h->created_us, w->created, sizeof(w->created));
		if (h->origin && fmt != EXPORT_BUNDLE) {
			w->origin = strdup(h->origin);
			if (!w->origin)
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
		}
	}
	if (rc == LS_OK)
		rc = canon_filter(h ? h->filter_json : NULL, &w->filter, err);
	if (rc == LS_OK && fmt == EXPORT_BUNDLE)
		rc = bundle_begin(w, h, err);
	else if (rc == LS_OK && fmt == EXPORT_CSV && ob_puts(&w->b, export_csv_columns))
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	if (rc != LS_OK) {
		export_free(w);
		return rc;
	}
	*wp = w;
	return LS_OK;
}

static ls_rc bundle_entry(struct export_writer *w, uint64_t index, const uint8_t *entry,
			  size_t len, const uint8_t proof[][LS_HASH_LEN], size_t nproof,
			  const uint8_t leaf[LS_HASH_LEN], struct ls_err *err)
{
	size_t i;
	int bad;

	if (index >= w->tree_size)
		return ls_err_set(err, LS_INVALID, "entry %llu is not in the checkpoint (size %llu)",
				  (unsigned long long)index, (unsigned long long)w->tree_size);
	if (w->have_last && index <= w->last)
		return ls_err_set(err, LS_INVALID, "entry %llu comes after %llu: indexes must increase",
				  (unsigned long long)index, (unsigned long long)w->last);
	if (nproof > MERKLE_MAX_PROOF || (nproof && !proof) ||
	    merkle_verify_inclusion(leaf, index, w->tree_size, proof, nproof, w->root) != LS_OK)
		return ls_err_set(err, LS_TAMPERED,
				  "proof of entry %llu does not match the checkpoint root",
				  (unsigned long long)index);
	bad = ob_reserve(&w->b, 128 + LS_B64_LEN(len) + nproof * (LS_B64_LEN(LS_HASH_LEN) + 4)) ||
	      ob_puts(&w->b, "{\"index\":") || ob_u64(&w->b, index) ||
	      ob_puts(&w->b, ",\"entry\":\"") || ob_b64(&w->b, entry, len) ||
	      ob_puts(&w->b, "\",\"leaf_hash\":\"") || ob_b64(&w->b, leaf, LS_HASH_LEN) ||
	      ob_puts(&w->b, "\",\"proof\":[");
	for (i = 0; i < nproof && !bad; i++)
		bad = ob_puts(&w->b, i ? ",\"" : "\"") || ob_b64(&w->b, proof[i], LS_HASH_LEN) ||
		      ob_puts(&w->b, "\"");
	if (bad || ob_puts(&w->b, "]}\n"))
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if (!digest_add(w->md, index, leaf))
		return ls_err_set(err, LS_NOMEM, "digest failed");
	w->have_last = 1;
	w->last = index;
	return LS_OK;
}

ls_rc export_entry(struct export_writer *w, uint64_t index, const uint8_t *entry, size_t len,
		   const uint8_t proof[][LS_HASH_LEN], size_t nproof, struct ls_err *err)
{
	uint8_t leaf[LS_HASH_LEN];
	ls_rc rc;

	if (!w)
		return ls_err_set(err, LS_INVALID, "no export");
	if (w->failed || w->ended)
		return ls_err_set(err, w->failed ? w->failed : LS_INVALID,
				  "export already failed or ended");
	if (!entry || len == 0 || len > EVENT_MAX_BYTES)
		return w_fail(w, ls_err_set(err, LS_INVALID, "entry %llu: size %zu out of range",
					    (unsigned long long)index, len));
	merkle_leaf_hash(entry, len, leaf);
	if (w->fmt == EXPORT_BUNDLE)
		rc = bundle_entry(w, index, entry, len, proof, nproof, leaf, err);
	else
		rc = export_siem_entry(w, index, entry, len, leaf, err);
	if (rc != LS_OK)
		return w_fail(w, rc);
	w->count++;
	if (w->b.n >= EXPORT_FLUSH) {
		rc = w_flush(w);
		if (rc != LS_OK)
			return w_fail(w, ls_err_set(err, rc, "export output failed"));
	}
	return LS_OK;
}

ls_rc export_end(struct export_writer *w, struct ls_err *err)
{
	uint8_t digest[LS_HASH_LEN];
	char *text = NULL, *note = NULL;
	size_t tlen = 0;
	ls_rc rc;

	if (!w)
		return ls_err_set(err, LS_INVALID, "no export");
	if (w->failed || w->ended)
		return ls_err_set(err, w->failed ? w->failed : LS_INVALID,
				  "export already failed or ended");
	w->ended = 1;
	if (w->fmt == EXPORT_BUNDLE) {
		if (!digest_final(w->md, digest))
			return w_fail(w, ls_err_set(err, LS_NOMEM, "digest failed"));
		rc = manifest_text(w->origin, w->filter, w->tree_size, w->root, w->count, digest,
				   w->created, &text, &tlen);
		if (rc != LS_OK)
			return w_fail(w, ls_err_set(err, rc, "cannot make the manifest"));
		rc = w->signer.sign(w->signer.ctx, text, tlen, &note, err);
		free(text);
		if (rc != LS_OK)
			return w_fail(w, rc);
		rc = ob_puts(&w->b, "{\"manifest\":");
		if (rc == LS_OK)
			rc = ob_json_str(&w->b, note);
		if (rc == LS_OK)
			rc = ob_puts(&w->b, "}\n");
		free(note);
		if (rc != LS_OK)
			return w_fail(w, ls_err_set(err, rc, "out of memory"));
	}
	rc = w_flush(w);
	if (rc != LS_OK)
		return w_fail(w, ls_err_set(err, rc, "export output failed"));
	return LS_OK;
}

void export_free(struct export_writer *w)
{
	if (!w)
		return;
	EVP_MD_CTX_free(w->md);
	free(w->origin);
	free(w->filter);
	free(w->b.p);
	free(w);
}

/* ------------------------------------------------------------------------
 * The signer of a log
 */

static ls_rc log_signs(void *ctx, const char *text, size_t n, char **note,
		       struct ls_err *err)
{
	return log_sign_note(ctx, text, n, note, err);
}

struct export_signer export_log_signer(struct log *l)
{
	struct export_signer s = { log_origin(l), log_verifier(l), log_signs, l };

	return s;
}
