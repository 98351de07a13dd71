/*
 * cli.h - the commands of the `logseal` tool, one function each, listed
 * once in main.c's command table (git's commands[]).  Each takes the
 * arguments after "logseal" (argv[0] is the command's name), prints on
 * stdout what it did and on stderr why it failed, and returns the process
 * exit status: 0 success, 1 failure, 2 usage.  None of this is in the
 * library: the commands call it.
 *
 *   cmd_init.c       init
 *   cmd_import.c     import
 *   cmd_verify.c     verify, verify-bundle
 *   cmd_reindex.c    reindex
 *   cmd_restore.c    restore
 *   cmd_migrate.c    migrate
 *   cmd_cluster.c    cluster adopt (store/cluster_adopt.h)
 *   cmd_serve.c      serve
 *   cmd_token.c      token
 *   cmd_keys.c       keys
 *   cmd_retention.c  retention
 *   cmd_send.c       send         (cmd_send/query/export share client.h)
 *   cmd_query.c      query
 *   cmd_export.c     export
 *   cmd_witness.c    witness      (server/witness.h)
 *   cmd_monitor.c    monitor      (followers/monitor.h)
 */
#ifndef LS_CLI_H
#define LS_CLI_H

int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_verify_bundle(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_retention(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_witness(int argc, char **argv);
int cmd_monitor(int argc, char **argv);

/* "logseal CMD: MSG" on stderr; returns 1. */
int cli_die(const char *cmd, const char *msg);

#endif
