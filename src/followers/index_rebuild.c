/*
 * index_rebuild.c - index_rebuild(): a new index file written beside the old
 * one from the whole journal, then swapped in.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ================================================================ rebuild */

static ls_rc rebuild_fill(sqlite3 *db, const struct blind *bl, const char *jdir,
			  index_progress_fn progress, void *ctx, uint64_t *count,
			  uint8_t hash[LS_HASH_LEN], struct ls_err *err)
{
	struct store_iter *it = NULL;
	struct writer wr;
	const uint8_t *data;
	uint64_t next = 0, at;
	size_t len, inbatch = 0;
	EVP_MD_CTX *w = EVP_MD_CTX_new();
	struct bcache *bc = ix_bcache_new(); /* NULL: no cache, still right */
	char *arena;
	struct trow t;
	struct row r;
	ls_rc rc;

	memset(&wr, 0, sizeof(wr));
	arena = malloc(STORE_MAX_ENTRY + 1);
	if (!arena || !w) {
		free(arena);
		free(bc);
		EVP_MD_CTX_free(w);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = ix_writer_init(&wr, db, false, err);
	if (rc != LS_OK)
		goto out;
	rc = store_iter_open(jdir, 0, 0, &it, err);
	if (rc == LS_NOTFOUND) {
		rc = LS_OK;
		goto out;
	}
	if (rc != LS_OK)
		goto out;
	rc = ix_exec(db, "BEGIN", err);
	while (rc == LS_OK) {
		rc = store_iter_next(it, &data, &len, &at, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc != LS_OK)
			break;
		ix_row_extract(data, len, arena, &r);
		if (ix_trow_fill(bl, w, bc, &r, ix_iter_offset(it), &t)) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			break;
		}
		rc = ix_write_trow(&wr, at, &t, err);
		if (rc != LS_OK)
			break;
		ls_sha256(data, len, NULL, 0, hash);
		next = at + 1;
		if (++inbatch == REBUILD_ROWS) {
			inbatch = 0;
			rc = ix_writer_flush(&wr, err);
			if (rc == LS_OK)
				rc = ix_exec(db, "COMMIT; BEGIN", err);
			if (rc == LS_OK && progress)
				progress(ctx, next);
		}
	}
	if (rc == LS_OK)
		rc = ix_writer_flush(&wr, err);
	if (rc == LS_OK)
		rc = ix_meta_mark(db, next, next ? hash : NULL, err);
	if (rc == LS_OK)
		rc = ix_exec(db, "COMMIT", err);
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	*count = next;
	ix_writer_release(&wr);
	store_iter_free(it);
	EVP_MD_CTX_free(w);
	free(bc);
	free(arena);
	return rc;
}

static ls_rc fsync_path(const char *path, struct ls_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(e));
	}
	close(fd);
	return LS_OK;
}

ls_rc index_rebuild(const char *datadir, index_progress_fn progress, void *ctx, uint64_t *count,
		    struct ls_err *err)
{
	char *indexdir, *jdir, *final = NULL, *tmp = NULL, *wal = NULL, *shm = NULL, *tj = NULL;
	uint8_t hash[LS_HASH_LEN], check[BLIND_LEN];
	struct blind bl = { NULL, NULL };
	uint64_t n = 0;
	sqlite3 *db = NULL;
	int lockfd = -1;
	ls_rc rc;

	indexdir = ix_path_join(datadir, "index");
	jdir = ix_path_join(datadir, "journal");
	if (indexdir) {
		final = ix_path_join(indexdir, "index.sqlite");
		tmp = ix_path_join(indexdir, "index.sqlite.rebuild");
		wal = ix_path_join(indexdir, "index.sqlite-wal");
		shm = ix_path_join(indexdir, "index.sqlite-shm");
		tj = ix_path_join(indexdir, "index.sqlite.rebuild-journal");
	}
	if (!jdir || !final || !tmp || !wal || !shm || !tj) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = fs_mkdirs(indexdir, 0700, err);
	if (rc == LS_OK)
		rc = ix_lock_dir(indexdir, &lockfd, err);
	if (rc == LS_OK)
		rc = ix_blind_open(datadir, &bl, check, err);
	if (rc != LS_OK)
		goto out;
	unlink(tmp);
	unlink(tj);
	/* A scratch file: no journal, no syncs until it is complete, and the
	 * secondary indexes built once at the end (far faster than keeping
	 * them up to date row by row). */
	if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = ix_db_fail(err, db, "open");
		goto out;
	}
	rc = ix_exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
		      "PRAGMA cache_size=-262144;",
		  err);
	if (rc == LS_OK)
		rc = ix_exec(db, IX_SCHEMA_TABLES, err);
	if (rc == LS_OK)
		rc = ix_meta_set(db, "schema", SCHEMA_VERSION, NULL, 0, err);
	if (rc == LS_OK)
		rc = ix_meta_set(db, "key_check", 0, check, BLIND_LEN, err);
	if (rc == LS_OK)
		rc = rebuild_fill(db, &bl, jdir, progress, ctx, &n, hash, err);
	if (rc == LS_OK)
		rc = ix_exec(db, IX_SCHEMA_INDEXES, err);
	if (rc == LS_OK)
		rc = ix_exec(db, "PRAGMA analysis_limit=1000; ANALYZE;", err);
	if (rc != LS_OK)
		goto out;
	if (sqlite3_close(db) != SQLITE_OK) {
		rc = ix_db_fail(err, db, "close");
		goto out;
	}
	db = NULL;
	rc = fsync_path(tmp, err);
	if (rc != LS_OK)
		goto out;
	/* A stale WAL must never be replayed onto the new file. */
	if ((unlink(wal) != 0 && errno != ENOENT) || (unlink(shm) != 0 && errno != ENOENT) ||
	    rename(tmp, final) != 0) {
		rc = ls_err_set(err, LS_IO, "%s: %s", final, strerror(errno));
		goto out;
	}
	rc = fs_sync_dir(indexdir, err);
	if (rc == LS_OK && progress)
		progress(ctx, n);
out:
	if (db) {
		sqlite3_close(db);
		unlink(tmp);
	}
	if (count)
		*count = n;
	ix_blind_free(&bl);
	if (lockfd >= 0)
		close(lockfd);
	free(indexdir);
	free(jdir);
	free(final);
	free(tmp);
	free(wal);
	free(shm);
	free(tj);
	return rc;
}
