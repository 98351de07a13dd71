/*
 * bench_http.c - the benchmarks' HTTP/1.1 client over raw sockets (see
 * bench_http.h for the calling sequence and the invariants): connections,
 * reading a reply (status line, headers, body by Content-Length, chunks or
 * close), request heads and token files.  Linked into loadgen and qbench;
 * not a program of its own (the Makefile leaves it out of BENCH_SRCS).
 */
#include "bench_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------- connection */

int bench_http_addr(struct sockaddr_in *addr, const char *host, int port)
{
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

int bench_conn_init(struct bench_conn *c, const struct sockaddr_in *addr, int timeout_s,
		    size_t bufsize, size_t capmax)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->addr = addr;
	c->timeout_s = timeout_s;
	c->bufsize = bufsize;
	c->capmax = capmax ? capmax : 1;
	c->capture_2xx = 1;
	c->body_max = UINT64_MAX;
	c->buf = malloc(bufsize);
	c->cap = malloc(c->capmax);
	if (!c->buf || !c->cap)
		return -1;
	c->cap[0] = '\0';
	return 0;
}

void bench_conn_release(struct bench_conn *c)
{
	bench_conn_close(c);
	free(c->buf);
	free(c->cap);
	c->buf = c->cap = NULL;
}

int bench_conn_open(struct bench_conn *c)
{
	struct timeval tv = {c->timeout_s, 0};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (const struct sockaddr *)c->addr, sizeof(*c->addr)) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->off = c->len = 0;
	return 0;
}

void bench_conn_close(struct bench_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->off = c->len = 0;
}

int bench_send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* --------------------------------------------------------------- replies */

/* Read more bytes after the unread ones; 0 on data, 1 on EOF, -1 on error. */
static int fill(struct bench_conn *c)
{
	ssize_t r;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == c->bufsize)
		return -1;
	do
		r = recv(c->fd, c->buf + c->len, c->bufsize - c->len, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0)
		return 1;
	c->len += (size_t)r;
	return 0;
}

/*
 * Take n body bytes (with n == UINT64_MAX: all of them, until EOF), copying
 * into the capture only when keep is set and it has room.
 */
static int take_body(struct bench_conn *c, uint64_t n, int keep)
{
	int until_eof = n == UINT64_MAX;

	while (n) {
		size_t have = c->len - c->off, k;

		if (!have) {
			int r = fill(c);

			if (r == 1 && until_eof)
				return 0;
			if (r != 0)
				return -1;
			continue;
		}
		k = have < n ? have : (size_t)n;
		if (k > c->body_max - c->body)
			return -1;
		if (keep && c->caplen < c->capmax - 1) {
			size_t room = c->capmax - 1 - c->caplen, m = k < room ? k : room;

			memcpy(c->cap + c->caplen, c->buf + c->off, m);
			c->caplen += m;
		}
		c->off += k;
		c->body += k;
		if (!until_eof)
			n -= k;
	}
	return 0;
}

/*
 * The next CRLF-terminated line, NUL-terminated in place of its CR and
 * consumed; it stays valid until the next read from c.  NULL on a network
 * error, EOF, or a line that does not fit the read buffer.
 */
static char *take_line(struct bench_conn *c)
{
	for (;;) {
		char *s = c->buf + c->off;
		char *e = memmem(s, c->len - c->off, "\r\n", 2);

		if (e) {
			*e = '\0';
			c->off = (size_t)(e - c->buf) + 2;
			return s;
		}
		if (fill(c) != 0)
			return NULL;
	}
}

int bench_http_read_response(struct bench_conn *c, int *status, int *close_after)
{
	long long clen = -1;
	int chunked = 0, keep;
	char *line;

	c->caplen = 0;
	c->cap[0] = '\0';
	c->body = 0;
	*close_after = 0;
	if (!(line = take_line(c)))
		return -1;
	if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12)
		return -1;
	{
		char *end;
		long st = strtol(line + 9, &end, 10);

		if (end != line + 12 || st < 100 || st > 599)
			return -1;
		*status = (int)st;
	}
	if (line[7] == '0')
		*close_after = 1; /* HTTP/1.0 closes unless told otherwise */

	/* Headers: one per line after the status line, up to an empty line. */
	for (;;) {
		size_t nlen;
		char *v;

		if (!(line = take_line(c)))
			return -1;
		if (!line[0])
			break;
		v = strchr(line, ':');
		if (!v)
			return -1;
		nlen = (size_t)(v - line);
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		/* The length first: most headers are none of the three, and this
		 * runs once per header of every reply on loadgen's hot path. */
		if (nlen == 14 && !strcasecmp(line, "Content-Length")) {
			char *end;

			errno = 0;
			clen = strtoll(v, &end, 10);
			if (errno || end == v || clen < 0 || (uint64_t)clen > c->body_max)
				return -1;
		} else if (nlen == 17 && !strcasecmp(line, "Transfer-Encoding") &&
			   strcasestr(v, "chunked")) {
			chunked = 1;
		} else if (nlen == 10 && !strcasecmp(line, "Connection")) {
			if (strcasestr(v, "close"))
				*close_after = 1;
			else if (strcasestr(v, "keep-alive"))
				*close_after = 0;
		}
	}

	keep = c->capture_2xx || *status < 200 || *status >= 300;
	if (*status < 200 || *status == 204 || *status == 304) {
		/* no body, whatever the headers say */
	} else if (chunked) {
		/* The chunks, each followed by CRLF, then trailer lines up to an
		 * empty one. */
		for (;;) {
			unsigned long long n;
			char *end;

			if (!(line = take_line(c)))
				return -1;
			errno = 0;
			n = strtoull(line, &end, 16);
			if (errno || end == line)
				return -1;
			if (n == 0) {
				do
					if (!(line = take_line(c)))
						return -1;
				while (line[0]);
				break;
			}
			if (take_body(c, n, keep) != 0 || !(line = take_line(c)) || line[0])
				return -1;
		}
	} else if (clen >= 0) {
		if (take_body(c, (uint64_t)clen, keep) != 0)
			return -1;
	} else {
		*close_after = 1;
		if (take_body(c, UINT64_MAX, keep) != 0)
			return -1;
	}
	c->cap[c->caplen] = '\0';
	return 0;
}

/* -------------------------------------------------------------- requests */

int bench_http_head(char *out, size_t cap, const char *method, const char *path,
		    const char *host, int port, const char *token, int has_body, size_t blen)
{
	int h;

	if (has_body)
		h = snprintf(out, cap,
			     "%s %s HTTP/1.1\r\n"
			     "Host: %s:%d\r\n"
			     "Authorization: Bearer %s\r\n"
			     "Content-Type: application/x-ndjson\r\n"
			     "Content-Length: %zu\r\n"
			     "\r\n",
			     method, path, host, port, token, blen);
	else
		h = snprintf(out, cap,
			     "%s %s HTTP/1.1\r\n"
			     "Host: %s:%d\r\n"
			     "Authorization: Bearer %s\r\n"
			     "\r\n",
			     method, path, host, port, token);
	return h < 0 || (size_t)h >= cap ? -1 : h;
}

int bench_read_token(const char *file, char *out, size_t cap)
{
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f)
		return -1;
	if (!fgets(out, (int)cap, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	while (n && out[n - 1] == ' ')
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] <= ' ' || out[i] == 0x7f)
			return -1;
	return n ? 0 : -1;
}
