/*
 * index_int.h - private to the pieces of the query index (index*.c; the API
 * is index.h): the constants, struct index and the structs the pieces pass
 * each other, and the functions one piece defines for another (prefixed
 * ix_).  The files, the cursor, the memory budget and the invariants are
 * described at the top of index.c.  Include it after followers/index.h.
 *
 *	index.c		open, start (reconcile) and close, the feed, the waits
 *	index_follow.c	the extractor and writer threads (ranges in memory)
 *	index_files.c	DIR/index/: meta, lock, .post files, the range cache
 *	index_blind.c	keyed hashes (the blind index) and the index key
 *	index_row.c	an entry's JSON to a row (struct row)
 *	index_terms.c	a row's terms (struct terms -> struct pf_row)
 *	index_rebuild.c	index_rebuild() and index_verify_postings()
 *	index_query.c	query parsing and cursors
 *	index_exec.c	running a query over the ranges
 *	index_stats.c	index_stats()
 */
#ifndef LS_INDEX_INT_H
#define LS_INDEX_INT_H

/* after followers/index.h, whose types this uses (including it here would
 * make a cycle of the modules index and index_int) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "base/jlex.h"
#include "core/event.h"
#include "core/postings.h"
#include "store/keys.h"
#include "store/reader.h"

/* ------------------------------------------------- constants and the index */

#define BLIND_LEN 16		/* bytes kept of each HMAC-SHA256 */
#define TERM_HASH_LEN 8		/* bytes of it in a PF_ACTOR/RTYPE/RID/WRITER/IP term */
#define NET_HASH_LEN 8		/* bytes of a network's keyed hash in a PF_NET term */
#define INDEX_KEY_LABEL "logseal/index/v1"
#define INDEX_KEY_FILE "index.key"	/* in DIR/keys/, without encryption (see index_key()) */
#define META_FILE "meta"		/* DIR/index/meta (index.c) */
#define META_MAGIC "logseal index postings 2"	/* 2: resource id prefixes */
#define POLL_MS 200		/* follower fallback poll when nobody notifies */
#define PUB_ROWS 256		/* rows extracted between two publications */
#define FEED_MAX_BYTES ((size_t)16 << 20)	/* entry bytes index_feed() keeps */
#define FEED_ALLOC ((size_t)1 << 20)	/* least allocation of a fed batch */
#define FEED_SPARES 4		/* emptied fed batches kept for reuse */
#define NOSPACE_RETRY_MS 100	/* first wait of the writer after ENOSPC ... */
#define NOSPACE_RETRY_MAX_MS 2000	/* ... doubling up to this */
#define CACHE_SLOTS 1024	/* sealed ranges kept mapped (LRU; index.c budget) */
#define POST_MAX ((size_t)1 << 30)	/* largest .post file read */
#define CURSOR_VERSION 1
#define CURSOR_TAG "logseal index cursor v1"
#define MAX_BUCKET_SECONDS (100LL * 366 * 86400)

/*
 * Keyed hashes with the key's pads hashed once: crypto.h's one-shot HMAC
 * derives them again on every call (~1.4 us), and the extractor hashes up
 * to ten short values per entry; restoring a saved state costs ~0.2 us.
 * The two contexts are read-only once set, so threads share them, each
 * with its own scratch context.
 */
struct blind {
	EVP_MD_CTX *in, *out;	/* SHA-256 after K ^ ipad, after K ^ opad */
};

/*
 * The feed: batches the log's sequencer has just made durable, handed over
 * with their journal offsets (index_feed()), so that the extractor does not
 * read back and decrypt what was just written.  It holds at most
 * FEED_MAX_BYTES of entries; a batch past that is not kept, and the
 * extractor reads that stretch from the journal, as it does for what was
 * there before the server started.  Only the extractor takes batches off;
 * index_feed() adds at the end.
 */
struct fbatch {
	struct fbatch *next;	/* under mu */
	size_t cap;		/* bytes allocated, this struct included */
	uint64_t first;
	size_t n, bytes;
	uint64_t *offs;		/* n: record offsets in their segment */
	uint32_t *at;		/* n + 1: entry i is data[at[i] .. at[i + 1]) */
	uint8_t *data;
};

/* A sealed range: DIR/index/<016x first>.post, leaves [first, first + L).
 * Immutable once appended to idx->ranges, but for the time bounds, which
 * are set under mu. */
struct range {
	uint64_t first;
	int has_t, has_r;		/* bounds of the time columns known */
	int64_t tlo, thi, rlo, rhi;	/* min, max of time and received (inclusive) */
};

/* A range in memory: the active one, or a complete one not yet written. */
struct building {
	struct postings *p;	/* NULL: the slot is free */
	uint64_t first;
	uint64_t *offs;		/* L journal offsets, INDEX_NO_OFFSET unknown */
	bool complete;		/* all L leaves extracted: the writer's */
	uint8_t last_hash[LS_HASH_LEN];	/* SHA-256 of the last entry, when complete */
};

/* A sealed range in the cache: its .post file mapped, and a view of it. */
struct centry {
	struct postings *p;	/* NULL: free */
	void *map;		/* mmap() of the file, maplen bytes */
	size_t maplen;
	uint64_t first;
	unsigned refs;
	uint64_t tick;
};

/* A .post file whose every byte was checked in this process (by the stat
 * of the file then): later opens check only its fixed parts. */
struct vseen {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};

struct index {
	struct blind bl;
	uint8_t check[BLIND_LEN];	/* B("key-check", "") */
	char *datadir;
	char *jdir;		/* DIR/journal */
	char *idir;		/* DIR/index */
	int lockfd;
	uint32_t L;		/* leaves per range */

	pthread_mutex_t mu;
	pthread_cond_t wake;	/* extractor: notified, a slot freed, or stopping */
	pthread_cond_t wcv;	/* writer: a range complete, a pause, stopping */
	pthread_cond_t moved;	/* waiters: the watermark moved, failed, writer idle */
	pthread_t ext_thread, wr_thread;
	bool started, stop, kicked, bounded, failed;
	bool nospace;		/* the writer waits for disk space (nospace_msg) */
	bool pause_writer, writing, ext_waiting;
	bool ext_done;		/* the extractor has returned (the writer's last pass) */
	unsigned waiters;	/* threads in a wait */
	uint64_t end;		/* the watermark W: leaves [0, W) are searchable */
	uint64_t limit;		/* largest notified size, when bounded */
	char errmsg[512];
	char nospace_msg[512];

	/* Sealed ranges, ranges[i].first = i * L (under mu; see struct range).
	 * A grown array replaces the old one, which is kept (old) until
	 * index_close(), so that a reader holding the old pointer stays valid. */
	struct range *ranges;
	size_t nranges, capranges;
	void **old;
	size_t nold;

	/* Ranges in memory: range k in b[k & 1].  Their postings are read
	 * under act_rw shared and added to under it exclusive (postings.h). */
	pthread_rwlock_t act_rw;
	struct building b[2];

	/* Decoded sealed ranges (index_files.c), under cmu. */
	pthread_mutex_t cmu;
	struct centry cache[CACHE_SLOTS];
	struct vseen *seen;	/* per sealed range (first / L), nseen of them */
	size_t nseen;
	uint64_t tick;

	struct fbatch *fhead, *ftail;	/* the feed (under mu) */
	struct fbatch *fspare;	/* emptied batches: memory already faulted in */
	size_t nfspare;
	size_t feed_bytes;
	uint64_t n_fed, n_read;	/* entries extracted from the feed, the journal */
};

/* ----------------------------------------------------------- small helpers */

static inline void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void deadline_after(struct timespec *ts, unsigned ms)
{
	ls_deadline(ts, CLOCK_MONOTONIC, ms);
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* --------------------------------------------- blind index (index_blind.c) */

/*
 * A small cache of blind hashes for the extractor and the rebuild: most
 * values repeat (the writer of a whole batch, a user's id, a resource
 * type, the /8 and /16 of an address), and a lookup costs a fraction of an
 * HMAC.  Direct-mapped by a multiplicative hash of (field, value) taken
 * eight bytes at a time; values longer than BC_MAXV bytes are not kept.
 * A slot is one cache line.  ix_terms_fill() locates the slots of all of
 * an entry's values first and has them fetched together (ix_bc_slot()),
 * then looks them up (ix_blind_at()): one wait for memory instead of up
 * to nine.  It lives in the memory of one thread.
 */
#define BC_SLOTS 4096		/* a power of two */
#define BC_MAXV 40
enum { BC_ACTOR = 1, BC_RTYPE, BC_RID, BC_WRITER, BC_IP, BC_NET, BC_RIDP };

struct bslot {
	uint8_t field, len;	/* field 0: empty */
	uint8_t v[BC_MAXV];
	uint8_t out[BLIND_LEN];
} __attribute__((aligned(64)));

struct bcache {
	struct bslot s[BC_SLOTS];
};

/* --------------------------------- a row extracted from JSON (index_row.c) */

struct row {
	bool has_time, has_received, has_ip;
	int64_t time_us, received_us;
	uint8_t ip[16];
	const char *actor, *action, *outcome, *service, *rtype, *rid, *writer;
	size_t actor_n, action_n, outcome_n, service_n, rtype_n, rid_n, writer_n;
};

/* ----------------------------------------------- terms (index_terms.c) */

/* The prefix lengths kept as PF_NET terms, in bits of the 128-bit form. */
static const uint8_t NET_V4[] = { 96 + 8, 96 + 16, 96 + 24 };
static const uint8_t NET_V6[] = { 16, 32, 48, 56, 64 };
#define NET_MAX 5		/* sizeof(NET_V6) */

static const uint8_t V4_MAPPED[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* One entry's terms; row.t[].bytes point into this struct (never copy a
 * filled one). */
struct terms {
	struct pf_row row;
	uint8_t actor[BLIND_LEN], rtype[BLIND_LEN], rid[BLIND_LEN], writer[BLIND_LEN];
	uint8_t ridp[INDEX_RID_PREFIXES][BLIND_LEN];	/* B("resource_id_prefix", up to a '/' or ':') */
	uint8_t ip[BLIND_LEN];			/* B("source_ip", address) */
	uint8_t net[NET_MAX][1 + NET_HASH_LEN];	/* plen || B("source_net", plen || masked) */
	uint8_t family;				/* 4 or 6 */
};

/* ------------------------------------------------- queries (index_query.c) */

/* How the index answers a CIDR [lo, hi]. */
enum ipq {
	IPQ_BAD,	/* a prefix length the index does not keep */
	IPQ_ANY,	/* ::/0: any address */
	IPQ_V4,		/* 0.0.0.0/0: any IPv4 address (PF_FAMILY 4) */
	IPQ_FULL,	/* /32, /128: PF_IP */
	IPQ_NET,	/* a kept prefix: PF_NET */
	IPQ_NET_OR_V4,	/* an IPv6 prefix of zeros that covers ::ffff:0:0/96 as well */
};

#define CIDR_SUPPORTED "IPv4 /0, /8, /16, /24, /32 and IPv6 /0, /16, /32, /48, /56, /64, /128"

/* A query's filters as terms (index_exec.c). */
struct qterms {
	const struct index_query *q;
	enum ipq ipq;
	unsigned ip_bits;
	uint8_t actor[BLIND_LEN], rtype[BLIND_LEN], rid[BLIND_LEN], writer[BLIND_LEN];
	uint8_t ip[BLIND_LEN];
	uint8_t net[1 + NET_HASH_LEN];
	uint8_t noth[INDEX_NOT_MAX][BLIND_LEN];	/* the hashed values of q->nots */
	uint8_t fam4;
	uint64_t kept;		/* the store's retained point: leaves below it are gone */
};

/* A range as a query reads it (index_exec.c). */
struct rview {
	const struct postings *p;
	uint64_t first;
	uint32_t vis;		/* rels [0, vis) are below the snapshot's watermark */
	bool locked;		/* a building range: act_rw is held shared */
	struct centry *ce;	/* a sealed range: the cache entry held */
};

/* ----------------------------------------------- shared between the pieces */

/* index.c */
char *ix_path_join(const char *a, const char *b);
struct fbatch *ix_feed_at(struct index *idx, uint64_t next);
void ix_follower_fail(struct index *idx, ls_rc rc, const char *msg);

/* index_follow.c */
void *ix_extractor(void *arg);
void *ix_writer(void *arg);
void ix_building_free(struct building *b);

/* index_files.c */
ls_rc ix_lock_dir(const char *indexdir, int *fd, struct ls_err *err);
void ix_post_name(uint64_t first, char out[32]);
ls_rc ix_post_list(const char *idir, uint64_t **firsts, size_t *n, struct ls_err *err);
ls_rc ix_post_read(const char *idir, uint64_t first, struct postings **out,
		   struct ls_err *err);
ls_rc ix_post_write(const char *idir, const struct postings *p, struct ls_err *err);
ls_rc ix_post_remove_from(const char *idir, uint64_t from, struct ls_err *err);
struct meta {
	uint8_t check[BLIND_LEN];
	uint32_t L;
	bool has_last;
	uint64_t last;			/* the last leaf of the last sealed range */
	uint8_t last_hash[LS_HASH_LEN];	/* SHA-256 of its entry */
};
ls_rc ix_meta_read(const char *idir, struct meta *m, struct ls_err *err);
ls_rc ix_meta_write(const char *idir, const struct meta *m, struct ls_err *err);
ls_rc ix_cache_get(struct index *idx, uint64_t first, struct centry **out, struct ls_err *err);
void ix_cache_put(struct index *idx, struct centry *ce);
void ix_cache_add(struct index *idx, struct postings *p);
ls_rc ix_post_check(struct index *idx, uint64_t first, struct range *r, struct ls_err *err);
void ix_cache_free(struct index *idx);
void ix_range_bounds(const struct postings *p, struct range *r);
int ix_ranges_append(struct index *idx, const struct range *r);

/* index_blind.c */
struct bslot *ix_bc_slot(struct bcache *bc, uint8_t field, const void *v, size_t n);
int ix_blind_at(const struct blind *b, EVP_MD_CTX *w, struct bslot *sl, uint8_t field,
		const char *name, const void *v, size_t n, uint8_t out[BLIND_LEN]);
struct bcache *ix_bcache_new(void);
void ix_blind_free(struct blind *b);
int ix_blind_hash(const struct blind *b, EVP_MD_CTX *w, const char *name, const void *v,
		  size_t n, uint8_t out[BLIND_LEN]);
ls_rc ix_blind_open(const char *datadir, struct blind *b, uint8_t check[BLIND_LEN],
		    struct ls_err *err);

/* index_row.c */
void ix_row_extract(const uint8_t *data, size_t len, char *arena, struct row *r);

/* index_terms.c */
int64_t ix_iter_offset(const struct store_iter *it);
void ix_mask_prefix(const uint8_t ip[16], unsigned bits, uint8_t out[16]);
int ix_net_term(const struct blind *b, EVP_MD_CTX *w, const uint8_t ip[16], unsigned bits,
		uint8_t out[1 + NET_HASH_LEN]);
int ix_terms_fill(const struct blind *bl, EVP_MD_CTX *w, struct bcache *bc, const struct row *r,
		  struct terms *t);
const char *ix_field_name(uint8_t field);

/* index_query.c */
enum ipq ix_cidr_kind(const uint8_t lo[16], const uint8_t hi[16], unsigned *bits);
ls_rc ix_filter_hash(const struct index_query *q, uint8_t out[8]);

/* index_exec.c */
ls_rc ix_qterms_prepare(struct qterms *w, struct index *idx, struct ls_err *err);
struct pset *ix_match(const struct qterms *w, const struct postings *p, uint32_t vis);
bool ix_time_ok(const struct index_query *q, const struct postings *p, uint32_t rel);
bool ix_range_skip(const struct index_query *q, const struct range *r);
ls_rc ix_view_open(struct index *idx, uint64_t k, uint64_t end, size_t nranges,
		   struct rview *v, struct ls_err *err);
void ix_view_close(struct index *idx, struct rview *v);
void ix_snapshot(struct index *idx, uint64_t *end, size_t *nranges);

#endif /* LS_INDEX_INT_H */
