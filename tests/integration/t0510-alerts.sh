#!/bin/bash
# Alerts through the real server: rules CRUD with roles (admin only, each
# change logged as logseal.rule.*, undone if it cannot be), and each rule
# kind firing on real traffic: match (a token created), threshold (5 denied
# events by one actor within 60 s, not 4), absence (a service silent for
# longer than allowed, with the engine's clock moved forward through the
# testing-only LOGSEAL_TEST_CLOCK_FILE).  Fired alerts are listed at
# GET /v1/alerts (an audited read) and are events of the log
# (logseal.alert.fired); the webhook receiver fails twice and then accepts
# the delivery, whose HMAC it checks; the failed attempts show in /metrics.
# Rules survive a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
CLOCK=$TMP/clock
echo 0 >"$CLOCK"
export LOGSEAL_TEST_CLOCK_FILE=$CLOCK
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --webhook-allow-private 127.0.0.1
check "it says the alert clock is under test" grep -q "TESTING: the alert engine's clock" "$SRV_ERR"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')

# post JSON-TEXT: one event batch as the writer; prints the status.
post() { printf '%s' "$1" >"$TMP/post.json"; req POST /v1/events "$W" $J "$TMP/post.json"; }
# body PATH TOKEN JSON-TEXT METHOD: prints the status.
send() { printf '%s' "$3" >"$TMP/send.json"; req "${4:-POST}" "$1" "$2" $J "$TMP/send.json"; }
# alert_for RULE [JQ-COND]: waits (<= TRIES/10 s, default 10) until GET /v1/alerts lists a
# fired alert of RULE (matching JQ-COND); prints it.
alert_for() {
	local cond=${2:-true}
	for _ in $(seq 1 "${TRIES:-100}"); do
		req GET "/v1/alerts?limit=1000" "$AUD" >/dev/null
		if jq -e --arg r "$1" "[.alerts[] | select(.rule.id == \$r and ($cond))] | length > 0" \
			"$TMP/resp" >/dev/null; then
			jq -c --arg r "$1" "[.alerts[] | select(.rule.id == \$r and ($cond))][0]" "$TMP/resp"
			return 0
		fi
		sleep 0.1
	done
	return 1
}
metric() { curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# (at the current time: threshold rules count by event time, and events
# more than their lateness bound old are not counted; t0511 tests that)
denied() { printf '{"time":"%s","service":"shop","actor":{"id":"%s"},"action":"user.login","outcome":"denied","source":{"ip":"198.51.100.%d"}}' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"; }

# ---- webhook receiver: fails twice, then accepts; checks the HMAC
"$TESTBIN/webhook_receiver" --port-file "$TMP/hook.port" --out "$TMP/hook.out" --secret s3cr3t \
	--fail 2 --lifetime 60 &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 1 50); do [ -s "$TMP/hook.port" ] && break; sleep 0.1; done
HOOK_PORT=$(cat "$TMP/hook.port")

# ---- rules CRUD and roles
check_eq "GET rules (admin): the 4 default rules" \
	"200 r_default_actor_denials r_default_logseal_denials r_default_token_change r_default_witness" \
	"$(req GET /v1/alerts/rules "$ADMIN") $(jq -r '[.rules[].id] | sort | join(" ")' "$TMP/resp")"
check_eq "GET rules as auditor: 403" 403 "$(req GET /v1/alerts/rules "$AUD")"
check_eq "POST rule as writer: 403" 403 "$(send /v1/alerts/rules "$W" '{"name":"x","kind":"match","filter":{"outcome":"denied"}}')"
check_eq "no token: 401" 401 "$(req GET /v1/alerts/rules '')"
check_eq "GET /v1/alerts as writer: 403" 403 "$(req GET /v1/alerts "$W")"
check_eq "a bad rule: 400 naming the field" "400 kind" \
	"$(send /v1/alerts/rules "$ADMIN" '{"name":"x","kind":"sometimes"}') $(jq -r .error.message "$TMP/resp" | grep -o kind | head -1)"
check_eq "a match rule without a filter: 400" 400 "$(send /v1/alerts/rules "$ADMIN" '{"name":"x","kind":"match","filter":{}}')"
python3 -c 'import json; print(json.dumps({"name": "x" * 70000, "kind": "match", "filter": {"outcome": "denied"}}))' >"$TMP/big.json"
check_eq "a rule over 64 KiB: 413" 413 "$(req POST /v1/alerts/rules "$ADMIN" $J "$TMP/big.json")"
check_eq "a rule naming an unknown webhook: 400" 400 \
	"$(send /v1/alerts/rules "$ADMIN" '{"name":"x","kind":"match","filter":{"outcome":"denied"},"webhooks":["nope"]}')"
check_eq "webhook set (admin)" 200 \
	"$(send /v1/alerts/webhooks "$ADMIN" "{\"name\":\"recv\",\"url\":\"http://127.0.0.1:$HOOK_PORT/hook?k=v\",\"secret\":\"s3cr3t\"}")"
check_eq "webhooks listed without their secret" "recv set" \
	"$(req GET /v1/alerts/webhooks "$ADMIN" >/dev/null; jq -r '.webhooks[] | "\(.name) \(.secret)"' "$TMP/resp")"
check_eq "POST a match rule on token creation: 201 with its id" "201 r_tok" \
	"$(send /v1/alerts/rules "$ADMIN" '{"id":"r_tok","name":"token created","kind":"match","severity":"high","filter":{"service":"logseal","action":"logseal.token.create"},"webhooks":["recv"]}') $(jq -r .id "$TMP/resp")"
check_eq "the same id again: 409" 409 \
	"$(send /v1/alerts/rules "$ADMIN" '{"id":"r_tok","name":"again","kind":"match","filter":{"outcome":"denied"}}')"
check_eq "DELETE an unknown rule: 404" 404 "$(req DELETE /v1/alerts/rules/r_nope "$ADMIN")"
check_eq "DELETE the default token rule: 200" 200 "$(req DELETE /v1/alerts/rules/r_default_token_change "$ADMIN")"
check_eq "DELETE as auditor: 403" 403 "$(req DELETE /v1/alerts/rules/r_tok "$AUD")"
check_eq "rules now" "r_default_actor_denials r_default_logseal_denials r_default_witness r_tok" \
	"$(req GET /v1/alerts/rules "$ADMIN" >/dev/null; jq -r '[.rules[].id] | sort | join(" ")' "$TMP/resp")"
req GET "/v1/events?service=logseal&action=logseal.rule.*&order=asc" "$AUD" >/dev/null
check_eq "rule changes are events: create then delete, by the admin token" \
	"logseal.rule.create:r_tok logseal.rule.delete:r_default_token_change" \
	"$(jq -r '[.events[].entry | "\(.action):\(.details.rule_id)"] | join(" ")' "$TMP/resp")"
req GET "/v1/events?service=logseal&action=logseal.webhook.set" "$AUD" >/dev/null
check_eq "webhook change is an event, without secret or query string" "recv http://127.0.0.1:$HOOK_PORT false" \
	"$(jq -r '.events[0].entry.details | "\(.webhook) \(.url_origin) \(tostring | test("s3cr3t|k=v"))"' "$TMP/resp")"

# ---- match: a token is created
T3=$(new_token "$ADMIN" '{"role":"auditor","name":"night shift"}'); T3_ID=$(cat "$TMP/newtok.id")
A=$(alert_for r_tok)
check "the match rule fires on the token creation" test -n "$A"
check_eq "... naming the rule, its severity and the creation event's index" "token created high logseal.token.create" \
	"$(printf '%s' "$A" | jq -r '"\(.rule.name) \(.rule.severity)"') $(req GET "/v1/events/$(printf '%s' "$A" | jq -r '.indexes[-1]')" "$AUD" >/dev/null; jq -r .entry.action "$TMP/resp")"
check_eq "... and that event created token $T3_ID" "$T3_ID" "$(jq -r .entry.details.token_id "$TMP/resp")"
LOGIDX=$(for _ in $(seq 1 50); do v=$(alert_for r_tok '.log_index != null' | jq -r .log_index); [ -n "$v" ] && { echo "$v"; break; }; sleep 0.1; done)
check_eq "the fired alert is in the log as logseal.alert.fired at its log_index" "logseal.alert.fired logseal r_tok" \
	"$(req GET "/v1/events/$LOGIDX" "$AUD" >/dev/null; jq -r '"\(.entry.action) \(.entry.service) \(.entry.details.rule.id)"' "$TMP/resp")"
req GET "/v1/events?service=logseal&action=logseal.alerts.list&limit=1" "$AUD" >/dev/null
check_eq "listing alerts is an audited read" logseal.alerts.list "$(jq -r '.events[0].entry.action' "$TMP/resp")"

# ---- webhook: two failures, then delivered with a good signature
hook_done() { for _ in $(seq 1 100); do grep -q '^[0-9]* 200 ' "$TMP/hook.out" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
check "the webhook is delivered after two failed attempts" hook_done
check_eq "... attempts: 500, 500, 200, each signed correctly" "500 sig=ok|500 sig=ok|200 sig=ok" \
	"$(awk '{print $2, $3}' "$TMP/hook.out" | head -3 | paste -sd'|')"
check_eq "... the body carries the alert (id rule@index)" "r_tok" \
	"$(grep '^3 200' "$TMP/hook.out" | cut -d' ' -f4- | jq -r .alert.rule.id)"
check_eq "the alert's state says delivered" delivered "$(for _ in $(seq 1 50); do s=$(alert_for r_tok | jq -r .state); [ "$s" = delivered ] && break; sleep 0.1; done; echo "$s")"
check_eq "the failed attempts are in /metrics" "2 1" \
	"$(metric logseal_webhook_attempt_failures_total) $(metric logseal_webhook_deliveries_total)"

# ---- threshold: 5 denied logins by one actor in 60 s (4 do not fire)
check_eq "POST a threshold rule" 201 \
	"$(send /v1/alerts/rules "$ADMIN" '{"id":"r_thr","name":"denied logins","kind":"threshold","filter":{"outcome":"denied","service":"shop"},"threshold":{"count":5,"window_seconds":60,"group_by":"actor"}}')"
for i in 1 2 3 4; do post "$(denied eve "$i")" >/dev/null; done
for i in 1 2 3 4 5; do post "$(denied mallory "$i")" >/dev/null; done
A=$(alert_for r_thr '.group == "mallory"')
check_eq "the 5th denial by mallory fires it, with the 5 indexes" "5 5" \
	"$(printf '%s' "$A" | jq -r '"\(.count) \(.indexes | length)"')"
sleep 1.5
check_eq "4 by eve do not" 0 "$(req GET '/v1/alerts?limit=1000' "$AUD" >/dev/null; jq '[.alerts[] | select(.rule.id == "r_thr" and .group == "eve")] | length' "$TMP/resp")"
check_eq "the default per-actor rule fired for mallory too" 1 \
	"$(jq '[.alerts[] | select(.rule.id == "r_default_actor_denials" and .group == "mallory")] | length' "$TMP/resp")"

# ---- absence: billing goes quiet
check_eq "POST an absence rule (billing, 120 s)" 201 \
	"$(send /v1/alerts/rules "$ADMIN" '{"id":"r_abs","name":"billing stopped logging","kind":"absence","absence":{"service":"billing","seconds":120}}')"
check_eq "billing logs once" 200 "$(post '{"time":"2024-01-01T00:00:00Z","service":"billing","actor":{"id":"svc"},"action":"invoice.create","outcome":"success","source":{"ip":"10.1.1.1"}}')"
sleep 2
quick_alert() { TRIES=5 alert_for "$@"; }
check_fails "no absence alert while the clock has not moved" quick_alert r_abs
echo 300 >"$CLOCK"
A=$(alert_for r_abs)
check "moving the engine's clock 300 s on fires it" test -n "$A"
check_eq "... naming the service and the silence" "billing 120" "$(printf '%s' "$A" | jq -r '"\(.service) \(.seconds)"')"
req GET "/v1/events?service=logseal&action=logseal.alert.fired&limit=1000" "$AUD" >/dev/null
check_eq "every rule kind left logseal.alert.fired events" "r_abs r_thr r_tok" \
	"$(jq -r '[.events[].entry.details.rule.id | select(. == "r_tok" or . == "r_thr" or . == "r_abs")] | unique | join(" ")' "$TMP/resp")"
check "alerts fired counted in /metrics (>= 4)" test "$(metric logseal_alerts_fired_total)" -ge 4

# ---- restart: the rules stay
check "stop" stop_server
check "restart" start_server "$D" --webhook-allow-private 127.0.0.1
check_eq "rules survive a restart" "r_abs r_default_actor_denials r_default_logseal_denials r_default_witness r_thr r_tok" \
	"$(req GET /v1/alerts/rules "$ADMIN" >/dev/null; jq -r '[.rules[].id] | sort | join(" ")' "$TMP/resp")"
check "stop again" stop_server
done_testing
