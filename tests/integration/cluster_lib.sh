# Helpers for the cluster tests (t091x-cluster-*.sh): several `logseal serve
# --cluster` nodes on the suite's Patroni/PostgreSQL (need_pg) and one
# bucket (need_s3), each node on its own data directory and port.  Source
# after lib.sh and serve_lib.sh; call need_pg and need_s3 first.
#
#   cluster_init N           `logseal init` once (object store on), copied to
#                            N node directories before the first entry
#   node_start I             start node I (same port every time), wait for
#                            /healthz (<= 30 s)
#   node_kill I              SIGKILL node I
#   node_url I               its base URL
#   cluster_tokens           start node 1, create the writer and auditor
#                            tokens (W, AUD) through it, copy its token store
#                            to the other nodes (tokens are node-local files)
#   integrator               the number of the node that integrates (or "")
#   cstat I FIELD            a field of node I's /readyz "cluster" object
#   converged I J...         those nodes hold the same tree as the database
#   load_start C N K [I...]  client C: N batches of K events through the
#                            given nodes (default all), in the background
#   load_wait                wait for every client started
CT="python3 $(dirname "${BASH_SOURCE[0]}")/cluster_tool.py"
CL_N=0
declare -a CL_PORT CL_PID
LOAD_PIDS=""
OUT=$TMP/load

cluster_init() {
	local n=$1 i
	CL_N=$n
	"$LOGSEAL" init --data "$TMP/seed" --no-encryption --origin "cluster.test/$PG_DB" \
		--object-store "$S3_URL" --object-store-endpoint "$AWS_ENDPOINT_URL" \
		--object-store-region us-east-1 --object-store-path-style --object-lock-days 1 \
		>"$TMP/init.out" 2>&1 || { cat "$TMP/init.out"; return 1; }
	for i in $(seq 1 "$n"); do
		cp -a "$TMP/seed" "$TMP/node$i" || return 1
		CL_PORT[$i]=$(free_port)
	done
	mkdir -p "$OUT"
}
node_url() { echo "http://127.0.0.1:${CL_PORT[$1]}"; }
node_start() {
	local i=$1
	"$LOGSEAL" serve --data "$TMP/node$i" --listen "127.0.0.1:${CL_PORT[$i]}" \
		--cluster "$PG_CONNINFO" --node "n$i" --checkpoint-interval 200 --segment-leaves 256 \
		${NODE_OPTS:-} >>"$TMP/node$i.out" 2>>"$TMP/node$i.err" &
	CL_PID[$i]=$!
	SERVER_PIDS="$SERVER_PIDS ${CL_PID[$i]}"
	for _ in $(seq 1 300); do
		curl -s -o /dev/null -m 2 "$(node_url "$i")/healthz" && return 0
		kill -0 "${CL_PID[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "# node $i did not come up:"; tail -5 "$TMP/node$i.err" | sed 's/^/#   /'
	return 1
}
node_kill() { kill -9 "${CL_PID[$1]}" 2>/dev/null; wait "${CL_PID[$1]}" 2>/dev/null; CL_PID[$1]=""; }
node_stop() {
	kill -TERM "${CL_PID[$1]}" 2>/dev/null
	for _ in $(seq 1 300); do kill -0 "${CL_PID[$1]}" 2>/dev/null || break; sleep 0.1; done
	wait "${CL_PID[$1]}" 2>/dev/null
	CL_PID[$1]=""
}
cluster_tokens() {
	local i
	node_start 1 || return 1
	SRV_URL=$(node_url 1)
	ADMIN=$(cat "$TMP/node1/admin.token")
	W=$(new_token "$ADMIN" '{"role":"writer"}') || return 1
	AUD=$(new_token "$ADMIN" '{"role":"auditor"}') || return 1
	for i in $(seq 2 "$CL_N"); do cp "$TMP/node1/tokens.json" "$TMP/node$i/tokens.json" || return 1; done
}
readyz() { curl -s -m 5 "$(node_url "$1")/readyz"; }
cstat() { readyz "$1" | jq -r ".cluster.$2"; }
integrator() {
	local i
	for i in $(seq 1 "$CL_N"); do
		[ -n "${CL_PID[$i]}" ] || continue
		[ "$(cstat "$i" integrator)" = true ] && { echo "$i"; return 0; }
	done
	return 1
}
# converged I J...: every node's tree size equals the database's sequenced
# count and each other's, and the database integrated all of it.
converged() {
	local i s="" a b c
	for i in "$@"; do
		read -r a b c < <(readyz "$i" | jq -r '"\(.tree_size) \(.cluster.sequenced) \(.cluster.integrated)"')
		[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] || return 1
		[ -z "$s" ] || [ "$s" = "$a" ] || return 1
		s=$a
	done
	[ -n "$s" ]
}
wait_until() { local n=$1; shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.5; done; return 1; }
load_start() {
	local c=$1 n=$2 k=$3 urls="" i
	shift 3
	[ $# -gt 0 ] || set -- $(seq 1 "$CL_N")
	for i in "$@"; do urls="$urls${urls:+,}$(node_url "$i")"; done
	$CT load --urls "$urls" --token "$W" --client "$c" --batches "$n" --size "$k" --out "$OUT" \
		--stop "$TMP/stop" >"$TMP/load-$c.log" 2>&1 &
	LOAD_PIDS="$LOAD_PIDS $!"
}
load_wait() { local p; for p in $LOAD_PIDS; do wait "$p"; done; LOAD_PIDS=""; }
# acked: events acknowledged so far, all clients.
acked() { cat "$OUT"/acked-*.txt 2>/dev/null | wc -l; }
# summary FIELD: the sum of a numeric summary field over all clients
summary_sum() { jq -s "map(.$1) | add" "$OUT"/summary-*.json; }
other_errors() { jq -r '.other_errors[]' "$OUT"/summary-*.json; }
# check_log I: node I's journal against every acknowledgement, and its
# size against the tree.
check_log() {
	"$TESTBIN/journalcat" "$TMP/node$1" >"$TMP/journal$1" || return 1
	$CT check --journal "$TMP/journal$1" --acked "$OUT" --size "$(readyz "$1" | jq -r .tree_size)"
}
# bucket_note FILE: the bucket's log/checkpoint into FILE
bucket_note() { s3api get-object --bucket "$S3_BUCKET" --key "${S3_URL#s3://$S3_BUCKET/}/log/checkpoint" "$1" >/dev/null; }
# bucket_at_least N: the bucket's log/checkpoint (into $TMP/pub) has size >= N
bucket_at_least() { bucket_note "$TMP/pub" && [ "$(sed -n 2p "$TMP/pub")" -ge "$1" ]; }
# other_node URL: a live node whose URL is not URL
other_node() {
	local i
	for i in $(seq 1 "$CL_N"); do
		[ -n "${CL_PID[$i]}" ] && [ "$(node_url "$i")" != "$1" ] && { echo "$i"; return 0; }
	done
	return 1
}
