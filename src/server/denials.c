/*
 * denials.c - per-source accounting of refused requests (see denials.h for
 * what is logged, what is counted and the invariants).
 *
 * A window's table is an array of max_sources entries and a keyed hash
 * index over it (htab.h: a writer of requests chooses the addresses and
 * actors; sized for max_sources at start, so it never allocates after).  Two tables: `cur` takes the denials of the open window
 * under mu; when the window closes the thread swaps them under mu and
 * summarises the other one without mu (flush_mu keeps the thread and
 * denials_close() from summarising at once), so an append that waits for
 * the disk never holds up a request.
 */
#include "server/denials.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/htab.h"
#include "core/event.h"

#define DEFAULT_WINDOW_MS 10000
#define DEFAULT_BURST 10
#define DEFAULT_THROTTLE 1000
#define DEFAULT_MAX_SOURCES 1024
#define GLOBAL_BURST_FACTOR 20	/* individual denials per window, all sources: 20 x burst */
#define SAMPLES 3
#define REASON_MAX 96
#define ACTOR_MAX 32
#define KEY_LEN (1 + 16 + ACTOR_MAX)	/* family, address (/64 for IPv6), actor */
#define SOURCE_TEXT 64

struct src {
	struct htab_node hn;		/* in table.idx (not the global aggregate) */
	uint8_t key[KEY_LEN];
	char source[SOURCE_TEXT];	/* "192.0.2.1", "2001:db8::/64", "unknown", "various" */
	char event_ip[SOURCE_TEXT];	/* what the summary's source is: an address or a name */
	char actor[ACTOR_MAX];
	int mixed_actors;		/* the global aggregate saw several actors */
	uint64_t logged, counted, throttled, n401, n403;
	int64_t first_us, last_us;	/* of the counted ones */
	unsigned npaths, nreasons;
	char paths[SAMPLES][DENIALS_PATH_MAX + 1];
	char reasons[SAMPLES][REASON_MAX + 1];
};

struct table {
	struct src *e;
	struct htab idx;	/* e[0..n) by key */
	size_t n;
	struct src global;	/* when e is full */
	int global_used;
	uint64_t logged;	/* individual denials this window, all sources */
	int64_t start_us;	/* wall clock when the window opened */
};

struct denials {
	struct denials_opts o;
	uint64_t global_burst;
	pthread_mutex_t mu, flush_mu;
	pthread_cond_t cv;
	struct table t[2], *cur, *old;
	int64_t end_ms;		/* monotonic end of the open window */
	int quit, thread_ok, closed;
	int closing;		/* under mu: summaries are written; log the rest one by one */
	pthread_t thread;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t denials_cut_utf8(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	/* step back over continuation bytes (10xxxxxx) to a character start */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* ======================================================= the table */

static void table_reset(struct table *t)
{
	htab_clear(&t->idx);
	t->n = 0;
	t->global_used = 0;
	memset(&t->global, 0, sizeof(t->global));
	t->logged = 0;
	t->start_us = wall_us();
}

/* The key and texts of a source: IPv4 (also IPv4-mapped IPv6) by address,
 * IPv6 by /64 (one subscriber's usual allocation), anything else as one
 * "unknown" source. */
static void source_of(const char *ip, const char *actor, struct src *s)
{
	uint8_t a[16];
	char text[INET6_ADDRSTRLEN];

	memset(s->key, 0, sizeof(s->key));
	snprintf(s->source, sizeof(s->source), "unknown");
	snprintf(s->event_ip, sizeof(s->event_ip), "unknown");
	if (ip && inet_pton(AF_INET, ip, a) == 1) {
		s->key[0] = 4;
		memcpy(s->key + 1, a, 4);
		inet_ntop(AF_INET, a, text, sizeof(text));
		snprintf(s->source, sizeof(s->source), "%s", text);
		snprintf(s->event_ip, sizeof(s->event_ip), "%s", text);
	} else if (ip && inet_pton(AF_INET6, ip, a) == 1) {
		if (a[0] == 0 && !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
			s->key[0] = 4;
			memcpy(s->key + 1, a + 12, 4);
			inet_ntop(AF_INET, a + 12, text, sizeof(text));
			snprintf(s->source, sizeof(s->source), "%s", text);
		} else {
			s->key[0] = 6;
			memset(a + 8, 0, 8);
			memcpy(s->key + 1, a, 8);
			inet_ntop(AF_INET6, a, text, sizeof(text));
			snprintf(s->source, sizeof(s->source), "%s/64", text);
		}
		snprintf(s->event_ip, sizeof(s->event_ip), "%s", text);
	}
	snprintf(s->actor, sizeof(s->actor), "%s", actor ? actor : "anonymous");
	memcpy(s->key + 17, s->actor, strlen(s->actor));
}

static int src_eq(const struct htab_node *n, const void *key, size_t len)
{
	const struct src *e = htab_entry(n, const struct src, hn);

	return len == sizeof(e->key) && !memcmp(e->key, key, len);
}

/* The entry of probe's key in t, added when missing; the global aggregate
 * when t is full. */
static struct src *table_get(struct denials *d, struct table *t, const struct src *probe)
{
	uint32_t h = htab_hash(&t->idx, probe->key, sizeof(probe->key));
	struct htab_node *hn = htab_find(&t->idx, h, probe->key, sizeof(probe->key));
	struct src *e;

	if (hn)
		return htab_entry(hn, struct src, hn);
	if (t->n == d->o.max_sources) {
		e = &t->global;
		if (!t->global_used) {
			t->global_used = 1;
			snprintf(e->source, sizeof(e->source), "various");
			snprintf(e->event_ip, sizeof(e->event_ip), "various");
			snprintf(e->actor, sizeof(e->actor), "%s", probe->actor);
		} else if (strcmp(e->actor, probe->actor) != 0) {
			e->mixed_actors = 1;
		}
		return e;
	}
	e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->key, probe->key, sizeof(e->key));
	memcpy(e->source, probe->source, sizeof(e->source));
	memcpy(e->event_ip, probe->event_ip, sizeof(e->event_ip));
	memcpy(e->actor, probe->actor, sizeof(e->actor));
	t->n++;
	htab_add(&t->idx, &e->hn, h); /* sized for max_sources: no allocation */
	return e;
}

/* Keep s (cut to width - 1 bytes) among the *n < SAMPLES distinct samples
 * in rows of width bytes at base. */
static void add_sample(char *base, size_t width, unsigned *n, const char *s)
{
	size_t len;

	if (!s || *n >= SAMPLES)
		return;
	len = denials_cut_utf8(s, width - 1);
	for (unsigned i = 0; i < *n; i++) {
		const char *have = base + i * width;
		if (strlen(have) == len && !memcmp(have, s, len))
			return;
	}
	memcpy(base + *n * width, s, len);
	base[*n * width + len] = 0;
	(*n)++;
}

enum denials_verdict denials_note(struct denials *d, const char *ip, const char *actor,
				  unsigned status, const char *path, const char *reason,
				  int64_t now_us, unsigned *retry_after_s)
{
	struct src probe, *e;
	enum denials_verdict v;
	int64_t left;

	source_of(ip, actor, &probe);
	pthread_mutex_lock(&d->mu);
	if (d->closing) {
		/* a request that outlived the server's stop: no window will be
		 * summarised any more, so it is logged (invariant 1) */
		pthread_mutex_unlock(&d->mu);
		if (retry_after_s)
			*retry_after_s = 1;
		return DENIALS_LOG;
	}
	e = table_get(d, d->cur, &probe);
	if (!d->o.no_throttle && e->logged + e->counted >= d->o.throttle)
		v = DENIALS_THROTTLE;
	else if (e->logged < d->o.burst && d->cur->logged < d->global_burst)
		v = DENIALS_LOG;
	else
		v = DENIALS_COUNT;
	if (v == DENIALS_LOG) {
		e->logged++;
		d->cur->logged++;
	} else {
		if (e->counted == 0)
			e->first_us = now_us;
		e->last_us = now_us;
		e->counted++;
		if (status == 403)
			e->n403++;
		else
			e->n401++;
		if (v == DENIALS_THROTTLE)
			e->throttled++;
		add_sample(&e->paths[0][0], sizeof(e->paths[0]), &e->npaths, path);
		add_sample(&e->reasons[0][0], sizeof(e->reasons[0]), &e->nreasons, reason);
	}
	left = d->end_ms - mono_ms();
	pthread_mutex_unlock(&d->mu);
	if (retry_after_s)
		*retry_after_s = left > 0 ? (unsigned)((left + 999) / 1000) : 1;
	return v;
}

/* ======================================================= summaries */

static json_t *summary_json(const struct denials *d, const struct table *t, const struct src *e,
			    int64_t end_us)
{
	char tb[32];
	json_t *o = json_object(), *st = json_object(), *paths = json_array(),
	       *reasons = json_array();

	if (!o || !st || !paths || !reasons) {
		json_decref(o);
		json_decref(st);
		json_decref(paths);
		json_decref(reasons);
		return NULL;
	}
	json_object_set_new(o, "source", json_string(e->source));
	json_object_set_new(o, "count", json_integer((json_int_t)e->counted));
	json_object_set_new(o, "logged", json_integer((json_int_t)e->logged));
	json_object_set_new(o, "throttled", json_integer((json_int_t)e->throttled));
	if (e->n401)
		json_object_set_new(st, "401", json_integer((json_int_t)e->n401));
	if (e->n403)
		json_object_set_new(st, "403", json_integer((json_int_t)e->n403));
	json_object_set_new(o, "statuses", st);
	event_format_time(e->first_us, tb, sizeof(tb));
	json_object_set_new(o, "first", json_string(tb));
	event_format_time(e->last_us, tb, sizeof(tb));
	json_object_set_new(o, "last", json_string(tb));
	event_format_time(t->start_us, tb, sizeof(tb));
	json_object_set_new(o, "window_start", json_string(tb));
	event_format_time(end_us, tb, sizeof(tb));
	json_object_set_new(o, "window_end", json_string(tb));
	json_object_set_new(o, "window_ms", json_integer((json_int_t)d->o.window_ms));
	/* json_string() refuses what is not UTF-8: such a sample is left out */
	for (unsigned i = 0; i < e->npaths; i++) {
		json_t *p = json_string(e->paths[i]);
		if (p)
			json_array_append_new(paths, p);
	}
	for (unsigned i = 0; i < e->nreasons; i++) {
		json_t *p = json_string(e->reasons[i]);
		if (p)
			json_array_append_new(reasons, p);
	}
	json_object_set_new(o, "paths", paths);
	json_object_set_new(o, "reasons", reasons);
	if (e->mixed_actors)
		json_object_set_new(o, "actors", json_string("several"));
	if (e == &t->global)
		json_object_set_new(o, "scope", json_string("global: the table of sources was full"));
	return o;
}

static void emit_one(struct denials *d, const struct table *t, const struct src *e,
		     int64_t end_us)
{
	json_t *j;

	if (e->counted == 0 || !d->o.emit)
		return;	/* everything was logged one by one */
	j = summary_json(d, t, e, end_us);
	if (!j)
		return;
	d->o.emit(d->o.ctx, e->event_ip, e->mixed_actors ? "various" : e->actor, j);
	json_decref(j);
}

/* Summarise t (not cur: nobody else touches it; flush_mu held). */
static void emit_table(struct denials *d, struct table *t)
{
	int64_t end_us = wall_us();

	for (size_t i = 0; i < t->n; i++)
		emit_one(d, t, &t->e[i], end_us);
	if (t->global_used)
		emit_one(d, t, &t->global, end_us);
	t->n = 0;
	t->global_used = 0;
}

/* Close the open window: swap the tables under mu, summarise without it. */
static void roll(struct denials *d, int64_t now)
{
	struct table *t;

	pthread_mutex_lock(&d->flush_mu);
	pthread_mutex_lock(&d->mu);
	t = d->cur;
	table_reset(d->old);
	d->cur = d->old;
	d->old = t;
	/* the next window starts where this one ended, so windows stay
	 * aligned; after a long stall, at the current one */
	d->end_ms += d->o.window_ms;
	if (d->end_ms <= now)
		d->end_ms = now + d->o.window_ms;
	pthread_mutex_unlock(&d->mu);
	emit_table(d, t);
	pthread_mutex_unlock(&d->flush_mu);
}

static void *window_main(void *arg)
{
	struct denials *d = arg;
	unsigned tick = d->o.window_ms / 4;

	pthread_setname_np(pthread_self(), "ls-denials");
	if (tick > 250)
		tick = 250;
	if (tick == 0)
		tick = 1;
	pthread_mutex_lock(&d->mu);
	while (!d->quit) {
		struct timespec ts;
		int64_t now;

		ls_deadline(&ts, CLOCK_REALTIME, tick);
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		now = mono_ms();
		if (d->quit || now < d->end_ms)
			continue;
		pthread_mutex_unlock(&d->mu);
		roll(d, now);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* ======================================================= life cycle */

ls_rc denials_new(const struct denials_opts *o, struct denials **out, struct ls_err *err)
{
	struct denials *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	d->o = *o;
	if (!d->o.window_ms)
		d->o.window_ms = DEFAULT_WINDOW_MS;
	if (!d->o.burst)
		d->o.burst = DEFAULT_BURST;
	if (!d->o.throttle)
		d->o.throttle = DEFAULT_THROTTLE;
	if (!d->o.max_sources)
		d->o.max_sources = DEFAULT_MAX_SOURCES;
	d->global_burst = (uint64_t)d->o.burst * GLOBAL_BURST_FACTOR;
	for (int i = 0; i < 2; i++) {
		struct table *t = &d->t[i];
		ls_rc rc = htab_init(&t->idx, d->o.max_sources, src_eq);

		t->e = calloc(d->o.max_sources, sizeof(*t->e));
		if (rc || !t->e) {
			denials_free(d);
			if (rc == LS_IO)
				return ls_err_set(err, LS_IO, "no randomness available");
			return ls_err_set(err, LS_NOMEM, "out of memory");
		}
		table_reset(t);
	}
	d->cur = &d->t[0];
	d->old = &d->t[1];
	d->end_ms = mono_ms() + d->o.window_ms;
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->flush_mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->thread_ok = 1;	/* the mutexes exist from here on */
	if (pthread_create(&d->thread, NULL, window_main, d) != 0) {
		d->thread_ok = 0;
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->flush_mu);
		pthread_mutex_destroy(&d->mu);
		denials_free(d);
		return ls_err_set(err, LS_NOMEM, "cannot start the denial accounting thread");
	}
	*out = d;
	return LS_OK;
}

void denials_close(struct denials *d)
{
	if (!d || d->closed)
		return;
	pthread_mutex_lock(&d->mu);
	d->quit = 1;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	/* the open window, cut short: its summaries say when it ended; later
	 * denials (none once the HTTP server stopped) are logged one by one */
	pthread_mutex_lock(&d->flush_mu);
	pthread_mutex_lock(&d->mu);
	d->closing = 1;
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_unlock(&d->flush_mu);
	roll(d, mono_ms());
	d->closed = 1;
}

void denials_free(struct denials *d)
{
	if (!d)
		return;
	if (d->thread_ok) {
		denials_close(d);
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->flush_mu);
		pthread_mutex_destroy(&d->mu);
	}
	for (int i = 0; i < 2; i++) {
		free(d->t[i].e);
		htab_release(&d->t[i].idx);
	}
	free(d);
}
