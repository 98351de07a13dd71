#!/bin/bash
# Evidence for one event (followers/evidence.h): `export --format evidence
# --index N` from a log cosigned by two logseal witnesses on loopback gives
# one file that `verify-bundle --key --witness ... --quorum K` checks
# offline; a flipped byte in the entry, the proof, the checkpoint or a
# cosignature is refused with its reason, and so is a quorum not met or a
# wrong log key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
J=application/json
ORIGIN=evidence.test/log
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin $ORIGIN --no-encryption
VKEY=$(cat "$D/verifier.key")

start_witness() { # NAME
	local port; port=$(free_port)
	"$LOGSEAL" witness serve --data "$TMP/$1" --listen 127.0.0.1:$port --log "$ORIGIN=$VKEY" \
		>>"$TMP/$1.out" 2>>"$TMP/$1.err" &
	SERVER_PIDS="$SERVER_PIDS $!"
	eval "${1}_URL=http://127.0.0.1:$port"
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0; sleep 0.1; done
	return 1
}
W1=$("$LOGSEAL" witness init --data "$TMP/w1" --name evidence.test/w1)
W2=$("$LOGSEAL" witness init --data "$TMP/w2" --name evidence.test/w2)
W3=$("$LOGSEAL" witness init --data "$TMP/w3" --name evidence.test/w3)	# never asked
check "witness 1 starts" start_witness w1
check "witness 2 starts" start_witness w2
check "the log serves with both witnesses" start_server "$D" --checkpoint-interval 100 \
	--witness "$w1_URL=$W1" --witness "$w2_URL=$W2" --witness-interval-ms 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
{ printf '['; for i in $(seq 1 30); do [ "$i" -gt 1 ] && printf ','; ev "e-$i"; done; printf ']'; } >"$TMP/evs.json"
check_eq "30 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/evs.json")"
N=$(jq '.indexes[7]' "$TMP/resp")
cosigned() { # the latest cosigned checkpoint holds two cosignature lines
	local f; f=$(ls "$D/cosigned" 2>/dev/null | sort | tail -1)
	[ -n "$f" ] && [ "$(sed -n 2p "$D/cosigned/$f")" -gt "$N" ] && [ "$(grep -c '^— evidence.test/w' "$D/cosigned/$f")" = 2 ]
}
for _ in $(seq 100); do cosigned && break; sleep 0.1; done
check "both witnesses cosigned a checkpoint covering entry $N" cosigned

printf "%s" "$AUD" >"$TMP/aud.token"
EX=(--server "$SRV_URL" --token-file "$TMP/aud.token")
E=$TMP/ev.json
check "export --format evidence --index $N" "$LOGSEAL" export "${EX[@]}" --format evidence --index "$N" --output "$E"
check_eq "the file is for entry $N" "$N" "$(jq .index "$E")"
check_eq "its entry is the event sent" "e-8" "$(jq -r .entry_b64 "$E" | base64 -d | jq -r .id)"
check_eq "its checkpoint is larger than N" true "$(jq ".tree_size > $N" "$E")"
check_eq "the checkpoint carries two cosignature lines" 2 "$(jq -r .checkpoint "$E" | grep -c '^— evidence.test/w')"
check "verify-bundle: log key and both witnesses, quorum 2" "$LOGSEAL" verify-bundle "$E" --key "$D/verifier.key" \
	--witness "$W1" --witness "$W2" --quorum 2
grep -q "cosigned by 2 of 2" "$TMP/last.out" && ok "... cosigned by 2 of 2" || not_ok "... cosigned by 2 of 2: $(cat "$TMP/last.out")"
check "verify-bundle with the log key alone" "$LOGSEAL" verify-bundle "$E" --key "$VKEY"
check "quorum 1 of w1 and w3 (w3 never cosigned)" "$LOGSEAL" verify-bundle "$E" --key "$VKEY" \
	--witness "$W1" --witness "$W3" --quorum 1
check_fails "quorum 2 of w1 and w3: refused" "$LOGSEAL" verify-bundle "$E" --key "$VKEY" \
	--witness "$W1" --witness "$W3" --quorum 2
grep -q "1 of the 2 given witnesses cosigned the checkpoint; the quorum is 2" "$TMP/last.out" &&
	ok "... quorum not met, said so" || not_ok "... quorum: $(cat "$TMP/last.out")"
check_fails "w3 alone (default quorum: all given): refused" "$LOGSEAL" verify-bundle "$E" --key "$VKEY" --witness "$W3"
"$LOGSEAL" init --data "$TMP/other" --origin $ORIGIN --no-encryption >/dev/null
check_fails "another log's key (same origin): refused" "$LOGSEAL" verify-bundle "$E" --key "$TMP/other/verifier.key"
grep -q "not signed by" "$TMP/last.out" && ok "... not signed by that key" || not_ok "... $(cat "$TMP/last.out")"

# tamper FIELD-EDIT REASON: apply a python edit to the JSON, expect a refusal naming REASON.
tamper() {
	local what=$1 edit=$2 reason=$3 t=$TMP/t.json
	python3 - "$E" "$t" "$edit" <<'PY'
import base64, json, sys
e = json.load(open(sys.argv[1]))
def flip(b64, at):
    b = bytearray(base64.b64decode(b64)); b[at % len(b)] ^= 0x01
    return base64.b64encode(bytes(b)).decode()
exec(sys.argv[3])
json.dump(e, open(sys.argv[2], "w"), indent=1)
PY
	if "$LOGSEAL" verify-bundle "$t" --key "$D/verifier.key" --witness "$W1" --witness "$W2" >"$TMP/last.out" 2>&1; then
		not_ok "$what: accepted"
	elif grep -q -e "$reason" "$TMP/last.out"; then
		ok "$what: refused ($(sed 's/.*FAILED/FAILED/' "$TMP/last.out" | head -c 140))"
	else
		not_ok "$what: refused, but not for '$reason': $(cat "$TMP/last.out")"
	fi
}
tamper "a byte of the entry" 'e["entry_b64"] = flip(e["entry_b64"], 20)' "the entry does not hash to leaf_hash"
tamper "a byte of the entry and its leaf hash to match" \
	'e["entry_b64"] = flip(e["entry_b64"], 20)
import hashlib; e["leaf_hash"] = base64.b64encode(hashlib.sha256(b"\0" + base64.b64decode(e["entry_b64"])).digest()).decode()' \
	"inclusion proof of entry $N does not lead to the signed root"
tamper "a byte of the proof" 'e["proof"][0] = flip(e["proof"][0], 5)' "inclusion proof of entry $N does not lead"
tamper "a proof hash dropped" 'e["proof"] = e["proof"][1:]' "inclusion proof of entry $N does not lead"
tamper "another index" 'e["index"] = e["index"] + 1' "inclusion proof of entry $((N + 1)) does not lead"
tamper "a byte of the checkpoint's root" \
	'l = e["checkpoint"].split("\n"); l[2] = flip(l[2], 3); e["checkpoint"] = "\n".join(l)' "the checkpoint: log signature by evidence.test/log+[0-9a-f]* does not verify"
tamper "the checkpoint's size" \
	'l = e["checkpoint"].split("\n"); l[1] = str(int(l[1]) + 1); e["checkpoint"] = "\n".join(l)' "the checkpoint: log signature by evidence.test/log+[0-9a-f]* does not verify"
tamper "the file's tree_size" 'e["tree_size"] = e["tree_size"] + 1' "the checkpoint is of size"
tamper "a byte of the log's signature" \
	'l = e["checkpoint"].split("\n"); i = [k for k, x in enumerate(l) if x.startswith("\u2014 evidence.test/log ")][0]; p = l[i].split(" "); p[2] = flip(p[2], 40); l[i] = " ".join(p); e["checkpoint"] = "\n".join(l)' \
	"the checkpoint: log signature by evidence.test/log+[0-9a-f]* does not verify"
tamper "a byte of w1's cosignature" \
	'l = e["checkpoint"].split("\n"); i = [k for k, x in enumerate(l) if x.startswith("\u2014 evidence.test/w1 ")][0]; p = l[i].split(" "); p[2] = flip(p[2], 30); l[i] = " ".join(p); e["checkpoint"] = "\n".join(l)' \
	"the checkpoint: cosignature by evidence.test/w1+[0-9a-f]* does not verify"
tamper "w2's cosignature removed" \
	'e["checkpoint"] = "\n".join(x for x in e["checkpoint"].split("\n") if not x.startswith("\u2014 evidence.test/w2 "))' \
	"1 of the 2 given witnesses cosigned"
tamper "not evidence" 'e["evidence"] = "something else"' "not a"
check_eq "export --format evidence without --index is usage (2)" 2 \
	"$("$LOGSEAL" export "${EX[@]}" --format evidence --output "$TMP/x.json" >/dev/null 2>&1; echo $?)"
check_fails "an index beyond the log: refused" "$LOGSEAL" export "${EX[@]}" --format evidence --index 100000 --output "$TMP/x.json"
grep -q "no entry 100000" "$TMP/last.out" && ok "... no entry 100000" || not_ok "... $(cat "$TMP/last.out")"
check_eq "GET /v1/export?format=evidence without index: 400" 400 "$(req GET '/v1/export?format=evidence' "$AUD")"
check_eq "GET /v1/export?format=evidence&index=$N: 200" 200 "$(req GET "/v1/export?format=evidence&index=$N" "$AUD")"
check_eq "the route serves what the CLI saved" "$(jq -S 'del(.checkpoint, .tree_size, .proof)' "$E")" "$(jq -S 'del(.checkpoint, .tree_size, .proof)' "$TMP/resp")"
req GET '/v1/events?service=logseal&action=logseal.export&limit=1' "$AUD" >/dev/null
check_eq "the export is audited with format evidence and the index" "evidence $N" \
	"$(jq -r '.events[0].entry.details | "\(.format) \(.index)"' "$TMP/resp")"
done_testing
