/*
 * witness.c - the tlog-witness decision and its durable state (witness.h
 * has the directory layout).  The HTTP front is witness_http.c.
 *
 * The add-checkpoint checks, in the order c2sp.org/tlog-witness gives them:
 *   body not a request, or note/checkpoint malformed       400
 *   origin not configured                                  404
 *   no configured log key signed it, or one's sig fails     403
 *   old > checkpoint size                                  400
 *   old != the size this witness last cosigned (0: none)   409 "<size>\n"
 *   size 0 with a root other than SHA-256("")              422
 *   old 0 with a non-empty proof                           422
 *   old == size with another root (a fork), or a
 *   consistency proof old -> size that does not verify     422
 *   then: state written durably, 200 with the cosignature line.
 *
 * Invariants:
 *  1. One mutex covers reading a log's state, deciding and persisting, so
 *     two requests can never roll a log back (the spec's race).
 *  2. In-memory state changes only after WDIR/state/<H> is durable; a
 *     failed write is a 500 and the witness keeps its old state.
 *  3. A state is only ever replaced by a checkpoint consistent with it, so
 *     sizes only grow.  A state file is parsed (and its log signature
 *     checked) at open; a file that does not is a startup error, never
 *     silently dropped (that would be a rollback to size 0).
 */
#include "server/witness.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "core/merkle.h"

struct wlog {
	char origin[NOTE_MAX_NAME];
	char hex[2 * LS_HASH_LEN + 1];	/* hex(SHA-256(origin)) */
	struct note_verifier keys[8];
	size_t nkeys;
	int has_state;
	uint64_t size;
	uint8_t root[LS_HASH_LEN];
	char *state;			/* the state file's bytes */
	size_t state_len;
};

struct witness {
	char *dir;
	struct cosig_signer key;
	struct cosig_verifier vkey;
	struct wlog *logs;
	size_t nlogs;
	size_t evidence;		/* evidence files written or found */
	pthread_mutex_t mu;
};

static void origin_hex(const char *origin, char hex[2 * LS_HASH_LEN + 1])
{
	uint8_t h[LS_HASH_LEN];

	ls_sha256(origin, strlen(origin), NULL, 0, h);
	ls_hex(h, sizeof(h), hex);
}

/* ------------------------------------------------------------------------
 * Setup
 */

ls_rc witness_init(const char *wdir, const char *name, char *vkey, size_t cap,
		   struct ls_err *err)
{
	struct cosig_signer s;
	struct cosig_verifier v;
	char path[4096], skey[1024], line[1024];
	ls_rc rc;

	rc = cosig_signer_generate(name, &s, err);
	if (rc != LS_OK)
		return rc;
	rc = fs_mkdirs(wdir, 0700, err);
	if (rc == LS_OK) {
		snprintf(path, sizeof(path), "%s/witness.key", wdir);
		rc = cosig_signer_format(&s, skey, sizeof(skey) - 1);
		if (rc == LS_OK) {
			skey[strlen(skey) + 1] = 0, skey[strlen(skey)] = '\n';
			rc = fs_write_file(path, skey, strlen(skey), 0600, 1, err);
			ls_wipe(skey, sizeof(skey));
		}
	}
	cosig_signer_verifier(&s, &v);
	cosig_signer_wipe(&s);
	if (rc != LS_OK)
		return rc;
	cosig_verifier_format(&v, vkey, cap);
	snprintf(line, sizeof(line), "%s\n", vkey);
	snprintf(path, sizeof(path), "%s/witness.vkey", wdir);
	return fs_write_file(path, line, strlen(line), 0644, 0, err);
}

ls_rc witness_log_cfg_parse(const char *s, struct witness_log_cfg *c, struct ls_err *err)
{
	const char *eq;
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	for (eq = memchr(s, '=', n); eq; eq = memchr(eq + 1, '=', n - (size_t)(eq + 1 - s))) {
		size_t olen = (size_t)(eq - s);

		if (olen == 0 || olen >= NOTE_MAX_NAME)
			continue;
		if (note_verifier_parse(eq + 1, n - olen - 1, &c->key, NULL) == LS_OK) {
			memcpy(c->origin, s, olen);
			c->origin[olen] = 0;
			return LS_OK;
		}
	}
	return ls_err_set(err, LS_INVALID, "--log wants ORIGIN=VKEY (a log verifier key): %.80s",
			  s);
}

/* Load WDIR/state/<H> of one log: parse, check the log signature. */
static ls_rc load_state(struct witness *w, struct wlog *l, struct ls_err *err)
{
	char path[4096];
	struct cosig_report rep;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/state/%s", w->dir, l->hex);
	rc = fs_read_file(path, NOTE_MAX_SIZE, &l->state, &l->state_len, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	rc = cosig_note_check(l->state, l->state_len, l->keys, l->nkeys, &w->vkey, 1, NULL, &rep,
			      err);
	if (rc == LS_OK && strcmp(rep.cp.origin, l->origin) != 0)
		rc = ls_err_set(err, LS_CORRUPT, "origin differs");
	if (rc != LS_OK) {
		char why[sizeof(((struct ls_err *)0)->msg)];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		return ls_err_set(err, rc == LS_NOMEM ? rc : LS_CORRUPT,
				  "state of %s (%s) does not check: %s", l->origin, path, why);
	}
	l->has_state = 1;
	l->size = rep.cp.size;
	memcpy(l->root, rep.cp.root, LS_HASH_LEN);
	return LS_OK;
}

ls_rc witness_open(const char *wdir, const struct witness_log_cfg *logs, size_t nlogs,
		   struct witness **out, struct ls_err *err)
{
	struct witness *w;
	char path[4096], *skey = NULL;
	size_t len = 0;
	ls_rc rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->dir = strdup(wdir)) || !(w->logs = calloc(nlogs ? nlogs : 1, sizeof(*w->logs)))) {
		witness_close(w);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&w->mu, NULL);
	snprintf(path, sizeof(path), "%s/witness.key", wdir);
	rc = fs_read_file(path, 4096, &skey, &len, err);
	if (rc == LS_NOTFOUND)
		rc = ls_err_set(err, LS_NOTFOUND, "%s: no witness key (run logseal witness init)",
				path);
	if (rc == LS_OK) {
		rc = cosig_signer_parse(skey, len, &w->key, err);
		ls_wipe(skey, len);
	}
	free(skey);
	if (rc != LS_OK) {
		witness_close(w);
		return rc;
	}
	cosig_signer_verifier(&w->key, &w->vkey);
	for (size_t i = 0; i < nlogs; i++) {
		struct wlog *l = NULL;

		for (size_t k = 0; k < w->nlogs; k++)
			if (strcmp(w->logs[k].origin, logs[i].origin) == 0)
				l = &w->logs[k];
		if (!l) {
			l = &w->logs[w->nlogs++];
			memcpy(l->origin, logs[i].origin, sizeof(l->origin));
			origin_hex(l->origin, l->hex);
		}
		if (l->nkeys == sizeof(l->keys) / sizeof(l->keys[0])) {
			witness_close(w);
			return ls_err_set(err, LS_LIMIT, "more than 8 keys for %s", l->origin);
		}
		l->keys[l->nkeys++] = logs[i].key;
	}
	snprintf(path, sizeof(path), "%s/state", wdir);
	rc = fs_mkdirs(path, 0700, err);
	if (rc == LS_OK) {
		snprintf(path, sizeof(path), "%s/evidence", wdir);
		rc = fs_mkdirs(path, 0700, err);
	}
	for (size_t k = 0; rc == LS_OK && k < w->nlogs; k++)
		rc = load_state(w, &w->logs[k], err);
	if (rc != LS_OK) {
		witness_close(w);
		return rc;
	}
	{
		/* Count the evidence already kept (the cap is for the directory). */
		char cmdpath[4096];
		FILE *f;

		snprintf(cmdpath, sizeof(cmdpath), "%s/evidence/refusals.log", wdir);
		f = fopen(cmdpath, "r");
		if (f) {
			int c;

			while ((c = fgetc(f)) != EOF)
				if (c == '\n')
					w->evidence++;
			fclose(f);
		}
	}
	*out = w;
	return LS_OK;
}

void witness_close(struct witness *w)
{
	if (!w)
		return;
	for (size_t k = 0; w->logs && k < w->nlogs; k++)
		free(w->logs[k].state);
	free(w->logs);
	free(w->dir);
	cosig_signer_wipe(&w->key);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

void witness_vkey(const struct witness *w, char *out, size_t cap)
{
	cosig_verifier_format(&w->vkey, out, cap);
}

/* ------------------------------------------------------------------------
 * Replies and evidence
 */

static void reply(struct witness_reply *rep, int status, const char *ctype, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply(struct witness_reply *rep, int status, const char *ctype, const char *fmt, ...)
{
	va_list ap;
	int n;

	rep->status = status;
	rep->ctype = ctype;
	rep->body = malloc(512);
	rep->len = 0;
	if (!rep->body)
		return;
	va_start(ap, fmt);
	n = vsnprintf(rep->body, 512, fmt, ap);
	va_end(ap);
	rep->len = n < 0 ? 0 : (size_t)n >= 512 ? 511 : (size_t)n;
}

/* Log a refusal and, for a known log, keep the body.  Called under w->mu. */
static void refuse(struct witness *w, const struct wlog *l, const char *origin, int status,
		   const char *body, size_t n, const char *reason)
{
	struct timespec ts;
	char path[4096], file[256] = "-", line[1024];
	struct ls_err err = { { 0 } };
	uint64_t ns;
	FILE *f;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (l && w->evidence < WITNESS_MAX_EVIDENCE) {
		snprintf(file, sizeof(file), "%020" PRIu64 "-%d-%.8s.req", ns, status, l->hex);
		snprintf(path, sizeof(path), "%s/evidence/%s", w->dir, file);
		if (fs_write_file(path, body, n, 0600, 1, &err) != LS_OK) {
			fprintf(stderr, "logseal witness: cannot keep evidence %s: %s\n", path,
				err.msg);
			snprintf(file, sizeof(file), "-");
		}
	}
	snprintf(line, sizeof(line), "%" PRIu64 " %d %s %s %s\n", ns, status,
		 origin && *origin ? origin : "-", file, reason);
	fprintf(stderr, "logseal witness: refused %d: %s", status, line);
	if (l) {
		snprintf(path, sizeof(path), "%s/evidence/refusals.log", w->dir);
		f = fopen(path, "a");
		if (f) {
			fputs(line, f);
			fflush(f);
			fsync(fileno(f));
			fclose(f);
		}
		w->evidence++;
	}
}

/* ------------------------------------------------------------------------
 * add-checkpoint
 */

static struct wlog *find_log(struct witness *w, const char *origin)
{
	for (size_t k = 0; k < w->nlogs; k++)
		if (strcmp(w->logs[k].origin, origin) == 0)
			return &w->logs[k];
	return NULL;
}

/* The new state: the checkpoint text, the log's signature lines that
 * verified (those of its keys), and our cosignature line. */
static ls_rc make_state(const struct wlog *l, const char *note, size_t n, const char *line,
			char **out, size_t *len)
{
	struct note_split *sp = malloc(sizeof(*sp));
	size_t o, ll = strlen(line);
	char *b;

	if (!sp)
		return LS_NOMEM;
	if (note_split(note, n, sp, NULL) != LS_OK || !(b = malloc(n + ll + 2))) {
		free(sp);
		return LS_NOMEM;
	}
	memcpy(b, note, sp->text_len + 1);	/* the text and the blank line */
	o = sp->text_len + 1;
	for (size_t i = 0; i < sp->nsigs; i++) {
		const struct note_sigref *r = &sp->sigs[i];

		for (size_t k = 0; k < l->nkeys; k++) {
			size_t kl = strlen(l->keys[k].name);

			if (l->keys[k].key_id == r->key_id && kl == r->name_len &&
			    memcmp(l->keys[k].name, note + r->name_off, kl) == 0) {
				memcpy(b + o, note + r->off, r->len + 1);
				o += r->len + 1;
				break;
			}
		}
	}
	memcpy(b + o, line, ll);
	o += ll;
	b[o] = 0;
	free(sp);
	*out = b;
	*len = o;
	return LS_OK;
}

void witness_add_checkpoint(struct witness *w, const char *body, size_t n, uint64_t now,
			    struct witness_reply *rep)
{
	struct witness_req *rq = malloc(sizeof(*rq));
	struct ls_err err = { { 0 } };
	struct note_split *sp = malloc(sizeof(*sp));
	struct checkpoint cp;
	struct wlog *l;
	uint8_t empty[LS_HASH_LEN];
	char line[COSIG_LINE_MAX], why[700], path[4096], *st = NULL;
	size_t st_len = 0;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	if (!rq || !sp) {
		reply(rep, 500, "text/plain", "out of memory\n");
		goto out;
	}
	pthread_mutex_lock(&w->mu);
	if (witness_req_parse(body, n, rq, &err) != LS_OK ||
	    note_split(rq->note, rq->note_len, sp, &err) != LS_OK ||
	    checkpoint_parse(rq->note, sp->text_len, &cp, &err) != LS_OK) {
		refuse(w, NULL, NULL, 400, body, n, err.msg);
		reply(rep, 400, "text/plain", "malformed request: %s\n", err.msg);
		goto unlock;
	}
	l = find_log(w, cp.origin);
	if (!l) {
		refuse(w, NULL, cp.origin, 404, body, n, "unknown log");
		reply(rep, 404, "text/plain", "unknown log\n");
		goto unlock;
	}
	rc = note_open(rq->note, rq->note_len, l->keys, l->nkeys, NULL, &err);
	if (rc != LS_OK) {
		snprintf(why, sizeof(why), "log signature: %s", err.msg);
		refuse(w, l, l->origin, 403, body, n, why);
		reply(rep, 403, "text/plain", "%s\n", why);
		goto unlock;
	}
	if (rq->old > cp.size) {
		snprintf(why, sizeof(why), "old size %" PRIu64 " > checkpoint size %" PRIu64,
			 rq->old, cp.size);
		refuse(w, l, l->origin, 400, body, n, why);
		reply(rep, 400, "text/plain", "%s\n", why);
		goto unlock;
	}
	if (rq->old != (l->has_state ? l->size : 0)) {
		snprintf(why, sizeof(why), "old size %" PRIu64 ", latest cosigned %" PRIu64,
			 rq->old, l->has_state ? l->size : 0);
		refuse(w, l, l->origin, 409, body, n, why);
		rep->status = 409;
		rep->ctype = "text/x.tlog.size";
		rep->body = malloc(32);
		if (rep->body) {
			witness_size_format(l->has_state ? l->size : 0, rep->body, 32);
			rep->len = strlen(rep->body);
		}
		goto unlock;
	}
	merkle_empty_root(empty);
	why[0] = 0;
	if (cp.size == 0 && memcmp(cp.root, empty, LS_HASH_LEN) != 0)
		snprintf(why, sizeof(why), "size 0 with a root other than the empty tree's");
	else if (rq->old == 0 && rq->nproof)
		snprintf(why, sizeof(why), "a proof from size 0");
	else if (rq->old == cp.size && l->has_state && memcmp(cp.root, l->root, LS_HASH_LEN) != 0)
		snprintf(why, sizeof(why),
			 "fork: size %" PRIu64 " with another root than the one cosigned", cp.size);
	else if (rq->old > 0 &&
		 merkle_verify_consistency(rq->old, cp.size, l->root, cp.root,
					   (const uint8_t(*)[LS_HASH_LEN])rq->proof,
					   rq->nproof) != LS_OK)
		snprintf(why, sizeof(why),
			 "consistency proof %" PRIu64 " -> %" PRIu64 " does not verify "
			 "(a fork or a rewritten history)", rq->old, cp.size);
	if (why[0]) {
		refuse(w, l, l->origin, 422, body, n, why);
		reply(rep, 422, "text/plain", "%s\n", why);
		goto unlock;
	}
	if (cosig_sign(&w->key, rq->note, sp->text_len, now ? now : 1, line, sizeof(line),
		       &err) != LS_OK ||
	    make_state(l, rq->note, rq->note_len, line, &st, &st_len) != LS_OK) {
		reply(rep, 500, "text/plain", "cannot cosign\n");
		goto unlock;
	}
	snprintf(path, sizeof(path), "%s/state/%s", w->dir, l->hex);
	if (fs_write_file(path, st, st_len, 0644, 0, &err) != LS_OK) {
		fprintf(stderr, "logseal witness: cannot record %s: %s\n", path, err.msg);
		free(st);
		reply(rep, 500, "text/plain", "cannot record the checkpoint\n");
		goto unlock;
	}
	free(l->state);
	l->state = st;
	l->state_len = st_len;
	l->has_state = 1;
	l->size = cp.size;
	memcpy(l->root, cp.root, LS_HASH_LEN);
	reply(rep, 200, "text/plain; charset=utf-8", "%s", line);
unlock:
	pthread_mutex_unlock(&w->mu);
out:
	free(rq);
	free(sp);
}

void witness_get_checkpoint(struct witness *w, const char *hexhash, struct witness_reply *rep)
{
	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&w->mu);
	for (size_t k = 0; k < w->nlogs; k++) {
		struct wlog *l = &w->logs[k];

		if (strcmp(l->hex, hexhash) != 0 || !l->has_state)
			continue;
		rep->body = malloc(l->state_len + 1);
		if (!rep->body)
			break;
		memcpy(rep->body, l->state, l->state_len);
		rep->len = l->state_len;
		rep->status = 200;
		rep->ctype = "text/plain; charset=utf-8";
		pthread_mutex_unlock(&w->mu);
		return;
	}
	pthread_mutex_unlock(&w->mu);
	reply(rep, 404, "text/plain", "no cosigned checkpoint for that log\n");
}
