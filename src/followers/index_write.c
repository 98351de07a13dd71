/*
 * index_write.c - column values: network prefixes, the row as the writer
 * inserts it (struct trow, every keyed hash computed by ix_trow_fill()), and
 * the writer's batch (events, ipnet and rollup rows) inside a transaction.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ======================================================= column values */

void ix_mask_prefix(const uint8_t ip[16], unsigned bits, uint8_t out[16])
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;

		out[i] = keep ? ip[i] & (uint8_t)(0xff << (8 - keep)) : 0;
	}
}

/*
 * The keyed hash of a network prefix: plen, then the masked address, kept
 * as a 64-bit integer (the first 8 bytes, big-endian).  Integers make the
 * ipnet key short and quick to compare, which is most of the follower's
 * cost of up to five rows per entry; two prefixes of the same length share
 * a value with probability 2^-64 per pair, which would only add the other
 * network's events to a CIDR answer.
 */
static void net_key(const uint8_t ip[16], unsigned bits, uint8_t m[17])
{
	m[0] = (uint8_t)bits;
	ix_mask_prefix(ip, bits, m + 1);
}

int ix_net_hash(const struct blind *b, EVP_MD_CTX *w, const uint8_t ip[16], unsigned bits,
		sqlite3_int64 *out)
{
	uint8_t m[17], h[BLIND_LEN];
	int rc;

	net_key(ip, bits, m);
	rc = ix_blind_hash(b, w, "source_net", m, sizeof(m), h);
	*out = (sqlite3_int64)get_be64(h);
	return rc;
}

ls_rc ix_writer_init(struct writer *wr, sqlite3 *db, bool persistent, struct ls_err *err)
{
	unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;

	memset(wr, 0, sizeof(*wr));
	wr->db = db;
	wr->cells = malloc(RCELLS * sizeof(*wr->cells));
	wr->pool = malloc(RPOOL);
	if (!wr->cells || !wr->pool)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	memset(wr->cells, CELL_FREE, RCELLS * sizeof(*wr->cells));
	if (sqlite3_prepare_v3(db, INSERT_SQL, -1, flags, &wr->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, INSERT_NET_SQL, -1, flags, &wr->net, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, UPSERT_ROLLUP_SQL, -1, flags, &wr->up, NULL) != SQLITE_OK)
		return ix_db_fail(err, db, "prepare");
	return LS_OK;
}

void ix_writer_release(struct writer *wr)
{
	sqlite3_finalize(wr->ins);
	sqlite3_finalize(wr->net);
	sqlite3_finalize(wr->up);
	free(wr->nets);
	free(wr->cells);
	free(wr->pool);
	memset(wr, 0, sizeof(*wr));
}

/* Forget what the batch buffered (its transaction was rolled back). */
void ix_writer_discard(struct writer *wr)
{
	wr->nnets = 0;
	if (wr->cells && wr->ncells)
		memset(wr->cells, CELL_FREE, RCELLS * sizeof(*wr->cells));
	wr->ncells = 0;
	wr->pool_n = 0;
}

static int up_step(struct writer *wr, int64_t hour, int field, const char *v, size_t n,
		   int64_t count)
{
	sqlite3_stmt *st = wr->up;
	int rc = 0;

	sqlite3_reset(st);
	rc |= sqlite3_bind_int64(st, 1, hour);
	rc |= sqlite3_bind_int(st, 2, field);
	/* A missing value is the empty blob: NULL would never conflict. */
	rc |= v ? sqlite3_bind_text(st, 3, v, (int)n, SQLITE_STATIC)
		: sqlite3_bind_zeroblob(st, 3, 0);
	rc |= sqlite3_bind_int64(st, 4, count);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		return -1;
	return 0;
}

static int rollup_flush(struct writer *wr)
{
	size_t i;

	for (i = 0; i < RCELLS && wr->ncells; i++) {
		struct rcell *c = &wr->cells[i];

		if (c->field == CELL_FREE)
			continue;
		if (up_step(wr, c->hour, c->field, c->len == NO_VALUE ? NULL : wr->pool + c->off,
			    c->len == NO_VALUE ? 0 : c->len, c->n))
			return -1;
		c->field = CELL_FREE;
		wr->ncells--;
	}
	wr->ncells = 0;
	wr->pool_n = 0;
	return 0;
}

/* Count one event under (hour, field, value) in the batch's cells. */
static int rollup_add(struct writer *wr, int64_t hour, int field, const char *v, size_t n)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)hour ^ ((uint64_t)field << 56);
	uint32_t len = v ? (uint32_t)n : NO_VALUE;
	size_t i;

	if (v && n > RPOOL / 4)	/* a huge value: straight to the table */
		return up_step(wr, hour, field, v, n, 1);
	if (wr->ncells >= RCELLS / 2 || (v && wr->pool_n + n > RPOOL))
		if (rollup_flush(wr))
			return -1;
	for (i = 0; v && i < n; i++)
		h = (h ^ (uint8_t)v[i]) * 1099511628211ULL;
	h ^= h >> 29;
	for (i = (size_t)h & (RCELLS - 1);; i = (i + 1) & (RCELLS - 1)) {
		struct rcell *c = &wr->cells[i];

		if (c->field == CELL_FREE) {
			c->hour = hour;
			c->field = (uint8_t)field;
			c->len = len;
			c->off = (uint32_t)wr->pool_n;
			c->n = 1;
			if (v) {
				memcpy(wr->pool + wr->pool_n, v, n);
				wr->pool_n += n;
			}
			wr->ncells++;
			return 0;
		}
		if (c->hour == hour && c->field == field && c->len == len &&
		    (!v || !memcmp(wr->pool + c->off, v, n))) {
			c->n++;
			return 0;
		}
	}
}

static int net_cmp(const void *a, const void *b)
{
	const struct netrow *x = a, *y = b;

	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Write what the batch buffered, in its transaction.  ipnet rows go in key
 * order: their keys are random, and inserting them sorted keeps SQLite's
 * descent on the same few pages instead of all over the tree (most of the
 * follower's time went there).
 */
ls_rc ix_writer_flush(struct writer *wr, struct ls_err *err)
{
	size_t i;

	if (wr->nnets) /* nets is NULL until the first address */
		qsort(wr->nets, wr->nnets, sizeof(*wr->nets), net_cmp);
	for (i = 0; i < wr->nnets; i++) {
		sqlite3_stmt *st = wr->net;

		sqlite3_reset(st);
		if (sqlite3_bind_int(st, 1, wr->nets[i].plen) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, wr->nets[i].hash) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 3, wr->nets[i].idx) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			return ix_db_fail(err, wr->db, "insert");
	}
	wr->nnets = 0;
	if (rollup_flush(wr))
		return ix_db_fail(err, wr->db, "rollup");
	return LS_OK;
}

/* Where the record the iterator returned last starts in its segment. */
int64_t ix_iter_offset(const struct store_iter *it)
{
	const char *seg;
	uint64_t off;

	store_iter_where(it, &seg, &off);
	return off <= INT64_MAX ? (int64_t)off : -1;
}

/* Fill t from r (strings shared with r).  -1 when OpenSSL fails (OOM). */
int ix_trow_fill(const struct blind *bl, EVP_MD_CTX *w, struct bcache *bc, const struct row *r,
		 int64_t joff, struct trow *t)
{
	int bad = 0;
	size_t i;

	memset(t, 0, offsetof(struct trow, hash));
	t->joff = joff;
	if (r->has_time) {
		t->flags |= T_TIME;
		t->time_us = r->time_us;
	}
	if (r->has_received) {
		t->flags |= T_RECEIVED;
		t->received_us = r->received_us;
	}
	/* Entries are at most STORE_MAX_ENTRY bytes: the lengths fit. */
	t->action = r->action;
	t->action_n = (uint32_t)r->action_n;
	t->outcome = r->outcome;
	t->outcome_n = (uint32_t)r->outcome_n;
	t->service = r->service;
	t->service_n = (uint32_t)r->service_n;
	{
		/* Each value's slot first, all fetched at once; then the
		 * lookups (see struct bcache). */
		struct bkey {
			uint8_t field;
			const char *name;
			const void *v;
			size_t n;
			uint8_t *out;
			struct bslot *sl;
		} k[4 + 1 + NET_MAX];
		uint8_t nets[NET_MAX][17], nh[NET_MAX][BLIND_LEN];
		size_t nk = 0, nn = 0;

#define KEY(val, len, f, nm, flag, o)                                                          \
	do {                                                                                   \
		if (val) {                                                                     \
			t->flags |= (flag);                                                    \
			k[nk++] = (struct bkey){ (f), (nm), (val), (len), (o), NULL };         \
		}                                                                              \
	} while (0)
		KEY(r->actor, r->actor_n, BC_ACTOR, "actor", T_ACTOR, t->actor);
		KEY(r->rtype, r->rtype_n, BC_RTYPE, "resource_type", T_RTYPE, t->rtype);
		KEY(r->rid, r->rid_n, BC_RID, "resource_id", T_RID, t->rid);
		KEY(r->writer, r->writer_n, BC_WRITER, "writer", T_WRITER, t->writer);
#undef KEY
		if (r->has_ip) {
			bool v4 = !memcmp(r->ip, V4_MAPPED, sizeof(V4_MAPPED));
			const uint8_t *lens = v4 ? NET_V4 : NET_V6;

			nn = v4 ? sizeof(NET_V4) : sizeof(NET_V6);
			t->flags |= T_IP | (v4 ? T_V4 : 0);
			k[nk++] = (struct bkey){ BC_IP, "source_ip", r->ip, 16, t->ip, NULL };
			for (i = 0; i < nn; i++) {
				net_key(r->ip, lens[i], nets[i]);
				k[nk++] = (struct bkey){ BC_NET, "source_net", nets[i],
							 sizeof(nets[i]), nh[i], NULL };
			}
		}
		for (i = 0; i < nk; i++)
			k[i].sl = ix_bc_slot(bc, k[i].field, k[i].v, k[i].n);
		for (i = 0; i < nk; i++)
			bad |= ix_blind_at(bl, w, k[i].sl, k[i].field, k[i].name, k[i].v, k[i].n,
					   k[i].out);
		for (i = 0; i < nn; i++)
			t->net[i] = (sqlite3_int64)get_be64(nh[i]);
	}
	return bad ? -1 : 0;
}

/* Insert row idx as t says, in the open transaction (ipnet and rollup
 * buffered until ix_writer_flush()). */
ls_rc ix_write_trow(struct writer *wr, uint64_t idx, const struct trow *t,
		    struct ls_err *err)
{
	sqlite3_stmt *st = wr->ins;
	bool v4 = t->flags & T_V4;
	int64_t hour;
	int rc = 0;
	size_t i, nn;

	sqlite3_reset(st);
	rc |= sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
	rc |= t->flags & T_TIME ? sqlite3_bind_int64(st, 2, t->time_us) : sqlite3_bind_null(st, 2);
	rc |= t->flags & T_RECEIVED ? sqlite3_bind_int64(st, 3, t->received_us)
				    : sqlite3_bind_null(st, 3);
	rc |= col_blind(st, 4, t->flags & T_ACTOR, t->actor);
	rc |= col_text(st, 5, t->action, t->action_n);
	rc |= col_text(st, 6, t->outcome, t->outcome_n);
	rc |= col_blind(st, 7, t->flags & T_IP, t->ip);
	rc |= t->flags & T_IP ? sqlite3_bind_int(st, 8, v4 ? 4 : 6) : sqlite3_bind_null(st, 8);
	rc |= col_text(st, 9, t->service, t->service_n);
	rc |= col_blind(st, 10, t->flags & T_RTYPE, t->rtype);
	rc |= col_blind(st, 11, t->flags & T_RID, t->rid);
	rc |= col_blind(st, 12, t->flags & T_WRITER, t->writer);
	rc |= t->joff >= 0 ? sqlite3_bind_int64(st, 13, t->joff) : sqlite3_bind_null(st, 13);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		return ix_db_fail(err, wr->db, "insert");
	hour = t->flags & T_TIME ? floor_div(t->time_us, HOUR_US) : NO_HOUR;
	if (rollup_add(wr, hour, ROLL_OUTCOME, t->outcome, t->outcome_n) ||
	    rollup_add(wr, hour, ROLL_ACTION, t->action, t->action_n) ||
	    rollup_add(wr, hour, ROLL_SERVICE, t->service, t->service_n))
		return ix_db_fail(err, wr->db, "rollup");
	if (!(t->flags & T_IP))
		return LS_OK;
	nn = v4 ? sizeof(NET_V4) : sizeof(NET_V6);
	if (wr->nnets + nn > NETS_MAX) {
		ls_rc frc = ix_writer_flush(wr, err);

		if (frc != LS_OK)
			return frc;
	}
	if (wr->nnets + nn > wr->capnets) {
		size_t nc = wr->capnets ? wr->capnets * 2 : 4096;
		struct netrow *p = realloc(wr->nets, nc * sizeof(*p));

		if (!p)
			return ls_err_set(err, LS_NOMEM, "out of memory");
		wr->nets = p;
		wr->capnets = nc;
	}
	for (i = 0; i < nn; i++) {
		struct netrow *nr = &wr->nets[wr->nnets++];

		nr->hash = t->net[i];
		nr->plen = v4 ? NET_V4[i] : NET_V6[i];
		nr->idx = (sqlite3_int64)idx;
	}
	return LS_OK;
}
