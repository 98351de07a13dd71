#!/bin/bash
# Proofs as a third party checks them, without any of logseal's code:
# GET /v1/events/{i} and GET /v1/proof/consistency are verified by an
# independent RFC 6962 / RFC 9162 implementation (python, below) and the
# checkpoint's Ed25519 signature by `openssl pkeyutl -verify -rawin`
# against the C2SP verifier key; tampered proofs and notes are rejected by
# the same code (so the checks are not vacuous).  Then the C2SP paths: a
# client fetches /log/checkpoint and every tile it needs over HTTP into a
# directory, and `logseal verify --tiles` checks that copy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D" --origin proofs.test/log
check "server starts" start_server "$D" --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
VKEY=$(cat "$D/verifier.key")

cat >"$TMP/tlog.py" <<'PY'
# Independent RFC 6962 / 9162 verification and C2SP signed-note checking.
import base64, hashlib, json, os, subprocess, sys, tempfile

def H(b): return hashlib.sha256(b).digest()
def leaf(e): return H(b"\x00" + e)
def node(l, r): return H(b"\x01" + l + r)

def verify_inclusion(idx, size, lh, proof, root):
    if idx >= size: return False
    fn, sn, r = idx, size - 1, lh
    for p in proof:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1; sn >>= 1
                    if fn & 1 or fn == 0: break
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root

def verify_consistency(m, n, r1, r2, proof):
    if m == n: return not proof and r1 == r2
    if m == 0: return not proof
    if m & (m - 1) == 0: proof = [r1] + proof
    if not proof: return False
    fn, sn = m - 1, n - 1
    while fn & 1: fn >>= 1; sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr = node(c, fr); sr = node(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1; sn >>= 1
                    if fn & 1 or fn == 0: break
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return sn == 0 and fr == r1 and sr == r2

def open_note(note, vkey):
    """C2SP signed note: check the signature of the key in vkey with openssl;
    return the checkpoint (origin, size, root) or raise."""
    name, keyid_hex, kb64 = vkey.strip().split("+", 2)
    kb = base64.b64decode(kb64)
    assert kb[0] == 1 and len(kb) == 33, "not an Ed25519 verifier key"
    pub = kb[1:]
    keyid = H(name.encode() + b"\n" + b"\x01" + pub)[:4]
    assert keyid.hex() == keyid_hex, "key id does not match the key"
    text, sep, sigs = note.partition("\n\n")
    assert sep, "no signature block"
    text += "\n"
    good = False
    for line in sigs.splitlines():
        assert line.startswith("\u2014 "), "bad signature line"
        n, s = line[2:].split(" ")
        raw = base64.b64decode(s)
        if n != name or raw[:4] != keyid: continue
        with tempfile.TemporaryDirectory() as d:
            der = bytes.fromhex("302a300506032b6570032100") + pub
            pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n"
            open(d + "/pub.pem", "w").write(pem)
            open(d + "/msg", "wb").write(text.encode())
            open(d + "/sig", "wb").write(raw[4:])
            r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", d + "/pub.pem",
                                "-rawin", "-in", d + "/msg", "-sigfile", d + "/sig"],
                               capture_output=True)
            if r.returncode != 0: raise AssertionError("signature does not verify")
            good = True
    assert good, "not signed by the verifier key"
    origin, size, root = text.split("\n")[:3]
    assert origin == name
    return origin, int(size), base64.b64decode(root)

def b64(s): return base64.b64decode(s)

cmd = sys.argv[1]
vkey = open(sys.argv[3]).read() if len(sys.argv) > 3 else None
if cmd == "inclusion":
    r = json.load(open(sys.argv[2]))
    origin, size, root = open_note(r["checkpoint"], vkey)
    entry = b64(r["entry_b64"])
    assert json.loads(entry) == r["entry"], "entry and entry_b64 differ"
    assert leaf(entry) == b64(r["leaf_hash"]), "leaf hash is not SHA-256(0x00 || entry)"
    assert size == r["tree_size"], "tree_size differs from the checkpoint's"
    ok = verify_inclusion(r["index"], size, leaf(entry), [b64(p) for p in r["proof"]], root)
    sys.exit(0 if ok else 1)
if cmd == "consistency":
    r = json.load(open(sys.argv[2]))
    _, s1, r1 = open_note(r["old_checkpoint"], vkey)
    _, s2, r2 = open_note(r["new_checkpoint"], vkey)
    assert (s1, s2) == (r["old"], r["new"])
    sys.exit(0 if verify_consistency(s1, s2, r1, r2, [b64(p) for p in r["proof"]]) else 1)
if cmd == "note":
    print(open_note(open(sys.argv[2]).read(), vkey)[1])
    sys.exit(0)
if cmd == "tiles":
    # every tile a client needs for a tree of size N (C2SP tlog-tiles)
    N = int(sys.argv[2])
    def enc(n):
        s = "%d" % n
        s = "0" * (-len(s) % 3) + s
        g = [s[i:i + 3] for i in range(0, len(s), 3)]
        return "/".join(["x" + x for x in g[:-1]] + [g[-1]])
    out, level = [], 0
    while (N >> (8 * level)) > 0:
        count = N >> (8 * level)
        for kind in (["entries", str(level)] if level == 0 else [str(level)]):
            for n in range(count // 256):
                out.append("tile/%s/%s" % (kind, enc(n)))
            if count % 256:
                out.append("tile/%s/%s.p/%d" % (kind, enc(count // 256), count % 256))
        level += 1
    print("\n".join(out))
PY
printf '%s\n' "$VKEY" >"$TMP/vkey"
tl() { python3 "$TMP/tlog.py" "$@"; }

# ---------------------------------------------------------------- content
# 300 events: level-0 tiles and bundles get a full tile, level 1 appears.
python3 -c '
import json
print(json.dumps([{"id": "p-%d" % i, "time": "2024-01-01T00:00:00Z", "actor": {"id": "u%d" % (i % 7)},
  "action": "doc.read", "outcome": "success", "source": {"ip": "10.0.0.%d" % (i % 250)},
  "details": {"n": i, "text": "caf\u00e9 \"quoted\" <%d>" % i}} for i in range(300)]))' >"$TMP/batch.json"
check_eq "300 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/batch.json")"
first=$(jq '.indexes[0]' "$TMP/resp")
sleep 0.3
check_eq "GET /log/checkpoint: 200" 200 "$(req GET /log/checkpoint "$AUD")"
cp "$TMP/resp" "$TMP/cp1"
check_eq "checkpoint is text/plain" 1 "$(grep -ci '^Content-Type: text/plain; charset=utf-8' "$TMP/resp.h")"
A=$(tl note "$TMP/cp1" "$TMP/vkey") && ok "checkpoint signature verifies with openssl (size $A)" || not_ok "checkpoint signature verifies with openssl"
sed 's/^\([0-9]*\)$/1\1/' "$TMP/cp1" >"$TMP/cp1.bad"
check_fails "an edited checkpoint does not verify" tl note "$TMP/cp1.bad" "$TMP/vkey"

# ---------------------------------------------------------------- inclusion
size=$(tree_size)
for i in 0 1 $first 255 256 257 $((first + 123)) $((first + 299)) $((size - 1)); do
	check_eq "GET /v1/events/$i: 200" 200 "$(req GET "/v1/events/$i" "$AUD")"
	check_eq "  reply shape" '["checkpoint","entry","entry_b64","index","leaf_hash","proof","tree_size"]' "$(jq -c keys "$TMP/resp")"
	cp "$TMP/resp" "$TMP/incl.$i"
	check "  entry $i: inclusion proof and checkpoint verify independently" tl inclusion "$TMP/incl.$i" "$TMP/vkey"
done
# The last entry was not covered by a checkpoint yet: the server signed one.
check_eq "newest entry: proven against a checkpoint that covers it" 1 \
	"$([ "$(jq .tree_size "$TMP/incl.$((size - 1))")" -ge "$size" ] && echo 1)"
i=$((first + 123))
check_eq "the entry is the one we sent" 123 "$(jq '.entry.details.n' "$TMP/incl.$i")"
jq '.proof[0] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="' "$TMP/incl.$i" >"$TMP/bad1"
check_fails "a changed proof hash is rejected" tl inclusion "$TMP/bad1" "$TMP/vkey"
jq '.index += 1' "$TMP/incl.$i" >"$TMP/bad2"
check_fails "the proof does not fit another index" tl inclusion "$TMP/bad2" "$TMP/vkey"
jq '.entry_b64 = (.entry_b64 | @base64d | sub("caf"; "cab") | @base64) | .entry.details.text |= sub("caf"; "cab")' "$TMP/incl.$i" >"$TMP/bad3"
check_fails "an edited entry is rejected" tl inclusion "$TMP/bad3" "$TMP/vkey"
jq '.proof |= .[:-1]' "$TMP/incl.$i" >"$TMP/bad4"
check_fails "a shortened proof is rejected" tl inclusion "$TMP/bad4" "$TMP/vkey"
check_eq "index = tree size: 404" 404 "$(req GET "/v1/events/$((size + 1000))" "$AUD")"
check_eq "non-numeric index: 400" 400 "$(req GET "/v1/events/abc" "$AUD")"
check_eq "negative index: 400" 400 "$(req GET "/v1/events/-1" "$AUD")"
check_eq "index with a sign: 400" 400 "$(req GET "/v1/events/+1" "$AUD")"
check_eq "index too large for 64 bits: 400" 400 "$(req GET "/v1/events/99999999999999999999999" "$AUD")"
check_eq "a parameter on /v1/events/{i}: 400" 400 "$(req GET "/v1/events/1?x=1" "$AUD")"

# ---------------------------------------------------------------- consistency
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev c1))"
sleep 0.3
req GET /log/checkpoint "$AUD" >/dev/null; cp "$TMP/resp" "$TMP/cp2"
B=$(tl note "$TMP/cp2" "$TMP/vkey")
check_eq "GET /v1/proof/consistency?old=$A&new=$B: 200" 200 "$(req GET "/v1/proof/consistency?old=$A&new=$B" "$AUD")"
check_eq "reply has old, new, proof" '[1,1,1]' "$(jq -c "[.old==$A, .new==$B, (.proof|type==\"array\")] | map(if . then 1 else 0 end)" "$TMP/resp")"
check_eq "old_checkpoint is the checkpoint we saw" "$(cat "$TMP/cp1")" "$(jq -r .old_checkpoint "$TMP/resp")"
cp "$TMP/resp" "$TMP/cons"
check "consistency $A -> $B verifies independently" tl consistency "$TMP/cons" "$TMP/vkey"
jq '.proof[0] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="' "$TMP/cons" >"$TMP/cons.bad"
check_fails "a changed consistency proof is rejected" tl consistency "$TMP/cons.bad" "$TMP/vkey"
# Every pair from a sample of the sizes the log has signed.
sizes=$(ls "$D/checkpoints" | grep -x '[0-9]*' | sed 's/^0*\([0-9]\)/\1/' | sort -n | awk 'NR % 3 == 1' | head -8)
pairs=0; bad=0
for a in $sizes; do for b in $sizes; do
	[ "$a" -le "$b" ] || continue
	if [ "$(req GET "/v1/proof/consistency?old=$a&new=$b" "$AUD")" != 200 ] ||
	   ! tl consistency "$TMP/resp" "$TMP/vkey"; then bad=$((bad + 1)); echo "# pair $a $b fails"; fi
	pairs=$((pairs + 1))
done; done
check_eq "all $pairs pairs of signed sizes verify" 0 "$bad"
check_eq "size never signed: 404" 404 "$(req GET "/v1/proof/consistency?old=1&new=$((B + 100000))" "$AUD")"
check_eq "old > new: 400" 400 "$(req GET "/v1/proof/consistency?old=$B&new=$A" "$AUD")"
check_eq "bad number: 400" 400 "$(req GET "/v1/proof/consistency?old=x&new=$A" "$AUD")"
check_eq "missing new: 400" 400 "$(req GET "/v1/proof/consistency?old=$A" "$AUD")"
check_eq "unknown parameter: 400" 400 "$(req GET "/v1/proof/consistency?old=1&new=$A&x=1" "$AUD")"
check_eq "old=new: empty proof" 0 "$(req GET "/v1/proof/consistency?old=$A&new=$A" "$AUD" >/dev/null; jq '.proof|length' "$TMP/resp")"

# ---------------------------------------------------------------- C2SP tile paths
C=$TMP/client
mkdir -p "$C"
req GET /log/checkpoint "$AUD" >/dev/null; cp "$TMP/resp" "$C/checkpoint"
N=$(tl note "$C/checkpoint" "$TMP/vkey")
missing=0; fetched=0
for p in $(tl tiles "$N"); do
	mkdir -p "$C/$(dirname "$p")"
	code=$(curl -s -o "$C/$p" -w '%{http_code}' -H "Authorization: Bearer $AUD" "$SRV_URL/log/$p")
	if [ "$code" = 404 ] && [ "${p%.p/*}" != "$p" ]; then
		# a log may drop a partial tile once the full one exists: use that
		full=${p%.p/*}; rm -f "$C/$p"
		code=$(curl -s -o "$C/$full" -w '%{http_code}' -H "Authorization: Bearer $AUD" "$SRV_URL/log/$full")
	fi
	[ "$code" = 200 ] && fetched=$((fetched + 1)) || { missing=$((missing + 1)); echo "# $p: $code"; }
done
check_eq "every tile for size $N fetched over HTTP ($fetched)" 0 "$missing"
check "logseal verify --tiles checks the fetched copy" "$LOGSEAL" verify --tiles "$C" --key "$D/verifier.key"
check_eq "a tile is application/octet-stream" 1 "$(req GET /log/tile/0/000 "$AUD" >/dev/null; grep -ci '^Content-Type: application/octet-stream' "$TMP/resp.h")"
check_eq "a full tile is 8192 bytes" 8192 "$(stat -c %s "$TMP/resp")"
check_eq "a tile is cacheable privately" 1 "$(grep -ci '^Cache-Control: private' "$TMP/resp.h")"
cmp -s "$TMP/resp" "$D/log/tile/0/000" && ok "tile bytes are the file's bytes" || not_ok "tile bytes are the file's bytes"
check_eq "entry bundle 000: 200" 200 "$(req GET /log/tile/entries/000 "$AUD")"
cmp -s "$TMP/resp" <("$TESTBIN/journalcat" "$D" bundle 0 256) && ok "bundle bytes are the file's bytes" || not_ok "bundle bytes are the file's bytes"
check_eq "a tile that does not exist: 404" 404 "$(req GET /log/tile/0/x001/000 "$AUD")"
for p in "tile/0/0" "tile/0/000.p/0" "tile/0/000.p/256" "tile/0/../../keys/log.key" "tile/0/000/" "tile/64/000" "tile/entries/abc" "checkpoint.bak"; do
	check_eq "not a tile path ($p): 404" 404 "$(req GET "/log/$p" "$AUD")"
done
# A copy with one byte changed in an entry bundle fails verification.
cp -r "$C" "$TMP/client2"
printf 'X' | dd of="$TMP/client2/tile/entries/000" bs=1 seek=100 conv=notrunc 2>/dev/null
check_fails "verify --tiles rejects an edited bundle" "$LOGSEAL" verify --tiles "$TMP/client2" --key "$D/verifier.key"

stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
