/*
 * index_stats.c - index_stats(): counts grouped by a field and a time
 * bucket, from the rollup when the query allows it, else from the rows.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ================================================================== stats */

struct group {
	char *name;
	int64_t count;
};

static int group_cmp(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Append the bucket made of groups[0..n) (+ other) to arr; frees the names. */
static int flush_bucket(json_t *arr, bool timed, int64_t start_us, struct group *g, size_t n,
			int64_t other)
{
	json_t *b = json_object(), *counts = json_object();
	char tbuf[40];
	size_t i;
	int bad = !b || !counts;

	if (n)
		qsort(g, n, sizeof(*g), group_cmp);
	for (i = 0; i < n; i++) {
		/* A name jansson refuses (not UTF-8) is counted as other. */
		if (bad || i >= INDEX_STATS_MAX_GROUPS ||
		    json_object_set_new(counts, g[i].name, json_integer(g[i].count)))
			other += g[i].count;
		free(g[i].name);
	}
	if (!bad) {
		if (timed) {
			event_format_time(start_us, tbuf, sizeof(tbuf));
			bad |= json_object_set_new(b, "start", json_string(tbuf));
		} else {
			bad |= json_object_set_new(b, "start", json_null());
		}
		bad |= json_object_set_new(b, "counts", counts);
		counts = NULL;
		bad |= json_object_set_new(b, "other", json_integer(other));
		bad |= json_array_append_new(arr, b);
		b = NULL;
	}
	json_decref(counts);
	json_decref(b);
	return bad ? -1 : 0;
}

void index_stats_rows_only(struct index *idx, bool on)
{
	idx->rows_only = on;
}

/*
 * Can the rollup answer q?  Only when no filter but a time range is set,
 * both its ends on whole hours, and buckets are whole hours (or one bucket):
 * then every rollup cell lies wholly inside or outside the range and inside
 * one bucket.  Anything else is counted from the rows.
 */
static bool rollup_fits(const struct index_query *q, uint64_t bucket_seconds, int64_t *from_h,
			int64_t *to_h)
{
	const unsigned ignored = INDEX_Q_ORDER | INDEX_Q_LIMIT | INDEX_Q_CURSOR;

	if ((q->has & ~(ignored | INDEX_Q_FROM | INDEX_Q_TO)) || bucket_seconds % 3600)
		return false;
	if (q->has & INDEX_Q_FROM) {
		if (q->from_us % HOUR_US)
			return false;
		*from_h = q->from_us / HOUR_US;
	}
	if (q->has & INDEX_Q_TO) {
		if (q->to_us % HOUR_US)
			return false;
		*to_h = q->to_us / HOUR_US;
	}
	return true;
}

ls_rc index_stats(struct index *idx, const struct index_query *q, const char *group_by,
		  uint64_t bucket_seconds, json_t **out, struct ls_err *err)
{
	static const char *const groups[] = { "outcome", "action", "service", NULL };
	struct where w = { .q = q };
	struct sqlbuf sql = { .n = 0 };
	struct group *g = NULL;
	size_t ng = 0, capg = 0, nbuckets = 0;
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	json_t *res = NULL, *arr = NULL;
	int64_t cur = 0, other = 0, total = 0;
	bool timed = bucket_seconds > 0, have = false, roll;
	int64_t from_h = 0, to_h = 0;
	uint64_t wm = 0;
	int i, step, np;
	ls_rc rc = LS_OK;

	*out = NULL;
	/* Grouping by actor could only count keyed hashes, which say nothing
	 * to a reader: refused rather than answered with opaque names. */
	if (group_by && !strcmp(group_by, "actor"))
		return ls_err_set(err, LS_INVALID,
				  "parameter 'group_by': actor is not available: the index holds "
				  "actor ids only as keyed hashes (filter with actor=ID instead); "
				  "use outcome, action or service");
	for (i = 0; group_by && groups[i] && strcmp(groups[i], group_by); i++)
		;
	if (!group_by || !groups[i])
		return ls_err_set(err, LS_INVALID,
				  "parameter 'group_by': must be outcome, action or service");
	if (bucket_seconds > MAX_BUCKET_SECONDS)
		return ls_err_set(err, LS_INVALID, "parameter 'bucket': at most %lld seconds",
				  MAX_BUCKET_SECONDS);
	if (timed && (q->has & (INDEX_Q_FROM | INDEX_Q_TO)) == (INDEX_Q_FROM | INDEX_Q_TO) &&
	    q->to_us > q->from_us &&
	    (uint64_t)(q->to_us - q->from_us) / 1000000 / bucket_seconds >= INDEX_STATS_MAX_BUCKETS + 1)
		return ls_err_set(err, LS_LIMIT,
				  "more than %d buckets: use a larger bucket or a narrower range",
				  INDEX_STATS_MAX_BUCKETS);
	roll = !idx->rows_only && rollup_fits(q, bucket_seconds, &from_h, &to_h);
	rc = ix_where_prepare(&w, idx, err);
	if (rc != LS_OK)
		return rc;
	/* ?1 is the bucket width in microseconds; the filters follow.  The
	 * rollup: ?2 the field, ?3 NO_HOUR, ?4 ?5 the range in hours.  Both
	 * give rows (bucket start, value, count) in bucket order, and the
	 * values the rows would not name (missing, not text) fall into
	 * "other" below in both. */
	w.first_param = 2;
	if (roll) {
		ix_sb_add(&sql, "SELECT %s, value, SUM(n) FROM rollup WHERE field = ?2",
			  timed ? "hour * 3600000000 - (((hour * 3600000000 % ?1) + ?1) % ?1)"
			     : "?1");
		/* Events without a time fall in no bucket and no range. */
		if (timed || (q->has & (INDEX_Q_FROM | INDEX_Q_TO)))
			ix_sb_add(&sql, " AND hour <> ?3");
		if (q->has & INDEX_Q_FROM)
			ix_sb_add(&sql, " AND hour >= ?4");
		if (q->has & INDEX_Q_TO)
			ix_sb_add(&sql, " AND hour < ?5");
		ix_sb_add(&sql, timed ? " GROUP BY 1, 2 ORDER BY 1" : " GROUP BY 2");
	} else {
		if (timed)
			ix_sb_add(&sql, "SELECT time_us - (((time_us %% ?1) + ?1) %% ?1), %s, COUNT(*)"
				     " FROM events", groups[i]);
		else
			ix_sb_add(&sql, "SELECT ?1, %s, COUNT(*) FROM events", groups[i]);
		ix_where_sql(&w, &sql, false);
		if (timed)
			ix_sb_add(&sql, " AND time_us IS NOT NULL GROUP BY 1, 2 ORDER BY 1");
		else
			ix_sb_add(&sql, " GROUP BY 2");
	}
	if (sql.overflow)
		return ls_err_set(err, LS_LIMIT, "index: query too complex");

	res = json_object();
	arr = json_array();
	if (!res || !arr) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto done;
	}
	rc = ix_pool_get(idx, &db, err);
	if (rc != LS_OK)
		goto done;
	rc = ix_read_begin(db, &wm, err);
	if (rc != LS_OK)
		goto done;
	if (sqlite3_prepare_v2(db, sql.s, (int)sql.n, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, (sqlite3_int64)(timed ? bucket_seconds * 1000000 : 0))) {
		rc = ix_db_fail(err, db, "stats");
		goto done;
	}
	np = 0;
	if (roll) {
		/* Bound by name: a parameter the SQL does not use has index 0. */
		static const char *const names[] = { "?2", "?3", "?4", "?5" };
		const int64_t vals[] = { i, NO_HOUR, from_h, to_h };
		int k;

		for (k = 0; k < 4; k++) {
			int at = sqlite3_bind_parameter_index(st, names[k]);

			if (at > 0)
				np |= sqlite3_bind_int64(st, at, vals[k]);
		}
	} else {
		np = ix_where_bind(&w, st, false);
	}
	if (np != SQLITE_OK) {
		rc = ix_db_fail(err, db, "stats");
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(st, 0), c = sqlite3_column_int64(st, 2);
		/* The type first: reading a blob as text converts it. */
		bool text = sqlite3_column_type(st, 1) == SQLITE_TEXT;
		const unsigned char *name = text ? sqlite3_column_text(st, 1) : NULL;

		if (!have || b != cur) {
			if (have && flush_bucket(arr, timed, cur, g, ng, other)) {
				ng = 0;
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				goto done;
			}
			ng = 0;
			other = 0;
			cur = b;
			have = true;
			if (++nbuckets > INDEX_STATS_MAX_BUCKETS) {
				rc = ls_err_set(err, LS_LIMIT,
						"more than %d buckets: use a larger bucket or a "
						"narrower range",
						INDEX_STATS_MAX_BUCKETS);
				goto done;
			}
		}
		total += c;
		if (!name || (size_t)sqlite3_column_bytes(st, 1) != strlen((const char *)name)) {
			other += c;
			continue;
		}
		if (ng == capg) {
			size_t nc = capg ? capg * 2 : 16;
			struct group *ngp = realloc(g, nc * sizeof(*g));

			if (!ngp) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				goto done;
			}
			g = ngp;
			capg = nc;
		}
		g[ng].name = strdup((const char *)name);
		if (!g[ng].name) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		g[ng++].count = c;
	}
	if (step != SQLITE_DONE) {
		rc = ix_db_fail(err, db, "stats");
		goto done;
	}
	if (have) {
		int bad = flush_bucket(arr, timed, cur, g, ng, other);

		ng = 0;
		if (bad) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
	}
	if (json_object_set_new(res, "group_by", json_string(groups[i])) ||
	    json_object_set_new(res, "bucket", json_integer((json_int_t)bucket_seconds)) ||
	    json_object_set_new(res, "watermark", json_integer((json_int_t)wm)) ||
	    json_object_set_new(res, "total", json_integer(total)) ||
	    json_object_set(res, "buckets", arr)) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto done;
	}
done:
	while (ng > 0)
		free(g[--ng].name);
	free(g);
	sqlite3_finalize(st);
	if (db)
		ix_pool_put(idx, db);
	json_decref(arr);
	if (rc != LS_OK) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return LS_OK;
}
