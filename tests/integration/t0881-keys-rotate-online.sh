#!/bin/bash
# `logseal keys rotate --data DIR` works with the server running: the CLI
# finds the journal locked, asks the server (POST /v1/keys/rotate, admin),
# whose sequencer starts a new segment under a new data key between two
# group commits.  A bounded writer loop runs meanwhile: every acknowledged
# event is kept at its index, the rotations are events in the log, new
# segments carry the new key id, `keys status` shows it, verify passes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D" --origin rotate-online.test/log
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')

check "keys status works beside the running server" "$LOGSEAL" keys status --data "$D"
K0=$(sed -n 's/^newest: *data key \([0-9]*\).*/\1/p' "$TMP/last.out")
echo "# newest data key before: $K0"
[ -n "$K0" ] || K0=0

# seg_key SEGFILE: the data key id in a segment's header (bytes 24..27).
seg_key() { python3 -c 'import sys; b=open(sys.argv[1],"rb").read(28); print(int.from_bytes(b[24:28],"big"))' "$1"; }
last_seg() { ls "$D"/journal/*.seg | sort | tail -1; }
check_eq "the current segment is under data key $K0" "$K0" "$(seg_key "$(last_seg)")"

# The writer loop: 60 batches of 25 events (bodies made beforehand), each
# reply kept; any answer but 200 is recorded as a failure.
BATCHES=60
python3 - "$TMP" "$BATCHES" <<'PY2'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
for k in range(1, n + 1):
    with open("%s/wl.body.%d" % (d, k), "w") as f:
        json.dump([{"id": "rot-%d-%d" % (k, i), "time": "2024-01-01T00:00:00Z",
                    "actor": {"id": "w"}, "action": "rot.write", "outcome": "success",
                    "source": {"ip": "192.0.2.9"}} for i in range(25)], f)
PY2
writer_loop() {
	local k st
	for k in $(seq 1 "$BATCHES"); do
		st=$(curl -s -o "$TMP/wl.resp.$k" -w '%{http_code}' --max-time 20 -X POST \
			-H "Authorization: Bearer $W" -H "Content-Type: $J" \
			--data-binary "@$TMP/wl.body.$k" "$SRV_URL/v1/events")
		if [ "$st" = 200 ]; then
			echo "$k" >>"$TMP/acked"
		else
			echo "batch $k: $st $(cat "$TMP/wl.resp.$k")" >>"$TMP/failed"
		fi
	done
	echo done >"$TMP/wl.done"
}
: >"$TMP/acked"
writer_loop &
WL=$!
# Rotate twice while the loop runs (bounded waits).
for _ in $(seq 1 100); do [ "$(wc -l <"$TMP/acked")" -ge 10 ] && break; sleep 0.1; done
check "rotate with the server running (1st)" "$LOGSEAL" keys rotate --data "$D" --server "$SRV_URL"
sed 's/^/# /' "$TMP/last.out"
for _ in $(seq 1 100); do [ "$(wc -l <"$TMP/acked")" -ge 30 ] && break; sleep 0.1; done
check "rotate with the server running (2nd)" "$LOGSEAL" keys rotate --data "$D" --server "$SRV_URL"
acked_at_rot=$(($(wc -l <"$TMP/acked") * 25))
for _ in $(seq 1 600); do [ -f "$TMP/wl.done" ] && break; sleep 0.1; done
wait "$WL"
check_eq "the writer loop finished" done "$(cat "$TMP/wl.done" 2>/dev/null)"
check_eq "no batch was refused during the rotations" "" "$(cat "$TMP/failed" 2>/dev/null)"
check_eq "every batch acknowledged" "$BATCHES" "$(wc -l <"$TMP/acked")"
check "the rotations ran while ingest went on ($acked_at_rot of $((BATCHES * 25)) acknowledged at the 2nd)" \
	test "$acked_at_rot" -gt 0 -a "$acked_at_rot" -lt $((BATCHES * 25))

check "keys status" "$LOGSEAL" keys status --data "$D"
sed 's/^/# /' "$TMP/last.out"
check_eq "keys status: the newest data key is two past the first" "$((K0 + 2))" \
	"$(sed -n 's/^newest: *data key \([0-9]*\).*/\1/p' "$TMP/last.out")"
check_eq "the current segment is under it" "$((K0 + 2))" "$(seg_key "$(last_seg)")"
keys=$(for f in "$D"/journal/*.seg; do seg_key "$f"; done | sort -n | uniq | tr '\n' ' ')
check_eq "the segments use keys $K0, $((K0 + 1)), $((K0 + 2))" "$K0 $((K0 + 1)) $((K0 + 2)) " "$keys"

check_eq "the rotations are events in the log: 200" 200 \
	"$(req GET "/v1/events?service=logseal&action=logseal.keys.rotate&order=asc" "$AUD")"
check_eq "... two, with the new and previous key ids" "$((K0 + 1))/$K0 $((K0 + 2))/$((K0 + 1))" \
	"$(jq -r '[.events[].entry.details | "\(.key_id)/\(.previous_key_id)"] | join(" ")' "$TMP/resp")"
ADMIN_ID=$(jq -r '.tokens[] | select(.name == "initial admin") | .id' \
	<(curl -s -H "Authorization: Bearer $ADMIN" "$SRV_URL/v1/tokens"))
check_eq "... by the admin token" "$ADMIN_ID $ADMIN_ID" \
	"$(jq -r '[.events[].entry.actor.id] | join(" ")' "$TMP/resp")"
ROT2=$(jq -r '.events[1].index' "$TMP/resp")
# The segment holding ROT2 is the one with the largest first index at or
# below it (names are the first index in hex).  Ingest may put entries
# between the switch and the rotation's own event, so it need not be first.
seg_of() {
	local f best=
	for f in "$D"/journal/*.seg; do
		[ $((16#$(basename "$f" .seg))) -le "$1" ] && best=$f
	done
	echo "$best"
}
echo "# 2nd rotation's event: index $ROT2, in $(basename "$(seg_of "$ROT2")")"
check_eq "the 2nd rotation's event is sealed under the new key" \
	"$((K0 + 2))" "$(seg_key "$(seg_of "$ROT2")" 2>/dev/null)"

# Refusals.
check_eq "a writer may not rotate: 403" 403 "$(req POST /v1/keys/rotate "$W")"
check_eq "an auditor may not rotate: 403" 403 "$(req POST /v1/keys/rotate "$AUD")"
printf 'MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=\n' >"$TMP/new.key"; chmod 600 "$TMP/new.key"
check_fails "re-wrapping under a new master key needs the server stopped" \
	"$LOGSEAL" keys rotate --data "$D" --new-master-key-file "$TMP/new.key"
cp "$TMP/last.out" "$TMP/rewrap.out"
check "... and says so" grep -q "needs it stopped" "$TMP/rewrap.out"

check "the server stops cleanly" stop_server
# Every acknowledged event is at the index it was acknowledged with.
"$TESTBIN/journalcat" "$D" >"$TMP/all.ndjson"
check_eq "every acknowledged event is at its index" "$((BATCHES * 25)) 0" "$(python3 - "$TMP" "$BATCHES" <<'PY2'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
lines = open(d + "/all.ndjson", "rb").read().split(b"\n")
seen = bad = 0
for k in range(1, n + 1):
    for i, idx in enumerate(json.load(open("%s/wl.resp.%d" % (d, k)))["indexes"]):
        seen += 1
        if json.loads(lines[idx]).get("id") != "rot-%d-%d" % (k, i):
            bad += 1
print(seen, bad)
PY2
)"
check "verify passes" "$LOGSEAL" verify --data "$D"
check "offline rotation still works (server stopped)" "$LOGSEAL" keys rotate --data "$D"
check "... and is logged too" sh -c "'$TESTBIN/journalcat' '$D' | tail -1 | grep -q '\"action\":\"logseal.keys.rotate\"'"
check "verify passes after it" "$LOGSEAL" verify --data "$D"
check "the server starts again" start_server "$D"
check_eq "an event from before the rotations: 200" 200 "$(req GET "/v1/events?action=rot.write&order=asc&limit=1" "$AUD")"
check_eq "... found" "rot-1-0" "$(jq -r '.events[0].entry.id' "$TMP/resp")"
check_eq "stats: all of them" $((BATCHES * 25)) \
	"$(req GET "/v1/events/stats?action=rot.write" "$AUD" >/dev/null; jq -r .total "$TMP/resp")"
check "the server stops cleanly" stop_server
done_testing
