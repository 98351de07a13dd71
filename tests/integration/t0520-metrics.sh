#!/bin/bash
# GET /metrics: the Prometheus text format, checked by `promtool check
# metrics` (Debian package prometheus, installed here when missing), every
# documented family with HELP and TYPE, role auditor (401/403 otherwise),
# and values that follow what the server does: ingest counters, HTTP
# requests by route and status, auth denials, the fsync histogram, tree
# size, checkpoint age, index lag, disk space.  GET /readyz and /healthz
# need no token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
J=application/json

if ! command -v promtool >/dev/null; then
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 ||
		{ $SUDO apt-get update -q >/dev/null 2>&1 &&
		  $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1; }
fi
check "init" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --checkpoint-interval 200 --segment-leaves 256
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
AUD=$(new_token "$ADMIN" '{"role":"auditor"}')

scrape() { curl -s -H "Authorization: Bearer $AUD" "$SRV_URL/metrics" >"$TMP/$1"; }
# val FILE SERIES: the value of one series (name plus labels, exactly).
val() { awk -v m="$2" '$1 == m {print $2}' "$TMP/$1"; }

check_eq "no token: 401" 401 "$(req GET /metrics '')"
check_eq "writer: 403" 403 "$(req GET /metrics "$W")"
check_eq "auditor: 200" 200 "$(req GET /metrics "$AUD")"
check_eq "content type of the text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" \
	"$(tr -d '\r' <"$TMP/resp.h" | awk -F': ' 'tolower($1) == "content-type" {print $2}')"
scrape m1
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts it" promtool check metrics <"$TMP/m1"
else
	ok "# SKIP promtool not available (apt-get install prometheus failed)"
fi
missing=""
for f in logseal_ingest_events_total:counter logseal_ingest_batches_total:counter \
	logseal_ingest_bytes_total:counter logseal_http_requests_total:counter \
	logseal_fsync_seconds:histogram logseal_tree_size:gauge logseal_checkpoint_age_seconds:gauge \
	logseal_index_lag_entries:gauge logseal_search_lag_entries:gauge logseal_alerts_fired_total:counter \
	logseal_webhook_failures_total:counter logseal_auth_denials_total:counter \
	logseal_disk_free_bytes:gauge logseal_stream_clients:gauge \
	logseal_sealed_segments_total:counter logseal_sealed_entries:gauge \
	logseal_seal_seconds_total:counter logseal_sealer_backpressure_total:counter \
	logseal_ingest_rejected_total:counter logseal_alerts_late_events_total:counter; do
	n=${f%%:*}; t=${f##*:}
	grep -q "^# HELP $n " "$TMP/m1" && grep -qx "# TYPE $n $t" "$TMP/m1" || missing="$missing $n"
done
check_eq "every family has HELP and TYPE" "" "$missing"
check_eq "the 401 and the 403 above are counted as denials" "1 1" \
	"$(val m1 'logseal_auth_denials_total{status="401"}') $(val m1 'logseal_auth_denials_total{status="403"}')"
check_eq "... and as requests of the route by status" "1 1" \
	"$(val m1 'logseal_http_requests_total{method="GET",route="/metrics",status="401"}') $(val m1 'logseal_http_requests_total{method="GET",route="/metrics",status="403"}')"
check "disk free is a positive number of bytes" test "$(val m1 logseal_disk_free_bytes)" -gt 0
check_eq "tree size = the log's size" "$(tree_size)" "$(val m1 logseal_tree_size)"

python3 -c '
import json
print(json.dumps([{"time": "2024-01-01T00:00:00Z", "actor": {"id": "u%d" % i}, "action": "doc.read",
  "outcome": "success", "source": {"ip": "10.0.0.1"}} for i in range(50)]))' >"$TMP/b.json"
check_eq "50 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/b.json")"
sleep 0.5
scrape m2
d() { echo $(( $(val m2 "$1") - $(val m1 "$1") )); }
check_eq "ingest: +50 events, +1 commit" "50 1" "$(d logseal_ingest_events_total) $(d logseal_ingest_batches_total)"
check "ingest bytes grew by at least 50 x 150" test "$(d logseal_ingest_bytes_total)" -ge 7500
check_eq "fsync histogram: +1 observation, +Inf bucket = count" "1 $(val m2 logseal_fsync_seconds_count)" \
	"$(d logseal_fsync_seconds_count) $(val m2 'logseal_fsync_seconds_bucket{le="+Inf"}')"
check_eq "POST /v1/events 200 counted once" 1 \
	"$(val m2 'logseal_http_requests_total{method="POST",route="/v1/events",status="200"}')"
check_eq "tree size +50" 50 "$(d logseal_tree_size)"
check_eq "the index has caught up: lag 0" 0 "$(val m2 logseal_index_lag_entries)"
check_eq "... and so has search: lag 0" 0 "$(val m2 logseal_search_lag_entries)"
check "the checkpoint is younger than 5 s" awk -v a="$(val m2 logseal_checkpoint_age_seconds)" 'BEGIN { exit !(a >= 0 && a < 5) }'
check_eq "no stream open" 0 "$(val m2 logseal_stream_clients)"
if command -v promtool >/dev/null; then
	check "promtool still accepts it" promtool check metrics <"$TMP/m2"
fi
check_eq "route labels are patterns, never request paths" "" \
	"$(req GET /v1/events/12 "$AUD" >/dev/null; scrape m3; grep -o 'route="[^"]*"' "$TMP/m3" | grep -v -e '{' -e 'route="/[a-z0-9/]*"' | sort -u)"
check "GET /v1/events/12 counted under /v1/events/{index}" \
	grep -q '^logseal_http_requests_total{method="GET",route="/v1/events/{index}",status="200"} 1$' "$TMP/m3"
# GET and POST of one route with the same status were one {route,status}
# series printed twice; with the method each series is named once.
check_eq "GET /v1/events: 200" 200 "$(req GET '/v1/events?limit=1' "$AUD")"
scrape m4
check_eq "GET and POST /v1/events 200 are two series" "1 1" \
	"$(grep -c '^logseal_http_requests_total{method="GET",route="/v1/events",status="200"} ' "$TMP/m4") $(grep -c '^logseal_http_requests_total{method="POST",route="/v1/events",status="200"} ' "$TMP/m4")"
check_eq "no series (name and labels) repeats in a scrape" "" \
	"$(grep -v '^#' "$TMP/m4" | awk '{print $1}' | sort | uniq -d)"

# ---- health
check_eq "/readyz without a token: 200 ready" "200 ready []" \
	"$(req GET /readyz ''; echo " $(jq -r .status "$TMP/resp") $(jq -c .reasons "$TMP/resp")")"
# The audit events of the reads just made are indexed within a fraction of
# a second (the follower gathers them; nobody waits for them here).
for _ in $(seq 1 30); do
	req GET /readyz '' >/dev/null
	[ "$(jq -r '.tree_size == .index_watermark' "$TMP/resp")" = true ] && break
	sleep 0.1
done
check_eq "... with the tree size and the index watermark" "$(tree_size) $(tree_size)" \
	"$(jq -r '"\(.tree_size) \(.index_watermark)"' "$TMP/resp")"
check_eq "/healthz without a token: 200" 200 "$(req GET /healthz '')"

# ---- the dashboard's files: no token, strict headers, ETag revalidation
hdr() { tr -d '\r' <"$TMP/resp.h" | awk -F': ' -v h="$1" 'tolower($1) == h {print $2}'; }
check_eq "GET / without a token: 200 html" "200 text/html; charset=utf-8" "$(req GET / '') $(hdr content-type)"
check "... with the dashboard's Content-Security-Policy" sh -c "tr -d '\r' <'$TMP/resp.h' | grep -q \"^Content-Security-Policy: default-src 'none'; script-src 'self'\""
check_eq "... X-Frame-Options, Referrer-Policy, nosniff, no-cache" "DENY no-referrer nosniff no-cache" \
	"$(hdr x-frame-options) $(hdr referrer-policy) $(hdr x-content-type-options) $(hdr cache-control)"
ETAG=$(hdr etag)
check "... and an ETag" test -n "$ETAG"
check_eq "If-None-Match with it: 304, no body" "304 0" \
	"$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "If-None-Match: $ETAG" "$SRV_URL/")"
check_eq "an unknown file: 404" 404 "$(req GET /no-such-file.js '')"
check_eq "API replies get a deny-all CSP" "default-src 'none'; frame-ancestors 'none'" \
	"$(req GET /healthz '' >/dev/null; hdr content-security-policy)"
# Sealing: 300 more events take the signed tree past the first range of 256
# leaves, which the sealer then writes as a segment.
python3 -c '
import json
print(json.dumps([{"time": "2024-01-01T00:00:00Z", "actor": {"id": "s%d" % i}, "action": "doc.read",
  "outcome": "success", "source": {"ip": "10.0.0.1"}} for i in range(300)]))' >"$TMP/s.json"
check_eq "300 events: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/s.json")"
for i in $(seq 50); do
	scrape m3
	[ "$(val m3 logseal_sealed_entries)" -ge 256 ] && break
	sleep 0.1
done
SEG=$(val m3 logseal_sealed_segments_total); SEALED=$(val m3 logseal_sealed_entries)
check "segments sealed: at least one, each of 256 entries ($SEG, $SEALED entries)" \
	test "$SEG" -ge 1 -a "$SEALED" -eq $((SEG * 256))
check "... and the segment file is there" test -f "$D/segments/0000000000000000.seal"
check_eq "the sealer never held ingest back" 0 "$(val m3 logseal_sealer_backpressure_total)"

check "stop" stop_server
done_testing
