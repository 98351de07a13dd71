/*
 * merkle.h - RFC 6962 (and RFC 9162 section 2.1) Merkle tree hashing, proofs
 * and their verification.  Pure: no I/O.
 *
 *   leaf hash  = SHA-256(0x00 || entry)
 *   node hash  = SHA-256(0x01 || left || right)
 *   empty root = SHA-256("")
 *
 * Proof generation does not own the tree: it asks a caller-supplied function
 * for the hash of a complete, aligned subtree ("node (level, index)", i.e. the
 * root over leaves [index << level, (index + 1) << level)), which tiles.c
 * answers from C2SP hash tiles and tests answer from an array of leaves.
 */
#ifndef LS_MERKLE_H
#define LS_MERKLE_H

#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define MERKLE_MAX_PROOF 64 /* hashes: enough for any 64-bit tree size */

void merkle_leaf_hash(const void *entry, size_t n, uint8_t out[LS_HASH_LEN]);
void merkle_node_hash(const uint8_t left[LS_HASH_LEN], const uint8_t right[LS_HASH_LEN],
		      uint8_t out[LS_HASH_LEN]);
void merkle_empty_root(uint8_t out[LS_HASH_LEN]);

/*
 * Incremental tree: the right edge (one hash per set bit of size), so append
 * and root are O(log n) and the struct is all the state a writer needs.
 */
struct merkle_tree {
	uint64_t size;
	uint8_t edge[64][LS_HASH_LEN]; /* edge[k]: root of the complete subtree of 2^k leaves, valid when bit k of size is set */
};

void merkle_tree_init(struct merkle_tree *t);
void merkle_tree_append(struct merkle_tree *t, const uint8_t leaf_hash[LS_HASH_LEN]);
/* merkle_tree_append(), and roots[k] (room for 65) the root of the complete
 * subtree of 2^k leaves that ends with this leaf, for k = 0 up to the
 * number of trailing zero bits of the new size (a tile writer's completed
 * tiles, without hashing them again). */
void merkle_tree_append_roots(struct merkle_tree *t, const uint8_t leaf_hash[LS_HASH_LEN],
			      uint8_t (*roots)[LS_HASH_LEN]);
void merkle_tree_root(const struct merkle_tree *t, uint8_t out[LS_HASH_LEN]);

/* Hash of the complete subtree node (level, index); LS_OK or any error,
 * which is passed through to the caller of the proof function. */
typedef ls_rc (*merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
				uint8_t out[LS_HASH_LEN]);

/* Root over leaves [lo, hi) of the tree, lo < hi, computed from complete
 * subtrees (RFC 6962 MTH of that range when lo is aligned as in a proof). */
ls_rc merkle_range_root(merkle_node_fn fn, void *ctx, uint64_t lo, uint64_t hi,
			uint8_t out[LS_HASH_LEN]);

/* Root of a tree of the given size (size 0: the empty root). */
ls_rc merkle_root(merkle_node_fn fn, void *ctx, uint64_t size, uint8_t out[LS_HASH_LEN]);

/* RFC 6962 PATH(index, D[0:size]); proof holds MERKLE_MAX_PROOF hashes,
 * *n is set to the number used; leaf's sibling first. */
ls_rc merkle_inclusion_proof(merkle_node_fn fn, void *ctx, uint64_t index, uint64_t size,
			     uint8_t proof[][LS_HASH_LEN], size_t *n);

/* RFC 6962 PROOF(m, D[0:size]) for 0 < m <= size (m == size: empty proof). */
ls_rc merkle_consistency_proof(merkle_node_fn fn, void *ctx, uint64_t m, uint64_t size,
			       uint8_t proof[][LS_HASH_LEN], size_t *n);

/* RFC 9162 2.1.3.2: LS_OK when proof proves leaf at index in a tree of size
 * with root; LS_TAMPERED when it does not; LS_INVALID when malformed
 * (index >= size, wrong length). */
ls_rc merkle_verify_inclusion(const uint8_t leaf[LS_HASH_LEN], uint64_t index, uint64_t size,
			      const uint8_t proof[][LS_HASH_LEN], size_t n,
			      const uint8_t root[LS_HASH_LEN]);

/* RFC 9162 2.1.4.2: LS_OK when proof shows the tree of size1/root1 is a
 * prefix of size2/root2.  size1 == size2 needs an empty proof and equal
 * roots.  size1 == 0 < size2 is LS_INVALID (the published vectors require
 * it: the empty tree is trivially a prefix, callers skip the check). */
ls_rc merkle_verify_consistency(uint64_t size1, uint64_t size2,
				const uint8_t root1[LS_HASH_LEN], const uint8_t root2[LS_HASH_LEN],
				const uint8_t proof[][LS_HASH_LEN], size_t n);

/*
 * Subtree proofs (the "subtree" vectors of transparency-dev/merkle, from the
 * Merkle Tree Certificates draft): a subtree is the range [start, end) of
 * leaves that is a valid subtree (start a multiple of the smallest power of
 * two >= end - start).  Inclusion of a leaf in the subtree, and consistency
 * of the subtree's root with the root of a tree of `size` leaves.
 */
ls_rc merkle_verify_subtree_inclusion(const uint8_t leaf[LS_HASH_LEN], uint64_t index,
				      uint64_t start, uint64_t end,
				      const uint8_t proof[][LS_HASH_LEN], size_t n,
				      const uint8_t root[LS_HASH_LEN]);
ls_rc merkle_verify_subtree_consistency(uint64_t start, uint64_t end, uint64_t size,
					const uint8_t subtree_root[LS_HASH_LEN],
					const uint8_t root[LS_HASH_LEN],
					const uint8_t proof[][LS_HASH_LEN], size_t n);

#endif
