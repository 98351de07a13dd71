/*
 * index.h - the query index: posting lists per range of leaves that map
 * filters to leaf indexes.  Derived data (rule 1): it follows the journal
 * in its own thread, catches up from its files at start, and `logseal
 * reindex` rebuilds it.  It never stores the entries themselves: callers
 * read entry N through store/reader.h.  It is a blind index: actor,
 * resource type and id, writer and source ip are kept only as keyed hashes
 * (HMAC-SHA256 under a key derived from the master key, keys.h), so they
 * are searchable by equality and source ip by CIDR of the lengths
 * docs/FORMAT.md lists, nothing else.
 *
 * Leaves are cut in ranges [k*L, (k+1)*L) (L = index_set_range_leaves(),
 * the segment size).  The active range (and a complete one not yet
 * written) is a struct postings (core/postings.h) in memory, filled by the
 * extractor thread; a complete range is written once to
 * DIR/index/<016x first>.post (docs/FORMAT.md, "Index and searchable
 * fields") by the writer thread, then read back through a cache of bounded
 * size.  The memory budget is at the top of index.c.
 *
 * Calling sequence (server):
 *	index_open(datadir) -> [index_set_range_leaves(L)] ->
 *	  [index_notify(log_size())] -> index_start()
 *	  ... log observer: index_feed()/index_notify(first + n) per durable batch
 *	  ... HTTP threads: index_query_parse/_add -> [index_wait_fresh] ->
 *	      index_query_run, or [index_wait] -> index_stats, concurrently,
 *	      from any number of threads
 *	index_close()
 * Offline: index_rebuild(datadir), index_verify_postings(datadir).
 *
 * Invariants:
 *  1. The watermark W: entries 0..W-1 are indexed, each exactly once:
 *     the .post files cover [0, S) (S a multiple of L) and the ranges in
 *     memory [S, W).  Queries and stats cover exactly [0, W).
 *  2. Once index_notify() has been called, the follower never indexes an
 *     entry at or above the largest size it was given, so it never sees a
 *     record that is written but not yet durable (recovery could cut it).
 *     Before any index_notify() it indexes whatever the journal holds.
 *  3. index_start() reconciles the .post files with the journal before the
 *     follower runs: a file past the journal's end, out of order, not
 *     decodable, made under another key or range size, or following a
 *     journal whose entry differs from the one it was made from, is deleted
 *     (with every file after it), and the follower extracts again from the
 *     end of the last good one.  So the server must call index_start()
 *     before its first append after opening the log.
 *  4. A journal entry that is not a standard event (any JSON object, or even
 *     bytes that are not JSON) still gets its leaf, with no terms for the
 *     fields it lacks.  Journal corruption or an I/O error stops the
 *     follower in a sticky error state (index_error()); it is never skipped.
 *     A full disk is the exception: the writer keeps the complete range in
 *     memory, waits and retries (index_no_space()) until space is back.
 *  5. Query results and the watermark they report come from one snapshot:
 *     the results cover exactly the entries below it.
 *  6. No personal value reaches a file in plaintext; files made under
 *     another key are deleted at open and rebuilt.
 */
#ifndef LS_INDEX_H
#define LS_INDEX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/ls.h"

#define INDEX_LIMIT_DEFAULT 100
#define INDEX_LIMIT_MAX 1000
#define INDEX_QUERY_MAX 16384	    /* bytes of a raw query string */
#define INDEX_VALUE_MAX 4096	    /* bytes of one decoded parameter value */
#define INDEX_STATS_MAX_BUCKETS 1000
#define INDEX_STATS_MAX_GROUPS 100  /* per bucket; the rest is summed into "other" */
#define INDEX_CURSOR_LEN 30	    /* bytes of a decoded cursor */
#define INDEX_CURSOR_TEXT 40	    /* base64url characters of an encoded cursor */

struct index;

/* ------------------------------------------------------------ lifecycle */

/* Open (creating DIR/index/ and the database when missing).  The follower
 * does not run until index_start(). */
ls_rc index_open(const char *datadir, struct index **out, struct ls_err *err);

/* The range size L in leaves (a multiple of 256, default
 * INDEX_RANGE_LEAVES_DEFAULT; `serve --segment-leaves`).  Call between
 * index_open() and index_start(); other values are rounded up to a
 * multiple of 256.  Files made with another L are rebuilt at start. */
#define INDEX_RANGE_LEAVES_DEFAULT 65536
void index_set_range_leaves(struct index *idx, uint32_t leaves);

/* Reconcile with the journal (invariant 3), then start the follower threads. */
ls_rc index_start(struct index *idx, struct ls_err *err);

/* The journal now holds size durable entries: wake the follower and let it
 * index up to there (invariant 2).  Cheap; callable from the sequencer. */
void index_notify(struct index *idx, uint64_t size);

/* index_notify(first + n) for a durable batch the caller hands over (the
 * log observer): entries first.. and each record's byte offset in its
 * journal segment.  The follower indexes them from this copy instead of
 * reading the journal back, up to a bound in bytes; past it, and for
 * whatever was not fed, it reads the journal.  Copies; never blocks. */
void index_feed(struct index *idx, uint64_t first, const struct iovec *entries,
		const uint64_t *offsets, size_t n);

/* Entries the follower has extracted since index_open(): from fed copies,
 * and read back from the journal (at start, and where the feed was full). */
void index_follow_counts(struct index *idx, uint64_t *fed, uint64_t *read);

/* The watermark W (invariant 1): what index_stats() and queries cover.
 * Right after index_open() it is the end of the .post files. */
uint64_t index_watermark(struct index *idx);

/* Block until the watermark is >= size.  LS_OK, LS_BUSY on timeout, or
 * LS_FAILED when the follower has stopped on an error or is not running. */
ls_rc index_wait(struct index *idx, uint64_t size, unsigned timeout_ms);

/* The same as index_watermark() (there is no separate tail any more). */
uint64_t index_fresh_watermark(struct index *idx);

/* index_wait() (kept for the callers that wait for freshness): it returns
 * within milliseconds of index_notify(size) normally. */
ls_rc index_wait_fresh(struct index *idx, uint64_t size, unsigned timeout_ms);

/* For ingest's back-pressure: wait until the extractor has indexed entries
 * [0, size), or it waits for the writer of .post files (two ranges in
 * memory: freshness then follows the disk).  LS_BUSY after timeout_ms;
 * LS_FAILED when the index failed or stops (ingest goes on). */
ls_rc index_wait_extracted(struct index *idx, uint64_t size, unsigned timeout_ms);

/* NULL while healthy; else the sticky error (e.g. "corrupt: journal/...
 * offset N: ...") that stopped the follower.  Valid until index_close(). */
const char *index_error(struct index *idx);

/* true while the writer waits for disk space: writing a .post file failed
 * with ENOSPC (or EDQUOT), so it keeps the range in memory and retries
 * every few seconds.  Queries still answer meanwhile; once two ranges wait,
 * extraction waits too and index_wait() may time out.  msg (cap bytes, may
 * be NULL) receives the last error. */
bool index_no_space(struct index *idx, char *msg, size_t cap);

/* Stop the follower threads and free everything.  NULL is a no-op.  A
 * complete range not yet written is written first; the active range is
 * extracted again from the journal at the next start. */
void index_close(struct index *idx);

/* Testing only: pause (or resume) the writer of .post files, so that
 * complete ranges stay in memory.  Pausing returns once the file being
 * written (if any) is in place. */
void index_test_pause_writer(struct index *idx, bool pause);

/* Rebuild the .post files from entry 0 of the journal (run offline:
 * `logseal reindex`): the old ones are deleted, each complete range (of
 * the range size stored in DIR/index/meta, else the default) is written
 * again, by two threads over
 * disjoint ranges.  The last, incomplete range is left to the server
 * (extracted at its start).  progress (may be NULL) is called about every
 * 65536 entries and at the end; *count (may be NULL) receives the number
 * of entries read. */
typedef void (*index_progress_fn)(void *ctx, uint64_t done);
ls_rc index_rebuild(const char *datadir, index_progress_fn progress, void *ctx, uint64_t *count,
		    struct ls_err *err);

/*
 * Check every DIR/index/<016x>.post against the entries (read through
 * store/reader.h, offline or beside a server: it takes no lock): the
 * files are contiguous ranges from leaf 0 within the log; each decodes;
 * every entry of a range has each of its terms posted and its columns
 * (times, action, outcome, service) as the entry gives them; and every
 * posting points at an entry that has the term (checked by rebuilding the
 * range from the entries and comparing the encoded bytes, which are
 * canonical).  Ranges that hold entries below the retained point (moved
 * out by retention) are skipped.  LS_OK; LS_CORRUPT with err naming the first difference:
 * "index/<file>: range [first, end): leaf N: field F: ..." or "... byte
 * B differs"; LS_NOTFOUND for no index at all (no DIR/index/meta);
 * another code for I/O.  progress (may be NULL) is called with the
 * entries checked so far about every 65536; *files and *entries (may be
 * NULL) receive what was checked.
 */
ls_rc index_verify_postings(const char *datadir, index_progress_fn progress, void *ctx,
			    uint64_t *files, uint64_t *entries, struct ls_err *err);

/* ------------------------------------------------------------- queries */

enum index_order { INDEX_DESC = 0, INDEX_ASC = 1 };

/* Which filters are present (struct index_query.has). */
#define INDEX_Q_FROM		0x0001
#define INDEX_Q_TO		0x0002
#define INDEX_Q_RECEIVED_FROM	0x0004
#define INDEX_Q_RECEIVED_TO	0x0008
#define INDEX_Q_ACTOR		0x0010
#define INDEX_Q_ACTION		0x0020	/* exact */
#define INDEX_Q_ACTION_PREFIX	0x0040	/* action=foo.* : action starts with "foo." */
#define INDEX_Q_OUTCOME		0x0080
#define INDEX_Q_SOURCE_IP	0x0100
#define INDEX_Q_SERVICE		0x0200
#define INDEX_Q_RESOURCE_TYPE	0x0400
#define INDEX_Q_RESOURCE_ID	0x0800
#define INDEX_Q_WRITER		0x1000
#define INDEX_Q_ORDER		0x2000	/* order was given explicitly */
#define INDEX_Q_LIMIT		0x4000	/* limit was given explicitly */
#define INDEX_Q_CURSOR		0x8000
#define INDEX_Q_SERVICE_PREFIX	0x10000	/* service=pay* : service starts with "pay" */
#define INDEX_Q_RESOURCE_ID_PREFIX 0x20000 /* resource_id=payments/... with a trailing star */

/* resource.id prefixes the index keeps: up to and including each of the
 * first INDEX_RID_PREFIXES '/' or ':' of the id (keyed hashes, like the id). */
#define INDEX_RID_PREFIXES 4
/* Not-equal filters (name!=value) in one query. */
#define INDEX_NOT_MAX 8

/*
 * A parsed query.  Time ranges are half-open: from <= time < to.  Strings
 * are malloc'd copies owned by the query (index_query_release()).  Fields
 * are public so that trusted callers (export) may set them directly; in
 * particular they may page with has_after/after instead of a cursor.
 * ip_lo/ip_hi must be a CIDR block of a kept length (index_query_run()
 * says LS_INVALID otherwise).
 */
struct index_query {
	unsigned has;				/* INDEX_Q_* */
	int64_t from_us, to_us;			/* event time, us since the epoch */
	int64_t received_from_us, received_to_us;
	char *actor;
	char *action;				/* exact value, or the prefix with INDEX_Q_ACTION_PREFIX */
	char *outcome;
	char *service;
	char *resource_type;
	char *resource_id;			/* exact, or the prefix with INDEX_Q_RESOURCE_ID_PREFIX */
	char *writer;
	/* name!=value: bit is one INDEX_Q_* of ACTOR, ACTION(_PREFIX), OUTCOME,
	 * SERVICE(_PREFIX), RESOURCE_TYPE, RESOURCE_ID(_PREFIX), WRITER; value
	 * as for that filter (a prefix without its '*'). */
	unsigned nnot;
	struct { unsigned bit; char *value; } nots[INDEX_NOT_MAX];
	/* A time given relative to the clock ("24h", "now-1h"), as written,
	 * else "": from, to, received_from, received_to.  The cursor is bound
	 * to this form, the audit details and manifests get the time it meant. */
	char when[4][24];
	uint8_t ip_lo[16], ip_hi[16];		/* inclusive range, IPv4 as ::ffff:a.b.c.d */
	char *source_ip;			/* normalised text, e.g. "10.0.0.0/8" */
	enum index_order order;			/* default INDEX_DESC (newest first) */
	unsigned limit;				/* 1..INDEX_LIMIT_MAX, default INDEX_LIMIT_DEFAULT */
	int has_after;				/* keyset position: results strictly after */
	uint64_t after;				/*   this leaf index in the order */
	uint8_t cursor_filter[8];		/* from a client cursor: checked against the */
	enum index_order cursor_order;		/*   filters and order by index_query_run() */
};

void index_query_init(struct index_query *q);
void index_query_release(struct index_query *q);

/* Add one decoded parameter (e.g. from libmicrohttpd).  LS_INVALID with a
 * message naming the parameter for an unknown name, a repeated one, or a
 * bad value (source_ip: also a prefix length the index does not keep:
 * IPv4 /0 /8 /16 /24 /32, IPv6 /0 /16 /32 /48 /56 /64 /128 only).
 * Names: from to received_from received_to actor action outcome
 * source_ip service resource_type resource_id writer order limit cursor,
 * and name! (not equal) for actor action outcome service resource_type
 * resource_id writer.  Times: RFC 3339, a date (UTC midnight), or relative
 * to the clock (now, 24h, now-15m; units s m h d w).  A prefix ends in '*'
 * (action, service; resource_id after a '/' or ':').  An empty cursor
 * means the first page; other empty values are refused. */
ls_rc index_query_add(struct index_query *q, const char *key, const char *value,
		      struct ls_err *err);

/* Parameters that are not filters (e.g. "format" of an export, "group_by"
 * of stats) go to extra; it returns LS_NOTFOUND for names it does not know
 * either (-> LS_INVALID "unknown parameter"), or its own error. */
typedef ls_rc (*index_param_fn)(void *ctx, const char *key, const char *value,
				struct ls_err *err);

/* Parse a raw query string "a=b&c=d" (without the '?'; percent-decoding,
 * '+' as space) into q, which it initialises; on error q holds nothing.
 * extra may be NULL. */
ls_rc index_query_parse(const char *qs, size_t n, struct index_query *q, index_param_fn extra,
			void *ctx, struct ls_err *err);

/* The filters as a JSON object of their normalised parameter values (for
 * the audit event's details and the export manifest); NULL on OOM. */
json_t *index_query_filters_json(const struct index_query *q);

/*
 * Run q: *indexes (malloc'd, up to q->limit leaf indexes in q->order),
 * *n, *next_cursor (malloc'd base64url text, NULL when there is no further
 * page) and *watermark (the entries the results cover; invariant 5).
 * A client cursor made for other filters or another order is LS_INVALID.
 */
ls_rc index_query_run(struct index *idx, const struct index_query *q, uint64_t **indexes,
		      size_t *n, char **next_cursor, uint64_t *watermark, struct ls_err *err);

/* index_query_run() that also gives, in *offsets (malloc'd, n of them), each
 * result's byte offset in its journal segment, INDEX_NO_OFFSET where the
 * index does not know it (it keeps them only for the ranges in memory):
 * a hint for store_reader_get(). */
#define INDEX_NO_OFFSET UINT64_MAX
ls_rc index_query_locate(struct index *idx, const struct index_query *q, uint64_t **indexes,
			 uint64_t **offsets, size_t *n, char **next_cursor, uint64_t *watermark,
			 struct ls_err *err);

/* The journal offset hint of one indexed entry: LS_NOTFOUND when the index
 * does not hold it (not yet indexed) or does not know its offset. */
ls_rc index_entry_offset(struct index *idx, uint64_t index, uint64_t *offset,
			 struct ls_err *err);

/*
 * Counts of the events matching q's filters (order, limit and cursor are
 * ignored), grouped by group_by ("outcome", "action" or "service"; "actor"
 * is LS_INVALID with a message saying why: actors are keyed hashes here)
 * over buckets of bucket_seconds of event time aligned to the Unix epoch
 * (0: one bucket for everything, "start": null).  *out:
 *   {"group_by":"outcome","bucket":3600,"watermark":N,"total":T,
 *    "buckets":[{"start":"2026-01-02T03:00:00.000000Z","counts":{"success":12},
 *                "other":0}, ...]}
 * Buckets without events are left out; "other" counts the events of the
 * bucket whose field is missing or beyond its INDEX_STATS_MAX_GROUPS largest
 * groups.  LS_INVALID for a bad group_by, LS_LIMIT past
 * INDEX_STATS_MAX_BUCKETS buckets (narrow the range or widen the bucket).
 * With bucket_seconds > 0, events without a parsable time are not counted.
 */
ls_rc index_stats(struct index *idx, const struct index_query *q, const char *group_by,
		  uint64_t bucket_seconds, json_t **out, struct ls_err *err);

/* Kept for the callers of the SQLite index: it chose between a rollup
 * and the rows.  Stats are now always counted from the postings' columns,
 * so this is a no-op. */
void index_stats_rows_only(struct index *idx, bool on);

/* ------------------------------------------ cursors (exposed for fuzzing) */

/* Decode a cursor text into q (has_after, after, cursor_filter, cursor_order).
 * LS_INVALID for anything but a cursor this version wrote, unmodified. */
ls_rc index_cursor_decode(const char *text, size_t n, struct index_query *q, struct ls_err *err);

/* Encode the position after leaf index last for q's filters and order;
 * out must hold INDEX_CURSOR_TEXT + 1 bytes. */
void index_cursor_encode(const struct index_query *q, uint64_t last, char *out);

/* The columns one entry gives (what the follower would store), as
 * {"time_us","received_us","actor","action","outcome","source_ip" (32 hex
 * digits),"service","resource_type","resource_id","writer"} with null for
 * what is missing.  For tests, the fuzz target and debugging; NULL on OOM. */
json_t *index_entry_fields(const void *data, size_t len);

#endif
