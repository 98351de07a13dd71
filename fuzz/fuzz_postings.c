/*
 * fuzz_postings.c - libFuzzer target for the posting-list decoder
 * (core/postings.h, postings_decode), the views (postings_view, which
 * check only the fixed parts at open and the rest at use) and the
 * encode/decode round trip.
 *
 * Input: byte 0 selects what to do with the rest (the body):
 *   0  postings_decode() of the body as it is, and a view of it with the
 *      fixed parts checked (a copy of exactly the body's size, so that
 *      ASan sees any read past it), every lookup run on whatever opens;
 *   1  the same with the body's last 4 bytes replaced by the CRC-32 of the
 *      rest, so mutations reach the structure checks behind the checksum;
 *   2  round trip: rows are built from the body (below), added to a
 *      building set, encoded, decoded, and every lookup is compared
 *      between the two.
 * Rows in mode 2, repeated while bytes last: a head byte h (terms = h & 15,
 * bit 4: has time, bit 5: has received, bit 6: repeat), when bit 6 a count
 * byte c (the row is added 8 * (c + 1) times: dense sets, roaring), when a
 * time is present 2 bytes of it (added to the row number, so columns span
 * blocks with small and large widths), then per term a field byte (1 + b %
 * 10), a length byte (1 + b % 4: short terms repeat) and that many bytes.
 * Invariants checked: whatever decodes answers every lookup without
 * reading out of bounds (ASan), every rel it returns is < count, and
 * pset_take agrees with itself in both orders; in mode 2 the decoded set
 * answers exactly as the building set (postings.h invariant 1) and encodes
 * to the same bytes.  Any broken property aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "core/postings.h"

#define MAX_ROWS 5000

static uint32_t *take_all(const struct pset *s, int desc, size_t *n)
{
	uint64_t c = pset_count(s);
	uint32_t *v = malloc((size_t)(c + 1) * sizeof(*v));

	if (!v)
		abort();
	*n = pset_take(s, desc, 0, 0, v, (size_t)c + 1);
	if (*n != c)
		abort();
	return v;
}

/* A set from a lookup: rels ascending, < count; the descending walk is the
 * ascending one reversed, and `after` resumes where a page ended. */
static void check_set(const struct pset *s, uint32_t count)
{
	size_t n, m;
	uint32_t *a, *d, page[7];

	if (!s)
		abort();
	a = take_all(s, 0, &n);
	d = take_all(s, 1, &m);
	if (n != m)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (a[i] >= count || (i && a[i] <= a[i - 1]) || d[n - 1 - i] != a[i])
			abort();
	}
	if (n) {
		size_t k = pset_take(s, 0, 1, a[0], page, 7);

		if (k != (n - 1 < 7 ? n - 1 : 7) || (k && page[0] != a[1]))
			abort();
		k = pset_take(s, 1, 1, a[n - 1], page, 7);
		if (k != (n - 1 < 7 ? n - 1 : 7) || (k && page[0] != a[n - 2]))
			abort();
	}
	free(a);
	free(d);
}

static void same_set(struct pset *x, struct pset *y)
{
	size_t n, m;
	uint32_t *a, *b;

	if (!x || !y)
		abort();
	a = take_all(x, 0, &n);
	b = take_all(y, 0, &m);
	if (n != m || (n && memcmp(a, b, n * sizeof(*a))))
		abort();
	free(a);
	free(b);
	pset_free(x);
	pset_free(y);
}

static void exercise(const struct postings *q)
{
	static const char *probes[] = {"u", "user.login", "\x04", "\x06", "a", ""};
	uint32_t count = postings_count(q);

	for (uint8_t f = 0; f <= PF_FIELDS; f++) {
		struct pset *s = postings_any(q, f);

		check_set(s, count);
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			struct pset *t = postings_get(q, f, probes[i], strlen(probes[i]));

			check_set(t, count);
			pset_or(s, t);
			pset_free(t);
			t = postings_prefix(q, f, probes[i], strlen(probes[i]));
			check_set(t, count);
			pset_and(s, t);
			pset_free(t);
		}
		pset_free(s);
	}
	for (uint32_t r = 0; r < count + 2 && r < 600; r++) {
		int has;
		size_t len;

		postings_time(q, r, &has);
		postings_received(q, r, &has);
		for (uint8_t f = 0; f <= PF_FIELDS; f++)
			if (postings_value(q, r, f, &len) && (len == 0 || len > PF_TERM_MAX))
				abort();
	}
	{
		int64_t lo, hi;
		int has;

		postings_time_bounds(q, 0, &lo, &hi, &has);
		postings_time_bounds(q, 1, &lo, &hi, &has);
	}
}

static void decode_and_exercise(const uint8_t *b, size_t n)
{
	struct postings *q;
	uint8_t *again, *copy = malloc(n ? n : 1);
	size_t len;

	if (!copy)
		abort();
	memcpy(copy, b, n);
	if (postings_view(copy, n, 0, &q, NULL) == LS_OK) {
		exercise(q);
		postings_free(q);
	}
	free(copy);
	if (postings_decode(b, n, &q, NULL) != LS_OK)
		return;
	exercise(q);
	if (postings_encode(q, &again, &len, NULL) != LS_OK || len != n || memcmp(again, b, n))
		abort();
	free(again);
	postings_free(q);
}

/* Mode 2: the building set and its decoded twin answer alike. */
static void roundtrip(const uint8_t *b, size_t n)
{
	struct postings *p, *q;
	uint8_t *blob, *again;
	size_t len, len2, pos = 0;
	uint32_t rows = 0;

	if (postings_new(7, &p, NULL) != LS_OK)
		abort();
	while (pos < n && rows < MAX_ROWS) {
		struct pf_row row = {0};
		uint8_t h = b[pos++];
		uint32_t rep = 1;

		if (h & 0x40) {
			if (pos >= n)
				break;
			rep = 8 * ((uint32_t)b[pos++] + 1);
		}
		for (int c = 0; c < 2; c++)
			if (h & (0x10 << c)) {
				int64_t v;

				if (n - pos < 2)
					goto built;
				v = (int64_t)((uint32_t)b[pos] << 8 | b[pos + 1]) * 1000003;
				pos += 2;
				if (c) {
					row.has_received = 1;
					row.received_us = v;
				} else {
					row.has_time = 1;
					row.time_us = -v;
				}
			}
		for (size_t t = 0; t < (size_t)(h & 15); t++) {
			uint8_t len1;

			if (n - pos < 2)
				goto built;
			row.t[t].field = (uint8_t)(1 + b[pos] % 10);
			len1 = (uint8_t)(1 + b[pos + 1] % 4);
			pos += 2;
			if (n - pos < len1)
				goto built;
			row.t[t].len = len1;
			row.t[t].bytes = b + pos;
			pos += len1;
			row.nterms = t + 1;
		}
		for (uint32_t k = 0; k < rep && rows < MAX_ROWS; k++) {
			if (row.has_time)
				row.time_us += 1;
			if (postings_add_row(p, rows++, &row, NULL) != LS_OK)
				abort();
		}
	}
built:
	if (postings_encode(p, &blob, &len, NULL) != LS_OK)
		abort();
	if (postings_decode(blob, len, &q, NULL) != LS_OK)
		abort();
	if (postings_count(q) != rows || postings_first(q) != 7)
		abort();
	/* terms at the first 64 offsets of the input, their first byte as a
	 * prefix, any */
	for (size_t i = 0; i + 2 < n && i < 64; i++) {
		uint8_t f = (uint8_t)(1 + b[i] % 10), l = (uint8_t)(1 + b[i + 1] % 4);

		if (n - i - 2 < l)
			break;
		same_set(postings_get(p, f, b + i + 2, l), postings_get(q, f, b + i + 2, l));
		same_set(postings_prefix(p, f, b + i + 2, 1), postings_prefix(q, f, b + i + 2, 1));
	}
	for (uint8_t f = 0; f <= PF_FIELDS; f++)
		same_set(postings_any(p, f), postings_any(q, f));
	for (uint32_t r = 0; r < rows; r++) {
		int h1, h2;

		if (postings_time(p, r, &h1) != postings_time(q, r, &h2) || h1 != h2 ||
		    postings_received(p, r, &h1) != postings_received(q, r, &h2) || h1 != h2)
			abort();
		for (uint8_t f = PF_ACTION; f <= PF_SERVICE; f++) {
			size_t l1, l2;
			const char *v1 = postings_value(p, r, f, &l1), *v2 = postings_value(q, r, f, &l2);

			if (!v1 != !v2 || (v1 && (l1 != l2 || memcmp(v1, v2, l1))))
				abort();
		}
	}
	for (int c = 0; c < 2; c++) {
		int64_t lo1, hi1, lo2, hi2;
		int h1, h2;

		postings_time_bounds(p, c, &lo1, &hi1, &h1);
		postings_time_bounds(q, c, &lo2, &hi2, &h2);
		if (h1 != h2 || lo1 != lo2 || hi1 != hi2)
			abort();
	}
	exercise(q);
	if (postings_encode(q, &again, &len2, NULL) != LS_OK || len2 != len ||
	    memcmp(again, blob, len))
		abort();
	free(again);
	free(blob);
	postings_free(q);
	postings_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *b = data + 1;
	size_t n = size ? size - 1 : 0;

	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		decode_and_exercise(b, n);
		break;
	case 1: {
		uint8_t *c;
		uint32_t crc;

		if (n < 4)
			break;
		c = malloc(n);
		if (!c)
			abort();
		memcpy(c, b, n);
		crc = (uint32_t)libdeflate_crc32(0, c, n - 4);
		c[n - 4] = (uint8_t)(crc >> 24);
		c[n - 3] = (uint8_t)(crc >> 16);
		c[n - 2] = (uint8_t)(crc >> 8);
		c[n - 1] = (uint8_t)crc;
		decode_and_exercise(c, n);
		free(c);
		break;
	}
	default:
		roundtrip(b, n);
	}
	return 0;
}
