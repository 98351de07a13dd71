/*
 * export_formats.c - the SIEM mappings of an export (export.h): each entry
 * as a CSV row (RFC 4180, with a guard against spreadsheet formulas), an
 * Elastic Common Schema (ECS) document or an OCSF event (Authentication for
 * login/logout actions, else API Activity), one per line.  The bundle's own lines are written by export.c; what the formats
 * carry of an event is in docs/FORMAT.md (sections CSV, ECS and OCSF).
 */
#include "followers/export.h"
#include "followers/export_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/event.h"

const char *const export_csv_columns =
	"index,time,received,service,actor_id,actor_type,action,outcome,source_ip,"
	"source_endpoint,resource_type,resource_id,writer,request_id,reason,details,"
	"leaf_hash\r\n";

/* String member at a path of up to two keys, or NULL. */
static const char *jstr(json_t *o, const char *k1, const char *k2, size_t *len)
{
	json_t *v = json_object_get(o, k1);

	if (k2)
		v = json_object_get(v, k2);
	if (!json_is_string(v))
		return NULL;
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

/*
 * One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF,
 * quotes doubled.  A field that starts with = + - @ TAB or CR gets a leading
 * apostrophe so that spreadsheets show it as text instead of running it as
 * a formula (CSV injection); the bundle keeps the exact value.
 */
static ls_rc csv_field(struct obuf *b, const char *s, size_t n)
{
	int quote = 0;
	size_t i;

	if (!s)
		return LS_OK;
	for (i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			quote = 1;
	if (quote && ob_put(b, "\"", 1))
		return LS_NOMEM;
	if (n && s[0] && strchr("=+-@\t\r", s[0]) && ob_put(b, "'", 1))
		return LS_NOMEM;
	for (i = 0; i < n; i++) {
		if (s[i] == '"' && ob_put(b, "\"", 1))
			return LS_NOMEM;
		if (ob_put(b, s + i, 1))
			return LS_NOMEM;
	}
	if (quote && ob_put(b, "\"", 1))
		return LS_NOMEM;
	return LS_OK;
}

static ls_rc csv_row(struct obuf *b, uint64_t index, json_t *ev, const uint8_t leaf[LS_HASH_LEN])
{
	static const char *const cols[][2] = {
		{ "time", NULL }, { "received", NULL }, { "service", NULL },
		{ "actor", "id" }, { "actor", "type" }, { "action", NULL },
		{ "outcome", NULL }, { "source", "ip" }, { "source", "endpoint" },
		{ "resource", "type" }, { "resource", "id" }, { "writer", NULL },
		{ "request_id", NULL }, { "reason", NULL },
	};
	char hex[2 * LS_HASH_LEN + 1], *det = NULL;
	json_t *details;
	size_t i, len = 0;
	const char *s;
	ls_rc rc;

	if (ob_u64(b, index))
		return LS_NOMEM;
	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		s = jstr(ev, cols[i][0], cols[i][1], &len);
		if (ob_put(b, ",", 1) || csv_field(b, s, s ? len : 0))
			return LS_NOMEM;
	}
	if (ob_put(b, ",", 1))
		return LS_NOMEM;
	details = json_object_get(ev, "details");
	if (details) {
		rc = event_canonical(details, &det, &len);
		if (rc != LS_OK)
			return rc;
		rc = csv_field(b, det, len);
		free(det);
		if (rc != LS_OK)
			return rc;
	}
	ls_hex(leaf, LS_HASH_LEN, hex);
	if (ob_put(b, ",", 1) || ob_put(b, hex, 2 * LS_HASH_LEN) || ob_put(b, "\r\n", 2))
		return LS_NOMEM;
	return LS_OK;
}

/* Set o[key] = a copy of the string at the path, when there is one. */
static int copy_str(json_t *o, const char *key, json_t *ev, const char *k1, const char *k2)
{
	const char *s = jstr(ev, k1, k2, NULL);

	return !s || json_object_set_new(o, key, json_string(s)) == 0;
}

/* Set o[key] = v (stolen) unless v is an empty object (then dropped). */
static int set_nonempty(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return 0;
	if (json_is_object(v) && json_object_size(v) == 0) {
		json_decref(v);
		return 1;
	}
	return json_object_set_new(o, key, v) == 0;
}

/* A source endpoint that looks like a URL goes to the URL fields. */
static int is_url(const char *s)
{
	return s && (strstr(s, "://") || s[0] == '/');
}

/*
 * The CRUD verb of an action ("profile.update" -> 3): the part after the
 * last '.', ':' or '/' compared with common verbs (Kubernetes' among them).
 * 0 when unclear.
 */
static int action_verb(const char *action)
{
	static const struct {
		const char *verb;
		int id;
	} verbs[] = {
		{ "create", 1 }, { "add", 1 }, { "insert", 1 }, { "register", 1 },
		{ "upload", 1 }, { "post", 1 }, { "new", 1 },
		{ "read", 2 }, { "get", 2 }, { "view", 2 }, { "list", 2 }, { "query", 2 },
		{ "search", 2 }, { "fetch", 2 }, { "download", 2 }, { "export", 2 },
		{ "watch", 2 }, { "show", 2 }, { "describe", 2 }, { "select", 2 },
		{ "update", 3 }, { "edit", 3 }, { "modify", 3 }, { "patch", 3 }, { "change", 3 },
		{ "set", 3 }, { "rename", 3 }, { "replace", 3 }, { "put", 3 },
		{ "delete", 4 }, { "remove", 4 }, { "destroy", 4 }, { "purge", 4 },
		{ "deletecollection", 4 }, { "erase", 4 },
	};
	const char *v = action, *p;
	size_t i;

	if (!action)
		return 0;
	for (p = action; *p; p++)
		if (*p == '.' || *p == ':' || *p == '/')
			v = p + 1;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcasecmp(v, verbs[i].verb))
			return verbs[i].id;
	return 0;
}

/* The words of an action or resource type: split at . : / _ - and space,
 * lower-cased, at most cap of them, each shorter than 32 bytes. */
static size_t words_of(const char *s, char w[][32], size_t cap)
{
	size_t n = 0, k = 0;

	for (; s && *s && n < cap; s++) {
		if (strchr(".:/_- ", *s)) {
			if (k) {
				w[n++][k] = '\0';
				k = 0;
			}
			continue;
		}
		if (k < 31)
			w[n][k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
	}
	if (k && n < cap)
		w[n++][k] = '\0';
	return n;
}

static int word_in(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(w, *list))
			return 1;
	return 0;
}

/*
 * What kind of event an action is, for the SIEM mappings (docs/FORMAT.md,
 * ECS and OCSF): AUTH_LOGON (login, logon, signin, sign-in, log_in,
 * authenticate, auth, sso), AUTH_LOGOFF (logout, logoff, signout, ...),
 * AUTH_OTHER (mfa, 2fa, otp); else KIND_IAM when a word of the action or
 * of resource.type names an identity or access object (user, group, role,
 * token, ...), KIND_DB for a database object (db, table, sql, ...), else
 * KIND_API.
 */
enum ev_kind { KIND_API, AUTH_LOGON, AUTH_LOGOFF, AUTH_OTHER, KIND_IAM, KIND_DB };

static enum ev_kind event_kind(const char *action, const char *rtype)
{
	static const char *const logon[] = { "login", "logon", "signin", "authenticate",
					     "authentication", "auth", "sso", NULL };
	static const char *const logoff[] = { "logout", "logoff", "signout", NULL };
	static const char *const other[] = { "mfa", "2fa", "otp", "totp", NULL };
	static const char *const iam[] = {
		"user", "users", "group", "groups", "role", "roles", "rolebinding", "rolebindings",
		"clusterrole", "clusterroles", "clusterrolebinding", "clusterrolebindings",
		"serviceaccount", "serviceaccounts", "account", "accounts", "permission",
		"permissions", "privilege", "privileges", "token", "tokens", "apikey", "apikeys",
		"credential", "credentials", "password", "policy", "policies", "member",
		"membership", "identity", NULL
	};
	static const char *const db[] = { "db", "database", "databases", "sql", "table", "tables",
					  "collection", "collections", "schema", "schemas", NULL };
	char w[16][32], r[8][32];
	size_t n = words_of(action, w, 16), nr = words_of(rtype, r, 8), i;

	for (i = 0; i < n; i++) {
		int pair = i + 1 < n && (!strcmp(w[i], "log") || !strcmp(w[i], "sign"));

		if (word_in(w[i], logon) || (pair && !strcmp(w[i + 1], "in")))
			return AUTH_LOGON;
		if (word_in(w[i], logoff) || (pair && !strcmp(w[i + 1], "out")))
			return AUTH_LOGOFF;
		if (word_in(w[i], other))
			return AUTH_OTHER;
	}
	for (i = 0; i < n; i++)
		if (word_in(w[i], iam))
			return KIND_IAM;
	for (i = 0; i < nr; i++)
		if (word_in(r[i], iam))
			return KIND_IAM;
	for (i = 0; i < n; i++)
		if (word_in(w[i], db))
			return KIND_DB;
	for (i = 0; i < nr; i++)
		if (word_in(r[i], db))
			return KIND_DB;
	return KIND_API;
}

/* logseal's own fields that have no standard place, for both mappings. */
static json_t *logseal_fields(struct export_writer *w, uint64_t index, json_t *ev,
			      const uint8_t leaf[LS_HASH_LEN])
{
	char b64[LS_B64_LEN(LS_HASH_LEN) + 1];
	json_t *o = json_object(), *r = json_object(), *d;
	int ok;

	if (!o || !r) {
		json_decref(o);
		json_decref(r);
		return NULL;
	}
	ls_b64_encode(leaf, LS_HASH_LEN, b64, sizeof(b64));
	ok = !json_object_set_new(o, "index", json_integer((json_int_t)index)) &&
	     !json_object_set_new(o, "leaf_hash", json_string(b64)) &&
	     (!w->origin || !json_object_set_new(o, "origin", json_string(w->origin))) &&
	     copy_str(o, "outcome", ev, "outcome", NULL) &&
	     copy_str(o, "writer", ev, "writer", NULL) &&
	     copy_str(o, "remote_ip", ev, "remote_ip", NULL) &&
	     copy_str(o, "received", ev, "received", NULL) &&
	     copy_str(o, "actor_type", ev, "actor", "type") &&
	     copy_str(r, "type", ev, "resource", "type") &&
	     copy_str(r, "id", ev, "resource", "id") &&
	     copy_str(r, "name", ev, "resource", "name");
	if (!ok) {
		json_decref(o);
		json_decref(r);
		return NULL;
	}
	if (!set_nonempty(o, "resource", r)) {
		json_decref(o);
		return NULL;
	}
	d = json_object_get(ev, "details");
	if (d && json_object_set(o, "details", d)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *ecs_event(struct export_writer *w, uint64_t index, json_t *ev,
			 const uint8_t leaf[LS_HASH_LEN])
{
	static const char *const ecs_types[] = { "info", "creation", "access", "change", "deletion" };
	const char *outcome = jstr(ev, "outcome", NULL, NULL);
	const char *ep = jstr(ev, "source", "endpoint", NULL);
	json_t *o = json_object(), *e = json_object(), *u = json_object(), *src = json_object();
	json_t *t = json_array(), *url = json_object(), *ua = json_object(), *svc = json_object();
	json_t *http = json_object(), *ls = logseal_fields(w, index, ev, leaf), *port;
	const char *eo, *cat, *type;
	enum ev_kind kind;
	int ok;

	eo = !outcome ? "unknown" : !strcmp(outcome, "success") ? "success" :
	     !strcmp(outcome, "unknown") ? "unknown" : "failure";
	ok = o && e && u && src && t && url && ua && svc && http && ls;
	/* event.category by the action (ECS 8.11 allowed values), event.type
	 * among those ECS expects for that category. */
	kind = event_kind(jstr(ev, "action", NULL, NULL), jstr(ev, "resource", "type", NULL));
	type = ecs_types[action_verb(jstr(ev, "action", NULL, NULL))];
	switch (kind) {
	case AUTH_LOGON: cat = "authentication"; type = "start"; break;
	case AUTH_LOGOFF: cat = "authentication"; type = "end"; break;
	case AUTH_OTHER: cat = "authentication"; type = "info"; break;
	case KIND_IAM: cat = "iam"; type = !strcmp(type, "access") ? "info" : type; break;
	case KIND_DB:
		cat = "database";
		type = !strcmp(type, "access") || !strcmp(type, "info") ? type : "change";
		break;
	default:
		cat = ep && is_url(ep) ? "web" : "api";
		if (ep && is_url(ep) && strcmp(type, "info"))
			type = "access";
		break;
	}
	ok = ok && !json_array_append_new(t, json_string(type));
	if (ok && outcome && !strcmp(outcome, "denied") && kind == KIND_API && !strcmp(cat, "api"))
		ok = !json_array_append_new(t, json_string("denied"));
	if (ok && outcome && !strcmp(outcome, "error") && (kind == KIND_DB || !strcmp(cat, "web")))
		ok = !json_array_append_new(t, json_string("error"));
	ok = ok && !json_object_set_new(e, "category", json_pack("[s]", cat));
	ok = ok && copy_str(o, "@timestamp", ev, "time", NULL) &&
	     !json_object_set_new(o, "ecs", json_pack("{ss}", "version", ECS_VERSION)) &&
	     !json_object_set_new(e, "kind", json_string("event")) &&
	     copy_str(e, "action", ev, "action", NULL) &&
	     !json_object_set_new(e, "outcome", json_string(eo)) &&
	     !json_object_set(e, "type", t) &&
	     copy_str(e, "id", ev, "id", NULL) &&
	     copy_str(e, "created", ev, "received", NULL) &&
	     copy_str(e, "reason", ev, "reason", NULL) &&
	     !json_object_set_new(e, "provider", json_string("logseal")) &&
	     set_nonempty(o, "event", json_incref(e)) &&
	     copy_str(u, "id", ev, "actor", "id") && copy_str(u, "name", ev, "actor", "name") &&
	     copy_str(u, "email", ev, "actor", "email") &&
	     set_nonempty(o, "user", json_incref(u)) &&
	     copy_str(src, "ip", ev, "source", "ip");
	port = json_object_get(json_object_get(ev, "source"), "port");
	if (ok && json_is_integer(port))
		ok = !json_object_set(src, "port", port);
	if (ok && ep && !is_url(ep))
		ok = !json_object_set_new(src, "address", json_string(ep));
	if (ok && ep && is_url(ep))
		ok = !json_object_set_new(url, "original", json_string(ep));
	ok = ok && set_nonempty(o, "source", json_incref(src)) &&
	     set_nonempty(o, "url", json_incref(url)) &&
	     copy_str(ua, "original", ev, "source", "user_agent") &&
	     set_nonempty(o, "user_agent", json_incref(ua)) &&
	     copy_str(svc, "name", ev, "service", NULL) &&
	     set_nonempty(o, "service", json_incref(svc));
	if (ok && jstr(ev, "request_id", NULL, NULL))
		ok = !json_object_set_new(http, "request",
					  json_pack("{ss}", "id", jstr(ev, "request_id", NULL, NULL)));
	ok = ok && set_nonempty(o, "http", json_incref(http)) &&
	     !json_object_set(o, "logseal", ls);
	json_decref(e);
	json_decref(u);
	json_decref(src);
	json_decref(t);
	json_decref(url);
	json_decref(ua);
	json_decref(svc);
	json_decref(http);
	json_decref(ls);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *ocsf_event(struct export_writer *w, uint64_t index, json_t *ev,
			  const uint8_t leaf[LS_HASH_LEN])
{
	static const char *const names[] = { "Unknown", "Create", "Read", "Update", "Delete" };
	const char *outcome = jstr(ev, "outcome", NULL, NULL);
	const char *action = jstr(ev, "action", NULL, NULL);
	const char *ep = jstr(ev, "source", "endpoint", NULL);
	const char *atype = jstr(ev, "actor", "type", NULL), *ts = jstr(ev, "time", NULL, NULL);
	const char *rcv = jstr(ev, "received", NULL, NULL);
	json_t *o = json_object(), *user = json_object(), *api = json_object(), *src = json_object();
	json_t *http = json_object(), *res = json_object(), *meta, *ls, *port, *svc = json_object();
	int verb = action_verb(action), activity = verb ? verb : 99, status_id, type_id, ok;
	enum ev_kind kind = event_kind(action, jstr(ev, "resource", "type", NULL));
	/* login/logout/auth actions: OCSF Authentication (3002, category 3 Identity &
	 * Access Management; activity 1 Logon, 2 Logoff, 99 Other); the rest: API
	 * Activity (6003, category 6 Application Activity; activity by the verb). */
	int auth = kind == AUTH_LOGON || kind == AUTH_LOGOFF || kind == AUTH_OTHER;
	int class_uid = auth ? 3002 : 6003;
	const char *act_name;
	const char *status;
	int64_t us = 0;
	char idx[24];

	if (!outcome || !strcmp(outcome, "unknown")) {
		status_id = 0;
		status = "Unknown";
	} else if (!strcmp(outcome, "success")) {
		status_id = 1;
		status = "Success";
	} else {
		status_id = 2;
		status = "Failure";
	}
	/* OCSF user type_id: 1 User, 3 System, 99 Other, 0 Unknown. */
	type_id = !atype ? 0 : !strcmp(atype, "user") ? 1 : !strcmp(atype, "system") ? 3 : 99;
	if (ts && event_parse_time(ts, &us) != LS_OK)
		us = 0;
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)index);
	meta = json_pack("{s{ss ss} ss ss ss}", "product", "name", "logseal", "vendor_name",
			 "logseal", "version", OCSF_VERSION, "uid", idx, "log_name",
			 w->origin ? w->origin : "logseal");
	ls = logseal_fields(w, index, ev, leaf);
	ok = o && user && api && src && http && res && meta && ls && svc;
	act_name = verb ? names[verb] : action ? action : "Other";
	if (auth) {
		activity = kind == AUTH_LOGON ? 1 : kind == AUTH_LOGOFF ? 2 : 99;
		act_name = kind == AUTH_LOGON ? "Logon" : kind == AUTH_LOGOFF ? "Logoff" : "Other";
	}
	ok = ok && !json_object_set_new(o, "class_uid", json_integer(class_uid)) &&
	     !json_object_set_new(o, "class_name",
				  json_string(auth ? "Authentication" : "API Activity")) &&
	     !json_object_set_new(o, "category_uid", json_integer(auth ? 3 : 6)) &&
	     !json_object_set_new(o, "category_name",
				  json_string(auth ? "Identity & Access Management"
					      : "Application Activity")) &&
	     !json_object_set_new(o, "activity_id", json_integer(activity)) &&
	     !json_object_set_new(o, "activity_name", json_string(act_name)) &&
	     !json_object_set_new(o, "type_uid", json_integer(class_uid * 100 + activity)) &&
	     !json_object_set_new(o, "severity_id", json_integer(1)) &&
	     !json_object_set_new(o, "severity", json_string("Informational")) &&
	     !json_object_set_new(o, "time", json_integer((json_int_t)floor((double)us / 1000.0))) &&
	     !json_object_set_new(o, "status_id", json_integer(status_id)) &&
	     !json_object_set_new(o, "status", json_string(status)) &&
	     copy_str(o, "status_detail", ev, "outcome", NULL) &&
	     copy_str(o, "message", ev, "reason", NULL) &&
	     !json_object_set(o, "metadata", meta);
	if (ok && ts)
		ok = !json_object_set_new(meta, "original_time", json_string(ts));
	if (ok && rcv && event_parse_time(rcv, &us) == LS_OK)
		ok = !json_object_set_new(meta, "logged_time",
					  json_integer((json_int_t)floor((double)us / 1000.0)));
	ok = ok && copy_str(user, "uid", ev, "actor", "id") &&
	     copy_str(user, "name", ev, "actor", "name") &&
	     copy_str(user, "email_addr", ev, "actor", "email") &&
	     copy_str(user, "type", ev, "actor", "type") &&
	     (!atype || !json_object_set_new(user, "type_id", json_integer(type_id))) &&
	     !json_object_set_new(o, "actor", json_pack("{sO}", "user", user)) &&
	     copy_str(api, "operation", ev, "action", NULL) &&
	     copy_str(svc, "name", ev, "service", NULL) &&
	     set_nonempty(api, "service", json_incref(svc));
	if (ok && jstr(ev, "request_id", NULL, NULL))
		ok = !json_object_set_new(api, "request",
					  json_pack("{ss}", "uid", jstr(ev, "request_id", NULL, NULL)));
	/* Authentication: the user who logs on is "user", the service they log
	 * on to "service"; the action itself stays in unmapped.logseal. */
	if (auth)
		ok = ok && !json_object_set(o, "user", user) &&
		     (!json_object_size(svc) || !json_object_set(o, "service", svc));
	else
		ok = ok && !json_object_set(o, "api", api);
	ok = ok && copy_str(src, "ip", ev, "source", "ip");
	port = json_object_get(json_object_get(ev, "source"), "port");
	if (ok && json_is_integer(port))
		ok = !json_object_set(src, "port", port);
	if (ok && ep && !is_url(ep))
		ok = !json_object_set_new(src, "name", json_string(ep));
	ok = ok && !json_object_set(o, "src_endpoint", src);
	if (ok && ep && is_url(ep))
		ok = !json_object_set_new(http, "url", json_pack("{ss}", "url_string", ep));
	ok = ok && copy_str(http, "user_agent", ev, "source", "user_agent") &&
	     set_nonempty(o, "http_request", json_incref(http)) &&
	     copy_str(res, "type", ev, "resource", "type") &&
	     copy_str(res, "uid", ev, "resource", "id") &&
	     copy_str(res, "name", ev, "resource", "name");
	if (ok && json_object_size(res))
		ok = !json_object_set_new(o, "resources", json_pack("[O]", res));
	ok = ok && !json_object_set_new(o, "unmapped", json_pack("{sO}", "logseal", ls));
	json_decref(user);
	json_decref(api);
	json_decref(src);
	json_decref(http);
	json_decref(res);
	json_decref(meta);
	json_decref(ls);
	json_decref(svc);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

ls_rc export_siem_entry(struct export_writer *w, uint64_t index, const uint8_t *entry,
			size_t len, const uint8_t leaf[LS_HASH_LEN], struct ls_err *err)
{
	json_error_t je;
	json_t *ev, *o;
	ls_rc rc;

	ev = json_loadb((const char *)entry, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(ev)) {
		json_decref(ev);
		return ls_err_set(err, LS_CORRUPT, "entry %llu is not a JSON object",
				  (unsigned long long)index);
	}
	if (w->fmt == EXPORT_CSV) {
		rc = csv_row(&w->b, index, ev, leaf);
		json_decref(ev);
		return rc == LS_OK ? LS_OK : ls_err_set(err, rc, "entry %llu: no CSV form",
							(unsigned long long)index);
	}
	o = w->fmt == EXPORT_ECS ? ecs_event(w, index, ev, leaf) : ocsf_event(w, index, ev, leaf);
	json_decref(ev);
	rc = o ? ob_json(&w->b, o, JSON_PRESERVE_ORDER) : LS_NOMEM;
	json_decref(o);
	if (rc == LS_OK)
		rc = ob_put(&w->b, "\n", 1);
	return rc == LS_OK ? LS_OK : ls_err_set(err, rc, "out of memory");
}
