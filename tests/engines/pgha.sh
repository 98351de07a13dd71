#!/bin/bash
# pgha.sh - the cluster tests' database: one etcd and three Patroni-managed
# PostgreSQL 15 nodes in strict synchronous mode on loopback ports chosen
# free at start (never the fixed 2379/5432: a developer's own database, and
# two suites, may run on one machine).  Written from
# ../shared/recipes/patroni-3node-gen.sh (Patroni 3.0.2, etcd 3.4, Debian 12).
#
#   pgha.sh start DIR          bring it up in DIR (emptied first), wait until a
#                              leader with a synchronous standby takes a write;
#                              prints "up in N s"; writes DIR/env:
#                                LOGSEAL_TEST_PG        multi-host conninfo
#                                                       (target_session_attrs=read-write)
#                                LOGSEAL_TEST_PGHA_DIR  DIR
#   pgha.sh stop DIR           stop Patroni, PostgreSQL and etcd by PID
#   pgha.sh status DIR         exit 0 when a leader and a sync standby are there
#   pgha.sh leader DIR         print the leader's node number (1-3)
#   pgha.sh kill-leader DIR    SIGKILL the leader's Patroni and postmaster at
#                              once (a node's death); prints the node number
#   pgha.sh restart-node N DIR start node N's Patroni again (after a kill); it
#                              rejoins as a standby (pg_rewind, or a new copy)
#   pgha.sh wait-sync DIR      wait (bounded) until a sync standby is there
#
# Everything runs as the postgres user (PostgreSQL refuses root) in DIR, which
# it owns; when not root, as the current user.  Daemons are started by this
# script, their PIDs kept in DIR/run/*.pid; nothing is found by process name
# and no system service is touched.  Every wait is bounded.
set -u
CMD=${1:-}
if [ "$CMD" = restart-node ]; then NODE=${2:-}; D=${3:-}; else D=${2:-}; fi
[ -n "$CMD" ] && [ -n "$D" ] || {
	echo "usage: $0 start|stop|status|leader|kill-leader|wait-sync DIR | restart-node N DIR" >&2
	exit 2
}
case $D in /*) ;; *) D=$PWD/$D ;; esac
WAIT_S=${PGHA_WAIT_S:-120}
PGBIN=${PGHA_PGBIN:-/usr/lib/postgresql/15/bin}
STARTING=""

say() { echo "pgha.sh: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# as_pg CMD...: exec CMD as the postgres user when root, else as this user.
# Started as `as_pg ... &`, the subshell execs setpriv, which execs CMD: $!
# is the daemon's own PID.
as_pg() {
	export HOME=$D
	if [ "$(id -u)" = 0 ]; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	fi
	exec "$@"
}
port_of() { sed -n "s/^$1=//p" "$D/ports" 2>/dev/null; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { cat "$D/run/$1.pid" 2>/dev/null; }

die() {
	say "$*"
	for f in "$D"/log/*.log; do
		[ -f "$f" ] || continue
		echo "---- tail of $f" >&2
		tail -8 "$f" >&2
	done
	if [ -n "$STARTING" ]; then
		say "bring-up failed: stopping what started"
		stop_all
	fi
	exit 1
}

# stop_pid NAME [SIG]: SIG (TERM) the daemon of run/NAME.pid, KILL it after 15 s.
stop_pid() {
	local pid i
	pid=$(pid_of "$1")
	rm -f "$D/run/$1.pid"
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	kill "-${2:-TERM}" "$pid" 2>/dev/null || return 0
	for i in $(seq 1 150); do
		alive "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}
postmaster_pid() { head -1 "$D/data/n$1/postmaster.pid" 2>/dev/null; }

# cluster_json: Patroni's view of the members, from any node that answers.
cluster_json() {
	local i p
	for i in 1 2 3; do
		p=$(port_of rest$i)
		[ -n "$p" ] || continue
		curl -sf -m 2 "http://127.0.0.1:$p/cluster" 2>/dev/null && return 0
	done
	return 1
}
leader() {
	cluster_json | jq -r '.members[] | select(.role == "leader") | select(.state == "running") | .name' 2>/dev/null |
		head -1 | tr -d n
}
has_sync() {
	[ -n "$(cluster_json | jq -r '.members[] | select(.role == "sync_standby") | select(.state == "streaming" or .state == "running") | .name' 2>/dev/null)" ]
}
conninfo() {
	echo "host=127.0.0.1,127.0.0.1,127.0.0.1 port=$(port_of pg1),$(port_of pg2),$(port_of pg3) user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
}
# writable: a write commits (so through a synchronous standby, strict mode).
writable() {
	timeout 10 psql "$(conninfo)" -XAtq -c 'CREATE TABLE IF NOT EXISTS pgha_probe (x int); INSERT INTO pgha_probe VALUES (1)' \
		>/dev/null 2>&1
}

start_node() {
	local i=$1 pid
	alive "$(pid_of patroni$i)" && return 0
	as_pg /usr/bin/patroni "$D/n$i.yml" >>"$D/log/patroni$i.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$D/run/patroni$i.pid"
}

stop_all() {
	local i pm
	for i in 1 2 3; do stop_pid "patroni$i" TERM & done
	wait
	# Patroni stops its PostgreSQL; one left behind (its Patroni was killed)
	for i in 1 2 3; do
		pm=$(postmaster_pid "$i")
		case $pm in '' | *[!0-9]*) continue ;; esac
		[ "$(cat "/proc/$pm/comm" 2>/dev/null)" = postgres ] || continue
		kill -QUIT "$pm" 2>/dev/null
	done
	stop_pid etcd
}

start() {
	local t0=$SECONDS i p
	[ -x "$PGBIN/postgres" ] || die "PostgreSQL 15 is not installed ($PGBIN; scripts/deps.sh test)"
	command -v patroni >/dev/null && command -v etcd >/dev/null ||
		die "Patroni or etcd is not installed (patroni etcd-server python3-etcd: scripts/deps.sh test)"
	[ -d "$D/run" ] && stop_all
	rm -rf "$D"
	mkdir -p "$D"/{run,log,data,etcd} || die "cannot create $D"
	chmod 700 "$D/data"
	[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$D"
	STARTING=1
	: >"$D/ports"
	for p in etcd etcdpeer pg1 pg2 pg3 rest1 rest2 rest3; do echo "$p=$(free_port)" >>"$D/ports"; done
	as_pg etcd --name pgha --data-dir "$D/etcd" \
		--listen-client-urls "http://127.0.0.1:$(port_of etcd)" \
		--advertise-client-urls "http://127.0.0.1:$(port_of etcd)" \
		--listen-peer-urls "http://127.0.0.1:$(port_of etcdpeer)" \
		--initial-advertise-peer-urls "http://127.0.0.1:$(port_of etcdpeer)" \
		--initial-cluster "pgha=http://127.0.0.1:$(port_of etcdpeer)" \
		>"$D/log/etcd.log" 2>&1 </dev/null &
	echo $! >"$D/run/etcd.pid"
	until curl -sf -m 2 "http://127.0.0.1:$(port_of etcd)/health" >/dev/null 2>&1; do
		alive "$(pid_of etcd)" || die "etcd exited"
		[ $((SECONDS - t0)) -ge "$WAIT_S" ] && die "etcd not answering after ${WAIT_S}s"
		sleep 0.3
	done
	for i in 1 2 3; do
		# ttl 20 is Patroni's floor: a dead leader's lock expires in <= 20 s.
		# Strict synchronous mode: no commit returns before a standby has it.
		cat >"$D/n$i.yml" <<EOC
scope: logseal-test
name: n$i
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$(port_of rest$i)
  connect_address: 127.0.0.1:$(port_of rest$i)
etcd3:
  hosts: 127.0.0.1:$(port_of etcd)
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 0
    synchronous_mode: true
    synchronous_mode_strict: true
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
        wal_log_hints: "on"
        synchronous_commit: "on"
        shared_buffers: 64MB
  initdb:
    - encoding: UTF8
    - data-checksums
  pg_hba:
    - local all all trust
    - local replication all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$(port_of pg$i)
  connect_address: 127.0.0.1:$(port_of pg$i)
  data_dir: $D/data/n$i
  bin_dir: $PGBIN
  pgpass: $D/pgpass$i
  authentication:
    replication: {username: replicator, password: rep}
    superuser: {username: postgres, password: pg}
    rewind: {username: postgres, password: pg}
  parameters:
    unix_socket_directories: $D/run
tags: {nofailover: false, noloadbalance: false, clonefrom: false, nosync: false}
EOC
	done
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$D"/n?.yml "$D/ports"
	# the first node bootstraps; the others clone from it
	start_node 1
	until [ -n "$(leader)" ]; do
		alive "$(pid_of patroni1)" || die "patroni n1 exited"
		[ $((SECONDS - t0)) -ge "$WAIT_S" ] && die "no leader after ${WAIT_S}s"
		sleep 0.5
	done
	start_node 2
	start_node 3
	until has_sync && writable; do
		[ $((SECONDS - t0)) -ge "$WAIT_S" ] && die "no synchronous standby taking writes after ${WAIT_S}s"
		sleep 0.5
	done
	cat >"$D/env" <<EOE
export LOGSEAL_TEST_PG='$(conninfo)'
export LOGSEAL_TEST_PGHA_DIR=$D
EOE
	STARTING=""
	echo "pgha.sh: up in $((SECONDS - t0)) s: leader n$(leader), PostgreSQL on 127.0.0.1:$(port_of pg1),$(port_of pg2),$(port_of pg3), etcd 127.0.0.1:$(port_of etcd) ($D)"
}

kill_leader() {
	local l pp pm
	l=$(leader)
	[ -n "$l" ] || { say "no leader to kill"; exit 1; }
	pp=$(pid_of "patroni$l")
	pm=$(postmaster_pid "$l")
	echo "$(date +%s.%N) kill n$l patroni=$pp postmaster=$pm" >>"$D/log/kill.log"
	kill -KILL $pp $pm 2>/dev/null
	rm -f "$D/run/patroni$l.pid"
	echo "$l"
}

wait_sync() {
	local t0=$SECONDS
	until has_sync && writable; do
		[ $((SECONDS - t0)) -ge "$WAIT_S" ] && { say "no synchronous standby after ${WAIT_S}s"; exit 1; }
		sleep 0.5
	done
}

case $CMD in
start) start ;;
stop) stop_all ;;
status) [ -n "$(leader)" ] && has_sync ;;
leader)
	l=$(leader)
	[ -n "$l" ] || exit 1
	echo "$l"
	;;
kill-leader) kill_leader ;;
restart-node)
	case $NODE in 1 | 2 | 3) ;; *) echo "restart-node: N is 1, 2 or 3" >&2; exit 2 ;; esac
	[ -f "$D/n$NODE.yml" ] || die "no cluster in $D"
	# a killed node's orphaned postmaster children may still hold the port
	pm=$(postmaster_pid "$NODE")
	case $pm in '' | *[!0-9]*) ;; *) [ "$(cat "/proc/$pm/comm" 2>/dev/null)" = postgres ] && kill -KILL "$pm" ;; esac
	start_node "$NODE"
	;;
wait-sync) wait_sync ;;
*) echo "usage: $0 start|stop|status|leader|kill-leader|wait-sync DIR | restart-node N DIR" >&2; exit 2 ;;
esac
