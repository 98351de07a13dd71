#!/bin/bash
# bench/run.sh - `make bench`: logseal's speed next to this machine's limits
# and next to the PostgreSQL baseline, all measured in this one run.
#
#   BUILD=build bench/run.sh      (make bench builds the binaries first)
#
# Sections, in order: the machine; the engine without HTTP (bench_engine:
# SHA-256 and write+fdatasync baselines, log_append, verify); N generated
# events loaded into PostgreSQL 15 (pg_baseline.sh) and imported with
# `logseal import`; `logseal serve` under HTTP load (loadgen); the unsigned
# window; the read side (read.sh); issue 14's storage figures on one
# directory, disk, reindex, verify and queries (store.sh); sustained ingest
# with search lag and memory (sustain.sh); issue 16's cluster figures on
# Patroni/PostgreSQL (cluster.sh); a summary.
#
# Everything is written under one temp dir on the project's disk
# ($BENCH_TMP, default $BUILD/bench-tmp) and removed on exit.  Any failure
# (a step exiting non-zero, a log shorter than what was acknowledged, a
# server that does not stop cleanly) ends the run with a non-zero status
# naming the step.  Missing a speed target is reported, and is fatal only
# with BENCH_STRICT=1.
#
# Environment (defaults keep the whole run within a few minutes):
#   BENCH_SECONDS=2       time bound of each log_append run
#   BENCH_MAX_ENTRIES=3000000  entry bound of each log_append run
#   BENCH_THREADS=1,4     appender threads;  BENCH_BATCHES=1,100,1000
#   N=200000              events for import and PostgreSQL (also BENCH_EVENTS)
#   LOADGEN_SECONDS=5     per HTTP batch size;  LOADGEN_CONNS=8
#   HTTP_BATCHES="1 100 1000"
#   BENCH_TMP=DIR  BENCH_STRICT=1
#   BENCH_SECTIONS="engine import http window read"   the sections to run
#   WINDOW_SECONDS=10  WINDOW_SAMPLE_MS=50   the unsigned-window section
#   READ_N=1000000        events loaded for the read figures (10000000 for
#                         the issue's 10-million figures: about 15 minutes)
#   READ_DAYS=40  READ_ACTORS=50000  READ_REQS=1000  READ_SECONDS=60
#   STATS_REQS=20  PROOF_REQS=1000  EXPORT_EVENTS=100000  LAG_SECONDS=10
#   READ_INDEX_TIMEOUT=1800   seconds to wait for the index to catch up
#   Issue 14's sections (disk reindex verify queries: bench/store.sh;
#   sustained: bench/sustain.sh), with short bounds by default:
#   BENCH_DISK_EVENTS=1000000     events of the store directory (10000000)
#   BENCH_SUSTAIN_SECONDS=60      the sustained load (600)
#   BENCH_PG_SUSTAIN_SECONDS      PostgreSQL's (default min(that, 120))
#   BENCH_SUSTAIN_AFTER=30  BENCH_SUSTAIN_REPORT=10  BENCH_LAG_CAP=60
#   BENCH_SUSTAIN_MAX_EPS=250000  BENCH_MIN_FREE_MB=2048  BENCH_DISK_RATIO=4.5
#   BENCH_FULL=1                  the issue's sizes: 10M events, 600 s
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
case "$BUILD" in /*) BUILD_ABS=$BUILD ;; *) BUILD_ABS=$PWD/$BUILD ;; esac
LOGSEAL=$BUILD_ABS/logseal
BENCHBIN=$BUILD_ABS/bench
BENCH_SECONDS=${BENCH_SECONDS:-2}
BENCH_MAX_ENTRIES=${BENCH_MAX_ENTRIES:-3000000}
BENCH_THREADS=${BENCH_THREADS:-1,4}
BENCH_BATCHES=${BENCH_BATCHES:-1,100,1000}
EVENTS=${BENCH_EVENTS:-${N:-200000}}
LOADGEN_SECONDS=${LOADGEN_SECONDS:-5}
LOADGEN_CONNS=${LOADGEN_CONNS:-8}
HTTP_BATCHES=${HTTP_BATCHES:-1 100 1000}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_ROOT=${BENCH_TMP:-$BUILD_ABS/bench-tmp}
BENCH_SECTIONS=${BENCH_SECTIONS:-engine import http relp window read disk reindex verify queries sustained objstore dashboard cluster}
WINDOW_SECONDS=${WINDOW_SECONDS:-10}
WINDOW_SAMPLE_MS=${WINDOW_SAMPLE_MS:-50}
READ_N=${READ_N:-1000000}
READ_DAYS=${READ_DAYS:-40}
READ_ACTORS=${READ_ACTORS:-50000}
READ_REQS=${READ_REQS:-1000}
READ_SECONDS=${READ_SECONDS:-60}
STATS_REQS=${STATS_REQS:-20}
PROOF_REQS=${PROOF_REQS:-1000}
EXPORT_EVENTS=${EXPORT_EVENTS:-100000}
LAG_SECONDS=${LAG_SECONDS:-10}
READ_INDEX_TIMEOUT=${READ_INDEX_TIMEOUT:-1800}
BENCH_FULL=${BENCH_FULL:-0}
if [ "$BENCH_FULL" = 1 ]; then
	BENCH_DISK_EVENTS=${BENCH_DISK_EVENTS:-10000000}
	BENCH_SUSTAIN_SECONDS=${BENCH_SUSTAIN_SECONDS:-600}
fi
BENCH_DISK_EVENTS=${BENCH_DISK_EVENTS:-1000000}
BENCH_SUSTAIN_SECONDS=${BENCH_SUSTAIN_SECONDS:-60}
BENCH_SUSTAIN_AFTER=${BENCH_SUSTAIN_AFTER:-30}
BENCH_SUSTAIN_REPORT=${BENCH_SUSTAIN_REPORT:-10}
BENCH_SUSTAIN_MAX_EPS=${BENCH_SUSTAIN_MAX_EPS:-250000}
BENCH_LAG_CAP=${BENCH_LAG_CAP:-60}
BENCH_MIN_FREE_MB=${BENCH_MIN_FREE_MB:-2048}

STEP="setup"
SERVER_PID=""
LOADGEN_PID=""
SAMPLER_PID=""
BG_PIDS=""
RSS_WATCH_PID=""
T=""
# free_port, wait_healthz, admin_hdr, writer_token.
. bench/lib.sh
# The PostgreSQL pieces (pg_start, pg_remove, ...) for the read figures.
. bench/pg_baseline.sh
# read_section and read_summary.
. bench/read.sh
# store_section and store_summary (disk, reindex, verify, queries).
. bench/store.sh
# sustain_section and sustain_summary.
. bench/sustain.sh
# objstore_section and objstore_summary (issue 15: BENCH_SECTIONS=objstore).
. bench/objstore.sh
# cluster_section and cluster_summary (issue 16: BENCH_SECTIONS=cluster).
. bench/cluster.sh
has() { case " $BENCH_SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

fail() { echo "bench: FAILED ($STEP): $*" >&2; exit 1; }
cleanup() {
	local rc=$?
	objstore_stop_engines
	cluster_stop_engines
	for pid in $RSS_WATCH_PID $SAMPLER_PID $BG_PIDS $LOADGEN_PID $SERVER_PID; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	pg_remove
	# Everything is deleted here, at the end: mass deletes slow file creation
	# on some filesystems for a while, which would skew a later phase.
	[ -n "$T" ] && rm -rf "$T"
	rmdir "$BENCH_ROOT" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		echo "bench: FAILED during: $STEP (exit $rc)" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
# bench_engine leaves its logs for cleanup() to delete at the end (see there).
export BENCH_DEFER_CLEANUP=1
trap 'exit 130' INT TERM

for b in "$LOGSEAL" "$BENCHBIN/bench_engine" "$BENCHBIN/loadgen" "$BENCHBIN/qbench" "$BENCHBIN/genev"; do
	[ -x "$b" ] || fail "$b missing: run 'make bench'"
done
for v in EVENTS READ_N READ_DAYS READ_ACTORS READ_REQS READ_SECONDS STATS_REQS PROOF_REQS \
	EXPORT_EVENTS LAG_SECONDS READ_INDEX_TIMEOUT WINDOW_SECONDS WINDOW_SAMPLE_MS \
	BENCH_DISK_EVENTS BENCH_SUSTAIN_SECONDS BENCH_SUSTAIN_AFTER BENCH_SUSTAIN_REPORT \
	BENCH_SUSTAIN_MAX_EPS BENCH_LAG_CAP BENCH_MIN_FREE_MB; do
	case "${!v}" in ''|*[!0-9]*|0) fail "$v must be a positive integer (got '${!v}')" ;; esac
done
[ "$LAG_SECONDS" -ge 3 ] || fail "LAG_SECONDS must be at least 3"
command -v curl >/dev/null || fail "curl not found (scripts/deps.sh installs it)"

mkdir -p "$BENCH_ROOT"
T=$(mktemp -d "$BENCH_ROOT/run.XXXXXX")
T=$(cd "$T" && pwd)
# The PostgreSQL server runs as another user when we are root.
chmod 755 "$T"
RESULTS=$T/results.txt
: >"$RESULTS"

now() { date +%s.%N; }
# get KEY: a value written by bench_engine, loadgen or pg_baseline.sh.
get() { awk -v k="$1" '$1 == k { v = $2 } END { if (v == "") exit 1; print v }' "$RESULTS"; }
commas() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); r = "";
	while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
	print s r }'; }
line() { printf '  %-40s %s\n' "$1" "$2"; }
section() { printf '\n== %s\n' "$1"; }
# ckpt_size DIR: the tree size of the log's latest signed checkpoint.
ckpt_size() { sed -n 2p "$1/log/checkpoint" 2>/dev/null; }

# ------------------------------------------------------------------ machine
STEP="machine"
section "machine"
line "kernel" "$(uname -a)"
line "cpu" "$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
line "cpus" "$(lscpu | awk -F: '
	/^CPU\(s\):/ { c = $2 } /^Thread\(s\) per core:/ { t = $2 }
	/^Core\(s\) per socket:/ { k = $2 } /^Socket\(s\):/ { s = $2 }
	END { gsub(/ /, "", c); gsub(/ /, "", t); gsub(/ /, "", k); gsub(/ /, "", s);
	      printf "%s logical (%s socket x %s cores x %s threads)", c, s, k, t }')"
line "memory" "$(awk '/^MemTotal:/ { printf "%.1f GiB total", $2 / 1048576 }
	/^MemAvailable:/ { printf ", %.1f GiB available", $2 / 1048576 }' /proc/meminfo)"
df -hT "$T" | awk 'NR == 2 { printf "  %-40s %s %s on %s, %s free of %s\n", "bench disk", $1, $2, $7, $5, $3 }'
line "bench dir" "$T"
line "date" "$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
line "git" "$(git describe --always --dirty --tags 2>/dev/null || echo unknown)"
line "compiler" "$(${CC:-gcc} --version 2>/dev/null | head -1)"
line "openssl" "$(openssl version 2>/dev/null || echo unknown)"

# ------------------------------------------------------------------- engine
if has engine; then
STEP="engine (bench_engine)"
section "engine: library without HTTP"
mkdir -p "$T/engine"
"$BENCHBIN/bench_engine" --dir "$T/engine" --logseal "$LOGSEAL" --results "$RESULTS" \
	--seconds "$BENCH_SECONDS" --max "$BENCH_MAX_ENTRIES" \
	--threads "$BENCH_THREADS" --batches "$BENCH_BATCHES" ||
	fail "bench_engine exited with status $?"
fi

# ------------------------------------------------------------------- events
if has import; then
STEP="generate events"
section "import of $(commas "$EVENTS") events (~350 B each) vs PostgreSQL 15"
python3 bench/gen_events.py "$EVENTS" 1 >"$T/events.ndjson" || fail "gen_events.py failed"
got=$(grep -c '' "$T/events.ndjson")
[ "$got" = "$EVENTS" ] || fail "generated $got events, wanted $EVENTS"
line "events" "$(commas "$EVENTS") NDJSON lines, $(du -h "$T/events.ndjson" | cut -f1), generated by bench/gen_events.py (seed 1)"

STEP="PostgreSQL baseline (pg_baseline.sh)"
BENCH_TMP=$T bench/pg_baseline.sh "$T/events.ndjson" "$RESULTS" ||
	fail "pg_baseline.sh exited with status $?"
PG_EPS=$(get pg_eps) || fail "no PostgreSQL figure"

STEP="logseal import"
"$LOGSEAL" init --data "$T/import" >"$T/import-init.log" 2>&1 ||
	{ cat "$T/import-init.log" >&2; fail "logseal init failed"; }
t0=$(now)
"$LOGSEAL" import --data "$T/import" <"$T/events.ndjson" >"$T/import.log" 2>&1 ||
	{ tail -20 "$T/import.log" >&2; fail "logseal import failed"; }
t1=$(now)
size=$(ckpt_size "$T/import")
[ "$size" = "$EVENTS" ] ||
	fail "checkpoint after import covers '${size}' entries, expected $EVENTS"
IMPORT_EPS=$(awk -v n="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", n / (b - a) }')
echo "import_eps $IMPORT_EPS" >>"$RESULTS"
printf '  %-40s %12s events/s  (%s events in %.2f s, checkpoint signed)\n' \
	"logseal import (stdin NDJSON)" "$(commas "$IMPORT_EPS")" \
	"$(commas "$EVENTS")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
printf '  %-40s %12s\n' "ratio to PostgreSQL" \
	"$(awk -v a="$IMPORT_EPS" -v b="$PG_EPS" 'BEGIN { printf "%.2fx", a / b }')"

STEP="logseal verify of the imported log"
t0=$(now)
"$LOGSEAL" verify --data "$T/import" >"$T/verify-import.log" 2>&1 ||
	{ tail -20 "$T/verify-import.log" >&2; fail "logseal verify failed on the imported log"; }
t1=$(now)
v=$(awk -v n="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
printf '  %-40s %12s entries/s  (%.2f s)\n' "logseal verify --data (imported log)" "$(commas "$v")" \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
VERIFY_ENC_EPS=$v

# Encryption at rest priced: imports with it on and off, alternated three
# times each (this disk's speed swings between runs; medians are compared).
STEP="logseal import, encryption on and off"
import_once() { # DIR [init options] -> events/s
	local dir=$1 a b
	shift
	"$LOGSEAL" init --data "$dir" "$@" >"$dir.init.log" 2>&1 ||
		{ cat "$dir.init.log" >&2; fail "logseal init $* failed"; }
	a=$(now)
	"$LOGSEAL" import --data "$dir" <"$T/events.ndjson" >"$dir.log" 2>&1 ||
		{ tail -20 "$dir.log" >&2; fail "logseal import into $dir failed"; }
	b=$(now)
	awk -v n="$EVENTS" -v a="$a" -v b="$b" 'BEGIN { printf "%.6f", n / (b - a) }'
}
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
enc_runs=("$IMPORT_EPS"); plain_runs=()
for i in 1 2 3; do
	plain_runs+=("$(import_once "$T/import-plain$i" --no-encryption)")
	[ "$i" -lt 3 ] && enc_runs+=("$(import_once "$T/import-enc$i")")
done
IMPORT_ENC_MED=$(median3 "${enc_runs[@]}")
IMPORT_PLAIN_EPS=$(median3 "${plain_runs[@]}")
printf '  %-40s %s\n' "import, encryption on (3 runs)" \
	"$(for v in "${enc_runs[@]}"; do printf '%s ' "$(commas "$v")"; done)events/s, median $(commas "$IMPORT_ENC_MED")"
printf '  %-40s %s\n' "import, encryption off (3 runs)" \
	"$(for v in "${plain_runs[@]}"; do printf '%s ' "$(commas "$v")"; done)events/s, median $(commas "$IMPORT_PLAIN_EPS")"
t0=$(now)
"$LOGSEAL" verify --data "$T/import-plain1" >"$T/verify-plain.log" 2>&1 ||
	{ tail -20 "$T/verify-plain.log" >&2; fail "logseal verify failed on the unencrypted log"; }
t1=$(now)
VERIFY_PLAIN_EPS=$(awk -v n="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
printf '  %-40s %12s entries/s\n' "logseal verify, encryption off" "$(commas "$VERIFY_PLAIN_EPS")"
printf '  %-40s %12s\n' "encryption cost (import medians, verify)" \
	"$(awk -v e="$IMPORT_ENC_MED" -v p="$IMPORT_PLAIN_EPS" -v ve="$VERIFY_ENC_EPS" -v vp="$VERIFY_PLAIN_EPS" \
		'BEGIN { printf "%.1f%%, %.1f%%", 100 * (1 - e / p), 100 * (1 - ve / vp) }')"
fi

# --------------------------------------------------------------------- HTTP
# serve_start DIR [init options]: a fresh data dir, a server on PORT, a
# writer token in $T/writer.token.  serve_stop: SIGTERM, clean exit checked.
serve_start() {
	local dir=$1
	shift
	PORT=$(free_port)
	"$LOGSEAL" init --data "$dir" "$@" >"$dir.init.log" 2>&1 ||
		{ cat "$dir.init.log" >&2; fail "logseal init failed"; }
	"$LOGSEAL" serve --data "$dir" --listen "127.0.0.1:$PORT" >"$T/serve.log" 2>&1 &
	SERVER_PID=$!
	wait_healthz "$PORT" "$SERVER_PID" 150 ||
		{ tail -20 "$T/serve.log" >&2; fail "server did not answer /healthz within 15 s"; }
	STEP="create a writer token"
	local rc=0
	admin_hdr "$dir" "$T/admin.hdr"
	writer_token "$PORT" "$T/admin.hdr" bench "$T/writer.token" || rc=$?
	[ "$rc" = 1 ] && fail "POST /v1/tokens failed"
	[ "$rc" = 0 ] || fail "no token in the reply of POST /v1/tokens"
}
# serve_stop [SECONDS]: SIGTERM, then up to SECONDS (30) for exit status 0.
serve_stop() {
	STEP="stop the server (SIGTERM)"
	kill -TERM "$SERVER_PID"
	local stopped=0 rc=0 secs=${1:-30}
	for _ in $(seq 1 $((secs * 10))); do
		kill -0 "$SERVER_PID" 2>/dev/null || { stopped=1; break; }
		sleep 0.1
	done
	[ "$stopped" = 1 ] || { tail -20 "$T/serve.log" >&2; fail "server still running $secs s after SIGTERM"; }
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=""
	[ "$rc" = 0 ] || { tail -20 "$T/serve.log" >&2; fail "server exited with status $rc after SIGTERM"; }
}

# thread_ticks PID: "name ticks" per thread name of the server (user +
# system clock ticks, summed over the threads of one name).
thread_ticks() {
	local t st rest
	for t in /proc/"$1"/task/*; do
		st=$(cat "$t/stat" 2>/dev/null) || continue
		rest=${st##*) }
		st=${st#*(}
		set -- $rest
		echo "${st%%)*} $(( ${12} + ${13} ))"
	done | awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' | LC_ALL=C sort
}
# thread_cost BEFORE AFTER EVENTS: the server's CPU per accepted event, per
# thread name (what bounds ingest: parsing in the HTTP workers, extraction
# for the index, sequencing and checkpointing; the index writer takes what
# the others leave).
thread_cost() {
	local hz
	hz=$(getconf CLK_TCK)
	LC_ALL=C join -a1 "$2" "$1" | awk -v n="$3" -v hz="$hz" '
		{ d = $2 - ($3 == "" ? 0 : $3); if (d > 0 && n > 0) { c[$1] = d * 1e6 / hz / n; t += c[$1] } }
		END { s = ""; for (k in c) if (c[k] >= 0.05) s = s sprintf("%s %.2f, ", k, c[k])
		      printf "%stotal %.2f", s, t }'
}

if has http; then
STEP="logseal serve"
section "HTTP: logseal serve under load (loadgen, keep-alive, NDJSON to POST /v1/events)"
serve_start "$T/serve"
accepted=0
for b in $HTTP_BATCHES; do
	STEP="loadgen batch $b"
	thread_ticks "$SERVER_PID" >"$T/ticks.0"
	"$BENCHBIN/loadgen" --port "$PORT" --token-file "$T/writer.token" --batch "$b" \
		--conns "$LOADGEN_CONNS" --seconds "$LOADGEN_SECONDS" \
		--results "$RESULTS" --key "http_b$b" ||
		{ rc=$?; tail -20 "$T/serve.log" >&2; fail "loadgen exited with status $rc"; }
	thread_ticks "$SERVER_PID" >"$T/ticks.1"
	line "  server CPU, us/event by thread" \
		"$(thread_cost "$T/ticks.0" "$T/ticks.1" "$(get "http_b${b}_accepted" | cut -d. -f1)")"
	accepted=$((accepted + $(get "http_b${b}_accepted" | cut -d. -f1)))
done
serve_stop
size=$(ckpt_size "$T/serve")
if ! [ "${size:-0}" -ge "$accepted" ] 2>/dev/null; then
	fail "last checkpoint covers '${size}' entries but $accepted were acknowledged"
fi

# The same load, batches of 1000, on a log without encryption at rest.
STEP="logseal serve, encryption off"
serve_start "$T/serve-plain" --no-encryption
STEP="loadgen batch 1000, encryption off"
"$BENCHBIN/loadgen" --port "$PORT" --token-file "$T/writer.token" --batch 1000 \
	--conns "$LOADGEN_CONNS" --seconds "$LOADGEN_SECONDS" \
	--results "$RESULTS" --key "http_plain_b1000" ||
	{ rc=$?; tail -20 "$T/serve.log" >&2; fail "loadgen exited with status $rc"; }
serve_stop
printf '  %-40s %s\n' "server stopped by SIGTERM" \
	"exit 0; last checkpoint covers $(commas "$size") entries ($(commas "$accepted") acknowledged by 2xx)"
HTTP_EPS=$(get http_b1000_eps 2>/dev/null || echo "")
if [ -n "$HTTP_EPS" ] && [ -n "${PG_EPS:-}" ]; then
	printf '  %-40s %12s\n' "ratio to PostgreSQL (batches of 1000)" \
		"$(awk -v a="$HTTP_EPS" -v b="$PG_EPS" 'BEGIN { printf "%.2fx", a / b }')"
fi
fi

# --------------------------------------------------------------------- RELP
if has relp; then
	relp_section
fi

# ------------------------------------------------------------------- window
# The unsigned window under sustained load: entries acknowledged but not
# yet covered by a signed checkpoint (recovery could lose them unnoticed),
# sampled from /metrics every WINDOW_SAMPLE_MS while loadgen posts batches
# of 1000 for WINDOW_SECONDS; max and p99 of the samples, and the server's
# own high-water marks (logseal_unsigned_*_max: every acknowledgement and
# every published checkpoint, not only the samples).
if has window; then
STEP="unsigned window (logseal serve)"
section "unsigned window: acknowledged entries not yet signed, under sustained load (batches of 1000, ${WINDOW_SECONDS} s)"
serve_start "$T/window"
admin_hdr "$T/window" "$T/window-admin.hdr"
python3 - "$PORT" "$T/window/admin.token" "$WINDOW_SAMPLE_MS" "$T/window.samples" <<'PY' &
import http.client, sys, time
port, tokfile, ms, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
tok = open(tokfile).readline().strip()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
with open(out, "w") as f:
    while True:
        try:
            c.request("GET", "/metrics", headers={"Authorization": "Bearer " + tok})
            body = c.getresponse().read().decode()
        except Exception:
            break
        v = {}
        for line in body.splitlines():
            p = line.split()
            if len(p) == 2 and p[0].startswith("logseal_"):
                v[p[0]] = p[1]
        f.write("%s %s %s\n" % (v.get("logseal_unsigned_entries", "0"),
                                 v.get("logseal_unsigned_oldest_seconds", "0"),
                                 v.get("logseal_tree_size", "0")))
        f.flush()
        time.sleep(ms / 1000.0)
PY
SAMPLER_PID=$!
STEP="loadgen batch 1000 (unsigned window)"
"$BENCHBIN/loadgen" --port "$PORT" --token-file "$T/writer.token" --batch 1000 \
	--conns "$LOADGEN_CONNS" --seconds "$WINDOW_SECONDS" \
	--results "$RESULTS" --key "window_b1000" ||
	{ rc=$?; tail -20 "$T/serve.log" >&2; fail "loadgen exited with status $rc"; }
curl -fsS -H @"$T/window-admin.hdr" "http://127.0.0.1:$PORT/metrics" >"$T/window.metrics" ||
	fail "GET /metrics failed"
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
serve_stop
metric() { awk -v k="$1" '$1 == k { print $2 }' "$T/window.metrics"; }
nsamples=$(grep -c '' "$T/window.samples" || true)
[ "${nsamples:-0}" -gt 0 ] || fail "no /metrics samples"
# pct COLUMN P: the P-th percentile (nearest rank) of a sample column.
pct() { awk -v c="$1" '{ print $c }' "$T/window.samples" | sort -g |
	awk -v p="$2" '{ v[NR] = $1 } END { r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; print v[r] }'; }
WIN_E_MAX=$(metric logseal_unsigned_entries_max)
WIN_S_MAX=$(metric logseal_unsigned_oldest_seconds_max)
WIN_EPS=$(get window_b1000_eps)
{ echo "window_entries_max $WIN_E_MAX"; echo "window_seconds_max $WIN_S_MAX"
  echo "window_entries_p99 $(pct 1 99)"; echo "window_seconds_p99 $(pct 2 99)"; } >>"$RESULTS"
line "load" "$(commas "$WIN_EPS") events/s acknowledged for ${WINDOW_SECONDS} s ($nsamples samples of /metrics, every ${WINDOW_SAMPLE_MS} ms)"
line "unsigned entries, sampled" "p50 $(commas "$(pct 1 50)"), p99 $(commas "$(pct 1 99)"), max $(commas "$(pct 1 100)")"
line "unsigned entries, high-water" "$(commas "$WIN_E_MAX") (every acknowledgement counted; bound --max-unsigned 65,536)"
line "oldest unsigned ack, sampled" "p50 $(pct 2 50) s, p99 $(pct 2 99) s, max $(pct 2 100) s"
line "oldest unsigned ack, high-water" "$WIN_S_MAX s (at each signed checkpoint; bound --max-unsigned-ms 1 s)"
line "  in seconds of load" "max $(awk -v e="$WIN_E_MAX" -v r="$WIN_EPS" 'BEGIN { printf "%.2f", (r > 0 ? e / r : 0) }') s of acknowledged events unsigned (high-water entries / rate)"
line "back-pressure" "$(metric logseal_checkpoint_backpressure_total) waits, $(metric logseal_checkpoint_backpressure_seconds_total) s in all"
fi

# --------------------------------------------------------------------- read
if has read; then
	read_section
fi

# -------------------------------------------- disk reindex verify queries
if has disk || has reindex || has verify || has queries; then
	store_section
fi

# ---------------------------------------------------------------- sustained
# After the disk section: its ratio bounds the disk this one may fill.
if has sustained; then
	sustain_section
fi

# ----------------------------------------------------------------- objstore
if has objstore; then
	objstore_section
fi

# ---------------------------------------------------------------- dashboard
# The overview in real chromium with 10,000 events (bench/dashboard.sh).
. bench/dashboard.sh
if has dashboard; then
	dashboard_section
fi

# ------------------------------------------------------------------ cluster
if has cluster; then
	cluster_section
fi

# ------------------------------------------------------------------ summary
STEP="summary"
section "summary"
missed=0
# target LABEL VALUE TARGET UNIT-TEXT: prints the verdict of VALUE >= TARGET.
target() {
	local verdict
	if awk -v v="$2" -v t="$3" 'BEGIN { exit !(v >= t) }'; then verdict="ok"
	else verdict="BELOW TARGET"; missed=$((missed + 1)); fi
	printf '  %-40s %-44s %s\n' "$1" "$4" "$verdict"
}
if has engine; then
best_frac=0; best_eps=0; best_t=""
IFS=, read -r -a threads <<<"$BENCH_THREADS"
for t in "${threads[@]}"; do
	e=$(get "append_b1000_t${t}_eps" 2>/dev/null) || continue
	f=$(get "append_b1000_t${t}_frac")
	if awk -v a="$e" -v b="$best_eps" 'BEGIN { exit !(a > b) }'; then
		best_eps=$e; best_frac=$f; best_t=$t
	fi
done
SHA_GBS=$(get sha350_gbs)
WS1000=$(get wsync_1000_eps 2>/dev/null || echo 0)
line "machine limits" "SHA-256 $(awk -v g="$SHA_GBS" 'BEGIN { printf "%.2f", g }') GB/s on 350 B ($(commas "$(get sha350_hps)") hashes/s); write+fdatasync $(commas "$WS1000") entries/s in batches of 1000"
if [ -n "$best_t" ]; then
	target "log_append, batches of 1000 ($best_t thr)" "$best_frac" 0.3333 \
		"$(commas "$best_eps")/s = $(awk -v f="$best_frac" 'BEGIN { printf "%.3f", f }') of $(commas "$(get "limit_b1000_t${best_t}_eps")")/s (>= 0.33)"
	line "  the same, counting log_close" "$(commas "$(get "append_b1000_t${best_t}_incl_close_eps")") entries/s (tiles and last checkpoint done)"
fi
line "verify (CLI)" "$(commas "$(get verify_eps)") entries/s"
fi
if has import; then
ENC_COST=$(awk -v e="$IMPORT_ENC_MED" -v p="$IMPORT_PLAIN_EPS" 'BEGIN { print 1 - e / p }')
# target() wants "higher is better": compare 1 - cost with 0.90.
target "encryption at rest, import" "$(awk -v c="$ENC_COST" 'BEGIN { print 1 - c }')" 0.90 \
	"median $(commas "$IMPORT_ENC_MED") vs $(commas "$IMPORT_PLAIN_EPS")/s off = $(awk -v c="$ENC_COST" 'BEGIN { printf "%.1f%%", 100 * c }') cost (< 10%); verify $(commas "$VERIFY_ENC_EPS") vs $(commas "$VERIFY_PLAIN_EPS")/s"
target "import vs PostgreSQL COPY" "$(awk -v a="$IMPORT_EPS" -v b="$PG_EPS" 'BEGIN { print a / b }')" 3 \
	"$(commas "$IMPORT_EPS") vs $(commas "$PG_EPS")/s = $(awk -v a="$IMPORT_EPS" -v b="$PG_EPS" 'BEGIN { printf "%.2fx", a / b }') (>= 3x)"
fi
if has http; then
if [ -n "${HTTP_EPS:-}" ] && [ -n "${PG_EPS:-}" ]; then
	target "HTTP batches of 1000 vs PostgreSQL" "$(awk -v a="$HTTP_EPS" -v b="$PG_EPS" 'BEGIN { print a / b }')" 3 \
		"$(commas "$HTTP_EPS") vs $(commas "$PG_EPS")/s = $(awk -v a="$HTTP_EPS" -v b="$PG_EPS" 'BEGIN { printf "%.2fx", a / b }') (>= 3x)"
fi
HTTP_PLAIN_EPS=$(get http_plain_b1000_eps 2>/dev/null || echo "")
if [ -n "${HTTP_EPS:-}" ] && [ -n "$HTTP_PLAIN_EPS" ]; then
	target "encryption at rest, HTTP batches of 1000" "$(awk -v e="$HTTP_EPS" -v p="$HTTP_PLAIN_EPS" 'BEGIN { print e / p }')" 0.90 \
		"$(commas "$HTTP_EPS") vs $(commas "$HTTP_PLAIN_EPS")/s off = $(awk -v e="$HTTP_EPS" -v p="$HTTP_PLAIN_EPS" 'BEGIN { printf "%.1f%%", 100 * (1 - e / p) }') cost (< 10%)"
fi
for b in $HTTP_BATCHES; do
	[ "$b" = 1000 ] && continue
	line "HTTP batches of $b" "$(commas "$(get "http_b${b}_eps")") events/s, p99 $(get "http_b${b}_p99_ms") ms"
done
fi
if has window; then
	target "unsigned window at full load" "$(awk -v s="$WIN_S_MAX" 'BEGIN { print (s <= 1.0) ? 1 : 0 }')" 1 \
		"oldest unsigned ack <= $WIN_S_MAX s, <= $(commas "$WIN_E_MAX") entries, at $(commas "$WIN_EPS")/s (<= 1 s)"
fi
if has read; then
	read_summary
fi
if has disk || has reindex || has verify || has queries; then
	store_summary
fi
if has sustained; then
	sustain_summary
fi
if has objstore; then
	objstore_summary
fi
if has cluster; then
	cluster_summary
fi
if [ "$missed" -gt 0 ]; then
	echo "  $missed target(s) missed"
	[ "$BENCH_STRICT" = 1 ] && { STEP="targets (BENCH_STRICT=1)"; exit 1; }
fi
STEP="done"
exit 0
