# bench/dashboard.sh - the dashboard figures of `make bench` (section
# `dashboard`), sourced by bench/run.sh (it uses run.sh's helpers: fail,
# line, section, serve_start, serve_stop, and its T, LOGSEAL, PORT).
#
# dashboard_section: a fresh server gets DASH_EVENTS (10,000) events spread
# over the last 24 hours (8 services, 5 outcomes, 1 in 20 denied, from 50
# actors), then real chromium (Debian's, driven by bench/dashboard_render.mjs
# through tests/browser's playwright-core) signs in and loads the overview
# DASH_RUNS times: the page's weight (its own files, the JSON it reads),
# first contentful paint and the time from navigation to the overview drawn
# with those events (charts by service and outcome, tiles, top denied,
# integrity).  The overview must show all DASH_EVENTS events, or the
# section fails.
DASH_EVENTS=${DASH_EVENTS:-10000}
DASH_RUNS=${DASH_RUNS:-5}

dashboard_section() {
	local browser_dir=$PWD/tests/browser chromium dir=$T/dashboard
	section "dashboard: page weight and time to the overview drawn, $DASH_EVENTS events in the range (chromium)"
	STEP="dashboard: chromium and playwright-core"
	if ! command -v chromium >/dev/null 2>&1; then	# as t0600-browser.sh: on demand
		local sudo=""
		[ "$(id -u)" -ne 0 ] && sudo=sudo
		DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -q chromium >"$T/dash-apt.log" 2>&1 ||
			{ timeout 300 $sudo apt-get update -q >>"$T/dash-apt.log" 2>&1
			  DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -q chromium >>"$T/dash-apt.log" 2>&1; }
	fi
	chromium=$(command -v chromium || true)
	[ -n "$chromium" ] || fail "chromium is missing and could not be installed (apt-get install chromium)"
	if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
		(cd "$browser_dir" && timeout 300 npm ci --no-audit --no-fund >"$T/dash-npm.log" 2>&1) ||
			fail "npm ci in tests/browser failed"
	fi
	STEP="dashboard: server with $DASH_EVENTS events"
	serve_start "$dir"
	python3 - "$DASH_EVENTS" >"$T/dash.ndjson" <<'PY'
import json, random, sys, time
n = int(sys.argv[1]); r = random.Random(19); now = time.time()
svcs = ["billing", "crm", "auth", "storage", "search", "payments", "hr", "infra"]
for i in range(n):
    t = now - 60 - r.random() * 84000
    out = "denied" if i % 20 == 0 else r.choice(["success"] * 8 + ["failure", "error"])
    print(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z",
        "actor": {"id": "user-%d" % r.randrange(50), "type": "user"},
        "action": r.choice(["doc.read", "doc.write", "user.login", "doc.delete"]),
        "outcome": out, "service": r.choice(svcs),
        "source": {"ip": "198.51.100.%d" % r.randrange(1, 255)},
        "resource": {"type": "doc", "id": "d-%d" % i}}, separators=(",", ":")))
PY
	split -l 1000 "$T/dash.ndjson" "$T/dash.part."
	for f in "$T"/dash.part.*; do
		curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$T/writer.token")" \
			-H 'Content-Type: application/x-ndjson' --data-binary @"$f" \
			"http://127.0.0.1:$PORT/v1/events" || fail "POST /v1/events failed"
	done
	STEP="dashboard: chromium loads the overview"
	LOGSEAL_URL=http://127.0.0.1:$PORT ADMIN_TOKEN=$(head -1 "$dir/admin.token") \
		CHROMIUM=$chromium PROFILE=$T/dash-profile RUNS=$DASH_RUNS BROWSER_DIR=$browser_dir \
		timeout -k 5 180 node bench/dashboard_render.mjs >"$T/dash.out" 2>"$T/dash.err" ||
		{ tail -5 "$T/dash.err" >&2; fail "the browser run failed"; }
	serve_stop
	local v
	v() { awk -v k="$1" '$1 == k { print $2 }' "$T/dash.out"; }
	[ "$(v total_events)" = "$DASH_EVENTS" ] ||
		fail "the overview showed $(v total_events) events, $DASH_EVENTS were posted"
	line "page weight: its own files" "$(awk -v b="$(v static_bytes)" 'BEGIN { printf "%.1f KB", b / 1024 }') (uncompressed, uPlot included; cached and revalidated by ETag)"
	line "page weight: the overview's JSON reads" "$(awk -v b="$(v api_bytes)" 'BEGIN { printf "%.1f KB", b / 1024 }'), $(v requests) requests in all"
	line "first contentful paint (median)" "$(v fcp_ms) ms"
	line "overview drawn, $DASH_EVENTS events (median)" "$(v overview_ms) ms (max $(v overview_max_ms) ms of $DASH_RUNS loads)"
	echo "dashboard_overview_ms $(v overview_ms)" >>"$RESULTS"
	echo "dashboard_static_bytes $(v static_bytes)" >>"$RESULTS"
}
