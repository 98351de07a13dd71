/*
 * fuzz_event_partial.c - request body -> events, event by event
 * (event_partial.c).  The first input byte picks the path (native/flat x
 * JSON/NDJSON, the k8s webhook); the rest is the body.
 *
 * Checks beyond "no crash, no leak, no UB": total = accepted + refused;
 * positions strictly increase through both lists and stay below total; a
 * refused item's bytes lie inside the body (or in its own copy); every
 * accepted entry is at most EVENT_MAX_BYTES, a fixed point of strict parse
 * + canonicalise, and carries the server's fields; a refused body leaves
 * nothing behind; the excerpt of every refused item is bounded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_ctx ctx = {
		.writer = "fuzz-writer",
		.remote_ip = "192.0.2.1",
		.bound_service = NULL,
		.received_us = 1704164645123456LL,
	};
	struct event_partial p;
	struct event_error e;
	const char *body;
	char ex[4 * 64 + 1];
	size_t n, last = 0;
	int first = 1;
	ls_rc rc;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	body = (const char *)data + 1;
	n = size - 1;
	if (mode & 0x80)
		ctx.bound_service = "kubernetes";
	switch ((mode & 0x7f) % 5) {
	case 0:
		rc = event_batch_parse_partial(body, n, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx,
					       &p, &e);
		break;
	case 1:
		rc = event_batch_parse_partial(body, n, EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE,
					       &ctx, &p, &e);
		break;
	case 2:
		rc = event_batch_parse_partial(body, n, EVENT_BODY_JSON, EVENT_FORMAT_FLAT, &ctx,
					       &p, &e);
		break;
	case 3:
		rc = event_batch_parse_partial(body, n, EVENT_BODY_NDJSON, EVENT_FORMAT_FLAT, &ctx,
					       &p, &e);
		break;
	default:
		rc = event_k8s_parse_partial(body, n, &ctx, &p, &e);
		break;
	}
	if (rc != LS_OK) {
		if (p.ok.items || p.rej || p.total)
			abort();
		if (rc != LS_INVALID && rc != LS_NOMEM)
			abort();
		return 0;
	}
	if (p.total != p.ok.n + p.nrej || p.total == 0)
		abort();
	for (size_t i = 0, j = 0; i < p.ok.n || j < p.nrej;) {
		size_t pos;

		if (j >= p.nrej || (i < p.ok.n && p.ok_pos[i] < p.rej[j].e.position))
			pos = p.ok_pos[i++];
		else
			pos = p.rej[j++].e.position;
		if (pos >= p.total || (!first && pos <= last))
			abort();
		first = 0;
		last = pos;
	}
	for (size_t i = 0; i < p.ok.n; i++) {
		const struct event_item *it = &p.ok.items[i];
		char *again = NULL;
		size_t len = 0;

		if (!it->json || it->len > EVENT_MAX_BYTES || strlen(it->json) != it->len)
			abort();
		if (event_canonicalize_text(it->json, it->len, &again, &len, NULL) != LS_OK ||
		    len != it->len || memcmp(again, it->json, len))
			abort();
		free(again);
		if (!strstr(it->json, "\"writer\":\"fuzz-writer\""))
			abort();
	}
	for (size_t j = 0; j < p.nrej; j++) {
		const struct event_reject *r = &p.rej[j];

		if (!r->own && (r->bytes < body || r->bytes + r->len > body + n))
			abort();
		if (r->rc != LS_INVALID && r->rc != LS_LIMIT && r->rc != LS_DENIED)
			abort();
		event_excerpt(r->bytes, r->len, 64, ex, sizeof(ex));
		if (strlen(ex) > 4 * 64)
			abort();
	}
	event_partial_release(&p);
	return 0;
}
