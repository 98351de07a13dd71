# bench/relp.sh - the RELP figure of `make bench` (issue 18), sourced by
# bench/run.sh right after its HTTP section (it uses run.sh's helpers:
# fail, get, line, section, serve_start, serve_stop, ckpt_size, free_port,
# wait_healthz; and its variables T, RESULTS, LOGSEAL, BENCHBIN,
# LOADGEN_CONNS).
#
# relp_section: a fresh `logseal serve --relp` on loopback (plain TCP, as the
# HTTP section is plain HTTP), written as a writer token; bench/relp_load
# sends RELP_EVENTS (default 200000) RFC 5424 messages with SD params over
# LOADGEN_CONNS connections through librelp's client API, window RELP_WINDOW
# (default 128, rsyslog's omrelp default), and times it up to the answer to
# "close" (every message appended durably).  Printed next to the HTTP
# section's figures of the same run; the log must then hold every message
# and the server stop cleanly with a checkpoint covering it.

relp_section() {
	local n=${RELP_EVENTS:-200000} w=${RELP_WINDOW:-128} rport size rc=0 base http
	section "RELP: logseal serve --relp under load (relp_load: librelp client, SD-mapped syslog)"
	STEP="RELP: token"
	serve_start "$T/relp"
	serve_stop
	base=$(ckpt_size "$T/relp")
	STEP="RELP: serve --relp"
	rport=$(free_port)
	"$LOGSEAL" serve --data "$T/relp" --listen "127.0.0.1:$PORT" --relp "127.0.0.1:$rport" \
		--syslog-token-file "$T/writer.token" >"$T/serve.log" 2>&1 &
	SERVER_PID=$!
	wait_healthz "$PORT" "$SERVER_PID" 150 ||
		{ tail -20 "$T/serve.log" >&2; fail "server with --relp did not start"; }
	STEP="RELP: relp_load"
	"$BENCHBIN/relp_load" --port "$rport" --count "$n" --conns "$LOADGEN_CONNS" --window "$w" \
		--results "$RESULTS" --key relp >"$T/relp_load.log" 2>&1 || rc=$?
	if [ "$rc" = 2 ]; then
		line "RELP" "not measured: $(cat "$T/relp_load.log")"
		serve_stop
		return 0
	fi
	[ "$rc" = 0 ] || { cat "$T/relp_load.log" >&2; tail -20 "$T/serve.log" >&2; fail "relp_load exited with status $rc"; }
	serve_stop
	size=$(ckpt_size "$T/relp")
	[ "$size" -ge $((base + n)) ] 2>/dev/null ||
		fail "RELP: last checkpoint covers '${size}' entries, $((base + n)) expected"
	printf '  %-40s %12s events/s  (%s messages, %s connections, window %s; all in the log)\n' \
		"RELP (rsp 200 after the durable append)" "$(commas "$(get relp_eps)")" "$(commas "$n")" \
		"$LOADGEN_CONNS" "$w"
	for b in 1 100 1000; do
		http=$(get "http_b${b}_eps" 2>/dev/null) || continue
		printf '  %-40s %12s events/s\n' "  HTTP in this run, batches of $b" "$(commas "$http")"
	done
}
