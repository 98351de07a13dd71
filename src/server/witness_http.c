/*
 * witness_http.c - the HTTP front of a witness (witness.h) on
 * libmicrohttpd: POST /add-checkpoint, GET /<origin hash>/checkpoint,
 * GET /healthz.  Bodies are buffered up to WITNESS_MAX_BODY (413 beyond);
 * there is no authentication (the protocol has none: the log signature on
 * the checkpoint is what is checked).  Plain HTTP: put TLS in front
 * (c2sp.org/https-bastion or a reverse proxy) when it leaves the machine.
 */
#include "server/witness.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct witness_http {
	struct MHD_Daemon *d;
	struct witness *w;
};

struct conn {
	char *buf;
	size_t len;
	int too_big;
};

static enum MHD_Result send_reply(struct MHD_Connection *c, struct witness_reply *r)
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
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result simple(struct MHD_Connection *c, int status, const char *msg)
{
	struct witness_reply r = { .status = status, .ctype = "text/plain" };

	r.body = strdup(msg);
	r.len = r.body ? strlen(r.body) : 0;
	return send_reply(c, &r);
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
			k = calloc(1, sizeof(*k));
			if (!k)
				return MHD_NO;
			*con_cls = k;
			return MHD_YES;
		}
		if (*size) {
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
		if (k->too_big)
			return simple(c, 413, "request body too large\n");
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

ls_rc witness_http_start(struct witness *w, const char *listen, struct witness_http **out,
			 unsigned *port, struct ls_err *err)
{
	struct sockaddr_storage ss;
	struct witness_http *h;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	uint16_t p;
	ls_rc rc;

	rc = parse_listen(listen, &ss, err);
	if (rc != LS_OK)
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	h->w = w;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
				     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	h->d = MHD_start_daemon(flags, p, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 256u,
				MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED,
				on_completed, h, MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return ls_err_set(err, LS_IO, "cannot listen on %s", listen);
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
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
