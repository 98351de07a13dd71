#!/bin/bash
# Tamper test: single-byte changes at random places in the sealed segments,
# the write-ahead log (journal), the hash tiles and the checkpoints are each
# detected by `logseal verify`, which names the file that was changed.
# Segments of 512 leaves, so that the log is many segments and a WAL tail.
. "$(dirname "$0")/lib.sh"
ROUNDS=${TAMPER_ROUNDS:-40}
D=$TMP/data
gen() { python3 -c '
import json, sys
start, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(start, start + n):
    print(json.dumps({"seq": i, "actor": {"id": "user-%d" % (i % 97)}, "action": "db.query",
                      "note": "x" * (i % 300)}))' "$@"; }
check "init" "$LOGSEAL" init --data "$D" --origin tamper.test/log
# three imports: three checkpoints, with partial tiles at each size
gen 0 700 >"$TMP/a"; gen 700 300 >"$TMP/b"; gen 1000 66100 >"$TMP/c"
check "import 700" "$LOGSEAL" import --data "$D" --segment-leaves 512 <"$TMP/a"
check "import 300" "$LOGSEAL" import --data "$D" --segment-leaves 512 <"$TMP/b"
check "import 66100 (a level-2 tile)" "$LOGSEAL" import --data "$D" --segment-leaves 512 <"$TMP/c"
check "verify of the untouched log passes" "$LOGSEAL" verify --data "$D"
grep -q "67100 entries" "$TMP/last.out" && ok "verify counted every entry" || not_ok "verify counted every entry: $(cat "$TMP/last.out")"
# DIR/log holds hash tiles only (entry bundles are served from the sealed
# segments and the WAL): `verify --tiles` of a fetched static copy is t0410's.

cd "$D"
find journal segments log checkpoints -type f | sort >"$TMP/files"
cd - >/dev/null
n=$(wc -l <"$TMP/files")
for r in $(seq 1 "$ROUNDS"); do
	# spread rounds over file kinds: WAL, hash tiles, sealed segments, checkpoints
	case $((r % 4)) in
	0) f=$(grep '^journal/.*\.seg$' "$TMP/files" | shuf -n1) ;;
	1) f=$(grep '^log/tile/[0-9]' "$TMP/files" | shuf -n1) ;;
	2) f=$(grep '^segments/.*\.seal$' "$TMP/files" | shuf -n1) ;;
	3) f=$(grep -E '^(checkpoints/|log/checkpoint)' "$TMP/files" | shuf -n1) ;;
	esac
	rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"; cp "$D.master.key" "$TMP/t.master.key"
	where=$(python3 - "$TMP/t/$f" <<'PY'
import os, random, sys
p = sys.argv[1]
size = os.path.getsize(p)
off = random.randrange(size)
with open(p, "r+b") as fh:
    fh.seek(off); b = fh.read(1)[0]
    fh.seek(off); fh.write(bytes([b ^ random.randrange(1, 256)]))
print(off)
PY
)
	if "$LOGSEAL" verify --data "$TMP/t" >"$TMP/v.out" 2>"$TMP/v.err"; then
		not_ok "round $r: flipped byte $where of $f is detected"
	else
		key=$(basename "$f")
		case $f in log/tile/*) key=${f#log/} ;; esac
		if grep -qF "$key" "$TMP/v.err"; then
			ok "round $r: byte $where of $f: $(head -c 160 "$TMP/v.err")"
		else
			not_ok "round $r: byte $where of $f detected but the file is not named"
			sed 's/^/#   /' "$TMP/v.err"
		fi
	fi
done
# A checkpoint signed by another key is not trusted.
rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"
"$LOGSEAL" init --data "$TMP/other" --origin tamper.test/log >/dev/null
cp "$TMP/other/log/checkpoint" "$TMP/t/log/checkpoint"
check_fails "a checkpoint signed by an unknown key is refused" "$LOGSEAL" verify --data "$TMP/t"
check_fails "verify --tiles with another key fails" "$LOGSEAL" verify --tiles "$D/log" --key "$TMP/other/verifier.key"
grep -q "checkpoint: note is not signed by\|does not verify" "$TMP/last.out" && ok "... on the checkpoint's signature" ||
	not_ok "... on the checkpoint's signature: $(cat "$TMP/last.out")"
done_testing
