/*
 * index_exec.c - running a query: its WHERE clause and binds, the pool of
 * read connections, SQLite below the watermark and the tail above it, and
 * a leaf's journal offset.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ================================================================ running */

void ix_sb_add(struct sqlbuf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	r = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(b->s) - b->n)
		b->overflow = true;
	else
		b->n += (size_t)r;
}

/* Upper bound of the strings starting with p: p with its last byte raised
 * (0xff bytes dropped first).  *un == 0 when there is none. */
static void prefix_upper(const char *p, char *up, size_t *un)
{
	size_t n = strlen(p);

	memcpy(up, p, n);
	while (n > 0 && (uint8_t)up[n - 1] == 0xff)
		n--;
	if (n > 0)
		up[n - 1] = (char)((uint8_t)up[n - 1] + 1);
	*un = n;
}

/* Hash q's personal filter values as the follower hashed the stored ones. */
ls_rc ix_where_prepare(struct where *w, struct index *idx, struct ls_err *err)
{
	const struct index_query *q = w->q;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int bad = !c;

	if (!bad && (q->has & INDEX_Q_ACTOR))
		bad |= ix_blind_hash(&idx->bl, c, "actor", q->actor, strlen(q->actor), w->actor);
	if (!bad && (q->has & INDEX_Q_RESOURCE_TYPE))
		bad |= ix_blind_hash(&idx->bl, c, "resource_type", q->resource_type,
				     strlen(q->resource_type), w->rtype);
	if (!bad && (q->has & INDEX_Q_RESOURCE_ID))
		bad |= ix_blind_hash(&idx->bl, c, "resource_id", q->resource_id,
				     strlen(q->resource_id), w->rid);
	if (!bad && (q->has & INDEX_Q_WRITER))
		bad |= ix_blind_hash(&idx->bl, c, "writer", q->writer, strlen(q->writer), w->writer);
	if (!bad && (q->has & INDEX_Q_SOURCE_IP)) {
		w->ipq = ix_cidr_kind(q->ip_lo, q->ip_hi, &w->ip_bits);
		if (w->ipq == IPQ_FULL)
			bad |= ix_blind_hash(&idx->bl, c, "source_ip", q->ip_lo, 16, w->ip);
		else if (w->ipq == IPQ_NET || w->ipq == IPQ_NET_OR_V4)
			bad |= ix_net_hash(&idx->bl, c, q->ip_lo, w->ip_bits, &w->net);
	}
	EVP_MD_CTX_free(c);
	if (q->has & INDEX_Q_ACTION_PREFIX)
		prefix_upper(q->action, w->upper, &w->upper_n);
	if (bad)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if ((q->has & INDEX_Q_SOURCE_IP) && w->ipq == IPQ_BAD)
		return ls_err_set(err, LS_INVALID,
				  "parameter 'source_ip': the index can search only "
				  CIDR_SUPPORTED " prefixes");
	return LS_OK;
}

void ix_where_sql(struct where *w, struct sqlbuf *b, bool use_after)
{
	const struct index_query *q = w->q;
	int np = w->first_param;

	ix_sb_add(b, " WHERE 1");
	if (q->has & INDEX_Q_FROM)
		ix_sb_add(b, " AND time_us >= ?%d", np++);
	if (q->has & INDEX_Q_TO)
		ix_sb_add(b, " AND time_us < ?%d", np++);
	if (q->has & INDEX_Q_RECEIVED_FROM)
		ix_sb_add(b, " AND received_us >= ?%d", np++);
	if (q->has & INDEX_Q_RECEIVED_TO)
		ix_sb_add(b, " AND received_us < ?%d", np++);
	if (q->has & INDEX_Q_ACTOR)
		ix_sb_add(b, " AND actor = ?%d", np++);
	if (q->has & INDEX_Q_ACTION)
		ix_sb_add(b, " AND action = ?%d", np++);
	if (q->has & INDEX_Q_ACTION_PREFIX) {
		ix_sb_add(b, " AND action >= ?%d", np++);
		if (w->upper_n)
			ix_sb_add(b, " AND action < ?%d", np++);
	}
	if (q->has & INDEX_Q_OUTCOME)
		ix_sb_add(b, " AND outcome = ?%d", np++);
	else if ((q->has & INDEX_Q_ACTION) && !w->walk)
		/* ev_action is (action, outcome, time_us): naming every outcome
		 * (event.c stores no other) lets a time range use it too. */
		for (size_t i = 0; event_outcomes[i]; i++)
			ix_sb_add(b, "%s'%s'%s", i ? "," : " AND outcome IN (", event_outcomes[i],
				  event_outcomes[i + 1] ? "" : ")");
	if (q->has & INDEX_Q_SOURCE_IP) {
		/* A walk probes ipnet per row; a plan driven by an index reads
		 * the prefix's rows (in idx order) and looks the events up. */
#define NET_SQL                                                                               \
	(w->walk ? "EXISTS (SELECT 1 FROM ipnet WHERE plen = ?%d AND hash = ?%d AND "          \
		   "ipnet.idx = events.idx)"                                                   \
		 : "idx IN (SELECT idx FROM ipnet WHERE plen = ?%d AND hash = ?%d)")
		switch (w->ipq) {
		case IPQ_ANY:
			ix_sb_add(b, " AND source_ip IS NOT NULL");
			break;
		case IPQ_V4:
			ix_sb_add(b, " AND ip_family = 4");
			break;
		case IPQ_FULL:
			ix_sb_add(b, " AND source_ip = ?%d", np++);
			break;
		case IPQ_NET_OR_V4:
			ix_sb_add(b, " AND (ip_family = 4 OR ");
			ix_sb_add(b, NET_SQL, np, np + 1);
			ix_sb_add(b, ")");
			np += 2;
			break;
		case IPQ_NET:
			if (w->join)
				ix_sb_add(b, " AND ipnet.plen = ?%d AND ipnet.hash = ?%d", np, np + 1);
			else {
				ix_sb_add(b, " AND ");
				ix_sb_add(b, NET_SQL, np, np + 1);
			}
			np += 2;
			break;
		case IPQ_BAD:
			ix_sb_add(b, " AND 0");	/* ix_where_prepare() refused it */
			break;
		}
#undef NET_SQL
	}
	if (q->has & INDEX_Q_SERVICE)
		ix_sb_add(b, " AND service = ?%d", np++);
	if (q->has & INDEX_Q_RESOURCE_TYPE)
		ix_sb_add(b, " AND resource_type = ?%d", np++);
	if (q->has & INDEX_Q_RESOURCE_ID)
		ix_sb_add(b, " AND resource_id = ?%d", np++);
	if (q->has & INDEX_Q_WRITER)
		ix_sb_add(b, " AND writer = ?%d", np++);
	if (use_after && q->has_after)
		ix_sb_add(b, " AND events.idx %s ?%d", q->order == INDEX_ASC ? ">" : "<", np++);
}

int ix_where_bind(struct where *w, sqlite3_stmt *st, bool use_after)
{
	const struct index_query *q = w->q;
	int np = w->first_param, rc = 0;

#define STR(field) rc |= col_text(st, np++, (field), strlen(field))
#define HASH(h) rc |= sqlite3_bind_blob(st, np++, (h), BLIND_LEN, SQLITE_STATIC)
	if (q->has & INDEX_Q_FROM)
		rc |= sqlite3_bind_int64(st, np++, q->from_us);
	if (q->has & INDEX_Q_TO)
		rc |= sqlite3_bind_int64(st, np++, q->to_us);
	if (q->has & INDEX_Q_RECEIVED_FROM)
		rc |= sqlite3_bind_int64(st, np++, q->received_from_us);
	if (q->has & INDEX_Q_RECEIVED_TO)
		rc |= sqlite3_bind_int64(st, np++, q->received_to_us);
	if (q->has & INDEX_Q_ACTOR)
		HASH(w->actor);
	if (q->has & INDEX_Q_ACTION)
		STR(q->action);
	if (q->has & INDEX_Q_ACTION_PREFIX) {
		STR(q->action);
		if (w->upper_n)
			rc |= col_text(st, np++, w->upper, w->upper_n);
	}
	if (q->has & INDEX_Q_OUTCOME)
		STR(q->outcome);
	if (q->has & INDEX_Q_SOURCE_IP) {
		if (w->ipq == IPQ_FULL) {
			HASH(w->ip);
		} else if (w->ipq == IPQ_NET || w->ipq == IPQ_NET_OR_V4) {
			rc |= sqlite3_bind_int(st, np++, (int)w->ip_bits);
			rc |= sqlite3_bind_int64(st, np++, w->net);
		}
	}
	if (q->has & INDEX_Q_SERVICE)
		STR(q->service);
	if (q->has & INDEX_Q_RESOURCE_TYPE)
		HASH(w->rtype);
	if (q->has & INDEX_Q_RESOURCE_ID)
		HASH(w->rid);
	if (q->has & INDEX_Q_WRITER)
		HASH(w->writer);
#undef STR
#undef HASH
	if (use_after && q->has_after)
		rc |= sqlite3_bind_int64(st, np++, (sqlite3_int64)q->after);
	return rc;
}

ls_rc ix_pool_get(struct index *idx, sqlite3 **db, struct ls_err *err)
{
	pthread_mutex_lock(&idx->pool_mu);
	if (idx->npool) {
		*db = idx->pool[--idx->npool];
		pthread_mutex_unlock(&idx->pool_mu);
		return LS_OK;
	}
	pthread_mutex_unlock(&idx->pool_mu);
	return ix_db_open(idx->dbpath, false, db, err);
}

void ix_pool_put(struct index *idx, sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&idx->pool_mu);
	if (idx->npool < POOL_MAX) {
		idx->pool[idx->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&idx->pool_mu);
	if (db)
		sqlite3_close(db);
}

/* Start a read transaction and read the watermark it covers. */
ls_rc ix_read_begin(sqlite3 *db, uint64_t *wm, struct ls_err *err)
{
	sqlite3_int64 v = 0;
	bool found;
	ls_rc rc;

	rc = ix_exec(db, "BEGIN", err);
	if (rc == LS_OK)
		rc = ix_meta_get(db, "watermark", &v, NULL, 0, &found, err);
	if (rc == LS_OK)
		*wm = found && v > 0 ? (uint64_t)v : 0;
	return rc;
}

#define WALK_BUDGET 64	/* x 1000 VM steps, about a millisecond */

/*
 * Is the walk worth trying?  Not when an index reads only a few rows: an
 * equality on a column of many values (actor, resource id, writer, one
 * address), a CIDR block (joined, ipnet visits a subset of what the walk
 * would, in order), or one action or service within a week.  There the
 * walk would only spend its budget before the index plan runs anyway.
 */
#define WALK_MAX_RANGE_US (7LL * 86400 * 1000000)

static bool walk_first(const struct where *w)
{
	const struct index_query *q = w->q;
	unsigned both = INDEX_Q_FROM | INDEX_Q_TO;

	if (q->has & (INDEX_Q_ACTOR | INDEX_Q_RESOURCE_ID | INDEX_Q_WRITER))
		return false;
	if (w->join || ((q->has & INDEX_Q_SOURCE_IP) && w->ipq == IPQ_FULL))
		return false;
	if ((q->has & (INDEX_Q_ACTION | INDEX_Q_SERVICE)) && (q->has & both) == both &&
	    q->to_us - q->from_us <= WALK_MAX_RANGE_US)
		return false;
	return true;
}

static int budget_cb(void *arg)
{
	int *left = arg;

	return --*left < 0;
}

/* Run a SELECT idx statement into out (at most cap rows).  SQLITE_DONE,
 * SQLITE_INTERRUPT when budget (x 1000 steps; 0: none) ran out, or an
 * error code. */
static int select_idx(sqlite3 *db, const char *sql, size_t n, struct where *w, uint64_t *out,
		      uint64_t *offs, size_t cap, size_t *got, int budget)
{
	sqlite3_stmt *st;
	int step;

	*got = 0;
	if (sqlite3_prepare_v2(db, sql, (int)n, &st, NULL) != SQLITE_OK)
		return sqlite3_errcode(db);
	if (ix_where_bind(w, st, true) != SQLITE_OK) {
		sqlite3_finalize(st);
		return SQLITE_ERROR;
	}
	if (budget)
		sqlite3_progress_handler(db, 1000, budget_cb, &budget);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *got < cap) {
		out[*got] = (uint64_t)sqlite3_column_int64(st, 0);
		offs[*got] = sqlite3_column_type(st, 1) == SQLITE_INTEGER
				     ? (uint64_t)sqlite3_column_int64(st, 1)
				     : INDEX_NO_OFFSET;
		(*got)++;
	}
	if (step == SQLITE_ROW)
		step = SQLITE_DONE;
	sqlite3_progress_handler(db, 0, NULL, NULL);
	sqlite3_finalize(st);
	return step;
}

/*
 * The tail's half of a query: ix_where_sql()'s conditions evaluated on struct
 * trow, with SQLite's semantics (a NULL column matches nothing, TEXT
 * compares as BINARY: memcmp, then the shorter first; the cursor compares
 * as the signed integers SQLite binds).
 */
struct tmatch {
	const struct where *w;
	size_t action_n, outcome_n, service_n;
};

static int text_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c ? c : (an > bn) - (an < bn);
}

static bool text_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return a && an == bn && !memcmp(a, b, an);
}

static bool net_has(const struct trow *t, unsigned bits, sqlite3_int64 hash)
{
	const uint8_t *lens = t->flags & T_V4 ? NET_V4 : NET_V6;
	size_t i, nn = t->flags & T_V4 ? sizeof(NET_V4) : sizeof(NET_V6);

	if (!(t->flags & T_IP))
		return false;
	for (i = 0; i < nn; i++)
		if (lens[i] == bits && t->net[i] == hash)
			return true;
	return false;
}

static bool tail_match(const struct tmatch *m, const struct trow *t)
{
	const struct where *w = m->w;
	const struct index_query *q = w->q;
	unsigned has = q->has;

	if (has & (INDEX_Q_FROM | INDEX_Q_TO)) {
		if (!(t->flags & T_TIME) || ((has & INDEX_Q_FROM) && t->time_us < q->from_us) ||
		    ((has & INDEX_Q_TO) && t->time_us >= q->to_us))
			return false;
	}
	if (has & (INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO)) {
		if (!(t->flags & T_RECEIVED) ||
		    ((has & INDEX_Q_RECEIVED_FROM) && t->received_us < q->received_from_us) ||
		    ((has & INDEX_Q_RECEIVED_TO) && t->received_us >= q->received_to_us))
			return false;
	}
	if ((has & INDEX_Q_ACTOR) &&
	    (!(t->flags & T_ACTOR) || memcmp(t->actor, w->actor, BLIND_LEN)))
		return false;
	if ((has & INDEX_Q_ACTION) && !text_eq(t->action, t->action_n, q->action, m->action_n))
		return false;
	if ((has & INDEX_Q_ACTION_PREFIX) &&
	    (!t->action || text_cmp(t->action, t->action_n, q->action, m->action_n) < 0 ||
	     (w->upper_n && text_cmp(t->action, t->action_n, w->upper, w->upper_n) >= 0)))
		return false;
	if ((has & INDEX_Q_OUTCOME) && !text_eq(t->outcome, t->outcome_n, q->outcome, m->outcome_n))
		return false;
	if (has & INDEX_Q_SOURCE_IP) {
		bool ok;

		switch (w->ipq) {
		case IPQ_ANY: ok = t->flags & T_IP; break;
		case IPQ_V4: ok = t->flags & T_V4; break;
		case IPQ_FULL: ok = (t->flags & T_IP) && !memcmp(t->ip, w->ip, BLIND_LEN); break;
		case IPQ_NET_OR_V4: ok = (t->flags & T_V4) || net_has(t, w->ip_bits, w->net); break;
		case IPQ_NET: ok = net_has(t, w->ip_bits, w->net); break;
		default: ok = false; break;
		}
		if (!ok)
			return false;
	}
	if ((has & INDEX_Q_SERVICE) && !text_eq(t->service, t->service_n, q->service, m->service_n))
		return false;
	if ((has & INDEX_Q_RESOURCE_TYPE) &&
	    (!(t->flags & T_RTYPE) || memcmp(t->rtype, w->rtype, BLIND_LEN)))
		return false;
	if ((has & INDEX_Q_RESOURCE_ID) &&
	    (!(t->flags & T_RID) || memcmp(t->rid, w->rid, BLIND_LEN)))
		return false;
	if ((has & INDEX_Q_WRITER) &&
	    (!(t->flags & T_WRITER) || memcmp(t->writer, w->writer, BLIND_LEN)))
		return false;
	return true;
}

/* The tail rows in [lo, hi) that match, in q's order after its cursor:
 * at most cap of them into out and offs.  The caller holds tail_rw (T3). */
static size_t tail_scan(struct index *idx, const struct where *w, uint64_t lo, uint64_t hi,
			uint64_t *out, uint64_t *offs, size_t cap)
{
	const struct index_query *q = w->q;
	struct tmatch m = { .w = w };
	bool asc = q->order == INDEX_ASC;
	size_t n = 0;
	uint64_t k;

	if (q->has & (INDEX_Q_ACTION | INDEX_Q_ACTION_PREFIX))
		m.action_n = strlen(q->action);
	if (q->has & INDEX_Q_OUTCOME)
		m.outcome_n = strlen(q->outcome);
	if (q->has & INDEX_Q_SERVICE)
		m.service_n = strlen(q->service);
	if (q->has_after) {
		int64_t a = (int64_t)q->after;	/* as ix_where_bind() binds it */

		if (asc && a >= 0)
			lo = (uint64_t)a + 1 > lo ? (uint64_t)a + 1 : lo;
		else if (!asc)
			hi = a < 0 ? 0 : (uint64_t)a < hi ? (uint64_t)a : hi;
	}
	for (k = 0; lo + k < hi && n < cap; k++) {
		uint64_t i = asc ? lo + k : hi - 1 - k;
		const struct trow *t = tail_row(idx, i);

		if (tail_match(&m, t)) {
			out[n] = i;
			offs[n++] = t->joff >= 0 ? (uint64_t)t->joff : INDEX_NO_OFFSET;
		}
	}
	return n;
}

/* The tail's end for a query whose SQLite snapshot covers wm (T2). */
static uint64_t tail_snapshot(struct index *idx, uint64_t wm)
{
	uint64_t end;

	pthread_mutex_lock(&idx->mu);
	end = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	return end > wm ? end : wm;
}

ls_rc index_query_run(struct index *idx, const struct index_query *q, uint64_t **indexes,
		      size_t *n, char **next_cursor, uint64_t *watermark, struct ls_err *err)
{
	return index_query_locate(idx, q, indexes, NULL, n, next_cursor, watermark, err);
}

ls_rc index_query_locate(struct index *idx, const struct index_query *q, uint64_t **indexes,
			 uint64_t **offsets, size_t *n, char **next_cursor, uint64_t *watermark,
			 struct ls_err *err)
{
	struct where w = { .q = q, .first_param = 1 };
	struct sqlbuf sql = { .n = 0 }, fast = { .n = 0 };
	sqlite3 *db = NULL;
	uint64_t *out = NULL, *offs = NULL, *res = NULL, *roffs = NULL, wm = 0, end = 0;
	size_t got = 0, tn = 0, total = 0, k;
	unsigned limit = q->limit ? q->limit : INDEX_LIMIT_DEFAULT;
	bool asc = q->order == INDEX_ASC, locked = false;
	int step = SQLITE_DONE;
	ls_rc rc;

	*indexes = NULL;
	if (offsets)
		*offsets = NULL;
	*n = 0;
	*next_cursor = NULL;
	if (watermark)
		*watermark = 0;
	if (limit > INDEX_LIMIT_MAX)
		limit = INDEX_LIMIT_MAX;
	if (q->has & INDEX_Q_CURSOR) {
		uint8_t fh[8];

		rc = ix_filter_hash(q, fh);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "out of memory");
		if (memcmp(fh, q->cursor_filter, 8) || q->cursor_order != q->order)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'cursor': it belongs to a query with other "
					  "filters or another order");
	}
	/* Two plans.  Results are in leaf order, so a plain walk of the table
	 * in that order, filtering as it goes, is the fastest when matches are
	 * common; an index is when they are rare, but then SQLite sorts every
	 * match for the page.  Try the walk first with a small budget. */
	rc = ix_where_prepare(&w, idx, err);
	if (rc != LS_OK)
		return rc;
	ix_sb_add(&fast, "SELECT idx, joff FROM events NOT INDEXED");
	w.walk = true;
	ix_where_sql(&w, &fast, true);
	w.walk = false;
	ix_sb_add(&fast, " ORDER BY idx %s LIMIT %u", asc ? "ASC" : "DESC", limit + 1);
	/* A CIDR block's rows in ipnet are in leaf order under their (plen,
	 * hash) prefix: joined, they give the newest (or oldest) page without
	 * reading every match, which "idx IN (SELECT ...)" would. */
	w.join = w.ipq == IPQ_NET;
	ix_sb_add(&sql, "SELECT events.idx, joff FROM events%s",
		  w.join ? " JOIN ipnet ON ipnet.idx = events.idx" : "");
	ix_where_sql(&w, &sql, true);
	ix_sb_add(&sql, " ORDER BY %s.idx %s LIMIT %u", w.join ? "ipnet" : "events",
		  asc ? "ASC" : "DESC", limit + 1);
	if (sql.overflow || fast.overflow)
		return ls_err_set(err, LS_LIMIT, "index: query too complex");
	/* SQLite's page, the tail's page, and the two merged. */
	out = malloc(sizeof(*out) * (limit + 1) * 3);
	offs = malloc(sizeof(*offs) * (limit + 1) * 3);
	if (!out || !offs) {
		free(out);
		free(offs);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	res = out + 2 * (limit + 1);
	roffs = offs + 2 * (limit + 1);
	rc = ix_pool_get(idx, &db, err);
	if (rc != LS_OK)
		goto done;
	/* T3: shared before the snapshot, held through the tail scan. */
	pthread_rwlock_rdlock(&idx->tail_rw);
	locked = true;
	rc = ix_read_begin(db, &wm, err);
	if (rc != LS_OK)
		goto done;
	end = tail_snapshot(idx, wm);
	/* Newest first: the tail's rows come first, and when they fill the
	 * page SQLite has nothing to add. */
	if (!asc)
		tn = tail_scan(idx, &w, wm, end, out + limit + 1, offs + limit + 1, limit + 1);
	if (asc || tn <= limit) {
		step = walk_first(&w) ? select_idx(db, fast.s, fast.n, &w, out, offs, limit + 1,
						   &got, WALK_BUDGET)
				      : SQLITE_INTERRUPT;
	}
	if (step == SQLITE_INTERRUPT) {
		/* An interrupted read may have ended the transaction; a new one
		 * may cover more, and the tail then starts further on. */
		if (sqlite3_get_autocommit(db)) {
			uint64_t wm2;

			rc = ix_read_begin(db, &wm2, err);
			if (rc != LS_OK)
				goto done;
			if (wm2 != wm) {
				wm = wm2;
				end = tail_snapshot(idx, wm);
				if (!asc)
					tn = tail_scan(idx, &w, wm, end, out + limit + 1,
						       offs + limit + 1, limit + 1);
			}
		}
		got = 0;
		step = asc || tn <= limit
			       ? select_idx(db, sql.s, sql.n, &w, out, offs, limit + 1, &got, 0)
			       : SQLITE_DONE;
	}
	if (step != SQLITE_DONE) {
		rc = ix_db_fail(err, db, "query");
		goto done;
	}
	/* Oldest first: SQLite's rows come first; the tail only fills up. */
	if (asc && got <= limit)
		tn = tail_scan(idx, &w, wm, end, out + limit + 1, offs + limit + 1,
			       limit + 1 - got);
	pthread_rwlock_unlock(&idx->tail_rw);
	locked = false;
	for (k = 0; k < tn + got && total <= limit; k++) {
		bool from_tail = asc ? k >= got : k < tn;
		size_t at = from_tail ? limit + 1 + (asc ? k - got : k) : (asc ? k : k - tn);

		res[total] = out[at];
		roffs[total++] = offs[at];
	}
	if (total > limit) {
		total = limit;
		*next_cursor = malloc(INDEX_CURSOR_TEXT + 1);
		if (!*next_cursor) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		index_cursor_encode(q, res[total - 1], *next_cursor);
	}
	memmove(out, res, total * sizeof(*out));
	memmove(offs, roffs, total * sizeof(*offs));
done:
	if (db)
		ix_pool_put(idx, db);
	if (locked)
		pthread_rwlock_unlock(&idx->tail_rw);
	if (rc != LS_OK) {
		free(out);
		free(offs);
		free(*next_cursor);
		*next_cursor = NULL;
		return rc;
	}
	*indexes = out;
	if (offsets)
		*offsets = offs;
	else
		free(offs);
	*n = total;
	if (watermark)
		*watermark = end;
	return LS_OK;
}

ls_rc index_entry_offset(struct index *idx, uint64_t index, uint64_t *offset,
			 struct ls_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	ls_rc rc;
	int step;

	*offset = INDEX_NO_OFFSET;
	if (index > INT64_MAX)
		return LS_NOTFOUND;
	{
		int64_t joff = -2;	/* -2: not in the tail */

		pthread_rwlock_rdlock(&idx->tail_rw);
		pthread_mutex_lock(&idx->mu);
		if (index >= idx->tail_head && index < idx->tail_end)
			joff = tail_row(idx, index)->joff;
		pthread_mutex_unlock(&idx->mu);
		pthread_rwlock_unlock(&idx->tail_rw);
		if (joff >= 0) {
			*offset = (uint64_t)joff;
			return LS_OK;
		}
		if (joff == -1)
			return LS_NOTFOUND;
	}
	rc = ix_pool_get(idx, &db, err);
	if (rc != LS_OK)
		return rc;
	if (sqlite3_prepare_v2(db, "SELECT joff FROM events WHERE idx = ?", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, (sqlite3_int64)index) != SQLITE_OK) {
		rc = ix_db_fail(err, db, "query");
		goto out;
	}
	step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		*offset = (uint64_t)sqlite3_column_int64(st, 0);
	else if (step == SQLITE_ROW || step == SQLITE_DONE)
		rc = LS_NOTFOUND;
	else
		rc = ix_db_fail(err, db, "query");
out:
	sqlite3_finalize(st);
	ix_pool_put(idx, db);
	return rc;
}
