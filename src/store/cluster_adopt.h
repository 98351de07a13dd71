/*
 * cluster_adopt.h - moving a single-node log into a cluster (`logseal
 * cluster adopt`, docs/CLUSTER.md "Moving a single-node log into a
 * cluster"): the cluster database (store/cluster.h) is filled from the log
 * of one data directory, so that directory, and copies of it, start as
 * cluster nodes holding the log they had.
 *
 * Only a brand new database is adopted into: no batch, logseal.seq.next 0
 * (or no coordination row yet) and this log's origin (or none), nothing
 * integrated.  Otherwise LS_EXISTS ("already adopted" / not empty) or
 * LS_INVALID (another log's database).
 *
 * Steps, each its own transaction holding the coordination row
 * (SELECT ... FOR UPDATE), so two adoptions cannot interleave:
 *   1. mark: logseal.seq.origin := CLUSTER_ADOPTING || origin (next stays
 *      0).  Nodes refuse such a database with a message that says the
 *      adoption is incomplete; a node of an older version refuses it too
 *      (another origin).
 *   2. copy: the entries from the retained point R (store_retained: what
 *      retention did not move out of the local store) up to the latest
 *      signed checkpoint's size N, in leaf order, as logseal.batch rows of
 *      at most batch_entries entries and batch_bytes bytes, one transaction
 *      per row.
 *   3. finish: logseal.seq := (next N, origin); logseal.integ := (size N,
 *      its root, the signed checkpoint, node NULL, pruned R).
 * An interrupted adoption (any step) is run again: it finds the mark and
 * goes on after the last batch row committed (the rows are checked to be
 * contiguous from R: their positions, not their bytes, so it is run again
 * on the same directory).  Idempotency keys are not copied: the single-node
 * server's map is not part of the log (server/idem.h), so a client retrying
 * after the adoption a batch it sent before is not deduplicated.
 *
 * The log must be open by the caller (log_open: the directory's lock, so
 * no server runs on it) and nothing may append to it meanwhile.  A
 * checkpoint is signed first when the log has grown past the latest one.
 * Commits are checked like the sequencer's: a cancelled wait for
 * synchronous replication is a failure (run again).
 */
#ifndef LS_STORE_CLUSTER_ADOPT_H
#define LS_STORE_CLUSTER_ADOPT_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

struct log;

struct cluster_adopt_opts {
	const char *conninfo;	/* libpq connection string or postgresql:// URI */
	struct log *log;	/* open, no threads appending */
	size_t batch_entries;	/* entries per batch row; 0: 4096 */
	size_t batch_bytes;	/* entry bytes per batch row; 0: 4 MiB */
	/* After each committed batch row (done = entries copied so far, of
	 * total); NULL: none.  Test hook too: it may sleep. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

struct cluster_adopt_result {
	uint64_t size;		/* N: the log's size, now logseal.seq.next */
	uint64_t retained;	/* R: the first leaf copied (logseal.integ.pruned) */
	uint64_t resumed_at;	/* where this run started copying (R unless resumed) */
	uint64_t rows;		/* batch rows this run inserted */
};

ls_rc cluster_adopt(const struct cluster_adopt_opts *o, struct cluster_adopt_result *out,
		    struct ls_err *err);

#endif
