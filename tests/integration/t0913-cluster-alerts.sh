#!/bin/bash
# Cluster mode (docs/CLUSTER.md): every node runs the alert engine over the
# same log, so every node fires the same alert.  The fired alert's id
# ("rule@leaf") is its idempotency key in the database: the log holds one
# logseal.alert.fired event per alert, whichever nodes fired it, and every
# node's alert list points at that one entry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
need_s3 log
. "$(dirname "$0")/cluster_lib.sh"
J=application/json

check "init once, copied to two node directories" cluster_init 2
check "node 1 starts; tokens" cluster_tokens
check "node 2 starts" node_start 2
ADMIN2=$ADMIN
# the same rule on both nodes (rules are node-local files), by id
rule='{"id":"r_door","name":"door denied","kind":"match","filter":{"action":"door.open","outcome":"denied"}}'
printf '%s' "$rule" >"$TMP/rule.json"
for i in 1 2; do
	check_eq "node $i: the rule is created" 201 \
		"$(curl -s -o "$TMP/resp" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN2" \
			-H "Content-Type: $J" --data-binary "@$TMP/rule.json" "$(node_url "$i")/v1/alerts/rules")"
done
printf '[{"time":"%s","actor":{"id":"mallory"},"action":"door.open","outcome":"denied","source":{"ip":"10.0.0.66"},"id":"door-1"},
 {"time":"%s","actor":{"id":"alice"},"action":"door.open","outcome":"success","source":{"ip":"10.0.0.7"},"id":"door-2"}]' \
	"$(date -u +%FT%TZ)" "$(date -u +%FT%TZ)" >"$TMP/ev.json"
check_eq "two events through node 1, one of them denied" 200 \
	"$(curl -s -o "$TMP/resp" -w '%{http_code}' -X POST -H "Authorization: Bearer $W" \
		-H "Content-Type: $J" --data-binary "@$TMP/ev.json" "$(node_url 1)/v1/events")"
LEAF=$(jq -r '.indexes[0]' "$TMP/resp")
fired_on() {
	curl -s -H "Authorization: Bearer $AUD" "$(node_url "$1")/v1/alerts?limit=100" |
		jq -r --arg id "r_door@$LEAF" '.alerts[] | select(.id == $id) | .log_index // empty'
}
both_fired() { [ -n "$(fired_on 1)" ] && [ -n "$(fired_on 2)" ]; }
check "both nodes fire alert r_door@$LEAF" wait_until 60 both_fired
I1=$(fired_on 1); I2=$(fired_on 2)
check_eq "both point at the same logseal.alert.fired entry" "$I1" "$I2"
sleep 1
check "both nodes converge" wait_until 120 converged 1 2
for i in 1 2; do
	check_eq "node $i's replica: one logseal.alert.fired for it" 1 \
		"$("$TESTBIN/journalcat" "$TMP/node$i" | grep -a '"logseal.alert.fired"' | grep -ac "r_door@$LEAF")"
done
check_eq "... at the index both lists name" "$I1" \
	"$("$TESTBIN/journalcat" "$TMP/node1" | grep -an '"logseal.alert.fired"' | grep -a "r_door@$LEAF" | cut -d: -f1 | awk '{print $1 - 1}')"
node_stop 1
node_stop 2
done_testing
