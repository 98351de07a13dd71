/*
 * cmd_token.c - `logseal token create|list|revoke`: manages tokens through
 * the running server's /v1/tokens API (libcurl, through httpc.h), so every
 * change goes through the server and is written to the log.
 *
 * The admin secret is read from --token-file, from DIR/admin.token with
 * --data DIR, or from $LOGSEAL_TOKEN; it is sent only in the Authorization
 * header and wiped from memory afterwards.
 *
 * `create --output FILE` writes the new secret alone (one line, mode 0600)
 * to FILE, which must not exist yet, and prints the token's description
 * without it: a token file without jq, and no secret on the terminal.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/auth.h"
#include "cli/httpc.h"

#define REPLY_MAX (16u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: logseal token create --role ROLE [--role ROLE...] [--service S] [--name N]\n"
		"                            [--expires 30d|RFC3339] [--partial] [--output FILE]\n"
		"       logseal token list\n"
		"       logseal token revoke ID\n"
		"options:\n"
		"  --server URL       the running server (default $LOGSEAL_URL, else\n"
		"                     " HTTPC_DEFAULT_URL ")\n"
		"  --token-file FILE  admin token (default: DIR/admin.token with --data DIR,\n"
		"                     else $LOGSEAL_TOKEN)\n"
		"  --data DIR         data directory, to find DIR/admin.token\n"
		"  --cacert FILE      CA certificate to verify an https server\n"
		"  --expires WHEN     refuse the token after WHEN: a duration (30d, 12h; s m h d w)\n"
		"                     or an RFC 3339 time\n"
		"  --partial          writer: take its batches event by event (bad events are\n"
		"                     recorded as rejected, the others appended)\n"
		"  --output FILE      write the secret alone to FILE (new file, mode 0600) and\n"
		"                     print the token without it\n"
		"roles: writer (optionally bound with --service), auditor, admin\n");
}

/* The secret of a create reply to fd, one line; the reply printed without
 * it.  0 on success. */
static int save_secret(int fd, const char *path, json_t *reply)
{
	const char *secret = json_string_value(json_object_get(reply, "token"));
	size_t n = secret ? strlen(secret) : 0, off = 0;
	char *text;

	if (!secret) {
		fprintf(stderr, "logseal token create: the reply holds no token\n");
		return 1;
	}
	while (off < n + 1) {
		ssize_t w = off < n ? write(fd, secret + off, n - off) : write(fd, "\n", 1);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "logseal token create: %s: %s\n", path, strerror(errno));
			return 1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		fprintf(stderr, "logseal token create: %s: %s\n", path, strerror(errno));
		return 1;
	}
	json_object_del(reply, "token");
	json_object_set_new(reply, "token_file", json_string(path));
	text = json_dumps(reply, JSON_COMPACT);
	if (text)
		puts(text);
	free(text);
	return 0;
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
		{ "expires", required_argument, NULL, 'e' },
		{ "partial", no_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct httpc_cfg cfg = { .need_token = 1 };
	const char *service = NULL, *name = NULL, *cmd, *expires = NULL, *output = NULL;
	int partial = 0, ofd = -1;
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
		case 'e': expires = optarg; break;
		case 'p': partial = 1; break;
		case 'o': output = optarg; break;
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
		if (expires)
			json_object_set_new(body, "expires", json_string(expires));
		if (partial)
			json_object_set_new(body, "partial", json_true());
		/* Before the token exists: a file in the way refuses the
		 * command, not a token whose secret would have nowhere to go. */
		if (output && (ofd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
					  0600)) < 0) {
			fprintf(stderr, "logseal token create: %s: %s%s\n", output,
				strerror(errno), errno == EEXIST ? " (refusing to overwrite)" : "");
			goto out;
		}
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload) {
			fprintf(stderr, "logseal token create: out of memory\n");
			goto out;
		}
		rq.method = "POST";
		rq.content_type = "application/json";
		rq.body = payload;
		rq.body_len = strlen(payload);
	} else if ((expires || partial || output) && strcmp(cmd, "create") != 0) {
		fprintf(stderr, "logseal token: --expires, --partial and --output go with create\n");
		rc = 2;
		goto out;
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
	} else if (resp.status >= 200 && resp.status < 300 && ofd >= 0) {
		json_t *reply = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);

		rc = save_secret(ofd, output, reply);
		json_decref(reply);	/* (jansson does not wipe: the process ends) */
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
	if (ofd >= 0) {
		close(ofd);
		if (rc != 0)
			unlink(output);	/* ours (O_EXCL): no secret went into it */
	}
	httpc_resp_free(&resp);	/* wipes: a create reply holds the new secret */
	httpc_close(&h);
	free(payload);
	json_decref(body);
	json_decref(roles);
	return rc;
}
