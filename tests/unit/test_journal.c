/*
 * test_journal.c - unit tests of the journal (src/store/journal_*.c): the byte
 * format against an encoder written here from docs/FORMAT.md, round trips
 * across segment rotation, recovery of torn tails, detection of corruption
 * with its location, and the sticky failure / ENOSPC rules under injected
 * faults.  Every test works in its own directory under /tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "store/journal.h"
#include "store/journal_int.h"

struct fx {
	char root[64];
	char dir[96];
};

/* ----------------------------------------------------------------- helpers */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/ls-journal-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/journal", fx->root);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Entry i: its index in text, padded to a length that varies with i. */
static size_t entry_make(uint64_t i, size_t base, char *out, size_t cap)
{
	size_t len = base + (size_t)(i * 7 % 23);
	int n;

	assert_true(len < cap);
	memset(out, 'a' + (int)(i % 26), len);
	n = snprintf(out, cap, "entry-%llu;", (unsigned long long)i);
	out[n] = ';';
	return len > (size_t)n ? len : (size_t)n + 1;
}

/* Append a batch of n entries starting at *next; checks the assigned index. */
static ls_rc append_n(struct journal *j, uint64_t *next, size_t n, size_t base)
{
	struct iovec iov[64];
	static char bufs[64][4096];
	uint64_t first = UINT64_MAX;
	struct ls_err err = { "" };
	ls_rc rc;

	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = entry_make(*next + i, base, bufs[i], sizeof(bufs[i]));
	}
	rc = journal_append(j, iov, n, &first, &err);
	if (rc == LS_OK) {
		assert_int_equal(first, *next);
		*next += n;
	}
	return rc;
}

/* Read [start, end) with an iterator, checking every entry, then expect rc_end. */
static void read_check(const char *dir, uint64_t start, uint64_t end, size_t base, int strict,
		       ls_rc rc_end)
{
	struct journal_iter *it;
	struct ls_err err = { "" };
	const uint8_t *data;
	size_t len;
	uint64_t idx;
	char want[4096];

	if (strict)
		assert_int_equal(journal_iter_open_strict(dir, start, &it, &err), LS_OK);
	else
		assert_int_equal(journal_iter_open(dir, start, &it, &err), LS_OK);
	for (uint64_t i = start; i < end; i++) {
		size_t wl = entry_make(i, base, want, sizeof(want));

		assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), LS_OK);
		assert_int_equal(idx, i);
		assert_int_equal(len, wl);
		assert_memory_equal(data, want, wl);
	}
	assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), rc_end);
	journal_iter_free(it);
}

static void seg_path(const struct fx *fx, uint64_t first, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%016llx.seg", fx->dir, (unsigned long long)first);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void file_truncate(const char *path, off_t size)
{
	assert_int_equal(truncate(path, size), 0);
}

static void file_append(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void file_flip(const char *path, off_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= mask;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* Byte size of record i as written (header + entry). */
static size_t rec_size(uint64_t i, size_t base)
{
	char tmp[4096];

	return JOURNAL_REC_HEADER + entry_make(i, base, tmp, sizeof(tmp));
}

static struct journal *open_ok(const struct fx *fx, uint64_t segsize, uint64_t min_size,
			       struct store_recovery *rec)
{
	struct journal_opts o = { .segment_size = segsize, .min_size = min_size };
	struct journal *j = NULL;
	struct ls_err err = { "" };
	ls_rc rc = journal_open(fx->dir, &o, &j, rec, &err);

	if (rc != LS_OK)
		fail_msg("journal_open: %s: %s", ls_rc_name(rc), err.msg);
	return j;
}

static ls_rc open_rc(const struct fx *fx, uint64_t min_size, struct ls_err *err)
{
	struct journal_opts o = { .segment_size = 0, .min_size = min_size };
	struct journal *j = NULL;
	ls_rc rc = journal_open(fx->dir, &o, &j, NULL, err);

	journal_close(j);
	return rc;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A record encoded from the format description, independently of journal_record.c. */
static size_t encode_record(uint8_t *out, uint16_t flags, uint64_t index, const char *payload)
{
	size_t n = strlen(payload);
	uLong crc;

	put_be(out, 0x4C52, 2);
	put_be(out + 2, flags, 2);
	put_be(out + 4, n, 4);
	put_be(out + 8, index, 8);
	memcpy(out + 20, payload, n);
	crc = crc32(0, out, 16);
	crc = crc32(crc, out + 20, (uInt)n);
	put_be(out + 16, crc, 4);
	return 20 + n;
}

/* The framing alone (journal_record.c): jnl_rec_encode() writes the bytes
 * of the format description; a sealed record opens under its own segment
 * and index only. */
static void test_record_encode(void **state)
{
	static const uint8_t key[LS_AEAD_KEY_LEN] = { 9, 8, 7 };
	const char *payload = "{\"a\":1}";
	uint8_t want[128], got[128], plain[64];
	char why[160];
	const char *w;
	struct rec r, moved;
	size_t n, size;

	(void)state;
	for (uint16_t flags = 0; flags <= 3; flags++) {
		n = encode_record(want, flags, 0x0102030405060708ull + flags, payload);
		assert_int_equal(jnl_rec_encode(got, flags, 0x0102030405060708ull + flags, payload,
						strlen(payload), 0, 0, NULL, &size),
				 LS_OK);
		assert_int_equal(size, n);
		assert_memory_equal(got, want, n);
	}

	assert_int_equal(jnl_rec_encode(got, JOURNAL_FLAG_COMMIT, 5, payload, strlen(payload), 4, 3,
					key, &size),
			 LS_OK);
	assert_int_equal(size, JOURNAL_REC_HEADER + strlen(payload) + LS_AEAD_OVERHEAD);
	assert_int_equal(jnl_rec_parse_max(got, size, ENC_MAX, &r, &w), LS_OK);
	assert_int_equal(r.index, 5);
	assert_int_equal(r.flags, JOURNAL_FLAG_COMMIT);
	moved = r;
	assert_int_equal(jnl_rec_check(&moved, 5, 0, 3, key, plain, why, sizeof(why)), LS_TAMPERED);
	moved = r;
	assert_int_equal(jnl_rec_check(&moved, 6, 4, 3, key, plain, why, sizeof(why)), LS_CORRUPT);
	assert_int_equal(jnl_rec_check(&r, 5, 4, 3, key, plain, why, sizeof(why)), LS_OK);
	assert_int_equal(r.len, strlen(payload));
	assert_memory_equal(r.data, payload, r.len);
}

/* ------------------------------------------------------------------- tests */

static void test_format_bytes(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	struct iovec iov[2] = { { "hello", 5 }, { "world!", 6 } };
	struct ls_err err = { "" };
	uint8_t want[128], got[256];
	size_t n = 0, got_n;
	uint64_t first = 99;
	char path[160];
	int fd;

	assert_int_equal(journal_append(j, iov, 2, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	assert_int_equal(journal_size(j), 2);
	journal_close(j);

	memcpy(want, "LSJOURN1", 8);
	put_be(want + 8, 1, 4);
	put_be(want + 12, 0, 4);
	put_be(want + 16, 0, 8);
	put_be(want + 24, 0, 4);
	put_be(want + 28, crc32(0, want, 28), 4);
	n = 32;
	n += encode_record(want + n, 2, 0, "hello");  /* FIRST */
	n += encode_record(want + n, 1, 1, "world!"); /* COMMIT */

	seg_path(fx, 0, path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	got_n = (size_t)read(fd, got, sizeof(got));
	close(fd);
	assert_int_equal(got_n, n);
	assert_memory_equal(got, want, n);
}

static void test_record_decode(void **state)
{
	uint8_t rec[64], bad[64];
	const uint8_t *data;
	size_t len, consumed, n;
	uint64_t index;
	uint16_t flags;

	(void)state;
	n = encode_record(rec, 1, 0x0102030405060708ull, "payload");
	assert_int_equal(journal_record_decode(rec, n, &data, &len, &index, &flags, &consumed),
			 LS_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "payload", 7);
	assert_int_equal(index, 0x0102030405060708ull);
	assert_int_equal(flags, 1);
	assert_int_equal(consumed, n);
	/* Every proper prefix is incomplete, never accepted. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(journal_record_decode(rec, k, &data, &len, &index, &flags,
						       &consumed),
				 LS_NOTFOUND);
	/* A flip anywhere but the length field is corruption. */
	for (size_t k = 0; k < n; k++) {
		if (k >= 4 && k < 8)
			continue;
		memcpy(bad, rec, n);
		bad[k] ^= 0x10;
		assert_int_equal(journal_record_decode(bad, n, &data, &len, &index, &flags,
						       &consumed),
				 LS_CORRUPT);
	}
	memcpy(bad, rec, n);
	put_be(bad + 4, 0, 4); /* empty payload is not a record */
	assert_int_equal(journal_record_decode(bad, n, NULL, NULL, NULL, NULL, NULL), LS_CORRUPT);
	put_be(bad + 4, 65536, 4);
	assert_int_equal(journal_record_decode(bad, n, NULL, NULL, NULL, NULL, NULL), LS_CORRUPT);
}

static void test_roundtrip_rotation(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 512, 0, NULL);
	uint64_t next = 0, segs = 0;
	char path[160];

	for (int b = 0; b < 40; b++)
		assert_int_equal(append_n(j, &next, 1 + (size_t)(b % 7), 10 + (size_t)b * 3), LS_OK);
	journal_close(j);
	/* Read back with a fresh writer's view and with iterators. */
	j = open_ok(fx, 512, next, NULL);
	assert_int_equal(journal_size(j), next);
	journal_close(j);
	for (uint64_t i = 0; i < next; i++) {
		seg_path(fx, i, path, sizeof(path));
		if (access(path, F_OK) == 0)
			segs++;
	}
	assert_true(segs > 5);
	/* Entries differ in size per batch base; check via per-record sizes. */
	{
		struct journal_iter *it;
		struct ls_err err = { "" };
		const uint8_t *data;
		size_t len;
		uint64_t idx, i = 0;

		assert_int_equal(journal_iter_open_strict(fx->dir, 0, &it, &err), LS_OK);
		for (int b = 0; b < 40; b++) {
			for (size_t k = 0; k < 1 + (size_t)(b % 7); k++, i++) {
				char want[4096];
				size_t wl = entry_make(i, 10 + (size_t)b * 3, want, sizeof(want));

				assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), LS_OK);
				assert_int_equal(idx, i);
				assert_int_equal(len, wl);
				assert_memory_equal(data, want, wl);
			}
		}
		assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), LS_NOTFOUND);
		journal_iter_free(it);
	}
}

static void test_iter_seek(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 300, 0, NULL);
	uint64_t next = 0;

	for (int b = 0; b < 30; b++)
		assert_int_equal(append_n(j, &next, 3, 20), LS_OK);
	journal_close(j);
	for (uint64_t s = 0; s <= next; s += 7)
		read_check(fx->dir, s, next, 20, 1, LS_NOTFOUND);
	read_check(fx->dir, next, next, 20, 0, LS_NOTFOUND);
	read_check(fx->dir, next + 100, next + 100, 20, 0, LS_NOTFOUND);
}

static void test_reopen_continues(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j = open_ok(fx, 0, 0, &rec);
	uint64_t next = 0;

	assert_int_equal(rec.cut, 0);
	assert_int_equal(append_n(j, &next, 5, 50), LS_OK);
	journal_close(j);
	j = open_ok(fx, 0, 5, &rec);
	assert_int_equal(rec.cut, 0);
	assert_int_equal(journal_size(j), 5);
	assert_int_equal(append_n(j, &next, 4, 50), LS_OK);
	assert_int_equal(journal_size(j), 9);
	journal_close(j);
	read_check(fx->dir, 0, 9, 50, 1, LS_NOTFOUND);
}

static void test_single_writer(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	struct ls_err err = { "" };

	assert_int_equal(open_rc(fx, 0, &err), LS_BUSY);
	journal_close(j);
	assert_int_equal(open_rc(fx, 0, &err), LS_OK);
}

/* Batches A = 0..2 and B = 3..5 in one segment; returns the end of A. */
static off_t two_batches(const struct fx *fx, char *path, size_t cap)
{
	struct journal *j = open_ok(fx, 0, 0, NULL);
	uint64_t next = 0;

	assert_int_equal(append_n(j, &next, 3, 40), LS_OK);
	assert_int_equal(append_n(j, &next, 3, 40), LS_OK);
	journal_close(j);
	seg_path(fx, 0, path, cap);
	return 32 + (off_t)(rec_size(0, 40) + rec_size(1, 40) + rec_size(2, 40));
}

static void test_torn_mid_record(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j;
	char path[160];
	off_t end_a = two_batches(fx, path, sizeof(path)), size = file_size(path);
	uint64_t next;

	file_truncate(path, size - 5);
	j = open_ok(fx, 0, 3, &rec);
	assert_int_equal(rec.cut, 1);
	assert_string_equal(rec.segment, "0000000000000000.seg");
	assert_int_equal(rec.offset, end_a);
	assert_int_equal(rec.bytes, size - 5 - end_a);
	assert_int_equal(rec.records, 2); /* 3 and 4 were whole, never acknowledged */
	assert_int_equal(rec.first, 3);	  /* the leaf range cut: 3..4 */
	assert_int_equal(rec.last, 4);
	assert_int_equal(journal_size(j), 3);
	assert_int_equal(file_size(path), end_a);
	next = 3;
	assert_int_equal(append_n(j, &next, 2, 40), LS_OK);
	journal_close(j);
	read_check(fx->dir, 0, 5, 40, 1, LS_NOTFOUND);
	j = open_ok(fx, 0, 5, &rec);
	assert_int_equal(rec.cut, 0);
	journal_close(j);
}

static void test_torn_at_record_boundary(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j;
	char path[160];
	off_t end_a = two_batches(fx, path, sizeof(path));
	off_t cut = end_a + (off_t)rec_size(3, 40);

	/* Record 3 whole, the rest of B gone: B has no COMMIT. */
	file_truncate(path, cut);
	j = open_ok(fx, 0, 0, &rec);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.offset, end_a);
	assert_int_equal(rec.records, 1);
	assert_int_equal(journal_size(j), 3);
	journal_close(j);
}

static void test_torn_garbage(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j;
	char path[160];
	uint8_t junk[1000];
	off_t size;
	uint64_t next = 6;

	two_batches(fx, path, sizeof(path));
	size = file_size(path);
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	junk[0] = 0x4C; /* starts like a record */
	junk[1] = 0x52;
	file_append(path, junk, sizeof(junk));
	j = open_ok(fx, 0, 6, &rec);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.offset, size);
	assert_int_equal(rec.bytes, sizeof(junk));
	assert_int_equal(rec.records, 0);
	assert_int_equal(journal_size(j), 6);
	assert_int_equal(append_n(j, &next, 1, 40), LS_OK);
	journal_close(j);
	read_check(fx->dir, 0, 7, 40, 1, LS_NOTFOUND);
}

static void test_torn_zeros(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j;
	char path[160];
	static uint8_t zeros[4096];
	off_t size;
	uint64_t next = 6;

	two_batches(fx, path, sizeof(path));
	size = file_size(path);
	file_append(path, zeros, sizeof(zeros));
	j = open_ok(fx, 0, 0, &rec);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.offset, size);
	assert_int_equal(rec.bytes, sizeof(zeros));
	assert_int_equal(journal_size(j), 6);
	assert_int_equal(append_n(j, &next, 2, 40), LS_OK);
	journal_close(j);
	read_check(fx->dir, 0, 8, 40, 1, LS_NOTFOUND);
}

/* Issue 12 item 5: a damaged COMMIT record of a complete batch, followed
 * by another complete batch, looked like one torn batch: recovery cut both,
 * acknowledged as they were.  The later batch's FIRST record shows that
 * the damaged one was finished: nothing may be cut. */
static void test_damaged_commit_then_later_batch(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	struct ls_err err = { "" };
	uint64_t next = 0;
	char path[160], want[96];
	off_t commit_b = 32 + (off_t)(rec_size(0, 30) + rec_size(1, 30) + rec_size(2, 30) +
				      rec_size(3, 30));
	off_t size;

	assert_int_equal(append_n(j, &next, 3, 30), LS_OK); /* A: 0..2 */
	assert_int_equal(append_n(j, &next, 2, 30), LS_OK); /* B: 3..4 */
	assert_int_equal(append_n(j, &next, 2, 30), LS_OK); /* C: 5..6 */
	journal_close(j);
	seg_path(fx, 0, path, sizeof(path));
	size = file_size(path);
	file_flip(path, commit_b + 25, 0x01); /* record 4, B's COMMIT */
	assert_int_equal(open_rc(fx, 0, &err), LS_CORRUPT);
	snprintf(want, sizeof(want), "offset %lld: bad checksum in record 4", (long long)commit_b);
	if (!strstr(err.msg, want))
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	assert_int_equal(file_size(path), size); /* B and C stay */
}

/* A crash leaves at most one unfinished batch: a longer tail (here zeros
 * over what were complete batches) is not cut. */
static void test_tail_longer_than_a_batch(void **state)
{
	struct fx *fx = *state;
	struct journal_opts o = { .max_batch = 4096 };
	struct store_recovery rec;
	struct journal *j = NULL;
	struct ls_err err = { "" };
	static uint8_t zeros[8192];
	uint64_t next = 0;
	char path[160];
	off_t size;

	assert_int_equal(journal_open(fx->dir, &o, &j, NULL, &err), LS_OK);
	assert_int_equal(append_n(j, &next, 3, 30), LS_OK);
	journal_close(j);
	seg_path(fx, 0, path, sizeof(path));
	size = file_size(path);
	file_append(path, zeros, sizeof(zeros));
	assert_int_equal(journal_open(fx->dir, &o, &j, &rec, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "refusing to cut"));
	assert_int_equal(file_size(path), size + (off_t)sizeof(zeros));
	/* One batch's worth is a torn tail: cut, and said so. */
	file_truncate(path, size + 4000);
	assert_int_equal(journal_open(fx->dir, &o, &j, &rec, &err), LS_OK);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.bytes, 4000);
	assert_int_equal(rec.first, 3);
	assert_int_equal(journal_size(j), 3);
	/* The writer keeps to the same bound. */
	{
		static char big[5000];
		struct iovec iov = { big, sizeof(big) };
		uint64_t first;

		memset(big, 'x', sizeof(big));
		assert_int_equal(journal_append(j, &iov, 1, &first, &err), LS_LIMIT);
		assert_int_equal(journal_size(j), 3);
		assert_int_equal(append_n(j, &next, 1, 30), LS_OK);
	}
	journal_close(j);
}

static void test_torn_below_min_size(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char path[160], want[64];
	off_t end_a = two_batches(fx, path, sizeof(path)), size = file_size(path);
	off_t bad = end_a + (off_t)(rec_size(3, 40) + rec_size(4, 40));

	file_truncate(path, size - 5);
	/* B was covered by a signed checkpoint of size 6: not cuttable. */
	assert_int_equal(open_rc(fx, 6, &err), LS_CORRUPT);
	snprintf(want, sizeof(want), "0000000000000000.seg offset %lld:", (long long)bad);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(file_size(path), size - 5); /* untouched */
	/* With no signed record in B, it is a torn tail again. */
	assert_int_equal(open_rc(fx, 3, &err), LS_OK);
	assert_int_equal(file_size(path), end_a);
}

static void test_bitflip_committed(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	struct ls_err err = { "" };
	uint64_t next = 0;
	char path[160], want[96];
	off_t rec1 = 32 + (off_t)rec_size(0, 30);
	off_t size;

	assert_int_equal(append_n(j, &next, 3, 30), LS_OK);
	assert_int_equal(append_n(j, &next, 2, 30), LS_OK);
	assert_int_equal(append_n(j, &next, 2, 30), LS_OK);
	journal_close(j);
	seg_path(fx, 0, path, sizeof(path));
	size = file_size(path);
	file_flip(path, rec1 + 25, 0x01);
	assert_int_equal(open_rc(fx, 0, &err), LS_CORRUPT);
	snprintf(want, sizeof(want), "journal/0000000000000000.seg offset %lld: bad checksum in record 1",
		 (long long)rec1);
	if (!strstr(err.msg, want))
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	assert_int_equal(file_size(path), size); /* never silently repaired */
	/* The iterators report it at the same place. */
	read_check(fx->dir, 0, 1, 30, 0, LS_CORRUPT);
	{
		struct journal_iter *it;
		const char *seg;
		uint64_t off;
		const uint8_t *d;
		size_t l;
		uint64_t idx;

		assert_int_equal(journal_iter_open_strict(fx->dir, 0, &it, &err), LS_OK);
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_OK);
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_CORRUPT);
		assert_non_null(strstr(err.msg, want));
		journal_iter_where(it, &seg, &off);
		assert_string_equal(seg, "0000000000000000.seg");
		assert_int_equal(off, rec1);
		/* Sticky. */
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_CORRUPT);
		journal_iter_free(it);
	}
}

static void test_bitflip_earlier_segment(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 200, 0, NULL);
	struct journal_iter *it;
	struct ls_err err = { "" };
	uint64_t next = 0, idx, off;
	const uint8_t *d;
	const char *seg;
	size_t l;
	char path[160], want[96];
	off_t rec2 = 32 + (off_t)(rec_size(0, 30) + rec_size(1, 30));

	for (int b = 0; b < 10; b++)
		assert_int_equal(append_n(j, &next, 4, 30), LS_OK);
	journal_close(j);
	seg_path(fx, 4, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0); /* rotated after the first batch */
	seg_path(fx, 0, path, sizeof(path));
	file_flip(path, rec2 + 8 + 7, 0x04); /* the leaf index field of record 2 */
	/* Open trusts the earlier segments (only their headers are read)... */
	assert_int_equal(open_rc(fx, next, &err), LS_OK);
	/* ...and the iterator finds the damage, with its location. */
	assert_int_equal(journal_iter_open(fx->dir, 0, &it, &err), LS_OK);
	assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_OK);
	assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_OK);
	assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_CORRUPT);
	snprintf(want, sizeof(want), "0000000000000000.seg offset %lld: bad checksum in record 2",
		 (long long)rec2);
	if (!strstr(err.msg, want))
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	journal_iter_where(it, &seg, &off);
	assert_string_equal(seg, "0000000000000000.seg");
	assert_int_equal(off, rec2);
	journal_iter_free(it);
	/* Seeking past it to a later segment still works. */
	read_check(fx->dir, 4, next, 30, 1, LS_NOTFOUND);
}

static void test_missing_segment(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 100, 0, NULL);
	struct ls_err err = { "" };
	uint64_t next = 0;
	char path[160];

	/* Big first batch: segment 0's size cannot show that 3.seg is gone. */
	assert_int_equal(append_n(j, &next, 3, 1000), LS_OK);
	for (int b = 0; b < 4; b++)
		assert_int_equal(append_n(j, &next, 1, 100), LS_OK);
	journal_close(j);
	seg_path(fx, 4, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	/* Open cannot tell without reading every segment; the iterator can. */
	assert_int_equal(open_rc(fx, 0, &err), LS_OK);
	{
		struct journal_iter *it;
		const uint8_t *d;
		size_t l;
		uint64_t idx;

		assert_int_equal(journal_iter_open(fx->dir, 0, &it, &err), LS_OK);
		for (int i = 0; i < 4; i++)
			assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_OK);
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_CORRUPT);
		assert_non_null(strstr(err.msg, "0000000000000004.seg"));
		assert_non_null(strstr(err.msg, "missing"));
		journal_iter_free(it);
	}
	/* The first segment missing is seen at open. */
	seg_path(fx, 0, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(open_rc(fx, 0, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "missing"));
}

static void test_missing_segment_small(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 100, 0, NULL);
	struct ls_err err = { "" };
	uint64_t next = 0;
	char path[160];

	for (int b = 0; b < 5; b++)
		assert_int_equal(append_n(j, &next, 3, 10), LS_OK);
	journal_close(j);
	seg_path(fx, 3, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	/* 0.seg would need to hold 6 records now, which it is too short for. */
	assert_int_equal(open_rc(fx, 0, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "0000000000000000.seg"));
}

static void test_bad_segment_header(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 100, 0, NULL);
	struct ls_err err = { "" };
	uint64_t next = 0;
	char path[160];

	for (int b = 0; b < 3; b++)
		assert_int_equal(append_n(j, &next, 3, 10), LS_OK);
	journal_close(j);
	seg_path(fx, 3, path, sizeof(path));
	file_flip(path, 20, 0x01); /* first index field of a middle segment */
	assert_int_equal(open_rc(fx, 0, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "0000000000000003.seg offset 0:"));
	read_check(fx->dir, 0, 3, 10, 0, LS_CORRUPT);
	file_flip(path, 20, 0x01);
	assert_int_equal(open_rc(fx, 0, &err), LS_OK);
	seg_path(fx, 6, path, sizeof(path));
	file_flip(path, 3, 0x20); /* magic of the last one */
	assert_int_equal(open_rc(fx, 0, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "0000000000000006.seg offset 0:"));
	file_flip(path, 3, 0x20);
	assert_int_equal(open_rc(fx, 0, &err), LS_OK);
	/* A malformed segment name is not silently skipped. */
	snprintf(path, sizeof(path), "%s/00000000000000AB.seg", fx->dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(open_rc(fx, 0, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "00000000000000AB.seg"));
	assert_int_equal(unlink(path), 0);
}

static void test_torn_segment_header(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j = open_ok(fx, 100, 0, NULL);
	uint64_t next = 0;
	char path[160];

	for (int b = 0; b < 3; b++)
		assert_int_equal(append_n(j, &next, 3, 10), LS_OK);
	journal_close(j);
	/* A crash while creating segment 9: 10 bytes of its header. */
	seg_path(fx, 6, path, sizeof(path));
	{
		char p9[160];
		uint8_t h[10];
		int fd, rfd = open(path, O_RDONLY);

		assert_true(rfd >= 0);
		assert_int_equal(read(rfd, h, sizeof(h)), 10);
		close(rfd);
		seg_path(fx, 9, p9, sizeof(p9));
		fd = open(p9, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, h, sizeof(h)), 10);
		close(fd);
		/* Strict readers call it what it is; followers wait. */
		read_check(fx->dir, 0, 9, 10, 1, LS_CORRUPT);
		read_check(fx->dir, 0, 9, 10, 0, LS_NOTFOUND);
		j = open_ok(fx, 100, 9, &rec);
		assert_int_equal(rec.cut, 1);
		assert_string_equal(rec.segment, "0000000000000009.seg");
		assert_int_equal(rec.offset, 0);
		assert_int_equal(rec.bytes, 10);
		assert_int_equal(rec.records, 0);
		assert_int_equal(file_size(p9), 32);
	}
	assert_int_equal(journal_size(j), 9);
	assert_int_equal(append_n(j, &next, 2, 10), LS_OK);
	journal_close(j);
	read_check(fx->dir, 0, 11, 10, 1, LS_NOTFOUND);
	/* A power cut can also leave junk where the header should be. */
	{
		char p12[160];
		uint8_t junk[37];
		int fd;

		memset(junk, 0x5a, sizeof(junk));
		seg_path(fx, 11, p12, sizeof(p12));
		fd = open(p12, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
		read_check(fx->dir, 0, 11, 10, 1, LS_CORRUPT);
		j = open_ok(fx, 100, 11, &rec);
		assert_int_equal(rec.cut, 1);
		assert_string_equal(rec.segment, "000000000000000b.seg");
		assert_int_equal(rec.bytes, sizeof(junk));
		assert_int_equal(journal_size(j), 11);
		journal_close(j);
		read_check(fx->dir, 0, 11, 10, 1, LS_NOTFOUND);
	}
}

static void test_strict_iter_tail(void **state)
{
	struct fx *fx = *state;
	struct journal_iter *it;
	struct ls_err err = { "" };
	char path[160];
	off_t end_a = two_batches(fx, path, sizeof(path)), size = file_size(path);
	off_t rec5 = end_a + (off_t)(rec_size(3, 40) + rec_size(4, 40));
	const uint8_t *d;
	const char *seg;
	size_t l;
	uint64_t idx, off;

	file_truncate(path, size - 5);
	/* Not reopened: a follower sees 0..4 then waits for more... */
	read_check(fx->dir, 0, 5, 40, 0, LS_NOTFOUND);
	/* ...verify reports the torn record with its location. */
	assert_int_equal(journal_iter_open_strict(fx->dir, 0, &it, &err), LS_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_OK);
	assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_CORRUPT);
	assert_non_null(strstr(err.msg, "truncated record in record 5"));
	journal_iter_where(it, &seg, &off);
	assert_string_equal(seg, "0000000000000000.seg");
	assert_int_equal(off, rec5);
	journal_iter_free(it);
	/* A last batch cut at a record boundary lacks its COMMIT. */
	file_truncate(path, rec5);
	read_check(fx->dir, 0, 5, 40, 1, LS_CORRUPT);
	read_check(fx->dir, 0, 5, 40, 0, LS_NOTFOUND);
}

static void test_iter_follows_writer(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 150, 0, NULL);
	struct journal_iter *it;
	struct ls_err err = { "" };
	uint64_t next = 0, seen = 0, idx;
	const uint8_t *d;
	size_t l;

	assert_int_equal(journal_iter_open(fx->dir, 0, &it, &err), LS_OK);
	assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_NOTFOUND);
	for (int round = 0; round < 12; round++) {
		assert_int_equal(append_n(j, &next, 1 + (size_t)round % 3, 20), LS_OK);
		while (journal_iter_next(it, &d, &l, &idx, &err) == LS_OK) {
			char want[4096];
			size_t wl = entry_make(seen, 20, want, sizeof(want));

			assert_int_equal(idx, seen);
			assert_int_equal(l, wl);
			assert_memory_equal(d, want, wl);
			seen++;
		}
		assert_int_equal(seen, next);
	}
	journal_iter_free(it);
	journal_close(j);
}

static void test_eio_on_sync_is_sticky(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	uint64_t next = 0;

	assert_int_equal(append_n(j, &next, 3, 40), LS_OK);
	journal_test_fail_next(j, JOURNAL_FAULT_SYNC, EIO);
	assert_int_equal(append_n(j, &next, 2, 40), LS_IO);
	/* Retrying fsync after a failure is unsafe: the journal refuses. */
	assert_int_equal(append_n(j, &next, 1, 40), LS_FAILED);
	assert_int_equal(append_n(j, &next, 1, 40), LS_FAILED);
	assert_int_equal(journal_size(j), 3);
	journal_close(j);
	/* Recovery decides: the batch reached the file whole, so it stays. */
	j = open_ok(fx, 0, 3, &rec);
	assert_int_equal(rec.cut, 0);
	assert_int_equal(journal_size(j), 5);
	next = 5;
	assert_int_equal(append_n(j, &next, 2, 40), LS_OK);
	journal_close(j);
	read_check(fx->dir, 0, 7, 40, 1, LS_NOTFOUND);
}

static void test_eio_on_write_is_sticky(void **state)
{
	struct fx *fx = *state;
	struct store_recovery rec;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	uint64_t next = 0;

	assert_int_equal(append_n(j, &next, 3, 40), LS_OK);
	journal_test_fail_next(j, JOURNAL_FAULT_WRITE, EIO);
	assert_int_equal(append_n(j, &next, 4, 40), LS_IO);
	assert_int_equal(append_n(j, &next, 1, 40), LS_FAILED);
	journal_close(j);
	/* Half a batch on disk: a torn tail, cut back to the batch start. */
	j = open_ok(fx, 0, 3, &rec);
	assert_int_equal(rec.cut, 1);
	assert_int_equal(rec.offset, 32 + rec_size(0, 40) + rec_size(1, 40) + rec_size(2, 40));
	assert_int_equal(journal_size(j), 3);
	assert_int_equal(append_n(j, &next, 2, 40), LS_OK);
	journal_close(j);
	read_check(fx->dir, 0, 5, 40, 1, LS_NOTFOUND);
}

static void enospc_case(const struct fx *fx, int op)
{
	struct store_recovery rec;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	uint64_t next = 0;
	char path[160];
	off_t size;

	assert_int_equal(append_n(j, &next, 3, 40), LS_OK);
	seg_path(fx, 0, path, sizeof(path));
	size = file_size(path);
	journal_test_fail_next(j, op, ENOSPC);
	assert_int_equal(append_n(j, &next, 5, 40), LS_NOSPACE);
	assert_int_equal(file_size(path), size); /* nothing of the batch kept */
	assert_int_equal(journal_size(j), 3);
	/* Not sticky: the cleanup worked. */
	assert_int_equal(append_n(j, &next, 2, 40), LS_OK);
	journal_close(j);
	j = open_ok(fx, 0, 5, &rec);
	assert_int_equal(rec.cut, 0);
	assert_int_equal(journal_size(j), 5);
	journal_close(j);
	read_check(fx->dir, 0, 5, 40, 1, LS_NOTFOUND);
}

static void test_enospc_on_write(void **state)
{
	enospc_case(*state, JOURNAL_FAULT_WRITE);
}

static void test_enospc_on_sync(void **state)
{
	enospc_case(*state, JOURNAL_FAULT_SYNC);
}

static void test_bad_entries(void **state)
{
	struct fx *fx = *state;
	struct journal *j = open_ok(fx, 0, 0, NULL);
	struct ls_err err = { "" };
	static char big[JOURNAL_MAX_ENTRY + 1];
	struct iovec iov[2] = { { "ok", 2 }, { "", 0 } };
	uint64_t first = 42, next = 0;
	char path[160];

	assert_int_equal(journal_append(j, iov, 2, &first, &err), LS_INVALID);
	assert_int_equal(journal_append(j, iov, 0, &first, &err), LS_INVALID);
	iov[1].iov_base = big;
	iov[1].iov_len = sizeof(big);
	assert_int_equal(journal_append(j, iov, 2, &first, &err), LS_LIMIT);
	assert_int_equal(first, 42);
	assert_int_equal(journal_size(j), 0);
	seg_path(fx, 0, path, sizeof(path));
	assert_int_equal(file_size(path), 32);
	/* The largest entry is fine, and refusals did not fail the journal. */
	iov[1].iov_len = JOURNAL_MAX_ENTRY;
	memset(big, 'x', sizeof(big));
	assert_int_equal(journal_append(j, iov, 2, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	next = 2;
	assert_int_equal(append_n(j, &next, 1, 40), LS_OK);
	journal_close(j);
	{
		struct journal_iter *it;
		const uint8_t *d;
		size_t l;
		uint64_t idx;

		assert_int_equal(journal_iter_open_strict(fx->dir, 1, &it, &err), LS_OK);
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_OK);
		assert_int_equal(idx, 1);
		assert_int_equal(l, JOURNAL_MAX_ENTRY);
		assert_memory_equal(d, big, JOURNAL_MAX_ENTRY);
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_OK);
		assert_int_equal(idx, 2);
		assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_NOTFOUND);
		journal_iter_free(it);
	}
}

static void test_empty_journal(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	struct journal_iter *it;
	const uint8_t *d;
	size_t l;
	uint64_t idx;

	/* An empty directory is an empty journal for readers... */
	assert_int_equal(mkdir(fx->dir, 0700), 0);
	assert_int_equal(journal_iter_open(fx->dir, 0, &it, &err), LS_OK);
	assert_int_equal(journal_iter_next(it, &d, &l, &idx, &err), LS_NOTFOUND);
	journal_iter_free(it);
	/* ...but not when a signed checkpoint says it held records. */
	assert_int_equal(open_rc(fx, 1, &err), LS_CORRUPT);
	assert_int_equal(open_rc(fx, 0, &err), LS_OK);
	read_check(fx->dir, 0, 0, 10, 1, LS_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format_bytes, setup, teardown),
		cmocka_unit_test(test_record_decode),
		cmocka_unit_test(test_record_encode),
		cmocka_unit_test_setup_teardown(test_roundtrip_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iter_seek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_continues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_mid_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_at_record_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_zeros, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_below_min_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_commit_then_later_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_longer_than_a_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bitflip_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bitflip_earlier_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_segment_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_segment_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_segment_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_iter_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iter_follows_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eio_on_sync_is_sticky, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eio_on_write_is_sticky, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_on_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_on_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_journal, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
