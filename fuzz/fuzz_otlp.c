/*
 * fuzz_otlp.c - POST /v1/logs bodies -> events.  The first input byte picks
 * the encoding (even: protobuf through otlp_pb.c, odd: OTLP/JSON); the rest
 * is the body; bit 1 of it applies the default event policy (redaction,
 * time check) as the server does.
 *
 * Beyond "no crash, no leak, no UB, no read past the input" it checks the
 * invariants of otlp.c: accepted + rejected = records; every produced
 * entry is at most EVENT_MAX_BYTES and a fixed point of strict parse +
 * canonicalise; there is one event per record (mapped, or its
 * logseal.ingest.rejected event); every mapped record carries an
 * idempotency key (its id) and no rejection does; a refused request leaves
 * nothing behind; and the protobuf reply for the counts is well formed and
 * fits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/event_policy.h"
#include "core/formats/otlp.h"

static struct event_policy policy;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_ctx ctx = {
		.writer = "fuzz-writer",
		.remote_ip = "192.0.2.7",
		.received_us = 1700000000000000LL,
	};
	struct otlp_result r;
	char why[256];
	uint8_t reply[1024];
	ls_rc rc;

	if (size < 1)
		return 0;
	if (!policy.nkeys) {
		event_policy_init(&policy);
		policy.flag_past_us = 86400LL * 1000000;
	}
	if (data[0] & 2)
		ctx.policy = &policy;
	rc = otlp_logs_parse((const char *)data + 1, size - 1, data[0] & 1 ? OTLP_JSON : OTLP_PROTOBUF,
			     &ctx, &r, why, sizeof(why));
	if (rc != LS_OK) {
		if (r.batch.n || r.batch.items || (!why[0] && rc == LS_INVALID))
			abort();
		return 0;
	}
	if (r.accepted + r.rejected != r.records || r.batch.n > r.records)
		abort();
	for (size_t i = 0, keyed = 0; i < r.batch.n; i++) {
		const struct event_item *it = &r.batch.items[i];
		char *again = NULL;
		size_t n = 0;

		if (it->key) {
			char want[EVENT_MAX_ID + 16];
			size_t kl = strlen(it->key), k;

			if (kl == 0 || kl > EVENT_MAX_ID)
				abort();
			/* the key is the stored id (checked where the canonical
			 * form is the key's bytes: printable ASCII) */
			for (k = 0; k < kl; k++)
				if (it->key[k] < 0x20 || it->key[k] > 0x7e || it->key[k] == '"' ||
				    it->key[k] == '\\')
					break;
			snprintf(want, sizeof(want), "\"id\":\"%s\"", it->key);
			if (k == kl && !strstr(it->json, want))
				abort();
			keyed++;
		}
		if (i + 1 == r.batch.n && keyed != r.accepted)
			abort();

		if (!it->json || it->len > EVENT_MAX_BYTES || strlen(it->json) != it->len)
			abort();
		if (event_canonicalize_text(it->json, it->len, &again, &n, NULL) != LS_OK ||
		    n != it->len || memcmp(again, it->json, n))
			abort();
		free(again);
	}
	if (otlp_pb_response((int64_t)r.rejected, r.message, reply, sizeof(reply)) > sizeof(reply))
		abort();
	otlp_result_release(&r);
	return 0;
}
