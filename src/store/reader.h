/*
 * reader.h - the storage seam: how every layer above store/ reads the log.
 *
 * The contract.  A log is a sequence of entries with leaf indexes 0, 1, 2,
 * ...; an entry, once acknowledged, never changes.  Above store/ (index,
 * alerts, retention, verify, export, the HTTP API, the stream) nothing
 * knows how entries are kept: files of segments today, sealed segments,
 * an object store or a database cluster later.  They read through the
 * four things named here, and nothing else of the storage layer:
 *
 *   1. a range of entries, in order, from a start index   (store_iter_*)
 *   2. entry i, by random access, with a location hint     (store_reader_*)
 *   3. the first entry still kept here (retention)          (store_retained)
 *   4. tiles and checkpoints                                (store/tiles.h,
 *      store/log.h: log_latest_checkpoint(); they are already backend-free)
 *
 * Every call takes the log's entry directory (DATA/journal), which names a
 * backend: store_backend_of() picks it.  Today there is one backend, the
 * local files: sealed segments (DATA/segments, store/segment.h) below the
 * sealed end and the write-ahead log (DATA/journal, store/journal.h)
 * above it, read as one sequence (backend_segments.c); a new one fills in
 * a struct store_backend and is chosen there.  Callers never see the
 * difference.  Entries move from the log into segments while readers run;
 * iterators and readers follow them.
 *
 * Guarantees every backend keeps:
 *   - An iterator yields entries in index order with no gap, each checked
 *     (frame, checksum, index, and the seal when encrypted); it ends with
 *     LS_NOTFOUND at the clean end.  A strict iterator (STORE_STRICT, for
 *     verify) turns a torn or uncommitted tail into LS_CORRUPT.
 *   - An entry read by index is the same bytes the iterator yields.  The
 *     hint is whatever store_iter_where() said for it (for the local
 *     backend, a byte offset in the write-ahead log; UINT64_MAX for an
 *     entry in a sealed segment, which needs none); a missing (UINT64_MAX)
 *     or stale hint costs a lookup, never another entry.  Hints come from
 *     the storage layer, never a client.
 *   - Nothing below store_retained() is served.
 * Thread safety: an iterator belongs to one thread; one store_reader may be
 * shared by every thread of a process.
 */
#ifndef LS_STORE_READER_H
#define LS_STORE_READER_H

#include <stdint.h>
#include <stddef.h>
#include "base/ls.h"

/* The largest entry any backend stores, in bytes. */
#define STORE_MAX_ENTRY 65535

/* What opening a log for appends cut from a torn tail (log_open()). */
struct store_recovery {
	int cut;		 /* 1 when a torn tail was cut */
	char segment[64];	 /* where: the segment (file) that was cut */
	uint64_t offset;	 /* byte offset where the cut was made */
	uint64_t bytes;		 /* bytes removed */
	uint64_t records;	 /* whole, valid records removed with them (never acknowledged) */
	uint64_t first;		 /* leaf index of the first record removed (= the size after) */
	uint64_t last;		 /* leaf index of the last valid record removed (records > 0) */
};

/* 1. Entries in order. */
#define STORE_STRICT 1		/* verify: a torn or uncommitted tail is LS_CORRUPT */
struct store_iter;
ls_rc store_iter_open(const char *dir, uint64_t start, int flags, struct store_iter **out,
		      struct ls_err *err);
/* Next entry: LS_OK with *data valid until the next call and *index its
 * leaf index; LS_NOTFOUND at the clean end; LS_CORRUPT or LS_TAMPERED
 * (err says where) otherwise. */
ls_rc store_iter_next(struct store_iter *it, const uint8_t **data, size_t *len, uint64_t *index,
		      struct ls_err *err);
/* Where the entry last returned lies: a name to show people (a segment
 * file) and the hint store_reader_get() takes back. */
void store_iter_where(const struct store_iter *it, const char **name, uint64_t *hint);
void store_iter_free(struct store_iter *it);

/* 2. Entry i.  One reader for every thread of a process.  A pass is one
 * query's worth of reads: the retained point is read once per pass.
 * Zero-initialise a pass per query.  *data is malloc'd (the caller frees
 * it).  LS_NOTFOUND: not here (beyond the end, below the retained point,
 * or a stale hint). */
struct store_reader;
struct store_pass {
	uint64_t kept;
	int known;
};
ls_rc store_reader_open(const char *dir, struct store_reader **out, struct ls_err *err);
ls_rc store_reader_get(struct store_reader *r, struct store_pass *pass, uint64_t index,
		       uint64_t hint, uint8_t **data, size_t *len, struct ls_err *err);
void store_reader_free(struct store_reader *r);

/* 2b. The C2SP entry bundle n (entries [256n, 256n + w), 1 <= w <= 256,
 * each a big-endian uint16 length then the bytes), built from the store:
 * the bundles are no files of their own (each entry is stored once).
 * *data malloc'd.  LS_NOTFOUND: an entry of it is not here (beyond the
 * end, or below the retained point).  The caller bounds w by what a
 * signed checkpoint covers.  store_bundle() opens a reader for one call. */
ls_rc store_reader_bundle(struct store_reader *r, uint64_t n, unsigned w, uint8_t **data,
			  size_t *len, struct ls_err *err);
ls_rc store_bundle(const char *dir, uint64_t n, unsigned w, uint8_t **data, size_t *len,
		   struct ls_err *err);

/* 3. Retention.  store_retained(): the first index still kept here (0 when
 * nothing was moved out).  store_set_retained(): record, durably, that
 * entries below `first` may go (retention moves them to the archive). */
ls_rc store_retained(const char *dir, uint64_t *first, struct ls_err *err);
ls_rc store_set_retained(const char *dir, uint64_t first, struct ls_err *err);

/* A backend: the functions above, for one way of keeping entries. */
struct store_backend {
	const char *name;
	ls_rc (*iter_open)(const char *dir, uint64_t start, int flags, struct store_iter **out,
			   struct ls_err *err);
	ls_rc (*reader_open)(const char *dir, struct store_reader **out, struct ls_err *err);
	ls_rc (*retained)(const char *dir, uint64_t *first, struct ls_err *err);
	ls_rc (*set_retained)(const char *dir, uint64_t first, struct ls_err *err);
};
/* The backend that keeps the log at dir (today: always the segment files). */
const struct store_backend *store_backend_of(const char *dir);

#endif
