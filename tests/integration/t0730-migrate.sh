#!/bin/bash
# `logseal migrate`: data directories made by the format before sealed
# segments (tests/fixtures/old-format.tar.gz, made with main's binary: see
# tests/fixtures/README.md) are refused with the way out, then migrated:
# their entries move into sealed segments, the old bundle files go, and
# every leaf, proof and checkpoint stays valid: the checkpoint is the same
# file, the C2SP bundles served over HTTP are byte for byte the old bundle
# files, `verify` passes, a copy fetched over HTTP passes `verify --tiles`,
# and every event is returned by a query.  Plaintext and encrypted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
tar -C "$TMP" -xzf "$(dirname "$0")/../fixtures/old-format.tar.gz"
O=$TMP/old-format
export LOGSEAL_MASTER_KEY=$(cat "$O/enc.master.key")

# tile_path LEVEL N [W]: the C2SP path of a tile ("entries" for bundles).
tile_path() {
	local n=$2 p="" g
	while :; do g=$(printf '%03d' $((n % 1000))); n=$((n / 1000)); if [ -z "$p" ]; then p=$g; else p=x$g/$p; fi; [ "$n" -eq 0 ] && break; done
	printf 'tile/%s/%s%s' "$1" "$p" "${3:+.p/$3}"
}
# fetch_copy DIR TOKEN OUT: the signed checkpoint the server publishes, then
# exactly the hash tiles and entry bundles of its size, over HTTP (reads are
# audited: the log grows meanwhile, the copy is of that one size).
fetch_copy() {
	local d=$1 tok=$2 c=$3 size count lv p
	mkdir -p "$c"
	curl -s -H "Authorization: Bearer $tok" -o "$c/checkpoint" "$SRV_URL/log/checkpoint"
	size=$(sed -n 2p "$c/checkpoint")
	for lv in entries 0 1 2; do
		if [ "$lv" = entries ]; then count=$size; else count=$((size >> (8 * lv))); fi
		for n in $(seq 0 $((count / 256 - 1))); do
			p=$(tile_path "$lv" "$n"); mkdir -p "$c/$(dirname "$p")"
			curl -s -H "Authorization: Bearer $tok" -o "$c/$p" "$SRV_URL/log/$p"
		done
		if [ $((count % 256)) -ne 0 ]; then
			p=$(tile_path "$lv" $((count / 256)) $((count % 256))); mkdir -p "$c/$(dirname "$p")"
			curl -s -H "Authorization: Bearer $tok" -o "$c/$p" "$SRV_URL/log/$p"
		fi
	done
}

# tiles_kept OLD NEW: every hash tile file of OLD is in NEW byte for byte,
# except full level-0 tiles, which may be gone (served from a segment; the
# server's copies are compared below).
tiles_kept() {
	local f bad=0
	for f in $(cd "$1" && find tile -path tile/entries -prune -o -type f -print); do
		if [ -f "$2/$f" ]; then
			cmp -s "$1/$f" "$2/$f" || { echo "# $f differs"; bad=1; }
		else
			case $f in
			tile/0/*.p/*) echo "# $f is gone"; bad=1 ;;
			tile/0/*) ;;
			*) echo "# $f is gone"; bad=1 ;;
			esac
		fi
	done
	return $bad
}

for kind in plain enc; do
	D=$O/$kind
	cp -a "$D" "$TMP/$kind.before"
	check_fails "$kind: serve refuses the old format" "$LOGSEAL" serve --data "$D" --listen 127.0.0.1:0
	cp "$TMP/last.out" "$TMP/refused.out"
	check "$kind: and says how to migrate" grep -q "format before sealed segments.*run \`logseal migrate --data $D\`" "$TMP/refused.out"
	check "$kind: migrate" "$LOGSEAL" migrate --data "$D" --segment-leaves 256
	check "$kind: marked" test -f "$D/format"
	check "$kind: entries [0, 256) sealed" test -f "$D/segments/0000000000000000.seal"
	check_eq "$kind: no entry bundle file is left" 0 "$(find "$D" -path '*tile/entries*' -type f | wc -l)"
	check_eq "$kind: no bundles/ dir" 0 "$(test -e "$D/bundles" && echo 1 || echo 0)"
	check "$kind: migrate again: nothing to do" sh -c "'$LOGSEAL' migrate --data '$D' | grep -q 'current format already'"
	check "$kind: the signed checkpoint is the same file" cmp "$D/log/checkpoint" "$TMP/$kind.before/log/checkpoint"
	check "$kind: hash tiles untouched (full level-0 ones of sealed ranges now in the segments)" \
		tiles_kept "$TMP/$kind.before/log" "$D/log"
	check "$kind: verify --data passes" "$LOGSEAL" verify --data "$D"

	check "$kind: server starts" start_server "$D"
	ADMIN=$(cat "$D/admin.token")
	AUD=$(new_token "$ADMIN" '{"role":"auditor"}')
	size=$(sed -n 2p "$D/log/checkpoint")
	if [ "$kind" = plain ]; then
		bad=0
		for f in $(cd "$TMP/plain.before/log" && find tile/entries -type f); do
			# bundles of the latest signed size and of full width
			req GET "/log/$f" "$AUD" >/dev/null
			cmp -s "$TMP/resp" "$TMP/plain.before/log/$f" || { bad=$((bad + 1)); echo "# $f differs"; }
		done
		check_eq "plain: every old bundle file is served byte for byte" 0 "$bad"
	fi
	bad=0; gone=0
	for f in $(cd "$TMP/$kind.before/log" && find tile/0 -path '*.p' -prune -o -type f -print); do
		[ -f "$D/log/$f" ] && continue
		gone=$((gone + 1))
		req GET "/log/$f" "$AUD" >/dev/null
		cmp -s "$TMP/resp" "$TMP/$kind.before/log/$f" || { bad=$((bad + 1)); echo "# $f differs"; }
	done
	check "$kind: full level-0 tiles served from segments ($gone), byte for byte as before" \
		test "$gone" -ge 1 -a "$bad" -eq 0
	fetch_copy "$D" "$AUD" "$TMP/$kind.copy"
	check "$kind: a copy fetched over HTTP passes verify --tiles" "$LOGSEAL" verify --tiles "$TMP/$kind.copy" --key "$D/verifier.key"
	check_eq "$kind: every event is returned" 300 "$(req GET '/v1/events?limit=1000' "$AUD" >/dev/null; jq '[.events[] | select(.entry.service != "logseal")] | length' "$TMP/resp")"
	for i in 0 255 256 $((size - 1)); do
		check_eq "$kind: GET /v1/events/$i with its proof" 200 "$(req GET "/v1/events/$i" "$AUD")"
		check_eq "$kind: entry $i is the stored entry" "$("$TESTBIN/journalcat" "$D" | sed -n "$((i + 1))p" | jq -cS .)" "$(jq -cS .entry "$TMP/resp")"
	done
	stop_server; check_eq "$kind: stop: exit 0" 0 "$?"
	check "$kind: verify --data passes after serving" "$LOGSEAL" verify --data "$D"
done
done_testing
