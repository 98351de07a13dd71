/*
 * verify.c - recompute everything from the source of truth and compare
 * (see verify.h).
 *
 * The tile check streams leaves once: for each tile level it keeps the
 * hashes of the current tile (as the tiles writer does).  Every file found
 * under tile/ is listed first; whenever a level's current tile reaches a
 * width that exists on disk (a partial tile .p/W, or the full tile at 256),
 * that file is compared byte for byte with what the leaves give.  Any file
 * still unchecked at the end is not backed by the entries: an error.
 *
 * A data directory keeps every entry once: in its sealed segments
 * (DIR/segments, checked by store_check_segments(): every byte, and the
 * leaf hashes against the level-0 tiles) and in the write-ahead log after
 * them (DIR/journal, whose iterator authenticates every record).  DIR/format
 * says which format a directory has (store_check_format()); one without it
 * is of the format before sealed segments, which `logseal migrate`
 * converts.  Entry bundles are built from the entries when served, so the
 * log's hash tiles are checked and entry bundle files, if any are left,
 * are not part of the log and are not read.  A static tiles log
 * (verify_tiles_dir()) has its entry bundles, which are its entries.
 *
 * Leaves are pushed with merkle_tree_append_roots(), whose roots of the
 * complete subtrees ending at the leaf are the hashes of the tiles above
 * level 0: the tree and the tiles cost one node hash a leaf together.
 */
#include "followers/verify.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/cfgseal.h"
#include "store/cpindex.h"
#include "base/crypto.h"
#include "base/fsutil.h"
#include "store/reader.h"
#include "store/tier.h"
#include "store/keys.h"
#include "core/merkle.h"
#include "followers/index.h"
#include "followers/retention.h"
#include "followers/verify_src.h"
#include "store/check.h"
#include "store/tiles.h"

#define MAX_LEVELS 8 /* tile levels: 8 levels of 8 bits cover 2^64 leaves */
#define ENTRY_LEVEL (-1)

struct tfile {
	int level;
	uint64_t n;
	unsigned w;
	int checked;
};

struct tilecheck {
	const char *logdir;
	int bundles;		/* a static tiles log: its entry bundles are checked */
	struct tfile *files;
	size_t nfiles, cap;
	uint8_t hashes[MAX_LEVELS][TILE_WIDTH][LS_HASH_LEN];
	unsigned count[MAX_LEVELS];
	uint64_t tile_index[MAX_LEVELS];
	uint8_t *bundle;	/* entries of the current bundle, length-prefixed */
	size_t blen, bcap;
	unsigned bcount;
	uint64_t bindex;
	uint64_t checked;
	/* Leaves whose full level-0 tiles store/check.c has just compared
	 * with a sealed segment's hashes: not read a second time. */
	uint64_t l0_from, l0_to;
	/* Leaves in sealed segments: their full level-0 tiles are served
	 * from the segments, not files (store/tiles.h). */
	uint64_t sealed_from, sealed_to;
};

static int tfile_cmp(const void *a, const void *b)
{
	const struct tfile *x = a, *y = b;

	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	if (x->w != y->w)
		return x->w < y->w ? -1 : 1;
	return 0;
}

/* nftw has no user pointer: one listing at a time. */
static struct tilecheck *walk_tc;
static size_t walk_prefix;
static char walk_bad[PATH_MAX];
static const char *walk_why;
static int walk_bundles;	/* entry bundles belong here (a static tiles log) */

static int walk_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct tilecheck *tc = walk_tc;
	const char *rel = path + walk_prefix;
	struct tfile f;

	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	if (strstr(rel, ".tmp"))
		return 0; /* an interrupted durable write: never published */
	memset(&f, 0, sizeof(f));
	if (tiles_path_parse(rel, &f.level, &f.n, &f.w) != LS_OK) {
		snprintf(walk_bad, sizeof(walk_bad), "%s", rel);
		walk_why = "not a tile path";
		return 1;
	}
	if (!walk_bundles && f.level == ENTRY_LEVEL)
		return 0; /* not part of a data directory's log (see the top) */
	if (f.level >= MAX_LEVELS) {
		snprintf(walk_bad, sizeof(walk_bad), "%s", rel);
		walk_why = "not a tile path";
		return 1;
	}
	if (tc->nfiles == tc->cap) {
		size_t cap = tc->cap ? tc->cap * 2 : 256;
		struct tfile *p = realloc(tc->files, cap * sizeof(*p));
		if (!p)
			return 2;
		tc->files = p;
		tc->cap = cap;
	}
	tc->files[tc->nfiles++] = f;
	return 0;
}

static ls_rc tc_walk(struct tilecheck *tc, const char *base, int bundles, struct ls_err *err)
{
	char dir[PATH_MAX];
	int r;

	snprintf(dir, sizeof(dir), "%s/tile", base);
	if (access(dir, F_OK) != 0)
		return LS_OK;
	walk_tc = tc;
	walk_prefix = strlen(base) + 1;
	walk_bad[0] = 0;
	walk_bundles = bundles;
	r = nftw(dir, walk_fn, 16, FTW_PHYS);
	walk_tc = NULL;
	if (r == 1)
		return ls_err_set(err, LS_TAMPERED, "%s/%s: %s", base, walk_bad, walk_why);
	if (r != 0)
		return ls_err_set(err, LS_IO, "listing %s failed", dir);
	return LS_OK;
}

/* bundles: a static tiles log (entry bundles are its entries); else a
 * data directory's log/ (hash tiles only). */
static ls_rc tc_init(struct tilecheck *tc, const char *logdir, int bundles, struct ls_err *err)
{
	ls_rc rc;

	memset(tc, 0, sizeof(*tc));
	tc->logdir = logdir;
	tc->bundles = bundles;
	rc = tc_walk(tc, logdir, bundles, err);
	if (rc != LS_OK)
		return rc;
	if (tc->nfiles)
		qsort(tc->files, tc->nfiles, sizeof(*tc->files), tfile_cmp);
	return LS_OK;
}

static void tc_release(struct tilecheck *tc)
{
	free(tc->files);
	free(tc->bundle);
}

static struct tfile *tc_find(struct tilecheck *tc, int level, uint64_t n, unsigned w)
{
	struct tfile key = { .level = level, .n = n, .w = w };

	if (!tc->nfiles)
		return NULL;
	return bsearch(&key, tc->files, tc->nfiles, sizeof(*tc->files), tfile_cmp);
}

static ls_rc tc_compare(struct tilecheck *tc, struct tfile *f, const void *want, size_t wlen,
			struct ls_err *err)
{
	char rel[256];
	uint8_t *data = NULL;
	size_t len = 0;
	ls_rc rc;

	struct ls_err e = { "" };

	tiles_path(f->level, f->n, f->w, rel, sizeof(rel));
	rc = tiles_read_file(tc->logdir, f->level, f->n, f->w, &data, &len, &e);
	if (rc != LS_OK)
		return ls_err_set(err, rc == LS_NOTFOUND ? LS_TAMPERED : rc,
				  "%s/%s: cannot be read: %s", tc->logdir, rel, e.msg);
	if (len != wlen || memcmp(data, want, wlen) != 0) {
		size_t at = 0;
		while (at < len && at < wlen && data[at] == ((const uint8_t *)want)[at])
			at++;
		free(data);
		if (f->level == ENTRY_LEVEL)
			return ls_err_set(err, LS_TAMPERED,
					  "%s/%s: entry bundle differs from the journal at byte %zu",
					  tc->logdir, rel, at);
		return ls_err_set(err, LS_TAMPERED,
				  "%s/%s: hash %zu differs from the one recomputed from the entries",
				  tc->logdir, rel, at / LS_HASH_LEN);
	}
	free(data);
	f->checked = 1;
	tc->checked++;
	return LS_OK;
}

/* The next leaf: into the tree, and into the tile of every level it
 * completes (roots[8L] is the hash of the level-L tile ending here). */
static ls_rc tc_push_leaf(struct tilecheck *tc, struct merkle_tree *tree,
			  const uint8_t h[LS_HASH_LEN], struct ls_err *err)
{
	uint8_t roots[65][LS_HASH_LEN];
	const uint8_t *x = h;

	merkle_tree_append_roots(tree, h, roots);
	for (int level = 0; level < MAX_LEVELS; level++) {
		struct tfile *f;
		unsigned c = tc->count[level];

		memcpy(tc->hashes[level][c], x, LS_HASH_LEN);
		tc->count[level] = ++c;
		f = tc_find(tc, level, tc->tile_index[level], c);
		if (f && level == 0 && c == TILE_WIDTH &&
		    tc->tile_index[0] * TILE_WIDTH >= tc->l0_from &&
		    (tc->tile_index[0] + 1) * TILE_WIDTH <= tc->l0_to) {
			f->checked = 1;
			tc->checked++;
		} else if (f) {
			ls_rc rc = tc_compare(tc, f, tc->hashes[level], (size_t)c * LS_HASH_LEN, err);
			if (rc != LS_OK)
				return rc;
		}
		if (c < TILE_WIDTH)
			break;
		tc->count[level] = 0;
		tc->tile_index[level]++;
		x = roots[TILE_HEIGHT * (level + 1)];
	}
	return LS_OK;
}

/* Leaves a tile file reaches: its end in the tree, in leaves. */
static unsigned __int128 tfile_end(const struct tfile *f)
{
	unsigned __int128 end = (unsigned __int128)f->n * TILE_WIDTH + f->w;

	return f->level == ENTRY_LEVEL ? end : end << (TILE_HEIGHT * f->level);
}

/* Every file present was checked, except those that end at or below from
 * (checked before, serve's start check) or beyond limit (written for a
 * checkpoint not yet published when the snapshot was taken). */
static ls_rc tc_finish(struct tilecheck *tc, uint64_t from, uint64_t limit, struct ls_err *err)
{
	for (size_t i = 0; i < tc->nfiles; i++) {
		char rel[256];
		unsigned __int128 end = tfile_end(&tc->files[i]);

		if (tc->files[i].checked || end <= from || end > limit)
			continue;
		tiles_path(tc->files[i].level, tc->files[i].n, tc->files[i].w, rel, sizeof(rel));
		return ls_err_set(err, LS_TAMPERED,
				  "%s/%s: not backed by the entries (beyond the log, or misplaced)",
				  tc->logdir, rel);
	}
	return LS_OK;
}

static ls_rc tc_missing(const struct tilecheck *tc, int level, uint64_t n, unsigned w,
			uint64_t size, struct ls_err *err)
{
	char rel[256];

	tiles_path(level, n, w, rel, sizeof(rel));
	return ls_err_set(err, LS_TAMPERED,
			  "%s/%s: missing (the signed checkpoint of size %llu needs it; it was "
			  "deleted)",
			  tc->logdir, rel,
			  (unsigned long long)size);
}

/*
 * Every tile (and in a static tiles log every entry bundle) that the log of
 * `size` is made of exists (from on: only those that end above it).  Walked
 * before, so a file listed is one that was there when the snapshot was
 * taken.
 */
static ls_rc tc_expect(struct tilecheck *tc, uint64_t from, uint64_t size, struct ls_err *err)
{
	uint64_t n;

	if (size <= from)
		return LS_OK;
	for (n = from / TILE_WIDTH; tc->bundles && n < size / TILE_WIDTH; n++)
		if (!tc_find(tc, ENTRY_LEVEL, n, TILE_WIDTH))
			return tc_missing(tc, ENTRY_LEVEL, n, TILE_WIDTH, size, err);
	if (tc->bundles && size % TILE_WIDTH && size > from &&
	    !tc_find(tc, ENTRY_LEVEL, size / TILE_WIDTH, size % TILE_WIDTH))
		return tc_missing(tc, ENTRY_LEVEL, size / TILE_WIDTH, size % TILE_WIDTH, size, err);
	for (int level = 0; level < MAX_LEVELS; level++) {
		uint64_t count = size >> (TILE_HEIGHT * level);
		uint64_t first = (from >> (TILE_HEIGHT * level)) / TILE_WIDTH;

		if (!count)
			break;
		for (n = first; n < count / TILE_WIDTH; n++)
			if (!tc_find(tc, level, n, TILE_WIDTH) &&
			    !(level == 0 && n * TILE_WIDTH >= tc->sealed_from &&
			      (n + 1) * TILE_WIDTH <= tc->sealed_to))
				return tc_missing(tc, level, n, TILE_WIDTH, size, err);
		if (count % TILE_WIDTH &&
		    !tc_find(tc, level, count / TILE_WIDTH, count % TILE_WIDTH))
			return tc_missing(tc, level, count / TILE_WIDTH, count % TILE_WIDTH, size,
					  err);
	}
	return LS_OK;
}

/* ------------------------------------------------------------ progress --- */

/* The caller's progress callback, throttled: every 4096 entries at most
 * every 250 ms, then once with VERIFY_PROGRESS_END. */
struct progress {
	const struct verify_progress *to;
	uint64_t total;
	struct timespec last;
};

static void progress_tick(struct progress *p, uint64_t done)
{
	struct timespec now;

	if (!p->to || !p->to->fn || (done & 4095))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000 < 250)
		return;
	p->last = now;
	p->to->fn(p->to->ctx, done, p->total);
}

static void progress_done(struct progress *p)
{
	if (p->to && p->to->fn)
		p->to->fn(p->to->ctx, VERIFY_PROGRESS_END, p->total);
}

/* --------------------------------------------------------- checkpoints --- */

struct cpinfo {
	uint64_t size;
	uint8_t root[LS_HASH_LEN];
	char name[32];
};

static int cp_cmp(const void *a, const void *b)
{
	const struct cpinfo *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

static ls_rc open_checkpoint(const char *path, const struct note_verifier *key,
			     struct checkpoint *cp, char **note_out, struct ls_err *err)
{
	char *note = NULL;
	size_t len, text_len;
	struct ls_err e;
	ls_rc rc;

	rc = fs_read_file(path, NOTE_MAX_SIZE, &note, &len, err);
	if (rc != LS_OK)
		return ls_err_set(err, rc == LS_NOTFOUND ? LS_TAMPERED : rc, "%s: cannot be read", path);
	rc = note_open(note, len, key, 1, &text_len, &e);
	if (rc == LS_OK)
		rc = checkpoint_parse(note, text_len, cp, &e);
	if (rc == LS_OK && strcmp(cp->origin, key->name) != 0)
		rc = ls_err_set(&e, LS_TAMPERED, "origin \"%s\" is not the key's (\"%s\")",
				cp->origin, key->name);
	if (rc != LS_OK) {
		free(note);
		return ls_err_set(err, rc == LS_INVALID ? LS_TAMPERED : rc, "%s: %s", path, e.msg);
	}
	if (note_out)
		*note_out = note;
	else
		free(note);
	return LS_OK;
}

/* The stored checkpoints of size <= limit (a live server may be adding
 * newer ones). */
static ls_rc load_checkpoints(const char *dir, const struct note_verifier *key, uint64_t limit,
			      struct cpinfo **out, size_t *nout, struct ls_err *err)
{
	char cpdir[PATH_MAX], path[PATH_MAX + 64];
	struct cpinfo *cps = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	ls_rc rc = LS_OK;

	snprintf(cpdir, sizeof(cpdir), "%s/checkpoints", dir);
	d = opendir(cpdir);
	if (!d)
		return ls_err_set(err, LS_TAMPERED, "%s: %s", cpdir, strerror(errno));
	while ((de = readdir(d))) {
		struct checkpoint cp;
		unsigned long long v;
		char *end;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", cpdir, de->d_name);
		errno = 0;
		v = strtoull(de->d_name, &end, 10);
		if (strlen(de->d_name) != 20 || *end || errno) {
			rc = ls_err_set(err, LS_TAMPERED, "%s: not a checkpoint file name", path);
			break;
		}
		if (v > limit)
			continue;
		rc = open_checkpoint(path, key, &cp, NULL, err);
		if (rc != LS_OK)
			break;
		if (cp.size != v) {
			rc = ls_err_set(err, LS_TAMPERED, "%s: holds the checkpoint of size %llu",
					path, (unsigned long long)cp.size);
			break;
		}
		if (n == cap) {
			size_t c2 = cap ? cap * 2 : 64;
			struct cpinfo *p = realloc(cps, c2 * sizeof(*p));
			if (!p) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				break;
			}
			cps = p;
			cap = c2;
		}
		cps[n].size = cp.size;
		memcpy(cps[n].root, cp.root, LS_HASH_LEN);
		snprintf(cps[n].name, sizeof(cps[n].name), "%s", de->d_name);
		n++;
	}
	closedir(d);
	if (rc != LS_OK) {
		free(cps);
		return rc;
	}
	if (n == 0)
		return ls_err_set(err, LS_TAMPERED, "%s: no signed checkpoint", cpdir);
	qsort(cps, n, sizeof(*cps), cp_cmp);
	*out = cps;
	*nout = n;
	return LS_OK;
}

static ls_rc load_key_file(const char *path, struct note_verifier *v, struct ls_err *err)
{
	char *data = NULL;
	size_t len;
	ls_rc rc = fs_read_file(path, 4096, &data, &len, err);

	if (rc != LS_OK)
		return rc;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	rc = note_verifier_parse(data, len, v, err);
	free(data);
	return rc;
}

/* ---------------------------------------------------------------- seals --- */

/*
 * The history of checkpoints up to limit is the one checkpoints.index
 * records (cpindex.h): a checkpoint file deleted, or one that was never
 * indexed, or whose root is not the recorded one, is named.
 */
static ls_rc check_cpindex(const char *dir, const struct cpinfo *cps, size_t ncps,
			   uint64_t limit, struct ls_err *err)
{
	struct cpindex_ent *v = NULL;
	uint8_t k[CFGSEAL_KEY_LEN];
	size_t n = 0, i = 0, j = 0;
	ls_rc rc;

	rc = cfgseal_key(dir, CFGSEAL_CHECKPOINTS, k, err);
	if (rc == LS_OK)
		rc = cpindex_load(dir, k, 0, &v, &n, err);
	ls_wipe(k, sizeof(k));
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_TAMPERED,
				  "%s/" CPINDEX_FILE " is missing (a data directory made before "
				  "checkpoints were indexed: stop the server and run `logseal keys "
				  "seal-config --data %s`)",
				  dir, dir);
	if (rc != LS_OK)
		return rc;
	while (rc == LS_OK && (i < n || j < ncps)) {
		if (i < n && v[i].size > limit)
			i = n;
		if (i == n && j == ncps)
			break;
		if (j == ncps || (i < n && v[i].size < cps[j].size))
			rc = ls_err_set(err, LS_TAMPERED,
					"%s/checkpoints/%020llu: missing (the signed checkpoint of "
					"size %llu is recorded in " CPINDEX_FILE " line %zu; it was "
					"deleted)",
					dir, (unsigned long long)v[i].size,
					(unsigned long long)v[i].size, i + 1);
		else if (i == n || cps[j].size < v[i].size)
			rc = ls_err_set(err, LS_TAMPERED,
					"%s/checkpoints/%s: not recorded in %s/" CPINDEX_FILE
					" (lines were removed from it)",
					dir, cps[j].name, dir);
		else if (!ls_ct_equal(v[i].root, cps[j].root, LS_HASH_LEN))
			rc = ls_err_set(err, LS_TAMPERED,
					"%s/checkpoints/%s: its root is not the one recorded in "
					CPINDEX_FILE " line %zu",
					dir, cps[j].name, i + 1);
		else {
			i++;
			j++;
		}
	}
	free(v);
	return rc;
}

/* The sealed configuration (cfgseal.h): keys/master.json is checked by
 * keys_get(); here the token store and the alert engine's files. */
static ls_rc check_seals(const char *dir, struct ls_err *err)
{
	char path[PATH_MAX];
	uint8_t k[CFGSEAL_KEY_LEN];
	ls_rc rc;

	/* Without a key every file would pass as unsealed. */
	rc = cfgseal_key(dir, CFGSEAL_TOKENS, k, err);
	ls_wipe(k, sizeof(k));
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_TAMPERED, "%s/keys/log.key is missing", dir);
	if (rc != LS_OK)
		return rc;
	for (size_t i = 0; i < cfgseal_nfiles; i++) {
		char *data = NULL;
		size_t len;

		/* verify writes that one itself; serve and /v1/integrity check it */
		if (cfgseal_files[i].purpose == CFGSEAL_VERIFY)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, cfgseal_files[i].rel);
		rc = cfgseal_read_file(dir, cfgseal_files[i].purpose, path, 64u << 20, &data, &len,
				       err);
		free(data);
		if (rc == LS_NOTFOUND)
			continue;
		if (rc != LS_OK)
			return rc;
	}
	return LS_OK;
}

/* -------------------------------------------------------------- verify --- */

/*
 * The walk over the leaves of a data directory, in order: the archived
 * prefix, the sealed segments, the write-ahead log.  Every checkpoint the
 * tree reaches must have its root; leaves beyond the snapshot (limit) are
 * counted, not judged.
 */
struct vwalk {
	const char *dir;
	const struct cpinfo *cps;
	size_t ncps, next_cp;
	struct merkle_tree tree;
	struct tilecheck *tc;
	uint64_t limit;
	uint64_t beyond;
	struct progress *pg;
};

static ls_rc vw_checkpoints(struct vwalk *w, struct ls_err *err)
{
	while (w->next_cp < w->ncps && w->cps[w->next_cp].size == w->tree.size) {
		uint8_t root[LS_HASH_LEN];

		merkle_tree_root(&w->tree, root);
		if (!ls_ct_equal(root, w->cps[w->next_cp].root, LS_HASH_LEN))
			return ls_err_set(err, LS_TAMPERED,
					  "%s/checkpoints/%s: its root does not match the log's "
					  "first %llu entries",
					  w->dir, w->cps[w->next_cp].name,
					  (unsigned long long)w->tree.size);
		w->next_cp++;
	}
	return LS_OK;
}

static ls_rc vw_leaf(struct vwalk *w, const uint8_t h[LS_HASH_LEN], struct ls_err *err)
{
	ls_rc rc;

	if (w->tree.size >= w->limit) {
		w->beyond++;
		return LS_OK;
	}
	rc = vw_checkpoints(w, err);
	if (rc == LS_OK)
		rc = tc_push_leaf(w->tc, &w->tree, h, err);
	progress_tick(w->pg, w->tree.size);
	return rc;
}

/* store_check_segments()' callback: a sealed segment's leaf hashes. */
static ls_rc vw_hashes(void *ctx, uint64_t first, size_t n, const uint8_t (*h)[LS_HASH_LEN],
		       struct ls_err *err)
{
	struct vwalk *w = ctx;
	ls_rc rc = LS_OK;

	if (first != w->tree.size + w->beyond)
		return ls_err_set(err, LS_TAMPERED,
				  "%s/segments: the segment of leaf %llu comes where %llu was "
				  "expected",
				  w->dir, (unsigned long long)first,
				  (unsigned long long)(w->tree.size + w->beyond));
	w->tc->l0_from = first;
	w->tc->l0_to = first + n < w->limit ? first + n : w->limit;
	for (size_t i = 0; rc == LS_OK && i < n; i++)
		rc = vw_leaf(w, h[i], err);
	w->tc->l0_from = w->tc->l0_to = 0;
	return rc;
}

struct oldarch {
	struct vwalk *w;
	const struct retention_archived *a;
	struct ls_err *err;
	int bad;		/* an entry out of place */
	int failed;		/* the walk failed (a root, a tile): err says */
};

static ls_rc oldarch_entry(void *ctx, uint64_t idx, const uint8_t *data, size_t len)
{
	struct oldarch *o = ctx;
	uint8_t h[LS_HASH_LEN];
	ls_rc rc;

	if (idx != o->w->tree.size || idx > o->a->last) {
		o->bad = 1;
		return LS_TAMPERED;
	}
	merkle_leaf_hash(data, len, h);
	rc = vw_leaf(o->w, h, o->err);
	o->failed = rc != LS_OK;
	return rc;
}

/* Unpack an archived journal segment (the format before sealed segments)
 * into tmp (a directory right under DIR, so that its keys are found) and
 * feed its entries, read from that file alone (check.h). */
static ls_rc feed_archived(struct vwalk *w, const char *tmp, const struct retention_archived *a,
			   struct ls_err *err)
{
	struct oldarch o = { w, a, err, 0, 0 };
	char path[PATH_MAX];
	uint8_t *seg;
	size_t len;
	ls_rc rc;

	rc = retention_archive_read(w->dir, a, &seg, &len, err);
	if (rc != LS_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", tmp, a->segment);
	rc = fs_write_file(path, seg, len, 0600, 0, err);
	free(seg);
	if (rc == LS_OK)
		rc = store_journal_each(tmp, a->first, oldarch_entry, &o, err);
	unlink(path);
	if (o.failed)
		return rc;
	if (o.bad)
		return ls_err_set(err, LS_TAMPERED,
				  "%s/archive/%s: holds an entry where %llu was expected", w->dir,
				  a->file, (unsigned long long)w->tree.size);
	if (rc != LS_OK) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		return ls_err_set(err, rc, "%s/archive/%s: %s", w->dir, a->file, why);
	}
	if (w->tree.size != a->last + 1)
		return ls_err_set(err, LS_TAMPERED,
				  "%s/archive/%s: ends at entry %llu, the manifest says %llu", w->dir,
				  a->file, (unsigned long long)w->tree.size,
				  (unsigned long long)a->last + 1);
	return LS_OK;
}

/* An archived sealed segment: the file's SHA-256 against the manifest,
 * then every byte and its leaf hashes against the tiles (check.h). */
static ls_rc feed_sealed(struct vwalk *w, const struct retention_archived *a,
			 uint64_t signed_size, struct ls_err *err)
{
	char path[PATH_MAX];
	uint8_t (*h)[LS_HASH_LEN] = NULL, *raw = NULL;
	uint32_t n = 0;
	size_t len;
	ls_rc rc;

	if (a->remote) {
		/* In the bucket (retention with an object store): a checked
		 * download (tier.h), then the same check. */
		snprintf(path, sizeof(path), "%s/.verify-remote.%ld", w->dir, (long)getpid());
		rc = tier_fetch_copy(w->dir, a->first, path, err);
	} else {
		rc = retention_archive_read(w->dir, a, &raw, &len, err);
		free(raw);
		snprintf(path, sizeof(path), "%s/archive/%s", w->dir, a->file);
	}
	if (rc != LS_OK)
		return rc;
	rc = store_check_sealed_file(w->dir, path, a->first, signed_size, &h, &n, NULL, err);
	if (a->remote)
		unlink(path);
	if (rc == LS_OK && a->first + n != a->last + 1)
		rc = ls_err_set(err, LS_TAMPERED,
				"%s: holds %u entries, the manifest says %llu..%llu", path, n,
				(unsigned long long)a->first, (unsigned long long)a->last);
	if (rc == LS_OK)
		rc = vw_hashes(w, a->first, n, (const uint8_t (*)[LS_HASH_LEN])h, err);
	free(h);
	return rc;
}

/* The retired prefix [0, kept): every archived segment is read back
 * (a sealed one checked like those in DIR/segments; one of the journal
 * format before them: checksum, decompress, decrypt, hash); a purged one
 * contributes the leaf hashes of the hash tiles, which the signed roots
 * then vouch for. */
static ls_rc verify_retired(struct vwalk *w, uint64_t kept, uint64_t signed_size,
			    struct verify_report *rep, struct ls_err *err)
{
	struct retention_archived *v = NULL;
	struct tiles_reader *r = NULL;
	char tmp[PATH_MAX], logdir[PATH_MAX];
	const char *dir = w->dir;
	size_t n = 0, i;
	ls_rc rc;

	rc = retention_manifest_list(dir, &v, &n, err);
	if (rc != LS_OK)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s/.verify-archive.%ld", dir, (long)getpid());
	snprintf(logdir, sizeof(logdir), "%s/log", dir);
	for (i = 0; i < n && w->tree.size < kept; i++) {
		const struct retention_archived *a = &v[i];

		if (a->first != w->tree.size || a->last < a->first || a->last >= kept) {
			rc = ls_err_set(err, LS_TAMPERED,
					"%s: entries from %llu are neither kept nor in the archive "
					"manifest",
					dir, (unsigned long long)w->tree.size);
			goto out;
		}
		if (!a->purged && a->sealed) {
			rc = feed_sealed(w, a, signed_size, err);
			if (rc != LS_OK)
				goto out;
			rep->archived += a->last - a->first + 1;
			continue;
		}
		if (!a->purged) {
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
				rc = ls_err_set(err, LS_IO, "%s: %s", tmp, strerror(errno));
				goto out;
			}
			rc = feed_archived(w, tmp, a, err);
			rmdir(tmp);
			if (rc != LS_OK)
				goto out;
			rep->archived += a->last - a->first + 1;
			continue;
		}
		if (a->last >= signed_size) {
			rc = ls_err_set(err, LS_CORRUPT,
					"entries %llu..%llu were purged before a checkpoint covered "
					"them",
					(unsigned long long)a->first, (unsigned long long)a->last);
			goto out;
		}
		if (!r && tiles_reader_open(logdir, signed_size, &r) != LS_OK) {
			rc = ls_err_set(err, LS_NOMEM, "cannot open the tiles of %s", logdir);
			goto out;
		}
		for (uint64_t k = a->first; k <= a->last; k++) {
			uint8_t h[LS_HASH_LEN];

			if (tiles_node_hash(r, 0, k, h) != LS_OK) {
				rc = ls_err_set(err, LS_TAMPERED,
						"%s: the hash tile of purged entry %llu cannot be read",
						logdir, (unsigned long long)k);
				goto out;
			}
			rc = vw_leaf(w, h, err);
			if (rc != LS_OK)
				goto out;
		}
		rep->purged += a->last - a->first + 1;
		{
			size_t used = strlen(rep->retention);
			snprintf(rep->retention + used, sizeof(rep->retention) - used,
				 "%sentries %llu..%llu purged by policy (event #%llu)",
				 used ? "; " : "", (unsigned long long)a->first,
				 (unsigned long long)a->last, (unsigned long long)a->purge_event);
		}
	}
	if (w->tree.size != kept)
		rc = ls_err_set(err, LS_TAMPERED,
				"%s: entries from %llu are neither kept nor in the archive manifest",
				dir, (unsigned long long)w->tree.size);
out:
	tiles_reader_free(r);
	free(v);
	return rc;
}

/* What verify_data_dir() and verify_serve_start() start from: the verifier
 * key, the keyring (NULL for a plaintext directory) and the directories'
 * paths (PATH_MAX each).  A wrong or missing master key is said first, in
 * its own words. */
static ls_rc open_data_dir(const char *dir, struct note_verifier *key, struct keyring **kr,
			   char *logdir, char *jdir, struct ls_err *err)
{
	char path[PATH_MAX];
	ls_rc rc;

	if (strlen(dir) > PATH_MAX - 256)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	snprintf(path, sizeof(path), "%s/verifier.key", dir);
	rc = load_key_file(path, key, err);
	if (rc != LS_OK)
		return rc;
	rc = keys_get(dir, kr, err);
	if (rc != LS_OK && rc != LS_NOTFOUND)
		return rc;
	snprintf(logdir, PATH_MAX, "%s/log", dir);
	snprintf(jdir, PATH_MAX, "%s/journal", dir);
	return LS_OK;
}

/*
 * A consistent snapshot of a live directory: the published checkpoint is
 * read first and everything is checked up to its size only.  A server
 * writes what a checkpoint needs (entries, tiles, its history file and
 * index line) before it publishes it, and never changes any of that
 * afterwards, so whatever it adds meanwhile lies beyond the snapshot.
 */
ls_rc verify_data_dir(const char *dir, const struct verify_progress *progress,
		      struct verify_report *rep, struct ls_err *err)
{
	return verify_data_dir_ex(dir, progress, 0, rep, err);
}

ls_rc verify_data_dir_ex(const char *dir, const struct verify_progress *progress, int flags,
			 struct verify_report *rep, struct ls_err *err)
{
	char path[PATH_MAX], jdir[PATH_MAX], logdir[PATH_MAX];
	struct note_verifier key;
	struct keyring *kr = NULL;
	struct cpinfo *cps = NULL;
	size_t ncps = 0;
	struct tilecheck *tc = NULL;
	struct store_iter *it = NULL;
	struct vwalk w;
	struct progress pg = { 0 };
	struct checkpoint pub;
	struct store_check_report srep;
	struct store_check_cb cb;
	char *pubnote = NULL, *lastnote = NULL;
	size_t lastlen;
	uint64_t kept = 0;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	rc = open_data_dir(dir, &key, &kr, logdir, jdir, err);
	if (rc != LS_OK)
		return rc;

	/* The snapshot: the published checkpoint, before anything else. */
	snprintf(path, sizeof(path), "%s/checkpoint", logdir);
	rc = open_checkpoint(path, &key, &pub, &pubnote, err);
	if (rc != LS_OK)
		return rc;
	rc = store_check_format(dir, err);
	if (rc == LS_OK)
		rc = check_seals(dir, err);
	if (rc == LS_OK)
		rc = load_checkpoints(dir, &key, pub.size, &cps, &ncps, err);
	if (rc == LS_OK)
		rc = check_cpindex(dir, cps, ncps, pub.size, err);
	if (rc != LS_OK)
		goto out;

	tc = malloc(sizeof(*tc));
	if (!tc) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = tc_init(tc, logdir, 0, err);
	if (rc != LS_OK) {
		free(tc);
		tc = NULL;
		goto out;
	}
	memset(&pg, 0, sizeof(pg));
	pg.to = progress;
	pg.total = pub.size;
	memset(&w, 0, sizeof(w));
	w.dir = dir;
	w.cps = cps;
	w.ncps = ncps;
	w.tc = tc;
	w.limit = pub.size;
	w.pg = &pg;
	merkle_tree_init(&w.tree);
	rc = tier_local_retained(jdir, &kept, err);
	if (rc == LS_OK && kept)
		rc = verify_retired(&w, kept, pub.size, rep, err);
	if (rc != LS_OK)
		goto out;

	/* A retained point inside an entry bundle (retention of the format
	 * before sealed segments): the entries up to the next whole bundle are
	 * in the WAL, before the first segment. */
	if (kept % TILE_WIDTH) {
		rc = store_iter_open(jdir, kept, STORE_STRICT, &it, err);
		while (rc == LS_OK && w.tree.size < (kept / TILE_WIDTH + 1) * TILE_WIDTH &&
		       w.tree.size < pub.size) {
			const uint8_t *data;
			size_t len;
			uint64_t idx;
			uint8_t h[LS_HASH_LEN];

			rc = store_iter_next(it, &data, &len, &idx, err);
			if (rc == LS_NOTFOUND) {
				rc = LS_OK;
				break;
			}
			if (rc == LS_OK && idx != w.tree.size)
				rc = ls_err_set(err, LS_TAMPERED,
						"%s: the journal holds entry %llu where %llu was "
						"expected",
						jdir, (unsigned long long)idx,
						(unsigned long long)w.tree.size);
			if (rc == LS_OK) {
				merkle_leaf_hash(data, len, h);
				rc = vw_leaf(&w, h, err);
			}
		}
		store_iter_free(it);
		it = NULL;
		if (rc != LS_OK)
			goto out;
	}

	/* The sealed segments, then the write-ahead log from where they end. */
	memset(&cb, 0, sizeof(cb));
	cb.hashes = vw_hashes;
	cb.ctx = &w;
	cb.threads = 2;
	rc = store_check_segments(dir, w.tree.size, pub.size, &cb, &srep, err);
	if (rc != LS_OK)
		goto out;
	rep->segments = srep.segments;
	rep->sealed = srep.entries;
	rep->sealed_bytes = srep.bytes;
	rep->sealed_seconds = srep.seconds;
	rc = store_iter_open(jdir, srep.end, STORE_STRICT, &it, err);
	if (rc != LS_OK)
		goto out;
	while (w.tree.size < pub.size) {
		const uint8_t *data;
		size_t len;
		uint64_t idx;
		uint8_t h[LS_HASH_LEN];

		rc = store_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc != LS_OK)
			goto out;
		if (idx != w.tree.size) {
			rc = ls_err_set(err, LS_TAMPERED,
					"%s: the journal holds entry %llu where %llu was expected", jdir,
					(unsigned long long)idx, (unsigned long long)w.tree.size);
			goto out;
		}
		merkle_leaf_hash(data, len, h);
		rc = vw_leaf(&w, h, err);
		if (rc != LS_OK) {
			const char *seg;
			uint64_t off;
			char detail[sizeof(err->msg)];
			store_iter_where(it, &seg, &off);
			snprintf(detail, sizeof(detail), "%s (journal entry %llu at %s offset %llu)",
				 err ? err->msg : "", (unsigned long long)idx, seg,
				 (unsigned long long)off);
			rc = ls_err_set(err, rc, "%s", detail);
			goto out;
		}
	}
	rc = vw_checkpoints(&w, err);
	if (rc != LS_OK)
		goto out;
	progress_done(&pg);
	rep->entries = w.tree.size;
	if (w.next_cp < ncps) {
		rc = ls_err_set(err, LS_CORRUPT,
				"%s/checkpoints/%s: signed for %llu entries but the log holds "
				"only %llu: acknowledged entries are missing",
				dir, cps[w.next_cp].name, (unsigned long long)cps[w.next_cp].size,
				(unsigned long long)w.tree.size);
		goto out;
	}
	tc->sealed_from = srep.first;
	tc->sealed_to = srep.end;
	rc = tc_expect(tc, 0, pub.size, err);
	if (rc == LS_OK)
		rc = tc_finish(tc, 0, pub.size, err);
	if (rc != LS_OK)
		goto out;

	/* The published checkpoint is the latest stored one, byte for byte,
	 * possibly followed by witnesses' cosignature lines (witnesses.h:
	 * lines of keys the log does not hold, which a signed note's reader
	 * ignores; pubnote was opened strictly above). */
	snprintf(path, sizeof(path), "%s/checkpoints/%s", dir, cps[ncps - 1].name);
	rc = fs_read_file(path, NOTE_MAX_SIZE, &lastnote, &lastlen, err);
	if (rc != LS_OK)
		goto out;
	if (cps[ncps - 1].size != pub.size || strncmp(lastnote, pubnote, lastlen) != 0) {
		rc = ls_err_set(err, LS_TAMPERED,
				"%s/checkpoint: is not the latest signed checkpoint (%s)", logdir, path);
		goto out;
	}
	/* Entries beyond the snapshot: counted, not judged (a live server may
	 * be writing the last of them). */
	rep->uncovered = w.beyond;
	{
		const uint8_t *data;
		size_t len;
		uint64_t idx;
		struct ls_err e2;

		while (store_iter_next(it, &data, &len, &idx, &e2) == LS_OK)
			rep->uncovered++;
	}
	rep->checkpoints = ncps;
	rep->tiles = tc->checked;
	rep->tree_size = pub.size;
	memcpy(rep->root, pub.root, LS_HASH_LEN);

	/* The postings (derived, rebuilt by `logseal reindex`): every posting
	 * points at an entry with the term, every term of every entry is
	 * posted.  No index at all is not an error. */
	if (!(flags & VERIFY_NO_POSTINGS)) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = index_verify_postings(dir, NULL, NULL, &rep->postings_files,
					   &rep->postings_entries, err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		rep->postings_seconds = (double)(t1.tv_sec - t0.tv_sec) +
					(double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (rc == LS_NOTFOUND)
			rc = LS_OK;
		else if (rc == LS_OK)
			rep->postings = 1;
	}
out:
	if (rc != LS_OK)
		progress_done(&pg);
	free(pubnote);
	free(lastnote);
	store_iter_free(it);
	if (tc)
		tc_release(tc);
	free(tc);
	free(cps);
	return rc;
}

ls_rc verify_tiles_dir(const char *dir, const struct note_verifier *key,
		       const struct verify_progress *progress, struct verify_report *rep,
		       struct ls_err *err)
{
	struct verify_tiles_opts o = { .progress = progress };
	struct verify_tiles_report tr;
	struct verify_src *src = NULL;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	rc = verify_src_dir(dir, &src, err);
	if (rc != LS_OK)
		return rc;
	rc = verify_tiles_src(src, key, &o, &tr, err);
	verify_src_free(src);
	rep->entries = tr.entries;
	rep->tree_size = tr.tree_size;
	rep->checkpoints = tr.checkpoints;
	rep->tiles = tr.tiles + tr.bundles;
	rep->segments = tr.segments;
	memcpy(rep->root, tr.root, LS_HASH_LEN);
	return rc;
}

/* The tree size the last full verify vouched for (0: none, or not to be
 * trusted: its seal is checked like any configuration file's). */
static uint64_t last_verified(const char *dir, const struct checkpoint *pub)
{
	char path[PATH_MAX], *text = NULL;
	struct ls_err e = { "" };
	json_t *o, *ok, *ts;
	uint64_t v = 0;
	size_t len;

	snprintf(path, sizeof(path), "%s/state/last-verify.json", dir);
	if (cfgseal_read_file(dir, CFGSEAL_VERIFY, path, 65536, &text, &len, &e) != LS_OK)
		return 0;
	o = json_loadb(text, len, 0, NULL);
	free(text);
	ok = json_object_get(o, "ok");
	ts = json_object_get(o, "tree_size");
	if (json_is_true(ok) && json_is_integer(ts) && json_integer_value(ts) >= 0 &&
	    (uint64_t)json_integer_value(ts) <= pub->size)
		v = (uint64_t)json_integer_value(ts);
	json_decref(o);
	return v;
}

/* store_sealed_hashes()' callback for verify_serve_start(). */
struct serve_walk {
	struct tilecheck *tc;
	struct merkle_tree *tree;
	uint64_t limit;
};

static ls_rc sw_hashes(void *ctx, uint64_t first, size_t n, const uint8_t (*h)[LS_HASH_LEN],
		       struct ls_err *err)
{
	struct serve_walk *sw = ctx;
	ls_rc rc = LS_OK;

	if (first != sw->tree->size)
		return ls_err_set(err, LS_TAMPERED, "sealed leaf %llu comes where %llu was expected",
				  (unsigned long long)first, (unsigned long long)sw->tree->size);
	for (size_t i = 0; rc == LS_OK && i < n && sw->tree->size < sw->limit; i++)
		rc = tc_push_leaf(sw->tc, sw->tree, h[i], err);
	return rc;
}

ls_rc verify_serve_start(const char *dir, uint64_t *from_out, struct ls_err *err)
{
	char path[PATH_MAX], jdir[PATH_MAX], logdir[PATH_MAX];
	struct note_verifier key;
	struct keyring *kr = NULL;
	struct tilecheck *tc = NULL;
	struct tiles_reader *r = NULL;
	struct store_iter *it = NULL;
	struct serve_walk sw;
	struct merkle_tree tree;
	struct checkpoint pub;
	uint8_t root[LS_HASH_LEN];
	uint64_t from, kept = 0, sealed_end = 0;
	ls_rc rc;

	*from_out = 0;
	rc = open_data_dir(dir, &key, &kr, logdir, jdir, err);
	if (rc != LS_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/checkpoint", logdir);
	rc = open_checkpoint(path, &key, &pub, NULL, err);
	if (rc != LS_OK)
		return rc;
	rc = tier_local_retained(jdir, &kept, err);
	if (rc != LS_OK)
		return rc;
	/* From the start of the level-0 tile of the last verified size; the
	 * archived prefix is verify's (it is not kept here).  Sealed leaves
	 * count by their stored hashes (every read of a sealed entry checks
	 * the entry against them), the WAL's by its entries. */
	from = last_verified(dir, &pub) / TILE_WIDTH * TILE_WIDTH;
	if (from < kept)
		from = (kept + TILE_WIDTH - 1) / TILE_WIDTH * TILE_WIDTH;
	if (from > pub.size)
		return LS_OK;
	*from_out = from;

	tc = malloc(sizeof(*tc));
	if (!tc)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = tc_init(tc, logdir, 0, err);
	if (rc != LS_OK) {
		free(tc);
		return rc;
	}
	if (tiles_reader_open(logdir, pub.size, &r) != LS_OK) {
		rc = ls_err_set(err, LS_NOMEM, "cannot open the tiles of %s", logdir);
		goto out;
	}
	/* The state at `from`, from the tiles below it: the right edge of each
	 * level's current tile, and the tree's frontier.  The root compared at
	 * the end covers whatever is taken from them. */
	merkle_tree_init(&tree);
	tree.size = from;
	for (int k = 0; k < 64 && rc == LS_OK; k++)
		if ((from >> k) & 1)
			rc = tiles_node_hash(r, (unsigned)k, (from >> k) - 1, tree.edge[k]);
	tc->tile_index[0] = from / TILE_WIDTH;
	tc->bindex = from / TILE_WIDTH;
	for (int level = 1; level < MAX_LEVELS && rc == LS_OK; level++) {
		uint64_t n = from >> (TILE_HEIGHT * level), start = n / TILE_WIDTH * TILE_WIDTH;

		for (uint64_t j = start; j < n && rc == LS_OK; j++)
			rc = tiles_node_hash(r, (unsigned)(TILE_HEIGHT * level), j,
					     tc->hashes[level][j - start]);
		tc->count[level] = (unsigned)(n - start);
		tc->tile_index[level] = n / TILE_WIDTH;
	}
	if (rc != LS_OK) {
		rc = ls_err_set(err, LS_TAMPERED,
				"%s: the hash tiles below entry %llu cannot be read (%s)", logdir,
				(unsigned long long)from, ls_rc_name(rc));
		goto out;
	}
	sw.tc = tc;
	sw.tree = &tree;
	sw.limit = pub.size;
	rc = store_sealed_hashes(dir, from, sw_hashes, &sw, &sealed_end, err);
	if (rc == LS_OK)
		rc = store_iter_open(jdir, sealed_end > from ? sealed_end : from, STORE_STRICT, &it,
				     err);
	while (rc == LS_OK && tree.size < pub.size) {
		const uint8_t *data;
		size_t len;
		uint64_t idx;
		uint8_t h[LS_HASH_LEN];

		rc = store_iter_next(it, &data, &len, &idx, err);
		if (rc == LS_NOTFOUND)
			rc = ls_err_set(err, LS_CORRUPT,
					"%s: ends at entry %llu, the signed checkpoint covers %llu",
					jdir, (unsigned long long)tree.size,
					(unsigned long long)pub.size);
		else if (rc == LS_OK && idx != tree.size)
			rc = ls_err_set(err, LS_TAMPERED,
					"%s: the journal holds entry %llu where %llu was expected", jdir,
					(unsigned long long)idx, (unsigned long long)tree.size);
		if (rc != LS_OK)
			break;
		merkle_leaf_hash(data, len, h);
		rc = tc_push_leaf(tc, &tree, h, err);
	}
	if (rc != LS_OK)
		goto out;
	merkle_tree_root(&tree, root);
	if (!ls_ct_equal(root, pub.root, LS_HASH_LEN)) {
		rc = ls_err_set(err, LS_TAMPERED,
				"%s/checkpoint: the sealed leaf hashes, the WAL and the tiles below "
				"entry %llu do not give its root (size %llu)",
				logdir, (unsigned long long)from, (unsigned long long)pub.size);
		goto out;
	}
	tc->sealed_from = from;
	tc->sealed_to = sealed_end;
	rc = tc_expect(tc, from, pub.size, err);
	if (rc == LS_OK)
		rc = tc_finish(tc, from, pub.size, err);
out:
	store_iter_free(it);
	tiles_reader_free(r);
	tc_release(tc);
	free(tc);
	return rc;
}
