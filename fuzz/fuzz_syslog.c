/*
 * fuzz_syslog.c - syslog message -> parsed header -> native event -> stored
 * event (core/formats/syslog.c, then event_batch_parse as the listeners
 * append it).  The first input byte picks the mapping options (JSON body,
 * hash id, defaults, a service binding); the rest is the message.
 *
 * Beyond "no crash, no leak, no UB" it checks: every span the parser
 * returns lies inside the input; the SD walk agrees with the parser (a
 * parsed message's structured data walks to the end); mapping is
 * deterministic (the same bytes give the same object, so a resend is the
 * same idempotency key); and a mapped object either validates into one
 * entry of at most EVENT_MAX_BYTES or is refused with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/formats/syslog.h"

#define NOW 1765000000000000LL

static void in_input(struct syslog_span s, const uint8_t *d, size_t n)
{
	if (s.p && ((const uint8_t *)s.p < d || (const uint8_t *)s.p + s.n > d + n))
		abort();
}

static int count_param(void *ctx, struct syslog_span id, struct syslog_span name,
		       struct syslog_span value, int esc)
{
	(void)id;
	(void)esc;
	if (name.n == 0 || name.n > 32 || !value.p)
		abort();
	(*(size_t *)ctx)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct syslog_map map;
	struct syslog_msg m;
	struct ls_err err = { { 0 } };
	json_t *a = NULL, *b = NULL;
	const char *msg;
	const char *bound;
	size_t n, params = 0;
	ls_rc ra, rb;

	if (size < 1)
		return 0;
	syslog_map_init(&map);
	map.json_body = data[0] & 1;
	map.id_hash = (data[0] >> 1) & 1;
	map.app_service = (data[0] >> 2) & 1;
	if (data[0] & 8)
		map.default_actor = "fuzz-actor";
	if (data[0] & 16)
		map.default_action = "fuzz.action";
	if (data[0] & 32)
		map.default_outcome = NULL;
	if (data[0] & 64)
		map.msg_max = 7;
	bound = (data[0] & 128) ? "bound-svc" : NULL;
	msg = (const char *)data + 1;
	n = size - 1;

	if (syslog_parse(msg, n, NOW, &m, &err) == LS_OK) {
		in_input(m.hostname, data + 1, n);
		in_input(m.app_name, data + 1, n);
		in_input(m.procid, data + 1, n);
		in_input(m.msgid, data + 1, n);
		in_input(m.sd, data + 1, n);
		in_input(m.msg, data + 1, n);
		if (m.pri < 0 || m.pri > 191)
			abort();
		if (syslog_sd_foreach(&m, count_param, &params) != 0)
			abort();
	}
	ra = syslog_to_native(msg, n, &map, "192.0.2.1", bound, NOW, &a, &err);
	rb = syslog_to_native(msg, n, &map, "192.0.2.1", bound, NOW, &b, &err);
	if (ra != rb || (ra == LS_OK) != (a != NULL))
		abort();
	if (a) {
		struct event_ctx ctx = { "fuzz-writer", "192.0.2.1", bound, NOW, NULL };
		struct event_batch batch = { 0 };
		struct event_error e;
		char *ta = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
		char *tb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);

		if (!ta || !tb || strcmp(ta, tb))
			abort();
		memset(&e, 0, sizeof(e));
		if (event_batch_parse(ta, strlen(ta), EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx,
				      &batch, &e) == LS_OK) {
			if (batch.n != 1 || batch.items[0].len > EVENT_MAX_BYTES)
				abort();
		} else if (!e.reason[0]) {
			abort();
		}
		event_batch_release(&batch);
		free(ta);
		free(tb);
	}
	json_decref(a);
	json_decref(b);
	return 0;
}
