/*
 * fsutil.h - small durable-file helpers shared by the storage modules:
 * whole-file reads with a cap, and the durable replace sequence
 * (temp file, fsync, rename, fsync directory).
 */
#ifndef LS_FSUTIL_H
#define LS_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "base/ls.h"

/* Read all of path into *data (malloc'd, NUL-terminated for convenience).
 * LS_NOTFOUND when it does not exist, LS_LIMIT when larger than cap. */
ls_rc fs_read_file(const char *path, size_t cap, char **data, size_t *len, struct ls_err *err);

/* Replace path durably with data: write path.tmp.<pid> (mode), fsync, rename, fsync dir.
 * With excl, refuse (LS_EXISTS) when path already exists. */
ls_rc fs_write_file(const char *path, const void *data, size_t len, mode_t mode, int excl,
		    struct ls_err *err);

/* fsync a directory. */
ls_rc fs_sync_dir(const char *dir, struct ls_err *err);

/* mkdir -p with mode, fsync'ing each parent that gained an entry. */
ls_rc fs_mkdirs(const char *path, mode_t mode, struct ls_err *err);

#endif
