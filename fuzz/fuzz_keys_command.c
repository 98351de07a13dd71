/*
 * fuzz_keys_command.c - libFuzzer target for the master key command splitter
 * (keys_split_command, keys.h; the rule is docs/FORMAT.md §6).
 *
 * What must stay true besides memory safety:
 *  - a refusal is LS_INVALID (or LS_NOMEM) and leaves *argv NULL;
 *  - an accepted command has at least one word, every word is no longer
 *    than the command, and the word list ends with NULL;
 *  - the words, each quoted again ('...' with a ' written as '\''), joined
 *    by one blank and split again, give the same words (round trip);
 *  - a command with no quote, backslash or blank is one word: itself.
 * Any broken property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"

/* The words of v quoted so that the rule gives them back, malloc'd. */
static char *requote(char **v)
{
	size_t n = 1;
	char *out, *o;

	for (size_t i = 0; v[i]; i++)
		n += 4 * strlen(v[i]) + 3;
	out = o = malloc(n);
	if (!out)
		abort();
	for (size_t i = 0; v[i]; i++) {
		if (i)
			*o++ = ' ';
		*o++ = '\'';
		for (const char *c = v[i]; *c; c++) {
			if (*c == '\'') {
				/* close, an escaped quote outside, open again */
				memcpy(o, "'\\''", 4);
				o += 4;
			} else {
				*o++ = *c;
			}
		}
		*o++ = '\'';
	}
	*o = 0;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cmd = malloc(size + 1), **v = NULL, **v2 = NULL, *q;
	struct ls_err err;
	size_t i, len;
	ls_rc rc;

	if (!cmd)
		abort();
	memcpy(cmd, data, size);
	cmd[size] = 0;
	len = strlen(cmd);

	rc = keys_split_command(cmd, &v, &err);
	if (rc != LS_OK) {
		if ((rc != LS_INVALID && rc != LS_NOMEM) || v)
			abort();
		free(cmd);
		return 0;
	}
	if (!v || !v[0])
		abort();
	for (i = 0; v[i]; i++)
		if (strlen(v[i]) > len)
			abort();
	if (len && !strpbrk(cmd, "'\"\\ \t\n") && (v[1] || strcmp(v[0], cmd) != 0))
		abort();

	q = requote(v);
	if (keys_split_command(q, &v2, &err) != LS_OK)
		abort();
	for (i = 0; v[i] && v2[i]; i++)
		if (strcmp(v[i], v2[i]) != 0)
			abort();
	if (v[i] || v2[i])
		abort();
	free(q);
	free(v2);
	free(v);
	free(cmd);
	return 0;
}
