#!/bin/bash
# Runs every unit test binary and integration script; all speak TAP
# ("ok N - name" / "not ok N - name").  A program that exits non-zero
# without reporting a failure counts as one failure.  Ends with
# "N passed, N failed".
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD LOGSEAL="$PWD/$BUILD/logseal" TESTBIN="$PWD/$BUILD/tests"
export CMOCKA_MESSAGE_OUTPUT=TAP
pass=0; fail=0; failed_names=()
run_one() {
	local name=$1; shift
	local out rc p f
	echo "# $name"
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -E '^(not )?ok |^#' | grep -vE '^# (ok|not ok)' || true
	p=$(printf '%s\n' "$out" | grep -cE '^ok ')
	f=$(printf '%s\n' "$out" | grep -cE '^not ok ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
		echo "not ok - $name exited with status $rc"
	elif [ "$f" -ne 0 ]; then
		printf '%s\n' "$out" | grep -vE '^(not )?ok ' | tail -30 | sed 's/^/#   /'
	fi
	pass=$((pass + p)); fail=$((fail + f))
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
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
