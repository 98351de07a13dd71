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

#define LINE_MAX_BYTES (1u << 20)	/* an event is at most 64 KiB stored */
#define BATCH_MAX_BYTES (8u << 20)	/* half the server's default --max-body */
#define BATCH_DEFAULT 500
#define RETRIES_DEFAULT 8
#define QUERY_REPLY_MAX (96u << 20)	/* 1000 entries of 64 KiB, as JSON */
#define SEND_REPLY_MAX (4u << 20)
#define RUN_ID_HEX 32

/* ---------------------------------------------------------------- helpers */

struct sbuf {
	char *p;
	size_t n, cap;
};

static int sb_add(struct sbuf *b, const void *d, size_t n)
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

static int sb_str(struct sbuf *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

static void sb_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return 0;
	*out = v;
	return 1;
}

static void bad_option(const char *cmd, int argc, char **argv)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	fprintf(stderr, "logseal %s: unknown option or missing value: %s\n", cmd, arg);
	fprintf(stderr, "logseal %s: see logseal %s --help\n", cmd, cmd);
}

#define CONN_HELP \
	"  --server URL       the server (default $LOGSEAL_URL, else " HTTPC_DEFAULT_URL ")\n" \
	"  --token-file FILE  the bearer token (default $LOGSEAL_TOKEN)\n" \
	"  --cacert FILE      CA certificate to verify an https server\n"

enum { O_SERVER = 0x200, O_TOKEN_FILE, O_CACERT, O_HELP, O_FILTER = 0x300 };

#define CONN_OPTS \
	{ "server", required_argument, NULL, O_SERVER }, \
	{ "token-file", required_argument, NULL, O_TOKEN_FILE }, \
	{ "cacert", required_argument, NULL, O_CACERT }, \
	{ "help", no_argument, NULL, O_HELP }

/* Returns 1 when c was a connection option. */
static int conn_opt(int c, struct httpc_cfg *cfg)
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
#define NFILTERS (sizeof(filters) / sizeof(filters[0]))

#define FILTER_HELP \
	"filters (all given must hold):\n" \
	"  --from T, --to T   event time in [T, T), RFC 3339\n" \
	"  --received-from T, --received-to T   the server's receive time\n" \
	"  --actor ID  --action A (A.* for a prefix)  --outcome O\n" \
	"  --source-ip IP|CIDR  --service S  --resource-type T  --resource-id I\n" \
	"  --writer TOKEN-ID\n"

/* Appends the filter options after the named ones of opts, which has room
 * for them and the zero entry that ends the table. */
static void add_filter_opts(struct option *opts)
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
	memset(&opts[n], 0, sizeof(opts[n]));
}

static int filter_opt(const char *cmd, int c, const char **fv)
{
	size_t i;

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
static int add_param(struct httpc *h, struct sbuf *q, const char *name, const char *value)
{
	char *e = httpc_escape(h, value);
	int rc;

	if (!e)
		return -1;
	rc = sb_str(q, "&") || sb_str(q, name) || sb_str(q, "=") || sb_str(q, e) ? -1 : 0;
	curl_free(e);
	return rc;
}

static int add_filters(struct httpc *h, struct sbuf *q, const char **fv)
{
	size_t i;

	for (i = 0; i < NFILTERS; i++)
		if (fv[i] && add_param(h, q, filters[i].param, fv[i]))
			return -1;
	return 0;
}

/* endpoint + "?" + params without their leading '&'. */
static int make_path(struct sbuf *path, const char *endpoint, const struct sbuf *q)
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
static ls_rc do_retry(struct httpc *h, const struct httpc_req *rq, struct httpc_resp *resp,
		      unsigned tries, const char *cmd, const char *what, struct ls_err *err)
{
	char why[600];
	unsigned attempt, ms;
	ls_rc rc;

	for (attempt = 1;; attempt++) {
		rc = httpc_do(h, rq, resp, err);
		if (rc == LS_OK && resp->status >= 200 && resp->status < 300)
			return rc;
		if (attempt >= tries || !httpc_retryable(rc, resp) || resp->sunk)
			return rc;
		if (rc == LS_OK)
			httpc_error_text(resp, why, sizeof(why), NULL);
		else
			snprintf(why, sizeof(why), "%s", err->msg);
		ms = httpc_backoff_ms(attempt, resp->retry_after);
		fprintf(stderr, "logseal %s: %s: %s; retrying in %.1f s (attempt %u of %u)\n", cmd,
			what, why, ms / 1000.0, attempt + 1, tries);
		httpc_resp_free(resp);
		sleep_ms(ms);
	}
}

/* ---------------------------------------------------------------- send */

struct sender {
	struct httpc *h;
	const char *path;
	unsigned tries;
	char run[RUN_ID_HEX + 1];
	struct sbuf body;
	uint64_t *lines;	/* input line number of each event of the batch */
	size_t n, cap;
	uint64_t sent, appended, dups, batches, acked_line;
	int64_t last_index;
};

static void send_usage(FILE *f)
{
	fprintf(f,
		"usage: logseal send [options] [FILE]\n"
		"Sends NDJSON events (one per line) from FILE or standard input to\n"
		"POST /v1/events, in batches, retrying safely.\n"
		"options:\n" CONN_HELP
		"  --batch N          events per request (default %d; batches also stop at 8 MiB)\n"
		"  --format F         native (default) or flat (the flat template)\n"
		"  --retries N        attempts per batch (default %d; 1 = no retry)\n"
		"  --run-id HEX       reuse the run id of an interrupted run (32 hex digits)\n"
		"Every event without an \"id\" gets \"send-<run id>-<line number>\", so a batch\n"
		"repeated after a lost reply is not appended twice.  To finish an interrupted\n"
		"run, send the same input again with the --run-id it printed: what was\n"
		"appended already is reported as duplicates.\n"
		"Retries: connection errors, 429 and 5xx, with exponential back-off (0.5 s\n"
		"doubling to 30 s, at least the server's Retry-After).  Any other refusal\n"
		"stops, naming the input line.  A summary goes to standard error.\n"
		"Exit status: 0 all sent, 1 failure, 2 usage.\n",
		BATCH_DEFAULT, RETRIES_DEFAULT);
}

static int blank_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/*
 * One line without its '\n' into line.  Returns 1 (a line), 0 (end of
 * input), -1 (read error), -2 (longer than LINE_MAX_BYTES; the rest of
 * the line is skipped).
 */
static int read_line(FILE *in, struct sbuf *line)
{
	char chunk[8192];
	size_t k;
	int c, any = 0, over = 0;

	line->n = 0;
	for (;;) {
		k = 0;
		while (k < sizeof(chunk) && (c = getc_unlocked(in)) != EOF) {
			any = 1;
			if (c == '\n')
				break;
			chunk[k++] = (char)c;
		}
		if (!over && line->n + k > LINE_MAX_BYTES)
			over = 1;
		if (!over && k && sb_add(line, chunk, k))
			return -1;
		if (k < sizeof(chunk))
			break;
	}
	if (ferror(in))
		return -1;
	if (over)
		return -2;
	if (line->p == NULL && sb_add(line, "", 0))
		return -1;
	return any ? 1 : 0;
}

/* Appends the event of `line` to the batch body, with an id if it has none. */
static int add_event(struct sender *s, const char *line, size_t n, uint64_t lineno)
{
	json_t *v = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
	char id[96];
	size_t brace;
	int rc = 0;

	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		uint64_t *nl = realloc(s->lines, nc * sizeof(*nl));

		if (!nl) {
			json_decref(v);
			return -1;
		}
		s->lines = nl;
		s->cap = nc;
	}
	if (s->body.n && sb_add(&s->body, "\n", 1)) {
		json_decref(v);
		return -1;
	}
	/*
	 * A line that is not a JSON object goes as it is: the server is the
	 * judge of events, and its error names the position we map back.
	 */
	if (json_is_object(v) && !json_object_get(v, "id")) {
		brace = strspn(line, " \t\r");
		snprintf(id, sizeof(id), "\"id\":\"send-%s-%llu\"%s", s->run,
			 (unsigned long long)lineno, json_object_size(v) ? "," : "");
		rc = sb_add(&s->body, line, brace + 1) || sb_str(&s->body, id) ||
		     sb_add(&s->body, line + brace + 1, n - brace - 1) ? -1 : 0;
	} else {
		rc = sb_add(&s->body, line, n);
	}
	json_decref(v);
	if (rc == 0)
		s->lines[s->n++] = lineno;
	return rc;
}

/* Sends the batch; 0 when acknowledged, -1 on failure (said on stderr). */
static int flush_batch(struct sender *s)
{
	struct httpc_req rq = {
		.method = "POST", .path = s->path, .content_type = "application/x-ndjson",
		.body = s->body.p, .body_len = s->body.n, .reply_cap = SEND_REPLY_MAX,
	};
	struct httpc_resp resp = { 0 };
	struct ls_err err = { "" };
	char what[128], etext[1024];
	json_t *r = NULL, *idx, *dups, *x;
	long pos;
	size_t i;
	ls_rc rc;
	int ret = -1;

	if (s->n == 0)
		return 0;
	snprintf(what, sizeof(what), "batch %llu (input lines %llu-%llu)",
		 (unsigned long long)s->batches + 1, (unsigned long long)s->lines[0],
		 (unsigned long long)s->lines[s->n - 1]);
	rc = do_retry(s->h, &rq, &resp, s->tries, "send", what, &err);
	if (rc != LS_OK) {
		fprintf(stderr, "logseal send: %s: %s\n", what, err.msg);
		goto out;
	}
	if (resp.status < 200 || resp.status >= 300) {
		httpc_error_text(&resp, etext, sizeof(etext), &pos);
		if (pos >= 0 && (size_t)pos < s->n)
			fprintf(stderr, "logseal send: input line %llu: %s\n",
				(unsigned long long)s->lines[pos], etext);
		else
			fprintf(stderr, "logseal send: %s: %s\n", what, etext);
		goto out;
	}
	r = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);
	idx = json_object_get(r, "indexes");
	dups = json_object_get(r, "duplicates");
	x = json_object_get(r, "appended");
	if (!json_is_array(idx) || json_array_size(idx) != s->n || !json_is_integer(x)) {
		fprintf(stderr, "logseal send: %s: the server's reply is not an ingest reply\n",
			what);
		goto out;
	}
	for (i = 0; i < s->n; i++) {
		json_int_t v = json_integer_value(json_array_get(idx, i));

		if (v > s->last_index)
			s->last_index = v;
	}
	s->appended += (uint64_t)json_integer_value(x);
	s->dups += json_array_size(dups);
	s->sent += s->n;
	s->acked_line = s->lines[s->n - 1];
	s->batches++;
	s->n = 0;
	s->body.n = 0;
	ret = 0;
out:
	json_decref(r);
	httpc_resp_free(&resp);
	return ret;
}

static void send_summary(const struct sender *s, int ok)
{
	fprintf(stderr, "logseal send: %s: %llu events sent in %llu batches: %llu appended, "
		"%llu duplicates", ok ? "done" : "FAILED", (unsigned long long)s->sent,
		(unsigned long long)s->batches, (unsigned long long)s->appended,
		(unsigned long long)s->dups);
	if (s->last_index >= 0)
		fprintf(stderr, ", last index %lld", (long long)s->last_index);
	fprintf(stderr, " (run id %s)\n", s->run);
	if (!ok)
		fprintf(stderr, "logseal send: acknowledged up to input line %llu; to finish, "
			"send the same input again with --run-id %s\n",
			(unsigned long long)s->acked_line, s->run);
}

int send_main(int argc, char **argv)
{
	static const struct option opts[] = {
		CONN_OPTS,
		{ "batch", required_argument, NULL, 'b' },
		{ "format", required_argument, NULL, 'F' },
		{ "retries", required_argument, NULL, 'r' },
		{ "run-id", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct httpc_cfg cfg = { .need_token = 1 };
	struct sender s = { .tries = RETRIES_DEFAULT, .last_index = -1 };
	struct httpc h = { 0 };
	struct sbuf line = { 0 };
	struct ls_err err = { "" };
	const char *run_id = NULL, *file = NULL;
	uint64_t batch = BATCH_DEFAULT, v, lineno = 0;
	uint8_t rnd[RUN_ID_HEX / 2];
	FILE *in = stdin;
	int c, rc = 1, r, flat = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (conn_opt(c, &cfg))
			continue;
		switch (c) {
		case 'b':
			if (!parse_u64(optarg, 1, 100000, &batch)) {
				fprintf(stderr, "logseal send: --batch wants 1..100000\n");
				return 2;
			}
			break;
		case 'F':
			if (strcmp(optarg, "flat") == 0)
				flat = 1;
			else if (strcmp(optarg, "native") == 0)
				flat = 0;
			else {
				fprintf(stderr, "logseal send: --format is native or flat\n");
				return 2;
			}
			break;
		case 'r':
			if (!parse_u64(optarg, 1, 100, &v)) {
				fprintf(stderr, "logseal send: --retries wants 1..100\n");
				return 2;
			}
			s.tries = (unsigned)v;
			break;
		case 'R':
			if (strlen(optarg) != RUN_ID_HEX ||
			    strspn(optarg, "0123456789abcdef") != RUN_ID_HEX) {
				fprintf(stderr, "logseal send: --run-id wants %d lowercase hex digits\n",
					RUN_ID_HEX);
				return 2;
			}
			run_id = optarg;
			break;
		case 'h':
		case O_HELP:
			send_usage(stdout);
			return 0;
		default:
			bad_option("send", argc, argv);
			return 2;
		}
	}
	if (optind + 1 < argc) {
		send_usage(stderr);
		return 2;
	}
	if (optind < argc && strcmp(argv[optind], "-") != 0)
		file = argv[optind];
	if (run_id) {
		memcpy(s.run, run_id, RUN_ID_HEX + 1);
	} else {
		if (ls_random(rnd, sizeof(rnd)) != LS_OK) {
			fprintf(stderr, "logseal send: no random numbers\n");
			return 1;
		}
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(s.run + 2 * i, 3, "%02x", rnd[i]);
	}
	if (file && !(in = fopen(file, "r"))) {
		fprintf(stderr, "logseal send: %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (httpc_open(&h, &cfg, &err) != LS_OK) {
		fprintf(stderr, "logseal send: %s\n", err.msg);
		goto out;
	}
	s.h = &h;
	s.path = flat ? "/v1/events?format=flat" : "/v1/events";
	for (;;) {
		r = read_line(in, &line);
		if (r == 0)
			break;
		lineno++;
		if (r == -1) {
			fprintf(stderr, "logseal send: reading input: %s\n", strerror(errno));
			goto fail;
		}
		if (r == -2) {
			fprintf(stderr, "logseal send: input line %llu: longer than %u bytes\n",
				(unsigned long long)lineno, LINE_MAX_BYTES);
			goto fail;
		}
		if (blank_line(line.p, line.n))
			continue;
		/* Flush first when this line would push the batch over its byte cap. */
		if (s.n && s.body.n + line.n + 200 > BATCH_MAX_BYTES && flush_batch(&s))
			goto fail;
		if (add_event(&s, line.p, line.n, lineno)) {
			fprintf(stderr, "logseal send: out of memory\n");
			goto fail;
		}
		if (s.n >= batch && flush_batch(&s))
			goto fail;
	}
	if (flush_batch(&s))
		goto fail;
	send_summary(&s, 1);
	rc = 0;
	goto out;
fail:
	send_summary(&s, 0);
out:
	httpc_close(&h);
	if (file && in)
		fclose(in);
	sb_free(&line);
	sb_free(&s.body);
	free(s.lines);
	return rc;
}

/* ---------------------------------------------------------------- query */

enum qfmt { Q_TABLE, Q_NDJSON, Q_JSON };

static void query_usage(FILE *f)
{
	fprintf(f,
		"usage: logseal query [options] [filters]\n"
		"Searches the log (GET /v1/events; needs an auditor token).\n"
		"options:\n" CONN_HELP
		"  --order asc|desc   oldest or newest (default) first\n"
		"  --limit N          events per page, 1..1000 (default 100; 1000 with --all)\n"
		"  --all              follow next_cursor to the last page\n"
		"  --cursor C         start at a cursor a previous query printed\n"
		"  --format F         table (default on a terminal), ndjson (default when\n"
		"                     piped: {\"index\":N,\"entry\":{...}} per line) or json\n"
		"                     ({\"events\":[...],\"next_cursor\":...,\"watermark\":W})\n"
		FILTER_HELP
		"Exit status: 0 success, 1 failure, 2 usage.\n");
}

/* Display columns of one UTF-8 code point (a small approximation of
 * wcwidth that does not depend on the locale). */
static unsigned cp_width(uint32_t cp)
{
	if ((cp >= 0x300 && cp <= 0x36f) || cp == 0x200b || (cp >= 0xfe00 && cp <= 0xfe0f))
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* Decodes one code point of s (n > 0 bytes); returns its length, or 0 for
 * a byte that does not start valid UTF-8. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		v = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		v = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		v = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

struct row {
	struct sbuf *b;
	unsigned used, limit;	/* limit 0: unlimited */
	int full, err;
};

/*
 * Writes (or with b NULL only measures) the text of s in at most max
 * columns; control characters and invalid UTF-8 become '?'.  Returns the
 * columns used; *rest is set when s did not fit.
 */
static unsigned emit(struct sbuf *b, const char *s, unsigned max, int *rest, int *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i, k;
	unsigned cols = 0, w;
	uint32_t cp;

	*rest = 0;
	for (i = 0; i < n; i += k) {
		k = utf8_next(p + i, n - i, &cp);
		if (!k || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			k = k ? k : 1;
			cp = '?';
		}
		w = cp_width(cp);
		if (cols + w > max) {
			*rest = 1;
			break;
		}
		if (b && (cp == '?' ? sb_add(b, "?", 1) : sb_add(b, p + i, k)))
			*err = 1;
		cols += w;
	}
	return cols;
}

/*
 * One cell of width columns (0: as wide as its text), padded unless it is
 * the last; a cut is marked with '~'.  Nothing goes past row->limit.
 */
static void cell(struct row *r, const char *s, unsigned width, int right, int last)
{
	unsigned box = width ? width : UINT_MAX, cols, pad = 0;
	int rest;

	if (!s)
		s = "-";
	if (r->used && !r->full) {
		if (r->limit && r->used + 1 >= r->limit)
			r->full = 1;
		else if (sb_add(r->b, " ", 1))
			r->err = 1;
		r->used++;
	}
	if (r->full || r->err)
		return;
	if (r->limit && box > r->limit - r->used)
		box = r->limit - r->used;
	cols = emit(NULL, s, box, &rest, &r->err);
	if (rest) {
		/* Room for the '~' that marks the cut. */
		cols = emit(r->b, s, box - 1, &rest, &r->err);
		r->err |= sb_add(r->b, "~", 1);
		cols++;
	} else {
		if (!last && width && cols < box)
			pad = box - cols;
		if (right)
			for (unsigned i = 0; i < pad; i++)
				r->err |= sb_add(r->b, " ", 1);
		emit(r->b, s, box, &rest, &r->err);
		if (!right)
			for (unsigned i = 0; i < pad; i++)
				r->err |= sb_add(r->b, " ", 1);
	}
	r->used += cols + pad;
	if (r->limit && r->used >= r->limit)
		r->full = 1;
}

struct table {
	unsigned limit;		/* terminal columns, 0 = no limit */
	unsigned w[8];
	int header_done;
};

static const char *const table_head[8] = { "INDEX", "TIME (UTC)", "SERVICE", "ACTOR", "ACTION",
					   "OUTCOME", "SOURCE", "RESOURCE" };

static void table_init(struct table *t, int tty)
{
	/* index, time, service, actor, action, outcome, source, resource (the rest) */
	static const unsigned w[8] = { 7, 19, 12, 16, 20, 7, 15, 0 };
	static const unsigned wmin[8] = { 5, 19, 6, 8, 10, 7, 7, 0 };
	struct winsize ws;
	const char *env = getenv("COLUMNS");
	unsigned need, i, widest;
	uint64_t v;

	memset(t, 0, sizeof(*t));
	memcpy(t->w, w, sizeof(w));
	if (tty && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		t->limit = ws.ws_col;
	else if (env && parse_u64(env, 10, 10000, &v))
		t->limit = (unsigned)v;
	if (!t->limit)
		return;
	/* Narrow the widest shrinkable column, one at a time, until the
	 * resource column keeps 12 columns or nothing can shrink; beyond
	 * that the line is cut at the width. */
	for (;;) {
		need = 7 + 12;
		for (i = 0; i < 7; i++)
			need += t->w[i];
		if (need <= t->limit)
			break;
		widest = 8;
		for (i = 0; i < 7; i++)
			if (t->w[i] > wmin[i] && (widest == 8 || t->w[i] > t->w[widest]))
				widest = i;
		if (widest == 8)
			break;
		t->w[widest]--;
	}
}

static int table_line(struct table *t, const char *const cells[8], FILE *out)
{
	struct sbuf b = { 0 };
	struct row r = { &b, 0, t->limit, 0, 0 };
	int i, rc;

	for (i = 0; i < 8; i++)
		cell(&r, cells[i], t->w[i], i == 0, i == 7);
	rc = r.err || sb_add(&b, "\n", 1) ? -1 : 0;
	if (!rc)
		fwrite(b.p, 1, b.n, out);
	sb_free(&b);
	return rc;
}

static const char *jstr(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);

	if (k2)
		v = json_object_get(v, k2);
	return json_string_value(v);
}

static int table_row(struct table *t, json_t *ev, FILE *out)
{
	json_t *e = json_object_get(ev, "entry");
	const char *cells[8], *time, *rt, *ri;
	char idx[24], tbuf[32], res[512];

	if (!t->header_done) {
		t->header_done = 1;
		if (table_line(t, table_head, out))
			return -1;
	}
	snprintf(idx, sizeof(idx), "%lld", (long long)json_integer_value(json_object_get(ev, "index")));
	cells[0] = idx;
	time = jstr(e, "time", NULL);
	/* 2024-05-06T05:08:09.123000Z -> 2024-05-06 05:08:09 (UTC) */
	if (time && strlen(time) >= 19 && time[10] == 'T') {
		snprintf(tbuf, sizeof(tbuf), "%.10s %.8s", time, time + 11);
		time = tbuf;
	}
	cells[1] = time;
	cells[2] = jstr(e, "service", NULL);
	cells[3] = jstr(e, "actor", "id");
	cells[4] = jstr(e, "action", NULL);
	cells[5] = jstr(e, "outcome", NULL);
	cells[6] = jstr(e, "source", "ip");
	rt = jstr(e, "resource", "type");
	ri = jstr(e, "resource", "id");
	if (rt || ri) {
		snprintf(res, sizeof(res), "%s%s%s", rt ? rt : "", rt && ri ? "/" : "", ri ? ri : "");
		cells[7] = res;
	} else {
		cells[7] = json_is_object(e) ? NULL : "(stored entry is not a JSON object)";
	}
	return table_line(t, cells, out);
}

int query_main(int argc, char **argv)
{
	struct option opts[16 + NFILTERS + 1] = {
		CONN_OPTS,
		{ "order", required_argument, NULL, 'o' },
		{ "limit", required_argument, NULL, 'l' },
		{ "all", no_argument, NULL, 'a' },
		{ "cursor", required_argument, NULL, 'C' },
		{ "format", required_argument, NULL, 'F' },
	};
	struct httpc_cfg cfg = { .need_token = 1 };
	const char *fv[NFILTERS] = { 0 }, *order = NULL, *limit = NULL, *fmtarg = NULL;
	char *cursor = NULL, what[64], etext[1024];
	struct sbuf q = { 0 }, path = { 0 };
	struct httpc h = { 0 };
	struct httpc_resp resp = { 0 };
	struct ls_err err = { "" };
	struct table tab;
	json_t *page = NULL, *evs, *nc = NULL, *ev;
	uint64_t v, pages = 0, total = 0;
	json_int_t watermark = -1;
	int c, rc = 1, all = 0, tty = isatty(1), first = 1, f;
	enum qfmt fmt;
	size_t i;
	ls_rc lrc;

	add_filter_opts(opts);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (conn_opt(c, &cfg))
			continue;
		f = filter_opt("query", c, fv);
		if (f < 0)
			return 2;
		if (f)
			continue;
		switch (c) {
		case 'o':
			if (strcmp(optarg, "asc") && strcmp(optarg, "desc")) {
				fprintf(stderr, "logseal query: --order is asc or desc\n");
				return 2;
			}
			order = optarg;
			break;
		case 'l':
			if (!parse_u64(optarg, 1, 1000, &v)) {
				fprintf(stderr, "logseal query: --limit wants 1..1000\n");
				return 2;
			}
			limit = optarg;
			break;
		case 'a': all = 1; break;
		case 'C':
			free(cursor);
			cursor = strdup(optarg);
			if (!cursor)
				return 1;
			break;
		case 'F': fmtarg = optarg; break;
		case 'h':
		case O_HELP:
			query_usage(stdout);
			free(cursor);
			return 0;
		default:
			bad_option("query", argc, argv);
			free(cursor);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "logseal query: unexpected argument %s\n", argv[optind]);
		free(cursor);
		return 2;
	}
	if (!fmtarg)
		fmt = tty ? Q_TABLE : Q_NDJSON;
	else if (!strcmp(fmtarg, "table"))
		fmt = Q_TABLE;
	else if (!strcmp(fmtarg, "ndjson"))
		fmt = Q_NDJSON;
	else if (!strcmp(fmtarg, "json"))
		fmt = Q_JSON;
	else {
		fprintf(stderr, "logseal query: --format is table, ndjson or json\n");
		free(cursor);
		return 2;
	}
	if (!limit && all)
		limit = "1000";
	table_init(&tab, tty);
	if (httpc_open(&h, &cfg, &err) != LS_OK) {
		fprintf(stderr, "logseal query: %s\n", err.msg);
		goto out;
	}
	if (add_filters(&h, &q, fv) || (order && add_param(&h, &q, "order", order)) ||
	    (limit && add_param(&h, &q, "limit", limit)))
		goto nomem;
	for (;;) {
		struct httpc_req rq = { .method = "GET", .reply_cap = QUERY_REPLY_MAX };
		size_t base = q.n;

		if (cursor && add_param(&h, &q, "cursor", cursor))
			goto nomem;
		if (make_path(&path, "/v1/events", &q))
			goto nomem;
		q.n = base;
		if (q.p)
			q.p[q.n] = 0;
		rq.path = path.p;
		snprintf(what, sizeof(what), "page %llu", (unsigned long long)pages + 1);
		lrc = do_retry(&h, &rq, &resp, RETRIES_DEFAULT / 2, "query", what, &err);
		if (lrc != LS_OK) {
			fprintf(stderr, "logseal query: %s\n", err.msg);
			goto out;
		}
		if (resp.status != 200) {
			httpc_error_text(&resp, etext, sizeof(etext), NULL);
			fprintf(stderr, "logseal query: %s\n", etext);
			goto out;
		}
		page = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);
		httpc_resp_free(&resp);
		evs = json_object_get(page, "events");
		if (!json_is_array(evs)) {
			fprintf(stderr, "logseal query: the server's reply has no events\n");
			goto out;
		}
		pages++;
		watermark = json_integer_value(json_object_get(page, "watermark"));
		if (fmt == Q_JSON && first)
			fputs("{\"events\":[", stdout);
		json_array_foreach(evs, i, ev) {
			char *line;

			if (fmt == Q_TABLE) {
				if (table_row(&tab, ev, stdout))
					goto nomem;
			} else {
				line = json_dumps(ev, JSON_COMPACT);
				if (!line)
					goto nomem;
				if (fmt == Q_JSON && !first)
					putchar(',');
				fputs(line, stdout);
				if (fmt == Q_NDJSON)
					putchar('\n');
				free(line);
			}
			first = 0;
			total++;
		}
		json_decref(nc);
		nc = json_incref(json_object_get(page, "next_cursor"));
		json_decref(page);
		page = NULL;
		if (!all || !json_is_string(nc) || !*json_string_value(nc))
			break;
		free(cursor);
		cursor = strdup(json_string_value(nc));
		if (!cursor)
			goto nomem;
	}
	if (fmt == Q_JSON) {
		char *ncs = json_dumps(json_is_string(nc) && !all ? nc : json_null(),
				       JSON_ENCODE_ANY);

		if (first)
			fputs("{\"events\":[", stdout);
		printf("],\"next_cursor\":%s,\"watermark\":%lld}\n", ncs ? ncs : "null",
		       (long long)watermark);
		free(ncs);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "logseal query: writing the output: %s\n", strerror(errno));
		goto out;
	}
	if (fmt == Q_TABLE) {
		fprintf(stderr, "%llu events (index watermark %lld)\n", (unsigned long long)total,
			(long long)watermark);
		if (!all && json_is_string(nc))
			fprintf(stderr, "more: --all, or --cursor %s\n", json_string_value(nc));
	}
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "logseal query: out of memory\n");
out:
	httpc_resp_free(&resp);
	json_decref(page);
	json_decref(nc);
	httpc_close(&h);
	sb_free(&q);
	sb_free(&path);
	free(cursor);
	return rc;
}

/* ---------------------------------------------------------------- export */

struct dl {
	FILE *f;
	int csv, in_quote, progress;
	uint64_t bytes, lines;
	double last;
	unsigned spin;
};

static void dl_show(struct dl *d, int force)
{
	static const char spin[] = "|/-\\";
	double t = now_s();
	double mib = (double)d->bytes / (1024.0 * 1024.0);

	if (!d->progress || (!force && t - d->last < 0.1))
		return;
	d->last = t;
	fprintf(stderr, "\r%c %.1f MiB, %llu %s\033[K", spin[d->spin++ % 4], mib,
		(unsigned long long)d->lines, d->csv ? "rows" : "lines");
}

static int dl_sink(const char *p, size_t n, void *ctx)
{
	struct dl *d = ctx;
	size_t i;

	if (fwrite(p, 1, n, d->f) != n)
		return -1;
	d->bytes += n;
	/* A CSV field may hold line breaks inside quotes: count records. */
	for (i = 0; i < n; i++) {
		if (d->csv && p[i] == '"')
			d->in_quote = !d->in_quote;
		else if (p[i] == '\n' && !d->in_quote)
			d->lines++;
	}
	dl_show(d, 0);
	return 0;
}

static void dl_tick(void *ctx)
{
	dl_show(ctx, 0);
}

static void export_usage(FILE *f)
{
	fprintf(f,
		"usage: logseal export --output FILE [options] [filters]\n"
		"Downloads every matching entry (GET /v1/export; needs an auditor token).\n"
		"options:\n" CONN_HELP
		"  --output FILE      where to write (FILE.part until complete; - for stdout)\n"
		"  --format F         bundle (default: verifiable offline), csv, ecs or ocsf\n"
		"  --verify           after download, check the bundle offline (needs --key)\n"
		"  --key VKEY         the log's verifier key (a file, or the key itself)\n"
		FILTER_HELP
		"Exit status: 0 success (and verified with --verify), 1 failure, 2 usage.\n");
}

static int sync_parent(const char *file)
{
	char *copy = strdup(file);
	int rc;

	if (!copy)
		return -1;
	rc = fs_sync_dir(dirname(copy), NULL) == LS_OK ? 0 : -1;
	free(copy);
	return rc;
}

int export_main(int argc, char **argv)
{
	struct option opts[16 + NFILTERS + 1] = {
		CONN_OPTS,
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "verify", no_argument, NULL, 'V' },
		{ "key", required_argument, NULL, 'k' },
	};
	struct httpc_cfg cfg = { .need_token = 1 };
	const char *fv[NFILTERS] = { 0 }, *output = NULL, *format = "bundle", *key = NULL;
	struct httpc_req rq = { .method = "GET" };
	struct httpc_resp resp = { 0 };
	struct httpc h = { 0 };
	struct ls_err err = { "" };
	struct sbuf q = { 0 }, path = { 0 };
	struct dl d = { 0 };
	struct note_verifier vk;
	struct bundle_report rep;
	char *part = NULL, etext[1024];
	int c, f, rc = 1, verify = 0, to_stdout, fd = -1;
	uint64_t entries;
	ls_rc lrc;

	add_filter_opts(opts);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (conn_opt(c, &cfg))
			continue;
		f = filter_opt("export", c, fv);
		if (f < 0)
			return 2;
		if (f)
			continue;
		switch (c) {
		case 'o': output = optarg; break;
		case 'F':
			if (strcmp(optarg, "bundle") && strcmp(optarg, "csv") && strcmp(optarg, "ecs") &&
			    strcmp(optarg, "ocsf")) {
				fprintf(stderr, "logseal export: --format is bundle, csv, ecs or ocsf\n");
				return 2;
			}
			format = optarg;
			break;
		case 'V': verify = 1; break;
		case 'k': key = optarg; break;
		case 'h':
		case O_HELP:
			export_usage(stdout);
			return 0;
		default:
			bad_option("export", argc, argv);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "logseal export: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!output) {
		fprintf(stderr, "logseal export: --output FILE is required\n");
		return 2;
	}
	to_stdout = strcmp(output, "-") == 0;
	if (verify && (strcmp(format, "bundle") || !key || to_stdout)) {
		fprintf(stderr, "logseal export: --verify needs --format bundle, --key and a file\n");
		return 2;
	}
	if (key && !verify) {
		fprintf(stderr, "logseal export: --key is for --verify\n");
		return 2;
	}
	/* Read the key before downloading: a typo should not cost an export. */
	if (verify && export_load_verifier(key, &vk, &err) != LS_OK) {
		fprintf(stderr, "logseal export: --key: %s\n", err.msg);
		return 2;
	}
	if (httpc_open(&h, &cfg, &err) != LS_OK) {
		fprintf(stderr, "logseal export: %s\n", err.msg);
		goto out;
	}
	if (add_filters(&h, &q, fv) || add_param(&h, &q, "format", format) ||
	    make_path(&path, "/v1/export", &q))
		goto nomem;

	if (to_stdout) {
		d.f = stdout;
	} else {
		if (asprintf(&part, "%s.part", output) < 0) {
			part = NULL;
			goto nomem;
		}
		/* 0600: an export holds audit records. */
		fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || !(d.f = fdopen(fd, "w"))) {
			fprintf(stderr, "logseal export: %s: %s\n", part, strerror(errno));
			if (fd >= 0)
				close(fd);
			free(part);
			part = NULL;
			goto out;
		}
		d.progress = isatty(2);
	}
	d.csv = strcmp(format, "csv") == 0;
	rq.path = path.p;
	rq.sink = dl_sink;
	rq.tick = d.progress ? dl_tick : NULL;
	rq.ctx = &d;
	lrc = do_retry(&h, &rq, &resp, RETRIES_DEFAULT / 2, "export", "download", &err);
	if (d.progress) {
		dl_show(&d, 1);
		fputs("\r\033[K", stderr);
	}
	if (lrc != LS_OK) {
		fprintf(stderr, "logseal export: %s%s\n", err.msg,
			d.bytes ? " (the transfer was cut: incomplete)" : "");
		goto out;
	}
	if (resp.status != 200) {
		httpc_error_text(&resp, etext, sizeof(etext), NULL);
		fprintf(stderr, "logseal export: %s\n", etext);
		goto out;
	}
	if (fflush(d.f) != 0 || ferror(d.f) || (!to_stdout && fsync(fileno(d.f)) != 0)) {
		fprintf(stderr, "logseal export: writing %s: %s\n", to_stdout ? "stdout" : part,
			strerror(errno));
		goto out;
	}
	if (!to_stdout) {
		f = fclose(d.f);
		d.f = NULL;
		if (f != 0 || rename(part, output) != 0) {
			fprintf(stderr, "logseal export: %s: %s\n", output, strerror(errno));
			goto out;
		}
		free(part);
		part = NULL;
		sync_parent(output);
	}
	/* Header and manifest lines of a bundle, the header row of CSV. */
	entries = d.lines;
	if (!strcmp(format, "bundle"))
		entries = entries >= 2 ? entries - 2 : 0;
	else if (d.csv)
		entries = entries >= 1 ? entries - 1 : 0;
	fprintf(stderr, "logseal export: %s: %llu bytes, %llu entries (%s)\n",
		to_stdout ? "stdout" : output, (unsigned long long)d.bytes,
		(unsigned long long)entries, format);
	if (verify) {
		lrc = export_verify_bundle(output, &vk, &rep, &err);
		if (lrc != LS_OK) {
			fprintf(stderr, "logseal export: %s: verification FAILED (%s): %s\n", output,
				ls_rc_name(lrc), err.msg);
			goto out;
		}
		fprintf(stderr, "logseal export: bundle verified: %llu entries, tree size %llu, "
			"origin %s\n", (unsigned long long)rep.entries,
			(unsigned long long)rep.tree_size, rep.origin);
	}
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "logseal export: out of memory\n");
out:
	if (d.f && !to_stdout)
		fclose(d.f);
	if (part) {
		unlink(part);
		free(part);
	}
	httpc_resp_free(&resp);
	httpc_close(&h);
	sb_free(&q);
	sb_free(&path);
	return rc;
}
