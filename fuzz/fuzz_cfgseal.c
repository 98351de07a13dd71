/*
 * fuzz_cfgseal.c - libFuzzer target for the sealed configuration file
 * format (cfgseal.h): cfgseal_split and cfgseal_open on the input as a
 * file's bytes, and cfgseal_seal of the input as a text.
 *
 * Besides memory safety it checks what must stay true, under one fixed key
 * (the seeds include files sealed under it, so the accepting path is
 * reached too):
 *  - a split leaves a NUL-terminated text that starts with '{' and is
 *    shorter than the file by the seal's member;
 *  - cfgseal_open refuses with LS_NOTFOUND exactly when the split finds no
 *    seal, and otherwise gives the same text as the split;
 *  - sealing a text and opening the result gives back the same text, and
 *    the result is itself a file that split recognises (round trip in both
 *    directions: a split text sealed again opens to itself);
 *  - a text sealed under the key does not open under the key with one bit
 *    flipped, nor under another file name (the name is in the MAC).
 * Any broken property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/cfgseal.h"

static const uint8_t key[CFGSEAL_KEY_LEN] = {
	0x6c, 0x6f, 0x67, 0x73, 0x65, 0x61, 0x6c, 0x2d, 0x66, 0x75, 0x7a, 0x7a,
	0x2d, 0x63, 0x66, 0x67, 0x73, 0x65, 0x61, 0x6c, 0x2d, 0x6b, 0x65, 0x79,
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
};
#define NAME "tokens.json"

/* seal text, then check that it opens to text under key and name only. */
static void round_trip(const char *text, size_t len)
{
	uint8_t other[CFGSEAL_KEY_LEN];
	char *f = NULL;
	size_t n = 0, m;
	ls_rc rc = cfgseal_seal(key, NAME, text, len, &f, &n);

	if (len < 2 || text[0] != '{') {
		if (rc != LS_INVALID || f)
			abort();
		return;
	}
	if (rc == LS_NOMEM)
		return;
	if (rc != LS_OK || !f || f[n] != 0 || n <= len)
		abort();
	/* The same file under another name, or another key, must not open:
	 * a seal moved between files or directories is refused. */
	char *g = malloc(n + 1);
	if (!g)
		abort();
	memcpy(g, f, n + 1);
	m = n;
	if (cfgseal_open(key, "webhooks.json", g, &m) != LS_TAMPERED)
		abort();
	memcpy(g, f, n + 1);
	m = n;
	memcpy(other, key, sizeof(other));
	other[len % sizeof(other)] ^= 1;
	if (cfgseal_open(other, NAME, g, &m) != LS_TAMPERED)
		abort();
	free(g);

	m = n;
	if (cfgseal_open(key, NAME, f, &m) != LS_OK || m != len || memcmp(f, text, len) != 0 ||
	    f[m] != 0)
		abort();
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mac[CFGSEAL_MAC_LEN];
	char *a, *b;
	size_t la = size, lb = size;
	ls_rc rs, ro;

	/* split and open work in place and write a NUL: room for it, as
	 * fs_read_file gives. */
	a = malloc(size + 1);
	b = malloc(size + 1);
	if (!a || !b)
		abort();
	memcpy(a, data, size);
	memcpy(b, data, size);
	a[size] = b[size] = 0;

	rs = cfgseal_split(a, &la, mac);
	ro = cfgseal_open(key, NAME, b, &lb);
	if (rs == LS_OK) {
		if (la >= size || la == 0 || a[0] != '{' || a[la] != 0)
			abort();
		if (ro != LS_OK && ro != LS_TAMPERED)
			abort();
		if (lb != la || memcmp(a, b, la) != 0)
			abort();
		/* The split text, sealed again, opens to itself.  (A file
		 * that ends right after the member's comma splits to "{",
		 * which is no object's text, so seal refuses it: such a file
		 * can only open with a MAC that no writer ever made.) */
		round_trip(a, la);
	} else {
		/* No seal: nothing was touched. */
		if (rs != LS_NOTFOUND || ro != LS_NOTFOUND || la != size || lb != size ||
		    memcmp(a, data, size) != 0 || memcmp(b, data, size) != 0)
			abort();
	}
	free(a);
	free(b);

	round_trip((const char *)data, size);
	return 0;
}
