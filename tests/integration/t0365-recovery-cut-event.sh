#!/bin/bash
# Issue 12 item 5, end to end.  Events are acknowledged, no checkpoint is
# signed yet (long interval), the server is SIGKILLed and a torn batch is
# left after the journal's last record (its first record whole, the next
# one cut short, as a crash mid-write leaves it).  After a restart: every
# acknowledged event is there and covered by the signed checkpoint; the
# torn batch is gone, and the log itself says so with an event of the
# server (logseal.recovery.truncated) naming segment, offset, bytes,
# records and the leaf range that was cut.  Meanwhile /metrics showed the
# acknowledged entries as unsigned.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D"
check "server starts (checkpoints only on demand)" start_server "$D" \
	--checkpoint-interval 3600000 --max-unsigned-ms 3600000
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
for b in 1 2 3; do
	{ ev "rc-$b-1"; echo; ev "rc-$b-2"; echo; } >"$TMP/b$b.ndjson"
	check_eq "batch $b acknowledged" 200 "$(req POST /v1/events "$W" application/x-ndjson "$TMP/b$b.ndjson")"
	jq -r '.indexes[]' "$TMP/resp" >>"$TMP/acked"
done
curl -s -H "Authorization: Bearer $ADMIN" "$SRV_URL/metrics" >"$TMP/metrics"
N=$(tree_size)
unsigned=$(awk '$1 == "logseal_unsigned_entries" { print $2 }' "$TMP/metrics")
signed=$(sed -n 2p "$D/log/checkpoint")
check_eq "/metrics: every entry above the signed checkpoint is unsigned" "$((N - signed))" "$unsigned"
[ "$unsigned" -ge 6 ] && ok "the 6 acknowledged events are among them" || not_ok "the 6 acknowledged events are among them ($unsigned)"
kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
seg=$(ls "$D"/journal/*.seg | tail -1)
off=$(stat -c %s "$seg")
# A record (index N, flag FIRST, valid CRC, 100-byte payload), then 30
# bytes of the next one: an unfinished batch.
python3 - "$seg" "$N" <<'PY'
import struct, sys, zlib
path, n = sys.argv[1], int(sys.argv[2])
def rec(index, flags, payload):
    h = struct.pack(">HHIQ", 0x4C52, flags, len(payload), index)
    return h + struct.pack(">I", zlib.crc32(payload, zlib.crc32(h))) + payload
with open(path, "ab") as f:
    f.write(rec(n, 2, b"t" * 100) + rec(n + 1, 0, b"u" * 100)[:30])
PY
check "server restarts" start_server "$D"
grep -q "recovery cut a torn tail of $(basename "$seg") at byte $off (150 bytes, 1 unacknowledged records from index $N)" "$SRV_ERR" \
	&& ok "the server's log names the cut" || { not_ok "the server's log names the cut"; sed 's/^/#   /' "$SRV_ERR"; }
check_eq "restarted log: the acknowledged entries and the recovery event" "$((N + 1))" "$(tree_size)"
check_eq "the signed checkpoint covers them" "$((N + 1))" "$(sed -n 2p "$D/log/checkpoint")"
missing=0
while read -r i; do
	[ "$(req GET "/v1/events/$i" "$ADMIN")" = 200 ] && jq -e '.entry.id | startswith("rc-")' "$TMP/resp" >/dev/null ||
		{ missing=$((missing + 1)); echo "# index $i: $(head -c 300 "$TMP/resp")"; }
done <"$TMP/acked"
check_eq "every acknowledged event is at its index" 0 "$missing"
check_eq "the event at $N is the server's recovery event" 200 "$(req GET "/v1/events/$N" "$ADMIN")"
cp "$TMP/resp" "$TMP/event.json"
check_eq "action" "logseal.recovery.truncated" "$(jq -r '.entry.action' "$TMP/event.json")"
check_eq "service logseal, written by no token" "logseal null" "$(jq -r '"\(.entry.service) \(.entry.writer)"' "$TMP/event.json")"
check_eq "details: segment, offset, bytes, records, leaf range" \
	"$(basename "$seg") $off 150 1 $N $N" \
	"$(jq -r '.entry.details | "\(.segment) \(.offset) \(.bytes) \(.records) \(.first) \(.last)"' "$TMP/event.json")"
check_eq "found by a query for it" 1 \
	"$([ "$(req GET "/v1/events?service=logseal&action=logseal.recovery.truncated" "$ADMIN")" = 200 ] && jq '.events | length' "$TMP/resp")"
stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
