/*
 * cmd_migrate.c - `logseal migrate`: a data directory of the format before
 * sealed segments brought to the current one (log_migrate(), log.h).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>

#include "store/log.h"

static const char usage_migrate[] =
	"usage: logseal migrate --data DIR [--segment-leaves N]\n"
	"\n"
	"Converts a data directory made before sealed segments (entry bundles as\n"
	"files, every entry in the journal): seals every whole range of N entries\n"
	"(default 65536) that a signed checkpoint covers into DIR/segments, deletes\n"
	"the journal files and the entry bundle files the segments replace, and\n"
	"marks the directory (DIR/format).  Leaves, hash tiles, proofs and signed\n"
	"checkpoints stay valid; nothing is re-signed.  Stop the server first.  Safe\n"
	"to run again after an interruption; does nothing on a current directory.\n"
	"\n"
	"  --data DIR          data directory\n"
	"  --segment-leaves N  entries per sealed segment, a multiple of 256 from 256\n"
	"                      to 16777216 (default 65536)\n";

int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "segment-leaves", required_argument, 0, 's' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct log_migration m;
	struct ls_err err = { "" };
	const char *dir = NULL;
	uint64_t leaves = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's':
			if (!ls_parse_u64(optarg, 256, 16777216, &leaves) || leaves % 256)
				return cli_die("migrate", "--segment-leaves must be a multiple of 256 "
					       "from 256 to 16777216");
			break;
		case 'h': fputs(usage_migrate, stdout); return 0;
		default: fputs(usage_migrate, stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		fputs(usage_migrate, stderr);
		return 2;
	}
	if (log_migrate(dir, leaves, &m, &err) != LS_OK)
		return cli_die("migrate", err.msg);
	if (m.already)
		printf("%s is in the current format already: nothing to do\n", dir);
	else
		printf("migrated %s: %llu %s, the first %llu of them in %llu sealed "
		       "%s (sealed in %.2f s: %.0f entries/s), the rest in the journal\n",
		       dir, (unsigned long long)m.size, LS_PL(m.size, "entry", "entries"),
		       (unsigned long long)m.sealed_end, (unsigned long long)m.segments,
		       LS_PL(m.segments, "segment", "segments"), m.seal_seconds,
		       m.seal_seconds > 0 ? (double)m.sealed_end /
						    m.seal_seconds : 0.0);
	return 0;
}
