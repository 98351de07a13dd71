/*
 * merkle.c - RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and
 * proof verification, plus the subtree proofs of the Merkle Tree
 * Certificates draft (draft-ietf-plants-merkle-tree-certs, section 4).
 * Pure: no I/O, no allocation, no logging.
 *
 * Terms used throughout:
 *   node (L, i)    the complete, aligned subtree over leaves
 *                  [i << L, (i + 1) << L); the callback answers these.
 *   valid subtree  a range [lo, hi), lo < hi, with lo a multiple of the
 *                  smallest power of two >= hi - lo (lo == 0 always is).
 *                  Exactly the ranges that appear as nodes of some RFC 6962
 *                  tree; its hash is MTH(D[lo:hi]) and is the right-to-left
 *                  fold of the complete nodes that tile it.
 *
 * Invariants:
 *  1. Every verifier decides "malformed" (LS_INVALID) from the sizes and the
 *     proof length alone, before any hash is compared; a well-formed proof
 *     that does not hash to the claimed root(s) is LS_TAMPERED.  So a caller
 *     can tell a buggy or hostile peer's garbage from a forked log.
 *  2. Verification walks the tree bottom-up with (first, last, tree-last)
 *     node indices at the current level, one generic walk for inclusion,
 *     consistency and both subtree proofs (inclusion of leaf i is the
 *     consistency of the one-leaf subtree [i, i + 1)).  The walk touches at
 *     most 64 levels, so arbitrary 64-bit sizes cannot loop or overflow.
 *  3. Proof generation asks the callback only for nodes that lie entirely
 *     inside [0, size); tiles.c relies on this to refuse anything else.
 *  4. node hash output may alias either input (callers fold in place).
 */
#include "core/merkle.h"

#include <string.h>

void merkle_leaf_hash(const void *entry, size_t n, uint8_t out[LS_HASH_LEN])
{
	static const uint8_t prefix = 0x00;

	ls_sha256(&prefix, 1, entry, n, out);
}

void merkle_node_hash(const uint8_t left[LS_HASH_LEN], const uint8_t right[LS_HASH_LEN],
		      uint8_t out[LS_HASH_LEN])
{
	uint8_t buf[1 + 2 * LS_HASH_LEN];

	/* Copy first: out may alias left or right (invariant 4). */
	buf[0] = 0x01;
	memcpy(buf + 1, left, LS_HASH_LEN);
	memcpy(buf + 1 + LS_HASH_LEN, right, LS_HASH_LEN);
	ls_sha256(buf, sizeof(buf), NULL, 0, out);
}

void merkle_empty_root(uint8_t out[LS_HASH_LEN])
{
	ls_sha256("", 0, NULL, 0, out);
}

static int hash_eq(const uint8_t a[LS_HASH_LEN], const uint8_t b[LS_HASH_LEN])
{
	return ls_ct_equal(a, b, LS_HASH_LEN);
}

static uint64_t lowbit(uint64_t x)
{
	return x & (~x + 1);
}

/* Largest power of two strictly below n; n >= 2. */
static uint64_t split_point(uint64_t n)
{
	return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

static int is_valid_subtree(uint64_t lo, uint64_t hi)
{
	return lo < hi && (lo == 0 || hi - lo <= lowbit(lo));
}

/* ---------------------------------------------------------------- tree */

void merkle_tree_init(struct merkle_tree *t)
{
	memset(t, 0, sizeof(*t));
}

void merkle_tree_append(struct merkle_tree *t, const uint8_t leaf_hash[LS_HASH_LEN])
{
	merkle_tree_append_roots(t, leaf_hash, NULL);
}

void merkle_tree_append_roots(struct merkle_tree *t, const uint8_t leaf_hash[LS_HASH_LEN],
			      uint8_t (*roots)[LS_HASH_LEN])
{
	uint8_t carry[LS_HASH_LEN];
	unsigned k = 0;

	/* A tree of 2^64 - 1 leaves has every edge slot in use; one more leaf
	 * cannot be represented, and no log gets there. */
	if (t->size == UINT64_MAX)
		return;
	memcpy(carry, leaf_hash, LS_HASH_LEN);
	if (roots)
		memcpy(roots[0], carry, LS_HASH_LEN);
	while (t->size & (UINT64_C(1) << k)) {
		merkle_node_hash(t->edge[k], carry, carry);
		k++;
		if (roots)
			memcpy(roots[k], carry, LS_HASH_LEN);
	}
	memcpy(t->edge[k], carry, LS_HASH_LEN);
	t->size++;
}

void merkle_tree_root(const struct merkle_tree *t, uint8_t out[LS_HASH_LEN])
{
	uint8_t acc[LS_HASH_LEN];
	uint64_t rest;
	unsigned k;

	if (t->size == 0) {
		merkle_empty_root(out);
		return;
	}
	/* Smallest subtree is the rightmost: fold from it leftwards. */
	k = (unsigned)__builtin_ctzll(t->size);
	memcpy(acc, t->edge[k], LS_HASH_LEN);
	rest = t->size & (t->size - 1);
	while (rest) {
		k = (unsigned)__builtin_ctzll(rest);
		merkle_node_hash(t->edge[k], acc, acc);
		rest &= rest - 1;
	}
	memcpy(out, acc, LS_HASH_LEN);
}

/* ---------------------------------------------------------- generation */

ls_rc merkle_range_root(merkle_node_fn fn, void *ctx, uint64_t lo, uint64_t hi,
			uint8_t out[LS_HASH_LEN])
{
	uint8_t acc[LS_HASH_LEN], node[LS_HASH_LEN];
	uint64_t d;
	int have = 0;
	ls_rc rc;

	/* Only valid subtrees have an RFC 6962 hash; folding an unaligned range
	 * would yield a value that matches nothing a verifier computes. */
	if (!is_valid_subtree(lo, hi))
		return LS_INVALID;
	d = hi - lo;
	/* The set bits of d, high to low, are the complete nodes tiling the
	 * range left to right; walk them low to high to fold right to left. */
	for (unsigned b = 0; b < 64; b++) {
		uint64_t above, pos;

		if (!(d & (UINT64_C(1) << b)))
			continue;
		above = b == 63 ? 0 : (d >> (b + 1)) << (b + 1);
		pos = lo + above;
		rc = fn(ctx, b, pos >> b, node);
		if (rc != LS_OK)
			return rc;
		if (have)
			merkle_node_hash(node, acc, acc);
		else
			memcpy(acc, node, LS_HASH_LEN);
		have = 1;
	}
	memcpy(out, acc, LS_HASH_LEN);
	return LS_OK;
}

ls_rc merkle_root(merkle_node_fn fn, void *ctx, uint64_t size, uint8_t out[LS_HASH_LEN])
{
	if (size == 0) {
		merkle_empty_root(out);
		return LS_OK;
	}
	return merkle_range_root(fn, ctx, 0, size, out);
}

/* Hash of the valid subtree [lo, hi): one callback when it is complete. */
static ls_rc subtree_hash(merkle_node_fn fn, void *ctx, uint64_t lo, uint64_t hi,
			  uint8_t out[LS_HASH_LEN])
{
	uint64_t d = hi - lo;

	if ((d & (d - 1)) == 0) {
		unsigned level = (unsigned)__builtin_ctzll(d);

		return fn(ctx, level, lo >> level, out);
	}
	return merkle_range_root(fn, ctx, lo, hi, out);
}

ls_rc merkle_inclusion_proof(merkle_node_fn fn, void *ctx, uint64_t index, uint64_t size,
			     uint8_t proof[][LS_HASH_LEN], size_t *n)
{
	uint64_t lo = 0, hi = size;
	size_t depth = 0;
	ls_rc rc;

	*n = 0;
	if (index >= size)
		return LS_INVALID;
	/*
	 * PATH(m, D[lo:hi]) descends towards the leaf, emitting the sibling of
	 * each subtree it enters; RFC 6962 lists them leaf first, so fill the
	 * array from the end of the path (its length is the depth of the leaf,
	 * known only after the descent) -- count first, then fill.
	 */
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);

		if (index < lo + k)
			hi = lo + k;
		else
			lo += k;
		depth++;
	}
	if (depth > MERKLE_MAX_PROOF)
		return LS_LIMIT;
	lo = 0;
	hi = size;
	for (size_t i = depth; i > 0; i--) {
		uint64_t k = split_point(hi - lo);

		if (index < lo + k) {
			rc = subtree_hash(fn, ctx, lo + k, hi, proof[i - 1]);
			hi = lo + k;
		} else {
			rc = subtree_hash(fn, ctx, lo, lo + k, proof[i - 1]);
			lo += k;
		}
		if (rc != LS_OK)
			return rc;
	}
	*n = depth;
	return LS_OK;
}

ls_rc merkle_consistency_proof(merkle_node_fn fn, void *ctx, uint64_t m, uint64_t size,
			       uint8_t proof[][LS_HASH_LEN], size_t *n)
{
	uint64_t lo = 0, hi = size;
	size_t depth = 0, total;
	int known = 1; /* SUBPROOF's b: MTH(D[lo:hi]) is the verifier's root1 */
	ls_rc rc;

	*n = 0;
	if (m == 0 || m > size)
		return LS_INVALID;
	/* SUBPROOF recursion, counted first as for PATH. */
	while (m != hi) {
		uint64_t k = split_point(hi - lo);

		if (m <= lo + k) {
			hi = lo + k;
		} else {
			lo += k;
			known = 0;
		}
		depth++;
	}
	total = depth + (known ? 0 : 1);
	if (total > MERKLE_MAX_PROOF)
		return LS_LIMIT;
	if (!known) {
		rc = subtree_hash(fn, ctx, lo, hi, proof[0]);
		if (rc != LS_OK)
			return rc;
	}
	lo = 0;
	hi = size;
	for (size_t i = total; i > total - depth; i--) {
		uint64_t k = split_point(hi - lo);

		if (m <= lo + k) {
			rc = subtree_hash(fn, ctx, lo + k, hi, proof[i - 1]);
			hi = lo + k;
		} else {
			rc = subtree_hash(fn, ctx, lo, lo + k, proof[i - 1]);
			lo += k;
		}
		if (rc != LS_OK)
			return rc;
	}
	*n = total;
	return LS_OK;
}

/* -------------------------------------------------------- verification */

/*
 * The generic walk (invariant 2): the valid subtree [start, end) of a tree of
 * `size` leaves, start < end <= size, with hash `node`, is proved part of
 * the tree with root `root`.  The subtree's own root is recomputed from the
 * proof too (fr) unless the walk reaches the subtree's node without needing
 * any of its interior, in which case `node` seeds both roots.
 *
 * fn, sn, tn: indices at the current level of the nodes holding leaves
 * start, end - 1 and size - 1.  fr: hash of [start, end) as far as the walk
 * has climbed; sr: the same node in the big tree.
 */
static ls_rc walk(uint64_t start, uint64_t end, uint64_t size,
		  const uint8_t node[LS_HASH_LEN], const uint8_t proof[][LS_HASH_LEN], size_t n,
		  const uint8_t root[LS_HASH_LEN])
{
	uint64_t fn = start, sn = end - 1, tn = size - 1;
	uint8_t fr[LS_HASH_LEN], sr[LS_HASH_LEN];
	size_t i = 0;

	if (sn == tn) {
		/* The subtree is the tree's right edge: its node is a node of
		 * the big tree too, and only left siblings above it remain. */
		while (fn != sn) {
			fn >>= 1;
			sn >>= 1;
			tn >>= 1;
		}
		memcpy(fr, node, LS_HASH_LEN);
	} else {
		/* Climb while the last leaf's node is a right child inside the
		 * subtree: those nodes are complete in both trees.  Where that
		 * stops is the subtree's rightmost complete node, which the
		 * proof supplies unless it is the whole subtree. */
		while (fn != sn && (sn & 1)) {
			fn >>= 1;
			sn >>= 1;
			tn >>= 1;
		}
		if (fn == sn) {
			memcpy(fr, node, LS_HASH_LEN);
		} else {
			if (i == n)
				return LS_INVALID;
			memcpy(fr, proof[i++], LS_HASH_LEN);
		}
	}
	memcpy(sr, fr, LS_HASH_LEN);
	while (tn > 0) {
		if (sn & 1) {
			/* Left sibling: complete in both trees; part of the
			 * subtree only while the subtree spans several nodes. */
			if (i == n)
				return LS_INVALID;
			if (fn != sn)
				merkle_node_hash(proof[i], fr, fr);
			merkle_node_hash(proof[i], sr, sr);
			i++;
		} else if (sn < tn) {
			/* Right sibling: exists only in the big tree. */
			if (i == n)
				return LS_INVALID;
			merkle_node_hash(sr, proof[i], sr);
			i++;
		}
		/* else: last node of its level, promoted as it is. */
		fn >>= 1;
		sn >>= 1;
		tn >>= 1;
	}
	if (i != n)
		return LS_INVALID;
	if (!hash_eq(fr, node) || !hash_eq(sr, root))
		return LS_TAMPERED;
	return LS_OK;
}

ls_rc merkle_verify_inclusion(const uint8_t leaf[LS_HASH_LEN], uint64_t index, uint64_t size,
			      const uint8_t proof[][LS_HASH_LEN], size_t n,
			      const uint8_t root[LS_HASH_LEN])
{
	if (index >= size)
		return LS_INVALID;
	return walk(index, index + 1, size, leaf, proof, n, root);
}

ls_rc merkle_verify_consistency(uint64_t size1, uint64_t size2,
				const uint8_t root1[LS_HASH_LEN], const uint8_t root2[LS_HASH_LEN],
				const uint8_t proof[][LS_HASH_LEN], size_t n)
{
	uint8_t empty[LS_HASH_LEN];

	if (size1 > size2)
		return LS_INVALID;
	if (size1 == size2) {
		if (n != 0)
			return LS_INVALID;
		if (size1 == 0) {
			merkle_empty_root(empty);
			if (!hash_eq(root1, empty))
				return LS_TAMPERED;
		}
		return hash_eq(root1, root2) ? LS_OK : LS_TAMPERED;
	}
	/* RFC 9162 defines no proof from the empty tree (0 < size1): a
	 * client holding only the empty tree has nothing to check, and one
	 * that asks anyway is confused.  Checked after size1 == size2 so the
	 * empty tree is still consistent with itself. */
	if (size1 == 0)
		return LS_INVALID;
	return walk(0, size1, size2, root1, proof, n, root2);
}

ls_rc merkle_verify_subtree_inclusion(const uint8_t leaf[LS_HASH_LEN], uint64_t index,
				      uint64_t start, uint64_t end,
				      const uint8_t proof[][LS_HASH_LEN], size_t n,
				      const uint8_t root[LS_HASH_LEN])
{
	/* A valid subtree hashes exactly like a tree of end - start leaves. */
	if (!is_valid_subtree(start, end) || index < start || index >= end)
		return LS_INVALID;
	return walk(index - start, index - start + 1, end - start, leaf, proof, n, root);
}

ls_rc merkle_verify_subtree_consistency(uint64_t start, uint64_t end, uint64_t size,
					const uint8_t subtree_root[LS_HASH_LEN],
					const uint8_t root[LS_HASH_LEN],
					const uint8_t proof[][LS_HASH_LEN], size_t n)
{
	uint8_t empty[LS_HASH_LEN];

	if (end > size)
		return LS_INVALID;
	if (start == end) {
		/* An empty range lies in every tree that reaches it: there is
		 * nothing to prove, and only its own root (the empty root) is
		 * checked -- what the transparency-dev vectors require. */
		if (n != 0)
			return LS_INVALID;
		merkle_empty_root(empty);
		return hash_eq(subtree_root, empty) ? LS_OK : LS_TAMPERED;
	}
	if (!is_valid_subtree(start, end))
		return LS_INVALID;
	if (start == 0 && end == size) {
		if (n != 0)
			return LS_INVALID;
		return hash_eq(subtree_root, root) ? LS_OK : LS_TAMPERED;
	}
	return walk(start, end, size, subtree_root, proof, n, root);
}
