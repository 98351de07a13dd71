#!/bin/bash
# The dashboard's admin screens and sessions in a real browser: Debian's
# chromium driven by npm playwright-core (tests/browser/admin.test.mjs)
# against a real `logseal serve`, with axe-core (npm) checking the screens.
# The admin.js and admin.css files are served like the rest (type, CSP,
# ETag).  Screenshots go to $BUILD/screenshots/admin*.png.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BROWSER_DIR=$ROOT/tests/browser
SHOTS=$ROOT/${BUILD:-build}/screenshots
CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] && ok "chromium is installed" || not_ok "chromium is installed (t0600 installs it)"
if [ ! -d "$BROWSER_DIR/node_modules/axe-core" ] || [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
	echo "# installing playwright-core and axe-core from npm"
	(cd "$BROWSER_DIR" && { timeout 300 npm ci --no-audit --no-fund ||
		timeout 300 npm install --no-audit --no-fund; }) >"$TMP/npm.log" 2>&1
fi
[ -d "$BROWSER_DIR/node_modules/axe-core" ] && ok "axe-core is installed" || not_ok "axe-core is installed"

D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin admin-browser.test/log
check "server starts" start_server "$D" --checkpoint-interval 200 --webhook-allow-private 127.0.0.1
ADMIN=$(cat "$D/admin.token")
WRITER=$(new_token "$ADMIN" '{"role":"writer","name":"browser-writer"}')
AUDITOR=$(new_token "$ADMIN" '{"role":"auditor","name":"browser-auditor"}')
[ -n "$WRITER" ] && [ -n "$AUDITOR" ] && ok "writer and auditor tokens" || not_ok "writer and auditor tokens"

hdr() { tr -d '\r' <"$TMP/resp.h" | awk -v h="$1" 'index(tolower($0), tolower(h) ": ") == 1 { sub(/^[^:]*: /, ""); print; exit }'; }
check_eq "GET /admin.js: text/javascript" "200 text/javascript; charset=utf-8" "$(req GET /admin.js "") $(hdr Content-Type)"
check_eq "... the dashboard's CSP" 1 "$(hdr Content-Security-Policy | grep -c "script-src 'self'")"
ET=$(hdr ETag)
check_eq "... revalidates with its ETag: 304" 304 "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ET" "$SRV_URL/admin.js")"
check_eq "GET /admin.css: text/css" "200 text/css; charset=utf-8" "$(req GET /admin.css "") $(hdr Content-Type)"

if [ -n "$CHROMIUM" ] && [ -d "$BROWSER_DIR/node_modules/axe-core" ]; then
	mkdir -p "$SHOTS"
	LOGSEAL_URL=$SRV_URL ADMIN_TOKEN=$ADMIN WRITER_TOKEN=$WRITER AUDITOR_TOKEN=$AUDITOR \
		SHOTS=$SHOTS PROFILE=$TMP/chromium-profile CHROMIUM=$CHROMIUM BUDGET_MS=120000 \
		timeout -k 5 150 node "$BROWSER_DIR/admin.test.mjs" >"$TMP/browser.out" 2>"$TMP/browser.err"
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done <"$TMP/browser.out"
	check_eq "the admin browser test exits 0" 0 "$rc"
	[ "$rc" -ne 0 ] && tail -15 "$TMP/browser.err" | sed 's/^/#   /'
	echo "# $(ls "$SHOTS"/admin*.png 2>/dev/null | wc -l) admin screenshots in $SHOTS"
else
	not_ok "the admin browser test runs (chromium or npm packages missing)"
fi
check "the server is still up" curl -sf "$SRV_URL/healthz"
stop_server
check "verify passes after the browser session" "$LOGSEAL" verify --data "$D"
done_testing
