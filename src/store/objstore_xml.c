/*
 * objstore_xml.c - the pure parts of the object store client (objstore.h):
 * store URLs (s3://BUCKET/PREFIX, http(s)://HOST/PATH), S3 error documents
 * (<Error><Code/><Message/></Error>) and listings (ListObjectsV2's
 * <ListBucketResult>, ListObjectVersions' <ListVersionsResult>).  No I/O.
 *
 * XML is parsed by libxml2 with network access and entity expansion off
 * (XML_PARSE_NONET, no XML_PARSE_NOENT or DTD loading): a reply is data
 * from the network.  Element names are matched by local name, so a reply
 * with or without S3's namespace (http://s3.amazonaws.com/doc/2006-03-01/)
 * reads the same.
 *
 * Invariants:
 *  1. A parsed bucket follows S3's naming rules (3..63 of [a-z0-9.-], first
 *     and last a letter or digit); a prefix or key has no empty, "." or
 *     ".." segment and no control byte; an http(s) base has no user info,
 *     query or fragment (a URL never carries a secret into a message).
 *  2. A listing's keys are copied (NUL-terminated, each < OBJSTORE_KEY_MAX
 *     bytes, else LS_CORRUPT); a reply whose root is not one of the two
 *     listing elements is LS_CORRUPT and leaves *out empty.
 */
#include "store/objstore.h"
#include "store/objstore_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* =================================================================== URLs */

static int bucket_ok(const char *b, size_t n)
{
	size_t i;

	if (n < 3 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = b[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '.' && c != '-')
			return 0;
		if (!alnum && (i == 0 || i == n - 1))
			return 0;
	}
	return 1;
}

int objstore_key_ok(const char *k, size_t n)
{
	size_t i, seg = 0;

	if (n == 0 || n >= OBJSTORE_KEY_MAX)
		return 0;
	for (i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)k[i] : '/';

		if (c == '/') {
			size_t len = i - seg;

			if (len == 0 || (len == 1 && k[seg] == '.') ||
			    (len == 2 && k[seg] == '.' && k[seg + 1] == '.'))
				return 0;
			seg = i + 1;
		} else if (c < 0x20 || c == 0x7f) {
			return 0;
		}
	}
	return 1;
}

ls_rc objstore_parse_url(const char *url, struct objstore_url *out, struct ls_err *err)
{
	const char *p, *slash;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!url)
		return ls_err_set(err, LS_INVALID, "object store URL missing");
	/* user:password@ would put a secret into every message that names
	 * the store: refused without repeating the URL */
	if (strchr(url, '@'))
		return ls_err_set(err, LS_INVALID,
				  "object store URL with user info (\"@\") refused: credentials go "
				  "in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS files");
	n = strlen(url);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
			return ls_err_set(err, LS_INVALID,
					  "object store URL has a space or control character");
	if (strncmp(url, "s3://", 5) == 0) {
		out->s3 = 1;
		p = url + 5;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (!bucket_ok(p, n))
			return ls_err_set(err, LS_INVALID,
					  "object store URL %.1100s: bad bucket name (3..63 of a-z 0-9 . -)",
					  url);
		memcpy(out->bucket, p, n);
		if (slash) {
			p = slash;
			while (*p == '/')
				p++;
			n = strlen(p);
			while (n > 0 && p[n - 1] == '/')
				n--;
			if (n > 0 && (n > OBJSTORE_KEY_MAX - 64 || !objstore_key_ok(p, n)))
				return ls_err_set(err, LS_INVALID,
						  "object store URL %.1100s: bad prefix", url);
			memcpy(out->prefix, p, n);
		}
		return LS_OK;
	}
	if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
		const char *host = strstr(url, "://") + 3;
		const char *hend = host + strcspn(host, "/");

		if (hend == host || memchr(host, '@', (size_t)(hend - host)))
			return ls_err_set(err, LS_INVALID,
					  "object store URL %.1100s: no host, or user info in it", url);
		if (strpbrk(url, "?#"))
			return ls_err_set(err, LS_INVALID,
					  "object store URL %.1100s: query or fragment", url);
		n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		if (n >= sizeof(out->base))
			return ls_err_set(err, LS_INVALID, "object store URL too long");
		memcpy(out->base, url, n);
		return LS_OK;
	}
	return ls_err_set(err, LS_INVALID,
			  "object store URL %.1100s: not s3://BUCKET/PREFIX, http:// or https://",
			  url);
}

/* ================================================================= libxml2 */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static xmlDocPtr xml_read(const char *xml, size_t n)
{
	pthread_once(&xml_once, xml_init);
	if (!xml || n == 0 || n > INT_MAX)
		return NULL;
	return xmlReadMemory(xml, (int)n, NULL, NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static int name_is(xmlNodePtr e, const char *name)
{
	return e && e->type == XML_ELEMENT_NODE && strcmp((const char *)e->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr e, const char *name)
{
	for (xmlNodePtr c = e ? e->children : NULL; c; c = c->next)
		if (name_is(c, name))
			return c;
	return NULL;
}

/* The text of e's first child element called name into buf (cut to cap-1
 * bytes); returns its full length, or -1 when there is no such child. */
static long child_text(xmlNodePtr e, const char *name, char *buf, size_t cap)
{
	xmlNodePtr c = child(e, name);
	xmlChar *t;
	size_t n;

	if (cap)
		buf[0] = 0;
	if (!c)
		return -1;
	t = xmlNodeGetContent(c);
	if (!t)
		return 0;
	n = strlen((const char *)t);
	if (cap) {
		size_t k = n < cap - 1 ? n : cap - 1;

		memcpy(buf, t, k);
		buf[k] = 0;
	}
	xmlFree(t);
	return (long)n;
}

void objstore_parse_error(const char *xml, size_t n, char *code, size_t code_cap, char *msg,
			  size_t msg_cap)
{
	xmlDocPtr d;
	xmlNodePtr root;

	if (code_cap)
		code[0] = 0;
	if (msg_cap)
		msg[0] = 0;
	d = xml_read(xml, n);
	if (!d)
		return;
	root = xmlDocGetRootElement(d);
	if (name_is(root, "Error")) {
		child_text(root, "Code", code, code_cap);
		child_text(root, "Message", msg, msg_cap);
	}
	xmlFreeDoc(d);
}

int objstore_xml_find(const char *xml, size_t n, const char *root_name, const char *name,
		      char *buf, size_t cap)
{
	xmlDocPtr d = xml_read(xml, n);
	xmlNodePtr root;
	int found = 0;

	if (cap)
		buf[0] = 0;
	if (!d)
		return 0;
	root = xmlDocGetRootElement(d);
	if (name_is(root, root_name)) {
		/* One level of nesting is enough for the documents we read
		 * (ObjectLockConfiguration/ObjectLockEnabled). */
		if (child_text(root, name, buf, cap) >= 0)
			found = 1;
	}
	xmlFreeDoc(d);
	return found;
}

void objstore_listing_free(struct objstore_listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->keys ? l->keys[i] : NULL);
		free(l->version_ids ? l->version_ids[i] : NULL);
	}
	free(l->keys);
	free(l->sizes);
	free(l->version_ids);
	memset(l, 0, sizeof(*l));
}

static ls_rc add_entry(struct objstore_listing *l, xmlNodePtr e, int versions, size_t *cap,
		       struct ls_err *err)
{
	char size[32], *key, *vid = NULL;
	uint64_t sz = 0;
	long kn;
	xmlNodePtr kc = child(e, "Key");
	xmlChar *t;

	if (!kc)
		return ls_err_set(err, LS_CORRUPT, "listing entry without a Key");
	t = xmlNodeGetContent(kc);
	if (!t)
		return ls_err_set(err, LS_NOMEM, "out of memory reading a listing");
	kn = (long)strlen((const char *)t);
	if (kn == 0 || kn >= OBJSTORE_KEY_MAX) {
		xmlFree(t);
		return ls_err_set(err, LS_CORRUPT, "listing key of %ld bytes", kn);
	}
	key = strdup((const char *)t);
	xmlFree(t);
	if (!key)
		return ls_err_set(err, LS_NOMEM, "out of memory reading a listing");
	if (child_text(e, "Size", size, sizeof(size)) >= 0 &&
	    !ls_parse_u64(size, 0, UINT64_MAX, &sz)) {
		free(key);
		return ls_err_set(err, LS_CORRUPT, "listing Size is not a number");
	}
	if (versions) {
		char v[256];

		if (child_text(e, "VersionId", v, sizeof(v)) < 0 || strlen(v) >= sizeof(v) - 1) {
			free(key);
			return ls_err_set(err, LS_CORRUPT, "listing version without a VersionId");
		}
		vid = strdup(v);
		if (!vid) {
			free(key);
			return ls_err_set(err, LS_NOMEM, "out of memory reading a listing");
		}
	}
	if (l->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **k2 = realloc(l->keys, nc * sizeof(*k2));
		uint64_t *s2;
		char **v2;

		if (k2)
			l->keys = k2;
		s2 = k2 ? realloc(l->sizes, nc * sizeof(*s2)) : NULL;
		if (s2)
			l->sizes = s2;
		v2 = versions && s2 ? realloc(l->version_ids, nc * sizeof(*v2)) : NULL;
		if (v2)
			l->version_ids = v2;
		if (!k2 || !s2 || (versions && !v2)) {
			free(key);
			free(vid);
			return ls_err_set(err, LS_NOMEM, "out of memory reading a listing");
		}
		*cap = nc;
	}
	l->keys[l->n] = key;
	l->sizes[l->n] = sz;
	if (versions)
		l->version_ids[l->n] = vid;
	l->n++;
	return LS_OK;
}

ls_rc objstore_parse_listing(const char *xml, size_t n, struct objstore_listing *out,
			     struct ls_err *err)
{
	xmlDocPtr d;
	xmlNodePtr root;
	char t[16];
	size_t cap = 0;
	int versions;
	ls_rc rc = LS_OK;

	memset(out, 0, sizeof(*out));
	d = xml_read(xml, n);
	if (!d)
		return ls_err_set(err, LS_CORRUPT, "listing reply is not XML");
	root = xmlDocGetRootElement(d);
	if (name_is(root, "ListBucketResult"))
		versions = 0;
	else if (name_is(root, "ListVersionsResult"))
		versions = 1;
	else {
		xmlFreeDoc(d);
		return ls_err_set(err, LS_CORRUPT, "reply is not a bucket listing");
	}
	for (xmlNodePtr c = root->children; c && rc == LS_OK; c = c->next) {
		if (!versions && name_is(c, "Contents"))
			rc = add_entry(out, c, 0, &cap, err);
		else if (versions && (name_is(c, "Version") || name_is(c, "DeleteMarker")))
			rc = add_entry(out, c, 1, &cap, err);
	}
	if (rc == LS_OK) {
		child_text(root, "IsTruncated", t, sizeof(t));
		out->truncated = strcmp(t, "true") == 0;
		if (child_text(root, versions ? "NextKeyMarker" : "NextContinuationToken",
			       out->next_token, sizeof(out->next_token)) >=
		    (long)sizeof(out->next_token))
			rc = ls_err_set(err, LS_CORRUPT, "listing continuation token too long");
		if (versions && child_text(root, "NextVersionIdMarker", out->next_version,
					   sizeof(out->next_version)) >=
					(long)sizeof(out->next_version))
			rc = ls_err_set(err, LS_CORRUPT, "listing version marker too long");
		if (rc == LS_OK && out->truncated && !out->next_token[0])
			rc = ls_err_set(err, LS_CORRUPT, "truncated listing without a next token");
	}
	xmlFreeDoc(d);
	if (rc != LS_OK)
		objstore_listing_free(out);
	return rc;
}
