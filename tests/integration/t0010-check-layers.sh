#!/bin/bash
# `make check-layers` (scripts/check_layers.py): the tree as it is passes,
# and a copy of src/ with each rule broken once fails, naming the file:
# an include reaching up a layer, an include that is not path-qualified,
# store/journal.h included above store/, a cycle of two modules, and a
# file over 1,500 lines.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LAYERS="base core store followers server cli"
check "the tree passes" bash -c "cd '$ROOT' && python3 scripts/check_layers.py $LAYERS"

# broken NAME FILE LINE EXPECT: a fresh copy of src/ with LINE appended to
# FILE must fail, and say EXPECT.
broken() {
	local name=$1 file=$2 line=$3 expect=$4
	rm -rf "$TMP/t"; mkdir -p "$TMP/t"; cp -r "$ROOT/src" "$TMP/t/src"
	printf '%s\n' "$line" >>"$TMP/t/src/$file"
	check_fails "$name: refused" bash -c "cd '$TMP/t' && python3 '$ROOT/scripts/check_layers.py' $LAYERS"
	cp "$TMP/last.out" "$TMP/said"
	check "... naming it ($expect)" grep -q "$expect" "$TMP/said"
}
broken "base includes the server" base/ls.c '#include "server/api.h"' \
	'base/ls.c: #include "server/api.h" reaches up'
broken "an include without its layer" core/merkle.c '#include "note.h"' \
	'core/merkle.c: #include "note.h" is not path-qualified'
broken "journal.h above store/" followers/verify.c '#include "store/journal.h"' \
	'followers/verify.c: #include "store/journal.h" outside store/'
broken "two modules include each other" store/reader.h '#include "store/log.h"' \
	'include cycle: store/log -> .*store/reader -> store/log'
broken "a file over 1,500 lines" base/ls.c "$(yes '/* filler */' | head -1500)" \
	'base/ls.c: [0-9]* lines'
done_testing
