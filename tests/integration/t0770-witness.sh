#!/bin/bash
# Witnesses (C2SP tlog-witness, tlog-cosignature): `logseal witness serve` and
# an independent witness written from the C2SP texts (tests/witness/witness.py,
# Python + PyNaCl, no logseal code), fed add-checkpoint requests for a real
# log by the witfeed helper (checkpoint + consistency proof from the log's
# tiles).  Against both: the cosignatures verify (logseal's with Python,
# Python's with logseal's monitor, both with the monitor's k-of-n policy);
# wrong `old` -> 409 text/x.tlog.size with the witness's size; a bad proof,
# and a fork (a copy of the log with the same origin and key that went
# another way: same size, other root) -> 422, with evidence kept; unknown
# origin -> 404; a bad log signature -> 403; a witness SIGKILLed right
# after acknowledging keeps that state after restart.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
WPY="$(cd "$(dirname "$0")/.." && pwd)/witness/witness.py"
if ! $PY -c 'import nacl.signing' 2>/dev/null; then
	skip "witness tests" "python3-nacl missing (scripts/deps.sh installs it)"
	done_testing; exit
fi
ORIGIN=witness.test/log
J=application/x-ndjson

# --- the log, and a copy of it at size 0 (same origin, same key) ---------------
check "init A" "$LOGSEAL" init --data "$TMP/a" --origin $ORIGIN --no-encryption
cp -a "$TMP/a" "$TMP/b"
VKEY=$(cat "$TMP/a/verifier.key")

# start_log NAME DIR: serve DIR; sets NAME_URL, NAME_PID, NAME_TOK (admin)
start_log() {
	local name=$1 dir=$2 port pid tok
	port=$(free_port)
	"$LOGSEAL" serve --data "$dir" --listen 127.0.0.1:$port --checkpoint-interval 50 \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	pid=$!
	SERVER_PIDS="$SERVER_PIDS $pid"
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
	# a writer's token (the admin's may not append events)
	tok=$(curl -s -H "Authorization: Bearer $(cat "$dir/admin.token")" -H 'Content-Type: application/json' \
		--data '{"role":"writer"}' "http://127.0.0.1:$port/v1/tokens" | jq -r .token)
	eval "${name}_URL=http://127.0.0.1:$port ${name}_PID=$pid ${name}_TOK=$tok"
}
# add_events URL TOKEN DIR FIRST COUNT TAG: COUNT events; sets SIZE to the
# tree size after them (/healthz, which is not audited) and waits until DIR
# has the checkpoint signed at SIZE.  Reads of /log/ are audited
# (they grow the log), so the witnesses are fed from DIR's files: every
# signed checkpoint is kept (DIR/checkpoints/<size>) and so are the partial
# tiles of each size.
add_events() {
	local url=$1 tok=$2 dir=$3 first=$4 n=$5 tag=$6 i
	for i in $(seq "$first" $((first + n - 1))); do
		printf '{"id":"%s-%d","time":"2024-05-06T07:08:09.123+02:00","actor":{"id":"alice","type":"user"},"action":"doc.%s","outcome":"success","source":{"ip":"192.0.2.7"},"resource":{"type":"doc","id":"%d"}}\n' "$tag" "$i" "$tag" "$i"
	done >"$TMP/ev.ndjson"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -H "Content-Type: $J" \
		--data-binary @"$TMP/ev.ndjson" "$url/v1/events")" = 200 ] || return 1
	SIZE=$(curl -s "$url/healthz" | jq -r .tree_size)
	for _ in $(seq 100); do
		[ -f "$(cpf "$dir" "$SIZE")" ] && return 0
		sleep 0.1
	done
	return 1
}
cpf() { printf '%s/checkpoints/%020d' "$1" "$2"; }
# post URL FILE: POST an add-checkpoint body; prints the status, body in $TMP/resp
post() {
	curl -s -o "$TMP/resp" -D "$TMP/resp.h" -w '%{http_code}' --max-time 20 \
		--data-binary @"$2" "$1/add-checkpoint"
}
# feed DIR SIZE OLD [--bad-proof]: the request for DIR's checkpoint of SIZE
feed() { "$TESTBIN/witfeed" --tiles "$1/log" --checkpoint "$(cpf "$1" "$2")" --old "$3" ${4:-}; }

start_log A "$TMP/a"
check "log A serves" curl -sf -o /dev/null "$A_URL/healthz"

# --- the two witnesses -----------------------------------------------------------
LW=$("$LOGSEAL" witness init --data "$TMP/lw" --name witness.test/logseal)
check "witness init prints a cosignature/v1 vkey" grep -q '^witness.test/logseal+[0-9a-f]\{8\}+B' <<<"$LW"
check_eq "witness vkey prints the same key" "$LW" "$("$LOGSEAL" witness vkey --data "$TMP/lw")"
check_eq "witness key is mode 0600" 600 "$(stat -c %a "$TMP/lw/witness.key")"
check_fails "witness init refuses an existing key" "$LOGSEAL" witness init --data "$TMP/lw" --name x
PW=$($PY "$WPY" keygen --data "$TMP/pw" --name witness.test/python)

start_lw() {
	LW_PORT=$(free_port)
	"$LOGSEAL" witness serve --data "$TMP/lw" --listen 127.0.0.1:$LW_PORT --log "$ORIGIN=$VKEY" \
		>>"$TMP/lw.out" 2>>"$TMP/lw.err" &
	LW_PID=$!
	SERVER_PIDS="$SERVER_PIDS $LW_PID"
	LW_URL=http://127.0.0.1:$LW_PORT
	for _ in $(seq 100); do curl -s -o /dev/null "$LW_URL/healthz" && return 0; sleep 0.1; done
	return 1
}
start_pw() {
	PW_PORT=$(free_port)
	$PY "$WPY" serve --data "$TMP/pw" --listen 127.0.0.1:$PW_PORT --log "$ORIGIN=$VKEY" \
		>>"$TMP/pw.out" 2>>"$TMP/pw.err" &
	PW_PID=$!
	SERVER_PIDS="$SERVER_PIDS $PW_PID"
	PW_URL=http://127.0.0.1:$PW_PORT
	for _ in $(seq 100); do curl -s -o /dev/null "$PW_URL/healthz" && return 0; sleep 0.1; done
	return 1
}
check "logseal witness starts" start_lw
check "python witness starts" start_pw
HASH=$(printf %s "$ORIGIN" | sha256sum | cut -d' ' -f1)

check_eq "monitoring endpoint: 404 before any cosignature" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$LW_URL/$HASH/checkpoint")"

# --- size 5 from old 0, then 12 from old 5 ------------------------------------------
check "5 events in A" add_events "$A_URL" "$A_TOK" "$TMP/a" 1 5 a
S5=$SIZE
feed "$TMP/a" $S5 0 >"$TMP/req5"
check_eq "logseal witness: size $S5 from 0: 200" 200 "$(post "$LW_URL" "$TMP/req5")"
cp "$TMP/resp" "$TMP/lw5.line"
check_eq "reply is one cosignature line" 1 "$(grep -c '^— witness.test/logseal ' "$TMP/lw5.line")"
check_eq "python witness: size $S5 from 0: 200" 200 "$(post "$PW_URL" "$TMP/req5")"
cp "$TMP/resp" "$TMP/pw5.line"

check "7 more in A" add_events "$A_URL" "$A_TOK" "$TMP/a" 6 7 a
S12=$SIZE
feed "$TMP/a" $S12 $S5 >"$TMP/req12"
check "request carries a consistency proof" test "$(sed -n '2,/^$/p' "$TMP/req12" | grep -c .)" -gt 0
check_eq "logseal witness: $S5 -> $S12: 200" 200 "$(post "$LW_URL" "$TMP/req12")"
cp "$TMP/resp" "$TMP/lw12.line"
check_eq "python witness: $S5 -> $S12: 200" 200 "$(post "$PW_URL" "$TMP/req12")"
cp "$TMP/resp" "$TMP/pw12.line"

# The cosigned checkpoint: the log's note plus both lines.
sed '1,/^$/d' "$TMP/req12" >"$TMP/cp12"
cat "$TMP/cp12" "$TMP/lw12.line" "$TMP/pw12.line" >"$TMP/cosigned12"
check "python verifies both cosignatures (logseal's and its own)" \
	$PY "$WPY" verify --checkpoint "$TMP/cosigned12" --log-vkey "$VKEY" --witness-vkey "$LW" --witness-vkey "$PW"
cp "$TMP/last.out" "$TMP/pyverify.out"
check "python sees logseal's cosignature" grep -q "witness.test/logseal: cosigned at" "$TMP/pyverify.out"
# A cosignature over the older text does not verify on the newer.
cat "$TMP/cp12" "$TMP/lw5.line" >"$TMP/wrong12"
check_fails "python rejects a cosignature of another checkpoint" \
	$PY "$WPY" verify --checkpoint "$TMP/wrong12" --log-vkey "$VKEY" --witness-vkey "$LW"

# logseal's side (core/cosig through the monitor): a static copy of A whose
# checkpoint carries the cosignatures, 2 of 2 witnesses required.
# (sizes below 256: the hash tile from the data directory, which keeps the
# partial tiles of every size, the entry bundle from the server)
mirror() {	# mirror URL TOKEN DATADIR DIR SIZE
	mkdir -p "$4/tile/0/000.p" "$4/tile/entries/000.p"
	cp "$3/log/tile/0/000.p/$5" "$4/tile/0/000.p/$5" &&
	curl -sf -H "Authorization: Bearer $2" "$1/log/tile/entries/000.p/$5" -o "$4/tile/entries/000.p/$5"
}
check "mirror A at $S12" mirror "$A_URL" "$(cat "$TMP/a/admin.token")" "$TMP/a" "$TMP/m12" $S12
cp "$TMP/cosigned12" "$TMP/m12/checkpoint"
check "logseal monitor: both cosignatures verify (quorum 2 of 2)" \
	"$LOGSEAL" monitor --once --log "$TMP/m12" --key "$VKEY" --witness "$LW" --witness "$PW" \
	--quorum 2 --entries --state "$TMP/mon12.json"
cp "$TMP/cp12" "$TMP/m12/checkpoint"
"$LOGSEAL" monitor --once --log "$TMP/m12" --key "$VKEY" --witness "$LW" --witness "$PW" \
	--quorum 1 --state "$TMP/mon12b.json" >/dev/null 2>&1
check_eq "without cosignatures the quorum fails (exit 8)" 8 $?
cat "$TMP/cp12" "$TMP/pw12.line" >"$TMP/m12/checkpoint"
check "one of two (python's) meets quorum 1" \
	"$LOGSEAL" monitor --once --log "$TMP/m12" --key "$VKEY" --witness "$LW" --witness "$PW" \
	--quorum 1 --state "$TMP/mon12c.json"

# Monitoring endpoints: the latest cosigned checkpoint, log signature and cosignature.
check_eq "logseal witness: GET /<hash>/checkpoint: 200" 200 \
	"$(curl -s -o "$TMP/lwcp" -w '%{http_code}' "$LW_URL/$HASH/checkpoint")"
check_eq "it is size $S12" $S12 "$(sed -n 2p "$TMP/lwcp")"
check "its cosignature and log signature verify (python)" \
	$PY "$WPY" verify --checkpoint "$TMP/lwcp" --log-vkey "$VKEY" --witness-vkey "$LW"
check_eq "python witness: GET /<hash>/checkpoint: 200" 200 \
	"$(curl -s -o "$TMP/pwcp" -w '%{http_code}' "$PW_URL/$HASH/checkpoint")"
check "python's cosigned checkpoint verifies (python)" \
	$PY "$WPY" verify --checkpoint "$TMP/pwcp" --log-vkey "$VKEY" --witness-vkey "$PW"

# --- 409: wrong old ------------------------------------------------------------------
for W in LW PW; do
	url=${W}_URL
	check_eq "$W: old $S5 again: 409" 409 "$(post "${!url}" "$TMP/req12")"
	check_eq "$W: 409 body is its size" "$S12" "$(cat "$TMP/resp")"
	check "$W: 409 Content-Type text/x.tlog.size" grep -qi '^content-type: text/x.tlog.size' "$TMP/resp.h"
done

# --- 422: a bad consistency proof --------------------------------------------------------
check "3 more in A" add_events "$A_URL" "$A_TOK" "$TMP/a" 13 3 a
S15=$SIZE
feed "$TMP/a" $S15 $S12 --bad-proof >"$TMP/req15bad"
ev_before=$(ls "$TMP/lw/evidence" | grep -c -- '-422-.*\.req$')
check_eq "logseal witness: bad proof: 422" 422 "$(post "$LW_URL" "$TMP/req15bad")"
check_eq "python witness: bad proof: 422" 422 "$(post "$PW_URL" "$TMP/req15bad")"
check_eq "evidence kept for the 422" $((ev_before + 1)) "$(ls "$TMP/lw/evidence" | grep -c -- '-422-.*\.req$')"
check "refusal logged with its reason" grep -q " 422 $ORIGIN .*consistency proof $S12 -> $S15" "$TMP/lw/evidence/refusals.log"

# --- 404: unknown origin; 403: bad signature -------------------------------------------------
check "init C (another origin)" "$LOGSEAL" init --data "$TMP/c" --origin other.test/log --no-encryption
printf 'old 0\n\n' | cat - "$TMP/c/log/checkpoint" >"$TMP/reqC"
check_eq "logseal witness: unknown origin: 404" 404 "$(post "$LW_URL" "$TMP/reqC")"
check_eq "python witness: unknown origin: 404" 404 "$(post "$PW_URL" "$TMP/reqC")"
# Flip a letter of the log's signature (stays base64).
awk 'BEGIN{d=0} /^— witness.test\/log /{ if (!d) { n=substr($3,10,1); r=(n=="A")?"B":"A"; $3=substr($3,1,9) r substr($3,11); d=1 } } {print}' \
	"$TMP/req15bad" >"$TMP/req403"
check "the signature changed" bash -c "! cmp -s '$TMP/req15bad' '$TMP/req403'"
check_eq "logseal witness: bad log signature: 403" 403 "$(post "$LW_URL" "$TMP/req403")"
check_eq "python witness: bad log signature: 403" 403 "$(post "$PW_URL" "$TMP/req403")"
check "evidence kept for the 403" bash -c "ls '$TMP/lw/evidence' | grep -q -- '-403-'"
printf 'old 0\nnot base64\n\nx\n' >"$TMP/req400"
check_eq "logseal witness: malformed: 400" 400 "$(post "$LW_URL" "$TMP/req400")"
check_eq "python witness: malformed: 400" 400 "$(post "$PW_URL" "$TMP/req400")"

# --- 422: a fork (B: same origin, same key, other events, same size) ---------------------------
start_log B "$TMP/b"
check "other events in B, up to A's size" add_events "$B_URL" "$B_TOK" "$TMP/b" 1 \
	$((S15 - $(curl -s "$B_URL/healthz" | jq -r .tree_size))) b
check_eq "B has the size of A" $S15 $SIZE
check "B's checkpoint has A's origin and key" grep -q "^— $ORIGIN " "$(cpf "$TMP/b" $S15)"
# First A's real 15 to both witnesses.
feed "$TMP/a" $S15 $S12 >"$TMP/req15"
check_eq "logseal witness: A $S12 -> $S15: 200" 200 "$(post "$LW_URL" "$TMP/req15")"
check_eq "python witness: A $S12 -> $S15: 200" 200 "$(post "$PW_URL" "$TMP/req15")"
feed "$TMP/b" $S15 $S15 >"$TMP/reqfork"
check "B's size $S15 has another root" bash -c "[ \"\$(sed -n '/^$/,\$p' '$TMP/reqfork' | sed -n 4p)\" != \"\$(sed -n '/^$/,\$p' '$TMP/req15' | sed -n 4p)\" ]"
check_eq "logseal witness: fork (same size, other root): 422" 422 "$(post "$LW_URL" "$TMP/reqfork")"
check_eq "python witness: fork: 422" 422 "$(post "$PW_URL" "$TMP/reqfork")"
fork_ev=$(ls "$TMP/lw/evidence" | grep -- '-422-' | tail -1)
check "the forked checkpoint is kept as evidence" cmp -s "$TMP/lw/evidence/$fork_ev" "$TMP/reqfork"
check "the fork is named in the log" grep -q "fork: size $S15 with another root" "$TMP/lw/evidence/refusals.log"
check "logseal witness logged it on stderr" grep -q "refused 422" "$TMP/lw.err"
# B grown further, with a proof from B's own 15: inconsistent with the 15 cosigned.
check "5 more in B" add_events "$B_URL" "$B_TOK" "$TMP/b" 16 5 b
SB=$SIZE
feed "$TMP/b" $SIZE $S15 >"$TMP/reqfork20"
check_eq "logseal witness: B $S15 -> $SIZE (proof from B's $S15): 422" 422 "$(post "$LW_URL" "$TMP/reqfork20")"
check_eq "python witness: same: 422" 422 "$(post "$PW_URL" "$TMP/reqfork20")"
check_eq "the witness still holds A's $S15" $S15 "$(curl -s "$LW_URL/$HASH/checkpoint" | sed -n 2p)"

# --- SIGKILL right after the acknowledgement -------------------------------------------------------
check "3 more in A" add_events "$A_URL" "$A_TOK" "$TMP/a" 16 3 a
S18=$SIZE
feed "$TMP/a" $S18 $S15 >"$TMP/req18"
check_eq "logseal witness: $S15 -> $S18: 200" 200 "$(post "$LW_URL" "$TMP/req18")"
kill -9 "$LW_PID"; wait "$LW_PID" 2>/dev/null
check_eq "python witness: $S15 -> $S18: 200" 200 "$(post "$PW_URL" "$TMP/req18")"
kill -9 "$PW_PID"; wait "$PW_PID" 2>/dev/null
check "logseal witness restarts" start_lw
check "python witness restarts" start_pw
check_eq "logseal witness kept $S18 after SIGKILL" $S18 "$(curl -s "$LW_URL/$HASH/checkpoint" | sed -n 2p)"
check_eq "python witness kept $S18 after SIGKILL" $S18 "$(curl -s "$PW_URL/$HASH/checkpoint" | sed -n 2p)"
check_eq "logseal witness: old $S15 after restart: 409" 409 "$(post "$LW_URL" "$TMP/req18")"
check_eq "... with size $S18" $S18 "$(cat "$TMP/resp")"
check_eq "python witness: old $S15 after restart: 409" 409 "$(post "$PW_URL" "$TMP/req18")"
check "no temp file left in the state directory" bash -c "! ls '$TMP/lw/state' | grep -q tmp"

# --- a monitor asks the witnesses (their monitoring endpoints) --------------------------
# static copies (checkpoint and hash tile from the data directory; no --entries)
tcopy() {	# tcopy DATADIR SIZE OUT
	mkdir -p "$3/tile/0/000.p" && cp "$(cpf "$1" "$2")" "$3/checkpoint" &&
	cp "$1/log/tile/0/000.p/$2" "$3/tile/0/000.p/$2"
}
monw() {	# monw STATE LOG: one poll asking both witnesses; prints the status
	"$LOGSEAL" monitor --once --key "$VKEY" --state "$1" --log "$2" --witness "$LW" --witness "$PW" \
		--poll-witness "$LW_URL" --poll-witness "$PW_URL" >"$TMP/monw.out" 2>&1
	echo $?
}
check "copies of A at $S18 and $S15, of B at $SB" bash -c \
	"$(declare -f tcopy cpf); tcopy '$TMP/a' $S18 '$TMP/ta18' && tcopy '$TMP/a' $S15 '$TMP/ta15' && tcopy '$TMP/b' $SB '$TMP/tb'"
check_eq "monitor: the log agrees with what both witnesses cosigned: 0" 0 "$(monw "$TMP/mw1.json" "$TMP/ta18")"
check_eq "a copy smaller than the witnesses' size: rollback (4)" 4 "$(monw "$TMP/mw2.json" "$TMP/ta15")"
check "named" grep -q "cosigned size $S18, the log serves $S15" "$TMP/monw.out"
check_eq "the fork B shown to a new monitor: split view, fork (5)" 5 "$(monw "$TMP/mw3.json" "$TMP/tb")"
check "named" grep -q "cosigned another tree of size $S18 .*split view" "$TMP/monw.out"

# A corrupted state is a startup error, never a silent reset to size 0.
kill -9 "$LW_PID"; wait "$LW_PID" 2>/dev/null
cp "$TMP/lw/state/$HASH" "$TMP/state.bak"
sed -i "2s/.*/$((S18 - 1))/" "$TMP/lw/state/$HASH"
check_eq "a witness whose state does not verify refuses to start (exit 1)" 1 \
	"$(timeout 10 "$LOGSEAL" witness serve --data "$TMP/lw" --listen 127.0.0.1:0 \
		--log "$ORIGIN=$VKEY" >"$TMP/start.out" 2>&1; echo $?)"
check "it says why" grep -q "does not check" "$TMP/start.out"
cp "$TMP/state.bak" "$TMP/lw/state/$HASH"

done_testing
