#!/bin/bash
# TLS: init --self-signed makes a certificate the server serves and curl
# verifies with --cacert; TLS 1.1 and below are refused; plain HTTP on a
# non-loopback address is refused at start unless --insecure-plaintext.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init --self-signed" "$LOGSEAL" init --data "$D" --self-signed
check "the certificate exists" test -s "$D/tls/cert.pem"
check_eq "the key is mode 0600" 600 "$(stat -c %a "$D/tls/key.pem")"
check "the certificate names localhost and the loopback IPs" sh -c \
	"openssl x509 -in '$D/tls/cert.pem' -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'"
days=$(( ( $(date -d "$(openssl x509 -in "$D/tls/cert.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) ) / 86400 ))
check_eq "valid for a year" 1 "$([ "$days" -ge 363 ] && [ "$days" -le 366 ] && echo 1 || echo "$days days")"
check "the key is ECDSA P-256" sh -c "openssl pkey -in '$D/tls/key.pem' -noout -text | grep -q 'prime256v1\|P-256'"

SRV_SCHEME=https SRV_CURL_OPTS="--cacert $D/tls/cert.pem"
check "server starts with the certificate" start_server "$D" --tls-cert "$D/tls/cert.pem" --tls-key "$D/tls/key.pem"
grep -q "https://127.0.0.1:$SRV_PORT" "$SRV_OUT" && ok "startup prints the https URL" || not_ok "startup prints the https URL"
check_eq "https /healthz with --cacert: 200" 200 "$(req GET /healthz "")"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
[ -n "$W" ] && ok "token over https" || not_ok "token over https"
ev tls1 >"$TMP/e.json"
check_eq "event over https: 200" 200 "$(req POST /v1/events "$W" application/json "$TMP/e.json")"
check_eq "https by the name localhost verifies too" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/tls/cert.pem" "https://localhost:$SRV_PORT/healthz")"
check_fails "without --cacert the certificate is not trusted" curl -s -o /dev/null --fail "$SRV_URL/healthz"
check_fails "TLS 1.1 is refused" curl -s -o /dev/null --fail --cacert "$D/tls/cert.pem" --tlsv1.0 --tls-max 1.1 "$SRV_URL/healthz"
# curl's OpenSSL may refuse TLS 1.1 by itself; a client willing to speak it
# (security level 0) shows that the server is the one refusing.
check_fails "TLS 1.1 from a willing client: no session" sh -c "echo | timeout 5 openssl s_client -connect 127.0.0.1:$SRV_PORT -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1 | grep -q '^New, TLSv1'"
check "TLS 1.2 from the same client: a session" sh -c "echo | timeout 5 openssl s_client -connect 127.0.0.1:$SRV_PORT -tls1_2 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1 | grep -q '^New, TLSv1.2'"
check "TLS 1.2 is accepted" curl -s -o /dev/null --fail --cacert "$D/tls/cert.pem" --tlsv1.2 --tls-max 1.2 "$SRV_URL/healthz"
check "TLS 1.3 is accepted" curl -s -o /dev/null --fail --cacert "$D/tls/cert.pem" --tlsv1.3 "$SRV_URL/healthz"
check_fails "plain HTTP to the TLS port fails" curl -s -o /dev/null --fail --max-time 5 "http://127.0.0.1:$SRV_PORT/healthz"
check "token CLI over https with --cacert" "$LOGSEAL" token list --server "$SRV_URL" --data "$D" --cacert "$D/tls/cert.pem"
check_fails "token CLI over https without --cacert fails" "$LOGSEAL" token list --server "$SRV_URL" --data "$D"
stop_server; check_eq "stop: exit 0" 0 "$?"
SRV_SCHEME=http SRV_CURL_OPTS=""

# Plain HTTP only on loopback.
port=$(free_port)
check_fails "plain HTTP on 0.0.0.0 refused" timeout 10 "$LOGSEAL" serve --data "$D" --listen "0.0.0.0:$port"
grep -q -- "--insecure-plaintext" "$TMP/last.out" && ok "the refusal names the flag" || not_ok "the refusal names the flag"
check_fails "a cert without a key is refused" timeout 10 "$LOGSEAL" serve --data "$D" --listen "127.0.0.1:$port" --tls-cert "$D/tls/cert.pem"
check_fails "a missing cert file is refused" timeout 10 "$LOGSEAL" serve --data "$D" --listen "127.0.0.1:$port" --tls-cert "$TMP/nope.pem" --tls-key "$D/tls/key.pem"
# With the flag it starts (and warns loudly); bound to 0.0.0.0, probed on 127.0.0.1.
"$LOGSEAL" serve --data "$D" --listen "0.0.0.0:$port" --insecure-plaintext >"$TMP/insecure.out" 2>"$TMP/insecure.err" &
pid=$!; SERVER_PIDS="$SERVER_PIDS $pid"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
check_eq "--insecure-plaintext starts it" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")"
grep -q "WARNING.*UNENCRYPTED" "$TMP/insecure.err" && ok "with a loud warning" || not_ok "with a loud warning"
kill -TERM $pid; wait $pid; check_eq "stop: exit 0" 0 "$?"
# IPv6 loopback, when the host has it.
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	port=$(free_port)
	"$LOGSEAL" serve --data "$D" --listen "[::1]:$port" >"$TMP/v6.out" 2>"$TMP/v6.err" &
	pid=$!; SERVER_PIDS="$SERVER_PIDS $pid"
	for _ in $(seq 1 50); do curl -s -o /dev/null "http://[::1]:$port/healthz" && break; sleep 0.1; done
	check_eq "plain HTTP on [::1] (loopback): 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://[::1]:$port/healthz")"
	grep -q "http://\[::1\]:$port" "$TMP/v6.out" && ok "IPv6 URL printed with brackets" || not_ok "IPv6 URL printed with brackets"
	kill -TERM $pid; wait $pid; check_eq "stop: exit 0" 0 "$?"
else
	ok "# SKIP no IPv6 loopback on this host"
fi
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
