/*
 * fuzz_query.c - the query index's parsers.  The first input byte picks:
 *   0..1  the raw query-string parser (index_query_parse), then the
 *         cursor of the parsed query round-tripped through encode/decode;
 *   2     the cursor decoder alone;
 *   3     the follower's field scanner (index_entry_fields), checked
 *         against jansson: whenever jansson accepts the bytes as an object,
 *         every field must be what jansson sees.
 * Beyond "no crash, no leak, no UB": a refused query leaves nothing behind,
 * an accepted one respects its bounds, and a cursor decodes to what was
 * encoded.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/event.h"
#include "followers/index.h"

static ls_rc extra(void *ctx, const char *key, const char *value, struct ls_err *err)
{
	(void)ctx;
	(void)value;
	if (!strcmp(key, "format"))
		return LS_OK;
	(void)err;
	return LS_NOTFOUND;
}

static void check_query(const uint8_t *data, size_t size, int with_extra)
{
	struct index_query q, q2;
	struct ls_err err;
	char cur[INDEX_CURSOR_TEXT + 1];
	json_t *j;

	if (index_query_parse((const char *)data, size, &q, with_extra ? extra : NULL, NULL,
			      &err) != LS_OK) {
		if (q.has || q.actor || q.action || q.source_ip || q.has_after)
			abort();
		return;
	}
	if (q.limit < 1 || q.limit > INDEX_LIMIT_MAX)
		abort();
	if ((q.has & INDEX_Q_SOURCE_IP) && memcmp(q.ip_lo, q.ip_hi, 16) > 0)
		abort();
	if ((q.has & INDEX_Q_ACTION) && (q.has & INDEX_Q_ACTION_PREFIX))
		abort();
	j = index_query_filters_json(&q);
	if (!j)
		abort();
	json_decref(j);
	index_cursor_encode(&q, 12345, cur);
	if (strlen(cur) != INDEX_CURSOR_TEXT)
		abort();
	index_query_init(&q2);
	if (index_cursor_decode(cur, strlen(cur), &q2, &err) != LS_OK || !q2.has_after ||
	    q2.after != 12345 || q2.cursor_order != q.order)
		abort();
	index_query_release(&q);
}

static void check_str(json_t *mine, json_t *doc, const char *a, const char *b, const char *k)
{
	json_t *o = b ? json_object_get(json_object_get(doc, a), b) : json_object_get(doc, a);
	json_t *m = json_object_get(mine, k);

	if (b && !json_is_object(json_object_get(doc, a)))
		o = NULL;
	if (json_is_string(o) && !memchr(json_string_value(o), '\0', json_string_length(o))) {
		if (!json_is_string(m) || json_string_length(m) != json_string_length(o) ||
		    memcmp(json_string_value(m), json_string_value(o), json_string_length(o)))
			abort();
	} else if (!json_is_null(m)) {
		abort();
	}
}

static void check_time(json_t *mine, json_t *doc, const char *a, const char *k)
{
	json_t *o = json_object_get(doc, a), *m = json_object_get(mine, k);
	int64_t us;

	if (json_is_string(o) && strlen(json_string_value(o)) == json_string_length(o) &&
	    event_parse_time(json_string_value(o), &us) == LS_OK) {
		if (!json_is_integer(m) || json_integer_value(m) != us)
			abort();
	} else if (!json_is_null(m)) {
		abort();
	}
}

static void check_fields(const uint8_t *data, size_t size)
{
	json_t *mine = index_entry_fields(data, size), *doc, *ip, *m;
	json_error_t e;

	if (!mine)
		abort();
	/* jansson takes a raw NUL between tokens for white space; stored
	 * entries (canonical JSON) never hold one, so only compare without. */
	doc = memchr(data, '\0', size) ? NULL
					 : json_loadb((const char *)data, size,
						      JSON_REJECT_DUPLICATES, &e);
	if (json_is_object(doc)) {
		uint8_t a[16];
		char hex[33];
		const char *s = NULL;

		check_str(mine, doc, "actor", "id", "actor");
		check_str(mine, doc, "action", NULL, "action");
		check_str(mine, doc, "outcome", NULL, "outcome");
		check_str(mine, doc, "service", NULL, "service");
		check_str(mine, doc, "writer", NULL, "writer");
		check_str(mine, doc, "resource", "type", "resource_type");
		check_str(mine, doc, "resource", "id", "resource_id");
		check_time(mine, doc, "time", "time_us");
		check_time(mine, doc, "received", "received_us");
		ip = json_object_get(json_object_get(doc, "source"), "ip");
		m = json_object_get(mine, "source_ip");
		if (json_is_string(ip) && strlen(json_string_value(ip)) == json_string_length(ip))
			s = json_string_value(ip);
		if (s && inet_pton(AF_INET, s, a + 12) == 1) {
			memset(a, 0, 10);
			a[10] = a[11] = 0xff;
		} else if (!s || inet_pton(AF_INET6, s, a) != 1) {
			s = NULL;
		}
		if (s) {
			ls_hex(a, 16, hex);
			if (!json_is_string(m) || strcmp(json_string_value(m), hex))
				abort();
		} else if (!json_is_null(m)) {
			abort();
		}
	}
	json_decref(doc);
	json_decref(mine);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct index_query q;
	struct ls_err err;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
	case 1:
		check_query(data + 1, size - 1, data[0] & 1);
		break;
	case 2:
		index_query_init(&q);
		if (index_cursor_decode((const char *)data + 1, size - 1, &q, &err) == LS_OK &&
		    (!q.has_after || size - 1 != INDEX_CURSOR_TEXT))
			abort();
		break;
	default:
		check_fields(data + 1, size - 1);
		break;
	}
	return 0;
}
