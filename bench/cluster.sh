# bench/cluster.sh - issue 16's figures (section "cluster" of bench/run.sh,
# which sources this file and calls cluster_section and cluster_summary):
#   (a) HTTP ingest (loadgen, batches of 1000) of one single-node `logseal
#       serve` against two `logseal serve --cluster` nodes on one Patroni/
#       PostgreSQL 15 cluster (strict synchronous mode, three nodes) in the
#       same run: events/s and the ratio;
#   (b) the database's share of the cost during (a): CPU of every
#       PostgreSQL process (the three postmasters and their children) over
#       that of PostgreSQL and the two logseal nodes;
#   (c) failover time over CLUSTER_KILLS SIGKILLs of the PostgreSQL leader
#       (Patroni and postmaster, tests/engines/pgha.sh kill-leader) under
#       load from two clients through both nodes
#       (tests/integration/cluster_tool.py): from the kill to the first
#       acknowledged batch after it;
#   (d) acknowledged loss over those kills: acknowledged events missing from
#       (or misplaced in) a node's log at the end; must be 0.
# The database is its own, started here by tests/engines/pgha.sh and stopped
# by PID; no object store (ingest and sequencing are measured, not uploads).
# Environment: CLUSTER_SECONDS=8 (each loadgen run), CLUSTER_CONNS=8,
# CLUSTER_KILLS=3.  The section takes about 3-5 minutes.

CLUSTER_SECONDS=${CLUSTER_SECONDS:-8}
CLUSTER_CONNS=${CLUSTER_CONNS:-8}
CLUSTER_KILLS=${CLUSTER_KILLS:-3}
CLUSTER_PGHA=""
CLUSTER_PIDS=""
CLUSTER_LOSS=""

cluster_stop_engines() {
	local pid
	for pid in $CLUSTER_PIDS; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	CLUSTER_PIDS=""
	if [ -n "$CLUSTER_PGHA" ]; then
		bash tests/engines/pgha.sh stop "$CLUSTER_PGHA" >/dev/null 2>&1 || true
		CLUSTER_PGHA=""
	fi
}

# cluster_ticks PID...: user+system clock ticks used so far by the processes.
cluster_ticks() {
	local pid t=0 v
	for pid in "$@"; do
		v=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
# cluster_pg_pids: the postmasters of the bench's database and their children.
cluster_pg_pids() {
	local f pm
	for f in "$CLUSTER_PGHA"/data/n*/postmaster.pid; do
		pm=$(head -1 "$f" 2>/dev/null) || continue
		[ -n "$pm" ] && kill -0 "$pm" 2>/dev/null || continue
		echo "$pm"
		ps -o pid= --ppid "$pm" 2>/dev/null
	done | tr -s ' \n' ' '
}

# cluster_node I: start `logseal serve --cluster` node I on $T/cluster/nI.
cluster_node() {
	local i=$1 port
	port=$(free_port)
	eval "CLUSTER_PORT$i=$port"
	"$LOGSEAL" serve --data "$T/cluster/n$i" --listen "127.0.0.1:$port" --cluster "$CLUSTER_DB" \
		--node "n$i" >"$T/cluster/n$i.out" 2>"$T/cluster/n$i.err" &
	eval "CLUSTER_PID$i=$!"
	CLUSTER_PIDS="$CLUSTER_PIDS $!"
	wait_healthz "$port" "$!" 300 || { tail "$T/cluster/n$i.err" >&2; fail "cluster node $i did not start"; }
}

cluster_section() {
	local a b hz single two pg0 pg1 ls0 ls1 w0 w1 k t_k first ft fts="" loss
	section "cluster: two nodes on Patroni/PostgreSQL 15 (strict sync) vs one node; failover; acknowledged loss"
	command -v patroni >/dev/null || fail "patroni is not installed (scripts/deps.sh test)"
	STEP="cluster: build journalcat"
	make --no-print-directory "$BUILD/tests/journalcat" >/dev/null || fail "cannot build journalcat"
	STEP="cluster: start etcd and three Patroni/PostgreSQL nodes (tests/engines/pgha.sh)"
	mkdir -p "$T/cluster"
	CLUSTER_PGHA=$T/cluster/pgha
	bash tests/engines/pgha.sh start "$CLUSTER_PGHA" >"$T/cluster/pgha.log" 2>&1 ||
		{ tail -20 "$T/cluster/pgha.log" >&2; fail "the database did not come up"; }
	line "database" "$(sed -n 's/^pgha.sh: //p' "$T/cluster/pgha.log" | head -1)"
	# shellcheck disable=SC1091
	. "$CLUSTER_PGHA/env"
	psql "$LOGSEAL_TEST_PG" -XAtq -c "CREATE DATABASE bench_cluster" >/dev/null ||
		fail "CREATE DATABASE"
	CLUSTER_DB="${LOGSEAL_TEST_PG/dbname=postgres/dbname=bench_cluster}"
	hz=$(getconf CLK_TCK)

	# (a) single node
	STEP="cluster: single-node ingest"
	"$LOGSEAL" init --data "$T/cluster/single" >/dev/null 2>&1 || fail "init"
	CLUSTER_PORT0=$(free_port)
	"$LOGSEAL" serve --data "$T/cluster/single" --listen "127.0.0.1:$CLUSTER_PORT0" \
		>"$T/cluster/single.out" 2>&1 &
	CLUSTER_PID0=$!
	CLUSTER_PIDS="$CLUSTER_PIDS $CLUSTER_PID0"
	wait_healthz "$CLUSTER_PORT0" "$CLUSTER_PID0" 300 || fail "single node did not start"
	admin_hdr "$T/cluster/single" "$T/cluster/single.hdr"
	writer_token "$CLUSTER_PORT0" "$T/cluster/single.hdr" bench "$T/cluster/single.token" ||
		fail "writer token"
	"$BENCHBIN/loadgen" --port "$CLUSTER_PORT0" --token-file "$T/cluster/single.token" --batch 1000 \
		--conns "$CLUSTER_CONNS" --seconds "$CLUSTER_SECONDS" --results "$RESULTS" \
		--key cluster_single >"$T/cluster/single.loadgen" 2>&1 ||
		{ tail "$T/cluster/single.loadgen" >&2; fail "loadgen (single node)"; }
	kill -TERM "$CLUSTER_PID0" 2>/dev/null; wait "$CLUSTER_PID0" 2>/dev/null || true
	single=$(get cluster_single_eps)

	# (a), (b) two cluster nodes, half the connections each
	STEP="cluster: two-node ingest"
	"$LOGSEAL" init --data "$T/cluster/seed" --origin bench.cluster/log >/dev/null 2>&1 || fail "init"
	cp -a "$T/cluster/seed" "$T/cluster/n1"
	cp -a "$T/cluster/seed" "$T/cluster/n2"
	cluster_node 1
	admin_hdr "$T/cluster/n1" "$T/cluster/n1.hdr"
	writer_token "$CLUSTER_PORT1" "$T/cluster/n1.hdr" bench "$T/cluster/writer.token" ||
		fail "writer token (cluster)"
	cp "$T/cluster/n1/tokens.json" "$T/cluster/n2/tokens.json"
	cluster_node 2
	pg0=$(cluster_ticks $(cluster_pg_pids)); ls0=$(cluster_ticks "$CLUSTER_PID1" "$CLUSTER_PID2"); w0=$(now)
	"$BENCHBIN/loadgen" --port "$CLUSTER_PORT1" --token-file "$T/cluster/writer.token" --batch 1000 \
		--conns $((CLUSTER_CONNS / 2)) --seconds "$CLUSTER_SECONDS" --results "$RESULTS" \
		--key cluster_n1 >"$T/cluster/n1.loadgen" 2>&1 &
	a=$!
	"$BENCHBIN/loadgen" --port "$CLUSTER_PORT2" --token-file "$T/cluster/writer.token" --batch 1000 \
		--conns $((CLUSTER_CONNS / 2)) --seconds "$CLUSTER_SECONDS" --results "$RESULTS" \
		--key cluster_n2 >"$T/cluster/n2.loadgen" 2>&1 &
	b=$!
	wait "$a" || { tail "$T/cluster/n1.loadgen" >&2; fail "loadgen (cluster node 1)"; }
	wait "$b" || { tail "$T/cluster/n2.loadgen" >&2; fail "loadgen (cluster node 2)"; }
	pg1=$(cluster_ticks $(cluster_pg_pids)); ls1=$(cluster_ticks "$CLUSTER_PID1" "$CLUSTER_PID2"); w1=$(now)
	two=$(awk -v x="$(get cluster_n1_eps)" -v y="$(get cluster_n2_eps)" 'BEGIN { printf "%.0f", x + y }')
	echo "cluster_two_eps $two" >>"$RESULTS"
	line "(a) single node, $CLUSTER_CONNS conns" "$(commas "$single") events/s"
	line "(a) cluster, 2 nodes x $((CLUSTER_CONNS / 2)) conns" \
		"$(commas "$two") events/s ($(awk -v c="$two" -v s="$single" 'BEGIN { printf "%.2f", c / s }')x the single node)"
	line "(b) CPU during (a)" "$(awk -v p=$((pg1 - pg0)) -v l=$((ls1 - ls0)) -v h="$hz" -v a="$w0" -v b="$w1" 'BEGIN {
		printf "PostgreSQL %.2f cores, logseal %.2f cores: the database %.0f%% of the cost", p / h / (b - a), l / h / (b - a), (p + l) ? 100 * p / (p + l) : 0 }')"
	echo "cluster_db_share $(awk -v p=$((pg1 - pg0)) -v l=$((ls1 - ls0)) 'BEGIN { printf "%.3f", (p + l) ? p / (p + l) : 0 }')" >>"$RESULTS"

	# (c), (d) failover under load, CLUSTER_KILLS times
	local urls="http://127.0.0.1:$CLUSTER_PORT1,http://127.0.0.1:$CLUSTER_PORT2" tool=tests/integration/cluster_tool.py
	for k in $(seq 1 "$CLUSTER_KILLS"); do
		STEP="cluster: failover $k"
		bash tests/engines/pgha.sh wait-sync "$CLUSTER_PGHA" || fail "no synchronous standby before kill $k"
		rm -f "$T/cluster/load"/summary-*.json
		python3 "$tool" load --urls "$urls" --token "$(cat "$T/cluster/writer.token")" --client "k$k-1" \
			--batches 100000 --size 100 --out "$T/cluster/load" --stop "$T/cluster/stop$k" \
			>"$T/cluster/load-k$k-1.log" 2>&1 &
		a=$!
		python3 "$tool" load --urls "$urls" --token "$(cat "$T/cluster/writer.token")" --client "k$k-2" \
			--batches 100000 --size 100 --out "$T/cluster/load" --stop "$T/cluster/stop$k" \
			>"$T/cluster/load-k$k-2.log" 2>&1 &
		b=$!
		for _ in $(seq 1 60); do
			cat "$T/cluster/load"/batches-k"$k"-*.jsonl 2>/dev/null | grep -q . && break
			sleep 0.5
		done
		sleep 2
		t_k=$(now)
		first=$(bash tests/engines/pgha.sh kill-leader "$CLUSTER_PGHA") || fail "kill-leader"
		# the first acknowledged batch after the kill, any client
		ft=""
		for _ in $(seq 1 240); do
			ft=$( (cat "$T/cluster/load"/batches-k"$k"-*.jsonl 2>/dev/null || true) | python3 -c '
import json, sys
t = float(sys.argv[1]); ts = [json.loads(l)["t"] for l in sys.stdin if l.strip()]
after = sorted(x for x in ts if x > t)
# acknowledgements of commits made before the kill come at once; the first
# after a gap of more than a second is the one the new primary made
prev = t
for x in after:
    if x - prev > 1.0: print("%.2f" % (x - t)); break
    prev = x' "$t_k") || ft=""
			[ -n "$ft" ] && break
			sleep 0.5
		done
		: >"$T/cluster/stop$k"
		wait "$a" "$b" || true
		[ -n "$ft" ] || fail "no acknowledged batch within 120 s of kill $k"
		fts="$fts $ft"
		line "(c) kill $k: leader n$first" "first acknowledged batch ${ft} s after the kill; $(jq -s '[.[].status["503"] // 0] | add' "$T/cluster/load"/summary-*.json) answers 503, $(jq -s '[.[].other_errors | length] | add' "$T/cluster/load"/summary-*.json) other errors"
		bash tests/engines/pgha.sh restart-node "$first" "$CLUSTER_PGHA"
	done
	echo "cluster_failover_s_max $(printf '%s\n' $fts | sort -n | tail -1)" >>"$RESULTS"
	line "(c) failover time (kill to first acknowledged batch)" \
		"$(printf '%s\n' $fts | sort -n | awk '{ v[NR] = $1 } END { printf "min %.1f s, median %.1f s, max %.1f s over %d kills", v[1], v[int((NR + 1) / 2)], v[NR], NR }')"
	STEP="cluster: acknowledged loss"
	for _ in $(seq 1 240); do
		curl -s "http://127.0.0.1:$CLUSTER_PORT1/readyz" | jq -e '.tree_size == .cluster.sequenced' >/dev/null &&
			curl -s "http://127.0.0.1:$CLUSTER_PORT2/readyz" | jq -e '.tree_size == .cluster.sequenced' >/dev/null && break
		sleep 0.5
	done
	"$BUILD/tests/journalcat" "$T/cluster/n2" >"$T/cluster/journal"
	python3 "$tool" check --journal "$T/cluster/journal" --acked "$T/cluster/load" >"$T/cluster/check.out" 2>&1 || true
	loss=$(sed -n 's/.* \([0-9]*\) problems$/\1/p' "$T/cluster/check.out")
	CLUSTER_LOSS=${loss:-unknown}
	echo "cluster_ack_loss $CLUSTER_LOSS" >>"$RESULTS"
	line "(d) acknowledged loss over $CLUSTER_KILLS kills" "$CLUSTER_LOSS ($(head -1 "$T/cluster/check.out"))"
	cluster_stop_engines
}

cluster_summary() {
	local verdict=ok
	[ "$CLUSTER_LOSS" = 0 ] || { verdict=MISSED; missed=$((missed + 1)); }
	line "cluster: acknowledged loss" "$CLUSTER_LOSS (target 0): $verdict"
	line "cluster: 2 nodes vs 1" "$(commas "$(get cluster_two_eps)") vs $(commas "$(get cluster_single_eps)") events/s; failover max $(get cluster_failover_s_max) s"
}
