#!/bin/bash
# Encryption at rest: events carrying a unique marker are posted through the
# real server and imported; the marker is nowhere in plaintext under the
# data directory (journal, sealed segments, tiles, checkpoints, keys) nor
# beside the master key, yet the API returns it and `verify` passes.
# Altered ciphertext and swapped records (CRCs fixed up, so only GCM can
# notice) are found with their location; a wrong or missing master key is
# a clear error that changes nothing; data and master key rotation keep
# old and new events readable and verifiable.  (DIR/index is the blind
# index's business: its own test checks it.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
K=$TMP/data.master.key
MARK="zq7marker$$x$RANDOM"
check "init (encrypted by default)" sh -c "'$LOGSEAL' init --data '$D' --origin enc.test/log >'$TMP/init.out'"
check_eq "the master key file is created beside the data directory, mode 600" 600 "$(stat -c %a "$K")"
grep -q "apart from the data and its backups" "$TMP/init.out" && ok "init says the key belongs apart from the data" || not_ok "init says the key belongs apart from the data"
check_eq "master.json names the key file, not the key" "file $K" "$(jq -r '"\(.source) \(.path)"' "$D/keys/master.json")"
grep -q -F -- "$(head -c 20 "$K")" "$D/keys/master.json" "$D/keys/datakeys.json" && not_ok "the master key is not stored in the data directory" || ok "the master key is not stored in the data directory"

check "server starts" start_server "$D" --checkpoint-interval 100 --segment-leaves 256
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer","name":"enc"}')
A=$(new_token "$ADMIN" '{"role":"auditor","name":"enc-aud"}')
for i in $(seq 1 300); do
	printf '{"id":"e%d","time":"2024-05-06T07:08:09Z","actor":{"id":"%s-%d","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.7"},"resource":{"type":"doc","id":"%s"}}\n' "$i" "$MARK" "$i" "$MARK"
done >"$TMP/ev.ndjson"
check_eq "POST 300 marked events: 200" 200 "$(req POST /v1/events "$W" application/x-ndjson "$TMP/ev.ndjson")"
first=$(jq '.indexes[0]' "$TMP/resp")
check_eq "GET /v1/events/N returns the marker" "$MARK-1" "$(req GET "/v1/events/$first" "$A" >/dev/null; jq -r '.. | objects | .actor? | objects | .id' "$TMP/resp" | head -1)"
check_eq "GET /log/tile/entries/000 serves the plaintext C2SP bundle" 1 "$(req GET /log/tile/entries/000 "$A" >/dev/null; grep -a -c -F "$MARK" "$TMP/resp" | awk '{print ($1>0)}')"
stop_server; check_eq "server stops cleanly" 0 "$?"
sed "s/$MARK/${MARK}imp/g" "$TMP/ev.ndjson" | sed 's/"id":"e/"id":"i/' >"$TMP/imp.ndjson"
check "import 300 more" sh -c "'$LOGSEAL' import --data '$D' --segment-leaves 256 <'$TMP/imp.ndjson' >/dev/null"

check_eq "no plaintext marker anywhere under the data directory" "" "$(grep -r -a -l -F "$MARK" "$D" --exclude-dir=index)"
check_eq "none beside the master key either" "" "$(grep -r -a -l -F "$MARK" "$TMP" --exclude-dir=data --exclude='*.ndjson' --exclude='resp*' --exclude='server.*' --exclude='data.master.key')"
check_eq "no entry bundle is kept in plaintext under log/tile/entries" 0 "$(find "$D/log/tile" -path '*entries*' -type f | wc -l)"
check "no bundle files at all (DIR/bundles)" test ! -e "$D/bundles"
check "entries [0, 256) are in an (encrypted) sealed segment" test -f "$D/segments/0000000000000000.seal"
check "verify --data passes" "$LOGSEAL" verify --data "$D"
check_eq "the journal reader decrypts every entry" 600 "$("$TESTBIN/journalcat" "$D" | grep -c -F "$MARK")"

# Published copy: hash tiles and checkpoint as files, bundles fetched decrypted.
check "server restarts" start_server "$D"
C=$TMP/client; mkdir -p "$C"
cp "$D/log/checkpoint" "$C/"
(cd "$D/log" && find tile -type f) | while read -r f; do mkdir -p "$C/$(dirname "$f")"; cp "$D/log/$f" "$C/$f"; done
size=$(sed -n 2p "$C/checkpoint")
for n in $(seq 0 $((size / 256 - 1))); do
	p=$(printf 'tile/entries/%03d' "$n"); mkdir -p "$C/tile/entries"
	curl -s -H "Authorization: Bearer $A" -o "$C/$p" "$SRV_URL/log/$p"
	# full level-0 tiles of sealed ranges are served from the segments (no file)
	p=$(printf 'tile/0/%03d' "$n")
	[ -f "$C/$p" ] || curl -s -H "Authorization: Bearer $A" -o "$C/$p" "$SRV_URL/log/$p"
done
if [ $((size % 256)) -ne 0 ]; then
	p=$(printf 'tile/entries/%03d.p/%d' $((size / 256)) $((size % 256))); mkdir -p "$C/$(dirname "$p")"
	curl -s -H "Authorization: Bearer $A" -o "$C/$p" "$SRV_URL/log/$p"
fi
stop_server
check "verify --tiles on the fetched copy (plaintext bundles) passes" "$LOGSEAL" verify --tiles "$C" --key "$D/verifier.key"

# Tampering, with the CRC recomputed so that only GCM can notice: in the
# write-ahead log, at records not sealed yet (those below the sealed end
# are read from their segment).  SEG is the last journal file, whose
# records are FIRST, FIRST + 1, ...; FIRST + R the first not sealed.
SEG=$(ls "$D"/journal/*.seg | tail -1)
FIRST=$((16#$(basename "$SEG" .seg)))
SEALED=$(( 16#$(basename "$(ls "$D"/segments/*.seal | tail -1)" .seal) + 256 ))
R=$(( SEALED > FIRST ? SEALED - FIRST : 0 ))
cp "$SEG" "$TMP/seg.orig"
python3 - "$SEG" $((R + 5)) <<'PY'
import struct, sys, zlib
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
def recs(b):
    off = 32
    while off + 20 <= len(b):
        n = struct.unpack(">I", b[off + 4:off + 8])[0]
        yield off, n
        off += 20 + n
def fix(b, off, n):
    crc = zlib.crc32(bytes(b[off + 20:off + 20 + n]), zlib.crc32(bytes(b[off:off + 16])))
    b[off + 16:off + 20] = struct.pack(">I", crc & 0xffffffff)
r = list(recs(b))
off, n = r[int(sys.argv[2])]
b[off + 20 + 12 + 3] ^= 0x01        # inside the ciphertext of record R + 5
fix(b, off, n)
open(p, "wb").write(b)
PY
"$LOGSEAL" verify --data "$D" >"$TMP/v.out" 2>&1 && not_ok "altered ciphertext is detected" || ok "altered ciphertext is detected"
grep -q "$(basename "$SEG") offset [0-9]*: record $((FIRST + R + 5)) does not authenticate" "$TMP/v.out" && ok "and located (segment, offset, record)" || { not_ok "and located (segment, offset, record)"; sed 's/^/#   /' "$TMP/v.out"; }
cp "$TMP/seg.orig" "$SEG"
python3 - "$SEG" $((R + 7)) <<'PY'
import struct, sys, zlib
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
def rec(b, k):
    off = 32
    for _ in range(k):
        off += 20 + struct.unpack(">I", b[off + 4:off + 8])[0]
    return off, struct.unpack(">I", b[off + 4:off + 8])[0]
k = int(sys.argv[2]); o1, n1 = rec(b, k); o2, n2 = rec(b, k + 1)
h1, p1 = bytearray(b[o1:o1 + 20]), bytes(b[o1 + 20:o1 + 20 + n1])
h2, p2 = bytearray(b[o2:o2 + 20]), bytes(b[o2 + 20:o2 + 20 + n2])
# each header keeps its index and flags; the payloads change places
h1[4:8] = struct.pack(">I", n2); h2[4:8] = struct.pack(">I", n1)
def crc(h, p): return struct.pack(">I", zlib.crc32(p, zlib.crc32(bytes(h[:16]))) & 0xffffffff)
h1[16:20] = crc(h1, p2); h2[16:20] = crc(h2, p1)
b[o1:o2 + 20 + n2] = bytes(h1) + p2 + bytes(h2) + p1
open(p, "wb").write(b)
PY
"$LOGSEAL" verify --data "$D" >"$TMP/v.out" 2>&1 && not_ok "two swapped records are detected" || ok "two swapped records are detected"
grep -q "record $((FIRST + R + 7)) does not authenticate" "$TMP/v.out" && ok "swap located at record 7" || { not_ok "swap located at record 7"; sed 's/^/#   /' "$TMP/v.out"; }
cp "$TMP/seg.orig" "$SEG"
B=$D/segments/0000000000000000.seal
cp "$B" "$TMP/b.orig"
printf '\x55' | dd of="$B" bs=1 seek=200 conv=notrunc 2>/dev/null
"$LOGSEAL" verify --data "$D" >"$TMP/v.out" 2>&1 && not_ok "an altered sealed segment is detected" || ok "an altered sealed segment is detected"
grep -q "segments/0000000000000000.seal.*offset" "$TMP/v.out" && ok "and named with its offset" || { not_ok "and named with its offset"; sed 's/^/#   /' "$TMP/v.out"; }
cp "$TMP/b.orig" "$B"
check "verify passes again after the repair" "$LOGSEAL" verify --data "$D"

# Wrong and missing master keys: clear errors, nothing changed.
snap() { (cd "$D" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }
before=$(snap)
mv "$K" "$TMP/good.key"
head -c 32 /dev/urandom | base64 >"$K"; chmod 600 "$K"
"$LOGSEAL" verify --data "$D" >"$TMP/v.out" 2>&1 && not_ok "verify refuses a wrong master key" || ok "verify refuses a wrong master key"
grep -q "wrong master key" "$TMP/v.out" && ok "verify says: wrong master key" || { not_ok "verify says: wrong master key"; sed 's/^/#   /' "$TMP/v.out"; }
echo '{"action":"x","actor":{"id":"a","type":"user"},"outcome":"success","time":"2024-01-01T00:00:00Z"}' >"$TMP/one.ndjson"
"$LOGSEAL" import --data "$D" <"$TMP/one.ndjson" >"$TMP/i.out" 2>&1 && not_ok "import refuses a wrong master key" || ok "import refuses a wrong master key"
grep -q "wrong master key" "$TMP/i.out" && ok "import says: wrong master key" || { not_ok "import says: wrong master key"; sed 's/^/#   /' "$TMP/i.out"; }
PORT=$(free_port)
timeout 10 "$LOGSEAL" serve --data "$D" --listen "127.0.0.1:$PORT" >"$TMP/s.out" 2>&1 && not_ok "serve refuses a wrong master key" || ok "serve refuses a wrong master key"
grep -q "wrong master key" "$TMP/s.out" && ok "serve says: wrong master key" || { not_ok "serve says: wrong master key"; sed 's/^/#   /' "$TMP/s.out"; }
chmod 644 "$K"
"$LOGSEAL" verify --data "$D" >"$TMP/v.out" 2>&1; grep -q "readable by group or others" "$TMP/v.out" && ok "a key file readable by others is refused" || { not_ok "a key file readable by others is refused"; sed 's/^/#   /' "$TMP/v.out"; }
rm -f "$K"
"$LOGSEAL" import --data "$D" <"$TMP/one.ndjson" >"$TMP/i.out" 2>&1 && not_ok "a missing master key file is refused" || ok "a missing master key file is refused"
grep -q "master key file $K" "$TMP/i.out" && ok "and the message names the file" || { not_ok "and the message names the file"; sed 's/^/#   /' "$TMP/i.out"; }
check_eq "nothing under the data directory changed" "$before" "$(snap)"
mv "$TMP/good.key" "$K"

# Rotation: a new data key, more events, then a new master key.
nkeys=$(jq '.keys | length' "$D/keys/datakeys.json")
check "keys rotate (data key)" sh -c "'$LOGSEAL' keys rotate --data '$D' >'$TMP/r.out' 2>&1"
check_eq "a new data key was added" $((nkeys + 1)) "$(jq '.keys | length' "$D/keys/datakeys.json")"
check "server starts after rotation" start_server "$D" --checkpoint-interval 100
sed "s/$MARK/${MARK}new/g; s/\"id\":\"e/\"id\":\"n/" "$TMP/ev.ndjson" | head -20 >"$TMP/new.ndjson"
check_eq "POST 20 events under the new key: 200" 200 "$(req POST /v1/events "$W" application/x-ndjson "$TMP/new.ndjson")"
newfirst=$(jq '.indexes[0]' "$TMP/resp")
stop_server; check_eq "server stops" 0 "$?"
last=$(ls "$D"/journal/*.seg | tail -1)
check_eq "the last segment names the newest data key" "$(jq '.keys[-1].id' "$D/keys/datakeys.json")" "$(od -An -tu4 --endian=big -j24 -N4 "$last" | tr -d ' ')"
wrapped_before=$(jq -c '[.keys[].wrapped]' "$D/keys/datakeys.json")
sha256sum "$D"/journal/*.seg >"$TMP/segs.sum"
check "keys rotate --new-master-key-file" sh -c "'$LOGSEAL' keys rotate --data '$D' --new-master-key-file '$TMP/k2.key' >'$TMP/r.out' 2>&1"
check_eq "the new master key file is mode 600" 600 "$(stat -c %a "$TMP/k2.key")"
check_eq "master.json names the new key" "$TMP/k2.key" "$(jq -r .path "$D/keys/master.json")"
[ "$wrapped_before" != "$(jq -c '[.keys[].wrapped]' "$D/keys/datakeys.json")" ] && ok "every data key was re-wrapped" || not_ok "every data key was re-wrapped"
check "no existing segment was rewritten" sha256sum --quiet -c "$TMP/segs.sum"
mv "$K" "$TMP/old.key"
check "verify passes with the new master key only" "$LOGSEAL" verify --data "$D"
check "keys status checks the new key" sh -c "'$LOGSEAL' keys status --data '$D' | grep -q 'k2.key (checked)'"
check "server starts with the new master key" start_server "$D"
check_eq "an old event reads back" "$MARK-1" "$(req GET "/v1/events/$first" "$A" >/dev/null; jq -r '.. | objects | .actor? | objects | .id' "$TMP/resp" | head -1)"
check_eq "a new event reads back" "${MARK}new-1" "$(req GET "/v1/events/$newfirst" "$A" >/dev/null; jq -r '.. | objects | .actor? | objects | .id' "$TMP/resp" | head -1)"
stop_server
check_eq "still no plaintext marker under the data directory" "" "$(grep -r -a -l -F "$MARK" "$D" --exclude-dir=index)"

# --no-encryption: plaintext, for benchmarks.
check "init --no-encryption" sh -c "'$LOGSEAL' init --data '$TMP/plain' --origin plain.test/log --no-encryption >/dev/null"
check "no master key for a plaintext log" test ! -e "$TMP/plain/keys/master.json" -a ! -e "$TMP/plain.master.key"
check "import into the plaintext log" sh -c "'$LOGSEAL' import --data '$TMP/plain' <'$TMP/imp.ndjson' >/dev/null"
check_eq "its journal holds the plaintext" 1 "$(grep -a -c -F "$MARK" "$TMP/plain/journal/0000000000000000.seg" | awk '{print ($1>0)}')"
check "and it verifies" "$LOGSEAL" verify --data "$TMP/plain"
done_testing
