/*
 * api_events.c - POST /v1/events and POST /v1/k8s/audit: parse a batch,
 * drop the events whose idempotency key was already accepted, append the
 * rest as one durable batch, and say which position got which leaf index.
 *
 * Also the idempotency map's life around the server: at start the snapshot
 * (DIR/state/idem.snap, docs/FORMAT.md) and the journal after it rebuild
 * the map, so duplicates are recognised across restarts; a thread and the
 * stop write the snapshot again.
 *
 * Partial batches (?partial=1, a writer token made partial, and the
 * Kubernetes webhook unless ?partial=0): the body is taken event by event
 * (event_partial.c); the valid events are appended, and each refused item
 * is appended too, as an event "logseal.ingest.rejected" of service
 * "logseal" naming the writer, the error, SHA-256 of the item as sent and a
 * bounded excerpt (REJECT_EXCERPT bytes), so that nothing a writer sent
 * disappears without a trace.  The reply is 200 with the refused positions
 * in "rejected" (docs/API.md says why not 207).  An event for a service
 * the writer is not bound to is not "malformed": it refuses the request
 * (403) in both modes.
 *
 * Invariants:
 *  1. A batch is all-or-nothing: a parse error appends nothing, and the
 *     new events of a batch go to the log in one log_append_keyed() call.
 *     In a partial batch the accepted events and the records of the
 *     refused ones go in that one call: both durable, or neither.
 *  2. A key is appended at most once (idem.h), also when it occurs twice in
 *     one batch: the later occurrence is a duplicate of the first.
 *  3. The reply is sent only after log_append_keyed() returned, i.e. after the
 *     entries are durable (DESIGN rule 3).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"
#include "server/auth.h"
#include "server/idem.h"
#include "server/metrics.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "base/jcanon.h"
#include "core/event_policy.h"
#include "store/reader.h"
#include "store/keys.h"
#include "followers/upload.h"

#define IDEM_WAIT_MS 10000
#define REJECT_EXCERPT 256	/* input bytes of a refused item kept in its record */
#define REJECTED_ACTION "logseal.ingest.rejected"

_Static_assert(IDEM_KEY_LEN == LOG_KEY_LEN, "the log carries the idempotency keys as they are");

struct keyed {
	struct idem_key key;	/* scoped: writer, service, id (idem.h) */
	size_t pos;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = memcmp(x->key.b, y->key.b, IDEM_KEY_LEN);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The decimal digits of v, written backwards ending at end: returns the
 * first. */
static char *put_u64(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static void reply_parse_error(struct server *s, const struct request *q, struct reply *r,
			      ls_rc rc, const struct event_error *e)
{
	unsigned status = 400;
	const char *code = "invalid_event";
	json_t *err;

	switch (rc) {
	case LS_INVALID:
		if (e->code[0])
			code = e->code; /* e.g. reserved_by_server */
		break;
	case LS_LIMIT:
		status = 413;
		code = "event_too_large";
		break;
	case LS_DENIED:
		status = 403;
		code = "forbidden";
		break;
	default:
		reply_append_error(s, r, rc, NULL);
		return;
	}
	if (e->field[0])
		reply_error(r, status, code, "event %zu: field %s: %s", e->position, e->field,
			    e->reason);
	else
		reply_error(r, status, code, "event %zu: %s", e->position, e->reason);
	err = json_object_get(r->body, "error");
	json_object_set_new(err, "position", json_integer((json_int_t)e->position));
	if (e->field[0] && json_object_set_new(err, "field", json_string(e->field)) < 0)
		json_object_del(err, "field");
	if (rc == LS_DENIED) {
		char reason[512];
		snprintf(reason, sizeof(reason), "event %zu: field %s: %s", e->position,
			 e->field, e->reason);
		api_log_denial(s, q, 403, q->who->id, reason);
	}
}

/*
 * The common path of both endpoints once the body is a batch.  dup_of[i] is
 * the position whose index position i reuses (i itself when i is new), or
 * SIZE_MAX when i repeats a key accepted by an earlier request.
 */
/*
 * Back-pressure for search: when the index's extractor (index.h) is more
 * than s->max_fresh_lag entries behind the log because it gets too little
 * CPU, a batch waits for it (up to INGEST_FRESH_WAIT_MS, then 503 with
 * Retry-After) rather than let acknowledged events go unsearchable for
 * longer and longer.  A waiting worker holds its connection, which slows
 * the client without a retry loop.  Not when the tail is full (the SQLite
 * writer is the bound then: ingest does not wait for it) or the index has
 * failed (the journal, not the index, is what ingest answers for).
 */
#define INGEST_FRESH_WAIT_MS 5000

int api_ingest_paced(struct server *s, struct reply *r)
{
	uint64_t size = log_size(s->log);

	/* The object store's backlog past its bound (upload.h): refuse rather
	 * than fill the disk with what cannot go up. */
	if (upload_over_backlog(s->upload)) {
		reply_error(r, 503, "object_store_backlog",
			    "the object store is behind (backlog past its bound); retry later");
		r->retry_after = 5;
		return 0;
	}
	if (!s->index || !s->max_fresh_lag || size <= s->max_fresh_lag ||
	    index_wait_extracted(s->index, size - s->max_fresh_lag, INGEST_FRESH_WAIT_MS) != LS_BUSY)
		return 1;
	reply_error(r, 503, "index_behind",
		    "more than %llu accepted events are not searchable yet; retry shortly",
		    (unsigned long long)s->max_fresh_lag);
	r->retry_after = 1;
	return 0;
}

/* What an all-or-nothing refusal would say of item rj: code and status. */
static const char *reject_code(const struct event_reject *rj)
{
	if (rj->rc == LS_LIMIT)
		return "event_too_large";
	if (rj->rc == LS_DENIED)
		return "forbidden";
	return rj->e.code[0] ? rj->e.code : "invalid_event";
}

static const char *reject_message(const struct event_reject *rj, char *buf, size_t cap)
{
	if (rj->e.field[0])
		snprintf(buf, cap, "field %s: %s", rj->e.field, rj->e.reason);
	else
		snprintf(buf, cap, "%s", rj->e.reason);
	return buf;
}

/* In a refused item parsed as JSON: every member, at any depth, whose key
 * the policy redacts gets the value "[REDACTED]", so the record's excerpt
 * does not carry a secret the event would not have carried.  Returns how
 * many were replaced, -1 when out of memory. */
static int redact_members(const struct event_policy *p, json_t *v, unsigned depth)
{
	const char *key;
	json_t *x;
	size_t i;
	int n = 0, r;

	if (depth > 64)
		return 0;
	if (json_is_object(v)) {
		json_object_foreach(v, key, x) {
			if (event_policy_key_redacted(p, key, strlen(key))) {
				if (json_object_set_new(v, key, json_string("[REDACTED]")))
					return -1;
				n++;
			} else if ((r = redact_members(p, x, depth + 1)) < 0) {
				return -1;
			} else {
				n += r;
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if ((r = redact_members(p, x, depth + 1)) < 0)
				return -1;
			n += r;
		}
	}
	return n;
}

/* The excerpt of a refused item into ex: of the item with the policy's
 * names redacted when it is JSON, else of its bytes as sent.  Returns 1
 * when cut, -1 when out of memory. */
static int reject_excerpt(const struct event_policy *p, const struct event_reject *rj, char *ex,
			  size_t cap, int *redacted)
{
	json_t *v = p ? json_loadb(rj->bytes, rj->len, JSON_DECODE_ANY, NULL) : NULL;
	char *t;
	int n, cut;

	*redacted = 0;
	if (!v)
		return event_excerpt(rj->bytes, rj->len, REJECT_EXCERPT, ex, cap);
	n = redact_members(p, v, 0);
	if (n <= 0) {
		json_decref(v);
		if (n < 0)
			return -1;
		return event_excerpt(rj->bytes, rj->len, REJECT_EXCERPT, ex, cap);
	}
	t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	if (!t)
		return -1;
	*redacted = n;
	cut = event_excerpt(t, strlen(t), REJECT_EXCERPT, ex, cap);
	free(t);
	return cut;
}

/* The record of one refused item, as an entry in *it. */
static ls_rc reject_event(const struct request *q, const struct event_policy *policy,
			  const struct event_reject *rj, const char *format, struct event_item *it)
{
	struct event_ctx ctx = {
		.writer = NULL,
		.remote_ip = q->remote_ip,
		.bound_service = NULL,
		.received_us = q->received_us,
	};
	uint8_t h[LS_HASH_LEN];
	char hex[2 * LS_HASH_LEN + 1], ex[4 * REJECT_EXCERPT + 1], msg[420];
	int cut, nred;
	json_t *d;
	ls_rc rc;

	ls_sha256(rj->bytes, rj->len, NULL, 0, h);
	ls_hex(h, sizeof(h), hex);
	cut = reject_excerpt(policy, rj, ex, sizeof(ex), &nred);
	if (cut < 0)
		return LS_NOMEM;
	d = json_object();
	if (!d)
		return LS_NOMEM;
	json_object_set_new(d, "writer", json_string(q->who->id));
	json_object_set_new(d, "method", json_string(q->method));
	json_object_set_new(d, "path", json_string(q->path));
	json_object_set_new(d, "format", json_string(format));
	json_object_set_new(d, "position", json_integer((json_int_t)rj->e.position));
	if (rj->e.field[0])
		json_object_set_new(d, "field", json_string(rj->e.field));
	json_object_set_new(d, "code", json_string(reject_code(rj)));
	/* The messages quote the client's field names and values; one that
	 * is not UTF-8 leaves the key out rather than the record. */
	if (json_object_set_new(d, "error", json_string(reject_message(rj, msg, sizeof(msg)))))
		json_object_set_new(d, "error", json_string(reject_code(rj)));
	json_object_set_new(d, "sha256", json_string(hex));
	json_object_set_new(d, "bytes", json_integer((json_int_t)rj->len));
	json_object_set_new(d, "excerpt", json_string(ex));
	if (cut)
		json_object_set_new(d, "excerpt_truncated", json_true());
	if (nred)
		json_object_set_new(d, "excerpt_redacted", json_integer(nred));
	rc = event_internal(REJECTED_ACTION, q->who->id, q->remote_ip, "failure", d, &ctx, it);
	json_decref(d);
	return rc;
}

/* "rejected":[...] of a partial reply, as text; NULL when out of memory. */
static char *rejected_json(const struct event_partial *p, const int64_t *ridx)
{
	json_t *a = json_array();
	char msg[420], *text;

	for (size_t k = 0; a && k < p->nrej; k++) {
		const struct event_reject *rj = &p->rej[k];
		json_t *o = json_object();

		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
		json_object_set_new(o, "position", json_integer((json_int_t)rj->e.position));
		if (rj->e.field[0])
			json_object_set_new(o, "field", json_string(rj->e.field));
		json_object_set_new(o, "code", json_string(reject_code(rj)));
		if (json_object_set_new(o, "message",
					json_string(reject_message(rj, msg, sizeof(msg)))))
			json_object_set_new(o, "message", json_string(reject_code(rj)));
		json_object_set_new(o, "index", json_integer((json_int_t)ridx[k]));
	}
	text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

/* p: a partial batch (b is then &p->ok), else NULL. */
static void ingest(struct server *s, const struct request *q, struct reply *r,
		   struct event_batch *b, const struct event_partial *p, const char *format)
{
	size_t n = b->n, nk = 0, nu = 0, m = 0, nrej = p ? p->nrej : 0;
	struct event_item *rj = NULL;
	int64_t *ridx = NULL, *bypos = NULL;
	struct keyed *kv = NULL;
	struct idem_key *ukeys = NULL;
	int64_t *found = NULL, *idx = NULL;
	uint64_t *uidx = NULL, *lidx = NULL, end = 0;
	size_t *dup_of = NULL, *upos = NULL;
	struct iovec *iov = NULL;
	uint8_t (*lkeys)[LOG_KEY_LEN] = NULL;
	struct ls_err err = { { 0 } };
	ls_rc rc;

	if (!api_ingest_paced(s, r))
		return;
	kv = calloc(n ? n : 1, sizeof(*kv));
	ukeys = calloc(n ? n : 1, sizeof(*ukeys));
	found = calloc(n ? n : 1, sizeof(*found));
	idx = calloc(n ? n : 1, sizeof(*idx));
	uidx = calloc(n ? n : 1, sizeof(*uidx));
	dup_of = calloc(n ? n : 1, sizeof(*dup_of));
	upos = calloc(n ? n : 1, sizeof(*upos));
	iov = calloc(n + nrej ? n + nrej : 1, sizeof(*iov));
	rj = calloc(nrej ? nrej : 1, sizeof(*rj));
	ridx = calloc(nrej ? nrej : 1, sizeof(*ridx));
	/* The records of refused items carry no key (all zero). */
	lidx = calloc(n + nrej ? n + nrej : 1, sizeof(*lidx));
	lkeys = calloc(n + nrej ? n + nrej : 1, sizeof(*lkeys));
	if (!kv || !ukeys || !found || !idx || !uidx || !dup_of || !upos || !iov || !rj || !ridx ||
	    !lidx || !lkeys) {
		reply_append_error(s, r, LS_NOMEM, NULL);
		goto out;
	}
	for (size_t k = 0; k < nrej; k++) {
		rc = reject_event(q, s->policy, &p->rej[k], format, &rj[k]);
		if (rc != LS_OK) {
			reply_append_error(s, r, rc, NULL);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		dup_of[i] = i;
		if (!b->items[i].key)
			continue;
		/* Scoped by the token and the service: another writer's id
		 * is another key, so no writer can make an event of someone
		 * else's look like a retry and be dropped. */
		rc = idem_key_of(s->idem, q->who->id, b->items[i].key_service, b->items[i].key,
				 &kv[nk].key);
		if (rc != LS_OK) {
			reply_append_error(s, r, rc, NULL);
			goto out;
		}
		kv[nk++].pos = i;
	}
	/* Repeats inside the batch: sorted by (key, position) the first of each
	 * run is the one that counts. */
	qsort(kv, nk, sizeof(*kv), keyed_cmp);
	for (size_t i = 0; i < nk; i++) {
		if (i > 0 && memcmp(kv[i].key.b, kv[i - 1].key.b, IDEM_KEY_LEN) == 0) {
			dup_of[kv[i].pos] = dup_of[kv[i - 1].pos];
			continue;
		}
		upos[nu] = kv[i].pos;
		ukeys[nu++] = kv[i].key;
	}
	rc = idem_reserve(s->idem, ukeys, nu, log_size(s->log), q->received_us, found,
			  IDEM_WAIT_MS);
	if (rc != LS_OK) {
		reply_append_error(s, r, rc, NULL);
		goto out;
	}
	for (size_t u = 0; u < nu; u++)
		if (found[u] != IDEM_RESERVED) {
			dup_of[upos[u]] = SIZE_MAX;
			idx[upos[u]] = found[u];
		}
	/* The keys of the new events go with them (a cluster's database
	 * dedupes across nodes: store/cluster.h); idx[] of a new event holds
	 * its position in iov until it is appended. */
	for (size_t u = 0; u < nu; u++)
		if (found[u] == IDEM_RESERVED)
			idx[upos[u]] = (int64_t)u;
	for (size_t i = 0; i < n; i++)
		if (dup_of[i] == i) {
			if (b->items[i].key)
				memcpy(lkeys[m], ukeys[idx[i]].b, LOG_KEY_LEN);
			iov[m].iov_base = b->items[i].json;
			iov[m++].iov_len = b->items[i].len;
		}
	for (size_t k = 0; k < nrej; k++) {
		iov[m + k].iov_base = rj[k].json;
		iov[m + k].iov_len = rj[k].len;
	}
	if (m + nrej > 0) {
		rc = log_append_keyed(s->log, iov, m + nrej, (const uint8_t (*)[LOG_KEY_LEN])lkeys,
				      lidx, &err);
		if (rc != LS_OK) {
			idem_abort(s->idem, ukeys, found, nu);
			reply_append_error(s, r, rc, &err);
			goto out;
		}
		for (size_t j = 0; j < m + nrej; j++)
			if (lidx[j] + 1 > end)
				end = lidx[j] + 1;
		api_appended(s, end);
		metrics_ingest_rejected(s->metrics,
					format && !strcmp(format, "k8s") ? METRICS_REJ_K8S : METRICS_REJ_EVENTS,
					nrej);
	}
	for (size_t k = 0; k < nrej; k++)
		ridx[k] = (int64_t)lidx[m + k];
	for (size_t i = 0, j = 0; i < n; i++)
		if (dup_of[i] == i)
			idx[i] = (int64_t)lidx[j++];
	for (size_t i = 0; i < n; i++)
		if (dup_of[i] != i && dup_of[i] != SIZE_MAX)
			idx[i] = idx[dup_of[i]];
	for (size_t u = 0; u < nu; u++)
		uidx[u] = (uint64_t)idx[upos[u]];
	idem_commit(s->idem, ukeys, found, uidx, nu, q->received_us);

	/* The reply as text: for a batch of a thousand, building it with
	 * jansson (an object per index, printf per number) was a tenth of
	 * the request's work. */
	{
		struct jcanon_buf o = { .max = SIZE_MAX };
		char num[48];
		bool any = false;

#define PUT_LIT(lit) jcanon_buf_put(&o, lit, sizeof(lit) - 1)
		PUT_LIT("{\"indexes\":[");
		if (p) {
			/* by position in the body: null where an item was refused */
			bypos = malloc((p->total ? p->total : 1) * sizeof(*bypos));
			if (!bypos) {
				free(o.p);
				reply_append_error(s, r, LS_NOMEM, NULL);
				goto out;
			}
			for (size_t i = 0; i < p->total; i++)
				bypos[i] = -1;
			for (size_t i = 0; i < n; i++)
				bypos[p->ok_pos[i]] = idx[i];
			for (size_t i = 0; i < p->total; i++) {
				if (bypos[i] < 0)
					snprintf(num, sizeof(num), "%snull", i ? "," : "");
				else
					snprintf(num, sizeof(num), "%s%lld", i ? "," : "",
						 (long long)bypos[i]);
				jcanon_buf_put(&o, num, strlen(num));
			}
		}
		for (size_t i = 0; !p && i < n; i++) {
			char *e = num + sizeof(num);

			e = put_u64(e, (uint64_t)idx[i]);
			if (i)
				*--e = ',';
			jcanon_buf_put(&o, e, (size_t)(num + sizeof(num) - e));
		}
		PUT_LIT("],\"appended\":");
		snprintf(num, sizeof(num), "%zu", m);
		jcanon_buf_put(&o, num, strlen(num));
		PUT_LIT(",\"duplicates\":[");
		for (size_t i = 0; i < n; i++) {
			if (dup_of[i] == i)
				continue;
			snprintf(num, sizeof(num), "%s{\"position\":%zu,\"index\":", any ? "," : "",
				 p ? p->ok_pos[i] : i);
			jcanon_buf_put(&o, num, strlen(num));
			snprintf(num, sizeof(num), "%lld}", (long long)idx[i]);
			jcanon_buf_put(&o, num, strlen(num));
			any = true;
		}
		if (p) {
			char *rtext = rejected_json(p, ridx);

			PUT_LIT("],\"rejected\":");
			if (rtext)
				jcanon_buf_put(&o, rtext, strlen(rtext));
			else
				o.nomem = 1;
			free(rtext);
			snprintf(num, sizeof(num), ",\"tree_size\":%llu}\n",
				 (unsigned long long)log_size(s->log));
		} else {
			snprintf(num, sizeof(num), "],\"tree_size\":%llu}\n",
				 (unsigned long long)log_size(s->log));
		}
		jcanon_buf_put(&o, num, strlen(num));
#undef PUT_LIT
		if (o.nomem) {
			free(o.p);
			reply_append_error(s, r, LS_NOMEM, NULL);
			goto out;
		}
		r->status = 200;
		r->raw = o.p;
		r->raw_len = o.len;
		r->content_type = "application/json";
	}
out:
	for (size_t k = 0; rj && k < nrej; k++)
		event_item_release(&rj[k]);
	free(rj);
	free(ridx);
	free(bypos);
	free(kv);
	free(ukeys);
	free(found);
	free(idx);
	free(uidx);
	free(dup_of);
	free(upos);
	free(iov);
	free(lidx);
	free(lkeys);
}

static void fill_ctx(struct server *s, const struct request *q, struct event_ctx *ctx)
{
	ctx->policy = s->policy;
	ctx->writer = q->who->id;
	ctx->remote_ip = q->remote_ip;
	ctx->bound_service = q->who->service[0] ? q->who->service : NULL;
	ctx->received_us = q->received_us;
}

/* Whether q is taken event by event: ?partial=1|true|0|false, else dflt
 * (the token's setting, or the route's).  -1 (400 in r) for another value. */
static int want_partial(const struct request *q, int dflt, struct reply *r)
{
	for (size_t i = 0; i < q->nargs; i++) {
		const char *v = q->args[i].value;

		if (strcmp(q->args[i].key, "partial") != 0)
			continue;
		if (!strcmp(v, "1") || !strcmp(v, "true") || !v[0])
			return 1;
		if (!strcmp(v, "0") || !strcmp(v, "false"))
			return 0;
		reply_error(r, 400, "bad_query", "partial must be 1 or 0");
		return -1;
	}
	return dflt;
}

/* A partial batch: parsed (the caller's parse), then appended. */
static void ingest_partial(struct server *s, const struct request *q, struct reply *r, ls_rc rc,
			   struct event_partial *p, const struct event_error *e, const char *format)
{
	if (rc != LS_OK) {
		reply_parse_error(s, q, r, rc, e);
		return;
	}
	/* Partial is for events that are malformed, not for a writer that
	 * may not write them: an event for a service the token is not bound
	 * to refuses the whole request (403, logged as a denial), as it does
	 * all-or-nothing.  Retrying or dropping it is the operator's call. */
	for (size_t k = 0; k < p->nrej; k++)
		if (p->rej[k].rc == LS_DENIED) {
			reply_parse_error(s, q, r, LS_DENIED, &p->rej[k].e);
			event_partial_release(p);
			return;
		}
	ingest(s, q, r, &p->ok, p, format);
	event_partial_release(p);
}

void api_events_post(struct server *s, const struct request *q, struct reply *r)
{
	struct event_ctx ctx;
	struct event_batch b = { 0 };
	struct event_partial p;
	struct event_error e;
	enum event_format fmt = EVENT_FORMAT_NATIVE;
	int partial = want_partial(q, q->who->partial, r);
	ls_rc rc;

	if (partial < 0)
		return;
	if (q->format && strcmp(q->format, "flat") == 0)
		fmt = EVENT_FORMAT_FLAT;
	memset(&e, 0, sizeof(e));
	fill_ctx(s, q, &ctx);
	if (partial) {
		rc = event_batch_parse_partial(q->body, q->body_len, q->body_kind, fmt, &ctx, &p,
					       &e);
		ingest_partial(s, q, r, rc, &p, &e, fmt == EVENT_FORMAT_FLAT ? "flat" : "native");
		return;
	}
	rc = event_batch_parse(q->body, q->body_len, q->body_kind, fmt, &ctx, &b, &e);
	if (rc != LS_OK) {
		reply_parse_error(s, q, r, rc, &e);
		return;
	}
	ingest(s, q, r, &b, NULL, NULL);
	event_batch_release(&b);
}

/*
 * The webhook is partial unless ?partial=0: the API server's webhook
 * backend resends a batch that got a non-2xx reply until its retry budget
 * is spent, then drops the whole batch.  An all-or-nothing refusal of one
 * malformed event would cost every good event of that batch after a few
 * useless retries; per event, the good ones are kept and the bad one is on
 * record (docs/API.md).
 */
void api_k8s_post(struct server *s, const struct request *q, struct reply *r)
{
	struct event_ctx ctx;
	struct event_batch b = { 0 };
	struct event_partial p;
	struct event_error e;
	int partial = want_partial(q, 1, r);
	ls_rc rc;

	if (partial < 0)
		return;
	memset(&e, 0, sizeof(e));
	fill_ctx(s, q, &ctx);
	if (partial) {
		rc = event_k8s_parse_partial(q->body, q->body_len, &ctx, &p, &e);
		ingest_partial(s, q, r, rc, &p, &e, "k8s");
		return;
	}
	rc = event_k8s_parse(q->body, q->body_len, &ctx, &b, &e);
	if (rc != LS_OK) {
		reply_parse_error(s, q, r, rc, &e);
		return;
	}
	ingest(s, q, r, &b, NULL, NULL);
	event_batch_release(&b);
}

/* ======================================================= start-up and snapshot */

#define IDEM_SNAPSHOT "state/idem.snap"
#define IDEM_SECRET_LABEL "logseal idempotency keys"
#define IDEM_SNAPSHOT_MAX ((size_t)1 << 32)	/* 4 GiB: 134M keys */

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The key event.c gave the entry when it was accepted: its "id"; for
 * Kubernetes events without one, auditID and stage from details.  Entries
 * are canonical JSON (jdom's strict grammar, which is jansson's subset the
 * log stores), so jdom reads them at a fraction of json_loadb's cost. */
static int entry_key(const struct jdom *d, const struct jnode *o, char *out, size_t cap)
{
	const char *id = jdom_get_str(d, o, "id");
	const char *svc = jdom_get_str(d, o, "service");
	const struct jnode *det;
	const char *aid, *stage;

	if (id)
		return snprintf(out, cap, "%s", id) < (int)cap;
	if (!svc || strcmp(svc, "kubernetes") != 0)
		return 0;
	det = jdom_get(d, o, "details");
	aid = jdom_get_str(d, det, "auditID");
	stage = jdom_get_str(d, det, "stage");
	if (!aid || !stage)
		return 0;
	return snprintf(out, cap, "k8s:%s:%s", aid, stage) < (int)cap;
}

/* Entries [start, size) of the journal into the map, scoped by the stored
 * writer and service as ingest scoped them; entries received before
 * `since` (0: none) are outside the window and skipped. */
static ls_rc scan_journal(struct server *s, uint64_t start, int64_t since, uint64_t *scanned,
			  struct ls_err *err)
{
	char jdir[PATH_MAX], key[512];
	struct store_iter *it;
	struct jdom d = { 0 };
	uint64_t size = log_size(s->log), index = 0, n = 0;
	const uint8_t *data;
	size_t len, root;
	ls_rc rc;

	*scanned = 0;
	if (start >= size)
		return LS_OK;
	if (snprintf(jdir, sizeof(jdir), "%s/journal", s->dir) >= (int)sizeof(jdir))
		return ls_err_set(err, LS_LIMIT, "path too long");
	rc = store_iter_open(jdir, start, 0, &it, err);
	if (rc != LS_OK)
		return rc;
	while ((rc = store_iter_next(it, &data, &len, &index, err)) == LS_OK && index < size) {
		const struct jnode *o;
		const char *rcv;
		int64_t received = 0;
		struct idem_key k;

		if (index < start)
			continue;	/* the start of start's segment */
		n++;
		jdom_reset(&d);
		/* Stored events nest EVENT_MAX_DEPTH at most; what jdom
		 * refuses with this much room is no event of ours. */
		rc = jdom_parse(&d, (const char *)data, len, 16 * EVENT_MAX_DEPTH, &root, NULL);
		if (rc == LS_NOMEM)
			break;
		if (rc != LS_OK) {
			rc = LS_OK;
			continue;
		}
		o = &d.node[root];
		if (!entry_key(&d, o, key, sizeof(key)))
			continue;
		rcv = jdom_get_str(&d, o, "received");
		if (rcv && event_parse_time(rcv, &received) != LS_OK)
			received = 0;
		if (since && received < since)
			continue;
		rc = idem_key_of(s->idem, jdom_get_str(&d, o, "writer"),
				 jdom_get_str(&d, o, "service"), key, &k);
		if (rc == LS_OK)
			rc = idem_put(s->idem, &k, index, received);
		if (rc != LS_OK)
			break;
	}
	store_iter_free(it);
	jdom_release(&d);
	if (rc == LS_NOMEM)
		return ls_err_set(err, rc, "out of memory building the idempotency map");
	if (rc != LS_OK && rc != LS_NOTFOUND)
		return rc;
	*scanned = n;
	return LS_OK;
}

static int snapshot_path(const struct server *s, char *out, size_t cap)
{
	return snprintf(out, cap, "%s/%s", s->dir, IDEM_SNAPSHOT) < (int)cap;
}

ls_rc api_idem_open(struct server *s, const struct idem_opts *o, struct idem_start *st,
		    struct ls_err *err)
{
	struct idem_opts io = *o;
	struct keyring *kr = NULL;
	uint8_t secret[IDEM_SECRET_LEN];
	char path[PATH_MAX], *buf = NULL;
	uint64_t size = log_size(s->log), from = 0;
	int64_t now = wall_us();
	size_t len = 0;
	struct timespec t0, t1, c0, c1;
	ls_rc rc;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	/* Encrypted at rest: the map and its snapshot hold keyed hashes under
	 * a key derived from the data keys, so no plaintext id reaches the
	 * snapshot (and equal ids are not linkable without the key). */
	rc = keys_get(s->dir, &kr, err);
	if (rc == LS_OK) {
		rc = keys_derive(kr, IDEM_SECRET_LABEL, secret, err);
		if (rc != LS_OK)
			return rc;
		io.secret = secret;
	} else if (rc != LS_NOTFOUND) {
		return rc;
	} else {
		io.secret = NULL;
	}
	rc = idem_new(&io, &s->idem);
	ls_wipe(secret, sizeof(secret));
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot set up the idempotency map");

	if (!snapshot_path(s, path, sizeof(path)))
		return ls_err_set(err, LS_LIMIT, "path too long");
	rc = fs_read_file(path, IDEM_SNAPSHOT_MAX, &buf, &len, err);
	if (rc == LS_OK) {
		struct ls_err e2 = { { 0 } };

		rc = idem_snapshot_load(s->idem, (const uint8_t *)buf, len, size, &from, &e2);
		if (rc == LS_OK) {
			st->snapshot = 1;
			st->covered = from;
			st->snapshot_keys = idem_count(s->idem);
		} else if (rc == LS_NOMEM) {
			free(buf);
			return ls_err_set(err, rc, "%s", e2.msg);
		} else {
			/* A bad snapshot costs a rescan, nothing else: the
			 * journal is the truth. */
			snprintf(st->why, sizeof(st->why), "%s", e2.msg);
			from = 0;
		}
		free(buf);
	} else if (rc != LS_NOTFOUND) {
		snprintf(st->why, sizeof(st->why), "%s", err->msg);
	}
	idem_expire(s->idem, now);
	rc = scan_journal(s, from, o->window_us > 0 && now > o->window_us ? now - o->window_us : 0,
			  &st->scanned, err);
	if (rc != LS_OK)
		return rc;
	idem_expire(s->idem, now);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	st->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	st->cpu_seconds = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	return LS_OK;
}

ls_rc api_idem_save(struct server *s, struct ls_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX];
	uint8_t *buf;
	uint64_t covered;
	size_t len;
	ls_rc rc;

	if (!s->idem || !s->log)
		return LS_OK;
	if (!snapshot_path(s, path, sizeof(path)) ||
	    snprintf(dir, sizeof(dir), "%s/state", s->dir) >= (int)sizeof(dir))
		return ls_err_set(err, LS_LIMIT, "path too long");
	rc = idem_snapshot_encode(s->idem, log_size(s->log), wall_us(), &buf, &len, &covered);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "out of memory encoding the idempotency snapshot");
	rc = fs_mkdirs(dir, 0700, err);
	if (rc == LS_OK)
		rc = fs_write_file(path, buf, len, 0600, 0, err);
	free(buf);
	return rc;
}

/* The saver thread: a snapshot every interval when the log has grown, so a
 * start after a crash reads only the journal since the last one. */
struct idem_saver {
	struct server *s;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned interval_s;
	int stop;
};

static void *saver_main(void *arg)
{
	struct idem_saver *v = arg;
	uint64_t saved = log_size(v->s->log);

	pthread_mutex_lock(&v->mu);
	while (!v->stop) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += v->interval_s;
		while (!v->stop && pthread_cond_timedwait(&v->cv, &v->mu, &until) == 0)
			;
		if (v->stop)
			break;
		pthread_mutex_unlock(&v->mu);
		{
			/* the tokens' last_used (auth.h): written here, off the
			 * request path */
			struct ls_err e = { { 0 } };
			if (auth_save_used(v->s->auth, &e) != LS_OK)
				fprintf(stderr, "logseal serve: tokens' last use: %s\n", e.msg);
		}
		idem_expire(v->s->idem, wall_us());
		/* Sessions that ended by themselves get their close event
		 * (api_session.c); before the snapshot, which then covers it. */
		api_sessions_log_ended(v->s, 1);
		if (log_size(v->s->log) != saved) {
			struct ls_err e = { { 0 } };
			uint64_t size = log_size(v->s->log);

			if (api_idem_save(v->s, &e) == LS_OK)
				saved = size;
			else
				fprintf(stderr, "logseal serve: idempotency snapshot: %s\n", e.msg);
		}
		pthread_mutex_lock(&v->mu);
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

ls_rc api_idem_saver_start(struct server *s, unsigned interval_s, struct ls_err *err)
{
	struct idem_saver *v;
	pthread_condattr_t ca;

	if (interval_s == 0)
		return LS_OK;
	v = calloc(1, sizeof(*v));
	if (!v)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	v->s = s;
	v->interval_s = interval_s;
	pthread_mutex_init(&v->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&v->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&v->thread, NULL, saver_main, v) != 0) {
		pthread_mutex_destroy(&v->mu);
		pthread_cond_destroy(&v->cv);
		free(v);
		return ls_err_set(err, LS_IO, "cannot start the idempotency snapshot thread");
	}
	s->idem_saver = v;
	return LS_OK;
}

void api_idem_saver_stop(struct server *s)
{
	struct idem_saver *v = s->idem_saver;

	auth_save_used(s->auth, NULL);
	if (!v)
		return;
	pthread_mutex_lock(&v->mu);
	v->stop = 1;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
	pthread_join(v->thread, NULL);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	free(v);
	s->idem_saver = NULL;
}
