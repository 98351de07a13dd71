/*
 * retention_int.h - private to the retention module (retention.c,
 * retention_holds.c, retention_archive.c, retention_worker.c): the limits
 * and the functions one file defines for another.  Not part of the API;
 * see retention.h for that.
 */
#ifndef LS_RETENTION_INT_H
#define LS_RETENTION_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "followers/retention.h"

#define POLICY_MAX (1 << 20)
#define MANIFEST_MAX (64 << 20)
#define HOLDS_MAX (4 << 20)
#define SEGFILE_MAX (1ull << 32)
#define MAX_ACTORS 4096
#define DAY_US (86400LL * 1000000LL)
#define ACTOR_LABEL "logseal retention actor v1"

/* retention.c: serialises the read-modify-write of holds.json and the
 * manifest (placing/removing holds, a retention pass). */
extern pthread_mutex_t retention_mu;

/* retention.c: appends a retention event (action by actor) to the log. */
ls_rc ret_log_event(struct log *l, const char *action, const char *actor, json_t *details,
		    int64_t now_us, uint64_t *index, struct ls_err *err);

/* retention_holds.c: the actor pseudonym (HMAC under the actor key), a hold
 * and the list of holds as stored in holds.json, saving holds.json, and
 * whether a name is in a list of names. */
void ret_actor_hash(const uint8_t key[32], const char *actor, char out[65]);
json_t *ret_hold_to_json(const struct hold *h);
json_t *ret_holds_to_json(const struct holds *hs);
ls_rc ret_holds_save(const char *datadir, const struct holds *hs, struct ls_err *err);
int ret_list_has(char *const *v, size_t n, const char *s);

/* retention_tier.c: the object store as the archive (DIR/objstore.json). */
struct objstore;
struct objstore_info;
struct ret_tier {
	struct objstore *os;	/* the directory's client (tier.h), kept */
	uint64_t lock_days;	/* for a segment retention puts itself */
	int locking;		/* the bucket has Object Lock: 1, 0, -1 not asked */
};
/* LS_NOTFOUND when the directory has no object store. */
ls_rc ret_tier_open(const char *dir, struct ret_tier *t, struct ls_err *err);
/* Confirm segment file path (data, len) as key in the bucket, putting it
 * once when it is not there; *info its HEAD. */
ls_rc ret_tier_put(struct ret_tier *t, const char *key, const char *path, const void *data,
		   size_t len, struct objstore_info *info, struct ls_err *err);
/* Purge manifest entry e (where "s3") of segment s, or refuse it (*purged
 * 0) with an event; policy (stolen) goes into the purge event. */
ls_rc ret_tier_purge(struct ret_tier *t, struct log *l, json_t *manifest, json_t *e,
		     const char *adir, const struct retention_seg *s, const struct holds *hs,
		     json_t *policy, int64_t now_us, int *purged,
		     ls_rc (*save)(const char *, json_t *, struct ls_err *), struct ls_err *err);
/* Delete every version of a purged entry's object (retried by later passes). */
ls_rc ret_tier_delete(struct ret_tier *t, struct log *l, json_t *manifest, json_t *e,
		      const char *adir, int64_t now_us,
		      ls_rc (*save)(const char *, json_t *, struct ls_err *), struct ls_err *err);

#endif
