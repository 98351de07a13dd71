/*
 * monitor.h - a monitor for auditors: follows a C2SP tlog-tiles log
 * (followers/tlogclient.h) and keeps the last checkpoint it verified in a
 * state file, so that a log rewritten, rolled back or forked after that
 * point is caught by the next poll, whoever holds the log's signing key.
 *
 * One poll (monitor_poll):
 *   1. fetch the checkpoint; the log key's signature must verify and every
 *      line of a configured witness too (core/cosig.h)       else BADSIG
 *   2. at least `quorum` configured witnesses cosigned it     else POLICY
 *   3. the hash tiles must give the checkpoint's root         else MISMATCH
 *   4. against the state: a smaller size                      ROLLBACK
 *      the same size with another root                        FORK
 *      a larger size: the consistency proof from the state's
 *      size, computed from the tiles, must verify             else FORK
 *   5. with entries: every entry after the state's size (all on the first
 *      poll) hashes to its level-0 tile hash                  else MISMATCH
 *   5a. each polled witness's latest cosigned checkpoint (GET <url>/<hex
 *      SHA-256 of origin>/checkpoint, c2sp.org/tlog-witness): log signature
 *      and a configured witness's cosignature must verify     else BADSIG
 *      its size must not pass the log's                       else ROLLBACK
 *      the log's tiles must give its root at its size         else FORK
 *      (a split view: the witness was shown another tree); a witness that
 *      cannot be reached or never cosigned is only noted
 *   6. no growth and no new checkpoint for stall_s seconds    STALL
 *   then the state is replaced (durably) with the new checkpoint.  After
 *   any finding but STALL the state keeps the last verified checkpoint.
 *
 * With no state file yet, the first poll trusts what it sees, unless the
 * auditor gives a checkpoint obtained another way (trust_note: from an
 * evidence bundle, a witness, a colleague's monitor): its log signature must
 * verify (else BADSIG), and the state starts from it, so the first poll
 * already judges 4 (rollback, fork) against it.  With a state file the pin
 * is ignored unless its origin differs (FORK).
 *
 * State file (JSON, one object):
 *   {"origin":..., "size":N, "root":"<b64>", "checkpoint":"<note>",
 *    "changed":<unix s of the last growth or new checkpoint>,
 *    "checked":<unix s of the last verified poll>}
 *
 * Findings are also the exit status of `logseal monitor` (monitor_event
 * values are those codes; monitor_event_name() their names in the JSON the
 * webhook receives).
 */
#ifndef LS_MONITOR_H
#define LS_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"
#include "core/cosig.h"
#include "core/note.h"

enum monitor_event {
	MON_OK = 0,
	MON_ERROR = 1,		/* could not fetch or read: nothing judged */
	MON_BADSIG = 3,		/* checkpoint signature or a cosignature does not verify */
	MON_ROLLBACK = 4,	/* the log is smaller than the state's checkpoint */
	MON_FORK = 5,		/* not an extension of the state's checkpoint */
	MON_STALL = 6,		/* no growth, no new checkpoint for stall_s */
	MON_MISMATCH = 7,	/* tiles or entries do not match the signed root */
	MON_POLICY = 8,		/* fewer than quorum witnesses cosigned */
};
const char *monitor_event_name(int ev);

struct monitor_opts {
	const char *log;		/* URL prefix or directory of the tiles */
	const char *token;		/* bearer token, or NULL */
	const struct note_verifier *logkeys;
	size_t nlogkeys;
	const struct cosig_verifier *witnesses;
	size_t nwitnesses;
	size_t quorum;			/* witnesses needed (0: none) */
	const char *state;		/* state file path */
	int entries;			/* check every new entry */
	uint64_t stall_s;		/* 0: no stall finding */
	const char *const *poll_witnesses;	/* witnesses' monitoring URL prefixes */
	size_t npoll;
	const char *trust_note;		/* a signed checkpoint to start from, or NULL */
	size_t trust_len;
};

struct monitor_result {
	int event;
	char detail[1024];
	char origin[NOTE_MAX_NAME];
	int had_state;
	int trusted;			/* the state was seeded from trust_note */
	uint64_t state_size;
	uint8_t state_root[LS_HASH_LEN];
	uint64_t size;			/* the fetched checkpoint's (0 when none) */
	uint8_t root[LS_HASH_LEN];
	size_t cosigned;		/* distinct witnesses that cosigned */
	uint64_t entries_checked;
	char *checkpoint;		/* the fetched note (malloc'd), the evidence */
};
void monitor_result_release(struct monitor_result *r);

/* One poll at time now (unix seconds).  Returns LS_OK when the poll ran
 * (its finding in r->event, MON_OK or not); r is filled in every case. */
ls_rc monitor_poll(const struct monitor_opts *o, uint64_t now, struct monitor_result *r);

/* The webhook body for a result: a JSON object (malloc'd string):
 * {"event":<name>,"code":<n>,"log":...,"origin":...,"detail":...,
 *  "state_size":N,"state_root":...,"size":N,"root":...,"cosigned":N,
 *  "time":unix,"checkpoint":<note or null>} */
char *monitor_json(const struct monitor_opts *o, const struct monitor_result *r, uint64_t now);

/* POST body to url (Content-Type application/json); with a secret, the
 * X-Logseal-Timestamp and X-Logseal-Signature: sha256=<hex HMAC-SHA256(
 * secret, body)> headers of webhook.h.  LS_OK on a 2xx. */
ls_rc monitor_webhook(const char *url, const char *secret, const char *body, struct ls_err *err);

#endif
