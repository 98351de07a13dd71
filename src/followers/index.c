/*
 * index.c - the query index (see index.h for the API and its invariants).
 *
 * Database DIR/index/index.sqlite (WAL, synchronous=NORMAL: it is derived
 * data, a lost tail is re-indexed from the journal):
 *
 *	meta(k TEXT PRIMARY KEY, v)	"schema" = SCHEMA_VERSION, "watermark" = W,
 *					"last_hash" = SHA-256 of entry W-1,
 *					"key_check" = B("key-check", "")
 *	events(idx INTEGER PRIMARY KEY,	one row per leaf index 0..W-1
 *	       time_us, received_us,	microseconds since the epoch, or NULL
 *	       actor, action, outcome,	actor: B("actor", actor.id); the others TEXT
 *	       source_ip, ip_family,	B("source_ip", 16-byte address), 4 or 6
 *	       service,			TEXT
 *	       resource_type,		B("resource_type", resource.type)
 *	       resource_id, writer,	B("resource_id", ...), B("writer", ...)
 *	       joff)			the record's byte offset in its journal
 *					segment (a hint for journal_reader_get)
 *	  indexes (SCHEMA_INDEXES)	time_us; (actor, idx, time_us, joff);
 *					(action, outcome, time_us, joff); source_ip;
 *					(service, time_us); resource_id
 *	ipnet(plen, hash, idx)		per address, its keyed network prefixes:
 *					hash = first 8 bytes of B("source_net",
 *					plen || masked address) as an INTEGER
 *					(WITHOUT ROWID, key (plen, hash, idx))
 *	rollup(hour, field, value, n)	events per hour of event time (floor of
 *					time_us / 3600 s; NO_HOUR without a time),
 *					field 0 outcome, 1 action, 2 service, value
 *					the TEXT as stored in events or x'' when
 *					missing, n the count (WITHOUT ROWID)
 *
 * The rollup answers index_stats() when the query has no filter but from/to
 * on whole hours and the bucket is a whole number of hours or 0 (then each
 * cell is wholly in or out of the range and in one bucket); any other query
 * counts rows.  R1: rollup holds exactly the counts of the events rows: it
 * is added to in the rows' transactions (summed per batch in memory first),
 * and the reconcile cut subtracts the cut rows' counts in its transaction.
 *
 * The blind index: B(name, v) = HMAC-SHA256(K, name || 0x00 || v), first
 * BLIND_LEN bytes, with K the index key (index_key()).  No column holds a
 * personal value in plaintext; equality filters hash the filter value the
 * same way.  Addresses are 16 bytes with IPv4 as ::ffff:a.b.c.d, and plen
 * counts bits of that 128-bit form, so IPv4 /8 /16 /24 are plen 104 112 120
 * and IPv6 /16 /32 /48 /56 /64 are plen 16..64; /32 and /128 are the
 * source_ip column; IPv4 /0 is ip_family = 4 and ::/0 any address.  No
 * other prefix length can be answered, so none is accepted (parse_cidr()).
 * Invariants of the blind part:
 *  B1. Every row of events and ipnet was written under the key whose check
 *      is in meta: index_open() throws the whole file away (not DROP TABLE,
 *      which leaves the old pages' bytes in the file) when the key or the
 *      schema version differ, and the follower indexes again from 0.
 *  B2. ipnet holds exactly the rows of the events below the watermark
 *      (written and deleted in the same transactions as theirs).
 *
 * DIR/index/lock is flock()ed by index_open() and index_rebuild() so that
 * a reindex never swaps the file under a running server.
 *
 * Threads: the extractor reads the journal into the in-memory tail of rows
 * (see "the tail" for its invariants T1-T5); the writer owns the write
 * connection and moves the tail's rows into SQLite; a checkpointer; every
 * query takes its own read connection from a small pool (WAL lets readers
 * run beside the writer and each sees one consistent snapshot) and reads
 * the tail rows above its snapshot's watermark under tail_rw.
 *
 * Cursor (INDEX_CURSOR_LEN bytes, base64url without padding):
 *	[0]	version (1)
 *	[1]	order (0 desc, 1 asc)
 *	[2..9]	last leaf index returned, big-endian
 *	[10..17] first 8 bytes of SHA-256 of the normalised filters
 *	[18..29] first 12 bytes of SHA-256(CURSOR_TAG || bytes 0..17)
 * The check bytes catch edited or truncated cursors; the filter bytes catch
 * a cursor replayed with other filters, which would silently skip or repeat
 * events.  It is not a secret MAC: forging a cursor gains nothing a client
 * could not get with a plain query.
 */
#include "followers/index.h"

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
#include "store/journal.h"
#include "store/keys.h"

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
#define TAIL_RING (TAIL_MAX_ROWS / TAIL_CHUNK_ROWS + 4)	/* chunk slots (see tail_put()) */
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

/* ============================================================ small helpers */

static ls_rc db_fail(struct ls_err *err, sqlite3 *db, const char *what)
{
	int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
	ls_rc rc = LS_IO;

	if (code == SQLITE_NOMEM)
		rc = LS_NOMEM;
	else if (code == SQLITE_FULL)
		rc = LS_NOSPACE;
	else if (code == SQLITE_IOERR && db &&
		 (sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT))
		/* Growing the -shm, or a write SQLite does not map to FULL. */
		rc = LS_NOSPACE;
	else if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		rc = LS_CORRUPT;
	else if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		rc = LS_BUSY;
	return ls_err_set(err, rc, "index: %s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

static ls_rc exec(sqlite3 *db, const char *sql, struct ls_err *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(err, db, sql);
	return LS_OK;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	ls_deadline(ts, CLOCK_MONOTONIC, ms);
}

/* ========================================================== blind index */

static void blind_free(struct blind *b)
{
	/* OpenSSL clears a SHA-256 state when it frees it. */
	EVP_MD_CTX_free(b->in);
	EVP_MD_CTX_free(b->out);
	b->in = b->out = NULL;
}

static ls_rc blind_init(struct blind *b, const uint8_t key[LS_HASH_LEN], struct ls_err *err)
{
	uint8_t ipad[64], opad[64];
	bool ok;
	int i;

	for (i = 0; i < 64; i++) {
		uint8_t k = i < LS_HASH_LEN ? key[i] : 0;

		ipad[i] = k ^ 0x36;
		opad[i] = k ^ 0x5c;
	}
	b->in = EVP_MD_CTX_new();
	b->out = EVP_MD_CTX_new();
	ok = b->in && b->out && EVP_DigestInit_ex2(b->in, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(b->in, ipad, sizeof(ipad)) == 1 &&
	     EVP_DigestInit_ex2(b->out, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(b->out, opad, sizeof(opad)) == 1;
	ls_wipe(ipad, sizeof(ipad));
	ls_wipe(opad, sizeof(opad));
	if (!ok) {
		blind_free(b);
		return ls_err_set(err, LS_NOMEM, "index: cannot set up HMAC-SHA256");
	}
	return LS_OK;
}

/* out = first BLIND_LEN bytes of HMAC-SHA256(K, name || 0x00 || v); w is
 * the caller's scratch context.  -1 on an OpenSSL failure (out of memory). */
static int blind_hash(const struct blind *b, EVP_MD_CTX *w, const char *name, const void *v,
		      size_t n, uint8_t out[BLIND_LEN])
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned len;
	bool ok;

	ok = EVP_MD_CTX_copy_ex(w, b->in) == 1 && EVP_DigestUpdate(w, name, strlen(name) + 1) == 1 &&
	     (n == 0 || EVP_DigestUpdate(w, v, n) == 1) && EVP_DigestFinal_ex(w, h, &len) == 1 &&
	     EVP_MD_CTX_copy_ex(w, b->out) == 1 && EVP_DigestUpdate(w, h, LS_HASH_LEN) == 1 &&
	     EVP_DigestFinal_ex(w, h, &len) == 1;
	memcpy(out, h, BLIND_LEN);
	return ok ? 0 : -1;
}

/*
 * A small cache of blind hashes for the extractor and the rebuild: most
 * values repeat (the writer of a whole batch, a user's id, a resource
 * type, the /8 and /16 of an address), and a lookup costs a fraction of an
 * HMAC.  Direct-mapped by a multiplicative hash of (field, value) taken
 * eight bytes at a time; values longer than BC_MAXV bytes are not kept.
 * A slot is one cache line.  The table (256 KiB) rarely stays in the
 * CPU's caches between two entries, so trow_fill() locates the slots of
 * all of an entry's values first and has them fetched together
 * (bc_slot()), then looks them up (blind_at()): one wait for memory
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

static struct bcache *bcache_new(void)
{
	struct bcache *bc = aligned_alloc(64, sizeof(struct bcache));

	if (bc)
		memset(bc, 0, sizeof(*bc));
	return bc;
}

/* The slot of (field, v[0..n)), fetched from memory in the background;
 * NULL when there is no cache or the value is too long to keep. */
static struct bslot *bc_slot(struct bcache *bc, uint8_t field, const void *v, size_t n)
{
	const uint8_t *p = v;
	uint64_t h = ((uint64_t)field << 8 | n) * 0x9e3779b97f4a7c15ULL, word;
	struct bslot *sl;
	size_t i;

	if (!bc || n > BC_MAXV)
		return NULL;
	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&word, p + i, 8);
		h = (h ^ word) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	if (i < n) {
		word = 0;
		memcpy(&word, p + i, n - i);
		h = (h ^ word) * 0xff51afd7ed558ccdULL;
	}
	h ^= h >> 29;
	sl = &bc->s[(h ^ h >> 17) & (BC_SLOTS - 1)];
	__builtin_prefetch(sl, 1);
	return sl;
}

/* The blind hash of (field, v) through slot sl of bc_slot() (NULL: none). */
static int blind_at(const struct blind *b, EVP_MD_CTX *w, struct bslot *sl, uint8_t field,
		    const char *name, const void *v, size_t n, uint8_t out[BLIND_LEN])
{
	int rc;

	if (sl && sl->field == field && sl->len == n && !memcmp(sl->v, v, n)) {
		memcpy(out, sl->out, BLIND_LEN);
		return 0;
	}
	rc = blind_hash(b, w, name, v, n, out);
	if (rc == 0 && sl) {
		sl->field = field;
		sl->len = (uint8_t)n;
		memcpy(sl->v, v, n);
		memcpy(sl->out, out, BLIND_LEN);
	}
	return rc;
}

/*
 * The secret index key K (32 bytes).  In an encrypted data directory it is
 * keys_derive(INDEX_KEY_LABEL): derived from data key 1, so it survives a
 * master key rotation, and whoever lacks the master key lacks K.  A data
 * directory without encryption (no DIR/keys/master.json) gets a random key
 * of the index's own in DIR/keys/index.key (mode 0600, made on first use,
 * refused when others may read it): the journal is plaintext there anyway,
 * but the index file alone still names no one.  Should K ever change, the
 * key check in meta no longer matches, so index_open() drops the old index
 * and the follower rebuilds it (B1).
 */
static ls_rc local_key(const char *datadir, uint8_t key[LS_HASH_LEN], struct ls_err *err);

static ls_rc index_key(const char *datadir, uint8_t key[LS_HASH_LEN], struct ls_err *err)
{
	struct keyring *kr;
	ls_rc rc = keys_get(datadir, &kr, err);

	if (rc == LS_NOTFOUND)
		return local_key(datadir, key, err);
	if (rc != LS_OK)
		return rc;
	return keys_derive(kr, INDEX_KEY_LABEL, key, err);
}

static ls_rc local_key(const char *datadir, uint8_t key[LS_HASH_LEN], struct ls_err *err)
{
	char *dir = path_join(datadir, "keys"), *path = NULL, *data = NULL;
	struct stat st;
	size_t len = 0;
	int tries;
	ls_rc rc;

	path = dir ? path_join(dir, INDEX_KEY_FILE) : NULL;
	if (!path) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = fs_mkdirs(dir, 0700, err);
	for (tries = 0; rc == LS_OK && tries < 2; tries++) {
		rc = fs_read_file(path, 64, &data, &len, err);
		if (rc != LS_NOTFOUND)
			break;
		rc = ls_random(key, LS_HASH_LEN);
		if (rc != LS_OK) {
			rc = ls_err_set(err, rc, "index: no random bytes for the index key");
			break;
		}
		rc = fs_write_file(path, key, LS_HASH_LEN, 0600, 1, err);
		ls_wipe(key, LS_HASH_LEN);
		if (rc == LS_EXISTS)
			rc = LS_OK;	/* another process made it first: read theirs */
		else if (rc != LS_OK)
			break;
	}
	if (rc != LS_OK)
		goto out;
	if (!data) {
		rc = ls_err_set(err, LS_IO, "%s: cannot be created", path);
		goto out;
	}
	if (stat(path, &st) != 0) {
		rc = ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_mode & 077) {
		rc = ls_err_set(err, LS_DENIED, "%s: readable by others (chmod 600 it)", path);
		goto out;
	}
	if (len != LS_HASH_LEN) {
		rc = ls_err_set(err, LS_CORRUPT, "%s: %zu bytes, want %d", path, len, LS_HASH_LEN);
		goto out;
	}
	memcpy(key, data, LS_HASH_LEN);
out:
	if (data) {
		ls_wipe(data, len);
		free(data);
	}
	free(path);
	free(dir);
	return rc;
}

/* The key as a blind (and its check value for meta). */
static ls_rc blind_open(const char *datadir, struct blind *b, uint8_t check[BLIND_LEN],
			struct ls_err *err)
{
	uint8_t key[LS_HASH_LEN];
	EVP_MD_CTX *w;
	ls_rc rc;

	rc = index_key(datadir, key, err);
	if (rc == LS_OK)
		rc = blind_init(b, key, err);
	ls_wipe(key, sizeof(key));
	if (rc != LS_OK)
		return rc;
	w = EVP_MD_CTX_new();
	if (!w || blind_hash(b, w, "key-check", NULL, 0, check)) {
		EVP_MD_CTX_free(w);
		blind_free(b);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	EVP_MD_CTX_free(w);
	return LS_OK;
}

/* ============================================== extracting a row from JSON */

/*
 * A small scanner instead of jansson: the follower must keep up with ingest
 * (> 100k entries/s on catch-up) and needs a dozen strings, not a tree.  It
 * accepts valid JSON exactly; on anything else it only promises to stay in
 * bounds and to terminate, and the caller then indexes the entry with every
 * field NULL.  Its tokens (white space, strings, numbers, literals) are the
 * JSON lexer's (base/jlex.h); only the walk over members is its own.
 */

struct row {
	bool has_time, has_received, has_ip;
	int64_t time_us, received_us;
	uint8_t ip[16];
	const char *actor, *action, *outcome, *service, *rtype, *rid, *writer;
	size_t actor_n, action_n, outcome_n, service_n, rtype_n, rid_n, writer_n;
};

struct scan {
	const uint8_t *p, *end;
	char *arena;		/* decoded strings, NUL-terminated */
	size_t used, cap;
};

enum scope { S_TOP, S_ACTOR, S_SOURCE, S_RESOURCE };

static void sc_ws(struct scan *s)
{
	s->p += jlex_ws((const char *)s->p, (size_t)(s->end - s->p), 0);
}

/*
 * A string at s->p (which is at '"'), read by the lexer (jlex.h) with its
 * UTF-8 unchecked (entries were checked when they were written) and \u0000
 * let through.  With out, decode into out[0..cap) and set *len; *usable = 0
 * when it held \u0000 or did not fit (it is then skipped whole and not
 * indexed).  -1 when it is not a JSON string.
 */
static int sc_string(struct scan *s, char *out, size_t cap, size_t *len, bool *usable)
{
	const char *b = (const char *)s->p;
	size_t m = (size_t)(s->end - s->p), i = 1, n = 0;
	bool ok = out != NULL;
	struct jlex_str t;
	int k;

	while ((k = jlex_str_next(b, m, &i, JLEX_RAW | JLEX_NUL, &t)) > 0) {
		const char *src = k == JLEX_RUN ? b + t.start : t.utf8;
		size_t sn = k == JLEX_RUN ? i - t.start : t.len;

		if ((k == JLEX_CHAR && t.cp == 0) || sn > cap - n)
			ok = false;
		if (ok) {
			memcpy(out + n, src, sn);
			n += sn;
		}
	}
	s->p += i;
	if (k == JLEX_ERR)
		return -1;
	if (len)
		*len = n;
	if (usable)
		*usable = ok;
	return 0;
}

/* Skip one value of any kind.  Brackets are counted, not matched: on valid
 * JSON that is exact, on anything else it still ends. */
static int sc_skip(struct scan *s)
{
	int depth = 0;

	for (;;) {
		uint8_t c;

		sc_ws(s);
		if (s->p >= s->end)
			return -1;
		c = *s->p;
		if (c == '"') {
			if (sc_string(s, NULL, 0, NULL, NULL))
				return -1;
		} else if (c == '{' || c == '[') {
			depth++;	/* no recursion: depth <= input length */
			s->p++;
			continue;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return -1;
			depth--;
			s->p++;
		} else if (c == ',' || c == ':') {
			if (depth == 0)
				return -1;
			s->p++;
			continue;
		} else {
			/* a number or a literal, by the lexer's grammar */
			size_t i = 0;
			bool real;

			if (!(jlex_number_start(c) ? jlex_number((const char *)s->p,
								  (size_t)(s->end - s->p), &i, &real)
						   : jlex_literal_any((const char *)s->p,
								      (size_t)(s->end - s->p), &i)))
				return -1;
			s->p += i;
		}
		if (depth == 0)
			return 0;
	}
}

/* A string value into the arena: *v and *vn, or left NULL when the value is
 * not a usable string (it is skipped). */
static int sc_take(struct scan *s, const char **v, size_t *vn)
{
	size_t n;
	bool ok;

	sc_ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p != '"')
		return sc_skip(s);
	if (s->cap - s->used < 1 ||
	    sc_string(s, s->arena + s->used, s->cap - s->used - 1, &n, &ok))
		return -1;
	if (!ok)
		return 0;
	s->arena[s->used + n] = '\0';
	*v = s->arena + s->used;
	*vn = n;
	s->used += n + 1;
	return 0;
}

static int sc_object(struct scan *s, enum scope scope, struct row *r, int depth);

/* A time value: into *us (and *has) when it is a string event_parse_time()
 * takes; skipped otherwise. */
static int sc_time(struct scan *s, int64_t *us, bool *has)
{
	const char *t = NULL;
	size_t tn = 0;
	int64_t v;

	if (sc_take(s, &t, &tn))
		return -1;
	/* a taken string holds no NUL (sc_string) */
	if (t && event_parse_time(t, &v) == LS_OK) {
		*us = v;
		*has = true;
	}
	return 0;
}

/* The value of key in scope: taken into r, or skipped. */
static int sc_member(struct scan *s, enum scope scope, const char *key, struct row *r, int depth)
{
	const char *t = NULL;
	size_t tn = 0;

	switch (scope) {
	case S_TOP:
		/* the first byte picks the candidate (a dozen keys per entry) */
		switch (key[0]) {
		case 't':
			if (!strcmp(key, "time"))
				return sc_time(s, &r->time_us, &r->has_time);
			break;
		case 'r':
			if (!strcmp(key, "received"))
				return sc_time(s, &r->received_us, &r->has_received);
			if (!strcmp(key, "resource"))
				return sc_object(s, S_RESOURCE, r, depth + 1);
			break;
		case 'a':
			if (!strcmp(key, "action"))
				return sc_take(s, &r->action, &r->action_n);
			if (!strcmp(key, "actor"))
				return sc_object(s, S_ACTOR, r, depth + 1);
			break;
		case 'o':
			if (!strcmp(key, "outcome"))
				return sc_take(s, &r->outcome, &r->outcome_n);
			break;
		case 's':
			if (!strcmp(key, "service"))
				return sc_take(s, &r->service, &r->service_n);
			if (!strcmp(key, "source"))
				return sc_object(s, S_SOURCE, r, depth + 1);
			break;
		case 'w':
			if (!strcmp(key, "writer"))
				return sc_take(s, &r->writer, &r->writer_n);
			break;
		}
		break;
	case S_ACTOR:
		if (!strcmp(key, "id"))
			return sc_take(s, &r->actor, &r->actor_n);
		break;
	case S_SOURCE:
		if (!strcmp(key, "ip")) {
			uint8_t a[16];

			if (sc_take(s, &t, &tn))
				return -1;
			if (!t)
				return 0;
			if (inet_pton(AF_INET, t, a) == 1) {
				memset(r->ip, 0, 10);
				r->ip[10] = r->ip[11] = 0xff;
				memcpy(r->ip + 12, a, 4);
				r->has_ip = true;
			} else if (inet_pton(AF_INET6, t, a) == 1) {
				memcpy(r->ip, a, 16);
				r->has_ip = true;
			}
			return 0;
		}
		break;
	case S_RESOURCE:
		if (!strcmp(key, "type"))
			return sc_take(s, &r->rtype, &r->rtype_n);
		if (!strcmp(key, "id"))
			return sc_take(s, &r->rid, &r->rid_n);
		break;
	}
	return sc_skip(s);
}

/* An object in scope (or any other value where an object was hoped for,
 * which is skipped). */
static int sc_object(struct scan *s, enum scope scope, struct row *r, int depth)
{
	sc_ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p != '{' || depth > 2)
		return sc_skip(s);
	s->p++;
	sc_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		char key[16];
		size_t kn;
		bool ok;

		sc_ws(s);
		if (s->p >= s->end || *s->p != '"')
			return -1;
		if (sc_string(s, key, sizeof(key) - 1, &kn, &ok))
			return -1;
		key[ok ? kn : 0] = '\0'; /* ok: no NUL inside (sc_string) */
		sc_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return -1;
		s->p++;
		if (sc_member(s, scope, key, r, depth))
			return -1;
		sc_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		if (*s->p != ',')
			return -1;
		s->p++;
	}
}

/* Fill r from one entry; arena holds at least len + 1 bytes.  Anything that
 * is not a JSON object gives a row of NULLs (invariant 4). */
static void row_extract(const uint8_t *data, size_t len, char *arena, struct row *r)
{
	struct scan s = { .p = data, .end = data + len, .arena = arena, .cap = len + 1 };

	memset(r, 0, sizeof(*r));
	sc_ws(&s);
	if (s.p >= s.end || *s.p != '{' || sc_object(&s, S_TOP, r, 0))
		goto bad;
	sc_ws(&s);
	if (s.p != s.end)
		goto bad;
	return;
bad:
	memset(r, 0, sizeof(*r));
}

json_t *index_entry_fields(const void *data, size_t len)
{
	char *arena = malloc(len + 1), hex[33];
	json_t *o;
	struct row r;
	int bad = 0;

	if (!arena)
		return NULL;
	row_extract(data, len, arena, &r);
	o = json_object();
	if (!o) {
		free(arena);
		return NULL;
	}
#define PUT(k, v, n) bad |= json_object_set_new(o, k, (v) ? json_stringn_nocheck(v, n) : json_null())
	PUT("actor", r.actor, r.actor_n);
	PUT("action", r.action, r.action_n);
	PUT("outcome", r.outcome, r.outcome_n);
	PUT("service", r.service, r.service_n);
	PUT("resource_type", r.rtype, r.rtype_n);
	PUT("resource_id", r.rid, r.rid_n);
	PUT("writer", r.writer, r.writer_n);
#undef PUT
	bad |= json_object_set_new(o, "time_us", r.has_time ? json_integer(r.time_us) : json_null());
	bad |= json_object_set_new(o, "received_us",
				   r.has_received ? json_integer(r.received_us) : json_null());
	if (r.has_ip)
		ls_hex(r.ip, 16, hex);
	bad |= json_object_set_new(o, "source_ip", r.has_ip ? json_string(hex) : json_null());
	free(arena);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ======================================================= column values */

/* The prefix lengths kept in ipnet, in bits of the 128-bit form. */
static const uint8_t NET_V4[] = { 96 + 8, 96 + 16, 96 + 24 };
static const uint8_t NET_V6[] = { 16, 32, 48, 56, 64 };

static const uint8_t V4_MAPPED[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void mask_prefix(const uint8_t ip[16], unsigned bits, uint8_t out[16])
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;

		out[i] = keep ? ip[i] & (uint8_t)(0xff << (8 - keep)) : 0;
	}
}

/*
 * The keyed hash of a network prefix: plen, then the masked address, kept
 * as a 64-bit integer (the first 8 bytes, big-endian).  Integers make the
 * ipnet key short and quick to compare, which is most of the follower's
 * cost of up to five rows per entry; two prefixes of the same length share
 * a value with probability 2^-64 per pair, which would only add the other
 * network's events to a CIDR answer.
 */
static void net_key(const uint8_t ip[16], unsigned bits, uint8_t m[17])
{
	m[0] = (uint8_t)bits;
	mask_prefix(ip, bits, m + 1);
}

static int net_hash(const struct blind *b, EVP_MD_CTX *w, const uint8_t ip[16], unsigned bits,
		    sqlite3_int64 *out)
{
	uint8_t m[17], h[BLIND_LEN];
	int rc;

	net_key(ip, bits, m);
	rc = blind_hash(b, w, "source_net", m, sizeof(m), h);
	*out = (sqlite3_int64)get_be64(h);
	return rc;
}

/* An ipnet row of the batch, written at writer_flush(). */
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
	/* ipnet rows of the batch, written sorted by key at writer_flush() */
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

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int col_text(sqlite3_stmt *st, int pos, const char *v, size_t n)
{
	if (!v)
		return sqlite3_bind_null(st, pos);
	return sqlite3_bind_text(st, pos, v, (int)n, SQLITE_STATIC);
}

/* A personal value: bound as its keyed hash (trow_fill()), never as itself. */
static int col_blind(sqlite3_stmt *st, int pos, bool has, const uint8_t h[BLIND_LEN])
{
	if (!has)
		return sqlite3_bind_null(st, pos);
	return sqlite3_bind_blob(st, pos, h, BLIND_LEN, SQLITE_STATIC);
}

static ls_rc writer_init(struct writer *wr, sqlite3 *db, bool persistent, struct ls_err *err)
{
	unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;

	memset(wr, 0, sizeof(*wr));
	wr->db = db;
	wr->cells = malloc(RCELLS * sizeof(*wr->cells));
	wr->pool = malloc(RPOOL);
	if (!wr->cells || !wr->pool)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	memset(wr->cells, CELL_FREE, RCELLS * sizeof(*wr->cells));
	if (sqlite3_prepare_v3(db, INSERT_SQL, -1, flags, &wr->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, INSERT_NET_SQL, -1, flags, &wr->net, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, UPSERT_ROLLUP_SQL, -1, flags, &wr->up, NULL) != SQLITE_OK)
		return db_fail(err, db, "prepare");
	return LS_OK;
}

static void writer_release(struct writer *wr)
{
	sqlite3_finalize(wr->ins);
	sqlite3_finalize(wr->net);
	sqlite3_finalize(wr->up);
	free(wr->nets);
	free(wr->cells);
	free(wr->pool);
	memset(wr, 0, sizeof(*wr));
}

/* Forget what the batch buffered (its transaction was rolled back). */
static void writer_discard(struct writer *wr)
{
	wr->nnets = 0;
	if (wr->cells && wr->ncells)
		memset(wr->cells, CELL_FREE, RCELLS * sizeof(*wr->cells));
	wr->ncells = 0;
	wr->pool_n = 0;
}

static int up_step(struct writer *wr, int64_t hour, int field, const char *v, size_t n,
		   int64_t count)
{
	sqlite3_stmt *st = wr->up;
	int rc = 0;

	sqlite3_reset(st);
	rc |= sqlite3_bind_int64(st, 1, hour);
	rc |= sqlite3_bind_int(st, 2, field);
	/* A missing value is the empty blob: NULL would never conflict. */
	rc |= v ? sqlite3_bind_text(st, 3, v, (int)n, SQLITE_STATIC)
		: sqlite3_bind_zeroblob(st, 3, 0);
	rc |= sqlite3_bind_int64(st, 4, count);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		return -1;
	return 0;
}

static int rollup_flush(struct writer *wr)
{
	size_t i;

	for (i = 0; i < RCELLS && wr->ncells; i++) {
		struct rcell *c = &wr->cells[i];

		if (c->field == CELL_FREE)
			continue;
		if (up_step(wr, c->hour, c->field, c->len == NO_VALUE ? NULL : wr->pool + c->off,
			    c->len == NO_VALUE ? 0 : c->len, c->n))
			return -1;
		c->field = CELL_FREE;
		wr->ncells--;
	}
	wr->ncells = 0;
	wr->pool_n = 0;
	return 0;
}

/* Count one event under (hour, field, value) in the batch's cells. */
static int rollup_add(struct writer *wr, int64_t hour, int field, const char *v, size_t n)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)hour ^ ((uint64_t)field << 56);
	uint32_t len = v ? (uint32_t)n : NO_VALUE;
	size_t i;

	if (v && n > RPOOL / 4)	/* a huge value: straight to the table */
		return up_step(wr, hour, field, v, n, 1);
	if (wr->ncells >= RCELLS / 2 || (v && wr->pool_n + n > RPOOL))
		if (rollup_flush(wr))
			return -1;
	for (i = 0; v && i < n; i++)
		h = (h ^ (uint8_t)v[i]) * 1099511628211ULL;
	h ^= h >> 29;
	for (i = (size_t)h & (RCELLS - 1);; i = (i + 1) & (RCELLS - 1)) {
		struct rcell *c = &wr->cells[i];

		if (c->field == CELL_FREE) {
			c->hour = hour;
			c->field = (uint8_t)field;
			c->len = len;
			c->off = (uint32_t)wr->pool_n;
			c->n = 1;
			if (v) {
				memcpy(wr->pool + wr->pool_n, v, n);
				wr->pool_n += n;
			}
			wr->ncells++;
			return 0;
		}
		if (c->hour == hour && c->field == field && c->len == len &&
		    (!v || !memcmp(wr->pool + c->off, v, n))) {
			c->n++;
			return 0;
		}
	}
}

static int net_cmp(const void *a, const void *b)
{
	const struct netrow *x = a, *y = b;

	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Write what the batch buffered, in its transaction.  ipnet rows go in key
 * order: their keys are random, and inserting them sorted keeps SQLite's
 * descent on the same few pages instead of all over the tree (most of the
 * follower's time went there).
 */
static ls_rc writer_flush(struct writer *wr, struct ls_err *err)
{
	size_t i;

	if (wr->nnets) /* nets is NULL until the first address */
		qsort(wr->nets, wr->nnets, sizeof(*wr->nets), net_cmp);
	for (i = 0; i < wr->nnets; i++) {
		sqlite3_stmt *st = wr->net;

		sqlite3_reset(st);
		if (sqlite3_bind_int(st, 1, wr->nets[i].plen) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, wr->nets[i].hash) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 3, wr->nets[i].idx) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			return db_fail(err, wr->db, "insert");
	}
	wr->nnets = 0;
	if (rollup_flush(wr))
		return db_fail(err, wr->db, "rollup");
	return LS_OK;
}

/* Where the record the iterator returned last starts in its segment. */
static int64_t iter_offset(const struct journal_iter *it)
{
	const char *seg;
	uint64_t off;

	journal_iter_where(it, &seg, &off);
	return off <= INT64_MAX ? (int64_t)off : -1;
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
	sqlite3_int64 net[NET_MAX];	/* net_hash() per NET_V4 or NET_V6 length, in order */
	uint8_t hash[LS_HASH_LEN];
};

/* Fill t from r (strings shared with r).  -1 when OpenSSL fails (OOM). */
static int trow_fill(const struct blind *bl, EVP_MD_CTX *w, struct bcache *bc, const struct row *r,
		     int64_t joff, struct trow *t)
{
	int bad = 0;
	size_t i;

	memset(t, 0, offsetof(struct trow, hash));
	t->joff = joff;
	if (r->has_time) {
		t->flags |= T_TIME;
		t->time_us = r->time_us;
	}
	if (r->has_received) {
		t->flags |= T_RECEIVED;
		t->received_us = r->received_us;
	}
	/* Entries are at most JOURNAL_MAX_ENTRY bytes: the lengths fit. */
	t->action = r->action;
	t->action_n = (uint32_t)r->action_n;
	t->outcome = r->outcome;
	t->outcome_n = (uint32_t)r->outcome_n;
	t->service = r->service;
	t->service_n = (uint32_t)r->service_n;
	{
		/* Each value's slot first, all fetched at once; then the
		 * lookups (see struct bcache). */
		struct bkey {
			uint8_t field;
			const char *name;
			const void *v;
			size_t n;
			uint8_t *out;
			struct bslot *sl;
		} k[4 + 1 + NET_MAX];
		uint8_t nets[NET_MAX][17], nh[NET_MAX][BLIND_LEN];
		size_t nk = 0, nn = 0;

#define KEY(val, len, f, nm, flag, o)                                                          \
	do {                                                                                   \
		if (val) {                                                                     \
			t->flags |= (flag);                                                    \
			k[nk++] = (struct bkey){ (f), (nm), (val), (len), (o), NULL };         \
		}                                                                              \
	} while (0)
		KEY(r->actor, r->actor_n, BC_ACTOR, "actor", T_ACTOR, t->actor);
		KEY(r->rtype, r->rtype_n, BC_RTYPE, "resource_type", T_RTYPE, t->rtype);
		KEY(r->rid, r->rid_n, BC_RID, "resource_id", T_RID, t->rid);
		KEY(r->writer, r->writer_n, BC_WRITER, "writer", T_WRITER, t->writer);
#undef KEY
		if (r->has_ip) {
			bool v4 = !memcmp(r->ip, V4_MAPPED, sizeof(V4_MAPPED));
			const uint8_t *lens = v4 ? NET_V4 : NET_V6;

			nn = v4 ? sizeof(NET_V4) : sizeof(NET_V6);
			t->flags |= T_IP | (v4 ? T_V4 : 0);
			k[nk++] = (struct bkey){ BC_IP, "source_ip", r->ip, 16, t->ip, NULL };
			for (i = 0; i < nn; i++) {
				net_key(r->ip, lens[i], nets[i]);
				k[nk++] = (struct bkey){ BC_NET, "source_net", nets[i],
							 sizeof(nets[i]), nh[i], NULL };
			}
		}
		for (i = 0; i < nk; i++)
			k[i].sl = bc_slot(bc, k[i].field, k[i].v, k[i].n);
		for (i = 0; i < nk; i++)
			bad |= blind_at(bl, w, k[i].sl, k[i].field, k[i].name, k[i].v, k[i].n,
					k[i].out);
		for (i = 0; i < nn; i++)
			t->net[i] = (sqlite3_int64)get_be64(nh[i]);
	}
	return bad ? -1 : 0;
}

/* Insert row idx as t says, in the open transaction (ipnet and rollup
 * buffered until writer_flush()). */
static ls_rc write_trow(struct writer *wr, uint64_t idx, const struct trow *t,
			struct ls_err *err)
{
	sqlite3_stmt *st = wr->ins;
	bool v4 = t->flags & T_V4;
	int64_t hour;
	int rc = 0;
	size_t i, nn;

	sqlite3_reset(st);
	rc |= sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
	rc |= t->flags & T_TIME ? sqlite3_bind_int64(st, 2, t->time_us) : sqlite3_bind_null(st, 2);
	rc |= t->flags & T_RECEIVED ? sqlite3_bind_int64(st, 3, t->received_us)
				    : sqlite3_bind_null(st, 3);
	rc |= col_blind(st, 4, t->flags & T_ACTOR, t->actor);
	rc |= col_text(st, 5, t->action, t->action_n);
	rc |= col_text(st, 6, t->outcome, t->outcome_n);
	rc |= col_blind(st, 7, t->flags & T_IP, t->ip);
	rc |= t->flags & T_IP ? sqlite3_bind_int(st, 8, v4 ? 4 : 6) : sqlite3_bind_null(st, 8);
	rc |= col_text(st, 9, t->service, t->service_n);
	rc |= col_blind(st, 10, t->flags & T_RTYPE, t->rtype);
	rc |= col_blind(st, 11, t->flags & T_RID, t->rid);
	rc |= col_blind(st, 12, t->flags & T_WRITER, t->writer);
	rc |= t->joff >= 0 ? sqlite3_bind_int64(st, 13, t->joff) : sqlite3_bind_null(st, 13);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		return db_fail(err, wr->db, "insert");
	hour = t->flags & T_TIME ? floor_div(t->time_us, HOUR_US) : NO_HOUR;
	if (rollup_add(wr, hour, ROLL_OUTCOME, t->outcome, t->outcome_n) ||
	    rollup_add(wr, hour, ROLL_ACTION, t->action, t->action_n) ||
	    rollup_add(wr, hour, ROLL_SERVICE, t->service, t->service_n))
		return db_fail(err, wr->db, "rollup");
	if (!(t->flags & T_IP))
		return LS_OK;
	nn = v4 ? sizeof(NET_V4) : sizeof(NET_V6);
	if (wr->nnets + nn > NETS_MAX) {
		ls_rc frc = writer_flush(wr, err);

		if (frc != LS_OK)
			return frc;
	}
	if (wr->nnets + nn > wr->capnets) {
		size_t nc = wr->capnets ? wr->capnets * 2 : 4096;
		struct netrow *p = realloc(wr->nets, nc * sizeof(*p));

		if (!p)
			return ls_err_set(err, LS_NOMEM, "out of memory");
		wr->nets = p;
		wr->capnets = nc;
	}
	for (i = 0; i < nn; i++) {
		struct netrow *nr = &wr->nets[wr->nnets++];

		nr->hash = t->net[i];
		nr->plen = v4 ? NET_V4[i] : NET_V6[i];
		nr->idx = (sqlite3_int64)idx;
	}
	return LS_OK;
}

/* ============================================================== schema */

static const char SCHEMA_TABLES[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);"
	"CREATE TABLE IF NOT EXISTS events(idx INTEGER PRIMARY KEY, time_us INTEGER,"
	" received_us INTEGER, actor BLOB, action TEXT, outcome TEXT, source_ip BLOB,"
	" ip_family INTEGER, service TEXT, resource_type BLOB, resource_id BLOB, writer BLOB,"
	" joff INTEGER);"
	"CREATE TABLE IF NOT EXISTS ipnet(plen INTEGER NOT NULL, hash INTEGER NOT NULL,"
	" idx INTEGER NOT NULL, PRIMARY KEY(plen, hash, idx)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS rollup(hour INTEGER NOT NULL, field INTEGER NOT NULL,"
	" value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(hour, field, value)) WITHOUT ROWID;";

/* Few indexes: each one costs the follower about as much as the row.
 * Low-cardinality columns (outcome, writer, resource_type) have none: a
 * scan in leaf order with the filter applied finds a page of them fast,
 * and combined with a selective filter the other index does the work.
 * received_us has none either: the server stamps it at ingest, so it
 * follows leaf order closely and a recent range is found by that scan.
 * ev_actor is ordered by leaf index within an actor (time_us rides along
 * for the range test), so a page of one actor's events stops at its limit
 * instead of sorting all of a busy actor's events; ev_action carries the
 * outcome, so "denied X in one day" is a single range.  Both carry joff
 * too: their queries then never visit the table (at 10M rows, a page of
 * 100 table lookups cost ten times the index range). */
static const char SCHEMA_INDEXES[] =
	"CREATE INDEX IF NOT EXISTS ev_time ON events(time_us);"
	"CREATE INDEX IF NOT EXISTS ev_actor ON events(actor, idx, time_us, joff);"
	"CREATE INDEX IF NOT EXISTS ev_action ON events(action, outcome, time_us, joff);"
	"CREATE INDEX IF NOT EXISTS ev_source_ip ON events(source_ip);"
	"CREATE INDEX IF NOT EXISTS ev_service ON events(service, time_us);"
	"CREATE INDEX IF NOT EXISTS ev_resource ON events(resource_id);";

static ls_rc meta_get(sqlite3 *db, const char *k, sqlite3_int64 *v, uint8_t *blob, size_t cap,
		      bool *found, struct ls_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*found = false;
	if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &st, NULL) != SQLITE_OK)
		return db_fail(err, db, "reading meta");
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (v && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
			*v = sqlite3_column_int64(st, 0);
			*found = true;
		} else if (blob && sqlite3_column_type(st, 0) == SQLITE_BLOB &&
			   (size_t)sqlite3_column_bytes(st, 0) == cap) {
			memcpy(blob, sqlite3_column_blob(st, 0), cap);
			*found = true;
		}
	} else if (rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return db_fail(err, db, "reading meta");
	}
	sqlite3_finalize(st);
	return LS_OK;
}

static ls_rc meta_set(sqlite3 *db, const char *k, sqlite3_int64 v, const uint8_t *blob,
		      size_t n, struct ls_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k,v) VALUES(?,?)", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(err, db, "writing meta");
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (blob)
		sqlite3_bind_blob(st, 2, blob, (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, v);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(err, db, "writing meta");
	return LS_OK;
}

/* Watermark and last_hash, in the caller's transaction. */
static ls_rc meta_mark(sqlite3 *db, uint64_t wm, const uint8_t *hash, struct ls_err *err)
{
	ls_rc rc = meta_set(db, "watermark", (sqlite3_int64)wm, NULL, 0, err);

	if (rc == LS_OK && hash)
		rc = meta_set(db, "last_hash", 0, hash, LS_HASH_LEN, err);
	return rc;
}

/* A connection with our settings.  Readers get query_only (not
 * SQLITE_OPEN_READONLY, which cannot always attach to the -shm). */
static ls_rc db_open(const char *path, bool writer, sqlite3 **out, struct ls_err *err)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
	ls_rc rc;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		rc = db_fail(err, db, "open");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = exec(db, writer ? "PRAGMA page_size=16384;"
			       "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=67108864;"
			       "PRAGMA cache_size=-262144; PRAGMA mmap_size=1073741824;"
			     : "PRAGMA query_only=1; PRAGMA cache_size=-16384;"
			     "PRAGMA mmap_size=1073741824;",
		  err);
	if (rc != LS_OK) {
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return LS_OK;
}

/* Does the database at db hold an index of this schema under this key?
 * *stale when it holds anything else (then it must go whole, B1). */
static ls_rc schema_check(sqlite3 *db, const uint8_t check[BLIND_LEN], bool *stale,
			  struct ls_err *err)
{
	uint8_t stored[BLIND_LEN];
	sqlite3_int64 v = 0;
	bool found, kfound;
	sqlite3_stmt *st;
	int n = 0;
	ls_rc rc;

	*stale = false;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(err, db, "reading the schema");
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n == 0)
		return LS_OK;	/* a new, empty file */
	rc = exec(db, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);", err);
	if (rc == LS_OK)
		rc = meta_get(db, "schema", &v, NULL, 0, &found, err);
	if (rc == LS_OK)
		rc = meta_get(db, "key_check", NULL, stored, sizeof(stored), &kfound, err);
	if (rc != LS_OK)
		return rc;
	*stale = !found || v != SCHEMA_VERSION || !kfound ||
		 !ls_ct_equal(stored, check, BLIND_LEN);
	return LS_OK;
}

/* Create the schema (on a new file, or one schema_check() found current). */
static ls_rc schema_ensure(sqlite3 *db, const uint8_t check[BLIND_LEN], struct ls_err *err)
{
	sqlite3_int64 v = 0;
	bool found;
	ls_rc rc;

	rc = exec(db, SCHEMA_TABLES, err);
	if (rc == LS_OK)
		rc = meta_get(db, "schema", &v, NULL, 0, &found, err);
	if (rc == LS_OK && !found) {
		rc = meta_set(db, "schema", SCHEMA_VERSION, NULL, 0, err);
		if (rc == LS_OK)
			rc = meta_set(db, "key_check", 0, check, BLIND_LEN, err);
	}
	if (rc != LS_OK)
		return rc;
	return exec(db, SCHEMA_INDEXES, err);
}

/* Remove the database and its side files (the caller holds the lock and
 * has no connection open). */
static ls_rc db_remove(const char *dbpath, struct ls_err *err)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[4096];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]) >= sizeof(p))
			return ls_err_set(err, LS_LIMIT, "index: path too long");
		if (unlink(p) != 0 && errno != ENOENT)
			return ls_err_set(err, LS_IO, "%s: %s", p, strerror(errno));
	}
	return LS_OK;
}

static ls_rc lock_dir(const char *indexdir, int *fd, struct ls_err *err)
{
	char *p = path_join(indexdir, "lock");

	*fd = -1;
	if (!p)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	*fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(p);
	if (*fd < 0)
		return ls_err_set(err, LS_IO, "%s/lock: %s", indexdir, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return ls_err_set(err, LS_BUSY,
					  "%s is in use by another process (a running server?)",
					  indexdir);
		return ls_err_set(err, LS_IO, "%s/lock: %s", indexdir, strerror(e));
	}
	return LS_OK;
}

/* ============================================================= lifecycle */

ls_rc index_open(const char *datadir, struct index **out, struct ls_err *err)
{
	struct index *idx;
	pthread_condattr_t ca;
	char *indexdir = NULL;
	uint8_t check[BLIND_LEN];
	sqlite3_int64 wm = 0;
	bool found, stale = false;
	ls_rc rc;

	*out = NULL;
	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	idx->lockfd = -1;
	pthread_mutex_init(&idx->mu, NULL);
	pthread_mutex_init(&idx->pool_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&idx->wake, &ca);
	pthread_cond_init(&idx->wcv, &ca);
	pthread_cond_init(&idx->moved, &ca);
	pthread_cond_init(&idx->ckpt_cv, &ca);
	pthread_condattr_destroy(&ca);
	{
		/* A writer waiting to drop rows goes before new queries: the
		 * extractor may be waiting for that room. */
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&idx->tail_rw, &ra);
		pthread_rwlockattr_destroy(&ra);
	}

	idx->datadir = strdup(datadir);
	idx->jdir = path_join(datadir, "journal");
	indexdir = path_join(datadir, "index");
	idx->dbpath = indexdir ? path_join(indexdir, "index.sqlite") : NULL;
	if (!idx->datadir || !idx->jdir || !indexdir || !idx->dbpath) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	rc = fs_mkdirs(indexdir, 0700, err);
	if (rc == LS_OK)
		rc = lock_dir(indexdir, &idx->lockfd, err);
	if (rc == LS_OK)
		rc = blind_open(datadir, &idx->bl, check, err);
	if (rc == LS_OK)
		rc = db_open(idx->dbpath, true, &idx->w, err);
	if (rc == LS_OK)
		rc = schema_check(idx->w, check, &stale, err);
	if (rc == LS_OK && stale) {
		/* Another schema or another key: derived data, made again (B1). */
		sqlite3_close(idx->w);
		idx->w = NULL;
		rc = db_remove(idx->dbpath, err);
		if (rc == LS_OK)
			rc = fs_sync_dir(indexdir, err);
		if (rc == LS_OK)
			rc = db_open(idx->dbpath, true, &idx->w, err);
	}
	if (rc == LS_OK)
		rc = schema_ensure(idx->w, check, err);
	if (rc == LS_OK)
		rc = meta_get(idx->w, "watermark", &wm, NULL, 0, &found, err);
	if (rc != LS_OK)
		goto fail;
	idx->watermark = found && wm > 0 ? (uint64_t)wm : 0;
	idx->tail_head = idx->tail_end = idx->watermark;
	free(indexdir);
	*out = idx;
	return LS_OK;
fail:
	free(indexdir);
	index_close(idx);
	return rc;
}

/* 1 when record k is in the journal, 0 when not, <0 (rc in *why) on error. */
static int journal_has(const char *jdir, uint64_t k, uint8_t hash[LS_HASH_LEN], ls_rc *why,
		       struct ls_err *err)
{
	struct journal_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t at;
	ls_rc rc;

	rc = journal_iter_open(jdir, k, &it, err);
	if (rc == LS_NOTFOUND)
		return 0;
	if (rc != LS_OK) {
		*why = rc;
		return -1;
	}
	rc = journal_iter_next(it, &data, &len, &at, err);
	if (rc == LS_OK && hash)
		ls_sha256(data, len, NULL, 0, hash);
	journal_iter_free(it);
	if (rc == LS_NOTFOUND)
		return 0;
	if (rc != LS_OK) {
		*why = rc;
		return -1;
	}
	return 1;
}

/*
 * The rollup counts of the events at or above ?1 taken away (?2 NO_HOUR),
 * computed as write_trow() adds them: hour rounded down, a missing value as
 * the empty blob.  Cells left at 0 are then deleted, so the rollup stays
 * exactly the one the kept rows would have built.
 */
#define ROLLUP_HOUR                                                                           \
	"CASE WHEN time_us IS NULL THEN ?2 ELSE (time_us - (((time_us % 3600000000) + "       \
	"3600000000) % 3600000000)) / 3600000000 END"
#define ROLLUP_SUB_ONE(field, col)                                                            \
	"SELECT " ROLLUP_HOUR ", " field ", coalesce(" col ", x''), -count(*) FROM events"   \
	" WHERE idx >= ?1 GROUP BY 1, 3"
#define ROLLUP_SUB_SQL                                                                        \
	"INSERT INTO rollup(hour,field,value,n) " ROLLUP_SUB_ONE("0", "outcome")               \
	" UNION ALL " ROLLUP_SUB_ONE("1", "action") " UNION ALL "                            \
	ROLLUP_SUB_ONE("2", "service") " ON CONFLICT(hour,field,value) DO UPDATE SET n = n + excluded.n"

/* Invariant 3: make the stored rows a prefix of the journal. */
static ls_rc reconcile(struct index *idx, struct ls_err *err)
{
	uint8_t stored[LS_HASH_LEN], now[LS_HASH_LEN];
	uint64_t wm = idx->watermark, lo, step, n;
	bool found;
	ls_rc rc, why = LS_OK;
	int has;

	if (wm == 0)
		return LS_OK;
	rc = meta_get(idx->w, "last_hash", NULL, stored, sizeof(stored), &found, err);
	if (rc != LS_OK)
		return rc;
	has = journal_has(idx->jdir, wm - 1, now, &why, err);
	if (has < 0)
		return why;
	if (has) {
		if (!found || ls_ct_equal(stored, now, LS_HASH_LEN))
			return LS_OK;
		n = 0;	/* not the journal we indexed: start over */
	} else {
		/* The journal is shorter: a torn tail was cut at recovery.
		 * Walk back in growing steps to a record that exists, then
		 * count forward to the end. */
		lo = wm - 1;
		step = 1;
		has = 0;
		while (lo > 0 && !has) {
			lo = lo > step ? lo - step : 0;
			step *= 2;
			has = journal_has(idx->jdir, lo, NULL, &why, err);
			if (has < 0)
				return why;
		}
		n = 0;
		if (has || journal_has(idx->jdir, 0, NULL, &why, err) > 0) {
			struct journal_iter *it;
			const uint8_t *data;
			size_t len;
			uint64_t at;

			rc = journal_iter_open(idx->jdir, lo, &it, err);
			if (rc != LS_OK)
				return rc;
			n = lo;
			while ((rc = journal_iter_next(it, &data, &len, &at, err)) == LS_OK && at < wm) {
				ls_sha256(data, len, NULL, 0, now);
				n = at + 1;
			}
			journal_iter_free(it);
			if (rc != LS_OK && rc != LS_NOTFOUND)
				return rc;
		} else if (why != LS_OK) {
			return why;
		}
	}
	rc = exec(idx->w, "BEGIN IMMEDIATE", err);
	if (rc != LS_OK)
		return rc;
	{
		/* ipnet has no index on idx: the delete scans it, which only
		 * happens at start after a torn tail or a swapped journal. */
		static const char *const del[] = { ROLLUP_SUB_SQL, "DELETE FROM rollup WHERE n = 0",
						   "DELETE FROM events WHERE idx >= ?",
						   "DELETE FROM ipnet WHERE idx >= ?" };
		sqlite3_stmt *st;
		size_t k;

		for (k = 0; k < 4 && rc == LS_OK; k++) {
			if (sqlite3_prepare_v2(idx->w, del[k], -1, &st, NULL) != SQLITE_OK) {
				rc = db_fail(err, idx->w, "reconcile");
				break;
			}
			if (k == 0)
				sqlite3_bind_int64(st, 2, NO_HOUR);
			if (k != 1)
				sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = db_fail(err, idx->w, "reconcile");
			sqlite3_finalize(st);
		}
	}
	if (rc == LS_OK)
		rc = meta_mark(idx->w, n, n ? now : NULL, err);
	if (rc == LS_OK && n == 0)
		rc = exec(idx->w, "DELETE FROM meta WHERE k='last_hash'", err);
	if (rc == LS_OK)
		rc = exec(idx->w, "COMMIT", err);
	if (rc != LS_OK) {
		sqlite3_exec(idx->w, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	pthread_mutex_lock(&idx->mu);
	idx->watermark = n;
	idx->tail_head = idx->tail_end = n;
	pthread_mutex_unlock(&idx->mu);
	return LS_OK;
}

static void follower_fail(struct index *idx, ls_rc rc, const char *msg)
{
	pthread_mutex_lock(&idx->mu);
	if (!idx->failed) {
		idx->failed = true;
		snprintf(idx->errmsg, sizeof(idx->errmsg), "%s: %s", ls_rc_name(rc), msg);
	}
	pthread_cond_broadcast(&idx->moved);
	pthread_cond_broadcast(&idx->wake);
	pthread_cond_broadcast(&idx->wcv);
	pthread_mutex_unlock(&idx->mu);
}

/* ============================================================== the tail */

/*
 * The follower is two threads.  The extractor (normal priority) reads the
 * journal up to the notified bound, computes each entry's row (struct
 * trow: keyed hashes and all) and appends it to the tail, in memory.  The
 * writer (nice 10) inserts the tail's rows into SQLite in batches, commits,
 * and then drops what it committed.  Queries read SQLite below its
 * watermark W and the tail from W to the tail's end, so an entry is found
 * as soon as it is extracted, however far SQLite lags.
 *
 * Layout: chunk k holds rows k * TAIL_CHUNK_ROWS .. + TAIL_CHUNK_ROWS - 1
 * and lives in ring[k % TAIL_RING]; its strings are in blocks it owns, so
 * a row never moves and is freed with its chunk (no malloc per row).
 * Rows present: [tail_head, tail_end) plus the extractor's unpublished ones.
 *
 * Invariants of the tail:
 *  T1. A row below tail_end is never written again until it is freed;
 *      the extractor fills rows at and above tail_end and publishes them by
 *      moving tail_end under mu, so whoever read tail_end under mu may read
 *      every row below it without a lock.
 *  T2. tail_head <= W <= tail_end, W being SQLite's committed watermark:
 *      the writer only inserts published rows, and only frees chunks whose
 *      rows are all below a watermark it has committed.
 *  T3. Every row and chunk slot a query reads stays put until it is done.
 *      A query takes tail_rw shared before its read transaction starts and
 *      keeps it until its tail scan ends; the writer commits first, then
 *      takes tail_rw exclusively to free chunks below that commit.  So the
 *      query's snapshot W is at least every watermark a drop has used
 *      before it (the drop's commit precedes the query's snapshot), hence
 *      tail_head <= W throughout, and the rows [W, tail_end) it reads are
 *      all present: the query's results are SQLite's below W and the
 *      tail's from W, each entry exactly once (invariant 5 then holds with
 *      the tail's end as the watermark).
 *  T4. The last row of every publication is an anchor (T_HASH: the hash
 *      of its entry); a writer's batch ends on an anchor, so last_hash is
 *      always that of entry W-1 (invariant 3).  Publications hold at most
 *      PUB_ROWS rows, so a batch of BATCH_ROWS always finds one.
 *  T5. The tail holds at most TAIL_MAX_ROWS rows or about TAIL_MAX_BYTES;
 *      then the extractor waits for the writer (and freshness degrades to
 *      SQLite's pace, as before the tail).  Live chunks then span fewer
 *      than TAIL_RING slots, so two never share one.
 */
_Static_assert(BATCH_ROWS >= 2 * PUB_ROWS, "a batch must reach an anchor");
_Static_assert(sizeof(NET_V6) == NET_MAX && sizeof(NET_V4) <= NET_MAX, "NET_MAX");
_Static_assert((TAIL_CHUNK_ROWS & (TAIL_CHUNK_ROWS - 1)) == 0, "a power of two");

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
static struct trow *tail_row(struct index *idx, uint64_t i)
{
	return &idx->ring[(i / TAIL_CHUNK_ROWS) % TAIL_RING]->rows[i % TAIL_CHUNK_ROWS];
}

static void chunk_free(struct tchunk *c)
{
	while (c && c->blocks) {
		struct tblock *b = c->blocks;

		c->blocks = b->next;
		free(b);
	}
	free(c);
}

/* Give c's memory back: to the spares while there is room, else free. */
static void chunk_recycle(struct index *idx, struct tchunk *c)
{
	struct tblock *drop = NULL;

	pthread_mutex_lock(&idx->mu);
	while (c->blocks) {
		struct tblock *b = c->blocks;

		c->blocks = b->next;
		if (idx->nspare_blocks < SPARE_BLOCKS) {
			b->next = idx->spare_blocks;
			idx->spare_blocks = b;
			idx->nspare_blocks++;
		} else {
			b->next = drop;
			drop = b;
		}
	}
	if (idx->nspare_chunks < SPARE_CHUNKS) {
		c->blocks = (struct tblock *)idx->spare_chunks; /* the spare list's link */
		idx->spare_chunks = c;
		idx->nspare_chunks++;
		c = NULL;
	}
	pthread_mutex_unlock(&idx->mu);
	while (drop) {
		struct tblock *b = drop;

		drop = b->next;
		free(b);
	}
	free(c);
}

static struct tchunk *chunk_get(struct index *idx)
{
	struct tchunk *c;

	pthread_mutex_lock(&idx->mu);
	c = idx->spare_chunks;
	if (c) {
		idx->spare_chunks = (struct tchunk *)c->blocks;
		idx->nspare_chunks--;
	}
	pthread_mutex_unlock(&idx->mu);
	return c ? c : malloc(sizeof(*c));
}

static struct tblock *block_get(struct index *idx)
{
	struct tblock *b;

	pthread_mutex_lock(&idx->mu);
	b = idx->spare_blocks;
	if (b) {
		idx->spare_blocks = b->next;
		idx->nspare_blocks--;
	}
	pthread_mutex_unlock(&idx->mu);
	return b ? b : malloc(sizeof(*b));
}

static void spares_free(struct index *idx)
{
	while (idx->spare_chunks) {
		struct tchunk *c = idx->spare_chunks;

		idx->spare_chunks = (struct tchunk *)c->blocks;
		free(c);
	}
	while (idx->spare_blocks) {
		struct tblock *b = idx->spare_blocks;

		idx->spare_blocks = b->next;
		free(b);
	}
	idx->nspare_chunks = idx->nspare_blocks = 0;
}

static const char *block_copy(struct tblock *b, const char *s, uint32_t n)
{
	char *d;

	if (!s)
		return NULL;
	if (n == 0)
		return "";
	d = b->data + b->used;
	memcpy(d, s, n);
	b->used += n;
	return d;
}

/*
 * Put t as row i (unpublished) with its strings copied into i's chunk,
 * which is made when i is its first row to come.  *grown += the bytes
 * allocated.  Only the extractor calls it; the slot it fills is no other
 * live chunk's (T5) and nobody reads it before tail_end passes i (T1).
 */
static int tail_put(struct index *idx, uint64_t i, const struct trow *t, size_t *grown)
{
	struct tchunk **slot = &idx->ring[(i / TAIL_CHUNK_ROWS) % TAIL_RING], *c = *slot;
	size_t need = (t->action ? t->action_n : 0) + (t->outcome ? t->outcome_n : 0) +
		      (t->service ? t->service_n : 0);
	struct trow *d;

	if (!c) {
		c = chunk_get(idx);
		if (!c)
			return -1;
		c->blocks = NULL;
		c->bytes = sizeof(*c);
		*slot = c;
		*grown += sizeof(*c);
	}
	if (need && (!c->blocks || TAIL_BLOCK - c->blocks->used < need)) {
		struct tblock *b = block_get(idx);

		if (!b)
			return -1;
		b->used = 0;
		b->next = c->blocks;
		c->blocks = b;
		c->bytes += sizeof(*b);
		*grown += sizeof(*b);
	}
	d = &c->rows[i % TAIL_CHUNK_ROWS];
	*d = *t;
	d->flags &= ~(uint32_t)T_HASH;
	d->action = block_copy(c->blocks, t->action, t->action_n);
	d->outcome = block_copy(c->blocks, t->outcome, t->outcome_n);
	d->service = block_copy(c->blocks, t->service, t->service_n);
	return 0;
}

/*
 * Free the chunks whose rows are all below wm, a watermark the writer has
 * committed (T2, T3).  wait: block for the queries to finish (the
 * extractor waits for room); else leave it for later when one runs.
 * Returns whether rows below wm's chunk remain.
 */
static bool tail_drop(struct index *idx, uint64_t wm, bool wait)
{
	struct tchunk *gone[TAIL_RING];
	uint64_t first, last, k;
	size_t n = 0, freed = 0;

	pthread_mutex_lock(&idx->mu);
	first = idx->tail_head / TAIL_CHUNK_ROWS;
	pthread_mutex_unlock(&idx->mu);
	last = wm / TAIL_CHUNK_ROWS;
	if (first >= last)
		return false;
	if (wait)
		pthread_rwlock_wrlock(&idx->tail_rw);
	else if (pthread_rwlock_trywrlock(&idx->tail_rw) != 0)
		return true;
	pthread_mutex_lock(&idx->mu);
	for (k = first; k < last; k++) {
		struct tchunk **slot = &idx->ring[k % TAIL_RING];

		if (*slot) {
			freed += (*slot)->bytes;
			gone[n++] = *slot;
			*slot = NULL;
		}
	}
	idx->tail_head = last * TAIL_CHUNK_ROWS;
	idx->tail_bytes -= freed;
	pthread_cond_broadcast(&idx->wake);
	pthread_mutex_unlock(&idx->mu);
	pthread_rwlock_unlock(&idx->tail_rw);
	while (n > 0)
		chunk_recycle(idx, gone[--n]);
	return false;
}

/* Publish the rows up to next (T1), the last one an anchor (T4); last is
 * the bytes of entry next-1. */
static void tail_publish(struct index *idx, uint64_t next, const void *last, size_t last_len)
{
	struct trow *t = tail_row(idx, next - 1);

	ls_sha256(last, last_len, NULL, 0, t->hash);
	t->flags |= T_HASH;
	pthread_mutex_lock(&idx->mu);
	idx->tail_end = next;
	pthread_cond_signal(&idx->wcv);
	if (idx->fresh_waiters)
		pthread_cond_broadcast(&idx->moved);
	pthread_mutex_unlock(&idx->mu);
}

/* ============================================================ the extractor */

static struct fbatch *feed_at(struct index *idx, uint64_t next);

/* Nothing to read: sleep until notified (or POLL_MS, for a journal that
 * grows without notifications). */
static void extractor_idle(struct index *idx)
{
	pthread_mutex_lock(&idx->mu);
	if (!idx->kicked && !idx->stop && !idx->failed) {
		struct timespec ts;

		deadline_after(&ts, POLL_MS);
		pthread_cond_timedwait(&idx->wake, &idx->mu, &ts);
	}
	idx->kicked = false;
	pthread_mutex_unlock(&idx->mu);
}

static void *extractor(void *arg)
{
	struct index *idx = arg;
	struct journal_iter *it = NULL;
	struct fbatch *fb = NULL;	/* the fed batch last taken from */
	struct ls_err err = { { 0 } };
	EVP_MD_CTX *w = EVP_MD_CTX_new();
	struct bcache *bc = bcache_new(); /* NULL: no cache, still right */
	/* Decoded strings of one entry, then a copy of the last entry read. */
	char *arena = malloc(2 * (JOURNAL_MAX_ENTRY + 1));
	char *last = arena ? arena + JOURNAL_MAX_ENTRY + 1 : NULL;
	size_t last_len = 0, grown = 0;
	uint64_t next, pub, bound, n_fed = 0, n_read = 0;
	ls_rc rc = LS_OK;

	pthread_setname_np(pthread_self(), "ls-idx-extract");
	/* Cheap work that ingest may wait for (--max-search-lag): ahead of
	 * the HTTP workers where the process may raise a thread's priority
	 * (CAP_SYS_NICE); at the default priority otherwise. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -5);

	if (!w || !arena) {
		follower_fail(idx, LS_NOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&idx->mu);
	next = pub = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	for (;;) {
		const uint8_t *data;
		struct trow t;
		struct row r;
		size_t len;
		uint64_t at;
		int64_t joff;
		bool full, bounded, quit;

		pthread_mutex_lock(&idx->mu);
		idx->tail_bytes += grown;
		grown = 0;
		idx->n_fed += n_fed;
		idx->n_read += n_read;
		n_fed = n_read = 0;
		quit = idx->stop || idx->failed;
		bounded = idx->bounded;
		bound = idx->limit;
		full = next - idx->tail_head >= TAIL_MAX_ROWS || idx->tail_bytes >= TAIL_MAX_BYTES;
		pthread_mutex_unlock(&idx->mu);
		if (pub < next && (quit || full || (bounded && next >= bound) ||
				   next - pub >= PUB_ROWS)) {
			tail_publish(idx, next, last, last_len);
			pub = next;
		}
		if (quit)
			break;
		if (full) {
			pthread_mutex_lock(&idx->mu);
			idx->ext_waiting = true;
			pthread_cond_signal(&idx->wcv);
			if (idx->fresh_waiters) /* index_wait_extracted() */
				pthread_cond_broadcast(&idx->moved);
			while (!idx->stop && !idx->failed &&
			       (next - idx->tail_head >= TAIL_MAX_ROWS ||
				idx->tail_bytes >= TAIL_MAX_BYTES))
				pthread_cond_wait(&idx->wake, &idx->mu);
			idx->ext_waiting = false;
			pthread_mutex_unlock(&idx->mu);
			continue;
		}
		if (bounded && next >= bound) {
			extractor_idle(idx);
			continue;
		}
		/* The feed when it holds next; the journal otherwise. */
		if (!fb || next < fb->first || next - fb->first >= fb->n)
			fb = feed_at(idx, next);
		if (fb) {
			size_t i = (size_t)(next - fb->first);

			if (it) {
				/* Past the stretch it was opened for. */
				journal_iter_free(it);
				it = NULL;
			}
			data = fb->data + fb->at[i];
			len = fb->at[i + 1] - fb->at[i];
			joff = fb->offs[i] <= INT64_MAX ? (int64_t)fb->offs[i] : -1;
			n_fed++;
			goto extract;
		}
		if (!it) {
			/* The journal directory may not exist yet. */
			rc = journal_iter_open(idx->jdir, next, &it, &err);
			if (rc == LS_NOTFOUND) {
				it = NULL;
				extractor_idle(idx);
				continue;
			}
			if (rc != LS_OK)
				break;
		}
		rc = journal_iter_next(it, &data, &len, &at, &err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			if (pub < next) {
				tail_publish(idx, next, last, last_len);
				pub = next;
			}
			extractor_idle(idx);
			continue;
		}
		if (rc != LS_OK)
			break;
		if (at != next) {
			rc = ls_err_set(&err, LS_CORRUPT, "journal gave entry %llu, expected %llu",
					(unsigned long long)at, (unsigned long long)next);
			break;
		}
		joff = iter_offset(it);
		n_read++;
extract:
		row_extract(data, len, arena, &r);
		if (trow_fill(&idx->bl, w, bc, &r, joff, &t) ||
		    tail_put(idx, next, &t, &grown)) {
			rc = ls_err_set(&err, LS_NOMEM, "out of memory");
			break;
		}
		memcpy(last, data, len);
		last_len = len;
		next++;
	}
	/* What was read before an error is good: the writer may take it. */
	pthread_mutex_lock(&idx->mu);
	idx->tail_bytes += grown;
	idx->n_fed += n_fed;
	idx->n_read += n_read;
	pthread_mutex_unlock(&idx->mu);
	if (pub < next)
		tail_publish(idx, next, last, last_len);
	if (rc != LS_OK)
		follower_fail(idx, rc, err.msg);
out:
	journal_iter_free(it);
	EVP_MD_CTX_free(w);
	free(bc);
	free(arena);
	return NULL;
}

/* ================================================================ the writer */

/* The end of what a batch may take from next: at most limit, after an
 * anchor (T4); next when no anchor is in reach. */
static uint64_t anchored_end(struct index *idx, uint64_t next, uint64_t limit)
{
	uint64_t e;

	for (e = limit; e > next; e--)
		if (tail_row(idx, e - 1)->flags & T_HASH)
			return e;
	return next;
}

/*
 * When the only writer is the read audit, entries come one at a time, and
 * a commit each would write the same few B-tree pages to the WAL again and
 * again (and its checkpoints would compete with the journal's fdatasync).
 * So a transaction that has rows stays open up to LINGER_MS for more,
 * unless somebody waits for the index (index_wait), a test pauses the
 * writer or it is stopping.  true: rows were published, take them.
 */
static bool linger(struct index *idx, const struct timespec *until, uint64_t next,
		   uint64_t *avail)
{
	bool more;

	pthread_mutex_lock(&idx->mu);
	while (!idx->stop && !idx->waiters && !idx->pause_writer && idx->tail_end == next)
		if (pthread_cond_timedwait(&idx->wcv, &idx->mu, until) == ETIMEDOUT)
			break;
	more = !idx->stop && !idx->pause_writer && idx->tail_end > next;
	*avail = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	return more;
}

/*
 * Insert tail rows from *next (published up to avail) in one transaction
 * of up to BATCH_ROWS, ending on an anchor.  *next moves past what was
 * committed; on error nothing was.
 */
static ls_rc write_batch(struct index *idx, struct writer *wr, uint64_t *next, uint64_t avail,
			 struct ls_err *err)
{
	uint64_t start = *next, stop;
	struct timespec until;
	ls_rc rc;

	rc = exec(idx->w, "BEGIN IMMEDIATE", err);
	if (rc != LS_OK)
		return rc;
	deadline_after(&until, LINGER_MS);
	for (;;) {
		uint64_t limit = avail - start > BATCH_ROWS ? start + BATCH_ROWS : avail;

		stop = anchored_end(idx, *next, limit);
		for (; rc == LS_OK && *next < stop; (*next)++)
			rc = write_trow(wr, *next, tail_row(idx, *next), err);
		if (rc != LS_OK || stop != avail || !linger(idx, &until, *next, &avail))
			break;
	}
	if (rc == LS_OK && *next == start) {
		/* Not reached: a publication ends on an anchor (T4). */
		sqlite3_exec(idx->w, "ROLLBACK", NULL, NULL, NULL);
		return LS_OK;
	}
	if (rc == LS_OK)
		rc = writer_flush(wr, err);
	if (rc == LS_OK)
		rc = meta_mark(idx->w, *next, tail_row(idx, *next - 1)->hash, err);
	if (rc == LS_OK)
		rc = exec(idx->w, "COMMIT", err);
	if (rc != LS_OK) {
		sqlite3_exec(idx->w, "ROLLBACK", NULL, NULL, NULL);
		writer_discard(wr);
		*next = start;
	}
	return rc;
}

static void *writer_thread(void *arg)
{
	struct index *idx = arg;
	struct writer wr;
	struct ls_err err = { { 0 } };
	uint64_t next, avail;
	unsigned backoff = NOSPACE_RETRY_MS;
	ls_rc rc;

	pthread_setname_np(pthread_self(), "ls-idx-writer");
	/* The index is derived data that may lag (the tail answers for what
	 * it has not written): under a burst, CPU goes to accepting events
	 * first, and the writer takes what they leave: SCHED_IDLE runs it on
	 * CPU time no other thread wants (per thread on Linux), nice 19
	 * where that policy is refused.  When the tail is full, ingest waits
	 * (--max-search-lag) and so leaves it the CPU. */
	{
		struct sched_param sp = { 0 };

		if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
			setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	}

	rc = writer_init(&wr, idx->w, true, &err);
	if (rc != LS_OK) {
		follower_fail(idx, rc, err.msg);
		writer_release(&wr);
		return NULL;
	}
	pthread_mutex_lock(&idx->mu);
	next = idx->watermark;
	for (;;) {
		while (!idx->stop && (idx->pause_writer || idx->tail_end == next)) {
			bool force = idx->ext_waiting, pending;

			if (idx->tail_head / TAIL_CHUNK_ROWS < next / TAIL_CHUNK_ROWS) {
				pthread_mutex_unlock(&idx->mu);
				pending = tail_drop(idx, next, force);
				pthread_mutex_lock(&idx->mu);
				if (pending) {
					struct timespec ts;

					deadline_after(&ts, DROP_RETRY_MS);
					pthread_cond_timedwait(&idx->wcv, &idx->mu, &ts);
				}
				continue;
			}
			pthread_cond_wait(&idx->wcv, &idx->mu);
		}
		if (idx->stop)
			break;
		avail = idx->tail_end;
		idx->writing = true;
		pthread_mutex_unlock(&idx->mu);

		rc = write_batch(idx, &wr, &next, avail, &err);

		pthread_mutex_lock(&idx->mu);
		idx->writing = false;
		idx->watermark = next;
		pthread_cond_broadcast(&idx->moved);
		if (rc == LS_NOSPACE) {
			/* A full disk is not the index's fault and goes away:
			 * nothing of the batch was committed (write_batch rolled
			 * it back and left next at the watermark), its rows stay
			 * in the tail, so queries still see them, and the same
			 * batch is tried again after a wait that doubles up to
			 * NOSPACE_RETRY_MAX_MS.  Any other error stays sticky. */
			struct timespec ts;

			idx->nospace = true;
			snprintf(idx->nospace_msg, sizeof(idx->nospace_msg), "%s", err.msg);
			deadline_after(&ts, backoff);
			while (!idx->stop &&
			       pthread_cond_timedwait(&idx->wcv, &idx->mu, &ts) != ETIMEDOUT)
				;
			backoff = backoff * 2 < NOSPACE_RETRY_MAX_MS ? backoff * 2
								      : NOSPACE_RETRY_MAX_MS;
			rc = LS_OK;
			continue;
		}
		if (rc != LS_OK)
			break;
		idx->nospace = false;
		backoff = NOSPACE_RETRY_MS;
		if (idx->tail_head / TAIL_CHUNK_ROWS < next / TAIL_CHUNK_ROWS) {
			bool force = idx->ext_waiting;

			pthread_mutex_unlock(&idx->mu);
			tail_drop(idx, next, force);
			pthread_mutex_lock(&idx->mu);
		}
	}
	pthread_mutex_unlock(&idx->mu);
	if (rc != LS_OK)
		follower_fail(idx, rc, err.msg);
	writer_release(&wr);
	return NULL;
}

/*
 * SQLite's own automatic checkpoint runs inside the commit that crosses
 * its threshold, so the writer (and every query waiting on it) would stall
 * for its two fsyncs.  Here a commit only wakes a thread of its own, which
 * checkpoints PASSIVE (it never blocks the writer or a reader).  Should
 * that thread fall far behind, the writer checkpoints itself, so that the
 * WAL can start over and does not grow without bound.
 */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct index *idx = arg;

	if (frames >= CKPT_INLINE_FRAMES) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&idx->mu);
		idx->ckpt_due = true;
		pthread_cond_signal(&idx->ckpt_cv);
		pthread_mutex_unlock(&idx->mu);
	}
	return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
	struct index *idx = arg;

	pthread_setname_np(pthread_self(), "ls-idx-walckpt");
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	pthread_mutex_lock(&idx->mu);
	for (;;) {
		while (!idx->stop && !idx->ckpt_due)
			pthread_cond_wait(&idx->ckpt_cv, &idx->mu);
		if (idx->stop)
			break;
		idx->ckpt_due = false;
		pthread_mutex_unlock(&idx->mu);
		/* A failure here leaves the WAL longer; the writer's inline
		 * checkpoint still bounds it. */
		sqlite3_wal_checkpoint_v2(idx->c, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&idx->mu);
	}
	pthread_mutex_unlock(&idx->mu);
	return NULL;
}

ls_rc index_start(struct index *idx, struct ls_err *err)
{
	ls_rc rc;

	if (idx->started)
		return ls_err_set(err, LS_INVALID, "index: already started");
	rc = reconcile(idx, err);
	if (rc != LS_OK)
		return rc;
	rc = db_open(idx->dbpath, true, &idx->c, err);
	if (rc != LS_OK)
		return rc;
	if (pthread_create(&idx->ckpt_thread, NULL, checkpointer, idx) != 0) {
		sqlite3_close(idx->c);
		idx->c = NULL;
		return ls_err_set(err, LS_NOMEM, "index: cannot start the checkpoint thread");
	}
	idx->ckpt_started = true;
	sqlite3_wal_hook(idx->w, wal_hook, idx);
	pthread_mutex_lock(&idx->mu);
	if (pthread_create(&idx->thread, NULL, writer_thread, idx) != 0) {
		pthread_mutex_unlock(&idx->mu);
		return ls_err_set(err, LS_NOMEM, "index: cannot start the writer thread");
	}
	if (pthread_create(&idx->ext_thread, NULL, extractor, idx) != 0) {
		idx->stop = true;
		pthread_cond_broadcast(&idx->wcv);
		pthread_mutex_unlock(&idx->mu);
		pthread_join(idx->thread, NULL);
		return ls_err_set(err, LS_NOMEM, "index: cannot start the extractor thread");
	}
	idx->started = true;
	pthread_mutex_unlock(&idx->mu);
	return LS_OK;
}

void index_feed(struct index *idx, uint64_t first, const struct iovec *entries,
		const uint64_t *offsets, size_t n)
{
	struct fbatch *b = NULL, **pp;
	size_t bytes = 0, need, i;
	bool keep;

	for (i = 0; i < n; i++)
		bytes += entries[i].iov_len;
	need = sizeof(*b) + n * sizeof(*b->offs) + (n + 1) * sizeof(*b->at) + bytes;
	pthread_mutex_lock(&idx->mu);
	keep = n && offsets && idx->started && !idx->stop && !idx->failed &&
	       bytes <= UINT32_MAX && idx->feed_bytes + bytes <= FEED_MAX_BYTES;
	for (pp = &idx->fspare; keep && *pp; pp = &(*pp)->next)
		if ((*pp)->cap >= need) {
			b = *pp;
			*pp = b->next;
			idx->nfspare--;
			break;
		}
	pthread_mutex_unlock(&idx->mu);
	if (keep && !b) {
		size_t cap = need > FEED_ALLOC ? need : FEED_ALLOC;

		b = malloc(cap);
		if (b)
			b->cap = cap;
	}
	if (b) {
		b->next = NULL;
		b->first = first;
		b->n = n;
		b->bytes = bytes;
		b->offs = (uint64_t *)(b + 1);
		b->at = (uint32_t *)(b->offs + n);
		b->data = (uint8_t *)(b->at + n + 1);
		memcpy(b->offs, offsets, n * sizeof(*b->offs));
		b->at[0] = 0;
		for (i = 0; i < n; i++) {
			memcpy(b->data + b->at[i], entries[i].iov_base, entries[i].iov_len);
			b->at[i + 1] = b->at[i] + (uint32_t)entries[i].iov_len;
		}
	}
	pthread_mutex_lock(&idx->mu);
	if (b) {
		if (idx->ftail)
			idx->ftail->next = b;
		else
			idx->fhead = b;
		idx->ftail = b;
		idx->feed_bytes += bytes;
	}
	pthread_mutex_unlock(&idx->mu);
	index_notify(idx, first + n);
}

/* The fed batch holding entry next, or NULL; batches wholly below next are
 * freed.  Extractor only. */
static struct fbatch *feed_at(struct index *idx, uint64_t next)
{
	struct fbatch *b, *done = NULL;

	pthread_mutex_lock(&idx->mu);
	while ((b = idx->fhead) && b->first + b->n <= next) {
		idx->fhead = b->next;
		if (!idx->fhead)
			idx->ftail = NULL;
		idx->feed_bytes -= b->bytes;
		b->next = done;
		done = b;
	}
	if (b && b->first > next)
		b = NULL;
	while (done && idx->nfspare < FEED_SPARES) {
		struct fbatch *d = done;

		done = d->next;
		d->next = idx->fspare;
		idx->fspare = d;
		idx->nfspare++;
	}
	pthread_mutex_unlock(&idx->mu);
	while (done) {
		struct fbatch *d = done;

		done = d->next;
		free(d);
	}
	return b;
}

static void feed_free(struct index *idx)
{
	struct fbatch *lists[2] = { idx->fhead, idx->fspare };

	for (int k = 0; k < 2; k++)
		while (lists[k]) {
			struct fbatch *b = lists[k];

			lists[k] = b->next;
			free(b);
		}
	idx->fhead = idx->ftail = idx->fspare = NULL;
	idx->feed_bytes = idx->nfspare = 0;
}

void index_follow_counts(struct index *idx, uint64_t *fed, uint64_t *read)
{
	pthread_mutex_lock(&idx->mu);
	*fed = idx->n_fed;
	*read = idx->n_read;
	pthread_mutex_unlock(&idx->mu);
}

void index_notify(struct index *idx, uint64_t size)
{
	pthread_mutex_lock(&idx->mu);
	if (!idx->bounded || size > idx->limit)
		idx->limit = size;
	idx->bounded = true;
	idx->kicked = true;
	pthread_cond_signal(&idx->wake);
	pthread_mutex_unlock(&idx->mu);
}

uint64_t index_watermark(struct index *idx)
{
	uint64_t wm;

	pthread_mutex_lock(&idx->mu);
	wm = idx->watermark;
	pthread_mutex_unlock(&idx->mu);
	return wm;
}

/* What index_wait(), index_wait_fresh() and index_wait_extracted() wait for. */
enum wait_on { W_SQLITE, W_TAIL, W_EXTRACTED };

static bool wait_done(const struct index *idx, enum wait_on on, uint64_t size)
{
	switch (on) {
	case W_SQLITE:
		return idx->watermark >= size;
	case W_TAIL:
		return idx->tail_end >= size;
	default:
		return idx->tail_end >= size || idx->ext_waiting;
	}
}

/*
 * A query's waits also end the writer's lingering (see linger()); past the
 * tail the extractor is behind or waits for room, which only the writer's
 * commits make, so that holds for W_TAIL too.  Ingest's pacing
 * (W_EXTRACTED) does not hurry the writer: it waits for the extractor.
 */
static ls_rc wait_until(struct index *idx, enum wait_on on, uint64_t size, unsigned timeout_ms)
{
	struct timespec ts;
	ls_rc rc = LS_OK;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&idx->mu);
	if (on != W_EXTRACTED) {
		idx->waiters++;
		if (!wait_done(idx, on, size))
			pthread_cond_signal(&idx->wcv);
	}
	if (on != W_SQLITE)
		idx->fresh_waiters++;
	while (!wait_done(idx, on, size)) {
		if (idx->failed || !idx->started || idx->stop) {
			rc = LS_FAILED;
			break;
		}
		if (pthread_cond_timedwait(&idx->moved, &idx->mu, &ts) == ETIMEDOUT) {
			rc = wait_done(idx, on, size) ? LS_OK : LS_BUSY;
			break;
		}
	}
	if (on != W_SQLITE)
		idx->fresh_waiters--;
	if (on != W_EXTRACTED)
		idx->waiters--;
	pthread_mutex_unlock(&idx->mu);
	return rc;
}

ls_rc index_wait(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, W_SQLITE, size, timeout_ms);
}

uint64_t index_fresh_watermark(struct index *idx)
{
	uint64_t wm;

	pthread_mutex_lock(&idx->mu);
	wm = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	return wm;
}

ls_rc index_wait_fresh(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, W_TAIL, size, timeout_ms);
}

ls_rc index_wait_extracted(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, W_EXTRACTED, size, timeout_ms);
}

void index_test_pause_writer(struct index *idx, bool pause)
{
	pthread_mutex_lock(&idx->mu);
	idx->pause_writer = pause;
	pthread_cond_broadcast(&idx->wcv);
	while (pause && idx->writing)
		pthread_cond_wait(&idx->moved, &idx->mu);
	pthread_mutex_unlock(&idx->mu);
}

const char *index_error(struct index *idx)
{
	const char *e;

	pthread_mutex_lock(&idx->mu);
	e = idx->failed ? idx->errmsg : NULL;
	pthread_mutex_unlock(&idx->mu);
	return e;
}

bool index_no_space(struct index *idx, char *msg, size_t cap)
{
	bool full;

	pthread_mutex_lock(&idx->mu);
	full = idx->nospace && !idx->failed;
	if (full && msg && cap)
		snprintf(msg, cap, "%s", idx->nospace_msg);
	pthread_mutex_unlock(&idx->mu);
	return full;
}

void index_close(struct index *idx)
{
	size_t i;

	if (!idx)
		return;
	pthread_mutex_lock(&idx->mu);
	idx->stop = true;
	pthread_cond_broadcast(&idx->wake);
	pthread_cond_broadcast(&idx->wcv);
	pthread_cond_broadcast(&idx->moved);
	pthread_cond_broadcast(&idx->ckpt_cv);
	pthread_mutex_unlock(&idx->mu);
	/* The writer commits the batch it has open; the rest of the tail is
	 * read again from the journal at the next start. */
	if (idx->started) {
		pthread_join(idx->ext_thread, NULL);
		pthread_join(idx->thread, NULL);
	}
	if (idx->ckpt_started)
		pthread_join(idx->ckpt_thread, NULL);
	for (i = 0; i < TAIL_RING; i++)
		chunk_free(idx->ring[i]);
	spares_free(idx);
	feed_free(idx);
	for (i = 0; i < idx->npool; i++)
		sqlite3_close(idx->pool[i]);
	/* The writer's connection closes last: closing, it checkpoints the
	 * whole WAL and removes it. */
	sqlite3_close(idx->c);
	if (idx->w) {
		sqlite3_exec(idx->w, "PRAGMA optimize", NULL, NULL, NULL);
		sqlite3_close(idx->w);
	}
	if (idx->lockfd >= 0)
		close(idx->lockfd);
	pthread_cond_destroy(&idx->wake);
	pthread_cond_destroy(&idx->wcv);
	pthread_cond_destroy(&idx->moved);
	pthread_rwlock_destroy(&idx->tail_rw);
	pthread_cond_destroy(&idx->ckpt_cv);
	pthread_mutex_destroy(&idx->mu);
	pthread_mutex_destroy(&idx->pool_mu);
	blind_free(&idx->bl);
	free(idx->datadir);
	free(idx->jdir);
	free(idx->dbpath);
	free(idx);
}

/* ================================================================ rebuild */

static ls_rc rebuild_fill(sqlite3 *db, const struct blind *bl, const char *jdir,
			  index_progress_fn progress, void *ctx, uint64_t *count,
			  uint8_t hash[LS_HASH_LEN], struct ls_err *err)
{
	struct journal_iter *it = NULL;
	struct writer wr;
	const uint8_t *data;
	uint64_t next = 0, at;
	size_t len, inbatch = 0;
	EVP_MD_CTX *w = EVP_MD_CTX_new();
	struct bcache *bc = bcache_new(); /* NULL: no cache, still right */
	char *arena;
	struct trow t;
	struct row r;
	ls_rc rc;

	memset(&wr, 0, sizeof(wr));
	arena = malloc(JOURNAL_MAX_ENTRY + 1);
	if (!arena || !w) {
		free(arena);
		free(bc);
		EVP_MD_CTX_free(w);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = writer_init(&wr, db, false, err);
	if (rc != LS_OK)
		goto out;
	rc = journal_iter_open(jdir, 0, &it, err);
	if (rc == LS_NOTFOUND) {
		rc = LS_OK;
		goto out;
	}
	if (rc != LS_OK)
		goto out;
	rc = exec(db, "BEGIN", err);
	while (rc == LS_OK) {
		rc = journal_iter_next(it, &data, &len, &at, err);
		if (rc == LS_NOTFOUND) {
			rc = LS_OK;
			break;
		}
		if (rc != LS_OK)
			break;
		row_extract(data, len, arena, &r);
		if (trow_fill(bl, w, bc, &r, iter_offset(it), &t)) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			break;
		}
		rc = write_trow(&wr, at, &t, err);
		if (rc != LS_OK)
			break;
		ls_sha256(data, len, NULL, 0, hash);
		next = at + 1;
		if (++inbatch == REBUILD_ROWS) {
			inbatch = 0;
			rc = writer_flush(&wr, err);
			if (rc == LS_OK)
				rc = exec(db, "COMMIT; BEGIN", err);
			if (rc == LS_OK && progress)
				progress(ctx, next);
		}
	}
	if (rc == LS_OK)
		rc = writer_flush(&wr, err);
	if (rc == LS_OK)
		rc = meta_mark(db, next, next ? hash : NULL, err);
	if (rc == LS_OK)
		rc = exec(db, "COMMIT", err);
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	*count = next;
	writer_release(&wr);
	journal_iter_free(it);
	EVP_MD_CTX_free(w);
	free(bc);
	free(arena);
	return rc;
}

static ls_rc fsync_path(const char *path, struct ls_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return ls_err_set(err, LS_IO, "%s: %s", path, strerror(e));
	}
	close(fd);
	return LS_OK;
}

ls_rc index_rebuild(const char *datadir, index_progress_fn progress, void *ctx, uint64_t *count,
		    struct ls_err *err)
{
	char *indexdir, *jdir, *final = NULL, *tmp = NULL, *wal = NULL, *shm = NULL, *tj = NULL;
	uint8_t hash[LS_HASH_LEN], check[BLIND_LEN];
	struct blind bl = { NULL, NULL };
	uint64_t n = 0;
	sqlite3 *db = NULL;
	int lockfd = -1;
	ls_rc rc;

	indexdir = path_join(datadir, "index");
	jdir = path_join(datadir, "journal");
	if (indexdir) {
		final = path_join(indexdir, "index.sqlite");
		tmp = path_join(indexdir, "index.sqlite.rebuild");
		wal = path_join(indexdir, "index.sqlite-wal");
		shm = path_join(indexdir, "index.sqlite-shm");
		tj = path_join(indexdir, "index.sqlite.rebuild-journal");
	}
	if (!jdir || !final || !tmp || !wal || !shm || !tj) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = fs_mkdirs(indexdir, 0700, err);
	if (rc == LS_OK)
		rc = lock_dir(indexdir, &lockfd, err);
	if (rc == LS_OK)
		rc = blind_open(datadir, &bl, check, err);
	if (rc != LS_OK)
		goto out;
	unlink(tmp);
	unlink(tj);
	/* A scratch file: no journal, no syncs until it is complete, and the
	 * secondary indexes built once at the end (far faster than keeping
	 * them up to date row by row). */
	if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = db_fail(err, db, "open");
		goto out;
	}
	rc = exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
		      "PRAGMA cache_size=-262144;",
		  err);
	if (rc == LS_OK)
		rc = exec(db, SCHEMA_TABLES, err);
	if (rc == LS_OK)
		rc = meta_set(db, "schema", SCHEMA_VERSION, NULL, 0, err);
	if (rc == LS_OK)
		rc = meta_set(db, "key_check", 0, check, BLIND_LEN, err);
	if (rc == LS_OK)
		rc = rebuild_fill(db, &bl, jdir, progress, ctx, &n, hash, err);
	if (rc == LS_OK)
		rc = exec(db, SCHEMA_INDEXES, err);
	if (rc == LS_OK)
		rc = exec(db, "PRAGMA analysis_limit=1000; ANALYZE;", err);
	if (rc != LS_OK)
		goto out;
	if (sqlite3_close(db) != SQLITE_OK) {
		rc = db_fail(err, db, "close");
		goto out;
	}
	db = NULL;
	rc = fsync_path(tmp, err);
	if (rc != LS_OK)
		goto out;
	/* A stale WAL must never be replayed onto the new file. */
	if ((unlink(wal) != 0 && errno != ENOENT) || (unlink(shm) != 0 && errno != ENOENT) ||
	    rename(tmp, final) != 0) {
		rc = ls_err_set(err, LS_IO, "%s: %s", final, strerror(errno));
		goto out;
	}
	rc = fs_sync_dir(indexdir, err);
	if (rc == LS_OK && progress)
		progress(ctx, n);
out:
	if (db) {
		sqlite3_close(db);
		unlink(tmp);
	}
	if (count)
		*count = n;
	blind_free(&bl);
	if (lockfd >= 0)
		close(lockfd);
	free(indexdir);
	free(jdir);
	free(final);
	free(tmp);
	free(wal);
	free(shm);
	free(tj);
	return rc;
}

/* ================================================================ queries */

void index_query_init(struct index_query *q)
{
	memset(q, 0, sizeof(*q));
	q->order = INDEX_DESC;
	q->limit = INDEX_LIMIT_DEFAULT;
}

void index_query_release(struct index_query *q)
{
	if (!q)
		return;
	free(q->actor);
	free(q->action);
	free(q->outcome);
	free(q->service);
	free(q->resource_type);
	free(q->resource_id);
	free(q->writer);
	free(q->source_ip);
	index_query_init(q);
}

/* A parameter name safe to echo in a message. */
static void safe_name(const char *s, char *out, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap && i < 40; i++)
		out[i] = s[i] > 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
	out[i] = '\0';
}

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

static enum ipq cidr_kind(const uint8_t lo[16], const uint8_t hi[16], unsigned *bits)
{
	unsigned b = 0, i;
	uint8_t m[16];

	while (b < 128 && !((lo[b / 8] ^ hi[b / 8]) & (0x80 >> (b % 8))))
		b++;
	/* Only a CIDR block: lo and hi agree on b bits, then are all 0 / all 1. */
	mask_prefix(lo, b, m);
	if (memcmp(m, lo, 16))
		return IPQ_BAD;
	for (i = b; i < 128; i++)
		if (!(hi[i / 8] & (0x80 >> (i % 8))))
			return IPQ_BAD;
	*bits = b;
	if (b == 0)
		return IPQ_ANY;
	if (b == 128)
		return IPQ_FULL;
	if (b >= 96 && !memcmp(lo, V4_MAPPED, sizeof(V4_MAPPED))) {
		if (b == 96)
			return IPQ_V4;
		return memchr(NET_V4, (int)b, sizeof(NET_V4)) ? IPQ_NET : IPQ_BAD;
	}
	if (!memchr(NET_V6, (int)b, sizeof(NET_V6)))
		return IPQ_BAD;
	/* b <= 64 here, and lo holds zeros past b. */
	for (i = 0; i < 16 && !lo[i]; i++)
		;
	return i == 16 ? IPQ_NET_OR_V4 : IPQ_NET;
}

static ls_rc parse_cidr(const char *v, struct index_query *q, struct ls_err *err)
{
	char addr[64], text[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(v, '/');
	uint8_t a[16];
	unsigned plen, max, bits, i;
	bool v4;
	size_t an = slash ? (size_t)(slash - v) : strlen(v);

	if (an == 0 || an >= sizeof(addr))
		goto bad;
	memcpy(addr, v, an);
	addr[an] = '\0';
	if (inet_pton(AF_INET, addr, a + 12) == 1) {
		memcpy(a, V4_MAPPED, sizeof(V4_MAPPED));
		v4 = true;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		v4 = false;
		max = 128;
	} else {
		goto bad;
	}
	plen = max;
	if (slash) {
		const char *p = slash + 1;

		if (!*p || strlen(p) > 3)
			goto bad;
		for (plen = 0; *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			plen = plen * 10 + (unsigned)(*p - '0');
		}
		if (plen > max)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'source_ip': prefix length must be 0..%u", max);
	}
	bits = v4 ? 96 + plen : plen;
	/* ::ffff:a.b.c.d/N with N >= 96 is the IPv4 block a.b.c.d/(N-96). */
	if (!v4 && bits >= 96 && !memcmp(a, V4_MAPPED, sizeof(V4_MAPPED))) {
		v4 = true;
		plen = bits - 96;
		max = 32;
	}
	for (i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
		uint8_t mask = keep ? (uint8_t)(0xff << (8 - keep)) : 0;

		q->ip_lo[i] = a[i] & mask;
		q->ip_hi[i] = a[i] | (uint8_t)~mask;
	}
	if (cidr_kind(q->ip_lo, q->ip_hi, &bits) == IPQ_BAD)
		return ls_err_set(err, LS_INVALID,
				  "parameter 'source_ip': /%u cannot be searched: the index keeps "
				  "addresses only as keyed hashes of their " CIDR_SUPPORTED
				  " prefixes",
				  plen);
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? q->ip_lo + 12 : q->ip_lo, text,
		       sizeof(text)))
		goto bad;
	if (plen != max)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "/%u", plen);
	q->source_ip = strdup(text);
	if (!q->source_ip)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
bad:
	return ls_err_set(err, LS_INVALID,
			  "parameter 'source_ip': not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8)");
}

static ls_rc set_str(char **dst, const char *v, struct ls_err *err)
{
	*dst = strdup(v);
	if (!*dst)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	return LS_OK;
}

static ls_rc parse_time(const char *name, const char *v, int64_t *us, struct ls_err *err)
{
	if (event_parse_time(v, us) != LS_OK)
		return ls_err_set(err, LS_INVALID,
				  "parameter '%s': not an RFC 3339 time (e.g. 2026-01-02T03:04:05Z)",
				  name);
	return LS_OK;
}

static const char *const outcome_names[] = { "success", "failure", "denied", "error", "unknown",
					     NULL };

static ls_rc query_add(struct index_query *q, const char *key, const char *value,
		       bool *unknown, struct ls_err *err)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "from", INDEX_Q_FROM }, { "to", INDEX_Q_TO },
		{ "received_from", INDEX_Q_RECEIVED_FROM }, { "received_to", INDEX_Q_RECEIVED_TO },
		{ "actor", INDEX_Q_ACTOR }, { "action", INDEX_Q_ACTION },
		{ "outcome", INDEX_Q_OUTCOME }, { "source_ip", INDEX_Q_SOURCE_IP },
		{ "service", INDEX_Q_SERVICE }, { "resource_type", INDEX_Q_RESOURCE_TYPE },
		{ "resource_id", INDEX_Q_RESOURCE_ID }, { "writer", INDEX_Q_WRITER },
		{ "order", INDEX_Q_ORDER }, { "limit", INDEX_Q_LIMIT },
		{ "cursor", INDEX_Q_CURSOR },
	};
	char shown[48];
	unsigned bit = 0, seen;
	size_t i, n;
	ls_rc rc = LS_OK;

	if (!key)
		return ls_err_set(err, LS_INVALID, "missing parameter name");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(key, names[i].name)) {
			bit = names[i].bit;
			break;
		}
	if (!bit) {
		if (unknown)
			*unknown = true;
		safe_name(key, shown, sizeof(shown));
		return ls_err_set(err, LS_INVALID, "unknown parameter '%s'", shown);
	}
	seen = q->has & bit;
	if (bit == INDEX_Q_ACTION)
		seen = q->has & (INDEX_Q_ACTION | INDEX_Q_ACTION_PREFIX);
	if (seen)
		return ls_err_set(err, LS_INVALID, "parameter '%s' given more than once", key);
	if (!value)
		value = "";
	n = strnlen(value, INDEX_VALUE_MAX + 1);
	if (n > INDEX_VALUE_MAX)
		return ls_err_set(err, LS_INVALID, "parameter '%s': longer than %d bytes", key,
				  INDEX_VALUE_MAX);
	if (n == 0) {
		if (bit == INDEX_Q_CURSOR)
			return LS_OK;	/* first page */
		return ls_err_set(err, LS_INVALID, "parameter '%s': empty value", key);
	}
	{
		/* Values end up in JSON (audit details, manifests). */
		json_t *t = json_string(value);

		if (!t)
			return ls_err_set(err, LS_INVALID, "parameter '%s': not valid UTF-8", key);
		json_decref(t);
	}

	switch (bit) {
	case INDEX_Q_FROM: rc = parse_time(key, value, &q->from_us, err); break;
	case INDEX_Q_TO: rc = parse_time(key, value, &q->to_us, err); break;
	case INDEX_Q_RECEIVED_FROM: rc = parse_time(key, value, &q->received_from_us, err); break;
	case INDEX_Q_RECEIVED_TO: rc = parse_time(key, value, &q->received_to_us, err); break;
	case INDEX_Q_ACTOR: rc = set_str(&q->actor, value, err); break;
	case INDEX_Q_SERVICE: rc = set_str(&q->service, value, err); break;
	case INDEX_Q_RESOURCE_TYPE: rc = set_str(&q->resource_type, value, err); break;
	case INDEX_Q_RESOURCE_ID: rc = set_str(&q->resource_id, value, err); break;
	case INDEX_Q_WRITER: rc = set_str(&q->writer, value, err); break;
	case INDEX_Q_ACTION:
		if (value[n - 1] == '*') {
			if (n == 1 || memchr(value, '*', n - 1))
				return ls_err_set(err, LS_INVALID,
						  "parameter 'action': a prefix is written foo.* "
						  "(one '*', at the end, after at least one character)");
			rc = set_str(&q->action, value, err);
			if (rc == LS_OK) {
				q->action[n - 1] = '\0';
				bit = INDEX_Q_ACTION_PREFIX;
			}
		} else {
			rc = set_str(&q->action, value, err);
		}
		break;
	case INDEX_Q_OUTCOME:
		for (i = 0; outcome_names[i] && strcmp(outcome_names[i], value); i++)
			;
		if (!outcome_names[i])
			return ls_err_set(err, LS_INVALID,
					  "parameter 'outcome': must be success, failure, denied, "
					  "error or unknown");
		rc = set_str(&q->outcome, value, err);
		break;
	case INDEX_Q_SOURCE_IP: rc = parse_cidr(value, q, err); break;
	case INDEX_Q_ORDER:
		if (!strcmp(value, "asc"))
			q->order = INDEX_ASC;
		else if (!strcmp(value, "desc"))
			q->order = INDEX_DESC;
		else
			return ls_err_set(err, LS_INVALID, "parameter 'order': must be asc or desc");
		break;
	case INDEX_Q_LIMIT: {
		unsigned v = 0;

		for (i = 0; i < n; i++) {
			if (value[i] < '0' || value[i] > '9' || i >= 7)
				break;
			v = v * 10 + (unsigned)(value[i] - '0');
		}
		if (i != n || v < 1 || v > INDEX_LIMIT_MAX)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'limit': must be an integer from 1 to %d",
					  INDEX_LIMIT_MAX);
		q->limit = v;
		break;
	}
	case INDEX_Q_CURSOR: rc = index_cursor_decode(value, n, q, err); break;
	}
	if (rc == LS_OK)
		q->has |= bit;
	return rc;
}

ls_rc index_query_add(struct index_query *q, const char *key, const char *value,
		      struct ls_err *err)
{
	return query_add(q, key, value, NULL, err);
}

/* Percent-decode src[0..n) ('+' is a space) into a new string; *out NULL
 * and -1 for a bad escape, an encoded NUL or more than cap bytes. */
static int pct_decode(const char *src, size_t n, size_t cap, char **out)
{
	char *d;
	size_t i, k = 0;

	*out = NULL;
	if (n > cap * 3)
		return -1;
	d = malloc(n + 1);
	if (!d)
		return -2;
	for (i = 0; i < n; i++) {
		char c = src[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int h, l;

			if (n - i < 3 || (h = jlex_hexval((uint8_t)src[i + 1])) < 0 ||
			    (l = jlex_hexval((uint8_t)src[i + 2])) < 0)
				goto bad;
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (c == '\0' || k >= cap)
			goto bad;
		d[k++] = c;
	}
	d[k] = '\0';
	*out = d;
	return 0;
bad:
	free(d);
	return -1;
}

ls_rc index_query_parse(const char *qs, size_t n, struct index_query *q, index_param_fn extra,
			void *ctx, struct ls_err *err)
{
	size_t i = 0;
	ls_rc rc = LS_OK;

	index_query_init(q);
	if (!qs)
		return LS_OK;
	if (n > INDEX_QUERY_MAX)
		return ls_err_set(err, LS_INVALID, "query string longer than %d bytes",
				  INDEX_QUERY_MAX);
	if (memchr(qs, '\0', n))
		return ls_err_set(err, LS_INVALID, "query string holds a NUL byte");
	while (i < n && rc == LS_OK) {
		const char *pair = qs + i, *amp = memchr(pair, '&', n - i), *eq;
		size_t len = amp ? (size_t)(amp - pair) : n - i;
		char *key = NULL, *val = NULL;
		int r1, r2;

		i += len + 1;
		if (len == 0)
			continue;
		eq = memchr(pair, '=', len);
		r1 = pct_decode(pair, eq ? (size_t)(eq - pair) : len, 64, &key);
		r2 = r1 ? 0 : eq ? pct_decode(eq + 1, len - (size_t)(eq + 1 - pair), INDEX_VALUE_MAX,
					      &val)
				 : pct_decode("", 0, 1, &val);
		if (r1 == -2 || r2 == -2) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		} else if (r1) {
			rc = ls_err_set(err, LS_INVALID,
					"bad parameter name (bad percent-encoding or too long)");
		} else if (r2) {
			char shown[48];

			safe_name(key, shown, sizeof(shown));
			rc = ls_err_set(err, LS_INVALID,
					"parameter '%s': bad percent-encoding or longer than %d bytes",
					shown, INDEX_VALUE_MAX);
		} else {
			bool unknown = false;

			rc = query_add(q, key, val, &unknown, err);
			if (unknown && extra) {
				rc = extra(ctx, key, val, err);
				if (rc == LS_NOTFOUND) {
					char shown[48];

					safe_name(key, shown, sizeof(shown));
					rc = ls_err_set(err, LS_INVALID, "unknown parameter '%s'",
							shown);
				}
			}
		}
		free(key);
		free(val);
	}
	if (rc != LS_OK)
		index_query_release(q);
	return rc;
}

static int put_time(json_t *o, const char *k, int64_t us)
{
	char buf[40];

	event_format_time(us, buf, sizeof(buf));
	return json_object_set_new(o, k, json_string(buf));
}

json_t *index_query_filters_json(const struct index_query *q)
{
	json_t *o = json_object();
	int bad = 0;

	if (!o)
		return NULL;
	if (q->has & INDEX_Q_FROM)
		bad |= put_time(o, "from", q->from_us);
	if (q->has & INDEX_Q_TO)
		bad |= put_time(o, "to", q->to_us);
	if (q->has & INDEX_Q_RECEIVED_FROM)
		bad |= put_time(o, "received_from", q->received_from_us);
	if (q->has & INDEX_Q_RECEIVED_TO)
		bad |= put_time(o, "received_to", q->received_to_us);
	if (q->has & INDEX_Q_ACTOR)
		bad |= json_object_set_new(o, "actor", json_string(q->actor));
	if (q->has & INDEX_Q_ACTION)
		bad |= json_object_set_new(o, "action", json_string(q->action));
	if (q->has & INDEX_Q_ACTION_PREFIX) {
		char *p = NULL;

		if (asprintf(&p, "%s*", q->action) < 0)
			p = NULL;
		bad |= p ? json_object_set_new(o, "action", json_string(p)) : -1;
		free(p);
	}
	if (q->has & INDEX_Q_OUTCOME)
		bad |= json_object_set_new(o, "outcome", json_string(q->outcome));
	if (q->has & INDEX_Q_SOURCE_IP)
		bad |= json_object_set_new(o, "source_ip", json_string(q->source_ip));
	if (q->has & INDEX_Q_SERVICE)
		bad |= json_object_set_new(o, "service", json_string(q->service));
	if (q->has & INDEX_Q_RESOURCE_TYPE)
		bad |= json_object_set_new(o, "resource_type", json_string(q->resource_type));
	if (q->has & INDEX_Q_RESOURCE_ID)
		bad |= json_object_set_new(o, "resource_id", json_string(q->resource_id));
	if (q->has & INDEX_Q_WRITER)
		bad |= json_object_set_new(o, "writer", json_string(q->writer));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ================================================================ cursors */

static void cursor_check(const uint8_t *c, uint8_t out[12])
{
	uint8_t h[LS_HASH_LEN];

	ls_sha256(CURSOR_TAG, sizeof(CURSOR_TAG) - 1, c, 18, h);
	memcpy(out, h, 12);
}

/* First 8 bytes of SHA-256 of the normalised filters. */
static ls_rc filter_hash(const struct index_query *q, uint8_t out[8])
{
	uint8_t h[LS_HASH_LEN];
	json_t *o = index_query_filters_json(q);
	char *s;

	if (!o)
		return LS_NOMEM;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		return LS_NOMEM;
	ls_sha256(s, strlen(s), NULL, 0, h);
	free(s);
	memcpy(out, h, 8);
	return LS_OK;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_val(char c)
{
	const char *p = c ? strchr(B64URL, c) : NULL;

	return p ? (int)(p - B64URL) : -1;
}

void index_cursor_encode(const struct index_query *q, uint64_t last, char *out)
{
	uint8_t c[INDEX_CURSOR_LEN];
	size_t i, k = 0;

	c[0] = CURSOR_VERSION;
	c[1] = q->order == INDEX_ASC ? 1 : 0;
	put_be64(c + 2, last);
	if (filter_hash(q, c + 10) != LS_OK)
		memset(c + 10, 0, 8);	/* OOM: the cursor will be refused, never misread */
	cursor_check(c, c + 18);
	/* 30 bytes = 10 groups of 3 -> 40 characters, no padding. */
	for (i = 0; i < INDEX_CURSOR_LEN; i += 3) {
		uint32_t v = (uint32_t)c[i] << 16 | (uint32_t)c[i + 1] << 8 | c[i + 2];

		out[k++] = B64URL[v >> 18 & 63];
		out[k++] = B64URL[v >> 12 & 63];
		out[k++] = B64URL[v >> 6 & 63];
		out[k++] = B64URL[v & 63];
	}
	out[k] = '\0';
}

ls_rc index_cursor_decode(const char *text, size_t n, struct index_query *q, struct ls_err *err)
{
	uint8_t c[INDEX_CURSOR_LEN], chk[12];
	size_t i, k = 0;

	if (n != INDEX_CURSOR_TEXT)
		goto bad;
	for (i = 0; i < n; i += 4) {
		int a = b64url_val(text[i]), b = b64url_val(text[i + 1]);
		int d = b64url_val(text[i + 2]), e = b64url_val(text[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0 || d < 0 || e < 0)
			goto bad;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)d << 6 | (uint32_t)e;
		c[k++] = (uint8_t)(v >> 16);
		c[k++] = (uint8_t)(v >> 8);
		c[k++] = (uint8_t)v;
	}
	cursor_check(c, chk);
	if (!ls_ct_equal(chk, c + 18, sizeof(chk)) || c[0] != CURSOR_VERSION || c[1] > 1)
		goto bad;
	q->has_after = 1;
	q->after = get_be64(c + 2);
	q->cursor_order = c[1] ? INDEX_ASC : INDEX_DESC;
	memcpy(q->cursor_filter, c + 10, 8);
	return LS_OK;
bad:
	return ls_err_set(err, LS_INVALID,
			  "parameter 'cursor': not a cursor this server issued (or it was altered)");
}

/* ================================================================ running */

/* The WHERE clause of q with numbered parameters from *np on; binds go
 * through where_bind() in the same order. */
struct sqlbuf {
	char s[1536];
	size_t n;
	bool overflow;
};

static void sb_add(struct sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sqlbuf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	r = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(b->s) - b->n)
		b->overflow = true;
	else
		b->n += (size_t)r;
}

/* Upper bound of the strings starting with p: p with its last byte raised
 * (0xff bytes dropped first).  *un == 0 when there is none. */
static void prefix_upper(const char *p, char *up, size_t *un)
{
	size_t n = strlen(p);

	memcpy(up, p, n);
	while (n > 0 && (uint8_t)up[n - 1] == 0xff)
		n--;
	if (n > 0)
		up[n - 1] = (char)((uint8_t)up[n - 1] + 1);
	*un = n;
}

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

/* Hash q's personal filter values as the follower hashed the stored ones. */
static ls_rc where_prepare(struct where *w, struct index *idx, struct ls_err *err)
{
	const struct index_query *q = w->q;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int bad = !c;

	if (!bad && (q->has & INDEX_Q_ACTOR))
		bad |= blind_hash(&idx->bl, c, "actor", q->actor, strlen(q->actor), w->actor);
	if (!bad && (q->has & INDEX_Q_RESOURCE_TYPE))
		bad |= blind_hash(&idx->bl, c, "resource_type", q->resource_type,
				  strlen(q->resource_type), w->rtype);
	if (!bad && (q->has & INDEX_Q_RESOURCE_ID))
		bad |= blind_hash(&idx->bl, c, "resource_id", q->resource_id,
				  strlen(q->resource_id), w->rid);
	if (!bad && (q->has & INDEX_Q_WRITER))
		bad |= blind_hash(&idx->bl, c, "writer", q->writer, strlen(q->writer), w->writer);
	if (!bad && (q->has & INDEX_Q_SOURCE_IP)) {
		w->ipq = cidr_kind(q->ip_lo, q->ip_hi, &w->ip_bits);
		if (w->ipq == IPQ_FULL)
			bad |= blind_hash(&idx->bl, c, "source_ip", q->ip_lo, 16, w->ip);
		else if (w->ipq == IPQ_NET || w->ipq == IPQ_NET_OR_V4)
			bad |= net_hash(&idx->bl, c, q->ip_lo, w->ip_bits, &w->net);
	}
	EVP_MD_CTX_free(c);
	if (q->has & INDEX_Q_ACTION_PREFIX)
		prefix_upper(q->action, w->upper, &w->upper_n);
	if (bad)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	if ((q->has & INDEX_Q_SOURCE_IP) && w->ipq == IPQ_BAD)
		return ls_err_set(err, LS_INVALID,
				  "parameter 'source_ip': the index can search only "
				  CIDR_SUPPORTED " prefixes");
	return LS_OK;
}

static void where_sql(struct where *w, struct sqlbuf *b, bool use_after)
{
	const struct index_query *q = w->q;
	int np = w->first_param;

	sb_add(b, " WHERE 1");
	if (q->has & INDEX_Q_FROM)
		sb_add(b, " AND time_us >= ?%d", np++);
	if (q->has & INDEX_Q_TO)
		sb_add(b, " AND time_us < ?%d", np++);
	if (q->has & INDEX_Q_RECEIVED_FROM)
		sb_add(b, " AND received_us >= ?%d", np++);
	if (q->has & INDEX_Q_RECEIVED_TO)
		sb_add(b, " AND received_us < ?%d", np++);
	if (q->has & INDEX_Q_ACTOR)
		sb_add(b, " AND actor = ?%d", np++);
	if (q->has & INDEX_Q_ACTION)
		sb_add(b, " AND action = ?%d", np++);
	if (q->has & INDEX_Q_ACTION_PREFIX) {
		sb_add(b, " AND action >= ?%d", np++);
		if (w->upper_n)
			sb_add(b, " AND action < ?%d", np++);
	}
	if (q->has & INDEX_Q_OUTCOME)
		sb_add(b, " AND outcome = ?%d", np++);
	else if ((q->has & INDEX_Q_ACTION) && !w->walk)
		/* ev_action is (action, outcome, time_us): naming every outcome
		 * (event.c stores no other) lets a time range use it too. */
		for (size_t i = 0; outcome_names[i]; i++)
			sb_add(b, "%s'%s'%s", i ? "," : " AND outcome IN (", outcome_names[i],
			       outcome_names[i + 1] ? "" : ")");
	if (q->has & INDEX_Q_SOURCE_IP) {
		/* A walk probes ipnet per row; a plan driven by an index reads
		 * the prefix's rows (in idx order) and looks the events up. */
#define NET_SQL                                                                               \
	(w->walk ? "EXISTS (SELECT 1 FROM ipnet WHERE plen = ?%d AND hash = ?%d AND "          \
		   "ipnet.idx = events.idx)"                                                   \
		 : "idx IN (SELECT idx FROM ipnet WHERE plen = ?%d AND hash = ?%d)")
		switch (w->ipq) {
		case IPQ_ANY:
			sb_add(b, " AND source_ip IS NOT NULL");
			break;
		case IPQ_V4:
			sb_add(b, " AND ip_family = 4");
			break;
		case IPQ_FULL:
			sb_add(b, " AND source_ip = ?%d", np++);
			break;
		case IPQ_NET_OR_V4:
			sb_add(b, " AND (ip_family = 4 OR ");
			sb_add(b, NET_SQL, np, np + 1);
			sb_add(b, ")");
			np += 2;
			break;
		case IPQ_NET:
			if (w->join)
				sb_add(b, " AND ipnet.plen = ?%d AND ipnet.hash = ?%d", np, np + 1);
			else {
				sb_add(b, " AND ");
				sb_add(b, NET_SQL, np, np + 1);
			}
			np += 2;
			break;
		case IPQ_BAD:
			sb_add(b, " AND 0");	/* where_prepare() refused it */
			break;
		}
#undef NET_SQL
	}
	if (q->has & INDEX_Q_SERVICE)
		sb_add(b, " AND service = ?%d", np++);
	if (q->has & INDEX_Q_RESOURCE_TYPE)
		sb_add(b, " AND resource_type = ?%d", np++);
	if (q->has & INDEX_Q_RESOURCE_ID)
		sb_add(b, " AND resource_id = ?%d", np++);
	if (q->has & INDEX_Q_WRITER)
		sb_add(b, " AND writer = ?%d", np++);
	if (use_after && q->has_after)
		sb_add(b, " AND events.idx %s ?%d", q->order == INDEX_ASC ? ">" : "<", np++);
}

static int where_bind(struct where *w, sqlite3_stmt *st, bool use_after)
{
	const struct index_query *q = w->q;
	int np = w->first_param, rc = 0;

#define STR(field) rc |= col_text(st, np++, (field), strlen(field))
#define HASH(h) rc |= sqlite3_bind_blob(st, np++, (h), BLIND_LEN, SQLITE_STATIC)
	if (q->has & INDEX_Q_FROM)
		rc |= sqlite3_bind_int64(st, np++, q->from_us);
	if (q->has & INDEX_Q_TO)
		rc |= sqlite3_bind_int64(st, np++, q->to_us);
	if (q->has & INDEX_Q_RECEIVED_FROM)
		rc |= sqlite3_bind_int64(st, np++, q->received_from_us);
	if (q->has & INDEX_Q_RECEIVED_TO)
		rc |= sqlite3_bind_int64(st, np++, q->received_to_us);
	if (q->has & INDEX_Q_ACTOR)
		HASH(w->actor);
	if (q->has & INDEX_Q_ACTION)
		STR(q->action);
	if (q->has & INDEX_Q_ACTION_PREFIX) {
		STR(q->action);
		if (w->upper_n)
			rc |= col_text(st, np++, w->upper, w->upper_n);
	}
	if (q->has & INDEX_Q_OUTCOME)
		STR(q->outcome);
	if (q->has & INDEX_Q_SOURCE_IP) {
		if (w->ipq == IPQ_FULL) {
			HASH(w->ip);
		} else if (w->ipq == IPQ_NET || w->ipq == IPQ_NET_OR_V4) {
			rc |= sqlite3_bind_int(st, np++, (int)w->ip_bits);
			rc |= sqlite3_bind_int64(st, np++, w->net);
		}
	}
	if (q->has & INDEX_Q_SERVICE)
		STR(q->service);
	if (q->has & INDEX_Q_RESOURCE_TYPE)
		HASH(w->rtype);
	if (q->has & INDEX_Q_RESOURCE_ID)
		HASH(w->rid);
	if (q->has & INDEX_Q_WRITER)
		HASH(w->writer);
#undef STR
#undef HASH
	if (use_after && q->has_after)
		rc |= sqlite3_bind_int64(st, np++, (sqlite3_int64)q->after);
	return rc;
}

static ls_rc pool_get(struct index *idx, sqlite3 **db, struct ls_err *err)
{
	pthread_mutex_lock(&idx->pool_mu);
	if (idx->npool) {
		*db = idx->pool[--idx->npool];
		pthread_mutex_unlock(&idx->pool_mu);
		return LS_OK;
	}
	pthread_mutex_unlock(&idx->pool_mu);
	return db_open(idx->dbpath, false, db, err);
}

static void pool_put(struct index *idx, sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&idx->pool_mu);
	if (idx->npool < POOL_MAX) {
		idx->pool[idx->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&idx->pool_mu);
	if (db)
		sqlite3_close(db);
}

/* Start a read transaction and read the watermark it covers. */
static ls_rc read_begin(sqlite3 *db, uint64_t *wm, struct ls_err *err)
{
	sqlite3_int64 v = 0;
	bool found;
	ls_rc rc;

	rc = exec(db, "BEGIN", err);
	if (rc == LS_OK)
		rc = meta_get(db, "watermark", &v, NULL, 0, &found, err);
	if (rc == LS_OK)
		*wm = found && v > 0 ? (uint64_t)v : 0;
	return rc;
}

#define WALK_BUDGET 64	/* x 1000 VM steps, about a millisecond */

/*
 * Is the walk worth trying?  Not when an index reads only a few rows: an
 * equality on a column of many values (actor, resource id, writer, one
 * address), a CIDR block (joined, ipnet visits a subset of what the walk
 * would, in order), or one action or service within a week.  There the
 * walk would only spend its budget before the index plan runs anyway.
 */
#define WALK_MAX_RANGE_US (7LL * 86400 * 1000000)

static bool walk_first(const struct where *w)
{
	const struct index_query *q = w->q;
	unsigned both = INDEX_Q_FROM | INDEX_Q_TO;

	if (q->has & (INDEX_Q_ACTOR | INDEX_Q_RESOURCE_ID | INDEX_Q_WRITER))
		return false;
	if (w->join || ((q->has & INDEX_Q_SOURCE_IP) && w->ipq == IPQ_FULL))
		return false;
	if ((q->has & (INDEX_Q_ACTION | INDEX_Q_SERVICE)) && (q->has & both) == both &&
	    q->to_us - q->from_us <= WALK_MAX_RANGE_US)
		return false;
	return true;
}

static int budget_cb(void *arg)
{
	int *left = arg;

	return --*left < 0;
}

/* Run a SELECT idx statement into out (at most cap rows).  SQLITE_DONE,
 * SQLITE_INTERRUPT when budget (x 1000 steps; 0: none) ran out, or an
 * error code. */
static int select_idx(sqlite3 *db, const char *sql, size_t n, struct where *w, uint64_t *out,
		      uint64_t *offs, size_t cap, size_t *got, int budget)
{
	sqlite3_stmt *st;
	int step;

	*got = 0;
	if (sqlite3_prepare_v2(db, sql, (int)n, &st, NULL) != SQLITE_OK)
		return sqlite3_errcode(db);
	if (where_bind(w, st, true) != SQLITE_OK) {
		sqlite3_finalize(st);
		return SQLITE_ERROR;
	}
	if (budget)
		sqlite3_progress_handler(db, 1000, budget_cb, &budget);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *got < cap) {
		out[*got] = (uint64_t)sqlite3_column_int64(st, 0);
		offs[*got] = sqlite3_column_type(st, 1) == SQLITE_INTEGER
				     ? (uint64_t)sqlite3_column_int64(st, 1)
				     : INDEX_NO_OFFSET;
		(*got)++;
	}
	if (step == SQLITE_ROW)
		step = SQLITE_DONE;
	sqlite3_progress_handler(db, 0, NULL, NULL);
	sqlite3_finalize(st);
	return step;
}

/*
 * The tail's half of a query: where_sql()'s conditions evaluated on struct
 * trow, with SQLite's semantics (a NULL column matches nothing, TEXT
 * compares as BINARY: memcmp, then the shorter first; the cursor compares
 * as the signed integers SQLite binds).
 */
struct tmatch {
	const struct where *w;
	size_t action_n, outcome_n, service_n;
};

static int text_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c ? c : (an > bn) - (an < bn);
}

static bool text_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return a && an == bn && !memcmp(a, b, an);
}

static bool net_has(const struct trow *t, unsigned bits, sqlite3_int64 hash)
{
	const uint8_t *lens = t->flags & T_V4 ? NET_V4 : NET_V6;
	size_t i, nn = t->flags & T_V4 ? sizeof(NET_V4) : sizeof(NET_V6);

	if (!(t->flags & T_IP))
		return false;
	for (i = 0; i < nn; i++)
		if (lens[i] == bits && t->net[i] == hash)
			return true;
	return false;
}

static bool tail_match(const struct tmatch *m, const struct trow *t)
{
	const struct where *w = m->w;
	const struct index_query *q = w->q;
	unsigned has = q->has;

	if (has & (INDEX_Q_FROM | INDEX_Q_TO)) {
		if (!(t->flags & T_TIME) || ((has & INDEX_Q_FROM) && t->time_us < q->from_us) ||
		    ((has & INDEX_Q_TO) && t->time_us >= q->to_us))
			return false;
	}
	if (has & (INDEX_Q_RECEIVED_FROM | INDEX_Q_RECEIVED_TO)) {
		if (!(t->flags & T_RECEIVED) ||
		    ((has & INDEX_Q_RECEIVED_FROM) && t->received_us < q->received_from_us) ||
		    ((has & INDEX_Q_RECEIVED_TO) && t->received_us >= q->received_to_us))
			return false;
	}
	if ((has & INDEX_Q_ACTOR) &&
	    (!(t->flags & T_ACTOR) || memcmp(t->actor, w->actor, BLIND_LEN)))
		return false;
	if ((has & INDEX_Q_ACTION) && !text_eq(t->action, t->action_n, q->action, m->action_n))
		return false;
	if ((has & INDEX_Q_ACTION_PREFIX) &&
	    (!t->action || text_cmp(t->action, t->action_n, q->action, m->action_n) < 0 ||
	     (w->upper_n && text_cmp(t->action, t->action_n, w->upper, w->upper_n) >= 0)))
		return false;
	if ((has & INDEX_Q_OUTCOME) && !text_eq(t->outcome, t->outcome_n, q->outcome, m->outcome_n))
		return false;
	if (has & INDEX_Q_SOURCE_IP) {
		bool ok;

		switch (w->ipq) {
		case IPQ_ANY: ok = t->flags & T_IP; break;
		case IPQ_V4: ok = t->flags & T_V4; break;
		case IPQ_FULL: ok = (t->flags & T_IP) && !memcmp(t->ip, w->ip, BLIND_LEN); break;
		case IPQ_NET_OR_V4: ok = (t->flags & T_V4) || net_has(t, w->ip_bits, w->net); break;
		case IPQ_NET: ok = net_has(t, w->ip_bits, w->net); break;
		default: ok = false; break;
		}
		if (!ok)
			return false;
	}
	if ((has & INDEX_Q_SERVICE) && !text_eq(t->service, t->service_n, q->service, m->service_n))
		return false;
	if ((has & INDEX_Q_RESOURCE_TYPE) &&
	    (!(t->flags & T_RTYPE) || memcmp(t->rtype, w->rtype, BLIND_LEN)))
		return false;
	if ((has & INDEX_Q_RESOURCE_ID) &&
	    (!(t->flags & T_RID) || memcmp(t->rid, w->rid, BLIND_LEN)))
		return false;
	if ((has & INDEX_Q_WRITER) &&
	    (!(t->flags & T_WRITER) || memcmp(t->writer, w->writer, BLIND_LEN)))
		return false;
	return true;
}

/* The tail rows in [lo, hi) that match, in q's order after its cursor:
 * at most cap of them into out and offs.  The caller holds tail_rw (T3). */
static size_t tail_scan(struct index *idx, const struct where *w, uint64_t lo, uint64_t hi,
			uint64_t *out, uint64_t *offs, size_t cap)
{
	const struct index_query *q = w->q;
	struct tmatch m = { .w = w };
	bool asc = q->order == INDEX_ASC;
	size_t n = 0;
	uint64_t k;

	if (q->has & (INDEX_Q_ACTION | INDEX_Q_ACTION_PREFIX))
		m.action_n = strlen(q->action);
	if (q->has & INDEX_Q_OUTCOME)
		m.outcome_n = strlen(q->outcome);
	if (q->has & INDEX_Q_SERVICE)
		m.service_n = strlen(q->service);
	if (q->has_after) {
		int64_t a = (int64_t)q->after;	/* as where_bind() binds it */

		if (asc && a >= 0)
			lo = (uint64_t)a + 1 > lo ? (uint64_t)a + 1 : lo;
		else if (!asc)
			hi = a < 0 ? 0 : (uint64_t)a < hi ? (uint64_t)a : hi;
	}
	for (k = 0; lo + k < hi && n < cap; k++) {
		uint64_t i = asc ? lo + k : hi - 1 - k;
		const struct trow *t = tail_row(idx, i);

		if (tail_match(&m, t)) {
			out[n] = i;
			offs[n++] = t->joff >= 0 ? (uint64_t)t->joff : INDEX_NO_OFFSET;
		}
	}
	return n;
}

/* The tail's end for a query whose SQLite snapshot covers wm (T2). */
static uint64_t tail_snapshot(struct index *idx, uint64_t wm)
{
	uint64_t end;

	pthread_mutex_lock(&idx->mu);
	end = idx->tail_end;
	pthread_mutex_unlock(&idx->mu);
	return end > wm ? end : wm;
}

ls_rc index_query_run(struct index *idx, const struct index_query *q, uint64_t **indexes,
		      size_t *n, char **next_cursor, uint64_t *watermark, struct ls_err *err)
{
	return index_query_locate(idx, q, indexes, NULL, n, next_cursor, watermark, err);
}

ls_rc index_query_locate(struct index *idx, const struct index_query *q, uint64_t **indexes,
			 uint64_t **offsets, size_t *n, char **next_cursor, uint64_t *watermark,
			 struct ls_err *err)
{
	struct where w = { .q = q, .first_param = 1 };
	struct sqlbuf sql = { .n = 0 }, fast = { .n = 0 };
	sqlite3 *db = NULL;
	uint64_t *out = NULL, *offs = NULL, *res = NULL, *roffs = NULL, wm = 0, end = 0;
	size_t got = 0, tn = 0, total = 0, k;
	unsigned limit = q->limit ? q->limit : INDEX_LIMIT_DEFAULT;
	bool asc = q->order == INDEX_ASC, locked = false;
	int step = SQLITE_DONE;
	ls_rc rc;

	*indexes = NULL;
	if (offsets)
		*offsets = NULL;
	*n = 0;
	*next_cursor = NULL;
	if (watermark)
		*watermark = 0;
	if (limit > INDEX_LIMIT_MAX)
		limit = INDEX_LIMIT_MAX;
	if (q->has & INDEX_Q_CURSOR) {
		uint8_t fh[8];

		rc = filter_hash(q, fh);
		if (rc != LS_OK)
			return ls_err_set(err, rc, "out of memory");
		if (memcmp(fh, q->cursor_filter, 8) || q->cursor_order != q->order)
			return ls_err_set(err, LS_INVALID,
					  "parameter 'cursor': it belongs to a query with other "
					  "filters or another order");
	}
	/* Two plans.  Results are in leaf order, so a plain walk of the table
	 * in that order, filtering as it goes, is the fastest when matches are
	 * common; an index is when they are rare, but then SQLite sorts every
	 * match for the page.  Try the walk first with a small budget. */
	rc = where_prepare(&w, idx, err);
	if (rc != LS_OK)
		return rc;
	sb_add(&fast, "SELECT idx, joff FROM events NOT INDEXED");
	w.walk = true;
	where_sql(&w, &fast, true);
	w.walk = false;
	sb_add(&fast, " ORDER BY idx %s LIMIT %u", asc ? "ASC" : "DESC", limit + 1);
	/* A CIDR block's rows in ipnet are in leaf order under their (plen,
	 * hash) prefix: joined, they give the newest (or oldest) page without
	 * reading every match, which "idx IN (SELECT ...)" would. */
	w.join = w.ipq == IPQ_NET;
	sb_add(&sql, "SELECT events.idx, joff FROM events%s",
	       w.join ? " JOIN ipnet ON ipnet.idx = events.idx" : "");
	where_sql(&w, &sql, true);
	sb_add(&sql, " ORDER BY %s.idx %s LIMIT %u", w.join ? "ipnet" : "events",
	       asc ? "ASC" : "DESC", limit + 1);
	if (sql.overflow || fast.overflow)
		return ls_err_set(err, LS_LIMIT, "index: query too complex");
	/* SQLite's page, the tail's page, and the two merged. */
	out = malloc(sizeof(*out) * (limit + 1) * 3);
	offs = malloc(sizeof(*offs) * (limit + 1) * 3);
	if (!out || !offs) {
		free(out);
		free(offs);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	res = out + 2 * (limit + 1);
	roffs = offs + 2 * (limit + 1);
	rc = pool_get(idx, &db, err);
	if (rc != LS_OK)
		goto done;
	/* T3: shared before the snapshot, held through the tail scan. */
	pthread_rwlock_rdlock(&idx->tail_rw);
	locked = true;
	rc = read_begin(db, &wm, err);
	if (rc != LS_OK)
		goto done;
	end = tail_snapshot(idx, wm);
	/* Newest first: the tail's rows come first, and when they fill the
	 * page SQLite has nothing to add. */
	if (!asc)
		tn = tail_scan(idx, &w, wm, end, out + limit + 1, offs + limit + 1, limit + 1);
	if (asc || tn <= limit) {
		step = walk_first(&w) ? select_idx(db, fast.s, fast.n, &w, out, offs, limit + 1,
						   &got, WALK_BUDGET)
				      : SQLITE_INTERRUPT;
	}
	if (step == SQLITE_INTERRUPT) {
		/* An interrupted read may have ended the transaction; a new one
		 * may cover more, and the tail then starts further on. */
		if (sqlite3_get_autocommit(db)) {
			uint64_t wm2;

			rc = read_begin(db, &wm2, err);
			if (rc != LS_OK)
				goto done;
			if (wm2 != wm) {
				wm = wm2;
				end = tail_snapshot(idx, wm);
				if (!asc)
					tn = tail_scan(idx, &w, wm, end, out + limit + 1,
						       offs + limit + 1, limit + 1);
			}
		}
		got = 0;
		step = asc || tn <= limit
			       ? select_idx(db, sql.s, sql.n, &w, out, offs, limit + 1, &got, 0)
			       : SQLITE_DONE;
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(err, db, "query");
		goto done;
	}
	/* Oldest first: SQLite's rows come first; the tail only fills up. */
	if (asc && got <= limit)
		tn = tail_scan(idx, &w, wm, end, out + limit + 1, offs + limit + 1,
			       limit + 1 - got);
	pthread_rwlock_unlock(&idx->tail_rw);
	locked = false;
	for (k = 0; k < tn + got && total <= limit; k++) {
		bool from_tail = asc ? k >= got : k < tn;
		size_t at = from_tail ? limit + 1 + (asc ? k - got : k) : (asc ? k : k - tn);

		res[total] = out[at];
		roffs[total++] = offs[at];
	}
	if (total > limit) {
		total = limit;
		*next_cursor = malloc(INDEX_CURSOR_TEXT + 1);
		if (!*next_cursor) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		index_cursor_encode(q, res[total - 1], *next_cursor);
	}
	memmove(out, res, total * sizeof(*out));
	memmove(offs, roffs, total * sizeof(*offs));
done:
	if (db)
		pool_put(idx, db);
	if (locked)
		pthread_rwlock_unlock(&idx->tail_rw);
	if (rc != LS_OK) {
		free(out);
		free(offs);
		free(*next_cursor);
		*next_cursor = NULL;
		return rc;
	}
	*indexes = out;
	if (offsets)
		*offsets = offs;
	else
		free(offs);
	*n = total;
	if (watermark)
		*watermark = end;
	return LS_OK;
}

ls_rc index_entry_offset(struct index *idx, uint64_t index, uint64_t *offset,
			 struct ls_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	ls_rc rc;
	int step;

	*offset = INDEX_NO_OFFSET;
	if (index > INT64_MAX)
		return LS_NOTFOUND;
	{
		int64_t joff = -2;	/* -2: not in the tail */

		pthread_rwlock_rdlock(&idx->tail_rw);
		pthread_mutex_lock(&idx->mu);
		if (index >= idx->tail_head && index < idx->tail_end)
			joff = tail_row(idx, index)->joff;
		pthread_mutex_unlock(&idx->mu);
		pthread_rwlock_unlock(&idx->tail_rw);
		if (joff >= 0) {
			*offset = (uint64_t)joff;
			return LS_OK;
		}
		if (joff == -1)
			return LS_NOTFOUND;
	}
	rc = pool_get(idx, &db, err);
	if (rc != LS_OK)
		return rc;
	if (sqlite3_prepare_v2(db, "SELECT joff FROM events WHERE idx = ?", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, (sqlite3_int64)index) != SQLITE_OK) {
		rc = db_fail(err, db, "query");
		goto out;
	}
	step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		*offset = (uint64_t)sqlite3_column_int64(st, 0);
	else if (step == SQLITE_ROW || step == SQLITE_DONE)
		rc = LS_NOTFOUND;
	else
		rc = db_fail(err, db, "query");
out:
	sqlite3_finalize(st);
	pool_put(idx, db);
	return rc;
}

/* ================================================================== stats */

struct group {
	char *name;
	int64_t count;
};

static int group_cmp(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Append the bucket made of groups[0..n) (+ other) to arr; frees the names. */
static int flush_bucket(json_t *arr, bool timed, int64_t start_us, struct group *g, size_t n,
			int64_t other)
{
	json_t *b = json_object(), *counts = json_object();
	char tbuf[40];
	size_t i;
	int bad = !b || !counts;

	if (n)
		qsort(g, n, sizeof(*g), group_cmp);
	for (i = 0; i < n; i++) {
		/* A name jansson refuses (not UTF-8) is counted as other. */
		if (bad || i >= INDEX_STATS_MAX_GROUPS ||
		    json_object_set_new(counts, g[i].name, json_integer(g[i].count)))
			other += g[i].count;
		free(g[i].name);
	}
	if (!bad) {
		if (timed) {
			event_format_time(start_us, tbuf, sizeof(tbuf));
			bad |= json_object_set_new(b, "start", json_string(tbuf));
		} else {
			bad |= json_object_set_new(b, "start", json_null());
		}
		bad |= json_object_set_new(b, "counts", counts);
		counts = NULL;
		bad |= json_object_set_new(b, "other", json_integer(other));
		bad |= json_array_append_new(arr, b);
		b = NULL;
	}
	json_decref(counts);
	json_decref(b);
	return bad ? -1 : 0;
}

void index_stats_rows_only(struct index *idx, bool on)
{
	idx->rows_only = on;
}

/*
 * Can the rollup answer q?  Only when no filter but a time range is set,
 * both its ends on whole hours, and buckets are whole hours (or one bucket):
 * then every rollup cell lies wholly inside or outside the range and inside
 * one bucket.  Anything else is counted from the rows.
 */
static bool rollup_fits(const struct index_query *q, uint64_t bucket_seconds, int64_t *from_h,
			int64_t *to_h)
{
	const unsigned ignored = INDEX_Q_ORDER | INDEX_Q_LIMIT | INDEX_Q_CURSOR;

	if ((q->has & ~(ignored | INDEX_Q_FROM | INDEX_Q_TO)) || bucket_seconds % 3600)
		return false;
	if (q->has & INDEX_Q_FROM) {
		if (q->from_us % HOUR_US)
			return false;
		*from_h = q->from_us / HOUR_US;
	}
	if (q->has & INDEX_Q_TO) {
		if (q->to_us % HOUR_US)
			return false;
		*to_h = q->to_us / HOUR_US;
	}
	return true;
}

ls_rc index_stats(struct index *idx, const struct index_query *q, const char *group_by,
		  uint64_t bucket_seconds, json_t **out, struct ls_err *err)
{
	static const char *const groups[] = { "outcome", "action", "service", NULL };
	struct where w = { .q = q };
	struct sqlbuf sql = { .n = 0 };
	struct group *g = NULL;
	size_t ng = 0, capg = 0, nbuckets = 0;
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	json_t *res = NULL, *arr = NULL;
	int64_t cur = 0, other = 0, total = 0;
	bool timed = bucket_seconds > 0, have = false, roll;
	int64_t from_h = 0, to_h = 0;
	uint64_t wm = 0;
	int i, step, np;
	ls_rc rc = LS_OK;

	*out = NULL;
	/* Grouping by actor could only count keyed hashes, which say nothing
	 * to a reader: refused rather than answered with opaque names. */
	if (group_by && !strcmp(group_by, "actor"))
		return ls_err_set(err, LS_INVALID,
				  "parameter 'group_by': actor is not available: the index holds "
				  "actor ids only as keyed hashes (filter with actor=ID instead); "
				  "use outcome, action or service");
	for (i = 0; group_by && groups[i] && strcmp(groups[i], group_by); i++)
		;
	if (!group_by || !groups[i])
		return ls_err_set(err, LS_INVALID,
				  "parameter 'group_by': must be outcome, action or service");
	if (bucket_seconds > MAX_BUCKET_SECONDS)
		return ls_err_set(err, LS_INVALID, "parameter 'bucket': at most %lld seconds",
				  MAX_BUCKET_SECONDS);
	if (timed && (q->has & (INDEX_Q_FROM | INDEX_Q_TO)) == (INDEX_Q_FROM | INDEX_Q_TO) &&
	    q->to_us > q->from_us &&
	    (uint64_t)(q->to_us - q->from_us) / 1000000 / bucket_seconds >= INDEX_STATS_MAX_BUCKETS + 1)
		return ls_err_set(err, LS_LIMIT,
				  "more than %d buckets: use a larger bucket or a narrower range",
				  INDEX_STATS_MAX_BUCKETS);
	roll = !idx->rows_only && rollup_fits(q, bucket_seconds, &from_h, &to_h);
	rc = where_prepare(&w, idx, err);
	if (rc != LS_OK)
		return rc;
	/* ?1 is the bucket width in microseconds; the filters follow.  The
	 * rollup: ?2 the field, ?3 NO_HOUR, ?4 ?5 the range in hours.  Both
	 * give rows (bucket start, value, count) in bucket order, and the
	 * values the rows would not name (missing, not text) fall into
	 * "other" below in both. */
	w.first_param = 2;
	if (roll) {
		sb_add(&sql, "SELECT %s, value, SUM(n) FROM rollup WHERE field = ?2",
		       timed ? "hour * 3600000000 - (((hour * 3600000000 % ?1) + ?1) % ?1)"
			     : "?1");
		/* Events without a time fall in no bucket and no range. */
		if (timed || (q->has & (INDEX_Q_FROM | INDEX_Q_TO)))
			sb_add(&sql, " AND hour <> ?3");
		if (q->has & INDEX_Q_FROM)
			sb_add(&sql, " AND hour >= ?4");
		if (q->has & INDEX_Q_TO)
			sb_add(&sql, " AND hour < ?5");
		sb_add(&sql, timed ? " GROUP BY 1, 2 ORDER BY 1" : " GROUP BY 2");
	} else {
		if (timed)
			sb_add(&sql, "SELECT time_us - (((time_us %% ?1) + ?1) %% ?1), %s, COUNT(*)"
				     " FROM events", groups[i]);
		else
			sb_add(&sql, "SELECT ?1, %s, COUNT(*) FROM events", groups[i]);
		where_sql(&w, &sql, false);
		if (timed)
			sb_add(&sql, " AND time_us IS NOT NULL GROUP BY 1, 2 ORDER BY 1");
		else
			sb_add(&sql, " GROUP BY 2");
	}
	if (sql.overflow)
		return ls_err_set(err, LS_LIMIT, "index: query too complex");

	res = json_object();
	arr = json_array();
	if (!res || !arr) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto done;
	}
	rc = pool_get(idx, &db, err);
	if (rc != LS_OK)
		goto done;
	rc = read_begin(db, &wm, err);
	if (rc != LS_OK)
		goto done;
	if (sqlite3_prepare_v2(db, sql.s, (int)sql.n, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, (sqlite3_int64)(timed ? bucket_seconds * 1000000 : 0))) {
		rc = db_fail(err, db, "stats");
		goto done;
	}
	np = 0;
	if (roll) {
		/* Bound by name: a parameter the SQL does not use has index 0. */
		static const char *const names[] = { "?2", "?3", "?4", "?5" };
		const int64_t vals[] = { i, NO_HOUR, from_h, to_h };
		int k;

		for (k = 0; k < 4; k++) {
			int at = sqlite3_bind_parameter_index(st, names[k]);

			if (at > 0)
				np |= sqlite3_bind_int64(st, at, vals[k]);
		}
	} else {
		np = where_bind(&w, st, false);
	}
	if (np != SQLITE_OK) {
		rc = db_fail(err, db, "stats");
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(st, 0), c = sqlite3_column_int64(st, 2);
		/* The type first: reading a blob as text converts it. */
		bool text = sqlite3_column_type(st, 1) == SQLITE_TEXT;
		const unsigned char *name = text ? sqlite3_column_text(st, 1) : NULL;

		if (!have || b != cur) {
			if (have && flush_bucket(arr, timed, cur, g, ng, other)) {
				ng = 0;
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				goto done;
			}
			ng = 0;
			other = 0;
			cur = b;
			have = true;
			if (++nbuckets > INDEX_STATS_MAX_BUCKETS) {
				rc = ls_err_set(err, LS_LIMIT,
						"more than %d buckets: use a larger bucket or a "
						"narrower range",
						INDEX_STATS_MAX_BUCKETS);
				goto done;
			}
		}
		total += c;
		if (!name || (size_t)sqlite3_column_bytes(st, 1) != strlen((const char *)name)) {
			other += c;
			continue;
		}
		if (ng == capg) {
			size_t nc = capg ? capg * 2 : 16;
			struct group *ngp = realloc(g, nc * sizeof(*g));

			if (!ngp) {
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
				goto done;
			}
			g = ngp;
			capg = nc;
		}
		g[ng].name = strdup((const char *)name);
		if (!g[ng].name) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
		g[ng++].count = c;
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(err, db, "stats");
		goto done;
	}
	if (have) {
		int bad = flush_bucket(arr, timed, cur, g, ng, other);

		ng = 0;
		if (bad) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto done;
		}
	}
	if (json_object_set_new(res, "group_by", json_string(groups[i])) ||
	    json_object_set_new(res, "bucket", json_integer((json_int_t)bucket_seconds)) ||
	    json_object_set_new(res, "watermark", json_integer((json_int_t)wm)) ||
	    json_object_set_new(res, "total", json_integer(total)) ||
	    json_object_set(res, "buckets", arr)) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto done;
	}
done:
	while (ng > 0)
		free(g[--ng].name);
	free(g);
	sqlite3_finalize(st);
	if (db)
		pool_put(idx, db);
	json_decref(arr);
	if (rc != LS_OK) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return LS_OK;
}
