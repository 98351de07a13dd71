#!/bin/bash
# Upload rate of the object store's uploader (followers/upload.c) against
# an S3 endpoint, and `aws s3 cp --recursive` of the same objects in the
# same run.  A log of N events is made without a store; then `serve
# --object-store` starts on it and the time until DIR/objstore/state holds
# the latest checkpoint is the upload time.  Prints objects/s and MB/s.
#	S3_ENDPOINT=http://127.0.0.1:7480 AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=.. \
#	N=65536 THREADS=8 bench/objstore_upload.sh
# (the bucket, made here, keeps its locked objects for a day)
set -eu
L=${LOGSEAL:-build/logseal}
N=${N:-65536}; T=${THREADS:-8}; EP=${S3_ENDPOINT:-${LOGSEAL_TEST_S3_ENDPOINT:-http://127.0.0.1:7480}}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_PAGER=""
W=$(mktemp -d "${TMPDIR:-/tmp}/logseal-upbench.XXXXXX")
trap 'kill $P 2>/dev/null; rm -rf "$W"' EXIT
P=
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
D=$W/d
$L init --data "$D" --no-encryption --origin bench.test/log >/dev/null
$L serve --data "$D" --listen 127.0.0.1:$PORT >/dev/null 2>&1 & P=$!
sleep 1
A=$(cat "$D/admin.token")
TOK=$(curl -s -H "Authorization: Bearer $A" -H "Content-Type: application/json" -d '{"role":"writer"}' http://127.0.0.1:$PORT/v1/tokens | jq -r .token)
python3 -c "
for i in range(4096): print('{\"id\":\"e%d\",\"time\":\"2024-05-06T07:08:09Z\",\"service\":\"web\",\"actor\":{\"id\":\"user-%d\",\"type\":\"user\"},\"action\":\"doc.read\",\"outcome\":\"success\",\"source\":{\"ip\":\"192.0.2.%d\"},\"resource\":{\"type\":\"doc\",\"id\":\"%d\"}}' % (i, i % 977, i % 250, i * 7919 % 100000))" >"$W/ev.ndjson"
for b in $(seq 1 $((N / 4096))); do
	sed "s/\"e/\"b$b-/" "$W/ev.ndjson" >"$W/evb.ndjson"
	curl -s -o /dev/null -H "Authorization: Bearer $TOK" -H "Content-Type: application/x-ndjson" --data-binary @"$W/evb.ndjson" http://127.0.0.1:$PORT/v1/events
done
kill $P; wait $P || true
B=logseal-upbench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
aws --endpoint-url "$EP" s3api create-bucket --bucket "$B" --object-lock-enabled-for-bucket >/dev/null
S=$(sed -n 2p "$D/log/checkpoint")
t0=$(date +%s.%N)
LOGSEAL_UPLOAD_THREADS=$T $L serve --data "$D" --listen 127.0.0.1:$PORT --object-store "s3://$B/b" \
	--object-store-endpoint "$EP" --object-store-path-style --object-lock-days 1 >/dev/null 2>"$W/serve.err" & P=$!
while ! grep -q "\"size\":$S," "$D/objstore/state" 2>/dev/null; do sleep 0.1; done
t1=$(date +%s.%N)
kill $P; wait $P || true
aws --endpoint-url "$EP" s3 ls --recursive "s3://$B/" >"$W/list"
n=$(wc -l <"$W/list"); bytes=$(awk '{s += $3} END {print s}' "$W/list")
python3 -c "t = $t1 - $t0; print('uploader (%d threads): %d entries, %d objects, %d bytes in %.2f s: %.0f objects/s, %.2f MB/s' % ($T, $S, $n, $bytes, t, $n / t, $bytes / t / 1e6))"
aws --endpoint-url "$EP" s3 sync --quiet "s3://$B/b/" "$W/up/"
t0=$(date +%s.%N)
aws --endpoint-url "$EP" s3 cp --recursive --quiet "$W/up" "s3://$B/awscp/"
t1=$(date +%s.%N)
n=$(find "$W/up" -type f | wc -l); bytes=$(du -sb --apparent-size "$W/up" | cut -f1)
python3 -c "t = $t1 - $t0; print('aws s3 cp --recursive: %d objects, %d bytes in %.2f s: %.0f objects/s, %.2f MB/s' % ($n, $bytes, t, $n / t, $bytes / t / 1e6))"
