/*
 * httpc.c - libcurl requests for the command-line clients: configuration
 * (flags, $LOGSEAL_URL, $LOGSEAL_TOKEN), one request with a capped or
 * streamed reply, the server's JSON errors and the retry policy.
 *
 * Invariants (see httpc.h): the token is wiped on close, kept bodies are
 * capped and wiped, a non-2xx body never reaches a sink.
 */
#include "cli/httpc.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/fsutil.h"

#define TOKEN_FILE_MAX 4096

static ls_rc load_token(const struct httpc_cfg *cfg, char *out, size_t cap, struct ls_err *err)
{
	const char *file = cfg->token_file, *env = getenv("LOGSEAL_TOKEN"), *src;
	char path[PATH_MAX], *text = NULL;
	size_t len;
	ls_rc rc;

	out[0] = 0;
	if (!file && cfg->data_dir) {
		if (snprintf(path, sizeof(path), "%s/admin.token", cfg->data_dir) >=
		    (int)sizeof(path))
			return ls_err_set(err, LS_INVALID, "--data: path too long");
		file = path;
	}
	if (file) {
		rc = fs_read_file(file, TOKEN_FILE_MAX, &text, &len, err);
		if (rc != LS_OK)
			return rc;
		src = text;
	} else if (env && *env) {
		src = env;
		len = strlen(env);
	} else if (!cfg->need_token) {
		return LS_OK;
	} else {
		return ls_err_set(err, LS_INVALID,
				  "no token: give --token-file or set LOGSEAL_TOKEN");
	}
	while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r' || src[len - 1] == ' '))
		len--;
	rc = LS_OK;
	if (len == 0 || len >= cap)
		rc = ls_err_set(err, LS_INVALID, "the token is empty or too long");
	else if (memchr(src, '\n', len) || memchr(src, '\r', len))
		rc = ls_err_set(err, LS_INVALID, "the token holds a line break");
	else {
		memcpy(out, src, len);
		out[len] = 0;
	}
	if (text) {
		ls_wipe(text, strlen(text));
		free(text);
	}
	return rc;
}

ls_rc httpc_open(struct httpc *h, const struct httpc_cfg *cfg, struct ls_err *err)
{
	const char *server = cfg->server;
	char tok[HTTPC_TOKEN_CAP];
	size_t n;
	ls_rc rc;

	memset(h, 0, sizeof(*h));
	if (!server)
		server = getenv("LOGSEAL_URL");
	if (!server || !*server)
		server = HTTPC_DEFAULT_URL;
	if (snprintf(h->base, sizeof(h->base), "%s", server) >= (int)sizeof(h->base))
		return ls_err_set(err, LS_INVALID, "the server URL is too long");
	/* Tolerate trailing slashes: paths are appended with their own. */
	for (n = strlen(h->base); n > 1 && h->base[n - 1] == '/'; n--)
		h->base[n - 1] = 0;
	rc = load_token(cfg, tok, sizeof(tok), err);
	if (rc != LS_OK)
		return rc;
	if (tok[0])
		snprintf(h->auth, sizeof(h->auth), "Authorization: Bearer %s", tok);
	ls_wipe(tok, sizeof(tok));
	h->cacert = cfg->cacert;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ls_wipe(h->auth, sizeof(h->auth));
		return ls_err_set(err, LS_NOMEM, "cannot initialise libcurl");
	}
	h->curl = curl_easy_init();
	if (!h->curl) {
		curl_global_cleanup();
		ls_wipe(h->auth, sizeof(h->auth));
		return ls_err_set(err, LS_NOMEM, "cannot initialise libcurl");
	}
	return LS_OK;
}

void httpc_close(struct httpc *h)
{
	if (!h->curl)
		return;
	curl_easy_cleanup(h->curl);
	h->curl = NULL;
	curl_global_cleanup();
	ls_wipe(h->auth, sizeof(h->auth));
}

char *httpc_escape(struct httpc *h, const char *value)
{
	return curl_easy_escape(h->curl, value, 0);
}

/* ---------------------------------------------------------------- a request */

struct xfer {
	struct httpc *h;
	const struct httpc_req *rq;
	struct httpc_resp *resp;
	int decided;	/* the status is known: to_sink says where bytes go */
	int to_sink;
	int over;	/* a kept body went over its cap */
};

static int keep(struct xfer *x, const char *p, size_t n, size_t cap)
{
	struct httpc_resp *r = x->resp;
	char *np;

	if (n > cap || r->len > cap - n) {
		x->over = 1;
		return 0;
	}
	np = realloc(r->body, r->len + n + 1);
	if (!np)
		return 0;
	r->body = np;
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = 0;
	return 1;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *cls)
{
	struct xfer *x = cls;
	size_t n = size * nmemb;
	long status = 0;

	if (!x->decided) {
		curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
		x->to_sink = x->rq->sink && status >= 200 && status < 300;
		x->decided = 1;
	}
	if (x->to_sink) {
		if (x->rq->sink(p, n, x->rq->ctx)) {
			x->resp->sink_failed = 1;
			return 0;
		}
		x->resp->sunk += n;
		return n;
	}
	if (!keep(x, p, n, x->rq->sink || !x->rq->reply_cap ? HTTPC_ERROR_CAP : x->rq->reply_cap))
		return 0;
	return n;
}

static int on_progress(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = cls;

	(void)dt, (void)dn, (void)ut, (void)un;
	if (x->rq->tick)
		x->rq->tick(x->rq->ctx);
	return 0;
}

ls_rc httpc_do(struct httpc *h, const struct httpc_req *rq, struct httpc_resp *resp,
	       struct ls_err *err)
{
	struct xfer x = { h, rq, resp, 0, 0, 0 };
	struct curl_slist *hdrs = NULL, *l;
	char ctype[256], *url = NULL;
	size_t ulen = strlen(h->base) + strlen(rq->path) + 1;
	curl_off_t ra = -1;
	ls_rc rc = LS_OK;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	url = malloc(ulen);
	if (!url)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	snprintf(url, ulen, "%s%s", h->base, rq->path);
	if (h->auth[0]) {
		l = curl_slist_append(hdrs, h->auth);
		if (!l)
			goto nomem;
		hdrs = l;
	}
	if (rq->content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", rq->content_type);
		l = curl_slist_append(hdrs, ctype);
		if (!l)
			goto nomem;
		hdrs = l;
	}
	/* No "Expect: 100-continue" round trip before large bodies. */
	l = curl_slist_append(hdrs, "Expect:");
	if (!l)
		goto nomem;
	hdrs = l;

	curl_easy_reset(h->curl);
	h->errbuf[0] = 0;
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	/* No overall limit (an export may be long); a stalled peer is one
	 * that sends nothing for a minute. */
	curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->cacert)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, h->cacert);
	if (rq->tick) {
		curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, &x);
		curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
	}
	if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(rq->body ? rq->body_len : 0));
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, rq->method);
	}

	resp->cc = curl_easy_perform(h->curl);
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		resp->retry_after = ra > 3600 ? 3600 : (long)ra;
	if (x.over) {
		rc = ls_err_set(err, LS_LIMIT, "%s: the reply is larger than %zu bytes", rq->path,
				x.to_sink ? (size_t)HTTPC_ERROR_CAP : rq->reply_cap);
	} else if (resp->cc != CURLE_OK) {
		rc = ls_err_set(err, LS_IO, "%s: %s", h->base,
				h->errbuf[0] ? h->errbuf : curl_easy_strerror(resp->cc));
	}
	goto out;
nomem:
	rc = ls_err_set(err, LS_NOMEM, "out of memory");
out:
	/* The handle keeps no pointer into hdrs or url past this point. */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(url);
	return rc;
}

void httpc_resp_free(struct httpc_resp *resp)
{
	if (resp->body) {
		ls_wipe(resp->body, resp->len);
		free(resp->body);
	}
	resp->body = NULL;
	resp->len = 0;
}

/* ---------------------------------------------------------------- errors */

static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

void httpc_error_text(const struct httpc_resp *resp, char *out, size_t cap, long *position)
{
	json_t *v = NULL, *e, *pos;
	const char *code = NULL, *msg = NULL;

	if (position)
		*position = -1;
	if (resp->body)
		v = json_loadb(resp->body, resp->len, 0, NULL);
	e = json_object_get(v, "error");
	if (json_is_object(e)) {
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
		pos = json_object_get(e, "position");
		if (position && json_is_integer(pos) && json_integer_value(pos) >= 0)
			*position = (long)json_integer_value(pos);
	}
	if (code || msg)
		snprintf(out, cap, "HTTP %ld %s: %s", resp->status, code ? code : "?",
			 msg ? msg : "");
	else if (resp->body && resp->len)
		snprintf(out, cap, "HTTP %ld: %.200s", resp->status, resp->body);
	else
		snprintf(out, cap, "HTTP %ld", resp->status);
	/* A message may quote client bytes: no control characters on a terminal. */
	printable(out);
	json_decref(v);
}

/* ---------------------------------------------------------------- retries */

int httpc_retryable(ls_rc rc, const struct httpc_resp *resp)
{
	if (rc == LS_IO) {
		switch (resp->cc) {
		case CURLE_COULDNT_CONNECT:
		case CURLE_GOT_NOTHING:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return 1;
		default:
			return 0;
		}
	}
	if (rc != LS_OK)
		return 0;
	return resp->status == 429 || resp->status >= 500;
}

unsigned httpc_backoff_ms(unsigned attempt, long retry_after)
{
	unsigned ms = 500, j = 0;
	unsigned short r = 0;

	while (--attempt > 0 && ms < 30000)
		ms *= 2;
	if (ms > 30000)
		ms = 30000;
	/* Jitter keeps many clients that failed together from retrying together. */
	if (ls_random(&r, sizeof(r)) == LS_OK)
		j = (unsigned)((unsigned long)ms * 2 / 5 * r / 65535);
	ms = ms - ms / 5 + j;
	if (retry_after > 0) {
		if (retry_after > 60)
			retry_after = 60;
		if ((unsigned)retry_after * 1000 > ms)
			ms = (unsigned)retry_after * 1000;
	}
	return ms;
}
