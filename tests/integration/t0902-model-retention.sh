#!/bin/bash
# The model-based test across retention (issue 14): random events of
# short-lived services (web, api, auth-svc, k8s; default policy: 1 day hot,
# 1 archived) over several segments (cut by `keys rotate`, and by
# --segment-leaves when the binary has it), then events that include the
# long-lived service billing (36500 days hot).  With the test clock 10 days
# on, the server's own pass archives and purges a prefix of the log
# (docs/FORMAT.md "Retention": oldest first, stopping at the first segment
# that is not due).  The purged ranges are read from the
# logseal.retention.purge events; no billing event may be in them.  Until
# `logseal reindex` the index may still list a purged event (FORMAT.md
# "Known limits"): the model then accepts it only with its own body, and
# stats counted with or without every purged event; after the reindex
# purged events are gone from every answer and everything else is
# unchanged.  `verify --data` passes and reports the purged ranges.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
. "$(dirname "$0")/../model/model_lib.sh"
D=$TMP/data
CLK=$TMP/clock
echo 0 >"$CLK"
export LOGSEAL_TEST_CLOCK_FILE=$CLK LOGSEAL_TEST_RETENTION_MS=200
SHORT=web,api,auth-svc,k8s
check "init" sh -c "'$LOGSEAL' init --data '$D' --origin retention.model/log >/dev/null"
check "server starts$SEG_NOTE" start_server "$D" "${SEG_OPTS[@]}" --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
model setup --admin-token-file "$D/admin.token"
AUD=$(jq -r .tokens.auditor.secret "$MODEL_STATE")
for k in 1 2 3; do
	model ingest --phase short$k --events 700 --services "$SHORT"
	check_eq "keys rotate (a new segment)" 200 "$(req POST /v1/keys/rotate "$ADMIN")"
done
model ingest --phase long --events 2000
model check --phase before --queries 40 --stats 10
# n_retention ACTION: how many logseal.retention.ACTION events the log holds.
n_retention() {
	[ "$(req GET "/v1/events?service=logseal&action=logseal.retention.$1&limit=1000" "$AUD")" = 200 ] &&
		jq '.events | length' "$TMP/resp"
}
printf '{"default":{"hot_days":1,"archive_days":1},"services":{"billing":{"hot_days":36500,"archive_days":1}}}\n' >"$D/retention.json"
echo $((10 * 86400)) >"$CLK"
# The pass runs every 200 ms: wait until it purged something and the next
# passes add nothing.
last=-1; stable=0
for _ in $(seq 1 100); do
	n=$(n_retention purge)
	if [ "${n:-0}" -gt 0 ] && [ "$n" = "$last" ] && [ "$(n_retention archive)" = "$n" ]; then
		stable=$((stable + 1)); [ $stable -ge 3 ] && break
	else
		stable=0
	fi
	last=$n; sleep 0.2
done
check "10 days later the pass archived and purged segments ($last), then nothing more" test "$stable" -ge 3
model retention --phase purged --mode lenient --queries 80 --stats 20
check "SIGTERM" stop_server
check "server restarts" start_server "$D" "${SEG_OPTS[@]}" --checkpoint-interval 100
model check --phase purged-restarted --mode lenient --queries 40 --stats 10
check "SIGTERM" stop_server
check "logseal reindex" "$LOGSEAL" reindex --data "$D"
check "verify --data passes" sh -c "'$LOGSEAL' verify --data '$D' >'$TMP/v.out' 2>&1"
check "verify reports the purged ranges as purged by policy" grep -q "purged by policy" "$TMP/v.out"
check "server starts on the reindexed directory" start_server "$D" "${SEG_OPTS[@]}" --checkpoint-interval 100
model check --phase reindexed --mode strict --queries 60 --stats 20 --sweep
model ingest --phase after --events 500
model check --phase after --mode strict --queries 30 --stats 10
check "SIGTERM" stop_server
done_testing
