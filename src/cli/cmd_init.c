/*
 * cmd_init.c - `logseal init`: a new, empty log in a data directory (keys,
 * admin token, the signed checkpoint of the empty tree, and optionally a
 * self-signed TLS certificate).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "store/keys.h"
#include "store/log.h"
#include "server/auth.h"
#include "server/serve.h"
#include "server/tlscert.h"
#include "followers/upload.h"
#include "store/objstore.h"

/* ---------------------------------------------------------------- init --- */

static const char usage_init[] =
	"usage: logseal init --data DIR [--origin NAME] [--self-signed]\n"
	"                    [--master-key-file PATH | --master-key-env |\n"
	"                     --master-key-command CMD | --no-encryption]\n"
	"                    [--object-store s3://BUCKET/PREFIX [--object-store-endpoint URL]\n"
	"                     [--object-store-region R] [--object-store-path-style]\n"
	"                     [--object-lock-days N] [--object-store-backlog BYTES]]\n"
	"\n"
	"Creates a new, empty log in DIR: the signing key (DIR/keys/log.key, mode\n"
	"0600), the verifier key (DIR/verifier.key), an admin token\n"
	"(DIR/admin.token, mode 0600), and a signed checkpoint of the empty tree\n"
	"(DIR/log/checkpoint).  Refuses to touch a directory that holds a log.\n"
	"\n"
	"Events are encrypted at rest (AES-256-GCM) under data keys wrapped by a\n"
	"master key kept apart from the data.  By default init creates the master\n"
	"key file DIR.master.key (mode 0600) beside DIR; DIR/keys/master.json\n"
	"records where the key comes from, never the key.\n"
	"\n"
	"  --master-key-file PATH     the master key file (created when missing)\n"
	"  --master-key-env           the master key is in $LOGSEAL_MASTER_KEY\n"
	"                             (base64 of 32 bytes) whenever the log is used\n"
	"  --master-key-command CMD   run CMD to print the master key in base64:\n"
	"                             the hook for a KMS or a vault.  CMD is a\n"
	"                             program and its arguments, run without a\n"
	"                             shell: words split at blanks, '...' and\n"
	"                             \"...\" group, \\ escapes; no $, ;, |, >\n"
	"  --no-encryption            store events in plaintext (benchmarks)\n"
	"  --data DIR      data directory (created if missing)\n"
	"  --origin NAME   the log's origin line and key name (default:\n"
	"                  <hostname>/logseal)\n"
	"  --self-signed   also create a self-signed TLS certificate for trying\n"
	"                  out HTTPS: DIR/tls/cert.pem and DIR/tls/key.pem\n"
	"  --object-store s3://BUCKET/PREFIX  the bucket (with Object Lock) that `serve`\n"
	"                  keeps a write-once copy of the log in, saved in\n"
	"                  DIR/objstore.json (never credentials; see `serve --help` for\n"
	"                  the other --object-* options and docs/OBJECT-STORE.md)\n";

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "origin", required_argument, 0, 'o' },
		{ "self-signed", no_argument, 0, 's' },
		{ "master-key-file", required_argument, 0, 'f' },
		{ "master-key-env", no_argument, 0, 'e' },
		{ "master-key-command", required_argument, 0, 'c' },
		{ "no-encryption", no_argument, 0, 'n' },
		{ "object-store", required_argument, 0, 0x0b00 },
		{ "object-store-endpoint", required_argument, 0, 0x0b01 },
		{ "object-store-region", required_argument, 0, 0x0b02 },
		{ "object-store-path-style", no_argument, 0, 0x0b03 },
		{ "object-lock-days", required_argument, 0, 0x0b04 },
		{ "object-store-backlog", required_argument, 0, 0x0b05 },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL, *origin = NULL;
	char host[256], def_origin[300], path[PATH_MAX], key[PATH_MAX], mkpath[PATH_MAX];
	int selfsigned = 0, c, nsrc = 0, noenc = 0, defkey = 0;
	struct keys_source src = { KEYS_SRC_FILE, NULL };
	struct ls_err err = { "" };
	struct upload_cfg uc;
	const char *os_url = NULL;
	uint64_t v;
	ls_rc rc;

	memset(&uc, 0, sizeof(uc));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'o': origin = optarg; break;
		case 's': selfsigned = 1; break;
		case 'f': src.kind = KEYS_SRC_FILE; src.arg = optarg; nsrc++; break;
		case 'e': src.kind = KEYS_SRC_ENV; src.arg = NULL; nsrc++; break;
		case 'c': src.kind = KEYS_SRC_COMMAND; src.arg = optarg; nsrc++; break;
		case 'n': noenc = 1; nsrc++; break;
		case 0x0b00: os_url = optarg; break;
		case 0x0b01: snprintf(uc.endpoint, sizeof(uc.endpoint), "%s", optarg); break;
		case 0x0b02: snprintf(uc.region, sizeof(uc.region), "%s", optarg); break;
		case 0x0b03: uc.path_style = 1; break;
		case 0x0b04:
		case 0x0b05:
			if (!ls_parse_u64(optarg, 1, c == 0x0b04 ? 36500 : UINT64_MAX, &v)) {
				fputs(usage_init, stderr);
				return 2;
			}
			if (c == 0x0b04)
				uc.lock_days = v;
			else
				uc.backlog_bytes = v;
			break;
		case 'h': fputs(usage_init, stdout); return 0;
		default: fputs(usage_init, stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		fputs(usage_init, stderr);
		return 2;
	}
	if (!origin) {
		if (gethostname(host, sizeof(host)) != 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = 0;
		snprintf(def_origin, sizeof(def_origin), "%s/logseal", host);
		origin = def_origin;
	}
	if (os_url) {
		struct objstore_url pu;

		if (objstore_parse_url(os_url, &pu, &err) != LS_OK)
			return cli_die("init", err.msg);
		if (!pu.s3)
			return cli_die("init", "--object-store: uploads need an s3://BUCKET/PREFIX URL");
		snprintf(uc.url, sizeof(uc.url), "%s", os_url);
	}
	if (nsrc > 1)
		return cli_die("init", "give at most one of --master-key-file, --master-key-env, "
			   "--master-key-command, --no-encryption");
	if (!noenc) {
		if (!src.arg && src.kind == KEYS_SRC_FILE) {
			size_t n = strlen(dir);

			while (n > 1 && dir[n - 1] == '/')
				n--;
			snprintf(key, sizeof(key), "%.*s.master.key", (int)n, dir);
			src.arg = key;
			defkey = 1;
		}
		/* master.json names the file by an absolute path: the server may
		 * start from another working directory. */
		if (src.kind == KEYS_SRC_FILE && src.arg[0] != '/') {
			char cwd[PATH_MAX];

			if (!getcwd(cwd, sizeof(cwd)))
				return cli_die("init", "cannot get the working directory");
			snprintf(mkpath, sizeof(mkpath), "%s/%s", cwd, src.arg);
			src.arg = mkpath;
		} else if (src.kind == KEYS_SRC_FILE) {
			snprintf(mkpath, sizeof(mkpath), "%s", src.arg);
			src.arg = mkpath;
		}
		rc = keys_init(dir, &src, src.kind == KEYS_SRC_FILE, &err);
		if (rc != LS_OK)
			return cli_die("init", err.msg);
	}
	rc = log_init(dir, origin, &err);
	if (rc != LS_OK)
		return cli_die("init", err.msg);
	rc = auth_bootstrap(dir, &err);
	if (rc != LS_OK)
		return cli_die("init", err.msg);
	if (os_url && (rc = upload_cfg_save(dir, &uc, &err)) != LS_OK)
		return cli_die("init", err.msg);
	if (selfsigned) {
		snprintf(path, sizeof(path), "%s/tls", dir);
		if (fs_mkdirs(path, 0700, &err) != LS_OK)
			return cli_die("init", err.msg);
		snprintf(path, sizeof(path), "%s/tls/cert.pem", dir);
		snprintf(key, sizeof(key), "%s/tls/key.pem", dir);
		rc = tls_make_selfsigned(path, key, "localhost", &err);
		if (rc != LS_OK)
			return cli_die("init", err.msg);
	}
	printf("initialised a new log in %s\n", dir);
	printf("  origin:        %s\n", origin);
	printf("  verifier key:  %s/verifier.key\n", dir);
	printf("  admin token:   %s/admin.token (mode 0600; keep it secret)\n", dir);
	printf("  signing key:   %s/keys/log.key (mode 0600; back it up apart from the data)\n", dir);
	if (noenc)
		printf("  encryption:    off (events are stored in plaintext)\n");
	else if (src.kind == KEYS_SRC_FILE)
		printf("  master key:    %s (mode 0600%s)\n"
		       "                 keep it apart from the data and its backups: whoever\n"
		       "                 holds both can read every event; without it nobody can\n",
		       src.arg, defkey ? ", created beside the data directory" : "");
	else if (src.kind == KEYS_SRC_ENV)
		printf("  master key:    from $%s whenever the log is used\n", KEYS_ENV);
	else
		printf("  master key:    from the command `%s` whenever the log is used\n", src.arg);
	if (os_url)
		printf("  object store:  %s (DIR/objstore.json; credentials from the environment)\n",
		       os_url);
	if (selfsigned)
		printf("  TLS:           %s/tls/cert.pem, %s/tls/key.pem (self-signed, for trials)\n",
		       dir, dir);
	return 0;
}
