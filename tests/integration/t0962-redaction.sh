#!/bin/bash
# Redaction and event-time sanity (issue 18), through the real server:
# secrets in details (default names, --redact, --redact-pointer) and in a
# Kubernetes Secret's request object are replaced before hashing and the
# entry lists what was redacted; the secret's bytes are nowhere in the
# journal; an event 2099 is refused with 400 time_in_future (an OTLP record
# too: partial success), one older than --flag-past-skew is kept and marked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" sh -c "'$LOGSEAL' init --data '$D' >/dev/null"
check "server starts with redaction options" start_server "$D" --redact pin,Session-Id \
	--redact-pointer /details/card/number --flag-past-skew 86400
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
post() { printf '%s' "$1" >"$TMP/post.json"; req POST /v1/events "$W" $J "$TMP/post.json"; }
event() { req GET "/v1/events/$1" "$AUD" >/dev/null; jq -c .entry "$TMP/resp"; }
evt() { printf '{"time":"%s","actor":{"id":"alice"},"action":"user.login","outcome":"success","source":{"ip":"192.0.2.1"}%s}' "$1" "${2:-}"; }

check_eq "an event with secrets in details: 200" 200 \
	"$(post "$(evt "$NOW" ',"details":{"password":"hunter2","PIN":"4711","session_id":"sess-9","card":{"number":"4111111111111111","brand":"visa"},"ok":"kept"}')")"
i=$(jq -r '.indexes[0]' "$TMP/resp")
e=$(event "$i")
check_eq "details redacted" '{"PIN":"[REDACTED]","card":{"brand":"visa","number":"[REDACTED]"},"ok":"kept","password":"[REDACTED]","session_id":"[REDACTED]"}' \
	"$(jq -c -S .details <<<"$e")"
check_eq "the entry lists what was redacted" '["/details/PIN","/details/card/number","/details/password","/details/session_id"]' \
	"$(jq -c .redacted <<<"$e")"
check_eq "no time_skew on a current event" null "$(jq -c .time_skew <<<"$e")"

# ---- time
check_eq "time 2099: 400" 400 "$(post "$(evt 2099-01-01T00:00:00Z)")"
check_eq "... code time_in_future, field time" "time_in_future time" \
	"$(jq -r '[.error.code,.error.field]|join(" ")' "$TMP/resp")"
check "... the message says how far ahead and the limit" grep -q "ahead of the server's clock.*the limit is 300 s" "$TMP/resp"
check_eq "time 2020: 200" 200 "$(post "$(evt 2020-01-01T00:00:00Z)")"
check_eq "... marked time_skew" true "$(event "$(jq -r '.indexes[0]' "$TMP/resp")" | jq -c .time_skew)"
check_eq "a client cannot send time_skew: 400" 400 "$(post "$(evt "$NOW" ',"time_skew":false')")"
printf '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"4070908800000000000","attributes":[{"key":"enduser.id","value":{"stringValue":"a"}},{"key":"event.name","value":{"stringValue":"x"}},{"key":"client.address","value":{"stringValue":"10.0.0.1"}}]}]}]}]}' >"$TMP/otlp.json"
check_eq "OTLP record in 2099: partial success" '"1"' \
	"$(req POST /v1/logs "$W" $J "$TMP/otlp.json" >/dev/null; jq -c .partialSuccess.rejectedLogRecords "$TMP/resp")"

# ---- a Kubernetes Secret
cat >"$TMP/k8s.json" <<K8S
{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"0b7f0d4e-1111-4c1e-9e3a-3f8d7c7c0001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"patch","user":{"username":"jane"},"sourceIPs":["10.1.2.3"],"objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"responseStatus":{"code":200},"requestObject":{"data":{"password":"c3VwZXJzZWNyZXQ="}},"stageTimestamp":"$NOW"}]}
K8S
check_eq "k8s patch of a Secret: 200" 200 "$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s.json")"
e=$(event "$(jq -r '.indexes[0]' "$TMP/resp")")
check_eq "the patch is recorded, its data redacted" '{"data":{"password":"[REDACTED]"}}' "$(jq -c .details.requestObject <<<"$e")"
check_eq "... and password is also a redaction key: listed" '["/details/requestObject/data/password"]' "$(jq -c .redacted <<<"$e")"
check "no secret in the journal" sh -c "! '$TESTBIN/journalcat' '$D' | grep -a -q -e hunter2 -e 4111111111111111 -e c3VwZXJzZWNyZXQ -e sess-9"
check "but the journal is readable (sanity)" sh -c "'$TESTBIN/journalcat' '$D' | grep -a -q user.login"
check_fails "a bad --redact-pointer is refused at start" "$LOGSEAL" serve --data "$TMP/none" --redact-pointer /actor/id
done_testing
