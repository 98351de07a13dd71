/*
 * fuzz_proof.c - libFuzzer target for merkle.c's proof verifiers.
 *
 * Input: byte 0 picks a mode, the rest is read as little-endian integers
 * and 32-byte hashes (missing bytes read as zero).
 *   modes 0-3  arbitrary (sizes, hashes, proof) into verify_inclusion,
 *              verify_consistency, verify_subtree_inclusion and
 *              verify_subtree_consistency.  Bit 7 of byte 0 shrinks the
 *              integers to 0..1023 so small, structurally valid shapes
 *              come up often.
 *   mode 4     round trip: a tree of 1..512 leaves derived from the input,
 *              proofs generated through a bounds-checking node callback,
 *              which must verify, and must stop verifying after one
 *              input-chosen bit flip.
 * Nothing may crash, and whatever verifies must make sense: an index inside
 * the tree, size1 <= size2, a proof no longer than the tree is high, the
 * same verdict from the plain and the subtree form of the same statement.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/merkle.h"

#define MAX_PROOF 80
#define RT_MAX 512

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

struct reader {
	const uint8_t *p;
	size_t n;
};

static void take(struct reader *r, void *out, size_t n)
{
	size_t k = r->n < n ? r->n : n;

	memset(out, 0, n);
	memcpy(out, r->p, k);
	r->p += k;
	r->n -= k;
}

static uint64_t take_u64(struct reader *r, int small)
{
	uint8_t b[8];
	uint64_t v = 0;

	take(r, b, sizeof(b));
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return small ? v % 1024 : v;
}

typedef const uint8_t (*cproof)[LS_HASH_LEN];

static void raw_mode(unsigned mode, int small, struct reader *r)
{
	static uint8_t proof[MAX_PROOF][LS_HASH_LEN];
	uint8_t h1[LS_HASH_LEN], h2[LS_HASH_LEN];
	uint64_t a = take_u64(r, small), b = take_u64(r, small), c = take_u64(r, small);
	size_t n;
	ls_rc rc, rc2;

	take(r, h1, sizeof(h1));
	take(r, h2, sizeof(h2));
	n = r->n / LS_HASH_LEN;
	if (n > MAX_PROOF)
		n = MAX_PROOF;
	take(r, proof, n * LS_HASH_LEN);

	switch (mode) {
	case 0: /* leaf h1 at index a of a tree of size b, root h2 */
		rc = merkle_verify_inclusion(h1, a, b, (cproof)proof, n, h2);
		CHECK(rc == LS_OK || rc == LS_INVALID || rc == LS_TAMPERED);
		if (rc == LS_OK)
			CHECK(a < b && n <= 64);
		rc2 = a < b ? merkle_verify_subtree_inclusion(h1, a, 0, b, (cproof)proof, n, h2)
			    : LS_INVALID;
		CHECK((rc == LS_OK) == (rc2 == LS_OK));
		break;
	case 1: /* tree a/h1 is a prefix of tree b/h2 */
		rc = merkle_verify_consistency(a, b, h1, h2, (cproof)proof, n);
		CHECK(rc == LS_OK || rc == LS_INVALID || rc == LS_TAMPERED);
		if (rc == LS_OK) {
			CHECK(a <= b && n <= 65);
			CHECK(a > 0 || b == 0);
			if (a == b)
				CHECK(n == 0 && memcmp(h1, h2, LS_HASH_LEN) == 0);
			if (a > 0)
				CHECK(merkle_verify_subtree_consistency(0, a, b, h1, h2,
									(cproof)proof, n) == LS_OK);
		}
		break;
	case 2: /* leaf h1 at index a of the subtree [b, c) with root h2 */
		rc = merkle_verify_subtree_inclusion(h1, a, b, c, (cproof)proof, n, h2);
		CHECK(rc == LS_OK || rc == LS_INVALID || rc == LS_TAMPERED);
		if (rc == LS_OK) {
			CHECK(b <= a && a < c && n <= 64);
			/* start is a multiple of the subtree's width rounded up */
			CHECK(b == 0 || c - b <= (b & (~b + 1)));
			CHECK(merkle_verify_inclusion(h1, a - b, c - b, (cproof)proof, n, h2) ==
			      LS_OK);
		}
		break;
	default: /* subtree [a, b) with root h1 in a tree of size c, root h2 */
		rc = merkle_verify_subtree_consistency(a, b, c, h1, h2, (cproof)proof, n);
		CHECK(rc == LS_OK || rc == LS_INVALID || rc == LS_TAMPERED);
		if (rc == LS_OK) {
			CHECK(a <= b && b <= c && n <= 65);
			if (a == b)
				CHECK(n == 0);
			else
				CHECK(a == 0 || b - a <= (a & (~a + 1)));
		}
		break;
	}
}

/* --------------------------------------------------------- round trip */

struct mem {
	uint8_t lv[10][RT_MAX][LS_HASH_LEN]; /* 2^9 = 512: levels 0..9 */
	uint64_t size;
};

static ls_rc mem_node(void *ctx, unsigned level, uint64_t index, uint8_t out[LS_HASH_LEN])
{
	struct mem *m = ctx;

	/* merkle.c must never ask for a node outside [0, size). */
	CHECK(level < 10 && index < (RT_MAX >> level));
	CHECK(((index + 1) << level) <= m->size);
	memcpy(out, m->lv[level][index], LS_HASH_LEN);
	return LS_OK;
}

static void flip_bit(uint8_t (*proof)[LS_HASH_LEN], size_t n, uint8_t *x, uint8_t *y,
		     uint32_t pick)
{
	size_t which = pick % (n + 2);
	unsigned bit = (pick >> 16) % (8 * LS_HASH_LEN);
	uint8_t *h = which < n ? proof[which] : which == n ? x : y;

	h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void round_trip(struct reader *r)
{
	static struct mem m;
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN], seed[8];
	uint8_t root[LS_HASH_LEN], root1[LS_HASH_LEN], leaf[LS_HASH_LEN];
	uint16_t s16, i16;
	uint32_t pick;
	uint64_t size, index, m1;
	struct merkle_tree t;
	size_t n;

	take(r, &s16, sizeof(s16));
	take(r, &i16, sizeof(i16));
	take(r, &pick, sizeof(pick));
	take(r, seed, sizeof(seed));
	size = 1 + s16 % RT_MAX;
	index = i16 % size;
	m1 = 1 + (uint64_t)(pick >> 8) % size;

	merkle_tree_init(&t);
	for (uint64_t i = 0; i < size; i++) {
		uint8_t entry[16];

		memcpy(entry, seed, 8);
		memcpy(entry + 8, &i, 8);
		merkle_leaf_hash(entry, sizeof(entry), m.lv[0][i]);
		merkle_tree_append(&t, m.lv[0][i]);
		if (i + 1 == m1)
			merkle_tree_root(&t, root1);
	}
	for (unsigned l = 1; l < 10; l++)
		for (uint64_t i = 0; ((i + 1) << l) <= size; i++)
			merkle_node_hash(m.lv[l - 1][2 * i], m.lv[l - 1][2 * i + 1], m.lv[l][i]);
	m.size = size;
	merkle_tree_root(&t, root);
	CHECK(merkle_root(mem_node, &m, size, leaf) == LS_OK);
	CHECK(memcmp(leaf, root, LS_HASH_LEN) == 0);

	CHECK(merkle_inclusion_proof(mem_node, &m, index, size, proof, &n) == LS_OK);
	memcpy(leaf, m.lv[0][index], LS_HASH_LEN);
	CHECK(merkle_verify_inclusion(leaf, index, size, (cproof)proof, n, root) == LS_OK);
	flip_bit(proof, n, leaf, root, pick);
	CHECK(merkle_verify_inclusion(leaf, index, size, (cproof)proof, n, root) == LS_TAMPERED);
	merkle_tree_root(&t, root);

	CHECK(merkle_consistency_proof(mem_node, &m, m1, size, proof, &n) == LS_OK);
	CHECK(merkle_verify_consistency(m1, size, root1, root, (cproof)proof, n) == LS_OK);
	flip_bit(proof, n, root1, root, pick);
	CHECK(merkle_verify_consistency(m1, size, root1, root, (cproof)proof, n) == LS_TAMPERED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	uint8_t mode;

	if (size == 0)
		return 0;
	take(&r, &mode, 1);
	if ((mode & 0x7f) % 5 == 4)
		round_trip(&r);
	else
		raw_mode((mode & 0x7f) % 5, mode & 0x80, &r);
	return 0;
}
