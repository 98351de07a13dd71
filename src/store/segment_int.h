/*
 * segment_int.h - private to segment.c and segment_write.c: the byte
 * layout of a sealed segment file (docs/FORMAT.md §11 is normative; the
 * summary is here so that the two files agree on one set of constants) and
 * the reader's structures.
 *
 *	header   48 bytes at 0
 *	blocks   back to back from 48, block i at table[i].off
 *	hashes   count x 32 bytes (level-0 leaf hashes) at H
 *	table    nblocks x 24 bytes at T = H + 32 count
 *	footer   64 bytes at T + 24 nblocks = file length - 64
 *
 * All integers big-endian.  CRC-32 is the ISO-HDLC CRC (zlib's crc32(),
 * init 0), computed with libdeflate as in the journal.
 */
#ifndef LS_SEGMENT_INT_H
#define LS_SEGMENT_INT_H

#include <pthread.h>
#include <stdint.h>

#include "store/segment.h"

#define SEG_MAGIC "LSSEAL01"
#define SEG_MAGIC_LEN 8
#define SEG_VERSION 1
#define SEG_F_ENCRYPTED 1u

#define SEG_HDR_LEN 48
#define SEG_TBL_ENT 24
#define SEG_FTR_LEN 64
#define SEG_AAD_LEN 20		/* magic || first (8) || block number (4) */
#define SEG_MAX_K 16		/* bundles per block a reader accepts */
#define SEG_ENTRY_MAX 65535	/* C2SP bundle framing: 2-byte length */

/* Header fields (offsets). */
#define SEG_H_VERSION 8
#define SEG_H_FLAGS 12
#define SEG_H_FIRST 16
#define SEG_H_COUNT 24
#define SEG_H_K 28
#define SEG_H_KEYID 32
#define SEG_H_RSVD 36		/* 8 bytes, zero */
#define SEG_H_CRC 44		/* CRC-32 of bytes 0..43 */

/* Footer fields (offsets from the footer's start). */
#define SEG_F_HASHES 0
#define SEG_F_TABLE 8
#define SEG_F_LENGTH 16
#define SEG_F_FIRST 24
#define SEG_F_COUNT 32
#define SEG_F_NBLOCKS 36
#define SEG_F_TBLCRC 40		/* CRC-32 of the whole block table */
#define SEG_F_RSVD 44		/* 8 bytes, zero */
#define SEG_F_CRC 52		/* CRC-32 of footer bytes 0..51 */
#define SEG_F_MAGIC 56

/* One block table entry, decoded. */
struct seg_ent {
	uint64_t off;		/* of the stored bytes in the file */
	uint32_t stored;	/* stored length */
	uint32_t raw;		/* length of the framed entries */
	uint32_t crc;		/* CRC-32 of the stored bytes */
	uint32_t hcrc;		/* CRC-32 of the block's slice of the hashes */
};

/* A decoded block: the framed entries, where each starts, and the block's
 * leaf hashes (their CRC checked).  Shared by refcount: the cache holds
 * one reference, each reader one while it copies out. */
struct seg_block {
	uint32_t no;
	uint32_t nent;
	unsigned refs;
	uint8_t *raw;
	size_t rawlen;
	uint32_t *off;			/* nent + 1: length prefix of entry i; off[nent] = rawlen */
	uint8_t (*hash)[LS_HASH_LEN];	/* nent */
};

#define SEG_CACHE 2

struct segment {
	char *path;
	int fd;
	struct keyring *kr;
	uint64_t first;
	uint32_t count;
	uint32_t k;			/* bundles per block */
	uint32_t keyid;			/* 0: plaintext */
	uint32_t nblocks;
	uint64_t hashes_off;
	uint64_t table_off;
	uint64_t size;
	struct seg_ent *tbl;
	pthread_mutex_t mu;		/* guards cache[] and every block's refs */
	struct seg_block *cache[SEG_CACHE];	/* [0] most recent */
};

static inline uint32_t seg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t seg_get64(const uint8_t *p)
{
	return (uint64_t)seg_get32(p) << 32 | seg_get32(p + 4);
}

static inline void seg_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void seg_put64(uint8_t *p, uint64_t v)
{
	seg_put32(p, (uint32_t)(v >> 32));
	seg_put32(p + 4, (uint32_t)v);
}

/* Associated data of block `no` of the segment starting at first. */
static inline void seg_aad(uint8_t aad[SEG_AAD_LEN], uint64_t first, uint32_t no)
{
	for (int i = 0; i < SEG_MAGIC_LEN; i++)
		aad[i] = (uint8_t)SEG_MAGIC[i];
	seg_put64(aad + 8, first);
	seg_put32(aad + 16, no);
}

/* Entries in block no of a segment of count entries, k bundles a block. */
static inline uint32_t seg_block_entries(uint32_t count, uint32_t k, uint32_t no)
{
	uint64_t lo = (uint64_t)no * k * SEGMENT_BUNDLE, hi = lo + (uint64_t)k * SEGMENT_BUNDLE;

	if (hi > count)
		hi = count;
	return lo >= hi ? 0 : (uint32_t)(hi - lo);
}

#endif
