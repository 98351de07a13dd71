/*
 * event.c - the standard event (schema "logseal/v1"): validation,
 * normalisation and canonical JSON of one event (event_parse.c parses the
 * request bodies and hands each event to evt_finish() here).  Pure: no
 * I/O, no threads, no logging; bad input and OOM come back as ls_rc.
 *
 * Invariants:
 *  1. Every stored item.json is canonical: parsing it strictly and
 *     canonicalising again gives the same bytes (the fuzz target checks it).
 *  2. A stored event is at most EVENT_MAX_BYTES bytes and EVENT_MAX_DEPTH
 *     levels deep (the top object is level 1).
 *  3. received, writer, remote_ip and schema come from the server only; a
 *     client that sends them is refused, not silently overwritten.
 *  4. A batch is all-or-nothing: on any error out is empty.
 *
 * Canonical form (see event.h): keys sorted by byte value (strcmp order,
 * unsigned), no white space, only '"', '\\' and C0 controls escaped (\b \f
 * \n \r \t short, others as lowercase \u00xx), everything else - including
 * DEL and non-ASCII UTF-8 - written as is.  Integers in decimal; reals
 * (details only) as "%.17g", which reads back to the same double; a real
 * zero is written "0" because jansson reads "-0" back as the integer 0.
 *
 * Times are normalised to UTC with microseconds; extra fraction digits
 * (up to 9 are accepted) are truncated, not rounded, so a time never moves
 * into the next second.  Leap seconds (":60") are refused.
 */
#include "core/event.h"
#include "core/event_int.h"
#include "base/jcanon.h"
#include "core/formats/formats.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTION_MAX 256		/* bytes */
#define SERVICE_MAX 128		/* bytes */
#define CANON_MAX_DEPTH 4096	/* recursion guard for hand-built json_t */

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

void evt_fail(struct event_error *e, size_t pos, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->position = pos;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	e->code[0] = '\0';
}

bool evt_has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/* The code point of the UTF-8 sequence at s[i] (valid UTF-8: jansson and
 * jdom refuse anything else); *len its bytes. */
static unsigned long utf8_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
	unsigned char c = s[i];
	size_t need = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	unsigned long v;

	if (need == 1 || need > n - i) {
		*len = 1;
		return c;
	}
	v = c & (0x7f >> need);
	for (size_t k = 1; k < need; k++)
		v = (v << 6) | (s[i + k] & 0x3f);
	*len = need;
	return v;
}

/*
 * Characters that change how an identifier displays, or hide in it, without
 * showing themselves: a user id "admin\u202e..." or "ad\u200bmin" reads as
 * someone else in a report.  Controls (C0, DEL, C1, the Unicode line and
 * paragraph separators), bidirectional controls (U+061C, U+200E-200F,
 * U+202A-202E, U+2066-2069), and invisible format characters (soft hyphen,
 * U+180E, U+200B-200D, U+2060-2064, U+206A-206F, U+FEFF, U+FFF9-FFFB, the
 * tag characters U+E0000-E007F).  joiners_ok lets U+200C-200D through
 * (display names in Persian, Indic scripts and emoji sequences need them).
 */
static bool hidden_cp(unsigned long c, bool joiners_ok)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
		return true;
	if (c < 0xad)
		return false;
	if (c == 0x200c || c == 0x200d)
		return !joiners_ok;
	return c == 0xad || c == 0x61c || c == 0x180e || (c >= 0x200b && c <= 0x200f) ||
	       c == 0x2028 || c == 0x2029 || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x206f) || c == 0xfeff ||
	       (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe007f);
}

bool evt_hidden_char(const char *s, size_t n, bool joiners_ok, unsigned long *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, len;

	for (i = 0; i < n; i += len) {
		unsigned long c;

		/* Plain ASCII letters, digits and punctuation: most of every id. */
		if (u[i] >= 0x20 && u[i] < 0x7f) {
			len = 1;
			continue;
		}
		c = utf8_at(u, n, i, &len);
		if (hidden_cp(c, joiners_ok)) {
			*cp = c;
			return true;
		}
	}
	return false;
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool ci_prefix(const char *s, size_t n, const char *lower)
{
	size_t i, m = strlen(lower);

	if (n < m)
		return false;
	for (i = 0; i < m; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lower[i])
			return false;
	}
	return true;
}

bool event_service_reserved(const char *s, size_t n)
{
	while (n && space(*s)) {
		s++;
		n--;
	}
	while (n && space(s[n - 1]))
		n--;
	return n == 7 && ci_prefix(s, n, "logseal");
}

bool event_action_reserved(const char *s, size_t n)
{
	while (n && space(*s)) {
		s++;
		n--;
	}
	while (n && space(s[n - 1]))
		n--;
	return ci_prefix(s, n, "logseal.") || (n == 7 && ci_prefix(s, n, "logseal"));
}

int evt_refuse_reserved(const char *field, const char *s, size_t n, size_t pos,
			struct event_error *e)
{
	bool svc = !strcmp(field, "service");

	if (svc ? !event_service_reserved(s, n) : !event_action_reserved(s, n))
		return 0;
	evt_fail(e, pos, field,
		 svc ? "service \"logseal\" (in any case) is reserved for the server's own events"
		     : "actions \"logseal.*\" (in any case) are reserved for the server's own events");
	if (e)
		snprintf(e->code, sizeof(e->code), "%s", EVENT_ERR_RESERVED);
	return -1;
}

/* Does s[0..n) hold "logseal" in any case? */
static bool has_logseal(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 7 <= n; i++)
		if ((s[i] == 'l' || s[i] == 'L') && ci_prefix(s + i, n - i, "logseal"))
			return true;
	return false;
}

ls_rc event_check_foreign(const char *entry, size_t n, struct ls_err *err)
{
	struct jdom d;
	const struct jnode *top, *v;
	size_t root;
	ls_rc rc = LS_OK;

	/* Canonical JSON writes every letter as itself (no \u escapes but
	 * controls), so an entry without these bytes names neither. */
	if (!entry || !has_logseal(entry, n))
		return LS_OK;
	memset(&d, 0, sizeof(d));
	if (jdom_parse(&d, entry, n, EVENT_MAX_DEPTH, &root, NULL) != LS_OK) {
		jdom_release(&d);
		return ls_err_set(err, LS_INVALID, "not a JSON object");
	}
	top = &d.node[root];
	if (top->type == JN_OBJ) {
		v = jdom_get(&d, top, "service");
		if (v && v->type == JN_STR && event_service_reserved(d.str + v->off, v->len))
			rc = ls_err_set(err, LS_DENIED,
					"service \"logseal\" (in any case) is reserved for the "
					"server's own events");
		v = jdom_get(&d, top, "action");
		if (!rc && v && v->type == JN_STR && event_action_reserved(d.str + v->off, v->len))
			rc = ls_err_set(err, LS_DENIED,
					"actions \"logseal.*\" (in any case) are reserved for the "
					"server's own events");
	}
	jdom_release(&d);
	return rc;
}

bool evt_is_server_field(const char *key)
{
	return !strcmp(key, "received") || !strcmp(key, "writer") ||
	       !strcmp(key, "remote_ip") || !strcmp(key, "schema") ||
	       !strcmp(key, "redacted") || !strcmp(key, "time_skew");
}

/* ------------------------------------------------------------------ */
/* canonical JSON                                                      */

struct cbuf {
	char *p;
	size_t len, cap, max;
	bool over;	/* would exceed max */
	bool nomem;
	bool bad;	/* a value with no JSON form (NaN, too deep) */
};

static void cb_put(struct cbuf *b, const char *s, size_t n)
{
	size_t ncap;
	char *np;

	if (b->over || b->nomem || b->bad || n == 0)
		return;
	if (n > b->max - b->len) {
		b->over = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1) {
			if (ncap > SIZE_MAX / 2) {
				b->nomem = true;
				return;
			}
			ncap *= 2;
		}
		np = realloc(b->p, ncap);
		if (!np) {
			b->nomem = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void cb_str(struct cbuf *b, const char *s, size_t n)
{
	size_t i, run = 0, el;
	char u[8];

	cb_put(b, "\"", 1);
	for (i = 0; i < n; i++) {
		const char *esc = jcanon_escape((unsigned char)s[i], u, &el);

		if (!esc)
			continue;
		cb_put(b, s + run, i - run);
		cb_put(b, esc, el);
		run = i + 1;
	}
	cb_put(b, s + run, n - run);
	cb_put(b, "\"", 1);
}

struct kv {
	const char *k;
	size_t kl;
	json_t *v;
};

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	size_t m = x->kl < y->kl ? x->kl : y->kl;
	int c = memcmp(x->k, y->k, m);

	if (c)
		return c;
	return x->kl < y->kl ? -1 : x->kl > y->kl;
}

static void cb_value(struct cbuf *b, const json_t *v, unsigned depth)
{
	char num[40];

	if (depth > CANON_MAX_DEPTH) {
		b->bad = true;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		struct kv *kvs;
		void *it;

		if (n == 0) {
			cb_put(b, "{}", 2);
			return;
		}
		kvs = calloc(n, sizeof(*kvs));
		if (!kvs) {
			b->nomem = true;
			return;
		}
		for (it = json_object_iter((json_t *)v); it && i < n;
		     it = json_object_iter_next((json_t *)v, it), i++) {
			kvs[i].k = json_object_iter_key(it);
			kvs[i].kl = json_object_iter_key_len(it);
			kvs[i].v = json_object_iter_value(it);
		}
		n = i;
		qsort(kvs, n, sizeof(*kvs), kv_cmp);
		cb_put(b, "{", 1);
		for (i = 0; i < n; i++) {
			if (i)
				cb_put(b, ",", 1);
			cb_str(b, kvs[i].k, kvs[i].kl);
			cb_put(b, ":", 1);
			cb_value(b, kvs[i].v, depth + 1);
		}
		cb_put(b, "}", 1);
		free(kvs);
		return;
	}
	case JSON_ARRAY: {
		size_t i, n = json_array_size(v);

		cb_put(b, "[", 1);
		for (i = 0; i < n; i++) {
			if (i)
				cb_put(b, ",", 1);
			cb_value(b, json_array_get(v, i), depth + 1);
		}
		cb_put(b, "]", 1);
		return;
	}
	case JSON_STRING:
		cb_str(b, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		cb_put(b, num, strlen(num));
		return;
	case JSON_REAL: {
		double d = json_real_value(v);

		if (!isfinite(d)) {
			b->bad = true;
			return;
		}
		if (d == 0)
			snprintf(num, sizeof(num), "0");
		else
			snprintf(num, sizeof(num), "%.17g", d);
		cb_put(b, num, strlen(num));
		return;
	}
	case JSON_TRUE:
		cb_put(b, "true", 4);
		return;
	case JSON_FALSE:
		cb_put(b, "false", 5);
		return;
	case JSON_NULL:
		cb_put(b, "null", 4);
		return;
	}
	b->bad = true;
}

/* Canonical bytes of v, at most max bytes (LS_LIMIT beyond). */
ls_rc evt_canon(const json_t *v, size_t max, char **out, size_t *len)
{
	struct cbuf b = { .max = max };

	*out = NULL;
	*len = 0;
	if (!v)
		return LS_INVALID;
	cb_value(&b, v, 0);
	if (b.nomem || b.over || b.bad) {
		free(b.p);
		return b.nomem ? LS_NOMEM : b.over ? LS_LIMIT : LS_INVALID;
	}
	*out = b.p;
	*len = b.len;
	return LS_OK;
}

ls_rc event_canonical(const json_t *v, char **out, size_t *len)
{
	return evt_canon(v, SIZE_MAX / 2, out, len);
}

/* Nesting depth of a value: scalars 0, each array/object adds one. */
size_t evt_json_depth(const json_t *v)
{
	size_t best = 0, d;

	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		json_object_foreach((json_t *)v, k, x) {
			d = evt_json_depth(x);
			if (d > best)
				best = d;
		}
		return best + 1;
	}
	if (json_is_array(v)) {
		size_t i;

		for (i = 0; i < json_array_size(v); i++) {
			d = evt_json_depth(json_array_get(v, i));
			if (d > best)
				best = d;
		}
		return best + 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* time and addresses                                                  */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

void event_format_time(int64_t us, char *out, size_t cap)
{
	int64_t secs = us / 1000000, frac = us % 1000000, days, sod, y;
	int m, d;

	if (!out || cap == 0)
		return;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	/* Two calls per stored event: digits by hand rather than snprintf. */
	if (y >= 0 && y <= 9999 && cap >= 28) {
		char *o = out;
		int v[6] = { (int)(y / 100), (int)(y % 100), m, d, (int)(sod / 3600),
			     (int)(sod / 60 % 60) };
		static const char sep[] = { 0, 0, '-', '-', 'T', ':' };

		for (int k = 0; k < 6; k++) {
			if (sep[k])
				*o++ = sep[k];
			*o++ = (char)('0' + v[k] / 10);
			*o++ = (char)('0' + v[k] % 10);
		}
		*o++ = ':';
		*o++ = (char)('0' + (int)(sod % 60) / 10);
		*o++ = (char)('0' + (int)(sod % 60) % 10);
		*o++ = '.';
		for (int k = 5, f = (int)frac; k >= 0; k--, f /= 10)
			o[k] = (char)('0' + f % 10);
		o += 6;
		*o++ = 'Z';
		*o = 0;
		return;
	}
	snprintf(out, cap, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", (long long)y, m, d,
		 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
}

/* n decimal digits at s -> *v; false unless all n are digits. */
static bool digits(const char *s, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

ls_rc event_parse_time(const char *s, int64_t *us)
{
	int Y, M, D, h, mi, sec, oh = 0, om = 0, i;
	int64_t frac = 0, t, lo, hi;
	int sign = 0;
	const char *p;

	if (!s || !us)
		return LS_INVALID;
	/* YYYY-MM-DDTHH:MM:SS is 19 bytes; the digits() calls never read past
	 * a NUL because a NUL is not a digit. */
	if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
	    !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return LS_INVALID;
	p = s + 19;
	if (*p == '.') {
		p++;
		for (i = 0; p[i] >= '0' && p[i] <= '9'; i++) {
			if (i >= 9)
				return LS_INVALID;
			if (i < 6)
				frac = frac * 10 + (p[i] - '0');
		}
		if (i == 0)
			return LS_INVALID;
		for (; i < 6; i++)
			frac *= 10;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
			return LS_INVALID;
		p += 6;
	} else {
		return LS_INVALID;
	}
	if (*p != '\0')
		return LS_INVALID;
	if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || mi > 59 ||
	    sec > 59 || oh > 23 || om > 59)
		return LS_INVALID;
	t = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	lo = days_from_civil(0, 1, 1) * 86400;
	hi = days_from_civil(10000, 1, 1) * 86400;
	if (t < lo || t >= hi)
		return LS_INVALID;
	*us = t * 1000000 + frac;
	return LS_OK;
}

ls_rc event_normalize_ip(const char *s, char *out, size_t cap)
{
	unsigned char a[16];

	if (!s || !out || strnlen(s, 64) >= 64)
		return LS_INVALID;
	if (inet_pton(AF_INET, s, a) == 1) {
		/* Dotted decimal by hand: inet_ntop formats IPv4 with
		 * sprintf, which was a twentieth of parsing an event. */
		size_t k = 0;

		if (cap < INET_ADDRSTRLEN)
			return LS_LIMIT;
		for (int i = 0; i < 4; i++) {
			unsigned v = a[i];

			if (i)
				out[k++] = '.';
			if (v >= 100)
				out[k++] = (char)('0' + v / 100);
			if (v >= 10)
				out[k++] = (char)('0' + v / 10 % 10);
			out[k++] = (char)('0' + v % 10);
		}
		out[k] = 0;
		return LS_OK;
	}
	if (inet_pton(AF_INET6, s, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)cap) ? LS_OK : LS_LIMIT;
	return LS_INVALID;
}

/* ------------------------------------------------------------------ */
/* validation of one native event                                      */

/* Limits on a string field; zero means none. */
#define S_NONEMPTY 1u
#define S_NOCTL 2u
#define S_ID 4u		/* an identifier: no hidden characters (evt_hidden_char) */
#define S_NAME 8u	/* a display name: the same, joiners allowed */

/*
 * Optional string member key of obj: 0 absent, 1 present and good (*out),
 * -1 refused (e filled, field named fname).
 */
static int get_str(json_t *obj, const char *key, const char *fname, size_t maxlen,
		   unsigned flags, size_t pos, struct event_error *e, json_t **out)
{
	json_t *v = json_object_get(obj, key);
	unsigned long cp;
	size_t n;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v)) {
		evt_fail(e, pos, fname, "must be a string");
		return -1;
	}
	n = json_string_length(v);
	if ((flags & S_NONEMPTY) && n == 0) {
		evt_fail(e, pos, fname, "must not be empty");
		return -1;
	}
	if (maxlen && n > maxlen) {
		evt_fail(e, pos, fname, "longer than %zu bytes", maxlen);
		return -1;
	}
	if ((flags & S_NOCTL) && evt_has_ctl(json_string_value(v), n)) {
		evt_fail(e, pos, fname, "must not contain control characters");
		return -1;
	}
	if ((flags & (S_ID | S_NAME)) &&
	    evt_hidden_char(json_string_value(v), n, !(flags & S_ID), &cp)) {
		evt_fail(e, pos, fname,
			 "must not contain control, bidirectional or invisible characters (U+%04lX)",
			 cp);
		return -1;
	}
	*out = v;
	return 1;
}

/* Refuse members of obj not in allowed (NULL-terminated); prefix names them. */
static bool only_keys(json_t *obj, const char *prefix, const char *const *allowed, size_t pos,
		      struct event_error *e)
{
	const char *k;
	json_t *v;
	char f[128];
	size_t i;

	json_object_foreach(obj, k, v) {
		for (i = 0; allowed[i]; i++)
			if (!strcmp(k, allowed[i]))
				break;
		if (allowed[i])
			continue;
		snprintf(f, sizeof(f), "%s%s", prefix, k);
		if (!*prefix && evt_is_server_field(k))
			evt_fail(e, pos, f, "is set by the server and must not be sent");
		else
			evt_fail(e, pos, f, "unknown field");
		return false;
	}
	return true;
}

static bool one_of(const char *s, const char *const *set)
{
	size_t i;

	for (i = 0; set[i]; i++)
		if (!strcmp(s, set[i]))
			return true;
	return false;
}

static const char *const top_fields[] = {
	"time", "actor", "action", "outcome", "source", "resource", "service",
	"id", "request_id", "reason", "details", NULL
};
static const char *const actor_fields[] = { "id", "type", "name", "email", NULL };
static const char *const actor_types[] = { "user", "service", "system", "anonymous", NULL };
static const char *const source_fields[] = { "ip", "endpoint", "port", "user_agent", NULL };
static const char *const resource_fields[] = { "type", "id", "name", NULL };
const char *const event_outcomes[EVENT_N_OUTCOMES + 1] = {
	"success", "failure", "denied", "error", "unknown", NULL
};

/* Required object member: the object, or NULL with e filled. */
static json_t *need_obj(json_t *in, const char *key, size_t pos, struct event_error *e)
{
	json_t *v = json_object_get(in, key);

	if (!v)
		evt_fail(e, pos, key, "required");
	else if (!json_is_object(v))
		evt_fail(e, pos, key, "must be an object");
	else
		return v;
	return NULL;
}

/* Copy a validated string member into o (increfs). */
static bool put(json_t *o, const char *key, json_t *v)
{
	return !v || json_object_set(o, key, v) == 0;
}

static bool put_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0;
}

static ls_rc build_actor(json_t *in, json_t *o, size_t pos, struct event_error *e)
{
	json_t *a = need_obj(in, "actor", pos, e), *id, *type, *name, *email, *oa;

	if (!a)
		return LS_INVALID;
	if (!only_keys(a, "actor.", actor_fields, pos, e))
		return LS_INVALID;
	if (get_str(a, "id", "actor.id", 0, S_NONEMPTY | S_ID, pos, e, &id) < 0)
		return LS_INVALID;
	if (!id) {
		evt_fail(e, pos, "actor.id", "required");
		return LS_INVALID;
	}
	if (get_str(a, "type", "actor.type", 0, 0, pos, e, &type) < 0)
		return LS_INVALID;
	if (type && !one_of(json_string_value(type), actor_types)) {
		evt_fail(e, pos, "actor.type", "must be user, service, system or anonymous");
		return LS_INVALID;
	}
	if (get_str(a, "name", "actor.name", 0, S_NAME, pos, e, &name) < 0 ||
	    get_str(a, "email", "actor.email", 0, S_ID, pos, e, &email) < 0)
		return LS_INVALID;
	oa = json_object();
	if (!oa || !put(oa, "id", id) || !put(oa, "type", type) || !put(oa, "name", name) ||
	    !put(oa, "email", email) || json_object_set_new(o, "actor", oa)) {
		json_decref(oa);
		return LS_NOMEM;
	}
	return LS_OK;
}

static ls_rc build_source(json_t *in, json_t *o, size_t pos, struct event_error *e)
{
	json_t *s = need_obj(in, "source", pos, e), *ip, *ep, *port, *ua, *os;
	char canon_ip[INET6_ADDRSTRLEN];

	if (!s)
		return LS_INVALID;
	if (!only_keys(s, "source.", source_fields, pos, e))
		return LS_INVALID;
	if (get_str(s, "ip", "source.ip", 0, S_NONEMPTY, pos, e, &ip) < 0 ||
	    get_str(s, "endpoint", "source.endpoint", 0, S_NONEMPTY, pos, e, &ep) < 0 ||
	    get_str(s, "user_agent", "source.user_agent", 0, 0, pos, e, &ua) < 0)
		return LS_INVALID;
	if (!ip && !ep) {
		evt_fail(e, pos, "source", "needs ip or endpoint");
		return LS_INVALID;
	}
	if (ip && (strlen(json_string_value(ip)) != json_string_length(ip) ||
		   event_normalize_ip(json_string_value(ip), canon_ip, sizeof(canon_ip)))) {
		evt_fail(e, pos, "source.ip", "not an IPv4 or IPv6 address");
		return LS_INVALID;
	}
	port = json_object_get(s, "port");
	if (port && (!json_is_integer(port) || json_integer_value(port) < 0 ||
		     json_integer_value(port) > 65535)) {
		evt_fail(e, pos, "source.port", "must be an integer from 0 to 65535");
		return LS_INVALID;
	}
	os = json_object();
	if (!os || (ip && !put_new(os, "ip", json_string(canon_ip))) || !put(os, "endpoint", ep) ||
	    !put(os, "port", port) || !put(os, "user_agent", ua) ||
	    json_object_set_new(o, "source", os)) {
		json_decref(os);
		return LS_NOMEM;
	}
	return LS_OK;
}

static ls_rc build_resource(json_t *in, json_t *o, size_t pos, struct event_error *e)
{
	json_t *r = json_object_get(in, "resource"), *type, *id, *name, *orr;

	if (!r)
		return LS_OK;
	if (!json_is_object(r)) {
		evt_fail(e, pos, "resource", "must be an object");
		return LS_INVALID;
	}
	if (!only_keys(r, "resource.", resource_fields, pos, e) ||
	    get_str(r, "type", "resource.type", 0, 0, pos, e, &type) < 0 ||
	    get_str(r, "id", "resource.id", 0, S_ID, pos, e, &id) < 0 ||
	    get_str(r, "name", "resource.name", 0, 0, pos, e, &name) < 0)
		return LS_INVALID;
	orr = json_object();
	if (!orr || !put(orr, "type", type) || !put(orr, "id", id) || !put(orr, "name", name) ||
	    json_object_set_new(o, "resource", orr)) {
		json_decref(orr);
		return LS_NOMEM;
	}
	return LS_OK;
}

/* The event proper: everything the client says, validated, into o.
 * internal: the server's own event (event_internal), which alone may use
 * the reserved service and actions. */
static ls_rc build_event(json_t *in, const struct event_ctx *ctx, bool internal, size_t pos,
			 struct event_error *e, json_t *o)
{
	json_t *v, *action, *outcome, *service, *id, *rid, *reason, *details;
	char tbuf[32];
	int64_t t;
	ls_rc rc;

	if (!only_keys(in, "", top_fields, pos, e))
		return LS_INVALID;

	v = json_object_get(in, "time");
	if (!v) {
		evt_fail(e, pos, "time", "required");
		return LS_INVALID;
	}
	if (!json_is_string(v)) {
		evt_fail(e, pos, "time", "must be a string");
		return LS_INVALID;
	}
	if (strlen(json_string_value(v)) != json_string_length(v) ||
	    event_parse_time(json_string_value(v), &t)) {
		evt_fail(e, pos, "time", "not an RFC 3339 time");
		return LS_INVALID;
	}
	event_format_time(t, tbuf, sizeof(tbuf));
	if (!put_new(o, "time", json_string(tbuf)))
		return LS_NOMEM;

	rc = build_actor(in, o, pos, e);
	if (rc)
		return rc;

	if (get_str(in, "action", "action", ACTION_MAX, S_NONEMPTY | S_NOCTL | S_ID, pos, e,
		    &action) < 0)
		return LS_INVALID;
	if (!action) {
		evt_fail(e, pos, "action", "required");
		return LS_INVALID;
	}
	if (!internal && evt_refuse_reserved("action", json_string_value(action),
					     json_string_length(action), pos, e))
		return LS_INVALID;
	if (get_str(in, "outcome", "outcome", 0, 0, pos, e, &outcome) < 0)
		return LS_INVALID;
	if (!outcome) {
		evt_fail(e, pos, "outcome", "required");
		return LS_INVALID;
	}
	if (!one_of(json_string_value(outcome), event_outcomes)) {
		evt_fail(e, pos, "outcome", "must be success, failure, denied, error or unknown");
		return LS_INVALID;
	}
	if (!put(o, "action", action) || !put(o, "outcome", outcome))
		return LS_NOMEM;

	rc = build_source(in, o, pos, e);
	if (!rc)
		rc = build_resource(in, o, pos, e);
	if (rc)
		return rc;

	if (get_str(in, "service", "service", SERVICE_MAX, S_NONEMPTY | S_NOCTL | S_ID, pos, e,
		    &service) < 0 ||
	    get_str(in, "id", "id", EVENT_MAX_ID, S_NONEMPTY | S_NOCTL, pos, e, &id) < 0 ||
	    get_str(in, "request_id", "request_id", 0, 0, pos, e, &rid) < 0 ||
	    get_str(in, "reason", "reason", 0, 0, pos, e, &reason) < 0)
		return LS_INVALID;
	details = json_object_get(in, "details");
	if (details && !json_is_object(details)) {
		evt_fail(e, pos, "details", "must be an object");
		return LS_INVALID;
	}
	if (ctx->bound_service) {
		if (!service) {
			if (!put_new(o, "service", json_string(ctx->bound_service)))
				return LS_NOMEM;
		} else if (strcmp(json_string_value(service), ctx->bound_service)) {
			evt_fail(e, pos, "service", "this writer may only write service \"%s\"",
				 ctx->bound_service);
			return LS_DENIED;
		}
	}
	/* The service stored: the event's, else the writer's binding. */
	if (!internal && service &&
	    evt_refuse_reserved("service", json_string_value(service), json_string_length(service),
				pos, e))
		return LS_INVALID;
	if (!internal && !service && ctx->bound_service &&
	    evt_refuse_reserved("service", ctx->bound_service, strlen(ctx->bound_service), pos, e))
		return LS_INVALID;
	if (!put(o, "service", service) || !put(o, "id", id) || !put(o, "request_id", rid) ||
	    !put(o, "reason", reason) || !put(o, "details", details))
		return LS_NOMEM;
	return LS_OK;
}

static const struct event_ctx empty_ctx;

static ls_rc finish(json_t *in, const struct event_ctx *ctx, bool internal, size_t pos,
		    struct event_error *e, struct event_item *out)
{
	json_t *o, *id;
	char tbuf[32];
	const char *k;
	json_t *v;
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	if (!ctx)
		ctx = &empty_ctx;
	if (!json_is_object(in)) {
		evt_fail(e, pos, "", "an event must be a JSON object");
		return LS_INVALID;
	}
	json_object_foreach(in, k, v) {
		if (evt_json_depth(v) + 1 > EVENT_MAX_DEPTH) {
			evt_fail(e, pos, k, "nested deeper than %d levels", EVENT_MAX_DEPTH);
			return LS_INVALID;
		}
	}
	o = json_object();
	if (!o)
		return LS_NOMEM;
	rc = build_event(in, ctx, internal, pos, e, o);
	if (rc)
		goto done;
	event_format_time(ctx->received_us, tbuf, sizeof(tbuf));
	if (!put_new(o, "received", json_string(tbuf)) ||
	    (ctx->writer && !put_new(o, "writer", json_string(ctx->writer))) ||
	    (ctx->remote_ip && !put_new(o, "remote_ip", json_string(ctx->remote_ip))) ||
	    !put_new(o, "schema", json_string("logseal/v1"))) {
		rc = LS_NOMEM;
		goto done;
	}
	rc = evt_canon(o, EVENT_MAX_BYTES, &out->json, &out->len);
	if (rc == LS_LIMIT) {
		evt_fail(e, pos, "", "event is over %d bytes", EVENT_MAX_BYTES);
		goto done;
	}
	if (rc == LS_INVALID)
		evt_fail(e, pos, "details", "holds a number with no JSON form");
	if (!rc)
		rc = evt_policy_apply(ctx, pos, e, out);	/* event_policy.c */
	if (rc) {
		event_item_release(out);
		goto done;
	}
	id = json_object_get(o, "id");
	if (id) {
		/* The service rides along: keys are scoped by it (idem.h). */
		const char *idv = json_string_value(id);
		const char *svc = json_string_value(json_object_get(o, "service"));
		size_t il = strlen(idv), sl = svc ? strlen(svc) : 0;

		out->key = malloc(il + sl + 2);
		if (!out->key) {
			event_item_release(out);
			rc = LS_NOMEM;
		} else {
			memcpy(out->key, idv, il + 1);
			memcpy(out->key + il + 1, svc ? svc : "", sl + 1);
			out->key_service = out->key + il + 1;
		}
	}
done:
	json_decref(o);
	return rc;
}

ls_rc evt_finish(json_t *in, const struct event_ctx *ctx, size_t pos, struct event_error *e,
		 struct event_item *out)
{
	return finish(in, ctx, false, pos, e, out);
}

/* ------------------------------------------------------------------ */
/* the server's own events                                             */

ls_rc event_internal(const char *action, const char *actor_id, const char *source_ip,
		     const char *outcome, json_t *details, const struct event_ctx *ctx,
		     struct event_item *out)
{
	struct event_ctx c = ctx ? *ctx : empty_ctx;
	char tbuf[32], ip[INET6_ADDRSTRLEN];
	json_t *in, *actor, *src;
	ls_rc rc;

	memset(out, 0, sizeof(*out));
	if (!action || !actor_id || !outcome)
		return LS_INVALID;
	c.bound_service = NULL;
	c.policy = NULL;	/* the server's own words: nothing to redact or doubt */
	event_format_time(c.received_us, tbuf, sizeof(tbuf));
	in = json_object();
	actor = json_object();
	src = json_object();
	if (!in || !actor || !src) {
		rc = LS_NOMEM;
		goto fail;
	}
	if (!put_new(actor, "id", json_string(actor_id)) ||
	    !put_new(actor, "type",
		     json_string(strcmp(actor_id, "anonymous") ? "service" : "anonymous"))) {
		rc = LS_NOMEM;
		goto fail;
	}
	if (source_ip && !event_normalize_ip(source_ip, ip, sizeof(ip)))
		rc = put_new(src, "ip", json_string(ip)) ? LS_OK : LS_NOMEM;
	else
		rc = put_new(src, "endpoint", json_string(source_ip ? source_ip : "internal")) ?
			     LS_OK : LS_NOMEM;
	if (rc)
		goto fail;
	if (json_object_set_new(in, "actor", actor)) {
		actor = NULL;
		rc = LS_NOMEM;
		goto fail;
	}
	actor = NULL;
	if (json_object_set_new(in, "source", src)) {
		src = NULL;
		rc = LS_NOMEM;
		goto fail;
	}
	src = NULL;
	/* json_string() refuses invalid UTF-8: then the event is invalid. */
	if (!put_new(in, "time", json_string(tbuf)) || !put_new(in, "action", json_string(action)) ||
	    !put_new(in, "outcome", json_string(outcome)) ||
	    !put_new(in, "service", json_string("logseal")) || !put(in, "details", details)) {
		rc = LS_INVALID;
		goto fail;
	}
	rc = finish(in, &c, true, 0, NULL, out);
fail:
	json_decref(actor);
	json_decref(src);
	json_decref(in);
	return rc;
}

/* ------------------------------------------------------------------ */

void event_item_release(struct event_item *it)
{
	if (!it)
		return;
	free(it->json);
	free(it->key);
	it->json = NULL;
	it->key = NULL;
	it->key_service = NULL;
	it->len = 0;
}

void event_batch_release(struct event_batch *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n; i++)
		event_item_release(&b->items[i]);
	free(b->items);
	b->items = NULL;
	b->n = 0;
}
