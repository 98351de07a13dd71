/*
 * bench_http.h - the benchmarks' HTTP/1.1 client over raw sockets, shared by
 * loadgen.c (ingest load) and qbench.c (read side): keep-alive connections
 * to an IPv4 address, requests sent as bytes the caller prepared, and
 * replies parsed by status line and headers, with a body framed by
 * Content-Length, chunked encoding or connection close.  No TLS, no
 * redirects, no pipelining: one request in flight per connection.
 *
 * Calling sequence:
 *
 *	bench_http_addr(&addr, host, port);            once per server
 *	bench_conn_init(&c, &addr, timeout_s, bufsize, capmax);
 *	c.body_max = ...; c.capture_2xx = ...;         optional, see below
 *	for each request:
 *		bench_conn_open(&c)                    when c.fd < 0
 *		bench_send_all(c.fd, head, n) [, body]
 *		bench_http_read_response(&c, &status, &close_after)
 *		bench_conn_close(&c)                   on an error or close_after
 *	bench_conn_release(&c);
 *
 * Invariants:
 *  1. Bounded: every socket has send and receive timeouts of timeout_s, and
 *     a connection's memory is fixed at bench_conn_init: a header line
 *     longer than the read buffer (bufsize) or a body over body_max bytes
 *     is an error, not a larger allocation.
 *  2. Bodies are streamed through the read buffer, never copied whole: only
 *     their first capmax - 1 bytes go to cap (NUL-terminated), and only for
 *     2xx replies when capture_2xx is set; every other status is always
 *     captured, for the caller to show.  The hot path of a load generator
 *     therefore copies nothing of the replies it does not keep.
 *  3. A reply is read whole, headers, body and chunk trailer, before
 *     bench_http_read_response returns 0; bytes after it stay in the buffer
 *     for the next reply.  1xx, 204 and 304 replies have no body.
 */
#ifndef LS_BENCH_HTTP_H
#define LS_BENCH_HTTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct bench_conn {
	int fd;				/* -1 when closed */
	const struct sockaddr_in *addr; /* the server (the caller's; kept) */
	int timeout_s;			/* SO_SNDTIMEO and SO_RCVTIMEO */
	char *buf;			/* read buffer of bufsize bytes */
	size_t bufsize;
	size_t off, len;		/* unread bytes are buf[off..len) */
	char *cap;			/* start of the last reply's body */
	size_t capmax, caplen;		/* caplen <= capmax - 1; cap[caplen] == 0 */
	int capture_2xx;		/* 0: capture non-2xx bodies only (default 1) */
	uint64_t body;			/* body bytes of the last reply */
	uint64_t body_max;		/* larger bodies are an error (default none) */
};

/* addr := host (an IPv4 address in dotted form) and port; -1 when host is not one. */
int bench_http_addr(struct sockaddr_in *addr, const char *host, int port);

/*
 * Set c up, closed, for the server addr (which must outlive c), with a read
 * buffer of bufsize bytes and a body capture of capmax bytes (>= 1).
 * 0, or -1 when out of memory (c is then safe to release).
 */
int bench_conn_init(struct bench_conn *c, const struct sockaddr_in *addr, int timeout_s,
		    size_t bufsize, size_t capmax);

/* Close c and free its buffers; c must have been through bench_conn_init
 * (a failed one too), and may be released twice. */
void bench_conn_release(struct bench_conn *c);

/* Connect (TCP_NODELAY, timeouts set); 0, or -1 with errno set. */
int bench_conn_open(struct bench_conn *c);

/* Close the socket, if open, and drop any unread bytes. */
void bench_conn_close(struct bench_conn *c);

/* Send all n bytes (no SIGPIPE); 0, or -1 on an error or a closed peer. */
int bench_send_all(int fd, const void *p, size_t n);

/*
 * Read one whole reply on c.  0 with *status (100..599), the body counted in
 * c->body and its start in c->cap, and *close_after set when the server
 * will close the connection (Connection: close, HTTP/1.0, body until close);
 * -1 on a network or protocol error (the connection is then unusable).
 */
int bench_http_read_response(struct bench_conn *c, int *status, int *close_after);

/*
 * The head of a request to host:port, with a bearer token and, when
 * has_body, an NDJSON body of blen bytes:
 *	METHOD PATH HTTP/1.1, Host, Authorization[, Content-Type, Content-Length]
 * into out; its length, or -1 when it does not fit in cap.
 */
int bench_http_head(char *out, size_t cap, const char *method, const char *path,
		    const char *host, int port, const char *token, int has_body, size_t blen);

/*
 * A bearer token from the first line of file into out (cap bytes), trailing
 * spaces dropped; -1 when the file cannot be read, the line is empty, or it
 * holds a space, control character or DEL (which a header cannot carry).
 */
int bench_read_token(const char *file, char *out, size_t cap);

#endif
