/*
 * index_blind.c - the blind index: keyed hashes of personal values (HMAC
 * with the pads hashed once), their per-thread cache, and the index key
 * (DIR/keys/index.key) with its check value.  See index.c for the scheme
 * and invariants B1-B2.
 */
#include "followers/index.h"
#include "followers/index_int.h"

/* ========================================================== blind index */

void ix_blind_free(struct blind *b)
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
		ix_blind_free(b);
		return ls_err_set(err, LS_NOMEM, "index: cannot set up HMAC-SHA256");
	}
	return LS_OK;
}

/* out = first BLIND_LEN bytes of HMAC-SHA256(K, name || 0x00 || v); w is
 * the caller's scratch context.  -1 on an OpenSSL failure (out of memory). */
int ix_blind_hash(const struct blind *b, EVP_MD_CTX *w, const char *name, const void *v,
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

struct bcache *ix_bcache_new(void)
{
	struct bcache *bc = aligned_alloc(64, sizeof(struct bcache));

	if (bc)
		memset(bc, 0, sizeof(*bc));
	return bc;
}

/* The slot of (field, v[0..n)), fetched from memory in the background;
 * NULL when there is no cache or the value is too long to keep. */
struct bslot *ix_bc_slot(struct bcache *bc, uint8_t field, const void *v, size_t n)
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

/* The blind hash of (field, v) through slot sl of ix_bc_slot() (NULL: none). */
int ix_blind_at(const struct blind *b, EVP_MD_CTX *w, struct bslot *sl, uint8_t field,
		const char *name, const void *v, size_t n, uint8_t out[BLIND_LEN])
{
	int rc;

	if (sl && sl->field == field && sl->len == n && !memcmp(sl->v, v, n)) {
		memcpy(out, sl->out, BLIND_LEN);
		return 0;
	}
	rc = ix_blind_hash(b, w, name, v, n, out);
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
	char *dir = ix_path_join(datadir, "keys"), *path = NULL, *data = NULL;
	struct stat st;
	size_t len = 0;
	int tries;
	ls_rc rc;

	path = dir ? ix_path_join(dir, INDEX_KEY_FILE) : NULL;
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
ls_rc ix_blind_open(const char *datadir, struct blind *b, uint8_t check[BLIND_LEN],
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
	if (!w || ix_blind_hash(b, w, "key-check", NULL, 0, check)) {
		EVP_MD_CTX_free(w);
		ix_blind_free(b);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	EVP_MD_CTX_free(w);
	return LS_OK;
}
