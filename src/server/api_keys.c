/*
 * api_keys.c - POST /v1/keys/rotate (admin): start a new data key for what
 * is written from now on, with the server running.  The log's sequencer
 * starts a new journal segment between two group commits (log.h
 * log_rotate_key_ids()), so ingest goes on and no acknowledged event is
 * touched; the rotation is then logged as logseal.keys.rotate (actor: the
 * admin token), the first entry sealed under the new key unless a batch got
 * in between.  Re-wrapping the data keys under a new master key stays
 * offline (`logseal keys rotate --new-master-key-...`, server stopped).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"

#include "store/keys.h"
#include "store/log.h"

void api_keys_rotate(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	struct keyring *kr;
	uint32_t old_id = 0, new_id = 0;
	json_t *d;
	ls_rc rc;

	if (q->nargs) {
		reply_error(r, 400, "bad_parameter", "this endpoint takes no parameters");
		return;
	}
	rc = keys_get(s->dir, &kr, &err);
	if (rc == LS_NOTFOUND) {
		reply_error(r, 409, "not_encrypted",
			    "this log is not encrypted (it was made with --no-encryption)");
		return;
	}
	if (rc == LS_OK)
		rc = log_rotate_key_ids(s->log, &old_id, &new_id, &err);
	if (rc != LS_OK) {
		reply_append_error(s, r, rc, &err);
		return;
	}
	d = json_pack("{s:I,s:I}", "key_id", (json_int_t)new_id, "previous_key_id",
		      (json_int_t)old_id);
	rc = d ? api_log_internal(s, q, "logseal.keys.rotate", q->who->id, "success", d) : LS_NOMEM;
	json_decref(d);
	r->status = 200;
	r->body = json_pack("{s:I,s:I,s:I}", "key_id", (json_int_t)new_id, "previous_key_id",
			    (json_int_t)old_id, "data_keys", (json_int_t)keys_count(kr));
	if (!r->body) {
		reply_append_error(s, r, LS_NOMEM, NULL);
		return;
	}
	/* The new key is in use whether or not its event could be written
	 * (as a revocation stands): the reply says which. */
	json_object_set_new(r->body, "logged", json_boolean(rc == LS_OK));
}
