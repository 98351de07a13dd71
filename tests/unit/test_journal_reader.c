/*
 * test_journal_reader.c - unit tests of the journal's random-access reader
 * (journal_reader_*, src/store/journal_reader.c): every record read back from the
 * offset journal_iter_where() gave, equal to what the iterator returned,
 * in a plaintext and in an encrypted data directory; stale hints and
 * indexes beyond the end; segments created after the reader was opened;
 * damaged records reported with their location; retention moving the
 * first segments out while the reader holds their fds; and threads reading
 * while the journal grows.  Every test works in its own directory under /tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
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
#include "store/keys.h"

#define SEG_SIZE 4096		/* small: forces many rotations */
#define MAX_RECS 4096

/* Where the iterator said record i is. */
struct loc {
	char seg[32];
	uint64_t off;
};

struct fx {
	char root[64];
	char data[96];		/* the data directory (keys/ when encrypted) */
	char dir[128];		/* its journal */
	char keyfile[128];
	int encrypted;
	struct journal *j;
	uint64_t next;		/* records appended */
	struct loc *locs;	/* MAX_RECS */
	uint64_t *told;		/* MAX_RECS: offsets journal_append_at() gave */
	uint64_t nlocs;		/* records located so far */
	struct journal_iter *follow;
};

/* ----------------------------------------------------------------- helpers */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int setup_common(void **state, int encrypted)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct ls_err err = { "" };

	if (!fx)
		return -1;
	fx->locs = calloc(MAX_RECS, sizeof(*fx->locs));
	fx->told = calloc(MAX_RECS, sizeof(*fx->told));
	if (!fx->locs || !fx->told)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/ls-jreader-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->data, sizeof(fx->data), "%s/d", fx->root);
	snprintf(fx->dir, sizeof(fx->dir), "%s/journal", fx->data);
	snprintf(fx->keyfile, sizeof(fx->keyfile), "%s/master.key", fx->root);
	fx->encrypted = encrypted;
	if (encrypted) {
		struct keys_source src = { KEYS_SRC_FILE, fx->keyfile };

		if (keys_init(fx->data, &src, 1, &err) != LS_OK) {
			fprintf(stderr, "keys_init: %s\n", err.msg);
			return -1;
		}
	} else if (mkdir(fx->data, 0700) != 0) {
		return -1;
	}
	*state = fx;
	return 0;
}

static int setup_plain(void **state)
{
	return setup_common(state, 0);
}

static int setup_enc(void **state)
{
	return setup_common(state, 1);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	journal_iter_free(fx->follow);
	journal_close(fx->j);
	if (fx->encrypted)
		keys_forget(fx->data);
	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx->locs);
	free(fx->told);
	free(fx);
	return 0;
}

/* Entry i: its index in text, then filler; most are short (one pread),
 * every 13th is longer than the reader's first read, and entry 41 is as
 * long as an entry may be. */
static size_t entry_make(uint64_t i, uint8_t *out, size_t cap)
{
	size_t len = 24 + (size_t)(i * 37 % 200);
	int n;

	if (i % 13 == 5)
		len = 1000 + (size_t)(i * 131 % 3000);
	if (i == 41)
		len = JOURNAL_MAX_ENTRY;
	assert_true(len <= cap);
	for (size_t k = 0; k < len; k++)
		out[k] = (uint8_t)('a' + (i + k) % 26);
	n = snprintf((char *)out, cap, "entry-%llu;", (unsigned long long)i);
	out[n] = ';';
	return len;
}

static void journal_start(struct fx *fx)
{
	struct journal_opts o = { .segment_size = SEG_SIZE };
	struct ls_err err = { "" };

	assert_int_equal(journal_open(fx->dir, &o, &fx->j, NULL, &err), LS_OK);
	assert_int_equal(journal_key_id(fx->j) != 0, fx->encrypted);
}

/* Append n entries in batches of 1..4, keeping the offsets the journal
 * reports for them (follow() checks them against the iterator's). */
static void append(struct fx *fx, uint64_t n)
{
	static uint8_t bufs[4][JOURNAL_MAX_ENTRY];
	struct ls_err err = { "" };

	while (n) {
		size_t b = 1 + (size_t)(fx->next % 4);
		struct iovec iov[4];
		uint64_t first;

		if (b > n)
			b = (size_t)n;
		for (size_t k = 0; k < b; k++) {
			iov[k].iov_base = bufs[k];
			iov[k].iov_len = entry_make(fx->next + k, bufs[k], sizeof(bufs[k]));
		}
		assert_true(fx->next + b <= MAX_RECS);
		assert_int_equal(journal_append_at(fx->j, iov, b, &first, fx->told + fx->next, &err),
				 LS_OK);
		assert_int_equal(first, fx->next);
		fx->next += b;
		n -= b;
	}
}

/* Follow the journal with an iterator up to what was appended, checking
 * every entry and keeping where it is (as the index does). */
static void follow(struct fx *fx)
{
	static uint8_t want[JOURNAL_MAX_ENTRY];
	struct ls_err err = { "" };
	const uint8_t *data;
	const char *seg;
	size_t len, wl;
	uint64_t idx;

	if (!fx->follow)
		assert_int_equal(journal_iter_open(fx->dir, 0, &fx->follow, &err), LS_OK);
	while (fx->nlocs < fx->next) {
		assert_int_equal(journal_iter_next(fx->follow, &data, &len, &idx, &err), LS_OK);
		assert_int_equal(idx, fx->nlocs);
		wl = entry_make(idx, want, sizeof(want));
		assert_int_equal(len, wl);
		assert_memory_equal(data, want, wl);
		assert_true(idx < MAX_RECS);
		journal_iter_where(fx->follow, &seg, &fx->locs[idx].off);
		snprintf(fx->locs[idx].seg, sizeof(fx->locs[idx].seg), "%s", seg);
		if (fx->locs[idx].off != fx->told[idx])
			fail_msg("record %llu: the iterator has it at %s offset %llu, the append said %llu",
				 (unsigned long long)idx, seg, (unsigned long long)fx->locs[idx].off,
				 (unsigned long long)fx->told[idx]);
		fx->nlocs++;
	}
}

static int count_segments(const struct fx *fx)
{
	int n = 0;

	for (uint64_t i = 0; i < fx->nlocs; i++)
		if (i == 0 || strcmp(fx->locs[i].seg, fx->locs[i - 1].seg) != 0)
			n++;
	return n;
}

/* Record i through the reader: LS_OK and equal to entry i. */
static void get_ok(struct journal_reader *r, uint64_t i, uint64_t off)
{
	static uint8_t want[JOURNAL_MAX_ENTRY];
	struct ls_err err = { "" };
	uint8_t *data = NULL;
	size_t len = 0, wl;
	ls_rc rc;

	rc = journal_reader_get(r, i, off, &data, &len, &err);
	if (rc != LS_OK)
		fail_msg("record %llu at %llu: %s: %s", (unsigned long long)i,
			 (unsigned long long)off, ls_rc_name(rc), err.msg);
	wl = entry_make(i, want, sizeof(want));
	assert_non_null(data);
	assert_int_equal(len, wl);
	assert_memory_equal(data, want, wl);
	free(data);
}

/* Record i through the reader: rc, with nothing returned. */
static void get_rc(struct journal_reader *r, uint64_t i, uint64_t off, ls_rc want,
		   struct ls_err *err)
{
	uint8_t *data = (uint8_t *)"not touched";
	size_t len = 7;

	assert_int_equal(journal_reader_get(r, i, off, &data, &len, err), want);
	assert_null(data);
	assert_int_equal(len, 0);
}

static void seg_path(const struct fx *fx, const char *seg, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", fx->dir, seg);
}

/* ------------------------------------------------------------------- tests */

/* Every record read back from its offset, across many segments. */
static void test_every_record(void **state)
{
	struct fx *fx = *state;
	struct journal_reader *r;
	struct ls_err err = { "" };

	journal_start(fx);
	append(fx, 300);
	follow(fx);
	assert_true(count_segments(fx) >= 5);

	assert_int_equal(journal_reader_open(fx->dir, &r, &err), LS_OK);
	for (uint64_t i = 0; i < fx->nlocs; i++)
		get_ok(r, i, fx->locs[i].off);
	/* And in another order, from the cache. */
	for (uint64_t i = fx->nlocs; i-- > 0;)
		get_ok(r, i, fx->locs[i].off);
	journal_reader_free(r);
}

/* Hints that do not point at the record asked for, and indexes that are
 * not there, are LS_NOTFOUND: the caller falls back, nothing is damaged. */
static void test_not_found(void **state)
{
	struct fx *fx = *state;
	struct journal_reader *r;
	struct ls_err err = { "" };
	uint64_t last;

	journal_start(fx);
	append(fx, 120);
	follow(fx);
	last = fx->nlocs - 1;
	assert_int_equal(journal_reader_open(fx->dir, &r, &err), LS_OK);

	/* The offset of a neighbour, inside the record, before the first
	 * record, past the end of the file, absurdly large. */
	get_rc(r, 10, fx->locs[11].off, LS_NOTFOUND, &err);
	get_rc(r, 11, fx->locs[10].off, LS_NOTFOUND, &err);
	get_rc(r, 10, fx->locs[10].off + 1, LS_NOTFOUND, &err);
	get_rc(r, 10, fx->locs[10].off + 20, LS_NOTFOUND, &err);
	get_rc(r, 10, 0, LS_NOTFOUND, &err);
	get_rc(r, 10, 1u << 30, LS_NOTFOUND, &err);
	get_rc(r, 10, UINT64_MAX, LS_NOTFOUND, &err);
	/* Record 10's offset for a record of another segment: whatever is
	 * there, it is not that record. */
	for (uint64_t i = 11; i < fx->nlocs; i++) {
		if (strcmp(fx->locs[i].seg, fx->locs[10].seg) != 0 &&
		    fx->locs[i].off != fx->locs[10].off) {
			get_rc(r, i, fx->locs[10].off, LS_NOTFOUND, &err);
			break;
		}
	}
	/* Beyond the end, with the last record's offset and another. */
	get_rc(r, last + 1, fx->locs[last].off, LS_NOTFOUND, &err);
	get_rc(r, last + 1, JOURNAL_SEG_HEADER, LS_NOTFOUND, &err);
	get_rc(r, UINT64_MAX, JOURNAL_SEG_HEADER, LS_NOTFOUND, &err);
	/* None of that spoilt the cache. */
	get_ok(r, 10, fx->locs[10].off);
	get_ok(r, last, fx->locs[last].off);
	journal_reader_free(r);

	/* A directory that does not exist. */
	assert_int_equal(journal_reader_open("/nonexistent/ls-jreader", &r, &err), LS_NOTFOUND);
	assert_null(r);
	journal_reader_free(NULL);
}

/* Records appended after the reader was opened: in the segment it had
 * cached, then in segments created since (rotation by size and by hand). */
static void test_new_segments(void **state)
{
	struct fx *fx = *state;
	struct journal_reader *r;
	struct ls_err err = { "" };
	uint64_t before, segs_before;
	struct ls_err e2 = { "" };

	/* Opened on a directory without a segment yet. */
	assert_int_equal(mkdir(fx->dir, 0700), 0);
	assert_int_equal(journal_reader_open(fx->dir, &r, &err), LS_OK);
	get_rc(r, 0, JOURNAL_SEG_HEADER, LS_NOTFOUND, &e2);

	journal_start(fx);
	append(fx, 3);
	follow(fx);
	get_ok(r, 0, fx->locs[0].off);
	get_ok(r, 2, fx->locs[2].off);

	/* Asked for before it exists, then found. */
	get_rc(r, 3, fx->locs[2].off + 100, LS_NOTFOUND, &e2);
	before = fx->next;
	segs_before = (uint64_t)count_segments(fx);
	append(fx, 200);
	assert_int_equal(journal_rotate(fx->j, &err), LS_OK);
	append(fx, 5);
	follow(fx);
	assert_true((uint64_t)count_segments(fx) > segs_before + 3);
	/* Newest first: the reader must list again for it. */
	get_ok(r, fx->nlocs - 1, fx->locs[fx->nlocs - 1].off);
	for (uint64_t i = before; i < fx->nlocs; i++)
		get_ok(r, i, fx->locs[i].off);

	/* A segment asked for while it holds no record, then given a new
	 * header (and data key) in place by journal_rotate(): what the reader
	 * saw of it first must not stay. */
	assert_int_equal(journal_rotate(fx->j, &err), LS_OK);
	get_rc(r, fx->next, JOURNAL_SEG_HEADER, LS_NOTFOUND, &e2);
	assert_int_equal(journal_rotate(fx->j, &err), LS_OK);
	before = fx->next;
	append(fx, 3);
	follow(fx);
	assert_int_equal(fx->locs[before].off, JOURNAL_SEG_HEADER);
	for (uint64_t i = before; i < fx->nlocs; i++)
		get_ok(r, i, fx->locs[i].off);
	journal_reader_free(r);
}

/* Flip one byte of record i's payload (fix_crc: and make its CRC match
 * again, so that only a seal can tell). */
static void damage(struct fx *fx, uint64_t i, size_t at, int fix_crc)
{
	char path[256];
	uint8_t *rec;
	uint32_t len, crc;
	int fd;

	seg_path(fx, fx->locs[i].seg, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	rec = malloc(JOURNAL_REC_HEADER + 70000);
	assert_non_null(rec);
	assert_int_equal(pread(fd, rec, JOURNAL_REC_HEADER, (off_t)fx->locs[i].off),
			 JOURNAL_REC_HEADER);
	len = (uint32_t)rec[4] << 24 | (uint32_t)rec[5] << 16 | (uint32_t)rec[6] << 8 | rec[7];
	assert_true(at < len);
	assert_int_equal(pread(fd, rec + JOURNAL_REC_HEADER, len,
			       (off_t)(fx->locs[i].off + JOURNAL_REC_HEADER)), (ssize_t)len);
	rec[JOURNAL_REC_HEADER + at] ^= 0x40;
	if (fix_crc) {
		crc = (uint32_t)crc32(crc32(0, rec, 16), rec + JOURNAL_REC_HEADER, len);
		rec[16] = (uint8_t)(crc >> 24);
		rec[17] = (uint8_t)(crc >> 16);
		rec[18] = (uint8_t)(crc >> 8);
		rec[19] = (uint8_t)crc;
	}
	assert_int_equal(pwrite(fd, rec, JOURNAL_REC_HEADER + len, (off_t)fx->locs[i].off),
			 (ssize_t)(JOURNAL_REC_HEADER + len));
	close(fd);
	free(rec);
}

/* The error names the segment file and the record's offset. */
static void assert_located(const struct ls_err *err, const struct loc *l)
{
	char want[96];

	snprintf(want, sizeof(want), "%s offset %llu:", l->seg, (unsigned long long)l->off);
	if (!strstr(err->msg, want))
		fail_msg("\"%s\" does not name \"%s\"", err->msg, want);
}

static void test_damaged(void **state)
{
	struct fx *fx = *state;
	struct journal_reader *r;
	struct ls_err err = { "" };
	const uint8_t *data;
	size_t len;
	uint64_t idx;
	struct journal_iter *it;

	journal_start(fx);
	append(fx, 60);
	follow(fx);
	assert_int_equal(journal_reader_open(fx->dir, &r, &err), LS_OK);
	get_ok(r, 7, fx->locs[7].off);	/* its segment is cached now */

	/* A flipped payload byte: the CRC says so, plaintext or not. */
	damage(fx, 7, 3, 0);
	get_rc(r, 7, fx->locs[7].off, LS_CORRUPT, &err);
	assert_located(&err, &fx->locs[7]);
	assert_non_null(strstr(err.msg, "checksum"));
	/* A long record (second read) in another segment. */
	damage(fx, 18, 1500, 0);
	get_rc(r, 18, fx->locs[18].off, LS_CORRUPT, &err);
	assert_located(&err, &fx->locs[18]);
	/* Its neighbours are fine. */
	get_ok(r, 6, fx->locs[6].off);
	get_ok(r, 8, fx->locs[8].off);

	if (fx->encrypted) {
		/* Ciphertext altered and its CRC made to match: only the
		 * seal notices, as under the iterator. */
		damage(fx, 30, 20, 1);
		get_rc(r, 30, fx->locs[30].off, LS_TAMPERED, &err);
		assert_located(&err, &fx->locs[30]);
		assert_non_null(strstr(err.msg, "does not authenticate"));

		assert_int_equal(journal_iter_open(fx->dir, 30, &it, &err), LS_OK);
		assert_int_equal(journal_iter_next(it, &data, &len, &idx, &err), LS_TAMPERED);
		assert_non_null(strstr(err.msg, "record 30 does not authenticate"));
		journal_iter_free(it);
	}
	journal_reader_free(r);

	/* A fresh reader (nothing cached) says the same. */
	assert_int_equal(journal_reader_open(fx->dir, &r, &err), LS_OK);
	get_rc(r, 7, fx->locs[7].off, LS_CORRUPT, &err);
	assert_located(&err, &fx->locs[7]);
	get_ok(r, 59, fx->locs[59].off);
	journal_reader_free(r);
}

/* An encrypted record copied over another of the same segment, its index
 * and CRC rewritten to fit, frames and checks but must not authenticate:
 * the seal binds segment and index.  (In a plaintext journal nothing but
 * the frame can be checked: see journal.h.)  The target is the journal's
 * last record so that overwriting it leaves the others in place. */
static void test_moved_record(void **state)
{
	struct fx *fx = *state;
	struct journal_reader *r;
	struct ls_err err = { "" };
	uint8_t rec[JOURNAL_REC_HEADER + 512];
	char path[256];
	uint64_t i, k;
	uint32_t len, crc;
	ssize_t got;
	int fd;

	journal_start(fx);
	append(fx, 10);
	follow(fx);
	i = fx->nlocs - 1;
	k = i - 1;
	assert_string_equal(fx->locs[i].seg, fx->locs[k].seg);
	assert_true(k % 13 != 5);	/* short: fits rec */
	seg_path(fx, fx->locs[k].seg, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	got = pread(fd, rec, sizeof(rec), (off_t)fx->locs[k].off);
	assert_true(got > JOURNAL_REC_HEADER);
	len = (uint32_t)rec[4] << 24 | (uint32_t)rec[5] << 16 | (uint32_t)rec[6] << 8 | rec[7];
	assert_true(JOURNAL_REC_HEADER + len <= (uint32_t)got);
	for (int b = 0; b < 8; b++)
		rec[8 + b] = (uint8_t)(i >> (56 - 8 * b));
	crc = (uint32_t)crc32(crc32(0, rec, 16), rec + JOURNAL_REC_HEADER, len);
	rec[16] = (uint8_t)(crc >> 24);
	rec[17] = (uint8_t)(crc >> 16);
	rec[18] = (uint8_t)(crc >> 8);
	rec[19] = (uint8_t)crc;
	assert_int_equal(ftruncate(fd, (off_t)fx->locs[i].off), 0);
	assert_int_equal(pwrite(fd, rec, JOURNAL_REC_HEADER + len, (off_t)fx->locs[i].off),
			 (ssize_t)(JOURNAL_REC_HEADER + len));
	close(fd);

	assert_int_equal(journal_reader_open(fx->dir, &r, &err), LS_OK);
	get_rc(r, i, fx->locs[i].off, LS_TAMPERED, &err);
	assert_located(&err, &fx->locs[i]);
	get_ok(r, k, fx->locs[k].off);
	journal_reader_free(r);
}

/* Retention moves the first segments out while the reader holds their fds. */
static void test_retention(void **state)
{
	struct fx *fx = *state;
	struct journal_reader *r, *r2;
	struct ls_err err = { "" };
	uint64_t firsts[64], cut1, cut2;
	int nseg = 0;
	char path[256];

	journal_start(fx);
	append(fx, 150);
	follow(fx);
	for (uint64_t i = 0; i < fx->nlocs; i++)
		if (i == 0 || strcmp(fx->locs[i].seg, fx->locs[i - 1].seg) != 0) {
			assert_true(nseg < 64);
			firsts[nseg++] = i;
		}
	assert_true(nseg >= 5);
	cut1 = firsts[2];
	cut2 = firsts[3];

	assert_int_equal(journal_reader_open(fx->dir, &r, &err), LS_OK);
	for (uint64_t i = 0; i < fx->nlocs; i++)	/* every fd open */
		get_ok(r, i, fx->locs[i].off);

	/* The "retained" file first: the files are still there, the reader
	 * still has them open, and must stop serving them. */
	assert_int_equal(journal_set_retained(fx->dir, cut1, &err), LS_OK);
	for (uint64_t i = 0; i < cut1; i++)
		get_rc(r, i, fx->locs[i].off, LS_NOTFOUND, &err);
	assert_non_null(strstr(err.msg, "retention"));
	for (uint64_t i = cut1; i < fx->nlocs; i++)
		get_ok(r, i, fx->locs[i].off);
	/* Then the files go. */
	for (uint64_t i = 0; i < cut1; i++)
		if (i == 0 || strcmp(fx->locs[i].seg, fx->locs[i - 1].seg) != 0) {
			seg_path(fx, fx->locs[i].seg, path, sizeof(path));
			assert_int_equal(unlink(path), 0);
		}
	get_rc(r, 0, fx->locs[0].off, LS_NOTFOUND, &err);
	get_rc(r, cut1 - 1, fx->locs[cut1 - 1].off, LS_NOTFOUND, &err);
	get_ok(r, cut1, fx->locs[cut1].off);

	/* A second pass, right after the first (same second): seen too. */
	assert_int_equal(journal_set_retained(fx->dir, cut2, &err), LS_OK);
	get_rc(r, cut1, fx->locs[cut1].off, LS_NOTFOUND, &err);
	get_rc(r, cut2 - 1, fx->locs[cut2 - 1].off, LS_NOTFOUND, &err);
	get_ok(r, cut2, fx->locs[cut2].off);

	/* A reader opened now, and records appended after. */
	assert_int_equal(journal_reader_open(fx->dir, &r2, &err), LS_OK);
	get_rc(r2, 0, fx->locs[0].off, LS_NOTFOUND, &err);
	get_rc(r2, cut1, fx->locs[cut1].off, LS_NOTFOUND, &err);
	for (uint64_t i = cut2; i < fx->nlocs; i++)
		get_ok(r2, i, fx->locs[i].off);
	append(fx, 40);
	follow(fx);
	for (uint64_t i = cut2; i < fx->nlocs; i++) {
		get_ok(r, i, fx->locs[i].off);
		get_ok(r2, i, fx->locs[i].off);
	}
	journal_reader_free(r2);
	journal_reader_free(r);
}

/* ------------------------------------------------- threads while appending */

struct shared {
	struct journal_reader *r;
	pthread_mutex_t mu;
	const struct loc *locs;
	uint64_t published;	/* records whose location is known */
	uint64_t cut;		/* retention pass decided: below it may go */
	uint64_t kept;		/* ... and done: below it must be gone */
	int done;
	unsigned seed;
};

struct worker {
	struct shared *sh;
	unsigned seed;
	uint64_t reads, failures;
	char first_failure[600];
};

static void *reader_thread(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint8_t *want = malloc(JOURNAL_MAX_ENTRY);

	if (!want) {
		w->failures++;
		return NULL;
	}
	for (;;) {
		struct ls_err err = { "" };
		uint64_t n, i, off, kept, cut;
		uint8_t *data = NULL;
		size_t len = 0, wl;
		int done, ok;
		ls_rc rc;

		pthread_mutex_lock(&sh->mu);
		n = sh->published;
		done = sh->done;
		kept = sh->kept;
		pthread_mutex_unlock(&sh->mu);
		if (done && w->reads > 200)
			break;
		if (n == 0)
			continue;
		/* Mostly recent records (the tail the writer is extending),
		 * sometimes any. */
		i = (uint64_t)rand_r(&w->seed) % n;
		if (rand_r(&w->seed) % 2 && n > 8)
			i = n - 1 - (uint64_t)rand_r(&w->seed) % 8;
		pthread_mutex_lock(&sh->mu);
		off = sh->locs[i].off;
		pthread_mutex_unlock(&sh->mu);
		rc = journal_reader_get(sh->r, i, off, &data, &len, &err);
		pthread_mutex_lock(&sh->mu);
		cut = sh->cut;
		pthread_mutex_unlock(&sh->mu);
		wl = entry_make(i, want, JOURNAL_MAX_ENTRY);
		ok = rc == LS_OK && len == wl && memcmp(data, want, wl) == 0;
		/* Gone for good once the pass is done; either way while it
		 * runs; never wrong. */
		if (i < kept)
			ok = rc == LS_NOTFOUND && !data;
		else if (i < cut)
			ok = ok || (rc == LS_NOTFOUND && !data);
		if (!ok) {
			if (!w->failures++)
				snprintf(w->first_failure, sizeof(w->first_failure),
					 "record %llu: %s: %s", (unsigned long long)i,
					 ls_rc_name(rc), err.msg);
		}
		free(data);
		w->reads++;
	}
	free(want);
	return NULL;
}

/* Move the first three segments out, as retention does, while the
 * readers run: announce, write "retained", remove, then publish. */
static uint64_t retention_pass(struct fx *fx, struct shared *sh)
{
	struct ls_err err = { "" };
	char path[256];
	uint64_t cut = 0;
	int seen = 0;

	for (uint64_t i = 1; i < fx->nlocs && !cut; i++)
		if (strcmp(fx->locs[i].seg, fx->locs[i - 1].seg) != 0 && ++seen == 3)
			cut = i;
	assert_true(cut > 0);
	pthread_mutex_lock(&sh->mu);
	sh->cut = cut;
	pthread_mutex_unlock(&sh->mu);
	assert_int_equal(journal_set_retained(fx->dir, cut, &err), LS_OK);
	for (uint64_t i = 0; i < cut; i++)
		if (i == 0 || strcmp(fx->locs[i].seg, fx->locs[i - 1].seg) != 0) {
			seg_path(fx, fx->locs[i].seg, path, sizeof(path));
			assert_int_equal(unlink(path), 0);
		}
	pthread_mutex_lock(&sh->mu);
	sh->kept = cut;
	pthread_mutex_unlock(&sh->mu);
	return cut;
}

static void test_threads(void **state)
{
	struct fx *fx = *state;
	struct shared sh;
	struct worker w[6];
	pthread_t t[6];
	struct ls_err err = { "" };
	uint64_t total = 0, cut = 0;

	journal_start(fx);
	append(fx, 5);
	follow(fx);
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.mu, NULL);
	sh.locs = fx->locs;
	sh.published = fx->nlocs;
	assert_int_equal(journal_reader_open(fx->dir, &sh.r, &err), LS_OK);
	for (int k = 0; k < 6; k++) {
		memset(&w[k], 0, sizeof(w[k]));
		w[k].sh = &sh;
		w[k].seed = 1234u + (unsigned)k;
		assert_int_equal(pthread_create(&t[k], NULL, reader_thread, &w[k]), 0);
	}
	/* Append and follow; publish a location only once it is written
	 * (the mutex orders it before a reader's use). */
	while (fx->next < 1500) {
		append(fx, 1 + fx->next % 7);
		pthread_mutex_lock(&sh.mu);
		follow(fx);
		sh.published = fx->nlocs;
		pthread_mutex_unlock(&sh.mu);
		if (!cut && fx->next >= 800)
			cut = retention_pass(fx, &sh);
	}
	pthread_mutex_lock(&sh.mu);
	sh.done = 1;
	pthread_mutex_unlock(&sh.mu);
	/* Join them all before anything can fail (and jump away). */
	for (int k = 0; k < 6; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	for (int k = 0; k < 6; k++) {
		if (w[k].failures)
			fail_msg("thread %d: %llu failures, first %s", k,
				 (unsigned long long)w[k].failures, w[k].first_failure);
		total += w[k].reads;
	}
	assert_true(total >= 6 * 200);
	assert_true(count_segments(fx) > 20);
	journal_reader_free(sh.r);
	pthread_mutex_destroy(&sh.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_record, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_every_record, setup_enc, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup_enc, teardown),
		cmocka_unit_test_setup_teardown(test_new_segments, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_new_segments, setup_enc, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup_enc, teardown),
		cmocka_unit_test_setup_teardown(test_moved_record, setup_enc, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup_enc, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup_enc, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
