/*
 * fuzz_objstore.c - libFuzzer target for the object store's parsers
 * (store/objstore.h): objstore_parse_url on the input as a string,
 * objstore_parse_error and objstore_parse_listing on it as a reply body.
 *
 * Besides memory safety it checks what must stay true:
 *  - an accepted s3:// URL has a bucket of 3..63 of [a-z0-9.-] and a prefix
 *    without a leading, trailing or doubled '/', and "s3://BUCKET/PREFIX"
 *    made from them parses back to the same bucket and prefix; an accepted
 *    http(s) URL's base starts with its scheme, has no trailing '/' and no
 *    '@', '?' or '#';
 *  - error Code and Message come back NUL-terminated within their caps,
 *    also with tiny caps;
 *  - an accepted listing has n keys, each 1..OBJSTORE_KEY_MAX-1 bytes, a
 *    version id per key exactly for ListVersionsResult, and a next token
 *    when truncated; a refused one leaves the listing empty.
 * Any broken property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/objstore.h"

static void check_url(const uint8_t *data, size_t size)
{
	char s[2048], again[2400];
	struct objstore_url u, v;
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = 0;
	if (objstore_parse_url(s, &u, NULL) != LS_OK)
		return;
	if (u.s3) {
		size_t bl = strlen(u.bucket), pl = strlen(u.prefix);

		if (bl < 3 || bl > 63 || strspn(u.bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != bl)
			abort();
		if (pl && (u.prefix[0] == '/' || u.prefix[pl - 1] == '/' || strstr(u.prefix, "//")))
			abort();
		if (pl >= OBJSTORE_KEY_MAX || u.base[0])
			abort();
		snprintf(again, sizeof(again), "s3://%s/%s", u.bucket, u.prefix);
		if (objstore_parse_url(again, &v, NULL) != LS_OK || !v.s3 ||
		    strcmp(u.bucket, v.bucket) != 0 || strcmp(u.prefix, v.prefix) != 0)
			abort();
	} else {
		size_t bl = strlen(u.base);

		if ((strncmp(u.base, "http://", 7) != 0 && strncmp(u.base, "https://", 8) != 0) ||
		    bl == 0 || u.base[bl - 1] == '/' || strpbrk(u.base, "@?#") || u.bucket[0])
			abort();
	}
}

static void check_error(const uint8_t *data, size_t size)
{
	char code[64], msg[256], c1[1], m2[2];

	objstore_parse_error((const char *)data, size, code, sizeof(code), msg, sizeof(msg));
	if (strnlen(code, sizeof(code)) >= sizeof(code) || strnlen(msg, sizeof(msg)) >= sizeof(msg))
		abort();
	objstore_parse_error((const char *)data, size, c1, sizeof(c1), m2, sizeof(m2));
	if (c1[0] != 0 || strnlen(m2, 2) > 1)
		abort();
}

static void check_listing(const uint8_t *data, size_t size)
{
	struct objstore_listing l;
	int versions = size >= 19 && memmem(data, size, "ListVersionsResult", 18) != NULL;
	ls_rc rc = objstore_parse_listing((const char *)data, size, &l, NULL);

	if (rc != LS_OK) {
		if (l.n || l.keys || l.sizes || l.version_ids)
			abort();
		return;
	}
	if (l.n && (!l.keys || !l.sizes))
		abort();
	if (l.version_ids && !versions)
		abort();
	for (size_t i = 0; i < l.n; i++) {
		size_t kl = strlen(l.keys[i]);

		if (kl == 0 || kl >= OBJSTORE_KEY_MAX)
			abort();
		if (l.version_ids && !l.version_ids[i])
			abort();
	}
	if (l.truncated && !l.next_token[0])
		abort();
	if (strnlen(l.next_token, sizeof(l.next_token)) >= sizeof(l.next_token) ||
	    strnlen(l.next_version, sizeof(l.next_version)) >= sizeof(l.next_version))
		abort();
	objstore_listing_free(&l);
	if (l.n || l.keys)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_url(data, size);
	check_error(data, size);
	check_listing(data, size);
	return 0;
}
