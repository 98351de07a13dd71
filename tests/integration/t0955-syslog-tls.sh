#!/bin/bash
# RFC 5425 syslog over TLS (serve --syslog-tls) with real syslog-ng (its
# syslog() driver, transport("tls"), verifying the server's certificate)
# as the client, started by this test as a process of its own (own config,
# persist, pid and control files):
#  - key=value lines parsed by syslog-ng into SD params logseal@32473 become
#    events, each exactly once (octet-counted frames, several per read);
#    APP-NAME is the service of a writer token not bound to one;
#  - a message without actor is not dropped: logseal.ingest.rejected records
#    it (error, SHA-256 and excerpt of the input);
#  - a raw TLS client: octet-counted frames split across writes, and an
#    RFC 3164 line with LF framing;
#  - GET /metrics counts the listener's connections (accepted, open), its
#    messages by result and the bytes it read: exactly what syslog-ng and
#    the raw client sent; with the writer token revoked, messages are not
#    taken and count as failed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
SNG_ROOT=${SYSLOG_NG_ROOT:-/opt/logseal-test/syslog-ng}
if [ -x /usr/sbin/syslog-ng ]; then
	SNG=(/usr/sbin/syslog-ng)
elif [ -x "$SNG_ROOT/usr/sbin/syslog-ng" ]; then
	mods=$(ls -d "$SNG_ROOT"/usr/lib/syslog-ng/3.* | head -1)
	SNG=(env LD_LIBRARY_PATH="$SNG_ROOT/usr/lib/syslog-ng" "$SNG_ROOT/usr/sbin/syslog-ng"
		--module-path="$mods")
else
	not_ok "syslog-ng is available (scripts/deps.sh test unpacks syslog-ng-core)"
	done_testing; exit 1
fi
D=$TMP/data
check "init --self-signed" "$LOGSEAL" init --data "$D" --self-signed
CERT=$D/tls/cert.pem KEY=$D/tls/key.pem
SRV_SCHEME=https SRV_CURL_OPTS="--cacert $CERT"
check "server starts" start_server "$D" --tls-cert "$CERT" --tls-key "$KEY"
ADMIN=$(cat "$D/admin.token")
new_token "$ADMIN" '{"role":"writer","name":"syslog-ng"}' >"$TMP/w.token"
WID=$(cat "$TMP/newtok.id")
stop_server
SPORT=$(free_port)
check "server starts with --syslog-tls" start_server "$D" --tls-cert "$CERT" --tls-key "$KEY" \
	--syslog-tls "127.0.0.1:$SPORT" --syslog-token-file "$TMP/w.token"
grep -q "syslog on port $SPORT (TLS, octet counting)" "$SRV_OUT" && ok "it says where syslog is" || not_ok "it says where syslog is"

# ---- syslog-ng, a process of this test
S=$TMP/sng; mkdir -p "$S"; : >"$S/in.log"
cat >"$S/syslog-ng.conf" <<EOF
@version: 3.38
options { keep-hostname(yes); };
source s_in { file("$S/in.log" flags(no-parse) follow-freq(0.2) program-override("billing")); };
parser p_kv { kv-parser(prefix(".SDATA.logseal@32473.")); };
destination d_logseal {
  syslog("127.0.0.1" port($SPORT) transport("tls")
         tls(ca-file("$CERT") peer-verify(required-trusted))
         disk-buffer(reliable(yes) mem-buf-size(1048576) disk-buf-size(10485760) dir("$S")));
};
log { source(s_in); parser(p_kv); destination(d_logseal); };
EOF
"${SNG[@]}" -F -f "$S/syslog-ng.conf" --persist-file="$S/persist" --pidfile="$S/pid" \
	--control="$S/ctl" >"$S/out" 2>&1 &
SNG_PID=$!; SERVER_PIDS="$SERVER_PIDS $SNG_PID"
sleep 1
kill -0 "$SNG_PID" 2>/dev/null && ok "syslog-ng runs" || { not_ok "syslog-ng runs"; sed 's/^/#   /' "$S/out"; }
for i in $(seq 1 40); do
	echo "actor=user-$i action=invoice.create outcome=success resource=inv/$i resource_type=invoice id=n-$i"
done >>"$S/in.log"
echo "action=invoice.void outcome=success note=no-actor-here" >>"$S/in.log"
ids() { "$TESTBIN/journalcat" "$D" | grep -a -o '"id":"n-[0-9]*"' | sort | uniq -c | awk '$1 == 1' | wc -l; }
for _ in $(seq 1 100); do [ "$(ids)" = 40 ] && "$TESTBIN/journalcat" "$D" | grep -aq ingest.rejected && break; sleep 0.2; done
check_eq "40 lines, 40 events, each once" 40 "$(ids)"
"$TESTBIN/journalcat" "$D" | grep -a '"id":"n-7"' >"$TMP/n7"
check_eq "SD params from syslog-ng mapped" "user-7 invoice.create success inv/7 invoice" \
	"$(jq -r '[.actor.id,.action,.outcome,.resource.id,.resource.type]|join(" ")' "$TMP/n7")"
check_eq "APP-NAME -> service (token not bound)" billing "$(jq -r .service "$TMP/n7")"
check_eq "written as the listener's token" "$WID" "$(jq -r .writer "$TMP/n7")"
check_eq "the line itself in details.syslog.msg" "actor=user-7 action=invoice.create outcome=success resource=inv/7 resource_type=invoice id=n-7" \
	"$(jq -r .details.syslog.msg "$TMP/n7")"
"$TESTBIN/journalcat" "$D" | grep -a '"logseal.ingest.rejected"' >"$TMP/rej"
check_eq "the line without actor is recorded as rejected" 1 "$(grep -c '' "$TMP/rej")"
check "with the reason" grep -q '"error":"no actor' "$TMP/rej"
check "with an excerpt of the input" grep -q 'note=no-actor-here' "$TMP/rej"
check_eq "naming the writer and the format" "$WID syslog" "$(jq -r '[.details.writer,.details.format]|join(" ")' "$TMP/rej")"
check "with its SHA-256" sh -c "jq -r .details.sha256 '$TMP/rej' | grep -Eq '^[0-9a-f]{64}$'"
check_eq "the rejected line is no event of its own" 0 "$("$TESTBIN/journalcat" "$D" | grep -a '"action":"invoice.void"' | grep -vac ingest.rejected)"

# ---- the listener's metrics: syslog-ng's one connection, 40 + 1 messages
scrape() { curl -s $SRV_CURL_OPTS -H "Authorization: Bearer $ADMIN" "$SRV_URL/metrics" >"$TMP/metrics"; }
metric() { awk -v m="$1" '$1 == m {print $2}' "$TMP/metrics"; }
# wait_metric SERIES VALUE: the counters move just after the append the
# journal already shows, so the scrape is repeated for a moment.
wait_metric() {
	for _ in $(seq 1 50); do scrape; [ "$(metric "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
M='logseal_syslog_messages_total{listener="syslog-tls",result='
CT='logseal_syslog_connections_total{listener="syslog-tls"}' CO='logseal_syslog_connections_open{listener="syslog-tls"}'
BY='logseal_syslog_bytes_total{listener="syslog-tls"}'
wait_metric "${M}\"refused\"}" 1
wait_metric "${M}\"accepted\"}" 40
check_eq "metrics: syslog-ng's 40 messages accepted, the one without actor refused, none failed" "40 1 0" \
	"$(metric "${M}\"accepted\"}") $(metric "${M}\"refused\"}") $(metric "${M}\"failed\"}")"
check_eq "metrics: one syslog-tls connection accepted, open" "1 1" "$(metric "$CT") $(metric "$CO")"
body=$(tr -d '\n' <"$S/in.log" | wc -c)
b=$(metric "$BY")
[ -n "$b" ] && [ "$b" -gt "$body" ] && [ "$b" -lt $((3 * body + 41 * 300)) ] &&
	ok "metrics: bytes read ($b) hold the 41 lines ($body bytes) and their syslog headers" ||
	not_ok "metrics: bytes read ($b) hold the 41 lines ($body bytes) and their syslog headers"
check_eq "metrics: the RELP listener (none) counts 0" "0 0 0 0 0 0" "$(for x in \
	'logseal_syslog_connections_total{listener="relp"}' 'logseal_syslog_connections_open{listener="relp"}' \
	'logseal_syslog_bytes_total{listener="relp"}' 'logseal_syslog_messages_total{listener="relp",result="accepted"}' \
	'logseal_syslog_messages_total{listener="relp",result="refused"}' \
	'logseal_syslog_messages_total{listener="relp",result="failed"}'; do metric "$x"; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "metrics: HELP and TYPE once for each of the 4 families, 12 series each once" "4 4 12 0" \
	"$(grep -c '^# HELP logseal_syslog_' "$TMP/metrics") $(grep -c '^# TYPE logseal_syslog_' "$TMP/metrics") $(grep -c '^logseal_syslog_' "$TMP/metrics") $(grep '^logseal_syslog_' "$TMP/metrics" | awk '{print $1}' | sort | uniq -d | wc -l)"
c0=$(metric "$CT") a0=$(metric "${M}\"accepted\"}") r0=$(metric "${M}\"refused\"}") b0=$(metric "$BY")

# ---- a raw TLS client: frames split across writes; LF-framed RFC 3164
cat >"$TMP/tlsc.py" <<'EOF'
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
m1 = b'<38>1 2026-03-04T05:06:07.5+01:00 gw01 vpn 9 login.ok [logseal@32473 actor="erin" outcome="success" id="raw-1"] ok'
m2 = b'<38>1 - - vpn - login.fail [logseal@32473 actor="frank" outcome="failure" id="raw-2"]'
f = b"%d %s" % (len(m1), m1) + b"%d %s" % (len(m2), m2)
s.sendall(f[:10]); time.sleep(0.3); s.sendall(f[10:70]); time.sleep(0.3); s.sendall(f[70:])
l3 = b'<86>Mar  4 05:06:07 gw02 sudo[77]: {"actor":{"id":"gina"},"action":"sudo.exec","outcome":"success","id":"raw-3"}\n'
s.sendall(l3)
time.sleep(1)
s.close()
print("SENT", len(f) + len(l3))
EOF
check "raw client sends" sh -c "python3 '$TMP/tlsc.py' '$SPORT' '$CERT' >'$TMP/tlsc.out'"
sent=$(awk '$1 == "SENT" {print $2}' "$TMP/tlsc.out")
for _ in $(seq 1 30); do "$TESTBIN/journalcat" "$D" | grep -aq '"raw-3"' && break; sleep 0.2; done
"$TESTBIN/journalcat" "$D" | grep -a '"id":"raw-' >"$TMP/raw"
check_eq "three frames, three events" 3 "$(grep -c '' "$TMP/raw")"
check_eq "split frame: time, MSGID -> action, HOSTNAME" "2026-03-04T04:06:07.500000Z login.ok gw01" \
	"$(grep raw-1 "$TMP/raw" | jq -r '[.time,.action,.source.endpoint]|join(" ")')"
check_eq "NILVALUE HOSTNAME: the peer's address" "127.0.0.1 login.fail" \
	"$(grep raw-2 "$TMP/raw" | jq -r '[.source.ip,.action]|join(" ")')"
check_eq "RFC 3164 + JSON event, LF framing" "gina sudo.exec gw02 sudo" \
	"$(grep raw-3 "$TMP/raw" | jq -r '[.actor.id,.action,.source.endpoint,.service]|join(" ")')"
check "metrics: the raw client's connection ends (syslog-ng's stays open)" wait_metric "$CO" 1
wait_metric "${M}\"accepted\"}" $((a0 + 3))
check_eq "metrics: +1 connection, +3 accepted, +0 refused, +$sent bytes (all it sent), none failed" \
	"$((c0 + 1)) $((a0 + 3)) $r0 $((b0 + sent)) 0" \
	"$(metric "$CT") $(metric "${M}\"accepted\"}") $(metric "${M}\"refused\"}") $(metric "$BY") $(metric "${M}\"failed\"}")"


# ---- the writer token revoked: nothing taken, the messages count as failed
check_eq "the listener's writer token is revoked" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' $SRV_CURL_OPTS -X DELETE -H "Authorization: Bearer $ADMIN" "$SRV_URL/v1/tokens/$WID")"
cat >"$TMP/tlsc2.py" <<'EOF2'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.settimeout(10)
m = [b'<38>1 - gw03 vpn - login.ok [logseal@32473 actor="hank" outcome="success" id="rev-%d"]' % i for i in (1, 2)]
s.sendall(b"".join(b"%d %s" % (len(x), x) for x in m))   # one write: one batch
try:
    print("CLOSED" if s.recv(100) == b"" else "DATA")
except (ssl.SSLError, OSError) as e:
    print("CLOSED", type(e).__name__)
EOF2
python3 "$TMP/tlsc2.py" "$SPORT" "$CERT" >"$TMP/tlsc2.out" 2>&1
check "the server closes the connection" grep -q '^CLOSED' "$TMP/tlsc2.out"
wait_metric "${M}\"failed\"}" 2
wait_metric "$CO" 1	# its thread ends just after the server closed it
check_eq "metrics: both messages failed, none more accepted or refused, syslog-ng's connection still open" \
	"2 $((a0 + 3)) $r0 1" \
	"$(metric "${M}\"failed\"}") $(metric "${M}\"accepted\"}") $(metric "${M}\"refused\"}") $(metric "$CO")"
check_eq "neither is in the log" 0 "$("$TESTBIN/journalcat" "$D" | grep -ac '"rev-[12]"')"
check "the server says why" grep -q "no longer active" "$SRV_ERR" "$SRV_OUT"

kill -TERM "$SNG_PID"; wait "$SNG_PID" 2>/dev/null
stop_server; check_eq "stop: exit 0" 0 "$?"
done_testing
