/*
 * cmd_export.c - `logseal export`: downloads a verifiable bundle (or
 * CSV/ECS/OCSF) from a running server to FILE.part, renamed to FILE only
 * once the whole reply arrived; a progress bar on a terminal.
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
		"  --format F         bundle (default: verifiable offline), csv, ecs, ocsf,\n"
		"                     or evidence (with --index N: one entry, its proof and\n"
		"                     the cosigned checkpoint; check it with verify-bundle)\n"
		"  --index N          the entry of an evidence file\n"
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

int cmd_export(int argc, char **argv)
{
	struct option opts[16 + NFILTERS + 1] = {
		CONN_OPTS,
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "verify", no_argument, NULL, 'V' },
		{ "key", required_argument, NULL, 'k' },
		{ "index", required_argument, NULL, 'N' },
	};
	struct httpc_cfg cfg = { .need_token = 1 };
	const char *fv[NFILTERS] = { 0 }, *output = NULL, *format = "bundle", *key = NULL;
	const char *index = NULL;
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
			    strcmp(optarg, "ocsf") && strcmp(optarg, "evidence")) {
				fprintf(stderr, "logseal export: --format is bundle, csv, ecs, ocsf or "
					"evidence\n");
				return 2;
			}
			format = optarg;
			break;
		case 'V': verify = 1; break;
		case 'k': key = optarg; break;
		case 'N': index = optarg; break;
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
	if (!strcmp(format, "evidence") != !!index) {
		fprintf(stderr, "logseal export: --format evidence goes with --index N (and "
			"--index with it)\n");
		return 2;
	}
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
	    (index && add_param(&h, &q, "index", index)) ||
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
	fprintf(stderr, "logseal export: %s: %llu bytes, %llu %s (%s)\n",
		to_stdout ? "stdout" : output, (unsigned long long)d.bytes,
		(unsigned long long)entries, LS_PL(entries, "entry", "entries"), format);
	if (verify) {
		lrc = export_verify_bundle(output, &vk, &rep, &err);
		if (lrc != LS_OK) {
			fprintf(stderr, "logseal export: %s: verification FAILED (%s): %s\n", output,
				ls_rc_name(lrc), err.msg);
			goto out;
		}
		fprintf(stderr, "logseal export: bundle verified: %llu %s, tree size %llu, "
			"origin %s\n", (unsigned long long)rep.entries,
			LS_PL(rep.entries, "entry", "entries"),
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

