/*
 * cmd_cluster.c - `logseal cluster adopt --data DIR --cluster CONNINFO`:
 * move a single-node data directory's log into a brand new cluster
 * database (store/cluster_adopt.h), with the server stopped.
 * docs/CLUSTER.md "Moving a single-node log into a cluster".
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ls.h"
#include "store/cluster_adopt.h"
#include "store/log.h"

static const char usage_cluster[] =
	"usage: logseal cluster adopt --data DIR --cluster CONNINFO\n"
	"                             [--batch-entries N] [--batch-bytes N]\n"
	"\n"
	"Moves the log of a single-node data directory into a brand new cluster\n"
	"database, so that DIR (and copies of it) start with `logseal serve\n"
	"--cluster CONNINFO` holding the log they had.  Run it with the server\n"
	"stopped (it takes the directory's lock; refused beside a running server).\n"
	"\n"
	"The database must be new for this log: no batch, no entry sequenced, no\n"
	"other log's origin (refused otherwise: \"already holds ... entries\", or\n"
	"\"belongs to the log ...\").  The entries kept in DIR (from the first one\n"
	"retention did not move out) up to the latest signed checkpoint are\n"
	"copied into logseal.batch in leaf order, in transactions of at most\n"
	"--batch-entries entries (default 4096) and --batch-bytes bytes (default\n"
	"4194304); the last transaction sets the coordination row (next) and the\n"
	"integration row (size, root, checkpoint; pruned = the first entry\n"
	"copied).  Until then the database is marked as being adopted and every\n"
	"node refuses it.  An interrupted adoption is finished by running the\n"
	"same command again (it goes on after the last batch copied).\n"
	"\n"
	"Not copied: the single-node server's idempotency keys.  A client that\n"
	"retries, after the adoption, a batch it sent before is not deduplicated.\n"
	"Other nodes start from copies of DIR made after the adoption (cp -a,\n"
	"with the server stopped), not from the `logseal init` directory.\n"
	"\n"
	"CONNINFO: a libpq connection string or postgresql:// URI (as for serve).\n";

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	unsigned pause_ms = *(unsigned *)ctx;

	printf("copied %llu of %llu entries\n", (unsigned long long)done,
	       (unsigned long long)total);
	fflush(stdout);
	if (pause_ms)	/* LOGSEAL_TEST_ADOPT_PAUSE_MS: tests interrupt it here */
		usleep(pause_ms * 1000u);
}

static int adopt(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "batch-entries", required_argument, NULL, 'e' },
		{ "batch-bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cluster_adopt_opts ao = { 0 };
	struct cluster_adopt_result res;
	struct ls_err err = { "" }, e2 = { "" };
	struct log_opts lo;
	struct log *l = NULL;
	const char *dir = NULL, *env;
	unsigned pause_ms = 0;
	char *end;
	int c;
	ls_rc rc;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'c': ao.conninfo = optarg; break;
		case 'e':
		case 'b': {
			unsigned long long v = strtoull(optarg, &end, 10);

			if (*end || !v || v > (1ull << 30))
				return cli_die("cluster adopt", "--batch-entries and --batch-bytes take "
					       "a number from 1 to 2^30");
			if (c == 'e')
				ao.batch_entries = (size_t)v;
			else
				ao.batch_bytes = (size_t)v;
			break;
		}
		case 'h': fputs(usage_cluster, stdout); return 0;
		default: fputs(usage_cluster, stderr); return 2;
		}
	}
	if (!dir || !ao.conninfo || optind != argc) {
		fputs(usage_cluster, stderr);
		return 2;
	}
	env = getenv("LOGSEAL_TEST_ADOPT_PAUSE_MS");
	if (env)
		pause_ms = (unsigned)strtoul(env, NULL, 10);
	memset(&lo, 0, sizeof(lo));
	lo.dir = dir;
	lo.no_threads = 1;
	rc = log_open(&lo, &l, NULL, &err);
	if (rc == LS_BUSY)
		return cli_die("cluster adopt", "a server is running on this directory (it holds "
			       "the log's lock): stop it first");
	if (rc != LS_OK)
		return cli_die("cluster adopt", err.msg);
	ao.log = l;
	ao.progress = progress;
	ao.ctx = &pause_ms;
	rc = cluster_adopt(&ao, &res, &err);
	if (log_close(l, &e2) != LS_OK && rc == LS_OK) {
		rc = LS_IO;
		err = e2;
	}
	if (rc != LS_OK)
		return cli_die("cluster adopt", err.msg);
	printf("adopted %llu entries of %s into the cluster database (%llu copied from leaf "
	       "%llu in %llu %s%s)\n", (unsigned long long)res.size, dir,
	       (unsigned long long)(res.size - res.resumed_at), (unsigned long long)res.resumed_at,
	       (unsigned long long)res.rows, LS_PL(res.rows, "transaction", "transactions"),
	       res.resumed_at > res.retained ? ", resumed" : "");
	if (res.retained)
		printf("entries below leaf %llu were moved out by retention: they are not in the "
		       "database (logseal.integ.pruned = %llu); start other nodes from copies of "
		       "%s\n", (unsigned long long)res.retained, (unsigned long long)res.retained,
		       dir);
	return 0;
}

int cmd_cluster(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_cluster, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "adopt")) {
		fprintf(stderr, "logseal cluster: unknown subcommand \"%s\"\n", argv[1]);
		fputs(usage_cluster, stderr);
		return 2;
	}
	return adopt(argc - 1, argv + 1);
}
