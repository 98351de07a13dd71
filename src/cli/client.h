/*
 * client.h - what the command-line clients of a running server share
 * (`logseal send`, `logseal query`, `logseal export`: cmd_send.c,
 * cmd_query.c, cmd_export.c; client.c says what they keep true): a growing
 * string, the connection options and the event filters as flags, and a
 * request retried while the server says it may be.  Server and token come
 * from flags or LOGSEAL_URL / LOGSEAL_TOKEN.
 */
#ifndef LS_CLIENT_H
#define LS_CLIENT_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/ls.h"
#include "cli/httpc.h"

#define LINE_MAX_BYTES (1u << 20)	/* an event is at most 64 KiB stored */
#define BATCH_MAX_BYTES (8u << 20)	/* half the server's default --max-body */
#define BATCH_DEFAULT 500
#define RETRIES_DEFAULT 10	/* send: ~100-120 s in all, past a database failover */
#define QUERY_REPLY_MAX (96u << 20)	/* 1000 entries of 64 KiB, as JSON */
#define SEND_REPLY_MAX (4u << 20)
#define RUN_ID_HEX 32
#define CONNECT_TRIES 3		/* attempts while the connection is refused (0.3 s, 0.6 s apart) */

/* A NUL-terminated string that grows; 0 on success, -1 out of memory. */
struct sbuf {
	char *p;
	size_t n, cap;
};

int sb_add(struct sbuf *b, const void *d, size_t n);
int sb_str(struct sbuf *b, const char *s);
void sb_free(struct sbuf *b);

void sleep_ms(unsigned ms);
/* The monotonic clock in seconds. */
double now_s(void);
/* "unknown option or missing value" for getopt's last argument. */
void bad_option(const char *cmd, int argc, char **argv);

#define CONN_HELP \
	"  --server URL       the server (default $LOGSEAL_URL, else " HTTPC_DEFAULT_URL ")\n" \
	"  --token-file FILE  the bearer token (default $LOGSEAL_TOKEN)\n" \
	"  --cacert FILE      CA certificate to verify an https server\n"

enum { O_SERVER = 0x200, O_TOKEN_FILE, O_CACERT, O_HELP, O_FILTER = 0x300 };

#define CONN_OPTS \
	{ "server", required_argument, NULL, O_SERVER }, \
	{ "token-file", required_argument, NULL, O_TOKEN_FILE }, \
	{ "cacert", required_argument, NULL, O_CACERT }, \
	{ "help", no_argument, NULL, O_HELP }

/* Returns 1 when c was a connection option. */
int conn_opt(int c, struct httpc_cfg *cfg);

/* The filter flags (client.c's table): fv[NFILTERS] holds their values. */
#define NFILTERS 12

#define FILTER_HELP \
	"filters (all given must hold):\n" \
	"  --from T, --to T   event time in [T, T): RFC 3339, a date (2026-12-07, UTC),\n" \
	"                     or relative to now (24h, 7d, now-15m; units s m h d w)\n" \
	"  --received-from T, --received-to T   the server's receive time\n" \
	"  --actor ID  --action A (A.* for a prefix)  --outcome O\n" \
	"  --source-ip IP|CIDR  --service S  --resource-type T  --resource-id I\n" \
	"  --writer TOKEN-ID  (--service S* and --resource-id payments/* for prefixes)\n" \
	"  --not FIELD=VALUE  not equal (repeatable), e.g. --not actor=alice\n"

/* Appends the filter options (and --not) after the named ones of opts,
 * which has room for them and the zero entry that ends the table. */
void add_filter_opts(struct option *opts);
/* 1: c was a filter flag, stored in fv; -1: given twice (said); 0: not one. */
int filter_opt(const char *cmd, int c, const char **fv);
/* "&name=value" with value percent-encoded. */
int add_param(struct httpc *h, struct sbuf *q, const char *name, const char *value);
/* The given filters as query parameters. */
int add_filters(struct httpc *h, struct sbuf *q, const char **fv);
/* endpoint + "?" + params without their leading '&'. */
int make_path(struct sbuf *path, const char *endpoint, const struct sbuf *q);
/* A request repeated while httpc_retryable() says so, at most `tries` times
 * in all (client.c). */
ls_rc do_retry(struct httpc *h, const struct httpc_req *rq, struct httpc_resp *resp,
	       unsigned tries, const char *cmd, const char *what, struct ls_err *err);

#endif
