/*
 * witness_http.c - the HTTP(S) front of a witness (witness.h) on
 * libmicrohttpd: POST /add-checkpoint, GET /<origin hash>/checkpoint,
 * GET /healthz.  There is no authentication (the protocol has none: the
 * log signature on the checkpoint is what is checked), so the front bounds
 * what anyone can make the witness do:
 *  - add-checkpoint (a signature check, a consistency proof and a durable
 *    write each) takes a token from its client's bucket (ratelimit.h) when
 *    its headers are in; an empty bucket is a 429 with Retry-After, before
 *    any of the body is read;
 *  - bodies are buffered up to WITNESS_MAX_BODY: a Content-Length over it
 *    is a 413 at once, a chunked body that grows past it a 413 once sent,
 *    and a client that goes on past twice the cap is disconnected
 *    (libmicrohttpd 0.9.75 cannot reply in the middle of an upload);
 *  - connections in all, per address, and an idle timeout.
 * Refusals (429, 413) are counted and said on stderr, at most one line a
 * second (an attacker must not be able to fill the operator's log); the
 * totals are printed when the witness stops (witness_http_stop()).
 *
 * TLS (witness_http_opts.tls_cert): 1.2 and 1.3, AEAD suites and ECDHE
 * only - the main server's profile (http.c).
 */
#include "server/witness.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http.h"
#include "server/ratelimit.h"


struct witness_http {
	struct MHD_Daemon *d;
	struct witness *w;
	struct ratelimit *rl;		/* NULL: no rate limit */
	double rate;
	unsigned burst;
	atomic_uint_fast64_t too_big;	/* 413s */
	atomic_uint_fast64_t last_say;	/* second (monotonic) of the last refusal line */
	atomic_uint_fast64_t unsaid;	/* refusals since that line */
};

struct conn {
	char *buf;
	size_t len;
	size_t seen;			/* body bytes received, kept or not */
	int too_big;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void client_text(struct MHD_Connection *c, char *text, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	uint8_t key[RATELIMIT_KEY];

	ratelimit_client(ci ? ci->client_addr : NULL, key, text, cap);
}

/* One line on stderr for a refusal, unless one was said this second (then
 * it is counted into the next line). */
static void say_refusal(struct witness_http *h, struct MHD_Connection *c, const char *what)
{
	uint64_t now = mono_ns() / 1000000000u, last = atomic_load(&h->last_say);
	uint64_t rl_ok = 0, rl_no = 0, more;
	char who[INET6_ADDRSTRLEN + 8];

	if (now == last || !atomic_compare_exchange_strong(&h->last_say, &last, now)) {
		atomic_fetch_add(&h->unsaid, 1);
		return;
	}
	more = atomic_exchange(&h->unsaid, 0);
	if (h->rl)
		ratelimit_counts(h->rl, &rl_ok, &rl_no);
	client_text(c, who, sizeof(who));
	fprintf(stderr,
		"logseal witness: refused %s from %s (%" PRIu64 " other refusal(s) since the last "
		"line; in all %" PRIu64 " rate-limited (429), %" PRIu64 " too large (413))\n",
		what, who, more, rl_no, (uint64_t)atomic_load(&h->too_big));
}

static enum MHD_Result send_reply_ra(struct MHD_Connection *c, struct witness_reply *r,
				     unsigned retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!r->body) {
		r->status = 500;
		r->ctype = "text/plain";
	}
	resp = MHD_create_response_from_buffer(r->body ? r->len : 0, r->body ? r->body : (void *)"",
					       r->body ? MHD_RESPMEM_MUST_FREE
						       : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "text/plain");
	if (retry_after) {
		char num[16];

		snprintf(num, sizeof(num), "%u", retry_after);
		MHD_add_response_header(resp, "Retry-After", num);
	}
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct witness_reply *r)
{
	return send_reply_ra(c, r, 0);
}

static enum MHD_Result simple_ra(struct MHD_Connection *c, int status, const char *msg,
				 unsigned retry_after)
{
	struct witness_reply r = { .status = status, .ctype = "text/plain" };

	r.body = strdup(msg);
	r.len = r.body ? strlen(r.body) : 0;
	return send_reply_ra(c, &r, retry_after);
}

static enum MHD_Result simple(struct MHD_Connection *c, int status, const char *msg)
{
	return simple_ra(c, status, msg, 0);
}

/* First call of an add-checkpoint: the rate limit, then Content-Length.
 * MHD_YES with *refused set when a reply was queued. */
static enum MHD_Result admit(struct witness_http *h, struct MHD_Connection *c, int *refused)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned retry = 0;
	int episode = 0;

	*refused = 1;
	if (h->rl) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		if (!ratelimit_take(h->rl, ci ? ci->client_addr : NULL, mono_ns(), &retry,
				    &episode)) {
			char msg[128];

			say_refusal(h, c, "add-checkpoint (rate limit)");
			snprintf(msg, sizeof(msg),
				 "too many requests: at most %g a second (burst %u); retry in %u s\n",
				 h->rate, h->burst, retry);
			return simple_ra(c, 429, msg, retry);
		}
	}
	if (cl) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);

		if (end != cl && !*end && n > WITNESS_MAX_BODY) {
			atomic_fetch_add(&h->too_big, 1);
			say_refusal(h, c, "add-checkpoint (body too large)");
			return simple(c, 413, "request body too large\n");
		}
	}
	*refused = 0;
	return MHD_YES;
}

/* "/<64 lower-case hex>/checkpoint" -> hex. */
static int monitor_path(const char *url, char hex[65])
{
	size_t i;

	if (url[0] != '/' || strlen(url) != 1 + 64 + strlen("/checkpoint") ||
	    strcmp(url + 65, "/checkpoint") != 0)
		return 0;
	for (i = 0; i < 64; i++) {
		char ch = url[1 + i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return 0;
		hex[i] = ch;
	}
	hex[64] = 0;
	return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct witness_http *h = cls;
	struct conn *k = *con_cls;
	struct witness_reply r;
	char hex[65];

	if (strcmp(method, "POST") == 0 && strcmp(url, "/add-checkpoint") == 0) {
		if (!k) {
			int refused;
			enum MHD_Result ret = admit(h, c, &refused);

			if (refused)
				return ret;
			k = calloc(1, sizeof(*k));
			if (!k)
				return MHD_NO;
			*con_cls = k;
			return MHD_YES;
		}
		if (*size) {
			k->seen += *size;
			if (k->seen > 2 * (size_t)WITNESS_MAX_BODY)
				return MHD_NO;	/* still sending: cut it off */
			if (k->too_big || k->len + *size > WITNESS_MAX_BODY) {
				k->too_big = 1;
			} else {
				char *nb = realloc(k->buf, k->len + *size);

				if (!nb)
					return MHD_NO;
				k->buf = nb;
				memcpy(k->buf + k->len, data, *size);
				k->len += *size;
			}
			*size = 0;
			return MHD_YES;
		}
		if (k->too_big) {
			atomic_fetch_add(&h->too_big, 1);
			say_refusal(h, c, "add-checkpoint (body too large)");
			return simple(c, 413, "request body too large\n");
		}
		witness_add_checkpoint(h->w, k->buf ? k->buf : "", k->len, (uint64_t)time(NULL),
				       &r);
		return send_reply(c, &r);
	}
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
		if (strcmp(url, "/healthz") == 0)
			return simple(c, 200, "ok\n");
		if (monitor_path(url, hex)) {
			witness_get_checkpoint(h->w, hex, &r);
			return send_reply(c, &r);
		}
		return simple(c, 404, "not found\n");
	}
	if (strcmp(url, "/add-checkpoint") == 0)
		return simple(c, 405, "use POST\n");
	return simple(c, 404, "not found\n");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn *k = *con_cls;

	if (k) {
		free(k->buf);
		free(k);
	}
	*con_cls = NULL;
}

/* HOST:PORT or [V6]:PORT into addr. */
static ls_rc parse_listen(const char *listen, struct sockaddr_storage *ss, struct ls_err *err)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon, *port;
	size_t hl;

	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (!rb || rb[1] != ':')
			return ls_err_set(err, LS_INVALID, "--listen wants HOST:PORT or [V6]:PORT");
		hl = (size_t)(rb - listen - 1);
		if (hl >= sizeof(host))
			return ls_err_set(err, LS_INVALID, "--listen: host too long");
		memcpy(host, listen + 1, hl);
		port = rb + 2;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return ls_err_set(err, LS_INVALID, "--listen wants HOST:PORT or [V6]:PORT");
		hl = (size_t)(colon - listen);
		if (hl >= sizeof(host))
			return ls_err_set(err, LS_INVALID, "--listen: host too long");
		memcpy(host, listen, hl);
		port = colon + 1;
	}
	host[hl] = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(hl ? host : NULL, port, &hints, &res) != 0 || !res)
		return ls_err_set(err, LS_INVALID, "--listen: cannot resolve %s", listen);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return LS_OK;
}

ls_rc witness_http_start(struct witness *w, const struct witness_http_opts *o,
			 struct witness_http **out, unsigned *port, struct ls_err *err)
{
	struct sockaddr_storage ss;
	struct witness_http *h;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	struct MHD_OptionItem opts[8];
	int n = 0;
	uint16_t p;
	ls_rc rc;

	if (!o->tls_cert != !o->tls_key)
		return ls_err_set(err, LS_INVALID, "--tls-cert and --tls-key go together");
	rc = parse_listen(o->listen, &ss, err);
	if (rc != LS_OK)
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	h->w = w;
	h->rate = o->rate;
	h->burst = o->burst;
	if (o->rate > 0) {
		struct ratelimit_opts ro = { .rate = o->rate, .burst = o->burst };

		rc = ratelimit_new(&ro, &h->rl, err);
		if (rc != LS_OK) {
			free(h);
			return rc;
		}
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
				     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (o->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			ratelimit_free(h->rl);
			free(h);
			return ls_err_set(err, LS_INVALID, "this libmicrohttpd has no TLS support");
		}
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
						     (void *)o->tls_cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
						     (void *)o->tls_key };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						     (void *)HTTP_TLS_PRIORITIES };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
					     o->max_conns ? o->max_conns : WITNESS_MAX_CONNS, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					     o->max_conns_per_ip ? o->max_conns_per_ip
								 : WITNESS_MAX_CONNS_PER_IP,
					     NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
					     o->timeout_s ? o->timeout_s : WITNESS_TIMEOUT_S, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	h->d = MHD_start_daemon(flags, p, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_NOTIFY_COMPLETED,
				on_completed, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!h->d) {
		ratelimit_free(h->rl);
		free(h);
		return ls_err_set(err, LS_IO, "cannot listen on %s%s", o->listen,
				  o->tls_cert ? " (or the TLS certificate and key do not load)" : "");
	}
	*port = p;
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
	if (di) {
		struct sockaddr_storage b;
		socklen_t sl = sizeof(b);

		if (getsockname(di->listen_fd, (struct sockaddr *)&b, &sl) == 0)
			*port = b.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&b)->sin6_port)
							: ntohs(((struct sockaddr_in *)&b)->sin_port);
	}
	*out = h;
	return LS_OK;
}

void witness_http_stop(struct witness_http *h)
{
	uint64_t ok = 0, no = 0;

	if (!h)
		return;
	MHD_stop_daemon(h->d);
	if (h->rl)
		ratelimit_counts(h->rl, &ok, &no);
	fprintf(stderr,
		"logseal witness: refused %" PRIu64 " add-checkpoint request(s) over the rate "
		"limit (429) and %" PRIu64 " too large (413)\n",
		no, (uint64_t)atomic_load(&h->too_big));
	ratelimit_free(h->rl);
	free(h);
}
