/*
 * restore.c - `logseal restore`: a data directory rebuilt from the bucket
 * (see restore.h for the steps and what is checked).
 */
#include "followers/restore.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "core/merkle.h"
#include "core/note.h"
#include "followers/index.h"
#include "followers/upload.h"
#include "followers/verify.h"
#include "store/bundlekey.h"
#include "store/check.h"
#include "store/objstore.h"
#include "store/restore_store.h"
#include "store/tiles.h"

#define KEYFILE_MAX (1u << 20)
#define NOTE_MAX (1u << 20)

struct keys_list {
	char **v;
	uint64_t *sizes;
	size_t n, cap;
};

static int list_add(void *ctx, const char *key, uint64_t size)
{
	struct keys_list *l = ctx;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		char **nv = realloc(l->v, nc * sizeof(*nv));
		uint64_t *ns;

		if (!nv)
			return 1;
		l->v = nv;
		ns = realloc(l->sizes, nc * sizeof(*ns));
		if (!ns)
			return 1;
		l->sizes = ns;
		l->cap = nc;
	}
	if (!(l->v[l->n] = strdup(key)))
		return 1;
	l->sizes[l->n++] = size;
	return 0;
}

static void list_free(struct keys_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->sizes);
	memset(l, 0, sizeof(*l));
}

static void say(const struct restore_opts *o, const char *step, uint64_t done, uint64_t total)
{
	if (o->progress)
		o->progress(o->ctx, step, done, total);
}

/* Copy KEYDIR/keys/<name> to DIR/keys/<name>: LS_NOTFOUND when absent. */
static ls_rc copy_key(const char *keydir, const char *dir, const char *name, struct ls_err *err)
{
	char src[PATH_MAX], dst[PATH_MAX], *data;
	size_t len;
	ls_rc rc;

	snprintf(src, sizeof(src), "%s/keys/%s", keydir, name);
	rc = fs_read_file(src, KEYFILE_MAX, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	snprintf(dst, sizeof(dst), "%s/keys/%s", dir, name);
	rc = fs_write_file(dst, data, len, 0600, 1, err);
	ls_wipe(data, len);
	free(data);
	return rc;
}

static ls_rc get_to(struct objstore *os, const char *key, const char *path, uint64_t size,
		    struct restore_report *rep, struct ls_err *err)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	ls_rc rc;

	if (slash) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
		rc = fs_mkdirs(parent, 0700, err);
		if (rc != LS_OK)
			return rc;
	}
	rc = objstore_get_file(os, key, path, err);
	if (rc == LS_OK)
		rep->bytes += size;
	return rc;
}

/* The note's checkpoint (body up to the blank line). */
static ls_rc note_cp(const char *note, const char *what, struct checkpoint *cp,
		     struct ls_err *err)
{
	const char *sep = strstr(note, "\n\n");

	if (!sep)
		return ls_err_set(err, LS_CORRUPT, "%s: not a signed note", what);
	return checkpoint_parse(note, (size_t)(sep - note) + 1, cp, err);
}

/* The C2SP bundle bytes of bundle n (width w) from the bucket. */
static ls_rc get_bundle(struct objstore *os, const uint8_t *bkey, const char *origin, uint64_t n,
			unsigned w, uint8_t **out, size_t *len, struct restore_report *rep,
			struct ls_err *err)
{
	char key[OBJSTORE_KEY_MAX];
	char *data = NULL;
	size_t dlen;
	ls_rc rc;

	upload_tile_key(-1, n, w, key, sizeof(key));
	rc = objstore_get(os, key, &data, &dlen, 0, err);
	if (rc != LS_OK)
		return rc;
	rep->bytes += dlen;
	if (!bkey) {
		*out = (uint8_t *)data;
		*len = dlen;
		return LS_OK;
	}
	rc = bundlekey_open(bkey, origin, n, w, data, dlen, out, len, err);
	free(data);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "object %s: %s", key, err ? err->msg : "");
	return LS_OK;
}

/* Split a bundle into its w entries (pointers into b), appended to v. */
static ls_rc bundle_split(const uint8_t *b, size_t len, unsigned w, const char *what,
			  struct iovec *v, struct ls_err *err)
{
	size_t pos = 0;

	for (unsigned i = 0; i < w; i++) {
		size_t n;

		if (len - pos < 2)
			return ls_err_set(err, LS_TAMPERED, "%s: ends before entry %u", what, i);
		n = (size_t)b[pos] << 8 | b[pos + 1];
		if (n == 0 || len - pos - 2 < n)
			return ls_err_set(err, LS_TAMPERED, "%s: entry %u is cut", what, i);
		v[i].iov_base = (void *)(b + pos + 2);
		v[i].iov_len = n;
		pos += 2 + n;
	}
	if (pos != len)
		return ls_err_set(err, LS_TAMPERED, "%s: bytes after entry %u", what, w);
	return LS_OK;
}

/* 1 when key is a full level-0 tile "log/tile/0/x001/234" (*n its index). */
static int level0_full(const char *key, uint64_t *n)
{
	const char *p = key + strlen("log/tile/0/");
	uint64_t v = 0;
	int digits = 0;

	if (strncmp(key, "log/tile/0/", 11) || strstr(key, ".p"))
		return 0;
	for (; *p; p++) {
		if (*p == 'x' || *p == '/')
			continue;
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
		digits++;
	}
	*n = v;
	return digits > 0;
}

static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return errno == ENOENT ? 1 : 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

ls_rc restore_run(const struct restore_opts *o, struct restore_report *rep, struct ls_err *err)
{
	const char *dir = o->data;
	struct objstore_cfg cfg;
	struct objstore *os = NULL;
	struct keys_list segs = { 0 }, tiles = { 0 }, cps = { 0 };
	struct note_signer signer = { 0 };
	struct note_verifier ver;
	struct checkpoint latest;
	struct timespec t0, t1;
	char path[PATH_MAX + 64], vkey[512], *bvkey = NULL, *note = NULL, *text = NULL;
	uint8_t bkey[BUNDLEKEY_LEN], *bkp = NULL;
	size_t len;
	int encrypted;
	ls_rc rc;

	memset(rep, 0, sizeof(*rep));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!dir_empty(dir))
		return ls_err_set(err, LS_EXISTS, "%s: not empty (restore makes a new data directory)",
				  dir);
	snprintf(path, sizeof(path), "%s/keys", dir);
	rc = fs_mkdirs(path, 0700, err);
	if (rc != LS_OK)
		return rc;

	/* 1. Keys. */
	rc = copy_key(o->keys, dir, "log.key", err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_NOTFOUND, "%s/keys/log.key: missing (the log's signing key)",
				  o->keys);
	if (rc != LS_OK)
		return rc;
	rc = copy_key(o->keys, dir, "master.json", err);
	if (rc != LS_OK && rc != LS_NOTFOUND)
		return rc;
	encrypted = rc == LS_OK;
	snprintf(path, sizeof(path), "%s/keys/log.key", dir);
	rc = fs_read_file(path, KEYFILE_MAX, &text, &len, err);
	if (rc != LS_OK)
		return rc;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	rc = note_signer_parse(text, len, &signer, err);
	ls_wipe(text, len);
	free(text);
	text = NULL;
	if (rc != LS_OK)
		return rc;
	note_signer_verifier(&signer, &ver);
	rc = note_verifier_format(&ver, vkey, sizeof(vkey) - 2);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "cannot format the verifier key");

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.url, sizeof(cfg.url), "%s", o->from);
	if (o->endpoint)
		snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", o->endpoint);
	if (o->region)
		snprintf(cfg.region, sizeof(cfg.region), "%s", o->region);
	cfg.path_style = o->path_style;
	rc = objstore_cfg_env(&cfg, err);
	if (rc == LS_OK)
		rc = objstore_open(&cfg, &os, err);
	if (rc != LS_OK)
		goto out;
	rc = objstore_get(os, "keys/verifier.key", &bvkey, &len, KEYFILE_MAX, err);
	if (rc != LS_OK)
		goto out;
	while (len && (bvkey[len - 1] == '\n' || bvkey[len - 1] == '\r'))
		bvkey[--len] = 0;
	if (strcmp(bvkey, vkey)) {
		rc = ls_err_set(err, LS_TAMPERED,
				"object keys/verifier.key (%s) is not the verifier of %s/keys/log.key "
				"(%s): another log's bucket, or another log's key",
				bvkey, o->keys, vkey);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/verifier.key", dir);
	len = strlen(vkey);
	vkey[len] = '\n';
	rc = fs_write_file(path, vkey, len + 1, 0644, 0, err);
	vkey[len] = 0;
	if (rc != LS_OK)
		goto out;
	if (encrypted) {
		snprintf(path, sizeof(path), "%s/keys/datakeys.json", dir);
		rc = get_to(os, "keys/datakeys.json", path, 0, rep, err);
		if (rc == LS_OK)
			rc = bundlekey_get(dir, bkey, err);
		if (rc != LS_OK)
			goto out;
		bkp = bkey;
	}

	/* 2. The latest checkpoint, its signature, then the objects. */
	rc = objstore_get(os, "log/checkpoint", &note, &len, NOTE_MAX, err);
	if (rc == LS_OK) {
		size_t tl;

		rc = note_open(note, len, &ver, 1, &tl, err);
		if (rc != LS_OK)
			rc = ls_err_set(err, LS_TAMPERED,
					"object log/checkpoint: not signed by the key of %s/keys/log.key "
					"(%s)",
					o->keys, err ? err->msg : "");
	}
	if (rc == LS_OK)
		rc = note_cp(note, "object log/checkpoint", &latest, err);
	if (rc != LS_OK)
		goto out;
	rep->size = latest.size;
	if ((rc = objstore_list(os, "segments/", list_add, &segs, err)) != LS_OK ||
	    (rc = objstore_list(os, "log/tile/", list_add, &tiles, err)) != LS_OK ||
	    (rc = objstore_list(os, "checkpoints/", list_add, &cps, err)) != LS_OK)
		goto out;
	for (size_t i = 0; i < segs.n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, segs.v[i]);
		rc = get_to(os, segs.v[i], path, segs.sizes[i], rep, err);
		if (rc != LS_OK)
			goto out;
		rep->segments++;
		say(o, "segments", i + 1, segs.n);
	}
	snprintf(path, sizeof(path), "%s/log", dir);
	rc = fs_mkdirs(path, 0700, err);
	snprintf(path, sizeof(path), "%s/log/checkpoint", dir);
	if (rc == LS_OK)
		rc = fs_write_file(path, note, strlen(note), 0644, 0, err);
	if (rc != LS_OK)
		goto out;

	/* 3. The entries after the sealed end, from the bundles. */
	{
		struct store_sealed *sv = NULL;
		size_t ns = 0;
		uint64_t end = 0;

		rc = restore_store_format(dir, err);
		if (rc == LS_OK)
			rc = store_sealed_list(dir, &sv, &ns, err);
		if (rc != LS_OK)
			goto out;
		for (size_t i = 0; i < ns; i++) {
			if (sv[i].first != end) {
				rc = ls_err_set(err, LS_TAMPERED,
						"segments/%016llx.seal: missing from the bucket (the "
						"next one starts at %llu)",
						(unsigned long long)end, (unsigned long long)sv[i].first);
				break;
			}
			end = sv[i].first + sv[i].count;
		}
		free(sv);
		if (rc != LS_OK)
			goto out;
		if (end > latest.size) {
			rc = ls_err_set(err, LS_TAMPERED,
					"the bucket's segments hold %llu entries, log/checkpoint only "
					"%llu",
					(unsigned long long)end, (unsigned long long)latest.size);
			goto out;
		}
		rep->sealed_end = end;
		/* The hash tiles; the full level-0 ones of the sealed range are
		 * served from the segments (tiles.h) and are not fetched. */
		for (size_t i = 0; i < tiles.n; i++) {
			uint64_t tn;

			if (!strncmp(tiles.v[i], "log/tile/entries/", 17))
				continue;	/* entries: from the segments and the WAL */
			if (level0_full(tiles.v[i], &tn) && (tn + 1) * 256 <= end)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, tiles.v[i]);
			rc = get_to(os, tiles.v[i], path, tiles.sizes[i], rep, err);
			if (rc != LS_OK)
				goto out;
			rep->tiles++;
			if (rep->tiles % 64 == 0)
				say(o, "tiles", i + 1, tiles.n);
		}
		if (end < latest.size) {
			uint64_t n = latest.size - end;
			struct iovec *v = calloc(n, sizeof(*v));
			uint8_t **bufs = calloc(n / 256 + 2, sizeof(*bufs));
			size_t nb = 0;

			if (!v || !bufs)
				rc = ls_err_set(err, LS_NOMEM, "out of memory");
			for (uint64_t b = end / 256; rc == LS_OK && b * 256 < latest.size; b++) {
				unsigned w = latest.size - b * 256 >= 256 ? 256
									   : (unsigned)(latest.size - b * 256);
				char what[OBJSTORE_KEY_MAX];
				size_t blen;

				upload_tile_key(-1, b, w, what, sizeof(what));
				rc = get_bundle(os, bkp, latest.origin, b, w, &bufs[nb], &blen, rep, err);
				if (rc == LS_OK)
					rc = bundle_split(bufs[nb], blen, w, what, v + (b * 256 - end), err);
				nb++;
				say(o, "entries", (b + 1) * 256 - end, n);
			}
			if (rc == LS_OK)
				rc = restore_store_wal(dir, end, v, n, err);
			for (size_t i = 0; i < nb; i++)
				free(bufs[i]);
			free(bufs);
			free(v);
			if (rc != LS_OK)
				goto out;
			rep->wal_entries = n;
		} else {
			rc = restore_store_wal(dir, end, NULL, 0, err);
			if (rc != LS_OK)
				goto out;
		}
	}

	/* 4. Every checkpoints/<size>: signed, and consistent with the latest
	 * (its root is the root of the first <size> leaves of the tiles). */
	{
		struct tiles_reader *tr = NULL;
		char logdir[PATH_MAX];

		snprintf(logdir, sizeof(logdir), "%s/log", dir);
		if (tiles_reader_open(logdir, latest.size, &tr) != LS_OK) {
			rc = ls_err_set(err, LS_NOMEM, "cannot open the tiles of %s", logdir);
			goto out;
		}
		for (size_t i = 0; rc == LS_OK && i < cps.n; i++) {
			struct checkpoint cp;
			char *cn = NULL, *end;
			unsigned long long sz = strtoull(cps.v[i] + 12, &end, 10);
			uint8_t root[LS_HASH_LEN];
			size_t cl, tl;

			if (*end || end == cps.v[i] + 12)
				continue;
			rc = objstore_get(os, cps.v[i], &cn, &cl, NOTE_MAX, err);
			if (rc == LS_OK && note_open(cn, cl, &ver, 1, &tl, NULL) != LS_OK)
				rc = ls_err_set(err, LS_TAMPERED,
						"object %s: not signed by the log's key", cps.v[i]);
			if (rc == LS_OK)
				rc = note_cp(cn, cps.v[i], &cp, err);
			if (rc == LS_OK && (cp.size != sz || strcmp(cp.origin, latest.origin)))
				rc = ls_err_set(err, LS_TAMPERED,
						"object %s: the checkpoint of size %llu of %s", cps.v[i],
						(unsigned long long)cp.size, cp.origin);
			if (rc == LS_OK && cp.size > latest.size)
				rc = ls_err_set(err, LS_TAMPERED,
						"object %s: larger than log/checkpoint (%llu)", cps.v[i],
						(unsigned long long)latest.size);
			if (rc == LS_OK) {
				if (merkle_root(tiles_node_hash, tr, cp.size, root) != LS_OK)
					rc = ls_err_set(err, LS_TAMPERED,
							"the tiles below %llu cannot be read",
							(unsigned long long)cp.size);
				else if (memcmp(root, cp.root, LS_HASH_LEN))
					rc = ls_err_set(err, LS_TAMPERED,
							"object %s: checkpoint %llu is not consistent with "
							"the latest, %llu (log/checkpoint), over the bucket's "
							"tiles",
							cps.v[i], (unsigned long long)cp.size,
							(unsigned long long)latest.size);
			}
			if (rc == LS_OK) {
				snprintf(path, sizeof(path), "%s/checkpoints/%020llu", dir, sz);
				rc = fs_mkdirs(logdir, 0700, err);
				if (rc == LS_OK) {
					char cpdir[PATH_MAX];

					snprintf(cpdir, sizeof(cpdir), "%s/checkpoints", dir);
					rc = fs_mkdirs(cpdir, 0755, err);
				}
				if (rc == LS_OK)
					rc = fs_write_file(path, cn, cl, 0644, 0, err);
				rep->checkpoints++;
			}
			free(cn);
			say(o, "checkpoints", i + 1, cps.n);
		}
		if (rc == LS_OK) {
			uint8_t root[LS_HASH_LEN];

			if (merkle_root(tiles_node_hash, tr, latest.size, root) != LS_OK ||
			    memcmp(root, latest.root, LS_HASH_LEN))
				rc = ls_err_set(err, LS_TAMPERED,
						"object log/checkpoint: its root is not the root of the "
						"bucket's tiles at %llu",
						(unsigned long long)latest.size);
		}
		tiles_reader_free(tr);
		if (rc != LS_OK)
			goto out;
		snprintf(path, sizeof(path), "%s/checkpoints/%020llu", dir,
			 (unsigned long long)latest.size);
		if (access(path, F_OK) != 0) {
			rc = fs_write_file(path, note, strlen(note), 0644, 0, err);
			if (rc != LS_OK)
				goto out;
		}
	}
	{
		/* The empty tree's checkpoint, as init signed it (Ed25519 is
		 * deterministic: the same bytes); the uploader may not have
		 * put it up. */
		struct checkpoint c0;
		char body[600], *signed0 = NULL;

		snprintf(path, sizeof(path), "%s/checkpoints/%020llu", dir, 0ull);
		memset(&c0, 0, sizeof(c0));
		snprintf(c0.origin, sizeof(c0.origin), "%s", latest.origin);
		merkle_empty_root(c0.root);
		if (access(path, F_OK) != 0) {
			rc = checkpoint_format(&c0, body, sizeof(body));
			if (rc == LS_OK)
				rc = note_sign(&signer, body, strlen(body), &signed0, err);
			if (rc == LS_OK)
				rc = fs_write_file(path, signed0, strlen(signed0), 0644, 0, err);
			free(signed0);
			if (rc != LS_OK)
				goto out;
		}
	}
	rc = restore_store_cpindex(dir, err);
	if (rc != LS_OK)
		goto out;
	{
		struct upload_cfg uc;

		memset(&uc, 0, sizeof(uc));
		snprintf(uc.url, sizeof(uc.url), "%s", o->from);
		snprintf(uc.endpoint, sizeof(uc.endpoint), "%s", o->endpoint ? o->endpoint : "");
		snprintf(uc.region, sizeof(uc.region), "%s", o->region ? o->region : "");
		uc.path_style = o->path_style;
		rc = upload_cfg_save(dir, &uc, err);
		if (rc != LS_OK)
			goto out;
	}

	/* 5. The whole check, then the index. */
	{
		struct verify_report vr;

		say(o, "verify", 0, latest.size);
		memset(&vr, 0, sizeof(vr));
		rc = verify_data_dir_ex(dir, NULL, VERIFY_NO_POSTINGS, &vr, err);
		if (rc != LS_OK)
			goto out;
		if (vr.tree_size != latest.size) {
			rc = ls_err_set(err, LS_TAMPERED, "verify saw size %llu, the bucket %llu",
					(unsigned long long)vr.tree_size,
					(unsigned long long)latest.size);
			goto out;
		}
		say(o, "reindex", 0, latest.size);
		rc = index_rebuild(dir, NULL, NULL, NULL, err);
	}
out:
	note_signer_wipe(&signer);
	ls_wipe(bkey, sizeof(bkey));
	list_free(&segs);
	list_free(&tiles);
	list_free(&cps);
	free(bvkey);
	free(note);
	if (os)
		objstore_close(os);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return rc;
}
