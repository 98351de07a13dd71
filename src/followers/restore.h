/*
 * restore.h - disaster recovery: a data directory rebuilt from the bucket
 * the uploader keeps (docs/FORMAT.md §13, docs/OBJECT-STORE.md "Restore")
 * and the key files an operator keeps off the machine.
 *
 * restore_run(), into an empty (or missing) DIR:
 *   1. KEYDIR/keys/log.key (and KEYDIR/keys/master.json for an encrypted
 *      log) are copied into DIR/keys; the bucket's keys/verifier.key must
 *      be the verifier of that log.key (else refused, naming both);
 *      keys/datakeys.json is downloaded (encrypted logs);
 *   2. segments/<016x>.seal -> DIR/segments, every hash tile log/tile/<L>/..
 *      -> DIR/log/tile (not the full level-0 ones of the sealed range: the
 *      segments serve them, and verify ties their hashes to level 1),
 *      checkpoints/<size> -> DIR/checkpoints/<020 size>,
 *      log/checkpoint -> DIR/log/checkpoint;
 *   3. the entries after the last sealed segment, up to the latest size,
 *      from the bucket's entry bundles (full ones, then the partial one of
 *      the latest size; LSB1 envelopes opened with the bundle key in an
 *      encrypted directory) -> the write-ahead log DIR/journal;
 *   4. every checkpoints/<size> must be consistent with the latest: a
 *      consistency proof from the downloaded tiles is checked against the
 *      two roots (refused naming the two sizes); DIR/format,
 *      checkpoints.index and DIR/objstore.json are written;
 *   5. verify (signatures against the verifier of log.key, every segment,
 *      the tree recomputed from the entries against every checkpoint) and
 *      the query index rebuilt (reindex).
 * A failure leaves DIR as it is (not usable: the error says why); the
 * bucket is only read.
 */
#ifndef LS_RESTORE_H
#define LS_RESTORE_H

#include <stdint.h>

#include "base/ls.h"

struct restore_opts {
	const char *from;	/* s3://BUCKET/PREFIX */
	const char *data;	/* DIR */
	const char *keys;	/* KEYDIR (holds keys/log.key [, keys/master.json]) */
	const char *endpoint;	/* NULL: the environment */
	const char *region;
	int path_style;
	void (*progress)(void *ctx, const char *step, uint64_t done, uint64_t total);
	void *ctx;
};

struct restore_report {
	uint64_t size;		/* the latest checkpoint's */
	uint64_t segments, tiles, checkpoints;
	uint64_t sealed_end;	/* entries in segments */
	uint64_t wal_entries;	/* entries rebuilt from bundles */
	uint64_t bytes;		/* downloaded */
	double seconds;
};

ls_rc restore_run(const struct restore_opts *o, struct restore_report *rep, struct ls_err *err);

#endif
