/*
 * cmd_import.c - `logseal import`: NDJSON from standard input appended in
 * input order; lines are parsed by worker threads and appended in batches,
 * each durable before the next.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/event.h"
#include "store/log.h"

/* -------------------------------------------------------------- import --- */

static const char usage_import[] =
	"usage: logseal import --data DIR [--batch N] [--threads N] [--segment-leaves N]\n"
	"\n"
	"Reads NDJSON from standard input, one JSON object per line, and appends\n"
	"each, stored as canonical JSON, in input order.  Lines are parsed in\n"
	"parallel and appended in batches of N (default 1000), each durable before\n"
	"the next.  Signs a checkpoint covering everything before it exits.  On a\n"
	"bad line it stops, names the line, and keeps what was appended before it.\n"
	"Service \"logseal\" and actions \"logseal.*\" (any case) are the server's\n"
	"own and refused.\n"
	"\n"
	"  --data DIR      data directory made by `logseal init`\n"
	"  --batch N       entries per durable batch (1..100000, default 1000)\n"
	"  --threads N     parsing threads (default: number of CPUs)\n"
	"  --segment-leaves N  entries per sealed segment, a multiple of 256 from 256\n"
	"                  to 16777216 (default 65536); whole segments are sealed\n"
	"                  while importing and before it exits\n";

struct chunk {
	char *text;		/* the chunk's lines, NUL-separated */
	size_t *starts;
	size_t *lens;
	uint64_t *lineno;
	size_t n;
	struct iovec *iov;	/* canonical entries after parsing */
	uint64_t seq;
	ls_rc rc;
	char msg[600];
};

struct importer {
	struct log *log;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk **queue;	/* parsed by workers: a ring of chunks */
	size_t qcap, qhead, qlen;
	uint64_t next_append;	/* sequence number allowed to append next */
	int eof, failed;
	uint64_t appended;
	char errmsg[700];
};

static void chunk_free(struct chunk *c)
{
	if (!c)
		return;
	if (c->iov)
		for (size_t i = 0; i < c->n; i++)
			free(c->iov[i].iov_base);
	free(c->iov);
	free(c->text);
	free(c->starts);
	free(c->lens);
	free(c->lineno);
	free(c);
}

/* The chunk holding the turn is in the sequencer's queue: pass the turn on. */
static void import_turn_done(void *arg)
{
	struct importer *im = arg;

	pthread_mutex_lock(&im->mu);
	im->next_append++;
	pthread_cond_broadcast(&im->cv);
	pthread_mutex_unlock(&im->mu);
}

static void *import_worker(void *arg)
{
	struct importer *im = arg;

	pthread_setname_np(pthread_self(), "ls-import");
	for (;;) {
		struct chunk *c;
		struct ls_err err;

		pthread_mutex_lock(&im->mu);
		while (!im->qlen && !im->eof && !im->failed)
			pthread_cond_wait(&im->cv, &im->mu);
		if (!im->qlen || im->failed) {
			pthread_mutex_unlock(&im->mu);
			return NULL;
		}
		c = im->queue[im->qhead];
		im->qhead = (im->qhead + 1) % im->qcap;
		im->qlen--;
		pthread_cond_broadcast(&im->cv);
		pthread_mutex_unlock(&im->mu);

		c->iov = calloc(c->n ? c->n : 1, sizeof(*c->iov));
		c->rc = c->iov ? LS_OK : LS_NOMEM;
		for (size_t i = 0; i < c->n && c->rc == LS_OK; i++) {
			char *out;
			size_t len;
			c->rc = event_canonicalize_text(c->text + c->starts[i], c->lens[i], &out, &len,
							&err);
			/* Imported entries carry no writer: one that names the
			 * server's service or actions would pass for its own. */
			if (c->rc == LS_OK) {
				c->rc = event_check_foreign(out, len, &err);
				if (c->rc != LS_OK)
					free(out);
			}
			if (c->rc == LS_OK && len > STORE_MAX_ENTRY) {
				free(out);
				c->rc = ls_err_set(&err, LS_LIMIT, "entry is %zu bytes, over the %u limit",
						   len, STORE_MAX_ENTRY);
			}
			if (c->rc != LS_OK) {
				snprintf(c->msg, sizeof(c->msg), "line %llu: %s",
					 (unsigned long long)c->lineno[i], err.msg);
				break;
			}
			c->iov[i].iov_base = out;
			c->iov[i].iov_len = len;
		}

		/* Enqueue strictly in input order; the durable waits overlap, so
		 * the group commit can merge consecutive chunks. */
		pthread_mutex_lock(&im->mu);
		while (im->next_append != c->seq && !im->failed)
			pthread_cond_wait(&im->cv, &im->mu);
		if (im->failed || c->rc != LS_OK) {
			if (!im->failed && c->rc != LS_OK) {
				im->failed = 1;
				snprintf(im->errmsg, sizeof(im->errmsg), "%s", c->msg);
			}
			im->next_append++;
			pthread_cond_broadcast(&im->cv);
			pthread_mutex_unlock(&im->mu);
			chunk_free(c);
			continue;
		}
		pthread_mutex_unlock(&im->mu);
		{
			uint64_t first;
			c->rc = log_append_ordered(im->log, c->iov, c->n, &first, import_turn_done, im,
						   &err);
			if (c->rc != LS_OK)
				snprintf(c->msg, sizeof(c->msg), "line %llu and after: %s",
					 (unsigned long long)c->lineno[0], err.msg);
		}
		pthread_mutex_lock(&im->mu);
		if (c->rc != LS_OK) {
			if (!im->failed)
				snprintf(im->errmsg, sizeof(im->errmsg), "%s", c->msg);
			im->failed = 1;
		} else {
			im->appended += c->n;
		}
		pthread_cond_broadcast(&im->cv);
		pthread_mutex_unlock(&im->mu);
		chunk_free(c);
	}
}

/* Read up to `batch` non-empty lines into a chunk; NULL at EOF. */
static struct chunk *read_chunk(FILE *in, size_t batch, uint64_t *lineno, char **line,
				size_t *lcap, int *ioerr)
{
	struct chunk *c = calloc(1, sizeof(*c));
	size_t tcap = 0, tlen = 0;

	if (!c)
		return NULL;
	c->starts = malloc(batch * sizeof(*c->starts));
	c->lens = malloc(batch * sizeof(*c->lens));
	c->lineno = malloc(batch * sizeof(*c->lineno));
	if (!c->starts || !c->lens || !c->lineno) {
		chunk_free(c);
		*ioerr = ENOMEM;
		return NULL;
	}
	while (c->n < batch) {
		ssize_t r = getline(line, lcap, in);
		size_t len;
		if (r < 0) {
			if (ferror(in))
				*ioerr = errno ? errno : EIO;
			break;
		}
		(*lineno)++;
		len = (size_t)r;
		while (len && ((*line)[len - 1] == '\n' || (*line)[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue;
		if (tlen + len + 1 > tcap) {
			size_t cap = tcap ? tcap * 2 : 1 << 20;
			char *p;
			while (cap < tlen + len + 1)
				cap *= 2;
			p = realloc(c->text, cap);
			if (!p) {
				*ioerr = ENOMEM;
				chunk_free(c);
				return NULL;
			}
			c->text = p;
			tcap = cap;
		}
		memcpy(c->text + tlen, *line, len);
		c->text[tlen + len] = 0;
		c->starts[c->n] = tlen;
		c->lens[c->n] = len;
		c->lineno[c->n] = *lineno;
		c->n++;
		tlen += len + 1;
	}
	if (c->n == 0) {
		chunk_free(c);
		return NULL;
	}
	return c;
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "batch", required_argument, 0, 'b' },
		{ "threads", required_argument, 0, 't' },
		{ "segment-leaves", required_argument, 0, 's' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL;
	unsigned long batch = 1000, nthreads = 0;
	uint64_t leaves = 0;
	struct ls_err err = { "" };
	struct log_opts lo;
	struct importer im;
	pthread_t th[64];
	uint64_t lineno = 0, seq = 0;
	char *line = NULL;
	uint64_t v;
	size_t lcap = 0;
	int c, ioerr = 0, status = 0;
	ls_rc rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'b':
			if (!ls_parse_u64(optarg, 1, 100000, &v))
				return cli_die("import", "--batch must be 1..100000");
			batch = (unsigned long)v;
			break;
		case 't':
			if (!ls_parse_u64(optarg, 1, 64, &v))
				return cli_die("import", "--threads must be 1..64");
			nthreads = (unsigned long)v;
			break;
		case 's':
			if (!ls_parse_u64(optarg, 256, 16777216, &v) || v % 256)
				return cli_die("import", "--segment-leaves must be a multiple of 256 "
					       "from 256 to 16777216");
			leaves = v;
			break;
		case 'h': fputs(usage_import, stdout); return 0;
		default: fputs(usage_import, stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		fputs(usage_import, stderr);
		return 2;
	}
	if (!nthreads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n < 1 ? 1 : n > 64 ? 64 : (unsigned long)n;
	}
	memset(&lo, 0, sizeof(lo));
	lo.dir = dir;
	/* Short rounds keep the tile writing in step with the parsing instead
	 * of leaving it all to the final checkpoint. */
	lo.checkpoint_interval_ms = 250;
	lo.segment_leaves = leaves;
	rc = log_open(&lo, &im.log, NULL, &err);
	if (rc == LS_BUSY)
		return cli_die("import", "the server is running on this directory (it holds the "
				   "journal): send the events to it with `logseal send`, or stop it");
	if (rc != LS_OK)
		return cli_die("import", err.msg);
	pthread_mutex_init(&im.mu, NULL);
	pthread_cond_init(&im.cv, NULL);
	im.qcap = nthreads * 2;
	im.queue = calloc(im.qcap, sizeof(*im.queue));
	im.qhead = im.qlen = 0;
	im.next_append = 0;
	im.eof = im.failed = 0;
	im.appended = 0;
	im.errmsg[0] = 0;
	if (!im.queue)
		return cli_die("import", "out of memory");
	for (unsigned long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, import_worker, &im);

	for (;;) {
		struct chunk *ch = read_chunk(stdin, batch, &lineno, &line, &lcap, &ioerr);
		if (!ch)
			break;
		pthread_mutex_lock(&im.mu);
		while (im.qlen == im.qcap && !im.failed)
			pthread_cond_wait(&im.cv, &im.mu);
		if (im.failed) {
			pthread_mutex_unlock(&im.mu);
			chunk_free(ch);
			break;
		}
		ch->seq = seq++;
		im.queue[(im.qhead + im.qlen) % im.qcap] = ch;
		im.qlen++;
		pthread_cond_broadcast(&im.cv);
		pthread_mutex_unlock(&im.mu);
	}
	pthread_mutex_lock(&im.mu);
	im.eof = 1;
	pthread_cond_broadcast(&im.cv);
	pthread_mutex_unlock(&im.mu);
	for (unsigned long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	free(line);
	free(im.queue);

	rc = log_close(im.log, &err);
	if (im.failed) {
		fprintf(stderr, "logseal import: %s\n", im.errmsg);
		fprintf(stderr, "logseal import: %llu %s before it %s appended and signed\n",
			(unsigned long long)im.appended, LS_PL(im.appended, "entry", "entries"),
			LS_PL(im.appended, "was", "were"));
		status = 1;
	}
	if (ioerr) {
		fprintf(stderr, "logseal import: reading standard input: %s\n", strerror(ioerr));
		status = 1;
	}
	if (rc != LS_OK)
		return cli_die("import", err.msg);
	if (!status)
		printf("imported %llu %s\n", (unsigned long long)im.appended,
		       LS_PL(im.appended, "entry", "entries"));
	return status;
}
