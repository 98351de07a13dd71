/*
 * cmd_keys.c - `logseal keys status|rotate|seal-config`: the encryption
 * keys of a data directory.  A rotation runs offline when the journal is
 * free, and otherwise asks the running server to rotate online.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "core/event.h"
#include "core/note.h"
#include "store/cfgseal.h"
#include "store/cpindex.h"
#include "store/bundlekey.h"
#include "store/keys.h"
#include "store/log.h"
#include "cli/httpc.h"

/* ---------------------------------------------------------------- keys --- */

static const char usage_keys[] =
	"usage: logseal keys status --data DIR\n"
	"       logseal keys seal-config --data DIR\n"
	"       logseal keys bundle-key --data DIR\n"
	"       logseal keys rotate --data DIR [--new-master-key-file PATH |\n"
	"                           --new-master-key-env | --new-master-key-command CMD]\n"
	"\n"
	"                           [--server URL] [--token-file FILE] [--cacert FILE]\n"
	"\n"
	"status: checks the master key and prints where it comes from, how many\n"
	"data keys there are and the newest one (what new segments are sealed with).\n"
	"Works while the server runs.\n"
	"rotate: new events go to a new journal segment under a fresh data key.\n"
	"While the server runs (it holds the journal), the CLI asks it to rotate\n"
	"online (POST /v1/keys/rotate with an admin token: --token-file, else\n"
	"DIR/admin.token, else $LOGSEAL_TOKEN; --server, else $LOGSEAL_URL, else\n"
	"http://127.0.0.1:8080); ingest goes on and the rotation is logged as\n"
	"logseal.keys.rotate.  With --new-master-key-*, every data key is first\n"
	"re-wrapped under the new master key (events are not rewritten) and\n"
	"DIR/keys/master.json names it: that needs the server stopped.\n"
	"--new-master-key-env reads the new key from $LOGSEAL_NEW_MASTER_KEY; from\n"
	"then on the log reads $LOGSEAL_MASTER_KEY.\n"
	"seal-config: migrates a data directory made before configuration files were\n"
	"sealed: seals tokens.json, keys/master.json, alerts/*.json and\n"
	"state/last-verify.json as they are now, and builds checkpoints.index from\n"
	"the signed checkpoints in DIR/checkpoints/.  A file whose seal is wrong is\n"
	"refused, never re-sealed.  Review the files first; stop the server.\n"
	"bundle-key: prints the bucket's bundle key (base64, one line): what an auditor\n"
	"needs to open the entry bundles an encrypted log publishes to its object\n"
	"store (docs/OBJECT-STORE.md).  Derived from the master key, it reveals nothing\n"
	"of it and stays the same across data-key rotation.\n";

/* checkpoints.index from DIR/checkpoints/, each file's signature checked. */
static ls_rc build_cpindex(const char *dir, size_t *count, struct ls_err *err)
{
	char path[PATH_MAX + 64], *vk = NULL, *note = NULL;
	struct cpindex_ent *v = NULL;
	struct note_verifier ver;
	struct dirent **names = NULL;
	uint8_t k[CFGSEAL_KEY_LEN];
	size_t len, n = 0;
	int nn, i;
	ls_rc rc;

	rc = cfgseal_key(dir, CFGSEAL_CHECKPOINTS, k, err);
	if (rc != LS_OK)
		return rc;
	rc = cpindex_load(dir, k, 1, &v, &n, err);
	if (rc != LS_NOTFOUND) {
		free(v);
		*count = rc == LS_OK ? 0 : n;
		ls_wipe(k, sizeof(k));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/verifier.key", dir);
	rc = fs_read_file(path, 4096, &vk, &len, err);
	if (rc != LS_OK)
		return rc;
	while (len && (vk[len - 1] == '\n' || vk[len - 1] == '\r'))
		len--;
	rc = note_verifier_parse(vk, len, &ver, err);
	free(vk);
	if (rc != LS_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/checkpoints", dir);
	nn = scandir(path, &names, NULL, alphasort);
	if (nn < 0)
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	v = calloc((size_t)nn + 1, sizeof(*v));
	if (!v)
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
	for (i = 0; rc == LS_OK && i < nn; i++) {
		struct checkpoint cp;
		size_t tl;

		if (strlen(names[i]->d_name) != 20 || strspn(names[i]->d_name, "0123456789") != 20)
			continue;
		snprintf(path, sizeof(path), "%s/checkpoints/%s", dir, names[i]->d_name);
		rc = fs_read_file(path, NOTE_MAX_SIZE, &note, &len, err);
		if (rc == LS_OK)
			rc = note_open(note, len, &ver, 1, &tl, err);
		if (rc == LS_OK)
			rc = checkpoint_parse(note, tl, &cp, err);
		free(note);
		note = NULL;
		if (rc == LS_OK && cp.size != strtoull(names[i]->d_name, NULL, 10))
			rc = ls_err_set(err, LS_TAMPERED, "holds another size");
		if (rc != LS_OK) {
			rc = ls_err_set(err, LS_TAMPERED, "%s: %s", path, err ? err->msg : "");
			break;
		}
		v[n].size = cp.size;
		memcpy(v[n].root, cp.root, LS_HASH_LEN);
		n++;
	}
	for (i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc == LS_OK)
		rc = cpindex_write_all(dir, k, v, n, err);
	ls_wipe(k, sizeof(k));
	free(v);
	*count = n;
	return rc;
}

/* `logseal keys seal-config`: the migration to sealed files (cfgseal.h). */
static int keys_seal_config(const char *dir)
{
	struct ls_err err = { "" };
	char path[PATH_MAX];
	size_t ncp = 0;
	ls_rc rc;

	cfgseal_set_adopt(1);
	rc = keys_seal_master(dir, &err);
	if (rc == LS_OK)
		printf("sealed %s/keys/master.json\n", dir);
	else if (rc != LS_NOTFOUND)
		return cli_die("keys", err.msg);
	for (size_t i = 0; i < cfgseal_nfiles; i++) {
		char *text = NULL;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, cfgseal_files[i].rel);
		rc = cfgseal_read_file(dir, cfgseal_files[i].purpose, path, 64u << 20, &text, &len,
				       &err);
		if (rc == LS_NOTFOUND)
			continue;
		if (rc == LS_OK)
			rc = cfgseal_write_file(dir, cfgseal_files[i].purpose, path, text, len, 0600,
						&err);
		free(text);
		if (rc != LS_OK)
			return cli_die("keys", err.msg);
		printf("sealed %s\n", path);
	}
	rc = build_cpindex(dir, &ncp, &err);
	if (rc != LS_OK)
		return cli_die("keys", err.msg);
	if (ncp)
		printf("recorded %zu signed checkpoints in %s/" CPINDEX_FILE "\n", ncp, dir);
	return 0;
}

/* Offline rotation: the new segment, then its event (as the server logs an
 * online one), the first entry sealed under the new key.  The key ids
 * are the journal's, before and after. */
static ls_rc keys_rotated_event(struct log *l, int rewrapped, struct ls_err *err)
{
	struct event_ctx ctx = { 0 };
	struct event_item it;
	struct timespec now;
	struct iovec iov;
	uint32_t old_id = 0, new_id = 0;
	uint64_t first;
	json_t *d;
	ls_rc rc;

	rc = log_rotate_key_ids(l, &old_id, &new_id, err);
	if (rc != LS_OK)
		return rc;
	clock_gettime(CLOCK_REALTIME, &now);
	ctx.received_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	d = json_pack("{s:I,s:I,s:s,s:b}", "key_id", (json_int_t)new_id, "previous_key_id",
		      (json_int_t)old_id, "by", "logseal keys rotate (offline)", "master_key_rewrapped",
		      rewrapped != 0);
	if (!d)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = event_internal("logseal.keys.rotate", "logseal", NULL, "success", d, &ctx, &it);
	json_decref(d);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot build the logseal.keys.rotate event");
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(l, &iov, 1, &first, err);
	event_item_release(&it);
	return rc;
}

/* The online half of `logseal keys rotate`: when the server holds the
 * journal (its lock is taken), the CLI asks it to rotate over the admin API
 * (POST /v1/keys/rotate, api_keys.c), so that the rotation runs in the
 * server's sequencer and is logged with the admin token as its actor: with
 * the admin token (token_file, else DIR/admin.token, else $LOGSEAL_TOKEN) at
 * server (NULL: $LOGSEAL_URL, else the default).  Exit status. */
static int keys_rotate_online(const char *dir, const char *server, const char *token_file,
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

int cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "new-master-key-file", required_argument, 0, 'f' },
		{ "new-master-key-env", no_argument, 0, 'e' },
		{ "new-master-key-command", required_argument, 0, 'c' },
		{ "server", required_argument, 0, 'S' },
		{ "token-file", required_argument, 0, 'T' },
		{ "cacert", required_argument, 0, 'C' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL, *sub, *server = NULL, *token_file = NULL, *cacert = NULL;
	struct keys_source src = { 0, NULL };
	char mkpath[PATH_MAX];
	struct ls_err err = { "" };
	struct log_opts lo;
	struct log *l = NULL;
	struct keyring *kr;
	int c, nsrc = 0;
	ls_rc rc;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && !strcmp(argv[1], "--help")) {
			fputs(usage_keys, stdout);
			return 0;
		}
		fputs(usage_keys, stderr);
		return 2;
	}
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': src.kind = KEYS_SRC_FILE; src.arg = optarg; nsrc++; break;
		case 'e': src.kind = KEYS_SRC_ENV; src.arg = "LOGSEAL_NEW_MASTER_KEY"; nsrc++; break;
		case 'c': src.kind = KEYS_SRC_COMMAND; src.arg = optarg; nsrc++; break;
		case 'S': server = optarg; break;
		case 'T': token_file = optarg; break;
		case 'C': cacert = optarg; break;
		case 'h': fputs(usage_keys, stdout); return 0;
		default: fputs(usage_keys, stderr); return 2;
		}
	}
	if (!dir || optind != argc || nsrc > 1 ||
	    (strcmp(sub, "rotate") != 0 && strcmp(sub, "status") != 0 &&
	     strcmp(sub, "seal-config") != 0 && strcmp(sub, "bundle-key") != 0) ||
	    (nsrc && strcmp(sub, "rotate") != 0)) {
		fputs(usage_keys, stderr);
		return 2;
	}
	if (src.kind == KEYS_SRC_FILE) {
		char cwd[PATH_MAX];

		if (src.arg[0] != '/' && getcwd(cwd, sizeof(cwd)))
			snprintf(mkpath, sizeof(mkpath), "%s/%s", cwd, src.arg);
		else
			snprintf(mkpath, sizeof(mkpath), "%s", src.arg);
		src.arg = mkpath;
	}
	if (!strcmp(sub, "seal-config"))
		return keys_seal_config(dir);
	if (!strcmp(sub, "bundle-key")) {
		uint8_t bk[BUNDLEKEY_LEN];
		char b64[LS_B64_LEN(BUNDLEKEY_LEN) + 1];

		rc = bundlekey_get(dir, bk, &err);
		if (rc == LS_NOTFOUND)
			return cli_die("keys", "this log is not encrypted (it was made with "
					   "--no-encryption): its bundles go to the bucket as they are");
		if (rc != LS_OK)
			return cli_die("keys", err.msg);
		ls_b64_encode(bk, sizeof(bk), b64, sizeof(b64));
		ls_wipe(bk, sizeof(bk));
		printf("%s\n", b64);
		ls_wipe(b64, sizeof(b64));
		return 0;
	}
	if (!strcmp(sub, "status")) {
		/* Reads keys/ only (no journal lock): also beside a running
		 * server, whose new data keys are durable in datakeys.json
		 * before they are used. */
		uint8_t k[KEYS_KEY_LEN];
		uint32_t id = 0;

		rc = keys_get(dir, &kr, &err);
		if (rc == LS_NOTFOUND)
			return cli_die("keys", "this log is not encrypted (it was made with "
					   "--no-encryption)");
		if (rc == LS_OK)
			rc = keys_current(kr, &id, k, &err);
		ls_wipe(k, sizeof(k));
		if (rc != LS_OK)
			return cli_die("keys", err.msg);
		printf("master key:  %s (checked)\n", keys_source_desc(kr));
		printf("data keys:   %zu\n", keys_count(kr));
		printf("newest:      data key %u (new segments are sealed with it)\n", id);
		return 0;
	}
	/* The open log holds the journal's lock for the whole rotation and
	 * has checked the current master key. */
	memset(&lo, 0, sizeof(lo));
	lo.dir = dir;
	lo.no_threads = 1;
	rc = log_open(&lo, &l, NULL, &err);
	if (rc == LS_BUSY && !nsrc)
		return keys_rotate_online(dir, server, token_file, cacert);
	if (rc == LS_BUSY)
		return cli_die("keys", "the server is running: re-wrapping the data keys under a new "
				   "master key needs it stopped (a new data key alone works online: "
				   "`logseal keys rotate --data DIR`)");
	if (rc != LS_OK)
		return cli_die("keys", err.msg);
	rc = keys_get(dir, &kr, &err);
	if (rc == LS_NOTFOUND) {
		log_close(l, NULL);
		return cli_die("keys", "this log is not encrypted (it was made with --no-encryption)");
	}
	if (rc == LS_OK && !strcmp(sub, "rotate")) {
		if (nsrc) {
			rc = keys_rewrap(dir, &src, src.kind == KEYS_SRC_FILE, &err);
			if (rc == LS_OK)
				printf("re-wrapped %zu data keys under the master key from %s\n",
				       keys_count(kr), keys_source_desc(kr));
		}
		if (rc == LS_OK)
			rc = keys_rotated_event(l, nsrc, &err);
		if (rc == LS_OK)
			printf("new events will be written under a new data key (%zu data keys)\n",
			       keys_count(kr));
	}
	if (rc != LS_OK) {
		log_close(l, NULL);
		return cli_die("keys", err.msg);
	}
	rc = log_close(l, &err);
	if (rc != LS_OK)
		return cli_die("keys", err.msg);
	return 0;
}
