/*
 * fuzz_jcanon - differential: the one-pass canonicaliser (jcanon.c) must
 * agree with the strict jansson path (event_canonicalize_text_ref) on every
 * input: both refuse with the same code, or both accept with identical
 * bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "jcanon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	struct ls_err ea, eb;
	ls_rc ra, rb;

	ra = jcanon_object((const char *)data, size, EVENT_MAX_DEPTH, EVENT_MAX_BYTES, &a, &al, &ea);
	rb = event_canonicalize_text_ref((const char *)data, size, &b, &bl, &eb);
	if (ra != rb) {
		fprintf(stderr, "jcanon %s (%s) vs jansson %s (%s)\n", ls_rc_name(ra), ea.msg,
			ls_rc_name(rb), eb.msg);
		abort();
	}
	if (ra == LS_OK && (al != bl || memcmp(a, b, al) != 0)) {
		fprintf(stderr, "different bytes:\n%.*s\n%.*s\n", (int)al, a, (int)bl, b);
		abort();
	}
	free(a);
	free(b);
	return 0;
}
