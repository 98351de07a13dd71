/*
 * witnesses.h - the log side of C2SP tlog-witness: a thread that asks each
 * configured witness to cosign the log's new checkpoints, keeps the
 * cosignatures that verify, and publishes the cosigned checkpoint
 * (docs/WITNESS.md "Cosigning").
 *
 * For each new signed checkpoint of size L, at most once per interval per
 * witness, it POSTs <url>/add-checkpoint with "old <M>", the consistency
 * proof M -> L computed from the tiles, and the log's signed note (M: the
 * size the witness last cosigned for this log, 0 until known).  Replies:
 *   200  cosignature lines: each is verified with the witness's key
 *        (core/cosig.h) before it is kept; the verified lines go into
 *        DIR/cosigned/<L> (followers/cosigned.h) and, while L is still the
 *        latest, into DIR/log/checkpoint (log_publish_cosigned()).
 *   409  text/x.tlog.size: the witness is at W.  W <= L: M = W, retried at
 *        once.  W > L: the witness cosigned a larger tree than this log
 *        has: the data directory was rolled back (restored from an older
 *        copy).  State "rollback": no checkpoint is sent to any witness
 *        any more, /readyz is not ready, and the reason is said loudly.
 *   422  the witness holds a different tree (a fork): state "fork", an
 *        event logseal.witness.fork, that witness is not asked again.
 *   403/404  the witness does not know this log or its key: misconfigured.
 * Policy: k of n.  The quorum size Q is the k-th largest size the
 * witnesses cosigned; the policy is met when Q reaches the latest signed
 * size.  Unmet for longer than alert_s: an event logseal.witness.quorum_lost
 * (once per episode; logseal.witness.quorum_restored when met again).
 *
 * Never in the acknowledgement path: the thread reads checkpoints the log
 * already published and appends its few events like any other writer.
 *
 * Calling sequence: witnesses_start() (after log_open) -> ... ->
 * witnesses_stop() (before log_close).  The status calls may come from any
 * thread.
 */
#ifndef LS_FOLLOWERS_WITNESSES_H
#define LS_FOLLOWERS_WITNESSES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/ls.h"

struct log;
struct witnesses;

#define WITNESSES_MAX 16

struct witnesses_opts {
	const char *dir;		/* the data directory */
	struct log *log;
	const char *const *specs;	/* "URL=VKEY", nspecs of them */
	size_t nspecs;
	unsigned quorum;		/* k; 0: all of them */
	uint64_t interval_ms;		/* per witness, at most one request per interval; 0: 1000 */
	uint64_t alert_s;		/* policy unmet longer than this: quorum lost; 0: 300 */
	uint64_t timeout_ms;		/* per request; 0: 10000 */
	const char *cacert;		/* PEM CA file for https witnesses (TLS 1.2+
					 * always); NULL: the system's CA store */
	/* One line for the operator's log (from the thread). */
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
};

/* Check every spec (LS_INVALID naming the bad one), then start the
 * thread.  nspecs == 0: *out = NULL and LS_OK (nothing to do). */
ls_rc witnesses_start(const struct witnesses_opts *o, struct witnesses **out,
		      struct ls_err *err);
void witnesses_stop(struct witnesses *w);

/* Pure: split "URL=VKEY" at the last '=' that starts a valid vkey. */
ls_rc witnesses_parse_spec(const char *spec, char *url, size_t ucap, char *vkey, size_t vcap,
			   struct ls_err *err);

/* Pure: the k-th largest of sizes[0..n) (k in 1..n), the quorum size. */
uint64_t witnesses_quorum_size(const uint64_t *sizes, size_t n, unsigned k);

/* 1 when the log must not publish to witnesses (a rollback was seen);
 * why gets the reason.  NULL w: 0. */
int witnesses_refusing(struct witnesses *w, char *why, size_t cap);

/* The state for GET /v1/integrity: a new JSON object (NULL: no memory). */
json_t *witnesses_status(struct witnesses *w);

/* The Prometheus samples (with HELP and TYPE), malloc'd text. */
char *witnesses_metrics(struct witnesses *w);

#endif
