/*
 * api_searches.c - saved searches, kept in the log's own configuration:
 *	GET    /v1/searches        auditor|admin  the caller's and the shared ones
 *	POST   /v1/searches        auditor|admin  {"name","query","shared"} -> 201
 *	DELETE /v1/searches/{id}   auditor|admin  its owner, or an admin
 *
 * A search belongs to the token that saved it ("owner", its id); "shared":
 * true shows it to every reader.  "query" is the dashboard's filter text
 * (what it puts in its URL fragment: "service=billing&outcome=denied"),
 * never a token; the server stores it and does not interpret it.
 *
 * File DIR/searches.json, sealed like the alert files (cfgseal.h, purpose
 * CFGSEAL_ALERTS; the seal covers the file's name), mode 0600, replaced
 * durably on every change:
 *	{"version":1,"searches":[{"id":"s_<16 hex>","name":"...","query":"...",
 *	  "shared":false,"owner":"tok_...","created":"<UTC time>"}, ...]}
 *
 * Saving and deleting are events (logseal.search.save, .delete; actor the
 * token) written after the file: a change whose event cannot be written is
 * undone.  Listing is an audited read (logseal.searches.list).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "core/event.h"
#include "store/cfgseal.h"

#define SEARCHES_FILE "searches.json"
#define SEARCHES_MAX 1000
#define SEARCH_NAME_MAX 200
#define SEARCH_QUERY_MAX 4096
#define SEARCHES_FILE_MAX (8u << 20)

/* One writer at a time: read, change, write back. */
static pthread_mutex_t searches_mu = PTHREAD_MUTEX_INITIALIZER;

static ls_rc load(struct server *s, json_t **out, struct ls_err *err)
{
	char path[4096], *text;
	size_t len;
	json_error_t je;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/" SEARCHES_FILE, s->dir);
	rc = cfgseal_read_file(s->dir, CFGSEAL_ALERTS, path, SEARCHES_FILE_MAX, &text, &len, err);
	if (rc == LS_NOTFOUND) {
		*out = json_pack("{sis[]}", "version", 1, "searches");
		return *out ? LS_OK : ls_err_set(err, LS_NOMEM, "out of memory");
	}
	if (rc != LS_OK)
		return rc;
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!json_is_array(json_object_get(*out, "searches"))) {
		json_decref(*out);
		*out = NULL;
		return ls_err_set(err, LS_CORRUPT, "%s: not a saved-search file", path);
	}
	return LS_OK;
}

static ls_rc save(struct server *s, json_t *root, struct ls_err *err)
{
	char path[4096], *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	ls_rc rc;

	if (!text)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/" SEARCHES_FILE, s->dir);
	rc = cfgseal_write_file(s->dir, CFGSEAL_ALERTS, path, text, strlen(text), 0600, err);
	free(text);
	return rc;
}

static int visible(const json_t *e, const struct auth_principal *who)
{
	const char *owner = json_string_value(json_object_get(e, "owner"));

	return json_is_true(json_object_get(e, "shared")) || (owner && !strcmp(owner, who->id));
}

static int text_ok(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

static void field_error(struct reply *r, const char *field, const char *msg)
{
	reply_error(r, 400, "invalid_request", "%s: %s", field, msg);
	json_object_set_new(json_object_get(r->body, "error"), "field", json_string(field));
}

void api_searches_get(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_t *root = NULL, *list, *e, *out, *d;
	size_t i;
	ls_rc rc;

	pthread_mutex_lock(&searches_mu);
	rc = load(s, &root, &err);
	pthread_mutex_unlock(&searches_mu);
	if (rc != LS_OK) {
		api_reply_rc(s, r, rc, API_RC_READ, "%s", err.msg);
		return;
	}
	list = json_array();
	json_array_foreach(json_object_get(root, "searches"), i, e)
		if (visible(e, q->who))
			json_array_append(list, e);
	json_decref(root);
	out = json_pack("{so}", "searches", list);
	d = json_pack("{sI}", "results", (json_int_t)json_array_size(list));
	api_reply_audited(s, q, "logseal.searches.list", d, &out, r);
	json_decref(d);
	json_decref(out);
}

void api_searches_post(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_error_t je;
	json_t *body, *root = NULL, *e = NULL, *v, *d;
	const char *k, *name, *query;
	uint8_t rnd[8];
	char id[24], tb[40];
	struct timespec ts;
	ls_rc rc;

	body = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(body)) {
		json_decref(body);
		reply_error(r, 400, "invalid_json", "the body must be a JSON object");
		return;
	}
	json_object_foreach(body, k, v) {
		if (strcmp(k, "name") && strcmp(k, "query") && strcmp(k, "shared")) {
			field_error(r, k, "unknown field");
			goto out;
		}
	}
	name = json_string_value(json_object_get(body, "name"));
	query = json_string_value(json_object_get(body, "query"));
	v = json_object_get(body, "shared");
	if (!name || !text_ok(name, SEARCH_NAME_MAX)) {
		field_error(r, "name", "required, 1..200 printable characters");
		goto out;
	}
	if (!query || !text_ok(query, SEARCH_QUERY_MAX)) {
		field_error(r, "query", "required, the filters (1..4096 printable characters)");
		goto out;
	}
	if (v && !json_is_boolean(v)) {
		field_error(r, "shared", "true or false");
		goto out;
	}
	if (strstr(query, "lsk_")) {
		field_error(r, "query", "must not hold a token");
		goto out;
	}
	if (ls_random(rnd, sizeof(rnd)) != LS_OK) {
		api_reply_rc(s, r, LS_IO, API_RC_WRITE, "no randomness");
		goto out;
	}
	memcpy(id, "s_", 2);
	ls_hex(rnd, sizeof(rnd), id + 2);
	clock_gettime(CLOCK_REALTIME, &ts);
	event_format_time((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, tb, sizeof(tb));
	e = json_pack("{sssssssbssss}", "id", id, "name", name, "query", query, "shared",
		      json_is_true(v), "owner", q->who->id, "created", tb);
	pthread_mutex_lock(&searches_mu);
	rc = load(s, &root, &err);
	if (rc == LS_OK && json_array_size(json_object_get(root, "searches")) >= SEARCHES_MAX)
		rc = ls_err_set(&err, LS_LIMIT, "at most %d saved searches", SEARCHES_MAX);
	if (rc == LS_OK) {
		json_array_append(json_object_get(root, "searches"), e);
		rc = save(s, root, &err);
	}
	if (rc == LS_OK) {
		d = json_pack("{sssssb}", "search_id", id, "name", name, "shared", json_is_true(v));
		rc = api_log_internal(s, q, "logseal.search.save", q->who->id, "success", d);
		json_decref(d);
		if (rc != LS_OK) {
			json_t *arr = json_object_get(root, "searches");
			json_array_remove(arr, json_array_size(arr) - 1);
			save(s, root, NULL);
			pthread_mutex_unlock(&searches_mu);
			reply_append_error(s, r, rc, NULL);
			goto out;
		}
	}
	pthread_mutex_unlock(&searches_mu);
	if (rc == LS_LIMIT) {
		reply_error(r, 409, "limit", "%s", err.msg);
	} else if (rc != LS_OK) {
		reply_append_error(s, r, rc, &err);
	} else {
		r->status = 201;
		r->body = json_incref(e);
	}
out:
	json_decref(e);
	json_decref(root);
	json_decref(body);
}

void api_searches_delete(struct server *s, const struct request *q, struct reply *r)
{
	struct ls_err err = { { 0 } };
	json_t *root = NULL, *arr, *e, *gone = NULL, *d;
	size_t i, at = 0;
	ls_rc rc;

	pthread_mutex_lock(&searches_mu);
	rc = load(s, &root, &err);
	if (rc != LS_OK) {
		pthread_mutex_unlock(&searches_mu);
		api_reply_rc(s, r, rc, API_RC_READ, "%s", err.msg);
		return;
	}
	arr = json_object_get(root, "searches");
	json_array_foreach(arr, i, e) {
		if (!strcmp(json_string_value(json_object_get(e, "id")) ?: "", q->tail) &&
		    visible(e, q->who)) {
			gone = json_incref(e);
			at = i;
			break;
		}
	}
	if (!gone) {
		pthread_mutex_unlock(&searches_mu);
		json_decref(root);
		reply_error(r, 404, "not_found", "no saved search with this id");
		return;
	}
	/* a shared search is everyone's to see, its owner's (or an admin's) to delete */
	if (strcmp(json_string_value(json_object_get(gone, "owner")) ?: "", q->who->id) &&
	    !(q->who->roles & AUTH_ROLE_ADMIN)) {
		pthread_mutex_unlock(&searches_mu);
		json_decref(gone);
		json_decref(root);
		reply_error(r, 403, "forbidden", "only its owner or an admin deletes a shared search");
		return;
	}
	json_array_remove(arr, at);
	rc = save(s, root, &err);
	if (rc == LS_OK) {
		d = json_pack("{sO}", "search_id", json_object_get(gone, "id"));
		rc = api_log_internal(s, q, "logseal.search.delete", q->who->id, "success", d);
		json_decref(d);
		if (rc != LS_OK) {
			json_array_insert(arr, at, gone);
			save(s, root, NULL);
		}
	}
	pthread_mutex_unlock(&searches_mu);
	if (rc != LS_OK) {
		reply_append_error(s, r, rc, &err);
	} else {
		r->status = 200;
		r->body = json_pack("{sOsb}", "id", json_object_get(gone, "id"), "deleted", 1);
	}
	json_decref(gone);
	json_decref(root);
}
