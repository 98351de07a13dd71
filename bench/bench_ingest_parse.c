/*
 * bench_ingest_parse.c - events/s of HTTP ingest parsing without HTTP:
 * event_batch_parse_ref (jansson) against event_fast_parse (arena DOM,
 * event_fast.c) on the same generated events (bench_event.h, ~350 bytes),
 * as NDJSON batches of --batch events (default 1000), --events in all
 * (default 100000).  Every batch is also checked to give identical items
 * on both paths, so the figures compare equal work.
 *
 *	bench_ingest_parse [--events N] [--batch B] [--rounds R]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_event.h"
#include "bench_util.h"
#include "core/event.h"
#include "core/event_fast.h"

struct body {
	char *p;
	size_t n, events;
};

typedef ls_rc (*parse_fn)(const struct body *b, const struct event_ctx *c,
			  struct event_batch *out, struct event_error *e);

static ls_rc run_ref(const struct body *b, const struct event_ctx *c, struct event_batch *out,
		     struct event_error *e)
{
	return event_batch_parse_ref(b->p, b->n, EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, c, out, e);
}

static ls_rc run_fast(const struct body *b, const struct event_ctx *c, struct event_batch *out,
		      struct event_error *e)
{
	bool fell;
	ls_rc rc = event_fast_parse(b->p, b->n, EVENT_BODY_NDJSON, c, out, e, &fell);

	return rc == LS_OK && fell ? LS_INVALID : rc;
}

/* Best of rounds: events per second over all bodies. */
static double measure(parse_fn fn, const struct body *bs, size_t nb, const struct event_ctx *c,
		      int rounds)
{
	double best = 0;

	for (int r = 0; r < rounds; r++) {
		size_t events = 0;
		double t0 = bench_now(), dt;

		for (size_t i = 0; i < nb; i++) {
			struct event_batch out;
			struct event_error e;

			if (fn(&bs[i], c, &out, &e) != LS_OK) {
				fprintf(stderr, "bench_ingest_parse: batch %zu refused: %s\n", i,
					e.reason);
				exit(1);
			}
			events += out.n;
			event_batch_release(&out);
		}
		dt = bench_now() - t0;
		if (events / dt > best)
			best = events / dt;
	}
	return best;
}

int main(int argc, char **argv)
{
	struct event_ctx c = { "tok-bench", "127.0.0.1", NULL, 1704164645123456LL, NULL };
	size_t total = 100000, batch = 1000, nb, i, k;
	uint64_t rng = 42;
	int rounds = 5;
	struct body *bs;
	double ref, fast;

	for (int a = 1; a + 1 < argc; a += 2) {
		if (!strcmp(argv[a], "--events"))
			total = strtoull(argv[a + 1], NULL, 10);
		else if (!strcmp(argv[a], "--batch"))
			batch = strtoull(argv[a + 1], NULL, 10);
		else if (!strcmp(argv[a], "--rounds"))
			rounds = (int)strtol(argv[a + 1], NULL, 10);
	}
	if (!batch || !total || rounds < 1) {
		fprintf(stderr, "usage: bench_ingest_parse [--events N] [--batch B] [--rounds R]\n");
		return 2;
	}
	nb = (total + batch - 1) / batch;
	bs = calloc(nb, sizeof(*bs));
	if (!bs)
		return 1;
	for (i = 0; i < nb; i++) {
		size_t cnt = i + 1 < nb ? batch : total - batch * (nb - 1);

		bs[i].p = malloc(cnt * (BENCH_EVENT_CAP + 1));
		if (!bs[i].p)
			return 1;
		for (k = 0; k < cnt; k++) {
			bs[i].n += bench_event(bs[i].p + bs[i].n, BENCH_EVENT_CAP + 1, &rng,
					       1714000000 + (time_t)(i * batch + k) / 1000,
					       (long)(k * 997));
			bs[i].p[bs[i].n++] = '\n';
		}
		bs[i].events = cnt;
	}
	/* Same bytes on both paths before anything is timed. */
	for (i = 0; i < nb; i++) {
		struct event_batch x, y;
		struct event_error e;

		if (run_ref(&bs[i], &c, &x, &e) || run_fast(&bs[i], &c, &y, &e) || x.n != y.n) {
			fprintf(stderr, "bench_ingest_parse: paths disagree on batch %zu\n", i);
			return 1;
		}
		for (k = 0; k < x.n; k++)
			if (x.items[k].len != y.items[k].len ||
			    memcmp(x.items[k].json, y.items[k].json, x.items[k].len)) {
				fprintf(stderr, "bench_ingest_parse: item %zu/%zu differs\n", i, k);
				return 1;
			}
		event_batch_release(&x);
		event_batch_release(&y);
	}
	ref = measure(run_ref, bs, nb, &c, rounds);
	fast = measure(run_fast, bs, nb, &c, rounds);
	printf("events %zu, batches of %zu, best of %d rounds (single thread)\n", total, batch,
	       rounds);
	printf("  jansson (event_batch_parse_ref) %12.0f events/s\n", ref);
	printf("  fast    (event_fast_parse)      %12.0f events/s\n", fast);
	printf("  speedup                         %12.2fx\n", fast / ref);
	for (i = 0; i < nb; i++)
		free(bs[i].p);
	free(bs);
	return 0;
}
