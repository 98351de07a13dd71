/*
 * main.c - the logseal command: one table of commands (git's commands[]),
 * each a function in its own cmd_*.c file (cli.h).  `logseal --help` and
 * the answer to an unknown command are printed from the table.  Commands
 * print errors on stderr and exit non-zero; every command answers --help.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define VERSION "0.1.0"

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("logseal %s\n", VERSION);
	return 0;
}

/* In the order `logseal --help` lists them. */
static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "init", cmd_init, "create a new log in a data directory (keys, admin token)" },
	{ "import", cmd_import, "append NDJSON events from standard input" },
	{ "verify", cmd_verify, "recompute and check everything in a data or tiles directory" },
	{ "verify-bundle", cmd_verify_bundle,
	  "check an export bundle offline with the verifier key" },
	{ "restore", cmd_restore, "rebuild a data directory from its object store bucket" },
	{ "reindex", cmd_reindex, "rebuild the query index from the journal (server stopped)" },
	{ "cluster", cmd_cluster, "move a single-node log into a new cluster database (adopt)" },
	{ "migrate", cmd_migrate, "convert a data directory made before sealed segments" },
	{ "serve", cmd_serve, "run the HTTP(S) server" },
	{ "token", cmd_token, "create, list or revoke tokens on a running server" },
	{ "keys", cmd_keys, "encryption keys: status, rotate (data key, master key)" },
	{ "retention", cmd_retention,
	  "run a retention pass (archive, purge); place or release legal holds" },
	{ "send", cmd_send, "send NDJSON events from standard input to a running server" },
	{ "query", cmd_query, "search a running server's events" },
	{ "export", cmd_export, "download a verifiable bundle (or CSV/ECS/OCSF) from a server" },
	{ "witness", cmd_witness, "run a C2SP tlog-witness that cosigns other logs' checkpoints" },
	{ "monitor", cmd_monitor, "watch a log: signatures, cosignatures, consistency, stalls" },
	{ "version", cmd_version, "print the version" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int cli_die(const char *cmd, const char *msg)
{
	fprintf(stderr, "logseal %s: %s\n", cmd, msg);
	return 1;
}

/* The names in a column of 9, or followed by two blanks when longer. */
static void usage(FILE *f)
{
	fputs("usage: logseal <command> [options]\n\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t n = strlen(commands[i].name);

		fprintf(f, "  %s%*s%s\n", commands[i].name, n < 9 ? (int)(9 - n) : 2, "",
			commands[i].help);
	}
	fputs("\n`logseal <command> --help` describes each command's options.\n", f);
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version"))
		cmd = "version";
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "logseal: unknown command \"%s\"\n\n", cmd);
	usage(stderr);
	return 2;
}
