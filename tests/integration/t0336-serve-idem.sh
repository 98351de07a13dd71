#!/bin/bash
# Idempotency keys are scoped by writer token and service: a writer cannot
# make another writer's event (or another service's) come back as a
# duplicate and never be appended, while a retry from the same token still
# is one, also across restarts.  The map is saved to DIR/state/idem.snap
# (keyed hashes, no plaintext id) at the stop and read at the next start
# instead of the journal; a crash reads only the journal after the last
# snapshot; a damaged snapshot costs a rescan, no lost duplicate; keys older
# than --idem-window are forgotten.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
SHOP=$(new_token "$ADMIN" '{"role":"writer","service":"shop","name":"shop"}')
BILL=$(new_token "$ADMIN" '{"role":"writer","service":"billing","name":"billing"}')
W1=$(new_token "$ADMIN" '{"role":"writer","name":"w1"}')
W2=$(new_token "$ADMIN" '{"role":"writer","name":"w2"}')

# post TOKEN BODY-TEXT: prints "status appended index0 duplicates"
post() {
	printf '%s' "$2" >"$TMP/body.json"
	local st; st=$(req POST /v1/events "$1" $J "$TMP/body.json")
	echo "$st $(jq -c '[.appended, .indexes[0], (.duplicates | length)] | map(tostring) | join(" ")' -r "$TMP/resp")"
}

# --- the censorship: the shop writer takes billing's id first
r=$(post "$SHOP" "$(ev billing-txn-1001)"); shop_i=$(echo "$r" | cut -d' ' -f3)
check_eq "shop writer posts id billing-txn-1001: appended" "200 1" "$(echo "$r" | cut -d' ' -f1,2)"
r=$(post "$BILL" "$(ev billing-txn-1001)"); bill_i=$(echo "$r" | cut -d' ' -f3)
check_eq "billing's own event with that id is appended too, not a duplicate" "200 1 0" "$(echo "$r" | cut -d' ' -f1,2,4)"
[ "$bill_i" != "$shop_i" ] && ok "... at another index ($bill_i, not $shop_i)" || not_ok "... at another index ($bill_i, not $shop_i)"
journal_has_bill() { "$TESTBIN/journalcat" "$D" | grep -a '"id":"billing-txn-1001"' | grep -a -c '"service":"billing"'; }
check_eq "billing's event is in the journal" 1 "$(journal_has_bill)"
check_eq "billing's retry is a duplicate of its own event" "200 0 $bill_i 1" "$(post "$BILL" "$(ev billing-txn-1001)")"
check_eq "shop's retry is a duplicate of its own event" "200 0 $shop_i 1" "$(post "$SHOP" "$(ev billing-txn-1001)")"

# --- an unbound writer: the service is part of the scope
sev() { ev "$1" | sed "s/^{/{\"service\":\"$2\",/"; }
r=$(post "$W1" "$(sev xkey-0001 alpha)"); a_i=$(echo "$r" | cut -d' ' -f3)
check_eq "w1: id xkey-0001 for service alpha: appended" "200 1" "$(echo "$r" | cut -d' ' -f1,2)"
r=$(post "$W1" "$(sev xkey-0001 beta)"); b_i=$(echo "$r" | cut -d' ' -f3)
check_eq "w1: the same id for service beta: appended" "200 1" "$(echo "$r" | cut -d' ' -f1,2)"
check_eq "w1: xkey-0001/alpha again is a duplicate" "200 0 $a_i 1" "$(post "$W1" "$(sev xkey-0001 alpha)")"
r=$(post "$W2" "$(sev xkey-0001 alpha)"); w2_i=$(echo "$r" | cut -d' ' -f3)
check_eq "w2: xkey-0001/alpha is w2's own key: appended" "200 1" "$(echo "$r" | cut -d' ' -f1,2)"
printf '[%s,%s]' "$(sev y-1 alpha)" "$(sev y-1 beta)" >"$TMP/two.json"
check_eq "one batch, one id, two services: both appended" "200 2" \
	"$(req POST /v1/events "$W1" $J "$TMP/two.json") $(jq .appended "$TMP/resp")"

# --- Kubernetes keys (k8s:<auditID>:<stage>) are scoped the same way
cp tests/vectors/k8s/create_configmap.json "$TMP/k8s.json"
K8S_AUDIT=$(jq -r ".items[0].auditID // .auditID" "$TMP/k8s.json")
check_eq "k8s event from w1: appended" "200 1" "$(req POST /v1/k8s/audit "$W1" $J "$TMP/k8s.json") $(jq .appended "$TMP/resp")"
k1=$(jq '.indexes[0]' "$TMP/resp")
check_eq "the same k8s event from w2: appended" "200 1" "$(req POST /v1/k8s/audit "$W2" $J "$TMP/k8s.json") $(jq .appended "$TMP/resp")"
k2=$(jq '.indexes[0]' "$TMP/resp")
check_eq "w1's k8s retry: a duplicate" "200 0 [$k1]" "$(req POST /v1/k8s/audit "$W1" $J "$TMP/k8s.json") $(jq .appended "$TMP/resp") $(jq -c .indexes "$TMP/resp")"

# --- many keys, then a clean restart: the snapshot is used, nothing rescanned
python3 -c '
import json
ev = {"time":"2024-05-06T07:08:09Z","actor":{"id":"bob","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.7"}}
print(json.dumps([dict(ev, id="bulk-%d" % i) for i in range(2000)]))' >"$TMP/bulk.json"
check_eq "2000 keyed events: appended" "200 2000" "$(req POST /v1/events "$W1" $J "$TMP/bulk.json") $(jq .appended "$TMP/resp")"
bulk0=$(jq '.indexes[0]' "$TMP/resp"); bulk1999=$(jq '.indexes[1999]' "$TMP/resp")
size=$(tree_size)
stop_server; check_eq "stop: exit 0" 0 "$?"
check "the stop wrote DIR/state/idem.snap" test -s "$D/state/idem.snap"
check_eq "the snapshot is mode 0600" 600 "$(stat -c %a "$D/state/idem.snap")"
# (ids of 8 bytes or more: a shorter one could occur by chance in the
# snapshot's ~100 KB of keyed hashes)
check_eq "the snapshot holds no plaintext id (encrypted dir: keyed hashes)" 0 \
	"$(grep -a -c -e billing-txn-1001 -e bulk-1000 -e xkey-0001 -e "k8s:$K8S_AUDIT" "$D/state/idem.snap")"
check "server restarts" start_server "$D"
line=$(grep 'idempotency keys:' "$SRV_OUT")
echo "# $line"
keys=$(echo "$line" | sed -n 's/.*keys: \([0-9]*\) from the snapshot covering \([0-9]*\) entries, \([0-9]*\) journal.*/\1 \2 \3/p')
set -- $keys
[ "${1:-0}" -ge 2009 ] && ok "restart: ${1:-0} keys came from the snapshot" || not_ok "restart: keys from the snapshot: ${1:-none}"
check_eq "restart: the snapshot covered the whole log" "$size" "${2:-}"
check_eq "restart: no journal entry was read again" 0 "${3:-}"
check_eq "after restart: billing's retry is still a duplicate" "200 0 $bill_i 1" "$(post "$BILL" "$(ev billing-txn-1001)")"
check_eq "after restart: shop's retry is still a duplicate" "200 0 $shop_i 1" "$(post "$SHOP" "$(ev billing-txn-1001)")"
check_eq "after restart: w2's xkey-0001/alpha is still a duplicate" "200 0 $w2_i 1" "$(post "$W2" "$(sev xkey-0001 alpha)")"
check_eq "after restart: the bulk retry is all duplicates" "200 0 $bulk0 $bulk1999" \
	"$(req POST /v1/events "$W1" $J "$TMP/bulk.json") $(jq -r '"\(.appended) \(.indexes[0]) \(.indexes[1999])"' "$TMP/resp")"
check_eq "after restart: the k8s retry is a duplicate" "0 [$k2]" "$(req POST /v1/k8s/audit "$W2" $J "$TMP/k8s.json" >/dev/null; jq .appended "$TMP/resp") $(jq -c .indexes "$TMP/resp")"

# --- a crash: keys taken after the last snapshot come from the journal after it
r=$(post "$BILL" "$(ev after-snap-1)"); as_i=$(echo "$r" | cut -d' ' -f3)
check_eq "a new key after the restart: appended" "200 1" "$(echo "$r" | cut -d' ' -f1,2)"
kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
check "server restarts after kill -9" start_server "$D"
line=$(grep 'idempotency keys:' "$SRV_OUT"); echo "# $line"
read -r nk cov scanned < <(echo "$line" | sed -n 's/.*keys: \([0-9]*\) from the snapshot covering \([0-9]*\) entries, \([0-9]*\) journal.*/\1 \2 \3/p')
[ "${cov:-0}" -gt 0 ] && [ "${scanned:-99999}" -lt 2000 ] && ok "after the crash only the journal after the snapshot was read ($scanned entries after $cov)" \
	|| not_ok "after the crash only the journal after the snapshot was read (${scanned:-?} entries after ${cov:-?})"
check_eq "after the crash: the key taken after the snapshot is a duplicate" "200 0 $as_i 1" "$(post "$BILL" "$(ev after-snap-1)")"
check_eq "after the crash: an older key too" "200 0 $bill_i 1" "$(post "$BILL" "$(ev billing-txn-1001)")"

# --- a damaged snapshot: refused, rebuilt from the journal, duplicates still found
stop_server; check_eq "stop: exit 0" 0 "$?"
python3 -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[100] ^= 1; open(p, "wb").write(b)' "$D/state/idem.snap"
check "server starts with a damaged snapshot" start_server "$D"
grep -q "idempotency snapshot not used (snapshot MAC does not match)" "$SRV_ERR" && ok "the damaged snapshot is reported and not used" || not_ok "the damaged snapshot is reported and not used"
check_eq "after the rebuild: billing's retry is a duplicate" "200 0 $bill_i 1" "$(post "$BILL" "$(ev billing-txn-1001)")"
check_eq "after the rebuild: shop's retry is a duplicate" "200 0 $shop_i 1" "$(post "$SHOP" "$(ev billing-txn-1001)")"
stop_server; check_eq "stop: exit 0" 0 "$?"

# --- the window: a key older than --idem-window is forgotten (and the
# documented default is a day)
check "server starts with --idem-window 1" start_server "$D" --idem-window 1
r=$(post "$W1" "$(ev win-1)"); w_i=$(echo "$r" | cut -d' ' -f3)
check_eq "win-1: appended" "200 1" "$(echo "$r" | cut -d' ' -f1,2)"
check_eq "win-1 at once again: a duplicate" "200 0 $w_i 1" "$(post "$W1" "$(ev win-1)")"
sleep 2.2
r=$(post "$W1" "$(ev win-1)")
check_eq "win-1 after the window: appended again" "200 1" "$(echo "$r" | cut -d' ' -f1,2)"
stop_server; check_eq "stop: exit 0" 0 "$?"
"$LOGSEAL" serve --help >"$TMP/help" 2>&1
grep -q -- "--idem-window SECONDS" "$TMP/help" && grep -q "default 86400" "$TMP/help" && ok "--help names --idem-window (default a day)" || not_ok "--help names --idem-window"

check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
