/*
 * tiles.c - the C2SP tlog-tiles layout of a log directory (see tiles.h).
 *
 * On disk (all paths relative to the log directory):
 *
 *	tile/<L>/<N>          8,192 bytes: the 256 hashes of tree level 8L with
 *	                      indexes [256N, 256N+256), 32 bytes each
 *	tile/<L>/<N>.p/<W>    the first W (1..255) of those hashes
 *	tile/entries/<N>[.p/<W>]
 *	                      W entries (256 when full), each a big-endian
 *	                      uint16 length followed by that many bytes
 *	checkpoint            the latest signed note
 *
 * The writer writes hash tiles only: a data directory keeps no entry bundle
 * (each entry is stored once, in the store; reader.h builds the bundles).
 * The readers still read bundle files where they exist: a static copy
 * fetched over HTTP, and directories made before sealed segments, where
 * encrypted data directories (keys.h: DIR/keys/master.json exists, DIR being
 * the log directory's parent) kept no entry bundle under tile/entries/:
 * each is stored as ../bundles/tile/entries/<N>[.p/<W>] (DIR/bundles/...),
 * one blob of
 *	0  4  data key id, big-endian
 *	4  12 nonce (random)
 *	16 n  AES-256-GCM ciphertext of the C2SP bundle
 *	   16 tag; associated data: the C2SP path ("tile/entries/...")
 * and the readers (tiles_read_entry, tiles_read_file with level -1) open it,
 * so that callers see the C2SP bundle in both cases.  Hash tiles and the
 * checkpoint are never encrypted.
 *
 * <N> is split into groups of three decimal digits, every group but the last
 * prefixed with 'x'.  A temp file is written as .<name>.tmp next to its final
 * name; a crash may leave one behind, the next flush truncates and reuses it.
 *
 * Invariants of struct tiles_writer, with s = tree.size:
 *  1. edge[L] holds the (s >> 8L) & 255 hashes of the incomplete tile at
 *     level L (tree level 8L), for L < TILE_LEVELS.
 *  2. (Entry bundles are not written: each entry is stored once, in the
 *     store; reader.h builds the bundles.)
 *  3. Every hash tile that became full since the last successful flush is
 *     in pend[], in the order it became full; everything full before that
 *     is on disk.
 *  4. part[L] is the partial tile last made durable at level L, so an
 *     unchanged one is not written again.
 *  5. After a failed flush (write, sync or rename) the writer is failed: it
 *     refuses further work, since what reached the disk is unknown and a
 *     retried fsync may report success for lost data.  Reopen from disk.
 *
 * Level-0 tiles of sealed ranges: once a sealed segment (segment.h) is
 * durable, the sealer deletes the full level-0 tile files of its range
 * (tiles_drop_level0): the segment holds the same 256 hashes per tile, so
 * each leaf hash is stored once.  Every read of a full level-0 tile
 * (tiles_read_file, the reader's node hashes, the writer's reopen and its
 * check of tiles already written) falls back to the segment that holds the
 * tile's leaves, in DIR/segments next to the log directory DIR/log, when
 * the file is missing; the bytes are the same.  Partial tiles, level 1 and
 * up, and tiles of ranges not sealed stay files.
 *
 * Durability of a flush: every temp file is written, then made durable (one
 * fsync each when there are few, one syncfs() of the file system when there
 * are many), then renamed, then every directory that gained an entry is
 * fsync'ed.  A full tile is never replaced: if it already exists with the
 * same bytes it is skipped, with other bytes the flush fails (LS_TAMPERED)
 * before writing anything.  Partial tiles of older sizes are kept, because
 * older checkpoints still refer to them.
 */
#include "store/tiles.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "store/keys.h"
#include "store/sealed.h"
#include "store/segment.h"
#include "core/merkle.h"

#define TILE_LEVELS 8	/* level L holds tree level 8L; 8 * 8 covers 64-bit sizes */
#define TILE_BYTES (TILE_WIDTH * LS_HASH_LEN)
#define ENTRY_MAX 65535
#define BUNDLE_MAX ((size_t)TILE_WIDTH * (ENTRY_MAX + 2))
#define SYNCFS_MIN 16	/* from this many files, one syncfs beats an fsync each */
#define READER_CACHE 8
#define BUNDLE_PREFIX "../bundles/"
#define SEALED_HDR 4
#define SEALED_OVERHEAD (SEALED_HDR + LS_AEAD_OVERHEAD)
#define JOB_PATH_MAX (TILES_PATH_MAX + sizeof(BUNDLE_PREFIX))

/* ---------------------------------------------------------------- paths */

ls_rc tiles_path(int level, uint64_t n, unsigned w, char *out, size_t cap)
{
	unsigned group[7];
	int ngroup = 0, r;
	size_t pos;

	if (level > 63 || w == 0 || w > TILE_WIDTH || !out || cap == 0)
		return LS_INVALID;
	if (level < 0)
		r = snprintf(out, cap, "tile/entries/");
	else
		r = snprintf(out, cap, "tile/%d/", level);
	if (r < 0 || (size_t)r >= cap)
		return LS_LIMIT;
	pos = (size_t)r;
	do {
		group[ngroup++] = (unsigned)(n % 1000);
		n /= 1000;
	} while (n);
	while (ngroup-- > 0) {
		r = snprintf(out + pos, cap - pos, ngroup ? "x%03u/" : "%03u", group[ngroup]);
		if (r < 0 || (size_t)r >= cap - pos)
			return LS_LIMIT;
		pos += (size_t)r;
	}
	if (w < TILE_WIDTH) {
		r = snprintf(out + pos, cap - pos, ".p/%u", w);
		if (r < 0 || (size_t)r >= cap - pos)
			return LS_LIMIT;
	}
	return LS_OK;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Accepts the grammar loosely, then insists that formatting the result
 * gives back the same string: that rejects leading zeros, x000 groups,
 * "..", extra components and trailing bytes in one place. */
ls_rc tiles_path_parse(const char *path, int *level, uint64_t *n, unsigned *w)
{
	char canon[TILES_PATH_MAX];
	const char *p = path;
	uint64_t idx = 0;
	unsigned lv = 0, width = TILE_WIDTH;
	int is_entries = 0, groups = 0;

	if (!path || strnlen(path, TILES_PATH_MAX) >= TILES_PATH_MAX)
		return LS_INVALID;
	if (strncmp(p, "tile/", 5) != 0)
		return LS_INVALID;
	p += 5;
	if (strncmp(p, "entries/", 8) == 0) {
		is_entries = 1;
		p += 8;
	} else {
		if (!is_digit(p[0]))
			return LS_INVALID;
		lv = (unsigned)(p[0] - '0');
		p++;
		if (is_digit(p[0])) {
			lv = lv * 10 + (unsigned)(p[0] - '0');
			p++;
		}
		if (*p++ != '/' || lv > 63)
			return LS_INVALID;
	}
	for (;;) {
		int prefixed = (*p == 'x');
		unsigned g;

		if (prefixed)
			p++;
		if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]))
			return LS_INVALID;
		g = (unsigned)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
		p += 3;
		if (++groups > 7 || idx > (UINT64_MAX - g) / 1000)
			return LS_INVALID;
		idx = idx * 1000 + g;
		if (!prefixed)
			break;
		if (*p++ != '/')
			return LS_INVALID;
	}
	if (*p == '.') {
		if (strncmp(p, ".p/", 3) != 0)
			return LS_INVALID;
		p += 3;
		width = 0;
		for (int i = 0; i < 3 && is_digit(*p); i++, p++)
			width = width * 10 + (unsigned)(*p - '0');
		if (width == 0 || width >= TILE_WIDTH)
			return LS_INVALID;
	}
	if (*p != 0)
		return LS_INVALID;
	if (tiles_path(is_entries ? -1 : (int)lv, idx, width, canon, sizeof(canon)) != LS_OK ||
	    strcmp(canon, path) != 0)
		return LS_INVALID;
	if (level)
		*level = is_entries ? -1 : (int)lv;
	if (n)
		*n = idx;
	if (w)
		*w = width;
	return LS_OK;
}

/* ---------------------------------------------------------------- reading */

static ls_rc errno_rc(int e)
{
	if (e == ENOENT || e == ENOTDIR)
		return LS_NOTFOUND;
	if (e == ENOSPC || e == EDQUOT)
		return LS_NOSPACE;
	if (e == ENOMEM)
		return LS_NOMEM;
	return LS_IO;
}

/* On the write path a missing file or directory is an I/O failure too. */
static ls_rc errno_wrc(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return LS_NOSPACE;
	if (e == ENOMEM)
		return LS_NOMEM;
	return LS_IO;
}

static ls_rc open_dir(const char *logdir, int *fd, struct ls_err *err)
{
	*fd = open(logdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return ls_err_set(err, errno_rc(errno), "%s: %s", logdir, strerror(errno));
	return LS_OK;
}

/* Whole regular file rel under dirfd, at most cap bytes (malloc'd, at least
 * one byte allocated so that an empty file still yields a pointer). */
static ls_rc read_at(int dirfd, const char *rel, size_t cap, uint8_t **data, size_t *len,
		     struct ls_err *err)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return ls_err_set(err, errno_rc(errno), "%s: %s", rel, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ls_err_set(err, LS_IO, "%s: %s", rel, strerror(e));
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > cap) {
		close(fd);
		return ls_err_set(err, LS_CORRUPT, "%s: not a regular file of at most %zu bytes",
				  rel, cap);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return ls_err_set(err, LS_IO, "%s: %s", rel, strerror(e));
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(buf);
		return ls_err_set(err, LS_CORRUPT, "%s: changed size while read", rel);
	}
	*data = buf;
	*len = got;
	return LS_OK;
}

/* A hash tile must be exactly w hashes; a bundle only has a cap here, its
 * framing is checked by whoever parses it. */
/* Open a sealed bundle (see the top comment) in place. */
static ls_rc unseal_bundle(struct keyring *kr, const char *rel, uint8_t *d, size_t *len,
			   struct ls_err *err)
{
	uint8_t key[LS_AEAD_KEY_LEN];
	uint32_t id;
	size_t n = *len;
	ls_rc rc;

	if (n < SEALED_OVERHEAD)
		return ls_err_set(err, LS_CORRUPT, "%s%s: too short for a sealed bundle",
				  BUNDLE_PREFIX, rel);
	id = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
	rc = keys_data_key(kr, id, key, err);
	if (rc != LS_OK)
		return rc == LS_NOTFOUND ? ls_err_set(err, LS_CORRUPT, "%s%s: unknown data key %u",
						      BUNDLE_PREFIX, rel, id) : rc;
	rc = ls_aead_open_blob(key, rel, strlen(rel), d + SEALED_HDR, n - SEALED_HDR, d);
	ls_wipe(key, sizeof(key));
	if (rc != LS_OK)
		return ls_err_set(err, LS_TAMPERED,
				  "%s%s: does not authenticate (altered, or moved from another path)",
				  BUNDLE_PREFIX, rel);
	*len = n - SEALED_OVERHEAD;
	return LS_OK;
}

/* kr non-NULL: bundles are sealed under ../bundles/. */
static ls_rc read_tile_at(int dirfd, struct keyring *kr, int level, uint64_t n, unsigned w,
			  uint8_t **data, size_t *len, struct ls_err *err)
{
	char rel[TILES_PATH_MAX], srel[JOB_PATH_MAX];
	size_t cap = level < 0 ? BUNDLE_MAX : (size_t)w * LS_HASH_LEN;
	ls_rc rc;

	if (tiles_path(level, n, w, rel, sizeof(rel)) != LS_OK)
		return ls_err_set(err, LS_INVALID, "no such tile: level %d index %llu width %u",
				  level, (unsigned long long)n, w);
	if (level < 0 && kr) {
		snprintf(srel, sizeof(srel), "%s%s", BUNDLE_PREFIX, rel);
		rc = read_at(dirfd, srel, cap + SEALED_OVERHEAD, data, len, err);
		if (rc == LS_OK) {
			rc = unseal_bundle(kr, rel, *data, len, err);
			if (rc != LS_OK) {
				free(*data);
				*data = NULL;
			}
		}
		return rc;
	}
	rc = read_at(dirfd, rel, cap, data, len, err);
	if (rc != LS_OK)
		return rc;
	if (level >= 0 && *len != cap) {
		free(*data);
		*data = NULL;
		return ls_err_set(err, LS_CORRUPT, "%s: %zu bytes, want %zu", rel, *len, cap);
	}
	return LS_OK;
}

/* The full level-0 tile n from the sealed segment that holds its leaves
 * (see the top): *data malloc'd, TILE_BYTES.  *cache, the segments of
 * logdir's data directory, is opened on first use.  LS_NOTFOUND when no
 * segment holds them (none sealed there, retention moved it out, or logdir
 * is a static copy with no DIR/segments beside it). */
static ls_rc seg_tile(const char *logdir, struct sealed_cache **cache, uint64_t n,
		      uint8_t **data, size_t *len, struct ls_err *err)
{
	char segdir[PATH_MAX];
	struct segment *seg;
	uint8_t (*h)[LS_HASH_LEN];
	ls_rc rc;

	if (n > UINT64_MAX / TILE_WIDTH - 1)
		return LS_NOTFOUND;
	if (!*cache) {
		if (sealed_dir_of(logdir, segdir, sizeof(segdir)) != LS_OK)
			return ls_err_set(err, LS_LIMIT, "%s: path too long", logdir);
		rc = sealed_cache_open(segdir, cache, err);
		if (rc != LS_OK)
			return rc;
	}
	rc = sealed_cache_get(*cache, n * TILE_WIDTH, 1, &seg, err);
	if (rc != LS_OK)
		return rc;
	h = malloc(TILE_BYTES);
	if (!h) {
		sealed_cache_put(*cache, seg);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = segment_hashes(seg, n * TILE_WIDTH, TILE_WIDTH, h, err);
	sealed_cache_put(*cache, seg);
	if (rc != LS_OK) {
		free(h);
		return rc;
	}
	*data = &h[0][0];
	*len = TILE_BYTES;
	return LS_OK;
}

/* read_tile_at(), and a full level-0 tile from its sealed segment when
 * the file is missing (logdir NULL: files only). */
static ls_rc read_tile_or_seg(int dirfd, struct keyring *kr, const char *logdir,
			      struct sealed_cache **cache, int level, uint64_t n, unsigned w,
			      uint8_t **data, size_t *len, struct ls_err *err)
{
	struct ls_err e2 = { "" };
	ls_rc rc = read_tile_at(dirfd, kr, level, n, w, data, len, err), r2;

	if (rc != LS_NOTFOUND || level != 0 || w != TILE_WIDTH || !logdir)
		return rc;
	r2 = seg_tile(logdir, cache, n, data, len, &e2);
	if (r2 == LS_NOTFOUND)
		return rc;	/* err still names the missing file */
	return r2 == LS_OK ? LS_OK : ls_err_set(err, r2, "%s", e2.msg);
}

ls_rc tiles_read_file(const char *logdir, int level, uint64_t n, unsigned w, uint8_t **data,
		      size_t *len, struct ls_err *err)
{
	struct sealed_cache *cache = NULL;
	struct keyring *kr = NULL;
	int dirfd;
	ls_rc rc;

	if (!logdir || !data || !len)
		return ls_err_set(err, LS_INVALID, "missing argument");
	rc = keys_get_parent(logdir, &kr, err);
	if (rc != LS_OK && rc != LS_NOTFOUND)
		return rc;
	rc = open_dir(logdir, &dirfd, err);
	if (rc != LS_OK)
		return rc;
	rc = read_tile_or_seg(dirfd, kr, logdir, &cache, level, n, w, data, len, err);
	close(dirfd);
	sealed_cache_free(cache);
	return rc;
}

/* Offsets of the entries of a bundle that must hold exactly want entries:
 * off[i] is where entry i's length prefix starts, off[want] the end. */
static ls_rc parse_bundle(const uint8_t *d, size_t len, unsigned want, uint32_t *off)
{
	size_t pos = 0;

	for (unsigned i = 0; i < want; i++) {
		size_t n;

		if (len - pos < 2)
			return LS_CORRUPT;
		n = (size_t)d[pos] << 8 | d[pos + 1];
		if (len - pos - 2 < n)
			return LS_CORRUPT;
		off[i] = (uint32_t)pos;
		pos += 2 + n;
	}
	off[want] = (uint32_t)pos;
	return pos == len ? LS_OK : LS_CORRUPT;
}

/* Root of the 2^k hashes at h (k <= 8), in place in scratch. */
static void subtree_root(const uint8_t *h, unsigned k, uint8_t out[LS_HASH_LEN])
{
	uint8_t scratch[TILE_WIDTH / 2][LS_HASH_LEN];
	size_t cnt = (size_t)1 << k;

	if (k == 0) {
		memcpy(out, h, LS_HASH_LEN);
		return;
	}
	for (size_t i = 0; i < cnt / 2; i++)
		merkle_node_hash(h + 2 * i * LS_HASH_LEN, h + (2 * i + 1) * LS_HASH_LEN, scratch[i]);
	for (cnt /= 2; cnt > 1; cnt /= 2)
		for (size_t i = 0; i < cnt / 2; i++)
			merkle_node_hash(scratch[2 * i], scratch[2 * i + 1], scratch[i]);
	memcpy(out, scratch[0], LS_HASH_LEN);
}

/*
 * A tile read, and (once a node inside it is asked for) the nodes of the
 * levels it spans above its own: level k (1..TILE_HEIGHT-1) node j at
 * inner[INNER_OFF(k) + j].  A proof asks for one node per level; computed
 * each time from the tile, that is ~255 hashes per tile level and proof,
 * which made exports hash-bound.
 */
#define INNER_OFF(k) (TILE_WIDTH - ((2 * TILE_WIDTH) >> (k)))

struct tile_slot {
	int used;
	int level;
	uint64_t n;
	unsigned w;
	int have_inner;
	uint8_t hash[TILE_WIDTH][LS_HASH_LEN];
	uint8_t inner[TILE_WIDTH - 2][LS_HASH_LEN];
};

static void slot_inner(struct tile_slot *s)
{
	for (unsigned k = 1; k < TILE_HEIGHT; k++) {
		const uint8_t(*below)[LS_HASH_LEN] = k == 1 ? s->hash : s->inner + INNER_OFF(k - 1);

		for (unsigned j = 0; j < (s->w >> k); j++)
			merkle_node_hash(below[2 * j], below[2 * j + 1], s->inner[INNER_OFF(k) + j]);
	}
	s->have_inner = 1;
}

struct tiles_reader {
	int dirfd;
	char *logdir;
	struct sealed_cache *segs;	/* full level-0 tiles of sealed ranges; lazily */
	struct keyring *kr;	/* non-NULL: sealed bundles */
	uint64_t size;
	struct tile_slot cache[READER_CACHE];
	unsigned next;		/* round-robin victim */
	int have_bundle;
	uint64_t bundle_n;
	uint8_t *bundle;
	size_t bundle_len;
	uint32_t bundle_off[TILE_WIDTH + 1];
};

ls_rc tiles_reader_open(const char *logdir, uint64_t size, struct tiles_reader **out)
{
	struct tiles_reader *r;
	ls_rc rc;

	if (!logdir || !out)
		return LS_INVALID;
	r = calloc(1, sizeof(*r));
	if (!r)
		return LS_NOMEM;
	rc = keys_get_parent(logdir, &r->kr, NULL);
	if (rc != LS_OK && rc != LS_NOTFOUND) {
		free(r);
		return rc;
	}
	r->logdir = strdup(logdir);
	if (!r->logdir) {
		free(r);
		return LS_NOMEM;
	}
	rc = open_dir(logdir, &r->dirfd, NULL);
	if (rc != LS_OK) {
		free(r->logdir);
		free(r);
		return rc;
	}
	r->size = size;
	*out = r;
	return LS_OK;
}

void tiles_reader_free(struct tiles_reader *r)
{
	if (!r)
		return;
	close(r->dirfd);
	sealed_cache_free(r->segs);
	free(r->logdir);
	free(r->bundle);
	free(r);
}

/* Width of tile n at level (tile level, or -1 for bundles) in a tree of
 * size: 256 when full, 0 when it does not exist yet. */
static unsigned tile_width(uint64_t size, int level, uint64_t n)
{
	uint64_t count = level <= 0 ? size : size >> (TILE_HEIGHT * level);

	if (n < count / TILE_WIDTH)
		return TILE_WIDTH;
	if (n == count / TILE_WIDTH)
		return (unsigned)(count % TILE_WIDTH);
	return 0;
}

/* Read a tile of width w, falling back to the full tile when a partial one
 * has been deleted (the spec lets logs do that once the full one exists). */
static ls_rc fetch_tile(struct tiles_reader *r, int level, uint64_t n, unsigned w,
			uint8_t **data, size_t *len, unsigned *got_w, struct ls_err *err)
{
	ls_rc rc = read_tile_or_seg(r->dirfd, r->kr, r->logdir, &r->segs, level, n, w, data, len,
				    err);

	*got_w = w;
	if (rc == LS_NOTFOUND && w < TILE_WIDTH) {
		struct ls_err err2;

		if (read_tile_or_seg(r->dirfd, r->kr, r->logdir, &r->segs, level, n, TILE_WIDTH,
				     data, len, &err2) == LS_OK) {
			*got_w = TILE_WIDTH;
			return LS_OK;
		}
	}
	return rc;
}

static ls_rc reader_slot(struct tiles_reader *r, unsigned level, uint64_t n,
			 struct tile_slot **out, struct ls_err *err)
{
	struct tile_slot *slot;
	unsigned w, got_w;
	uint8_t *data;
	size_t len;
	ls_rc rc;

	for (unsigned i = 0; i < READER_CACHE; i++) {
		slot = &r->cache[i];
		if (slot->used && slot->level == (int)level && slot->n == n) {
			*out = slot;
			return LS_OK;
		}
	}
	w = tile_width(r->size, (int)level, n);
	if (w == 0)
		return ls_err_set(err, LS_INVALID, "tile %u/%llu is empty in a tree of %llu",
				  level, (unsigned long long)n, (unsigned long long)r->size);
	rc = fetch_tile(r, (int)level, n, w, &data, &len, &got_w, err);
	if (rc != LS_OK)
		return rc;
	slot = &r->cache[r->next];
	r->next = (r->next + 1) % READER_CACHE;
	slot->used = 1;
	slot->level = (int)level;
	slot->n = n;
	slot->w = w;
	slot->have_inner = 0;
	memcpy(slot->hash, data, (size_t)w * LS_HASH_LEN);
	free(data);
	*out = slot;
	return LS_OK;
}

static ls_rc reader_tile(struct tiles_reader *r, unsigned level, uint64_t n,
			 const uint8_t **hashes, struct ls_err *err)
{
	struct tile_slot *slot;
	ls_rc rc = reader_slot(r, level, n, &slot, err);

	if (rc == LS_OK)
		*hashes = &slot->hash[0][0];
	return rc;
}

ls_rc tiles_node_hash(void *reader, unsigned level, uint64_t index, uint8_t out[LS_HASH_LEN])
{
	struct tiles_reader *r = reader;
	unsigned tl = level / TILE_HEIGHT, k = level % TILE_HEIGHT;
	struct tile_slot *s;
	uint64_t first;
	ls_rc rc;

	if (!r || level > 63 || index >= (r->size >> level))
		return LS_INVALID;
	/* the node is the root of 2^k consecutive hashes of tile level tl */
	first = index << k;
	rc = reader_slot(r, tl, first / TILE_WIDTH, &s, NULL);
	if (rc != LS_OK)
		return rc;
	if (k == 0) {
		memcpy(out, s->hash[first % TILE_WIDTH], LS_HASH_LEN);
		return LS_OK;
	}
	/* index < size >> level, so the tile holds all 2^k hashes below */
	if (!s->have_inner)
		slot_inner(s);
	memcpy(out, s->inner[INNER_OFF(k) + (first % TILE_WIDTH >> k)], LS_HASH_LEN);
	return LS_OK;
}

static ls_rc reader_bundle(struct tiles_reader *r, uint64_t n, struct ls_err *err)
{
	unsigned w = tile_width(r->size, -1, n), got_w;
	uint8_t *data;
	size_t len;
	ls_rc rc;

	if (r->have_bundle && r->bundle_n == n)
		return LS_OK;
	rc = fetch_tile(r, -1, n, w, &data, &len, &got_w, err);
	if (rc != LS_OK)
		return rc;
	if (parse_bundle(data, len, got_w, r->bundle_off) != LS_OK) {
		free(data);
		return ls_err_set(err, LS_CORRUPT, "entry bundle %llu: bad framing for %u entries",
				  (unsigned long long)n, got_w);
	}
	free(r->bundle);
	r->bundle = data;
	r->bundle_len = len;
	r->bundle_n = n;
	r->have_bundle = 1;
	return LS_OK;
}

ls_rc tiles_read_entry(struct tiles_reader *r, uint64_t index, uint8_t **data, size_t *len,
		       struct ls_err *err)
{
	uint32_t a, b;
	uint8_t *copy;
	ls_rc rc;

	if (!r || !data || !len)
		return ls_err_set(err, LS_INVALID, "missing argument");
	if (index >= r->size)
		return ls_err_set(err, LS_INVALID, "entry %llu is beyond tree size %llu",
				  (unsigned long long)index, (unsigned long long)r->size);
	rc = reader_bundle(r, index / TILE_WIDTH, err);
	if (rc != LS_OK)
		return rc;
	a = r->bundle_off[index % TILE_WIDTH] + 2;
	b = r->bundle_off[index % TILE_WIDTH + 1];
	copy = malloc(b - a + 1);
	if (!copy)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	memcpy(copy, r->bundle + a, b - a);
	*data = copy;
	*len = b - a;
	return LS_OK;
}

/* ---------------------------------------------------------------- writer */

struct pending {
	int level;		/* -1: entry bundle */
	uint64_t n;
	uint8_t *data;		/* owned */
	size_t len;
};

struct partial {
	uint64_t n;
	unsigned w;		/* 0: none written */
};

struct tiles_writer {
	char *logdir;
	struct sealed_cache *segs;	/* full level-0 tiles of sealed ranges; lazily */
	struct merkle_tree tree;
	uint8_t edge[TILE_LEVELS][TILE_WIDTH][LS_HASH_LEN];
	struct pending *pend;
	size_t npend, pend_cap;
	struct partial part[TILE_LEVELS + 1];
	uint64_t flushed;
	int failed;
};

static struct tiles_writer *writer_new(const char *logdir)
{
	struct tiles_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->logdir = strdup(logdir);
	if (!w->logdir) {
		free(w);
		return NULL;
	}
	merkle_tree_init(&w->tree);
	return w;
}

void tiles_writer_free(struct tiles_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->npend; i++)
		free(w->pend[i].data);
	free(w->pend);
	sealed_cache_free(w->segs);
	free(w->logdir);
	free(w);
}

uint64_t tiles_writer_size(const struct tiles_writer *w)
{
	return w->tree.size;
}

void tiles_writer_root(const struct tiles_writer *w, uint8_t out[LS_HASH_LEN])
{
	merkle_tree_root(&w->tree, out);
}

/* Load the right edge for size from disk and check what can be checked
 * without the checkpoint: tile sizes, each level's last full tile against
 * its hash one level up, and the partial bundle against the leaf hashes. */
static ls_rc writer_load(struct tiles_writer *w, uint64_t size, struct ls_err *err)
{
	struct tiles_reader *r;
	ls_rc rc;

	rc = tiles_reader_open(w->logdir, size, &r);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "%s: cannot open log directory", w->logdir);
	for (int L = 0; L < TILE_LEVELS; L++) {
		uint64_t count = size >> (TILE_HEIGHT * L);
		unsigned wid = (unsigned)(count % TILE_WIDTH);
		uint64_t full = count / TILE_WIDTH;
		const uint8_t *h;

		if (count == 0)
			break;
		if (wid) {
			rc = reader_tile(r, (unsigned)L, full, &h, err);
			if (rc != LS_OK)
				goto out;
			memcpy(w->edge[L], h, (size_t)wid * LS_HASH_LEN);
			w->part[L].n = full;
			w->part[L].w = wid;
		}
		if (full) {
			uint8_t root[LS_HASH_LEN], up[LS_HASH_LEN];

			rc = reader_tile(r, (unsigned)L, full - 1, &h, err);
			if (rc != LS_OK)
				goto out;
			subtree_root(h, TILE_HEIGHT, root);
			rc = tiles_node_hash(r, (unsigned)(TILE_HEIGHT * (L + 1)), full - 1, up);
			if (rc != LS_OK) {
				ls_err_set(err, rc, "level %d tile %llu: cannot read its hash above",
					   L + 1, (unsigned long long)(full - 1));
				goto out;
			}
			if (memcmp(root, up, LS_HASH_LEN) != 0) {
				rc = ls_err_set(err, LS_CORRUPT,
						"level %d tile %llu does not hash to level %d",
						L, (unsigned long long)(full - 1), L + 1);
				goto out;
			}
		}
	}
	for (unsigned k = 0; k < 64; k++) {
		if (!(size >> k & 1))
			continue;
		rc = tiles_node_hash(r, k, (size >> k) - 1, w->tree.edge[k]);
		if (rc != LS_OK) {
			ls_err_set(err, rc, "cannot read the tree's right edge at level %u", k);
			goto out;
		}
	}
	w->tree.size = size;
	rc = LS_OK;
out:
	tiles_reader_free(r);
	return rc;
}

ls_rc tiles_writer_open(const char *logdir, uint64_t size, struct tiles_writer **out,
			struct ls_err *err)
{
	struct tiles_writer *w;
	ls_rc rc;

	if (!logdir || !out)
		return ls_err_set(err, LS_INVALID, "missing argument");
	w = writer_new(logdir);
	if (!w)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if (size) {
		rc = writer_load(w, size, err);
		if (rc != LS_OK) {
			tiles_writer_free(w);
			return rc;
		}
	}
	w->flushed = size;
	*out = w;
	return LS_OK;
}

ls_rc tiles_writer_append(struct tiles_writer *w, const uint8_t leaf_hash[LS_HASH_LEN],
			  const void *entry, size_t len)
{
	uint64_t s = w->tree.size;
	uint8_t *tiles[TILE_LEVELS] = { NULL };
	uint8_t h[LS_HASH_LEN], roots[65][LS_HASH_LEN];
	unsigned ncomplete = 0;

	if (w->failed)
		return LS_FAILED;
	if (len > ENTRY_MAX || (len && !entry))
		return LS_LIMIT;
	if (s == UINT64_MAX)
		return LS_LIMIT;

	/* Allocate everything first so that a failure leaves no trace. */
	for (int L = 0; L < TILE_LEVELS; L++) {
		if ((s >> (TILE_HEIGHT * L)) % TILE_WIDTH != TILE_WIDTH - 1)
			break;
		ncomplete++;
	}
	if (ncomplete) {
		if (w->npend + ncomplete + 1 > w->pend_cap) {
			size_t cap = (w->pend_cap ? w->pend_cap * 2 : 16) + ncomplete + 1;
			struct pending *np = realloc(w->pend, cap * sizeof(*np));

			if (!np)
				return LS_NOMEM;
			w->pend = np;
			w->pend_cap = cap;
		}
		int oom = 0;

		for (unsigned i = 0; i < ncomplete; i++) {
			tiles[i] = malloc(TILE_BYTES);
			oom |= !tiles[i];
		}
		if (oom) {
			for (unsigned i = 0; i < ncomplete; i++)
				free(tiles[i]);
			return LS_NOMEM;
		}
	}

	/* The roots of the tiles this leaf completes come with the append
	 * (it computes them anyway): roots[8 (L + 1)] for level L. */
	merkle_tree_append_roots(&w->tree, leaf_hash, ncomplete ? roots : NULL);

	memcpy(h, leaf_hash, LS_HASH_LEN);
	for (unsigned L = 0; L <= ncomplete && L < TILE_LEVELS; L++) {
		unsigned pos = (unsigned)((s >> (TILE_HEIGHT * L)) % TILE_WIDTH);

		memcpy(w->edge[L][pos], h, LS_HASH_LEN);
		if (L == ncomplete)
			break;
		memcpy(tiles[L], w->edge[L], TILE_BYTES);
		memcpy(h, roots[TILE_HEIGHT * (L + 1)], LS_HASH_LEN);
		w->pend[w->npend++] = (struct pending){
			.level = (int)L,
			.n = s >> (TILE_HEIGHT * (L + 1)),
			.data = tiles[L],
			.len = TILE_BYTES,
		};
	}
	return LS_OK;
}

/* One file of a flush. */
struct job {
	char rel[JOB_PATH_MAX];
	char tmp[JOB_PATH_MAX + 8];
	int level;
	uint64_t n;
	unsigned w;
	const uint8_t *data;
	size_t len;
	int full;
	int skip;		/* already on disk with these bytes */
	int written;		/* temp file exists */
};

struct dirset {
	char **dir;
	size_t n, cap;
};

static ls_rc dirset_add(struct dirset *ds, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 1;
	const char *src = slash ? rel : ".";
	char *d;

	/* consecutive files mostly share a directory */
	if (ds->n && strlen(ds->dir[ds->n - 1]) == n && memcmp(ds->dir[ds->n - 1], src, n) == 0)
		return LS_OK;
	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? ds->cap * 2 : 16;
		char **nd = realloc(ds->dir, cap * sizeof(*nd));

		if (!nd)
			return LS_NOMEM;
		ds->dir = nd;
		ds->cap = cap;
	}
	d = strndup(src, n);
	if (!d)
		return LS_NOMEM;
	ds->dir[ds->n++] = d;
	return LS_OK;
}

static void dirset_free(struct dirset *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		free(ds->dir[i]);
	free(ds->dir);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static ls_rc make_parents(int dirfd, const char *rel, struct dirset *ds, struct ls_err *err)
{
	char buf[JOB_PATH_MAX + 8];
	size_t n = strlen(rel);

	memcpy(buf, rel, n + 1);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = 0;
		if (mkdirat(dirfd, buf, 0755) == 0) {
			if (dirset_add(ds, buf) != LS_OK)
				return ls_err_set(err, LS_NOMEM, "out of memory");
		} else if (errno != EEXIST) {
			return ls_err_set(err, errno_wrc(errno), "mkdir %s: %s", buf,
					  strerror(errno));
		}
		buf[i] = '/';
	}
	return LS_OK;
}

/* 1 when rel exists with exactly data (a full level-0 tile: or its sealed
 * segment holds it, the file being deleted), 0 when it does not exist. */
static ls_rc same_on_disk(struct tiles_writer *w, int dirfd, const struct job *j, int *same,
			  struct ls_err *err)
{
	uint8_t *disk;
	size_t len;
	ls_rc rc;

	rc = read_at(dirfd, j->rel, j->len, &disk, &len, err);
	*same = 0;
	if (rc == LS_NOTFOUND && j->level == 0 && j->full) {
		struct ls_err e2 = { "" };

		rc = seg_tile(w->logdir, &w->segs, j->n, &disk, &len, &e2);
		if (rc != LS_OK && rc != LS_NOTFOUND)
			return ls_err_set(err, rc, "%s", e2.msg);
	}
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc == LS_OK) {
		*same = len == j->len && memcmp(disk, j->data, len) == 0;
		free(disk);
	}
	if (rc == LS_CORRUPT || (rc == LS_OK && !*same))
		return ls_err_set(err, LS_TAMPERED, "%s: already on disk with other content",
				  j->rel);
	return rc;
}

static ls_rc write_temp(int dirfd, struct job *j, int do_fsync, struct dirset *ds,
			struct ls_err *err)
{
	size_t off = 0;
	int fd, e;
	ls_rc rc;

	fd = openat(dirfd, j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		rc = make_parents(dirfd, j->tmp, ds, err);
		if (rc != LS_OK)
			return rc;
		fd = openat(dirfd, j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return ls_err_set(err, errno_wrc(errno), "%s: %s", j->tmp, strerror(errno));
	j->written = 1;
	while (off < j->len) {
		ssize_t n = write(fd, j->data + off, j->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += (size_t)n;
	}
	if (do_fsync && fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return LS_OK;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	return ls_err_set(err, errno_wrc(e), "writing %s: %s", j->tmp, strerror(e));
}

/* A hash tile to write (the writer writes no entry bundles). */
static ls_rc add_job(struct job *j, int level, uint64_t n, unsigned w, const uint8_t *data,
		     size_t len, struct ls_err *err)
{
	const char *slash;

	if (tiles_path(level, n, w, j->rel, sizeof(j->rel)) != LS_OK)
		return ls_err_set(err, LS_LIMIT, "tile path too long");
	j->level = level;
	j->n = n;
	j->w = w;
	slash = strrchr(j->rel, '/');
	snprintf(j->tmp, sizeof(j->tmp), "%.*s.%s.tmp", (int)(slash - j->rel + 1), j->rel,
		 slash + 1);
	j->data = data;
	j->len = len;
	j->full = w == TILE_WIDTH;
	j->skip = 0;
	j->written = 0;
	return LS_OK;
}

ls_rc tiles_writer_flush(struct tiles_writer *w, struct ls_err *err)
{
	uint64_t s = w->tree.size;
	struct partial now[TILE_LEVELS + 1];
	struct dirset ds = { 0 };
	struct job *jobs;
	size_t njobs = 0, nwrite = 0;
	int dirfd = -1, do_fsync;
	ls_rc rc;

	if (w->failed)
		return ls_err_set(err, LS_FAILED, "an earlier flush failed; reopen the writer");
	if (s == w->flushed)
		return LS_OK;
	jobs = calloc(w->npend + TILE_LEVELS + 1, sizeof(*jobs));
	if (!jobs)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = LS_OK;
	for (size_t i = 0; i < w->npend && rc == LS_OK; i++)
		rc = add_job(&jobs[njobs++], w->pend[i].level, w->pend[i].n, TILE_WIDTH,
			     w->pend[i].data, w->pend[i].len, err);
	for (int L = 0; L < TILE_LEVELS; L++) {
		uint64_t count = s >> (TILE_HEIGHT * L);

		now[L].n = count / TILE_WIDTH;
		now[L].w = (unsigned)(count % TILE_WIDTH);
		if (rc != LS_OK || now[L].w == 0 ||
		    (now[L].n == w->part[L].n && now[L].w == w->part[L].w))
			continue;
		rc = add_job(&jobs[njobs++], L, now[L].n, now[L].w, &w->edge[L][0][0],
			     (size_t)now[L].w * LS_HASH_LEN, err);
	}
	if (rc != LS_OK)
		goto out;

	rc = open_dir(w->logdir, &dirfd, err);
	if (rc != LS_OK)
		goto out;
	/* Checks first: a refused flush leaves nothing behind. */
	for (size_t i = 0; i < njobs; i++) {
		if (!jobs[i].full)
			continue;
		rc = same_on_disk(w, dirfd, &jobs[i], &jobs[i].skip, err);
		if (rc != LS_OK)
			goto out;
	}
	for (size_t i = 0; i < njobs; i++)
		nwrite += !jobs[i].skip;
	do_fsync = nwrite < SYNCFS_MIN;

	for (size_t i = 0; i < njobs; i++) {
		rc = jobs[i].skip ? LS_OK : write_temp(dirfd, &jobs[i], do_fsync, &ds, err);
		if (rc == LS_OK)
			rc = dirset_add(&ds, jobs[i].rel) == LS_OK ? LS_OK :
				ls_err_set(err, LS_NOMEM, "out of memory");
		if (rc != LS_OK)
			goto failed;
	}
	if (!do_fsync && syncfs(dirfd) < 0) {
		rc = ls_err_set(err, errno_wrc(errno), "syncfs %s: %s", w->logdir, strerror(errno));
		goto failed;
	}
	for (size_t i = 0; i < njobs; i++) {
		if (jobs[i].skip)
			continue;
		if (renameat(dirfd, jobs[i].tmp, dirfd, jobs[i].rel) < 0) {
			rc = ls_err_set(err, errno_wrc(errno), "rename %s: %s", jobs[i].rel,
					strerror(errno));
			goto failed;
		}
		jobs[i].written = 0;
	}
	if (ds.n)
		qsort(ds.dir, ds.n, sizeof(ds.dir[0]), cmp_str);
	for (size_t i = 0; i < ds.n; i++) {
		int fd;

		if (i && strcmp(ds.dir[i], ds.dir[i - 1]) == 0)
			continue;
		fd = openat(dirfd, ds.dir[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			rc = ls_err_set(err, errno_wrc(e), "fsync %s: %s", ds.dir[i], strerror(e));
			goto failed;
		}
		close(fd);
	}

	for (size_t i = 0; i < w->npend; i++)
		free(w->pend[i].data);
	w->npend = 0;
	for (int L = 0; L < TILE_LEVELS; L++)
		if (now[L].w)
			w->part[L] = now[L];
	w->flushed = s;
	rc = LS_OK;
	goto out;
failed:
	w->failed = 1;
	for (size_t i = 0; i < njobs; i++)
		if (jobs[i].written)
			unlinkat(dirfd, jobs[i].tmp, 0);
out:
	if (dirfd >= 0)
		close(dirfd);
	dirset_free(&ds);
	free(jobs);
	return rc;
}

ls_rc tiles_write_checkpoint(const char *logdir, const char *note, size_t n, struct ls_err *err)
{
	char path[4096];

	if (!logdir || (!note && n))
		return ls_err_set(err, LS_INVALID, "missing argument");
	if (snprintf(path, sizeof(path), "%s/checkpoint", logdir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "log directory path too long");
	return fs_write_file(path, note, n, 0644, 0, err);
}

ls_rc tiles_drop_level0(const char *logdir, uint64_t first, uint64_t count,
			const uint8_t (*hashes)[LS_HASH_LEN], uint64_t *dropped,
			struct ls_err *err)
{
	char rel[TILES_PATH_MAX];
	int dirfd;
	ls_rc rc;

	if (dropped)
		*dropped = 0;
	if (!logdir || !hashes || first % TILE_WIDTH || count % TILE_WIDTH)
		return ls_err_set(err, LS_INVALID, "level-0 tiles: not whole tiles");
	rc = open_dir(logdir, &dirfd, err);
	if (rc != LS_OK)
		return rc;
	for (uint64_t t = 0; t < count / TILE_WIDTH; t++) {
		uint64_t n = first / TILE_WIDTH + t;
		struct ls_err e2 = { "" };
		uint8_t *disk;
		size_t len;

		tiles_path(0, n, TILE_WIDTH, rel, sizeof(rel));
		rc = read_at(dirfd, rel, TILE_BYTES, &disk, &len, &e2);
		if (rc == LS_NOTFOUND || rc == LS_CORRUPT) {
			/* dropped before (a crash in between), or not a tile
			 * (left for verify to name) */
			rc = LS_OK;
			continue;
		}
		if (rc != LS_OK) {
			ls_err_set(err, rc, "%s", e2.msg);
			break;
		}
		/* Only a tile the segment serves with the same bytes goes. */
		if (len == TILE_BYTES && memcmp(disk, hashes[t * TILE_WIDTH], TILE_BYTES) == 0) {
			if (unlinkat(dirfd, rel, 0) != 0 && errno != ENOENT) {
				rc = ls_err_set(err, errno_wrc(errno), "unlink %s/%s: %s", logdir, rel,
						strerror(errno));
				free(disk);
				break;
			}
			if (dropped)
				(*dropped)++;
		}
		free(disk);
		rc = LS_OK;
	}
	close(dirfd);
	return rc;
}

ls_rc tiles_restore_level0(const char *logdir, uint64_t first, uint64_t count,
			   const uint8_t (*hashes)[LS_HASH_LEN], struct ls_err *err)
{
	char rel[TILES_PATH_MAX], path[PATH_MAX];
	ls_rc rc = LS_OK;

	if (!logdir || !hashes || first % TILE_WIDTH || count % TILE_WIDTH)
		return ls_err_set(err, LS_INVALID, "level-0 tiles: not whole tiles");
	for (uint64_t t = 0; rc == LS_OK && t < count / TILE_WIDTH; t++) {
		char *slash;

		tiles_path(0, first / TILE_WIDTH + t, TILE_WIDTH, rel, sizeof(rel));
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", logdir, rel) >= sizeof(path))
			return ls_err_set(err, LS_LIMIT, "%s: path too long", logdir);
		if (access(path, F_OK) == 0)
			continue;
		slash = strrchr(path, '/');
		*slash = 0;
		rc = fs_mkdirs(path, 0755, err);
		*slash = '/';
		if (rc == LS_OK)
			rc = fs_write_file(path, hashes[t * TILE_WIDTH], TILE_BYTES, 0644, 0, err);
	}
	return rc;
}
