/*
 * api_read.c - the read side for auditors: filtered queries over the index
 * (GET /v1/events), counts for dashboards (GET /v1/events/stats), one entry
 * with its inclusion proof (GET /v1/events/{index}), consistency proofs
 * between any two tree sizes up to the signed one (GET
 * /v1/proof/consistency), and the C2SP
 * tlog paths (GET /log/checkpoint, GET /log/tile/...).  Also the helpers
 * the export (api_export.c) shares with them.
 *
 * Where entry bytes come from: the store (store/reader.h), which keeps
 * each entry once, in a sealed segment or in the write-ahead log; the
 * offset the index keeps for an entry is a hint for the latter
 * (api_read_entry(), store_reader_get()).  Entry bundles
 * (/log/tile/entries/...) are built from the store too
 * (store_reader_bundle()), up to the latest signed checkpoint, byte for
 * byte what C2SP clients expect.  Proofs always come from the hash tiles;
 * an entry not yet covered by a checkpoint gets one signed first
 * (log_checkpoint(): it writes the tiles and signs one, and does nothing
 * when the tree has not grown).
 *
 * Invariants:
 *  1. Every read is audited before any of its data leaves (fail closed):
 *     the handler computes what the reply holds, appends the read's event
 *     (api_audit_read), and replies only once it is durable.  A query
 *     (GET /v1/events) starts its event as soon as the index has located
 *     its page and reads the entries while the event is written
 *     (api_audit_read_start/finish); if an entry then fails to read, the
 *     reply is an error and a second event records the failure.  A request
 *     refused for bad parameters (400) reveals nothing and is not
 *     recorded; a 404 for an index, proof or tile is recorded (outcome
 *     "failure"), as it tells the reader something about the log.
 *  2. Entries are shown byte for byte as stored (entry_b64) next to their
 *     parsed form, and proofs are made against a checkpoint whose signed
 *     note is in the same reply (or on the client's side, for tiles).
 *  3. A query waits (bounded) for the index to cover the log's size at the
 *     time of the request, so a read right after a write sees it; the reply
 *     states the watermark it covers either way.
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "core/event.h"
#include "base/jcanon.h"
#include "store/reader.h"
#include "core/merkle.h"
#include "core/note.h"
#include "store/tiles.h"
#include "followers/cosigned.h"
#include "followers/retention.h"

#define QUERY_WAIT_MS 2000

/* ======================================================= shared helpers */

int api_parse_filters(const struct request *q, struct index_query *iq, index_param_fn extra,
		      void *ctx, struct reply *r)
{
	struct ls_err err = { { 0 } };
	ls_rc rc = LS_OK;

	index_query_init(iq);
	for (size_t i = 0; i < q->nargs && rc == LS_OK; i++) {
		const char *k = q->args[i].key, *v = q->args[i].value;

		rc = extra ? extra(ctx, k, v, &err) : LS_NOTFOUND;
		if (rc == LS_NOTFOUND)
			rc = index_query_add(iq, k, v, &err);
	}
	if (rc == LS_OK)
		return 1;
	index_query_release(iq);
	if (rc == LS_NOMEM)
		api_reply_rc(NULL, r, rc, API_RC_READ, "%s", err.msg);
	else
		reply_error(r, 400, "bad_parameter", "%s", err.msg);
	return 0;
}

static int index_failed(struct server *s, struct reply *r)
{
	const char *why = index_error(s->index);

	reply_error(r, 503, "index_failed",
		    "the query index has stopped%s%s; restarting the server catches it up from "
		    "the journal (or run `logseal reindex` with the server stopped)",
		    why ? ": " : "", why ? why : "");
	r->retry_after = 60;
	return 0;
}

int api_index_ready(struct server *s, uint64_t size, unsigned timeout_ms, int strict,
		    struct reply *r)
{
	ls_rc rc = index_wait(s->index, size, timeout_ms);

	if (rc == LS_OK || (rc == LS_BUSY && !strict))
		return 1;
	if (rc == LS_BUSY) {
		reply_error(r, 503, "index_behind",
			    "the query index covers %llu of %llu entries; retry shortly",
			    (unsigned long long)index_watermark(s->index),
			    (unsigned long long)size);
		r->retry_after = 1;
		return 0;
	}
	return index_failed(s, r);
}

int api_index_fresh(struct server *s, uint64_t size, unsigned timeout_ms, struct reply *r)
{
	ls_rc rc = index_wait_fresh(s->index, size, timeout_ms);

	if (rc == LS_OK || rc == LS_BUSY)
		return 1;
	return index_failed(s, r);
}

ls_rc api_covering_checkpoint(struct server *s, uint64_t need, char **note, uint64_t *size,
			      struct reply *r)
{
	struct ls_err err = { { 0 } };
	ls_rc rc;

	*note = NULL;
	rc = log_latest_checkpoint(s->log, note, size);
	if (rc == LS_OK && *size >= need)
		return LS_OK;
	free(*note);
	*note = NULL;
	rc = log_checkpoint(s->log, &err);
	if (rc == LS_OK)
		rc = log_latest_checkpoint(s->log, note, size);
	if (rc == LS_OK && *size >= need)
		return LS_OK;
	free(*note);
	*note = NULL;
	if (rc == LS_OK)
		rc = LS_BUSY;
	reply_error(r, 503, "checkpoint_failed",
		    "cannot sign a checkpoint covering entry %llu: %s",
		    (unsigned long long)(need ? need - 1 : 0),
		    err.msg[0] ? err.msg : ls_rc_name(rc));
	r->retry_after = 5;
	return rc;
}

ls_rc api_checkpoint_root(struct server *s, const char *note, struct checkpoint *cp)
{
	size_t text_len = 0;
	ls_rc rc;

	rc = note_open(note, strlen(note), log_verifier(s->log), 1, &text_len, NULL);
	if (rc != LS_OK)
		return rc;
	return checkpoint_parse(note, text_len, cp, NULL);
}

ls_rc api_read_entry(struct server *s, struct store_pass *pass, struct tiles_reader *tr,
		     uint64_t index, uint64_t off, uint8_t **data, size_t *len,
		     struct ls_err *err)
{
	struct store_pass one = { 0 };

	/* The store finds the entry without the hint too (INDEX_NO_OFFSET is
	 * the store's "no hint", UINT64_MAX); tr is not needed for it. */
	(void)tr;
	*data = NULL;
	*len = 0;
	if (!s->jr)
		return ls_err_set(err, LS_NOTFOUND, "no store reader");
	return store_reader_get(s->jr, pass ? pass : &one, index, off, data, len, err);
}

ls_rc api_tiles_reader(struct server *s, uint64_t size, struct tiles_reader **tr,
		       struct reply *r)
{
	char logdir[PATH_MAX];
	ls_rc rc;

	*tr = NULL;
	if (snprintf(logdir, sizeof(logdir), "%s/log", s->dir) >= (int)sizeof(logdir))
		rc = LS_LIMIT;
	else
		rc = tiles_reader_open(logdir, size, tr);
	if (rc != LS_OK)
		api_reply_rc(s, r, rc, API_RC_READ, "cannot open the tiles (%s)", ls_rc_name(rc));
	return rc;
}

json_t *api_b64_json(const void *data, size_t n)
{
	char *text = malloc(LS_B64_LEN(n) + 1);
	json_t *j;

	if (!text)
		return NULL;
	ls_b64_encode(data, n, text, LS_B64_LEN(n) + 1);
	j = json_string(text);
	free(text);
	return j;
}

/* The stored entry as JSON, or null for bytes that are not a JSON object
 * (entry_b64 shows those; index.h invariant 4 says they may exist). */
/* May data go into a reply as it is (one JSON object)? */
static bool entry_is_object(const uint8_t *data, size_t len)
{
	return jcanon_is_object((const char *)data, len, 16 * EVENT_MAX_DEPTH);
}

static json_t *entry_json(const uint8_t *data, size_t len)
{
	json_t *o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);

	if (o && json_is_object(o))
		return o;
	json_decref(o);
	return json_null();
}

static void reply_read_error(struct reply *r, ls_rc rc, const struct ls_err *err,
			     const char *what)
{
	api_reply_rc(NULL, r, rc, API_RC_READ, "%s: %s", what,
		     err && err->msg[0] ? err->msg : ls_rc_name(rc));
}

/* Refuse every parameter (for endpoints that take none). */
static int no_params(const struct request *q, struct reply *r)
{
	char shown[48];
	size_t i;

	if (q->nargs == 0)
		return 1;
	for (i = 0; q->args[0].key[i] && i + 1 < sizeof(shown) && i < 40; i++) {
		char c = q->args[0].key[i];
		shown[i] = c > 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?';
	}
	shown[i] = 0;
	reply_error(r, 400, "bad_parameter", "unknown parameter '%s': this endpoint takes none",
		    shown);
	return 0;
}

/* ======================================================= GET /v1/events */

void api_events_query(struct server *s, const struct request *q, struct reply *r)
{
	struct index_query iq;
	struct ls_err err = { { 0 } };
	struct tiles_reader *tr = NULL;
	struct store_pass pass = { 0 };
	uint64_t *idx = NULL, *offs = NULL, wm = 0;
	char *cursor = NULL, *note = NULL, num[64];
	size_t n = 0;
	struct jcanon_buf out = { .max = SIZE_MAX };
	struct api_audit audit = { .started = 0 };
	json_t *details = NULL;
	ls_rc rc;

	if (!api_parse_filters(q, &iq, NULL, NULL, r))
		return;
	if (!api_index_fresh(s, api_query_horizon(s, iq.has & INDEX_Q_SERVICE ? iq.service : NULL),
			     QUERY_WAIT_MS, r))
		goto out;
	rc = index_query_locate(s->index, &iq, &idx, &offs, &n, &cursor, &wm, &err);
	if (rc == LS_INVALID || rc == LS_LIMIT) {
		reply_error(r, 400, "bad_parameter", "%s", err.msg);
		goto out;
	}
	if (rc != LS_OK) {
		reply_read_error(r, rc, &err, "query");
		goto out;
	}
	/* The read's event says what was asked and how many results it has;
	 * it is written while the entries are read, and nothing is sent
	 * before it is durable. */
	details = json_object();
	if (!details ||
	    json_object_set_new(details, "filter", index_query_filters_json(&iq)) ||
	    json_object_set_new(details, "order",
				json_string(iq.order == INDEX_ASC ? "asc" : "desc")) ||
	    json_object_set_new(details, "cursor", json_boolean(iq.has & INDEX_Q_CURSOR)) ||
	    json_object_set_new(details, "results", json_integer((json_int_t)n)) ||
	    json_object_set_new(details, "watermark", json_integer((json_int_t)wm)))
		goto nomem;
	api_audit_read_start(s, q, "logseal.events.query", "success", details, &audit);
	/* The reply is written as text: each stored entry is canonical JSON
	 * already, and parsing it only to print it again cost more than the
	 * query.  What does not parse as an object goes out as null. */
	jcanon_buf_put(&out, "{\"events\":[", 11);
	for (size_t i = 0; i < n; i++) {
		uint8_t *data = NULL;
		size_t len = 0;

		rc = api_read_entry(s, &pass, tr, idx[i], offs[i], &data, &len, &err);
		if (rc != LS_OK) {
			reply_read_error(r, rc, &err, "reading an entry");
			goto out;
		}
		snprintf(num, sizeof(num), "%s{\"index\":%llu,\"entry\":", i ? "," : "",
			 (unsigned long long)idx[i]);
		jcanon_buf_put(&out, num, strlen(num));
		if (entry_is_object(data, len))
			jcanon_buf_put(&out, (const char *)data, len);
		else
			jcanon_buf_put(&out, "null", 4);
		jcanon_buf_put(&out, "}", 1);
		free(data);
	}
	jcanon_buf_put(&out, "],\"next_cursor\":", 16);
	if (cursor)
		jcanon_buf_str(&out, cursor, strlen(cursor));
	else
		jcanon_buf_put(&out, "null", 4);
	snprintf(num, sizeof(num), ",\"watermark\":%llu}\n", (unsigned long long)wm);
	jcanon_buf_put(&out, num, strlen(num));
	if (out.nomem || out.over)
		goto nomem;
	if (api_audit_read_finish(s, &audit, r) != LS_OK)
		goto out;
	r->status = 200;
	r->raw = out.p;
	r->raw_len = out.len;
	r->content_type = "application/json";
	out.p = NULL;
	goto out;
nomem:
	reply_read_error(r, LS_NOMEM, NULL, "");
out:
	if (audit.started) {
		/* The reply is an error after all: its event, already on its
		 * way, says success, so a second one says it failed. */
		api_audit_read_finish(s, &audit, NULL);
		api_audit_read_failed(s, q, "logseal.events.query", details, r->status);
	}
	free(out.p);
	json_decref(details);
	tiles_reader_free(tr);
	free(idx);
	free(offs);
	free(cursor);
	free(note);
	index_query_release(&iq);
}

/* ======================================================= GET /v1/events/stats */

struct stats_params {
	const char *group_by;
	uint64_t bucket;
	int have_group, have_bucket;
};

static ls_rc stats_param(void *ctx, const char *key, const char *value, struct ls_err *err)
{
	struct stats_params *p = ctx;

	if (!strcmp(key, "group_by")) {
		if (p->have_group)
			return ls_err_set(err, LS_INVALID, "parameter 'group_by' given more than once");
		if (!strcmp(value, "actor"))
			return ls_err_set(err, LS_INVALID,
					  "parameter 'group_by': actors are stored only as keyed "
					  "hashes (blind index), so stats cannot group by them; "
					  "filter with actor= instead");
		if (strcmp(value, "outcome") && strcmp(value, "action") && strcmp(value, "service"))
			return ls_err_set(err, LS_INVALID,
					  "parameter 'group_by': must be outcome, action or service");
		p->group_by = value;
		p->have_group = 1;
		return LS_OK;
	}
	if (!strcmp(key, "bucket")) {
		if (p->have_bucket)
			return ls_err_set(err, LS_INVALID, "parameter 'bucket' given more than once");
		/* 100 years: beyond that one bucket (0) says the same */
		if (!ls_parse_u64(value, 0, UINT64_MAX, &p->bucket) || p->bucket > 3162240000ull)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'bucket': seconds per bucket, an integer from 0 "
					  "(one bucket) to 3162240000");
		p->have_bucket = 1;
		return LS_OK;
	}
	if (!strcmp(key, "order") || !strcmp(key, "limit") || !strcmp(key, "cursor"))
		return ls_err_set(err, LS_INVALID, "parameter '%s' does not apply to stats", key);
	return LS_NOTFOUND;
}

void api_events_stats(struct server *s, const struct request *q, struct reply *r)
{
	struct stats_params p = { .group_by = "outcome" };
	struct index_query iq;
	struct ls_err err = { { 0 } };
	json_t *out = NULL, *details = NULL;
	ls_rc rc;

	if (!api_parse_filters(q, &iq, stats_param, &p, r))
		return;
	if (!api_index_ready(s, api_query_horizon(s, iq.has & INDEX_Q_SERVICE ? iq.service : NULL),
			     QUERY_WAIT_MS, 0, r))
		goto out;
	rc = index_stats(s->index, &iq, p.group_by, p.bucket, &out, &err);
	if (rc == LS_INVALID || rc == LS_LIMIT) {
		reply_error(r, 400, rc == LS_LIMIT ? "too_many_buckets" : "bad_parameter", "%s",
			    err.msg);
		goto out;
	}
	if (rc != LS_OK) {
		reply_read_error(r, rc, &err, "stats");
		goto out;
	}
	details = json_object();
	if (!details ||
	    json_object_set_new(details, "filter", index_query_filters_json(&iq)) ||
	    json_object_set_new(details, "group_by", json_string(p.group_by)) ||
	    json_object_set_new(details, "bucket", json_integer((json_int_t)p.bucket)) ||
	    json_object_set(details, "results", json_object_get(out, "total")) ||
	    json_object_set(details, "watermark", json_object_get(out, "watermark"))) {
		reply_read_error(r, LS_NOMEM, NULL, "");
		goto out;
	}
	api_reply_audited(s, q, "logseal.events.stats", details, &out, r);
out:
	json_decref(out);
	json_decref(details);
	index_query_release(&iq);
}

/* ======================================================= GET /v1/events/{index} */

static void reply_absent(struct server *s, const struct request *q, const char *action,
			 json_t *details, struct reply *r, int status, const char *code,
			 const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* A 404 or 410 tells the reader something (how far the log goes, what
 * retention removed): recorded too. */
static void reply_absent(struct server *s, const struct request *q, const char *action,
			 json_t *details, struct reply *r, int status, const char *code,
			 const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(details, "status", json_integer(status));
	if (api_audit_read(s, q, action, "failure", details, r) != LS_OK)
		return;
	reply_error(r, status, code, "%s", msg);
}

#define reply_not_found(s, q, action, details, r, ...) \
	reply_absent(s, q, action, details, r, 404, "not_found", __VA_ARGS__)

/* The purged range of the archive manifest holding index: 1 and its
 * purge event's index in *event, or 0 (not purged, or no manifest). */
static int purged_by_retention(struct server *s, uint64_t index, uint64_t *event)
{
	struct retention_archived *v = NULL;
	struct ls_err err = { { 0 } };
	size_t n = 0;
	int found = 0;

	if (retention_manifest_list(s->dir, &v, &n, &err) != LS_OK)
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		if (v[i].purged && index >= v[i].first && index <= v[i].last) {
			*event = v[i].purge_event;
			found = 1;
		}
	}
	free(v);
	return found;
}

void api_events_get(struct server *s, const struct request *q, struct reply *r)
{
	const char *tail = q->tail;
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN], leaf[LS_HASH_LEN];
	struct ls_err err = { { 0 } };
	struct tiles_reader *tr = NULL;
	uint64_t index, size, covered = 0, off = INDEX_NO_OFFSET, purge_event = 0;
	uint8_t *data = NULL;
	size_t len = 0, np = 0;
	char *note = NULL;
	json_t *body = NULL, *arr = NULL, *details = NULL;
	ls_rc rc;

	if (!no_params(q, r))
		return;
	if (!ls_parse_u64(tail, 0, UINT64_MAX, &index)) {
		reply_error(r, 400, "bad_index",
			    "expected /v1/events/{index} with a decimal leaf index");
		return;
	}
	details = json_object();
	if (!details || json_object_set_new(details, "index", json_integer((json_int_t)index)))
		goto nomem;
	size = log_size(s->log);
	if (index >= size) {
		json_object_set_new(details, "tree_size", json_integer((json_int_t)size));
		reply_not_found(s, q, "logseal.events.get", details, r,
				"no entry %llu: the log holds %llu %s",
				(unsigned long long)index, (unsigned long long)size,
				LS_PL(size, "entry", "entries"));
		goto out;
	}
	if (api_covering_checkpoint(s, index + 1, &note, &covered, r) != LS_OK)
		goto out;
	if (api_tiles_reader(s, covered, &tr, r) != LS_OK)
		goto out;
	if (s->jr && index_entry_offset(s->index, index, &off, &err) != LS_OK)
		off = INDEX_NO_OFFSET;
	rc = api_read_entry(s, NULL, tr, index, off, &data, &len, &err);
	if (rc == LS_OK)
		rc = merkle_inclusion_proof(tiles_node_hash, tr, index, covered, proof, &np);
	if (rc == LS_NOTFOUND && purged_by_retention(s, index, &purge_event)) {
		json_object_set_new(details, "purge_event", json_integer((json_int_t)purge_event));
		reply_absent(s, q, "logseal.events.get", details, r, 410, "purged",
			     "entry %llu was purged by retention policy (event #%llu records "
			     "it); its leaf hash stays in the tree, so proofs of other entries "
			     "still verify",
			     (unsigned long long)index, (unsigned long long)purge_event);
		goto out;
	}
	if (rc != LS_OK) {
		reply_read_error(r, rc, &err, "reading the entry and its proof");
		goto out;
	}
	merkle_leaf_hash(data, len, leaf);
	arr = json_array();
	if (!arr)
		goto nomem;
	for (size_t i = 0; i < np; i++)
		if (json_array_append_new(arr, api_b64_json(proof[i], LS_HASH_LEN)))
			goto nomem;
	body = json_object();
	if (!body || json_object_set_new(body, "index", json_integer((json_int_t)index)) ||
	    json_object_set_new(body, "entry", entry_json(data, len)) ||
	    json_object_set_new(body, "entry_b64", api_b64_json(data, len)) ||
	    json_object_set_new(body, "leaf_hash", api_b64_json(leaf, LS_HASH_LEN)) ||
	    json_object_set_new(body, "tree_size", json_integer((json_int_t)covered)) ||
	    json_object_set_new(body, "proof", arr))
		goto nomem;
	arr = NULL;
	if (json_object_set_new(body, "checkpoint", json_string(note)) ||
	    json_object_set_new(details, "tree_size", json_integer((json_int_t)covered)) ||
	    json_object_set_new(details, "results", json_integer(1)))
		goto nomem;
	api_reply_audited(s, q, "logseal.events.get", details, &body, r);
	goto out;
nomem:
	reply_read_error(r, LS_NOMEM, NULL, "");
out:
	json_decref(body);
	json_decref(arr);
	json_decref(details);
	tiles_reader_free(tr);
	free(data);
	free(note);
}

/* ======================================================= GET /v1/proof/consistency */

/*
 * Any old <= new <= the latest signed size (issue 17): clients hold
 * checkpoints of any size (a witness's, an old copy), so the proof is
 * computed from the tiles of the latest checkpoint, whose complete subtrees
 * are those of every smaller tree.  A new beyond the signed size but within
 * the log gets a checkpoint signed first (api_covering_checkpoint).  The
 * reply gives both roots, computed from the same tiles, and the signed
 * (cosigned when witnesses cosigned it) notes of old and new when the log
 * signed checkpoints of those sizes, null otherwise; a client checks the
 * roots it holds against them, not the other way round.
 */
static json_t *note_or_null(struct server *s, uint64_t size)
{
	char *note = NULL;
	json_t *j;

	if (cosigned_read(s->dir, size, &note, NULL) != LS_OK)
		return json_null();
	j = json_string(note);
	free(note);
	return j;
}

void api_proof_consistency(struct server *s, const struct request *q, struct reply *r)
{
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN], ra[LS_HASH_LEN], rb[LS_HASH_LEN];
	const char *olds = NULL, *news = NULL;
	struct tiles_reader *tr = NULL;
	uint64_t a, b, covered = 0;
	char *latest = NULL;
	size_t np = 0;
	json_t *body = NULL, *arr = NULL, *details = NULL;
	ls_rc rc;

	for (size_t i = 0; i < q->nargs; i++) {
		const char **slot = !strcmp(q->args[i].key, "old") ? &olds :
				    !strcmp(q->args[i].key, "new") ? &news : NULL;
		if (!slot || *slot) {
			reply_error(r, 400, "bad_parameter",
				    "this endpoint takes exactly the parameters old and new, once each");
			return;
		}
		*slot = q->args[i].value;
	}
	if (!olds || !news || !ls_parse_u64(olds, 0, UINT64_MAX, &a) || !ls_parse_u64(news, 0, UINT64_MAX, &b)) {
		reply_error(r, 400, "bad_parameter",
			    "old and new must both be given as decimal tree sizes");
		return;
	}
	if (a > b) {
		reply_error(r, 400, "bad_parameter", "old (%llu) is larger than new (%llu)",
			    (unsigned long long)a, (unsigned long long)b);
		return;
	}
	details = json_object();
	if (!details || json_object_set_new(details, "old", json_integer((json_int_t)a)) ||
	    json_object_set_new(details, "new", json_integer((json_int_t)b)))
		goto nomem;
	if (b > log_size(s->log)) {
		json_object_set_new(details, "tree_size", json_integer((json_int_t)log_size(s->log)));
		reply_not_found(s, q, "logseal.proof.consistency", details, r,
				"the log holds %llu %s: no tree of size %llu",
				(unsigned long long)log_size(s->log),
				LS_PL(log_size(s->log), "entry", "entries"), (unsigned long long)b);
		goto out;
	}
	if (api_covering_checkpoint(s, b, &latest, &covered, r) != LS_OK)
		goto out;
	if (api_tiles_reader(s, covered, &tr, r) != LS_OK)
		goto out;
	rc = merkle_root(tiles_node_hash, tr, a, ra);
	if (rc == LS_OK)
		rc = merkle_root(tiles_node_hash, tr, b, rb);
	/* The empty tree is a prefix of every tree: its proof is empty, as is
	 * the proof between a size and itself. */
	if (rc == LS_OK && a > 0 && a < b)
		rc = merkle_consistency_proof(tiles_node_hash, tr, a, b, proof, &np);
	if (rc != LS_OK) {
		reply_read_error(r, rc, NULL, "computing the proof from the tiles");
		goto out;
	}
	arr = json_array();
	if (!arr)
		goto nomem;
	for (size_t i = 0; i < np; i++)
		if (json_array_append_new(arr, api_b64_json(proof[i], LS_HASH_LEN)))
			goto nomem;
	body = json_object();
	if (!body || json_object_set_new(body, "old", json_integer((json_int_t)a)) ||
	    json_object_set_new(body, "new", json_integer((json_int_t)b)) ||
	    json_object_set_new(body, "proof", arr))
		goto nomem;
	arr = NULL;
	/* Not in the names to keep, but what a client needs to check the proof
	 * without having kept the notes itself. */
	if (json_object_set_new(body, "old_root", api_b64_json(ra, LS_HASH_LEN)) ||
	    json_object_set_new(body, "new_root", api_b64_json(rb, LS_HASH_LEN)) ||
	    json_object_set_new(body, "old_checkpoint", note_or_null(s, a)) ||
	    json_object_set_new(body, "new_checkpoint", note_or_null(s, b)) ||
	    json_object_set_new(body, "signed_size", json_integer((json_int_t)covered)) ||
	    json_object_set_new(details, "results", json_integer(1)))
		goto nomem;
	api_reply_audited(s, q, "logseal.proof.consistency", details, &body, r);
	goto out;
nomem:
	reply_read_error(r, LS_NOMEM, NULL, "");
out:
	json_decref(body);
	json_decref(arr);
	json_decref(details);
	tiles_reader_free(tr);
	free(latest);
}

/* ======================================================= C2SP: /log/checkpoint, /log/tile/ */

void api_log_checkpoint(struct server *s, const struct request *q, struct reply *r)
{
	json_t *details;
	uint64_t size = 0;
	char *note = NULL;

	if (!no_params(q, r))
		return;
	if (log_latest_checkpoint(s->log, &note, &size) != LS_OK || !note) {
		free(note);
		reply_error(r, 503, "busy", "no checkpoint available yet");
		r->retry_after = 1;
		return;
	}
	details = json_object();
	if (!details || json_object_set_new(details, "tree_size", json_integer((json_int_t)size))) {
		json_decref(details);
		free(note);
		reply_read_error(r, LS_NOMEM, NULL, "");
		return;
	}
	if (api_reply_audited_raw(s, q, "logseal.log.checkpoint", details, note, strlen(note),
				  "text/plain; charset=utf-8", r) != LS_OK)
		free(note);
	json_decref(details);
}

/*
 * Tiles are what tlog clients fetch by the hundred: the audit event is kept
 * small (the path, which api_log_internal adds anyway, and the byte count).
 * A tile's bytes never change once written (C2SP tlog-tiles), so clients may
 * cache it; "private" because the log is for auditors only.
 */
void api_log_tile(struct server *s, const struct request *q, struct reply *r)
{
	/* relative to the log directory: "tile/..." */
	const char *tail = q->path + strlen("/log/");
	struct ls_err err = { { 0 } };
	char logdir[PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t n;
	unsigned w;
	int level;
	json_t *details = NULL;
	ls_rc rc;

	if (!no_params(q, r))
		return;
	if (tiles_path_parse(tail, &level, &n, &w) != LS_OK) {
		reply_error(r, 404, "not_found",
			    "not a C2SP tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])");
		return;
	}
	details = json_object();
	if (!details)
		goto nomem;
	snprintf(logdir, sizeof(logdir), "%s/log", s->dir);
	if (level >= 0) {
		rc = tiles_read_file(logdir, level, n, w, &data, &len, &err);
	} else {
		/* Entry bundles are built from the store, up to the latest
		 * signed checkpoint as when they were files. */
		char *note = NULL;
		uint64_t size = 0;

		rc = log_latest_checkpoint(s->log, &note, &size);
		free(note);
		if (rc == LS_OK && (n > size / 256 || n * 256 + w > size))
			rc = LS_NOTFOUND;
		if (rc == LS_OK)
			rc = s->jr ? store_reader_bundle(s->jr, n, w, &data, &len, &err)
				   : LS_NOTFOUND;
	}
	if (rc == LS_NOTFOUND) {
		reply_not_found(s, q, "logseal.log.tile", details, r, "no such tile (yet)");
		goto out;
	}
	if (rc != LS_OK) {
		reply_read_error(r, rc, &err, "reading the tile");
		goto out;
	}
	if (json_object_set_new(details, "bytes", json_integer((json_int_t)len)) ||
	    json_object_set_new(details, "results", json_integer(1)))
		goto nomem;
	if (api_reply_audited_raw(s, q, "logseal.log.tile", details, data, len,
				  "application/octet-stream", r) != LS_OK)
		goto out;
	data = NULL;
	r->cache_control = "private, max-age=31536000, immutable";
	goto out;
nomem:
	reply_read_error(r, LS_NOMEM, NULL, "");
out:
	json_decref(details);
	free(data);
}
