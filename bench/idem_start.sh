#!/bin/bash
# Start-up time of `logseal serve` over a log of N keyed events (idempotency
# map: snapshot vs. reading the journal).  Loopback only, bounded.
#
#	bench/idem_start.sh [N] [OLD_LOGSEAL]
#
# Fills a fresh data directory (encrypted, the default) with N events that
# each carry an id, stops the server cleanly, then times three starts until
# /healthz answers: with DIR/state/idem.snap, without it (the journal is
# read, as before the snapshot existed) and, when OLD_LOGSEAL is given, with
# that binary.  --no-alerts everywhere: the alert engine's own catch-up is
# not what is measured.
set -eu
N=${1:-1000000}
OLD=${2:-}
LOGSEAL=${LOGSEAL:-$(dirname "$0")/../build/logseal}
T=$(mktemp -d "${TMPDIR:-/tmp}/idem-start.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"' EXIT
# free_port.
. "$(dirname "$0")/lib.sh"

# start BINARY: starts on a free port; $SECS: seconds until /healthz answered
start() {
	local p t0 t1
	p=$(free_port)
	t0=$(date +%s.%N)
	"$1" serve --data "$T/d" --listen 127.0.0.1:$p --no-alerts >"$T/out" 2>"$T/err" &
	PID=$!
	for _ in $(seq 1 6000); do
		curl -s -o /dev/null "http://127.0.0.1:$p/healthz" && break
		kill -0 $PID 2>/dev/null || { cat "$T/err" >&2; exit 1; }
		sleep 0.01
	done
	t1=$(date +%s.%N)
	PORT=$p
	SECS=$(python3 -c "print('%.2f' % ($t1 - $t0))")
}
stop() { kill -TERM $PID; wait $PID || true; PID=""; }

"$LOGSEAL" init --data "$T/d" >/dev/null
start "$LOGSEAL"
W=$(curl -s -H "Authorization: Bearer $(cat "$T/d/admin.token")" -H 'Content-Type: application/json' \
	-d '{"role":"writer","name":"bench"}' "http://127.0.0.1:$PORT/v1/tokens" | jq -r .token)
python3 - "$PORT" "$W" "$N" <<'PY'
import http.client, json, sys, time
port, tok, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
hdr = {"Authorization": "Bearer " + tok, "Content-Type": "application/x-ndjson"}
head = '{"time":"2024-05-06T07:08:09Z","actor":{"id":"bob","type":"user"},"action":"doc.read","outcome":"success","source":{"ip":"192.0.2.7"},"id":"'
t0, i, B = time.time(), 0, 5000
while i < n:
    k = min(B, n - i)
    body = "".join('%sbench-%09d"}\n' % (head, j) for j in range(i, i + k))
    for _ in range(50):
        c.request("POST", "/v1/events", body, hdr)
        r = c.getresponse(); data = r.read()
        if r.status == 200: break
        time.sleep(0.2)
    else:
        sys.exit("POST failed: %d %s" % (r.status, data[:200]))
    i += k
print("# loaded %d keyed events in %.1f s" % (n, time.time() - t0), file=sys.stderr)
PY
stop
start "$LOGSEAL"
echo "start with the snapshot:   $SECS s  [$(grep 'idempotency keys:' "$T/out")]"
stop
ls -l "$T/d/state/idem.snap" | awk '{print "snapshot file: " $5 " bytes"}'
mv "$T/d/state/idem.snap" "$T/idem.snap.saved"
start "$LOGSEAL"
echo "start reading the journal: $SECS s  [$(grep 'idempotency keys:' "$T/out")]"
stop
if [ -n "$OLD" ]; then
	rm -f "$T/d/state/idem.snap"
	start "$OLD"
	echo "start, $OLD: $SECS s  [$(grep -i 'idempotency' "$T/out" | tr '\n' ' ')]"
	stop
fi
