#!/bin/bash
# Runs every unit test binary and integration script; all speak TAP
# ("ok N - name" / "not ok N - name").  A program that exits non-zero
# without reporting a failure counts as one failure.  A TAP skip ("ok N -
# name # SKIP reason", or a whole script's plan "1..0 # SKIP reason") counts
# as a skip, not a pass.  Ends with "N passed, N failed, N skipped" (CI looks
# for the "N passed, N failed" start).
# ONLY=REGEX runs just the programs whose name (test_x, t0300-x.sh) matches.
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD LOGSEAL="$PWD/$BUILD/logseal" TESTBIN="$PWD/$BUILD/tests"
export CMOCKA_MESSAGE_OUTPUT=TAP
ONLY=${ONLY:-}
pass=0; fail=0; skip=0; failed_names=(); times=()
# The S3 engine: Ceph RGW (tests/engines/ceph.sh) under $BUILD/engines/ceph,
# started once in the background when a selected program needs S3 (a unit
# test that reads LOGSEAL_TEST_S3_*, a script that calls need_s3), waited
# for before the first of them, stopped by PID on exit.  Without radosgw
# (scripts/deps.sh test installs it) it is not started and those tests
# FAIL.  LOGSEAL_TEST_S3_ENDPOINT already set: that server is used instead.
CEPH_DIR=$PWD/$BUILD/engines/ceph
CEPH_LOG=$PWD/$BUILD/engines/ceph.log
ceph_pid=""; ceph_state=none
needs_s3() {
	case $1 in
	*.sh) grep -q need_s3 "$1" ;;
	*) grep -q LOGSEAL_TEST_S3 "tests/unit/$(basename "$1").c" 2>/dev/null ;;
	esac
}
selected() { [ -z "$ONLY" ] || [[ $(basename "$1") =~ $ONLY ]]; }
ceph_stop() {
	[ -n "$ceph_pid" ] && kill "$ceph_pid" 2>/dev/null && wait "$ceph_pid" 2>/dev/null
	[ "$ceph_state" != none ] && tests/engines/ceph.sh stop "$CEPH_DIR" >/dev/null 2>&1
	ceph_pid=""; ceph_state=none
}
ceph_wait() {
	local rc
	[ "$ceph_state" = started ] || return 0
	rc=0; wait "$ceph_pid" || rc=$?
	ceph_pid=""; ceph_state=waited
	if [ "$rc" -eq 0 ] && [ -f "$CEPH_DIR/env" ]; then
		. "$CEPH_DIR/env"
		echo "# ceph: $(grep -o 'up in .*' "$CEPH_LOG" | head -1)"
	else
		echo "# ceph: bring-up failed (S3 tests will fail):"
		tail -15 "$CEPH_LOG" | sed 's/^/#   /'
	fi
}
if [ -z "${LOGSEAL_TEST_S3_ENDPOINT:-}" ]; then
	for t in "$BUILD"/tests/test_* tests/integration/t*.sh; do
		selected "$t" && needs_s3 "$t" || continue
		if command -v radosgw >/dev/null 2>&1; then
			mkdir -p "$(dirname "$CEPH_DIR")"
			tests/engines/ceph.sh start "$CEPH_DIR" >"$CEPH_LOG" 2>&1 &
			ceph_pid=$!; ceph_state=started
			trap ceph_stop EXIT
		else
			echo "# ceph: radosgw is not installed (scripts/deps.sh test): S3 tests will fail"
		fi
		break
	done
fi
# The cluster's database (issue 16): etcd and three Patroni/PostgreSQL 15
# nodes (tests/engines/pgha.sh) under $BUILD/engines/pgha, started once in
# the background when a selected program needs it (a script that calls
# need_pg, a unit test that reads LOGSEAL_TEST_PG), waited for before the
# first of them, stopped by PID on exit.  Exports LOGSEAL_TEST_PG (a
# multi-host conninfo) and LOGSEAL_TEST_PGHA_DIR.  LOGSEAL_TEST_PG already
# set: that database is used instead.
PGHA_DIR=$PWD/$BUILD/engines/pgha
PGHA_LOG=$PWD/$BUILD/engines/pgha.log
pgha_pid=""; pgha_state=none
needs_pg() {
	case $1 in
	*.sh) grep -q need_pg "$1" ;;
	*) grep -q LOGSEAL_TEST_PG "tests/unit/$(basename "$1").c" 2>/dev/null ;;
	esac
}
pgha_stop() {
	[ -n "$pgha_pid" ] && kill "$pgha_pid" 2>/dev/null && wait "$pgha_pid" 2>/dev/null
	[ "$pgha_state" != none ] && tests/engines/pgha.sh stop "$PGHA_DIR" >/dev/null 2>&1
	pgha_pid=""; pgha_state=none
}
pgha_wait() {
	local rc
	[ "$pgha_state" = started ] || return 0
	rc=0; wait "$pgha_pid" || rc=$?
	pgha_pid=""; pgha_state=waited
	if [ "$rc" -eq 0 ] && [ -f "$PGHA_DIR/env" ]; then
		. "$PGHA_DIR/env"
		echo "# pgha: $(grep -o 'up in .*' "$PGHA_LOG" | head -1)"
	else
		echo "# pgha: bring-up failed (cluster tests will fail):"
		tail -15 "$PGHA_LOG" | sed 's/^/#   /'
	fi
}
if [ -z "${LOGSEAL_TEST_PG:-}" ]; then
	for t in "$BUILD"/tests/test_* tests/integration/t*.sh; do
		selected "$t" && needs_pg "$t" || continue
		mkdir -p "$(dirname "$PGHA_DIR")"
		tests/engines/pgha.sh start "$PGHA_DIR" >"$PGHA_LOG" 2>&1 &
		pgha_pid=$!; pgha_state=started
		trap 'ceph_stop; pgha_stop' EXIT
		break
	done
fi
# tap_count: "PASSED FAILED SKIPPED" of the TAP on stdin.  A skip is a test
# line with the "# SKIP" directive (any case) after its description, or a
# plan of no tests ("1..0 # SKIP why").  cmocka prints its skips as
# "not ok N # SKIP name": a skip, not a failure.
tap_count() {
	awk 'BEGIN { p = f = s = 0 }
	/^(not )?ok / && tolower($0) ~ /#[ \t]*skip([^a-z]|$)/ { s++; next }
	/^ok / { p++; next }
	/^not ok / { f++; next }
	/^1\.\.0([^0-9]|$)/ { s++ }
	END { print p, f, s }'
}
run_one() {
	local name=$1; shift
	local out rc p f s t0
	[ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]] && return 0
	needs_s3 "${@: -1}" && ceph_wait
	needs_pg "${@: -1}" && pgha_wait
	echo "# $name"
	t0=$SECONDS
	out=$("$@" 2>&1); rc=$?
	times+=("$((SECONDS - t0)) $name")
	printf '%s\n' "$out" | grep -E '^(not )?ok |^#|^1\.\.0([^0-9]|$)' | grep -vE '^# (ok|not ok)' || true
	read -r p f s < <(printf '%s\n' "$out" | tap_count)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
		echo "not ok - $name exited with status $rc"
	elif [ "$f" -ne 0 ]; then
		printf '%s\n' "$out" | grep -vE '^(not )?ok ' | tail -30 | sed 's/^/#   /'
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	[ "$f" -ne 0 ] && failed_names+=("$name")
}
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "$(basename "$t")" "$t"
done
for t in tests/integration/t*.sh; do
	[ -f "$t" ] || continue
	run_one "$(basename "$t")" bash "$t"
done
ceph_stop
pgha_stop
# The slowest programs, so the suite's time stays visible (seconds).
echo "# slowest: $(printf '%s\n' "${times[@]}" | sort -rn | head -8 | awk '{printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1}')"
[ ${#failed_names[@]} -gt 0 ] && echo "# failing: ${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
