/*
 * syslog_tls.c - a syslog-over-TLS session (RFC 5425; the same framing over
 * plain TCP on loopback for tests), served over the connection
 * syslog_in.c accepted.
 *
 * The bytes (RFC 5425 section 4.3, octet counting):
 *   SYSLOG-FRAME = MSG-LEN SP SYSLOG-MSG     MSG-LEN = NONZERO-DIGIT *DIGIT
 * A frame that starts with '<' instead is taken as one message up to LF
 * (the "non-transparent framing" of RFC 6587 some senders still use).
 *
 * There is no acknowledgement in this protocol: the sender counts a message
 * delivered once TLS took it.  So every frame received is appended (one
 * batch per read), a refused one is recorded as logseal.ingest.rejected
 * (syslog_in.h invariant 3), and when the server cannot append (log
 * failed, disk full) the connection is closed so the sender notices and
 * reconnects.  RELP (relp.c) is the protocol for a shipper that must not
 * lose a message.
 */
#include "server/syslog_in.h"

#include <stdlib.h>
#include <string.h>

#define TLS_BUF (SYSLOG_MAX_MSG + 64)
#define TLS_BATCH 1024

/* One frame at p[0..n): > 0 its length (msg set), 0 incomplete, -1 bad. */
static long frame_parse(const char *p, size_t n, struct sin_msg *msg)
{
	size_t i = 0, len = 0;

	if (n == 0)
		return 0;
	if (p[0] == '<') {
		const char *lf = memchr(p, '\n', n);

		if (!lf)
			return n >= SYSLOG_MAX_MSG ? -1 : 0;
		msg->p = p;
		msg->n = (size_t)(lf - p);
		if (msg->n && p[msg->n - 1] == '\r')
			msg->n--;
		return (long)(lf - p) + 1;
	}
	if (p[0] < '1' || p[0] > '9')
		return -1;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		len = len * 10 + (size_t)(p[i] - '0');
		if (++i > 6 || len > SYSLOG_MAX_MSG)
			return -1;
	}
	if (i >= n)
		return 0;
	if (p[i++] != ' ')
		return -1;
	if (n - i < len)
		return 0;
	msg->p = p + i;
	msg->n = len;
	return (long)(i + len);
}

void syslog_tls_session(struct sin_conn *c)
{
	char *buf = malloc(TLS_BUF);
	struct sin_msg *m = calloc(TLS_BATCH, sizeof(*m));
	int *ok = calloc(TLS_BATCH, sizeof(*ok));
	char (*why)[SIN_WHY_MAX] = calloc(TLS_BATCH, sizeof(*why));
	size_t have = 0;

	if (!buf || !m || !ok || !why)
		goto out;
	for (;;) {
		long r = sin_read(c, buf + have, TLS_BUF - have);
		size_t at = 0, nm = 0;
		int bad = 0;

		if (r <= 0)
			break;
		have += (size_t)r;
		do {
			nm = 0;
			while (nm < TLS_BATCH) {
				long fl = frame_parse(buf + at, have - at, &m[nm]);

				if (fl < 0) {
					bad = 1;
					break;
				}
				if (fl == 0)
					break;
				at += (size_t)fl;
				if (m[nm].n > 0)
					nm++;
			}
			/* What came before a bad frame is still taken. */
			if (nm && sin_ingest(c, m, nm, ok, why) != 0)
				goto out;
		} while (nm == TLS_BATCH && !bad);
		if (bad)
			break;
		memmove(buf, buf + at, have - at);
		have -= at;
	}
out:
	free(buf);
	free(m);
	free(ok);
	free(why);
}
