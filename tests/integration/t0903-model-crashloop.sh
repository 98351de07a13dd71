#!/bin/bash
# Crash loop over sealing and WAL truncation (issue 14): rounds of (start
# the server with small sealed segments when the binary has
# --segment-leaves, send random batches from two writers, SIGKILL it at a
# random moment, start it again); after each restart every acknowledged
# event is present exactly once at its index with its body, an
# unacknowledged one at most once, resending the unacknowledged batches
# makes each present exactly once, sampled acknowledged events are found
# by a query on their fields; then SIGTERM and `verify --data` passes.
# CRASH_ROUNDS sets the number of rounds (default 8, for `make test`);
# MODEL_SEGMENT_LEAVES the segment size (default 512).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
. "$(dirname "$0")/../model/model_lib.sh"
ROUNDS=${CRASH_ROUNDS:-8}
D=$TMP/data
wait_acks() { for _ in $(seq 1 200); do grep -q '"t":"ack"' "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
check "init" sh -c "'$LOGSEAL' init --data '$D' --origin crashloop.test/log >/dev/null"
check "server starts$SEG_NOTE" start_server "$D" "${SEG_OPTS[@]}"
model setup --admin-token-file "$D/admin.token"
for r in $(seq 1 "$ROUNDS"); do
	: >"$TMP/acks"
	model_bg load --phase r$r --ackfile "$TMP/acks" --seconds 20 --threads 2 --pause 0.01
	if ! wait_acks "$TMP/acks"; then
		not_ok "round $r: the load is acknowledged"; sed 's/^/#   /' "$TMP/model_bg.out" | tail -5
		kill "$MODEL_BG_PID" 2>/dev/null; break
	fi
	# 20..700 ms into the load: before, during or after a seal.
	ms=$((20 + RANDOM % 680))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
	wait "$MODEL_BG_PID"
	echo "# round $r: SIGKILL after $ms ms: $(grep -c '"t":"sent"' "$TMP/acks") batches sent, $(grep -c '"t":"ack"' "$TMP/acks") acknowledged"
	if ! start_server "$D" "${SEG_OPTS[@]}"; then
		not_ok "round $r: the server restarts after the kill"; break
	fi
	model crashcheck --phase r$r --ackfile "$TMP/acks" --queries 0 --spot 10 --no-model
	if ! stop_server; then not_ok "round $r: SIGTERM stops the server"; fi
	if "$LOGSEAL" verify --data "$D" >"$TMP/v.out" 2>&1; then
		ok "round $r: verify --data passes"
	else
		not_ok "round $r: verify --data passes"; sed 's/^/#   /' "$TMP/v.out" | tail -5
	fi
	[ "$r" -lt "$ROUNDS" ] && { start_server "$D" "${SEG_OPTS[@]}" || { not_ok "round $((r + 1)): the server starts"; break; }; }
done
done_testing
