/*
 * webhook.h - outgoing alert webhooks over libcurl: configuration parsing,
 * one signed POST, and a delivery queue drained by one background thread
 * with retries and exponential backoff.
 *
 * Wire format of one attempt (format "json"):
 *	POST <url>
 *	Content-Type: application/json
 *	X-Logseal-Timestamp: <unix seconds of this attempt>
 *	X-Logseal-Signature: sha256=<lower-case hex HMAC-SHA256(secret, body)>
 *	body: {"alert":<alert object>,"timestamp":<same unix seconds>}
 * The timestamp is inside the signed body, so a receiver that checks the
 * signature also gets an authenticated time to reject stale replays, and the
 * alert's "id" to drop duplicates (delivery is at least once).
 * Format "slack": body {"text":"..."} (Slack incoming-webhook compatible);
 * the two headers are sent too when a secret is configured.
 *
 * Invariants:
 *  1. Only http:// and https:// URLs are accepted and curl is restricted to
 *     those protocols; redirects are never followed (a 3xx is a failure).
 *  2. Every attempt has a connect and a total timeout; at most
 *     WEBHOOK_RESPONSE_MAX response bytes are read, the rest is dropped.
 *  3. Success is a 2xx status.  Anything else is retried after backoff_ms,
 *     2*backoff_ms, 4*backoff_ms ... (capped at max_backoff_ms) up to
 *     attempts attempts in all; the done callback is called exactly once per
 *     job with the final outcome (WEBHOOK_STOPPED for jobs cut short or never
 *     started because of webhook_queue_stop()).
 *  4. The queue is bounded: push returns LS_BUSY when full, never blocks.
 *  5. Secrets are wiped when a configuration is released.
 */
#ifndef LS_WEBHOOK_H
#define LS_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ls.h"

#define WEBHOOK_NAME_MAX 64
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MAX 1024
#define WEBHOOK_RESPONSE_MAX 65536
#define WEBHOOK_TIMEOUT_DEFAULT_MS 5000
#define WEBHOOK_TIMEOUT_MAX_MS 60000

enum webhook_format { WEBHOOK_FORMAT_JSON, WEBHOOK_FORMAT_SLACK };

struct webhook_cfg {
	char name[WEBHOOK_NAME_MAX + 1];
	char url[WEBHOOK_URL_MAX + 1];
	char *secret;		/* malloc'd, may be NULL (slack only) */
	size_t secret_len;
	enum webhook_format format;
	unsigned timeout_ms;
};

/* Parse {"name","url","secret","format","timeout_ms"}; LS_INVALID with a
 * message naming the field.  name: [A-Za-z0-9_.-]{1,64}; secret required
 * for format "json" (1..1024 bytes). */
ls_rc webhook_cfg_parse(const json_t *o, struct webhook_cfg *out, struct ls_err *err);
/* The configuration as JSON; with_secret 0 replaces the secret by "set". */
json_t *webhook_cfg_json(const struct webhook_cfg *w, int with_secret);
ls_rc webhook_cfg_copy(const struct webhook_cfg *src, struct webhook_cfg *dst);
void webhook_cfg_release(struct webhook_cfg *w);

/* Lower-case hex HMAC-SHA256(secret, body) into out (65 bytes). */
void webhook_sign(const struct webhook_cfg *w, const char *body, size_t n, char out[65]);

/* The body of one attempt (malloc'd, NUL-terminated).  alert is the alert
 * object, text the one-line summary used by the slack format. */
char *webhook_body(const struct webhook_cfg *w, const json_t *alert, const char *text, int64_t ts);

/* One attempt, synchronously.  LS_OK on 2xx; otherwise LS_IO with the curl
 * error or the HTTP status in err.  *status gets the HTTP status (0 when no
 * response). */
ls_rc webhook_post(const struct webhook_cfg *w, const char *body, size_t n, int64_t ts,
		   long *status, struct ls_err *err);

/* ------------------------------------------------------------ queue */

/* outcome of a job: delivered, failed after every attempt, or left undone
 * because the queue stopped (the caller may deliver it again later) */
enum webhook_outcome { WEBHOOK_DELIVERED, WEBHOOK_FAILED, WEBHOOK_STOPPED };
typedef void (*webhook_done_fn)(void *ctx, const char *job_id, const char *webhook,
				enum webhook_outcome outcome, unsigned attempts,
				const char *last_error);
/* Called after every failed attempt that will be retried (for counters). */
typedef void (*webhook_retry_fn)(void *ctx, const char *job_id, const char *webhook,
				 unsigned attempts, const char *error);

struct webhook_queue_opts {
	unsigned max_jobs;	  /* 0: 1024 */
	unsigned attempts;	  /* 0: 6 */
	unsigned backoff_ms;	  /* first retry delay; 0: 500 */
	unsigned max_backoff_ms;  /* 0: 60000 */
	webhook_done_fn done;
	webhook_retry_fn retry;
	void *ctx;
};

struct webhook_queue;

ls_rc webhook_queue_start(const struct webhook_queue_opts *o, struct webhook_queue **out,
			  struct ls_err *err);
/* Queue a delivery of alert (copied) to w (copied).  LS_BUSY when full. */
ls_rc webhook_queue_push(struct webhook_queue *q, const struct webhook_cfg *w, const char *job_id,
			 const json_t *alert, const char *text);
/* Wait until no job is queued or in flight: LS_OK, or LS_BUSY on timeout. */
ls_rc webhook_queue_idle(struct webhook_queue *q, unsigned timeout_ms);
/* Stop the thread (an attempt in flight finishes or times out; jobs still
 * queued are reported WEBHOOK_STOPPED) and free.  NULL is a no-op. */
void webhook_queue_stop(struct webhook_queue *q);

#endif
