/*
 * api_integrity.c - the dashboard's "log integrity" and "retention" views
 * for auditors: GET /v1/integrity (latest signed checkpoint, verifier key,
 * checkpoint age, the outcome of the last `logseal verify`, index
 * watermark) and GET /v1/retention (the policy in DIR/retention.json and
 * what the archive manifest says was archived and purged).
 *
 * Both are reads of the log's state, so both are audited like every other
 * read (api_read.c invariant 1): the reply is built first, then its
 * logseal.integrity.get / logseal.retention.get event is appended, and the
 * read is refused when that fails.  Legal holds stay behind GET /v1/holds
 * (admin): an auditor sees that content is held only through the purge
 * state here, not who or what is held.  The retention reply states the
 * caller's own roles, so that the dashboard asks for the holds only with a
 * token that may see them (a 403 would be logged as a denial).
 *
 * Neither reply is a proof by itself: the checkpoint is served as signed
 * note text so that a client checks its signature with the verifier key it
 * trusts (the dashboard does, with WebCrypto); the key in the same reply is
 * a convenience for showing, not a trust anchor.
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"
#include "server/auth.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/cfgseal.h"
#include "base/fsutil.h"
#include "core/note.h"
#include "followers/retention.h"
#include "followers/witnesses.h"
#include "followers/upload.h"
#include "server/serve_cluster.h"

/* DIR/state/last-verify.json is written by `logseal verify` (cli/cmd_verify.c):
 * small, but read with a cap like every file from outside this process. */
#define LAST_VERIFY_MAX 65536

static void reply_nomem(struct reply *r)
{
	reply_error(r, 503, "busy", "out of memory");
	r->retry_after = 1;
}

static int no_params(const struct request *q, struct reply *r)
{
	if (q->nargs == 0)
		return 1;
	reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
	return 0;
}

/* ======================================================= GET /v1/integrity */

/* The recorded outcome of the last full verify: an object, or null when
 * none was recorded; a file that is there but unreadable is reported as
 * such (*why), never passed through as if it were an outcome. */
static json_t *last_verify(const char *dir, char *why, size_t whylen)
{
	struct ls_err err = { { 0 } };
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	json_t *o;
	ls_rc rc;

	why[0] = 0;
	if (snprintf(path, sizeof(path), "%s/state/last-verify.json", dir) >= (int)sizeof(path)) {
		snprintf(why, whylen, "data directory path too long");
		return json_null();
	}
	/* Sealed by verify (cfgseal.h): an outcome edited on disk is not shown
	 * as if verify had reached it. */
	rc = cfgseal_read_file(dir, CFGSEAL_VERIFY, path, LAST_VERIFY_MAX, &text, &len, &err);
	if (rc == LS_NOTFOUND)
		return json_null();
	if (rc != LS_OK) {
		snprintf(why, whylen, "cannot read state/last-verify.json: %s",
			 err.msg[0] ? err.msg : ls_rc_name(rc));
		return json_null();
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	if (!json_is_object(o) || !json_is_boolean(json_object_get(o, "ok")) ||
	    !json_is_string(json_object_get(o, "time"))) {
		json_decref(o);
		snprintf(why, whylen, "state/last-verify.json is not a verify outcome");
		return json_null();
	}
	return o;
}

void api_integrity_get(struct server *s, const struct request *q, struct reply *r)
{
	char vkey[NOTE_MAX_NAME + 128], path[PATH_MAX], why[256];
	struct timespec now;
	struct stat st;
	uint64_t cpsize = 0;
	char *note = NULL;
	json_t *body = NULL, *details = NULL, *age, *lv;

	if (!no_params(q, r))
		return;
	/* Not forced: this shows the newest checkpoint the log has published,
	 * and how old it is, which is the point of the page. */
	if (log_latest_checkpoint(s->log, &note, &cpsize) != LS_OK) {
		free(note);
		note = NULL;
	}
	if (note_verifier_format(log_verifier(s->log), vkey, sizeof(vkey)) != LS_OK) {
		reply_error(r, 500, "internal", "cannot format the verifier key");
		goto out;
	}
	/* As GET /metrics measures it: the checkpoint file is replaced each
	 * time a checkpoint is published. */
	age = json_null();
	clock_gettime(CLOCK_REALTIME, &now);
	if (note && snprintf(path, sizeof(path), "%s/log/checkpoint", s->dir) < (int)sizeof(path) &&
	    stat(path, &st) == 0) {
		double a = (double)(now.tv_sec - st.st_mtim.tv_sec) +
			   (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;

		json_decref(age);
		/* milliseconds, sent as such: 8.009, not 8.0093728800000008 */
		age = json_real(a < 0 ? 0.0 : round(a * 1000) / 1000);
	}
	lv = last_verify(s->dir, why, sizeof(why));
	body = json_object();
	if (!body) {
		json_decref(age);
		json_decref(lv);
		goto nomem;
	}
	/* _set_new takes the value even when it fails: both are set first */
	if ((json_object_set_new(body, "checkpoint_age_seconds", age) |
	     json_object_set_new(body, "last_verify", lv)) ||
	    json_object_set_new(body, "origin", json_string(log_origin(s->log))) ||
	    json_object_set_new(body, "verifier_key", json_string(vkey)) ||
	    json_object_set_new(body, "tree_size", json_integer((json_int_t)log_size(s->log))) ||
	    json_object_set_new(body, "checkpoint", note ? json_string(note) : json_null()) ||
	    json_object_set_new(body, "checkpoint_tree_size",
				note ? json_integer((json_int_t)cpsize) : json_null()) ||
	    json_object_set_new(body, "index_watermark",
				json_integer((json_int_t)index_watermark(s->index))))
		goto nomem;
	if (why[0] && json_object_set_new(body, "last_verify_error", json_string(why)))
		goto nomem;
	/* Witness cosigning (followers/witnesses.h): null when none is set. */
	if (json_object_set_new(body, "witnesses",
				s->witnesses ? witnesses_status(s->witnesses) : json_null()))
		goto nomem;
	if (s->upload) {
		struct upload_stats us;
		json_t *os;

		upload_stats(s->upload, &us);
		os = json_pack("{s:s, s:s, s:b, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "url",
			       us.describe, "state",
			       us.conflict ? "conflict" : !us.reachable ? "unreachable"
			       : us.uploaded_size < us.log_size ? "behind" : "ok",
			       "reachable", us.reachable, "last_error",
			       us.last_error[0] ? us.last_error : NULL, "uploaded_size",
			       (json_int_t)us.uploaded_size, "log_size", (json_int_t)us.log_size,
			       "backlog_bytes", (json_int_t)us.backlog_bytes, "backlog_objects",
			       (json_int_t)us.backlog_objects, "backlog_limit",
			       (json_int_t)us.backlog_limit, "last_success",
			       (json_int_t)us.last_success, "over_backlog",
			       upload_over_backlog(s->upload));
		if (os && us.object_lock >= 0 &&
		    json_object_set_new(os, "object_lock", json_boolean(us.object_lock)))
			goto nomem;
		if (!os || json_object_set_new(body, "object_store", os))
			goto nomem;
	}
	/* Cluster mode (server/serve_cluster.h): absent on a single node. */
	if (s->cluster && json_object_set_new(body, "cluster", serve_cluster_json(s->cluster)))
		goto nomem;
	details = json_object();
	if (!details ||
	    json_object_set_new(details, "tree_size",
				json_integer((json_int_t)(note ? cpsize : 0))) ||
	    json_object_set_new(details, "results", json_integer(1)))
		goto nomem;
	r->real_digits = 15;	/* the ages above, rounded to ms */
	api_reply_audited(s, q, "logseal.integrity.get", details, &body, r);
	goto out;
nomem:
	reply_nomem(r);
out:
	json_decref(body);
	json_decref(details);
	free(note);
}

/* ======================================================= GET /v1/retention */

static json_t *rule_json(const struct retention_rule *rl)
{
	return json_pack("{s:I,s:I}", "hot_days", (json_int_t)rl->hot_days, "archive_days",
			 (json_int_t)rl->archive_days);
}

/* The policy as retention.json states it, after validation. */
static json_t *policy_json(const struct retention_policy *p)
{
	json_t *o = json_object(), *svc = json_object();

	if (!o || !svc || json_object_set_new(o, "default", rule_json(&p->def)))
		goto fail;
	for (size_t i = 0; i < p->nsvc; i++)
		if (json_object_set_new(svc, p->svc[i].service, rule_json(&p->svc[i])))
			goto fail;
	if (json_object_set_new(o, "services", svc))
		goto fail_o;
	return o;
fail:
	json_decref(svc);
fail_o:
	json_decref(o);
	return NULL;
}

void api_retention_get(struct server *s, const struct request *q, struct reply *r)
{
	struct retention_policy pol;
	struct retention_archived *v = NULL;
	struct ls_err err = { { 0 } };
	uint64_t narch = 0, npurged = 0;
	size_t n = 0;
	int configured = 0;
	json_t *body = NULL, *details = NULL, *arr = NULL;
	ls_rc rc;

	if (!no_params(q, r))
		return;
	body = json_object();
	if (!body)
		goto nomem;
	rc = retention_policy_load(s->dir, &pol, &err);
	if (rc == LS_OK) {
		configured = 1;
		if (json_object_set_new(body, "policy", policy_json(&pol))) {
			retention_policy_release(&pol);
			goto nomem;
		}
		retention_policy_release(&pol);
	} else if (rc == LS_NOMEM) {
		goto nomem;
	} else if (rc != LS_NOTFOUND) {
		/* There, but no pass runs with it: that is what to show. */
		configured = 1;
		if (json_object_set_new(body, "policy", json_null()) ||
		    json_object_set_new(body, "policy_error", json_string(err.msg)))
			goto nomem;
	}
	if (json_object_set_new(body, "configured", json_boolean(configured)))
		goto nomem;

	memset(&err, 0, sizeof(err));
	rc = retention_manifest_list(s->dir, &v, &n, &err);
	if (rc == LS_NOMEM)
		goto nomem;
	if (rc != LS_OK) {
		/* verify says whether this is tampering; here it is reported */
		if (json_object_set_new(body, "archive_error", json_string(err.msg)))
			goto nomem;
		n = 0;
	}
	arr = json_array();
	if (!arr)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		const struct retention_archived *a = &v[i];
		json_t *e = json_pack("{s:I,s:I,s:s,s:b,s:I}", "first", (json_int_t)a->first,
				      "last", (json_int_t)a->last, "segment", a->segment, "purged",
				      a->purged, "archive_event", (json_int_t)a->archive_event);

		if (e && a->purged &&
		    json_object_set_new(e, "purge_event", json_integer((json_int_t)a->purge_event))) {
			json_decref(e);
			e = NULL;
		}
		if (!e || json_array_append_new(arr, e))
			goto nomem;
		if (a->purged)
			npurged += a->last - a->first + 1;
		else
			narch += a->last - a->first + 1;
	}
	if (json_object_set_new(body, "archive", arr))
		goto nomem_arr_gone;
	arr = NULL;
	if (json_object_set_new(body, "archived_entries", json_integer((json_int_t)narch)) ||
	    json_object_set_new(body, "purged_entries", json_integer((json_int_t)npurged)) ||
	    json_object_set_new(body, "tree_size", json_integer((json_int_t)log_size(s->log))) ||
	    json_object_set_new(body, "roles", auth_roles_json(q->who ? q->who->roles : 0)))
		goto nomem;
	details = json_object();
	if (!details || json_object_set_new(details, "configured", json_boolean(configured)) ||
	    json_object_set_new(details, "results", json_integer((json_int_t)n)))
		goto nomem;
	api_reply_audited(s, q, "logseal.retention.get", details, &body, r);
	goto out;
nomem:
	json_decref(arr);
nomem_arr_gone:
	reply_nomem(r);
out:
	json_decref(body);
	json_decref(details);
	free(v);
}
