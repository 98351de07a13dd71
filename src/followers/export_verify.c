/*
 * export_verify.c - the offline check of an export bundle (export.h,
 * `logseal verify-bundle`): the header against the given key, the
 * checkpoint's signature, every entry's leaf hash and inclusion proof, and
 * the signed manifest; and a verifier key given on a command line.  It
 * trusts nothing but the key (export.c, invariants 2 to 5).
 */
#include "followers/export.h"
#include "followers/export_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "core/event.h"
#include "core/merkle.h"

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
