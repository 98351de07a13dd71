#!/bin/bash
# Revoking a token ends its live streams: DELETE /v1/tokens/{id} closes every
# GET /v1/stream opened with that token within a second, whether or not
# events flow (the stream is idle and suspended here, with keepalives 30 s
# apart), with a last "event: revoked" message; streams of other tokens go on
# receiving entries; reconnecting with the revoked token is a 401.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --stream-heartbeat 30
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
A1=$(new_token "$ADMIN" '{"role":"auditor","name":"one"}'); A1_ID=$(cat "$TMP/newtok.id")
A2=$(new_token "$ADMIN" '{"role":"auditor","name":"two"}')

# stream NAME TOKEN: a stream in the background (pid in $SPID), once its
# first comment arrived.
stream() {
	curl -sN --max-time 40 -H "Authorization: Bearer $2" "$SRV_URL/v1/stream" >"$TMP/$1" 2>/dev/null &
	SPID=$!
	SERVER_PIDS="$SERVER_PIDS $SPID"
	for _ in $(seq 1 50); do
		grep -q '^: logseal live stream' "$TMP/$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
entries() { grep -c '^event: entry$' "$TMP/$1"; }
wait_entries() { for _ in $(seq 1 50); do [ "$(entries "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
# exits_within PID TENTHS: the process is gone within TENTHS tenths of a second.
exits_within() { for _ in $(seq 1 "$2"); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

check "stream 1 (token one) opens" stream s1 "$A1"; P1=$SPID
check "stream 1b (token one) opens" stream s1b "$A1"; P1B=$SPID
check "stream 2 (token two) opens" stream s2 "$A2"; P2=$SPID
ev live-1 >"$TMP/e1.json"
check_eq "an event: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/e1.json")"
check "stream 1 gets it" wait_entries s1 1
check "stream 2 gets it" wait_entries s2 1
sleep 0.3	# both streams are caught up: suspended, nothing to send

t0=$(date +%s%N)
check_eq "DELETE token one: 200" 200 "$(req DELETE "/v1/tokens/$A1_ID" "$ADMIN")"
check "stream 1 ends within a second, no event flowing" exits_within "$P1" 10
check "stream 1b (same token) ends too" exits_within "$P1B" 10
echo "# $(( ($(date +%s%N) - t0) / 1000000 )) ms from sending the DELETE to seeing both streams' curl gone (or giving up)"
check "its last message says why" grep -q '^event: revoked' "$TMP/s1"
check "stream 2 (another token) is still open" kill -0 "$P2"
n1=$(entries s1)
ev live-2 >"$TMP/e2.json"
check_eq "another event: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/e2.json")"
check "stream 2 gets it" wait_entries s2 2
check_eq "stream 1 got nothing more" "$n1" "$(entries s1)"
check_eq "reconnecting with the revoked token: 401" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $A1" "$SRV_URL/v1/stream")"
kill "$P2" 2>/dev/null; wait "$P2" 2>/dev/null
check "the server stops" stop_server
done_testing
