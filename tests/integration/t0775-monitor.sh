#!/bin/bash
# `logseal monitor` against a running logseal (/log/ with an auditor's token)
# and against static copies of it (directories): it follows honest growth,
# and catches a rewritten entry (--entries), tiles rewritten to match, a
# truncated log (an old copy of the data directory served again: rollback),
# a history re-signed with the real key (a copy of the log that went
# another way: fork), a bad or foreign signature, a stall, an unmet
# cosignature quorum; each with its documented exit status, and the JSON
# webhook (HMAC-signed) with the finding and the offending checkpoint.
# Loop mode ends on a fork.  A first poll can start from a checkpoint the
# auditor obtained another way (--trust-checkpoint) instead of trusting
# what it sees.
. "$(dirname "$0")/lib.sh"
ORIGIN=monitor.test/log
check "init A" "$LOGSEAL" init --data "$TMP/a" --origin $ORIGIN --no-encryption
cp -a "$TMP/a" "$TMP/b"		# same origin, same key, size 0
VKEY=$(cat "$TMP/a/verifier.key")

start_log() {	# start_log NAME DIR: NAME_URL NAME_PID NAME_W (writer) NAME_AUD (auditor)
	local name=$1 dir=$2 port pid adm w aud
	port=$(free_port)
	"$LOGSEAL" serve --data "$dir" --listen 127.0.0.1:$port --checkpoint-interval 50 \
		>>"$TMP/$name.out" 2>>"$TMP/$name.err" &
	pid=$!
	SERVER_PIDS="$SERVER_PIDS $pid"
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
	adm=$(cat "$dir/admin.token")
	w=$(curl -s -H "Authorization: Bearer $adm" -H 'Content-Type: application/json' \
		--data '{"role":"writer"}' "http://127.0.0.1:$port/v1/tokens" | jq -r .token)
	aud=$(curl -s -H "Authorization: Bearer $adm" -H 'Content-Type: application/json' \
		--data '{"role":"auditor"}' "http://127.0.0.1:$port/v1/tokens" | jq -r .token)
	eval "${name}_URL=http://127.0.0.1:$port ${name}_PID=$pid ${name}_W=$w ${name}_AUD=$aud"
}
stop_log() {	# stop_log PID
	kill -TERM "$1"; wait "$1" 2>/dev/null
}
add_events() {	# add_events URL TOKEN DIR N TAG: SIZE = the size after them, signed
	local url=$1 tok=$2 dir=$3 n=$4 tag=$5 i
	for i in $(seq "$n"); do
		printf '{"id":"%s-%d","time":"2024-05-06T07:08:09.123+02:00","actor":{"id":"bob","type":"user"},"action":"doc.%s","outcome":"success","source":{"ip":"192.0.2.9"},"resource":{"type":"doc","id":"%d"}}\n' "$tag" "$i" "$tag" "$i"
	done >"$TMP/ev.ndjson"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
		-H 'Content-Type: application/x-ndjson' --data-binary @"$TMP/ev.ndjson" "$url/v1/events")" = 200 ] ||
		return 1
	SIZE=$(curl -s "$url/healthz" | jq -r .tree_size)
	for _ in $(seq 100); do [ -f "$(cpf "$dir" "$SIZE")" ] && return 0; sleep 0.1; done
	return 1
}
cpf() { printf '%s/checkpoints/%020d' "$1" "$2"; }
# mirror URL DATADIR OUT SIZE: a static tlog-tiles copy of the log at SIZE
# (< 256): checkpoint and hash tile from the data directory, the entry
# bundle from the server.
mirror() {
	mkdir -p "$3/tile/0/000.p" "$3/tile/entries/000.p"
	cp "$(cpf "$2" "$4")" "$3/checkpoint" &&
	cp "$2/log/tile/0/000.p/$4" "$3/tile/0/000.p/$4" &&
	curl -sf -H "Authorization: Bearer $(cat "$2/admin.token")" \
		"$1/log/tile/entries/000.p/$4" -o "$3/tile/entries/000.p/$4"
}
# mon STATE LOG [options]: one poll; prints the exit status (output in $TMP/mon.out)
mon() {
	local st=$1 log=$2; shift 2
	"$LOGSEAL" monitor --once --key "$VKEY" --state "$st" --log "$log" "$@" >"$TMP/mon.out" 2>&1
	echo $?
}

# A webhook receiver that checks the HMAC.
"$TESTBIN/webhook_receiver" --port-file "$TMP/hook.port" --out "$TMP/hook.out" --secret s3cr3t \
	--lifetime 120 &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 50); do [ -s "$TMP/hook.port" ] && break; sleep 0.1; done
HOOK="http://127.0.0.1:$(cat "$TMP/hook.port")/hook"
HOOKOPTS=(--webhook "$HOOK" --webhook-secret s3cr3t)

# --- honest growth, over HTTP -------------------------------------------------------
start_log A "$TMP/a"
check "10 events in A" add_events "$A_URL" "$A_W" "$TMP/a" 10 a
ST=$TMP/live.json
check_eq "first poll over HTTP (auditor token): 0" 0 "$(mon "$ST" "$A_URL/log/" --token "$A_AUD" --entries)"
check "it trusted and recorded the checkpoint" grep -q '"size":' "$ST"
first=$(jq -r .size "$ST")
check "5 more in A" add_events "$A_URL" "$A_W" "$TMP/a" 5 a2
check_eq "next poll: 0" 0 "$(mon "$ST" "$A_URL/log/" --token "$A_AUD" --entries)"
check "the state grew" test "$(jq -r .size "$ST")" -gt "$first"
check "every new entry was checked" grep -q "verified" "$TMP/mon.out"
check_eq "no token: error (1), nothing judged" 1 "$(mon "$ST" "$A_URL/log/")"
check_eq "usage: no --key is 2" 2 "$("$LOGSEAL" monitor --once --state x --log y >/dev/null 2>&1; echo $?)"

# --- a rewritten entry ---------------------------------------------------------------------
S=$(jq -r .size "$ST")
for _ in $(seq 100); do [ -f "$(cpf "$TMP/a" "$S")" ] && break; sleep 0.1; done
check "mirror A at $S" mirror "$A_URL" "$TMP/a" "$TMP/m" "$S"
check_eq "the static copy verifies with --entries: 0" 0 "$(mon "$TMP/m.json" "$TMP/m" --entries)"
cp -a "$TMP/m" "$TMP/mx"
B=$TMP/mx/tile/entries/000.p/$S
python3 - "$B" >"$TMP/victim" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
# the first of our events after entry 2: "bob" becomes "eve" (same length)
o, k = 0, 0
while True:
    n = b[o] << 8 | b[o + 1]
    if k >= 3 and b"bob" in b[o + 2:o + 2 + n]:
        break
    o += 2 + n; k += 1
i = b.index(b"bob", o)
b[i:i + 3] = b"eve"
open(p, "wb").write(bytes(b))
print(k)
PY
V=$(cat "$TMP/victim")
check_eq "a rewritten entry: mismatch (7)" 7 "$(mon "$TMP/mx.json" "$TMP/mx" --entries "${HOOKOPTS[@]}")"
check "it names the entry" grep -q "entry $V does not hash to its leaf" "$TMP/mon.out"
check_eq "without --entries the copy's tiles still check: 0" 0 "$(mon "$TMP/mx2.json" "$TMP/mx")"
# The attacker rewrites the leaf hash in the tile too: the root no longer matches.
python3 - "$B" "$TMP/mx/tile/0/000.p/$S" "$V" <<'PY'
import hashlib, sys
b = open(sys.argv[1], "rb").read(); o = 0; ents = []; v = int(sys.argv[3])
while o < len(b):
    n = b[o] << 8 | b[o + 1]; ents.append(b[o + 2:o + 2 + n]); o += 2 + n
t = bytearray(open(sys.argv[2], "rb").read())
t[v * 32:(v + 1) * 32] = hashlib.sha256(b"\x00" + ents[v]).digest()
open(sys.argv[2], "wb").write(bytes(t))
PY
check_eq "entry and its tile rewritten: mismatch (7)" 7 "$(mon "$TMP/mx3.json" "$TMP/mx" --entries)"
check "the tiles do not give the signed root" grep -q "do not give the signed root" "$TMP/mon.out"

# --- a bad or foreign signature ---------------------------------------------------------------
cp -a "$TMP/m" "$TMP/ms"
awk '/^— / && !d { n=substr($3,12,1); r=(n=="A")?"B":"A"; $3=substr($3,1,11) r substr($3,13); d=1 } {print}' \
	"$TMP/m/checkpoint" >"$TMP/ms/checkpoint"
check "signature changed" bash -c "! cmp -s '$TMP/m/checkpoint' '$TMP/ms/checkpoint'"
check_eq "bad signature (3)" 3 "$(mon "$TMP/ms.json" "$TMP/ms" "${HOOKOPTS[@]}")"
check "init C (same origin, another key)" "$LOGSEAL" init --data "$TMP/c" --origin $ORIGIN --no-encryption
cp "$TMP/c/log/checkpoint" "$TMP/ms/checkpoint"
check_eq "signed by another key: bad signature (3)" 3 "$(mon "$TMP/ms.json" "$TMP/ms")"
check "the state was not created by a refused poll" test ! -e "$TMP/ms.json"

# --- cosignature policy ------------------------------------------------------------------------
W1=$("$LOGSEAL" witness init --data "$TMP/w1" --name monitor.test/w1)
check_eq "quorum 1 of 1 witness, none cosigned: policy (8)" 8 \
	"$(mon "$TMP/mp.json" "$TMP/m" --witness "$W1" --quorum 1)"
check_eq "--quorum above the witnesses listed is usage (2)" 2 \
	"$(mon "$TMP/mp.json" "$TMP/m" --witness "$W1" --quorum 2)"

# --- stall -------------------------------------------------------------------------------------------
check_eq "stall: first poll 0" 0 "$(mon "$TMP/stall.json" "$TMP/m" --stall 1)"
sleep 2.2
check_eq "no growth, no new checkpoint for 2 s with --stall 1: stall (6)" 6 \
	"$(mon "$TMP/stall.json" "$TMP/m" --stall 1 "${HOOKOPTS[@]}")"
check_eq "with --stall 60: 0" 0 "$(mon "$TMP/stall.json" "$TMP/m" --stall 60)"

# --- a truncated log: an old copy of the data directory served again ----------------------------------
stop_log "$A_PID"
cp -a "$TMP/a" "$TMP/a-old"
start_log A "$TMP/a"
check "20 more in A" add_events "$A_URL" "$A_W" "$TMP/a" 20 a3
check_eq "poll A: 0" 0 "$(mon "$ST" "$A_URL/log/" --token "$A_AUD")"
stop_log "$A_PID"
start_log O "$TMP/a-old"
check_eq "the restored old copy: rollback (4)" 4 "$(mon "$ST" "$O_URL/log/" --token "$O_AUD" "${HOOKOPTS[@]}")"
check "it says so" grep -q "smaller than the verified size" "$TMP/mon.out"
stop_log "$O_PID"

# --- a history re-signed with the real key --------------------------------------------------------------
start_log B "$TMP/b"
check "B: other events, past A's size" add_events "$B_URL" "$B_W" "$TMP/b" 120 b
check_eq "B's checkpoint verifies with A's key, but it is a fork (5)" 5 \
	"$(mon "$ST" "$B_URL/log/" --token "$B_AUD" "${HOOKOPTS[@]}")"
check "not an extension of the verified size" grep -q "not an extension of the verified size" "$TMP/mon.out"
check_eq "the state still holds A's checkpoint" "$ORIGIN" "$(jq -r .origin "$ST")"
check "after a finding the state is unchanged (fork again)" \
	test "$(mon "$ST" "$B_URL/log/" --token "$B_AUD")" = 5

# --- a first poll from a checkpoint obtained another way (no trust on first use) -----------------
APIN=$TMP/a/checkpoints/$(ls "$TMP/a/checkpoints" | sort | tail -1)
check_eq "without a state, a first poll of B trusts what it sees: 0" 0 \
	"$(mon "$TMP/tofu.json" "$B_URL/log/" --token "$B_AUD")"
check_eq "from A's checkpoint (--trust-checkpoint), the first poll of B: fork (5)" 5 \
	"$(mon "$TMP/pin1.json" "$B_URL/log/" --token "$B_AUD" --trust-checkpoint "$APIN")"
check "... not an extension of the trusted size" grep -q "not an extension of the verified size $((10#$(basename "$APIN")))" "$TMP/mon.out"
check "... and no state is written" test ! -e "$TMP/pin1.json"
check "init X (same origin, another key)" "$LOGSEAL" init --data "$TMP/x" --origin $ORIGIN --no-encryption
check_eq "a pinned checkpoint signed by another key: bad signature (3)" 3 \
	"$(mon "$TMP/pin2.json" "$B_URL/log/" --token "$B_AUD" --trust-checkpoint "$(cpf "$TMP/x" 0)")"
check "... says the trusted checkpoint is the problem" grep -q "the trusted checkpoint" "$TMP/mon.out"
BPIN=$TMP/b/checkpoints/$(ls "$TMP/b/checkpoints" | sort | sed -n 2p)
check_eq "from one of B's own earlier checkpoints: 0" 0 \
	"$(mon "$TMP/pin3.json" "$B_URL/log/" --token "$B_AUD" --trust-checkpoint "$BPIN" --entries)"
check "... the state moved on from the pin to B's size" \
	test "$(jq -r .size "$TMP/pin3.json")" -gt "$((10#$(basename "$BPIN")))" -a "$(jq -r .size "$TMP/pin3.json")" -ge 120
check_eq "with a state, the pin is ignored (A's pin, B's state): 0" 0 \
	"$(mon "$TMP/pin3.json" "$B_URL/log/" --token "$B_AUD" --trust-checkpoint "$APIN")"

# --- the webhook ---------------------------------------------------------------------------------------------
for _ in $(seq 50); do [ "$(wc -l <"$TMP/hook.out")" -ge 5 ] && break; sleep 0.1; done
check_eq "5 findings posted" 5 "$(wc -l <"$TMP/hook.out")"
check_eq "every one HMAC-signed" 5 "$(grep -c ' sig=ok ' "$TMP/hook.out")"
hook_body() { grep " sig=ok " "$TMP/hook.out" | sed -n "${1}p" | cut -d' ' -f4-; }
check_eq "1: mismatch, code 7" "mismatch 7" "$(hook_body 1 | jq -r '"\(.event) \(.code)"')"
check_eq "2: bad_signature, code 3" "bad_signature 3" "$(hook_body 2 | jq -r '"\(.event) \(.code)"')"
check_eq "3: stall, code 6" "stall 6" "$(hook_body 3 | jq -r '"\(.event) \(.code)"')"
check_eq "4: rollback, code 4, sizes" "rollback 4 true" \
	"$(hook_body 4 | jq -r '"\(.event) \(.code) \(.size < .state_size)"')"
check_eq "5: fork, code 5, with the offending checkpoint" "fork 5 $ORIGIN" \
	"$(hook_body 5 | jq -r '"\(.event) \(.code) \(.checkpoint | split("\n")[0])"')"
check_eq "the fork's body names the log and the state's root" "true true" \
	"$(hook_body 5 | jq -r '"\(.log | endswith("/log/")) \(.state_root | length == 44)"')"

# --- end to end: a log cosigned by logseal's witness and the Python one ---------
# (serve --witness is the log side, fix/witlog); the monitor requires both.
if /usr/bin/python3 -c 'import nacl.signing' 2>/dev/null; then
	WPY="$(cd "$(dirname "$0")/.." && pwd)/witness/witness.py"
	check "init E" "$LOGSEAL" init --data "$TMP/e" --origin e2e.test/log --no-encryption
	EKEY=$(cat "$TMP/e/verifier.key")
	LWK=$("$LOGSEAL" witness init --data "$TMP/lw" --name e2e.test/lw)
	PWK=$(/usr/bin/python3 "$WPY" keygen --data "$TMP/pw" --name e2e.test/pw)
	LWP=$(free_port); PWP=$(free_port)
	"$LOGSEAL" witness serve --data "$TMP/lw" --listen 127.0.0.1:$LWP --log "e2e.test/log=$EKEY" \
		>"$TMP/lw.out" 2>"$TMP/lw.err" &
	SERVER_PIDS="$SERVER_PIDS $!"
	/usr/bin/python3 "$WPY" serve --data "$TMP/pw" --listen 127.0.0.1:$PWP --log "e2e.test/log=$EKEY" \
		>"$TMP/pw.out" 2>"$TMP/pw.err" &
	SERVER_PIDS="$SERVER_PIDS $!"
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$LWP/healthz" &&
		curl -s -o /dev/null "http://127.0.0.1:$PWP/healthz" && break; sleep 0.1; done
	EPORT=$(free_port)
	"$LOGSEAL" serve --data "$TMP/e" --listen 127.0.0.1:$EPORT --checkpoint-interval 50 \
		--witness "http://127.0.0.1:$LWP=$LWK" --witness "http://127.0.0.1:$PWP=$PWK" \
		--witness-interval-ms 100 >"$TMP/e.out" 2>"$TMP/e.err" &
	EPID=$!
	SERVER_PIDS="$SERVER_PIDS $EPID"
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$EPORT/healthz" && break; sleep 0.1; done
	EADM=$(cat "$TMP/e/admin.token")
	EW=$(curl -s -H "Authorization: Bearer $EADM" -H 'Content-Type: application/json' \
		--data '{"role":"writer"}' "http://127.0.0.1:$EPORT/v1/tokens" | jq -r .token)
	check "events in E" add_events "http://127.0.0.1:$EPORT" "$EW" "$TMP/e" 8 e
	# Wait (without reading /log/, which is audited) until the published
	# checkpoint (DIR/log/checkpoint, what /log/checkpoint serves) carries
	# both cosignatures.  The live log may still move on (its own witness
	# events) between that and the monitor's read: a poll that met a
	# checkpoint not cosigned yet (8) is tried again, a few times.
	for _ in $(seq 100); do
		[ "$(grep -c '^— e2e.test/[lp]w ' "$TMP/e/log/checkpoint" 2>/dev/null)" = 2 ] && break
		sleep 0.1
	done
	for _ in 1 2 3 4 5; do
		rm -f "$TMP/e.json"
		"$LOGSEAL" monitor --once --key "$EKEY" --state "$TMP/e.json" --log "http://127.0.0.1:$EPORT/log/" \
			--token "$EADM" --witness "$LWK" --witness "$PWK" --quorum 2 --entries >"$TMP/mon.out" 2>&1
		mrc=$?
		[ "$mrc" = 8 ] || break
		sleep 0.5
	done
	check_eq "monitor: the live log's checkpoint carries 2 of 2 cosignatures: 0" 0 "$mrc"
	check "it counted both witnesses" grep -q "2 witness(es)" "$TMP/mon.out"
	stop_log "$EPID"
else
	skip "end to end with witnesses" "python3-nacl missing (scripts/deps.sh installs it)"
fi

# --- loop mode ends on a fork ------------------------------------------------------------------------------
cp -a "$TMP/m" "$TMP/ml"
"$LOGSEAL" monitor --log "$TMP/ml" --key "$VKEY" --state "$TMP/ml.json" --interval 1 >"$TMP/loop.out" 2>&1 &
LOOP=$!
SERVER_PIDS="$SERVER_PIDS $LOOP"
for _ in $(seq 50); do [ -s "$TMP/ml.json" ] && break; sleep 0.1; done
check "loop: first poll recorded" test -s "$TMP/ml.json"
BS=$(ls "$TMP/b/checkpoints" | grep -x '[0-9]*' | sed 's/^0*//' | sort -n | awk -v s="$S" '$1 > s' | head -1)
rm -rf "$TMP/ml.new" && mirror "$B_URL" "$TMP/b" "$TMP/ml.new" "$BS" && rm -rf "$TMP/ml" && mv "$TMP/ml.new" "$TMP/ml"
rc=""
for _ in $(seq 100); do kill -0 "$LOOP" 2>/dev/null || { wait "$LOOP"; rc=$?; break; }; sleep 0.1; done
check_eq "loop mode exits with the fork's status" 5 "$rc"
stop_log "$B_PID"

done_testing
