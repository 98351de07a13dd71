/*
 * witness.h - a C2SP tlog-witness (c2sp.org/tlog-witness): the logs it
 * knows, its durable state per log, the add-checkpoint decision, evidence
 * of every refusal, and its HTTP front (witness_http_*).
 *
 * Witness directory WDIR:
 *   WDIR/witness.key          PRIVATE+KEY+<name>+<id>+base64(0x04 || seed), mode 0600
 *                             (core/cosig.h), made by witness_init()
 *   WDIR/witness.vkey         its verifier key, one line
 *   WDIR/state/<H>            the latest cosigned checkpoint of the log whose
 *                             origin hashes to H = hex(SHA-256(origin)): the
 *                             checkpoint text, the log's signature lines that
 *                             verified, and this witness's cosignature line --
 *                             exactly what GET /<H>/checkpoint serves.
 *                             Written write-ahead (temp, fsync, rename, fsync
 *                             dir) BEFORE the 200 reply, so an acknowledged
 *                             checkpoint survives SIGKILL and power loss, and
 *                             the witness never rolls back.
 *   WDIR/evidence/<ns>-<status>-<H8>.req
 *                             the request body of a refusal, verbatim, for a
 *                             log it knows (403, 409, 422, and 400 for a bad
 *                             old size); one line per refusal in
 *                             WDIR/evidence/refusals.log:
 *                             "<unix ns> <status> <origin> <file|-> <reason>".
 *                             Bodies of unknown logs and unparsable requests
 *                             are logged (file "-"), not kept: anyone can send
 *                             them.  At most WITNESS_MAX_EVIDENCE files.
 *
 * HTTP or HTTPS (one prefix for submission and monitoring):
 *   POST /add-checkpoint      tlog-witness; 200 text/plain cosignature line,
 *                             409 text/x.tlog.size, 400 403 404 422 text/plain;
 *                             429 with Retry-After past the client's rate
 *                             limit, 413 for a body over WITNESS_MAX_BODY
 *   GET  /<H>/checkpoint      the latest cosigned checkpoint (404 before one)
 *   GET  /healthz             "ok\n"
 *
 * Calling sequence: witness_open() -> witness_add_checkpoint()... (any
 * thread: one mutex makes check-and-persist atomic, as the spec requires)
 * -> witness_close().
 */
#ifndef LS_WITNESS_H
#define LS_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "core/cosig.h"
#include "core/note.h"

#define WITNESS_MAX_EVIDENCE 10000
#define WITNESS_MAX_BODY (NOTE_MAX_SIZE + 4096)

struct witness;

/* Make WDIR with a new witness key named name; refuses (LS_EXISTS) when
 * WDIR/witness.key exists.  vkey (cap bytes) gets the verifier key. */
ls_rc witness_init(const char *wdir, const char *name, char *vkey, size_t cap,
		   struct ls_err *err);

/* One configured log: its origin and a log verifier key ("ORIGIN=VKEY";
 * several keys for one origin: several entries). */
struct witness_log_cfg {
	char origin[NOTE_MAX_NAME];
	struct note_verifier key;
};
/* Parse "ORIGIN=VKEY" (the split is at the '=' after which a vkey parses). */
ls_rc witness_log_cfg_parse(const char *s, struct witness_log_cfg *c, struct ls_err *err);

/* Open WDIR (its key and states); logs are copied. */
ls_rc witness_open(const char *wdir, const struct witness_log_cfg *logs, size_t nlogs,
		   struct witness **out, struct ls_err *err);
void witness_close(struct witness *w);
void witness_vkey(const struct witness *w, char *out, size_t cap);

/* A reply: status, content type, body (malloc'd, caller frees). */
struct witness_reply {
	int status;
	const char *ctype;
	char *body;
	size_t len;
};

/* The add-checkpoint decision for one request body, at time now (unix s). */
void witness_add_checkpoint(struct witness *w, const char *body, size_t n, uint64_t now,
			    struct witness_reply *rep);
/* GET /<H>/checkpoint (hexhash: 64 lower-case hex digits). */
void witness_get_checkpoint(struct witness *w, const char *hexhash, struct witness_reply *rep);

/* The HTTP front on libmicrohttpd (witness_http.c). */
#define WITNESS_RATE 10.0		/* add-checkpoint a second per client */
#define WITNESS_BURST 20
#define WITNESS_MAX_CONNS 256
#define WITNESS_MAX_CONNS_PER_IP 32
#define WITNESS_TIMEOUT_S 30

struct witness_http_opts {
	const char *listen;		/* HOST:PORT or [V6]:PORT */
	const char *tls_cert;		/* PEM text; NULL: plain HTTP */
	const char *tls_key;
	double rate;			/* per client (IPv4 address, IPv6 /64); 0: no limit */
	unsigned burst;			/* >= 1 when rate > 0 */
	unsigned max_conns;		/* 0: WITNESS_MAX_CONNS */
	unsigned max_conns_per_ip;	/* 0: WITNESS_MAX_CONNS_PER_IP */
	unsigned timeout_s;		/* idle connection timeout; 0: WITNESS_TIMEOUT_S */
};

struct witness_http;
ls_rc witness_http_start(struct witness *w, const struct witness_http_opts *o,
			 struct witness_http **out, unsigned *port, struct ls_err *err);
/* Stop, and say on stderr how many requests were refused (429, 413). */
void witness_http_stop(struct witness_http *h);

#endif
