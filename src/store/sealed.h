/*
 * sealed.h - the sealed segments of a data directory as the rest of store/
 * sees them (private to store/; segment.h is the file format): the list of
 * DIR/segments/<016x>.seal, where sealing has reached, and a cache of open
 * segments shared by the threads of one reader.
 *
 * Segment i of a listing holds [first[i], first[i + 1]) and the last one
 * [first[n - 1], end): the sealer writes them one after the other, so
 * names alone say the spans; a segment whose header says otherwise is
 * LS_CORRUPT when it is opened.  Retention moves whole segments out from
 * the start, so the first one need not start at 0.
 */
#ifndef LS_SEALED_H
#define LS_SEALED_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define SEALED_SUBDIR "segments"
/* Open segments a reader keeps (LRU): with what segment.h says an open
 * segment holds (two decoded blocks, ~130 KB for bench-shape events),
 * about 4 MB per reader; the bound is 16 x 2 blocks whatever the log's
 * size. */
#define SEALED_CACHE 16

struct keyring;
struct segment;

/* "DIR/segments" for any "DIR/<sub>" (e.g. the journal directory). */
ls_rc sealed_dir_of(const char *sub, char *out, size_t cap);

struct sealed_list {
	uint64_t *first;	/* ascending */
	size_t n;
	uint64_t end;		/* of the last segment; 0 when n == 0 */
};
/* List segdir (missing: empty); the last segment is opened for its count. */
ls_rc sealed_list_load(const char *segdir, struct keyring *kr, struct sealed_list *out,
		       struct ls_err *err);
void sealed_list_release(struct sealed_list *l);
/* The position of the segment that holds index, or -1. */
long sealed_list_find(const struct sealed_list *l, uint64_t index);
uint64_t sealed_list_end_of(const struct sealed_list *l, size_t i);

/* A cache of open segments (SEALED_CACHE of them, least recently used
 * closed first), safe for any number of threads. */
struct sealed_cache;
ls_rc sealed_cache_open(const char *segdir, struct sealed_cache **out, struct ls_err *err);
/* The segment that holds index, held until sealed_cache_put().  With
 * relist, the directory is listed again first when index lies at or past
 * the end last listed.  LS_NOTFOUND: no segment holds it. */
ls_rc sealed_cache_get(struct sealed_cache *c, uint64_t index, int relist, struct segment **seg,
		       struct ls_err *err);
void sealed_cache_put(struct sealed_cache *c, struct segment *seg);
/* First index and end of the sealed segments last listed (0, 0: none). */
void sealed_cache_span(struct sealed_cache *c, uint64_t *first, uint64_t *end);
void sealed_cache_free(struct sealed_cache *c);

#endif
