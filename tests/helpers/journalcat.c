/*
 * journalcat - test helper: print what an (encrypted or plaintext) data
 * directory stores, as plaintext, so that shell tests can grep the
 * content without knowing whether it is encrypted at rest or where it is
 * kept (sealed segments or the write-ahead log): it reads through the
 * store's seam (store/reader.h).
 *
 *	journalcat DIR                 every stored entry, one per line
 *	journalcat DIR bundle N W      entry bundle N of width W (256: full),
 *	                               the C2SP bytes, as GET /log/tile/entries
 *	                               serves them
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/reader.h"

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	struct ls_err err = { "" };
	ls_rc rc;

	if (argc != 2 && !(argc == 5 && !strcmp(argv[2], "bundle"))) {
		fprintf(stderr, "usage: journalcat DIR [bundle N W]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/journal", argv[1]);
	if (argc == 5) {
		uint8_t *data;
		size_t len;

		rc = store_bundle(path, strtoull(argv[3], NULL, 10),
				  (unsigned)strtoul(argv[4], NULL, 10), &data, &len, &err);
		if (rc != LS_OK) {
			fprintf(stderr, "journalcat: %s\n", err.msg);
			return 1;
		}
		fwrite(data, 1, len, stdout);
		free(data);
		return 0;
	}
	{
		struct store_iter *it;
		const uint8_t *data;
		size_t len;
		uint64_t idx;

		if (store_iter_open(path, 0, 0, &it, &err) != LS_OK) {
			fprintf(stderr, "journalcat: %s\n", err.msg);
			return 1;
		}
		while ((rc = store_iter_next(it, &data, &len, &idx, &err)) == LS_OK) {
			fwrite(data, 1, len, stdout);
			putchar('\n');
		}
		store_iter_free(it);
		if (rc != LS_NOTFOUND) {
			fprintf(stderr, "journalcat: %s\n", err.msg);
			return 1;
		}
	}
	return 0;
}
