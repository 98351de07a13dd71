#!/bin/bash
# Model-based test of the queries (issue 14): 2k random standard events
# through `logseal import` (no received, no writer, times as written, with
# --segment-leaves when import has it), then 5k through POST /v1/events
# from four writer tokens, kept in a plain model
# (tests/model/logmodel.py); then random GET /v1/events (every filter alone
# and combined, action exact and prefix, CIDR of every supported length,
# time and received ranges, both orders, limits 1..1000, cursors to the end)
# and GET /v1/events/stats compared with the model, leaf index by leaf
# index and body by body; the same after a restart (SIGTERM) and more
# events; `verify` passes.  Small sealed segments when the binary has
# --segment-leaves.  The seed is printed (MODEL_SEED=N replays it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
. "$(dirname "$0")/../model/model_lib.sh"
D=$TMP/data
check "init" sh -c "'$LOGSEAL' init --data '$D' --origin model.test/log >/dev/null"
model importgen --phase imp --events 2000 --out "$TMP/imp.ndjson"
check_eq "logseal import of 2000 events${IMPORT_OPTS[*]:+ with ${IMPORT_OPTS[*]}}" "imported 2000 entries" \
	"$("$LOGSEAL" import --data "$D" "${IMPORT_OPTS[@]}" <"$TMP/imp.ndjson" 2>&1)"
check "server starts$SEG_NOTE" start_server "$D" "${SEG_OPTS[@]}"
model setup --admin-token-file "$D/admin.token"
model ingest --phase a --events "${MODEL_EVENTS:-5000}"
model check --phase a --queries "${MODEL_QUERIES:-150}" --stats 40 --badparams --sweep
check "SIGTERM: the server stops cleanly" stop_server
check "server restarts" start_server "$D" "${SEG_OPTS[@]}"
model check --phase a-restarted --queries 40 --stats 10
model ingest --phase b --events 1000
model check --phase b --queries 50 --stats 10
check "SIGTERM again" stop_server
check "verify --data passes" "$LOGSEAL" verify --data "$D"
done_testing
