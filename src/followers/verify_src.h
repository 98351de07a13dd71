/*
 * verify_src.h - where `verify --tiles` reads a published log from: objects
 * by key, relative to the log's root, from a local directory or an object
 * store (an s3:// bucket, or a read-only http(s):// tree: store/objstore.h).
 *
 * Keys are the bucket layout's (docs/OBJECT-STORE.md, docs/FORMAT.md §13):
 * "log/checkpoint", "log/tile/0/x001/002", "checkpoints/300",
 * "segments/0000000000000100.seal", ...  A directory source maps key K to
 * DIR/K; a store source to the store's PREFIX/K.  verify_src_name()
 * followed by "/" and the key names the object in messages
 * ("s3://b/p/log/tile/0/000").
 *
 * get() is called from several threads at once (the fetchers of
 * verify_tiles.c): LS_NOTFOUND for an object that is not there.  list()
 * gives every key under a prefix (ascending); a source that cannot list
 * (http(s)://) answers LS_INVALID and verify asks for the objects the tree
 * needs by name instead.
 */
#ifndef LS_VERIFY_SRC_H
#define LS_VERIFY_SRC_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

struct objstore;
struct verify_src;

/* dir: read files under it (not copied; a file that changes during the
 * run is read as it is then). */
ls_rc verify_src_dir(const char *dir, struct verify_src **out, struct ls_err *err);
/* s: an open store, borrowed (the caller closes it after the source). */
ls_rc verify_src_objstore(struct objstore *s, const char *name, struct verify_src **out,
			  struct ls_err *err);
void verify_src_free(struct verify_src *src);

const char *verify_src_name(const struct verify_src *src);
/* 1 when list() works. */
int verify_src_can_list(const struct verify_src *src);
/* The whole object (malloc'd, *n bytes; at most cap). */
ls_rc verify_src_get(struct verify_src *src, const char *key, size_t cap, uint8_t **data,
		     size_t *n, struct ls_err *err);
typedef int (*verify_src_list_fn)(void *ctx, const char *key, uint64_t size);
ls_rc verify_src_list(struct verify_src *src, const char *prefix, verify_src_list_fn fn,
		      void *ctx, struct ls_err *err);

#endif
