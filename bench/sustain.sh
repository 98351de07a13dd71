# bench/sustain.sh - the sustained-ingest figures of `make bench` (issue 14),
# sourced by bench/run.sh (it uses run.sh's helpers: fail, get, commas, line,
# section, now, ckpt_size, serve_start, serve_stop; lib.sh's rss_*;
# pg_baseline.sh's pg_*; and run.sh's variables T, RESULTS, LOGSEAL,
# BENCHBIN, LOADGEN_CONNS, BENCH_SUSTAIN_*).
#
# sustain_section:
#   1. The free disk, printed, and a refusal when the run could fill it: the
#      bound is BENCH_SUSTAIN_SECONDS x BENCH_SUSTAIN_MAX_EPS events x 360 B
#      x the data directory's bytes per NDJSON byte (the disk section's ratio
#      of this run when it ran, else BENCH_DISK_RATIO, default 4.5: today's
#      4.3 and a margin) x 1.25, plus BENCH_MIN_FREE_MB; PostgreSQL's run
#      likewise with 2 KB a row (table, 5 indexes, WAL) at 100,000 rows/s.
#   2. PostgreSQL: LOADGEN_CONNS psql sessions, each fed by genev --copy
#      1000 (the engine shape loadgen posts: the same events) for
#      BENCH_PG_SUSTAIN_SECONDS (default: the logseal run's length up to
#      120 s; 10 minutes of PostgreSQL's rows and WAL would not fit most
#      disks next to logseal's), into the indexed append-only audit table,
#      one transaction a batch, fsync and synchronous_commit on.  Rows
#      inserted per second from pg_stat_user_tables, sampled every second
#      (PostgreSQL publishes them at most once a second: the min is over
#      10-s intervals); the mean from count(*) at the end.  Its search lag
#      is 0 by construction (the indexes are updated in the transaction).
#      The cluster is removed afterwards, to give its disk back.
#   3. logseal: a fresh `logseal serve`; loadgen (batches of 1000, the
#      engine shape, LOADGEN_CONNS connections) for BENCH_SUSTAIN_SECONDS,
#      and `qbench sustain` meanwhile: events/s every second (the log's
#      growth), the search lag of one probe a second, the server's RssAnon
#      every second, and free disk (below BENCH_MIN_FREE_MB the load is
#      stopped early and the run says so); then BENCH_SUSTAIN_AFTER (30)
#      seconds without load, for the memory after.  A line every
#      BENCH_SUSTAIN_REPORT (10) seconds.  The server must then stop with
#      exit 0 and a checkpoint covering every acknowledged event.
#
# sustain_summary: the figures against the issue's aims.

# sustain_pg: step 2.
sustain_pg() {
	local secs=$1 i pids=() t0 t1 rows rc=0
	STEP="sustained: PostgreSQL"
	pg_start "$T" || fail "could not start PostgreSQL"
	pg_create_table || fail "CREATE TABLE failed"
	(
		while :; do
			"${PSQL[@]}" -At -F ' ' -c "SELECT extract(epoch FROM clock_timestamp()), n_tup_ins FROM pg_stat_user_tables WHERE relname = 'audit'" 2>/dev/null || break
			sleep 1
		done
	) >"$T/pg-sustain.samples" &
	SAMPLER_PID=$!
	t0=$(now)
	for i in $(seq 1 "$LOADGEN_CONNS"); do
		"$BENCHBIN/genev" --copy 1000 --seconds "$secs" 0 "$((100 + i))" |
			"${PSQL[@]}" >"$T/pg-sustain-$i.log" 2>&1 &
		pids+=($!)
		BG_PIDS="$BG_PIDS $!"
	done
	for i in "${pids[@]}"; do
		wait "$i" || rc=$?
	done
	t1=$(now)
	BG_PIDS=""
	kill "$SAMPLER_PID" 2>/dev/null || true
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=""
	[ "$rc" = 0 ] || { tail -5 "$T"/pg-sustain-*.log >&2; fail "a psql session failed ($rc)"; }
	rows=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM audit')
	echo "sus_pg_eps $(awk -v n="$rows" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", n / (b - a) }')" >>"$RESULTS"
	# 10-s intervals of the samples: "t rate" (a shorter tail is left out).
	awk -v t0="$t0" 'NF == 2 { t[NR] = $1; c[NR] = $2; n = NR }
		END { j = 1; for (i = 2; i <= n; i++) if (t[i] - t[j] >= 9.5) {
			printf "%.0f %.6f\n", t[i] - t0, (c[i] - c[j]) / (t[i] - t[j]); j = i } }' \
		"$T/pg-sustain.samples" >"$T/pg-sustain.intervals"
	awk '{ printf "  t=%4d s  PostgreSQL %9.0f rows/s\n", $1, $2 }' "$T/pg-sustain.intervals"
	echo "sus_pg_eps_min $(awk 'NR == 1 || $2 < m { m = $2 } END { printf "%.6f", m }' "$T/pg-sustain.intervals")" >>"$RESULTS"
	echo "sus_pg_seconds $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >>"$RESULTS"
	line "PostgreSQL sustained" "mean $(commas "$(get sus_pg_eps)") rows/s over $(get sus_pg_seconds) s ($(commas "$rows") rows, $LOADGEN_CONNS sessions, COPY batches of 1000, each its own transaction), min $(commas "$(get sus_pg_eps_min)") rows/s over 10 s; search lag 0 (indexed in the transaction); table + indexes $("${PSQL[@]}" -At -c "SELECT pg_size_pretty(pg_total_relation_size('audit'))")"
	pg_remove
}

sustain_section() {
	local secs=$BENCH_SUSTAIN_SECONDS pg_secs free ratio need_ls need_pg rc size acc bytes
	pg_secs=${BENCH_PG_SUSTAIN_SECONDS:-$(( secs < 120 ? secs : 120 ))}
	section "sustained ingest: ${secs} s of HTTP load at full rate (loadgen, batches of 1000, $LOADGEN_CONNS connections) vs PostgreSQL"

	STEP="sustained: free disk"
	free=$(df -Pk "$T" | awk 'NR == 2 { printf "%.0f", $4 * 1024 }')
	ratio=$(get st_disk_ratio 2>/dev/null || echo "")
	if [ -n "$ratio" ]; then
		ratio_from="this run's disk section"
	else
		ratio=${BENCH_DISK_RATIO:-4.5}
		ratio_from="BENCH_DISK_RATIO (the disk section did not run)"
	fi
	need_ls=$(awk -v s="$secs" -v e="$BENCH_SUSTAIN_MAX_EPS" -v r="$ratio" -v m="$BENCH_MIN_FREE_MB" \
		'BEGIN { if (r < 0.5) r = 0.5; printf "%.0f", s * e * 360 * r * 1.25 + m * 1048576 }')
	need_pg=$(awk -v s="$pg_secs" -v m="$BENCH_MIN_FREE_MB" 'BEGIN { printf "%.0f", s * 100000 * 2000 + m * 1048576 }')
	line "free disk" "$(awk -v f="$free" 'BEGIN { printf "%.1f GiB", f / 2^30 }') on $(df -P "$T" | awk 'NR == 2 { print $6 }')"
	line "  logseal needs at most" "$(awk -v f="$need_ls" 'BEGIN { printf "%.1f GiB", f / 2^30 }') ($secs s x $(commas "$BENCH_SUSTAIN_MAX_EPS") events/s x 360 B x ratio $(printf '%.3f' "$ratio") from $ratio_from x 1.25, + $BENCH_MIN_FREE_MB MiB kept free)"
	line "  PostgreSQL needs at most" "$(awk -v f="$need_pg" 'BEGIN { printf "%.1f GiB", f / 2^30 }') ($pg_secs s x 100,000 rows/s x 2 KB, + $BENCH_MIN_FREE_MB MiB; removed before logseal's run)"
	if [ "$free" -lt "$need_ls" ] || [ "$free" -lt "$need_pg" ]; then
		fail "not enough free disk for BENCH_SUSTAIN_SECONDS=$secs (see above): lower BENCH_SUSTAIN_SECONDS, BENCH_PG_SUSTAIN_SECONDS or BENCH_SUSTAIN_MAX_EPS, run the disk section first (its measured ratio replaces BENCH_DISK_RATIO=4.5, today's format) or point BENCH_TMP at a larger disk"
	fi

	sustain_pg "$pg_secs"

	STEP="sustained: logseal serve"
	serve_start "$T/sustain"
	STEP="sustained: loadgen and qbench sustain"
	"$BENCHBIN/loadgen" --port "$PORT" --token-file "$T/writer.token" --batch 1000 \
		--conns "$LOADGEN_CONNS" --seconds "$secs" --results "$RESULTS" --key sus_load \
		>"$T/sustain-loadgen.log" 2>&1 &
	LOADGEN_PID=$!
	"$BENCHBIN/qbench" sustain --port "$PORT" --token-file "$T/sustain/admin.token" \
		--writer-token-file "$T/writer.token" --pid "$SERVER_PID" --seconds "$secs" \
		--after "$BENCH_SUSTAIN_AFTER" --report "$BENCH_SUSTAIN_REPORT" --lag-cap "$BENCH_LAG_CAP" \
		--data "$T/sustain" --min-free-mb "$BENCH_MIN_FREE_MB" --stop-pid "$LOADGEN_PID" \
		--samples "$T/sustain.samples" --results "$RESULTS" --key sus ||
		{ rc=$?; tail -20 "$T/serve.log" >&2; fail "qbench sustain exited with status $rc"; }
	rc=0; wait "$LOADGEN_PID" || rc=$?
	LOADGEN_PID=""
	[ "$rc" = 0 ] || { cat "$T/sustain-loadgen.log" >&2; fail "loadgen exited with status $rc"; }
	line "loadgen" "$(sed -n 's/^ *HTTP batch[^0-9]*1000, [0-9]* conns *//p' "$T/sustain-loadgen.log" | head -1)"
	grep -E 'status|errors|SIGTERM' "$T/sustain-loadgen.log" | sed 's/^ */    /' || true
	serve_stop 120
	size=$(ckpt_size "$T/sustain")
	acc=$(get sus_load_accepted)
	[ "${size:-0}" -ge "$acc" ] 2>/dev/null ||
		fail "last checkpoint covers '${size}' entries but $acc were acknowledged"
	bytes=$(du -sb "$T/sustain" | cut -f1)
	line "server stopped by SIGTERM" "exit 0; checkpoint covers $(commas "$size") entries; data dir $(awk -v b="$bytes" 'BEGIN { printf "%.2f GiB", b / 2^30 }') = $(awk -v b="$bytes" -v n="$acc" 'BEGIN { printf "%.3f", b / (n * 351) }') of the ~$(awk -v n="$acc" 'BEGIN { printf "%.2f GiB", n * 351 / 2^30 }') NDJSON posted"
}

sustain_summary() {
	local pg ls
	pg=$(get sus_pg_eps); ls=$(get sus_eps_mean)
	echo
	echo "  sustained ingest, $(printf '%.0f' "$(get sus_seconds)") s (issue 14's aims are stated for 600 s: BENCH_FULL=1)"
	target "sustained ingest, mean" "$ls" 150000 \
		"$(commas "$ls")/s (min $(commas "$(get sus_eps_min)")/s); PostgreSQL $(commas "$pg")/s = $(awk -v a="$ls" -v b="$pg" 'BEGIN { printf "%.2fx", a / b }') (>= 150k/s)"
	target "search lag p99, bounded throughout" "$(awk -v p="$(get sus_lag_p99_s)" -v b="$(get sus_bounded)" 'BEGIN { print (p <= 2 && b == 1) ? 1 : 0 }')" 1 \
		"p50 $(printf '%.3f' "$(get sus_lag_p50_s)") p99 $(printf '%.3f' "$(get sus_lag_p99_s)") max $(printf '%.3f' "$(get sus_lag_max_s)") s, $(get sus_lag_censored) lost (<= 2 s)"
	target "memory: server during/after the load" "$(awk -v a="$(get sus_rss_peak_kb)" -v b="$(get sus_rss_after_peak_kb)" 'BEGIN { print (a <= 262144 && b <= 262144) ? 1 : 0 }')" 1 \
		"peak RssAnon $(awk -v a="$(get sus_rss_peak_kb)" 'BEGIN { printf "%.0f", a / 1024 }') MiB, after $(awk -v a="$(get sus_rss_after_peak_kb)" 'BEGIN { printf "%.0f", a / 1024 }') MiB (<= 256 MiB)"
	if [ "$(get sus_stopped_early)" = 1 ]; then
		echo "  the sustained load was STOPPED EARLY: free disk fell below $BENCH_MIN_FREE_MB MiB"
		missed=$((missed + 1))
	fi
}
