#!/bin/bash
# Cluster mode (docs/CLUSTER.md) and OTLP logs (POST /v1/logs): a record's
# idempotency key (its logseal.id, else otlp: + SHA-256 of resource, scope
# and record) goes to the database with the batch as a flat event's id
# does, so an export the collector resends through another node after a
# lost reply is one event: the node that never saw it appends nothing, a
# batch of seen and new records through a third path appends the new one,
# and every node's replica holds each record once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
need_s3 log
. "$(dirname "$0")/cluster_lib.sh"
J=application/json

check "init once, copied to two node directories" cluster_init 2
check "node 1 starts; tokens" cluster_tokens
check "node 2 starts" node_start 2

# rec NANOS ACTION BODY [EXTRA-ATTRIBUTES]: one OTLP/JSON log record
rec() {
	printf '{"timeUnixNano":"%s","body":{"stringValue":"%s"},"attributes":[{"key":"logseal.actor.id","value":{"stringValue":"erin"}},{"key":"logseal.action","value":{"stringValue":"%s"}},{"key":"source.address","value":{"stringValue":"10.0.0.5"}}%s]}' \
		"$1" "$3" "$2" "${4:-}"
}
batch() {
	local f=$1; shift
	printf '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},"scopeLogs":[{"scope":{"name":"t0916"},"logRecords":[%s]}]}]}' \
		"$(IFS=,; echo "$*")" >"$f"
}
# post_to NODE FILE: POST /v1/logs through node NODE; prints the status
post_to() {
	curl -s -o "$TMP/resp" -w '%{http_code}' -X POST --max-time 30 -H "Authorization: Bearer $W" \
		-H "Content-Type: $J" --data-binary "@$2" "$(node_url "$1")/v1/logs"
}
size_of() { readyz "$1" | jq -r .tree_size; }
NOW=$(date +%s)
RA=$(rec "${NOW}000000001" c.a "a")
RB=$(rec "${NOW}000000002" c.b "b")
RC=$(rec "${NOW}000000003" c.c "c")
RK=$(rec "${NOW}000000004" c.k "first" ',{"key":"logseal.id","value":{"stringValue":"k-1"}}')
RK2=$(rec "${NOW}000000005" c.k "second" ',{"key":"logseal.id","value":{"stringValue":"k-1"}}')
batch "$TMP/ab.json" "$RA" "$RB" "$RK"
batch "$TMP/abc.json" "$RA" "$RB" "$RC" "$RK2"

check "both nodes converge (before)" wait_until 120 converged 1 2
s0=$(size_of 1)
check_eq "three records through node 1: 200 {}" "200 {}" "$(post_to 1 "$TMP/ab.json") $(jq -c . "$TMP/resp")"
check "both nodes converge" wait_until 120 converged 1 2
check_eq "three more entries" $((s0 + 3)) "$(size_of 2)"
check_eq "the same export resent through node 2: 200 {}" "200 {}" \
	"$(post_to 2 "$TMP/ab.json") $(jq -c . "$TMP/resp")"
check "both nodes converge (after the resend)" wait_until 120 converged 1 2
check_eq "the resend through node 2 appended nothing" $((s0 + 3)) "$(size_of 2)"
check_eq "again through node 2 (its own map now): nothing" "200 $((s0 + 3))" \
	"$(post_to 2 "$TMP/ab.json") $(size_of 2)"
check_eq "seen records, one new, logseal.id k-1 with another body, through node 2: 200" 200 \
	"$(post_to 2 "$TMP/abc.json")"
check "both nodes converge (mixed batch)" wait_until 120 converged 1 2
check_eq "the mixed batch appended exactly one entry" $((s0 + 4)) "$(size_of 1)"
check_eq "and through node 1 again: nothing" "200 $((s0 + 4))" \
	"$(post_to 1 "$TMP/abc.json") $(size_of 1)"
for i in 1 2; do
	"$TESTBIN/journalcat" "$TMP/node$i" >"$TMP/journal$i"
	check_eq "node $i's replica: c.a, c.b, c.c, c.k once each; k-1 with the first body" "1 1 1 1 first" \
		"$(for a in c.a c.b c.c c.k; do grep -ac "\"action\":\"$a\"" "$TMP/journal$i"; done | tr '\n' ' ')$(grep -a '"id":"k-1"' "$TMP/journal$i" | grep -o '"reason":"[a-z]*"' | cut -d'"' -f4)"
done
node_stop 1
node_stop 2
done_testing
