#!/bin/bash
# Dashboard sessions (session.h, api_session.c): a bearer token exchanged
# for an HttpOnly SameSite=Strict cookie; the cookie authenticates with the
# token's role; a state-changing call with the cookie needs X-CSRF-Token
# (else 403, logged); GET /v1/session refreshes it; sign-out ends it; a
# short --session-idle expires it; revoking the token kills it; sign-in and
# sign-out are events logseal.session.open/.close with the token as actor.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin session.test/log
# --idem-snapshot-interval 1: the periodic sweep that logs sessions which
# ended by themselves runs every second.
check "server starts (idle 2 s)" start_server "$D" --session-idle 2 --denial-burst 100000 \
	--idem-snapshot-interval 1
ADMIN=$(cat "$D/admin.token")
AUD=$(new_token "$ADMIN" '{"role":"auditor","name":"aud"}'); AUD_ID=$(cat "$TMP/newtok.id")
J=$TMP/jar
# creq METHOD PATH [CSRF [BODY-JSON]]: with the cookie jar, no bearer token.
creq() {
	local args=(-s -o "$TMP/resp" -D "$TMP/resp.h" -w '%{http_code}' -X "$1" -b "$J" -c "$J" --max-time 20)
	[ -n "${3:-}" ] && args+=(-H "X-CSRF-Token: $3")
	[ -n "${4:-}" ] && args+=(-H "Content-Type: application/json" --data-binary "$4")
	curl "${args[@]}" "$SRV_URL$2"
}
actions() { req GET "/v1/events?service=logseal&action=$1" "$ADMIN" >/dev/null; jq '.events|length' "$TMP/resp"; }

check_eq "GET /v1/session without a cookie: 401" 401 "$(creq GET /v1/session)"
check_eq "... code no_session" no_session "$(jq -r .error.code "$TMP/resp")"
check_eq "POST /v1/session without a token: 401" 401 "$(creq POST /v1/session)"
code=$(curl -s -o "$TMP/resp" -D "$TMP/resp.h" -w '%{http_code}' -X POST -c "$J" \
	-H "Authorization: Bearer $ADMIN" "$SRV_URL/v1/session")
check_eq "sign in as admin: 200" 200 "$code"
check_eq "role admin" admin "$(jq -r .role "$TMP/resp")"
check_eq "idle_seconds 2" 2 "$(jq -r .idle_seconds "$TMP/resp")"
CSRF=$(jq -r .csrf "$TMP/resp")
check_eq "csrf is 64 hex" 1 "$(printf %s "$CSRF" | grep -c -E '^[0-9a-f]{64}$')"
SC=$(grep -i '^set-cookie:' "$TMP/resp.h" | tr -d '\r')
check_eq "cookie is 256 random bits" 1 "$(printf %s "$SC" | grep -c -E 'logseal_session=[0-9a-f]{64};')"
for a in HttpOnly SameSite=Strict Path=/; do
	check_eq "cookie has $a" 1 "$(printf %s "$SC" | grep -c "; $a")"
done
check_eq "no Secure over plain HTTP" 0 "$(printf %s "$SC" | grep -c Secure)"
COOKIE=$(printf %s "$SC" | sed -E 's/.*logseal_session=([0-9a-f]{64}).*/\1/')
check_fails "the cookie value is not kept in the data directory" grep -r -q "$COOKIE" "$D"
check_fails "the token is not in the reply" grep -q "$ADMIN" "$TMP/resp"

check_eq "GET /v1/session with the cookie: 200" 200 "$(creq GET /v1/session)"
check_eq "... same csrf" "$CSRF" "$(jq -r .csrf "$TMP/resp")"
check_eq "cookie reads as admin: GET /v1/tokens 200" 200 "$(creq GET /v1/tokens)"
check_eq "cookie reads events: 200" 200 "$(creq GET '/v1/events?limit=1')"
# CSRF: a state-changing call with the cookie and no header, or a wrong one.
before=$(actions logseal.auth.denied)
check_eq "POST /v1/tokens with cookie, no X-CSRF-Token: 403" 403 \
	"$(creq POST /v1/tokens "" '{"role":"auditor"}')"
check_eq "... says why" 1 "$(jq -r .error.message "$TMP/resp" | grep -c CSRF)"
check_eq "wrong X-CSRF-Token: 403" 403 \
	"$(creq POST /v1/tokens "$(printf '0%.0s' $(seq 64))" '{"role":"auditor"}')"
check_eq "the two refusals are logged denials" $((before + 2)) "$(actions logseal.auth.denied)"
check_eq "with X-CSRF-Token: 201" 201 "$(creq POST /v1/tokens "$CSRF" '{"role":"auditor","name":"via-cookie"}')"
check_eq "DELETE with cookie and no CSRF: 403" 403 "$(creq DELETE /v1/session)"

# Idle expiry: 2 s idle, kept alive by use, then left alone.
sleep 1.2; creq GET /v1/session >/dev/null; sleep 1.2
check_eq "used within the idle time: still signed in" 200 "$(creq GET /v1/session)"
sleep 2.5
check_eq "idle past 2 s: GET /v1/session 401" 401 "$(creq GET /v1/session)"
check_eq "idle past 2 s: the cookie reads nothing (401)" 401 "$(creq GET /v1/tokens)"

# Sign-out.
curl -s -o "$TMP/resp" -X POST -c "$J" -H "Authorization: Bearer $ADMIN" "$SRV_URL/v1/session"
CSRF=$(jq -r .csrf "$TMP/resp")
check_eq "sign out: 200" 200 "$(creq DELETE /v1/session "$CSRF")"
check_eq "... closed" true "$(jq -r .closed "$TMP/resp")"
check_eq "... clears the cookie" 1 "$(grep -i '^set-cookie:' "$TMP/resp.h" | grep -c 'Max-Age=0')"
check_eq "signed out: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: logseal_session=$COOKIE" "$SRV_URL/v1/tokens")"

# Revoking the token ends its sessions at once.
rm -f "$J"
curl -s -o "$TMP/resp" -X POST -c "$J" -H "Authorization: Bearer $AUD" "$SRV_URL/v1/session"
check_eq "auditor signs in: role auditor" auditor "$(jq -r .role "$TMP/resp")"
check_eq "auditor's cookie reads events" 200 "$(creq GET '/v1/events?limit=1')"
check_eq "auditor's cookie cannot list tokens: 403" 403 "$(creq GET /v1/tokens)"
check_eq "revoke the auditor token" 200 "$(req DELETE "/v1/tokens/$AUD_ID" "$ADMIN")"
check_eq "the revoked token's session: 401" 401 "$(creq GET '/v1/events?limit=1')"
check_eq "... and GET /v1/session 401" 401 "$(creq GET /v1/session)"

# The log: opens (3) and closes (3: idle, sign-out, revoked), actor = the
# token id, no secret.  The idle one is written by the sweep (1 s).
sleep 1.5
check_eq "3 logseal.session.open events" 3 "$(actions logseal.session.open)"
check_eq "3 logseal.session.close events" 3 "$(actions logseal.session.close)"
ADMIN_ID=$(req GET /v1/tokens "$ADMIN" >/dev/null; jq -r '.tokens[] | select(.name=="initial admin") | .id' "$TMP/resp")
actions logseal.session.close >/dev/null
check_eq "the closes: reason and actor (the token), each once" \
	"idle $ADMIN_ID|revoked $AUD_ID|sign-out $ADMIN_ID" \
	"$(jq -r '[.events[].entry | "\(.details.reason) \(.actor.id)"] | sort | join("|")' "$TMP/resp")"
check_eq "the ones the server ended itself come from it (source internal), each naming its session" \
	"internal internal 2" \
	"$(jq -r '[.events[].entry | select(.details.reason != "sign-out")] | "\(.[0].source.endpoint) \(.[1].source.endpoint) \([.[].details.session | select(length == 16)] | length)"' "$TMP/resp")"
check_fails "no cookie value in the server's output" grep -q "$COOKIE" "$SRV_OUT" "$SRV_ERR"
check "server stops" stop_server

# TLS: the cookie is Secure.
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
		-keyout "$TMP/k.pem" -out "$TMP/c.pem" >/dev/null 2>&1; chmod 600 "$TMP/k.pem"
	SRV_SCHEME=https SRV_CURL_OPTS=-k check "TLS server starts" start_server "$D" --tls-cert "$TMP/c.pem" --tls-key "$TMP/k.pem"
	curl -sk -o /dev/null -D "$TMP/resp.h" -X POST -H "Authorization: Bearer $ADMIN" "https://127.0.0.1:$SRV_PORT/v1/session"
	check_eq "over TLS the cookie is Secure" 1 "$(grep -i '^set-cookie:' "$TMP/resp.h" | grep -c '; Secure')"
	stop_server
fi
done_testing
