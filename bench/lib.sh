# bench/lib.sh - shell helpers the bench scripts share; sourced, never run:
# by run.sh (and so by read.sh, which run.sh sources), pg_baseline.sh,
# idem_start.sh and denial_flood.sh.  It defines functions only and sets
# no options, traps or variables.
#
#   free_port                      a free TCP port on 127.0.0.1
#   wait_healthz PORT PID TRIES [INTERVAL]
#                                  poll GET /healthz until it answers 2xx
#   admin_hdr DATA OUT             the admin token's header line, in a file
#   writer_token PORT HDR NAME OUT a new writer token, in a file
#
# Secrets go through files (mode 0600), never on a command line.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_healthz PORT PID TRIES [INTERVAL]: 0 once GET /healthz on PORT
# answers 2xx; 1 when the process PID has gone or TRIES polls INTERVAL
# seconds apart (default 0.1) went unanswered.
wait_healthz() {
	local _
	for _ in $(seq 1 "$3"); do
		curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep "${4:-0.1}"
	done
	return 1
}

# admin_hdr DATA OUT: "Authorization: Bearer <DATA/admin.token>" in OUT,
# for curl -H @OUT.
admin_hdr() {
	(
		umask 077
		printf 'Authorization: Bearer %s\n' "$(head -1 "$1/admin.token")" >"$2"
	)
}

# writer_token PORT HDR NAME OUT: POST /v1/tokens with the admin header file
# HDR for a writer token named NAME; its secret in OUT, the reply in
# OUT.json.  1 when the request failed, 2 when the reply held no token.
writer_token() {
	(
		umask 077
		curl -fsS -X POST -H @"$2" -H 'Content-Type: application/json' \
			-d "{\"role\":\"writer\",\"name\":\"$3\"}" "http://127.0.0.1:$1/v1/tokens" \
			>"$4.json" || exit 1
		python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$4.json" \
			>"$4" || exit 2
	)
}
