/*
 * retention_tier.c - retention with an object store (DIR/objstore.json):
 * the archive step moves a sealed segment to the bucket only, and purge
 * deletes every version of its object, or is refused (a legal hold, the
 * Object Lock) with an event saying why.  Called by retention_archive.c.
 *
 * Archive of segment F (key segments/<016x F>.seal), in this order:
 *   1. the level-0 tiles it serves are written back (done by the caller);
 *   2. the object is confirmed in the bucket: HEAD gives the local size
 *      and an ETag equal to the MD5 of the local bytes.  Not there yet
 *      (the uploader is behind): PUT once (If-None-Match: *, COMPLIANCE
 *      lock of lock_days when the bucket has Object Lock), then HEAD;
 *   3. the archive event (where "s3", key, version id), the manifest entry
 *      (the same fields) and DIR/segments.remote, each durable;
 *   4. the local retained point, then the local file goes (the caller).
 * Purge of an archived-to-bucket segment, when the policy says it is due:
 *   - a legal hold (holds.json) that covers it, the object's retention
 *     date still ahead or an S3 legal hold (HEAD), or the store refusing
 *     the delete (LS_DENIED): refused; an event logseal.retention.purge_refused
 *     with the reason is logged once per reason (the manifest keeps the
 *     last one in "purge_refused"), and the next pass tries again;
 *   - else: the purge event, the manifest (purged, "deleted": false), the
 *     remote list, then objstore_delete_all(); "deleted" becomes true when
 *     every version is gone (a later pass retries a failed delete).
 * Tiles and checkpoints are never touched: proofs stay valid.
 */
#include "followers/retention_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "core/event.h"
#include "store/objstore.h"
#include "store/tier.h"

#define DEFAULT_LOCK_DAYS 365

ls_rc ret_tier_open(const char *dir, struct ret_tier *t, struct ls_err *err)
{
	struct tier_store_cfg cfg;
	ls_rc rc;

	memset(t, 0, sizeof(*t));
	rc = tier_store(dir, &t->os, &cfg, err);
	if (rc != LS_OK)
		return rc;
	t->lock_days = cfg.lock_days ? cfg.lock_days : DEFAULT_LOCK_DAYS;
	t->locking = -1;
	return LS_OK;
}

static void etag_strip(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in);

	if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
		in++;
		n -= 2;
	}
	snprintf(out, cap, "%.*s", (int)n, in);
}

/* HEAD key: LS_OK when it holds len bytes whose MD5 is md5 (*info set). */
static ls_rc confirm(struct objstore *os, const char *key, size_t len, const char *md5,
		     struct objstore_info *info, struct ls_err *err)
{
	char etag[80];
	ls_rc rc = objstore_head(os, key, info, err);

	if (rc != LS_OK)
		return rc;
	etag_strip(info->etag, etag, sizeof(etag));
	if (info->size != len || strcmp(etag, md5))
		return ls_err_set(err, LS_TAMPERED,
				  "object %s: %llu bytes, ETag %s in the bucket; the local segment "
				  "has %zu bytes, MD5 %s: not moved",
				  key, (unsigned long long)info->size, etag, len, md5);
	return LS_OK;
}

ls_rc ret_tier_put(struct ret_tier *t, const char *key, const char *path, const void *data,
		   size_t len, struct objstore_info *info, struct ls_err *err)
{
	struct objstore_put_opts po;
	char md5[33];
	ls_rc rc;

	tier_md5_hex(data, len, md5);
	rc = confirm(t->os, key, len, md5, info, err);
	if (rc != LS_NOTFOUND)
		return rc;
	/* Not up yet: write it once ourselves. */
	if (t->locking < 0) {
		int lock = 0;

		rc = objstore_ping(t->os, &lock, err);
		if (rc != LS_OK)
			return rc;
		t->locking = lock;
	}
	memset(&po, 0, sizeof(po));
	po.if_none_match = 1;
	if (t->locking)
		po.lock_until = (int64_t)time(NULL) + (int64_t)t->lock_days * 86400;
	rc = objstore_put_file(t->os, key, path, &po, err);
	if (rc != LS_OK && rc != LS_EXISTS)
		return rc;
	return confirm(t->os, key, len, md5, info, err);
}

/* The ids of the holds that cover s, comma-separated, into out. */
static int holds_covering(const struct holds *hs, const struct retention_seg *s, char *out,
			  size_t cap)
{
	size_t used = 0;
	int n = 0;

	out[0] = 0;
	for (size_t i = 0; i < hs->n; i++) {
		struct holds one = { &hs->v[i], 1 };

		if (!holds_block(&one, s))
			continue;
		used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s%s",
					 n ? "," : "", hs->v[i].id);
		if (used >= cap)
			used = cap - 1;
		n++;
	}
	return n;
}

/* A refusal: logged when its reason is new for e. */
static ls_rc refuse(struct log *l, json_t *manifest, json_t *e, const char *adir,
		    const struct retention_seg *s, const char *reason, int64_t now_us,
		    ls_rc (*save)(const char *, json_t *, struct ls_err *), struct ls_err *err)
{
	const char *last = json_string_value(json_object_get(e, "purge_refused"));
	json_t *details;
	ls_rc rc;

	if (last && !strcmp(last, reason))
		return LS_OK;
	details = json_pack("{s:s,s:I,s:I,s:s,s:s}", "segment",
			    json_string_value(json_object_get(e, "segment")) ?: "", "first",
			    (json_int_t)s->first, "last", (json_int_t)s->last, "key",
			    json_string_value(json_object_get(e, "key")) ?: "", "reason", reason);
	if (!details)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = ret_log_event(l, "logseal.retention.purge_refused", "logseal", details, now_us, NULL,
			   err);
	json_decref(details);
	if (rc != LS_OK)
		return rc;
	json_object_set_new(e, "purge_refused", json_string(reason));
	return save(adir, manifest, err);
}

ls_rc ret_tier_purge(struct ret_tier *t, struct log *l, json_t *manifest, json_t *e,
		     const char *adir, const struct retention_seg *s, const struct holds *hs,
		     json_t *policy, int64_t now_us, int *purged,
		     ls_rc (*save)(const char *, json_t *, struct ls_err *), struct ls_err *err)
{
	const char *dir = log_dir(l);
	const char *key = json_string_value(json_object_get(e, "key"));
	struct objstore_info info;
	char reason[600], ids[300], t0[40];
	uint64_t ev;
	json_t *details;
	ls_rc rc;

	*purged = 0;
	if (!key)
		return ls_err_set(err, LS_CORRUPT, "%s/manifest.json: an s3 entry without a key",
				  adir);
	if (holds_covering(hs, s, ids, sizeof(ids))) {
		snprintf(reason, sizeof(reason), "a legal hold covers it (hold %s)", ids);
		return refuse(l, manifest, e, adir, s, reason, now_us, save, err);
	}
	rc = objstore_head(t->os, key, &info, err);
	if (rc == LS_OK && info.legal_hold) {
		snprintf(reason, sizeof(reason), "the object store has a legal hold on %s", key);
		return refuse(l, manifest, e, adir, s, reason, now_us, save, err);
	}
	if (rc == LS_OK && info.lock_mode[0] && info.lock_until > (int64_t)time(NULL)) {
		event_format_time((int64_t)info.lock_until * 1000000, t0, sizeof(t0));
		snprintf(reason, sizeof(reason), "Object Lock (%s) keeps %s until %s",
			 info.lock_mode, key, t0);
		return refuse(l, manifest, e, adir, s, reason, now_us, save, err);
	}
	if (rc != LS_OK && rc != LS_NOTFOUND)
		return rc;

	details = json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:o}", "segment",
			    json_string_value(json_object_get(e, "segment")) ?: "", "first",
			    (json_int_t)s->first, "last", (json_int_t)s->last, "archive_event",
			    json_integer_value(json_object_get(e, "archive_event")), "where", "s3",
			    "key", key, "policy", policy);
	if (!details)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = ret_log_event(l, "logseal.retention.purge", "logseal", details, now_us, &ev, err);
	json_decref(details);
	if (rc != LS_OK)
		return rc;
	event_format_time(now_us, t0, sizeof(t0));
	json_object_set_new(e, "purged", json_true());
	json_object_set_new(e, "purged_at", json_string(t0));
	json_object_set_new(e, "purge_event", json_integer((json_int_t)ev));
	json_object_set_new(e, "deleted", json_false());
	json_object_del(e, "purge_refused");
	rc = save(adir, manifest, err);
	if (rc == LS_OK)
		rc = tier_remote_remove(dir, s->first, err);
	if (rc != LS_OK)
		return rc;
	*purged = 1;
	return ret_tier_delete(t, l, manifest, e, adir, now_us, save, err);
}

ls_rc ret_tier_delete(struct ret_tier *t, struct log *l, json_t *manifest, json_t *e,
		      const char *adir, int64_t now_us,
		      ls_rc (*save)(const char *, json_t *, struct ls_err *), struct ls_err *err)
{
	const char *key = json_string_value(json_object_get(e, "key"));
	struct ls_err e2 = { 0 };
	ls_rc rc;

	(void)l;
	(void)now_us;
	if (!key)
		return LS_OK;
	rc = objstore_delete_all(t->os, key, &e2);
	if (rc == LS_NOTFOUND)
		rc = LS_OK;
	if (rc != LS_OK) {
		/* Recorded as purged, not yet gone: the next pass retries. */
		json_object_set_new(e, "delete_error", json_string(e2.msg));
		return save(adir, manifest, err);
	}
	json_object_set_new(e, "deleted", json_true());
	json_object_del(e, "delete_error");
	return save(adir, manifest, err);
}
