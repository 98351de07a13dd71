/*
 * webhook.c - alert webhooks: configuration, the signed POST over libcurl,
 * and the retrying delivery queue (see webhook.h for the wire format and
 * the invariants).
 *
 * One thread drains the queue in order.  A job being retried sleeps on the
 * queue's condition variable, so webhook_queue_stop() interrupts a backoff
 * at once; an attempt in flight is bounded by its own timeout.
 */
#include "webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

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

ls_rc webhook_cfg_parse(const json_t *o, struct webhook_cfg *out, struct ls_err *err)
{
	const char *key, *s;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->timeout_ms = WEBHOOK_TIMEOUT_DEFAULT_MS;
	if (!json_is_object(o))
		return ls_err_set(err, LS_INVALID, "webhook: expected an object");
	json_object_foreach((json_t *)o, key, v) {
		if (strcmp(key, "name") && strcmp(key, "url") && strcmp(key, "secret") &&
		    strcmp(key, "format") && strcmp(key, "timeout_ms"))
			return ls_err_set(err, LS_INVALID, "webhook: unknown field \"%.64s\"", key);
	}
	v = json_object_get(o, "name");
	if (!json_is_string(v) || !name_ok(json_string_value(v)))
		return ls_err_set(err, LS_INVALID,
				  "webhook.name: required, 1-%d characters of A-Z a-z 0-9 _ . -",
				  WEBHOOK_NAME_MAX);
	snprintf(out->name, sizeof(out->name), "%s", json_string_value(v));
	v = json_object_get(o, "url");
	if (!json_is_string(v) || !url_ok(json_string_value(v)))
		return ls_err_set(err, LS_INVALID,
				  "webhook.url: required, an http:// or https:// URL of at most %d "
				  "printable characters",
				  WEBHOOK_URL_MAX);
	snprintf(out->url, sizeof(out->url), "%s", json_string_value(v));
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
	v = json_object_get(o, "secret");
	if (v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > WEBHOOK_SECRET_MAX)
			return ls_err_set(err, LS_INVALID, "webhook.secret: a string of 1..%d bytes",
					  WEBHOOK_SECRET_MAX);
		out->secret_len = json_string_length(v);
		out->secret = malloc(out->secret_len + 1);
		if (!out->secret)
			return ls_err_set(err, LS_NOMEM, "out of memory");
		memcpy(out->secret, json_string_value(v), out->secret_len + 1);
	} else if (out->format == WEBHOOK_FORMAT_JSON) {
		return ls_err_set(err, LS_INVALID,
				  "webhook.secret: required for format \"json\" (the HMAC key)");
	}
	return LS_OK;
}

json_t *webhook_cfg_json(const struct webhook_cfg *w, int with_secret)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(w->name));
	json_object_set_new(o, "url", json_string(w->url));
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

ls_rc webhook_post(const struct webhook_cfg *w, const char *body, size_t n, int64_t ts,
		   long *status, struct ls_err *err)
{
	struct curl_slist *h = NULL, *t;
	char hdr[160], sig[65];
	size_t seen = 0;
	CURLcode cc;
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
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (*status >= 200 && *status <= 299)
		rc = LS_OK; /* a 2xx whose body we stopped reading still counts */
	else if (*status)
		rc = ls_err_set(err, LS_IO, "HTTP status %ld", *status);
	else
		rc = ls_err_set(err, LS_IO, "%s", curl_easy_strerror(cc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
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
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
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
		else if (webhook_post(&j->w, body, strlen(body), ts, &status, &err) == LS_OK)
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
