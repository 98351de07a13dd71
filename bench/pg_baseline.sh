#!/bin/bash
# bench/pg_baseline.sh - the baseline users build for themselves: PostgreSQL 15
# with an append-only audit table, loaded with COPY in batches of 1000 rows,
# each COPY its own transaction, fsync and synchronous_commit on.
#
#   bench/pg_baseline.sh EVENTS.ndjson [RESULTS_FILE]
#
# Starts a private cluster (initdb + pg_ctl) in a temp dir under $BENCH_TMP
# (default build/bench-tmp, i.e. the disk the log uses), listening on
# 127.0.0.1 on a free port and on a unix socket in that dir; as root it runs
# the server as the `postgres` user.  Converts the NDJSON to a COPY script
# before the clock starts (what a loader would have ready), then times one
# psql session running it.  Prints events/s; with RESULTS_FILE appends
# "pg_eps <value>".  The cluster is stopped and removed on any exit.
#
# Environment: PGBIN (default /usr/lib/postgresql/15/bin), PG_BATCH (rows per
# COPY, default 1000).
#
# Sourced (`. bench/pg_baseline.sh`), it only defines the pieces, which
# run.sh uses for the read figures:
#   pg_start ROOT          a private cluster in a new dir under ROOT; sets
#                          PG_WORK, PG_PORT and the PSQL command array
#   pg_create_table [noindex]   the audit table and its append-only triggers,
#                          with its indexes unless "noindex"
#   pg_create_indexes      the five indexes
#   pg_convert EVENTS OUT BATCH   NDJSON to COPY blocks of BATCH rows
#   pg_stop                stop the server (immediate), files kept
#   pg_remove              stop and delete the cluster's dir
# The functions return non-zero on failure and leave traps to the caller.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
# free_port.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PG_WORK=""
PG_PORT=""
PG_AS=()
PSQL=()

pg_die() { echo "pg_baseline: $*" >&2; return 1; }

pg_start() {
	local root=$1 psql_bin=$PGBIN/psql
	[ -x "$PGBIN/initdb" ] || { pg_die "$PGBIN/initdb not found (scripts/deps.sh installs postgresql)"; return; }
	[ -x "$psql_bin" ] || psql_bin=$(command -v psql) || { pg_die "psql not found"; return; }
	mkdir -p "$root"
	PG_WORK=$(mktemp -d "$root/pg.XXXXXX")
	PG_WORK=$(cd "$PG_WORK" && pwd)
	PG_AS=()
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || { pg_die "running as root but there is no postgres user"; return; }
		chown postgres: "$PG_WORK"
		PG_AS=(runuser -u postgres --)
		"${PG_AS[@]}" test -w "$PG_WORK" ||
			{ pg_die "user postgres cannot write $PG_WORK (a parent directory is not searchable)"; return; }
	fi
	PG_PORT=$(free_port)
	"${PG_AS[@]}" "$PGBIN/initdb" -D "$PG_WORK/data" -U bench --auth=trust -E UTF8 --no-locale \
		>"$PG_WORK/initdb.log" 2>&1 || { cat "$PG_WORK/initdb.log" >&2; pg_die "initdb failed"; return; }
	# Durability as shipped (these are the defaults, stated so the figure says
	# what it measures); the rest is left at the package defaults.
	"${PG_AS[@]}" tee -a "$PG_WORK/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_WORK'
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
EOF
	"${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PG_WORK/data" -l "$PG_WORK/pg.log" -w -t 60 start >/dev/null ||
		{ pg_die "pg_ctl start failed"; return; }
	PSQL=("$psql_bin" -X -q -v ON_ERROR_STOP=1 -h "$PG_WORK" -p "$PG_PORT" -U bench -d postgres)
}

pg_stop() {
	if [ -n "$PG_WORK" ] && [ -f "$PG_WORK/data/postmaster.pid" ]; then
		"${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PG_WORK/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
}

pg_remove() {
	pg_stop
	[ -n "$PG_WORK" ] && rm -rf "$PG_WORK"
	PG_WORK=""
}

pg_create_table() {
	"${PSQL[@]}" >/dev/null <<'EOF' || return
CREATE TABLE audit (
	time      timestamptz NOT NULL,
	actor     text NOT NULL,
	action    text NOT NULL,
	outcome   text NOT NULL,
	source_ip inet,
	service   text,
	resource  text,
	event     jsonb NOT NULL
);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
EOF
	[ "${1:-}" = noindex ] || pg_create_indexes
}

pg_create_indexes() {
	"${PSQL[@]}" >/dev/null <<'EOF'
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_actor_time ON audit (actor, time);
CREATE INDEX audit_action_time ON audit (action, time);
CREATE INDEX audit_source_ip ON audit (source_ip);
CREATE INDEX audit_service_time ON audit (service, time);
EOF
}

# One "COPY ... FROM STDIN" block per BATCH rows: psql in autocommit mode
# runs each as its own transaction, committed (and WAL-flushed) before the next.
pg_convert() {
	python3 - "$1" "$2" "$3" <<'EOF' || return
import json, sys
src, dst, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
head = "COPY audit (time, actor, action, outcome, source_ip, service, resource, event) FROM STDIN;\n"
def esc(s):
    if s is None:
        return "\\N"
    return (str(s).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))
n = 0
with open(src) as f, open(dst, "w") as out:
    for line in f:
        line = line.rstrip("\n")
        if not line:
            continue
        e = json.loads(line)
        res = e.get("resource") or {}
        if n % batch == 0:
            if n:
                out.write("\\.\n")
            out.write(head)
        out.write("\t".join(esc(v) for v in (
            e["time"], e["actor"]["id"], e["action"], e["outcome"],
            (e.get("source") or {}).get("ip"), e.get("service"),
            "%s/%s" % (res.get("type", ""), res.get("id", "")) if res else None,
            line)) + "\n")
        n += 1
    if n:
        out.write("\\.\n")
EOF
	chmod a+r "$2"
}

pg_baseline_main() {
	set -euo pipefail
	cd "$(dirname "$0")/.."
	EVENTS=${1:?usage: bench/pg_baseline.sh EVENTS.ndjson [RESULTS_FILE]}
	RESULTS=${2:-}
	PG_BATCH=${PG_BATCH:-1000}
	BENCH_TMP=${BENCH_TMP:-$PWD/build/bench-tmp}
	[ -r "$EVENTS" ] || { pg_die "cannot read $EVENTS"; exit 1; }
	trap pg_main_cleanup EXIT
	trap 'exit 130' INT TERM

	pg_start "$BENCH_TMP" || exit 1
	pg_create_table || exit 1
	pg_convert "$EVENTS" "$PG_WORK/load.sql" "$PG_BATCH" || exit 1
	N=$(grep -c '' "$EVENTS")

	t0=$(date +%s.%N)
	"${PSQL[@]}" -f "$PG_WORK/load.sql" >/dev/null
	t1=$(date +%s.%N)

	rows=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM audit')
	[ "$rows" = "$N" ] || { pg_die "table holds $rows rows after loading $N events"; exit 1; }
	if "${PSQL[@]}" -c "UPDATE audit SET outcome = 'x' WHERE ctid = (SELECT ctid FROM audit LIMIT 1)" \
		>/dev/null 2>&1; then
		pg_die "the append-only trigger did not refuse an UPDATE"
		exit 1
	fi
	version=$("${PSQL[@]}" -At -c 'SHOW server_version')
	settings=$("${PSQL[@]}" -At -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync','synchronous_commit','wal_sync_method','full_page_writes','shared_buffers')")
	size=$("${PSQL[@]}" -At -c "SELECT pg_size_pretty(pg_total_relation_size('audit'))")

	awk -v n="$N" -v t0="$t0" -v t1="$t1" -v b="$PG_BATCH" -v ver="$version" -v set="$settings" \
		-v size="$size" -v res="$RESULTS" '
	function commas(x,   s, r) {
		s = sprintf("%.0f", x); r = ""
		while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
		return s r
	}
	BEGIN {
		t = t1 - t0; eps = n / t
		printf "  %-40s %s\n", "PostgreSQL version", ver
		printf "  %-40s %s\n", "settings", set
		printf "  %-40s %s\n", "table", "audit: 8 columns, 5 indexes, append-only trigger (checked), " size
		printf "  %-40s %12s events/s  (%s events in %.2f s)\n", \
			"PostgreSQL COPY, batches of " b " rows", commas(eps), commas(n), t
		if (res != "") printf "pg_eps %.6f\n", eps >> res
	}'
}

pg_main_cleanup() {
	local rc=$?
	if [ "$rc" -ne 0 ] && [ -n "$PG_WORK" ] && [ -f "$PG_WORK/pg.log" ]; then
		echo "pg_baseline: server log (tail):" >&2
		tail -20 "$PG_WORK/pg.log" >&2 || true
	fi
	# Under bench/run.sh the files go at the very end (BENCH_DEFER_CLEANUP):
	# deleting a cluster here would slow file creation in the next phases.
	if [ -n "${BENCH_DEFER_CLEANUP:-}" ]; then pg_stop; else pg_remove; fi
	exit "$rc"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	pg_baseline_main "$@"
fi
