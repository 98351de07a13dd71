/*
 * fuzz_journal.c - libFuzzer target for the journal's record decoder and,
 * through real files, its recovery and iterators.
 *
 * Input: byte 0 selects what to do with the rest (the body):
 *   0     decode the body as a run of records with journal_record_decode();
 *   1     write a valid 32-byte segment header for index 0 then the body as
 *         0000000000000000.seg, then run a strict iterator, journal_open()
 *         (recovery may cut a torn tail) and a following iterator;
 *   2     as 1, but bytes 1..2 split the body into two segments, the second
 *         named after the record count byte 3 gives (exercises rotation
 *         boundaries, missing and short segments);
 *   3     round trip of the framing (journal_record.c): body byte 0 picks
 *         plaintext or sealed and the flags, bytes 1..8 the leaf index, the
 *         rest is the entry; it is encoded, parsed and checked back.
 * Invariants checked: decode never reads past n and consumed <= n; after a
 * successful journal_open() a non-strict iterator reads exactly
 * journal_size() records then ends cleanly (recovery leaves a journal that
 * checks), and an append then succeeds; a record encoded from any entry
 * parses and checks back to the same entry, index and flags, also through
 * journal_record_decode() when plaintext, and a sealed one does not
 * authenticate under another index.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "store/journal.h"
#include "store/journal_int.h"

static char root[64];
static char dir[96];

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void write_seg(uint64_t first, const uint8_t *body, size_t n)
{
	char path[160];
	uint8_t h[32];
	int fd;

	memcpy(h, "LSJOURN1", 8);
	put_be(h + 8, 1, 4);
	put_be(h + 12, 0, 4);
	put_be(h + 16, first, 8);
	put_be(h + 24, 0, 4);
	put_be(h + 28, crc32(0, h, 28), 4);
	snprintf(path, sizeof(path), "%s/%016llx.seg", dir, (unsigned long long)first);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (write(fd, h, sizeof(h)) != (ssize_t)sizeof(h))
		abort();
	if (n && write(fd, body, n) != (ssize_t)n)
		abort();
	close(fd);
}

/* Remove every file of the journal directory (no fork: keeps it fast). */
static void clear_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static void cleanup(void)
{
	clear_dir();
	rmdir(dir);
	rmdir(root);
}

static void decode_run(const uint8_t *p, size_t n)
{
	while (n) {
		const uint8_t *data;
		size_t len, consumed;
		uint64_t index;
		uint16_t flags;

		if (journal_record_decode(p, n, &data, &len, &index, &flags, &consumed) != LS_OK) {
			p++;
			n--;
			continue;
		}
		if (consumed > n || len == 0 || len > JOURNAL_MAX_ENTRY || data + len > p + n)
			abort();
		p += consumed;
		n -= consumed;
	}
}

static void iterate(int strict)
{
	struct journal_iter *it;
	struct ls_err err;
	const uint8_t *data;
	size_t len;
	uint64_t index;

	if ((strict ? journal_iter_open_strict : journal_iter_open)(dir, 0, &it, &err) != LS_OK)
		return;
	while (journal_iter_next(it, &data, &len, &index, &err) == LS_OK)
		;
	journal_iter_free(it);
}

static void recover_and_check(void)
{
	struct journal *j;
	struct store_recovery rec;
	struct journal_iter *it;
	struct ls_err err;
	const uint8_t *data;
	size_t len;
	uint64_t index, n = 0, first;
	struct iovec iov = { "x", 1 };
	ls_rc rc;

	if (journal_open(dir, NULL, &j, &rec, &err) != LS_OK)
		return;
	if (journal_iter_open(dir, 0, &it, &err) != LS_OK)
		abort();
	while ((rc = journal_iter_next(it, &data, &len, &index, &err)) == LS_OK)
		n++;
	/* Earlier segments are trusted at open, so only the single-segment
	 * case must read back whole. */
	if (rc == LS_NOTFOUND && n != journal_size(j))
		abort();
	journal_iter_free(it);
	if (rc == LS_NOTFOUND && journal_append(j, &iov, 1, &first, &err) != LS_OK)
		abort();
	journal_close(j);
}

static void round_trip(const uint8_t *p, size_t n)
{
	static uint8_t buf[REC_MAX], plain[JOURNAL_MAX_ENTRY];
	static const uint8_t key[LS_AEAD_KEY_LEN] = { 1, 2, 3 };
	uint32_t key_id;
	uint16_t flags;
	uint64_t index = 0;
	size_t size, len, max;
	const char *why;
	char whybuf[160];
	struct rec r;

	if (n < 10 || n - 9 > JOURNAL_MAX_ENTRY)
		return;
	key_id = p[0] & 4 ? 7 : 0;
	max = key_id ? ENC_MAX : JOURNAL_MAX_ENTRY;
	flags = p[0] & (JOURNAL_FLAG_COMMIT | JOURNAL_FLAG_FIRST);
	for (int i = 1; i <= 8; i++)
		index = index << 8 | p[i];
	p += 9;
	n -= 9;
	if (jnl_rec_encode(buf, flags, index, p, n, 42, key_id, key, &size) != LS_OK)
		abort();
	if (size != JOURNAL_REC_HEADER + n + (key_id ? LS_AEAD_OVERHEAD : 0))
		abort();
	/* A parse never reads past what it was given. */
	if (jnl_rec_parse_max(buf, size - 1, max, &r, &why) != LS_NOTFOUND)
		abort();
	if (jnl_rec_parse_max(buf, size, max, &r, &why) != LS_OK || r.size != size ||
	    r.flags != flags || r.index != index)
		abort();
	if (key_id) {
		struct rec moved = r;

		if (jnl_rec_check(&moved, index, 43, key_id, key, plain, whybuf,
				  sizeof(whybuf)) != LS_TAMPERED)
			abort();
	}
	if (jnl_rec_check(&r, index, 42, key_id, key, plain, whybuf, sizeof(whybuf)) != LS_OK ||
	    r.len != n || memcmp(r.data, p, n) != 0)
		abort();
	if (!key_id) {
		const uint8_t *data;
		uint64_t idx;
		uint16_t fl;
		size_t consumed;

		if (journal_record_decode(buf, size, &data, &len, &idx, &fl, &consumed) != LS_OK ||
		    len != n || idx != index || fl != flags || consumed != size ||
		    memcmp(data, p, n) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	size_t n;

	if (size < 1)
		return 0;
	body = data + 1;
	n = size - 1;
	if (data[0] == 3) {
		round_trip(body, n);
		return 0;
	}
	if (data[0] == 0 || !root[0]) {
		decode_run(body, n);
		if (!root[0]) {
			const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

			snprintf(root, sizeof(root), "%s/fuzz-journal-XXXXXX", base);
			if (!mkdtemp(root))
				abort();
			snprintf(dir, sizeof(dir), "%s/j", root);
			if (mkdir(dir, 0700) != 0)
				abort();
			atexit(cleanup);
		}
		if (data[0] == 0)
			return 0;
	}
	clear_dir();
	if (data[0] == 2 && n >= 3) {
		size_t split = ((size_t)body[0] << 8 | body[1]) % (n - 2);
		uint64_t second = body[2];

		write_seg(0, body + 3, split);
		write_seg(second, body + 3 + split, n - 3 - split);
	} else {
		write_seg(0, body, n);
	}
	iterate(1);
	iterate(0);
	recover_and_check();
	return 0;
}
