/*
 * test_server.c - the server object of serve.h, in-process: a new log in a
 * temporary directory (as `logseal init --no-encryption` makes it), a server
 * on 127.0.0.1 with port 0 (any free one, read back from serve_info()), a
 * writer token made with the admin token, one event POSTed with it and read
 * back by its index with the admin token (libcurl), then serve_run() ended
 * by serve_stop() from another thread, and serve_close().  Nothing may leak
 * (the suite runs under AddressSanitizer with `make asan`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "server/auth.h"
#include "server/serve.h"
#include "server/tlscert.h"
#include "store/log.h"

static char dir[] = "/tmp/ls-test-server-XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct reply {
	char *p;
	size_t n;
};

static size_t sink(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct reply *r = ctx;
	size_t n = size * nmemb;
	char *np = realloc(r->p, r->n + n + 1);

	if (!np)
		return 0;
	memcpy(np + r->n, p, n);
	r->p = np;
	r->n += n;
	r->p[r->n] = 0;
	return n;
}

/* One request; the status, and the reply's JSON in *out (caller frees). */
static long request(unsigned port, const char *method, const char *path, const char *token,
		    const char *body, json_t **out)
{
	char url[256], auth[512];
	struct curl_slist *hdrs = NULL;
	struct reply r = { 0 };
	json_error_t je;
	long status = 0;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	*out = r.p ? json_loads(r.p, 0, &je) : NULL;
	free(r.p);
	return status;
}

static void *run(void *arg)
{
	return (void *)(intptr_t)serve_run(arg);
}

static void notice(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "# serve: %s\n", msg);
}

static void test_open_request_close(void **state)
{
	static const char ev[] =
		"{\"id\":\"t1\",\"time\":\"2024-05-06T07:08:09Z\",\"actor\":{\"id\":\"alice\","
		"\"type\":\"user\"},\"action\":\"doc.read\",\"outcome\":\"success\","
		"\"source\":{\"ip\":\"192.0.2.7\"},\"resource\":{\"type\":\"doc\",\"id\":\"42\"}}";
	struct serve_opts o;
	struct serve_info info;
	struct ls_err err = { "" };
	struct serve *sv = NULL;
	char path[300], *admin = NULL, *writer = NULL;
	size_t len;
	json_t *j = NULL, *e;
	json_int_t index;
	uint64_t size = UINT64_MAX;
	pthread_t th;
	void *sig;

	(void)state;
	assert_int_equal(log_init(dir, "test.example/server", &err), LS_OK);
	assert_int_equal(auth_bootstrap(dir, &err), LS_OK);
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	assert_int_equal(fs_read_file(path, 4096, &admin, &len, &err), LS_OK);
	while (len && (admin[len - 1] == '\n' || admin[len - 1] == '\r'))
		admin[--len] = 0;

	serve_opts_init(&o);
	o.dir = dir;
	o.listen = "127.0.0.1:0";
	o.threads = 2;
	o.checkpoint_ms = 20;
	o.notice = notice;
	assert_int_equal(serve_open(&o, &sv, &err), LS_OK);
	serve_info(sv, &info);
	assert_string_equal(info.host, "127.0.0.1");
	assert_int_not_equal(info.port, 0);
	assert_int_equal(info.tls, 0);

	/* Ingest needs a writer (the admin token is refused): the admin token
	 * makes one. */
	assert_int_equal(request(info.port, "POST", "/v1/events", admin, ev, &j), 403);
	json_decref(j);
	assert_int_equal(request(info.port, "POST", "/v1/tokens", admin,
				 "{\"role\":\"writer\",\"name\":\"test_server\"}", &j), 201);
	assert_non_null(j);
	writer = strdup(json_string_value(json_object_get(j, "token")));
	assert_non_null(writer);
	json_decref(j);

	assert_int_equal(request(info.port, "POST", "/v1/events", writer, ev, &j), 200);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "appended")), 1);
	index = json_integer_value(json_array_get(json_object_get(j, "indexes"), 0));
	json_decref(j);

	snprintf(path, sizeof(path), "/v1/events/%lld", (long long)index);
	assert_int_equal(request(info.port, "GET", path, admin, NULL, &j), 200);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "index")), index);
	e = json_object_get(j, "entry");
	assert_string_equal(json_string_value(json_object_get(e, "id")), "t1");
	assert_string_equal(json_string_value(json_object_get(e, "action")), "doc.read");
	json_decref(j);

	/* serve_run() returns 0 once serve_stop() is called. */
	assert_int_equal(pthread_create(&th, NULL, run, sv), 0);
	serve_stop(sv);
	assert_int_equal(pthread_join(th, &sig), 0);
	assert_int_equal((int)(intptr_t)sig, 0);
	assert_int_equal(serve_close(sv, &size), LS_OK);
	assert_true(size >= (uint64_t)index + 1 && size != UINT64_MAX);
	ls_wipe(admin, strlen(admin));
	ls_wipe(writer, strlen(writer));
	free(admin);
	free(writer);
	serve_close(NULL, NULL);
}

/* A listening address that is no address, and plain HTTP off loopback. */
static void test_listen_refused(void **state)
{
	struct serve_opts o;
	struct ls_err err = { "" };
	struct serve *sv = (struct serve *)1;
	int exposed = -1;

	(void)state;
	serve_opts_init(&o);
	o.dir = dir;
	o.listen = "no-port";
	assert_int_equal(serve_check_listen(&o, &exposed, &err), LS_INVALID);
	assert_int_equal(serve_open(&o, &sv, &err), LS_INVALID);
	assert_null(sv);
	o.listen = "192.0.2.1:0";
	assert_int_equal(serve_check_listen(&o, &exposed, &err), LS_DENIED);
	o.insecure_plaintext = 1;
	assert_int_equal(serve_check_listen(&o, &exposed, &err), LS_OK);
	assert_int_equal(exposed, 1);
	o.listen = "[::1]:0";
	o.insecure_plaintext = 0;
	assert_int_equal(serve_check_listen(&o, &exposed, &err), LS_OK);
	assert_int_equal(exposed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_refused),
		cmocka_unit_test(test_open_request_close),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
