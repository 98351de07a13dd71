#!/bin/sh
# `make run`: initialise ./data on first use, then serve on 127.0.0.1:8080.
set -e
cd "$(dirname "$0")/.."
DATA=${LOGSEAL_DATA:-./data}
LISTEN=${LOGSEAL_LISTEN:-127.0.0.1:8080}
BIN=${LOGSEAL_BIN:-build/logseal}
if [ ! -d "$DATA/journal" ]; then
	"$BIN" init --data "$DATA"
fi
URL="http://$LISTEN"
cat <<MSG

logseal is starting on $URL with data in $DATA
The admin token is in $DATA/admin.token (mode 0600).  Try:

  ADMIN=\$(cat $DATA/admin.token)
  # a writer token for your service (the secret is shown once)
  WRITER=\$(curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H 'Content-Type: application/json' \\
       -d '{"role":"writer","name":"demo"}' $URL/v1/tokens | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  # a first event; the reply gives its index in the log
  N=\$(curl -s -X POST -H "Authorization: Bearer \$WRITER" -H 'Content-Type: application/json' \\
       -d '{"time":"2026-11-26T10:00:00Z","actor":{"id":"alice"},"action":"user.login","outcome":"success","source":{"ip":"192.0.2.10"},"service":"demo"}' \\
       $URL/v1/events | sed -n 's/.*"indexes":\[\([0-9]*\).*/\1/p')
  # find it (the admin token is also an auditor), then read it with its inclusion proof
  curl -s -H "Authorization: Bearer \$ADMIN" "$URL/v1/events?actor=alice"
  curl -s -H "Authorization: Bearer \$ADMIN" $URL/v1/events/\$N
  # the log's latest signed checkpoint (C2SP tlog-tiles)
  curl -s -H "Authorization: Bearer \$ADMIN" $URL/log/checkpoint

The dashboard is at $URL/ (paste a token to sign in).
Stop with Ctrl-C (a last checkpoint is signed on the way out).
MSG
exec "$BIN" serve --data "$DATA" --listen "$LISTEN"
