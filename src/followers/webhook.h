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
 *  6. No request leaves for an address the target policy refuses: loopback,
 *     link-local, private, shared (CGNAT), unspecified, multicast and
 *     reserved ranges, also in their IPv4-mapped and IPv4-embedding IPv6
 *     forms, unless the operator's allow list names them.  The check is on
 *     the socket address curl is about to connect to (its open-socket
 *     callback), after resolution, so a name that resolves differently at
 *     delivery (DNS rebinding) is refused too; proxies from the environment
 *     are not used (a proxy would resolve the name itself).
 *  7. What a failed attempt tells its reader does not depend on how the
 *     connection failed: "delivery failed" (with the HTTP status only when a
 *     response arrived), and an attempt without a response lasts its whole
 *     timeout, so neither the text nor the timing tells a closed port from
 *     a filtered one.
 */
#ifndef LS_WEBHOOK_H
#define LS_WEBHOOK_H

#include <jansson.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdint.h>

#include "base/ls.h"

#define WEBHOOK_NAME_MAX 64
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MAX 1024
#define WEBHOOK_RESPONSE_MAX 65536
#define WEBHOOK_TIMEOUT_DEFAULT_MS 5000
#define WEBHOOK_TIMEOUT_MAX_MS 60000

#define WEBHOOK_ALLOW_MAX 32	/* networks in an allow list */

enum webhook_format { WEBHOOK_FORMAT_JSON, WEBHOOK_FORMAT_SLACK };

/* ------------------------------------------------------------ targets */

/* What an address is, for the target policy (invariant 6).  Everything but
 * WEBHOOK_ADDR_PUBLIC is refused unless allowed. */
enum webhook_addr_class {
	WEBHOOK_ADDR_PUBLIC = 0,
	WEBHOOK_ADDR_LOOPBACK,	  /* 127/8, ::1 */
	WEBHOOK_ADDR_LINK_LOCAL,  /* 169.254/16 (cloud metadata), fe80::/10 */
	WEBHOOK_ADDR_PRIVATE,	  /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10 */
	WEBHOOK_ADDR_SHARED,	  /* 100.64/10 (carrier-grade NAT) */
	WEBHOOK_ADDR_UNSPECIFIED, /* 0/8, :: */
	WEBHOOK_ADDR_MULTICAST,	  /* 224/4, ff00::/8 */
	WEBHOOK_ADDR_RESERVED,	  /* 240/4 (and broadcast), 192.0.0/24, 198.18/15,
				   * ::/96 (IPv4-compatible), 100::/64 */
};

/* An IPv6 address, IPv4 as ::ffff:a.b.c.d, so one table and one allow list
 * serve both families. */
struct webhook_net {
	uint8_t addr[16];
	unsigned bits;	/* prefix length in the 128-bit form */
};

/* The operator's allow list (serve --webhook-allow-private). */
struct webhook_policy {
	size_t n;
	struct webhook_net nets[WEBHOOK_ALLOW_MAX];
};

/* 16-byte form of a socket address (AF_INET mapped); 0 for other families. */
int webhook_addr16(const struct sockaddr *sa, socklen_t len, uint8_t out[16]);
/* The class of a 16-byte address.  IPv4-mapped (::ffff:0:0/96), NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16) addresses are the class of the IPv4
 * address they carry. */
enum webhook_addr_class webhook_addr_classify(const uint8_t a[16]);
const char *webhook_addr_class_name(enum webhook_addr_class c);
/* Whether p lets a request go to a (public, or inside an allowed network).
 * p may be NULL (nothing allowed beyond public addresses). */
int webhook_addr_allowed(const struct webhook_policy *p, const uint8_t a[16]);

/* Parse "CIDR,CIDR,..." (an address alone is a host: /32 or /128) into p.
 * NULL or "" is the empty list.  LS_INVALID naming the bad item. */
ls_rc webhook_policy_parse(const char *spec, struct webhook_policy *p, struct ls_err *err);

/* Resolve the URL's host (getaddrinfo) and check every address it has:
 * LS_OK when all are allowed; LS_DENIED naming the first refused address's
 * class; LS_NOTFOUND when the name does not resolve; LS_INVALID for a URL
 * without a host.  For configuration time: delivery checks again. */
ls_rc webhook_target_check(const char *url, const struct webhook_policy *p, struct ls_err *err);

/* The URL for display: user information replaced by "***", every query
 * value by "***" (names kept), a fragment by "***".  Always NUL-terminated;
 * truncated URLs end in "...". */
void webhook_url_mask(const char *url, char *out, size_t cap);

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
/* The configuration as JSON; with_secret 0 replaces the secret by "set"
 * and masks the URL (webhook_url_mask): the form shown to clients. */
json_t *webhook_cfg_json(const struct webhook_cfg *w, int with_secret);

/* The form stored in alerts/webhooks.json.  key NULL: the configuration as
 * given, secret and URL in plaintext.  With a key (encryption at rest):
 * "url_sealed" and "secret_sealed" instead of "url" and "secret", each the
 * base64 of ls_aead_seal_blob() (nonce, ciphertext, tag) with associated
 * data "logseal.webhook.v1" NUL field NUL name, so a sealed value cannot be
 * moved to another webhook or field; "url_masked" is the masked URL, for
 * whoever reads the file (ignored when loading). */
json_t *webhook_cfg_stored(const struct webhook_cfg *w, const uint8_t *key);
/* Parse the stored form.  Sealed fields need key (LS_INVALID without one;
 * LS_TAMPERED when one does not open).  *plain (may be NULL) is set when
 * a secret or URL was in plaintext although a key was given: the file
 * predates sealing and should be written again. */
ls_rc webhook_cfg_load(const json_t *o, const uint8_t *key, struct webhook_cfg *out, int *plain,
		       struct ls_err *err);
ls_rc webhook_cfg_copy(const struct webhook_cfg *src, struct webhook_cfg *dst);
void webhook_cfg_release(struct webhook_cfg *w);

/* Lower-case hex HMAC-SHA256(secret, body) into out (65 bytes). */
void webhook_sign(const struct webhook_cfg *w, const char *body, size_t n, char out[65]);

/* The body of one attempt (malloc'd, NUL-terminated).  alert is the alert
 * object, text the one-line summary used by the slack format. */
char *webhook_body(const struct webhook_cfg *w, const json_t *alert, const char *text, int64_t ts);

/* One attempt, synchronously, to an address p allows (invariant 6).  LS_OK
 * on 2xx; otherwise LS_IO with "delivery failed" and, when a response
 * arrived, its HTTP status in err; LS_DENIED when every address the name
 * resolved to was refused by p.  *status gets the HTTP status (0 when no
 * response). */
ls_rc webhook_post(const struct webhook_cfg *w, const struct webhook_policy *p, const char *body,
		   size_t n, int64_t ts, long *status, struct ls_err *err);

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
	const struct webhook_policy *policy; /* borrowed, outlives the queue; NULL: none */
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
