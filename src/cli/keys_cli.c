/*
 * keys_cli.c - the online half of `logseal keys rotate`: when the server
 * holds the journal (its lock is taken), the CLI asks it to rotate over the
 * admin API (POST /v1/keys/rotate, api_keys.c), so that the rotation runs in
 * the server's sequencer and is logged with the admin token as its actor.
 */
#include "server/serve.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/httpc.h"

int keys_rotate_online(const char *dir, const char *server, const char *token_file,
		       const char *cacert)
{
	struct httpc_cfg cfg = { .server = server, .token_file = token_file, .data_dir = dir,
				 .cacert = cacert, .need_token = 1 };
	struct httpc_req rq = { .method = "POST", .path = "/v1/keys/rotate",
				.reply_cap = 64u << 10 };
	struct httpc_resp resp = { 0 };
	struct httpc h = { 0 };
	struct ls_err err = { "" };
	char etext[1024];
	json_t *o = NULL;
	int rc = 1;

	if (httpc_open(&h, &cfg, &err) != LS_OK) {
		fprintf(stderr, "logseal keys: %s\n", err.msg);
		return 1;
	}
	if (httpc_do(&h, &rq, &resp, &err) != LS_OK) {
		fprintf(stderr, "logseal keys: the server holds %s, but asking it failed: %s\n",
			dir, err.msg);
	} else if (resp.status == 200 &&
		   (o = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL))) {
		printf("the running server started data key %lld (was %lld; %lld data keys): new "
		       "events are written under it\n",
		       (long long)json_integer_value(json_object_get(o, "key_id")),
		       (long long)json_integer_value(json_object_get(o, "previous_key_id")),
		       (long long)json_integer_value(json_object_get(o, "data_keys")));
		if (!json_is_true(json_object_get(o, "logged")))
			fprintf(stderr, "logseal keys: warning: the rotation could not be "
					"written to the log\n");
		rc = 0;
	} else {
		httpc_error_text(&resp, etext, sizeof(etext), NULL);
		fprintf(stderr, "logseal keys: the server refused the rotation: %s\n", etext);
	}
	json_decref(o);
	httpc_resp_free(&resp);
	httpc_close(&h);
	return rc;
}
