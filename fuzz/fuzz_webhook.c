/*
 * fuzz_webhook.c - libFuzzer target for the webhook parsers (webhook.h):
 * the allow list (webhook_policy_parse), the address classification of the
 * target policy, the URL mask, and the configuration as given by a client
 * (webhook_cfg_parse) and as stored (webhook_cfg_load, plaintext and sealed
 * under a fixed key).  webhook_target_check is left out: it resolves names.
 *
 * What must stay true besides memory safety:
 *  - an accepted allow list has at most WEBHOOK_ALLOW_MAX networks, prefix
 *    lengths of at most 128, no host bits set, and allows its own networks;
 *  - an address carrying an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96,
 *    6to4 2002::/16) is of the class of that IPv4 address;
 *  - the mask of a URL is a fixed point of the mask, shows no user
 *    information, and masked into a smaller buffer is a prefix of the full
 *    mask followed by "..." (a cut never shows what the mask hides);
 *  - an accepted configuration is within the documented bounds, and goes
 *    through webhook_cfg_json, webhook_cfg_stored (with and without a key)
 *    and back unchanged.
 * Any broken property aborts, which libFuzzer reports as a crash.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "followers/webhook.h"

static const uint8_t key[32] = {
	0x77, 0x65, 0x62, 0x68, 0x6f, 0x6f, 0x6b, 0x2d, 0x66, 0x75, 0x7a, 0x7a,
	0x2d, 0x6b, 0x65, 0x79, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
	0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

/* ------------------------------------------------------------ policy */

static void check_policy(const char *s)
{
	struct webhook_policy p;
	struct ls_err err;
	ls_rc rc = webhook_policy_parse(s, &p, &err);

	if (rc != LS_OK) {
		if (rc != LS_INVALID && rc != LS_LIMIT)
			abort();
		return;
	}
	if (p.n > WEBHOOK_ALLOW_MAX)
		abort();
	for (size_t i = 0; i < p.n; i++) {
		const struct webhook_net *w = &p.nets[i];

		if (w->bits > 128)
			abort();
		for (unsigned b = w->bits; b < 128; b++)
			if (w->addr[b / 8] & (0x80 >> (b % 8)))
				abort();
		if (!webhook_addr_allowed(&p, w->addr))
			abort();
	}
}

static void check_class(const uint8_t a[16])
{
	uint8_t mapped[16] = { 0 }, nat64[16] = { 0, 0x64, 0xff, 0x9b }, six4[16] = { 0x20, 0x02 };
	enum webhook_addr_class c = webhook_addr_classify(a), c4;

	if ((unsigned)c > WEBHOOK_ADDR_RESERVED || !webhook_addr_class_name(c))
		abort();
	if (webhook_addr_allowed(NULL, a) != (c == WEBHOOK_ADDR_PUBLIC))
		abort();
	mapped[10] = mapped[11] = 0xff;
	memcpy(mapped + 12, a + 12, 4);
	memcpy(nat64 + 12, a + 12, 4);
	memcpy(six4 + 2, a + 12, 4);
	memcpy(six4 + 6, a, 10); /* the rest of a 6to4 address is the site's own */
	c4 = webhook_addr_classify(mapped);
	if (webhook_addr_classify(nat64) != c4 || webhook_addr_classify(six4) != c4)
		abort();
}

/* ------------------------------------------------------------ mask */

static void check_mask(const char *url, size_t len)
{
	/* A character becomes at most four ("&" -> "***&"): this never cuts. */
	size_t cap = 4 * len + 16, n, k;
	char *full = malloc(cap), *again = malloc(cap), *small = malloc(cap);
	const char *auth, *at, *aend;

	if (!full || !again || !small)
		abort();
	webhook_url_mask(url, full, cap);
	n = strlen(full);
	if (n >= cap)
		abort();
	webhook_url_mask(full, again, cap);
	if (strcmp(full, again) != 0)
		abort();
	/* The authority shows no user information but the "***" placeholder. */
	auth = strstr(full, "://");
	if (auth) {
		auth += 3;
		aend = auth + strcspn(auth, "/?#");
		at = memchr(auth, '@', (size_t)(aend - auth));
		if (at && (at - auth != 3 || memcmp(auth, "***", 3) != 0))
			abort();
	} else if (strcmp(full, "***") != 0) {
		abort();
	}
	/* Smaller buffers: the full mask, or a prefix of it and "...". */
	for (k = 0; k <= n + 1 && k < 64; k++) {
		size_t c = k < 16 ? k : n + 1 - (k - 16);

		if (c > n + 1)
			continue;
		memset(small, 'X', cap);
		webhook_url_mask(url, small, c);
		if (c == 0) {
			if (small[0] != 'X')
				abort();
			continue;
		}
		if (c > n) {
			if (strcmp(small, full) != 0)
				abort();
			continue;
		}
		size_t m = strlen(small);
		if (m >= c)
			abort();
		if (c < 4) {
			if (m != 0)
				abort();
			continue;
		}
		if (m < 3 || strcmp(small + m - 3, "...") != 0 ||
		    memcmp(small, full, m - 3) != 0 || m - 3 > c - 4)
			abort();
	}
	free(full);
	free(again);
	free(small);
}

/* ------------------------------------------------------------ config */

static void check_bounds(const struct webhook_cfg *w)
{
	size_t n = strlen(w->name);

	if (n == 0 || n > WEBHOOK_NAME_MAX || strlen(w->url) > WEBHOOK_URL_MAX ||
	    (strncmp(w->url, "http://", 7) != 0 && strncmp(w->url, "https://", 8) != 0) ||
	    (w->format != WEBHOOK_FORMAT_JSON && w->format != WEBHOOK_FORMAT_SLACK) ||
	    w->timeout_ms < 100 || w->timeout_ms > WEBHOOK_TIMEOUT_MAX_MS)
		abort();
	if (w->format == WEBHOOK_FORMAT_JSON && !w->secret)
		abort();
	if (w->secret && (w->secret_len == 0 || w->secret_len > WEBHOOK_SECRET_MAX))
		abort();
}

static void same(const struct webhook_cfg *a, const struct webhook_cfg *b)
{
	if (strcmp(a->name, b->name) != 0 || strcmp(a->url, b->url) != 0 ||
	    a->format != b->format || a->timeout_ms != b->timeout_ms || !a->secret != !b->secret ||
	    a->secret_len != b->secret_len ||
	    (a->secret && memcmp(a->secret, b->secret, a->secret_len) != 0))
		abort();
}

/* w through each of its JSON forms (as shown with its secret, stored in
 * plaintext, stored sealed) and back through the matching reader. */
static void round_trip(const struct webhook_cfg *w)
{
	struct webhook_cfg b;
	struct ls_err err;
	int plain = 0;
	json_t *j;

	j = webhook_cfg_json(w, 1);
	if (!j)
		return;
	if (webhook_cfg_parse(j, &b, &err) != LS_OK)
		abort();
	same(w, &b);
	webhook_cfg_release(&b);
	json_decref(j);

	j = webhook_cfg_stored(w, NULL);
	if (!j)
		return;
	if (webhook_cfg_load(j, NULL, &b, &plain, &err) != LS_OK || plain)
		abort();
	same(w, &b);
	webhook_cfg_release(&b);
	json_decref(j);

	j = webhook_cfg_stored(w, key);
	if (!j)
		return;
	if (json_object_get(j, "url") || json_object_get(j, "secret"))
		abort(); /* sealed at rest: no plaintext URL or secret */
	if (webhook_cfg_load(j, key, &b, &plain, &err) != LS_OK || plain)
		abort();
	same(w, &b);
	webhook_cfg_release(&b);
	/* Without the key the sealed form is refused. */
	if (webhook_cfg_load(j, NULL, &b, NULL, &err) == LS_OK)
		abort();
	json_decref(j);
}

static void check_cfg(const uint8_t *data, size_t size)
{
	struct webhook_cfg w;
	struct ls_err err;
	json_t *o = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	int plain;
	ls_rc rc;

	if (!o)
		return;
	rc = webhook_cfg_parse(o, &w, &err);
	if (rc == LS_OK) {
		check_bounds(&w);
		round_trip(&w);
		webhook_cfg_release(&w);
	} else if (rc != LS_INVALID && rc != LS_NOMEM) {
		abort();
	}
	for (int k = 0; k < 2; k++) {
		plain = 0;
		rc = webhook_cfg_load(o, k ? key : NULL, &w, &plain, &err);
		if (rc == LS_OK) {
			check_bounds(&w);
			round_trip(&w);
			webhook_cfg_release(&w);
		} else if (rc != LS_INVALID && rc != LS_CORRUPT && rc != LS_TAMPERED &&
			   rc != LS_NOMEM) {
			abort();
		} else if (w.secret) {
			abort(); /* a refusal keeps nothing */
		}
	}
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	check_policy(s);
	check_mask(s, strlen(s));
	if (size >= 16)
		check_class(data);
	check_cfg(data, size);
	free(s);
	return 0;
}
