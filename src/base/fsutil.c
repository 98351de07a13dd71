/* fsutil.c - whole-file reads and durable replaces (see fsutil.h). */
#include "base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ls_rc fs_read_file(const char *path, size_t cap, char **data, size_t *len, struct ls_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0) {
		if (errno == ENOENT)
			return ls_err_set(err, LS_NOTFOUND, "%s: does not exist", path);
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ls_err_set(err, LS_INVALID, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return ls_err_set(err, LS_LIMIT, "%s: larger than %zu bytes", path, cap);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = 0;
	*data = buf;
	*len = got;
	return LS_OK;
}

ls_rc fs_sync_dir(const char *dir, struct ls_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return ls_err_set(err, LS_IO, "%s: %s", dir, strerror(errno));
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		return ls_err_set(err, LS_IO, "fsync %s: %s", dir, strerror(e));
	}
	close(fd);
	return LS_OK;
}

static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, cap, ".");
	else if (slash == path)
		snprintf(out, cap, "/");
	else
		snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

ls_rc fs_write_file(const char *path, const void *data, size_t len, mode_t mode, int excl,
		    struct ls_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *p = data;
	size_t off = 0;
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return ls_err_set(err, LS_LIMIT, "path too long: %s", path);
	if (excl && access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already exists", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return ls_err_set(err, errno == ENOSPC ? LS_NOSPACE : LS_IO, "%s: %s", tmp,
				  strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (excl ? link(tmp, path) < 0 : rename(tmp, path) < 0)
		goto fail;
	if (excl)
		unlink(tmp);
	dir_of(path, dir, sizeof(dir));
	return fs_sync_dir(dir, err);
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (excl && e == EEXIST)
		return ls_err_set(err, LS_EXISTS, "%s already exists", path);
	return ls_err_set(err, e == ENOSPC ? LS_NOSPACE : LS_IO, "writing %s: %s", path,
			  strerror(e));
}

ls_rc fs_mkdirs(const char *path, mode_t mode, struct ls_err *err)
{
	char buf[PATH_MAX], parent[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return ls_err_set(err, LS_INVALID, "bad directory path");
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		buf[i] = 0;
		if (mkdir(buf, mode) == 0) {
			dir_of(buf, parent, sizeof(parent));
			if (fs_sync_dir(parent, err) != LS_OK)
				return LS_IO;
		} else if (errno != EEXIST) {
			return ls_err_set(err, errno == ENOSPC ? LS_NOSPACE : LS_IO, "mkdir %s: %s",
					  buf, strerror(errno));
		} else if (i == n) {
			struct stat st;

			/* EEXIST names any kind of file: only a directory will do
			 * (a file higher up makes the next mkdir fail: ENOTDIR). */
			if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
				return ls_err_set(err, LS_IO, "mkdir %s: exists and is not a directory",
						  buf);
		}
		if (i < n)
			buf[i] = '/';
	}
	return LS_OK;
}
