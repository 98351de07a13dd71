# bench/read.sh - the read figures of `make bench`, sourced by bench/run.sh
# (it uses run.sh's helpers: fail, get, commas, line, section, now; lib.sh's
# free_port, wait_healthz, admin_hdr, writer_token; and run.sh's variables
# T, RESULTS, LOGSEAL, BENCHBIN, READ_*).
#
# read_section: READ_N events of the read shape (genev --shape read) go
# into a fresh PostgreSQL table (COPY, indexes built after, VACUUM ANALYZE)
# and into a fresh logseal data dir (`logseal import`).  Four auditor queries
# run on both, one client and one connection each, after a short warm-up:
#   actor   one actor over 30 days, newest first, limit 100
#   denied  outcome=denied for one action in one day
#   cidr    source_ip in one /16, newest first, limit 100
#   stats   counts by outcome per hour over the whole log
# (logseal: bench/qbench over keep-alive HTTP; PostgreSQL: pgbench over TCP,
# simple protocol, per-transaction latencies from its --log).  Actors, days,
# actions and networks are drawn at random per request from the same
# distributions on both sides.  Then logseal alone: inclusion proofs per
# second (GET /v1/events/{random index}), export MB/s (a bundle of the newest
# EXPORT_EVENTS events) next to PostgreSQL's COPY (SELECT event ...) TO
# STDOUT, and the index lag while loadgen posts batches of 1000.
#
# Every logseal read is audited: it appends an event and waits for its
# fdatasync before replying.  That is part of what is measured.
#
# read_summary: the table of the targets of issue 4 (each query's p99 under
# 20 ms, no slower than PostgreSQL; index lag under 2 s).

# pcts FILE: "p50 p99 n" of the numbers in FILE (one per line), nearest rank.
pcts() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "0 0 0"; exit }
		k50 = int(0.50 * NR + 0.999999); k99 = int(0.99 * NR + 0.999999)
		printf "%.6f %.6f %d\n", v[k50], v[k99], NR }'
}

# rfc3339 UNIX_SECONDS
rfc3339() { date -u -d "@$1" '+%Y-%m-%dT%H:%M:%SZ'; }

# read_requests: the request lists (logseal) and pgbench scripts (PostgreSQL).
read_requests() {
	python3 - "$T/rq" "$READ_N" "$READ_DAYS" "$READ_ACTORS" "$READ_START" "$READ_REQS" \
		"$PROOF_REQS" <<'EOF'
import random, sys, time
sys.path.insert(0, "bench")
import gen_events as g
d, n, days, actors, start, reqs, proofs = sys.argv[1], *map(int, sys.argv[2:])
rnd = random.Random(7)
heavy = max(1, actors // 100)
acts = sorted({a for a, _ in g.R_ACTIONS})
nets = [p for p, _ in g.NETS]
iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
def actor():
    return rnd.randrange(heavy) if rnd.random() < 0.2 else rnd.randrange(actors)
with open(d + "/actor.urls", "w") as f:
    for _ in range(reqs):
        t = start + rnd.randrange(max(1, days - 29)) * 86400
        f.write("/v1/events?actor=u%d&from=%s&to=%s&limit=100\n" % (actor(), iso(t), iso(t + 30 * 86400)))
with open(d + "/denied.urls", "w") as f:
    for _ in range(reqs):
        t = start + rnd.randrange(days) * 86400
        f.write("/v1/events?action=%s&outcome=denied&from=%s&to=%s&limit=100\n"
                % (rnd.choice(acts), iso(t), iso(t + 86400)))
with open(d + "/cidr.urls", "w") as f:
    for _ in range(reqs):
        f.write("/v1/events?source_ip=%s.0.0/16&limit=100\n" % rnd.choice(nets))
with open(d + "/stats.urls", "w") as f:
    f.write("/v1/events/stats?group_by=outcome&bucket=3600\n")
with open(d + "/proof.urls", "w") as f:
    for _ in range(proofs):
        f.write("/v1/events/%d\n" % rnd.randrange(n))
sql_list = lambda xs: ",".join("'%s'" % x for x in xs)
with open(d + "/actor.sql", "w") as f:
    f.write("\\set h random(1, 100)\n\\set hv random(0, %d)\n\\set a random(0, %d)\n"
            "\\set d random(0, %d)\n" % (heavy - 1, actors - 1, max(1, days - 29) - 1))
    f.write("SELECT event FROM audit WHERE actor = 'u' || (CASE WHEN :h <= 20 THEN :hv ELSE :a END)"
            " AND time >= to_timestamp(%d + :d * 86400) AND time < to_timestamp(%d + (:d + 30) * 86400)"
            " ORDER BY time DESC LIMIT 100;\n" % (start, start))
with open(d + "/denied.sql", "w") as f:
    f.write("\\set i random(1, %d)\n\\set d random(0, %d)\n" % (len(acts), days - 1))
    f.write("SELECT event FROM audit WHERE action = (ARRAY[%s])[:i] AND outcome = 'denied'"
            " AND time >= to_timestamp(%d + :d * 86400) AND time < to_timestamp(%d + (:d + 1) * 86400)"
            " ORDER BY time DESC LIMIT 100;\n" % (sql_list(acts), start, start))
with open(d + "/cidr.sql", "w") as f:
    f.write("\\set i random(1, %d)\n" % len(nets))
    f.write("SELECT event FROM audit WHERE source_ip << (ARRAY[%s]::inet[])[:i]"
            " ORDER BY time DESC LIMIT 100;\n" % sql_list(p + ".0.0/16" for p in nets))
with open(d + "/stats.sql", "w") as f:
    f.write("SELECT date_trunc('hour', time) AS hour, outcome, count(*) FROM audit GROUP BY 1, 2;\n")
EOF
}

# pg_query NAME REQS: pgbench runs $T/rq/NAME.sql REQS times (after a warm-up)
# and records pg_NAME_p50_ms / _p99_ms / _n.
pg_query() {
	local name=$1 reqs=$2 warm=$(( $2 < 50 ? 1 : 50 )) p
	local PGB=("$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U bench -c 1 -f "$T/rq/$name.sql")
	"${PGB[@]}" -t "$warm" postgres >"$T/pgbench-$name-warm.log" 2>&1 ||
		{ tail -5 "$T/pgbench-$name-warm.log" >&2; fail "pgbench $name (warm-up) failed"; }
	rm -f "$T/pgb-$name".[0-9]*
	"${PGB[@]}" -t "$reqs" -l --log-prefix="$T/pgb-$name" postgres >"$T/pgbench-$name.log" 2>&1 ||
		{ tail -5 "$T/pgbench-$name.log" >&2; fail "pgbench $name failed"; }
	cat "$T/pgb-$name".[0-9]* | awk '{ print $3 / 1000 }' >"$T/pgb-$name.ms"
	read -r p50 p99 n < <(pcts "$T/pgb-$name.ms")
	printf 'pg_%s_p50_ms %s\npg_%s_p99_ms %s\npg_%s_n %s\n' "$name" "$p50" "$name" "$p99" "$name" "$n" \
		>>"$RESULTS"
	printf '  %-40s p50 %8.2f ms  p99 %8.2f ms  (%s queries)\n' "PostgreSQL $name" "$p50" "$p99" "$n"
}

# ls_query NAME REQS SECONDS: qbench runs $T/rq/NAME.urls after a warm-up.
ls_query() {
	local name=$1 warm=$(( $2 < 50 ? 1 : 50 ))
	"$BENCHBIN/qbench" get --port "$READ_PORT" --token-file "$T/read/admin.token" \
		--urls "$T/rq/$name.urls" --requests "$warm" --seconds "$3" >/dev/null ||
		fail "qbench $name (warm-up) failed"
	printf '  %-40s ' "logseal $name"
	"$BENCHBIN/qbench" get --port "$READ_PORT" --token-file "$T/read/admin.token" \
		--urls "$T/rq/$name.urls" --requests "$2" --seconds "$3" \
		--results "$RESULTS" --key "ls_$name" || fail "qbench $name failed"
}

# watermark: what the SQLite index covers, from /readyz (0 when unknown).
# Not a query's watermark: that one counts the index's in-memory tail too,
# which reaches the log's end long before SQLite does, and queries over a
# large tail scan it row by row: the figures are for a caught-up index.
watermark() {
	curl -sS "http://127.0.0.1:$READ_PORT/readyz" 2>/dev/null |
		grep -o '"index_watermark":[0-9]*' | tail -1 | cut -d: -f2 || echo 0
}

read_section() {
	local t0 t1 wm got size export_from export_n rc

	STEP="read: generate events"
	section "read side: $(commas "$READ_N") events over $READ_DAYS days, logseal vs PostgreSQL 15"
	READ_END=$(( $(date +%s) - 300 ))
	READ_START=$(( READ_END - READ_DAYS * 86400 ))
	t0=$(now)
	"$BENCHBIN/genev" --shape read --days "$READ_DAYS" --actors "$READ_ACTORS" \
		--end "$READ_END" "$READ_N" 2 >"$T/read-events.ndjson" || fail "genev failed"
	got=$(grep -c '' "$T/read-events.ndjson")
	[ "$got" = "$READ_N" ] || fail "generated $got events, wanted $READ_N"
	line "events" "$(commas "$READ_N"), $(du -h "$T/read-events.ndjson" | cut -f1), $(rfc3339 "$READ_START") .. $(rfc3339 "$READ_END"), $(commas "$READ_ACTORS") actors (genev --shape read --days $READ_DAYS, seed 2, $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s)"
	mkdir -p "$T/rq"
	read_requests || fail "could not write the request lists"

	# --- PostgreSQL: load, index, analyze, query; then stopped (files kept
	# until the end) so that it does not compete with logseal.
	STEP="read: PostgreSQL load"
	pg_start "$T" || fail "could not start PostgreSQL"
	pg_create_table noindex || fail "CREATE TABLE failed"
	"$BENCHBIN/genev" --copy 100000000 --from-stdin 0 <"$T/read-events.ndjson" >"$T/read-load.sql" ||
		fail "NDJSON to COPY failed"
	chmod a+r "$T/read-load.sql"
	t0=$(now)
	"${PSQL[@]}" -f "$T/read-load.sql" >/dev/null || fail "COPY failed"
	t1=$(now)
	pg_create_indexes || fail "CREATE INDEX failed"
	"${PSQL[@]}" -c 'VACUUM ANALYZE audit' >/dev/null || fail "VACUUM ANALYZE failed"
	line "PostgreSQL load" "one COPY $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, then 5 indexes and VACUUM ANALYZE $(awk -v a="$t1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s; $("${PSQL[@]}" -At -c "SELECT pg_size_pretty(pg_total_relation_size('audit'))")"
	STEP="read: PostgreSQL queries (pgbench)"
	pg_query actor "$READ_REQS"
	pg_query denied "$READ_REQS"
	pg_query cidr "$READ_REQS"
	pg_query stats "$STATS_REQS"
	STEP="read: PostgreSQL export"
	export_from=$(( READ_END - (READ_END - READ_START) * EXPORT_EVENTS / READ_N ))
	[ "$export_from" -gt "$READ_START" ] || export_from=$READ_START
	t0=$(now)
	"${PSQL[@]}" -c "COPY (SELECT event FROM audit WHERE time >= to_timestamp($export_from) ORDER BY time) TO STDOUT" \
		>"$T/pg-export.out" || fail "PostgreSQL export failed"
	t1=$(now)
	export_n=$(grep -c '' "$T/pg-export.out")
	size=$(stat -c %s "$T/pg-export.out")
	awk -v n="$export_n" -v b="$size" -v a="$t0" -v c="$t1" -v res="$RESULTS" 'BEGIN {
		t = c - a; printf "pg_export_mbps %.6f\npg_export_eps %.6f\n", b / 1e6 / t, n / t >> res
		printf "  %-40s %.1f MB/s, %.0f events/s (%d events, %.1f MB, %.2f s)\n",
			"PostgreSQL export (COPY TO STDOUT)", b / 1e6 / t, n / t, n, b / 1e6, t }'
	pg_stop

	# --- logseal
	STEP="read: logseal import"
	"$LOGSEAL" init --data "$T/read" >"$T/read-init.log" 2>&1 ||
		{ cat "$T/read-init.log" >&2; fail "logseal init failed"; }
	t0=$(now)
	"$LOGSEAL" import --data "$T/read" <"$T/read-events.ndjson" >"$T/read-import.log" 2>&1 ||
		{ tail -20 "$T/read-import.log" >&2; fail "logseal import failed"; }
	t1=$(now)
	[ "$(ckpt_size "$T/read")" = "$READ_N" ] || fail "the checkpoint after import does not cover $READ_N entries"
	line "logseal import" "$(awk -v a="$t0" -v b="$t1" -v n="$READ_N" 'BEGIN { printf "%.1f s, %.0f events/s", b - a, n / (b - a) }')"

	STEP="read: logseal serve, index catch-up"
	READ_PORT=$(free_port)
	admin_hdr "$T/read" "$T/read-admin.hdr"
	t0=$(now)
	"$LOGSEAL" serve --data "$T/read" --listen "127.0.0.1:$READ_PORT" >"$T/read-serve.log" 2>&1 &
	SERVER_PID=$!
	wait_healthz "$READ_PORT" "$SERVER_PID" 300 ||
		{ tail -20 "$T/read-serve.log" >&2; fail "server did not answer /healthz within 30 s"; }
	# /readyz is not an audited read: the log stays at READ_N entries.
	wm=0
	while :; do
		wm=$(watermark)
		[ "${wm:-0}" -ge "$READ_N" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$T/read-serve.log" >&2; fail "server died while indexing"; }
		awk -v a="$t0" -v b="$(now)" -v m="$READ_INDEX_TIMEOUT" 'BEGIN { exit !(b - a > m) }' &&
			fail "index at ${wm:-0} of $READ_N entries after $READ_INDEX_TIMEOUT s"
		sleep 0.5
	done
	t1=$(now)
	echo "ls_index_catchup_eps $(awk -v a="$t0" -v b="$t1" -v n="$READ_N" 'BEGIN { printf "%.6f", n / (b - a) }')" >>"$RESULTS"
	line "index catch-up at start" "$(awk -v a="$t0" -v b="$t1" -v n="$READ_N" 'BEGIN { printf "%.1f s from start to watermark >= %d: %.0f entries/s", b - a, n, n / (b - a) }')"

	# PostgreSQL answered with its table hot in the page cache (its load,
	# index build and VACUUM ANALYZE had just read it all); give logseal the
	# same: read its journal and index once.  At 10M events the bench's
	# files (PostgreSQL's kept until the end, the events file, logseal's
	# segments, write-ahead log and index) outgrow the cache, and a cold
	# read per result would be measured instead of the query.
	t0=$(now)
	cat "$T/read/segments/"*.seal "$T/read/journal/"*.seg "$T/read/index/"*.post >/dev/null 2>&1 || true
	line "page cache warm-up (logseal)" "segments, journal and index read once, $(du -shc "$T/read/segments" "$T/read/journal" "$T/read/index" 2>/dev/null | tail -1 | cut -f1) in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"

	STEP="read: logseal queries (qbench)"
	ls_query actor "$READ_REQS" "$READ_SECONDS"
	ls_query denied "$READ_REQS" "$READ_SECONDS"
	ls_query cidr "$READ_REQS" "$READ_SECONDS"
	ls_query stats "$STATS_REQS" "$READ_SECONDS"
	STEP="read: inclusion proofs"
	ls_query proof "$PROOF_REQS" "$READ_SECONDS"

	STEP="read: logseal export"
	export_n=$(curl -fsS -H @"$T/read-admin.hdr" \
		"http://127.0.0.1:$READ_PORT/v1/events/stats?from=$(rfc3339 "$export_from")" |
		grep -o '"total":[0-9]*' | cut -d: -f2) || fail "stats for the export filter failed"
	echo "/v1/export?from=$(rfc3339 "$export_from")" >"$T/rq/export.urls"
	printf '  %-40s ' "logseal export ($(commas "$export_n") events)"
	"$BENCHBIN/qbench" get --port "$READ_PORT" --token-file "$T/read/admin.token" \
		--urls "$T/rq/export.urls" --requests 1 --seconds 600 \
		--results "$RESULTS" --key ls_export || fail "qbench export failed"
	echo "ls_export_eps $(awk -v n="$export_n" -v s="$(get ls_export_seconds)" 'BEGIN { printf "%.6f", n / s }')" >>"$RESULTS"
	echo "ls_export_events $export_n" >>"$RESULTS"

	STEP="read: index lag under ingest"
	writer_token "$READ_PORT" "$T/read-admin.hdr" bench-read "$T/read-writer.token" ||
		fail "POST /v1/tokens failed"
	"$BENCHBIN/loadgen" --port "$READ_PORT" --token-file "$T/read-writer.token" --batch 1000 \
		--conns "$LOADGEN_CONNS" --seconds "$LAG_SECONDS" --results "$RESULTS" --key lag_load \
		>"$T/lag-loadgen.log" 2>&1 &
	LOADGEN_PID=$!
	sleep 1
	printf '  %-40s ' "index lag (loadgen batches of 1000)"
	"$BENCHBIN/qbench" lag --port "$READ_PORT" --token-file "$T/read/admin.token" \
		--writer-token-file "$T/read-writer.token" --seconds "$((LAG_SECONDS - 2))" --interval 0.5 \
		--results "$RESULTS" --key lag || fail "qbench lag failed"
	rc=0; wait "$LOADGEN_PID" || rc=$?
	LOADGEN_PID=""
	[ "$rc" = 0 ] || { cat "$T/lag-loadgen.log" >&2; fail "loadgen exited with status $rc"; }
	line "  ingest meanwhile" "$(sed -n 's/^ *//; 1p' "$T/lag-loadgen.log" | cut -c1-100)"

	STEP="read: stop the server (SIGTERM)"
	kill -TERM "$SERVER_PID"
	rc=0; wait "$SERVER_PID" || rc=$?
	SERVER_PID=""
	[ "$rc" = 0 ] || { tail -20 "$T/read-serve.log" >&2; fail "server exited with status $rc after SIGTERM"; }
}

# read_row NAME LABEL: one row of the query table, with its verdict.
read_row() {
	local lp50 lp99 pp50 pp99 verdict
	lp50=$(get "ls_$1_p50_ms"); lp99=$(get "ls_$1_p99_ms")
	pp50=$(get "pg_$1_p50_ms"); pp99=$(get "pg_$1_p99_ms")
	verdict=$(awk -v l="$lp99" -v p="$pp99" 'BEGIN {
		if (l < 20 && l <= p) print "ok"
		else if (l >= 20 && l > p) print "BELOW TARGET (p99 >= 20 ms, slower than PostgreSQL)"
		else if (l >= 20) print "BELOW TARGET (p99 >= 20 ms)"
		else print "BELOW TARGET (slower than PostgreSQL)" }')
	[ "$verdict" = ok ] || missed=$((missed + 1))
	printf '  %-34s %8.2f %9.2f   %8.2f %9.2f   %7.2fx   %s\n' "$2" "$lp50" "$lp99" "$pp50" "$pp99" \
		"$(awk -v l="$lp99" -v p="$pp99" 'BEGIN { print (l > 0 ? p / l : 0) }')" "$verdict"
}

read_summary() {
	local lag
	echo
	echo "  read side, $(commas "$READ_N") events (targets of issue 4, stated for 10 million: p99 < 20 ms and no slower than PostgreSQL)"
	printf '  %-34s %8s %9s   %8s %9s   %8s   %s\n' "query (one client)" "logseal" "p99 ms" "PG p50" \
		"p99 ms" "PG/ls p99" "verdict"
	printf '  %-34s %8s\n' "" "p50 ms"
	read_row actor "one actor, 30 days, limit 100"
	read_row denied "denied, one action, one day"
	read_row cidr "one /16, limit 100"
	read_row stats "by outcome per hour, whole log"
	line "inclusion proofs (1 connection)" "$(commas "$(get ls_proof_rps)")/s, p50 $(printf '%.2f' "$(get ls_proof_p50_ms)") ms, p99 $(printf '%.2f' "$(get ls_proof_p99_ms)") ms"
	line "export, bundle format" "$(printf '%.1f' "$(get ls_export_mbps)") MB/s, $(commas "$(get ls_export_eps)") events/s ($(commas "$(get ls_export_events)") events with proofs); PostgreSQL COPY TO STDOUT $(printf '%.1f' "$(get pg_export_mbps)") MB/s, $(commas "$(get pg_export_eps)") events/s"
	lag=$(get lag_max_s)
	if awk -v l="$lag" 'BEGIN { exit !(l < 2) }'; then v=ok; else v="BELOW TARGET"; missed=$((missed + 1)); fi
	printf '  %-40s %-44s %s\n' "index lag at full ingest" \
		"max $(printf '%.2f' "$lag") s (~$(commas "$(get lag_max_entries_est)") entries at $(commas "$(get lag_rate_eps)")/s) (< 2 s)" "$v"
}
