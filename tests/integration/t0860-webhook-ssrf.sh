#!/bin/bash
# Webhooks cannot be aimed at the server's own network (SSRF), and do not
# give their secrets away.  Without --webhook-allow-private, a webhook
# aimed at loopback (127.0.0.1, [::1], "localhost", the IPv4-mapped form),
# cloud metadata (169.254.169.254), a private network (10.x) or 0.0.0.0 is
# refused at creation with 400 webhook_target_forbidden, and nothing is
# stored or logged; a loopback webhook stored while it was allowed is
# refused at delivery once it no longer is, before any connection.  GET
# masks credentials and query values in the URL and never returns the
# signing secret; with encryption at rest the secret and URL are sealed in
# alerts/webhooks.json, and an older plaintext file is sealed when loaded.
# What a failed delivery tells an auditor does not say whether the port was
# closed or silent (a port-scan oracle).
# Every connection in this test is to 127.0.0.1; refused targets are never
# connected to, and the only non-loopback URLs are public documentation
# addresses (198.51.100.0/24) that no rule ever delivers to.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
J=application/json
D=$TMP/data
# send PATH TOKEN JSON-TEXT: POST it; prints the status.
send() { printf '%s' "$3" >"$TMP/send.json"; req POST "$1" "$2" $J "$TMP/send.json"; }
# hook NAME URL: POST /v1/alerts/webhooks as admin; prints "status code".
hook() {
	local st
	st=$(send /v1/alerts/webhooks "$ADMIN" "{\"name\":\"$1\",\"url\":\"$2\",\"secret\":\"$SECRET\",\"timeout_ms\":300}")
	echo "$st $(jq -r '.error.code // "-"' "$TMP/resp")"
}
SECRET="whsec-$$-$RANDOM-marker"
PASS="pa55-$$-$RANDOM"
QTOK="qtok-$$-$RANDOM"

# A receiver on loopback: it must never see a request for a refused target.
"$TESTBIN/webhook_receiver" --port-file "$TMP/recv.port" --out "$TMP/recv.out" --secret "$SECRET" \
	--lifetime 60 &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 1 50); do [ -s "$TMP/recv.port" ] && break; sleep 0.1; done
RP=$(cat "$TMP/recv.port")

check "init (encrypted at rest by default)" sh -c "'$LOGSEAL' init --data '$D' >/dev/null"
check "server starts without --webhook-allow-private" start_server "$D"
ADMIN=$(cat "$D/admin.token")
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')

# ---- refused at creation
check_eq "127.0.0.1: 400 webhook_target_forbidden" "400 webhook_target_forbidden" "$(hook a "http://127.0.0.1:$RP/hook")"
check "... the message names the kind of address" grep -q loopback "$TMP/resp"
check_eq "169.254.169.254 (cloud metadata): 400" "400 webhook_target_forbidden" "$(hook a "http://169.254.169.254/latest/meta-data/")"
check "... named link-local" grep -q link-local "$TMP/resp"
check_eq "[::1]: 400" "400 webhook_target_forbidden" "$(hook a "http://[::1]:$RP/hook")"
check_eq "10.1.2.3: 400" "400 webhook_target_forbidden" "$(hook a "http://10.1.2.3/hook")"
check_eq "localhost (resolves to loopback): 400" "400 webhook_target_forbidden" "$(hook a "http://localhost:$RP/hook")"
check_eq "[::ffff:127.0.0.1] (IPv4-mapped loopback): 400" "400 webhook_target_forbidden" "$(hook a "http://[::ffff:127.0.0.1]:$RP/hook")"
check_eq "0.0.0.0: 400" "400 webhook_target_forbidden" "$(hook a "http://0.0.0.0:$RP/hook")"
check_eq "127.0.0.1 behind user information: 400" "400 webhook_target_forbidden" "$(hook a "http://x:y@127.0.0.1:$RP/hook")"
check_eq "nothing was stored" 0 "$(req GET /v1/alerts/webhooks "$ADMIN" >/dev/null; jq '.webhooks | length' "$TMP/resp")"
check_eq "nothing was logged as set" 0 \
	"$(req GET "/v1/events?service=logseal&action=logseal.webhook.set" "$AUD" >/dev/null; jq '.events | length' "$TMP/resp")"
check_eq "the loopback receiver saw no request" 0 "$(cat "$TMP/recv.out" 2>/dev/null | wc -l)"

# ---- masking (a public documentation address: no rule delivers to it)
check_eq "a public target with credentials in its URL: 200" "200 -" \
	"$(hook pub "https://svc:$PASS@198.51.100.7/hook?token=$QTOK&team=soc")"
req GET /v1/alerts/webhooks "$ADMIN" >/dev/null
check_eq "GET masks user information and query values" "https://***@198.51.100.7/hook?token=***&team=***" \
	"$(jq -r '.webhooks[] | select(.name == "pub") | .url' "$TMP/resp")"
check_eq "GET shows that a secret is set, not the secret" set "$(jq -r '.webhooks[] | select(.name == "pub") | .secret' "$TMP/resp")"
check_fails "GET holds no credential" grep -q -e "$PASS" -e "$QTOK" -e "$SECRET" "$TMP/resp"
req GET "/v1/events?service=logseal&action=logseal.webhook.set" "$AUD" >/dev/null
check_fails "the log event holds no credential" grep -q -e "$PASS" -e "$QTOK" -e "$SECRET" "$TMP/resp"

# ---- sealed at rest
F=$D/alerts/webhooks.json
check "webhooks.json exists" test -s "$F"
check_fails "the secret is not in webhooks.json in plaintext" grep -q -F "$SECRET" "$F"
check_fails "nor the URL's password or token" grep -q -e "$PASS" -e "$QTOK" "$F"
check_eq "it holds them sealed" "true true" "$(jq -r '.webhooks[0] | "\(has("secret_sealed")) \(has("url_sealed"))"' "$F")"
check "stop" stop_server
# An older file, written before sealing, in plaintext.
OLD="old-$$-$RANDOM-secret"
# (A file from before sealing has no integrity seal either: it is adopted by
# the documented migration, `logseal keys seal-config`, then loaded.)
jq -c --arg s "$OLD" 'del(.mac) | .webhooks += [{"name":"old","url":"https://198.51.100.8/x","secret":$s,"format":"json","timeout_ms":300}]' \
	"$F" >"$TMP/wh.json"
# the sealed entry stays: old and new entries side by side
cp "$TMP/wh.json" "$F" && chmod 600 "$F"
check "the old file is adopted by keys seal-config" sh -c "'$LOGSEAL' keys seal-config --data '$D' >/dev/null"
check "a plaintext webhooks.json entry still loads" start_server "$D"
check_eq "... both webhooks listed" "old pub" "$(req GET /v1/alerts/webhooks "$ADMIN" >/dev/null; jq -r '[.webhooks[].name] | sort | join(" ")' "$TMP/resp")"
check_fails "... and it was sealed when loaded" grep -q -F "$OLD" "$F"
check "stop again" stop_server

# ---- refused at delivery: stored while allowed, delivered when no longer
D2=$TMP/data2
check "init a second directory" sh -c "'$LOGSEAL' init --data '$D2' >/dev/null"
check "server starts with --webhook-allow-private 127.0.0.1" start_server "$D2" --webhook-allow-private 127.0.0.1
ADMIN=$(cat "$D2/admin.token")
check_eq "127.0.0.1 allowed by the operator: 200" "200 -" "$(hook recv "http://127.0.0.1:$RP/hook")"
check_eq "[::1] still refused (not in the allow list)" "400 webhook_target_forbidden" "$(hook a "http://[::1]:$RP/hook")"
check_eq "a rule delivering to it" 201 \
	"$(send /v1/alerts/rules "$ADMIN" '{"id":"r_p","name":"probe","kind":"match","filter":{"action":"probe.x"},"webhooks":["recv"]}')"
check "stop" stop_server
check "restart without the allow option" start_server "$D2"
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
ev p1 probe.x >"$TMP/ev.json"
check_eq "an event fires the rule" 200 "$(req POST /v1/events "$W" $J "$TMP/ev.json")"
# last_error RULE: waits (<= 10 s) for the first failed attempt's error.
last_error() {
	local e
	for _ in $(seq 1 100); do
		req GET "/v1/alerts?limit=10" "$AUD" >/dev/null
		e=$(jq -r --arg r "$1" '[.alerts[] | select(.rule.id == $r)][0].webhooks[0].last_error // empty' "$TMP/resp" 2>/dev/null)
		[ -n "$e" ] && { echo "$e"; return 0; }
		sleep 0.1
	done
	return 1
}
E=$(last_error r_p)
check_eq "the delivery is refused at delivery time" "delivery failed: the target address is not allowed (loopback)" "$E"
check_eq "... and the receiver saw no request" 0 "$(cat "$TMP/recv.out" 2>/dev/null | wc -l)"
check "stop" stop_server

# ---- no port-scan oracle: a closed port and a silent one read the same
# probe DIR PORT: a fresh server allowed loopback, one webhook at PORT, one
# alert; prints the first failed attempt's last_error.
probe() {
	"$LOGSEAL" init --data "$1" >/dev/null || return 1
	start_server "$1" --webhook-allow-private 127.0.0.1 || return 1
	ADMIN=$(cat "$1/admin.token")
	W=$(new_token "$ADMIN" '{"role":"writer"}')
	AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
	hook probe "http://127.0.0.1:$2/hook" >/dev/null
	send /v1/alerts/rules "$ADMIN" '{"id":"r_p","name":"probe","kind":"match","filter":{"action":"probe.x"},"webhooks":["probe"]}' >/dev/null
	ev p1 probe.x >"$TMP/ev.json"
	req POST /v1/events "$W" $J "$TMP/ev.json" >/dev/null
	last_error r_p
	stop_server
}
"$TESTBIN/webhook_receiver" --port-file "$TMP/hang.port" --out "$TMP/hang.out" --hang --lifetime 60 &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 1 50); do [ -s "$TMP/hang.port" ] && break; sleep 0.1; done
CLOSED=$(free_port)
E_CLOSED=$(probe "$TMP/data3" "$CLOSED")
E_HANG=$(probe "$TMP/data4" "$(cat "$TMP/hang.port")")
check "the silent receiver was reached" test -s "$TMP/hang.out"
check_eq "closed port: a generic error" "delivery failed" "$E_CLOSED"
check_eq "silent port: the same error" "$E_CLOSED" "$E_HANG"
done_testing
