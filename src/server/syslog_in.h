/*
 * syslog_in.h - the syslog listeners of the server: RELP (relp.c) and RFC
 * 5425 syslog over TLS (syslog_tls.c).  This module (syslog_in.c) owns what
 * they share: the listening socket, a thread per connection, TLS (OpenSSL,
 * the server's own certificate and key), the writer token the listener
 * writes as, and the batch ingest that maps messages (core/formats/
 * syslog.h) and appends them through the same path as POST /v1/events
 * (api_events_post: validation, idempotency keys, service binding, the
 * durable append).
 *
 * Calling sequence: syslog_in_start() once the server's log, token store and
 * idempotency keys are open -> (connections served by their own threads) ->
 * syslog_in_stop() before the log is closed.
 *
 * Invariants:
 *  1. A message is acknowledged (RELP "rsp 200") only after the append that
 *     holds it returned, i.e. it is durable; a duplicate (same idempotency
 *     key) is acknowledged without a second append.
 *  2. A message the server cannot take for a reason of its own (log
 *     failed, disk full, busy, token revoked) is never acknowledged: the
 *     connection is closed and the sender resends it.
 *  3. A message that can never be taken (no mapping, invalid event) is
 *     refused explicitly: RELP answers "rsp 500" with the reason (syslog-TLS
 *     has no answer), and on both the refusal is recorded in the log as a
 *     logseal.ingest.rejected event (hash and excerpt of the input), before
 *     the answer, so nothing a shipper sent disappears without a trace.
 */
#ifndef LS_SYSLOG_IN_H
#define LS_SYSLOG_IN_H

#include <stddef.h>

#include "base/ls.h"
#include "core/formats/syslog.h"

struct server;
struct syslog_in;
struct sin_conn;

enum syslog_in_kind { SYSLOG_IN_RELP, SYSLOG_IN_OCTET };

struct syslog_in_opts {
	enum syslog_in_kind kind;
	const char *listen;		/* HOST:PORT or [V6]:PORT; port 0: any */
	const char *tls_cert;		/* PEM files; NULL: plain TCP */
	const char *tls_key;
	const char *token_file;		/* the writer token's secret (one line) */
	const struct syslog_map *map;
	unsigned max_conns;		/* 0: 256 */
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
};

ls_rc syslog_in_start(struct server *s, const struct syslog_in_opts *o, struct syslog_in **out,
		      struct ls_err *err);
/* The bound port. */
unsigned syslog_in_port(const struct syslog_in *l);
/* Stop accepting, end every connection (no acknowledgement is sent after
 * this), join the threads, free.  NULL: no-op. */
void syslog_in_stop(struct syslog_in *l);

/* ---- for relp.c and syslog_tls.c (the session loops) ---- */

/* Read up to cap bytes: > 0 bytes, 0 at the end of the stream, < 0 on an
 * error or when the listener stops. */
long sin_read(struct sin_conn *c, char *buf, size_t cap);
/* Write all n bytes: 0, or -1 when the connection broke. */
int sin_write(struct sin_conn *c, const char *p, size_t n);
/* The listener is stopping. */
int sin_stopping(const struct sin_conn *c);

struct sin_msg {
	const char *p;
	size_t n;
};

#define SIN_WHY_MAX 200

/*
 * Map and append msgs[0..n) as one batch.  ok[i] is 1 when message i is
 * durable (or a duplicate of a durable one), 0 when it was refused for
 * good, with why[i] saying why (and the refusal recorded).  Returns 0, or -1 when nothing may be acknowledged (invariant
 * 2; the reason went to the notice callback).
 */
int sin_ingest(struct sin_conn *c, const struct sin_msg *msgs, size_t n, int *ok,
	       char (*why)[SIN_WHY_MAX]);

/* The session loops (relp.c, syslog_tls.c). */
void relp_session(struct sin_conn *c);
void syslog_tls_session(struct sin_conn *c);

#endif
