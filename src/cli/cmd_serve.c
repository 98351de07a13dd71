/*
 * cmd_serve.c - `logseal serve`: its options (every long option and its
 * option code), the checks of the listening address, and what it prints
 * while the server (server/serve.h) opens, runs until SIGTERM or SIGINT,
 * and stops.  Messages go to stderr as "logseal serve: ...", the progress
 * of the start and the stop to stdout as "logseal: ...".
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "followers/webhook.h"
#include "server/serve.h"
#include "store/tier.h"

static void usage(FILE *f)
{
	struct serve_opts d;

	serve_opts_init(&d);
	fprintf(f,
		"usage: logseal serve [--data DIR] [--listen HOST:PORT] [options]\n"
		"\n"
		"  --data DIR               data directory made by `logseal init` (default ./data)\n"
		"  --listen HOST:PORT       address to listen on (default 127.0.0.1:8080;\n"
		"                           IPv6 as [::1]:8080)\n"
		"  --tls-cert FILE          PEM certificate (chain) for HTTPS\n"
		"  --tls-key FILE           PEM private key for HTTPS\n"
		"  --insecure-plaintext     allow plain HTTP on a non-loopback address (NOT for\n"
		"                           production: tokens and events travel unencrypted)\n"
		"  --threads N              HTTP worker threads (default: 4 per CPU, >= 16, <= 64)\n"
		"  --checkpoint-interval MS sign a checkpoint once the oldest unsigned entry is\n"
		"                           MS ms old (default 500)\n"
		"  --max-unsigned N         acknowledge no more while N entries, or\n"
		"  --max-unsigned-ms MS     an entry MS ms old, wait for a signed checkpoint\n"
		"                           (default 65536; 1000, or twice the interval)\n"
		"  --segment-leaves N       entries per sealed segment, a multiple of 256 from\n"
		"                           256 to 16777216 (default 65536)\n"
		"  --max-body BYTES         largest request body (default %zu)\n"
		"  --max-body-memory BYTES  request bodies held at once, all connections together\n"
		"                           (default 256 MiB, or 2 x --max-body if more); a body\n"
		"                           that does not fit is refused with 503 and Retry-After\n"
		"  --max-connections N      connections in all (default 1024)\n"
		"  --max-connections-per-ip N  connections from one address (default 256)\n"
		"  --timeout SECONDS        idle connection timeout (default 30)\n"
		"  --max-streams N          concurrent live streams, GET /v1/stream (default 64)\n"
		"  --stream-buffer N        a live stream more than N entries behind the log is\n"
		"                           cut with an overflow message (default 65536)\n"
		"  --stream-heartbeat S     keepalive comment after S idle seconds (default 15)\n"
		"  --ready-max-lag N        /readyz fails while the index is N entries behind\n"
		"                           (default %llu)\n"
		"  --max-search-lag N       ingest waits while more than N accepted entries are not\n"
		"                           yet searchable (default %llu; 0: never wait)\n"
		"  --no-alerts              do not run the alert engine (alert routes answer 503)\n"
		"  --session-idle S         a dashboard session ends after S idle seconds\n"
		"                           (default 900; 12 h at most in all)\n"
		"  --denial-window S        refused requests (401/403) are accounted per source\n"
		"                           (IPv4 address, IPv6 /64) in windows of S s (default 10)\n"
		"  --denial-burst N         the first N refusals of a source in a window are logged\n"
		"                           one by one, the rest counted into one summary event\n"
		"                           per window (default 10)\n"
		"  --denial-throttle N      past N refusals in a window a source gets 429\n"
		"                           (default 1000; 0: never)\n"
		"  --webhook-allow-private CIDR[,CIDR...]\n"
		"                           let webhooks reach these loopback, private or\n"
		"                           link-local networks (refused by default: SSRF)\n"
		"  --idem-window SECONDS    remember idempotency keys for events received in the\n"
		"                           last SECONDS (default %llu; 0: no time bound)\n"
		"  --idem-max-keys N        remember at most N keys, oldest forgotten first\n"
		"                           (default %llu; 0: no cap)\n"
		"  --idem-snapshot-interval S  save the keys to DIR/state/idem.snap every S\n"
		"                           seconds while the log grows, and at the stop\n"
		"                           (default %llu; 0: only at the stop)\n"
		"  --signing-key pkcs11:URI  sign with a key in a PKCS#11 token, not\n"
		"                           DIR/keys/log.key (docs/KEYS.md)\n"
		"  --sign-command CMD       sign by running CMD (no shell): the text on its\n"
		"                           stdin, the signature on its stdout (docs/KEYS.md)\n"
		"  --verifier-key FILE      the external signer's public key (a verifier key\n"
		"                           or a PEM file); must match DIR/verifier.key\n"
		"  --witness URL=VKEY       ask this witness (C2SP tlog-witness) to cosign every\n"
		"                           new checkpoint; VKEY its cosignature/v1 key\n"
		"                           (repeatable, up to 16)\n"
		"  --witness-quorum K       the policy: K of the witnesses (default all)\n"
		"  --witness-interval-ms MS at most one request per witness per MS (default 1000)\n"
		"  --witness-alert-s S      the policy unmet for over S s: the event\n"
		"                           logseal.witness.quorum_lost (default 300)\n"
		"  --witness-cacert FILE    CA certificate(s) to verify https witnesses (default:\n"
		"                           the system's CA store)\n"
		"  --object-store s3://BUCKET/PREFIX  keep a complete, write-once copy of the log\n"
		"                           in an S3 bucket with Object Lock (docs/OBJECT-STORE.md);\n"
		"                           saved in DIR/objstore.json, used from then on.\n"
		"                           Credentials as AWS tools take them (AWS_ACCESS_KEY_ID...)\n"
		"  --object-store-endpoint URL  S3 endpoint (default AWS_ENDPOINT_URL, else AWS)\n"
		"  --object-store-region R  region (default AWS_REGION, else us-east-1)\n"
		"  --object-store-path-style  ENDPOINT/BUCKET/KEY addressing (RGW, MinIO)\n"
		"  --object-lock-days N     COMPLIANCE retention of write-once objects (default:\n"
		"                           the longest hot_days + archive_days of the retention\n"
		"                           policy, else 365)\n"
		"  --object-store-backlog BYTES  past this much not yet uploaded, ingest answers\n"
		"                           503 with Retry-After (default 1 GiB)\n"
		"  --object-cache-bytes N   local cache of segments read back from the bucket\n"
		"                           after retention moved them (default 1 GiB)\n"
		"  --cluster CONNINFO       cluster mode: sequence through this PostgreSQL database\n"
		"                           (libpq string or URI; several hosts with\n"
		"                           target_session_attrs=read-write), every node a replica\n"
		"                           of the log (docs/CLUSTER.md)\n"
		"  --node NAME              this node's name in the cluster (default HOST:PORT)\n"
		"  --cluster-liveness S     a node not seen for S seconds no longer holds back the\n"
		"                           pruning of the database's old batches (default 600,\n"
		"                           at least 5; 0: never prune them); idempotency keys are\n"
		"                           pruned after --idem-window\n"
		"  --redact KEY[,KEY...]    also redact details members named KEY (any case; also\n"
		"                           ..._KEY, ...-KEY, ....KEY) before hashing; defaults:\n"
		"                           password passwd secret token authorization api_key\n"
		"                           apikey (docs/SCHEMA.md)\n"
		"  --redact-pointer PTR     also redact this JSON pointer: /reason or /details/...\n"
		"                           (repeatable)\n"
		"  --no-default-redaction   do not redact the default names\n"
		"  --max-future-skew S      refuse events whose time is more than S seconds after\n"
		"                           their arrival (default 300; 0: no limit)\n"
		"  --flag-past-skew S       mark events whose time is more than S seconds before\n"
		"                           their arrival \"time_skew\":true (default 0: never)\n"
		"  --relp HOST:PORT         also take syslog over RELP (rsyslog omrelp), TLS with\n"
		"                           --tls-cert/--tls-key, plain TCP only on loopback;\n"
		"                           answered 200 once durable (docs/SHIPPERS.md)\n"
		"  --syslog-tls HOST:PORT   also take RFC 5425 syslog over TLS (octet counting)\n"
		"  --syslog-token-file FILE the writer token both listeners write as (its\n"
		"                           service binding applies)\n"
		"  --syslog-sd-id ID        SD-ID whose params map to event fields\n"
		"                           (default " SYSLOG_DEFAULT_SD_ID ")\n"
		"  --syslog-default-outcome O  outcome of a message without one (default\n"
		"                           unknown; none: refuse it)\n"
		"  --syslog-default-actor ID  actor.id of a message without one (default: refuse)\n"
		"  --syslog-default-action A  action without one and without MSGID (default: refuse)\n"
		"  --syslog-id hash|none    a message without id gets \"syslog:\" + SHA-256 of its\n"
		"                           bytes, so a resend is one event (default hash)\n"
		"  --help                   this text\n"
		"\n"
		"Testing only: the environment variable " SERVE_TEST_CLOCK_ENV "=FILE shifts the\n"
		"alert engine's clock by the number of seconds in FILE (re-read at every use),\n"
		"so tests can make absence rules fire without waiting.\n",
		d.max_body, (unsigned long long)d.ready_max_lag,
		(unsigned long long)d.max_fresh_lag, (unsigned long long)d.idem_window_s,
		(unsigned long long)d.idem_max_keys, (unsigned long long)d.idem_snapshot_s);
}

/* The redaction and event-time options (0x7e0..0x7e4) into p; -1 said. */
static int policy_option(int c, const char *arg, struct event_policy *p)
{
	struct ls_err err = { { 0 } };
	uint64_t v;

	switch (c) {
	case 0x7e0: {
		char buf[1024], *s, *save = NULL;

		snprintf(buf, sizeof(buf), "%s", arg);
		for (s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save))
			if (event_policy_add_key(p, s, &err) != LS_OK)
				goto bad;
		return 0;
	}
	case 0x7e1:
		if (event_policy_add_pointer(p, arg, &err) != LS_OK)
			goto bad;
		return 0;
	case 0x7e2:
		event_policy_drop_defaults(p);
		return 0;
	default:
		if (!ls_parse_u64(arg, 0, 100ull * 365 * 86400, &v)) {
			fprintf(stderr, "logseal serve: bad number of seconds: %s\n", arg);
			return -1;
		}
		if (c == 0x7e3)
			p->max_future_us = (int64_t)v * 1000000;
		else
			p->flag_past_us = (int64_t)v * 1000000;
		return 0;
	}
bad:
	fprintf(stderr, "logseal serve: %s\n", err.msg);
	return -1;
}

static int parse_args(int argc, char **argv, struct serve_opts *o)
{
	static const struct option longs[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "insecure-plaintext", no_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 't' },
		{ "checkpoint-interval", required_argument, NULL, 'i' },
		{ "max-unsigned", required_argument, NULL, 'U' },
		{ "max-unsigned-ms", required_argument, NULL, 'W' },
		{ "segment-leaves", required_argument, NULL, 1005 },
		{ "max-body", required_argument, NULL, 'b' },
		{ "max-body-memory", required_argument, NULL, 'M' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "max-connections-per-ip", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "max-streams", required_argument, NULL, 'S' },
		{ "stream-buffer", required_argument, NULL, 'B' },
		{ "stream-heartbeat", required_argument, NULL, 'H' },
		{ "ready-max-lag", required_argument, NULL, 'R' },
		{ "max-search-lag", required_argument, NULL, 'F' },
		{ "no-alerts", no_argument, NULL, 'A' },
		{ "denial-window", required_argument, NULL, 1001 },
		{ "denial-burst", required_argument, NULL, 1002 },
		{ "denial-throttle", required_argument, NULL, 1003 },
		{ "webhook-allow-private", required_argument, NULL, 1004 },
		{ "session-idle", required_argument, NULL, 0x5e55 },
		{ "signing-key", required_argument, NULL, 0x5e0 },
		{ "sign-command", required_argument, NULL, 0x5e1 },
		{ "verifier-key", required_argument, NULL, 0x5e2 },
		{ "idem-window", required_argument, NULL, 0x1d0 },
		{ "idem-max-keys", required_argument, NULL, 0x1d1 },
		{ "idem-snapshot-interval", required_argument, NULL, 0x1d2 },
		{ "witness", required_argument, NULL, 0x17a0 },
		{ "witness-quorum", required_argument, NULL, 0x17a1 },
		{ "witness-interval-ms", required_argument, NULL, 0x17a2 },
		{ "witness-alert-s", required_argument, NULL, 0x17a3 },
		{ "witness-cacert", required_argument, NULL, 0x17a4 },
		{ "object-store", required_argument, NULL, 0x0b00 },
		{ "object-store-endpoint", required_argument, NULL, 0x0b01 },
		{ "object-store-region", required_argument, NULL, 0x0b02 },
		{ "object-store-path-style", no_argument, NULL, 0x0b03 },
		{ "object-lock-days", required_argument, NULL, 0x0b04 },
		{ "object-store-backlog", required_argument, NULL, 0x0b05 },
		{ "object-cache-bytes", required_argument, NULL, 0x0b06 },
		{ "cluster", required_argument, NULL, 0x0c00 },
		{ "node", required_argument, NULL, 0x0c01 },
		{ "cluster-liveness", required_argument, NULL, 0x0c02 },
		{ "redact", required_argument, NULL, 0x7e0 },
		{ "redact-pointer", required_argument, NULL, 0x7e1 },
		{ "no-default-redaction", no_argument, NULL, 0x7e2 },
		{ "max-future-skew", required_argument, NULL, 0x7e3 },
		{ "flag-past-skew", required_argument, NULL, 0x7e4 },
		{ "relp", required_argument, NULL, 0x5150 },
		{ "syslog-tls", required_argument, NULL, 0x5151 },
		{ "syslog-token-file", required_argument, NULL, 0x5152 },
		{ "syslog-sd-id", required_argument, NULL, 0x5153 },
		{ "syslog-default-outcome", required_argument, NULL, 0x5154 },
		{ "syslog-default-actor", required_argument, NULL, 0x5155 },
		{ "syslog-default-action", required_argument, NULL, 0x5156 },
		{ "syslog-id", required_argument, NULL, 0x5157 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	serve_opts_init(o);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'c': o->tls_cert = optarg; break;
		case 'k': o->tls_key = optarg; break;
		case 'P': o->insecure_plaintext = 1; break;
		case 0x5e0: o->signing_key = optarg; break;
		case 0x5e1: o->sign_command = optarg; break;
		case 0x5e2: o->verifier_key = optarg; break;
		case 't':
			if (!ls_parse_u64(optarg, 1, 256, &v))
				goto bad;
			o->threads = (unsigned)v;
			break;
		case 'i':
			if (!ls_parse_u64(optarg, 1, 3600000, &v))
				goto bad;
			o->checkpoint_ms = v;
			break;
		case 'U':
			if (!ls_parse_u64(optarg, 1, 100000000, &v))
				goto bad;
			o->max_unsigned = v;
			break;
		case 'W':
			if (!ls_parse_u64(optarg, 10, 3600000, &v))
				goto bad;
			o->max_unsigned_ms = v;
			break;
		case 1005:
			if (!ls_parse_u64(optarg, 256, 16777216, &v) || v % 256)
				goto bad;
			o->segment_leaves = v;
			break;
		case 'b':
			if (!ls_parse_u64(optarg, 1024, 1ull << 30, &v))
				goto bad;
			o->max_body = (size_t)v;
			break;
		case 'M':
			if (!ls_parse_u64(optarg, 1024, 1ull << 40, &v))
				goto bad;
			o->body_memory = (size_t)v;
			break;
		case 'C':
			if (!ls_parse_u64(optarg, 1, 1000000, &v))
				goto bad;
			o->conn_limit = (unsigned)v;
			break;
		case 'I':
			if (!ls_parse_u64(optarg, 1, 1000000, &v))
				goto bad;
			o->per_ip_limit = (unsigned)v;
			break;
		case 'T':
			if (!ls_parse_u64(optarg, 1, 3600, &v))
				goto bad;
			o->timeout_s = (unsigned)v;
			break;
		case 'S':
			if (!ls_parse_u64(optarg, 1, 100000, &v))
				goto bad;
			o->max_streams = (unsigned)v;
			break;
		case 'B':
			if (!ls_parse_u64(optarg, 1, 1u << 24, &v))
				goto bad;
			o->stream_buffer = v;
			break;
		case 'H':
			if (!ls_parse_u64(optarg, 1, 3600, &v))
				goto bad;
			o->stream_heartbeat_s = (unsigned)v;
			break;
		case 'R':
			if (!ls_parse_u64(optarg, 0, UINT64_MAX, &v))
				goto bad;
			o->ready_max_lag = v;
			break;
		case 'F':
			if (!ls_parse_u64(optarg, 0, UINT64_MAX, &v))
				goto bad;
			o->max_fresh_lag = v;
			break;
		case 'A':
			o->no_alerts = 1;
			break;
		case 0x5e55:
			if (!ls_parse_u64(optarg, 1, 86400, &v))
				goto bad;
			o->session_idle_s = (unsigned)v;
			break;
		case 1001:
			if (!ls_parse_u64(optarg, 1, 3600, &v))
				goto bad;
			o->denial_window_s = (unsigned)v;
			break;
		case 1002:
			if (!ls_parse_u64(optarg, 1, 1000000, &v))
				goto bad;
			o->denial_burst = (unsigned)v;
			break;
		case 1003:
			if (!ls_parse_u64(optarg, 0, 100000000, &v))
				goto bad;
			o->denial_throttle = (unsigned)v;
			break;
		case 1004: {
			struct webhook_policy wp;

			if (webhook_policy_parse(optarg, &wp, NULL) != LS_OK)
				goto bad;
			o->webhook_allow = optarg;
			break;
		}
		case 0x5150: o->relp_listen = optarg; break;
		case 0x5151: o->syslog_tls_listen = optarg; break;
		case 0x5152: o->syslog_token_file = optarg; break;
		case 0x5153: o->syslog_map.sd_id = optarg; break;
		case 0x5154:
			o->syslog_map.default_outcome = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case 0x5155: o->syslog_map.default_actor = optarg; break;
		case 0x5156: o->syslog_map.default_action = optarg; break;
		case 0x5157:
			if (strcmp(optarg, "hash") && strcmp(optarg, "none"))
				goto bad;
			o->syslog_map.id_hash = !strcmp(optarg, "hash");
			break;
		case 0x1d0:
			if (!ls_parse_u64(optarg, 0, 100ull * 365 * 86400, &v))
				goto bad;
			o->idem_window_s = v;
			break;
		case 0x1d1:
			if (!ls_parse_u64(optarg, 0, 1ull << 32, &v))
				goto bad;
			o->idem_max_keys = v;
			break;
		case 0x1d2:
			if (!ls_parse_u64(optarg, 0, 86400, &v))
				goto bad;
			o->idem_snapshot_s = v;
			break;
		case 0x17a0:
			if (o->nwitnesses == sizeof(o->witnesses) / sizeof(o->witnesses[0]))
				goto bad;
			o->witnesses[o->nwitnesses++] = optarg;
			break;
		case 0x17a1:
			if (!ls_parse_u64(optarg, 1, 16, &v))
				goto bad;
			o->witness_quorum = (unsigned)v;
			break;
		case 0x17a2:
			if (!ls_parse_u64(optarg, 1, 86400000, &v))
				goto bad;
			o->witness_interval_ms = v;
			break;
		case 0x17a3:
			if (!ls_parse_u64(optarg, 1, 30 * 86400, &v))
				goto bad;
			o->witness_alert_s = v;
			break;
		case 0x17a4: o->witness_cacert = optarg; break;
		case 0x0b00: o->object_store = optarg; break;
		case 0x0b01: o->object_store_endpoint = optarg; break;
		case 0x0b02: o->object_store_region = optarg; break;
		case 0x0b03: o->object_store_path_style = 1; break;
		case 0x0b04:
			if (!ls_parse_u64(optarg, 1, 36500, &v))
				goto bad;
			o->object_lock_days = v;
			break;
		case 0x0b05:
			if (!ls_parse_u64(optarg, 1, UINT64_MAX, &v))
				goto bad;
			o->object_store_backlog = v;
			break;
		case 0x0b06:
			if (!ls_parse_u64(optarg, 1, UINT64_MAX, &v))
				goto bad;
			tier_set_budget(v);
			break;
		case 0x0c00: o->cluster = optarg; break;
		case 0x0c01: o->cluster_node = optarg; break;
		case 0x0c02:
			if (!ls_parse_u64(optarg, 0, 30 * 86400, &v) || (v && v < 5))
				goto bad;
			o->cluster_liveness_s = v ? (int64_t)v : -1;
			break;
		case 0x7e0:
		case 0x7e1:
		case 0x7e2:
		case 0x7e3:
		case 0x7e4:
			if (policy_option(c, optarg, &o->policy) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "logseal serve: unknown option or missing value: %s\n",
				argv[optind - 1]);
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "logseal serve: unexpected argument: %s\n", argv[optind]);
		return -1;
	}
	if (!o->tls_cert != !o->tls_key) {
		fprintf(stderr, "logseal serve: --tls-cert and --tls-key go together\n");
		return -1;
	}
	if (o->body_memory && o->body_memory < o->max_body) {
		fprintf(stderr, "logseal serve: --max-body-memory %zu is less than --max-body %zu\n",
			o->body_memory, o->max_body);
		return -1;
	}
	return 1;
bad:
	fprintf(stderr, "logseal serve: bad value for %s: %s\n", argv[optind - 1 > 0 ? optind - 1 : 0],
		optarg);
	return -1;
}

/* What the server says besides its errors, as `logseal serve` always said it. */
static void notice(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "logseal serve: %s\n", msg);
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	struct serve_info info;
	struct ls_err err = { { 0 } };
	struct serve *sv = NULL;
	uint64_t size = UINT64_MAX;	/* stays so unless the log closed cleanly */
	int exposed = 0, sig;
	ls_rc r;

	/* The allocator keeps what the server frees: a batch's buffers are
	 * hundreds of KiB (request bodies, entry bundles, copies for the
	 * followers), and with glibc's defaults each was mapped afresh and
	 * faulted in page by page, then handed back.  Up to 32 MiB an
	 * allocation comes from the heap, and up to 256 MiB of free heap is
	 * kept; the peak is what the bounded queues allow either way.  Request
	 * bodies from 1 MiB up are mappings of their own (http.c), handed back
	 * as soon as their request ends. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	switch (parse_args(argc, argv, &o)) {
	case 0: return 0;
	case -1: return 2;
	}
	r = serve_check_listen(&o, &exposed, &err);
	if (r != LS_OK) {
		fprintf(stderr, "logseal serve: %s\n", err.msg);
		return 2;
	}
	if (exposed)
		fprintf(stderr,
			"logseal serve: WARNING: --insecure-plaintext: serving plain HTTP on %s; "
			"bearer tokens and events cross the network UNENCRYPTED\n", o.listen);
	o.notice = notice;
	r = serve_open(&o, &sv, &err);
	if (r != LS_OK) {
		fprintf(stderr, "logseal serve: %s\n", err.msg);
		return 1;
	}
	serve_info(sv, &info);
	if (strchr(info.host, ':'))
		printf("logseal: listening on %s://[%s]:%u\n", info.tls ? "https" : "http", info.host,
		       info.port);
	else
		printf("logseal: listening on %s://%s:%u\n", info.tls ? "https" : "http", info.host,
		       info.port);
	if (info.relp_port)
		printf("logseal: RELP on port %u (%s)\n", info.relp_port, info.tls ? "TLS" : "plain");
	if (info.syslog_tls_port)
		printf("logseal: syslog on port %u (%s, octet counting)\n", info.syslog_tls_port,
		       info.tls ? "TLS" : "plain");
	printf("logseal: data in %s, %llu %s, %zu idempotency keys, index at %llu\n", o.dir,
	       (unsigned long long)info.entries, LS_PL(info.entries, "entry", "entries"),
	       info.idem_keys,
	       (unsigned long long)info.index_at);
	printf("logseal: idempotency keys: %zu from the snapshot covering %llu entries, "
	       "%llu journal entries read after it (%.2f s, %.2f s CPU)\n", info.idem_snapshot_keys,
	       (unsigned long long)info.idem_covered, (unsigned long long)info.idem_scanned,
	       info.idem_seconds, info.idem_cpu_seconds);
	printf("logseal: admin token in %s/admin.token (send it as \"Authorization: Bearer ...\")\n",
	       o.dir);
	fflush(stdout);

	sig = serve_run(sv);
	printf("logseal: %s: finishing requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	fflush(stdout);
	r = serve_close(sv, &size);
	if (size != UINT64_MAX)
		printf("logseal: stopped; last checkpoint signed at size %llu\n",
		       (unsigned long long)size);
	return r == LS_OK ? 0 : 1;
}
