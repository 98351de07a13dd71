#!/bin/bash
# The curl session of the README ("The two commands") and the one `make run`
# prints (scripts/run.sh) are the same, and they work: run against the
# server scripts/run.sh starts, they create a writer token, send an event,
# read back that very event (not entry 0, the token's creation) with its
# inclusion proof, and read the signed checkpoint at /log/checkpoint.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$TMP/data
PORT=$(free_port); URL=http://127.0.0.1:$PORT

# The README's block: the first ```sh block after "make run` prints".
awk '/^`make run` prints/ {f=1} f && /^```sh$/ {b=1; next} b && /^```$/ {exit} b' "$ROOT/README.md" >"$TMP/readme.sh"
check_eq "the README has the session (a writer token, an event, reads)" 1 \
	"$(grep -q '/v1/tokens' "$TMP/readme.sh" && grep -q '/log/checkpoint' "$TMP/readme.sh" && echo 1)"

# scripts/run.sh (what make run calls) on a free port and a fresh directory.
LOGSEAL_BIN=$LOGSEAL LOGSEAL_DATA=$D LOGSEAL_LISTEN=127.0.0.1:$PORT sh "$ROOT/scripts/run.sh" >"$TMP/run.out" 2>"$TMP/run.err" &
RUN_PID=$!; SERVER_PIDS="$SERVER_PIDS $RUN_PID"
for _ in $(seq 1 100); do curl -s -o /dev/null "$URL/healthz" && break; sleep 0.1; done
check "the server scripts/run.sh starts answers" curl -sf -o /dev/null "$URL/healthz"
# Its session: the indented lines after "Try:" up to the first blank line.
awk '/Try:$/ {f=1; getline; next} f && /^$/ {exit} f {sub(/^  /, ""); print}' "$TMP/run.out" >"$TMP/printed.sh"
sed -e "s#http://127.0.0.1:8080#$URL#g" -e "s#\./data/#$D/#g" "$TMP/readme.sh" >"$TMP/readme.local.sh"
check_eq "make run prints the README's session" "$(cat "$TMP/readme.local.sh")" "$(cat "$TMP/printed.sh")"

# Run a session; each curl's output ends with a line '----' (so the replies
# can be told apart).
run_session() {	# FILE OUT
	{ echo 'curl() { command curl "$@"; echo; echo ----; }'; cat "$1"; echo 'echo "N=$N"'; } >"$1.run"
	(cd "$TMP" && bash -e "$1.run") >"$2" 2>"$2.err"
}
for s in printed readme.local; do
	check "session ($s) runs" run_session "$TMP/$s.sh" "$TMP/$s.out"
	n=$(sed -n 's/^N=//p' "$TMP/$s.out")
	awk -v RS='----\n' -v k=0 '{ print > ("'"$TMP/$s"'.part" k++) }' "$TMP/$s.out"
	check_eq "($s) the event's index is a number past the token's creation" 1 "$([ "${n:-0}" -gt 0 ] 2>/dev/null && echo 1)"
	check_eq "($s) the query finds alice's event" "user.login" "$(jq -r '.events[0].entry.action' "$TMP/$s.part0")"
	check_eq "($s) /v1/events/\$N is the user's event, with a proof" "$n alice user.login true" \
		"$(jq -r '"\(.index) \(.entry.actor.id) \(.entry.action) \(.proof|type=="array")"' "$TMP/$s.part1")"
	check_eq "($s) /log/checkpoint is a signed checkpoint" 1 \
		"$(grep -q '^— ' "$TMP/$s.part2" && sed -n 2p "$TMP/$s.part2" | grep -qx '[0-9]*' && echo 1)"
done
kill -TERM "$RUN_PID"; wait "$RUN_PID"
done_testing
