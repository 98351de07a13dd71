#!/bin/bash
# The uploader against a real S3 (Ceph RGW with Object Lock): after ingest
# every object of the bucket layout (docs/FORMAT.md §13) is there for the
# bucket's latest checkpoint; write-once objects carry COMPLIANCE retention,
# refuse DELETE of their version and an overwrite with If-None-Match; the
# bucket's log/ verifies as a tlog-tiles log.  A crash mid-upload and a
# start without upload state re-upload harmlessly (no conflict, one version
# of each segment).  Wrong credentials: ingest is
# still acknowledged, /v1/integrity and the server's log name the bucket
# and the S3 code.  The store stopped mid-ingest: nothing acknowledged is
# lost, the backlog metric grows, /readyz says why, and the backlog drains
# when it returns; with a small backlog bound ingest answers 503 with
# Retry-After.  An encrypted directory publishes LSB1 envelopes that open
# with `keys bundle-key`, and no event text in the clear.
#
# Needs the suite's RGW (tests/run.sh exports LOGSEAL_TEST_S3_*; by hand:
# set them to a dev RGW).  Stopping the store: rgw_stop / rgw_start
# (lib.sh), or the command in LOGSEAL_TEST_S3_CTL (called with stop /
# start) when set, e.g. for a radosgw of one's own beside a shared one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

# need_s3 (lib.sh): a fresh Object Lock bucket, the AWS_* variables set.
need_s3
ok "a fresh bucket with Object Lock: $S3_BUCKET"
EP=$LOGSEAL_TEST_S3_ENDPOINT
export AWS_DEFAULT_REGION=us-east-1
S3API="aws --endpoint-url $EP s3api"
if [ -n "${LOGSEAL_TEST_S3_CTL:-}" ]; then
	rgw_ctl() { $LOGSEAL_TEST_S3_CTL "$1"; }
elif [ -n "${CEPH_CONF:-}" ] && declare -F rgw_stop >/dev/null; then
	rgw_ctl() { if [ "$1" = stop ]; then rgw_stop; else rgw_start; fi; }
else
	rgw_ctl() { return 99; }
fi
B=$S3_BUCKET
OS=(--object-store-endpoint "$EP" --object-store-region us-east-1 --object-store-path-style)

wait_for() { for _ in $(seq 1 ${WAIT_TICKS:-300}); do "$@" && return 0; sleep 0.1; done; return 1; }
metric() { curl -s -H "Authorization: Bearer $ADMIN" "$SRV_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
local_size() { sed -n 2p "$1/log/checkpoint"; }
# caught_up DIR LAST: the local latest checkpoint covers index LAST and the
# bucket holds log/checkpoint for it
caught_up() {
	local s; s=$(local_size "$1")
	[ "$s" -gt "$2" ] && [ "$(metric logseal_objstore_uploaded_size)" = "$s" ]
}
events() { # events PREFIX N [service]: POST them, print the status
	for i in $(seq 1 "$2"); do
		printf '{"id":"%s%d","time":"2024-05-06T07:08:09Z","service":"%s","actor":{"id":"u-%s","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.7"}}\n' "$1" "$i" "${3:-web}" "$1"
	done >"$TMP/ev.ndjson"
	req POST /v1/events "$W" application/x-ndjson "$TMP/ev.ndjson"
}
keys_of() { $S3API list-objects-v2 --bucket "$B" --prefix "$1/" --query 'Contents[].Key' --output text | tr '\t' '\n'; }

# ------------------------------------------------------------- plaintext ---
D=$TMP/plain
check "init --object-store writes DIR/objstore.json" \
	sh -c "'$LOGSEAL' init --data '$D' --no-encryption --origin upload.test/log --object-store 's3://$B/plain' --object-store-endpoint '$EP' --object-store-region us-east-1 --object-store-path-style --object-lock-days 1 >/dev/null"
check_eq "objstore.json names the store" "s3://$B/plain $EP true 1" \
	"$(jq -r '"\(.url) \(.endpoint) \(.path_style) \(.lock_days)"' "$D/objstore.json")"
check_eq "objstore.json is sealed and holds no credential" "1 0" \
	"$(grep -c '"mac"' "$D/objstore.json") $(grep -c -e "$AWS_SECRET_ACCESS_KEY" -e "$AWS_ACCESS_KEY_ID" "$D/objstore.json")"
check "serve reads objstore.json" start_server "$D" --segment-leaves 256
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
check_eq "600 events acknowledged" 200 "$(events p 600)"
LAST=$(jq '.indexes[-1]' "$TMP/resp")
check "the bucket catches up with the latest checkpoint" wait_for caught_up "$D" "$LAST"
backlog_empty() { [ "$(metric logseal_objstore_backlog_bytes) $(metric logseal_objstore_backlog_objects)" = "0 0" ]; }
check "the backlog empties (bytes and objects)" wait_for backlog_empty
# the bucket's checkpoint first, then the listing (the uploader may go on)
S=$($S3API get-object --bucket "$B" --key plain/log/checkpoint "$TMP/bucket-cp" >/dev/null && sed -n 2p "$TMP/bucket-cp")
keys_of plain >"$TMP/keys"
# Every object the layout wants for size S (computed apart from the code).
python3 - "$S" >"$TMP/want" <<'PY'
import sys
S = int(sys.argv[1])
def path(level, n, w):
    s = "%03d" % (n % 1000); n //= 1000
    while n: s = "x%03d/" % (n % 1000) + s; n //= 1000
    return "plain/log/tile/%s/%s%s" % ("entries" if level < 0 else level, s, "" if w == 256 else ".p/%d" % w)
for n in range(S // 256): print(path(-1, n, 256))
if S % 256: print(path(-1, S // 256, S % 256))
level, nodes = 0, S
while nodes:
    for n in range(nodes // 256): print(path(level, n, 256))
    if nodes % 256: print(path(level, nodes // 256, nodes % 256))
    if nodes < 256: break
    level, nodes = level + 1, nodes // 256
print("plain/checkpoints/%d" % S)
print("plain/log/checkpoint")
print("plain/keys/verifier.key")
PY
for f in "$D"/segments/*.seal; do echo "plain/segments/$(basename "$f")"; done >>"$TMP/want"
for f in "$D"/checkpoints/*; do
	c=$((10#$(basename "$f"))); [ "$c" -le "$S" ] && echo "plain/checkpoints/$c"
done >>"$TMP/want"
check "every signed checkpoint up to $S is wanted ($(sort -u "$TMP/want" | grep -c checkpoints/))" test "$(sort -u "$TMP/want" | grep -c checkpoints/)" -ge 2
check_eq "every object of the layout is in the bucket" "" "$(sort -u "$TMP/want" | comm -23 - <(sort -u "$TMP/keys"))"
check "two sealed segments went up" test "$(grep -c '^plain/segments/' "$TMP/keys")" -ge 2
check "size $S covers the acknowledged events" test "$S" -gt "$LAST"
for k in plain/log/tile/0/000 plain/log/tile/entries/000 plain/segments/0000000000000000.seal "plain/checkpoints/$S"; do
	$S3API head-object --bucket "$B" --key "$k" >"$TMP/head" 2>&1
	check_eq "$k: COMPLIANCE lock" COMPLIANCE "$(jq -r .ObjectLockMode "$TMP/head")"
	check "$k: retained about a day" python3 -c "
import datetime, json, sys
d = datetime.datetime.fromisoformat(json.load(open('$TMP/head'))['ObjectLockRetainUntilDate'].replace('Z', '+00:00'))
left = (d - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
sys.exit(0 if 23 * 3600 < left <= 86400 + 60 else 1)"
done
check_eq "get-object-retention of a segment" COMPLIANCE \
	"$($S3API get-object-retention --bucket "$B" --key plain/segments/0000000000000000.seal --query Retention.Mode --output text)"
check_eq "log/checkpoint is mutable (no lock)" null \
	"$($S3API head-object --bucket "$B" --key plain/log/checkpoint | jq -r .ObjectLockMode)"
V=$($S3API head-object --bucket "$B" --key plain/log/tile/0/000 --query VersionId --output text)
check "the locked tile has a version (Object Lock buckets are versioned)" test -n "$V" -a "$V" != None
check_fails "DELETE of a locked version is refused" \
	$S3API delete-object --bucket "$B" --key plain/log/tile/0/000 --version-id="$V"
check_eq "the locked tile is still there" "$V" \
	"$($S3API head-object --bucket "$B" --key plain/log/tile/0/000 --query VersionId --output text)"
# Another writer's overwrite with If-None-Match: *.  AWS S3 answers 412.
# Ceph RGW 16.2 honours it only on unversioned buckets: on an Object Lock
# bucket it stores a second version (the uploader HEADs first, objstore.h).
# Either way the locked version stays, byte for byte; the test then removes
# the intruder's (unlocked) version so the bucket reads as before.
echo junk >"$TMP/junk"
st=$(curl -s -o /dev/null -D "$TMP/put.h" -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H "x-amz-content-sha256: $(sha256sum "$TMP/junk" | cut -c1-64)" \
	-H 'If-None-Match: *' -X PUT --data-binary @"$TMP/junk" "$EP/$B/plain/log/tile/0/000")
if [ "$st" = 412 ]; then
	ok "overwrite with If-None-Match: * is refused (412)"
else
	ok "overwrite with If-None-Match: * got $st: this store keeps versions instead (RGW on a versioned bucket)"
	JV=$(tr -d '\r' <"$TMP/put.h" | awk -F': ' 'tolower($1) == "x-amz-version-id" {print $2}')
	check "the intruder's version is not the locked one" test -n "$JV" -a "$JV" != "$V"
	$S3API delete-object --bucket "$B" --key plain/log/tile/0/000 --version-id="$JV" >/dev/null
fi
$S3API get-object --bucket "$B" --key plain/log/tile/0/000 --version-id="$V" "$TMP/t000" >"$TMP/head"
check_eq "the locked version keeps its lock" COMPLIANCE "$(jq -r .ObjectLockMode "$TMP/head")"
check_eq "and its 8192 bytes" 8192 "$(stat -c %s "$TMP/t000")"
check_eq "and is the current version" "$V" \
	"$($S3API head-object --bucket "$B" --key plain/log/tile/0/000 --query VersionId --output text)"
aws --endpoint-url "$EP" s3 sync --quiet "s3://$B/plain/log/" "$TMP/copy/"
check "the bucket's log/ verifies as a tlog-tiles log" \
	"$LOGSEAL" verify --tiles "$TMP/copy" --key "$D/verifier.key"
check "event p600 is in the bucket's bundles" grep -rqa '"id":"p600"' "$TMP/copy/tile/entries"
check "the upload state is durable" jq -e ".size >= $S and .segments_next > 256" "$D/objstore/state"

# A crash mid-upload, then a start without any upload state: everything is
# compared again with the bucket (write-once objects with the same bytes
# count as uploaded), nothing conflicts, and the bucket is complete.
check_eq "600 more events acknowledged" 200 "$(events q 600)"
LAST=$(jq '.indexes[-1]' "$TMP/resp")
sleep 0.7
kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
check "serve after a crash" start_server "$D" --segment-leaves 256
check "the bucket catches up after the crash" wait_for caught_up "$D" "$LAST"
check "serve stops" stop_server
rm -f "$D/objstore/state"
check "serve with no upload state" start_server "$D" --segment-leaves 256
WAIT_TICKS=600
check "everything compared again, the bucket caught up" wait_for caught_up "$D" "$LAST"
check_eq "no conflict" 0 "$(metric logseal_objstore_conflicts)"
req GET /v1/integrity "$ADMIN" >/dev/null
check_eq "/v1/integrity: object store ok" ok "$(jq -r .object_store.state "$TMP/resp")"
check_eq "/v1/integrity: the bucket's Object Lock seen" true "$(jq -r .object_store.object_lock "$TMP/resp")"
rm -rf "$TMP/copy"; aws --endpoint-url "$EP" s3 sync --quiet "s3://$B/plain/log/" "$TMP/copy/"
check "the bucket verifies after the crash and the fresh start" "$LOGSEAL" verify --tiles "$TMP/copy" --key "$D/verifier.key"
check_eq "one version of each locked segment" "$(ls "$D"/segments | wc -l)" \
	"$($S3API list-object-versions --bucket "$B" --prefix plain/segments/ --query 'length(Versions)' --output text)"

# ------------------------------------------------------ the store stops ---
if rgw_ctl stop; then
	ok "store stopped"
	B0=$(metric logseal_objstore_backlog_bytes)
	n200=0
	for k in 1 2 3; do [ "$(events "o$k-" 300)" = 200 ] && n200=$((n200 + 1)); done
	check_eq "ingest is acknowledged while the store is down" 3 "$n200"
	LAST=$(jq '.indexes[-1]' "$TMP/resp")
	WAIT_TICKS=50
	check "the backlog grows" wait_for sh -c "[ \$(curl -s -H 'Authorization: Bearer $ADMIN' '$SRV_URL/metrics' | awk '\$1==\"logseal_objstore_backlog_bytes\"{print \$2}') -gt $B0 ]"
	echo "# backlog: $B0 -> $(metric logseal_objstore_backlog_bytes) bytes"
	failed() { [ "$(metric logseal_objstore_upload_failures_total)" -gt 0 ]; }
	check "failures are counted" wait_for failed
	unready() { curl -s "$SRV_URL/readyz" >"$TMP/ready"; jq -e '.status == "not_ready" and any(.reasons[]; startswith("object_store_unreachable"))' "$TMP/ready" >/dev/null; }
	check "/readyz: not ready, the store unreachable" wait_for unready
	check "rgw back" rgw_ctl start
	WAIT_TICKS=600
	check "the backlog drains after the store returns" wait_for caught_up "$D" "$LAST"
	check "backlog empty again" wait_for backlog_empty
	rm -rf "$TMP/copy"; aws --endpoint-url "$EP" s3 sync --quiet "s3://$B/plain/log/" "$TMP/copy/"
	check "the bucket verifies after the outage" "$LOGSEAL" verify --tiles "$TMP/copy" --key "$D/verifier.key"
	check "the bucket's size covers every acknowledged event" test "$(sed -n 2p "$TMP/copy/checkpoint")" -gt "$LAST"
	check_eq "every event acknowledged during the outage is in the bucket" 900 \
		"$(cat "$TMP"/copy/tile/entries/* "$TMP"/copy/tile/entries/*/* 2>/dev/null | grep -ao '"id":"o[123]-[0-9]*"' | sort -u | wc -l)"
	check "serve stops" stop_server

	# a small backlog bound: 503 + Retry-After instead of filling the disk
	check "serve with a 40 kB backlog bound" start_server "$D" --segment-leaves 256 --object-store-backlog 40000
	W=$(new_token "$ADMIN" '{"role":"writer"}')
	check "store stopped again" rgw_ctl stop
	got503=0; acked=0
	for k in $(seq 1 60); do
		st=$(events "b$k-" 200)
		if [ "$st" = 200 ]; then acked=$k; elif [ "$st" = 503 ]; then got503=$k; break; fi
		sleep 0.3
	done
	echo "# backlog: $(metric logseal_objstore_backlog_bytes) bytes"
	check "past the bound ingest answers 503 (after $acked acknowledged batches)" test "$got503" -gt 0
	check "with Retry-After" grep -qi '^retry-after:' "$TMP/resp.h"
	check_eq "the reason is the object store's backlog" object_store_backlog "$(jq -r .error.code "$TMP/resp")"
	curl -s "$SRV_URL/readyz" >"$TMP/ready"
	check "/readyz names the backlog" jq -e 'any(.reasons[]; startswith("object_store_backlog"))' "$TMP/ready"
	check "rgw back again" rgw_ctl start
	check "drains" wait_for caught_up "$D" 0
	check_eq "ingest accepted again" 200 "$(events after 10)"
	LAST=$(jq '.indexes[-1]' "$TMP/resp")
	check "drains again" wait_for caught_up "$D" "$LAST"
	rm -rf "$TMP/copy"; aws --endpoint-url "$EP" s3 sync --quiet "s3://$B/plain/log/" "$TMP/copy/"
	check "the bucket verifies" "$LOGSEAL" verify --tiles "$TMP/copy" --key "$D/verifier.key"
	check_eq "every acknowledged batch is in the bucket" "$((acked * 200 + 10))" \
		"$(cat "$TMP"/copy/tile/entries/* "$TMP"/copy/tile/entries/*/* 2>/dev/null | grep -aoE '"id":"(b[0-9]+-|after)[0-9]+"' | sort -u | wc -l)"
	stop_server
else
	skip "store outage" "no way to stop the store here (tests/engines/ceph.sh or LOGSEAL_TEST_S3_CTL)"
	stop_server
fi

# ------------------------------------------------------- wrong credentials ---
D2=$TMP/wrong
"$LOGSEAL" init --data "$D2" --no-encryption --origin wrong.test/log >/dev/null
for bad in "AWS_SECRET_ACCESS_KEY not-the-secret SignatureDoesNotMatch" "AWS_ACCESS_KEY_ID NOSUCHKEY0000 InvalidAccessKeyId"; do
	set -- $bad
	var=$1 code=$3
	keep=${!var}
	export "$var=$2"
	check "serve with a wrong credential ($code)" start_server "$D2" --object-store "s3://$B/wrong" "${OS[@]}"
	export "$var=$keep"
	ADMIN=$(cat "$D2/admin.token")
	W=$(new_token "$ADMIN" '{"role":"writer"}')
	check_eq "ingest is still acknowledged ($code)" 200 "$(events w 5)"
	WAIT_TICKS=100
	check "the server's log names the bucket and $code" wait_for grep -q "s3://$B/wrong.*$code" "$SRV_ERR"
	req GET /v1/integrity "$ADMIN" >/dev/null
	check "/v1/integrity: unreachable, naming the bucket and $code" \
		jq -e --arg b "$B" --arg c "$code" '.object_store.reachable == false and (.object_store.last_error | contains($b) and contains($c)) and .object_store.state == "unreachable"' "$TMP/resp"
	check_eq "/readyz is 503 ($code)" 503 "$(curl -s -o /dev/null -w '%{http_code}' "$SRV_URL/readyz")"
	stop_server
done

# --------------------------------------------------------------- tampering ---
cp "$D/objstore.json" "$TMP/os.bak"
sed -i "s|s3://$B/plain|s3://$B/evil|" "$D/objstore.json"
check_fails "a tampered objstore.json refuses the start" timeout 10 "$LOGSEAL" serve --data "$D" --listen 127.0.0.1:0
cp "$TMP/os.bak" "$D/objstore.json"

# --------------------------------------------------------------- encrypted ---
D3=$TMP/enc
check "init an encrypted log with --object-store" sh -c "'$LOGSEAL' init --data '$D3' --origin enc.test/log --object-store 's3://$B/enc' --object-store-endpoint '$EP' --object-store-region us-east-1 --object-store-path-style --object-lock-days 1 >/dev/null"
check "serve it" start_server "$D3" --segment-leaves 256
ADMIN=$(cat "$D3/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
check_eq "events with a secret marker acknowledged" 200 "$(events SECRETMARKER 300)"
LAST=$(jq '.indexes[-1]' "$TMP/resp")
WAIT_TICKS=300
check "the bucket catches up" wait_for caught_up "$D3" "$LAST"
stop_server
grep 'object store' "$SRV_ERR" | sed 's/^/# serve: /' | head -5
aws --endpoint-url "$EP" s3 sync --quiet "s3://$B/enc/" "$TMP/encb/"
check_eq "no event text in the clear anywhere in the bucket" 0 "$(grep -rla SECRETMARKER "$TMP/encb" | wc -l)"
check_eq "bundles are LSB1 envelopes" LSB1 "$(head -c4 "$TMP/encb/log/tile/entries/000")"
check "keys/datakeys.json went up (wrapped)" test -s "$TMP/encb/keys/datakeys.json"
BK=$("$LOGSEAL" keys bundle-key --data "$D3")
check "keys bundle-key prints 32 bytes of base64" test "$(printf %s "$BK" | base64 -d | wc -c)" = 32
# open every bundle with the bundle key, then verify the opened copy
cp -r "$TMP/encb/log" "$TMP/opened"
okopen=1
while read -r f; do
	rel=${f#"$TMP/encb/log/tile/entries/"}
	w=256; n=$rel
	case $rel in *.p/*) w=${rel##*.p/}; n=${rel%.p/*} ;; esac
	n=$(echo "$n" | tr -d 'x/' | sed 's/^0*//'); n=${n:-0}
	"$TESTBIN/lsb1open" "$BK" enc.test/log "$n" "$w" <"$f" >"$TMP/opened/tile/entries/$rel" || okopen=0
done < <(find "$TMP/encb/log/tile/entries" -type f)
check_eq "every bundle opens with the bundle key" 1 "$okopen"
check "the opened bucket log verifies" "$LOGSEAL" verify --tiles "$TMP/opened" --key "$D3/verifier.key"
check "the opened bundles hold the events" grep -rqa SECRETMARKER300 "$TMP/opened/tile/entries"
check_fails "a bundle does not open at another index" sh -c "'$TESTBIN/lsb1open' '$BK' enc.test/log 1 256 <'$TMP/encb/log/tile/entries/000' >/dev/null"
done_testing
