/*
 * index_query.c - queries as filters: parsing a query string or a key and a
 * value into struct index_query, its JSON form, and the cursor that resumes
 * it (format in index.c).
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ================================================================ queries */

void index_query_init(struct index_query *q)
{
	memset(q, 0, sizeof(*q));
	q->order = INDEX_DESC;
	q->limit = INDEX_LIMIT_DEFAULT;
}

void index_query_release(struct index_query *q)
{
	if (!q)
		return;
	free(q->actor);
	free(q->action);
	free(q->outcome);
	free(q->service);
	free(q->resource_type);
	free(q->resource_id);
	free(q->writer);
	free(q->source_ip);
	while (q->nnot)
		free(q->nots[--q->nnot].value);
	index_query_init(q);
}

/* A parameter name safe to echo in a message. */
static void safe_name(const char *s, char *out, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap && i < 40; i++)
		out[i] = s[i] > 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
	out[i] = '\0';
}

enum ipq ix_cidr_kind(const uint8_t lo[16], const uint8_t hi[16], unsigned *bits)
{
	unsigned b = 0, i;
	uint8_t m[16];

	while (b < 128 && !((lo[b / 8] ^ hi[b / 8]) & (0x80 >> (b % 8))))
		b++;
	/* Only a CIDR block: lo and hi agree on b bits, then are all 0 / all 1. */
	ix_mask_prefix(lo, b, m);
	if (memcmp(m, lo, 16))
		return IPQ_BAD;
	for (i = b; i < 128; i++)
		if (!(hi[i / 8] & (0x80 >> (i % 8))))
			return IPQ_BAD;
	*bits = b;
	if (b == 0)
		return IPQ_ANY;
	if (b == 128)
		return IPQ_FULL;
	if (b >= 96 && !memcmp(lo, V4_MAPPED, sizeof(V4_MAPPED))) {
		if (b == 96)
			return IPQ_V4;
		return memchr(NET_V4, (int)b, sizeof(NET_V4)) ? IPQ_NET : IPQ_BAD;
	}
	if (!memchr(NET_V6, (int)b, sizeof(NET_V6)))
		return IPQ_BAD;
	/* b <= 64 here, and lo holds zeros past b. */
	for (i = 0; i < 16 && !lo[i]; i++)
		;
	return i == 16 ? IPQ_NET_OR_V4 : IPQ_NET;
}

static ls_rc parse_cidr(const char *v, struct index_query *q, struct ls_err *err)
{
	char addr[64], text[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(v, '/');
	uint8_t a[16];
	unsigned plen, max, bits, i;
	bool v4;
	size_t an = slash ? (size_t)(slash - v) : strlen(v);

	if (an == 0 || an >= sizeof(addr))
		goto bad;
	memcpy(addr, v, an);
	addr[an] = '\0';
	if (inet_pton(AF_INET, addr, a + 12) == 1) {
		memcpy(a, V4_MAPPED, sizeof(V4_MAPPED));
		v4 = true;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		v4 = false;
		max = 128;
	} else {
		goto bad;
	}
	plen = max;
	if (slash) {
		const char *p = slash + 1;

		if (!*p || strlen(p) > 3)
			goto bad;
		for (plen = 0; *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			plen = plen * 10 + (unsigned)(*p - '0');
		}
		if (plen > max)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'source_ip': prefix length must be 0..%u", max);
	}
	bits = v4 ? 96 + plen : plen;
	/* ::ffff:a.b.c.d/N with N >= 96 is the IPv4 block a.b.c.d/(N-96). */
	if (!v4 && bits >= 96 && !memcmp(a, V4_MAPPED, sizeof(V4_MAPPED))) {
		v4 = true;
		plen = bits - 96;
		max = 32;
	}
	for (i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
		uint8_t mask = keep ? (uint8_t)(0xff << (8 - keep)) : 0;

		q->ip_lo[i] = a[i] & mask;
		q->ip_hi[i] = a[i] | (uint8_t)~mask;
	}
	if (ix_cidr_kind(q->ip_lo, q->ip_hi, &bits) == IPQ_BAD)
		return ls_err_set(err, LS_INVALID,
				  "parameter 'source_ip': /%u cannot be searched: the index keeps "
				  "addresses only as keyed hashes of their " CIDR_SUPPORTED
				  " prefixes",
				  plen);
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? q->ip_lo + 12 : q->ip_lo, text,
		       sizeof(text)))
		goto bad;
	if (plen != max)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "/%u", plen);
	q->source_ip = strdup(text);
	if (!q->source_ip)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
bad:
	return ls_err_set(err, LS_INVALID,
			  "parameter 'source_ip': not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8)");
}

/* "+01:00" sent unescaped in a URL arrives as " 01:00". */
static ls_rc bad_time(const char *name, const char *v, struct ls_err *err)
{
	if (strchr(v, ' '))
		return ls_err_set(err, LS_INVALID,
				  "parameter '%s': holds a space: '+' in a URL must be sent as "
				  "%%2B (e.g. 2026-01-02T03:04:05%%2B01:00); or use Z",
				  name);
	return ls_err_set(err, LS_INVALID,
			  "parameter '%s': not a time: RFC 3339 (2026-01-02T03:04:05Z), a "
			  "date (2026-01-02, UTC), or relative to now (now, 24h, now-15m, 7d; "
			  "units s m h d w)",
			  name);
}

/* "N<unit>" after an optional "now-": microseconds back from now; -1 when
 * it is not one. */
static int64_t rel_ago(const char *v)
{
	static const struct { char u; int64_t s; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 },
	};
	uint64_t n = 0;
	size_t i, k = 0;

	if (!strcmp(v, "now"))
		return 0;
	if (!strncmp(v, "now-", 4))
		v += 4;
	while (v[k] >= '0' && v[k] <= '9' && k < 9)
		n = n * 10 + (uint64_t)(v[k++] - '0');
	if (k == 0 || !v[k] || v[k + 1])
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (v[k] == units[i].u)
			return (int64_t)n * units[i].s * 1000000;	/* < 10^9 weeks: no overflow */
	return -1;
}

/* A time filter: RFC 3339, a date YYYY-MM-DD (00:00:00Z), or relative to
 * the clock (kept as written in rel, which holds 24 bytes). */
static ls_rc parse_when(const char *name, const char *v, int64_t *us, char *rel,
			struct ls_err *err)
{
	size_t n = strlen(v);
	int64_t ago;

	rel[0] = '\0';
	if (event_parse_time(v, us) == LS_OK)
		return LS_OK;
	if (n == 10 && v[4] == '-' && v[7] == '-') {
		char full[32];

		snprintf(full, sizeof(full), "%sT00:00:00Z", v);
		if (event_parse_time(full, us) == LS_OK)
			return LS_OK;
	}
	ago = n < 24 ? rel_ago(v) : -1;
	if (ago < 0)
		return bad_time(name, v, err);
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		*us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - ago;
	}
	memcpy(rel, v, n + 1);
	return LS_OK;
}

/* The value of an equality filter (bit: its INDEX_Q_*): *bit becomes the
 * _PREFIX bit for a prefix, *out a malloc'd copy (without the '*'). */
static ls_rc match_value(const char *key, unsigned *bit, const char *value, size_t n,
			 char **out, struct ls_err *err)
{
	size_t i, seps = 0;

	*out = NULL;
	switch (*bit) {
	case INDEX_Q_OUTCOME:
		for (i = 0; event_outcomes[i] && strcmp(event_outcomes[i], value); i++)
			;
		if (!event_outcomes[i])
			return ls_err_set(err, LS_INVALID,
					  "parameter '%s': must be success, failure, denied, "
					  "error or unknown", key);
		break;
	case INDEX_Q_ACTION:
	case INDEX_Q_SERVICE:
		if (value[n - 1] != '*')
			break;
		if (n == 1 || memchr(value, '*', n - 1))
			return ls_err_set(err, LS_INVALID,
					  "parameter '%s': a prefix is written foo.* "
					  "(one '*', at the end, after at least one character)", key);
		*bit = *bit == INDEX_Q_ACTION ? INDEX_Q_ACTION_PREFIX : INDEX_Q_SERVICE_PREFIX;
		break;
	case INDEX_Q_RESOURCE_ID:
		if (value[n - 1] != '*')
			break;
		for (i = 0; i + 1 < n; i++)
			seps += value[i] == '/' || value[i] == ':';
		if (n < 2 || (value[n - 2] != '/' && value[n - 2] != ':') ||
		    memchr(value, '*', n - 1) || seps > INDEX_RID_PREFIXES)
			return ls_err_set(err, LS_INVALID,
					  "parameter '%s': a prefix is written payments/* (one '*', "
					  "at the end, right after a '/' or ':', at most %d of them): "
					  "the index keeps resource ids only as keyed hashes, and of "
					  "their prefixes only these", key, INDEX_RID_PREFIXES);
		*bit = INDEX_Q_RESOURCE_ID_PREFIX;
		break;
	case INDEX_Q_ACTOR:
	case INDEX_Q_RESOURCE_TYPE:
	case INDEX_Q_WRITER:
		if (value[n - 1] == '*')
			return ls_err_set(err, LS_INVALID,
					  "parameter '%s': no prefix search ('*'): the index keeps "
					  "this field only as keyed hashes, searchable by equality",
					  key);
		break;
	}
	*out = strdup(value);
	if (!*out)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if (*bit & (INDEX_Q_ACTION_PREFIX | INDEX_Q_SERVICE_PREFIX | INDEX_Q_RESOURCE_ID_PREFIX))
		(*out)[n - 1] = '\0';
	return LS_OK;
}

static ls_rc not_add(struct index_query *q, const char *key, const char *value,
		     struct ls_err *err)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "actor!", INDEX_Q_ACTOR }, { "action!", INDEX_Q_ACTION },
		{ "outcome!", INDEX_Q_OUTCOME }, { "service!", INDEX_Q_SERVICE },
		{ "resource_type!", INDEX_Q_RESOURCE_TYPE },
		{ "resource_id!", INDEX_Q_RESOURCE_ID }, { "writer!", INDEX_Q_WRITER },
	};
	unsigned bit = 0;
	size_t i, n;
	ls_rc rc;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(key, names[i].name))
			bit = names[i].bit;
	if (!bit)
		return LS_NOTFOUND;
	if (q->nnot >= INDEX_NOT_MAX)
		return ls_err_set(err, LS_INVALID, "more than %d not-equal (name!=value) filters",
				  INDEX_NOT_MAX);
	n = value ? strlen(value) : 0;
	if (n == 0)
		return ls_err_set(err, LS_INVALID, "parameter '%s': empty value", key);
	rc = match_value(key, &bit, value, n, &q->nots[q->nnot].value, err);
	if (rc != LS_OK)
		return rc;
	q->nots[q->nnot++].bit = bit;
	return LS_OK;
}

static ls_rc query_add(struct index_query *q, const char *key, const char *value,
		       bool *unknown, struct ls_err *err)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "from", INDEX_Q_FROM }, { "to", INDEX_Q_TO },
		{ "received_from", INDEX_Q_RECEIVED_FROM }, { "received_to", INDEX_Q_RECEIVED_TO },
		{ "actor", INDEX_Q_ACTOR }, { "action", INDEX_Q_ACTION },
		{ "outcome", INDEX_Q_OUTCOME }, { "source_ip", INDEX_Q_SOURCE_IP },
		{ "service", INDEX_Q_SERVICE }, { "resource_type", INDEX_Q_RESOURCE_TYPE },
		{ "resource_id", INDEX_Q_RESOURCE_ID }, { "writer", INDEX_Q_WRITER },
		{ "order", INDEX_Q_ORDER }, { "limit", INDEX_Q_LIMIT },
		{ "cursor", INDEX_Q_CURSOR },
	};
	char shown[48];
	unsigned bit = 0, seen;
	size_t i, n;
	ls_rc rc = LS_OK;

	if (!key)
		return ls_err_set(err, LS_INVALID, "missing parameter name");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(key, names[i].name)) {
			bit = names[i].bit;
			break;
		}
	if (!bit && key[0] && key[strlen(key) - 1] == '!') {
		if (value && strnlen(value, INDEX_VALUE_MAX + 1) > INDEX_VALUE_MAX)
			return ls_err_set(err, LS_INVALID, "parameter value longer than %d bytes",
					  INDEX_VALUE_MAX);
		if (value) {
			json_t *t = json_string(value);

			if (!t)
				return ls_err_set(err, LS_INVALID, "parameter value: not valid UTF-8");
			json_decref(t);
		}
		rc = not_add(q, key, value, err);
		if (rc != LS_NOTFOUND)
			return rc;
	}
	if (!bit) {
		if (unknown)
			*unknown = true;
		safe_name(key, shown, sizeof(shown));
		return ls_err_set(err, LS_INVALID, "unknown parameter '%s'", shown);
	}
	seen = q->has & bit;
	if (bit == INDEX_Q_ACTION)
		seen = q->has & (INDEX_Q_ACTION | INDEX_Q_ACTION_PREFIX);
	if (bit == INDEX_Q_SERVICE)
		seen = q->has & (INDEX_Q_SERVICE | INDEX_Q_SERVICE_PREFIX);
	if (bit == INDEX_Q_RESOURCE_ID)
		seen = q->has & (INDEX_Q_RESOURCE_ID | INDEX_Q_RESOURCE_ID_PREFIX);
	if (seen)
		return ls_err_set(err, LS_INVALID, "parameter '%s' given more than once", key);
	if (!value)
		value = "";
	n = strnlen(value, INDEX_VALUE_MAX + 1);
	if (n > INDEX_VALUE_MAX)
		return ls_err_set(err, LS_INVALID, "parameter '%s': longer than %d bytes", key,
				  INDEX_VALUE_MAX);
	if (n == 0) {
		if (bit == INDEX_Q_CURSOR)
			return LS_OK;	/* first page */
		return ls_err_set(err, LS_INVALID, "parameter '%s': empty value", key);
	}
	{
		/* Values end up in JSON (audit details, manifests). */
		json_t *t = json_string(value);

		if (!t)
			return ls_err_set(err, LS_INVALID, "parameter '%s': not valid UTF-8", key);
		json_decref(t);
	}

	switch (bit) {
	case INDEX_Q_FROM: rc = parse_when(key, value, &q->from_us, q->when[0], err); break;
	case INDEX_Q_TO: rc = parse_when(key, value, &q->to_us, q->when[1], err); break;
	case INDEX_Q_RECEIVED_FROM:
		rc = parse_when(key, value, &q->received_from_us, q->when[2], err);
		break;
	case INDEX_Q_RECEIVED_TO:
		rc = parse_when(key, value, &q->received_to_us, q->when[3], err);
		break;
	case INDEX_Q_ACTOR: rc = match_value(key, &bit, value, n, &q->actor, err); break;
	case INDEX_Q_SERVICE: rc = match_value(key, &bit, value, n, &q->service, err); break;
	case INDEX_Q_RESOURCE_TYPE:
		rc = match_value(key, &bit, value, n, &q->resource_type, err);
		break;
	case INDEX_Q_RESOURCE_ID: rc = match_value(key, &bit, value, n, &q->resource_id, err); break;
	case INDEX_Q_WRITER: rc = match_value(key, &bit, value, n, &q->writer, err); break;
	case INDEX_Q_ACTION: rc = match_value(key, &bit, value, n, &q->action, err); break;
	case INDEX_Q_OUTCOME: rc = match_value(key, &bit, value, n, &q->outcome, err); break;
	case INDEX_Q_SOURCE_IP: rc = parse_cidr(value, q, err); break;
	case INDEX_Q_ORDER:
		if (!strcmp(value, "asc"))
			q->order = INDEX_ASC;
		else if (!strcmp(value, "desc"))
			q->order = INDEX_DESC;
		else
			return ls_err_set(err, LS_INVALID, "parameter 'order': must be asc or desc");
		break;
	case INDEX_Q_LIMIT: {
		unsigned v = 0;

		for (i = 0; i < n; i++) {
			if (value[i] < '0' || value[i] > '9' || i >= 7)
				break;
			v = v * 10 + (unsigned)(value[i] - '0');
		}
		if (i != n || v < 1 || v > INDEX_LIMIT_MAX)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'limit': must be an integer from 1 to %d",
					  INDEX_LIMIT_MAX);
		q->limit = v;
		break;
	}
	case INDEX_Q_CURSOR: rc = index_cursor_decode(value, n, q, err); break;
	}
	if (rc == LS_OK)
		q->has |= bit;
	return rc;
}

ls_rc index_query_add(struct index_query *q, const char *key, const char *value,
		      struct ls_err *err)
{
	return query_add(q, key, value, NULL, err);
}

/* Percent-decode src[0..n) ('+' is a space) into a new string; *out NULL
 * and -1 for a bad escape, an encoded NUL or more than cap bytes. */
static int pct_decode(const char *src, size_t n, size_t cap, char **out)
{
	char *d;
	size_t i, k = 0;

	*out = NULL;
	if (n > cap * 3)
		return -1;
	d = malloc(n + 1);
	if (!d)
		return -2;
	for (i = 0; i < n; i++) {
		char c = src[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int h, l;

			if (n - i < 3 || (h = jlex_hexval((uint8_t)src[i + 1])) < 0 ||
			    (l = jlex_hexval((uint8_t)src[i + 2])) < 0)
				goto bad;
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (c == '\0' || k >= cap)
			goto bad;
		d[k++] = c;
	}
	d[k] = '\0';
	*out = d;
	return 0;
bad:
	free(d);
	return -1;
}

ls_rc index_query_parse(const char *qs, size_t n, struct index_query *q, index_param_fn extra,
			void *ctx, struct ls_err *err)
{
	size_t i = 0;
	ls_rc rc = LS_OK;

	index_query_init(q);
	if (!qs)
		return LS_OK;
	if (n > INDEX_QUERY_MAX)
		return ls_err_set(err, LS_INVALID, "query string longer than %d bytes",
				  INDEX_QUERY_MAX);
	if (memchr(qs, '\0', n))
		return ls_err_set(err, LS_INVALID, "query string holds a NUL byte");
	while (i < n && rc == LS_OK) {
		const char *pair = qs + i, *amp = memchr(pair, '&', n - i), *eq;
		size_t len = amp ? (size_t)(amp - pair) : n - i;
		char *key = NULL, *val = NULL;
		int r1, r2;

		i += len + 1;
		if (len == 0)
			continue;
		eq = memchr(pair, '=', len);
		r1 = pct_decode(pair, eq ? (size_t)(eq - pair) : len, 64, &key);
		r2 = r1 ? 0 : eq ? pct_decode(eq + 1, len - (size_t)(eq + 1 - pair), INDEX_VALUE_MAX,
					      &val)
				 : pct_decode("", 0, 1, &val);
		if (r1 == -2 || r2 == -2) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		} else if (r1) {
			rc = ls_err_set(err, LS_INVALID,
					"bad parameter name (bad percent-encoding or too long)");
		} else if (r2) {
			char shown[48];

			safe_name(key, shown, sizeof(shown));
			rc = ls_err_set(err, LS_INVALID,
					"parameter '%s': bad percent-encoding or longer than %d bytes",
					shown, INDEX_VALUE_MAX);
		} else {
			bool unknown = false;

			rc = query_add(q, key, val, &unknown, err);
			if (unknown && extra) {
				rc = extra(ctx, key, val, err);
				if (rc == LS_NOTFOUND) {
					char shown[48];

					safe_name(key, shown, sizeof(shown));
					rc = ls_err_set(err, LS_INVALID, "unknown parameter '%s'",
							shown);
				}
			}
		}
		free(key);
		free(val);
	}
	if (rc != LS_OK)
		index_query_release(q);
	return rc;
}

static int put_time(json_t *o, const char *k, int64_t us, const char *rel, bool written)
{
	char buf[40];

	if (written && rel[0])
		return json_object_set_new(o, k, json_string(rel));
	event_format_time(us, buf, sizeof(buf));
	return json_object_set_new(o, k, json_string(buf));
}

/* A filter's value as written: the prefix with its '*' again. */
static json_t *shown_value(unsigned bit, const char *v)
{
	char *p = NULL;
	json_t *j;

	if (!(bit & (INDEX_Q_ACTION_PREFIX | INDEX_Q_SERVICE_PREFIX | INDEX_Q_RESOURCE_ID_PREFIX)))
		return json_string(v);
	if (asprintf(&p, "%s*", v) < 0)
		return NULL;
	j = json_string(p);
	free(p);
	return j;
}

static const char *bit_name(unsigned bit)
{
	switch (bit) {
	case INDEX_Q_ACTOR: return "actor";
	case INDEX_Q_ACTION: case INDEX_Q_ACTION_PREFIX: return "action";
	case INDEX_Q_OUTCOME: return "outcome";
	case INDEX_Q_SERVICE: case INDEX_Q_SERVICE_PREFIX: return "service";
	case INDEX_Q_RESOURCE_TYPE: return "resource_type";
	case INDEX_Q_RESOURCE_ID: case INDEX_Q_RESOURCE_ID_PREFIX: return "resource_id";
	case INDEX_Q_WRITER: return "writer";
	default: return "?";
	}
}

/* written: relative times as the client wrote them (the cursor's form). */
static json_t *filters_json(const struct index_query *q, bool written)
{
	static const unsigned strs[] = {
		INDEX_Q_ACTOR, INDEX_Q_ACTION, INDEX_Q_ACTION_PREFIX, INDEX_Q_OUTCOME,
		INDEX_Q_SERVICE, INDEX_Q_SERVICE_PREFIX, INDEX_Q_RESOURCE_TYPE,
		INDEX_Q_RESOURCE_ID, INDEX_Q_RESOURCE_ID_PREFIX, INDEX_Q_WRITER,
	};
	const char *vals[] = {
		q->actor, q->action, q->action, q->outcome, q->service, q->service,
		q->resource_type, q->resource_id, q->resource_id, q->writer,
	};
	json_t *o = json_object();
	int bad = 0;
	size_t i;

	if (!o)
		return NULL;
	if (q->has & INDEX_Q_FROM)
		bad |= put_time(o, "from", q->from_us, q->when[0], written);
	if (q->has & INDEX_Q_TO)
		bad |= put_time(o, "to", q->to_us, q->when[1], written);
	if (q->has & INDEX_Q_RECEIVED_FROM)
		bad |= put_time(o, "received_from", q->received_from_us, q->when[2], written);
	if (q->has & INDEX_Q_RECEIVED_TO)
		bad |= put_time(o, "received_to", q->received_to_us, q->when[3], written);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (q->has & strs[i])
			bad |= json_object_set_new(o, bit_name(strs[i]),
						   shown_value(strs[i], vals[i]));
	if (q->has & INDEX_Q_SOURCE_IP)
		bad |= json_object_set_new(o, "source_ip", json_string(q->source_ip));
	for (i = 0; i < q->nnot && !bad; i++) {
		/* "actor!": [values, in the order given] */
		char k[32];
		json_t *a;

		snprintf(k, sizeof(k), "%s!", bit_name(q->nots[i].bit));
		a = json_object_get(o, k);
		if (!a) {
			a = json_array();
			bad |= json_object_set_new(o, k, a);
		}
		bad |= !a || json_array_append_new(a, shown_value(q->nots[i].bit, q->nots[i].value));
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *index_query_filters_json(const struct index_query *q)
{
	return filters_json(q, false);
}

/* ================================================================ cursors */

static void cursor_check(const uint8_t *c, uint8_t out[12])
{
	uint8_t h[LS_HASH_LEN];

	ls_sha256(CURSOR_TAG, sizeof(CURSOR_TAG) - 1, c, 18, h);
	memcpy(out, h, 12);
}

/* First 8 bytes of SHA-256 of the normalised filters. */
ls_rc ix_filter_hash(const struct index_query *q, uint8_t out[8])
{
	uint8_t h[LS_HASH_LEN];
	json_t *o = filters_json(q, true);
	char *s;

	if (!o)
		return LS_NOMEM;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		return LS_NOMEM;
	ls_sha256(s, strlen(s), NULL, 0, h);
	free(s);
	memcpy(out, h, 8);
	return LS_OK;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_val(char c)
{
	const char *p = c ? strchr(B64URL, c) : NULL;

	return p ? (int)(p - B64URL) : -1;
}

void index_cursor_encode(const struct index_query *q, uint64_t last, char *out)
{
	uint8_t c[INDEX_CURSOR_LEN];
	size_t i, k = 0;

	c[0] = CURSOR_VERSION;
	c[1] = q->order == INDEX_ASC ? 1 : 0;
	put_be64(c + 2, last);
	if (ix_filter_hash(q, c + 10) != LS_OK)
		memset(c + 10, 0, 8);	/* OOM: the cursor will be refused, never misread */
	cursor_check(c, c + 18);
	/* 30 bytes = 10 groups of 3 -> 40 characters, no padding. */
	for (i = 0; i < INDEX_CURSOR_LEN; i += 3) {
		uint32_t v = (uint32_t)c[i] << 16 | (uint32_t)c[i + 1] << 8 | c[i + 2];

		out[k++] = B64URL[v >> 18 & 63];
		out[k++] = B64URL[v >> 12 & 63];
		out[k++] = B64URL[v >> 6 & 63];
		out[k++] = B64URL[v & 63];
	}
	out[k] = '\0';
}

ls_rc index_cursor_decode(const char *text, size_t n, struct index_query *q, struct ls_err *err)
{
	uint8_t c[INDEX_CURSOR_LEN], chk[12];
	size_t i, k = 0;

	if (n != INDEX_CURSOR_TEXT)
		goto bad;
	for (i = 0; i < n; i += 4) {
		int a = b64url_val(text[i]), b = b64url_val(text[i + 1]);
		int d = b64url_val(text[i + 2]), e = b64url_val(text[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0 || d < 0 || e < 0)
			goto bad;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)d << 6 | (uint32_t)e;
		c[k++] = (uint8_t)(v >> 16);
		c[k++] = (uint8_t)(v >> 8);
		c[k++] = (uint8_t)v;
	}
	cursor_check(c, chk);
	if (!ls_ct_equal(chk, c + 18, sizeof(chk)) || c[0] != CURSOR_VERSION || c[1] > 1)
		goto bad;
	q->has_after = 1;
	q->after = get_be64(c + 2);
	q->cursor_order = c[1] ? INDEX_ASC : INDEX_DESC;
	memcpy(q->cursor_filter, c + 10, 8);
	return LS_OK;
bad:
	return ls_err_set(err, LS_INVALID,
			  "parameter 'cursor': not a cursor this server issued (or it was altered)");
}
