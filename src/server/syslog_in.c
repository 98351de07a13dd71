/*
 * syslog_in.c - what the RELP and syslog-over-TLS listeners share
 * (syslog_in.h): the socket, a thread per connection, OpenSSL TLS with the
 * server's certificate, the writer token, and the batch ingest through
 * api_events_post() so that a syslog message becomes an event by the very
 * path an HTTP one does.
 *
 * Threads: one accepting thread, one thread per connection (at most
 * max_conns; more are closed at once).  syslog_in_stop() sets stop, shuts
 * every connection's socket down (a blocked read returns), and joins.
 *
 * Counted in the server's metrics (metrics_syslog_*, by listener kind):
 * each connection given a thread (open until its thread ends), each byte
 * read, each message by what sin_ingest() made of it.
 */
#include "server/syslog_in.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "server/api.h"
#include "server/api_int.h"
#include "server/metrics.h"
#include "server/auth.h"

#define DEFAULT_MAX_CONNS 256
#define EXCERPT_MAX 256
#define HANDSHAKE_TIMEOUT_S 10	/* a TLS client that does not finish its handshake */
#define IDLE_TIMEOUT_S 600	/* a connection silent this long is closed (senders reconnect) */

struct sin_conn {
	struct syslog_in *l;
	int fd;
	SSL *ssl;
	char remote_ip[64];
	pthread_t thread;
	int done;		/* the thread finished (joined by the acceptor or the stop) */
	struct sin_conn *next;
};

struct syslog_in {
	struct server *s;
	struct syslog_in_opts o;
	struct syslog_map map;
	struct auth_principal who;
	SSL_CTX *ctx;
	int fd;
	int wake[2];		/* the stop wakes the acceptor */
	unsigned port;
	pthread_t thread;
	int started;
	atomic_int stop;
	pthread_mutex_t mu;	/* conns, nconns */
	struct sin_conn *conns;
	unsigned nconns;
};

static void notice(const struct syslog_in *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void notice(const struct syslog_in *l, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!l->o.notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->o.notice(l->o.notice_ctx, msg);
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static enum metrics_listener lsn(const struct syslog_in *l)
{
	return l->o.kind == SYSLOG_IN_RELP ? METRICS_LSN_RELP : METRICS_LSN_SYSLOG_TLS;
}

/* ======================================================= connection I/O */

int sin_stopping(const struct sin_conn *c)
{
	return atomic_load(&c->l->stop);
}

static long conn_read(struct sin_conn *c, char *buf, size_t cap)
{
	if (c->ssl) {
		int r = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);

		if (r > 0)
			return r;
		return SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
	}
	for (;;) {
		ssize_t r = recv(c->fd, buf, cap, 0);

		if (r >= 0)
			return (long)r;
		if (errno != EINTR)
			return -1;
	}
}

long sin_read(struct sin_conn *c, char *buf, size_t cap)
{
	long r;

	if (sin_stopping(c))
		return -1;
	r = conn_read(c, buf, cap);
	if (r > 0)
		metrics_syslog_bytes(c->l->s->metrics, lsn(c->l), (uint64_t)r);
	return r;
}

int sin_write(struct sin_conn *c, const char *p, size_t n)
{
	while (n > 0) {
		if (c->ssl) {
			int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);

			if (w <= 0)
				return -1;
			p += w;
			n -= (size_t)w;
		} else {
			ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			p += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

/* ======================================================= ingest */

/* A refused message over syslog-TLS, which cannot answer: recorded. */
static void record_rejected(struct sin_conn *c, const struct request *q, const struct sin_msg *m,
			    const char *why)
{
	uint8_t h[LS_HASH_LEN];
	char hex[2 * LS_HASH_LEN + 1];
	size_t keep = m->n < EXCERPT_MAX ? m->n : EXCERPT_MAX;
	json_t *d = json_object(), *ex;

	if (!d)
		return;
	ls_sha256(m->p, m->n, NULL, 0, h);
	ls_hex(h, sizeof(h), hex);
	while (keep > 0 && keep < m->n && ((unsigned char)m->p[keep] & 0xC0) == 0x80)
		keep--;
	ex = json_stringn(m->p, keep);
	/* The keys of the records of refused items of partial HTTP batches
	 * (api_events.c), so one query finds both. */
	json_object_set_new(d, "writer", json_string(c->l->who.id));
	json_object_set_new(d, "format", json_string("syslog"));
	json_object_set_new(d, "protocol",
			    json_string(c->l->o.kind == SYSLOG_IN_OCTET ? "syslog-tls" : "relp"));
	json_object_set_new(d, "error", json_string(why));
	json_object_set_new(d, "sha256", json_string(hex));
	json_object_set_new(d, "bytes", json_integer((json_int_t)m->n));
	json_object_set_new(d, "excerpt", ex ? ex : json_string("(not UTF-8)"));
	if (keep < m->n)
		json_object_set_new(d, "excerpt_truncated", json_true());
	if (api_log_internal(c->l->s, q, "logseal.ingest.rejected", c->l->who.id, "failure", d) !=
	    LS_OK)
		notice(c->l, "%s: a refused message from %s could not be recorded: %s",
		       c->l->o.kind == SYSLOG_IN_OCTET ? "syslog-tls" : "relp", c->remote_ip, why);
	else
		metrics_ingest_rejected(c->l->s->metrics, METRICS_REJ_SYSLOG, 1);
	json_decref(d);
}

static void reply_release(struct reply *r)
{
	json_decref(r->body);
	free(r->raw);
	if (r->stream_free)
		r->stream_free(r->stream_ctx);
	memset(r, 0, sizeof(*r));
}

/* Each pending message validated alone (as the batch's parse would); the
 * refused ones leave ok[] with their reason.  Returns how many. */
static int prevalidate(struct sin_conn *c, char **text, int *ok, char (*why)[SIN_WHY_MAX],
		       size_t n, int64_t now)
{
	struct syslog_in *l = c->l;
	struct event_ctx ctx = { l->who.id, c->remote_ip,
				 l->who.service[0] ? l->who.service : NULL, now, l->s->policy };
	int refused = 0;

	for (size_t i = 0; i < n; i++) {
		struct event_batch b = { 0 };
		struct event_error e;
		ls_rc r;

		if (!ok[i])
			continue;
		memset(&e, 0, sizeof(e));
		r = event_batch_parse(text[i], strlen(text[i]), EVENT_BODY_JSON,
				      EVENT_FORMAT_NATIVE, &ctx, &b, &e);
		event_batch_release(&b);
		if (r == LS_INVALID || r == LS_LIMIT || r == LS_DENIED) {
			ok[i] = 0;
			if (e.field[0])
				snprintf(why[i], SIN_WHY_MAX, "field %s: %s", e.field, e.reason);
			else
				snprintf(why[i], SIN_WHY_MAX, "%s", e.reason);
			refused++;
		}
	}
	return refused;
}

static int ingest(struct sin_conn *c, const struct sin_msg *msgs, size_t n, int *ok,
		  char (*why)[SIN_WHY_MAX])
{
	struct syslog_in *l = c->l;
	struct request q;
	char **text = calloc(n ? n : 1, sizeof(*text));
	size_t *pos = calloc(n ? n : 1, sizeof(*pos));	/* batch position -> message */
	int pending = 0, rc = 0, validated = 0;
	int64_t now = wall_us();

	if (!text || !pos) {
		free(text);
		free(pos);
		notice(l, "%s: out of memory", l->o.kind == SYSLOG_IN_RELP ? "relp" : "syslog-tls");
		return -1;
	}
	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.path = l->o.kind == SYSLOG_IN_RELP ? "relp" : "syslog-tls";
	q.body_kind = EVENT_BODY_JSON;
	snprintf(q.remote_ip, sizeof(q.remote_ip), "%s", c->remote_ip);
	q.who = &l->who;
	q.received_us = now;
	/* A token revoked since the start writes nothing more (the sender
	 * keeps its messages and resends them once a token is in place). */
	if (!auth_active(l->s->auth, l->who.id)) {
		notice(l, "%s: the writer token %s is no longer active: refusing messages",
		       q.path, l->who.id);
		free(text);
		free(pos);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct ls_err err = { { 0 } };
		json_t *o = NULL;
		ls_rc r = syslog_to_native(msgs[i].p, msgs[i].n, &l->map, c->remote_ip,
					   l->who.service[0] ? l->who.service : NULL, now, &o,
					   &err);

		ok[i] = 0;
		why[i][0] = 0;
		if (r == LS_NOMEM) {
			rc = -1;
			goto out;
		}
		if (r != LS_OK) {
			snprintf(why[i], SIN_WHY_MAX, "%s", err.msg);
			continue;
		}
		text[i] = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (!text[i]) {
			rc = -1;
			goto out;
		}
		ok[i] = 1;	/* pending */
		pending++;
	}
	/* Append every pending message as one batch; a refused event (its
	 * position is in the reply) is taken out and the rest tried again. */
	while (pending > 0) {
		struct reply r;
		size_t len = 2, m = 0, off = 0;
		char *body;

		for (size_t i = 0; i < n; i++)
			if (ok[i])
				len += strlen(text[i]) + 1;
		body = malloc(len + 1);
		if (!body) {
			rc = -1;
			goto out;
		}
		body[off++] = '[';
		for (size_t i = 0; i < n; i++) {
			size_t tl;

			if (!ok[i])
				continue;
			if (m)
				body[off++] = ',';
			tl = strlen(text[i]);
			memcpy(body + off, text[i], tl);
			off += tl;
			pos[m++] = i;
		}
		body[off++] = ']';
		body[off] = 0;
		q.body = body;
		q.body_len = off;
		memset(&r, 0, sizeof(r));
		api_events_post(l->s, &q, &r);
		free(body);
		if (r.status == 200) {
			reply_release(&r);
			break;
		}
		if (r.status == 400 || r.status == 403 || r.status == 413) {
			json_t *e = json_object_get(r.body, "error");
			json_t *p = json_object_get(e, "position");
			const char *msg = json_string_value(json_object_get(e, "message"));
			json_int_t at = json_integer_value(p);

			if (!json_is_integer(p) || at < 0 || (size_t)at >= m) {
				reply_release(&r);
				rc = -1;
				notice(l, "%s: unexpected refusal of a batch", q.path);
				goto out;
			}
			/* Find every refusal at once (one parse each), not one
			 * append attempt per bad message. */
			if (!validated) {
				int k;

				validated = 1;
				k = prevalidate(c, text, ok, why, n, now);
				if (k > 0) {
					pending -= k;
					reply_release(&r);
					continue;
				}
			}
			ok[pos[at]] = 0;
			snprintf(why[pos[at]], SIN_WHY_MAX, "%s", msg ? msg : "invalid event");
			pending--;
			reply_release(&r);
			continue;
		}
		{
			json_t *e = json_object_get(r.body, "error");
			const char *msg = json_string_value(json_object_get(e, "message"));

			notice(l, "%s: not acknowledging %zu messages from %s: %u %s", q.path, n,
			       c->remote_ip, r.status, msg ? msg : "");
		}
		reply_release(&r);
		rc = -1;
		goto out;
	}
	/* RFC 5425 has no way to answer, RELP answers 500 (and rsyslog then
	 * drops the message): either way the log keeps the refused input. */
	for (size_t i = 0; i < n; i++)
		if (!ok[i])
			record_rejected(c, &q, &msgs[i], why[i]);
out:
	for (size_t i = 0; i < n; i++)
		free(text[i]);
	free(text);
	free(pos);
	return rc;
}

int sin_ingest(struct sin_conn *c, const struct sin_msg *msgs, size_t n, int *ok,
	       char (*why)[SIN_WHY_MAX])
{
	struct metrics *m = c->l->s->metrics;
	int rc = ingest(c, msgs, n, ok, why);
	uint64_t taken = 0;

	if (rc != 0) {
		metrics_syslog_msgs(m, lsn(c->l), METRICS_MSG_FAILED, n);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		taken += ok[i] ? 1 : 0;
	metrics_syslog_msgs(m, lsn(c->l), METRICS_MSG_ACCEPTED, taken);
	metrics_syslog_msgs(m, lsn(c->l), METRICS_MSG_REFUSED, n - taken);
	return 0;
}

/* ======================================================= threads */

static void *conn_main(void *arg)
{
	struct sin_conn *c = arg;
	struct syslog_in *l = c->l;
	struct timeval tv = { HANDSHAKE_TIMEOUT_S, 0 };

	/* A connection holds a thread: one that never speaks must not hold
	 * it for ever (the listener takes max_conns at most). */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (l->ctx) {
		c->ssl = SSL_new(l->ctx);
		if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || SSL_accept(c->ssl) != 1) {
			unsigned long e = ERR_get_error();
			char eb[256];

			ERR_error_string_n(e, eb, sizeof(eb));
			notice(l, "%s: TLS handshake with %s failed: %s",
			       l->o.kind == SYSLOG_IN_RELP ? "relp" : "syslog-tls", c->remote_ip,
			       e ? eb : "connection closed");
			ERR_clear_error();
			goto out;
		}
	}
	tv.tv_sec = IDLE_TIMEOUT_S;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (l->o.kind == SYSLOG_IN_RELP)
		relp_session(c);
	else
		syslog_tls_session(c);
	if (c->ssl && !sin_stopping(c))
		SSL_shutdown(c->ssl);
out:
	metrics_syslog_conn(l->s->metrics, lsn(l), 0);
	pthread_mutex_lock(&l->mu);
	c->done = 1;
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void conn_free(struct sin_conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

/* Join and free the connections whose thread ended (mu held). */
static void reap(struct syslog_in *l)
{
	struct sin_conn **pp = &l->conns;

	while (*pp) {
		struct sin_conn *c = *pp;

		if (c->done) {
			*pp = c->next;
			pthread_join(c->thread, NULL);
			conn_free(c);
			l->nconns--;
		} else {
			pp = &c->next;
		}
	}
}

static void *accept_main(void *arg)
{
	struct syslog_in *l = arg;
	unsigned max = l->o.max_conns ? l->o.max_conns : DEFAULT_MAX_CONNS;

	while (!atomic_load(&l->stop)) {
		struct pollfd pf[2] = { { l->fd, POLLIN, 0 }, { l->wake[0], POLLIN, 0 } };
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct sin_conn *c;
		int fd, one = 1;

		if (poll(pf, 2, 1000) < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&l->mu);
		reap(l);
		pthread_mutex_unlock(&l->mu);
		if (atomic_load(&l->stop) || !(pf[0].revents & POLLIN))
			continue;
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->l = l;
		c->fd = fd;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->remote_ip,
				  sizeof(c->remote_ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->remote_ip,
				  sizeof(c->remote_ip));
		pthread_mutex_lock(&l->mu);
		/* counted before its thread can end (and count it closed) */
		if (l->nconns < max)
			metrics_syslog_conn(l->s->metrics, lsn(l), 1);
		if (l->nconns >= max || pthread_create(&c->thread, NULL, conn_main, c) != 0) {
			if (l->nconns < max)
				metrics_syslog_conn(l->s->metrics, lsn(l), 0);
			pthread_mutex_unlock(&l->mu);
			notice(l, "%s: connection from %s refused (%u open)",
			       l->o.kind == SYSLOG_IN_RELP ? "relp" : "syslog-tls", c->remote_ip,
			       l->nconns);
			conn_free(c);
			continue;
		}
		c->next = l->conns;
		l->conns = c;
		l->nconns++;
		pthread_mutex_unlock(&l->mu);
	}
	return NULL;
}

/* ======================================================= start, stop */

static ls_rc open_socket(struct syslog_in *l, int insecure_ok, struct ls_err *err)
{
	char host[256];
	const char *spec = l->o.listen, *port, *colon;
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	size_t hl;
	int one = 1, loopback = 0;

	if (spec[0] == '[') {
		const char *close_b = strchr(spec, ']');

		if (!close_b || close_b[1] != ':')
			goto bad;
		hl = (size_t)(close_b - spec - 1);
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, spec + 1, hl);
		port = close_b + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - spec);
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, spec, hl);
		port = colon + 1;
	}
	host[hl] = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (!*port || getaddrinfo(host, port, &hints, &res) != 0 || !res)
		goto bad;
	if (res->ai_family == AF_INET)
		loopback = (ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr) >> 24) ==
			   127;
	else if (res->ai_family == AF_INET6)
		loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr);
	if (!l->o.tls_cert && !loopback && !insecure_ok) {
		freeaddrinfo(res);
		return ls_err_set(err, LS_DENIED,
				  "refusing plain TCP on %s, which is not a loopback address: "
				  "give --tls-cert and --tls-key", spec);
	}
	l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(l->fd, res->ai_addr, res->ai_addrlen) != 0 || listen(l->fd, 128) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0) {
		int e = errno;

		freeaddrinfo(res);
		return ls_err_set(err, LS_IO, "%s: %s", spec, strerror(e));
	}
	freeaddrinfo(res);
	l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return LS_OK;
bad:
	return ls_err_set(err, LS_INVALID, "%s: expected HOST:PORT or [IPv6]:PORT", spec);
}

static ls_rc load_token(struct syslog_in *l, struct ls_err *err)
{
	char *text = NULL;
	size_t len = 0;
	ls_rc rc;

	if (!l->o.token_file)
		return ls_err_set(err, LS_INVALID,
				  "a syslog listener needs a writer token: --syslog-token-file");
	rc = fs_read_file(l->o.token_file, 4096, &text, &len, err);
	if (rc != LS_OK)
		return rc;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	rc = auth_check(l->s->auth, text, len, &l->who);
	ls_wipe(text, len);
	free(text);
	if (rc != LS_OK)
		return ls_err_set(err, LS_DENIED, "%s: not an active token", l->o.token_file);
	if (!(l->who.roles & AUTH_ROLE_WRITER))
		return ls_err_set(err, LS_DENIED, "%s: token %s has no writer role",
				  l->o.token_file, l->who.id);
	return LS_OK;
}

static ls_rc tls_setup(struct syslog_in *l, struct ls_err *err)
{
	if (!l->o.tls_cert)
		return LS_OK;
	l->ctx = SSL_CTX_new(TLS_server_method());
	if (!l->ctx)
		return ls_err_set(err, LS_NOMEM, "cannot set up TLS");
	SSL_CTX_set_min_proto_version(l->ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(l->ctx, l->o.tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(l->ctx, l->o.tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(l->ctx) != 1) {
		char eb[256];

		ERR_error_string_n(ERR_get_error(), eb, sizeof(eb));
		ERR_clear_error();
		return ls_err_set(err, LS_INVALID, "TLS certificate/key: %s", eb);
	}
	return LS_OK;
}

ls_rc syslog_in_start(struct server *s, const struct syslog_in_opts *o, struct syslog_in **out,
		      struct ls_err *err)
{
	struct syslog_in *l = calloc(1, sizeof(*l));
	ls_rc rc;

	*out = NULL;
	if (!l)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	l->s = s;
	l->o = *o;
	l->fd = -1;
	l->wake[0] = l->wake[1] = -1;
	if (o->map)
		l->map = *o->map;
	else
		syslog_map_init(&l->map);
	pthread_mutex_init(&l->mu, NULL);
	if ((rc = load_token(l, err)) != LS_OK || (rc = tls_setup(l, err)) != LS_OK ||
	    (rc = open_socket(l, 0, err)) != LS_OK)
		goto fail;
	if (pipe2(l->wake, O_CLOEXEC) != 0) {
		rc = ls_err_set(err, LS_IO, "pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&l->thread, NULL, accept_main, l) != 0) {
		rc = ls_err_set(err, LS_IO, "cannot start the listener thread");
		goto fail;
	}
	l->started = 1;
	*out = l;
	return LS_OK;
fail:
	syslog_in_stop(l);
	return rc;
}

unsigned syslog_in_port(const struct syslog_in *l)
{
	return l ? l->port : 0;
}

void syslog_in_stop(struct syslog_in *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, 1);
	if (l->wake[1] >= 0 && write(l->wake[1], "x", 1) < 0) {
		/* the acceptor still sees stop within its poll timeout */
	}
	if (l->started)
		pthread_join(l->thread, NULL);
	pthread_mutex_lock(&l->mu);
	for (struct sin_conn *c = l->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&l->mu);
	for (;;) {
		struct sin_conn *c;

		pthread_mutex_lock(&l->mu);
		c = l->conns;
		if (c)
			l->conns = c->next;
		pthread_mutex_unlock(&l->mu);
		if (!c)
			break;
		pthread_join(c->thread, NULL);
		conn_free(c);
	}
	if (l->fd >= 0)
		close(l->fd);
	if (l->wake[0] >= 0)
		close(l->wake[0]);
	if (l->wake[1] >= 0)
		close(l->wake[1]);
	if (l->ctx)
		SSL_CTX_free(l->ctx);
	ls_wipe(&l->who, sizeof(l->who));
	pthread_mutex_destroy(&l->mu);
	free(l);
}
