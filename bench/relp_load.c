/*
 * relp_load - RELP load generator for `make bench` (bench/relp.sh): C
 * connections made with librelp's client API (what rsyslog's omrelp uses),
 * each sending its share of N RFC 5424 messages with a window of W
 * unacknowledged frames, then closing.  librelp's close waits for the
 * answer to "close", which logseal sends only after every earlier frame
 * was answered, i.e. appended durably: the elapsed time covers the whole
 * durable ingest.
 *
 *   relp_load --port P [--host H] --count N [--conns C] [--window W]
 *             [--results FILE --key K]
 *
 * Prints "relp: N events in S s, E events/s"; with --results appends
 * "K_eps E" and "K_events N" lines.  Exit 2 when built without librelp
 * (scripts/deps.sh installs librelp-dev).  Each message carries SD params
 * logseal@32473 (actor, action, outcome, id), so the mapping is the one
 * the server runs for shippers.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#if __has_include(<librelp.h>)
#include <librelp.h>
#define HAVE_RELP 1
#else
#define HAVE_RELP 0
#endif

struct worker {
	pthread_t t;
	int no;
	long count;
	long sent;
	int failed;
};

static const char *host = "127.0.0.1", *port;
static int window = 128;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#if HAVE_RELP
static void dbg_none(char *fmt, ...)
{
	(void)fmt;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	relpEngine_t *e = NULL;
	relpClt_t *c = NULL;
	char msg[512];

	if (relpEngineConstruct(&e) != RELP_RET_OK || relpEngineSetDbgprint(e, dbg_none) !=
	    RELP_RET_OK || relpEngineSetEnableCmd(e,
	    (unsigned char *)"syslog", eRelpCmdState_Required) != RELP_RET_OK ||
	    relpEngineCltConstruct(e, &c) != RELP_RET_OK ||
	    relpCltSetWindowSize(c, window) != RELP_RET_OK ||
	    relpCltConnect(c, AF_INET, (unsigned char *)port, (unsigned char *)host) !=
	    RELP_RET_OK) {
		w->failed = 1;
		goto out;
	}
	for (long i = 0; i < w->count; i++) {
		int n = snprintf(msg, sizeof(msg),
				 "<134>1 2026-12-08T01:02:03.000004Z benchhost relpload %d - "
				 "[logseal@32473 actor=\"user-%ld\" action=\"bench.relp\" "
				 "outcome=\"success\" resource=\"doc/%ld\" id=\"c%d-%ld\"] "
				 "a benchmark message of a realistic length for an audit line",
				 w->no, i % 5000, i % 100000, w->no, i);

		if (relpCltSendSyslog(c, (unsigned char *)msg, (size_t)n) != RELP_RET_OK) {
			w->failed = 1;
			break;
		}
		w->sent++;
	}
out:
	if (c && relpEngineCltDestruct(e, &c) != RELP_RET_OK)
		w->failed = 1;
	if (e)
		relpEngineDestruct(&e);
	return NULL;
}
#endif

int main(int argc, char **argv)
{
	long count = 0;
	int conns = 8;
	const char *results = NULL, *key = "relp";

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = argv[i + 1];
		else if (!strcmp(argv[i], "--host"))
			host = argv[i + 1];
		else if (!strcmp(argv[i], "--count"))
			count = strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--conns"))
			conns = (int)strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--window"))
			window = (int)strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--results"))
			results = argv[i + 1];
		else if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
	}
	if (!port || count <= 0 || conns <= 0 || conns > 256 || window <= 0) {
		fprintf(stderr, "usage: relp_load --port P --count N [--conns C] [--window W] "
				"[--host H] [--results FILE --key K]\n");
		return 1;
	}
#if !HAVE_RELP
	(void)results;
	(void)key;
	(void)now_s;
	fprintf(stderr, "relp_load: built without librelp (install librelp-dev)\n");
	return 2;
#else
	struct worker *w = calloc((size_t)conns, sizeof(*w));
	long sent = 0;
	int failed = 0;
	double t0, t1, eps;

	if (!w)
		return 1;
	t0 = now_s();
	for (int i = 0; i < conns; i++) {
		w[i].no = i;
		w[i].count = count / conns + (i < count % conns);
		if (pthread_create(&w[i].t, NULL, run, &w[i]) != 0)
			return 1;
	}
	for (int i = 0; i < conns; i++) {
		pthread_join(w[i].t, NULL);
		sent += w[i].sent;
		failed |= w[i].failed;
	}
	t1 = now_s();
	free(w);
	eps = (double)sent / (t1 - t0);
	printf("relp: %ld events in %.2f s, %.0f events/s (%d connections, window %d)\n", sent,
	       t1 - t0, eps, conns, window);
	if (results) {
		FILE *f = fopen(results, "a");

		if (!f)
			return 1;
		fprintf(f, "%s_eps %.6f\n%s_events %ld\n", key, eps, key, sent);
		fclose(f);
	}
	return failed ? 1 : 0;
#endif
}
