/*
 * retention.h - retention policy, archive, purge and legal holds.
 *
 * Files (docs/FORMAT.md "Retention"):
 *	DIR/retention.json        the policy (written by the operator)
 *	DIR/archive/<016x>.seal   archived sealed segments, the files as they were
 *	DIR/archive/<016x>.seg.zst  archived journal segments (archives made
 *	                          before sealed segments; read, never written)
 *	DIR/archive/manifest.json what was archived and purged, with checksums
 *	DIR/holds.json            active legal holds
 *	DIR/journal/retained      the first leaf still kept (store_retained())
 *
 * The unit is the sealed segment (DIR/segments, store/check.h).  A pass
 * (retention_run) archives sealed segments from the retained point on,
 * oldest first, while each is due (its newest event is older than hot_days
 * of every service it holds), then purges archived segments whose newest
 * event is older than hot_days + archive_days of every service they hold
 * and that no legal hold matches.  Every archive and purge, and every hold
 * placed or released, is an event of service "logseal" in the log.
 *
 * Invariants:
 *  1. Only a prefix of the sealed segments is archived, each wholly covered
 *     by the latest signed checkpoint; the write-ahead log never.
 *  2. A segment leaves DIR/segments only after its copy, the archive event
 *     and the manifest entry naming it are durable; archived content is
 *     deleted only after the purge event and the manifest marking it purged
 *     are durable (a crash leaves a file too many, never a purge nobody
 *     recorded).
 *  3. Leaf hashes (tiles) and checkpoints are never touched: proofs of
 *     purged entries still verify.
 *  4. One pass at a time per process (a mutex); the log's journal lock keeps
 *     other processes out (an offline run opens the log).
 */
#ifndef LS_RETENTION_H
#define LS_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/log.h"
#include "base/ls.h"

#define RETENTION_MAX_DAYS 36500
#define RETENTION_MAX_SERVICES 1024
#define RETENTION_MAX_HOLDS 1024

struct retention_rule {
	char *service;		/* NULL for the default */
	int64_t hot_days;	/* >= 0 */
	int64_t archive_days;	/* >= 0 */
	int purge_never;	/* "purge": "never": archived, never purged */
};

struct retention_policy {
	struct retention_rule def;
	struct retention_rule *svc;
	size_t nsvc;
};

/* Parse and validate retention.json text.  LS_INVALID names the field. */
ls_rc retention_policy_parse(const char *text, size_t n, struct retention_policy *out,
			     struct ls_err *err);
/* DIR/retention.json; LS_NOTFOUND when there is none (no pass runs). */
ls_rc retention_policy_load(const char *datadir, struct retention_policy *out,
			    struct ls_err *err);
void retention_policy_release(struct retention_policy *p);
const struct retention_rule *retention_rule_for(const struct retention_policy *p,
						const char *service);

/* What a pass knows about one segment. */
struct retention_seg {
	uint64_t first, last;		/* leaf index range, inclusive */
	int64_t oldest_us, newest_us;	/* by "received" */
	char **services;		/* distinct, sorted */
	size_t nservices;
	char **actors;			/* hex HMAC of actor ids (never plaintext) */
	size_t nactors;
	int actors_truncated;		/* too many to list: any actor hold matches */
};

/* 1 when seg is due for the archive / for purge at now_us. */
int retention_archive_due(const struct retention_policy *p, const struct retention_seg *seg,
			  int64_t now_us);
int retention_purge_due(const struct retention_policy *p, const struct retention_seg *seg,
			int64_t now_us);

/* Legal holds: by service, by actor, or by a "received" time range. */
enum hold_kind { HOLD_SERVICE, HOLD_ACTOR, HOLD_TIME };
struct hold {
	char id[33];
	enum hold_kind kind;
	char *value;		/* service, or actor HMAC hex; NULL for HOLD_TIME */
	int64_t from_us, to_us;	/* HOLD_TIME, inclusive */
	int64_t placed_us;
	char *reason;		/* may be NULL */
};
struct holds {
	struct hold *v;
	size_t n;
};

/* Parse a POST body {"service":..} | {"actor":..} | {"from":..,"to":..}
 * (+ optional "reason") into h; actor_key hashes actor ids. */
ls_rc hold_parse(const char *body, size_t n, const uint8_t actor_key[32], struct hold *h,
		 struct ls_err *err);
void hold_release(struct hold *h);
ls_rc holds_load(const char *datadir, struct holds *out, struct ls_err *err);
void holds_free(struct holds *hs);
/* 1 when any hold in hs matches seg (it must not be purged). */
int holds_block(const struct holds *hs, const struct retention_seg *seg);

/* The key that hashes actor ids in the manifest and holds (derived from the
 * data keys; a fixed all-zero key when the directory is not encrypted). */
ls_rc retention_actor_key(const char *datadir, uint8_t key[32], struct ls_err *err);

/* Place a hold (from a POST body) / release one by id; each is durable in
 * DIR/holds.json and logged as logseal.hold.place / logseal.hold.release
 * by actor.  *json receives the hold as JSON text (malloc'd). */
ls_rc retention_hold_place(struct log *l, const char *body, size_t n, const char *actor,
			   int64_t now_us, char **json, struct ls_err *err);
ls_rc retention_hold_remove(struct log *l, const char *id, const char *actor, int64_t now_us,
			    struct ls_err *err);
/* retention_hold_remove() with why the hold is released (NULL: not said),
 * which the logseal.hold.release event keeps as "release_reason". */
ls_rc retention_hold_release_why(struct log *l, const char *id, const char *actor,
				 const char *why, int64_t now_us, struct ls_err *err);
/* All holds as a JSON array text (malloc'd). */
ls_rc retention_holds_json(const char *datadir, char **json, struct ls_err *err);

struct retention_report {
	unsigned archived;	/* segments archived by this pass */
	unsigned purged;	/* segments purged */
	unsigned held;		/* segments due for purge but held */
	int policy;		/* 0: no retention.json, nothing done */
};

/* What a pass at now_us would do, doing nothing (the dashboard's plan):
 * *out {"configured","now","retained_from","archive":[seg...],
 * "purge":[seg... with "segment","held_by":[hold ids]],"holds":[{"id",
 * "segments","entries"}: the archived content each hold keeps]}, a seg
 * {"first","last","entries","oldest","newest","services","due"}; archive
 * lists the due prefix and the next segment (not due), at most 20. */
ls_rc retention_plan(struct log *l, int64_t now_us, json_t **out, struct ls_err *err);

/* One pass at now_us (microseconds since the epoch). */
ls_rc retention_run(struct log *l, int64_t now_us, struct retention_report *rep,
		    struct ls_err *err);

/* The manifest's view for verify: entries in index order. */
struct retention_archived {
	uint64_t first, last;
	char segment[32];	/* "<016x>.seal" (before sealed segments "<016x>.seg") */
	char file[40];		/* under DIR/archive: "<016x>.seal" ("<016x>.seg.zst") */
	uint8_t sha256[32];	/* of that file */
	int sealed;		/* a sealed segment (else an old journal segment) */
	int purged;
	int remote;		/* "where": "s3": in the bucket (tier.h), not DIR/archive */
	uint64_t archive_event, purge_event;
};
ls_rc retention_manifest_list(const char *datadir, struct retention_archived **out, size_t *n,
			      struct ls_err *err);
/* The stored segment bytes of an archived (not purged) entry: the file's
 * SHA-256 checked against the manifest, then (an old journal segment)
 * decompressed; malloc'd. */
ls_rc retention_archive_read(const char *datadir, const struct retention_archived *a,
			     uint8_t **out, size_t *len, struct ls_err *err);

/* The server's background pass: at start, then every interval_ms (0: one
 * minute), at now_us(clock_ctx) (NULL: the real clock).  report (may be
 * NULL) is told of every pass that did something or failed; it runs in
 * the worker's thread.  Stop it before closing the log. */
struct retention_worker;
struct retention_worker_opts {
	unsigned interval_ms;
	int64_t (*now_us)(void *ctx);
	void *clock_ctx;
	void (*report)(void *ctx, ls_rc rc, const struct retention_report *rep,
		       const char *msg);
	void *report_ctx;
};
ls_rc retention_worker_start(struct log *l, const struct retention_worker_opts *o,
			     struct retention_worker **out, struct ls_err *err);
void retention_worker_stop(struct retention_worker *w);


#endif
