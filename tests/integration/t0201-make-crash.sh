#!/bin/bash
# `make crash N=...` as users call it: from the source tree, with nothing
# but make's own variables (no LOGSEAL or TESTBIN in the environment; the
# target once ran the script without them, and without its exec bit: exit
# 126).  Two rounds keep `make test` short; `make crash N=50` is the real loop.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-build}
env -u LOGSEAL -u TESTBIN -u CRASH_ROUNDS -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -C "$ROOT" --no-print-directory crash N=2 BUILD="$B" >"$TMP/crash.out" 2>&1
rc=$?
check_eq "make crash N=2 exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$TMP/crash.out" | tail -20
check_eq "no failed round" 0 "$(grep -c '^not ok' "$TMP/crash.out")"
check_eq "both rounds ran (entries survive, verify passes)" 4 \
	"$(grep -cE '^ok [0-9]+ - round [12]: (verify passes|all [0-9]+ acknowledged)' "$TMP/crash.out")"
check_eq "round 2 cut a torn tail and said so" 1 \
	"$(grep -c '^ok [0-9]* - round 2: recovery cut the torn tail and said so' "$TMP/crash.out")"
done_testing
