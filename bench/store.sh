# bench/store.sh - the storage figures of `make bench` (issue 14), sourced by
# bench/run.sh (it uses run.sh's helpers: fail, get, commas, line, section,
# now, ckpt_size; lib.sh's free_port, wait_healthz, admin_hdr, rss_*,
# run_measured; read.sh's pcts and pg_query; pg_baseline.sh's pg_*; and
# run.sh's variables T, RESULTS, LOGSEAL, BENCHBIN, READ_DAYS, READ_ACTORS,
# READ_REQS, READ_SECONDS, STATS_REQS, BENCH_DISK_EVENTS).
#
# store_section: BENCH_DISK_EVENTS events of the read shape (bench/genev,
# one NDJSON file) go into a fresh PostgreSQL table and into a fresh logseal
# data directory, and on that one directory, in this order:
#   disk     `logseal import` (events/s, peak RssAnon), then every byte of
#            the directory (du -sb, the server closed) / the NDJSON's bytes,
#            by subdirectory; PostgreSQL: the table with its indexes, and
#            its whole cluster directory (WAL included), over the same bytes
#   reindex  `logseal reindex --data DIR`: entries/s, peak RssAnon;
#            PostgreSQL: REINDEX TABLE audit (its five indexes), rows/s
#   verify   `logseal verify --data DIR`: entries/s, CPU seconds, peak
#            RssAnon; PostgreSQL: pg_amcheck --heapallindexed (the table and
#            every index checked against it), rows/s
#   queries  the read section's four queries (actor over 30 days, denied in
#            one day for one action, one /16 newest first, stats by outcome
#            per hour) plus a CIDR /16 within one day and an action prefix
#            (user.*, db.*, ...) within one day; one client, p50/p99, against
#            pgbench with the equivalent SQL on the indexed table; the
#            server's peak RssAnon while it answers them
# The sections are chosen with BENCH_SECTIONS (disk reindex verify queries);
# any of them makes the import.  PostgreSQL runs first and is removed once
# its figures are taken (its cluster is the largest thing on the disk).
#
# store_summary: the figures against the issue's aims.

STORE_Q="actor denied cidr stats cidr_day prefix"

# store_requests: the request lists (logseal) and pgbench scripts
# (PostgreSQL) of the six queries, drawn alike on both sides.
store_requests() {
	python3 - "$T/sq" "$BENCH_DISK_EVENTS" "$READ_DAYS" "$READ_ACTORS" "$STORE_START" "$READ_REQS" <<'EOF'
import random, sys, time
sys.path.insert(0, "bench")
import gen_events as g
d, n, days, actors, start, reqs = sys.argv[1], *map(int, sys.argv[2:])
rnd = random.Random(9)
heavy = max(1, actors // 100)
acts = sorted({a for a, _ in g.R_ACTIONS})
prefixes = sorted({a.split(".")[0] for a in acts})
nets = [p for p, _ in g.NETS]
iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
def actor():
    return rnd.randrange(heavy) if rnd.random() < 0.2 else rnd.randrange(actors)
def day():
    return start + rnd.randrange(days) * 86400
def urls(name, make):
    with open("%s/%s.urls" % (d, name), "w") as f:
        for _ in range(reqs):
            f.write(make() + "\n")
def month():
    t = start + rnd.randrange(max(1, days - 29)) * 86400
    return "from=%s&to=%s" % (iso(t), iso(t + 30 * 86400))
def oneday():
    t = day()
    return "from=%s&to=%s" % (iso(t), iso(t + 86400))
urls("actor", lambda: "/v1/events?actor=u%d&%s&limit=100" % (actor(), month()))
urls("denied", lambda: "/v1/events?action=%s&outcome=denied&%s&limit=100" % (rnd.choice(acts), oneday()))
urls("cidr", lambda: "/v1/events?source_ip=%s.0.0/16&limit=100" % rnd.choice(nets))
urls("cidr_day", lambda: "/v1/events?source_ip=%s.0.0/16&%s&limit=100" % (rnd.choice(nets), oneday()))
urls("prefix", lambda: "/v1/events?action=%s.*&%s&limit=100" % (rnd.choice(prefixes), oneday()))
with open(d + "/stats.urls", "w") as f:
    f.write("/v1/events/stats?group_by=outcome&bucket=3600\n")
arr = lambda xs: "ARRAY[%s]" % ",".join("'%s'" % x for x in xs)
day_sql = ("time >= to_timestamp(%d + :d * 86400) AND time < to_timestamp(%d + (:d + 1) * 86400)"
           % (start, start))
order = " ORDER BY time DESC LIMIT 100;\n"
def sql(name, head, where):
    with open("%s/%s.sql" % (d, name), "w") as f:
        f.write(head)
        f.write("SELECT event FROM audit WHERE " + where + order)
sql("actor", "\\set h random(1, 100)\n\\set hv random(0, %d)\n\\set a random(0, %d)\n"
    "\\set d random(0, %d)\n" % (heavy - 1, actors - 1, max(1, days - 29) - 1),
    "actor = 'u' || (CASE WHEN :h <= 20 THEN :hv ELSE :a END)"
    " AND time >= to_timestamp(%d + :d * 86400) AND time < to_timestamp(%d + (:d + 30) * 86400)"
    % (start, start))
sql("denied", "\\set i random(1, %d)\n\\set d random(0, %d)\n" % (len(acts), days - 1),
    "action = (%s)[:i] AND outcome = 'denied' AND %s" % (arr(acts), day_sql))
sql("cidr", "\\set i random(1, %d)\n" % len(nets),
    "source_ip << (%s::inet[])[:i]" % arr(p + ".0.0/16" for p in nets))
sql("cidr_day", "\\set i random(1, %d)\n\\set d random(0, %d)\n" % (len(nets), days - 1),
    "source_ip << (%s::inet[])[:i] AND %s" % (arr(p + ".0.0/16" for p in nets), day_sql))
# The table's collation is C (initdb --no-locale): LIKE 'x.%' uses the
# (action, time) index as a range.
sql("prefix", "\\set i random(1, %d)\n\\set d random(0, %d)\n" % (len(prefixes), days - 1),
    "action LIKE (%s)[:i] || '.%%' AND %s" % (arr(prefixes), day_sql))
with open(d + "/stats.sql", "w") as f:
    f.write("SELECT date_trunc('hour', time) AS hour, outcome, count(*) FROM audit GROUP BY 1, 2;\n")
EOF
}

# store_du DIR PREFIX: the directory's bytes (du -sb) by subdirectory
# (journal/, segments/, index/ and log/ always, any other entry of 64 KiB
# or more by name, the rest together), printed over the NDJSON's bytes and
# recorded as PREFIX_<sub>_bytes and PREFIX_bytes.
store_du() {
	local dir=$1 key=$2 total sub b small=0 e
	total=$(du -sb "$dir" | cut -f1)
	for sub in journal segments index log; do
		b=0
		[ -e "$dir/$sub" ] && b=$(du -sb "$dir/$sub" | cut -f1)
		echo "${key}_${sub}_bytes $b" >>"$RESULTS"
		store_du_line "  $sub/" "$b"
	done
	for e in "$dir"/*; do
		sub=${e##*/}
		case " journal segments index log " in *" $sub "*) continue ;; esac
		b=$(du -sb "$e" | cut -f1)
		if [ "$b" -ge 65536 ]; then
			store_du_line "  $sub$([ -d "$e" ] && echo /)" "$b"
		else
			small=$((small + b))
		fi
	done
	store_du_line "  other files (each < 64 KiB)" "$small"
	echo "${key}_bytes $total" >>"$RESULTS"
	store_du_line "  total (du -sb)" "$total"
}
store_du_line() {
	printf '  %-40s %14s bytes  %6.3f of the NDJSON\n' "$1" "$(commas "$2")" \
		"$(awk -v a="$2" -v n="$STORE_BYTES" 'BEGIN { print a / n }')"
}

# store_rate OUT N: "entries/s wall user sys peak-MiB" of a run_measured OUT.
store_rate() {
	echo "$(awk -v n="$2" '{ printf "%.6f %.3f", n / $1, $1 }' "$1.time") \
$(cut -d' ' -f2,3 "$1.time") $(rss_peak_mib "$1.rss")"
}

# ls_query6 NAME REQS SECONDS: qbench on the store's server.
store_ls_query() {
	local name=$1 warm=$(( $2 < 50 ? 1 : 50 ))
	"$BENCHBIN/qbench" get --port "$STORE_PORT" --token-file "$T/store/admin.token" \
		--urls "$T/sq/$name.urls" --requests "$warm" --seconds "$3" >/dev/null ||
		fail "qbench $name (warm-up) failed"
	printf '  %-40s ' "logseal $name"
	"$BENCHBIN/qbench" get --port "$STORE_PORT" --token-file "$T/store/admin.token" \
		--urls "$T/sq/$name.urls" --requests "$2" --seconds "$3" \
		--results "$RESULTS" --key "st_ls_$name" || fail "qbench $name failed"
}

store_section() {
	local t0 t1 got free need rows r eps wall user sys mib q reqs pgdir

	N_ST=$BENCH_DISK_EVENTS
	section "storage: $(commas "$N_ST") events (read shape): disk, reindex, verify, queries, memory vs PostgreSQL 15"
	STEP="store: free disk"
	free=$(df -Pk "$T" | awk 'NR == 2 { printf "%.0f", $4 * 1024 }')
	# The NDJSON, PostgreSQL's cluster (~3x the NDJSON with its indexes and
	# WAL) and today's logseal directory (4.3x): a bound, not a prediction.
	need=$(awk -v n="$N_ST" 'BEGIN { printf "%.0f", n * 360 * 9 }')
	line "free disk" "$(awk -v f="$free" 'BEGIN { printf "%.1f GiB", f / 2^30 }') on $(df -P "$T" | awk 'NR == 2 { print $6 }'); this section needs at most ~$(awk -v f="$need" 'BEGIN { printf "%.1f GiB", f / 2^30 }')"
	[ "$free" -gt "$need" ] ||
		fail "not enough free disk for BENCH_DISK_EVENTS=$N_ST (needs ~$((need >> 30)) GiB, $((free >> 30)) GiB free): lower it or point BENCH_TMP at a larger disk"

	STEP="store: generate events"
	STORE_END=$(( $(date +%s) - 300 ))
	STORE_START=$(( STORE_END - READ_DAYS * 86400 ))
	t0=$(now)
	"$BENCHBIN/genev" --shape read --days "$READ_DAYS" --actors "$READ_ACTORS" --end "$STORE_END" \
		"$N_ST" 3 >"$T/store-events.ndjson" || fail "genev failed"
	t1=$(now)
	got=$(grep -c '' "$T/store-events.ndjson")
	[ "$got" = "$N_ST" ] || fail "generated $got events, wanted $N_ST"
	STORE_BYTES=$(stat -c %s "$T/store-events.ndjson")
	echo "st_ndjson_bytes $STORE_BYTES" >>"$RESULTS"
	line "events" "$(commas "$N_ST"), $(commas "$STORE_BYTES") bytes of NDJSON ($(awk -v b="$STORE_BYTES" -v n="$N_ST" 'BEGIN { printf "%.0f", b / n }') B each), $READ_DAYS days, $(commas "$READ_ACTORS") actors (bench/genev --shape read, seed 3, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)"
	mkdir -p "$T/sq"
	store_requests || fail "could not write the request lists"

	# --- PostgreSQL: load, indexes, sizes, REINDEX, amcheck, queries.
	STEP="store: PostgreSQL load"
	pg_start "$T" || fail "could not start PostgreSQL"
	pg_create_table noindex || fail "CREATE TABLE failed"
	"$BENCHBIN/genev" --copy 100000000 --from-stdin 0 <"$T/store-events.ndjson" >"$T/store-load.sql" ||
		fail "NDJSON to COPY failed"
	chmod a+r "$T/store-load.sql"
	t0=$(now)
	"${PSQL[@]}" -f "$T/store-load.sql" >/dev/null || fail "COPY failed"
	t1=$(now)
	rm -f "$T/store-load.sql"
	pg_create_indexes || fail "CREATE INDEX failed"
	"${PSQL[@]}" -c 'VACUUM ANALYZE audit' >/dev/null || fail "VACUUM ANALYZE failed"
	"${PSQL[@]}" -c 'CHECKPOINT' >/dev/null || fail "CHECKPOINT failed"
	line "PostgreSQL load" "one COPY $(awk -v a="$t0" -v b="$t1" -v n="$N_ST" 'BEGIN { printf "%.1f s (%.0f rows/s)", b - a, n / (b - a) }'), then 5 indexes, VACUUM ANALYZE, CHECKPOINT $(awk -v a="$t1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
	rows=$("${PSQL[@]}" -At -c "SELECT pg_total_relation_size('audit')")
	pgdir=$("${PG_AS[@]}" du -sb "$PG_WORK/data" | cut -f1)
	echo "st_pg_table_bytes $rows" >>"$RESULTS"
	echo "st_pg_cluster_bytes $pgdir" >>"$RESULTS"
	line "PostgreSQL disk" "table + 5 indexes $(commas "$rows") bytes = $(awk -v a="$rows" -v n="$STORE_BYTES" 'BEGIN { printf "%.3f", a / n }') of the NDJSON; cluster dir (WAL, catalogs) $(commas "$pgdir") = $(awk -v a="$pgdir" -v n="$STORE_BYTES" 'BEGIN { printf "%.3f", a / n }')"
	if has reindex; then
		STEP="store: PostgreSQL REINDEX"
		t0=$(now)
		"${PSQL[@]}" -c 'REINDEX TABLE audit' >/dev/null || fail "REINDEX failed"
		t1=$(now)
		eps=$(awk -v a="$t0" -v b="$t1" -v n="$N_ST" 'BEGIN { printf "%.6f", n / (b - a) }')
		echo "st_pg_reindex_eps $eps" >>"$RESULTS"
		line "PostgreSQL REINDEX TABLE (5 indexes)" "$(commas "$eps") rows/s ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)"
	fi
	if has verify; then
		STEP="store: PostgreSQL pg_amcheck"
		"${PSQL[@]}" -c 'CREATE EXTENSION IF NOT EXISTS amcheck' >/dev/null || fail "CREATE EXTENSION amcheck failed"
		t0=$(now)
		"$PGBIN/pg_amcheck" -h "$PG_WORK" -p "$PG_PORT" -U bench -d postgres -t audit \
			--heapallindexed >"$T/pg-amcheck.log" 2>&1 ||
			{ tail -5 "$T/pg-amcheck.log" >&2; fail "pg_amcheck failed"; }
		t1=$(now)
		eps=$(awk -v a="$t0" -v b="$t1" -v n="$N_ST" 'BEGIN { printf "%.6f", n / (b - a) }')
		echo "st_pg_verify_eps $eps" >>"$RESULTS"
		line "PostgreSQL pg_amcheck --heapallindexed" "$(commas "$eps") rows/s ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; heap and 5 indexes, every row found in every index)"
	fi
	if has queries; then
		STEP="store: PostgreSQL queries (pgbench)"
		for q in $STORE_Q; do
			reqs=$READ_REQS
			[ "$q" = stats ] && reqs=$STATS_REQS
			store_pg_query "$q" "$reqs"
		done
	fi
	pg_remove

	# --- logseal
	STEP="store: logseal import"
	"$LOGSEAL" init --data "$T/store" >"$T/store-init.log" 2>&1 ||
		{ cat "$T/store-init.log" >&2; fail "logseal init failed"; }
	run_measured "$T/st-import" "$T/store-events.ndjson" "$LOGSEAL" import --data "$T/store" ||
		{ tail -20 "$T/st-import.log" >&2; fail "logseal import failed"; }
	[ "$(ckpt_size "$T/store")" = "$N_ST" ] || fail "the checkpoint after import does not cover $N_ST entries"
	read -r eps wall user sys mib <<<"$(store_rate "$T/st-import" "$N_ST")"
	printf 'st_import_eps %s\nst_import_rss_mib %s\n' "$eps" "$mib" >>"$RESULTS"
	line "logseal import" "$(commas "$eps") events/s ($wall s, CPU user $user s + sys $sys s); peak RssAnon $mib MiB"

	if has reindex; then
		STEP="store: logseal reindex"
		run_measured "$T/st-reindex" /dev/null "$LOGSEAL" reindex --data "$T/store" ||
			{ tail -20 "$T/st-reindex.log" >&2; fail "logseal reindex failed"; }
		read -r eps wall user sys mib <<<"$(store_rate "$T/st-reindex" "$N_ST")"
		printf 'st_reindex_eps %s\nst_reindex_rss_mib %s\n' "$eps" "$mib" >>"$RESULTS"
		line "logseal reindex --data" "$(commas "$eps") entries/s ($wall s, CPU user $user s + sys $sys s); peak RssAnon $mib MiB"
	fi
	if has verify; then
		STEP="store: logseal verify"
		run_measured "$T/st-verify" /dev/null "$LOGSEAL" verify --data "$T/store" ||
			{ tail -20 "$T/st-verify.log" >&2; fail "logseal verify failed"; }
		read -r eps wall user sys mib <<<"$(store_rate "$T/st-verify" "$N_ST")"
		printf 'st_verify_eps %s\nst_verify_rss_mib %s\n' "$eps" "$mib" >>"$RESULTS"
		line "logseal verify --data" "$(commas "$eps") entries/s ($wall s, CPU user $user s + sys $sys s = $(awk -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f%%", 100 * (u + s) / w }') of the wall time, all threads); peak RssAnon $mib MiB"
		line "  SHA-256 of 350 B on one core" "$(commas "$(sha256_rate)") hashes/s (openssl speed: the bound of one leaf hash per entry)"
	fi
	if has disk; then
		STEP="store: disk"
		echo "  data directory after import$(has reindex && echo ', reindex')$(has verify && echo ', verify') (no server running):"
		store_du "$T/store" st_disk0
	fi

	if has queries; then
		STEP="store: logseal serve"
		STORE_PORT=$(free_port)
		t0=$(now)
		"$LOGSEAL" serve --data "$T/store" --listen "127.0.0.1:$STORE_PORT" >"$T/store-serve.log" 2>&1 &
		SERVER_PID=$!
		wait_healthz "$STORE_PORT" "$SERVER_PID" 600 ||
			{ tail -20 "$T/store-serve.log" >&2; fail "server did not answer /healthz within 60 s"; }
		# Ready: /readyz answers 200 (the index covers the log, within the
		# server's own bound).
		while ! curl -fsS -o /dev/null "http://127.0.0.1:$STORE_PORT/readyz" 2>/dev/null; do
			kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$T/store-serve.log" >&2; fail "server died before ready"; }
			awk -v a="$t0" -v b="$(now)" -v m="$READ_INDEX_TIMEOUT" 'BEGIN { exit !(b - a > m) }' &&
				fail "server not ready $READ_INDEX_TIMEOUT s after start"
			sleep 0.5
		done
		line "server ready (GET /readyz 200)" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s after start; RssAnon $(rss_now_mib "$SERVER_PID") MiB"
		# PostgreSQL answered with its table in the page cache (its load,
		# indexes and checks had just read it): the same for logseal.
		t0=$(now)
		find "$T/store" -type f -exec cat {} + >/dev/null 2>&1 || true
		line "page cache warm-up (logseal)" "every file of the data directory read once, $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
		STEP="store: logseal queries (qbench)"
		rss_watch_start "$SERVER_PID" "$T/st-serve.rss"
		for q in $STORE_Q; do
			reqs=$READ_REQS
			[ "$q" = stats ] && reqs=$STATS_REQS
			store_ls_query "$q" "$reqs" "$READ_SECONDS"
		done
		rss_watch_stop
		mib=$(rss_peak_mib "$T/st-serve.rss")
		echo "st_query_rss_mib $mib" >>"$RESULTS"
		line "server peak RssAnon during the queries" "$mib MiB"
		STEP="store: stop the server (SIGTERM)"
		kill -TERM "$SERVER_PID"
		r=0; wait "$SERVER_PID" || r=$?
		SERVER_PID=""
		[ "$r" = 0 ] || { tail -20 "$T/store-serve.log" >&2; fail "server exited with status $r after SIGTERM"; }
		if has disk; then
			echo "  data directory after the server closed (the queries' audit events added):"
			store_du "$T/store" st_disk
		fi
	elif has disk; then
		echo "st_disk_bytes $(get st_disk0_bytes)" >>"$RESULTS"
	fi
	if has disk; then
		r=$(awk -v a="$(get st_disk_bytes)" -v n="$STORE_BYTES" 'BEGIN { printf "%.6f", a / n }')
		echo "st_disk_ratio $r" >>"$RESULTS"
		line "disk ratio" "$(printf '%.3f' "$r") (all bytes of the data directory / NDJSON bytes); PostgreSQL $(awk -v a="$(get st_pg_cluster_bytes)" -v n="$STORE_BYTES" 'BEGIN { printf "%.3f", a / n }') (cluster dir), $(awk -v a="$(get st_pg_table_bytes)" -v n="$STORE_BYTES" 'BEGIN { printf "%.3f", a / n }') (table + indexes)"
	fi
	# The NDJSON goes now: the sustained section may need the space.
	rm -f "$T/store-events.ndjson"
}

# store_pg_query NAME REQS: pgbench on $T/sq/NAME.sql (read.sh's pg_query
# on the store's scripts).
store_pg_query() {
	local name=$1 reqs=$2 warm=$(( $2 < 50 ? 1 : 50 )) p50 p99 n
	local PGB=("$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U bench -c 1 -f "$T/sq/$name.sql")
	"${PGB[@]}" -t "$warm" postgres >"$T/pgbench-st-$name-warm.log" 2>&1 ||
		{ tail -5 "$T/pgbench-st-$name-warm.log" >&2; fail "pgbench $name (warm-up) failed"; }
	rm -f "$T/pgb-st-$name".[0-9]*
	"${PGB[@]}" -t "$reqs" -l --log-prefix="$T/pgb-st-$name" postgres >"$T/pgbench-st-$name.log" 2>&1 ||
		{ tail -5 "$T/pgbench-st-$name.log" >&2; fail "pgbench $name failed"; }
	cat "$T/pgb-st-$name".[0-9]* | awk '{ print $3 / 1000 }' >"$T/pgb-st-$name.ms"
	read -r p50 p99 n < <(pcts "$T/pgb-st-$name.ms")
	printf 'st_pg_%s_p50_ms %s\nst_pg_%s_p99_ms %s\n' "$name" "$p50" "$name" "$p99" >>"$RESULTS"
	printf '  %-40s p50 %8.2f ms  p99 %8.2f ms  (%s queries)\n' "PostgreSQL $name" "$p50" "$p99" "$n"
}

# sha256_rate: SHA-256 hashes/s of 350-byte inputs on one core (openssl speed, 1 s).
sha256_rate() {
	openssl speed -seconds 1 -bytes 350 sha256 2>/dev/null |
		awk '/^sha256/ { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 350 }'
}

store_row() {
	local lp50 lp99 pp50 pp99 verdict
	lp50=$(get "st_ls_$1_p50_ms"); lp99=$(get "st_ls_$1_p99_ms")
	pp50=$(get "st_pg_$1_p50_ms"); pp99=$(get "st_pg_$1_p99_ms")
	verdict=$(awk -v l="$lp99" -v p="$pp99" 'BEGIN {
		if (l < 20 && l < p) print "ok"
		else if (l >= 20 && l >= p) print "BELOW TARGET (p99 >= 20 ms, not faster than PostgreSQL)"
		else if (l >= 20) print "BELOW TARGET (p99 >= 20 ms)"
		else print "BELOW TARGET (not faster than PostgreSQL)" }')
	[ "$verdict" = ok ] || missed=$((missed + 1))
	printf '  %-34s %8.2f %9.2f   %8.2f %9.2f   %7.2fx   %s\n' "$2" "$lp50" "$lp99" "$pp50" "$pp99" \
		"$(awk -v l="$lp99" -v p="$pp99" 'BEGIN { print (l > 0 ? p / l : 0) }')" "$verdict"
}

store_summary() {
	echo
	echo "  storage, $(commas "$N_ST") events (issue 14's aims are stated for 10 million: BENCH_FULL=1)"
	if has disk; then
		target "disk: data dir / NDJSON" "$(awk -v r="$(get st_disk_ratio)" 'BEGIN { print (r <= 0.35) ? 1 : 0 }')" 1 \
			"$(printf '%.3f' "$(get st_disk_ratio)"); PostgreSQL $(awk -v a="$(get st_pg_cluster_bytes)" -v n="$(get st_ndjson_bytes)" 'BEGIN { printf "%.3f", a / n }') (<= 0.35)"
	fi
	if has reindex; then
		target "reindex" "$(get st_reindex_eps)" 1000000 \
			"$(commas "$(get st_reindex_eps)")/s; PostgreSQL REINDEX $(commas "$(get st_pg_reindex_eps)")/s (>= 1M/s)"
	fi
	if has verify; then
		target "verify" "$(get st_verify_eps)" 1000000 \
			"$(commas "$(get st_verify_eps)")/s; pg_amcheck $(commas "$(get st_pg_verify_eps)")/s (>= 1M/s)"
	fi
	target "memory: import, peak RssAnon" "$(awk -v m="$(get st_import_rss_mib)" 'BEGIN { print (m <= 256) ? 1 : 0 }')" 1 \
		"$(get st_import_rss_mib) MiB (<= 256 MiB)"
	if has queries; then
		target "memory: server during queries" "$(awk -v m="$(get st_query_rss_mib)" 'BEGIN { print (m <= 256) ? 1 : 0 }')" 1 \
			"$(get st_query_rss_mib) MiB peak RssAnon (<= 256 MiB)"
		printf '  %-34s %8s %9s   %8s %9s   %8s   %s\n' "query (one client)" "logseal" "p99 ms" "PG p50" \
			"p99 ms" "PG/ls p99" "verdict (p99 < 20 ms and faster than PG)"
		printf '  %-34s %8s\n' "" "p50 ms"
		store_row actor "one actor, 30 days, limit 100"
		store_row denied "denied, one action, one day"
		store_row cidr "one /16, limit 100"
		store_row stats "by outcome per hour, whole log"
		store_row cidr_day "one /16, one day, limit 100"
		store_row prefix "action prefix x.*, one day"
	fi
}
