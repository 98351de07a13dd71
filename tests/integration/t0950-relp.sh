#!/bin/bash
# RELP (serve --relp) with real rsyslog (omrelp over TLS, verifying the
# server's certificate by name) as the client, started by this test as a
# process of its own (own config, pid file and work directory):
#  - JSON lines shipped by rsyslog become events, each exactly once, written
#    as the listener's writer token (its service binding wins over APP-NAME);
#  - a raw RELP client sees "rsp 200" for good messages and "rsp 500 <why>"
#    for one that cannot be mapped, in the same window, and a resent frame
#    (same bytes) is acknowledged without a second event;
#  - SD params (logseal@32473) map onto the event;
#  - kill -9 of logseal while rsyslog streams, a restart on the same ports:
#    every line rsyslog delivered is in the log exactly once;
#  - GET /metrics counts the listener's connections (accepted, open), its
#    messages by result and the bytes it read: exactly what rsyslog and the
#    raw client sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
if [ ! -x "$RSYSLOGD" ] || [ ! -e /usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so ]; then
	not_ok "rsyslog with omrelp is installed (scripts/deps.sh test: rsyslog rsyslog-relp)"
	done_testing; exit 1
fi
D=$TMP/data
check "init --self-signed" "$LOGSEAL" init --data "$D" --self-signed
CERT=$D/tls/cert.pem KEY=$D/tls/key.pem
SRV_SCHEME=https SRV_CURL_OPTS="--cacert $CERT"
TLS=(--tls-cert "$CERT" --tls-key "$KEY")
check "server starts" start_server "$D" "${TLS[@]}"
ADMIN=$(cat "$D/admin.token")
new_token "$ADMIN" '{"role":"writer","name":"rsyslog","service":"payments"}' >"$TMP/w.token"
[ -s "$TMP/w.token" ] && ok "writer token bound to payments" || not_ok "writer token bound to payments"
WID=$(cat "$TMP/newtok.id")
stop_server
HTTP_PORT=$SRV_PORT
RELP_PORT=$(free_port)
# restart_server: the same ports each time (rsyslog reconnects to RELP_PORT).
restart_server() {
	SRV_PORT=$HTTP_PORT SRV_URL=https://127.0.0.1:$HTTP_PORT
	SRV_OUT=$TMP/server.out SRV_ERR=$TMP/server.err
	"$LOGSEAL" serve --data "$D" --listen "127.0.0.1:$HTTP_PORT" "${TLS[@]}" \
		--relp "127.0.0.1:$RELP_PORT" --syslog-token-file "$TMP/w.token" >>"$SRV_OUT" 2>>"$SRV_ERR" &
	SRV_PID=$!; SERVER_PIDS="$SERVER_PIDS $SRV_PID"
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --cacert "$CERT" "$SRV_URL/healthz" && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   /' "$SRV_ERR"; return 1
}
check_fails "--relp without a token file is refused" timeout 10 "$LOGSEAL" serve --data "$D" \
	--listen "127.0.0.1:$(free_port)" "${TLS[@]}" --relp "127.0.0.1:$(free_port)"
grep -q -- "--syslog-token-file" "$TMP/last.out" && ok "the refusal names the option" || not_ok "the refusal names the option"
check_fails "plain RELP on a non-loopback address is refused" timeout 10 "$LOGSEAL" serve --data "$D" \
	--listen "127.0.0.1:$(free_port)" --relp "0.0.0.0:$(free_port)" --syslog-token-file "$TMP/w.token"
grep -q "refusing plain TCP" "$TMP/last.out" && ok "and says why" || not_ok "and says why"
check "server starts with --relp over TLS" restart_server
grep -q "RELP on port $RELP_PORT (TLS)" "$TMP/server.out" && ok "it says where RELP is" || not_ok "it says where RELP is"

# ---- rsyslog, a process of this test
RS=$TMP/rsyslog; mkdir -p "$RS/work"; : >"$RS/in.log"
cat >"$RS/rsyslog.conf" <<EOF
global(workDirectory="$RS/work" maxMessageSize="64k")
module(load="imfile")
module(load="omrelp" tls.tlslib="openssl")
input(type="imfile" File="$RS/in.log" Tag="shop" ruleset="ship")
ruleset(name="ship") {
  action(type="omrelp" target="127.0.0.1" port="$RELP_PORT"
         template="RSYSLOG_SyslogProtocol23Format"
         tls="on" tls.caCert="$CERT" tls.authMode="name" tls.permittedPeer=["localhost"]
         action.resumeRetryCount="-1" action.resumeInterval="1"
         queue.type="LinkedList" queue.size="100000" queue.filename="relpq"
         queue.saveOnShutdown="on")
}
EOF
"$RSYSLOGD" -n -f "$RS/rsyslog.conf" -i "$RS/rsyslogd.pid" >"$RS/out" 2>&1 &
RS_PID=$!; SERVER_PIDS="$SERVER_PIDS $RS_PID"
line() { printf '{"id":"%s","actor":{"id":"user-%s","type":"user"},"action":"order.pay","outcome":"success","resource":{"type":"order","id":"order/%s"}}\n' "$1" "$1" "$1"; }
# ids_once PREFIX N: "ok" when ids PREFIX-1..N are each stored exactly once,
# else what is wrong.
ids_once() {
	"$TESTBIN/journalcat" "$D" | grep -a -o "\"id\":\"$1-[0-9]*\"" | sort | uniq -c >"$TMP/ids.$1"
	local n dup
	n=$(wc -l <"$TMP/ids.$1"); dup=$(awk '$1 != 1' "$TMP/ids.$1" | wc -l)
	if [ "$n" = "$2" ] && [ "$dup" = 0 ]; then echo ok; else echo "$n distinct of $2, $dup repeated"; fi
}
# wait_ids PREFIX N SECONDS
wait_ids() {
	for _ in $(seq 1 $(($3 * 5))); do
		[ "$(ids_once "$1" "$2")" = ok ] && return 0
		sleep 0.2
	done
	return 1
}
for i in $(seq 1 50); do line "a-$i"; done >>"$RS/in.log"
check "rsyslog's 50 lines arrive" wait_ids a 50 30
check_eq "each exactly once" ok "$(ids_once a 50)"
"$TESTBIN/journalcat" "$D" | grep -a '"id":"a-7"' >"$TMP/a7"
check_eq "written as the listener's token" "$WID" "$(jq -r .writer "$TMP/a7")"
check_eq "its service binding wins over APP-NAME" payments "$(jq -r .service "$TMP/a7")"
check_eq "HOSTNAME -> source.endpoint" "$(hostname | cut -d. -f1)" "$(jq -r .source.endpoint "$TMP/a7")"
check_eq "the event's own fields" "order.pay user-a-7 success" "$(jq -r '[.action,.actor.id,.outcome]|join(" ")' "$TMP/a7")"

# ---- the listener's metrics: rsyslog's one connection and its 50 messages
scrape() { curl -s --cacert "$CERT" -H "Authorization: Bearer $ADMIN" "$SRV_URL/metrics" >"$TMP/metrics"; }
metric() { awk -v m="$1" '$1 == m {print $2}' "$TMP/metrics"; }
# wait_metric SERIES VALUE: the counters move just after the append the
# journal already shows, so the scrape is repeated for a moment.
wait_metric() {
	for _ in $(seq 1 50); do scrape; [ "$(metric "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
M='logseal_syslog_messages_total{listener="relp",result='
CT='logseal_syslog_connections_total{listener="relp"}' CO='logseal_syslog_connections_open{listener="relp"}'
BY='logseal_syslog_bytes_total{listener="relp"}'
wait_metric "${M}\"accepted\"}" 50
check_eq "metrics: rsyslog's 50 messages accepted, none refused, none failed" "50 0 0" \
	"$(metric "${M}\"accepted\"}") $(metric "${M}\"refused\"}") $(metric "${M}\"failed\"}")"
check_eq "metrics: one RELP connection accepted, open" "1 1" "$(metric "$CT") $(metric "$CO")"
body=$(head -50 "$RS/in.log" | tr -d '\n' | wc -c)
b=$(metric "$BY")
[ -n "$b" ] && [ "$b" -gt "$body" ] && [ "$b" -lt $((body + 50 * 200 + 1000)) ] &&
	ok "metrics: bytes read ($b) hold the 50 lines ($body bytes) and their RELP and syslog headers" ||
	not_ok "metrics: bytes read ($b) hold the 50 lines ($body bytes) and their RELP and syslog headers"
check_eq "metrics: the syslog-tls listener (none) counts 0" "0 0 0 0 0 0" "$(for x in \
	'logseal_syslog_connections_total{listener="syslog-tls"}' 'logseal_syslog_connections_open{listener="syslog-tls"}' \
	'logseal_syslog_bytes_total{listener="syslog-tls"}' 'logseal_syslog_messages_total{listener="syslog-tls",result="accepted"}' \
	'logseal_syslog_messages_total{listener="syslog-tls",result="refused"}' \
	'logseal_syslog_messages_total{listener="syslog-tls",result="failed"}'; do metric "$x"; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "metrics: HELP and TYPE once for each of the 4 families" "4 4" \
	"$(grep -c '^# HELP logseal_syslog_' "$TMP/metrics") $(grep -c '^# TYPE logseal_syslog_' "$TMP/metrics")"
check_eq "metrics: 12 series, each once" "12 0" \
	"$(grep -c '^logseal_syslog_' "$TMP/metrics") $(grep '^logseal_syslog_' "$TMP/metrics" | awk '{print $1}' | sort | uniq -d | wc -l)"
c0=$(metric "$CT") a0=$(metric "${M}\"accepted\"}") r0=$(metric "${M}\"refused\"}") b0=$(metric "$BY")

# ---- a raw RELP client: 200 and 500 in one window, a resend, SD params
cat >"$TMP/relpc.py" <<'EOF'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
def frame(txnr, cmd, data=b""):
    return b"%d %s %d%s\n" % (txnr, cmd, len(data), (b" " + data) if data else b"")
good = b'<134>1 2026-01-02T03:04:05.000006Z web01 shop 77 - [logseal@32473 actor="bob" action="cart.add" outcome="success" resource="cart/9" resource_type="cart" id="sd-1"][meta@1 k="v"] added'
bad = b'<134>1 2026-01-02T03:04:05Z web01 shop - - - a line without actor'
nomsgid = b'<13>Jan  2 03:04:05 web02 sshd[42]: {"actor":{"id":"carol"},"action":"ssh.login","outcome":"denied"}'
out = frame(1, b"open", b"relp_version=0\nrelp_software=t0950\ncommands=syslog")
resv = b'<134>1 - web01 shop - - [logseal@32473 actor="x" action="logseal.token.create" outcome="success"]'
out += frame(2, b"syslog", good) + frame(3, b"syslog", bad) + frame(4, b"syslog", good) + frame(5, b"syslog", nomsgid)
out += frame(6, b"syslog", resv)
s.sendall(out)
buf = b""
while buf.count(b"\n") < 6 + 3:   # open's answer holds 3 LFs
    d = s.recv(65536)
    if not d: break
    buf += d
s.sendall(frame(7, b"close"))
rest = s.recv(100)
print(buf.decode())
print("CLOSE", rest.decode().strip())
print("SENT", len(out) + len(frame(7, b"close")))
EOF
python3 "$TMP/relpc.py" "$RELP_PORT" "$CERT" >"$TMP/relpc.out" 2>&1
check "open answered with the syslog command" grep -q '^1 rsp [0-9]* 200 OK' "$TMP/relpc.out"
check_eq "a mapped message: 200" "2 rsp 6 200 OK" "$(grep '^2 rsp' "$TMP/relpc.out")"
check "an unmappable one: 500 with the reason" grep -q '^3 rsp [0-9]* 500 no actor' "$TMP/relpc.out"
check_eq "its resend: 200" "4 rsp 6 200 OK" "$(grep '^4 rsp' "$TMP/relpc.out")"
check_eq "RFC 3164 with a JSON body: 200" "5 rsp 6 200 OK" "$(grep '^5 rsp' "$TMP/relpc.out")"
check "an event the validator refuses (reserved action): 500 with the field" \
	grep -q '^6 rsp [0-9]* 500 field action: .*reserved' "$TMP/relpc.out"
check "close answered" grep -q '^CLOSE 7 rsp 0' "$TMP/relpc.out"
sent=$(awk '$1 == "SENT" {print $2}' "$TMP/relpc.out")
check "metrics: the raw client's connection ends (rsyslog's stays open)" wait_metric "$CO" 1
check_eq "metrics: +1 connection, +3 accepted (the resend too), +2 refused, +$sent bytes (all it sent)" \
	"$((c0 + 1)) $((a0 + 3)) $((r0 + 2)) $((b0 + sent)) 0" \
	"$(metric "$CT") $(metric "${M}\"accepted\"}") $(metric "${M}\"refused\"}") $(metric "$BY") $(metric "${M}\"failed\"}")"
for _ in $(seq 1 20); do "$TESTBIN/journalcat" "$D" | grep -aq carol && break; sleep 0.2; done
check_eq "the resend is one event" 1 "$(journal_count '"id":"sd-1"' "$D")"
"$TESTBIN/journalcat" "$D" | grep -a '"id":"sd-1"' >"$TMP/sd1"
check_eq "SD params mapped" "bob cart.add success cart/9 cart web01" \
	"$(jq -r '[.actor.id,.action,.outcome,.resource.id,.resource.type,.source.endpoint]|join(" ")' "$TMP/sd1")"
check_eq "other SD elements kept in details.sd" v "$(jq -r '.details.sd["meta@1"].k' "$TMP/sd1")"
check_eq "header in details.syslog" "16 6 77 added" \
	"$(jq -r '.details.syslog|[.facility,.severity,.procid,.msg]|join(" ")' "$TMP/sd1")"
check_eq "the 5424 time" "2026-01-02T03:04:05.000006Z" "$(jq -r .time "$TMP/sd1")"
check_eq "the unmappable line is stored only inside its logseal.ingest.rejected record (relp, its reason)" \
	"logseal.ingest.rejected relp no actor" \
	"$("$TESTBIN/journalcat" "$D" | grep -a 'a line without actor' | jq -r '"\(.action) \(.details.protocol) \(.details.error | .[0:8])"' | sort -u | tr '\n' '|' | sed 's/|$//')"
check_eq "both refused messages are recorded (the unmappable one, the reserved action)" 2 \
	"$("$TESTBIN/journalcat" "$D" | grep -a '"logseal.ingest.rejected"' | grep -ac '"protocol":"relp"')"
"$TESTBIN/journalcat" "$D" | grep -a '"carol"' >"$TMP/carol"
check_eq "3164 + JSON: event fields, HOSTNAME, hash id" "ssh.login denied web02 syslog:" \
	"$(jq -r '[.action,.outcome,.source.endpoint,(.id|.[0:7])]|join(" ")' "$TMP/carol")"

# ---- kill -9 mid-stream, rsyslog resending
N=3000
( for i in $(seq 1 $N); do line "k-$i"; [ $((i % 100)) = 0 ] && sleep 0.1; done >>"$RS/in.log" ) &
W_PID=$!
sleep 1.2
kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
before=$(ids_once k $N)
had=$("$TESTBIN/journalcat" "$D" | grep -a -o '"id":"k-[0-9]*"' | sort -u | wc -l)
sleep 1.5
check "restarted on the same ports" restart_server
wait "$W_PID"
check "all $N lines arrive after the restart" wait_ids k $N 90
check_eq "every line exactly once" ok "$(ids_once k $N)"
echo "# at the kill: $before"
# The counters start again with the process: after the restart, rsyslog
# sent each line the log did not have (and perhaps some it had, their
# acknowledgement lost), each once.
for _ in $(seq 1 50); do
	scrape; acc=$(metric "${M}\"accepted\"}")
	[ -n "$acc" ] && [ "$acc" -ge $((N - had)) ] && break
	sleep 0.1
done
[ -n "$acc" ] && [ "$acc" -ge $((N - had)) ] && [ "$acc" -le "$N" ] &&
	ok "metrics after the restart: $acc accepted, between the $((N - had)) missing and $N" ||
	not_ok "metrics after the restart: $acc accepted, between the $((N - had)) missing and $N"
check_eq "metrics after the restart: none refused or failed, rsyslog's connection open" "0 0 1" \
	"$(metric "${M}\"refused\"}") $(metric "${M}\"failed\"}") $(metric "$CO")"

kill -TERM "$RS_PID"; wait "$RS_PID" 2>/dev/null
stop_server; check_eq "stop: exit 0" 0 "$?"
check "the log verifies after the crash" "$LOGSEAL" verify --data "$D" --no-postings
done_testing
