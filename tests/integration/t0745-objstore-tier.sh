#!/bin/bash
# Retention tiers against a real S3 (RGW): with an object store configured,
# the archive step moves sealed segments to the bucket only and the reads
# go on through a bounded local cache; purge deletes the bucket object, or
# is refused with an event while a legal hold or the Object Lock keeps it.
#  A. bucket with Object Lock (lock 30 days): 3 segments (web) archived at
#     day 31 -> DIR/segments empty, DIR/segments.remote lists them, the
#     manifest says where "s3" with key and version id, the objects are
#     locked; GET of an event, its inclusion proof, a query, an export
#     (verify-bundle) and /log/tile/entries/<N> (byte for byte as before)
#     still answer; the cache stays within --object-cache-bytes; at day 100
#     a legal hold refuses the purge (event naming the hold), after its
#     release the Object Lock refuses it (event naming the lock); verify
#     --data reads the bucket's segments back; the objects are still there.
#  B. bucket without Object Lock: archived then purged: every version of
#     the objects deleted, purge events, verify --data passes, proofs of
#     kept entries verify.
# S3: the suite's RGW (LOGSEAL_TEST_S3_*, need_s3 from lib.sh); more
# buckets are made here with s3api.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

need_s3 log
AWS="/usr/bin/aws --endpoint-url $LOGSEAL_TEST_S3_ENDPOINT"
# mkbucket NAME [lock]: a fresh bucket (with Object Lock when asked).
mkbucket() {
	if [ "${2:-}" = lock ]; then
		$AWS s3api create-bucket --bucket "$1" --object-lock-enabled-for-bucket >/dev/null
	else
		$AWS s3api create-bucket --bucket "$1" >/dev/null &&
			$AWS s3api put-bucket-versioning --bucket "$1" \
				--versioning-configuration Status=Enabled >/dev/null
	fi
}
BA=$S3_BUCKET	# need_s3's, with Object Lock
BB=$S3_BUCKET-b
check "bucket without Object Lock" mkbucket "$BB"

D=$TMP/data
CLK=$TMP/clock
DAY=86400
echo 0 >"$CLK"
export LOGSEAL_TEST_CLOCK_FILE=$CLK LOGSEAL_TEST_RETENTION_MS=200
cat >"$TMP/incl.py" <<'PY'
# RFC 9162 inclusion check of a GET /v1/events/N reply against its checkpoint.
import base64, hashlib, json, sys
H = lambda b: hashlib.sha256(b).digest()
r = json.load(open(sys.argv[1]))
b = base64.b64decode
lh = H(b"\x00" + b(r["entry_b64"]))
root = b(r["checkpoint"].split("\n")[2])
size = int(r["checkpoint"].split("\n")[1])
fn, sn, h = r["index"], size - 1, lh
for p in map(b, r["proof"]):
    if sn == 0: sys.exit(1)
    if fn & 1 or fn == sn:
        h = H(b"\x01" + p + h)
        if not fn & 1:
            while True:
                fn >>= 1; sn >>= 1
                if fn & 1 or fn == 0: break
    else:
        h = H(b"\x01" + h + p)
    fn >>= 1; sn >>= 1
sys.exit(0 if sn == 0 and h == root and size == r["tree_size"] else 1)
PY
events() { # events SERVICE PREFIX N
	for i in $(seq 1 "$3"); do
		printf '{"id":"%s%d","time":"2024-05-06T07:08:09Z","service":"%s","actor":{"id":"%s-user","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.7"},"details":{"pad":"%0300d"}}\n' "$2" "$i" "$1" "$2" 0
	done >"$TMP/ev.ndjson"
	[ "$(req POST /v1/events "$W" application/x-ndjson "$TMP/ev.ndjson")" = 200 ] || return 1
	jq '.indexes[0]' "$TMP/resp"
}
wait_for() { for _ in $(seq 1 150); do "$@" && return 0; sleep 0.1; done; return 1; }
n_actions() { "$TESTBIN/journalcat" "$1" 2>/dev/null | grep -c "\"action\":\"$2\""; }
proof_ok() { [ "$(req GET "/v1/events/$1" "$AUD")" = 200 ] && python3 "$TMP/incl.py" "$TMP/resp"; }
head_obj() { $AWS s3api head-object --bucket "$1" --key "$2" >"$TMP/head.json" 2>/dev/null; }
cache_bytes() { du -sb "$1/cache/segments" 2>/dev/null | cut -f1; }

SL="--segment-leaves 256"
OS_A="--object-store s3://$BA/log --object-store-endpoint $LOGSEAL_TEST_S3_ENDPOINT --object-store-path-style --object-lock-days 30"
check "init with the object store (A)" sh -c "'$LOGSEAL' init --data '$D' --origin tier.test/log $OS_A >/dev/null"
printf '{"default":{"hot_days":30,"archive_days":60}}\n' >"$D/retention.json"
check "server starts" start_server "$D" --checkpoint-interval 100 $SL
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
B0=$(events web web 768); check "768 web events" test -n "$B0"
B3=$(events web late 10); check "10 more (the WAL's tail)" test "$B3" -ge 768
check "three sealed segments" wait_for test -f "$D/segments/0000000000000200.seal"
# The cache: room for one segment and a half (the smallest of the three).
SEGSZ=$(stat -c %s "$D"/segments/*.seal | sort -n | head -1)
CACHE=$((SEGSZ * 3 / 2))
# (the same bound for the other processes reading the directory: journalcat)
export LOGSEAL_OBJECT_CACHE_BYTES=$CACHE
stop_server
check "server restarts with --object-cache-bytes $CACHE" start_server "$D" --checkpoint-interval 100 $SL --object-cache-bytes $CACHE
req GET /log/tile/entries/001 "$AUD" >/dev/null; cp "$TMP/resp" "$TMP/bundle1.before"
check "entry bundle 1 read before" test "$(stat -c %s "$TMP/bundle1.before")" -gt 1000
req GET "/v1/events?service=web&limit=1000" "$AUD" >/dev/null
NWEB=$(jq '.events | length' "$TMP/resp")
check_eq "the query finds the 778 web events" 778 "$NWEB"

# --- day 31: archived to the bucket only
echo $((31 * DAY)) >"$CLK"
check "31 days later: three segments archived" wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D' 2>/dev/null | grep -c logseal.retention.archive) = 3 ]"
check_eq "no local segment file left" 0 "$(ls "$D/segments" | grep -c seal)"
check "no DIR/archive copy" sh -c "! ls '$D'/archive/*.seal 2>/dev/null"
check_eq "DIR/segments.remote lists the three" "0000000000000000 0000000000000100 0000000000000200" \
	"$(sed 1d "$D/segments.remote" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
check_eq "manifest: where s3, keys, version ids" "s3 segments/0000000000000100.seal true" \
	"$(jq -r '.segments[1] | "\(.where) \(.key) \((.version_id|length) > 0)"' "$D/archive/manifest.json")"
check "the bucket holds segment 1" head_obj "$BA" log/segments/0000000000000100.seal
check_eq "  locked COMPLIANCE" COMPLIANCE "$(jq -r .ObjectLockMode "$TMP/head.json")"
check_eq "  its size" "$SEGSZ" "$(jq -r .ContentLength "$TMP/head.json")"
AEV=$("$TESTBIN/journalcat" "$D" | grep '"action":"logseal.retention.archive"' | head -1)
check_eq "archive event: where s3 and the key" "s3 segments/0000000000000000.seal" \
	"$(printf '%s' "$AEV" | jq -r '"\(.details.where) \(.details.key)"')"
check_eq "GET /v1/events/300 (archived range): 200" 200 "$(req GET /v1/events/300 "$AUD")"
check_eq "  the event we sent" "web$((300 - B0 + 1))" "$(jq -r '.entry.id' "$TMP/resp")"
check "  its inclusion proof verifies" python3 "$TMP/incl.py" "$TMP/resp"
check "proof of an event in segment 0" proof_ok 5
check "proof of an event in segment 2" proof_ok 700
check_eq "/log/tile/entries/001: 200" 200 "$(req GET /log/tile/entries/001 "$AUD")"
check "  byte for byte as before" cmp "$TMP/resp" "$TMP/bundle1.before"
req GET "/v1/events?service=web&limit=1000" "$AUD" >/dev/null
check_eq "the query still finds the 778 web events" 778 "$(jq '.events | length' "$TMP/resp")"
check_eq "export of the archived range: 200" 200 "$(curl -s -o "$TMP/exp.ndjson" -w '%{http_code}' -H "Authorization: Bearer $AUD" "$SRV_URL/v1/export?service=web")"
check "  verify-bundle passes" "$LOGSEAL" verify-bundle "$TMP/exp.ndjson" --key "$D/verifier.key"
check_eq "  with the 778 web events" 778 "$(sed '1d;$d' "$TMP/exp.ndjson" | wc -l)"
within() { ls -l "$D/cache/segments"; echo "cache $(cache_bytes "$D") of $CACHE"; [ "$(cache_bytes "$D")" -le "$CACHE" ]; }
check "the cache stays within --object-cache-bytes" within
check "  and holds at most one segment" test "$(ls "$D/cache/segments" | wc -l)" -le 1

# --- day 100: purge due; a legal hold refuses it, then the Object Lock
printf '{"service":"web","reason":"case 9"}' >"$TMP/hold.json"
check_eq "a hold on web: 201" 201 "$(req POST /v1/holds "$ADMIN" application/json "$TMP/hold.json")"
HID=$(jq -r .id "$TMP/resp")
echo $((100 * DAY)) >"$CLK"
check "purge refused under the legal hold, with an event" wait_for sh -c "'$TESTBIN/journalcat' '$D' 2>/dev/null | grep 'logseal.retention.purge_refused' | grep -q 'legal hold.*$HID'"
check_eq "  no purge" 0 "$(n_actions "$D" logseal.retention.purge)"
check_eq "  one refusal event per segment (not one per pass)" 3 "$(n_actions "$D" logseal.retention.purge_refused)"
check_eq "release the hold: 200" 200 "$(req DELETE "/v1/holds/$HID" "$ADMIN")"
check "purge refused by the Object Lock, with an event" wait_for sh -c "'$TESTBIN/journalcat' '$D' 2>/dev/null | grep 'logseal.retention.purge_refused' | grep -q 'Object Lock (COMPLIANCE) keeps segments/0000000000000000.seal until'"
sleep 1
check_eq "  still no purge" 0 "$(n_actions "$D" logseal.retention.purge)"
check "  the object is still in the bucket" head_obj "$BA" log/segments/0000000000000000.seal
check_eq "  the archived event is still served" 200 "$(req GET /v1/events/10 "$AUD")"
check "proofs still verify" proof_ok 400
stop_server
rm -rf "$D/cache"
check "verify --data reads the bucket's segments back" sh -c "'$LOGSEAL' verify --data '$D' >'$TMP/v1.out'"
check "  and counts them" grep -q "archived: 768 entries read back" "$TMP/v1.out"

# --- B: a bucket without Object Lock: purge deletes every version
D2=$TMP/data2
OS_B="--object-store s3://$BB/log --object-store-endpoint $LOGSEAL_TEST_S3_ENDPOINT --object-store-path-style"
echo 0 >"$CLK"
check "init with the object store (B)" sh -c "'$LOGSEAL' init --data '$D2' --origin tier.test/b $OS_B >/dev/null"
printf '{"default":{"hot_days":30,"archive_days":60}}\n' >"$D2/retention.json"
check "server B starts" start_server "$D2" --checkpoint-interval 100 $SL
ADMIN=$(cat "$D2/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
C0=$(events web w 512); check "512 events" test -n "$C0"
C1=$(events web t 5); check "5 more" test -n "$C1"
check "two sealed segments" wait_for test -f "$D2/segments/0000000000000100.seal"
echo $((31 * DAY)) >"$CLK"
check "B: archived to the bucket" wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D2' 2>/dev/null | grep -c logseal.retention.archive) = 2 ]"
check "B: in the bucket" head_obj "$BB" log/segments/0000000000000000.seal
check "B: the server says the bucket has no Object Lock" grep -q "has NO Object Lock: objects are written once but not locked" "$SRV_ERR"
check "B: the uploader writes unlocked objects there (no 400 for a retention)" wait_for head_obj "$BB" log/log/checkpoint
check_eq "B: /v1/integrity: no Object Lock" false "$(req GET /v1/integrity "$ADMIN" >/dev/null; jq -r .object_store.object_lock "$TMP/resp")"
echo $((100 * DAY)) >"$CLK"
check "B: day 100: both purged" wait_for sh -c "[ \$('$TESTBIN/journalcat' '$D2' 2>/dev/null | grep -c '\"logseal.retention.purge\"') = 2 ]"
check "  the objects are gone" wait_for sh -c "! $AWS s3api head-object --bucket $BB --key log/segments/0000000000000000.seal >/dev/null 2>&1"
NV=$($AWS s3api list-object-versions --bucket "$BB" --prefix log/segments/ | jq '[(.Versions // [])[], (.DeleteMarkers // [])[]] | length')
check_eq "  no version (nor delete marker) left" 0 "${NV:-0}"
check_eq "  manifest: purged and deleted" "true true" "$(jq -r '.segments[0] | "\(.purged) \(.deleted)"' "$D2/archive/manifest.json")"
check "  DIR/segments.remote is gone" test ! -e "$D2/segments.remote"
# (the status of a purged entry is the server's, 500 today as for a purge
# from DIR/archive; the message says why)
check_eq "  a purged event is not served, the message says retention" "retention" "$(req GET /v1/events/10 "$AUD" >/dev/null; jq -r .error.message "$TMP/resp" | grep -o retention | head -1)"
check "  proof of a kept entry verifies" proof_ok "$C1"
stop_server
check "B: verify --data passes" sh -c "'$LOGSEAL' verify --data '$D2' >'$TMP/v2.out'"
check "  reports the purge" grep -q "purged by policy" "$TMP/v2.out"
[ "$T_FAIL" -eq 0 ] || { echo "# server B stderr:"; sed 's/^/#   /' "$SRV_ERR" | tail -20; }
done_testing
