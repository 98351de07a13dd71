#!/bin/bash
# Cluster mode (docs/CLUSTER.md): the database restored from an older copy
# would fork the log.  The logseal schema is dumped (pg_dump) early, the
# log grows and is published in the bucket, the nodes stop, the old dump is
# restored.  A node whose replica is longer than the database refuses to
# follow it, and a fresh node (an empty replica) that follows the restored
# database refuses to integrate below the bucket's published checkpoint;
# both say why in /readyz (503, naming the sizes) and in their log, and the
# bucket's checkpoint is not replaced by a smaller one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
need_s3 log
. "$(dirname "$0")/cluster_lib.sh"
# No pruning (docs/CLUSTER.md): the restored dump must still hold every
# batch, so that the fresh node 3 follows it up to the integrator's check
# (pruned, it would refuse earlier, asking to be re-seeded: t0914).
NODE_OPTS="--cluster-liveness 0"

check "init once, copied to three node directories" cluster_init 3
check "node 1 starts; tokens" cluster_tokens
check "node 2 starts" node_start 2
load_start a 20 20 1 2
load_wait
check "both nodes converge" wait_until 120 converged 1 2
check "pg_dump of the logseal schema" sh -c "pg_dump -d '$PG_CONNINFO' -n logseal -Fc -f '$TMP/old.dump'"
OLD=$(pgq "SELECT size FROM logseal.integ")
check "the dump holds an integrated size ($OLD)" test "$OLD" -gt 0
load_start b 60 20 1 2
load_wait
check "both nodes converge again" wait_until 120 converged 1 2
NOW=$(readyz 1 | jq -r .tree_size)
check "the bucket publishes the grown tree ($NOW)" wait_until 120 bucket_at_least "$NOW"
PUB=$(sed -n 2p "$TMP/pub")
node_stop 1
node_stop 2
check "the old copy is restored" sh -c "psql -XAtq -d '$PG_CONNINFO' -c 'DROP SCHEMA logseal CASCADE' >/dev/null 2>&1 &&
	pg_restore -d '$PG_CONNINFO' '$TMP/old.dump'"
check_eq "the database is back at $OLD" "$OLD" "$(pgq "SELECT size FROM logseal.integ")"

check "node 1 (replica of $NOW entries) starts" node_start 1
refused() { readyz "$1" | jq -e '.reasons | map(select(startswith("cluster_refused"))) | length > 0' >/dev/null; }
check "node 1 refuses the restored database" wait_until 60 refused 1
readyz 1 >"$TMP/r1"
echo "# node 1: $(jq -c .reasons "$TMP/r1")"
check_eq "node 1: /readyz answers 503" 503 "$(curl -s -o /dev/null -w '%{http_code}' "$(node_url 1)/readyz")"
check "node 1: the reason names its replica's size $NOW" grep -q "$NOW" "$TMP/r1"
check "node 1: its log says so too" grep -qi "refus" "$TMP/node1.err"
node_stop 1

cp "$TMP/node1/tokens.json" "$TMP/node3/tokens.json"
check "a fresh node 3 (empty replica) starts on the restored database" node_start 3
check "node 3 refuses to integrate below the published checkpoint" wait_until 60 refused 3
readyz 3 >"$TMP/r3"
echo "# node 3: $(jq -c .reasons "$TMP/r3")"
check "node 3: the reason names the bucket's size $PUB" grep -q "$PUB" "$TMP/r3"
sleep 3
bucket_note "$TMP/pub2"
check_eq "the bucket's checkpoint is not replaced by a smaller one" "$PUB" "$(sed -n 2p "$TMP/pub2")"
done_testing
