#!/bin/bash
# GET /v1/events and /v1/events/stats against a known event set posted
# through the API: every filter name gives exactly the indexes an
# independent model (python, below) computes from the events we sent;
# cursor pagination (desc over everything, asc with appends in between)
# returns every event once; order asc/desc; stats counts; 400 for bad
# parameters; auditor-only access; a read right after a write sees it;
# `logseal reindex` refuses while the server runs and, offline, rebuilds an
# index that answers the same.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D" --origin queries.test/log
check "server starts" start_server "$D" --checkpoint-interval 200
ADMIN=$(cat "$D/admin.token")
W1=$(new_token "$ADMIN" '{"role":"writer","name":"w1"}'); W1_ID=$(cat "$TMP/newtok.id")
W2=$(new_token "$ADMIN" '{"role":"writer","name":"w2"}'); W2_ID=$(cat "$TMP/newtok.id")
AUD=$(new_token "$ADMIN" '{"role":"auditor","name":"aud"}')

# ---------------------------------------------------------------- the event set
# 40 events; times in 2024 (the server's own events carry today's date, so a
# 2024 time range never sees them), distinct actors/actions/IPs/services.
python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
actors = ["alice", "bob", "carol", "dave"]
actions = ["doc.read", "doc.write", "docs.list", "user.login", "user.logout"]
outcomes = ["success", "failure", "denied", "error", "unknown"]
ips = ["10.1.2.3", "10.1.200.9", "10.2.0.1", "192.0.2.7", "2001:db8::5", "2001:db9::1"]
services = ["shop", "hr", "billing"]
evs = []
for i in range(40):
    day = 1 + i % 9
    e = {"id": "q-%d" % i,
         "time": "2024-03-%02dT%02d:15:00%s" % (day, i % 24, "+02:00" if i % 3 == 0 else "Z"),
         "actor": {"id": actors[i % 4], "type": "user"},
         "action": actions[i % 5], "outcome": outcomes[(i * 7) % 5],
         "source": {"ip": ips[i % 6]}, "service": services[i % 3]}
    if i % 4 != 3:
        e["resource"] = {"type": ["doc", "user"][i % 2], "id": str(i % 5)}
    evs.append(e)
json.dump(evs[:15], open(tmp + "/b1.json", "w"))
json.dump(evs[15:25], open(tmp + "/b2.json", "w"))
json.dump(evs[25:], open(tmp + "/b3.json", "w"))
PY
check_eq "batch 1 (writer 1): 200" 200 "$(req POST /v1/events "$W1" $J "$TMP/b1.json")"
jq -c .indexes "$TMP/resp" >"$TMP/i1.json"
check_eq "batch 2 (writer 1): 200" 200 "$(req POST /v1/events "$W1" $J "$TMP/b2.json")"
jq -c .indexes "$TMP/resp" >"$TMP/i2.json"
sleep 0.05
MID=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
sleep 0.05
check_eq "batch 3 (writer 2): 200" 200 "$(req POST /v1/events "$W2" $J "$TMP/b3.json")"
jq -c .indexes "$TMP/resp" >"$TMP/i3.json"

# The model: (index, event, writer, batch) for what we sent.
cat >"$TMP/model.py" <<'PY'
import ipaddress, json, sys, urllib.parse
from datetime import datetime, timezone
tmp, qs = sys.argv[1], sys.argv[2]
w1, w2 = sys.argv[3], sys.argv[4]
rows = []
for b, w in ((1, w1), (2, w1), (3, w2)):
    evs = json.load(open("%s/b%d.json" % (tmp, b)))
    idx = json.load(open("%s/i%d.json" % (tmp, b)))
    rows += [(i, e, w, b) for i, e in zip(idx, evs)]
def t(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)
def match(k, v, e, w, b):
    if k == "from": return t(e["time"]) >= t(v)
    if k == "to": return t(e["time"]) < t(v)
    if k == "received_from": return b == 3          # MID lies between batches 2 and 3
    if k == "received_to": return b != 3
    if k == "actor": return e["actor"]["id"] == v
    if k == "action": return e["action"].startswith(v[:-1]) if v.endswith("*") else e["action"] == v
    if k == "outcome": return e["outcome"] == v
    if k == "source_ip":
        return ipaddress.ip_address(e["source"]["ip"]) in ipaddress.ip_network(v, strict=False)
    if k == "service": return e.get("service") == v
    if k == "resource_type": return e.get("resource", {}).get("type") == v
    if k == "resource_id": return e.get("resource", {}).get("id") == v
    if k == "writer": return w == v
    raise SystemExit("model: unknown " + k)
q = urllib.parse.parse_qsl(qs)
print(" ".join(str(i) for i, e, w, b in sorted(rows, key=lambda r: r[0])
               if all(match(k, v, e, w, b) for k, v in q)))
PY
# filt QS: the indexes the server returns for QS (one page of up to 1000, asc).
filt() { req GET "/v1/events?$1&order=asc&limit=1000" "$AUD" >/dev/null; jq -r '[.events[].index] | map(tostring) | join(" ")' "$TMP/resp"; }
model() { python3 "$TMP/model.py" "$TMP" "$1" "$W1_ID" "$W2_ID"; }
Y='to=2025-01-01T00:00:00Z'	# keeps the server's own (current) events out
for qs in "from=2024-03-05T00:00:00Z&$Y" "from=2024-03-04T23:00:00%2B02:00&$Y" "to=2024-03-03T00:00:00Z" \
	"from=2024-03-02T00:00:00Z&to=2024-03-04T12:00:00Z" \
	"received_from=$MID&service=shop" "received_from=$MID&$Y" "received_to=$MID&$Y" \
	"actor=alice" "actor=dave&service=hr" "action=doc.read" "action=doc.*" "action=user.*" \
	"action=docs.*" "outcome=denied&$Y" "outcome=error&$Y" "outcome=unknown&$Y" \
	"source_ip=10.1.2.3" "source_ip=10.1.0.0/16" "source_ip=10.0.0.0/8" "source_ip=2001:db8::/32" \
	"source_ip=192.0.2.0/24" "service=shop" "service=billing" "resource_type=doc" \
	"resource_id=3" "resource_type=user&resource_id=1" "writer=$W1_ID" "writer=$W2_ID&action=doc.*" \
	"actor=bob&outcome=failure&$Y" "service=nope"; do
	want=$(model "$qs"); got=$(filt "$qs")
	check_eq "filter $qs -> [$want]" "$want" "$got"
done
check_eq "a filter that matches something is not vacuous" 1 "$([ -n "$(model 'actor=alice')" ] && echo 1)"

# ---------------------------------------------------------------- shape, order
check_eq "GET /v1/events: 200" 200 "$(req GET '/v1/events?service=shop&limit=3' "$AUD")"
check_eq "reply has events, next_cursor, watermark" '["events","next_cursor","watermark"]' "$(jq -c 'keys' "$TMP/resp")"
check_eq "default limit respected (3) and newest first" true "$(jq '(.events|length)==3 and .events[0].index > .events[1].index' "$TMP/resp")"
check_eq "each event is {index, entry} with the stored entry" '["entry","index"] shop' "$(jq -r '(.events[0]|keys|tojson) + " " + .events[0].entry.service' "$TMP/resp")"
check_eq "entry carries what the server added (writer, received)" true "$(jq '.events[0].entry | has("writer") and has("received") and .schema=="logseal/v1"' "$TMP/resp")"
wm=$(jq .watermark "$TMP/resp")
last=$(jq '.[-1]' "$TMP/i3.json")
check_eq "watermark covers every event posted" 1 "$([ "$wm" -gt "$last" ] && echo 1)"
desc=$(filt "service=hr" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')
req GET "/v1/events?service=hr&order=desc&limit=1000" "$AUD" >/dev/null
check_eq "order=desc gives the same set, newest first" "$desc|true" \
	"$(jq -r '[.events[].index] | (sort | map(tostring) | join(" ")) + "|" + (. == (sort | reverse)|tostring)' "$TMP/resp")"
check_eq "order=asc is oldest first" true "$(req GET '/v1/events?service=hr&order=asc' "$AUD" >/dev/null; jq '[.events[].index] | . == sort' "$TMP/resp")"

# A read right after a write sees it (the query waits for the index).
printf '{"id":"raw-1","time":"2024-06-01T00:00:00Z","actor":{"id":"zed"},"action":"x.y","outcome":"success","source":{"ip":"10.9.9.9"},"service":"rw"}' >"$TMP/rw.json"
req POST /v1/events "$W1" $J "$TMP/rw.json" >/dev/null; rwi=$(jq '.indexes[0]' "$TMP/resp")
check_eq "read after write: the new event is found at once" "$rwi" "$(req GET '/v1/events?actor=zed' "$AUD" >/dev/null; jq '.events[0].index' "$TMP/resp")"

# ---------------------------------------------------------------- pagination
# desc over the whole log, 7 at a time: 0..top exactly once each.
page() { req GET "$1" "$AUD"; }
: >"$TMP/seen"; url="/v1/events?limit=7"; pages=0; top=""
while :; do
	[ "$(page "$url")" = 200 ] || { not_ok "page $pages: $(cat "$TMP/resp")"; break; }
	[ -z "$top" ] && top=$(jq '.events[0].index' "$TMP/resp")
	jq -r '.events[].index' "$TMP/resp" >>"$TMP/seen"
	c=$(jq -r '.next_cursor // empty' "$TMP/resp"); pages=$((pages + 1))
	[ -z "$c" ] && break
	[ $pages -gt 200 ] && { not_ok "pagination does not end"; break; }
	url="/v1/events?limit=7&cursor=$c"
done
check_eq "desc pagination: every index 0..$top exactly once" "$(seq "$top" -1 0 | tr '\n' ' ')" "$(tr '\n' ' ' <"$TMP/seen")"
check_eq "desc pagination took several pages" 1 "$([ $pages -gt 3 ] && echo 1)"

# asc, 4 at a time, with shop events appended while paging: none skipped or repeated.
: >"$TMP/seen"; url="/v1/events?service=shop&order=asc&limit=4"; pages=0; n=0
while :; do
	[ "$(page "$url")" = 200 ] || { not_ok "page $pages"; break; }
	jq -r '.events[].index' "$TMP/resp" >>"$TMP/seen"
	c=$(jq -r '.next_cursor // empty' "$TMP/resp"); pages=$((pages + 1))
	if [ $pages -le 3 ]; then
		printf '{"id":"late-%d","time":"2024-07-01T00:00:00Z","actor":{"id":"late"},"action":"doc.read","outcome":"success","source":{"ip":"10.3.3.3"},"service":"shop"}' $pages >"$TMP/late.json"
		req POST /v1/events "$W2" $J "$TMP/late.json" >/dev/null; n=$((n + 1))
	fi
	[ -z "$c" ] && break
	[ $pages -gt 100 ] && { not_ok "pagination does not end"; break; }
	url="/v1/events?service=shop&order=asc&limit=4&cursor=$c"
done
all_shop="$(model service=shop) $(req GET '/v1/events?actor=late&order=asc' "$AUD" >/dev/null; jq -r '[.events[].index]|map(tostring)|join(" ")' "$TMP/resp")"
check_eq "3 events appended while paging" "3" "$n"
check_eq "asc pagination with appends: every shop event once, in order" "$all_shop" "$(tr '\n' ' ' <"$TMP/seen" | sed 's/ $//')"

# Cursors are bound to their filters and order, and checked.
req GET "/v1/events?service=shop&limit=2" "$AUD" >/dev/null; c=$(jq -r .next_cursor "$TMP/resp")
check_eq "cursor with other filters: 400" 400 "$(req GET "/v1/events?service=hr&limit=2&cursor=$c" "$AUD")"
check_eq "cursor with the other order: 400" 400 "$(req GET "/v1/events?service=shop&order=asc&cursor=$c" "$AUD")"
bad=$(printf '%s' "$c" | sed 's/^\(.\)\(.\)/\2\1/'); [ "$bad" = "$c" ] && bad="A$c"
check_eq "edited cursor: 400" 400 "$(req GET "/v1/events?service=shop&cursor=$bad" "$AUD")"
check_eq "same filters and order: 200" 200 "$(req GET "/v1/events?service=shop&limit=2&cursor=$c" "$AUD")"
check_eq "empty cursor is the first page" 200 "$(req GET "/v1/events?cursor=" "$AUD")"

# ---------------------------------------------------------------- stats
check_eq "stats: 200" 200 "$(req GET "/v1/events/stats?service=shop&group_by=outcome" "$AUD")"
want=$(python3 - "$TMP" <<'PY'
import json, sys, collections
evs = sum((json.load(open("%s/b%d.json" % (sys.argv[1], b))) for b in (1, 2, 3)), [])
c = collections.Counter(e["outcome"] for e in evs if e["service"] == "shop")
c["success"] += 3   # the 3 "late" shop events appended while paging
print(json.dumps(dict(sorted(c.items())), separators=(",", ":")))
PY
)
check_eq "stats by outcome = the model's counts" "$want" "$(jq -c '.buckets[0].counts | to_entries | sort_by(.key) | from_entries' "$TMP/resp")"
check_eq "stats total and watermark" true "$(jq '.total == ([.buckets[0].counts[]] | add) and (.watermark|type)=="number"' "$TMP/resp")"
check_eq "stats per day (bucket=86400) in 2024-03: 200" 200 "$(req GET "/v1/events/stats?group_by=service&bucket=86400&from=2024-03-01T00:00:00Z&to=2024-04-01T00:00:00Z" "$AUD")"
want=$(python3 - "$TMP" <<'PY'
import json, sys, collections
from datetime import datetime, timezone
evs = sum((json.load(open("%s/b%d.json" % (sys.argv[1], b))) for b in (1, 2, 3)), [])
c = collections.Counter()
for e in evs:
    d = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(timezone.utc)
    if d.month == 3:    # the query's range: [2024-03-01, 2024-04-01)
        c[d.strftime("%Y-%m-%dT00:00:00.000000Z")] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))
PY
)
check_eq "per-day totals = the model's" "$want" "$(jq -r '[.buckets[] | "\(.start)=\(([.counts[]] | add) + .other)"] | join(" ")' "$TMP/resp")"
for g in action service; do
	check_eq "stats group_by=$g: 200" 200 "$(req GET "/v1/events/stats?group_by=$g&$Y" "$AUD")"
done
# actors are stored only as keyed hashes (blind index): no grouping by them,
# but counting one actor's events by filtering still works
check_eq "stats group_by=actor is refused (blind index)" 400 "$(req GET "/v1/events/stats?group_by=actor&$Y" "$AUD")"
check_eq "stats filtered to alice: her count" "$(model actor=alice | wc -w)" "$(req GET "/v1/events/stats?group_by=outcome&actor=alice&$Y" "$AUD" >/dev/null; jq '.total' "$TMP/resp")"

# ---------------------------------------------------------------- bad parameters
for qs in "bogus=1" "limit=0" "limit=1001" "limit=ten" "order=up" "from=yesterday" "to=2024-13-01T00:00:00Z" \
	"source_ip=10.0.0.0/33" "source_ip=not-an-ip" "outcome=maybe" "actor=a&actor=b" "action=*" "action=a*b*" \
	"cursor=zzzz" "actor=" "format=csv"; do
	check_eq "GET /v1/events?$qs: 400" 400 "$(req GET "/v1/events?$qs" "$AUD")"
done
check_eq "400 body names the parameter" 1 "$(req GET '/v1/events?bogus=1' "$AUD" >/dev/null; jq -r .error.message "$TMP/resp" | grep -c bogus)"
check_eq "400 code" bad_parameter "$(jq -r .error.code "$TMP/resp")"
for qs in "group_by=writer" "bucket=-1" "bucket=x" "limit=5" "cursor=abc" "order=asc" "bogus=1" "group_by=actor&group_by=action"; do
	check_eq "GET /v1/events/stats?$qs: 400" 400 "$(req GET "/v1/events/stats?$qs" "$AUD")"
done
check_eq "a NUL byte in a parameter: 400" 400 "$(req GET '/v1/events?actor=a%00b' "$AUD")"

# ---------------------------------------------------------------- roles
for p in "/v1/events" "/v1/events/stats" "/v1/events/0" "/v1/proof/consistency?old=0&new=1" "/log/checkpoint" "/v1/export"; do
	check_eq "writer: GET $p is 403" 403 "$(req GET "$p" "$W1")"
	check_eq "no token: GET $p is 401" 401 "$(req GET "$p" "")"
done
check_eq "auditor token may read" 200 "$(req GET /v1/events "$AUD")"
check_eq "admin's initial token (admin+auditor) may read" 200 "$(req GET /v1/events "$ADMIN")"

# ---------------------------------------------------------------- reindex
check_fails "reindex refuses while the server runs" "$LOGSEAL" reindex --data "$D"
grep -q "running server" "$TMP/last.out" && ok "reindex says why" || not_ok "reindex says why"
for qs in "service=shop" "action=doc.*&$Y" "source_ip=10.1.0.0/16"; do filt "$qs" >"$TMP/before.$(echo "$qs" | md5sum | cut -c1-8)"; done
stop_server; check_eq "stop: exit 0" 0 "$?"
check "reindex --help" "$LOGSEAL" reindex --help
check "reindex offline" "$LOGSEAL" reindex --data "$D"
check "server restarts on the rebuilt index" start_server "$D"
req GET /v1/events "$AUD" >/dev/null
for qs in "service=shop" "action=doc.*&$Y" "source_ip=10.1.0.0/16"; do
	check_eq "after reindex: $qs answers the same" "$(cat "$TMP/before.$(echo "$qs" | md5sum | cut -c1-8)")" "$(filt "$qs")"
done
stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
