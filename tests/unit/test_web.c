/*
 * test_web.c - the embedded dashboard: "/" and every file of web/ are
 * found with the right content type, the ETag is the SHA-256 of the bytes
 * actually embedded, unknown or near-miss paths are not found, the CSP
 * holds every directive the dashboard relies on, and the HTML obeys that
 * CSP (no inline script or style, only local assets that exist, no
 * external URL anywhere).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "base/crypto.h"
#include "server/web.h"

static void test_index(void **state)
{
	const uint8_t *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;
	const char *t1 = NULL, *t2 = NULL, *e1 = NULL, *e2 = NULL;

	assert_int_equal(web_asset_lookup("/", &d1, &l1, &t1, &e1), LS_OK);
	assert_int_equal(web_asset_lookup("/index.html", &d2, &l2, &t2, &e2), LS_OK);
	assert_ptr_equal(d1, d2);
	assert_int_equal(l1, l2);
	assert_string_equal(t1, "text/html; charset=utf-8");
	assert_string_equal(e1, e2);
	assert_true(l1 > 15);
	assert_int_equal(strncasecmp((const char *)d1, "<!doctype html>", 15), 0);
	assert_int_equal(d1[l1], 0); /* web.h invariant 3 */
	/* A query string does not change the asset. */
	assert_int_equal(web_asset_lookup("/?x=1", &d2, NULL, NULL, NULL), LS_OK);
	assert_ptr_equal(d1, d2);
}

static void expect_type(const char *path, const char *type)
{
	const char *t = NULL;
	size_t len = 0;

	assert_int_equal(web_asset_lookup(path, NULL, &len, &t, NULL), LS_OK);
	assert_non_null(t);
	assert_string_equal(t, type);
	assert_true(len > 0);
}

static void test_types(void **state)
{
	expect_type("/app.js", "text/javascript; charset=utf-8");
	expect_type("/app.css", "text/css; charset=utf-8");
	expect_type("/favicon.svg", "image/svg+xml");
	expect_type("/app.js?v=2", "text/javascript; charset=utf-8");
}

static void test_missing(void **state)
{
	static const char *const bad[] = {
		"", "index.html", "app.js", "/nope", "/index.htm", "/INDEX.HTML", "/app.js/",
		"//", "/../index.html", "/./app.js", "/web/app.js", "/index.html\x01", "/%2e%2e/x",
		"/app.jsx", "/app.j",
	};
	const uint8_t *d = (const uint8_t *)"untouched";
	size_t len = 7;
	char longp[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(web_asset_lookup(bad[i], &d, &len, NULL, NULL), LS_NOTFOUND);
	assert_int_equal(web_asset_lookup(NULL, &d, &len, NULL, NULL), LS_NOTFOUND);
	assert_string_equal((const char *)d, "untouched");
	assert_int_equal(len, 7);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(web_asset_lookup(longp, NULL, NULL, NULL, NULL), LS_NOTFOUND);
}

/* Every asset: found under its own path, ETag = first 16 bytes of the
 * SHA-256 of the embedded bytes in hex, quoted; no external URL. */
static void test_every_asset(void **state)
{
	size_t n = web_asset_count();

	assert_true(n >= 4);
	assert_null(web_asset_path(n));
	for (size_t i = 0; i < n; i++) {
		const char *p = web_asset_path(i), *etag = NULL, *type = NULL;
		const uint8_t *d = NULL;
		uint8_t h[LS_HASH_LEN];
		char want[40];
		size_t len = 0;

		assert_non_null(p);
		assert_int_equal(p[0], '/');
		assert_int_equal(web_asset_lookup(p, &d, &len, &type, &etag), LS_OK);
		assert_non_null(type);
		assert_true(strncmp(type, "application/octet-stream", 24) != 0);
		ls_sha256(d, len, NULL, 0, h);
		want[0] = '"';
		for (size_t j = 0; j < 16; j++)
			snprintf(want + 1 + 2 * j, 3, "%02x", h[j]);
		want[33] = '"';
		want[34] = 0;
		assert_string_equal(etag, want);
		if (strncmp(type, "text/", 5) == 0 || strcmp(type, "image/svg+xml") == 0) {
			/* The dashboard makes no request to anywhere but its server;
			 * an XML namespace is a name, not a request, and neither is
			 * the home page named in the license banner comment a
			 * vendored file starts with (uPlot, scripts/vendor_web.sh). */
			const char *s = (const char *)d;
			if (len > 3 && memcmp(s, "/*!", 3) == 0 && strstr(s, "*/"))
				s = strstr(s, "*/");
			while ((s = strstr(s, "http")) != NULL) {
				int ns = strncmp(s, "http://www.w3.org/", 18) == 0;
				if (!ns && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0))
					fail_msg("%s: external URL at byte %zu", p, (size_t)(s - (const char *)d));
				s += 4;
			}
		}
	}
}

static void test_csp(void **state)
{
	const char *c = web_csp();
	static const char *const need[] = {
		"default-src 'none'", "script-src 'self'", "style-src 'self'",
		"img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'",
		"base-uri 'none'", "form-action 'none'",
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		assert_non_null(strstr(c, need[i]));
	assert_null(strstr(c, "unsafe"));
	assert_null(strchr(c, '\n'));
}

/* The HTML must work under the CSP: scripts only by src, no <style>, no
 * style= or on*= attributes, and every local src/href must be an asset. */
static void test_html_obeys_csp(void **state)
{
	const uint8_t *d;
	size_t len;
	char *html, *p;
	int scripts = 0, links = 0;

	assert_int_equal(web_asset_lookup("/", &d, &len, NULL, NULL), LS_OK);
	html = strndup((const char *)d, len);
	assert_non_null(html);
	for (p = html; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	assert_null(strstr(html, "<style"));
	assert_null(strstr(html, " style="));
	assert_null(strstr(html, "javascript:"));
	for (p = html; (p = strstr(p, " on")) != NULL; p++) {
		const char *q = p + 3;
		while (*q >= 'a' && *q <= 'z')
			q++;
		if (q > p + 3 && *q == '=')
			fail_msg("inline event handler at byte %zu", (size_t)(p - html));
	}
	for (p = html; (p = strstr(p, "<script")) != NULL; p++) {
		char *gt = strchr(p, '>');
		assert_non_null(gt);
		assert_non_null(strstr(p, "src="));
		assert_true(strstr(p, "src=") < gt);
		assert_int_equal(strncmp(gt + 1, "</script>", 9), 0);
		scripts++;
	}
	assert_true(scripts >= 1);
	for (p = html; (p = strstr(p, "=\"/")) != NULL; p++) {
		char *end = strchr(p + 2, '"'), save;
		assert_non_null(end);
		save = *end;
		*end = 0;
		if (web_asset_lookup(p + 2, NULL, NULL, NULL, NULL) != LS_OK)
			fail_msg("index.html refers to %s, which is not embedded", p + 2);
		*end = save;
		links++;
	}
	assert_true(links >= 2); /* app.js and app.css */
	free(html);
}

static void test_etag_matches(void **state)
{
	const char *e = "\"0123abcd\"";

	assert_true(web_etag_matches("\"0123abcd\"", e));
	assert_true(web_etag_matches("W/\"0123abcd\"", e));
	assert_true(web_etag_matches("*", e));
	assert_true(web_etag_matches("\"x\", \"0123abcd\"", e));
	assert_true(web_etag_matches("\"x\",W/\"0123abcd\" ", e));
	assert_false(web_etag_matches(NULL, e));
	assert_false(web_etag_matches("", e));
	assert_false(web_etag_matches("0123abcd", e));
	assert_false(web_etag_matches("\"0123abc\"", e));
	assert_false(web_etag_matches("\"0123abcd", e));
	assert_false(web_etag_matches("\"a,b\", \"x\"", e));
	assert_false(web_etag_matches(" , ,", e));
	assert_false(web_etag_matches("W/", e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_every_asset),
		cmocka_unit_test(test_csp),
		cmocka_unit_test(test_html_obeys_csp),
		cmocka_unit_test(test_etag_matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
