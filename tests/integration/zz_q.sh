. ./lib.sh; . ./serve_lib.sh
export AWS_ACCESS_KEY_ID=TESTKEY AWS_SECRET_ACCESS_KEY=TESTSECRET AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:7480 LOGSEAL_S3_PATH_STYLE=1
D=/tmp/tierdbg_T/data
echo $((31*86400)) > $TMP/clk; export LOGSEAL_TEST_CLOCK_FILE=$TMP/clk
start_server $D --segment-leaves 256
ADMIN=$(cat "$D/admin.token"); AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
req GET "/v1/events?service=web&limit=5" "$AUD"; head -c 600 $TMP/resp; echo
req GET "/v1/events?limit=5&order=asc" "$AUD"; head -c 300 $TMP/resp; echo
req GET "/v1/events/300" "$AUD"; head -c 300 $TMP/resp; echo
cat $SRV_ERR
