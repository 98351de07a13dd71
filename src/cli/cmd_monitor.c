/*
 * cmd_monitor.c - `logseal monitor`: watch a C2SP tlog-tiles log for an
 * auditor (followers/monitor.h), once (--once) or every --interval seconds,
 * and report findings by exit status and webhook.
 *
 * Exit status: 0 ok, 1 error (nothing judged: fetch or state failure; in
 * loop mode only when it persists, see below), 2 usage, 3 bad signature,
 * 4 rollback, 5 fork, 6 stall, 7 mismatch (tiles or entries do not match the
 * signed root), 8 cosignature policy not met.
 * Loop mode: fetch errors are printed and retried; a stall or an unmet
 * policy is reported (webhook) once while it lasts and polling goes on;
 * any other finding is reported and ends the monitor with its status.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "base/fsutil.h"
#include "followers/monitor.h"

static void usage(FILE *f)
{
	fputs("usage: logseal monitor --log URL|DIR --key VKEY --state FILE [options]\n"
	      "\n"
	      "Follows a C2SP tlog-tiles log (a running logseal's http(s)://HOST/log/ with\n"
	      "--token, a static copy on a web server, or a directory) and checks, at every\n"
	      "poll, the checkpoint's signature, the witnesses' cosignatures, that the hash\n"
	      "tiles give the signed root, and that the log extends the checkpoint kept in\n"
	      "FILE (a consistency proof computed from the tiles).  Without FILE, the first\n"
	      "poll trusts what it sees and records it, unless --trust-checkpoint is given.\n"
	      "  --trust-checkpoint NOTE  a signed checkpoint obtained another way (an\n"
	      "                      evidence bundle, a witness, GET /v1/checkpoints/N): the\n"
	      "                      first poll must extend it (else fork/rollback)\n"
	      "  --key VKEY          the log's verifier key (repeatable)\n"
	      "  --token TOKEN       bearer token (an auditor's) for a logseal /log/ URL;\n"
	      "                      --token-file FILE reads it from a file\n"
	      "  --witness VKEY      a witness's cosignature/v1 verifier key (repeatable)\n"
	      "  --quorum K          cosignatures of at least K of those witnesses required\n"
	      "  --poll-witness URL  also fetch the witness's latest cosigned checkpoint\n"
	      "                      (URL/<sha256 hex of origin>/checkpoint, repeatable): it\n"
	      "                      must verify and be a prefix of the log (else fork:\n"
	      "                      a split view; larger than the log: rollback)\n"
	      "  --entries           also fetch every new entry bundle and check each entry\n"
	      "                      against its leaf hash (all entries on the first poll)\n"
	      "  --stall SECONDS     report a stall when the log neither grows nor signs a\n"
	      "                      new checkpoint for that long\n"
	      "  --webhook URL       POST each finding as JSON (see docs/WITNESS.md);\n"
	      "                      --webhook-secret S signs it (X-Logseal-Signature)\n"
	      "  --once              one poll; else poll every --interval SECONDS (60)\n"
	      "Exit status: 0 ok, 1 error, 2 usage, 3 bad signature, 4 rollback, 5 fork,\n"
	      "6 stall, 7 mismatch (tiles/entries), 8 cosignature policy not met.\n",
	      f);
}

static void report(const struct monitor_opts *o, const struct monitor_result *r,
		   const char *webhook, const char *secret)
{
	uint64_t now = (uint64_t)time(NULL);
	struct ls_err err = { { 0 } };
	char *body;

	printf("logseal monitor: %s: %s\n", monitor_event_name(r->event), r->detail);
	fflush(stdout);
	if (!webhook || r->event == MON_OK)
		return;
	body = monitor_json(o, r, now);
	if (!body || monitor_webhook(webhook, secret, body, &err) != LS_OK)
		fprintf(stderr, "logseal monitor: webhook: %s\n", body ? err.msg : "out of memory");
	free(body);
}

int cmd_monitor(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "token", required_argument, NULL, 't' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "witness", required_argument, NULL, 'w' },
		{ "quorum", required_argument, NULL, 'q' },
		{ "state", required_argument, NULL, 's' },
		{ "entries", no_argument, NULL, 'e' },
		{ "stall", required_argument, NULL, 'S' },
		{ "webhook", required_argument, NULL, 'W' },
		{ "webhook-secret", required_argument, NULL, 'X' },
		{ "poll-witness", required_argument, NULL, 'P' },
		{ "trust-checkpoint", required_argument, NULL, 'C' },
		{ "once", no_argument, NULL, '1' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct note_verifier keys[8];
	struct cosig_verifier wit[32];
	const char *polls[32];
	struct monitor_opts o;
	struct ls_err err = { { 0 } };
	const char *webhook = NULL, *secret = NULL;
	char tokbuf[1024], *trust = NULL;
	unsigned long interval = 60;
	int c, once = 0, last = -1;

	memset(&o, 0, sizeof(o));
	o.logkeys = keys;
	o.witnesses = wit;
	o.poll_witnesses = polls;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'l': o.log = optarg; break;
		case 'k':
			if (o.nlogkeys == 8 ||
			    note_verifier_parse(optarg, strlen(optarg), &keys[o.nlogkeys], &err) != LS_OK) {
				fprintf(stderr, "logseal monitor: --key: %s\n", err.msg[0] ? err.msg : "too many");
				return 2;
			}
			o.nlogkeys++;
			break;
		case 't': o.token = optarg; break;
		case 'T': {
			FILE *f = fopen(optarg, "r");

			if (!f || !fgets(tokbuf, sizeof(tokbuf), f)) {
				if (f)
					fclose(f);
				return cli_die("monitor", "cannot read --token-file");
			}
			fclose(f);
			tokbuf[strcspn(tokbuf, "\r\n")] = 0;
			o.token = tokbuf;
			break;
		}
		case 'w':
			if (o.nwitnesses == 32 ||
			    cosig_verifier_parse(optarg, strlen(optarg), &wit[o.nwitnesses], &err) != LS_OK) {
				fprintf(stderr, "logseal monitor: --witness: %s\n", err.msg[0] ? err.msg : "too many");
				return 2;
			}
			o.nwitnesses++;
			break;
		case 'P':
			if (o.npoll == 32)
				return cli_die("monitor", "too many --poll-witness");
			polls[o.npoll++] = optarg;
			break;
		case 'q': o.quorum = strtoul(optarg, NULL, 10); break;
		case 's': o.state = optarg; break;
		case 'e': o.entries = 1; break;
		case 'S': o.stall_s = strtoull(optarg, NULL, 10); break;
		case 'W': webhook = optarg; break;
		case 'X': secret = optarg; break;
		case 'C': {
			size_t n = 0;

			free(trust);
			trust = NULL;
			if (fs_read_file(optarg, NOTE_MAX_SIZE, &trust, &n, &err) != LS_OK) {
				fprintf(stderr, "logseal monitor: --trust-checkpoint: %s\n", err.msg);
				return 2;
			}
			o.trust_note = trust;
			o.trust_len = n;
			break;
		}
		case '1': once = 1; break;
		case 'i': interval = strtoul(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.log || !o.state || !o.nlogkeys || optind != argc || o.quorum > o.nwitnesses ||
	    interval == 0) {
		usage(stderr);
		return 2;
	}
	for (;;) {
		struct monitor_result r;
		int ev;

		monitor_poll(&o, (uint64_t)time(NULL), &r);
		ev = r.event;
		if (once) {
			report(&o, &r, webhook, secret);
			monitor_result_release(&r);
			free(trust);
			return ev;
		}
		if (ev == MON_OK) {
			if (last != MON_OK)
				report(&o, &r, webhook, secret);
		} else if (ev == MON_ERROR) {
			fprintf(stderr, "logseal monitor: %s (retrying)\n", r.detail);
		} else if (ev == MON_STALL || ev == MON_POLICY) {
			if (ev != last)
				report(&o, &r, webhook, secret);
		} else {
			report(&o, &r, webhook, secret);
			monitor_result_release(&r);
			free(trust);
			return ev;
		}
		last = ev;
		monitor_result_release(&r);
		sleep((unsigned)interval);
	}
}
