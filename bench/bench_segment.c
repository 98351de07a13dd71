/*
 * bench_segment.c - the sealed segment format's figures, to choose its
 * block size (entry bundles per block) and zstd level by measurement
 * (docs/FORMAT.md §11 quotes the result).
 *
 *	bench_segment [--dir DIR] [--entries N] [--reads R] [--shape bench|k8s|both]
 *	              [--ks 1,4,16] [--levels 1,3,6,9] [--dict]
 *
 * For each shape of event, stored as the server stores it (canonical JSON
 * out of event_batch_parse / event_k8s_parse, with the server's fields):
 *   bench  bench_event.h's ~350-byte events (the shape of every other figure);
 *   k8s    the two Kubernetes audit events of /work/shared/testdata/k8s
 *          (exec into a pod, create a configmap), with users, namespaces,
 *          names, audit ids, addresses and times varied per event;
 * and for each block size k in {1, 4, 16} bundles and zstd level in
 * {1, 3, 6, 9} (plaintext; then the chosen pair encrypted), one segment of
 * N entries (default 65536, the default segment) is written into DIR and
 * read back.  Printed per row:
 *   B/entry   compressed block bytes per entry (blocks only), and the whole
 *             file per entry (adds the 32-byte leaf hash, the table, header
 *             and footer);
 *   write     raw entry MB per CPU second of segment_write() (the CPU
 *             the fsync and rename cost included, not the wait for the
 *             disk: rates per CPU second, here and for scan and verify,
 *             hold on a machine shared with other work);
 *   get       p50 / p99 of segment_get() of R random entries (each in
 *             another block than the last, so each decodes a block: the
 *             cold-cache cost of one entry), microseconds;
 *   bundle    p50 of segment_bundle() of random bundles, microseconds;
 *   scan      entries per CPU second of the sequential iterator over the
 *             whole segment;
 *   verify    entries per CPU second of segment_verify() (page cache warm).
 * With --dict: bytes/entry when each block is compressed with a zstd
 * dictionary trained on the first 8,192 entries (information: the format
 * has no dictionary).
 *
 * Invariants:
 *  1. Every entry read back is compared with what was written; a mismatch
 *     or any error ends the program with a non-zero status.
 *  2. Only DIR is written to, and each segment is removed once measured.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <zdict.h>
#include <zstd.h>

#include "bench_event.h"
#include "bench_util.h"
#include "base/crypto.h"
#include "core/event.h"
#include "core/merkle.h"
#include "store/keys.h"
#include "store/segment.h"

#define K8S_DIR "/work/shared/testdata/k8s"

/* Seconds of CPU this process has used: rates per CPU second do not
 * depend on how busy the shared machine is (the program is one thread). */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_segment: %s: %s\n", what, msg);
	exit(1);
}

struct set {
	uint32_t n;
	struct iovec *e;
	uint8_t (*h)[LS_HASH_LEN];
	size_t raw;
};

static void set_add(struct set *s, const char *json, size_t len)
{
	void *p = malloc(len);

	if (!p)
		die("malloc", strerror(errno));
	memcpy(p, json, len);
	s->e[s->n].iov_base = p;
	s->e[s->n].iov_len = len;
	merkle_leaf_hash(p, len, s->h[s->n]);
	s->raw += len;
	s->n++;
}

static void set_init(struct set *s, uint32_t n)
{
	memset(s, 0, sizeof(*s));
	s->e = calloc(n, sizeof(*s->e));
	s->h = calloc(n, sizeof(*s->h));
	if (!s->e || !s->h)
		die("calloc", strerror(errno));
}

static void set_free(struct set *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->e[i].iov_base);
	free(s->e);
	free(s->h);
}

/* The bench shape, through the native parser as a writer's batch. */
static void make_bench(struct set *s, uint32_t n)
{
	uint64_t rng = 42;
	time_t t0 = 1767225600;
	char buf[BENCH_EVENT_CAP];

	set_init(s, n);
	for (uint32_t i = 0; i < n; i++) {
		struct event_ctx ctx = { .writer = "tok_bench01", .remote_ip = "10.1.2.3",
					 .received_us = (int64_t)(t0 + i / 730) * 1000000 +
							(int64_t)(i % 730) * 1370 + 211 };
		struct event_batch b = { 0 };
		struct event_error e;
		size_t len = bench_event(buf, sizeof(buf), &rng, t0 + i / 730,
					 (long)(i % 730) * 1370);

		if (event_batch_parse(buf, len, EVENT_BODY_JSON, EVENT_FORMAT_NATIVE, &ctx, &b, &e) !=
		    LS_OK || b.n != 1)
			die("event_batch_parse", e.reason);
		set_add(s, b.items[0].json, b.items[0].len);
		event_batch_release(&b);
	}
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *b = malloc(1 << 16);
	size_t n;

	if (!f || !b)
		die(path, strerror(errno));
	n = fread(b, 1, (1 << 16) - 1, f);
	fclose(f);
	b[n] = '\0';
	return b;
}

/* Replace the first occurrence of from in *s by to (for the k8s templates). */
static void subst(char *s, size_t cap, const char *from, const char *to)
{
	char *p = strstr(s, from);
	size_t fl = strlen(from), tl = strlen(to), rest;

	if (!p)
		return;
	rest = strlen(p + fl);
	if ((size_t)(p - s) + tl + rest + 1 > cap)
		return;
	memmove(p + tl, p + fl, rest + 1);
	memcpy(p, to, tl);
}

static void make_k8s(struct set *s, uint32_t n)
{
	static const char *const users[] = { "minikube-user", "alice@example.com",
					     "system:serviceaccount:kube-system:deployment-controller",
					     "bob@example.com", "system:kube-scheduler", "ci-deployer" };
	static const char *const nss[] = { "default", "kube-system", "payments", "web", "monitoring" };
	char *tpl[2] = { read_text(K8S_DIR "/exec_pod.json"),
			 read_text(K8S_DIR "/create_configmap.json") };
	uint64_t rng = 7;

	set_init(s, n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t r = bench_rand(&rng), r2 = bench_rand(&rng);
		int which = (r & 3) == 0;	/* a quarter are configmap writes */
		char body[8192], id[40], ts[40], us[40], name[64], ip[32];
		time_t sec = 1767225600 + i / 500;
		struct tm tm;
		struct event_ctx ctx = { .writer = "tok_k8s_apiserver", .remote_ip = "10.0.0.5",
					 .received_us = (int64_t)sec * 1000000 + (i % 500) * 2000 };
		struct event_batch b = { 0 };
		struct event_error e;

		snprintf(body, sizeof(body), "%s", tpl[which]);
		snprintf(id, sizeof(id), "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)r,
			 (unsigned)(r >> 32) & 0xffff, (unsigned)(r >> 48) & 0xfff,
			 (unsigned)r2 & 0xfff, (unsigned long long)(r2 >> 16) & 0xffffffffffffull);
		gmtime_r(&sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		strftime(us, sizeof(us), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(us + strlen(us), sizeof(us) - strlen(us), ".%06uZ", (i % 500) * 2000 + 17);
		snprintf(name, sizeof(name), which ? "cfg-%u" : "nginx-%x-%05x",
			 (unsigned)(r2 % 300), (unsigned)(r2 >> 40) & 0xfffff);
		snprintf(ip, sizeof(ip), "192.168.%u.%u", (unsigned)(r >> 20) % 4,
			 1 + (unsigned)(r >> 24) % 250);
		subst(body, sizeof(body), which ? "155b887c-c27c-4fdb-9667-999f74512d0a"
						: "ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6", id);
		for (int k = 0; k < 4; k++)
			subst(body, sizeof(body), which ? "2018-10-26T13:13:03Z" : "2018-10-26T13:38:34Z",
			      ts);
		subst(body, sizeof(body), which ? "2018-10-26T13:13:03.539180Z"
						: "2018-10-26T13:38:34.867116Z", us);
		subst(body, sizeof(body), which ? "2018-10-26T13:13:03.544952Z"
						: "2018-10-26T13:38:34.902914Z", us);
		subst(body, sizeof(body), "minikube-user", users[(r >> 8) % 6]);
		{
			char q[40], path[64];

			snprintf(q, sizeof(q), "\"%s\"", nss[(r >> 12) % 5]);
			snprintf(path, sizeof(path), "/namespaces/%s/", nss[(r >> 12) % 5]);
			for (int k = 0; k < 3; k++) {
				subst(body, sizeof(body), "\"default\"", q);
				subst(body, sizeof(body), "/namespaces/default/", path);
			}
		}
		for (int k = 0; k < 3; k++)
			subst(body, sizeof(body), which ? "my-config" : "nginx-deployment-7998647bdf-phvq7",
			      name);
		subst(body, sizeof(body), "192.168.99.1", ip);
		if (event_k8s_parse(body, strlen(body), &ctx, &b, &e) != LS_OK || b.n != 1)
			die("event_k8s_parse", e.reason);
		set_add(s, b.items[0].json, b.items[0].len);
		event_batch_release(&b);
	}
	free(tpl[0]);
	free(tpl[1]);
}

static size_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		die(path, strerror(errno));
	return (size_t)st.st_size;
}

/* Bytes of the blocks alone: file minus header, hashes, table, footer. */
static size_t blocks_bytes(size_t fsize, uint32_t n, unsigned k)
{
	uint32_t nb = (n / SEGMENT_BUNDLE + k - 1) / k;

	return fsize - 48 - (size_t)n * LS_HASH_LEN - (size_t)nb * 24 - 64;
}

static void run_one(const char *dir, const struct set *s, unsigned k, int level,
		    struct keyring *kr, int reads)
{
	struct segment_wopts o = { .block_bundles = k, .zstd_level = level };
	char path[4096], c1[32], c2[32];
	struct segment *sg;
	struct segment_iter *it;
	struct ls_err err;
	double t0, tw, tv, *lat = malloc((size_t)reads * sizeof(double)), blat[200];
	uint64_t rng = 99, prev = UINT64_MAX, idx;
	size_t fsize, len;
	const uint8_t *p;
	uint8_t *d;
	uint32_t seen = 0;

	segment_path(dir, 0, path, sizeof(path));
	unlink(path);
	t0 = cpu_now();
	if (segment_write_ex(dir, 0, s->n, s->e, (const uint8_t (*)[LS_HASH_LEN])s->h, kr, &o,
			     &err) != LS_OK)
		die("segment_write", err.msg);
	tw = cpu_now() - t0;
	fsize = file_size(path);
	if (segment_open(path, kr, &sg, &err) != LS_OK)
		die("segment_open", err.msg);
	for (int r = 0; r < reads; r++) {
		uint64_t i;

		do
			i = bench_rand(&rng) % s->n;
		while (prev != UINT64_MAX &&
		       i / ((uint64_t)k * SEGMENT_BUNDLE) == prev / ((uint64_t)k * SEGMENT_BUNDLE) &&
		       s->n > k * SEGMENT_BUNDLE);
		prev = i;
		t0 = bench_now();
		if (segment_get(sg, i, &d, &len, &err) != LS_OK)
			die("segment_get", err.msg);
		lat[r] = (bench_now() - t0) * 1e6;
		if (len != s->e[i].iov_len || memcmp(d, s->e[i].iov_base, len) != 0)
			die("segment_get", "entry differs");
		free(d);
	}
	qsort(lat, (size_t)reads, sizeof(double), bench_cmp_double);
	for (int r = 0; r < 200; r++) {
		uint64_t b = bench_rand(&rng) % (s->n / SEGMENT_BUNDLE);

		segment_close(sg);	/* a cold cache for every bundle */
		if (segment_open(path, kr, &sg, &err) != LS_OK)
			die("segment_open", err.msg);
		t0 = bench_now();
		if (segment_bundle(sg, b, &d, &len, &err) != LS_OK)
			die("segment_bundle", err.msg);
		blat[r] = (bench_now() - t0) * 1e6;
		free(d);
	}
	qsort(blat, 200, sizeof(double), bench_cmp_double);
	t0 = cpu_now();
	if (segment_iter_open(sg, 0, &it, &err) != LS_OK)
		die("segment_iter_open", err.msg);
	while (segment_iter_next(it, &p, &len, &idx, &err) == LS_OK) {
		if (idx != seen || len != s->e[idx].iov_len)
			die("segment_iter_next", "entry differs");
		seen++;
	}
	if (seen != s->n)
		die("segment_iter_next", err.msg);
	segment_iter_free(it);
	t0 = cpu_now() - t0;
	segment_close(sg);
	tv = cpu_now();
	if (segment_verify(path, kr, &err) != LS_OK)
		die("segment_verify", err.msg);
	tv = cpu_now() - tv;
	printf("  k=%-2u level=%-2d %-9s %7.1f %7.1f %9.1f %8.0f %8.0f %9.0f %12s %12s\n", k, level,
	       kr ? "sealed" : "plain", (double)blocks_bytes(fsize, s->n, k) / s->n,
	       (double)fsize / s->n, (double)s->raw / tw / 1e6,
	       lat[bench_pct_index((size_t)reads, 0.5)], lat[bench_pct_index((size_t)reads, 0.99)],
	       blat[bench_pct_index(200, 0.5)], bench_commas(s->n / t0, c1, sizeof(c1)),
	       bench_commas(s->n / tv, c2, sizeof(c2)));
	fflush(stdout);
	free(lat);
	unlink(path);
}

/* Bytes per entry with a dictionary trained on the first entries. */
static void run_dict(const struct set *s, unsigned k, int level)
{
	uint32_t train = s->n < 8192 ? s->n : 8192, per = k * SEGMENT_BUNDLE;
	size_t *sizes = malloc(train * sizeof(size_t)), tot = 0, dsz, out = 0;
	uint8_t *samples, *dict = malloc(110 << 10), *raw, *z;
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CDict *cd;

	for (uint32_t i = 0; i < train; i++)
		tot += sizes[i] = s->e[i].iov_len;
	samples = malloc(tot);
	tot = 0;
	for (uint32_t i = 0; i < train; i++) {
		memcpy(samples + tot, s->e[i].iov_base, sizes[i]);
		tot += sizes[i];
	}
	dsz = ZDICT_trainFromBuffer(dict, 110 << 10, samples, sizes, train);
	if (ZDICT_isError(dsz))
		die("ZDICT_trainFromBuffer", ZDICT_getErrorName(dsz));
	cd = ZSTD_createCDict(dict, dsz, level);
	raw = malloc((size_t)per * 65537);
	z = malloc(ZSTD_compressBound((size_t)per * 65537));
	for (uint32_t b = 0; b < s->n; b += per) {
		size_t rl = 0, zl;

		for (uint32_t i = b; i < b + per && i < s->n; i++) {
			raw[rl] = (uint8_t)(s->e[i].iov_len >> 8);
			raw[rl + 1] = (uint8_t)s->e[i].iov_len;
			memcpy(raw + rl + 2, s->e[i].iov_base, s->e[i].iov_len);
			rl += 2 + s->e[i].iov_len;
		}
		zl = ZSTD_compress_usingCDict(c, z, ZSTD_compressBound((size_t)per * 65537), raw, rl,
					      cd);
		if (ZSTD_isError(zl))
			die("zstd", ZSTD_getErrorName(zl));
		out += zl;
	}
	printf("  k=%-2u level=%-2d dict %zuK: %.1f B/entry in blocks (dictionary stored apart)\n",
	       k, level, dsz >> 10, (double)out / s->n);
	ZSTD_freeCDict(cd);
	ZSTD_freeCCtx(c);
	free(sizes);
	free(samples);
	free(dict);
	free(raw);
	free(z);
}

/* "1,4,16" into out (at most cap values in lo..hi); 0 when malformed. */
static int parse_list(const char *s, int *out, int cap, int lo, int hi)
{
	int n = 0;

	while (*s && n < cap) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s || v < lo || v > hi || (*end && *end != ','))
			return 0;
		out[n++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return *s ? 0 : n;
}

int main(int argc, char **argv)
{
	const char *dir = "build/bench-tmp/segment", *shape = "both";
	uint32_t n = 65536;
	int reads = 2000, dict = 0;
	unsigned ks[8] = { 1, 4, 16 };
	int levels[8] = { 1, 3, 6, 9 }, nks = 3, nlevels = 4;
	char datadir[4096], keyfile[4200], sdir[4200];
	struct keyring *kr;
	struct ls_err err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--entries") && i + 1 < argc)
			n = (uint32_t)strtoul(argv[++i], NULL, 10) / SEGMENT_BUNDLE * SEGMENT_BUNDLE;
		else if (!strcmp(argv[i], "--reads") && i + 1 < argc)
			reads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--shape") && i + 1 < argc)
			shape = argv[++i];
		else if (!strcmp(argv[i], "--ks") && i + 1 < argc)
			nks = parse_list(argv[++i], (int *)ks, 8, 1, 16);
		else if (!strcmp(argv[i], "--levels") && i + 1 < argc)
			nlevels = parse_list(argv[++i], levels, 8, 1, 19);
		else if (!strcmp(argv[i], "--dict"))
			dict = 1;
		else {
			fprintf(stderr, "usage: bench_segment [--dir DIR] [--entries N] [--reads R] "
					"[--shape bench|k8s|both] [--ks 1,4,16] [--levels 1,3,6,9] "
					"[--dict]\n");
			return 2;
		}
	}
	if (n < SEGMENT_BUNDLE || reads < 1 || nks < 1 || nlevels < 1)
		die("arguments", "need at least 256 entries and one read");
	snprintf(datadir, sizeof(datadir), "%s/keys-%ld", dir, (long)getpid());
	snprintf(keyfile, sizeof(keyfile), "%s.master", datadir);
	snprintf(sdir, sizeof(sdir), "%s/segments", dir);
	{
		struct keys_source src = { KEYS_SRC_FILE, keyfile };

		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			die(dir, strerror(errno));
		if (keys_init(datadir, &src, 1, &err) != LS_OK || keys_get(datadir, &kr, &err) != LS_OK)
			die("keys", err.msg);
	}
	for (int sh = 0; sh < 2; sh++) {
		struct set s;

		if ((sh == 0 && !strcmp(shape, "k8s")) || (sh == 1 && !strcmp(shape, "bench")))
			continue;
		if (sh == 0)
			make_bench(&s, n);
		else
			make_k8s(&s, n);
		printf("%s events: %u entries, %.1f raw bytes/entry (canonical JSON as stored)\n",
		       sh ? "k8s" : "bench", s.n, (double)s.raw / s.n);
		printf("  %-18s %-9s %7s %7s %9s %8s %8s %9s %12s %12s\n", "", "", "B/ent",
		       "file/ent", "write MB/s", "get p50", "get p99", "bundle", "scan ent/s",
		       "verify ent/s");
		for (int ki = 0; ki < nks; ki++)
			for (int li = 0; li < nlevels; li++)
				run_one(sdir, &s, ks[ki], levels[li], NULL, reads);
		run_one(sdir, &s, SEGMENT_BLOCK_BUNDLES, SEGMENT_ZSTD_LEVEL, kr, reads);
		if (dict)
			for (int ki = 0; ki < nks; ki++)
				run_dict(&s, ks[ki], SEGMENT_ZSTD_LEVEL);
		set_free(&s);
	}
	keys_forget(datadir);
	return 0;
}
