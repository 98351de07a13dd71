#!/bin/sh
# `make run`: initialise ./data on first use, then serve on 127.0.0.1:8080.
set -e
cd "$(dirname "$0")/.."
DATA=${LOGSEAL_DATA:-./data}
LISTEN=${LOGSEAL_LISTEN:-127.0.0.1:8080}
if [ ! -d "$DATA/journal" ]; then
	build/logseal init --data "$DATA"
fi
URL="http://$LISTEN"
cat <<MSG

logseal is starting on $URL with data in $DATA
The admin token is in $DATA/admin.token (mode 0600).  Try:

  ADMIN=\$(cat $DATA/admin.token)
  # a writer token for your service
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H 'Content-Type: application/json' \\
       -d '{"role":"writer","name":"demo"}' $URL/v1/tokens
  WRITER=<the "token" field of that reply>
  # a first event
  curl -s -X POST -H "Authorization: Bearer \$WRITER" -H 'Content-Type: application/json' \\
       -d '{"time":"2026-11-26T10:00:00Z","actor":{"id":"alice"},"action":"user.login","outcome":"success","source":{"ip":"192.0.2.10"},"service":"demo"}' \\
       $URL/v1/events
  # read it back: the signed checkpoint and the tiles that cover it
  curl -s -H "Authorization: Bearer \$ADMIN" $URL/log/checkpoint

Stop with Ctrl-C (a last checkpoint is signed on the way out).
MSG
exec build/logseal serve --data "$DATA" --listen "$LISTEN"
