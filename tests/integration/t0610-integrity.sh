#!/bin/bash
# The dashboard's integrity and retention views: GET /v1/integrity and
# GET /v1/retention are auditor reads (writer 403, no token 401), each
# audited (logseal.integrity.get / logseal.retention.get in the log);
# /v1/integrity serves the signed checkpoint, the verifier key of
# DIR/verifier.key and the outcome `logseal verify` recorded in
# DIR/state/last-verify.json (a failed verify is recorded as failed);
# /v1/retention the policy of DIR/retention.json (or configured:false) and
# the archive state, never the holds (GET /v1/holds stays admin-only).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" sh -c "'$LOGSEAL' init --data '$D' --origin integrity.test/log >/dev/null"
check_fails "no verify outcome before the first verify" test -e "$D/state/last-verify.json"
check "verify" "$LOGSEAL" verify --data "$D"
check_eq "verify records its outcome" "true 0" "$(jq -r '"\(.ok) \(.entries)"' "$D/state/last-verify.json")"
check_eq "the outcome has a UTC time and no error" "true null" \
	"$(jq -r '"\(.time | test("^[0-9-]{10}T[0-9:.]+Z$")) \(.error)"' "$D/state/last-verify.json")"
check_fails "verify of a missing directory creates nothing" "$LOGSEAL" verify --data "$TMP/nodir"
check_fails "  (no such directory)" test -e "$TMP/nodir"

check "server starts" start_server "$D" --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
WRITER=$(new_token "$ADMIN" '{"role":"writer"}')
AUDITOR=$(new_token "$ADMIN" '{"role":"auditor"}')
ev i1 >"$TMP/ev.json"
check_eq "a writer posts an event" 200 "$(req POST /v1/events "$WRITER" application/json "$TMP/ev.json")"
n_reads() { "$TESTBIN/journalcat" "$D" 2>/dev/null | grep -a -c "\"action\":\"$1\""; }

# --- GET /v1/integrity
check_eq "integrity without a token: 401" 401 "$(req GET /v1/integrity "")"
check_eq "integrity as writer: 403" 403 "$(req GET /v1/integrity "$WRITER")"
check_eq "integrity with a parameter: 400" 400 "$(req GET "/v1/integrity?x=1" "$AUDITOR")"
before=$(n_reads logseal.integrity.get)
check_eq "integrity as auditor: 200" 200 "$(req GET /v1/integrity "$AUDITOR")"
check_eq "the read is audited" $((before + 1)) "$(n_reads logseal.integrity.get)"
check_eq "origin" integrity.test/log "$(jq -r .origin "$TMP/resp")"
check_eq "verifier_key is DIR/verifier.key" "$(head -1 "$D/verifier.key")" "$(jq -r .verifier_key "$TMP/resp")"
check_eq "the checkpoint is a signed note of this log" "integrity.test/log" "$(jq -r .checkpoint "$TMP/resp" | head -1)"
check_eq "the checkpoint is signed by that key" 1 \
	"$(jq -r .checkpoint "$TMP/resp" | grep -c "^— integrity.test/log ")"
check_eq "tree_size and checkpoint_tree_size are numbers" "number number" \
	"$(jq -r '"\(.tree_size | type) \(.checkpoint_tree_size | type)"' "$TMP/resp")"
check_eq "checkpoint_age_seconds is a small number" true "$(jq '.checkpoint_age_seconds >= 0 and .checkpoint_age_seconds < 60' "$TMP/resp")"
check_eq "index_watermark" number "$(jq -r '.index_watermark | type' "$TMP/resp")"
check_eq "last_verify is the recorded outcome" "$(jq -c "del(.mac)" "$D/state/last-verify.json")" "$(jq -c .last_verify "$TMP/resp")"
check_eq "integrity as admin+auditor: 200" 200 "$(req GET /v1/integrity "$ADMIN")"

# --- GET /v1/retention
check_eq "retention without a token: 401" 401 "$(req GET /v1/retention "")"
check_eq "retention as writer: 403" 403 "$(req GET /v1/retention "$WRITER")"
before=$(n_reads logseal.retention.get)
check_eq "retention as auditor: 200" 200 "$(req GET /v1/retention "$AUDITOR")"
check_eq "the read is audited" $((before + 1)) "$(n_reads logseal.retention.get)"
check_eq "no policy: configured false, empty archive" "false 0 0" \
	"$(jq -r '"\(.configured) \(.archive | length) \(.purged_entries)"' "$TMP/resp")"
check_eq "the reply states the caller's roles" '["auditor"]' "$(jq -c .roles "$TMP/resp")"
check_eq "no holds in the auditor's reply" null "$(jq -c .holds "$TMP/resp")"
printf '{"default":{"hot_days":30,"archive_days":60},"services":{"billing":{"hot_days":7,"archive_days":90}}}\n' >"$D/retention.json"
check_eq "with retention.json: 200" 200 "$(req GET /v1/retention "$AUDITOR")"
check_eq "the policy as configured" "true 30 60 7 90" \
	"$(jq -r '"\(.configured) \(.policy.default.hot_days) \(.policy.default.archive_days) \(.policy.services.billing.hot_days) \(.policy.services.billing.archive_days)"' "$TMP/resp")"
printf '{"default":{"hot_days":-1}}\n' >"$D/retention.json"
check_eq "an invalid retention.json: 200 with policy_error" "true null true" \
	"$(req GET /v1/retention "$AUDITOR" >/dev/null; jq -r '"\(.configured) \(.policy) \(.policy_error | type == "string")"' "$TMP/resp")"
rm -f "$D/retention.json"
printf '{"service":"billing","reason":"case 7"}' >"$TMP/hold.json"
check_eq "admin places a hold" 201 "$(req POST /v1/holds "$ADMIN" application/json "$TMP/hold.json")"
check_eq "GET /v1/holds stays admin-only: auditor 403" 403 "$(req GET /v1/holds "$AUDITOR")"
check_eq "GET /v1/holds as admin: 200 with the hold" "200 billing" \
	"$(c=$(req GET /v1/holds "$ADMIN"); echo "$c $(jq -r '.holds[0].service' "$TMP/resp")")"
check_eq "admin's retention reply names role admin" true \
	"$(req GET /v1/retention "$ADMIN" >/dev/null; jq '.roles | index("admin") != null' "$TMP/resp")"

# --- a failed verify is recorded as failed (and then shown)
stop_server
tile=$(find "$D/log/tile" -path '*/tile/0/*' -type f | head -1)
[ -n "$tile" ] && ok "a hash tile exists" || not_ok "a hash tile exists"
cp -p "$tile" "$TMP/tile.orig"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-1]^=1; open(p,"wb").write(b)' "$tile"
check_fails "verify fails on a tampered tile" "$LOGSEAL" verify --data "$D"
check_eq "the failure is recorded" "false true" \
	"$(jq -r '"\(.ok) \(.error.message | length > 0)"' "$D/state/last-verify.json")"
# serve refuses to serve a tampered tile (t0850): put it back to see the record
cp -p "$TMP/tile.orig" "$tile"
check "server starts again" start_server "$D"
check_eq "integrity shows the failed verify" "200 false" \
	"$(c=$(req GET /v1/integrity "$AUDITOR"); echo "$c $(jq -r .last_verify.ok "$TMP/resp")")"
stop_server
done_testing
