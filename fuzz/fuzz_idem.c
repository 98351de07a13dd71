/*
 * fuzz_idem.c - libFuzzer target for the idempotency snapshot decoder
 * (idem_snapshot_load, idem.h).
 *
 * The input is loaded twice:
 *  - as it is, into a map under a fixed secret: it must load or be refused
 *    with LS_CORRUPT (or LS_NOMEM), and a refused load leaves the map empty;
 *  - "fixed up": the magic, version, flags and record count are set to
 *    agree with the input's length and the HMAC under the secret is
 *    appended, so that the records themselves (keys, indexes, times) reach
 *    the table.  The map's bounds, the log size and whether the map is keyed
 *    come from header bytes the decoder does not read.  Such a snapshot must
 *    load; then covered <= size, the map holds no more keys than the
 *    records nor than max_keys, every key it holds is found again at its
 *    index, and encoding the map and loading that into a fresh map gives the
 *    same records (round trip).
 * Any broken property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "server/idem.h"

/* Layout from docs/FORMAT.md, "Idempotency snapshot". */
#define HDR 64
#define REC 32
#define MAC LS_HASH_LEN

static const uint8_t secret[IDEM_SECRET_LEN] = {
	0x69, 0x64, 0x65, 0x6d, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x73, 0x65,
	0x63, 0x72, 0x65, 0x74, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
};

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static struct idem *map_new(int64_t window_us, size_t max_keys, const uint8_t *key)
{
	struct idem_opts o = { .window_us = window_us, .max_keys = max_keys, .secret = key };
	struct idem *m = NULL;

	if (idem_new(&o, &m) != LS_OK)
		abort();
	return m;
}

static void load_raw(const uint8_t *data, size_t size)
{
	struct idem *m = map_new(0, 0, secret);
	uint64_t covered = 12345;
	struct ls_err err;
	ls_rc rc = idem_snapshot_load(m, data, size, UINT64_MAX, &covered, &err);

	if (rc == LS_OK) {
		if (idem_count(m) > (size - HDR - MAC) / REC)
			abort();
	} else if ((rc != LS_CORRUPT && rc != LS_NOMEM) || idem_count(m) != 0 || covered != 12345) {
		abort();
	}
	idem_free(m);
}

/* The key at index, found again: idem_reserve must report it committed. */
static void find_again(struct idem *m, const uint8_t *rec, uint64_t size)
{
	struct idem_key k;
	int64_t found = 0;

	memcpy(k.b, rec, IDEM_KEY_LEN);
	if (idem_reserve(m, &k, 1, size, 0, &found, 0) != LS_OK ||
	    found != (int64_t)get_be64(rec + 16))
		abort();
}

static void load_fixed(const uint8_t *data, size_t size)
{
	/* Bytes 48..63 of the header are not read by the decoder: they choose
	 * the map and the log size here. */
	const int keyed = data[48] & 1;
	const size_t max_keys = data[49] & 7;
	const int64_t window_us = (int64_t)(data[50] & 0x0f) * 1000;
	const uint64_t size_log = get_be64(data + 56);
	const uint8_t *key = keyed ? secret : NULL;
	size_t nrec = (size - HDR) / REC, len = HDR + nrec * REC + MAC;
	uint8_t *buf = malloc(len), *enc = NULL, *enc2 = NULL, zero[IDEM_SECRET_LEN] = { 0 };
	size_t elen = 0, elen2 = 0;
	uint64_t covered = 0, cov2 = 0, cov3 = 0;
	struct idem *m, *m2;
	struct ls_err err;
	ls_rc rc;

	if (!buf)
		abort();
	memcpy(buf, data, HDR + nrec * REC);
	memcpy(buf, "LSIDEM01", 8);
	put_be32(buf + 8, 1);
	put_be32(buf + 12, keyed ? 1 : 0);
	put_be64(buf + 32, nrec);
	ls_hmac_sha256(keyed ? secret : zero, IDEM_SECRET_LEN, buf, len - MAC, buf + len - MAC);

	m = map_new(window_us, max_keys, key);
	rc = idem_snapshot_load(m, buf, len, size_log, &covered, &err);
	if (rc == LS_NOMEM)
		goto out;
	if (rc != LS_OK || covered > size_log || idem_count(m) > nrec ||
	    (max_keys && idem_count(m) > max_keys))
		abort();
	/* A map of the other kind refuses the snapshot. */
	m2 = map_new(0, 0, keyed ? NULL : secret);
	if (idem_snapshot_load(m2, buf, len, size_log, &cov2, &err) != LS_CORRUPT)
		abort();
	idem_free(m2);

	/* Round trip: what the map holds, encoded, loads to the same map.
	 * now_us 0 is older than anything the map saw: nothing is evicted. */
	if (idem_snapshot_encode(m, size_log, 0, &enc, &elen, &cov2) != LS_OK)
		goto out;
	if (elen != HDR + idem_count(m) * REC + MAC || cov2 != size_log)
		abort();
	m2 = map_new(window_us, max_keys, key);
	if (idem_snapshot_load(m2, enc, elen, size_log, &cov3, &err) != LS_OK ||
	    idem_count(m2) != idem_count(m) || cov3 != cov2)
		abort();
	if (idem_snapshot_encode(m2, size_log, 0, &enc2, &elen2, &cov3) == LS_OK) {
		/* Records and count agree; the header's newest time may not
		 * (the map forgot keys whose times it had seen). */
		if (elen2 != elen || memcmp(enc + 32, enc2 + 32, 8) != 0 ||
		    memcmp(enc + HDR, enc2 + HDR, elen - HDR - MAC) != 0)
			abort();
	}
	for (size_t i = 0; i < idem_count(m); i++) {
		const uint8_t *rec = enc + HDR + i * REC;

		if (get_be64(rec + 16) >= size_log)
			abort();
		if (i == 0 || i + 1 == idem_count(m))
			find_again(m2, rec, size_log);
	}
	idem_free(m2);
out:
	free(enc);
	free(enc2);
	free(buf);
	idem_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load_raw(data, size);
	if (size >= HDR)
		load_fixed(data, size);
	return 0;
}
