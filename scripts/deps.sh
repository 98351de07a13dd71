#!/bin/sh
# Install the Debian 12 packages logseal needs to build, test and benchmark,
# only those that are missing.  Safe to run again.  `deps.sh test` adds what
# only the tests, fuzzing and benchmarks use (clang, cmocka, Ceph RGW, the AWS
# CLI, SoftHSM2, opensc, PyNaCl, PostgreSQL, Patroni,
# etcd, Prometheus): `make run` never
# installs those.  DEPS_LIST=1 prints the packages instead of installing.
set -e
need=""
want() {
	if [ -n "${DEPS_LIST:-}" ]; then echo "$1"; return; fi
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || need="$need $1"
}
for p in gcc make pkg-config libssl-dev libjansson-dev \
	libmicrohttpd-dev libsqlite3-dev zlib1g-dev libdeflate-dev libzstd-dev libroaring-dev libcurl4-openssl-dev libxml2-dev libpq-dev \
	libp11-kit-dev librelp-dev curl jq openssl python3; do
	want "$p"
done
# The test part (`deps.sh test`: make test, asan, fuzz, bench, crash; never make
# run): Ceph's S3 gateway (tests/engines/ceph.sh) and the AWS CLI for the
# object-store tests, clang and cmocka, PostgreSQL and Prometheus (bench, metrics test).
if [ "${1:-}" = test ]; then
	for p in ceph-mon ceph-mgr ceph-osd radosgw ceph-common awscli python3-nacl softhsm2 opensc \
		clang libclang-rt-14-dev libcmocka-dev iproute2 util-linux mount e2fsprogs postgresql prometheus \
		patroni etcd-server etcd-client python3-etcd \
		rsyslog rsyslog-relp libivykis0 libnet1 libjson-c5 libwrap0 \
		protobuf-compiler python3-jsonschema; do
		want "$p"
	done
fi
# npm fetches the dashboard's vendored chart library at build time
# (scripts/vendor_web.sh); Node.js from elsewhere may bring its own npm.
if [ -n "${DEPS_LIST:-}" ] || ! command -v npm >/dev/null 2>&1; then want npm; fi
[ -n "${DEPS_LIST:-}" ] && exit 0
# syslog-ng and rsyslog conflict as packages (system-log-daemon): the tests
# run syslog-ng (t0955) from its Debian package unpacked, not installed.
SYSLOG_NG_ROOT=${SYSLOG_NG_ROOT:-/opt/logseal-test/syslog-ng}
if [ "${1:-}" = test ] && [ ! -x "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng" ] && [ ! -x /usr/sbin/syslog-ng ]; then
	S=""; [ "$(id -u)" -ne 0 ] && S=sudo
	d=$(mktemp -d)
	(cd "$d" && apt-get download -q syslog-ng-core >/dev/null 2>&1 ||
		{ $S apt-get update -q >/dev/null 2>&1; apt-get download -q syslog-ng-core >/dev/null; })
	$S mkdir -p "$SYSLOG_NG_ROOT" && $S dpkg -x "$d"/syslog-ng-core_*.deb "$SYSLOG_NG_ROOT"
	rm -rf "$d"
fi
[ -z "$need" ] && exit 0
echo "installing:$need" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# No service starts from these installs (postgresql's own cluster on 5432,
# etcd on 2379): the tests start what they need on free ports
# (tests/engines/pgha.sh), by PID.
if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -q $need >/dev/null 2>&1 || {
	$SUDO apt-get update -q >/dev/null 2>&1
	$SUDO apt-get install -y -q $need >/dev/null
}
