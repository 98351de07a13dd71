/*
 * migrate.c - log_migrate() (log.h): a data directory of the format before
 * sealed segments (entry bundles as files under DIR/log/tile/entries or
 * DIR/bundles, every entry in the journal) brought to the current one.
 *
 * Steps, each safe to repeat after a crash (the marker comes last, so an
 * interrupted migration is simply run again):
 *  1. open the log as it is (log_opts.old_format) and close it: the close
 *     signs a checkpoint and seals every whole range of the journal that a
 *     signed checkpoint covers (sealer.h), dropping the journal files the
 *     segments cover, and the full level-0 hash tile files of the sealed
 *     ranges (the segments serve the same bytes, tiles.h); checkpoints and
 *     the other tiles are not touched, so every leaf, proof and checkpoint
 *     stays valid;
 *  2. delete the old entry bundle files (their entries are in segments or
 *     the journal, and /log/tile/entries is built from those now);
 *  3. write DIR/format.
 */
#include "store/log.h"
#include "store/sealer.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* Remove the tree at path (missing: nothing to do). */
static ls_rc rm_tree(const char *path, struct ls_err *err)
{
	if (access(path, F_OK) != 0)
		return LS_OK;
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return ls_err_set(err, LS_IO, "removing %s: %s", path, strerror(errno));
	return LS_OK;
}

ls_rc log_migrate(const char *dir, uint64_t segment_leaves, struct log_migration *out,
		  struct ls_err *err)
{
	struct log_opts lo;
	struct log_stats st;
	struct log *l;
	char path[PATH_MAX];
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	rc = sealer_format_check(dir, err);
	if (rc == LS_OK) {
		out->already = 1;
		return LS_OK;
	}
	if (rc != LS_INVALID)
		return rc;
	memset(&lo, 0, sizeof(lo));
	lo.dir = dir;
	lo.no_threads = 1;
	lo.old_format = 1;
	lo.segment_leaves = segment_leaves;
	rc = log_open(&lo, &l, NULL, err);
	if (rc != LS_OK)
		return rc;
	out->size = log_size(l);
	rc = log_checkpoint(l, err);
	if (rc == LS_OK) {
		log_get_stats(l, &st);
		out->segments = st.sealed_segments;
		out->sealed_end = st.sealed_end;
		out->seal_seconds = st.seal_seconds;
	}
	if (rc == LS_OK)
		rc = log_close(l, err);
	else
		log_close(l, NULL);
	if (rc != LS_OK)
		return rc;
	if ((size_t)snprintf(path, sizeof(path), "%s/bundles", dir) >= sizeof(path))
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = rm_tree(path, err);
	if (rc == LS_OK) {
		snprintf(path, sizeof(path), "%s/log/tile/entries", dir);
		rc = rm_tree(path, err);
	}
	if (rc == LS_OK)
		rc = sealer_format_write(dir, err);
	return rc;
}
