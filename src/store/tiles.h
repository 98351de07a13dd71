/*
 * tiles.h - the C2SP tlog-tiles layout under a log directory (DIR/log):
 *
 *	checkpoint                   the latest signed checkpoint
 *	tile/<L>/<N>                 full hash tile: 256 hashes of 32 bytes
 *	                             (level 0 of a sealed range: no file, the
 *	                             segment serves it; below)
 *	tile/<L>/<N>.p/<W>           partial hash tile of W (1..255) hashes
 *	tile/entries/<N>[.p/<W>]     entry bundle: W entries, each a big-endian
 *	                             uint16 length then the entry bytes (read
 *	                             from static copies; a data directory keeps
 *	                             none: the store builds them, reader.h)
 *
 * <N> is written in groups of three decimal digits, every group but the last
 * prefixed with 'x' (1234067 -> x001/x234/067).  A tile at level L holds the
 * hashes of tree level 8L; tile (L, N) covers nodes [256N, 256N+W) of that
 * level.  The directory can be published as is by a static web server.
 *
 * struct tiles_writer keeps the right edge of every level in memory and
 * writes the hash tiles a new checkpoint needs (no entry bundles: each
 * entry is stored once, in the store); tiles_reader answers node hashes,
 * and entries where bundle files exist (a static copy fetched over HTTP,
 * logs made by other tlog implementations), for a given tree size.
 */
#ifndef LS_TILES_H
#define LS_TILES_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define TILE_HEIGHT 8
#define TILE_WIDTH 256
/* Longest tiles_path() result plus its NUL ("tile/entries/" + 7 groups + ".p/255"). */
#define TILES_PATH_MAX 64

/* "tile/<L>/<N>[.p/<W>]" or, with level < 0, "tile/entries/<N>[.p/<W>]"
 * (w == 256 means full).  Returns LS_LIMIT if cap is too small. */
ls_rc tiles_path(int level, uint64_t n, unsigned w, char *out, size_t cap);
/* Parse a path relative to the log dir (as served under /log/); level -1 for entries. */
ls_rc tiles_path_parse(const char *path, int *level, uint64_t *n, unsigned *w);

struct tiles_writer;

/* Open the writer for logdir at tree size `size`, loading the right-edge
 * tiles from disk.  LS_NOTFOUND/LS_CORRUPT when they are missing or do not
 * match: the caller then rebuilds with size 0. */
ls_rc tiles_writer_open(const char *logdir, uint64_t size, struct tiles_writer **out,
			struct ls_err *err);
/* Append the next leaf (its hash) in memory; entry and len are not kept
 * (len is checked: at most 65,535; NULL, 0 is fine).  Tiles that fill up
 * stay in memory until the next flush, so a long replay should flush every
 * so often. */
ls_rc tiles_writer_append(struct tiles_writer *w, const uint8_t leaf_hash[LS_HASH_LEN],
			  const void *entry, size_t len);
uint64_t tiles_writer_size(const struct tiles_writer *w);
/* Root of the tree of the current size (from the in-memory state). */
void tiles_writer_root(const struct tiles_writer *w, uint8_t out[LS_HASH_LEN]);
/* Write durably every tile that a checkpoint at the current size needs and
 * that is not yet on disk (temp file, fsync, rename, fsync directory).
 * No-op when nothing was appended since.  A full tile already on disk with
 * other bytes: LS_TAMPERED, nothing written.  After any I/O failure the
 * writer is stuck (LS_FAILED from then on): free it and reopen. */
ls_rc tiles_writer_flush(struct tiles_writer *w, struct ls_err *err);
/* Write the signed checkpoint note durably as logdir/checkpoint. */
ls_rc tiles_write_checkpoint(const char *logdir, const char *note, size_t n, struct ls_err *err);
void tiles_writer_free(struct tiles_writer *w);

/* A reader is for one thread at a time (it caches the last tiles read). */
struct tiles_reader;
ls_rc tiles_reader_open(const char *logdir, uint64_t size, struct tiles_reader **out);
/* merkle_node_fn over the tiles for the reader's size. */
ls_rc tiles_node_hash(void *reader, unsigned level, uint64_t index, uint8_t out[LS_HASH_LEN]);
/* Entry `index` from the entry bundles: *data (malloc'd) and *len. */
ls_rc tiles_read_entry(struct tiles_reader *r, uint64_t index, uint8_t **data, size_t *len,
		       struct ls_err *err);
/* Read the whole tile file (level -1: entries) of width w (256 full). */
ls_rc tiles_read_file(const char *logdir, int level, uint64_t n, unsigned w, uint8_t **data,
		      size_t *len, struct ls_err *err);
void tiles_reader_free(struct tiles_reader *r);

/*
 * Full level-0 tiles of sealed ranges (tiles.c, top comment): the readers
 * above and the writer take tile/0/<N> from the sealed segment in
 * DIR/segments (logdir being DIR/log) that holds leaves [256N, 256N+256)
 * when the file is missing, with the same bytes.  tiles_drop_level0()
 * deletes those files for leaves [first, first + count) (multiples of 256)
 * once their segment is durable: hashes[i] is leaf first + i as the
 * segment holds it, and only a file with exactly those bytes is deleted (a
 * missing one is skipped, one with other bytes kept for verify to name).
 * The deletions are not synced: a crash may leave a file, which is still
 * right.  *dropped (may be NULL): files deleted.
 */
ls_rc tiles_drop_level0(const char *logdir, uint64_t first, uint64_t count,
			const uint8_t (*hashes)[LS_HASH_LEN], uint64_t *dropped,
			struct ls_err *err);
/* The reverse, before the segment leaves DIR/segments (retention): every
 * missing full level-0 tile file of [first, first + count) is written
 * back from hashes, durably (fs_write_file), so that proofs and the
 * writer's reopen never need the segment again. */
ls_rc tiles_restore_level0(const char *logdir, uint64_t first, uint64_t count,
			   const uint8_t (*hashes)[LS_HASH_LEN], struct ls_err *err);

#endif
