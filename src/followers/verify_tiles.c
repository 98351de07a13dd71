/*
 * verify_tiles.c - a published log checked in place (verify.h,
 * verify_tiles_src()): a static C2SP tlog-tiles log and, in the bucket
 * layout, its checkpoints/<size> and segments/<016x>.seal, read object by
 * object from a source (verify_src.h: a directory or an object store).
 *
 * The plan.  Every object the check reads is an item: the entry bundles
 * and hash tiles the tree of the latest checkpoint needs (and every other
 * tile or bundle the listing shows: older partial widths), every
 * checkpoints/<size> and every segment.  Each item belongs to the chunk of
 * 256 leaves whose end makes it checkable; items are sorted by chunk, then
 * segments, bundles, tiles by level, checkpoints.  A few fetcher threads
 * read the items in that order, at most FETCH_WINDOW ahead of the check,
 * which walks them in order in the caller's thread:
 *   - a chunk's leaves come from its entry bundle (plaintext, or the LSB1
 *     envelope opened with the bundle key), else from its level-0 tile,
 *     else from a segment's stored hashes; every other of those present
 *     must agree with them;
 *   - the leaves go into the tree and into one tile buffer per level (as
 *     the tiles writer does); when a level's buffer reaches the width of a
 *     tile item, the item's bytes must be those hashes;
 *   - at a checkpoint's size the root must be its root (each signed
 *     checkpoint is a prefix of the log: consistency), after a signature
 *     check with the verifier key;
 *   - at the end the root must be the latest checkpoint's.
 * A problem is reported with the object's name and the walk goes on (up to
 * max_problems reported; all counted).  An object that is missing is named
 * once; where the leaves of a chunk cannot be had at all, the checks that
 * need the tree stop and say so.
 */
#include "followers/verify.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crypto.h"
#include "core/merkle.h"
#include "core/note.h"
#include "followers/verify_src.h"
#include "store/bundlekey.h"
#include "store/objstore.h"
#include "store/segscan.h"
#include "store/tiles.h"

#define MAX_LEVELS 8
#define ENTRY_LEVEL (-1)
#define FETCH_WINDOW 64
#define SEG_CAP (1u << 30)	/* a segment object read whole: at most 1 GB */
#define TILE_CAP (TILE_WIDTH * (65535 + 2) + 4096)

enum kind { K_SEG = 0, K_BUNDLE = 1, K_TILE = 2, K_CKPT = 3 };

struct item {
	enum kind kind;
	int level;		/* tiles: 0..7; bundles: ENTRY_LEVEL */
	uint64_t n;		/* tile index, segment's first leaf, checkpoint size */
	unsigned w;		/* width (256: full) */
	uint64_t chunk;
	int listed;		/* seen in the listing (or asked for by name) */
	int seen;		/* looked at by the check */
	char key[96];
	/* fetch result */
	int done;
	ls_rc rc;
	char why[300];
	uint8_t *data;
	size_t len;
};

struct seg_active {
	uint8_t *bytes;		/* the object (sc.hashes point into it) */
	struct segscan sc;
	char key[96];
	int bad;		/* reported once */
};

struct vt {
	struct verify_src *src;
	const struct verify_tiles_opts *o;
	struct verify_tiles_report *rep;
	struct ls_err *err;
	const char *lp;		/* "log/" (bucket layout) or "" (a bare tiles log) */
	struct checkpoint cp;
	/* plan */
	struct item *items;
	size_t nitems, cap;
	/* fetchers */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next, consumed;
	int quit;
	/* tree */
	struct merkle_tree tree;
	uint8_t hashes[MAX_LEVELS][TILE_WIDTH][LS_HASH_LEN];
	unsigned count[MAX_LEVELS];
	uint64_t tile_index[MAX_LEVELS];
	uint64_t leaves;
	int broken;		/* leaves of some chunk could not be had */
	struct seg_active *segs;
	size_t nsegs, segcap;
	/* level-1 tiles read first: witnesses of each chunk's leaves */
	uint8_t **l1;
	unsigned *l1w;
	uint64_t nl1;
	uint8_t cand[3][TILE_WIDTH][LS_HASH_LEN];
};

/* ------------------------------------------------------------ problems --- */

static void problem(struct vt *v, int warning, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void problem(struct vt *v, int warning, const char *key, const char *fmt, ...)
{
	char what[600], where[1300];
	unsigned max = v->o && v->o->max_problems ? v->o->max_problems : 1000;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s/%s", verify_src_name(v->src), key);
	if (warning) {
		v->rep->warnings++;
	} else {
		if (!v->rep->problems)
			ls_err_set(v->err, LS_TAMPERED, "%s: %s", where, what);
		v->rep->problems++;
		if (v->rep->problems > max)
			return;
	}
	if (v->o && v->o->problem)
		v->o->problem(v->o->ctx, warning, where, what);
}

/* ---------------------------------------------------------------- plan --- */

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->chunk != y->chunk)
		return x->chunk < y->chunk ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	if (x->w != y->w)
		return x->w < y->w ? -1 : 1;
	return x->n < y->n ? -1 : x->n > y->n;
}

static uint64_t tile_end(int level, uint64_t n, unsigned w)
{
	unsigned __int128 end = (unsigned __int128)n * TILE_WIDTH + w;

	if (level > 0)
		end <<= TILE_HEIGHT * level;
	return end > UINT64_MAX ? UINT64_MAX : (uint64_t)end;
}

static struct item *new_item(struct vt *v, enum kind k, int level, uint64_t n, unsigned w,
			     int listed)
{
	struct item *it;

	if (v->nitems == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		struct item *p = realloc(v->items, cap * sizeof(*p));
		if (!p)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	it = &v->items[v->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = k;
	it->level = level;
	it->n = n;
	it->w = w;
	it->listed = listed;
	switch (k) {
	case K_SEG:
		it->chunk = n / TILE_WIDTH;
		snprintf(it->key, sizeof(it->key), "segments/%016llx.seal", (unsigned long long)n);
		break;
	case K_CKPT:
		it->chunk = n ? (n - 1) / TILE_WIDTH : 0;
		snprintf(it->key, sizeof(it->key), "checkpoints/%llu", (unsigned long long)n);
		break;
	default: {
		char rel[TILES_PATH_MAX];
		uint64_t end = tile_end(level, n, w);

		it->chunk = (end - 1) / TILE_WIDTH;
		tiles_path(level, n, w, rel, sizeof(rel));
		snprintf(it->key, sizeof(it->key), "%s%s", v->lp, rel);
	}
	}
	return it;
}

struct listctx {
	struct vt *v;
	int oom;
};

/* Listed keys: bsearch needs a sorted plan, so listing appends and the
 * expected items are merged in after a sort (dedup_items). */
static int on_key(void *ctx, const char *key, uint64_t size)
{
	struct listctx *lc = ctx;
	struct vt *v = lc->v;
	size_t lpn = strlen(v->lp);
	int level;
	uint64_t n;
	unsigned w;

	(void)size;
	if (!strncmp(key, "checkpoints/", 12)) {
		if (!ls_parse_u64(key + 12, 0, UINT64_MAX, &n)) {
			problem(v, 0, key, "not a checkpoint name (checkpoints/<decimal size>)");
			return 0;
		}
		if (!new_item(v, K_CKPT, 0, n, 0, 1))
			lc->oom = 1;
		else
			snprintf(v->items[v->nitems - 1].key, sizeof(v->items[0].key), "%s", key);
		return lc->oom;
	}
	if (!strncmp(key, "segments/", 9)) {
		const char *b = key + 9;
		char *end;

		errno = 0;
		n = strtoull(b, &end, 16);
		if (strlen(b) != 21 || strcmp(b + 16, ".seal") || end != b + 16 || errno ||
		    strspn(b, "0123456789abcdef") != 16) {
			problem(v, 0, key, "not a segment name (segments/<016x>.seal)");
			return 0;
		}
		if (!new_item(v, K_SEG, 0, n, 0, 1))
			lc->oom = 1;
		return lc->oom;
	}
	if (strncmp(key, v->lp, lpn) || strncmp(key + lpn, "tile/", 5))
		return 0;
	if (tiles_path_parse(key + lpn, &level, &n, &w) != LS_OK || level >= MAX_LEVELS) {
		problem(v, 0, key, "not a tile path");
		return 0;
	}
	if (!new_item(v, level == ENTRY_LEVEL ? K_BUNDLE : K_TILE, level, n, w, 1))
		lc->oom = 1;
	return lc->oom;
}

static int item_id_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->w < y->w ? -1 : x->w > y->w;
}

/* Expected items of the tree of size: those not listed are missing. */
static ls_rc expect(struct vt *v, uint64_t size, int can_list)
{
	size_t listed_n = v->nitems;
	struct item key;

	if (listed_n)
		qsort(v->items, listed_n, sizeof(*v->items), item_id_cmp);
#define EXPECT(k, lvl, nn, ww)                                                                \
	do {                                                                                  \
		memset(&key, 0, sizeof(key));                                                 \
		key.kind = (k);                                                               \
		key.level = (lvl);                                                            \
		key.n = (nn);                                                                 \
		key.w = (ww);                                                                 \
		if (!listed_n ||                                                              \
		    !bsearch(&key, v->items, listed_n, sizeof(*v->items), item_id_cmp)) {     \
			struct item *it_ = new_item(v, (k), (lvl), (nn), (ww), !can_list);    \
			if (!it_)                                                             \
				return LS_NOMEM;                                              \
		}                                                                             \
	} while (0)
	for (uint64_t n = 0; n < size / TILE_WIDTH; n++)
		EXPECT(K_BUNDLE, ENTRY_LEVEL, n, TILE_WIDTH);
	if (size % TILE_WIDTH)
		EXPECT(K_BUNDLE, ENTRY_LEVEL, size / TILE_WIDTH, (unsigned)(size % TILE_WIDTH));
	for (int level = 0; level < MAX_LEVELS; level++) {
		uint64_t count = size >> (TILE_HEIGHT * level);

		if (!count)
			break;
		for (uint64_t n = 0; n < count / TILE_WIDTH; n++)
			EXPECT(K_TILE, level, n, TILE_WIDTH);
		if (count % TILE_WIDTH)
			EXPECT(K_TILE, level, count / TILE_WIDTH, (unsigned)(count % TILE_WIDTH));
	}
	if (*v->lp && size)
		EXPECT(K_CKPT, 0, size, 0);
#undef EXPECT
	return LS_OK;
}

/* ------------------------------------------------------------ fetchers --- */

static void *fetcher(void *arg)
{
	struct vt *v = arg;

	for (;;) {
		struct item *it;
		struct ls_err e = { "" };
		size_t cap;
		ls_rc rc;

		pthread_mutex_lock(&v->mu);
		while (!v->quit && v->next < v->nitems && v->next >= v->consumed + FETCH_WINDOW)
			pthread_cond_wait(&v->cv, &v->mu);
		if (v->quit || v->next >= v->nitems) {
			pthread_mutex_unlock(&v->mu);
			return NULL;
		}
		it = &v->items[v->next++];
		pthread_mutex_unlock(&v->mu);
		if (!it->listed) {
			rc = LS_NOTFOUND;
		} else {
			cap = it->kind == K_SEG ? SEG_CAP : it->kind == K_CKPT ? NOTE_MAX_SIZE : TILE_CAP;
			rc = verify_src_get(v->src, it->key, cap, &it->data, &it->len, &e);
		}
		pthread_mutex_lock(&v->mu);
		it->rc = rc;
		snprintf(it->why, sizeof(it->why), "%s", e.msg);
		it->done = 1;
		if (rc == LS_OK) {
			v->rep->objects++;
			v->rep->bytes += it->len;
		}
		pthread_cond_broadcast(&v->cv);
		pthread_mutex_unlock(&v->mu);
	}
}

static struct item *take(struct vt *v, size_t i)
{
	struct item *it = &v->items[i];

	pthread_mutex_lock(&v->mu);
	/* the window counts from the item waited for: a chunk with more
	 * items than the window (many checkpoints or old partial tiles in
	 * 256 leaves) is still read through */
	if (i > v->consumed) {
		v->consumed = i;
		pthread_cond_broadcast(&v->cv);
	}
	while (!it->done)
		pthread_cond_wait(&v->cv, &v->mu);
	pthread_mutex_unlock(&v->mu);
	return it;
}

static void release(struct vt *v, size_t upto)
{
	pthread_mutex_lock(&v->mu);
	if (upto > v->consumed)
		v->consumed = upto;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

/* An item that could not be read: named as missing or unreadable. */
static int fetched(struct vt *v, struct item *it)
{
	if (it->seen++)
		return it->rc == LS_OK;
	if (it->rc == LS_OK)
		return 1;
	if (it->rc == LS_NOTFOUND)
		problem(v, 0, it->key, "missing");
	else
		problem(v, 0, it->key, "cannot be read: %s", it->why);
	return 0;
}

/* ------------------------------------------------------------- bundles --- */

/* The C2SP bundle of w entries in plain (w entries, nothing after):
 * their leaf hashes into out.  0 when it is not one. */
static int bundle_leaves(const uint8_t *b, size_t len, unsigned w, uint8_t (*out)[LS_HASH_LEN],
			 size_t *used)
{
	size_t pos = 0;

	for (unsigned i = 0; i < w; i++) {
		size_t n;

		if (len - pos < 2)
			return 0;
		n = (size_t)b[pos] << 8 | b[pos + 1];
		if (len - pos - 2 < n)
			return 0;
		merkle_leaf_hash(b + pos + 2, n, out[i]);
		pos += 2 + n;
	}
	*used = pos;
	return pos == len;
}

/* The plaintext of a bundle item: 1 with *plain (malloc'd); 0 when it
 * cannot be had (reported, or *sealed set when there is no key). */
static int bundle_plain(struct vt *v, struct item *it, uint8_t **plain, size_t *plen,
			int *sealed)
{
	if (it->len >= 4 && !memcmp(it->data, BUNDLEKEY_MAGIC, 4)) {
		ls_rc rc;

		if (!v->o || !v->o->bundle_key) {
			*sealed = 1;
			v->rep->bundles_sealed++;
			return 0;
		}
		rc = bundlekey_open(v->o->bundle_key, v->cp.origin, it->n, it->w, it->data,
				    it->len, plain, plen, NULL);
		if (rc == LS_NOMEM) {
			problem(v, 0, it->key, "out of memory");
			return 0;
		}
		if (rc != LS_OK) {
			problem(v, 0, it->key, "LSB1 envelope does not open with the bundle key "
				"(altered, moved, or sealed under another key)");
			return 0;
		}
		return 1;
	}
	*plain = malloc(it->len ? it->len : 1);
	if (!*plain) {
		problem(v, 0, it->key, "out of memory");
		return 0;
	}
	memcpy(*plain, it->data, it->len);
	*plen = it->len;
	return 1;
}

/* ---------------------------------------------------------------- tree --- */

static void check_tile(struct vt *v, struct item *it, const uint8_t (*want)[LS_HASH_LEN],
		       unsigned w)
{
	if (!fetched(v, it))
		return;
	v->rep->tiles++;
	if (it->len != (size_t)w * LS_HASH_LEN) {
		problem(v, 0, it->key, "%zu bytes, a tile of %u hashes has %zu", it->len, w,
			(size_t)w * LS_HASH_LEN);
		return;
	}
	for (unsigned i = 0; i < w; i++)
		if (memcmp(it->data + (size_t)i * LS_HASH_LEN, want[i], LS_HASH_LEN)) {
			if (it->level == 0)
				problem(v, 0, it->key, "hash %u differs from the leaf hash of entry "
					"%llu", i, (unsigned long long)(it->n * TILE_WIDTH + i));
			else
				problem(v, 0, it->key, "hash %u differs from the one recomputed from "
					"level %d", i, it->level - 1);
			return;
		}
}

/* Checkpoint item at the tree's current size. */
static void check_ckpt(struct vt *v, const struct note_verifier *key, struct item *it)
{
	struct checkpoint c;
	struct ls_err e = { "" };
	uint8_t root[LS_HASH_LEN];
	size_t text_len;

	if (!fetched(v, it))
		return;
	v->rep->checkpoints++;
	if (note_open((const char *)it->data, it->len, key, 1, &text_len, &e) != LS_OK ||
	    checkpoint_parse((const char *)it->data, text_len, &c, &e) != LS_OK) {
		problem(v, 0, it->key, "signature does not verify with the verifier key (%s)", e.msg);
		return;
	}
	if (strcmp(c.origin, key->name) || c.size != it->n) {
		problem(v, 0, it->key, "holds the checkpoint of %s size %llu", c.origin,
			(unsigned long long)c.size);
		return;
	}
	if (v->broken || v->leaves != c.size) {
		if (c.size)
			problem(v, 1, it->key, "root not checked: leaves below it are missing");
		return;
	}
	merkle_tree_root(&v->tree, root);
	if (!ls_ct_equal(root, c.root, LS_HASH_LEN))
		problem(v, 0, it->key, "root is not the root of the first %llu entries of the log "
			"(inconsistent with the latest checkpoint)", (unsigned long long)c.size);
}

/* Push one leaf; tiles of this chunk are compared when reached. */
static void push_leaf(struct vt *v, const uint8_t h[LS_HASH_LEN], struct item *tiles,
		      size_t ntiles)
{
	uint8_t roots[65][LS_HASH_LEN];
	const uint8_t *x = h;

	merkle_tree_append_roots(&v->tree, h, roots);
	v->leaves++;
	for (int level = 0; level < MAX_LEVELS; level++) {
		unsigned c = v->count[level];

		memcpy(v->hashes[level][c], x, LS_HASH_LEN);
		v->count[level] = ++c;
		for (size_t i = 0; i < ntiles; i++)
			if (tiles[i].kind == K_TILE && tiles[i].level == level &&
			    tiles[i].n == v->tile_index[level] && tiles[i].w == c)
				check_tile(v, &tiles[i], (const uint8_t (*)[LS_HASH_LEN])
					   v->hashes[level], c);
		if (c < TILE_WIDTH)
			break;
		v->count[level] = 0;
		v->tile_index[level]++;
		x = roots[TILE_HEIGHT * (level + 1)];
	}
}

/* A segment item: checked alone, then kept while its range is walked. */
static void take_segment(struct vt *v, struct item *it)
{
	struct seg_active *s;
	struct ls_err e = { "" };

	if (!fetched(v, it))
		return;
	v->rep->segments++;
	if (v->nsegs == v->segcap) {
		size_t cap = v->segcap ? v->segcap * 2 : 8;
		struct seg_active *p = realloc(v->segs, cap * sizeof(*p));
		if (!p) {
			problem(v, 0, it->key, "out of memory");
			return;
		}
		v->segs = p;
		v->segcap = cap;
	}
	s = &v->segs[v->nsegs];
	memset(s, 0, sizeof(*s));
	if (segscan_buffer(it->data, it->len, v->o ? v->o->tmpdir : NULL, &s->sc, &e) != LS_OK) {
		problem(v, 0, it->key, "%s", e.msg);
		return;
	}
	if (s->sc.first != it->n) {
		problem(v, 0, it->key, "its header names first leaf %llu",
			(unsigned long long)s->sc.first);
		return;
	}
	if (s->sc.first + s->sc.count > v->cp.size)
		problem(v, 1, it->key, "holds leaves up to %llu, beyond the latest checkpoint "
			"(%llu): those are not checked", (unsigned long long)(s->sc.first + s->sc.count),
			(unsigned long long)v->cp.size);
	if (s->sc.full)
		v->rep->segments_full++;
	else
		v->rep->segments_keyless++;
	snprintf(s->key, sizeof(s->key), "%s", it->key);
	s->bytes = it->data; /* owned by the active segment now */
	it->data = NULL;
	v->nsegs++;
}

/* The segment holding `leaf` (NULL if none in hand). */
static struct seg_active *seg_for(struct vt *v, uint64_t leaf)
{
	for (size_t i = 0; i < v->nsegs; i++)
		if (leaf >= v->segs[i].sc.first && leaf - v->segs[i].sc.first < v->segs[i].sc.count)
			return &v->segs[i];
	return NULL;
}

/* Segments wholly below `leaf` are done: their bytes go. */
static void segs_drop_below(struct vt *v, uint64_t leaf)
{
	size_t j = 0;

	for (size_t i = 0; i < v->nsegs; i++) {
		if (v->segs[i].sc.first + v->segs[i].sc.count <= leaf)
			free(v->segs[i].bytes);
		else
			v->segs[j++] = v->segs[i];
	}
	v->nsegs = j;
}

static struct item *find_in(struct item *its, size_t n, enum kind k, int level, uint64_t idx,
			    unsigned w)
{
	for (size_t i = 0; i < n; i++)
		if (its[i].kind == k && its[i].level == level && its[i].n == idx && its[i].w == w)
			return &its[i];
	return NULL;
}

/* The root of the subtree of w leaves. */
static void subtree_root(const uint8_t (*leaves)[LS_HASH_LEN], unsigned w, uint8_t out[LS_HASH_LEN])
{
	struct merkle_tree t;

	merkle_tree_init(&t);
	for (unsigned i = 0; i < w; i++)
		merkle_tree_append(&t, leaves[i]);
	merkle_tree_root(&t, out);
}

/* Which candidate (0 bundle, 1 level-0 tile, 2 segment) holds the leaves
 * of chunk c: the one the level-1 tile vouches for, else the majority,
 * else the first present; -1 when none is. */
static int choose(struct vt *v, uint64_t c, unsigned w, const int have[3])
{
	uint64_t t = c / TILE_WIDTH;
	unsigned at = (unsigned)(c % TILE_WIDTH);
	int best = -1, bestn = -1;

	if (w == TILE_WIDTH && t < v->nl1 && v->l1[t] && at < v->l1w[t]) {
		for (int k = 0; k < 3; k++) {
			uint8_t r[LS_HASH_LEN];

			if (!have[k])
				continue;
			subtree_root((const uint8_t (*)[LS_HASH_LEN])v->cand[k], w, r);
			if (!memcmp(r, v->l1[t] + (size_t)at * LS_HASH_LEN, LS_HASH_LEN))
				return k;
		}
	}
	for (int k = 0; k < 3; k++) {
		int agree = 0;

		if (!have[k])
			continue;
		for (int j = 0; j < 3; j++)
			if (j != k && have[j] &&
			    !memcmp(v->cand[k], v->cand[j], (size_t)w * LS_HASH_LEN))
				agree++;
		if (agree > bestn) {
			best = k;
			bestn = agree;
		}
	}
	return best;
}

/*
 * Chunk c: items [a, b) of the plan.  The leaves [256c, 256c + W) are taken
 * from the bundle, else the level-0 tile, else a segment; the others
 * present are compared with them; then they go into the tree.
 */
static void do_chunk(struct vt *v, const struct note_verifier *key, uint64_t c, struct item *its,
		     size_t n)
{
	uint64_t lo = c * TILE_WIDTH;
	unsigned w = v->cp.size - lo >= TILE_WIDTH ? TILE_WIDTH : (unsigned)(v->cp.size - lo);
	uint8_t leaves[TILE_WIDTH][LS_HASH_LEN];
	uint8_t *plain = NULL;
	size_t plen = 0, used;
	const char *from = NULL, *ckey[3] = { NULL, NULL, NULL };
	struct item *bundle, *tile0;
	int sealed = 0, have[3] = { 0, 0, 0 }, chosen;

	for (size_t i = 0; i < n; i++)
		if (its[i].kind == K_SEG)
			take_segment(v, &its[i]);
	if (lo >= v->cp.size)
		goto rest;
	/* The candidates for the leaves: the entry bundle, the level-0 tile,
	 * a segment's stored hashes.  The one whose subtree root is the
	 * level-1 tile's hash for this chunk wins (so an altered object is
	 * named, not the others); without that witness the majority, the
	 * bundle first. */
	bundle = find_in(its, n, K_BUNDLE, ENTRY_LEVEL, c, w);
	if (bundle && fetched(v, bundle) && bundle_plain(v, bundle, &plain, &plen, &sealed)) {
		v->rep->bundles++;
		if (bundle_leaves(plain, plen, w, v->cand[0], &used)) {
			have[0] = 1;
			ckey[0] = bundle->key;
		} else {
			problem(v, 0, bundle->key, "not an entry bundle of %u entries", w);
		}
	}
	tile0 = find_in(its, n, K_TILE, 0, c, w);
	if (tile0 && fetched(v, tile0) && tile0->len == (size_t)w * LS_HASH_LEN) {
		memcpy(v->cand[1], tile0->data, tile0->len);
		have[1] = 1;
		ckey[1] = tile0->key;
	}
	{
		struct seg_active *s = seg_for(v, lo);
		if (s && lo + w <= s->sc.first + s->sc.count) {
			memcpy(v->cand[2], s->sc.hashes[lo - s->sc.first], (size_t)w * LS_HASH_LEN);
			have[2] = 1;
			ckey[2] = s->key;
		}
	}
	chosen = choose(v, c, w, have);
	if (chosen >= 0) {
		memcpy(leaves, v->cand[chosen], (size_t)w * LS_HASH_LEN);
		from = ckey[chosen];
		if (have[0] && chosen != 0) {
			unsigned i = 0;
			while (i < w && !memcmp(v->cand[0][i], leaves[i], LS_HASH_LEN))
				i++;
			if (i < w)
				problem(v, 0, bundle->key, "entry %llu differs from the log (its leaf "
					"hash is not the one in %s)", (unsigned long long)(lo + i), from);
		}
	}
	/* older, narrower bundles of the same index: a prefix of it */
	for (size_t i = 0; i < n; i++) {
		struct item *it = &its[i];
		uint8_t *p2 = NULL;
		size_t l2 = 0;
		int s2 = 0;
		uint8_t tmp[TILE_WIDTH][LS_HASH_LEN];

		if (it->kind != K_BUNDLE || it == bundle || it->n != c || it->w > w)
			continue;
		if (!fetched(v, it) || !bundle_plain(v, it, &p2, &l2, &s2))
			continue;
		v->rep->bundles++;
		if (!bundle_leaves(p2, l2, it->w, tmp, &used))
			problem(v, 0, it->key, "not an entry bundle of %u entries", it->w);
		else if (from && memcmp(tmp, leaves, (size_t)it->w * LS_HASH_LEN))
			problem(v, 0, it->key, "its entries differ from those of %s", from);
		free(p2);
	}
	free(plain);
	if (!from) {
		if (!v->broken)
			problem(v, 0, bundle ? bundle->key : "log/tile/entries",
				"leaves %llu..%llu cannot be had (no readable bundle, level-0 tile or "
				"segment): the tree above them is not checked",
				(unsigned long long)lo, (unsigned long long)(lo + w - 1));
		v->broken = 1;
		for (size_t i = 0; i < n; i++)
			if (its[i].kind == K_TILE || its[i].kind == K_BUNDLE)
				(void)fetched(v, &its[i]);
		goto rest;
	}
	/* segments in hand over these leaves must hold the same hashes */
	for (unsigned i = 0; i < w; i++) {
		struct seg_active *s = seg_for(v, lo + i);

		if (s && !s->bad && memcmp(s->sc.hashes[lo + i - s->sc.first], leaves[i],
					   LS_HASH_LEN)) {
			problem(v, 0, s->key, "leaf hash of entry %llu differs from %s",
				(unsigned long long)(lo + i), from);
			s->bad = 1;
		}
	}
	if (v->broken) {
		/* nothing above can be compared: only the level-0 tiles */
		for (size_t i = 0; i < n; i++)
			if (its[i].kind == K_TILE && its[i].level == 0 && its[i].n == c)
				check_tile(v, &its[i], (const uint8_t (*)[LS_HASH_LEN])leaves,
					   its[i].w);
		goto rest;
	}
	for (unsigned i = 0; i < w; i++) {
		push_leaf(v, leaves[i], its, n);
		for (size_t j = 0; j < n; j++)
			if (its[j].kind == K_CKPT && its[j].n == v->leaves)
				check_ckpt(v, key, &its[j]);
	}
	segs_drop_below(v, v->leaves);
rest:
	for (size_t j = 0; j < n; j++) {
		struct item *it = &its[j];

		if (it->seen)
			continue;
		if (it->kind == K_CKPT) {
			check_ckpt(v, key, it);
		} else if (fetched(v, it)) {
			v->rep->tiles++;
			if (!v->broken)
				problem(v, 0, it->key, "not backed by the entries (misplaced)");
		}
	}
}

/* ---------------------------------------------------------------- main --- */

/* log/checkpoint (bucket layout) or checkpoint (a bare tiles log), signed
 * by key: everything else is checked against it. */
static ls_rc open_latest(struct vt *v, const struct note_verifier *key)
{
	struct ls_err e = { "" };
	uint8_t *note = NULL;
	size_t len = 0, text_len;
	const char *k = "log/checkpoint";
	ls_rc rc;

	v->lp = "log/";
	rc = verify_src_get(v->src, k, NOTE_MAX_SIZE, &note, &len, &e);
	if (rc == LS_NOTFOUND) {
		v->lp = "";
		k = "checkpoint";
		rc = verify_src_get(v->src, k, NOTE_MAX_SIZE, &note, &len, &e);
	}
	if (rc == LS_NOTFOUND && !strcmp(objstore_last_s3_code(), "NoSuchBucket"))
		return ls_err_set(v->err, LS_NOTFOUND, "%s: no such bucket", verify_src_name(v->src));
	if (rc == LS_NOTFOUND) {
		problem(v, 0, "log/checkpoint", "missing (nor is there a checkpoint at the root)");
		return LS_TAMPERED;
	}
	if (rc != LS_OK) /* the store could not be read: no verdict on the log */
		return ls_err_set(v->err, rc, "%s/%s: cannot be read: %s", verify_src_name(v->src), k,
				  e.msg);
	v->rep->objects++;
	v->rep->bytes += len;
	rc = note_open((const char *)note, len, key, 1, &text_len, &e);
	if (rc == LS_OK)
		rc = checkpoint_parse((const char *)note, text_len, &v->cp, &e);
	if (rc == LS_OK && strcmp(v->cp.origin, key->name) != 0)
		rc = ls_err_set(&e, LS_TAMPERED, "origin \"%s\" is not the key's (\"%s\")",
				v->cp.origin, key->name);
	free(note);
	if (rc != LS_OK) {
		problem(v, 0, k, "refused: the signature does not verify with the verifier key "
			"(%s)", e.msg);
		return LS_TAMPERED;
	}
	v->rep->checkpoints++;
	return LS_OK;
}

/* Items beyond the latest checkpoint: an upload of a newer one in progress
 * (tiles go up before checkpoints/<size> and log/checkpoint): named as a
 * warning and left out. */
static void drop_beyond(struct vt *v)
{
	size_t j = 0;
	uint64_t last = v->cp.size ? (v->cp.size - 1) / TILE_WIDTH : 0;

	for (size_t i = 0; i < v->nitems; i++) {
		struct item *it = &v->items[i];
		int beyond;

		switch (it->kind) {
		case K_SEG: beyond = it->n >= v->cp.size && v->cp.size; break;
		case K_CKPT: beyond = it->n > v->cp.size; break;
		default: beyond = tile_end(it->level, it->n, it->w) > v->cp.size; break;
		}
		if (beyond || (it->kind != K_CKPT && it->chunk > last)) {
			problem(v, 1, it->key, "beyond the latest checkpoint (size %llu): not "
				"checked (an upload in progress?)", (unsigned long long)v->cp.size);
			continue;
		}
		v->items[j++] = *it;
	}
	v->nitems = j;
}

/* The level-1 tiles of the tree (one per 65,536 leaves), read before the
 * walk: which of a chunk's candidates is right (choose()).  One that cannot
 * be read is no witness (its own check names it). */
static void load_witnesses(struct vt *v)
{
	uint64_t count = v->cp.size >> TILE_HEIGHT, n = (count + TILE_WIDTH - 1) / TILE_WIDTH;

	if (!n)
		return;
	v->l1 = calloc(n, sizeof(*v->l1));
	v->l1w = calloc(n, sizeof(*v->l1w));
	if (!v->l1 || !v->l1w)
		return;
	v->nl1 = n;
	for (uint64_t i = 0; i < n; i++) {
		unsigned w = i < count / TILE_WIDTH ? TILE_WIDTH : (unsigned)(count % TILE_WIDTH);
		char rel[TILES_PATH_MAX], k[96];
		uint8_t *d = NULL;
		size_t len = 0;

		tiles_path(1, i, w, rel, sizeof(rel));
		snprintf(k, sizeof(k), "%s%s", v->lp, rel);
		if (verify_src_get(v->src, k, TILE_CAP, &d, &len, NULL) != LS_OK)
			continue;
		v->rep->objects++;
		v->rep->bytes += len;
		if (len == (size_t)w * LS_HASH_LEN) {
			v->l1[i] = d;
			v->l1w[i] = w;
		} else {
			free(d);
		}
	}
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

ls_rc verify_tiles_src(struct verify_src *src, const struct note_verifier *key,
		       const struct verify_tiles_opts *o, struct verify_tiles_report *rep,
		       struct ls_err *err)
{
	struct vt *v;
	struct listctx lc;
	pthread_t th[16];
	unsigned nth = o && o->fetchers ? o->fetchers : 4, started = 0;
	double t0 = now_s();
	uint64_t tick = 0;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	if (nth > 16)
		nth = 16;
	v = calloc(1, sizeof(*v));
	if (!v)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	v->src = src;
	v->o = o;
	v->rep = rep;
	v->err = err;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	merkle_tree_init(&v->tree);
	rc = open_latest(v, key);
	if (rc != LS_OK)
		goto out;
	rep->tree_size = v->cp.size;
	memcpy(rep->root, v->cp.root, LS_HASH_LEN);
	rep->layout = *v->lp != 0;
	rep->listed = verify_src_can_list(src);
	lc.v = v;
	lc.oom = 0;
	if (rep->listed) {
		static const char *const pre[] = { "tile/", "checkpoints/", "segments/" };
		for (int i = 0; i < 3 && rc == LS_OK; i++) {
			char p[64];

			if (i && !rep->layout)
				break;
			snprintf(p, sizeof(p), "%s%s", i ? "" : v->lp, pre[i]);
			rc = verify_src_list(src, p, on_key, &lc, err);
		}
		if (rc == LS_OK && lc.oom)
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		if (rc != LS_OK)
			goto out;
	} else if (rep->layout) {
		/* no listing: the segments are found one after the other */
		uint64_t first = 0;

		while (first < v->cp.size) {
			char k[64];
			uint8_t *d = NULL;
			size_t n = 0;
			struct segscan sc;
			struct ls_err e = { "" };

			snprintf(k, sizeof(k), "segments/%016llx.seal", (unsigned long long)first);
			if (verify_src_get(src, k, SEG_CAP, &d, &n, &e) != LS_OK)
				break;
			if (!new_item(v, K_SEG, 0, first, 0, 1)) {
				free(d);
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				goto out;
			}
			if (segscan_buffer(d, n, o ? o->tmpdir : NULL, &sc, &e) != LS_OK ||
			    sc.first != first) {
				free(d);
				break; /* reported when the plan reads it */
			}
			first += sc.count;
			free(d);
		}
		rep->segments_probed = 1;
	}
	rc = expect(v, v->cp.size, rep->listed);
	if (rc != LS_OK) {
		rc = ls_err_set(err, rc, "out of memory");
		goto out;
	}
	drop_beyond(v);
	load_witnesses(v);
	if (v->nitems)
		qsort(v->items, v->nitems, sizeof(*v->items), item_cmp);
	for (; started < nth; started++)
		if (pthread_create(&th[started], NULL, fetcher, v) != 0)
			break;
	if (!started) {
		rc = ls_err_set(err, LS_NOMEM, "cannot start a fetcher thread");
		goto out;
	}
	for (size_t a = 0; a < v->nitems;) {
		size_t b = a;
		uint64_t c = v->items[a].chunk;

		while (b < v->nitems && v->items[b].chunk == c)
			take(v, b++);
		do_chunk(v, key, c, &v->items[a], b - a);
		for (size_t i = a; i < b; i++) {
			free(v->items[i].data);
			v->items[i].data = NULL;
		}
		release(v, b);
		a = b;
		if (o && o->progress && o->progress->fn && v->leaves - tick >= 4096) {
			tick = v->leaves;
			o->progress->fn(o->progress->ctx, v->leaves, v->cp.size);
		}
	}
	if (o && o->progress && o->progress->fn)
		o->progress->fn(o->progress->ctx, VERIFY_PROGRESS_END, v->cp.size);
	if (!v->broken && v->leaves == v->cp.size) {
		uint8_t root[LS_HASH_LEN];

		merkle_tree_root(&v->tree, root);
		if (!ls_ct_equal(root, v->cp.root, LS_HASH_LEN)) {
			char k[32];
			snprintf(k, sizeof(k), "%scheckpoint", v->lp);
			problem(v, 0, k, "root does not match the %llu entries of the log",
				(unsigned long long)v->cp.size);
		}
	}
	rep->entries = v->leaves;
	rep->broken = v->broken;
	rc = rep->problems ? LS_TAMPERED : LS_OK;
out:
	pthread_mutex_lock(&v->mu);
	v->quit = 1;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < v->nitems; i++)
		free(v->items[i].data);
	for (size_t i = 0; i < v->nsegs; i++)
		free(v->segs[i].bytes);
	free(v->segs);
	for (uint64_t i = 0; i < v->nl1; i++)
		free(v->l1[i]);
	free(v->l1);
	free(v->l1w);
	free(v->items);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	free(v);
	rep->seconds = now_s() - t0;
	return rc;
}
