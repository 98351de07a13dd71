#!/bin/bash
# The dashboard's admin API (api_alerts_admin.c, api_searches.c, the
# retention plan): rule validation names the field; a rule is edited,
# disabled and enabled in place; a dry run says whether a rule would fire
# (on the log's last entries and on sample events); a threshold rule fires
# and its alert is acknowledged then resolved, each with a reason and a
# logged event; a webhook gets a test delivery and shows its history; saved
# searches are per token or shared, sealed on disk; the retention plan.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin admin.test/log
check "server starts" start_server "$D" --webhook-allow-private 127.0.0.1 --denial-burst 100000
ADMIN=$(cat "$D/admin.token")
AUD=$(new_token "$ADMIN" '{"role":"auditor","name":"aud"}')
AUD2=$(new_token "$ADMIN" '{"role":"auditor","name":"aud2"}')
W=$(new_token "$ADMIN" '{"role":"writer","name":"w"}')
J=application/json
post() { printf '%s' "$3" >"$TMP/body.json"; req POST "$1" "$2" $J "$TMP/body.json"; }
actions() { req GET "/v1/events?service=logseal&action=$1" "$ADMIN" >/dev/null; jq '.events|length' "$TMP/resp"; }

# Validation: 400 naming the field.
check_eq "bad threshold count: 400" 400 "$(post /v1/alerts/rules "$ADMIN" \
	'{"name":"x","kind":"threshold","filter":{"outcome":"denied"},"threshold":{"count":0,"window_seconds":60}}')"
check_eq "... field threshold.count" threshold.count "$(jq -r .error.field "$TMP/resp")"
check_eq "unknown severity: field severity" severity "$(post /v1/alerts/rules "$ADMIN" \
	'{"name":"x","kind":"match","filter":{"outcome":"denied"},"severity":"huge"}' >/dev/null; jq -r .error.field "$TMP/resp")" 

# Dry run on sample events: 3 denials of bob in a minute fire a 3-in-60 s rule.
RULE='{"name":"bob denied","kind":"threshold","filter":{"outcome":"denied","service":"app"},"threshold":{"count":3,"window_seconds":60,"group_by":"actor"},"severity":"high"}'
evd() { printf '{"time":"2026-01-01T00:00:%02dZ","service":"app","action":"doc.read","outcome":"%s","actor":{"id":"%s"},"source":{"ip":"192.0.2.9"}}' "$1" "$2" "$3"; }
check_eq "dry run on sample events: 200" 200 "$(post /v1/alerts/rules/test "$ADMIN" \
	"{\"rule\":$RULE,\"events\":[$(evd 1 denied bob),$(evd 2 denied bob),$(evd 3 success bob),$(evd 4 denied bob)]}")"
check_eq "... would fire" true "$(jq -r .would_fire "$TMP/resp")"
check_eq "... 3 matched of 4" "3 4" "$(jq -r '"\(.matched) \(.evaluated)"' "$TMP/resp")"
check_eq "... group bob, at the 4th event" "bob 3" "$(jq -r '.fires[0] | "\(.group) \(.index)"' "$TMP/resp")"
check_eq "two denials only: would not fire" false "$(post /v1/alerts/rules/test "$ADMIN" \
	"{\"rule\":$RULE,\"events\":[$(evd 1 denied bob),$(evd 2 denied bob)]}" >/dev/null; jq -r .would_fire "$TMP/resp")"
check_eq "dry run of an invalid rule: 400 with field" "400 kind" "$(post /v1/alerts/rules/test "$ADMIN" \
	'{"rule":{"name":"x","kind":"sometimes"},"last":10}') $(jq -r .error.field "$TMP/resp")"
check_eq "an auditor cannot dry-run: 403" 403 "$(post /v1/alerts/rules/test "$AUD" "{\"rule\":$RULE}")"

# Create, edit, disable, enable.
check_eq "create the rule: 201" 201 "$(post /v1/alerts/rules "$ADMIN" "$RULE")"
RID=$(jq -r .id "$TMP/resp")
check_eq "edit: count 2: 200" 200 "$(post "/v1/alerts/rules/$RID" "$ADMIN" "$(jq -c '.threshold.count=2' <<<"$RULE")")"
check_eq "... listed with count 2, same id" 2 "$(req GET /v1/alerts/rules "$ADMIN" >/dev/null; jq ".rules[] | select(.id==\"$RID\") | .threshold.count" "$TMP/resp")"
check_eq "edit refused: bad window names the field" "400 threshold.window_seconds" "$(post "/v1/alerts/rules/$RID" "$ADMIN" \
	"$(jq -c '.threshold.window_seconds=-1' <<<"$RULE")") $(jq -r .error.field "$TMP/resp")"
check_eq "edit of an unknown rule: 404" 404 "$(post /v1/alerts/rules/r_nosuch "$ADMIN" "$RULE")"
check_eq "disable: 200" 200 "$(post "/v1/alerts/rules/$RID" "$ADMIN" "$(jq -c '.threshold.count=2 | .enabled=false' <<<"$RULE")")"
check_eq "... listed disabled" false "$(req GET /v1/alerts/rules "$ADMIN" >/dev/null; jq ".rules[] | select(.id==\"$RID\") | .enabled" "$TMP/resp")"
printf '[%s,%s]' "$(evd 1 denied carol)" "$(evd 2 denied carol)" >"$TMP/ev.json"
check_eq "disabled: two denials of carol ingested" 200 "$(req POST /v1/events "$W" $J "$TMP/ev.json")"
sleep 1.5
check_eq "... fire nothing" 0 "$(req GET /v1/alerts "$ADMIN" >/dev/null; jq "[.alerts[] | select(.rule.id==\"$RID\")] | length" "$TMP/resp")"
check_eq "enable: 200" 200 "$(post "/v1/alerts/rules/$RID" "$ADMIN" "$(jq -c '.threshold.count=2 | .enabled=true' <<<"$RULE")")"
check_eq "rule.update events: 3" 3 "$(actions logseal.rule.update)"
check_eq "the dry run over the log sees the 2 denials" "true 2" "$(post /v1/alerts/rules/test "$ADMIN" \
	"{\"rule\":$(jq -c '.threshold.count=2' <<<"$RULE"),\"last\":500}" >/dev/null; jq -r '"\(.would_fire) \(.matched)"' "$TMP/resp")"
check_eq "... an audited read" 1 "$(actions logseal.rules.test)"

# Fire, acknowledge, resolve.
# dated now: threshold rules count by event time and ignore late events
printf '[%s,%s]' "$(evd 5 denied dave | sed "s/2026-01-01T00:00:05Z/$(date -u +%FT%TZ)/")" \
	"$(evd 6 denied dave | sed "s/2026-01-01T00:00:06Z/$(date -u +%FT%TZ)/")" >"$TMP/ev.json"
check_eq "two denials of dave" 200 "$(req POST /v1/events "$W" $J "$TMP/ev.json")"
for _ in $(seq 50); do
	AID=$(req GET /v1/alerts "$ADMIN" >/dev/null; jq -r "[.alerts[] | select(.rule.id==\"$RID\")][0].id // empty" "$TMP/resp")
	[ -n "$AID" ] && break; sleep 0.2
done
check_eq "the rule fired for dave" dave "$(jq -r "[.alerts[] | select(.rule.id==\"$RID\")][0].group" "$TMP/resp")"
check_eq "acknowledge without a reason: 400 field reason" "400 reason" \
	"$(post /v1/alerts/state "$ADMIN" "{\"id\":\"$AID\",\"state\":\"acknowledged\"}") $(jq -r .error.field "$TMP/resp")"
check_eq "acknowledge: 200" 200 "$(post /v1/alerts/state "$ADMIN" "{\"id\":\"$AID\",\"state\":\"acknowledged\",\"reason\":\"looking into it\"}")"
check_eq "... status acknowledged by the admin" "acknowledged looking into it" "$(jq -r '"\(.status) \(.acknowledged.reason)"' "$TMP/resp")"
check_eq "acknowledge again: 409" 409 "$(post /v1/alerts/state "$ADMIN" "{\"id\":\"$AID\",\"state\":\"acknowledged\",\"reason\":\"again\"}")"
check_eq "resolve: 200" 200 "$(post /v1/alerts/state "$ADMIN" "{\"id\":\"$AID\",\"state\":\"resolved\",\"reason\":\"dave's password reset\"}")"
check_eq "the list shows it resolved" resolved "$(req GET /v1/alerts "$ADMIN" >/dev/null; jq -r ".alerts[] | select(.id==\"$AID\") | .status" "$TMP/resp")"
check_eq "logseal.alert.acknowledge logged" 1 "$(actions logseal.alert.acknowledge)"
check_eq "logseal.alert.resolve logged with the reason" "dave's password reset" \
	"$(actions logseal.alert.resolve >/dev/null; jq -r '.events[0].entry.details.reason' "$TMP/resp")"
check_eq "unknown alert: 404" 404 "$(post /v1/alerts/state "$ADMIN" '{"id":"r_x@1","state":"resolved","reason":"x"}')"

# Webhooks: a test delivery and the history.
"$TESTBIN/webhook_receiver" --port-file "$TMP/hook.port" --out "$TMP/hook.out" --secret s3cr3t --fail 1 --lifetime 60 &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 50); do [ -s "$TMP/hook.port" ] && break; sleep 0.1; done
HP=$(cat "$TMP/hook.port")
check_eq "webhook set" 200 "$(post /v1/alerts/webhooks "$ADMIN" "{\"name\":\"ops\",\"url\":\"http://127.0.0.1:$HP/hook\",\"secret\":\"s3cr3t\"}")"
check_eq "test delivery (the receiver fails the first): 200" 200 "$(req POST /v1/webhooks/ops/test "$ADMIN")"
check_eq "... not delivered, status 500" "false 500" "$(jq -r '"\(.delivered) \(.status)"' "$TMP/resp")"
check_eq "second test delivery: delivered" true "$(req POST /v1/webhooks/ops/test "$ADMIN" >/dev/null; jq -r .delivered "$TMP/resp")"
check_eq "... with a latency" true "$(jq -r '.latency_ms >= 0' "$TMP/resp")"
check_eq "the receiver got a signed test alert" 1 "$(grep -c ' 200 sig=ok.*test@' "$TMP/hook.out")"
check_eq "history: 200" 200 "$(req GET /v1/webhooks/ops/deliveries "$ADMIN")"
check_eq "... newest first: delivered then failed" "test_delivered test_failed" "$(jq -r '[.deliveries[].result] | join(" ")' "$TMP/resp")"
check_eq "... status 200 and 500" "200 500" "$(jq -r '[.deliveries[].status] | join(" ")' "$TMP/resp")"
check_eq "unknown webhook: 404" 404 "$(req POST /v1/webhooks/nosuch/test "$ADMIN")"
check_eq "logseal.webhook.test logged twice" 2 "$(actions logseal.webhook.test)"

# Saved searches.
check_eq "auditor saves a private search: 201" 201 "$(post /v1/searches "$AUD" '{"name":"denied billing","query":"service=billing&outcome=denied"}')"
SID=$(jq -r .id "$TMP/resp")
check_eq "auditor saves a shared one: 201" 201 "$(post /v1/searches "$AUD" '{"name":"all denials","query":"outcome=denied","shared":true}')"
SHID=$(jq -r .id "$TMP/resp")
check_eq "a token in the query: 400" 400 "$(post /v1/searches "$AUD" '{"name":"t","query":"x=lsk_abc"}')"
check_eq "missing name: field name" name "$(post /v1/searches "$AUD" '{"query":"a=b"}' >/dev/null; jq -r .error.field "$TMP/resp")"
check_eq "the saver sees both" 2 "$(req GET /v1/searches "$AUD" >/dev/null; jq '.searches|length' "$TMP/resp")"
check_eq "another auditor sees the shared one only" "all denials" "$(req GET /v1/searches "$AUD2" >/dev/null; jq -r '[.searches[].name]|join(",")' "$TMP/resp")"
check_eq "another auditor cannot delete it: 403" 403 "$(req DELETE "/v1/searches/$SHID" "$AUD2")"
check_eq "nor see the private one: 404" 404 "$(req DELETE "/v1/searches/$SID" "$AUD2")"
check_eq "a writer cannot list: 403" 403 "$(req GET /v1/searches "$W")"
check_eq "kept sealed in searches.json" 1 "$(grep -c '"mac"' "$D/searches.json")"
check_eq "the owner deletes: 200" 200 "$(req DELETE "/v1/searches/$SID" "$AUD")"
check_eq "search save/delete logged" "2 1" "$(actions logseal.search.save) $(actions logseal.search.delete)"
check "server stops" stop_server
check "verify passes with the sealed searches.json" "$LOGSEAL" verify --data "$D"
sed -i 's/"all denials"/"ALL denials"/' "$D/searches.json"
check_fails "verify refuses an edited searches.json" "$LOGSEAL" verify --data "$D"
check "restart" start_server "$D"
check_eq "an edited searches.json is refused" 1 "$(req GET /v1/searches "$AUD" | grep -c -E '^5')"
check_eq "after a restart the alert is still resolved, by whom and why" "resolved dave's password reset" \
	"$(req GET /v1/alerts "$ADMIN" >/dev/null; jq -r ".alerts[] | select(.id==\"$AID\") | \"\(.status) \(.resolved.reason)\"" "$TMP/resp")"

# The retention plan and what a hold protects.
check_eq "plan without a policy: configured false" false "$(req GET /v1/retention/plan "$ADMIN" >/dev/null; jq -r .configured "$TMP/resp")"
check "server stops" stop_server
printf '{"default":{"hot_days":0,"archive_days":0}}' >"$D/retention.json"
check "restart with a policy" start_server "$D"
check_eq "place a hold on service app: 201" 201 "$(post /v1/holds "$ADMIN" '{"service":"app","reason":"litigation 42"}')"
HID=$(jq -r .id "$TMP/resp")
check_eq "plan: 200" 200 "$(req GET /v1/retention/plan "$ADMIN")"
check_eq "... configured, lists the hold" "true $HID" "$(jq -r '"\(.configured) \(.holds[0].id)"' "$TMP/resp")"
check_eq "... audited reads (2 plans)" 2 "$(actions logseal.retention.plan)"
check_eq "a writer cannot read the plan: 403" 403 "$(req GET /v1/retention/plan "$W")"
check_eq "release with a bad parameter: 400" 400 "$(req DELETE "/v1/holds/$HID?why=x" "$ADMIN")"
check_eq "release the hold with a reason: 200" 200 "$(req DELETE "/v1/holds/$HID?reason=case%20closed" "$ADMIN")"
check_eq "... the release event keeps why" "case closed litigation 42" \
	"$(actions logseal.hold.release >/dev/null; jq -r '.events[0].entry.details | "\(.release_reason) \(.reason)"' "$TMP/resp")"
check "server stops" stop_server
done_testing
