/*
 * fuzz_cosigned.c - libFuzzer target for the merge of witnesses'
 * cosignature lines into a signed note (followers/cosigned.h) and the
 * --witness URL=VKEY parser (followers/witnesses.h).
 *
 * Input: <note> NUL <lines> (no NUL: all of it is the note, no lines).
 * Invariants checked (abort on breach):
 *  - an accepted merge starts with the note byte for byte (cosigned.c
 *    invariant 1), is at most note + lines long, ends in '\n' and holds no
 *    NUL;
 *  - a parsed spec gives a non-empty http(s) URL and a key that fits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "followers/cosigned.h"
#include "followers/witnesses.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	const char *note = (const char *)data, *lines = nul ? (const char *)nul + 1 : "";
	size_t ln = nul ? size - n - 1 : 0;
	char *out = NULL, *spec, url[1024], vkey[512];
	size_t olen = 0;

	if (memchr(lines, 0, ln))
		return 0; /* one NUL only: the separator */
	if (cosigned_merge(note, n, lines, ln, &out, &olen) == LS_OK) {
		if (olen < n || olen > n + ln || memcmp(out, note, n) != 0 ||
		    out[olen - 1] != '\n' || strlen(out) != olen)
			abort();
	}
	free(out);
	spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = 0;
	if (witnesses_parse_spec(spec, url, sizeof(url), vkey, sizeof(vkey), NULL) == LS_OK) {
		if (!url[0] || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
		    strlen(vkey) >= sizeof(vkey))
			abort();
	}
	free(spec);
	return 0;
}
