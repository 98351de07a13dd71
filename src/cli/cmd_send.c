/*
 * cmd_send.c - `logseal send`: NDJSON from standard input (or FILE) to a
 * running server in batches, each event given an id before it is first
 * sent so that a retried batch is never appended twice (client.c says how
 * the ids are made, and the invariants all three clients keep).
 */
#include "cli/cli.h"

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
#include "cli/client.h"

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
	long refused;		/* the 4xx that stopped the run (the input or the token), else 0 */
	uint64_t refused_line;	/* the input line it names, else 0 */
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
		if (resp.status >= 400 && resp.status < 500 && !httpc_retryable(rc, &resp))
			s->refused = resp.status;
		if (pos >= 0 && (size_t)pos < s->n) {
			s->refused_line = s->lines[pos];
			fprintf(stderr, "logseal send: input line %llu: %s\n",
				(unsigned long long)s->lines[pos], etext);
		} else {
			fprintf(stderr, "logseal send: %s: %s\n", what, etext);
		}
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
	fprintf(stderr, "logseal send: %s: %llu %s sent in %llu %s: %llu appended, "
		"%llu %s", ok ? "done" : "FAILED", (unsigned long long)s->sent,
		LS_PL(s->sent, "event", "events"), (unsigned long long)s->batches,
		LS_PL(s->batches, "batch", "batches"), (unsigned long long)s->appended,
		(unsigned long long)s->dups, LS_PL(s->dups, "duplicate", "duplicates"));
	if (s->last_index >= 0)
		fprintf(stderr, ", last index %lld", (long long)s->last_index);
	fprintf(stderr, " (run id %s)\n", s->run);
	if (!ok && s->refused && s->refused_line)
		/* Not a transient failure: the same input fails the same way. */
		fprintf(stderr, "logseal send: the server refused input line %llu (HTTP %ld, "
			"above): sending the same input again fails the same way.  Fix or "
			"remove that line, then send the input again with --run-id %s: it was "
			"acknowledged up to input line %llu, and those lines are not appended "
			"twice\n",
			(unsigned long long)s->refused_line, s->refused, s->run,
			(unsigned long long)s->acked_line);
	else if (!ok && s->refused)
		fprintf(stderr, "logseal send: the server refused the request (HTTP %ld, above): "
			"sending again fails the same way until that is fixed (token, role, "
			"--server, input); then send the same input again with --run-id %s "
			"(acknowledged up to input line %llu)\n",
			s->refused, s->run, (unsigned long long)s->acked_line);
	else if (!ok)
		fprintf(stderr, "logseal send: acknowledged up to input line %llu; to finish, "
			"send the same input again with --run-id %s\n",
			(unsigned long long)s->acked_line, s->run);
}

int cmd_send(int argc, char **argv)
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
			if (!ls_parse_u64(optarg, 1, 100000, &batch)) {
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
			if (!ls_parse_u64(optarg, 1, 100, &v)) {
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

