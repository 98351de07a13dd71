/*
 * http.h - the HTTP(S) front of the server on libmicrohttpd: limits,
 * routing, authentication and role checks, JSON replies.  The routes and
 * their handlers are the table of api_routes.c (api.h).
 *
 * Calling sequence: http_start() -> ... -> http_stop() (once).
 */
#ifndef LS_HTTP_H
#define LS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/ls.h"

struct server;		/* api.h */

/* GnuTLS priorities of every TLS listener (the server's and the
 * witness's): TLS 1.3 and 1.2; AES-GCM and ChaCha20-Poly1305 (AEAD, so no
 * CBC and no SHA-1 MAC); ECDHE key exchange only (TLS 1.2 without it has
 * no forward secrecy; TLS 1.3 always has it). */
#define HTTP_TLS_PRIORITIES                                                         \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:"     \
	"+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:" \
	"+ECDHE-RSA"

struct http_opts {
	struct sockaddr_storage addr;	/* where to listen */
	socklen_t addrlen;
	unsigned threads;		/* thread pool size */
	unsigned conn_limit;		/* connections in all */
	unsigned per_ip_limit;		/* connections from one address */
	unsigned timeout_s;		/* idle connection timeout */
	size_t conn_memory;		/* per-connection header/buffer memory */
	size_t body_budget;		/* request bodies buffered at once, all
					 * connections together (see http.c) */
	const char *tls_cert;		/* PEM text, or NULL for plain HTTP */
	const char *tls_key;
};

struct http;

ls_rc http_start(struct server *s, const struct http_opts *o, struct http **out,
		 struct ls_err *err);

/* The route patterns (one per route, for metrics_new()); static. */
const char *const *http_route_labels(size_t *n, const char *const **methods);

/* The port actually bound (useful with port 0). */
unsigned http_port(const struct http *h);

/* Stop accepting, refuse new requests on open connections, wait up to
 * drain_ms for requests in flight to finish, then close everything. */
void http_stop(struct http *h, unsigned drain_ms);

#endif
