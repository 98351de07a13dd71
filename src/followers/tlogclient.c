/*
 * tlogclient.c - a reader of C2SP tlog-tiles logs (tlogclient.h), from a
 * directory or over HTTP(S) with libcurl.
 *
 * Hash tiles: tile (L, N) of a tree of size S holds the hashes of tree
 * level 8L, nodes [256N, 256N + W), where W = min(256, (S >> 8L) - 256N);
 * W < 256 is the partial tile "tile/L/N.p/W".  A node (level, index) with
 * level = 8L + r is the root of the 2^r level-8L hashes from index << r,
 * all in one tile (2^r <= 128 and aligned), hashed up r levels.
 *
 * Invariants:
 *  1. Every fetch is capped (TLOG_MAX_FETCH) and a tile must have exactly
 *     32 W bytes; a bundle exactly its W entries and no trailing byte.
 *  2. Only complete subtrees are asked for (merkle.h's contract), so a node
 *     needing a hash the tree of that size does not have is LS_INVALID.
 *  3. The cache keys tiles by (L, N, W): a partial tile is never mistaken
 *     for the full one, nor one width for another.
 */
#include "followers/tlogclient.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "core/merkle.h"
#include "store/tiles.h"

#define CACHE_SLOTS 32

struct tile_slot {
	int used;
	unsigned level, w;
	uint64_t n;
	uint64_t stamp;
	uint8_t *hashes;	/* w * 32 bytes */
};

struct tlog_src {
	char *prefix;		/* URL prefix ending in '/', or directory ending in '/' */
	int http;
	char *auth;		/* "Authorization: Bearer ..." */
	CURL *curl;
	struct tile_slot cache[CACHE_SLOTS];
	uint64_t clock;
};

ls_rc tlog_src_open(const char *where, const char *token, struct tlog_src **out,
		    struct ls_err *err)
{
	struct tlog_src *s = calloc(1, sizeof(*s));
	size_t n = strlen(where);

	*out = NULL;
	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	s->http = strncmp(where, "http://", 7) == 0 || strncmp(where, "https://", 8) == 0;
	s->prefix = malloc(n + 2);
	if (!s->prefix) {
		tlog_src_free(s);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	memcpy(s->prefix, where, n + 1);
	if (n == 0 || where[n - 1] != '/')
		s->prefix[n] = '/', s->prefix[n + 1] = 0;
	if (s->http) {
		s->curl = curl_easy_init();
		if (!s->curl) {
			tlog_src_free(s);
			return ls_err_set(err, LS_NOMEM, "cannot start libcurl");
		}
		if (token) {
			size_t tl = strlen(token) + 32;

			s->auth = malloc(tl);
			if (!s->auth) {
				tlog_src_free(s);
				return ls_err_set(err, LS_NOMEM, "out of memory");
			}
			snprintf(s->auth, tl, "Authorization: Bearer %s", token);
		}
	}
	*out = s;
	return LS_OK;
}

void tlog_src_free(struct tlog_src *s)
{
	if (!s)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++)
		free(s->cache[i].hashes);
	if (s->curl)
		curl_easy_cleanup(s->curl);
	if (s->auth) {
		ls_wipe(s->auth, strlen(s->auth));
		free(s->auth);
	}
	free(s->prefix);
	free(s);
}

struct body {
	uint8_t *p;
	size_t n, cap;
	int over;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t n = size * nmemb;

	if (b->n + n > TLOG_MAX_FETCH) {
		b->over = 1;
		return 0;
	}
	if (b->n + n + 1 > b->cap) {
		size_t nc = (b->n + n + 1) * 2;
		uint8_t *np;

		if (nc > TLOG_MAX_FETCH + 1)
			nc = TLOG_MAX_FETCH + 1;
		np = realloc(b->p, nc);
		if (!np)
			return 0;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	return n;
}

ls_rc tlog_src_get(struct tlog_src *s, const char *path, uint8_t **data, size_t *len,
		   struct ls_err *err)
{
	size_t ul = strlen(s->prefix) + strlen(path) + 1;
	char *url = malloc(ul);
	struct curl_slist *hdrs = NULL;
	struct body b = { 0 };
	long status = 0;
	CURLcode cc;
	ls_rc rc;

	*data = NULL;
	*len = 0;
	if (!url)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	snprintf(url, ul, "%s%s", s->prefix, path);
	if (!s->http) {
		char *d = NULL;

		rc = fs_read_file(url, TLOG_MAX_FETCH, &d, len, err);
		if (rc == LS_NOTFOUND)
			ls_err_set(err, rc, "%s: no such file", url);
		free(url);
		*data = (uint8_t *)d;
		return rc;
	}
	curl_easy_reset(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &b);
	if (s->auth) {
		hdrs = curl_slist_append(NULL, s->auth);
		curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
	}
	cc = curl_easy_perform(s->curl);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		rc = ls_err_set(err, b.over ? LS_LIMIT : LS_IO, "GET %s: %s", url,
				b.over ? "reply too large" : curl_easy_strerror(cc));
	} else if (status == 404) {
		rc = ls_err_set(err, LS_NOTFOUND, "GET %s: 404", url);
	} else if (status != 200) {
		rc = ls_err_set(err, status == 401 || status == 403 ? LS_DENIED : LS_IO,
				"GET %s: HTTP %ld", url, status);
	} else {
		if (!b.p)
			b.p = malloc(1);
		if (!b.p) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
		} else {
			b.p[b.n] = 0;
			*data = b.p;
			*len = b.n;
			b.p = NULL;
			rc = LS_OK;
		}
	}
	free(b.p);
	free(url);
	return rc;
}

/* The level-8L tile N of width w, through the cache. */
static ls_rc get_tile(struct tlog_src *s, unsigned level, uint64_t n, unsigned w,
		      const uint8_t **hashes, struct ls_err *err)
{
	struct tile_slot *victim = &s->cache[0];
	char path[TILES_PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	ls_rc rc;

	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct tile_slot *t = &s->cache[i];

		if (t->used && t->level == level && t->n == n && t->w == w) {
			t->stamp = ++s->clock;
			*hashes = t->hashes;
			return LS_OK;
		}
		if (!t->used || t->stamp < victim->stamp)
			victim = t;
	}
	rc = tiles_path((int)level, n, w, path, sizeof(path));
	if (rc != LS_OK)
		return ls_err_set(err, rc, "tile path");
	rc = tlog_src_get(s, path, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	if (len != (size_t)w * LS_HASH_LEN) {
		free(data);
		return ls_err_set(err, LS_CORRUPT, "%s: %zu bytes, want %u", path, len,
				  w * LS_HASH_LEN);
	}
	free(victim->hashes);
	victim->used = 1;
	victim->level = level;
	victim->n = n;
	victim->w = w;
	victim->hashes = data;
	victim->stamp = ++s->clock;
	*hashes = data;
	return LS_OK;
}

ls_rc tlog_node_hash(void *ctx, unsigned level, uint64_t index, uint8_t out[LS_HASH_LEN])
{
	struct tlog_tree *t = ctx;
	unsigned L = level / TILE_HEIGHT, r = level % TILE_HEIGHT, w;
	uint64_t first, count, n, have;
	uint8_t buf[128][LS_HASH_LEN];
	const uint8_t *h = NULL;
	ls_rc rc;

	if (level >= 64 || index > (UINT64_MAX >> r))
		return ls_err_set(t->err, LS_INVALID, "node out of range");
	first = index << r;
	count = 1ull << r;
	have = L * TILE_HEIGHT >= 64 ? 0 : t->size >> (L * TILE_HEIGHT);
	if (first + count > have || first + count < first)
		return ls_err_set(t->err, LS_INVALID, "node (%u, %llu) is not in a tree of %llu",
				  level, (unsigned long long)index, (unsigned long long)t->size);
	n = first / TILE_WIDTH;
	w = have - n * TILE_WIDTH >= TILE_WIDTH ? TILE_WIDTH : (unsigned)(have - n * TILE_WIDTH);
	rc = get_tile(t->src, L, n, w, &h, t->err);
	if (rc != LS_OK)
		return rc;
	memcpy(buf, h + (first - n * TILE_WIDTH) * LS_HASH_LEN, count * LS_HASH_LEN);
	for (; count > 1; count /= 2)
		for (uint64_t i = 0; i < count / 2; i++)
			merkle_node_hash(buf[2 * i], buf[2 * i + 1], buf[i]);
	memcpy(out, buf[0], LS_HASH_LEN);
	return LS_OK;
}

ls_rc tlog_entries(struct tlog_src *s, uint64_t size, uint64_t from, uint64_t to,
		   tlog_entry_fn fn, void *ctx, struct ls_err *err)
{
	if (to > size || from > to)
		return ls_err_set(err, LS_INVALID, "entries [%llu, %llu) not in a tree of %llu",
				  (unsigned long long)from, (unsigned long long)to,
				  (unsigned long long)size);
	for (uint64_t n = from / TILE_WIDTH; n * TILE_WIDTH < to; n++) {
		unsigned w = size - n * TILE_WIDTH >= TILE_WIDTH ? TILE_WIDTH
								: (unsigned)(size - n * TILE_WIDTH);
		char path[TILES_PATH_MAX];
		uint8_t *data = NULL;
		size_t len = 0, o = 0;
		ls_rc rc;

		rc = tiles_path(-1, n, w, path, sizeof(path));
		if (rc == LS_OK)
			rc = tlog_src_get(s, path, &data, &len, err);
		if (rc != LS_OK)
			return rc;
		for (unsigned i = 0; i < w; i++) {
			uint64_t idx = n * TILE_WIDTH + i;
			size_t el;

			if (len - o < 2) {
				rc = ls_err_set(err, LS_CORRUPT, "%s: truncated at entry %u", path, i);
				break;
			}
			el = (size_t)data[o] << 8 | data[o + 1];
			o += 2;
			if (len - o < el) {
				rc = ls_err_set(err, LS_CORRUPT, "%s: truncated at entry %u", path, i);
				break;
			}
			if (idx >= from && idx < to) {
				rc = fn(ctx, idx, data + o, el);
				if (rc != LS_OK)
					break;
			}
			o += el;
		}
		if (rc == LS_OK && o != len)
			rc = ls_err_set(err, LS_CORRUPT, "%s: %zu bytes after its %u entries", path,
					len - o, w);
		free(data);
		if (rc != LS_OK)
			return rc;
	}
	return LS_OK;
}
