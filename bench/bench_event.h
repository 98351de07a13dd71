/*
 * bench_event.h - realistic logseal/v1 events for the benchmarks.
 *
 * One generator shared by bench_engine.c and loadgen.c (gen_events.py is its
 * Python twin for import and the PostgreSQL baseline), so every figure is
 * measured on the same kind of data: about 350 bytes of JSON each, with the
 * actor, action, outcome, address, service, resource and padding all varying
 * so that no two consecutive entries are alike.
 *
 * Invariants:
 *  1. bench_event() always returns a complete JSON object of
 *     BENCH_EVENT_MIN..BENCH_EVENT_MAX bytes without a trailing newline,
 *     and writes nothing beyond buf[cap - 1] (cap >= BENCH_EVENT_CAP).
 *  2. The output is a pure function of the state *rng and the time, so a
 *     run can be reproduced from its seed.
 */
#ifndef LS_BENCH_EVENT_H
#define LS_BENCH_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define BENCH_EVENT_MIN 330
#define BENCH_EVENT_MAX 370
#define BENCH_EVENT_CAP 512

/* xorshift64*: fast and good enough to vary content; never a zero state. */
static inline uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static const char *const bench_actions[] = {
	"db.query", "db.query", "db.query", "user.login", "user.logout", "profile.update",
	"file.read", "file.write", "secret.read", "role.grant", "api.call", "api.call",
};
static const char *const bench_services[] = {
	"billing", "auth", "storage", "search", "payments", "hr", "crm", "reporting",
};
static const char *const bench_rtypes[] = {
	"table", "bucket", "user", "secret", "endpoint", "document",
};
static const char *const bench_rnames[] = {
	"invoices", "customers", "payroll", "sessions", "orders", "audit", "keys", "reports",
};

#define BENCH_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static inline const char *bench_outcome(uint64_t r)
{
	/* Mostly successes, as in real access logs. */
	switch (r % 20) {
	case 0: return "failure";
	case 1: return "denied";
	case 2: return "error";
	default: return "success";
	}
}

/* One event at time sec.usec (UTC) into buf; returns its length. */
static inline size_t bench_event(char *buf, size_t cap, uint64_t *rng, time_t sec, long usec)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	char ts[32];
	struct tm tm;
	uint64_t r1 = bench_rand(rng), r2 = bench_rand(rng), r3 = bench_rand(rng);
	size_t target = BENCH_EVENT_MIN + (size_t)(r3 % (BENCH_EVENT_MAX - BENCH_EVENT_MIN + 1));
	size_t n;
	int k;

	if (cap < BENCH_EVENT_CAP) {
		if (cap)
			buf[0] = '\0';
		return 0;
	}
	if (!gmtime_r(&sec, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(ts, sizeof(ts), "1970-01-01T00:00:00");
	k = snprintf(buf, cap,
		     "{\"time\":\"%s.%06ldZ\",\"actor\":{\"id\":\"u%u\",\"type\":\"user\"},"
		     "\"action\":\"%s\",\"outcome\":\"%s\","
		     "\"source\":{\"ip\":\"10.%u.%u.%u\"},\"service\":\"%s\","
		     "\"resource\":{\"type\":\"%s\",\"id\":\"%s-%u\"},"
		     "\"details\":{\"request_id\":\"%016llx\",\"rows\":%u,\"latency_ms\":%u,"
		     "\"pad\":\"",
		     ts, usec % 1000000, (unsigned)(r1 % 5000),
		     bench_actions[(r1 >> 16) % BENCH_NELEM(bench_actions)],
		     bench_outcome(r1 >> 24),
		     (unsigned)((r2 >> 8) & 255), (unsigned)((r2 >> 16) & 255),
		     (unsigned)(1 + ((r2 >> 24) % 254)),
		     bench_services[(r1 >> 32) % BENCH_NELEM(bench_services)],
		     bench_rtypes[(r1 >> 40) % BENCH_NELEM(bench_rtypes)],
		     bench_rnames[(r1 >> 48) % BENCH_NELEM(bench_rnames)],
		     (unsigned)((r2 >> 32) % 100000), (unsigned long long)r3,
		     (unsigned)(r2 % 10000), (unsigned)((r3 >> 40) % 2000));
	if (k < 0 || (size_t)k > cap - 8) {
		buf[0] = '\0';
		return 0;
	}
	n = (size_t)k;
	/* Pad with base32 letters, five bits of one random word per letter. */
	while (n + 3 < target) {
		uint64_t r = bench_rand(rng);
		for (int i = 0; i < 12 && n + 3 < target; i++, r >>= 5)
			buf[n++] = alphabet[r & 31];
	}
	buf[n++] = '"';
	buf[n++] = '}';
	buf[n++] = '}';
	buf[n] = '\0';
	return n;
}

#endif
