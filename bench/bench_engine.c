/*
 * bench_engine.c - the log engine's speed without HTTP, next to this
 * machine's own limits measured in the same run.
 *
 *	bench_engine --dir DIR [--logseal BIN] [--results FILE]
 *	             [--seconds S] [--max N] [--threads 1,4] [--batches 1,100,1000]
 *
 * Prints, as aligned lines:
 *  1. baselines: OpenSSL SHA-256 through ls_sha256() over 350-byte inputs
 *     (hashes/s, GB/s) and over 1 MiB buffers (GB/s); plain write() +
 *     fdatasync() of batches of 1, 100 and 1000 350-byte records appended
 *     to a file in DIR, i.e. on the disk the log uses (entries/s);
 *  2. log_append() throughput for every batch size x appender-thread count,
 *     each on a fresh log in DIR, durable as log_append() guarantees, in
 *     entries/s and MB/s, with per-call latency, and as a fraction of the
 *     smaller of the two limits for that batch size;
 *  3. `logseal verify --data` on the largest log written, in entries/s.
 *
 * With --results, "key value" lines go to FILE for bench/run.sh's summary.
 *
 * Invariants:
 *  1. Every run is bounded both by time (--seconds) and by entry count
 *     (--max, shared by the run's threads), so the whole program stays
 *     within a predictable time and disk space whatever the machine.
 *  2. Only DIR is written to; each run's log is removed once measured,
 *     except the one kept for verify, which is removed after it.
 *  3. Any engine error, short log or failed verify ends the program with a
 *     non-zero status and a message on stderr: a benchmark of a broken
 *     engine is worthless.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_event.h"
#include "bench_util.h"
#include "base/crypto.h"
#include "store/log.h"

#define MAX_LIST 8
#define POOL_ENTRIES 8192    /* distinct events per appender thread */
#define ENTRY_BYTES 350	     /* the baselines' record size */
#define MAX_LAT_SAMPLES (1u << 22)

struct opts {
	const char *dir;
	const char *logseal;
	const char *results;
	double seconds;
	uint64_t max_entries;
	int threads[MAX_LIST];
	int nthreads;
	int batches[MAX_LIST];
	int nbatches;
};

static FILE *results_fp;

static void result(const char *key, double v)
{
	if (results_fp) {
		fprintf(results_fp, "%s %.6f\n", key, v);
		fflush(results_fp);
	}
}

static int rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

static void rm_tree(const char *path)
{
	/* bench/run.sh removes everything at the end instead: on this VM's
	 * ext4 (no journal), creating files right after mass deletes is slow
	 * for a while, which would skew the figures that follow. */
	if (getenv("BENCH_DEFER_CLEANUP"))
		return;
	if (path && *path)
		nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int parse_list(const char *s, int *out, int *n)
{
	char *end;

	*n = 0;
	while (*s) {
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || v == 0 || v > 100000 || *n >= MAX_LIST)
			return -1;
		out[(*n)++] = (int)v;
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return *n ? 0 : -1;
}

static double pct(const double *sorted, size_t n, double p)
{
	return n ? sorted[bench_pct_index(n, p)] : 0;
}

/* ---------------------------------------------------------------- baselines */

struct limits {
	double sha_eps;		/* 350-byte hashes per second */
	double wsync_eps[MAX_LIST]; /* per batch size, entries per second */
};

static volatile uint8_t sink;

static void bench_sha(const struct opts *o, struct limits *lim)
{
	uint8_t in[ENTRY_BYTES], out[LS_HASH_LEN];
	double secs = o->seconds < 1 ? o->seconds : 1, t0, t;
	uint64_t n = 0;
	size_t big = 1u << 20;
	uint8_t *buf;
	char c[32];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	t0 = bench_now();
	do {
		for (int i = 0; i < 20000; i++) {
			in[0] = (uint8_t)i;
			ls_sha256(in, sizeof(in), NULL, 0, out);
			sink ^= out[0];
		}
		n += 20000;
		t = bench_now();
	} while (t - t0 < secs);
	lim->sha_eps = (double)n / (t - t0);
	printf("  %-40s %12s hashes/s  %7.2f GB/s\n", "SHA-256 (ls_sha256) 350-byte inputs",
	       bench_commas(lim->sha_eps, c, sizeof(c)), lim->sha_eps * ENTRY_BYTES / 1e9);
	result("sha350_hps", lim->sha_eps);
	result("sha350_gbs", lim->sha_eps * ENTRY_BYTES / 1e9);

	buf = malloc(big);
	if (!buf) {
		fprintf(stderr, "bench_engine: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 13 + 5);
	n = 0;
	t0 = bench_now();
	do {
		for (int i = 0; i < 16; i++) {
			buf[0] = (uint8_t)i;
			ls_sha256(buf, big, NULL, 0, out);
			sink ^= out[0];
		}
		n += 16;
		t = bench_now();
	} while (t - t0 < secs);
	free(buf);
	printf("  %-40s %12s          %7.2f GB/s\n", "SHA-256 (ls_sha256) 1 MiB buffers", "",
	       (double)n * (double)big / (t - t0) / 1e9);
	result("sha1m_gbs", (double)n * (double)big / (t - t0) / 1e9);
}

/* Appends batch records of ENTRY_BYTES to a new file with one write() and
 * one fdatasync() each, as a journal without framing or hashing would.
 * Returns entries per second; prints a line unless quiet. */
static double bench_wsync(const struct opts *o, int batch, double secs, int quiet)
{
	char path[PATH_MAX], c[32], label[64];
	size_t len = (size_t)batch * ENTRY_BYTES;
	double t0, t;
	uint64_t n = 0, syncs = 0;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/wsync.tmp", o->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	buf = malloc(len);
	if (fd < 0 || !buf) {
		fprintf(stderr, "bench_engine: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)('a' + i % 26);
	t0 = bench_now();
	do {
		size_t off = 0;

		while (off < len) {
			ssize_t w = write(fd, buf + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fprintf(stderr, "bench_engine: write %s: %s\n", path, strerror(errno));
				exit(1);
			}
			off += (size_t)w;
		}
		if (fdatasync(fd) != 0) {
			fprintf(stderr, "bench_engine: fdatasync %s: %s\n", path, strerror(errno));
			exit(1);
		}
		n += (uint64_t)batch;
		syncs++;
		t = bench_now();
	} while (t - t0 < secs && n < o->max_entries);
	close(fd);
	unlink(path);
	free(buf);
	if (!quiet) {
		snprintf(label, sizeof(label), "write+fdatasync, batches of %d x %d B", batch,
			 ENTRY_BYTES);
		printf("  %-40s %12s entries/s %7.1f MB/s  %8.0f syncs/s\n", label,
		       bench_commas((double)n / (t - t0), c, sizeof(c)),
		       (double)n * ENTRY_BYTES / (t - t0) / 1e6, (double)syncs / (t - t0));
		snprintf(label, sizeof(label), "wsync_%d_eps", batch);
		result(label, (double)n / (t - t0));
	}
	return (double)n / (t - t0);
}

/* ----------------------------------------------------------------- appends */

struct worker {
	struct log *log;
	int batch;
	uint64_t quota;
	char *pool;		/* POOL_ENTRIES events back to back */
	struct iovec *entries;	/* one per pool event */
	uint64_t done;
	uint64_t busy;
	double *lat;
	size_t nlat;
	ls_rc rc;
	struct ls_err err;
	pthread_t th;
};

static atomic_int stop_flag;
static atomic_int finished;

static void *append_main(void *arg)
{
	struct worker *w = arg;
	struct iovec *iov = calloc((size_t)w->batch, sizeof(*iov));
	size_t p = 0;

	if (!iov) {
		w->rc = ls_err_set(&w->err, LS_NOMEM, "out of memory");
		atomic_store(&stop_flag, 1);
		atomic_fetch_add(&finished, 1);
		return NULL;
	}
	while (!atomic_load(&stop_flag) && w->done < w->quota) {
		uint64_t first;
		double t0, t1;
		ls_rc rc;

		for (int i = 0; i < w->batch; i++) {
			iov[i] = w->entries[p];
			p = (p + 1) % POOL_ENTRIES;
		}
		t0 = bench_now();
		rc = log_append(w->log, iov, (size_t)w->batch, &first, &w->err);
		t1 = bench_now();
		if (rc == LS_BUSY) {
			/* The queue is bounded by design; a saturated engine is
			 * a measurement, not an error. */
			w->busy++;
			sched_yield();
			continue;
		}
		if (rc != LS_OK) {
			w->rc = rc;
			atomic_store(&stop_flag, 1);
			break;
		}
		w->done += (uint64_t)w->batch;
		if (w->nlat < MAX_LAT_SAMPLES)
			w->lat[w->nlat++] = t1 - t0;
	}
	free(iov);
	atomic_fetch_add(&finished, 1);
	return NULL;
}

static int make_pool(struct worker *w, uint64_t seed)
{
	uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	time_t base = time(NULL);
	size_t off = 0;

	w->pool = malloc((size_t)POOL_ENTRIES * BENCH_EVENT_CAP);
	w->entries = calloc(POOL_ENTRIES, sizeof(*w->entries));
	w->lat = malloc(MAX_LAT_SAMPLES * sizeof(double));
	if (!w->pool || !w->entries || !w->lat)
		return -1;
	for (size_t i = 0; i < POOL_ENTRIES; i++) {
		size_t n = bench_event(w->pool + off, BENCH_EVENT_CAP, &rng,
				       base + (time_t)(i / 1000), (long)((i * 997) % 1000000));
		if (!n)
			return -1;
		w->entries[i].iov_base = w->pool + off;
		w->entries[i].iov_len = n;
		off += BENCH_EVENT_CAP;
	}
	return 0;
}

static void free_pool(struct worker *w)
{
	free(w->pool);
	free(w->entries);
	free(w->lat);
}

static double pool_mean_bytes(const struct worker *w)
{
	double s = 0;

	for (size_t i = 0; i < POOL_ENTRIES; i++)
		s += (double)w->entries[i].iov_len;
	return s / POOL_ENTRIES;
}

struct run_result {
	uint64_t entries;
	char dir[PATH_MAX];
};

/*
 * One log_append() run on a fresh log.  The disk's write+fdatasync rate at
 * the same batch size is measured just before and just after it, and the
 * mean taken as the disk limit for this run: shared or virtual disks vary
 * several-fold from one second to the next, so a limit measured minutes
 * earlier would make the fraction meaningless.
 */
static int run_append(const struct opts *o, int batch, int nthreads, double sha_eps,
		      struct worker *ws, struct run_result *res)
{
	static int run_no;
	double disk_before, disk_after, disk, limit;
	double bsecs = o->seconds / 2 < 1 ? o->seconds / 2 : 1;
	struct log_opts lo;
	struct store_recovery rec;
	struct log *l = NULL;
	struct ls_err err = {{0}};
	double t0, t1, tc, *all, p50, p99, bytes = 0;
	uint64_t total = 0, busy = 0;
	size_t nall = 0;
	char label[64], key[64], c[32];
	ls_rc rc;

	snprintf(res->dir, sizeof(res->dir), "%s/log-%d-b%d-t%d", o->dir, ++run_no, batch,
		 nthreads);
	rm_tree(res->dir);
	rc = log_init(res->dir, "bench.logseal.example/engine", &err);
	if (rc != LS_OK) {
		fprintf(stderr, "bench_engine: log_init %s: %s: %s\n", res->dir, ls_rc_name(rc),
			err.msg);
		return -1;
	}
	memset(&lo, 0, sizeof(lo));
	lo.dir = res->dir;
	lo.no_threads = 0;
	memset(&rec, 0, sizeof(rec));
	rc = log_open(&lo, &l, &rec, &err);
	if (rc != LS_OK) {
		fprintf(stderr, "bench_engine: log_open %s: %s: %s\n", res->dir, ls_rc_name(rc),
			err.msg);
		return -1;
	}

	disk_before = bench_wsync(o, batch, bsecs, 1);
	atomic_store(&stop_flag, 0);
	atomic_store(&finished, 0);
	for (int i = 0; i < nthreads; i++) {
		ws[i].log = l;
		ws[i].batch = batch;
		/* Whole batches only, at least one per thread. */
		ws[i].quota = o->max_entries / (uint64_t)nthreads / (uint64_t)batch * (uint64_t)batch;
		if (ws[i].quota < (uint64_t)batch)
			ws[i].quota = (uint64_t)batch;
		ws[i].done = ws[i].busy = 0;
		ws[i].nlat = 0;
		ws[i].rc = LS_OK;
		ws[i].err.msg[0] = '\0';
	}
	t0 = bench_now();
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&ws[i].th, NULL, append_main, &ws[i]) != 0) {
			fprintf(stderr, "bench_engine: pthread_create failed\n");
			exit(1);
		}
	}
	while (atomic_load(&finished) < nthreads && bench_now() - t0 < o->seconds) {
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(ws[i].th, NULL);
	t1 = bench_now();

	for (int i = 0; i < nthreads; i++) {
		if (ws[i].rc != LS_OK) {
			fprintf(stderr, "bench_engine: log_append (batch %d, thread %d): %s: %s\n",
				batch, i, ls_rc_name(ws[i].rc), ws[i].err.msg);
			log_close(l, NULL);
			return -1;
		}
		total += ws[i].done;
		busy += ws[i].busy;
		nall += ws[i].nlat;
	}
	/* Each thread cycles through its pool, so its mean entry size times
	 * its count is the payload it wrote, to well under a percent. */
	for (int i = 0; i < nthreads; i++) {
		double mean = pool_mean_bytes(&ws[i]);
		bytes += mean * (double)ws[i].done;
	}
	if (log_size(l) != total) {
		fprintf(stderr, "bench_engine: log_size %" PRIu64 " after %" PRIu64
			" acknowledged entries\n", log_size(l), total);
		log_close(l, NULL);
		return -1;
	}
	all = malloc((nall ? nall : 1) * sizeof(double));
	if (!all) {
		fprintf(stderr, "bench_engine: out of memory\n");
		exit(1);
	}
	nall = 0;
	for (int i = 0; i < nthreads; i++) {
		memcpy(all + nall, ws[i].lat, ws[i].nlat * sizeof(double));
		nall += ws[i].nlat;
	}
	qsort(all, nall, sizeof(double), bench_cmp_double);
	p50 = pct(all, nall, 0.50);
	p99 = pct(all, nall, 0.99);
	free(all);

	/* log_close() signs the last checkpoint and brings the tiles up to
	 * date: timed apart, since appends are durable before it. */
	tc = bench_now();
	rc = log_close(l, &err);
	tc = bench_now() - tc;
	if (rc != LS_OK) {
		fprintf(stderr, "bench_engine: log_close %s: %s: %s\n", res->dir, ls_rc_name(rc),
			err.msg);
		return -1;
	}

	disk_after = bench_wsync(o, batch, bsecs, 1);
	disk = (disk_before + disk_after) / 2;
	limit = sha_eps < disk ? sha_eps : disk;

	snprintf(label, sizeof(label), "log_append batch %4d, %d thread%s", batch, nthreads,
		 nthreads > 1 ? "s" : "");
	printf("  %-40s %12s entries/s %7.1f MB/s  %5.2f of limit  p50 %7.3f ms  p99 %7.3f ms"
	       "  close %.2f s%s\n",
	       label, bench_commas((double)total / (t1 - t0), c, sizeof(c)), bytes / (t1 - t0) / 1e6,
	       (double)total / (t1 - t0) / limit, p50 * 1e3, p99 * 1e3, tc,
	       busy ? " (saw LS_BUSY)" : "");
	printf("  %-40s limit %s entries/s = min(SHA-256 %s, ", "", bench_commas(limit, c, sizeof(c)),
	       bench_commas(sha_eps, key, sizeof(key)));
	printf("disk %s before / ", bench_commas(disk_before, c, sizeof(c)));
	printf("%s after)\n", bench_commas(disk_after, c, sizeof(c)));
	snprintf(key, sizeof(key), "limit_b%d_t%d_eps", batch, nthreads);
	result(key, limit);
	snprintf(key, sizeof(key), "append_b%d_t%d_eps", batch, nthreads);
	result(key, (double)total / (t1 - t0));
	snprintf(key, sizeof(key), "append_b%d_t%d_frac", batch, nthreads);
	result(key, (double)total / (t1 - t0) / limit);
	snprintf(key, sizeof(key), "append_b%d_t%d_incl_close_eps", batch, nthreads);
	result(key, (double)total / (t1 - t0 + tc));
	res->entries = total;
	return 0;
}

/* ------------------------------------------------------------------ verify */

static int run_verify(const struct opts *o, const struct run_result *r)
{
	char out[PATH_MAX], c[32];
	double t0, t;
	pid_t pid;
	int status;

	snprintf(out, sizeof(out), "%s/verify.out", o->dir);
	t0 = bench_now();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench_engine: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(o->logseal, o->logseal, "verify", "--data", r->dir, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "bench_engine: waitpid: %s\n", strerror(errno));
			return -1;
		}
	}
	t = bench_now() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char line[512];
		FILE *f = fopen(out, "r");

		fprintf(stderr, "bench_engine: %s verify --data %s failed (status %d):\n", o->logseal,
			r->dir, WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "  %s", line);
		if (f)
			fclose(f);
		return -1;
	}
	unlink(out);
	printf("  %-40s %12s entries/s  (%s entries in %.2f s, page cache warm)\n",
	       "logseal verify --data", bench_commas((double)r->entries / t, c, sizeof(c)),
	       bench_commas((double)r->entries, out, sizeof(out)), t);
	result("verify_eps", (double)r->entries / t);
	return 0;
}

/* -------------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_engine --dir DIR [--logseal BIN] [--results FILE] [--seconds S]\n"
		"                    [--max N] [--threads 1,4] [--batches 1,100,1000]\n"
		"  DIR must exist; each run writes a fresh log under it and removes it.\n"
		"  --seconds  time bound of each run (default 2)\n"
		"  --max      entry bound of each run, over all its threads (default 3000000)\n"
		"  --logseal  binary used for the verify figure (default build/logseal)\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->logseal = "build/logseal";
	o->seconds = 2;
	o->max_entries = 3000000;
	parse_list("1,4", o->threads, &o->nthreads);
	parse_list("1,100,1000", o->batches, &o->nbatches);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			exit(0);
		}
		if (!v)
			return -1;
		i++;
		errno = 0;
		if (!strcmp(a, "--dir")) {
			o->dir = v;
		} else if (!strcmp(a, "--logseal")) {
			o->logseal = v;
		} else if (!strcmp(a, "--results")) {
			o->results = v;
		} else if (!strcmp(a, "--seconds")) {
			o->seconds = strtod(v, &end);
			if (errno || *end || !(o->seconds > 0 && o->seconds <= 3600))
				return -1;
		} else if (!strcmp(a, "--max")) {
			o->max_entries = strtoull(v, &end, 10);
			if (errno || *end || v[0] == '-' || o->max_entries == 0)
				return -1;
		} else if (!strcmp(a, "--threads")) {
			if (parse_list(v, o->threads, &o->nthreads))
				return -1;
		} else if (!strcmp(a, "--batches")) {
			if (parse_list(v, o->batches, &o->nbatches))
				return -1;
		} else {
			return -1;
		}
	}
	return o->dir ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct limits lim;
	struct worker *ws;
	struct run_result best = {0}, cur;
	int maxthreads = 1;
	char c[32];

	if (parse_args(argc, argv, &o)) {
		usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (o.results) {
		results_fp = fopen(o.results, "a");
		if (!results_fp) {
			fprintf(stderr, "bench_engine: %s: %s\n", o.results, strerror(errno));
			return 1;
		}
	}
	memset(&lim, 0, sizeof(lim));

	printf("baselines (this machine, this run; single thread)\n");
	bench_sha(&o, &lim);
	for (int b = 0; b < o.nbatches; b++)
		lim.wsync_eps[b] = bench_wsync(&o, o.batches[b], o.seconds < 1 ? o.seconds : 1, 0);

	for (int t = 0; t < o.nthreads; t++)
		if (o.threads[t] > maxthreads)
			maxthreads = o.threads[t];
	ws = calloc((size_t)maxthreads, sizeof(*ws));
	if (!ws) {
		fprintf(stderr, "bench_engine: out of memory\n");
		return 1;
	}
	for (int i = 0; i < maxthreads; i++) {
		if (make_pool(&ws[i], (uint64_t)i + 1)) {
			fprintf(stderr, "bench_engine: out of memory\n");
			return 1;
		}
	}
	printf("\nlog_append (library, no HTTP; durable on return; entries of ~%.0f B;\n"
	       "  limit = min(SHA-256 350-B hashes/s, write+fdatasync entries/s at that batch size\n"
	       "  measured just before and after the run);\n"
	       "  each run bounded by %.1f s or %s entries)\n",
	       pool_mean_bytes(&ws[0]), o.seconds, bench_commas((double)o.max_entries, c, sizeof(c)));
	for (int b = 0; b < o.nbatches; b++) {
		for (int t = 0; t < o.nthreads; t++) {
			if (run_append(&o, o.batches[b], o.threads[t], lim.sha_eps, ws, &cur))
				return 1;
			if (cur.entries > best.entries) {
				rm_tree(best.dir);
				best = cur;
			} else {
				rm_tree(cur.dir);
			}
		}
	}
	for (int i = 0; i < maxthreads; i++)
		free_pool(&ws[i]);
	free(ws);

	printf("\nverify (CLI on the largest log above)\n");
	if (!best.entries) {
		fprintf(stderr, "bench_engine: no run appended anything\n");
		return 1;
	}
	if (run_verify(&o, &best)) {
		rm_tree(best.dir);
		return 1;
	}
	rm_tree(best.dir);
	if (results_fp)
		fclose(results_fp);
	return 0;
}
