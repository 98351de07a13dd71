/*
 * witnesses.c - the witness follower (witnesses.h): one thread, one request
 * at a time, over libcurl.
 *
 * Invariants:
 *  1. A cosignature line is kept only after cosig_verify_line() verified it
 *     with the key configured for the witness that sent it, over the exact
 *     checkpoint text sent; lines of other keys in a reply are dropped.
 *  2. Once a witness has said (409) that it cosigned a tree larger than the
 *     log's latest checkpoint, nothing is sent to any witness again in this
 *     process (state "rollback"): sending our older tree would only ask
 *     witnesses to bless a rollback.  The state is sticky until a restart,
 *     which meets the same 409 again if nothing changed.
 *  3. The thread never holds w->mu across a request: the status calls
 *     (integrity, metrics, readyz) never wait on the network.
 */
#include "followers/witnesses.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "core/cosig.h"
#include "core/event.h"
#include "core/merkle.h"
#include "core/note.h"
#include "followers/cosigned.h"
#include "store/log.h"
#include "store/tiles.h"

#define REPLY_MAX 65536
#define URL_MAX 1024

enum peer_state { PEER_OK, PEER_MISCONFIGURED, PEER_FORK, PEER_ERROR };
static const char *const peer_state_names[] = { "ok", "misconfigured", "fork", "error" };

struct peer {
	char url[URL_MAX];
	char vkey[NOTE_MAX_NAME + 128];
	struct cosig_verifier v;
	/* under w->mu */
	int known;		/* old_size is what the witness holds for us */
	uint64_t old_size;
	uint64_t cosigned_size;	/* the latest size it cosigned for us (this process) */
	int cosigned;
	uint64_t cosigned_ts;	/* its time in the cosignature (unix seconds) */
	uint64_t failures;
	uint64_t requests;
	char last_error[256];
	enum peer_state state;
	int64_t last_req_ms;	/* monotonic */
};

struct witnesses {
	struct witnesses_opts o;
	char dir[PATH_MAX];
	struct peer p[WITNESSES_MAX];
	size_t n;
	unsigned k;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	/* under mu */
	char state[16];		/* "ok", "rollback", "fork" */
	char why[512];
	int refusing;
	uint64_t latest;	/* the latest signed size seen */
	int64_t unmet_since_ms;	/* monotonic; 0: met */
	int lost;		/* quorum_lost emitted for this episode */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(struct witnesses *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct witnesses *w, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!w->o.notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->o.notice(w->o.notice_ctx, msg);
}

/* An event of the server itself into the log: the evidence stays with the
 * log it concerns. */
static void emit(struct witnesses *w, const char *action, const char *outcome, json_t *details)
{
	struct event_ctx ec = { 0 };
	struct event_item it = { 0 };
	struct timespec ts;
	struct iovec iov;
	uint64_t first;

	clock_gettime(CLOCK_REALTIME, &ts);
	ec.received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	if (event_internal(action, "logseal", NULL, outcome, details, &ec, &it) == LS_OK) {
		iov.iov_base = it.json;
		iov.iov_len = it.len;
		if (log_append(w->o.log, &iov, 1, &first, NULL) != LS_OK)
			say(w, "witness: could not append the event %s", action);
		event_item_release(&it);
	}
	json_decref(details);
}

/* ------------------------------------------------------------- pure */

ls_rc witnesses_parse_spec(const char *spec, char *url, size_t ucap, char *vkey, size_t vcap,
			   struct ls_err *err)
{
	const char *eq;
	struct cosig_verifier v;

	/* A URL may hold '=' (a query), a vkey never does before its base64:
	 * the key is after the first '=' whose rest parses as a vkey. */
	for (eq = strchr(spec, '='); eq; eq = strchr(eq + 1, '=')) {
		size_t ul = (size_t)(eq - spec);

		if (cosig_verifier_parse(eq + 1, strlen(eq + 1), &v, NULL) != LS_OK)
			continue;
		if (ul == 0 || ul >= ucap || strlen(eq + 1) >= vcap)
			break;
		if (strncmp(spec, "http://", 7) && strncmp(spec, "https://", 8))
			return ls_err_set(err, LS_INVALID, "--witness %s: the URL must be http(s)://",
					  spec);
		memcpy(url, spec, ul);
		url[ul] = 0;
		while (ul > 0 && url[ul - 1] == '/')
			url[--ul] = 0;
		snprintf(vkey, vcap, "%s", eq + 1);
		return LS_OK;
	}
	return ls_err_set(err, LS_INVALID,
			  "--witness %s: expected URL=VKEY with a cosignature/v1 verifier key "
			  "(name+hexid+base64 of 0x04 and the Ed25519 key)", spec);
}

uint64_t witnesses_quorum_size(const uint64_t *sizes, size_t n, unsigned k)
{
	uint64_t s[WITNESSES_MAX];

	if (k == 0 || k > n || n > WITNESSES_MAX)
		return 0;
	memcpy(s, sizes, n * sizeof(*s));
	/* k-th largest: a partial selection sort, n is small */
	for (unsigned i = 0; i < k; i++)
		for (size_t j = i + 1; j < n; j++)
			if (s[j] > s[i]) {
				uint64_t t = s[i];
				s[i] = s[j];
				s[j] = t;
			}
	return s[k - 1];
}

/* ------------------------------------------------------------- HTTP */

struct rbuf {
	char *p;
	size_t len;
	int over;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct rbuf *b = ctx;
	size_t n = size * nmemb;
	char *t;

	if (b->len + n > REPLY_MAX) {
		b->over = 1;
		return 0;
	}
	t = realloc(b->p, b->len + n + 1);
	if (!t)
		return 0;
	memcpy(t + b->len, data, n);
	b->p = t;
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_rc;
static void curl_init(void)
{
	curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* POST body to <url>/add-checkpoint: *status, the reply in *b, content
 * type copied into ctype. */
static ls_rc post(struct witnesses *w, const struct peer *p, const char *body, size_t n,
		  long *status, struct rbuf *b, char *ctype, size_t ccap, struct ls_err *err)
{
	char url[URL_MAX + 32];
	struct curl_slist *h = NULL;
	CURL *c;
	CURLcode cr;
	char *ct = NULL;

	*status = 0;
	ctype[0] = 0;
	pthread_once(&curl_once, curl_init);
	if (curl_rc != CURLE_OK)
		return ls_err_set(err, LS_IO, "curl_global_init failed");
	snprintf(url, sizeof(url), "%s/add-checkpoint", p->url);
	c = curl_easy_init();
	if (!c)
		return ls_err_set(err, LS_NOMEM, "curl_easy_init failed");
	h = curl_slist_append(NULL, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (w->o.cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, w->o.cacert);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->o.timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)w->o.timeout_ms);
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "logseal-witness-client/1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(ctype, ccap, "%s", ct);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (b->over)
		return ls_err_set(err, LS_LIMIT, "reply larger than %d bytes", REPLY_MAX);
	if (cr != CURLE_OK)
		return ls_err_set(err, LS_IO, "%s", curl_easy_strerror(cr));
	return LS_OK;
}

/* ------------------------------------------------------------- one round */

static void peer_fail(struct witnesses *w, struct peer *p, enum peer_state st, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));
static void peer_fail(struct witnesses *w, struct peer *p, enum peer_state st, const char *fmt,
		      ...)
{
	va_list ap;

	pthread_mutex_lock(&w->mu);
	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	p->failures++;
	p->state = st;
	pthread_mutex_unlock(&w->mu);
}

static void set_rollback(struct witnesses *w, struct peer *p, uint64_t theirs, uint64_t ours)
{
	json_t *d;
	int first;

	pthread_mutex_lock(&w->mu);
	first = !w->refusing;
	w->refusing = 1;
	snprintf(w->state, sizeof(w->state), "rollback");
	snprintf(w->why, sizeof(w->why),
		 "rollback: witness %s has cosigned a checkpoint of size %llu for this log, "
		 "larger than its latest checkpoint (%llu): this data directory is older than "
		 "what was published (restored from an old copy?); no checkpoint is sent to "
		 "witnesses any more",
		 p->v.name, (unsigned long long)theirs, (unsigned long long)ours);
	pthread_mutex_unlock(&w->mu);
	if (!first)
		return;
	say(w, "REFUSING TO PUBLISH: %s", w->why);
	d = json_object();
	json_object_set_new(d, "witness", json_string(p->v.name));
	json_object_set_new(d, "witness_size", json_integer((json_int_t)theirs));
	json_object_set_new(d, "log_size", json_integer((json_int_t)ours));
	emit(w, "logseal.witness.rollback", "failure", d);
}

/* Merge the verified lines into DIR/cosigned/<size> and publish. */
static void keep(struct witnesses *w, uint64_t size, const char *lines, size_t ln)
{
	struct ls_err err = { { 0 } };
	char *cur = NULL, *merged = NULL;
	size_t mlen = 0;
	ls_rc rc;

	rc = cosigned_read(w->dir, size, &cur, NULL);
	if (rc == LS_OK)
		rc = cosigned_merge(cur, strlen(cur), lines, ln, &merged, &mlen);
	if (rc == LS_OK)
		rc = cosigned_store(w->dir, size, merged, mlen, &err);
	if (rc == LS_OK) {
		rc = log_publish_cosigned(w->o.log, size, merged, mlen, &err);
		if (rc == LS_NOTFOUND)
			rc = LS_OK; /* a newer one is out: the history has this one */
	}
	if (rc != LS_OK)
		say(w, "witness: cannot store the cosigned checkpoint %llu: %s (%s)",
		    (unsigned long long)size, err.msg, ls_rc_name(rc));
	free(cur);
	free(merged);
}

/* The verified cosignature lines of p in a 200 reply, into out. */
static size_t verified_lines(struct peer *p, const char *text, size_t tn, const char *body,
			     size_t n, char *out, size_t cap, uint64_t *ts)
{
	size_t used = 0, pos = 0;

	*ts = 0;
	while (pos < n) {
		const char *l = body + pos, *nl = memchr(l, '\n', n - pos);
		size_t ll = nl ? (size_t)(nl - l) : n - pos, which;
		uint64_t t;

		pos += ll + 1;
		if (cosig_verify_line(text, tn, l, ll, &p->v, 1, &which, &t, NULL) != LS_OK)
			continue;
		if (used + ll + 2 > cap)
			break;
		memcpy(out + used, l, ll);
		out[used + ll] = '\n';
		used += ll + 1;
		out[used] = 0;
		if (t > *ts)
			*ts = t;
	}
	return used;
}

static void ask(struct witnesses *w, struct peer *p, uint64_t size, const char *note,
		size_t tn)
{
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN];
	char logdir[PATH_MAX], ctype[128], lines[4 * COSIG_LINE_MAX];
	struct ls_err err = { { 0 } };
	int tries;

	snprintf(logdir, sizeof(logdir), "%s/log", w->dir);
	for (tries = 0; tries < 3; tries++) {
		struct tiles_reader *tr = NULL;
		struct rbuf b = { 0 };
		uint64_t old, theirs, ts;
		size_t np = 0, body_len = 0, nl;
		char *body = NULL;
		long status = 0;
		ls_rc rc = LS_OK;

		pthread_mutex_lock(&w->mu);
		old = p->known ? p->old_size : 0;
		p->requests++;
		pthread_mutex_unlock(&w->mu);
		if (old > size) {
			set_rollback(w, p, old, size);
			return;
		}
		if (old > 0 && old < size) {
			rc = tiles_reader_open(logdir, size, &tr);
			if (rc == LS_OK)
				rc = merkle_consistency_proof(tiles_node_hash, tr, old, size, proof, &np);
			tiles_reader_free(tr);
		}
		if (rc == LS_OK)
			rc = witness_req_format(old, (const uint8_t(*)[LS_HASH_LEN])proof, np, note,
						strlen(note), &body, &body_len, &err);
		if (rc != LS_OK) {
			peer_fail(w, p, PEER_ERROR, "cannot make the request (%s): %s",
				  ls_rc_name(rc), err.msg);
			return;
		}
		rc = post(w, p, body, body_len, &status, &b, ctype, sizeof(ctype), &err);
		free(body);
		if (rc != LS_OK) {
			peer_fail(w, p, PEER_ERROR, "%s", err.msg);
			free(b.p);
			return;
		}
		switch (status) {
		case 200:
			nl = verified_lines(p, note, tn, b.p ? b.p : "", b.len, lines, sizeof(lines),
					    &ts);
			if (!nl) {
				peer_fail(w, p, PEER_ERROR,
					  "200 without a cosignature that verifies with its key");
				break;
			}
			keep(w, size, lines, nl);
			pthread_mutex_lock(&w->mu);
			p->known = 1;
			p->old_size = size;
			p->cosigned = 1;
			p->cosigned_size = size;
			p->cosigned_ts = ts;
			p->last_error[0] = 0;
			p->state = PEER_OK;
			pthread_mutex_unlock(&w->mu);
			break;
		case 409:
			if (strncmp(ctype, "text/x.tlog.size", 16) != 0 ||
			    witness_size_parse(b.p ? b.p : "", b.len, &theirs) != LS_OK) {
				peer_fail(w, p, PEER_ERROR, "409 without a text/x.tlog.size body");
				break;
			}
			if (theirs > size) {
				peer_fail(w, p, PEER_ERROR, "409: the witness is at size %llu",
					  (unsigned long long)theirs);
				set_rollback(w, p, theirs, size);
				break;
			}
			pthread_mutex_lock(&w->mu);
			p->known = 1;
			p->old_size = theirs;
			pthread_mutex_unlock(&w->mu);
			free(b.p);
			continue; /* resync: again from its size */
		case 422: {
			json_t *d = json_object();

			peer_fail(w, p, PEER_FORK,
				  "422: the witness holds another tree for this log (a fork) "
				  "between size %llu and %llu", (unsigned long long)old,
				  (unsigned long long)size);
			pthread_mutex_lock(&w->mu);
			snprintf(w->state, sizeof(w->state), "fork");
			snprintf(w->why, sizeof(w->why),
				 "fork: witness %s refused checkpoint %llu as inconsistent with "
				 "what it cosigned (size %llu)", p->v.name,
				 (unsigned long long)size, (unsigned long long)old);
			pthread_mutex_unlock(&w->mu);
			say(w, "WITNESS FORK: %s", w->why);
			json_object_set_new(d, "witness", json_string(p->v.name));
			json_object_set_new(d, "old", json_integer((json_int_t)old));
			json_object_set_new(d, "size", json_integer((json_int_t)size));
			emit(w, "logseal.witness.fork", "failure", d);
			break;
		}
		case 403:
		case 404:
			peer_fail(w, p, PEER_MISCONFIGURED,
				  "%ld: the witness does not %s", status,
				  status == 404 ? "know this log's origin"
						: "accept this log's key");
			break;
		default:
			peer_fail(w, p, PEER_ERROR, "HTTP status %ld", status);
		}
		free(b.p);
		return;
	}
	peer_fail(w, p, PEER_ERROR, "409 three times in a row");
}

/* The policy, after a round (under mu). */
static json_t *judge(struct witnesses *w, int64_t now)
{
	uint64_t sizes[WITNESSES_MAX], q;
	json_t *d = NULL;

	for (size_t i = 0; i < w->n; i++)
		sizes[i] = w->p[i].cosigned ? w->p[i].cosigned_size : 0;
	q = witnesses_quorum_size(sizes, w->n, w->k);
	if (q >= w->latest) {
		if (w->lost) {
			d = json_object();
			json_object_set_new(d, "event", json_string("logseal.witness.quorum_restored"));
			json_object_set_new(d, "quorum_size", json_integer((json_int_t)q));
		}
		w->unmet_since_ms = 0;
		w->lost = 0;
		return d;
	}
	if (!w->unmet_since_ms)
		w->unmet_since_ms = now;
	if (!w->lost && now - w->unmet_since_ms > (int64_t)w->o.alert_s * 1000) {
		w->lost = 1;
		d = json_object();
		json_object_set_new(d, "event", json_string("logseal.witness.quorum_lost"));
		json_object_set_new(d, "quorum_size", json_integer((json_int_t)q));
		json_object_set_new(d, "log_size", json_integer((json_int_t)w->latest));
		json_object_set_new(d, "quorum", json_integer(w->k));
		json_object_set_new(d, "witnesses", json_integer((json_int_t)w->n));
		json_object_set_new(d, "unmet_seconds",
				    json_integer((now - w->unmet_since_ms) / 1000));
	}
	return d;
}

static void *thread_main(void *arg)
{
	struct witnesses *w = arg;
	uint64_t tick = w->o.interval_ms < 200 ? w->o.interval_ms : 200;

	pthread_setname_np(pthread_self(), "ls-witness");
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec dl;
		char *note = NULL, *signed_note = NULL;
		uint64_t size = 0;
		int64_t now;
		json_t *ev;

		ls_deadline(&dl, CLOCK_MONOTONIC, tick ? tick : 1);
		pthread_cond_timedwait(&w->cv, &w->mu, &dl);
		if (w->stop)
			break;
		if (w->refusing)
			continue;
		pthread_mutex_unlock(&w->mu);
		/* The log's own signed note (DIR/checkpoints/<L>), without the
		 * cosignatures of the published copy. */
		if (log_latest_checkpoint(w->o.log, &note, &size) == LS_OK) {
			char path[PATH_MAX];
			size_t len, tn = 0;

			snprintf(path, sizeof(path), "%s/checkpoints/%020llu", w->dir,
				 (unsigned long long)size);
			if (fs_read_file(path, NOTE_MAX_SIZE, &signed_note, &len, NULL) == LS_OK &&
			    note_open(signed_note, len, log_verifier(w->o.log), 1, &tn, NULL) == LS_OK) {
				pthread_mutex_lock(&w->mu);
				if (size > w->latest)
					w->latest = size;
				pthread_mutex_unlock(&w->mu);
				for (size_t i = 0; i < w->n && !witnesses_refusing(w, NULL, 0); i++) {
					struct peer *p = &w->p[i];
					int64_t t = mono_ms();
					int due;

					pthread_mutex_lock(&w->mu);
					due = !(p->cosigned && p->cosigned_size >= size) &&
					      p->state != PEER_FORK &&
					      (!p->last_req_ms ||
					       t - p->last_req_ms >= (int64_t)w->o.interval_ms);
					if (due)
						p->last_req_ms = t;
					pthread_mutex_unlock(&w->mu);
					if (due)
						ask(w, p, size, signed_note, tn);
				}
			}
		}
		free(note);
		free(signed_note);
		now = mono_ms();
		pthread_mutex_lock(&w->mu);
		ev = w->refusing ? NULL : judge(w, now);
		if (ev) {
			const char *action = json_string_value(json_object_get(ev, "event"));
			char act[64];

			snprintf(act, sizeof(act), "%s", action);
			json_object_del(ev, "event");
			pthread_mutex_unlock(&w->mu);
			if (!strcmp(act, "logseal.witness.quorum_lost"))
				say(w, "witness quorum lost: fewer than %u of %zu witnesses cosigned "
				    "the latest checkpoint for over %llu s", w->k, w->n,
				    (unsigned long long)w->o.alert_s);
			emit(w, act, strcmp(act, "logseal.witness.quorum_lost") ? "success"
										 : "failure", ev);
			pthread_mutex_lock(&w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

ls_rc witnesses_start(const struct witnesses_opts *o, struct witnesses **out,
		      struct ls_err *err)
{
	struct witnesses *w;
	ls_rc rc;

	*out = NULL;
	if (o->nspecs == 0)
		return LS_OK;
	if (o->nspecs > WITNESSES_MAX)
		return ls_err_set(err, LS_LIMIT, "at most %d witnesses", WITNESSES_MAX);
	if (o->quorum > o->nspecs)
		return ls_err_set(err, LS_INVALID, "--witness-quorum %u: only %zu %s",
				  o->quorum, o->nspecs, LS_PL(o->nspecs, "witness", "witnesses"));
	if (o->cacert && access(o->cacert, R_OK) != 0)
		return ls_err_set(err, LS_INVALID, "--witness-cacert %s: %s", o->cacert,
				  strerror(errno));
	w = calloc(1, sizeof(*w));
	if (!w)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	w->o = *o;
	if (!w->o.interval_ms)
		w->o.interval_ms = 1000;
	if (!w->o.alert_s)
		w->o.alert_s = 300;
	if (!w->o.timeout_ms)
		w->o.timeout_ms = 10000;
	snprintf(w->dir, sizeof(w->dir), "%s", o->dir);
	snprintf(w->state, sizeof(w->state), "ok");
	w->n = o->nspecs;
	w->k = o->quorum ? o->quorum : (unsigned)o->nspecs;
	for (size_t i = 0; i < w->n; i++) {
		struct peer *p = &w->p[i];

		rc = witnesses_parse_spec(o->specs[i], p->url, sizeof(p->url), p->vkey,
					  sizeof(p->vkey), err);
		if (rc == LS_OK)
			rc = cosig_verifier_parse(p->vkey, strlen(p->vkey), &p->v, err);
		if (rc != LS_OK) {
			free(w);
			return rc;
		}
	}
	pthread_mutex_init(&w->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (pthread_create(&w->thread, NULL, thread_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
		return ls_err_set(err, LS_NOMEM, "cannot start the witness thread");
	}
	*out = w;
	return LS_OK;
}

void witnesses_stop(struct witnesses *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

int witnesses_refusing(struct witnesses *w, char *why, size_t cap)
{
	int r;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	r = w->refusing;
	if (r && why)
		snprintf(why, cap, "%s", w->why);
	pthread_mutex_unlock(&w->mu);
	return r;
}

/* ------------------------------------------------------------- status */

static uint64_t quorum_now(struct witnesses *w, int *met, double *unmet_s)
{
	uint64_t sizes[WITNESSES_MAX], q;

	for (size_t i = 0; i < w->n; i++)
		sizes[i] = w->p[i].cosigned ? w->p[i].cosigned_size : 0;
	q = witnesses_quorum_size(sizes, w->n, w->k);
	*unmet_s = w->unmet_since_ms ? (double)(mono_ms() - w->unmet_since_ms) / 1000.0 : 0;
	/* Met unless lost (behind for longer than alert_s) or refusing. */
	*met = !w->lost && !w->refusing &&
	       !(w->unmet_since_ms && *unmet_s > (double)w->o.alert_s);
	return q;
}

json_t *witnesses_status(struct witnesses *w)
{
	json_t *o = json_object(), *arr = json_array();
	time_t now = time(NULL);
	double unmet;
	int met;
	uint64_t q;

	if (!o || !arr) {
		json_decref(o);
		json_decref(arr);
		return NULL;
	}
	pthread_mutex_lock(&w->mu);
	q = quorum_now(w, &met, &unmet);
	json_object_set_new(o, "state", json_string(w->state));
	json_object_set_new(o, "why", w->why[0] ? json_string(w->why) : json_null());
	json_object_set_new(o, "refusing_to_publish", json_boolean(w->refusing));
	json_object_set_new(o, "quorum", json_integer(w->k));
	json_object_set_new(o, "quorum_met", json_boolean(met));
	json_object_set_new(o, "quorum_size", json_integer((json_int_t)q));
	json_object_set_new(o, "unmet_seconds", json_real(round(unmet * 1000) / 1000));
	json_object_set_new(o, "alert_seconds", json_integer((json_int_t)w->o.alert_s));
	for (size_t i = 0; i < w->n; i++) {
		struct peer *p = &w->p[i];
		json_t *e = json_object();

		json_object_set_new(e, "name", json_string(p->v.name));
		json_object_set_new(e, "url", json_string(p->url));
		json_object_set_new(e, "vkey", json_string(p->vkey));
		json_object_set_new(e, "state", json_string(peer_state_names[p->state]));
		json_object_set_new(e, "cosigned_size",
				    p->cosigned ? json_integer((json_int_t)p->cosigned_size)
						: json_null());
		json_object_set_new(e, "age_seconds",
				    p->cosigned ? json_integer((json_int_t)(now - (time_t)p->cosigned_ts))
						: json_null());
		json_object_set_new(e, "failures", json_integer((json_int_t)p->failures));
		json_object_set_new(e, "last_error",
				    p->last_error[0] ? json_string(p->last_error) : json_null());
		json_array_append_new(arr, e);
	}
	pthread_mutex_unlock(&w->mu);
	json_object_set_new(o, "witnesses", arr);
	return o;
}

struct tbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void tprintf(struct tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(struct tbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t nc = (b->cap + (size_t)n + 1) * 2;
			char *t = realloc(b->p, nc);

			if (!t) {
				b->oom = 1;
				return;
			}
			b->p = t;
			b->cap = nc;
		}
	}
}

/* A label value in the exposition format: '\\' and '"' escaped (key names
 * hold no white space, but may hold those). */
static const char *label(const char *name, char *out, size_t cap)
{
	size_t o = 0;

	for (; *name && o + 3 < cap; name++) {
		if (*name == '\\' || *name == '"')
			out[o++] = '\\';
		out[o++] = *name;
	}
	out[o] = 0;
	return out;
}

char *witnesses_metrics(struct witnesses *w)
{
	char lb[2 * NOTE_MAX_NAME + 1];
	struct tbuf b = { 0 };
	time_t now = time(NULL);
	double unmet;
	int met;
	size_t i;

	if (!w)
		return NULL;
	pthread_mutex_lock(&w->mu);
	quorum_now(w, &met, &unmet);
	/* Labels are the configured witness names (invariant 2 of metrics.h:
	 * chosen by the operator, never by a client). */
	tprintf(&b, "# HELP logseal_witness_cosigned_size Latest tree size the witness cosigned.\n"
		    "# TYPE logseal_witness_cosigned_size gauge\n");
	for (i = 0; i < w->n; i++)
		if (w->p[i].cosigned)
			tprintf(&b, "logseal_witness_cosigned_size{witness=\"%s\"} %llu\n",
				label(w->p[i].v.name, lb, sizeof(lb)),
				(unsigned long long)w->p[i].cosigned_size);
	tprintf(&b, "# HELP logseal_witness_age_seconds Age of the witness's latest cosignature.\n"
		    "# TYPE logseal_witness_age_seconds gauge\n");
	for (i = 0; i < w->n; i++)
		if (w->p[i].cosigned)
			tprintf(&b, "logseal_witness_age_seconds{witness=\"%s\"} %lld\n",
				label(w->p[i].v.name, lb, sizeof(lb)),
				(long long)(now - (time_t)w->p[i].cosigned_ts));
	tprintf(&b, "# HELP logseal_witness_failures_total Requests to the witness that failed.\n"
		    "# TYPE logseal_witness_failures_total counter\n");
	for (i = 0; i < w->n; i++)
		tprintf(&b, "logseal_witness_failures_total{witness=\"%s\"} %llu\n",
			label(w->p[i].v.name, lb, sizeof(lb)),
			(unsigned long long)w->p[i].failures);
	tprintf(&b, "# HELP logseal_witness_quorum_met 1 while the witness policy (k of n) is met "
		    "or behind for less than the alert time.\n"
		    "# TYPE logseal_witness_quorum_met gauge\nlogseal_witness_quorum_met %d\n", met);
	tprintf(&b, "# HELP logseal_witness_rollback 1 when a witness showed this data directory "
		    "rolled back (nothing is published to witnesses).\n"
		    "# TYPE logseal_witness_rollback gauge\nlogseal_witness_rollback %d\n",
		w->refusing);
	pthread_mutex_unlock(&w->mu);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
