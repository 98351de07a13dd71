/*
 * relp.c - a RELP session (the Reliable Event Logging Protocol of rsyslog's
 * omrelp; https://www.rsyslog.com/doc/relp.html), served over the
 * connection syslog_in.c accepted (plain TCP or TLS).
 *
 * The bytes, each frame in both directions:
 *   TXNR SP COMMAND SP DATALEN [SP DATA] LF
 *   TXNR 1-9 digits (1..999999999), COMMAND 1-32 letters, DATALEN 1-9 digits
 *   (the bytes of DATA; 0: no SP and no DATA).
 * Commands taken: "open" (answered "rsp" "200 OK\nrelp_version=0\n
 * relp_software=logseal\ncommands=syslog"), "syslog" (DATA is one syslog
 * message), "close" (answered "rsp" with no data, then the connection is
 * closed).  Answers: "TXNR rsp LEN 200 OK" or "TXNR rsp LEN 500 <reason>".
 *
 * Why not librelp's server: it answers "200 OK" to every syslog frame
 * whatever its callback returned (so it cannot refuse a message nor hold
 * back the acknowledgement of one the log did not take), and it hands over
 * one message at a time in one thread, so every message would wait for its
 * own fdatasync.  Here every frame already received is taken as one batch:
 * one durable append, then all the answers (syslog_in.h invariant 1).  The
 * tests and the bench use real rsyslog and librelp's client.
 *
 * Invariants:
 *  1. "rsp 200" for a syslog frame is written only after sin_ingest()
 *     returned it durable; when it did not (-1), the connection is closed
 *     with no answer, and the sender resends every unanswered frame.
 *  2. A malformed frame closes the connection (RELP has no resync).
 *  3. The read buffer holds at most RELP_BUF bytes; a frame that cannot
 *     fit (DATALEN > SYSLOG_MAX_MSG) is malformed.
 */
#include "server/syslog_in.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELP_BUF (SYSLOG_MAX_MSG + 256)
#define RELP_BATCH 1024
#define RELP_OPEN_RSP "200 OK\nrelp_version=0\nrelp_software=logseal\ncommands=syslog"

struct frame {
	unsigned long txnr;
	const char *cmd;
	size_t cmdlen;
	const char *data;
	size_t len;
};

static int digits(const char *p, size_t n, size_t *i, size_t max, unsigned long *v)
{
	size_t s = *i;

	*v = 0;
	while (*i < n && p[*i] >= '0' && p[*i] <= '9' && *i - s < max)
		*v = *v * 10 + (unsigned long)(p[(*i)++] - '0');
	return *i > s;
}

/* One frame at p[0..n): > 0 its length, 0 incomplete, -1 malformed. */
static long frame_parse(const char *p, size_t n, struct frame *f)
{
	size_t i = 0;
	unsigned long len;

	if (!digits(p, n, &i, 9, &f->txnr)) {
		if (i < n)
			return -1;
		return 0;
	}
	if (i >= n)
		return 0;
	if (p[i++] != ' ')
		return -1;
	f->cmd = p + i;
	while (i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')) &&
	       (size_t)(p + i - f->cmd) < 32)
		i++;
	f->cmdlen = (size_t)(p + i - f->cmd);
	if (i >= n)
		return 0;
	if (f->cmdlen == 0 || p[i++] != ' ')
		return -1;
	if (!digits(p, n, &i, 9, &len))
		return i < n ? -1 : 0;
	if (i >= n)
		return 0;
	if (len > SYSLOG_MAX_MSG)
		return -1;
	f->len = len;
	if (len == 0) {
		/* Some senders put a SP before the LF of an empty frame. */
		if (p[i] == ' ')
			i++;
		if (i >= n)
			return 0;
		f->data = p + i;
		return p[i] == '\n' ? (long)(i + 1) : -1;
	}
	if (p[i++] != ' ')
		return -1;
	if (n - i < len + 1)
		return 0;
	f->data = p + i;
	return p[i + len] == '\n' ? (long)(i + len + 1) : -1;
}

static int is_cmd(const struct frame *f, const char *name)
{
	return strlen(name) == f->cmdlen && !memcmp(f->cmd, name, f->cmdlen);
}

/* Append "TXNR rsp LEN DATA\n" to out (cap bytes at least 32 + len). */
static size_t put_rsp(char *out, unsigned long txnr, const char *data, size_t len)
{
	int h = len ? snprintf(out, 48, "%lu rsp %zu ", txnr, len)
		    : snprintf(out, 48, "%lu rsp 0\n", txnr);

	if (!len)
		return (size_t)h;
	memcpy(out + h, data, len);
	out[h + len] = '\n';
	return (size_t)h + len + 1;
}

struct batch {
	unsigned long txnr[RELP_BATCH];
	struct sin_msg m[RELP_BATCH];
	int ok[RELP_BATCH];
	char why[RELP_BATCH][SIN_WHY_MAX];
	char out[RELP_BATCH * (SIN_WHY_MAX + 64)];
	size_t n;
};

/* Ingest the batch and answer it: 0, or -1 to close the connection. */
static int flush(struct sin_conn *c, struct batch *b)
{
	size_t o = 0;

	if (b->n == 0)
		return 0;
	if (sin_ingest(c, b->m, b->n, b->ok, b->why) != 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		if (b->ok[i]) {
			o += put_rsp(b->out + o, b->txnr[i], "200 OK", 6);
		} else {
			char t[SIN_WHY_MAX + 8];
			int tl = snprintf(t, sizeof(t), "500 %s", b->why[i]);

			/* RELP's answer text is one line. */
			for (int k = 0; k < tl; k++)
				if (t[k] == '\n' || t[k] == '\r')
					t[k] = ' ';
			o += put_rsp(b->out + o, b->txnr[i], t, (size_t)tl);
		}
	}
	b->n = 0;
	return sin_write(c, b->out, o);
}

void relp_session(struct sin_conn *c)
{
	char *buf = malloc(RELP_BUF);
	struct batch *b = malloc(sizeof(*b));
	size_t have = 0, at = 0;
	int opened = 0;

	if (!buf || !b)
		goto out;
	b->n = 0;
	for (;;) {
		long r = sin_read(c, buf + have, RELP_BUF - have);

		if (r <= 0)
			break;
		have += (size_t)r;
		for (;;) {
			struct frame f;
			long fl = frame_parse(buf + at, have - at, &f);

			if (fl < 0)
				goto out;	/* invariant 2: nothing after it is answered */
			if (fl == 0)
				break;
			at += (size_t)fl;
			if (is_cmd(&f, "syslog")) {
				if (!opened)
					goto out;
				b->txnr[b->n] = f.txnr;
				b->m[b->n].p = f.data;
				b->m[b->n].n = f.len;
				if (++b->n == RELP_BATCH && flush(c, b))
					goto out;
				continue;
			}
			/* Anything else: the messages before it are answered first. */
			if (flush(c, b))
				goto out;
			if (is_cmd(&f, "open")) {
				char o[160];

				opened = 1;
				if (sin_write(c, o, put_rsp(o, f.txnr, RELP_OPEN_RSP,
							    sizeof(RELP_OPEN_RSP) - 1)))
					goto out;
			} else if (is_cmd(&f, "close")) {
				char o[48];

				sin_write(c, o, put_rsp(o, f.txnr, NULL, 0));
				goto out;
			} else {
				char o[96];
				static const char unk[] = "500 unknown command";

				if (sin_write(c, o, put_rsp(o, f.txnr, unk, sizeof(unk) - 1)))
					goto out;
			}
		}
		/* Every complete frame is in the batch: append it, answer it. */
		if (flush(c, b))
			goto out;
		memmove(buf, buf + at, have - at);
		have -= at;
		at = 0;
		if (have == RELP_BUF)
			goto out;	/* invariant 3 */
	}
out:
	free(buf);
	free(b);
}
