/*
 * formats/otlp_pb.c - a small, strict, bounded reader of the protobuf wire
 * format for one message type tree: OTLP's ExportLogsServiceRequest
 * (opentelemetry/proto/collector/logs/v1/logs_service.proto and the
 * logs/common/resource .proto files it imports), turned into the value the
 * OTLP/JSON encoding of the same request parses to, so that otlp.c maps one
 * shape whatever the encoding.  And the writer of the one reply message,
 * ExportLogsServiceResponse.
 *
 * The bytes (protobuf encoding, https://protobuf.dev/programming-guides/
 * encoding/): a message is a sequence of fields, each a varint tag
 * (field_number << 3 | wire_type) then a value:
 *   wire type 0  varint (1..10 bytes, 7 bits each, little end first)
 *   wire type 1  8 bytes little endian (fixed64, double)
 *   wire type 2  varint length, then that many bytes (string, bytes,
 *                embedded message, packed repeated)
 *   wire type 5  4 bytes little endian (fixed32)
 * The fields read (number: name -> OTLP/JSON member):
 *   ExportLogsServiceRequest  1: resource_logs (ResourceLogs) -> resourceLogs[]
 *   ResourceLogs   1: resource (Resource) -> resource
 *                  2: scope_logs (ScopeLogs) -> scopeLogs[]   3: schema_url
 *   Resource       1: attributes (KeyValue) -> attributes[]
 *                  2: dropped_attributes_count (varint)
 *   ScopeLogs      1: scope (InstrumentationScope)  2: log_records -> logRecords[]
 *                  3: schema_url
 *   InstrumentationScope 1: name  2: version  3: attributes[]  4: dropped
 *   LogRecord      1: time_unix_nano (fixed64, as a decimal string)
 *                 11: observed_time_unix_nano (fixed64, decimal string)
 *                  2: severity_number (varint)  3: severity_text
 *                  5: body (AnyValue)  6: attributes[]  7: dropped (varint)
 *                  8: flags (fixed32)  9: trace_id (bytes, as hex)
 *                 10: span_id (bytes, as hex)  12: event_name
 *   KeyValue       1: key  2: value (AnyValue)
 *   AnyValue       1: string_value  2: bool_value (varint)
 *                  3: int_value (varint, int64)  4: double_value (fixed64)
 *                  5: array_value (ArrayValue: 1: values[] AnyValue)
 *                  6: kvlist_value (KeyValueList: 1: values[] KeyValue)
 *                  7: bytes_value (as standard base64)
 *   ExportLogsServiceResponse  1: partial_success (ExportLogsPartialSuccess:
 *                  1: rejected_log_records (varint int64)  2: error_message)
 *
 * Invariants:
 *  1. Bounded: no read past the n bytes given; a length that runs past its
 *     enclosing message, a varint over 10 bytes or over 64 bits, wire types
 *     3 and 4 (groups) and 6, 7, and field number 0 are refused; AnyValue
 *     nesting is limited to OTLP_PB_MAX_DEPTH and the values built to
 *     OTLP_PB_MAX_NODES, so memory is bounded by the input's size.
 *  2. Strict where a producer cannot have meant otherwise: a known field
 *     with the wrong wire type is refused, strings must be valid UTF-8
 *     (proto3) without U+0000 (no entry may hold it), a singular field seen twice keeps the last (protobuf's
 *     rule for scalars; messages are not merged: the last wins too).
 *  3. Unknown fields are skipped (proto3 forward compatibility), so a newer
 *     collector's additions do not make a request fail.
 *  Pure: no I/O; the fuzz target fuzz/fuzz_otlp.c runs it.
 */
#include "core/formats/otlp.h"
#include "base/crypto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTLP_PB_MAX_DEPTH 12		/* AnyValue inside AnyValue */
#define OTLP_PB_MAX_NODES (1u << 20)	/* values built for one request */

struct pb {
	const uint8_t *p;
	size_t n;
	size_t nodes;
	char *why;
	size_t whycap;
	bool nomem;
};

/* One field: its number, wire type and value (val for 0/1/5, p/n for 2). */
struct pbf {
	uint32_t num;
	unsigned wt;
	uint64_t val;
	const uint8_t *p;
	size_t n;
};

static int fail(struct pb *b, const char *msg)
{
	if (b->why && b->whycap && !b->why[0])
		snprintf(b->why, b->whycap, "%s", msg);
	return -1;
}

static int varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned k = 0; k < 10; k++) {
		uint8_t c;

		if (*i >= n)
			return -1;
		c = p[(*i)++];
		if (k == 9 && c > 1)
			return -1;	/* more than 64 bits */
		x |= (uint64_t)(c & 0x7f) << (7 * k);
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* The next field of p[*i..n): 1 read, 0 at the end, -1 malformed. */
static int next_field(struct pb *b, const uint8_t *p, size_t n, size_t *i, struct pbf *f)
{
	uint64_t tag, len;

	if (*i >= n)
		return 0;
	if (varint(p, n, i, &tag))
		return fail(b, "malformed protobuf: bad tag");
	f->num = (uint32_t)(tag >> 3);
	f->wt = (unsigned)(tag & 7);
	if (f->num == 0 || (tag >> 3) > 0x1fffffff)
		return fail(b, "malformed protobuf: field number 0 or out of range");
	f->p = NULL;
	f->n = 0;
	switch (f->wt) {
	case 0:
		if (varint(p, n, i, &f->val))
			return fail(b, "malformed protobuf: bad varint");
		return 1;
	case 1:
		if (n - *i < 8)
			return fail(b, "malformed protobuf: truncated fixed64");
		f->val = 0;
		for (int k = 7; k >= 0; k--)
			f->val = f->val << 8 | p[*i + (size_t)k];
		*i += 8;
		return 1;
	case 5:
		if (n - *i < 4)
			return fail(b, "malformed protobuf: truncated fixed32");
		f->val = (uint64_t)p[*i] | (uint64_t)p[*i + 1] << 8 | (uint64_t)p[*i + 2] << 16 |
			 (uint64_t)p[*i + 3] << 24;
		*i += 4;
		return 1;
	case 2:
		if (varint(p, n, i, &len))
			return fail(b, "malformed protobuf: bad length");
		if (len > n - *i)
			return fail(b, "malformed protobuf: length past the end of its message");
		f->p = p + *i;
		f->n = (size_t)len;
		*i += (size_t)len;
		return 1;
	default:
		return fail(b, "malformed protobuf: unsupported wire type (group or reserved)");
	}
}

static bool want(struct pb *b, const struct pbf *f, unsigned wt, const char *name)
{
	if (f->wt == wt)
		return true;
	if (b->why && b->whycap && !b->why[0])
		snprintf(b->why, b->whycap, "malformed protobuf: %s has the wrong wire type", name);
	return false;
}

/* Count one value built; false (with why) past the bound. */
static bool node(struct pb *b)
{
	if (++b->nodes <= OTLP_PB_MAX_NODES)
		return true;
	fail(b, "too many values in one request (more than 1048576)");
	return false;
}

static json_t *take(struct pb *b, json_t *v)
{
	if (!v)
		b->nomem = true;
	return v;
}

/* A string field: valid UTF-8 or refused. */
static json_t *pb_string(struct pb *b, const struct pbf *f, const char *name)
{
	json_t *s;

	if (!node(b))
		return NULL;
	/* U+0000 is valid UTF-8 but no stored entry may hold it (jcanon.c
	 * refuses \u0000, as the JSON ingest does). */
	if (memchr(f->p, 0, f->n)) {
		if (b->why && b->whycap && !b->why[0])
			snprintf(b->why, b->whycap, "%s holds a NUL character", name);
		return NULL;
	}
	s = json_stringn((const char *)f->p, f->n);
	if (!s && b->why && b->whycap && !b->why[0])
		snprintf(b->why, b->whycap, "%s is not valid UTF-8", name);
	return s;
}

static bool set(struct pb *b, json_t *o, const char *k, json_t *v)
{
	if (!v)
		return false;
	if (json_object_set_new(o, k, v)) {
		b->nomem = true;
		return false;
	}
	return true;
}

static bool push(struct pb *b, json_t *a, json_t *v)
{
	if (!v)
		return false;
	if (json_array_append_new(a, v)) {
		b->nomem = true;
		return false;
	}
	return true;
}

/* The array member k of o, created on first use. */
static json_t *arr(struct pb *b, json_t *o, const char *k)
{
	json_t *a = json_object_get(o, k);

	if (a)
		return a;
	a = take(b, json_array());
	if (a && json_object_set_new(o, k, a)) {
		b->nomem = true;
		return NULL;
	}
	return a;
}

static json_t *any_value(struct pb *b, const uint8_t *p, size_t n, unsigned depth);

/* KeyValue -> {"key":..,"value":{..}} */
static json_t *key_value(struct pb *b, const uint8_t *p, size_t n, unsigned depth)
{
	json_t *o = node(b) ? take(b, json_object()) : NULL;
	struct pbf f;
	size_t i = 0;
	int r;

	if (!o)
		return NULL;
	while ((r = next_field(b, p, n, &i, &f)) == 1) {
		if (f.num == 1) {
			if (!want(b, &f, 2, "KeyValue.key") ||
			    !set(b, o, "key", pb_string(b, &f, "KeyValue.key")))
				goto bad;
		} else if (f.num == 2) {
			if (!want(b, &f, 2, "KeyValue.value") ||
			    !set(b, o, "value", any_value(b, f.p, f.n, depth + 1)))
				goto bad;
		}
	}
	if (r < 0)
		goto bad;
	if (!json_object_get(o, "key") && !set(b, o, "key", take(b, json_string(""))))
		goto bad;
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* repeated field 1 of p[0..n): AnyValue (kv false) or KeyValue (kv true). */
static json_t *values(struct pb *b, const uint8_t *p, size_t n, unsigned depth, bool kv)
{
	json_t *o = node(b) ? take(b, json_object()) : NULL, *a;
	struct pbf f;
	size_t i = 0;
	int r;

	if (!o)
		return NULL;
	a = arr(b, o, "values");
	if (!a)
		goto bad;
	while ((r = next_field(b, p, n, &i, &f)) == 1) {
		if (f.num != 1)
			continue;
		if (!want(b, &f, 2, "values") ||
		    !push(b, a, kv ? key_value(b, f.p, f.n, depth) : any_value(b, f.p, f.n, depth + 1)))
			goto bad;
	}
	if (r < 0)
		goto bad;
	return o;
bad:
	json_decref(o);
	return NULL;
}

static json_t *hex_of(struct pb *b, const struct pbf *f)
{
	char *h;
	json_t *s;

	if (!node(b))
		return NULL;
	h = malloc(2 * f->n + 1);
	if (!h) {
		b->nomem = true;
		return NULL;
	}
	ls_hex(f->p, f->n, h);
	s = take(b, json_stringn(h, 2 * f->n));
	free(h);
	return s;
}

static json_t *dec_of(struct pb *b, uint64_t v)
{
	char num[24];

	if (!node(b))
		return NULL;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	return take(b, json_string(num));
}

/* AnyValue -> {"stringValue":..} etc.; an empty AnyValue -> {}. */
static json_t *any_value(struct pb *b, const uint8_t *p, size_t n, unsigned depth)
{
	json_t *o, *v = NULL;
	const char *k = NULL;
	struct pbf f;
	size_t i = 0;
	int r;

	if (depth > OTLP_PB_MAX_DEPTH) {
		fail(b, "values nested deeper than 12 levels");
		return NULL;
	}
	o = node(b) ? take(b, json_object()) : NULL;
	if (!o)
		return NULL;
	while ((r = next_field(b, p, n, &i, &f)) == 1) {
		switch (f.num) {
		case 1:
			if (!want(b, &f, 2, "AnyValue.string_value"))
				goto bad;
			k = "stringValue";
			v = pb_string(b, &f, "AnyValue.string_value");
			break;
		case 2:
			if (!want(b, &f, 0, "AnyValue.bool_value"))
				goto bad;
			k = "boolValue";
			v = node(b) ? take(b, json_boolean(f.val != 0)) : NULL;
			break;
		case 3:
			if (!want(b, &f, 0, "AnyValue.int_value"))
				goto bad;
			k = "intValue";
			v = node(b) ? take(b, json_integer((json_int_t)(int64_t)f.val)) : NULL;
			break;
		case 4: {
			double d;

			if (!want(b, &f, 1, "AnyValue.double_value"))
				goto bad;
			memcpy(&d, &f.val, sizeof(d));
			k = "doubleValue";
			if (!node(b))
				v = NULL;
			else if (isfinite(d))
				v = take(b, json_real(d));
			else	/* proto3 JSON's names for what JSON numbers cannot hold */
				v = take(b, json_string(isnan(d) ? "NaN" : d > 0 ? "Infinity"
										 : "-Infinity"));
			break;
		}
		case 5:
		case 6:
			if (!want(b, &f, 2, "AnyValue.array_value/kvlist_value"))
				goto bad;
			k = f.num == 5 ? "arrayValue" : "kvlistValue";
			v = values(b, f.p, f.n, depth, f.num == 6);
			break;
		case 7: {
			char *s;

			if (!want(b, &f, 2, "AnyValue.bytes_value") || !node(b))
				goto bad;
			k = "bytesValue";
			s = malloc(LS_B64_LEN(f.n) + 1);
			if (!s) {
				b->nomem = true;
				goto bad;
			}
			ls_b64_encode(f.p, f.n, s, LS_B64_LEN(f.n) + 1);
			v = take(b, json_string(s));
			free(s);
			break;
		}
		default:
			continue;
		}
		/* A oneof: the last member set is the value. */
		json_object_clear(o);
		if (!set(b, o, k, v))
			goto bad;
	}
	if (r < 0)
		goto bad;
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* Resource and InstrumentationScope: attributes (field an), name/version. */
static json_t *resource_or_scope(struct pb *b, const uint8_t *p, size_t n, bool scope)
{
	json_t *o = node(b) ? take(b, json_object()) : NULL;
	unsigned an = scope ? 3 : 1, dn = scope ? 4 : 2;
	struct pbf f;
	size_t i = 0;
	int r;

	if (!o)
		return NULL;
	while ((r = next_field(b, p, n, &i, &f)) == 1) {
		if (f.num == an) {
			json_t *a = arr(b, o, "attributes");

			if (!a || !want(b, &f, 2, "attributes") ||
			    !push(b, a, key_value(b, f.p, f.n, 0)))
				goto bad;
		} else if (f.num == dn) {
			if (!want(b, &f, 0, "dropped_attributes_count") ||
			    !set(b, o, "droppedAttributesCount",
				 node(b) ? take(b, json_integer((json_int_t)(uint32_t)f.val)) : NULL))
				goto bad;
		} else if (scope && (f.num == 1 || f.num == 2)) {
			if (!want(b, &f, 2, "InstrumentationScope.name/version") ||
			    !set(b, o, f.num == 1 ? "name" : "version",
				 pb_string(b, &f, "InstrumentationScope.name/version")))
				goto bad;
		}
	}
	if (r < 0)
		goto bad;
	return o;
bad:
	json_decref(o);
	return NULL;
}

static json_t *log_record(struct pb *b, const uint8_t *p, size_t n)
{
	json_t *o = node(b) ? take(b, json_object()) : NULL, *v;
	struct pbf f;
	size_t i = 0;
	int r;

	if (!o)
		return NULL;
	while ((r = next_field(b, p, n, &i, &f)) == 1) {
		switch (f.num) {
		case 1:
		case 11:
			if (!want(b, &f, 1, "LogRecord.time_unix_nano") ||
			    !set(b, o, f.num == 1 ? "timeUnixNano" : "observedTimeUnixNano",
				 dec_of(b, f.val)))
				goto bad;
			break;
		case 2:
			if (!want(b, &f, 0, "LogRecord.severity_number"))
				goto bad;
			v = node(b) ? take(b, json_integer((json_int_t)(int32_t)f.val)) : NULL;
			if (!set(b, o, "severityNumber", v))
				goto bad;
			break;
		case 3:
		case 12:
			if (!want(b, &f, 2, "LogRecord.severity_text/event_name") ||
			    !set(b, o, f.num == 3 ? "severityText" : "eventName",
				 pb_string(b, &f, "LogRecord.severity_text/event_name")))
				goto bad;
			break;
		case 5:
			if (!want(b, &f, 2, "LogRecord.body") ||
			    !set(b, o, "body", any_value(b, f.p, f.n, 0)))
				goto bad;
			break;
		case 6: {
			json_t *a = arr(b, o, "attributes");

			if (!a || !want(b, &f, 2, "LogRecord.attributes") ||
			    !push(b, a, key_value(b, f.p, f.n, 0)))
				goto bad;
			break;
		}
		case 7:
			if (!want(b, &f, 0, "LogRecord.dropped_attributes_count"))
				goto bad;
			v = node(b) ? take(b, json_integer((json_int_t)(uint32_t)f.val)) : NULL;
			if (!set(b, o, "droppedAttributesCount", v))
				goto bad;
			break;
		case 8:
			if (!want(b, &f, 5, "LogRecord.flags"))
				goto bad;
			v = node(b) ? take(b, json_integer((json_int_t)f.val)) : NULL;
			if (!set(b, o, "flags", v))
				goto bad;
			break;
		case 9:
		case 10:
			if (!want(b, &f, 2, "LogRecord.trace_id/span_id") ||
			    !set(b, o, f.num == 9 ? "traceId" : "spanId", hex_of(b, &f)))
				goto bad;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		goto bad;
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* ResourceLogs (scope false: fields resource 1, scope_logs 2) and
 * ScopeLogs (scope true: scope 1, log_records 2); schema_url is 3 in both. */
static json_t *logs_level(struct pb *b, const uint8_t *p, size_t n, bool scope)
{
	json_t *o = node(b) ? take(b, json_object()) : NULL, *a;
	struct pbf f;
	size_t i = 0;
	int r;

	if (!o)
		return NULL;
	while ((r = next_field(b, p, n, &i, &f)) == 1) {
		if (f.num == 1) {
			if (!want(b, &f, 2, scope ? "ScopeLogs.scope" : "ResourceLogs.resource") ||
			    !set(b, o, scope ? "scope" : "resource",
				 resource_or_scope(b, f.p, f.n, scope)))
				goto bad;
		} else if (f.num == 2) {
			a = arr(b, o, scope ? "logRecords" : "scopeLogs");
			if (!a || !want(b, &f, 2, scope ? "ScopeLogs.log_records"
							 : "ResourceLogs.scope_logs") ||
			    !push(b, a, scope ? log_record(b, f.p, f.n) : logs_level(b, f.p, f.n, true)))
				goto bad;
		} else if (f.num == 3) {
			if (!want(b, &f, 2, "schema_url") ||
			    !set(b, o, "schemaUrl", pb_string(b, &f, "schema_url")))
				goto bad;
		}
	}
	if (r < 0)
		goto bad;
	return o;
bad:
	json_decref(o);
	return NULL;
}

ls_rc otlp_pb_decode(const uint8_t *p, size_t n, json_t **out, char *why, size_t whycap)
{
	struct pb b = { .p = p, .n = n, .why = why, .whycap = whycap };
	json_t *o, *a;
	struct pbf f;
	size_t i = 0;
	int r;

	*out = NULL;
	if (why && whycap)
		why[0] = 0;
	o = take(&b, json_object());
	a = o ? arr(&b, o, "resourceLogs") : NULL;
	if (!a)
		goto bad;
	while ((r = next_field(&b, p, n, &i, &f)) == 1) {
		if (f.num != 1)
			continue;
		if (!want(&b, &f, 2, "ExportLogsServiceRequest.resource_logs") ||
		    !push(&b, a, logs_level(&b, f.p, f.n, false)))
			goto bad;
	}
	if (r < 0)
		goto bad;
	*out = o;
	return LS_OK;
bad:
	json_decref(o);
	if (b.nomem)
		return LS_NOMEM;
	return b.nodes > OTLP_PB_MAX_NODES ? LS_LIMIT : LS_INVALID;
}

/* ------------------------------------------------------------------ */
/* the reply                                                           */

static size_t put_varint(uint8_t *out, size_t at, size_t cap, uint64_t v)
{
	do {
		if (at < cap)
			out[at] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		at++;
		v >>= 7;
	} while (v);
	return at;
}

size_t otlp_pb_response(int64_t rejected, const char *msg, uint8_t *out, size_t cap)
{
	size_t ml = msg ? strlen(msg) : 0, inner = 0, at = 0;
	uint8_t tmp[10];

	if (rejected == 0 && ml == 0)
		return 0;	/* the empty message: full success */
	if (rejected)
		inner += 1 + put_varint(tmp, 0, sizeof(tmp), (uint64_t)rejected);
	if (ml)
		inner += 1 + put_varint(tmp, 0, sizeof(tmp), ml) + ml;
	at = put_varint(out, at, cap, 1 << 3 | 2);
	at = put_varint(out, at, cap, inner);
	if (rejected) {
		at = put_varint(out, at, cap, 1 << 3 | 0);
		at = put_varint(out, at, cap, (uint64_t)rejected);
	}
	if (ml) {
		at = put_varint(out, at, cap, 2 << 3 | 2);
		at = put_varint(out, at, cap, ml);
		if (at < cap)
			memcpy(out + at, msg, at + ml <= cap ? ml : cap - at);
		at += ml;
	}
	return at;
}
