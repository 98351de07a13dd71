/*
 * cmd_retention.c - `logseal retention`: run a retention pass offline, and
 * place, list or release legal holds on a stopped server's data directory
 * (see retention.h).  The open log holds the journal's lock, so run and
 * hold place/release do not run next to a server on the same directory
 * (they say what to do instead); hold list only reads holds.json and works
 * beside one.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/event.h"
#include "store/log.h"
#include "followers/retention.h"

static const char usage_retention[] =
	"usage: logseal retention run --data DIR [--now RFC3339]\n"
	"       logseal retention hold place --data DIR [--now RFC3339] JSON\n"
	"       logseal retention hold release --data DIR [--now RFC3339] ID\n"
	"       logseal retention hold list --data DIR\n"
	"\n"
	"run: archive and purge by DIR/retention.json as of --now (default: the\n"
	"current time); prints what it did.  hold place: JSON is {\"service\":..},\n"
	"{\"actor\":..} or {\"from\":..,\"to\":..}, with an optional \"reason\".\n"
	"Stop the server first (or use /v1/holds on a running one).\n";

static int fail(const char *msg)
{
	fprintf(stderr, "logseal retention: %s\n", msg);
	return 1;
}

int cmd_retention(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "now", required_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL, *sub, *hsub = NULL, *arg = NULL;
	struct ls_err err = { "" };
	struct log_opts lo;
	struct log *l = NULL;
	struct timeval tv;
	int64_t now;
	int c, code = 0;
	ls_rc rc;

	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fputs(usage_retention, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "hold")) {
		if (argc < 2) {
			fputs(usage_retention, stderr);
			return 2;
		}
		hsub = argv[1];
		argc--;
		argv++;
	}
	gettimeofday(&tv, NULL);
	now = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n':
			if (event_parse_time(optarg, &now) != LS_OK)
				return fail("--now: not an RFC 3339 time");
			break;
		case 'h': fputs(usage_retention, stdout); return 0;
		default: fputs(usage_retention, stderr); return 2;
		}
	}
	if (optind < argc)
		arg = argv[optind++];
	if (!dir || optind != argc || (strcmp(sub, "run") && strcmp(sub, "hold")) ||
	    (hsub && strcmp(hsub, "place") && strcmp(hsub, "release") && strcmp(hsub, "list")) ||
	    (!hsub && arg) || (hsub && !strcmp(hsub, "list") && arg) ||
	    (hsub && strcmp(hsub, "list") && !arg)) {
		fputs(usage_retention, stderr);
		return 2;
	}
	if (hsub && !strcmp(hsub, "list")) {
		char *json;

		if (retention_holds_json(dir, &json, &err) != LS_OK)
			return fail(err.msg);
		printf("%s\n", json);
		free(json);
		return 0;
	}
	memset(&lo, 0, sizeof(lo));
	lo.dir = dir;
	lo.no_threads = 1;
	rc = log_open(&lo, &l, NULL, &err);
	if (rc == LS_BUSY)
		return fail(!hsub ? "the server is running on this directory and runs retention "
				    "itself (GET /v1/retention shows it); stop it to run a pass here" :
				    "the server is running on this directory (it holds the journal): "
				    "place and release holds through it (POST and DELETE /v1/holds), "
				    "or stop it; `hold list` works beside it");
	if (rc != LS_OK)
		return fail(err.msg);
	if (!hsub) {
		struct retention_report rep;

		rc = retention_run(l, now, &rep, &err);
		if (rc == LS_OK && !rep.policy)
			printf("no retention policy (%s/retention.json): nothing to do\n", dir);
		else if (rc == LS_OK)
			printf("archived %u %s, purged %u, %u held back by legal holds\n",
			       rep.archived, LS_PL(rep.archived, "segment", "segments"), rep.purged,
			       rep.held);
	} else if (!strcmp(hsub, "place")) {
		char *json = NULL;

		rc = retention_hold_place(l, arg, strlen(arg), "logseal-cli", now, &json, &err);
		if (rc == LS_OK)
			printf("%s\n", json);
		free(json);
	} else {
		rc = retention_hold_remove(l, arg, "logseal-cli", now, &err);
		if (rc == LS_OK)
			printf("released hold %s\n", arg);
	}
	if (rc != LS_OK) {
		fprintf(stderr, "logseal retention: %s\n", err.msg);
		code = 1;
	}
	if (log_checkpoint(l, NULL) != LS_OK)
		code = 1;
	if (log_close(l, &err) != LS_OK)
		return fail(err.msg);
	return code;
}
