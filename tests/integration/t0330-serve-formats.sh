#!/bin/bash
# Templates and idempotency: the flat shape (?format=flat), a kube-apiserver
# webhook EventList built from the real events in tests/vectors/k8s, k8s
# dedupe when the API server retries, and idempotency keys that survive a
# restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer","name":"formats"}')
J=application/json

# --- flat
printf '%s' '[{"timestamp":"2024-03-04T05:06:07Z","user_id":"u-17","action":"profile.update","status":"success","location":"203.0.113.9"},
 {"timestamp":"2024-03-04T05:06:08+01:00","user_id":"u-18","action":"user.login","status":"failure","location":"https://app.example/login"}]' >"$TMP/flat.json"
check_eq "flat batch: 200" 200 "$(req POST '/v1/events?format=flat' "$W" $J "$TMP/flat.json")"
check_eq "flat batch: two indexes" 2 "$(jq '.indexes | length' "$TMP/resp")"
grep -a -q '"actor":{"id":"u-17"' <("$TESTBIN/journalcat" "$D") && ok "flat user_id -> actor.id" || not_ok "flat user_id -> actor.id"
grep -a -q '"ip":"203.0.113.9"' <("$TESTBIN/journalcat" "$D") && ok "flat location IP -> source.ip" || not_ok "flat location IP -> source.ip"
grep -a -q '"endpoint":"https://app.example/login"' <("$TESTBIN/journalcat" "$D") && ok "flat location URL -> source.endpoint" || not_ok "flat location URL -> source.endpoint"
grep -a -q '"outcome":"failure"' <("$TESTBIN/journalcat" "$D") && ok "flat status -> outcome" || not_ok "flat status -> outcome"
check_eq "format=native is the default shape" 400 "$(req POST '/v1/events?format=native' "$W" $J "$TMP/flat.json")"

# --- k8s: an EventList from the captured events (not the malformed one)
python3 - tests/vectors/k8s >"$TMP/k8s.json" <<'PY'
import json, os, sys
d = sys.argv[1]
items = [json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))
         if f.endswith(".json") and not f.startswith("malformed")]
print(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}))
PY
nk=$(jq '.items | length' "$TMP/k8s.json")
before=$(tree_size)
check_eq "k8s EventList of $nk: 200" 200 "$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s.json")"
check_eq "k8s: $nk appended" "$nk" "$(jq .appended "$TMP/resp")"
first=$(jq -c .indexes "$TMP/resp")
grep -a -q '"service":"kubernetes"' <("$TESTBIN/journalcat" "$D") && ok "k8s events have service kubernetes" || not_ok "k8s events have service kubernetes"
grep -a -q '"id":"minikube-user"' <("$TESTBIN/journalcat" "$D") && ok "k8s user -> actor" || not_ok "k8s user -> actor"
grep -a -q '155b887c-c27c-4fdb-9667-999f74512d0a' <("$TESTBIN/journalcat" "$D") && ok "k8s auditID kept" || not_ok "k8s auditID kept"
check_eq "k8s retry (same auditIDs and stages): 200" 200 "$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s.json")"
check_eq "k8s retry: nothing appended" 0 "$(jq .appended "$TMP/resp")"
check_eq "k8s retry: same indexes" "$first" "$(jq -c .indexes "$TMP/resp")"
check_eq "k8s retry: every position a duplicate" "$nk" "$(jq '.duplicates | length' "$TMP/resp")"
jq -c '.items[0].stage = "RequestReceived"' "$TMP/k8s.json" >"$TMP/k8s2.json"
check_eq "another stage of the same request is new" 1 "$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s2.json" >/dev/null; jq .appended "$TMP/resp")"
jq -c '.items[0]' "$TMP/k8s.json" >"$TMP/k8s1.json"
check_eq "a single Event object is accepted too (a duplicate here)" "200 0" "$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s1.json") $(jq .appended "$TMP/resp")"
check_eq "the tree grew by $nk + 1" $((before + nk + 1)) "$(tree_size)"

# --- idempotency keys: in a batch, across requests, concurrently, across a restart
{ printf '['; ev k1; printf ','; ev k2; printf ','; ev k1; printf ']'; } >"$TMP/dup.json"
check_eq "batch with a key twice: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/dup.json")"
i1=$(jq '.indexes[0]' "$TMP/resp")
check_eq "the second k1 is a duplicate of the first" "[{\"position\":2,\"index\":$i1}]" "$(jq -c .duplicates "$TMP/resp")"
pids=""
for i in $(seq 1 8); do
	curl -s -o "$TMP/c$i.out" -H "Authorization: Bearer $W" -H "Content-Type: $J" --data-binary "$(ev same)" "$SRV_URL/v1/events" &
	pids="$pids $!"
done
wait $pids
check_eq "8 concurrent posts of one key: appended once" 1 "$(cat "$TMP"/c*.out | jq -s 'map(.appended) | add')"
check_eq "... and all name the same index" 1 "$(cat "$TMP"/c*.out | jq -s 'map(.indexes[0]) | unique | length')"
same=$(jq '.indexes[0]' "$TMP/c1.out")
size=$(tree_size)
stop_server; check_eq "stop: exit 0" 0 "$?"
check "server restarts" start_server "$D"
grep -q "idempotency keys" "$SRV_OUT" && ok "restart reports the keys it loaded: $(grep -o '[0-9]* idempotency keys' "$SRV_OUT")" || not_ok "restart reports the keys it loaded"
check_eq "after restart: known key is a duplicate" "200 0 [$same]" "$(req POST /v1/events "$W" $J <(ev same)) $(jq -c '.appended, .indexes' "$TMP/resp" | tr '\n' ' ' | sed 's/ $//')"
check_eq "after restart: k8s retry is all duplicates" "0 $first" "$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s.json" >/dev/null; jq -c '.appended, .indexes' "$TMP/resp" | tr '\n' ' ' | sed 's/ $//')"
check_eq "after restart: flat events have no key, so they are new" 2 "$(req POST '/v1/events?format=flat' "$W" $J "$TMP/flat.json" >/dev/null; jq .appended "$TMP/resp")"
check_eq "tree grew only by the flat events" $((size + 2)) "$(tree_size)"
stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
