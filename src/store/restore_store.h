/*
 * restore_store.h - what `logseal restore` (followers/restore.c) needs of
 * store/ to lay out a data directory rebuilt from a bucket: the DIR/format
 * file, the write-ahead log of the entries after the last sealed segment,
 * and checkpoints.index from the signed checkpoints in DIR/checkpoints.
 * Only for a new directory (restore refuses a non-empty one).
 */
#ifndef LS_RESTORE_STORE_H
#define LS_RESTORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/ls.h"

/* DIR/format of this version. */
ls_rc restore_store_format(const char *datadir, struct ls_err *err);
/* Append entries[0..n) as leaves first, first + 1, ... to the write-ahead
 * log DIR/journal (created starting at first, the sealed end, when it does
 * not exist yet), durably. */
ls_rc restore_store_wal(const char *datadir, uint64_t first, const struct iovec *entries,
			size_t n, struct ls_err *err);
/* checkpoints.index from every DIR/checkpoints/<020 size> (their notes
 * parsed; the signatures are checked by verify), and the empty tree. */
ls_rc restore_store_cpindex(const char *datadir, struct ls_err *err);

#endif
