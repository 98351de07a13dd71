#!/bin/bash
# Denials cannot flood the log.  2,000 unauthenticated requests from one
# address in a few seconds grow the tree by a small bounded number of
# entries: per source and window (--denial-window 1 here) the first
# --denial-burst denials are logged one by one, the rest are counted and one
# logseal.auth.denied.summary event per source and window carries the count.
# Nothing is lost: individual denials plus the summaries' counts are exactly
# the requests refused.  The default alert rule on repeated denials still
# fires, and a threshold rule of 500 refusals per address counts each
# summary as the refusals it stands for.  Past --denial-throttle denials in a window a source gets 429 with
# Retry-After (still counted), and the windows open at shutdown are
# summarised before the server stops.  A denial records at most 128 bytes
# of the request path.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --denial-window 1 --denial-burst 10 --denial-throttle 0
ADMIN=$(cat "$D/admin.token")

# flood N THREADS PATH: N requests without a token (or with a bad one, every
# other one) over keep-alive connections; prints "status count" lines.
cat >"$TMP/flood.py" <<'PY'
import http.client, sys, threading, collections
port, n, threads, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
codes = collections.Counter(); lock = threading.Lock()
retry_after = [0]
def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    mine = collections.Counter(); ra = 0
    for i in range(k):
        h = {} if i % 2 else {"Authorization": "Bearer lsk_" + "0" * 64}
        c.request("GET", path, headers=h)
        r = c.getresponse(); r.read()
        mine[r.status] += 1
        if r.status == 429 and r.getheader("Retry-After"):
            ra += 1
        if r.getheader("Connection", "").lower() == "close":
            c.close(); c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    with lock:
        codes.update(mine); retry_after[0] += ra
ts = [threading.Thread(target=run, args=(n // threads + (1 if i < n % threads else 0),)) for i in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
for k in sorted(codes): print(k, codes[k])
print("retry-after", retry_after[0])
PY
# denials_accounted: individual 401 events plus the summaries' counts.
denials_accounted() {
	"$TESTBIN/journalcat" "$D" | jq -s '(map(select(.action == "logseal.auth.unauthenticated")) | length)
		+ (map(select(.action == "logseal.auth.denied.summary") | .details.count) | add // 0)'
}
# A rule counting 500 refusals from one address: it sees the summaries'
# counts, not just the few entries the flood leaves.
printf '%s' '{"id":"r_flood","name":"refusal flood","kind":"threshold","filter":{"service":"logseal","outcome":"denied"},"threshold":{"count":500,"window_seconds":60,"group_by":"source_ip"}}' >"$TMP/rule.json"
check_eq "a threshold rule of 500 refusals per address: 201" 201 \
	"$(req POST /v1/alerts/rules "$ADMIN" application/json "$TMP/rule.json")"
s0=$(tree_size)
t0=$(date +%s%N)
python3 "$TMP/flood.py" "$SRV_PORT" 2000 4 /v1/events >"$TMP/flood.out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
s1=$(tree_size)
echo "# 2000 denied requests in $ms ms; the tree grew by $((s1 - s0))"
check_eq "every request was refused with 401" "401 2000" "$(grep '^401' "$TMP/flood.out")"
# At most burst + 1 summary per 1 s window while it lasted (+2 for windows
# cut by the edges), and the three denial alerts firing once each.
bound=$(( (ms / 1000 + 2) * 11 + 3 ))
check "the tree grew by at most $bound entries, not 2000 ($((s1 - s0)))" test $((s1 - s0)) -le "$bound"
sleep 2.5	# the last window closes, its summary is written
check_eq "individual denials + summary counts = the 2000 refused" 2000 "$(denials_accounted)"
"$TESTBIN/journalcat" "$D" | jq -c 'select(.action == "logseal.auth.denied.summary")' >"$TMP/sums"
check "summaries were written" test -s "$TMP/sums"
check_eq "a summary names the source, anonymous, outcome denied, service logseal" \
	"127.0.0.1 anonymous denied logseal" "$(head -1 "$TMP/sums" | jq -r '"\(.source.ip) \(.actor.id) \(.outcome) \(.service)"')"
check_eq "... and carries count, logged, first/last, window, statuses, samples" true \
	"$(head -1 "$TMP/sums" | jq '.details | (.count > 0) and (.logged == 10) and (.first <= .last) and .window_ms == 1000
		and (.statuses["401"] == .count) and (.paths == ["/v1/events"]) and (.reasons | length >= 1)')"
check "no summary was written for a window with nothing counted" \
	test "$(jq -s 'map(select(.details.count < 1)) | length' "$TMP/sums")" = 0
# The default rule r_default_logseal_denials (5 denials in 60 s from one address).
fired() { req GET /v1/alerts "$ADMIN" >/dev/null; jq '[.alerts[] | select(.rule.id == "r_default_logseal_denials" and .group == "127.0.0.1")] | length' "$TMP/resp"; }
wait_fired() { for _ in $(seq 1 50); do [ "$(fired)" -ge 1 ] && return 0; sleep 0.1; done; return 1; }
check "the default alert on repeated denials from 127.0.0.1 fired" wait_fired
flood_fired() { req GET /v1/alerts "$ADMIN" >/dev/null; jq -r '[.alerts[] | select(.rule.id == "r_flood" and .group == "127.0.0.1")][0] | "\(.count)"' "$TMP/resp"; }
check_eq "the 500-refusal rule fired, counting the summaries' counts" 500 "$(flood_fired)"

# A long path is recorded cut to 128 bytes.
long=/v1/events/$(printf 'a%.0s' $(seq 1 400))
check_eq "a long path: 401" 401 "$(req GET "$long" '')"
sleep 1.5
check_eq "... recorded with at most 128 bytes of it (individually or as a sample)" 128 \
	"$("$TESTBIN/journalcat" "$D" | jq -r 'select(.action | startswith("logseal.auth.")) | (.details.path // empty), (.details.paths // [] | .[])' | awk '{print length($0)}' | sort -n | tail -1)"
check "the server stops" stop_server

# Throttle: past 20 denials in a window, 429 with Retry-After; a window
# still open at shutdown is summarised before the server stops.
check "server starts again" start_server "$D" --denial-window 30 --denial-burst 5 --denial-throttle 20
base=$(denials_accounted)
python3 "$TMP/flood.py" "$SRV_PORT" 100 1 /v1/tokens >"$TMP/flood2.out"
check_eq "20 refused with 401, then 80 with 429" "401 20|429 80" "$(grep '^4' "$TMP/flood2.out" | paste -sd'|')"
check_eq "... each 429 with Retry-After" "retry-after 80" "$(grep retry-after "$TMP/flood2.out")"
check_eq "a token still works from the throttled address" 200 "$(req GET /v1/tokens "$ADMIN")"
check "the server stops" stop_server
check_eq "all 100 accounted for after the stop (the open window was summarised)" $((base + 100)) "$(denials_accounted)"
check_eq "... the summary counts the 429s" 80 \
	"$("$TESTBIN/journalcat" "$D" | jq -s '[.[] | select(.action == "logseal.auth.denied.summary")] | last | .details.throttled')"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
