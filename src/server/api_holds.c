/*
 * api_holds.c - POST/GET/DELETE /v1/holds (admin): legal holds that keep
 * matching content from being purged (retention.h).  Placing and releasing
 * are logged as logseal.hold.place / logseal.hold.release with the admin
 * token as actor, after the hold file is durable.  GET /v1/retention/plan
 * (auditor or admin) is the dry run of the policy the hold screens show.
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/log.h"
#include "followers/retention.h"

static int parse_reply(struct reply *r, unsigned status, const char *json)
{
	json_error_t je;

	r->body = json_loads(json, 0, &je);
	if (!r->body) {
		reply_error(r, 500, "internal", "cannot build the reply");
		return 0;
	}
	r->status = status;
	return 1;
}

void api_holds_post(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	char *json = NULL;
	ls_rc rc;

	rc = retention_hold_place(s->log, q->body, q->body_len, q->who->id, q->received_us, &json,
				  &err);
	if (rc == LS_INVALID) {
		reply_error(r, 400, "invalid_request", "%s", err.msg);
	} else if (rc == LS_LIMIT) {
		reply_error(r, 409, "too_many_holds", "%s", err.msg);
	} else if (rc != LS_OK) {
		reply_append_error(s, r, rc, &err);
	} else {
		parse_reply(r, 201, json);
	}
	free(json);
}

void api_holds_get(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	char *json = NULL;

	if (retention_holds_json(log_dir(s->log), &json, &err) != LS_OK) {
		reply_error(r, 500, "internal", "%s", err.msg);
		return;
	}
	if (parse_reply(r, 200, json)) {
		json_t *o = json_object(), *d;

		json_object_set_new(o, "holds", r->body);
		r->body = NULL;
		/* Holds are configuration: reading them is an audited read, and
		 * when its event cannot be written the reply is the refusal
		 * (fail closed). */
		d = json_pack("{sI}", "results",
			      (json_int_t)json_array_size(json_object_get(o, "holds")));
		api_reply_audited(s, q, "logseal.holds.list", d, &o, r);
		json_decref(d);
		json_decref(o);
	}
	free(json);
}

void api_holds_delete(struct server *s, const struct request *q, struct reply *r)
{
	const char *id = q->tail, *why = NULL;
	struct ls_err err = { { 0 } };
	ls_rc rc;

	/* ?reason=...: why it is released, kept in the release's event */
	for (size_t i = 0; i < q->nargs; i++) {
		if (strcmp(q->args[i].key, "reason") || !q->args[i].value[0] ||
		    strlen(q->args[i].value) > 1024) {
			reply_error(r, 400, "bad_parameter", "only reason=<why, 1..1024 bytes>");
			return;
		}
		why = q->args[i].value;
	}
	rc = retention_hold_release_why(s->log, id, q->who->id, why, q->received_us, &err);
	if (rc == LS_NOTFOUND) {
		reply_error(r, 404, "not_found", "no hold with this id");
		return;
	}
	if (rc != LS_OK) {
		reply_append_error(s, r, rc, &err);
		return;
	}
	r->status = 200;
	r->body = json_pack("{s:s,s:b}", "id", id, "released", 1);
}

/* GET /v1/retention/plan: what the policy would archive and purge now,
 * and what each hold keeps (retention_plan()); an audited read. */
void api_retention_plan(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	struct timespec ts;
	json_t *out = NULL, *d;
	ls_rc rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	rc = retention_plan(s->log, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, &out, &err);
	if (rc != LS_OK) {
		api_reply_rc(s, r, rc, API_RC_READ, "%s", err.msg);
		return;
	}
	d = json_pack("{sIsI}", "archive", (json_int_t)json_array_size(json_object_get(out, "archive")),
		      "purge", (json_int_t)json_array_size(json_object_get(out, "purge")));
	api_reply_audited(s, q, "logseal.retention.plan", d, &out, r);
	json_decref(d);
	json_decref(out);
}
