/*
 * fuzz_jcanon - differential: the one-pass canonicaliser (jcanon.c) must
 * agree with the strict jansson path (event_canonicalize_text_ref) on every
 * input: both refuse with the same code, or both accept with identical
 * bytes.  And jcanon_is_object() must take exactly what jdom_parse() takes
 * as an object, duplicate keys aside.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/event.h"
#include "base/jcanon.h"

/* Does data nest containers more than max deep (brackets outside strings)? */
static int deeper(const uint8_t *data, size_t size, size_t max)
{
	size_t depth = 0;
	int in_str = 0;

	for (size_t i = 0; i < size; i++) {
		uint8_t c = data[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return 1;
		} else if ((c == '}' || c == ']') && depth) {
			depth--;
		}
	}
	return 0;
}

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

	struct jdom d = { 0 };
	struct ls_err ed = { { 0 } };
	size_t root;
	ls_rc rd = jdom_parse(&d, (const char *)data, size, EVENT_MAX_DEPTH, &root, &ed);
	int want = rd == LS_OK && d.node[root].type == JN_OBJ;

	if (rd == LS_INVALID && strstr(ed.msg, "duplicate object key")) {
		/* jdom stopped there: jansson, taking duplicates, judges the rest
		 * (its depth limit is far above EVENT_MAX_DEPTH: deeper is no) */
		json_t *j = json_loadb((const char *)data, size, 0, NULL);

		want = j && json_is_object(j) && !deeper(data, size, EVENT_MAX_DEPTH);
		json_decref(j);
	}

	if (jcanon_is_object((const char *)data, size, EVENT_MAX_DEPTH) != want) {
		fprintf(stderr, "jcanon_is_object %d, jdom %s (%s)\n", !want, ls_rc_name(rd),
			ed.msg);
		abort();
	}
	jdom_release(&d);
	return 0;
}
