#!/bin/bash
# Partial batches (issue 18): a syslog-ng-like batch of 50 with one event
# missing "source" is refused whole by default (400, nothing appended);
# with ?partial=1, or from a writer token made partial, the 49 good events
# are appended and the bad one is listed (position, field, message) and
# recorded as a logseal.ingest.rejected event carrying the writer, the
# error, SHA-256 of the item as sent and a bounded, escaped excerpt.
# Also: NDJSON lines that are not JSON, idempotent retries of a partial
# batch, ?partial=0 over a partial token, a service the token is not bound
# to (403 in both modes), and the Kubernetes webhook, partial by default.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer","name":"syslog-ng"}'); WID=$(cat "$TMP/newtok.id")
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')

# batch OUT BAD [PREFIX]: 50 events as syslog-ng's http() sends them (a JSON
# array, one element per message); element BAD has no "source".  The bad
# element's exact bytes go to OUT.bad.
batch() {
	python3 - "$1" "$2" "${3:-m}" <<'PY'
import json, sys
out, bad, pre = sys.argv[1], int(sys.argv[2]), sys.argv[3]
els = []
for i in range(50):
    e = {"id": "%s-%d" % (pre, i), "time": "2026-12-07T10:00:%02dZ" % (i % 60),
         "actor": {"id": "app%d" % i}, "action": "syslog.message", "outcome": "success",
         "source": {"ip": "10.1.0.%d" % (i + 1)}, "service": "syslog"}
    if i == bad:
        del e["source"]
    els.append(json.dumps(e, separators=(",", ":")))
open(out, "w").write("[" + ",\n ".join(els) + "]\n")
open(out + ".bad", "w").write(els[bad])
PY
}
entry() { curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/v1/events/$1"; }

# --- all-or-nothing stays the default
batch "$TMP/b1.json" 17
before=$(tree_size)
check_eq "default: 400 naming position 17, field source" "400 17 source" \
	"$(req POST /v1/events "$W" $J "$TMP/b1.json") $(jq -r '.error.position, .error.field' "$TMP/resp" | tr '\n' ' ' | sed 's/ $//')"
check_eq "... and nothing appended" "$before" "$(tree_size)"

# --- ?partial=1
check_eq "partial=1: 200" 200 "$(req POST '/v1/events?partial=1' "$W" $J "$TMP/b1.json")"
cp "$TMP/resp" "$TMP/r1"
check_eq "49 appended, one rejected" "49 1" "$(jq -r '"\(.appended) \(.rejected | length)"' "$TMP/r1")"
check_eq "rejected: position, field, code, message" \
	'{"position":17,"field":"source","code":"invalid_event","message":"field source: required"}' \
	"$(jq -c '.rejected[0] | del(.index)' "$TMP/r1")"
check_eq "indexes by position: 50, null at 17, the others consecutive" "50 null 49" \
	"$(jq -r '"\(.indexes | length) \(.indexes[17]) \([.indexes[] | select(. != null)] | (.[-1] - .[0] + 1))"' "$TMP/r1")"
RI=$(jq -r '.rejected[0].index' "$TMP/r1")
check_eq "the tree grew by 50 (49 events and the record of the 50th)" $((before + 50)) "$(tree_size)"
entry "$RI" >"$TMP/rej"
check_eq "the record: service logseal, action logseal.ingest.rejected, outcome failure" \
	"logseal logseal.ingest.rejected failure" \
	"$(jq -r '.entry | "\(.service) \(.action) \(.outcome)"' "$TMP/rej")"
check_eq "... names the writer (actor and details.writer)" "$WID $WID" \
	"$(jq -r '.entry | "\(.actor.id) \(.details.writer)"' "$TMP/rej")"
check_eq "... the error, position and route" "field source: required 17 /v1/events native" \
	"$(jq -r '.entry.details | "\(.error) \(.position) \(.path) \(.format)"' "$TMP/rej")"
check_eq "... SHA-256 and length of the item as sent" \
	"$(sha256sum <"$TMP/b1.json.bad" | cut -d' ' -f1) $(wc -c <"$TMP/b1.json.bad")" \
	"$(jq -r '.entry.details | "\(.sha256) \(.bytes)"' "$TMP/rej")"
check_eq "... and its excerpt (short item: whole, not truncated)" "$(cat "$TMP/b1.json.bad") null" \
	"$(jq -r '.entry.details | "\(.excerpt) \(.excerpt_truncated)"' "$TMP/rej")"
check_eq "a good neighbour is stored as sent" "app18 10.1.0.19" \
	"$(entry "$(jq -r '.indexes[18]' "$TMP/r1")" | jq -r '.entry | "\(.actor.id) \(.source.ip)"')"

# --- the retry of the same batch: accepted ones are duplicates (idem), the
# refused one is refused (and recorded) again
check_eq "retry: 200, nothing appended, 49 duplicates at the same indexes, 1 rejected" \
	"200 0 49 1 true" \
	"$(req POST '/v1/events?partial=1' "$W" $J "$TMP/b1.json") $(jq -r --slurpfile a "$TMP/r1" \
	'"\(.appended) \(.duplicates | length) \(.rejected | length) \([.indexes[] | select(. != null)] == [$a[0].indexes[] | select(. != null)])"' "$TMP/resp")"
check_eq "duplicates name body positions (0, not an index into the accepted)" "0 18" \
	"$(jq -r '[.duplicates[0].position, .duplicates[17].position] | join(" ")' "$TMP/resp")"

# --- NDJSON: a line that is not JSON, a long line with control characters
python3 - "$TMP/n.ndjson" <<'PY'
import json, sys
good = lambda i: json.dumps({"time": "2026-12-07T10:00:00Z", "actor": {"id": "n%d" % i},
    "action": "a.b", "outcome": "success", "source": {"ip": "10.2.0.1"}})
lines = [good(0), "this is not json \x01\x1b[31m", "", good(1),
         '{"time":"2026-12-07T10:00:00Z","actor":{"id":"x"},"action":"a.b","outcome":"maybe",'
         '"source":{"ip":"10.2.0.1"},"details":{"pad":"' + "\u00e9" * 400 + '"}}', good(2)]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
check_eq "NDJSON partial: 200, 3 appended, positions 1 and 3 rejected (blank lines are not items)" \
	"200 3 1,3" \
	"$(req POST '/v1/events?partial=true' "$W" application/x-ndjson "$TMP/n.ndjson") $(jq -r '"\(.appended) \([.rejected[].position] | map(tostring) | join(","))"' "$TMP/resp")"
check "the first names its line" jq -e '.rejected[0].message | startswith("line 2: invalid JSON")' "$TMP/resp"
entry "$(jq -r '.rejected[0].index' "$TMP/resp")" >"$TMP/rej2"
check_eq "its excerpt escapes the control characters" 'this is not json \x01\x1b[31m' \
	"$(jq -r .entry.details.excerpt "$TMP/rej2")"
check_eq "... and its hash is of the line as sent" \
	"$(sed -n 2p "$TMP/n.ndjson" | tr -d '\n' | sha256sum | cut -d' ' -f1)" \
	"$(jq -r .entry.details.sha256 "$TMP/rej2")"
entry "$(jq -r '.rejected[1].index' "$TMP/resp")" >"$TMP/rej3"
check_eq "a long item: excerpt bounded to 256 bytes (whole characters), truncated, outcome named" \
	"true true outcome" \
	"$(jq -r '.entry.details | "\(.excerpt | utf8bytelength <= 256) \(.excerpt_truncated) \(.field)"' "$TMP/rej3")"

# --- a refused item's excerpt carries no secret the event would not have
# (the server's redaction names: "password", "db_token", any depth)
printf '%s' '[{"id":"sec-0","time":"2026-12-07T10:00:00Z","actor":{"id":"a"},"action":"x.y","outcome":"success","source":{"ip":"10.9.0.1"}},{"id":"sec-1","time":"2026-12-07T10:00:00Z","actor":{"id":"a"},"action":"x.y","outcome":"success","details":{"password":"hunter2","deep":{"db_token":"t0p-s3cret"}}}]' >"$TMP/sec.json"
check_eq "partial with a secret in the refused item: 1 appended, 1 rejected" "200 1 1" \
	"$(req POST '/v1/events?partial=1' "$W" $J "$TMP/sec.json") $(jq -r '"\(.appended) \(.rejected | length)"' "$TMP/resp")"
entry "$(jq -r '.rejected[0].index' "$TMP/resp")" >"$TMP/rej-sec"
check_eq "... its record's excerpt has both values redacted, and says how many" "0 0 2" \
	"$(jq -r '.entry.details | "\(.excerpt | test("hunter2") | if . then 1 else 0 end) \(.excerpt | test("t0p-s3cret") | if . then 1 else 0 end) \(.excerpt_redacted)"' "$TMP/rej-sec")"
check_eq "... the hash is still of the item as sent" \
	"$(jq -c '.[1]' "$TMP/sec.json" | tr -d '\n' | sha256sum | cut -d' ' -f1)" \
	"$(jq -r .entry.details.sha256 "$TMP/rej-sec")"

# --- a body that cannot be cut into items is refused whole
printf '[{"a":1},' >"$TMP/open.json"
check_eq "an array that does not close: 400" 400 "$(req POST '/v1/events?partial=1' "$W" $J "$TMP/open.json")"
printf '[]' >"$TMP/empty.json"
check_eq "no events: 400" 400 "$(req POST '/v1/events?partial=1' "$W" $J "$TMP/empty.json")"
printf '[{"x":1}]' >"$TMP/allbad.json"
check_eq "every item refused: still 200, nothing appended but the record" '200 0 [null] 1' \
	"$(req POST '/v1/events?partial=1' "$W" $J "$TMP/allbad.json") $(jq -c '.appended, .indexes, (.rejected | length)' "$TMP/resp" | tr '\n' ' ' | sed 's/ $//')"
check_eq "partial=maybe: 400" 400 "$(req POST '/v1/events?partial=maybe' "$W" $J "$TMP/b1.json")"

# --- a writer token made partial (token create --partial)
"$LOGSEAL" token create --role writer --partial --name shipper --server "$SRV_URL" --data "$D" >"$TMP/pt.json"
check_eq "token create --partial: the token says partial" true "$(jq -r .partial "$TMP/pt.json")"
PW=$(jq -r .token "$TMP/pt.json")
batch "$TMP/b2.json" 0 p
check_eq "partial token, no query: 200, 49 appended, position 0 rejected" "200 49 0" \
	"$(req POST /v1/events "$PW" $J "$TMP/b2.json") $(jq -r '"\(.appended) \(.rejected[0].position)"' "$TMP/resp")"
batch "$TMP/b3.json" 5 q
check_eq "partial token with ?partial=0: all-or-nothing (400)" 400 \
	"$(req POST '/v1/events?partial=0' "$PW" $J "$TMP/b3.json")"
check_eq "GET /v1/tokens shows partial" true \
	"$(req GET /v1/tokens "$ADMIN" >/dev/null; jq -r --arg id "$(jq -r .id "$TMP/pt.json")" '.tokens[] | select(.id == $id) | .partial' "$TMP/resp")"

# --- a service the token is not bound to refuses the request in both modes
BW=$(new_token "$ADMIN" '{"role":"writer","service":"syslog"}')
python3 -c '
import json
e = lambda s: {"time": "2026-12-07T10:00:00Z", "actor": {"id": "u"}, "action": "a.b",
    "outcome": "success", "source": {"ip": "10.3.0.1"}, "service": s}
print(json.dumps([e("syslog"), e("billing")]))' >"$TMP/bound.json"
before=$(tree_size)
check_eq "bound writer, another service, partial=1: 403, nothing appended" "403 forbidden 0" \
	"$(req POST '/v1/events?partial=1' "$BW" $J "$TMP/bound.json") $(jq -r .error.code "$TMP/resp") $(( $(tree_size) - before - 1 ))"

# --- Kubernetes: partial by default; one item without sourceIPs (nor a
# requestURI to name the source by)
python3 - tests/vectors/k8s "$TMP/k8s.json" <<'PY'
import json, os, sys
d = sys.argv[1]
items = [json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))
         if f.endswith(".json") and not f.startswith("malformed")]
bad = dict(items[0]); bad["auditID"] = "no-source-ips"; del bad["sourceIPs"]; bad.pop("requestURI", None)
items.insert(1, bad)
open(sys.argv[2], "w").write(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                                         "metadata": {}, "items": items}, indent=1))
PY
nk=$(jq '.items | length' "$TMP/k8s.json")
check_eq "k8s EventList of $nk with one item without sourceIPs: 200, $((nk - 1)) appended, item 1 rejected" \
	"200 $((nk - 1)) 1" \
	"$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s.json") $(jq -r '"\(.appended) \(.rejected[0].position)"' "$TMP/resp")"
entry "$(jq -r '.rejected[0].index' "$TMP/resp")" >"$TMP/rej4"
check_eq "... recorded with format k8s and the item's own bytes (its auditID in the excerpt)" "k8s 1" \
	"$(jq -r '.entry.details | "\(.format) \(.excerpt | test("no-source-ips") | if . then 1 else 0 end)"' "$TMP/rej4")"
check_eq "... its hash is of the item as sent" \
	"$(python3 -c '
import hashlib, sys
s = open(sys.argv[1], "rb").read()
i = s.index(b"\"items\": [") + len(b"\"items\": [")
# the second element, as the API server wrote it: between its delimiters
depth, start, k, els = 0, None, i, []
instr = esc = False
for j in range(i, len(s)):
    c = s[j:j+1]
    if instr:
        if esc: esc = False
        elif c == b"\\": esc = True
        elif c == b"\"": instr = False
        continue
    if c == b"\"": instr = True
    elif c in b"[{":
        if depth == 0: start = j
        depth += 1
    elif c in b"]}":
        depth -= 1
        if depth == 0: els.append(s[start:j+1])
        if depth < 0: break
print(hashlib.sha256(els[1]).hexdigest())' "$TMP/k8s.json")" \
	"$(jq -r .entry.details.sha256 "$TMP/rej4")"
check_eq "k8s retry: every accepted item a duplicate, the bad one rejected again" "200 0 1" \
	"$(req POST /v1/k8s/audit "$W" $J "$TMP/k8s.json") $(jq -r '"\(.appended) \(.rejected | length)"' "$TMP/resp")"
check_eq "k8s ?partial=0: all-or-nothing (400, position 1)" "400 1" \
	"$(req POST '/v1/k8s/audit?partial=0' "$W" $J "$TMP/k8s.json") $(jq -r .error.position "$TMP/resp")"

metric() { curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# events: 1 (b1) + 1 (its retry) + 2 (NDJSON) + 1 (secret) + 1 (all bad) + 1 (partial token); k8s: 2
check_eq "/metrics counts the refused items by route" "7 2" \
	"$(metric 'logseal_ingest_rejected_total{format="events"}') $(metric 'logseal_ingest_rejected_total{format="k8s"}')"

check "stop" stop_server
check "verify: the log with the rejected records checks" "$LOGSEAL" verify --data "$D"
done_testing
