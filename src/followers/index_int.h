/*
 * index_int.h - private to the pieces of the query index (index*.c; the API
 * is index.h): the constants, struct index and the structs the pieces pass
 * each other, and the functions one piece defines for another (prefixed
 * ix_).  The database format, the cursor and the invariants are described
 * at the top of index.c.  Include it after followers/index.h.
 *
 *	index.c		open and close, reconcile, the writer thread, waits
 *	index_blind.c	keyed hashes (the blind index) and the index key
 *	index_row.c	an entry's JSON to a row (struct row)
 *	index_write.c	a row's column values and the writer's batches
 *	index_schema.c	tables, meta, opening the database, the lock
 *	index_tail.c	the in-memory tail and the extractor thread
 *	index_rebuild.c	index_rebuild()
 *	index_query.c	query parsing and cursors
 *	index_exec.c	running a query
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
#include <sqlite3.h>
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
#include "core/event.h"
#include "base/fsutil.h"
#include "base/jlex.h"
#include "store/reader.h"
#include "store/keys.h"

/* ------------------------------------------------- constants and the index */

#define SCHEMA_VERSION 6
#define BLIND_LEN 16		/* bytes kept of each HMAC-SHA256 */
#define INDEX_KEY_LABEL "logseal/index/v1"
#define INDEX_KEY_FILE "index.key"	/* in DIR/keys/, without encryption (see index_key()) */
#define BATCH_ROWS 65536		/* rows per follower transaction */
#define REBUILD_ROWS 65536	/* rows per rebuild transaction and progress call */
#define POLL_MS 200		/* follower fallback poll when nobody notifies */
#define LINGER_MS 100		/* a small transaction waits this long for more rows */
#define CKPT_FRAMES 4096	/* WAL pages that wake the background checkpoint */
#define CKPT_INLINE_FRAMES 32768	/* ... and that the writer checkpoints itself */
#define POOL_MAX 8		/* idle read connections kept */
#define TAIL_CHUNK_ROWS 4096	/* rows per tail chunk (a power of two) */
#define TAIL_MAX_ROWS (2u << 20)	/* rows the tail holds before extraction waits */
#define TAIL_MAX_BYTES ((size_t)512 << 20)	/* ... and bytes */
#define TAIL_RING (TAIL_MAX_ROWS / TAIL_CHUNK_ROWS + 4)	/* chunk slots (see ix_tail_put()) */
#define TAIL_BLOCK (128u << 10)	/* bytes of a string block: > one entry's strings */
#define SPARE_CHUNKS 4		/* dropped tail chunks kept for reuse */
#define SPARE_BLOCKS 16		/* ... and string blocks */
#define PUB_ROWS 256		/* rows extracted between two publications */
#define FEED_MAX_BYTES ((size_t)64 << 20)	/* entry bytes index_feed() keeps */
#define FEED_ALLOC ((size_t)1 << 20)	/* least allocation of a fed batch */
#define FEED_SPARES 8		/* emptied fed batches kept for reuse */
#define DROP_RETRY_MS 20	/* an idle writer retries a drop the readers held up */
#define NOSPACE_RETRY_MS 100	/* first wait of the writer after SQLITE_FULL ... */
#define NOSPACE_RETRY_MAX_MS 2000	/* ... doubling up to this */
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
 * read back and decrypt what was just written (about a fifth of its work).
 * It holds at most FEED_MAX_BYTES of entries; a batch past that is not
 * kept, and the extractor reads that stretch from the journal, as it does
 * for what was there before the server started.  Only the extractor takes
 * batches off; index_feed() adds at the end.
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

struct tchunk;

struct index {
	struct blind bl;
	char *datadir;
	char *jdir;		/* DIR/journal */
	char *dbpath;		/* DIR/index/index.sqlite */
	int lockfd;
	sqlite3 *w;		/* the writer's connection */

	pthread_mutex_t mu;
	pthread_cond_t wake;	/* extractor: notified, room in the tail, or stopping */
	pthread_cond_t wcv;	/* writer: rows published, a waiter, a pause, stopping */
	pthread_cond_t moved;	/* waiters: a watermark moved, failed, writer idle */
	pthread_t thread;	/* the writer */
	pthread_t ext_thread;	/* the extractor */
	pthread_t ckpt_thread;	/* WAL checkpoints, off the writer's path */
	pthread_cond_t ckpt_cv;
	sqlite3 *c;		/* the checkpointer's connection */
	bool ckpt_started, ckpt_due;
	bool started, stop, kicked, bounded, failed;
	bool nospace;		/* the writer waits for disk space (nospace_msg) */
	unsigned waiters;	/* threads in index_wait(), or index_wait_fresh() past the tail */
	unsigned fresh_waiters;	/* threads in index_wait_fresh(), index_wait_extracted() */
	uint64_t watermark;	/* under mu */
	uint64_t limit;		/* largest notified size, when bounded */
	char errmsg[512];
	char nospace_msg[512];

	/* The tail (see "the tail" below); under mu but where it says why not. */
	pthread_rwlock_t tail_rw;	/* queries share it; dropping rows takes it alone */
	struct tchunk *ring[TAIL_RING];	/* chunk k in slot k % TAIL_RING */
	uint64_t tail_head;	/* first row present */
	uint64_t tail_end;	/* rows below it are published: the fresh watermark */
	size_t tail_bytes;
	/* Dropped chunks and blocks kept for reuse (under mu): each is
	 * hundreds of KiB, which malloc maps afresh and the extractor then
	 * paid for in page faults, about a fifth of its time. */
	struct tchunk *spare_chunks;
	struct tblock *spare_blocks;
	size_t nspare_chunks, nspare_blocks;
	bool ext_waiting;	/* the extractor waits for room */
	struct fbatch *fhead, *ftail;	/* the feed (under mu) */
	struct fbatch *fspare;	/* emptied batches: memory already faulted in */
	size_t nfspare;
	size_t feed_bytes;
	uint64_t n_fed, n_read;	/* entries extracted from the feed, the journal */
	bool pause_writer, writing;	/* index_test_pause_writer(); a batch is open */

	pthread_mutex_t pool_mu;
	sqlite3 *pool[POOL_MAX];
	size_t npool;
	bool rows_only;		/* index_stats_rows_only() */
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

/* --------------------------------------------- blind index (index_blind.c) */

/*
 * A small cache of blind hashes for the extractor and the rebuild: most
 * values repeat (the writer of a whole batch, a user's id, a resource
 * type, the /8 and /16 of an address), and a lookup costs a fraction of an
 * HMAC.  Direct-mapped by a multiplicative hash of (field, value) taken
 * eight bytes at a time; values longer than BC_MAXV bytes are not kept.
 * A slot is one cache line.  The table (256 KiB) rarely stays in the
 * CPU's caches between two entries, so ix_trow_fill() locates the slots of
 * all of an entry's values first and has them fetched together
 * (ix_bc_slot()), then looks them up (ix_blind_at()): one wait for memory
 * instead of up to nine.  It lives in the memory of one thread, beside
 * the rows it fills, which hold the same hashes.
 */
#define BC_SLOTS 4096		/* a power of two */
#define BC_MAXV 40
enum { BC_ACTOR = 1, BC_RTYPE, BC_RID, BC_WRITER, BC_IP, BC_NET };

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

/* ------------------------------------------- column values (index_write.c) */

/* The prefix lengths kept in ipnet, in bits of the 128-bit form. */
static const uint8_t NET_V4[] = { 96 + 8, 96 + 16, 96 + 24 };
static const uint8_t NET_V6[] = { 16, 32, 48, 56, 64 };

static const uint8_t V4_MAPPED[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An ipnet row of the batch, written at ix_writer_flush(). */
struct netrow {
	sqlite3_int64 hash, idx;
	int plen;
};

/* One rollup cell being added up in memory for a batch. */
struct rcell {
	int64_t hour, n;
	uint32_t off, len;	/* the value in pool; len NO_VALUE: missing */
	uint8_t field;		/* ROLL_*; CELL_FREE: an empty slot */
};

struct writer {
	sqlite3 *db;
	sqlite3_stmt *ins, *net, *up;
	/* ipnet rows of the batch, written sorted by key at ix_writer_flush() */
	struct netrow *nets;
	size_t nnets, capnets;
	/* rollup cells of the batch (open addressing), values in pool */
	struct rcell *cells;
	size_t ncells;
	char *pool;
	size_t pool_n;
};

#define INSERT_SQL                                                                            \
	"INSERT INTO events(idx,time_us,received_us,actor,action,outcome,source_ip,ip_family,"  \
	"service,resource_type,resource_id,writer,joff) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"
#define INSERT_NET_SQL "INSERT INTO ipnet(plen,hash,idx) VALUES(?,?,?)"
#define UPSERT_ROLLUP_SQL                                                                     \
	"INSERT INTO rollup(hour,field,value,n) VALUES(?,?,?,?)"                                 \
	" ON CONFLICT(hour,field,value) DO UPDATE SET n = n + excluded.n"

/* Rollup dimensions (rollup.field), in the order of index_stats()'s groups. */
enum { ROLL_OUTCOME = 0, ROLL_ACTION = 1, ROLL_SERVICE = 2, ROLL_FIELDS = 3 };
#define HOUR_US 3600000000LL
#define NO_HOUR INT64_MIN	/* rollup.hour of events without a time */
#define NO_VALUE UINT32_MAX
#define CELL_FREE 0xff
#define RCELLS 16384		/* slots (a power of two), flushed half full */
#define RPOOL (1u << 20)	/* bytes of values kept per flush */
#define NETS_MAX (1u << 18)	/* ipnet rows kept per flush */

static inline int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline int col_text(sqlite3_stmt *st, int pos, const char *v, size_t n)
{
	if (!v)
		return sqlite3_bind_null(st, pos);
	return sqlite3_bind_text(st, pos, v, (int)n, SQLITE_STATIC);
}

/* A personal value: bound as its keyed hash (ix_trow_fill()), never as itself. */
static inline int col_blind(sqlite3_stmt *st, int pos, bool has, const uint8_t h[BLIND_LEN])
{
	if (!has)
		return sqlite3_bind_null(st, pos);
	return sqlite3_bind_blob(st, pos, h, BLIND_LEN, SQLITE_STATIC);
}

/*
 * A row as the writer inserts it and a query of the tail reads it: every
 * keyed hash computed, so that the extractor (at normal priority) does the
 * CPU work and the writer only feeds SQLite.  Strings point into the
 * extractor's arena (rebuild) or the row's tail chunk; NULL is missing.
 */
enum {
	T_TIME = 1 << 0, T_RECEIVED = 1 << 1, T_IP = 1 << 2, T_V4 = 1 << 3, T_ACTOR = 1 << 4,
	T_RTYPE = 1 << 5, T_RID = 1 << 6, T_WRITER = 1 << 7,
	T_HASH = 1 << 8,	/* hash holds SHA-256 of the entry (an anchor) */
};
#define NET_MAX 5		/* sizeof(NET_V6) */

struct trow {
	int64_t time_us, received_us;
	int64_t joff;		/* byte offset of the record in its segment, -1: unknown */
	const char *action, *outcome, *service;
	uint32_t action_n, outcome_n, service_n;
	uint32_t flags;		/* T_* */
	uint8_t actor[BLIND_LEN], rtype[BLIND_LEN], rid[BLIND_LEN], writer[BLIND_LEN];
	uint8_t ip[BLIND_LEN];	/* B("source_ip", address) */
	sqlite3_int64 net[NET_MAX];	/* ix_net_hash() per NET_V4 or NET_V6 length, in order */
	uint8_t hash[LS_HASH_LEN];
};

/* --------------------------- the tail (index_tail.c: its invariants T1-T5) */

struct tblock {
	struct tblock *next;
	size_t used;
	char data[TAIL_BLOCK];
};

struct tchunk {
	struct tblock *blocks;	/* the first one is being filled */
	size_t bytes;		/* allocated, itself included */
	struct trow rows[TAIL_CHUNK_ROWS];
};

/* Row i, present in the tail (T1-T3 say when that holds). */
static inline struct trow *tail_row(struct index *idx, uint64_t i)
{
	return &idx->ring[(i / TAIL_CHUNK_ROWS) % TAIL_RING]->rows[i % TAIL_CHUNK_ROWS];
}

/* ------------------------------------------------- queries (index_query.c) */

/* How the index answers a CIDR [lo, hi] (see the top of this file). */
enum ipq {
	IPQ_BAD,	/* a prefix length the index does not keep */
	IPQ_ANY,	/* ::/0: any address */
	IPQ_V4,		/* 0.0.0.0/0: any IPv4 address */
	IPQ_FULL,	/* /32, /128: the source_ip column */
	IPQ_NET,	/* a kept prefix: ipnet */
	IPQ_NET_OR_V4,	/* an IPv6 prefix of zeros that covers ::ffff:0:0/96 as well */
};

#define CIDR_SUPPORTED "IPv4 /0, /8, /16, /24, /32 and IPv6 /0, /16, /32, /48, /56, /64, /128"


/* -------------------------------------------------- running (index_exec.c) */

/* The WHERE clause of q with numbered parameters from *np on; binds go
 * through ix_where_bind() in the same order. */
struct sqlbuf {
	char s[1536];
	size_t n;
	bool overflow;
};

struct where {
	const struct index_query *q;
	char upper[INDEX_VALUE_MAX + 1];
	size_t upper_n;
	int first_param;
	bool walk;		/* for a scan in leaf order (else driven by an index) */
	bool join;		/* ipnet is joined (the FROM clause names it) */
	enum ipq ipq;
	unsigned ip_bits;
	sqlite3_int64 net;
	/* The keyed hashes of the filter values, bound SQLITE_STATIC. */
	uint8_t actor[BLIND_LEN], rtype[BLIND_LEN], rid[BLIND_LEN], writer[BLIND_LEN];
	uint8_t ip[BLIND_LEN];
};

/* ----------------------------------------------- shared between the pieces */

/* index.c */
ls_rc ix_db_fail(struct ls_err *err, sqlite3 *db, const char *what);
ls_rc ix_exec(sqlite3 *db, const char *sql, struct ls_err *err);
char *ix_path_join(const char *a, const char *b);
struct fbatch *ix_feed_at(struct index *idx, uint64_t next);
void ix_follower_fail(struct index *idx, ls_rc rc, const char *msg);

/* index_tail.c */
void ix_chunk_free(struct tchunk *c);
void *ix_extractor(void *arg);
void ix_spares_free(struct index *idx);
bool ix_tail_drop(struct index *idx, uint64_t wm, bool wait);
int ix_tail_put(struct index *idx, uint64_t i, const struct trow *t, size_t *grown);

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

/* index_write.c */
int64_t ix_iter_offset(const struct store_iter *it);
void ix_mask_prefix(const uint8_t ip[16], unsigned bits, uint8_t out[16]);
int ix_net_hash(const struct blind *b, EVP_MD_CTX *w, const uint8_t ip[16], unsigned bits,
		sqlite3_int64 *out);
int ix_trow_fill(const struct blind *bl, EVP_MD_CTX *w, struct bcache *bc, const struct row *r,
		 int64_t joff, struct trow *t);
ls_rc ix_write_trow(struct writer *wr, uint64_t idx, const struct trow *t,
		    struct ls_err *err);
void ix_writer_discard(struct writer *wr);
ls_rc ix_writer_flush(struct writer *wr, struct ls_err *err);
ls_rc ix_writer_init(struct writer *wr, sqlite3 *db, bool persistent, struct ls_err *err);
void ix_writer_release(struct writer *wr);

/* index_schema.c */
ls_rc ix_db_open(const char *path, bool writer, sqlite3 **out, struct ls_err *err);
ls_rc ix_db_remove(const char *dbpath, struct ls_err *err);
ls_rc ix_lock_dir(const char *indexdir, int *fd, struct ls_err *err);
ls_rc ix_meta_get(sqlite3 *db, const char *k, sqlite3_int64 *v, uint8_t *blob, size_t cap,
		  bool *found, struct ls_err *err);
ls_rc ix_meta_mark(sqlite3 *db, uint64_t wm, const uint8_t *hash, struct ls_err *err);
ls_rc ix_meta_set(sqlite3 *db, const char *k, sqlite3_int64 v, const uint8_t *blob,
		  size_t n, struct ls_err *err);
ls_rc ix_schema_check(sqlite3 *db, const uint8_t check[BLIND_LEN], bool *stale,
		      struct ls_err *err);
ls_rc ix_schema_ensure(sqlite3 *db, const uint8_t check[BLIND_LEN], struct ls_err *err);

/* index_query.c */
enum ipq ix_cidr_kind(const uint8_t lo[16], const uint8_t hi[16], unsigned *bits);
ls_rc ix_filter_hash(const struct index_query *q, uint8_t out[8]);

/* index_exec.c */
ls_rc ix_pool_get(struct index *idx, sqlite3 **db, struct ls_err *err);
void ix_pool_put(struct index *idx, sqlite3 *db);
ls_rc ix_read_begin(sqlite3 *db, uint64_t *wm, struct ls_err *err);
void ix_sb_add(struct sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ix_where_bind(struct where *w, sqlite3_stmt *st, bool use_after);
ls_rc ix_where_prepare(struct where *w, struct index *idx, struct ls_err *err);
void ix_where_sql(struct where *w, struct sqlbuf *b, bool use_after);

extern const char IX_SCHEMA_TABLES[], IX_SCHEMA_INDEXES[];

#endif /* LS_INDEX_INT_H */
