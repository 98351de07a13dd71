/*
 * fuzz_cpindex.c - libFuzzer target for the checkpoint index
 * (checkpoints.index, cpindex.h): cpindex_parse_line on the input as one
 * line, and cpindex_load on the input as a whole file.
 *
 * Every line carries an HMAC that the fuzzer cannot forge, so besides the
 * input as it is, the target also tries it "resealed": each line gets the
 * HMAC of what comes before its last space under the fixed key, which is
 * what the parser checks.  That lets the mutations reach the field parsing
 * and the chain checks behind the seal.  What must stay true:
 *  - an accepted line is exactly the line the writer makes of the values
 *    parsed from it (the HMAC covers the three fields as written, so a
 *    line in any other form would be a root or size the HMAC does not
 *    stand for);
 *  - an accepted file starts with size 0, previous 0, and its sizes
 *    increase; loading it again after repair gives the same entries, and a
 *    repaired file ends in a newline.
 * Any broken property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "store/cpindex.h"

static const uint8_t key[32] = {
	0x63, 0x70, 0x69, 0x6e, 0x64, 0x65, 0x78, 0x2d, 0x66, 0x75, 0x7a, 0x7a,
	0x2d, 0x6b, 0x65, 0x79, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/* A directory of our own for the index file, made once per process and
 * removed at exit. */
static char dir[] = "/tmp/fuzz_cpindex.XXXXXX";
static char path[sizeof(dir) + sizeof(CPINDEX_FILE) + 1];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/%s", dir, CPINDEX_FILE);
	atexit(cleanup);
	return 0;
}

/* Check one line (line[len] == 0) and, when it is accepted, that it is the
 * writer's form of what was parsed. */
static void check_line(const char *line, size_t len)
{
	char want[256], b64[LS_B64_LEN(LS_HASH_LEN) + 1], hex[2 * CFGSEAL_MAC_LEN + 1];
	uint8_t root[LS_HASH_LEN], mac[CFGSEAL_MAC_LEN];
	uint64_t size, prev;
	ls_rc rc = cpindex_parse_line(key, line, len, &size, &prev, root);
	int n;

	if (rc != LS_OK) {
		if (rc != LS_CORRUPT && rc != LS_TAMPERED)
			abort();
		return;
	}
	ls_b64_encode(root, LS_HASH_LEN, b64, sizeof(b64));
	n = snprintf(want, sizeof(want), "%llu %llu %s", (unsigned long long)size,
		     (unsigned long long)prev, b64);
	cfgseal_mac(key, CPINDEX_FILE, want, (size_t)n, mac);
	ls_hex(mac, sizeof(mac), hex);
	n += snprintf(want + n, sizeof(want) - (size_t)n, " %s", hex);
	if ((size_t)n != len || memcmp(want, line, len) != 0) {
		fprintf(stderr, "accepted \"%s\"\nwriter's form \"%s\"\n", line, want);
		abort();
	}
}

/* in[0..n) with every line's last field replaced by the HMAC of the text
 * before its last space; lines without a space are kept as they are. */
static char *reseal(const uint8_t *in, size_t n, size_t *outlen)
{
	char *out = malloc(n * 2 + 80 * (n / 2 + 1) + 1), *o = out;
	size_t i = 0;

	if (!out)
		abort();
	while (i < n) {
		const uint8_t *nl = memchr(in + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - in) : n, sp = end;
		uint8_t mac[CFGSEAL_MAC_LEN];

		while (sp > i && in[sp - 1] != ' ')
			sp--;
		if (sp > i) {
			/* The parser takes the body up to the last space as a
			 * C string, so the MAC stops at a NUL as it would. */
			size_t body = sp - 1 - i;
			const uint8_t *z = memchr(in + i, 0, body);

			cfgseal_mac(key, CPINDEX_FILE, in + i, z ? (size_t)(z - (in + i)) : body,
				    mac);
			memcpy(o, in + i, sp - i);
			o += sp - i;
			ls_hex(mac, sizeof(mac), o);
			o += 2 * sizeof(mac);
		} else {
			memcpy(o, in + i, end - i);
			o += end - i;
		}
		if (nl)
			*o++ = '\n';
		i = end + (nl ? 1 : 0);
	}
	*o = 0;
	*outlen = (size_t)(o - out);
	return out;
}

static void check_lines(const char *s, size_t n)
{
	size_t i = 0;
	char *line;

	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) : n;

		line = malloc(end - i + 1);
		if (!line)
			abort();
		memcpy(line, s + i, end - i);
		line[end - i] = 0;
		check_line(line, end - i);
		free(line);
		i = end + 1;
	}
}

static void write_file(const char *s, size_t n)
{
	FILE *f = fopen(path, "w");

	if (!f || (n && fwrite(s, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

static void check_load(const char *s, size_t n)
{
	struct cpindex_ent *e = NULL, *e2 = NULL;
	size_t ne = 0, ne2 = 0;
	struct ls_err err;
	ls_rc rc;

	write_file(s, n);
	rc = cpindex_load(dir, key, 1, &e, &ne, &err);
	if (rc != LS_OK) {
		if (rc != LS_TAMPERED && rc != LS_IO && rc != LS_NOMEM)
			abort();
		return;
	}
	if (ne == 0 || e[0].size != 0)
		abort();
	for (size_t i = 1; i < ne; i++)
		if (e[i].size <= e[i - 1].size)
			abort();
	/* The repair cut only a torn last line: the file now ends in a
	 * newline and loads to the same entries. */
	if (cpindex_load(dir, key, 0, &e2, &ne2, &err) != LS_OK || ne2 != ne ||
	    memcmp(e, e2, ne * sizeof(*e)) != 0)
		abort();
	{
		FILE *f = fopen(path, "r");
		int last = EOF, c;

		if (!f)
			abort();
		while ((c = fgetc(f)) != EOF)
			last = c;
		fclose(f);
		if (last != '\n')
			abort();
	}
	free(e);
	free(e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t rn;
	char *r;

	/* An index line is at most 256 bytes; longer inputs only repeat the
	 * same paths more slowly. */
	if (size > 8192)
		return 0;
	check_lines((const char *)data, size);
	check_load((const char *)data, size);

	r = reseal(data, size, &rn);
	check_lines(r, rn);
	check_load(r, rn);
	free(r);
	return 0;
}
