#!/bin/bash
# ceph.sh - a one-host Ceph cluster with an S3 gateway for the test suite:
# 1 mon, 1 mgr, 1 memstore OSD (data in RAM) and 1 radosgw, on loopback
# ports chosen free at start (never the fixed 3300/7480: two suites, and a
# developer's own RGW, may run at once on one machine).  Written from
# ../shared/recipes/ceph-rgw-memstore-up.sh (Ceph 16.2, Debian 12).
#
#   ceph.sh start DIR      bring it up in DIR (emptied first), wait until the
#                          S3 user answers a signed request; writes DIR/env:
#                            LOGSEAL_TEST_S3_ENDPOINT  http://127.0.0.1:PORT
#                            LOGSEAL_TEST_S3_KEY / _SECRET  the S3 user's keys
#                            LOGSEAL_TEST_S3_TLS_ENDPOINT   https://127.0.0.1:PORT2
#                            LOGSEAL_TEST_S3_CACERT    the CA of its certificate
#                            CEPH_CONF                 DIR/ceph.conf
#   ceph.sh stop DIR       stop every daemon of DIR by the PID in its pid file
#   ceph.sh rgw-stop DIR   stop only radosgw (outage tests)
#   ceph.sh rgw-start DIR  start radosgw again on the same port, wait for it
#   ceph.sh status DIR     exit 0 when the S3 endpoint answers
#
# Daemons write DIR/run/<name>.pid ("pid file" in ceph.conf) and their logs
# to DIR/log/.  Nothing here finds a process by name: other clusters may run
# on this machine.  Every wait is bounded; a failure says what did not come
# up and shows the end of its log, and `start` stops what it started.
set -u
CMD=${1:-}
D=${2:-}
[ -n "$CMD" ] && [ -n "$D" ] || { echo "usage: $0 start|stop|rgw-stop|rgw-start|status DIR" >&2; exit 2; }
case $D in /*) ;; *) D=$PWD/$D ;; esac
RGW=client.rgw.a
WAIT_S=${CEPH_WAIT_S:-180}	# bound of the whole bring-up (60 s seen beside a full build)
STARTING=""

say() { echo "ceph.sh: $*" >&2; }
die() {
	say "$*"
	for f in "$D"/log/*.log; do
		[ -f "$f" ] || continue
		echo "---- tail of $f" >&2
		tail -5 "$f" >&2
	done
	if [ -n "$STARTING" ]; then
		say "bring-up failed: stopping what started"
		stop_all
	fi
	exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# ceph_cmd ARGS: the ceph CLI against this cluster, never hanging.
ceph_cmd() { timeout 30 ceph --conf "$D/ceph.conf" --connect-timeout 20 "$@"; }

# stop_pid NAME: TERM the daemon of run/NAME.pid, KILL it after 10 s.
stop_pid() {
	local f=$D/run/$1.pid pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null)
	rm -f "$f"
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# wait_pidfile NAME: until the daemon wrote its pid file (it forks first).
wait_pidfile() {
	local i
	for i in $(seq 1 200); do
		[ -s "$D/run/$1.pid" ] && return 0
		sleep 0.1
	done
	die "$1 did not start (no $D/run/$1.pid after 20 s)"
}

# s3_ok: a signed ListBuckets with the test user's keys answers 200.
s3_ok() {
	local e k s
	e=$(sed -n 's/^export LOGSEAL_TEST_S3_ENDPOINT=//p' "$D/env" 2>/dev/null)
	k=$(sed -n 's/^export LOGSEAL_TEST_S3_KEY=//p' "$D/env" 2>/dev/null)
	s=$(sed -n 's/^export LOGSEAL_TEST_S3_SECRET=//p' "$D/env" 2>/dev/null)
	[ -n "$e" ] || return 1
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
		--user "$k:$s" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"$e/")" = 200 ]
}

rgw_port() { sed -n 's/^rgw frontends = beast endpoint=127.0.0.1:\([0-9]*\).*/\1/p' "$D/ceph.conf"; }

start_rgw() {
	local port t0=$SECONDS
	port=$(rgw_port)
	radosgw --conf "$D/ceph.conf" -n "$RGW" --keyring "$D/rgw/keyring" || die "radosgw failed to start"
	wait_pidfile "$RGW"
	until [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 200 ]; do
		[ $((SECONDS - t0)) -ge "$WAIT_S" ] && die "radosgw not answering on 127.0.0.1:$port after ${WAIT_S}s"
		sleep 0.5
	done
}

stop_all() {
	stop_pid "$RGW"
	for f in "$D"/run/osd.*.pid; do [ -f "$f" ] && stop_pid "$(basename "$f" .pid)"; done
	stop_pid mgr.x
	stop_pid mon.a
}

start() {
	local t0=$SECONDS fsid mon_port rgw_port_ tls_port uuid osd key secret
	command -v radosgw >/dev/null && command -v ceph-mon >/dev/null ||
		die "Ceph is not installed (radosgw, ceph-mon, ceph-mgr, ceph-osd: scripts/deps.sh)"
	[ -d "$D/run" ] && stop_all
	rm -rf "$D"
	mkdir -p "$D"/{mon,osd/0,mgr/x,rgw,run,log} || die "cannot create $D"
	STARTING=1
	fsid=$(cat /proc/sys/kernel/random/uuid)
	mon_port=$(free_port)
	rgw_port_=$(free_port)
	tls_port=$(free_port)
	# TLS: a CA of this cluster's own and a certificate for 127.0.0.1,
	# localhost, s3.localhost and *.s3.localhost (clients name the CA:
	# LOGSEAL_S3_CACERT; curl accepts no wildcard over a single label)
	mkdir -p "$D/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 \
		-subj /CN=logseal-test-ca -keyout "$D/tls/ca.key" -out "$D/tls/ca.pem" >/dev/null 2>&1 &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
			-keyout "$D/tls/rgw.key" -out "$D/tls/rgw.csr" >/dev/null 2>&1 &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:s3.localhost,DNS:*.s3.localhost\nbasicConstraints=CA:FALSE\n' \
			>"$D/tls/ext" &&
		openssl x509 -req -in "$D/tls/rgw.csr" -CA "$D/tls/ca.pem" -CAkey "$D/tls/ca.key" \
			-CAcreateserial -days 3 -extfile "$D/tls/ext" -out "$D/tls/rgw.crt" >/dev/null 2>&1 ||
		die "cannot make the TLS certificate"
	# \$name, \$id and \$cluster are Ceph's own metavariables: the heredoc
	# must leave them to Ceph.
	cat >"$D/ceph.conf" <<EOC
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $D/keyring
run dir = $D/run
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
ms bind ipv4 = true
public addr = 127.0.0.1
[mon]
mon data = $D/mon/\$cluster-\$id
[mgr]
mgr data = $D/mgr/\$id
[osd]
osd data = $D/osd/\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd memory target = 939524096
[$RGW]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port_ ssl_endpoint=127.0.0.1:$tls_port ssl_certificate=$D/tls/rgw.crt ssl_private_key=$D/tls/rgw.key
rgw data = $D/rgw
# virtual-hosted requests: Host BUCKET.s3.localhost:PORT (libcurl resolves
# *.localhost to loopback); 127.0.0.1:PORT stays path-style
rgw dns name = s3.localhost
EOC
	export CEPH_CONF=$D/ceph.conf
	ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null &&
		ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
			--cap mgr 'allow *' --cap mds 'allow *' >/dev/null &&
		monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$D/monmap" >/dev/null ||
		die "cannot create the keyring or the monitor map"
	ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" 2>"$D/log/mkfs-mon.err" ||
		die "ceph-mon --mkfs failed: $(tail -2 "$D/log/mkfs-mon.err")"
	ceph-mon -i a || die "ceph-mon failed to start"
	wait_pidfile mon.a
	until ceph_cmd -s >/dev/null 2>&1; do
		[ $((SECONDS - t0)) -ge "$WAIT_S" ] && die "monitor not answering on 127.0.0.1:$mon_port"
		sleep 0.5
	done
	ceph_cmd auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
		>"$D/mgr/x/keyring" || die "cannot create the mgr key"
	ceph-mgr -i x --keyring "$D/mgr/x/keyring" || die "ceph-mgr failed to start"
	wait_pidfile mgr.x
	uuid=$(cat /proc/sys/kernel/random/uuid)
	osd=$(ceph_cmd osd new "$uuid") || die "ceph osd new failed"
	ceph-osd -i "$osd" --mkfs --mkkey --no-mon-config --osd-uuid "$uuid" \
		--keyring "$D/osd/0/keyring" >"$D/log/mkfs-osd.out" 2>&1 || die "ceph-osd --mkfs failed"
	ceph_cmd auth add "osd.$osd" osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
		-i "$D/osd/0/keyring" >/dev/null 2>&1 || die "cannot register the OSD key"
	ceph-osd -i "$osd" --keyring "$D/osd/0/keyring" 2>>"$D/log/start-osd.err" || die "ceph-osd failed to start"
	wait_pidfile "osd.$osd"
	ceph_cmd auth get-or-create "$RGW" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
		>"$D/rgw/keyring" || die "cannot create the radosgw key"
	start_rgw
	key=LSTEST$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
	secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	timeout 60 radosgw-admin --conf "$D/ceph.conf" user create --uid=logseal-test \
		--display-name=logseal-test --access-key="$key" --secret="$secret" >/dev/null 2>"$D/log/user.err" ||
		die "radosgw-admin user create failed: $(tail -2 "$D/log/user.err")"
	cat >"$D/env" <<EOE
export LOGSEAL_TEST_S3_ENDPOINT=http://127.0.0.1:$rgw_port_
export LOGSEAL_TEST_S3_KEY=$key
export LOGSEAL_TEST_S3_SECRET=$secret
export LOGSEAL_TEST_S3_TLS_ENDPOINT=https://127.0.0.1:$tls_port
export LOGSEAL_TEST_S3_CACERT=$D/tls/ca.pem
export CEPH_CONF=$D/ceph.conf
EOE
	until s3_ok; do
		[ $((SECONDS - t0)) -ge "$WAIT_S" ] && die "the S3 user does not answer after ${WAIT_S}s"
		sleep 0.5
	done
	STARTING=""
	say "up in $((SECONDS - t0))s: S3 at http://127.0.0.1:$rgw_port_ (mon 127.0.0.1:$mon_port, $D)"
}

case $CMD in
start) start ;;
stop) stop_all ;;
rgw-stop) stop_pid "$RGW" ;;
rgw-start)
	[ -f "$D/ceph.conf" ] || die "no cluster in $D"
	start_rgw
	;;
status) s3_ok ;;
*) echo "usage: $0 start|stop|rgw-stop|rgw-start|status DIR" >&2; exit 2 ;;
esac
