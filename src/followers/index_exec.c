/*
 * index_exec.c - running a query: its filters as terms, the set of a range
 * that matches them, the walk over the ranges in the query's order, and a
 * leaf's journal offset.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* Hash q's personal filter values as the extractor hashed the stored ones. */
ls_rc ix_qterms_prepare(struct qterms *w, struct index *idx, struct ls_err *err)
{
	const struct index_query *q = w->q;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int bad = !c;

	w->fam4 = 4;
	if (!bad && (q->has & INDEX_Q_ACTOR))
		bad |= ix_blind_hash(&idx->bl, c, "actor", q->actor, strlen(q->actor), w->actor);
	if (!bad && (q->has & INDEX_Q_RESOURCE_TYPE))
		bad |= ix_blind_hash(&idx->bl, c, "resource_type", q->resource_type,
				     strlen(q->resource_type), w->rtype);
	if (!bad && (q->has & INDEX_Q_RESOURCE_ID))
		bad |= ix_blind_hash(&idx->bl, c, "resource_id", q->resource_id,
				     strlen(q->resource_id), w->rid);
	if (!bad && (q->has & INDEX_Q_RESOURCE_ID_PREFIX))
		bad |= ix_blind_hash(&idx->bl, c, "resource_id_prefix", q->resource_id,
				     strlen(q->resource_id), w->rid);
	for (unsigned i = 0; !bad && i < q->nnot; i++) {
		const char *name = NULL, *v = q->nots[i].value;

		switch (q->nots[i].bit) {
		case INDEX_Q_ACTOR: name = "actor"; break;
		case INDEX_Q_RESOURCE_TYPE: name = "resource_type"; break;
		case INDEX_Q_RESOURCE_ID: name = "resource_id"; break;
		case INDEX_Q_RESOURCE_ID_PREFIX: name = "resource_id_prefix"; break;
		case INDEX_Q_WRITER: name = "writer"; break;
		}
		if (name)
			bad |= ix_blind_hash(&idx->bl, c, name, v, strlen(v), w->noth[i]);
	}
	if (!bad && (q->has & INDEX_Q_WRITER))
		bad |= ix_blind_hash(&idx->bl, c, "writer", q->writer, strlen(q->writer), w->writer);
	if (!bad && (q->has & INDEX_Q_SOURCE_IP)) {
		w->ipq = ix_cidr_kind(q->ip_lo, q->ip_hi, &w->ip_bits);
		if (w->ipq == IPQ_FULL)
			bad |= ix_blind_hash(&idx->bl, c, "source_ip", q->ip_lo, 16, w->ip);
		else if (w->ipq == IPQ_NET || w->ipq == IPQ_NET_OR_V4)
			bad |= ix_net_term(&idx->bl, c, q->ip_lo, w->ip_bits, w->net);
	}
	EVP_MD_CTX_free(c);
	if (bad)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if ((q->has & INDEX_Q_SOURCE_IP) && w->ipq == IPQ_BAD)
		return ls_err_set(err, LS_INVALID,
				  "parameter 'source_ip': the index can search only "
				  CIDR_SUPPORTED " prefixes");
	return LS_OK;
}

static size_t tlen(const char *s)
{
	size_t n = strlen(s);

	return n > PF_TERM_MAX ? PF_TERM_MAX : n;
}

/* s &= x (s NULL: s = x); x is consumed.  false on OOM. */
static bool and_in(struct pset **s, struct pset *x)
{
	if (!x)
		return false;
	if (!*s) {
		*s = x;
		return true;
	}
	pset_and(*s, x);
	pset_free(x);
	return true;
}

/* The set of one filter (bit: its INDEX_Q_*) of value v, h its keyed hash. */
static struct pset *one_set(const struct postings *p, unsigned bit, const char *v,
			    const uint8_t *h)
{
	switch (bit) {
	case INDEX_Q_ACTOR: return postings_get(p, PF_ACTOR, h, TERM_HASH_LEN);
	case INDEX_Q_ACTION: return postings_get(p, PF_ACTION, v, tlen(v));
	case INDEX_Q_ACTION_PREFIX: return postings_prefix(p, PF_ACTION, v, tlen(v));
	case INDEX_Q_OUTCOME: return postings_get(p, PF_OUTCOME, v, tlen(v));
	case INDEX_Q_SERVICE: return postings_get(p, PF_SERVICE, v, tlen(v));
	case INDEX_Q_SERVICE_PREFIX: return postings_prefix(p, PF_SERVICE, v, tlen(v));
	case INDEX_Q_RESOURCE_TYPE: return postings_get(p, PF_RTYPE, h, TERM_HASH_LEN);
	case INDEX_Q_RESOURCE_ID:
	case INDEX_Q_RESOURCE_ID_PREFIX: return postings_get(p, PF_RID, h, TERM_HASH_LEN);
	case INDEX_Q_WRITER: return postings_get(p, PF_WRITER, h, TERM_HASH_LEN);
	default: return pset_new();
	}
}

/* The rels of p whose terms match every filter of w but time (all rels
 * below vis when there is none).  NULL on OOM. */
struct pset *ix_match(const struct qterms *w, const struct postings *p, uint32_t vis)
{
	const struct index_query *q = w->q;
	struct pset *s = NULL;
	bool ok = true;

	if (q->has & INDEX_Q_ACTOR)
		ok = and_in(&s, postings_get(p, PF_ACTOR, w->actor, TERM_HASH_LEN));
	if (ok && (q->has & INDEX_Q_ACTION))
		ok = and_in(&s, postings_get(p, PF_ACTION, q->action, tlen(q->action)));
	if (ok && (q->has & INDEX_Q_ACTION_PREFIX))
		ok = and_in(&s, postings_prefix(p, PF_ACTION, q->action, tlen(q->action)));
	if (ok && (q->has & INDEX_Q_OUTCOME))
		ok = and_in(&s, postings_get(p, PF_OUTCOME, q->outcome, tlen(q->outcome)));
	if (ok && (q->has & INDEX_Q_SERVICE))
		ok = and_in(&s, postings_get(p, PF_SERVICE, q->service, tlen(q->service)));
	if (ok && (q->has & INDEX_Q_SERVICE_PREFIX))
		ok = and_in(&s, postings_prefix(p, PF_SERVICE, q->service, tlen(q->service)));
	if (ok && (q->has & INDEX_Q_RESOURCE_TYPE))
		ok = and_in(&s, postings_get(p, PF_RTYPE, w->rtype, TERM_HASH_LEN));
	if (ok && (q->has & (INDEX_Q_RESOURCE_ID | INDEX_Q_RESOURCE_ID_PREFIX)))
		ok = and_in(&s, postings_get(p, PF_RID, w->rid, TERM_HASH_LEN));
	if (ok && (q->has & INDEX_Q_WRITER))
		ok = and_in(&s, postings_get(p, PF_WRITER, w->writer, TERM_HASH_LEN));
	if (ok && (q->has & INDEX_Q_SOURCE_IP)) {
		struct pset *x = NULL, *y;

		switch (w->ipq) {
		case IPQ_ANY: x = postings_any(p, PF_FAMILY); break;
		case IPQ_V4: x = postings_get(p, PF_FAMILY, &w->fam4, 1); break;
		case IPQ_FULL: x = postings_get(p, PF_IP, w->ip, TERM_HASH_LEN); break;
		case IPQ_NET: x = postings_get(p, PF_NET, w->net, sizeof(w->net)); break;
		case IPQ_NET_OR_V4:
			x = postings_get(p, PF_FAMILY, &w->fam4, 1);
			y = postings_get(p, PF_NET, w->net, sizeof(w->net));
			if (x && y)
				pset_or(x, y);
			else {
				pset_free(x);
				x = NULL;
			}
			pset_free(y);
			break;
		default: x = pset_new(); break;	/* refused by ix_qterms_prepare() */
		}
		ok = and_in(&s, x);
	}
	if (ok && !s)
		s = pset_all(vis);
	ok = ok && s;
	for (unsigned i = 0; ok && i < q->nnot; i++) {
		struct pset *x = one_set(p, q->nots[i].bit, q->nots[i].value, w->noth[i]);

		if (x)
			pset_andnot(s, x);
		ok = x != NULL;
		pset_free(x);
	}
	if (!ok) {
		pset_free(s);
		s = NULL;
	}
	return s;
}

/* The time filters of q on the columns of rel. */
bool ix_time_ok(const struct index_query *q, const struct postings *p, uint32_t rel)
{
	unsigned has = q->has;
	int64_t v;
	int h;

	if (has & (INDEX_Q_FROM | INDEX_Q_TO)) {
		v = postings_time(p, rel, &h);
		if (!h || ((has & INDEX_Q_FROM) && v < q->from_us) ||
		    ((has & INDEX_Q_TO) && v >= q->to_us))
			return false;
	}
	if (has & (INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO)) {
		v = postings_received(p, rel, &h);
		if (!h || ((has & INDEX_Q_RECEIVED_FROM) && v < q->received_from_us) ||
		    ((has & INDEX_Q_RECEIVED_TO) && v >= q->received_to_us))
			return false;
	}
	return true;
}

/* true when no leaf of sealed range r can pass q's time filters. */
bool ix_range_skip(const struct index_query *q, const struct range *r)
{
	unsigned has = q->has;

	if (has & (INDEX_Q_FROM | INDEX_Q_TO)) {
		if (!r->has_t || ((has & INDEX_Q_FROM) && r->thi < q->from_us) ||
		    ((has & INDEX_Q_TO) && r->tlo >= q->to_us))
			return true;
	}
	if (has & (INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO)) {
		if (!r->has_r || ((has & INDEX_Q_RECEIVED_FROM) && r->rhi < q->received_from_us) ||
		    ((has & INDEX_Q_RECEIVED_TO) && r->rlo >= q->received_to_us))
			return true;
	}
	return false;
}

void ix_snapshot(struct index *idx, uint64_t *end, size_t *nranges)
{
	pthread_mutex_lock(&idx->mu);
	*end = idx->end;
	*nranges = idx->nranges;
	pthread_mutex_unlock(&idx->mu);
}

/* Open range k for a query whose snapshot is (end, nranges).  A range in
 * memory is read under act_rw shared until ix_view_close(); one sealed
 * since the snapshot is read from the cache like the others. */
ls_rc ix_view_open(struct index *idx, uint64_t k, uint64_t end, size_t nranges,
		   struct rview *v, struct ls_err *err)
{
	uint64_t L = idx->L;
	ls_rc rc;

	memset(v, 0, sizeof(*v));
	v->first = k * L;
	v->vis = (uint32_t)(end - v->first < L ? end - v->first : L);
	if (k >= nranges) {
		struct building *b = &idx->b[k & 1];

		pthread_rwlock_rdlock(&idx->act_rw);
		if (b->p && b->first == v->first) {
			v->p = b->p;
			v->locked = true;
			return LS_OK;
		}
		pthread_rwlock_unlock(&idx->act_rw);
	}
	rc = ix_cache_get(idx, v->first, &v->ce, err);
	if (rc != LS_OK)
		return rc;
	v->p = v->ce->p;
	return LS_OK;
}

void ix_view_close(struct index *idx, struct rview *v)
{
	if (v->locked)
		pthread_rwlock_unlock(&idx->act_rw);
	ix_cache_put(idx, v->ce);
	memset(v, 0, sizeof(*v));
}

/* The descriptor of sealed range k (bounds may be set by another thread). */
static bool sealed_skip(struct index *idx, const struct index_query *q, uint64_t k)
{
	struct range r;

	if (!(q->has & (INDEX_Q_FROM | INDEX_Q_TO | INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO)))
		return false;
	pthread_mutex_lock(&idx->mu);
	r = idx->ranges[k];
	pthread_mutex_unlock(&idx->mu);
	return ix_range_skip(q, &r);
}

#define TAKE_CHUNK 1024

/*
 * Up to cap matches of range v in q's order (after the cursor when it lies
 * in the range) into out/offs.  Returns how many, or -1 on OOM.
 */
static long range_take(const struct qterms *w, const struct rview *v, struct index *idx,
		       uint64_t *out, uint64_t *offs, size_t cap)
{
	const struct index_query *q = w->q;
	bool desc = q->order != INDEX_ASC, timed;
	uint32_t buf[TAKE_CHUNK], pos = 0, lo;
	int has_pos = 0;
	struct pset *s;
	size_t n = 0, got, i;

	if (v->vis == 0 || cap == 0 || v->first + v->vis <= w->kept)
		return 0;
	/* Leaves below the retained point were moved out by retention (their
	 * postings stay until a reindex): never results. */
	lo = w->kept > v->first ? (uint32_t)(w->kept - v->first) : 0;
	s = ix_match(w, v->p, v->vis);
	if (!s)
		return -1;
	timed = q->has & (INDEX_Q_FROM | INDEX_Q_TO | INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO);
	if (desc) {
		/* rels below vis and below the cursor */
		pos = v->vis;
		if (q->has_after && q->after - v->first < pos)
			pos = (uint32_t)(q->after - v->first);
		has_pos = 1;
	} else if (q->has_after && q->after >= v->first) {
		pos = (uint32_t)(q->after - v->first);
		has_pos = 1;
	}
	if (!desc && lo > 0 && (!has_pos || pos < lo - 1)) {
		pos = lo - 1;
		has_pos = 1;
	}
	do {
		got = pset_take(s, desc, has_pos, pos, buf, TAKE_CHUNK);
		for (i = 0; i < got && n < cap; i++) {
			uint32_t rel = buf[i];

			if ((!desc && rel >= v->vis) || (desc && rel < lo)) {
				got = 0;
				break;
			}
			if (timed && !ix_time_ok(q, v->p, rel))
				continue;
			out[n] = v->first + rel;
			offs[n++] = v->locked ? idx->b[(v->first / idx->L) & 1].offs[rel]
					      : INDEX_NO_OFFSET;
		}
		if (got) {
			pos = buf[got - 1];
			has_pos = 1;
		}
	} while (got == TAKE_CHUNK && n < cap);
	pset_free(s);
	return (long)n;
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
	struct qterms w = { .q = q };
	struct index_query qq = *q;	/* has_after/after as this run reads them */
	uint64_t *out = NULL, *offs = NULL, end = 0, L = idx->L, nk, k, i;
	size_t nranges, total = 0;
	unsigned limit = q->limit ? q->limit : INDEX_LIMIT_DEFAULT;
	bool asc = q->order == INDEX_ASC;
	ls_rc rc = LS_OK;

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
	w.q = &qq;
	rc = ix_qterms_prepare(&w, idx, err);
	if (rc != LS_OK)
		return rc;
	if (store_retained(idx->jdir, &w.kept, NULL) != LS_OK)
		w.kept = 0;
	out = malloc(sizeof(*out) * (limit + 1));
	offs = malloc(sizeof(*offs) * (limit + 1));
	if (!out || !offs) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto done;
	}
	ix_snapshot(idx, &end, &nranges);
	/* A position past INT64_MAX: the SQLite index compared it as a
	 * negative integer (asc: everything after it, desc: nothing). */
	if (qq.has_after && qq.after > INT64_MAX) {
		if (!asc)
			end = 0;
		qq.has_after = 0;
	}
	nk = end ? (end - 1) / L + 1 : 0;
	for (i = 0; i < nk && total <= limit; i++) {
		struct rview v;
		long got;

		k = asc ? i : nk - 1 - i;
		if (qq.has_after && !asc && qq.after <= k * L)
			continue;
		if (qq.has_after && asc && qq.after >= k * L + L - 1)
			continue;
		if (k < nranges && sealed_skip(idx, &qq, k))
			continue;
		rc = ix_view_open(idx, k, end, nranges, &v, err);
		if (rc != LS_OK)
			goto done;
		got = range_take(&w, &v, idx, out + total, offs + total, limit + 1 - total);
		if (got >= 0 && postings_corrupt(v.p)) {
			ix_view_close(idx, &v);
			rc = ls_err_set(err, LS_CORRUPT,
					"index: the postings file of leaves %llu.. changed under "
					"the server (run logseal reindex)",
					(unsigned long long)(k * L));
			goto done;
		}
		ix_view_close(idx, &v);
		if (got < 0) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		total += (size_t)got;
	}
	if (total > limit) {
		total = limit;
		*next_cursor = malloc(INDEX_CURSOR_TEXT + 1);
		if (!*next_cursor) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		index_cursor_encode(q, out[total - 1], *next_cursor);
	}
done:
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
	uint64_t L = idx->L, off = INDEX_NO_OFFSET, end;
	struct building *b = &idx->b[(index / L) & 1];

	(void)err;
	*offset = INDEX_NO_OFFSET;
	pthread_rwlock_rdlock(&idx->act_rw);
	pthread_mutex_lock(&idx->mu);
	end = idx->end;
	pthread_mutex_unlock(&idx->mu);
	if (index < end && b->p && b->first == index - index % L)
		off = b->offs[index % L];
	pthread_rwlock_unlock(&idx->act_rw);
	if (off == INDEX_NO_OFFSET)
		return LS_NOTFOUND;
	*offset = off;
	return LS_OK;
}
