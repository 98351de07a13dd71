#!/bin/bash
# Retention with a controllable clock: events written through the real
# server (which sets "received") go hot -> archive -> purged as the test
# clock (LOGSEAL_TEST_CLOCK_FILE, seconds added to the real clock) moves
# past hot_days and hot_days + archive_days; the server's own pass does it.
# A legal hold on a service stops the purge of its segment until released.
# The archive and purge events exist; `verify` reads archived segments back
# and reports purged ranges as purged by policy; a missing or altered archive
# file is tampering; inclusion proofs of retained entries verify before and
# after the purge.  The unit is the sealed segment (serve --segment-leaves
# 256): segment 0 ends with billing events, segments 1 and 2 are web, and
# the write-ahead log's tail is never archived.
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

SL="--segment-leaves 256"
seal_sha() { sha256sum "$1" | cut -c1-64; }
check "init" sh -c "'$LOGSEAL' init --data '$D' --origin retention.test/log >/dev/null"
printf '{"default":{"hot_days":30,"archive_days":60},"services":{"billing":{"hot_days":30,"archive_days":90}}}\n' >"$D/retention.json"

check "server starts" start_server "$D" --checkpoint-interval 100 $SL
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
B0=$(events billing bill0 1); check "a first billing event" test -n "$B0"
# segment 0 = [0, 256): what the server logged itself, then billing only
B1=$(events billing bill $((256 - B0 - 1))); check "billing events up to leaf 255" test -n "$B1"
B2=$(events web web 512); check "512 web events (segments 1 and 2)" test "$B2" = 256
B3=$(events web late 10); check "10 more web events (the write-ahead log's tail)" test "$B3" = 768
check "three sealed segments" wait_for test -f "$D/segments/0000000000000200.seal"
check_eq "... and no fourth" 3 "$(ls "$D/segments"/*.seal | wc -l)"
SHA0=$(seal_sha "$D/segments/0000000000000000.seal")
check_eq "nothing archived while hot" 0 "$(n_actions logseal.retention.archive)"
sleep 0.3
check "proof of a retained entry verifies before retention" proof_ok $((B3 + 1))

# --- hot -> archive
echo $((31 * DAY)) >"$CLK"
check "31 days later: the three sealed segments are archived" \
	wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D' 2>/dev/null | grep -c logseal.retention.archive) = 3 ]"
check_eq "DIR/segments is empty: the WAL tail stays in the journal" 0 "$(ls "$D/segments" | grep -c seal)"
check_eq "archive holds three sealed segments" 3 "$(ls "$D/archive"/*.seal | wc -l)"
check_eq "archived byte for byte" "$SHA0" "$(seal_sha "$D/archive/0000000000000000.seal")"
check_eq "manifest checksums match the files" "ok" "$(cd "$D/archive" && jq -r '.segments[] | "\(.sha256)  \(.file)"' manifest.json | sha256sum -c --quiet && echo ok)"
check_eq "manifest ranges are contiguous from 0 up to the first retained entry" \
	"0 256 512 768 768" \
	"$(jq -r '"\(.segments[0].first) \(.segments[1].first) \(.segments[2].first) \(.segments[2].last + 1)"' "$D/archive/manifest.json") $((16#$(cat "$D/journal/retained")))"
check_eq "an entry of the WAL tail is served" 200 "$(req GET "/v1/events/$B3" "$AUD")"

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
check "verify read the archived entries back" grep -q "archived: 768 entries read back" "$TMP/v1.out"
cp -a "$D" "$TMP/d2"
rm -f "$TMP/d2/archive/0000000000000100.seal"
check_fails "a missing archived segment is tampering" "$LOGSEAL" verify --data "$TMP/d2"
cp "$TMP/last.out" "$TMP/miss.out"; check "  and says so" grep -q "0000000000000100.seal: archived segment is missing" "$TMP/miss.out"
cp "$D/archive/0000000000000100.seal" "$TMP/d2/archive/"
printf 'x' | dd of="$TMP/d2/archive/0000000000000100.seal" bs=1 seek=40 conv=notrunc 2>/dev/null
check_fails "an altered archived segment is detected" "$LOGSEAL" verify --data "$TMP/d2"
cp "$TMP/last.out" "$TMP/alt.out"; check "  and named" grep -q "0000000000000100.seal: SHA-256 differs from the manifest" "$TMP/alt.out"
# altered and its manifest checksum fixed up: the segment's own checks
python3 - "$TMP/d2/archive" <<'PY'
import hashlib, json, sys
d = sys.argv[1]; m = json.load(open(d + "/manifest.json"))
for s in m["segments"]:
    if s["file"] == "0000000000000100.seal":
        s["sha256"] = hashlib.sha256(open(d + "/" + s["file"], "rb").read()).hexdigest()
json.dump(m, open(d + "/manifest.json", "w"))
PY
check_fails "... even with the manifest's checksum made to match" "$LOGSEAL" verify --data "$TMP/d2"
cp "$TMP/last.out" "$TMP/alt2.out"; check "  named with its offset" grep -q "archive/0000000000000100.seal offset [0-9]" "$TMP/alt2.out"
rm -rf "$TMP/d2"
check "server restarts" start_server "$D" --checkpoint-interval 100 $SL

# --- archive -> purge (web: 30 + 60 days; billing: 30 + 90, and held)
echo $((100 * DAY)) >"$CLK"
check "100 days later: the two web segments are purged" \
	wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D' 2>/dev/null | grep -c logseal.retention.purge) = 2 ]"
echo $((130 * DAY)) >"$CLK"
sleep 1
check_eq "130 days: billing is due too, but held: still two purges" 2 "$(n_actions logseal.retention.purge)"
check "the held billing segment is still archived" test -f "$D/archive/0000000000000000.seal"
check "proof of a retained entry verifies after the purge" proof_ok $((B3 + 2))
check_eq "DELETE /v1/holds/ID: 200" 200 "$(req DELETE "/v1/holds/$HID" "$ADMIN")"
check_eq "DELETE again: 404" 404 "$(req DELETE "/v1/holds/$HID" "$ADMIN")"
check_eq "the release is an event" 1 "$(n_actions logseal.hold.release)"
check "released: the billing segment is purged too" \
	wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D' 2>/dev/null | grep -c logseal.retention.purge) = 3 ]"
check "no archived segment file is left" sh -c "! ls '$D'/archive/*.seal 2>/dev/null"
check "proof of a retained entry still verifies" proof_ok $((B3 + 3))
check_eq "GET of a purged entry: 410 Gone, not a server error" 410 "$(req GET /v1/events/0 "$AUD")"
cat "$TMP/resp"; echo
check_eq "... code purged, and the message names the purge event" "purged true" \
	"$(jq -r '"\(.error.code) \(.error.message | test("purged by retention policy.*event #[0-9]+"))"' "$TMP/resp")"
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
