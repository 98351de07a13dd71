#!/bin/bash
# GET /v1/schema (issue 18): the JSON Schema (draft 2020-12) of the
# standard event is served without a token, and it agrees with the server:
# every event of a set of good and bad ones is accepted by the schema
# (python3-jsonschema, formats asserted) exactly when POST /v1/events
# accepts it.  The cases the schema cannot express (docs/SCHEMA.md: byte
# lengths, depth, entry size, calendar dates, service binding, time skew)
# are not in the set.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" sh -c "'$LOGSEAL' init --data '$D' >/dev/null"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
check_eq "GET /v1/schema without a token: 200" 200 "$(req GET /v1/schema '')"
cp "$TMP/resp" "$TMP/schema.json"
check_eq "Content-Type application/schema+json" "application/schema+json" \
	"$(grep -i '^content-type:' "$TMP/resp.h" | tr -d '\r' | cut -d' ' -f2)"
check_eq "draft 2020-12" "https://json-schema.org/draft/2020-12/schema" "$(jq -r '."$schema"' "$TMP/schema.json")"

if ! python3 -c 'import jsonschema' 2>/dev/null; then
	skip "schema and server agree" "python3-jsonschema is not installed (scripts/deps.sh test)"
	done_testing
	exit
fi
check "the schema is a valid draft 2020-12 schema" python3 -c "
import json, jsonschema, sys
jsonschema.Draft202012Validator.check_schema(json.load(open('$TMP/schema.json')))"

# One event per line: good ones first, then bad ones (what each breaks).
B='"actor":{"id":"alice"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.1"}'
cat >"$TMP/cases" <<CASES
{"time":"2024-01-02T03:04:05Z",$B}
{"time":"2024-01-02T03:04:05.123456789+02:00",$B}
{"time":"2024-01-02t03:04:05z",$B}
{"time":"2024-02-29T00:00:00Z",$B,"service":"shop","id":"k-1","request_id":"r","reason":"why","details":{"a":[1,2.5,{"b":null}]}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"svc","type":"service","name":"Sv\u200dc","email":"s@x"},"action":"a","outcome":"denied","source":{"endpoint":"cron","port":0,"user_agent":"ua"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"u"},"action":"logsealing.x","outcome":"unknown","source":{"ip":"2001:db8::1"},"resource":{"type":"t","id":"i","name":"n"},"service":"logseal-shop"}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success","source":{"ip":"192.0.2.1","port":65535}}
{"actor":{"id":"alice"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02 03:04:05Z",$B}
{"time":"2024-13-02T03:04:05Z",$B}
{"time":"2024-01-02T03:04:60Z",$B}
{"time":"2024-01-02T03:04:05.1234567890Z",$B}
{"time":"2024-01-02T03:04:05",$B}
{"time":1704164645,$B}
{"time":"2024-01-02T03:04:05Z","action":"doc.read","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":""},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"ad\u202emin"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a","type":"robot"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a","role":"x"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"logseal.token.create","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"LogSeal","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"a\tb","outcome":"success","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"ok","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","source":{"ip":"192.0.2.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success"}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success","source":{}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success","source":{"ip":"300.1.1.1"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success","source":{"ip":"example.com"}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success","source":{"endpoint":""}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success","source":{"ip":"192.0.2.1","port":65536}}
{"time":"2024-01-02T03:04:05Z","actor":{"id":"a"},"action":"x","outcome":"success","source":{"ip":"192.0.2.1","port":"80"}}
{"time":"2024-01-02T03:04:05Z",$B,"service":" LOGSEAL "}
{"time":"2024-01-02T03:04:05Z",$B,"service":""}
{"time":"2024-01-02T03:04:05Z",$B,"id":""}
{"time":"2024-01-02T03:04:05Z",$B,"details":[1]}
{"time":"2024-01-02T03:04:05Z",$B,"resource":{"kind":"x"}}
{"time":"2024-01-02T03:04:05Z",$B,"received":"2024-01-02T03:04:05Z"}
{"time":"2024-01-02T03:04:05Z",$B,"redacted":[]}
{"time":"2024-01-02T03:04:05Z",$B,"time_skew":true}
{"time":"2024-01-02T03:04:05Z",$B,"extra":1}
CASES
n=0; agree=0; total=$(wc -l <"$TMP/cases")
while IFS= read -r line; do
	printf '%s' "$line" >"$TMP/case.json"
	st=$(req POST /v1/events "$W" application/json "$TMP/case.json")
	sch=$(python3 -c "
import json, jsonschema, sys
s = json.load(open('$TMP/schema.json'))
v = jsonschema.Draft202012Validator(s, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
print('valid' if v.is_valid(json.load(open('$TMP/case.json'))) else 'invalid')")
	srv=invalid; [ "$st" = 200 ] && srv=valid
	n=$((n + 1))
	if [ "$sch" = "$srv" ]; then agree=$((agree + 1)); else echo "# disagree on case $n: server $st ($srv), schema $sch: $line"; fi
done <"$TMP/cases"
check_eq "schema and server agree on all $total events" "$total" "$agree"
check_eq "the first 7 are accepted, the other $((total - 7)) refused" "7" \
	"$(n=0; while IFS= read -r l; do printf '%s' "$l" >"$TMP/c2.json"; [ "$(req POST /v1/events "$W" application/json "$TMP/c2.json")" = 200 ] && n=$((n + 1)); done <"$TMP/cases"; echo $n)"
done_testing
