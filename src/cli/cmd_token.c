/*
 * cmd_token.c - `logseal token create|list|revoke`: manages tokens through
 * the running server's /v1/tokens API (libcurl, through httpc.h), so every
 * change goes through the server and is written to the log.
 *
 * The admin secret is read from --token-file, from DIR/admin.token with
 * --data DIR, or from $LOGSEAL_TOKEN; it is sent only in the Authorization
 * header and wiped from memory afterwards.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "cli/httpc.h"

#define REPLY_MAX (16u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: logseal token create --role ROLE [--role ROLE...] [--service S] [--name N]\n"
		"       logseal token list\n"
		"       logseal token revoke ID\n"
		"options:\n"
		"  --server URL       the running server (default $LOGSEAL_URL, else\n"
		"                     " HTTPC_DEFAULT_URL ")\n"
		"  --token-file FILE  admin token (default: DIR/admin.token with --data DIR,\n"
		"                     else $LOGSEAL_TOKEN)\n"
		"  --data DIR         data directory, to find DIR/admin.token\n"
		"  --cacert FILE      CA certificate to verify an https server\n"
		"roles: writer (optionally bound with --service), auditor, admin\n");
}

int cmd_token(int argc, char **argv)
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
	struct httpc_cfg cfg = { .need_token = 1 };
	const char *service = NULL, *name = NULL, *cmd;
	struct httpc_req rq = { .method = "GET", .reply_cap = REPLY_MAX };
	struct httpc_resp resp = { 0 };
	struct httpc h = { 0 };
	struct ls_err err = { "" };
	char path[128], etext[1024];
	json_t *roles = json_array(), *body = NULL;
	char *payload = NULL;
	int c, rc = 1;

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
		case 'S': cfg.server = optarg; break;
		case 'f': cfg.token_file = optarg; break;
		case 'd': cfg.data_dir = optarg; break;
		case 'c': cfg.cacert = optarg; break;
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
	rq.path = "/v1/tokens";
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
		if (!payload) {
			fprintf(stderr, "logseal token create: out of memory\n");
			goto out;
		}
		rq.method = "POST";
		rq.content_type = "application/json";
		rq.body = payload;
		rq.body_len = strlen(payload);
	} else if (strcmp(cmd, "list") == 0 && optind == argc) {
		/* GET /v1/tokens */
	} else if (strcmp(cmd, "revoke") == 0 && optind + 1 == argc) {
		const char *id = argv[optind];
		if (strlen(id) != AUTH_ID_LEN || strncmp(id, "tok_", 4) != 0 ||
		    strspn(id + 4, "0123456789abcdef") != 16) {
			fprintf(stderr, "logseal token revoke: %s is not a token id (tok_ + 16 hex)\n",
				id);
			rc = 2;
			goto out;
		}
		rq.method = "DELETE";
		snprintf(path, sizeof(path), "/v1/tokens/%s", id);
		rq.path = path;
	} else {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (httpc_open(&h, &cfg, &err) != LS_OK) {
		fprintf(stderr, "logseal token: %s\n", err.msg);
		goto out;
	}
	if (httpc_do(&h, &rq, &resp, &err) != LS_OK) {
		fprintf(stderr, "logseal token: %s\n", err.msg);
	} else if (resp.status >= 200 && resp.status < 300) {
		fwrite(resp.body ? resp.body : "", 1, resp.len, stdout);
		if (resp.len && resp.body[resp.len - 1] != '\n')
			putchar('\n');
		rc = 0;
	} else {
		httpc_error_text(&resp, etext, sizeof(etext), NULL);
		fprintf(stderr, "logseal token: %s\n", etext);
	}
out:
	httpc_resp_free(&resp);	/* wipes: a create reply holds the new secret */
	httpc_close(&h);
	free(payload);
	json_decref(body);
	json_decref(roles);
	return rc;
}
