#!/bin/bash
# The dashboard overview's server side (src/server/api_overview.c): seeded
# events with known counts, then GET /v1/events/stats by service and by
# outcome over hourly buckets (the time series the overview draws), GET
# /v1/stats/denied (top denied actors, actions, sources: counted from the
# entries), GET /v1/whoami (the token's roles, for the role-aware UI), and
# POST /v1/verify (admin only, logged, runs the full verify in the
# background and records it where GET /v1/integrity shows it) with
# GET /v1/verify for its state.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" sh -c "'$LOGSEAL' init --data '$D' --origin overview.test/log >/dev/null"
# The seeded events are dated 2030 (a fixed range): no future-skew refusal.
check "server starts" start_server "$D" --checkpoint-interval 100 --max-future-skew 0
ADMIN=$(cat "$D/admin.token")
WRITER=$(new_token "$ADMIN" '{"role":"writer"}')
AUDITOR=$(new_token "$ADMIN" '{"role":"auditor"}')
AUDITOR_ID=$(cat "$TMP/newtok.id")

# --- seed: in the hour 2030-01-02T10: 7 denied alice (doc.delete from
# 198.51.100.1), 3 denied bob (doc.read from 198.51.100.2), 5 success carol;
# in the hour 11: 2 denied bob (doc.read), 4 success carol.  Services: the
# denied events are "billing", the successes "crm".
seed() { # N ACTOR ACTION OUTCOME IP SERVICE HOUR
	for i in $(seq 1 "$1"); do
		printf '{"time":"2030-01-02T%s:%02d:00Z","actor":{"id":"%s","type":"user"},"action":"%s","outcome":"%s","source":{"ip":"%s"},"service":"%s"}\n' \
			"$7" "$i" "$2" "$3" "$4" "$5" "$6"
	done
}
{
	seed 7 alice doc.delete denied 198.51.100.1 billing 10
	seed 3 bob doc.read denied 198.51.100.2 billing 10
	seed 5 carol doc.read success 198.51.100.3 crm 10
	seed 2 bob doc.read denied 198.51.100.2 billing 11
	seed 4 carol doc.read success 198.51.100.3 crm 11
} >"$TMP/seed.ndjson"
check_eq "21 events posted" 200 "$(req POST /v1/events "$WRITER" application/x-ndjson "$TMP/seed.ndjson")"
R='from=2030-01-02T00:00:00Z&to=2030-01-03T00:00:00Z'

# --- the time series: by outcome and by service, hourly
check_eq "stats by outcome: 200" 200 "$(req GET "/v1/events/stats?$R&group_by=outcome&bucket=3600" "$AUDITOR")"
check_eq "hour 10 by outcome: 10 denied, 5 success" '{"denied":10,"success":5}' \
	"$(jq -c '.buckets[] | select(.start | startswith("2030-01-02T10")) | .counts' -S "$TMP/resp")"
check_eq "hour 11 by outcome: 2 denied, 4 success" '{"denied":2,"success":4}' \
	"$(jq -c '.buckets[] | select(.start | startswith("2030-01-02T11")) | .counts' -S "$TMP/resp")"
check_eq "stats by service: 200" 200 "$(req GET "/v1/events/stats?$R&group_by=service&bucket=3600" "$AUDITOR")"
check_eq "hour 10 by service: 10 billing, 5 crm" '{"billing":10,"crm":5}' \
	"$(jq -c '.buckets[] | select(.start | startswith("2030-01-02T10")) | .counts' -S "$TMP/resp")"
check_eq "total in range: 21" 21 "$(jq .total "$TMP/resp")"

# --- top denied
check_eq "stats/denied without a token: 401" 401 "$(req GET "/v1/stats/denied?$R" "")"
check_eq "stats/denied as writer: 403" 403 "$(req GET "/v1/stats/denied?$R" "$WRITER")"
check_eq "stats/denied with outcome: 400" 400 "$(req GET "/v1/stats/denied?$R&outcome=success" "$AUDITOR")"
check_eq "stats/denied with top=0: 400" 400 "$(req GET "/v1/stats/denied?$R&top=0" "$AUDITOR")"
check_eq "stats/denied: 200" 200 "$(req GET "/v1/stats/denied?$R" "$AUDITOR")"
check_eq "12 denied events scanned, not truncated" "12 false" "$(jq -r '"\(.total_scanned) \(.truncated)"' "$TMP/resp")"
check_eq "top denied actors: alice 7, bob 5" "alice=7 bob=5" \
	"$(jq -r '[.actors[] | "\(.value)=\(.count)"] | join(" ")' "$TMP/resp")"
check_eq "top denied actions: doc.delete 7, doc.read 5" "doc.delete=7 doc.read=5" \
	"$(jq -r '[.actions[] | "\(.value)=\(.count)"] | join(" ")' "$TMP/resp")"
check_eq "top denied sources" "198.51.100.1=7 198.51.100.2=5" \
	"$(jq -r '[.sources[] | "\(.value)=\(.count)"] | join(" ")' "$TMP/resp")"
check_eq "the range narrows it: hour 11 only" "bob=2" \
	"$(req GET "/v1/stats/denied?from=2030-01-02T11:00:00Z&to=2030-01-02T12:00:00Z" "$AUDITOR" >/dev/null;
	   jq -r '[.actors[] | "\(.value)=\(.count)"] | join(" ")' "$TMP/resp")"
check_eq "top=1 keeps the largest" "alice=7" \
	"$(req GET "/v1/stats/denied?$R&top=1" "$AUDITOR" >/dev/null; jq -r '[.actors[] | "\(.value)=\(.count)"] | join(" ")' "$TMP/resp")"
n_act() { "$TESTBIN/journalcat" "$D" 2>/dev/null | grep -a -c "\"action\":\"$1\""; }
check_eq "each read is audited (logseal.stats.denied)" 3 "$(n_act logseal.stats.denied)"

# --- whoami
check_eq "whoami as auditor: 200" 200 "$(req GET /v1/whoami "$AUDITOR")"
check_eq "whoami: the auditor's id and roles" "$AUDITOR_ID [\"auditor\"]" \
	"$(jq -r '"\(.token_id) \(.roles | tojson)"' "$TMP/resp")"
check_eq "whoami as writer: 200 writer" '200 ["writer"]' \
	"$(req GET /v1/whoami "$WRITER") $(jq -c .roles "$TMP/resp")"
check_eq "whoami as admin: admin and auditor" '["admin","auditor"]' \
	"$(req GET /v1/whoami "$ADMIN" >/dev/null; jq -c '.roles | sort' "$TMP/resp")"
check_eq "whoami without a token: 401" 401 "$(req GET /v1/whoami "")"

# --- POST /v1/verify
check_eq "verify as auditor: 403" 403 "$(req POST /v1/verify "$AUDITOR")"
check_eq "verify status before any: not running" "false null" \
	"$(req GET /v1/verify "$AUDITOR" >/dev/null; jq -r '"\(.running) \(.last)"' "$TMP/resp")"
check_fails "no verify recorded yet" test -e "$D/state/last-verify.json"
check_eq "verify as admin: 202" 202 "$(req POST /v1/verify "$ADMIN")"
check_eq "  it says it runs" true "$(jq -r .running "$TMP/resp")"
for _ in $(seq 1 100); do
	req GET /v1/verify "$AUDITOR" >/dev/null
	[ "$(jq -r .running "$TMP/resp")" = false ] && break
	sleep 0.2
done
check_eq "the verify finished and passed" "false true" "$(jq -r '"\(.running) \(.last.ok)"' "$TMP/resp")"
check_eq "the start is logged (logseal.verify.start)" 1 "$(n_act logseal.verify.start)"
check_eq "integrity shows the recorded verify" 200 "$(req GET /v1/integrity "$AUDITOR")"
check_eq "  ok, covering the checkpoint it verified" "true true" \
	"$(jq -r '"\(.last_verify.ok) \(.last_verify.tree_size > 20)"' "$TMP/resp")"
check "the server is still up" curl -sf "$SRV_URL/healthz"
stop_server
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
