#!/bin/bash
# Tamper test of sealed segments: a log imported with small segments (512
# leaves), plaintext and encrypted; a byte flipped at offsets spread over
# every region of a segment file (header, blocks, leaf hashes, block table,
# footer) makes `logseal verify` fail (exit 1) with a message that names
# the file and a byte offset; a segment deleted, renamed, cut short, or a
# stray file in DIR/segments is named too; the untouched copy passes.
. "$(dirname "$0")/lib.sh"
gen() { python3 -c '
import json, sys
start, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(start, start + n):
    print(json.dumps({"seq": i, "actor": {"id": "user-%d" % (i % 97)}, "action": "db.query",
                      "note": "x" * (i % 300)}))' "$@"; }

# flip FILE OFFSET: xor the byte at OFFSET with 0x5a.
flip() { python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as fh:
    fh.seek(off); b = fh.read(1)[0]
    fh.seek(off); fh.write(bytes([b ^ 0x5a]))
PY
}

for mode in plain encrypted; do
	D=$TMP/$mode
	if [ $mode = plain ]; then
		check "$mode: init" "$LOGSEAL" init --data "$D" --origin segtamper.test/log --no-encryption
	else
		check "$mode: init" "$LOGSEAL" init --data "$D" --origin segtamper.test/log
	fi
	gen 0 1000 >"$TMP/a.ndjson"; gen 1000 900 >"$TMP/b.ndjson"
	check "$mode: import 1000" "$LOGSEAL" import --data "$D" --segment-leaves 512 <"$TMP/a.ndjson"
	check "$mode: import 900" "$LOGSEAL" import --data "$D" --segment-leaves 512 <"$TMP/b.ndjson"
	nseg=$(ls "$D/segments" | grep -c '\.seal$')
	check_eq "$mode: three sealed segments of 512 (the WAL holds the rest)" 3 "$nseg"
	check "$mode: verify of the untouched log passes" "$LOGSEAL" verify --data "$D"
	grep -q "1900 entries" "$TMP/last.out" && grep -q "sealed segments: 3 (1536 entries" "$TMP/last.out" &&
		ok "$mode: verify counted every entry and segment" ||
		not_ok "$mode: verify counted every entry and segment: $(cat "$TMP/last.out")"

	for seg in 0000000000000000 0000000000000200 0000000000000400; do
		f=$D/segments/$seg.seal
		size=$(stat -c %s "$f")
		# 0..63 (header), spread offsets, the last 200 bytes (table, footer)
		offs="0 7 31 63 $((size / 7)) $((size / 3)) $((size / 2)) $((2 * size / 3)) $((size - 200)) $((size - 120)) $((size - 64)) $((size - 30)) $((size - 1))"
		bad=0
		for off in $offs; do
			rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"
			[ $mode = encrypted ] && cp "$D.master.key" "$TMP/t.master.key"
			flip "$TMP/t/segments/$seg.seal" "$off"
			if "$LOGSEAL" verify --data "$TMP/t" >"$TMP/v.out" 2>"$TMP/v.err"; then
				bad=1; echo "# byte $off of $seg.seal flipped: verify passed"
			elif ! grep -q "$seg.seal offset [0-9]" "$TMP/v.err"; then
				bad=1; echo "# byte $off of $seg.seal: not named with an offset:"; sed 's/^/#   /' "$TMP/v.err"
			fi
		done
		[ $bad = 0 ] && ok "$mode: every flipped byte of $seg.seal ($size bytes, 13 offsets) is named with its offset" ||
			not_ok "$mode: every flipped byte of $seg.seal is named with its offset"
	done
	echo "# e.g.: $(head -c 200 "$TMP/v.err")"

	rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"; [ $mode = encrypted ] && cp "$D.master.key" "$TMP/t.master.key"
	rm "$TMP/t/segments/0000000000000200.seal"
	check_fails "$mode: a deleted segment fails verify" "$LOGSEAL" verify --data "$TMP/t"
	grep -q "0000000000000400.seal: starts at leaf 1024.*a segment is missing" "$TMP/last.out" &&
		ok "$mode: ... and the gap is named" || not_ok "$mode: ... and the gap is named: $(cat "$TMP/last.out")"

	rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"; [ $mode = encrypted ] && cp "$D.master.key" "$TMP/t.master.key"
	mv "$TMP/t/segments/0000000000000400.seal" "$TMP/t/segments/0000000000000500.seal"
	check_fails "$mode: a renamed segment fails verify" "$LOGSEAL" verify --data "$TMP/t"
	grep -q "0000000000000500.seal" "$TMP/last.out" && ok "$mode: ... and it is named" ||
		not_ok "$mode: ... and it is named: $(cat "$TMP/last.out")"

	rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"; [ $mode = encrypted ] && cp "$D.master.key" "$TMP/t.master.key"
	truncate -s -100 "$TMP/t/segments/0000000000000000.seal"
	check_fails "$mode: a segment cut short fails verify" "$LOGSEAL" verify --data "$TMP/t"
	grep -q "0000000000000000.seal offset [0-9]" "$TMP/last.out" && ok "$mode: ... named with an offset" ||
		not_ok "$mode: ... named with an offset: $(cat "$TMP/last.out")"

	rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"; [ $mode = encrypted ] && cp "$D.master.key" "$TMP/t.master.key"
	echo hello >"$TMP/t/segments/notes.txt"
	check_fails "$mode: a stray file in segments/ fails verify" "$LOGSEAL" verify --data "$TMP/t"
	grep -q "notes.txt: not a sealed segment's name" "$TMP/last.out" && ok "$mode: ... and it is named" ||
		not_ok "$mode: ... and it is named: $(cat "$TMP/last.out")"

	# A segment swapped for the same leaves sealed in another log: every
	# byte checks, but its leaf hashes are not the signed tree's.
	O=$TMP/other-$mode
	"$LOGSEAL" init --data "$O" --origin segtamper.test/log --no-encryption >/dev/null
	gen 5 1000 | "$LOGSEAL" import --data "$O" --segment-leaves 512 >/dev/null
	if [ $mode = plain ]; then
		rm -rf "$TMP/t"; cp -a "$D" "$TMP/t"
		cp "$O/segments/0000000000000000.seal" "$TMP/t/segments/"
		check_fails "$mode: a well-formed segment of other entries fails verify" "$LOGSEAL" verify --data "$TMP/t"
		# (its level-0 tiles are the segment's: tied to the level-1 tile)
		grep -q "0000000000000000.seal: the leaf hashes of entries 0..255 do not hash to hash 0 of .*tile/1/000" "$TMP/last.out" &&
			ok "$mode: ... named against the signed tree's tile" ||
			not_ok "$mode: ... named against the signed tree's tile: $(cat "$TMP/last.out")"
	fi
done

# The format before sealed segments is refused with the way out.
rm -rf "$TMP/t"; cp -a "$TMP/plain" "$TMP/t"; rm "$TMP/t/format"
check_fails "a directory without DIR/format is refused" "$LOGSEAL" verify --data "$TMP/t"
grep -q "logseal migrate" "$TMP/last.out" && ok "... naming logseal migrate" ||
	not_ok "... naming logseal migrate: $(cat "$TMP/last.out")"
done_testing
