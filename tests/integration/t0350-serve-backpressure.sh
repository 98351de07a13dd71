#!/bin/bash
# Back-pressure: with the data directory on a small tmpfs that fills up,
# a batch is refused with 507 and nothing of it is kept; once space is
# back, writes succeed again without a restart, and verify passes.
# The small file system is a tmpfs (root, or a user namespace of our own),
# else a loop-mounted ext4 image (root); a TAP skip when none can be mounted.
T_NEEDS_MOUNT=1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
SMALL=$TMP/small
if ! small_fs "$SMALL" 4m; then
	skip "disk full: 507" "no small file system can be mounted here: $SMALL_FS_ERR"
	done_testing; exit
fi
D=$SMALL/data
check "init on a 4 MiB file system" "$LOGSEAL" init --data "$D"
check "server starts" start_server "$D" --checkpoint-interval 100
ADMIN=$(cat "$D/admin.token")
W=$(new_token "$ADMIN" '{"role":"writer"}')
J=application/json
# A batch of 20 events of ~2 kB each (~40 kB).
batch() { python3 - "$1" <<'PY'
import json, sys
p = sys.argv[1]
print(json.dumps([{"id": "%s-%d" % (p, i), "time": "2024-01-01T00:00:00Z", "actor": {"id": "a"},
                   "action": "bulk.write", "outcome": "success", "source": {"ip": "10.0.0.1"},
                   "details": {"pad": "x" * 2000}} for i in range(20)]))
PY
}
batch warm >"$TMP/b0.json"
check_eq "a batch fits: 200" 200 "$(req POST /v1/events "$W" $J "$TMP/b0.json")"
sleep 0.3
# Fill the file system, leaving less than a batch.
dd if=/dev/zero of="$SMALL/filler" bs=4k 2>/dev/null
avail=$(df --output=avail -B1 "$SMALL" | tail -1)
echo "# free after filling: $avail bytes"
before=$(tree_size)
batch full >"$TMP/b1.json"
check_eq "disk full: 507" 507 "$(req POST /v1/events "$W" $J "$TMP/b1.json")"
check_eq "507 error code" no_space "$(jq -r .error.code "$TMP/resp")"
check_eq "nothing of the batch was kept" "$before" "$(tree_size)"
check_eq "/healthz still answers" 200 "$(req GET /healthz "")"
rm -f "$SMALL/filler"
check_eq "space back: the same batch is accepted" 200 "$(req POST /v1/events "$W" $J "$TMP/b1.json")"
check_eq "... with 20 new indexes starting where the tree ended" "$before 20" "$(jq -r '"\(.indexes[0]) \(.appended)"' "$TMP/resp")"
stop_server; check_eq "stop: exit 0" 0 "$?"
check "verify passes" "$LOGSEAL" verify --data "$D"
done_testing
