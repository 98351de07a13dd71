#!/bin/bash
# denial_flood.sh [SECONDS] [CLIENTS]: what a client without a token can make
# the server write.  Starts `logseal serve` (defaults) on a free loopback port
# in a temporary directory, floods GET /v1/events without a token from
# CLIENTS keep-alive connections for SECONDS (default 10, 4), stops the
# server (the open window's summary is written at the stop) and prints
# requests/s, entries/s, the entry bytes appended and the growth of the data
# directory.  LOGSEAL (default build/logseal) and TESTBIN (build/tests, for
# journalcat) name the binaries.
set -eu
SECS=${1:-10}; CLIENTS=${2:-4}
LOGSEAL=${LOGSEAL:-build/logseal}; TESTBIN=${TESTBIN:-build/tests}
T=$(mktemp -d "${TMPDIR:-/tmp}/denial-flood.XXXXXX"); D=$T/data; SP=""
trap '[ -n "$SP" ] && kill -9 "$SP" 2>/dev/null; rm -rf "$T"' EXIT
cat >"$T/flood.py" <<'PY'
import http.client, sys, threading, collections, time
port, secs, clients = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
codes = collections.Counter(); lock = threading.Lock()
def run():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    mine = collections.Counter(); end = time.time() + secs
    while time.time() < end:
        c.request("GET", "/v1/events"); r = c.getresponse(); r.read(); mine[r.status] += 1
    with lock: codes.update(mine)
ts = [threading.Thread(target=run) for _ in range(clients)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sum(codes.values()), " ".join("%d:%d" % kv for kv in sorted(codes.items())))
PY
# free_port, wait_healthz.
. "$(dirname "$0")/lib.sh"
start() {
	P=$(free_port)
	"$LOGSEAL" serve --data "$D" --listen "127.0.0.1:$P" >/dev/null 2>&1 & SP=$!
	wait_healthz "$P" "$SP" 100
}
stop() { kill -TERM "$SP"; wait "$SP" || true; SP=""; }
size() { curl -s "http://127.0.0.1:$P/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])'; }
"$LOGSEAL" init --data "$D" >/dev/null 2>&1
start; stop	# a first start and stop: the data directory's steady size
b0=$(du -sb "$D" | cut -f1); j0=$("$TESTBIN/journalcat" "$D" | wc -c)
start; s0=$(size)
read -r n codes < <(python3 "$T/flood.py" "$P" "$SECS" "$CLIENTS")
s1=$(size); stop
b1=$(du -sb "$D" | cut -f1); j1=$("$TESTBIN/journalcat" "$D" | wc -c)
echo "$SECS s, $CLIENTS clients: $n requests ($((n / SECS))/s; statuses $codes);" \
	"$((s1 - s0)) entries during the flood ($(( (s1 - s0) / SECS ))/s);" \
	"$((j1 - j0)) entry bytes appended (with the stop's summaries); data directory +$((b1 - b0)) bytes"
