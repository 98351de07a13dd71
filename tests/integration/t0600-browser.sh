#!/bin/bash
# The dashboard in a real browser: Debian's chromium driven by npm
# playwright-core (tests/browser/dashboard.test.mjs) against a real
# `logseal serve`.  First the static files over plain HTTP (content types,
# the CSP, ETag revalidation, no token needed), then the browser: sign in,
# live tail, pause/resume, search, CSV and bundle exports, an event's proof
# verified (and a tampered one refused) in the page, a threshold alert, the
# other pages, keyboard use, a phone-sized screen; the overview against
# seeded traffic, search by clicking, exclusions, deep links, roles,
# sessions and axe-core accessibility checks (tests/browser/dashboard.test.mjs).  Screenshots of each page
# go to $BUILD/screenshots/.  Missing endpoints fail, they are not skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BROWSER_DIR=$ROOT/tests/browser
SHOTS=$ROOT/${BUILD:-build}/screenshots
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

# --- what the browser test needs (installed when missing; bounded)
if ! command -v chromium >/dev/null 2>&1; then
	echo "# installing Debian chromium"
	export DEBIAN_FRONTEND=noninteractive
	timeout 600 $SUDO apt-get install -y -q chromium >"$TMP/apt.log" 2>&1 || {
		timeout 300 $SUDO apt-get update -q >>"$TMP/apt.log" 2>&1
		timeout 600 $SUDO apt-get install -y -q chromium >>"$TMP/apt.log" 2>&1
	}
fi
CHROMIUM=$(command -v chromium || true)
if [ -n "$CHROMIUM" ]; then ok "chromium is installed ($CHROMIUM)"; else
	not_ok "chromium is installed"; tail -5 "$TMP/apt.log" 2>/dev/null | sed 's/^/#   /'; fi
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ] || [ ! -d "$BROWSER_DIR/node_modules/axe-core" ]; then
	echo "# installing playwright-core and axe-core from npm"
	(cd "$BROWSER_DIR" && { timeout 300 npm ci --no-audit --no-fund ||
		timeout 300 npm install --no-audit --no-fund; }) >"$TMP/npm.log" 2>&1
fi
if [ -d "$BROWSER_DIR/node_modules/playwright-core" ]; then ok "playwright-core is installed"; else
	not_ok "playwright-core is installed"; tail -5 "$TMP/npm.log" 2>/dev/null | sed 's/^/#   /'; fi

# --- a server
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin browser.test/log
check "server starts" start_server "$D" --checkpoint-interval 200
ADMIN=$(cat "$D/admin.token")
WRITER=$(new_token "$ADMIN" '{"role":"writer","name":"browser-writer"}')
[ -n "$WRITER" ] && ok "admin creates a writer token" || not_ok "admin creates a writer token"

# --- the static files, without a token
CSP="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
hdr() { tr -d '\r' <"$TMP/resp.h" | awk -v h="$1" 'index(tolower($0), tolower(h) ": ") == 1 { sub(/^[^:]*: /, ""); print; exit }'; }
check_eq "GET / without a token: 200" 200 "$(req GET / "")"
check_eq "GET /: text/html" "text/html; charset=utf-8" "$(hdr Content-Type)"
check_eq "GET /: the strict CSP" "$CSP" "$(hdr Content-Security-Policy)"
check_eq "GET /: nosniff" nosniff "$(hdr X-Content-Type-Options)"
grep -qi '^<!doctype html>' "$TMP/resp" && ok "GET / is the dashboard page" || not_ok "GET / is the dashboard page"
ETAG=$(hdr ETag)
[ -n "$ETAG" ] && ok "GET / has an ETag" || not_ok "GET / has an ETag"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: ${ETAG:-none}" "$SRV_URL/")
check_eq "If-None-Match with the ETag: 304" 304 "$code"
check_eq "GET /app.js: 200" 200 "$(req GET /app.js "")"
check_eq "GET /app.js: text/javascript" "text/javascript; charset=utf-8" "$(hdr Content-Type)"
check_eq "GET /app.css: text/css" "200 text/css; charset=utf-8" "$(req GET /app.css "") $(hdr Content-Type)"
check_eq "GET /overview.js: text/javascript, the strict CSP" "200 text/javascript; charset=utf-8 $CSP" \
	"$(req GET /overview.js "") $(hdr Content-Type) $(hdr Content-Security-Policy)"
check_eq "GET /uplot.min.js (vendored at build time): 200" "200 text/javascript; charset=utf-8" "$(req GET /uplot.min.js "") $(hdr Content-Type)"
[ -n "$(hdr ETag)" ] && ok "GET /uplot.min.js has an ETag" || not_ok "GET /uplot.min.js has an ETag"
check_eq "uPlot's license is served beside it" 200 "$(req GET /uplot-LICENSE.txt "")"
grep -q 'MIT License' "$TMP/resp" && ok "  (the MIT license of uPlot)" || not_ok "  (the MIT license of uPlot)"
check_eq "GET /no-such-asset: 404" 404 "$(req GET /no-such-asset.js "")"
check_eq "the API still needs a token" 401 "$(req GET /v1/events "")"

# --- the browser (its own lines are numbered here, one TAP stream)
if [ -n "$CHROMIUM" ] && [ -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
	mkdir -p "$SHOTS"
	LOGSEAL_URL=$SRV_URL ADMIN_TOKEN=$ADMIN WRITER_TOKEN=$WRITER SHOTS=$SHOTS \
		LOGSEAL=$LOGSEAL DATA_DIR=$D \
		PROFILE=$TMP/chromium-profile CHROMIUM=$CHROMIUM BUDGET_MS=150000 \
		timeout -k 5 180 node "$BROWSER_DIR/dashboard.test.mjs" >"$TMP/browser.out" 2>"$TMP/browser.err"
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done <"$TMP/browser.out"
	check_eq "the browser test exits 0" 0 "$rc"
	[ "$rc" -ne 0 ] && tail -15 "$TMP/browser.err" | sed 's/^/#   /'
	n=$(ls "$SHOTS"/*.png 2>/dev/null | wc -l)
	echo "# $n screenshots in $SHOTS"
else
	not_ok "the browser test runs (chromium or playwright-core missing)"
fi

check "the server is still up" curl -sf "$SRV_URL/healthz"
stop_server
check "verify passes after the browser session" "$LOGSEAL" verify --data "$D"
done_testing
