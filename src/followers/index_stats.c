/*
 * index_stats.c - index_stats(): counts grouped by a field and a time
 * bucket, from the columns of the ranges (event time and the plaintext
 * values of outcome, action and service).
 */
#include "followers/index.h"
#include "followers/index_int.h"

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

/*
 * The counts: one cell per (bucket, value) met, in an open-addressed table
 * that doubles; value NULL is "other" (missing, or not a usable name).
 */
struct cell {
	int64_t bucket, count;
	char *v;		/* NUL-terminated copy; NULL: other */
	size_t n;
	uint64_t h;
	bool used;
};

struct counts {
	struct cell *c;
	size_t cap, used;
	int64_t *buckets;	/* distinct buckets met (at most MAX_BUCKETS + 1) */
	size_t nbuckets;
};

static uint64_t cell_hash(int64_t b, const char *v, size_t n)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)b * 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; v && i < n; i++)
		h = (h ^ (uint8_t)v[i]) * 1099511628211ULL;
	return h ^ (v ? 0 : 0x5555);
}

/* Count c in (b, v[0..n)).  0, -1 OOM, 1 past INDEX_STATS_MAX_BUCKETS. */
static int count_add(struct counts *t, int64_t b, const char *v, size_t n, int64_t c)
{
	uint64_t h = cell_hash(b, v, n);
	size_t i;

	if (t->used * 2 >= t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256, k;
		struct cell *nt = calloc(nc, sizeof(*nt));

		if (!nt)
			return -1;
		for (k = 0; k < t->cap; k++) {
			struct cell *o = &t->c[k];

			if (!o->used)
				continue;
			for (i = (size_t)o->h & (nc - 1); nt[i].used; i = (i + 1) & (nc - 1))
				;
			nt[i] = *o;
		}
		free(t->c);
		t->c = nt;
		t->cap = nc;
	}
	for (i = (size_t)h & (t->cap - 1); t->c[i].used; i = (i + 1) & (t->cap - 1)) {
		struct cell *e = &t->c[i];

		if (e->h == h && e->bucket == b && (e->v == NULL) == (v == NULL) &&
		    (!v || (e->n == n && !memcmp(e->v, v, n)))) {
			e->count += c;
			return 0;
		}
	}
	{
		size_t k;

		for (k = 0; k < t->nbuckets && t->buckets[k] != b; k++)
			;
		if (k == t->nbuckets) {
			if (t->nbuckets >= INDEX_STATS_MAX_BUCKETS)
				return 1;
			t->buckets[t->nbuckets++] = b;
		}
	}
	t->c[i].used = true;
	t->c[i].bucket = b;
	t->c[i].count = c;
	t->c[i].h = h;
	t->c[i].n = n;
	t->c[i].v = NULL;
	if (v) {
		t->c[i].v = malloc(n + 1);
		if (!t->c[i].v) {
			t->c[i].used = false;
			return -1;
		}
		memcpy(t->c[i].v, v, n);
		t->c[i].v[n] = '\0';
	}
	t->used++;
	return 0;
}

static void counts_free(struct counts *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->c[i].used)
			free(t->c[i].v);
	free(t->c);
	free(t->buckets);
}

static int cell_cmp(const void *a, const void *b)
{
	const struct cell *x = a, *y = b;

	return (x->bucket > y->bucket) - (x->bucket < y->bucket);
}

/* A run of one range's leaves with the same bucket and value pointer,
 * counted once (values of equal text usually share their bytes). */
struct run {
	int64_t b;
	const char *v;
	size_t n;
	int64_t c;
	bool on;
};

static int run_flush(struct counts *t, struct run *r)
{
	int bad = 0;

	if (r->on) {
		/* A name with a NUL in it cannot be a JSON key: other. */
		const char *v = r->v && !memchr(r->v, 0, r->n) ? r->v : NULL;

		bad = count_add(t, r->b, v, v ? r->n : 0, r->c);
	}
	r->on = false;
	return bad;
}

/* Count the matches of range v into t.  0, -1 OOM, 1 too many buckets. */
static int range_count(const struct qterms *w, const struct rview *v, uint8_t field,
		       int64_t width, bool timed, struct counts *t)
{
	const struct index_query *q = w->q;
	bool tf = q->has & (INDEX_Q_FROM | INDEX_Q_TO | INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO);
	uint32_t buf[1024], pos = 0;
	int has_pos = 0, bad = 0;
	struct run r = { .on = false };
	struct pset *s;
	size_t got, i;

	if (v->vis == 0)
		return 0;
	s = ix_match(w, v->p, v->vis);
	if (!s)
		return -1;
	do {
		got = pset_take(s, 0, has_pos, pos, buf, 1024);
		for (i = 0; i < got && !bad; i++) {
			uint32_t rel = buf[i];
			int64_t b = 0, tm;
			const char *val;
			size_t n = 0;
			int h;

			if (rel >= v->vis) {
				got = 0;
				break;
			}
			if (tf && !ix_time_ok(q, v->p, rel))
				continue;
			if (timed) {
				tm = postings_time(v->p, rel, &h);
				if (!h)
					continue;
				b = tm - (((tm % width) + width) % width);
			}
			val = postings_value(v->p, rel, field, &n);
			if (r.on && r.b == b && r.v == val && r.n == n) {
				r.c++;
				continue;
			}
			bad = run_flush(t, &r);
			r = (struct run){ .b = b, .v = val, .n = n, .c = 1, .on = true };
		}
		if (got) {
			pos = buf[got - 1];
			has_pos = 1;
		}
	} while (got == 1024 && !bad);
	if (!bad)
		bad = run_flush(t, &r);
	pset_free(s);
	return bad;
}

ls_rc index_stats(struct index *idx, const struct index_query *q, const char *group_by,
		  uint64_t bucket_seconds, json_t **out, struct ls_err *err)
{
	static const char *const groups[] = { "outcome", "action", "service", NULL };
	static const uint8_t fields[] = { PF_OUTCOME, PF_ACTION, PF_SERVICE };
	struct qterms w = { .q = q };
	struct counts t = { 0 };
	struct group *g = NULL;
	json_t *res = NULL, *arr = NULL;
	bool timed = bucket_seconds > 0;
	int64_t width = timed ? (int64_t)bucket_seconds * 1000000 : 0, total = 0;
	uint64_t end, L = idx->L, nk, k;
	size_t nranges, i, j;
	int gi;
	ls_rc rc = LS_OK;

	*out = NULL;
	/* Grouping by actor could only count keyed hashes, which say nothing
	 * to a reader: refused rather than answered with opaque names. */
	if (group_by && !strcmp(group_by, "actor"))
		return ls_err_set(err, LS_INVALID,
				  "parameter 'group_by': actor is not available: the index holds "
				  "actor ids only as keyed hashes (filter with actor=ID instead); "
				  "use outcome, action or service");
	for (gi = 0; group_by && groups[gi] && strcmp(groups[gi], group_by); gi++)
		;
	if (!group_by || !groups[gi])
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
	rc = ix_qterms_prepare(&w, idx, err);
	if (rc != LS_OK)
		return rc;
	t.buckets = malloc(INDEX_STATS_MAX_BUCKETS * sizeof(*t.buckets));
	res = json_object();
	arr = json_array();
	if (!t.buckets || !res || !arr) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto done;
	}
	ix_snapshot(idx, &end, &nranges);
	nk = end ? (end - 1) / L + 1 : 0;
	for (k = 0; k < nk; k++) {
		struct rview v;
		int bad;

		if (k < nranges) {
			struct range r;

			pthread_mutex_lock(&idx->mu);
			r = idx->ranges[k];
			pthread_mutex_unlock(&idx->mu);
			if (ix_range_skip(q, &r) || (timed && !r.has_t))
				continue;
		}
		rc = ix_view_open(idx, k, end, nranges, &v, err);
		if (rc != LS_OK)
			goto done;
		bad = range_count(&w, &v, fields[gi], width, timed, &t);
		ix_view_close(idx, &v);
		if (bad < 0) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		if (bad > 0) {
			rc = ls_err_set(err, LS_LIMIT,
					"more than %d buckets: use a larger bucket or a narrower "
					"range",
					INDEX_STATS_MAX_BUCKETS);
			goto done;
		}
	}
	/* The cells by bucket, then each bucket's groups. */
	{
		struct cell *c = malloc((t.used + 1) * sizeof(*c));
		size_t nc = 0;

		if (!c) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		for (i = 0; i < t.cap; i++)
			if (t.c[i].used)
				c[nc++] = t.c[i];
		if (nc)
			qsort(c, nc, sizeof(*c), cell_cmp);
		g = malloc((nc + 1) * sizeof(*g));
		for (i = 0; g && i < nc; i = j) {
			int64_t other = 0;
			size_t ng = 0;

			for (j = i; j < nc && c[j].bucket == c[i].bucket; j++) {
				total += c[j].count;
				if (!c[j].v) {
					other += c[j].count;
					continue;
				}
				g[ng].name = strdup(c[j].v);
				if (!g[ng].name) {
					other += c[j].count;
					continue;
				}
				g[ng++].count = c[j].count;
			}
			if (flush_bucket(arr, timed, c[i].bucket, g, ng, other)) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				break;
			}
		}
		if (!g && nc)
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		free(c);
		if (rc != LS_OK)
			goto done;
	}
	if (json_object_set_new(res, "group_by", json_string(groups[gi])) ||
	    json_object_set_new(res, "bucket", json_integer((json_int_t)bucket_seconds)) ||
	    json_object_set_new(res, "watermark", json_integer((json_int_t)end)) ||
	    json_object_set_new(res, "total", json_integer(total)) ||
	    json_object_set(res, "buckets", arr)) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto done;
	}
done:
	free(g);
	counts_free(&t);
	json_decref(arr);
	if (rc != LS_OK) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return LS_OK;
}
