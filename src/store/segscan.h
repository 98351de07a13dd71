/*
 * segscan.h - the check of a sealed segment held in memory (a copy fetched
 * from an object store, or any bytes that claim to be one), for
 * `verify --tiles` of a published bucket: layers above store/ see a
 * segment only through this and check.h / reader.h.
 *
 * segscan_buffer() checks what can be checked without the data keys
 * (docs/FORMAT.md §11): the header and footer (magics, CRCs, fields that
 * must agree), that the sections tile the bytes exactly, the block table
 * (its CRC, each entry's consistency), every block's stored bytes against
 * its CRC, and every block's slice of the leaf hashes against its CRC.  A
 * plaintext segment is then checked to the last byte (segment_verify():
 * zstd, framing, each entry against its leaf hash), so *full is 1; an
 * encrypted one cannot be opened without the directory's data keys, so
 * its blocks are checked by CRC only and *full is 0 (its leaf hashes are
 * still compared with the tiles by the caller, which ties the segment to
 * the signed tree).  Failures are LS_CORRUPT or LS_TAMPERED with "offset
 * <X>: <what>" in err (no file name: the caller names the object).
 */
#ifndef LS_SEGSCAN_H
#define LS_SEGSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

struct segscan {
	uint64_t first;		/* first leaf (header) */
	uint32_t count;		/* entries */
	uint32_t blocks;
	int encrypted;		/* 1: blocks sealed under data key key_id */
	uint32_t key_id;
	int full;		/* 1: every entry was decoded and checked */
	const uint8_t (*hashes)[LS_HASH_LEN];	/* count leaf hashes, inside buf */
};

/* buf, n: the object's bytes; tmpdir: where a plaintext copy is written
 * for segment_verify() (NULL: $TMPDIR or /tmp), removed after. */
ls_rc segscan_buffer(const uint8_t *buf, size_t n, const char *tmpdir, struct segscan *out,
		     struct ls_err *err);

#endif
