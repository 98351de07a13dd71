/*
 * client.c - `logseal send`, `logseal query` and `logseal export`: the
 * command-line clients of a running server's HTTP API (docs/API.md), on
 * top of httpc.h.
 *
 * send: NDJSON from standard input (or FILE), streamed in batches to
 * POST /v1/events.  Retrying a batch must never append it twice, so every
 * event without an "id" gets one before it is first sent:
 *
 *	"send-" <run id: 32 hex digits> "-" <input line number>
 *
 * The run id is 128 random bits drawn once per run (or given with
 * --run-id to finish an interrupted run over the same input).  Within a
 * run the id of a line never changes, so a batch re-sent after a lost
 * reply is answered with duplicates instead of new entries; across runs
 * the ids differ, so genuinely repeated identical events are kept (an id
 * derived from the content alone would merge them).  Events that carry
 * their own "id" keep it.  The id is spliced into the line's own bytes
 * right after its opening brace; nothing else of the line is rewritten.
 *
 * Invariants:
 *  1. Memory is bounded: one input line (LINE_MAX_BYTES) and one batch
 *     (--batch events, at most BATCH_MAX_BYTES) at a time for send; one
 *     reply page for query; export streams to disk.
 *  2. A batch is retried only with the same bytes (the same ids).
 *  3. export writes FILE.part and renames it to FILE only after the whole
 *     reply arrived (a cut transfer never leaves a FILE that looks whole).
 *  4. Text from the log reaches a terminal only with control characters
 *     replaced, so a stored event cannot drive the terminal.
 */
#include "cli/client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "followers/export.h"
#include "base/fsutil.h"
#include "cli/httpc.h"
#include "core/note.h"

/* ---------------------------------------------------------------- helpers */

int sb_add(struct sbuf *b, const void *d, size_t n)
{
	size_t want;
	char *np;

	if (n >= SIZE_MAX / 2 - b->n)
		return -1;
	if (b->n + n + 1 > b->cap) {
		want = b->cap ? b->cap : 256;
		while (want < b->n + n + 1)
			want *= 2;
		np = realloc(b->p, want);
		if (!np)
			return -1;
		b->p = np;
		b->cap = want;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

int sb_str(struct sbuf *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

void sb_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bad_option(const char *cmd, int argc, char **argv)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	fprintf(stderr, "logseal %s: unknown option or missing value: %s\n", cmd, arg);
	fprintf(stderr, "logseal %s: see logseal %s --help\n", cmd, cmd);
}

/* Returns 1 when c was a connection option. */
int conn_opt(int c, struct httpc_cfg *cfg)
{
	switch (c) {
	case O_SERVER: cfg->server = optarg; return 1;
	case O_TOKEN_FILE: cfg->token_file = optarg; return 1;
	case O_CACERT: cfg->cacert = optarg; return 1;
	default: return 0;
	}
}

/* ---------------------------------------------------------------- filters */

/* Flag name -> query parameter name (the names, kept stable). */
static const struct {
	const char *flag, *param;
} filters[] = {
	{ "from", "from" },
	{ "to", "to" },
	{ "received-from", "received_from" },
	{ "received-to", "received_to" },
	{ "actor", "actor" },
	{ "action", "action" },
	{ "outcome", "outcome" },
	{ "source-ip", "source_ip" },
	{ "service", "service" },
	{ "resource-type", "resource_type" },
	{ "resource-id", "resource_id" },
	{ "writer", "writer" },
};
_Static_assert(sizeof(filters) / sizeof(filters[0]) == NFILTERS, "client.h NFILTERS");

/* --not FIELD=VALUE (repeatable): the not-equal filters, sent as
 * field!=value.  One command per process, so they are kept here. */
#define NOTS_MAX 8
static const char *nots[NOTS_MAX];
static size_t nnots;

/* Appends the filter options after the named ones of opts, which has room
 * for them, --not and the zero entry that ends the table. */
void add_filter_opts(struct option *opts)
{
	size_t i, n = 0;

	while (opts[n].name)
		n++;
	for (i = 0; i < NFILTERS; i++) {
		opts[n].name = filters[i].flag;
		opts[n].has_arg = required_argument;
		opts[n].flag = NULL;
		opts[n].val = O_FILTER + (int)i;
		n++;
	}
	opts[n].name = "not";
	opts[n].has_arg = required_argument;
	opts[n].flag = NULL;
	opts[n].val = O_FILTER + NFILTERS;
	n++;
	memset(&opts[n], 0, sizeof(opts[n]));
}

int filter_opt(const char *cmd, int c, const char **fv)
{
	size_t i;

	if (c == O_FILTER + NFILTERS) {
		const char *eq = strchr(optarg, '=');
		size_t k = eq ? (size_t)(eq - optarg) : 0;

		for (i = 0; i < NFILTERS; i++)
			if (strlen(filters[i].flag) == k && !strncmp(filters[i].flag, optarg, k))
				break;
		if (!eq || i == NFILTERS || !eq[1]) {
			fprintf(stderr, "logseal %s: --not wants FIELD=VALUE, FIELD one of actor, "
				"action, outcome, service, resource-type, resource-id, writer\n",
				cmd);
			return -1;
		}
		if (nnots == NOTS_MAX) {
			fprintf(stderr, "logseal %s: at most %d --not\n", cmd, NOTS_MAX);
			return -1;
		}
		nots[nnots++] = optarg;
		return 1;
	}
	if (c < O_FILTER || c >= O_FILTER + (int)NFILTERS)
		return 0;
	i = (size_t)(c - O_FILTER);
	if (fv[i]) {
		fprintf(stderr, "logseal %s: --%s given twice\n", cmd, filters[i].flag);
		return -1;
	}
	fv[i] = optarg;
	return 1;
}

/* "&name=value" with value percent-encoded. */
int add_param(struct httpc *h, struct sbuf *q, const char *name, const char *value)
{
	char *e = httpc_escape(h, value);
	int rc;

	if (!e)
		return -1;
	rc = sb_str(q, "&") || sb_str(q, name) || sb_str(q, "=") || sb_str(q, e) ? -1 : 0;
	curl_free(e);
	return rc;
}

int add_filters(struct httpc *h, struct sbuf *q, const char **fv)
{
	size_t i;

	for (i = 0; i < NFILTERS; i++)
		if (fv[i] && add_param(h, q, filters[i].param, fv[i]))
			return -1;
	for (i = 0; i < nnots; i++) {
		/* filter_opt() checked the name: flag -> param, then '!' */
		const char *eq = strchr(nots[i], '=');
		size_t j, k = (size_t)(eq - nots[i]);
		char name[32];

		for (j = 0; j < NFILTERS; j++)
			if (strlen(filters[j].flag) == k && !strncmp(filters[j].flag, nots[i], k))
				break;
		snprintf(name, sizeof(name), "%s!", filters[j].param);
		if (add_param(h, q, name, eq + 1))
			return -1;
	}
	return 0;
}

/* endpoint + "?" + params without their leading '&'. */
int make_path(struct sbuf *path, const char *endpoint, const struct sbuf *q)
{
	path->n = 0;
	if (sb_str(path, endpoint))
		return -1;
	if (q->n > 1 && (sb_str(path, "?") || sb_add(path, q->p + 1, q->n - 1)))
		return -1;
	return 0;
}

/*
 * A request repeated while httpc_retryable() says so, at most `tries`
 * times in all.  A streamed request is repeated only while nothing of its
 * body has been handed to the sink.  Returns httpc_do()'s result for the
 * last attempt.
 */
ls_rc do_retry(struct httpc *h, const struct httpc_req *rq, struct httpc_resp *resp,
		      unsigned tries, const char *cmd, const char *what, struct ls_err *err)
{
	char why[600];
	unsigned attempt, ms, refused = 0;
	ls_rc rc;

	for (attempt = 1;; attempt++) {
		rc = httpc_do(h, rq, resp, err);
		if (rc == LS_OK && resp->status >= 200 && resp->status < 300)
			return rc;
		/* Nothing listens there (connection refused, no route): a server
		 * restarting is back within a second or two; a stopped one or a
		 * wrong --server is said at once, not after minutes of back-off. */
		if (rc == LS_IO && resp->cc == CURLE_COULDNT_CONNECT &&
		    (++refused >= CONNECT_TRIES || attempt >= tries)) {
			size_t n = strlen(err->msg);

			snprintf(err->msg + n, sizeof(err->msg) - n,
				 " (%u attempts): is the server running, and is --server (or "
				 "$LOGSEAL_URL) its address?", refused);
			return rc;
		}
		if (attempt >= tries || !httpc_retryable(rc, resp) || resp->sunk)
			return rc;
		if (rc == LS_OK)
			httpc_error_text(resp, why, sizeof(why), NULL);
		else
			snprintf(why, sizeof(why), "%s", err->msg);
		ms = httpc_backoff_ms(attempt, resp->retry_after);
		if (rc == LS_IO && resp->cc == CURLE_COULDNT_CONNECT)
			ms = 300 * refused;
		fprintf(stderr, "logseal %s: %s: %s; retrying in %.1f s (attempt %u of %u)\n", cmd,
			what, why, ms / 1000.0, attempt + 1, tries);
		httpc_resp_free(resp);
		sleep_ms(ms);
	}
}

