/*
 * api_schema.c - GET /v1/schema: the JSON Schema (draft 2020-12) of the
 * standard event as a client sends it (schema "logseal/v1", native
 * format), no token needed: it describes the API, not the log's data, and
 * shippers and CI jobs check events against it before they have a token.
 *
 * docs/SCHEMA.md is the prose; event.c is the rule.  The schema says
 * everything event.c checks that JSON Schema can say; what it cannot is
 * listed in its $comment (and in docs/SCHEMA.md): byte lengths (maxLength
 * counts characters), nesting depth, the 65,535-byte entry limit, calendar
 * dates (Feb 30) and a writer's service binding.  tests/integration/
 * t0961-schema.sh posts a set of good and bad events and checks that the
 * server and this schema (python3-jsonschema, formats asserted) agree.
 */
#include "server/api.h"
#include "server/api_int.h"

/* Characters refused in identifiers (event.c, evt_hidden_char), as an
 * ECMA-262 class body; the tag characters U+E0000-E007F are not in it (an
 * astral range needs surrogates in a JSON Schema regex). */
#define HIDDEN "\\\\u0000-\\\\u001f\\\\u007f-\\\\u009f\\\\u00ad\\\\u061c\\\\u180e" \
	       "\\\\u200b-\\\\u200f\\\\u2028-\\\\u202e\\\\u2060-\\\\u2064\\\\u2066-\\\\u206f" \
	       "\\\\ufeff\\\\ufff9-\\\\ufffb"
#define HIDDEN_NAME "\\\\u0000-\\\\u001f\\\\u007f-\\\\u009f\\\\u00ad\\\\u061c\\\\u180e" \
		    "\\\\u200b\\\\u200e\\\\u200f\\\\u2028-\\\\u202e\\\\u2060-\\\\u2064" \
		    "\\\\u2066-\\\\u206f\\\\ufeff\\\\ufff9-\\\\ufffb"

static const char schema[] =
"{\n"
"  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n"
"  \"$id\": \"https://logseal.invalid/schema/logseal-v1.json\",\n"
"  \"title\": \"logseal/v1 event (as sent to POST /v1/events)\",\n"
"  \"description\": \"One audit event. The server adds received, writer, remote_ip and schema (and redacted, time_skew when they apply); a client must not send them. See docs/SCHEMA.md.\",\n"
"  \"$comment\": \"Not expressible here, checked by the server: lengths in bytes (maxLength counts characters; equal for ASCII), nesting depth <= 16 levels, canonical entry <= 65535 bytes, calendar validity of time (e.g. Feb 30), time no further than the future skew limit, a writer token's service binding, the tag characters U+E0000-U+E007F in identifiers.\",\n"
"  \"type\": \"object\",\n"
"  \"additionalProperties\": false,\n"
"  \"required\": [\"time\", \"actor\", \"action\", \"outcome\", \"source\"],\n"
"  \"properties\": {\n"
"    \"time\": {\"type\": \"string\", \"description\": \"RFC 3339 with an offset; up to 9 fraction digits (stored with 6, truncated); no leap second\",\n"
"      \"pattern\": \"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$\"},\n"
"    \"actor\": {\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"id\"],\n"
"      \"properties\": {\n"
"        \"id\": {\"type\": \"string\", \"minLength\": 1, \"pattern\": \"^[^" HIDDEN "]+$\"},\n"
"        \"type\": {\"enum\": [\"user\", \"service\", \"system\", \"anonymous\"]},\n"
"        \"name\": {\"type\": \"string\", \"pattern\": \"^[^" HIDDEN_NAME "]*$\"},\n"
"        \"email\": {\"type\": \"string\", \"pattern\": \"^[^" HIDDEN "]*$\"}}},\n"
"    \"action\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 256,\n"
"      \"pattern\": \"^[^" HIDDEN "]+$\",\n"
"      \"not\": {\"pattern\": \"^ *[Ll][Oo][Gg][Ss][Ee][Aa][Ll]( *$|\\\\.)\"},\n"
"      \"description\": \"at most 256 bytes; logseal.* (any case) is reserved for the server\"},\n"
"    \"outcome\": {\"enum\": [\"success\", \"failure\", \"denied\", \"error\", \"unknown\"]},\n"
"    \"source\": {\"type\": \"object\", \"additionalProperties\": false,\n"
"      \"anyOf\": [{\"required\": [\"ip\"]}, {\"required\": [\"endpoint\"]}],\n"
"      \"properties\": {\n"
"        \"ip\": {\"type\": \"string\", \"anyOf\": [{\"format\": \"ipv4\"}, {\"format\": \"ipv6\"}]},\n"
"        \"endpoint\": {\"type\": \"string\", \"minLength\": 1},\n"
"        \"port\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 65535},\n"
"        \"user_agent\": {\"type\": \"string\"}}},\n"
"    \"resource\": {\"type\": \"object\", \"additionalProperties\": false,\n"
"      \"properties\": {\n"
"        \"type\": {\"type\": \"string\"},\n"
"        \"id\": {\"type\": \"string\", \"pattern\": \"^[^" HIDDEN "]*$\"},\n"
"        \"name\": {\"type\": \"string\"}}},\n"
"    \"service\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 128,\n"
"      \"pattern\": \"^[^" HIDDEN "]+$\",\n"
"      \"not\": {\"pattern\": \"^ *[Ll][Oo][Gg][Ss][Ee][Aa][Ll] *$\"},\n"
"      \"description\": \"at most 128 bytes; logseal (any case) is reserved; a writer bound to a service may omit it or must send that one\"},\n"
"    \"id\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 128,\n"
"      \"pattern\": \"^[^\\\\u0000-\\\\u001f\\\\u007f]+$\",\n"
"      \"description\": \"idempotency key, scoped by writer and service\"},\n"
"    \"request_id\": {\"type\": \"string\"},\n"
"    \"reason\": {\"type\": \"string\"},\n"
"    \"details\": {\"type\": \"object\", \"description\": \"free-form; numbers that are not integers are kept as 17-digit doubles; redaction applies\"}\n"
"  }\n"
"}\n";

void api_schema_get(struct server *s, const struct request *q, struct reply *r)
{
	(void)s;
	(void)q;
	r->status = 200;
	r->raw_static = schema;
	r->raw_len = sizeof(schema) - 1;
	r->content_type = "application/schema+json";
	r->cache_control = "public, max-age=3600";
}
