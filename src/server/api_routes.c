/*
 * api_routes.c - the route table: every endpoint of the server, one row per
 * method and path, with the role its token needs, the handler, the body it
 * takes and what http.c must know about it (api.h, "routes").  This is the
 * only list of the endpoints: http.c routes from it, metrics labels come
 * from it, docs/API.md describes it.
 *
 * Invariant 1 of api.h, deny by default: a row names its role, or says
 * API_PUBLIC; http.c treats any other row as needing a token with a role
 * nobody has.  /metrics takes an auditor token: it shows no event data, but
 * sizes and rates are still the log's business, and a dedicated role would
 * need a change to auth.
 */
#include "server/api.h"

#include <stdio.h>
#include <string.h>

#include "server/api_int.h"
#include "server/auth.h"

/* Handlers of a prefix row see the path after the prefix in q->tail. */
static const struct api_route routes[] = {
	{ "GET", "/healthz", API_EXACT, 0, api_healthz, API_BODY_NONE, API_PUBLIC, "/healthz" },
	{ "GET", "/readyz", API_EXACT, 0, api_readyz, API_BODY_NONE, API_PUBLIC, "/readyz" },
	{ "GET", "/metrics", API_EXACT, AUTH_ROLE_AUDITOR, api_metrics, API_BODY_NONE, 0,
	  "/metrics" },
	{ "POST", "/v1/events", API_EXACT, AUTH_ROLE_WRITER, api_events_post,
	  API_BODY_JSON_NDJSON, API_FORMAT, "/v1/events" },
	{ "GET", "/v1/events", API_EXACT, AUTH_ROLE_AUDITOR, api_events_query, API_BODY_NONE,
	  API_AUDITED, "/v1/events" },
	/* before the prefix route: the first route that matches wins */
	{ "GET", "/v1/events/stats", API_EXACT, AUTH_ROLE_AUDITOR, api_events_stats,
	  API_BODY_NONE, API_AUDITED, "/v1/events/stats" },
	{ "GET", "/v1/events/", API_PREFIX, AUTH_ROLE_AUDITOR, api_events_get, API_BODY_NONE,
	  API_AUDITED, "/v1/events/{index}" },
	{ "POST", "/v1/k8s/audit", API_EXACT, AUTH_ROLE_WRITER, api_k8s_post, API_BODY_JSON, 0,
	  "/v1/k8s/audit" },
	{ "POST", "/v1/logs", API_EXACT, AUTH_ROLE_WRITER, api_otlp_logs_post, API_BODY_OTLP, 0,
	  "/v1/logs" },
	{ "GET", "/v1/schema", API_EXACT, 0, api_schema_get, API_BODY_NONE, API_PUBLIC,
	  "/v1/schema" },
	{ "POST", "/v1/tokens", API_EXACT, AUTH_ROLE_ADMIN, api_tokens_post, API_BODY_JSON, 0,
	  "/v1/tokens" },
	{ "GET", "/v1/tokens", API_EXACT, AUTH_ROLE_ADMIN, api_tokens_get, API_BODY_NONE,
	  API_AUDITED, "/v1/tokens" },
	{ "DELETE", "/v1/tokens/", API_PREFIX, AUTH_ROLE_ADMIN, api_tokens_delete, API_BODY_NONE,
	  0, "/v1/tokens/{id}" },
	{ "POST", "/v1/holds", API_EXACT, AUTH_ROLE_ADMIN, api_holds_post, API_BODY_JSON, 0,
	  "/v1/holds" },
	{ "GET", "/v1/holds", API_EXACT, AUTH_ROLE_ADMIN, api_holds_get, API_BODY_NONE,
	  API_AUDITED, "/v1/holds" },
	{ "DELETE", "/v1/holds/", API_PREFIX, AUTH_ROLE_ADMIN, api_holds_delete, API_BODY_NONE, 0,
	  "/v1/holds/{id}" },
	{ "GET", "/v1/proof/consistency", API_EXACT, AUTH_ROLE_AUDITOR, api_proof_consistency,
	  API_BODY_NONE, API_AUDITED, "/v1/proof/consistency" },
	{ "GET", "/v1/checkpoints", API_EXACT, AUTH_ROLE_AUDITOR, api_checkpoints_list,
	  API_BODY_NONE, API_AUDITED, "/v1/checkpoints" },
	{ "GET", "/v1/checkpoints/", API_PREFIX, AUTH_ROLE_AUDITOR, api_checkpoints_get,
	  API_BODY_NONE, API_AUDITED, "/v1/checkpoints/{size}" },
	{ "GET", "/v1/export", API_EXACT, AUTH_ROLE_AUDITOR, api_export, API_BODY_NONE,
	  API_AUDITED | API_STREAMS, "/v1/export" },
	{ "GET", "/v1/stream", API_EXACT, AUTH_ROLE_AUDITOR, api_stream, API_BODY_NONE,
	  API_AUDITED | API_STREAMS, "/v1/stream" },
	{ "GET", "/v1/alerts", API_EXACT, AUTH_ROLE_AUDITOR, api_alerts_list, API_BODY_NONE,
	  API_AUDITED, "/v1/alerts" },
	{ "POST", "/v1/alerts/rules", API_EXACT, AUTH_ROLE_ADMIN, api_rules_post, API_BODY_JSON,
	  0, "/v1/alerts/rules" },
	{ "GET", "/v1/alerts/rules", API_EXACT, AUTH_ROLE_ADMIN, api_rules_get, API_BODY_NONE,
	  API_AUDITED, "/v1/alerts/rules" },
	{ "DELETE", "/v1/alerts/rules/", API_PREFIX, AUTH_ROLE_ADMIN, api_rules_delete,
	  API_BODY_NONE, 0, "/v1/alerts/rules/{id}" },
	{ "POST", "/v1/alerts/webhooks", API_EXACT, AUTH_ROLE_ADMIN, api_webhooks_post,
	  API_BODY_JSON, 0, "/v1/alerts/webhooks" },
	{ "GET", "/v1/alerts/webhooks", API_EXACT, AUTH_ROLE_ADMIN, api_webhooks_get,
	  API_BODY_NONE, API_AUDITED, "/v1/alerts/webhooks" },
	{ "GET", "/v1/integrity", API_EXACT, AUTH_ROLE_AUDITOR, api_integrity_get, API_BODY_NONE,
	  API_AUDITED, "/v1/integrity" },
	{ "GET", "/v1/retention", API_EXACT, AUTH_ROLE_AUDITOR, api_retention_get, API_BODY_NONE,
	  API_AUDITED, "/v1/retention" },
	{ "POST", "/v1/keys/rotate", API_EXACT, AUTH_ROLE_ADMIN, api_keys_rotate, API_BODY_NONE,
	  0, "/v1/keys/rotate" },
	{ "GET", "/log/checkpoint", API_EXACT, AUTH_ROLE_AUDITOR, api_log_checkpoint,
	  API_BODY_NONE, API_AUDITED, "/log/checkpoint" },
	{ "GET", "/log/tile/", API_PREFIX, AUTH_ROLE_AUDITOR, api_log_tile, API_BODY_NONE,
	  API_AUDITED, "/log/tile/{path}" },
	/* the dashboard's overview (api_overview.c) */
	{ "GET", "/v1/stats/denied", API_EXACT, AUTH_ROLE_AUDITOR, api_stats_denied,
	  API_BODY_NONE, API_AUDITED, "/v1/stats/denied" },
	{ "POST", "/v1/verify", API_EXACT, AUTH_ROLE_ADMIN, api_verify_post, API_BODY_NONE, 0,
	  "/v1/verify" },
	{ "GET", "/v1/verify", API_EXACT, AUTH_ROLE_AUDITOR, api_verify_get, API_BODY_NONE,
	  API_AUDITED, "/v1/verify" },
	{ "GET", "/v1/whoami", API_EXACT, AUTH_ROLE_WRITER | AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN,
	  api_whoami, API_BODY_NONE, 0, "/v1/whoami" },
	/* the dashboard's admin screens (api_alerts_admin.c, api_searches.c) */
	{ "POST", "/v1/alerts/rules/test", API_EXACT, AUTH_ROLE_ADMIN, api_rules_test,
	  API_BODY_JSON, 0, "/v1/alerts/rules/test" },
	{ "POST", "/v1/alerts/rules/", API_PREFIX, AUTH_ROLE_ADMIN, api_rules_edit, API_BODY_JSON,
	  0, "/v1/alerts/rules/{id}" },
	{ "POST", "/v1/alerts/state", API_EXACT, AUTH_ROLE_ADMIN, api_alert_state, API_BODY_JSON,
	  0, "/v1/alerts/state" },
	{ "POST", "/v1/webhooks/", API_PREFIX, AUTH_ROLE_ADMIN, api_webhook_test, API_BODY_NONE,
	  0, "/v1/webhooks/{name}/test" },
	{ "GET", "/v1/webhooks/", API_PREFIX, AUTH_ROLE_ADMIN, api_webhook_deliveries,
	  API_BODY_NONE, API_AUDITED, "/v1/webhooks/{name}/deliveries" },
	{ "GET", "/v1/searches", API_EXACT, AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN, api_searches_get,
	  API_BODY_NONE, API_AUDITED, "/v1/searches" },
	{ "POST", "/v1/searches", API_EXACT, AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN,
	  api_searches_post, API_BODY_JSON, 0, "/v1/searches" },
	{ "DELETE", "/v1/searches/", API_PREFIX, AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN,
	  api_searches_delete, API_BODY_NONE, 0, "/v1/searches/{id}" },
	{ "GET", "/v1/retention/plan", API_EXACT, AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN,
	  api_retention_plan, API_BODY_NONE, API_AUDITED, "/v1/retention/plan" },
	{ "POST", "/v1/session", API_EXACT, AUTH_ROLE_WRITER | AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN,
	  api_session_post, API_BODY_NONE, 0, "/v1/session" },
	{ "GET", "/v1/session", API_EXACT, 0, api_session_get, API_BODY_NONE,
	  API_PUBLIC | API_SESSION, "/v1/session" },
	{ "DELETE", "/v1/session", API_EXACT, AUTH_ROLE_WRITER | AUTH_ROLE_AUDITOR | AUTH_ROLE_ADMIN,
	  api_session_delete, API_BODY_NONE, 0, "/v1/session" },
	/* last: the API's paths win over a file that would share one */
	{ "GET", "/", API_ASSET, 0, api_web_get, API_BODY_NONE, API_PUBLIC, "/{dashboard}" },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

const struct api_route *api_routes(size_t *n)
{
	*n = NROUTES;
	return routes;
}

const char *const *api_route_labels(size_t *n, const char *const **methods)
{
	static const char *labels[NROUTES], *meths[NROUTES];

	for (size_t i = 0; i < NROUTES; i++) {
		labels[i] = routes[i].label;
		meths[i] = routes[i].method;
	}
	*n = NROUTES;
	*methods = meths;
	return labels;
}

/* Whether method is already in the comma-separated list. */
static int method_listed(const char *list, const char *method)
{
	size_t n = strlen(method);

	for (const char *p = list; (p = strstr(p, method)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ','))
			return 1;
	return 0;
}

static int path_matches(const struct api_route *rt, const char *path)
{
	size_t pl = strlen(rt->path);

	switch (rt->match) {
	case API_PREFIX:
		return strncmp(path, rt->path, pl) == 0 && path[pl] != 0;
	case API_ASSET:
		return api_web_exists(path);
	default:
		return strcmp(path, rt->path) == 0;
	}
}

const struct api_route *api_route_find(const char *path, const char *method, char *allow,
				       size_t cap, int *path_known)
{
	const struct api_route *hit = NULL;
	size_t used = 0;

	*path_known = 0;
	allow[0] = 0;
	for (size_t i = 0; i < NROUTES; i++) {
		const struct api_route *rt = &routes[i];

		if (!path_matches(rt, path))
			continue;
		*path_known = 1;
		/* HEAD only for the dashboard's files: it would be an audited
		 * read elsewhere, with no body to show for it. */
		if (!hit && (strcmp(method, rt->method) == 0 ||
			     (rt->match == API_ASSET && strcmp(method, "HEAD") == 0)))
			hit = rt;
		if (used < cap && !method_listed(allow, rt->method)) {
			int w = snprintf(allow + used, cap - used, "%s%s", used ? ", " : "",
					 rt->method);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	return hit;
}
