#!/bin/bash
# Server basics: init, serve on loopback, /healthz, one event, an array and
# NDJSON are appended with consecutive indexes; SIGTERM stops it with exit
# 0 after signing a checkpoint that covers everything; verify passes; no
# token secret is in any journal entry (read as plaintext) or data file, and
# tokens.json holds their SHA-256 only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin serve.test/log
check "serve --help lists the options" sh -c "'$LOGSEAL' serve --help | grep -q -- --max-body"
check_fails "serve with an unknown option fails" "$LOGSEAL" serve --data "$D" --bogus
check_fails "serve with a bad --listen fails" "$LOGSEAL" serve --data "$D" --listen nonsense
check "server starts" start_server "$D" --checkpoint-interval 200
ADMIN=$(cat "$D/admin.token")
grep -q "http://127.0.0.1:$SRV_PORT" "$SRV_OUT" && ok "startup prints the URL" || not_ok "startup prints the URL"
grep -q "$D/admin.token" "$SRV_OUT" && ok "startup prints the admin token path" || not_ok "startup prints the admin token path"
check_eq "/healthz answers 200" 200 "$(req GET /healthz "")"
check_eq "/healthz reports tree_size 0" '"ok" 0' "$(jq -c '.status, .tree_size' "$TMP/resp" | tr '\n' ' ' | sed 's/ $//')"

W=$(new_token "$ADMIN" '{"role":"writer","name":"basics"}')
[ -n "$W" ] && ok "admin creates a writer token" || not_ok "admin creates a writer token"
base=$(tree_size)   # 1: the token.create event

ev one >"$TMP/one.json"
check_eq "POST one event: 200" 200 "$(req POST /v1/events "$W" application/json "$TMP/one.json")"
check_eq "one event gets the next index" "[$base]" "$(jq -c .indexes "$TMP/resp")"

{ printf '['; ev a1; printf ','; ev a2; printf ','; ev a3; printf ']'; } >"$TMP/arr.json"
check_eq "POST an array of 3: 200" 200 "$(req POST /v1/events "$W" application/json "$TMP/arr.json")"
check_eq "array gets 3 consecutive indexes" "[$((base + 1)),$((base + 2)),$((base + 3))]" "$(jq -c .indexes "$TMP/resp")"
check_eq "array: appended 3, no duplicates" "3 0" "$(jq -r '"\(.appended) \(.duplicates | length)"' "$TMP/resp")"

{ ev n1; echo; ev n2; echo; } >"$TMP/nd.ndjson"
check_eq "POST NDJSON of 2: 200" 200 "$(req POST /v1/events "$W" application/x-ndjson "$TMP/nd.ndjson")"
check_eq "NDJSON gets 2 indexes" "[$((base + 4)),$((base + 5))]" "$(jq -c .indexes "$TMP/resp")"
check_eq "charset=utf-8 is accepted" 200 "$(req POST /v1/events "$W" 'application/json; charset=UTF-8' "$TMP/one.json")"
check_eq "a repeated id is a duplicate of its first index" "[$base] 0" "$(jq -c '"\(.indexes) \(.appended)"' -r "$TMP/resp")"

size=$(tree_size)
check_eq "tree_size counts every entry" $((base + 6)) "$size"
check_eq "the stored event was normalised to UTC" 1 "$(journal_count '"time":"2024-05-06T05:08:09.123000Z"' "$D" | awk '{print ($1>0)}')"
grep -q '"writer":"tok_' <("$TESTBIN/journalcat" "$D") && ok "the server adds writer" || not_ok "the server adds writer"

# Requests in flight while stopping: a burst then SIGTERM.
for i in $(seq 1 20); do ev "burst$i" >"$TMP/b$i.json"; done
pids=""
for i in $(seq 1 20); do
	curl -s -o "$TMP/b$i.out" -w '%{http_code}\n' -H "Authorization: Bearer $W" -H 'Content-Type: application/json' \
		--data-binary "@$TMP/b$i.json" "$SRV_URL/v1/events" >"$TMP/b$i.code" &
	pids="$pids $!"
done
sleep 0.05
stop_server; rc=$?
wait $pids
check_eq "SIGTERM: exit status 0" 0 "$rc"
acked=$(cat "$TMP"/b*.code | grep -c '^200$')
echo "# $acked of 20 burst requests acknowledged before the stop"
final=$(sed -n 2p "$D/log/checkpoint")
check_eq "the last checkpoint covers everything acknowledged" $((size + acked)) "$final"
grep -q "stopped; last checkpoint signed at size $final" "$SRV_OUT" && ok "stop message names the size" || not_ok "stop message names the size"
check "verify passes" "$LOGSEAL" verify --data "$D"
# Secrets at rest.  The journal is encrypted by default, so a grep of its
# files proves nothing: read every entry as plaintext (journalcat) instead.
# A secret's 64 hex digits are looked for too (without the "lsk_" prefix).
check "journalcat reads the journal" sh -c "'$TESTBIN/journalcat' '$D' >'$TMP/entries'"
check "... and it holds the token.create event (the plaintext is real)" grep -q -F '"action":"logseal.token.create"' "$TMP/entries"
for who in writer admin; do
	[ $who = writer ] && sec=$W || sec=$ADMIN
	[[ $sec =~ ^lsk_[0-9a-f]{64}$ ]] && ok "the $who secret is lsk_ and 64 hex digits" \
		|| not_ok "the $who secret is lsk_ and 64 hex digits (got '$sec')"
	check_fails "the $who secret is in no journal entry" grep -q -F -e "${sec#lsk_}" "$TMP/entries"
	check_fails "the $who secret is in no file under the data dir (raw bytes, but admin.token)" \
		grep -r -a -q -F --exclude=admin.token -e "${sec#lsk_}" "$D"
	# tokens.json keeps SHA-256 of the whole secret text, and no other copy.
	h=$(printf '%s' "$sec" | sha256sum | cut -d' ' -f1)
	check_eq "tokens.json holds SHA-256 of the $who secret" 1 \
		"$(jq --arg h "$h" '[.tokens[] | select(.sha256 == $h)] | length' "$D/tokens.json")"
done
check_eq "tokens.json entries have only the documented fields" '[]' \
	"$(jq -c '[.tokens[] | keys[] | select(IN("id","sha256","roles","service","name","created","revoked","expires","partial","last_used") | not)] | unique' "$D/tokens.json")"
# docs/FORMAT.md section 7 names every field tokens.json holds, as the code
# writes it (issue 12: the docs once called the hash field "hash").
fmt=$(dirname "$0")/../../docs/FORMAT.md
missing=""
for k in $(jq -r '[.tokens[] | keys[]] | unique | .[]' "$D/tokens.json"); do
	sed -n '/^## 7\. Tokens/,/^## 8\./p' "$fmt" | grep -q -F "\`$k\`" || missing="$missing $k"
done
check_eq "FORMAT.md section 7 names every field of tokens.json" "" "$missing"
check "the admin secret is where init put it (the raw grep above can see it)" grep -q -F -x "$ADMIN" "$D/admin.token"
check_eq "tokens.json is mode 0600" 600 "$(stat -c %a "$D/tokens.json")"

# Restart on the same data: the sizes carry over.
check "server restarts" start_server "$D"
check_eq "tree_size after restart" "$final" "$(tree_size)"
kill -INT "$SRV_PID"; wait "$SRV_PID"; rc=$?
check_eq "SIGINT also stops it cleanly" 0 "$rc"
done_testing
