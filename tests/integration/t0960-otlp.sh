#!/bin/bash
# OTLP logs over HTTP (issue 18): POST /v1/logs as the OpenTelemetry
# collector's otlphttp exporter sends it - OTLP/JSON, protobuf (bytes made
# by protoc from tests/fixtures/otlp/ at test time) and both gzip'd - maps
# each record by the documented attribute convention; the events are read
# back from the log.  A record that cannot be mapped gives a partialSuccess
# reply (JSON and protobuf, decoded with protoc) and a logseal.ingest.rejected
# event; a body that is no ExportLogsServiceRequest is a 400 and appends
# nothing; the endpoint needs a writer token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
FX=$(cd "$(dirname "$0")/../fixtures/otlp" && pwd)
D=$TMP/data
J=application/json
P=application/x-protobuf
check "init" sh -c "'$LOGSEAL' init --data '$D' >/dev/null"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
have_protoc=1
command -v protoc >/dev/null || have_protoc=0

# event I: the stored event at index I (auditor read)
# (each read appends its own audit event: count sizes before reading)
event() { req GET "/v1/events/$1" "$AUD" >/dev/null; jq -c .entry "$TMP/resp"; }
# post_otlp CT FILE [gzip]: POST /v1/logs; prints the status
post_otlp() {
	local args=(-s -o "$TMP/resp" -D "$TMP/resp.h" -w '%{http_code}' -X POST --max-time 20
		-H "Authorization: Bearer $W" -H "Content-Type: $1")
	if [ "${3:-}" = gzip ]; then
		gzip -c "$2" >"$TMP/body.gz"
		args+=(-H "Content-Encoding: gzip" --data-binary "@$TMP/body.gz")
	else
		args+=(--data-binary "@$2")
	fi
	curl "${args[@]}" "$SRV_URL/v1/logs"
}

# ---- OTLP/JSON: three records, two mapped, one rejected
s0=$(tree_size)
check_eq "JSON: 200" 200 "$(post_otlp $J "$FX/logs.json")"
check_eq "JSON: partialSuccess names the rejected record" \
	'"1" record 2: logseal.actor.id: required (attribute logseal.actor.id, enduser.id or user.id)' \
	"$(jq -c .partialSuccess.rejectedLogRecords "$TMP/resp") $(jq -r .partialSuccess.errorMessage "$TMP/resp")"
check_eq "JSON: three events appended (two records, one rejection)" $((s0 + 3)) "$(tree_size)"
e0=$(event "$s0")
check_eq "record 0: actor, action, outcome, source, service, resource, reason" \
	'alice invoice.pay success 2001:db8::1 51234 billing invoice inv-42 invoice paid' \
	"$(jq -r '[.actor.id,.action,.outcome,.source.ip,.source.port,.service,.resource.type,.resource.id,.reason]|join(" ")' <<<"$e0")"
check_eq "record 0: time from timeUnixNano, trace and span ids kept" \
	'2018-12-13T14:51:00.300000Z 5b8efff798038103d269b633813fc60c eee19b7ec3c1b174' \
	"$(jq -r '[.time,.details.trace_id,.details.span_id]|join(" ")' <<<"$e0")"
check_eq "record 0: other attributes in details" '{"amount":12.5,"nested":{"ok":true},"raw":"AQL/","tags":["a",7]}' \
	"$(jq -c -S .details.attributes <<<"$e0")"
check_eq "record 0: the server's fields" "logseal/v1 127.0.0.1" "$(jq -r '[.schema,.remote_ip]|join(" ")' <<<"$e0")"
e1=$(event $((s0 + 1)))
check_eq "record 1: fallbacks (observedTime, eventName, user.id, host.name; outcome unknown)" \
	'2023-11-14T22:13:20.123456Z login bob web-7 unknown' \
	"$(jq -r '[.time,.action,.actor.id,.source.endpoint,.outcome]|join(" ")' <<<"$e1")"
e2=$(event $((s0 + 2)))
check_eq "record 2: recorded as logseal.ingest.rejected" 'logseal logseal.ingest.rejected otlp 2 logseal.actor.id' \
	"$(jq -r '[.service,.action,.details.format,.details.record,.details.field]|join(" ")' <<<"$e2")"

# ---- protobuf, plain and gzip
if [ $have_protoc = 1 ]; then
	protoc --proto_path="$FX" --encode=otlptest.ExportLogsServiceRequest "$FX/logs.proto" \
		<"$FX/logs.txtpb" >"$TMP/logs.bin"
	s1=$(tree_size)
	check_eq "protobuf: 200" 200 "$(post_otlp $P "$TMP/logs.bin")"
	check_eq "protobuf: three events" $((s1 + 3)) "$(tree_size)"
	check_eq "protobuf: reply Content-Type" "application/x-protobuf" \
		"$(grep -i '^content-type:' "$TMP/resp.h" | tr -d '\r' | cut -d' ' -f2)"
	check_eq "protobuf: ExportLogsServiceResponse with partial_success (protoc --decode)" \
		'rejected_log_records: 1' \
		"$(protoc --proto_path="$FX" --decode=otlptest.ExportLogsServiceResponse "$FX/logs.proto" <"$TMP/resp" | grep -o 'rejected_log_records: [0-9]*')"
	check_eq "protobuf: the same events as JSON" "$(jq -c 'del(.received)' <<<"$e0")" \
		"$(event "$s1" | jq -c 'del(.received)')"
	s1=$(tree_size)
	check_eq "protobuf gzip: 200" 200 "$(post_otlp $P "$TMP/logs.bin" gzip)"
	check_eq "JSON gzip: 200" 200 "$(post_otlp $J "$FX/logs.json" gzip)"
	check_eq "six more events" $((s1 + 6)) "$(tree_size)"
	check_eq "gzip'd protobuf: the same record 1" "$(jq -c 'del(.received)' <<<"$e1")" \
		"$(event $((s1 + 1)) | jq -c 'del(.received)')"
	# a fully mapped request: the empty response message
	printf 'resource_logs { scope_logs { log_records { time_unix_nano: 1700000000000000000 attributes { key: "logseal.actor.id" value { string_value: "carol" } } attributes { key: "logseal.action" value { string_value: "door.open" } } attributes { key: "logseal.outcome" value { string_value: "denied" } } attributes { key: "source.address" value { string_value: "10.1.2.3" } } } } }' |
		protoc --proto_path="$FX" --encode=otlptest.ExportLogsServiceRequest "$FX/logs.proto" >"$TMP/one.bin"
	check_eq "protobuf, all mapped: 200 and an empty body" "200 0" \
		"$(post_otlp $P "$TMP/one.bin") $(wc -c <"$TMP/resp")"
	check_eq "carol's denied door.open is in the log" "carol door.open denied 10.1.2.3" \
		"$(event $(($(tree_size) - 1)) | jq -r '[.actor.id,.action,.outcome,.source.ip]|join(" ")')"
else
	skip "protobuf requests" "protoc (Debian protobuf-compiler) is not installed"
fi

# ---- refusals
s2=$(tree_size)
printf '\x0a\x05\x0a' >"$TMP/bad.bin"
check_eq "malformed protobuf: 400" 400 "$(post_otlp $P "$TMP/bad.bin")"
printf '{"resourceLogs":{}}' >"$TMP/bad.json"
check_eq "resourceLogs not an array: 400" 400 "$(post_otlp $J "$TMP/bad.json")"
printf 'not gzip' >"$TMP/notgz"
check_eq "bad gzip: 400" 400 "$(curl -s -o "$TMP/resp" -w '%{http_code}' -X POST -H "Authorization: Bearer $W" \
	-H "Content-Type: $J" -H 'Content-Encoding: gzip' --data-binary "@$TMP/notgz" "$SRV_URL/v1/logs")"
check_eq "Content-Encoding br: 415" 415 "$(curl -s -o "$TMP/resp" -w '%{http_code}' -X POST -H "Authorization: Bearer $W" \
	-H "Content-Type: $J" -H 'Content-Encoding: br' --data-binary "@$FX/logs.json" "$SRV_URL/v1/logs")"
check_eq "text/plain: 415" 415 "$(req POST /v1/logs "$W" text/plain "$FX/logs.json")"
# a gzip bomb past --max-body is refused, not inflated without end
head -c 40000000 /dev/zero | gzip -c >"$TMP/bomb.gz"
check_eq "gzip past --max-body once inflated: 413" 413 "$(curl -s -o "$TMP/resp" -w '%{http_code}' -X POST -H "Authorization: Bearer $W" \
	-H "Content-Type: $J" -H 'Content-Encoding: gzip' --data-binary "@$TMP/bomb.gz" "$SRV_URL/v1/logs")"
check_eq "nothing appended by the refused requests" "$s2" "$(tree_size)"
check_eq "auditor token: 403" 403 "$(req POST /v1/logs "$AUD" $J "$FX/logs.json")"
check_eq "no token: 401" 401 "$(req POST /v1/logs "" $J "$FX/logs.json")"
check "server still healthy" curl -sf "$SRV_URL/healthz"
# /metrics counts the refused records as the log holds them
nrec=$(curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/v1/events?service=logseal&action=logseal.ingest.rejected&limit=100" |
	jq '[.events[].entry | select(.details.format == "otlp")] | length')
check_eq "logseal_ingest_rejected_total{format=\"otlp\"} = the records in the log (at least 1)" "$nrec 1" \
	"$(curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/metrics" | awk '$1 == "logseal_ingest_rejected_total{format=\"otlp\"}" {print $2}') $([ "$nrec" -ge 1 ] && echo 1)"
done_testing
