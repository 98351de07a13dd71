/*
 * bench_postings.c - posting lists (core/postings.h) on the shape of this
 * log's index, and the measurement behind the choice of set encoding in a
 * postings blob (docs/FORMAT.md 12).
 *
 * The range: --entries N (default 65536) bench-shape events (bench_event.h:
 * 5000 actors, 12 actions, 4 outcomes mostly success, 8 services, 6
 * resource types, 800000 resource ids, addresses 10.x.y.z) as the terms
 * the query index gives them: action, outcome, service, keyed hashes
 * (--hash bytes, 8 as the index writes them, 16 as it did before) of
 * actor, resource type, resource id, writer (3 of them) and address, three
 * network prefixes (/8, /16, /24: 1 + 8 bytes), family 4: 12 terms per
 * entry.
 *
 * It prints:
 *  1. per posting shape (dense: outcome=success, service; sparse: an
 *     actor, a resource id, an address; a run: all leaves of the range) the
 *     bytes per posting of CRoaring's portable serialisation
 *     (run-optimised) and of a sorted delta-varint list, and decode time of
 *     each into a roaring bitmap;
 *  2. AND of a dense with a sparse list and OR of 100 sparse lists: as
 *     roaring bitmaps, and as plain sorted arrays (merge);
 *  3. the whole range encoded all-roaring, all-delta, and per set the
 *     smaller of the two (what postings_encode() does);
 *  4. postings itself: add_row entries/s, postings_memory() bytes/entry,
 *     encode time and bytes/entry, decode time, and lookups on the
 *     decoded range;
 *  5. --files R (default 153, 0: skip): R .post files of the range (first
 *     = i * N) in a temporary directory, and a query for a rare term (a
 *     resource id in one entry of each range, and one in none) over all of
 *     them, as the index runs it: read + postings_decode_owned() per file
 *     (before), against mmap + postings_view() (the index's way: at the
 *     first open, read + decode + free for every check, then a view of the
 *     fixed parts; later opens the view only); cold (each file's
 *     pages dropped with posix_fadvise(DONTNEED) first) and warm (views
 *     kept open); RssAnon with every range decoded, and with every range
 *     viewed.
 * With the machine (uname, CPU) first.
 *
 *	bench_postings [--entries N] [--rounds R] [--hash 8|16] [--files R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <libdeflate.h>

#include <roaring/roaring.h>

#include "base/crypto.h"
#include "bench_event.h"
#include "bench_util.h"
#include "core/postings.h"

static const uint8_t hkey[16] = "bench-postings-k";
static unsigned hlen = 8;	/* --hash: bytes of a keyed term */

/* Seconds of CPU this thread used: on a shared machine the wall clock
 * also counts other processes' turns, so both are printed. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bterm {
	uint8_t field, len;
	uint8_t b[17];
};

struct brow {
	int64_t t, r;
	struct bterm term[12];
};

static void hterm(struct bterm *t, uint8_t field, const char *s)
{
	uint64_t a = ls_siphash24(hkey, s, strlen(s)), b = ls_siphash24(hkey, &a, sizeof(a));

	t->field = field;
	t->len = (uint8_t)hlen;
	memcpy(t->b, &a, 8);
	memcpy(t->b + 8, &b, 8);
}

static void pterm(struct bterm *t, uint8_t field, const char *s)
{
	t->field = field;
	t->len = (uint8_t)strlen(s);
	memcpy(t->b, s, t->len);
}

static void netterm(struct bterm *t, uint8_t plen, const char *net)
{
	hterm(t, PF_NET, net);
	memmove(t->b + 1, t->b, 8);
	t->b[0] = plen;
	t->len = 9;	/* 1 + NET_HASH_LEN, as the index */
}

static void gen_rows(struct brow *rows, uint32_t n)
{
	uint64_t rng = 12345;
	int64_t base = 1765000000000000;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t r1 = bench_rand(&rng), r2 = bench_rand(&rng);
		struct brow *w = &rows[i];
		char s[64];
		unsigned o2 = (unsigned)((r2 >> 8) & 255), o3 = (unsigned)((r2 >> 16) & 255);

		w->r = base + (int64_t)i * 7;
		w->t = w->r - (int64_t)(r2 % 2000000);
		snprintf(s, sizeof(s), "u%u", (unsigned)(r1 % 5000));
		hterm(&w->term[0], PF_ACTOR, s);
		pterm(&w->term[1], PF_ACTION,
		      bench_actions[(r1 >> 16) % BENCH_NELEM(bench_actions)]);
		pterm(&w->term[2], PF_OUTCOME, bench_outcome(r1 >> 24));
		pterm(&w->term[3], PF_SERVICE,
		      bench_services[(r1 >> 32) % BENCH_NELEM(bench_services)]);
		hterm(&w->term[4], PF_RTYPE, bench_rtypes[(r1 >> 40) % BENCH_NELEM(bench_rtypes)]);
		snprintf(s, sizeof(s), "%s-%u", bench_rnames[(r1 >> 48) % BENCH_NELEM(bench_rnames)],
			 (unsigned)((r2 >> 32) % 100000));
		hterm(&w->term[5], PF_RID, s);
		snprintf(s, sizeof(s), "writer-%u", (unsigned)(r2 % 3));
		hterm(&w->term[6], PF_WRITER, s);
		snprintf(s, sizeof(s), "10.%u.%u.%u", o2, o3, (unsigned)(1 + ((r2 >> 24) % 254)));
		hterm(&w->term[7], PF_IP, s);
		netterm(&w->term[8], 8, "10");
		snprintf(s, sizeof(s), "10.%u", o2);
		netterm(&w->term[9], 16, s);
		snprintf(s, sizeof(s), "10.%u.%u", o2, o3);
		netterm(&w->term[10], 24, s);
		w->term[11].field = PF_FAMILY;
		w->term[11].len = 1;
		w->term[11].b[0] = 4;
	}
}

static void fill_row(struct pf_row *row, const struct brow *w)
{
	memset(row, 0, sizeof(*row));
	row->has_time = row->has_received = 1;
	row->time_us = w->t;
	row->received_us = w->r;
	row->nterms = 12;
	for (int k = 0; k < 12; k++) {
		row->t[k].field = w->term[k].field;
		row->t[k].len = w->term[k].len;
		row->t[k].bytes = w->term[k].b;
	}
}

/* ------------------------------------------------------------------ */
/* the two encodings, outside postings.c, to compare them */

static size_t delta_put(uint8_t *o, const uint32_t *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t d = i ? v[i] - v[i - 1] - 1 : v[0];

		while (d >= 0x80) {
			o[k++] = (uint8_t)(d | 0x80);
			d >>= 7;
		}
		o[k++] = (uint8_t)d;
	}
	return k;
}

static size_t delta_get(const uint8_t *s, size_t len, uint32_t *v)
{
	size_t pos = 0, n = 0;
	uint32_t prev = 0;

	while (pos < len) {
		uint32_t d = 0;
		int sh = 0;

		while (s[pos] & 0x80) {
			d |= (uint32_t)(s[pos++] & 0x7f) << sh;
			sh += 7;
		}
		d |= (uint32_t)s[pos++] << sh;
		prev = n ? prev + 1 + d : d;
		v[n++] = prev;
	}
	return n;
}

static size_t roaring_put(char *o, const uint32_t *v, size_t n)
{
	roaring_bitmap_t *bm = roaring_bitmap_of_ptr(n, v);
	size_t k;

	roaring_bitmap_run_optimize(bm);
	k = roaring_bitmap_portable_serialize(bm, o);
	roaring_bitmap_free(bm);
	return k;
}

/* The rels of one term of the generated rows. */
static size_t rels_of(const struct brow *rows, uint32_t n, int k, const struct bterm *t,
		      uint32_t *out)
{
	size_t m = 0;

	for (uint32_t i = 0; i < n; i++)
		if (rows[i].term[k].len == t->len && !memcmp(rows[i].term[k].b, t->b, t->len))
			out[m++] = i;
	return m;
}

static void shape(const char *name, const uint32_t *v, size_t n, int rounds)
{
	uint8_t *db = malloc(5 * n + 16);
	char *rb = malloc(roaring_bitmap_portable_size_in_bytes(roaring_bitmap_of_ptr(0, v)) +
			  8 * n + 16384);
	uint32_t *tmp = malloc((n + 1) * sizeof(*tmp));
	size_t dl = delta_put(db, v, n), rl = roaring_put(rb, v, n);
	double td = 1e9, tr = 1e9, ta = 1e9;
	int iters = n > 1000 ? 200 : 20000;

	for (int r = 0; r < rounds; r++) {
		double t0 = bench_now();

		for (int i = 0; i < iters; i++)
			roaring_bitmap_free(roaring_bitmap_portable_deserialize_safe(rb, rl));
		t0 = (bench_now() - t0) / iters;
		tr = t0 < tr ? t0 : tr;
		t0 = bench_now();
		for (int i = 0; i < iters; i++) {
			roaring_bitmap_t *bm = roaring_bitmap_create();
			size_t m = delta_get(db, dl, tmp);

			roaring_bitmap_add_many(bm, m, tmp);
			roaring_bitmap_free(bm);
		}
		t0 = (bench_now() - t0) / iters;
		td = t0 < td ? t0 : td;
		t0 = bench_now();
		for (int i = 0; i < iters; i++)
			if (delta_get(db, dl, tmp) != n)
				abort();
		t0 = (bench_now() - t0) / iters;
		ta = t0 < ta ? t0 : ta;
	}
	printf("  %-22s %7zu postings  roaring %6.2f B/posting %8.2f us   delta %6.2f B/posting "
	       "%8.2f us (%7.2f us to an array)\n",
	       name, n, (double)rl / (double)n, tr * 1e6, (double)dl / (double)n, td * 1e6,
	       ta * 1e6);
	free(db);
	free(rb);
	free(tmp);
}

/* |a ∩ b| of sorted arrays, galloping through the longer one. */
static size_t and_arrays(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
			 uint32_t *out)
{
	size_t k = 0, j = 0;

	for (size_t i = 0; i < na && j < nb; i++) {
		size_t lo = j, step = 1, hi;

		while (lo + step < nb && b[lo + step] < a[i])
			step *= 2;
		hi = lo + step < nb ? lo + step : nb;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (b[mid] < a[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		j = lo;
		if (j < nb && b[j] == a[i])
			out[k++] = a[i];
	}
	return k;
}

static const struct brow *sort_rows;

/* Tuples (row << 4 | term slot), by term then row. */
static int tupcmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	const struct bterm *s = &sort_rows[x >> 4].term[x & 15], *t = &sort_rows[y >> 4].term[y & 15];
	int c;

	if (s->field != t->field)
		return s->field < t->field ? -1 : 1;
	c = memcmp(s->b, t->b, s->len < t->len ? s->len : t->len);
	if (c)
		return c;
	if (s->len != t->len)
		return s->len < t->len ? -1 : 1;
	return (x > y) - (x < y);
}

/* Every term's set in all three ways. */
static void whole_range(const struct brow *rows, uint32_t n, uint32_t *tup, uint32_t *v)
{
	size_t m = (size_t)n * 12, i, j, terms = 0, all_r = 0, all_d = 0, best = 0, nr = 0;
	size_t rule = 0, nrule = 0;
	uint8_t *db = malloc(5 * (size_t)n + 16);
	char *rb = malloc(16 * (size_t)n + 16384);

	for (uint32_t r = 0; r < n; r++)
		for (uint32_t k = 0; k < 12; k++)
			tup[r * 12 + k] = r << 4 | k;
	sort_rows = rows;
	qsort(tup, m, sizeof(uint32_t), tupcmp);
	for (i = 0; i < m; i = j) {
		size_t nv = 0, dl, rl;

		const struct bterm *t = &rows[tup[i] >> 4].term[tup[i] & 15];

		for (j = i; j < m; j++) {
			const struct bterm *u = &rows[tup[j] >> 4].term[tup[j] & 15];

			if (u->field != t->field || u->len != t->len || memcmp(u->b, t->b, t->len))
				break;
			v[nv++] = tup[j] >> 4;
		}
		dl = delta_put(db, v, nv);
		rl = roaring_put(rb, v, nv);
		terms++;
		all_d += dl;
		all_r += rl;
		best += dl <= rl ? dl : rl;
		nr += rl < dl;
		/* postings_encode()'s rule (postings_codec.c, put_set) */
		if (nv >= 8 && (rl <= dl + dl / 4 || (nv >= 256 && rl <= 2 * dl))) {
			rule += rl;
			nrule++;
		} else {
			rule += dl;
		}
	}
	printf("  %zu terms, %zu postings: all roaring %.3f B/posting, all delta %.3f B/posting, "
	       "smaller of the two per set %.3f B/posting (%zu sets roaring), "
	       "postings_encode's choice %.3f B/posting (%zu sets roaring)\n",
	       terms, m, (double)all_r / (double)m, (double)all_d / (double)m,
	       (double)best / (double)m, nr, (double)rule / (double)m, nrule);
	free(db);
	free(rb);
}

static int u32cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* ------------------------------------------------------------------ */
/* 5. a rare term over many range files */

static long rss_anon_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "RssAnon:", 8))
			v = strtol(line + 8, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void drop_pages(const char *dir, int nf)
{
	char path[512];

	for (int i = 0; i < nf; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%d.post", dir, i);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
}

/* One range's part of a rare-term query: the term's newest 50 leaves. */
static uint64_t rare_in(const struct postings *p, const struct bterm *t)
{
	struct pset *s = postings_get(p, t->field, t->b, t->len);
	uint32_t out[50];
	uint64_t n;

	if (!s)
		return 0;
	n = pset_take(s, 1, 0, 0, out, 50);
	pset_free(s);
	return n;
}

struct mapped {
	struct postings *p;
	void *map;
	size_t len;
};

static int decode_file(const char *dir, int i, struct postings **p)
{
	char path[512];
	struct stat st;
	struct ls_err err;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%d.post", dir, i);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || !(buf = malloc((size_t)st.st_size)) ||
	    read(fd, buf, (size_t)st.st_size) != st.st_size) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return postings_decode_owned(buf, (size_t)st.st_size, p, &err) == LS_OK ? 0 : -1;
}

static int view_file(const char *dir, int i, int full, struct mapped *m)
{
	char path[512];
	struct stat st;
	struct ls_err err;
	int fd;

	snprintf(path, sizeof(path), "%s/%d.post", dir, i);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	m->len = (size_t)st.st_size;
	if (full) {	/* every byte once, as the index: read, decode, free */
		struct postings *whole;

		close(fd);
		if (decode_file(dir, i, &whole))
			return -1;
		postings_free(whole);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return -1;
	}
	m->map = mmap(NULL, m->len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m->map == MAP_FAILED)
		return -1;
	madvise(m->map, m->len, MADV_RANDOM);
	if (postings_view(m->map, m->len, 0, &m->p, &err) != LS_OK) {
		fprintf(stderr, "bench_postings: %s\n", err.msg);
		munmap(m->map, m->len);
		return -1;
	}
	return 0;
}

static void unview(struct mapped *m)
{
	postings_free(m->p);
	munmap(m->map, m->len);
	m->p = NULL;
}

enum { Q_DECODE, Q_VIEW_FULL, Q_VIEW_LIGHT, Q_VIEW_OPEN };

/* One rare-term query over nf files, in ms of wall time; *hits summed. */
static double rare_query(const char *dir, int nf, int how, int cold, struct mapped *open_views,
			 const struct bterm *t, uint64_t *hits)
{
	double t0;

	if (cold)
		drop_pages(dir, nf);
	*hits = 0;
	t0 = bench_now();
	for (int i = nf - 1; i >= 0; i--) {
		struct postings *p;
		struct mapped m;

		switch (how) {
		case Q_DECODE:
			if (decode_file(dir, i, &p))
				return -1;
			*hits += rare_in(p, t);
			postings_free(p);
			break;
		case Q_VIEW_FULL:
		case Q_VIEW_LIGHT:
			if (view_file(dir, i, how == Q_VIEW_FULL, &m))
				return -1;
			*hits += rare_in(m.p, t);
			unview(&m);
			break;
		default:
			*hits += rare_in(open_views[i].p, t);
			break;
		}
	}
	return (bench_now() - t0) * 1e3;
}

static int files_section(const uint8_t *blob, size_t blen, uint32_t n, int nf, int rounds,
			 const struct brow *rows)
{
	char dir[] = "/tmp/bench-postings-XXXXXX", path[512];
	uint8_t *b = malloc(blen);
	struct mapped *views = calloc((size_t)nf, sizeof(*views));
	struct bterm miss;
	struct {
		const char *what;
		int how, cold;
	} runs[] = {
		{"read + decode, cold", Q_DECODE, 1},
		{"read + decode, warm pages", Q_DECODE, 0},
		{"first open: read+check, mmap+view, cold", Q_VIEW_FULL, 1},
		{"mmap + view, fixed parts, cold", Q_VIEW_LIGHT, 1},
		{"mmap + view, fixed parts, warm", Q_VIEW_LIGHT, 0},
		{"views kept open, warm", Q_VIEW_OPEN, 0},
	};
	long rss0, rss1;
	size_t dmem = 0;
	int rc = 1;

	if (!b || !views || !mkdtemp(dir))
		goto out;
	hterm(&miss, PF_RID, "no-such-resource");
	printf("\n5. a rare term over %d range files of %u entries (%s bytes each), "
	       "one query = every range, newest first\n",
	       nf, n, bench_commas((double)blen, path, sizeof(path)));
	for (int i = 0; i < nf; i++) {
		FILE *f;
		uint32_t crc;

		memcpy(b, blob, blen);
		for (int k = 0; k < 8; k++)
			b[8 + k] = (uint8_t)(((uint64_t)i * n) >> (56 - 8 * k));
		crc = (uint32_t)libdeflate_crc32(0, b, blen - 4);
		for (int k = 0; k < 4; k++)
			b[blen - 4 + k] = (uint8_t)(crc >> (24 - 8 * k));
		snprintf(path, sizeof(path), "%s/%d.post", dir, i);
		f = fopen(path, "wb");
		if (!f || fwrite(b, 1, blen, f) != blen || fclose(f))
			goto out;
	}
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++)
		for (int tk = 0; tk < 2; tk++) {
			const struct bterm *t = tk ? &miss : &rows[12345].term[5];
			double best = 1e18, worst = 0, sum = 0;
			uint64_t hits = 0;

			if (runs[r].how == Q_VIEW_OPEN && !views[0].p)
				for (int i = 0; i < nf; i++)
					if (view_file(dir, i, 0, &views[i]))
						goto out;
			for (int k = 0; k < rounds; k++) {
				double ms = rare_query(dir, nf, runs[r].how, runs[r].cold, views, t,
						       &hits);

				if (ms < 0)
					goto out;
				best = ms < best ? ms : best;
				worst = ms > worst ? ms : worst;
				sum += ms;
			}
			printf("  %-41s %-14s best %8.2f ms, mean %8.2f, worst %8.2f (%llu hits)\n",
			       runs[r].what, tk ? "absent term" : "a resource id", best, sum / rounds,
			       worst, (unsigned long long)hits);
		}
	/* memory: every range viewed (and its sets touched) against decoded */
	for (int i = 0; i < nf; i++)
		if (views[i].p)
			unview(&views[i]);
	rss0 = rss_anon_kib();
	for (int i = 0; i < nf; i++) {
		uint64_t h;

		if (view_file(dir, i, 0, &views[i]))
			goto out;
		h = rare_in(views[i].p, &rows[12345].term[5]);
		(void)h;
	}
	rss1 = rss_anon_kib();
	for (int i = 0; i < nf; i++) {
		dmem += postings_memory(views[i].p);
		unview(&views[i]);
	}
	printf("  every range viewed: RssAnon +%ld KiB (%.0f bytes a range; postings_memory "
	       "%.0f bytes a range)\n",
	       rss1 - rss0, (rss1 - rss0) * 1024.0 / nf, (double)dmem / nf);
	{
		struct postings *p;

		if (decode_file(dir, 0, &p))
			goto out;
		printf("  a decoded range: postings_memory %s bytes (x %d ranges = %.0f MiB)\n",
		       bench_commas((double)postings_memory(p), path, sizeof(path)), nf,
		       (double)postings_memory(p) * nf / 1048576);
		postings_free(p);
	}
	rc = 0;
out:
	for (int i = 0; i < nf; i++) {
		if (views[i].p)
			unview(&views[i]);
		snprintf(path, sizeof(path), "%s/%d.post", dir, i);
		unlink(path);
	}
	rmdir(dir);
	free(views);
	free(b);
	return rc;
}

int main(int argc, char **argv)
{
	uint32_t n = 65536, *v, *w, *x;
	int rounds = 3, nfiles = 153;
	struct brow *rows;
	struct utsname u;
	char line[256], cpu[256] = "?", c1[32], c2[32];
	FILE *f;
	size_t nv, nw;
	struct postings *p, *q;
	struct ls_err err;
	uint8_t *blob;
	size_t blen;
	double t0, c0, tadd, tenc, tdec = 1e9, cadd, cenc, cdec = 1e9;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--entries") && i + 1 < argc)
			n = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--hash") && i + 1 < argc)
			hlen = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--files") && i + 1 < argc)
			nfiles = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_postings [--entries N] [--rounds R] "
					"[--hash 8|16] [--files R]\n");
			return 2;
		}
	}
	if (n < 1000 || rounds < 1 || (hlen != 8 && hlen != 16) || nfiles < 0) {
		fprintf(stderr, "bench_postings: --entries >= 1000, --rounds >= 1\n");
		return 2;
	}
	uname(&u);
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
			cpu[strcspn(cpu, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	printf("machine: %s %s %s; %s; %ld CPUs; CRoaring %d.%d.%d\n", u.sysname, u.release,
	       u.machine, cpu, sysconf(_SC_NPROCESSORS_ONLN), ROARING_VERSION_MAJOR,
	       ROARING_VERSION_MINOR, ROARING_VERSION_REVISION);

	rows = calloc(n, sizeof(*rows));
	v = malloc(((size_t)n + 1) * 12 * sizeof(*v));
	w = malloc(((size_t)n + 1) * sizeof(*w));
	x = malloc(((size_t)n + 1) * sizeof(*x));
	if (!rows || !v || !w || !x)
		return 1;
	gen_rows(rows, n);

	printf("\n1. set encodings, %u-entry range (best of %d)\n", n, rounds);
	{
		struct bterm succ, svc;

		pterm(&succ, PF_OUTCOME, "success");
		pterm(&svc, PF_SERVICE, "billing");
		nv = rels_of(rows, n, 2, &succ, v);
		shape("dense: outcome=success", v, nv, rounds);
		nv = rels_of(rows, n, 3, &svc, v);
		shape("dense: service", v, nv, rounds);
		nv = rels_of(rows, n, 0, &rows[0].term[0], v);
		shape("sparse: an actor", v, nv, rounds);
		nv = rels_of(rows, n, 5, &rows[0].term[5], v);
		shape("sparse: a resource id", v, nv, rounds);
		nv = rels_of(rows, n, 10, &rows[0].term[10], v);
		shape("sparse: a /24", v, nv, rounds);
		for (uint32_t i = 0; i < n; i++)
			v[i] = i;
		shape("run: every leaf", v, n, rounds);
	}

	printf("\n2. set operations (best of %d)\n", rounds);
	{
		struct bterm succ;
		roaring_bitmap_t *a, *b, *many[100];
		uint32_t *lists[100];
		size_t nl[100], tot = 0;
		double tra = 1e9, taa = 1e9, tro = 1e9, tao = 1e9;
		size_t ka = 0, kb = 0;

		pterm(&succ, PF_OUTCOME, "success");
		nv = rels_of(rows, n, 2, &succ, v);
		nw = rels_of(rows, n, 0, &rows[1].term[0], w);
		a = roaring_bitmap_of_ptr(nv, v);
		b = roaring_bitmap_of_ptr(nw, w);
		roaring_bitmap_run_optimize(a);
		for (int i = 0; i < 100; i++) {
			lists[i] = malloc(64 * sizeof(uint32_t) + 1024);
			nl[i] = rels_of(rows, n, 0, &rows[i * 7 + 3].term[0], lists[i]);
			many[i] = roaring_bitmap_of_ptr(nl[i], lists[i]);
			tot += nl[i];
		}
		for (int r = 0; r < rounds; r++) {
			t0 = bench_now();
			for (int i = 0; i < 10000; i++) {
				roaring_bitmap_t *c = roaring_bitmap_and(a, b);

				ka = roaring_bitmap_get_cardinality(c);
				roaring_bitmap_free(c);
			}
			t0 = (bench_now() - t0) / 10000;
			tra = t0 < tra ? t0 : tra;
			t0 = bench_now();
			for (int i = 0; i < 10000; i++)
				kb = and_arrays(w, nw, v, nv, x);
			t0 = (bench_now() - t0) / 10000;
			taa = t0 < taa ? t0 : taa;
			t0 = bench_now();
			for (int i = 0; i < 1000; i++) {
				roaring_bitmap_t *c =
					roaring_bitmap_or_many(100, (const roaring_bitmap_t **)many);

				roaring_bitmap_free(c);
			}
			t0 = (bench_now() - t0) / 1000;
			tro = t0 < tro ? t0 : tro;
			t0 = bench_now();
			for (int i = 0; i < 1000; i++) {
				size_t k = 0;

				for (int j = 0; j < 100; j++) {
					memcpy(x + k, lists[j], nl[j] * sizeof(uint32_t));
					k += nl[j];
				}
				qsort(x, k, sizeof(uint32_t), u32cmp);
			}
			t0 = (bench_now() - t0) / 1000;
			tao = t0 < tao ? t0 : tao;
		}
		if (ka != kb)
			abort();
		printf("  AND outcome=success (%zu) with an actor (%zu): roaring %.2f us, "
		       "sorted arrays (galloping) %.2f us -> %zu\n",
		       nv, nw, tra * 1e6, taa * 1e6, ka);
		printf("  OR of 100 actors (%zu postings): roaring or_many %.2f us, "
		       "sorted arrays (concatenate + sort) %.2f us\n",
		       tot, tro * 1e6, tao * 1e6);
		roaring_bitmap_free(a);
		roaring_bitmap_free(b);
		for (int i = 0; i < 100; i++) {
			roaring_bitmap_free(many[i]);
			free(lists[i]);
		}
	}

	printf("\n3. every set of the range (sets only, no dictionary)\n");
	whole_range(rows, n, v, w);

	printf("\n4. postings.h on the range\n");
	if (postings_new(0, &p, &err) != LS_OK)
		return 1;
	t0 = bench_now();
	c0 = cpu_now();
	for (uint32_t i = 0; i < n; i++) {
		struct pf_row row;

		fill_row(&row, &rows[i]);
		if (postings_add_row(p, i, &row, &err) != LS_OK) {
			fprintf(stderr, "bench_postings: %s\n", err.msg);
			return 1;
		}
	}
	tadd = bench_now() - t0;
	cadd = cpu_now() - c0;
	printf("  add_row: %s entries/s wall, %s entries/s CPU; postings_memory %.1f bytes/entry "
	       "(%.1f MiB)\n",
	       bench_commas(n / tadd, c1, sizeof(c1)), bench_commas(n / cadd, c2, sizeof(c2)),
	       (double)postings_memory(p) / n, (double)postings_memory(p) / 1048576);
	t0 = bench_now();
	c0 = cpu_now();
	if (postings_encode(p, &blob, &blen, &err) != LS_OK)
		return 1;
	tenc = bench_now() - t0;
	cenc = cpu_now() - c0;
	printf("  encode: %.1f ms wall, %.1f ms CPU, %s bytes (%.2f bytes/entry, %.3f bytes/posting)\n",
	       tenc * 1e3, cenc * 1e3, bench_commas((double)blen, c2, sizeof(c2)), (double)blen / n,
	       (double)blen / n / 12);
	for (int r = 0; r < rounds; r++) {
		t0 = bench_now();
		c0 = cpu_now();
		if (postings_decode(blob, blen, &q, &err) != LS_OK) {
			fprintf(stderr, "bench_postings: %s\n", err.msg);
			return 1;
		}
		t0 = bench_now() - t0;
		c0 = cpu_now() - c0;
		tdec = t0 < tdec ? t0 : tdec;
		cdec = c0 < cdec ? c0 : cdec;
		if (r + 1 < rounds)
			postings_free(q);
	}
	printf("  decode: %.2f ms wall, %.2f ms CPU (%s entries/s CPU); decoded memory %.1f "
	       "bytes/entry\n",
	       tdec * 1e3, cdec * 1e3, bench_commas(n / cdec, c1, sizeof(c1)),
	       (double)postings_memory(q) / n);
	{
		double town = 1e9;

		for (int r = 0; r < rounds; r++) {
			uint8_t *own = malloc(blen);
			struct postings *o;

			if (!own)
				return 1;
			memcpy(own, blob, blen);
			t0 = cpu_now();
			if (postings_decode_owned(own, blen, &o, &err) != LS_OK)
				return 1;
			t0 = cpu_now() - t0;
			town = t0 < town ? t0 : town;
			postings_free(o);
		}
		printf("  decode in place (postings_decode_owned): %.2f ms CPU (%s entries/s)\n",
		       town * 1e3, bench_commas(n / town, c1, sizeof(c1)));
	}
	{
		static const struct {
			const char *what;
			int k;
			int prefix;
		} looks[] = {
			{"get outcome=success", 2, 0}, {"get service", 3, 0}, {"get actor", 0, 0},
			{"get resource id", 5, 0},    {"prefix action user.", 1, 1},
		};
		for (int l = 0; l < 5; l++) {
			for (int k = 0; k < 2; k++) {
				const struct postings *s = k ? q : p;
				const struct bterm *t = &rows[5].term[looks[l].k];
				int iters = 2000;
				uint64_t c = 0;

				t0 = bench_now();
				for (int i = 0; i < iters; i++) {
					struct pset *ps = looks[l].prefix
								  ? postings_prefix(s, PF_ACTION, "user.", 5)
								  : postings_get(s, t->field, t->b, t->len);

					c = pset_count(ps);
					pset_free(ps);
				}
				t0 = (bench_now() - t0) / iters;
				printf("  %-22s %-8s %8.2f us (%llu)\n", looks[l].what,
				       k ? "decoded" : "building", t0 * 1e6, (unsigned long long)c);
			}
		}
		t0 = bench_now();
		for (int i = 0; i < 200; i++) {
			struct pset *a = postings_get(q, PF_OUTCOME, "success", 7);
			struct pset *b = postings_get(q, PF_ACTOR, rows[9].term[0].b, hlen);
			uint32_t out[50];

			pset_and(a, b);
			pset_take(a, 1, 0, 0, out, 50);
			pset_free(a);
			pset_free(b);
		}
		printf("  query actor AND success, newest 50 (decoded): %.2f us\n",
		       (bench_now() - t0) / 200 * 1e6);
		t0 = bench_now();
		for (uint32_t i = 0; i < n; i++) {
			int has;
			size_t len;

			postings_time(q, i, &has);
			postings_value(q, i, PF_ACTION, &len);
		}
		printf("  time + action value of every entry (decoded): %.1f ns/entry\n",
		       (bench_now() - t0) / n * 1e9);
	}
	if (nfiles && files_section(blob, blen, n, nfiles, rounds, rows)) {
		fprintf(stderr, "bench_postings: the files section failed\n");
		return 1;
	}
	postings_free(p);
	postings_free(q);
	free(blob);
	free(rows);
	free(v);
	free(w);
	free(x);
	return 0;
}
