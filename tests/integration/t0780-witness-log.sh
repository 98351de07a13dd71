#!/bin/bash
# Witness cosigning, log side (issue 17; docs/WITNESS.md "Cosigning"):
# `serve --witness URL=VKEY` against two witnesses on loopback, logseal's own
# (`logseal witness serve`) and the independent Python one
# (tests/witness/witness.py): quorum met, /log/checkpoint and
# /v1/checkpoints/<size> carry cosignatures that a verifier written here from
# the C2SP texts (tlog-cosignature, signed-note; PyNaCl) accepts, the export
# bundle carries them too; 2 of 2 with one witness down -> after
# --witness-alert-s the integrity view, the metric and the event
# logseal.witness.quorum_lost say so; 1 of 2 stays met; a witness that is
# ahead of the log's idea of it answers 409 and the log resyncs; a data
# directory restored from an older copy is caught on start (the witness's
# 409 shows a larger tree: refused to publish, /readyz says why); and
# consistency proofs for arbitrary sizes check against roots computed here
# from the leaf hashes.
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
# Independent checks, written from the specifications (c2sp.org/signed-note,
# c2sp.org/tlog-cosignature; RFC 6962 / 9162 for the proofs).
import base64, hashlib, json, sys
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

cmd = sys.argv[1]
if cmd == "cosigs":         # cosigs NOTEFILE LOGVKEY WVKEY...: number of valid cosignatures
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

WPY=$(cd "$(dirname "$0")/.." && pwd)/witness/witness.py
ORIGIN=witlog.test/log
HASH=$(printf %s "$ORIGIN" | sha256sum | cut -d' ' -f1)
# start_witness N: witness 1 is logseal's (`logseal witness serve`), witness 2
# the Python one; each on its own port (free the first time, the same after).
start_witness() {
	local n=$1 port
	eval "port=\${W${n}_PORT:-}"
	[ -n "$port" ] || { port=$(free_port); eval "W${n}_PORT=$port"; }
	if [ "$n" = 1 ]; then
		"$LOGSEAL" witness serve --data "$TMP/w1" --listen "127.0.0.1:$port" \
			--log "$ORIGIN=$LOGVKEY" >>"$TMP/w1.out" 2>>"$TMP/w1.err" &
	else
		"$PY" "$WPY" serve --data "$TMP/w2" --listen "127.0.0.1:$port" \
			--log "$ORIGIN=$LOGVKEY" >>"$TMP/w2.out" 2>>"$TMP/w2.err" &
	fi
	eval "W${n}_PID=$!"
	SERVER_PIDS="$SERVER_PIDS $!"
	eval "W${n}_URL=http://127.0.0.1:$port"
	for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0; sleep 0.1; done
	return 1
}
stop_witness() { local pid; eval "pid=\$W${1}_PID"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
# wsize N: the size witness N last cosigned (its monitoring checkpoint).
wsize() { local u; eval "u=\$W${1}_URL"; curl -s --max-time 5 "$u/$HASH/checkpoint" | sed -n 2p; }
# until SECONDS CMD...: retry CMD every 0.2 s.
until_ok() { local t=$1; shift; for _ in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
integ() { req GET /v1/integrity "$AUD" >/dev/null && jq -r "$1" "$TMP/resp"; }

check "init" "$LOGSEAL" init --data "$D" --origin "$ORIGIN"
LOGVKEY=$(cat "$D/verifier.key")
VK1=$("$LOGSEAL" witness init --data "$TMP/w1" --name witness1.test/w)
VK2=$("$PY" "$WPY" keygen --data "$TMP/w2" --name witness2.test/w)
check "logseal's witness starts" start_witness 1
check "the Python witness starts" start_witness 2
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
check_eq "a cosignature by another key counts for nothing" 0 "$("$PY" "$TMP/wit.py" cosigs "$TMP/resp" "$LOGVKEY" "$("$PY" "$WPY" keygen --data "$TMP/w3" --name witness1.test/w)")"
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
check "the Python witness restarts" start_witness 2
W2_STATE_BEFORE=""
for _ in $(seq 50); do W2_STATE_BEFORE=$(wsize 2); [ -n "$W2_STATE_BEFORE" ] && break; sleep 0.1; done
: >>"$TMP/w2/refusals.log"; R_BEFORE=$(grep -c '^409 ' "$TMP/w2/refusals.log")
check "server stops" stop_server
check "restart with both witnesses (witness 2 is behind, its size unknown to the log)" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}"
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev back))"
both_again() { cosigned_both; }
check "witness 2 catches up: both cosign again" until_ok 15 both_again
check "witness 2 answered 409 first (old 0 against its size $W2_STATE_BEFORE)" test "$(grep -c '^409 ' "$TMP/w2/refusals.log")" -gt "$R_BEFORE"
# (its monitoring endpoint read again until it answers: a reply can be
# missed while the witness is busy with the log's requests)
w2_beyond() { local s; s=$(wsize 2); [ -n "$s" ] && [ -n "$W2_STATE_BEFORE" ] && [ "$s" -gt "$W2_STATE_BEFORE" ]; }
check "... then cosigned beyond it after the resync" until_ok 10 w2_beyond
check_eq "integrity: quorum met again" true "$(integ .witnesses.quorum_met)"

# ------------------------------------------------------------ rollback on start
check "server stops" stop_server
cp -a "$D" "$TMP/old"
OLD=$(sed -n 2p "$D/log/checkpoint")
check "server starts again" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}"
for i in $(seq 1 10); do req POST /v1/events "$W" $J <(ev "after$i") >/dev/null; done
larger() { cosigned_both && [ "$(sed -n 2p "$TMP/cp")" -gt "$OLD" ] && [ "$(wsize 1)" -gt "$OLD" ] && [ "$(wsize 2)" -gt "$OLD" ]; }
check "the witnesses cosign a larger tree than the copy's ($OLD)" until_ok 15 larger
check "server stops" stop_server
rm -rf "$D"; mv "$TMP/old" "$D"
check "the old copy is restored; the server starts" start_server "$D" --checkpoint-interval 100 "${WOPTS[@]}"
notready() { [ "$(curl -s -o "$TMP/ready" -w '%{http_code}' "$SRV_URL/readyz")" = 503 ] && grep -q rollback "$TMP/ready"; }
check "/readyz: not ready, the reason says rollback" until_ok 10 notready
check "... and names the witness's larger size" grep -q "larger than its latest checkpoint ($OLD)" "$TMP/ready"
check_eq "integrity: state rollback, refusing to publish" "rollback true" "$(integ '"\(.witnesses.state) \(.witnesses.refusing_to_publish)"')"
check "the server's log says why" grep -q "REFUSING TO PUBLISH: rollback" "$SRV_ERR"
W1_SIZE=$(wsize 1)
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev late))"
sleep 1
check_eq "nothing more is sent to the witnesses (witness 1 stays at $W1_SIZE)" "$W1_SIZE" "$(wsize 1)"
check_eq "metrics: logseal_witness_rollback 1" "logseal_witness_rollback 1" "$(req GET /metrics "$AUD" >/dev/null; grep '^logseal_witness_rollback' "$TMP/resp")"
check "the event logseal.witness.rollback is in the log" test "$(req GET "/v1/events?action=logseal.witness.rollback" "$AUD" >/dev/null; jq '.events | length' "$TMP/resp")" -ge 1
check "server stops" stop_server
done_testing
