#!/bin/bash
# Every read is itself an event of the log (service logseal): for each read
# kind, the event is in the journal when the reply arrives, names the
# token's id as actor and the client's address as source, and carries the
# filter and the number of results; auditors find reads with
# GET /v1/events?service=logseal&action=...; a 404 is recorded as a
# failure, a 400 (nothing revealed) is not.  Fail closed: with the data
# directory on a full tmpfs, reads are refused (503/507) without any data,
# and served again once space is back.  The small file system is a tmpfs
# (root, or a user namespace of our own), else a loop-mounted ext4 image
# (root); that part is a TAP skip when none can be mounted.
T_NEEDS_MOUNT=1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D" --origin audit.test/log
check "server starts" start_server "$D" --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor","name":"reader"}'); AUD_ID=$(cat "$TMP/newtok.id")
python3 -c '
import json
print(json.dumps([{"id": "a-%d" % i, "time": "2024-01-01T00:00:00Z", "actor": {"id": "alice" if i % 2 else "bob"},
  "action": "doc.read", "outcome": "success", "source": {"ip": "10.0.0.1"}} for i in range(260)]))' >"$TMP/batch.json"
check_eq "260 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/batch.json")"
sleep 0.3

# last_read ACTION: the newest logseal event with that action (found through
# the API, as an auditor would).
last_read() {
	req GET "/v1/events?service=logseal&action=$1&limit=1" "$AUD" >/dev/null
	jq -c '.events[0].entry' "$TMP/resp"
}
# audited LABEL ACTION PATH JQ-CHECK-ON-DETAILS: do the read, then check its event.
audited() {
	local label=$1 action=$2 path=$3 dcheck=$4 before code e
	before=$(journal_count "\"action\":\"$action\"" "$D")
	code=$(req GET "$path" "$AUD")
	# durable before the reply: already in the journal now
	check_eq "$label: 200 and its event is in the journal on reply" "200 $((before + 1))" \
		"$code $(journal_count "\"action\":\"$action\"" "$D")"
	e=$(last_read "$action")
	check_eq "$label: actor = token id, source = client, service logseal, outcome success" \
		"$AUD_ID 127.0.0.1 logseal success" "$(printf '%s' "$e" | jq -r '"\(.actor.id) \(.source.ip) \(.service) \(.outcome)"')"
	check_eq "$label: details ($dcheck)" true "$(printf '%s' "$e" | jq ".details | $dcheck")"
}
audited "query" logseal.events.query "/v1/events?actor=alice&limit=5" \
	'.filter == {"actor":"alice"} and .results == 5 and .path == "/v1/events" and .method == "GET"'
audited "single event" logseal.events.get "/v1/events/7" '.index == 7 and .results == 1 and (.tree_size > 7)'
audited "stats" logseal.events.stats "/v1/events/stats?group_by=outcome&actor=bob" \
	'.filter == {"actor":"bob"} and .group_by == "outcome" and .results == 130'
# Stored checkpoints only: one being written is a temporary file there.
sizes=$(ls "$D/checkpoints" | grep -x '[0-9]*' | sed 's/^0*\([0-9]\)/\1/' | sort -n | tail -2 | tr '\n' ' ')
set -- $sizes
audited "consistency proof" logseal.proof.consistency "/v1/proof/consistency?old=$1&new=$2" ".old == $1 and .new == $2"
audited "checkpoint" logseal.log.checkpoint "/log/checkpoint" '.tree_size > 0'
audited "tile" logseal.log.tile "/log/tile/0/000" '.path == "/log/tile/0/000" and .bytes == 8192'
audited "export" logseal.export "/v1/export?actor=alice&to=2025-01-01T00:00:00Z" \
	'.filter == {"actor":"alice","to":"2025-01-01T00:00:00.000000Z"} and .results == 130 and .format == "bundle" and .tree_size > 260'
check_eq "exports are found with service=logseal&action=logseal.export" 1 \
	"$(req GET '/v1/events?service=logseal&action=logseal.export' "$AUD" >/dev/null; jq '.events|length' "$TMP/resp")"
check_eq "all reads are found with action=logseal.* (and carry the reader's id)" true \
	"$(req GET "/v1/events?service=logseal&action=logseal.*&actor=$AUD_ID&limit=1000" "$AUD" >/dev/null
	   jq '[.events[].entry.action] | unique | contains(["logseal.events.query","logseal.events.get","logseal.events.stats","logseal.proof.consistency","logseal.log.checkpoint","logseal.log.tile","logseal.export"])' "$TMP/resp")"

# Tiles are fetched by the hundred: one event each.
b=$(journal_count '"action":"logseal.log.tile"' "$D")
for _ in 1 2 3 4 5; do req GET /log/tile/entries/000 "$AUD" >/dev/null; done
check_eq "5 tile reads, 5 events" $((b + 5)) "$(journal_count '"action":"logseal.log.tile"' "$D")"

# A 404 tells something: recorded as a failure.  A 400 reveals nothing.
check_eq "missing entry: 404" 404 "$(req GET /v1/events/999999 "$AUD")"
check_eq "... recorded with outcome failure" "failure 404" "$(last_read logseal.events.get | jq -r '"\(.outcome) \(.details.status)"')"
s0=$(tree_size)
check_eq "bad parameter: 400" 400 "$(req GET '/v1/events?nope=1' "$AUD")"
check_eq "... not recorded" "$s0" "$(tree_size)"
# A denied read is recorded as a denial (by the server's auth layer).
check_eq "writer reading: 403" 403 "$(req GET /v1/events "$W")"
check_eq "... recorded as logseal.auth.denied" 1 "$(last_read logseal.auth.denied | jq '[.details.path] == ["/v1/events"]' | grep -c true)"
stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"

# ---------------------------------------------------------------- fail closed
SMALL=$TMP/small
if ! small_fs "$SMALL" 4m; then
	skip "fail closed on a full disk" "no small file system can be mounted here: $SMALL_FS_ERR"
	done_testing; exit
fi
D=$SMALL/data
check "init on a 4 MiB file system" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
check_eq "events: 200" 200 "$(req POST /v1/events "$W" $J <(ev f1))"
sleep 0.3
check_eq "reads work with space" 200 "$(req GET /v1/events "$AUD")"
dd if=/dev/zero of="$SMALL/filler" bs=4k 2>/dev/null
# The journal's last page may still hold a few small events: read until the
# log refuses one.
refused=""
for i in $(seq 1 60); do
	code=$(req GET /log/checkpoint "$AUD")
	[ "$code" = 200 ] || { refused=$code; break; }
done
check_eq "disk full: a read is refused with 507" 507 "$refused"
check_eq "... with an error and no data" '["error"]' "$(jq -c keys "$TMP/resp")"
s0=$(tree_size)
for p in "/v1/events" "/v1/events/0" "/v1/events/stats" "/log/checkpoint" "/log/tile/entries/000.p/1" "/v1/export"; do
	code=$(req GET "$p" "$AUD")
	case $code in 503|507) ok "disk full: GET $p refused ($code)" ;; *) not_ok "disk full: GET $p refused (got $code)" ;; esac
	check_eq "  ... error only, no data" '["error"]' "$(jq -c keys "$TMP/resp" 2>/dev/null)"
done
check_eq "nothing was appended meanwhile" "$s0" "$(tree_size)"
rm -f "$SMALL/filler"
# The checkpointer notices the space at its next round (100 ms here); until
# then the log may still say it is full.  Bounded: 5 s.
code=""
for i in $(seq 1 50); do
	code=$(req GET /log/checkpoint "$AUD")
	[ "$code" = 200 ] && break
	sleep 0.1
done
check_eq "space back: reads are served again (within 5 s; $i tries)" 200 "$code"
check_eq "... and recorded" 1 "$(journal_count '"action":"logseal.log.checkpoint"' "$D" | awk -v n="$s0" '{print ($1 > 0)}')"
# The index follower stops on a full disk (sticky, index.h invariant 4): a
# restart catches it up from the journal.
stop_server; check_eq "stop: exit 0" 0 "$?"
check "server restarts" start_server "$D"
check_eq "after the restart queries are served" 200 "$(req GET '/v1/events?service=logseal&action=logseal.log.checkpoint' "$AUD")"
check_eq "... and show the reads made before and after the disk was full" 1 "$(jq '.events | length > 1' "$TMP/resp" | grep -c true)"
stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
