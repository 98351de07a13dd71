/*
 * webhook.c - alert webhooks: configuration, the signed POST over libcurl,
 * and the retrying delivery queue (see webhook.h for the wire format and
 * the invariants).
 *
 * One thread drains the queue in order.  A job being retried sleeps on the
 * queue's condition variable, so webhook_queue_stop() interrupts a backoff
 * at once; an attempt in flight is bounded by its own timeout.
 */
#include "followers/webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"

/* ------------------------------------------------------------ targets */

/* Special-purpose ranges (IANA registries), IPv4 in its mapped form.  The
 * first match decides, so the more specific entries come first. */
#define V4(a, b, c, d) { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d }
static const struct {
	uint8_t addr[16];
	unsigned bits;
	enum webhook_addr_class cls;
} ranges[] = {
	{ V4(0, 0, 0, 0), 96 + 8, WEBHOOK_ADDR_UNSPECIFIED },	/* "this network": 0.0.0.0 is the host */
	{ V4(10, 0, 0, 0), 96 + 8, WEBHOOK_ADDR_PRIVATE },
	{ V4(100, 64, 0, 0), 96 + 10, WEBHOOK_ADDR_SHARED },
	{ V4(127, 0, 0, 0), 96 + 8, WEBHOOK_ADDR_LOOPBACK },
	{ V4(169, 254, 0, 0), 96 + 16, WEBHOOK_ADDR_LINK_LOCAL },
	{ V4(172, 16, 0, 0), 96 + 12, WEBHOOK_ADDR_PRIVATE },
	{ V4(192, 0, 0, 0), 96 + 24, WEBHOOK_ADDR_RESERVED },
	{ V4(192, 168, 0, 0), 96 + 16, WEBHOOK_ADDR_PRIVATE },
	{ V4(198, 18, 0, 0), 96 + 15, WEBHOOK_ADDR_RESERVED },
	{ V4(224, 0, 0, 0), 96 + 4, WEBHOOK_ADDR_MULTICAST },
	{ V4(240, 0, 0, 0), 96 + 4, WEBHOOK_ADDR_RESERVED },	/* and 255.255.255.255 */
	{ { 0 }, 128, WEBHOOK_ADDR_UNSPECIFIED },		/* :: */
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128, WEBHOOK_ADDR_LOOPBACK },
	{ { 0 }, 96, WEBHOOK_ADDR_RESERVED },			/* IPv4-compatible (deprecated) */
	{ { 0x01, 0 }, 64, WEBHOOK_ADDR_RESERVED },		/* 100::/64 discard */
	{ { 0x00, 0x64, 0xff, 0x9b, 0, 1 }, 48, WEBHOOK_ADDR_PRIVATE }, /* local-use NAT64 */
	{ { 0xfc, 0 }, 7, WEBHOOK_ADDR_PRIVATE },		/* unique local */
	{ { 0xfe, 0x80 }, 10, WEBHOOK_ADDR_LINK_LOCAL },
	{ { 0xfe, 0xc0 }, 10, WEBHOOK_ADDR_PRIVATE },		/* site-local (deprecated) */
	{ { 0xff, 0 }, 8, WEBHOOK_ADDR_MULTICAST },
};
#undef V4

static int prefix_match(const uint8_t a[16], const uint8_t net[16], unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, full))
		return 0;
	if (rest && ((a[full] ^ net[full]) & (uint8_t)(0xff << (8 - rest))))
		return 0;
	return 1;
}

static void mapped4(const uint8_t v4[4], uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

int webhook_addr16(const struct sockaddr *sa, socklen_t len, uint8_t out[16])
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		mapped4((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr, out);
		return 1;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 1;
	}
	return 0;
}

enum webhook_addr_class webhook_addr_classify(const uint8_t a[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t v4[16];
	size_t i;

	/* An address that carries an IPv4 address reaches what that one does
	 * (NAT64, 6to4 relays): it is what the IPv4 address is. */
	if (!memcmp(a, nat64, 12)) {
		mapped4(a + 12, v4);
		return webhook_addr_classify(v4);
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		mapped4(a + 2, v4);
		return webhook_addr_classify(v4);
	}
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		/* the IPv4 rows only ever match mapped addresses, and the
		 * IPv6 rows ::/96 and :: must not match them */
		if ((ranges[i].bits >= 96 && !memcmp(ranges[i].addr, mapped, 12)) !=
		    !memcmp(a, mapped, 12))
			continue;
		if (prefix_match(a, ranges[i].addr, ranges[i].bits))
			return ranges[i].cls;
	}
	return WEBHOOK_ADDR_PUBLIC;
}

const char *webhook_addr_class_name(enum webhook_addr_class c)
{
	switch (c) {
	case WEBHOOK_ADDR_PUBLIC: return "public";
	case WEBHOOK_ADDR_LOOPBACK: return "loopback";
	case WEBHOOK_ADDR_LINK_LOCAL: return "link-local";
	case WEBHOOK_ADDR_PRIVATE: return "private";
	case WEBHOOK_ADDR_SHARED: return "shared (carrier-grade NAT)";
	case WEBHOOK_ADDR_UNSPECIFIED: return "unspecified";
	case WEBHOOK_ADDR_MULTICAST: return "multicast";
	case WEBHOOK_ADDR_RESERVED: return "reserved";
	}
	return "reserved";
}

int webhook_addr_allowed(const struct webhook_policy *p, const uint8_t a[16])
{
	size_t i;

	if (webhook_addr_classify(a) == WEBHOOK_ADDR_PUBLIC)
		return 1;
	for (i = 0; p && i < p->n; i++)
		if (prefix_match(a, p->nets[i].addr, p->nets[i].bits))
			return 1;
	return 0;
}

static int net_parse(const char *s, size_t n, struct webhook_net *out)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned long bits;
	uint8_t v4[4];
	char *end;
	int is4;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (inet_pton(AF_INET, buf, v4) == 1) {
		mapped4(v4, out->addr);
		is4 = 1;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		is4 = 0;
	} else {
		return 0;
	}
	bits = is4 ? 32 : 128;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return 0;
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || *end || bits > (is4 ? 32u : 128u))
			return 0;
	}
	out->bits = (unsigned)bits + (is4 ? 96 : 0);
	/* the host bits are cleared so that 127.0.0.1/8 means 127.0.0.0/8 */
	for (unsigned i = out->bits; i < 128; i++)
		out->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return 1;
}

ls_rc webhook_policy_parse(const char *spec, struct webhook_policy *p, struct ls_err *err)
{
	const char *s = spec, *e;

	memset(p, 0, sizeof(*p));
	while (s && *s) {
		e = s + strcspn(s, ",");
		if (e > s) {
			if (p->n >= WEBHOOK_ALLOW_MAX)
				return ls_err_set(err, LS_LIMIT, "at most %d allowed networks",
						  WEBHOOK_ALLOW_MAX);
			if (!net_parse(s, (size_t)(e - s), &p->nets[p->n]))
				return ls_err_set(err, LS_INVALID,
						  "\"%.*s\" is not an address or CIDR network",
						  (int)(e - s > 64 ? 64 : e - s), s);
			p->n++;
		}
		s = *e ? e + 1 : e;
	}
	return LS_OK;
}

/* The URL's host as the resolver wants it (no brackets), malloc'd. */
static char *url_host(const char *url)
{
	CURLU *u = curl_url();
	char *h = NULL, *out = NULL;
	size_t n;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h) {
		n = strlen(h);
		if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
			out = strndup(h + 1, n - 2);
		else
			out = strdup(h);
	}
	curl_free(h);
	curl_url_cleanup(u);
	return out;
}

ls_rc webhook_target_check(const char *url, const struct webhook_policy *p, struct ls_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char *host = url_host(url);
	uint8_t a[16];
	ls_rc rc = LS_OK;
	int g;

	if (!host)
		return ls_err_set(err, LS_INVALID, "webhook.url: no host");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	g = getaddrinfo(host, NULL, &hints, &res);
	if (g) {
		free(host);
		return ls_err_set(err, LS_NOTFOUND, "webhook.url: the host does not resolve (%s)",
				  gai_strerror(g));
	}
	for (ai = res; ai && rc == LS_OK; ai = ai->ai_next) {
		if (!webhook_addr16(ai->ai_addr, ai->ai_addrlen, a))
			continue;
		if (!webhook_addr_allowed(p, a))
			rc = ls_err_set(err, LS_DENIED,
					"webhook.url: the host is or resolves to a %s address; "
					"webhooks may reach such addresses only when the server "
					"allows them (--webhook-allow-private)",
					webhook_addr_class_name(webhook_addr_classify(a)));
	}
	freeaddrinfo(res);
	free(host);
	return rc;
}

/* Append s[0..n) to out at *at, keeping room for the NUL; 0 when full. */
static int put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
	if (*at + n >= cap)
		return 0;
	memcpy(out + *at, s, n);
	*at += n;
	out[*at] = 0;
	return 1;
}

void webhook_url_mask(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://"), *auth, *aend, *at = NULL, *q, *e;
	size_t o = 0, k;
	int ok;

	if (cap == 0)
		return;
	out[0] = 0;
	if (!p) {
		put(out, cap, &o, "***", 3);
		return;
	}
	auth = p + 3;
	aend = auth + strcspn(auth, "/?#");
	for (q = auth; q < aend; q++)
		if (*q == '@')
			at = q; /* the last one: anything before it is user information */
	ok = put(out, cap, &o, url, (size_t)(auth - url));
	if (ok && at)
		ok = put(out, cap, &o, "***@", 4);
	q = at ? at + 1 : auth;
	if (ok)
		ok = put(out, cap, &o, q, (size_t)(aend - q));
	q = aend;
	k = strcspn(q, "?#");
	if (ok)
		ok = put(out, cap, &o, q, k); /* the path */
	q += k;
	if (ok && *q == '?') {
		ok = put(out, cap, &o, "?", 1);
		for (q++; ok && *q && *q != '#';) {
			e = q + strcspn(q, "&#");
			k = strcspn(q, "=");
			if (q + k < e)
				ok = put(out, cap, &o, q, k + 1);
			ok = ok && put(out, cap, &o, "***", 3);
			q = e;
			if (ok && *q == '&') {
				ok = put(out, cap, &o, "&", 1);
				q++;
			}
		}
	}
	if (ok && *q == '#')
		ok = put(out, cap, &o, "#***", 4);
	if (!ok) {
		/* Too long: cut.  Only unmasked parts were copied, so a cut
		 * never shows part of a credential. */
		o = strlen(out);
		if (cap < 4)
			o = 0;
		else if (o > cap - 4)
			o = cap - 4;
		out[o] = 0;
		put(out, cap, &o, "...", 3);
	}
}

/* ------------------------------------------------------------ config */

static int name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > WEBHOOK_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int url_ok(const char *s)
{
	size_t i, n = strlen(s), skip;

	if (n > WEBHOOK_URL_MAX)
		return 0;
	if (!strncmp(s, "http://", 7))
		skip = 7;
	else if (!strncmp(s, "https://", 8))
		skip = 8;
	else
		return 0;
	if (n == skip || s[skip] == '/')
		return 0; /* no host */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return 0;
	}
	return 1;
}

static int field_in(const char *key, const char *const *fields)
{
	for (; *fields; fields++)
		if (!strcmp(key, *fields))
			return 1;
	return 0;
}

static const char *const api_fields[] = { "name", "url", "secret", "format", "timeout_ms", NULL };
static const char *const stored_fields[] = { "name",	   "url",	    "secret",
					     "format",	   "timeout_ms",    "url_sealed",
					     "secret_sealed", "url_masked", NULL };

/* Everything but url and secret. */
static ls_rc parse_common(const json_t *o, const char *const *fields, struct webhook_cfg *out,
			  struct ls_err *err)
{
	const char *key, *s;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->timeout_ms = WEBHOOK_TIMEOUT_DEFAULT_MS;
	if (!json_is_object(o))
		return ls_err_set(err, LS_INVALID, "webhook: expected an object");
	json_object_foreach((json_t *)o, key, v) {
		if (!field_in(key, fields))
			return ls_err_set(err, LS_INVALID, "webhook: unknown field \"%.64s\"", key);
	}
	v = json_object_get(o, "name");
	if (!json_is_string(v) || !name_ok(json_string_value(v)))
		return ls_err_set(err, LS_INVALID,
				  "webhook.name: required, 1-%d characters of A-Z a-z 0-9 _ . -",
				  WEBHOOK_NAME_MAX);
	snprintf(out->name, sizeof(out->name), "%s", json_string_value(v));
	v = json_object_get(o, "format");
	if (v) {
		s = json_string_value(v);
		if (s && !strcmp(s, "json"))
			out->format = WEBHOOK_FORMAT_JSON;
		else if (s && !strcmp(s, "slack"))
			out->format = WEBHOOK_FORMAT_SLACK;
		else
			return ls_err_set(err, LS_INVALID, "webhook.format: \"json\" or \"slack\"");
	}
	v = json_object_get(o, "timeout_ms");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 100 ||
		    json_integer_value(v) > WEBHOOK_TIMEOUT_MAX_MS)
			return ls_err_set(err, LS_INVALID, "webhook.timeout_ms: an integer 100..%d",
					  WEBHOOK_TIMEOUT_MAX_MS);
		out->timeout_ms = (unsigned)json_integer_value(v);
	}
	return LS_OK;
}

static ls_rc set_url(struct webhook_cfg *out, const char *s, size_t n, struct ls_err *err)
{
	if (!s || memchr(s, 0, n) || n > WEBHOOK_URL_MAX || !url_ok(s))
		return ls_err_set(err, LS_INVALID,
				  "webhook.url: required, an http:// or https:// URL of at most %d "
				  "printable characters",
				  WEBHOOK_URL_MAX);
	memcpy(out->url, s, n);
	out->url[n] = 0;
	return LS_OK;
}

static ls_rc set_secret(struct webhook_cfg *out, const char *s, size_t n, struct ls_err *err)
{
	if (!s || n == 0 || n > WEBHOOK_SECRET_MAX)
		return ls_err_set(err, LS_INVALID, "webhook.secret: a string of 1..%d bytes",
				  WEBHOOK_SECRET_MAX);
	out->secret = malloc(n + 1);
	if (!out->secret)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	memcpy(out->secret, s, n);
	out->secret[n] = 0;
	out->secret_len = n;
	return LS_OK;
}

static ls_rc need_secret(const struct webhook_cfg *out, struct ls_err *err)
{
	if (!out->secret && out->format == WEBHOOK_FORMAT_JSON)
		return ls_err_set(err, LS_INVALID,
				  "webhook.secret: required for format \"json\" (the HMAC key)");
	return LS_OK;
}

ls_rc webhook_cfg_parse(const json_t *o, struct webhook_cfg *out, struct ls_err *err)
{
	json_t *v;
	ls_rc rc = parse_common(o, api_fields, out, err);

	if (rc)
		return rc;
	v = json_object_get(o, "url");
	rc = set_url(out, json_string_value(v), json_string_length(v), err);
	if (rc)
		return rc;
	v = json_object_get(o, "secret");
	if (v && (rc = set_secret(out, json_string_value(v), json_string_length(v), err)))
		return rc;
	return need_secret(out, err);
}

json_t *webhook_cfg_json(const struct webhook_cfg *w, int with_secret)
{
	char shown[WEBHOOK_URL_MAX + 1];
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (!with_secret)
		webhook_url_mask(w->url, shown, sizeof(shown));
	json_object_set_new(o, "name", json_string(w->name));
	json_object_set_new(o, "url", json_string(with_secret ? w->url : shown));
	json_object_set_new(o, "format",
			    json_string(w->format == WEBHOOK_FORMAT_SLACK ? "slack" : "json"));
	json_object_set_new(o, "timeout_ms", json_integer(w->timeout_ms));
	if (w->secret) {
		json_object_set_new(o, "secret", with_secret ?
					 json_stringn(w->secret, w->secret_len) :
					 json_string("set"));
	}
	return o;
}

/* ------------------------------------------------------------ at rest */

#define SEAL_AAD_PREFIX "logseal.webhook.v1"
#define SEAL_PT_MAX (WEBHOOK_URL_MAX > WEBHOOK_SECRET_MAX ? WEBHOOK_URL_MAX : WEBHOOK_SECRET_MAX)

static size_t seal_aad(char *buf, size_t cap, const char *field, const char *name)
{
	int n = snprintf(buf, cap, "%s%c%s%c%s", SEAL_AAD_PREFIX, 0, field, 0, name);

	return n < 0 || (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static json_t *seal_str(const uint8_t *key, const char *field, const char *name, const void *pt,
			size_t n)
{
	char aad[128], *b64;
	size_t an = seal_aad(aad, sizeof(aad), field, name), bn = n + LS_AEAD_OVERHEAD;
	uint8_t *blob = malloc(bn);
	json_t *v = NULL;

	b64 = malloc(LS_B64_LEN(bn) + 1);
	if (blob && b64 && ls_aead_seal_blob(key, aad, an, pt, n, blob) == LS_OK) {
		ls_b64_encode(blob, bn, b64, LS_B64_LEN(bn) + 1);
		v = json_string(b64);
	}
	free(blob);
	free(b64);
	return v;
}

/* The plaintext of a sealed field into buf (cap >= SEAL_PT_MAX + 1),
 * NUL-terminated, its length in *n. */
static ls_rc open_str(const uint8_t *key, const char *field, const char *name, const json_t *v,
		      char *buf, size_t *n, struct ls_err *err)
{
	uint8_t blob[SEAL_PT_MAX + LS_AEAD_OVERHEAD];
	char aad[128];
	size_t an = seal_aad(aad, sizeof(aad), field, name), bn;
	ls_rc rc;

	if (!key)
		return ls_err_set(err, LS_INVALID,
				  "webhook %s: %s_sealed, but the data directory has no encryption keys",
				  name, field);
	if (!json_is_string(v) || ls_b64_decode(json_string_value(v), json_string_length(v), blob,
						sizeof(blob), &bn) != LS_OK ||
	    bn < LS_AEAD_OVERHEAD)
		return ls_err_set(err, LS_CORRUPT, "webhook %s: %s_sealed is not a sealed value",
				  name, field);
	rc = ls_aead_open_blob(key, aad, an, blob, bn, (uint8_t *)buf);
	if (rc != LS_OK)
		return ls_err_set(err, rc == LS_TAMPERED ? LS_TAMPERED : LS_CORRUPT,
				  "webhook %s: %s_sealed does not open under this data directory's "
				  "key (altered, or moved from another webhook)",
				  name, field);
	*n = bn - LS_AEAD_OVERHEAD;
	buf[*n] = 0;
	return LS_OK;
}

json_t *webhook_cfg_stored(const struct webhook_cfg *w, const uint8_t *key)
{
	char shown[WEBHOOK_URL_MAX + 1];
	json_t *o, *v;

	if (!key)
		return webhook_cfg_json(w, 1);
	o = json_object();
	if (!o)
		return NULL;
	webhook_url_mask(w->url, shown, sizeof(shown));
	json_object_set_new(o, "name", json_string(w->name));
	json_object_set_new(o, "url_masked", json_string(shown));
	json_object_set_new(o, "format",
			    json_string(w->format == WEBHOOK_FORMAT_SLACK ? "slack" : "json"));
	json_object_set_new(o, "timeout_ms", json_integer(w->timeout_ms));
	v = seal_str(key, "url", w->name, w->url, strlen(w->url));
	if (!v || json_object_set_new(o, "url_sealed", v)) {
		json_decref(o);
		return NULL;
	}
	if (w->secret) {
		v = seal_str(key, "secret", w->name, w->secret, w->secret_len);
		if (!v || json_object_set_new(o, "secret_sealed", v)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

ls_rc webhook_cfg_load(const json_t *o, const uint8_t *key, struct webhook_cfg *out, int *plain,
		       struct ls_err *err)
{
	char buf[SEAL_PT_MAX + 1];
	json_t *v, *sv;
	size_t n;
	ls_rc rc = parse_common(o, stored_fields, out, err);

	if (rc)
		return rc;
	v = json_object_get(o, "url");
	sv = json_object_get(o, "url_sealed");
	if (v && sv)
		return ls_err_set(err, LS_INVALID, "webhook %s: both url and url_sealed", out->name);
	if (sv) {
		rc = open_str(key, "url", out->name, sv, buf, &n, err);
		if (!rc)
			rc = set_url(out, buf, n, err);
		ls_wipe(buf, sizeof(buf));
	} else {
		rc = set_url(out, json_string_value(v), json_string_length(v), err);
		if (key && plain)
			*plain = 1;
	}
	if (rc)
		return rc;
	v = json_object_get(o, "secret");
	sv = json_object_get(o, "secret_sealed");
	if (v && sv)
		return ls_err_set(err, LS_INVALID, "webhook %s: both secret and secret_sealed",
				  out->name);
	if (sv) {
		rc = open_str(key, "secret", out->name, sv, buf, &n, err);
		if (!rc)
			rc = set_secret(out, buf, n, err);
		ls_wipe(buf, sizeof(buf));
	} else if (v) {
		rc = set_secret(out, json_string_value(v), json_string_length(v), err);
		if (key && plain)
			*plain = 1;
	}
	if (!rc)
		rc = need_secret(out, err);
	if (rc)
		webhook_cfg_release(out);
	return rc;
}

ls_rc webhook_cfg_copy(const struct webhook_cfg *src, struct webhook_cfg *dst)
{
	*dst = *src;
	dst->secret = NULL;
	if (src->secret) {
		dst->secret = malloc(src->secret_len + 1);
		if (!dst->secret)
			return LS_NOMEM;
		memcpy(dst->secret, src->secret, src->secret_len + 1);
	}
	return LS_OK;
}

void webhook_cfg_release(struct webhook_cfg *w)
{
	if (!w)
		return;
	if (w->secret) {
		ls_wipe(w->secret, w->secret_len);
		free(w->secret);
	}
	w->secret = NULL;
	w->secret_len = 0;
}

void webhook_sign(const struct webhook_cfg *w, const char *body, size_t n, char out[65])
{
	uint8_t mac[LS_HASH_LEN];

	ls_hmac_sha256(w->secret ? w->secret : "", w->secret_len, body, n, mac);
	ls_hex(mac, sizeof(mac), out);
}

char *webhook_body(const struct webhook_cfg *w, const json_t *alert, const char *text, int64_t ts)
{
	json_t *o = json_object();
	char *s;

	if (!o)
		return NULL;
	if (w->format == WEBHOOK_FORMAT_SLACK) {
		json_object_set_new(o, "text", json_string(text ? text : "logseal alert"));
	} else {
		json_object_set(o, "alert", (json_t *)alert);
		json_object_set_new(o, "timestamp", json_integer(ts));
	}
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* ------------------------------------------------------------ one POST */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *p, size_t sz, size_t nm, void *ctx)
{
	size_t *seen = ctx;

	(void)p;
	*seen += sz * nm;
	/* invariant 2: stop reading a response that does not end */
	if (*seen > WEBHOOK_RESPONSE_MAX)
		return 0;
	return sz * nm;
}

struct conn_ctx {
	const struct webhook_policy *policy;
	enum webhook_addr_class refused; /* class of the last address refused */
	int nrefused;
};

/* Invariant 6: curl asks here for every socket it is about to connect, with
 * the address it resolved, so the address connected is the one checked. */
static curl_socket_t open_socket(void *p, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct conn_ctx *cc = p;
	uint8_t a16[16];

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !webhook_addr16(&a->addr, a->addrlen, a16)) {
		cc->refused = WEBHOOK_ADDR_RESERVED;
		cc->nrefused++;
		return CURL_SOCKET_BAD;
	}
	if (!webhook_addr_allowed(cc->policy, a16)) {
		cc->refused = webhook_addr_classify(a16);
		cc->nrefused++;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ls_rc webhook_post(const struct webhook_cfg *w, const struct webhook_policy *p, const char *body,
		   size_t n, int64_t ts, long *status, struct ls_err *err)
{
	struct curl_slist *h = NULL, *t;
	struct conn_ctx cc = { p, WEBHOOK_ADDR_PUBLIC, 0 };
	char hdr[160], sig[65];
	size_t seen = 0;
	int64_t start = mono_ms(), left;
	CURL *c;
	ls_rc rc;

	*status = 0;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return ls_err_set(err, LS_IO, "curl_global_init failed");
	c = curl_easy_init();
	if (!c)
		return ls_err_set(err, LS_NOMEM, "curl_easy_init failed");
	t = curl_slist_append(h, "Content-Type: application/json");
	h = t ? t : h;
	snprintf(hdr, sizeof(hdr), "X-Logseal-Timestamp: %lld", (long long)ts);
	t = t ? curl_slist_append(h, hdr) : NULL;
	h = t ? t : h;
	if (t && w->secret) {
		webhook_sign(w, body, n, sig);
		snprintf(hdr, sizeof(hdr), "X-Logseal-Signature: sha256=%s", sig);
		t = curl_slist_append(h, hdr);
		h = t ? t : h;
	}
	/* "Expect: 100-continue" would add a round trip for bodies over 1 KiB */
	t = t ? curl_slist_append(h, "Expect:") : NULL;
	h = t ? t : h;
	if (!t) {
		curl_slist_free_all(h);
		curl_easy_cleanup(c);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	curl_easy_setopt(c, CURLOPT_URL, w->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	/* invariant 6: a proxy would connect on our behalf, unchecked */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &cc);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)w->timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "logseal-webhook/1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WEBHOOK_RESPONSE_MAX);
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (*status >= 200 && *status <= 299)
		rc = LS_OK; /* a 2xx whose body we stopped reading still counts */
	else if (*status)
		rc = ls_err_set(err, LS_IO, "delivery failed: HTTP status %ld", *status);
	else if (cc.nrefused)
		/* what the configured name resolves to, not what answers there */
		rc = ls_err_set(err, LS_DENIED,
				"delivery failed: the target address is not allowed (%s)",
				webhook_addr_class_name(cc.refused));
	else
		rc = ls_err_set(err, LS_IO, "delivery failed");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	/* invariant 7: a refused connection takes as long as an unanswered one */
	if (*status == 0 && rc == LS_IO) {
		left = start + (int64_t)w->timeout_ms - mono_ms();
		if (left > 0) {
			struct timespec d = { (time_t)(left / 1000), (long)(left % 1000) * 1000000L };
			while (nanosleep(&d, &d) == -1 && errno == EINTR)
				;
		}
	}
	return rc;
}

/* ------------------------------------------------------------ queue */

struct job {
	struct job *next;
	struct webhook_cfg w;
	char *id;
	json_t *alert;
	char *text;
};

struct webhook_queue {
	struct webhook_queue_opts o;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* work arrived, or stop */
	pthread_cond_t idle_cv; /* the queue became idle */
	pthread_t thread;
	struct job *head, *tail;
	unsigned queued;
	int busy;
	int stop;
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	webhook_cfg_release(&j->w);
	free(j->id);
	json_decref(j->alert);
	free(j->text);
	free(j);
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	ls_deadline(ts, CLOCK_MONOTONIC, ms);
}

/* Deliver one job with retries.  Returns with q->mu held. */
static void deliver(struct webhook_queue *q, struct job *j)
{
	struct ls_err err = { { 0 } };
	unsigned attempt, delay = q->o.backoff_ms;
	struct timespec dl;
	long status;
	char *body;
	int ok = 0, stopped;

	for (attempt = 1;; attempt++) {
		int64_t ts = (int64_t)time(NULL);

		pthread_mutex_unlock(&q->mu);
		body = webhook_body(&j->w, j->alert, j->text, ts);
		if (!body)
			ls_err_set(&err, LS_NOMEM, "out of memory");
		else if (webhook_post(&j->w, q->o.policy, body, strlen(body), ts, &status, &err) ==
			 LS_OK)
			ok = 1;
		free(body);
		if (!ok && attempt < q->o.attempts && q->o.retry)
			q->o.retry(q->o.ctx, j->id, j->w.name, attempt, err.msg);
		pthread_mutex_lock(&q->mu);
		if (ok || attempt >= q->o.attempts || q->stop)
			break;
		deadline_after(&dl, delay);
		while (!q->stop && pthread_cond_timedwait(&q->cv, &q->mu, &dl) != ETIMEDOUT)
			;
		if (q->stop)
			break;
		delay = delay > q->o.max_backoff_ms / 2 ? q->o.max_backoff_ms : delay * 2;
	}
	stopped = !ok && q->stop && attempt < q->o.attempts;
	pthread_mutex_unlock(&q->mu);
	if (q->o.done)
		q->o.done(q->o.ctx, j->id, j->w.name,
			  ok ? WEBHOOK_DELIVERED : stopped ? WEBHOOK_STOPPED : WEBHOOK_FAILED, attempt,
			  ok ? NULL : err.msg);
	pthread_mutex_lock(&q->mu);
}

static void *queue_main(void *p)
{
	struct webhook_queue *q = p;
	struct job *j;

	pthread_setname_np(pthread_self(), "ls-webhook");
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->stop && !q->head)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop)
			break;
		j = q->head;
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->queued--;
		q->busy = 1;
		deliver(q, j);
		job_free(j);
		q->busy = 0;
		if (!q->head)
			pthread_cond_broadcast(&q->idle_cv);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

ls_rc webhook_queue_start(const struct webhook_queue_opts *o, struct webhook_queue **out,
			  struct ls_err *err)
{
	struct webhook_queue *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;

	if (!q)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	pthread_once(&curl_once, curl_init);
	q->o = *o;
	if (!q->o.max_jobs)
		q->o.max_jobs = 1024;
	if (!q->o.attempts)
		q->o.attempts = 6;
	if (!q->o.backoff_ms)
		q->o.backoff_ms = 500;
	if (!q->o.max_backoff_ms)
		q->o.max_backoff_ms = 60000;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_cond_init(&q->idle_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&q->thread, NULL, queue_main, q)) {
		pthread_cond_destroy(&q->cv);
		pthread_cond_destroy(&q->idle_cv);
		pthread_mutex_destroy(&q->mu);
		free(q);
		return ls_err_set(err, LS_NOMEM, "cannot start the webhook thread");
	}
	*out = q;
	return LS_OK;
}

ls_rc webhook_queue_push(struct webhook_queue *q, const struct webhook_cfg *w, const char *job_id,
			 const json_t *alert, const char *text)
{
	struct job *j;

	pthread_mutex_lock(&q->mu);
	if (q->stop || q->queued >= q->o.max_jobs) {
		pthread_mutex_unlock(&q->mu);
		return LS_BUSY;
	}
	pthread_mutex_unlock(&q->mu);
	j = calloc(1, sizeof(*j));
	if (!j)
		return LS_NOMEM;
	j->id = strdup(job_id);
	j->alert = alert ? json_deep_copy(alert) : json_object();
	j->text = text ? strdup(text) : NULL;
	if (!j->id || !j->alert || (text && !j->text) || webhook_cfg_copy(w, &j->w) != LS_OK) {
		job_free(j);
		return LS_NOMEM;
	}
	pthread_mutex_lock(&q->mu);
	if (q->stop || q->queued >= q->o.max_jobs) {
		pthread_mutex_unlock(&q->mu);
		job_free(j);
		return LS_BUSY;
	}
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->queued++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return LS_OK;
}

ls_rc webhook_queue_idle(struct webhook_queue *q, unsigned timeout_ms)
{
	struct timespec dl;
	ls_rc rc = LS_OK;

	deadline_after(&dl, timeout_ms);
	pthread_mutex_lock(&q->mu);
	while (q->head || q->busy) {
		if (pthread_cond_timedwait(&q->idle_cv, &q->mu, &dl) == ETIMEDOUT) {
			rc = (q->head || q->busy) ? LS_BUSY : LS_OK;
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void webhook_queue_stop(struct webhook_queue *q)
{
	struct job *j;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	while ((j = q->head)) {
		q->head = j->next;
		if (q->o.done)
			q->o.done(q->o.ctx, j->id, j->w.name, WEBHOOK_STOPPED, 0, "stopped");
		job_free(j);
	}
	pthread_cond_destroy(&q->cv);
	pthread_cond_destroy(&q->idle_cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
