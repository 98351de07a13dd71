# model_lib.sh - what the model-based scripts (tests/integration/t09*-model-*.sh)
# share: `model CMD ...` runs tests/model/logmodel.py against the server
# serve_lib.sh started ($SRV_URL) with the state file $MODEL_STATE, and
# numbers its TAP lines ("ok - ...", "not ok - ...") with lib.sh's ok and
# not_ok; SEG_OPTS (IMPORT_OPTS) holds `--segment-leaves N` when the binary knows that
# option (MODEL_SEGMENT_LEAVES, default 512: small segments, so answers
# cross sealed segment boundaries and the active one) when `serve` (`import`)
# knows that option, else nothing.
# Source it after lib.sh and serve_lib.sh.
MODEL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/logmodel.py
MODEL_STATE=$TMP/model.json
SEG_OPTS=()
SEG_NOTE=" (no --segment-leaves in this binary)"
if "$LOGSEAL" serve --help 2>&1 | grep -q -- '--segment-leaves'; then
	SEG_OPTS=(--segment-leaves "${MODEL_SEGMENT_LEAVES:-512}")
	SEG_NOTE=" with --segment-leaves ${MODEL_SEGMENT_LEAVES:-512}"
fi
# The same for `logseal import`.
IMPORT_OPTS=()
if "$LOGSEAL" import --help 2>&1 | grep -q -- '--segment-leaves'; then
	IMPORT_OPTS=(--segment-leaves "${MODEL_SEGMENT_LEAVES:-512}")
fi
# model CMD [ARGS...]: run one command of the model; a non-zero exit
# without a failed test line is reported as a failure.
model() {
	local line rc=0
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		"model exit "*) rc=${line#model exit } ;;
		*) echo "$line" ;;
		esac
	done < <(python3 "$MODEL" "$1" --url "$SRV_URL" --state "$MODEL_STATE" "${@:2}" 2>&1
		echo "model exit $?")
	if [ "$rc" != 0 ] && [ "$T_FAIL" -eq 0 ]; then
		not_ok "logseal model $1 exited with status $rc"
	fi
	return 0
}
# model_bg CMD [ARGS...]: the same command in the background (the crash
# load); its output goes to $TMP/model_bg.out, its pid to MODEL_BG_PID.
model_bg() {
	python3 "$MODEL" "$1" --url "$SRV_URL" --state "$MODEL_STATE" "${@:2}" \
		>"$TMP/model_bg.out" 2>&1 &
	MODEL_BG_PID=$!
}
