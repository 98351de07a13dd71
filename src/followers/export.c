/*
 * export.c - what an auditor takes home (see export.h and the section
 * "Export bundle" of docs/FORMAT.md): the verifiable NDJSON bundle, the
 * CSV / ECS / OCSF mappings for SIEMs, and the offline check of a bundle
 * (`logseal verify-bundle`).
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
 *     signing log's key; export_entry() checks each proof against that root
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

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/event.h"
#include "base/fsutil.h"
#include "core/merkle.h"

#define BUNDLE_ID "logseal/export/v1"
#define MANIFEST_MARKER "logseal export manifest v1"
#define MANIFEST_LINES 7
#define MANIFEST_FMT MANIFEST_MARKER "\n%s\nfilter %s\ncheckpoint %llu %s\nentries %llu\n" \
		     "digest %s\ncreated %s\n"
/* The longest line the writer makes: the header or manifest, a note of at
 * most NOTE_MAX_SIZE bytes that JSON escaping at most doubles (a note has
 * no control character but '\n'), or an entry line, 87,380 bytes of base64
 * plus 64 proof hashes.  256 KiB covers them all. */
#define BUNDLE_LINE_MAX (256 * 1024)
#define FILTER_MAX 1023		/* canonical filter bytes (fits bundle_report.filter) */
#define EXPORT_FLUSH (64 * 1024)
#define VKEY_FILE_MAX 4096

#define ECS_VERSION "8.11.0"
#define OCSF_VERSION "1.1.0"

/* ------------------------------------------------------------------------
 * Small helpers
 */

struct obuf {
	char *p;
	size_t n, cap;
};

static ls_rc ob_reserve(struct obuf *b, size_t more)
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

static ls_rc ob_put(struct obuf *b, const void *s, size_t n)
{
	if (ob_reserve(b, n + 1))
		return LS_NOMEM;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	return LS_OK;
}

static ls_rc ob_puts(struct obuf *b, const char *s)
{
	return ob_put(b, s, strlen(s));
}

static ls_rc ob_u64(struct obuf *b, uint64_t v)
{
	char t[24];
	int k = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);

	return ob_put(b, t, (size_t)k);
}

static ls_rc ob_b64(struct obuf *b, const void *in, size_t n)
{
	size_t need = LS_B64_LEN(n) + 1;

	if (ob_reserve(b, need))
		return LS_NOMEM;
	b->n += ls_b64_encode(in, n, b->p + b->n, b->cap - b->n);
	return LS_OK;
}

/* A JSON value appended compactly (strings escaped by jansson). */
static ls_rc ob_json(struct obuf *b, const json_t *v, size_t flags)
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

static ls_rc ob_json_str(struct obuf *b, const char *s)
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
static EVP_MD_CTX *digest_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return md;
}

/* The manifest digest covers (index as 8 bytes big-endian || leaf hash). */
static int digest_add(EVP_MD_CTX *md, uint64_t index, const uint8_t leaf[LS_HASH_LEN])
{
	uint8_t rec[8 + LS_HASH_LEN];

	for (int i = 0; i < 8; i++)
		rec[i] = (uint8_t)(index >> (56 - 8 * i));
	memcpy(rec + 8, leaf, LS_HASH_LEN);
	return EVP_DigestUpdate(md, rec, sizeof(rec)) == 1;
}

static int digest_final(EVP_MD_CTX *md, uint8_t out[LS_HASH_LEN])
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
static ls_rc manifest_text(const char *origin, const char *filter, uint64_t size,
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
static ls_rc canon_filter(const char *text, char **out, struct ls_err *err)
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

static int same_key(const struct note_verifier *a, const struct note_verifier *b)
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

struct export_writer {
	enum export_format fmt;
	export_out_fn out;
	void *ctx;
	struct log *signer;
	char *origin;		/* NULL for SIEM formats without a header */
	char *filter;		/* canonical */
	char created[32];
	uint64_t tree_size;
	uint8_t root[LS_HASH_LEN];
	uint64_t count;
	int have_last;
	uint64_t last;
	EVP_MD_CTX *md;
	struct obuf b;
	ls_rc failed;		/* sticky: first error, refused from then on */
	int ended;
};

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

	if (!w->signer)
		return ls_err_set(err, LS_INVALID, "a bundle needs the log to sign its manifest");
	if (!h->origin || !h->verifier_key || !h->checkpoint)
		return ls_err_set(err, LS_INVALID, "header lacks origin, verifier key or checkpoint");
	if (h->tree_size > (uint64_t)INT64_MAX)
		return ls_err_set(err, LS_INVALID, "tree size out of range");
	rc = note_verifier_parse(h->verifier_key, strlen(h->verifier_key), &v, err);
	if (rc != LS_OK)
		return rc;
	if (strcmp(v.name, h->origin) || strcmp(log_origin(w->signer), h->origin) ||
	    !same_key(&v, log_verifier(w->signer)))
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

static const char *const csv_columns =
	"index,time,received,service,actor_id,actor_type,action,outcome,source_ip,"
	"source_endpoint,resource_type,resource_id,writer,request_id,reason,details,"
	"leaf_hash\r\n";

ls_rc export_begin(enum export_format fmt, const struct export_header *h, struct log *signer,
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
	w->signer = signer;
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
	else if (rc == LS_OK && fmt == EXPORT_CSV && ob_puts(&w->b, csv_columns))
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

/* --- SIEM mappings ------------------------------------------------------ */

/* String member at a path of up to two keys, or NULL. */
static const char *jstr(json_t *o, const char *k1, const char *k2, size_t *len)
{
	json_t *v = json_object_get(o, k1);

	if (k2)
		v = json_object_get(v, k2);
	if (!json_is_string(v))
		return NULL;
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

/*
 * One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF,
 * quotes doubled.  A field that starts with = + - @ TAB or CR gets a leading
 * apostrophe so that spreadsheets show it as text instead of running it as
 * a formula (CSV injection); the bundle keeps the exact value.
 */
static ls_rc csv_field(struct obuf *b, const char *s, size_t n)
{
	int quote = 0;
	size_t i;

	if (!s)
		return LS_OK;
	for (i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			quote = 1;
	if (quote && ob_put(b, "\"", 1))
		return LS_NOMEM;
	if (n && s[0] && strchr("=+-@\t\r", s[0]) && ob_put(b, "'", 1))
		return LS_NOMEM;
	for (i = 0; i < n; i++) {
		if (s[i] == '"' && ob_put(b, "\"", 1))
			return LS_NOMEM;
		if (ob_put(b, s + i, 1))
			return LS_NOMEM;
	}
	if (quote && ob_put(b, "\"", 1))
		return LS_NOMEM;
	return LS_OK;
}

static ls_rc csv_row(struct obuf *b, uint64_t index, json_t *ev, const uint8_t leaf[LS_HASH_LEN])
{
	static const char *const cols[][2] = {
		{ "time", NULL }, { "received", NULL }, { "service", NULL },
		{ "actor", "id" }, { "actor", "type" }, { "action", NULL },
		{ "outcome", NULL }, { "source", "ip" }, { "source", "endpoint" },
		{ "resource", "type" }, { "resource", "id" }, { "writer", NULL },
		{ "request_id", NULL }, { "reason", NULL },
	};
	char hex[2 * LS_HASH_LEN + 1], *det = NULL;
	json_t *details;
	size_t i, len = 0;
	const char *s;
	ls_rc rc;

	if (ob_u64(b, index))
		return LS_NOMEM;
	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		s = jstr(ev, cols[i][0], cols[i][1], &len);
		if (ob_put(b, ",", 1) || csv_field(b, s, s ? len : 0))
			return LS_NOMEM;
	}
	if (ob_put(b, ",", 1))
		return LS_NOMEM;
	details = json_object_get(ev, "details");
	if (details) {
		rc = event_canonical(details, &det, &len);
		if (rc != LS_OK)
			return rc;
		rc = csv_field(b, det, len);
		free(det);
		if (rc != LS_OK)
			return rc;
	}
	ls_hex(leaf, LS_HASH_LEN, hex);
	if (ob_put(b, ",", 1) || ob_put(b, hex, 2 * LS_HASH_LEN) || ob_put(b, "\r\n", 2))
		return LS_NOMEM;
	return LS_OK;
}

/* Set o[key] = a copy of the string at the path, when there is one. */
static int copy_str(json_t *o, const char *key, json_t *ev, const char *k1, const char *k2)
{
	const char *s = jstr(ev, k1, k2, NULL);

	return !s || json_object_set_new(o, key, json_string(s)) == 0;
}

/* Set o[key] = v (stolen) unless v is an empty object (then dropped). */
static int set_nonempty(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return 0;
	if (json_is_object(v) && json_object_size(v) == 0) {
		json_decref(v);
		return 1;
	}
	return json_object_set_new(o, key, v) == 0;
}

/* A source endpoint that looks like a URL goes to the URL fields. */
static int is_url(const char *s)
{
	return s && (strstr(s, "://") || s[0] == '/');
}

/*
 * The CRUD verb of an action ("profile.update" -> 3): the part after the
 * last '.', ':' or '/' compared with common verbs (Kubernetes' among them).
 * 0 when unclear.
 */
static int action_verb(const char *action)
{
	static const struct {
		const char *verb;
		int id;
	} verbs[] = {
		{ "create", 1 }, { "add", 1 }, { "insert", 1 }, { "register", 1 },
		{ "upload", 1 }, { "post", 1 }, { "new", 1 },
		{ "read", 2 }, { "get", 2 }, { "view", 2 }, { "list", 2 }, { "query", 2 },
		{ "search", 2 }, { "fetch", 2 }, { "download", 2 }, { "export", 2 },
		{ "watch", 2 }, { "show", 2 }, { "describe", 2 }, { "select", 2 },
		{ "update", 3 }, { "edit", 3 }, { "modify", 3 }, { "patch", 3 }, { "change", 3 },
		{ "set", 3 }, { "rename", 3 }, { "replace", 3 }, { "put", 3 },
		{ "delete", 4 }, { "remove", 4 }, { "destroy", 4 }, { "purge", 4 },
		{ "deletecollection", 4 }, { "erase", 4 },
	};
	const char *v = action, *p;
	size_t i;

	if (!action)
		return 0;
	for (p = action; *p; p++)
		if (*p == '.' || *p == ':' || *p == '/')
			v = p + 1;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcasecmp(v, verbs[i].verb))
			return verbs[i].id;
	return 0;
}

/* logseal's own fields that have no standard place, for both mappings. */
static json_t *logseal_fields(struct export_writer *w, uint64_t index, json_t *ev,
			      const uint8_t leaf[LS_HASH_LEN])
{
	char b64[LS_B64_LEN(LS_HASH_LEN) + 1];
	json_t *o = json_object(), *r = json_object(), *d;
	int ok;

	if (!o || !r) {
		json_decref(o);
		json_decref(r);
		return NULL;
	}
	ls_b64_encode(leaf, LS_HASH_LEN, b64, sizeof(b64));
	ok = !json_object_set_new(o, "index", json_integer((json_int_t)index)) &&
	     !json_object_set_new(o, "leaf_hash", json_string(b64)) &&
	     (!w->origin || !json_object_set_new(o, "origin", json_string(w->origin))) &&
	     copy_str(o, "outcome", ev, "outcome", NULL) &&
	     copy_str(o, "writer", ev, "writer", NULL) &&
	     copy_str(o, "remote_ip", ev, "remote_ip", NULL) &&
	     copy_str(o, "received", ev, "received", NULL) &&
	     copy_str(o, "actor_type", ev, "actor", "type") &&
	     copy_str(r, "type", ev, "resource", "type") &&
	     copy_str(r, "id", ev, "resource", "id") &&
	     copy_str(r, "name", ev, "resource", "name");
	if (!ok) {
		json_decref(o);
		json_decref(r);
		return NULL;
	}
	if (!set_nonempty(o, "resource", r)) {
		json_decref(o);
		return NULL;
	}
	d = json_object_get(ev, "details");
	if (d && json_object_set(o, "details", d)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *ecs_event(struct export_writer *w, uint64_t index, json_t *ev,
			 const uint8_t leaf[LS_HASH_LEN])
{
	static const char *const ecs_types[] = { "info", "creation", "access", "change", "deletion" };
	const char *outcome = jstr(ev, "outcome", NULL, NULL);
	const char *ep = jstr(ev, "source", "endpoint", NULL);
	json_t *o = json_object(), *e = json_object(), *u = json_object(), *src = json_object();
	json_t *t = json_array(), *url = json_object(), *ua = json_object(), *svc = json_object();
	json_t *http = json_object(), *ls = logseal_fields(w, index, ev, leaf), *port;
	const char *eo;
	int ok;

	eo = !outcome ? "unknown" : !strcmp(outcome, "success") ? "success" :
	     !strcmp(outcome, "unknown") ? "unknown" : "failure";
	ok = o && e && u && src && t && url && ua && svc && http && ls;
	ok = ok && !json_array_append_new(t, json_string(ecs_types[action_verb(
							 jstr(ev, "action", NULL, NULL))]));
	if (ok && outcome && !strcmp(outcome, "denied"))
		ok = !json_array_append_new(t, json_string("denied"));
	if (ok && outcome && !strcmp(outcome, "error"))
		ok = !json_array_append_new(t, json_string("error"));
	ok = ok && copy_str(o, "@timestamp", ev, "time", NULL) &&
	     !json_object_set_new(o, "ecs", json_pack("{ss}", "version", ECS_VERSION)) &&
	     !json_object_set_new(e, "kind", json_string("event")) &&
	     copy_str(e, "action", ev, "action", NULL) &&
	     !json_object_set_new(e, "outcome", json_string(eo)) &&
	     !json_object_set(e, "type", t) &&
	     copy_str(e, "id", ev, "id", NULL) &&
	     copy_str(e, "created", ev, "received", NULL) &&
	     copy_str(e, "reason", ev, "reason", NULL) &&
	     !json_object_set_new(e, "provider", json_string("logseal")) &&
	     set_nonempty(o, "event", json_incref(e)) &&
	     copy_str(u, "id", ev, "actor", "id") && copy_str(u, "name", ev, "actor", "name") &&
	     copy_str(u, "email", ev, "actor", "email") &&
	     set_nonempty(o, "user", json_incref(u)) &&
	     copy_str(src, "ip", ev, "source", "ip");
	port = json_object_get(json_object_get(ev, "source"), "port");
	if (ok && json_is_integer(port))
		ok = !json_object_set(src, "port", port);
	if (ok && ep && !is_url(ep))
		ok = !json_object_set_new(src, "address", json_string(ep));
	if (ok && ep && is_url(ep))
		ok = !json_object_set_new(url, "original", json_string(ep));
	ok = ok && set_nonempty(o, "source", json_incref(src)) &&
	     set_nonempty(o, "url", json_incref(url)) &&
	     copy_str(ua, "original", ev, "source", "user_agent") &&
	     set_nonempty(o, "user_agent", json_incref(ua)) &&
	     copy_str(svc, "name", ev, "service", NULL) &&
	     set_nonempty(o, "service", json_incref(svc));
	if (ok && jstr(ev, "request_id", NULL, NULL))
		ok = !json_object_set_new(http, "request",
					  json_pack("{ss}", "id", jstr(ev, "request_id", NULL, NULL)));
	ok = ok && set_nonempty(o, "http", json_incref(http)) &&
	     !json_object_set(o, "logseal", ls);
	json_decref(e);
	json_decref(u);
	json_decref(src);
	json_decref(t);
	json_decref(url);
	json_decref(ua);
	json_decref(svc);
	json_decref(http);
	json_decref(ls);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *ocsf_event(struct export_writer *w, uint64_t index, json_t *ev,
			  const uint8_t leaf[LS_HASH_LEN])
{
	static const char *const names[] = { "Unknown", "Create", "Read", "Update", "Delete" };
	const char *outcome = jstr(ev, "outcome", NULL, NULL);
	const char *action = jstr(ev, "action", NULL, NULL);
	const char *ep = jstr(ev, "source", "endpoint", NULL);
	const char *atype = jstr(ev, "actor", "type", NULL), *ts = jstr(ev, "time", NULL, NULL);
	const char *rcv = jstr(ev, "received", NULL, NULL);
	json_t *o = json_object(), *user = json_object(), *api = json_object(), *src = json_object();
	json_t *http = json_object(), *res = json_object(), *meta, *ls, *port, *svc = json_object();
	int verb = action_verb(action), activity = verb ? verb : 99, status_id, type_id, ok;
	const char *status;
	int64_t us = 0;
	char idx[24];

	if (!outcome || !strcmp(outcome, "unknown")) {
		status_id = 0;
		status = "Unknown";
	} else if (!strcmp(outcome, "success")) {
		status_id = 1;
		status = "Success";
	} else {
		status_id = 2;
		status = "Failure";
	}
	/* OCSF user type_id: 1 User, 3 System, 99 Other, 0 Unknown. */
	type_id = !atype ? 0 : !strcmp(atype, "user") ? 1 : !strcmp(atype, "system") ? 3 : 99;
	if (ts && event_parse_time(ts, &us) != LS_OK)
		us = 0;
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)index);
	meta = json_pack("{s{ss ss} ss ss ss}", "product", "name", "logseal", "vendor_name",
			 "logseal", "version", OCSF_VERSION, "uid", idx, "log_name",
			 w->origin ? w->origin : "logseal");
	ls = logseal_fields(w, index, ev, leaf);
	ok = o && user && api && src && http && res && meta && ls && svc;
	ok = ok && !json_object_set_new(o, "class_uid", json_integer(6003)) &&
	     !json_object_set_new(o, "class_name", json_string("API Activity")) &&
	     !json_object_set_new(o, "category_uid", json_integer(6)) &&
	     !json_object_set_new(o, "category_name", json_string("Application Activity")) &&
	     !json_object_set_new(o, "activity_id", json_integer(activity)) &&
	     !json_object_set_new(o, "activity_name",
				  json_string(verb ? names[verb] : action ? action : "Other")) &&
	     !json_object_set_new(o, "type_uid", json_integer(6003 * 100 + activity)) &&
	     !json_object_set_new(o, "severity_id", json_integer(1)) &&
	     !json_object_set_new(o, "severity", json_string("Informational")) &&
	     !json_object_set_new(o, "time", json_integer((json_int_t)floor((double)us / 1000.0))) &&
	     !json_object_set_new(o, "status_id", json_integer(status_id)) &&
	     !json_object_set_new(o, "status", json_string(status)) &&
	     copy_str(o, "status_detail", ev, "outcome", NULL) &&
	     copy_str(o, "message", ev, "reason", NULL) &&
	     !json_object_set(o, "metadata", meta);
	if (ok && ts)
		ok = !json_object_set_new(meta, "original_time", json_string(ts));
	if (ok && rcv && event_parse_time(rcv, &us) == LS_OK)
		ok = !json_object_set_new(meta, "logged_time",
					  json_integer((json_int_t)floor((double)us / 1000.0)));
	ok = ok && copy_str(user, "uid", ev, "actor", "id") &&
	     copy_str(user, "name", ev, "actor", "name") &&
	     copy_str(user, "email_addr", ev, "actor", "email") &&
	     copy_str(user, "type", ev, "actor", "type") &&
	     (!atype || !json_object_set_new(user, "type_id", json_integer(type_id))) &&
	     !json_object_set_new(o, "actor", json_pack("{sO}", "user", user)) &&
	     copy_str(api, "operation", ev, "action", NULL) &&
	     copy_str(svc, "name", ev, "service", NULL) &&
	     set_nonempty(api, "service", json_incref(svc));
	if (ok && jstr(ev, "request_id", NULL, NULL))
		ok = !json_object_set_new(api, "request",
					  json_pack("{ss}", "uid", jstr(ev, "request_id", NULL, NULL)));
	ok = ok && !json_object_set(o, "api", api) && copy_str(src, "ip", ev, "source", "ip");
	port = json_object_get(json_object_get(ev, "source"), "port");
	if (ok && json_is_integer(port))
		ok = !json_object_set(src, "port", port);
	if (ok && ep && !is_url(ep))
		ok = !json_object_set_new(src, "name", json_string(ep));
	ok = ok && !json_object_set(o, "src_endpoint", src);
	if (ok && ep && is_url(ep))
		ok = !json_object_set_new(http, "url", json_pack("{ss}", "url_string", ep));
	ok = ok && copy_str(http, "user_agent", ev, "source", "user_agent") &&
	     set_nonempty(o, "http_request", json_incref(http)) &&
	     copy_str(res, "type", ev, "resource", "type") &&
	     copy_str(res, "uid", ev, "resource", "id") &&
	     copy_str(res, "name", ev, "resource", "name");
	if (ok && json_object_size(res))
		ok = !json_object_set_new(o, "resources", json_pack("[O]", res));
	ok = ok && !json_object_set_new(o, "unmapped", json_pack("{sO}", "logseal", ls));
	json_decref(user);
	json_decref(api);
	json_decref(src);
	json_decref(http);
	json_decref(res);
	json_decref(meta);
	json_decref(ls);
	json_decref(svc);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static ls_rc siem_entry(struct export_writer *w, uint64_t index, const uint8_t *entry,
			size_t len, const uint8_t leaf[LS_HASH_LEN], struct ls_err *err)
{
	json_error_t je;
	json_t *ev, *o;
	ls_rc rc;

	ev = json_loadb((const char *)entry, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(ev)) {
		json_decref(ev);
		return ls_err_set(err, LS_CORRUPT, "entry %llu is not a JSON object",
				  (unsigned long long)index);
	}
	if (w->fmt == EXPORT_CSV) {
		rc = csv_row(&w->b, index, ev, leaf);
		json_decref(ev);
		return rc == LS_OK ? LS_OK : ls_err_set(err, rc, "entry %llu: no CSV form",
							(unsigned long long)index);
	}
	o = w->fmt == EXPORT_ECS ? ecs_event(w, index, ev, leaf) : ocsf_event(w, index, ev, leaf);
	json_decref(ev);
	rc = o ? ob_json(&w->b, o, JSON_PRESERVE_ORDER) : LS_NOMEM;
	json_decref(o);
	if (rc == LS_OK)
		rc = ob_put(&w->b, "\n", 1);
	return rc == LS_OK ? LS_OK : ls_err_set(err, rc, "out of memory");
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
		rc = siem_entry(w, index, entry, len, leaf, err);
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
		rc = log_sign_note(w->signer, text, tlen, &note, err);
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
 * Verifier
 */

/* Lines of at most BUNDLE_LINE_MAX bytes, from one fixed buffer. */
struct lreader {
	FILE *f;
	char *buf;
	size_t cap, start, len;
	int eof;
};

/* 1: a line (without its '\n') in *line, *n; 0: end of file; negated ls_rc
 * on error: -LS_LIMIT too long, -LS_IO read error, -LS_INVALID last line
 * without its newline. */
static int lr_next(struct lreader *r, char **line, size_t *n)
{
	char *nl;
	size_t got;

	for (;;) {
		nl = memchr(r->buf + r->start, '\n', r->len - r->start);
		if (nl) {
			*line = r->buf + r->start;
			*n = (size_t)(nl - *line);
			r->start += *n + 1;
			return 1;
		}
		if (r->eof)
			return r->start == r->len ? 0 : -LS_INVALID;
		if (r->start) {
			memmove(r->buf, r->buf + r->start, r->len - r->start);
			r->len -= r->start;
			r->start = 0;
		}
		if (r->len == r->cap)
			return -LS_LIMIT;
		got = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
		if (got == 0) {
			if (ferror(r->f))
				return -LS_IO;
			r->eof = 1;
		}
		r->len += got;
	}
}

struct vstate {
	const struct note_verifier *key;
	struct checkpoint cp;
	char origin[NOTE_MAX_NAME];
	char *filter;		/* canonical, from the header */
	char *created;
	uint64_t count;
	int have_last;
	uint64_t last;
	EVP_MD_CTX *md;
	uint8_t *entry;		/* EVENT_MAX_BYTES */
};

/* o has exactly the members in names (NULL-terminated), all present. */
static ls_rc exact_members(json_t *o, const char *const names[], struct ls_err *err)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(o, k, v) {
		for (i = 0; names[i]; i++)
			if (!strcmp(k, names[i]))
				break;
		if (!names[i])
			return ls_err_set(err, LS_INVALID, "unexpected member \"%.64s\"", k);
	}
	for (i = 0; names[i]; i++)
		if (!json_object_get(o, names[i]))
			return ls_err_set(err, LS_INVALID, "missing member \"%s\"", names[i]);
	return LS_OK;
}

/* Strictly decode a base64 hash member. */
static int get_hash(json_t *v, uint8_t out[LS_HASH_LEN])
{
	size_t len = 0;

	return json_is_string(v) &&
	       ls_b64_decode(json_string_value(v), json_string_length(v), out, LS_HASH_LEN,
			     &len) == LS_OK && len == LS_HASH_LEN;
}

static int get_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return 0;
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

static ls_rc check_header(struct vstate *st, json_t *o, struct ls_err *err)
{
	static const char *const names[] = { "bundle", "origin", "verifier_key", "checkpoint",
					     "tree_size", "filter", "created", NULL };
	json_t *b = json_object_get(o, "bundle");
	struct note_verifier hv;
	struct ls_err e2;
	const char *s;
	uint64_t size;
	int64_t t;
	size_t tl = 0, len;
	ls_rc rc;

	if (!json_is_string(b) || strcmp(json_string_value(b), BUNDLE_ID))
		return ls_err_set(err, LS_INVALID, "not a logseal export bundle (%s)", BUNDLE_ID);
	rc = exact_members(o, names, err);
	if (rc != LS_OK)
		return rc;
	b = json_object_get(o, "verifier_key");
	if (!json_is_string(b) ||
	    note_verifier_parse(json_string_value(b), json_string_length(b), &hv, &e2) != LS_OK)
		return ls_err_set(err, LS_INVALID, "verifier_key is not a verifier key");
	if (!same_key(&hv, st->key))
		return ls_err_set(err, LS_UNTRUSTED,
				  "bundle is for key \"%.300s\", not the given key",
				  json_string_value(b));
	b = json_object_get(o, "origin");
	if (!json_is_string(b) || strcmp(json_string_value(b), st->key->name))
		return ls_err_set(err, LS_INVALID, "origin is not the key's name \"%s\"",
				  st->key->name);
	snprintf(st->origin, sizeof(st->origin), "%s", st->key->name);

	b = json_object_get(o, "checkpoint");
	if (!json_is_string(b))
		return ls_err_set(err, LS_INVALID, "checkpoint is not a string");
	s = json_string_value(b);
	len = json_string_length(b);
	rc = note_open(s, len, st->key, 1, &tl, &e2);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "checkpoint: %s", rc == LS_UNTRUSTED ?
				  "not signed by the given key" : e2.msg);
	rc = checkpoint_parse(s, tl, &st->cp, &e2);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "signed note is not a checkpoint (%s)", e2.msg);
	if (strcmp(st->cp.origin, st->origin))
		return ls_err_set(err, LS_INVALID, "checkpoint origin \"%s\" is not the key's name",
				  st->cp.origin);
	if (!get_u64(json_object_get(o, "tree_size"), &size) || size != st->cp.size)
		return ls_err_set(err, LS_INVALID, "tree_size is not the checkpoint's size %llu",
				  (unsigned long long)st->cp.size);

	b = json_object_get(o, "filter");
	if (!json_is_object(b))
		return ls_err_set(err, LS_INVALID, "filter is not an object");
	rc = event_canonical(b, &st->filter, &len);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "filter has no canonical form");
	if (len > FILTER_MAX)
		return ls_err_set(err, LS_LIMIT, "filter longer than %d bytes", FILTER_MAX);
	b = json_object_get(o, "created");
	if (!json_is_string(b) || strlen(json_string_value(b)) != json_string_length(b) ||
	    event_parse_time(json_string_value(b), &t) != LS_OK)
		return ls_err_set(err, LS_INVALID, "created is not an RFC 3339 time");
	st->created = strdup(json_string_value(b));
	if (!st->created)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
}

static ls_rc check_entry(struct vstate *st, json_t *o, struct ls_err *err)
{
	static const char *const names[] = { "index", "entry", "leaf_hash", "proof", NULL };
	uint8_t leaf[LS_HASH_LEN], mine[LS_HASH_LEN], proof[MERKLE_MAX_PROOF][LS_HASH_LEN];
	json_t *v;
	uint64_t index;
	size_t len = 0, i, np;
	ls_rc rc;

	rc = exact_members(o, names, err);
	if (rc != LS_OK)
		return rc;
	if (!get_u64(json_object_get(o, "index"), &index))
		return ls_err_set(err, LS_INVALID, "index is not a non-negative integer");
	if (index >= st->cp.size)
		return ls_err_set(err, LS_INVALID, "index %llu is not in the checkpoint (size %llu)",
				  (unsigned long long)index, (unsigned long long)st->cp.size);
	if (st->have_last && index <= st->last)
		return ls_err_set(err, LS_TAMPERED,
				  "index %llu does not follow %llu (entries reordered or repeated)",
				  (unsigned long long)index, (unsigned long long)st->last);
	v = json_object_get(o, "entry");
	if (!json_is_string(v))
		return ls_err_set(err, LS_INVALID, "entry is not a string");
	rc = ls_b64_decode(json_string_value(v), json_string_length(v), st->entry,
			   EVENT_MAX_BYTES, &len);
	if (rc != LS_OK || len == 0)
		return ls_err_set(err, rc == LS_LIMIT ? LS_LIMIT : LS_INVALID,
				  rc == LS_LIMIT ? "entry longer than %d bytes" :
				  "entry is not 1 to %d bytes of strict base64", EVENT_MAX_BYTES);
	if (!get_hash(json_object_get(o, "leaf_hash"), leaf))
		return ls_err_set(err, LS_INVALID, "leaf_hash is not a base64 SHA-256 hash");
	merkle_leaf_hash(st->entry, len, mine);
	if (memcmp(leaf, mine, LS_HASH_LEN))
		return ls_err_set(err, LS_TAMPERED, "leaf hash does not match the entry (entry %llu)",
				  (unsigned long long)index);
	v = json_object_get(o, "proof");
	if (!json_is_array(v))
		return ls_err_set(err, LS_INVALID, "proof is not an array");
	np = json_array_size(v);
	if (np > MERKLE_MAX_PROOF)
		return ls_err_set(err, LS_INVALID, "proof longer than %d hashes", MERKLE_MAX_PROOF);
	for (i = 0; i < np; i++)
		if (!get_hash(json_array_get(v, i), proof[i]))
			return ls_err_set(err, LS_INVALID, "proof hash %zu is not base64 SHA-256", i);
	if (merkle_verify_inclusion(leaf, index, st->cp.size, (const uint8_t(*)[LS_HASH_LEN])proof,
				    np, st->cp.root) != LS_OK)
		return ls_err_set(err, LS_TAMPERED,
				  "inclusion proof of entry %llu does not match the checkpoint root",
				  (unsigned long long)index);
	if (!digest_add(st->md, index, leaf))
		return ls_err_set(err, LS_NOMEM, "digest failed");
	st->count++;
	st->have_last = 1;
	st->last = index;
	return LS_OK;
}

/* Next '\n'-terminated line of s[*pos..n) (without it), or NULL. */
static const char *next_line(const char *s, size_t n, size_t *pos, size_t *len)
{
	const char *p = s + *pos, *nl;

	if (*pos >= n)
		return NULL;
	nl = memchr(p, '\n', n - *pos);
	if (!nl)
		return NULL;
	*len = (size_t)(nl - p);
	*pos += *len + 1;
	return p;
}

static ls_rc check_manifest(struct vstate *st, json_t *o, struct ls_err *err)
{
	static const char *const names[] = { "manifest", NULL };
	static const char *const what[MANIFEST_LINES] = {
		"first line (marker)", "origin", "filter", "checkpoint", "entries", "digest",
		"created",
	};
	uint8_t digest[LS_HASH_LEN];
	char *want = NULL;
	const char *s, *a, *b;
	size_t n, tl = 0, wl = 0, pa = 0, pb = 0, la = 0, lb = 0;
	struct ls_err e2;
	json_t *v;
	int i;
	ls_rc rc;

	rc = exact_members(o, names, err);
	if (rc != LS_OK)
		return rc;
	v = json_object_get(o, "manifest");
	if (!json_is_string(v))
		return ls_err_set(err, LS_INVALID, "manifest is not a string");
	s = json_string_value(v);
	n = json_string_length(v);
	rc = note_open(s, n, st->key, 1, &tl, &e2);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "manifest: %s", rc == LS_UNTRUSTED ?
				  "not signed by the given key" : e2.msg);
	if (!digest_final(st->md, digest))
		return ls_err_set(err, LS_NOMEM, "digest failed");
	rc = manifest_text(st->origin, st->filter, st->cp.size, st->cp.root, st->count, digest,
			   st->created, &want, &wl);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "out of memory");
	/* Compare field by field to say which one differs. */
	for (i = 0; i < MANIFEST_LINES; i++) {
		b = next_line(want, wl, &pb, &lb);
		a = next_line(s, tl, &pa, &la);
		if (a && la == lb && !memcmp(a, b, la))
			continue;
		if (i == 0)
			rc = ls_err_set(err, LS_INVALID, "manifest does not start with \"%s\"",
					MANIFEST_MARKER);
		else if (i == 4)
			rc = ls_err_set(err, LS_TAMPERED,
					"manifest says \"%.*s\", the bundle holds %llu entries "
					"(entries dropped or added)", a ? (int)(la > 64 ? 64 : la) : 0,
					a ? a : "", (unsigned long long)st->count);
		else if (i == 5)
			rc = ls_err_set(err, LS_TAMPERED,
					"manifest digest does not match the entries "
					"(entries dropped, added or moved)");
		else
			rc = ls_err_set(err, LS_TAMPERED, "manifest %s differs from the bundle's: "
					"manifest \"%.*s\", bundle \"%.*s\"", what[i],
					a ? (int)(la > 160 ? 160 : la) : 0, a ? a : "",
					(int)(lb > 160 ? 160 : lb), b);
		free(want);
		return rc;
	}
	free(want);
	if (pa != tl)
		return ls_err_set(err, LS_INVALID, "manifest has lines after \"created\"");
	return LS_OK;
}

ls_rc export_verify_bundle(const char *path, const struct note_verifier *key,
			   struct bundle_report *rep, struct ls_err *err)
{
	struct lreader r = { 0 };
	struct vstate st = { 0 };
	struct ls_err e2 = { "" };
	json_error_t je;
	json_t *o = NULL;
	uint64_t ln = 0;
	size_t n;
	char *line;
	int got, done = 0;
	ls_rc rc = LS_OK;

	if (rep)
		memset(rep, 0, sizeof(*rep));
	if (!path || !key)
		return ls_err_set(err, LS_INVALID, "no bundle or no key");
	st.key = key;
	r.f = fopen(path, "rb");
	if (!r.f)
		return ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO, "%s: %s", path,
				  strerror(errno));
	r.cap = BUNDLE_LINE_MAX;
	r.buf = malloc(r.cap);
	st.entry = malloc(EVENT_MAX_BYTES);
	st.md = digest_new();
	if (!r.buf || !st.entry || !st.md) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		got = lr_next(&r, &line, &n);
		ln++;
		if (got == 0) {
			if (ln == 1)
				rc = ls_err_set(err, LS_INVALID, "line 1: empty file, no header");
			else if (!done)
				rc = ls_err_set(err, LS_INVALID,
						"line %llu: the bundle ends without its signed "
						"manifest (truncated?)", (unsigned long long)ln);
			break;
		}
		if (got < 0) {
			rc = (ls_rc)-got;
			ls_err_set(err, rc, "line %llu: %s", (unsigned long long)ln,
				   rc == LS_LIMIT ? "longer than the limit of 262144 bytes" :
				   rc == LS_IO ? "read error" :
				   "does not end in a newline (truncated?)");
			break;
		}
		if (done) {
			rc = ls_err_set(err, LS_INVALID, "line %llu: data after the manifest",
					(unsigned long long)ln);
			break;
		}
		o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(o)) {
			rc = ls_err_set(err, LS_INVALID, "line %llu: not a JSON object",
					(unsigned long long)ln);
			break;
		}
		if (ln == 1)
			rc = check_header(&st, o, &e2);
		else if (json_object_get(o, "manifest")) {
			rc = check_manifest(&st, o, &e2);
			done = 1;
		} else if (json_object_get(o, "index")) {
			rc = check_entry(&st, o, &e2);
		} else {
			rc = ls_err_set(&e2, LS_INVALID, "neither an entry nor the manifest");
		}
		json_decref(o);
		o = NULL;
		if (rc != LS_OK) {
			ls_err_set(err, rc, "line %llu: %s", (unsigned long long)ln, e2.msg);
			break;
		}
	}
	if (rc == LS_OK && rep) {
		rep->entries = st.count;
		rep->tree_size = st.cp.size;
		snprintf(rep->origin, sizeof(rep->origin), "%s", st.origin);
		snprintf(rep->filter, sizeof(rep->filter), "%s", st.filter ? st.filter : "{}");
	}
out:
	json_decref(o);
	fclose(r.f);
	free(r.buf);
	free(st.entry);
	free(st.filter);
	free(st.created);
	EVP_MD_CTX_free(st.md);
	return rc;
}

/* ------------------------------------------------------------------------
 * A verifier key given on a command line
 */

ls_rc export_load_verifier(const char *arg, struct note_verifier *v, struct ls_err *err)
{
	char *data = NULL;
	size_t len = strlen(arg);
	ls_rc rc;

	if (strchr(arg, '+') && access(arg, F_OK) != 0)
		return note_verifier_parse(arg, len, v, err);
	rc = fs_read_file(arg, VKEY_FILE_MAX, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
		len--;
	rc = note_verifier_parse(data, len, v, err);
	free(data);
	return rc;
}
