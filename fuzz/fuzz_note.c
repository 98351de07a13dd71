/*
 * fuzz_note.c - libFuzzer target for the signed-note and checkpoint parsers.
 *
 * The same input is fed to note_verifier_parse, note_signer_parse, note_open
 * (with two fixed known keys: the C2SP example key and a key of our own) and
 * checkpoint_parse.  Besides memory safety it checks what must stay true:
 *  - a parsed key formats back to a string that parses to the same key;
 *  - note_open's text length is a proper prefix of the input ending in '\n';
 *  - an accepted checkpoint formats to a prefix of its input (extension lines
 *    are the only thing format drops) and parses back to itself.
 * Any broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/note.h"

/* c2sp.org/signed-note example key. */
static const char c2sp_vkey[] = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
/* golang.org/x/mod/sumdb/note reference key. */
static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

static struct note_verifier known[2];
static int ready;

static void setup(void)
{
	if (note_verifier_parse(c2sp_vkey, strlen(c2sp_vkey), &known[0], NULL) != LS_OK ||
	    note_verifier_parse(go_vkey, strlen(go_vkey), &known[1], NULL) != LS_OK)
		abort();
	ready = 1;
}

static void check_keys(const char *s, size_t n)
{
	struct note_verifier v, v2;
	struct note_signer k, k2;
	char out[1024];

	if (note_verifier_parse(s, n, &v, NULL) == LS_OK) {
		if (note_verifier_format(&v, out, sizeof(out)) != LS_OK ||
		    note_verifier_parse(out, strlen(out), &v2, NULL) != LS_OK ||
		    memcmp(&v, &v2, sizeof(v)) != 0)
			abort();
	}
	if (note_signer_parse(s, n, &k, NULL) == LS_OK) {
		if (note_signer_format(&k, out, sizeof(out)) != LS_OK ||
		    note_signer_parse(out, strlen(out), &k2, NULL) != LS_OK ||
		    memcmp(&k, &k2, sizeof(k)) != 0)
			abort();
		note_signer_wipe(&k);
		note_signer_wipe(&k2);
	}
}

static void check_checkpoint(const char *s, size_t n)
{
	struct checkpoint c, c2;
	char out[NOTE_MAX_NAME + 128];
	struct ls_err err;
	size_t len;

	if (checkpoint_parse(s, n, &c, &err) != LS_OK)
		return;
	if (checkpoint_format(&c, out, sizeof(out)) != LS_OK)
		abort();
	len = strlen(out);
	if (len > n || memcmp(out, s, len) != 0)
		abort();
	if (checkpoint_parse(out, len, &c2, NULL) != LS_OK || memcmp(&c, &c2, sizeof(c)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct ls_err err;
	size_t tl = 0;
	ls_rc rc;

	if (!ready)
		setup();
	check_keys(s, size);

	rc = note_open(s, size, known, 2, &tl, &err);
	if (rc == LS_OK) {
		if (tl == 0 || tl >= size || s[tl - 1] != '\n' || s[tl] != '\n')
			abort();
		/* The signed text of an accepted note may be a checkpoint. */
		check_checkpoint(s, tl);
	} else if (tl != 0) {
		abort();
	}
	check_checkpoint(s, size);
	return 0;
}
