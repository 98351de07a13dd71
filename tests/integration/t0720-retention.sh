#!/bin/bash
# Retention with a controllable clock: events written through the real
# server (which sets "received") go hot -> archive -> purged as the test
# clock (LOGSEAL_TEST_CLOCK_FILE, seconds added to the real clock) moves
# past hot_days and hot_days + archive_days; the server's own pass does it.
# A legal hold on a service stops the purge of its segment until released.
# The archive and purge events exist; `verify` reads archived segments back
# and reports purged ranges as purged by policy; a missing archive file is
# tampering; inclusion proofs of retained entries verify before and after
# the purge.  Segments are cut with `keys rotate` between server runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
CLK=$TMP/clock
DAY=86400
echo 0 >"$CLK"
export LOGSEAL_TEST_CLOCK_FILE=$CLK LOGSEAL_TEST_RETENTION_MS=200

cat >"$TMP/incl.py" <<'PY'
# RFC 9162 inclusion check of a GET /v1/events/N reply against its checkpoint
# (the note's signature is checked by logseal's own tests; here: the tree).
import base64, hashlib, json, sys
H = lambda b: hashlib.sha256(b).digest()
r = json.load(open(sys.argv[1]))
b = base64.b64decode
entry = b(r["entry_b64"])
lh = H(b"\x00" + entry)
root = b(r["checkpoint"].split("\n")[2])
size = int(r["checkpoint"].split("\n")[1])
fn, sn, h = r["index"], size - 1, lh
for p in map(b, r["proof"]):
    if sn == 0: sys.exit(1)
    if fn & 1 or fn == sn:
        h = H(b"\x01" + p + h)
        if not fn & 1:
            while True:
                fn >>= 1; sn >>= 1
                if fn & 1 or fn == 0: break
    else:
        h = H(b"\x01" + h + p)
    fn >>= 1; sn >>= 1
sys.exit(0 if sn == 0 and h == root and size == r["tree_size"] else 1)
PY

events() { # events SERVICE PREFIX N
	for i in $(seq 1 "$3"); do
		printf '{"id":"%s%d","time":"2024-05-06T07:08:09Z","service":"%s","actor":{"id":"%s-user","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.7"}}\n' "$2" "$i" "$1" "$2"
	done >"$TMP/ev.ndjson"
	[ "$(req POST /v1/events "$W" application/x-ndjson "$TMP/ev.ndjson")" = 200 ] || return 1
	jq '.indexes[0]' "$TMP/resp"
}
# wait_for TEST...: poll (<= 10 s) until the command succeeds.
wait_for() { for _ in $(seq 1 100); do "$@" && return 0; sleep 0.1; done; return 1; }
n_actions() { "$TESTBIN/journalcat" "$D" 2>/dev/null | grep -c "\"action\":\"$1\""; }
proof_ok() { [ "$(req GET "/v1/events/$1" "$AUD")" = 200 ] && python3 "$TMP/incl.py" "$TMP/resp"; }

check "init" sh -c "'$LOGSEAL' init --data '$D' --origin retention.test/log >/dev/null"
printf '{"default":{"hot_days":30,"archive_days":60},"services":{"billing":{"hot_days":30,"archive_days":90}}}\n' >"$D/retention.json"

check "server starts" start_server "$D" --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
B1=$(events billing bill 20); check "20 billing events" test -n "$B1"
stop_server
check "rotate (segment 2)" sh -c "'$LOGSEAL' keys rotate --data '$D' >/dev/null"
check "server restarts" start_server "$D" --checkpoint-interval 100
B2=$(events web web 20); check "20 web events" test -n "$B2"
stop_server
check "rotate (segment 3)" sh -c "'$LOGSEAL' keys rotate --data '$D' >/dev/null"
check "server restarts" start_server "$D" --checkpoint-interval 100
B3=$(events web late 10); check "10 more web events (the hot, last segment)" test -n "$B3"
check_eq "three segments" 3 "$(ls "$D/journal"/*.seg | wc -l)"
check_eq "nothing archived while hot" 0 "$(n_actions logseal.retention.archive)"
sleep 0.3
check "proof of a retained entry verifies before retention" proof_ok $((B3 + 1))

# --- hot -> archive
echo $((31 * DAY)) >"$CLK"
check "31 days later: the two sealed segments are archived" \
	wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D' 2>/dev/null | grep -c logseal.retention.archive) = 2 ]"
check_eq "the hot last segment stays in the journal" 1 "$(ls "$D/journal"/*.seg | wc -l)"
check_eq "archive holds two zstd segments" 2 "$(ls "$D/archive"/*.seg.zst | wc -l)"
check_eq "they are zstd frames" 28b52ffd "$(head -c 4 "$D/archive/0000000000000000.seg.zst" | od -An -tx1 | tr -d ' \n')"
check_eq "manifest checksums match the files" "ok" "$(cd "$D/archive" && jq -r '.segments[] | "\(.sha256)  \(.file)"' manifest.json | sha256sum -c --quiet && echo ok)"
check_eq "manifest ranges are contiguous from 0 up to the journal's first retained entry" \
	"0 $(jq -r '.segments[1].first' "$D/archive/manifest.json") $((16#$(cat "$D/journal/retained")))" \
	"$(jq -r '"\(.segments[0].first) \(.segments[0].last + 1) \(.segments[1].last + 1)"' "$D/archive/manifest.json")"
check "archived entries stay readable through the API (bundles until purge)" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $AUD' '$SRV_URL/v1/events/$B1') = 200 ]"

# --- a hold on billing, placed before the purge
printf '{"service":"billing","reason":"case 7"}' >"$TMP/hold.json"
check_eq "POST /v1/holds (admin): 201" 201 "$(req POST /v1/holds "$ADMIN" application/json "$TMP/hold.json")"
HID=$(jq -r .id "$TMP/resp")
check_eq "POST /v1/holds needs admin: 403" 403 "$(req POST /v1/holds "$AUD" application/json "$TMP/hold.json")"
printf '{"service":"billing","actor":"x"}' >"$TMP/bad.json"
check_eq "a hold with two kinds: 400" 400 "$(req POST /v1/holds "$ADMIN" application/json "$TMP/bad.json")"
check_eq "GET /v1/holds lists it" "$HID" "$(req GET /v1/holds "$ADMIN" >/dev/null; jq -r '.holds[0].id' "$TMP/resp")"
check_eq "the hold placement is an event" 1 "$(n_actions logseal.hold.place)"
stop_server
check "verify with an archive: passes" sh -c "'$LOGSEAL' verify --data '$D' >'$TMP/v1.out'"
# Segments 1 and 2 are archived: every entry below the third segment's first
# (which holds the second rotation's logseal.keys.rotate event, then B3).
SEG3=$(basename "$(ls "$D/journal"/*.seg | tail -1)" .seg)
check "verify read the archived entries back" grep -q "archived: $((16#$SEG3)) entries read back" "$TMP/v1.out"
cp -a "$D" "$TMP/d2"
rm -f "$TMP/d2/archive/0000000000000000.seg.zst"
check_fails "a missing archived segment is tampering" "$LOGSEAL" verify --data "$TMP/d2"
cp "$TMP/last.out" "$TMP/miss.out"; check "  and says so" grep -q "archived segment is missing" "$TMP/miss.out"
cp "$D/archive/0000000000000000.seg.zst" "$TMP/z"
printf 'x' | dd of="$TMP/d2/archive/0000000000000000.seg.zst" bs=1 seek=40 conv=notrunc 2>/dev/null
cp "$TMP/z" "$TMP/d2/archive/0000000000000000.seg.zst"
printf 'x' | dd of="$TMP/d2/archive/0000000000000000.seg.zst" bs=1 seek=40 conv=notrunc 2>/dev/null
check_fails "an altered archived segment is detected" "$LOGSEAL" verify --data "$TMP/d2"
rm -rf "$TMP/d2"
check "server restarts" start_server "$D" --checkpoint-interval 100

# --- archive -> purge (web: 30 + 60 days; billing: 30 + 90, and held)
echo $((100 * DAY)) >"$CLK"
check "100 days later: the web segment is purged" \
	wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D' 2>/dev/null | grep -c logseal.retention.purge) = 1 ]"
echo $((130 * DAY)) >"$CLK"
sleep 1
check_eq "130 days: billing is due too, but held: still one purge" 1 "$(n_actions logseal.retention.purge)"
check "the held billing segment is still archived" test -f "$D/archive/0000000000000000.seg.zst"
check "proof of a retained entry verifies after the purge" proof_ok $((B3 + 2))
check_eq "DELETE /v1/holds/ID: 200" 200 "$(req DELETE "/v1/holds/$HID" "$ADMIN")"
check_eq "DELETE again: 404" 404 "$(req DELETE "/v1/holds/$HID" "$ADMIN")"
check_eq "the release is an event" 1 "$(n_actions logseal.hold.release)"
check "released: the billing segment is purged too" \
	wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D' 2>/dev/null | grep -c logseal.retention.purge) = 2 ]"
check "no archived segment file is left" sh -c "! ls '$D'/archive/*.zst 2>/dev/null"
check "proof of a retained entry still verifies" proof_ok $((B3 + 3))
P=$("$TESTBIN/journalcat" "$D" | grep '"action":"logseal.retention.purge"' | head -1)
check_eq "purge event details name the range and policy" "true" \
	"$(printf '%s' "$P" | jq '.service == "logseal" and (.details.first|type) == "number" and (.details.policy|type) == "object"')"
stop_server
check "verify after the purge: passes" sh -c "'$LOGSEAL' verify --data '$D' >'$TMP/v2.out'"
check "verify reports the purged ranges as purged by policy with their events" \
	grep -q "purged by policy, not tampering: entries 0\.\..* purged by policy (event #[0-9]*)" "$TMP/v2.out"
check "offline run: nothing more to do" sh -c "'$LOGSEAL' retention run --data '$D' --now 2099-01-01T00:00:00Z | grep -q 'archived 0 segments, purged 0'"
printf '{"default":{"hot_days":-1,"archive_days":1}}' >"$D/retention.json"
check_fails "a bad policy is refused with its field" "$LOGSEAL" retention run --data "$D"
cp "$TMP/last.out" "$TMP/pol.out"; check "  naming it" grep -q "default.hot_days" "$TMP/pol.out"
done_testing
