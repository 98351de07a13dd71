/*
 * tlogclient.h - a reader of any C2SP tlog-tiles log (c2sp.org/tlog-tiles):
 * a local directory, or an http(s):// URL prefix (a running logseal's
 * /log/ with a bearer token, a static web server, a bucket's web front).
 * It fetches the checkpoint, answers node hashes of a tree of a given size
 * from the hash tiles (so merkle.h computes any inclusion or consistency
 * proof from them), and walks entry bundles.  Used by the monitor and by
 * tools that feed witnesses.
 *
 * Paths (relative to the prefix): "checkpoint", "tile/<L>/<N>[.p/<W>]",
 * "tile/entries/<N>[.p/<W>]" (store/tiles.h tiles_path()).
 *
 * Not thread-safe: one tlog_src per thread.
 */
#ifndef LS_TLOGCLIENT_H
#define LS_TLOGCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define TLOG_MAX_FETCH (32u << 20)	/* bytes of one fetched file */

struct tlog_src;

/* where: "http://..." or "https://..." (a trailing '/' is optional), else a
 * directory.  token: sent as "Authorization: Bearer <token>", or NULL. */
ls_rc tlog_src_open(const char *where, const char *token, struct tlog_src **out,
		    struct ls_err *err);
void tlog_src_free(struct tlog_src *s);

/* One file, malloc'd (NUL-terminated past len).  LS_NOTFOUND for a missing
 * file or a 404; LS_IO for anything else that failed. */
ls_rc tlog_src_get(struct tlog_src *s, const char *path, uint8_t **data, size_t *len,
		   struct ls_err *err);

/* A tree of `size` leaves of the source: ctx for tlog_node_hash. */
struct tlog_tree {
	struct tlog_src *src;
	uint64_t size;
	struct ls_err *err;	/* where fetch failures are described (may be NULL) */
};
/* merkle_node_fn over the hash tiles of tree->size (tiles are cached). */
ls_rc tlog_node_hash(void *tree, unsigned level, uint64_t index, uint8_t out[LS_HASH_LEN]);

/* Call fn for every entry of [from, to) of a tree of `size` leaves, read
 * from the entry bundles; a malformed bundle is LS_CORRUPT.  fn's non-OK
 * return stops the walk and is returned. */
typedef ls_rc (*tlog_entry_fn)(void *ctx, uint64_t index, const uint8_t *entry, size_t n);
ls_rc tlog_entries(struct tlog_src *s, uint64_t size, uint64_t from, uint64_t to,
		   tlog_entry_fn fn, void *ctx, struct ls_err *err);

#endif
