/*
 * objstore.c - the requests of the object store client (objstore.h): one
 * function per S3 call, all through xfer_run(), which takes a libcurl easy
 * handle from the store's pool, signs with CURLOPT_AWS_SIGV4, sends, reads
 * the reply, retries what may be retried and turns the outcome into an
 * ls_rc and a message.  URLs, replies and the configuration are parsed in
 * objstore_xml.c and objstore_cfg.c.
 *
 * What goes on the wire (s3:// stores):
 *   URL        path-style ENDPOINT/BUCKET/PREFIX/KEY, else
 *              SCHEME://BUCKET.HOST/PREFIX/KEY; each key byte but the
 *              unreserved ones (A-Z a-z 0-9 - . _ ~) and '/' is %XX, which
 *              is also SigV4's canonical URI for S3 (libcurl 7.88 signs
 *              the path as sent).  Query parameters are written already in
 *              canonical form: sorted by name, each "name=value" (also
 *              "versions="), values %XX-encoded including '/'.
 *   Headers    x-amz-content-sha256 (hex SHA-256 of the payload; of ""
 *              for GET, HEAD, DELETE) on every request; x-amz-security-token
 *              with a session token; on PUT Content-MD5 and Content-Type,
 *              If-None-Match: * for write-once, x-amz-object-lock-mode:
 *              COMPLIANCE + x-amz-object-lock-retain-until-date
 *              (YYYY-MM-DDTHH:MM:SS.000Z) for a lock,
 *              x-amz-object-lock-legal-hold: ON for a hold.  libcurl adds
 *              x-amz-date and Authorization.
 * http(s):// stores are read-only: unsigned GET and HEAD of BASE/KEY.
 *
 * Invariants:
 *  1. A curl handle is used by one call at a time: taken from the pool
 *     under s->mu, reset, used, given back (at most POOL_MAX kept).
 *  2. A retried request starts from the first byte of its body and of its
 *     reply (the buffer emptied, the output file truncated).  A write-once
 *     PUT retried after a dropped connection may meet its own first
 *     attempt: LS_EXISTS, which callers compare by content anyway.
 *  5. A write-once PUT HEADs the key first and answers LS_EXISTS when it is
 *     there, then sends If-None-Match: * as well.  Measured: Ceph RGW 16.2
 *     honours If-None-Match only on unversioned buckets; on a versioned
 *     one (every Object Lock bucket) it silently stores a second version.
 *     With the HEAD a single writer never makes a second version; two
 *     writers racing on one key still could there (AWS S3 refuses it).
 *  3. Error bodies are kept up to ERR_BODY_CAP bytes, object bodies up to
 *     the caller's cap (a larger Content-Length stops the transfer).
 *  4. Messages carry the store's URL, the method, the key, the status, the
 *     S3 Code and Message, or libcurl's error text: never a secret (the
 *     keys live only in the handle's USERNAME/PASSWORD and headers).
 */
#include "store/objstore.h"
#include "store/objstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "base/crypto.h"
#include "base/fsutil.h"

#define POOL_MAX 8
#define ERR_BODY_CAP (64u << 10)
#define ATTEMPTS 4
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct objstore {
	struct objstore_cfg cfg;
	struct objstore_url u;
	char base[1700];	/* requests go to base + "/" + encoded key */
	char name[1400];	/* "s3://BUCKET/PREFIX" or the http(s) base: in messages */
	char desc[2400];
	char sigv4[96];
	pthread_mutex_t mu;
	CURL *pool[POOL_MAX];
	int npool;
};

static __thread char last_code[128];

const char *objstore_last_s3_code(void)
{
	return last_code;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ============================================================ encoding */

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Append s percent-encoded (keeping '/' when keep_slash) to out[*o..cap).
 * Returns 0 when it does not fit. */
static int enc(char *out, size_t cap, size_t *o, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (*o + 4 > cap)
			return 0;
		if (unreserved(c) || (keep_slash && c == '/')) {
			out[(*o)++] = (char)c;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 15];
		}
	}
	out[*o] = 0;
	return 1;
}

static int app(char *out, size_t cap, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n + 1 > cap)
		return 0;
	memcpy(out + *o, s, n + 1);
	*o += n;
	return 1;
}

/* ============================================================== open */

ls_rc objstore_open(const struct objstore_cfg *cfg, struct objstore **out, struct ls_err *err)
{
	struct objstore *s;
	char ep[600];
	size_t n;
	ls_rc rc;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return ls_err_set(err, LS_IO, "curl_global_init failed");
	s = calloc(1, sizeof(*s));
	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory opening an object store");
	s->cfg = *cfg;
	rc = objstore_parse_url(cfg->url, &s->u, err);
	if (rc != LS_OK) {
		free(s);
		return rc;
	}
	if (!s->cfg.region[0])
		snprintf(s->cfg.region, sizeof(s->cfg.region), "us-east-1");
	if (!s->cfg.timeout_ms)
		s->cfg.timeout_ms = 30000;
	if (s->u.s3) {
		if (!s->cfg.access_key[0] || !s->cfg.secret_key[0]) {
			rc = ls_err_set(err, LS_INVALID, "s3://%s: no credentials", s->u.bucket);
			ls_wipe(&s->cfg, sizeof(s->cfg));
			free(s);
			return rc;
		}
		if (s->cfg.endpoint[0])
			snprintf(ep, sizeof(ep), "%s", s->cfg.endpoint);
		else
			snprintf(ep, sizeof(ep), "https://s3.%s.amazonaws.com", s->cfg.region);
		n = strlen(ep);
		while (n > 0 && ep[n - 1] == '/')
			ep[--n] = 0;
		if ((strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) ||
		    strpbrk(ep, " ?#@\r\n\t")) {
			rc = ls_err_set(err, LS_INVALID,
					"s3://%s: endpoint %.500s is not http(s)://HOST[:PORT]",
					s->u.bucket, ep);
			ls_wipe(&s->cfg, sizeof(s->cfg));
			free(s);
			return rc;
		}
		if (s->cfg.path_style) {
			snprintf(s->base, sizeof(s->base), "%s/%s", ep, s->u.bucket);
		} else {
			const char *host = strstr(ep, "://") + 3;

			snprintf(s->base, sizeof(s->base), "%.*s%s.%s", (int)(host - ep), ep,
				 s->u.bucket, host);
		}
		if (s->u.prefix[0])
			snprintf(s->name, sizeof(s->name), "s3://%s/%s", s->u.bucket, s->u.prefix);
		else
			snprintf(s->name, sizeof(s->name), "s3://%s", s->u.bucket);
		snprintf(s->desc, sizeof(s->desc), "%s at %s (region %s, %s)", s->name, ep,
			 s->cfg.region, s->cfg.path_style ? "path-style" : "virtual-hosted");
		snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->cfg.region);
	} else {
		snprintf(s->base, sizeof(s->base), "%s", s->u.base);
		snprintf(s->name, sizeof(s->name), "%s", s->u.base);
		snprintf(s->desc, sizeof(s->desc), "%s (read-only)", s->u.base);
	}
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return LS_OK;
}

void objstore_close(struct objstore *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->npool; i++)
		curl_easy_cleanup(s->pool[i]);
	pthread_mutex_destroy(&s->mu);
	ls_wipe(&s->cfg, sizeof(s->cfg));
	free(s);
}

const char *objstore_describe(const struct objstore *s)
{
	return s->desc;
}

int objstore_writable(const struct objstore *s)
{
	return s->u.s3;
}

static CURL *pool_take(struct objstore *s)
{
	CURL *c = NULL;

	pthread_mutex_lock(&s->mu);
	if (s->npool > 0)
		c = s->pool[--s->npool];
	pthread_mutex_unlock(&s->mu);
	if (c)
		curl_easy_reset(c);
	else
		c = curl_easy_init();
	return c;
}

static void pool_give(struct objstore *s, CURL *c)
{
	pthread_mutex_lock(&s->mu);
	if (s->npool < POOL_MAX) {
		s->pool[s->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (c)
		curl_easy_cleanup(c);
}

/* =========================================================== transfers */

struct xfer {
	/* request */
	const char *method;	/* GET HEAD PUT DELETE */
	const char *what;	/* key or "(bucket)", for messages */
	char url[4096];
	struct curl_slist *hdrs;
	const char *body;	/* PUT from memory */
	size_t body_n, body_off;
	FILE *in;		/* PUT from a file */
	uint64_t in_n;
	int nosign;
	/* reply */
	int keep;		/* keep a 2xx body in buf */
	size_t cap;
	FILE *out;		/* a 2xx body into this file */
	char *buf;
	size_t n, bcap;
	int over;
	long status;
	struct objstore_info info;
	char cerr[CURL_ERROR_SIZE];
};

static int ok2xx(long st)
{
	return st >= 200 && st < 300;
}

static void trim(const char **v, size_t *n)
{
	while (*n && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*n)--;
	}
	while (*n && ((*v)[*n - 1] == '\r' || (*v)[*n - 1] == '\n' || (*v)[*n - 1] == ' '))
		(*n)--;
}

static void copy_val(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
}

/* "2026-12-08T10:00:00.000Z" (fraction optional) as Unix seconds, 0 if bad. */
static int64_t parse_iso(const char *v)
{
	struct tm tm;
	int y, mo, d, h, mi, se;

	if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return (int64_t)timegm(&tm);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb, hn;
	const char *colon, *v;
	size_t vn;
	char tmp[128];

	if (n > 5 && memcmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', n);

		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		memset(&x->info, 0, sizeof(x->info));
		return n;
	}
	colon = memchr(p, ':', n);
	if (!colon)
		return n;
	hn = (size_t)(colon - p);
	v = colon + 1;
	vn = n - hn - 1;
	trim(&v, &vn);
#define IS(h) (hn == sizeof(h) - 1 && strncasecmp(p, h, hn) == 0)
	if (IS("Content-Length")) {
		uint64_t cl;

		copy_val(tmp, sizeof(tmp), v, vn);
		if (ls_parse_u64(tmp, 0, UINT64_MAX, &cl)) {
			x->info.size = cl;
			if (ok2xx(x->status) && (x->keep || x->out) && x->cap && cl > x->cap) {
				x->over = 1;
				return 0;
			}
		}
	} else if (IS("ETag")) {
		if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
			v++;
			vn -= 2;
		}
		copy_val(x->info.etag, sizeof(x->info.etag), v, vn);
	} else if (IS("x-amz-version-id")) {
		copy_val(x->info.version_id, sizeof(x->info.version_id), v, vn);
	} else if (IS("x-amz-object-lock-mode")) {
		copy_val(x->info.lock_mode, sizeof(x->info.lock_mode), v, vn);
	} else if (IS("x-amz-object-lock-retain-until-date")) {
		copy_val(tmp, sizeof(tmp), v, vn);
		x->info.lock_until = parse_iso(tmp);
	} else if (IS("x-amz-object-lock-legal-hold")) {
		x->info.legal_hold = vn == 2 && strncasecmp(v, "ON", 2) == 0;
	}
#undef IS
	return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb, lim;

	if (ok2xx(x->status) && x->out)
		return fwrite(p, 1, n, x->out) == n ? n : 0;
	if (ok2xx(x->status) && !x->keep)
		return n;
	lim = ok2xx(x->status) ? x->cap : ERR_BODY_CAP;
	if (x->n + n > lim) {
		if (ok2xx(x->status)) {
			x->over = 1;
			return 0;
		}
		n = lim - x->n;	/* an error body is cut, not refused */
		if (n == 0)
			return size * nmemb;
	}
	if (x->n + n + 1 > x->bcap) {
		size_t nc = x->bcap ? x->bcap : 4096;
		char *b;

		while (nc < x->n + n + 1)
			nc *= 2;
		if (nc > lim + 1)
			nc = lim + 1;
		b = realloc(x->buf, nc);
		if (!b)
			return 0;
		x->buf = b;
		x->bcap = nc;
	}
	memcpy(x->buf + x->n, p, n);
	x->n += n;
	x->buf[x->n] = 0;
	return size * nmemb;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	if (x->in)
		return fread(p, 1, n, x->in);
	if (n > x->body_n - x->body_off)
		n = x->body_n - x->body_off;
	memcpy(p, x->body + x->body_off, n);
	x->body_off += n;
	return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;

	if (origin != SEEK_SET || off < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	if (x->in)
		return fseeko(x->in, (off_t)off, SEEK_SET) == 0 ? CURL_SEEKFUNC_OK
								 : CURL_SEEKFUNC_FAIL;
	if ((size_t)off > x->body_n)
		return CURL_SEEKFUNC_FAIL;
	x->body_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static int retryable(CURLcode res, long status)
{
	switch (res) {
	case CURLE_OK:
		return status >= 500;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return 1;
	default:
		return 0;
	}
}

static void setup(struct objstore *s, CURL *c, struct xfer *x)
{
	uint32_t t = s->cfg.timeout_ms;

	curl_easy_setopt(c, CURLOPT_URL, x->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->cerr);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(t < 10000 ? t : 10000));
	if (x->in || x->out) {
		/* big transfers: give up when stalled, not after a fixed time */
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(t + 999) / 1000);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t);
	}
	if (s->cfg.cacert[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, s->cfg.cacert);
	if (s->cfg.insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (s->u.s3 && !x->nosign) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, s->cfg.access_key);
		curl_easy_setopt(c, CURLOPT_PASSWORD, s->cfg.secret_key);
	}
	if (strcmp(x->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(x->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)(x->in ? x->in_n : x->body_n));
	} else if (strcmp(x->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
}

/* Add the headers every signed request has (invariant 1 of objstore.h). */
static ls_rc common_headers(struct objstore *s, struct xfer *x, const char *sha256hex,
			    struct ls_err *err)
{
	char h[4200];
	struct curl_slist *l;

	if (!s->u.s3)
		return LS_OK;
	snprintf(h, sizeof(h), "x-amz-content-sha256: %s", sha256hex ? sha256hex : EMPTY_SHA256);
	l = curl_slist_append(x->hdrs, h);
	if (l && s->cfg.session_token[0]) {
		x->hdrs = l;
		snprintf(h, sizeof(h), "x-amz-security-token: %s", s->cfg.session_token);
		l = curl_slist_append(x->hdrs, h);
		ls_wipe(h, sizeof(h));
	}
	if (!l)
		return ls_err_set(err, LS_NOMEM, "out of memory building a request");
	x->hdrs = l;
	return LS_OK;
}

static ls_rc add_header(struct xfer *x, const char *h, struct ls_err *err)
{
	struct curl_slist *l = curl_slist_append(x->hdrs, h);

	if (!l)
		return ls_err_set(err, LS_NOMEM, "out of memory building a request");
	x->hdrs = l;
	return LS_OK;
}

/* x->url = base [/ encoded PREFIX/key] [? query]; key NULL: the bucket. */
static ls_rc build_url(struct objstore *s, struct xfer *x, const char *key, const char *query,
		       struct ls_err *err)
{
	size_t o = 0;
	int ok = app(x->url, sizeof(x->url), &o, s->base);

	if (key) {
		size_t kn = strlen(key);

		if (!objstore_key_ok(key, kn) ||
		    strlen(s->u.prefix) + 1 + kn >= OBJSTORE_KEY_MAX)
			return ls_err_set(err, LS_INVALID, "%s: bad object key \"%.200s\"",
					  s->name, key);
		ok = ok && app(x->url, sizeof(x->url), &o, "/");
		if (s->u.prefix[0])
			ok = ok && enc(x->url, sizeof(x->url), &o, s->u.prefix, 1) &&
			     app(x->url, sizeof(x->url), &o, "/");
		ok = ok && enc(x->url, sizeof(x->url), &o, key, 1);
	} else if (!s->cfg.path_style) {
		ok = ok && app(x->url, sizeof(x->url), &o, "/");
	}
	if (query && *query)
		ok = ok && app(x->url, sizeof(x->url), &o, "?") &&
		     app(x->url, sizeof(x->url), &o, query);
	if (!ok)
		return ls_err_set(err, LS_INVALID, "%s: request URL too long", s->name);
	x->what = key ? key : "(bucket)";
	return LS_OK;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Send x (with retries), then map the outcome (invariant 4 of objstore.h).
 * x->hdrs is freed. */
static ls_rc xfer_run(struct objstore *s, struct xfer *x, struct ls_err *err)
{
	static const long backoff_ms[ATTEMPTS - 1] = { 100, 400, 1200 };
	CURLcode res = CURLE_OK;
	char code[128], msg[300];
	ls_rc rc;

	for (int a = 0; a < ATTEMPTS; a++) {
		CURL *c;

		x->n = 0;
		if (x->buf)
			x->buf[0] = 0;
		x->over = 0;
		x->status = 0;
		x->cerr[0] = 0;
		x->body_off = 0;
		memset(&x->info, 0, sizeof(x->info));
		if (x->in && fseeko(x->in, 0, SEEK_SET) != 0) {
			res = CURLE_READ_ERROR;
			break;
		}
		if (x->out && (fflush(x->out) != 0 || ftruncate(fileno(x->out), 0) != 0 ||
			       fseeko(x->out, 0, SEEK_SET) != 0)) {
			res = CURLE_WRITE_ERROR;
			break;
		}
		c = pool_take(s);
		if (!c) {
			curl_slist_free_all(x->hdrs);
			x->hdrs = NULL;
			return ls_err_set(err, LS_NOMEM, "curl_easy_init failed");
		}
		setup(s, c, x);
		res = curl_easy_perform(c);
		if (res == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
		pool_give(s, c);
		if (x->over || !retryable(res, x->status) || a == ATTEMPTS - 1)
			break;
		nap_ms(backoff_ms[a]);
	}
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (x->over) {
		snprintf(last_code, sizeof(last_code), "%s", "");
		return ls_err_set(err, LS_LIMIT, "%s: %s %s: object larger than %zu bytes",
				  s->name, x->method, x->what, x->cap);
	}
	if (res != CURLE_OK) {
		snprintf(last_code, sizeof(last_code), "%s", "");
		return ls_err_set(err, LS_IO, "%s: %s %s: %s", s->name, x->method, x->what,
				  x->cerr[0] ? x->cerr : curl_easy_strerror(res));
	}
	if (ok2xx(x->status))
		return LS_OK;
	objstore_parse_error(x->buf, x->n, code, sizeof(code), msg, sizeof(msg));
	if (!code[0]) {
		/* no error document (HEAD has no body): the names SDKs use */
		const char *c = x->status == 404 ? "NotFound" : x->status == 403 ? "Forbidden"
			      : x->status == 412 ? "PreconditionFailed" : "";

		snprintf(code, sizeof(code), "%s", c);
	}
	snprintf(last_code, sizeof(last_code), "%s", code);
	if (x->status == 401 || x->status == 403)
		rc = LS_DENIED;
	else if (x->status == 404)
		rc = LS_NOTFOUND;
	else if (x->status == 412)
		rc = LS_EXISTS;
	else if (x->status >= 500)
		rc = LS_IO;
	else
		rc = LS_INVALID;
	if (code[0] && msg[0])
		return ls_err_set(err, rc, "%s: %s %s: HTTP %ld %s (%s)", s->name, x->method,
				  x->what, x->status, code, msg);
	return ls_err_set(err, rc, "%s: %s %s: HTTP %ld%s%s", s->name, x->method, x->what,
			  x->status, code[0] ? " " : "", code);
}

static ls_rc read_only(struct objstore *s, const char *method, const char *key,
		       struct ls_err *err)
{
	return ls_err_set(err, LS_INVALID, "%s: %s %s: read-only store", s->name, method,
			  key ? key : "(bucket)");
}

/* =================================================================== PUT */

static ls_rc head_q(struct objstore *s, const char *key, const char *query,
		    struct objstore_info *info, struct ls_err *err);

static void iso8601(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

static ls_rc put_common(struct objstore *s, struct xfer *x, const char *key,
			const uint8_t sha[32], const uint8_t md5[16],
			const struct objstore_put_opts *o, struct ls_err *err)
{
	char h[200], hex[65], b64[32];
	ls_rc rc;

	x->method = "PUT";
	if (!s->u.s3)
		return read_only(s, "PUT", key, err);
	rc = build_url(s, x, key, NULL, err);
	if (rc != LS_OK)
		return rc;
	if (o && o->if_none_match == 1) {
		/* RGW 16.2 ignores If-None-Match on a versioned bucket (every
		 * Object Lock bucket is) and stores a second version: look
		 * first (invariant 5). */
		struct ls_err herr;
		char saved[sizeof(last_code)];

		memcpy(saved, last_code, sizeof(saved));
		rc = head_q(s, key, NULL, NULL, &herr);
		if (rc == LS_NOTFOUND)
			memcpy(last_code, saved, sizeof(saved));
		else if (rc != LS_OK)
			return ls_err_set(err, rc, "%s", herr.msg);
		if (rc == LS_OK) {
			snprintf(last_code, sizeof(last_code), "%s", "PreconditionFailed");
			return ls_err_set(err, LS_EXISTS, "%s: PUT %s: the object exists (write-once)",
					  s->name, key);
		}
	}
	ls_hex(sha, 32, hex);
	ls_b64_encode(md5, 16, b64, sizeof(b64));
	rc = common_headers(s, x, hex, err);
	snprintf(h, sizeof(h), "Content-MD5: %s", b64);
	if (rc == LS_OK)
		rc = add_header(x, h, err);
	snprintf(h, sizeof(h), "Content-Type: %.150s",
		 o && o->content_type ? o->content_type : "application/octet-stream");
	if (rc == LS_OK)
		rc = add_header(x, h, err);
	if (rc == LS_OK && o && o->if_none_match)
		rc = add_header(x, "If-None-Match: *", err);
	if (rc == LS_OK && o && o->lock_until > 0) {
		char when[40];

		iso8601(o->lock_until, when, sizeof(when));
		rc = add_header(x, "x-amz-object-lock-mode: COMPLIANCE", err);
		snprintf(h, sizeof(h), "x-amz-object-lock-retain-until-date: %s", when);
		if (rc == LS_OK)
			rc = add_header(x, h, err);
	}
	if (rc == LS_OK && o && o->legal_hold)
		rc = add_header(x, "x-amz-object-lock-legal-hold: ON", err);
	if (rc != LS_OK) {
		curl_slist_free_all(x->hdrs);
		x->hdrs = NULL;
		return rc;
	}
	rc = xfer_run(s, x, err);
	free(x->buf);	/* an error body or a PUT's reply: not wanted */
	x->buf = NULL;
	return rc;
}

static int digests(const void *p, size_t n, FILE *f, uint8_t sha[32], uint8_t md5[16])
{
	EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
	int ok = a && b && EVP_DigestInit_ex(a, EVP_sha256(), NULL) &&
		 EVP_DigestInit_ex(b, EVP_md5(), NULL);

	if (ok && f) {
		char buf[65536];
		size_t r;

		while (ok && (r = fread(buf, 1, sizeof(buf), f)) > 0)
			ok = EVP_DigestUpdate(a, buf, r) && EVP_DigestUpdate(b, buf, r);
		ok = ok && !ferror(f);
	} else if (ok && n) {
		ok = EVP_DigestUpdate(a, p, n) && EVP_DigestUpdate(b, p, n);
	}
	ok = ok && EVP_DigestFinal_ex(a, sha, NULL) && EVP_DigestFinal_ex(b, md5, NULL);
	EVP_MD_CTX_free(a);
	EVP_MD_CTX_free(b);
	return ok;
}

ls_rc objstore_put(struct objstore *s, const char *key, const void *data, size_t n,
		   const struct objstore_put_opts *o, struct ls_err *err)
{
	struct xfer x;
	uint8_t sha[32], md5[16];

	memset(&x, 0, sizeof(x));
	if (!digests(data, n, NULL, sha, md5))
		return ls_err_set(err, LS_NOMEM, "%s: PUT %.200s: digest failed", s->name, key);
	x.body = n ? data : "";
	x.body_n = n;
	return put_common(s, &x, key, sha, md5, o, err);
}

ls_rc objstore_put_file(struct objstore *s, const char *key, const char *path,
			const struct objstore_put_opts *o, struct ls_err *err)
{
	struct xfer x;
	uint8_t sha[32], md5[16];
	struct stat st;
	ls_rc rc;

	memset(&x, 0, sizeof(x));
	if (!s->u.s3)
		return read_only(s, "PUT", key, err);
	x.in = fopen(path, "rb");
	if (!x.in)
		return ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO,
				  "%s: PUT %.200s: open %.300s: %s", s->name, key, path,
				  strerror(errno));
	if (fstat(fileno(x.in), &st) != 0 || !digests(NULL, 0, x.in, sha, md5)) {
		rc = ls_err_set(err, LS_IO, "%s: PUT %.200s: read %.300s: %s", s->name, key, path,
				strerror(errno));
		fclose(x.in);
		return rc;
	}
	x.in_n = (uint64_t)st.st_size;
	rc = put_common(s, &x, key, sha, md5, o, err);
	fclose(x.in);
	return rc;
}

/* ============================================================ GET, HEAD */

ls_rc objstore_get(struct objstore *s, const char *key, char **data, size_t *n, size_t cap,
		   struct ls_err *err)
{
	struct xfer x;
	ls_rc rc;

	*data = NULL;
	*n = 0;
	memset(&x, 0, sizeof(x));
	x.method = "GET";
	x.keep = 1;
	x.cap = cap ? cap : OBJSTORE_REPLY_CAP;
	rc = build_url(s, &x, key, NULL, err);
	if (rc == LS_OK)
		rc = common_headers(s, &x, NULL, err);
	if (rc == LS_OK)
		rc = xfer_run(s, &x, err);
	if (rc == LS_OK && !x.buf) {
		x.buf = malloc(1);
		if (!x.buf)
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		else
			x.buf[0] = 0;
	}
	curl_slist_free_all(x.hdrs);
	if (rc != LS_OK) {
		free(x.buf);
		return rc;
	}
	*data = x.buf;
	*n = x.n;
	return LS_OK;
}

ls_rc objstore_get_file(struct objstore *s, const char *key, const char *path,
			struct ls_err *err)
{
	struct xfer x;
	char tmp[4200], dir[4200], *slash;
	int fd;
	ls_rc rc;

	memset(&x, 0, sizeof(x));
	x.method = "GET";
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return ls_err_set(err, LS_INVALID, "path too long");
	rc = build_url(s, &x, key, NULL, err);
	if (rc == LS_OK)
		rc = common_headers(s, &x, NULL, err);
	if (rc != LS_OK) {
		curl_slist_free_all(x.hdrs);
		return rc;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	x.out = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!x.out) {
		rc = ls_err_set(err, LS_IO, "%s: GET %.200s: create %.300s: %s", s->name, key, tmp,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		curl_slist_free_all(x.hdrs);
		return rc;
	}
	rc = xfer_run(s, &x, err);
	free(x.buf);
	if (rc == LS_OK && (fflush(x.out) != 0 || fsync(fileno(x.out)) != 0))
		rc = ls_err_set(err, errno == ENOSPC ? LS_NOSPACE : LS_IO,
				"%s: GET %.200s: write %.300s: %s", s->name, key, tmp,
				strerror(errno));
	if (fclose(x.out) != 0 && rc == LS_OK)
		rc = ls_err_set(err, LS_IO, "%s: GET %.200s: close %.300s: %s", s->name, key, tmp,
				strerror(errno));
	if (rc == LS_OK && rename(tmp, path) != 0)
		rc = ls_err_set(err, LS_IO, "%s: GET %.200s: rename to %.300s: %s", s->name, key,
				path, strerror(errno));
	if (rc != LS_OK) {
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof(dir), ".");
	return fs_sync_dir(dir, err);
}

static ls_rc head_q(struct objstore *s, const char *key, const char *query,
		    struct objstore_info *info, struct ls_err *err)
{
	struct xfer x;
	ls_rc rc;

	memset(&x, 0, sizeof(x));
	x.method = "HEAD";
	rc = build_url(s, &x, key, query, err);
	if (rc == LS_OK)
		rc = common_headers(s, &x, NULL, err);
	if (rc == LS_OK)
		rc = xfer_run(s, &x, err);
	curl_slist_free_all(x.hdrs);
	free(x.buf);
	if (info)
		*info = x.info;
	return rc;
}

ls_rc objstore_head(struct objstore *s, const char *key, struct objstore_info *info,
		    struct ls_err *err)
{
	struct objstore_info tmp;
	ls_rc rc = head_q(s, key, NULL, &tmp, err);

	if (info)
		*info = rc == LS_OK ? tmp : (struct objstore_info){ 0 };
	return rc;
}

/* ================================================================ lists */

/* A GET of the bucket with query q; the reply in *body. */
static ls_rc bucket_get(struct objstore *s, const char *q, char **body, size_t *n,
			struct ls_err *err)
{
	struct xfer x;
	ls_rc rc;

	memset(&x, 0, sizeof(x));
	x.method = "GET";
	x.keep = 1;
	x.cap = 16u << 20;
	rc = build_url(s, &x, NULL, q, err);
	if (rc == LS_OK)
		rc = common_headers(s, &x, NULL, err);
	if (rc == LS_OK)
		rc = xfer_run(s, &x, err);
	curl_slist_free_all(x.hdrs);
	if (rc != LS_OK) {
		free(x.buf);
		return rc;
	}
	*body = x.buf;
	*n = x.n;
	return LS_OK;
}

/* The store's PREFIX/ + p, the prefix S3 lists. */
static ls_rc full_prefix(struct objstore *s, const char *p, char *out, size_t cap,
			 struct ls_err *err)
{
	int w = s->u.prefix[0] ? snprintf(out, cap, "%s/%s", s->u.prefix, p ? p : "")
			       : snprintf(out, cap, "%s", p ? p : "");

	if (w < 0 || (size_t)w >= cap || (size_t)w >= OBJSTORE_KEY_MAX)
		return ls_err_set(err, LS_INVALID, "%s: prefix too long", s->name);
	for (const char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return ls_err_set(err, LS_INVALID, "%s: control byte in a prefix", s->name);
	return LS_OK;
}

ls_rc objstore_list(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		    struct ls_err *err)
{
	char full[OBJSTORE_KEY_MAX + 8], token[1024] = "", q[4096];
	size_t strip = s->u.prefix[0] ? strlen(s->u.prefix) + 1 : 0;
	ls_rc rc;

	if (!s->u.s3)
		return read_only(s, "LIST", prefix, err);
	rc = full_prefix(s, prefix, full, sizeof(full), err);
	if (rc != LS_OK)
		return rc;
	for (;;) {
		struct objstore_listing l;
		char *body;
		size_t n, o = 0;
		int ok = 1, stop = 0;

		if (token[0])
			ok = app(q, sizeof(q), &o, "continuation-token=") &&
			     enc(q, sizeof(q), &o, token, 0) && app(q, sizeof(q), &o, "&");
		ok = ok && app(q, sizeof(q), &o, "list-type=2");
		if (full[0])
			ok = ok && app(q, sizeof(q), &o, "&prefix=") && enc(q, sizeof(q), &o, full, 0);
		if (!ok)
			return ls_err_set(err, LS_INVALID, "%s: list query too long", s->name);
		rc = bucket_get(s, q, &body, &n, err);
		if (rc != LS_OK)
			return rc;
		rc = objstore_parse_listing(body, n, &l, err);
		free(body);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "%s: LIST %s: %s", s->name, full,
					  "reply is not a ListObjectsV2 result");
		for (size_t i = 0; i < l.n && !stop; i++) {
			if (strlen(l.keys[i]) <= strip ||
			    (strip && strncmp(l.keys[i], s->u.prefix, strip - 1) != 0))
				continue;
			stop = fn(ctx, l.keys[i] + strip, l.sizes[i]);
		}
		if (!stop && l.truncated)
			snprintf(token, sizeof(token), "%s", l.next_token);
		else
			token[0] = 0;
		objstore_listing_free(&l);
		if (!token[0])
			return LS_OK;
	}
}

/* ============================================================== DELETE */

static ls_rc delete_q(struct objstore *s, const char *key, const char *version,
		      struct ls_err *err)
{
	struct xfer x;
	char q[600];
	size_t o = 0;
	ls_rc rc;

	memset(&x, 0, sizeof(x));
	x.method = "DELETE";
	q[0] = 0;
	if (version && !(app(q, sizeof(q), &o, "versionId=") &&
			 enc(q, sizeof(q), &o, version, 0)))
		return ls_err_set(err, LS_INVALID, "%s: version id too long", s->name);
	rc = build_url(s, &x, key, q, err);
	if (rc == LS_OK)
		rc = common_headers(s, &x, NULL, err);
	if (rc == LS_OK)
		rc = xfer_run(s, &x, err);
	curl_slist_free_all(x.hdrs);
	free(x.buf);
	return rc;
}

ls_rc objstore_delete(struct objstore *s, const char *key, const char *version_id,
		      struct ls_err *err)
{
	if (!s->u.s3)
		return read_only(s, "DELETE", key, err);
	return delete_q(s, key, version_id, err);
}

/* Every version (and delete marker) of exactly PREFIX/key. */
static ls_rc versions_of(struct objstore *s, const char *key, char ***ids, size_t *nids,
			 struct ls_err *err)
{
	char full[OBJSTORE_KEY_MAX + 8], km[1024] = "", vm[256] = "", q[4096];
	size_t cap = 0;
	ls_rc rc = full_prefix(s, key, full, sizeof(full), err);

	*ids = NULL;
	*nids = 0;
	while (rc == LS_OK) {
		struct objstore_listing l;
		char *body;
		size_t n, o = 0;
		int ok = 1;

		if (km[0])
			ok = app(q, sizeof(q), &o, "key-marker=") && enc(q, sizeof(q), &o, km, 0) &&
			     app(q, sizeof(q), &o, "&");
		ok = ok && app(q, sizeof(q), &o, "prefix=") && enc(q, sizeof(q), &o, full, 0);
		if (vm[0])
			ok = ok && app(q, sizeof(q), &o, "&version-id-marker=") &&
			     enc(q, sizeof(q), &o, vm, 0);
		ok = ok && app(q, sizeof(q), &o, "&versions=");
		if (!ok) {
			rc = ls_err_set(err, LS_INVALID, "%s: list query too long", s->name);
			break;
		}
		rc = bucket_get(s, q, &body, &n, err);
		if (rc != LS_OK)
			break;
		rc = objstore_parse_listing(body, n, &l, err);
		free(body);
		if (rc == LS_OK && !l.version_ids && l.n)
			rc = ls_err_set(err, LS_CORRUPT, "%s: LIST versions of %s: not a version list",
					s->name, key);
		for (size_t i = 0; rc == LS_OK && i < l.n; i++) {
			if (strcmp(l.keys[i], full) != 0)
				continue;
			if (*nids == cap) {
				size_t nc = cap ? cap * 2 : 8;
				char **v = realloc(*ids, nc * sizeof(*v));

				if (!v) {
					rc = ls_err_set(err, LS_NOMEM, "out of memory");
					break;
				}
				*ids = v;
				cap = nc;
			}
			(*ids)[*nids] = strdup(l.version_ids[i]);
			if (!(*ids)[*nids])
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
			else
				(*nids)++;
		}
		if (rc == LS_OK && l.truncated) {
			snprintf(km, sizeof(km), "%s", l.next_token);
			snprintf(vm, sizeof(vm), "%s", l.next_version);
		} else {
			km[0] = 0;
		}
		objstore_listing_free(&l);
		if (!km[0])
			break;
	}
	return rc;
}

ls_rc objstore_delete_all(struct objstore *s, const char *key, struct ls_err *err)
{
	char **ids = NULL;
	size_t n = 0, i;
	int64_t now = (int64_t)time(NULL);
	ls_rc rc;

	if (!s->u.s3)
		return read_only(s, "DELETE", key, err);
	rc = versions_of(s, key, &ids, &n, err);
	if (rc == LS_OK && n == 0)
		rc = ls_err_set(err, LS_NOTFOUND, "%s: DELETE %.200s: no such object", s->name, key);
	/* First every version's lock, so that nothing is deleted when one is
	 * protected; a delete marker has no lock (HEAD answers 405). */
	for (i = 0; rc == LS_OK && i < n; i++) {
		struct objstore_info info;
		char q[600];
		size_t o = 0;

		if (!(app(q, sizeof(q), &o, "versionId=") && enc(q, sizeof(q), &o, ids[i], 0))) {
			rc = ls_err_set(err, LS_INVALID, "%s: version id too long", s->name);
			break;
		}
		rc = head_q(s, key, q, &info, err);
		if (rc == LS_INVALID || rc == LS_NOTFOUND) {
			rc = LS_OK;
			continue;
		}
		if (rc != LS_OK)
			break;
		if (info.legal_hold)
			rc = ls_err_set(err, LS_DENIED,
					"%s: DELETE %.200s: version %.100s is under a legal hold",
					s->name, key, ids[i]);
		else if (info.lock_mode[0] && info.lock_until > now)
			rc = ls_err_set(err, LS_DENIED,
					"%s: DELETE %.200s: version %.100s is locked (%s) until %" PRId64,
					s->name, key, ids[i], info.lock_mode, info.lock_until);
		if (rc == LS_DENIED)
			snprintf(last_code, sizeof(last_code), "%s", "AccessDenied");
	}
	for (i = 0; rc == LS_OK && i < n; i++)
		rc = delete_q(s, key, ids[i], err);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

/* ========================================================= the bucket */

ls_rc objstore_ping(struct objstore *s, int *object_lock, struct ls_err *err)
{
	struct xfer x;
	char *body = NULL, v[32];
	size_t n;
	ls_rc rc;

	if (object_lock)
		*object_lock = 0;
	memset(&x, 0, sizeof(x));
	x.method = "HEAD";
	rc = build_url(s, &x, NULL, NULL, err);
	if (rc == LS_OK)
		rc = common_headers(s, &x, NULL, err);
	if (rc == LS_OK)
		rc = xfer_run(s, &x, err);
	curl_slist_free_all(x.hdrs);
	free(x.buf);
	if (!s->u.s3) {
		/* a published tree answers what it likes for its root: any
		 * HTTP reply shows it is reachable */
		return rc == LS_IO && x.status == 0 ? rc : LS_OK;
	}
	if (rc != LS_OK || !object_lock)
		return rc;
	rc = bucket_get(s, "object-lock=", &body, &n, err);
	if (rc == LS_NOTFOUND)	/* ObjectLockConfigurationNotFoundError */
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	if (objstore_xml_find(body, n, "ObjectLockConfiguration", "ObjectLockEnabled", v,
			      sizeof(v)))
		*object_lock = strcmp(v, "Enabled") == 0;
	free(body);
	return LS_OK;
}

ls_rc objstore_create_bucket(struct objstore *s, struct ls_err *err)
{
	struct xfer x;
	char body[300] = "";
	uint8_t sha[32], md5[16];
	char hex[65];
	ls_rc rc;

	if (!s->u.s3)
		return read_only(s, "PUT", NULL, err);
	/* S3 in us-east-1 and RGW answer 200 to the owner's second create */
	rc = objstore_ping(s, NULL, err);
	if (rc == LS_OK)
		return ls_err_set(err, LS_EXISTS, "%s: the bucket exists", s->name);
	if (rc != LS_NOTFOUND)
		return rc;
	memset(&x, 0, sizeof(x));
	x.method = "PUT";
	if (strcmp(s->cfg.region, "us-east-1") != 0)
		snprintf(body, sizeof(body),
			 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			 "<LocationConstraint>%.64s</LocationConstraint></CreateBucketConfiguration>",
			 s->cfg.region);
	x.body = body;
	x.body_n = strlen(body);
	if (!digests(body, x.body_n, NULL, sha, md5))
		return ls_err_set(err, LS_NOMEM, "digest failed");
	ls_hex(sha, 32, hex);
	rc = build_url(s, &x, NULL, NULL, err);
	if (rc == LS_OK)
		rc = common_headers(s, &x, hex, err);
	if (rc == LS_OK)
		rc = add_header(&x, "x-amz-bucket-object-lock-enabled: true", err);
	if (rc == LS_OK)
		rc = xfer_run(s, &x, err);
	curl_slist_free_all(x.hdrs);
	free(x.buf);
	if (rc == LS_INVALID && x.status == 409 &&
	    (strcmp(last_code, "BucketAlreadyOwnedByYou") == 0 ||
	     strcmp(last_code, "BucketAlreadyExists") == 0))
		return LS_EXISTS;
	return rc;
}
