/*
 * cmd_verify.c - `logseal verify` (a data directory or a static tiles log,
 * recomputed and checked; the outcome recorded for the dashboard) and
 * `logseal verify-bundle` (an export bundle checked offline).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "core/event.h"
#include "core/note.h"
#include "store/cfgseal.h"
#include "followers/evidence.h"
#include "followers/export.h"
#include "followers/verify.h"
#include "followers/verify_run.h"
#include "followers/verify_src.h"
#include "store/bundlekey.h"
#include "store/objstore.h"

/* -------------------------------------------------------------- verify --- */

static const char usage_verify[] =
	"usage: logseal verify --data DIR [--no-postings]\n"
	"       logseal verify --tiles DIR|s3://BUCKET/PREFIX|https://URL --key VKEY\n"
	"              [--bundle-key FILE] [--fetchers N] [--max-problems N]\n"
	"              [--endpoint URL] [--region R] [--path-style] [--trust-bucket-key]\n"
	"\n"
	"--data: checks every byte of a data directory's sealed segments (and of\n"
	"the archived ones) and of its write-ahead log, recomputes every leaf hash,\n"
	"tile and root from the entries, checks every stored checkpoint's signature\n"
	"and root, and names the first bad byte (file and offset), tile or\n"
	"checkpoint; the outcome is recorded in DIR/state/last-verify.json (the\n"
	"dashboard's integrity page shows it); then every posting list of the\n"
	"index against the entries.  A directory of the format before\n"
	"sealed segments is refused: run `logseal migrate` first.  --no-postings\n"
	"leaves the index out (it is derived: `logseal reindex` rebuilds it).\n"
	"--tiles: verifies a published log in place: a static C2SP tlog-tiles log (a\n"
	"checkpoint and its tile/ tree with entry bundles) or a bucket in logseal's\n"
	"layout (log/, checkpoints/<size>, segments/<016x>.seal), in a directory, an\n"
	"S3 bucket (credentials, endpoint and region as the AWS tools take them) or\n"
	"an http(s) tree, against a verifier key (--key or --verifier: the key\n"
	"string or a file holding it).  The bucket's own keys/verifier.key is used\n"
	"only with --trust-bucket-key.  Encrypted entry bundles (LSB1) are opened\n"
	"with --bundle-key FILE (`logseal keys bundle-key`), else not checked.  Every\n"
	"missing or altered object is named; objects are read by --fetchers\n"
	"concurrent requests (4).\n"
	"Exit status 0 only when everything checks.\n";

/*
 * The outcome of a full verify of a data directory, kept in
 * DIR/state/last-verify.json for the dashboard (GET /v1/integrity): when it
 * ran, whether it passed, what it covered.  Written here and not by the
 * library, so that only a real `logseal verify` run records one.  A
 * directory that is not there is not created; a failure to record is a
 * warning, never a change of the verify's own result (a read-only copy of
 * a data directory can still be verified).  A run refused access to the
 * data (LS_DENIED: a wrong master key, a key file others can read) reached
 * no verdict about the log and leaves the directory untouched, as its
 * message promises; so does one that ran out of memory.
 */
static void record_verify(const char *dir, ls_rc rc, const struct verify_report *rep,
			  const struct ls_err *verr)
{
	char why[300] = "";
	struct stat st;

	if (rc == LS_DENIED || rc == LS_NOMEM || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	verify_run_record(dir, rc, rep, verr, why, sizeof(why));
	if (why[0])
		fprintf(stderr, "logseal verify: warning: cannot record the outcome in "
			"%s/state/last-verify.json: %s\n", dir, why);
}

/* The progress line on a terminal: "\rverifying: ..." on stderr, cleared
 * when the walk over the entries is over. */
static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	if (done == VERIFY_PROGRESS_END)
		fprintf(stderr, "\r\033[K");
	else if (total)
		fprintf(stderr, "\rverifying: %llu / %llu entries (%.0f%%)", (unsigned long long)done,
			(unsigned long long)total, 100.0 * (double)done / (double)total);
	else
		fprintf(stderr, "\rverifying: %llu %s", (unsigned long long)done,
			LS_PL(done, "entry", "entries"));
}

/* DIR/log/checkpoint as it is now (NULL when unreadable). */
static char *published_note(const char *dir)
{
	char path[PATH_MAX], *note = NULL;
	size_t len;

	if (snprintf(path, sizeof(path), "%s/log/checkpoint", dir) >= (int)sizeof(path) ||
	    fs_read_file(path, NOTE_MAX_SIZE, &note, &len, NULL) != LS_OK)
		return NULL;
	return note;
}

/* ---------------------------------------------------- verify --tiles --- */

struct tiles_args {
	const char *bundle_key, *endpoint, *region;
	int path_style, trust_bucket_key;
	unsigned fetchers, max_problems;
};

static void show_problem(void *ctx, int warning, const char *where, const char *what)
{
	(void)ctx;
	if (isatty(2))
		fprintf(stderr, "\r\033[K");
	printf("%s%s: %s\n", warning ? "warning: " : "", where, what);
}

/* The bundle key file: standard base64 of 32 bytes, one line. */
static int read_bundle_key(const char *path, uint8_t key[BUNDLEKEY_LEN])
{
	char *text = NULL;
	size_t len = 0, n = 0;
	struct ls_err err = { "" };
	int ok;

	if (fs_read_file(path, 4096, &text, &len, &err) != LS_OK) {
		fprintf(stderr, "logseal verify: --bundle-key: %s\n", err.msg);
		return 0;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	ok = ls_b64_decode(text, len, key, BUNDLEKEY_LEN, &n) == LS_OK && n == BUNDLEKEY_LEN;
	ls_wipe(text, len);
	free(text);
	if (!ok)
		fprintf(stderr, "logseal verify: --bundle-key %s: not the base64 of 32 bytes "
			"(`logseal keys bundle-key --data DIR` prints one)\n", path);
	return ok;
}

static int is_url(const char *s)
{
	return !strncmp(s, "s3://", 5) || !strncmp(s, "https://", 8) || !strncmp(s, "http://", 7);
}

/* keys/verifier.key of the source, trusted because the user said so. */
static ls_rc bucket_verifier(struct verify_src *src, struct note_verifier *v, struct ls_err *err)
{
	uint8_t *data = NULL;
	size_t n = 0;
	char *line;
	ls_rc rc = verify_src_get(src, "keys/verifier.key", 4096, &data, &n, err);

	if (rc != LS_OK)
		return ls_err_set(err, rc, "%s/keys/verifier.key: %s", verify_src_name(src), err->msg);
	line = (char *)data;
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	line[n] = 0;
	rc = export_load_verifier(line, v, err);
	free(data);
	return rc;
}

static int verify_tiles_cmd(const char *where, const char *keyarg, const struct tiles_args *ta,
			    const struct verify_progress *progress)
{
	struct objstore_cfg cfg;
	struct objstore *os = NULL;
	struct verify_src *src = NULL;
	struct verify_tiles_opts o;
	struct verify_tiles_report rep;
	struct note_verifier v;
	struct ls_err err = { "" };
	uint8_t bkey[BUNDLEKEY_LEN];
	char roothex[65];
	int ret = 1;
	ls_rc rc;

	memset(&o, 0, sizeof(o));
	if (ta->bundle_key) {
		if (!read_bundle_key(ta->bundle_key, bkey))
			return 2;
		o.bundle_key = bkey;
	}
	if (keyarg && export_load_verifier(keyarg, &v, &err) != LS_OK) {
		fprintf(stderr, "logseal verify: --key: %s\n", err.msg);
		return 2;
	}
	if (is_url(where)) {
		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.url, sizeof(cfg.url), "%s", where);
		if (ta->endpoint)
			snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", ta->endpoint);
		if (ta->region)
			snprintf(cfg.region, sizeof(cfg.region), "%s", ta->region);
		cfg.path_style = ta->path_style;
		rc = objstore_cfg_env(&cfg, &err);
		if (rc == LS_OK)
			rc = objstore_open(&cfg, &os, &err);
		ls_wipe(&cfg, sizeof(cfg));
		if (rc == LS_OK)
			rc = verify_src_objstore(os, where, &src, &err);
	} else {
		rc = verify_src_dir(where, &src, &err);
	}
	if (rc != LS_OK) {
		fprintf(stderr, "logseal verify: %s: %s\n", where, err.msg);
		goto out;
	}
	if (!keyarg) {
		rc = bucket_verifier(src, &v, &err);
		if (rc != LS_OK) {
			fprintf(stderr, "logseal verify: --trust-bucket-key: %s\n", err.msg);
			goto out;
		}
		printf("warning: trusting the verifier key the bucket holds (%s, key id %08x): "
		       "anyone who can write the bucket can replace it\n", v.name, v.key_id);
	}
	o.fetchers = ta->fetchers;
	o.max_problems = ta->max_problems;
	o.progress = progress;
	o.problem = show_problem;
	rc = verify_tiles_src(src, &v, &o, &rep, &err);
	if (rc != LS_OK && !rep.problems)
		goto failed; /* no verdict: the store could not be read */
	ls_hex(rep.root, 32, roothex);
	printf("read: %llu objects, %.2f MB in %.2f s (%.0f objects/s, %.2f MB/s, %u concurrent "
	       "requests)\n", (unsigned long long)rep.objects, (double)rep.bytes / 1e6,
	       rep.seconds, rep.seconds > 0 ? (double)rep.objects / rep.seconds : 0.0,
	       rep.seconds > 0 ? (double)rep.bytes / 1e6 / rep.seconds : 0.0,
	       ta->fetchers ? ta->fetchers : 4);
	printf("checked: %llu %s, %llu hash %s, %llu entry %s, %llu signed %s, %llu %s\n",
	       (unsigned long long)rep.entries, LS_PL(rep.entries, "entry", "entries"),
	       (unsigned long long)rep.tiles, LS_PL(rep.tiles, "tile", "tiles"),
	       (unsigned long long)rep.bundles, LS_PL(rep.bundles, "bundle", "bundles"),
	       (unsigned long long)rep.checkpoints,
	       LS_PL(rep.checkpoints, "checkpoint", "checkpoints"),
	       (unsigned long long)rep.segments, LS_PL(rep.segments, "segment", "segments"));
	if (rep.bundles_sealed)
		printf("entry bundles: %llu are sealed (LSB1) and were NOT checked: give "
		       "--bundle-key FILE (the leaves were taken from the level-0 tiles)\n",
		       (unsigned long long)rep.bundles_sealed);
	if (rep.segments_keyless)
		printf("segments: %llu encrypted: framing, checksums and leaf hashes checked; "
		       "their entries were NOT decrypted (that needs the data keys: "
		       "`logseal verify --data` on a restored node)\n",
		       (unsigned long long)rep.segments_keyless);
	if (rep.layout && !rep.listed)
		printf("note: %s cannot be listed: objects were asked for by name (segments "
		       "from leaf 0 on); objects the tree does not name were not seen\n", where);
	if (rep.tree_size || rc == LS_OK)
		printf("latest checkpoint: size %llu, root %s\n", (unsigned long long)rep.tree_size,
		       roothex);
	if (rep.warnings)
		printf("warnings: %llu\n", (unsigned long long)rep.warnings);
failed:
	if (rc != LS_OK) {
		if (rep.problems)
			fprintf(stderr, "logseal verify: FAILED: %llu problem%s in %s (first: %s)\n",
				(unsigned long long)rep.problems, rep.problems == 1 ? "" : "s", where,
				err.msg);
		else
			fprintf(stderr, "logseal verify: cannot verify (%s): %s\n", ls_rc_name(rc),
				err.msg);
		goto out;
	}
	printf("verified: %s\n", where);
	ret = 0;
out:
	ls_wipe(bkey, sizeof(bkey));
	verify_src_free(src);
	if (os)
		objstore_close(os);
	return ret;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' },
		{ "tiles", required_argument, 0, 't' },
		{ "key", required_argument, 0, 'k' },
		{ "verifier", required_argument, 0, 'k' },
		{ "no-postings", no_argument, 0, 'P' },
		{ "bundle-key", required_argument, 0, 'B' },
		{ "fetchers", required_argument, 0, 'F' },
		{ "max-problems", required_argument, 0, 'M' },
		{ "endpoint", required_argument, 0, 'E' },
		{ "region", required_argument, 0, 'R' },
		{ "path-style", no_argument, 0, 'S' },
		{ "trust-bucket-key", no_argument, 0, 'T' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct tiles_args ta;
	const char *dir = NULL, *tiles = NULL, *keyarg = NULL;
	int flags = 0;
	struct verify_report rep;
	struct ls_err err = { "" };
	char roothex[65];
	struct verify_progress pr = { show_progress, NULL };
	const struct verify_progress *progress = isatty(2) ? &pr : NULL;
	int c;
	ls_rc rc;

	memset(&ta, 0, sizeof(ta));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t u;

		switch (c) {
		case 'd': dir = optarg; break;
		case 't': tiles = optarg; break;
		case 'k': keyarg = optarg; break;
		case 'P': flags |= VERIFY_NO_POSTINGS; break;
		case 'B': ta.bundle_key = optarg; break;
		case 'E': ta.endpoint = optarg; break;
		case 'R': ta.region = optarg; break;
		case 'S': ta.path_style = 1; break;
		case 'T': ta.trust_bucket_key = 1; break;
		case 'F':
		case 'M':
			if (!ls_parse_u64(optarg, 1, c == 'F' ? 16 : 1000000, &u)) {
				fprintf(stderr, "logseal verify: --%s: bad number\n",
					c == 'F' ? "fetchers" : "max-problems");
				return 2;
			}
			if (c == 'F')
				ta.fetchers = (unsigned)u;
			else
				ta.max_problems = (unsigned)u;
			break;
		case 'h': fputs(usage_verify, stdout); return 0;
		default: fputs(usage_verify, stderr); return 2;
		}
	}
	if ((!dir == !tiles) || (tiles && !keyarg == !ta.trust_bucket_key) || optind != argc) {
		fputs(usage_verify, stderr);
		return 2;
	}
	memset(&rep, 0, sizeof(rep));
	if (dir) {
		/* verify_data_dir() checks a snapshot; still, a failure is only
		 * recorded once a run over a directory that did not move on
		 * meanwhile (the same published checkpoint before and after)
		 * confirms it: a false "tampered" is never written. */
		for (int attempt = 0;; attempt++) {
			char *before = published_note(dir), *after;
			int moved;

			rc = verify_data_dir_ex(dir, progress, flags, &rep, &err);
			after = published_note(dir);
			moved = !before || !after || strcmp(before, after) != 0;
			free(before);
			free(after);
			if (rc == LS_OK || rc == LS_DENIED || rc == LS_NOMEM || !moved || attempt == 4)
				break;
			fprintf(stderr, "logseal verify: the log moved on during the check (%s); "
				"checking again\n", err.msg);
		}
		record_verify(dir, rc, &rep, &err);
	} else {
		return verify_tiles_cmd(tiles, keyarg, &ta, progress);
	}
	if (rc != LS_OK) {
		fprintf(stderr, "logseal verify: FAILED (%s): %s\n", ls_rc_name(rc), err.msg);
		return 1;
	}
	ls_hex(rep.root, 32, roothex);
	printf("verified: %llu %s, %llu signed %s, %llu tile %s\n",
	       (unsigned long long)rep.entries, LS_PL(rep.entries, "entry", "entries"),
	       (unsigned long long)rep.checkpoints,
	       LS_PL(rep.checkpoints, "checkpoint", "checkpoints"), (unsigned long long)rep.tiles,
	       LS_PL(rep.tiles, "file", "files"));
	printf("latest checkpoint: size %llu, root %s\n", (unsigned long long)rep.tree_size,
	       roothex);
	if (rep.segments)
		printf("sealed segments: %llu (%llu %s, %.1f MB) checked in %.2f s, %.0f "
		       "entries/s\n",
		       (unsigned long long)rep.segments, (unsigned long long)rep.sealed,
		       LS_PL(rep.sealed, "entry", "entries"),
		       (double)rep.sealed_bytes / 1e6, rep.sealed_seconds,
		       rep.sealed_seconds > 0 ? (double)rep.sealed / rep.sealed_seconds : 0.0);
	if (rep.postings)
		printf("postings: %llu %s (%llu %s) checked against the entries in %.2f s\n",
		       (unsigned long long)rep.postings_files,
		       LS_PL(rep.postings_files, "file", "files"),
		       (unsigned long long)rep.postings_entries,
		       LS_PL(rep.postings_entries, "entry", "entries"), rep.postings_seconds);
	else if (flags & VERIFY_NO_POSTINGS)
		printf("postings: not checked (--no-postings)\n");
	else
		printf("postings: no index (`logseal reindex` builds it)\n");
	if (rep.archived)
		printf("archived: %llu %s read back from DIR/archive and checked\n",
		       (unsigned long long)rep.archived, LS_PL(rep.archived, "entry", "entries"));
	if (rep.purged)
		printf("purged by policy, not tampering: %s\n", rep.retention);
	if (rep.uncovered)
		printf("note: %llu journal entries are not yet covered by a signed checkpoint "
		       "(the next `serve` or `import` signs them)\n",
		       (unsigned long long)rep.uncovered);
	return 0;
}

/* ------------------------------------------------------- verify-bundle --- */

static const char usage_verify_bundle[] =
	"usage: logseal verify-bundle FILE --key VKEY [--witness WKEY ... [--quorum K]]\n"
	"\n"
	"Check an export bundle offline: the checkpoint's signature, every entry's\n"
	"leaf hash and inclusion proof, and the signed manifest (entry count, order,\n"
	"filter).  Nothing but the key is trusted.\n"
	"\n"
	"  --key VKEY   the log's verifier key (name+keyid+key, as in DIR/verifier.key)\n"
	"               or a file holding it\n"
	"  --witness WKEY  a witness's cosignature/v1 key (or a file holding it),\n"
	"               repeatable: its cosignature on the checkpoint must verify\n"
	"  --quorum K   at least K of the given witnesses must have cosigned\n"
	"               (default: all of them)\n"
	"\n"
	"An evidence file (`export --format evidence --index N`) is checked the same\n"
	"way: its entry's hash, the inclusion proof to the checkpoint's root, the\n"
	"log's signature and the given witnesses' cosignatures and quorum.\n"
	"  --help       this text\n"
	"\n"
	"Exit status: 0 when everything checks; 1 when the bundle fails (the first bad\n"
	"line is named on stderr); 2 for usage errors or a bad key.\n";

/* An evidence file is one JSON object; a bundle's first line is too, but
 * holds no "evidence" member. */
static int is_evidence(const char *file)
{
	char buf[256];
	size_t n;
	FILE *f = fopen(file, "r");

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, "\"evidence\": \"" EVIDENCE_MAGIC "\"") != NULL;
}

static int verify_evidence(const char *file, const struct note_verifier *v, const char **wargs,
			   size_t nwit, size_t quorum)
{
	struct cosig_verifier w[16];
	struct evidence_report rep;
	struct ls_err err = { "" };
	char *data = NULL;
	size_t len;
	ls_rc rc;

	if (quorum > nwit) {
		fprintf(stderr, "logseal verify-bundle: --quorum %zu with %zu --witness keys\n",
			quorum, nwit);
		return 2;
	}
	for (size_t i = 0; i < nwit; i++) {
		const char *a = wargs[i];
		char *kd = NULL;
		size_t kl = strlen(a);

		if (!strchr(a, '+') && fs_read_file(a, 4096, &kd, &kl, &err) == LS_OK)
			a = kd;
		while (kl && (a[kl - 1] == '\n' || a[kl - 1] == '\r'))
			kl--;
		rc = cosig_verifier_parse(a, kl, &w[i], &err);
		free(kd);
		if (rc != LS_OK) {
			fprintf(stderr, "logseal verify-bundle: --witness %s: %s\n", wargs[i], err.msg);
			return 2;
		}
	}
	rc = fs_read_file(file, EVIDENCE_MAX, &data, &len, &err);
	if (rc == LS_OK)
		rc = evidence_verify(data, len, v, w, nwit, quorum, &rep, &err);
	free(data);
	if (rc != LS_OK) {
		fprintf(stderr, "logseal verify-bundle: %s: FAILED (%s): %s\n", file, ls_rc_name(rc),
			err.msg);
		return 1;
	}
	printf("evidence verified: entry %llu in the checkpoint of size %llu, origin %s; "
	       "cosigned by %zu of %zu given witnesses (quorum %zu)\n",
	       (unsigned long long)rep.index, (unsigned long long)rep.tree_size, v->name,
	       rep.cosigned, nwit, quorum);
	return 0;
}

int cmd_verify_bundle(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, 0, 'k' },
		{ "witness", required_argument, 0, 'w' },
		{ "quorum", required_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *keyarg = NULL, *file, *wargs[16];
	size_t nwit = 0, quorum = SIZE_MAX;
	uint64_t qv;
	struct bundle_report rep;
	struct note_verifier v;
	struct ls_err err = { "" };
	int c;
	ls_rc rc;

	optind = 0; /* glibc: full reset, so the command can run twice in one process */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': keyarg = optarg; break;
		case 'w':
			if (nwit == 16) {
				fputs("logseal verify-bundle: at most 16 --witness keys\n", stderr);
				return 2;
			}
			wargs[nwit++] = optarg;
			break;
		case 'q':
			if (!ls_parse_u64(optarg, 0, 16, &qv)) {
				fputs("logseal verify-bundle: --quorum is 0..16\n", stderr);
				return 2;
			}
			quorum = (size_t)qv;
			break;
		case 'h': fputs(usage_verify_bundle, stdout); return 0;
		default: fputs(usage_verify_bundle, stderr); return 2;
		}
	}
	/* FILE may come before or after --key (getopt_long permutes). */
	if (optind + 1 != argc) {
		fputs(usage_verify_bundle, stderr);
		return 2;
	}
	file = argv[optind];
	if (!keyarg) {
		fputs("logseal verify-bundle: --key is required\n", stderr);
		fputs(usage_verify_bundle, stderr);
		return 2;
	}
	rc = export_load_verifier(keyarg, &v, &err);
	if (rc != LS_OK) {
		fprintf(stderr, "logseal verify-bundle: --key: %s\n", err.msg);
		return 2;
	}
	if (is_evidence(file) || nwit)
		return verify_evidence(file, &v, wargs, nwit, quorum == SIZE_MAX ? nwit : quorum);
	rc = export_verify_bundle(file, &v, &rep, &err);
	if (rc != LS_OK) {
		fprintf(stderr, "logseal verify-bundle: %s: FAILED (%s): %s\n", file,
			ls_rc_name(rc), err.msg);
		return 1;
	}
	printf("bundle verified: %llu %s, tree size %llu, origin %s\n",
	       (unsigned long long)rep.entries, LS_PL(rep.entries, "entry", "entries"),
	       (unsigned long long)rep.tree_size, rep.origin);
	printf("filter: %s\n", rep.filter);
	return 0;
}
