/*
 * httpc.h - the HTTP client side shared by the command-line clients of a
 * running server (`logseal token`, `send`, `query`, `export`): where the
 * server is, which token to send, one request with libcurl, the JSON error
 * of a refused request, and the retry policy.
 *
 * Calling sequence:
 *	httpc_open() -> httpc_do() ... -> httpc_close()
 * httpc_open() calls curl_global_init() and httpc_close() the matching
 * curl_global_cleanup(), so a process opens one httpc at a time.
 *
 * Invariants:
 *  1. The bearer token lives only in h->auth (and libcurl's copy of the
 *     header list); httpc_close() wipes it, and every reply body is wiped
 *     before it is freed (a token create reply holds a new secret).
 *  2. Every reply body held in memory has a cap (httpc_req.reply_cap, and
 *     HTTPC_ERROR_CAP for the body of a non-2xx reply).
 *  3. A streamed 2xx body goes to the sink and nowhere else; the body of
 *     a non-2xx reply never reaches the sink.
 *
 * Errors are returned (ls_rc + struct ls_err), never printed: the command
 * decides what to say.
 */
#ifndef LS_HTTPC_H
#define LS_HTTPC_H

#include <curl/curl.h>
#include <stddef.h>

#include "base/ls.h"

#define HTTPC_DEFAULT_URL "http://127.0.0.1:8080"
#define HTTPC_TOKEN_CAP 512		/* longest bearer token accepted */
#define HTTPC_ERROR_CAP (64u << 10)	/* body kept of a non-2xx reply */

struct httpc {
	CURL *curl;
	char base[1024];	/* server URL, no trailing slash */
	char auth[HTTPC_TOKEN_CAP + 32];
	const char *cacert;
	char errbuf[CURL_ERROR_SIZE];
};

/* Where the server is: server, else $LOGSEAL_URL, else HTTPC_DEFAULT_URL.
 * Where the token is: token_file, else DIR/admin.token when data_dir is
 * given, else $LOGSEAL_TOKEN.  need_token = 0 allows no token at all. */
struct httpc_cfg {
	const char *server;
	const char *token_file;
	const char *data_dir;
	const char *cacert;
	int need_token;
};

ls_rc httpc_open(struct httpc *h, const struct httpc_cfg *cfg, struct ls_err *err);
void httpc_close(struct httpc *h);

/* Receives a 2xx body piece by piece; returns 0 to go on, non-zero to abort. */
typedef int (*httpc_sink_fn)(const char *p, size_t n, void *ctx);
/* Called now and then during a transfer (also while nothing arrives). */
typedef void (*httpc_tick_fn)(void *ctx);

struct httpc_req {
	const char *method;		/* "GET", "POST", "DELETE" */
	const char *path;		/* "/v1/events?..." (already escaped) */
	const char *content_type;	/* of the body, or NULL */
	const char *body;		/* or NULL */
	size_t body_len;
	size_t reply_cap;		/* cap of a 2xx body kept in memory */
	httpc_sink_fn sink;		/* NULL: keep the 2xx body in resp->body */
	httpc_tick_fn tick;
	void *ctx;			/* for sink and tick */
};

struct httpc_resp {
	long status;		/* 0 when no HTTP reply arrived */
	long retry_after;	/* seconds from Retry-After, or -1 */
	char *body;		/* NUL-terminated, or NULL */
	size_t len;
	CURLcode cc;		/* the transfer's result */
	size_t sunk;		/* bytes handed to the sink */
	int sink_failed;	/* the sink asked to stop */
};

/*
 * One request.  LS_OK when a complete HTTP reply arrived, whatever its
 * status; LS_IO when the transfer failed (resp->cc says how; err the
 * detail); LS_LIMIT when a kept body went over its cap.  resp is always
 * filled enough for httpc_resp_free().
 */
ls_rc httpc_do(struct httpc *h, const struct httpc_req *rq, struct httpc_resp *resp,
	       struct ls_err *err);
void httpc_resp_free(struct httpc_resp *resp);

/* The server's {"error":{"code","message"}} of a reply, or a summary of a
 * reply that is not one, as "HTTP 400 invalid_event: event 3: ..." into out.
 * *position is set to error.position when the reply has one, else -1. */
void httpc_error_text(const struct httpc_resp *resp, char *out, size_t cap, long *position);

/* Whether a failed attempt may be repeated: transport errors that can
 * happen to any request (no connection, reply cut or missing, time-out)
 * and the statuses 429 and 5xx. */
int httpc_retryable(ls_rc rc, const struct httpc_resp *resp);

/* How long to wait before attempt number attempt + 1 (attempt >= 1):
 * exponential from 500 ms, doubled per attempt, at most 30 s, with
 * +-20 % jitter; at least the server's Retry-After, itself capped at 60 s. */
unsigned httpc_backoff_ms(unsigned attempt, long retry_after);

/* Escape one query-string value (malloc'd, free with curl_free()). */
char *httpc_escape(struct httpc *h, const char *value);

#endif
