/*
 * cosigned.c - the cosigned history (cosigned.h): DIR/cosigned/<size>
 * files, the merge of a witness's cosignature lines into a signed note,
 * and the list of the signed checkpoints for GET /v1/checkpoints.
 *
 * Invariants:
 *  1. A cosigned note starts with the log's signed note byte for byte: the
 *     merge only appends (or replaces) lines after the log's own signature
 *     lines, so whoever reads it with the log's key alone gets the same
 *     checkpoint.
 *  2. DIR/checkpoints/ is never written here (it is the log's, store/log.h).
 */
#include "followers/cosigned.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/crypto.h"
#include "base/fsutil.h"

#define EM_DASH "\xe2\x80\x94"

ls_rc cosigned_path(const char *dir, uint64_t size, char *out, size_t cap)
{
	int w = snprintf(out, cap, "%s/cosigned/%020llu", dir, (unsigned long long)size);

	return w < 0 || (size_t)w >= cap ? LS_LIMIT : LS_OK;
}

ls_rc cosigned_read(const char *dir, uint64_t size, char **note, int *cosigned)
{
	char path[PATH_MAX];
	size_t len;
	ls_rc rc;

	*note = NULL;
	if (cosigned)
		*cosigned = 0;
	if (cosigned_path(dir, size, path, sizeof(path)) != LS_OK)
		return LS_LIMIT;
	rc = fs_read_file(path, COSIGNED_MAX, note, &len, NULL);
	if (rc == LS_OK) {
		if (cosigned)
			*cosigned = 1;
		return LS_OK;
	}
	if (rc != LS_NOTFOUND)
		return rc;
	if (snprintf(path, sizeof(path), "%s/checkpoints/%020llu", dir,
		     (unsigned long long)size) >= (int)sizeof(path))
		return LS_LIMIT;
	return fs_read_file(path, COSIGNED_MAX, note, &len, NULL);
}

ls_rc cosigned_store(const char *dir, uint64_t size, const char *note, size_t len,
		     struct ls_err *err)
{
	char path[PATH_MAX];
	ls_rc rc;

	if (snprintf(path, sizeof(path), "%s/cosigned", dir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = fs_mkdirs(path, 0755, err);
	if (rc != LS_OK)
		return rc;
	if (cosigned_path(dir, size, path, sizeof(path)) != LS_OK)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	return fs_write_file(path, note, len, 0644, 0, err);
}

/* ------------------------------------------------------------- merge */

/* A signature line "— <name> <base64>" (without its newline): the name and
 * the key id, which is what says whose line it is. */
static int line_key(const char *p, size_t n, const char **name, size_t *name_len,
		    uint8_t id[4])
{
	const size_t dl = sizeof(EM_DASH) - 1;
	uint8_t dec[4096];
	const char *sp;
	size_t len = 0;

	if (n < dl + 2 || memcmp(p, EM_DASH " ", dl + 1) != 0)
		return 0;
	p += dl + 1;
	n -= dl + 1;
	sp = memchr(p, ' ', n);
	if (!sp || sp == p)
		return 0;
	*name = p;
	*name_len = (size_t)(sp - p);
	n -= *name_len + 1;
	if (n > 4 * sizeof(dec) / 3 || ls_b64_decode(sp + 1, n, dec, sizeof(dec), &len) != LS_OK ||
	    len < 5)
		return 0;
	memcpy(id, dec, 4);
	return 1;
}

/* Where the signature block of a note starts (just after its blank line),
 * or 0 when it has none. */
static size_t sig_start(const char *note, size_t n)
{
	for (size_t i = n - 1; i > 0; i--)
		if (note[i - 1] == '\n' && note[i] == '\n')
			return i + 1 < n ? i + 1 : 0;
	return 0;
}

ls_rc cosigned_merge(const char *note, size_t n, const char *lines, size_t ln, char **out,
		     size_t *out_len)
{
	size_t start, cap, used, p;
	char *buf;

	*out = NULL;
	*out_len = 0;
	if (n < 2 || note[n - 1] != '\n' || (ln && lines[ln - 1] != '\n'))
		return LS_INVALID;
	start = sig_start(note, n);
	if (!start)
		return LS_INVALID;
	cap = n + ln + 1;
	if (cap > COSIGNED_MAX + 1)
		return LS_LIMIT;
	buf = malloc(cap);
	if (!buf)
		return LS_NOMEM;
	memcpy(buf, note, n);
	used = n;
	for (p = 0; p < ln;) {
		const char *l = lines + p, *nl = memchr(l, '\n', ln - p);
		size_t ll = (size_t)(nl - l), q, name_len;
		const char *name;
		uint8_t id[4];
		int replaced = 0;

		p += ll + 1;
		if (!line_key(l, ll, &name, &name_len, id)) {
			free(buf);
			return LS_INVALID;
		}
		/* The log's own lines (the first of the block) stay first and
		 * as they are; a later line of the same key is replaced. */
		for (q = start; q < used;) {
			char *m = buf + q, *mnl = memchr(m, '\n', used - q);
			size_t ml = (size_t)(mnl - m), mname_len;
			const char *mname;
			uint8_t mid[4];

			if (ml == ll && !memcmp(m, l, ll)) {
				replaced = 1;
				break;
			}
			if (line_key(m, ml, &mname, &mname_len, mid) && mname_len == name_len &&
			    !memcmp(mname, name, name_len) && !memcmp(mid, id, 4)) {
				if (q == start) {
					/* the log's own signature is never touched */
					replaced = 1;
					break;
				}
				memmove(m, mnl + 1, used - (q + ml + 1));
				used -= ml + 1;
				continue;
			}
			q += ml + 1;
		}
		if (replaced)
			continue;
		memcpy(buf + used, l, ll + 1);
		used += ll + 1;
	}
	buf[used] = 0;
	*out = buf;
	*out_len = used;
	return LS_OK;
}

/* -------------------------------------------------------------- list */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

ls_rc cosigned_list(const char *dir, uint64_t from, size_t limit, struct cosigned_ent **out,
		    size_t *n, int *more, struct ls_err *err)
{
	char path[PATH_MAX];
	uint64_t *sizes = NULL;
	size_t cnt = 0, cap = 0, take;
	struct cosigned_ent *e;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	*more = 0;
	if (snprintf(path, sizeof(path), "%s/checkpoints", dir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	d = opendir(path);
	if (!d)
		return ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO, "%s: %s", path,
				  strerror(errno));
	while ((de = readdir(d)) != NULL) {
		uint64_t v;

		if (strlen(de->d_name) != 20 || !ls_parse_u64(de->d_name, from, UINT64_MAX, &v))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 256;
			uint64_t *t = realloc(sizes, nc * sizeof(*t));

			if (!t) {
				closedir(d);
				free(sizes);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
			sizes = t;
			cap = nc;
		}
		sizes[cnt++] = v;
	}
	closedir(d);
	qsort(sizes, cnt, sizeof(*sizes), cmp_u64);
	take = cnt < limit ? cnt : limit;
	*more = cnt > take;
	e = calloc(take ? take : 1, sizeof(*e));
	if (!e) {
		free(sizes);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < take; i++) {
		struct stat st;

		e[i].size = sizes[i];
		snprintf(path, sizeof(path), "%s/checkpoints/%020llu", dir,
			 (unsigned long long)sizes[i]);
		if (stat(path, &st) == 0)
			e[i].time = st.st_mtim;
		if (cosigned_path(dir, sizes[i], path, sizeof(path)) == LS_OK &&
		    stat(path, &st) == 0)
			e[i].cosigned = 1;
	}
	free(sizes);
	*out = e;
	*n = take;
	return LS_OK;
}
