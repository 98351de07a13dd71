#!/bin/bash
# Read-only commands beside a running server (issue 18): `keys status`,
# `keys bundle-key`, `retention hold list` and `verify --data` read the data
# directory without the journal's writer lock, so they work while the
# server holds it; the commands that write (retention run, hold place,
# import) refuse with what to do instead of "journal is open by another
# writer"; the server is not disturbed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
for i in 1 2 3; do printf '%s' "$(ev "ro-$i")" >"$TMP/e.json"; req POST /v1/events "$W" $J "$TMP/e.json" >/dev/null; done
printf '{"service":"billing","reason":"case 42"}' >"$TMP/hold.json"
check_eq "a hold placed through the server" 201 "$(req POST /v1/holds "$ADMIN" $J "$TMP/hold.json")"

check "keys status beside the server" sh -c "'$LOGSEAL' keys status --data '$D' >'$TMP/ks' && grep -q '(checked)' '$TMP/ks'"
check "keys bundle-key beside the server" sh -c "'$LOGSEAL' keys bundle-key --data '$D' | grep -Eq '^[A-Za-z0-9+/]{43}=$'"
check_eq "retention hold list beside the server shows the hold" "billing case 42" \
	"$("$LOGSEAL" retention hold list --data "$D" | jq -r '.[0] | "\(.service) \(.reason)"')"
check "verify --data beside the server" "$LOGSEAL" verify --data "$D"

check_eq "retention run beside it: refused, pointing at the server's own passes" 1 \
	"$("$LOGSEAL" retention run --data "$D" 2>"$TMP/err"; echo $?)"
check "... the message says what to do" grep -q "runs retention itself" "$TMP/err"
check_eq "hold place beside it: refused, pointing at /v1/holds" "1 1" \
	"$("$LOGSEAL" retention hold place --data "$D" '{"service":"x"}' 2>"$TMP/err"; echo $?) $(grep -c '/v1/holds' "$TMP/err")"
check_eq "import beside it: refused, pointing at send" "1 1" \
	"$("$LOGSEAL" import --data "$D" </dev/null 2>"$TMP/err"; echo $?) $(grep -c 'logseal send' "$TMP/err")"
printf '%s' "$(ev ro-4)" >"$TMP/e.json"
check_eq "the server still writes" 200 "$(req POST /v1/events "$W" $J "$TMP/e.json")"
check "stop" stop_server
check "retention hold list with the server stopped" "$LOGSEAL" retention hold list --data "$D"
check "verify after the stop" "$LOGSEAL" verify --data "$D"
done_testing
