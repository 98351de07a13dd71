/*
 * cmd_reindex.c - `logseal reindex --data DIR`: rebuild the query index
 * (its .post files) from the entries (index.h) while no server holds it,
 * and say how fast it went.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "followers/index.h"

static void reindex_progress(void *ctx, uint64_t done)
{
	(void)ctx;
	fprintf(stderr, "\rlogseal reindex: %llu %s indexed", (unsigned long long)done,
		LS_PL(done, "entry", "entries"));
	fflush(stderr);
}

int cmd_reindex(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_text[] =
		"usage: logseal reindex --data DIR\n"
		"\n"
		"Rebuilds the query index (the posting lists in DIR/index/*.post) from\n"
		"the entries, from entry 0: the old files are deleted and every complete\n"
		"range is written again (the last, incomplete one is made by the server\n"
		"at its start).  The index is derived data: nothing else in DIR is\n"
		"changed.  Refuses to run while a server holds the index (stop `logseal\n"
		"serve` first).\n"
		"\n"
		"  --data DIR   data directory (default ./data)\n"
		"  --help       this text\n";
	const char *dir = "./data";
	struct ls_err err = { { 0 } };
	uint64_t count = 0;
	struct timespec t0, t1;
	double secs;
	int c, tty = isatty(2);
	ls_rc r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "logseal reindex: unknown option or missing value: %s\n",
				argv[optind - 1]);
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "logseal reindex: unexpected argument: %s\n", argv[optind]);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = index_rebuild(dir, tty ? reindex_progress : NULL, NULL, &count, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (tty)
		fputc('\n', stderr);
	if (r == LS_BUSY) {
		fprintf(stderr, "logseal reindex: %s: the index is in use by a running server; "
				"stop it first (%s)\n", dir, err.msg);
		return 1;
	}
	if (r != LS_OK) {
		fprintf(stderr, "logseal reindex: %s: %s (%s)\n", dir, err.msg, ls_rc_name(r));
		return 1;
	}
	printf("logseal reindex: %llu %s indexed in %s/index in %.2f s (%.0f entries/s)\n",
	       (unsigned long long)count, LS_PL(count, "entry", "entries"), dir, secs, secs > 0 ? (double)count / secs : 0.0);
	return 0;
}
