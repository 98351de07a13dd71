#!/bin/bash
# What a first user tripped on (issue 18, "Polish"): counts agree with their
# number ("1 event sent in 1 batch", "imported 1 entry"); /v1/integrity's
# ages are rounded to milliseconds, not 8.0093728800000008; `logseal send`
# to a stopped server fails within seconds and says what to check; after a
# 400, send names the line, shows the server's message and does not advise
# the retry that would fail the same way; OCSF exports a login as
# Authentication (3002, Logon) and ECS exports carry event.category.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin polish.test/log
E='{"time":"2026-11-26T10:00:00Z","actor":{"id":"alice","type":"user"},"action":"user.login","outcome":"success","source":{"ip":"192.0.2.10"},"service":"demo"}'
echo "$E" | "$LOGSEAL" import --data "$D" >"$TMP/imp.out" 2>&1
check_eq "import of one event: 'imported 1 entry'" "imported 1 entry" "$(cat "$TMP/imp.out")"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
new_token "$ADMIN" '{"role":"writer","name":"w"}' >"$TMP/w.tok"
new_token "$ADMIN" '{"role":"auditor","name":"a"}' >"$TMP/a.tok"

echo "$E" >"$TMP/one.ndjson"
"$LOGSEAL" send --server "$SRV_URL" --token-file "$TMP/w.tok" "$TMP/one.ndjson" 2>"$TMP/send.err"
check_eq "send of one event: '1 event sent in 1 batch: 1 appended, 0 duplicates'" 1 \
	"$(grep -c 'done: 1 event sent in 1 batch: 1 appended, 0 duplicates' "$TMP/send.err")"
"$LOGSEAL" query --server "$SRV_URL" --token-file "$TMP/a.tok" --format table --actor alice --from 2026-11-26 >/dev/null 2>"$TMP/q.err"
check_eq "query's table footer: '2 events'" 1 "$(grep -c '^2 events ' "$TMP/q.err")"
"$LOGSEAL" query --server "$SRV_URL" --token-file "$TMP/a.tok" --format table --actor alice --limit 1 >/dev/null 2>"$TMP/q.err"
check_eq "query's table footer: '1 event'" 1 "$(grep -c '^1 event ' "$TMP/q.err")"

# /v1/integrity: the age has at most 3 decimals.
sleep 0.2
check_eq "GET /v1/integrity: 200" 200 "$(req GET /v1/integrity "$ADMIN")"
age=$(grep -o '"checkpoint_age_seconds":[^,}]*' "$TMP/resp" | cut -d: -f2)
check_eq "checkpoint_age_seconds is rounded to ms ($age)" 1 "$(echo "$age" | grep -qE '^[0-9]+(\.[0-9]{1,3})?$' && echo 1)"

# A 400: the line, the server's message, and no advice to send it again as is.
printf '%s\n{"time":"2026-11-26T10:00:00Z","action":"x"}\n%s\n' "$E" "$E" >"$TMP/bad.ndjson"
check_fails "send with a bad line 2 fails" "$LOGSEAL" send --server "$SRV_URL" --token-file "$TMP/w.tok" --batch 1 "$TMP/bad.ndjson"
check_eq "it names input line 2 and shows the server's message" 1 \
	"$(grep -c 'input line 2: HTTP 400 invalid_event: .*actor' "$TMP/last.out")"
check_eq "it says the same input fails the same way" 1 "$(grep -c 'sending the same input again fails the same way' "$TMP/last.out")"
check_eq "it does not say 'to finish, send the same input again'" 0 "$(grep -c 'to finish, send the same input again' "$TMP/last.out")"

# Exports: OCSF Authentication for user.login, ECS event.category.
"$LOGSEAL" export --server "$SRV_URL" --token-file "$TMP/a.tok" --format ocsf --actor alice --output "$TMP/x.ocsf" 2>/dev/null
check_eq "OCSF: user.login is Authentication / Logon (3002, 1, 300201)" "3002 1 300201 Logon alice" \
	"$(head -1 "$TMP/x.ocsf" | jq -r '"\(.class_uid) \(.activity_id) \(.type_uid) \(.activity_name) \(.user.uid)"')"
"$LOGSEAL" export --server "$SRV_URL" --token-file "$TMP/a.tok" --format ecs --actor alice --output "$TMP/x.ecs" 2>/dev/null
check_eq "ECS: user.login has event.category [authentication], type [start]" '["authentication"] ["start"]' \
	"$(head -1 "$TMP/x.ecs" | jq -c '.event.category, .event.type' | tr '\n' ' ' | sed 's/ $//')"
"$LOGSEAL" export --server "$SRV_URL" --token-file "$TMP/a.tok" --format ecs --action logseal.token.create --output "$TMP/t.ecs" 2>/dev/null
check_eq "ECS: a token's creation is iam / creation" '["iam"] ["creation"]' \
	"$(head -1 "$TMP/t.ecs" | jq -c '.event.category, .event.type' | tr '\n' ' ' | sed 's/ $//')"

# A stopped server: send fails within seconds and says what to check.
stop_server
start=$(date +%s%N)
check_fails "send to a stopped server fails" "$LOGSEAL" send --server "$SRV_URL" --token-file "$TMP/w.tok" "$TMP/one.ndjson"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_eq "... within 5 s (took $ms ms; it took 61 s)" 1 "$([ "$ms" -lt 5000 ] && echo 1)"
check_eq "... and says to check the server and --server" 1 "$(grep -c 'is the server running, and is --server' "$TMP/last.out")"
done_testing
