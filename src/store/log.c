/*
 * log.c - the sequencer: journal + Merkle tree + tiles + signed checkpoints.
 *
 * Threads:
 *  - callers of log_append() hash their own entries (leaf hashes do not
 *    depend on the index, so hashing scales with the callers), queue the
 *    batch and sleep;
 *  - the sequencer takes every queued batch at once, writes them with a
 *    single journal_append() (one write, one fdatasync: group commit), hands
 *    the new leaves to the checkpointer and wakes the callers;
 *  - the checkpointer, once the oldest unsigned acknowledged entry is an
 *    interval old (or sooner when many wait, or the sequencer waits for
 *    it), extends the tiles with the new leaves, writes them durably, signs
 *    a checkpoint, stores it under DIR/checkpoints/ and publishes it as
 *    DIR/log/checkpoint.
 *
 * Invariants:
 *  1. log_append() returns LS_OK only when its entries are durable in the
 *     journal (journal.h invariant 2); indexes are dense and ordered.
 *  2. A checkpoint is published only after every tile it needs is durable,
 *     and is stored in DIR/checkpoints/ before DIR/log/checkpoint.
 *  3. The queue holds at most queue_max_bytes; beyond that appends are
 *     refused with LS_BUSY instead of waiting (bounded memory).
 *  4. After the journal fails (LS_FAILED/LS_IO) every append fails until
 *     the log is reopened.
 *  5. Lock order: cp_lock (checkpoint creation) before mu (queue and state).
 *  6. The unsigned window (size - latest_size) grows past max_unsigned only
 *     by one batch taken alone, and no round starts while it is full or its
 *     oldest entry is max_unsigned_ms old, unless the log is closing (the
 *     close signs a checkpoint at once).
 */
#include "store/log.h"
#include "store/journal.h"
#include "store/sealer.h"
#include "store/signer.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "store/cpindex.h"
#include "base/crypto.h"
#include "core/event.h"
#include "base/fsutil.h"
#include "core/merkle.h"
#include "store/tiles.h"
#include "store/log_int.h"

#define DEFAULT_QUEUE_MAX (64u << 20)
#define REBUILD_FLUSH_EVERY 65536   /* bound memory when tiles are rebuilt */
#define DEFAULT_INTERVAL_MS 500
#define DEFAULT_MAX_UNSIGNED 65536
#define DEFAULT_MAX_UNSIGNED_MS 1000

const double log_sync_bounds[LOG_SYNC_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};


static void fresh_release(struct fresh *f)
{
	free(f->hashes);
	memset(f, 0, sizeof(*f));
}

#define FRESH_KEEP ((size_t)4 << 20)	/* hashes: 131072 leaves */


static void path_join(char *out, size_t cap, const char *a, const char *b)
{
	snprintf(out, cap, "%s/%s", a, b);
}

static ls_rc load_keys(struct log *l, const struct signer_spec *spec, struct ls_err *err)
{
	ls_rc rc = signer_load(l->dir, spec, &l->signer, &l->ext, err);

	if (rc == LS_OK)
		note_signer_verifier(&l->signer, &l->verifier);
	return rc;
}

/* Store a signed note as the checkpoint of `size`: history first, its line
 * in checkpoints.index, then the published DIR/log/checkpoint (invariant 2),
 * so that everything published is indexed. */
static ls_rc store_checkpoint(struct log *l, const char *note, uint64_t size, struct ls_err *err)
{
	char path[PATH_MAX];
	uint8_t root[LS_HASH_LEN];
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/%020llu", l->cpdir, (unsigned long long)size);
	rc = fs_write_file(path, note, strlen(note), 0644, 0, err);
	if (rc != LS_OK)
		return rc;
	/* The same size again (signed before a crash, never published): its
	 * line is there, and Ed25519 signs the same body to the same note. */
	if (size != l->cp_indexed) {
		tiles_writer_root(l->tw, root);
		rc = cpindex_append(l->dir, l->cpkey, l->cp_indexed, size, root, err);
		if (rc != LS_OK)
			return rc;
		l->cp_indexed = size;
	}
	return tiles_write_checkpoint(l->logdir, note, strlen(note), err);
}

static ls_rc sign_current(struct log *l, char **note_out, struct ls_err *err)
{
	struct checkpoint cp;
	char body[NOTE_MAX_NAME + 128];
	ls_rc rc;

	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", l->signer.name);
	cp.size = tiles_writer_size(l->tw);
	tiles_writer_root(l->tw, cp.root);
	rc = checkpoint_format(&cp, body, sizeof(body));
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot format checkpoint");
	return note_sign(&l->signer, body, strlen(body), note_out, err);
}

/* Tiles are durable, now sign and publish (caller holds cp_lock). */
static ls_rc publish(struct log *l, struct ls_err *err)
{
	char *note = NULL;
	uint64_t size = tiles_writer_size(l->tw);
	ls_rc rc;

	rc = tiles_writer_flush(l->tw, err);
	if (rc != LS_OK)
		return rc;
	rc = sign_current(l, &note, err);
	if (rc != LS_OK)
		return rc;
	rc = store_checkpoint(l, note, size, err);
	if (rc != LS_OK) {
		free(note);
		return rc;
	}
	pthread_mutex_lock(&l->mu);
	free(l->latest_note);
	l->latest_note = note;
	l->latest_size = size;
	/* Every leaf a round took is in the tiles, so now signed. */
	if (l->t_taken) {
		double age = (double)(now_ns() - l->t_taken) / 1e9;

		if (age > l->stats.unsigned_age_max)
			l->stats.unsigned_age_max = age;
		l->t_taken = 0;
	}
	pthread_cond_broadcast(&l->room_cv);
	pthread_mutex_unlock(&l->mu);
	sealer_signed(l->sealer, size);
	return LS_OK;
}

static ls_rc replay(struct log *l, uint64_t from, uint64_t end, struct ls_err *err);

/*
 * After a failed flush the tiles writer is stuck (retrying a failed fsync
 * is unsafe): start a new one from the last published checkpoint and replay
 * the journal up to `target`, the size the lost writer had reached.  If that
 * fails too, the next checkpoint round tries again.
 */
static void reset_tiles(struct log *l, uint64_t target)
{
	tiles_writer_free(l->tw);
	l->tw = NULL;
	l->cp_failures++;
	if (tiles_writer_open(l->logdir, l->latest_size, &l->tw, NULL) != LS_OK ||
	    replay(l, l->latest_size, target, NULL) != LS_OK) {
		tiles_writer_free(l->tw);
		l->tw = NULL;
		l->tw_behind = target;
	}
}

ls_rc log_checkpoint(struct log *l, struct ls_err *err)
{
	struct fresh f;
	uint64_t target;
	size_t appended;
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&l->cp_lock);
	if (!l->tw) {
		/* An earlier reset failed: try it again before going on. */
		reset_tiles(l, l->tw_behind);
		if (!l->tw) {
			pthread_mutex_unlock(&l->cp_lock);
			return ls_err_set(err, LS_IO, "the tiles cannot be written; see the last error");
		}
	}
	pthread_mutex_lock(&l->mu);
	f = l->fresh;
	l->fresh = l->spare;
	memset(&l->spare, 0, sizeof(l->spare));
	/* A failed round leaves its leaves unsigned: keep the older time. */
	if (!l->t_taken)
		l->t_taken = l->t_fresh;
	l->t_fresh = 0;
	pthread_mutex_unlock(&l->mu);

	for (appended = 0; appended < f.count && rc == LS_OK; appended++)
		rc = tiles_writer_append(l->tw, f.hashes + appended * LS_HASH_LEN, NULL, 0);
	if (rc != LS_OK)
		appended--;
	target = tiles_writer_size(l->tw) + (f.count - appended);
	f.count = 0;
	pthread_mutex_lock(&l->mu);
	if (!l->spare.hashes && f.hcap * LS_HASH_LEN <= FRESH_KEEP) {
		l->spare = f;
		memset(&f, 0, sizeof(f));
	}
	pthread_mutex_unlock(&l->mu);
	fresh_release(&f);
	if (rc != LS_OK) {
		ls_err_set(err, rc, "extending tiles: %s", ls_rc_name(rc));
	} else if (tiles_writer_size(l->tw) != l->latest_size) {
		rc = publish(l, err);
	}
	if (rc != LS_OK)
		reset_tiles(l, target);
	pthread_mutex_unlock(&l->cp_lock);
	/* Without threads the caller seals (sealer.h: never the sequencer). */
	if (rc == LS_OK && !l->threads)
		rc = sealer_run(l->sealer, l->latest_size, err);
	return rc;
}

static void *checkpointer_main(void *arg)
{
	struct log *l = arg;
	uint64_t retry_at = 0;	/* after a failed round: not before this */
	uint64_t took = 0;	/* how long the last round took */

	pthread_setname_np(pthread_self(), "ls-checkpoint");
	pthread_mutex_lock(&l->mu);
	while (!l->stopping) {
		uint64_t now = now_ns(), t = oldest_unsigned(l), due;
		struct timespec ts;

		/* Sign once the oldest unsigned entry is an interval old, less
		 * what the last round took (so that it is signed about an
		 * interval after it was acknowledged, under load too), or at
		 * once when half the window is used or the sequencer waits
		 * for room; a failed round is retried an interval later.
		 * Otherwise sleep until that is due, at most a second
		 * (sequence_round() wakes us when leaves arrive). */
		if ((l->fresh.count == 0 && !l->t_taken) || l->test_hold)
			due = UINT64_MAX;
		else if (l->seq_blocked || l->size - l->latest_size >= (l->max_unsigned + 1) / 2)
			due = now;
		else if (t && took < l->interval_ms * 1000000u)
			due = t + l->interval_ms * 1000000u - took;
		else
			due = now;
		if (due < retry_at)
			due = retry_at;
		if (due > now) {
			if (due - now > 1000000000u)
				due = now + (l->test_hold ? 10000000u : 1000000000u);
			ts = deadline_ns(due);
			pthread_cond_timedwait(&l->cp_cv, &l->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&l->mu);
		/* A failure here leaves the last good checkpoint in place; the
		 * leaves stay in the journal and the next round retries from
		 * the tiles writer's state. */
		{
			ls_rc crc = log_checkpoint(l, NULL);

			retry_at = crc == LS_OK ? 0 : now_ns() + l->interval_ms * 1000000u;
			took = retry_at ? 0 : now_ns() - now;
			pthread_mutex_lock(&l->mu);
			/* A full disk cannot be waited out by the writers: the
			 * sequencer refuses at once with LS_NOSPACE (507)
			 * while it lasts, instead of 503 after the give-up. */
			l->cp_nospace = crc == LS_NOSPACE;
			if (l->cp_nospace)
				pthread_cond_broadcast(&l->room_cv);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

uint64_t log_size(struct log *l)
{
	uint64_t s;

	pthread_mutex_lock(&l->mu);
	s = l->size;
	pthread_mutex_unlock(&l->mu);
	return s;
}

int log_failed(struct log *l)
{
	int f;

	pthread_mutex_lock(&l->mu);
	f = l->failed;
	pthread_mutex_unlock(&l->mu);
	return f;
}

ls_rc log_latest_checkpoint(struct log *l, char **note, uint64_t *size)
{
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&l->mu);
	if (!l->latest_note)
		rc = LS_NOTFOUND;
	else if (!(*note = strdup(l->latest_note)))
		rc = LS_NOMEM;
	else
		*size = l->latest_size;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

ls_rc log_publish_cosigned(struct log *l, uint64_t size, const char *note, size_t n,
			   struct ls_err *err)
{
	size_t tlen = 0;
	char *copy = NULL;
	ls_rc rc = note_open(note, n, &l->verifier, 1, &tlen, err); /* the log's, signed by it */

	pthread_mutex_lock(&l->cp_lock);
	pthread_mutex_lock(&l->mu);
	if (rc == LS_OK && (!l->latest_note || l->latest_size != size ||
			    strncmp(l->latest_note, note, tlen + 1) != 0)) /* same text? */
		rc = ls_err_set(err, LS_NOTFOUND, "no longer the latest checkpoint");
	pthread_mutex_unlock(&l->mu);
	if (rc == LS_OK && (rc = tiles_write_checkpoint(l->logdir, note, n, err)) == LS_OK &&
	    (copy = strndup(note, n)) != NULL) {
		pthread_mutex_lock(&l->mu);
		free(l->latest_note);
		l->latest_note = copy;
		pthread_mutex_unlock(&l->mu);
	}
	pthread_mutex_unlock(&l->cp_lock);
	return rc;
}

const struct note_verifier *log_verifier(const struct log *l)
{
	return &l->verifier;
}

ls_rc log_sign_note(struct log *l, const char *text, size_t n, char **note,
		    struct ls_err *err)
{
	return note_sign(&l->signer, text, n, note, err);
}

const char *log_origin(const struct log *l)
{
	return l->signer.name;
}

const char *log_dir(const struct log *l)
{
	return l->dir;
}

ls_rc log_rotate_key(struct log *l, struct ls_err *err)
{
	return log_rotate_key_ids(l, NULL, NULL, err);
}

ls_rc log_rotate_key_ids(struct log *l, uint32_t *old_id, uint32_t *new_id, struct ls_err *err)
{
	struct rotation rot;

	memset(&rot, 0, sizeof(rot));
	if (!l->threads) {
		log_rotate_now(l, &rot);
	} else {
		pthread_mutex_lock(&l->mu);
		/* One at a time: a second caller waits for the first's turn. */
		while (l->rot && !l->stopping)
			pthread_cond_wait(&l->done_cv, &l->mu);
		if (l->stopping || l->failed) {
			pthread_mutex_unlock(&l->mu);
			return ls_err_set(err, l->failed ? LS_FAILED : LS_BUSY,
					  l->failed ? "the journal failed; reopen the log"
						    : "the log is closing");
		}
		l->rot = &rot;
		pthread_cond_signal(&l->work_cv);
		while (!rot.done)
			pthread_cond_wait(&l->done_cv, &l->mu);
		pthread_mutex_unlock(&l->mu);
	}
	if (rot.rc != LS_OK)
		return ls_err_set(err, rot.rc, "%s", rot.err.msg);
	if (old_id)
		*old_id = rot.old_id;
	if (new_id)
		*new_id = rot.new_id;
	return LS_OK;
}

void log_get_stats(struct log *l, struct log_stats *out)
{
	struct sealer_stats ss;
	uint64_t t;

	sealer_get_stats(l->sealer, &ss);
	pthread_mutex_lock(&l->mu);
	*out = l->stats;
	out->unsigned_entries = l->size - l->latest_size;
	t = oldest_unsigned(l);
	out->unsigned_age = t ? (double)(now_ns() - t) / 1e9 : 0;
	if (out->unsigned_age > out->unsigned_age_max)
		out->unsigned_age_max = out->unsigned_age;
	pthread_mutex_unlock(&l->mu);
	out->sealed_segments = ss.segments;
	out->sealed_end = ss.end;
	out->seal_seconds = ss.seconds;
}

void log_test_hold_checkpoints(struct log *l, int hold)
{
	pthread_mutex_lock(&l->mu);
	l->test_hold = hold;
	pthread_cond_broadcast(&l->cp_cv);
	pthread_mutex_unlock(&l->mu);
}

void log_test_fail_next(struct log *l, int op, int errnum)
{
	/* Under mu: the sequencer takes its next batch under it too, so the
	 * fault is in place before that batch is written. */
	pthread_mutex_lock(&l->mu);
	journal_test_fail_next(l->journal, op, errnum);
	pthread_mutex_unlock(&l->mu);
}

void log_set_observer(struct log *l, log_observer_fn fn, void *ctx)
{
	pthread_mutex_lock(&l->mu);
	l->observer = fn;
	l->observer_ctx = ctx;
	pthread_mutex_unlock(&l->mu);
}

/* ---------------------------------------------------------------- open --- */

/* The published checkpoint, checked against our own key. */
static ls_rc read_published(struct log *l, struct checkpoint *cp, char **note_out,
			    struct ls_err *err)
{
	char path[PATH_MAX], *note = NULL;
	size_t len, text_len;
	ls_rc rc;

	path_join(path, sizeof(path), l->logdir, "checkpoint");
	rc = fs_read_file(path, NOTE_MAX_SIZE, &note, &len, err);
	if (rc != LS_OK)
		return rc;
	rc = note_open(note, len, &l->verifier, 1, &text_len, err);
	if (rc == LS_OK)
		rc = checkpoint_parse(note, text_len, cp, err);
	if (rc == LS_OK && strcmp(cp->origin, l->signer.name) != 0)
		rc = ls_err_set(err, LS_TAMPERED, "%s: origin %s is not this log's (%s)", path,
				cp->origin, l->signer.name);
	if (rc != LS_OK) {
		free(note);
		return rc;
	}
	*note_out = note;
	return LS_OK;
}

/* Largest size among DIR/checkpoints/<size> (names only: verify checks them). */
static uint64_t largest_stored_checkpoint(const char *cpdir)
{
	struct dirent *de;
	uint64_t best = 0;
	DIR *d = opendir(cpdir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		unsigned long long v;

		if (strlen(de->d_name) != 20)
			continue;
		errno = 0;
		v = strtoull(de->d_name, &end, 10);
		if (errno == 0 && *end == 0 && v > best)
			best = v;
	}
	closedir(d);
	return best;
}

/*
 * Load checkpoints.index (cpindex.h) and bring it level with
 * DIR/checkpoints/: a crash between a checkpoint's file and its line leaves
 * one signed checkpoint above the last line, which gets its line now.  More
 * than one is not what a crash leaves: lines were removed.
 */
static ls_rc cpindex_sync(struct log *l, struct ls_err *err)
{
	struct cpindex_ent *v = NULL;
	struct dirent *de;
	struct checkpoint cp;
	uint64_t above = 0, last;
	size_t n = 0, count = 0, len, text_len;
	char path[PATH_MAX + 32], *note = NULL;
	DIR *d;
	ls_rc rc;

	rc = cfgseal_key(l->dir, CFGSEAL_CHECKPOINTS, l->cpkey, err);
	if (rc != LS_OK)
		return rc;
	rc = cpindex_load(l->dir, l->cpkey, 1, &v, &n, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_TAMPERED,
				  "%s/" CPINDEX_FILE " is missing (a data directory made before "
				  "checkpoints were indexed: stop the server and run `logseal keys "
				  "seal-config --data %s`)",
				  l->dir, l->dir);
	if (rc != LS_OK)
		return rc;
	last = v[n - 1].size;
	free(v);
	d = opendir(l->cpdir);
	if (!d)
		return ls_err_set(err, LS_IO, "%s: %s", l->cpdir, strerror(errno));
	while ((de = readdir(d))) {
		unsigned long long s;
		char *end;

		if (strlen(de->d_name) != 20)
			continue;
		errno = 0;
		s = strtoull(de->d_name, &end, 10);
		if (errno == 0 && *end == 0 && s > last) {
			count++;
			above = s;
		}
	}
	closedir(d);
	l->cp_indexed = last;
	if (count == 0)
		return LS_OK;
	if (count > 1)
		return ls_err_set(err, LS_TAMPERED,
				  "%s: %zu signed checkpoints above size %llu are not in %s/" CPINDEX_FILE
				  " (its lines were removed); run `logseal verify --data %s`",
				  l->cpdir, count, (unsigned long long)last, l->dir, l->dir);
	snprintf(path, sizeof(path), "%s/%020llu", l->cpdir, (unsigned long long)above);
	rc = fs_read_file(path, NOTE_MAX_SIZE, &note, &len, err);
	if (rc == LS_OK)
		rc = note_open(note, len, &l->verifier, 1, &text_len, err);
	if (rc == LS_OK)
		rc = checkpoint_parse(note, text_len, &cp, err);
	free(note);
	if (rc == LS_OK && cp.size != above)
		rc = ls_err_set(err, LS_TAMPERED, "%s holds the checkpoint of size %llu", path,
				(unsigned long long)cp.size);
	if (rc != LS_OK)
		return ls_err_set(err, rc == LS_INVALID ? LS_TAMPERED : rc, "%s: %s", path,
				  err ? err->msg : "");
	rc = cpindex_append(l->dir, l->cpkey, last, above, cp.root, err);
	if (rc == LS_OK)
		l->cp_indexed = above;
	return rc;
}

/* Feed journal records [from, end) into the tiles writer. */
static ls_rc replay(struct log *l, uint64_t from, uint64_t end, struct ls_err *err)
{
	char jdir[PATH_MAX];
	struct store_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t idx, n = 0;
	ls_rc rc;

	if (from >= end)
		return LS_OK;
	path_join(jdir, sizeof(jdir), l->dir, "journal");
	/* Sealed segments, then the journal: a rebuild from 0 needs both. */
	rc = store_iter_open(jdir, from, 0, &it, err);
	if (rc != LS_OK)
		return rc;
	while (from + n < end) {
		uint8_t h[LS_HASH_LEN];

		rc = store_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_OK && idx != from + n)
			rc = ls_err_set(err, LS_CORRUPT, "the log starts at %llu, not %llu (moved out "
					"by retention?)", (unsigned long long)idx,
					(unsigned long long)(from + n));
		if (rc == LS_NOTFOUND)
			rc = ls_err_set(err, LS_CORRUPT, "journal ends at %llu, expected %llu",
					(unsigned long long)(from + n), (unsigned long long)end);
		if (rc != LS_OK)
			break;
		merkle_leaf_hash(data, len, h);
		rc = tiles_writer_append(l->tw, h, NULL, 0);
		if (rc != LS_OK)
			break;
		if (++n % REBUILD_FLUSH_EVERY == 0) {
			rc = tiles_writer_flush(l->tw, err);
			if (rc != LS_OK)
				break;
		}
	}
	store_iter_free(it);
	return rc;
}

/* Bring the tiles to the journal's size, from the published checkpoint when
 * the tiles on disk agree with it, else from scratch. */
static ls_rc catch_up(struct log *l, const struct checkpoint *cp, struct ls_err *err)
{
	uint8_t root[LS_HASH_LEN];
	uint64_t from = cp->size;
	ls_rc rc;

	rc = tiles_writer_open(l->logdir, cp->size, &l->tw, NULL);
	if (rc == LS_OK) {
		tiles_writer_root(l->tw, root);
		if (!ls_ct_equal(root, cp->root, LS_HASH_LEN)) {
			tiles_writer_free(l->tw);
			l->tw = NULL;
			rc = LS_TAMPERED;
		}
	}
	if (rc != LS_OK) {
		from = 0;
		rc = tiles_writer_open(l->logdir, 0, &l->tw, err);
		if (rc != LS_OK)
			return rc;
	}
	if (from == 0 && cp->size > 0) {
		/* Rebuilt from scratch: the journal must reproduce the signed root. */
		rc = replay(l, 0, cp->size, err);
		if (rc != LS_OK)
			return rc;
		tiles_writer_root(l->tw, root);
		if (!ls_ct_equal(root, cp->root, LS_HASH_LEN))
			return ls_err_set(err, LS_TAMPERED,
					  "the journal does not reproduce the root of the signed "
					  "checkpoint of size %llu; run `logseal verify`",
					  (unsigned long long)cp->size);
		from = cp->size;
	}
	return replay(l, from, journal_size(l->journal), err);
}

/* Journal.h invariant 4 made visible: what recovery cut goes into the log
 * as an event of the server (before anything else is appended), so that
 * the signed log itself says that entries from jr->first on were cut and
 * their indexes given again. */
static ls_rc report_cut(struct log *l, const struct store_recovery *jr, struct ls_err *err)
{
	struct event_ctx ctx = { 0 };
	struct event_item it;
	struct timespec ts;
	struct iovec iov;
	uint64_t first;
	json_t *d;
	ls_rc rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ctx.received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	d = json_pack("{s:s,s:I,s:I,s:I,s:I,s:s}", "segment", jr->segment, "offset",
		      (json_int_t)jr->offset, "bytes", (json_int_t)jr->bytes, "records",
		      (json_int_t)jr->records, "first", (json_int_t)jr->first, "reason",
		      "torn tail: an unfinished last batch, never acknowledged, was cut at "
		      "recovery; its indexes are given again from first on");
	if (d && jr->records)
		json_object_set_new(d, "last", json_integer((json_int_t)jr->last));
	if (!d)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = event_internal("logseal.recovery.truncated", "logseal", NULL, "success", d, &ctx, &it);
	json_decref(d);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot build the recovery event");
	iov.iov_base = it.json;
	iov.iov_len = it.len;
	rc = log_append(l, &iov, 1, &first, err);
	event_item_release(&it);
	if (rc == LS_OK)
		rc = log_checkpoint(l, err);
	if (rc != LS_OK) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err && err->msg[0] ? err->msg : ls_rc_name(rc));
		ls_err_set(err, rc,
			   "recovery cut %llu bytes (%llu records from index %llu) at %s offset %llu "
			   "and cannot record that in the log: %s",
			   (unsigned long long)jr->bytes, (unsigned long long)jr->records,
			   (unsigned long long)jr->first, jr->segment, (unsigned long long)jr->offset,
			   why);
	}
	return rc;
}

/* Every cut written down and not reported yet (journal.h invariant 5):
 * this open's, and any that a process dying before its report left. */
static ls_rc report_cuts(struct log *l, const char *jdir, struct store_recovery *rec,
			 struct ls_err *err)
{
	struct store_recovery *cuts;
	size_t n;
	ls_rc rc = journal_cuts_pending(jdir, &cuts, &n, err);

	for (size_t i = 0; rc == LS_OK && i < n; i++)
		rc = report_cut(l, &cuts[i], err);
	if (rc == LS_OK && n)
		rc = journal_cuts_reported(jdir, err);
	if (rc == LS_OK && n && rec)
		*rec = cuts[n - 1];
	free(cuts);
	return rc;
}

static ls_rc lock_datadir(struct log *l, struct ls_err *err)
{
	l->lockfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->lockfd < 0)
		return ls_err_set(err, LS_IO, "%s: %s", l->dir, strerror(errno));
	if (flock(l->lockfd, LOCK_EX | LOCK_NB) == 0)
		return LS_OK;
	return errno == EWOULDBLOCK
		       ? ls_err_set(err, LS_BUSY, "%s: the log is open by another process "
					      "(a running server?)", l->dir)
		       : ls_err_set(err, LS_IO, "flock %s: %s", l->dir, strerror(errno));
}

static void log_free(struct log *l)
{
	if (!l)
		return;
	sealer_close(l->sealer);
	journal_close(l->journal);
	tiles_writer_free(l->tw);
	fresh_release(&l->fresh);
	fresh_release(&l->spare);
	free(l->latest_note);
	note_signer_wipe(&l->signer);
	signer_close(l->ext);
	ls_wipe(l->cpkey, sizeof(l->cpkey));
	free(l->dir);
	if (l->lockfd >= 0)
		close(l->lockfd);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->cp_lock);
	pthread_cond_destroy(&l->work_cv);
	pthread_cond_destroy(&l->done_cv);
	pthread_cond_destroy(&l->cp_cv);
	pthread_cond_destroy(&l->room_cv);
	free(l);
}

ls_rc log_open(const struct log_opts *opts, struct log **out, struct store_recovery *rec,
	       struct ls_err *err)
{
	struct journal_opts jo;
	struct store_recovery jr;
	struct checkpoint cp;
	char jdir[PATH_MAX], *note = NULL;
	struct log *l;
	uint64_t stored;
	uint32_t leaves;
	ls_rc rc;

	/* Every path below is DIR plus a short suffix: bound DIR once. */
	if (strlen(opts->dir) > PATH_MAX - 256)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = sealer_leaves(opts->segment_leaves, &leaves, err);
	if (rc != LS_OK)
		return rc;
	l = calloc(1, sizeof(*l));
	if (l)
		l->lockfd = -1;
	if (!l || !(l->dir = strdup(opts->dir))) {
		free(l);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->cp_lock, NULL);
	pthread_cond_init(&l->work_cv, NULL);
	pthread_cond_init(&l->done_cv, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&l->cp_cv, &ca);
		pthread_cond_init(&l->room_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	l->interval_ms = opts->checkpoint_interval_ms ? opts->checkpoint_interval_ms
						      : DEFAULT_INTERVAL_MS;
	l->max_unsigned = opts->max_unsigned_entries ? opts->max_unsigned_entries
						     : DEFAULT_MAX_UNSIGNED;
	if (opts->max_unsigned_ms)
		l->max_unsigned_ns = opts->max_unsigned_ms * 1000000u;
	else if (l->interval_ms * 2 > DEFAULT_MAX_UNSIGNED_MS)
		l->max_unsigned_ns = l->interval_ms * 2 * 1000000u;
	else
		l->max_unsigned_ns = DEFAULT_MAX_UNSIGNED_MS * 1000000ull;
	l->queue_max = opts->queue_max_bytes ? opts->queue_max_bytes : DEFAULT_QUEUE_MAX;
	path_join(l->logdir, sizeof(l->logdir), l->dir, "log");
	path_join(l->cpdir, sizeof(l->cpdir), l->dir, "checkpoints");
	path_join(jdir, sizeof(jdir), l->dir, "journal");

	if (access(jdir, F_OK) != 0) {
		log_free(l);
		return ls_err_set(err, LS_NOTFOUND, "%s holds no log (run `logseal init --data %s`)",
				  opts->dir, opts->dir);
	}
	/* One process per log, taken before anything below reads or repairs
	 * a file: the checkpoint index, the sealer's state and the journal's
	 * tail are the running server's while it holds this lock (a second
	 * opener that looked first could race it and, say, add a checkpoint's
	 * index line the server is about to add). */
	rc = lock_datadir(l, err);
	if (rc != LS_OK) {
		log_free(l);
		return rc;
	}
	rc = opts->old_format ? LS_OK : sealer_format_check(l->dir, err);
	if (rc == LS_OK)
		rc = load_keys(l, opts->signer, err);
	if (rc == LS_OK)
		rc = read_published(l, &cp, &note, err);
	if (rc == LS_OK)
		rc = sealer_open(l->dir, leaves, !opts->no_threads, &l->sealer, err);
	if (rc == LS_OK)
		rc = cpindex_sync(l, err);
	if (rc != LS_OK) {
		free(note);
		log_free(l);
		return rc;
	}
	l->latest_note = note;
	l->latest_size = cp.size;

	/* Never cut acknowledged, signed history (journal.h invariant 4). */
	stored = largest_stored_checkpoint(l->cpdir);
	memset(&jo, 0, sizeof(jo));
	jo.segment_size = opts->segment_size;
	jo.min_size = stored > cp.size ? stored : cp.size;
	jo.sealed = sealer_end(l->sealer);
	jo.rotate_leaves = leaves;
	memset(&jr, 0, sizeof(jr));
	rc = journal_open(jdir, &jo, &l->journal, &jr, err);
	if (rc != LS_OK) {
		log_free(l);
		return rc;
	}
	if (rec)
		*rec = jr;
	l->size = journal_size(l->journal);
	if (l->size < jo.min_size) {
		rc = ls_err_set(err, LS_CORRUPT,
				"journal holds %llu entries but a checkpoint of size %llu was signed: "
				"acknowledged entries are missing",
				(unsigned long long)l->size, (unsigned long long)jo.min_size);
		log_free(l);
		return rc;
	}
	rc = catch_up(l, &cp, err);
	if (rc == LS_OK && tiles_writer_size(l->tw) != l->latest_size) {
		pthread_mutex_lock(&l->cp_lock);
		rc = publish(l, err);
		pthread_mutex_unlock(&l->cp_lock);
	}
	if (rc == LS_OK)
		rc = report_cuts(l, jdir, rec, err);
	if (rc != LS_OK) {
		log_free(l);
		return rc;
	}
	if (!opts->no_threads) {
		l->threads = 1;
		if (pthread_create(&l->seq_thread, NULL, log_sequencer_main, l) != 0) {
			log_free(l);
			return ls_err_set(err, LS_NOMEM, "cannot start the sequencer thread");
		}
		if (pthread_create(&l->cp_thread, NULL, checkpointer_main, l) != 0) {
			pthread_mutex_lock(&l->mu);
			l->stopping = 1;
			pthread_cond_broadcast(&l->work_cv);
			pthread_mutex_unlock(&l->mu);
			pthread_join(l->seq_thread, NULL);
			log_free(l);
			return ls_err_set(err, LS_NOMEM, "cannot start the checkpointer thread");
		}
	}
	sealer_signed(l->sealer, l->latest_size);
	*out = l;
	return LS_OK;
}

ls_rc log_close(struct log *l, struct ls_err *err)
{
	ls_rc rc = LS_OK;

	if (!l)
		return LS_OK;
	if (l->threads) {
		/* The sequencer drains the queue before it exits. */
		pthread_mutex_lock(&l->mu);
		l->stopping = 1;
		pthread_cond_broadcast(&l->work_cv);
		pthread_cond_broadcast(&l->cp_cv);
		pthread_cond_broadcast(&l->room_cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->seq_thread, NULL);
		pthread_join(l->cp_thread, NULL);
	}
	if (!l->failed)
		rc = log_checkpoint(l, err);
	if (rc == LS_OK && !l->failed)
		rc = sealer_run(l->sealer, l->latest_size, err);
	log_free(l);
	return rc;
}

/* ---------------------------------------------------------------- init --- */

ls_rc log_init(const char *dir, const char *origin, struct ls_err *err)
{
	return log_init_signer(dir, origin, NULL, err);
}

ls_rc log_init_signer(const char *dir, const char *origin, const struct signer_spec *spec,
		      struct ls_err *err)
{
	char path[PATH_MAX], buf[1024];
	struct note_signer s;
	struct signer *ext = NULL;
	struct journal *j = NULL;
	struct tiles_writer *tw = NULL;
	struct checkpoint cp;
	char *note = NULL;
	ls_rc rc;

	if (strlen(dir) > PATH_MAX - 256)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	path_join(path, sizeof(path), dir, "journal");
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already holds a log; refusing to overwrite it", dir);
	path_join(path, sizeof(path), dir, "log/checkpoint");
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already holds a log; refusing to overwrite it", dir);

	rc = signer_create(dir, origin, spec, &s, &ext, err);
	if (rc != LS_OK)
		return rc;
	path_join(path, sizeof(path), dir, "checkpoints");
	rc = fs_mkdirs(path, 0755, err);
	if (rc != LS_OK)
		goto out;
	path_join(path, sizeof(path), dir, "log/tile");
	rc = fs_mkdirs(path, 0755, err);
	if (rc != LS_OK)
		goto out;
	path_join(path, sizeof(path), dir, "journal");
	rc = journal_open(path, NULL, &j, NULL, err);
	if (rc != LS_OK)
		goto out;
	journal_close(j);

	/* The empty tree's checkpoint, so that a log always has one. */
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", s.name);
	merkle_empty_root(cp.root);
	rc = checkpoint_format(&cp, buf, sizeof(buf));
	if (rc == LS_OK)
		rc = note_sign(&s, buf, strlen(buf), &note, err);
	if (rc != LS_OK)
		goto out;
	path_join(path, sizeof(path), dir, "checkpoints/00000000000000000000");
	rc = fs_write_file(path, note, strlen(note), 0644, 0, err);
	if (rc != LS_OK)
		goto out;
	{
		uint8_t k[32];
		struct cpindex_ent e0 = { 0, { 0 } };

		memcpy(e0.root, cp.root, LS_HASH_LEN);
		rc = cfgseal_key(dir, CFGSEAL_CHECKPOINTS, k, err);
		if (rc == LS_OK)
			rc = cpindex_write_all(dir, k, &e0, 1, err);
		ls_wipe(k, sizeof(k));
		if (rc != LS_OK)
			goto out;
	}
	path_join(path, sizeof(path), dir, "log");
	rc = tiles_write_checkpoint(path, note, strlen(note), err);
	if (rc == LS_OK)
		rc = sealer_format_write(dir, err);
out:
	(void)tw;
	free(note);
	note_signer_wipe(&s);
	signer_close(ext);
	return rc;
}
