#!/bin/bash
# GET /v1/stream: Server-Sent Events of new entries.  Live entries arrive in
# order with id = leaf index; the query filters apply; Last-Event-ID (and
# ?since=) resume exactly after the last entry seen, with no gap and no
# duplicate; keepalive comments flow; a client that stops reading is marked
# too slow while ingest goes on at full speed, gets "event: overflow" with
# the index to resume from, and resuming from there misses nothing; the
# number of streams is capped (429); opening one is an audited read.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --stream-buffer 60 --stream-heartbeat 1 --max-streams 4
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor","name":"streamer"}'); AUD_ID=$(cat "$TMP/newtok.id")

# batch FILE N PREFIX: N events, actions alternating doc.read / doc.write,
# ids PREFIX-i (none with PREFIX "": the batch can be sent again).
batch() {
	python3 -c '
import json, sys
n, p = int(sys.argv[1]), sys.argv[2]
print(json.dumps([dict(({"id": "%s-%d" % (p, i)} if p else {}), **{"time": "2024-01-01T00:00:00Z", "actor": {"id": "alice"},
  "action": "doc.write" if i % 2 else "doc.read", "outcome": "success",
  "source": {"ip": "10.0.0.%d" % (i % 200 + 1)}, "details": {"pad": "x" * 200}}) for i in range(n)]))' "$2" "$3" >"$1"
}
# stream NAME [CURL ARGS...] PATH-AND-QUERY: start a stream in the background
# (pid in $SPID), wait for its first comment.
stream() {
	local name=$1; shift
	local last=$#
	curl -sN --max-time 60 -H "Authorization: Bearer $AUD" "${@:1:$((last - 1))}" \
		"$SRV_URL${!last}" >"$TMP/$name" 2>/dev/null &
	SPID=$!
	SERVER_PIDS="$SERVER_PIDS $SPID"
	for _ in $(seq 1 50); do
		grep -q '^: logseal live stream' "$TMP/$name" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# ids FILE: the ids of the entry events, one per line.
ids() { awk '/^id: /{id=$2} /^event: entry$/{print id}' "$1"; }
# wait_ids FILE N: until FILE holds N entry events (<= 10 s).
wait_ids() {
	for _ in $(seq 1 100); do
		[ "$(ids "$1" | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
metric() { curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# ---- live entries, filters
stream all "/v1/stream"; P_ALL=$SPID
stream writes "/v1/stream?action=doc.write&source_ip=10.0.0.0/24"; P_W=$SPID
check "two streams opened" test -s "$TMP/writes"
check_eq "2 stream clients in the metrics" 2 "$(metric logseal_stream_clients)"
batch "$TMP/b1.json" 20 live
check_eq "20 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/b1.json")"
jq -r '.indexes[]' "$TMP/resp" >"$TMP/b1.idx"
check "the unfiltered stream gets all 20" wait_ids "$TMP/all" 20
check_eq "... in leaf order, ids = the indexes the writer got" "$(cat "$TMP/b1.idx")" \
	"$(ids "$TMP/all" | grep -Fxf "$TMP/b1.idx")"
check_eq "... each data line is the stored entry of that index" "live-0 doc.read" \
	"$(awk -v i="$(head -1 "$TMP/b1.idx")" '/^id: /{id=$2} /^data: /{if (id == i) print substr($0, 7)}' "$TMP/all" | jq -r '"\(.id) \(.action)"')"
check "the filtered stream gets the 10 doc.write" wait_ids "$TMP/writes" 10
sleep 0.3
check_eq "... and only them" "10 doc.write" \
	"$(grep '^data: ' "$TMP/writes" | cut -c7- | jq -r .action | sort | uniq -c | awk '{print $1, $2}')"
check_eq "... with their own indexes" "$(sed -n '2~2p' "$TMP/b1.idx")" "$(ids "$TMP/writes")"
sleep 1.5
check "keepalive comments after 1 s of silence (--stream-heartbeat 1)" grep -q '^: keepalive' "$TMP/writes"
check_eq "content type text/event-stream" "text/event-stream; charset=utf-8" \
	"$(curl -s -o /dev/null -D - --max-time 1 -H "Authorization: Bearer $AUD" "$SRV_URL/v1/stream" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-type" {print $2}')"
kill "$P_ALL" "$P_W" 2>/dev/null; wait "$P_ALL" "$P_W" 2>/dev/null

# ---- resume: exactly the missing ones
batch "$TMP/b2.json" 30 gap
check_eq "30 more events while nobody listens" 200 "$(req POST /v1/events "$W" $J "$TMP/b2.json")"
LAST_SEEN=$(sed -n 5p "$TMP/b1.idx")
SIZE=$(tree_size)
curl -sN --max-time 2 -H "Authorization: Bearer $AUD" -H "Last-Event-ID: $LAST_SEEN" \
	"$SRV_URL/v1/stream" >"$TMP/resume" 2>/dev/null
got=$(ids "$TMP/resume")
check_eq "Last-Event-ID $LAST_SEEN: ids run from $((LAST_SEEN + 1)) with no gap or duplicate up to the size" \
	"$(seq $((LAST_SEEN + 1)) "$SIZE")" "$(printf '%s\n' "$got" | head -n $((SIZE - LAST_SEEN)))"
check_eq "... every id once" "$(printf '%s\n' "$got" | sort -n | uniq | wc -l)" "$(printf '%s\n' "$got" | wc -l)"
check_eq "... the last entry is this stream's own audit event" "logseal.stream.open $((LAST_SEEN + 1))" \
	"$(awk -v i="$SIZE" '/^id: /{id=$2} /^data: /{if (id == i) print substr($0, 7)}' "$TMP/resume" | jq -r '"\(.action) \(.details.start)"')"
curl -sN --max-time 2 -H "Authorization: Bearer $AUD" "$SRV_URL/v1/stream?since=3&action=doc.write" >"$TMP/since" 2>/dev/null
check_eq "since=3 with a filter: every doc.write from index 3 on" \
	"$(jq -r '.[] | select(.action == "doc.write") | .id' "$TMP/b1.json" "$TMP/b2.json" | wc -l)" \
	"$(grep -c '^event: entry$' "$TMP/since")"
check_eq "... the first one is index 3 or later" 1 "$(ids "$TMP/since" | head -1 | awk '{print ($1 >= 3)}')"
curl -sN --max-time 2 -H "Authorization: Bearer $AUD" -H "Last-Event-ID: 9" "$SRV_URL/v1/stream?since=0" >"$TMP/both" 2>/dev/null
check_eq "Last-Event-ID wins over since (a reconnecting EventSource keeps its URL)" 10 "$(ids "$TMP/both" | head -1)"

# ---- bad requests and roles
check_eq "order= is refused" 400 "$(req GET '/v1/stream?order=asc' "$AUD")"
check_eq "unknown filter is refused" 400 "$(req GET '/v1/stream?colour=red' "$AUD")"
check_eq "bad Last-Event-ID" 400 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Authorization: Bearer $AUD" -H 'Last-Event-ID: x1' "$SRV_URL/v1/stream")"
check_eq "since beyond the log" 400 "$(req GET '/v1/stream?since=999999' "$AUD")"
check_eq "no token: 401" 401 "$(req GET /v1/stream '')"
check_eq "writer token: 403" 403 "$(req GET /v1/stream "$W")"

# ---- the cap: --max-streams 4
PIDS=""
for i in 1 2 3 4; do stream "cap$i" "/v1/stream"; PIDS="$PIDS $SPID"; done
check_eq "a fifth stream: 429 with Retry-After" "429 too_many_streams" \
	"$(req GET /v1/stream "$AUD"; echo " $(jq -r .error.code "$TMP/resp")")"
kill $PIDS 2>/dev/null; wait $PIDS 2>/dev/null
# A suspended connection notices its client left at the next keepalive.
gone() { for _ in $(seq 1 50); do [ "$(metric logseal_stream_clients)" = 0 ] && return 0; sleep 0.1; done; return 1; }
check "closed streams are gone within a keepalive interval" gone

# ---- the audit trail
req GET "/v1/events?service=logseal&action=logseal.stream.open&actor=$AUD_ID&limit=1000" "$AUD" >/dev/null
n_open=$(jq '.events | length' "$TMP/resp")
check "every stream opened is in the log as logseal.stream.open (>= 10: $n_open)" test "$n_open" -ge 10
check_eq "... with its filter and start" '{"action":"doc.write","since":3}' \
	"$(jq -c '[.events[].entry.details | select(.filter.action == "doc.write" and .start == 3)][0] | {action: .filter.action, since: .start}' "$TMP/resp")"

# ---- a client that stops reading
cat >"$TMP/slow.py" <<'EOF'
# Connect with a tiny receive buffer, send the request, read nothing until
# the go file appears, then read everything until EOF (<= 20 s).
import os, socket, sys, time
port, token, go, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.sendall(("GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % token).encode())
open(out + ".connected", "w").close()
end = time.time() + 40
while not os.path.exists(go) and time.time() < end:
    time.sleep(0.05)
s.settimeout(5)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except socket.timeout:
    data += b"\n#TIMEOUT\n"
open(out, "wb").write(data)
EOF
python3 "$TMP/slow.py" "$SRV_PORT" "$AUD" "$TMP/go" "$TMP/slow.out" &
SLOW=$!
SERVER_PIDS="$SERVER_PIDS $SLOW"
for _ in $(seq 1 50); do [ -e "$TMP/slow.out.connected" ] && break; sleep 0.1; done
sleep 0.3
batch "$TMP/b3.json" 20 ""
t0=$(date +%s%N); ok_all=1; n=0
# Batches of 20 (below the lag limit of 60, so any client that reads keeps
# up) until the server has marked the reader too slow.
while [ "$n" -lt 600 ]; do
	c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $W" -H "Content-Type: $J" \
		--data-binary @"$TMP/b3.json" "$SRV_URL/v1/events?format=native")
	[ "$c" = 200 ] || ok_all=0
	n=$((n + 1))
	[ $((n % 10)) -eq 0 ] && [ "$(metric logseal_stream_overflows_total)" -ge 1 ] && break
done
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
echo "# $n batches of 20 in $ms ms while a client did not read"
check_eq "every batch was acknowledged while the client did not read" 1 "$ok_all"
check "the server marked the client too slow (overflow counted)" test "$(metric logseal_stream_overflows_total)" -ge 1
# A blocked ingest would wait for the reader without end (its heartbeat is
# seconds away); the bound is loose so that a busy machine does not trip it.
check "ingest did not wait for it (< 250 ms per batch on average)" test "$ms" -lt $((n * 250))
touch "$TMP/go"
wait "$SLOW"
check "the slow client then reads an overflow event and the end of the stream" \
	grep -q '^event: overflow' "$TMP/slow.out"
check_fails "... and the server closes the connection (not a timeout)" grep -q '#TIMEOUT' "$TMP/slow.out"
tr -d '\r' <"$TMP/slow.out" | awk '/^id: /{id=$2} /^event: entry$/{print id}' >"$TMP/slow.ids"
RESUME=$(tr -d '\r' <"$TMP/slow.out" | awk '/^event: overflow/{getline; print}' | sed 's/^data: //' | jq -r .resume_from)
FIRST=$(head -1 "$TMP/slow.ids"); LASTID=$(tail -1 "$TMP/slow.ids")
check_eq "the entries before it have no gap, and resume_from is the next one" \
	"$(seq "$FIRST" "$LASTID" | tr '\n' ' ') $((LASTID + 1))" "$(tr '\n' ' ' <"$TMP/slow.ids") $RESUME"
check_eq "... the overflow event's id is resume_from - 1 (EventSource resumes there)" "$((RESUME - 1))" \
	"$(tr -d '\r' <"$TMP/slow.out" | grep -B1 '^event: overflow' | awk '/^id: /{print $2}')"
curl -sN --max-time 2 -H "Authorization: Bearer $AUD" -H "Last-Event-ID: $((RESUME - 1))" \
	"$SRV_URL/v1/stream?action=doc.*" >"$TMP/after" 2>/dev/null
check_eq "resuming from there gets the next entry first" "$RESUME" "$(ids "$TMP/after" | head -1)"
check "no stream is left open" gone
check "the server stops with no stream left suspended" stop_server
done_testing
