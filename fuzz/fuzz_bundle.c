/*
 * fuzz_bundle.c - libFuzzer target for the offline bundle check
 * (export_verify_bundle), which reads files an auditor was handed.
 *
 * The input is written to a private temporary file and checked against a
 * fixed key: the key of the log that made the seed bundles in
 * fuzz/corpus/fuzz_bundle/ (so mutations start from bundles that verify and
 * reach the entry, proof and manifest checks).  Besides memory safety it
 * checks what must stay true:
 *  - an error always names a line ("line N: ...");
 *  - an accepted bundle reports no more entries than its tree size, the
 *    key's name as origin, and is accepted again (the check is a function
 *    of the bytes).
 * Any broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "followers/export.h"
#include "core/note.h"

/* verifier.key of the log that made the seed corpus. */
static const char seed_vkey[] = "fuzz.example/log+939225c7+AeRGmTqsNDuUut0blcfcV+a/Rhjpb62Uc6PcqJeMTkmL";

static struct note_verifier key;
static char path[64];
static int ready;

static void cleanup(void)
{
	unlink(path);
}

static void setup(void)
{
	int fd;

	if (note_verifier_parse(seed_vkey, strlen(seed_vkey), &key, NULL) != LS_OK)
		abort();
	snprintf(path, sizeof(path), "/tmp/fuzz_bundle.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	atexit(cleanup);
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_report rep, rep2;
	struct ls_err err = { "" };
	FILE *f;
	ls_rc rc;

	if (!ready)
		setup();
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();

	rc = export_verify_bundle(path, &key, &rep, &err);
	if (rc != LS_OK) {
		if (strncmp(err.msg, "line ", 5) != 0)
			abort();
		return 0;
	}
	if (rep.entries > rep.tree_size || strcmp(rep.origin, key.name) != 0)
		abort();
	if (export_verify_bundle(path, &key, &rep2, &err) != LS_OK ||
	    memcmp(&rep, &rep2, sizeof(rep)) != 0)
		abort();
	return 0;
}
