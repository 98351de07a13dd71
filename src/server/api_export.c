/*
 * api_export.c - GET /v1/export: the entries matching a filter, streamed as
 * a verifiable bundle (or CSV / ECS / OCSF lines for SIEMs) by export.c.
 *
 * Before the status line, the handler does everything that can fail: the
 * parameters, a signed checkpoint covering every entry durable at the time
 * of the request (forced with log_checkpoint() if needed, so the newest
 * matching entries are not left out), the index catching up to it, the
 * number of entries the export will hold, and the read-audit event stating
 * filter, format, checkpoint size and that number.  Then the body is
 * produced piece by piece in the HTTP thread: a page of at most
 * INDEX_LIMIT_MAX leaf indexes from the index (keyset paging with
 * has_after/after, oldest first), and for each entry its bytes from the
 * entry bundles and, for bundles, its inclusion proof for the checkpoint's
 * size.  Memory stays bounded by one page of indexes and one entry's output.
 *
 * Invariants:
 *  1. Exactly the entries matching the filter with index < the checkpoint
 *     size S are exported, in increasing index order (what export.h needs);
 *     rows below S never change, so the count stated in the audit event is
 *     the count the manifest states.
 *  2. Once streaming has started, a failure can only cut the connection
 *     (chunked encoding: the client sees an incomplete transfer); a bundle
 *     cut short has no valid manifest and fails verify-bundle.
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "followers/export.h"
#include "core/merkle.h"
#include "core/note.h"
#include "store/tiles.h"

#define EXPORT_INDEX_WAIT_MS 10000

struct xstream {
	struct server *s;
	struct index_query iq;	/* asc, paged with has_after/after */
	uint64_t size;		/* checkpoint size S */
	struct tiles_reader *tr;
	struct export_writer *w;
	enum export_format fmt;
	uint64_t *page, *offs;	/* leaf indexes, their journal offsets */
	struct store_pass pass; /* the journal's retained point, once a page */
	size_t npage, pos;
	int last_page, ended, failed;
	char *buf;		/* output not yet handed to the client */
	size_t len, off, cap;
};

static ls_rc xs_out(void *ctx, const void *data, size_t n)
{
	struct xstream *x = ctx;

	if (x->len + n > x->cap) {
		size_t cap = x->cap ? x->cap : 65536;
		char *nb;

		while (cap < x->len + n)
			cap *= 2;
		nb = realloc(x->buf, cap);
		if (!nb)
			return LS_NOMEM;
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, n);
	x->len += n;
	return LS_OK;
}

static ls_rc next_page(struct xstream *x)
{
	struct ls_err err;
	char *cursor = NULL;
	uint64_t wm = 0;
	ls_rc rc;

	free(x->page);
	free(x->offs);
	x->page = x->offs = NULL;
	x->npage = x->pos = 0;
	memset(&x->pass, 0, sizeof(x->pass));
	rc = index_query_locate(x->s->index, &x->iq, &x->page, &x->offs, &x->npage, &cursor, &wm,
				&err);
	if (rc != LS_OK)
		return rc;
	/* The index looks one row ahead: no cursor means no further page. */
	x->last_page = cursor == NULL;
	free(cursor);
	if (x->npage > 0) {
		x->iq.has_after = 1;
		x->iq.after = x->page[x->npage - 1];
	}
	return LS_OK;
}

/* Put the next piece of output into x->buf: one entry, or the end. */
static ls_rc produce(struct xstream *x)
{
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN];
	struct ls_err err;
	uint8_t *data = NULL;
	size_t len = 0, np = 0;
	uint64_t index;
	ls_rc rc;

	if (x->pos == x->npage && !x->last_page) {
		rc = next_page(x);
		if (rc != LS_OK)
			return rc;
	}
	if (x->pos == x->npage || x->page[x->pos] >= x->size) {
		x->ended = 1;
		return export_end(x->w, &err);
	}
	index = x->page[x->pos];
	rc = api_read_entry(x->s, &x->pass, x->tr, index, x->offs[x->pos], &data, &len, &err);
	x->pos++;
	if (rc == LS_OK && x->fmt == EXPORT_BUNDLE)
		rc = merkle_inclusion_proof(tiles_node_hash, x->tr, index, x->size, proof, &np);
	if (rc == LS_OK)
		rc = export_entry(x->w, index, data, len, proof, np, &err);
	free(data);
	return rc;
}

static long xs_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
	struct xstream *x = ctx;
	size_t n;

	(void)pos;
	while (x->off == x->len) {
		x->off = x->len = 0;
		/* No check of s->stopping: an export in flight is a request in
		 * flight, which http_stop() lets finish within its drain time. */
		if (x->failed)
			return REPLY_STREAM_ERROR;
		if (x->ended)
			return REPLY_STREAM_END;
		if (produce(x) != LS_OK) {
			x->failed = 1;
			return REPLY_STREAM_ERROR;
		}
	}
	n = x->len - x->off;
	if (n > max)
		n = max;
	memcpy(buf, x->buf + x->off, n);
	x->off += n;
	return (long)n;
}

static void xs_free(void *ctx)
{
	struct xstream *x = ctx;

	if (!x)
		return;
	export_free(x->w);
	tiles_reader_free(x->tr);
	index_query_release(&x->iq);
	free(x->page);
	free(x->offs);
	free(x->buf);
	free(x);
}

/* ------------------------------------------------------------- parameters */

struct export_params {
	const char *format;
};

static ls_rc export_param(void *ctx, const char *key, const char *value, struct ls_err *err)
{
	struct export_params *p = ctx;
	enum export_format f;

	if (!strcmp(key, "format")) {
		if (p->format)
			return ls_err_set(err, LS_INVALID, "parameter 'format' given more than once");
		if (export_format_parse(value, &f) != LS_OK)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'format': must be bundle, csv, ecs or ocsf");
		p->format = value;
		return LS_OK;
	}
	if (!strcmp(key, "order")) {
		if (strcmp(value, "asc") != 0)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'order': an export is always oldest first (asc)");
		return LS_OK;
	}
	if (!strcmp(key, "limit") || !strcmp(key, "cursor"))
		return ls_err_set(err, LS_INVALID,
				  "parameter '%s' does not apply to an export (it holds every "
				  "matching entry; narrow the filter instead)", key);
	return LS_NOTFOUND;
}

/*
 * Matching entries below S: the index's total over its watermark W (stats,
 * one bucket) minus those in [S, W), found by paging from S.  Both read
 * rows below W only, which never change while the server runs.
 */
static ls_rc count_matching(struct server *s, const struct index_query *filters, uint64_t size,
			    uint64_t *count, struct ls_err *err)
{
	struct index_query q = *filters;
	json_t *st = NULL;
	uint64_t total, wm, above = 0;
	ls_rc rc;

	*count = 0;
	if (size == 0)
		return LS_OK;
	rc = index_stats(s->index, filters, "outcome", 0, &st, err);
	if (rc != LS_OK)
		return rc;
	total = (uint64_t)json_integer_value(json_object_get(st, "total"));
	wm = (uint64_t)json_integer_value(json_object_get(st, "watermark"));
	json_decref(st);
	/* q borrows the filter strings of *filters: never released here. */
	q.order = INDEX_ASC;
	q.limit = INDEX_LIMIT_MAX;
	q.has &= ~(unsigned)(INDEX_Q_CURSOR | INDEX_Q_LIMIT | INDEX_Q_ORDER);
	q.has_after = 1;
	q.after = size - 1;
	for (;;) {
		uint64_t *idx = NULL;
		size_t n = 0, i;
		char *cursor = NULL;
		int more;

		rc = index_query_run(s->index, &q, &idx, &n, &cursor, NULL, err);
		if (rc != LS_OK)
			return rc;
		for (i = 0; i < n && idx[i] < wm; i++)
			above++;
		if (n > 0)
			q.after = idx[n - 1];
		more = cursor != NULL;
		free(idx);
		free(cursor);
		if (i < n || !more)
			break;
	}
	if (above > total)
		return ls_err_set(err, LS_CORRUPT, "index counts disagree");
	*count = total - above;
	return LS_OK;
}

void api_export(struct server *s, const struct request *q, struct reply *r)
{
	struct export_params p = { NULL };
	struct export_header h;
	struct checkpoint cp;
	struct ls_err err = { { 0 } };
	struct xstream *x = NULL;
	char vkey[NOTE_MAX_NAME + 128], *note = NULL, *filter = NULL;
	const char *ext;
	json_t *fj = NULL, *details = NULL;
	uint64_t count = 0;
	size_t flen = 0;
	ls_rc rc;

	if (api_export_is_evidence(q)) {
		api_export_evidence(s, q, r);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		reply_error(r, 503, "busy", "out of memory");
		r->retry_after = 1;
		return;
	}
	x->s = s;
	if (!api_parse_filters(q, &x->iq, export_param, &p, r)) {
		free(x);
		return;
	}
	export_format_parse(p.format, &x->fmt);
	x->iq.order = INDEX_ASC;
	x->iq.limit = INDEX_LIMIT_MAX;

	if (api_covering_checkpoint(s, log_size(s->log), &note, &x->size, r) != LS_OK)
		goto out;
	memset(&cp, 0, sizeof(cp));
	if (api_checkpoint_root(s, note, &cp) != LS_OK || cp.size != x->size) {
		reply_error(r, 500, "internal", "the latest checkpoint does not check");
		goto out;
	}
	if (!api_index_ready(s, x->size, EXPORT_INDEX_WAIT_MS, 1, r))
		goto out;
	rc = count_matching(s, &x->iq, x->size, &count, &err);
	if (rc != LS_OK) {
		api_reply_rc(s, r, rc, API_RC_READ, "counting the entries: %s",
			     err.msg[0] ? err.msg : ls_rc_name(rc));
		goto out;
	}
	if (api_tiles_reader(s, x->size, &x->tr, r) != LS_OK)
		goto out;
	fj = index_query_filters_json(&x->iq);
	if (!fj || event_canonical(fj, &filter, &flen) != LS_OK ||
	    note_verifier_format(log_verifier(s->log), vkey, sizeof(vkey)) != LS_OK)
		goto nomem;

	details = json_object();
	if (!details || json_object_set(details, "filter", fj) ||
	    json_object_set_new(details, "format",
				json_string(p.format ? p.format : "bundle")) ||
	    json_object_set_new(details, "tree_size", json_integer((json_int_t)x->size)) ||
	    json_object_set_new(details, "results", json_integer((json_int_t)count)))
		goto nomem;
	if (api_audit_read(s, q, "logseal.export", "success", details, r) != LS_OK)
		goto out;

	memset(&h, 0, sizeof(h));
	h.origin = log_origin(s->log);
	h.verifier_key = vkey;
	h.checkpoint = note;
	h.tree_size = x->size;
	memcpy(h.root, cp.root, LS_HASH_LEN);
	h.filter_json = filter;
	h.created_us = q->received_us;
	struct export_signer sg = export_log_signer(s->log);
	rc = export_begin(x->fmt, &h, x->fmt == EXPORT_BUNDLE ? &sg : NULL, xs_out, x, &x->w,
			  &err);
	if (rc != LS_OK) {
		reply_error(r, 500, "internal", "starting the export: %s",
			    err.msg[0] ? err.msg : ls_rc_name(rc));
		goto out;
	}
	switch (x->fmt) {
	case EXPORT_CSV: ext = "csv"; break;
	case EXPORT_ECS: ext = "ecs.ndjson"; break;
	case EXPORT_OCSF: ext = "ocsf.ndjson"; break;
	default: ext = "bundle.ndjson"; break;
	}
	snprintf(r->disposition, sizeof(r->disposition),
		 "attachment; filename=\"logseal-export-%llu.%s\"", (unsigned long long)x->size,
		 ext);
	r->status = 200;
	r->content_type = export_content_type(x->fmt);
	r->stream = xs_read;
	r->stream_free = xs_free;
	r->stream_ctx = x;
	x = NULL;
	goto out;
nomem:
	reply_error(r, 503, "busy", "out of memory");
	r->retry_after = 1;
out:
	xs_free(x);
	json_decref(fj);
	json_decref(details);
	free(note);
	free(filter);
}
