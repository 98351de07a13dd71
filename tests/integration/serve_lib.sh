# Helpers for the server tests (t03xx): start the real binary on a free
# loopback port, send requests with curl, read replies with jq.  Source it
# after lib.sh.

SRV_PID=""; SRV_PORT=""; SRV_URL=""; SRV_OUT=""; SRV_ERR=""
# start_server DIR [serve options...]: starts and waits (<= 10 s) for /healthz.
start_server() {
	local dir=$1; shift
	SRV_PORT=$(free_port)
	SRV_URL=${SRV_SCHEME:-http}://127.0.0.1:$SRV_PORT
	SRV_OUT=$TMP/server.$SRV_PORT.out; SRV_ERR=$TMP/server.$SRV_PORT.err
	"$LOGSEAL" serve --data "$dir" --listen "127.0.0.1:$SRV_PORT" "$@" >"$SRV_OUT" 2>"$SRV_ERR" &
	SRV_PID=$!
	SERVER_PIDS="$SERVER_PIDS $SRV_PID"
	for _ in $(seq 1 100); do
		curl -s -o /dev/null ${SRV_CURL_OPTS:-} "$SRV_URL/healthz" && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# server did not come up:"; sed 's/^/#   /' "$SRV_ERR"
	return 1
}
# stop_server: SIGTERM, wait (<= 20 s); returns the server's exit status.
stop_server() {
	local rc
	kill -TERM "$SRV_PID" 2>/dev/null
	for _ in $(seq 1 200); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$SRV_PID"; rc=$?
	return $rc
}
# req METHOD PATH TOKEN [CONTENT-TYPE [BODY-FILE]]: prints the status code;
# the reply body is in $TMP/resp, the headers in $TMP/resp.h.
req() {
	local m=$1 p=$2 tok=$3 ct=${4:-} body=${5:-}
	local args=(-s -o "$TMP/resp" -D "$TMP/resp.h" -w '%{http_code}' -X "$m" --max-time 20)
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$ct" ] && args+=(-H "Content-Type: $ct")
	[ -n "$body" ] && args+=(--data-binary "@$body")
	curl "${args[@]}" ${SRV_CURL_OPTS:-} "$SRV_URL$p"
}
# tree_size: the tree size /healthz reports.
tree_size() { curl -s ${SRV_CURL_OPTS:-} "$SRV_URL/healthz" | jq -r .tree_size; }
# new_token ADMIN-TOKEN JSON: prints the new token's secret (id in $TMP/newtok.id).
new_token() {
	printf '%s' "$2" >"$TMP/newtok.req"
	[ "$(req POST /v1/tokens "$1" application/json "$TMP/newtok.req")" = 201 ] || return 1
	jq -r .id "$TMP/resp" >"$TMP/newtok.id"
	jq -r .token "$TMP/resp"
}
# ev ID [ACTION]: one valid native event as compact JSON.
ev() {
	printf '{"id":"%s","time":"2024-05-06T07:08:09.123+02:00","actor":{"id":"alice","type":"user"},"action":"%s","outcome":"success","source":{"ip":"192.0.2.7"},"resource":{"type":"doc","id":"42"}}' "$1" "${2:-doc.read}"
}
# journal_grep STRING DIR: count of journal segment files mentioning STRING.
# Entries are encrypted at rest: read them through the journal reader.
journal_count() { "$TESTBIN/journalcat" "$2" | grep -a -o -- "$1" | wc -l; }
