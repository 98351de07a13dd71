#!/bin/bash
# Witness over HTTPS, and what bounds an unauthenticated caller
# (docs/WITNESS.md "TLS and limits"): `logseal witness serve --tls-cert
# --tls-key` with a certificate from a throwaway CA made here with openssl;
# a log (`serve --witness https://...=VKEY --witness-cacert CA`) gets its
# checkpoints cosigned over https, the cosignature verified here from the
# C2SP texts (PyNaCl); without the CA the log cannot reach it (certificate
# not trusted); plain HTTP to the TLS port fails; TLS 1.1 is refused, 1.2
# and 1.3 accepted; plain HTTP on a non-loopback address, a cert without a
# key and a key others may read are refused at start.  Limits: the default
# rate limit lets the burst (20) of add-checkpoint through, then answers 429
# with Retry-After (another client address is not affected, and GETs never
# are); a small --rate-limit recovers after the Retry-After; refusals are
# said on stderr and counted exactly at stop; a body over the cap is a 413
# (by Content-Length, and chunked); --max-connections-per-ip bounds open
# connections from one address.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
PY=""
for p in /usr/bin/python3 python3; do
	"$p" -c 'import nacl.signing' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ] || ! command -v openssl >/dev/null; then
	skip "witness over TLS" "python3-nacl or openssl is not installed (scripts/deps.sh installs them)"
	done_testing; exit
fi
D=$TMP/data
J=application/json
ORIGIN=wittls.test/log
HASH=$(printf %s "$ORIGIN" | sha256sum | cut -d' ' -f1)

# ------------------------------------------------------------ a throwaway CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=logseal test CA" -keyout "$TMP/ca.key" -out "$TMP/ca.pem" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
	>/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	-keyout "$TMP/w.key" -out "$TMP/w.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$TMP/ext"
openssl x509 -req -in "$TMP/w.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -extfile "$TMP/ext" -out "$TMP/w.pem" >/dev/null 2>&1
chmod 600 "$TMP/w.key" "$TMP/ca.key"
check "the witness certificate verifies under the test CA" openssl verify -CAfile "$TMP/ca.pem" "$TMP/w.pem"

cat >"$TMP/cos.py" <<'PY'
# cosigs NOTEFILE LOGVKEY WVKEY: the number of valid cosignature/v1 lines by
# WVKEY on the note, after checking the log's own Ed25519 signature
# (c2sp.org/signed-note, c2sp.org/tlog-cosignature).
import base64, hashlib, sys
import nacl.signing, nacl.exceptions
DASH = "\u2014 "
def parse_vkey(vkey, alg):
    name, kid, kb64 = vkey.strip().split("+", 2)
    kb = base64.b64decode(kb64)
    assert kb[0] == alg and len(kb) == 33
    assert hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + kb[1:]).digest()[:4].hex() == kid
    return name, bytes.fromhex(kid), kb[1:]
note = open(sys.argv[1]).read()
text, sep, sigs = note.partition("\n\n")
assert sep
text += "\n"
lines = [l for l in sigs.split("\n") if l]
def sigs_of(vkey, alg):
    name, kid, pub = parse_vkey(vkey, alg)
    for l in lines:
        assert l.startswith(DASH)
        n, s = l[len(DASH):].split(" ")
        raw = base64.b64decode(s)
        if n == name and raw[:4] == kid:
            yield pub, raw[4:]
logok = 0
for pub, sig in sigs_of(sys.argv[2], 1):
    nacl.signing.VerifyKey(pub).verify(text.encode(), sig); logok += 1
assert logok == 1, "log signature"
n = 0
for pub, raw in sigs_of(sys.argv[3], 4):
    if len(raw) != 72: continue
    ts = int.from_bytes(raw[:8], "big")
    try:
        nacl.signing.VerifyKey(pub).verify(b"cosignature/v1\ntime %d\n" % ts + text.encode(), raw[8:])
        n += 1
    except nacl.exceptions.BadSignatureError:
        pass
print(n)
PY

until_ok() { local t=$1; shift; for _ in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
# start_wit NAME SCHEME [witness serve options...]: NAME_PORT, NAME_PID, NAME_URL
start_wit() {
	local name=$1 scheme=$2 port pid
	shift 2
	port=$(free_port)
	"$LOGSEAL" witness serve --data "$TMP/w" --listen "127.0.0.1:$port" --log "$ORIGIN=$LOGVKEY" \
		"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	pid=$!
	SERVER_PIDS="$SERVER_PIDS $pid"
	eval "${name}_PORT=$port ${name}_PID=$pid ${name}_URL=$scheme://127.0.0.1:$port"
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --cacert "$TMP/ca.pem" "$scheme://127.0.0.1:$port/healthz" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   /' "$TMP/$name.err"
	return 1
}
stop_wit() { local pid; eval "pid=\$${1}_PID"; kill -TERM "$pid" 2>/dev/null; wait "$pid"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }

check "init the log" "$LOGSEAL" init --data "$D" --origin "$ORIGIN"
LOGVKEY=$(cat "$D/verifier.key")
VK=$("$LOGSEAL" witness init --data "$TMP/w" --name wittls.test/w)

# ------------------------------------------------------------ refused at start
port=$(free_port)
check_fails "witness: plain HTTP on 0.0.0.0 is refused" timeout 10 "$LOGSEAL" witness serve \
	--data "$TMP/w" --listen "0.0.0.0:$port" --log "$ORIGIN=$LOGVKEY"
cp "$TMP/last.out" "$TMP/said"
check "... naming --insecure-plaintext" grep -q -- "--insecure-plaintext" "$TMP/said"
check_fails "witness: --tls-cert without --tls-key is refused" timeout 10 "$LOGSEAL" witness serve \
	--data "$TMP/w" --listen "127.0.0.1:$port" --log "$ORIGIN=$LOGVKEY" --tls-cert "$TMP/w.pem"
cp "$TMP/w.key" "$TMP/open.key"; chmod 644 "$TMP/open.key"
check_fails "witness: a TLS key others may read is refused" timeout 10 "$LOGSEAL" witness serve \
	--data "$TMP/w" --listen "127.0.0.1:$port" --log "$ORIGIN=$LOGVKEY" \
	--tls-cert "$TMP/w.pem" --tls-key "$TMP/open.key"
cp "$TMP/last.out" "$TMP/said"
check "... saying so" grep -q "accessible to others" "$TMP/said"
check_fails "witness: a certificate that is not PEM does not start" timeout 10 "$LOGSEAL" witness serve \
	--data "$TMP/w" --listen "127.0.0.1:$port" --log "$ORIGIN=$LOGVKEY" \
	--tls-cert "$TMP/ext" --tls-key "$TMP/w.key"
cp "$TMP/last.out" "$TMP/said"
check "... saying so" grep -q "TLS certificate and key do not load" "$TMP/said"

# ------------------------------------------------------------ HTTPS
check "the witness starts with --tls-cert/--tls-key" start_wit T https --tls-cert "$TMP/w.pem" --tls-key "$TMP/w.key"
check "startup prints the https URL" grep -q "listening on https://127.0.0.1:$T_PORT" "$TMP/T.out"
check "startup prints the rate limit (default 10 a second, burst 20)" grep -q "limited to 10 a second per client (burst 20)" "$TMP/T.out"
check_eq "https /healthz with the CA: 200" 200 "$(code --cacert "$TMP/ca.pem" "$T_URL/healthz")"
check_eq "https by the name localhost verifies too" 200 "$(code --cacert "$TMP/ca.pem" "https://localhost:$T_PORT/healthz")"
check_fails "without the CA the certificate is not trusted" curl -s -o /dev/null --fail --max-time 10 "$T_URL/healthz"
check_fails "plain HTTP to the TLS port fails" curl -s -o /dev/null --fail --max-time 5 "http://127.0.0.1:$T_PORT/healthz"
check_fails "TLS 1.1 from a willing client: no session" sh -c "echo | timeout 5 openssl s_client -connect 127.0.0.1:$T_PORT -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1 | grep -q '^New, TLSv1'"
check "TLS 1.2: a session" sh -c "echo | timeout 5 openssl s_client -connect 127.0.0.1:$T_PORT -tls1_2 2>&1 | grep -q '^New, TLSv1.2'"
check "TLS 1.3 is accepted" curl -s -o /dev/null --fail --cacert "$TMP/ca.pem" --tlsv1.3 "$T_URL/healthz"
check_fails "a CBC suite is refused (AEAD only)" sh -c "echo | timeout 5 openssl s_client -connect 127.0.0.1:$T_PORT -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 2>&1 | grep -q '^New, TLSv1.2'"

# ------------------------------------------------------------ a log submits over https
check_fails "serve: a --witness-cacert that does not exist is refused" timeout 10 "$LOGSEAL" serve \
	--data "$D" --listen "127.0.0.1:$(free_port)" --witness "$T_URL=$VK" --witness-cacert "$TMP/nope.pem"
cp "$TMP/last.out" "$TMP/said"
check "... naming the option" grep -q -- "--witness-cacert" "$TMP/said"
check "the log starts with --witness https://...=VKEY --witness-cacert CA" start_server "$D" \
	--checkpoint-interval 100 --witness "$T_URL=$VK" --witness-cacert "$TMP/ca.pem" --witness-interval-ms 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
for i in $(seq 1 12); do ev "e$i"; echo; done >"$TMP/batch.ndjson"
check_eq "12 events: 200" 200 "$(req POST /v1/events "$W" application/x-ndjson "$TMP/batch.ndjson")"
N=$(tree_size)
cosigned() {
	req GET /log/checkpoint "$AUD" >/dev/null && cp "$TMP/resp" "$TMP/cp" &&
	[ "$(sed -n 2p "$TMP/cp")" -ge "$N" ] &&
	[ "$("$PY" "$TMP/cos.py" "$TMP/cp" "$LOGVKEY" "$VK")" = 1 ]
}
check "/log/checkpoint of the tree with the events (size >= $N) carries the witness's cosignature (over https), verified here" until_ok 15 cosigned
check_eq "the witness's monitoring endpoint over https: 200" 200 \
	"$(curl -s -o "$TMP/wcp" -w '%{http_code}' --cacert "$TMP/ca.pem" "$T_URL/$HASH/checkpoint")"
check_eq "... a checkpoint it cosigned, verified here" 1 "$("$PY" "$TMP/cos.py" "$TMP/wcp" "$LOGVKEY" "$VK")"
check_eq "integrity: quorum met" true "$(req GET /v1/integrity "$AUD" >/dev/null; jq -r .witnesses.quorum_met "$TMP/resp")"
check "server stops" stop_server

check "the log restarts without --witness-cacert (the system's CA store)" start_server "$D" \
	--checkpoint-interval 100 --witness "$T_URL=$VK" --witness-interval-ms 100
check_eq "more events: 200" 200 "$(req POST /v1/events "$W" $J <(ev untrusted))"
untrusted() {
	req GET /v1/integrity "$AUD" >/dev/null &&
	jq -r '.witnesses.witnesses[0].last_error' "$TMP/resp" | grep -qi 'certificate\|SSL\|TLS'
}
check "the witness's certificate is not trusted: integrity names the TLS error" until_ok 10 untrusted
check "server stops" stop_server

# ------------------------------------------------------------ rate limit (defaults)
check_eq "the HTTPS witness saw no refusal so far" 0 "$(grep -c 'refused add-checkpoint' "$TMP/T.err")"
# 60 add-checkpoint requests from one curl process (one connection): the
# first 20 (the burst) pass whatever the timing; unless they take over 4 s,
# 10 a second cannot cover the rest.
for i in $(seq 1 59); do printf 'url = "%s/add-checkpoint"\noutput = "/dev/null"\n' "$T_URL"; done >"$TMP/many.cfg"
printf 'url = "%s/add-checkpoint"\noutput = "%s"\n' "$T_URL" "$TMP/many.body" >>"$TMP/many.cfg"
curl -s --cacert "$TMP/ca.pem" --max-time 30 -K "$TMP/many.cfg" --data-binary "old 0" \
	-w '%{http_code} %header{retry-after}\n' >"$TMP/many.codes"
check_eq "60 requests: 60 answers" 60 "$(wc -l <"$TMP/many.codes")"
check_eq "the first 20 (the burst) are not refused (400: not a checkpoint)" "20 400" \
	"$(head -20 "$TMP/many.codes" | sort | uniq -c | awk '{print $1, $2}')"
N429=$(grep -c '^429 ' "$TMP/many.codes")
check "then 429s ($N429)" test "$N429" -ge 10
check_eq "every 429 carries Retry-After: 1 (0.1 s to the next token, rounded up)" "$N429" \
	"$(grep -c '^429 1$' "$TMP/many.codes")"
c=$(curl -s -o "$TMP/b429" -w '%{http_code}' --cacert "$TMP/ca.pem" --data-binary "old 0" "$T_URL/add-checkpoint")
[ "$c" = 429 ] && N429=$((N429 + 1))
check "a 429 says the limit in its body" grep -q "at most 10 a second (burst 20)" "$TMP/many.body" "$TMP/b429"
check_eq "GETs are not limited: /healthz" 200 "$(code --cacert "$TMP/ca.pem" "$T_URL/healthz")"
check_eq "another client address (127.0.0.2) has its own bucket" 400 \
	"$(code --interface 127.0.0.2 --cacert "$TMP/ca.pem" --data-binary "old 0" "$T_URL/add-checkpoint")"
check "the refusals are said on stderr, naming the client" grep -q "refused add-checkpoint (rate limit) from 127.0.0.1" "$TMP/T.err"
check_eq "... at most one line a second" 1 "$([ "$(grep -c 'refused add-checkpoint' "$TMP/T.err")" -le 3 ] && echo 1)"
check "the witness stops" stop_wit T
check_eq "at stop it prints the exact count of 429s" 1 \
	"$(grep -c "refused $N429 add-checkpoint request(s) over the rate limit (429) and 0 too large (413)" "$TMP/T.err")"

# ------------------------------------------------------------ rate limit (small), recovery
check "a witness with --rate-limit 0.5 --rate-burst 3 starts (plain HTTP on loopback)" \
	start_wit R http --rate-limit 0.5 --rate-burst 3
check "... and prints that limit" grep -q "limited to 0.5 a second per client (burst 3)" "$TMP/R.out"
c1=$(code --data-binary "old 0" "$R_URL/add-checkpoint")
c2=$(code --data-binary "old 0" "$R_URL/add-checkpoint")
c3=$(code --data-binary "old 0" "$R_URL/add-checkpoint")
check_eq "the burst of 3 passes" "400 400 400" "$c1 $c2 $c3"
check_eq "the 4th: 429" 429 "$(curl -s -o /dev/null -D "$TMP/h" -w '%{http_code}' --data-binary "old 0" "$R_URL/add-checkpoint")"
RA=$(tr -d '\r' <"$TMP/h" | awk -F': ' 'tolower($1) == "retry-after" {print $2}')
check "... with Retry-After: 1 or 2 (one token every 2 s)" test "$RA" = 2 -o "$RA" = 1
sleep "$RA"
check_eq "after waiting Retry-After ($RA s): accepted again" 400 "$(code --data-binary "old 0" "$R_URL/add-checkpoint")"
check_eq "... and at once refused again (one token came back)" 429 "$(code --data-binary "old 0" "$R_URL/add-checkpoint")"

# ------------------------------------------------------------ body size
head -c 70000 /dev/zero | tr '\0' 'a' >"$TMP/big"
check "a witness with --rate-limit 0 (no limit) starts" start_wit B http --rate-limit 0 --max-connections-per-ip 2
check_eq "a body of 70000 bytes (over the cap of 69632): 413" 413 \
	"$(code --data-binary @"$TMP/big" "$B_URL/add-checkpoint")"
check_eq "... chunked (no Content-Length): 413" 413 \
	"$(code -H "Transfer-Encoding: chunked" --data-binary @"$TMP/big" "$B_URL/add-checkpoint")"
check_eq "a body just under the cap is read (400: not a checkpoint)" 400 \
	"$(code --data-binary @<(head -c 69000 "$TMP/big") "$B_URL/add-checkpoint")"
for i in $(seq 1 30); do code --data-binary "old 0" "$B_URL/add-checkpoint"; echo; done >"$TMP/nolimit"
check_eq "--rate-limit 0: 30 in a row, none refused" "30 400" "$(sort "$TMP/nolimit" | uniq -c | awk '{print $1, $2}')"

# ------------------------------------------------------------ connections per address
exec 3<>"/dev/tcp/127.0.0.1/$B_PORT" 4<>"/dev/tcp/127.0.0.1/$B_PORT"
sleep 0.3
check_fails "--max-connections-per-ip 2: a third connection from the address is refused" \
	curl -s -o /dev/null --fail --max-time 5 "$B_URL/healthz"
check_eq "... another address is served" 200 "$(code --interface 127.0.0.2 "$B_URL/healthz")"
exec 3>&- 4>&-
sleep 0.3
check_eq "once they close, the address is served again" 200 "$(code "$B_URL/healthz")"
check "the witness stops" stop_wit B
check_eq "at stop: 2 too large" 1 "$(grep -c "over the rate limit (429) and 2 too large (413)" "$TMP/B.err")"
check "the rate-limited witness stops" stop_wit R
done_testing
