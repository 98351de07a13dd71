#!/bin/bash
# Roles: every route against no token, a bad token, and tokens of each role
# (writer, writer bound to a service, auditor, admin-only, admin+auditor),
# expecting 200/201/404-not-implemented where allowed and 401/403 where not.
# Every 401/403, every token change and every read is appended to the log; a revoked
# token is refused on the next request; no secret leaks into the data
# directory (but admin.token) or the server's output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin roles.test/log
# Every denial logged one by one (not counted into summaries: t0315).
check "server starts" start_server "$D" --denial-burst 100000
ADMIN=$(cat "$D/admin.token")
# The default alert rules (tested in t0510) would add their own events to
# the exact count below: remove them first.
req GET /v1/alerts/rules "$ADMIN" >/dev/null
for id in $(jq -r '.rules[].id' "$TMP/resp"); do req DELETE "/v1/alerts/rules/$id" "$ADMIN" >/dev/null; done
check_eq "default alert rules removed" 0 "$(req GET /v1/alerts/rules "$ADMIN" >/dev/null; jq '.rules | length' "$TMP/resp")"
WRITER=$(new_token "$ADMIN" '{"role":"writer","name":"w"}'); WRITER_ID=$(cat "$TMP/newtok.id")
BOUND=$(new_token "$ADMIN" '{"role":"writer","service":"billing","name":"bound"}')
AUDITOR=$(new_token "$ADMIN" '{"role":"auditor"}')
ADMINONLY=$(new_token "$ADMIN" '{"roles":["admin"],"name":"token manager"}')
MULTI=$(new_token "$ADMIN" '{"roles":["writer","auditor"]}')
for t in WRITER BOUND AUDITOR ADMINONLY MULTI; do
	[ -n "${!t}" ] && [ "${!t}" != null ] && ok "created $t token" || not_ok "created $t token"
done
check_eq "token list shows 6 tokens" 6 "$(req GET /v1/tokens "$ADMIN" >/dev/null; jq '.tokens | length' "$TMP/resp")"
check_fails "the token list holds no secret or hash" grep -E -q 'lsk_|sha256' "$TMP/resp"
check_eq "bound token lists its service" billing "$(jq -r '.tokens[] | select(.name=="bound") | .service' "$TMP/resp")"

ev m1 >"$TMP/ev.json"
cp tests/vectors/k8s/create_configmap.json "$TMP/k8s.json"
printf '{"role":"auditor","name":"tmp"}' >"$TMP/tok.json"

# expect ROUTE-LABEL METHOD PATH CT BODY "none bad writer bound auditor adminonly admin multi"
denials=0
expect() {
	local label=$1 m=$2 p=$3 ct=$4 body=$5 want=($6)
	local names=(none bad WRITER BOUND AUDITOR ADMINONLY ADMIN MULTI) i tok got
	for i in "${!names[@]}"; do
		case ${names[$i]} in
		none) tok="" ;;
		bad) tok="lsk_0000000000000000000000000000000000000000000000000000000000000000" ;;
		*) tok=${!names[$i]} ;;
		esac
		[ "$m" = DELETE ] && [ "${want[$i]}" = 200 ] && { new_token "$ADMIN" '{"role":"auditor"}' >/dev/null; p=/v1/tokens/$(cat "$TMP/newtok.id"); }
		got=$(req "$m" "$p" "$tok" "$ct" "$body")
		if [ "$got" = "${want[$i]}" ]; then
			ok "$label as ${names[$i]}: $got"
		else
			not_ok "$label as ${names[$i]}: expected ${want[$i]}, got $got"; sed 's/^/#   /' "$TMP/resp"
		fi
		case $got in 401|403) denials=$((denials + 1)) ;; esac
		if [ "$got" = 404 ] && [ "$(jq -r .error.code "$TMP/resp")" != not_implemented ]; then
			not_ok "$label as ${names[$i]}: 404 is not_implemented"
		fi
	done
}
# config_reads: the audited reads of configuration (tokens, holds, rules, webhooks).
config_reads() { grep -a -o '"action":"logseal\.\(tokens\|holds\|rules\|webhooks\)\.list"' <("$TESTBIN/journalcat" "$D") | wc -l; }
cbefore=$(config_reads)
before=$(tree_size)
#                                                                          none bad writer bound auditor adminonly admin multi
expect "POST /v1/events"   POST /v1/events application/json "$TMP/ev.json" "401 401 200 200 403 403 403 200"
expect "POST /v1/k8s/audit" POST /v1/k8s/audit application/json "$TMP/k8s.json" "401 401 200 403 403 403 403 200"
expect "GET /v1/events"    GET /v1/events "" "" "401 401 403 403 200 403 200 200"
expect "GET /v1/events/0"  GET /v1/events/0 "" "" "401 401 403 403 200 403 200 200"
expect "GET /v1/proof/consistency" GET "/v1/proof/consistency?old=0&new=0" "" "" "401 401 403 403 200 403 200 200"
expect "GET /log/checkpoint" GET /log/checkpoint "" "" "401 401 403 403 200 403 200 200"
# GET /v1/events/0 made the log sign a checkpoint covering entry 0: its
# bundle (built from the store, no file) can be served.
TILE=/log/tile/entries/000.p/1
expect "GET $TILE" GET "$TILE" "" "" "401 401 403 403 200 403 200 200"
expect "GET /v1/export"    GET /v1/export "" "" "401 401 403 403 200 403 200 200"
# GET /v1/stream (auditor) never ends: its roles are checked in t0500.
expect "GET /metrics"      GET /metrics "" "" "401 401 403 403 200 403 200 200"
expect "GET /v1/alerts"    GET /v1/alerts "" "" "401 401 403 403 200 403 200 200"
expect "GET /v1/alerts/rules" GET /v1/alerts/rules "" "" "401 401 403 403 403 200 200 403"
expect "GET /v1/integrity" GET /v1/integrity "" "" "401 401 403 403 200 403 200 200"
expect "GET /v1/retention" GET /v1/retention "" "" "401 401 403 403 200 403 200 200"
expect "GET /v1/holds"     GET /v1/holds "" "" "401 401 403 403 403 200 200 403"
expect "GET /readyz"       GET /readyz "" "" "200 200 200 200 200 200 200 200"
expect "GET /v1/tokens"    GET /v1/tokens "" "" "401 401 403 403 403 200 200 403"
expect "POST /v1/tokens"   POST /v1/tokens application/json "$TMP/tok.json" "401 401 403 403 403 201 201 403"
expect "DELETE /v1/tokens/ID" DELETE /v1/tokens/tok_0000000000000000 "" "" "401 401 403 403 403 200 200 403"
expect "GET /healthz"      GET /healthz "" "" "200 200 200 200 200 200 200 200"
after=$(tree_size)
# Growth: the events that were accepted, the token changes, and one event per denial.
created=$(grep -a -o '"action":"logseal.token.create"' <("$TESTBIN/journalcat" "$D") | wc -l)
revoked=$(grep -a -o '"action":"logseal.token.revoke"' <("$TESTBIN/journalcat" "$D") | wc -l)
denied=$(grep -a -o '"action":"logseal.auth.denied"' <("$TESTBIN/journalcat" "$D") | wc -l)
unauth=$(grep -a -o '"action":"logseal.auth.unauthenticated"' <("$TESTBIN/journalcat" "$D") | wc -l)
reads=$(grep -a -o '"action":"logseal\.\(events\|proof\|log\|export\|alerts\|integrity\.get\|retention\.get\)[a-z.]*"' <("$TESTBIN/journalcat" "$D") | wc -l)
check_eq "every 401/403 was logged" "$denials" "$((denied + unauth))"
check_eq "every read was logged (3 reader tokens x 9 audited read routes)" 27 "$reads"
creads=$(( $(config_reads) - cbefore ))
check_eq "every configuration read was logged (2 admin tokens x 3 routes)" 6 "$creads"
check_eq "creates logged (5 + 2 from POST + 2 for DELETE)" 9 "$created"
check_eq "revokes logged" 2 "$revoked"
# 2 token POSTs, 2 creates + 2 revokes for DELETE; event m1 once per writer token (writer, bound,
# multi: idempotency keys are scoped by token); the k8s event once per token (writer, multi)
check_eq "the tree grew by denials + token changes + new events + reads" \
	"$((denials + 2 + 4 + 3 + 2 + reads + creads))" "$((after - before))"
grep -a -q "\"actor\":{\"id\":\"$WRITER_ID\"" <("$TESTBIN/journalcat" "$D") && ok "a writer's denial names its token id" || not_ok "a writer's denial names its token id"
grep -a -q '"actor":{"id":"anonymous"' <("$TESTBIN/journalcat" "$D") && ok "a 401 names the actor anonymous" || not_ok "a 401 names the actor anonymous"
grep -a -q '"path":"/v1/tokens","reason":"this endpoint needs role admin"' <("$TESTBIN/journalcat" "$D") && ok "a denial records path and reason" || not_ok "a denial records path and reason"
grep -a -q '"ip":"127.0.0.1"' <("$TESTBIN/journalcat" "$D") && ok "a denial records the client address" || not_ok "a denial records the client address"

# Bound writer: only its own service.
printf '{"time":"2024-01-01T00:00:00Z","actor":{"id":"x"},"action":"a.b","outcome":"success","source":{"ip":"10.1.1.1"},"service":"payroll"}' >"$TMP/other.json"
b=$(tree_size)
check_eq "bound writer: other service refused with 403" 403 "$(req POST /v1/events "$BOUND" application/json "$TMP/other.json")"
check_eq "403 names the field" service "$(jq -r .error.field "$TMP/resp")"
check_eq "the refusal is logged, the event is not" $((b + 1)) "$(tree_size)"
sed 's/payroll/billing/' "$TMP/other.json" >"$TMP/own.json"
check_eq "bound writer: own service accepted" 200 "$(req POST /v1/events "$BOUND" application/json "$TMP/own.json")"

# Revocation takes effect on the next request.
W2=$(new_token "$ADMIN" '{"role":"writer"}'); W2_ID=$(cat "$TMP/newtok.id")
ev r1 >"$TMP/r1.json"
check_eq "new writer works" 200 "$(req POST /v1/events "$W2" application/json "$TMP/r1.json")"
check_eq "admin revokes it" 200 "$(req DELETE "/v1/tokens/$W2_ID" "$ADMIN")"
check_eq "revoke reply carries the revocation time" true "$(jq '.revoked != null' "$TMP/resp")"
ev r2 >"$TMP/r2.json"
check_eq "revoked token refused on the next request" 401 "$(req POST /v1/events "$W2" application/json "$TMP/r2.json")"
check_eq "revoking again is harmless" 200 "$(req DELETE "/v1/tokens/$W2_ID" "$ADMIN")"
check_eq "revoking an unknown id: 404" 404 "$(req DELETE /v1/tokens/tok_ffffffffffffffff "$ADMIN")"
check_eq "the last admin token cannot be revoked by itself" 200 "$(req DELETE "/v1/tokens/$(jq -r '.tokens[] | select(.name=="token manager") | .id' <(req GET /v1/tokens "$ADMIN" >/dev/null; cat "$TMP/resp"))" "$ADMIN")"
ADMIN_ID=$(req GET /v1/tokens "$ADMIN" >/dev/null; jq -r '.tokens[] | select(.name=="initial admin") | .id' "$TMP/resp")
check_eq "revoking the last admin token: 409" 409 "$(req DELETE "/v1/tokens/$ADMIN_ID" "$ADMIN")"
printf '{"role":"owner"}' >"$TMP/badrole.json"
check_eq "unknown role: 400" 400 "$(req POST /v1/tokens "$ADMIN" application/json "$TMP/badrole.json")"
printf '{"role":"auditor","service":"x"}' >"$TMP/badsvc.json"
check_eq "service on a non-writer token: 400" 400 "$(req POST /v1/tokens "$ADMIN" application/json "$TMP/badsvc.json")"
printf '{"role":"writer","extra":1}' >"$TMP/extra.json"
check_eq "unknown field: 400" 400 "$(req POST /v1/tokens "$ADMIN" application/json "$TMP/extra.json")"

# Wrong methods and unknown routes.
check_eq "PUT /v1/events: 405" 405 "$(req PUT /v1/events "$ADMIN")"
grep -qi '^Allow: .*POST' "$TMP/resp.h" && ok "405 carries Allow" || not_ok "405 carries Allow"
check_eq "DELETE /v1/events/3: 405 (nobody deletes events)" 405 "$(req DELETE /v1/events/3 "$ADMIN")"
check_eq "PATCH /v1/events/3: 405" 405 "$(req PATCH /v1/events/3 "$ADMIN")"
check_eq "unknown route: 404" 404 "$(req GET /v2/whatever "$ADMIN")"
check_eq "error body is JSON with code" not_found "$(jq -r .error.code "$TMP/resp")"
check_eq "401 carries WWW-Authenticate" 1 "$(req GET /v1/tokens "" >/dev/null; grep -ci '^WWW-Authenticate: Bearer' "$TMP/resp.h")"
check_eq "Basic auth is not a bearer token: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -u admin:x "$SRV_URL/v1/tokens")"

# The token CLI against the running server.
check "token create via the CLI" "$LOGSEAL" token create --role writer --service cli --name viacli --server "$SRV_URL" --data "$D"
CLI_SECRET=$(jq -r .token "$TMP/last.out"); CLI_ID=$(jq -r .id "$TMP/last.out")
check_eq "CLI prints the new token once" 1 "$(grep -c lsk_ "$TMP/last.out")"
check "token list via the CLI (LOGSEAL_TOKEN)" env LOGSEAL_TOKEN="$ADMIN" "$LOGSEAL" token list --server "$SRV_URL"
grep -q viacli "$TMP/last.out" && ok "CLI list shows the token" || not_ok "CLI list shows the token"
printf '%s\n' "$ADMIN" >"$TMP/admin.tok"
check "token revoke via the CLI (--token-file)" "$LOGSEAL" token revoke "$CLI_ID" --server "$SRV_URL/" --token-file "$TMP/admin.tok"
check_fails "CLI with a bad token fails" env LOGSEAL_TOKEN=lsk_nope "$LOGSEAL" token list --server "$SRV_URL"
check_fails "CLI with a bad id fails" "$LOGSEAL" token revoke nope --server "$SRV_URL" --data "$D"

stop_server; check_eq "stop: exit 0" 0 "$?"
# Secrets: nowhere in the data dir (admin.token aside) or the server output.
leak=0
for s in "$WRITER" "$BOUND" "$AUDITOR" "$ADMINONLY" "$MULTI" "$W2" "$CLI_SECRET" "$ADMIN"; do
	grep -r -F -q --exclude=admin.token "$s" "$D" && leak=1
	grep -F -q "$s" "$SRV_OUT" "$SRV_ERR" && leak=1
done
check_eq "no secret under DIR (but admin.token) or in the server output" 0 "$leak"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
