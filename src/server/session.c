/*
 * session.c - the dashboard's sign-in sessions (see session.h for what a
 * session is and its invariants).
 *
 * A fixed table of slots under one mutex, found by a keyed hash table
 * (base/htab.h) over the cookies' SHA-256 values: every request made with
 * a cookie looks one up (a scan of a full table cost 275 us a request).
 * Where a lookup ends says nothing about a cookie: nobody chooses SHA-256
 * outputs, and the table's key is random.  Opening a session (rare) scans
 * the slots for one to reuse.  Deadlines are on the monotonic clock, so a
 * clock step neither ends nor extends a session.
 */
#include "server/session.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "base/htab.h"

struct sess {
	struct htab_node hn;	/* in sessions.by_hash while used */
	int used;
	uint8_t hash[LS_HASH_LEN];	/* SHA-256 of the cookie value (invariant 1) */
	struct auth_principal who;
	char csrf[SESSION_CSRF_LEN + 1];
	char id[SESSION_ID_LEN + 1];
	int64_t idle_at;	/* monotonic ms: ends when idle past this */
	int64_t end_at;		/* monotonic ms: the absolute deadline */
};

struct sessions {
	pthread_mutex_t mu;
	unsigned idle_s;
	int secure;
	struct sess *t;		/* SESSION_MAX_COUNT slots */
	struct htab by_hash;	/* the used slots, by hash */
	struct session_end ended[SESSION_ENDED_MAX];	/* a ring (invariant 4) */
	size_t ended_head, ended_n;
	unsigned ended_lost;
};

/* Queue the end of session e, which did not sign out (under mu). */
static void note_end(struct sessions *ss, const struct sess *e, const char *why)
{
	struct session_end *x;

	if (ss->ended_n == SESSION_ENDED_MAX) {
		ss->ended_lost++;
		return;
	}
	x = &ss->ended[(ss->ended_head + ss->ended_n++) % SESSION_ENDED_MAX];
	memcpy(x->id, e->id, sizeof(x->id));
	memcpy(x->who, e->who.id, sizeof(x->who));
	x->why = why;
}

static int hash_eq(const struct htab_node *n, const void *key, size_t len)
{
	const struct sess *e = htab_entry(n, const struct sess, hn);

	return len == LS_HASH_LEN && ls_ct_equal(e->hash, key, LS_HASH_LEN);
}

/* Empty slot e (under mu). */
static void drop(struct sessions *ss, struct sess *e)
{
	if (e->used)
		htab_del(&ss->by_hash, &e->hn);
	ls_wipe(e, sizeof(*e));
}

/* Milliseconds: whole seconds would cut an idle time of a few seconds by
 * up to one. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ls_rc sessions_new(unsigned idle_s, int secure, struct sessions **out, struct ls_err *err)
{
	struct sessions *ss = calloc(1, sizeof(*ss));

	if (!ss || !(ss->t = calloc(SESSION_MAX_COUNT, sizeof(*ss->t)))) {
		free(ss);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	if (htab_init(&ss->by_hash, SESSION_MAX_COUNT, hash_eq) != LS_OK) {
		free(ss->t);
		free(ss);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&ss->mu, NULL);
	ss->idle_s = idle_s ? idle_s : SESSION_IDLE_DEFAULT_S;
	ss->secure = secure;
	*out = ss;
	return LS_OK;
}

void sessions_free(struct sessions *ss)
{
	if (!ss)
		return;
	ls_wipe(ss->t, SESSION_MAX_COUNT * sizeof(*ss->t));
	free(ss->t);
	htab_release(&ss->by_hash);
	pthread_mutex_destroy(&ss->mu);
	free(ss);
}

unsigned sessions_idle(const struct sessions *ss)
{
	return ss->idle_s;
}

static int live(const struct sess *e, int64_t now)
{
	return e->used && now < e->idle_at && now < e->end_at;
}

static void fill(const struct sessions *ss, const struct sess *e, int64_t now,
		 struct session_info *info)
{
	if (!info)
		return;
	info->who = e->who;
	memcpy(info->csrf, e->csrf, sizeof(info->csrf));
	memcpy(info->id, e->id, sizeof(info->id));
	info->idle_s = (unsigned)((e->idle_at - now) / 1000);
	info->left_s = (unsigned)((e->end_at - now) / 1000);
	(void)ss;
}

ls_rc session_open(struct sessions *ss, const struct auth_principal *who, char *cookie,
		   size_t cap, struct session_info *info, struct ls_err *err)
{
	uint8_t raw[32], csrf[32];
	struct sess *e = NULL;
	int64_t now = mono_ms();

	if (cap <= SESSION_VALUE_LEN)
		return ls_err_set(err, LS_LIMIT, "cookie buffer too small");
	if (ls_random(raw, sizeof(raw)) != LS_OK || ls_random(csrf, sizeof(csrf)) != LS_OK)
		return ls_err_set(err, LS_IO, "no randomness available");
	ls_hex(raw, sizeof(raw), cookie);
	cookie[SESSION_VALUE_LEN] = 0;
	ls_wipe(raw, sizeof(raw));
	pthread_mutex_lock(&ss->mu);
	/* Invariant 3: a free or expired slot, else the one idle the longest. */
	for (unsigned i = 0; i < SESSION_MAX_COUNT; i++) {
		struct sess *c = &ss->t[i];
		if (!live(c, now)) {
			e = c;
			break;
		}
		if (!e || c->idle_at < e->idle_at)
			e = c;
	}
	if (e->used)
		note_end(ss, e, live(e, now) ? "replaced" : now >= e->end_at ? "max_age" : "idle");
	drop(ss, e);
	e->used = 1;
	ls_sha256(cookie, SESSION_VALUE_LEN, NULL, 0, e->hash);
	htab_add(&ss->by_hash, &e->hn, htab_hash(&ss->by_hash, e->hash, LS_HASH_LEN));
	ls_hex(e->hash, SESSION_ID_LEN / 2, e->id);
	ls_hex(csrf, sizeof(csrf), e->csrf);
	e->who = *who;
	e->idle_at = now + (int64_t)ss->idle_s * 1000;
	e->end_at = now + (int64_t)SESSION_MAX_S * 1000;
	fill(ss, e, now, info);
	pthread_mutex_unlock(&ss->mu);
	ls_wipe(csrf, sizeof(csrf));
	return LS_OK;
}

/* The live session whose hash is h, or NULL; under ss->mu.  An expired
 * one found is emptied. */
static struct sess *find(struct sessions *ss, const uint8_t *h, int64_t now)
{
	struct htab_node *n = htab_find(&ss->by_hash, htab_hash(&ss->by_hash, h, LS_HASH_LEN), h,
					LS_HASH_LEN);
	struct sess *hit = n ? htab_entry(n, struct sess, hn) : NULL;

	if (hit && !live(hit, now)) {
		note_end(ss, hit, now >= hit->end_at ? "max_age" : "idle");
		drop(ss, hit);
		hit = NULL;
	}
	return hit;
}

static int value_ok(const char *cookie, size_t n)
{
	if (n != SESSION_VALUE_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((cookie[i] >= '0' && cookie[i] <= '9') || (cookie[i] >= 'a' && cookie[i] <= 'f')))
			return 0;
	return 1;
}

ls_rc session_check(struct sessions *ss, const char *cookie, size_t n, struct session_info *info)
{
	uint8_t h[LS_HASH_LEN];
	struct sess *e;
	int64_t now = mono_ms();

	if (!value_ok(cookie, n))
		return LS_DENIED;
	ls_sha256(cookie, n, NULL, 0, h);
	pthread_mutex_lock(&ss->mu);
	e = find(ss, h, now);
	if (e) {
		e->idle_at = now + (int64_t)ss->idle_s * 1000;
		fill(ss, e, now, info);
	}
	pthread_mutex_unlock(&ss->mu);
	return e ? LS_OK : LS_DENIED;
}

ls_rc session_close(struct sessions *ss, const char *cookie, size_t n, struct session_info *info)
{
	uint8_t h[LS_HASH_LEN];
	struct sess *e;
	int64_t now = mono_ms();

	if (!value_ok(cookie, n))
		return LS_NOTFOUND;
	ls_sha256(cookie, n, NULL, 0, h);
	pthread_mutex_lock(&ss->mu);
	e = find(ss, h, now);
	if (e) {
		fill(ss, e, now, info);
		drop(ss, e);
	}
	pthread_mutex_unlock(&ss->mu);
	return e ? LS_OK : LS_NOTFOUND;
}

unsigned sessions_revoke_token(struct sessions *ss, const char *id)
{
	unsigned n = 0;

	if (!ss)
		return 0;
	pthread_mutex_lock(&ss->mu);
	for (unsigned i = 0; i < SESSION_MAX_COUNT; i++) {
		if (ss->t[i].used && strcmp(ss->t[i].who.id, id) == 0) {
			note_end(ss, &ss->t[i], "revoked");
			drop(ss, &ss->t[i]);
			n++;
		}
	}
	pthread_mutex_unlock(&ss->mu);
	return n;
}

unsigned sessions_sweep(struct sessions *ss)
{
	int64_t now = mono_ms();
	unsigned n = 0;

	if (!ss)
		return 0;
	pthread_mutex_lock(&ss->mu);
	for (unsigned i = 0; i < SESSION_MAX_COUNT; i++) {
		struct sess *e = &ss->t[i];

		if (e->used && !live(e, now)) {
			note_end(ss, e, now >= e->end_at ? "max_age" : "idle");
			drop(ss, e);
			n++;
		}
	}
	pthread_mutex_unlock(&ss->mu);
	return n;
}

size_t sessions_take_ended(struct sessions *ss, struct session_end *out, size_t max,
			   unsigned *lost)
{
	size_t n = 0;

	if (!ss) {
		if (lost)
			*lost = 0;
		return 0;
	}
	pthread_mutex_lock(&ss->mu);
	while (n < max && ss->ended_n > 0) {
		out[n++] = ss->ended[ss->ended_head];
		ss->ended_head = (ss->ended_head + 1) % SESSION_ENDED_MAX;
		ss->ended_n--;
	}
	if (lost) {
		*lost = ss->ended_lost;
		ss->ended_lost = 0;
	}
	pthread_mutex_unlock(&ss->mu);
	return n;
}

void session_cookie_header(const struct sessions *ss, const char *value, char *out, size_t cap)
{
	/* No Max-Age on a live session: the cookie ends with the browser, the
	 * session earlier on the server. */
	snprintf(out, cap, "%s=%s; HttpOnly; SameSite=Strict; Path=/%s%s", SESSION_COOKIE,
		 value ? value : "", value ? "" : "; Max-Age=0", ss->secure ? "; Secure" : "");
}
