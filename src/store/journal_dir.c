/*
 * journal_dir.c - the journal directory as the writer and the readers see
 * it: I/O helpers, the list of segments, the "retained" point of retention,
 * the data key a segment header names, and the cuts recovery made that the
 * log has not reported yet (journal.h invariant 5; journal.h for the API,
 * journal_record.c for the bytes).
 *
 * "cut.pending" (journal directory), one line per cut, in the order made:
 *	"cut <segment file> <offset> <bytes> <records> <first> <last>\n"
 * (decimal; the fields of struct store_recovery).  Replaced whole and
 * durably (temporary file, fsync, rename, directory fsync) before the cut.
 */
#include "store/journal_int.h"
#include "base/fsutil.h"
#include "store/keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ file helpers */

int jnl_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int jnl_pread_all(int fd, void *buf, size_t n, uint64_t off, size_t *got)
{
	uint8_t *p = buf;

	*got = 0;
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
		*got += (size_t)r;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The first indexes of every segment in dir, ascending. */
ls_rc jnl_list_segments(const char *dir, uint64_t **out, size_t *count, struct ls_err *err)
{
	DIR *d;
	struct dirent *e;
	uint64_t *v = NULL, first;
	size_t n = 0, cap = 0;

	*out = NULL;
	*count = 0;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return ls_err_set(err, LS_NOTFOUND, "%s: no such journal directory", dir);
		return ls_err_set(err, LS_IO, "%s: %s", dir, strerror(errno));
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		int k = jnl_parse_seg_name(e->d_name, &first);

		if (k == 0)
			continue;
		if (k < 0) {
			ls_err_set(err, LS_CORRUPT, "%s/%s: malformed segment name", dir, e->d_name);
			closedir(d);
			free(v);
			return LS_CORRUPT;
		}
		if (n == cap) {
			uint64_t *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				return ls_err_set(err, LS_NOMEM, "out of memory listing %s", dir);
			}
			v = nv;
		}
		v[n++] = first;
	}
	if (errno) {
		int e2 = errno;

		closedir(d);
		free(v);
		return ls_err_set(err, LS_IO, "%s: %s", dir, strerror(e2));
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	*count = n;
	return LS_OK;
}

/* 1 when dir holds a segment whose first index is above first, 0 if not, -1 on error. */
int jnl_segment_after(const char *dir, uint64_t first)
{
	uint64_t *v;
	size_t n;
	int found;

	if (jnl_list_segments(dir, &v, &n, NULL) != LS_OK)
		return -1;
	found = n && v[n - 1] > first;
	free(v);
	return found;
}

ls_rc journal_retained(const char *dir, uint64_t *first, struct ls_err *err)
{
	char path[4096], *data = NULL, *end;
	size_t len;
	unsigned long long v;
	ls_rc rc;

	*first = 0;
	if (snprintf(path, sizeof(path), "%s/" RETAINED_FILE, dir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "journal path too long");
	rc = fs_read_file(path, 64, &data, &len, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	errno = 0;
	v = strtoull(data, &end, 16);
	if (len != 17 || end != data + 16 || *end != '\n' || errno) {
		free(data);
		return ls_err_set(err, LS_CORRUPT, "%s: not 16 hex digits and a newline", path);
	}
	free(data);
	*first = v;
	return LS_OK;
}

ls_rc journal_set_retained(const char *dir, uint64_t first, struct ls_err *err)
{
	char path[4096], text[32];

	if (snprintf(path, sizeof(path), "%s/" RETAINED_FILE, dir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "journal path too long");
	snprintf(text, sizeof(text), "%016llx\n", (unsigned long long)first);
	return fs_write_file(path, text, 17, 0644, 0, err);
}

/* 1 when the segments before segs[0] were moved out by retention: the
 * "retained" file names a segment at or above segs[0] (segments between
 * them are left over from a pass that stopped before removing them); 0
 * when not; -1 when the file is unreadable (err set). */
int jnl_prefix_archived(const char *dir, const uint64_t *segs, size_t n, struct ls_err *err)
{
	uint64_t kept;
	size_t i;

	if (journal_retained(dir, &kept, err) != LS_OK)
		return -1;
	if (kept == 0 || n == 0 || segs[0] > kept)
		return 0;
	for (i = 0; i < n; i++)
		if (segs[i] == kept)
			return 1;
	return 0;
}

ls_rc jnl_sync_parent(const char *dir, struct ls_err *err)
{
	char *p = strdup(dir);
	size_t n;
	char *slash;
	int fd, rc;

	if (!p)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		p[0] = '.';
		p[1] = '\0';
	} else if (slash == p) {
		p[1] = '\0';
	} else {
		*slash = '\0';
	}
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = fd >= 0 ? fsync(fd) : -1;
	if (rc != 0) {
		ls_err_set(err, LS_IO, "fsync %s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(p);
		return LS_IO;
	}
	close(fd);
	free(p);
	return LS_OK;
}

/* ---------------------------------------------------------------- keys */

/* The data key of a checked header (key_id 0 for plaintext).  dir is the
 * journal directory, name the segment, for messages. */
ls_rc jnl_seg_key(const char *dir, const char *name, const uint8_t h[JOURNAL_SEG_HEADER],
		  struct keyring **kr, uint32_t *key_id, uint8_t key[LS_AEAD_KEY_LEN],
		  struct ls_err *err)
{
	struct ls_err e;
	ls_rc rc;

	*key_id = get32(h + 24);
	if (*key_id == 0)
		return LS_OK;
	if (!*kr) {
		rc = keys_get_parent(dir, kr, &e);
		if (rc == LS_NOTFOUND)
			return ls_err_set(err, LS_DENIED,
					  "%s/%s: the segment is encrypted but the data directory "
					  "has no keys/master.json", dir, name);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "%s", e.msg);
	}
	rc = keys_data_key(*kr, *key_id, key, &e);
	if (rc != LS_OK)
		return ls_err_set(err, rc == LS_NOTFOUND ? LS_CORRUPT : rc, "%s/%s: %s", dir, name,
				  e.msg);
	return LS_OK;
}

/* ------------------------------------------------------ end of the WAL */

ls_rc journal_files(const char *dir, uint64_t **firsts, size_t *n, struct ls_err *err)
{
	return jnl_list_segments(dir, firsts, n, err);
}

/* File k holds [segs[k], segs[k + 1]): inside [from, end) when segs[k] >=
 * from and segs[k + 1] <= end.  The last file is the one being written and
 * always stays. */
ls_rc journal_drop_below(const char *dir, uint64_t from, uint64_t end, size_t *dropped,
			 struct ls_err *err)
{
	char path[4096], name[SEG_NAME_LEN + 1];
	uint64_t *segs;
	size_t n, k, gone = 0;
	ls_rc rc;

	if (dropped)
		*dropped = 0;
	rc = jnl_list_segments(dir, &segs, &n, err);
	if (rc != LS_OK)
		return rc;
	for (k = 0; k + 1 < n && segs[k + 1] <= end; k++) {
		if (segs[k] < from)
			continue;
		jnl_seg_name(name, segs[k]);
		if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
			free(segs);
			return ls_err_set(err, LS_LIMIT, "journal path too long");
		}
		if (unlink(path) != 0 && errno != ENOENT) {
			rc = ls_err_set(err, LS_IO, "%s: unlink: %s", path, strerror(errno));
			break;
		}
		gone++;
	}
	free(segs);
	if (gone) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || fsync(fd) != 0) {
			if (rc == LS_OK)
				rc = ls_err_set(err, LS_IO, "fsync %s: %s", dir, strerror(errno));
		}
		if (fd >= 0)
			close(fd);
	}
	if (dropped)
		*dropped = gone;
	return rc;
}

/* ------------------------------------------- cuts not reported yet (inv. 5) */

#define CUT_PENDING "cut.pending"
#define CUT_PENDING_CAP (1u << 20)

static int cut_line(char *buf, size_t cap, const struct store_recovery *r)
{
	int n = snprintf(buf, cap, "cut %s %llu %llu %llu %llu %llu\n", r->segment,
			 (unsigned long long)r->offset, (unsigned long long)r->bytes,
			 (unsigned long long)r->records, (unsigned long long)r->first,
			 (unsigned long long)r->last);

	return n > 0 && (size_t)n < cap ? n : -1;
}

static ls_rc cut_read(const char *dir, char *path, size_t cap, char **data, size_t *len,
		      struct ls_err *err)
{
	ls_rc rc;

	if (snprintf(path, cap, "%s/%s", dir, CUT_PENDING) >= (int)cap)
		return ls_err_set(err, LS_LIMIT, "%s: path too long", dir);
	rc = fs_read_file(path, CUT_PENDING_CAP, data, len, err);
	if (rc == LS_NOTFOUND) {
		*data = NULL;
		*len = 0;
		return LS_OK;
	}
	return rc;
}

ls_rc jnl_cut_pending_add(const char *dir, const struct store_recovery *r, struct ls_err *err)
{
	char path[4096], line[160], *old = NULL, *buf;
	size_t len = 0, keep;
	int n = cut_line(line, sizeof(line), r);
	ls_rc rc;

	if (n < 0)
		return ls_err_set(err, LS_LIMIT, "%s: cut record too long", dir);
	rc = cut_read(dir, path, sizeof(path), &old, &len, err);
	if (rc != LS_OK)
		return rc;
	/* The same cut written down by a run that died before making it. */
	if (len >= (size_t)n && memcmp(old + len - (size_t)n, line, (size_t)n) == 0 &&
	    (len == (size_t)n || old[len - (size_t)n - 1] == '\n')) {
		free(old);
		return LS_OK;
	}
	for (keep = len; keep && old[keep - 1] != '\n'; keep--)
		;
	buf = malloc(keep + (size_t)n);
	if (!buf) {
		free(old);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	if (keep)
		memcpy(buf, old, keep);
	memcpy(buf + keep, line, (size_t)n);
	free(old);
	rc = fs_write_file(path, buf, keep + (size_t)n, 0600, 0, err);
	free(buf);
	return rc;
}

ls_rc journal_cuts_pending(const char *dir, struct store_recovery **out, size_t *count,
			   struct ls_err *err)
{
	char path[4096], *data = NULL, *p, *nl;
	struct store_recovery *v = NULL;
	size_t len = 0, n = 0;
	ls_rc rc;

	*out = NULL;
	*count = 0;
	rc = cut_read(dir, path, sizeof(path), &data, &len, err);
	if (rc != LS_OK || !len) {
		free(data);
		return rc;
	}
	for (p = data; (nl = memchr(p, '\n', len - (size_t)(p - data))) != NULL; p = nl + 1) {
		struct store_recovery r = { .cut = 1 };
		unsigned long long f[5];
		uint64_t first;
		char again[160];
		int used = 0;

		*nl = 0;
		if (sscanf(p, "cut %63s %llu %llu %llu %llu %llu%n", r.segment, &f[0], &f[1], &f[2],
			   &f[3], &f[4], &used) != 6 || p[used] ||
		    jnl_parse_seg_name(r.segment, &first) != 1) {
			free(data);
			free(v);
			return ls_err_set(err, LS_CORRUPT, "%s offset %zu: not a cut record", path,
					  (size_t)(p - data));
		}
		r.offset = f[0];
		r.bytes = f[1];
		r.records = f[2];
		r.first = f[3];
		r.last = f[4];
		/* Only the canonical form (what cut_line writes) is accepted. */
		if (cut_line(again, sizeof(again), &r) != (int)(nl - p) + 1 ||
		    memcmp(again, p, (size_t)(nl - p))) {
			free(data);
			free(v);
			return ls_err_set(err, LS_CORRUPT, "%s offset %zu: not a cut record", path,
					  (size_t)(p - data));
		}
		if (!(n & (n - 1))) {
			struct store_recovery *nv = realloc(v, (n ? 2 * n : 1) * sizeof(*v));

			if (!nv) {
				free(data);
				free(v);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
			v = nv;
		}
		v[n++] = r;
	}
	/* A last line without its newline was never renamed into place. */
	free(data);
	*out = v;
	*count = n;
	return LS_OK;
}

ls_rc journal_cuts_reported(const char *dir, struct ls_err *err)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", dir, CUT_PENDING) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "%s: path too long", dir);
	if (unlink(path) != 0 && errno != ENOENT)
		return ls_err_set(err, LS_IO, "unlink %s: %s", path, strerror(errno));
	return fs_sync_dir(dir, err);
}
