#!/bin/bash
# Witness cosigning, log side (issue 17; docs/WITNESS.md "Cosigning"):
# `serve --witness URL=VKEY` against two witnesses on loopback, written here
# from the C2SP texts (tlog-witness, tlog-cosignature) with PyNaCl and no
# code of logseal's: quorum met, /log/checkpoint and /v1/checkpoints/<size>
# carry cosignatures an independent verifier (below) accepts, the export
# bundle carries them too; 2 of 2 with one witness down -> after
# --witness-alert-s the integrity view, the metric and the event
# logseal.witness.quorum_lost say so; 1 of 2 stays met; a witness that is
# ahead of the log's idea of it answers 409 and the log resyncs; a data
# directory restored from an older copy is caught on start (the witness's
# 409 shows a larger tree: refused to publish, /readyz says why); and
# consistency proofs for arbitrary sizes check against roots computed here
# from the leaf hashes.
#
# Until logseal's own `logseal witness serve` and tests/witness/witness.py
# land (fix/witsrv), both witnesses are the minimal one in this file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
PY=""
for p in /usr/bin/python3 python3; do
	"$p" -c 'import nacl.signing' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ]; then
	skip "witness cosigning" "python3-nacl is not installed (scripts/deps.sh installs it)"
	done_testing; exit
fi
D=$TMP/data
J=application/json

cat >"$TMP/wit.py" <<'PY'
# A minimal C2SP tlog-witness (add-checkpoint) and cosignature/v1 verifier,
# written from the specifications: c2sp.org/tlog-witness,
# c2sp.org/tlog-cosignature, c2sp.org/signed-note.
import base64, hashlib, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import nacl.signing, nacl.exceptions

def H(b): return hashlib.sha256(b).digest()
def node(l, r): return H(b"\x01" + l + r)
DASH = "\u2014 "

def mth(leaves):
    n = len(leaves)
    if n == 0: return H(b"")
    if n == 1: return leaves[0]
    k = 1
    while k * 2 < n: k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))

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

def parse_vkey(vkey, alg):
    name, kid, kb64 = vkey.strip().split("+", 2)
    kb = base64.b64decode(kb64)
    assert kb[0] == alg and len(kb) == 33
    pub = kb[1:]
    assert H(name.encode() + b"\n" + bytes([alg]) + pub)[:4].hex() == kid
    return name, bytes.fromhex(kid), pub

def split_note(note):
    text, sep, sigs = note.partition("\n\n")
    assert sep
    return text + "\n", [l for l in sigs.split("\n") if l]

def log_sig_ok(note, vkey):
    name, kid, pub = parse_vkey(vkey, 1)
    text, lines = split_note(note)
    ok = False
    for l in lines:
        assert l.startswith(DASH)
        n, s = l[len(DASH):].split(" ")
        raw = base64.b64decode(s)
        if n != name or raw[:4] != kid: continue
        nacl.signing.VerifyKey(pub).verify(text.encode(), raw[4:])
        ok = True
    return ok

def cosig_ok(note, vkey):
    """The time of a valid cosignature/v1 by vkey on the note, else None."""
    name, kid, pub = parse_vkey(vkey, 4)
    text, lines = split_note(note)
    for l in lines:
        n, s = l[len(DASH):].split(" ")
        raw = base64.b64decode(s)
        if n != name or raw[:4] != kid or len(raw) != 76: continue
        ts = int.from_bytes(raw[4:12], "big")
        msg = b"cosignature/v1\ntime %d\n" % ts + text.encode()
        try:
            nacl.signing.VerifyKey(pub).verify(msg, raw[12:])
            return ts
        except nacl.exceptions.BadSignatureError:
            return None
    return None

def keygen(name):
    sk = nacl.signing.SigningKey.generate()
    pub = bytes(sk.verify_key)
    kid = H(name.encode() + b"\n\x04" + pub)[:4]
    return bytes(sk).hex(), "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x04" + pub).decode())

class Witness(BaseHTTPRequestHandler):
    lock = threading.Lock()
    def log_message(self, *a): pass
    def reply(self, code, body=b"", ctype="text/plain"):
        with open(self.server.cfg["reqlog"], "a") as f: f.write("%d\n" % code)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        cfg = self.server.cfg
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self.path != "/add-checkpoint": return self.reply(404)
        head, sep, note = body.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "): return self.reply(400)
        old = int(lines[0][4:])
        proof = [base64.b64decode(l) for l in lines[1:]]
        text, _ = split_note(note)
        origin, size, root = text.split("\n")[:3]
        size = int(size); root = base64.b64decode(root)
        if origin != cfg["origin"]: return self.reply(404)
        try:
            if not log_sig_ok(note, cfg["logkey"]): return self.reply(403)
        except Exception:
            return self.reply(403)
        if old > size: return self.reply(400)
        with Witness.lock:
            st = json.load(open(cfg["state"])) if os.path.exists(cfg["state"]) else {"size": 0, "root": ""}
            if old != st["size"]:
                return self.reply(409, b"%d\n" % st["size"], "text/x.tlog.size")
            if old == 0:
                if proof: return self.reply(422)
            elif old == size:
                if base64.b64decode(st["root"]) != root: return self.reply(422)
            elif not verify_consistency(old, size, base64.b64decode(st["root"]), root, proof):
                return self.reply(422)
            tmp = cfg["state"] + ".tmp"
            json.dump({"size": size, "root": base64.b64encode(root).decode()}, open(tmp, "w"))
            os.replace(tmp, cfg["state"])
        sk = nacl.signing.SigningKey(bytes.fromhex(cfg["seed"]))
        ts = int(time.time())
        sig = sk.sign(b"cosignature/v1\ntime %d\n" % ts + text.encode()).signature
        kid = H(cfg["name"].encode() + b"\n\x04" + bytes(sk.verify_key))[:4]
        line = "%s%s %s\n" % (DASH, cfg["name"], base64.b64encode(kid + ts.to_bytes(8, "big") + sig).decode())
        self.reply(200, line.encode())

cmd = sys.argv[1]
if cmd == "keygen":           # keygen NAME -> seedhex on line 1, vkey on line 2
    s, v = keygen(sys.argv[2]); print(s); print(v)
elif cmd == "serve":          # serve CFG.json PORTFILE PORT
    cfg = json.load(open(sys.argv[2]))
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[4])), Witness)
    srv.cfg = cfg
    open(sys.argv[3] + ".tmp", "w").write(str(srv.server_address[1]))
    os.replace(sys.argv[3] + ".tmp", sys.argv[3])
    srv.serve_forever()
elif cmd == "cosigs":         # cosigs NOTEFILE LOGVKEY WVKEY...: number of valid cosignatures
    note = open(sys.argv[2]).read()
    assert log_sig_ok(note, sys.argv[3]), "log signature"
    print(sum(1 for v in sys.argv[4:] if cosig_ok(note, v) is not None))
elif cmd == "consistency":    # consistency RESP.json LEAVES.bin
    r = json.load(open(sys.argv[2]))
    data = open(sys.argv[3], "rb").read()
    leaves = [data[i:i + 32] for i in range(0, len(data), 32)]
    a, b = r["old"], r["new"]
    ra, rb = mth(leaves[:a]), mth(leaves[:b])
    assert base64.b64decode(r["old_root"]) == ra, "old_root"
    assert base64.b64decode(r["new_root"]) == rb, "new_root"
    assert verify_consistency(a, b, ra, rb, [base64.b64decode(p) for p in r["proof"]]), "proof"
elif cmd == "root":           # root LEAVES.bin N
    data = open(sys.argv[2], "rb").read()
    leaves = [data[i:i + 32] for i in range(0, len(data), 32)][:int(sys.argv[3])]
    print(base64.b64encode(mth(leaves)).decode())
PY

# start_witness N: witness N (w1, w2) on its port (a free one the first
# time, the same one after); its URL in W<N>_URL.
start_witness() {
	local n=$1 port
	eval "port=\${W${n}_PORT:-}"
	[ -n "$port" ] || { port=$(free_port); eval "W${n}_PORT=$port"; }
	rm -f "$TMP/w$n.port"
	"$PY" "$TMP/wit.py" serve "$TMP/w$n.json" "$TMP/w$n.port" "$port" 2>>"$TMP/w$n.err" &
	eval "W${n}_PID=$!"
	SERVER_PIDS="$SERVER_PIDS $!"
	for _ in $(seq 1 50); do [ -s "$TMP/w$n.port" ] && break; sleep 0.1; done
	eval "W${n}_URL=http://127.0.0.1:$(cat "$TMP/w$n.port")"
}
stop_witness() { local pid; eval "pid=\$W${1}_PID"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
# until SECONDS CMD...: retry CMD every 0.2 s.
until_ok() { local t=$1; shift; for _ in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
integ() { req GET /v1/integrity "$AUD" >/dev/null && jq -r "$1" "$TMP/resp"; }

check "init" "$LOGSEAL" init --data "$D" --origin witlog.test/log
LOGVKEY=$(cat "$D/verifier.key")
for n in 1 2; do
	"$PY" "$TMP/wit.py" keygen "witness$n.test/w" >"$TMP/w$n.keys"
	jq -n --arg seed "$(sed -n 1p "$TMP/w$n.keys")" --arg name "witness$n.test/w" \
		--arg logkey "$LOGVKEY" --arg state "$TMP/w$n.state" --arg reqlog "$TMP/w$n.reqs" \
		'{seed:$seed, name:$name, origin:"witlog.test/log", logkey:$logkey, state:$state, reqlog:$reqlog}' >"$TMP/w$n.json"
	eval "VK$n='$(sed -n 2p "$TMP/w$n.keys")'"
	start_witness $n
done
WOPTS=(--witness "$W1_URL=$VK1" --witness "$W2_URL=$VK2" --witness-interval-ms 100 --witness-alert-s 2)
check "server starts with two witnesses" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
for i in $(seq 1 20); do ev "e$i" >>"$TMP/batch.ndjson"; echo >>"$TMP/batch.ndjson"; done
check_eq "20 events: 200" 200 "$(req POST /v1/events "$W" application/x-ndjson "$TMP/batch.ndjson")"

# ------------------------------------------------------------ cosigned checkpoint
cosigned_both() {
	req GET /log/checkpoint "$AUD" >/dev/null && cp "$TMP/resp" "$TMP/cp" &&
	[ "$("$PY" "$TMP/wit.py" cosigs "$TMP/cp" "$LOGVKEY" "$VK1" "$VK2")" = 2 ]
}
check "/log/checkpoint carries both witnesses' cosignatures, verified here" until_ok 15 cosigned_both
SIZE=$(sed -n 2p "$TMP/cp")
check_eq "the cosigned copy is stored: DIR/cosigned/<size>" yes "$(test -f "$D/cosigned/$(printf %020d "$SIZE")" && echo yes)"
check_eq "GET /v1/checkpoints/$SIZE: 200" 200 "$(req GET "/v1/checkpoints/$SIZE" "$AUD")"
check_eq "... with 2 cosignatures that verify" 2 "$("$PY" "$TMP/wit.py" cosigs "$TMP/resp" "$LOGVKEY" "$VK1" "$VK2")"
check_eq "a cosignature by another key counts for nothing" 0 "$("$PY" "$TMP/wit.py" cosigs "$TMP/resp" "$LOGVKEY" "$("$PY" "$TMP/wit.py" keygen witness1.test/w | sed -n 2p)")"
check_eq "GET /v1/checkpoints lists $SIZE as cosigned" true "$(req GET "/v1/checkpoints?limit=1000" "$AUD" >/dev/null; jq ".checkpoints[] | select(.size == $SIZE) | .cosigned" "$TMP/resp")"
check_eq "the list starts at the empty tree, sizes increasing" true "$(jq '[.checkpoints[].size] | (.[0] == 0) and (. == sort)' "$TMP/resp")"
check_eq "paging: limit=2 gives next" 2 "$(req GET "/v1/checkpoints?limit=2" "$AUD" >/dev/null; jq '.checkpoints | length' "$TMP/resp")"
NEXT=$(jq .next "$TMP/resp")
check_eq "next page starts at next" true "$(req GET "/v1/checkpoints?from=$NEXT&limit=2" "$AUD" >/dev/null; jq ".checkpoints[0].size >= $NEXT" "$TMP/resp")"
check_eq "an unsigned size: 404" 404 "$(req GET "/v1/checkpoints/999999" "$AUD")"
check_eq "a bad size: 400" 400 "$(req GET "/v1/checkpoints/x1" "$AUD")"
check_eq "integrity: quorum met" true "$(integ .witnesses.quorum_met)"
check_eq "integrity: 2 witnesses, state ok" "2 ok" "$(integ '"\(.witnesses.witnesses | length) \(.witnesses.state)"')"
check "integrity: each witness's cosigned size and age" test "$(jq '[.witnesses.witnesses[] | select(.cosigned_size >= 1 and .age_seconds >= 0 and .age_seconds < 60)] | length' "$TMP/resp")" = 2
check_eq "metrics: cosigned size of each witness" 2 "$(req GET /metrics "$AUD" >/dev/null; grep -c '^logseal_witness_cosigned_size{witness="witness[12].test/w"} [1-9]' "$TMP/resp")"
check_eq "metrics: quorum met" "logseal_witness_quorum_met 1" "$(grep '^logseal_witness_quorum_met' "$TMP/resp")"
check "metrics: failures and age are there" grep -q '^logseal_witness_age_seconds{witness="witness1.test/w"}' "$TMP/resp"
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts the witness families" promtool check metrics <"$TMP/resp"
else
	skip "promtool check metrics" "promtool is not installed"
fi
# Reads are audited (each one grows the log): wait, with unaudited polls,
# until the witnesses cosigned the latest size, then export.
idle_cosigned() {
	local n; n=$(tree_size)
	curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/metrics" >"$TMP/m" &&
	[ "$(grep -c "^logseal_witness_cosigned_size{witness=\"witness[12].test/w\"} $n\$" "$TMP/m")" = 2 ]
}
check "the witnesses cosign the latest size of an idle log" until_ok 15 idle_cosigned
check_eq "GET /v1/export: 200" 200 "$(req GET "/v1/export?action=doc.read" "$AUD")"
check_eq "export bundle: its checkpoint carries both cosignatures" true "$(head -1 "$TMP/resp" | jq '.checkpoint | contains("witness1.test/w") and contains("witness2.test/w")')"
check "verify-bundle accepts the bundle with the cosigned checkpoint" "$LOGSEAL" verify-bundle "$TMP/resp" --key "$D/verifier.key"
check "logseal verify accepts the data directory with cosigned checkpoints" "$LOGSEAL" verify --data "$D"

# ------------------------------------------------------------ consistency from any size
N=$(tree_size)
req GET /log/checkpoint "$AUD" >/dev/null; N=$(sed -n 2p "$TMP/resp")
check_eq "leaf hashes: /log/tile/0/000.p/$N" 200 "$(req GET "/log/tile/0/000.p/$N" "$AUD")"
cp "$TMP/resp" "$TMP/leaves.bin"
check_eq "the leaves give the signed root" "$(sed -n 3p "$TMP/cp")" "$("$PY" "$TMP/wit.py" root "$TMP/leaves.bin" "$SIZE")"
pairs=0; bad=0
for a in 0 1 2 3 5 7 8 9 13 16 17 $((N / 2)) $((N - 1)) $N; do for b in 1 2 4 6 7 8 11 16 19 21 $((N - 2)) $N; do
	[ "$a" -le "$b" ] && [ "$b" -le "$N" ] || continue
	if [ "$(req GET "/v1/proof/consistency?old=$a&new=$b" "$AUD")" != 200 ] ||
	   ! "$PY" "$TMP/wit.py" consistency "$TMP/resp" "$TMP/leaves.bin" 2>"$TMP/cons.err"; then
		bad=$((bad + 1)); echo "# pair $a $b fails: $(tail -1 "$TMP/cons.err")"
	fi
	pairs=$((pairs + 1))
done; done
check_eq "consistency proofs between $pairs pairs of sizes (most never signed) verify" 0 "$bad"
check_eq "beyond the log: 404" 404 "$(req GET "/v1/proof/consistency?old=1&new=$((N + 100000))" "$AUD")"

# ------------------------------------------------------------ k of n, one witness down
stop_witness 2
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev down1))"
lost() { [ "$(integ .witnesses.quorum_met)" = false ]; }
check "2 of 2 with one witness down: integrity says the quorum is not met (after --witness-alert-s 2)" until_ok 15 lost
check "integrity names the down witness's error" test "$(jq -r '.witnesses.witnesses[1].last_error | length > 0' "$TMP/resp")" = true
check_eq "metrics: quorum not met" "logseal_witness_quorum_met 0" "$(req GET /metrics "$AUD" >/dev/null; grep '^logseal_witness_quorum_met' "$TMP/resp")"
check "metrics: the down witness's failures count" grep -q '^logseal_witness_failures_total{witness="witness2.test/w"} [1-9]' "$TMP/resp"
qlost() { [ "$(req GET "/v1/events?action=logseal.witness.quorum_lost" "$AUD")" = 200 ] && [ "$(jq '.events | length' "$TMP/resp")" -ge 1 ]; }
check "the event logseal.witness.quorum_lost is in the log" until_ok 10 qlost
check_eq "... naming the policy" "2 2" "$(jq -r '.events[0].entry.details | "\(.quorum) \(.witnesses)"' "$TMP/resp")"
walert() { req GET /v1/alerts "$AUD" >/dev/null && [ "$(jq '[.alerts[] | select(.rule.id == "r_default_witness")] | length' "$TMP/resp")" -ge 1 ]; }
check "the built-in rule r_default_witness fired an alert" until_ok 10 walert
check "server stops" stop_server
check "restart with --witness-quorum 1 (witness 2 still down)" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}" --witness-quorum 1
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev down2))"
met1() { req POST /v1/events "$W" $J <(ev "m$RANDOM") >/dev/null; sleep 3; [ "$(integ .witnesses.quorum_met)" = true ]; }
check "1 of 2: the quorum is met with one witness down" met1
check_eq "witness 1 cosigned the latest checkpoint" true "$(jq '.witnesses.witnesses[0].cosigned_size == .checkpoint_tree_size or .witnesses.witnesses[0].cosigned_size >= .checkpoint_tree_size - 2' "$TMP/resp")"

# ------------------------------------------------------------ 409: a witness ahead of our idea of it
: >"$TMP/w2.reqs"
start_witness 2
W2_STATE_BEFORE=$(jq .size "$TMP/w2.state")
check "server stops" stop_server
check "restart with both witnesses (witness 2 is behind, its size unknown to the log)" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}"
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev back))"
both_again() { cosigned_both; }
check "witness 2 catches up: both cosign again" until_ok 15 both_again
check "witness 2 answered 409 first (old 0 against its size $W2_STATE_BEFORE), then 200 after the resync" grep -qx 409 "$TMP/w2.reqs"
check "... then 200" grep -qx 200 "$TMP/w2.reqs"
check_eq "integrity: quorum met again" true "$(integ .witnesses.quorum_met)"

# ------------------------------------------------------------ rollback on start
check "server stops" stop_server
cp -a "$D" "$TMP/old"
OLD=$(sed -n 2p "$D/log/checkpoint")
check "server starts again" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}"
for i in $(seq 1 10); do req POST /v1/events "$W" $J <(ev "after$i") >/dev/null; done
larger() { cosigned_both && [ "$(sed -n 2p "$TMP/cp")" -gt "$OLD" ] && [ "$(jq .size "$TMP/w1.state")" -gt "$OLD" ] && [ "$(jq .size "$TMP/w2.state")" -gt "$OLD" ]; }
check "the witnesses cosign a larger tree than the copy's ($OLD)" until_ok 15 larger
check "server stops" stop_server
rm -rf "$D"; mv "$TMP/old" "$D"
check "the old copy is restored; the server starts" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}"
notready() { [ "$(curl -s -o "$TMP/ready" -w '%{http_code}' "$SRV_URL/readyz")" = 503 ] && grep -q rollback "$TMP/ready"; }
check "/readyz: not ready, the reason says rollback" until_ok 10 notready
check "... and names the witness's larger size" grep -q "larger than its latest checkpoint ($OLD)" "$TMP/ready"
check_eq "integrity: state rollback, refusing to publish" "rollback true" "$(integ '"\(.witnesses.state) \(.witnesses.refusing_to_publish)"')"
check "the server's log says why" grep -q "REFUSING TO PUBLISH: rollback" "$SRV_ERR"
W1_SIZE=$(jq .size "$TMP/w1.state")
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev late))"
sleep 1
check_eq "nothing more is sent to the witnesses (witness 1 stays at $W1_SIZE)" "$W1_SIZE" "$(jq .size "$TMP/w1.state")"
check_eq "metrics: logseal_witness_rollback 1" "logseal_witness_rollback 1" "$(req GET /metrics "$AUD" >/dev/null; grep '^logseal_witness_rollback' "$TMP/resp")"
check "the event logseal.witness.rollback is in the log" test "$(req GET "/v1/events?action=logseal.witness.rollback" "$AUD" >/dev/null; jq '.events | length' "$TMP/resp")" -ge 1
check "server stops" stop_server
done_testing
