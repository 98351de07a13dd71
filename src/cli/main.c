/*
 * main.c - the logseal command: dispatches to init, import, verify, serve
 * and token.  Commands print errors on stderr and exit non-zero; every
 * command answers --help.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "cli/client.h"
#include "store/cpindex.h"
#include "base/crypto.h"
#include "core/event.h"
#include "followers/export.h"
#include "base/fsutil.h"
#include "store/keys.h"
#include "store/log.h"
#include "followers/retention.h"
#include "server/serve.h"
#include "followers/verify.h"

#define VERSION "0.1.0"

static const char usage_main[] =
	"usage: logseal <command> [options]\n"
	"\n"
	"commands:\n"
	"  init     create a new log in a data directory (keys, admin token)\n"
	"  import   append NDJSON events from standard input\n"
	"  verify   recompute and check everything in a data or tiles directory\n"
	"  verify-bundle  check an export bundle offline with the verifier key\n"
	"  reindex  rebuild the query index from the journal (server stopped)\n"
	"  serve    run the HTTP(S) server\n"
	"  token    create, list or revoke tokens on a running server\n"
	"  keys     encryption keys: status, rotate (data key, master key)\n"
	"  retention  run a retention pass (archive, purge); place or release legal holds\n"
	"  send     send NDJSON events from standard input to a running server\n"
	"  query    search a running server's events\n"
	"  export   download a verifiable bundle (or CSV/ECS/OCSF) from a server\n"
	"  version  print the version\n"
	"\n"
	"`logseal <command> --help` describes each command's options.\n";

static int die(const char *cmd, const char *msg)
{
	fprintf(stderr, "logseal %s: %s\n", cmd, msg);
	return 1;
}

/* ---------------------------------------------------------------- init --- */

static const char usage_init[] =
	"usage: logseal init --data DIR [--origin NAME] [--self-signed]\n"
	"                    [--master-key-file PATH | --master-key-env |\n"
	"                     --master-key-command CMD | --no-encryption]\n"
	"\n"
	"Creates a new, empty log in DIR: the signing key (DIR/keys/log.key, mode\n"
	"0600), the verifier key (DIR/verifier.key), an admin token\n"
	"(DIR/admin.token, mode 0600), and a signed checkpoint of the empty tree\n"
	"(DIR/log/checkpoint).  Refuses to touch a directory that holds a log.\n"
	"\n"
	"Events are encrypted at rest (AES-256-GCM) under data keys wrapped by a\n"
	"master key kept apart from the data.  By default init creates the master\n"
	"key file DIR.master.key (mode 0600) beside DIR; DIR/keys/master.json\n"
	"records where the key comes from, never the key.\n"
	"\n"
	"  --master-key-file PATH     the master key file (created when missing)\n"
	"  --master-key-env           the master key is in $LOGSEAL_MASTER_KEY\n"
	"                             (base64 of 32 bytes) whenever the log is used\n"
	"  --master-key-command CMD   run CMD to print the master key in base64:\n"
	"                             the hook for a KMS or a vault.  CMD is a\n"
	"                             program and its arguments, run without a\n"
	"                             shell: words split at blanks, '...' and\n"
	"                             \"...\" group, \\ escapes; no $, ;, |, >\n"
	"  --no-encryption            store events in plaintext (benchmarks)\n"
	"  --data DIR      data directory (created if missing)\n"
	"  --origin NAME   the log's origin line and key name (default:\n"
	"                  <hostname>/logseal)\n"
	"  --self-signed   also create a self-signed TLS certificate for trying\n"
	"                  out HTTPS: DIR/tls/cert.pem and DIR/tls/key.pem\n";

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "origin", required_argument, 0, 'o' },
		{ "self-signed", no_argument, 0, 's' },
		{ "master-key-file", required_argument, 0, 'f' },
		{ "master-key-env", no_argument, 0, 'e' },
		{ "master-key-command", required_argument, 0, 'c' },
		{ "no-encryption", no_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL, *origin = NULL;
	char host[256], def_origin[300], path[PATH_MAX], key[PATH_MAX], mkpath[PATH_MAX];
	int selfsigned = 0, c, nsrc = 0, noenc = 0, defkey = 0;
	struct keys_source src = { KEYS_SRC_FILE, NULL };
	struct ls_err err = { "" };
	ls_rc rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'o': origin = optarg; break;
		case 's': selfsigned = 1; break;
		case 'f': src.kind = KEYS_SRC_FILE; src.arg = optarg; nsrc++; break;
		case 'e': src.kind = KEYS_SRC_ENV; src.arg = NULL; nsrc++; break;
		case 'c': src.kind = KEYS_SRC_COMMAND; src.arg = optarg; nsrc++; break;
		case 'n': noenc = 1; nsrc++; break;
		case 'h': fputs(usage_init, stdout); return 0;
		default: fputs(usage_init, stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		fputs(usage_init, stderr);
		return 2;
	}
	if (!origin) {
		if (gethostname(host, sizeof(host)) != 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = 0;
		snprintf(def_origin, sizeof(def_origin), "%s/logseal", host);
		origin = def_origin;
	}
	if (nsrc > 1)
		return die("init", "give at most one of --master-key-file, --master-key-env, "
			   "--master-key-command, --no-encryption");
	if (!noenc) {
		if (!src.arg && src.kind == KEYS_SRC_FILE) {
			size_t n = strlen(dir);

			while (n > 1 && dir[n - 1] == '/')
				n--;
			snprintf(key, sizeof(key), "%.*s.master.key", (int)n, dir);
			src.arg = key;
			defkey = 1;
		}
		/* master.json names the file by an absolute path: the server may
		 * start from another working directory. */
		if (src.kind == KEYS_SRC_FILE && src.arg[0] != '/') {
			char cwd[PATH_MAX];

			if (!getcwd(cwd, sizeof(cwd)))
				return die("init", "cannot get the working directory");
			snprintf(mkpath, sizeof(mkpath), "%s/%s", cwd, src.arg);
			src.arg = mkpath;
		} else if (src.kind == KEYS_SRC_FILE) {
			snprintf(mkpath, sizeof(mkpath), "%s", src.arg);
			src.arg = mkpath;
		}
		rc = keys_init(dir, &src, src.kind == KEYS_SRC_FILE, &err);
		if (rc != LS_OK)
			return die("init", err.msg);
	}
	rc = log_init(dir, origin, &err);
	if (rc != LS_OK)
		return die("init", err.msg);
	rc = auth_bootstrap(dir, &err);
	if (rc != LS_OK)
		return die("init", err.msg);
	if (selfsigned) {
		snprintf(path, sizeof(path), "%s/tls", dir);
		if (fs_mkdirs(path, 0700, &err) != LS_OK)
			return die("init", err.msg);
		snprintf(path, sizeof(path), "%s/tls/cert.pem", dir);
		snprintf(key, sizeof(key), "%s/tls/key.pem", dir);
		rc = tls_make_selfsigned(path, key, "localhost", &err);
		if (rc != LS_OK)
			return die("init", err.msg);
	}
	printf("initialised a new log in %s\n", dir);
	printf("  origin:        %s\n", origin);
	printf("  verifier key:  %s/verifier.key\n", dir);
	printf("  admin token:   %s/admin.token (mode 0600; keep it secret)\n", dir);
	printf("  signing key:   %s/keys/log.key (mode 0600; back it up apart from the data)\n", dir);
	if (noenc)
		printf("  encryption:    off (events are stored in plaintext)\n");
	else if (src.kind == KEYS_SRC_FILE)
		printf("  master key:    %s (mode 0600%s)\n"
		       "                 keep it apart from the data and its backups: whoever\n"
		       "                 holds both can read every event; without it nobody can\n",
		       src.arg, defkey ? ", created beside the data directory" : "");
	else if (src.kind == KEYS_SRC_ENV)
		printf("  master key:    from $%s whenever the log is used\n", KEYS_ENV);
	else
		printf("  master key:    from the command `%s` whenever the log is used\n", src.arg);
	if (selfsigned)
		printf("  TLS:           %s/tls/cert.pem, %s/tls/key.pem (self-signed, for trials)\n",
		       dir, dir);
	return 0;
}

/* -------------------------------------------------------------- import --- */

static const char usage_import[] =
	"usage: logseal import --data DIR [--batch N] [--threads N]\n"
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
	"  --threads N     parsing threads (default: number of CPUs)\n";

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
			if (c->rc == LS_OK && len > JOURNAL_MAX_ENTRY) {
				free(out);
				c->rc = ls_err_set(&err, LS_LIMIT, "entry is %zu bytes, over the %u limit",
						   len, JOURNAL_MAX_ENTRY);
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

static int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "batch", required_argument, 0, 'b' },
		{ "threads", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL;
	unsigned long batch = 1000, nthreads = 0;
	struct ls_err err = { "" };
	struct log_opts lo;
	struct importer im;
	pthread_t th[64];
	uint64_t lineno = 0, seq = 0;
	char *line = NULL, *end;
	size_t lcap = 0;
	int c, ioerr = 0, status = 0;
	ls_rc rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'b':
			errno = 0;
			batch = strtoul(optarg, &end, 10);
			if (errno || *end || batch < 1 || batch > 100000)
				return die("import", "--batch must be 1..100000");
			break;
		case 't':
			errno = 0;
			nthreads = strtoul(optarg, &end, 10);
			if (errno || *end || nthreads < 1 || nthreads > 64)
				return die("import", "--threads must be 1..64");
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
	rc = log_open(&lo, &im.log, NULL, &err);
	if (rc != LS_OK)
		return die("import", err.msg);
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
		return die("import", "out of memory");
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
		fprintf(stderr, "logseal import: %llu entries before it were appended and signed\n",
			(unsigned long long)im.appended);
		status = 1;
	}
	if (ioerr) {
		fprintf(stderr, "logseal import: reading standard input: %s\n", strerror(ioerr));
		status = 1;
	}
	if (rc != LS_OK)
		return die("import", err.msg);
	if (!status)
		printf("imported %llu entries\n", (unsigned long long)im.appended);
	return status;
}

/* -------------------------------------------------------------- verify --- */

static const char usage_verify[] =
	"usage: logseal verify --data DIR\n"
	"       logseal verify --tiles DIR --key VKEY\n"
	"\n"
	"--data: recomputes every leaf hash, tile and root from the journal of a\n"
	"data directory, checks every stored checkpoint's signature and root, and\n"
	"names the first bad record, tile or checkpoint; the outcome is recorded\n"
	"in DIR/state/last-verify.json (the dashboard's integrity page shows it).\n"
	"--tiles: verifies a static C2SP tlog-tiles log (a checkpoint file and its\n"
	"tile/ tree with entry bundles) against a verifier key, given as the key\n"
	"string or a file holding it.\n"
	"Exit status 0 only when everything checks.\n";

/*
 * The outcome of a full verify of a data directory, kept in
 * DIR/state/last-verify.json for the dashboard (GET /v1/integrity): when it
 * ran, whether it passed, what it covered.  Written here and not by the
 * library, so that only a real `logseal verify` run records one.  A
 * directory that is not there is not created; a failure to record is a
 * warning, never a change of the verify's own result (a read-only copy of
 * a data directory can still be verified).  A run refused access to the
 * data (LS_DENIED: a wrong master key, a key file others can read) reached
 * no verdict about the log and leaves the directory untouched, as its
 * message promises; so does one that ran out of memory.
 */
static void record_verify(const char *dir, ls_rc rc, const struct verify_report *rep,
			  const struct ls_err *verr)
{
	char path[PATH_MAX], when[40], root[LS_B64_LEN(32) + 1];
	struct ls_err err = { "" };
	struct timespec now;
	struct stat st;
	json_t *o;
	char *text = NULL;

	if (rc == LS_DENIED || rc == LS_NOMEM || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	event_format_time((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, when, sizeof(when));
	ls_b64_encode(rep->root, 32, root, sizeof(root));
	o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "time", when, "ok", rc == LS_OK,
		      "entries", (json_int_t)rep->entries, "tree_size", (json_int_t)rep->tree_size,
		      "checkpoints", (json_int_t)rep->checkpoints, "tiles", (json_int_t)rep->tiles,
		      "uncovered", (json_int_t)rep->uncovered, "archived",
		      (json_int_t)rep->archived, "purged", (json_int_t)rep->purged);
	if (!o || json_object_set_new(o, "root", rc == LS_OK ? json_string(root) : json_null()) ||
	    json_object_set_new(o, "purged_ranges",
				rep->retention[0] ? json_string(rep->retention) : json_null()) ||
	    json_object_set_new(o, "error", rc == LS_OK ? json_null() :
				json_pack("{s:s,s:s}", "code", ls_rc_name(rc), "message",
					  verr->msg)) ||
	    !(text = json_dumps(o, JSON_COMPACT))) {
		fprintf(stderr, "logseal verify: warning: cannot record the outcome: out of memory\n");
		goto out;
	}
	if (snprintf(path, sizeof(path), "%s/state", dir) >= (int)sizeof(path) ||
	    fs_mkdirs(path, 0700, &err) != LS_OK ||
	    snprintf(path, sizeof(path), "%s/state/last-verify.json", dir) >= (int)sizeof(path) ||
	    cfgseal_write_file(dir, CFGSEAL_VERIFY, path, text, strlen(text), 0600, &err) !=
		    LS_OK)
		fprintf(stderr, "logseal verify: warning: cannot record the outcome in "
			"%s/state/last-verify.json: %s\n", dir, err.msg[0] ? err.msg : "path too long");
out:
	free(text);
	json_decref(o);
}

/* DIR/log/checkpoint as it is now (NULL when unreadable). */
static char *published_note(const char *dir)
{
	char path[PATH_MAX], *note = NULL;
	size_t len;

	if (snprintf(path, sizeof(path), "%s/log/checkpoint", dir) >= (int)sizeof(path) ||
	    fs_read_file(path, NOTE_MAX_SIZE, &note, &len, NULL) != LS_OK)
		return NULL;
	return note;
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "tiles", required_argument, 0, 't' },
		{ "key", required_argument, 0, 'k' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL, *tiles = NULL, *keyarg = NULL;
	struct verify_report rep;
	struct ls_err err = { "" };
	char roothex[65];
	int c, progress = isatty(2);
	ls_rc rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 't': tiles = optarg; break;
		case 'k': keyarg = optarg; break;
		case 'h': fputs(usage_verify, stdout); return 0;
		default: fputs(usage_verify, stderr); return 2;
		}
	}
	if ((!dir == !tiles) || (tiles && !keyarg) || optind != argc) {
		fputs(usage_verify, stderr);
		return 2;
	}
	memset(&rep, 0, sizeof(rep));
	if (dir) {
		/* verify_data_dir() checks a snapshot; still, a failure is only
		 * recorded once a run over a directory that did not move on
		 * meanwhile (the same published checkpoint before and after)
		 * confirms it: a false "tampered" is never written. */
		for (int attempt = 0;; attempt++) {
			char *before = published_note(dir), *after;
			int moved;

			rc = verify_data_dir(dir, progress, &rep, &err);
			after = published_note(dir);
			moved = !before || !after || strcmp(before, after) != 0;
			free(before);
			free(after);
			if (rc == LS_OK || rc == LS_DENIED || rc == LS_NOMEM || !moved || attempt == 4)
				break;
			fprintf(stderr, "logseal verify: the log moved on during the check (%s); "
				"checking again\n", err.msg);
		}
		record_verify(dir, rc, &rep, &err);
	} else {
		struct note_verifier v;

		rc = export_load_verifier(keyarg, &v, &err);
		if (rc != LS_OK)
			return die("verify", err.msg);
		rc = verify_tiles_dir(tiles, &v, progress, &rep, &err);
	}
	if (rc != LS_OK) {
		fprintf(stderr, "logseal verify: FAILED (%s): %s\n", ls_rc_name(rc), err.msg);
		return 1;
	}
	ls_hex(rep.root, 32, roothex);
	printf("verified: %llu entries, %llu signed checkpoints, %llu tile files\n",
	       (unsigned long long)rep.entries, (unsigned long long)rep.checkpoints,
	       (unsigned long long)rep.tiles);
	printf("latest checkpoint: size %llu, root %s\n", (unsigned long long)rep.tree_size,
	       roothex);
	if (rep.archived)
		printf("archived: %llu entries read back from DIR/archive and checked\n",
		       (unsigned long long)rep.archived);
	if (rep.purged)
		printf("purged by policy, not tampering: %s\n", rep.retention);
	if (rep.uncovered)
		printf("note: %llu journal entries are not yet covered by a signed checkpoint "
		       "(the next `serve` or `import` signs them)\n",
		       (unsigned long long)rep.uncovered);
	return 0;
}

/* ---------------------------------------------------------------- keys --- */

static const char usage_keys[] =
	"usage: logseal keys status --data DIR\n"
	"       logseal keys seal-config --data DIR\n"
	"       logseal keys rotate --data DIR [--new-master-key-file PATH |\n"
	"                           --new-master-key-env | --new-master-key-command CMD]\n"
	"\n"
	"                           [--server URL] [--token-file FILE] [--cacert FILE]\n"
	"\n"
	"status: checks the master key and prints where it comes from, how many\n"
	"data keys there are and the newest one (what new segments are sealed with).\n"
	"Works while the server runs.\n"
	"rotate: new events go to a new journal segment under a fresh data key.\n"
	"While the server runs (it holds the journal), the CLI asks it to rotate\n"
	"online (POST /v1/keys/rotate with an admin token: --token-file, else\n"
	"DIR/admin.token, else $LOGSEAL_TOKEN; --server, else $LOGSEAL_URL, else\n"
	"http://127.0.0.1:8080); ingest goes on and the rotation is logged as\n"
	"logseal.keys.rotate.  With --new-master-key-*, every data key is first\n"
	"re-wrapped under the new master key (events are not rewritten) and\n"
	"DIR/keys/master.json names it: that needs the server stopped.\n"
	"--new-master-key-env reads the new key from $LOGSEAL_NEW_MASTER_KEY; from\n"
	"then on the log reads $LOGSEAL_MASTER_KEY.\n"
	"seal-config: migrates a data directory made before configuration files were\n"
	"sealed: seals tokens.json, keys/master.json, alerts/*.json and\n"
	"state/last-verify.json as they are now, and builds checkpoints.index from\n"
	"the signed checkpoints in DIR/checkpoints/.  A file whose seal is wrong is\n"
	"refused, never re-sealed.  Review the files first; stop the server.\n";

/* checkpoints.index from DIR/checkpoints/, each file's signature checked. */
static ls_rc build_cpindex(const char *dir, size_t *count, struct ls_err *err)
{
	char path[PATH_MAX + 64], *vk = NULL, *note = NULL;
	struct cpindex_ent *v = NULL;
	struct note_verifier ver;
	struct dirent **names = NULL;
	uint8_t k[CFGSEAL_KEY_LEN];
	size_t len, n = 0;
	int nn, i;
	ls_rc rc;

	rc = cfgseal_key(dir, CFGSEAL_CHECKPOINTS, k, err);
	if (rc != LS_OK)
		return rc;
	rc = cpindex_load(dir, k, 1, &v, &n, err);
	if (rc != LS_NOTFOUND) {
		free(v);
		*count = rc == LS_OK ? 0 : n;
		ls_wipe(k, sizeof(k));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/verifier.key", dir);
	rc = fs_read_file(path, 4096, &vk, &len, err);
	if (rc != LS_OK)
		return rc;
	while (len && (vk[len - 1] == '\n' || vk[len - 1] == '\r'))
		len--;
	rc = note_verifier_parse(vk, len, &ver, err);
	free(vk);
	if (rc != LS_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/checkpoints", dir);
	nn = scandir(path, &names, NULL, alphasort);
	if (nn < 0)
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	v = calloc((size_t)nn + 1, sizeof(*v));
	if (!v)
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	for (i = 0; rc == LS_OK && i < nn; i++) {
		struct checkpoint cp;
		size_t tl;

		if (strlen(names[i]->d_name) != 20 || strspn(names[i]->d_name, "0123456789") != 20)
			continue;
		snprintf(path, sizeof(path), "%s/checkpoints/%s", dir, names[i]->d_name);
		rc = fs_read_file(path, NOTE_MAX_SIZE, &note, &len, err);
		if (rc == LS_OK)
			rc = note_open(note, len, &ver, 1, &tl, err);
		if (rc == LS_OK)
			rc = checkpoint_parse(note, tl, &cp, err);
		free(note);
		note = NULL;
		if (rc == LS_OK && cp.size != strtoull(names[i]->d_name, NULL, 10))
			rc = ls_err_set(err, LS_TAMPERED, "holds another size");
		if (rc != LS_OK) {
			rc = ls_err_set(err, LS_TAMPERED, "%s: %s", path, err ? err->msg : "");
			break;
		}
		v[n].size = cp.size;
		memcpy(v[n].root, cp.root, LS_HASH_LEN);
		n++;
	}
	for (i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc == LS_OK)
		rc = cpindex_write_all(dir, k, v, n, err);
	ls_wipe(k, sizeof(k));
	free(v);
	*count = n;
	return rc;
}

/* `logseal keys seal-config`: the migration to sealed files (cfgseal.h). */
static int keys_seal_config(const char *dir)
{
	struct ls_err err = { "" };
	char path[PATH_MAX];
	size_t ncp = 0;
	ls_rc rc;

	cfgseal_set_adopt(1);
	rc = keys_seal_master(dir, &err);
	if (rc == LS_OK)
		printf("sealed %s/keys/master.json\n", dir);
	else if (rc != LS_NOTFOUND)
		return die("keys", err.msg);
	for (size_t i = 0; i < cfgseal_nfiles; i++) {
		char *text = NULL;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, cfgseal_files[i].rel);
		rc = cfgseal_read_file(dir, cfgseal_files[i].purpose, path, 64u << 20, &text, &len,
				       &err);
		if (rc == LS_NOTFOUND)
			continue;
		if (rc == LS_OK)
			rc = cfgseal_write_file(dir, cfgseal_files[i].purpose, path, text, len, 0600,
						&err);
		free(text);
		if (rc != LS_OK)
			return die("keys", err.msg);
		printf("sealed %s\n", path);
	}
	rc = build_cpindex(dir, &ncp, &err);
	if (rc != LS_OK)
		return die("keys", err.msg);
	if (ncp)
		printf("recorded %zu signed checkpoints in %s/" CPINDEX_FILE "\n", ncp, dir);
	return 0;
}

/* Offline rotation: the new segment, then its event (as the server logs an
 * online one), the first entry sealed under the new key.  The key ids
 * are the journal's, before and after. */
static ls_rc keys_rotated_event(struct log *l, int rewrapped, struct ls_err *err)
{
	struct event_ctx ctx = { 0 };
	struct event_item it;
	struct timespec now;
	struct iovec iov;
	uint32_t old_id = 0, new_id = 0;
	uint64_t first;
	json_t *d;
	ls_rc rc;

	rc = log_rotate_key_ids(l, &old_id, &new_id, err);
	if (rc != LS_OK)
		return rc;
	clock_gettime(CLOCK_REALTIME, &now);
	ctx.received_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	d = json_pack("{s:I,s:I,s:s,s:b}", "key_id", (json_int_t)new_id, "previous_key_id",
		      (json_int_t)old_id, "by", "logseal keys rotate (offline)", "master_key_rewrapped",
		      rewrapped != 0);
	if (!d)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = event_internal("logseal.keys.rotate", "logseal", NULL, "success", d, &ctx, &it);
	json_decref(d);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot build the logseal.keys.rotate event");
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(l, &iov, 1, &first, err);
	event_item_release(&it);
	return rc;
}

static int cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "new-master-key-file", required_argument, 0, 'f' },
		{ "new-master-key-env", no_argument, 0, 'e' },
		{ "new-master-key-command", required_argument, 0, 'c' },
		{ "server", required_argument, 0, 'S' },
		{ "token-file", required_argument, 0, 'T' },
		{ "cacert", required_argument, 0, 'C' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL, *sub, *server = NULL, *token_file = NULL, *cacert = NULL;
	struct keys_source src = { 0, NULL };
	char mkpath[PATH_MAX];
	struct ls_err err = { "" };
	struct log_opts lo;
	struct log *l = NULL;
	struct keyring *kr;
	int c, nsrc = 0;
	ls_rc rc;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && !strcmp(argv[1], "--help")) {
			fputs(usage_keys, stdout);
			return 0;
		}
		fputs(usage_keys, stderr);
		return 2;
	}
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': src.kind = KEYS_SRC_FILE; src.arg = optarg; nsrc++; break;
		case 'e': src.kind = KEYS_SRC_ENV; src.arg = "LOGSEAL_NEW_MASTER_KEY"; nsrc++; break;
		case 'c': src.kind = KEYS_SRC_COMMAND; src.arg = optarg; nsrc++; break;
		case 'S': server = optarg; break;
		case 'T': token_file = optarg; break;
		case 'C': cacert = optarg; break;
		case 'h': fputs(usage_keys, stdout); return 0;
		default: fputs(usage_keys, stderr); return 2;
		}
	}
	if (!dir || optind != argc || nsrc > 1 ||
	    (strcmp(sub, "rotate") != 0 && strcmp(sub, "status") != 0 &&
	     strcmp(sub, "seal-config") != 0) ||
	    (nsrc && strcmp(sub, "rotate") != 0)) {
		fputs(usage_keys, stderr);
		return 2;
	}
	if (src.kind == KEYS_SRC_FILE) {
		char cwd[PATH_MAX];

		if (src.arg[0] != '/' && getcwd(cwd, sizeof(cwd)))
			snprintf(mkpath, sizeof(mkpath), "%s/%s", cwd, src.arg);
		else
			snprintf(mkpath, sizeof(mkpath), "%s", src.arg);
		src.arg = mkpath;
	}
	if (!strcmp(sub, "seal-config"))
		return keys_seal_config(dir);
	if (!strcmp(sub, "status")) {
		/* Reads keys/ only (no journal lock): also beside a running
		 * server, whose new data keys are durable in datakeys.json
		 * before they are used. */
		uint8_t k[KEYS_KEY_LEN];
		uint32_t id = 0;

		rc = keys_get(dir, &kr, &err);
		if (rc == LS_NOTFOUND)
			return die("keys", "this log is not encrypted (it was made with "
					   "--no-encryption)");
		if (rc == LS_OK)
			rc = keys_current(kr, &id, k, &err);
		ls_wipe(k, sizeof(k));
		if (rc != LS_OK)
			return die("keys", err.msg);
		printf("master key:  %s (checked)\n", keys_source_desc(kr));
		printf("data keys:   %zu\n", keys_count(kr));
		printf("newest:      data key %u (new segments are sealed with it)\n", id);
		return 0;
	}
	/* The open log holds the journal's lock for the whole rotation and
	 * has checked the current master key. */
	memset(&lo, 0, sizeof(lo));
	lo.dir = dir;
	lo.no_threads = 1;
	rc = log_open(&lo, &l, NULL, &err);
	if (rc == LS_BUSY && !nsrc)
		return keys_rotate_online(dir, server, token_file, cacert);
	if (rc == LS_BUSY)
		return die("keys", "the server is running: re-wrapping the data keys under a new "
				   "master key needs it stopped (a new data key alone works online: "
				   "`logseal keys rotate --data DIR`)");
	if (rc != LS_OK)
		return die("keys", err.msg);
	rc = keys_get(dir, &kr, &err);
	if (rc == LS_NOTFOUND) {
		log_close(l, NULL);
		return die("keys", "this log is not encrypted (it was made with --no-encryption)");
	}
	if (rc == LS_OK && !strcmp(sub, "rotate")) {
		if (nsrc) {
			rc = keys_rewrap(dir, &src, src.kind == KEYS_SRC_FILE, &err);
			if (rc == LS_OK)
				printf("re-wrapped %zu data keys under the master key from %s\n",
				       keys_count(kr), keys_source_desc(kr));
		}
		if (rc == LS_OK)
			rc = keys_rotated_event(l, nsrc, &err);
		if (rc == LS_OK)
			printf("new events will be written under a new data key (%zu data keys)\n",
			       keys_count(kr));
	}
	if (rc != LS_OK) {
		log_close(l, NULL);
		return die("keys", err.msg);
	}
	rc = log_close(l, &err);
	if (rc != LS_OK)
		return die("keys", err.msg);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("logseal %s\n", VERSION);
		return 0;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(argc - 1, argv + 1);
	if (!strcmp(cmd, "import"))
		return cmd_import(argc - 1, argv + 1);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(argc - 1, argv + 1);
	if (!strcmp(cmd, "keys"))
		return cmd_keys(argc - 1, argv + 1);
	if (!strcmp(cmd, "send"))
		return send_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "query"))
		return query_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "export"))
		return export_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "verify-bundle"))
		return verify_bundle_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "reindex"))
		return reindex_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return serve_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "retention"))
		return retention_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "token"))
		return token_main(argc - 1, argv + 1);
	fprintf(stderr, "logseal: unknown command \"%s\"\n\n%s", cmd, usage_main);
	return 2;
}
