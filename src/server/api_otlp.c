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
 * Records have no idempotency key (OTLP has none), so a batch the exporter
 * resends after a lost reply is stored twice: delivery is at least once.
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "core/formats/otlp.h"
#include "store/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

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
	struct iovec *iov = NULL;
	struct ls_err err = { { 0 } };
	const char *body = q->body;
	size_t n = q->body_len;
	char *plain = NULL, why[256];
	uint64_t first = 0;
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
		iov = calloc(res.batch.n, sizeof(*iov));
		if (!iov) {
			api_reply_rc(s, r, LS_NOMEM, API_RC_WRITE, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < res.batch.n; i++) {
			iov[i].iov_base = res.batch.items[i].json;
			iov[i].iov_len = res.batch.items[i].len;
		}
		rc = log_append(s->log, iov, res.batch.n, &first, &err);
		if (rc != LS_OK) {
			reply_append_error(s, r, rc, &err);
			/* OTLP clients retry 429, 502, 503 and 504 only: a full disk
			 * (507) would make the collector drop the batch for good. */
			if (r->status == 507) {
				r->status = 503;
				r->retry_after = 60;
			}
			goto out;
		}
		api_appended(s, first + res.batch.n);
		metrics_ingest_rejected(s->metrics, METRICS_REJ_OTLP, res.rejected);
	}
	reply_ok(q, r, &res);
out:
	free(iov);
	otlp_result_release(&res);
}
