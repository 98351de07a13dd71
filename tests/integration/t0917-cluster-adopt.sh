#!/bin/bash
# Moving a single-node log into a cluster (docs/CLUSTER.md, "Moving a
# single-node log into a cluster"; `logseal cluster adopt`, no object
# store).  A single-node log of 600 events (segments of 256 leaves: two
# sealed) is adopted into a fresh database:
#   - beside its running server the adoption is refused; into a database
#     of another log too;
#   - interrupted (kill -9 after two of its transactions, slowed by
#     LOGSEAL_TEST_ADOPT_PAUSE_MS), the database is refused by serve
#     --cluster with a message that says the adoption is incomplete; run
#     again it resumes and completes; a third run is refused (not new);
#   - node 1 on the adopted directory serves the old events with inclusion
#     proofs that check against its signed tree (checked by an independent
#     RFC 6962 verifier below) and takes new ones at leaf N onwards;
#   - node 2, started from a copy of the adopted directory, follows: a
#     batch sent through it lands after node 1's, and it answers for old
#     and new events;
#   - `logseal verify --data` passes on both directories afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
. "$(dirname "$0")/cluster_lib.sh"
J=application/json
CL_N=2
CL_PORT[1]=$(free_port)
CL_PORT[2]=$(free_port)
D=$TMP/node1

cat >"$TMP/incl.py" <<'PY'
# Independent RFC 6962 inclusion check of GET /v1/events/{i}'s answer
# against the root of the checkpoint it carries.
import base64, hashlib, json, sys
def H(b): return hashlib.sha256(b).digest()
r = json.load(open(sys.argv[1]))
size, root = r["checkpoint"].split("\n")[1:3]
size, root = int(size), base64.b64decode(root)
entry = base64.b64decode(r["entry_b64"])
fn, sn, h = r["index"], size - 1, H(b"\x00" + entry)
assert size == r["tree_size"] and fn < size
for p in map(base64.b64decode, r["proof"]):
    assert sn > 0
    if fn & 1 or fn == sn:
        h = H(b"\x01" + p + h)
        if not fn & 1:
            while True:
                fn >>= 1; sn >>= 1
                if fn & 1 or fn == 0: break
    else:
        h = H(b"\x01" + h + p)
    fn >>= 1; sn >>= 1
sys.exit(0 if sn == 0 and h == root else 1)
PY
batch() {	# batch FILE PREFIX FROM COUNT: a JSON array of native events
	python3 - "$@" <<'PY'
import json, sys
f, p, a, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
json.dump([{"id": "%s-%d" % (p, i), "time": "2024-05-06T07:08:09Z",
            "actor": {"id": "u%d" % (i % 7), "type": "user"}, "action": "doc.read",
            "outcome": "success", "service": p, "source": {"ip": "192.0.2.7"}, "resource": {"type": "doc", "id": str(i)}}
           for i in range(a, a + n)], open(f, "w"))
PY
}
# proof_ok I IDX: GET /v1/events/IDX on node I answers 200 with a valid proof
proof_ok() { [ "$(SRV_URL=$(node_url "$1") req GET "/v1/events/$2" "$AUD")" = 200 ] && python3 "$TMP/incl.py" "$TMP/resp"; }
# count I SERVICE: events of SERVICE node I returns
count() { SRV_URL=$(node_url "$1") req GET "/v1/events?service=$2&limit=1000" "$AUD" >/dev/null; jq '.events | length' "$TMP/resp"; }
adopt() { "$LOGSEAL" cluster adopt --data "$D" --cluster "$PG_CONNINFO" "$@"; }

# The single-node log.
check "init (single node)" "$LOGSEAL" init --data "$D" --no-encryption --origin "adopt.test/$PG_DB"
check "single-node server starts" start_server "$D" --segment-leaves 256 --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
for b in 0 1 2 3 4 5; do
	batch "$TMP/b.json" old $((b * 100)) 100
	check_eq "single node: batch $b of 100 events" 200 "$(req POST /v1/events "$W" $J "$TMP/b.json")"
done
N=$(tree_size)
check_eq "single node: the last batch ends at the last leaf ($((N - 1)))" $((N - 1)) "$(jq '.indexes[99]' "$TMP/resp")"
check "adoption beside the running server is refused" sh -c \
	"! '$LOGSEAL' cluster adopt --data '$D' --cluster '$PG_CONNINFO' >'$TMP/busy.out' 2>&1 &&
	grep -q 'server is running' '$TMP/busy.out'"
stop_server; check_eq "single-node server stops: exit 0" 0 "$?"
check "two sealed segments" test "$(ls "$D/segments" | grep -c .)" -ge 2
echo "# single-node log: $N entries, segments: $(ls "$D/segments" | tr '\n' ' ')"
check_eq "no batch row was written by the refused run" 0 "$(pgq "SELECT count(*) FROM pg_tables WHERE schemaname = 'logseal' AND tablename = 'batch'")"

# Another log's database is refused.
OTHER=${PG_DB}_other
psql "$LOGSEAL_TEST_PG" -XAtq -c "CREATE DATABASE $OTHER" >/dev/null 2>&1
OTHER_CI="$(printf '%s' "$LOGSEAL_TEST_PG" | sed 's/dbname=[^ ]*//') dbname=$OTHER"
psql "$OTHER_CI" -XAtq -v ON_ERROR_STOP=1 -c "CREATE SCHEMA logseal;
	CREATE TABLE logseal.seq (id int PRIMARY KEY CHECK (id = 1), next bigint NOT NULL, origin text NOT NULL);
	INSERT INTO logseal.seq VALUES (1, 0, 'another.test/log')" >/dev/null
check "a database of another log is refused" sh -c \
	"! '$LOGSEAL' cluster adopt --data '$D' --cluster '$OTHER_CI' >'$TMP/other.out' 2>&1 &&
	grep -q 'belongs to the log \"another.test/log\"' '$TMP/other.out'"
check_eq "... and left as it was" "0 another.test/log 0" \
	"$(psql "$OTHER_CI" -XAtq -F' ' -c "SELECT next, origin, (SELECT count(*) FROM logseal.batch) FROM logseal.seq")"
psql "$LOGSEAL_TEST_PG" -XAtq -c "DROP DATABASE $OTHER" >/dev/null 2>&1

# An interrupted adoption.
LOGSEAL_TEST_ADOPT_PAUSE_MS=3000 "$LOGSEAL" cluster adopt --data "$D" --cluster "$PG_CONNINFO" \
	--batch-entries 100 >"$TMP/adopt1.out" 2>&1 &
AP=$!
check "the slowed adoption copies 200 entries" wait_until 60 grep -q "copied 200 of $N" "$TMP/adopt1.out"
kill -9 "$AP"; wait "$AP" 2>/dev/null
check_eq "killed: 2 batch rows in the database" 2 "$(pgq "SELECT count(*) FROM logseal.batch")"
check_eq "killed: the database is marked as being adopted, next still 0" "0 (adopting) adopt.test/$PG_DB" \
	"$(pgq "SELECT next || ' ' || origin FROM logseal.seq")"
check "serve --cluster on the half-adopted database starts" node_start 1
refused() { readyz "$1" | jq -e '.reasons | map(select(startswith("cluster_refused"))) | length > 0' >/dev/null; }
check "... and refuses it" wait_until 60 refused 1
readyz 1 >"$TMP/r1"
echo "# node 1: $(jq -c .cluster.reason "$TMP/r1")"
check "... saying the adoption is not complete" grep -q "adoption is not complete" "$TMP/r1"
check_eq "... /readyz answers 503" 503 "$(curl -s -o /dev/null -w '%{http_code}' "$(node_url 1)/readyz")"
check_eq "... ingest answers 503" 503 "$(batch "$TMP/x.json" x 0 1; SRV_URL=$(node_url 1) req POST /v1/events "$W" $J "$TMP/x.json")"
node_stop 1
check_eq "the refusing node appended nothing" "$N" "$("$TESTBIN/journalcat" "$D" | wc -l)"
check "the adoption run again completes" sh -c "'$LOGSEAL' cluster adopt --data '$D' --cluster '$PG_CONNINFO' --batch-entries 100 >'$TMP/adopt2.out' 2>&1"
cat "$TMP/adopt2.out" | tail -1 | sed 's/^/# /'
check "... resuming after the rows already copied" grep -q "copied from leaf 200.*resumed" "$TMP/adopt2.out"
check_eq "the database: next $N, this log's origin" "$N adopt.test/$PG_DB" "$(pgq "SELECT next || ' ' || origin FROM logseal.seq")"
check_eq "the database: integrated size $N, pruned 0" "$N 0" "$(pgq "SELECT size || ' ' || pruned FROM logseal.integ")"
check_eq "the database: batches hold leaves 0..$((N - 1)) contiguously" "0 $N $N" \
	"$(pgq "SELECT min(first) || ' ' || max(first + n) || ' ' || sum(n) FROM logseal.batch")"
check_eq "the integrated root is the log's root" "$(sed -n 3p "$D/log/checkpoint")" \
	"$(pgq "SELECT encode(root, 'base64') FROM logseal.integ")"
check "adopting again is refused (already adopted)" sh -c \
	"! '$LOGSEAL' cluster adopt --data '$D' --cluster '$PG_CONNINFO' >'$TMP/again.out' 2>&1 &&
	grep -q 'already holds $N entries' '$TMP/again.out'"

# Node 1 on the adopted directory; node 2 from a copy of it.
check "node 1 starts on the adopted directory" node_start 1
check_eq "node 1 is not refused" false "$(cstat 1 refused)"
check_eq "node 1 sees the database at $N" "$N" "$(cstat 1 sequenced)"
for i in 0 255 256 511 $((N - 1)); do
	check "node 1: old event $i with a valid inclusion proof" proof_ok 1 $i
done
check_eq "node 1: the old events are queryable" 600 "$(count 1 old)"
# size_of I: node I's tree size, once it has integrated all it sequenced
size_of() { wait_until 60 converged "$1" >/dev/null && readyz "$1" | jq -r .tree_size; }
# (Auditor reads are logged: the proofs and queries above added
# logseal.events.get/query entries after leaf N.)
S=$(size_of 1)
check "node 1: its tree starts at the adopted size ($S >= $N)" test "$S" -ge "$N"
batch "$TMP/n1.json" new 0 10
check_eq "node 1: a new batch is acknowledged" 200 "$(SRV_URL=$(node_url 1) req POST /v1/events "$W" $J "$TMP/n1.json")"
F1=$(jq '.indexes[0]' "$TMP/resp")
check "node 1: it lands after the adopted log ($F1 >= $S)" test "$F1" -ge "$S"
check_eq "node 1: at contiguous leaves" "$(seq -s, "$F1" $((F1 + 9)))" "$(jq -r '.indexes | map(tostring) | join(",")' "$TMP/resp")"
check_eq "node 1: leaf $F1 is its first event" new-0 "$(SRV_URL=$(node_url 1) req GET "/v1/events/$F1" "$AUD" >/dev/null; jq -r .entry.id "$TMP/resp")"
check "node 1 integrates it" wait_until 60 converged 1
node_stop 1
rm -rf "$TMP/node2"
check "node 2's directory: a copy of node 1's (stopped)" cp -a "$D" "$TMP/node2"
check "node 1 starts again" node_start 1
check "node 2 starts on the copy" node_start 2
check_eq "node 2 is not refused" false "$(cstat 2 refused)"
check "nodes 1 and 2 converge" wait_until 120 converged 1 2
S2=$(size_of 2)
check "node 2's tree holds node 1's batch ($S2 >= $((F1 + 10)))" test "$S2" -ge $((F1 + 10))
batch "$TMP/n2.json" new 10 10
check_eq "node 2: a new batch is acknowledged" 200 "$(SRV_URL=$(node_url 2) req POST /v1/events "$W" $J "$TMP/n2.json")"
F2=$(jq '.indexes[0]' "$TMP/resp")
check "node 2: it lands after node 1's ($F2 >= $S2)" test "$F2" -ge "$S2"
check_eq "node 2: at contiguous leaves" "$(seq -s, "$F2" $((F2 + 9)))" "$(jq -r '.indexes | map(tostring) | join(",")' "$TMP/resp")"
check "both nodes converge" wait_until 120 converged 1 2
for i in 0 300 $((N - 1)) $F1 $((F2 + 9)); do
	check "node 2: event $i with a valid inclusion proof" proof_ok 2 $i
done
check_eq "node 2: the old events are queryable" 600 "$(count 2 old)"
check_eq "node 2: the new events of both nodes" 20 "$(count 2 new)"
check_eq "node 2: leaf $F1 is node 1's first new event" new-0 "$(SRV_URL=$(node_url 2) req GET "/v1/events/$F1" "$AUD" >/dev/null; jq -r .entry.id "$TMP/resp")"
check_eq "node 2: leaf $((N - 600 + 2)) is the old event old-2" old-2 "$(SRV_URL=$(node_url 2) req GET "/v1/events/$((N - 600 + 2))" "$AUD" >/dev/null; jq -r .entry.id "$TMP/resp")"
check_eq "node 1: the new events of both nodes" 20 "$(count 1 new)"
node_stop 1
node_stop 2
check "verify --data passes on node 1's directory" "$LOGSEAL" verify --data "$D"
check "verify --data passes on node 2's directory" "$LOGSEAL" verify --data "$TMP/node2"

# A log whose retention moved entries out (purged): the adoption copies from
# the first entry kept and records it as the pruned point.
R=$TMP/node3
CL_PORT[3]=$(free_port)
check "init (a second single-node log)" "$LOGSEAL" init --data "$R" --no-encryption --origin "adopt.test/${PG_DB}_r"
check "its server starts" start_server "$R" --segment-leaves 256 --checkpoint-interval 100
W3=$(new_token "$(cat "$R/admin.token")" '{"role":"writer"}')
A3=$(new_token "$(cat "$R/admin.token")" '{"role":"auditor"}')
batch "$TMP/r.json" ret 0 600
check_eq "600 events" 200 "$(req POST /v1/events "$W3" $J "$TMP/r.json")"
stop_server
printf '{"default":{"hot_days":1,"archive_days":1}}\n' >"$R/retention.json"
check "a retention pass purges the two sealed segments" sh -c \
	"'$LOGSEAL' retention run --data '$R' --now 2100-01-01T00:00:00Z | grep -q 'purged 2'"
RDB=${PG_DB}_r
psql "$LOGSEAL_TEST_PG" -XAtq -c "CREATE DATABASE $RDB" >/dev/null 2>&1
R_CI="$(printf '%s' "$LOGSEAL_TEST_PG" | sed 's/dbname=[^ ]*//') dbname=$RDB"
rq() { psql "$R_CI" -XAtq -c "$1"; }
check "the adoption of the purged log completes" sh -c "'$LOGSEAL' cluster adopt --data '$R' --cluster '$R_CI' >'$TMP/adopt3.out' 2>&1"
sed 's/^/# /' "$TMP/adopt3.out"
check "... saying it copied from leaf 512" grep -q "copied from leaf 512" "$TMP/adopt3.out"
RN=$(rq "SELECT next FROM logseal.seq")
check_eq "the database: batches from leaf 512, pruned 512, integrated $RN" "512 $RN 512 $RN" \
	"$(rq "SELECT min(first) || ' ' || max(first + n) || ' ' || (SELECT pruned || ' ' || size FROM logseal.integ) FROM logseal.batch")"
PG_CONNINFO=$R_CI check "a node starts on the adopted directory" node_start 3
check_eq "it is not refused" false "$(cstat 3 refused)"
batch "$TMP/r2.json" ret2 0 5
check_eq "it takes a new batch" 200 "$(SRV_URL=$(node_url 3) req POST /v1/events "$W3" $J "$TMP/r2.json")"
F3=$(jq '.indexes[0]' "$TMP/resp")
check "... after the adopted log ($F3 >= $RN)" test "$F3" -ge "$RN"
check "... and integrates it" wait_until 60 converged 3
AUD=$A3 check "a kept old event (leaf 520) with a valid inclusion proof" proof_ok 3 520
node_stop 3
check "verify --data passes on it" "$LOGSEAL" verify --data "$R"
psql "$LOGSEAL_TEST_PG" -XAtq -c "DROP DATABASE $RDB" >/dev/null 2>&1
done_testing
