/*
 * event_partial.c - batches taken event by event (event.h, "per-item
 * mode"): what POST /v1/events?partial=1, a partial writer token and the
 * Kubernetes webhook use, so that one bad event does not refuse the good
 * ones around it.  Pure, like event_parse.c.
 *
 * The body is first cut into items without parsing them (a loose scan:
 * strings skipped, brackets counted), then each item goes through the same
 * strict parse, template and evt_finish() as in event_parse.c, on its own:
 *   JSON array   the elements between the top-level commas;
 *   JSON object  the body is one item;
 *   NDJSON       each line that is not blank;
 *   k8s          the elements of the EventList's "items" (the list itself
 *                must parse: its kind and apiVersion say what the items are).
 * An item refused keeps its bytes as sent (a span of the body), for the
 * record the server writes of it (hash and excerpt).
 *
 * Invariants:
 *  1. Positions are the items' places in the body, counted the same way in
 *     both modes (blank NDJSON lines are not items), so a position in a
 *     partial reply names the same item an all-or-nothing reply would.
 *  2. An accepted item's entry is byte for byte what event_batch_parse()
 *     makes of the same event (the same evt_finish(); event_fast.c agrees
 *     with it, tests/unit/test_event_fast.c).
 *  3. Only LS_NOMEM stops the loop: every other failure is the item's.
 */
#include "core/event.h"
#include "core/event_int.h"
#include "base/jlex.h"
#include "core/formats/formats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K8S_SCAN_DEPTH 256	/* as event_parse.c: an EventList nests deep */

struct span {
	size_t off, len;
};

struct part {
	struct event_partial *p;
	size_t okcap, rejcap;
};

/* ======================================================= cutting */

/* s[i..) without white space at its end: the length up to end. */
static size_t trim_end(const char *s, size_t start, size_t end)
{
	while (end > start && jlex_is_ws((unsigned char)s[end - 1]))
		end--;
	return end - start;
}

/*
 * The elements of the array whose '[' is at s[open]: their spans (white
 * space trimmed; an empty element is a span of length 0) and the position
 * of the closing ']'.  LS_INVALID when the array does not close.  Brackets
 * are only counted, so a malformed element stays one element as long as its
 * brackets balance; that it is malformed is for its own parse to say.
 */
static ls_rc split_array(const char *s, size_t n, size_t open, struct span **out, size_t *count,
			 size_t *close)
{
	struct span *v = NULL;
	size_t nv = 0, cap = 0, i = jlex_ws(s, n, open + 1);

	*out = NULL;
	*count = 0;
	if (i < n && s[i] == ']') {
		*close = i;
		return LS_OK;
	}
	for (;;) {
		size_t start = i, depth = 0;

		while (i < n) {
			char c = s[i];

			if (c == '"') {
				i = jlex_str_end_loose(s, n, i);
				continue;
			}
			if (c == '[' || c == '{')
				depth++;
			else if ((c == ']' || c == '}') && depth > 0)
				depth--;
			else if ((c == ']' || c == ',') && depth == 0)
				break;
			i++;
		}
		if (i >= n) {
			free(v);
			return LS_INVALID;
		}
		if (nv == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct span *nvp = realloc(v, ncap * sizeof(*nvp));
			if (!nvp) {
				free(v);
				return LS_NOMEM;
			}
			v = nvp;
			cap = ncap;
		}
		v[nv].off = start;
		v[nv++].len = trim_end(s, start, i);
		if (s[i] == ']')
			break;
		i = jlex_ws(s, n, i + 1);
	}
	*out = v;
	*count = nv;
	*close = i;
	return LS_OK;
}

/* The offset of the value of member key of the top-level object of s (a
 * text that parsed), or n when there is none.  Keys are compared as sent:
 * one spelled with escapes is not found (the caller copes). */
static size_t find_member(const char *s, size_t n, const char *key)
{
	size_t kl = strlen(key), i = jlex_ws(s, n, 0);

	if (i >= n || s[i] != '{')
		return n;
	i = jlex_ws(s, n, i + 1);
	while (i < n && s[i] == '"') {
		size_t ks = i + 1, ke = jlex_str_end_loose(s, n, i), depth = 0;
		int hit = ke - ks == kl + 1 && memcmp(s + ks, key, kl) == 0;

		i = jlex_ws(s, n, ke);
		if (i >= n || s[i] != ':')
			return n;
		i = jlex_ws(s, n, i + 1);
		if (hit)
			return i;
		while (i < n) {
			char c = s[i];

			if (c == '"') {
				i = jlex_str_end_loose(s, n, i);
				continue;
			}
			if (c == '[' || c == '{')
				depth++;
			else if ((c == ']' || c == '}') && depth > 0)
				depth--;
			else if ((c == ',' || c == '}') && depth == 0)
				break;
			i++;
		}
		if (i >= n || s[i] == '}')
			return n;
		i = jlex_ws(s, n, i + 1);
	}
	return n;
}

/* ======================================================= the two lists */

static ls_rc push_ok(struct part *a, struct event_item *it, size_t pos)
{
	struct event_partial *p = a->p;

	if (p->ok.n == a->okcap) {
		size_t ncap = a->okcap ? 2 * a->okcap : 16;
		struct event_item *ni = realloc(p->ok.items, ncap * sizeof(*ni));
		size_t *np;

		if (!ni)
			return LS_NOMEM;
		p->ok.items = ni;
		np = realloc(p->ok_pos, ncap * sizeof(*np));
		if (!np)
			return LS_NOMEM;
		p->ok_pos = np;
		a->okcap = ncap;
	}
	p->ok.items[p->ok.n] = *it;
	p->ok_pos[p->ok.n++] = pos;
	p->total++;
	return LS_OK;
}

/* Takes own (malloc'd or NULL) in every case. */
static ls_rc push_rej(struct part *a, ls_rc rc, const struct event_error *e, const char *bytes,
		      size_t len, char *own)
{
	struct event_partial *p = a->p;
	struct event_reject *r;

	if (p->nrej == a->rejcap) {
		size_t ncap = a->rejcap ? 2 * a->rejcap : 8;
		struct event_reject *nr = realloc(p->rej, ncap * sizeof(*nr));

		if (!nr) {
			free(own);
			return LS_NOMEM;
		}
		p->rej = nr;
		a->rejcap = ncap;
	}
	r = &p->rej[p->nrej++];
	memset(r, 0, sizeof(*r));
	r->e = *e;
	r->rc = rc;
	r->own = own;
	r->bytes = own ? own : bytes;
	r->len = len;
	p->total++;
	return LS_OK;
}

/* A parsed item through its template and evt_finish(): to ok or to rej. */
static ls_rc finish_item(struct part *a, json_t *v, enum event_format fmt, bool k8s,
			 const struct event_ctx *ctx, size_t pos, const char *bytes, size_t len,
			 char *own)
{
	struct event_error ie;
	struct event_item it;
	json_t *native = NULL;
	ls_rc rc;

	memset(&ie, 0, sizeof(ie));
	if (k8s) {
		rc = evt_k8s_to_native(v, pos, &ie, &native);
		if (rc == LS_OK) {
			rc = evt_finish(native, ctx, pos, &ie, &it);
			json_decref(native);
		}
	} else if (!json_is_object(v)) {
		evt_fail(&ie, pos, "", "an event must be a JSON object");
		rc = LS_INVALID;
	} else if (fmt == EVENT_FORMAT_FLAT) {
		rc = evt_flat_to_native(v, pos, &ie, &native);
		if (rc == LS_OK) {
			rc = evt_finish(native, ctx, pos, &ie, &it);
			json_decref(native);
			if (rc)
				evt_flat_rename_field(&ie);
		}
	} else {
		rc = evt_finish(v, ctx, pos, &ie, &it);
	}
	if (rc == LS_NOMEM) {
		free(own);
		return rc;
	}
	if (rc != LS_OK)
		return push_rej(a, rc, &ie, bytes, len, own);
	free(own);
	rc = push_ok(a, &it, pos);
	if (rc != LS_OK)
		event_item_release(&it);
	return rc;
}

/* One item given as bytes: the strict parse, then finish_item(). line > 0
 * names an NDJSON line in the message. */
static ls_rc text_item(struct part *a, const char *s, size_t len, enum event_format fmt,
		       const struct event_ctx *ctx, size_t pos, size_t line)
{
	struct event_error ie;
	char why[224];
	size_t at;
	json_t *v;
	ls_rc rc;

	memset(&ie, 0, sizeof(ie));
	if (len == 0) {
		evt_fail(&ie, pos, "", "an empty element");
		return push_rej(a, LS_INVALID, &ie, s, 0, NULL);
	}
	rc = evt_strict_parse(s, len, EVENT_MAX_DEPTH, 0, &v, why, sizeof(why), &at);
	if (rc == LS_NOMEM)
		return rc;
	if (rc != LS_OK) {
		if (line)
			evt_fail(&ie, pos, "", "line %zu: %s", line, why);
		else
			evt_fail(&ie, pos, "", "%s", why);
		return push_rej(a, LS_INVALID, &ie, s, len, NULL);
	}
	rc = finish_item(a, v, fmt, false, ctx, pos, s, len, NULL);
	json_decref(v);
	return rc;
}

static void start(struct event_partial *out, struct part *a)
{
	memset(out, 0, sizeof(*out));
	memset(a, 0, sizeof(*a));
	a->p = out;
}

/* ======================================================= the API */

ls_rc event_batch_parse_partial(const char *body, size_t n, enum event_body kind,
				enum event_format fmt, const struct event_ctx *ctx,
				struct event_partial *out, struct event_error *e)
{
	struct part a;
	ls_rc rc = LS_OK;

	start(out, &a);
	if (!body || jlex_ws(body, n, 0) == n) {
		evt_fail(e, 0, "", "empty body");
		return LS_INVALID;
	}
	if (kind == EVENT_BODY_NDJSON) {
		size_t off = 0, line = 0, pos = 0;

		while (rc == LS_OK && off < n) {
			const char *nl = memchr(body + off, '\n', n - off);
			size_t len = nl ? (size_t)(nl - (body + off)) : n - off, l = len;

			line++;
			if (l && body[off + l - 1] == '\r')
				l--;
			if (jlex_ws(body + off, l, 0) != l)
				rc = text_item(&a, body + off, l, fmt, ctx, pos++, line);
			off += len + (nl ? 1 : 0);
		}
	} else {
		size_t i = jlex_ws(body, n, 0), close, ns = 0;
		struct span *sp = NULL;

		if (body[i] != '[') {
			rc = text_item(&a, body + i, trim_end(body, i, n), fmt, ctx, 0, 0);
		} else {
			rc = split_array(body, n, i, &sp, &ns, &close);
			if (rc == LS_INVALID) {
				evt_fail(e, 0, "", "invalid JSON: the array does not close");
			} else if (rc == LS_OK && jlex_ws(body, n, close + 1) != n) {
				evt_fail(e, ns ? ns - 1 : 0, "", "invalid JSON: text after the array");
				rc = LS_INVALID;
			}
			for (size_t k = 0; rc == LS_OK && k < ns; k++)
				rc = text_item(&a, body + sp[k].off, sp[k].len, fmt, ctx, k, 0);
			free(sp);
		}
	}
	if (rc == LS_OK && out->total == 0) {
		evt_fail(e, 0, "", "no events");
		rc = LS_INVALID;
	}
	if (rc != LS_OK)
		event_partial_release(out);
	return rc;
}

ls_rc event_k8s_parse_partial(const char *body, size_t n, const struct event_ctx *ctx,
			      struct event_partial *out, struct event_error *e)
{
	struct part a;
	json_t *v, *items = NULL;
	struct span *sp = NULL;
	char why[256];
	size_t at, ns = 0, close, nitems;
	ls_rc rc;

	start(out, &a);
	if (!body) {
		evt_fail(e, 0, "", "empty body");
		return LS_INVALID;
	}
	rc = evt_strict_parse(body, n, K8S_SCAN_DEPTH, 0, &v, why, sizeof(why), &at);
	if (rc == LS_NOMEM)
		return rc;
	if (rc) {
		evt_fail(e, 0, "", "%s", why);
		return rc;
	}
	/* What the list is must hold for all of it: no item is taken from a
	 * body that is not an audit.k8s.io EventList or Event. */
	rc = evt_k8s_envelope(v, &items, e);
	if (rc)
		goto out;
	nitems = items ? json_array_size(items) : 1;
	if (items) {
		size_t off = find_member(body, n, "items");

		rc = off < n ? split_array(body, n, off, &sp, &ns, &close) : LS_INVALID;
		if (rc == LS_NOMEM)
			goto out;
		if (rc != LS_OK || ns != nitems) {
			free(sp);
			sp = NULL;	/* no spans: refused items are written out below */
		}
	}
	rc = LS_OK;
	for (size_t i = 0; rc == LS_OK && i < nitems; i++) {
		json_t *it = items ? json_array_get(items, i) : v;
		const char *bytes = body;
		size_t len = n;
		char *own = NULL;

		if (sp) {
			bytes = body + sp[i].off;
			len = sp[i].len;
		} else if (items) {
			own = json_dumps(it, JSON_COMPACT | JSON_ENCODE_ANY);
			if (!own) {
				rc = LS_NOMEM;
				break;
			}
			bytes = own;
			len = strlen(own);
		}
		rc = finish_item(&a, it, EVENT_FORMAT_NATIVE, true, ctx, i, bytes, len, own);
	}
	if (rc == LS_OK && out->total == 0) {
		evt_fail(e, 0, "items", "no events");
		rc = LS_INVALID;
	}
out:
	free(sp);
	json_decref(v);
	if (rc != LS_OK)
		event_partial_release(out);
	return rc;
}

void event_partial_release(struct event_partial *p)
{
	if (!p)
		return;
	event_batch_release(&p->ok);
	free(p->ok_pos);
	for (size_t i = 0; i < p->nrej; i++)
		free(p->rej[i].own);
	free(p->rej);
	memset(p, 0, sizeof(*p));
}

/* ======================================================= excerpt */

int event_excerpt(const char *s, size_t n, size_t max, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0;

	if (cap == 0)
		return n > max;
	while (i < n && i < max) {
		unsigned char c = (unsigned char)s[i];
		size_t ul = c >= 0x80 ? jlex_utf8_len((const unsigned char *)s + i, n - i) : 0;

		if (ul > 1 && i + ul <= max) {
			/* valid UTF-8, whole within the bound: as it is (a
			 * character that hides text is still escaped) */
			if (evt_hidden_char(s + i, ul, false, &(unsigned long){ 0 })) {
				ul = 0;
			} else {
				if (o + ul + 1 > cap)
					break;
				memcpy(out + o, s + i, ul);
				o += ul;
				i += ul;
				continue;
			}
		} else if (ul > 1) {
			break;	/* would cut a character: stop before it */
		}
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = (char)c;
		} else if (c == '\\') {
			if (o + 3 > cap)
				break;
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			if (o + 5 > cap)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
		i++;
	}
	out[o] = 0;
	return i < n;
}
