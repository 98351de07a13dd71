/*
 * cmd_witness.c - `logseal witness init|vkey|serve`: run a C2SP tlog-witness
 * (server/witness.h) for logs the operator lists with --log ORIGIN=VKEY or
 * in a file (--logs FILE: one ORIGIN=VKEY a line, '#' comments), over
 * HTTPS with --tls-cert/--tls-key (plain HTTP only on loopback unless
 * --insecure-plaintext, as for `logseal serve`).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "cli/cli.h"
#include "server/witness.h"

#define TLS_FILE_MAX (1u << 20)

static void usage(FILE *f)
{
	fputs("usage: logseal witness init --data WDIR --name NAME\n"
	      "       logseal witness vkey --data WDIR\n"
	      "       logseal witness serve --data WDIR [--listen HOST:PORT]\n"
	      "                             (--log ORIGIN=VKEY ... | --logs FILE)\n"
	      "                             [--tls-cert FILE --tls-key FILE] [limits]\n"
	      "\n"
	      "init makes WDIR and the witness's own Ed25519 key (cosignature/v1, C2SP\n"
	      "tlog-cosignature) and prints its verifier key: give it to the logs' operators.\n"
	      "serve answers POST /add-checkpoint (C2SP tlog-witness) for the listed logs and\n"
	      "GET /<sha256-hex of origin>/checkpoint with the latest checkpoint it cosigned.\n"
	      "  --listen HOST:PORT   default 127.0.0.1:8090 (port 0: any free one)\n"
	      "  --log ORIGIN=VKEY    a log's origin line and its verifier key (repeatable;\n"
	      "                       several keys for one origin: repeat the origin)\n"
	      "  --logs FILE          the same, one a line\n"
	      "  --tls-cert FILE      PEM certificate (chain) for HTTPS (TLS 1.2 and 1.3)\n"
	      "  --tls-key FILE       PEM private key for HTTPS (mode 0600)\n"
	      "  --insecure-plaintext allow plain HTTP on a non-loopback address\n"
	      "  --rate-limit R       add-checkpoint requests a second per client (IPv4\n"
	      "                       address, IPv6 /64) before 429 + Retry-After\n"
	      "                       (default 10; 0: no limit)\n"
	      "  --rate-burst N       requests a client may send at once (default 20)\n"
	      "  --max-connections N  connections in all (default 256)\n"
	      "  --max-connections-per-ip N  from one address (default 32)\n"
	      "  --timeout SECONDS    idle connection timeout (default 30)\n"
	      "Refusals are logged on stderr and in WDIR/evidence/ (see docs/WITNESS.md).\n",
	      f);
}

/* 1 when the host part of HOST:PORT is a loopback address or localhost. */
static int listen_loopback(const char *listen)
{
	char host[256];
	const char *end;
	unsigned char a[16];
	size_t n;

	if (listen[0] == '[') {
		end = strchr(listen, ']');
		listen++;
	} else {
		end = strrchr(listen, ':');
	}
	if (!end || (size_t)(end - listen) >= sizeof(host))
		return 0;
	n = (size_t)(end - listen);
	memcpy(host, listen, n);
	host[n] = 0;
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
	return 0;
}

/* The certificate and key as PEM text; the key must be its owner's only
 * (like the main server: a key others can read is no longer private). */
static int read_tls(const char *cert, const char *key, char **cpem, char **kpem)
{
	struct ls_err err = { { 0 } };
	struct stat st;
	size_t len;

	if (stat(key, &st) != 0) {
		fprintf(stderr, "logseal witness serve: %s: %s\n", key, strerror(errno));
		return 1;
	}
	if (st.st_mode & 077) {
		fprintf(stderr,
			"logseal witness serve: the TLS key %s is accessible to others (mode %04o): "
			"refusing to use it (chmod 600 %s)\n",
			key, (unsigned)(st.st_mode & 07777), key);
		return 1;
	}
	if (fs_read_file(cert, TLS_FILE_MAX, cpem, &len, &err) != LS_OK ||
	    fs_read_file(key, TLS_FILE_MAX, kpem, &len, &err) != LS_OK) {
		fprintf(stderr, "logseal witness serve: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int add_log(struct witness_log_cfg **logs, size_t *n, const char *s)
{
	struct witness_log_cfg *nl = realloc(*logs, (*n + 1) * sizeof(**logs));
	struct ls_err err = { { 0 } };

	if (!nl)
		return cli_die("witness", "out of memory");
	*logs = nl;
	if (witness_log_cfg_parse(s, &nl[*n], &err) != LS_OK) {
		fprintf(stderr, "logseal witness: %s\n", err.msg);
		return 2;
	}
	(*n)++;
	return 0;
}

static int read_logs(struct witness_log_cfg **logs, size_t *n, const char *path)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		fprintf(stderr, "logseal witness: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == 0)
			continue;
		rc = add_log(logs, n, p);
	}
	fclose(f);
	return rc;
}

int cmd_witness(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "listen", required_argument, NULL, 'l' },
		{ "log", required_argument, NULL, 'L' },
		{ "logs", required_argument, NULL, 'F' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "insecure-plaintext", no_argument, NULL, 'I' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "rate-burst", required_argument, NULL, 'b' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "max-connections-per-ip", required_argument, NULL, 'M' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub, *dir = NULL, *name = NULL, *cert = NULL, *key = NULL;
	struct witness_http_opts ho = { .listen = "127.0.0.1:8090", .rate = WITNESS_RATE,
					.burst = WITNESS_BURST };
	char *cpem = NULL, *kpem = NULL, *end;
	int insecure = 0;
	uint64_t v;
	struct witness_log_cfg *logs = NULL;
	struct ls_err err = { { 0 } };
	struct witness *w = NULL;
	struct witness_http *h = NULL;
	size_t nlogs = 0;
	char vkey[1024];
	unsigned port = 0;
	sigset_t set;
	int c, rc = 0, sig = 0;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n': name = optarg; break;
		case 'l': ho.listen = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'I': insecure = 1; break;
		case 'r':
			errno = 0;
			ho.rate = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(ho.rate) || ho.rate < 0 ||
			    ho.rate > 1e6)
				rc = cli_die("witness", "--rate-limit wants a number from 0 to 1000000");
			break;
		case 'b':
		case 'm':
		case 'M':
		case 't':
			if (!ls_parse_u64(optarg, 1, 1000000, &v))
				rc = cli_die("witness", "--rate-burst, --max-connections, "
					     "--max-connections-per-ip and --timeout want an "
					     "integer from 1 to 1000000");
			else if (c == 'b')
				ho.burst = (unsigned)v;
			else if (c == 'm')
				ho.max_conns = (unsigned)v;
			else if (c == 'M')
				ho.max_conns_per_ip = (unsigned)v;
			else
				ho.timeout_s = (unsigned)v;
			break;
		case 'L': rc = add_log(&logs, &nlogs, optarg); break;
		case 'F': rc = read_logs(&logs, &nlogs, optarg); break;
		case 'h': usage(stdout); free(logs); return 0;
		default: usage(stderr); free(logs); return 2;
		}
		if (rc) {
			free(logs);
			return rc;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		free(logs);
		return 2;
	}
	if (strcmp(sub, "init") == 0) {
		free(logs);
		if (!name) {
			usage(stderr);
			return 2;
		}
		if (witness_init(dir, name, vkey, sizeof(vkey), &err) != LS_OK)
			return cli_die("witness init", err.msg);
		printf("%s\n", vkey);
		return 0;
	}
	if (strcmp(sub, "vkey") == 0) {
		free(logs);
		if (witness_open(dir, NULL, 0, &w, &err) != LS_OK)
			return cli_die("witness vkey", err.msg);
		witness_vkey(w, vkey, sizeof(vkey));
		printf("%s\n", vkey);
		witness_close(w);
		return 0;
	}
	if (strcmp(sub, "serve") != 0) {
		free(logs);
		usage(stderr);
		return 2;
	}
	if (!nlogs) {
		free(logs);
		fprintf(stderr, "logseal witness serve: no log to witness (--log ORIGIN=VKEY)\n");
		return 2;
	}
	if (!cert != !key) {
		free(logs);
		fprintf(stderr, "logseal witness serve: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (!cert && !insecure && !listen_loopback(ho.listen)) {
		free(logs);
		fprintf(stderr,
			"logseal witness serve: refusing plain HTTP on %s, which is not a loopback "
			"address: give --tls-cert and --tls-key (or, behind a TLS proxy on a trusted "
			"network, --insecure-plaintext)\n", ho.listen);
		return 2;
	}
	if (cert && read_tls(cert, key, &cpem, &kpem)) {
		free(logs);
		free(cpem);
		free(kpem);
		return 1;
	}
	ho.tls_cert = cpem;
	ho.tls_key = kpem;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (witness_open(dir, logs, nlogs, &w, &err) != LS_OK) {
		free(logs);
		free(cpem);
		if (kpem)
			ls_wipe(kpem, strlen(kpem));
		free(kpem);
		return cli_die("witness serve", err.msg);
	}
	free(logs);
	rc = witness_http_start(w, &ho, &h, &port, &err) != LS_OK;
	if (kpem)
		ls_wipe(kpem, strlen(kpem));	/* the daemon keeps its own copy */
	free(kpem);
	free(cpem);
	if (rc) {
		witness_close(w);
		return cli_die("witness serve", err.msg);
	}
	witness_vkey(w, vkey, sizeof(vkey));
	printf("logseal witness: %s\n", vkey);
	printf("logseal witness: %zu log(s), listening on %s://%.*s:%u\n", nlogs,
	       cert ? "https" : "http", (int)(strrchr(ho.listen, ':') - ho.listen), ho.listen,
	       port);
	if (ho.rate > 0)
		printf("logseal witness: add-checkpoint limited to %g a second per client "
		       "(burst %u)\n", ho.rate, ho.burst);
	if (!cert && insecure && !listen_loopback(ho.listen))
		fprintf(stderr, "logseal witness: WARNING: plain HTTP on %s, which is not a "
			"loopback address (--insecure-plaintext)\n", ho.listen);
	fflush(stdout);
	sigwait(&set, &sig);
	printf("logseal witness: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	fflush(stdout);
	witness_http_stop(h);
	witness_close(w);
	return 0;
}
