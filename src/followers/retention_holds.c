/*
 * retention_holds.c - legal holds: the key that pseudonymises actors in
 * holds.json, parsing and storing holds, and whether a hold blocks the
 * archive or purge of a segment (retention.c logs the events that place and
 * remove them).
 */
#include "followers/retention_int.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"
#include "store/keys.h"

/* ---------------------------------------------------------------- holds --- */

ls_rc retention_actor_key(const char *datadir, uint8_t key[32], struct ls_err *err)
{
	struct keyring *kr;
	ls_rc rc;

	memset(key, 0, 32);
	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	return keys_derive(kr, ACTOR_LABEL, key, err);
}

void ret_actor_hash(const uint8_t key[32], const char *actor, char out[65])
{
	uint8_t h[32];

	ls_hmac_sha256(key, 32, actor, strlen(actor), h);
	ls_hex(h, 32, out);
}

void hold_release(struct hold *h)
{
	if (!h)
		return;
	free(h->value);
	free(h->reason);
	memset(h, 0, sizeof(*h));
}

void holds_free(struct holds *hs)
{
	if (!hs)
		return;
	for (size_t i = 0; i < hs->n; i++)
		hold_release(&hs->v[i]);
	free(hs->v);
	memset(hs, 0, sizeof(*hs));
}

static ls_rc time_field(json_t *o, const char *k, int64_t *us, struct ls_err *err)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_string(v) || event_parse_time(json_string_value(v), us) != LS_OK)
		return ls_err_set(err, LS_INVALID, "'%s': must be an RFC 3339 time", k);
	return LS_OK;
}

/* From a stored or posted object; stored holds carry id, kind and the hash. */
static ls_rc hold_from_json(json_t *o, int stored, const uint8_t actor_key[32], struct hold *h,
			    struct ls_err *err)
{
	json_t *v;
	const char *k;
	int kinds = 0;
	ls_rc rc;

	memset(h, 0, sizeof(*h));
	if (!json_is_object(o))
		return ls_err_set(err, LS_INVALID, "a hold must be a JSON object");
	json_object_foreach(o, k, v) {
		if (!strcmp(k, "service") || !strcmp(k, "actor") || !strcmp(k, "from"))
			kinds++;
		else if (strcmp(k, "to") && strcmp(k, "reason") &&
			 !(stored && (!strcmp(k, "id") || !strcmp(k, "placed") ||
				      !strcmp(k, "actor_hash"))))
			return ls_err_set(err, LS_INVALID, "unknown field '%s'", k);
	}
	if (stored && json_object_get(o, "actor_hash"))
		kinds++;
	if (kinds != 1)
		return ls_err_set(err, LS_INVALID,
				  "a hold names exactly one of service, actor, or from/to");
	v = json_object_get(o, "reason");
	if (v && (!json_is_string(v) || strlen(json_string_value(v)) > 1024))
		return ls_err_set(err, LS_INVALID, "'reason': a string of at most 1024 bytes");
	if (v && !(h->reason = strdup(json_string_value(v))))
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if ((v = json_object_get(o, "service"))) {
		if (!json_is_string(v) || !*json_string_value(v) ||
		    strlen(json_string_value(v)) > 128) {
			rc = ls_err_set(err, LS_INVALID, "'service': 1 to 128 bytes");
			goto fail;
		}
		h->kind = HOLD_SERVICE;
		h->value = strdup(json_string_value(v));
	} else if ((v = json_object_get(o, "actor"))) {
		char hex[65];

		if (!json_is_string(v) || !*json_string_value(v) ||
		    strlen(json_string_value(v)) > 1024) {
			rc = ls_err_set(err, LS_INVALID, "'actor': 1 to 1024 bytes");
			goto fail;
		}
		h->kind = HOLD_ACTOR;
		ret_actor_hash(actor_key, json_string_value(v), hex);
		h->value = strdup(hex);
	} else if ((v = json_object_get(o, "actor_hash"))) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != 64) {
			rc = ls_err_set(err, LS_CORRUPT, "holds.json: bad actor_hash");
			goto fail;
		}
		h->kind = HOLD_ACTOR;
		h->value = strdup(json_string_value(v));
	} else {
		h->kind = HOLD_TIME;
		if ((rc = time_field(o, "from", &h->from_us, err)) != LS_OK ||
		    (rc = time_field(o, "to", &h->to_us, err)) != LS_OK)
			goto fail;
		if (h->to_us < h->from_us) {
			rc = ls_err_set(err, LS_INVALID, "'to' is before 'from'");
			goto fail;
		}
	}
	if (h->kind != HOLD_TIME && !h->value) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	if (h->kind != HOLD_TIME && json_object_get(o, "to")) {
		rc = ls_err_set(err, LS_INVALID, "'to' goes with 'from' only");
		goto fail;
	}
	if (stored) {
		v = json_object_get(o, "id");
		if (!json_is_string(v) || strlen(json_string_value(v)) != 32) {
			rc = ls_err_set(err, LS_CORRUPT, "holds.json: bad id");
			goto fail;
		}
		memcpy(h->id, json_string_value(v), 33);
		v = json_object_get(o, "placed");
		if (json_is_string(v))
			event_parse_time(json_string_value(v), &h->placed_us);
	}
	return LS_OK;
fail:
	hold_release(h);
	return rc;
}

ls_rc hold_parse(const char *body, size_t n, const uint8_t actor_key[32], struct hold *h,
		 struct ls_err *err)
{
	json_error_t je;
	json_t *o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
	ls_rc rc;

	memset(h, 0, sizeof(*h));
	if (!o)
		return ls_err_set(err, LS_INVALID, "body is not JSON: %s", je.text);
	rc = hold_from_json(o, 0, actor_key, h, err);
	json_decref(o);
	return rc;
}

json_t *ret_hold_to_json(const struct hold *h)
{
	char t[40];
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_string(h->id));
	if (h->kind == HOLD_SERVICE) {
		json_object_set_new(o, "service", json_string(h->value));
	} else if (h->kind == HOLD_ACTOR) {
		json_object_set_new(o, "actor_hash", json_string(h->value));
	} else {
		event_format_time(h->from_us, t, sizeof(t));
		json_object_set_new(o, "from", json_string(t));
		event_format_time(h->to_us, t, sizeof(t));
		json_object_set_new(o, "to", json_string(t));
	}
	event_format_time(h->placed_us, t, sizeof(t));
	json_object_set_new(o, "placed", json_string(t));
	if (h->reason)
		json_object_set_new(o, "reason", json_string(h->reason));
	return o;
}

json_t *ret_holds_to_json(const struct holds *hs)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < hs->n; i++)
		if (json_array_append_new(a, ret_hold_to_json(&hs->v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

ls_rc holds_load(const char *datadir, struct holds *out, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	size_t len, i;
	json_error_t je;
	json_t *root, *arr, *v;
	uint8_t zero[32] = { 0 };
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/holds.json", datadir);
	rc = fs_read_file(path, HOLDS_MAX, &text, &len, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	arr = json_object_get(root, "holds");
	if (!json_is_array(arr) || json_array_size(arr) > RETENTION_MAX_HOLDS) {
		json_decref(root);
		return ls_err_set(err, LS_CORRUPT, "%s: not a holds file", path);
	}
	out->v = calloc(json_array_size(arr) + 1, sizeof(*out->v));
	if (!out->v) {
		json_decref(root);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	json_array_foreach(arr, i, v) {
		rc = hold_from_json(v, 1, zero, &out->v[out->n], err);
		if (rc != LS_OK) {
			json_decref(root);
			holds_free(out);
			return ls_err_set(err, LS_CORRUPT, "%s: hold %zu: %s", path, i,
					  err ? err->msg : "");
		}
		out->n++;
	}
	json_decref(root);
	return LS_OK;
}

ls_rc ret_holds_save(const char *datadir, const struct holds *hs, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	json_t *root = json_object();
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/holds.json", datadir);
	if (!root || json_object_set_new(root, "holds", ret_holds_to_json(hs))) {
		json_decref(root);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = fs_write_file(path, text, strlen(text), 0600, 0, err);
	free(text);
	return rc;
}

int ret_list_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

int holds_block(const struct holds *hs, const struct retention_seg *seg)
{
	for (size_t i = 0; i < hs->n; i++) {
		const struct hold *h = &hs->v[i];

		switch (h->kind) {
		case HOLD_SERVICE:
			if (ret_list_has(seg->services, seg->nservices, h->value))
				return 1;
			break;
		case HOLD_ACTOR:
			if (seg->actors_truncated || ret_list_has(seg->actors, seg->nactors, h->value))
				return 1;
			break;
		case HOLD_TIME:
			if (h->from_us <= seg->newest_us && seg->oldest_us <= h->to_us)
				return 1;
			break;
		}
	}
	return 0;
}
