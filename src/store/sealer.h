/*
 * sealer.h - sealing the write-ahead log into segments (private to store/:
 * log.c runs it; docs/FORMAT.md §2 and "Sealed segments").
 *
 * The sealer turns the range [s, s + L) of the journal (L = segment_leaves)
 * into the sealed segment DIR/segments/<016x s>.seal once a SIGNED
 * checkpoint covers s + L (so that no torn-tail recovery can ever cut into
 * a sealed range), then deletes every journal file whose entries all lie
 * below the sealed end.  It runs in its own thread (woken by
 * sealer_signed() after each published checkpoint), or in the caller
 * (sealer_run(): log_close, import, migrate, tests); never in the
 * sequencer or on the acknowledgement path.
 *
 * Invariants:
 *  1. s is where sealing stands: the end of the last segment on disk (or,
 *     with none, the retained point rounded up to a whole entry bundle);
 *     ranges are sealed in order, each durable (segment_write) before the
 *     journal files it covers are deleted (only files all of whose entries
 *     lie in segments: a retained point that is no multiple of 256, left
 *     by retention before sealed segments, keeps the file with the entries
 *     from there to the first segment).  A crash between the two leaves
 *     both: reads prefer the segment, the next seal deletes the files.
 *  2. Bounded: sealer_behind() is 1 once more than SEALER_MAX_BEHIND whole
 *     ranges wait; log.c then acknowledges nothing more (back-pressure,
 *     LS_BUSY after a few seconds, 503 with Retry-After for HTTP).
 *  3. In an encrypted directory a segment is sealed under the keyring's
 *     newest data key at sealing time (segment_write).
 *  4. Each leaf hash is stored once: once a segment is durable, the full
 *     level-0 hash tile files of its range (DIR/log/tile/0/<N>) that equal
 *     its leaf hashes are deleted, and tiles.h serves them from the
 *     segment.  Partial tiles and levels 1 and up stay files.  A crash in
 *     between leaves both (still right).
 *
 * The data directory format: DIR/format holds SEALER_FORMAT (written by
 * log_init and `logseal migrate`); a directory without it was made before
 * sealed segments and is refused with the way out.
 */
#ifndef LS_SEALER_H
#define LS_SEALER_H

#include <stdint.h>

#include "base/ls.h"

#define SEALER_DEFAULT_LEAVES 65536
#define SEALER_MIN_LEAVES 256
#define SEALER_MAX_LEAVES 16777216
#define SEALER_MAX_BEHIND 4	/* whole ranges waiting before back-pressure */
#define SEALER_FORMAT_FILE "format"
#define SEALER_FORMAT "logseal data directory: sealed segments 1\n"

struct sealer;

/* L checked (0: the default; a multiple of 256 in [256, 2^24], else
 * LS_INVALID) into *out. */
ls_rc sealer_leaves(uint64_t want, uint32_t *out, struct ls_err *err);

/* thread: run in a thread of its own; else only in sealer_run(). */
ls_rc sealer_open(const char *datadir, uint32_t leaves, int thread, struct sealer **out,
		  struct ls_err *err);
/* Where sealing stands (invariant 1): entries below are in segments. */
uint64_t sealer_end(struct sealer *s);
/* Invariant 2 for a log of size entries. */
int sealer_behind(struct sealer *s, uint64_t size);
/* A signed checkpoint now covers size entries: wake the thread. */
void sealer_signed(struct sealer *s, uint64_t size);
/* Seal, in the caller, every whole range below size (signed). */
ls_rc sealer_run(struct sealer *s, uint64_t size, struct ls_err *err);
/* Stops the thread (a range being sealed is finished first). */
void sealer_close(struct sealer *s);

struct sealer_stats {
	uint64_t segments;	/* sealed since open */
	uint64_t end;		/* sealer_end() */
	double seconds;		/* spent sealing since open */
	uint64_t entries;	/* sealed since open */
	uint64_t failures;	/* rounds that failed (retried) */
};
void sealer_get_stats(struct sealer *s, struct sealer_stats *out);

/* DIR/format: LS_OK when it says SEALER_FORMAT; LS_INVALID with the
 * message that names `logseal migrate` when it is missing (the format
 * before sealed segments); LS_CORRUPT when it says something else. */
ls_rc sealer_format_check(const char *datadir, struct ls_err *err);
ls_rc sealer_format_write(const char *datadir, struct ls_err *err);

#endif
