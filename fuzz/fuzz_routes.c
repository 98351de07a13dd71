/*
 * fuzz_routes.c - the route lookup http.c runs on every request's method
 * and path (api_route_find, api_routes.c).  Input: the method, one NUL
 * byte, the path (as libmicrohttpd hands them over: NUL-terminated).
 * Beyond "no crash, no UB": a row found really matches (its method, or
 * HEAD on a dashboard file; its exact path, or its prefix with a tail),
 * the Allow list stays inside its buffer and holds the row's method, and a
 * path no row knows has an empty Allow list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *method, *path, allow[128 + 1];
	const struct api_route *hit;
	const void *nul;
	int known = -1;

	nul = memchr(data, 0, size);
	if (!nul)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	method = buf;
	path = buf + ((const uint8_t *)nul - data) + 1;
	allow[128] = 'x';	/* canary: the lookup writes 128 bytes at most */
	hit = api_route_find(path, method, allow, 128, &known);
	if (allow[128] != 'x' || memchr(allow, 0, 128) == NULL)
		abort();
	if (known != 0 && known != 1)
		abort();
	if (!known && (hit || allow[0]))
		abort();
	if (hit) {
		size_t pl = strlen(hit->path);

		if (!known || !strstr(allow, hit->method))
			abort();
		if (strcmp(method, hit->method) != 0 &&
		    !(hit->match == API_ASSET && strcmp(method, "HEAD") == 0))
			abort();
		if (hit->match == API_EXACT && strcmp(path, hit->path) != 0)
			abort();
		if (hit->match == API_PREFIX && (strncmp(path, hit->path, pl) != 0 || !path[pl]))
			abort();
	}
	free(buf);
	return 0;
}
