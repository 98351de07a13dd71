/*
 * formats/otlp.h - OpenTelemetry logs (OTLP/HTTP, POST /v1/logs) mapped onto
 * standard events: otlp.c maps, otlp_pb.c reads the protobuf encoding.
 * docs/SCHEMA.md ("OTLP mapping") is the attribute convention.  Pure, like
 * the rest of core/.
 *
 * Calling sequence: otlp_logs_parse() on the request body (already
 * decompressed), append out->batch, reply with out->rejected and
 * out->message (otlp_pb_response() for a protobuf reply), then
 * otlp_result_release().
 */
#ifndef LS_OTLP_H
#define LS_OTLP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "core/event_types.h"

enum otlp_encoding { OTLP_JSON, OTLP_PROTOBUF };

/* The action of the event that records a log record that could not be
 * mapped (one per such record, in the same batch). */
#define OTLP_REJECTED_ACTION "logseal.ingest.rejected"

struct otlp_result {
	/* Events to append, in the request's record order: each mapped record,
	 * and for each record that could not be mapped its
	 * logseal.ingest.rejected event (service "logseal"). */
	struct event_batch batch;
	size_t records;		/* log records in the request */
	size_t accepted;	/* mapped into events */
	size_t rejected;	/* not mapped: records - accepted */
	/* With rejected > 0: the first rejection and the count, for the reply's
	 * partialSuccess.errorMessage. */
	char message[512];
};

/*
 * Parse an ExportLogsServiceRequest (body of n bytes, enc) and map each log
 * record, under ctx, through evt_finish (the one validator).  A record that
 * cannot be mapped is counted, not fatal.  LS_INVALID (why says what) when
 * the body is not such a request at all, LS_LIMIT when it holds too many
 * values, LS_NOMEM.  On error out is empty.
 */
ls_rc otlp_logs_parse(const char *body, size_t n, enum otlp_encoding enc,
		      const struct event_ctx *ctx, struct otlp_result *out, char *why,
		      size_t whycap);
void otlp_result_release(struct otlp_result *r);

/*
 * Protobuf ExportLogsServiceRequest -> the value its OTLP/JSON encoding
 * parses to (*out, caller decrefs): the same member names, fixed64 times as
 * decimal strings, trace and span ids as hex, bytes as base64.  LS_INVALID
 * with why for malformed input, LS_LIMIT past the value bound, LS_NOMEM.
 */
ls_rc otlp_pb_decode(const uint8_t *p, size_t n, json_t **out, char *why, size_t whycap);

/* The protobuf ExportLogsServiceResponse: partial_success with rejected and
 * msg when either is set, else the empty message (0 bytes).  Returns the
 * length, which may exceed cap (then nothing past cap was written). */
size_t otlp_pb_response(int64_t rejected, const char *msg, uint8_t *out, size_t cap);

#endif
