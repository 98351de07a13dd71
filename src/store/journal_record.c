/*
 * journal_record.c - the journal's bytes: segment names, segment headers
 * and record framing (encode, parse, CRC, seal check).  Pure: no files, no
 * threads, so that it can be fuzzed and tested on buffers (journal.h for
 * the API; journal_write.c writes these frames, journal_iter.c and
 * journal_reader.c read them).
 *
 * On-disk format (normative copy in docs/FORMAT.md).  All integers are
 * big-endian; CRC-32 is the ISO-HDLC CRC of zlib's crc32() (init 0),
 * computed with libdeflate's, which is several times faster on the records'
 * sizes (the unit tests check frames against zlib's).
 *
 *   Directory: files "%016llx.seg", the lower-case hex of the leaf index of
 *   the segment's first record.  Other names are ignored, except that a
 *   name ending in ".seg" that is not 16 lower-case hex digits is an error.
 *   The first segment starts at 0, or, once retention has moved a prefix
 *   of the journal to the archive, at or below the index named by the file
 *   "retained" (journal.h); each next one starts where the previous
 *   one ends (first + number of records), so the names alone give the
 *   record count of every segment but the last.
 *
 *   Segment header, 32 bytes:
 *	0  8  magic "LSJOURN1"
 *	8  4  version: 1 = plaintext, 2 = encrypted
 *	12 4  flags: version 1: 0; version 2: 1 (ENCRYPTED)
 *	16 8  first leaf index (equals the file name)
 *	24 4  version 1: 0; version 2: id of the data key (keys.h), >= 1
 *	28 4  CRC-32 of bytes 0..27
 *
 *   Then records, back to back, no padding:
 *	0  2  magic 0x4C52 ("LR")
 *	2  2  flags: bit 0 COMMIT (last record of an appended batch), bit 1
 *	      FIRST (first record of one); the other bits are 0
 *	4  4  payload length, 1..65535
 *	8  8  leaf index (previous + 1; the first equals the segment's)
 *	16 4  CRC-32 of header bytes 0..15 followed by the payload
 *	20 n  payload: version 1, the entry byte for byte (n <= 65535);
 *	      version 2, nonce (12 random bytes) || AES-256-GCM ciphertext of
 *	      the entry || tag (16), n = entry + 28, with associated data the
 *	      segment's first index || the record's leaf index (8 + 8 bytes),
 *	      so a record moved or swapped does not authenticate.  The CRC
 *	      frames the stored bytes, so recovery needs no key.
 *
 * Nonces are random, never derived from the index: a torn tail cut at
 * recovery means the same index is written again under the same key.
 */
#include "store/journal_int.h"

#include <stdio.h>
#include <string.h>
#include <libdeflate.h>

/* ---------------------------------------------------------------- bytes */

void jnl_seg_name(char out[SEG_NAME_LEN + 1], uint64_t first)
{
	snprintf(out, SEG_NAME_LEN + 1, "%016llx.seg", (unsigned long long)first);
}

/* 1: a segment name, *first set; 0: not ours; -1: looks like one but is malformed. */
int jnl_parse_seg_name(const char *name, uint64_t *first)
{
	size_t n = strlen(name);
	uint64_t v = 0;

	if (n < 4 || strcmp(name + n - 4, ".seg") != 0)
		return 0;
	if (n != SEG_NAME_LEN)
		return -1;
	for (size_t i = 0; i < 16; i++) {
		char c = name[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -1;
		v = v << 4 | d;
	}
	*first = v;
	return 1;
}

/* key_id 0: a plaintext (version 1) segment. */
void jnl_seg_header_build(uint8_t h[JOURNAL_SEG_HEADER], uint64_t first, uint32_t key_id)
{
	memcpy(h, SEG_MAGIC, 8);
	put32(h + 8, key_id ? SEG_VERSION_ENC : SEG_VERSION);
	put32(h + 12, key_id ? SEG_FLAG_ENCRYPTED : 0);
	put64(h + 16, first);
	put32(h + 24, key_id);
	put32(h + 28, libdeflate_crc32(0, h, 28));
}

/* NULL when h is a valid header for first, else why not. */
const char *jnl_seg_header_check(const uint8_t h[JOURNAL_SEG_HEADER], uint64_t first)
{
	uint32_t v;

	if (memcmp(h, SEG_MAGIC, 8) != 0)
		return "bad segment magic";
	if (get32(h + 28) != libdeflate_crc32(0, h, 28))
		return "bad segment header checksum";
	v = get32(h + 8);
	if (v != SEG_VERSION && v != SEG_VERSION_ENC)
		return "unsupported segment version";
	if (v == SEG_VERSION && (get32(h + 12) != 0 || get32(h + 24) != 0))
		return "bad segment header flags";
	if (v == SEG_VERSION_ENC && (get32(h + 12) != SEG_FLAG_ENCRYPTED || get32(h + 24) == 0))
		return "bad segment header flags";
	if (get64(h + 16) != first)
		return "segment header first index does not match its name";
	return NULL;
}

void jnl_rec_aad(uint8_t aad[16], uint64_t seg_first, uint64_t index)
{
	put64(aad, seg_first);
	put64(aad + 8, index);
}

/* -------------------------------------------------------------- records */

/* Frame entry (len bytes, 1..JOURNAL_MAX_ENTRY) at p as the record of leaf
 * index `index` with flags: room for JOURNAL_REC_HEADER + len bytes, plus
 * LS_AEAD_OVERHEAD when key_id is not 0, in which case the entry is sealed
 * under key with the associated data jnl_rec_aad(seg_first, index).  *size
 * is set to the bytes written.  LS_IO when sealing fails. */
ls_rc jnl_rec_encode(uint8_t *p, uint16_t flags, uint64_t index, const void *entry, size_t len,
		     uint64_t seg_first, uint32_t key_id, const uint8_t key[LS_AEAD_KEY_LEN],
		     size_t *size)
{
	put16(p, REC_MAGIC);
	put16(p + 2, flags);
	put64(p + 8, index);
	if (key_id) {
		uint8_t aad[16];

		jnl_rec_aad(aad, seg_first, index);
		if (ls_aead_seal_blob(key, aad, sizeof(aad), entry, len,
				      p + JOURNAL_REC_HEADER) != LS_OK)
			return LS_IO;
		len += LS_AEAD_OVERHEAD;
	} else {
		memcpy(p + JOURNAL_REC_HEADER, entry, len);
	}
	put32(p + 4, (uint32_t)len);
	put32(p + 16, libdeflate_crc32(libdeflate_crc32(0, p, 16), p + JOURNAL_REC_HEADER, len));
	*size = JOURNAL_REC_HEADER + len;
	return LS_OK;
}

/* LS_OK, LS_NOTFOUND (buffer ends inside the record) or LS_CORRUPT; *why
 * says what is wrong in the last two cases.  The index is not checked. */
ls_rc jnl_rec_parse_max(const uint8_t *p, size_t n, size_t max, struct rec *r,
			const char **why)
{
	uint32_t crc;

	if (n < JOURNAL_REC_HEADER) {
		*why = "truncated record";
		return LS_NOTFOUND;
	}
	if (get16(p) != REC_MAGIC) {
		*why = "bad record magic";
		return LS_CORRUPT;
	}
	r->flags = get16(p + 2);
	if (r->flags & ~(JOURNAL_FLAG_COMMIT | JOURNAL_FLAG_FIRST)) {
		*why = "bad record flags";
		return LS_CORRUPT;
	}
	r->len = get32(p + 4);
	if (r->len == 0 || r->len > max || (max > JOURNAL_MAX_ENTRY && r->len <= LS_AEAD_OVERHEAD)) {
		*why = "bad record length";
		return LS_CORRUPT;
	}
	r->index = get64(p + 8);
	if (n - JOURNAL_REC_HEADER < r->len) {
		*why = "truncated record";
		return LS_NOTFOUND;
	}
	crc = libdeflate_crc32(libdeflate_crc32(0, p, 16), p + JOURNAL_REC_HEADER, r->len);
	if (crc != get32(p + 16)) {
		*why = "bad checksum";
		return LS_CORRUPT;
	}
	r->data = p + JOURNAL_REC_HEADER;
	r->size = JOURNAL_REC_HEADER + (size_t)r->len;
	return LS_OK;
}

/* What every reader checks of a record once jnl_rec_parse_max() has framed it,
 * given the segment it lies in (first index seg_first, data key key_id/key,
 * 0 for plaintext): its leaf index is want and, in an encrypted segment,
 * its seal authenticates under the associated data of jnl_rec_aad(), so a
 * record moved to another place or segment does not.  The entry is then
 * decrypted into plain (room for r->len - LS_AEAD_OVERHEAD bytes) and
 * r->data / r->len describe it; plain NULL leaves the seal unchecked (an
 * iterator skipping records before its start).  LS_CORRUPT / LS_TAMPERED
 * with why in whybuf.  journal_iter_next() and journal_reader_get() both
 * come here, so the two cannot drift apart. */
ls_rc jnl_rec_check(struct rec *r, uint64_t want, uint64_t seg_first, uint32_t key_id,
		    const uint8_t key[LS_AEAD_KEY_LEN], uint8_t *plain, char *whybuf,
		    size_t whycap)
{
	uint8_t aad[16];

	if (r->index != want) {
		snprintf(whybuf, whycap, "record has index %llu, expected %llu",
			 (unsigned long long)r->index, (unsigned long long)want);
		return LS_CORRUPT;
	}
	if (!key_id || !plain)
		return LS_OK;
	jnl_rec_aad(aad, seg_first, r->index);
	if (ls_aead_open_blob(key, aad, sizeof(aad), r->data, r->len, plain) != LS_OK) {
		snprintf(whybuf, whycap,
			 "record %llu does not authenticate: its ciphertext was altered or it "
			 "was moved", (unsigned long long)r->index);
		return LS_TAMPERED;
	}
	r->data = plain;
	r->len -= LS_AEAD_OVERHEAD;
	return LS_OK;
}

/* Records of a plaintext segment, or (max = ENC_MAX) of an encrypted one. */
static ls_rc rec_parse(const uint8_t *p, size_t n, struct rec *r, const char **why)
{
	return jnl_rec_parse_max(p, n, JOURNAL_MAX_ENTRY, r, why);
}

ls_rc journal_record_decode(const uint8_t *buf, size_t n, const uint8_t **data, size_t *len,
			    uint64_t *index, uint16_t *flags, size_t *consumed)
{
	struct rec r;
	const char *why;
	ls_rc rc;

	rc = rec_parse(buf, n, &r, &why);
	if (rc != LS_OK)
		return rc;
	if (data)
		*data = r.data;
	if (len)
		*len = r.len;
	if (index)
		*index = r.index;
	if (flags)
		*flags = r.flags;
	if (consumed)
		*consumed = r.size;
	return LS_OK;
}
