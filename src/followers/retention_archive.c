/*
 * retention_archive.c - summaries of sealed segments, the archive and the
 * purge: retention_run() moves sealed segments (DIR/segments/<016x>.seal,
 * read through store/check.h) into the archive and its manifest, purges
 * them when due, and retention_manifest_list() / retention_archive_read()
 * read them back.  The write-ahead log (DIR/journal) is never touched.
 *
 * The archive keeps the sealed segment file byte for byte (it is already
 * compressed, and encrypted in an encrypted directory), so an archived
 * segment is checked exactly like one in DIR/segments.  Archives made
 * before sealed segments hold journal segments, zstd-compressed
 * ("<016x>.seg.zst"); they are still read back and verified.  The archive
 * stays behind three functions (arc_put, arc_get, arc_delete) so that an
 * object-storage target can replace the directory later.
 *
 * A pass is crash-safe by ordering: copy (durable) -> archive event ->
 * manifest (durable) -> journal/retained (durable) -> unlink the segment.
 * A crash may leave an archived copy without a manifest entry (the next
 * pass overwrites it and logs the archive again) or a segment below
 * "retained" still in DIR/segments (it is removed by the next pass once
 * the manifest lists it).
 */
#include "followers/retention_int.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"
#include "store/check.h"
#include "store/reader.h"
#include "store/objstore.h"
#include "store/tier.h"

/* ------------------------------------------------------------- segments --- */

static void seg_free(struct retention_seg *s)
{
	for (size_t i = 0; i < s->nservices; i++)
		free(s->services[i]);
	for (size_t i = 0; i < s->nactors; i++)
		free(s->actors[i]);
	free(s->services);
	free(s->actors);
	memset(s, 0, sizeof(*s));
}

static int add_unique(char ***v, size_t *n, size_t max, const char *s)
{
	char **nv;

	if (ret_list_has(*v, *n, s))
		return 0;
	if (*n >= max)
		return 1;
	nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -1;
	(*n)++;
	return 0;
}

struct summary {
	struct retention_seg *s;
	const uint8_t *actor_key;
	uint64_t next;		/* the index expected next */
};

/* One entry into the summary: its time, service and actor. */
static ls_rc sum_entry(void *ctx, uint64_t idx, const uint8_t *data, size_t len)
{
	struct summary *c = ctx;
	struct retention_seg *s = c->s;
	json_t *o, *v;
	int64_t t;
	int k;

	if (idx != c->next)
		return LS_CORRUPT;
	c->next++;
	o = json_loadb((const char *)data, len, 0, NULL);
	/* "received" is the server's clock; an imported entry may only have
	 * its own "time".  An entry with neither has an unknown age: its
	 * segment is never due and matches every time hold. */
	v = json_object_get(o, "received");
	if (!json_is_string(v))
		v = json_object_get(o, "time");
	if (json_is_string(v) && event_parse_time(json_string_value(v), &t) == LS_OK) {
		if (t < s->oldest_us)
			s->oldest_us = t;
		if (t > s->newest_us)
			s->newest_us = t;
	} else {
		s->oldest_us = INT64_MIN / 2;
		s->newest_us = INT64_MAX / 2;
	}
	v = json_object_get(o, "service");
	k = json_is_string(v) ? add_unique(&s->services, &s->nservices, SIZE_MAX,
					   json_string_value(v))
			      : 0;
	v = json_object_get(json_object_get(o, "actor"), "id");
	if (k == 0 && json_is_string(v)) {
		char hex[65];

		ret_actor_hash(c->actor_key, json_string_value(v), hex);
		k = add_unique(&s->actors, &s->nactors, MAX_ACTORS, hex);
		if (k == 1) {
			s->actors_truncated = 1;
			k = 0;
		}
	}
	json_decref(o);
	return k < 0 ? LS_NOMEM : LS_OK;
}

/* Read the sealed segment g and summarise it. */
static ls_rc seg_summarise(const char *dir, const struct store_sealed *g,
			   const uint8_t actor_key[32], struct retention_seg *s, struct ls_err *err)
{
	struct summary c = { s, actor_key, g->first };
	char path[PATH_MAX];
	ls_rc rc;

	memset(s, 0, sizeof(*s));
	s->first = g->first;
	s->last = g->first + g->count - 1;
	s->oldest_us = INT64_MAX;
	s->newest_us = INT64_MIN;
	store_sealed_path(dir, g->first, path, sizeof(path));
	rc = store_sealed_each(dir, path, sum_entry, &c, err);
	if (rc == LS_NOMEM)
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	else if (rc == LS_CORRUPT && c.next < g->first + g->count)
		rc = ls_err_set(err, LS_CORRUPT, "%s: entries out of order at %llu", path,
				(unsigned long long)c.next);
	else if (rc == LS_OK && c.next != g->first + g->count)
		rc = ls_err_set(err, LS_CORRUPT, "%s: holds %llu entries, not %u", path,
				(unsigned long long)(c.next - g->first), g->count);
	if (rc == LS_OK && s->newest_us == INT64_MIN) {
		s->oldest_us = INT64_MIN / 2;
		s->newest_us = INT64_MAX / 2;
	}
	if (rc != LS_OK)
		seg_free(s);
	return rc;
}

/* -------------------------------------------------------------- archive --- */

/* The archive target: a directory today (DIR/archive); these three are
 * what an object store would implement. */
static ls_rc arc_put(const char *adir, const char *name, const void *data, size_t len,
		     struct ls_err *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", adir, name);
	return fs_write_file(path, data, len, 0600, 0, err);
}

static ls_rc arc_get(const char *adir, const char *name, char **data, size_t *len,
		     struct ls_err *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", adir, name);
	return fs_read_file(path, SEGFILE_MAX, data, len, err);
}

static ls_rc arc_delete(const char *adir, const char *name, struct ls_err *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", adir, name);
	if (unlink(path) != 0 && errno != ENOENT)
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	return fs_sync_dir(adir, err);
}

static ls_rc manifest_load(const char *adir, json_t **out, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	size_t len;
	json_error_t je;
	json_t *root;
	ls_rc rc;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/manifest.json", adir);
	rc = fs_read_file(path, MANIFEST_MAX, &text, &len, err);
	if (rc == LS_NOTFOUND) {
		root = json_pack("{s:i,s:[]}", "version", 1, "segments");
		if (!root)
			return ls_err_set(err, LS_NOMEM, "out of memory");
		*out = root;
		return LS_OK;
	}
	if (rc != LS_OK)
		return rc;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!json_is_array(json_object_get(root, "segments"))) {
		json_decref(root);
		return ls_err_set(err, LS_CORRUPT, "%s: not an archive manifest", path);
	}
	*out = root;
	return LS_OK;
}

static ls_rc manifest_save(const char *adir, json_t *root, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/manifest.json", adir);
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = fs_write_file(path, text, strlen(text), 0644, 0, err);
	free(text);
	return rc;
}

static json_t *strings_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void seg_from_json(json_t *e, struct retention_seg *s)
{
	json_t *a, *v;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->first = (uint64_t)json_integer_value(json_object_get(e, "first"));
	s->last = (uint64_t)json_integer_value(json_object_get(e, "last"));
	if (event_parse_time(json_string_value(json_object_get(e, "oldest")), &s->oldest_us) !=
	    LS_OK)
		s->oldest_us = INT64_MIN / 2;
	if (event_parse_time(json_string_value(json_object_get(e, "newest")), &s->newest_us) !=
	    LS_OK)
		s->newest_us = INT64_MAX / 2;
	a = json_object_get(e, "services");
	json_array_foreach(a, i, v)
		if (json_is_string(v) &&
		    add_unique(&s->services, &s->nservices, SIZE_MAX, json_string_value(v)) < 0)
			break;
	a = json_object_get(e, "actors");
	json_array_foreach(a, i, v)
		if (json_is_string(v) &&
		    add_unique(&s->actors, &s->nactors, SIZE_MAX, json_string_value(v)) < 0)
			break;
	/* On a short allocation, match every actor hold: keep, never purge. */
	s->actors_truncated = json_is_true(json_object_get(e, "actors_truncated")) ||
			      s->nactors < json_array_size(a);
}

static json_t *rule_json(const struct retention_policy *p, const struct retention_seg *s)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < (s->nservices ? s->nservices : 1); i++) {
		const char *svc = s->nservices ? s->services[i] : "default";
		const struct retention_rule *r = retention_rule_for(p, s->nservices ? svc : NULL);

		json_object_set_new(o, svc,
				    json_pack("{s:I,s:I}", "hot_days", (json_int_t)r->hot_days,
					      "archive_days", (json_int_t)r->archive_days));
	}
	return o;
}

static json_t *manifest_find(json_t *segs, uint64_t first)
{
	size_t i;
	json_t *e;

	json_array_foreach(segs, i, e)
		if ((uint64_t)json_integer_value(json_object_get(e, "first")) == first)
			return e;
	return NULL;
}

/* Archive the sealed segment of s: a byte-for-byte copy. */
static ls_rc archive_one(struct log *l, const struct retention_policy *p, json_t *manifest,
			 const char *dir, const char *jdir, const char *adir,
			 const struct retention_seg *s, struct ret_tier *tier, int64_t now_us,
			 struct ls_err *err)
{
	char name[32], path[PATH_MAX], hex[65], t[40], key[64];
	char *data = NULL;
	size_t len;
	uint8_t h[32];
	uint64_t ev;
	json_t *e = NULL, *details;
	struct objstore_info info;
	ls_rc rc;

	snprintf(name, sizeof(name), "%016llx.seal", (unsigned long long)s->first);
	store_sealed_path(dir, s->first, path, sizeof(path));
	/* The level-0 tiles it serves become files again first (harmless if
	 * the pass stops: files and segment then both hold them). */
	rc = store_sealed_keep_tiles(dir, s->first, err);
	if (rc == LS_OK)
		rc = fs_read_file(path, SEGFILE_MAX, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	ls_sha256(data, len, NULL, 0, h);
	ls_hex(h, 32, hex);
	snprintf(key, sizeof(key), "segments/%s", name);
	memset(&info, 0, sizeof(info));
	/* To the bucket only (retention_tier.c), or to DIR/archive. */
	rc = tier ? ret_tier_put(tier, key, path, data, len, &info, err)
		  : arc_put(adir, name, data, len, err);
	free(data);
	if (rc != LS_OK)
		return rc;

	details = json_pack("{s:s,s:I,s:I,s:s,s:o}", "segment", name, "first",
			    (json_int_t)s->first, "last", (json_int_t)s->last, "archive", name,
			    "policy", rule_json(p, s));
	if (!details)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	json_object_set_new(details, "sha256", json_string(hex));
	if (tier) {
		json_object_set_new(details, "where", json_string("s3"));
		json_object_set_new(details, "key", json_string(key));
		json_object_set_new(details, "version_id", json_string(info.version_id));
	}
	rc = ret_log_event(l, "logseal.retention.archive", "logseal", details, now_us, &ev, err);
	json_decref(details);
	if (rc != LS_OK)
		return rc;

	e = json_object();
	if (!e)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	json_object_set_new(e, "segment", json_string(name));
	json_object_set_new(e, "file", json_string(name));
	json_object_set_new(e, "first", json_integer((json_int_t)s->first));
	json_object_set_new(e, "last", json_integer((json_int_t)s->last));
	json_object_set_new(e, "sha256", json_string(hex));
	json_object_set_new(e, "segment_sha256", json_string(hex));
	json_object_set_new(e, "bytes", json_integer((json_int_t)len));
	event_format_time(s->oldest_us, t, sizeof(t));
	json_object_set_new(e, "oldest", json_string(t));
	event_format_time(s->newest_us, t, sizeof(t));
	json_object_set_new(e, "newest", json_string(t));
	json_object_set_new(e, "services", strings_json(s->services, s->nservices));
	json_object_set_new(e, "actors", strings_json(s->actors, s->nactors));
	json_object_set_new(e, "actors_truncated", json_boolean(s->actors_truncated));
	event_format_time(now_us, t, sizeof(t));
	json_object_set_new(e, "archived_at", json_string(t));
	json_object_set_new(e, "archive_event", json_integer((json_int_t)ev));
	json_object_set_new(e, "purged", json_false());
	if (tier) {
		char etag[80];
		size_t n = strlen(info.etag);

		if (n >= 2 && info.etag[0] == '"')
			snprintf(etag, sizeof(etag), "%.*s", (int)(n - 2), info.etag + 1);
		else
			snprintf(etag, sizeof(etag), "%s", info.etag);
		json_object_set_new(e, "where", json_string("s3"));
		json_object_set_new(e, "key", json_string(key));
		json_object_set_new(e, "version_id", json_string(info.version_id));
		json_object_set_new(e, "etag", json_string(etag));
	}
	json_array_append_new(json_object_get(manifest, "segments"), e);
	rc = manifest_save(adir, manifest, err);
	if (rc != LS_OK)
		return rc;
	if (tier) {
		/* Readers find it in the bucket from here on (tier.h). */
		struct tier_seg ts = { s->first, (uint32_t)(s->last - s->first + 1), len, { 0 } };

		memcpy(ts.sha256, h, 32);
		rc = tier_remote_add(dir, &ts, err);
		if (rc != LS_OK)
			return rc;
	}
	rc = store_set_retained(jdir, s->last + 1, err);
	if (rc != LS_OK)
		return rc;
	if (unlink(path) != 0)
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/" STORE_SEALED_DIR, dir);
	return fs_sync_dir(path, err);
}

static ls_rc purge_one(struct log *l, const struct retention_policy *p, json_t *manifest,
		       json_t *e, const char *adir, const struct retention_seg *s, int64_t now_us,
		       struct ls_err *err)
{
	const char *file = json_string_value(json_object_get(e, "file"));
	char t[40];
	uint64_t ev;
	json_t *details;
	ls_rc rc;

	details = json_pack("{s:s,s:I,s:I,s:I,s:o}", "segment",
			    json_string_value(json_object_get(e, "segment")), "first",
			    (json_int_t)s->first, "last", (json_int_t)s->last, "archive_event",
			    json_integer_value(json_object_get(e, "archive_event")), "policy",
			    rule_json(p, s));
	if (!details || !file)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = ret_log_event(l, "logseal.retention.purge", "logseal", details, now_us, &ev, err);
	json_decref(details);
	if (rc != LS_OK)
		return rc;
	event_format_time(now_us, t, sizeof(t));
	json_object_set_new(e, "purged", json_true());
	json_object_set_new(e, "purged_at", json_string(t));
	json_object_set_new(e, "purge_event", json_integer((json_int_t)ev));
	rc = manifest_save(adir, manifest, err);
	if (rc != LS_OK)
		return rc;
	return arc_delete(adir, file, err);
}

ls_rc retention_run(struct log *l, int64_t now_us, struct retention_report *rep,
		    struct ls_err *err)
{
	const char *dir = log_dir(l);
	char jdir[PATH_MAX], adir[PATH_MAX];
	struct retention_policy p;
	struct holds hs = { 0 };
	json_t *manifest = NULL, *segs, *e;
	struct store_sealed *v = NULL;
	struct ret_tier tier_s, *tier = NULL;
	uint64_t kept, signed_size = 0;
	size_t n = 0, i;
	uint8_t key[32];
	char *note = NULL;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	if (strlen(dir) > PATH_MAX - 64)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = retention_policy_load(dir, &p, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	rep->policy = 1;
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	snprintf(adir, sizeof(adir), "%s/archive", dir);
	pthread_mutex_lock(&retention_mu);
	if ((rc = retention_actor_key(dir, key, err)) != LS_OK ||
	    (rc = fs_mkdirs(adir, 0700, err)) != LS_OK ||
	    (rc = manifest_load(adir, &manifest, err)) != LS_OK ||
	    (rc = holds_load(dir, &hs, err)) != LS_OK ||
	    (rc = tier_local_retained(jdir, &kept, err)) != LS_OK ||
	    (rc = store_sealed_list(dir, &v, &n, err)) != LS_OK)
		goto out;
	/* With an object store, the archive is the bucket (retention_tier.c). */
	rc = ret_tier_open(dir, &tier_s, err);
	if (rc == LS_OK)
		tier = &tier_s;
	else if (rc != LS_NOTFOUND)
		goto out;
	rc = LS_OK;
	if (log_latest_checkpoint(l, &note, &signed_size) != LS_OK)
		signed_size = 0;
	free(note);
	segs = json_object_get(manifest, "segments");

	/* Archive: a prefix of the sealed segments, each wholly signed
	 * (invariant 1); the write-ahead log is never touched. */
	for (i = 0; i < n; i++) {
		struct retention_seg s;
		char path[PATH_MAX];

		if (v[i].first < kept) {
			/* Left over by a pass that stopped after "retained". */
			if (v[i].first + v[i].count <= kept && manifest_find(segs, v[i].first)) {
				store_sealed_path(dir, v[i].first, path, sizeof(path));
				if (store_sealed_keep_tiles(dir, v[i].first, NULL) == LS_OK)
					unlink(path);
			}
			continue;
		}
		if (v[i].first != kept || v[i].first + v[i].count > signed_size)
			break;
		rc = seg_summarise(dir, &v[i], key, &s, err);
		if (rc != LS_OK)
			goto out;
		if (!retention_archive_due(&p, &s, now_us)) {
			seg_free(&s);
			break;
		}
		rc = archive_one(l, &p, manifest, dir, jdir, adir, &s, tier, now_us, err);
		kept = s.last + 1;
		seg_free(&s);
		if (rc != LS_OK)
			goto out;
		rep->archived++;
	}

	/* Purge: any archived segment that is due and not held. */
	json_array_foreach(segs, i, e) {
		struct retention_seg s;

		int s3 = !strcmp(json_string_value(json_object_get(e, "where")) ?: "", "s3");

		if (json_is_true(json_object_get(e, "purged"))) {
			/* A bucket delete that failed: again. */
			if (s3 && tier && json_is_false(json_object_get(e, "deleted")) &&
			    (rc = ret_tier_delete(tier, l, manifest, e, adir, now_us, manifest_save,
						  err)) != LS_OK)
				goto out;
			continue;
		}
		seg_from_json(e, &s);
		if (!retention_purge_due(&p, &s, now_us)) {
			seg_free(&s);
			continue;
		}
		if (s3) {
			int done = 0;

			if (!tier) {
				seg_free(&s);
				rc = ls_err_set(err, LS_INVALID,
						"%s/manifest.json: segment %s is in the bucket and "
						"there is no objstore.json",
						adir, json_string_value(json_object_get(e, "segment")));
				goto out;
			}
			rc = ret_tier_purge(tier, l, manifest, e, adir, &s, &hs, rule_json(&p, &s),
					    now_us, &done, manifest_save, err);
			seg_free(&s);
			if (rc != LS_OK)
				goto out;
			if (done)
				rep->purged++;
			else
				rep->held++;
			continue;
		}
		if (holds_block(&hs, &s)) {
			rep->held++;
			seg_free(&s);
			continue;
		}
		rc = purge_one(l, &p, manifest, e, adir, &s, now_us, err);
		seg_free(&s);
		if (rc != LS_OK)
			goto out;
		rep->purged++;
	}
out:
	pthread_mutex_unlock(&retention_mu);
	ls_wipe(key, sizeof(key));
	free(v);
	holds_free(&hs);
	json_decref(manifest);
	retention_policy_release(&p);
	return rc;
}

ls_rc retention_manifest_list(const char *datadir, struct retention_archived **out, size_t *n,
			      struct ls_err *err)
{
	char adir[PATH_MAX];
	json_t *manifest, *segs, *e;
	struct retention_archived *v;
	size_t i;
	ls_rc rc;

	*out = NULL;
	*n = 0;
	snprintf(adir, sizeof(adir), "%s/archive", datadir);
	rc = manifest_load(adir, &manifest, err);
	if (rc != LS_OK)
		return rc;
	segs = json_object_get(manifest, "segments");
	v = calloc(json_array_size(segs) + 1, sizeof(*v));
	if (!v) {
		json_decref(manifest);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	json_array_foreach(segs, i, e) {
		struct retention_archived *a = &v[i];
		const char *seg = json_string_value(json_object_get(e, "segment"));
		const char *file = json_string_value(json_object_get(e, "file"));
		const char *sha = json_string_value(json_object_get(e, "sha256"));

		/* "<016x>.seal" twice, or before sealed segments "<016x>.seg" and
		 * "<016x>.seg.zst". */
		int sealed = seg && file && strlen(seg) == 21 && !strcmp(seg + 16, ".seal") &&
			     !strcmp(seg, file);

		if (!seg || !file || !sha ||
		    (!sealed && (strlen(seg) != 20 || strlen(file) != 24)) ||
		    ls_unhex(sha, strlen(sha), a->sha256, 32) != LS_OK ||
		    !json_is_integer(json_object_get(e, "first")) ||
		    !json_is_integer(json_object_get(e, "last"))) {
			free(v);
			json_decref(manifest);
			return ls_err_set(err, LS_CORRUPT, "%s/manifest.json: entry %zu is malformed",
					  adir, i);
		}
		a->first = (uint64_t)json_integer_value(json_object_get(e, "first"));
		a->last = (uint64_t)json_integer_value(json_object_get(e, "last"));
		/* (lengths checked above: 20 or 21 and 21 or 24, each with its NUL) */
		memcpy(a->segment, seg, strlen(seg) + 1);
		memcpy(a->file, file, strlen(file) + 1);
		a->purged = json_is_true(json_object_get(e, "purged"));
		a->remote = !strcmp(json_string_value(json_object_get(e, "where")) ?: "", "s3");
		a->sealed = sealed;
		a->archive_event = (uint64_t)json_integer_value(json_object_get(e, "archive_event"));
		a->purge_event = (uint64_t)json_integer_value(json_object_get(e, "purge_event"));
	}
	*n = json_array_size(segs);
	*out = v;
	json_decref(manifest);
	return LS_OK;
}

/* Decompressed archived segment into out (malloc'd), checked against the
 * manifest's SHA-256 first. */
ls_rc retention_archive_read(const char *datadir, const struct retention_archived *a,
			     uint8_t **out, size_t *len, struct ls_err *err)
{
	char adir[PATH_MAX], *z;
	size_t zlen;
	unsigned long long cap;
	uint8_t h[32];
	void *buf;
	size_t got;
	ls_rc rc;

	*out = NULL;
	*len = 0;
	snprintf(adir, sizeof(adir), "%s/archive", datadir);
	rc = arc_get(adir, a->file, &z, &zlen, err);
	if (rc != LS_OK)
		return rc == LS_NOTFOUND ? ls_err_set(err, LS_TAMPERED,
						      "%s/%s: archived segment is missing (not "
						      "purged by policy)",
						      adir, a->file)
					 : rc;
	ls_sha256(z, zlen, NULL, 0, h);
	if (!ls_ct_equal(h, a->sha256, 32)) {
		free(z);
		return ls_err_set(err, LS_TAMPERED, "%s/%s: SHA-256 differs from the manifest",
				  adir, a->file);
	}
	if (a->sealed) {
		*out = (uint8_t *)z;
		*len = zlen;
		return LS_OK;
	}
	cap = ZSTD_getFrameContentSize(z, zlen);
	if (cap == ZSTD_CONTENTSIZE_ERROR || cap == ZSTD_CONTENTSIZE_UNKNOWN || cap > SEGFILE_MAX) {
		free(z);
		return ls_err_set(err, LS_CORRUPT, "%s/%s: not a zstd frame of known size", adir,
				  a->file);
	}
	buf = malloc(cap ? cap : 1);
	if (!buf) {
		free(z);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	got = ZSTD_decompress(buf, cap, z, zlen);
	free(z);
	if (ZSTD_isError(got) || got != cap) {
		free(buf);
		return ls_err_set(err, LS_CORRUPT, "%s/%s: zstd: cannot decompress", adir, a->file);
	}
	*out = buf;
	*len = got;
	return LS_OK;
}

/* ----------------------------------------------------------------- plan --- */

#define PLAN_ARCHIVE_MAX 20	/* sealed segments summarised (each is read) */
#define PLAN_PURGE_MAX 100

static json_t *plan_seg(const struct retention_seg *s, int due)
{
	char o[40], n[40];

	event_format_time(s->oldest_us, o, sizeof(o));
	event_format_time(s->newest_us, n, sizeof(n));
	return json_pack("{sIsIsIsssssosb}", "first", (json_int_t)s->first, "last",
			 (json_int_t)s->last, "entries", (json_int_t)(s->last - s->first + 1),
			 "oldest", o, "newest", n, "services",
			 strings_json(s->services, s->nservices), "due", due);
}

/* What retention_run() would do at now_us, done by nobody (see retention.h). */
ls_rc retention_plan(struct log *l, int64_t now_us, json_t **out, struct ls_err *err)
{
	const char *dir = log_dir(l);
	char jdir[PATH_MAX], adir[PATH_MAX];
	struct retention_policy p;
	struct holds hs = { 0 };
	struct store_sealed *v = NULL;
	json_t *manifest = NULL, *segs, *e, *arch, *purge, *holds;
	uint64_t kept, signed_size = 0, *held_segs = NULL, *held_entries = NULL;
	size_t n = 0, i;
	uint8_t key[32];
	char *note = NULL;
	ls_rc rc;

	*out = NULL;
	if (strlen(dir) > PATH_MAX - 64)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = retention_policy_load(dir, &p, err);
	if (rc == LS_NOTFOUND) {
		*out = json_pack("{sbs[]s[]s[]}", "configured", 0, "archive", "purge", "holds");
		return *out ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
	}
	if (rc != LS_OK)
		return rc;
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	snprintf(adir, sizeof(adir), "%s/archive", dir);
	arch = json_array();
	purge = json_array();
	holds = json_array();
	pthread_mutex_lock(&retention_mu);
	if ((rc = retention_actor_key(dir, key, err)) != LS_OK ||
	    (rc = manifest_load(adir, &manifest, err)) != LS_OK ||
	    (rc = holds_load(dir, &hs, err)) != LS_OK ||
	    (rc = tier_local_retained(jdir, &kept, err)) != LS_OK ||
	    (rc = store_sealed_list(dir, &v, &n, err)) != LS_OK)
		goto out;
	held_segs = calloc(hs.n + 1, sizeof(*held_segs));
	held_entries = calloc(hs.n + 1, sizeof(*held_entries));
	if (!held_segs || !held_entries || !arch || !purge || !holds) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	if (log_latest_checkpoint(l, &note, &signed_size) != LS_OK)
		signed_size = 0;
	free(note);
	/* Archive: the due prefix from the retained point, and the segment
	 * after it (not yet due), as retention_run() walks them. */
	for (i = 0; i < n && json_array_size(arch) < PLAN_ARCHIVE_MAX; i++) {
		struct retention_seg s;
		int due;

		if (v[i].first < kept)
			continue;
		if (v[i].first + v[i].count > signed_size)
			break;
		rc = seg_summarise(dir, &v[i], key, &s, err);
		if (rc != LS_OK)
			goto out;
		due = retention_archive_due(&p, &s, now_us);
		json_array_append_new(arch, plan_seg(&s, due));
		seg_free(&s);
		if (!due)
			break;
	}
	/* Purge: archived segments still stored, due or not, and what holds
	 * them back; each hold's count of what it keeps. */
	segs = json_object_get(manifest, "segments");
	json_array_foreach(segs, i, e) {
		struct retention_seg s;
		json_t *by, *pj;
		int due;

		if (json_is_true(json_object_get(e, "purged")))
			continue;
		seg_from_json(e, &s);
		due = retention_purge_due(&p, &s, now_us);
		by = json_array();
		for (size_t h = 0; h < hs.n; h++) {
			struct holds one = { &hs.v[h], 1 };

			if (holds_block(&one, &s)) {
				json_array_append_new(by, json_string(hs.v[h].id));
				held_segs[h]++;
				held_entries[h] += s.last - s.first + 1;
			}
		}
		if (json_array_size(purge) < PLAN_PURGE_MAX) {
			pj = plan_seg(&s, due && json_array_size(by) == 0);
			json_object_set(pj, "segment", json_object_get(e, "segment"));
			json_object_set_new(pj, "held_by", by);
			json_array_append_new(purge, pj);
		} else {
			json_decref(by);
		}
		seg_free(&s);
	}
	for (i = 0; i < hs.n; i++)
		json_array_append_new(holds, json_pack("{sssIsI}", "id", hs.v[i].id, "segments",
						       (json_int_t)held_segs[i], "entries",
						       (json_int_t)held_entries[i]));
	{
		char nb[40];

		event_format_time(now_us, nb, sizeof(nb));
		*out = json_pack("{sbsssIsOsOsO}", "configured", 1, "now", nb, "retained_from",
				 (json_int_t)kept, "archive", arch, "purge", purge, "holds", holds);
	}
	if (!*out)
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
out:
	pthread_mutex_unlock(&retention_mu);
	ls_wipe(key, sizeof(key));
	free(v);
	free(held_segs);
	free(held_entries);
	holds_free(&hs);
	json_decref(manifest);
	json_decref(arch);
	json_decref(purge);
	json_decref(holds);
	retention_policy_release(&p);
	return rc;
}
