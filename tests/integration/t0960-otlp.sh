#!/bin/bash
# OTLP logs over HTTP (issue 18): POST /v1/logs as the OpenTelemetry
# collector's otlphttp exporter sends it - OTLP/JSON, protobuf (bytes made
# by protoc from tests/fixtures/otlp/ at test time) and both gzip'd - maps
# each record by the documented attribute convention; the events are read
# back from the log.  A record that cannot be mapped gives a partialSuccess
# reply (JSON and protobuf, decoded with protoc) and a logseal.ingest.rejected
# event; a body that is no ExportLogsServiceRequest is a 400 and appends
# nothing; the endpoint needs a writer token.  Exactly once: a record's id is
# its attribute logseal.id, else "otlp:" + SHA-256 of resource, scope and
# record, so a byte-identical resend (JSON, protobuf, gzip'd) appends
# nothing, a batch of seen and new records appends the new ones, logseal.id
# wins over the content, and the keys survive a restart (the idempotency
# snapshot, and the journal scan without it).
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
# keys are scoped by the writer token: the protobuf requests (whose record 1
# decodes to the same OTLP/JSON as logs.json's) are sent by another writer
W2=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
have_protoc=1
command -v protoc >/dev/null || have_protoc=0

# event I: the stored event at index I (auditor read)
# (each read appends its own audit event: count sizes before reading)
event() { req GET "/v1/events/$1" "$AUD" >/dev/null; jq -c .entry "$TMP/resp"; }
# post_otlp CT FILE [gzip]: POST /v1/logs; prints the status
post_otlp() {
	local args=(-s -o "$TMP/resp" -D "$TMP/resp.h" -w '%{http_code}' -X POST --max-time 20
		-H "Authorization: Bearer ${OTLP_TOKEN:-$W}" -H "Content-Type: $1")
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
check_eq "records 0 and 1: ids otlp:<sha256 hex>, not equal" "true true false" \
	"$(jq -r '.id|test("^otlp:[0-9a-f]{64}$")' <<<"$e0") $(jq -r '.id|test("^otlp:[0-9a-f]{64}$")' <<<"$e1") $([ "$(jq -r .id <<<"$e0")" = "$(jq -r .id <<<"$e1")" ] && echo true || echo false)"
s0b=$(tree_size)
check_eq "JSON resent byte-identical: 200, the same partialSuccess" '200 "1"' \
	"$(post_otlp $J "$FX/logs.json") $(jq -c .partialSuccess.rejectedLogRecords "$TMP/resp")"
check_eq "JSON resent: only the rejection is recorded again (+1), the records are not" \
	$((s0b + 1)) "$(tree_size)"
check_eq "JSON resent: its one new entry is the rejection" logseal.ingest.rejected \
	"$(event "$s0b" | jq -r .action)"

# ---- protobuf, plain and gzip
if [ $have_protoc = 1 ]; then
	protoc --proto_path="$FX" --encode=otlptest.ExportLogsServiceRequest "$FX/logs.proto" \
		<"$FX/logs.txtpb" >"$TMP/logs.bin"
	export OTLP_TOKEN=$W2
	s1=$(tree_size)
	check_eq "protobuf: 200" 200 "$(post_otlp $P "$TMP/logs.bin")"
	check_eq "protobuf: three events" $((s1 + 3)) "$(tree_size)"
	check_eq "protobuf: reply Content-Type" "application/x-protobuf" \
		"$(grep -i '^content-type:' "$TMP/resp.h" | tr -d '\r' | cut -d' ' -f2)"
	check_eq "protobuf: ExportLogsServiceResponse with partial_success (protoc --decode)" \
		'rejected_log_records: 1' \
		"$(protoc --proto_path="$FX" --decode=otlptest.ExportLogsServiceResponse "$FX/logs.proto" <"$TMP/resp" | grep -o 'rejected_log_records: [0-9]*')"
	check_eq "protobuf: the same events as JSON (but the writer)" \
		"$(jq -c 'del(.received,.id,.writer)' <<<"$e0")" \
		"$(event "$s1" | jq -c 'del(.received,.id,.writer)')"
	s1=$(tree_size)
	check_eq "protobuf resent byte-identical: 200" 200 "$(post_otlp $P "$TMP/logs.bin")"
	check_eq "protobuf resent: only the rejection again (+1)" $((s1 + 1)) "$(tree_size)"
	s1=$(tree_size)
	check_eq "protobuf gzip (the same records): 200" 200 "$(post_otlp $P "$TMP/logs.bin" gzip)"
	check_eq "JSON gzip (the same records as the first JSON): 200" 200 \
		"$(OTLP_TOKEN=$W post_otlp $J "$FX/logs.json" gzip)"
	check_eq "gzip'd resends: two more events, both rejections" $((s1 + 2)) "$(tree_size)"
	check_eq "gzip'd resends: those two are the rejections" "logseal.ingest.rejected logseal.ingest.rejected" \
		"$(event "$s1" | jq -r .action) $(event $((s1 + 1)) | jq -r .action)"
	# a fully mapped request: the empty response message
	printf 'resource_logs { scope_logs { log_records { time_unix_nano: 1700000000000000000 attributes { key: "logseal.actor.id" value { string_value: "carol" } } attributes { key: "logseal.action" value { string_value: "door.open" } } attributes { key: "logseal.outcome" value { string_value: "denied" } } attributes { key: "source.address" value { string_value: "10.1.2.3" } } } } }' |
		protoc --proto_path="$FX" --encode=otlptest.ExportLogsServiceRequest "$FX/logs.proto" >"$TMP/one.bin"
	check_eq "protobuf, all mapped: 200 and an empty body" "200 0" \
		"$(post_otlp $P "$TMP/one.bin") $(wc -c <"$TMP/resp")"
	s1=$(tree_size)
	check_eq "protobuf, all mapped, resent: 200, empty, nothing appended" "200 0 $s1" \
		"$(post_otlp $P "$TMP/one.bin") $(wc -c <"$TMP/resp") $(tree_size)"
	check_eq "carol's denied door.open is in the log" "carol door.open denied 10.1.2.3" \
		"$(event $((s1 - 1)) | jq -r '[.actor.id,.action,.outcome,.source.ip]|join(" ")')"
	unset OTLP_TOKEN
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
# ---- exactly once: fully mapped batches (every record keyed)
# rec TIME ACTION BODY [EXTRA-ATTRIBUTES]: one OTLP/JSON log record
rec() {
	printf '{"timeUnixNano":"%s","body":{"stringValue":"%s"},"attributes":[{"key":"logseal.actor.id","value":{"stringValue":"dave"}},{"key":"logseal.action","value":{"stringValue":"%s"}},{"key":"source.address","value":{"stringValue":"10.0.0.9"}}%s]}' \
		"$1" "$3" "$2" "${4:-}"
}
# batch FILE RECORD...: an ExportLogsServiceRequest of the records
batch() {
	local f=$1; shift
	printf '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},"scopeLogs":[{"scope":{"name":"t0960"},"logRecords":[%s]}]}]}' \
		"$(IFS=,; echo "$*")" >"$f"
}
# count ACTION: how many events of ACTION (service shop) the log holds, and
# their indexes (a search appends its own audit event: read sizes first)
count() {
	curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/v1/events?service=shop&action=$1&limit=100" |
		jq -r '[.events|length, (map(.index)|sort|map(tostring)|join(","))]|join(" ")'
}
RA=$(rec 1700000001000000000 x.a "first a")
RB=$(rec 1700000002000000000 x.b "first b")
RC=$(rec 1700000003000000000 x.c "first c")
batch "$TMP/ab.json" "$RA" "$RB"
batch "$TMP/abc.json" "$RA" "$RB" "$RC"
batch "$TMP/aa.json" "$RA" "$RA"
s3=$(tree_size)
check_eq "a fully mapped batch: 200 {}, two events" "200 {} $((s3 + 2))" \
	"$(post_otlp $J "$TMP/ab.json") $(jq -c . "$TMP/resp") $(tree_size)"
check_eq "resent byte-identical: 200 {}, the log did not grow" "200 {} $((s3 + 2))" \
	"$(post_otlp $J "$TMP/ab.json") $(jq -c . "$TMP/resp") $(tree_size)"
check_eq "resent gzip'd: the log did not grow" "200 $((s3 + 2))" \
	"$(post_otlp $J "$TMP/ab.json" gzip) $(tree_size)"
check_eq "the same record twice in one batch: nothing new" "200 $((s3 + 2))" \
	"$(post_otlp $J "$TMP/aa.json") $(tree_size)"
check_eq "a batch of the two seen records and a new one appends exactly one" "200 $((s3 + 3))" \
	"$(post_otlp $J "$TMP/abc.json") $(tree_size)"
check_eq "x.a and x.b: one event each, at their first indexes; x.c after them" \
	"1 $s3|1 $((s3 + 1))|1 $((s3 + 2))" "$(count x.a)|$(count x.b)|$(count x.c)"
# logseal.id is the key (and the id): a resend with another body is one event
ID=',{"key":"logseal.id","value":{"stringValue":"order-7"}}'
batch "$TMP/id1.json" "$(rec 1700000004000000000 x.id "body one" "$ID")"
batch "$TMP/id2.json" "$(rec 1700000005000000000 x.id "body two" "$ID")"
s4=$(tree_size)
check_eq "logseal.id: one event" "200 $((s4 + 1))" "$(post_otlp $J "$TMP/id1.json") $(tree_size)"
check_eq "logseal.id resent with another body and time: still one event (the key wins)" \
	"200 $((s4 + 1))" "$(post_otlp $J "$TMP/id2.json") $(tree_size)"
check_eq "its id is logseal.id, its body the first" "order-7 body one null" \
	"$(event "$s4" | jq -r '[.id,.reason,(.details.attributes."logseal.id"|tostring)]|join(" ")')"
# the other writer's logseal.id order-7 is another key
check_eq "the same logseal.id from another writer is another event" "200 $(($(tree_size) + 1))" \
	"$(OTLP_TOKEN=$W2 post_otlp $J "$TMP/id1.json") $(tree_size)"
# ---- the keys survive a restart: the snapshot written at the stop, then
# the journal alone (snapshot removed)
check "restart: stops cleanly" stop_server
check "restart: the idempotency snapshot was written" test -s "$D/state/idem.snap"
check "restart: server starts" start_server "$D"
s5=$(tree_size)
check_eq "after the restart (snapshot): resends append nothing" "200 200 $s5" \
	"$(post_otlp $J "$TMP/abc.json") $(post_otlp $J "$TMP/id2.json") $(tree_size)"
if [ $have_protoc = 1 ]; then
	check_eq "after the restart: the protobuf resend appends nothing" "200 $s5" \
		"$(OTLP_TOKEN=$W2 post_otlp $P "$TMP/one.bin") $(tree_size)"
fi
check "restart without the snapshot: stops" stop_server
rm -f "$D/state/idem.snap"
check "restart without the snapshot: starts (the journal is scanned)" start_server "$D"
s6=$(tree_size)
check_eq "after the journal scan: resends append nothing" "200 200 $s6" \
	"$(post_otlp $J "$TMP/abc.json") $(post_otlp $J "$TMP/id1.json") $(tree_size)"
RD=$(rec 1700000006000000000 x.d "first d")
batch "$TMP/abcd.json" "$RA" "$RB" "$RC" "$RD"
check_eq "after the journal scan: a new record among seen ones appends one" "200 $((s6 + 1))" \
	"$(post_otlp $J "$TMP/abcd.json") $(tree_size)"
check_eq "x.a, x.c: still one event each" "1 $s3|1 $((s3 + 2))" "$(count x.a)|$(count x.c)"
done_testing
