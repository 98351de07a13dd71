/*
 * journal.h - the append-only journal: the single source of truth (rule 1).
 *
 * A directory of segment files "<016x first index>.seg".  Each segment opens
 * with a 32-byte header, then records, each framed with its length, its
 * leaf index and a CRC-32; the last record of every appended batch carries
 * the COMMIT flag.  docs/FORMAT.md is the byte-level description.
 *
 * Encryption at rest: when the data directory (the journal directory's
 * parent) has keys/master.json (keys.h), every new segment gets a fresh
 * data key and its records are sealed with AES-256-GCM; writer and readers
 * find the keys from the directory alone and hand out plaintext entries,
 * so callers do not change.  A record that does not authenticate is
 * LS_TAMPERED with its location.
 *
 * Calling sequence (one writer; readers may run concurrently with their own
 * iterators):
 *	journal_open() -> journal_append()* -> journal_close()
 *	journal_iter_open() -> journal_iter_next()* -> journal_iter_free()
 *	journal_reader_open() -> journal_reader_get()* (any thread) ->
 *	journal_reader_free()
 *
 * Invariants:
 *  1. Records carry consecutive leaf indexes from 0, across segments.
 *  2. journal_append() returns LS_OK only after the bytes are written and
 *     fdatasync'd (and the directory fsync'd when it created a segment).
 *  3. After any failed write or sync the journal is failed: every further
 *     append returns LS_FAILED until it is closed and reopened (recovery then
 *     decides what is on disk).  A short write caused by ENOSPC is undone
 *     (ftruncate to the previous end) and reported as LS_NOSPACE; the journal
 *     stays usable only if that truncate and a sync succeed.
 *  4. Recovery at open cuts a torn tail of the last segment only: the bad
 *     region must lie in the last batch, i.e. no COMMIT record followed by
 *     another record, and no FIRST record of a later batch, follows it; the
 *     tail is no longer than one batch can be (max_batch); and it never
 *     cuts below min_size (the size of the last signed checkpoint).  Whole
 *     batches before the tail are kept, signed or not: they were
 *     acknowledged.  Anything else is LS_CORRUPT naming the segment file
 *     and byte offset, and nothing is changed.
 *  5. A cut is written down before it is made: recovery adds it to
 *     "cut.pending" in the journal directory (replaced durably) before it
 *     truncates anything, and only journal_cuts_reported() removes that
 *     file.  So a process that dies between a cut and its report (log.h)
 *     has it reported at the next open: every cut is reported at least
 *     once (twice only if a crash falls between the report and the
 *     removal).
 */
#ifndef LS_JOURNAL_H
#define LS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/ls.h"
#include "store/reader.h"

#define JOURNAL_MAX_ENTRY STORE_MAX_ENTRY
#define JOURNAL_SEG_HEADER 32
#define JOURNAL_REC_HEADER 20
#define JOURNAL_FLAG_COMMIT 0x0001
#define JOURNAL_FLAG_FIRST 0x0002	/* first record of a batch (docs/FORMAT.md) */
/* The most bytes one batch may take in a segment (records with their
 * headers, sealed): the writer refuses larger batches (LS_LIMIT), and
 * recovery refuses to cut a larger tail, since no crash can leave more
 * than one unfinished batch. */
#define JOURNAL_MAX_BATCH (64u << 20)

struct journal;

struct journal_opts {
	uint64_t segment_size; /* rotate when a segment reaches this many bytes; 0: 64 MiB */
	uint64_t min_size;     /* never cut below this many records at recovery */
	uint64_t max_batch;    /* 0: JOURNAL_MAX_BATCH; smaller only for tests */
	uint64_t sealed;       /* entries below this are in sealed segments: the
				* first file may start anywhere at or below it */
	uint64_t rotate_leaves; /* also rotate before a batch that reaches the next
				 * multiple of this (0: never): a file then lies
				 * below one multiple and is dropped as soon as
				 * the sealed range ending there is sealed */
};


/* Open (creating the directory and a first segment when empty) and recover. */
ls_rc journal_open(const char *dir, const struct journal_opts *opts, struct journal **out,
		   struct store_recovery *rec, struct ls_err *err);

/* The cuts recovery made in the journal directory dir and nobody reported
 * yet (invariant 5), oldest first: *count of them in *out (free() it). */
ls_rc journal_cuts_pending(const char *dir, struct store_recovery **out, size_t *count,
			   struct ls_err *err);
/* They are in the log now: forget them (durably). */
ls_rc journal_cuts_reported(const char *dir, struct ls_err *err);

/* Number of records (= the next leaf index). */
uint64_t journal_size(const struct journal *j);

/* Append n entries (each 1..JOURNAL_MAX_ENTRY bytes) as one batch, durably.
 * *first is set to the index of the first.  See invariant 2 and 3. */
ls_rc journal_append(struct journal *j, const struct iovec *entries, size_t n, uint64_t *first,
		     struct ls_err *err);

/* journal_append(); with offsets non-NULL (room for n), the byte offset of
 * each record in its segment, as journal_iter_where() would give it. */
ls_rc journal_append_at(struct journal *j, const struct iovec *entries, size_t n,
			uint64_t *first, uint64_t *offsets, struct ls_err *err);

void journal_close(struct journal *j);

/* Start a new segment now (and so, in an encrypted directory, a new data
 * key): between batches, as rotation by size does.  When the current
 * segment holds no record yet it is given a new header in place. */
ls_rc journal_rotate(struct journal *j, struct ls_err *err);
/* Data key id of the current segment; 0 when it is plaintext. */
uint32_t journal_key_id(const struct journal *j);

/* Sequential reader from leaf index start (may be opened on a journal that
 * another process or thread is appending to: it sees what was there). */
struct journal_iter;
ls_rc journal_iter_open(const char *dir, uint64_t start, struct journal_iter **out,
			struct ls_err *err);
/* Next record: LS_OK with *data valid until the next call; LS_NOTFOUND at the
 * clean end; LS_CORRUPT (err names segment and offset) otherwise.  With
 * loc non-NULL, *loc receives "segment:offset" of the record. */
ls_rc journal_iter_next(struct journal_iter *it, const uint8_t **data, size_t *len,
			uint64_t *index, struct ls_err *err);
/* Segment file name and byte offset of the record last returned. */
void journal_iter_where(const struct journal_iter *it, const char **segment, uint64_t *offset);
void journal_iter_free(struct journal_iter *it);

/* Random access to one record, for the read side: the index stores, per
 * leaf index, the offset journal_iter_where() gave, and a query result is
 * then one pread (two for a record longer than 1 KiB) instead of an entry
 * bundle.  One reader is meant to be shared by every thread of a process:
 * it caches the segment list, read-only fds and data keys under a mutex,
 * re-lists the directory when an index lies beyond its last cached
 * segment (rotation), and stats the "retained" file on every call (once
 * per pass: journal_reader_get_in) so that nothing below the retained
 * point is served from an fd it still holds.
 *	journal_reader_open() -> journal_reader_get()* (any thread)
 *	-> journal_reader_free() (no call in flight)
 * Opening fails (LS_NOTFOUND) when dir does not exist. */
struct journal_reader;
ls_rc journal_reader_open(const char *dir, struct journal_reader **out, struct ls_err *err);
/* The entry with leaf index `index`, whose record the caller believes
 * starts at byte `offset` of the segment holding it.  LS_OK: *data
 * (malloc'd, the caller frees it) and *len are the plaintext entry,
 * checked as journal_iter_next() checks it (frame, CRC, the record's index
 * equals `index`, and in an encrypted segment the seal bound to segment
 * and index).  LS_NOTFOUND: no segment present holds `index` (beyond the
 * end, or below the retained point: journal_set_retained()), or no record
 * header naming `index` is at `offset` (a stale hint): the caller then
 * falls back to another source.  LS_CORRUPT / LS_TAMPERED (err names the
 * segment file and offset) when a record there that names `index` does
 * not check.  On any error *data is NULL and *len 0.
 * Note: in a plaintext journal the CRC is no seal; a hint that points into
 * the payload of another entry could find a record forged inside it.
 * Hints must come from journal_iter_where() (the index), never a client. */
ls_rc journal_reader_get(struct journal_reader *r, uint64_t index, uint64_t offset,
			 uint8_t **data, size_t *len, struct ls_err *err);
/* One pass over many records (the results of one query): the retained
 * point is read once, at its first call, instead of once per record, so
 * the pass answers as of that instant.  Zero-initialise it per pass. */
struct journal_pass {
	uint64_t kept;
	int known;
};
ls_rc journal_reader_get_in(struct journal_reader *r, struct journal_pass *pass, uint64_t index,
			    uint64_t offset, uint8_t **data, size_t *len, struct ls_err *err);
void journal_reader_free(struct journal_reader *r);

/* journal_reader_get_in() without a hint: finds the record of index in
 * the file that holds it through a sparse in-memory offset index of that
 * file (one offset every JOURNAL_SPARSE_STEP records, built by a scan of
 * the record headers on first use and extended as the file grows).
 * LS_NOTFOUND when no file here holds index. */
#define JOURNAL_SPARSE_STEP 256
ls_rc journal_reader_find(struct journal_reader *r, struct journal_pass *pass, uint64_t index,
			  uint8_t **data, size_t *len, struct ls_err *err);
/* Let go of the files (and fds) of the reader whose records all lie in
 * [from, end) (sealed): the sealer deletes them, and a held fd would keep a
 * deleted file's blocks.  A file still there is listed again when needed. */
void journal_reader_forget(struct journal_reader *r, uint64_t from, uint64_t end);
/* Fill pass (the retained point) as journal_reader_get_in() does. */
ls_rc journal_reader_kept(struct journal_reader *r, struct journal_pass *pass,
			  struct ls_err *err);

/* The write-ahead log's end of life: delete every file of dir whose records
 * all lie in [from, end) (they are in durable sealed segments), never the
 * last file, then fsync dir.  *dropped (may be NULL) counts the files
 * deleted. */
ls_rc journal_drop_below(const char *dir, uint64_t from, uint64_t end, size_t *dropped,
			 struct ls_err *err);
/* The first index of every file of dir, ascending (*firsts malloc'd). */
ls_rc journal_files(const char *dir, uint64_t **firsts, size_t *n, struct ls_err *err);

/* Like journal_iter_open(), for a journal nobody is appending to (verify):
 * a short or bad record, a torn segment header or a last batch without
 * COMMIT at the end is LS_CORRUPT with its location instead of the clean
 * end.  After LS_CORRUPT, journal_iter_where() gives the bad location. */
ls_rc journal_iter_open_strict(const char *dir, uint64_t start, struct journal_iter **out,
			       struct ls_err *err);

/* Retention (retention.h) moves sealed segments from the start of the
 * journal to the archive.  Before it removes them it names, durably, the
 * first segment that stays in the file "retained" of the journal
 * directory; from then on journal_open() accepts a first segment that is
 * not 0 but at or below that one, and an iterator opened at an index
 * before it starts at the first segment there (its indexes say where).
 * journal_retained() gives that index (0: nothing moved out). */
ls_rc journal_retained(const char *dir, uint64_t *first, struct ls_err *err);
ls_rc journal_set_retained(const char *dir, uint64_t first, struct ls_err *err);

/* Decode one record from buf (for tests and the fuzz target): LS_OK with
 * *consumed bytes, LS_NOTFOUND when buf holds an incomplete record,
 * LS_CORRUPT when it does not check. */
ls_rc journal_record_decode(const uint8_t *buf, size_t n, const uint8_t **data, size_t *len,
			    uint64_t *index, uint16_t *flags, size_t *consumed);

/* Testing only: make the next batch write (JOURNAL_FAULT_WRITE; half the
 * batch is written first, as when a disk fills up) or the next fdatasync
 * (JOURNAL_FAULT_SYNC) of journal_append() fail with errno errnum. */
#define JOURNAL_FAULT_WRITE 1
#define JOURNAL_FAULT_SYNC 2
void journal_test_fail_next(struct journal *j, int op, int errnum);

#endif
