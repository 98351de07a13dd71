#!/bin/bash
# The server's own events cannot be forged (issue 12): service "logseal" and
# actions "logseal.*", in any case, are refused with 400 reserved_by_server
# on every ingest format (native JSON and NDJSON, flat, a writer bound to
# "logseal"), by token creation and by `logseal import`, and nothing of a
# refused batch is appended.  Actor and resource ids with bidirectional,
# zero-width or control characters are refused (native, flat, k8s).  In an
# encrypted data directory (the default) alerts/state.json names no actor
# or address of a fired alert; the listing still shows them after a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init (encrypted)" sh -c "'$LOGSEAL' init --data '$D' >/dev/null"
[ -f "$D/keys/master.json" ] && ok "the data directory is encrypted" || not_ok "the data directory is encrypted"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')

# post [QUERY] JSON-TEXT: one batch as the writer; prints the status.
post() { printf '%s' "$2" >"$TMP/post.json"; req POST "/v1/events$1" "$W" "${CT:-$J}" "$TMP/post.json"; }
evt() { printf '{"time":"2024-01-01T00:00:00Z","service":"%s","actor":{"id":"%s"},"action":"%s","outcome":"success","source":{"ip":"192.0.2.1"}}' "$1" "$2" "$3"; }
code() { jq -r .error.code "$TMP/resp"; }

# ---- reserved service and actions
size0=$(tree_size)
for svc in logseal LogSeal LOGSEAL ' logseal '; do
	check_eq "service \"$svc\": 400 reserved_by_server" "400 reserved_by_server service" \
		"$(post '' "$(evt "$svc" alice doc.read)") $(code) $(jq -r .error.field "$TMP/resp")"
done
for act in logseal.alert.fired logseal.token.create LogSeal.auth.denied; do
	check_eq "action \"$act\": 400 reserved_by_server" "400 reserved_by_server action" \
		"$(post '' "$(evt shop alice "$act")") $(code) $(jq -r .error.field "$TMP/resp")"
done
check_eq "escaped \\u006cogseal: 400" "400 reserved_by_server" \
	"$(post '' '{"time":"2024-01-01T00:00:00Z","service":"\u006cogseal","actor":{"id":"a"},"action":"x","outcome":"success","source":{"ip":"192.0.2.1"}}') $(code)"
check_eq "NDJSON, the second event reserved: 400 at position 1" "400 reserved_by_server 1" \
	"$(CT=application/x-ndjson post '' "$(evt shop a x)
$(evt shop b logseal.alert.fired)") $(code) $(jq -r .error.position "$TMP/resp")"
check_eq "flat format, service LogSeal: 400" "400 reserved_by_server" \
	"$(post '?format=flat' '{"timestamp":"2024-01-01T00:00:00Z","user_id":"bob","action":"file.read","status":"ok","location":"10.1.2.3","service":"LogSeal"}') $(code)"
check_eq "flat format, action logseal.token.revoke: 400" "400 reserved_by_server" \
	"$(post '?format=flat' '{"timestamp":"2024-01-01T00:00:00Z","user_id":"bob","action":"logseal.token.revoke","status":"ok","location":"10.1.2.3"}') $(code)"
check_eq "nothing of the refused batches was appended" "$size0" "$(tree_size)"
check_eq "near names are not reserved (logseal-shop, logsealing.x)" 200 \
	"$(post '' "[$(evt logseal-shop a x),$(evt shop a logsealing.x)]")"
printf '{"role":"writer","service":"LogSeal"}' >"$TMP/tok.json"
check_eq "a writer token bound to \"LogSeal\": 400" 400 "$(req POST /v1/tokens "$ADMIN" $J "$TMP/tok.json")"

# ---- hidden characters in identifiers
check_eq "actor.id with U+202E (RIGHT-TO-LEFT OVERRIDE): 400" "400 invalid_event actor.id" \
	"$(post '' "$(evt shop 'admin\u202e' x)") $(code) $(jq -r .error.field "$TMP/resp")"
check_eq "actor.id with U+200B (ZERO WIDTH SPACE): 400" "400 actor.id" \
	"$(post '' "$(evt shop 'ad\u200bmin' x)") $(jq -r .error.field "$TMP/resp")"
check_eq "actor.id with U+2066 (isolate), raw UTF-8: 400" "400 actor.id" \
	"$(post '' "$(evt shop "$(printf 'ad\xe2\x81\xa6min')" x)") $(jq -r .error.field "$TMP/resp")"
check_eq "actor.id with U+FEFF: 400" 400 "$(post '' "$(evt shop '\ufeffadmin' x)")"
check_eq "actor.id with a C1 control (U+009B): 400" 400 "$(post '' "$(evt shop 'a\u009bb' x)")"
check_eq "actor.id with DEL: 400" 400 "$(post '' "$(evt shop 'a\u007fb' x)")"
check_eq "the reason names the code point" 1 "$(post '' "$(evt shop 'admin\u202e' x)" >/dev/null; jq -r .error.message "$TMP/resp" | grep -c 'U+202E')"
check_eq "flat user_id with U+202D: 400 naming user_id" "400 user_id" \
	"$(post '?format=flat' '{"timestamp":"2024-01-01T00:00:00Z","user_id":"bob\u202d","action":"file.read","status":"ok","location":"10.1.2.3"}') $(jq -r .error.field "$TMP/resp")"
printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"sys\\u202eadmin"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-01-01T00:00:00.000000Z","stageTimestamp":"2024-01-01T00:00:00.000000Z"}' >"$TMP/k8s.json"
check_eq "k8s user.username with U+202E: 400 naming actor.id" "400 actor.id" "$(req POST '/v1/k8s/audit?partial=0' "$W" $J "$TMP/k8s.json") $(jq -r .error.field "$TMP/resp")"
check_eq "... by default (partial) 200, refused as actor.id, nothing appended" "200 actor.id 0" \
	"$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s.json") $(jq -r '.rejected[0].field' "$TMP/resp") $(jq -r .appended "$TMP/resp")"
sed "s/sys\\\\u202eadmin/sysadmin/" "$TMP/k8s.json" >"$TMP/k8s-ok.json"
check_eq "the same k8s event without it: 200" 200 "$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s-ok.json")"
check_eq "a name with a joiner (emoji sequence) is fine" 200 \
	"$(post '' '{"time":"2024-01-01T00:00:00Z","actor":{"id":"u1","name":"\ud83d\udc69\u200d\ud83d\udcbb"},"action":"x","outcome":"success","source":{"ip":"192.0.2.1"}}')"

# ---- alerts/state.json names no actor or address
printf '{"id":"r_two","name":"two denials","kind":"threshold","filter":{"outcome":"denied","service":"shop"},"threshold":{"count":2,"window_seconds":60,"group_by":"actor"}}' >"$TMP/rule.json"
check_eq "add a threshold rule grouped by actor" 201 "$(req POST /v1/alerts/rules "$ADMIN" $J "$TMP/rule.json")"
# dated now: threshold rules count by event time and ignore late events
den="{\"time\":\"$(date -u +%FT%TZ)\",\"service\":\"shop\",\"actor\":{\"id\":\"mallory-secret-42\"},\"action\":\"user.login\",\"outcome\":\"denied\",\"source\":{\"ip\":\"198.51.100.200\"}}"
check_eq "two denials by one actor" 200 "$(post '' "[$den,$den]")"
alert_group() {
	for _ in $(seq 1 100); do
		req GET "/v1/alerts?limit=1000" "$AUD" >/dev/null
		g=$(jq -r '[.alerts[] | select(.rule.id == "r_two")][0].group // empty' "$TMP/resp")
		[ -n "$g" ] && { echo "$g"; return 0; }
		sleep 0.1
	done
	return 1
}
check_eq "the alert fired, grouped by the actor" mallory-secret-42 "$(alert_group)"
check "server stops" stop_server
check "state.json was written" test -s "$D/alerts/state.json"
check_fails "state.json does not name the actor" grep -q mallory-secret-42 "$D/alerts/state.json"
check "state.json keeps the group as a keyed hash" grep -q '"group_hash"' "$D/alerts/state.json"
check "server restarts" start_server "$D"
check_eq "after the restart the alert still shows its group" mallory-secret-42 "$(alert_group)"
check "server stops again" stop_server

# ---- logseal import is held to the same reservation
printf '%s\n' '{"action":"shop.sale","service":"shop"}' \
	'{"action":"logseal.alert.fired","service":"logseal","details":{"rule":{"id":"r_two"},"since_us":4611686018427387904}}' >"$TMP/import.ndjson"
check_fails "import of a logseal.alert.fired line fails" sh -c "'$LOGSEAL' import --data '$D' <'$TMP/import.ndjson' 2>'$TMP/import.err'"
check "it names the line and the reservation" grep -q "line 2: .*reserved" "$TMP/import.err"
check_eq "the forged entry is not in the journal" 0 "$(journal_count 'since_us":4611686018427387904' "$D")"
done_testing
