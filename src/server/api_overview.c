/*
 * api_overview.c - what the dashboard's overview needs beyond GET
 * /v1/events/stats (which already counts events over time by service or
 * outcome, api_read.c):
 *
 *	GET  /v1/stats/denied	(auditor, audited) the actors, actions and
 *				source addresses most often denied in a range:
 *				the index finds the denied events (outcome
 *				"denied" plus the usual filters), newest first,
 *				and up to DENIED_SCAN_MAX of them are read and
 *				counted here; actors and addresses are blind in
 *				the index (keyed hashes), so they can only be
 *				counted from the entries.  `top` (1..100,
 *				default 10) per list.  Reply:
 *		{"total_scanned":N,"truncated":bool,"watermark":W,
 *		 "actors":[{"value":"alice","count":3},...],"actions":[...],
 *		 "sources":[...]}
 *	POST /v1/verify		(admin) start a full verify of the data
 *				directory in the background (followers/verify_run.h:
 *				the same check and record as `logseal verify`;
 *				GET /v1/integrity then shows it as the last
 *				verify).  Logged as logseal.verify.start.  202
 *				{"running":true,"started":T}; 409 verify_running
 *				while one runs.
 *	GET  /v1/verify		(auditor, audited) whether one runs, since when,
 *				and the outcome of the last one this process ran.
 *	GET  /v1/whoami		(any role) the token's id and roles, for the
 *				dashboard to show only what the token may use.
 *				Not audited: it shows nothing of the log.
 *
 * One verify at a time per process: its state is a static guarded by a
 * mutex, and its thread is detached (it only reads the directory and
 * writes DIR/state/last-verify.json, atomically, through cfgseal).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/event.h"
#include "followers/verify_run.h"
#include "store/log.h"

#define DENIED_SCAN_MAX 10000	/* entries read for one GET /v1/stats/denied */
#define DENIED_KEYS_MAX 20000	/* distinct values counted per list */
#define DENIED_TOP_DEFAULT 10
#define DENIED_TOP_MAX 100
#define QUERY_WAIT_MS 2000

/* ======================================================= GET /v1/stats/denied */

struct denied_params {
	unsigned top;
	int have_top;
};

static ls_rc denied_param(void *ctx, const char *key, const char *value, struct ls_err *err)
{
	struct denied_params *p = ctx;
	uint64_t v;

	if (!strcmp(key, "top")) {
		if (p->have_top)
			return ls_err_set(err, LS_INVALID, "parameter 'top' given more than once");
		if (!ls_parse_u64(value, 1, DENIED_TOP_MAX, &v))
			return ls_err_set(err, LS_INVALID,
					  "parameter 'top': an integer from 1 to %d", DENIED_TOP_MAX);
		p->top = (unsigned)v;
		p->have_top = 1;
		return LS_OK;
	}
	if (!strcmp(key, "outcome"))
		return ls_err_set(err, LS_INVALID,
				  "parameter 'outcome': this endpoint counts denied events only");
	if (!strcmp(key, "order") || !strcmp(key, "limit") || !strcmp(key, "cursor"))
		return ls_err_set(err, LS_INVALID, "parameter '%s' does not apply here", key);
	return LS_NOTFOUND;
}

/* counts: value -> integer, at most DENIED_KEYS_MAX values (the rest are
 * not counted, and *truncated says so). */
static void count_value(json_t *counts, const char *v, int *truncated)
{
	json_t *c;

	if (!v || !*v)
		return;
	c = json_object_get(counts, v);
	if (c) {
		json_integer_set(c, json_integer_value(c) + 1);
		return;
	}
	if (json_object_size(counts) >= DENIED_KEYS_MAX) {
		*truncated = 1;
		return;
	}
	json_object_set_new(counts, v, json_integer(1));
}

struct kc {
	const char *k;
	json_int_t c;
};

static int kc_cmp(const void *a, const void *b)
{
	const struct kc *x = a, *y = b;

	if (x->c != y->c)
		return x->c > y->c ? -1 : 1;
	return strcmp(x->k, y->k);
}

/* The top n of counts as [{"value","count"}], largest first, ties by value. */
static json_t *top_list(json_t *counts, unsigned n)
{
	size_t m = json_object_size(counts), i = 0;
	struct kc *v = malloc((m ? m : 1) * sizeof(*v));
	json_t *arr = json_array(), *val;
	const char *k;

	if (!v || !arr) {
		free(v);
		json_decref(arr);
		return NULL;
	}
	json_object_foreach(counts, k, val) {
		v[i].k = k;
		v[i++].c = json_integer_value(val);
	}
	qsort(v, m, sizeof(*v), kc_cmp);
	for (i = 0; i < m && i < n; i++)
		if (json_array_append_new(arr, json_pack("{s:s,s:I}", "value", v[i].k, "count",
							 v[i].c))) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	free(v);
	return arr;
}

static const char *sub_string(json_t *o, const char *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(o, obj), key));
}

void api_stats_denied(struct server *s, const struct request *q, struct reply *r)
{
	struct denied_params p = { .top = DENIED_TOP_DEFAULT };
	struct index_query iq;
	struct ls_err err = { { 0 } };
	struct store_pass pass = { 0 };
	json_t *actors = json_object(), *actions = json_object(), *sources = json_object();
	json_t *body = NULL, *details = NULL;
	uint64_t wm = 0, scanned = 0;
	int truncated = 0, more = 1;
	ls_rc rc;

	if (!actors || !actions || !sources) {
		api_reply_rc(NULL, r, LS_NOMEM, API_RC_READ, "out of memory");
		goto done;
	}
	if (!api_parse_filters(q, &iq, denied_param, &p, r))
		goto done;
	if (index_query_add(&iq, "outcome", "denied", &err) != LS_OK) {
		api_reply_rc(NULL, r, LS_NOMEM, API_RC_READ, "%s", err.msg);
		goto out;
	}
	if (!api_index_ready(s, api_query_horizon(s, iq.has & INDEX_Q_SERVICE ? iq.service : NULL),
			     QUERY_WAIT_MS, 0, r))
		goto out;
	iq.order = INDEX_DESC;
	iq.limit = INDEX_LIMIT_MAX;
	while (more && scanned < DENIED_SCAN_MAX) {
		uint64_t *idx = NULL;
		size_t n = 0;
		char *cursor = NULL;

		rc = index_query_run(s->index, &iq, &idx, &n, &cursor, &wm, &err);
		if (rc == LS_INVALID || rc == LS_LIMIT) {
			reply_error(r, 400, "bad_parameter", "%s", err.msg);
			goto out;
		}
		if (rc != LS_OK) {
			api_reply_rc(NULL, r, rc, API_RC_READ, "query: %s", err.msg);
			goto out;
		}
		more = cursor != NULL && n > 0;
		free(cursor);
		for (size_t i = 0; i < n && scanned < DENIED_SCAN_MAX; i++) {
			uint8_t *data = NULL;
			size_t len = 0;
			json_t *e;

			rc = api_read_entry(s, &pass, NULL, idx[i], INDEX_NO_OFFSET, &data, &len, &err);
			if (rc != LS_OK) {
				free(idx);
				api_reply_rc(NULL, r, rc, API_RC_READ, "reading an entry: %s",
					     err.msg);
				goto out;
			}
			scanned++;
			e = json_loadb((const char *)data, len, 0, NULL);
			free(data);
			if (json_is_object(e)) {
				const char *ip = sub_string(e, "source", "ip");

				count_value(actors, sub_string(e, "actor", "id"), &truncated);
				count_value(actions, json_string_value(json_object_get(e, "action")),
					    &truncated);
				count_value(sources, ip ? ip : sub_string(e, "source", "endpoint"),
					    &truncated);
			}
			json_decref(e);
		}
		if (n) {
			iq.has_after = 1;
			iq.after = idx[n - 1];
		}
		free(idx);
	}
	if (more && scanned >= DENIED_SCAN_MAX)
		truncated = 1;
	body = json_pack("{s:I,s:b,s:I,s:I}", "total_scanned", (json_int_t)scanned, "truncated",
			 truncated, "watermark", (json_int_t)wm, "scan_max",
			 (json_int_t)DENIED_SCAN_MAX);
	details = json_object();
	if (!body || !details ||
	    json_object_set_new(body, "actors", top_list(actors, p.top)) ||
	    json_object_set_new(body, "actions", top_list(actions, p.top)) ||
	    json_object_set_new(body, "sources", top_list(sources, p.top)) ||
	    json_object_set_new(details, "filter", index_query_filters_json(&iq)) ||
	    json_object_set_new(details, "results", json_integer((json_int_t)scanned)) ||
	    json_object_set_new(details, "watermark", json_integer((json_int_t)wm))) {
		api_reply_rc(NULL, r, LS_NOMEM, API_RC_READ, "out of memory");
		goto out;
	}
	api_reply_audited(s, q, "logseal.stats.denied", details, &body, r);
out:
	index_query_release(&iq);
done:
	json_decref(body);
	json_decref(details);
	json_decref(actors);
	json_decref(actions);
	json_decref(sources);
}

/* ======================================================= POST/GET /v1/verify */

static struct {
	pthread_mutex_t mu;
	int running;
	char started[40];	/* event time text of the start */
	char by[AUTH_ID_LEN + 1];
	json_t *last;		/* the outcome of the last run, or NULL */
} vstate = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void now_text(char *out, size_t cap)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	event_format_time((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, out, cap);
}

static void *verify_thread(void *arg)
{
	char *dir = arg, when[40], rec_err[256];
	struct verify_report *rep = calloc(1, sizeof(*rep));
	struct ls_err err = { { 0 } };
	json_t *o;
	ls_rc rc;

	rc = rep ? verify_run_recorded(dir, 0, rep, &err, rec_err, sizeof(rec_err)) : LS_NOMEM;
	if (!rep)
		snprintf(rec_err, sizeof(rec_err), "out of memory");
	now_text(when, sizeof(when));
	o = json_pack("{s:s,s:b,s:s,s:I,s:I,s:s?,s:s?}", "finished", when, "ok", rc == LS_OK,
		      "code", ls_rc_name(rc), "entries", (json_int_t)(rep ? rep->entries : 0),
		      "tree_size", (json_int_t)(rep ? rep->tree_size : 0), "error",
		      rc == LS_OK ? NULL : err.msg, "record_error", rec_err[0] ? rec_err : NULL);
	pthread_mutex_lock(&vstate.mu);
	json_decref(vstate.last);
	vstate.last = o;
	vstate.running = 0;
	pthread_mutex_unlock(&vstate.mu);
	free(rep);
	free(dir);
	return NULL;
}

void api_verify_post(struct server *s, const struct request *q, struct reply *r)
{
	pthread_attr_t attr;
	pthread_t th;
	char *dir;
	json_t *d;
	int busy;
	ls_rc rc;

	if (q->nargs) {
		reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
		return;
	}
	pthread_mutex_lock(&vstate.mu);
	busy = vstate.running;
	if (!busy) {
		vstate.running = 1;
		now_text(vstate.started, sizeof(vstate.started));
		snprintf(vstate.by, sizeof(vstate.by), "%s", q->who->id);
	}
	pthread_mutex_unlock(&vstate.mu);
	if (busy) {
		reply_error(r, 409, "verify_running",
			    "a verify is already running (started %s); GET /v1/verify shows it",
			    vstate.started);
		return;
	}
	d = json_pack("{s:s}", "started", vstate.started);
	/* The start is logged before the run: who asked for it stays on record
	 * whatever the outcome (that one is in DIR/state/last-verify.json). */
	rc = api_log_internal(s, q, "logseal.verify.start", q->who->id, "success", d);
	if (rc != LS_OK) {
		json_decref(d);
		pthread_mutex_lock(&vstate.mu);
		vstate.running = 0;
		pthread_mutex_unlock(&vstate.mu);
		api_reply_rc(s, r, rc, API_RC_AUDIT, "cannot log the start of the verify");
		return;
	}
	json_decref(d);
	dir = strdup(s->dir);
	if (!dir || pthread_attr_init(&attr) != 0) {
		free(dir);
		goto fail;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, verify_thread, dir) != 0) {
		pthread_attr_destroy(&attr);
		free(dir);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	r->status = 202;
	r->body = json_pack("{s:b,s:s,s:s}", "running", 1, "started", vstate.started, "by",
			    q->who->id);
	return;
fail:
	pthread_mutex_lock(&vstate.mu);
	vstate.running = 0;
	pthread_mutex_unlock(&vstate.mu);
	reply_error(r, 503, "busy", "cannot start the verify");
	r->retry_after = 5;
}

void api_verify_get(struct server *s, const struct request *q, struct reply *r)
{
	json_t *body;

	if (q->nargs) {
		reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
		return;
	}
	pthread_mutex_lock(&vstate.mu);
	body = json_pack("{s:b,s:s?,s:s?,s:O?}", "running", vstate.running, "started",
			 vstate.started[0] ? vstate.started : NULL, "by",
			 vstate.by[0] ? vstate.by : NULL, "last", vstate.last);
	pthread_mutex_unlock(&vstate.mu);
	if (!body) {
		api_reply_rc(NULL, r, LS_NOMEM, API_RC_READ, "out of memory");
		return;
	}
	api_reply_audited(s, q, "logseal.verify.status", NULL, &body, r);
	json_decref(body);
}

/* ======================================================= GET /v1/whoami */

void api_whoami(struct server *s, const struct request *q, struct reply *r)
{
	(void)s;
	if (q->nargs) {
		reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
		return;
	}
	r->status = 200;
	r->body = json_pack("{s:s,s:o,s:s?}", "token_id", q->who->id, "roles",
			    auth_roles_json(q->who->roles), "service",
			    q->who->service[0] ? q->who->service : NULL);
	if (!r->body)
		api_reply_rc(NULL, r, LS_NOMEM, API_RC_READ, "out of memory");
}
