#!/bin/bash
# The query syntax of docs/API.md "Filters" beyond equality, against a model
# (python, below) of the events we sent: resource_id prefixes (payments/*)
# and service prefixes; not-equal filters (name!=value, several, with other
# filters, in stats); date-only and relative times (2024-03-05, 24h, now-1h,
# 7d) and a cursor that keeps a relative time; a '+' sent unescaped in a URL
# time gets a 400 that says to send %2B; prefixes the blind index cannot
# answer are a 400 that says so; `logseal query --not`, `--from 24h`; an index
# of the previous format (meta "postings 1") is rebuilt with the prefixes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D" --origin qsyntax.test/log
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer","name":"w"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor","name":"aud"}')
printf '%s' "$AUD" >"$TMP/aud.token"; chmod 600 "$TMP/aud.token"

# 30 events of service qs-*: resource ids with '/' and ':' separators,
# times from 2 hours to 20 days ago (relative filters) and in 2024-03.
python3 - "$TMP" <<'PY'
import json, sys
from datetime import datetime, timedelta, timezone
tmp = sys.argv[1]
now = datetime.now(timezone.utc)
rids = ["payments/inv/1", "payments/2", "payroll/3", "pay:x:1", "orders/4", "payments", "payments/inv/",
        "a/b/c/d/e/f"]
actors = ["alice", "bob", "carol"]
outcomes = ["success", "failure", "denied", "unknown"]
ago_h = [2, 30, 5 * 24, 20 * 24, 0.5]
evs = []
for i in range(30):
    if i % 3 == 0:
        t = "2024-03-%02dT%02d:00:00Z" % (1 + i % 9, i % 24)
    else:
        t = (now - timedelta(hours=ago_h[i % 5])).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    e = {"id": "s-%d" % i, "time": t, "actor": {"id": actors[i % 3], "type": "user"},
         "action": ["doc.read", "doc.write", "user.login"][i % 3 if i % 2 else (i // 2) % 3],
         "outcome": outcomes[i % 4], "source": {"ip": "10.0.0.%d" % i},
         "service": ["qs-shop", "qs-hr", "qs-billing"][(i // 3) % 3]}
    if i % 7 != 6:
        e["resource"] = {"type": "doc", "id": rids[i % len(rids)]}
    evs.append(e)
json.dump(evs, open(tmp + "/evs.json", "w"))
PY
check_eq "the events are appended" 200 "$(req POST /v1/events "$W" $J "$TMP/evs.json")"
jq -c .indexes "$TMP/resp" >"$TMP/idx.json"

cat >"$TMP/model.py" <<'PY'
import json, sys, urllib.parse
from datetime import datetime, timedelta, timezone
tmp, qs = sys.argv[1], sys.argv[2]
evs = json.load(open(tmp + "/evs.json")); idx = json.load(open(tmp + "/idx.json"))
now = datetime.now(timezone.utc)
def t(s):
    if len(s) == 10: s += "T00:00:00Z"
    if s[-1] in "smhdw" and not s.startswith("20"):
        n = int(s.replace("now-", "")[:-1]); u = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[s[-1]]
        return now - timedelta(seconds=n * u)
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)
def get(e, k):
    if k == "actor": return e["actor"]["id"]
    if k == "resource_id": return e.get("resource", {}).get("id")
    return e.get(k)
def eq(e, k, v):
    x = get(e, k)
    if x is None: return False
    return x.startswith(v[:-1]) if v.endswith("*") else x == v
def match(k, v, e):
    if k == "from": return t(e["time"]) >= t(v)
    if k == "to": return t(e["time"]) < t(v)
    if k.endswith("!"): return not eq(e, k[:-1], v)
    return eq(e, k, v)
q = urllib.parse.parse_qsl(qs)
print(" ".join(str(i) for i, e in zip(idx, evs) if all(match(k, v, e) for k, v in q)))
PY
filt() { req GET "/v1/events?$1&order=asc&limit=1000" "$AUD" >/dev/null; jq -r '[.events[].index] | map(tostring) | join(" ")' "$TMP/resp"; }
model() { python3 "$TMP/model.py" "$TMP" "$1"; }
S='service=qs*'		# keeps the server's own events out
for qs in "resource_id=payments/*" "resource_id=payments/inv/*" "resource_id=pay:*" "resource_id=pay:x:*" \
	"resource_id=a/b/c/d/*" "resource_id=payments/*&actor=alice" "service=qs-h*" "service=qs*&action=doc.*" \
	"$S&actor!=alice" "$S&outcome!=success&outcome!=unknown" "$S&resource_id!=payments/*" \
	"$S&action!=doc.*&actor!=bob" "resource_id=payments/*&outcome!=failure" "$S&resource_id!=payments" \
	"$S&from=2024-03-05&to=2024-03-08" "$S&from=24h" "$S&from=now-24h" "$S&from=7d&to=now-1d" \
	"$S&from=1w" "$S&to=now-30m" "$S&from=2024-01-01&to=3d" "$S&from=60m"; do
	want=$(model "$qs"); got=$(filt "$qs")
	check_eq "filter $qs -> [$want]" "$want" "$got"
done
check_eq "the prefix filter is not vacuous" 1 "$([ "$(model 'resource_id=payments/*' | wc -w)" -ge 5 ] && echo 1)"
check_eq "from=24h is not vacuous nor everything" 1 \
	"$(a=$(model "$S&from=24h" | wc -w); [ "$a" -ge 3 ] && [ "$a" -lt 20 ] && echo 1)"
check_eq "date from=2024-03-05 = from=2024-03-05T00:00:00Z" "$(filt "$S&from=2024-03-05T00:00:00Z")" "$(filt "$S&from=2024-03-05")"

# stats take the same filters
req GET "/v1/events/stats?$S&outcome!=success&group_by=outcome" "$AUD" >/dev/null
check_eq "stats with outcome!=success count no success" \
	"$(python3 -c "import json,sys,collections; e=json.load(open('$TMP/evs.json')); c=collections.Counter(x['outcome'] for x in e if x['outcome']!='success'); print(json.dumps(dict(sorted(c.items())),separators=(',',':')))")" \
	"$(jq -c '.buckets[0].counts | to_entries | sort_by(.key) | from_entries' "$TMP/resp")"

# A cursor keeps a relative time as written: the next page with from=24h again.
check_eq "page 1 with from=24h" 200 "$(req GET "/v1/events?$S&from=24h&limit=2" "$AUD")"
c=$(jq -r .next_cursor "$TMP/resp")
check_eq "page 2 with from=24h and its cursor: 200" 200 "$(req GET "/v1/events?$S&from=24h&limit=2&cursor=$c" "$AUD")"
check_eq "the cursor is bound to the relative form: from=25h is a 400" 400 \
	"$(req GET "/v1/events?$S&from=25h&limit=2&cursor=$c" "$AUD")"

# Refusals that say what to do.
bad() {	# bad QS GREP-TEXT
	local code; code=$(req GET "/v1/events?$1" "$AUD")
	if [ "$code" = 400 ] && grep -q -- "$2" "$TMP/resp"; then ok "400 for $1"; else
		not_ok "400 for $1 saying '$2'"; echo "#   $code $(cat "$TMP/resp")"; fi
}
bad "from=2024-03-04T23:00:00+02:00" "must be sent as %2B"
bad "to=2024-03-04T23:00:00+02:00" "or use Z"
bad "from=yesterday" "relative to now"
bad "from=24x" "units s m h d w"
bad "resource_id=pay*" "keyed hashes"
bad "resource_id=payments/inv*" "right after a '/'"
bad "actor=al*" "keyed hashes"
bad "writer=tok*" "keyed hashes"
bad "actor!=" "empty value"
bad "from!=24h" "unknown parameter 'from!'"
bad "outcome!=great" "must be success"
bad "a!=1&b!=1&c!=1" "unknown parameter"
qs="$S"; for i in 1 2 3 4 5 6 7 8 9; do qs="$qs&actor!=x$i"; done
bad "$qs" "more than 8"
check_eq "a '+' sent as %2B is accepted" 200 "$(req GET "/v1/events?from=2024-03-04T23:00:00%2B02:00" "$AUD")"

# The CLI: --not and relative --from, sent as they are.
out=$("$LOGSEAL" query --server "$SRV_URL" --token-file "$TMP/aud.token" --format ndjson --order asc \
	--resource-id 'payments/*' --not actor=alice --not outcome=unknown --from 21d 2>"$TMP/cli.err" | jq -r .index | tr '\n' ' ' | sed 's/ $//')
check_eq "logseal query --resource-id payments/* --not ... --from 21d" \
	"$(model 'resource_id=payments/*&actor!=alice&outcome!=unknown&from=21d')" "$out"
check_fails "logseal query --not without FIELD=VALUE" "$LOGSEAL" query --server "$SRV_URL" --token-file "$TMP/aud.token" --not alice
grep -q "FIELD=VALUE" "$TMP/last.out" && ok "--not says what it wants" || not_ok "--not says what it wants"

# An index of the previous format (no resource id prefixes) is rebuilt.
before=$(filt "resource_id=payments/*")
stop_server; check_eq "stop: exit 0" 0 "$?"
sed -i 's/^logseal index postings 2$/logseal index postings 1/' "$D/index/meta"
check_eq "meta made to look like the previous format" "logseal index postings 1" "$(head -1 "$D/index/meta")"
check "server restarts" start_server "$D"
check_eq "prefix query after the rebuild answers the same" "$before" "$(filt "resource_id=payments/*")"
check_eq "meta is of the current format again" "logseal index postings 2" "$(head -1 "$D/index/meta")"
stop_server; check_eq "stop: exit 0" 0 "$?"
check "reindex offline" "$LOGSEAL" reindex --data "$D"
check "verify (with the postings) after reindex" "$LOGSEAL" verify --data "$D"
done_testing
