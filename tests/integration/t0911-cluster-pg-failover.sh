#!/bin/bash
# Cluster mode (docs/CLUSTER.md): the PostgreSQL primary dies under load.
# Two `logseal serve --cluster` nodes, four clients through both; the
# Patroni leader's Patroni and postmaster are SIGKILLed together
# (tests/engines/pgha.sh kill-leader), twice (the killed node is started
# again between rounds so the next round has a synchronous standby).
# During the promotion ingest answers 503 with Retry-After (no other error);
# /readyz says the cluster is unreachable; after it every acknowledged event
# is in the log exactly once at its index, no gaps, on both nodes; a batch
# acknowledged before the kill and sent again after gets the same indexes;
# `logseal send`, fed across the kill, retries through it and sends all;
# the checkpoint published before is a prefix of the final tree; the bucket
# passes `logseal verify --tiles` at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
need_s3 log
. "$(dirname "$0")/cluster_lib.sh"
[ -n "$PGHA_DIR" ] || { not_ok "LOGSEAL_TEST_PGHA_DIR not set (tests/run.sh starts the cluster)"; done_testing; exit 1; }

check "the database has a synchronous standby" pgha wait-sync
check "init once, copied to two node directories" cluster_init 2
check "node 1 starts; tokens" cluster_tokens
check "node 2 starts" node_start 2
check "a node integrates" wait_until 60 integrator
check "the bucket has a published checkpoint" wait_until 60 bucket_note "$TMP/cp0"

ROUNDS=${CLUSTER_ROUNDS:-2}
for r in $(seq 1 "$ROUNDS"); do
	check "round $r: a synchronous standby is there" pgha wait-sync
	bucket_note "$TMP/before$r"
	read -r BSIZE BROOT < <($CT note "$TMP/before$r")
	for c in 1 2 3 4; do load_start "r$r-$c" 150 20; done
	wait_until 60 sh -c "[ \$(cat $OUT/acked-*.txt 2>/dev/null | wc -l) -ge 2000 ]"
	# `logseal send` through node 1, fed slowly across the kill: it must
	# retry through the failover and end with every event sent once
	(umask 077; printf '%s\n' "$W" >"$TMP/w.token")
	(for i in $(seq 1 600); do
		printf '{"id":"send-r%d-%d","time":"2024-05-06T07:08:09Z","actor":{"id":"s","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.9"}}\n' "$r" "$i"
		[ $((i % 20)) = 0 ] && sleep 0.3
	done) | "$LOGSEAL" send --server "$(node_url 1)" --token-file "$TMP/w.token" --batch 20 >"$TMP/send$r.out" 2>&1 &
	SEND_PID=$!
	A0=$(acked)
	L=$(pgha kill-leader)
	check "round $r: SIGKILL of the PostgreSQL leader n$L (Patroni and postmaster) after $A0 acknowledged events" test -n "$L"
	unready() { readyz 1 | jq -e '.reasons | map(select(startswith("cluster_unreachable"))) | length > 0' >/dev/null; }
	if wait_until 40 unready; then ok "round $r: /readyz says the cluster is unreachable"
	else skip "round $r: /readyz unreachable state" "promotion was quicker than the poll"; fi
	check "round $r: load goes on after the promotion" wait_until 180 sh -c "[ \$(cat $OUT/acked-*.txt | wc -l) -gt $((A0 + 400)) ]"
	B=$(head -1 "$OUT/batches-r$r-2.jsonl")
	b=$(printf '%s' "$B" | jq .b)
	one=$(other_node "$(printf '%s' "$B" | jq -r .url)")
	check_eq "round $r: batch $b sent again after the failover gets the same indexes" \
		"$(printf '%s' "$B" | jq -r '.indexes | map(tostring) | join(" ")')" \
		"$($CT replay --url "$(node_url "$one")" --token "$W" --client "r$r-2" --batch "$b" --size 20 2>&1)"
	pgha restart-node "$L"
	load_wait
	if wait "$SEND_PID"; then ok "round $r: logseal send retried through the failover and finished"
	else not_ok "round $r: logseal send failed"; tail -5 "$TMP/send$r.out" | sed 's/^/#   /'; fi
	grep -c 'retrying' "$TMP/send$r.out" | sed "s/^/# round $r: logseal send retries: /"
	check_eq "round $r: every client finished (none gave up)" 0 "$(summary_sum gave_up)"
	other_errors >"$TMP/errors$r"
	check_eq "round $r: no answer but 200 and 503" "" "$(head -3 "$TMP/errors$r")"
	n503=$(jq -s 'map(.status["503"] // 0) | add' "$OUT"/summary-*.json)
	check "round $r: ingest answered 503 during the failover ($n503 times)" test "$n503" -gt 0
	echo "# round $r: a 503: $(jq -r 'select(.busy_sample) | .busy_sample' "$OUT"/summary-*.json | head -1)"
	echo "# round $r: outages seen by the clients (s): $(jq -c -s 'map(.outages) | add | sort | .[-3:]' "$OUT"/summary-*.json)"
	check "round $r: both nodes converge on the database's size" wait_until 120 converged 1 2
	check "round $r: every acknowledged event once, at its index, no gap (node 1)" check_log 1
	check_eq "round $r: the 600 events of logseal send are there, once each" "600 600" \
		"$(grep -o "\"send-r$r-[0-9]*\"" "$TMP/journal1" | wc -l) $(grep -o "\"send-r$r-[0-9]*\"" "$TMP/journal1" | sort -u | wc -l)"
	check "round $r: node 2 holds the same log" cmp -s "$TMP/journal1" <("$TESTBIN/journalcat" "$TMP/node2")
	check_eq "round $r: the checkpoint published before (size $BSIZE) is a prefix of the final tree" \
		"$BROOT" "$($CT root --journal "$TMP/journal1" --size "$BSIZE")"
	rm -f "$OUT"/summary-*.json
done
N=$(acked)
SRV_URL=$(node_url 2)
check_eq "queries on node 2 count every acknowledged event" "$N" \
	"$([ "$(req GET '/v1/events/stats?service=load' "$AUD")" = 200 ] && jq -r .total "$TMP/resp")"
check "the bucket catches up with the tree" wait_until 120 bucket_at_least "$N"
check "logseal verify --tiles passes over the bucket" "$LOGSEAL" verify --tiles "$S3_URL" --key "$TMP/seed/verifier.key"
check "the database has a synchronous standby again" pgha wait-sync
done_testing
