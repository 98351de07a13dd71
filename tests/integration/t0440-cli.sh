#!/bin/bash
# The command-line clients against the real server: `logseal send` streams
# NDJSON in batches and gives events without an id a run-stable one, so a
# batch whose reply was lost (a proxy forwards it, then drops the reply) is
# retried without being appended twice, a 503 with Retry-After is waited
# out, a bad event stops the run naming its input line, and --run-id
# finishes a run again without duplicates; `logseal query` maps flags to
# the filters, prints NDJSON when piped, a table cut to the width, and
# follows cursors with --all; `logseal export` writes FILE (never a
# partial one), verifies a bundle with --verify, and writes CSV.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin cli.test/log
check "server starts" start_server "$D"
ADMIN=$(cat "$D/admin.token")
new_token "$ADMIN" '{"role":"writer"}' >"$TMP/w.tok"
WRITER_ID=$(cat "$TMP/newtok.id")
new_token "$ADMIN" '{"role":"auditor"}' >"$TMP/a.tok"
WT=$TMP/w.tok; AT=$TMP/a.tok
unset LOGSEAL_URL LOGSEAL_TOKEN
S=(--server "$SRV_URL")

for c in send query export; do
	check "$c --help exits 0" "$LOGSEAL" "$c" --help
	check_eq "$c --help prints the usage" 1 "$(grep -c "^usage: logseal $c" "$TMP/last.out")"
done
check_fails "send: unknown option fails" "$LOGSEAL" send --bogus
check_fails "export: --output is required" "$LOGSEAL" export "${S[@]}" --token-file "$AT"

# 38 events without ids (3 of them identical: repeats that must all be kept),
# with blank lines in between; and the expected answers of some filters.
python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
lines, evs = [], []
for i in range(35):
    e = {"time": "2024-05-%02dT10:00:00Z" % (1 + i % 28), "service": "cli",
         "actor": {"id": ["alice", "bob", "carol"][i % 3], "type": "user"},
         "action": ["doc.read", "doc.write", "user.login"][i % 3 if i % 2 else 0],
         "outcome": ["success", "denied"][i % 2],
         "source": {"ip": "10.%d.0.%d" % (i % 2, i + 1)},
         "resource": {"type": "doc", "id": "d%d" % i}, "details": {"i": i}}
    evs.append(e)
    lines.append(json.dumps(e, separators=(",", ":")))
    if i % 10 == 4:
        lines.append("")
        lines.append("   ")
rep = {"time": "2024-06-01T00:00:00Z", "service": "cli", "actor": {"id": "dave"},
       "action": "door.open", "outcome": "success", "source": {"ip": "192.0.2.1"}}
for _ in range(3):
    evs.append(rep)
    lines.append(json.dumps(rep))
open(tmp + "/events.ndjson", "w").write("\n".join(lines) + "\n")
n = lambda f: sum(1 for e in evs if f(e))
open(tmp + "/expect", "w").write(" ".join(str(x) for x in [
    len(evs),
    n(lambda e: e["actor"]["id"] == "alice"),
    n(lambda e: e["action"].startswith("doc.") and e["source"]["ip"].startswith("10.1.")),
    n(lambda e: e["outcome"] == "denied" and e["actor"]["id"] == "bob"),
]))
def batch(name, service, k):
    with open(tmp + "/" + name, "w") as f:
        for i in range(k):
            f.write(json.dumps({"time": "2024-07-01T00:00:%02dZ" % i, "service": service,
                                "actor": {"id": "u%d" % i}, "action": "x.y", "outcome": "success",
                                "source": {"ip": "198.51.100.%d" % (i + 1)}}) + "\n")
batch("retry.ndjson", "retry", 20)
batch("busy.ndjson", "busy", 4)
PY
read -r N_ALL N_ALICE N_DOC_NET N_BOB_DENIED <"$TMP/expect"
check_eq "generated 38 events" 38 "$N_ALL"
stats() { req GET "/v1/events/stats?service=$1" "$(cat "$AT")" >/dev/null; jq .total "$TMP/resp"; }

# ---------------------------------------------------------------- send
check "send 38 events in batches of 10" "$LOGSEAL" send "${S[@]}" --token-file "$WT" --batch 10 "$TMP/events.ndjson"
cp "$TMP/last.out" "$TMP/send1.out"
check_eq "summary: 38 sent in 4 batches, 38 appended, no duplicates" 1 \
	"$(grep -c 'done: 38 events sent in 4 batches: 38 appended, 0 duplicates, last index' "$TMP/send1.out")"
check_eq "the log holds the 38 events" 38 "$(stats cli)"
check_eq "the 3 identical events are all kept" 3 "$(req GET '/v1/events?actor=dave' "$(cat "$AT")" >/dev/null; jq '.events|length' "$TMP/resp")"
check_eq "ids are send-<run id>-<input line>" true \
	"$(jq '[.events[].entry.id | test("^send-[0-9a-f]{32}-[0-9]+$")] | all' "$TMP/resp")"
RUN=$(sed -n 's/.*(run id \([0-9a-f]*\)).*/\1/p' "$TMP/send1.out")
check_eq "the run id is printed" 32 "${#RUN}"
check "send the same input again with --run-id (stdin)" "$LOGSEAL" send "${S[@]}" --token-file "$WT" --run-id "$RUN" <"$TMP/events.ndjson"
check_eq "... all 38 reported as duplicates" 1 "$(grep -c '38 events sent in 1 batch: 0 appended, 38 duplicates' "$TMP/last.out")"
check_eq "... and nothing appended" 38 "$(stats cli)"

# A bad event: input line 7 (after a blank one); batches of 3: the first
# batch (lines 1-3) is in, the one holding line 7 is not.
printf '%s\n%s\n%s\n\n%s\n%s\n{"time":"2024-01-01T00:00:00Z","actor":{"id":"x"},"action":"a","outcome":"maybe","source":{"ip":"192.0.2.9"},"service":"bad"}\n%s\n' \
	"$(ev b1 bad.ok)" "$(ev b2 bad.ok)" "$(ev b3 bad.ok)" "$(ev b4 bad.ok)" "$(ev b5 bad.ok)" "$(ev b6 bad.ok)" >"$TMP/bad.ndjson"
check_fails "send with a bad event fails" "$LOGSEAL" send "${S[@]}" --token-file "$WT" --batch 3 "$TMP/bad.ndjson"
check_eq "... naming input line 7" 1 "$(grep -c '^logseal send: input line 7: HTTP 400 invalid_event' "$TMP/last.out")"
check_eq "... saying what was acknowledged" 1 "$(grep -c 'acknowledged up to input line 3' "$TMP/last.out")"
check_eq "... the first batch is in, the failed one is not" 3 "$(req GET '/v1/events?action=bad.ok' "$(cat "$AT")" >/dev/null; jq '.events|length' "$TMP/resp")"
check_fails "send without a token fails" "$LOGSEAL" send "${S[@]}" <"$TMP/busy.ndjson"
check_eq "... saying so" 1 "$(grep -c 'no token' "$TMP/last.out")"
check_fails "send with a wrong token fails (401, no retry)" env LOGSEAL_TOKEN=lsk_nope "$LOGSEAL" send "${S[@]}" <"$TMP/busy.ndjson"
check_eq "... naming the status" 1 "$(grep -c 'HTTP 401 unauthenticated' "$TMP/last.out")"
DEAD=$(free_port)
check_fails "send to a closed port fails after its retries" "$LOGSEAL" send --server "http://127.0.0.1:$DEAD" --token-file "$WT" --retries 2 <"$TMP/busy.ndjson"
check_eq "... having retried once" 1 "$(grep -c 'retrying in' "$TMP/last.out")"

# ---------------------------------------------------------------- retries through a proxy
# proxy.py MODE PORT UPSTREAM-PORT: the first connection either forwards the
# request and drops the server's reply (drop), or answers 503 with
# Retry-After: 1 without forwarding (busy); later connections are relayed.
cat >"$TMP/proxy.py" <<'PY'
import socket, sys, threading
mode, port, up = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(16)
print("ready", flush=True)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def read_request(c):
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(65536)
        if not d: return data
        data += d
    head, body = data.split(b"\r\n\r\n", 1)
    n = 0
    for l in head.split(b"\r\n"):
        if l.lower().startswith(b"content-length:"): n = int(l.split(b":")[1])
    while len(body) < n:
        d = c.recv(65536)
        if not d: break
        body += d
    return head + b"\r\n\r\n" + body
first = True
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", up))
    if first and mode == "drop":
        first = False
        u.sendall(read_request(c))
        u.recv(1)          # the server answered: the batch is durable
        u.close(); c.close()  # ...but the client never hears of it
        continue
    if first and mode == "busy":
        first = False
        read_request(c)
        b = b'{"error":{"code":"busy","message":"proxy says busy"}}'
        c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(b), b))
        c.close(); u.close()
        continue
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
PROXY_PIDS=""
start_proxy() {	# start_proxy MODE: sets PROXY_URL
	local p; p=$(free_port)
	python3 "$TMP/proxy.py" "$1" "$p" "$SRV_PORT" >"$TMP/proxy.$1" 2>"$TMP/proxy.err" &
	PROXY_PIDS="$PROXY_PIDS $!"
	# Not a probe connection: the proxy's first connection is the special one.
	for _ in $(seq 1 50); do
		grep -q ready "$TMP/proxy.$1" 2>/dev/null && break
		sleep 0.1
	done
	PROXY_URL=http://127.0.0.1:$p
}
start_proxy drop
check "send through a proxy that drops the first reply" "$LOGSEAL" send --server "$PROXY_URL" --token-file "$WT" --batch 5 "$TMP/retry.ndjson"
cp "$TMP/last.out" "$TMP/send-drop.out"
check_eq "... the lost reply was retried" 1 "$(grep -c 'batch 1 (input lines 1-5):.*retrying in' "$TMP/send-drop.out")"
check_eq "... the retried batch came back as 5 duplicates" 1 "$(grep -c 'done: 20 events sent in 4 batches: 15 appended, 5 duplicates' "$TMP/send-drop.out")"
check_eq "... the log holds each of the 20 events once" 20 "$(stats retry)"
check_eq "... 20 distinct ids" 20 "$("$LOGSEAL" query "${S[@]}" --token-file "$AT" --service retry --all | jq -r .entry.id | sort -u | wc -l)"

start_proxy busy
t0=$(date +%s%N)
check "send through a proxy that answers 503 Retry-After: 1 first" "$LOGSEAL" send --server "$PROXY_URL" --token-file "$WT" "$TMP/busy.ndjson"
t1=$(date +%s%N)
check_eq "... retried after the 503" 1 "$(grep -c 'HTTP 503 busy: proxy says busy; retrying in 1.0 s' "$TMP/last.out")"
check_eq "... waited the Retry-After second" 1 "$(( (t1 - t0) >= 1000000000 ))"
check_eq "... all 4 appended" 4 "$(stats busy)"

# ---------------------------------------------------------------- query
q() { "$LOGSEAL" query "${S[@]}" --token-file "$AT" "$@"; }
q --service cli --actor alice >"$TMP/q1" 2>"$TMP/q1.err"
check_eq "query --actor alice (piped): NDJSON, one event per line" "$N_ALICE" "$(wc -l <"$TMP/q1")"
check_eq "... each {index, entry} of alice in service cli" true \
	"$(jq -s 'all(.[]; (.index|type) == "number" and .entry.actor.id == "alice" and .entry.service == "cli")' "$TMP/q1")"
check_eq "query --action 'doc.*' --source-ip 10.1.0.0/16" "$N_DOC_NET" \
	"$(q --service cli --action 'doc.*' --source-ip 10.1.0.0/16 | jq -s 'map(select((.entry.action|startswith("doc.")) and (.entry.source.ip|startswith("10.1.")))) | length')"
check_eq "query --outcome denied --actor bob" "$N_BOB_DENIED" "$(q --outcome denied --actor bob | wc -l)"
check_eq "query --from/--to (2024-05-01 .. 2024-05-03: 4 events)" 4 \
	"$(q --service cli --from 2024-05-01T00:00:00Z --to 2024-05-03T00:00:00Z | wc -l)"
check_eq "query --from with a +02:00 offset (the + is escaped)" 4 \
	"$(q --service cli --from 2024-05-28T11:00:00+02:00 --to 2024-06-02T00:00:00Z | wc -l)"
check_eq "query --writer --service retry" 20 "$(q --writer "$WRITER_ID" --service retry | wc -l)"
check_eq "query --limit 5: one page of 5" 5 "$(q --service cli --limit 5 | wc -l)"
q --service cli --all --limit 7 --order asc >"$TMP/qall"
check_eq "query --all --limit 7: every one of the 38 events" 38 "$(wc -l <"$TMP/qall")"
check_eq "... in increasing index order, none repeated" true \
	"$(jq -s '[.[].index] | . == (sort | unique)' "$TMP/qall")"
check_eq "... the same as the send's indexes" "$(q --service cli --all --order desc | jq -s '[.[].index]|sort')" \
	"$(jq -s '[.[].index]' "$TMP/qall")"
q --service cli --limit 4 --format json >"$TMP/qj"
check_eq "query --format json: the reply shape with 4 events and a cursor" "4 true true" \
	"$(jq -r '"\(.events|length) \(.next_cursor|type == "string") \(.watermark >= 38)"' "$TMP/qj")"
check_eq "query --cursor continues where the page ended" "$(q --service cli --limit 8 | tail -4 | jq -s '[.[].index]')" \
	"$(q --service cli --limit 4 --cursor "$(jq -r .next_cursor "$TMP/qj")" | jq -s '[.[].index]')"
COLUMNS=60 q --service cli --format table --limit 10 >"$TMP/qt" 2>"$TMP/qt.err"
check_eq "query --format table: header and 10 rows" 11 "$(wc -l <"$TMP/qt")"
check_eq "... header names the columns" 1 "$(head -1 "$TMP/qt" | grep -c 'INDEX.*TIME (UTC).*ACTOR')"
check_eq "... no line wider than COLUMNS=60" 0 "$(awk 'length($0) > 60' "$TMP/qt" | wc -l)"
check_eq "... times shown in UTC without the fraction" 10 "$(grep -c ' 2024-0[56]-[0-9][0-9] [0-9:]\{8\} ' "$TMP/qt")"
check_eq "... the count on stderr" 1 "$(grep -c '^10 events' "$TMP/qt.err")"
# A table on a real terminal (script gives a pty), with a control character
# in an event that must not reach the terminal raw (identifiers such as
# actor.id refuse control characters at ingest; resource.type does not).
printf '{"time":"2024-08-01T00:00:00Z","service":"tty","actor":{"id":"u-tty"},"action":"a.b","outcome":"success","source":{"ip":"192.0.2.3"},"resource":{"type":"evil\\u001b[31m"}}\n' | "$LOGSEAL" send "${S[@]}" --token-file "$WT" 2>/dev/null
script -qec "stty cols 120; $LOGSEAL query --server $SRV_URL --token-file $AT --service tty" /dev/null >"$TMP/qtty"
check_eq "query on a terminal defaults to a table" 1 "$(grep -c 'INDEX' "$TMP/qtty")"
check_eq "... escape characters from events are replaced" "0 1" \
	"$(grep -c $'evil\e' "$TMP/qtty") $(grep -c 'evil?\[' "$TMP/qtty")"
check_fails "query with a bad filter value fails" q --outcome bogus
check_eq "... with the server's error" 1 "$(grep -c 'HTTP 400' "$TMP/last.out")"
check_fails "query --limit 0 is refused" q --limit 0
check_fails "query with a writer token is refused (403)" "$LOGSEAL" query "${S[@]}" --token-file "$WT"
check_eq "query with LOGSEAL_URL and LOGSEAL_TOKEN" "$N_ALICE" \
	"$(LOGSEAL_URL=$SRV_URL LOGSEAL_TOKEN=$(cat "$AT") "$LOGSEAL" query --service cli --actor alice | wc -l)"

# ---------------------------------------------------------------- export
O=$TMP/out
mkdir -p "$O"
check "export a bundle of service cli and --verify it" "$LOGSEAL" export "${S[@]}" --token-file "$AT" --service cli --output "$O/cli.bundle" --verify --key "$D/verifier.key"
check_eq "... reports the entries and the verification" "1 1" \
	"$(grep -c 'cli.bundle: [0-9]* bytes, 38 entries (bundle)' "$TMP/last.out") $(grep -c 'bundle verified: 38 entries' "$TMP/last.out")"
check_eq "... the file is complete: no .part left" "yes no" "$([ -s "$O/cli.bundle" ] && echo yes) $([ -e "$O/cli.bundle.part" ] && echo yes || echo no)"
check "... verify-bundle agrees" "$LOGSEAL" verify-bundle "$O/cli.bundle" --key "$D/verifier.key"
check_eq "... manifest states 38 entries" 1 "$(tail -1 "$O/cli.bundle" | jq -r .manifest | grep -c '^entries 38$')"
check "export csv of alice" "$LOGSEAL" export "${S[@]}" --token-file "$AT" --service cli --actor alice --format csv --output "$O/alice.csv"
check_eq "... header + one row per event" "$((N_ALICE + 1))" "$(wc -l <"$O/alice.csv")"
check_eq "... the documented header" "index,time,received,service,actor_id" "$(head -1 "$O/alice.csv" | cut -d, -f1-5)"
check "export ecs to stdout" sh -c "'$LOGSEAL' export --server '$SRV_URL' --token-file '$AT' --service busy --format ecs --output - >'$O/busy.ecs'"
check_eq "... one JSON object per entry" 4 "$(jq -c . "$O/busy.ecs" | wc -l)"
check_fails "export with a bad filter fails" "$LOGSEAL" export "${S[@]}" --token-file "$AT" --outcome bogus --output "$O/bad.bundle"
check_eq "... with the server's error, leaving no file" "1 no no" \
	"$(grep -c 'HTTP 400' "$TMP/last.out") $([ -e "$O/bad.bundle" ] && echo yes || echo no) $([ -e "$O/bad.bundle.part" ] && echo yes || echo no)"
check_fails "export --verify without --key is refused" "$LOGSEAL" export "${S[@]}" --token-file "$AT" --output "$O/x" --verify
check_fails "export --verify with another log's key fails" sh -c "'$LOGSEAL' init --data '$TMP/other' >/dev/null && '$LOGSEAL' export --server '$SRV_URL' --token-file '$AT' --service busy --output '$O/other.bundle' --verify --key '$TMP/other/verifier.key'"
check_eq "... saying verification FAILED" 1 "$(grep -c 'verification FAILED' "$TMP/last.out")"
check_fails "export to a server that is down fails" "$LOGSEAL" export --server "http://127.0.0.1:$DEAD" --token-file "$AT" --output "$O/down.bundle"
check_eq "... leaving no file" "no no" "$([ -e "$O/down.bundle" ] && echo yes || echo no) $([ -e "$O/down.bundle.part" ] && echo yes || echo no)"
for p in $PROXY_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
check "server stops cleanly" stop_server
done_testing
