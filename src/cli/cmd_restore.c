/*
 * cmd_restore.c - `logseal restore --from s3://BUCKET/PREFIX --data DIR
 * --keys KEYDIR`: a data directory rebuilt from the bucket (followers/
 * restore.h), with progress on stderr and the time it took.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "followers/restore.h"
#include "server/auth.h"

static void progress(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "\rlogseal restore: %s %llu/%llu   ", step, (unsigned long long)done,
		(unsigned long long)total);
	fflush(stderr);
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "data", required_argument, NULL, 'd' },
		{ "keys", required_argument, NULL, 'k' },
		{ "object-store-endpoint", required_argument, NULL, 'e' },
		{ "object-store-region", required_argument, NULL, 'r' },
		{ "object-store-path-style", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_text[] =
		"usage: logseal restore --from s3://BUCKET/PREFIX --data DIR --keys KEYDIR\n"
		"                       [--object-store-endpoint URL] [--object-store-region R]\n"
		"                       [--object-store-path-style] [--quiet]\n"
		"\n"
		"Rebuilds a data directory from the bucket the server uploads to\n"
		"(docs/OBJECT-STORE.md \"Restore\"): segments, hash tiles, checkpoints, the\n"
		"entries after the last sealed segment (from the entry bundles), the data\n"
		"keys and the index.  KEYDIR holds the key files kept off the machine:\n"
		"keys/log.key, and keys/master.json for an encrypted log (its master key\n"
		"must be obtainable as it names it).  Checks the latest checkpoint's\n"
		"signature, that the bucket's verifier key is that of log.key, that every\n"
		"checkpoints/<size> is consistent with the latest, and then the whole\n"
		"directory (as `logseal verify --data`).  Refuses a non-empty DIR.  Tokens\n"
		"are not in the bucket: a new admin token is written (DIR/admin.token).\n"
		"Credentials as AWS tools take them (AWS_ACCESS_KEY_ID, ...).\n";
	struct restore_opts o;
	struct restore_report rep;
	struct ls_err err = { { 0 } };
	int c, quiet = 0;
	ls_rc rc;

	memset(&o, 0, sizeof(o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'f': o.from = optarg; break;
		case 'd': o.data = optarg; break;
		case 'k': o.keys = optarg; break;
		case 'e': o.endpoint = optarg; break;
		case 'r': o.region = optarg; break;
		case 'p': o.path_style = 1; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default:
			fprintf(stderr, "logseal restore: unknown option or missing value: %s\n%s",
				argv[optind - 1], usage_text);
			return 2;
		}
	}
	if (!o.from || !o.data || !o.keys || optind != argc) {
		fprintf(stderr, "logseal restore: --from, --data and --keys are required\n%s",
			usage_text);
		return 2;
	}
	if (!quiet)
		o.progress = progress;
	rc = restore_run(&o, &rep, &err);
	if (!quiet)
		fputc('\n', stderr);
	if (rc != LS_OK) {
		fprintf(stderr, "logseal restore: %s: %s\n", ls_rc_name(rc), err.msg);
		return 1;
	}
	/* A new admin token: tokens are not in the bucket. */
	rc = auth_bootstrap(o.data, &err);
	if (rc != LS_OK) {
		fprintf(stderr, "logseal restore: the admin token: %s\n", err.msg);
		return 1;
	}
	printf("restored %s into %s: %llu %s (%llu in %llu %s, %llu from entry "
	       "bundles), %llu %s, %llu %s, %.1f MB in %.2f s (%.1f s/GB); verified, "
	       "index rebuilt\n",
	       o.from, o.data, (unsigned long long)rep.size, LS_PL(rep.size, "entry", "entries"),
	       (unsigned long long)rep.sealed_end, (unsigned long long)rep.segments,
	       LS_PL(rep.segments, "segment", "segments"), (unsigned long long)rep.wal_entries,
	       (unsigned long long)rep.tiles, LS_PL(rep.tiles, "tile", "tiles"),
	       (unsigned long long)rep.checkpoints, LS_PL(rep.checkpoints, "checkpoint", "checkpoints"),
	       (double)rep.bytes / 1e6, rep.seconds,
	       rep.bytes ? rep.seconds / ((double)rep.bytes / 1e9) : 0.0);
	return 0;
}
