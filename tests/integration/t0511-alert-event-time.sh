#!/bin/bash
# Threshold rules count by event time (issue 18): a backfilled burst of old
# events (50 denials of two days ago, one batch) fires no threshold rule and
# shows in /metrics as late events; the same rule fires on a real burst
# sent as it happens; a rule with "clock":"arrival" fires on the backfill,
# as every threshold rule did before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
send() { printf '%s' "$3" >"$TMP/send.json"; req POST "$1" "$2" $J "$TMP/send.json"; }
metric() { curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
fired() { req GET '/v1/alerts?limit=1000' "$AUD" >/dev/null; jq --arg r "$1" --arg g "$2" '[.alerts[] | select(.rule.id == $r and .group == $g)] | length' "$TMP/resp"; }
# burst FILE ACTOR AGO_SECONDS: 50 denials of ACTOR, 1 s apart, the newest AGO_SECONDS ago
burst() {
	python3 - "$@" <<'PY'
import json, sys, time
out, actor, ago = sys.argv[1], sys.argv[2], int(sys.argv[3])
now = time.time() - ago
ev = lambda i: {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 49 + i)),
    "service": "shop", "actor": {"id": actor}, "action": "user.login", "outcome": "denied",
    "source": {"ip": "198.51.100.7"}}
open(out, "w").write(json.dumps([ev(i) for i in range(50)]))
PY
}
check_eq "threshold rule on the event clock (the default)" "201 event 300" \
	"$(send /v1/alerts/rules "$ADMIN" '{"id":"r_ev","name":"denials","kind":"threshold","filter":{"service":"shop","outcome":"denied"},"threshold":{"count":5,"window_seconds":60,"group_by":"actor"}}') $(jq -r '"\(.rule.threshold.clock // .threshold.clock) \(.rule.threshold.lateness_seconds // .threshold.lateness_seconds)"' "$TMP/resp")"
check_eq "the same rule on the arrival clock" 201 \
	"$(send /v1/alerts/rules "$ADMIN" '{"id":"r_arr","name":"denials by arrival","kind":"threshold","filter":{"service":"shop","outcome":"denied"},"threshold":{"count":5,"window_seconds":60,"group_by":"actor","clock":"arrival"}}')"
check_eq "lateness with the arrival clock: 400" 400 \
	"$(send /v1/alerts/rules "$ADMIN" '{"name":"x","kind":"threshold","filter":{"outcome":"denied"},"threshold":{"count":5,"window_seconds":60,"clock":"arrival","lateness_seconds":10}}')"

late0=$(metric logseal_alerts_late_events_total)
burst "$TMP/old.json" backfill $((2 * 86400))
check_eq "backfill: 50 denials of two days ago in one batch: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/old.json")"
burst "$TMP/now.json" live 0
check_eq "a real burst, sent as it happens: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/now.json")"
for _ in $(seq 1 50); do [ "$(fired r_ev live)" -ge 1 ] && break; sleep 0.1; done
check_eq "the real burst fires the event-clock rule" 1 "$(fired r_ev live)"
check_eq "the backfill does not" 0 "$(fired r_ev backfill)"
check_eq "... nor the default per-actor rule (also on the event clock)" 0 "$(fired r_default_actor_denials backfill)"
check_eq "the arrival-clock rule fires on the backfill (what every rule did before)" 1 "$(fired r_arr backfill)"
check_eq "late events in /metrics: 50 for each of the two event-clock rules" 100 \
	"$(( $(metric logseal_alerts_late_events_total) - ${late0:-0} ))"

check "stop" stop_server
done_testing
