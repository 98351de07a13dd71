#!/bin/bash
# Disaster recovery against a real S3 (RGW): a node with the object store
# takes events (encrypted, then plaintext), its bucket is brought up to
# date, the node is stopped, and `logseal restore --from s3://...` rebuilds
# a new directory from the bucket and the key files kept apart (KEYDIR):
#  - verify --data passes; every event we sent is there;
#  - the restored node starts, takes new events, and its next checkpoint
#    is consistent with the last old one (GET /v1/proof/consistency,
#    checked by an independent RFC 9162 implementation below);
#  - a non-empty DIR is refused; a bucket whose checkpoints/<size> is
#    replaced by another log's is refused naming the object; an altered
#    hash tile is refused naming the sizes;
#  - the time taken is printed (s/GB).
# S3: the suite's RGW (LOGSEAL_TEST_S3_*, need_s3 from lib.sh); a bucket
# per case is made here with s3api.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

need_s3 log
AWS="/usr/bin/aws --endpoint-url $LOGSEAL_TEST_S3_ENDPOINT"
EP="--object-store-endpoint $LOGSEAL_TEST_S3_ENDPOINT --object-store-path-style"

cat >"$TMP/cons.py" <<'PY'
# RFC 9162 2.1.4.2: verify a consistency proof from a /v1/proof/consistency
# reply between the roots of two checkpoint notes.
import base64, hashlib, json, sys
H = lambda b: hashlib.sha256(b).digest()
r = json.load(open(sys.argv[1]))
root = lambda p: base64.b64decode(open(p).read().split("\n")[2])
m, n = r["old"], r["new"]
r1, r2 = root(sys.argv[2]), root(sys.argv[3])
proof = [base64.b64decode(p) for p in r["proof"]]
if m == n: sys.exit(0 if not proof and r1 == r2 else 1)
if m & (m - 1) == 0: proof = [r1] + proof
fn, sn = m - 1, n - 1
while fn & 1: fn >>= 1; sn >>= 1
fr = sr = proof[0]
for c in proof[1:]:
    if sn == 0: sys.exit(1)
    if fn & 1 or fn == sn:
        fr = H(b"\x01" + c + fr); sr = H(b"\x01" + c + sr)
        while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
    else:
        sr = H(b"\x01" + sr + c)
    fn >>= 1; sn >>= 1
sys.exit(0 if sn == 0 and fr == r1 and sr == r2 else 1)
PY
events() { # events PREFIX N
	for i in $(seq 1 "$2"); do
		printf '{"id":"%s-%d","time":"2024-05-06T07:08:09Z","service":"web","actor":{"id":"u%d","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.7"}}\n' "$1" "$i" "$i"
	done >"$TMP/ev.ndjson"
	[ "$(req POST /v1/events "$W" application/x-ndjson "$TMP/ev.ndjson")" = 200 ]
}
wait_for() { for _ in $(seq 1 300); do "$@" && return 0; sleep 0.1; done; return 1; }
# the bucket's log/checkpoint is the node's latest
uploaded() {
	$AWS s3 cp "s3://$1/log/log/checkpoint" "$TMP/bcp" >/dev/null 2>&1 && cmp -s "$TMP/bcp" "$2/log/checkpoint" || return 1
	[ -f "$2/keys/datakeys.json" ] || return 0
	$AWS s3 cp "s3://$1/log/keys/datakeys.json" "$TMP/bdk" >/dev/null 2>&1 && cmp -s "$TMP/bdk" "$2/keys/datakeys.json"
}
ids_present() { # DIR PREFIX N
	[ "$("$TESTBIN/journalcat" "$1" | grep -c "\"id\":\"$2-[0-9]*\"")" = "$3" ]
}

run_case() { # NAME INIT-OPTIONS
	local name=$1 opts=$2 B D K R
	B=tier-t0750$name-$$-$RANDOM
	D=$TMP/$name.d K=$TMP/$name.keys R=$TMP/$name.r
	check "$name: bucket" $AWS s3api create-bucket --bucket "$B" --object-lock-enabled-for-bucket
	check "$name: init" sh -c "'$LOGSEAL' init --data '$D' --origin restore.test/$name $opts --object-store s3://$B/log $EP --object-lock-days 1 >/dev/null"
	check "$name: server starts" start_server "$D" --checkpoint-interval 100 --segment-leaves 256
	ADMIN=$(cat "$D/admin.token")
	W=$(new_token "$ADMIN" '{"role":"writer"}')
	AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
	check "$name: 700 events" events "$name" 700
	check "$name: 2 sealed segments" wait_for test -f "$D/segments/0000000000000100.seal"
	check "$name: the bucket has caught up" wait_for uploaded "$B" "$D"
	cp "$D/log/checkpoint" "$TMP/$name.oldcp"
	OLD=$(sed -n 2p "$TMP/$name.oldcp")
	stop_server
	mkdir -p "$K/keys"
	cp "$D/keys/log.key" "$K/keys/"
	[ -f "$D/keys/master.json" ] && cp "$D/keys/master.json" "$K/keys/"

	mkdir -p "$TMP/full" && echo x >"$TMP/full/x"
	check_fails "$name: a non-empty DIR is refused" "$LOGSEAL" restore --from "s3://$B/log" --data "$TMP/full" --keys "$K" $EP
	check "$name: restore" sh -c "'$LOGSEAL' restore --from s3://$B/log --data '$R' --keys '$K' $EP >'$TMP/$name.restore.out'"
	sed 's/^/# /' "$TMP/$name.restore.out"
	check "$name: it says the time per GB" grep -q "s/GB" "$TMP/$name.restore.out"
	check "$name: verify --data passes" "$LOGSEAL" verify --data "$R"
	check "$name: every event we sent is there" ids_present "$R" "$name" 700
	check_eq "$name: the restored checkpoint is the old one" "$(cat "$TMP/$name.oldcp")" "$(cat "$R/log/checkpoint")"

	check "$name: the restored node starts" start_server "$R" --checkpoint-interval 100 --segment-leaves 256
	ADMIN=$(cat "$R/admin.token")
	W=$(new_token "$ADMIN" '{"role":"writer"}')
	AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
	check "$name: a new admin token (tokens are not in the bucket)" test -n "$W"
	check "$name: it takes new events" events "$name-new" 20
	newer() { req GET /log/checkpoint "$AUD" >/dev/null; [ "$(sed -n 2p "$TMP/resp")" -gt "$OLD" ]; }
	check "$name: a new checkpoint" wait_for newer
	req GET /log/checkpoint "$AUD" >/dev/null; cp "$TMP/resp" "$TMP/$name.newcp"
	NEW=$(sed -n 2p "$TMP/$name.newcp")
	check_eq "$name: /v1/proof/consistency?old=$OLD&new=$NEW: 200" 200 "$(req GET "/v1/proof/consistency?old=$OLD&new=$NEW" "$AUD")"
	check "$name: the new checkpoint is consistent with the last old one" python3 "$TMP/cons.py" "$TMP/resp" "$TMP/$name.oldcp" "$TMP/$name.newcp"
	stop_server
	check "$name: verify --data after new events" "$LOGSEAL" verify --data "$R"
	BUCKET=$B KEYS=$K
}

run_case enc ""
run_case plain "--no-encryption"

# A bucket whose checkpoints/<size> comes from another log (plain's bucket,
# enc's key): copy the plain bucket, replace one checkpoint by enc's of the
# same name... other log: refused, naming the object.
B=$BUCKET
S=$($AWS s3 ls "s3://$B/log/checkpoints/" | awk '{print $4}' | sort -n | sed -n 3p)
B2=tier-t0750bad-$$-$RANDOM
check "a copy of the plain bucket" sh -c "$AWS s3api create-bucket --bucket $B2 >/dev/null && $AWS s3 sync s3://$B/log s3://$B2/log >/dev/null"
"$LOGSEAL" init --data "$TMP/other" --origin restore.test/plain --no-encryption >/dev/null 2>&1
# a checkpoint of size S signed by another key
printf 'restore.test/plain\n%s\n%s\n\n— restore.test/plain AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' "$S" "$(head -c 32 /dev/urandom | base64)" >"$TMP/forged"
check "  its checkpoints/$S replaced" $AWS s3 cp "$TMP/forged" "s3://$B2/log/checkpoints/$S"
check_fails "a replaced checkpoint is refused" "$LOGSEAL" restore --from "s3://$B2/log" --data "$TMP/bad1" --keys "$KEYS" $EP
cp "$TMP/last.out" "$TMP/bad1.out"
check "  naming the object" grep -q "checkpoints/$S" "$TMP/bad1.out"
# an altered level-1 hash tile
check "  restore the checkpoint" $AWS s3 cp "s3://$B/log/checkpoints/$S" "s3://$B2/log/checkpoints/$S"
T=$($AWS s3api list-objects-v2 --bucket "$B2" --prefix log/log/tile/ | jq -r '.Contents[].Key' | grep '/tile/0/.*\.p/' | sort -V | tail -1)
echo "# altering $T"
$AWS s3 cp "s3://$B2/$T" "$TMP/tile" >/dev/null
printf 'X' | dd of="$TMP/tile" bs=1 seek=40 conv=notrunc 2>/dev/null
check "  a partial level-0 hash tile altered" $AWS s3 cp "$TMP/tile" "s3://$B2/$T"
check_fails "an altered tile is refused" "$LOGSEAL" restore --from "s3://$B2/log" --data "$TMP/bad2" --keys "$KEYS" $EP
cp "$TMP/last.out" "$TMP/bad2.out"
check "  naming a checkpoint it contradicts" grep -q "not consistent\|not the root" "$TMP/bad2.out"
done_testing
