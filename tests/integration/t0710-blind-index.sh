#!/bin/bash
# The blind index through the real server: events carrying unique marker
# values in actor, resource and source ip are posted (and the writer field
# the server stamps with the token id);
# no marker (nor the marker addresses as bytes) is anywhere under
# DIR/index/, yet queries by each of those values find exactly the events;
# CIDR queries of a kept prefix length work, another length is a 400 that
# names the lengths kept; stats by actor is a 400 that says why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
M=bx$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
check "init" "$LOGSEAL" init --data "$D" --origin blind.test/log
# Small ranges (when serve has the option), so that the marked events end
# up in a sealed range's .post file, not only in memory.
SEG=""
"$LOGSEAL" serve --help 2>&1 | grep -q -- --segment-leaves && SEG="--segment-leaves 256"
# shellcheck disable=SC2086
check "server starts" start_server "$D" $SEG
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer","name":"w-blind"}'); cp "$TMP/newtok.id" "$TMP/newtok.w"
AUD=$(new_token "$ADMIN" '{"role":"auditor","name":"aud-blind"}')

cat >"$TMP/b.json" <<JSON
[{"time":"2024-05-06T07:08:09Z","actor":{"id":"actor-$M@example.org","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"198.51.100.77"},"service":"svc-$M","resource":{"type":"rtype-$M","id":"rid-$M-1"}},
 {"time":"2024-05-06T07:08:10Z","actor":{"id":"actor-$M@example.org","type":"user"},"action":"doc.write","outcome":"denied","source":{"ip":"2001:db8:77:$((RANDOM % 9000 + 1000))::9"},"service":"svc-$M","resource":{"type":"rtype-$M","id":"rid-$M-2"}},
 {"time":"2024-05-06T07:08:11Z","actor":{"id":"other-$M","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"198.51.100.200"},"service":"svc-$M","resource":{"type":"rtype-$M","id":"rid-$M-3"}}]
JSON
V6=$(jq -r '.[1].source.ip' "$TMP/b.json")
check_eq "post 3 marked events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/b.json")"
I0=$(jq -r '.indexes[0]' "$TMP/resp"); I1=$(jq -r '.indexes[1]' "$TMP/resp"); I2=$(jq -r '.indexes[2]' "$TMP/resp")
# Fill the range up to 512 leaves (ranges of 256: the markers' one is complete).
python3 -c 'import json; print(json.dumps([{"time":"2024-05-06T07:00:00Z","actor":{"id":"filler"},"action":"fill.x","outcome":"success","source":{"ip":"192.0.2.1"}}] * 100))' >"$TMP/fill.json"
FILLED=""
for _ in 1 2 3 4 5; do FILLED="$FILLED$(req POST /v1/events "$W" $J "$TMP/fill.json")"; done
check_eq "500 filler events: 200 x 5" 200200200200200 "$FILLED"

# q QUERY: the indexes /v1/events returns for QUERY (ascending), or the status when not 200.
q() {
	local st
	st=$(req GET "/v1/events?order=asc&limit=1000&$1" "$AUD")
	[ "$st" = 200 ] || { echo "status $st"; return; }
	jq -r '[.events[].index] | map(tostring) | join(",")' "$TMP/resp"
}
check_eq "actor=... finds both of that actor" "$I0,$I1" "$(q "actor=actor-$M%40example.org")"
check_eq "resource_id=... finds one" "$I1" "$(q "resource_id=rid-$M-2")"
check_eq "resource_type=... finds all three" "$I0,$I1,$I2" "$(q "resource_type=rtype-$M")"
check_eq "source_ip (IPv4 /32)" "$I0" "$(q "source_ip=198.51.100.77")"
check_eq "source_ip (IPv4 /24)" "$I0,$I2" "$(q "source_ip=198.51.100.0/24&service=svc-$M")"
check_eq "source_ip (IPv4 /16)" "$I0,$I2" "$(q "source_ip=198.51.0.0/16&service=svc-$M")"
check_eq "source_ip (IPv6 /128)" "$I1" "$(q "source_ip=$V6")"
check_eq "source_ip (IPv6 /48)" "$I1" "$(q "source_ip=2001:db8:77::/48&service=svc-$M")"
check_eq "combined filters" "$I2" "$(q "resource_type=rtype-$M&actor=other-$M&source_ip=198.51.100.0/24")"
# The writer field is the token id the server stamps on each event: an
# event without it is a failure here, not a skip (the writer's id is one of
# the blinded values checked below).
WID=$(req GET "/v1/events?order=asc&limit=1&service=svc-$M" "$AUD" >/dev/null; jq -r '.events[0].entry.writer // empty' "$TMP/resp")
check_eq "the server stamps the writer's token id on the event" "$(cat "$TMP/newtok.w")" "$WID"
check_eq "writer=... finds the batch" "$I0,$I1,$I2" "$(q "writer=${WID:-missing}&service=svc-$M")"

check_eq "an unsupported prefix length: 400" 400 "$(req GET "/v1/events?source_ip=198.51.100.64/26" "$AUD")"
check "its message names the kept lengths" grep -q "/24" "$TMP/resp"
check_eq "stats by actor: 400" 400 "$(req GET "/v1/events/stats?group_by=actor" "$AUD")"
check "its message says why" grep -q "keyed hash" "$TMP/resp"
check_eq "stats by service still work" 3 "$(req GET "/v1/events/stats?group_by=service&service=svc-$M" "$AUD" >/dev/null; jq ".buckets[0].counts[\"svc-$M\"]" "$TMP/resp")"

# Nothing personal in the index's files (.post files, meta), running or stopped.
noleak() {
	local f hits=0
	for f in "$D"/index/*; do
		[ -f "$f" ] || continue
		grep -a -q -F -e "$1" "$f" && { echo "# $1 in $f"; hits=$((hits + 1)); }
	done
	[ "$hits" = 0 ]
}
bytes_noleak() {	# HEX: no file under DIR/index holds these bytes
	local f
	for f in "$D"/index/*; do
		[ -f "$f" ] || continue
		od -An -v -tx1 "$f" | tr -d ' \n' | grep -q "$1" && { echo "# bytes $1 in $f"; return 1; }
	done
	return 0
}
for pass in running stopped; do
	# (not $M alone: it is also in the service name, which stays plain)
	for m in "actor-$M" "rid-$M" "rtype-$M" "198.51.100.77" "198.51.100.200" "$V6" "2001:db8:77" "$WID"; do
		[ -n "$m" ] && check "$pass: '$m' is not in DIR/index/" noleak "$m"
	done
	check "$pass: 198.51.100.77 as bytes is not in DIR/index/" bytes_noleak "ffffc6336447"
	check "$pass: no SQLite index any more" test ! -e "$D"/index/index.sqlite
	[ $pass = running ] && { check "server stops" stop_server; }
done
if [ -n "$SEG" ]; then
	check "the sealed ranges' .post files are there" ls "$D"/index/0000000000000000.post
	check "the plain fields are there (the search works)" grep -a -q -F "doc.write" "$D"/index/*.post
	check "service names stay plain (as documented)" grep -a -q -F "svc-$M" "$D"/index/*.post
else
	echo "# serve has no --segment-leaves: the markers stay in the range in memory"
	check "reindex runs" "$LOGSEAL" reindex --data "$D"
fi
done_testing
