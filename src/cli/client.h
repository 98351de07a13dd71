/*
 * client.h - the command-line clients of a running server: `logseal send`
 * (NDJSON on stdin, batched, retried safely with idempotency ids),
 * `logseal query` (filters as flags; a table on a terminal, NDJSON when
 * piped) and `logseal export` (a bundle or CSV/ECS/OCSF to a file, with a
 * progress bar on a terminal).  Server and token come from flags or
 * LOGSEAL_URL / LOGSEAL_TOKEN.
 */
#ifndef LS_CLIENT_H
#define LS_CLIENT_H

int send_main(int argc, char **argv);
int query_main(int argc, char **argv);
int export_main(int argc, char **argv);

#endif
