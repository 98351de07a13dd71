#!/bin/bash
# The model-based test across a crash (issue 14): random events in the
# model, then a load of random batches from three writers while the server
# is SIGKILLed at a random moment (with small sealed segments when the
# binary has --segment-leaves, so the kill often lands on sealing or WAL
# truncation); after the restart every acknowledged event is present
# exactly once at its index with its body, an unacknowledged one at most
# once, resending the unacknowledged batches makes every event present
# exactly once (idempotency keys), random queries and stats match the
# model of what is present, and `verify --data` passes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
. "$(dirname "$0")/../model/model_lib.sh"
D=$TMP/data
# wait_acks FILE: poll (<= 10 s) until the load has an acknowledged batch.
wait_acks() { for _ in $(seq 1 200); do grep -q '"t":"ack"' "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
check "init" sh -c "'$LOGSEAL' init --data '$D' --origin model.test/log >/dev/null"
check "server starts$SEG_NOTE" start_server "$D" "${SEG_OPTS[@]}"
model setup --admin-token-file "$D/admin.token"
model ingest --phase a --events 3000
model check --phase a --queries 40 --stats 10
for r in 1 2; do
	: >"$TMP/acks$r"
	model_bg load --phase crash$r --ackfile "$TMP/acks$r" --seconds 20 --threads 2 --pause 0.01
	check "crash $r: the load is acknowledged" wait_acks "$TMP/acks$r"
	ms=$((100 + RANDOM % 900))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
	wait "$MODEL_BG_PID"
	echo "# crash $r: SIGKILL after $ms ms of load: $(grep -c '"t":"sent"' "$TMP/acks$r") batches sent, $(grep -c '"t":"ack"' "$TMP/acks$r") acknowledged"
	sed 's/^/#   load: /' "$TMP/model_bg.out" | tail -5
	check "crash $r: the server restarts (recovery)" start_server "$D" "${SEG_OPTS[@]}"
	model crashcheck --phase crash$r --ackfile "$TMP/acks$r" --queries 50 --stats 10 --spot 20
done
check "SIGTERM: the server stops" stop_server
check "verify --data passes after the crashes" "$LOGSEAL" verify --data "$D"
check "the server starts again" start_server "$D" "${SEG_OPTS[@]}"
model check --phase final --queries 30 --stats 10
check "SIGTERM" stop_server
done_testing
