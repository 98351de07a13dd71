#!/bin/bash
# Cluster mode (docs/CLUSTER.md, "Keeping the database bounded"): the
# database's logseal.batch and logseal.idem are pruned.  Two nodes (liveness
# window 20 s, idempotency window 40 s) ingest; the batches wholly below the
# integrated size are deleted (rows counted with psql) and
# logseal.integ.pruned says where; a batch sent again through the other node
# after its batch row was pruned gets its first indexes back (inside the
# idempotency window).  Node 2 stops: while it is seen (inside the liveness
# window) pruning stops at what it applied; once it is not seen for the
# window pruning goes past it, and node 2, started again, refuses with the
# re-seed message in /readyz (503) and its log, and applies nothing.  The
# keys older than the idempotency window are deleted, newer ones kept.
# Re-seeded from a copy of node 1's directory (the documented way: node 1
# stopped, the copy started first), node 2 follows again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
need_s3 log
. "$(dirname "$0")/cluster_lib.sh"

LIVE=20
IDEMW=40
NODE_OPTS="--cluster-liveness $LIVE --idem-window $IDEMW"
T_START=$SECONDS
check "init once, copied to two node directories" cluster_init 2
check "node 1 starts; tokens" cluster_tokens
check "node 2 starts" node_start 2
load_start a 30 20 1 2
# the batch rows the database holds meanwhile, sampled
( while [ ! -f "$TMP/sampled" ]; do pgq "SELECT count(*) FROM logseal.batch"; sleep 0.2; done ) >"$TMP/rows" 2>/dev/null &
SAMPLER=$!
load_wait
check "both nodes converge" wait_until 120 converged 1 2
touch "$TMP/sampled"; wait "$SAMPLER"
ROWS0=$(sort -n "$TMP/rows" | tail -1)
check "the database held batch rows while loading (at most $ROWS0)" test "${ROWS0:-0}" -gt 0
COMMITS=$(( $(cstat 1 commits) + $(cstat 2 commits) ))
pruned() { pgq "SELECT pruned FROM logseal.integ"; }
below_integrated() { pgq "SELECT count(*) FROM logseal.batch WHERE first + n <= (SELECT size FROM logseal.integ)"; }
all_pruned() { [ "$(below_integrated)" = 0 ] && [ "$(pruned)" -gt 0 ]; }
check "the batches below the integrated size are pruned" wait_until 60 all_pruned
SIZE=$(pgq "SELECT size FROM logseal.integ")
ROWS1=$(pgq "SELECT count(*) FROM logseal.batch")
echo "# $COMMITS sequencing commits; batch rows: at most $ROWS0 while loading, $ROWS1 now; integrated $SIZE, pruned below $(pruned)"
check_eq "no batch row left below the integrated size ($SIZE)" 0 "$(below_integrated)"
check "fewer batch rows than commits ($ROWS1 < $COMMITS)" test "$ROWS1" -lt "$COMMITS"
metric() { curl -s -H "Authorization: Bearer $AUD" "$(node_url "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
PB=$(( $(metric 1 logseal_cluster_pruned_batches_total) + $(metric 2 logseal_cluster_pruned_batches_total) + 0 ))
check "logseal_cluster_pruned_batches_total counts them ($PB)" test "$PB" -gt 0
check_eq "/readyz says the pruned point" "$(pruned)" "$(cstat 1 pruned)"

# a batch retried through the other node after its row was pruned
B=$(head -1 "$OUT/batches-a.jsonl")
b=$(printf '%s' "$B" | jq .b)
LAST=$(printf '%s' "$B" | jq '.indexes | max')
check "batch $b's entries (up to leaf $LAST) are below the pruned point" test "$LAST" -lt "$(pruned)"
one=$(other_node "$(printf '%s' "$B" | jq -r .url)")
T1=$(readyz 1 | jq .tree_size)
check_eq "batch $b sent again through node $one (inside the window) gets its first indexes" \
	"$(printf '%s' "$B" | jq -r '.indexes | map(tostring) | join(" ")')" \
	"$($CT replay --url "$(node_url "$one")" --token "$W" --client a --batch "$b" --size 20 2>&1)"
check_eq "nothing was appended for it" "$T1" "$(pgq "SELECT next FROM logseal.seq")"

# node 2 stops; it holds pruning back while it is seen
A2=$(readyz 2 | jq .tree_size)
check "logseal.node records node 2's replica ($A2)" wait_until 20 sh -c "[ \"\$(psql '$PG_CONNINFO' -XAtq -c \"SELECT applied FROM logseal.node WHERE name = 'n2'\")\" = $A2 ]"
node_stop 2
T_STOP=$SECONDS
load_start b 10 20 1
load_wait
grown() { [ "$(pgq "SELECT size FROM logseal.integ")" -ge $((A2 + 200)) ]; }
check "node 1 goes on and integrates past node 2's $A2 entries" wait_until 60 grown
sleep 2
P=$(pruned)
HELD=$((SECONDS - T_STOP))
echo "# $HELD s after node 2 stopped: pruned below $P, node 2 applied $A2, integrated $(pgq "SELECT size FROM logseal.integ")"
check "that was inside the liveness window ($HELD s < $LIVE s)" test "$HELD" -lt "$LIVE"
check "pruning stopped at what node 2 applied ($P <= $A2)" test "$P" -le "$A2"
check "the batch at leaf $A2 is still there" test "$(pgq "SELECT count(*) FROM logseal.batch WHERE first = $A2")" = 1
past() { [ "$(pruned)" -gt "$A2" ]; }
check "once node 2 is not seen for $LIVE s, pruning goes past it" wait_until 90 past
echo "# pruned below $(pruned) $((SECONDS - T_STOP)) s after node 2 stopped"

# node 2 comes back too late
refused() { readyz 2 | jq -e '.reasons | map(select(startswith("cluster_refused"))) | length > 0' >/dev/null; }
check "node 2 starts again" node_start 2
check "node 2 refuses" wait_until 60 refused
readyz 2 >"$TMP/r2"
echo "# node 2: $(jq -c .reasons "$TMP/r2")"
check_eq "node 2: /readyz answers 503" 503 "$(curl -s -o /dev/null -w '%{http_code}' "$(node_url 2)/readyz")"
check "node 2: the reason says to re-seed it from another node's data directory" \
	grep -q "re-seed it from another node's data directory" "$TMP/r2"
check "node 2: the reason names its $A2 entries" grep -q "holds $A2 entries" "$TMP/r2"
check "node 2: its log says so too" grep -q "re-seed it from another node" "$TMP/node2.err"
check_eq "node 2 applied nothing past its $A2 entries" "$A2" "$(readyz 2 | jq .tree_size)"
check_eq "node 2 did not lower logseal.node" "$A2" "$(pgq "SELECT applied FROM logseal.node WHERE name = 'n2'")"

# idempotency keys past the window go, newer ones stay
old_keys() { pgq "SELECT count(*) FROM logseal.idem WHERE at < now() - interval '$IDEMW seconds'"; }
keys_pruned() { [ "$(old_keys)" = 0 ] && [ "$(pgq "SELECT count(*) FROM logseal.idem")" -lt 800 ]; }
check "keys older than the $IDEMW s window are pruned" wait_until 120 keys_pruned
echo "# $(pgq "SELECT count(*) FROM logseal.idem") keys left of 800, $((SECONDS - T_START)) s into the test"
check "logseal_cluster_pruned_keys_total counts them" test "$(metric 1 logseal_cluster_pruned_keys_total)" -gt 0

# re-seeded from node 1's directory (stopped for the copy), node 2 follows again
node_stop 2
node_stop 1
check "node 2's directory replaced by a copy of node 1's" sh -c "rm -rf '$TMP/node2' && cp -a '$TMP/node1' '$TMP/node2'"
check "node 2 starts on the copy (first: docs/CLUSTER.md)" node_start 2
check "node 1 starts again" node_start 1
load_start c 5 20 1 2
load_wait
check "both nodes converge" wait_until 120 converged 1 2
check_eq "node 2 is not refused" false "$(cstat 2 refused)"
done_testing
