#!/bin/bash
# `logseal verify --tiles s3://BUCKET/PREFIX` (and https://) against a real
# S3 implementation (Ceph RGW): a published log is verified in place, with
# no local copy.  The bucket is filled by logseal's own uploader
# (tests/helpers/upload_once: followers/upload.c, the code serve runs) from
# a data directory with sealed segments, and for the encrypted log by
# `serve --object-store` itself; then:
#   - a clean bucket verifies (exit 0), also with 1 and 8 fetchers;
#   - a removed object (a plain DELETE: a delete marker, which S3 allows
#     even on a locked key) is named with its key, exit 1;
#   - an altered object (a new version PUT over a tile, a bundle,
#     checkpoints/<size>, a segment) is named with its key, and only it;
#   - a checkpoint signed by another key is refused;
#   - an encrypted log: LSB1 bundles are opened with --bundle-key, an
#     altered envelope is named, without the key bundles are said to be
#     unchecked;
#   - the same tree copied locally and served read-only by
#     `python3 -m http.server` verifies over http://, and a removed file
#     is named there too.
# Needs the suite's RGW (need_s3: LOGSEAL_TEST_S3_ENDPOINT/KEY/SECRET, which
# tests/run.sh exports).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/serve_lib.sh"
need_s3 plain
S3() { aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
UPLOAD=$TESTBIN/upload_once

# events FROM COUNT: NDJSON of native events
events() {
	python3 -c '
import json, sys
a, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(a, a + n):
    print(json.dumps({"id": "v-%d" % i, "time": "2024-01-01T00:00:00Z", "actor": {"id": "u%d" % (i % 7)},
        "action": "doc.read", "outcome": "success", "source": {"ip": "10.0.0.%d" % (i % 250)},
        "details": {"n": i}}))' "$1" "$2"
}
# vt URL [options]: verify --tiles into $TMP/v.out (stdout+stderr), exit status in $VRC
vt() { "$LOGSEAL" verify --tiles "$@" >"$TMP/v.out" 2>&1; VRC=$?; }
# named KEY WHAT: the last verify failed and named KEY (with WHAT)
named() { [ "$VRC" = 1 ] && grep -q -- "^$1: .*$2" "$TMP/v.out"; }
nproblems() { sed -n 's/.*FAILED: \([0-9]*\) problem.*/\1/p' "$TMP/v.out"; }
show() { sed 's/^/#   /' "$TMP/v.out" | tail -12; }

# ------------------------------------------------------------ plaintext log
D=$TMP/plain
check "init (plaintext)" "$LOGSEAL" init --data "$D" --origin t0760.test/log --no-encryption
events 0 700 >"$TMP/a.ndjson"; events 700 600 >"$TMP/b.ndjson"
check "import 700 + 600 with segments of 512" sh -c "'$LOGSEAL' import --data '$D' --segment-leaves 512 <'$TMP/a.ndjson' && '$LOGSEAL' import --data '$D' --segment-leaves 512 <'$TMP/b.ndjson'"
check_eq "two sealed segments" 2 "$(ls "$D/segments" | grep -c '\.seal$')"
U=s3://$S3_BUCKET/plain
check "the uploader fills the bucket" "$UPLOAD" "$D" "$U"
K=$D/verifier.key
for k in log/checkpoint log/tile/0/000 log/tile/0/005.p/20 log/tile/1/000.p/5 log/tile/entries/004 \
	log/tile/entries/005.p/20 checkpoints/700 checkpoints/1300 segments/0000000000000200.seal; do
	S3 s3api head-object --bucket "$S3_BUCKET" --key "plain/$k" >/dev/null 2>&1 ||
		echo "# missing in the bucket: $k"
done
# Import signs 0, 700 and 1300 (a slow run one more between): each is
# checkpoints/<size> in the bucket, and log/checkpoint is one more.
NCP=$(($(ls "$D/checkpoints" | grep -c '^[0-9]*$') + 1))
check_eq "the bucket holds the layout's objects" $((16 + NCP)) "$(S3 s3 ls --recursive "s3://$S3_BUCKET/plain/" | wc -l)"

vt "$U" --key "$K"
check_eq "a clean bucket verifies (exit 0)" 0 "$VRC"; [ "$VRC" = 0 ] || show
check_eq "  every entry, tile, bundle, checkpoint and segment counted" \
	"checked: 1300 entries, 7 hash tiles, 6 entry bundles, $NCP signed checkpoints, 2 segments" \
	"$(grep '^checked:' "$TMP/v.out")"
check "  throughput printed" grep -q '^read: [0-9]* objects, .* MB/s, 4 concurrent requests' "$TMP/v.out"
vt "$U" --key "$K" --fetchers 1; check_eq "  with 1 fetcher" 0 "$VRC"
vt "$U" --key "$K" --fetchers 8; check_eq "  with 8 fetchers" 0 "$VRC"
vt "$U"; check_eq "no key: usage error (the bucket's key is not trusted by default)" 2 "$VRC"
vt "$U" --trust-bucket-key
check_eq "--trust-bucket-key: the bucket's keys/verifier.key, with a warning" "0 1" \
	"$VRC $(grep -c '^warning: trusting the verifier key the bucket holds' "$TMP/v.out")"

AWS_SECRET_ACCESS_KEY=wrong vt "$U" --key "$K"
check "wrong credentials: no verdict, the S3 error named" \
	grep -q "cannot verify (denied): $U/log/checkpoint: .*HTTP 403 SignatureDoesNotMatch" "$TMP/v.out"
vt "s3://$S3_BUCKET-none/plain" --key "$K"
check "no such bucket: said so" grep -q "cannot verify (not_found): s3://$S3_BUCKET-none/plain: no such bucket" "$TMP/v.out"

# A copy of the clean tree for the http(s) part (before any tampering).
CP=$TMP/copy
mkdir -p "$CP"
check "aws s3 sync of the clean bucket" S3 s3 sync --quiet "s3://$S3_BUCKET/plain/" "$CP/"
vt "$CP" --key "$K"; check_eq "--tiles DIR over the same tree (bucket layout)" 0 "$VRC"

# --------------------------------------------------------- removed objects
# A plain DELETE adds a delete marker: allowed even on a locked key.
for k in log/tile/0/001 log/tile/entries/003 checkpoints/1300; do
	S3 s3api delete-object --bucket "$S3_BUCKET" --key "plain/$k" >/dev/null
done
vt "$U" --key "$K"
for k in log/tile/0/001 log/tile/entries/003 checkpoints/1300; do
	check "removed $k: named with its key" named "$U/$k" "missing"
done
check_eq "  and nothing else (3 problems)" 3 "$(nproblems)"; [ "$(nproblems)" = 3 ] || show

# --------------------------------------------------------- altered objects
# Another log of the same origin and sizes (another signing key).
D2=$TMP/other
"$LOGSEAL" init --data "$D2" --origin t0760.test/log --no-encryption >/dev/null 2>&1
events 5000 700 | "$LOGSEAL" import --data "$D2" >/dev/null 2>&1
events 5700 600 | "$LOGSEAL" import --data "$D2" >/dev/null 2>&1
# PUT of new bytes over a locked key: a new version becomes the current one.
head -c 8192 /dev/urandom >"$TMP/junk"
S3 s3api put-object --bucket "$S3_BUCKET" --key plain/log/tile/0/002 --body "$TMP/junk" >/dev/null
S3 s3 cp --quiet "s3://$S3_BUCKET/plain/log/tile/entries/004" "$TMP/b4"
sed -i 's/doc\.read/doc.reaX/' "$TMP/b4"
S3 s3api put-object --bucket "$S3_BUCKET" --key plain/log/tile/entries/004 --body "$TMP/b4" >/dev/null
S3 s3 cp --quiet "s3://$S3_BUCKET/plain/segments/0000000000000200.seal" "$TMP/s2"
printf 'Z' | dd of="$TMP/s2" bs=1 seek=100 conv=notrunc 2>/dev/null
S3 s3api put-object --bucket "$S3_BUCKET" --key plain/segments/0000000000000200.seal --body "$TMP/s2" >/dev/null
S3 s3api put-object --bucket "$S3_BUCKET" --key plain/checkpoints/700 --body "$D2/checkpoints/00000000000000000700" >/dev/null
vt "$U" --key "$K"
check "altered tile log/tile/0/002: named" named "$U/log/tile/0/002" "hash 0 differs from the leaf hash of entry 512"
check "altered bundle log/tile/entries/004: named" named "$U/log/tile/entries/004" "entry 1024 differs from the log"
check "altered segment 0000000000000200.seal: named with the offset" named "$U/segments/0000000000000200.seal" "offset 48: block 0: checksum mismatch"
check "altered checkpoints/700 (another log's): named" named "$U/checkpoints/700" "signature does not verify"
check_eq "  the removed three and the altered four, nothing else" 7 "$(nproblems)"; [ "$(nproblems)" = 7 ] || show

# a checkpoint of the other log (same origin, other key) put as checkpoints/1300
S3 s3api put-object --bucket "$S3_BUCKET" --key plain/checkpoints/1300 --body "$D2/log/checkpoint" >/dev/null
vt "$U" --key "$K"
check "checkpoints/1300 signed by another key: named" named "$U/checkpoints/1300" "signature does not verify"
# log/checkpoint signed by another key: refused outright
S3 s3api put-object --bucket "$S3_BUCKET" --key plain/log/checkpoint --body "$D2/log/checkpoint" >/dev/null
vt "$U" --key "$K"
check "log/checkpoint signed by another key: refused" named "$U/log/checkpoint" "refused: the signature does not verify"
vt "$U" --key "$D2/verifier.key"
check "  with the other log's key it is the tree that does not match" \
	grep -q "root does not match\|differs" "$TMP/v.out"

# The log's own checkpoint put back, the altered objects stay: all named.
S3 s3api put-object --bucket "$S3_BUCKET" --key plain/log/checkpoint --body "$CP/log/checkpoint" >/dev/null
vt "$U" --key "$K" --max-problems 2
check_eq "--max-problems 2: two named, all counted" "2 7" \
	"$(grep -c "^$U/" "$TMP/v.out") $(nproblems)"

# ------------------------------------------------------------ http(s)://
PORT=$(free_port)
(cd "$CP" && exec python3 -m http.server --bind 127.0.0.1 "$PORT") >"$TMP/http.log" 2>&1 &
HPID=$!; SERVER_PIDS="$SERVER_PIDS $HPID"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/log/checkpoint" && break; sleep 0.1; done
H=http://127.0.0.1:$PORT
vt "$H" --key "$K"
check_eq "http:// read-only verify of the same tree (exit 0)" 0 "$VRC"; [ "$VRC" = 0 ] || show
check_eq "  the same checks (segments found by name; checkpoints/<size> of the latest only)" \
	"checked: 1300 entries, 7 hash tiles, 6 entry bundles, 2 signed checkpoints, 2 segments" \
	"$(grep '^checked:' "$TMP/v.out")"
check "  says it could not list" grep -q "cannot be listed" "$TMP/v.out"
rm "$CP/log/tile/0/004"
vt "$H" --key "$K"
check "http://: a removed file is named" named "$H/log/tile/0/004" "missing"
vt "$CP" --key "$K"
check "the directory: the same file named" named "$CP/log/tile/0/004" "missing"
kill "$HPID" 2>/dev/null; wait "$HPID" 2>/dev/null

# ------------------------------------------------------------ encrypted log
E=$TMP/enc
UE=s3://$S3_BUCKET/enc
check "init --object-store (encrypted)" "$LOGSEAL" init --data "$E" --origin t0760.test/enc \
	--object-store "$UE" --object-lock-days 1 --object-store-endpoint "$AWS_ENDPOINT_URL" \
	--object-store-path-style
check "import 700 with segments of 512" sh -c "'$LOGSEAL' import --data '$E' --segment-leaves 512 <'$TMP/a.ndjson'"
check "serve uploads it (serve --object-store from DIR/objstore.json)" start_server "$E"
up=0
for _ in $(seq 1 200); do
	up=$(curl -s -H "Authorization: Bearer $(cat "$E/admin.token")" "$SRV_URL/metrics" |
		sed -n 's/^logseal_objstore_uploaded_size \([0-9]*\).*/\1/p')
	[ "${up:-0}" -ge 700 ] && break
	sleep 0.1
done
check_eq "  the bucket holds the log's latest checkpoint" 1 "$([ "${up:-0}" -ge 700 ] && echo 1)"
stop_server
check_eq "a bundle in the bucket is an LSB1 envelope" LSB1 \
	"$(S3 s3 cp --quiet "s3://$S3_BUCKET/enc/log/tile/entries/000" - | head -c 4)"
"$LOGSEAL" keys bundle-key --data "$E" >"$TMP/bkey" 2>"$TMP/bkey.err"
vt "$UE" --key "$E/verifier.key"
check_eq "without --bundle-key: passes, and says the bundles were not checked" "0 1" \
	"$VRC $(grep -c 'sealed (LSB1) and were NOT checked' "$TMP/v.out")"
check "  encrypted segments: framing and hashes only, said so" grep -q "encrypted: framing, checksums and leaf hashes checked" "$TMP/v.out"
vt "$UE" --key "$E/verifier.key" --bundle-key "$TMP/bkey"
check_eq "with --bundle-key: every bundle opened and checked" "0 3" \
	"$VRC $(grep -o '[0-9]* entry bundles' "$TMP/v.out" | cut -d' ' -f1)"
check_eq "  nothing said unchecked" 0 "$(grep -c 'NOT checked' "$TMP/v.out" | head -1)" 
# an envelope moved to another index does not open
S3 s3 cp --quiet "s3://$S3_BUCKET/enc/log/tile/entries/000" "$TMP/e0"
S3 s3api put-object --bucket "$S3_BUCKET" --key enc/log/tile/entries/001 --body "$TMP/e0" >/dev/null
vt "$UE" --key "$E/verifier.key" --bundle-key "$TMP/bkey"
check "an envelope moved to another index: named" named "$UE/log/tile/entries/001" "does not open with the bundle key"
check_eq "  only it" 1 "$(nproblems)"

S3 s3 rb "s3://$S3_BUCKET" --force >/dev/null 2>&1 || true
done_testing
