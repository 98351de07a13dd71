#!/bin/bash
# Tokens (issue 18): `token create --expires` (a duration or an RFC 3339
# time) is refused from then on with a 401 that says so, and the refusal is
# logged naming the token; last_used is shown by `token list` and GET
# /v1/tokens and survives a restart; `token create --output FILE` writes the
# secret alone (mode 0600) and refuses to overwrite a file (creating no
# token then).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
tok() { "$LOGSEAL" token --server "$SRV_URL" --data "$D" "$@"; }
printf '%s' "$(ev e1)" >"$TMP/e1.json"

# --- expiry
check "token create --expires 4s" sh -c "'$LOGSEAL' token create --role writer --expires 4s --server '$SRV_URL' --data '$D' >'$TMP/x.json'"
XW=$(jq -r .token "$TMP/x.json"); XID=$(jq -r .id "$TMP/x.json")
check "... says when it expires (within 4 s from now)" python3 -c '
import datetime, json, sys
e = datetime.datetime.strptime(json.load(open(sys.argv[1]))["expires"], "%Y-%m-%dT%H:%M:%S.%fZ")
d = (e - datetime.datetime.utcnow()).total_seconds()
sys.exit(0 if 0 < d <= 4.5 else 1)' "$TMP/x.json"
check_eq "before it: the token writes" 200 "$(req POST /v1/events "$XW" $J "$TMP/e1.json")"
tok list >"$TMP/list1.json"
check "token list shows its last_used" jq -e --arg id "$XID" '.tokens[] | select(.id == $id) | .last_used | test("^20[0-9-]+T")' "$TMP/list1.json"
sleep 4.2
check_eq "after it: 401 unauthenticated" "401 unauthenticated" \
	"$(req POST /v1/events "$XW" $J "$TMP/e1.json") $(jq -r .error.code "$TMP/resp")"
check_eq "... with a message that names the token and the time" "token $XID expired at $(jq -r .expires "$TMP/x.json")" \
	"$(jq -r .error.message "$TMP/resp")"
req GET "/v1/events?service=logseal&action=logseal.auth.unauthenticated&limit=10" "$AUD" >/dev/null
check_eq "the refusal is logged, the token as the actor, the reason" "$XID token $XID expired at" \
	"$(jq -r '.events[0].entry | "\(.actor.id) \(.details.reason)"' "$TMP/resp" | cut -d' ' -f1-5)"
check_eq "--expires in the past (RFC 3339): refused" 1 \
	"$(tok create --role writer --expires 2020-01-01T00:00:00Z >/dev/null 2>"$TMP/err"; echo $?)"
check_eq "--expires nonsense: refused, saying what is accepted" 1 \
	"$(tok create --role writer --expires soon >/dev/null 2>"$TMP/err"; echo $?; grep -q 'duration such as' "$TMP/err" || echo no-hint)"
check_eq "an RFC 3339 expiry is kept as given" "2099-01-02T03:04:05.000000Z" \
	"$(tok create --role auditor --expires 2099-01-02T03:04:05Z | jq -r .expires)"

# --- --output FILE
umask 022
check "token create --output FILE" sh -c "'$LOGSEAL' token create --role writer --name shipper --output '$TMP/w.token' --server '$SRV_URL' --data '$D' >'$TMP/o.json'"
check_eq "the file: mode 0600, one line, the secret alone" "600 1 lsk_" \
	"$(stat -c %a "$TMP/w.token") $(wc -l <"$TMP/w.token") $(head -c 4 "$TMP/w.token")"
check_eq "the printed description has no secret, names the file" "null $TMP/w.token" \
	"$(jq -r '"\(.token) \(.token_file)"' "$TMP/o.json")"
check_eq "the file's secret writes" 200 "$(req POST /v1/events "$(cat "$TMP/w.token")" $J "$TMP/e1.json")"
n0=$(tok list | jq '.tokens | length')
cp "$TMP/w.token" "$TMP/w.before"
check_eq "--output to an existing file: refused, the file untouched, no token made" "1 same $n0" \
	"$(tok create --role writer --output "$TMP/w.token" >/dev/null 2>"$TMP/err"; echo $?) $(cmp -s "$TMP/w.token" "$TMP/w.before" && echo same) $(tok list | jq '.tokens | length')"
check "... saying it refuses to overwrite" grep -q "refusing to overwrite" "$TMP/err"

# --- last_used survives a restart (written in the background and at stop)
check "stop" stop_server
check "restart" start_server "$D"
req GET /v1/tokens "$ADMIN" >/dev/null
check_eq "after a restart GET /v1/tokens still has the expired token's last_used" \
	"$(jq -r --arg id "$XID" '.tokens[] | select(.id == $id) | .last_used' "$TMP/list1.json")" \
	"$(jq -r --arg id "$XID" '.tokens[] | select(.id == $id) | .last_used' "$TMP/resp")"
check "stop" stop_server
done_testing
