/*
 * index_row.c - extracting a row (the dozen fields the index keeps) from an
 * entry's JSON, and index_entry_fields() which shows that row.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ============================================== extracting a row from JSON */

/*
 * A small scanner instead of jansson: the follower must keep up with ingest
 * (> 100k entries/s on catch-up) and needs a dozen strings, not a tree.  It
 * accepts valid JSON exactly; on anything else it only promises to stay in
 * bounds and to terminate, and the caller then indexes the entry with every
 * field NULL.  Its tokens (white space, strings, numbers, literals) are the
 * JSON lexer's (base/jlex.h); only the walk over members is its own.
 */

struct scan {
	const uint8_t *p, *end;
	char *arena;		/* decoded strings, NUL-terminated */
	size_t used, cap;
};

enum scope { S_TOP, S_ACTOR, S_SOURCE, S_RESOURCE };

static void sc_ws(struct scan *s)
{
	s->p += jlex_ws((const char *)s->p, (size_t)(s->end - s->p), 0);
}

/*
 * A string at s->p (which is at '"'), read by the lexer (jlex.h) with its
 * UTF-8 unchecked (entries were checked when they were written) and \u0000
 * let through.  With out, decode into out[0..cap) and set *len; *usable = 0
 * when it held \u0000 or did not fit (it is then skipped whole and not
 * indexed).  -1 when it is not a JSON string.
 */
static int sc_string(struct scan *s, char *out, size_t cap, size_t *len, bool *usable)
{
	const char *b = (const char *)s->p;
	size_t m = (size_t)(s->end - s->p), i = 1, n = 0;
	bool ok = out != NULL;
	struct jlex_str t;
	int k;

	while ((k = jlex_str_next(b, m, &i, JLEX_RAW | JLEX_NUL, &t)) > 0) {
		const char *src = k == JLEX_RUN ? b + t.start : t.utf8;
		size_t sn = k == JLEX_RUN ? i - t.start : t.len;

		if ((k == JLEX_CHAR && t.cp == 0) || sn > cap - n)
			ok = false;
		if (ok) {
			memcpy(out + n, src, sn);
			n += sn;
		}
	}
	s->p += i;
	if (k == JLEX_ERR)
		return -1;
	if (len)
		*len = n;
	if (usable)
		*usable = ok;
	return 0;
}

/* Skip one value of any kind.  Brackets are counted, not matched: on valid
 * JSON that is exact, on anything else it still ends. */
static int sc_skip(struct scan *s)
{
	int depth = 0;

	for (;;) {
		uint8_t c;

		sc_ws(s);
		if (s->p >= s->end)
			return -1;
		c = *s->p;
		if (c == '"') {
			if (sc_string(s, NULL, 0, NULL, NULL))
				return -1;
		} else if (c == '{' || c == '[') {
			depth++;	/* no recursion: depth <= input length */
			s->p++;
			continue;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return -1;
			depth--;
			s->p++;
		} else if (c == ',' || c == ':') {
			if (depth == 0)
				return -1;
			s->p++;
			continue;
		} else {
			/* a number or a literal, by the lexer's grammar */
			size_t i = 0;
			bool real;

			if (!(jlex_number_start(c) ? jlex_number((const char *)s->p,
								  (size_t)(s->end - s->p), &i, &real)
						   : jlex_literal_any((const char *)s->p,
								      (size_t)(s->end - s->p), &i)))
				return -1;
			s->p += i;
		}
		if (depth == 0)
			return 0;
	}
}

/* A string value into the arena: *v and *vn, or left NULL when the value is
 * not a usable string (it is skipped). */
static int sc_take(struct scan *s, const char **v, size_t *vn)
{
	size_t n;
	bool ok;

	sc_ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p != '"')
		return sc_skip(s);
	if (s->cap - s->used < 1 ||
	    sc_string(s, s->arena + s->used, s->cap - s->used - 1, &n, &ok))
		return -1;
	if (!ok)
		return 0;
	s->arena[s->used + n] = '\0';
	*v = s->arena + s->used;
	*vn = n;
	s->used += n + 1;
	return 0;
}

static int sc_object(struct scan *s, enum scope scope, struct row *r, int depth);

/* A time value: into *us (and *has) when it is a string event_parse_time()
 * takes; skipped otherwise. */
static int sc_time(struct scan *s, int64_t *us, bool *has)
{
	const char *t = NULL;
	size_t tn = 0;
	int64_t v;

	if (sc_take(s, &t, &tn))
		return -1;
	/* a taken string holds no NUL (sc_string) */
	if (t && event_parse_time(t, &v) == LS_OK) {
		*us = v;
		*has = true;
	}
	return 0;
}

/* The value of key in scope: taken into r, or skipped. */
static int sc_member(struct scan *s, enum scope scope, const char *key, struct row *r, int depth)
{
	const char *t = NULL;
	size_t tn = 0;

	switch (scope) {
	case S_TOP:
		/* the first byte picks the candidate (a dozen keys per entry) */
		switch (key[0]) {
		case 't':
			if (!strcmp(key, "time"))
				return sc_time(s, &r->time_us, &r->has_time);
			break;
		case 'r':
			if (!strcmp(key, "received"))
				return sc_time(s, &r->received_us, &r->has_received);
			if (!strcmp(key, "resource"))
				return sc_object(s, S_RESOURCE, r, depth + 1);
			break;
		case 'a':
			if (!strcmp(key, "action"))
				return sc_take(s, &r->action, &r->action_n);
			if (!strcmp(key, "actor"))
				return sc_object(s, S_ACTOR, r, depth + 1);
			break;
		case 'o':
			if (!strcmp(key, "outcome"))
				return sc_take(s, &r->outcome, &r->outcome_n);
			break;
		case 's':
			if (!strcmp(key, "service"))
				return sc_take(s, &r->service, &r->service_n);
			if (!strcmp(key, "source"))
				return sc_object(s, S_SOURCE, r, depth + 1);
			break;
		case 'w':
			if (!strcmp(key, "writer"))
				return sc_take(s, &r->writer, &r->writer_n);
			break;
		}
		break;
	case S_ACTOR:
		if (!strcmp(key, "id"))
			return sc_take(s, &r->actor, &r->actor_n);
		break;
	case S_SOURCE:
		if (!strcmp(key, "ip")) {
			uint8_t a[16];

			if (sc_take(s, &t, &tn))
				return -1;
			if (!t)
				return 0;
			if (inet_pton(AF_INET, t, a) == 1) {
				memset(r->ip, 0, 10);
				r->ip[10] = r->ip[11] = 0xff;
				memcpy(r->ip + 12, a, 4);
				r->has_ip = true;
			} else if (inet_pton(AF_INET6, t, a) == 1) {
				memcpy(r->ip, a, 16);
				r->has_ip = true;
			}
			return 0;
		}
		break;
	case S_RESOURCE:
		if (!strcmp(key, "type"))
			return sc_take(s, &r->rtype, &r->rtype_n);
		if (!strcmp(key, "id"))
			return sc_take(s, &r->rid, &r->rid_n);
		break;
	}
	return sc_skip(s);
}

/* An object in scope (or any other value where an object was hoped for,
 * which is skipped). */
static int sc_object(struct scan *s, enum scope scope, struct row *r, int depth)
{
	sc_ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p != '{' || depth > 2)
		return sc_skip(s);
	s->p++;
	sc_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		char key[16];
		size_t kn;
		bool ok;

		sc_ws(s);
		if (s->p >= s->end || *s->p != '"')
			return -1;
		if (sc_string(s, key, sizeof(key) - 1, &kn, &ok))
			return -1;
		key[ok ? kn : 0] = '\0'; /* ok: no NUL inside (sc_string) */
		sc_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return -1;
		s->p++;
		if (sc_member(s, scope, key, r, depth))
			return -1;
		sc_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		if (*s->p != ',')
			return -1;
		s->p++;
	}
}

/* Fill r from one entry; arena holds at least len + 1 bytes.  Anything that
 * is not a JSON object gives a row of NULLs (invariant 4). */
void ix_row_extract(const uint8_t *data, size_t len, char *arena, struct row *r)
{
	struct scan s = { .p = data, .end = data + len, .arena = arena, .cap = len + 1 };

	memset(r, 0, sizeof(*r));
	sc_ws(&s);
	if (s.p >= s.end || *s.p != '{' || sc_object(&s, S_TOP, r, 0))
		goto bad;
	sc_ws(&s);
	if (s.p != s.end)
		goto bad;
	return;
bad:
	memset(r, 0, sizeof(*r));
}

json_t *index_entry_fields(const void *data, size_t len)
{
	char *arena = malloc(len + 1), hex[33];
	json_t *o;
	struct row r;
	int bad = 0;

	if (!arena)
		return NULL;
	ix_row_extract(data, len, arena, &r);
	o = json_object();
	if (!o) {
		free(arena);
		return NULL;
	}
#define PUT(k, v, n) bad |= json_object_set_new(o, k, (v) ? json_stringn_nocheck(v, n) : json_null())
	PUT("actor", r.actor, r.actor_n);
	PUT("action", r.action, r.action_n);
	PUT("outcome", r.outcome, r.outcome_n);
	PUT("service", r.service, r.service_n);
	PUT("resource_type", r.rtype, r.rtype_n);
	PUT("resource_id", r.rid, r.rid_n);
	PUT("writer", r.writer, r.writer_n);
#undef PUT
	bad |= json_object_set_new(o, "time_us", r.has_time ? json_integer(r.time_us) : json_null());
	bad |= json_object_set_new(o, "received_us",
				   r.has_received ? json_integer(r.received_us) : json_null());
	if (r.has_ip)
		ls_hex(r.ip, 16, hex);
	bad |= json_object_set_new(o, "source_ip", r.has_ip ? json_string(hex) : json_null());
	free(arena);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
