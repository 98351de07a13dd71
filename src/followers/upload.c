/*
 * upload.c - the uploader thread and its workers (upload.h): rounds that
 * bring the bucket up to the latest signed checkpoint, step by step, the
 * progress in DIR/objstore/state, the backlog and the statistics.
 *
 * DIR/objstore/state (JSON, replaced durably: temp file, fsync, rename):
 *	{"url": the store it is about (another URL starts over),
 *	 "size": tree size of the log/checkpoint in the bucket,
 *	 "checkpoint_sha": SHA-256 (hex) of that log/checkpoint's bytes,
 *	 "full": every full tile and bundle of a tree of this size is up,
 *	 "segments_next": every local segment whose first index is below is up,
 *	 "checkpoints": every checkpoints/<s>, s <= this, is up,
 *	 "verifier_sha", "datakeys_sha": SHA-256 of the key files last put}
 * What it claims is always in the bucket (it is saved after the uploads it
 * names); a crash loses at most the claim, and the re-upload of a
 * write-once object with the same bytes succeeds.
 */
#include "followers/upload.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "store/bundlekey.h"
#include "store/reader.h"
#include "store/tiles.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define MAX_THREADS 64
#define NOTE_CAP (1u << 20)

enum job_kind { J_SEGMENT, J_TILE, J_CHECKPOINT, J_LATEST, J_FILE };

struct job {
	enum job_kind kind;
	int level;		/* tiles: -1 entries */
	uint64_t n;		/* tile index, segment first, checkpoint size */
	unsigned w;
	int locked;
	char key[OBJSTORE_KEY_MAX];
	char path[PATH_MAX];	/* segment, checkpoint or key file */
	const char *text;	/* J_LATEST: the note */
	size_t textlen;
	int result;		/* 0 pending, 1 up, 2 skipped (not here), -1 conflict */
	int fresh;		/* never tried before: no HEAD before a write-once PUT */
};

struct state {
	char url[1024];
	uint64_t size, full, segments_next, checkpoints;
	char checkpoint_sha[65], verifier_sha[65], datakeys_sha[65];
};

struct upload {
	struct upload_opts o;
	char dir[PATH_MAX];
	struct objstore_cfg cfg;
	struct objstore *store;
	int encrypted;
	uint8_t bkey[BUNDLEKEY_LEN];
	char origin[512];
	pthread_t main;
	pthread_t workers[MAX_THREADS];
	unsigned nworkers;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* wakes the main thread and the workers */
	pthread_cond_t done_cv;	/* a job finished */
	int stop, kicked;
	/* the step in hand */
	struct job *jobs;
	size_t njobs, next, finished;
	uint64_t step_id;
	/* state and statistics, under mu */
	struct state st;
	struct upload_stats stats;
	uint64_t seg_pending_bytes, seg_pending;
	atomic_int over;
	int64_t last_said;	/* when a failure was last said */
	long cpidx_off;		/* DIR/checkpoints.index read up to here */
	/* A step of full tiles and bundles (of checkpoints) completed in this
	 * process: the objects of the later steps were never tried before, by
	 * this process or an earlier one (the state file moves step by step),
	 * so their write-once PUTs skip the HEAD objstore_put() makes first
	 * (objstore.h invariant 2): half the requests.  The first step after
	 * a start and every retry still look first. */
	int seen_full, seen_cp;
	/* The bucket's Object Lock, asked once it answers (objstore_ping):
	 * without it a PUT with a retention is refused (400 InvalidRequest),
	 * so objects are then written once but unlocked, and that is said. */
	int lock_known, no_lock;
	/* Cluster mode (upload_gate): this node may not upload the latest
	 * checkpoint (another node integrates); the bucket's log/checkpoint
	 * was read once; a larger one there was said. */
	atomic_int gated_out;
	int bucket_read;
	unsigned gate_rounds;
	uint64_t said_ahead;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void say(struct upload *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct upload *u, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!u->o.notice)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	u->o.notice(u->o.notice_ctx, msg);
}

static void sha_hex(const void *d, size_t n, char out[65])
{
	uint8_t h[LS_HASH_LEN];

	ls_sha256(d, n, NULL, 0, h);
	ls_hex(h, sizeof(h), out);
}

/* ---------------------------------------------------------------- state --- */

static void state_load(struct upload *u)
{
	char path[PATH_MAX], *text = NULL;
	struct state *s = &u->st;
	json_error_t je;
	size_t len;
	json_t *o;

	memset(s, 0, sizeof(*s));
	snprintf(s->url, sizeof(s->url), "%s", u->cfg.url);
	snprintf(path, sizeof(path), "%s/%s", u->dir, UPLOAD_STATE_FILE);
	if (fs_read_file(path, 1u << 20, &text, &len, NULL) != LS_OK)
		return;
	o = json_loadb(text, len, 0, &je);
	free(text);
	if (!json_is_object(o) ||
	    strcmp(json_string_value(json_object_get(o, "url")) ?: "", u->cfg.url) != 0) {
		if (o)
			say(u, "object store: %s is about another store or unreadable: "
			    "uploading everything again (objects already there are compared)",
			    path);
		json_decref(o);
		return;
	}
#define U64(k) (json_is_integer(json_object_get(o, k)) ? \
		(uint64_t)json_integer_value(json_object_get(o, k)) : 0)
	s->size = U64("size");
	s->full = U64("full");
	s->segments_next = U64("segments_next");
	s->checkpoints = U64("checkpoints");
#undef U64
	snprintf(s->checkpoint_sha, 65, "%s",
		 json_string_value(json_object_get(o, "checkpoint_sha")) ?: "");
	snprintf(s->verifier_sha, 65, "%s",
		 json_string_value(json_object_get(o, "verifier_sha")) ?: "");
	snprintf(s->datakeys_sha, 65, "%s",
		 json_string_value(json_object_get(o, "datakeys_sha")) ?: "");
	json_decref(o);
}

static ls_rc state_save(struct upload *u, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	struct state s;
	json_t *o;
	ls_rc rc;

	pthread_mutex_lock(&u->mu);
	s = u->st;
	pthread_mutex_unlock(&u->mu);
	o = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:s, s:s}", "url", s.url, "size",
		      (json_int_t)s.size, "checkpoint_sha", s.checkpoint_sha, "full",
		      (json_int_t)s.full, "segments_next", (json_int_t)s.segments_next,
		      "checkpoints", (json_int_t)s.checkpoints, "verifier_sha", s.verifier_sha,
		      "datakeys_sha", s.datakeys_sha);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/objstore", u->dir);
	rc = fs_mkdirs(path, 0700, err);
	snprintf(path, sizeof(path), "%s/%s", u->dir, UPLOAD_STATE_FILE);
	if (rc == LS_OK)
		rc = fs_write_file(path, text, strlen(text), 0600, 0, err);
	free(text);
	return rc;
}

/* ------------------------------------------------------------- one job --- */

static void note_failure(struct upload *u, const char *msg)
{
	int64_t now = now_s();
	uint64_t nfail;
	int tell;

	/* Said at the first failure after a success, then at most every 30 s. */
	pthread_mutex_lock(&u->mu);
	nfail = ++u->stats.failures;
	u->stats.reachable = 0;
	snprintf(u->stats.last_error, sizeof(u->stats.last_error), "%s", msg);
	tell = now - u->last_said >= 30;
	if (tell)
		u->last_said = now;
	pthread_mutex_unlock(&u->mu);
	if (tell)
		say(u, "object store: upload failed (%" PRIu64 " failures so far), retrying "
		    "with backoff: %s", nfail, msg);
}

static void note_success(struct upload *u, size_t bytes)
{
	int was;

	pthread_mutex_lock(&u->mu);
	was = u->stats.last_error[0] != 0;
	u->stats.uploaded_objects++;
	u->stats.uploaded_bytes += bytes;
	u->stats.last_success = now_s();
	u->stats.reachable = 1;
	u->stats.last_error[0] = 0;
	u->last_said = 0;
	pthread_mutex_unlock(&u->mu);
	if (was)
		say(u, "object store: %s reachable again, uploads resume",
		    objstore_describe(u->store));
}

/* The bytes of job j (not segments: streamed from their file).  LS_NOTFOUND:
 * not here (below the retained point, a missing file): skipped. */
static ls_rc job_bytes(struct upload *u, struct job *j, uint8_t **data, size_t *len,
		       struct ls_err *err)
{
	char logdir[PATH_MAX];
	uint8_t *pt;
	size_t n;
	ls_rc rc;

	switch (j->kind) {
	case J_TILE:
		if (j->level >= 0) {
			snprintf(logdir, sizeof(logdir), "%s/log", u->dir);
			return tiles_read_file(logdir, j->level, j->n, j->w, data, len, err);
		}
		snprintf(logdir, sizeof(logdir), "%s/journal", u->dir);
		rc = store_bundle(logdir, j->n, j->w, &pt, &n, err);
		if (rc != LS_OK || !u->encrypted) {
			if (rc == LS_OK) {
				*data = pt;
				*len = n;
			}
			return rc;
		}
		rc = bundlekey_seal(u->bkey, u->origin, j->n, j->w, pt, n, data, len);
		free(pt);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "sealing bundle %" PRIu64 " for the bucket", j->n);
		return LS_OK;
	case J_LATEST:
		*data = malloc(j->textlen + 1);
		if (!*data)
			return ls_err_set(err, LS_NOMEM, "out of memory");
		memcpy(*data, j->text, j->textlen);
		*len = j->textlen;
		return LS_OK;
	default:
		return fs_read_file(j->path, 256u << 20, (char **)data, len, err);
	}
}

/* A write-once object is there already: same bytes (or, for an envelope,
 * the same bundle inside) is success. */
static int same_object(struct upload *u, struct job *j, const uint8_t *mine, size_t n,
		       const char *theirs, size_t tn)
{
	uint8_t *a = NULL, *b = NULL;
	size_t an, bn;
	int same;

	if (tn == n && memcmp(mine, theirs, n) == 0)
		return 1;
	if (j->kind != J_TILE || j->level >= 0 || !u->encrypted)
		return 0;
	same = bundlekey_open(u->bkey, u->origin, j->n, j->w, mine, n, &a, &an, NULL) == LS_OK &&
	       bundlekey_open(u->bkey, u->origin, j->n, j->w, theirs, tn, &b, &bn, NULL) ==
		       LS_OK &&
	       an == bn && memcmp(a, b, an) == 0;
	free(a);
	free(b);
	return same;
}

/* One attempt: LS_OK (up, or already there with the same bytes),
 * LS_NOTFOUND (not here: skipped), LS_TAMPERED (conflict), else a failure
 * to retry. */
static ls_rc job_try(struct upload *u, struct job *j, int fresh, struct ls_err *err)
{
	struct objstore_put_opts po;
	uint8_t *data = NULL;
	char *theirs = NULL;
	size_t len = 0, tn;
	ls_rc rc;

	memset(&po, 0, sizeof(po));
	if (j->locked) {
		po.if_none_match = fresh ? 2 : 1;
		if (!u->no_lock)
			po.lock_until = now_s() + (int64_t)u->o.lock_days * 86400;
	}
	if (j->kind == J_CHECKPOINT || j->kind == J_LATEST || j->kind == J_FILE)
		po.content_type = "text/plain; charset=utf-8";
	if (j->kind == J_SEGMENT) {
		struct stat sb;

		if (stat(j->path, &sb) != 0)
			return ls_err_set(err, LS_NOTFOUND, "%s: %s", j->path, strerror(errno));
		len = (size_t)sb.st_size;
		rc = objstore_put_file(u->store, j->key, j->path, &po, err);
	} else {
		rc = job_bytes(u, j, &data, &len, err);
		if (rc == LS_NOTFOUND && j->kind == J_TILE) {
			/* Skipped only when retention moved the entries out;
			 * anything else not found now is retried. */
			char jd[PATH_MAX];
			uint64_t kept = 0;

			snprintf(jd, sizeof(jd), "%s/journal", u->dir);
			if (j->level >= 0 || store_retained(jd, &kept, NULL) != LS_OK ||
			    j->n * TILE_WIDTH + j->w > kept)
				return ls_err_set(err, LS_IO, "%s: not readable yet (%s)", j->key,
						  err && err->msg[0] ? err->msg : "not found");
		}
		if (rc != LS_OK)
			return rc;
		rc = objstore_put(u->store, j->key, data, len, &po, err);
	}
	if (rc == LS_OK) {
		free(data);
		note_success(u, len);
		return LS_OK;
	}
	if (rc != LS_EXISTS) {
		free(data);
		return rc;
	}
	/* There already: compare. */
	if (j->kind == J_SEGMENT) {
		size_t fl;

		rc = fs_read_file(j->path, 1u << 30, (char **)&data, &fl, err);
		if (rc != LS_OK)
			return rc;
		len = fl;
	}
	rc = objstore_get(u->store, j->key, &theirs, &tn, len + 1, err);
	if (rc == LS_LIMIT)
		tn = (size_t)-1;
	else if (rc != LS_OK) {
		free(data);
		return rc;
	}
	if (rc == LS_OK && same_object(u, j, data, len, theirs, tn)) {
		free(data);
		free(theirs);
		note_success(u, 0);
		return LS_OK;
	}
	free(data);
	free(theirs);
	return ls_err_set(err, LS_TAMPERED,
			  "%s: %s is already in the bucket with OTHER bytes than this log's "
			  "(write-once, locked): the bucket and the log disagree; uploads stop "
			  "until this is resolved", objstore_describe(u->store), j->key);
}

/* Sleep ms unless stopped; returns 1 when stopped. */
static int nap(struct upload *u, unsigned ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&u->mu);
	if (!u->stop)
		pthread_cond_timedwait(&u->cv, &u->mu, &ts);
	stop = u->stop;
	pthread_mutex_unlock(&u->mu);
	return stop;
}

static void job_run(struct upload *u, struct job *j)
{
	unsigned delay = BACKOFF_MIN_MS;
	struct ls_err err = { "" };
	int fresh = j->fresh;
	ls_rc rc;

	for (;;) {
		err.msg[0] = 0;
		rc = job_try(u, j, fresh, &err);
		/* A failed PUT may have landed all the same: look next time. */
		fresh = 0;
		if (rc == LS_OK) {
			j->result = 1;
			return;
		}
		if (rc == LS_NOTFOUND) {
			j->result = 2;
			return;
		}
		if (rc == LS_TAMPERED) {
			pthread_mutex_lock(&u->mu);
			u->stats.conflicts++;
			u->stats.conflict = 1;
			snprintf(u->stats.last_error, sizeof(u->stats.last_error), "%s", err.msg);
			pthread_mutex_unlock(&u->mu);
			say(u, "object store CONFLICT: %s", err.msg);
			j->result = -1;
			return;
		}
		note_failure(u, err.msg[0] ? err.msg : ls_rc_name(rc));
		if (nap(u, delay))
			return;
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
}

static void *worker_main(void *arg)
{
	struct upload *u = arg;

	pthread_mutex_lock(&u->mu);
	for (;;) {
		while (!u->stop && u->next >= u->njobs)
			pthread_cond_wait(&u->cv, &u->mu);
		if (u->stop)
			break;
		{
			struct job *j = &u->jobs[u->next++];

			pthread_mutex_unlock(&u->mu);
			job_run(u, j);
			pthread_mutex_lock(&u->mu);
			u->finished++;
			pthread_cond_broadcast(&u->done_cv);
		}
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

static void backlog_update(struct upload *u);

/* Run the jobs of one step on the workers; 0 when every one is up or
 * skipped, -1 on a conflict or a stop.  While it waits (an outage) the
 * backlog is measured every second, so the metric and the bound follow
 * the log. */
static int run_step(struct upload *u, struct job *jobs, size_t n)
{
	int bad = 0;

	if (!n)
		return 0;
	pthread_mutex_lock(&u->mu);
	u->jobs = jobs;
	u->njobs = n;
	u->next = 0;
	u->finished = 0;
	u->step_id++;
	pthread_cond_broadcast(&u->cv);
	while (u->finished < n && !(u->stop && u->finished == u->next)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (pthread_cond_timedwait(&u->done_cv, &u->mu, &ts) == ETIMEDOUT) {
			pthread_mutex_unlock(&u->mu);
			backlog_update(u);
			pthread_mutex_lock(&u->mu);
		}
	}
	u->njobs = 0;
	u->jobs = NULL;
	if (u->stop)
		bad = 1;
	pthread_mutex_unlock(&u->mu);
	for (size_t i = 0; i < n && !bad; i++)
		if (jobs[i].result <= 0)
			bad = 1;
	return bad ? -1 : 0;
}

/* --------------------------------------------------------------- rounds --- */

struct jobs {
	struct job *v;
	size_t n, cap;
};

static struct job *jobs_add(struct jobs *js)
{
	if (js->n == js->cap) {
		size_t c = js->cap ? js->cap * 2 : 64;
		struct job *v = realloc(js->v, c * sizeof(*v));

		if (!v)
			return NULL;
		js->v = v;
		js->cap = c;
	}
	memset(&js->v[js->n], 0, sizeof(js->v[0]));
	return &js->v[js->n++];
}

static int add_tile(void *ctx, int level, uint64_t n, unsigned w)
{
	struct jobs *js = ctx;
	struct job *j = jobs_add(js);

	if (!j)
		return -1;
	j->kind = J_TILE;
	j->level = level;
	j->n = n;
	j->w = w;
	j->locked = w == TILE_WIDTH;
	upload_tile_key(level, n, w, j->key, sizeof(j->key));
	return 0;
}

static int count_tile(void *ctx, int level, uint64_t n, unsigned w)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

/* "<016x>.seal" -> first index. */
static int seg_name(const char *name, uint64_t *first)
{
	char *end;

	if (strlen(name) != 21 || strcmp(name + 16, ".seal") != 0)
		return 0;
	errno = 0;
	*first = strtoull(name, &end, 16);
	return !errno && end == name + 16;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Local segments whose first index is >= from, ascending; *bytes their size. */
static size_t list_segments(struct upload *u, uint64_t from, uint64_t **out, uint64_t *bytes)
{
	char path[PATH_MAX];
	struct dirent *de;
	uint64_t *v = NULL, f;
	size_t n = 0, cap = 0;
	DIR *d;

	*out = NULL;
	*bytes = 0;
	snprintf(path, sizeof(path), "%s/segments", u->dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat sb;

		if (!seg_name(de->d_name, &f) || f < from)
			continue;
		if (n == cap) {
			uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		v[n++] = f;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) == 0)
			*bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	return n;
}

static size_t list_checkpoints_dir(struct upload *u, uint64_t from, uint64_t to,
				   uint64_t **out);

/* Signed checkpoints with from < size <= to, ascending: from the lines of
 * DIR/checkpoints.index (append-only, one per checkpoint, "<size> <prev>
 * ..."), read on from where the last call stopped, so a log of millions of
 * checkpoints costs only its new lines; a directory without the index is
 * listed instead. */
static size_t list_checkpoints(struct upload *u, uint64_t from, uint64_t to, uint64_t **out,
			       long *next_off)
{
	char path[PATH_MAX], line[512];
	uint64_t *v = NULL, s;
	size_t n = 0, cap = 0;
	struct stat sb;
	long off;
	FILE *f;

	*out = NULL;
	*next_off = u->cpidx_off;
	snprintf(path, sizeof(path), "%s/checkpoints.index", u->dir);
	f = fopen(path, "r");
	if (!f)
		return list_checkpoints_dir(u, from, to, out);
	off = u->cpidx_off;
	if (fstat(fileno(f), &sb) != 0 || sb.st_size < off)
		off = 0;	/* replaced offline: read it again */
	if (fseek(f, off, SEEK_SET) != 0) {
		off = 0;
		rewind(f);
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		char *end;

		if (!len || line[len - 1] != '\n')
			break;		/* a line being written: next time */
		errno = 0;
		s = strtoull(line, &end, 10);
		if (errno || end == line || *end != ' ')
			break;
		if (s > to)
			break;		/* beyond this round: read it again next time */
		off += (long)len;
		if (s < from || (s == from && from > 0))
			continue;	/* up already (size 0 only while nothing is) */
		if (n == cap) {
			uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		v[n++] = s;
	}
	fclose(f);
	*next_off = off;	/* taken once they are up */
	*out = v;
	return n;
}

/* The same from a listing of DIR/checkpoints (no index). */
static size_t list_checkpoints_dir(struct upload *u, uint64_t from, uint64_t to,
				   uint64_t **out)
{
	char path[PATH_MAX];
	struct dirent *de;
	uint64_t *v = NULL, s;
	size_t n = 0, cap = 0;
	DIR *d;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/checkpoints", u->dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		s = strtoull(de->d_name, &end, 10);
		if (errno || *end || s < from || (s == from && from > 0) || s > to)
			continue;
		if (n == cap) {
			uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		v[n++] = s;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	return n;
}

static void checkpoint_path(struct upload *u, uint64_t size, char *out, size_t cap)
{
	snprintf(out, cap, "%s/checkpoints/%020" PRIu64, u->dir, size);
}

/* The key files: put when their bytes changed. */
static int round_keys(struct upload *u)
{
	static const struct {
		const char *rel, *key;
	} files[] = {
		{ "verifier.key", "keys/verifier.key" },
		{ "keys/datakeys.json", "keys/datakeys.json" },
	};
	struct job jobs[2];
	char sha[2][65];
	size_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX], *text = NULL, *have;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", u->dir, files[i].rel);
		if (fs_read_file(path, 16u << 20, &text, &len, NULL) != LS_OK)
			continue;
		sha_hex(text, len, sha[i]);
		free(text);
		have = i == 0 ? u->st.verifier_sha : u->st.datakeys_sha;
		if (!strcmp(have, sha[i]))
			continue;
		memset(&jobs[n], 0, sizeof(jobs[n]));
		jobs[n].kind = J_FILE;
		jobs[n].n = i;
		snprintf(jobs[n].path, sizeof(jobs[n].path), "%s", path);
		snprintf(jobs[n].key, sizeof(jobs[n].key), "%s", files[i].key);
		n++;
	}
	if (!n)
		return 0;
	if (run_step(u, jobs, n) != 0)
		return -1;
	pthread_mutex_lock(&u->mu);
	for (size_t i = 0; i < n; i++)
		snprintf(jobs[i].n == 0 ? u->st.verifier_sha : u->st.datakeys_sha, 65, "%s",
			 sha[jobs[i].n]);
	pthread_mutex_unlock(&u->mu);
	return 0;
}

/* ---------------------------------------------------------- the gate --- */

/* The bucket's log/checkpoint size (-1: none), told to the gate. */
static int64_t bucket_latest(struct upload *u)
{
	struct ls_err err = { "" };
	char *note = NULL;
	size_t len = 0;
	int64_t size = -2;
	ls_rc rc = objstore_get(u->store, "log/checkpoint", &note, &len, NOTE_CAP, &err);

	if (rc == LS_NOTFOUND)
		size = -1;
	else if (rc == LS_OK)
		size = upload_note_size(note, len);
	if (size >= -1) {
		u->bucket_read = 1;
		if (u->o.gate->published)
			u->o.gate->published(u->o.gate->ctx, size, note, size >= 0 ? len : 0);
	}
	free(note);
	return size;
}

struct put_latest {
	struct upload *u;
	struct job *j;
};

static ls_rc put_latest(void *ctx, struct ls_err *err)
{
	struct put_latest *p = ctx;

	return job_try(p->u, p->j, 0, err);
}

/* Cluster mode: log/checkpoint of size S goes up under the integration
 * lock, never over a larger one; 0 when it is up, -1 when not (now). */
static int publish_latest(struct upload *u, struct job *j, uint64_t S)
{
	struct put_latest p = { u, j };
	struct ls_err err = { "" };
	int64_t there = bucket_latest(u);
	ls_rc rc;

	if (there < -1)
		return -1;	/* not reachable: the next round asks again */
	if (there > (int64_t)S) {
		if (u->said_ahead != (uint64_t)there) {
			u->said_ahead = (uint64_t)there;
			say(u, "object store: the bucket's log/checkpoint has size %lld, more than "
			    "this node's %llu: not published over it", (long long)there,
			    (unsigned long long)S);
		}
		return -1;
	}
	rc = u->o.gate->publish(u->o.gate->ctx, S, put_latest, &p, &err);
	if (rc == LS_OK)
		return 0;
	if (rc != LS_BUSY)
		note_failure(u, err.msg[0] ? err.msg : ls_rc_name(rc));
	return -1;
}

/* One round up to the latest signed checkpoint; 0 when the bucket is
 * there (or nothing was to do), -1 when it stopped short. */
static int round_run(struct upload *u)
{
	char path[PATH_MAX], *note = NULL, sha[65];
	struct ls_err err = { "" };
	struct jobs js = { 0 };
	uint64_t *segs = NULL, *cps = NULL, segbytes, S;
	size_t nseg, ncp, len;
	long cpoff;
	int64_t sz;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/log/checkpoint", u->dir);
	if (fs_read_file(path, NOTE_CAP, &note, &len, NULL) != LS_OK)
		return -1;
	sz = upload_note_size(note, len);
	if (sz < 0) {
		free(note);
		return -1;
	}
	S = (uint64_t)sz;
	if (!u->origin[0]) {
		const char *nl = memchr(note, '\n', len);

		snprintf(u->origin, sizeof(u->origin), "%.*s", nl ? (int)(nl - note) : 0, note);
	}
	pthread_mutex_lock(&u->mu);
	u->stats.log_size = S;
	pthread_mutex_unlock(&u->mu);
	if (u->o.gate) {
		/* read at the first round, then now and then: the integrator
		 * checks the database against it (store/cluster.h) */
		if (!u->bucket_read || ++u->gate_rounds % 25 == 0)
			bucket_latest(u);
		if (!u->o.gate->may_upload(u->o.gate->ctx, S)) {
			atomic_store(&u->gated_out, 1);
			free(note);
			return 0;
		}
		atomic_store(&u->gated_out, 0);
	}

	/* 1. segments */
	nseg = list_segments(u, u->st.segments_next, &segs, &segbytes);
	for (size_t i = 0; i < nseg; i++) {
		struct job *j = jobs_add(&js);

		if (!j)
			goto out;
		j->kind = J_SEGMENT;
		j->n = segs[i];
		j->locked = 1;
		upload_segment_key(segs[i], j->key, sizeof(j->key));
		snprintf(j->path, sizeof(j->path), "%s/segments/%016" PRIx64 ".seal", u->dir,
			 segs[i]);
	}
	if (run_step(u, js.v, js.n) != 0)
		goto out;
	if (nseg) {
		pthread_mutex_lock(&u->mu);
		u->st.segments_next = segs[nseg - 1] + 1;
		pthread_mutex_unlock(&u->mu);
		if (state_save(u, &err) != LS_OK)
			say(u, "object store: saving the upload state: %s", err.msg);
	}
	js.n = 0;
	/* 2. full tiles and bundles, chunk by chunk */
	while (u->st.full < S) {
		uint64_t to = (u->st.full / UPLOAD_CHUNK + 1) * UPLOAD_CHUNK;

		if (to > S)
			to = S;
		js.n = 0;
		if (upload_plan_full(u->st.full, to, add_tile, &js) != 0)
			goto out;
		for (size_t i = 0; i < js.n; i++)
			js.v[i].fresh = u->seen_full;
		if (run_step(u, js.v, js.n) != 0)
			goto out;
		u->seen_full = 1;
		{
			size_t skipped = 0, first = 0;

			for (size_t i = 0; i < js.n; i++)
				if (js.v[i].result == 2 && !skipped++)
					first = i;
			if (skipped)
				say(u, "object store: %zu objects from %s on are not here any more "
				    "(retention moved their entries out): not uploaded", skipped,
				    js.v[first].key);
		}
		pthread_mutex_lock(&u->mu);
		u->st.full = to;
		pthread_mutex_unlock(&u->mu);
		if (state_save(u, &err) != LS_OK)
			say(u, "object store: saving the upload state: %s", err.msg);
	}
	sha_hex(note, len, sha);
	if (S == u->st.size && !strcmp(sha, u->st.checkpoint_sha)) {
		rc = 0;
		goto out;
	}
	/* 3. partial tiles of S */
	js.n = 0;
	if (upload_plan_partial(S, add_tile, &js) != 0 || run_step(u, js.v, js.n) != 0)
		goto out;
	/* 4. checkpoints/<s> */
	js.n = 0;
	ncp = list_checkpoints(u, u->st.checkpoints, S, &cps, &cpoff);
	for (size_t i = 0; i < ncp; i++) {
		struct job *j = jobs_add(&js);

		if (!j)
			goto out;
		j->kind = J_CHECKPOINT;
		j->n = cps[i];
		j->locked = 1;
		upload_checkpoint_key(cps[i], j->key, sizeof(j->key));
		checkpoint_path(u, cps[i], j->path, sizeof(j->path));
		j->fresh = u->seen_cp;
	}
	if (run_step(u, js.v, js.n) != 0)
		goto out;
	if (ncp)
		u->seen_cp = 1;
	u->cpidx_off = cpoff;
	if (ncp) {
		pthread_mutex_lock(&u->mu);
		u->st.checkpoints = cps[ncp - 1];
		pthread_mutex_unlock(&u->mu);
	}
	/* 5. log/checkpoint */
	js.n = 0;
	{
		struct job *j = jobs_add(&js);

		if (!j)
			goto out;
		j->kind = J_LATEST;
		j->text = note;
		j->textlen = len;
		snprintf(j->key, sizeof(j->key), "log/checkpoint");
		if (u->o.gate ? publish_latest(u, j, S) != 0 : run_step(u, js.v, js.n) != 0)
			goto out;
	}
	pthread_mutex_lock(&u->mu);
	u->st.size = S;
	memcpy(u->st.checkpoint_sha, sha, sizeof(sha));
	u->stats.uploaded_size = S;
	pthread_mutex_unlock(&u->mu);
	if (state_save(u, &err) != LS_OK)
		say(u, "object store: saving the upload state: %s", err.msg);
	rc = 0;
out:
	free(segs);
	free(cps);
	free(js.v);
	free(note);
	return rc;
}

/* -------------------------------------------------------------- backlog --- */

static uint64_t dir_bytes(const char *path)
{
	struct dirent *de;
	uint64_t total = 0;
	DIR *d = opendir(path);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &sb, 0) == 0 &&
		    S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_size;
	}
	closedir(d);
	return total;
}

/* Local bytes and objects not yet confirmed up. */
static void backlog_update(struct upload *u)
{
	uint64_t *segs = NULL, segbytes = 0, objs = 0, bytes, size = 0, sealed = 0, up;
	char path[PATH_MAX];
	size_t nseg;

	uint64_t latest = 0, full, segnext;
	char *note = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/log/checkpoint", u->dir);
	if (fs_read_file(path, NOTE_CAP, &note, &len, NULL) == LS_OK) {
		int64_t v = upload_note_size(note, len);

		latest = v > 0 ? (uint64_t)v : 0;
	}
	free(note);
	pthread_mutex_lock(&u->mu);
	up = u->st.size;
	full = u->st.full;
	segnext = u->st.segments_next;
	if (latest > u->stats.log_size)
		u->stats.log_size = latest;
	latest = u->stats.log_size;
	pthread_mutex_unlock(&u->mu);
	nseg = list_segments(u, segnext, &segs, &segbytes);
	free(segs);
	bytes = segbytes;
	objs = nseg;
	upload_plan_full(full, latest, count_tile, &objs);
	if (latest > up) {
		upload_plan_partial(latest, count_tile, &objs);
		objs += 2;	/* checkpoints/<S>, log/checkpoint */
	}
	if (u->o.log) {
		struct log_stats ls;

		log_get_stats(u->o.log, &ls);
		size = log_size(u->o.log);
		sealed = ls.sealed_end;
	}
	if (size > sealed) {
		/* the write-ahead log holds [sealed, size): its share above
		 * what the bucket has is waiting */
		uint64_t jb, from = up > sealed ? up : sealed;

		snprintf(path, sizeof(path), "%s/journal", u->dir);
		jb = dir_bytes(path);
		if (size > from)
			bytes += (uint64_t)((double)jb * (double)(size - from) /
					    (double)(size - sealed));
	}
	if (atomic_load(&u->gated_out))
		bytes = objs = 0;	/* another node uploads (upload_gate) */
	pthread_mutex_lock(&u->mu);
	u->stats.backlog_bytes = bytes;
	u->stats.backlog_objects = objs;
	pthread_mutex_unlock(&u->mu);
	atomic_store(&u->over, bytes > u->o.backlog_bytes);
}

/* ------------------------------------------------------------- the loop --- */

static void *upload_main(void *arg)
{
	struct upload *u = arg;
	unsigned ticks = 0;
	int stop;

	for (;;) {
		int ok;

		pthread_mutex_lock(&u->mu);
		stop = u->stop;
		u->kicked = 0;
		pthread_mutex_unlock(&u->mu);
		if (stop)
			break;
		pthread_mutex_lock(&u->mu);
		ok = !u->stats.conflict;
		pthread_mutex_unlock(&u->mu);
		if (ok && !u->lock_known) {
			struct ls_err err = { "" };
			int lock = 0;

			if (objstore_ping(u->store, &lock, &err) == LS_OK) {
				u->lock_known = 1;
				u->no_lock = !lock;
				pthread_mutex_lock(&u->mu);
				u->stats.object_lock = lock;
				pthread_mutex_unlock(&u->mu);
				if (!lock)
					say(u, "object store: %s has NO Object Lock: objects are written "
					    "once but not locked (create the bucket with Object Lock)",
					    objstore_describe(u->store));
			}
			/* Else asked again next round; the round itself says what
			 * is wrong better (a HEAD reply has no S3 error code). */
		}
		if (ok) {
			if (ticks % 25 == 0)
				round_keys(u);
			round_run(u);
		}
		backlog_update(u);
		ticks++;
		pthread_mutex_lock(&u->mu);
		if (!u->stop && !u->kicked) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)u->o.poll_ms * 1000000L;
			while (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&u->cv, &u->mu, &ts);
		}
		pthread_mutex_unlock(&u->mu);
	}
	return NULL;
}

ls_rc upload_start(const struct upload_opts *o, struct upload **out, struct ls_err *err)
{
	struct upload *u;
	ls_rc rc;

	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	u->o = *o;
	snprintf(u->dir, sizeof(u->dir), "%s", o->dir);
	u->o.dir = u->dir;
	u->cfg = *o->store;
	u->o.store = &u->cfg;
	if (!u->o.threads) {
		const char *t = getenv("LOGSEAL_UPLOAD_THREADS");

		u->o.threads = t && atoi(t) > 0 ? (unsigned)atoi(t) : 8;
	}
	if (u->o.threads > MAX_THREADS)
		u->o.threads = MAX_THREADS;
	if (!u->o.poll_ms)
		u->o.poll_ms = 200;
	if (!u->o.lock_days)
		u->o.lock_days = upload_default_lock_days(u->dir);
	if (!u->o.backlog_bytes)
		u->o.backlog_bytes = UPLOAD_DEFAULT_BACKLOG;
	rc = bundlekey_get(u->dir, u->bkey, err);
	if (rc == LS_OK)
		u->encrypted = 1;
	else if (rc != LS_NOTFOUND)
		goto fail;
	rc = objstore_open(&u->cfg, &u->store, err);
	if (rc != LS_OK)
		goto fail;
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cv, NULL);
	pthread_cond_init(&u->done_cv, NULL);
	state_load(u);
	u->stats.uploaded_size = u->st.size;
	u->stats.backlog_limit = u->o.backlog_bytes;
	u->stats.reachable = 1;
	u->stats.object_lock = -1;
	snprintf(u->stats.describe, sizeof(u->stats.describe), "%s", objstore_describe(u->store));
	for (u->nworkers = 0; u->nworkers < u->o.threads; u->nworkers++)
		if (pthread_create(&u->workers[u->nworkers], NULL, worker_main, u) != 0)
			break;
	if (!u->nworkers || pthread_create(&u->main, NULL, upload_main, u) != 0) {
		pthread_mutex_lock(&u->mu);
		u->stop = 1;
		pthread_cond_broadcast(&u->cv);
		pthread_mutex_unlock(&u->mu);
		for (unsigned i = 0; i < u->nworkers; i++)
			pthread_join(u->workers[i], NULL);
		objstore_close(u->store);
		rc = ls_err_set(err, LS_NOMEM, "cannot start the uploader's threads");
		goto fail;
	}
	*out = u;
	return LS_OK;
fail:
	ls_wipe(u->bkey, sizeof(u->bkey));
	free(u);
	return rc;
}

void upload_stop(struct upload *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->stop = 1;
	pthread_cond_broadcast(&u->cv);
	pthread_cond_broadcast(&u->done_cv);
	pthread_mutex_unlock(&u->mu);
	pthread_join(u->main, NULL);
	for (unsigned i = 0; i < u->nworkers; i++)
		pthread_join(u->workers[i], NULL);
	objstore_close(u->store);
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cv);
	pthread_cond_destroy(&u->done_cv);
	ls_wipe(u->bkey, sizeof(u->bkey));
	ls_wipe(&u->cfg, sizeof(u->cfg));
	free(u);
}

void upload_kick(struct upload *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->kicked = 1;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
}

void upload_stats(struct upload *u, struct upload_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	*out = u->stats;
	pthread_mutex_unlock(&u->mu);
}

int upload_over_backlog(struct upload *u)
{
	return u ? atomic_load(&u->over) : 0;
}

int upload_segment_confirmed(struct upload *u, uint64_t first)
{
	int r;

	if (!u)
		return 0;
	pthread_mutex_lock(&u->mu);
	r = first < u->st.segments_next;
	pthread_mutex_unlock(&u->mu);
	return r;
}
