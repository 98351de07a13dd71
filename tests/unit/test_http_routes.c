/*
 * test_http_routes.c - the route table (api_routes.c) and its lookup, as
 * http.c uses them: which row a method and path reach, prefix rows and
 * their tails, 404 (no row has the path) against 405 (a row has it, not
 * with this method) and the Allow list, HEAD for the dashboard only, and
 * the role table: every endpoint listed here with the role its token needs,
 * so a row added, dropped or given another role fails this test, and no
 * row goes without an explicit role (api.h, routes invariant 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/api.h"
#include "server/auth.h"

#define PUBLIC 0u
#define W AUTH_ROLE_WRITER
#define A AUTH_ROLE_AUDITOR
#define ADM AUTH_ROLE_ADMIN

/* Every endpoint, written out by hand from docs/API.md: method, a path
 * that reaches it, the role its token needs (PUBLIC: none), its label. */
static const struct expect {
	const char *method, *path;
	unsigned role;
	const char *label;
} expected[] = {
	{ "GET", "/healthz", PUBLIC, "/healthz" },
	{ "GET", "/readyz", PUBLIC, "/readyz" },
	{ "GET", "/metrics", A, "/metrics" },
	{ "POST", "/v1/events", W, "/v1/events" },
	{ "GET", "/v1/events", A, "/v1/events" },
	{ "GET", "/v1/events/stats", A, "/v1/events/stats" },
	{ "GET", "/v1/events/42", A, "/v1/events/{index}" },
	{ "POST", "/v1/k8s/audit", W, "/v1/k8s/audit" },
	{ "POST", "/v1/logs", W, "/v1/logs" },
	{ "GET", "/v1/schema", PUBLIC, "/v1/schema" },
	{ "POST", "/v1/tokens", ADM, "/v1/tokens" },
	{ "GET", "/v1/tokens", ADM, "/v1/tokens" },
	{ "DELETE", "/v1/tokens/tok_1", ADM, "/v1/tokens/{id}" },
	{ "POST", "/v1/holds", ADM, "/v1/holds" },
	{ "GET", "/v1/holds", ADM, "/v1/holds" },
	{ "DELETE", "/v1/holds/h1", ADM, "/v1/holds/{id}" },
	{ "GET", "/v1/proof/consistency", A, "/v1/proof/consistency" },
	{ "GET", "/v1/checkpoints", A, "/v1/checkpoints" },
	{ "GET", "/v1/checkpoints/7", A, "/v1/checkpoints/{size}" },
	{ "GET", "/v1/export", A, "/v1/export" },
	{ "GET", "/v1/stream", A, "/v1/stream" },
	{ "GET", "/v1/alerts", A, "/v1/alerts" },
	{ "POST", "/v1/alerts/rules", ADM, "/v1/alerts/rules" },
	{ "GET", "/v1/alerts/rules", ADM, "/v1/alerts/rules" },
	{ "DELETE", "/v1/alerts/rules/r1", ADM, "/v1/alerts/rules/{id}" },
	{ "POST", "/v1/alerts/webhooks", ADM, "/v1/alerts/webhooks" },
	{ "GET", "/v1/alerts/webhooks", ADM, "/v1/alerts/webhooks" },
	{ "GET", "/v1/integrity", A, "/v1/integrity" },
	{ "GET", "/v1/retention", A, "/v1/retention" },
	{ "POST", "/v1/keys/rotate", ADM, "/v1/keys/rotate" },
	{ "GET", "/log/checkpoint", A, "/log/checkpoint" },
	{ "GET", "/log/tile/0/000", A, "/log/tile/{path}" },
	{ "POST", "/v1/alerts/rules/test", ADM, "/v1/alerts/rules/test" },
	{ "POST", "/v1/alerts/rules/r1", ADM, "/v1/alerts/rules/{id}" },
	{ "POST", "/v1/alerts/state", ADM, "/v1/alerts/state" },
	{ "POST", "/v1/webhooks/ops/test", ADM, "/v1/webhooks/{name}/test" },
	{ "GET", "/v1/webhooks/ops/deliveries", ADM, "/v1/webhooks/{name}/deliveries" },
	{ "GET", "/v1/searches", A | ADM, "/v1/searches" },
	{ "POST", "/v1/searches", A | ADM, "/v1/searches" },
	{ "DELETE", "/v1/searches/s_1", A | ADM, "/v1/searches/{id}" },
	{ "GET", "/v1/retention/plan", A | ADM, "/v1/retention/plan" },
	{ "POST", "/v1/session", W | A | ADM, "/v1/session" },
	{ "GET", "/v1/session", PUBLIC, "/v1/session" },
	{ "DELETE", "/v1/session", W | A | ADM, "/v1/session" },
	{ "GET", "/v1/stats/denied", A, "/v1/stats/denied" },
	{ "POST", "/v1/verify", ADM, "/v1/verify" },
	{ "GET", "/v1/verify", A, "/v1/verify" },
	{ "GET", "/v1/whoami", W | A | ADM, "/v1/whoami" },
	{ "GET", "/", PUBLIC, "/{dashboard}" },
};

#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

static const struct api_route *find(const char *method, const char *path, char *allow,
				    int *known)
{
	static char scratch[128];
	int k;

	return api_route_find(path, method, allow ? allow : scratch, 128, known ? known : &k);
}

/* Every row is listed above, with its role, and nothing else is. */
static void test_role_table(void **state)
{
	size_t n;
	const struct api_route *rt = api_routes(&n);
	int seen[64] = { 0 };

	assert_true(n <= 64);
	assert_int_equal(n, NEXPECTED);
	for (size_t i = 0; i < NEXPECTED; i++) {
		const struct expect *e = &expected[i];
		const struct api_route *hit = find(e->method, e->path, NULL, NULL);

		if (!hit)
			fail_msg("%s %s reaches no route", e->method, e->path);
		if (hit->role != e->role)
			fail_msg("%s %s: role %u, expected %u", e->method, e->path, hit->role,
				 e->role);
		assert_int_equal(!!(hit->flags & API_PUBLIC), e->role == PUBLIC);
		assert_string_equal(hit->label, e->label);
		assert_string_equal(hit->method, e->method);
		seen[hit - rt]++;
	}
	for (size_t i = 0; i < n; i++)
		if (seen[i] != 1)
			fail_msg("route %s %s reached %d times by the list", rt[i].method,
				 rt[i].path, seen[i]);
}

/* Invariant 1: a role, or API_PUBLIC with none; never both, never neither. */
static void test_explicit_roles(void **state)
{
	size_t n;
	const struct api_route *rt = api_routes(&n);
	const unsigned all = AUTH_ROLE_WRITER | AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN;

	for (size_t i = 0; i < n; i++) {
		int pub = !!(rt[i].flags & API_PUBLIC);

		if (pub ? rt[i].role != 0 : rt[i].role == 0)
			fail_msg("route %s %s: role %u with%s API_PUBLIC", rt[i].method,
				 rt[i].path, rt[i].role, pub ? "" : "out");
		assert_int_equal(rt[i].role & ~all, 0);
		assert_non_null(rt[i].fn);
		assert_non_null(rt[i].label);
		/* a body only where a method sends one */
		if (rt[i].body != API_BODY_NONE)
			assert_string_equal(rt[i].method, "POST");
		/* a prefix is a folder: its tail is a segment */
		if (rt[i].match == API_PREFIX)
			assert_int_equal(rt[i].path[strlen(rt[i].path) - 1], '/');
		/* a streamed body is data: it is an audited read */
		if (rt[i].flags & API_STREAMS)
			assert_true(rt[i].flags & API_AUDITED);
	}
}

/* Which routes each role reaches: a writer only writes, an auditor only
 * reads, the admin manages tokens, holds, rules, webhooks and keys. */
static void test_reach_by_role(void **state)
{
	size_t n;
	const struct api_route *rt = api_routes(&n);
	unsigned writer = 0, auditor = 0, admin = 0, pub = 0;

	for (size_t i = 0; i < n; i++) {
		/* Signing in and out is every role's (api_session.c); a saved
		 * search is a reader's own configuration (api_searches.c). */
		if (strcmp(rt[i].path, "/v1/session") == 0) {
			assert_true((rt[i].flags & API_SESSION) || rt[i].role == (W | A | ADM));
			continue;
		}
		/* Who am I: every role's, for the role-aware dashboard (api_overview.c). */
		if (strcmp(rt[i].path, "/v1/whoami") == 0) {
			assert_int_equal(rt[i].role, W | A | ADM);
			continue;
		}
		if (strncmp(rt[i].path, "/v1/searches", 12) == 0) {
			assert_int_equal(rt[i].role, A | ADM);
			continue;
		}
		if (rt[i].flags & API_PUBLIC) {
			pub++;
			assert_string_equal(rt[i].method, "GET");
			continue;
		}
		if (rt[i].role & AUTH_ROLE_WRITER) {
			writer++;
			assert_string_equal(rt[i].method, "POST");
		}
		if (rt[i].role & AUTH_ROLE_AUDITOR) {
			auditor++;
			assert_string_equal(rt[i].method, "GET");
		}
		if (rt[i].role & AUTH_ROLE_ADMIN)
			admin++;
	}
	assert_int_equal(pub, 4);
	assert_int_equal(writer, 3);
	assert_int_equal(auditor, 17);
	assert_int_equal(admin, 19);
}

static void test_exact_and_prefix(void **state)
{
	const struct api_route *hit;
	int known;

	/* an exact row before the prefix row that would also take it */
	hit = find("GET", "/v1/events/stats", NULL, NULL);
	assert_non_null(hit);
	assert_string_equal(hit->label, "/v1/events/stats");
	hit = find("GET", "/v1/events/7", NULL, NULL);
	assert_non_null(hit);
	assert_int_equal(hit->match, API_PREFIX);
	assert_string_equal(hit->path, "/v1/events/");

	/* a prefix needs a tail; an exact path takes nothing more */
	assert_null(find("GET", "/v1/events/", NULL, &known));
	assert_int_equal(known, 0);
	assert_null(find("DELETE", "/v1/tokens/", NULL, &known));
	assert_int_equal(known, 0);
	assert_null(find("GET", "/v1/eventsX", NULL, &known));
	assert_int_equal(known, 0);
	assert_null(find("GET", "/healthz/", NULL, &known));
	assert_int_equal(known, 0);
	assert_null(find("GET", "/HEALTHZ", NULL, &known));
	assert_int_equal(known, 0);
	hit = find("GET", "/log/tile/entries/000.p/5", NULL, NULL);
	assert_non_null(hit);
	assert_string_equal(hit->label, "/log/tile/{path}");
	/* /log/ itself is not a prefix row */
	assert_null(find("GET", "/log/other", NULL, &known));
	assert_int_equal(known, 0);
}

static void test_404_405(void **state)
{
	char allow[128];
	int known;

	assert_null(find("GET", "/v1/nothing", allow, &known));
	assert_int_equal(known, 0);
	assert_string_equal(allow, "");

	/* a path with rows, none for this method: 405 and what is allowed */
	assert_null(find("DELETE", "/v1/events", allow, &known));
	assert_int_equal(known, 1);
	assert_string_equal(allow, "POST, GET");
	assert_null(find("PUT", "/v1/tokens", allow, &known));
	assert_int_equal(known, 1);
	assert_string_equal(allow, "POST, GET");
	assert_null(find("GET", "/v1/tokens/tok_1", allow, &known));
	assert_int_equal(known, 1);
	assert_string_equal(allow, "DELETE");
	assert_null(find("POST", "/healthz", allow, &known));
	assert_int_equal(known, 1);
	assert_string_equal(allow, "GET");
	/* a method's name inside another's does not count as listed */
	assert_null(find("POS", "/v1/events", allow, &known));
	assert_int_equal(known, 1);
	assert_string_equal(allow, "POST, GET");
	/* method names are case-sensitive (RFC 9110 section 9.1) */
	assert_null(find("get", "/v1/events", allow, &known));
	assert_int_equal(known, 1);
}

static void test_head(void **state)
{
	char allow[128];
	int known;
	const struct api_route *hit;

	/* HEAD reaches the dashboard's files... */
	hit = find("HEAD", "/", allow, &known);
	assert_non_null(hit);
	assert_int_equal(hit->match, API_ASSET);
	assert_non_null(find("HEAD", "/app.js", NULL, NULL));
	/* ...and nothing else: elsewhere it would be an audited read */
	assert_null(find("HEAD", "/v1/events", allow, &known));
	assert_int_equal(known, 1);
	assert_null(find("HEAD", "/healthz", allow, &known));
	assert_int_equal(known, 1);
	/* a file that is not embedded is no route at all */
	assert_null(find("GET", "/nope.js", allow, &known));
	assert_int_equal(known, 0);
}

static void test_labels(void **state)
{
	size_t n, nl;
	const struct api_route *rt = api_routes(&n);
	const char *const *methods;
	const char *const *labels = api_route_labels(&nl, &methods);

	assert_int_equal(n, nl);
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(labels[i], rt[i].label);
		assert_ptr_equal(methods[i], rt[i].method);
		/* a label is a pattern, never a request's own path */
		assert_int_equal(labels[i][0], '/');
		/* (method, label) names one metrics series: never two rows */
		for (size_t j = 0; j < i; j++)
			assert_false(!strcmp(labels[i], labels[j]) &&
				     !strcmp(methods[i], methods[j]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_role_table),
		cmocka_unit_test(test_explicit_roles),
		cmocka_unit_test(test_reach_by_role),
		cmocka_unit_test(test_exact_and_prefix),
		cmocka_unit_test(test_404_405),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
