#!/bin/bash
# Crash loop: a writer appends from several threads and prints every
# acknowledged batch; it is SIGKILLed at a random moment; after reopening,
# every acknowledged entry must be present with its content, and
# `logseal verify` must pass.  CRASH_ROUNDS sets the number of rounds
# (`make crash N=...`); the default keeps `make test` short.
# CRASH_SEGMENT_LEAVES=L (optional, `make crash N=50 CRASH_SEGMENT_LEAVES=512`)
# then runs as many rounds of the server's crash loop over sealed segments
# of L leaves (t0903-model-crashloop.sh: SIGKILL during HTTP load, every
# acknowledged event present exactly once and searchable, verify passes),
# its lines prefixed with "serve:".
. "$(dirname "$0")/lib.sh"
ROUNDS=${CRASH_ROUNDS:-8}
D=$TMP/data
check "init" "$LOGSEAL" init --data "$D" --origin crash.test/log
for r in $(seq 1 "$ROUNDS"); do
	"$TESTBIN/crashwriter" write "$D" 3 >>"$TMP/acks" 2>"$TMP/werr" &
	pid=$!
	# Let it get going (opening an encrypted log takes a moment), then
	# 20..400 ms more: sometimes mid-batch, sometimes mid-checkpoint.
	lines=$(wc -l <"$TMP/acks")
	for _ in $(seq 1 100); do
		[ "$(wc -l <"$TMP/acks")" -gt "$lines" ] && break
		sleep 0.05
	done
	sleep "0.$(printf '%03d' $((20 + RANDOM % 380)))"
	kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	if [ -s "$TMP/werr" ]; then not_ok "round $r: writer failed"; sed 's/^/#   /' "$TMP/werr"; fi
	# A process kill leaves no torn write (the page cache survives it);
	# every other round adds what a power cut can leave: a partial record
	# after the last one (random bytes, or a valid-looking header whose
	# payload is missing).
	torn=0
	if [ $((r % 2)) -eq 0 ]; then
		seg=$(ls "$D"/journal/*.seg | tail -1)
		python3 - "$seg" $((r % 4)) <<'PY'
import os, random, struct, sys
with open(sys.argv[1], "ab") as f:
    if sys.argv[2] == "0":
        f.write(os.urandom(random.randrange(1, 300)))
    else:  # a record header that promises 300 bytes, and 17 of them
        f.write(struct.pack(">HHIQI", 0x4C52, 1, 300, 1 << 40, 0) + b"x" * 17)
PY
		torn=1
	fi
	out=$("$TESTBIN/crashwriter" check "$D" "$TMP/acks" 2>&1)
	if [ $torn -eq 1 ]; then
		printf '%s\n' "$out" | grep -q '^# recovery cut [1-9]' \
			&& ok "round $r: recovery cut the torn tail and said so" \
			|| not_ok "round $r: recovery cut the torn tail and said so"
	fi
	if printf '%s\n' "$out" | grep -q '^not ok'; then
		not_ok "round $r: acknowledged entries survive the crash"
		printf '%s\n' "$out" | sed 's/^/#   /'
	else
		ok "round $r: $(printf '%s\n' "$out" | grep '^ok' | sed 's/^ok - //'); $(printf '%s\n' "$out" | grep '^# recovery' | sed 's/^# //')"
	fi
	if ! "$LOGSEAL" verify --data "$D" >"$TMP/v.out" 2>&1; then
		not_ok "round $r: verify after recovery"; sed 's/^/#   /' "$TMP/v.out"
	else
		ok "round $r: verify passes"
	fi
done
if [ -n "${CRASH_SEGMENT_LEAVES:-}" ]; then
	rc=""
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "serve: ${line#ok * - }" ;;
		"not ok "*) not_ok "serve: ${line#not ok * - }" ;;
		"serve loop exit "*) rc=${line#serve loop exit } ;;
		"1.."*) ;;
		*) echo "$line" ;;
		esac
	done < <(MODEL_SEGMENT_LEAVES=$CRASH_SEGMENT_LEAVES CRASH_ROUNDS=$ROUNDS \
		bash "$(dirname "$0")/t0903-model-crashloop.sh" 2>&1; echo "serve loop exit $?")
	[ "$rc" = 0 ] || [ "$T_FAIL" -ne 0 ] || not_ok "serve: the crash loop exited with status $rc"
fi
done_testing
