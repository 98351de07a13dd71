/*
 * webhook_receiver.c - a tiny HTTP/1.1 receiver on 127.0.0.1 for webhook
 * integration tests.  It checks X-Logseal-Signature (HMAC-SHA256 of the body
 * with --secret), answers 500 to the first --fail requests (and to any with
 * a bad signature), 200 after that, or never answers with --hang.  Each
 * request becomes one line in --out: "<n> <status> sig=<ok|bad> <body>".
 *
 *	webhook_receiver --port-file F --out F [--secret S] [--fail N] [--hang]
 *	                 [--lifetime SECONDS]
 * The port (chosen by the kernel) is written to --port-file once listening.
 * Exits after --lifetime seconds (default 30): tests stay bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "followers/webhook.h"

#define REQ_MAX (256 * 1024)

static const char *hdr(const char *head, const char *name)
{
	const char *p = strcasestr(head, name);

	return p ? p + strlen(name) : NULL;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *out = NULL, *secret = "";
	long fail = 0, lifetime = 30, n = 0;
	int hang = 0, fd, i;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	time_t end;
	FILE *f;
	char *buf = malloc(REQ_MAX + 1);

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
			port_file = argv[++i];
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--secret") && i + 1 < argc)
			secret = argv[++i];
		else if (!strcmp(argv[i], "--fail") && i + 1 < argc)
			fail = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--lifetime") && i + 1 < argc)
			lifetime = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--hang"))
			hang = 1;
		else {
			fprintf(stderr, "webhook_receiver: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!port_file || !out || !buf) {
		fprintf(stderr, "usage: webhook_receiver --port-file F --out F [--secret S] "
				"[--fail N] [--hang] [--lifetime S]\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		perror("webhook_receiver");
		return 1;
	}
	f = fopen(port_file, "w");
	if (!f || fprintf(f, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(f)) {
		perror(port_file);
		return 1;
	}
	end = time(NULL) + lifetime;
	while (time(NULL) < end) {
		struct pollfd pf = { fd, POLLIN, 0 };
		size_t got = 0, clen = 0, hlen = 0;
		const char *body = NULL, *p, *reply;
		char sig[65], want[80];
		int c, ok_sig, status;

		if (poll(&pf, 1, 200) <= 0)
			continue;
		c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		while (got < REQ_MAX && time(NULL) < end) {
			struct pollfd cp = { c, POLLIN, 0 };
			ssize_t k;

			if (poll(&cp, 1, 200) <= 0)
				continue;
			k = read(c, buf + got, REQ_MAX - got);
			if (k <= 0)
				break;
			got += (size_t)k;
			buf[got] = 0;
			body = strstr(buf, "\r\n\r\n");
			if (!body)
				continue;
			body += 4;
			hlen = (size_t)(body - buf);
			p = hdr(buf, "\r\nContent-Length: ");
			clen = p ? strtoul(p, NULL, 10) : 0;
			if (got >= hlen + clen)
				break;
		}
		if (!body || got < hlen + clen) {
			close(c);
			continue;
		}
		{
			struct webhook_cfg w = { .secret = (char *)secret,
						 .secret_len = strlen(secret) };
			webhook_sign(&w, body, clen, sig);
		}
		snprintf(want, sizeof(want), "sha256=%s\r\n", sig);
		p = hdr(buf, "\r\nX-Logseal-Signature: ");
		ok_sig = p && !strncmp(p, want, strlen(want));
		n++;
		status = hang ? 0 : (!ok_sig || n <= fail) ? 500 : 200;
		f = fopen(out, "a");
		if (f) {
			fprintf(f, "%ld %d sig=%s %.*s\n", n, status, ok_sig ? "ok" : "bad",
				(int)clen, body);
			fclose(f);
		}
		if (hang) {
			while (time(NULL) < end) {
				struct pollfd cp = { c, POLLIN, 0 };
				if (poll(&cp, 1, 200) > 0 && read(c, buf, REQ_MAX) <= 0)
					break;
			}
		} else {
			reply = status == 200 ?
					"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok" :
					"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
					"Connection: close\r\n\r\n";
			if (write(c, reply, strlen(reply)) < 0)
				errno = 0;
		}
		close(c);
	}
	close(fd);
	free(buf);
	return 0;
}
