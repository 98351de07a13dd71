# bench/objstore.sh - issue 15's figures (section "objstore" of bench/run.sh,
# which sources this file and calls objstore_section):
#   (a) upload throughput of logseal's uploader (followers/upload.c, run to
#       completion by build/tests/upload_once) vs `/usr/bin/aws s3 cp
#       --recursive` of the SAME objects (the uploaded prefix downloaded
#       first, untimed) in the same run: objects/s, MB/s, ratio;
#   (b) HTTP ingest (loadgen, batches of 1000, as the http and sustained
#       sections) with the object store off and on (`serve` of a directory
#       made with `init --object-store`): the ratio (aim: cost <= 10%);
#   (c) `logseal restore` time per GB of the restored directory, when the
#       command exists (else the line says "restore: not available");
#   (d) in-place verify (`verify --tiles s3://`) throughput.
# Against a real RGW: its own, started here by tests/engines/ceph.sh (one
# host, memstore OSD) and stopped by the PIDs of its pid files; or the one
# at BENCH_S3_ENDPOINT (keys BENCH_S3_KEY/BENCH_S3_SECRET, default
# TESTKEY/TESTSECRET), not started nor stopped.  Each run makes its own bucket (objects are locked
# for a day, so it is not removed).
# Environment: OBJSTORE_EVENTS=100000 (events of the uploaded log),
# OBJSTORE_SEGMENT=16384 (leaves a sealed segment), OBJSTORE_LOADGEN_SECONDS=8,
# OBJSTORE_UPLOAD_THREADS=8.  The whole section takes about 1-2 minutes.

OBJSTORE_EVENTS=${OBJSTORE_EVENTS:-100000}
OBJSTORE_SEGMENT=${OBJSTORE_SEGMENT:-16384}
OBJSTORE_LOADGEN_SECONDS=${OBJSTORE_LOADGEN_SECONDS:-8}
OBJSTORE_UPLOAD_THREADS=${OBJSTORE_UPLOAD_THREADS:-8}
OBJSTORE_CEPH_DIR=""
OBJSTORE_UPLOAD_PID=""

# cpu_ticks PID...: user+system clock ticks used so far by the processes.
objstore_cpu_ticks() {
	local pid t=0 v
	for pid in "$@"; do
		v=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
# The Ceph daemons' PIDs (from their pid files), when the bench started them.
objstore_ceph_pids() {
	[ -n "$OBJSTORE_CEPH_DIR" ] || return 0
	cat "$OBJSTORE_CEPH_DIR"/run/*.pid 2>/dev/null | tr '\n' ' '
}
objstore_stop_engines() {
	local pid
	for pid in $OBJSTORE_UPLOAD_PID; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	OBJSTORE_UPLOAD_PID=""
	# ceph.sh stops each daemon by the PID in its pid file
	if [ -n "$OBJSTORE_CEPH_DIR" ]; then
		bash tests/engines/ceph.sh stop "$OBJSTORE_CEPH_DIR" >/dev/null 2>&1 || true
		OBJSTORE_CEPH_DIR=""
	fi
}

# objstore_rgw: the endpoint into AWS_ENDPOINT_URL and the credentials.
objstore_rgw() {
	if [ -z "${BENCH_S3_ENDPOINT:-}" ] && [ -f tests/engines/ceph.sh ]; then
		STEP="objstore: start Ceph RGW (tests/engines/ceph.sh)"
		OBJSTORE_CEPH_DIR=$T/ceph
		local a b
		a=$(now)
		bash tests/engines/ceph.sh start "$OBJSTORE_CEPH_DIR" >"$T/ceph.log" 2>&1 ||
			{ tail -20 "$T/ceph.log" >&2; fail "Ceph RGW did not start"; }
		b=$(now)
		# shellcheck disable=SC1091
		. "$OBJSTORE_CEPH_DIR/env"
		BENCH_S3_ENDPOINT=$LOGSEAL_TEST_S3_ENDPOINT
		export AWS_ACCESS_KEY_ID=$LOGSEAL_TEST_S3_KEY AWS_SECRET_ACCESS_KEY=$LOGSEAL_TEST_S3_SECRET
		OBJSTORE_RGW="own Ceph RGW (tests/engines/ceph.sh, memstore OSD) at $BENCH_S3_ENDPOINT, up in $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", b - a }') s"
	else
		BENCH_S3_ENDPOINT=${BENCH_S3_ENDPOINT:-http://127.0.0.1:7480}
		export AWS_ACCESS_KEY_ID=${BENCH_S3_KEY:-TESTKEY} AWS_SECRET_ACCESS_KEY=${BENCH_S3_SECRET:-TESTSECRET}
		OBJSTORE_RGW="RGW at $BENCH_S3_ENDPOINT (BENCH_S3_ENDPOINT; not started by the bench)"
	fi
	export AWS_ENDPOINT_URL=$BENCH_S3_ENDPOINT AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
	export LOGSEAL_S3_PATH_STYLE=1 AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3
}

objstore_aws() { /usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

# objstore_mbs BYTES SECONDS ; objstore_per OBJECTS SECONDS
objstore_mbs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0) ? b / 1e6 / s : 0 }'; }
objstore_per() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'; }

objstore_section() {
	local bucket d url a b secs objs bytes aws_s aws_objs aws_bytes off on
	section "object store: uploader vs aws s3 cp, ingest with the store on/off, restore, in-place verify"
	[ -x /usr/bin/aws ] || fail "/usr/bin/aws (Debian awscli) is needed for the objstore section"
	STEP="objstore: build upload_once"
	make --no-print-directory "$BUILD/tests/upload_once" >/dev/null || fail "cannot build upload_once"
	objstore_rgw
	line "store" "$OBJSTORE_RGW"
	bucket=bench-objstore-$(date +%s)-$$
	STEP="objstore: create bucket $bucket"
	objstore_aws s3api create-bucket --bucket "$bucket" --object-lock-enabled-for-bucket >/dev/null ||
		fail "cannot create bucket $bucket at $AWS_ENDPOINT_URL"

	# (a) the uploader vs aws s3 cp --recursive of the same objects
	STEP="objstore: a log of $OBJSTORE_EVENTS events"
	d=$T/objstore-log
	"$LOGSEAL" init --data "$d" >"$d.init.log" 2>&1 || { cat "$d.init.log" >&2; fail "init"; }
	head -n "$OBJSTORE_EVENTS" "$T/events.ndjson" 2>/dev/null >"$T/objstore.ndjson" || true
	if [ "$(wc -l <"$T/objstore.ndjson")" -lt "$OBJSTORE_EVENTS" ]; then
		python3 bench/gen_events.py "$OBJSTORE_EVENTS" 1 >"$T/objstore.ndjson" ||
			fail "bench/gen_events.py"
	fi
	"$LOGSEAL" import --data "$d" --segment-leaves "$OBJSTORE_SEGMENT" <"$T/objstore.ndjson" \
		>"$d.import.log" 2>&1 || { tail "$d.import.log" >&2; fail "import"; }
	url=s3://$bucket/log
	STEP="objstore: upload (logseal's uploader)"
	a=$(now)
	"$BUILD/tests/upload_once" "$d" "$url" "$OBJSTORE_UPLOAD_THREADS" >"$T/objstore-up.log" 2>&1 ||
		{ tail "$T/objstore-up.log" >&2; fail "upload_once"; }
	b=$(now)
	secs=$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')
	objs=$(sed -n 's/^uploaded: \([0-9]*\) objects, \([0-9]*\) bytes.*/\1/p' "$T/objstore-up.log")
	bytes=$(sed -n 's/^uploaded: \([0-9]*\) objects, \([0-9]*\) bytes.*/\2/p' "$T/objstore-up.log")
	STEP="objstore: aws s3 cp --recursive of the same objects"
	mkdir -p "$T/objstore-files"
	objstore_aws s3 cp --quiet --recursive "s3://$bucket/log/" "$T/objstore-files/" ||
		fail "aws s3 cp (download of the uploaded objects)"
	aws_objs=$(find "$T/objstore-files" -type f | wc -l)
	aws_bytes=$(find "$T/objstore-files" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	a=$(now)
	objstore_aws s3 cp --quiet --recursive "$T/objstore-files/" "s3://$bucket/awscli/" ||
		fail "aws s3 cp --recursive"
	b=$(now)
	aws_s=$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')
	line "(a) logseal uploader, $OBJSTORE_UPLOAD_THREADS workers" \
		"$objs objects, $(objstore_mbs "$bytes" 1) MB in $(printf '%.2f' "$secs") s: $(objstore_per "$objs" "$secs") objects/s, $(objstore_mbs "$bytes" "$secs") MB/s (locked, If-None-Match)"
	line "(a) aws s3 cp --recursive, same objects" \
		"$aws_objs objects, $(objstore_mbs "$aws_bytes" 1) MB in $(printf '%.2f' "$aws_s") s: $(objstore_per "$aws_objs" "$aws_s") objects/s, $(objstore_mbs "$aws_bytes" "$aws_s") MB/s"
	line "(a) ratio logseal / aws (time)" \
		"$(awk -v l="$secs" -v w="$aws_s" 'BEGIN { printf "%.2fx as fast", w / l }')"
	echo "objstore_upload_objs_per_s $(objstore_per "$objs" "$secs")" >>"$RESULTS"
	echo "objstore_aws_objs_per_s $(objstore_per "$aws_objs" "$aws_s")" >>"$RESULTS"

	# (d) in-place verify of that bucket, 4 and 8 concurrent requests
	STEP="objstore: verify --tiles s3://"
	"$LOGSEAL" keys bundle-key --data "$d" >"$T/objstore.bkey" 2>/dev/null || : >"$T/objstore.bkey"
	local f bk=()
	[ -s "$T/objstore.bkey" ] && bk=(--bundle-key "$T/objstore.bkey")
	for f in 4 8; do
		a=$(now)
		"$LOGSEAL" verify --tiles "$url" --key "$d/verifier.key" "${bk[@]}" --fetchers "$f" \
			>"$T/objstore-verify.log" 2>&1 || { tail "$T/objstore-verify.log" >&2; fail "verify --tiles"; }
		b=$(now)
		line "(d) verify --tiles s3://, $f requests" \
			"$(commas "$OBJSTORE_EVENTS") entries in $(awk -v a="$a" -v b="$b" -v n="$OBJSTORE_EVENTS" 'BEGIN { printf "%.2f s: %.0f entries/s", b - a, n / (b - a) }'); $(grep '^read:' "$T/objstore-verify.log" | sed 's/^read: //')"
	done
	grep -q 'entry bundles: .* NOT checked' "$T/objstore-verify.log" &&
		line "    (bundles)" "sealed, not checked (no bundle key)" || true

	# (c) restore from the bucket (fix/tier's `logseal restore`): time per
	# GB of the restored directory (its segments, tiles, checkpoints, WAL
	# rebuilt from the bundles, index; the full verify it ends with)
	STEP="objstore: restore"
	if "$LOGSEAL" restore --help >/dev/null 2>&1; then
		local rdir=$T/objstore-restored gb
		a=$(now)
		if "$LOGSEAL" restore --from "$url" --data "$rdir" --keys "$d" --quiet \
			--object-store-endpoint "$AWS_ENDPOINT_URL" --object-store-path-style \
			>"$T/objstore-restore.log" 2>&1; then
			b=$(now)
			gb=$(du -sb "$rdir" | awk '{ print $1 / 1e9 }')
			line "(c) logseal restore" "$(awk -v a="$a" -v b="$b" -v g="$gb" -v u="$bytes" -v n="$OBJSTORE_EVENTS" 'BEGIN { printf "%.2f s, %d entries (%.0f entries/s): %.0f s per GB restored (%.3f GB), %.0f s per GB of bucket objects (%.3f GB)", b - a, n, n / (b - a), (b - a) / g, g, (b - a) / (u / 1e9), u / 1e9 }')"
		else
			line "(c) logseal restore" "FAILED: not measured"
			tail -3 "$T/objstore-restore.log" | sed 's/^/    /'
		fi
	else
		line "(c) restore" "not available (no \`logseal restore\` in this build)"
	fi

	# (b) HTTP ingest with the store off, then on
	STEP="objstore: HTTP ingest, store off"
	serve_start "$T/objstore-off"
	local hz cp0 cp1 sp0 sp1 w0 w1
	hz=$(getconf CLK_TCK)
	cp0=$(objstore_cpu_ticks $(objstore_ceph_pids)); sp0=$(objstore_cpu_ticks "$SERVER_PID"); w0=$(now)
	"$BENCHBIN/loadgen" --port "$PORT" --token-file "$T/writer.token" --batch 1000 \
		--conns "$LOADGEN_CONNS" --seconds "$OBJSTORE_LOADGEN_SECONDS" \
		--results "$RESULTS" --key objstore_off >"$T/objstore-off.loadgen" 2>&1 ||
		{ tail "$T/objstore-off.loadgen" >&2; fail "loadgen (store off)"; }
	cp1=$(objstore_cpu_ticks $(objstore_ceph_pids)); sp1=$(objstore_cpu_ticks "$SERVER_PID"); w1=$(now)
	local cpu_off
	cpu_off=$(awk -v c=$((cp1 - cp0)) -v s=$((sp1 - sp0)) -v h="$hz" -v a="$w0" -v b="$w1" 'BEGIN { printf "server %.2f cores, Ceph %.2f cores", s / h / (b - a), c / h / (b - a) }')
	serve_stop
	STEP="objstore: HTTP ingest, store on"
	serve_start "$T/objstore-on" --object-store "s3://$bucket/ingest" --object-lock-days 1 \
		--object-store-endpoint "$AWS_ENDPOINT_URL" --object-store-path-style
	cp0=$(objstore_cpu_ticks $(objstore_ceph_pids)); sp0=$(objstore_cpu_ticks "$SERVER_PID"); w0=$(now)
	"$BENCHBIN/loadgen" --port "$PORT" --token-file "$T/writer.token" --batch 1000 \
		--conns "$LOADGEN_CONNS" --seconds "$OBJSTORE_LOADGEN_SECONDS" \
		--results "$RESULTS" --key objstore_on >"$T/objstore-on.loadgen" 2>&1 ||
		{ tail "$T/objstore-on.loadgen" >&2; fail "loadgen (store on)"; }
	cp1=$(objstore_cpu_ticks $(objstore_ceph_pids)); sp1=$(objstore_cpu_ticks "$SERVER_PID"); w1=$(now)
	local cpu_on
	cpu_on=$(awk -v c=$((cp1 - cp0)) -v s=$((sp1 - sp0)) -v h="$hz" -v a="$w0" -v b="$w1" 'BEGIN { printf "server %.2f cores, Ceph %.2f cores", s / h / (b - a), c / h / (b - a) }')
	local up
	up=$(curl -s "http://127.0.0.1:$PORT/metrics" -H "@$T/admin.hdr" | grep -E '^logseal_objstore_(uploaded_size|backlog_objects|backlog_bytes) ' | tr '\n' ' ')
	serve_stop
	off=$(get objstore_off_eps)
	on=$(get objstore_on_eps)
	line "(b) HTTP ingest, store off" "$(commas "$off") events/s (batches of 1000, $LOADGEN_CONNS conns, $OBJSTORE_LOADGEN_SECONDS s)"
	line "(b) HTTP ingest, serve --object-store" "$(commas "$on") events/s; at the end: ${up:-no upload metrics}"
	line "(b) CPU during the runs (of 2 cores)" "store off: $cpu_off; store on: $cpu_on (Ceph counted only when this bench started it)"
	line "(b) cost of the store" "$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.1f%% (aim <= 10%%)", 100 * (1 - a / b) }')"
	OBJSTORE_COST=$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')
	objstore_stop_engines
}

objstore_summary() {
	[ -n "${OBJSTORE_COST:-}" ] || return 0
	target "object store on, HTTP batches of 1000" "$OBJSTORE_COST" 0.90 \
		"$(awk -v c="$OBJSTORE_COST" 'BEGIN { printf "%.1f%%", 100 * (1 - c) }') cost (<= 10%)"
}
