/*
 * index.c - the query index (see index.h for the API and its invariants):
 * this file opens it, reconciles its files with the journal at start,
 * takes the feed, runs the waits and closes it; the other pieces (the
 * follower threads, files, blind hashing, rows and terms, rebuild and
 * verify, queries, stats) are listed in index_int.h.  What follows
 * describes the whole index.
 *
 * Posting lists per range of leaves.  Range k holds leaves [k*L, (k+1)*L),
 * L = index_set_range_leaves() (the segment size).  For each leaf, its
 * entry's terms (index_terms.c; pf_field in core/postings.h):
 *	PF_ACTION, PF_OUTCOME, PF_SERVICE	the plaintext value (its first 255
 *						bytes; an empty value has none)
 *	PF_ACTOR, PF_RTYPE, PF_RID, PF_WRITER	first TERM_HASH_LEN (8) bytes of
 *						B(name, value) (collisions:
 *						docs/FORMAT.md, "Index and
 *						searchable fields")
 *	PF_IP					the same of B("source_ip", address)
 *	PF_NET					plen || first 8 bytes of B("source_net",
 *						plen || masked address), per kept length
 *	PF_FAMILY				4 or 6
 * and the columns time and received (us).  Queries intersect the sets of
 * their filters in each range, newest range first (asc: oldest), and check
 * time filters on the columns; stats count the matches per bucket from the
 * columns and the plaintext values.
 *
 * Files in DIR/index/:
 *	<016x first>.post	one per sealed range (all L leaves extracted):
 *				postings_encode() bytes, docs/FORMAT.md section 12,
 *				written once (temp file, fsync, rename, fsync dir)
 *	meta			key check, L and the last sealed leaf with the
 *				SHA-256 of its entry (index_files.c)
 *	lock			flock()ed by index_open() and index_rebuild(), so
 *				that a reindex never rewrites files under a server
 * A leftover index.sqlite (and -wal, -shm) of the SQLite index this
 * replaced is deleted at open: the index is derived data.
 *
 * The blind index: B(name, v) = HMAC-SHA256(K, name || 0x00 || v), first
 * BLIND_LEN bytes, with K the index key (index_blind.c).  No file holds a
 * personal value in plaintext; equality filters hash the filter value the
 * same way.  Addresses are 16 bytes with IPv4 as ::ffff:a.b.c.d, and plen
 * counts bits of that 128-bit form, so IPv4 /8 /16 /24 are plen 104 112 120
 * and IPv6 /16 /32 /48 /56 /64 are plen 16..64; /32 and /128 are PF_IP;
 * IPv4 /0 is PF_FAMILY 4 and ::/0 any address.  No other prefix length can
 * be answered, so none is accepted (parse_cidr()).
 *  B1. Every .post file was written under the key whose check is in meta:
 *      index_start() deletes them all when the key or L differ.
 *
 * Threads.  The extractor (index_follow.c) reads entries from the feed or
 * the journal, turns each into its terms and adds them to the range in
 * memory (b[k & 1], under act_rw exclusive), then publishes the watermark
 * under mu.  When a range is complete, the writer thread encodes it,
 * writes its .post file and meta, then (act_rw exclusive, mu) appends it to
 * the sealed ranges (its postings are freed: the file is read from now on,
 * remembered as checked).  Queries read the watermark and the number of
 * sealed ranges under mu (ix_snapshot()), then each range: a sealed one as
 * a view of its mapped file (index_files.c; mapped on a miss), a range in
 * memory under act_rw shared, only its leaves below the snapshot.
 *  F1. The extractor publishes a range's last leaf before marking it
 *      complete, so nranges * L <= W always.
 *  F2. At most two ranges are in memory: the extractor waits before
 *      starting range k while range k - 2 is unwritten (ext_waiting).
 *
 * Memory budget (nothing else grows with the log but the array of sealed
 * range descriptors, 48 bytes a range, and the stat of each range's file
 * once checked, 32 bytes a range: 80 bytes a range, 12 KiB at 10 M
 * entries):
 *	feed (index_feed() copies)	FEED_MAX_BYTES = 16 MiB
 *	ranges in memory		2 x postings of L leaves (L = 65536 of
 *					events of the bench's shape: a few
 *					MiB each), plus 2 x L x 8 bytes (1 MiB)
 *					of journal offsets
 *	sealed ranges mapped		CACHE_SLOTS = 1024 (67 M entries at
 *					L = 65536; LRU, a range a query holds
 *					stays while held): the file's bytes are
 *					page cache (mmap, not RssAnon); each
 *					costs its view, a few KiB of heap (the
 *					time columns' block offsets, HAS sets,
 *					the value fields' entry offsets): at
 *					most ~10 MiB for all 1024
 *	extractor scratch		2 x 64 KiB arena, 256 KiB hash cache
 *	queries				limit + 1 results, one set per filter
 *	stats				one counter per (bucket, value) met
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
#include "followers/index_int.h"

char *ix_path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* ============================================================= lifecycle */

/* The SQLite index this replaced: derived data, deleted. */
static ls_rc remove_sqlite(const char *idir, struct ls_err *err)
{
	static const char *const names[] = { "index.sqlite", "index.sqlite-wal",
					     "index.sqlite-shm", "index.sqlite-journal",
					     "index.sqlite.rebuild" };
	bool any = false;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = ix_path_join(idir, names[i]);

		if (!p)
			return ls_err_set(err, LS_NOMEM, "out of memory");
		if (unlink(p) == 0)
			any = true;
		else if (errno != ENOENT) {
			ls_rc rc = ls_err_set(err, LS_IO, "%s: %s", p, strerror(errno));

			free(p);
			return rc;
		}
		free(p);
	}
	return any ? fs_sync_dir(idir, err) : LS_OK;
}

ls_rc index_open(const char *datadir, struct index **out, struct ls_err *err)
{
	struct index *idx;
	pthread_condattr_t ca;
	struct meta m;
	uint64_t *f = NULL;
	size_t nf = 0, i;
	ls_rc rc;

	*out = NULL;
	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	idx->lockfd = -1;
	idx->L = INDEX_RANGE_LEAVES_DEFAULT;
	pthread_mutex_init(&idx->mu, NULL);
	pthread_mutex_init(&idx->cmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&idx->wake, &ca);
	pthread_cond_init(&idx->wcv, &ca);
	pthread_cond_init(&idx->moved, &ca);
	pthread_condattr_destroy(&ca);
	{
		/* The extractor, waiting to add a row, goes before new queries. */
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&idx->act_rw, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	idx->datadir = strdup(datadir);
	idx->jdir = ix_path_join(datadir, "journal");
	idx->idir = ix_path_join(datadir, "index");
	if (!idx->datadir || !idx->jdir || !idx->idir) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto fail;
	}
	rc = fs_mkdirs(idx->idir, 0700, err);
	if (rc == LS_OK)
		rc = ix_lock_dir(idx->idir, &idx->lockfd, err);
	if (rc == LS_OK)
		rc = ix_blind_open(datadir, &idx->bl, idx->check, err);
	if (rc == LS_OK)
		rc = remove_sqlite(idx->idir, err);
	if (rc != LS_OK)
		goto fail;
	/* The watermark before start: the .post files that follow each
	 * other from leaf 0 (index_start() checks them). */
	if (ix_meta_read(idx->idir, &m, err) == LS_OK &&
	    ls_ct_equal(m.check, idx->check, BLIND_LEN)) {
		rc = ix_post_list(idx->idir, &f, &nf, err);
		if (rc != LS_OK)
			goto fail;
		for (i = 0; i < nf && f[i] == (uint64_t)i * m.L; i++)
			;
		idx->end = (uint64_t)i * m.L;
		free(f);
	}
	*out = idx;
	return LS_OK;
fail:
	index_close(idx);
	return rc;
}

void index_set_range_leaves(struct index *idx, uint32_t leaves)
{
	if (leaves == 0)
		leaves = INDEX_RANGE_LEAVES_DEFAULT;
	if (leaves % 256)
		leaves += 256 - leaves % 256;
	pthread_mutex_lock(&idx->mu);
	if (!idx->started)
		idx->L = leaves;
	pthread_mutex_unlock(&idx->mu);
}

/* 1 when entry k is in the journal (its SHA-256 in hash), 2 when it was
 * there and retention moved it out (below the retained point; hash not
 * set), 0 when not, <0 (rc in *why) on error. */
static int journal_has(const char *jdir, uint64_t k, uint8_t hash[LS_HASH_LEN], ls_rc *why,
		       struct ls_err *err)
{
	struct store_iter *it;
	const uint8_t *data;
	size_t len;
	uint64_t at, kept = 0;
	ls_rc rc;

	rc = store_retained(jdir, &kept, err);
	if (rc != LS_OK) {
		*why = rc;
		return -1;
	}
	if (k < kept)
		return 2;
	rc = store_iter_open(jdir, k, 0, &it, err);
	if (rc == LS_NOTFOUND)
		return 0;
	if (rc != LS_OK) {
		*why = rc;
		return -1;
	}
	rc = store_iter_next(it, &data, &len, &at, err);
	if (rc == LS_OK && hash)
		ls_sha256(data, len, NULL, 0, hash);
	store_iter_free(it);
	if (rc == LS_NOTFOUND || (rc == LS_OK && at != k))
		return 0;
	if (rc != LS_OK) {
		*why = rc;
		return -1;
	}
	return 1;
}

/*
 * Invariant 3: keep the .post files that follow each other from leaf 0,
 * lie within the journal, decode, and were made from this journal (the
 * hash of the last sealed leaf in meta); delete the others.  The kept ones
 * become the sealed ranges (and fill the cache).
 */
static ls_rc reconcile(struct index *idx, struct ls_err *err)
{
	struct meta m;
	uint64_t *f = NULL, L = idx->L;
	uint8_t h[LS_HASH_LEN];
	size_t nf = 0, keep, i;
	ls_rc rc, why = LS_OK;
	int has;

	rc = ix_meta_read(idx->idir, &m, err);
	if (rc != LS_OK && rc != LS_NOTFOUND && rc != LS_CORRUPT)
		return rc;
	if (rc != LS_OK || !ls_ct_equal(m.check, idx->check, BLIND_LEN) || m.L != idx->L) {
		/* Another key or range size (B1), or no meta: start over. */
		rc = ix_post_remove_from(idx->idir, 0, err);
		memset(&m, 0, sizeof(m));
		memcpy(m.check, idx->check, BLIND_LEN);
		m.L = idx->L;
		if (rc == LS_OK)
			rc = ix_meta_write(idx->idir, &m, err);
		if (rc != LS_OK)
			return rc;
	}
	rc = ix_post_list(idx->idir, &f, &nf, err);
	if (rc != LS_OK)
		return rc;
	for (keep = 0; keep < nf && f[keep] == keep * L; keep++)
		;
	/* Made from another journal: the leaf meta names differs. */
	if (keep && m.has_last && m.last < keep * L) {
		has = journal_has(idx->jdir, m.last, h, &why, err);
		if (has < 0) {
			free(f);
			return why;
		}
		/* (not there: a cut tail, handled next; retained away:
		 * nothing to compare) */
		if (has == 1 && !ls_ct_equal(h, m.last_hash, LS_HASH_LEN))
			keep = 0;
	}
	/* Past the journal's end (a torn tail was cut, or another journal). */
	while (keep) {
		has = journal_has(idx->jdir, keep * L - 1, h, &why, err);
		if (has < 0) {
			free(f);
			return why;
		}
		if (has)
			break;
		keep--;
	}
	free(f);
	/* Each kept file must map and hold L leaves (its header and fixed
	 * parts: the rest is checked at its first query, index_files.c). */
	for (i = 0; i < keep; i++) {
		struct range r;
		struct ls_err e2;

		rc = ix_post_check(idx, (uint64_t)i * L, &r, &e2);
		if (rc == LS_NOMEM || rc == LS_IO)
			return ls_err_set(err, rc, "%s", e2.msg);
		if (rc != LS_OK)
			break;
		pthread_mutex_lock(&idx->mu);
		if (ix_ranges_append(idx, &r)) {
			pthread_mutex_unlock(&idx->mu);
			return ls_err_set(err, LS_NOMEM, "out of memory");
		}
		pthread_mutex_unlock(&idx->mu);
	}
	keep = i;
	rc = ix_post_remove_from(idx->idir, (uint64_t)keep * L, err);
	if (rc != LS_OK)
		return rc;
	/* meta names the last kept leaf from now on. */
	m.has_last = false;
	if (keep) {
		has = journal_has(idx->jdir, keep * L - 1, m.last_hash, &why, err);
		if (has < 0)
			return why;
		m.has_last = has == 1;
		m.last = keep * L - 1;
	}
	rc = ix_meta_write(idx->idir, &m, err);
	if (rc != LS_OK)
		return rc;
	pthread_mutex_lock(&idx->mu);
	idx->end = (uint64_t)keep * L;
	pthread_mutex_unlock(&idx->mu);
	return LS_OK;
}

void ix_follower_fail(struct index *idx, ls_rc rc, const char *msg)
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

ls_rc index_start(struct index *idx, struct ls_err *err)
{
	ls_rc rc;

	if (idx->started)
		return ls_err_set(err, LS_INVALID, "index: already started");
	rc = reconcile(idx, err);
	if (rc != LS_OK)
		return rc;
	pthread_mutex_lock(&idx->mu);
	if (pthread_create(&idx->wr_thread, NULL, ix_writer, idx) != 0) {
		pthread_mutex_unlock(&idx->mu);
		return ls_err_set(err, LS_NOMEM, "index: cannot start the writer thread");
	}
	if (pthread_create(&idx->ext_thread, NULL, ix_extractor, idx) != 0) {
		idx->stop = true;
		idx->ext_done = true;
		pthread_cond_broadcast(&idx->wcv);
		pthread_mutex_unlock(&idx->mu);
		pthread_join(idx->wr_thread, NULL);
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
struct fbatch *ix_feed_at(struct index *idx, uint64_t next)
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
	wm = idx->end;
	pthread_mutex_unlock(&idx->mu);
	return wm;
}

uint64_t index_fresh_watermark(struct index *idx)
{
	return index_watermark(idx);
}

static bool wait_done(const struct index *idx, bool extracted, uint64_t size)
{
	return idx->end >= size || (extracted && idx->ext_waiting);
}

static ls_rc wait_until(struct index *idx, bool extracted, uint64_t size, unsigned timeout_ms)
{
	struct timespec ts;
	ls_rc rc = LS_OK;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&idx->mu);
	idx->waiters++;
	while (!wait_done(idx, extracted, size)) {
		if (idx->failed || !idx->started || idx->stop) {
			rc = LS_FAILED;
			break;
		}
		if (pthread_cond_timedwait(&idx->moved, &idx->mu, &ts) == ETIMEDOUT) {
			rc = wait_done(idx, extracted, size) ? LS_OK : LS_BUSY;
			break;
		}
	}
	idx->waiters--;
	pthread_mutex_unlock(&idx->mu);
	return rc;
}

ls_rc index_wait(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, false, size, timeout_ms);
}

ls_rc index_wait_fresh(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, false, size, timeout_ms);
}

ls_rc index_wait_extracted(struct index *idx, uint64_t size, unsigned timeout_ms)
{
	return wait_until(idx, true, size, timeout_ms);
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

void index_stats_rows_only(struct index *idx, bool on)
{
	(void)idx;
	(void)on;
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
	pthread_mutex_unlock(&idx->mu);
	/* The extractor stops first; the writer then writes a complete range
	 * it still holds; the active one is extracted again at next start. */
	if (idx->started) {
		pthread_join(idx->ext_thread, NULL);
		pthread_join(idx->wr_thread, NULL);
	}
	for (i = 0; i < 2; i++)
		ix_building_free(&idx->b[i]);
	ix_cache_free(idx);
	feed_free(idx);
	for (i = 0; i < idx->nold; i++)
		free(idx->old[i]);
	free(idx->old);
	free(idx->ranges);
	if (idx->lockfd >= 0)
		close(idx->lockfd);
	pthread_cond_destroy(&idx->wake);
	pthread_cond_destroy(&idx->wcv);
	pthread_cond_destroy(&idx->moved);
	pthread_rwlock_destroy(&idx->act_rw);
	pthread_mutex_destroy(&idx->mu);
	pthread_mutex_destroy(&idx->cmu);
	ix_blind_free(&idx->bl);
	free(idx->datadir);
	free(idx->jdir);
	free(idx->idir);
	free(idx);
}
