/*
 * genev.c - logseal/v1 events for the benchmarks, streamed: NDJSON, or
 * PostgreSQL COPY blocks of the bench's `audit` table, at millions a second
 * in constant memory (the C twin of gen_events.py, which does about 70,000
 * a second: 10 million events took it over two minutes).
 *
 *	genev [--shape engine|read] [--days D] [--actors A] [--end UNIX_S]
 *	      [--copy BATCH] [--seconds S] N [SEED]
 *
 * --shape engine (default): bench_event.h's events, the ones loadgen posts
 *   and bench_engine appends (~350 B, 5,000 actors, 9 actions, 8 services,
 *   addresses anywhere in 10.0.0.0/8), times 1.37 ms apart from --end
 *   (default: now).
 * --shape read (with --days D): gen_events.py's read shape, the same
 *   constants and weights (keep the tables below and gen_events.py's
 *   R_ACTIONS, R_SERVICES, R_OUTCOMES and NETS alike: read.sh and store.sh
 *   draw their queries from gen_events.py's): times spread evenly over the
 *   D days that end at --end (default now), increasing; A actors (default
 *   50,000; a fifth of the events from the busiest 1%); 32 actions and 24
 *   services of uneven frequency; outcomes 90/6/3/1% success, denied,
 *   failure, error; addresses from 12 /16 networks.  Not byte-identical to
 *   gen_events.py's output (another random generator), alike in
 *   distribution.
 * --copy BATCH: instead of NDJSON, "COPY audit (...) FROM STDIN;" blocks of
 *   BATCH rows (time, actor, action, outcome, source_ip, service,
 *   resource type/id, the event), as pg_baseline.sh's pg_convert writes;
 *   psql runs each block as its own transaction.
 * --seconds S: stop after S seconds of wall time (N = 0: no other bound), a
 *   stream for a timed load.
 * --from-stdin (with --copy): the events are NDJSON lines read from stdin
 *   (N = 0: all of them), not generated: the same file for both systems.
 *
 * Invariants:
 *  1. Output is a pure function of the options and SEED (and of the clock
 *     when --end is not given, or with --seconds).
 *  2. Constant memory: one event is formatted at a time into a fixed
 *     buffer; stdout is fully buffered.
 *  3. Every value comes from safe characters (no quote, backslash, tab or
 *     control character), so the JSON needs no escaping and is valid as
 *     formatted, and its COPY text form is the line itself.
 *  4. Exit status 0 only when every byte was written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_event.h"
#include "bench_util.h"

struct wpair {
	const char *v;
	unsigned w;
};

/* gen_events.py's R_ACTIONS, R_SERVICES, R_OUTCOMES and NETS. */
static const struct wpair r_actions[] = {
	{"db.query", 30}, {"api.call", 20}, {"file.read", 8}, {"user.login", 6},
	{"user.logout", 5}, {"db.update", 4}, {"file.write", 3}, {"secret.read", 3},
	{"session.refresh", 3}, {"api.list", 2}, {"object.get", 2}, {"object.put", 2},
	{"profile.update", 1}, {"profile.read", 1}, {"db.delete", 1}, {"db.export", 1},
	{"file.delete", 1}, {"file.share", 1}, {"role.grant", 1}, {"role.revoke", 1},
	{"user.create", 1}, {"user.disable", 1}, {"mfa.verify", 1}, {"password.reset", 1},
	{"key.rotate", 1}, {"key.read", 1}, {"config.read", 1}, {"config.update", 1},
	{"report.run", 1}, {"payment.refund", 1}, {"invoice.read", 1}, {"admin.impersonate", 1},
};
static const struct wpair r_services[] = {
	{"api-gateway", 20}, {"billing", 10}, {"auth", 10}, {"storage", 8}, {"search", 6},
	{"payments", 6}, {"hr", 4}, {"crm", 4}, {"reporting", 4}, {"inventory", 3},
	{"shipping", 3}, {"analytics", 3}, {"support", 3}, {"wiki", 2}, {"ci", 2},
	{"registry", 2}, {"mail", 2}, {"chat", 2}, {"vault", 2}, {"k8s", 2}, {"erp", 1},
	{"marketing", 1}, {"ledger", 1}, {"backoffice", 1},
};
static const struct wpair r_outcomes[] = {
	{"success", 90}, {"denied", 6}, {"failure", 3}, {"error", 1},
};
static const struct wpair r_nets[] = {
	{"10.20", 25}, {"10.21", 15}, {"10.40", 10}, {"172.16", 10}, {"172.17", 8},
	{"192.168", 8}, {"100.64", 6}, {"10.99", 5}, {"198.51", 4}, {"203.0", 4},
	{"185.220", 3}, {"45.83", 2},
};

#define LINE_CAP 1024
#define COPY_HEAD "COPY audit (time, actor, action, outcome, source_ip, service, resource, event) FROM STDIN;\n"

/* A uniform double in [0, 1). */
static double unit(uint64_t *rng)
{
	return (double)(bench_rand(rng) >> 11) * (1.0 / 9007199254740992.0);
}

static const char *pick(const struct wpair *t, size_t n, uint64_t *rng)
{
	unsigned total = 0, u;

	for (size_t i = 0; i < n; i++)
		total += t[i].w;
	u = (unsigned)(unit(rng) * total);
	for (size_t i = 0; i < n; i++) {
		if (u < t[i].w)
			return t[i].v;
		u -= t[i].w;
	}
	return t[n - 1].v;
}

struct gen {
	int read_shape;
	long days, actors;
	int64_t end_us, start_us;
	double step_us;
	uint64_t rng;
	time_t stamp_sec;
	char stamp[32];
};

static const char *stamp_of(struct gen *g, time_t sec)
{
	struct tm tm;

	if (sec != g->stamp_sec) {
		g->stamp_sec = sec;
		if (!gmtime_r(&sec, &tm) || !strftime(g->stamp, sizeof(g->stamp), "%Y-%m-%dT%H:%M:%S", &tm))
			snprintf(g->stamp, sizeof(g->stamp), "1970-01-01T00:00:00");
	}
	return g->stamp;
}

/* Event i of the read shape into buf (LINE_CAP); its length, 0 on overflow. */
static size_t read_event(struct gen *g, uint64_t i, char *buf)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	static const char *const rtypes[] = {"table", "bucket", "user", "secret", "endpoint", "document"};
	static const char *const rnames[] = {"invoices", "customers", "payroll", "sessions",
					     "orders", "audit", "keys", "reports"};
	int64_t us = g->start_us + (int64_t)(((double)i + unit(&g->rng)) * g->step_us);
	uint64_t r = bench_rand(&g->rng), r2 = bench_rand(&g->rng), r3 = bench_rand(&g->rng);
	long heavy = g->actors / 100 > 0 ? g->actors / 100 : 1;
	long actor = unit(&g->rng) < 0.2 ? (long)(r % (uint64_t)heavy)
					 : (long)((r >> 20) % (uint64_t)g->actors);
	const char *action = pick(r_actions, BENCH_NELEM(r_actions), &g->rng);
	const char *outcome = pick(r_outcomes, BENCH_NELEM(r_outcomes), &g->rng);
	const char *net = pick(r_nets, BENCH_NELEM(r_nets), &g->rng);
	const char *service = pick(r_services, BENCH_NELEM(r_services), &g->rng);
	size_t target = BENCH_EVENT_MIN + (size_t)(r3 % (BENCH_EVENT_MAX - BENCH_EVENT_MIN + 1));
	int k;
	size_t n;

	k = snprintf(buf, LINE_CAP,
		     "{\"time\":\"%s.%06ldZ\",\"actor\":{\"id\":\"u%ld\",\"type\":\"user\"},"
		     "\"action\":\"%s\",\"outcome\":\"%s\",\"source\":{\"ip\":\"%s.%u.%u\"},"
		     "\"service\":\"%s\",\"resource\":{\"type\":\"%s\",\"id\":\"%s-%u\"},"
		     "\"details\":{\"request_id\":\"%016llx\",\"rows\":%u,\"latency_ms\":%u,"
		     "\"pad\":\"",
		     stamp_of(g, (time_t)(us / 1000000)), (long)(us % 1000000), actor, action,
		     outcome, net, (unsigned)((r >> 40) & 255), (unsigned)(1 + (r >> 48) % 254),
		     service, rtypes[r2 % BENCH_NELEM(rtypes)],
		     rnames[(r2 >> 8) % BENCH_NELEM(rnames)], (unsigned)((r2 >> 16) % 100000),
		     (unsigned long long)bench_rand(&g->rng), (unsigned)((r2 >> 40) % 10000),
		     (unsigned)((r3 >> 40) % 2000));
	if (k < 0 || k > LINE_CAP - 64)
		return 0;
	n = (size_t)k;
	while (n + 3 < target) {
		uint64_t p = bench_rand(&g->rng);
		for (int j = 0; j < 12 && n + 3 < target; j++, p >>= 5)
			buf[n++] = alphabet[p & 31];
	}
	memcpy(buf + n, "\"}}", 4);
	return n + 3;
}

/* Event i of the engine shape (bench_event.h). */
static size_t engine_event(struct gen *g, uint64_t i, char *buf)
{
	int64_t us = g->start_us + (int64_t)i * 1370 + (int64_t)(bench_rand(&g->rng) % 1000);

	return bench_event(buf, LINE_CAP, &g->rng, (time_t)(us / 1000000), (long)(us % 1000000));
}

/* The string value after key in line (no escapes, invariant 3): its start
 * and length, or NULL. */
static const char *field(const char *line, const char *key, size_t *len)
{
	const char *p = strstr(line, key), *q;

	if (!p)
		return NULL;
	p += strlen(key);
	q = strchr(p, '"');
	if (!q)
		return NULL;
	*len = (size_t)(q - p);
	return p;
}

/* The COPY row of one event line. */
static int copy_row(FILE *out, const char *line)
{
	static const char *const keys[] = {"\"time\":\"", "\"actor\":{\"id\":\"", "\"action\":\"",
					   "\"outcome\":\"", "\"ip\":\"", "\"service\":\""};
	const char *res, *v;
	size_t len, tl, il;
	const char *t, *id;

	for (size_t k = 0; k < BENCH_NELEM(keys); k++) {
		v = field(line, keys[k], &len);
		if (!v)
			return -1;
		fwrite(v, 1, len, out);
		putc('\t', out);
	}
	res = strstr(line, "\"resource\":{");
	if (!res || !(t = field(res, "\"type\":\"", &tl)) || !(id = field(res, "\"id\":\"", &il)))
		return -1;
	fprintf(out, "%.*s/%.*s\t%s\n", (int)tl, t, (int)il, id, line);
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: genev [--shape engine|read] [--days D] [--actors A] [--end UNIX_S]\n"
	      "             [--copy BATCH [--from-stdin]] [--seconds S] N [SEED]\n"
	      "  N logseal/v1 events (~350 B) as NDJSON (or COPY blocks of the bench's audit\n"
	      "  table) on stdout; N = 0 with --seconds: until S seconds have passed.\n", f);
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || *out < lo || *out > hi ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct gen g = {.days = 0, .actors = 50000, .stamp_sec = -1};
	double v, seconds = 0, t0, deadline = 0;
	long copy = 0;
	int64_t end_s = (int64_t)time(NULL);
	uint64_t n = 0, seed = 1;
	int npos = 0, read_shape = 0, from_stdin = 0;
	char line[LINE_CAP];
	static char obuf[1 << 20];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--from-stdin")) {
			from_stdin = 1;
		} else if (a[0] == '-' && a[1] == '-') {
			if (!val)
				goto bad;
			i++;
			if (!strcmp(a, "--shape") && (!strcmp(val, "engine") || !strcmp(val, "read")))
				read_shape = !strcmp(val, "read");
			else if (!strcmp(a, "--days") && num(val, 1, 3650, &v) == 0)
				g.days = (long)v;
			else if (!strcmp(a, "--actors") && num(val, 1, 1e9, &v) == 0)
				g.actors = (long)v;
			else if (!strcmp(a, "--end") && num(val, 0, 4e9, &v) == 0)
				end_s = (int64_t)v;
			else if (!strcmp(a, "--copy") && num(val, 1, 1e8, &v) == 0)
				copy = (long)v;
			else if (!strcmp(a, "--seconds") && num(val, 0.1, 86400, &v) == 0)
				seconds = v;
			else
				goto bad;
		} else if (npos == 0 && num(a, 0, 1e12, &v) == 0) {
			n = (uint64_t)v;
			npos++;
		} else if (npos == 1 && num(a, 0, 1e15, &v) == 0) {
			seed = (uint64_t)v;
			npos++;
		} else {
			goto bad;
		}
	}
	if (npos < 1 || (n == 0 && seconds <= 0 && !from_stdin) || (read_shape && !g.days) ||
	    (from_stdin && !copy))
		goto bad;
	g.read_shape = read_shape;
	g.rng = (seed + 1) * 0x9E3779B97F4A7C15ULL;
	g.end_us = end_s * 1000000;
	if (read_shape) {
		g.start_us = g.end_us - (int64_t)g.days * 86400 * 1000000;
		g.step_us = (double)(g.end_us - g.start_us) / (double)(n ? n : 1);
	} else {
		g.start_us = g.end_us;
	}
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	t0 = bench_now();
	if (seconds > 0)
		deadline = t0 + seconds;
	for (uint64_t i = 0; n == 0 || i < n; i++) {
		size_t len;

		if (from_stdin) {
			if (!fgets(line, sizeof(line), stdin))
				break;
			len = strcspn(line, "\n");
			if (line[len] != '\n' && !feof(stdin)) {
				fprintf(stderr, "genev: line %" PRIu64 " is over %d bytes\n", i + 1,
					LINE_CAP - 2);
				return 1;
			}
			line[len] = '\0';
		} else {
			len = read_shape ? read_event(&g, i, line) : engine_event(&g, i, line);
		}
		if (!len) {
			fprintf(stderr, "genev: event %" PRIu64 " did not fit\n", i);
			return 1;
		}
		if (copy) {
			if (i % (uint64_t)copy == 0) {
				/* The clock is read once a batch: a timed stream ends on a
				 * whole block. */
				if (deadline && bench_now() >= deadline)
					break;
				if (i)
					fputs("\\.\n", stdout);
				fputs(COPY_HEAD, stdout);
			}
			if (copy_row(stdout, line) != 0) {
				fprintf(stderr, "genev: event %" PRIu64 " lacks a field\n", i);
				return 1;
			}
		} else {
			if (deadline && (i & 1023) == 0 && bench_now() >= deadline)
				break;
			line[len] = '\n';
			fwrite(line, 1, len + 1, stdout);
		}
		if (ferror(stdout))
			break;
	}
	if (copy)
		fputs("\\.\n", stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "genev: write error: %s\n", strerror(errno));
		return 1;
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}
