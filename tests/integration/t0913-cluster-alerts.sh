#!/bin/bash
# Cluster mode (docs/CLUSTER.md): every node runs the alert engine over the
# same log, so every node fires the same alert.  The fired alert's id
# ("rule@leaf") is its idempotency key in the database: the log holds one
# logseal.alert.fired event per alert, whichever nodes fired it, and every
# node's alert list points at that one entry.  The rule's webhook is
# delivered once, by the node whose event the log kept; the other node's
# list says "other_node".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
need_pg
need_s3 log
. "$(dirname "$0")/cluster_lib.sh"
J=application/json

"$TESTBIN/webhook_receiver" --port-file "$TMP/hook.port" --out "$TMP/hook.out" --secret s3cr3t --lifetime 300 &
SERVER_PIDS="$SERVER_PIDS $!"
for _ in $(seq 50); do [ -s "$TMP/hook.port" ] && break; sleep 0.1; done
NODE_OPTS="--webhook-allow-private 127.0.0.1"
check "init once, copied to two node directories" cluster_init 2
check "node 1 starts; tokens" cluster_tokens
check "node 2 starts" node_start 2
ADMIN2=$ADMIN
# the same rule and webhook on both nodes (node-local files), by name
rule='{"id":"r_door","name":"door denied","kind":"match","filter":{"action":"door.open","outcome":"denied"},"webhooks":["ops"]}'
printf '%s' "$rule" >"$TMP/rule.json"
printf '{"name":"ops","url":"http://127.0.0.1:%s/hook","secret":"s3cr3t"}' "$(cat "$TMP/hook.port")" >"$TMP/hook.json"
for i in 1 2; do
	check_eq "node $i: the webhook is set" 200 \
		"$(curl -s -o "$TMP/resp" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN2" \
			-H "Content-Type: $J" --data-binary "@$TMP/hook.json" "$(node_url "$i")/v1/alerts/webhooks")"
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
state_on() {
	curl -s -H "Authorization: Bearer $AUD" "$(node_url "$1")/v1/alerts?limit=100" |
		jq -r --arg id "r_door@$LEAF" '.alerts[] | select(.id == $id) | .state'
}
settled() { [ "$(state_on 1)" != pending ] && [ "$(state_on 2)" != pending ] && [ -s "$TMP/hook.out" ]; }
check "both nodes settle the delivery" wait_until 60 settled
sleep 2	# a second delivery, if any, would come now
check_eq "the webhook received the alert once, not once per node" 1 "$(grep -c "r_door@$LEAF" "$TMP/hook.out")"
check_eq "... HMAC-signed" 1 "$(grep " sig=ok " "$TMP/hook.out" | grep -c "r_door@$LEAF")"
check_eq "one node says delivered, the other other_node" "delivered other_node" \
	"$(printf '%s\n%s\n' "$(state_on 1)" "$(state_on 2)" | sort | tr '\n' ' ' | sed 's/ $//')"
WRITER=$("$TESTBIN/journalcat" "$TMP/node1" | grep -a '"logseal.alert.fired"' | grep -a "r_door@$LEAF" | jq -r .details.node)
check_eq "the logged event names the node that delivered it" delivered \
	"$(state_on "${WRITER#n}")"
node_stop 1
node_stop 2
done_testing
