/*
 * retention.c - retention policy, archive of sealed segments, purge and
 * legal holds (see retention.h for the API and its invariants, and
 * docs/FORMAT.md "Retention" for the files).
 *
 * The module is four files sharing retention_int.h:
 *   retention.c          the policy (retention.json, which rule applies, when a
 *                        segment is due) and the events a retention action
 *                        logs (placing and removing holds, listing them)
 *   retention_holds.c    legal holds: the actor key, holds.json, what a hold blocks
 *   retention_archive.c  segment summaries, the archive (moving sealed segments
 *                        out, the manifest, purge, reading archived segments back)
 *   retention_worker.c   the background thread that runs retention_run()
 */
#include "followers/retention_int.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"

pthread_mutex_t retention_mu = PTHREAD_MUTEX_INITIALIZER;

/* --------------------------------------------------------------- policy --- */

static ls_rc rule_parse(json_t *o, const char *where, struct retention_rule *r, struct ls_err *err)
{
	const char *k;
	json_t *v;
	int have_hot = 0, have_arc = 0;

	if (!json_is_object(o))
		return ls_err_set(err, LS_INVALID, "retention.json: %s: must be an object", where);
	json_object_foreach(o, k, v) {
		int64_t *dst;

		if (!strcmp(k, "hot_days")) {
			dst = &r->hot_days;
			have_hot = 1;
		} else if (!strcmp(k, "archive_days")) {
			dst = &r->archive_days;
			have_arc = 1;
		} else if (!strcmp(k, "purge")) {
			/* The lifecycle's last step: "after_archive_days" (the
			 * default) or "never". */
			if (json_is_string(v) && !strcmp(json_string_value(v), "never")) {
				r->purge_never = 1;
				continue;
			}
			if (json_is_string(v) && !strcmp(json_string_value(v), "after_archive_days"))
				continue;
			return ls_err_set(err, LS_INVALID,
					  "retention.json: %s.purge: must be \"after_archive_days\" "
					  "or \"never\"",
					  where);
		} else {
			return ls_err_set(err, LS_INVALID, "retention.json: %s: unknown field '%s'",
					  where, k);
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > RETENTION_MAX_DAYS)
			return ls_err_set(err, LS_INVALID,
					  "retention.json: %s.%s: must be a whole number of days "
					  "from 0 to %d",
					  where, k, RETENTION_MAX_DAYS);
		*dst = json_integer_value(v);
	}
	if (!have_hot || !have_arc)
		return ls_err_set(err, LS_INVALID,
				  "retention.json: %s: needs both hot_days and archive_days", where);
	return LS_OK;
}

void retention_policy_release(struct retention_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nsvc; i++)
		free(p->svc[i].service);
	free(p->svc);
	memset(p, 0, sizeof(*p));
}

ls_rc retention_policy_parse(const char *text, size_t n, struct retention_policy *out,
			     struct ls_err *err)
{
	json_error_t je;
	json_t *root, *v;
	const char *k;
	ls_rc rc = LS_OK;

	memset(out, 0, sizeof(*out));
	root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return ls_err_set(err, LS_INVALID, "retention.json: line %d: %s", je.line, je.text);
	if (!json_is_object(root)) {
		rc = ls_err_set(err, LS_INVALID, "retention.json: must be an object");
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "default") && strcmp(k, "services")) {
			rc = ls_err_set(err, LS_INVALID, "retention.json: unknown field '%s'", k);
			goto out;
		}
	}
	v = json_object_get(root, "default");
	if (!v) {
		rc = ls_err_set(err, LS_INVALID, "retention.json: 'default' is required");
		goto out;
	}
	rc = rule_parse(v, "default", &out->def, err);
	if (rc != LS_OK)
		goto out;
	v = json_object_get(root, "services");
	if (v) {
		json_t *sv;

		if (!json_is_object(v)) {
			rc = ls_err_set(err, LS_INVALID, "retention.json: 'services' must be an object");
			goto out;
		}
		if (json_object_size(v) > RETENTION_MAX_SERVICES) {
			rc = ls_err_set(err, LS_LIMIT, "retention.json: more than %d services",
					RETENTION_MAX_SERVICES);
			goto out;
		}
		out->svc = calloc(json_object_size(v) + 1, sizeof(*out->svc));
		if (!out->svc) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto out;
		}
		json_object_foreach(v, k, sv) {
			char where[160];
			struct retention_rule *r = &out->svc[out->nsvc];

			if (!*k || strlen(k) > 128) {
				rc = ls_err_set(err, LS_INVALID,
						"retention.json: services: a service name must have "
						"1 to 128 bytes");
				goto out;
			}
			snprintf(where, sizeof(where), "services.%s", k);
			rc = rule_parse(sv, where, r, err);
			if (rc != LS_OK)
				goto out;
			r->service = strdup(k);
			if (!r->service) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				goto out;
			}
			out->nsvc++;
		}
	}
out:
	json_decref(root);
	if (rc != LS_OK)
		retention_policy_release(out);
	return rc;
}

ls_rc retention_policy_load(const char *datadir, struct retention_policy *out,
			    struct ls_err *err)
{
	char path[PATH_MAX], *text;
	size_t len;
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/retention.json", datadir);
	rc = fs_read_file(path, POLICY_MAX, &text, &len, err);
	if (rc != LS_OK)
		return rc;
	rc = retention_policy_parse(text, len, out, err);
	free(text);
	return rc;
}

const struct retention_rule *retention_rule_for(const struct retention_policy *p,
						const char *service)
{
	for (size_t i = 0; service && i < p->nsvc; i++)
		if (!strcmp(p->svc[i].service, service))
			return &p->svc[i];
	return &p->def;
}

/* 1 when now is more than `days` (from the rule) past the newest event for
 * every service of seg; with_archive adds archive_days. */
static int past_for_all(const struct retention_policy *p, const struct retention_seg *seg,
			int64_t now_us, int with_archive)
{
	size_t n = seg->nservices ? seg->nservices : 1;

	for (size_t i = 0; i < n; i++) {
		const struct retention_rule *r =
			retention_rule_for(p, seg->nservices ? seg->services[i] : NULL);
		int64_t days = r->hot_days + (with_archive ? r->archive_days : 0);

		if (with_archive && r->purge_never)
			return 0;

		if (now_us - seg->newest_us <= days * DAY_US)
			return 0;
	}
	return 1;
}

int retention_archive_due(const struct retention_policy *p, const struct retention_seg *seg,
			  int64_t now_us)
{
	return past_for_all(p, seg, now_us, 0);
}

int retention_purge_due(const struct retention_policy *p, const struct retention_seg *seg,
			int64_t now_us)
{
	return past_for_all(p, seg, now_us, 1);
}

/* --------------------------------------------------------------- events --- */

ls_rc ret_log_event(struct log *l, const char *action, const char *actor, json_t *details,
		    int64_t now_us, uint64_t *index, struct ls_err *err)
{
	struct event_ctx ctx = { 0 };
	struct event_item it;
	struct iovec iov;
	uint64_t first;
	ls_rc rc;

	/* No writer: the server's own entries are the ones without one. */
	ctx.received_us = now_us;
	rc = event_internal(action, actor, NULL, "success", details, &ctx, &it);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot build the %s event", action);
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(l, &iov, 1, &first, err);
	event_item_release(&it);
	if (rc == LS_OK && index)
		*index = first;
	return rc;
}

static ls_rc random_id(char out[33])
{
	uint8_t r[16];
	ls_rc rc = ls_random(r, sizeof(r));

	if (rc == LS_OK)
		ls_hex(r, sizeof(r), out);
	return rc;
}

ls_rc retention_hold_place(struct log *l, const char *body, size_t n, const char *actor,
			   int64_t now_us, char **json, struct ls_err *err)
{
	const char *dir = log_dir(l);
	uint8_t key[32];
	struct hold h;
	struct holds hs;
	json_t *o = NULL;
	ls_rc rc;

	*json = NULL;
	rc = retention_actor_key(dir, key, err);
	if (rc != LS_OK)
		return rc;
	rc = hold_parse(body, n, key, &h, err);
	ls_wipe(key, sizeof(key));
	if (rc != LS_OK)
		return rc;
	h.placed_us = now_us;
	if ((rc = random_id(h.id)) != LS_OK) {
		hold_release(&h);
		return ls_err_set(err, rc, "no randomness");
	}
	pthread_mutex_lock(&retention_mu);
	rc = holds_load(dir, &hs, err);
	if (rc != LS_OK)
		goto out;
	if (hs.n >= RETENTION_MAX_HOLDS) {
		rc = ls_err_set(err, LS_LIMIT, "at most %d holds", RETENTION_MAX_HOLDS);
		goto out_hs;
	}
	{
		struct hold *nv = realloc(hs.v, (hs.n + 1) * sizeof(*nv));

		if (!nv) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto out_hs;
		}
		hs.v = nv;
	}
	hs.v[hs.n] = h;
	hs.n++;
	memset(&h, 0, sizeof(h));
	/* The hold is durable before it is announced: a logged hold that did
	 * not stick would be worse than a stuck hold without its event. */
	rc = ret_holds_save(dir, &hs, err);
	if (rc != LS_OK)
		goto out_hs;
	o = ret_hold_to_json(&hs.v[hs.n - 1]);
	if (!o) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out_hs;
	}
	rc = ret_log_event(l, "logseal.hold.place", actor, o, now_us, NULL, err);
	if (rc == LS_OK && !(*json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)))
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
out_hs:
	holds_free(&hs);
out:
	pthread_mutex_unlock(&retention_mu);
	json_decref(o);
	hold_release(&h);
	return rc;
}

ls_rc retention_hold_remove(struct log *l, const char *id, const char *actor, int64_t now_us,
			    struct ls_err *err)
{
	return retention_hold_release_why(l, id, actor, NULL, now_us, err);
}

ls_rc retention_hold_release_why(struct log *l, const char *id, const char *actor,
				 const char *why, int64_t now_us, struct ls_err *err)
{
	const char *dir = log_dir(l);
	struct holds hs;
	json_t *o = NULL;
	size_t i;
	ls_rc rc;

	pthread_mutex_lock(&retention_mu);
	rc = holds_load(dir, &hs, err);
	if (rc != LS_OK)
		goto out;
	for (i = 0; i < hs.n && strcmp(hs.v[i].id, id); i++)
		;
	if (i == hs.n) {
		rc = ls_err_set(err, LS_NOTFOUND, "no hold with id '%s'", id);
		goto out_hs;
	}
	o = ret_hold_to_json(&hs.v[i]);
	if (!o) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out_hs;
	}
	if (why)
		json_object_set_new(o, "release_reason", json_string(why));
	hold_release(&hs.v[i]);
	hs.v[i] = hs.v[hs.n - 1];
	hs.n--;
	rc = ret_holds_save(dir, &hs, err);
	if (rc == LS_OK)
		rc = ret_log_event(l, "logseal.hold.release", actor, o, now_us, NULL, err);
out_hs:
	holds_free(&hs);
out:
	pthread_mutex_unlock(&retention_mu);
	json_decref(o);
	return rc;
}

ls_rc retention_holds_json(const char *datadir, char **json, struct ls_err *err)
{
	struct holds hs;
	json_t *a;
	ls_rc rc;

	*json = NULL;
	pthread_mutex_lock(&retention_mu);
	rc = holds_load(datadir, &hs, err);
	pthread_mutex_unlock(&retention_mu);
	if (rc != LS_OK)
		return rc;
	a = ret_holds_to_json(&hs);
	holds_free(&hs);
	if (a)
		*json = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(a);
	return *json ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
}
