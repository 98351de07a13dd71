/*
 * fuzz_event.c - request body -> events.  The first input byte picks the
 * path (native/flat x JSON/NDJSON, the k8s webhook, or plain
 * canonicalisation as `logseal import` uses it); the rest is the body.
 *
 * Beyond "no crash, no leak, no UB" it checks the invariants of event.c:
 * every produced entry is at most EVENT_MAX_BYTES, is a fixed point of
 * strict parse + canonicalise (so what is hashed is what a verifier
 * recomputes), carries the server's fields, and a refused batch leaves
 * nothing behind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"

static void check_item(const struct event_item *it)
{
	char *again = NULL;
	size_t n = 0;

	if (!it->json || it->len > EVENT_MAX_BYTES || strlen(it->json) != it->len)
		abort();
	if (event_canonicalize_text(it->json, it->len, &again, &n, NULL) != LS_OK)
		abort();
	if (n != it->len || memcmp(again, it->json, n))
		abort();
	free(again);
	if (!strstr(it->json, "\"schema\":\"logseal/v1\"") ||
	    !strstr(it->json, "\"writer\":\"fuzz-writer\""))
		abort();
	if (it->key && (strlen(it->key) == 0 || strlen(it->key) > EVENT_MAX_ID))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_ctx ctx = {
		.writer = "fuzz-writer",
		.remote_ip = "192.0.2.1",
		.bound_service = NULL,
		.received_us = 1704164645123456LL,
	};
	struct event_batch b = { 0 };
	struct event_error e;
	const char *body;
	size_t n, i;
	ls_rc rc;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	body = (const char *)data + 1;
	n = size - 1;
	if (mode & 0x80)
		ctx.bound_service = "kubernetes";
	switch ((mode & 0x7f) % 6) {
	case 0:
		rc = event_batch_parse(body, n, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, &b, &e);
		break;
	case 1:
		rc = event_batch_parse(body, n, EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx, &b,
				       &e);
		break;
	case 2:
		rc = event_batch_parse(body, n, EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx, &b, &e);
		break;
	case 3:
		rc = event_batch_parse(body, n, EVENT_BODY_NDJSON, EVENT_FORMAT_FLAT, &ctx, &b, &e);
		break;
	case 4:
		rc = event_k8s_parse(body, n, &ctx, &b, &e);
		break;
	default: {
		char *out = NULL;
		size_t len = 0;
		struct ls_err err;

		if (event_canonicalize_text(body, n, &out, &len, &err) == LS_OK) {
			char *again = NULL;
			size_t n2 = 0;

			if (event_canonicalize_text(out, len, &again, &n2, &err) != LS_OK ||
			    n2 != len || memcmp(out, again, len))
				abort();
			free(again);
		} else if (out || len) {
			abort();
		}
		free(out);
		return 0;
	}
	}
	if (rc != LS_OK) {
		if (b.items || b.n)
			abort();
		if (rc != LS_INVALID && rc != LS_LIMIT && rc != LS_DENIED && rc != LS_NOMEM)
			abort();
		return 0;
	}
	for (i = 0; i < b.n; i++)
		check_item(&b.items[i]);
	event_batch_release(&b);
	return 0;
}
