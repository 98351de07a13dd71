/*
 * index.c - the query index (see index.h for the API and its invariants):
 * this file opens and closes it, reconciles it with the journal at open,
 * runs the writer thread and the waits; the other pieces (blind hashing,
 * rows, schema, the tail, rebuild, queries, stats) are listed in
 * index_int.h.  What follows describes the whole index.
 *
 * Database DIR/index/index.sqlite (WAL, synchronous=NORMAL: it is derived
 * data, a lost tail is re-indexed from the journal):
 *
 *	meta(k TEXT PRIMARY KEY, v)	"schema" = SCHEMA_VERSION, "watermark" = W,
 *					"last_hash" = SHA-256 of entry W-1,
 *					"key_check" = B("key-check", "")
 *	events(idx INTEGER PRIMARY KEY,	one row per leaf index 0..W-1
 *	       time_us, received_us,	microseconds since the epoch, or NULL
 *	       actor, action, outcome,	actor: B("actor", actor.id); the others TEXT
 *	       source_ip, ip_family,	B("source_ip", 16-byte address), 4 or 6
 *	       service,			TEXT
 *	       resource_type,		B("resource_type", resource.type)
 *	       resource_id, writer,	B("resource_id", ...), B("writer", ...)
 *	       joff)			the record's byte offset in its journal
 *					segment (a hint for journal_reader_get)
 *	  indexes (IX_SCHEMA_INDEXES)	time_us; (actor, idx, time_us, joff);
 *					(action, outcome, time_us, joff); source_ip;
 *					(service, time_us); resource_id
 *	ipnet(plen, hash, idx)		per address, its keyed network prefixes:
 *					hash = first 8 bytes of B("source_net",
 *					plen || masked address) as an INTEGER
 *					(WITHOUT ROWID, key (plen, hash, idx))
 *	rollup(hour, field, value, n)	events per hour of event time (floor of
 *					time_us / 3600 s; NO_HOUR without a time),
 *					field 0 outcome, 1 action, 2 service, value
 *					the TEXT as stored in events or x'' when
 *					missing, n the count (WITHOUT ROWID)
 *
 * The rollup answers index_stats() when the query has no filter but from/to
 * on whole hours and the bucket is a whole number of hours or 0 (then each
 * cell is wholly in or out of the range and in one bucket); any other query
 * counts rows.  R1: rollup holds exactly the counts of the events rows: it
 * is added to in the rows' transactions (summed per batch in memory first),
 * and the reconcile cut subtracts the cut rows' counts in its transaction.
 *
 * The blind index: B(name, v) = HMAC-SHA256(K, name || 0x00 || v), first
 * BLIND_LEN bytes, with K the index key (index_key()).  No column holds a
 * personal value in plaintext; equality filters hash the filter value the
 * same way.  Addresses are 16 bytes with IPv4 as ::ffff:a.b.c.d, and plen
 * counts bits of that 128-bit form, so IPv4 /8 /16 /24 are plen 104 112 120
 * and IPv6 /16 /32 /48 /56 /64 are plen 16..64; /32 and /128 are the
 * source_ip column; IPv4 /0 is ip_family = 4 and ::/0 any address.  No
 * other prefix length can be answered, so none is accepted (parse_cidr()).
 * Invariants of the blind part:
 *  B1. Every row of events and ipnet was written under the key whose check
 *      is in meta: index_open() throws the whole file away (not DROP TABLE,
 *      which leaves the old pages' bytes in the file) when the key or the
 *      schema version differ, and the follower indexes again from 0.
 *  B2. ipnet holds exactly the rows of the events below the watermark
 *      (written and deleted in the same transactions as theirs).
 *
 * DIR/index/lock is flock()ed by index_open() and index_rebuild() so that
 * a reindex never swaps the file under a running server.
 *
 * Threads: the extractor reads the journal into the in-memory tail of rows
 * (see "the tail" for its invariants T1-T5); the writer owns the write
 * connection and moves the tail's rows into SQLite; a checkpointer; every
 * query takes its own read connection from a small pool (WAL lets readers
 * run beside the writer and each sees one consistent snapshot) and reads
 * the tail rows above its snapshot's watermark under tail_rw.
 *
 * Cursor (INDEX_CURSOR_LEN bytes, base64url without padding):
 *	[0]	version (1)
 *	[1]	order (0 desc, 1 asc)
 *	[2..9]	last leaf index returned, big-endian
 *	[10..17] first 8 bytes of SHA-256 of the normalised filters
 *	[18..29] first 12 bytes of SHA-256(CURSOR_TAG || bytes 0..17)
 * The check bytes catch edited or truncated cursors; the filter bytes catch
 * a cursor replayed with other filters, which would silently skip or repeat
 * events.  It is not a secret MAC: forging a cursor gains nothing a client
 * could not get with a plain query.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ============================================================ small helpers */

ls_rc ix_db_fail(struct ls_err *err, sqlite3 *db, const char *what)
{
	int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
	ls_rc rc = LS_IO;

	if (code == SQLITE_NOMEM)
		rc = LS_NOMEM;
	else if (code == SQLITE_FULL)
		rc = LS_NOSPACE;
	else if (code == SQLITE_IOERR && db &&
		 (sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT))
		/* Growing the -shm, or a write SQLite does not map to FULL. */
		rc = LS_NOSPACE;
	else if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		rc = LS_CORRUPT;
	else if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		rc = LS_BUSY;
	return ls_err_set(err, rc, "index: %s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

ls_rc ix_exec(sqlite3 *db, const char *sql, struct ls_err *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return ix_db_fail(err, db, sql);
	return LS_OK;
}

char *ix_path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* ============================================================= lifecycle */

ls_rc index_open(const char *datadir, struct index **out, struct ls_err *err)
{
	struct index *idx;
	pthread_condattr_t ca;
	char *indexdir = NULL;
	uint8_t check[BLIND_LEN];
	sqlite3_int64 wm = 0;
	bool found, stale = false;
	ls_rc rc;

	*out = NULL;
	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	idx->lockfd = -1;
	pthread_mutex_init(&idx->mu, NULL);
	pthread_mutex_init(&idx->pool_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&idx->wake, &ca);
	pthread_cond_init(&idx->wcv, &ca);
	pthread_cond_init(&idx->moved, &ca);
	pthread_cond_init(&idx->ckpt_cv, &ca);
	pthread_condattr_destroy(&ca);
	{
		/* A writer waiting to drop rows goes before new queries: the
		 * extractor may be waiting for that room. */
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&idx->tail_rw, &ra);
		pthread_rwlockattr_destroy(&ra);
	}

	idx->datadir = strdup(datadir);
	idx->jdir = ix_path_join(datadir, "journal");
	indexdir = ix_path_join(datadir, "index");
	idx->dbpath = indexdir ? ix_path_join(indexdir, "index.sqlite") : NULL;
	if (!idx->datadir || !idx->jdir || !indexdir || !idx->dbpath) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	rc = fs_mkdirs(indexdir, 0700, err);
	if (rc == LS_OK)
		rc = ix_lock_dir(indexdir, &idx->lockfd, err);
	if (rc == LS_OK)
		rc = ix_blind_open(datadir, &idx->bl, check, err);
	if (rc == LS_OK)
		rc = ix_db_open(idx->dbpath, true, &idx->w, err);
	if (rc == LS_OK)
		rc = ix_schema_check(idx->w, check, &stale, err);
	if (rc == LS_OK && stale) {
		/* Another schema or another key: derived data, made again (B1). */
		sqlite3_close(idx->w);
		idx->w = NULL;
		rc = ix_db_remove(idx->dbpath, err);
		if (rc == LS_OK)
			rc = fs_sync_dir(indexdir, err);
		if (rc == LS_OK)
			rc = ix_db_open(idx->dbpath, true, &idx->w, err);
	}
	if (rc == LS_OK)
		rc = ix_schema_ensure(idx->w, check, err);
	if (rc == LS_OK)
		rc = ix_meta_get(idx->w, "watermark", &wm, NULL, 0, &found, err);
	if (rc != LS_OK)
		goto fail;
	idx->watermark = found && wm > 0 ? (uint64_t)wm : 0;
	idx->tail_head = idx->tail_end = idx->watermark;
	free(indexdir);
	*out = idx;
	return LS_OK;
fail:
	free(indexdir);
	index_close(idx);
	return rc;
}

/* 1 when record k is in the journal, 0 when not, <0 (rc in *why) on error. */
static int journal_has(const char *jdir, uint64_t k, uint8_t hash[LS_HASH_LEN], ls_rc *why,
		       struct ls_err *err)
{
	struct store_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t at;
	ls_rc rc;

	rc = store_iter_open(jdir, k, 0, &it, err);
	if (rc == LS_NOTFOUND)
		return 0;
	if (rc != LS_OK) {
		*why = rc;
		return -1;
	}
	rc = store_iter_next(it, &data, &len, &at, err);
	if (rc == LS_OK && hash)
		ls_sha256(data, len, NULL, 0, hash);
	store_iter_free(it);
	if (rc == LS_NOTFOUND)
		return 0;
	if (rc != LS_OK) {
		*why = rc;
		return -1;
	}
	return 1;
}

/*
 * The rollup counts of the events at or above ?1 taken away (?2 NO_HOUR),
 * computed as ix_write_trow() adds them: hour rounded down, a missing value as
 * the empty blob.  Cells left at 0 are then deleted, so the rollup stays
 * exactly the one the kept rows would have built.
 */
#define ROLLUP_HOUR                                                                           \
	"CASE WHEN time_us IS NULL THEN ?2 ELSE (time_us - (((time_us % 3600000000) + "       \
	"3600000000) % 3600000000)) / 3600000000 END"
#define ROLLUP_SUB_ONE(field, col)                                                            \
	"SELECT " ROLLUP_HOUR ", " field ", coalesce(" col ", x''), -count(*) FROM events"   \
	" WHERE idx >= ?1 GROUP BY 1, 3"
#define ROLLUP_SUB_SQL                                                                        \
	"INSERT INTO rollup(hour,field,value,n) " ROLLUP_SUB_ONE("0", "outcome")               \
	" UNION ALL " ROLLUP_SUB_ONE("1", "action") " UNION ALL "                            \
	ROLLUP_SUB_ONE("2", "service") " ON CONFLICT(hour,field,value) DO UPDATE SET n = n + excluded.n"

/* Invariant 3: make the stored rows a prefix of the journal. */
static ls_rc reconcile(struct index *idx, struct ls_err *err)
{
	uint8_t stored[LS_HASH_LEN], now[LS_HASH_LEN];
	uint64_t wm = idx->watermark, lo, step, n;
	bool found;
	ls_rc rc, why = LS_OK;
	int has;

	if (wm == 0)
		return LS_OK;
	rc = ix_meta_get(idx->w, "last_hash", NULL, stored, sizeof(stored), &found, err);
	if (rc != LS_OK)
		return rc;
	has = journal_has(idx->jdir, wm - 1, now, &why, err);
	if (has < 0)
		return why;
	if (has) {
		if (!found || ls_ct_equal(stored, now, LS_HASH_LEN))
			return LS_OK;
		n = 0;	/* not the journal we indexed: start over */
	} else {
		/* The journal is shorter: a torn tail was cut at recovery.
		 * Walk back in growing steps to a record that exists, then
		 * count forward to the end. */
		lo = wm - 1;
		step = 1;
		has = 0;
		while (lo > 0 && !has) {
			lo = lo > step ? lo - step : 0;
			step *= 2;
			has = journal_has(idx->jdir, lo, NULL, &why, err);
			if (has < 0)
				return why;
		}
		n = 0;
		if (has || journal_has(idx->jdir, 0, NULL, &why, err) > 0) {
			struct store_iter *it;
			const uint8_t *data;
			size_t len;
			uint64_t at;

			rc = store_iter_open(idx->jdir, lo, 0, &it, err);
			if (rc != LS_OK)
				return rc;
			n = lo;
			while ((rc = store_iter_next(it, &data, &len, &at, err)) == LS_OK && at < wm) {
				ls_sha256(data, len, NULL, 0, now);
				n = at + 1;
			}
			store_iter_free(it);
			if (rc != LS_OK && rc != LS_NOTFOUND)
				return rc;
		} else if (why != LS_OK) {
			return why;
		}
	}
	rc = ix_exec(idx->w, "BEGIN IMMEDIATE", err);
	if (rc != LS_OK)
		return rc;
	{
		/* ipnet has no index on idx: the delete scans it, which only
		 * happens at start after a torn tail or a swapped journal. */
		static const char *const del[] = { ROLLUP_SUB_SQL, "DELETE FROM rollup WHERE n = 0",
						   "DELETE FROM events WHERE idx >= ?",
						   "DELETE FROM ipnet WHERE idx >= ?" };
		sqlite3_stmt *st;
		size_t k;

		for (k = 0; k < 4 && rc == LS_OK; k++) {
			if (sqlite3_prepare_v2(idx->w, del[k], -1, &st, NULL) != SQLITE_OK) {
				rc = ix_db_fail(err, idx->w, "reconcile");
				break;
			}
			if (k == 0)
				sqlite3_bind_int64(st, 2, NO_HOUR);
			if (k != 1)
				sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = ix_db_fail(err, idx->w, "reconcile");
			sqlite3_finalize(st);
		}
	}
	if (rc == LS_OK)
		rc = ix_meta_mark(idx->w, n, n ? now : NULL, err);
	if (rc == LS_OK && n == 0)
		rc = ix_exec(idx->w, "DELETE FROM meta WHERE k='last_hash'", err);
	if (rc == LS_OK)
		rc = ix_exec(idx->w, "COMMIT", err);
	if (rc != LS_OK) {
		sqlite3_exec(idx->w, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	pthread_mutex_lock(&idx->mu);
	idx->watermark = n;
	idx->tail_head = idx->tail_end = n;
	pthread_mutex_unlock(&idx->mu);
	return LS_OK;
}

void ix_follower_fail(struct index *idx, ls_rc rc, const char *msg)
{
	pthread_mutex_lock(&idx->mu);
	if (!idx->failed) {
		idx->failed = true;
		snprintf(idx->errmsg, sizeof(idx->errmsg), "%s: %s", ls_rc_name(rc), msg);
	}
	pthread_cond_broadcast(&idx->moved);
	pthread_cond_broadcast(&idx->wake);
	pthread_cond_broadcast(&idx->wcv);
	pthread_mutex_unlock(&idx->mu);
}

/* ================================================================ the writer */

/* The end of what a batch may take from next: at most limit, after an
 * anchor (T4); next when no anchor is in reach. */
static uint64_t anchored_end(struct index *idx, uint64_t next, uint64_t limit)
{
	uint64_t e;

	for (e = limit; e > next; e--)
		if (tail_row(idx, e - 1)->flags & T_HASH)
			return e;
	return next;
}

/*
 * When the only writer is the read audit, entries come one at a time, and
 * a commit each would write the same few B-tree pages to the WAL again and
 * again (and its checkpoints would compete with the journal's fdatasync).
 * So a transaction that has rows stays open up to LINGER_MS for more,
 * unless somebody waits for the index (index_wait), a test pauses the
 * writer or it is stopping.  true: rows were published, take them.
 */
static bool linger(struct index *idx, const struct timespec *until, uint64_t next,
		   uint64_t *avail)
{
	bool more;

	pthread_mutex_lock(&idx->mu);
	while (!idx->stop && !idx->waiters && !idx->pause_writer && idx->tail_end == next)
		if (pthread_cond_timedwait(&idx->wcv, &idx->mu, until) == ETIMEDOUT)
			break;
	more = !idx->stop && !idx->pause_writer && idx->tail_end > next;
	*avail = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	return more;
}

/*
 * Insert tail rows from *next (published up to avail) in one transaction
 * of up to BATCH_ROWS, ending on an anchor.  *next moves past what was
 * committed; on error nothing was.
 */
static ls_rc write_batch(struct index *idx, struct writer *wr, uint64_t *next, uint64_t avail,
			 struct ls_err *err)
{
	uint64_t start = *next, stop;
	struct timespec until;
	ls_rc rc;

	rc = ix_exec(idx->w, "BEGIN IMMEDIATE", err);
	if (rc != LS_OK)
		return rc;
	deadline_after(&until, LINGER_MS);
	for (;;) {
		uint64_t limit = avail - start > BATCH_ROWS ? start + BATCH_ROWS : avail;

		stop = anchored_end(idx, *next, limit);
		for (; rc == LS_OK && *next < stop; (*next)++)
			rc = ix_write_trow(wr, *next, tail_row(idx, *next), err);
		if (rc != LS_OK || stop != avail || !linger(idx, &until, *next, &avail))
			break;
	}
	if (rc == LS_OK && *next == start) {
		/* Not reached: a publication ends on an anchor (T4). */
		sqlite3_exec(idx->w, "ROLLBACK", NULL, NULL, NULL);
		return LS_OK;
	}
	if (rc == LS_OK)
		rc = ix_writer_flush(wr, err);
	if (rc == LS_OK)
		rc = ix_meta_mark(idx->w, *next, tail_row(idx, *next - 1)->hash, err);
	if (rc == LS_OK)
		rc = ix_exec(idx->w, "COMMIT", err);
	if (rc != LS_OK) {
		sqlite3_exec(idx->w, "ROLLBACK", NULL, NULL, NULL);
		ix_writer_discard(wr);
		*next = start;
	}
	return rc;
}

static void *writer_thread(void *arg)
{
	struct index *idx = arg;
	struct writer wr;
	struct ls_err err = { { 0 } };
	uint64_t next, avail;
	unsigned backoff = NOSPACE_RETRY_MS;
	ls_rc rc;

	pthread_setname_np(pthread_self(), "ls-idx-writer");
	/* The index is derived data that may lag (the tail answers for what
	 * it has not written): under a burst, CPU goes to accepting events
	 * first, and the writer takes what they leave: SCHED_IDLE runs it on
	 * CPU time no other thread wants (per thread on Linux), nice 19
	 * where that policy is refused.  When the tail is full, ingest waits
	 * (--max-search-lag) and so leaves it the CPU. */
	{
		struct sched_param sp = { 0 };

		if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
			setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	}

	rc = ix_writer_init(&wr, idx->w, true, &err);
	if (rc != LS_OK) {
		ix_follower_fail(idx, rc, err.msg);
		ix_writer_release(&wr);
		return NULL;
	}
	pthread_mutex_lock(&idx->mu);
	next = idx->watermark;
	for (;;) {
		while (!idx->stop && (idx->pause_writer || idx->tail_end == next)) {
			bool force = idx->ext_waiting, pending;

			if (idx->tail_head / TAIL_CHUNK_ROWS < next / TAIL_CHUNK_ROWS) {
				pthread_mutex_unlock(&idx->mu);
				pending = ix_tail_drop(idx, next, force);
				pthread_mutex_lock(&idx->mu);
				if (pending) {
					struct timespec ts;

					deadline_after(&ts, DROP_RETRY_MS);
					pthread_cond_timedwait(&idx->wcv, &idx->mu, &ts);
				}
				continue;
			}
			pthread_cond_wait(&idx->wcv, &idx->mu);
		}
		if (idx->stop)
			break;
		avail = idx->tail_end;
		idx->writing = true;
		pthread_mutex_unlock(&idx->mu);

		rc = write_batch(idx, &wr, &next, avail, &err);

		pthread_mutex_lock(&idx->mu);
		idx->writing = false;
		idx->watermark = next;
		pthread_cond_broadcast(&idx->moved);
		if (rc == LS_NOSPACE) {
			/* A full disk is not the index's fault and goes away:
			 * nothing of the batch was committed (write_batch rolled
			 * it back and left next at the watermark), its rows stay
			 * in the tail, so queries still see them, and the same
			 * batch is tried again after a wait that doubles up to
			 * NOSPACE_RETRY_MAX_MS.  Any other error stays sticky. */
			struct timespec ts;

			idx->nospace = true;
			snprintf(idx->nospace_msg, sizeof(idx->nospace_msg), "%s", err.msg);
			deadline_after(&ts, backoff);
			while (!idx->stop &&
			       pthread_cond_timedwait(&idx->wcv, &idx->mu, &ts) != ETIMEDOUT)
				;
			backoff = backoff * 2 < NOSPACE_RETRY_MAX_MS ? backoff * 2
								      : NOSPACE_RETRY_MAX_MS;
			rc = LS_OK;
			continue;
		}
		if (rc != LS_OK)
			break;
		idx->nospace = false;
		backoff = NOSPACE_RETRY_MS;
		if (idx->tail_head / TAIL_CHUNK_ROWS < next / TAIL_CHUNK_ROWS) {
			bool force = idx->ext_waiting;

			pthread_mutex_unlock(&idx->mu);
			ix_tail_drop(idx, next, force);
			pthread_mutex_lock(&idx->mu);
		}
	}
	pthread_mutex_unlock(&idx->mu);
	if (rc != LS_OK)
		ix_follower_fail(idx, rc, err.msg);
	ix_writer_release(&wr);
	return NULL;
}

/*
 * SQLite's own automatic checkpoint runs inside the commit that crosses
 * its threshold, so the writer (and every query waiting on it) would stall
 * for its two fsyncs.  Here a commit only wakes a thread of its own, which
 * checkpoints PASSIVE (it never blocks the writer or a reader).  Should
 * that thread fall far behind, the writer checkpoints itself, so that the
 * WAL can start over and does not grow without bound.
 */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct index *idx = arg;

	if (frames >= CKPT_INLINE_FRAMES) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&idx->mu);
		idx->ckpt_due = true;
		pthread_cond_signal(&idx->ckpt_cv);
		pthread_mutex_unlock(&idx->mu);
	}
	return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
	struct index *idx = arg;

	pthread_setname_np(pthread_self(), "ls-idx-walckpt");
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	pthread_mutex_lock(&idx->mu);
	for (;;) {
		while (!idx->stop && !idx->ckpt_due)
			pthread_cond_wait(&idx->ckpt_cv, &idx->mu);
		if (idx->stop)
			break;
		idx->ckpt_due = false;
		pthread_mutex_unlock(&idx->mu);
		/* A failure here leaves the WAL longer; the writer's inline
		 * checkpoint still bounds it. */
		sqlite3_wal_checkpoint_v2(idx->c, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&idx->mu);
	}
	pthread_mutex_unlock(&idx->mu);
	return NULL;
}

ls_rc index_start(struct index *idx, struct ls_err *err)
{
	ls_rc rc;

	if (idx->started)
		return ls_err_set(err, LS_INVALID, "index: already started");
	rc = reconcile(idx, err);
	if (rc != LS_OK)
		return rc;
	rc = ix_db_open(idx->dbpath, true, &idx->c, err);
	if (rc != LS_OK)
		return rc;
	if (pthread_create(&idx->ckpt_thread, NULL, checkpointer, idx) != 0) {
		sqlite3_close(idx->c);
		idx->c = NULL;
		return ls_err_set(err, LS_NOMEM, "index: cannot start the checkpoint thread");
	}
	idx->ckpt_started = true;
	sqlite3_wal_hook(idx->w, wal_hook, idx);
	pthread_mutex_lock(&idx->mu);
	if (pthread_create(&idx->thread, NULL, writer_thread, idx) != 0) {
		pthread_mutex_unlock(&idx->mu);
		return ls_err_set(err, LS_NOMEM, "index: cannot start the writer thread");
	}
	if (pthread_create(&idx->ext_thread, NULL, ix_extractor, idx) != 0) {
		idx->stop = true;
		pthread_cond_broadcast(&idx->wcv);
		pthread_mutex_unlock(&idx->mu);
		pthread_join(idx->thread, NULL);
		return ls_err_set(err, LS_NOMEM, "index: cannot start the extractor thread");
	}
	idx->started = true;
	pthread_mutex_unlock(&idx->mu);
	return LS_OK;
}

void index_feed(struct index *idx, uint64_t first, const struct iovec *entries,
		const uint64_t *offsets, size_t n)
{
	struct fbatch *b = NULL, **pp;
	size_t bytes = 0, need, i;
	bool keep;

	for (i = 0; i < n; i++)
		bytes += entries[i].iov_len;
	need = sizeof(*b) + n * sizeof(*b->offs) + (n + 1) * sizeof(*b->at) + bytes;
	pthread_mutex_lock(&idx->mu);
	keep = n && offsets && idx->started && !idx->stop && !idx->failed &&
	       bytes <= UINT32_MAX && idx->feed_bytes + bytes <= FEED_MAX_BYTES;
	for (pp = &idx->fspare; keep && *pp; pp = &(*pp)->next)
		if ((*pp)->cap >= need) {
			b = *pp;
			*pp = b->next;
			idx->nfspare--;
			break;
		}
	pthread_mutex_unlock(&idx->mu);
	if (keep && !b) {
		size_t cap = need > FEED_ALLOC ? need : FEED_ALLOC;

		b = malloc(cap);
		if (b)
			b->cap = cap;
	}
	if (b) {
		b->next = NULL;
		b->first = first;
		b->n = n;
		b->bytes = bytes;
		b->offs = (uint64_t *)(b + 1);
		b->at = (uint32_t *)(b->offs + n);
		b->data = (uint8_t *)(b->at + n + 1);
		memcpy(b->offs, offsets, n * sizeof(*b->offs));
		b->at[0] = 0;
		for (i = 0; i < n; i++) {
			memcpy(b->data + b->at[i], entries[i].iov_base, entries[i].iov_len);
			b->at[i + 1] = b->at[i] + (uint32_t)entries[i].iov_len;
		}
	}
	pthread_mutex_lock(&idx->mu);
	if (b) {
		if (idx->ftail)
			idx->ftail->next = b;
		else
			idx->fhead = b;
		idx->ftail = b;
		idx->feed_bytes += bytes;
	}
	pthread_mutex_unlock(&idx->mu);
	index_notify(idx, first + n);
}

/* The fed batch holding entry next, or NULL; batches wholly below next are
 * freed.  Extractor only. */
struct fbatch *ix_feed_at(struct index *idx, uint64_t next)
{
	struct fbatch *b, *done = NULL;

	pthread_mutex_lock(&idx->mu);
	while ((b = idx->fhead) && b->first + b->n <= next) {
		idx->fhead = b->next;
		if (!idx->fhead)
			idx->ftail = NULL;
		idx->feed_bytes -= b->bytes;
		b->next = done;
		done = b;
	}
	if (b && b->first > next)
		b = NULL;
	while (done && idx->nfspare < FEED_SPARES) {
		struct fbatch *d = done;

		done = d->next;
		d->next = idx->fspare;
		idx->fspare = d;
		idx->nfspare++;
	}
	pthread_mutex_unlock(&idx->mu);
	while (done) {
		struct fbatch *d = done;

		done = d->next;
		free(d);
	}
	return b;
}

static void feed_free(struct index *idx)
{
	struct fbatch *lists[2] = { idx->fhead, idx->fspare };

	for (int k = 0; k < 2; k++)
		while (lists[k]) {
			struct fbatch *b = lists[k];

			lists[k] = b->next;
			free(b);
		}
	idx->fhead = idx->ftail = idx->fspare = NULL;
	idx->feed_bytes = idx->nfspare = 0;
}

void index_follow_counts(struct index *idx, uint64_t *fed, uint64_t *read)
{
	pthread_mutex_lock(&idx->mu);
	*fed = idx->n_fed;
	*read = idx->n_read;
	pthread_mutex_unlock(&idx->mu);
}

void index_notify(struct index *idx, uint64_t size)
{
	pthread_mutex_lock(&idx->mu);
	if (!idx->bounded || size > idx->limit)
		idx->limit = size;
	idx->bounded = true;
	idx->kicked = true;
	pthread_cond_signal(&idx->wake);
	pthread_mutex_unlock(&idx->mu);
}

uint64_t index_watermark(struct index *idx)
{
	uint64_t wm;

	pthread_mutex_lock(&idx->mu);
	wm = idx->watermark;
	pthread_mutex_unlock(&idx->mu);
	return wm;
}

/* What index_wait(), index_wait_fresh() and index_wait_extracted() wait for. */
enum wait_on { W_SQLITE, W_TAIL, W_EXTRACTED };

static bool wait_done(const struct index *idx, enum wait_on on, uint64_t size)
{
	switch (on) {
	case W_SQLITE:
		return idx->watermark >= size;
	case W_TAIL:
		return idx->tail_end >= size;
	default:
		return idx->tail_end >= size || idx->ext_waiting;
	}
}

/*
 * A query's waits also end the writer's lingering (see linger()); past the
 * tail the extractor is behind or waits for room, which only the writer's
 * commits make, so that holds for W_TAIL too.  Ingest's pacing
 * (W_EXTRACTED) does not hurry the writer: it waits for the extractor.
 */
static ls_rc wait_until(struct index *idx, enum wait_on on, uint64_t size, unsigned timeout_ms)
{
	struct timespec ts;
	ls_rc rc = LS_OK;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&idx->mu);
	if (on != W_EXTRACTED) {
		idx->waiters++;
		if (!wait_done(idx, on, size))
			pthread_cond_signal(&idx->wcv);
	}
	if (on != W_SQLITE)
		idx->fresh_waiters++;
	while (!wait_done(idx, on, size)) {
		if (idx->failed || !idx->started || idx->stop) {
			rc = LS_FAILED;
			break;
		}
		if (pthread_cond_timedwait(&idx->moved, &idx->mu, &ts) == ETIMEDOUT) {
			rc = wait_done(idx, on, size) ? LS_OK : LS_BUSY;
			break;
		}
	}
	if (on != W_SQLITE)
		idx->fresh_waiters--;
	if (on != W_EXTRACTED)
		idx->waiters--;
	pthread_mutex_unlock(&idx->mu);
	return rc;
}

ls_rc index_wait(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, W_SQLITE, size, timeout_ms);
}

uint64_t index_fresh_watermark(struct index *idx)
{
	uint64_t wm;

	pthread_mutex_lock(&idx->mu);
	wm = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	return wm;
}

ls_rc index_wait_fresh(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, W_TAIL, size, timeout_ms);
}

ls_rc index_wait_extracted(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, W_EXTRACTED, size, timeout_ms);
}

void index_test_pause_writer(struct index *idx, bool pause)
{
	pthread_mutex_lock(&idx->mu);
	idx->pause_writer = pause;
	pthread_cond_broadcast(&idx->wcv);
	while (pause && idx->writing)
		pthread_cond_wait(&idx->moved, &idx->mu);
	pthread_mutex_unlock(&idx->mu);
}

const char *index_error(struct index *idx)
{
	const char *e;

	pthread_mutex_lock(&idx->mu);
	e = idx->failed ? idx->errmsg : NULL;
	pthread_mutex_unlock(&idx->mu);
	return e;
}

bool index_no_space(struct index *idx, char *msg, size_t cap)
{
	bool full;

	pthread_mutex_lock(&idx->mu);
	full = idx->nospace && !idx->failed;
	if (full && msg && cap)
		snprintf(msg, cap, "%s", idx->nospace_msg);
	pthread_mutex_unlock(&idx->mu);
	return full;
}

void index_close(struct index *idx)
{
	size_t i;

	if (!idx)
		return;
	pthread_mutex_lock(&idx->mu);
	idx->stop = true;
	pthread_cond_broadcast(&idx->wake);
	pthread_cond_broadcast(&idx->wcv);
	pthread_cond_broadcast(&idx->moved);
	pthread_cond_broadcast(&idx->ckpt_cv);
	pthread_mutex_unlock(&idx->mu);
	/* The writer commits the batch it has open; the rest of the tail is
	 * read again from the journal at the next start. */
	if (idx->started) {
		pthread_join(idx->ext_thread, NULL);
		pthread_join(idx->thread, NULL);
	}
	if (idx->ckpt_started)
		pthread_join(idx->ckpt_thread, NULL);
	for (i = 0; i < TAIL_RING; i++)
		ix_chunk_free(idx->ring[i]);
	ix_spares_free(idx);
	feed_free(idx);
	for (i = 0; i < idx->npool; i++)
		sqlite3_close(idx->pool[i]);
	/* The writer's connection closes last: closing, it checkpoints the
	 * whole WAL and removes it. */
	sqlite3_close(idx->c);
	if (idx->w) {
		sqlite3_exec(idx->w, "PRAGMA optimize", NULL, NULL, NULL);
		sqlite3_close(idx->w);
	}
	if (idx->lockfd >= 0)
		close(idx->lockfd);
	pthread_cond_destroy(&idx->wake);
	pthread_cond_destroy(&idx->wcv);
	pthread_cond_destroy(&idx->moved);
	pthread_rwlock_destroy(&idx->tail_rw);
	pthread_cond_destroy(&idx->ckpt_cv);
	pthread_mutex_destroy(&idx->mu);
	pthread_mutex_destroy(&idx->pool_mu);
	ix_blind_free(&idx->bl);
	free(idx->datadir);
	free(idx->jdir);
	free(idx->dbpath);
	free(idx);
}
