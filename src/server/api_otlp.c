/*
 * api_otlp.c - POST /v1/logs: OpenTelemetry logs over HTTP (OTLP/HTTP, the
 * target of the collector's otlphttp exporter), writer role.
 *
 * The body is an ExportLogsServiceRequest, Content-Type application/json
 * (OTLP/JSON) or application/x-protobuf, optionally Content-Encoding gzip
 * (the exporter's default); decompressed it counts against --max-body like
 * any body.  core/formats/otlp.c maps each log record onto a standard
 * event (docs/SCHEMA.md, "OTLP mapping"); the events are appended as one
 * durable batch and only then is the reply sent.
 *
 * The reply is an ExportLogsServiceResponse in the request's encoding:
 * empty on full success; with partialSuccess {rejectedLogRecords,
 * errorMessage} when some records could not be mapped.  Those records are
 * not dropped silently: each is recorded by a logseal.ingest.rejected event
 * in the same batch, and OTLP clients do not retry a partial success.
 * A body that is not an ExportLogsServiceRequest is a 400 (the exporter
 * drops it, as retrying cannot help); a busy or failing log is the usual
 * 503, which the exporter retries; a full disk is a 503 too (Retry-After
 * 60), not 507, which OTLP clients would take as permanent.
 *
 * Exactly once: every mapped record carries an idempotency key (OTLP has
 * none of its own), its attribute logseal.id / event.id, else "otlp:" and
 * the SHA-256 of its resource, scope and record (core/formats/otlp.c), as
 * its event's "id".  The keys go the way those of POST /v1/events go
 * (api_events.c): scoped by the writer token and the service (idem.h),
 * reserved in the idempotency map, appended with log_append_keyed() (in a
 * cluster the database dedupes across nodes), then committed; so a batch
 * the exporter resends after a lost reply appends nothing, a batch that
 * mixes seen and new records appends the new ones, and the map's snapshot
 * and the journal scan at start (which read "id") cover them.  The
 * logseal.ingest.rejected events of records that could not be mapped
 * carry no key: a resent batch records such a record again.
 *
 * Invariants:
 *  1. A key is appended at most once, also when a batch holds it twice
 *     (the later record is a duplicate of the first).
 *  2. The batch's new events go to the log in one log_append_keyed() call,
 *     and the reply is sent only after it returned (durable).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"
#include "server/idem.h"
#include "server/metrics.h"
#include "core/formats/otlp.h"
#include "store/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define IDEM_WAIT_MS 10000	/* as api_events.c: another request holding a key */

_Static_assert(IDEM_KEY_LEN == LOG_KEY_LEN, "the log carries the idempotency keys as they are");

struct keyed {
	struct idem_key key;	/* scoped: writer, service, id (idem.h) */
	size_t pos;		/* in the batch */
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = memcmp(x->key.b, y->key.b, IDEM_KEY_LEN);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Append the events of b that are new: those without a key, and of those
 * with one the first of each key that neither the idempotency map nor (in
 * a cluster) the database holds.  On failure the reply is in r and 0 is
 * returned.
 */
static int append_new(struct server *s, const struct request *q, struct reply *r,
		      const struct event_batch *b)
{
	size_t n = b->n, nk = 0, nu = 0, m = 0;
	struct keyed *kv = calloc(n, sizeof(*kv));
	struct idem_key *ukeys = calloc(n, sizeof(*ukeys));
	int64_t *found = calloc(n, sizeof(*found));
	size_t *upos = calloc(n, sizeof(*upos));
	unsigned char *skip = calloc(n, 1);	/* a repeat: not appended */
	struct iovec *iov = calloc(n, sizeof(*iov));
	uint8_t (*lkeys)[LOG_KEY_LEN] = calloc(n, sizeof(*lkeys));
	uint64_t *lidx = calloc(n, sizeof(*lidx)), *uidx = calloc(n, sizeof(*uidx)), end = 0;
	size_t *slot = calloc(n, sizeof(*slot));	/* unique key u -> its iov slot */
	size_t *uof = calloc(n, sizeof(*uof));	/* first position of a key -> u */
	struct ls_err err = { { 0 } };
	int ok = 0;
	ls_rc rc;

	if (!kv || !ukeys || !found || !upos || !skip || !iov || !lkeys || !lidx || !uidx ||
	    !slot || !uof) {
		api_reply_rc(s, r, LS_NOMEM, API_RC_WRITE, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!b->items[i].key)
			continue;
		rc = idem_key_of(s->idem, q->who->id, b->items[i].key_service, b->items[i].key,
				 &kv[nk].key);
		if (rc != LS_OK) {
			reply_append_error(s, r, rc, NULL);
			goto out;
		}
		kv[nk++].pos = i;
	}
	/* Repeats inside the batch: sorted by (key, position), the first of
	 * each run counts. */
	qsort(kv, nk, sizeof(*kv), keyed_cmp);
	for (size_t i = 0; i < nk; i++) {
		if (i > 0 && memcmp(kv[i].key.b, kv[i - 1].key.b, IDEM_KEY_LEN) == 0) {
			skip[kv[i].pos] = 1;
			continue;
		}
		uof[kv[i].pos] = nu;
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
		if (found[u] != IDEM_RESERVED)
			skip[upos[u]] = 1;	/* accepted by an earlier request */
	for (size_t u = 0; u < nu; u++)
		slot[u] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (skip[i])
			continue;
		if (b->items[i].key) {
			memcpy(lkeys[m], ukeys[uof[i]].b, LOG_KEY_LEN);
			slot[uof[i]] = m;
		}
		iov[m].iov_base = b->items[i].json;
		iov[m++].iov_len = b->items[i].len;
	}
	if (m > 0) {
		rc = log_append_keyed(s->log, iov, m, (const uint8_t (*)[LOG_KEY_LEN])lkeys, lidx,
				      &err);
		if (rc != LS_OK) {
			idem_abort(s->idem, ukeys, found, nu);
			reply_append_error(s, r, rc, &err);
			goto out;
		}
		for (size_t j = 0; j < m; j++)
			if (lidx[j] + 1 > end)
				end = lidx[j] + 1;
		api_appended(s, end);
	}
	for (size_t u = 0; u < nu; u++)
		uidx[u] = slot[u] == SIZE_MAX ? 0 : lidx[slot[u]];
	idem_commit(s->idem, ukeys, found, uidx, nu, q->received_us);
	ok = 1;
out:
	free(kv);
	free(ukeys);
	free(found);
	free(upos);
	free(skip);
	free(iov);
	free(lkeys);
	free(lidx);
	free(uidx);
	free(slot);
	free(uof);
	return ok;
}

/* gzip body -> *out (malloc'd, NUL-terminated), at most max bytes.
 * LS_INVALID (not gzip), LS_LIMIT (larger than max), LS_NOMEM. */
static ls_rc gunzip(const char *in, size_t n, size_t max, char **out, size_t *len)
{
	z_stream z;
	size_t cap = n * 4 + 1024, used = 0;
	char *buf;
	int zr;

	*out = NULL;
	*len = 0;
	if (cap > max + 1)
		cap = max + 1;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return LS_NOMEM;
	buf = malloc(cap + 1);
	if (!buf) {
		inflateEnd(&z);
		return LS_NOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	for (;;) {
		if (used == cap) {
			size_t nc = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb;

			if (nc <= cap) {
				free(buf);
				inflateEnd(&z);
				return LS_LIMIT;
			}
			nb = realloc(buf, nc + 1);
			if (!nb) {
				free(buf);
				inflateEnd(&z);
				return LS_NOMEM;
			}
			buf = nb;
			cap = nc;
		}
		z.next_out = (Bytef *)buf + used;
		z.avail_out = (uInt)(cap - used);
		zr = inflate(&z, Z_NO_FLUSH);
		used = cap - z.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_OK && (z.avail_in > 0 || used == cap))
			continue;
		free(buf);
		inflateEnd(&z);
		return zr == Z_MEM_ERROR ? LS_NOMEM : LS_INVALID;
	}
	inflateEnd(&z);
	if (used > max || z.avail_in > 0) {
		free(buf);
		return used > max ? LS_LIMIT : LS_INVALID;
	}
	buf[used] = 0;
	*out = buf;
	*len = used;
	return LS_OK;
}

static void reply_ok(const struct request *q, struct reply *r, const struct otlp_result *res)
{
	r->status = 200;
	if (q->body_protobuf) {
		size_t need = otlp_pb_response((int64_t)res->rejected, res->message, NULL, 0);
		char *raw;

		r->content_type = "application/x-protobuf";
		if (need == 0) {
			r->raw_static = "";
			r->raw_len = 0;
			return;
		}
		raw = malloc(need);
		if (!raw) {
			reply_error(r, 503, "busy", "out of memory");
			r->retry_after = 1;
			return;
		}
		otlp_pb_response((int64_t)res->rejected, res->message, (uint8_t *)raw, need);
		r->raw = raw;
		r->raw_len = need;
		return;
	}
	json_decref(r->body);
	if (res->rejected) {
		char num[24];

		/* int64 as a decimal string: the protobuf JSON mapping's form. */
		snprintf(num, sizeof(num), "%zu", res->rejected);
		r->body = json_pack("{s:{s:s, s:s}}", "partialSuccess", "rejectedLogRecords", num,
				    "errorMessage", res->message);
	} else {
		r->body = json_object();
	}
	if (!r->body) {
		reply_error(r, 503, "busy", "out of memory");
		r->retry_after = 1;
	}
}

void api_otlp_logs_post(struct server *s, const struct request *q, struct reply *r)
{
	struct otlp_result res;
	struct event_ctx ctx;
	const char *body = q->body;
	size_t n = q->body_len;
	char *plain = NULL, why[256];
	ls_rc rc;

	if (q->content_encoding && strcasecmp(q->content_encoding, "identity")) {
		if (strcasecmp(q->content_encoding, "gzip")) {
			reply_error(r, 415, "unsupported_media_type",
				    "Content-Encoding must be gzip or identity");
			return;
		}
		rc = gunzip(q->body, q->body_len, s->max_body, &plain, &n);
		if (rc == LS_LIMIT) {
			reply_error(r, 413, "too_large",
				    "the body is larger than %zu bytes once decompressed",
				    s->max_body);
			return;
		}
		if (rc == LS_INVALID) {
			reply_error(r, 400, "bad_request", "the body is not valid gzip");
			return;
		}
		if (rc) {
			api_reply_rc(s, r, rc, API_RC_WRITE, "out of memory");
			return;
		}
		body = plain;
	}
	ctx.policy = s->policy;
	ctx.writer = q->who->id;
	ctx.remote_ip = q->remote_ip;
	ctx.bound_service = q->who->service[0] ? q->who->service : NULL;
	ctx.received_us = q->received_us;
	rc = otlp_logs_parse(body, n, q->body_protobuf ? OTLP_PROTOBUF : OTLP_JSON, &ctx, &res,
			     why, sizeof(why));
	free(plain);
	if (rc == LS_INVALID) {
		reply_error(r, 400, "bad_request", "not an OTLP ExportLogsServiceRequest: %s", why);
		return;
	}
	if (rc == LS_LIMIT) {
		reply_error(r, 413, "too_large", "%s", why);
		return;
	}
	if (rc) {
		api_reply_rc(s, r, rc, API_RC_WRITE, "out of memory");
		return;
	}
	if (res.batch.n > 0) {
		if (!api_ingest_paced(s, r))
			goto out;
		if (!append_new(s, q, r, &res.batch)) {
			/* OTLP clients retry 429, 502, 503 and 504 only: a full disk
			 * (507) would make the collector drop the batch for good. */
			if (r->status == 507) {
				r->status = 503;
				r->retry_after = 60;
			}
			goto out;
		}
		metrics_ingest_rejected(s->metrics, METRICS_REJ_OTLP, res.rejected);
	}
	reply_ok(q, r, &res);
out:
	otlp_result_release(&res);
}
