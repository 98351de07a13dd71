/*
 * index_schema.c - the SQLite schema of DIR/index/index.sqlite (see index.c
 * for its tables), the meta table, opening and removing the database, and
 * the lock on DIR/index.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ============================================================== schema */

const char IX_SCHEMA_TABLES[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);"
	"CREATE TABLE IF NOT EXISTS events(idx INTEGER PRIMARY KEY, time_us INTEGER,"
	" received_us INTEGER, actor BLOB, action TEXT, outcome TEXT, source_ip BLOB,"
	" ip_family INTEGER, service TEXT, resource_type BLOB, resource_id BLOB, writer BLOB,"
	" joff INTEGER);"
	"CREATE TABLE IF NOT EXISTS ipnet(plen INTEGER NOT NULL, hash INTEGER NOT NULL,"
	" idx INTEGER NOT NULL, PRIMARY KEY(plen, hash, idx)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS rollup(hour INTEGER NOT NULL, field INTEGER NOT NULL,"
	" value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(hour, field, value)) WITHOUT ROWID;";

/* Few indexes: each one costs the follower about as much as the row.
 * Low-cardinality columns (outcome, writer, resource_type) have none: a
 * scan in leaf order with the filter applied finds a page of them fast,
 * and combined with a selective filter the other index does the work.
 * received_us has none either: the server stamps it at ingest, so it
 * follows leaf order closely and a recent range is found by that scan.
 * ev_actor is ordered by leaf index within an actor (time_us rides along
 * for the range test), so a page of one actor's events stops at its limit
 * instead of sorting all of a busy actor's events; ev_action carries the
 * outcome, so "denied X in one day" is a single range.  Both carry joff
 * too: their queries then never visit the table (at 10M rows, a page of
 * 100 table lookups cost ten times the index range). */
const char IX_SCHEMA_INDEXES[] =
	"CREATE INDEX IF NOT EXISTS ev_time ON events(time_us);"
	"CREATE INDEX IF NOT EXISTS ev_actor ON events(actor, idx, time_us, joff);"
	"CREATE INDEX IF NOT EXISTS ev_action ON events(action, outcome, time_us, joff);"
	"CREATE INDEX IF NOT EXISTS ev_source_ip ON events(source_ip);"
	"CREATE INDEX IF NOT EXISTS ev_service ON events(service, time_us);"
	"CREATE INDEX IF NOT EXISTS ev_resource ON events(resource_id);";

ls_rc ix_meta_get(sqlite3 *db, const char *k, sqlite3_int64 *v, uint8_t *blob, size_t cap,
		  bool *found, struct ls_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*found = false;
	if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &st, NULL) != SQLITE_OK)
		return ix_db_fail(err, db, "reading meta");
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (v && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
			*v = sqlite3_column_int64(st, 0);
			*found = true;
		} else if (blob && sqlite3_column_type(st, 0) == SQLITE_BLOB &&
			   (size_t)sqlite3_column_bytes(st, 0) == cap) {
			memcpy(blob, sqlite3_column_blob(st, 0), cap);
			*found = true;
		}
	} else if (rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return ix_db_fail(err, db, "reading meta");
	}
	sqlite3_finalize(st);
	return LS_OK;
}

ls_rc ix_meta_set(sqlite3 *db, const char *k, sqlite3_int64 v, const uint8_t *blob,
		  size_t n, struct ls_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k,v) VALUES(?,?)", -1, &st,
			       NULL) != SQLITE_OK)
		return ix_db_fail(err, db, "writing meta");
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (blob)
		sqlite3_bind_blob(st, 2, blob, (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, v);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ix_db_fail(err, db, "writing meta");
	return LS_OK;
}

/* Watermark and last_hash, in the caller's transaction. */
ls_rc ix_meta_mark(sqlite3 *db, uint64_t wm, const uint8_t *hash, struct ls_err *err)
{
	ls_rc rc = ix_meta_set(db, "watermark", (sqlite3_int64)wm, NULL, 0, err);

	if (rc == LS_OK && hash)
		rc = ix_meta_set(db, "last_hash", 0, hash, LS_HASH_LEN, err);
	return rc;
}

/* A connection with our settings.  Readers get query_only (not
 * SQLITE_OPEN_READONLY, which cannot always attach to the -shm). */
ls_rc ix_db_open(const char *path, bool writer, sqlite3 **out, struct ls_err *err)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
	ls_rc rc;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		rc = ix_db_fail(err, db, "open");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = ix_exec(db, writer ? "PRAGMA page_size=16384;"
			       "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=67108864;"
			       "PRAGMA cache_size=-262144; PRAGMA mmap_size=1073741824;"
			     : "PRAGMA query_only=1; PRAGMA cache_size=-16384;"
			     "PRAGMA mmap_size=1073741824;",
		  err);
	if (rc != LS_OK) {
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return LS_OK;
}

/* Does the database at db hold an index of this schema under this key?
 * *stale when it holds anything else (then it must go whole, B1). */
ls_rc ix_schema_check(sqlite3 *db, const uint8_t check[BLIND_LEN], bool *stale,
		      struct ls_err *err)
{
	uint8_t stored[BLIND_LEN];
	sqlite3_int64 v = 0;
	bool found, kfound;
	sqlite3_stmt *st;
	int n = 0;
	ls_rc rc;

	*stale = false;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) !=
	    SQLITE_OK)
		return ix_db_fail(err, db, "reading the schema");
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n == 0)
		return LS_OK;	/* a new, empty file */
	rc = ix_exec(db, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);", err);
	if (rc == LS_OK)
		rc = ix_meta_get(db, "schema", &v, NULL, 0, &found, err);
	if (rc == LS_OK)
		rc = ix_meta_get(db, "key_check", NULL, stored, sizeof(stored), &kfound, err);
	if (rc != LS_OK)
		return rc;
	*stale = !found || v != SCHEMA_VERSION || !kfound ||
		 !ls_ct_equal(stored, check, BLIND_LEN);
	return LS_OK;
}

/* Create the schema (on a new file, or one ix_schema_check() found current). */
ls_rc ix_schema_ensure(sqlite3 *db, const uint8_t check[BLIND_LEN], struct ls_err *err)
{
	sqlite3_int64 v = 0;
	bool found;
	ls_rc rc;

	rc = ix_exec(db, IX_SCHEMA_TABLES, err);
	if (rc == LS_OK)
		rc = ix_meta_get(db, "schema", &v, NULL, 0, &found, err);
	if (rc == LS_OK && !found) {
		rc = ix_meta_set(db, "schema", SCHEMA_VERSION, NULL, 0, err);
		if (rc == LS_OK)
			rc = ix_meta_set(db, "key_check", 0, check, BLIND_LEN, err);
	}
	if (rc != LS_OK)
		return rc;
	return ix_exec(db, IX_SCHEMA_INDEXES, err);
}

/* Remove the database and its side files (the caller holds the lock and
 * has no connection open). */
ls_rc ix_db_remove(const char *dbpath, struct ls_err *err)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[4096];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]) >= sizeof(p))
			return ls_err_set(err, LS_LIMIT, "index: path too long");
		if (unlink(p) != 0 && errno != ENOENT)
			return ls_err_set(err, LS_IO, "%s: %s", p, strerror(errno));
	}
	return LS_OK;
}

ls_rc ix_lock_dir(const char *indexdir, int *fd, struct ls_err *err)
{
	char *p = ix_path_join(indexdir, "lock");

	*fd = -1;
	if (!p)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	*fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(p);
	if (*fd < 0)
		return ls_err_set(err, LS_IO, "%s/lock: %s", indexdir, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return ls_err_set(err, LS_BUSY,
					  "%s is in use by another process (a running server?)",
					  indexdir);
		return ls_err_set(err, LS_IO, "%s/lock: %s", indexdir, strerror(e));
	}
	return LS_OK;
}
