/*
 * formats/syslog.c - RFC 5424 / RFC 3164 syslog messages parsed and mapped
 * onto a native logseal/v1 object (syslog.h has the bytes and the mapping).
 *
 * Invariants:
 *  1. The parser never reads past n and never needs a NUL; every span it
 *     returns lies inside the input.
 *  2. Nothing is guessed that an audit record would state as fact: a
 *     message without actor or action (after the configured defaults) is
 *     refused, never stored with an invented one.
 *  3. The hash id depends on the received bytes only, so a resend of the
 *     same message is the same idempotency key.
 */
#include "core/formats/syslog.h"
#include "core/event.h"
#include "base/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SD_NAME_MAX 32

void syslog_map_init(struct syslog_map *map)
{
	memset(map, 0, sizeof(*map));
	map->sd_id = SYSLOG_DEFAULT_SD_ID;
	map->default_outcome = "unknown";
	map->id_hash = 1;
	map->json_body = 1;
	map->app_service = 1;
	map->msg_max = 8192;
}

/* ======================================================= parser */

struct cur {
	const char *p;
	size_t n, i;
};

static int at_end(const struct cur *c)
{
	return c->i >= c->n;
}

/* A run of PRINTUSASCII (33..126) of 1..max bytes up to SP or the end;
 * "-" gives an absent span. */
static int token(struct cur *c, size_t max, struct syslog_span *out)
{
	size_t s = c->i;

	while (c->i < c->n && c->p[c->i] >= 33 && c->p[c->i] <= 126)
		c->i++;
	if (c->i == s || c->i - s > max)
		return 0;
	if (c->i - s == 1 && c->p[s] == '-') {
		out->p = NULL;
		out->n = 0;
	} else {
		out->p = c->p + s;
		out->n = c->i - s;
	}
	return 1;
}

static int sp(struct cur *c)
{
	if (c->i < c->n && c->p[c->i] == ' ') {
		c->i++;
		return 1;
	}
	return 0;
}

static int sd_name_char(char ch)
{
	return ch >= 33 && ch <= 126 && ch != '=' && ch != ']' && ch != '"';
}

/* One SD-NAME (SD-ID or PARAM-NAME). */
static int sd_name(struct cur *c, struct syslog_span *out)
{
	size_t s = c->i;

	while (c->i < c->n && sd_name_char(c->p[c->i]))
		c->i++;
	if (c->i == s || c->i - s > SD_NAME_MAX)
		return 0;
	out->p = c->p + s;
	out->n = c->i - s;
	return 1;
}

/* One SD-ELEMENT at c ("[" already current); fn (may be NULL) sees each
 * param.  0: malformed; -1: fn stopped. */
static int sd_element(struct cur *c, syslog_sd_fn fn, void *ctx)
{
	struct syslog_span id, name, val;

	c->i++;
	if (!sd_name(c, &id))
		return 0;
	for (;;) {
		int esc = 0;

		if (at_end(c))
			return 0;
		if (c->p[c->i] == ']') {
			c->i++;
			return 1;
		}
		if (!sp(c) || !sd_name(c, &name) || at_end(c) || c->p[c->i++] != '=' ||
		    at_end(c) || c->p[c->i++] != '"')
			return 0;
		val.p = c->p + c->i;
		while (c->i < c->n && c->p[c->i] != '"') {
			if (c->p[c->i] == '\\' && c->i + 1 < c->n) {
				esc = 1;
				c->i++;
			}
			c->i++;
		}
		if (at_end(c))
			return 0;
		val.n = (size_t)(c->p + c->i - val.p);
		c->i++;
		if (fn && fn(ctx, id, name, val, esc))
			return -1;
	}
}

static const char *const months[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int two(const char *s, int *v)
{
	if ((s[0] != ' ' && (s[0] < '0' || s[0] > '9')) || s[1] < '0' || s[1] > '9')
		return 0;
	*v = (s[0] == ' ' ? 0 : (s[0] - '0') * 10) + (s[1] - '0');
	return 1;
}

/* "Mmm dd hh:mm:ss" at c (15 bytes): UTC, in the year that puts it no more
 * than a day after now. */
static int bsd_time(struct cur *c, int64_t now_us, int64_t *us)
{
	const char *s = c->p + c->i;
	struct tm tm;
	time_t now = (time_t)(now_us / 1000000), t;
	int mon, d, h, mi, se;

	if (c->n - c->i < 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':')
		return 0;
	for (mon = 0; mon < 12; mon++)
		if (!memcmp(s, months[mon], 3))
			break;
	if (mon == 12 || !two(s + 4, &d) || !two(s + 7, &h) || s[7] == ' ' ||
	    !two(s + 10, &mi) || s[10] == ' ' || !two(s + 13, &se) || s[13] == ' ' ||
	    d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return 0;
	if (!gmtime_r(&now, &tm))
		return 0;
	for (int back = 0; back < 2; back++) {
		struct tm x = { 0 };

		x.tm_year = tm.tm_year - back;
		x.tm_mon = mon;
		x.tm_mday = d;
		x.tm_hour = h;
		x.tm_min = mi;
		x.tm_sec = se;
		t = timegm(&x);
		if (t == (time_t)-1)
			return 0;
		if (t <= now + 86400)
			break;
	}
	*us = (int64_t)t * 1000000;
	c->i += 15;
	return 1;
}

/* RFC 3339 token at c (used by both grammars). */
static int rfc3339_token(struct cur *c, int64_t *us)
{
	char buf[64];
	size_t s = c->i, len;

	while (c->i < c->n && c->p[c->i] != ' ')
		c->i++;
	len = c->i - s;
	if (len == 0 || len >= sizeof(buf)) {
		c->i = s;
		return 0;
	}
	memcpy(buf, c->p + s, len);
	buf[len] = 0;
	if (event_parse_time(buf, us) != LS_OK) {
		c->i = s;
		return 0;
	}
	return 1;
}

static void set_msg(struct cur *c, struct syslog_msg *m)
{
	const char *p = c->p + c->i;
	size_t n = c->n - c->i;

	if (n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
	    (unsigned char)p[2] == 0xBF) {
		p += 3;
		n -= 3;
	}
	/* A trailing LF is the sender's framing (rsyslog's templates end in
	 * one), not the message's. */
	if (n > 0 && p[n - 1] == '\n')
		n--;
	m->msg.p = n ? p : NULL;
	m->msg.n = n;
}

static ls_rc parse_5424(struct cur *c, struct syslog_msg *m, struct ls_err *err)
{
	struct syslog_span ts;
	size_t sd0;

	if (!token(c, 64, &ts) || !sp(c))
		return ls_err_set(err, LS_INVALID, "RFC 5424: bad TIMESTAMP");
	if (ts.p) {
		struct cur t = { ts.p, ts.n, 0 };

		if (!rfc3339_token(&t, &m->time_us) || t.i != ts.n)
			return ls_err_set(err, LS_INVALID, "RFC 5424: TIMESTAMP is not RFC 3339");
		m->has_time = 1;
	}
	if (!token(c, 255, &m->hostname) || !sp(c))
		return ls_err_set(err, LS_INVALID, "RFC 5424: bad HOSTNAME");
	if (!token(c, 48, &m->app_name) || !sp(c))
		return ls_err_set(err, LS_INVALID, "RFC 5424: bad APP-NAME");
	if (!token(c, 128, &m->procid) || !sp(c))
		return ls_err_set(err, LS_INVALID, "RFC 5424: bad PROCID");
	if (!token(c, 32, &m->msgid) || !sp(c))
		return ls_err_set(err, LS_INVALID, "RFC 5424: bad MSGID");
	sd0 = c->i;
	if (!at_end(c) && c->p[c->i] == '-') {
		c->i++;
	} else {
		if (at_end(c) || c->p[c->i] != '[')
			return ls_err_set(err, LS_INVALID, "RFC 5424: bad STRUCTURED-DATA");
		while (!at_end(c) && c->p[c->i] == '[')
			if (sd_element(c, NULL, NULL) != 1)
				return ls_err_set(err, LS_INVALID,
						  "RFC 5424: bad STRUCTURED-DATA at byte %zu", c->i);
		m->sd.p = c->p + sd0;
		m->sd.n = c->i - sd0;
	}
	if (!at_end(c) && !sp(c))
		return ls_err_set(err, LS_INVALID, "RFC 5424: no space after STRUCTURED-DATA");
	set_msg(c, m);
	return LS_OK;
}

static int tag_char(char ch)
{
	return ch > 32 && ch <= 126 && ch != ':' && ch != '[' && ch != ']';
}

static ls_rc parse_3164(struct cur *c, int64_t now_us, struct syslog_msg *m)
{
	size_t save;

	if (bsd_time(c, now_us, &m->time_us) || rfc3339_token(c, &m->time_us)) {
		m->has_time = 1;
		if (sp(c)) {
			save = c->i;
			/* HOSTNAME, unless what follows is already the TAG. */
			if (!token(c, 255, &m->hostname) || (m->hostname.p &&
			    memchr(m->hostname.p, ':', m->hostname.n)) || !sp(c)) {
				c->i = save;
				m->hostname.p = NULL;
				m->hostname.n = 0;
			}
		}
	}
	/* TAG[PID]: -- only when it ends as a tag does; else all is MSG. */
	save = c->i;
	while (c->i < c->n && tag_char(c->p[c->i]) && c->i - save < 48)
		c->i++;
	if (c->i > save && c->i < c->n && (c->p[c->i] == ':' || c->p[c->i] == '[')) {
		m->app_name.p = c->p + save;
		m->app_name.n = c->i - save;
		if (c->p[c->i] == '[') {
			size_t p0 = ++c->i;

			while (c->i < c->n && c->p[c->i] != ']' && c->i - p0 < 128)
				c->i++;
			if (c->i >= c->n || c->p[c->i] != ']') {
				c->i = save;
				m->app_name.p = NULL;
				m->app_name.n = 0;
				goto msg;
			}
			m->procid.p = c->i > p0 ? c->p + p0 : NULL;
			m->procid.n = c->i - p0;
			c->i++;
		}
		if (c->i < c->n && c->p[c->i] == ':')
			c->i++;
		sp(c);
	} else {
		c->i = save;
	}
msg:
	set_msg(c, m);
	return LS_OK;
}

ls_rc syslog_parse(const char *p, size_t n, int64_t now_us, struct syslog_msg *m,
		   struct ls_err *err)
{
	struct cur c = { p, n, 0 };
	int pri = 0;
	size_t d;

	memset(m, 0, sizeof(*m));
	if (n > SYSLOG_MAX_MSG)
		return ls_err_set(err, LS_LIMIT, "message of %zu bytes (the limit is %d)", n,
				  SYSLOG_MAX_MSG);
	if (n < 3 || p[0] != '<')
		return ls_err_set(err, LS_INVALID, "no <PRI> at the start of the message");
	for (d = 1; d < n && d <= 3 && p[d] >= '0' && p[d] <= '9'; d++)
		pri = pri * 10 + (p[d] - '0');
	if (d == 1 || d >= n || p[d] != '>' || pri > 191)
		return ls_err_set(err, LS_INVALID, "bad <PRI> (a number from 0 to 191 expected)");
	m->pri = pri;
	c.i = d + 1;
	/* VERSION: a digit 1-9, another digit at most, then SP. */
	if (c.i + 1 < n && p[c.i] >= '1' && p[c.i] <= '9') {
		size_t v = c.i + 1;
		int ver = p[c.i] - '0';

		if (v < n && p[v] >= '0' && p[v] <= '9')
			ver = ver * 10 + (p[v++] - '0');
		if (v < n && p[v] == ' ') {
			m->version = ver;
			c.i = v + 1;
			return parse_5424(&c, m, err);
		}
	}
	return parse_3164(&c, now_us, m);
}

int syslog_sd_foreach(const struct syslog_msg *m, syslog_sd_fn fn, void *ctx)
{
	struct cur c = { m->sd.p, m->sd.n, 0 };

	if (!m->sd.p)
		return 0;
	while (!at_end(&c) && c.p[c.i] == '[') {
		int r = sd_element(&c, fn, ctx);

		if (r != 1)
			return r < 0;
	}
	return 0;
}

/* ======================================================= mapping */

/* The params of our SD element, in the order of syslog.h. */
enum { P_ACTOR, P_ACTOR_TYPE, P_ACTOR_NAME, P_ACTION, P_OUTCOME, P_RESOURCE, P_RESOURCE_TYPE,
       P_RESOURCE_NAME, P_SERVICE, P_ID, P_REASON, P_REQUEST_ID, P_SOURCE_IP, P_SOURCE_PORT,
       P_N };
static const char *const our_params[P_N] = {
	"actor", "actor_type", "actor_name", "action", "outcome", "resource", "resource_type",
	"resource_name", "service", "id", "reason", "request_id", "source_ip", "source_port",
};

struct sd_walk {
	const struct syslog_map *map;
	json_t *ours[P_N];	/* strings of our element */
	json_t *other;		/* details.sd */
	int seen_ours;
	ls_rc rc;
	struct ls_err *err;
};

/* The unescaped value as a JSON string (NULL: not UTF-8 / no memory). */
static json_t *sd_value(struct syslog_span v, int esc)
{
	char *b;
	size_t j = 0;
	json_t *s;

	if (!esc)
		return json_stringn(v.n ? v.p : "", v.n);
	b = malloc(v.n + 1);
	if (!b)
		return NULL;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] == '\\' && i + 1 < v.n &&
		    (v.p[i + 1] == '"' || v.p[i + 1] == '\\' || v.p[i + 1] == ']'))
			i++;
		b[j++] = v.p[i];
	}
	s = json_stringn(b, j);
	free(b);
	return s;
}

static int sd_collect(void *ctx, struct syslog_span id, struct syslog_span name,
		      struct syslog_span value, int esc)
{
	struct sd_walk *w = ctx;
	json_t *v = sd_value(value, esc);
	size_t k;

	if (!v) {
		w->rc = ls_err_set(w->err, LS_INVALID, "SD param %.*s: not valid UTF-8",
				   (int)name.n, name.p);
		return 1;
	}
	if (strlen(w->map->sd_id) == id.n && !memcmp(w->map->sd_id, id.p, id.n)) {
		for (k = 0; k < P_N; k++)
			if (strlen(our_params[k]) == name.n && !memcmp(our_params[k], name.p, name.n))
				break;
		if (k < P_N) {
			if (w->ours[k]) {
				json_decref(v);
				w->rc = ls_err_set(w->err, LS_INVALID,
						   "SD param %s given twice in [%s]", our_params[k],
						   w->map->sd_id);
				return 1;
			}
			w->ours[k] = v;
			return 0;
		}
	}
	{
		char idb[SD_NAME_MAX + 1], nb[SD_NAME_MAX + 1];
		json_t *el, *old;

		memcpy(idb, id.p, id.n);
		idb[id.n] = 0;
		memcpy(nb, name.p, name.n);
		nb[name.n] = 0;
		if (!w->other && !(w->other = json_object()))
			goto nomem;
		el = json_object_get(w->other, idb);
		if (!el) {
			el = json_object();
			if (!el || json_object_set_new(w->other, idb, el))
				goto nomem;
		}
		old = json_object_get(el, nb);
		if (!old) {
			if (json_object_set_new(el, nb, v))
				goto nomem_v;
		} else if (json_is_array(old)) {
			if (json_array_append_new(old, v))
				goto nomem_v;
		} else {
			json_t *a = json_pack("[OO]", old, v);

			json_decref(v);
			if (!a || json_object_set_new(el, nb, a))
				goto nomem;
		}
		return 0;
	}
nomem_v:
	json_decref(v);
nomem:
	w->rc = LS_NOMEM;
	return 1;
}

static json_t *span_str(struct syslog_span s)
{
	return json_stringn(s.p ? s.p : "", s.n);
}

/* o.obj.key = v (stolen) unless o.obj.key exists; obj created on demand. */
static int fill(json_t *o, const char *obj, const char *key, json_t *v)
{
	json_t *t = o;

	if (!v)
		return 1;
	if (obj) {
		t = json_object_get(o, obj);
		if (!t) {
			t = json_object();
			if (!t || json_object_set_new(o, obj, t)) {
				json_decref(v);
				return 0;
			}
		} else if (!json_is_object(t)) {
			json_decref(v);
			return 1;	/* the validator says what is wrong with it */
		}
	}
	if (json_object_get(t, key)) {
		json_decref(v);
		return 1;
	}
	return json_object_set_new(t, key, v) == 0;
}

static int has(json_t *o, const char *obj, const char *key)
{
	json_t *t = obj ? json_object_get(o, obj) : o;

	return t && json_object_get(t, key) != NULL;
}

static json_t *take(json_t **p)
{
	json_t *v = *p;

	*p = NULL;
	return v;
}

/* The MSG as a JSON object, or NULL when it is none. */
static json_t *json_body(const struct syslog_msg *m)
{
	size_t i = 0;

	while (i < m->msg.n && (m->msg.p[i] == ' ' || m->msg.p[i] == '\t'))
		i++;
	if (i >= m->msg.n || m->msg.p[i] != '{')
		return NULL;
	json_t *v = json_loadb(m->msg.p + i, m->msg.n - i, JSON_REJECT_DUPLICATES, NULL);

	if (v && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

static json_t *syslog_details(const struct syslog_msg *m, const struct syslog_map *map,
			      struct ls_err *err, ls_rc *rc)
{
	json_t *d = json_object();
	size_t keep = m->msg.n < map->msg_max ? m->msg.n : map->msg_max;

	if (!d) {
		*rc = LS_NOMEM;
		return NULL;
	}
	/* A cut must not split a UTF-8 sequence. */
	while (keep > 0 && keep < m->msg.n && ((unsigned char)m->msg.p[keep] & 0xC0) == 0x80)
		keep--;
	if (json_object_set_new(d, "facility", json_integer(m->pri / 8)) ||
	    json_object_set_new(d, "severity", json_integer(m->pri % 8)) ||
	    (m->hostname.p && json_object_set_new(d, "hostname", span_str(m->hostname))) ||
	    (m->app_name.p && json_object_set_new(d, "app_name", span_str(m->app_name))) ||
	    (m->procid.p && json_object_set_new(d, "procid", span_str(m->procid))) ||
	    (m->msgid.p && json_object_set_new(d, "msgid", span_str(m->msgid)))) {
		json_decref(d);
		*rc = ls_err_set(err, LS_INVALID, "a header field is not valid UTF-8");
		return NULL;
	}
	if (m->msg.p) {
		json_t *s = json_stringn(m->msg.p, keep);

		if (!s || json_object_set_new(d, "msg", s)) {
			json_decref(d);
			*rc = ls_err_set(err, LS_INVALID, "MSG is not valid UTF-8");
			return NULL;
		}
		if (keep < m->msg.n)
			json_object_set_new(d, "msg_bytes", json_integer((json_int_t)m->msg.n));
	}
	return d;
}

ls_rc syslog_to_native(const char *raw, size_t n, const struct syslog_map *map,
		       const char *peer_ip, const char *bound_service, int64_t now_us,
		       json_t **out, struct ls_err *err)
{
	struct syslog_msg m;
	struct sd_walk w;
	json_t *o = NULL;
	int body = 0;
	char tbuf[40];
	ls_rc rc;

	*out = NULL;
	memset(&w, 0, sizeof(w));
	w.map = map;
	w.err = err;
	w.rc = LS_OK;
	rc = syslog_parse(raw, n, now_us, &m, err);
	if (rc != LS_OK)
		return rc;
	if (syslog_sd_foreach(&m, sd_collect, &w)) {
		rc = w.rc;
		goto out;
	}
	if (map->json_body && (o = json_body(&m)) != NULL)
		body = 1;
	if (!o && !(o = json_object())) {
		rc = LS_NOMEM;
		goto out;
	}

	/* 2. our SD element, 3. the header, 4. the defaults: each only where
	 * the event has nothing yet (fill() never overwrites). */
	event_format_time(m.has_time ? m.time_us : now_us, tbuf, sizeof(tbuf));
	if (!fill(o, NULL, "time", json_string(tbuf)) ||
	    !fill(o, "actor", "id", take(&w.ours[P_ACTOR])) ||
	    !fill(o, "actor", "type", take(&w.ours[P_ACTOR_TYPE])) ||
	    !fill(o, "actor", "name", take(&w.ours[P_ACTOR_NAME])) ||
	    !fill(o, NULL, "action", take(&w.ours[P_ACTION])) ||
	    !fill(o, NULL, "outcome", take(&w.ours[P_OUTCOME])) ||
	    !fill(o, NULL, "reason", take(&w.ours[P_REASON])) ||
	    !fill(o, NULL, "request_id", take(&w.ours[P_REQUEST_ID])) ||
	    !fill(o, NULL, "id", take(&w.ours[P_ID])))
		goto nomem;
	if (w.ours[P_RESOURCE] || w.ours[P_RESOURCE_TYPE] || w.ours[P_RESOURCE_NAME]) {
		if (!fill(o, "resource", "id", take(&w.ours[P_RESOURCE])) ||
		    !fill(o, "resource", "type", take(&w.ours[P_RESOURCE_TYPE])) ||
		    !fill(o, "resource", "name", take(&w.ours[P_RESOURCE_NAME])))
			goto nomem;
	}
	if (w.ours[P_SERVICE] && !fill(o, NULL, "service", take(&w.ours[P_SERVICE])))
		goto nomem;
	if (!json_object_get(o, "source")) {
		if (w.ours[P_SOURCE_IP]) {
			if (!fill(o, "source", "ip", take(&w.ours[P_SOURCE_IP])))
				goto nomem;
		} else if (m.hostname.p) {
			if (!fill(o, "source", "endpoint", span_str(m.hostname)))
				goto nomem;
		} else if (peer_ip && *peer_ip) {
			if (!fill(o, "source", "ip", json_string(peer_ip)))
				goto nomem;
		}
		if (w.ours[P_SOURCE_PORT] && json_object_get(o, "source")) {
			const char *ps = json_string_value(w.ours[P_SOURCE_PORT]);
			char *end;
			long port = strtol(ps, &end, 10);

			if (!*ps || *end || port < 0 || port > 65535) {
				rc = ls_err_set(err, LS_INVALID, "SD param source_port: not a port");
				goto out;
			}
			if (!fill(o, "source", "port", json_integer(port)))
				goto nomem;
		}
	}
	if (m.msgid.p && !fill(o, NULL, "action", span_str(m.msgid)))
		goto nomem;
	if (map->app_service && !bound_service && m.app_name.p &&
	    !fill(o, NULL, "service", span_str(m.app_name)))
		goto nomem;
	if (map->default_outcome && !fill(o, NULL, "outcome", json_string(map->default_outcome)))
		goto nomem;
	if (map->default_actor && !has(o, "actor", "id") &&
	    !fill(o, "actor", "id", json_string(map->default_actor)))
		goto nomem;
	if (map->default_action && !fill(o, NULL, "action", json_string(map->default_action)))
		goto nomem;
	if (!has(o, "actor", "id")) {
		rc = ls_err_set(err, LS_INVALID, "no actor: no param actor in SD element [%s]%s", map->sd_id,
				map->json_body ? " or a JSON event as MSG" : "");
		goto out;
	}
	if (!json_object_get(o, "action")) {
		rc = ls_err_set(err, LS_INVALID, "no action: no param action in SD element [%s] and no MSGID",
				map->sd_id);
		goto out;
	}
	if (!json_object_get(o, "outcome")) {
		rc = ls_err_set(err, LS_INVALID, "no outcome: no param outcome in SD element [%s]",
				map->sd_id);
		goto out;
	}
	if (!json_object_get(o, "source")) {
		rc = ls_err_set(err, LS_INVALID, "no source: no HOSTNAME and no peer address");
		goto out;
	}
	/* 5. the id of a resend is the id of the first sending. */
	if (map->id_hash && !json_object_get(o, "id")) {
		uint8_t h[LS_HASH_LEN];
		char id[8 + 2 * LS_HASH_LEN + 1];

		ls_sha256(raw, n, NULL, 0, h);
		memcpy(id, "syslog:", 7);
		ls_hex(h, sizeof(h), id + 7);
		if (!fill(o, NULL, "id", json_string(id)))
			goto nomem;
	}
	if (!body) {
		json_t *det = json_object(), *sl;

		if (!det || json_object_set_new(o, "details", det))
			goto nomem;
		sl = syslog_details(&m, map, err, &rc);
		if (!sl)
			goto out;
		if (json_object_set_new(det, "syslog", sl))
			goto nomem;
		if (w.other && json_object_set_new(det, "sd", take(&w.other)))
			goto nomem;
	}
	*out = o;
	o = NULL;
	rc = LS_OK;
	goto out;
nomem:
	rc = ls_err_set(err, LS_NOMEM, "out of memory");
out:
	for (size_t k = 0; k < P_N; k++)
		json_decref(w.ours[k]);
	json_decref(w.other);
	json_decref(o);
	return rc;
}
