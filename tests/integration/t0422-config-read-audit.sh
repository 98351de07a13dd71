#!/bin/bash
# Reading the configuration is a read like any other: GET /v1/tokens,
# /v1/holds, /v1/alerts/rules and /v1/alerts/webhooks each append one event
# of service logseal (actor = the admin token's id) before the reply, with
# the number of items it showed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
ADMIN_ID=$(req GET /v1/tokens "$ADMIN" >/dev/null; jq -r '.tokens[0].id' "$TMP/resp")

# config_read LABEL PATH ACTION ITEMS-JQ: GET PATH as admin; its event is in
# the journal on reply, names the admin and counts the items shown.
config_read() {
	local label=$1 path=$2 action=$3 items=$4 before code e
	before=$(journal_count "\"action\":\"$action\"" "$D")
	code=$(req GET "$path" "$ADMIN")
	check_eq "$label: 200, and one $action event in the journal on reply" \
		"200 $((before + 1))" "$code $(journal_count "\"action\":\"$action\"" "$D")"
	want=$(jq "$items" "$TMP/resp")
	e=$("$TESTBIN/journalcat" "$D" | grep -a "\"action\":\"$action\"" | tail -1)
	check_eq "$label: actor, source, outcome, path and results" \
		"$ADMIN_ID 127.0.0.1 success $path $want" \
		"$(printf '%s' "$e" | jq -r '"\(.actor.id) \(.source.ip) \(.outcome) \(.details.path) \(.details.results)"')"
}
config_read "tokens" /v1/tokens logseal.tokens.list '.tokens | length'
config_read "holds" /v1/holds logseal.holds.list '.holds | length'
config_read "alert rules" /v1/alerts/rules logseal.rules.list '.rules | length'
config_read "webhooks" /v1/alerts/webhooks logseal.webhooks.list '.webhooks | length'
s=$(tree_size)
check_eq "a second GET /v1/tokens is a second event" 200 "$(req GET /v1/tokens "$ADMIN")"
check_eq "... the tree grew by one" $((s + 1)) "$(tree_size)"
stop_server; check_eq "stop: exit 0" 0 "$?"
done_testing
