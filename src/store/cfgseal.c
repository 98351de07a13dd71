/*
 * cfgseal.c - sealed configuration files of a data directory: the key of
 * each purpose (from the keyring, or keys/log.key in a plaintext
 * directory, keys/seal.key when its signing key is off the disk) and the
 * sealed write and checked read (see cfgseal.h and cpindex.h; the seal
 * itself is cfgseal_format.c).
 */
#include "store/cfgseal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crypto.h"
#include "store/cfgseal_format.h"
#include "base/fsutil.h"
#include "store/keys.h"
#include "core/note.h"

const struct cfgseal_file cfgseal_files[] = {
	{ "tokens.json", CFGSEAL_TOKENS },
	{ "alerts/rules.json", CFGSEAL_ALERTS },
	{ "alerts/webhooks.json", CFGSEAL_ALERTS },
	{ "alerts/state.json", CFGSEAL_ALERTS },
	{ "searches.json", CFGSEAL_ALERTS },	/* saved searches (server/api_searches.c) */
	{ "state/last-verify.json", CFGSEAL_VERIFY },
	{ "objstore.json", CFGSEAL_OBJSTORE },
};
const size_t cfgseal_nfiles = sizeof(cfgseal_files) / sizeof(cfgseal_files[0]);

/* A directory whose signing key is off the disk (store/signer.h
 * invariant 3): keys/seal.key, base64 of 32 random bytes. */
static ls_rc seal_key_file(const char *dir, const char *label, uint8_t key[CFGSEAL_KEY_LEN],
			   struct ls_err *err)
{
	char path[PATH_MAX], *data = NULL;
	uint8_t k[48];
	size_t len, n = 0;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/keys/seal.key", dir);
	rc = fs_read_file(path, 4096, &data, &len, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_NOTFOUND, "%s has no key to seal files with", dir);
	if (rc != LS_OK)
		return rc;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	rc = ls_b64_decode(data, len, k, sizeof(k), &n);
	ls_wipe(data, len);
	free(data);
	if (rc != LS_OK || n != 32) {
		ls_wipe(k, sizeof(k));
		return ls_err_set(err, LS_CORRUPT, "%s: not base64 of 32 bytes", path);
	}
	ls_hmac_sha256(k, 32, label, strlen(label), key);
	ls_wipe(k, sizeof(k));
	return LS_OK;
}

ls_rc cfgseal_key(const char *dir, enum cfgseal_purpose p, uint8_t key[CFGSEAL_KEY_LEN],
		  struct ls_err *err)
{
	const char *label = cfgseal_label(p);
	char path[PATH_MAX], *data = NULL;
	struct note_signer s;
	struct keyring *kr;
	size_t len;
	ls_rc rc;

	rc = keys_get(dir, &kr, err);
	if (rc == LS_OK)
		return keys_derive(kr, label, key, err);
	if (rc != LS_NOTFOUND)
		return rc;
	/* A plaintext directory: the signing key is its only secret. */
	if (snprintf(path, sizeof(path), "%s/keys/log.key", dir) >= (int)sizeof(path))
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	rc = fs_read_file(path, 4096, &data, &len, err);
	if (rc == LS_NOTFOUND)
		return seal_key_file(dir, label, key, err);
	if (rc != LS_OK)
		return rc;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	rc = note_signer_parse(data, len, &s, err);
	ls_wipe(data, len);
	free(data);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "%s: %s", path, err ? err->msg : "not a signing key");
	ls_hmac_sha256(s.seed, sizeof(s.seed), label, strlen(label), key);
	note_signer_wipe(&s);
	return LS_OK;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

ls_rc cfgseal_write_file(const char *dir, enum cfgseal_purpose p, const char *path,
			 const char *text, size_t len, mode_t mode, struct ls_err *err)
{
	uint8_t key[CFGSEAL_KEY_LEN];
	char *f = NULL;
	size_t n;
	ls_rc rc;

	rc = cfgseal_key(dir, p, key, err);
	if (rc == LS_NOTFOUND)
		return fs_write_file(path, text, len, mode, 0, err);
	if (rc != LS_OK)
		return rc;
	rc = cfgseal_seal(key, base_name(path), text, len, &f, &n);
	ls_wipe(key, sizeof(key));
	if (rc != LS_OK)
		return ls_err_set(err, rc, "%s: cannot seal (%s)", path, ls_rc_name(rc));
	rc = fs_write_file(path, f, n, mode, 0, err);
	free(f);
	return rc;
}

ls_rc cfgseal_read_file(const char *dir, enum cfgseal_purpose p, const char *path, size_t cap,
			char **data, size_t *len, struct ls_err *err)
{
	uint8_t key[CFGSEAL_KEY_LEN];
	char *d = NULL;
	size_t n = 0;
	ls_rc rc;

	rc = fs_read_file(path, cap, &d, &n, err);
	if (rc != LS_OK)
		return rc;
	rc = cfgseal_key(dir, p, key, err);
	if (rc == LS_NOTFOUND) {
		*data = d;
		*len = n;
		return LS_OK;
	}
	if (rc != LS_OK) {
		free(d);
		return rc;
	}
	rc = cfgseal_open(key, base_name(path), d, &n);
	ls_wipe(key, sizeof(key));
	if (rc == LS_NOTFOUND && cfgseal_adopt())
		rc = LS_OK;
	if (rc == LS_NOTFOUND) {
		free(d);
		return ls_err_set(err, LS_TAMPERED,
				  "%s: has no integrity seal (edited by hand, or written before "
				  "files were sealed: then stop the server and run `logseal keys "
				  "seal-config --data %s`)",
				  path, dir);
	}
	if (rc != LS_OK) {
		free(d);
		return ls_err_set(err, LS_TAMPERED,
				  "%s: its integrity seal does not match its content (changed "
				  "outside logseal)",
				  path);
	}
	*data = d;
	*len = n;
	return LS_OK;
}

ls_rc cfgseal_parent(const char *path, int levels, char *out, size_t cap)
{
	size_t n = strlen(path);

	if (n >= cap)
		return LS_LIMIT;
	memcpy(out, path, n + 1);
	while (levels-- > 0) {
		char *s;

		while (n > 1 && out[n - 1] == '/')
			out[--n] = 0;
		s = strrchr(out, '/');
		if (!s) {
			snprintf(out, cap, ".");
			return LS_OK;
		}
		if (s == out)
			s[1] = 0;
		else
			*s = 0;
		n = strlen(out);
	}
	return LS_OK;
}
