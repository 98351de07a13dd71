#!/bin/bash
# A query's read event is written while its entries are read (api_read.c),
# so it says "success" before the reply is known.  When an entry then fails
# to read (here: a journal record altered on disk after it was indexed),
# the reply is an error with no entry in it, and a second read event with
# outcome "failure" and the reply's status follows the first.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D" --origin audit-error.test/log
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
python3 -c '
import json
print(json.dumps([{"id": "e-%d" % i, "time": "2024-01-01T00:00:00Z", "actor": {"id": "alice"},
  "action": "doc.read", "outcome": "success", "source": {"ip": "10.0.0.1"}} for i in range(200)]))' >"$TMP/batch.json"
check_eq "200 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/batch.json")"
check_eq "alice's events read: 200" 200 "$(req GET "/v1/events?actor=alice&limit=200" "$AUD")"
check_eq "... all of them" 200 "$(jq '.events | length' "$TMP/resp")"

# One byte in the middle of the segment: inside one of alice's records
# (the batch is most of the file).
SEG=$(ls "$D"/journal/*.seg | head -1)
SIZE=$(stat -c %s "$SEG")
python3 - "$SEG" $((SIZE / 2)) <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x5a]))
PY
check_eq "the query now fails: 500" 500 "$(req GET "/v1/events?actor=alice&limit=200" "$AUD")"
check_eq "... with no entry in the reply" "0" "$(grep -c '"entry"' "$TMP/resp")"
check_eq "... saying why" "internal" "$(jq -r .error.code "$TMP/resp")"

check_eq "read events of the query: 200" 200 \
	"$(req GET "/v1/events?service=logseal&action=logseal.events.query&limit=2" "$AUD")"
check_eq "the newest: failure, status 500" "failure 500 alice" \
	"$(jq -r '.events[0].entry | "\(.outcome) \(.details.status) \(.details.filter.actor)"' "$TMP/resp")"
check_eq "the one before: success, 200 results (written while reading)" "success 200 alice" \
	"$(jq -r '.events[1].entry | "\(.outcome) \(.details.results) \(.details.filter.actor)"' "$TMP/resp")"
check "the server still answers" curl -fsS -o /dev/null "$SRV_URL/healthz"
echo "1..$T_N"
[ "$T_FAIL" = 0 ]
