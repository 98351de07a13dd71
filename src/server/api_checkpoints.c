/*
 * api_checkpoints.c - the signed checkpoints for auditors and monitors
 * (issue 17): GET /v1/checkpoints lists every checkpoint the log signed
 * (size, when it was stored, whether witnesses cosigned it), in increasing
 * size, a page at a time; GET /v1/checkpoints/{size} serves one as its
 * signed note, with the witnesses' cosignature lines when they cosigned it
 * (followers/cosigned.h), as text/plain like /log/checkpoint.
 *
 * Both are audited reads (api_read.c invariant 1): the reply is built, its
 * logseal.checkpoints.list / logseal.checkpoints.get event appended, and the
 * reply sent only once that is durable; a 404 for a size is recorded too.
 *
 * The list is read from DIR/checkpoints (one file per signed size): the
 * history every other check keeps to (checkpoints.index seals it).  Page:
 * ?from=<size> (first size listed, default 0) and ?limit=<n> (1..1000,
 * default 100); "next" is the from of the following page, or null.
 */
#include "server/api.h"
#include "server/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "followers/cosigned.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

static void time_json(const struct timespec *ts, char *out, size_t cap)
{
	struct tm tm;
	time_t t = ts->tv_sec;

	gmtime_r(&t, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)(ts->tv_nsec / 1000));
}

void api_checkpoints_list(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	struct cosigned_ent *e = NULL;
	uint64_t from = 0, limit = LIST_DEFAULT;
	size_t n = 0;
	int more = 0;
	json_t *body = NULL, *arr = NULL, *details = NULL;
	char tbuf[40];
	ls_rc rc;

	for (size_t i = 0; i < q->nargs; i++) {
		const char *k = q->args[i].key, *v = q->args[i].value;

		if (!strcmp(k, "from") && ls_parse_u64(v, 0, UINT64_MAX, &from))
			continue;
		if (!strcmp(k, "limit") && ls_parse_u64(v, 1, LIST_MAX, &limit))
			continue;
		reply_error(r, 400, "bad_parameter",
			    "this endpoint takes from (a tree size) and limit (1..%d)", LIST_MAX);
		return;
	}
	rc = cosigned_list(s->dir, from, (size_t)limit, &e, &n, &more, &err);
	if (rc != LS_OK) {
		api_reply_rc(s, r, rc, API_RC_READ, "listing the checkpoints: %s", err.msg);
		return;
	}
	arr = json_array();
	if (!arr)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();

		time_json(&e[i].time, tbuf, sizeof(tbuf));
		if (!o || json_array_append_new(arr, o) ||
		    json_object_set_new(o, "size", json_integer((json_int_t)e[i].size)) ||
		    json_object_set_new(o, "time", json_string(tbuf)) ||
		    json_object_set_new(o, "cosigned", json_boolean(e[i].cosigned)))
			goto nomem;
	}
	body = json_object();
	if (!body || json_object_set_new(body, "checkpoints", arr))
		goto nomem;
	arr = NULL;
	if (json_object_set_new(body, "next",
				more ? json_integer((json_int_t)(e[n - 1].size + 1)) : json_null()))
		goto nomem;
	details = json_object();
	if (!details || json_object_set_new(details, "from", json_integer((json_int_t)from)) ||
	    json_object_set_new(details, "results", json_integer((json_int_t)n)))
		goto nomem;
	api_reply_audited(s, q, "logseal.checkpoints.list", details, &body, r);
	goto out;
nomem:
	reply_error(r, 503, "busy", "out of memory");
	r->retry_after = 1;
out:
	json_decref(body);
	json_decref(arr);
	json_decref(details);
	free(e);
}

void api_checkpoints_get(struct server *s, const struct request *q, struct reply *r)
{
	uint64_t size;
	char *note = NULL;
	int cosigned = 0;
	json_t *details;
	ls_rc rc;

	if (q->nargs) {
		reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
		return;
	}
	if (!ls_parse_u64(q->tail, 0, UINT64_MAX, &size)) {
		reply_error(r, 400, "bad_size",
			    "expected /v1/checkpoints/{size} with a decimal tree size");
		return;
	}
	details = json_object();
	if (!details || json_object_set_new(details, "tree_size", json_integer((json_int_t)size))) {
		json_decref(details);
		reply_error(r, 503, "busy", "out of memory");
		return;
	}
	rc = cosigned_read(s->dir, size, &note, &cosigned);
	if (rc == LS_NOTFOUND) {
		json_object_set_new(details, "status", json_integer(404));
		if (api_audit_read(s, q, "logseal.checkpoints.get", "failure", details, r) == LS_OK)
			reply_error(r, 404, "not_found", "the log signed no checkpoint of size %llu",
				    (unsigned long long)size);
		goto out;
	}
	if (rc != LS_OK) {
		api_reply_rc(s, r, rc, API_RC_READ, "reading the checkpoint (%s)", ls_rc_name(rc));
		goto out;
	}
	json_object_set_new(details, "cosigned", json_boolean(cosigned));
	json_object_set_new(details, "results", json_integer(1));
	if (api_reply_audited_raw(s, q, "logseal.checkpoints.get", details, note, strlen(note),
				  "text/plain; charset=utf-8", r) == LS_OK)
		note = NULL;
out:
	json_decref(details);
	free(note);
}
