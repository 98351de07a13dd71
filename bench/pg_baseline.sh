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
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${1:?usage: bench/pg_baseline.sh EVENTS.ndjson [RESULTS_FILE]}
RESULTS=${2:-}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_BATCH=${PG_BATCH:-1000}
BENCH_TMP=${BENCH_TMP:-$PWD/build/bench-tmp}

die() { echo "pg_baseline: $*" >&2; exit 1; }
[ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (scripts/deps.sh installs postgresql)"
[ -r "$EVENTS" ] || die "cannot read $EVENTS"
command -v psql >/dev/null || [ -x "$PGBIN/psql" ] || die "psql not found"
PSQL_BIN=$PGBIN/psql
[ -x "$PSQL_BIN" ] || PSQL_BIN=$(command -v psql)

mkdir -p "$BENCH_TMP"
WORK=$(mktemp -d "$BENCH_TMP/pg.XXXXXX")
WORK=$(cd "$WORK" && pwd)
AS=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user"
	chown postgres: "$WORK"
	AS=(runuser -u postgres --)
	"${AS[@]}" test -w "$WORK" ||
		die "user postgres cannot write $WORK (a parent directory is not searchable)"
fi

cleanup() {
	local rc=$?
	if [ -f "$WORK/data/postmaster.pid" ]; then
		"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$WORK/pg.log" ]; then
		echo "pg_baseline: server log (tail):" >&2
		tail -20 "$WORK/pg.log" >&2 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"${AS[@]}" "$PGBIN/initdb" -D "$WORK/data" -U bench --auth=trust -E UTF8 --no-locale \
	>"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
# Durability as shipped (these are the defaults, stated so the figure says
# what it measures); the rest is left at the package defaults.
"${AS[@]}" tee -a "$WORK/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w -t 60 start >/dev/null ||
	die "pg_ctl start failed"

PSQL=("$PSQL_BIN" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U bench -d postgres)

"${PSQL[@]}" >/dev/null <<'EOF'
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
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_actor_time ON audit (actor, time);
CREATE INDEX audit_action_time ON audit (action, time);
CREATE INDEX audit_source_ip ON audit (source_ip);
CREATE INDEX audit_service_time ON audit (service, time);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
EOF

# One "COPY ... FROM STDIN" block per PG_BATCH rows: psql in autocommit mode
# runs each as its own transaction, committed (and WAL-flushed) before the next.
python3 - "$EVENTS" "$WORK/load.sql" "$PG_BATCH" <<'EOF'
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
N=$(grep -c '' "$EVENTS")
chmod a+r "$WORK/load.sql"

t0=$(date +%s.%N)
"${PSQL[@]}" -f "$WORK/load.sql" >/dev/null
t1=$(date +%s.%N)

rows=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM audit')
[ "$rows" = "$N" ] || die "table holds $rows rows after loading $N events"
if "${PSQL[@]}" -c "UPDATE audit SET outcome = 'x' WHERE ctid = (SELECT ctid FROM audit LIMIT 1)" \
	>/dev/null 2>&1; then
	die "the append-only trigger did not refuse an UPDATE"
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
