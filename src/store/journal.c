/*
 * journal.c - the append-only journal: segment files of CRC-framed records
 * (see journal.h for the API and its invariants).
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
 *
 * Writer invariants (in addition to journal.h):
 *  W1. One batch = one write() at the end of the segment then fdatasync();
 *      its last record, and only that one, has COMMIT; its first, and only
 *      that one, has FIRST (so a batch's start is known even when the
 *      COMMIT before it is damaged).  A batch takes at most max_batch bytes.  A batch never spans
 *      segments, so every segment but a torn last one ends with COMMIT.
 *  W2. Rotation happens between batches, when the current segment already
 *      holds segment_size bytes or more: create, write the header, fsync the
 *      file, fsync the directory.  A segment may exceed segment_size by up
 *      to one batch.
 *  W3. seg_end is the durable end of the current segment; after an ENOSPC
 *      the file is cut back to it before the journal accepts more.
 *  W4. One writer per directory, enforced with flock() on the directory.
 *
 * Recovery (journal_open) trusts the names and headers of all segments but
 * the last (their bodies are checked by the iterators, e.g. `verify`), and
 * scans the last one completely.  A bad or short record at offset X, or a
 * final batch without COMMIT, is a torn tail when no valid COMMIT record
 * found after X is followed by yet another valid record, and no valid
 * FIRST record after X starts a batch beyond the last complete one (either
 * is a later batch, written only once the damaged one was durable and
 * acknowledged), and when the tail after the last COMMIT is no longer than
 * one batch (a crash leaves at most one unfinished write); the tail is then cut
 * back to the end of the last COMMIT record, so a batch is kept whole or
 * not at all, unless that would leave fewer than min_size records.  A last
 * segment whose header is short or bad and which holds no valid record at
 * all was being created at the crash (records follow only a durable
 * header): it is rewritten with a fresh header, reported as a cut at 0.
 */
#include "store/journal.h"
#include "base/crypto.h"
#include "base/fsutil.h"
#include "store/keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>

#define SEG_MAGIC "LSJOURN1"
#define SEG_VERSION 1
#define SEG_VERSION_ENC 2
#define SEG_FLAG_ENCRYPTED 1
#define ENC_MAX (JOURNAL_MAX_ENTRY + LS_AEAD_OVERHEAD)
#define REC_MAGIC 0x4C52
#define DEFAULT_SEGMENT_SIZE (64ull << 20)
#define ITER_BUF (1u << 20)
#define SEG_NAME_LEN 20 /* 16 hex digits + ".seg" */
#define REC_MAX (JOURNAL_REC_HEADER + ENC_MAX)

struct journal {
	char *dir;
	int dirfd;		/* holds the writer's flock */
	int fd;			/* current (last) segment */
	uint64_t seg_first;
	uint64_t seg_end;	/* durable end of the current segment (W3) */
	uint64_t size;		/* records = next leaf index */
	uint64_t segment_size;
	uint64_t max_batch;	/* bytes of one batch in a segment (W1) */
	int failed;		/* sticky (journal.h invariant 3) */
	uint8_t *buf;		/* batch buffer, reused */
	size_t buf_cap;
	int fault_op;		/* testing only */
	int fault_errno;
	struct keyring *kr;	/* NULL: the directory is not encrypted */
	uint32_t key_id;	/* of the current segment; 0: plaintext */
	uint8_t key[LS_AEAD_KEY_LEN];
};

struct journal_iter {
	char *dir;
	int strict;
	int fd;			/* -1: segment seg_first not opened yet */
	int hdr_ok;		/* segment header read and checked */
	uint64_t seg_first;
	uint64_t next;		/* expected leaf index of the next record */
	uint64_t start;
	uint16_t last_flags;	/* of the previous record, across segments */
	uint8_t *buf;
	size_t pos, end;
	uint64_t buf_off;	/* file offset of buf[0] */
	char where_seg[SEG_NAME_LEN + 1];
	uint64_t where_named;	/* the segment where_seg names (a printf per
				 * entry was a tenth of reading one) */
	uint64_t where_off;
	ls_rc broken;		/* sticky LS_CORRUPT/LS_IO after an error */
	char broken_msg[sizeof(((struct ls_err *)0)->msg)];
	uint32_t key_id;	/* of the current segment; 0: plaintext */
	uint8_t key[LS_AEAD_KEY_LEN];
	uint8_t *plain;		/* decrypted entry of an encrypted segment */
};

/* ---------------------------------------------------------------- bytes */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static void seg_name(char out[SEG_NAME_LEN + 1], uint64_t first)
{
	snprintf(out, SEG_NAME_LEN + 1, "%016llx.seg", (unsigned long long)first);
}

/* 1: a segment name, *first set; 0: not ours; -1: looks like one but is malformed. */
static int parse_seg_name(const char *name, uint64_t *first)
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
static void seg_header_build(uint8_t h[JOURNAL_SEG_HEADER], uint64_t first, uint32_t key_id)
{
	memcpy(h, SEG_MAGIC, 8);
	put32(h + 8, key_id ? SEG_VERSION_ENC : SEG_VERSION);
	put32(h + 12, key_id ? SEG_FLAG_ENCRYPTED : 0);
	put64(h + 16, first);
	put32(h + 24, key_id);
	put32(h + 28, libdeflate_crc32(0, h, 28));
}

/* NULL when h is a valid header for first, else why not. */
static const char *seg_header_check(const uint8_t h[JOURNAL_SEG_HEADER], uint64_t first)
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

/* The data key of a checked header (key_id 0 for plaintext).  dir is the
 * journal directory, name the segment, for messages. */
static ls_rc seg_key(const char *dir, const char *name, const uint8_t h[JOURNAL_SEG_HEADER],
		     struct keyring **kr, uint32_t *key_id, uint8_t key[LS_AEAD_KEY_LEN],
		     struct ls_err *err)
{
	struct ls_err e;
	ls_rc rc;

	*key_id = get32(h + 24);
	if (*key_id == 0)
		return LS_OK;
	if (!*kr) {
		rc = keys_get_parent(dir, kr, &e);
		if (rc == LS_NOTFOUND)
			return ls_err_set(err, LS_DENIED,
					  "%s/%s: the segment is encrypted but the data directory "
					  "has no keys/master.json", dir, name);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "%s", e.msg);
	}
	rc = keys_data_key(*kr, *key_id, key, &e);
	if (rc != LS_OK)
		return ls_err_set(err, rc == LS_NOTFOUND ? LS_CORRUPT : rc, "%s/%s: %s", dir, name,
				  e.msg);
	return LS_OK;
}

static void rec_aad(uint8_t aad[16], uint64_t seg_first, uint64_t index)
{
	put64(aad, seg_first);
	put64(aad + 8, index);
}

/* -------------------------------------------------------------- records */

struct rec {
	uint16_t flags;
	uint32_t len;
	uint64_t index;
	const uint8_t *data;
	size_t size;		/* header + payload */
};

/* LS_OK, LS_NOTFOUND (buffer ends inside the record) or LS_CORRUPT; *why
 * says what is wrong in the last two cases.  The index is not checked. */
static ls_rc rec_parse_max(const uint8_t *p, size_t n, size_t max, struct rec *r,
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

/* What every reader checks of a record once rec_parse_max() has framed it,
 * given the segment it lies in (first index seg_first, data key key_id/key,
 * 0 for plaintext): its leaf index is want and, in an encrypted segment,
 * its seal authenticates under the associated data of rec_aad(), so a
 * record moved to another place or segment does not.  The entry is then
 * decrypted into plain (room for r->len - LS_AEAD_OVERHEAD bytes) and
 * r->data / r->len describe it; plain NULL leaves the seal unchecked (an
 * iterator skipping records before its start).  LS_CORRUPT / LS_TAMPERED
 * with why in whybuf.  journal_iter_next() and journal_reader_get() both
 * come here, so the two cannot drift apart. */
static ls_rc rec_check(struct rec *r, uint64_t want, uint64_t seg_first, uint32_t key_id,
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
	rec_aad(aad, seg_first, r->index);
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
	return rec_parse_max(p, n, JOURNAL_MAX_ENTRY, r, why);
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

/* ------------------------------------------------------------ file helpers */

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off, size_t *got)
{
	uint8_t *p = buf;

	*got = 0;
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
		*got += (size_t)r;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The first indexes of every segment in dir, ascending. */
static ls_rc list_segments(const char *dir, uint64_t **out, size_t *count, struct ls_err *err)
{
	DIR *d;
	struct dirent *e;
	uint64_t *v = NULL, first;
	size_t n = 0, cap = 0;

	*out = NULL;
	*count = 0;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return ls_err_set(err, LS_NOTFOUND, "%s: no such journal directory", dir);
		return ls_err_set(err, LS_IO, "%s: %s", dir, strerror(errno));
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		int k = parse_seg_name(e->d_name, &first);

		if (k == 0)
			continue;
		if (k < 0) {
			ls_err_set(err, LS_CORRUPT, "%s/%s: malformed segment name", dir, e->d_name);
			closedir(d);
			free(v);
			return LS_CORRUPT;
		}
		if (n == cap) {
			uint64_t *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				return ls_err_set(err, LS_NOMEM, "out of memory listing %s", dir);
			}
			v = nv;
		}
		v[n++] = first;
	}
	if (errno) {
		int e2 = errno;

		closedir(d);
		free(v);
		return ls_err_set(err, LS_IO, "%s: %s", dir, strerror(e2));
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	*count = n;
	return LS_OK;
}

/* 1 when dir holds a segment whose first index is above first, 0 if not, -1 on error. */
static int segment_after(const char *dir, uint64_t first)
{
	uint64_t *v;
	size_t n;
	int found;

	if (list_segments(dir, &v, &n, NULL) != LS_OK)
		return -1;
	found = n && v[n - 1] > first;
	free(v);
	return found;
}

#define RETAINED_FILE "retained"

ls_rc journal_retained(const char *dir, uint64_t *first, struct ls_err *err)
{
	char path[4096], *data = NULL, *end;
	size_t len;
	unsigned long long v;
	ls_rc rc;

	*first = 0;
	if (snprintf(path, sizeof(path), "%s/" RETAINED_FILE, dir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "journal path too long");
	rc = fs_read_file(path, 64, &data, &len, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	errno = 0;
	v = strtoull(data, &end, 16);
	if (len != 17 || end != data + 16 || *end != '\n' || errno) {
		free(data);
		return ls_err_set(err, LS_CORRUPT, "%s: not 16 hex digits and a newline", path);
	}
	free(data);
	*first = v;
	return LS_OK;
}

ls_rc journal_set_retained(const char *dir, uint64_t first, struct ls_err *err)
{
	char path[4096], text[32];

	if (snprintf(path, sizeof(path), "%s/" RETAINED_FILE, dir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "journal path too long");
	snprintf(text, sizeof(text), "%016llx\n", (unsigned long long)first);
	return fs_write_file(path, text, 17, 0644, 0, err);
}

/* 1 when the segments before segs[0] were moved out by retention: the
 * "retained" file names a segment at or above segs[0] (segments between
 * them are left over from a pass that stopped before removing them); 0
 * when not; -1 when the file is unreadable (err set). */
static int prefix_archived(const char *dir, const uint64_t *segs, size_t n, struct ls_err *err)
{
	uint64_t kept;
	size_t i;

	if (journal_retained(dir, &kept, err) != LS_OK)
		return -1;
	if (kept == 0 || n == 0 || segs[0] > kept)
		return 0;
	for (i = 0; i < n; i++)
		if (segs[i] == kept)
			return 1;
	return 0;
}

static ls_rc sync_parent(const char *dir, struct ls_err *err)
{
	char *p = strdup(dir);
	size_t n;
	char *slash;
	int fd, rc;

	if (!p)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		p[0] = '.';
		p[1] = '\0';
	} else if (slash == p) {
		p[1] = '\0';
	} else {
		*slash = '\0';
	}
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = fd >= 0 ? fsync(fd) : -1;
	if (rc != 0) {
		ls_err_set(err, LS_IO, "fsync %s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(p);
		return LS_IO;
	}
	close(fd);
	free(p);
	return LS_OK;
}

/* ------------------------------------------------------------------ writer */

/* Create segment "first" durably (W2) and make it current.  On ENOSPC the
 * half-made file is removed and the journal stays usable. */
static ls_rc segment_create(struct journal *j, uint64_t first, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER], key[LS_AEAD_KEY_LEN];
	uint32_t key_id = 0;
	int fd, e;
	ls_rc rc;

	/* Every segment of an encrypted directory gets a fresh data key,
	 * durable in datakeys.json before the header names it. */
	if (j->kr) {
		rc = keys_new_data_key(j->kr, &key_id, key, err);
		if (rc != LS_OK)
			return rc;
	}
	seg_name(name, first);
	fd = openat(j->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		if (e != ENOSPC)
			j->failed = 1;
		return ls_err_set(err, e == ENOSPC ? LS_NOSPACE : LS_IO, "%s/%s: create: %s",
				  j->dir, name, strerror(e));
	}
	seg_header_build(h, first, key_id);
	if (pwrite_all(fd, h, sizeof(h), 0) != 0 || fsync(fd) != 0 || fsync(j->dirfd) != 0) {
		e = errno;
		close(fd);
		ls_wipe(key, sizeof(key));
		if (unlinkat(j->dirfd, name, 0) != 0 || fsync(j->dirfd) != 0 || e != ENOSPC)
			j->failed = 1;
		return ls_err_set(err, e == ENOSPC ? LS_NOSPACE : LS_IO, "%s/%s: %s", j->dir, name,
				  strerror(e));
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->seg_first = first;
	j->seg_end = JOURNAL_SEG_HEADER;
	j->key_id = key_id;
	memcpy(j->key, key, sizeof(key));
	ls_wipe(key, sizeof(key));
	return LS_OK;
}

/* A cut at byte off of segment first: the records from leaf index `from`
 * on are gone, `records` of them whole and valid, the last of those being
 * `last`. */
static void recovery_note(struct journal_recovery *rec, uint64_t first, uint64_t off,
			  uint64_t bytes, uint64_t records, uint64_t from, uint64_t last)
{
	if (!rec)
		return;
	rec->cut = 1;
	seg_name(rec->segment, first);
	rec->offset = off;
	rec->bytes = bytes;
	rec->records = records;
	rec->first = from;
	/* Holes (lost pages) make the range wider than the count. */
	rec->last = records && last >= from + records - 1 ? last : from + records - (records > 0);
}

/* Valid records found at or after x, by searching for record magic: 1 when a
 * COMMIT record among them is followed by another one, or a FIRST record
 * among them has an index above `batch` (the index the unfinished batch
 * starts at): a later batch, so the damage at x is not a torn tail.  Else
 * 0; *nvalid counts them and *maxidx is the largest index among those at
 * or above `batch` (left alone when none). */
static int later_batch_after(const uint8_t *m, size_t size, size_t x, size_t max,
			     uint64_t batch, uint64_t *nvalid, uint64_t *maxidx)
{
	int seen_commit = 0;
	size_t off = x;

	*nvalid = 0;
	while (size - off >= JOURNAL_REC_HEADER) {
		const uint8_t *p = memchr(m + off, REC_MAGIC >> 8, size - off - 1);
		struct rec r;
		const char *why;

		if (!p)
			break;
		off = (size_t)(p - m);
		if (size - off < JOURNAL_REC_HEADER)
			break;
		if (p[1] != (REC_MAGIC & 0xff) ||
		    rec_parse_max(p, size - off, max, &r, &why) != LS_OK) {
			off++;
			continue;
		}
		if (seen_commit)
			return 1;
		if ((r.flags & JOURNAL_FLAG_FIRST) && r.index > batch)
			return 1;
		if (r.flags & JOURNAL_FLAG_COMMIT)
			seen_commit = 1;
		if (r.index >= batch && r.index > *maxidx)
			*maxidx = r.index;
		(*nvalid)++;
		off += r.size;
	}
	return 0;
}

/* The last segment was being created at a crash: nothing was ever
 * acknowledged in it, so it is rewritten empty. */
static ls_rc rewrite_header(struct journal *j, uint64_t size, struct journal_recovery *rec,
			    struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER];
	ls_rc rc;

	/* The torn header's key id is unknown: an encrypted directory gets
	 * a fresh data key for the segment. */
	j->key_id = 0;
	if (j->kr) {
		rc = keys_new_data_key(j->kr, &j->key_id, j->key, err);
		if (rc != LS_OK)
			return rc;
	}
	seg_name(name, j->seg_first);
	seg_header_build(h, j->seg_first, j->key_id);
	if (ftruncate(j->fd, 0) != 0 || pwrite_all(j->fd, h, sizeof(h), 0) != 0 ||
	    fsync(j->fd) != 0 || fsync(j->dirfd) != 0)
		return ls_err_set(err, LS_IO, "%s/%s: rewriting torn header: %s", j->dir, name,
				  strerror(errno));
	recovery_note(rec, j->seg_first, 0, size, 0, j->seg_first, 0);
	j->seg_end = JOURNAL_SEG_HEADER;
	j->size = j->seg_first;
	return LS_OK;
}

/* Check the last segment completely; cut a torn tail (see the top comment). */
static ls_rc scan_last(struct journal *j, uint64_t min_size, struct journal_recovery *rec,
		       struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	struct stat st;
	uint8_t *m;
	size_t size, off, x, commit_off, max;
	uint64_t idx, commit_idx, nvalid = 0, maxidx = 0;
	const char *why = NULL, *hwhy;
	char idxwhy[96];
	ls_rc rc = LS_OK;

	seg_name(name, j->seg_first);
	if (fstat(j->fd, &st) != 0)
		return ls_err_set(err, LS_IO, "%s/%s: %s", j->dir, name, strerror(errno));
	if ((uint64_t)st.st_size < JOURNAL_SEG_HEADER)
		return rewrite_header(j, (uint64_t)st.st_size, rec, err);
	size = (size_t)st.st_size;
	m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, j->fd, 0);
	if (m == MAP_FAILED)
		return ls_err_set(err, LS_IO, "%s/%s: mmap: %s", j->dir, name, strerror(errno));
	hwhy = seg_header_check(m, j->seg_first);
	if (hwhy) {
		/* Records are written only after the header is durable, so a
		 * bad header with no valid record anywhere after it is a
		 * segment whose creation was torn; with records it is damage. */
		later_batch_after(m, size, 0, ENC_MAX, UINT64_MAX, &nvalid, &maxidx);
		if (nvalid == 0) {
			munmap(m, size);
			return rewrite_header(j, size, rec, err);
		}
		rc = ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: %s", j->dir, name, hwhy);
		goto out;
	}
	rc = seg_key(j->dir, name, m, &j->kr, &j->key_id, j->key, err);
	if (rc != LS_OK)
		goto out;
	max = j->key_id ? ENC_MAX : JOURNAL_MAX_ENTRY;
	off = commit_off = JOURNAL_SEG_HEADER;
	idx = commit_idx = j->seg_first;
	while (off < size) {
		struct rec r;

		if (rec_parse_max(m + off, size - off, max, &r, &why) != LS_OK)
			break;
		if (r.index != idx) {
			snprintf(idxwhy, sizeof(idxwhy), "record has index %llu",
				 (unsigned long long)r.index);
			why = idxwhy;
			break;
		}
		off += r.size;
		idx++;
		if (r.flags & JOURNAL_FLAG_COMMIT) {
			commit_off = off;
			commit_idx = idx;
		}
	}
	x = off;
	if (commit_off == size)
		goto clean;
	if (!why)
		why = "last batch has no COMMIT record";
	if (x < size && later_batch_after(m, size, x, max, commit_idx, &nvalid, &maxidx)) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %zu: %s in record %llu, and a later batch follows it "
				"(it was acknowledged: refusing to cut)",
				j->dir, name, x, why, (unsigned long long)idx);
		goto out;
	}
	if (size - commit_off > j->max_batch) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %zu: %s in record %llu, and %zu bytes follow the last "
				"complete batch, more than one batch (%llu) that a crash can leave "
				"unfinished: refusing to cut",
				j->dir, name, x, why, (unsigned long long)idx, size - commit_off,
				(unsigned long long)j->max_batch);
		goto out;
	}
	if (commit_idx < min_size) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %zu: %s in record %llu; cutting the tail would leave "
				"%llu records, fewer than the %llu signed",
				j->dir, name, x, why, (unsigned long long)idx,
				(unsigned long long)commit_idx, (unsigned long long)min_size);
		goto out;
	}
	if (ftruncate(j->fd, (off_t)commit_off) != 0 || fsync(j->fd) != 0) {
		rc = ls_err_set(err, LS_IO, "%s/%s: cutting torn tail: %s", j->dir, name,
				strerror(errno));
		goto out;
	}
	if (idx > commit_idx && idx - 1 > maxidx)
		maxidx = idx - 1;
	recovery_note(rec, j->seg_first, commit_off, size - commit_off, idx - commit_idx + nvalid,
		      commit_idx, maxidx);
clean:
	j->seg_end = commit_off;
	j->size = commit_idx;
out:
	munmap(m, size);
	return rc;
}

/* Names and headers of the segments before the last; see the top comment. */
static ls_rc check_segment(struct journal *j, uint64_t first, uint64_t next, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER];
	struct stat st;
	size_t got;
	const char *why;
	int fd;
	ls_rc rc = LS_OK;

	seg_name(name, first);
	fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ls_err_set(err, LS_IO, "%s/%s: %s", j->dir, name, strerror(errno));
	if (pread_all(fd, h, sizeof(h), 0, &got) != 0 || fstat(fd, &st) != 0) {
		rc = ls_err_set(err, LS_IO, "%s/%s: %s", j->dir, name, strerror(errno));
	} else if (got < sizeof(h)) {
		rc = ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: truncated segment header",
				j->dir, name);
	} else if ((why = seg_header_check(h, first)) != NULL) {
		rc = ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: %s", j->dir, name, why);
	} else if (next - first >
		   ((uint64_t)st.st_size - JOURNAL_SEG_HEADER) / (JOURNAL_REC_HEADER + 1)) {
		/* Too short for the records its successor's name implies: a
		 * truncated segment or a missing one after it. */
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %llu: segment ends before record %llu (next segment "
				"starts at %llu)",
				j->dir, name, (unsigned long long)st.st_size,
				(unsigned long long)next - 1, (unsigned long long)next);
	}
	close(fd);
	return rc;
}

ls_rc journal_open(const char *dir, const struct journal_opts *opts, struct journal **out,
		   struct journal_recovery *rec, struct ls_err *err)
{
	struct journal *j;
	uint64_t *segs = NULL, min_size = opts ? opts->min_size : 0;
	size_t nsegs = 0;
	char name[SEG_NAME_LEN + 1];
	ls_rc rc;

	*out = NULL;
	if (rec)
		memset(rec, 0, sizeof(*rec));
	j = calloc(1, sizeof(*j));
	if (!j)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	j->dirfd = j->fd = -1;
	j->segment_size = opts && opts->segment_size ? opts->segment_size : DEFAULT_SEGMENT_SIZE;
	j->max_batch = opts && opts->max_batch ? opts->max_batch : JOURNAL_MAX_BATCH;
	j->dir = strdup(dir);
	if (!j->dir) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	/* Keys first: a wrong or missing master key must stop us before
	 * anything is created, cut or rewritten. */
	rc = keys_get_parent(dir, &j->kr, err);
	if (rc != LS_OK && rc != LS_NOTFOUND)
		goto fail;
	if (mkdir(dir, 0700) == 0) {
		rc = sync_parent(dir, err);
		if (rc != LS_OK)
			goto fail;
	} else if (errno != EEXIST) {
		rc = ls_err_set(err, LS_IO, "mkdir %s: %s", dir, strerror(errno));
		goto fail;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		rc = ls_err_set(err, LS_IO, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK
			     ? ls_err_set(err, LS_BUSY, "%s: journal is open by another writer", dir)
			     : ls_err_set(err, LS_IO, "flock %s: %s", dir, strerror(errno));
		goto fail;
	}
	rc = list_segments(dir, &segs, &nsegs, err);
	if (rc != LS_OK)
		goto fail;
	if (nsegs == 0) {
		if (min_size > 0) {
			rc = ls_err_set(err, LS_CORRUPT, "%s: no segments, but %llu records were signed",
					dir, (unsigned long long)min_size);
			goto fail;
		}
		rc = segment_create(j, 0, err);
		if (rc != LS_OK)
			goto fail;
		*out = j;
		return LS_OK;
	}
	if (segs[0] != 0) {
		int k = prefix_archived(dir, segs, nsegs, err);

		if (k < 0) {
			rc = LS_CORRUPT;
			goto fail;
		}
	}
	if (segs[0] != 0 && !prefix_archived(dir, segs, nsegs, NULL)) {
		seg_name(name, segs[0]);
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s: first segment starts at record %llu; segments before it are missing",
				dir, name, (unsigned long long)segs[0]);
		goto fail;
	}
	for (size_t i = 0; i + 1 < nsegs; i++) {
		rc = check_segment(j, segs[i], segs[i + 1], err);
		if (rc != LS_OK)
			goto fail;
	}
	j->seg_first = segs[nsegs - 1];
	seg_name(name, j->seg_first);
	j->fd = openat(j->dirfd, name, O_RDWR | O_CLOEXEC);
	if (j->fd < 0) {
		rc = ls_err_set(err, LS_IO, "%s/%s: %s", dir, name, strerror(errno));
		goto fail;
	}
	rc = scan_last(j, min_size, rec, err);
	if (rc != LS_OK)
		goto fail;
	if (j->size < min_size) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset %llu: journal ends at record %llu, but %llu were signed",
				dir, name, (unsigned long long)j->seg_end,
				(unsigned long long)j->size, (unsigned long long)min_size);
		goto fail;
	}
	free(segs);
	*out = j;
	return LS_OK;
fail:
	free(segs);
	journal_close(j);
	return rc;
}

uint64_t journal_size(const struct journal *j)
{
	return j->size;
}

void journal_test_fail_next(struct journal *j, int op, int errnum)
{
	j->fault_op = op;
	j->fault_errno = errnum;
}

/* The batch write; an injected fault writes half of it first, like a disk
 * that fills up in the middle. */
static int batch_write(struct journal *j, size_t total)
{
	if (j->fault_op == JOURNAL_FAULT_WRITE) {
		int e = j->fault_errno;

		j->fault_op = 0;
		if (pwrite_all(j->fd, j->buf, total / 2, j->seg_end) != 0)
			return -1;
		errno = e;
		return -1;
	}
	return pwrite_all(j->fd, j->buf, total, j->seg_end);
}

static int batch_sync(struct journal *j)
{
	if (j->fault_op == JOURNAL_FAULT_SYNC) {
		j->fault_op = 0;
		errno = j->fault_errno;
		return -1;
	}
	return fdatasync(j->fd);
}

/* Invariant 3: ENOSPC is undone when possible, anything else is sticky. */
static ls_rc append_failed(struct journal *j, int e, const char *what, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];

	seg_name(name, j->seg_first);
	if (e == ENOSPC) {
		if (ftruncate(j->fd, (off_t)j->seg_end) == 0 && fdatasync(j->fd) == 0)
			return ls_err_set(err, LS_NOSPACE, "%s/%s: %s: %s; batch discarded", j->dir,
					  name, what, strerror(e));
		j->failed = 1;
		return ls_err_set(err, LS_NOSPACE,
				  "%s/%s: %s: %s; undoing it failed too, journal failed", j->dir,
				  name, what, strerror(e));
	}
	j->failed = 1;
	return ls_err_set(err, LS_IO, "%s/%s: %s: %s; journal failed", j->dir, name, what,
			  strerror(e));
}

ls_rc journal_append(struct journal *j, const struct iovec *entries, size_t n, uint64_t *first,
		     struct ls_err *err)
{
	return journal_append_at(j, entries, n, first, NULL, err);
}

ls_rc journal_append_at(struct journal *j, const struct iovec *entries, size_t n,
			uint64_t *first, uint64_t *offsets, struct ls_err *err)
{
	size_t total = 0, off = 0;
	uint8_t *p;
	ls_rc rc;

	if (j->failed)
		return ls_err_set(err, LS_FAILED, "%s: journal failed earlier; reopen it", j->dir);
	if (n == 0)
		return ls_err_set(err, LS_INVALID, "empty batch");
	if (n > SIZE_MAX / REC_MAX)
		return ls_err_set(err, LS_LIMIT, "batch of %zu entries is too large", n);
	for (size_t i = 0; i < n; i++) {
		if (entries[i].iov_len == 0 || !entries[i].iov_base)
			return ls_err_set(err, LS_INVALID, "entry %zu of the batch is empty", i);
		if (entries[i].iov_len > JOURNAL_MAX_ENTRY)
			return ls_err_set(err, LS_LIMIT, "entry %zu is %zu bytes; the limit is %d", i,
					  entries[i].iov_len, JOURNAL_MAX_ENTRY);
		total += JOURNAL_REC_HEADER + entries[i].iov_len;
	}
	/* Rotate first: the records are sealed for the segment they go to. */
	if (j->seg_end >= j->segment_size && j->size > j->seg_first) {
		rc = segment_create(j, j->size, err);
		if (rc != LS_OK)
			return rc;
	}
	if (j->key_id)
		total += n * LS_AEAD_OVERHEAD;
	if (total > j->max_batch)
		return ls_err_set(err, LS_LIMIT, "a batch of %zu bytes is larger than the limit (%llu)",
				  total, (unsigned long long)j->max_batch);
	if (total > j->buf_cap) {
		size_t cap = j->buf_cap ? j->buf_cap : 1u << 20;
		uint8_t *nb;

		while (cap < total)
			cap *= 2;
		nb = realloc(j->buf, cap);
		if (!nb)
			return ls_err_set(err, LS_NOMEM, "out of memory for a batch of %zu bytes",
					  total);
		j->buf = nb;
		j->buf_cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = entries[i].iov_len;

		p = j->buf + off;
		put16(p, REC_MAGIC);
		put16(p + 2, (i == 0 ? JOURNAL_FLAG_FIRST : 0) |
				     (i + 1 == n ? JOURNAL_FLAG_COMMIT : 0));
		put64(p + 8, j->size + i);
		if (j->key_id) {
			uint8_t aad[16];

			rec_aad(aad, j->seg_first, j->size + i);
			if (ls_aead_seal_blob(j->key, aad, sizeof(aad), entries[i].iov_base, len,
					      p + JOURNAL_REC_HEADER) != LS_OK)
				return ls_err_set(err, LS_IO, "%s: encrypting record %llu failed",
						  j->dir, (unsigned long long)(j->size + i));
			len += LS_AEAD_OVERHEAD;
		} else {
			memcpy(p + JOURNAL_REC_HEADER, entries[i].iov_base, len);
		}
		put32(p + 4, (uint32_t)len);
		put32(p + 16, libdeflate_crc32(libdeflate_crc32(0, p, 16), p + JOURNAL_REC_HEADER, len));
		if (offsets)
			offsets[i] = j->seg_end + off;
		off += JOURNAL_REC_HEADER + len;
	}
	if (batch_write(j, total) != 0)
		return append_failed(j, errno, "write", err);
	if (batch_sync(j) != 0)
		return append_failed(j, errno, "fdatasync", err);
	j->seg_end += total;
	if (first)
		*first = j->size;
	j->size += n;
	return LS_OK;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	ls_wipe(j->key, sizeof(j->key));
	free(j->buf);
	free(j->dir);
	free(j);
}

ls_rc journal_rotate(struct journal *j, struct ls_err *err)
{
	if (j->failed)
		return ls_err_set(err, LS_FAILED, "%s: journal failed earlier; reopen it", j->dir);
	if (j->size > j->seg_first)
		return segment_create(j, j->size, err);
	/* The current segment holds no record yet: give it a new header
	 * (and so a new data key) in place. */
	return rewrite_header(j, 0, NULL, err);
}

uint32_t journal_key_id(const struct journal *j)
{
	return j->key_id;
}

/* ---------------------------------------------------------------- iterator */

static ls_rc iter_open(const char *dir, uint64_t start, int strict, struct journal_iter **out,
		       struct ls_err *err)
{
	struct journal_iter *it;
	uint64_t *segs;
	size_t n, i;
	ls_rc rc;

	*out = NULL;
	rc = list_segments(dir, &segs, &n, err);
	if (rc != LS_OK)
		return rc;
	it = calloc(1, sizeof(*it));
	if (!it) {
		free(segs);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	it->dir = strdup(dir);
	it->buf = malloc(ITER_BUF);
	if (!it->dir || !it->buf) {
		free(segs);
		journal_iter_free(it);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	it->fd = -1;
	it->where_named = UINT64_MAX;
	it->strict = strict;
	it->start = start;
	it->last_flags = JOURNAL_FLAG_COMMIT;
	/* The last segment starting at or before start; an empty directory
	 * means an empty journal whose first segment is not there yet. */
	for (i = n; i > 0 && segs[i - 1] > start; i--)
		;
	/* Records before an archived prefix are not here: start at the first
	 * segment that is (the caller sees it from the indexes). */
	if (i == 0 && n > 0 && prefix_archived(dir, segs, n, NULL) == 1)
		i = 1;
	if (i == 0 && n > 0) {
		char name[SEG_NAME_LEN + 1];

		seg_name(name, segs[0]);
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/%s offset 0: no segment holds record %llu (first segment starts at %llu)",
				dir, name, (unsigned long long)start, (unsigned long long)segs[0]);
		free(segs);
		journal_iter_free(it);
		return rc;
	}
	it->seg_first = it->next = i ? segs[i - 1] : 0;
	free(segs);
	*out = it;
	return LS_OK;
}

ls_rc journal_iter_open(const char *dir, uint64_t start, struct journal_iter **out,
			struct ls_err *err)
{
	return iter_open(dir, start, 0, out, err);
}

ls_rc journal_iter_open_strict(const char *dir, uint64_t start, struct journal_iter **out,
			       struct ls_err *err)
{
	return iter_open(dir, start, 1, out, err);
}

/* At least need bytes buffered: LS_OK, LS_NOTFOUND at end of file, LS_IO. */
static ls_rc iter_fill(struct journal_iter *it, size_t need)
{
	if (it->end - it->pos >= need)
		return LS_OK;
	if (it->pos) {
		memmove(it->buf, it->buf + it->pos, it->end - it->pos);
		it->buf_off += it->pos;
		it->end -= it->pos;
		it->pos = 0;
	}
	while (it->end < need) {
		ssize_t r = read(it->fd, it->buf + it->end, ITER_BUF - it->end);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return LS_IO;
		}
		if (r == 0)
			return LS_NOTFOUND;
		it->end += (size_t)r;
	}
	return LS_OK;
}

/* Record a sticky error at the current position of the current segment. */
static ls_rc iter_fail(struct journal_iter *it, ls_rc rc, struct ls_err *err, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

static ls_rc iter_fail(struct journal_iter *it, ls_rc rc, struct ls_err *err, const char *fmt,
		       ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	seg_name(it->where_seg, it->seg_first);
	it->where_named = it->seg_first;
	it->where_off = it->buf_off + it->pos;
	snprintf(it->broken_msg, sizeof(it->broken_msg), "%s/%s offset %llu: %s", it->dir,
		 it->where_seg, (unsigned long long)it->where_off, what);
	it->broken = rc;
	return ls_err_set(err, rc, "%s", it->broken_msg);
}

/* The iterator stands at the end of the data of a segment (clean = at a
 * record boundary).  LS_OK when it moved on (or more data arrived),
 * LS_NOTFOUND at the end of the journal, else an error. */
static ls_rc iter_at_end(struct journal_iter *it, int clean, const char *why, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	int fd, later;
	ls_rc rc;

	fd = -1;
	if (clean && it->next > it->seg_first) {
		seg_name(name, it->next);
		fd = openat(AT_FDCWD, it->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			int dfd = fd;

			fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
			if (fd < 0 && errno != ENOENT) {
				int e = errno;

				close(dfd);
				return iter_fail(it, LS_IO, err, "opening %s: %s", name, strerror(e));
			}
			close(dfd);
		}
	}
	if (fd >= 0) {
		/* The writer creates the next segment only after its last
		 * write to this one: read once more before leaving. */
		rc = iter_fill(it, 1);
		if (rc == LS_OK) {
			close(fd);
			return LS_OK;
		}
		if (rc == LS_IO) {
			close(fd);
			return iter_fail(it, LS_IO, err, "read: %s", strerror(errno));
		}
		if (!(it->last_flags & JOURNAL_FLAG_COMMIT)) {
			close(fd);
			return iter_fail(it, LS_CORRUPT, err,
					 "segment ends inside a batch (record %llu has no COMMIT)",
					 (unsigned long long)it->next - 1);
		}
		close(it->fd);
		it->fd = fd;
		it->hdr_ok = 0;
		it->seg_first = it->next;
		it->pos = it->end = 0;
		it->buf_off = 0;
		return LS_OK;
	}
	later = segment_after(it->dir, it->seg_first);
	if (later < 0)
		return iter_fail(it, LS_IO, err, "cannot list the journal directory");
	if (later) {
		if (clean && it->next == it->seg_first)
			return iter_fail(it, LS_CORRUPT, err,
					 "segment holds no record but is not the last");
		if (clean)
			return iter_fail(it, LS_CORRUPT, err,
					 "segment %016llx.seg (record %llu) is missing",
					 (unsigned long long)it->next, (unsigned long long)it->next);
		return iter_fail(it, LS_CORRUPT, err, "%s in record %llu before a later segment",
				 why, (unsigned long long)it->next);
	}
	if (it->strict) {
		if (!clean)
			return iter_fail(it, LS_CORRUPT, err, "%s in record %llu", why,
					 (unsigned long long)it->next);
		if (!(it->last_flags & JOURNAL_FLAG_COMMIT))
			return iter_fail(it, LS_CORRUPT, err,
					 "last batch is not committed (record %llu has no COMMIT)",
					 (unsigned long long)it->next - 1);
	}
	return LS_NOTFOUND;
}

ls_rc journal_iter_next(struct journal_iter *it, const uint8_t **data, size_t *len,
			uint64_t *index, struct ls_err *err)
{
	struct rec r;
	const char *why;
	char whybuf[160];
	ls_rc rc;

	if (it->broken)
		return ls_err_set(err, it->broken, "%s", it->broken_msg);
	for (;;) {
		if (it->fd < 0) {
			char name[SEG_NAME_LEN + 1];
			int dfd;

			seg_name(name, it->seg_first);
			dfd = open(it->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0)
				return iter_fail(it, LS_IO, err, "%s: %s", it->dir, strerror(errno));
			it->fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
			if (it->fd < 0 && errno != ENOENT) {
				int e = errno;

				close(dfd);
				return iter_fail(it, LS_IO, err, "open: %s", strerror(e));
			}
			close(dfd);
			if (it->fd < 0) {
				/* An empty journal whose writer has not made
				 * its first segment yet. */
				if (it->strict || segment_after(it->dir, it->seg_first) != 0)
					return iter_fail(it, LS_CORRUPT, err, "segment is missing");
				return LS_NOTFOUND;
			}
		}
		if (!it->hdr_ok) {
			rc = iter_fill(it, JOURNAL_SEG_HEADER);
			if (rc == LS_IO)
				return iter_fail(it, LS_IO, err, "read: %s", strerror(errno));
			if (rc == LS_NOTFOUND) {
				/* Being created right now, or torn at a crash. */
				if (it->strict || segment_after(it->dir, it->seg_first) != 0)
					return iter_fail(it, LS_CORRUPT, err,
							 "truncated segment header");
				return LS_NOTFOUND;
			}
			why = seg_header_check(it->buf + it->pos, it->seg_first);
			if (why)
				return iter_fail(it, LS_CORRUPT, err, "%s", why);
			{
				char name[SEG_NAME_LEN + 1];
				struct keyring *kr = NULL;
				struct ls_err e;

				seg_name(name, it->seg_first);
				rc = seg_key(it->dir, name, it->buf + it->pos, &kr, &it->key_id,
					     it->key, &e);
				if (rc != LS_OK)
					return iter_fail(it, rc, err, "%s", e.msg);
			}
			if (it->key_id && !it->plain) {
				it->plain = malloc(JOURNAL_MAX_ENTRY);
				if (!it->plain)
					return iter_fail(it, LS_NOMEM, err, "out of memory");
			}
			it->pos += JOURNAL_SEG_HEADER;
			it->hdr_ok = 1;
		}
		why = "truncated record";
		rc = iter_fill(it, JOURNAL_REC_HEADER);
		if (rc == LS_OK) {
			size_t max = it->key_id ? ENC_MAX : JOURNAL_MAX_ENTRY;

			rc = rec_parse_max(it->buf + it->pos, it->end - it->pos, max, &r, &why);
			if (rc == LS_NOTFOUND) {
				/* The header checked, so its length is sane. */
				rc = iter_fill(it, JOURNAL_REC_HEADER + get32(it->buf + it->pos + 4));
				if (rc == LS_OK)
					rc = rec_parse_max(it->buf + it->pos, it->end - it->pos,
							   max, &r, &why);
			}
		}
		if (rc == LS_IO)
			return iter_fail(it, LS_IO, err, "read: %s", strerror(errno));
		if (rc == LS_CORRUPT)
			return iter_fail(it, LS_CORRUPT, err, "%s in record %llu", why,
					 (unsigned long long)it->next);
		if (rc == LS_NOTFOUND) {
			rc = iter_at_end(it, it->end == it->pos, "truncated record", err);
			if (rc != LS_OK)
				return rc;
			continue;
		}
		rc = rec_check(&r, it->next, it->seg_first, it->key_id, it->key,
			       r.index >= it->start ? it->plain : NULL, whybuf, sizeof(whybuf));
		if (rc != LS_OK)
			return iter_fail(it, rc, err, "%s", whybuf);
		if (it->where_named != it->seg_first) {
			seg_name(it->where_seg, it->seg_first);
			it->where_named = it->seg_first;
		}
		it->where_off = it->buf_off + it->pos;
		it->pos += r.size;
		it->next++;
		it->last_flags = r.flags;
		if (r.index < it->start)
			continue;
		if (data)
			*data = r.data;
		if (len)
			*len = r.len;
		if (index)
			*index = r.index;
		return LS_OK;
	}
}

void journal_iter_where(const struct journal_iter *it, const char **segment, uint64_t *offset)
{
	if (segment)
		*segment = it->where_seg;
	if (offset)
		*offset = it->where_off;
}

void journal_iter_free(struct journal_iter *it)
{
	if (!it)
		return;
	if (it->fd >= 0)
		close(it->fd);
	ls_wipe(it->key, sizeof(it->key));
	if (it->plain) {
		ls_wipe(it->plain, JOURNAL_MAX_ENTRY);
		free(it->plain);
	}
	free(it->buf);
	free(it->dir);
	free(it);
}

/* ------------------------------------------------------------------ reader */

/*
 * Random access for the read side: the index keeps, for every leaf index,
 * the offset journal_iter_where() gave when the follower passed it, and a
 * query result is then one pread of one record instead of a tile bundle.
 * A hint is only a hint: the record found there must name the index asked
 * for and pass rec_check(), as under an iterator.
 *
 * Reader invariants:
 *  R1. segs[] is ascending by first index and holds no segment below the
 *      retained point last read; a segment leaves it when a listing no
 *      longer shows it or retention moved it out.
 *  R2. A segment object lives while refs > 0: one ref is segs[]'s, one is
 *      taken by each call reading it, so its fd stays open under a pread
 *      even when the segment is dropped meanwhile.  Its fd, key_id and key
 *      are set once, under mu, before ready, and never change afterwards:
 *      a caller holding a ref that saw ready under mu uses them unlocked.
 *  R3. mu guards segs[], refs, ready and the retained cache.  It is held
 *      for lookups and list changes only; the one I/O under it is reading
 *      the small "retained" file after it changed (so that two threads
 *      cannot store a newer and an older value in the wrong order), and
 *      the close() of a dropped segment's fd.
 *  R4. segs[] never goes back to an older listing: threads list the
 *      directory concurrently, and a listing begun before another one was
 *      committed may miss a segment created in between.
 */

/* One pread covers the header and a typical entry; a longer record costs
 * a second one for the rest. */
#define READER_FIRST_READ 1024
/* Hints above this are nonsense: keeps offset + REC_MAX within off_t. */
#define READER_MAX_OFFSET ((uint64_t)INT64_MAX - REC_MAX - READER_FIRST_READ)

struct rd_seg {
	uint64_t first;
	unsigned refs;		/* R2; 0 only while rd_relist builds a list */
	int ready;
	int fd;
	uint32_t key_id;	/* 0: plaintext */
	uint8_t key[LS_AEAD_KEY_LEN];
};

/* Identity of the "retained" file when it was last read. */
struct rd_stamp {
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct journal_reader {
	char *dir;
	int dirfd;
	pthread_mutex_t mu;
	struct rd_seg **segs;	/* R1 */
	size_t nsegs;
	uint64_t list_started;	/* listings begun ... */
	uint64_t list_done;	/* ... and the one segs[] comes from (R4) */
	uint64_t retained;
	int stamp_known;
	struct rd_stamp stamp;
};

/* Drop one ref (under mu); the last one closes and wipes. */
static void rd_seg_put(struct rd_seg *s)
{
	if (--s->refs)
		return;
	if (s->fd >= 0)
		close(s->fd);
	ls_wipe(s->key, sizeof(s->key));
	free(s);
}

/* R1 after the retained point moved to first.  Under mu. */
static void rd_drop_below(struct journal_reader *r, uint64_t first)
{
	size_t k = 0;

	while (k < r->nsegs && r->segs[k]->first < first)
		rd_seg_put(r->segs[k++]);
	if (k == 0)
		return;
	memmove(r->segs, r->segs + k, (r->nsegs - k) * sizeof(*r->segs));
	r->nsegs -= k;
}

static int rd_stamp_eq(const struct rd_stamp *a, const struct rd_stamp *b)
{
	if (a->present != b->present)
		return 0;
	if (!a->present)
		return 1;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The retained point, for every call: a stat, and a read of the file only
 * when it is not the one read last time (journal_set_retained() replaces
 * it, so a new inode or time says it changed). */
static ls_rc rd_retained(struct journal_reader *r, uint64_t *out, struct ls_err *err)
{
	struct rd_stamp s;
	struct stat st;
	uint64_t v = 0;
	ls_rc rc = LS_OK;

	memset(&s, 0, sizeof(s));
	if (fstatat(r->dirfd, RETAINED_FILE, &st, 0) == 0) {
		s.present = 1;
		s.dev = st.st_dev;
		s.ino = st.st_ino;
		s.size = st.st_size;
		s.mtime = st.st_mtim;
	} else if (errno != ENOENT) {
		return ls_err_set(err, LS_IO, "%s/" RETAINED_FILE ": %s", r->dir, strerror(errno));
	}
	pthread_mutex_lock(&r->mu);
	if (!r->stamp_known || !rd_stamp_eq(&r->stamp, &s)) {
		/* Read after the stat: the value is at least as new as the
		 * stamp stored with it, so a later change is still seen. */
		if (s.present)
			rc = journal_retained(r->dir, &v, err);
		if (rc == LS_OK) {
			r->stamp = s;
			r->stamp_known = 1;
			r->retained = v;
			rd_drop_below(r, v);
		}
	}
	*out = r->retained;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* Bring segs[] up to a fresh listing of the directory (R1): segments
 * still listed keep their object (and fd), new ones get one, the others
 * are dropped. */
static ls_rc rd_relist(struct journal_reader *r, struct ls_err *err)
{
	struct rd_seg **ns;
	uint64_t *v;
	size_t n, m = 0, i = 0, j = 0;
	int oom = 0;
	uint64_t seq;
	ls_rc rc;

	pthread_mutex_lock(&r->mu);
	seq = ++r->list_started;
	pthread_mutex_unlock(&r->mu);
	rc = list_segments(r->dir, &v, &n, err);
	if (rc != LS_OK)
		return rc;
	ns = malloc((n ? n : 1) * sizeof(*ns));
	if (!ns) {
		free(v);
		return ls_err_set(err, LS_NOMEM, "out of memory listing %s", r->dir);
	}
	pthread_mutex_lock(&r->mu);
	if (seq < r->list_done) {
		/* A listing begun after this one is in place already: this
		 * one may lack a segment created in between. */
		pthread_mutex_unlock(&r->mu);
		free(ns);
		free(v);
		return LS_OK;
	}
	for (size_t k = 0; k < n; k++) {
		struct rd_seg *s;

		if (v[k] < r->retained)
			continue;
		while (i < r->nsegs && r->segs[i]->first < v[k])
			i++;
		if (i < r->nsegs && r->segs[i]->first == v[k]) {
			ns[m++] = r->segs[i++];
			continue;
		}
		/* refs 0 marks it new until the list is committed. */
		s = calloc(1, sizeof(*s));
		if (!s) {
			oom = 1;
			break;
		}
		s->first = v[k];
		s->fd = -1;
		ns[m++] = s;
	}
	if (oom) {
		for (size_t k = 0; k < m; k++)
			if (ns[k]->refs == 0)
				free(ns[k]);
		pthread_mutex_unlock(&r->mu);
		free(ns);
		free(v);
		return ls_err_set(err, LS_NOMEM, "out of memory listing %s", r->dir);
	}
	/* Both lists ascend: an old segment not in the new one is dropped. */
	for (i = 0; i < r->nsegs; i++) {
		while (j < m && ns[j]->first < r->segs[i]->first)
			j++;
		if (j == m || ns[j] != r->segs[i])
			rd_seg_put(r->segs[i]);
	}
	for (size_t k = 0; k < m; k++)
		if (ns[k]->refs == 0)
			ns[k]->refs = 1;
	free(r->segs);
	r->segs = ns;
	r->nsegs = m;
	r->list_done = seq;
	pthread_mutex_unlock(&r->mu);
	free(v);
	return LS_OK;
}

/* The segment that would hold index: the last one starting at or before
 * it, with a ref taken; *last when no later one is cached.  Under mu. */
static struct rd_seg *rd_find(struct journal_reader *r, uint64_t index, int *last)
{
	size_t lo = 0, hi = r->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->segs[mid]->first <= index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	*last = lo == r->nsegs;
	r->segs[lo - 1]->refs++;
	return r->segs[lo - 1];
}

/* Open s and check its header and key, once (R2).  I/O without the lock;
 * when two threads race, the first to finish installs its fd. */
static ls_rc rd_seg_prepare(struct journal_reader *r, struct rd_seg *s, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t h[JOURNAL_SEG_HEADER], key[LS_AEAD_KEY_LEN];
	struct keyring *kr = NULL;
	uint32_t key_id = 0;
	const char *why;
	struct stat st;
	size_t got = 0;
	int ready, fd;
	ls_rc rc;

	pthread_mutex_lock(&r->mu);
	ready = s->ready;
	pthread_mutex_unlock(&r->mu);
	if (ready)
		return LS_OK;
	seg_name(name, s->first);
	fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ls_err_set(err, LS_NOTFOUND, "%s/%s: segment is gone", r->dir, name);
		return ls_err_set(err, LS_IO, "%s/%s: %s", r->dir, name, strerror(errno));
	}
	/* A segment without a record may still get a new header (and data
	 * key) in place: journal_rotate(), or recovery of a torn header.
	 * Once a record is there the header is final, so the size is taken
	 * before the header is read, and an empty segment is not cached. */
	if (fstat(fd, &st) != 0 ||
	    (st.st_size > JOURNAL_SEG_HEADER && pread_all(fd, h, sizeof(h), 0, &got) != 0)) {
		rc = ls_err_set(err, LS_IO, "%s/%s offset 0: %s", r->dir, name, strerror(errno));
		close(fd);
		return rc;
	}
	if (st.st_size <= JOURNAL_SEG_HEADER || got < sizeof(h)) {
		close(fd);
		return ls_err_set(err, LS_NOTFOUND, "%s/%s: segment holds no record yet", r->dir,
				  name);
	}
	why = seg_header_check(h, s->first);
	if (why) {
		close(fd);
		return ls_err_set(err, LS_CORRUPT, "%s/%s offset 0: %s", r->dir, name, why);
	}
	rc = seg_key(r->dir, name, h, &kr, &key_id, key, err);
	if (rc != LS_OK) {
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&r->mu);
	if (!s->ready) {
		s->fd = fd;
		s->key_id = key_id;
		memcpy(s->key, key, sizeof(key));
		s->ready = 1;
		fd = -1;
	}
	pthread_mutex_unlock(&r->mu);
	if (fd >= 0)
		close(fd);
	ls_wipe(key, sizeof(key));
	return LS_OK;
}

/* Read and check the record of index at offset of s (ready, ref held). */
static ls_rc rd_read(struct journal_reader *r, struct rd_seg *s, uint64_t index, uint64_t offset,
		     int last, uint8_t **data, size_t *len, struct ls_err *err)
{
	char name[SEG_NAME_LEN + 1], whybuf[160];
	uint8_t head[READER_FIRST_READ], *big = NULL, *p = head, *out;
	size_t got, more, need, max = s->key_id ? ENC_MAX : JOURNAL_MAX_ENTRY;
	unsigned long long off = offset, idx = index;
	const char *why;
	struct rec rec;
	ls_rc rc;

	seg_name(name, s->first);
	if (pread_all(s->fd, head, sizeof(head), offset, &got) != 0)
		return ls_err_set(err, LS_IO, "%s/%s offset %llu: read: %s", r->dir, name, off,
				  strerror(errno));
	/* A stale hint may point anywhere: only a record header that names
	 * index is the record asked for; anything else is for the caller to
	 * look up elsewhere, not damage. */
	if (got < JOURNAL_REC_HEADER || get16(head) != REC_MAGIC || get64(head + 8) != index)
		return ls_err_set(err, LS_NOTFOUND, "%s/%s offset %llu: no record %llu there",
				  r->dir, name, off, idx);
	need = JOURNAL_REC_HEADER + (size_t)get32(head + 4);
	if (need > got && got == sizeof(head) && need <= JOURNAL_REC_HEADER + max) {
		big = malloc(need);
		if (!big)
			return ls_err_set(err, LS_NOMEM, "out of memory reading record %llu", idx);
		memcpy(big, head, got);
		if (pread_all(s->fd, big + got, need - got, offset + got, &more) != 0) {
			rc = ls_err_set(err, LS_IO, "%s/%s offset %llu: read: %s", r->dir, name,
					off, strerror(errno));
			free(big);
			return rc;
		}
		got += more;
		p = big;
	}
	rc = rec_parse_max(p, got, max, &rec, &why);
	if (rc == LS_NOTFOUND && last) {
		/* The end of the segment being written: not (yet) whole. */
		free(big);
		return ls_err_set(err, LS_NOTFOUND, "%s/%s offset %llu: record %llu is not complete",
				  r->dir, name, off, idx);
	}
	if (rc != LS_OK) {
		free(big);
		return ls_err_set(err, LS_CORRUPT, "%s/%s offset %llu: %s in record %llu", r->dir,
				  name, off, why, idx);
	}
	out = malloc(s->key_id ? rec.len - LS_AEAD_OVERHEAD : rec.len);
	if (!out) {
		free(big);
		return ls_err_set(err, LS_NOMEM, "out of memory reading record %llu", idx);
	}
	rc = rec_check(&rec, index, s->first, s->key_id, s->key, out, whybuf, sizeof(whybuf));
	if (rc != LS_OK) {
		free(out);
		free(big);
		return ls_err_set(err, rc, "%s/%s offset %llu: %s", r->dir, name, off, whybuf);
	}
	if (!s->key_id)
		memcpy(out, rec.data, rec.len);
	*data = out;
	*len = rec.len;
	free(big);
	return LS_OK;
}

ls_rc journal_reader_open(const char *dir, struct journal_reader **out, struct ls_err *err)
{
	struct journal_reader *r;
	uint64_t kept;
	ls_rc rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	r->dirfd = -1;
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		free(r);
		return ls_err_set(err, LS_NOMEM, "cannot create a mutex");
	}
	r->dir = strdup(dir);
	if (!r->dir) {
		journal_reader_free(r);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		rc = ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO, "%s: %s", dir,
				strerror(errno));
		journal_reader_free(r);
		return rc;
	}
	rc = rd_retained(r, &kept, err);
	if (rc == LS_OK)
		rc = rd_relist(r, err);
	if (rc != LS_OK) {
		journal_reader_free(r);
		return rc;
	}
	*out = r;
	return LS_OK;
}

ls_rc journal_reader_get(struct journal_reader *r, uint64_t index, uint64_t offset,
			 uint8_t **data, size_t *len, struct ls_err *err)
{
	struct journal_pass pass = { 0 };

	return journal_reader_get_in(r, &pass, index, offset, data, len, err);
}

ls_rc journal_reader_get_in(struct journal_reader *r, struct journal_pass *pass, uint64_t index,
			    uint64_t offset, uint8_t **data, size_t *len, struct ls_err *err)
{
	uint64_t kept, tried = 0;
	int relisted = 0, have_tried = 0;
	ls_rc rc;

	*data = NULL;
	*len = 0;
	if (!pass->known) {
		rc = rd_retained(r, &pass->kept, err);
		if (rc != LS_OK)
			return rc;
		pass->known = 1;
	}
	kept = pass->kept;
	if (index < kept)
		return ls_err_set(err, LS_NOTFOUND,
				  "%s: record %llu was moved out by retention (kept from %llu)",
				  r->dir, (unsigned long long)index, (unsigned long long)kept);
	if (offset < JOURNAL_SEG_HEADER || offset > READER_MAX_OFFSET)
		return ls_err_set(err, LS_NOTFOUND, "%s: no record can start at offset %llu",
				  r->dir, (unsigned long long)offset);
	for (;;) {
		struct rd_seg *s;
		size_t nsegs;
		int last = 0;

		pthread_mutex_lock(&r->mu);
		s = rd_find(r, index, &last);
		nsegs = r->nsegs;
		pthread_mutex_unlock(&r->mu);
		if (s && have_tried && s->first == tried) {
			/* The listing brought no later segment: err still
			 * says why the read there found nothing. */
			pthread_mutex_lock(&r->mu);
			rd_seg_put(s);
			pthread_mutex_unlock(&r->mu);
			return LS_NOTFOUND;
		}
		if (s) {
			rc = rd_seg_prepare(r, s, err);
			if (rc == LS_OK)
				rc = rd_read(r, s, index, offset, last, data, len, err);
			tried = s->first;
			have_tried = 1;
			pthread_mutex_lock(&r->mu);
			rd_seg_put(s);
			pthread_mutex_unlock(&r->mu);
			/* Only the last segment can end before index: a later
			 * one may have been created since the list was made. */
			if (rc != LS_NOTFOUND || !last || relisted)
				return rc;
		} else if (nsegs || relisted) {
			/* Segments are only ever added after the last one. */
			return ls_err_set(err, LS_NOTFOUND, "%s: no segment holds record %llu",
					  r->dir, (unsigned long long)index);
		}
		rc = rd_relist(r, err);
		if (rc != LS_OK)
			return rc;
		relisted = 1;
	}
}

void journal_reader_free(struct journal_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsegs; i++)
		rd_seg_put(r->segs[i]);
	free(r->segs);
	if (r->dirfd >= 0)
		close(r->dirfd);
	pthread_mutex_destroy(&r->mu);
	free(r->dir);
	free(r);
}
