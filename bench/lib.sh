# bench/lib.sh - shell helpers the bench scripts share; sourced, never run:
# by run.sh (and so by read.sh, which run.sh sources), pg_baseline.sh,
# idem_start.sh and denial_flood.sh.  It defines functions only and sets
# no options or traps; the one variable it sets is RSS_WATCH_PID
# (rss_watch_start), for the caller's cleanup.
#
#   free_port                      a free TCP port on 127.0.0.1
#   wait_healthz PORT PID TRIES [INTERVAL]
#                                  poll GET /healthz until it answers 2xx
#   admin_hdr DATA OUT             the admin token's header line, in a file
#   writer_token PORT HDR NAME OUT a new writer token, in a file
#   rss_now_mib PID                a process's RssAnon now, MiB
#   rss_watch_start PID OUT [S]    sample its RssAnon (kB) into OUT every S
#                                  seconds (0.2) until it exits or
#   rss_watch_stop                 stops the sampler
#   rss_peak_mib FILE              the largest sample of FILE, MiB
#   run_measured OUT IN CMD...     run CMD (stdin IN) with OUT.log, its
#                                  RssAnon samples in OUT.rss and
#                                  "wall user sys" seconds in OUT.time
#
# Secrets go through files (mode 0600), never on a command line.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_healthz PORT PID TRIES [INTERVAL]: 0 once GET /healthz on PORT
# answers 2xx; 1 when the process PID has gone or TRIES polls INTERVAL
# seconds apart (default 0.1) went unanswered.
wait_healthz() {
	local _
	for _ in $(seq 1 "$3"); do
		curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep "${4:-0.1}"
	done
	return 1
}

# admin_hdr DATA OUT: "Authorization: Bearer <DATA/admin.token>" in OUT,
# for curl -H @OUT.
admin_hdr() {
	(
		umask 077
		printf 'Authorization: Bearer %s\n' "$(head -1 "$1/admin.token")" >"$2"
	)
}

# writer_token PORT HDR NAME OUT: POST /v1/tokens with the admin header file
# HDR for a writer token named NAME; its secret in OUT, the reply in
# OUT.json.  1 when the request failed, 2 when the reply held no token.
writer_token() {
	(
		umask 077
		curl -fsS -X POST -H @"$2" -H 'Content-Type: application/json' \
			-d "{\"role\":\"writer\",\"name\":\"$3\"}" "http://127.0.0.1:$1/v1/tokens" \
			>"$4.json" || exit 1
		python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$4.json" \
			>"$4" || exit 2
	)
}

# rss_now_mib PID: RssAnon of PID (anonymous memory: heap, stacks, anonymous
# mmaps; not the page cache), in MiB, 0 when it has gone.
rss_now_mib() {
	awk '/^RssAnon:/ { printf "%.0f", $2 / 1024; f = 1 } END { if (!f) print 0 }' \
		/proc/"$1"/status 2>/dev/null || echo 0
}

# rss_watch_start PID OUT [INTERVAL]: a background sampler of PID's RssAnon
# (kB, one line a sample) into OUT; its PID in RSS_WATCH_PID.
rss_watch_start() {
	(
		while kill -0 "$1" 2>/dev/null; do
			awk '/^RssAnon:/ { print $2 }' /proc/"$1"/status 2>/dev/null
			sleep "${3:-0.2}"
		done
	) >"$2" &
	RSS_WATCH_PID=$!
}

rss_watch_stop() {
	[ -n "${RSS_WATCH_PID:-}" ] || return 0
	kill "$RSS_WATCH_PID" 2>/dev/null || true
	wait "$RSS_WATCH_PID" 2>/dev/null || true
	RSS_WATCH_PID=""
}

rss_peak_mib() { awk '$1 > m { m = $1 } END { printf "%.0f", m / 1024 }' "$1"; }

# run_measured OUT IN CMD...: runs CMD with stdin IN and its output in
# OUT.log; samples its RssAnon every 0.2 s into OUT.rss; writes "wall user
# sys" (seconds; user and sys of CMD, from the subshell's `times`) to
# OUT.time.  Returns CMD's exit status.
run_measured() {
	local out=$1 in=$2 sub pid rc=0 t0 t1
	shift 2
	rm -f "$out.pid"
	t0=$(date +%s.%N)
	(
		"$@" <"$in" >"$out.log" 2>&1 &
		echo $! >"$out.pid"
		r=0
		wait $! || r=$?
		# Not in a pipeline: a subshell's `times` knows no children.
		times >"$out.times"
		exit $r
	) &
	sub=$!
	while [ ! -s "$out.pid" ] && kill -0 "$sub" 2>/dev/null; do sleep 0.01; done
	pid=$(cat "$out.pid" 2>/dev/null || echo "$sub")
	rss_watch_start "$pid" "$out.rss"
	wait "$sub" || rc=$?
	t1=$(date +%s.%N)
	rss_watch_stop
	# times: "0m1.234s 0m0.567s" -> seconds.
	awk -v a="$t0" -v b="$t1" 'NR == 2 {
		split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%.3f %.2f %.2f\n", b - a, u[1] * 60 + u[2], s[1] * 60 + s[2] }' \
		"$out.times" >"$out.time" 2>/dev/null || echo "$t0 $t1" >"$out.time"
	return "$rc"
}
