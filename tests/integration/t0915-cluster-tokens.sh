#!/bin/bash
# Cluster mode (docs/CLUSTER.md, "Tokens"): bearer tokens are shared through
# the cluster database (logseal.tokens, one sealed row per token), not per
# node.  Two nodes on copies of one `logseal init` directory (no object
# store: this test is about tokens):
#   - init's admin.token works on both (its tokens.json imported once);
#   - a writer created through node 1 writes through node 2 within 5 s;
#     revoked through node 2, node 1 refuses it within 5 s;
#   - the last active admin cannot be revoked through either node, and two
#     concurrent revocations of the only two admins (one per node) leave
#     one: the check runs under the table lock, cluster-wide;
#   - a row edited with psql (writer -> admin), a forged admin row and a
#     replayed pre-revocation row (a valid seal) never authenticate; the
#     edited and forged rows are named once in each node's log output and
#     in /readyz (cluster.tokens.unsealed_ids) and /metrics;
#   - during a PostgreSQL failover tokens authenticate from each node's
#     cache and changes answer 503 with Retry-After; afterwards changes
#     propagate again.
# (A node restarted while the database refuses connections is not tested:
# cluster_open needs the database to start.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
. "$(dirname "$0")/cluster_lib.sh"
J=application/json

tok_init() {
	CL_N=2
	"$LOGSEAL" init --data "$TMP/seed" --no-encryption --origin "cluster.test/$PG_DB" \
		>"$TMP/init.out" 2>&1 || { cat "$TMP/init.out"; return 1; }
	for i in 1 2; do
		cp -a "$TMP/seed" "$TMP/node$i" || return 1
		CL_PORT[$i]=$(free_port)
	done
}
# on I METHOD PATH TOKEN [CT BODY]: req against node I
on() { local i=$1; shift; SRV_URL=$(node_url "$i") req "$@"; }
N_EV=0
# write I TOKEN: the status of a one-event POST through node I
write() {
	N_EV=$((N_EV + 1))
	printf '[%s]' "$(ev "tok-$N_EV")" >"$TMP/ev.json"
	on "$1" POST /v1/events "$2" $J "$TMP/ev.json"
}
# within S CODE CMD...: CMD prints CODE within S seconds (polls every 0.1 s);
# prints the seconds it took.
within() {
	local s=$1 code=$2 t0 got; shift 2
	t0=$(date +%s.%N)
	for _ in $(seq 1 $((s * 10))); do
		got=$("$@")
		if [ "$got" = "$code" ]; then
			awk -v a="$t0" -v b="$(date +%s.%N)" -v w="$*" \
				'BEGIN {printf "# %.2f s until %s\n", b - a, w}' >>"$TMP/took.log"
			return 0
		fi
		sleep 0.1
	done
	echo "# last status $got" >&2
	return 1
}
tok_ids() { on "$1" GET /v1/tokens "$2" >/dev/null && jq -r '.tokens[] | "\(.id) \(.roles | join(",")) \(.revoked // "-")"' "$TMP/resp"; }
unsealed() { readyz "$1" | jq -r '.cluster.tokens.unsealed_ids | join(" ")'; }

check "init once, copied to two node directories (before the first entry)" tok_init
check "node 1 starts" node_start 1
check "node 2 starts" node_start 2
ADMIN=$(cat "$TMP/node1/admin.token")
check_eq "init's admin.token is the same file on both nodes" "$ADMIN" "$(cat "$TMP/node2/admin.token")"
check_eq "the init admin works through node 1" 200 "$(on 1 GET /v1/tokens "$ADMIN")"
check_eq "the init admin works through node 2" 200 "$(on 2 GET /v1/tokens "$ADMIN")"
check_eq "the database holds that one token (imported once)" 1 "$(pgq 'SELECT count(*) FROM logseal.tokens')"
ADMIN_ID=$(pgq 'SELECT id FROM logseal.tokens')
check_eq "... with the hash, never the secret" 0 "$(pgq "SELECT count(*) FROM logseal.tokens WHERE body LIKE '%lsk_%'")"

# A writer created through node 1 writes through node 2.
W=$(SRV_URL=$(node_url 1) new_token "$ADMIN" '{"role":"writer","name":"w1"}')
WID=$(cat "$TMP/newtok.id")
check "writer $WID created through node 1" test -n "$W"
check_eq "it writes through node 1 at once" 200 "$(write 1 "$W")"
check "it writes through node 2 within 5 s" within 5 200 write 2 "$W"
check "node 2's tokens.json (its cache) holds it" grep -q "$WID" "$TMP/node2/tokens.json"
AUD=$(SRV_URL=$(node_url 1) new_token "$ADMIN" '{"role":"auditor","name":"metrics"}')
check_eq "the database holds it, sealed (64 hex)" 64 "$(pgq "SELECT length(mac) FROM logseal.tokens WHERE id = '$WID'")"

# Revoked through node 2, refused by node 1.
check_eq "revoked through node 2" 200 "$(on 2 DELETE "/v1/tokens/$WID" "$ADMIN")"
check_eq "node 2 refuses it at once" 401 "$(write 2 "$W")"
check "node 1 refuses it within 5 s" within 5 401 write 1 "$W"

# The last admin, cluster-wide.
check_eq "node 1 refuses to revoke the last admin" 409 "$(on 1 DELETE "/v1/tokens/$ADMIN_ID" "$ADMIN")"
check_eq "node 2 refuses to revoke the last admin" 409 "$(on 2 DELETE "/v1/tokens/$ADMIN_ID" "$ADMIN")"
A2=$(SRV_URL=$(node_url 2) new_token "$ADMIN" '{"role":"admin","name":"a2"}')
A2_ID=$(cat "$TMP/newtok.id")
check "a second admin created through node 2" test -n "$A2"
check "it works through node 1 within 5 s" within 5 200 on 1 GET /v1/tokens "$A2"
# Each node revokes the other admin at the same time: without a
# cluster-wide check both would succeed and no admin would be left.
curl -s -o "$TMP/r1" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $A2" \
	"$(node_url 1)/v1/tokens/$ADMIN_ID" >"$TMP/c1" &
p1=$!
curl -s -o "$TMP/r2" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ADMIN" \
	"$(node_url 2)/v1/tokens/$A2_ID" >"$TMP/c2" &
p2=$!
wait $p1 $p2
C1=$(cat "$TMP/c1"); C2=$(cat "$TMP/c2")
echo "# concurrent revocations: node 1 $C1, node 2 $C2"
check_eq "two concurrent revocations of the two admins: exactly one succeeds" 1 \
	$(( (C1 == 200) + (C2 == 200) ))
check "... the other is refused (409 last admin, or 401 if its token went first)" \
	bash -c "[[ '$C1 $C2' =~ ^(200 (409|401)|(409|401) 200)$ ]]"
check_eq "one active admin is left in the database" 1 \
	"$(pgq "SELECT count(*) FROM logseal.tokens WHERE body LIKE '%\"admin\"%' AND body NOT LIKE '%\"revoked\"%'")"
if [ "$(pgq "SELECT count(*) FROM logseal.tokens WHERE id = '$ADMIN_ID' AND body NOT LIKE '%\"revoked\"%'")" = 1 ]; then
	ADM=$ADMIN; ADM_ID=$ADMIN_ID
else
	ADM=$A2; ADM_ID=$A2_ID
fi
check "the survivor ($ADM_ID) works through node 1" within 5 200 on 1 GET /v1/tokens "$ADM"
check "the survivor works through node 2" within 5 200 on 2 GET /v1/tokens "$ADM"
check_eq "... and is still the last one on node 2" 409 "$(on 2 DELETE "/v1/tokens/$ADM_ID" "$ADM")"

# Tampering with database access alone.
W2=$(SRV_URL=$(node_url 1) new_token "$ADM" '{"role":"writer","name":"w2"}')
W2_ID=$(cat "$TMP/newtok.id")
W3=$(SRV_URL=$(node_url 1) new_token "$ADM" '{"role":"writer","name":"w3"}')
W3_ID=$(cat "$TMP/newtok.id")
check "w2 writes through node 2 within 5 s" within 5 200 write 2 "$W2"
check "w3 writes through node 2 within 5 s" within 5 200 write 2 "$W3"
pgq "SELECT body || ' ' || mac FROM logseal.tokens WHERE id = '$W3_ID'" >"$TMP/w3.row"
check "w2's row edited with psql: writer -> admin" \
	pgq "UPDATE logseal.tokens SET body = replace(body, '[\"writer\"]', '[\"admin\"]') WHERE id = '$W2_ID'"
FORGED=lsk_$(printf 'ab%.0s' $(seq 1 32))
FSHA=$(printf '%s' "$FORGED" | sha256sum | cut -d' ' -f1)
FID=tok_00000000000000ff
check "a forged admin row inserted with psql" pgq "INSERT INTO logseal.tokens (id, body, mac) VALUES ('$FID',
	'{\"created\":\"2026-01-01T00:00:00Z\",\"id\":\"$FID\",\"name\":\"forged\",\"roles\":[\"admin\",\"auditor\"],\"sha256\":\"$FSHA\"}',
	'$(printf x | sha256sum | cut -d' ' -f1)')"
check_eq "w3 revoked through node 1" 200 "$(on 1 DELETE "/v1/tokens/$W3_ID" "$ADM")"
check "node 2 refuses w3 within 5 s" within 5 401 write 2 "$W3"
check "w3's old row (its valid seal) replayed with psql" \
	pgq "UPDATE logseal.tokens SET body = '$(cut -d' ' -f1 "$TMP/w3.row")', mac = '$(cut -d' ' -f2 "$TMP/w3.row")' WHERE id = '$W3_ID'"
sleep 3	# more than one fallback reload (2 s)
for i in 1 2; do
	check_eq "node $i: the edited row authenticates nothing (no admin)" 401 "$(on "$i" GET /v1/tokens "$W2")"
	check_eq "node $i: ... nor as a writer" 401 "$(write "$i" "$W2")"
	check_eq "node $i: the forged admin row authenticates nothing" 401 "$(on "$i" GET /v1/tokens "$FORGED")"
	check_eq "node $i: the replayed pre-revocation row does not bring w3 back" 401 "$(write "$i" "$W3")"
	check_eq "node $i: /readyz names both bad rows" "$FID $W2_ID" "$(unsealed "$i")"
	check_eq "node $i: /metrics counts them" 2 \
		"$(curl -s -H "Authorization: Bearer $AUD" "$(node_url "$i")/metrics" | awk '$1 == "logseal_cluster_token_rows_unsealed" {print $2}')"
	check_eq "node $i: the log output names the edited row once" 1 \
		"$(grep -c "SECURITY: the row of token $W2_ID" "$TMP/node$i.err" "$TMP/node$i.out" | awk -F: '{s += $2} END {print s}')"
	check_eq "node $i: ... and the forged one once" 1 \
		"$(grep -c "SECURITY: the row of token $FID" "$TMP/node$i.err" "$TMP/node$i.out" | awk -F: '{s += $2} END {print s}')"
	check_eq "node $i: the admin still works" 200 "$(on "$i" GET /v1/tokens "$ADM")"
	check "node $i: its tokens.json cache holds no forged token" \
		bash -c "! grep -q '$FID' '$TMP/node$i/tokens.json'"
done
check_eq "the forged row does not count as an admin: the last one stays" 409 \
	"$(on 1 DELETE "/v1/tokens/$ADM_ID" "$ADM")"

# A failover (the PostgreSQL leader killed, ~20 s without a primary):
# tokens keep authenticating from each node's cache, changes answer 503
# with Retry-After; afterwards a change propagates again (the listener
# found the new primary).
W4=$(SRV_URL=$(node_url 1) new_token "$ADM" '{"role":"writer","name":"w4"}')
W4_ID=$(cat "$TMP/newtok.id")
check "w4 writes through node 2 within 5 s" within 5 200 write 2 "$W4"
check "the database has a synchronous standby" pgha wait-sync
printf '{"role":"auditor","name":"during"}' >"$TMP/aud.json"
L=$(pgha kill-leader)
echo "# killed the PostgreSQL leader (node $L)"
check "node 1: a create during the failover answers 503" within 15 503 on 1 POST /v1/tokens "$ADM" $J "$TMP/aud.json"
check "... with Retry-After" grep -qi '^retry-after:' "$TMP/resp.h"
# (A backend of the killed postmaster may still commit for a moment, with
# the standby still attached: the write may be acknowledged, never 401.)
check "node 2: w4 still authenticates (its write answers 503 or 200, not 401)" \
	test "$(write 2 "$W4")" != 401
check_eq "node 1: revoked w1 is still refused" 401 "$(write 1 "$W")"
check "node 2: a revoke during the failover answers 503" within 15 503 on 2 DELETE "/v1/tokens/$W4_ID" "$ADM"
check "node 2: after the failover the revoke goes through (<= 90 s)" within 90 200 on 2 DELETE "/v1/tokens/$W4_ID" "$ADM"
check "node 1 refuses w4 within 5 s (LISTEN on the new primary)" within 5 401 write 1 "$W4"
pgha restart-node "$L" >/dev/null 2>&1
check "the database has a synchronous standby again" pgha wait-sync

# A node restarted reads the shared table (not only its own file).
node_stop 2
check "node 2 restarts" node_start 2
check_eq "node 2 after restart: w1 (revoked through it) refused" 401 "$(write 2 "$W")"
check_eq "node 2 after restart: the survivor admin works" 200 "$(on 2 GET /v1/tokens "$ADM")"
check_eq "node 2 after restart: still not the forged one" 401 "$(on 2 GET /v1/tokens "$FORGED")"
check_eq "node 2 after restart: w3 stays revoked (its cache saw the revocation)" 401 "$(write 2 "$W3")"
sed 's/lsk_[0-9a-f]*/lsk_.../' "$TMP/took.log" 2>/dev/null
node_stop 1
node_stop 2
done_testing
