/*
 * fuzz_event_fast - differential: the native ingest fast path
 * (event_fast_parse) must agree with the jansson reference
 * (event_batch_parse_ref) on every body: same rc, same event_error, same
 * items byte for byte.  The first input byte picks the body kind and the
 * server context; the rest is the body.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/event_fast.h"

static const struct event_ctx ctxs[4] = {
	{ "tok-w1", "127.0.0.1", NULL, 1704164645123456LL, NULL },
	{ NULL, NULL, NULL, 0, NULL },
	{ "w\"2\\\x01", "::1", "billing", -1, NULL },
	{ "tok", "10.0.0.1", "caf\xc3\xa9", 253402300799999999LL, NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_batch a, b;
	struct event_error ea, eb;
	enum event_body kind;
	const struct event_ctx *c;
	const char *body;
	ls_rc ra, rb;

	if (size < 1)
		return 0;
	kind = data[0] & 1 ? EVENT_BODY_NDJSON : EVENT_BODY_JSON;
	c = &ctxs[(data[0] >> 1) & 3];
	body = (const char *)data + 1;
	size--;
	memset(&ea, 0x5a, sizeof(ea));
	memset(&eb, 0x5a, sizeof(eb));
	ra = event_fast_parse(body, size, kind, c, &a, &ea, NULL);
	rb = event_batch_parse_ref(body, size, kind, EVENT_FORMAT_NATIVE, c, &b, &eb);
	if (ra != rb || memcmp(&ea, &eb, sizeof(ea)) != 0 || a.n != b.n) {
		fprintf(stderr, "fast %s (%zu %s: %s) vs ref %s (%zu %s: %s)\n", ls_rc_name(ra),
			ea.position, ea.field, ea.reason, ls_rc_name(rb), eb.position, eb.field,
			eb.reason);
		abort();
	}
	for (size_t i = 0; i < a.n; i++) {
		const struct event_item *x = &a.items[i], *y = &b.items[i];

		if (x->len != y->len || memcmp(x->json, y->json, x->len) != 0 ||
		    (!x->key != !y->key) || (x->key && strcmp(x->key, y->key) != 0) ||
		    (x->key && strcmp(x->key_service, y->key_service) != 0)) {
			fprintf(stderr, "item %zu:\n%s\nref:\n%s\n", i, x->json, y->json);
			abort();
		}
	}
	event_batch_release(&a);
	event_batch_release(&b);
	return 0;
}
