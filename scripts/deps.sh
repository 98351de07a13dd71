#!/bin/sh
# Install the Debian 12 packages logseal needs to build, test and benchmark,
# only those that are missing.  Safe to run again.  `deps.sh test` adds what
# only the tests use (Ceph RGW, the AWS CLI, SoftHSM2, opensc, PyNaCl).
set -e
need=""
for p in gcc make pkg-config clang libclang-rt-14-dev libssl-dev libjansson-dev \
	libmicrohttpd-dev libsqlite3-dev zlib1g-dev libdeflate-dev libzstd-dev libroaring-dev libcurl4-openssl-dev libxml2-dev \
	libp11-kit-dev libcmocka-dev librelp-dev curl jq openssl python3 iproute2 util-linux mount e2fsprogs postgresql prometheus; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
# The test part (`deps.sh test`: make test, make asan; never make run): Ceph's
# S3 gateway (tests/engines/ceph.sh) and the AWS CLI for the object-store tests.
if [ "${1:-}" = test ]; then
	for p in ceph-mon ceph-mgr ceph-osd radosgw ceph-common awscli python3-nacl softhsm2 opensc \
		rsyslog rsyslog-relp libivykis0 libnet1 libjson-c5 libwrap0 \
		protobuf-compiler python3-jsonschema; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
	done
fi
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
$SUDO apt-get install -y -q $need >/dev/null 2>&1 || {
	$SUDO apt-get update -q >/dev/null 2>&1
	$SUDO apt-get install -y -q $need >/dev/null
}
