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
pass=0; fail=0; skip=0; failed_names=()
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
	local out rc p f s
	[ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]] && return 0
	echo "# $name"
	out=$("$@" 2>&1); rc=$?
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
[ ${#failed_names[@]} -gt 0 ] && echo "# failing: ${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
