#!/bin/bash
# t0941-s3-harness.sh - the suite's S3 engine (tests/engines/ceph.sh, started
# by tests/run.sh) and lib.sh's need_s3: a fresh bucket per test with Object
# Lock on, the AWS variables exported, and an outage (rgw_stop / rgw_start)
# that keeps the data and the port.
. "$(dirname "$0")/lib.sh"
need_s3 pre/fix

check_eq "bucket named after the test" "t0941-s3-harness-" "${S3_BUCKET:0:17}"
check_eq "S3_URL" "s3://$S3_BUCKET/pre/fix" "$S3_URL"
check_eq "path style" 1 "$LOGSEAL_S3_PATH_STYLE"
check_eq "Object Lock enabled" Enabled \
	"$(s3api get-object-lock-configuration --bucket "$S3_BUCKET" \
		--query ObjectLockConfiguration.ObjectLockEnabled --output text 2>&1)"
check_eq "versioning on" Enabled \
	"$(s3api get-bucket-versioning --bucket "$S3_BUCKET" --query Status --output text 2>&1)"
echo "tile bytes" >"$TMP/obj"
check "put a locked object" s3api put-object --bucket "$S3_BUCKET" --key pre/fix/log/tile/0/000 \
	--body "$TMP/obj" --object-lock-mode COMPLIANCE \
	--object-lock-retain-until-date "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
vid=$(s3api head-object --bucket "$S3_BUCKET" --key pre/fix/log/tile/0/000 --query VersionId \
	--output text 2>&1)
check_fails "a locked version cannot be deleted" s3api delete-object --bucket "$S3_BUCKET" \
	--key pre/fix/log/tile/0/000 --version-id "$vid"
# a second need_s3 makes another bucket
first=$S3_BUCKET
need_s3
check "second bucket differs" test "$first" != "$S3_BUCKET"
check_eq "default prefix" "s3://$S3_BUCKET/logseal" "$S3_URL"

port=${LOGSEAL_TEST_S3_ENDPOINT##*:}
check "rgw_stop" rgw_stop
check_fails "no S3 while radosgw is stopped" curl -s -m 3 -o /dev/null "$LOGSEAL_TEST_S3_ENDPOINT/"
check "rgw_start" rgw_start
check_eq "same port after restart" "$port" "$(sed -n 's/.* endpoint=127.0.0.1:\([0-9]*\).*/\1/p' "$CEPH_CONF")"
check_eq "the object survived the outage" "$vid" \
	"$(s3api head-object --bucket "$first" --key pre/fix/log/tile/0/000 --query VersionId \
		--output text 2>&1)"
done_testing
