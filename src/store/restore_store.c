/*
 * restore_store.c - the store side of a restore (restore_store.h): DIR/format,
 * the write-ahead log from the sealed end, and checkpoints.index.
 */
#include "store/restore_store.h"
#include "store/cfgseal.h"
#include "store/cpindex.h"
#include "store/journal.h"
#include "store/sealer.h"
#include "core/note.h"
#include "base/crypto.h"
#include "base/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ls_rc restore_store_format(const char *datadir, struct ls_err *err)
{
	return sealer_format_write(datadir, err);
}

ls_rc restore_store_wal(const char *datadir, uint64_t first, const struct iovec *entries,
			size_t n, struct ls_err *err)
{
	struct journal_opts jo = { 0 };
	struct journal *j = NULL;
	char jdir[PATH_MAX];
	size_t i = 0;
	ls_rc rc;

	snprintf(jdir, sizeof(jdir), "%s/journal", datadir);
	jo.sealed = first;
	rc = journal_open(jdir, &jo, &j, NULL, err);
	if (rc != LS_OK)
		return rc;
	if (journal_size(j) != first) {
		journal_close(j);
		return ls_err_set(err, LS_INVALID, "%s: holds %llu records, the sealed end is %llu",
				  jdir, (unsigned long long)journal_size(j),
				  (unsigned long long)first);
	}
	while (rc == LS_OK && i < n) {
		size_t b = 0, bytes = 0;
		uint64_t at;

		while (i + b < n && b < 4096 && bytes + entries[i + b].iov_len + 64 < (16u << 20))
			bytes += entries[i + b++].iov_len + 64;
		rc = journal_append(j, entries + i, b, &at, err);
		if (rc == LS_OK && at != first + i)
			rc = ls_err_set(err, LS_CORRUPT, "%s: appended at %llu, not %llu", jdir,
					(unsigned long long)at, (unsigned long long)(first + i));
		i += b;
	}
	journal_close(j);
	return rc;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct cpindex_ent *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

ls_rc restore_store_cpindex(const char *datadir, struct ls_err *err)
{
	char cpdir[PATH_MAX], path[PATH_MAX + 32];
	struct cpindex_ent *v = NULL;
	size_t n = 0, cap = 0;
	uint8_t key[32];
	struct dirent *de;
	int have0 = 0;
	DIR *d;
	ls_rc rc = LS_OK;

	snprintf(cpdir, sizeof(cpdir), "%s/checkpoints", datadir);
	d = opendir(cpdir);
	if (!d)
		return ls_err_set(err, LS_IO, "%s: %s", cpdir, strerror(errno));
	while (rc == LS_OK && (de = readdir(d))) {
		struct checkpoint cp;
		char *note = NULL, *sep;
		size_t len;

		if (strlen(de->d_name) != 20 || strspn(de->d_name, "0123456789") != 20)
			continue;
		snprintf(path, sizeof(path), "%s/%s", cpdir, de->d_name);
		rc = fs_read_file(path, 1 << 20, &note, &len, err);
		if (rc != LS_OK)
			break;
		sep = strstr(note, "\n\n");
		rc = sep ? checkpoint_parse(note, (size_t)(sep - note) + 1, &cp, err)
			 : ls_err_set(err, LS_CORRUPT, "%s: not a signed note", path);
		free(note);
		if (rc != LS_OK)
			break;
		if (cp.size != strtoull(de->d_name, NULL, 10)) {
			rc = ls_err_set(err, LS_TAMPERED, "%s holds the checkpoint of size %llu", path,
					(unsigned long long)cp.size);
			break;
		}
		if (n == cap) {
			struct cpindex_ent *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, (cap + 1) * sizeof(*v));
			if (!nv) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				break;
			}
			v = nv;
		}
		v[n].size = cp.size;
		memcpy(v[n].root, cp.root, LS_HASH_LEN);
		have0 |= cp.size == 0;
		n++;
	}
	closedir(d);
	if (rc == LS_OK && !have0) {
		/* The empty tree: its root is SHA-256 of nothing. */
		struct cpindex_ent *nv = realloc(v, (n + 1) * sizeof(*v));

		if (!nv) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		} else {
			v = nv;
			v[n].size = 0;
			ls_sha256("", 0, NULL, 0, v[n].root);
			n++;
		}
	}
	if (rc == LS_OK) {
		qsort(v, n, sizeof(*v), cmp_ent);
		rc = cfgseal_key(datadir, CFGSEAL_CHECKPOINTS, key, err);
	}
	if (rc == LS_OK)
		rc = cpindex_write_all(datadir, key, v, n, err);
	ls_wipe(key, sizeof(key));
	free(v);
	return rc;
}
