#!/bin/bash
# Bad requests: each is answered with the right 4xx and a message that says
# what is wrong (and for events, where: position and field), and none of
# them adds anything to the log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D"
check "server starts with --max-body 200000 --timeout 2" start_server "$D" --max-body 200000 --timeout 2
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
GOOD='"time":"2024-01-01T00:00:00Z","actor":{"id":"a"},"action":"x.y","outcome":"success","source":{"ip":"10.0.0.1"}'
before=$(tree_size)

# bad NAME STATUS CODE FIELD POSITION CONTENT-TYPE [PATH]  (body in $TMP/body)
bad() {
	local name=$1 want=$2 code=$3 field=$4 pos=$5 ct=$6 path=${7:-/v1/events} got
	got=$(req POST "$path" "$W" "$ct" "$TMP/body")
	if [ "$got" != "$want" ]; then
		not_ok "$name: expected $want, got $got"; sed 's/^/#   /' "$TMP/resp"; return
	fi
	local gc gf gp msg
	gc=$(jq -r .error.code "$TMP/resp" 2>/dev/null); msg=$(jq -r .error.message "$TMP/resp" 2>/dev/null)
	gf=$(jq -r '.error.field // ""' "$TMP/resp" 2>/dev/null); gp=$(jq -r '.error.position // ""' "$TMP/resp" 2>/dev/null)
	if [ "$gc" != "$code" ] || { [ "$field" != - ] && [ "$gf" != "$field" ]; } ||
	   { [ "$pos" != - ] && [ "$gp" != "$pos" ]; } || [ -z "$msg" ] || [ "$msg" = null ]; then
		not_ok "$name: $want but code/field/position $gc/$gf/$gp (want $code/$field/$pos)"
		sed 's/^/#   /' "$TMP/resp"; return
	fi
	ok "$name: $want $code${gf:+ field $gf} - $msg"
}
J=application/json
body() { printf '%s' "$1" >"$TMP/body"; }

body '{"time":"2024-01-01T00:00:00Z","actor":'; bad "truncated JSON" 400 invalid_event - 0 $J
body '{time: 1}';                                bad "invalid JSON" 400 invalid_event - 0 $J
body "{$GOOD,\"action\":\"again\"}";             bad "duplicate keys" 400 invalid_event - 0 $J
printf '{%s,"reason":"\xff\xfe"}' "$GOOD" >"$TMP/body"; bad "invalid UTF-8" 400 invalid_event - 0 $J
body "{$GOOD,\"reason\":\"a\\u0000b\"}";         bad "NUL escape" 400 invalid_event - 0 $J
body '{"time":"2024-01-01T00:00:00Z","actor":"a","action":"x.y","outcome":"success","source":{"ip":"10.0.0.1"}}'
	bad "actor of the wrong type" 400 invalid_event actor 0 $J
body '{"time":"2024-01-01T00:00:00Z","actor":{"id":"a"},"action":7,"outcome":"success","source":{"ip":"10.0.0.1"}}'
	bad "action of the wrong type" 400 invalid_event action 0 $J
body '{"time":"2024-01-01T00:00:00Z","actor":{"id":"a"},"action":"x.y","outcome":"maybe","source":{"ip":"10.0.0.1"}}'
	bad "outcome not in the list" 400 invalid_event outcome 0 $J
for f in time actor action outcome source; do
	jq -c "del(.$f)" <<<"{$GOOD}" >"$TMP/body"; bad "missing $f" 400 invalid_event $f 0 $J
done
body '{"time":"2024-01-01T00:00:00Z","actor":{"type":"user"},"action":"x.y","outcome":"success","source":{"ip":"10.0.0.1"}}'
	bad "missing actor.id" 400 invalid_event actor.id 0 $J
body '{"time":"2024-01-01T00:00:00Z","actor":{"id":"a"},"action":"x.y","outcome":"success","source":{}}'
	bad "source without ip or endpoint" 400 invalid_event - 0 $J
jq -c '.time="yesterday"' <<<"{$GOOD}" >"$TMP/body";        bad "bad time" 400 invalid_event time 0 $J
jq -c '.time="2024-02-30T00:00:00Z"' <<<"{$GOOD}" >"$TMP/body"; bad "impossible date" 400 invalid_event time 0 $J
jq -c '.source.ip="999.1.1.1"' <<<"{$GOOD}" >"$TMP/body";  bad "bad IP" 400 invalid_event source.ip 0 $J
jq -c '.id="'"$(head -c 200 /dev/zero | tr '\0' k)"'"' <<<"{$GOOD}" >"$TMP/body"; bad "id over 128 characters" 400 invalid_event id 0 $J
jq -c '.received="2024-01-01T00:00:00Z"' <<<"{$GOOD}" >"$TMP/body"; bad "a field only the server sets" 400 invalid_event received 0 $J
jq -c '.details={"blob":"'"$(head -c 70000 /dev/zero | tr '\0' x)"'"}' <<<"{$GOOD}" >"$TMP/body"
	bad "event over 65535 bytes" 413 event_too_large - 0 $J
python3 -c 'import sys; print("{%s,\"details\":%s1%s}" % (sys.argv[1], "{\"a\":" * 40, "}" * 40))' "$GOOD" >"$TMP/body"
	bad "nesting 40 deep" 400 invalid_event - 0 $J
python3 -c 'import sys; print("[" * 90000 + "]" * 90000)' >"$TMP/body"
	bad "90000 nested arrays" 400 invalid_event - - $J
body "[{$GOOD},{$GOOD},{$GOOD,\"outcome\":1}]"; bad "third of a batch bad: nothing kept" 400 invalid_event - 2 $J
printf '{%s}\n{%s}\nnot json\n' "$GOOD" "$GOOD" >"$TMP/body"; bad "NDJSON line 3 bad" 400 invalid_event - 2 application/x-ndjson
body "[{$GOOD}, 3]";                            bad "a batch member that is no object" 400 invalid_event - 1 $J
body '"just a string"';                         bad "a body that is no object or array" 400 invalid_event - - $J
body '';                                        bad "empty body" 400 invalid_event - - $J
body "{$GOOD}"
bad "Content-Type text/plain" 415 unsupported_media_type - - text/plain
bad "Content-Type with another charset" 415 unsupported_media_type - - 'application/json; charset=latin1'
bad "Content-Type with another parameter" 415 unsupported_media_type - - 'application/json; boundary=x'
bad "k8s endpoint refuses NDJSON" 415 unsupported_media_type - - application/x-ndjson /v1/k8s/audit
got=$(curl -s -o "$TMP/resp" -w '%{http_code}' -H "Authorization: Bearer $W" -H 'Content-Type:' --data-binary @"$TMP/body" "$SRV_URL/v1/events")
check_eq "no Content-Type: 415" 415 "$got"
bad "unknown format" 400 unknown_format - - $J "/v1/events?format=xml"
body '{"timestamp":"2024-01-01T00:00:00Z","user_id":"u","action":"a.b","status":"success"}'
bad "flat without location" 400 invalid_event - 0 $J "/v1/events?format=flat"
cp tests/vectors/k8s/malformed_fal_01_003.json "$TMP/body"
bad "malformed k8s event" 400 invalid_event - - $J /v1/k8s/audit
body '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x"}]}'
bad "k8s event without its fields (partial=0)" 400 invalid_event - 0 $J "/v1/k8s/audit?partial=0"

# Bodies over --max-body: refused from Content-Length before reading, and
# when sent chunked (no length), as soon as the cap is passed.
head -c 300000 /dev/zero | tr '\0' ' ' >"$TMP/body"
bad "body over --max-body (Content-Length)" 413 too_large - - $J
got=$(curl -s -o "$TMP/resp" -w '%{http_code}' -H "Authorization: Bearer $W" -H "Content-Type: $J" \
	-H 'Transfer-Encoding: chunked' --data-binary @"$TMP/body" "$SRV_URL/v1/events")
case $got in 413|000) ok "body over --max-body (chunked): $got" ;; *) not_ok "body over --max-body (chunked): $got" ;; esac
head -c 5000000 /dev/zero | tr '\0' ' ' >"$TMP/body"
got=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 20 -H "Authorization: Bearer $W" -H "Content-Type: $J" \
	-H 'Transfer-Encoding: chunked' --data-binary @"$TMP/body" "$SRV_URL/v1/events"); rc=$?
# Far past the cap the server hangs up (curl fails; the last status it saw is 100 Continue or none).
case $got in 413) ok "5 MB chunked body is refused: 413" ;;
	*) [ $rc -ne 0 ] && ok "5 MB chunked body is cut off (curl exit $rc, status $got)" || not_ok "5 MB chunked body is cut off: $got" ;; esac
got=$(curl -s -o "$TMP/resp" -w '%{http_code}' -H "Authorization: Bearer $W" -H "X-Big: $(head -c 100000 /dev/zero | tr '\0' h)" "$SRV_URL/healthz")
case $got in 413|431|400|000) ok "100 kB of headers refused: $got" ;; *) not_ok "100 kB of headers refused: $got" ;; esac

# A slow client does not hold the server: with --timeout 2 a client that
# stops in the middle of its headers is disconnected, and others are served
# meanwhile.
python3 - "$SRV_PORT" >"$TMP/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Le")
t = time.time(); s.settimeout(10)
try:
    data = s.recv(100)
except Exception as e:
    data = b"exception " + str(e).encode()
print("closed after %.1f s: %r" % (time.time() - t, data))
PY
slow=$!
sleep 0.3
check_eq "served while a slow client waits" 200 "$(req GET /healthz "")"
wait $slow
grep -qE "closed after [1-4]\.[0-9] s: b''" "$TMP/slow.out" && ok "the slow client was disconnected: $(cat "$TMP/slow.out")" \
	|| not_ok "the slow client was disconnected: $(cat "$TMP/slow.out")"
check_eq "healthz still answers" 200 "$(req GET /healthz "")"
check_eq "nothing was appended" "$before" "$(tree_size)"
check "the server is still running" kill -0 "$SRV_PID"
stop_server; check_eq "stop: exit 0" 0 "$?"
done_testing
