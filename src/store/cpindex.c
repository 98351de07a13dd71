/*
 * cpindex.c - the sealed checkpoint index (see cpindex.h).
 */
#include "store/cpindex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "base/fsutil.h"

#define LINE_MAX_LEN 256

static void index_path(const char *dir, char *out, size_t cap)
{
	snprintf(out, cap, "%s/" CPINDEX_FILE, dir);
}

/* The line of (size, prev, root) into out (with its newline); its length. */
static size_t format_line(const uint8_t key[32], uint64_t size, uint64_t prev,
			  const uint8_t root[LS_HASH_LEN], char *out, size_t cap)
{
	char b64[LS_B64_LEN(LS_HASH_LEN) + 1], hex[2 * CFGSEAL_MAC_LEN + 1];
	uint8_t mac[CFGSEAL_MAC_LEN];
	int n;

	ls_b64_encode(root, LS_HASH_LEN, b64, sizeof(b64));
	n = snprintf(out, cap, "%llu %llu %s", (unsigned long long)size, (unsigned long long)prev,
		     b64);
	cfgseal_mac(key, CPINDEX_FILE, out, (size_t)n, mac);
	ls_hex(mac, sizeof(mac), hex);
	n += snprintf(out + n, cap - (size_t)n, " %s\n", hex);
	return (size_t)n;
}

ls_rc cpindex_parse_line(const uint8_t key[32], const char *line, size_t len, uint64_t *size,
			 uint64_t *prev, uint8_t root[LS_HASH_LEN])
{
	char b64[LS_B64_LEN(LS_HASH_LEN) + 1], hex[2 * CFGSEAL_MAC_LEN + 2], canon[LINE_MAX_LEN];
	unsigned long long s, p;
	uint8_t mac[CFGSEAL_MAC_LEN], want[CFGSEAL_MAC_LEN], r[LS_HASH_LEN + 3];
	size_t got = 0, body;
	int used = 0;

	if (sscanf(line, "%llu %llu %44s %65s%n", &s, &p, b64, hex, &used) != 4 ||
	    (size_t)used != len || strlen(hex) != 2 * CFGSEAL_MAC_LEN ||
	    strspn(hex, "0123456789abcdef") != 2 * CFGSEAL_MAC_LEN ||
	    ls_unhex(hex, strlen(hex), mac, sizeof(mac)) != LS_OK ||
	    ls_b64_decode(b64, strlen(b64), r, sizeof(r), &got) != LS_OK || got != LS_HASH_LEN)
		return LS_CORRUPT;
	/* sscanf takes any white space between the fields, signs, leading
	 * zeros and a root run into the size before it; the HMAC is over the
	 * fields as written.  Only the writer's form (format_line) is a line,
	 * so the HMAC always covers exactly the three values returned. */
	ls_b64_encode(r, LS_HASH_LEN, b64, sizeof(b64));
	body = (size_t)snprintf(canon, sizeof(canon), "%llu %llu %s", s, p, b64);
	if (len != body + 1 + 2 * CFGSEAL_MAC_LEN || memcmp(line, canon, body) != 0 ||
	    line[body] != ' ')
		return LS_CORRUPT;
	memcpy(root, r, LS_HASH_LEN);
	cfgseal_mac(key, CPINDEX_FILE, line, body, want);
	if (!ls_ct_equal(mac, want, sizeof(mac)))
		return LS_TAMPERED;
	*size = s;
	*prev = p;
	return LS_OK;
}

ls_rc cpindex_load(const char *dir, const uint8_t key[32], int repair, struct cpindex_ent **out,
		   size_t *nout, struct ls_err *err)
{
	char path[PATH_MAX], line[LINE_MAX_LEN + 2];
	struct cpindex_ent *v = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	long good_end = 0;
	ls_rc rc = LS_OK;
	FILE *f;

	index_path(dir, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO, "%s: %s", path,
				  strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		uint64_t size, prev;
		uint8_t root[LS_HASH_LEN];

		lineno++;
		if (len == 0 || line[len - 1] != '\n') {
			if (len <= LINE_MAX_LEN && feof(f))
				break; /* torn last append */
			rc = ls_err_set(err, LS_TAMPERED, "%s line %zu: too long", path, lineno);
			break;
		}
		line[--len] = 0;
		rc = cpindex_parse_line(key, line, len, &size, &prev, root);
		if (rc != LS_OK) {
			rc = ls_err_set(err, LS_TAMPERED, "%s line %zu: %s", path, lineno,
					rc == LS_TAMPERED ? "its seal does not match (changed outside "
							    "logseal)"
							  : "not an index line");
			break;
		}
		if (n == 0 ? (size != 0 || prev != 0) : (prev != v[n - 1].size || size <= prev)) {
			rc = ls_err_set(err, LS_TAMPERED,
					"%s line %zu: follows the checkpoint of size %llu but the line "
					"before is of size %llu (a line was removed)",
					path, lineno, (unsigned long long)prev,
					(unsigned long long)(n ? v[n - 1].size : 0));
			break;
		}
		if (n == cap) {
			size_t c2 = cap ? cap * 2 : 256;
			struct cpindex_ent *p = realloc(v, c2 * sizeof(*p));
			if (!p) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				break;
			}
			v = p;
			cap = c2;
		}
		v[n].size = size;
		memcpy(v[n].root, root, LS_HASH_LEN);
		n++;
		good_end = ftell(f);
	}
	if (rc == LS_OK && ferror(f))
		rc = ls_err_set(err, LS_IO, "reading %s", path);
	fclose(f);
	if (rc == LS_OK && n == 0)
		rc = ls_err_set(err, LS_TAMPERED, "%s: empty", path);
	if (rc == LS_OK && repair) {
		struct stat st;

		if (stat(path, &st) == 0 && st.st_size > good_end &&
		    truncate(path, good_end) != 0)
			rc = ls_err_set(err, LS_IO, "cutting the torn last line of %s: %s", path,
					strerror(errno));
	}
	if (rc != LS_OK) {
		free(v);
		return rc;
	}
	*out = v;
	*nout = n;
	return LS_OK;
}

ls_rc cpindex_append(const char *dir, const uint8_t key[32], uint64_t prev, uint64_t size,
		     const uint8_t root[LS_HASH_LEN], struct ls_err *err)
{
	char path[PATH_MAX], line[LINE_MAX_LEN];
	size_t len = format_line(key, size, prev, root, line, sizeof(line)), off = 0;
	int fresh, fd;

	index_path(dir, path, sizeof(path));
	fresh = access(path, F_OK) != 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return ls_err_set(err, errno == ENOSPC ? LS_NOSPACE : LS_IO, "%s: %s", path,
				  strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			return ls_err_set(err, e == ENOSPC ? LS_NOSPACE : LS_IO, "writing %s: %s",
					  path, strerror(e));
		}
		off += (size_t)w;
	}
	if (fdatasync(fd) != 0) {
		int e = errno;
		close(fd);
		return ls_err_set(err, LS_IO, "fdatasync %s: %s", path, strerror(e));
	}
	close(fd);
	return fresh ? fs_sync_dir(dir, err) : LS_OK;
}

ls_rc cpindex_write_all(const char *dir, const uint8_t key[32], const struct cpindex_ent *e,
			size_t n, struct ls_err *err)
{
	char path[PATH_MAX], *buf;
	size_t len = 0;
	ls_rc rc;

	if (n == 0 || e[0].size != 0)
		return ls_err_set(err, LS_INVALID, "the index starts with the empty tree");
	buf = malloc(n * LINE_MAX_LEN + 1);
	if (!buf)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (i && e[i].size <= e[i - 1].size) {
			free(buf);
			return ls_err_set(err, LS_INVALID, "checkpoint sizes must increase");
		}
		len += format_line(key, e[i].size, i ? e[i - 1].size : 0, e[i].root, buf + len,
				   LINE_MAX_LEN);
	}
	index_path(dir, path, sizeof(path));
	rc = fs_write_file(path, buf, len, 0644, 0, err);
	free(buf);
	return rc;
}
