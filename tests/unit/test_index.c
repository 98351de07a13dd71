/*
 * test_index.c - unit tests of the query index (src/followers/index*.c).
 *
 * Each test builds a data directory by hand: a journal (src/journal.h) of
 * canonical JSON events made here from a generator, with some entries that
 * are not events at all.  The expected answer of every query is computed by
 * brute force over the generator's model with a matcher written
 * independently of index.c (bitwise CIDR match instead of blob ranges,
 * plain string comparison for prefixes), and compared index by index.
 */
#include <arpa/inet.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/event.h"
#include "core/postings.h"
#include "followers/index.h"
#include "store/journal.h"

#define BASE_US 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define N_FIRST 600

/* ------------------------------------------------------------- the model */

struct model {
	bool event;		/* a standard event (else: some other entry) */
	bool has_ip;
	bool no_time, no_received, no_action;	/* only with sparse */
	int64_t time_us, received_us;
	char actor[16], action[32], outcome[16], service[16], rtype[8], rid[8], writer[8];
	char ip[48];
	uint8_t ip16[16];
};

static const char *const ACTIONS[] = { "user.login", "user.logout", "profile.update",
				       "user", "userx.login", "db.query" };
static const char *const OUTCOMES[] = { "success", "failure", "denied", "error", "unknown" };

/* The tail tests' data set: also events without a time, a received time or
 * an action, and IPv6 addresses under ::/16 (beside the IPv4 ones). */
static bool sparse;

/* Entry i of the data set.  Event times are shuffled against the leaf order
 * so that time filters and index order are independent. */
static void model_make(uint64_t i, struct model *m)
{
	memset(m, 0, sizeof(*m));
	if (i % 50 == 17)
		return; /* not an event */
	m->event = true;
	m->no_time = sparse && i % 13 == 5;
	m->no_received = sparse && i % 17 == 3;
	m->no_action = sparse && i % 19 == 7;
	m->time_us = BASE_US + (int64_t)((i * 37) % 1000) * 60 * 1000000LL + (int64_t)i;
	m->received_us = BASE_US + 86400 * 1000000LL + (int64_t)i * 1000000LL;
	snprintf(m->actor, sizeof(m->actor), "user-%d", (int)(i % 7));
	snprintf(m->action, sizeof(m->action), "%s", ACTIONS[i % 6]);
	snprintf(m->outcome, sizeof(m->outcome), "%s", OUTCOMES[i % 5]);
	snprintf(m->service, sizeof(m->service), "svc-%d", (int)(i % 3));
	snprintf(m->rtype, sizeof(m->rtype), "%s", i % 2 ? "doc" : "db");
	snprintf(m->rid, sizeof(m->rid), "r%d", (int)(i % 10));
	snprintf(m->writer, sizeof(m->writer), "w%d", (int)(i % 2));
	if (i % 11 == 0)
		return; /* source without an ip */
	m->has_ip = true;
	switch (i % 4) {
	case 0:
		snprintf(m->ip, sizeof(m->ip), "10.%d.%d.%d", (int)(i % 4), (int)(i % 5),
			 (int)(i % 250));
		break;
	case 1:
		snprintf(m->ip, sizeof(m->ip), "192.168.1.%d", (int)(i % 256));
		break;
	case 2:
		snprintf(m->ip, sizeof(m->ip), "2001:db8:0:%x::%x:%x", (unsigned)(i % 3),
			 (unsigned)(i >> 16), (unsigned)(i & 0xffff));
		break;
	default:
		snprintf(m->ip, sizeof(m->ip), "2001:db8:1::%x:%x", (unsigned)(i >> 16),
			 (unsigned)(i & 0xffff));
		break;
	}
	if (sparse && i % 23 == 2)
		snprintf(m->ip, sizeof(m->ip), "::%x:%x", (unsigned)(i % 5), (unsigned)(i & 0xffff));
	if (strchr(m->ip, ':')) {
		assert_int_equal(inet_pton(AF_INET6, m->ip, m->ip16), 1);
	} else {
		memset(m->ip16, 0, 10);
		m->ip16[10] = m->ip16[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, m->ip, m->ip16 + 12), 1);
	}
}

/* The stored bytes of entry i: canonical JSON of the event, or something
 * else for the non-events (an arbitrary object, a wrong-typed lookalike,
 * bytes that are not JSON). */
static char *entry_make(uint64_t i, size_t *len)
{
	struct model m;
	char t[40], r[40];
	json_t *o, *src;
	char *out = NULL;

	model_make(i, &m);
	if (!m.event) {
		switch ((i / 50) % 3) {
		case 0:
			o = json_pack("{s:s,s:i,s:{s:s}}", "hello", "world", "n", (json_int_t)i,
				      "nested", "action", "user.login");
			break;
		case 1:
			o = json_pack("{s:i,s:s,s:[s],s:{s:i}}", "time", 5, "actor", "user-1",
				      "action", "user.login", "source", "ip", 10);
			break;
		default:
			out = strdup("this is not JSON {\"action\":\"user.login\"");
			assert_non_null(out);
			*len = strlen(out);
			return out;
		}
		assert_non_null(o);
		assert_int_equal(event_canonical(o, &out, len), LS_OK);
		json_decref(o);
		return out;
	}
	event_format_time(m.time_us, t, sizeof(t));
	event_format_time(m.received_us, r, sizeof(r));
	src = m.has_ip ? json_pack("{s:s,s:i}", "ip", m.ip, "port", 443)
		       : json_pack("{s:s}", "endpoint", "cli");
	o = json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:o,s:{s:s,s:s},s:s,s:s,s:s,s:s,s:{s:i}}",
		      "time", t, "received", r, "actor", "id", m.actor, "type", "user", "action",
		      m.action, "outcome", m.outcome, "source", src, "resource", "type", m.rtype,
		      "id", m.rid, "service", m.service, "writer", m.writer, "schema",
		      "logseal/v1", "remote_ip", "127.0.0.1", "details", "n", (json_int_t)i);
	assert_non_null(o);
	if (m.no_time)
		assert_int_equal(json_object_del(o, "time"), 0);
	if (m.no_received)
		assert_int_equal(json_object_del(o, "received"), 0);
	if (m.no_action)
		assert_int_equal(json_object_del(o, "action"), 0);
	assert_int_equal(event_canonical(o, &out, len), LS_OK);
	json_decref(o);
	return out;
}

/* ------------------------------------------------------- expected results */

/* Filters of a test case, written out by hand next to the query string. */
struct tf {
	bool from_set, to_set, rfrom_set, rto_set;
	int64_t from, to, rfrom, rto;
	const char *actor, *action, *prefix, *outcome, *service, *rtype, *rid, *writer;
	const char *net; /* address */
	int plen;	 /* prefix length in the address's own family */
};

static bool ip_match(const struct model *m, const char *net, int plen)
{
	uint8_t a[16];
	int bits, i;

	if (!m->has_ip)
		return false;
	if (strchr(net, ':')) {
		assert_int_equal(inet_pton(AF_INET6, net, a), 1);
		bits = plen;
	} else {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, net, a + 12), 1);
		bits = 96 + plen;
	}
	for (i = 0; i < bits; i++) {
		int bit = 7 - i % 8;

		if (((a[i / 8] >> bit) & 1) != ((m->ip16[i / 8] >> bit) & 1))
			return false;
	}
	return true;
}

static bool tf_match(const struct model *m, const struct tf *f)
{
	bool any = f->from_set || f->to_set || f->rfrom_set || f->rto_set || f->actor ||
		   f->action || f->prefix || f->outcome || f->service || f->rtype || f->rid ||
		   f->writer || f->net;

	if (!m->event)
		return !any;
	if ((f->from_set || f->to_set) && m->no_time)
		return false;
	if ((f->rfrom_set || f->rto_set) && m->no_received)
		return false;
	if ((f->action || f->prefix) && m->no_action)
		return false;
	if ((f->from_set && m->time_us < f->from) || (f->to_set && m->time_us >= f->to) ||
	    (f->rfrom_set && m->received_us < f->rfrom) || (f->rto_set && m->received_us >= f->rto))
		return false;
	if ((f->actor && strcmp(f->actor, m->actor)) || (f->action && strcmp(f->action, m->action)) ||
	    (f->prefix && strncmp(f->prefix, m->action, strlen(f->prefix))) ||
	    (f->outcome && strcmp(f->outcome, m->outcome)) ||
	    (f->service && strcmp(f->service, m->service)) ||
	    (f->rtype && strcmp(f->rtype, m->rtype)) || (f->rid && strcmp(f->rid, m->rid)) ||
	    (f->writer && strcmp(f->writer, m->writer)))
		return false;
	if (f->net && !ip_match(m, f->net, f->plen))
		return false;
	return true;
}

/* Leaf indexes < size matching f, in order. */
static size_t expected(const struct tf *f, uint64_t size, bool asc, uint64_t *out)
{
	struct model m;
	size_t n = 0;
	uint64_t k;

	for (k = 0; k < size; k++) {
		uint64_t i = asc ? k : size - 1 - k;

		model_make(i, &m);
		if (tf_match(&m, f))
			out[n++] = i;
	}
	return n;
}

/* ------------------------------------------------------------- fixtures */

/* Leaves per range of the index under test: small, so that every data set
 * spans several sealed ranges (.post files) and the one in memory. */
static uint32_t range_leaves = 256;

static ls_rc open_l(const char *root, struct index **out, struct ls_err *err)
{
	ls_rc rc = index_open(root, out, err);

	if (rc == LS_OK)
		index_set_range_leaves(*out, range_leaves);
	return rc;
}

static uint64_t sealed_floor(uint64_t n)
{
	return n - n % range_leaves;
}

struct fx {
	char root[64];
	char jdir[96];
	struct journal *j;
	struct index *idx;
	uint64_t size;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void append_entries(struct fx *fx, uint64_t n)
{
	struct iovec iov[256];
	char *bufs[256];
	uint64_t first, done = 0;
	struct ls_err err;
	size_t k, i;

	while (done < n) {
		k = n - done < 256 ? (size_t)(n - done) : 256;
		for (i = 0; i < k; i++) {
			bufs[i] = entry_make(fx->size + done + i, &iov[i].iov_len);
			iov[i].iov_base = bufs[i];
		}
		assert_int_equal(journal_append(fx->j, iov, k, &first, &err), LS_OK);
		assert_int_equal(first, fx->size + done);
		for (i = 0; i < k; i++)
			free(bufs[i]);
		done += k;
	}
	fx->size += n;
}

static void open_index(struct fx *fx)
{
	struct ls_err err;

	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
}

static void caught_up(struct fx *fx)
{
	assert_int_equal(index_wait(fx->idx, fx->size, 10000), LS_OK);
	assert_int_equal(index_watermark(fx->idx), fx->size);
	assert_null(index_error(fx->idx));
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct journal_opts o = { .segment_size = 32768 };
	struct ls_err err;

	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/ls-index-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->jdir, sizeof(fx->jdir), "%s/journal", fx->root);
	if (journal_open(fx->jdir, &o, &fx->j, NULL, &err) != LS_OK)
		return -1;
	*state = fx;
	append_entries(fx, N_FIRST);
	open_index(fx);
	caught_up(fx);
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	index_close(fx->idx);
	journal_close(fx->j);
	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Run a query string; returns the indexes (malloc'd). */
static uint64_t *run_qs(struct fx *fx, const char *qs, size_t *n, char **next, uint64_t *wm,
			ls_rc want)
{
	struct index_query q;
	struct ls_err err = { { 0 } };
	uint64_t *out = NULL;
	ls_rc rc;

	rc = index_query_parse(qs, strlen(qs), &q, NULL, NULL, &err);
	if (rc == LS_OK)
		rc = index_query_run(fx->idx, &q, &out, n, next, wm, &err);
	if (rc != want)
		fail_msg("%s: rc %s, want %s (%s)", qs, ls_rc_name(rc), ls_rc_name(want), err.msg);
	index_query_release(&q);
	return out;
}

/* All pages of qs with limit per page; checks they equal f's answer. */
static void check_all_pages(struct fx *fx, const char *qs, const struct tf *f, bool asc,
			    unsigned limit)
{
	uint64_t *want = malloc(sizeof(uint64_t) * (fx->size + 1));
	char *cursor = NULL, buf[512];
	size_t nwant, got = 0, n, i, pages = 0;

	assert_non_null(want);
	nwant = expected(f, fx->size, asc, want);
	for (;;) {
		uint64_t *res, wm;
		char *next = NULL;

		snprintf(buf, sizeof(buf), "%s%slimit=%u%s%s", qs, *qs ? "&" : "", limit,
			 cursor ? "&cursor=" : "", cursor ? cursor : "");
		res = run_qs(fx, buf, &n, &next, &wm, LS_OK);
		assert_int_equal(wm, fx->size);
		assert_true(n <= limit);
		for (i = 0; i < n; i++) {
			if (got + i >= nwant || res[i] != want[got + i])
				fail_msg("%s: result %zu is %llu, want %lld", buf, got + i,
					 (unsigned long long)res[i],
					 got + i < nwant ? (long long)want[got + i] : -1LL);
		}
		got += n;
		free(res);
		free(cursor);
		cursor = next;
		pages++;
		if (!cursor)
			break;
		assert_int_equal(n, limit);
		assert_true(pages < 10000);
	}
	if (got != nwant)
		fail_msg("%s: %zu results, want %zu", qs, got, nwant);
	free(want);
}

/* ------------------------------------------------------------------ tests */

struct tcase {
	const char *qs;
	struct tf f;
};

static const struct tcase cases[] = {
	{ "", { 0 } },
	{ "from=2026-01-01T05:00:00Z",
	  { .from_set = 1, .from = BASE_US + 5 * 3600 * 1000000LL } },
	{ "to=2026-01-01T05:00:00Z", { .to_set = 1, .to = BASE_US + 5 * 3600 * 1000000LL } },
	{ "from=2026-01-01T03:00:00%2B01:00&to=2026-01-01T10:30:00Z",
	  { .from_set = 1, .from = BASE_US + 2 * 3600 * 1000000LL, .to_set = 1,
	    .to = BASE_US + 630 * 60 * 1000000LL } },
	{ "received_from=2026-01-02T00:05:00Z&received_to=2026-01-02T00:07:00.5Z",
	  { .rfrom_set = 1, .rfrom = BASE_US + (86400 + 300) * 1000000LL, .rto_set = 1,
	    .rto = BASE_US + (86400 + 420) * 1000000LL + 500000 } },
	{ "actor=user-3", { .actor = "user-3" } },
	{ "actor=nobody", { .actor = "nobody" } },
	{ "action=user.login", { .action = "user.login" } },
	{ "action=user", { .action = "user" } },
	{ "action=user.*", { .prefix = "user." } },
	{ "action=user*", { .prefix = "user" } },
	{ "action=profile.*", { .prefix = "profile." } },
	{ "outcome=denied", { .outcome = "denied" } },
	{ "service=svc-2", { .service = "svc-2" } },
	{ "resource_type=doc", { .rtype = "doc" } },
	{ "resource_id=r7", { .rid = "r7" } },
	{ "resource_type=db&resource_id=r4", { .rtype = "db", .rid = "r4" } },
	{ "writer=w1", { .writer = "w1" } },
	{ "source_ip=192.168.1.9", { .net = "192.168.1.9", .plen = 32 } },
	{ "source_ip=192.168.1.9/32", { .net = "192.168.1.9", .plen = 32 } },
	{ "source_ip=192.168.1.0/24", { .net = "192.168.1.0", .plen = 24 } },
	{ "source_ip=10.0.0.0/8", { .net = "10.0.0.0", .plen = 8 } },
	{ "source_ip=10.0.0.0/16", { .net = "10.0.0.0", .plen = 16 } },
	{ "source_ip=10.0.2.0/24", { .net = "10.0.2.0", .plen = 24 } },
	{ "source_ip=0.0.0.0/0", { .net = "0.0.0.0", .plen = 0 } },
	{ "source_ip=2001:db8:0:1::/64", { .net = "2001:db8:0:1::", .plen = 64 } },
	{ "source_ip=2001:db8::/32", { .net = "2001:db8::", .plen = 32 } },
	{ "source_ip=2001:db8:1::3", { .net = "2001:db8:1::3", .plen = 128 } },
	{ "source_ip=2001:db8:1::0:3/128", { .net = "2001:db8:1::3", .plen = 128 } },
	{ "source_ip=::ffff:192.168.1.0/120", { .net = "192.168.1.0", .plen = 24 } },
	{ "source_ip=::/0", { .net = "::", .plen = 0 } },
	{ "source_ip=::ffff:0.0.0.0/96", { .net = "0.0.0.0", .plen = 0 } },
	{ "source_ip=10.3.0.0/16", { .net = "10.3.0.0", .plen = 16 } },
	{ "source_ip=10.0.3.0/24", { .net = "10.0.3.0", .plen = 24 } },
	{ "source_ip=2001:db8::/16", { .net = "2001:db8::", .plen = 16 } },
	{ "source_ip=2001:db8:1::/48", { .net = "2001:db8:1::", .plen = 48 } },
	{ "source_ip=2001:db8:0:2::/56", { .net = "2001:db8:0:2::", .plen = 56 } },
	/* IPv6 prefixes of zeros also hold every IPv4 address (::ffff:a.b.c.d). */
	{ "source_ip=::/16", { .net = "::", .plen = 16 } },
	{ "source_ip=::/64", { .net = "::", .plen = 64 } },
	{ "actor=user-1&outcome=success&action=user.*",
	  { .actor = "user-1", .outcome = "success", .prefix = "user." } },
	{ "service=svc-0&source_ip=10.0.0.0/8&from=2026-01-01T08:00:00Z",
	  { .service = "svc-0", .net = "10.0.0.0", .plen = 8, .from_set = 1,
	    .from = BASE_US + 8 * 3600 * 1000000LL } },
	{ "writer=w0&resource_type=db&outcome=error&to=2026-01-01T12:00:00Z",
	  { .writer = "w0", .rtype = "db", .outcome = "error", .to_set = 1,
	    .to = BASE_US + 12 * 3600 * 1000000LL } },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void test_filters(void **state)
{
	struct fx *fx = *state;
	size_t c;
	int asc;

	for (c = 0; c < NCASES; c++) {
		for (asc = 0; asc < 2; asc++) {
			char qs[256];
			uint64_t want[N_FIRST];
			size_t nwant;

			snprintf(qs, sizeof(qs), "%s%sorder=%s", cases[c].qs, *cases[c].qs ? "&" : "",
				 asc ? "asc" : "desc");
			nwant = expected(&cases[c].f, fx->size, asc, want);
			/* One page of everything, and pages of 7. */
			check_all_pages(fx, qs, &cases[c].f, asc, 1000);
			check_all_pages(fx, qs, &cases[c].f, asc, 7);
			if (strcmp(cases[c].qs, "actor=nobody") &&
			    strcmp(cases[c].qs, "source_ip=10.3.0.0/16") && nwant == 0)
				fail_msg("%s: the data set has no match", cases[c].qs);
		}
	}
}

static void test_default_order_and_limit(void **state)
{
	struct fx *fx = *state;
	uint64_t *res;
	char *next = NULL;
	size_t n, i;
	uint64_t wm;

	res = run_qs(fx, "", &n, &next, &wm, LS_OK);
	assert_int_equal(n, INDEX_LIMIT_DEFAULT);
	for (i = 0; i < n; i++)
		assert_int_equal(res[i], fx->size - 1 - i);
	assert_non_null(next);
	free(res);
	free(next);
	res = run_qs(fx, "limit=1000", &n, &next, &wm, LS_OK);
	assert_int_equal(n, fx->size);
	assert_null(next);
	free(res);
	run_qs(fx, "limit=0", &n, &next, &wm, LS_INVALID);
	run_qs(fx, "limit=1001", &n, &next, &wm, LS_INVALID);
	run_qs(fx, "limit=-1", &n, &next, &wm, LS_INVALID);
	run_qs(fx, "limit=12abc", &n, &next, &wm, LS_INVALID);
	run_qs(fx, "limit=99999999999999999999", &n, &next, &wm, LS_INVALID);
	run_qs(fx, "order=up", &n, &next, &wm, LS_INVALID);
	res = run_qs(fx, "limit=1&order=asc", &n, &next, &wm, LS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(res[0], 0);
	free(res);
	free(next);
}

static void test_cursor_tampering(void **state)
{
	struct fx *fx = *state;
	char *next = NULL, *n2 = NULL, qs[256];
	uint64_t *res, wm;
	size_t n, i, len;
	static const char alphabet[] = "Aa0-_";

	res = run_qs(fx, "actor=user-2&limit=5", &n, &next, &wm, LS_OK);
	free(res);
	assert_non_null(next);
	len = strlen(next);
	assert_int_equal(len, INDEX_CURSOR_TEXT);
	/* The cursor works with its own query... */
	snprintf(qs, sizeof(qs), "actor=user-2&limit=5&cursor=%s", next);
	res = run_qs(fx, qs, &n, &n2, &wm, LS_OK);
	assert_int_equal(n, 5);
	free(res);
	free(n2);
	/* ...and with another limit (the page size may change)... */
	snprintf(qs, sizeof(qs), "limit=50&actor=user-2&cursor=%s", next);
	free(run_qs(fx, qs, &n, &n2, &wm, LS_OK));
	free(n2);
	/* ...but not with other filters or another order. */
	snprintf(qs, sizeof(qs), "actor=user-3&limit=5&cursor=%s", next);
	run_qs(fx, qs, &n, &n2, &wm, LS_INVALID);
	snprintf(qs, sizeof(qs), "limit=5&cursor=%s", next);
	run_qs(fx, qs, &n, &n2, &wm, LS_INVALID);
	snprintf(qs, sizeof(qs), "actor=user-2&order=asc&cursor=%s", next);
	run_qs(fx, qs, &n, &n2, &wm, LS_INVALID);
	/* Any changed character, truncation or extension is refused. */
	for (i = 0; i < len; i++) {
		size_t a;

		for (a = 0; a < sizeof(alphabet) - 1; a++) {
			char *t = strdup(next);
			struct index_query q;
			struct ls_err err;

			assert_non_null(t);
			if (t[i] == alphabet[a]) {
				free(t);
				continue;
			}
			t[i] = alphabet[a];
			index_query_init(&q);
			assert_int_equal(index_cursor_decode(t, len, &q, &err), LS_INVALID);
			assert_non_null(strstr(err.msg, "cursor"));
			free(t);
		}
	}
	snprintf(qs, sizeof(qs), "actor=user-2&cursor=%.*s", (int)len - 1, next);
	run_qs(fx, qs, &n, &n2, &wm, LS_INVALID);
	snprintf(qs, sizeof(qs), "actor=user-2&cursor=%sA", next);
	run_qs(fx, qs, &n, &n2, &wm, LS_INVALID);
	run_qs(fx, "cursor=%2B%2F%3D%3D", &n, &n2, &wm, LS_INVALID);
	/* An empty cursor is the first page. */
	res = run_qs(fx, "actor=user-2&limit=5&cursor=", &n, &n2, &wm, LS_OK);
	assert_int_equal(n, 5);
	free(res);
	free(n2);
	free(next);
}

static void test_pagination_concurrent_appends(void **state)
{
	struct fx *fx = *state;
	char *cursor = NULL, qs[256];
	uint64_t seen_desc[N_FIRST + 200] = { 0 }, *res, wm, last = 0;
	size_t n, i, total = 0, rounds = 0;
	uint64_t size0 = fx->size;
	int order;

	for (order = 0; order < 2; order++) {
		total = 0;
		rounds = 0;
		memset(seen_desc, 0, sizeof(seen_desc));
		for (;;) {
			char *next = NULL;

			snprintf(qs, sizeof(qs), "order=%s&limit=50%s%s", order ? "asc" : "desc",
				 cursor ? "&cursor=" : "", cursor ? cursor : "");
			res = run_qs(fx, qs, &n, &next, &wm, LS_OK);
			for (i = 0; i < n; i++) {
				assert_true(res[i] < N_FIRST + 200);
				assert_int_equal(seen_desc[res[i]], 0);
				seen_desc[res[i]] = 1;
				if (total + i > 0)
					assert_true(order ? res[i] > last : res[i] < last);
				last = res[i];
			}
			total += n;
			free(res);
			free(cursor);
			cursor = next;
			/* Writers keep appending while the auditor pages. */
			if (rounds++ < 4 && fx->size < N_FIRST + 200) {
				append_entries(fx, 20);
				index_notify(fx->idx, fx->size);
				caught_up(fx);
			}
			if (!cursor)
				break;
		}
		if (order == 0) {
			/* Newest first: the set as of the first page, exactly once. */
			assert_int_equal(total, size0);
			for (i = 0; i < size0; i++)
				assert_int_equal(seen_desc[i], 1);
		} else {
			/* Oldest first: everything, including what came meanwhile. */
			assert_int_equal(total, fx->size);
		}
		size0 = fx->size;
	}
}

static void test_parse(void **state)
{
	struct index_query q;
	struct ls_err err;
	const char *qs;
	json_t *j;
	char *s;

	(void)state;
	qs = "actor=alice%20smith&service=a+b&action=%75ser.*&resource_id=%2Fx%2Fy%3D1%26z&"
	     "source_ip=10.1.2.3%2F8&&from=2026-01-01T00:00:00%2B02:00";
	assert_int_equal(index_query_parse(qs, strlen(qs), &q, NULL, NULL, &err), LS_OK);
	assert_string_equal(q.actor, "alice smith");
	assert_string_equal(q.service, "a b");
	assert_string_equal(q.action, "user.");
	assert_true(q.has & INDEX_Q_ACTION_PREFIX);
	assert_false(q.has & INDEX_Q_ACTION);
	assert_string_equal(q.resource_id, "/x/y=1&z");
	assert_string_equal(q.source_ip, "10.0.0.0/8");
	assert_int_equal(q.from_us, BASE_US - 2 * 3600 * 1000000LL);
	assert_int_equal(q.order, INDEX_DESC);
	assert_int_equal(q.limit, INDEX_LIMIT_DEFAULT);
	j = index_query_filters_json(&q);
	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"action\":\"user.*\",\"actor\":\"alice smith\","
			       "\"from\":\"2025-12-31T22:00:00.000000Z\",\"resource_id\":\"/x/y=1&z\","
			       "\"service\":\"a b\",\"source_ip\":\"10.0.0.0/8\"}");
	free(s);
	json_decref(j);
	index_query_release(&q);

	/* Prefixes, not-equal filters, a date and a relative time. */
	qs = "resource_id=payments/*&service=pay*&actor!=bob&outcome!=success&outcome!=unknown&"
	     "resource_id!=x:*&from=2026-01-01&to=now-90m";
	{
		struct timespec ts;
		int64_t now_us;

		assert_int_equal(index_query_parse(qs, strlen(qs), &q, NULL, NULL, &err), LS_OK);
		clock_gettime(CLOCK_REALTIME, &ts);
		now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		assert_true(q.to_us <= now_us - 90LL * 60 * 1000000 &&
			    q.to_us > now_us - 91LL * 60 * 1000000);
	}
	assert_true(q.has & INDEX_Q_RESOURCE_ID_PREFIX);
	assert_false(q.has & INDEX_Q_RESOURCE_ID);
	assert_string_equal(q.resource_id, "payments/");
	assert_true(q.has & INDEX_Q_SERVICE_PREFIX);
	assert_string_equal(q.service, "pay");
	assert_int_equal(q.from_us, BASE_US);
	assert_int_equal(q.nnot, 4);
	assert_int_equal(q.nots[0].bit, INDEX_Q_ACTOR);
	assert_string_equal(q.nots[0].value, "bob");
	assert_int_equal(q.nots[3].bit, INDEX_Q_RESOURCE_ID_PREFIX);
	assert_string_equal(q.nots[3].value, "x:");
	assert_string_equal(q.when[1], "now-90m");
	assert_string_equal(q.when[0], "");
	j = index_query_filters_json(&q);
	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(s, "\"actor!\":[\"bob\"],\"from\":\"2026-01-01T00:00:00.000000Z\","
				  "\"outcome!\":[\"success\",\"unknown\"],\"resource_id\":\"payments/*\","
				  "\"resource_id!\":[\"x:*\"],\"service\":\"pay*\",\"to\":\"20"));
	free(s);
	json_decref(j);
	index_query_release(&q);

	/* Unknown names, repeats, bad values and bad encodings: each named. */
	{
		static const struct { const char *qs, *needle; } bad[] = {
			{ "actr=alice", "unknown parameter 'actr'" },
			{ "actor=a&actor=b", "'actor'" },
			{ "action=a&action=b.*", "'action'" },
			{ "from=yesterday", "'from'" },
			{ "to=2026-13-01T00:00:00Z", "'to'" },
			{ "received_from=2026-01-32", "'received_from'" },
			{ "from=2026-01-01T00:00:00 02:00", "must be sent as %2B" },
			{ "from=24x", "units s m h d w" },
			{ "from=now+1h", "'from'" },
			{ "resource_id=pay*", "keyed hashes" },
			{ "resource_id=a/b/c/d/e/*", "at most 4" },
			{ "actor=al*", "keyed hashes" },
			{ "resource_type=d*", "keyed hashes" },
			{ "service=*", "'service'" },
			{ "actor!=", "'actor!'" },
			{ "cursor!=x", "unknown parameter 'cursor!'" },
			{ "outcome!=nope", "'outcome!'" },
			{ "service=a&service=b*", "'service'" },
			{ "resource_id=a/*&resource_id=b", "'resource_id'" },
			{ "received_to=x", "'received_to'" },
			{ "outcome=denyed", "'outcome'" },
			{ "source_ip=10.0.0.0/33", "'source_ip'" },
			{ "source_ip=::/129", "'source_ip'" },
			{ "source_ip=10.0.0/8", "'source_ip'" },
			{ "source_ip=10.0.0.1/", "'source_ip'" },
			{ "source_ip=10.0.0.1/+8", "'source_ip'" },
			{ "source_ip=example.com", "'source_ip'" },
			/* Prefix lengths the blind index does not keep: refused, naming those it does. */
			{ "source_ip=10.0.0.0/28", "/24" },
			{ "source_ip=10.0.0.0/12", "IPv4 /0, /8, /16, /24, /32" },
			{ "source_ip=10.0.0.0/1", "'source_ip'" },
			{ "source_ip=2001:db8::/40", "IPv6 /0, /16, /32, /48, /56, /64, /128" },
			{ "source_ip=2001:db8::/96", "'source_ip'" },
			{ "source_ip=2001:db8::/127", "'source_ip'" },
			{ "source_ip=::ffff:10.0.0.0/100", "'source_ip'" },
			{ "action=*", "'action'" },
			{ "action=a*b*", "'action'" },
			{ "actor=", "'actor'" },
			{ "actor", "'actor'" },
			{ "actor=%zz", "'actor'" },
			{ "actor=abc%4", "'actor'" },
			{ "actor=a%00b", "'actor'" },
			{ "actor=%ff%fe", "'actor'" },
			{ "order=ASC", "'order'" },
			{ "limit=1e3", "'limit'" },
			{ "%zz=1", "parameter name" },
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memset(&err, 0, sizeof(err));
			if (index_query_parse(bad[i].qs, strlen(bad[i].qs), &q, NULL, NULL, &err) !=
			    LS_INVALID)
				fail_msg("%s accepted", bad[i].qs);
			if (!strstr(err.msg, bad[i].needle))
				fail_msg("%s: message '%s' lacks '%s'", bad[i].qs, err.msg,
					 bad[i].needle);
			/* Nothing is left behind on error. */
			assert_null(q.actor);
			assert_int_equal(q.has, 0);
		}
	}
	/* An IPv4-mapped IPv6 block is the IPv4 block it is. */
	qs = "source_ip=::ffff:192.168.1.77/120";
	assert_int_equal(index_query_parse(qs, strlen(qs), &q, NULL, NULL, &err), LS_OK);
	assert_string_equal(q.source_ip, "192.168.1.0/24");
	index_query_release(&q);
	/* A value over the cap. */
	{
		size_t big = INDEX_VALUE_MAX + 10;
		char *b = malloc(big + 8);

		assert_non_null(b);
		memcpy(b, "actor=", 6);
		memset(b + 6, 'a', big);
		b[6 + big] = '\0';
		assert_int_equal(index_query_parse(b, strlen(b), &q, NULL, NULL, &err), LS_INVALID);
		free(b);
	}
	/* The key/value form (already decoded: no second decoding). */
	index_query_init(&q);
	assert_int_equal(index_query_add(&q, "actor", "a%20b+c", &err), LS_OK);
	assert_string_equal(q.actor, "a%20b+c");
	assert_int_equal(index_query_add(&q, "nope", "1", &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "unknown parameter 'nope'"));
	index_query_release(&q);
}

static ls_rc extra_cb(void *ctx, const char *key, const char *value, struct ls_err *err)
{
	int *seen = ctx;

	if (!strcmp(key, "format")) {
		if (strcmp(value, "csv"))
			return ls_err_set(err, LS_INVALID, "parameter 'format': bad");
		(*seen)++;
		return LS_OK;
	}
	return LS_NOTFOUND;
}

static void test_parse_extra(void **state)
{
	struct index_query q;
	struct ls_err err;
	int seen = 0;
	const char *qs = "format=csv&actor=a";

	(void)state;
	assert_int_equal(index_query_parse(qs, strlen(qs), &q, extra_cb, &seen, &err), LS_OK);
	assert_int_equal(seen, 1);
	assert_string_equal(q.actor, "a");
	index_query_release(&q);
	qs = "format=xml";
	assert_int_equal(index_query_parse(qs, strlen(qs), &q, extra_cb, &seen, &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "'format'"));
	qs = "group_by=x";
	assert_int_equal(index_query_parse(qs, strlen(qs), &q, extra_cb, &seen, &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "unknown parameter 'group_by'"));
}

/* Brute-force stats of field (0 outcome, 1 action, 2 service, 3 actor). */
static const char *model_field(const struct model *m, int field)
{
	switch (field) {
	case 0: return m->outcome;
	case 1: return m->action;
	case 2: return m->service;
	default: return m->actor;
	}
}

static void check_stats(struct fx *fx, const char *qs, const struct tf *f, const char *group,
			int field, uint64_t bucket_s)
{
	struct index_query q;
	struct ls_err err;
	json_t *out, *buckets, *b;
	int64_t total = 0, sum = 0;
	size_t i, nb;
	struct model m;
	uint64_t k;

	assert_int_equal(index_query_parse(qs, strlen(qs), &q, NULL, NULL, &err), LS_OK);
	if (index_stats(fx->idx, &q, group, bucket_s, &out, &err) != LS_OK)
		fail_msg("stats %s: %s", qs, err.msg);
	index_query_release(&q);
	assert_string_equal(json_string_value(json_object_get(out, "group_by")), group);
	assert_int_equal(json_integer_value(json_object_get(out, "bucket")), bucket_s);
	assert_int_equal(json_integer_value(json_object_get(out, "watermark")), fx->size);
	buckets = json_object_get(out, "buckets");
	nb = json_array_size(buckets);
	json_array_foreach(buckets, i, b) {
		const char *start = json_string_value(json_object_get(b, "start"));
		json_t *counts = json_object_get(b, "counts"), *v;
		const char *name;
		int64_t lo = 0, other = 0;

		if (bucket_s) {
			assert_non_null(start);
			assert_int_equal(event_parse_time(start, &lo), LS_OK);
			assert_int_equal(lo % (int64_t)(bucket_s * 1000000), 0);
		} else {
			assert_true(json_is_null(json_object_get(b, "start")));
		}
		json_object_foreach(counts, name, v) {
			int64_t want = 0;

			for (k = 0; k < fx->size; k++) {
				model_make(k, &m);
				if (tf_match(&m, f) && m.event && !strcmp(model_field(&m, field), name) &&
				    !(field == 1 && m.no_action) &&
				    (!bucket_s || (!m.no_time && m.time_us >= lo &&
						   m.time_us < lo + (int64_t)bucket_s * 1000000)))
					want++;
			}
			if (json_integer_value(v) != want)
				fail_msg("%s %s per %llu s: bucket %s %s: %lld, want %lld", qs, group, (unsigned long long)bucket_s,
					 start ? start : "-", name, (long long)json_integer_value(v),
					 (long long)want);
			assert_true(want > 0);
			sum += want;
		}
		/* other: non-events (no field; no time either) and, in the sparse
		 * data set, events without an action, in this bucket */
		for (k = 0; k < fx->size; k++) {
			model_make(k, &m);
			if (!tf_match(&m, f))
				continue;
			if (!m.event && !bucket_s)
				other++;
			else if (m.event && field == 1 && m.no_action &&
				 (!bucket_s || (!m.no_time && m.time_us >= lo &&
						m.time_us < lo + (int64_t)bucket_s * 1000000)))
				other++;
		}
		assert_int_equal(json_integer_value(json_object_get(b, "other")), other);
		sum += other;
	}
	for (k = 0; k < fx->size; k++) {
		model_make(k, &m);
		if (tf_match(&m, f) && (m.event || !bucket_s) && (!bucket_s || !m.no_time))
			total++;
	}
	assert_int_equal(sum, total);
	assert_int_equal(json_integer_value(json_object_get(out, "total")), total);
	if (bucket_s == 3600 && !f->from_set && !f->to_set)
		assert_true(nb > 10);
	json_decref(out);
}

/* Random whole-hour ranges (and a few off the hour), buckets and groups,
 * each against the brute force over the model.  (The SQLite index had a
 * per-hour rollup to compare with here; stats now always count from the
 * postings' columns, across sealed ranges and the one in memory.) */
static void check_rollup_exact(struct fx *fx, unsigned seed)
{
	static const char *const groups[] = { "outcome", "action", "service" };
	static const uint64_t buckets[] = { 0, 3600, 7200, 10800, 86400, 1800 };
	char qs[160], t1[40], t2[40];
	int k;

	for (k = 0; k < 6; k++) {
		int64_t h1 = (int64_t)(rand_r(&seed) % 24) - 2, h2 = h1 + 1 + rand_r(&seed) % 20;
		unsigned kind = (unsigned)rand_r(&seed) % 5;
		int64_t off = kind == 4 ? 60 * 1000000LL : 0;
		int64_t from = BASE_US + h1 * 3600 * 1000000LL + off, to = BASE_US + h2 * 3600 * 1000000LL;
		struct tf f = { 0 };
		int g = rand_r(&seed) % 3;

		event_format_time(from, t1, sizeof(t1));
		event_format_time(to, t2, sizeof(t2));
		if (kind == 0) {
			qs[0] = '\0';
		} else if (kind == 1) {
			snprintf(qs, sizeof(qs), "from=%s", t1);
			f.from_set = 1;
			f.from = from;
		} else if (kind == 2) {
			snprintf(qs, sizeof(qs), "to=%s", t2);
			f.to_set = 1;
			f.to = to;
		} else {
			snprintf(qs, sizeof(qs), "from=%s&to=%s", t1, t2);
			f.from_set = f.to_set = 1;
			f.from = from;
			f.to = to;
		}
		check_stats(fx, qs, &f, groups[g], g, buckets[rand_r(&seed) % 6]);
	}
}

static void test_stats(void **state)
{
	struct fx *fx = *state;
	struct tf none = { 0 }, denied = { .outcome = "denied" };
	struct tf user = { .prefix = "user.", .from_set = 1,
			   .from = BASE_US + 3 * 3600 * 1000000LL };
	struct tf user3 = { .prefix = "user.", .from_set = 1,
			    .from = BASE_US + 3 * 3600 * 1000000LL, .actor = "user-3" };
	struct tf net = { .net = "10.0.0.0", .plen = 8, .rid = "r4" };
	struct tf hours = { .from_set = 1, .from = BASE_US + 2 * 3600 * 1000000LL, .to_set = 1,
			    .to = BASE_US + 9 * 3600 * 1000000LL };
	struct index_query q;
	struct ls_err err;
	json_t *out;

	check_stats(fx, "", &none, "outcome", 0, 3600);
	check_stats(fx, "", &none, "outcome", 0, 0);
	check_stats(fx, "", &none, "action", 1, 86400);
	check_stats(fx, "outcome=denied", &denied, "service", 2, 1800);
	check_stats(fx, "action=user.*&from=2026-01-01T03:00:00Z", &user, "outcome", 0, 7200);
	check_stats(fx, "action=user.*&from=2026-01-01T03:00:00Z&actor=user-3", &user3, "action",
		    1, 0);
	check_stats(fx, "source_ip=10.0.0.0/8&resource_id=r4", &net, "service", 2, 3600);
	/* A whole-hour range (the SQLite index's rollup answered these). */
	check_stats(fx, "from=2026-01-01T02:00:00Z&to=2026-01-01T09:00:00Z", &hours, "service", 2,
		    7200);
	check_rollup_exact(fx, 1);

	index_query_init(&q);
	/* Actors are keyed hashes in the index: counting by them is refused
	 * with a message that says why, not answered with opaque names. */
	assert_int_equal(index_stats(fx->idx, &q, "actor", 0, &out, &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "actor"));
	assert_non_null(strstr(err.msg, "keyed hash"));
	assert_null(out);
	assert_int_equal(index_stats(fx->idx, &q, "writer", 0, &out, &err), LS_INVALID);
	assert_non_null(strstr(err.msg, "group_by"));
	assert_int_equal(index_stats(fx->idx, &q, NULL, 0, &out, &err), LS_INVALID);
	/* Buckets without events are left out: 1-second buckets are fine for
	 * this sparse data set, but not for a whole year asked for. */
	assert_int_equal(index_stats(fx->idx, &q, "outcome", 1, &out, &err), LS_OK);
	assert_true(json_array_size(json_object_get(out, "buckets")) > 500);
	json_decref(out);
	assert_int_equal(index_query_add(&q, "from", "2026-01-01T00:00:00Z", &err), LS_OK);
	assert_int_equal(index_query_add(&q, "to", "2027-01-01T00:00:00Z", &err), LS_OK);
	assert_int_equal(index_stats(fx->idx, &q, "outcome", 60, &out, &err), LS_LIMIT);
	assert_null(out);
	index_query_release(&q);
}

static void test_reopen_catch_up(void **state)
{
	struct fx *fx = *state;
	struct ls_err err;
	uint64_t before = fx->size;
	struct tf f = { .actor = "user-4" };

	index_close(fx->idx);
	fx->idx = NULL;
	append_entries(fx, 333);
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	/* The watermark at open: the sealed ranges (.post files) written. */
	assert_int_equal(index_watermark(fx->idx), sealed_floor(before));
	/* A second opener is refused while it is open. */
	{
		struct index *other = NULL;

		assert_int_equal(open_l(fx->root, &other, &err), LS_BUSY);
		assert_null(other);
		assert_int_equal(index_rebuild(fx->root, NULL, NULL, NULL, &err), LS_BUSY);
	}
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	caught_up(fx);
	check_all_pages(fx, "actor=user-4", &f, false, 30);
}

static void progress_cb(void *ctx, uint64_t done)
{
	uint64_t *last = ctx;

	assert_true(done >= *last);
	*last = done;
}

static void test_rebuild(void **state)
{
	struct fx *fx = *state;
	struct ls_err err;
	uint64_t count = 0, last = 0;
	struct tf f = { .outcome = "failure", .net = "10.0.0.0", .plen = 8 };
	struct tf none = { 0 };

	index_close(fx->idx);
	fx->idx = NULL;
	append_entries(fx, 70000 - fx->size);
	assert_int_equal(index_rebuild(fx->root, progress_cb, &last, &count, &err), LS_OK);
	assert_int_equal(count, fx->size);
	assert_int_equal(last, fx->size);
	/* Every complete range was written, and checks against the entries. */
	{
		uint64_t files = 0, entries = 0;

		assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err),
				 LS_OK);
		assert_int_equal(entries, sealed_floor(fx->size));
		assert_int_equal(files, fx->size / range_leaves);
	}
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	assert_int_equal(index_watermark(fx->idx), sealed_floor(fx->size));
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	caught_up(fx);
	check_all_pages(fx, "order=asc&outcome=failure&source_ip=10.0.0.0/8", &f, true, 1000);
	check_all_pages(fx, "", &none, false, 1000);
	check_rollup_exact(fx, 2);
	/* And it keeps following after a rebuild. */
	append_entries(fx, 10);
	index_notify(fx->idx, fx->size);
	caught_up(fx);
	check_rollup_exact(fx, 3);
}

static void test_notify_bound(void **state)
{
	struct fx *fx = *state;
	struct ls_err err;
	uint64_t size0 = fx->size;

	index_notify(fx->idx, size0);
	append_entries(fx, 40);
	/* Not yet announced as durable: not indexed, even after a poll. */
	assert_int_equal(index_wait(fx->idx, size0 + 1, 500), LS_BUSY);
	assert_int_equal(index_watermark(fx->idx), size0);
	index_notify(fx->idx, size0 + 15);
	assert_int_equal(index_wait(fx->idx, size0 + 15, 5000), LS_OK);
	assert_int_equal(index_wait(fx->idx, size0 + 16, 300), LS_BUSY);
	index_notify(fx->idx, fx->size);
	caught_up(fx);
	/* A smaller size later never moves the bound back.  Both sizes are
	 * announced before the follower starts, so it cannot have read past
	 * the smaller one already: had the bound moved back to 3, it would
	 * stop there and the larger size would never be indexed. */
	index_close(fx->idx);
	fx->idx = NULL;
	append_entries(fx, 30);
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	index_notify(fx->idx, fx->size);
	index_notify(fx->idx, 3);
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	assert_int_equal(index_wait(fx->idx, fx->size, 5000), LS_OK);
	assert_int_equal(index_watermark(fx->idx), fx->size);
}

/* Without notifications the follower polls the journal. */
static void test_poll_fallback(void **state)
{
	struct fx *fx = *state;

	append_entries(fx, 25);
	caught_up(fx);
}

/*
 * Batches handed over as the log observer does (index_feed(): the entries
 * and the record offsets journal_append_at() reported) are indexed from
 * that copy; batches only announced (index_notify()) are read from the
 * journal.  Interleaved, across segment boundaries (segments of 32 KiB
 * here), every entry's offset in the index must be the one the journal's
 * own reader gives, and queries must answer as the model says.
 */
static void test_feed(void **state)
{
	struct fx *fx = *state;
	struct journal_iter *it;
	struct ls_err err;
	uint64_t size0 = fx->size, fed0, read0, fed, rd, want_fed = 0, want_read = 0;
	uint64_t first, i;

	index_notify(fx->idx, size0);
	index_follow_counts(fx->idx, &fed0, &read0);
	for (int b = 0; b < 14; b++) {
		size_t k = 1 + (size_t)(b * 29 % 90), j;
		struct iovec iov[90];
		uint64_t offs[90];

		for (j = 0; j < k; j++)
			iov[j].iov_base = entry_make(fx->size + j, &iov[j].iov_len);
		assert_int_equal(journal_append_at(fx->j, iov, k, &first, offs, &err), LS_OK);
		assert_int_equal(first, fx->size);
		if (b % 3 == 1) {
			index_notify(fx->idx, first + k);
			want_read += k;
		} else {
			index_feed(fx->idx, first, iov, offs, k);
			want_fed += k;
		}
		for (j = 0; j < k; j++)
			free(iov[j].iov_base);
		fx->size += k;
	}
	caught_up(fx);
	/* Nothing was fed past what was announced, so each batch came from
	 * where it was meant to. */
	index_follow_counts(fx->idx, &fed, &rd);
	assert_int_equal(fed - fed0, want_fed);
	assert_int_equal(rd - read0, want_read);

	assert_int_equal(journal_iter_open(fx->jdir, size0, &it, &err), LS_OK);
	for (i = size0; i < fx->size; i++) {
		const char *seg;
		uint64_t at, off, got;

		assert_int_equal(journal_iter_next(it, NULL, NULL, &at, &err), LS_OK);
		assert_int_equal(at, i);
		journal_iter_where(it, &seg, &off);
		/* Offsets are kept for the ranges in memory only: the active
		 * one surely, sealed ones not any more. */
		if (index_entry_offset(fx->idx, i, &got, &err) != LS_OK) {
			assert_true(i < sealed_floor(fx->size));
			continue;
		}
		if (got != off)
			fail_msg("entry %llu: offset %llu in the index, %llu in segment %s",
				 (unsigned long long)i, (unsigned long long)got,
				 (unsigned long long)off, seg);
	}
	journal_iter_free(it);
	for (size_t c = 0; c < NCASES; c++)
		check_all_pages(fx, cases[c].qs, &cases[c].f, false, 50);
}

/* Copy the first n entries of the fixture's data into a new journal at dir. */
static void make_journal(const char *dir, uint64_t n, uint64_t changed)
{
	struct journal *j;
	struct ls_err err;
	uint64_t i, first;

	assert_int_equal(journal_open(dir, NULL, &j, NULL, &err), LS_OK);
	for (i = 0; i < n; i++) {
		struct iovec v;
		char *e = entry_make(i == changed ? i + 1 : i, &v.iov_len);

		v.iov_base = e;
		assert_int_equal(journal_append(j, &v, 1, &first, &err), LS_OK);
		free(e);
	}
	journal_close(j);
}

static void swap_journal(struct fx *fx, uint64_t n, uint64_t changed)
{
	char cmd[256];

	index_close(fx->idx);
	fx->idx = NULL;
	journal_close(fx->j);
	fx->j = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->jdir);
	assert_int_equal(system(cmd), 0);
	make_journal(fx->jdir, n, changed);
	fx->size = n;
	assert_int_equal(journal_open(fx->jdir, NULL, &fx->j, NULL, NULL), LS_OK);
}

static void test_reconcile_cut(void **state)
{
	struct fx *fx = *state;
	struct ls_err err;
	struct tf none = { 0 }, f = { .actor = "user-5" };

	/* A torn tail of 100 entries was cut at recovery: the journal ends
	 * inside the sealed range [256, 512), whose file must go. */
	swap_journal(fx, N_FIRST - 100, UINT64_MAX);
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	assert_int_equal(index_watermark(fx->idx), sealed_floor(N_FIRST));
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	assert_int_equal(index_watermark(fx->idx), sealed_floor(N_FIRST - 100));
	caught_up(fx);
	check_all_pages(fx, "", &none, false, 1000);
	/* The cut leaves left the stats with them. */
	check_rollup_exact(fx, 4);
	/* New entries take the cut indexes. */
	append_entries(fx, 30);
	index_notify(fx->idx, fx->size);
	caught_up(fx);
	check_all_pages(fx, "actor=user-5&order=asc", &f, true, 1000);
	check_all_pages(fx, "order=asc", &none, true, 1000);
	check_rollup_exact(fx, 5);
	check_stats(fx, "", &none, "action", 1, 3600);
}

static void test_reconcile_other_journal(void **state)
{
	struct fx *fx = *state;
	struct ls_err err;
	struct tf none = { 0 }, f = { .actor = "user-6" }, g = { .actor = "user-0" };
	uint64_t *res, wm;
	size_t n;
	char *next;

	/* Same length, but the last entry differs: not the journal we indexed. */
	swap_journal(fx, N_FIRST, N_FIRST - 1);
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	caught_up(fx);
	check_all_pages(fx, "", &none, false, 1000);
	/* Entry N-1 now holds the data of N (actor user-(600 % 7) = user-5). */
	res = run_qs(fx, "actor=user-5&limit=1", &n, &next, &wm, LS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(res[0], N_FIRST - 1);
	free(res);
	free(next);
	(void)f;
	(void)g;
}

static void test_corruption_stops(void **state)
{
	struct fx *fx = *state;
	char seg[160];
	FILE *fp;
	uint64_t before;

	index_close(fx->idx);
	fx->idx = NULL;
	before = fx->size;
	append_entries(fx, 50);
	journal_close(fx->j);
	fx->j = NULL;
	/* Flip a byte in a record of the first segment, which holds entries
	 * the index has already seen, and in the last one, which it has not. */
	snprintf(seg, sizeof(seg), "ls -1 %s/*.seg | tail -1", fx->jdir);
	fp = popen(seg, "r");
	assert_non_null(fp);
	assert_non_null(fgets(seg, sizeof(seg), fp));
	pclose(fp);
	seg[strcspn(seg, "\n")] = '\0';
	{
		FILE *f = fopen(seg, "r+b");
		long sz;
		int c;

		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fseek(f, sz - 40, SEEK_SET);
		c = fgetc(f);
		fseek(f, sz - 40, SEEK_SET);
		fputc(c ^ 0x20, f);
		fclose(f);
	}
	/* Start must succeed (the indexed part still checks); the follower
	 * then stops at the bad record with a sticky error. */
	{
		struct ls_err err;

		assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
		assert_int_equal(index_start(fx->idx, &err), LS_OK);
	}
	assert_int_equal(index_wait(fx->idx, fx->size, 5000), LS_FAILED);
	assert_non_null(index_error(fx->idx));
	assert_non_null(strstr(index_error(fx->idx), "corrupt"));
	assert_true(index_watermark(fx->idx) >= before);
	assert_true(index_watermark(fx->idx) < fx->size);
}


/* ----------------------------------------------- the blind index on disk */

/* The bytes of path (NULL and *n = 0 when it does not exist). */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz;

	*n = 0;
	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz >= 0);
	rewind(f);
	buf = malloc((size_t)sz + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return buf;
}

struct needle {
	const char *what;
	uint8_t b[64];
	size_t n;
};

static void needle_text(struct needle *nd, const char *s)
{
	nd->what = s;
	nd->n = strlen(s);
	memcpy(nd->b, s, nd->n);
}

/* An address as the bytes an index could hold: 16-byte (IPv4-mapped) form,
 * and for IPv4 also the 4 raw bytes. */
static size_t needle_ip(struct needle *nd, const char *ip)
{
	uint8_t a[16];

	if (strchr(ip, ':')) {
		assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
		nd[0].what = ip;
		nd[0].n = 16;
		memcpy(nd[0].b, a, 16);
		return 1;
	}
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, ip, a + 12), 1);
	nd[0].what = ip;
	nd[0].n = 16;
	memcpy(nd[0].b, a, 16);
	nd[1].what = ip;
	nd[1].n = 4;
	memcpy(nd[1].b, a + 12, 4);
	return 2;
}

/* Fail when any needle is in the file at path; returns its size. */
static size_t check_file_clean(const char *path, const struct needle *nd, size_t n)
{
	size_t len, i;
	char *buf = slurp(path, &len);

	for (i = 0; buf && i < n; i++)
		if (memmem(buf, len, nd[i].b, nd[i].n))
			fail_msg("%s holds %s (%zu bytes) in plaintext", path, nd[i].what, nd[i].n);
	free(buf);
	return len;
}

static bool file_has(const char *path, const char *text)
{
	size_t len;
	char *buf = slurp(path, &len);
	bool has = buf && memmem(buf, len, text, strlen(text));

	free(buf);
	return has;
}

/* Every file of DIR/index checked with check_file_clean(); the bytes of
 * the .post files, and how many hold text (a plaintext term). */
#include <dirent.h>
static size_t check_index_clean(struct fx *fx, const struct needle *nd, size_t n,
				const char *text, size_t *with)
{
	char dir[128], path[400];
	struct dirent *e;
	size_t total = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/index", fx->root);
	d = opendir(dir);
	assert_non_null(d);
	*with = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (strstr(e->d_name, ".post")) {
			total += check_file_clean(path, nd, n);
			*with += file_has(path, text);
		} else {
			check_file_clean(path, nd, n);
		}
	}
	closedir(d);
	return total;
}

#define M_ACTOR "actor-7c1e5a-marker@example.org"
#define M_RTYPE "rtype-7c1e5a-marker"
#define M_RID "rid-7c1e5a-marker/42"
#define M_WRITER "tok_writer7c1e5amarker"
#define M_IP4 "203.0.113.77"
#define M_IP6 "2001:db8:feed:beef::77"

static void append_marker(struct fx *fx, const char *ip)
{
	struct iovec v;
	struct ls_err err;
	uint64_t first;
	char *out = NULL;
	size_t len;
	json_t *o;

	o = json_pack("{s:s,s:{s:s,s:s},s:s,s:s,s:{s:s},s:{s:s,s:s},s:s,s:s}", "time",
		      "2026-01-01T01:02:03Z", "actor", "id", M_ACTOR, "type", "user", "action",
		      "marker.test", "outcome", "success", "source", "ip", ip, "resource", "type",
		      M_RTYPE, "id", M_RID, "service", "svc-marker", "writer", M_WRITER);
	assert_non_null(o);
	assert_int_equal(event_canonical(o, &out, &len), LS_OK);
	json_decref(o);
	v.iov_base = out;
	v.iov_len = len;
	assert_int_equal(journal_append(fx->j, &v, 1, &first, &err), LS_OK);
	assert_int_equal(first, fx->size);
	fx->size++;
	free(out);
}

/* The events with the markers are found by every personal field, yet no
 * personal value of any event is in the index's files. */
static void test_no_plaintext(void **state)
{
	struct fx *fx = *state;
	struct needle nd[64];
	char qs[256];
	size_t n = 0, i, got, with;
	uint64_t *res, wm;
	char *next;
	static const char *const finds[] = {
		"actor=" M_ACTOR, "resource_type=" M_RTYPE, "resource_id=" M_RID,
		"writer=" M_WRITER, "source_ip=" M_IP4, "source_ip=203.0.113.0/24",
		"source_ip=203.0.0.0/16", "source_ip=203.0.0.0/8", "source_ip=" M_IP6,
		"source_ip=2001:db8:feed:beef::/64", "source_ip=2001:db8:feed::/48",
		"source_ip=2001:db8::/32",
	};

	/* The markers end a range, so that it is sealed into a .post file. */
	append_entries(fx, (range_leaves - (fx->size + 2) % range_leaves) % range_leaves);
	append_marker(fx, M_IP4);
	append_marker(fx, M_IP6);
	assert_int_equal(fx->size % range_leaves, 0);
	index_notify(fx->idx, fx->size);
	caught_up(fx);
	/* m4 = size - 2 has the IPv4 marker address, m6 = size - 1 the IPv6 one. */
	for (i = 0; i < sizeof(finds) / sizeof(finds[0]); i++) {
		bool personal = strncmp(finds[i], "source_ip=", 10) != 0;
		bool v6 = strchr(finds[i], ':') != NULL;
		bool broad = !strcmp(finds[i], "source_ip=2001:db8::/32");

		snprintf(qs, sizeof(qs), "%s&limit=1000", finds[i]);
		res = run_qs(fx, qs, &got, &next, &wm, LS_OK);
		if (personal) {
			assert_int_equal(got, 2);
			assert_int_equal(res[0], fx->size - 1);
			assert_int_equal(res[1], fx->size - 2);
		} else if (broad) {
			assert_true(got > 1);	/* the model's 2001:db8:: addresses too */
			assert_int_equal(res[0], fx->size - 1);
		} else {
			if (got != 1)
				fail_msg("%s: %zu results, want 1", finds[i], got);
			assert_int_equal(res[0], v6 ? fx->size - 1 : fx->size - 2);
		}
		free(res);
		free(next);
	}

	needle_text(&nd[n++], M_ACTOR);
	needle_text(&nd[n++], "7c1e5a");
	needle_text(&nd[n++], M_RTYPE);
	needle_text(&nd[n++], M_RID);
	needle_text(&nd[n++], M_WRITER);
	needle_text(&nd[n++], M_IP4);
	needle_text(&nd[n++], "2001:db8:feed");
	n += needle_ip(&nd[n], M_IP4);
	n += needle_ip(&nd[n], M_IP6);
	/* The generated events: actors, addresses (as text and bytes). */
	needle_text(&nd[n++], "user-");
	needle_text(&nd[n++], "192.168.1.");
	needle_text(&nd[n++], "2001:db8:");
	needle_text(&nd[n++], "10.0.");
	{
		static const uint8_t mapped192[] = { 0xff, 0xff, 192, 168, 1 };
		static const uint8_t v6pfx[] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0 };

		nd[n].what = "::ffff:192.168.1.x as bytes";
		nd[n].n = sizeof(mapped192);
		memcpy(nd[n++].b, mapped192, sizeof(mapped192));
		nd[n].what = "2001:db8:0:: as bytes";
		nd[n].n = sizeof(v6pfx);
		memcpy(nd[n++].b, v6pfx, sizeof(v6pfx));
	}
	/* Closed (the complete ranges written), and after a rebuild: no
	 * personal value in any file, while the plaintext terms are there
	 * (the search would see them). */
	index_close(fx->idx);
	fx->idx = NULL;
	assert_true(check_index_clean(fx, nd, n, "svc-marker", &with) > 0);
	assert_int_equal(with, 1);
	assert_int_equal(index_rebuild(fx->root, NULL, NULL, NULL, NULL), LS_OK);
	assert_true(check_index_clean(fx, nd, n, "svc-marker", &with) > 0);
	assert_int_equal(with, 1);
	open_index(fx);
	caught_up(fx);
	res = run_qs(fx, "actor=" M_ACTOR, &got, &next, &wm, LS_OK);
	assert_int_equal(got, 2);
	free(res);
	free(next);
}

/* Another key makes the index start over; a key file others may read is refused. */
static void test_key_change(void **state)
{
	struct fx *fx = *state;
	struct tf f = { .actor = "user-2", .net = "10.0.0.0", .plen = 16 };
	struct ls_err err;
	char path[128];
	uint8_t key[32];
	FILE *fp;
	size_t i;

	index_close(fx->idx);
	fx->idx = NULL;
	snprintf(path, sizeof(path), "%s/keys/index.key", fx->root);
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(key, 1, sizeof(key), fp), sizeof(key));
	fclose(fp);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_DENIED);
	assert_non_null(strstr(err.msg, "index.key"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	assert_int_equal(index_watermark(fx->idx), 0);
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	caught_up(fx);
	check_all_pages(fx, "actor=user-2&source_ip=10.0.0.0/16", &f, false, 9);
}

/* A SQLite index of the versions before postings (DIR/index/index.sqlite
 * and its WAL, here with a plaintext value in it) is deleted at open. */
static void test_schema_upgrade(void **state)
{
	struct fx *fx = *state;
	struct tf f = { .writer = "w1", .rid = "r3" };
	char db[128], wal[128];
	FILE *fp;

	index_close(fx->idx);
	fx->idx = NULL;
	snprintf(db, sizeof(db), "%s/index/index.sqlite", fx->root);
	snprintf(wal, sizeof(wal), "%s/index/index.sqlite-wal", fx->root);
	fp = fopen(db, "wb");
	assert_non_null(fp);
	fputs("SQLite format 3\0 ... old-plaintext-actor-91f3", fp);
	fclose(fp);
	fp = fopen(wal, "wb");
	assert_non_null(fp);
	fputs("old-plaintext-actor-91f3", fp);
	fclose(fp);
	open_index(fx);
	assert_int_equal(access(db, F_OK), -1);
	assert_int_equal(access(wal, F_OK), -1);
	caught_up(fx);
	check_all_pages(fx, "writer=w1&resource_id=r3&order=asc", &f, true, 1000);
}

/* The .post files: one per sealed range, checked by index_verify_postings();
 * a corrupt one is named by it, and deleted at the next start and made
 * again, as is a deleted one; a restart reloads the good ones. */
static void test_postings_files(void **state)
{
	struct fx *fx = *state;
	struct tf none = { 0 }, f = { .outcome = "failure", .net = "10.0.0.0", .plen = 8 };
	struct ls_err err;
	uint64_t files = 0, entries = 0;
	char path[160], name[64];
	FILE *fp;
	long sz;
	int c;

	append_entries(fx, 3 * range_leaves + 7);
	index_notify(fx->idx, fx->size);
	caught_up(fx);
	index_close(fx->idx);
	fx->idx = NULL;
	assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err), LS_OK);
	assert_int_equal(files, fx->size / range_leaves);
	assert_int_equal(entries, sealed_floor(fx->size));
	/* A restart reloads them: the watermark is theirs before start. */
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	assert_int_equal(index_watermark(fx->idx), sealed_floor(fx->size));
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	caught_up(fx);
	check_all_pages(fx, "", &none, false, 97);
	index_close(fx->idx);
	fx->idx = NULL;

	/* A flipped byte in the second file. */
	snprintf(name, sizeof(name), "%016llx.post", (unsigned long long)range_leaves);
	snprintf(path, sizeof(path), "%s/index/%s", fx->root, name);
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	sz = ftell(fp);
	fseek(fp, sz / 2, SEEK_SET);
	c = fgetc(fp);
	fseek(fp, sz / 2, SEEK_SET);
	fputc(c ^ 0x10, fp);
	fclose(fp);
	assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err),
			 LS_CORRUPT);
	assert_non_null(strstr(err.msg, name));
	assert_int_equal(files, 1);
	/* The start checks a file's header and fixed parts only: it keeps
	 * the file; the first query that opens it checks every byte and
	 * fails, naming it; reindex makes it again. */
	open_index(fx);
	assert_int_equal(index_watermark(fx->idx), sealed_floor(fx->size));
	caught_up(fx);
	{
		struct index_query q;
		uint64_t *out = NULL, wm;
		size_t n;
		char *next = NULL;

		assert_int_equal(index_query_parse("order=asc&limit=5", 17, &q, NULL, NULL, &err),
				 LS_OK);
		q.has_after = true;	/* from the second range on */
		q.after = range_leaves - 1;
		assert_int_equal(index_query_run(fx->idx, &q, &out, &n, &next, &wm, &err),
				 LS_CORRUPT);
		if (!strstr(err.msg, name))
			fail_msg("query said: %s", err.msg);
		assert_null(out);
		index_query_release(&q);
	}
	index_close(fx->idx);
	fx->idx = NULL;
	assert_int_equal(index_rebuild(fx->root, NULL, NULL, NULL, &err), LS_OK);
	open_index(fx);
	assert_int_equal(index_watermark(fx->idx), sealed_floor(fx->size));
	caught_up(fx);
	check_all_pages(fx, "order=asc&outcome=failure&source_ip=10.0.0.0/8", &f, true, 1000);
	index_close(fx->idx);
	fx->idx = NULL;
	assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err), LS_OK);
	assert_int_equal(files, fx->size / range_leaves);

	/* A deleted first file: everything from leaf 0 again. */
	snprintf(path, sizeof(path), "%s/index/%016llx.post", fx->root, 0ULL);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err),
			 LS_CORRUPT);
	assert_non_null(strstr(err.msg, "out of order"));
	open_index(fx);
	assert_int_equal(index_watermark(fx->idx), 0);
	caught_up(fx);
	check_all_pages(fx, "", &none, false, 1000);
	check_stats(fx, "", &none, "action", 1, 3600);
	index_close(fx->idx);
	fx->idx = NULL;
	assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err), LS_OK);
	assert_int_equal(files, fx->size / range_leaves);

	/* A file whose postings do not match its entries (every leaf with
	 * only a wrong outcome): verify names the first leaf and field; a
	 * reindex makes it right. */
	{
		struct postings *p;
		struct pf_row row;
		uint8_t *buf;
		size_t len;
		uint32_t k;

		assert_int_equal(postings_new(range_leaves, &p, &err), LS_OK);
		memset(&row, 0, sizeof(row));
		row.nterms = 1;
		row.t[0].field = PF_OUTCOME;
		row.t[0].len = 5;
		row.t[0].bytes = "bogus";
		for (k = 0; k < range_leaves; k++)
			assert_int_equal(postings_add_row(p, k, &row, &err), LS_OK);
		assert_int_equal(postings_encode(p, &buf, &len, &err), LS_OK);
		postings_free(p);
		snprintf(path, sizeof(path), "%s/index/%s", fx->root, name);
		fp = fopen(path, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(buf, 1, len, fp), len);
		fclose(fp);
		free(buf);
	}
	assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err),
			 LS_CORRUPT);
	assert_non_null(strstr(err.msg, name));
	snprintf(path, sizeof(path), "leaf %llu:", (unsigned long long)range_leaves);
	if (!strstr(err.msg, path) || !strstr(err.msg, "field"))
		fail_msg("verify said: %s", err.msg);
	assert_int_equal(files, 1);
	assert_int_equal(index_rebuild(fx->root, NULL, NULL, NULL, &err), LS_OK);
	assert_int_equal(index_verify_postings(fx->root, NULL, NULL, &files, &entries, &err), LS_OK);
	assert_int_equal(files, fx->size / range_leaves);
	open_index(fx);
}

/* Concurrent queries from several threads while the follower writes. */
#include <pthread.h>

struct qthread {
	struct fx *fx;
	int failures;
};

static void *query_thread(void *arg)
{
	struct qthread *t = arg;
	int i;

	for (i = 0; i < 60; i++) {
		struct index_query q;
		struct ls_err err;
		uint64_t *res = NULL, wm;
		size_t n, k;
		char *next = NULL;
		const char *qs = i % 2 ? "actor=user-1&order=asc&limit=1000" : "outcome=success";

		if (index_query_parse(qs, strlen(qs), &q, NULL, NULL, &err) != LS_OK ||
		    index_query_run(t->fx->idx, &q, &res, &n, &next, &wm, &err) != LS_OK) {
			t->failures++;
			continue;
		}
		for (k = 0; k < n; k++)
			if (res[k] >= wm)
				t->failures++;
		free(res);
		free(next);
		index_query_release(&q);
	}
	return NULL;
}

static void test_concurrent_queries(void **state)
{
	struct fx *fx = *state;
	struct qthread t[4];
	pthread_t th[4];
	int i;

	for (i = 0; i < 4; i++) {
		t[i].fx = fx;
		t[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, query_thread, &t[i]), 0);
	}
	for (i = 0; i < 10; i++) {
		append_entries(fx, 50);
		index_notify(fx->idx, fx->size);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].failures, 0);
	}
	caught_up(fx);
}

/* ------------------------------------------- ranges in memory and on disk */

/*
 * Leaves not yet in a .post file are answered from the ranges in memory.
 * These tests check that a query gives the same pages (indexes, cursors)
 * whether its leaves are all in memory (one large range), all in sealed
 * ranges read back from files, or split between them with the writer
 * paused, all equal to the brute force over the model, and that queries
 * racing the extractor and the writer's sealing never skip or repeat a
 * result.  (They were the tests of the SQLite index's in-memory tail.)
 */

#include <stdatomic.h>
#include <time.h>

#define TAIL_N 9000		/* more than two of the tail's 4096-row chunks */
#define TAIL_SPLIT 5000

/* The model of entries 0..n-1, made once (model_make() is slow-ish). */
static struct model *models;
static uint64_t nmodels;

static void models_make(uint64_t n)
{
	uint64_t i;

	free(models);
	models = calloc(n, sizeof(*models));
	assert_non_null(models);
	for (i = 0; i < n; i++)
		model_make(i, &models[i]);
	nmodels = n;
}

static int setup_tail(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct journal_opts o = { .segment_size = 1 << 20 };
	struct ls_err err;

	if (!fx)
		return -1;
	sparse = true;
	range_leaves = 512;
	snprintf(fx->root, sizeof(fx->root), "/tmp/ls-index-XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->jdir, sizeof(fx->jdir), "%s/journal", fx->root);
	if (journal_open(fx->jdir, &o, &fx->j, NULL, &err) != LS_OK)
		return -1;
	*state = fx;
	return 0;
}

static int teardown_tail(void **state)
{
	sparse = false;
	range_leaves = 256;
	free(models);
	models = NULL;
	nmodels = 0;
	return teardown(state);
}

/* Open the index with the writer paused (before it runs at all). */
static void open_paused(struct fx *fx)
{
	struct ls_err err;

	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	index_test_pause_writer(fx->idx, true);
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
}

/* Leaf indexes matching f in [0, wm), in order, strictly after `after`
 * when has_after, at most cap of them. */
static size_t expect_page(const struct tf *f, uint64_t wm, bool asc, bool has_after,
			  uint64_t after, uint64_t *out, size_t cap)
{
	size_t n = 0;
	uint64_t k, lo = 0, hi = wm;

	assert_true(wm <= nmodels);
	if (has_after && asc)
		lo = after + 1;
	if (has_after && !asc && after < hi)
		hi = after;
	for (k = 0; lo + k < hi && n < cap; k++) {
		uint64_t i = asc ? lo + k : hi - 1 - k;

		if (tf_match(&models[i], f))
			out[n++] = i;
	}
	return n;
}

/* Every page of one query: what a client paging through it sees. */
struct pages {
	uint64_t *idx, *off;
	size_t n;
	char *cursors;		/* each INDEX_CURSOR_TEXT + 1 bytes */
	size_t ncursors;
};

static void pages_free(struct pages *p)
{
	free(p->idx);
	free(p->off);
	free(p->cursors);
	memset(p, 0, sizeof(*p));
}

/*
 * Page through qs (limit per page) and check each page against the brute
 * force; with reader, check that each offset finds its entry's bytes.
 */
static void run_pages(struct fx *fx, const char *qs, const struct tf *f, bool asc,
		      unsigned limit, struct journal_reader *reader, struct pages *pg)
{
	uint64_t *want = malloc(sizeof(uint64_t) * (fx->size + 1));
	char *cursor = NULL, buf[512];
	size_t nwant, pages = 0;

	assert_non_null(want);
	memset(pg, 0, sizeof(*pg));
	pg->idx = malloc(sizeof(uint64_t) * (fx->size + 1));
	pg->off = malloc(sizeof(uint64_t) * (fx->size + 1));
	pg->cursors = malloc((fx->size / limit + 2) * (INDEX_CURSOR_TEXT + 1));
	assert_true(pg->idx && pg->off && pg->cursors);
	nwant = expect_page(f, fx->size, asc, false, 0, want, fx->size);
	for (;;) {
		struct index_query q;
		struct ls_err err = { { 0 } };
		uint64_t *res = NULL, *offs = NULL, wm = 0;
		char *next = NULL;
		size_t n = 0, i;
		ls_rc rc;

		snprintf(buf, sizeof(buf), "%s%sorder=%s&limit=%u%s%s", qs, *qs ? "&" : "",
			 asc ? "asc" : "desc", limit, cursor ? "&cursor=" : "", cursor ? cursor : "");
		rc = index_query_parse(buf, strlen(buf), &q, NULL, NULL, &err);
		if (rc == LS_OK)
			rc = index_query_locate(fx->idx, &q, &res, &offs, &n, &next, &wm, &err);
		index_query_release(&q);
		if (rc != LS_OK)
			fail_msg("%s: %s (%s)", buf, ls_rc_name(rc), err.msg);
		assert_int_equal(wm, fx->size);
		assert_true(n <= limit);
		for (i = 0; i < n; i++) {
			if (pg->n + i >= nwant || res[i] != want[pg->n + i])
				fail_msg("%s: result %zu is %llu, want %lld", buf, pg->n + i,
					 (unsigned long long)res[i],
					 pg->n + i < nwant ? (long long)want[pg->n + i] : -1LL);
			pg->idx[pg->n + i] = res[i];
			pg->off[pg->n + i] = offs[i];
			/* Offsets are known for the ranges in memory only. */
			if (reader && offs[i] != INDEX_NO_OFFSET) {
				uint8_t *data = NULL;
				size_t len = 0, elen;
				char *e = entry_make(res[i], &elen);

				assert_int_equal(journal_reader_get(reader, res[i], offs[i], &data,
								    &len, &err),
						 LS_OK);
				assert_int_equal(len, elen);
				assert_memory_equal(data, e, len);
				free(data);
				free(e);
			}
		}
		pg->n += n;
		free(res);
		free(offs);
		free(cursor);
		cursor = next;
		pages++;
		if (!cursor)
			break;
		assert_int_equal(n, limit);
		assert_true(pages <= fx->size / limit + 1);
		memcpy(pg->cursors + pg->ncursors++ * (INDEX_CURSOR_TEXT + 1), cursor,
		       INDEX_CURSOR_TEXT + 1);
	}
	if (pg->n != nwant)
		fail_msg("%s: %zu results, want %zu", qs, pg->n, nwant);
	free(want);
}

static void pages_same(const struct pages *a, const struct pages *b, const char *what)
{
	if (a->n != b->n || a->ncursors != b->ncursors)
		fail_msg("%s: %zu results / %zu pages, then %zu / %zu", what, a->n, a->ncursors,
			 b->n, b->ncursors);
	assert_memory_equal(a->idx, b->idx, a->n * sizeof(uint64_t));
	/* (offsets: only the ranges in memory have them) */
	assert_memory_equal(a->cursors, b->cursors, a->ncursors * (INDEX_CURSOR_TEXT + 1));
}

/* Cases the sparse data set adds: missing times, received times and
 * actions, and IPv6 under ::/16. */
static const struct tcase tail_cases[] = {
	{ "received_from=2026-01-02T01:00:00Z",
	  { .rfrom_set = 1, .rfrom = BASE_US + (86400 + 3600) * 1000000LL } },
	{ "to=2026-01-01T03:00:00Z&action=user*",
	  { .to_set = 1, .to = BASE_US + 3 * 3600 * 1000000LL, .prefix = "user" } },
	{ "action=db.query&source_ip=::/16", { .action = "db.query", .net = "::", .plen = 16 } },
	{ "source_ip=::/48&outcome=failure", { .net = "::", .plen = 48, .outcome = "failure" } },
	{ "source_ip=::/128", { .net = "::", .plen = 128 } },
	{ "actor=user-2&writer=w0&resource_type=db&service=svc-1",
	  { .actor = "user-2", .writer = "w0", .rtype = "db", .service = "svc-1" } },
	{ "from=2026-01-01T10:00:00Z&to=2026-01-01T11:00:00Z&received_to=2026-01-02T01:00:00Z",
	  { .from_set = 1, .from = BASE_US + 10 * 3600 * 1000000LL, .to_set = 1,
	    .to = BASE_US + 11 * 3600 * 1000000LL, .rto_set = 1,
	    .rto = BASE_US + (86400 + 3600) * 1000000LL } },
};
#define NTAIL_CASES (sizeof(tail_cases) / sizeof(tail_cases[0]))
#define NRUNS ((NCASES + NTAIL_CASES) * 4)

static const struct tcase *run_case(size_t r)
{
	size_t c = r / 4;

	return c < NCASES ? &cases[c] : &tail_cases[c - NCASES];
}

/* Every case, both orders, one page and pages of 97. */
static void run_all(struct fx *fx, struct pages *pg)
{
	struct journal_reader *reader;
	struct ls_err err;
	size_t r;

	assert_int_equal(journal_reader_open(fx->jdir, &reader, &err), LS_OK);
	for (r = 0; r < NRUNS; r++) {
		const struct tcase *tc = run_case(r);
		bool asc = r & 1;
		unsigned limit = r & 2 ? 97 : 1000;

		/* Offsets are checked against the journal for every entry once
		 * per mode (the unfiltered query), and compared for the rest. */
		run_pages(fx, tc->qs, &tc->f, asc, limit, !*tc->qs && limit == 1000 ? reader : NULL,
			  &pg[r]);
		if (!strcmp(tc->qs, "action=db.query&source_ip=::/16") ||
		    !strcmp(tc->qs, "source_ip=::/128"))
			continue;
		if (pg[r].n == 0 && strcmp(tc->qs, "actor=nobody") &&
		    strcmp(tc->qs, "source_ip=10.3.0.0/16"))
			fail_msg("%s: the data set has no match", tc->qs);
	}
	journal_reader_free(reader);
}

static void compare_all(struct pages *a, struct pages *b, const char *mode)
{
	char what[320];
	size_t r;

	for (r = 0; r < NRUNS; r++) {
		snprintf(what, sizeof(what), "%s: %s order %s limit %u", mode, run_case(r)->qs,
			 r & 1 ? "asc" : "desc", r & 2 ? 97 : 1000);
		pages_same(&a[r], &b[r], what);
	}
}

static void test_tail_differential(void **state)
{
	struct fx *fx = *state;
	struct pages *tail = calloc(NRUNS, sizeof(*tail)), *sql = calloc(NRUNS, sizeof(*sql));
	struct pages *split = calloc(NRUNS, sizeof(*split));
	char cmd[160], post[200];
	size_t r;

	assert_true(tail && sql && split);
	append_entries(fx, TAIL_N);
	models_make(TAIL_N);

	/* Everything in memory: one range larger than the log. */
	range_leaves = 16384;
	open_paused(fx);
	assert_int_equal(index_wait_fresh(fx->idx, fx->size, 20000), LS_OK);
	assert_int_equal(index_fresh_watermark(fx->idx), fx->size);
	assert_int_equal(index_watermark(fx->idx), fx->size);
	run_all(fx, tail);
	for (r = 0; r < NRUNS; r++)
		for (size_t k = 0; k < tail[r].n; k++)
			assert_int_not_equal(tail[r].off[k], INDEX_NO_OFFSET);
	index_close(fx->idx);
	fx->idx = NULL;
	snprintf(post, sizeof(post), "%s/index/%016llx.post", fx->root, 0ULL);
	assert_int_equal(access(post, F_OK), -1);	/* the active range is never written */

	/* Everything but the last 296 leaves in sealed ranges, read back
	 * from their files after a restart. */
	range_leaves = 512;
	open_index(fx);
	caught_up(fx);
	index_close(fx->idx);
	fx->idx = NULL;
	assert_int_equal(access(post, F_OK), 0);
	open_index(fx);
	caught_up(fx);
	run_all(fx, sql);
	compare_all(tail, sql, "memory vs files");

	/* Split: the writer paused from the start, so that two ranges fill
	 * memory and the extractor waits (ingest's pacing then says so);
	 * then the writer catches up while the queries run. */
	index_close(fx->idx);
	fx->idx = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s/index", fx->root);
	assert_int_equal(system(cmd), 0);
	open_paused(fx);
	index_notify(fx->idx, fx->size);
	assert_int_equal(index_wait_extracted(fx->idx, fx->size, 20000), LS_OK);
	assert_int_equal(index_watermark(fx->idx), 2 * range_leaves);
	assert_int_equal(index_wait(fx->idx, fx->size, 100), LS_BUSY);
	assert_int_equal(access(post, F_OK), -1);
	{
		/* Offsets are known while a range is in memory. */
		uint64_t off;
		struct ls_err err;

		assert_int_equal(index_entry_offset(fx->idx, 3, &off, &err), LS_OK);
		assert_int_equal(index_entry_offset(fx->idx, 2 * range_leaves, &off, &err),
				 LS_NOTFOUND);
		index_test_pause_writer(fx->idx, false);
		caught_up(fx);
		assert_int_equal(index_entry_offset(fx->idx, TAIL_N - 3, &off, &err), LS_OK);
	}
	run_all(fx, split);
	compare_all(tail, split, "memory vs split");
	for (r = 0; r < NRUNS; r++) {
		pages_free(&tail[r]);
		pages_free(&sql[r]);
		pages_free(&split[r]);
	}
	free(tail);
	free(sql);
	free(split);
}

/* index_wait_fresh() returns as soon as the extractor has the entries;
 * closing with everything in memory loses nothing (read again). */
static void test_tail_wait_fresh(void **state)
{
	struct fx *fx = *state;
	struct tf none = { 0 }, f = { .outcome = "denied" };
	struct timespec t0, t1;
	struct ls_err err;
	double ms;

	range_leaves = 16384;
	append_entries(fx, 1000);
	models_make(6000);
	open_paused(fx);
	index_notify(fx->idx, fx->size);
	assert_int_equal(index_wait_fresh(fx->idx, fx->size, 10000), LS_OK);
	append_entries(fx, 5000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	index_notify(fx->idx, fx->size);
	assert_int_equal(index_wait_fresh(fx->idx, fx->size, 10000), LS_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* 5000 rows extracted: milliseconds, even under sanitizers. */
	assert_true(ms < 2000);
	assert_int_equal(index_fresh_watermark(fx->idx), fx->size);
	assert_int_equal(index_watermark(fx->idx), fx->size);
	/* Past the journal's end: a timeout, not a wrong answer. */
	assert_int_equal(index_wait_fresh(fx->idx, fx->size + 1, 200), LS_BUSY);
	assert_int_equal(index_wait(fx->idx, fx->size + 1, 200), LS_BUSY);
	/* Ingest's pacing: extracted is enough; beyond what was notified it
	 * times out (one range in memory is not "full"). */
	assert_int_equal(index_wait_extracted(fx->idx, fx->size, 10000), LS_OK);
	assert_int_equal(index_wait_extracted(fx->idx, fx->size + 1, 200), LS_BUSY);
	check_all_pages(fx, "outcome=denied", &f, false, 333);

	/* Close with everything in memory; the next start reads it again. */
	index_close(fx->idx);
	fx->idx = NULL;
	assert_int_equal(open_l(fx->root, &fx->idx, &err), LS_OK);
	assert_int_equal(index_watermark(fx->idx), 0);
	assert_int_equal(index_start(fx->idx, &err), LS_OK);
	index_notify(fx->idx, fx->size);
	caught_up(fx);
	check_all_pages(fx, "order=asc", &none, true, 1000);
	check_rollup_exact(fx, 7);
}

/* ------------------------------------- queries racing commits and drops */

#define RACE_N 60000
#define RACE_THREADS 4

struct racer {
	struct fx *fx;
	atomic_bool *done;
	unsigned seed;
	long pages, results;
	int failures;
	char first[256];
};

static const struct tcase race_cases[] = {
	{ "", { 0 } },
	{ "outcome=denied", { .outcome = "denied" } },
	{ "actor=user-3&action=user.*", { .actor = "user-3", .prefix = "user." } },
	{ "source_ip=10.0.0.0/8", { .net = "10.0.0.0", .plen = 8 } },
	{ "source_ip=2001:db8::/32&writer=w0", { .net = "2001:db8::", .plen = 32, .writer = "w0" } },
	{ "from=2026-01-01T05:00:00Z&service=svc-1",
	  { .from_set = 1, .from = BASE_US + 5 * 3600 * 1000000LL, .service = "svc-1" } },
};

static void race_fail(struct racer *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void race_fail(struct racer *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->failures++) {
		va_start(ap, fmt);
		vsnprintf(r->first, sizeof(r->first), fmt, ap);
		va_end(ap);
	}
}

/* Page through random queries; every page must be exactly the brute
 * force over the entries below the watermark it reports. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;
	uint64_t *want = malloc(sizeof(uint64_t) * 1001);

	while (want && !atomic_load(r->done)) {
		const struct tcase *tc = &race_cases[rand_r(&r->seed) % (sizeof(race_cases) /
									sizeof(race_cases[0]))];
		bool asc = rand_r(&r->seed) & 1;
		unsigned limit = rand_r(&r->seed) % 2 ? 1000 : 1 + rand_r(&r->seed) % 50;
		char *cursor = NULL;
		int page;

		for (page = 0; page < 6; page++) {
			struct index_query q;
			struct ls_err err = { { 0 } };
			uint64_t *res = NULL, wm = 0;
			char buf[512], *next = NULL;
			size_t n = 0, nwant, i;

			snprintf(buf, sizeof(buf), "%s%sorder=%s&limit=%u%s%s", tc->qs,
				 *tc->qs ? "&" : "", asc ? "asc" : "desc", limit,
				 cursor ? "&cursor=" : "", cursor ? cursor : "");
			if (index_query_parse(buf, strlen(buf), &q, NULL, NULL, &err) != LS_OK ||
			    index_query_run(r->fx->idx, &q, &res, &n, &next, &wm, &err) != LS_OK) {
				race_fail(r, "%s: %s", buf, err.msg);
				index_query_release(&q);
				break;
			}
			if (wm > nmodels) {
				race_fail(r, "%s: watermark %llu", buf, (unsigned long long)wm);
				wm = nmodels;
			}
			nwant = expect_page(&tc->f, wm, asc, q.has_after, q.after, want, limit + 1);
			if ((nwant > limit) != (next != NULL))
				race_fail(r, "%s: next cursor %s, want %s", buf, next ? "set" : "none",
					  nwant > limit ? "set" : "none");
			if (nwant > limit)
				nwant = limit;
			if (n != nwant)
				race_fail(r, "%s: %zu results, want %zu (wm %llu)", buf, n, nwant,
					  (unsigned long long)wm);
			for (i = 0; i < n && i < nwant; i++)
				if (res[i] != want[i]) {
					race_fail(r, "%s: result %zu is %llu, want %llu", buf, i,
						  (unsigned long long)res[i],
						  (unsigned long long)want[i]);
					break;
				}
			r->pages++;
			r->results += (long)n;
			{
				/* Leave the follower some CPU. */
				struct timespec ts = { 0, 200 * 1000L };

				nanosleep(&ts, NULL);
			}
			index_query_release(&q);
			free(res);
			free(cursor);
			cursor = next;
			if (!cursor)
				break;
		}
		free(cursor);
	}
	free(want);
	return NULL;
}

static void test_tail_race(void **state)
{
	struct fx *fx = *state;
	struct racer r[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	atomic_bool done = false;
	struct tf none = { 0 };
	int i, rounds = 0;
	ls_rc rc = LS_OK;

	models_make(RACE_N);
	append_entries(fx, 1000);
	open_index(fx);
	index_notify(fx->idx, fx->size);
	for (i = 0; i < RACE_THREADS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].fx = fx;
		r[i].done = &done;
		r[i].seed = 7 + (unsigned)i;
		assert_int_equal(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
	}
	/* Appends in rounds, each waited for, so that ranges are sealed
	 * (one every 512 leaves) while the queries run.  No
	 * assertion here until the racers are stopped. */
	while (fx->size < RACE_N && rc == LS_OK) {
		append_entries(fx, fx->size + 1500 <= RACE_N ? 1500 : RACE_N - fx->size);
		index_notify(fx->idx, fx->size);
		rc = index_wait(fx->idx, fx->size, 60000);
		rounds++;
	}
	{
		struct timespec ts = { 0, 200 * 1000000L };

		nanosleep(&ts, NULL);	/* a while on the final state */
	}
	atomic_store(&done, true);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(rc, LS_OK);
	assert_true(rounds >= 39);
	caught_up(fx);
	for (i = 0; i < RACE_THREADS; i++) {
		if (r[i].failures)
			fail_msg("thread %d: %d failures, first: %s", i, r[i].failures, r[i].first);
		assert_true(r[i].pages > 10);
	}
	check_all_pages(fx, "", &none, false, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_order_and_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_tampering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagination_concurrent_appends, setup, teardown),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_extra),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_catch_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconcile_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconcile_other_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corruption_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_plaintext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postings_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_differential, setup_tail, teardown_tail),
		cmocka_unit_test_setup_teardown(test_tail_wait_fresh, setup_tail, teardown_tail),
		cmocka_unit_test_setup_teardown(test_tail_race, setup_tail, teardown_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
