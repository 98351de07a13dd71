/*
 * token_cli.c - `logseal token create|list|revoke`: manages tokens through
 * the running server's /v1/tokens API (libcurl), so every change goes
 * through the server and is written to the log.
 *
 * The admin secret is read from --token-file, from DIR/admin.token with
 * --data DIR, or from $LOGSEAL_TOKEN; it is sent only in the Authorization
 * header and wiped from memory afterwards.
 */
#include "serve.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "crypto.h"
#include "fsutil.h"

#define REPLY_MAX (16u << 20)
#define TOKEN_CAP 512

struct buf {
	char *p;
	size_t n;
	int overflow;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *cls)
{
	struct buf *b = cls;
	size_t n = size * nmemb;
	char *np;

	if (b->n + n > REPLY_MAX) {
		b->overflow = 1;
		return 0;
	}
	np = realloc(b->p, b->n + n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = 0;
	return n;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: logseal token create --role ROLE [--role ROLE...] [--service S] [--name N]\n"
		"       logseal token list\n"
		"       logseal token revoke ID\n"
		"options:\n"
		"  --server URL       the running server (default http://127.0.0.1:8080)\n"
		"  --token-file FILE  admin token (default: DIR/admin.token with --data DIR,\n"
		"                     else $LOGSEAL_TOKEN)\n"
		"  --data DIR         data directory, to find DIR/admin.token\n"
		"  --cacert FILE      CA certificate to verify an https server\n"
		"roles: writer (optionally bound with --service), auditor, admin\n");
}

static int load_token(const char *file, const char *dir, char *out, size_t cap)
{
	char path[PATH_MAX], *text = NULL;
	const char *env = getenv("LOGSEAL_TOKEN"), *src;
	struct ls_err err;
	size_t len;

	if (!file && dir) {
		snprintf(path, sizeof(path), "%s/admin.token", dir);
		file = path;
	}
	if (file) {
		if (fs_read_file(file, 4096, &text, &len, &err) != LS_OK) {
			fprintf(stderr, "logseal token: %s\n", err.msg);
			return 0;
		}
		src = text;
	} else if (env) {
		src = env;
		len = strlen(env);
	} else {
		fprintf(stderr, "logseal token: no token: give --token-file, --data or set "
				"LOGSEAL_TOKEN\n");
		return 0;
	}
	while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r' || src[len - 1] == ' '))
		len--;
	if (len == 0 || len >= cap) {
		fprintf(stderr, "logseal token: the token is empty or too long\n");
		if (text)
			ls_wipe(text, strlen(text));
		free(text);
		return 0;
	}
	memcpy(out, src, len);
	out[len] = 0;
	if (text)
		ls_wipe(text, strlen(text));
	free(text);
	return 1;
}

int token_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "service", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "server", required_argument, NULL, 'S' },
		{ "token-file", required_argument, NULL, 'f' },
		{ "data", required_argument, NULL, 'd' },
		{ "cacert", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = "http://127.0.0.1:8080", *file = NULL, *dir = NULL, *cacert = NULL;
	const char *service = NULL, *name = NULL, *cmd, *method = "GET";
	char url[2048], base[1024], tok[TOKEN_CAP], hdr[TOKEN_CAP + 32], errbuf[CURL_ERROR_SIZE];
	json_t *roles = json_array(), *body = NULL;
	char *payload = NULL;
	struct curl_slist *headers = NULL;
	struct buf reply = { 0 };
	CURL *curl = NULL;
	long status = 0;
	int c, rc = 1;
	CURLcode cc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (!auth_role_parse(optarg)) {
				fprintf(stderr, "logseal token: unknown role %s (writer, auditor, admin)\n",
					optarg);
				goto out;
			}
			json_array_append_new(roles, json_string(optarg));
			break;
		case 's': service = optarg; break;
		case 'n': name = optarg; break;
		case 'S': server = optarg; break;
		case 'f': file = optarg; break;
		case 'd': dir = optarg; break;
		case 'c': cacert = optarg; break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			fprintf(stderr, "logseal token: unknown option or missing value: %s\n",
				argv[optind - 1]);
			usage(stderr);
			rc = 2;
			goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	cmd = argv[optind++];
	/* Tolerate trailing slashes in --server. */
	if (snprintf(base, sizeof(base), "%s", server) >= (int)sizeof(base)) {
		fprintf(stderr, "logseal token: --server URL too long\n");
		goto out;
	}
	for (size_t bl = strlen(base); bl > 1 && base[bl - 1] == '/'; bl--)
		base[bl - 1] = 0;
	server = base;
	if (strcmp(cmd, "create") == 0 && optind == argc) {
		if (json_array_size(roles) == 0) {
			fprintf(stderr, "logseal token create: --role is required\n");
			rc = 2;
			goto out;
		}
		body = json_object();
		json_object_set(body, "roles", roles);
		if (service)
			json_object_set_new(body, "service", json_string(service));
		if (name)
			json_object_set_new(body, "name", json_string(name));
		payload = json_dumps(body, JSON_COMPACT);
		method = "POST";
		snprintf(url, sizeof(url), "%s/v1/tokens", server);
	} else if (strcmp(cmd, "list") == 0 && optind == argc) {
		snprintf(url, sizeof(url), "%s/v1/tokens", server);
	} else if (strcmp(cmd, "revoke") == 0 && optind + 1 == argc) {
		const char *id = argv[optind];
		if (strlen(id) != AUTH_ID_LEN || strncmp(id, "tok_", 4) != 0 ||
		    strspn(id + 4, "0123456789abcdef") != 16) {
			fprintf(stderr, "logseal token revoke: %s is not a token id (tok_ + 16 hex)\n",
				id);
			rc = 2;
			goto out;
		}
		method = "DELETE";
		snprintf(url, sizeof(url), "%s/v1/tokens/%s", server, id);
	} else {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (!load_token(file, dir, tok, sizeof(tok)))
		goto out;
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
	ls_wipe(tok, sizeof(tok));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	if (!curl) {
		fprintf(stderr, "logseal token: cannot initialise libcurl\n");
		goto wipe;
	}
	headers = curl_slist_append(headers, hdr);
	if (payload)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	errbuf[0] = 0;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cacert)
		curl_easy_setopt(curl, CURLOPT_CAINFO, cacert);
	if (payload)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		fprintf(stderr, "logseal token: %s: %s\n", url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto wipe;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		fwrite(reply.p ? reply.p : "", 1, reply.n, stdout);
		if (reply.n && reply.p[reply.n - 1] != '\n')
			putchar('\n');
		rc = 0;
	} else {
		fprintf(stderr, "logseal token: HTTP %ld: %.*s", status, (int)reply.n,
			reply.p ? reply.p : "");
		if (!reply.n || reply.p[reply.n - 1] != '\n')
			fputc('\n', stderr);
	}
wipe:
	curl_slist_free_all(headers);
	ls_wipe(hdr, sizeof(hdr));
	if (curl)
		curl_easy_cleanup(curl);
	curl_global_cleanup();
	if (reply.p)
		ls_wipe(reply.p, reply.n); /* a create reply holds the new secret */
out:
	free(reply.p);
	free(payload);
	json_decref(body);
	json_decref(roles);
	return rc;
}
