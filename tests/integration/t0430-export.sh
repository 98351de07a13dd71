#!/bin/bash
# GET /v1/export end to end: a bundle of a filter verifies offline with
# `logseal verify-bundle FILE --key verifier.key`; editing one entry byte,
# dropping a line, swapping two lines, or re-signing the manifest with
# another log's key makes it fail naming the line; a multi-page export
# (> 1000 entries) is complete and in order; entries appended just before
# the export are in it; CSV has the documented header and RFC 4180
# quoting; ECS and OCSF are JSON lines, one per entry; the export's audit
# event states the number of entries the manifest states.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D" --origin export.test/log
check "server starts" start_server "$D" --checkpoint-interval 200
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
K=$D/verifier.key

python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
evs = [{"id": "x-%d" % i, "time": "2024-02-%02dT10:00:00Z" % (1 + i % 28),
        "actor": {"id": ["alice", "bob"][i % 2], "type": "user", "name": "Al \"the\" ice" if i % 2 == 0 else "Bob"},
        "action": ["doc.read", "doc.delete", "user.login"][i % 3],
        "outcome": ["success", "denied"][i % 2], "source": {"ip": "10.0.%d.1" % (i % 3)},
        "service": "files", "resource": {"type": "doc", "id": "d%d" % i},
        "reason": "line one,\nline \"two\"" if i % 5 == 0 else "ok",
        "details": {"i": i, "note": "\u00e9t\u00e9, \u2603"}} for i in range(60)]
json.dump(evs, open(tmp + "/events.json", "w"))
bulk = [{"id": "bulk-%d" % i, "time": "2024-03-01T00:00:00Z", "actor": {"id": "loader"},
         "action": "bulk.write", "outcome": "success", "source": {"ip": "10.9.0.1"}, "service": "bulk"}
        for i in range(2500)]
for k in range(5):
    json.dump(bulk[k * 500:(k + 1) * 500], open(tmp + "/bulk%d.json" % k, "w"))
PY
check_eq "60 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/events.json")"
for k in 0 1 2 3 4; do req POST /v1/events "$W" $J "$TMP/bulk$k.json" >/dev/null; done
check_eq "2500 bulk events" 2500 "$(req GET '/v1/events/stats?service=bulk' "$AUD" >/dev/null; jq .total "$TMP/resp")"
# One more, exported at once: the export forces a checkpoint that covers it.
printf '{"id":"fresh","time":"2024-02-10T10:00:00Z","actor":{"id":"alice"},"action":"doc.read","outcome":"denied","source":{"ip":"10.0.0.1"},"service":"files"}' >"$TMP/fresh.json"
req POST /v1/events "$W" $J "$TMP/fresh.json" >/dev/null; fresh=$(jq '.indexes[0]' "$TMP/resp")

exp() { curl -s -D "$TMP/exp.h" -o "$2" -w '%{http_code}' -H "Authorization: Bearer $AUD" "$SRV_URL/v1/export?$1"; }
B=$TMP/denied.ndjson
check_eq "export outcome=denied&service=files: 200" 200 "$(exp 'service=files&outcome=denied' "$B")"
check_eq "content type NDJSON" 1 "$(grep -ci '^Content-Type: application/x-ndjson' "$TMP/exp.h")"
check_eq "served as an attachment" 1 "$(grep -ci '^Content-Disposition: attachment; filename="logseal-export-[0-9]*\.bundle\.ndjson"' "$TMP/exp.h")"
check "verify-bundle passes" "$LOGSEAL" verify-bundle "$B" --key "$K"
nlines=$(wc -l <"$B")
check_eq "header + 31 entries + manifest" 33 "$nlines"
check_eq "the entry appended just before is in it" 1 "$(grep -c "\"index\":$fresh," "$B")"
check_eq "entries in increasing index order" true "$(sed '1d;$d' "$B" | jq -s '[.[].index] | . == sort and (unique | length) == length')"
check_eq "each entry is one we sent with outcome denied" true "$(sed '1d;$d' "$B" | jq -s 'all(.[]; (.entry | @base64d | fromjson | .outcome == "denied" and .service == "files"))')"
check_eq "manifest states 31 entries" 1 "$(tail -1 "$B" | jq -r .manifest | grep -c '^entries 31$')"
req GET '/v1/events?service=logseal&action=logseal.export&limit=1' "$AUD" >/dev/null
check_eq "the export's audit event states 31 results, the filter and the format" '31 {"outcome":"denied","service":"files"} bundle' \
	"$(jq -r '.events[0].entry.details | "\(.results) \(.filter|tojson) \(.format)"' "$TMP/resp")"

# ---------------------------------------------------------------- tampering
vb() { "$LOGSEAL" verify-bundle "$1" --key "$K"; }
fails_at() {	# fails_at LABEL FILE LINE: verify-bundle fails and names that line
	if vb "$2" >"$TMP/vb.out" 2>&1; then not_ok "$1 (passed)"; return; fi
	ok "$1 fails"
	grep -q "line $3\b" "$TMP/vb.out" && ok "$1: names line $3" || { not_ok "$1: names line $3"; sed 's/^/#   /' "$TMP/vb.out"; }
}
# one byte of entry 3 (file line 4) changed
python3 - "$B" "$TMP/t1" <<'PY'
import base64, json, sys
lines = open(sys.argv[1]).read().split("\n")
o = json.loads(lines[3]); e = bytearray(base64.b64decode(o["entry"]))
e[e.index(b"denied")] = ord("D"); o["entry"] = base64.b64encode(bytes(e)).decode()
lines[3] = json.dumps(o, separators=(",", ":"))
open(sys.argv[2], "w").write("\n".join(lines))
PY
fails_at "one entry byte edited" "$TMP/t1" 4
sed '5d' "$B" >"$TMP/t2"
check_fails "a dropped entry line fails" vb "$TMP/t2"
grep -q "line [0-9]" "$TMP/last.out" && ok "... naming a line" || not_ok "... naming a line"
awk 'NR==4{l4=$0; next} NR==5{print; print l4; next} {print}' "$B" >"$TMP/t3"
fails_at "two entry lines swapped" "$TMP/t3" 5
sed '1d' "$B" >"$TMP/t4"
fails_at "header dropped" "$TMP/t4" 1
sed '$d' "$B" >"$TMP/t5"
check_fails "manifest dropped (a cut export) fails" vb "$TMP/t5"
# Another log with the same origin name: its key re-signs our manifest.
check "a second log (same origin)" "$LOGSEAL" init --data "$TMP/other" --origin export.test/log
python3 - "$B" "$TMP/other/keys/log.key" "$TMP/t6" <<'PY'
import base64, hashlib, json, subprocess, sys, tempfile
lines = open(sys.argv[1]).read().rstrip("\n").split("\n")
skey = open(sys.argv[2]).read().strip()
_, _, name, keyid, b = skey.split("+", 4)
seed = base64.b64decode(b)[1:]
text = json.loads(lines[-1])["manifest"].split("\n\n")[0] + "\n"
with tempfile.TemporaryDirectory() as d:
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    open(d + "/k.pem", "w").write("-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % base64.b64encode(der).decode())
    open(d + "/m", "wb").write(text.encode())
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", d + "/k.pem", "-rawin", "-in", d + "/m"],
                         capture_output=True, check=True).stdout
note = text + "\n\u2014 %s %s\n" % (name, base64.b64encode(bytes.fromhex(keyid) + sig).decode())
lines[-1] = json.dumps({"manifest": note}, separators=(",", ":"), ensure_ascii=False)
open(sys.argv[3], "w").write("\n".join(lines) + "\n")
PY
fails_at "manifest re-signed with another log's key" "$TMP/t6" "$nlines"
check_fails "the bundle does not verify with the other log's key" "$LOGSEAL" verify-bundle "$B" --key "$TMP/other/verifier.key"

# ---------------------------------------------------------------- many pages
check_eq "export of 2500 entries: 200" 200 "$(exp 'service=bulk' "$TMP/bulk.ndjson")"
check "verify-bundle passes (3 index pages)" "$LOGSEAL" verify-bundle "$TMP/bulk.ndjson" --key "$K"
check_eq "2500 entries, each once, in order" "2500 true" "$(sed '1d;$d' "$TMP/bulk.ndjson" | jq -s '"\(length) \([.[].index] | . == sort and (unique|length) == 2500)"' -r)"
check_eq "empty result: header and manifest only" 200 "$(exp 'service=nothing-here' "$TMP/empty.ndjson")"
check_eq "... 2 lines" 2 "$(wc -l <"$TMP/empty.ndjson")"
check "... and it verifies" "$LOGSEAL" verify-bundle "$TMP/empty.ndjson" --key "$K"

# ---------------------------------------------------------------- CSV, ECS, OCSF
check_eq "CSV: 200" 200 "$(exp 'service=files&format=csv' "$TMP/x.csv")"
check_eq "CSV content type" 1 "$(grep -ci '^Content-Type: text/csv; charset=utf-8' "$TMP/exp.h")"
check_eq "CSV file name" 1 "$(grep -ci 'filename="logseal-export-[0-9]*\.csv"' "$TMP/exp.h")"
check_eq "CSV header (docs/API.md)" \
	"index,time,received,service,actor_id,actor_type,action,outcome,source_ip,source_endpoint,resource_type,resource_id,writer,request_id,reason,details,leaf_hash" \
	"$(head -1 "$TMP/x.csv" | tr -d '\r')"
check "CSV: RFC 4180 (CRLF, quoted fields) and the fields of every event" python3 - "$TMP/x.csv" "$TMP/events.json" <<'PY'
import csv, json, sys
raw = open(sys.argv[1], newline="").read()
assert raw.endswith("\r\n"), "records end in CRLF"
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8"), strict=True))
head, rows = rows[0], rows[1:]
sent = json.load(open(sys.argv[2]))
by_id = {("d%d" % i): e for i, e in enumerate(sent)}
assert len(rows) == 61, len(rows)          # 60 + the "fresh" one
seen = 0
for r in rows:
    assert len(r) == len(head), r
    d = dict(zip(head, r))
    e = by_id.get(d["resource_id"])
    if e is None: continue
    seen += 1
    assert d["reason"] == e["reason"], (d["reason"], e["reason"])
    assert d["actor_id"] == e["actor"]["id"] and d["action"] == e["action"]
    assert json.loads(d["details"]) == e["details"]
    assert len(d["leaf_hash"]) == 64
assert seen == 60
PY
check_eq "ECS: 200" 200 "$(exp 'service=files&format=ecs' "$TMP/x.ecs")"
check "ECS: one JSON object per line, one line per entry" python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 61, len(lines)
for l in lines:
    o = json.loads(l); assert isinstance(o, dict) and "@timestamp" in o
    if "event" in o and "action" in o["event"]:
        assert o["event"]["category"] == (["authentication"] if o["event"]["action"] == "user.login" else ["api"]), o' "$TMP/x.ecs"
check_eq "OCSF: 200" 200 "$(exp 'service=files&format=ocsf&order=asc' "$TMP/x.ocsf")"
check "OCSF: JSON lines, one per entry: Authentication (3002, Logon) for user.login, else API Activity (6003)" python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 61, len(lines)
n = 0
for l in lines:
    o = json.loads(l)
    if o.get("unmapped", {}).get("logseal", {}).get("index") is None: continue
    login = o["api"]["operation"] == "user.login" if "api" in o else o["activity_id"] == 1
    want = (3002, 1, 300201) if login else (6003, o["activity_id"], 600300 + o["activity_id"])
    assert (o["class_uid"], o["activity_id"], o["type_uid"]) == want, o
    n += login
assert n == 20, n' "$TMP/x.ocsf"

# ---------------------------------------------------------------- parameters
for qs in "format=xml" "limit=10" "cursor=abc" "order=desc" "format=csv&format=ecs" "bogus=1" "from=never"; do
	check_eq "export?$qs: 400" 400 "$(exp "$qs" "$TMP/bad")"
done
check_eq "writer may not export: 403" 403 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $W" "$SRV_URL/v1/export")"

stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
