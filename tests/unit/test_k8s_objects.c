/*
 * test_k8s_objects.c - the request and response objects of Kubernetes
 * audit events (formats/k8s.c): kept with objectRef (apiGroup too), Secret
 * data redacted in a create (Secret and its last-applied annotation), a
 * merge patch and a JSON patch on secrets, a SecretList answer whose items
 * carry no kind; a patch of a Deployment (group apps) kept as sent; an
 * object over the size bound or too deep replaced by its size and hash.
 * The events follow the audit.k8s.io/v1 shape of the real captures in
 * tests/vectors/k8s/ (test_event.c reads those).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/crypto.h"
#include "core/event.h"

static const struct event_ctx ctx = {
	.writer = "tok-k8s",
	.remote_ip = "10.0.0.1",
	.received_us = 1704164645123456LL,
};

#define HEAD(verb, oref, stage)                                                           \
	"{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"RequestResponse\"," \
	"\"auditID\":\"a1b2c3d4-0000-4000-8000-00000000000" stage "\",\"stage\":\"ResponseComplete\"," \
	"\"requestURI\":\"/api/v1/namespaces/prod/secrets/db\",\"verb\":\"" verb "\","       \
	"\"user\":{\"username\":\"jane\",\"groups\":[\"dev\"]},\"sourceIPs\":[\"10.1.2.3\"],"   \
	"\"userAgent\":\"kubectl/v1.29.0\",\"objectRef\":" oref ","                            \
	"\"responseStatus\":{\"metadata\":{},\"code\":200},"                                   \
	"\"requestReceivedTimestamp\":\"2024-03-01T10:00:00.000000Z\","                        \
	"\"stageTimestamp\":\"2024-03-01T10:00:00.010000Z\""

#define SECRET_REF "{\"resource\":\"secrets\",\"namespace\":\"prod\",\"name\":\"db\",\"apiVersion\":\"v1\"}"

/* The one event of body, parsed (the stored canonical JSON). */
static json_t *one(const char *body, char **raw)
{
	struct event_batch b;
	struct event_error e;
	json_t *o;

	memset(&e, 0, sizeof(e));
	if (event_k8s_parse(body, strlen(body), &ctx, &b, &e) != LS_OK)
		fail_msg("refused: %s: %s", e.field, e.reason);
	assert_int_equal(b.n, 1);
	o = json_loads(b.items[0].json, 0, NULL);
	assert_non_null(o);
	if (raw)
		*raw = strdup(b.items[0].json);
	event_batch_release(&b);
	return o;
}

static void expect(json_t *o, const char *pointer, const char *want)
{
	json_t *v = o;
	char buf[256], *p, *save = NULL;
	char *got;

	snprintf(buf, sizeof(buf), "%s", pointer);
	for (p = strtok_r(buf, "/", &save); p && v; p = strtok_r(NULL, "/", &save)) {
		if (json_is_array(v))
			v = json_array_get(v, (size_t)atoi(p));
		else
			v = json_object_get(v, p);
	}
	got = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!got || strcmp(got, want))
		fail_msg("%s: want %s, got %s", pointer, want, got ? got : "(absent)");
	free(got);
}

static void test_secret_create(void **state)
{
	const char *body =
		HEAD("create", SECRET_REF, "1")
		",\"requestObject\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\","
		"\"metadata\":{\"name\":\"db\",\"namespace\":\"prod\",\"annotations\":{"
		"\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"data\\\":{\\\"password\\\":\\\"aHVudGVyMg==\\\"}}\","
		"\"team\":\"pay\"}},"
		"\"type\":\"Opaque\",\"data\":{\"password\":\"aHVudGVyMg==\",\"user\":\"YWRtaW4=\"},"
		"\"stringData\":{\"token\":\"s3cr3t\"}},"
		"\"responseObject\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"db\","
		"\"resourceVersion\":\"77\"},\"type\":\"Opaque\",\"data\":{\"password\":\"aHVudGVyMg==\","
		"\"user\":\"YWRtaW4=\"}}}";
	char *raw;
	json_t *o = one(body, &raw);

	(void)state;
	expect(o, "action", "\"k8s.secrets.create\"");
	expect(o, "details/requestObject/data",
	       "{\"password\":\"[REDACTED]\",\"user\":\"[REDACTED]\"}");
	expect(o, "details/requestObject/stringData", "{\"token\":\"[REDACTED]\"}");
	expect(o, "details/requestObject/metadata/annotations",
	       "{\"kubectl.kubernetes.io/last-applied-configuration\":\"[REDACTED]\",\"team\":\"pay\"}");
	expect(o, "details/requestObject/type", "\"Opaque\"");
	expect(o, "details/responseObject/data",
	       "{\"password\":\"[REDACTED]\",\"user\":\"[REDACTED]\"}");
	expect(o, "details/responseObject/metadata/resourceVersion", "\"77\"");
	expect(o, "details/objectRef",
	       "{\"apiVersion\":\"v1\",\"name\":\"db\",\"namespace\":\"prod\",\"resource\":\"secrets\"}");
	/* nowhere in the entry */
	assert_null(strstr(raw, "aHVudGVyMg"));
	assert_null(strstr(raw, "s3cr3t"));
	assert_null(strstr(raw, "YWRtaW4"));
	free(raw);
	json_decref(o);
}

static void test_secret_patches(void **state)
{
	const char *merge =
		HEAD("patch", SECRET_REF, "2")
		",\"requestObject\":{\"data\":{\"password\":\"bmV3cGFzcw==\"},"
		"\"metadata\":{\"labels\":{\"rotated\":\"yes\"}}}}";
	const char *jsonpatch =
		HEAD("patch", SECRET_REF, "3")
		",\"requestObject\":[{\"op\":\"replace\",\"path\":\"/data/password\","
		"\"value\":\"bmV3cGFzcw==\"},{\"op\":\"add\",\"path\":\"/metadata/labels/x\","
		"\"value\":\"y\"},{\"op\":\"add\",\"path\":\"/stringData\",\"value\":{\"k\":\"v1\"}}]}";
	const char *list =
		HEAD("list", "{\"resource\":\"secrets\",\"namespace\":\"prod\",\"apiVersion\":\"v1\"}", "4")
		",\"responseObject\":{\"kind\":\"SecretList\",\"apiVersion\":\"v1\",\"metadata\":{},"
		"\"items\":[{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"c2VjcmV0\"}},"
		"{\"metadata\":{\"name\":\"b\"},\"stringData\":{\"k\":\"plain\"}}]}}";
	char *raw;
	json_t *o;

	(void)state;
	o = one(merge, &raw);
	expect(o, "details/requestObject",
	       "{\"data\":{\"password\":\"[REDACTED]\"},\"metadata\":{\"labels\":{\"rotated\":\"yes\"}}}");
	assert_null(strstr(raw, "bmV3cGFzcw"));
	free(raw);
	json_decref(o);

	o = one(jsonpatch, &raw);
	expect(o, "details/requestObject/0",
	       "{\"op\":\"replace\",\"path\":\"/data/password\",\"value\":\"[REDACTED]\"}");
	expect(o, "details/requestObject/1",
	       "{\"op\":\"add\",\"path\":\"/metadata/labels/x\",\"value\":\"y\"}");
	expect(o, "details/requestObject/2/value", "\"[REDACTED]\"");
	assert_null(strstr(raw, "bmV3cGFzcw"));
	free(raw);
	json_decref(o);

	o = one(list, &raw);
	expect(o, "details/responseObject/items/0/data", "{\"k\":\"[REDACTED]\"}");
	expect(o, "details/responseObject/items/1/stringData", "{\"k\":\"[REDACTED]\"}");
	expect(o, "details/responseObject/items/1/metadata/name", "\"b\"");
	assert_null(strstr(raw, "c2VjcmV0"));
	assert_null(strstr(raw, "plain"));
	free(raw);
	json_decref(o);
}

static void test_deployment_patch_kept(void **state)
{
	const char *body =
		HEAD("patch", "{\"resource\":\"deployments\",\"namespace\":\"prod\",\"name\":\"web\","
			      "\"apiGroup\":\"apps\",\"apiVersion\":\"v1\"}", "5")
		",\"requestObject\":{\"spec\":{\"replicas\":5,\"template\":{\"spec\":{\"containers\":"
		"[{\"name\":\"web\",\"image\":\"web:1.2.4\"}]}}},\"data\":{\"not\":\"a secret\"}}}";
	json_t *o = one(body, NULL);

	(void)state;
	expect(o, "action", "\"k8s.deployments.patch\"");
	expect(o, "details/objectRef/apiGroup", "\"apps\"");
	expect(o, "details/requestObject/spec/replicas", "5");
	expect(o, "details/requestObject/spec/template/spec/containers/0/image", "\"web:1.2.4\"");
	expect(o, "details/requestObject/data", "{\"not\":\"a secret\"}");
	json_decref(o);
}

static void test_bounds(void **state)
{
	size_t big = 20000, cap = big + 4096, n;
	char *body = malloc(cap), *canon = NULL, hex[65];
	char deep[512];
	uint8_t h[LS_HASH_LEN];
	json_t *o, *obj;

	(void)state;
	assert_non_null(body);
	n = (size_t)snprintf(body, cap,
			     HEAD("create", "{\"resource\":\"configmaps\",\"namespace\":\"prod\","
					    "\"name\":\"big\",\"apiVersion\":\"v1\"}", "6")
			     ",\"requestObject\":{\"kind\":\"ConfigMap\",\"data\":{\"blob\":\"");
	memset(body + n, 'x', big);
	snprintf(body + n + big, cap - n - big, "\"}}}");
	o = one(body, NULL);
	obj = json_loads("{\"kind\":\"ConfigMap\",\"data\":{\"blob\":\"\"}}", 0, NULL);
	{
		char *x = malloc(big + 1);

		memset(x, 'x', big);
		x[big] = 0;
		json_object_set_new(json_object_get(obj, "data"), "blob", json_string(x));
		free(x);
	}
	assert_int_equal(event_canonical(obj, &canon, &n), LS_OK);
	ls_sha256(canon, n, NULL, 0, h);
	ls_hex(h, sizeof(h), hex);
	expect(o, "details/requestObject/omitted", "\"larger than 16384 bytes\"");
	{
		char want[128];

		snprintf(want, sizeof(want), "%zu", n);
		expect(o, "details/requestObject/bytes", want);
		snprintf(want, sizeof(want), "\"%s\"", hex);
		expect(o, "details/requestObject/sha256", want);
	}
	free(canon);
	json_decref(obj);
	json_decref(o);

	/* 15 levels below requestObject: too deep for an entry, omitted */
	n = (size_t)snprintf(deep, sizeof(deep), "%s", "");
	for (int i = 0; i < 15; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"a\":");
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "1");
	for (int i = 0; i < 15; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "}");
	snprintf(body, cap,
		 HEAD("create", "{\"resource\":\"configmaps\",\"apiVersion\":\"v1\"}", "7")
		 ",\"requestObject\":%s}", deep);
	o = one(body, NULL);
	expect(o, "details/requestObject/omitted", "\"nested too deep for an entry\"");
	json_decref(o);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_create),
		cmocka_unit_test(test_secret_patches),
		cmocka_unit_test(test_deployment_patch_kept),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests_name("k8s_objects", tests, NULL, NULL);
}
