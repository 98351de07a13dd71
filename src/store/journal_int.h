/*
 * journal_int.h - what the pieces of the journal share, private to them
 * (journal_record.c, journal_dir.c, journal_write.c, journal_iter.c,
 * journal_reader.c; journal.h is the API).  The on-disk format is described
 * at the top of journal_record.c and in docs/FORMAT.md.
 */
#ifndef LS_JOURNAL_INT_H
#define LS_JOURNAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"
#include "store/journal.h"

struct keyring;

#define SEG_MAGIC "LSJOURN1"
#define SEG_VERSION 1
#define SEG_VERSION_ENC 2
#define SEG_FLAG_ENCRYPTED 1
#define ENC_MAX (JOURNAL_MAX_ENTRY + LS_AEAD_OVERHEAD)
#define REC_MAGIC 0x4C52
#define SEG_NAME_LEN 20 /* 16 hex digits + ".seg" */
#define REC_MAX (JOURNAL_REC_HEADER + ENC_MAX)
#define RETAINED_FILE "retained"

/* ---------------------------------------------------------------- bytes */

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* ------------------------------------------- framing (journal_record.c) */

/* "%016llx.seg" of a segment's first index. */
void jnl_seg_name(char out[SEG_NAME_LEN + 1], uint64_t first);
/* 1: a segment name, *first set; 0: not ours; -1: looks like one but is malformed. */
int jnl_parse_seg_name(const char *name, uint64_t *first);
/* key_id 0: a plaintext (version 1) segment. */
void jnl_seg_header_build(uint8_t h[JOURNAL_SEG_HEADER], uint64_t first, uint32_t key_id);
/* NULL when h is a valid header for first, else why not. */
const char *jnl_seg_header_check(const uint8_t h[JOURNAL_SEG_HEADER], uint64_t first);
/* The associated data of a sealed record: segment first index || leaf index. */
void jnl_rec_aad(uint8_t aad[16], uint64_t seg_first, uint64_t index);

/* One record as framed in a buffer. */
struct rec {
	uint16_t flags;
	uint32_t len;
	uint64_t index;
	const uint8_t *data;
	size_t size;		/* header + payload */
};

/* Frame one record at p: see journal_record.c. */
ls_rc jnl_rec_encode(uint8_t *p, uint16_t flags, uint64_t index, const void *entry, size_t len,
		     uint64_t seg_first, uint32_t key_id, const uint8_t key[LS_AEAD_KEY_LEN],
		     size_t *size);
/* Parse one record of at most max payload bytes: see journal_record.c. */
ls_rc jnl_rec_parse_max(const uint8_t *p, size_t n, size_t max, struct rec *r,
			const char **why);
/* The checks every reader makes of a framed record: see journal_record.c. */
ls_rc jnl_rec_check(struct rec *r, uint64_t want, uint64_t seg_first, uint32_t key_id,
		    const uint8_t key[LS_AEAD_KEY_LEN], uint8_t *plain, char *whybuf,
		    size_t whycap);

/* ------------------------------------------ the directory (journal_dir.c) */

/* pwrite()/pread() until done (EINTR retried); -1 with errno.  A short
 * read at end of file is not an error: *got says how much came. */
int jnl_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
int jnl_pread_all(int fd, void *buf, size_t n, uint64_t off, size_t *got);
/* The first indexes of every segment in dir, ascending. */
ls_rc jnl_list_segments(const char *dir, uint64_t **out, size_t *count, struct ls_err *err);
/* 1 when dir holds a segment whose first index is above first, 0 if not, -1 on error. */
int jnl_segment_after(const char *dir, uint64_t first);
/* 1 when the segments before segs[0] were moved out by retention, 0 when
 * not, -1 when the "retained" file is unreadable (err set). */
int jnl_prefix_archived(const char *dir, const uint64_t *segs, size_t n, struct ls_err *err);
/* fsync the directory that holds dir. */
ls_rc jnl_sync_parent(const char *dir, struct ls_err *err);
/* Write down a cut recovery is about to make, durably (journal.h
 * invariant 5); the same cut twice in a row is written once. */
ls_rc jnl_cut_pending_add(const char *dir, const struct store_recovery *r, struct ls_err *err);
/* The data key of a checked segment header (key_id 0 for plaintext),
 * loading the keyring of the data directory into *kr when needed. */
ls_rc jnl_seg_key(const char *dir, const char *name, const uint8_t h[JOURNAL_SEG_HEADER],
		  struct keyring **kr, uint32_t *key_id, uint8_t key[LS_AEAD_KEY_LEN],
		  struct ls_err *err);

#endif
