#!/bin/bash
# Crash under HTTP load: four clients post batches and record every 2xx
# (ids and indexes); the server is SIGKILLed mid-load; after a restart every
# acknowledged event is still there at the index it was given (re-posting
# it must come back as a duplicate with that index), and verify passes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
ROUNDS=${SERVE_CRASH_ROUNDS:-3}
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --checkpoint-interval 50
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
cat >"$TMP/load.py" <<'PY'
import json, sys, threading, urllib.request
url, tok, tag, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()
acks = open(out, "a")
def client(c):
    n = 0
    while True:
        evs = [{"id": "%s-%d-%d-%d" % (tag, c, n, i), "time": "2024-01-01T00:00:00Z",
                "actor": {"id": "load"}, "action": "load.test", "outcome": "success",
                "source": {"ip": "10.9.9.9"}} for i in range(1 + n % 50)]
        n += 1
        body = "\n".join(json.dumps(e) for e in evs).encode()
        rq = urllib.request.Request(url + "/v1/events", body, method="POST", headers={
            "Authorization": "Bearer " + tok, "Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(rq, timeout=10) as r:
                rep = json.load(r)
        except Exception:
            return
        with lock:
            for e, i in zip(evs, rep["indexes"]):
                acks.write("%s %d\n" % (json.dumps(e), i))
            acks.flush()
ts = [threading.Thread(target=client, args=(c,)) for c in range(4)]
for t in ts: t.start()
for t in ts: t.join()
PY
for r in $(seq 1 "$ROUNDS"); do
	python3 "$TMP/load.py" "$SRV_URL" "$W" "r$r" "$TMP/acks" &
	load=$!
	# Kill mid-load, not before the clients are up (python can take
	# seconds to start on a loaded machine): wait for a first ack (<= 30 s).
	lines=$(cat "$TMP/acks" 2>/dev/null | wc -l)
	for _ in $(seq 1 300); do
		[ "$(cat "$TMP/acks" 2>/dev/null | wc -l)" -gt "$lines" ] && break
		sleep 0.1
	done
	sleep "0.$((3 + RANDOM % 5))"
	kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
	wait "$load"
	check "round $r: server restarts after SIGKILL" start_server "$D" --checkpoint-interval 50
done
n=$(wc -l <"$TMP/acks")
[ "$n" -gt 0 ] && ok "clients got $n acknowledgements" || not_ok "clients got acknowledgements"
# Re-post every acknowledged event, in batches: each must be a duplicate with its index.
python3 - "$SRV_URL" "$W" "$TMP/acks" >"$TMP/recheck.out" <<'PY'
import json, sys, urllib.request
url, tok, path = sys.argv[1:4]
rows = [l.rsplit(" ", 1) for l in open(path)]
bad = 0
for k in range(0, len(rows), 500):
    chunk = rows[k:k + 500]
    body = "\n".join(e for e, _ in chunk).encode()
    rq = urllib.request.Request(url + "/v1/events", body, method="POST", headers={
        "Authorization": "Bearer " + tok, "Content-Type": "application/x-ndjson"})
    rep = json.load(urllib.request.urlopen(rq, timeout=30))
    if rep["appended"] != 0:
        bad += rep["appended"]
    for (e, i), got in zip(chunk, rep["indexes"]):
        if int(i) != got:
            bad += 1
print(bad)
PY
check_eq "every acknowledged event is in the log at its index" 0 "$(cat "$TMP/recheck.out")"
stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
