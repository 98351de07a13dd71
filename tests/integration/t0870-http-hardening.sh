#!/bin/bash
# HTTP hardening: request bodies take memory as their bytes arrive, within a
# server-wide budget, and give it back; ambiguous requests (Content-Length
# twice or next to Transfer-Encoding, %00 in the path) are refused with 400;
# TLS offers AEAD suites with ECDHE only; a TLS key others may read is
# refused at start.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D"

# stall.py PORT TOKEN N CONTENT-LENGTH SEND READY DONE: opens N connections,
# each announcing CONTENT-LENGTH bytes of body and sending SEND of them, then
# touches READY and holds them until DONE exists (at most 60 s).  The server
# may refuse some (503 and close) while they send: READY says how many.
cat >"$TMP/stall.py" <<'EOF'
import os, socket, sys, time
port, tok, n, cl, send = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ready, done = sys.argv[6], sys.argv[7]
head = ('POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n'
        'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n' % (tok, cl)).encode()
body = b'[' + b' ' * (send - 1)
conns, cut = [], 0
for _ in range(n):
    s = socket.create_connection(('127.0.0.1', port), timeout=20)
    try:
        s.sendall(head + body)
    except OSError:
        cut += 1
    conns.append(s)
time.sleep(1.5)  # let the server read what was sent
with open(ready, 'w') as f:
    f.write('%d cut\n' % cut)
end = time.time() + 60
while not os.path.exists(done) and time.time() < end:
    time.sleep(0.1)
for s in conns:
    s.close()
EOF
# raw.py PORT: sends stdin as one request, prints the reply's status code.
cat >"$TMP/raw.py" <<'EOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
s.sendall(sys.stdin.buffer.read().replace(b'\n', b'\r\n'))
data = b''
try:
    while b'\r\n' not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(data.split(b' ')[1].decode() if data.startswith(b'HTTP/') else 'none')
EOF
rss_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$SRV_PID/status"; }
# VmData counts memory the server has taken even if it never touched it.
data_kb() { awk '/^VmData:/ { print $2 }' "/proc/$SRV_PID/status"; }
# refused COMMAND...: the command ends by itself within 10 s with a failure
# (a server that starts is stopped by timeout with 124: not a refusal).
refused() { timeout 10 "$@" >"$TMP/refusal.out" 2>&1; local rc=$?; [ $rc -ne 0 ] && [ $rc -ne 124 ]; }
# check_mem "description" command...: a memory figure, meaningless under
# AddressSanitizer (shadow memory, quarantine, its own allocator).
check_mem() {
	if [ -n "${LOGSEAL_SANITIZED:-}" ]; then ok "# SKIP $1 (sanitized build)"; else check "$@"; fi
}
# drained: every byte sent to the server on an open connection has been
# read by it (Recv-Q and Send-Q of the connections to SRV_PORT are empty).
queued() {
	ss -tnH state established "( sport = :$SRV_PORT or dport = :$SRV_PORT )" |
		awk '{ q += $1 + $2 } END { print q + 0 }'
}
drained() { for _ in $(seq 1 300); do [ "$(queued)" = 0 ] && sleep 0.5 && return 0; sleep 0.1; done; return 1; }
wait_file() { for _ in $(seq 1 300); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

# --- memory, first: 64 uploads announcing 16 MiB and sending 16 bytes.
check "server starts with a 32 MiB body budget" start_server "$D" --max-body-memory 33554432
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
for i in 1 2 3; do ev "warm$i"; echo; done >"$TMP/warm.ndjson"
check_eq "a warm-up batch: 200" 200 "$(req POST /v1/events "$W" application/x-ndjson "$TMP/warm.ndjson")"
before=$(rss_kb); dbefore=$(data_kb)
timeout 90 python3 "$TMP/stall.py" "$SRV_PORT" "$W" 64 16777216 16 "$TMP/ready0" "$TMP/done0" &
STALL=$!
check "64 stalled uploads of 16 bytes are open" wait_file "$TMP/ready0"
check "the server has read all they sent" drained
held=$(rss_kb); dheld=$(data_kb)
echo "# 16 bytes each: RssAnon $before -> $held kB, VmData $dbefore -> $dheld kB"
check_mem "VmData grows by less than 64 MiB: nothing is taken before the bytes arrive ($((dheld - dbefore)) kB)" \
	test $((dheld - dbefore)) -lt 65536
check_mem "RssAnon grows by less than 16 MiB ($((held - before)) kB)" test $((held - before)) -lt 16384
touch "$TMP/done0"
wait $STALL

# --- memory, then: 64 uploads announcing 16 MiB and stalling after 2 MiB
# each (128 MiB sent in all) with a body budget of 32 MiB.
before=$(rss_kb)
timeout 90 python3 "$TMP/stall.py" "$SRV_PORT" "$W" 64 16777216 2096128 "$TMP/ready" "$TMP/done" &
STALL=$!
check "64 stalled uploads are open" wait_file "$TMP/ready"
check "the server has read all they sent" drained
held=$(rss_kb)
echo "# RssAnon before: $before kB, with 64 stalled uploads: $held kB ($(cat "$TMP/ready") by the server while sending)"
check_mem "RssAnon grows by less than 64 MiB with 64 stalled 16 MiB uploads ($((held - before)) kB)" \
	test $((held - before)) -lt 65536
# More than 16 MiB of the budget is taken (else the next one would have
# been let in): a new 16 MiB upload is refused before its body, small
# requests on other connections still go through.
big=$(printf 'POST /v1/events HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer %s\nContent-Type: application/json\nContent-Length: 16777216\n\n' "$W" |
	timeout 20 python3 "$TMP/raw.py" "$SRV_PORT")
check_eq "a new 16 MiB upload: 503 while the budget is full" 503 "$big"
ev small1 >"$TMP/small.json"
check_eq "a small event on another connection: 200" 200 "$(req POST /v1/events "$W" application/json "$TMP/small.json")"
check_eq "GET /healthz: 200" 200 "$(req GET /healthz "")"
touch "$TMP/done"
wait $STALL
sleep 2
after=$(rss_kb)
echo "# RssAnon after they closed: $after kB"
check_mem "RssAnon after they closed is within 32 MiB of before ($((after - before)) kB)" \
	test $((after - before)) -lt 32768
ev small2 >"$TMP/small.json"
check_eq "an event after they closed: 200" 200 "$(req POST /v1/events "$W" application/json "$TMP/small.json")"

# --- the budget running out in the middle of a body: 24 uploads announcing
# 2 MiB + 1 KiB stall 2 KiB before their end (46 MiB in all).  Each takes
# 2 MiB; a new one is let in only while the budget has room for all of it,
# so more than 30 MiB of the 32 MiB end up taken.
timeout 90 python3 "$TMP/stall.py" "$SRV_PORT" "$W" 24 2098176 2096128 "$TMP/ready2" "$TMP/done2" &
STALL=$!
check "24 stalled uploads are open" wait_file "$TMP/ready2"
check "the server has read all they sent" drained
head -c 3145728 /dev/zero | tr '\0' ' ' >"$TMP/mib.json"
st=$(curl -s -o "$TMP/resp" -D "$TMP/resp.h" -w '%{http_code}' --max-time 20 -X POST \
	-H "Authorization: Bearer $W" -H 'Content-Type: application/json' \
	-H 'Transfer-Encoding: chunked' --data-binary "@$TMP/mib.json" "$SRV_URL/v1/events")
check_eq "a chunked 3 MiB upload: 503 busy once the budget runs out mid-body" "503 busy" \
	"$st $(jq -r .error.code "$TMP/resp" 2>/dev/null)"
check "with Retry-After" grep -qi '^Retry-After: [0-9]' "$TMP/resp.h"
ev small3 >"$TMP/small.json"
check_eq "a small event on another connection: 200" 200 "$(req POST /v1/events "$W" application/json "$TMP/small.json")"
touch "$TMP/done2"
wait $STALL
check_eq "the server's last word on memory: still up" 200 "$(req GET /healthz "")"

# --- ambiguous requests: 400, and nothing appended
size0=$(tree_size)
body=$(ev smuggle1)
st=$(printf 'POST /v1/events HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer %s\nContent-Type: application/json\nContent-Length: %d\nContent-Length: 5\nConnection: close\n\n%s' \
	"$W" "${#body}" "$body" | timeout 20 python3 "$TMP/raw.py" "$SRV_PORT")
check_eq "two different Content-Length headers: 400" 400 "$st"
st=$(printf 'POST /v1/events HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer %s\nContent-Type: application/json\nContent-Length: %d\nContent-Length: %d\nConnection: close\n\n%s' \
	"$W" "${#body}" "${#body}" "$body" | timeout 20 python3 "$TMP/raw.py" "$SRV_PORT")
check_eq "the same Content-Length twice: 400" 400 "$st"
st=$(printf 'POST /v1/events HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer %s\nContent-Type: application/json\nContent-Length: 4\nTransfer-Encoding: chunked\nConnection: close\n\n%x\n%s\n0\n\n' \
	"$W" "${#body}" "$body" | timeout 20 python3 "$TMP/raw.py" "$SRV_PORT")
check_eq "Content-Length next to Transfer-Encoding: 400" 400 "$st"
st=$(printf 'POST /v1/events HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer %s\nContent-Type: application/json\nContent-Length: %d\nConnection: close\n\n%s' \
	"$W" "${#body}" "$body" | timeout 20 python3 "$TMP/raw.py" "$SRV_PORT")
check_eq "one Content-Length: 200" 200 "$st"
ev nul1 >"$TMP/nul.json"
check_eq "POST /v1/events%00x: 400" 400 "$(curl -s -o "$TMP/resp" -w '%{http_code}' --path-as-is \
	-X POST -H "Authorization: Bearer $W" -H 'Content-Type: application/json' \
	--data-binary "@$TMP/nul.json" "$SRV_URL/v1/events%00x")"
check_eq "with code bad_request" bad_request "$(jq -r .error.code "$TMP/resp")"
check_eq "GET /healthz%00.json: 400" 400 \
	"$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$SRV_URL/healthz%00.json")"
check_eq "%00 in the query is still 400 bad_query" 400 \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$SRV_URL/v1/events?actor=a%00b")"
check_eq "of the ambiguous requests only the well-framed one was appended" $((size0 + 1)) "$(tree_size)"
stop_server; check_eq "stop: exit 0" 0 "$?"

# --- TLS: AEAD suites with ECDHE only, for an ECDSA and an RSA certificate
# handshake VERSION CIPHER: the cipher a willing client (security level 0)
# negotiated, or "none".
handshake() {
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$SRV_PORT" "$1" -cipher "$2:@SECLEVEL=0" 2>/dev/null |
		awk '/^New, / && $NF != "(NONE)" { print $NF; found = 1 } END { if (!found) print "none" }'
}
tls13() {
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$SRV_PORT" -tls1_3 -ciphersuites "$1" 2>/dev/null |
		awk '/^New, / && $NF != "(NONE)" { print $NF; found = 1 } END { if (!found) print "none" }'
}
check "init --self-signed" "$LOGSEAL" init --data "$TMP/tdata" --self-signed
SRV_SCHEME=https SRV_CURL_OPTS="--cacert $TMP/tdata/tls/cert.pem"
check "server starts with the ECDSA certificate" start_server "$TMP/tdata" \
	--tls-cert "$TMP/tdata/tls/cert.pem" --tls-key "$TMP/tdata/tls/key.pem"
check_eq "TLS 1.2 ECDHE-ECDSA-AES128-SHA (CBC, SHA-1): no session" none "$(handshake -tls1_2 ECDHE-ECDSA-AES128-SHA)"
check_eq "TLS 1.2 ECDHE-ECDSA-AES256-SHA384 (CBC): no session" none "$(handshake -tls1_2 ECDHE-ECDSA-AES256-SHA384)"
check_eq "TLS 1.2 AES128-SHA: no session" none "$(handshake -tls1_2 AES128-SHA)"
check_eq "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256: a session" ECDHE-ECDSA-AES128-GCM-SHA256 \
	"$(handshake -tls1_2 ECDHE-ECDSA-AES128-GCM-SHA256)"
check_eq "TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384: a session" ECDHE-ECDSA-AES256-GCM-SHA384 \
	"$(handshake -tls1_2 ECDHE-ECDSA-AES256-GCM-SHA384)"
check_eq "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305: a session" ECDHE-ECDSA-CHACHA20-POLY1305 \
	"$(handshake -tls1_2 ECDHE-ECDSA-CHACHA20-POLY1305)"
check_eq "TLS 1.3 TLS_AES_128_GCM_SHA256: a session" TLS_AES_128_GCM_SHA256 "$(tls13 TLS_AES_128_GCM_SHA256)"
check_eq "TLS 1.3 TLS_CHACHA20_POLY1305_SHA256: a session" TLS_CHACHA20_POLY1305_SHA256 \
	"$(tls13 TLS_CHACHA20_POLY1305_SHA256)"
check "curl over TLS 1.2" curl -s -o /dev/null --fail --cacert "$TMP/tdata/tls/cert.pem" --tlsv1.2 --tls-max 1.2 "$SRV_URL/healthz"
stop_server; check_eq "stop: exit 0" 0 "$?"

check "an RSA certificate" openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/rsa.key" \
	-out "$TMP/rsa.pem" -subj /CN=localhost -days 2 -addext "subjectAltName=IP:127.0.0.1"
chmod 600 "$TMP/rsa.key"
SRV_CURL_OPTS="--cacert $TMP/rsa.pem"
check "server starts with the RSA certificate" start_server "$TMP/tdata" --tls-cert "$TMP/rsa.pem" --tls-key "$TMP/rsa.key"
check_eq "TLS 1.2 AES128-SHA (static RSA, CBC): no session" none "$(handshake -tls1_2 AES128-SHA)"
check_eq "TLS 1.2 AES128-GCM-SHA256 (static RSA): no session" none "$(handshake -tls1_2 AES128-GCM-SHA256)"
check_eq "TLS 1.2 ECDHE-RSA-AES128-SHA (CBC, SHA-1): no session" none "$(handshake -tls1_2 ECDHE-RSA-AES128-SHA)"
check_eq "TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256: a session" ECDHE-RSA-AES128-GCM-SHA256 \
	"$(handshake -tls1_2 ECDHE-RSA-AES128-GCM-SHA256)"
check_eq "TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305: a session" ECDHE-RSA-CHACHA20-POLY1305 \
	"$(handshake -tls1_2 ECDHE-RSA-CHACHA20-POLY1305)"
stop_server; check_eq "stop: exit 0" 0 "$?"

# --- the TLS key's mode
port=$(free_port)
for mode in 644 640 604; do
	chmod "$mode" "$TMP/tdata/tls/key.pem"
	check "a key file of mode $mode is refused" refused "$LOGSEAL" serve --data "$TMP/tdata" \
		--listen "127.0.0.1:$port" --tls-cert "$TMP/tdata/tls/cert.pem" --tls-key "$TMP/tdata/tls/key.pem"
	check "the refusal names the mode and the fix" grep -q "mode 0$mode.*chmod 600" "$TMP/refusal.out"
done
chmod 400 "$TMP/tdata/tls/key.pem"
SRV_CURL_OPTS="--cacert $TMP/tdata/tls/cert.pem"
check "a key file of mode 400 is accepted" start_server "$TMP/tdata" \
	--tls-cert "$TMP/tdata/tls/cert.pem" --tls-key "$TMP/tdata/tls/key.pem"
stop_server; check_eq "stop: exit 0" 0 "$?"
SRV_SCHEME=http SRV_CURL_OPTS=""

check "--max-body-memory below --max-body is refused" refused "$LOGSEAL" serve --data "$D" \
	--listen "127.0.0.1:$port" --max-body 2097152 --max-body-memory 1048576
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
