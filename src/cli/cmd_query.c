/*
 * cmd_query.c - `logseal query`: searches a running server's events
 * (GET /v1/events) with filters as flags; a table on a terminal (control
 * characters replaced), NDJSON when piped.
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
	else if (env && ls_parse_u64(env, 10, 10000, &v))
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

int cmd_query(int argc, char **argv)
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
			if (!ls_parse_u64(optarg, 1, 1000, &v)) {
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
		fprintf(stderr, "%llu %s (index watermark %lld)\n", (unsigned long long)total,
			LS_PL(total, "event", "events"), (long long)watermark);
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

