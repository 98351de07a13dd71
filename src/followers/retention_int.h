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

#endif
