/*
 * witfeed - helper of the witness tests: builds a C2SP tlog-witness
 * add-checkpoint request body for a log read as tlog-tiles (a directory or
 * a URL, followers/tlogclient.h), and prints it on stdout.
 *
 *	witfeed --tiles DIR|URL [--token T] --old N [--checkpoint FILE]
 *	        [--bad-proof]
 *
 * The checkpoint is the log's (or FILE's); the consistency proof from N to
 * its size is computed from the log's hash tiles (none when N is 0 or the
 * size).  --bad-proof flips a bit of the first proof hash.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "core/cosig.h"
#include "core/merkle.h"
#include "core/note.h"
#include "followers/tlogclient.h"

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "tiles", required_argument, NULL, 't' },
		{ "token", required_argument, NULL, 'k' },
		{ "old", required_argument, NULL, 'o' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "bad-proof", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tiles = NULL, *token = NULL, *cpfile = NULL;
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN];
	struct ls_err err = { { 0 } };
	struct tlog_src *src = NULL;
	struct note_split *sp = malloc(sizeof(*sp));
	struct checkpoint cp;
	uint64_t old = 0;
	char *note = NULL, *body = NULL;
	size_t nlen = 0, np = 0, blen = 0;
	int c, bad = 0;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 't': tiles = optarg; break;
		case 'k': token = optarg; break;
		case 'o': old = strtoull(optarg, NULL, 10); break;
		case 'c': cpfile = optarg; break;
		case 'b': bad = 1; break;
		default: return 2;
		}
	}
	if (!tiles || !sp)
		return 2;
	if (tlog_src_open(tiles, token, &src, &err) != LS_OK)
		goto fail;
	if (cpfile) {
		if (fs_read_file(cpfile, NOTE_MAX_SIZE, &note, &nlen, &err) != LS_OK)
			goto fail;
	} else if (tlog_src_get(src, "checkpoint", (uint8_t **)&note, &nlen, &err) != LS_OK) {
		goto fail;
	}
	if (note_split(note, nlen, sp, &err) != LS_OK ||
	    checkpoint_parse(note, sp->text_len, &cp, &err) != LS_OK)
		goto fail;
	if (old > 0 && old < cp.size) {
		struct tlog_tree t = { src, cp.size, &err };

		if (merkle_consistency_proof(tlog_node_hash, &t, old, cp.size, proof, &np) != LS_OK)
			goto fail;
		if (bad && np)
			proof[0][0] ^= 1;
	}
	if (witness_req_format(old, (const uint8_t(*)[LS_HASH_LEN])proof, np, note, nlen, &body,
			       &blen, &err) != LS_OK)
		goto fail;
	fwrite(body, 1, blen, stdout);
	free(body);
	free(note);
	free(sp);
	tlog_src_free(src);
	return 0;
fail:
	fprintf(stderr, "witfeed: %s\n", err.msg);
	return 1;
}
