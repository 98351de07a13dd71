/*
 * lsb1open.c - test helper: open an "LSB1" envelope (store/bundlekey.h) as
 * an auditor would, with the bundle key `logseal keys bundle-key` prints.
 *	lsb1open KEY-BASE64 ORIGIN N W <envelope >bundle
 * Exit 0 and the C2SP bundle on stdout, or 1 and the reason on stderr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "store/bundlekey.h"

int main(int argc, char **argv)
{
	uint8_t key[BUNDLEKEY_LEN], *out;
	struct ls_err err = { "" };
	size_t kl, n = 0, cap = 1 << 20, outlen;
	char *in = malloc(cap);
	size_t r;

	if (argc != 5 || !in) {
		fprintf(stderr, "usage: lsb1open KEY-BASE64 ORIGIN N W <envelope >bundle\n");
		return 2;
	}
	if (ls_b64_decode(argv[1], strlen(argv[1]), key, sizeof(key), &kl) != LS_OK ||
	    kl != sizeof(key)) {
		fprintf(stderr, "lsb1open: the key is not base64 of 32 bytes\n");
		return 1;
	}
	while ((r = fread(in + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap && !(in = realloc(in, cap *= 2)))
			return 1;
	}
	if (bundlekey_open(key, argv[2], strtoull(argv[3], NULL, 10),
			   (unsigned)strtoul(argv[4], NULL, 10), in, n, &out, &outlen,
			   &err) != LS_OK) {
		fprintf(stderr, "lsb1open: %s\n", err.msg);
		free(in);
		return 1;
	}
	fwrite(out, 1, outlen, stdout);
	free(out);
	free(in);
	return 0;
}
