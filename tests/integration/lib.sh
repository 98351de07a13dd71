# Shared helpers for integration scripts (TAP output).  Source it.
set -u
# A script that fills a small file system (small_fs below) sets
# T_NEEDS_MOUNT=1 before sourcing this file.  Not run as root, it is then
# run again in a new user and mount namespace of its own (unshare -rm),
# where it may mount a tmpfs; its mounts vanish with the namespace.
if [ -n "${T_NEEDS_MOUNT:-}" ] && [ "$(id -u)" != 0 ] && [ -z "${T_IN_USERNS:-}" ] &&
	unshare -rm true 2>/dev/null; then
	T_IN_USERNS=1 exec unshare -rm bash "$0" "$@"
fi
T_N=0; T_FAIL=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/logseal-test.XXXXXX")
SERVER_PIDS=""
T_MOUNTS=""
cleanup() {
	local p m
	for p in $SERVER_PIDS; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	for m in $T_MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
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
# small_fs DIR SIZE: mounts a file system of SIZE bytes (suffix k/m) on DIR,
# to be filled up; the EXIT trap unmounts it.  A tmpfs when this process may
# mount one (root, or the user namespace above); else, as root, an ext4
# image on a loop device.  Fails with the reason in $SMALL_FS_ERR when
# neither can be mounted: the caller reports a TAP skip (skip).
# T_SMALL_FS=loop forces the loop device (to test that path).
SMALL_FS_ERR=""
small_fs() {
	local dir=$1 size=$2 img
	mkdir -p "$dir" || return 1
	if [ "${T_SMALL_FS:-}" != loop ] && mount -t tmpfs -o "size=$size" tmpfs "$dir" 2>"$TMP/mount.err"; then
		T_MOUNTS="$T_MOUNTS $dir"
		return 0
	fi
	SMALL_FS_ERR="mount -t tmpfs: $(head -1 "$TMP/mount.err" 2>/dev/null)"
	img=$TMP/fs.$RANDOM.img
	if truncate -s "$size" "$img" && mkfs.ext4 -q -F -m 0 -O ^has_journal "$img" >"$TMP/mount.err" 2>&1 &&
		mount -o loop "$img" "$dir" 2>>"$TMP/mount.err"; then
		T_MOUNTS="$T_MOUNTS $dir"
		rm -rf "$dir/lost+found"
		return 0
	fi
	rm -f "$img"
	SMALL_FS_ERR="$SMALL_FS_ERR; loop ext4: $(tail -1 "$TMP/mount.err" 2>/dev/null)"
	[ "$(id -u)" = 0 ] || SMALL_FS_ERR="$SMALL_FS_ERR (not root, no user namespace)"
	return 1
}
# need_s3 [PREFIX]: a fresh Object Lock bucket for this test on the suite's
# Ceph RGW (tests/run.sh starts it and exports LOGSEAL_TEST_S3_*).  Exports
# S3_BUCKET (the test's name and a random suffix), S3_URL=s3://BUCKET/PREFIX
# (PREFIX defaults to "logseal"), the AWS_* variables logseal and the AWS
# CLI read, LOGSEAL_S3_PATH_STYLE=1; `s3api ...` runs `aws s3api` against it.
# Without the server it reports a failure, not a skip, and ends the script:
# `make test` installs and starts Ceph, so a missing one is a broken setup.
need_s3() {
	local name
	if [ -z "${LOGSEAL_TEST_S3_ENDPOINT:-}" ] || [ -z "${LOGSEAL_TEST_S3_KEY:-}" ] ||
		[ -z "${LOGSEAL_TEST_S3_SECRET:-}" ]; then
		not_ok "need_s3: LOGSEAL_TEST_S3_ENDPOINT/_KEY/_SECRET not set (tests/run.sh starts Ceph RGW)"
		done_testing
		exit 1
	fi
	name=$(basename "$0" .sh | tr 'A-Z_.' 'a-z--' | tr -cd 'a-z0-9-' | cut -c1-40)
	export S3_BUCKET="${name:-t}-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
	export S3_URL="s3://$S3_BUCKET/${1:-logseal}"
	export AWS_ACCESS_KEY_ID=$LOGSEAL_TEST_S3_KEY AWS_SECRET_ACCESS_KEY=$LOGSEAL_TEST_S3_SECRET
	export AWS_ENDPOINT_URL=$LOGSEAL_TEST_S3_ENDPOINT AWS_REGION=us-east-1 LOGSEAL_S3_PATH_STYLE=1
	export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3
	if ! s3api create-bucket --bucket "$S3_BUCKET" --object-lock-enabled-for-bucket \
		>"$TMP/need_s3.out" 2>&1; then
		not_ok "need_s3: create bucket $S3_BUCKET at $AWS_ENDPOINT_URL"
		sed 's/^/#   /' "$TMP/need_s3.out" | tail -5
		done_testing
		exit 1
	fi
}
s3api() { /usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" s3api "$@"; }
# rgw_stop / rgw_start: an S3 outage (radosgw alone stopped, started again
# on the same port; the cluster keeps its data).
rgw_stop() { "$(dirname "${BASH_SOURCE[0]}")/../engines/ceph.sh" rgw-stop "$(dirname "$CEPH_CONF")"; }
rgw_start() { "$(dirname "${BASH_SOURCE[0]}")/../engines/ceph.sh" rgw-start "$(dirname "$CEPH_CONF")"; }
# need_pg: a fresh database for this test on the suite's Patroni/PostgreSQL
# cluster (tests/run.sh starts tests/engines/pgha.sh and exports
# LOGSEAL_TEST_PG, LOGSEAL_TEST_PGHA_DIR).  Exports PG_DB (the test's name
# and a random suffix), PG_CONNINFO (LOGSEAL_TEST_PG naming that database:
# every host, target_session_attrs=read-write) and PGHA_DIR (for
# `pgha kill-leader` and the like); `pgq SQL` runs SQL there and prints
# unaligned rows.  Without the cluster it reports a failure and ends the
# script: `make test` starts it, so a missing one is a broken setup.
need_pg() {
	local name
	if [ -z "${LOGSEAL_TEST_PG:-}" ]; then
		not_ok "need_pg: LOGSEAL_TEST_PG not set (tests/run.sh starts tests/engines/pgha.sh)"
		done_testing
		exit 1
	fi
	name=$(basename "$0" .sh | tr 'A-Z.-' 'a-z__' | tr -cd 'a-z0-9_' | cut -c1-40)
	export PG_DB="${name:-t}_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
	export PG_CONNINFO="$(printf '%s' "$LOGSEAL_TEST_PG" | sed 's/dbname=[^ ]*//') dbname=$PG_DB"
	export PGHA_DIR=${LOGSEAL_TEST_PGHA_DIR:-}
	if ! timeout 60 psql "$LOGSEAL_TEST_PG" -XAtq -c "CREATE DATABASE $PG_DB" >"$TMP/need_pg.out" 2>&1; then
		not_ok "need_pg: CREATE DATABASE $PG_DB"
		sed 's/^/#   /' "$TMP/need_pg.out" | tail -5
		done_testing
		exit 1
	fi
}
pgq() { timeout 30 psql "$PG_CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# pgha CMD [ARGS]: tests/engines/pgha.sh CMD [ARGS] on the suite's cluster
# (kill-leader, leader, restart-node N, wait-sync, status).
pgha() {
	local c=$1; shift
	"$(dirname "${BASH_SOURCE[0]}")/../engines/pgha.sh" "$c" "$@" "$PGHA_DIR"
}
