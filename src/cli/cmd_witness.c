/*
 * cmd_witness.c - `logseal witness init|vkey|serve`: run a C2SP tlog-witness
 * (server/witness.h) for logs the operator lists with --log ORIGIN=VKEY or
 * in a file (--logs FILE: one ORIGIN=VKEY a line, '#' comments).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/witness.h"

static void usage(FILE *f)
{
	fputs("usage: logseal witness init --data WDIR --name NAME\n"
	      "       logseal witness vkey --data WDIR\n"
	      "       logseal witness serve --data WDIR [--listen HOST:PORT]\n"
	      "                             (--log ORIGIN=VKEY ... | --logs FILE)\n"
	      "\n"
	      "init makes WDIR and the witness's own Ed25519 key (cosignature/v1, C2SP\n"
	      "tlog-cosignature) and prints its verifier key: give it to the logs' operators.\n"
	      "serve answers POST /add-checkpoint (C2SP tlog-witness) for the listed logs and\n"
	      "GET /<sha256-hex of origin>/checkpoint with the latest checkpoint it cosigned.\n"
	      "  --listen HOST:PORT   default 127.0.0.1:8090 (port 0: any free one)\n"
	      "  --log ORIGIN=VKEY    a log's origin line and its verifier key (repeatable;\n"
	      "                       several keys for one origin: repeat the origin)\n"
	      "  --logs FILE          the same, one a line\n"
	      "Refusals are logged on stderr and in WDIR/evidence/ (see docs/WITNESS.md).\n",
	      f);
}

static int add_log(struct witness_log_cfg **logs, size_t *n, const char *s)
{
	struct witness_log_cfg *nl = realloc(*logs, (*n + 1) * sizeof(**logs));
	struct ls_err err = { { 0 } };

	if (!nl)
		return cli_die("witness", "out of memory");
	*logs = nl;
	if (witness_log_cfg_parse(s, &nl[*n], &err) != LS_OK) {
		fprintf(stderr, "logseal witness: %s\n", err.msg);
		return 2;
	}
	(*n)++;
	return 0;
}

static int read_logs(struct witness_log_cfg **logs, size_t *n, const char *path)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		fprintf(stderr, "logseal witness: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == 0)
			continue;
		rc = add_log(logs, n, p);
	}
	fclose(f);
	return rc;
}

int cmd_witness(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "listen", required_argument, NULL, 'l' },
		{ "log", required_argument, NULL, 'L' },
		{ "logs", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub, *dir = NULL, *name = NULL, *listen = "127.0.0.1:8090";
	struct witness_log_cfg *logs = NULL;
	struct ls_err err = { { 0 } };
	struct witness *w = NULL;
	struct witness_http *h = NULL;
	size_t nlogs = 0;
	char vkey[1024];
	unsigned port = 0;
	sigset_t set;
	int c, rc = 0, sig = 0;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n': name = optarg; break;
		case 'l': listen = optarg; break;
		case 'L': rc = add_log(&logs, &nlogs, optarg); break;
		case 'F': rc = read_logs(&logs, &nlogs, optarg); break;
		case 'h': usage(stdout); free(logs); return 0;
		default: usage(stderr); free(logs); return 2;
		}
		if (rc) {
			free(logs);
			return rc;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		free(logs);
		return 2;
	}
	if (strcmp(sub, "init") == 0) {
		free(logs);
		if (!name) {
			usage(stderr);
			return 2;
		}
		if (witness_init(dir, name, vkey, sizeof(vkey), &err) != LS_OK)
			return cli_die("witness init", err.msg);
		printf("%s\n", vkey);
		return 0;
	}
	if (strcmp(sub, "vkey") == 0) {
		free(logs);
		if (witness_open(dir, NULL, 0, &w, &err) != LS_OK)
			return cli_die("witness vkey", err.msg);
		witness_vkey(w, vkey, sizeof(vkey));
		printf("%s\n", vkey);
		witness_close(w);
		return 0;
	}
	if (strcmp(sub, "serve") != 0) {
		free(logs);
		usage(stderr);
		return 2;
	}
	if (!nlogs) {
		free(logs);
		fprintf(stderr, "logseal witness serve: no log to witness (--log ORIGIN=VKEY)\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (witness_open(dir, logs, nlogs, &w, &err) != LS_OK) {
		free(logs);
		return cli_die("witness serve", err.msg);
	}
	free(logs);
	if (witness_http_start(w, listen, &h, &port, &err) != LS_OK) {
		witness_close(w);
		return cli_die("witness serve", err.msg);
	}
	witness_vkey(w, vkey, sizeof(vkey));
	printf("logseal witness: %s\n", vkey);
	printf("logseal witness: %zu log(s), listening on http://%.*s:%u\n", nlogs,
	       (int)(strrchr(listen, ':') - listen), listen, port);
	fflush(stdout);
	sigwait(&set, &sig);
	printf("logseal witness: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	witness_http_stop(h);
	witness_close(w);
	return 0;
}
