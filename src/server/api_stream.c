/*
 * api_stream.c - GET /v1/stream: the log's new entries as Server-Sent
 * Events, with the query filters, resumable by leaf index.
 *
 * Wire format (text/event-stream), one message per matching entry:
 *	id: <leaf index>
 *	event: entry
 *	data: <the stored entry, byte for byte (canonical JSON: one line)>
 * An entry holding CR, LF or NUL (not a standard event; possible after an
 * import of foreign data) cannot be one SSE data line: it is sent as
 * "event: entry_b64" with the base64 of its bytes.  After 15 s without a
 * message the server sends a comment line (": keepalive <next index>"), so
 * proxies and clients see a live connection.  A client that falls behind
 * gets, as its last message,
 *	id: <resume_from - 1>
 *	event: overflow
 *	data: {"resume_from":N,"reason":"..."}
 * and the stream ends; reconnecting with Last-Event-ID (an EventSource does
 * that on its own) resumes at N without a gap.
 *
 * Where entries come from.  The log observer (sequencer thread) copies each
 * durable entry into one ring shared by all clients, holding the newest
 * ring_entries entries (and at most ring_bytes); while no stream is open it
 * copies nothing.  Each client has a cursor (the next leaf index it will
 * consider) and its own filters, evaluated in the HTTP thread that writes
 * its stream, so a slow or numerous audience costs the sequencer one copy
 * per entry and nothing per client but a wake-up.  A cursor below the
 * ring's oldest entry (a resume with Last-Event-ID or ?since=, or a burst
 * larger than the ring) reads the journal (journal_iter) at the pace the
 * client reads, until it reaches the ring.
 *
 * Slow clients.  A client is "too slow" when, after its initial replay (the
 * entries below the log's size when it connected: replay_end), its cursor
 * is more than max_lag entries behind the log.  It is marked at once, from
 * the observer, and gets the overflow message as soon as its socket takes
 * it; a client that never reads is closed by the connection timeout.
 * Either way nothing waits for it and its memory stays bounded.
 *
 * Waiting without a thread.  A client with nothing to read suspends its
 * connection (http_conn_suspend, from inside the content callback) and
 * costs no HTTP thread; the observer resumes it when entries arrive, the
 * heartbeat thread when a keepalive is due, streams_stop() at shutdown.
 *
 * Invariants:
 *  1. A client sees the entries >= its start in leaf order, each at most
 *     once, and no entry that is not durable (the ring is fed by the
 *     observer, which reports durable entries only; the journal is read
 *     only below replay_end, the durable size at connect time).
 *  2. Memory is bounded: the ring by ring_entries and ring_bytes, each
 *     client by one message (<= 64 KiB + headers) and one journal reader.
 *     No client is ever waited for (ingest does not slow down).
 *  3. suspended is set, and http_conn_suspend() called, only with mu held,
 *     and only when the cursor has reached the ring's end; whoever clears
 *     it under mu resumes the connection.  So a connection is never resumed
 *     before it was suspended nor left suspended with entries to send.
 *  4. Opening a stream is an audited read (logseal.stream.open), appended
 *     before the stream starts; if it cannot be, the stream is refused.
 *  5. A stream lives no longer than its token.  A client is registered (mu
 *     held) only after auth_active() said its token is active, and
 *     streams_revoke() (called once auth_revoke() has returned) marks every
 *     client of the token under mu: so whichever of the two comes first, a
 *     client of a revoked token is refused or marked.  A marked client is
 *     resumed at once and sends nothing more but "event: revoked" (the
 *     rest of a message already partly on the wire is completed first, so
 *     the client never sees a torn message).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"
#include "server/auth.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "store/reader.h"

#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_RING_ENTRIES 4096
#define DEFAULT_RING_BYTES (16u << 20)
#define DEFAULT_HEARTBEAT_MS 15000
#define DEFAULT_MAX_LAG 65536
#define RETRY_MS 3000		/* the reconnection delay suggested to EventSource */

/* Filter bits that restrict which entries match (the rest are paging). */
#define FILTER_BITS (INDEX_Q_FROM | INDEX_Q_TO | INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO | \
		     INDEX_Q_ACTOR | INDEX_Q_ACTION | INDEX_Q_ACTION_PREFIX | INDEX_Q_OUTCOME | \
		     INDEX_Q_SOURCE_IP | INDEX_Q_SERVICE | INDEX_Q_RESOURCE_TYPE | \
		     INDEX_Q_RESOURCE_ID | INDEX_Q_WRITER)

struct slot {
	uint8_t *data;
	size_t len;
};

struct client {
	struct client *next, *prev;
	struct streams *hub;
	struct http_conn *conn;
	struct index_query iq;
	/* under hub->mu */
	uint64_t cur;		/* next leaf index to consider */
	uint64_t replay_end;	/* entries below: the initial replay, exempt from max_lag */
	int suspended;
	int overflowed;
	int revoked;		/* its token was revoked: end now (invariant 5) */
	uint64_t overflow_at;
	int64_t last_write_ms;
	/* only in the thread running the content callback */
	char token[AUTH_ID_LEN + 1];	/* the token that opened the stream */
	int hello, done, bye;
	struct store_iter *it;
	uint64_t it_next;
	char *out;
	size_t out_len, out_off, out_cap;
};

struct streams {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *ring;
	size_t cap_entries, cap_bytes, bytes;
	uint64_t max_lag;
	uint64_t lo, hi;	/* the ring holds entries [lo, hi); hi: durable size seen */
	struct client *clients;
	unsigned nclients, reserved, max_clients;
	uint64_t opened, overflows;
	unsigned heartbeat_ms;
	struct auth *auth;	/* may be NULL */
	int stopping, quit, thread_ok;
	pthread_t thread;
	char journal_dir[PATH_MAX];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ======================================================= the ring */

static struct slot *slot_of(struct streams *st, uint64_t i)
{
	return &st->ring[i % st->cap_entries];
}

static void evict_oldest(struct streams *st)
{
	struct slot *sl = slot_of(st, st->lo);

	st->bytes -= sl->len;
	free(sl->data);
	sl->data = NULL;
	sl->len = 0;
	st->lo++;
}

static void ring_clear(struct streams *st, uint64_t at)
{
	while (st->lo < st->hi)
		evict_oldest(st);
	st->lo = st->hi = at;
}

/* Mark a client too far behind (past its initial replay).  mu held. */
static void check_lag(struct streams *st, struct client *c)
{
	if (!c->overflowed && c->cur >= c->replay_end && st->hi > c->cur &&
	    st->hi - c->cur > st->max_lag) {
		c->overflowed = 1;
		c->overflow_at = c->cur;
		st->overflows++;
	}
}

/* Mark the clients too far behind and wake every suspended one
 * (invariant 3).  mu held. */
static void wake_clients(struct streams *st)
{
	for (struct client *c = st->clients; c; c = c->next) {
		check_lag(st, c);
		if (c->suspended) {
			c->suspended = 0;
			http_conn_resume(c->conn);
		}
	}
}

void streams_feed(struct streams *st, uint64_t first, const struct iovec *entries, size_t n)
{
	if (!st || n == 0)
		return;
	pthread_mutex_lock(&st->mu);
	if (first != st->hi)
		ring_clear(st, first);	/* a gap (cannot happen with one observer): restart */
	if (st->nclients == 0) {
		ring_clear(st, first + n);
		pthread_mutex_unlock(&st->mu);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = entries[i].iov_len;
		uint8_t *copy;

		if (st->hi - st->lo == st->cap_entries)
			evict_oldest(st);
		while (st->lo < st->hi && st->bytes + len > st->cap_bytes)
			evict_oldest(st);
		copy = malloc(len ? len : 1);
		if (!copy) {
			/* Out of memory: leave the entry out of the ring by
			 * emptying it past the entry; clients read it from the
			 * journal (invariant 1: never a gap). */
			ring_clear(st, st->hi + 1);
			continue;
		}
		memcpy(copy, entries[i].iov_base, len);
		slot_of(st, st->hi)->data = copy;
		slot_of(st, st->hi)->len = len;
		st->bytes += len;
		st->hi++;
	}
	wake_clients(st);
	pthread_mutex_unlock(&st->mu);
}

/* Heartbeats: resume the clients that have been silent for heartbeat_ms. */
static void *heartbeat_main(void *arg)
{
	struct streams *st = arg;
	unsigned tick = st->heartbeat_ms / 4 ? st->heartbeat_ms / 4 : 1;

	pthread_setname_np(pthread_self(), "ls-stream");
	if (tick > 1000)
		tick = 1000;
	pthread_mutex_lock(&st->mu);
	while (!st->quit) {
		struct timespec ts;
		int64_t now;

		ls_deadline(&ts, CLOCK_REALTIME, tick);
		pthread_cond_timedwait(&st->cv, &st->mu, &ts);
		now = mono_ms();
		for (struct client *c = st->clients; c; c = c->next) {
			/* a token that expired ends its streams like a revocation
			 * (invariant 5): seen within a tick */
			if (!c->revoked && st->auth && !auth_active(st->auth, c->token)) {
				c->revoked = 1;
				c->suspended = 0;
				http_conn_resume(c->conn);
				continue;
			}
			if (c->suspended && now - c->last_write_ms >= (int64_t)st->heartbeat_ms) {
				c->suspended = 0;
				http_conn_resume(c->conn);
			}
		}
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

ls_rc streams_new(const struct stream_opts *o, const char *datadir, uint64_t size,
		  struct streams **out, struct ls_err *err)
{
	struct streams *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	st->max_clients = o && o->max_clients ? o->max_clients : DEFAULT_MAX_CLIENTS;
	st->cap_entries = o && o->ring_entries ? o->ring_entries : DEFAULT_RING_ENTRIES;
	st->cap_bytes = o && o->ring_bytes ? o->ring_bytes : DEFAULT_RING_BYTES;
	st->heartbeat_ms = o && o->heartbeat_ms ? o->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
	st->max_lag = o && o->max_lag ? o->max_lag : DEFAULT_MAX_LAG;
	st->auth = o ? o->auth : NULL;
	st->lo = st->hi = size;
	if (snprintf(st->journal_dir, sizeof(st->journal_dir), "%s/journal", datadir) >=
	    (int)sizeof(st->journal_dir)) {
		free(st);
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	}
	st->ring = calloc(st->cap_entries, sizeof(*st->ring));
	if (!st->ring) {
		free(st);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	if (pthread_create(&st->thread, NULL, heartbeat_main, st) != 0) {
		streams_free(st);
		return ls_err_set(err, LS_NOMEM, "cannot start the stream heartbeat thread");
	}
	st->thread_ok = 1;
	*out = st;
	return LS_OK;
}

void streams_stop(struct streams *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	st->stopping = 1;
	for (struct client *c = st->clients; c; c = c->next) {
		if (c->suspended) {
			c->suspended = 0;
			http_conn_resume(c->conn);
		}
	}
	pthread_mutex_unlock(&st->mu);
}

void streams_revoke(struct streams *st, const char *token_id)
{
	if (!st || !token_id)
		return;
	pthread_mutex_lock(&st->mu);
	for (struct client *c = st->clients; c; c = c->next) {
		if (strcmp(c->token, token_id) != 0)
			continue;
		c->revoked = 1;
		if (c->suspended) {
			c->suspended = 0;
			http_conn_resume(c->conn);
		}
	}
	pthread_mutex_unlock(&st->mu);
}

int streams_wait_closed(struct streams *st, unsigned timeout_ms)
{
	int64_t end = mono_ms() + timeout_ms;
	unsigned n;

	if (!st)
		return 1;
	for (;;) {
		pthread_mutex_lock(&st->mu);
		n = st->nclients;
		pthread_mutex_unlock(&st->mu);
		if (n == 0)
			return 1;
		if (mono_ms() >= end)
			return 0;
		nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
	}
}

void streams_free(struct streams *st)
{
	if (!st)
		return;
	if (st->thread_ok) {
		pthread_mutex_lock(&st->mu);
		st->quit = 1;
		pthread_cond_broadcast(&st->cv);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->thread, NULL);
	}
	ring_clear(st, st->hi);
	free(st->ring);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

void streams_counts(struct streams *st, uint64_t *clients, uint64_t *opened,
		    uint64_t *overflows)
{
	pthread_mutex_lock(&st->mu);
	*clients = st->nclients;
	*opened = st->opened;
	*overflows = st->overflows;
	pthread_mutex_unlock(&st->mu);
}

/* ======================================================= filters */

static int str_is(json_t *v, const char *want)
{
	size_t n = strlen(want);

	return json_is_string(v) && json_string_length(v) == n &&
	       memcmp(json_string_value(v), want, n) == 0;
}

static int in_range(json_t *v, int has_lo, int64_t lo, int has_hi, int64_t hi)
{
	json_int_t t;

	if (!json_is_integer(v))
		return 0;
	t = json_integer_value(v);
	return (!has_lo || t >= lo) && (!has_hi || t < hi);
}

/* The index's semantics, on one entry: every given filter must hold, and
 * an entry that lacks the field does not match it. */
static int entry_matches(const struct index_query *q, const uint8_t *data, size_t len,
			 int *oom)
{
	json_t *f, *v;
	int ok = 1;

	if (!(q->has & FILTER_BITS))
		return 1;
	f = index_entry_fields(data, len);
	if (!f) {
		*oom = 1;
		return 0;
	}
	if (q->has & (INDEX_Q_FROM | INDEX_Q_TO))
		ok = ok && in_range(json_object_get(f, "time_us"), q->has & INDEX_Q_FROM,
				    q->from_us, q->has & INDEX_Q_TO, q->to_us);
	if (q->has & (INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO))
		ok = ok && in_range(json_object_get(f, "received_us"),
				    q->has & INDEX_Q_RECEIVED_FROM, q->received_from_us,
				    q->has & INDEX_Q_RECEIVED_TO, q->received_to_us);
	if (ok && (q->has & INDEX_Q_ACTOR))
		ok = str_is(json_object_get(f, "actor"), q->actor);
	if (ok && (q->has & INDEX_Q_ACTION))
		ok = str_is(json_object_get(f, "action"), q->action);
	if (ok && (q->has & INDEX_Q_ACTION_PREFIX)) {
		size_t pn = strlen(q->action);
		v = json_object_get(f, "action");
		ok = json_is_string(v) && json_string_length(v) >= pn &&
		     memcmp(json_string_value(v), q->action, pn) == 0;
	}
	if (ok && (q->has & INDEX_Q_OUTCOME))
		ok = str_is(json_object_get(f, "outcome"), q->outcome);
	if (ok && (q->has & INDEX_Q_SERVICE))
		ok = str_is(json_object_get(f, "service"), q->service);
	if (ok && (q->has & INDEX_Q_RESOURCE_TYPE))
		ok = str_is(json_object_get(f, "resource_type"), q->resource_type);
	if (ok && (q->has & INDEX_Q_RESOURCE_ID))
		ok = str_is(json_object_get(f, "resource_id"), q->resource_id);
	if (ok && (q->has & INDEX_Q_WRITER))
		ok = str_is(json_object_get(f, "writer"), q->writer);
	if (ok && (q->has & INDEX_Q_SOURCE_IP)) {
		uint8_t ip[16];
		v = json_object_get(f, "source_ip");
		ok = json_is_string(v) && json_string_length(v) == 32 &&
		     ls_unhex(json_string_value(v), 32, ip, sizeof(ip)) == LS_OK &&
		     memcmp(ip, q->ip_lo, 16) >= 0 && memcmp(ip, q->ip_hi, 16) <= 0;
	}
	json_decref(f);
	return ok;
}

/* ======================================================= messages */

static int out_reserve(struct client *c, size_t more)
{
	size_t need = c->out_len + more + 1;
	char *p;

	if (need <= c->out_cap)
		return 1;
	p = realloc(c->out, need);
	if (!p)
		return 0;
	c->out = p;
	c->out_cap = need;
	return 1;
}

static int out_printf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int out_printf(struct client *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !out_reserve(c, (size_t)n))
		return 0;
	va_start(ap, fmt);
	vsnprintf(c->out + c->out_len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	c->out_len += (size_t)n;
	return 1;
}

static int out_bytes(struct client *c, const void *p, size_t n)
{
	if (!out_reserve(c, n))
		return 0;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 1;
}

static int format_entry(struct client *c, uint64_t index, const uint8_t *data, size_t len)
{
	if (!memchr(data, '\n', len) && !memchr(data, '\r', len) && !memchr(data, 0, len))
		return out_printf(c, "id: %llu\nevent: entry\ndata: ", (unsigned long long)index) &&
		       out_bytes(c, data, len) && out_bytes(c, "\n\n", 2);
	if (!out_printf(c, "id: %llu\nevent: entry_b64\ndata: ", (unsigned long long)index) ||
	    !out_reserve(c, LS_B64_LEN(len) + 2))
		return 0;
	ls_b64_encode(data, len, c->out + c->out_len, LS_B64_LEN(len) + 1);
	c->out_len += LS_B64_LEN(len);
	return out_bytes(c, "\n\n", 2);
}

static int format_overflow(struct client *c, uint64_t resume_from, uint64_t lag)
{
	if (resume_from > 0 && !out_printf(c, "id: %llu\n", (unsigned long long)(resume_from - 1)))
		return 0;
	return out_printf(c, "event: overflow\ndata: {\"resume_from\":%llu,\"reason\":\"the client "
			     "fell more than %llu entries behind the log; reconnect with "
			     "Last-Event-ID to resume\"}\n\n",
			  (unsigned long long)resume_from, (unsigned long long)lag);
}

/* ======================================================= the content callback */

enum next { NEXT_MSG, NEXT_WAIT, NEXT_END, NEXT_ERROR };

/* Entry c->cur from the journal (replay), or NEXT_ERROR. */
static enum next from_journal(struct client *c, const uint8_t **data, size_t *len)
{
	uint64_t index;
	ls_rc rc;

	if (c->it && c->it_next != c->cur) {
		store_iter_free(c->it);
		c->it = NULL;
	}
	if (!c->it) {
		if (store_iter_open(c->hub->journal_dir, c->cur, 0, &c->it, NULL) != LS_OK)
			return NEXT_ERROR;
		c->it_next = c->cur;
	}
	rc = store_iter_next(c->it, data, len, &index, NULL);
	if (rc != LS_OK || index != c->cur)
		return NEXT_ERROR;	/* a durable entry must be there */
	c->it_next = index + 1;
	return NEXT_MSG;
}

/* Put the next message into c->out, or suspend. */
static enum next next_message(struct client *c)
{
	struct streams *st = c->hub;
	uint8_t *copy = NULL;
	const uint8_t *data;
	size_t len;
	uint64_t index;
	int oom = 0, match;

	for (;;) {
		pthread_mutex_lock(&st->mu);
		if (st->stopping) {
			pthread_mutex_unlock(&st->mu);
			return NEXT_END;
		}
		if (c->revoked) {
			pthread_mutex_unlock(&st->mu);
			return NEXT_END;
		}
		check_lag(st, c);
		if (c->overflowed) {
			uint64_t at = c->overflow_at, lag = st->max_lag;
			pthread_mutex_unlock(&st->mu);
			c->done = 1;
			return format_overflow(c, at, lag) ? NEXT_MSG : NEXT_ERROR;
		}
		index = c->cur;
		if (index < st->lo) {
			/* not in the ring (durable, as index < lo <= hi): the
			 * journal, read outside mu */
			pthread_mutex_unlock(&st->mu);
			if (from_journal(c, &data, &len) != NEXT_MSG)
				return NEXT_ERROR;
			match = entry_matches(&c->iq, data, len, &oom);
			if (oom || (match && !format_entry(c, index, data, len)))
				return NEXT_ERROR;
			pthread_mutex_lock(&st->mu);
			c->cur = index + 1;
			pthread_mutex_unlock(&st->mu);
			if (match)
				return NEXT_MSG;
			continue;
		}
		if (c->it) {
			store_iter_free(c->it);
			c->it = NULL;
		}
		if (index < st->hi) {
			struct slot *sl = slot_of(st, index);
			copy = malloc(sl->len ? sl->len : 1);
			if (!copy) {
				pthread_mutex_unlock(&st->mu);
				return NEXT_ERROR;
			}
			memcpy(copy, sl->data, sl->len);
			len = sl->len;
			c->cur = index + 1;
			pthread_mutex_unlock(&st->mu);
			match = entry_matches(&c->iq, copy, len, &oom);
			if (oom || (match && !format_entry(c, index, copy, len))) {
				free(copy);
				return NEXT_ERROR;
			}
			free(copy);
			if (match)
				return NEXT_MSG;
			continue;
		}
		/* caught up */
		if (mono_ms() - c->last_write_ms >= (int64_t)st->heartbeat_ms) {
			pthread_mutex_unlock(&st->mu);
			return out_printf(c, ": keepalive %llu\n\n", (unsigned long long)index) ?
				       NEXT_MSG : NEXT_ERROR;
		}
		c->suspended = 1;
		http_conn_suspend(c->conn);
		pthread_mutex_unlock(&st->mu);
		return NEXT_WAIT;
	}
}

/* The last message of a stream whose token was revoked (invariant 5). */
static int format_revoked(struct client *c)
{
	return out_printf(c, "event: revoked\ndata: {\"reason\":\"the token %s was revoked; "
			     "this stream is closed\"}\n\n", c->token);
}

static long stream_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
	struct client *c = ctx;
	int revoked;

	(void)pos;
	for (;;) {
		if (!c->bye) {
			pthread_mutex_lock(&c->hub->mu);
			revoked = c->revoked;
			pthread_mutex_unlock(&c->hub->mu);
			/* out_off is 0 whenever no message is partly sent */
			if (revoked && c->out_off == 0) {
				/* Nothing of the pending message was sent: drop it. */
				c->out_len = 0;
				c->bye = c->done = 1;
				if (!format_revoked(c))
					return REPLY_STREAM_END;
			} else if (revoked) {
				/* finish the message on the wire, then say goodbye */
				size_t n = c->out_len - c->out_off;
				c->bye = c->done = 1;
				memmove(c->out, c->out + c->out_off, n);
				c->out_off = 0;
				c->out_len = n;
				if (!format_revoked(c))
					return REPLY_STREAM_ERROR;
			}
		}
		if (c->out_off < c->out_len) {
			size_t n = c->out_len - c->out_off;
			if (n > max)
				n = max;
			memcpy(buf, c->out + c->out_off, n);
			c->out_off += n;
			if (c->out_off == c->out_len)
				c->out_off = c->out_len = 0;
			pthread_mutex_lock(&c->hub->mu);
			c->last_write_ms = mono_ms();
			pthread_mutex_unlock(&c->hub->mu);
			return (long)n;
		}
		if (c->done)
			return REPLY_STREAM_END;
		if (!c->hello) {
			c->hello = 1;
			if (!out_printf(c, ": logseal live stream\nretry: %d\n\n", RETRY_MS))
				return REPLY_STREAM_ERROR;
			continue;
		}
		switch (next_message(c)) {
		case NEXT_MSG:
			continue;
		case NEXT_WAIT:
			return 0;
		case NEXT_END:
			return REPLY_STREAM_END;
		case NEXT_ERROR:
			return REPLY_STREAM_ERROR;
		}
	}
}

static void client_free(void *ctx)
{
	struct client *c = ctx;
	struct streams *st = c->hub;

	pthread_mutex_lock(&st->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		st->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	st->nclients--;
	pthread_mutex_unlock(&st->mu);
	store_iter_free(c->it);
	index_query_release(&c->iq);
	free(c->out);
	free(c);
}

/* ======================================================= GET /v1/stream */

struct stream_params {
	int has_since;
	uint64_t since;
};

static ls_rc stream_param(void *ctx, const char *key, const char *value, struct ls_err *err)
{
	struct stream_params *p = ctx;

	if (!strcmp(key, "since")) {
		if (p->has_since)
			return ls_err_set(err, LS_INVALID, "parameter 'since' given twice");
		if (!ls_parse_u64(value, 0, UINT64_MAX, &p->since))
			return ls_err_set(err, LS_INVALID,
					  "parameter 'since': a leaf index (decimal)");
		p->has_since = 1;
		return LS_OK;
	}
	if (!strcmp(key, "order") || !strcmp(key, "limit") || !strcmp(key, "cursor"))
		return ls_err_set(err, LS_INVALID,
				  "parameter '%s' does not apply to a stream (use since or "
				  "Last-Event-ID to resume)", key);
	return LS_NOTFOUND;
}

void api_stream(struct server *s, const struct request *q, struct reply *r)
{
	struct streams *st = s->streams;
	struct stream_params p = { 0 };
	struct index_query iq;
	struct client *c;
	uint64_t size, start, last;
	json_t *d;

	if (!st) {
		reply_error(r, 503, "busy", "live streams are not available");
		return;
	}
	if (!api_parse_filters(q, &iq, stream_param, &p, r))
		return;
	size = log_size(s->log);
	start = size;
	if (p.has_since)
		start = p.since;
	if (q->last_event_id) {
		if (!ls_parse_u64(q->last_event_id, 0, UINT64_MAX, &last) || last == UINT64_MAX) {
			index_query_release(&iq);
			reply_error(r, 400, "bad_parameter",
				    "Last-Event-ID must be a leaf index (decimal)");
			return;
		}
		start = last + 1;	/* the header wins: it is newer than the URL */
	}
	if (start > size) {
		index_query_release(&iq);
		reply_error(r, 400, "bad_parameter",
			    "the stream cannot start at %llu: the log holds %llu %s",
			    (unsigned long long)start, (unsigned long long)size,
			    LS_PL(size, "entry", "entries"));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		index_query_release(&iq);
		reply_error(r, 503, "busy", "out of memory");
		r->retry_after = 1;
		return;
	}
	c->iq = iq;
	c->hub = st;
	c->conn = q->conn;
	if (q->who)
		snprintf(c->token, sizeof(c->token), "%s", q->who->id);

	pthread_mutex_lock(&st->mu);
	if (st->stopping || st->nclients + st->reserved >= st->max_clients) {
		int stopping = st->stopping;
		pthread_mutex_unlock(&st->mu);
		index_query_release(&c->iq);
		free(c);
		if (stopping) {
			reply_error(r, 503, "shutting_down", "the server is stopping");
		} else {
			reply_error(r, 429, "too_many_streams",
				    "%u live streams are open, the most this server allows",
				    st->max_clients);
		}
		r->retry_after = 5;
		return;
	}
	st->reserved++;
	pthread_mutex_unlock(&st->mu);

	d = json_object();
	json_object_set_new(d, "filter", index_query_filters_json(&c->iq));
	json_object_set_new(d, "start", json_integer((json_int_t)start));
	json_object_set_new(d, "tree_size", json_integer((json_int_t)size));
	if (api_audit_read(s, q, "logseal.stream.open", "success", d, r) != LS_OK) {
		json_decref(d);
		pthread_mutex_lock(&st->mu);
		st->reserved--;
		pthread_mutex_unlock(&st->mu);
		index_query_release(&c->iq);
		free(c);
		return;
	}
	json_decref(d);

	pthread_mutex_lock(&st->mu);
	st->reserved--;
	if (st->auth && q->who && !auth_active(st->auth, q->who->id)) {
		/* revoked since this request was authenticated (invariant 5) */
		pthread_mutex_unlock(&st->mu);
		index_query_release(&c->iq);
		free(c);
		reply_error(r, 401, "unauthenticated", "the token was revoked");
		return;
	}
	st->nclients++;
	st->opened++;
	c->cur = start;
	/* The initial replay: everything durable now (the ring's end, which
	 * includes the open event just appended). */
	c->replay_end = st->hi;
	c->last_write_ms = mono_ms();
	c->next = st->clients;
	if (st->clients)
		st->clients->prev = c;
	st->clients = c;
	pthread_mutex_unlock(&st->mu);

	r->status = 200;
	r->stream = stream_read;
	r->stream_free = client_free;
	r->stream_ctx = c;
	r->stream_live = 1;
	r->content_type = "text/event-stream; charset=utf-8";
}
