# Shared helpers for integration scripts (TAP output).  Source it.
set -u
T_N=0; T_FAIL=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/logseal-test.XXXXXX")
SERVER_PIDS=""
cleanup() {
	for p in $SERVER_PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
ok() { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
not_ok() { T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $*"; }
# skip "description" "reason": a TAP skip (tests/run.sh counts it as a skip,
# not a pass).  Only for what this host cannot do, never for a wrong result.
skip() { T_N=$((T_N + 1)); echo "ok $T_N - $1 # SKIP $2"; }
# check "description" command...: ok when the command succeeds.
check() { local d=$1; shift; if "$@" >"$TMP/last.out" 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/#   /' "$TMP/last.out" | tail -15; fi; }
# check_fails "description" command...: ok when the command fails.
check_fails() { local d=$1; shift; if "$@" >"$TMP/last.out" 2>&1; then not_ok "$d (unexpectedly succeeded)"; sed 's/^/#   /' "$TMP/last.out" | tail -15; else ok "$d"; fi; }
# check_eq "description" expected actual
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   expected: $2"; echo "#   actual:   $3"; fi; }
# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
done_testing() { echo "1..$T_N"; [ "$T_FAIL" -eq 0 ]; }
