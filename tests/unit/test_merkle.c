/*
 * test_merkle.c - merkle.c against published vectors, then against itself.
 *
 *  - tests/vectors/rfc6962-reference.json: leaf and node hashes, roots for
 *    sizes 0..8, and the listed inclusion and consistency proofs, which must
 *    be reproduced byte for byte by the generators and accepted by the
 *    verifiers.
 *  - tests/vectors/merkle/{inclusion,consistency,subtreeinclusion,
 *    subtreeconsistency}/ (every .json below; transparency-dev/merkle testdata): every
 *    vector is run; wantErr:true must be rejected and wantErr:false accepted.
 *    Each directory must yield vectors, so the test cannot pass vacuously.
 *  - random trees up to 300 leaves: every inclusion and consistency proof
 *    generated through a node callback verifies against merkle_tree_root,
 *    and any flipped bit, wrong index/size or wrong length is rejected.
 *
 * Vector hashes that are not 32 bytes (the data includes "" and 12-byte
 * "don't care" strings) cannot be passed to a fixed-size API.  A malformed
 * root or proof hash is replaced by SHA-256("malformed hash in vector" ||
 * bytes): like the original bytes it can never equal a hash a verifier
 * computes, two identical malformed strings still compare equal (as in Go),
 * and a root the verifier never needs (the empty-subtree vectors) stays
 * irrelevant.  A malformed leaf hash gets its own tag, so it equals no root
 * either (the reference implementation rejects it up front by length).
 *
 * Integers are read from the raw JSON text, since some exceed what jansson
 * accepts as an integer (e.g. leafIdx 18446744073709551615).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "base/crypto.h"
#include "core/merkle.h"

#define VEC_DIR "tests/vectors/merkle"
#define REF_FILE "tests/vectors/rfc6962-reference.json"
#define MAX_FILE (1 << 20)

/* ------------------------------------------------------------ helpers */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, MAX_FILE, f);
	fclose(f);
	if (n == MAX_FILE) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

/* The integer value of "key" in raw JSON text; 0 when absent, -1 if bad. */
static int raw_u64(const char *text, const char *key, uint64_t *out)
{
	char pat[64];
	const char *p = text;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	while ((p = strstr(p, pat)) != NULL) {
		const char *q = p + strlen(pat);
		char *end;
		unsigned long long v;

		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q != ':') {
			p++;
			continue;
		}
		q++;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q < '0' || *q > '9')
			return -1;
		errno = 0;
		v = strtoull(q, &end, 10);
		if (errno || end == q)
			return -1;
		*out = v;
		return 1;
	}
	return 0;
}

static void malformed_substitute(const char *tag, const uint8_t *raw, size_t n,
				 uint8_t out[LS_HASH_LEN])
{
	ls_sha256(tag, strlen(tag), raw, n, out);
}

/* Decode a base64 hash; returns 1 if it was 32 bytes, 0 if substituted. */
static int b64_tagged(const char *s, const char *tag, uint8_t out[LS_HASH_LEN])
{
	uint8_t raw[256];
	size_t n = 0;

	assert_non_null(s);
	assert_int_equal(ls_b64_decode(s, strlen(s), raw, sizeof(raw), &n), LS_OK);
	if (n == LS_HASH_LEN) {
		memcpy(out, raw, LS_HASH_LEN);
		return 1;
	}
	malformed_substitute(tag, raw, n, out);
	return 0;
}

static int b64_hash(const char *s, uint8_t out[LS_HASH_LEN])
{
	return b64_tagged(s, "malformed hash in vector", out);
}

static int b64_leaf(const char *s, uint8_t out[LS_HASH_LEN])
{
	return b64_tagged(s, "malformed leaf hash in vector", out);
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* proof: null or array of base64 strings.  Caller frees *out. */
static size_t json_proof(json_t *o, uint8_t (**out)[LS_HASH_LEN])
{
	json_t *arr = json_object_get(o, "proof");
	size_t n, i;

	*out = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	assert_true(json_is_array(arr));
	n = json_array_size(arr);
	*out = calloc(n ? n : 1, LS_HASH_LEN);
	assert_non_null(*out);
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);

		assert_true(json_is_string(e));
		b64_hash(json_string_value(e), (*out)[i]);
	}
	return n;
}

static void hex32(const char *s, uint8_t out[LS_HASH_LEN])
{
	assert_non_null(s);
	assert_int_equal(ls_unhex(s, strlen(s), out, LS_HASH_LEN), LS_OK);
}

/* ------------------------------------------------- vector directories */

enum kind { K_INCL, K_CONS, K_SUBINCL, K_SUBCONS };

struct tally {
	enum kind kind;
	unsigned total, accepted, rejected, wrong;
	unsigned bad_leaf; /* leaf hash not 32 bytes, substituted */
};

static uint64_t need_u64(const char *text, const char *key, const char *path)
{
	uint64_t v = 0;
	int r = raw_u64(text, key, &v);

	if (r != 1)
		fail_msg("%s: field %s missing or not an unsigned integer", path, key);
	return v;
}

static void run_vector(const char *path, struct tally *t)
{
	char *text = slurp(path);
	json_error_t jerr;
	json_t *o, *want;
	uint8_t (*proof)[LS_HASH_LEN] = NULL;
	uint8_t h1[LS_HASH_LEN], h2[LS_HASH_LEN], leaf[LS_HASH_LEN];
	size_t n;
	int want_err;
	ls_rc rc;

	assert_non_null(text);
	o = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr);
	if (!o)
		fail_msg("%s: %s", path, jerr.text);
	want = json_object_get(o, "wantErr");
	assert_true(json_is_boolean(want));
	want_err = json_is_true(want);
	n = json_proof(o, &proof);

	switch (t->kind) {
	case K_INCL:
		b64_hash(jstr(o, "root"), h1);
		if (!b64_leaf(jstr(o, "leafHash"), leaf))
			t->bad_leaf++;
		rc = merkle_verify_inclusion(leaf, need_u64(text, "leafIdx", path),
					     need_u64(text, "treeSize", path),
					     (const uint8_t(*)[LS_HASH_LEN])proof, n, h1);
		break;
	case K_CONS:
		b64_hash(jstr(o, "root1"), h1);
		b64_hash(jstr(o, "root2"), h2);
		rc = merkle_verify_consistency(need_u64(text, "size1", path),
					       need_u64(text, "size2", path), h1, h2,
					       (const uint8_t(*)[LS_HASH_LEN])proof, n);
		break;
	case K_SUBINCL:
		b64_hash(jstr(o, "root"), h1);
		if (!b64_leaf(jstr(o, "leafHash"), leaf))
			t->bad_leaf++;
		rc = merkle_verify_subtree_inclusion(leaf, need_u64(text, "leafIdx", path),
						     need_u64(text, "start", path),
						     need_u64(text, "end", path),
						     (const uint8_t(*)[LS_HASH_LEN])proof, n, h1);
		break;
	default:
		b64_hash(jstr(o, "root1"), h1);
		b64_hash(jstr(o, "root2"), h2);
		rc = merkle_verify_subtree_consistency(need_u64(text, "start", path),
						       need_u64(text, "end", path),
						       need_u64(text, "size", path), h1, h2,
						       (const uint8_t(*)[LS_HASH_LEN])proof, n);
		break;
	}
	/* Rejections must be one of the two documented verdicts. */
	if (rc != LS_OK && rc != LS_INVALID && rc != LS_TAMPERED) {
		printf("# %s: unexpected code %s\n", path, ls_rc_name(rc));
		t->wrong++;
	} else if ((rc == LS_OK) == !want_err) {
		if (rc == LS_OK)
			t->accepted++;
		else
			t->rejected++;
	} else {
		printf("# %s: wantErr=%d but got %s\n", path, want_err, ls_rc_name(rc));
		t->wrong++;
	}
	t->total++;
	free(proof);
	json_decref(o);
	free(text);
}

static void walk_dir(const char *dir, struct tally *t)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		fail_msg("cannot open %s (tests run from the project root)", dir);
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			fail_msg("path too long under %s", dir);
		if (stat(path, &st) != 0)
			fail_msg("stat %s", path);
		if (S_ISDIR(st.st_mode))
			walk_dir(path, t);
		else if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
			run_vector(path, t);
	}
	closedir(d);
}

static void run_dir(const char *sub, enum kind kind)
{
	struct tally t = { .kind = kind };
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/%s", VEC_DIR, sub);
	walk_dir(dir, &t);
	printf("# %s: %u vectors, %u accepted, %u rejected (%u with a malformed leaf hash), "
	       "%u wrong\n", sub, t.total, t.accepted, t.rejected, t.bad_leaf, t.wrong);
	assert_true(t.total > 0);
	assert_true(t.accepted > 0);
	assert_true(t.rejected > 0);
	assert_int_equal(t.wrong, 0);
}

static void test_vectors_inclusion(void **state)
{
	(void)state;
	run_dir("inclusion", K_INCL);
}

static void test_vectors_consistency(void **state)
{
	(void)state;
	run_dir("consistency", K_CONS);
}

static void test_vectors_subtree_inclusion(void **state)
{
	(void)state;
	run_dir("subtreeinclusion", K_SUBINCL);
}

static void test_vectors_subtree_consistency(void **state)
{
	(void)state;
	run_dir("subtreeconsistency", K_SUBCONS);
}

/* --------------------------------------------- in-memory node callback */

/*
 * levels[l][i] is node (l, i) for every complete node of the first `cap`
 * leaves.  size is the tree size a proof is generated for: the callback
 * fails the test for any node outside [0, size) (merkle.c invariant 3).
 */
struct mem_tree {
	uint8_t (*levels[64])[LS_HASH_LEN];
	uint64_t count[64];
	uint64_t size;
	unsigned calls;
};

static void mem_tree_build(struct mem_tree *m, const uint8_t (*leaves)[LS_HASH_LEN], uint64_t cap)
{
	memset(m, 0, sizeof(*m));
	m->levels[0] = malloc((cap ? cap : 1) * LS_HASH_LEN);
	assert_non_null(m->levels[0]);
	memcpy(m->levels[0], leaves, cap * LS_HASH_LEN);
	m->count[0] = cap;
	for (unsigned l = 1; l < 64 && m->count[l - 1] >= 2; l++) {
		m->count[l] = m->count[l - 1] / 2;
		m->levels[l] = malloc(m->count[l] * LS_HASH_LEN);
		assert_non_null(m->levels[l]);
		for (uint64_t i = 0; i < m->count[l]; i++)
			merkle_node_hash(m->levels[l - 1][2 * i], m->levels[l - 1][2 * i + 1],
					 m->levels[l][i]);
	}
	m->size = cap;
}

static void mem_tree_free(struct mem_tree *m)
{
	for (unsigned l = 0; l < 64; l++)
		free(m->levels[l]);
}

static ls_rc mem_node(void *ctx, unsigned level, uint64_t index, uint8_t out[LS_HASH_LEN])
{
	struct mem_tree *m = ctx;

	m->calls++;
	if (level >= 64 || ((index + 1) << level) > m->size || index >= m->count[level]) {
		fail_msg("callback asked for node (%u, %llu) beyond size %llu", level,
			 (unsigned long long)index, (unsigned long long)m->size);
		return LS_NOTFOUND;
	}
	memcpy(out, m->levels[level][index], LS_HASH_LEN);
	return LS_OK;
}

/* Node callback of the subtree starting at leaf `base`: node (l, i) of the
 * subtree is node (l, i + (base >> l)) of the tree. */
struct shifted {
	struct mem_tree *m;
	uint64_t base;
};

static ls_rc shifted_node(void *ctx, unsigned level, uint64_t index, uint8_t out[LS_HASH_LEN])
{
	struct shifted *s = ctx;

	return mem_node(s->m, level, index + (s->base >> level), out);
}

/* ------------------------------------------------- RFC 6962 reference */

struct ref {
	json_t *doc;
	uint8_t leaves[8][LS_HASH_LEN];
	struct mem_tree mt;
};

static int ref_setup(void **state)
{
	struct ref *r = calloc(1, sizeof(*r));
	json_error_t jerr;
	json_t *inputs;

	if (!r)
		return -1;
	r->doc = json_load_file(REF_FILE, 0, &jerr);
	if (!r->doc) {
		free(r);
		return -1;
	}
	inputs = json_object_get(r->doc, "leaf_inputs_hex");
	if (json_array_size(inputs) != 8) {
		json_decref(r->doc);
		free(r);
		return -1;
	}
	for (size_t i = 0; i < 8; i++) {
		const char *hx = json_string_value(json_array_get(inputs, i));
		uint8_t data[64];
		size_t len = hx ? strlen(hx) / 2 : 0;

		if (!hx || len > sizeof(data) || ls_unhex(hx, 2 * len, data, len) != LS_OK) {
			json_decref(r->doc);
			free(r);
			return -1;
		}
		merkle_leaf_hash(data, len, r->leaves[i]);
	}
	*state = r;
	return 0;
}

static int ref_teardown(void **state)
{
	struct ref *r = *state;

	json_decref(r->doc);
	free(r);
	return 0;
}

static void test_ref_node_hashes(void **state)
{
	struct ref *r = *state;
	json_t *levels = json_object_get(r->doc, "node_hashes_by_level");
	uint8_t level[8][LS_HASH_LEN], want[LS_HASH_LEN];
	size_t width = 8;

	assert_int_equal(json_array_size(levels), 4);
	memcpy(level, r->leaves, sizeof(level));
	for (size_t l = 0; l < 4; l++) {
		json_t *row = json_array_get(levels, l);

		assert_int_equal(json_array_size(row), width);
		for (size_t i = 0; i < width; i++) {
			hex32(json_string_value(json_array_get(row, i)), want);
			assert_memory_equal(level[i], want, LS_HASH_LEN);
		}
		for (size_t i = 0; i < width / 2; i++)
			merkle_node_hash(level[2 * i], level[2 * i + 1], level[i]);
		width /= 2;
	}
}

static void test_ref_roots(void **state)
{
	struct ref *r = *state;
	json_t *roots = json_object_get(r->doc, "root_by_tree_size");
	struct merkle_tree t;
	struct mem_tree m;
	uint8_t want[LS_HASH_LEN], got[LS_HASH_LEN];

	assert_int_equal(json_object_size(roots), 9);
	mem_tree_build(&m, (const uint8_t(*)[LS_HASH_LEN])r->leaves, 8);
	merkle_tree_init(&t);
	for (uint64_t size = 0; size <= 8; size++) {
		char key[8];

		snprintf(key, sizeof(key), "%llu", (unsigned long long)size);
		hex32(json_string_value(json_object_get(roots, key)), want);
		if (size > 0)
			merkle_tree_append(&t, r->leaves[size - 1]);
		assert_int_equal(t.size, size);
		merkle_tree_root(&t, got);
		assert_memory_equal(got, want, LS_HASH_LEN);
		m.size = size;
		assert_int_equal(merkle_root(mem_node, &m, size, got), LS_OK);
		assert_memory_equal(got, want, LS_HASH_LEN);
	}
	merkle_empty_root(got);
	hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
	assert_memory_equal(got, want, LS_HASH_LEN);
	/* Ranges that are not valid subtrees have no RFC 6962 hash. */
	m.size = 8;
	assert_int_equal(merkle_range_root(mem_node, &m, 1, 4, got), LS_INVALID);
	assert_int_equal(merkle_range_root(mem_node, &m, 3, 3, got), LS_INVALID);
	assert_int_equal(merkle_range_root(mem_node, &m, 4, 7, got), LS_OK);
	mem_tree_free(&m);
}

static void test_ref_inclusion_proofs(void **state)
{
	struct ref *r = *state;
	json_t *list = json_object_get(r->doc, "inclusion_proofs"), *p;
	json_t *roots = json_object_get(r->doc, "root_by_tree_size");
	struct mem_tree m;
	size_t idx;

	assert_true(json_array_size(list) > 0);
	mem_tree_build(&m, (const uint8_t(*)[LS_HASH_LEN])r->leaves, 8);
	json_array_foreach(list, idx, p) {
		uint64_t index = (uint64_t)json_integer_value(json_object_get(p, "leaf_index"));
		uint64_t size = (uint64_t)json_integer_value(json_object_get(p, "tree_size"));
		json_t *want = json_object_get(p, "proof");
		uint8_t got[MERKLE_MAX_PROOF][LS_HASH_LEN], w[LS_HASH_LEN], root[LS_HASH_LEN];
		char key[8];
		size_t n = 99;

		m.size = size;
		assert_int_equal(merkle_inclusion_proof(mem_node, &m, index, size, got, &n), LS_OK);
		assert_int_equal(n, json_array_size(want));
		for (size_t i = 0; i < n; i++) {
			hex32(json_string_value(json_array_get(want, i)), w);
			assert_memory_equal(got[i], w, LS_HASH_LEN);
		}
		snprintf(key, sizeof(key), "%llu", (unsigned long long)size);
		hex32(json_string_value(json_object_get(roots, key)), root);
		assert_int_equal(merkle_verify_inclusion(r->leaves[index], index, size,
							 (const uint8_t(*)[LS_HASH_LEN])got, n, root),
				 LS_OK);
	}
	mem_tree_free(&m);
}

static void test_ref_consistency_proofs(void **state)
{
	struct ref *r = *state;
	json_t *list = json_object_get(r->doc, "consistency_proofs"), *p;
	json_t *roots = json_object_get(r->doc, "root_by_tree_size");
	struct mem_tree m;
	size_t idx;

	assert_true(json_array_size(list) > 0);
	mem_tree_build(&m, (const uint8_t(*)[LS_HASH_LEN])r->leaves, 8);
	json_array_foreach(list, idx, p) {
		uint64_t size1 = (uint64_t)json_integer_value(json_object_get(p, "size1"));
		uint64_t size2 = (uint64_t)json_integer_value(json_object_get(p, "size2"));
		json_t *want = json_object_get(p, "proof");
		uint8_t got[MERKLE_MAX_PROOF][LS_HASH_LEN], w[LS_HASH_LEN];
		uint8_t root1[LS_HASH_LEN], root2[LS_HASH_LEN];
		char key[8];
		size_t n = 99;

		m.size = size2;
		assert_int_equal(merkle_consistency_proof(mem_node, &m, size1, size2, got, &n),
				 LS_OK);
		assert_int_equal(n, json_array_size(want));
		for (size_t i = 0; i < n; i++) {
			hex32(json_string_value(json_array_get(want, i)), w);
			assert_memory_equal(got[i], w, LS_HASH_LEN);
		}
		snprintf(key, sizeof(key), "%llu", (unsigned long long)size1);
		hex32(json_string_value(json_object_get(roots, key)), root1);
		snprintf(key, sizeof(key), "%llu", (unsigned long long)size2);
		hex32(json_string_value(json_object_get(roots, key)), root2);
		assert_int_equal(merkle_verify_consistency(size1, size2, root1, root2,
							   (const uint8_t(*)[LS_HASH_LEN])got, n),
				 LS_OK);
		/* The same statement as a subtree consistency proof of [0, size1). */
		assert_int_equal(merkle_verify_subtree_consistency(
					 0, size1, size2, root1, root2,
					 (const uint8_t(*)[LS_HASH_LEN])got, n),
				 LS_OK);
	}
	mem_tree_free(&m);
}

/* ------------------------------------------------ randomized self-test */

#define RAND_MAX_LEAVES 300

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void flip(uint8_t (*proof)[LS_HASH_LEN], size_t n, uint8_t *root, uint8_t *other)
{
	uint64_t pick = rnd();
	size_t total = n + (other ? 2 : 1);
	size_t which = (size_t)(pick % total);
	unsigned bit = (unsigned)((pick >> 32) % (8 * LS_HASH_LEN));
	uint8_t *h = which < n ? proof[which] : which == n ? root : other;

	h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

struct rand_tree {
	uint8_t leaves[RAND_MAX_LEAVES][LS_HASH_LEN];
	uint8_t roots[RAND_MAX_LEAVES + 1][LS_HASH_LEN];
	struct mem_tree m;
};

static struct rand_tree *rand_tree_new(void)
{
	struct rand_tree *rt = calloc(1, sizeof(*rt));
	struct merkle_tree t;

	assert_non_null(rt);
	merkle_tree_init(&t);
	merkle_tree_root(&t, rt->roots[0]);
	for (unsigned i = 0; i < RAND_MAX_LEAVES; i++) {
		uint64_t v = rnd();

		merkle_leaf_hash(&v, sizeof(v), rt->leaves[i]);
		merkle_tree_append(&t, rt->leaves[i]);
		merkle_tree_root(&t, rt->roots[i + 1]);
	}
	mem_tree_build(&rt->m, (const uint8_t(*)[LS_HASH_LEN])rt->leaves, RAND_MAX_LEAVES);
	return rt;
}

static void rand_tree_free(struct rand_tree *rt)
{
	mem_tree_free(&rt->m);
	free(rt);
}

typedef const uint8_t (*cproof)[LS_HASH_LEN];

static void test_random_inclusion(void **state)
{
	struct rand_tree *rt = rand_tree_new();
	unsigned checked = 0;

	(void)state;
	for (uint64_t size = 1; size <= RAND_MAX_LEAVES; size++) {
		uint8_t root[LS_HASH_LEN];

		rt->m.size = size;
		assert_int_equal(merkle_root(mem_node, &rt->m, size, root), LS_OK);
		assert_memory_equal(root, rt->roots[size], LS_HASH_LEN);
		for (uint64_t index = 0; index < size; index++) {
			uint8_t p[MERKLE_MAX_PROOF + 1][LS_HASH_LEN], leaf[LS_HASH_LEN];
			size_t n;

			assert_int_equal(merkle_inclusion_proof(mem_node, &rt->m, index, size, p, &n),
					 LS_OK);
			assert_int_equal(merkle_verify_inclusion(rt->leaves[index], index, size,
								 (cproof)p, n, rt->roots[size]),
					 LS_OK);
			/* The wrong position, tree size or proof length. */
			if (size > 1)
				assert_int_not_equal(merkle_verify_inclusion(
							     rt->leaves[index], (index + 1) % size, size,
							     (cproof)p, n, rt->roots[size]),
						     LS_OK);
			/* Another size with that size's true root.  (The same root
			 * under another size can verify: a proof's shape depends on
			 * the size only through the path, and a checkpoint is what
			 * binds a root to its size.) */
			if (size < RAND_MAX_LEAVES)
				assert_int_not_equal(merkle_verify_inclusion(
							     rt->leaves[index], index, size + 1,
							     (cproof)p, n, rt->roots[size + 1]),
						     LS_OK);
			assert_int_equal(merkle_verify_inclusion(rt->leaves[index], index, size,
								 (cproof)p, n + 1, rt->roots[size]),
					 LS_INVALID);
			if (n > 0)
				assert_int_equal(merkle_verify_inclusion(rt->leaves[index], index,
									 size, (cproof)p, n - 1,
									 rt->roots[size]),
						 LS_INVALID);
			assert_int_equal(merkle_verify_inclusion(rt->leaves[index], size, size,
								 (cproof)p, n, rt->roots[size]),
					 LS_INVALID);
			/* A single flipped bit anywhere. */
			memcpy(leaf, rt->leaves[index], LS_HASH_LEN);
			memcpy(root, rt->roots[size], LS_HASH_LEN);
			flip(p, n, leaf, root);
			assert_int_equal(merkle_verify_inclusion(leaf, index, size, (cproof)p, n, root),
					 LS_TAMPERED);
			checked++;
		}
	}
	printf("# %u inclusion proofs generated and checked\n", checked);
	rand_tree_free(rt);
}

static void test_random_consistency(void **state)
{
	struct rand_tree *rt = rand_tree_new();
	unsigned checked = 0;

	(void)state;
	for (uint64_t size2 = 1; size2 <= RAND_MAX_LEAVES; size2++) {
		rt->m.size = size2;
		for (uint64_t size1 = 1; size1 <= size2; size1++) {
			uint8_t p[MERKLE_MAX_PROOF][LS_HASH_LEN];
			uint8_t r1[LS_HASH_LEN], r2[LS_HASH_LEN];
			size_t n;

			assert_int_equal(merkle_consistency_proof(mem_node, &rt->m, size1, size2, p,
								  &n),
					 LS_OK);
			assert_int_equal(merkle_verify_consistency(size1, size2, rt->roots[size1],
								   rt->roots[size2], (cproof)p, n),
					 LS_OK);
			assert_int_equal(merkle_verify_subtree_consistency(
						 0, size1, size2, rt->roots[size1],
						 rt->roots[size2], (cproof)p, n),
					 LS_OK);
			assert_int_equal(merkle_verify_consistency(size1, size2, rt->roots[size1],
								   rt->roots[size2], (cproof)p,
								   n + 1),
					 LS_INVALID);
			if (n > 0)
				assert_int_equal(merkle_verify_consistency(
							 size1, size2, rt->roots[size1],
							 rt->roots[size2], (cproof)p, n - 1),
						 LS_INVALID);
			/* Other sizes, each with its true root, must not verify. */
			if (size1 < size2)
				assert_int_not_equal(merkle_verify_consistency(
							     size1 + 1, size2, rt->roots[size1 + 1],
							     rt->roots[size2], (cproof)p, n),
						     LS_OK);
			if (size1 > 1)
				assert_int_not_equal(merkle_verify_consistency(
							     size1 - 1, size2, rt->roots[size1 - 1],
							     rt->roots[size2], (cproof)p, n),
						     LS_OK);
			if (size2 < RAND_MAX_LEAVES)
				assert_int_not_equal(merkle_verify_consistency(
							     size1, size2 + 1, rt->roots[size1],
							     rt->roots[size2 + 1], (cproof)p, n),
						     LS_OK);
			memcpy(r1, rt->roots[size1], LS_HASH_LEN);
			memcpy(r2, rt->roots[size2], LS_HASH_LEN);
			flip(p, n, r1, r2);
			assert_int_equal(merkle_verify_consistency(size1, size2, r1, r2, (cproof)p, n),
					 LS_TAMPERED);
			checked++;
		}
	}
	/* No proof from the empty tree; the empty tree matches only itself. */
	assert_int_equal(merkle_verify_consistency(0, 5, rt->roots[0], rt->roots[5], NULL, 0),
			 LS_INVALID);
	assert_int_equal(merkle_verify_consistency(0, 0, rt->roots[0], rt->roots[0], NULL, 0),
			 LS_OK);
	assert_int_equal(merkle_verify_consistency(0, 0, rt->roots[1], rt->roots[1], NULL, 0),
			 LS_TAMPERED);
	assert_int_equal(merkle_verify_consistency(6, 5, rt->roots[6], rt->roots[5], NULL, 0),
			 LS_INVALID);
	printf("# %u consistency proofs generated and checked\n", checked);
	rand_tree_free(rt);
}

/*
 * A valid subtree [start, end) hashes like a tree of end - start leaves, so
 * a subtree inclusion proof is an inclusion proof generated over the shifted
 * callback; and for end == size (or start == 0) a subtree consistency proof
 * can be assembled from pieces the generators produce.
 */
static void test_random_subtrees(void **state)
{
	struct rand_tree *rt = rand_tree_new();
	unsigned checked = 0;

	(void)state;
	rt->m.size = RAND_MAX_LEAVES;
	for (uint64_t start = 0; start < RAND_MAX_LEAVES; start++) {
		for (uint64_t end = start + 1; end <= RAND_MAX_LEAVES; end++) {
			uint64_t width = end - start;
			int valid = start == 0 || width <= (start & (~start + 1));
			struct shifted sh = { &rt->m, start };
			uint8_t sroot[LS_HASH_LEN];
			uint64_t index = start + rnd() % width;
			uint8_t p[MERKLE_MAX_PROOF][LS_HASH_LEN];
			size_t n;

			if (!valid) {
				assert_int_equal(merkle_verify_subtree_inclusion(
							 rt->leaves[start], start, start, end,
							 NULL, 0, rt->leaves[start]),
						 LS_INVALID);
				assert_int_equal(merkle_range_root(mem_node, &rt->m, start, end,
								   sroot),
						 LS_INVALID);
				continue;
			}
			assert_int_equal(merkle_range_root(mem_node, &rt->m, start, end, sroot),
					 LS_OK);
			/* The subtree root is the root of the same leaves as a tree. */
			{
				struct merkle_tree t;
				uint8_t want[LS_HASH_LEN];

				merkle_tree_init(&t);
				for (uint64_t i = start; i < end; i++)
					merkle_tree_append(&t, rt->leaves[i]);
				merkle_tree_root(&t, want);
				assert_memory_equal(sroot, want, LS_HASH_LEN);
			}
			assert_int_equal(merkle_inclusion_proof(shifted_node, &sh, index - start,
								width, p, &n),
					 LS_OK);
			assert_int_equal(merkle_verify_subtree_inclusion(rt->leaves[index], index,
									 start, end, (cproof)p, n,
									 sroot),
					 LS_OK);
			if (index + 1 < end || index > start)
				assert_int_not_equal(merkle_verify_subtree_inclusion(
							     rt->leaves[index],
							     index + 1 < end ? index + 1 : index - 1,
							     start, end, (cproof)p, n, sroot),
						     LS_OK);
			assert_int_equal(merkle_verify_subtree_inclusion(rt->leaves[index], end,
									 start, end, (cproof)p, n,
									 sroot),
					 LS_INVALID);
			flip(p, n, sroot, NULL);
			assert_int_equal(merkle_verify_subtree_inclusion(rt->leaves[index], index,
									 start, end, (cproof)p, n,
									 sroot),
					 LS_TAMPERED);
			checked++;

			/* [start, end) on the right edge of a tree of `end` leaves:
			 * the proof is the left siblings of its node, which are
			 * the tail of the inclusion proof of leaf end - 1. */
			if (start > 0) {
				uint8_t full[MERKLE_MAX_PROOF][LS_HASH_LEN];
				uint8_t tree_root[LS_HASH_LEN];
				size_t fn, skip = 0;
				unsigned level = 0;

				while (((end - 1) >> level) != (start >> level))
					level++;
				rt->m.size = end;
				assert_int_equal(merkle_inclusion_proof(mem_node, &rt->m, end - 1,
									end, full, &fn),
						 LS_OK);
				rt->m.size = RAND_MAX_LEAVES;
				/* Proof entries below `level` lie inside the subtree:
				 * leaf end-1 is the last, so it has a (left) sibling
				 * exactly at the levels where its node is odd. */
				for (unsigned l = 0; l < level; l++)
					if (((end - 1) >> l) & 1)
						skip++;
				assert_true(skip <= fn);
				merkle_range_root(mem_node, &rt->m, start, end, sroot);
				memcpy(tree_root, rt->roots[end], LS_HASH_LEN);
				assert_int_equal(merkle_verify_subtree_consistency(
							 start, end, end, sroot, tree_root,
							 (cproof)(full + skip), fn - skip),
						 LS_OK);
				flip(full + skip, fn - skip, sroot, tree_root);
				assert_int_not_equal(merkle_verify_subtree_consistency(
							     start, end, end, sroot, tree_root,
							     (cproof)(full + skip), fn - skip),
						     LS_OK);
			}
		}
	}
	printf("# %u subtree inclusion proofs generated and checked\n", checked);
	rand_tree_free(rt);
}

/*
 * Test-side generator of subtree consistency proofs, written from the
 * recursive definition (MTC draft, SUBTREE_PROOF) over absolute ranges:
 * the node [lo, hi) is split at the largest power of two below its width;
 * the side not holding the subtree is emitted after the proof for the other
 * side; a subtree straddling the split (start == lo) stops being "known" to
 * the verifier, as in RFC 6962 SUBPROOF.
 */
static void subtree_proof_gen(struct mem_tree *m, uint64_t start, uint64_t end, uint64_t lo,
			      uint64_t hi, int known, uint8_t (*out)[LS_HASH_LEN], size_t *n)
{
	uint64_t k;

	if (start == lo && end == hi) {
		if (!known) {
			assert_int_equal(merkle_range_root(mem_node, m, lo, hi, out[*n]), LS_OK);
			(*n)++;
		}
		return;
	}
	k = 1;
	while (k * 2 < hi - lo)
		k *= 2;
	if (end <= lo + k) {
		subtree_proof_gen(m, start, end, lo, lo + k, known, out, n);
		assert_int_equal(merkle_range_root(mem_node, m, lo + k, hi, out[*n]), LS_OK);
	} else if (start >= lo + k) {
		subtree_proof_gen(m, start, end, lo + k, hi, known, out, n);
		assert_int_equal(merkle_range_root(mem_node, m, lo, lo + k, out[*n]), LS_OK);
	} else {
		subtree_proof_gen(m, lo + k, end, lo + k, hi, 0, out, n);
		assert_int_equal(merkle_range_root(mem_node, m, lo, lo + k, out[*n]), LS_OK);
	}
	(*n)++;
}

static void test_random_subtree_consistency(void **state)
{
	struct rand_tree *rt = rand_tree_new();
	unsigned checked = 0;

	(void)state;
	for (uint64_t size = 1; size <= 70; size++) {
		rt->m.size = size;
		for (uint64_t start = 0; start < size; start++) {
			for (uint64_t end = start + 1; end <= size; end++) {
				uint8_t p[MERKLE_MAX_PROOF][LS_HASH_LEN], sroot[LS_HASH_LEN];
				uint8_t root[LS_HASH_LEN];
				size_t n = 0;

				if (!(start == 0 || end - start <= (start & (~start + 1)))) {
					assert_int_equal(merkle_verify_subtree_consistency(
								 start, end, size, rt->roots[1],
								 rt->roots[size], NULL, 0),
							 LS_INVALID);
					continue;
				}
				subtree_proof_gen(&rt->m, start, end, 0, size, 1, p, &n);
				assert_int_equal(merkle_range_root(mem_node, &rt->m, start, end, sroot),
						 LS_OK);
				assert_int_equal(merkle_verify_subtree_consistency(
							 start, end, size, sroot, rt->roots[size],
							 (cproof)p, n),
						 LS_OK);
				assert_int_equal(merkle_verify_subtree_consistency(
							 start, end, size, sroot, rt->roots[size],
							 (cproof)p, n + 1),
						 LS_INVALID);
				if (n > 0)
					assert_int_equal(merkle_verify_subtree_consistency(
								 start, end, size, sroot,
								 rt->roots[size], (cproof)p, n - 1),
							 LS_INVALID);
				if (end < size)
					assert_int_not_equal(merkle_verify_subtree_consistency(
								     start, end + 1, size, sroot,
								     rt->roots[size], (cproof)p, n),
							     LS_OK);
				memcpy(root, rt->roots[size], LS_HASH_LEN);
				flip(p, n, sroot, root);
				assert_int_equal(merkle_verify_subtree_consistency(
							 start, end, size, sroot, root, (cproof)p, n),
						 LS_TAMPERED);
				checked++;
			}
		}
	}
	printf("# %u subtree consistency proofs generated and checked\n", checked);
	rand_tree_free(rt);
}

/*
 * The accumulated test vectors of draft-ietf-plants-merkle-tree-certs-05,
 * Appendix C: over a tree whose leaf i is the single byte i, every output of
 * the subtree hash, subtree inclusion proof and subtree consistency proof
 * algorithms for sizes up to 130 (non-empty valid subtrees) is written as a
 * text line into one SHA-256.  C.2 pins merkle_inclusion_proof over a
 * shifted callback; C.3 pins the test-side generator above, which makes
 * every start > 0 proof it feeds the verifier a published one (the
 * transparency-dev subtree vectors all have start == 0).
 */
#define MTC_LEAVES 130

static void acc_line(EVP_MD_CTX *acc, const char *prefix, const uint8_t (*proof)[LS_HASH_LEN],
		     size_t n, const char *tail)
{
	char hex[2 * LS_HASH_LEN + 1];

	EVP_DigestUpdate(acc, prefix, strlen(prefix));
	for (size_t i = 0; i < n; i++) {
		ls_hex(proof[i], LS_HASH_LEN, hex);
		EVP_DigestUpdate(acc, " ", 1);
		EVP_DigestUpdate(acc, hex, 2 * LS_HASH_LEN);
	}
	EVP_DigestUpdate(acc, tail, strlen(tail));
}

static void acc_check(EVP_MD_CTX *acc, const char *want_hex)
{
	uint8_t got[LS_HASH_LEN], want[LS_HASH_LEN];
	unsigned int len = 0;

	assert_int_equal(EVP_DigestFinal_ex(acc, got, &len), 1);
	hex32(want_hex, want);
	assert_memory_equal(got, want, LS_HASH_LEN);
	assert_int_equal(EVP_DigestInit_ex(acc, EVP_sha256(), NULL), 1);
}

static void test_mtc_appendix_vectors(void **state)
{
	uint8_t leaves[MTC_LEAVES][LS_HASH_LEN], p[MERKLE_MAX_PROOF][LS_HASH_LEN];
	uint8_t roots[MTC_LEAVES + 1][LS_HASH_LEN], h[LS_HASH_LEN];
	EVP_MD_CTX *acc = EVP_MD_CTX_new();
	struct merkle_tree t;
	struct mem_tree m;
	char line[96];
	size_t n;
	unsigned proofs = 0;

	(void)state;
	assert_non_null(acc);
	assert_int_equal(EVP_DigestInit_ex(acc, EVP_sha256(), NULL), 1);
	merkle_tree_init(&t);
	merkle_tree_root(&t, roots[0]);
	for (unsigned i = 0; i < MTC_LEAVES; i++) {
		uint8_t b = (uint8_t)i;

		merkle_leaf_hash(&b, 1, leaves[i]);
		merkle_tree_append(&t, leaves[i]);
		merkle_tree_root(&t, roots[i + 1]);
	}
	mem_tree_build(&m, (const uint8_t(*)[LS_HASH_LEN])leaves, MTC_LEAVES);

	/* C.1 subtree hashes */
	for (uint64_t end = 1; end <= MTC_LEAVES; end++)
		for (uint64_t start = 0; start < end; start++) {
			if (merkle_range_root(mem_node, &m, start, end, h) == LS_INVALID)
				continue;
			snprintf(line, sizeof(line), "[%llu, %llu)", (unsigned long long)start,
				 (unsigned long long)end);
			acc_line(acc, line, (const uint8_t(*)[LS_HASH_LEN])&h, 1, "\n");
		}
	acc_check(acc, "94a95384a8c69acea9b50d035a58285b3a777cb7a724005faa5e1f1e1190007f");

	/* C.2 subtree inclusion proofs */
	for (uint64_t end = 1; end <= MTC_LEAVES; end++)
		for (uint64_t start = 0; start < end; start++) {
			struct shifted sh = { &m, start };

			if (merkle_range_root(mem_node, &m, start, end, h) == LS_INVALID)
				continue;
			for (uint64_t index = start; index < end; index++) {
				assert_int_equal(merkle_inclusion_proof(shifted_node, &sh,
									index - start,
									end - start, p, &n),
						 LS_OK);
				assert_int_equal(merkle_verify_subtree_inclusion(
							 leaves[index], index, start, end,
							 (cproof)p, n, h),
						 LS_OK);
				snprintf(line, sizeof(line), "%llu [%llu, %llu)",
					 (unsigned long long)index, (unsigned long long)start,
					 (unsigned long long)end);
				acc_line(acc, line, (cproof)p, n, "\n");
				proofs++;
			}
		}
	acc_check(acc, "ac2a8f989e44d99e399db448050ff5f19757df53cfb716aa81015d3955d8163f");

	/* C.3 subtree consistency proofs */
	for (uint64_t size = 0; size <= MTC_LEAVES; size++) {
		m.size = size;
		for (uint64_t end = 1; end <= size; end++)
			for (uint64_t start = 0; start < end; start++) {
				if (merkle_range_root(mem_node, &m, start, end, h) == LS_INVALID)
					continue;
				n = 0;
				subtree_proof_gen(&m, start, end, 0, size, 1, p, &n);
				assert_int_equal(merkle_verify_subtree_consistency(
							 start, end, size, h, roots[size],
							 (cproof)p, n),
						 LS_OK);
				snprintf(line, sizeof(line), "[%llu, %llu) %llu",
					 (unsigned long long)start, (unsigned long long)end,
					 (unsigned long long)size);
				acc_line(acc, line, (cproof)p, n, "\n");
				proofs++;
			}
	}
	acc_check(acc, "c586ebbb73a5621baf2140095d87dde934e3b6503a562a1a5215b8209edd083d");
	printf("# MTC appendix C: %u published subtree proofs reproduced and verified\n", proofs);
	EVP_MD_CTX_free(acc);
	mem_tree_free(&m);
}

/* Large sizes: lengths only, nothing may loop or overflow. */
static void test_extreme_sizes(void **state)
{
	uint8_t h[LS_HASH_LEN] = { 0 }, p[70][LS_HASH_LEN];
	struct merkle_tree *t = calloc(1, sizeof(*t));

	(void)state;
	memset(p, 0, sizeof(p));
	/* Leaf 0 of 2^64 - 1 needs 64 hashes; the last leaf one per set bit. */
	assert_int_equal(merkle_verify_inclusion(h, 0, UINT64_MAX, (cproof)p, 64, h), LS_TAMPERED);
	assert_int_equal(merkle_verify_inclusion(h, 0, UINT64_MAX, (cproof)p, 63, h), LS_INVALID);
	assert_int_equal(merkle_verify_inclusion(h, UINT64_MAX - 1, UINT64_MAX, (cproof)p, 63, h),
			 LS_TAMPERED);
	assert_int_equal(merkle_verify_inclusion(h, UINT64_MAX - 1, UINT64_MAX, (cproof)p, 64, h),
			 LS_INVALID);
	assert_int_equal(merkle_verify_inclusion(h, UINT64_MAX, UINT64_MAX, (cproof)p, 64, h),
			 LS_INVALID);
	assert_int_not_equal(merkle_verify_consistency(3, UINT64_MAX, h, h, (cproof)p, 65), LS_OK);
	assert_int_not_equal(merkle_verify_subtree_consistency(UINT64_MAX - 1, UINT64_MAX,
							       UINT64_MAX, h, h, (cproof)p, 70),
			     LS_OK);
	assert_int_equal(merkle_verify_subtree_inclusion(h, 1, 1, UINT64_C(9223372036854775810),
							 (cproof)p, 0, h),
			 LS_INVALID);
	/* A full edge: appending must not write past edge[63]. */
	assert_non_null(t);
	t->size = UINT64_MAX;
	merkle_tree_append(t, h);
	assert_true(t->size == UINT64_MAX);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ref_node_hashes, ref_setup, ref_teardown),
		cmocka_unit_test_setup_teardown(test_ref_roots, ref_setup, ref_teardown),
		cmocka_unit_test_setup_teardown(test_ref_inclusion_proofs, ref_setup, ref_teardown),
		cmocka_unit_test_setup_teardown(test_ref_consistency_proofs, ref_setup,
						ref_teardown),
		cmocka_unit_test(test_vectors_inclusion),
		cmocka_unit_test(test_vectors_consistency),
		cmocka_unit_test(test_vectors_subtree_inclusion),
		cmocka_unit_test(test_vectors_subtree_consistency),
		cmocka_unit_test(test_random_inclusion),
		cmocka_unit_test(test_random_consistency),
		cmocka_unit_test(test_random_subtrees),
		cmocka_unit_test(test_random_subtree_consistency),
		cmocka_unit_test(test_mtc_appendix_vectors),
		cmocka_unit_test(test_extreme_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
