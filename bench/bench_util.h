/*
 * bench_util.h - the clock, sleeping and number formatting every benchmark
 * program uses (bench_engine.c, bench_ingest_parse.c, loadgen.c and
 * qbench.c), and the sorting and percentile pieces of their latency figures.  Header-only: each program in bench/ is one .c file.
 *
 * Invariants:
 *  1. bench_now() is monotonic (CLOCK_MONOTONIC): intervals, never dates.
 *  2. bench_commas() writes nothing beyond buf[cap - 1] and always
 *     NUL-terminates (cap >= 2).
 *  3. bench_pct_index() is within [0, n) for every p in [0, 1] and n > 0.
 */
#ifndef LS_BENCH_UTIL_H
#define LS_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep s seconds (nothing when s <= 0). */
static inline void bench_sleep(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* 1234567 -> "1,234,567" (the benchmarks print rates of many digits). */
static inline const char *bench_commas(double v, char *buf, size_t cap)
{
	char raw[32];
	size_t n, j = 0;
	int len;

	len = snprintf(raw, sizeof(raw), "%.0f", v < 0 ? 0 : v);
	if (len < 0 || (size_t)len >= sizeof(raw)) {
		snprintf(buf, cap, "?");
		return buf;
	}
	n = (size_t)len;
	for (size_t i = 0; i < n && j + 2 < cap; i++) {
		if (i && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = raw[i];
	}
	buf[j] = '\0';
	return buf;
}

/* qsort comparators for latency samples. */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline int bench_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * The sample at fraction p (0..1) of n > 0 sorted ones, rounded to the
 * nearest: index (n - 1) * p + 0.5 (bench_engine and loadgen; qbench's
 * read figures use the nearest rank instead, as pgbench's are computed).
 */
static inline size_t bench_pct_index(size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return i < n ? i : n - 1;
}

#endif
