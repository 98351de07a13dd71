/*
 * fuzz_export_formats.c - libFuzzer target for the SIEM mappings of an
 * export (export_formats.c): the input is one stored entry, exported as CSV,
 * ECS and OCSF.  The entries a server exports are its own canonical JSON,
 * but a mapping must not trust them: any bytes give either an error or
 * output.  Besides memory safety it checks what must stay true:
 *  - an entry is refused only with LS_CORRUPT (not a JSON object) or
 *    LS_INVALID (no CSV form), and the writer then refuses to go on;
 *  - an accepted entry makes exactly one line of ECS or OCSF (one '\n', at
 *    the end), and CSV output ends in "\r\n".
 * Any broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "followers/export.h"

struct out {
	char *p;
	size_t n;
};

static ls_rc collect(void *ctx, const void *data, size_t n)
{
	struct out *o = ctx;
	char *np = realloc(o->p, o->n + n);

	if (!np && o->n + n)
		return LS_NOMEM;
	if (n)
		memcpy(np + o->n, data, n);
	o->p = np;
	o->n += n;
	return LS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum export_format fmts[] = { EXPORT_CSV, EXPORT_ECS, EXPORT_OCSF };
	struct export_header h = { .origin = "fuzz.example/log", .created_us = 1700000000000000 };
	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
		struct export_writer *w = NULL;
		struct ls_err err = { "" };
		struct out o = { 0 };
		size_t head;
		ls_rc rc;

		if (export_begin(fmts[f], &h, NULL, collect, &o, &w, &err) != LS_OK)
			abort();
		rc = export_entry(w, 7, data, size, NULL, 0, &err);
		if (rc == LS_OK) {
			if (export_end(w, &err) != LS_OK)
				abort();
			head = 0;
			if (fmts[f] == EXPORT_CSV) {
				const char *nl = memchr(o.p, '\n', o.n);

				/* the header line, then the row */
				if (!nl)
					abort();
				head = (size_t)(nl - o.p) + 1;
				if (o.n < head + 2 || memcmp(o.p + o.n - 2, "\r\n", 2))
					abort();
			} else if (o.n == 0 || o.p[o.n - 1] != '\n' ||
				   memchr(o.p, '\n', o.n - 1)) {
				abort();
			}
		} else {
			if (rc != LS_CORRUPT && rc != LS_INVALID && rc != LS_NOMEM)
				abort();
			if (export_entry(w, 8, data, size, NULL, 0, &err) == LS_OK)
				abort();
		}
		export_free(w);
		free(o.p);
	}
	return 0;
}
