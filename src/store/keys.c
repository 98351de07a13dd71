/*
 * keys.c - master key sources, wrapped data keys, the process-wide keyring
 * cache (see keys.h).
 *
 *   master.json:   {"version":1,"source":"file","path":"/abs"} or
 *                  {"version":1,"source":"env"} or
 *                  {"version":1,"source":"command","command":"..."} (a
 *                  program and its arguments, split as keys_split_command()
 *                  says and run without a shell),
 *                  each with "check": hex HMAC-SHA256(master, "logseal key check")
 *   datakeys.json: {"version":1,"check":"<the same check value>",
 *                   "keys":[{"id":1,"wrapped":"<base64>"},...]}
 *                  wrapped = nonce (12) || AES-256-GCM(master, key) (32) ||
 *                  tag (16), associated data = the id as 4 bytes big-endian.
 *
 * datakeys.json repeats the check value of the master key that wraps it, so
 * that a `keys rotate` interrupted between its two file replacements is
 * recognised (and named) instead of looking like a wrong key.
 *
 * The cache: one keyring per data directory (by realpath), created by the
 * first keys_get() and kept for the life of the process, so that the
 * journal, its readers and the tiles find the keys from the directory
 * alone.  A keyring's own mutex guards its key list.
 */
#include "store/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/cfgseal_format.h"
#include "base/fsutil.h"

#define CHECK_LABEL "logseal key check"
#define JSON_CAP (1u << 20)
#define CMD_OUT_CAP 4096
#define WRAPPED_LEN (KEYS_KEY_LEN + LS_AEAD_OVERHEAD)

struct dkey {
	uint32_t id;
	uint8_t key[KEYS_KEY_LEN];
};

struct keyring {
	char *dir;			/* realpath of the data directory */
	pthread_mutex_t mu;
	uint8_t master[KEYS_KEY_LEN];
	uint8_t check[LS_HASH_LEN];
	char desc[PATH_MAX + 32];
	struct dkey *keys;
	size_t n, cap;
	struct keyring *next;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct keyring *cache;

/* ----------------------------------------------------------- master key --- */

static void key_check(const uint8_t master[KEYS_KEY_LEN], uint8_t out[LS_HASH_LEN])
{
	ls_hmac_sha256(master, KEYS_KEY_LEN, CHECK_LABEL, strlen(CHECK_LABEL), out);
}

/* The base64 of exactly 32 bytes, white space around it ignored. */
static ls_rc parse_b64_key(const char *what, const char *s, size_t n, uint8_t key[KEYS_KEY_LEN],
			   struct ls_err *err)
{
	uint8_t buf[KEYS_KEY_LEN + 3];
	size_t got = 0;
	ls_rc rc;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		n--;
	}
	rc = ls_b64_decode(s, n, buf, sizeof(buf), &got);
	if (rc != LS_OK || got != KEYS_KEY_LEN) {
		ls_wipe(buf, sizeof(buf));
		return ls_err_set(err, LS_INVALID,
				  "%s: not a master key (want the base64 of 32 bytes)", what);
	}
	memcpy(key, buf, KEYS_KEY_LEN);
	ls_wipe(buf, sizeof(buf));
	return LS_OK;
}

static ls_rc create_key_file(const char *path, struct ls_err *err)
{
	uint8_t k[KEYS_KEY_LEN];
	char b64[LS_B64_LEN(KEYS_KEY_LEN) + 2];
	size_t n;
	ls_rc rc;

	if (ls_random(k, sizeof(k)) != LS_OK)
		return ls_err_set(err, LS_IO, "the system random generator failed");
	n = ls_b64_encode(k, sizeof(k), b64, sizeof(b64) - 1);
	b64[n++] = '\n';
	rc = fs_write_file(path, b64, n, 0600, 1, err);
	ls_wipe(k, sizeof(k));
	ls_wipe(b64, sizeof(b64));
	return rc;
}

static ls_rc load_from_file(const char *path, int create, uint8_t key[KEYS_KEY_LEN],
			    struct ls_err *err)
{
	struct stat st;
	char *data = NULL;
	size_t len;
	ls_rc rc;

	if (stat(path, &st) != 0) {
		if (errno != ENOENT || !create)
			return ls_err_set(err, errno == ENOENT ? LS_NOTFOUND : LS_IO,
					  "master key file %s: %s", path, strerror(errno));
		rc = create_key_file(path, err);
		if (rc != LS_OK)
			return rc;
		if (stat(path, &st) != 0)
			return ls_err_set(err, LS_IO, "master key file %s: %s", path,
					  strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return ls_err_set(err, LS_INVALID, "master key file %s is not a regular file", path);
	if (st.st_mode & 077)
		return ls_err_set(err, LS_DENIED,
				  "master key file %s is readable by group or others (mode %03o); "
				  "chmod 600 it",
				  path, (unsigned)(st.st_mode & 0777));
	rc = fs_read_file(path, CMD_OUT_CAP, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	rc = parse_b64_key(path, data, len, key, err);
	ls_wipe(data, len);
	free(data);
	return rc;
}

/*
 * Split a master key command into its words, with no shell: the command
 * names a program and its arguments, so that nothing in it (or in what an
 * attacker may get into master.json) is ever interpreted as shell syntax.
 * The rule (docs/FORMAT.md §6): words are separated by spaces, tabs or
 * newlines; '...' keeps everything inside literally; "..." too, except that
 * \" and \\ stand for " and \; outside quotes \c stands for c.  Nothing else
 * is special: no variables, globs, pipes, redirections or ';'.  An unclosed
 * quote or a trailing backslash is refused.  *argv (NULL-terminated) and
 * its strings are one allocation: free(*argv).
 */
ls_rc keys_split_command(const char *cmd, char ***argv, struct ls_err *err)
{
	size_t len = strlen(cmd), words = 0;
	char **v, *out;
	const char *p = cmd;
	bool in_word = false;

	*argv = NULL;
	/* At most len / 2 + 1 words; each output string is no longer than
	 * the input, plus one terminator per word. */
	v = malloc((len / 2 + 2) * sizeof(*v) + 2 * len + 2);
	if (!v)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	out = (char *)(v + len / 2 + 2);
	while (*p) {
		char c = *p;

		if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word) {
				*out++ = '\0';
				in_word = false;
			}
			p++;
			continue;
		}
		if (!in_word) {
			v[words++] = out;
			in_word = true;
		}
		if (c == '\'') {
			const char *q = strchr(p + 1, '\'');

			if (!q)
				goto unclosed;
			memcpy(out, p + 1, (size_t)(q - p - 1));
			out += q - p - 1;
			p = q + 1;
		} else if (c == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				*out++ = *p;
			}
			if (!*p)
				goto unclosed;
			p++;
		} else if (c == '\\') {
			if (!p[1]) {
				free(v);
				return ls_err_set(err, LS_INVALID,
						  "master key command: a trailing backslash");
			}
			*out++ = p[1];
			p += 2;
		} else {
			*out++ = c;
			p++;
		}
	}
	if (in_word)
		*out = '\0';
	if (words == 0) {
		free(v);
		return ls_err_set(err, LS_INVALID, "master key command: no program given");
	}
	v[words] = NULL;
	*argv = v;
	return LS_OK;
unclosed:
	free(v);
	return ls_err_set(err, LS_INVALID, "master key command: an unclosed quote");
}

/* Run cmd (keys_split_command(), no shell; a program without a '/' is looked
 * up in PATH) and read its standard output (at most CMD_OUT_CAP). */
static ls_rc load_from_command(const char *cmd, uint8_t key[KEYS_KEY_LEN], struct ls_err *err)
{
	char buf[CMD_OUT_CAP + 1];
	posix_spawn_file_actions_t fa;
	char **argv = NULL;
	size_t n = 0;
	int fds[2], st = 0, e;
	pid_t pid;
	ls_rc rc;

	rc = keys_split_command(cmd, &argv, err);
	if (rc != LS_OK)
		return rc;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		free(argv);
		return ls_err_set(err, LS_IO, "master key command: pipe: %s", strerror(errno));
	}
	fflush(NULL);
	e = posix_spawn_file_actions_init(&fa);
	if (e == 0) {
		/* dup2 clears close-on-exec on the copy; both pipe ends
		 * themselves close at exec. */
		e = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
		if (e == 0)
			e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(fds[1]);
	if (e != 0) {
		close(fds[0]);
		rc = ls_err_set(err, LS_DENIED, "master key command `%s` failed: cannot run %s: %s",
				cmd,
				argv[0], strerror(e));
		free(argv);
		return rc;
	}
	free(argv);
	while (n < CMD_OUT_CAP) {
		ssize_t r = read(fds[0], buf + n, CMD_OUT_CAP - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	/* Whatever it writes past the cap meets a closed pipe. */
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = -1;
			break;
		}
	}
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		ls_wipe(buf, sizeof(buf));
		return ls_err_set(err, LS_DENIED, "master key command `%s` failed (status %d)", cmd,
				  st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128);
	}
	rc = parse_b64_key("output of the master key command", buf, n, key, err);
	ls_wipe(buf, sizeof(buf));
	return rc;
}

ls_rc keys_master_load(const struct keys_source *src, int create, uint8_t key[KEYS_KEY_LEN],
		       struct ls_err *err)
{
	const char *v;

	switch (src->kind) {
	case KEYS_SRC_FILE:
		if (!src->arg || !*src->arg)
			return ls_err_set(err, LS_INVALID, "no master key file given");
		return load_from_file(src->arg, create, key, err);
	case KEYS_SRC_ENV:
		v = getenv(src->arg ? src->arg : KEYS_ENV);
		if (!v || !*v)
			return ls_err_set(err, LS_NOTFOUND,
					  "the master key is to come from $%s, which is not set",
					  src->arg ? src->arg : KEYS_ENV);
		return parse_b64_key(src->arg ? src->arg : KEYS_ENV, v, strlen(v), key, err);
	case KEYS_SRC_COMMAND:
		if (!src->arg || !*src->arg)
			return ls_err_set(err, LS_INVALID, "no master key command given");
		return load_from_command(src->arg, key, err);
	}
	return ls_err_set(err, LS_INVALID, "unknown master key source");
}

/* --------------------------------------------------------------- files --- */

static void keys_path(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/keys/%s", dir, name);
}

static ls_rc write_json(const char *path, json_t *o, struct ls_err *err)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	ls_rc rc;

	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = fs_write_file(path, s, strlen(s), 0600, 0, err);
	free(s);
	return rc;
}

static json_t *read_json(const char *path, ls_rc *rc, struct ls_err *err)
{
	char *data = NULL;
	size_t len;
	json_error_t je;
	json_t *o;

	*rc = fs_read_file(path, JSON_CAP, &data, &len, err);
	if (*rc != LS_OK)
		return NULL;
	o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	free(data);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		*rc = ls_err_set(err, LS_CORRUPT, "%s: not a JSON object", path);
		return NULL;
	}
	return o;
}

/*
 * master.json is sealed (cfgseal.h) under HMAC-SHA256(data key 1,
 * cfgseal_label(CFGSEAL_MASTER)), what keys_derive() gives: the key exists
 * only once the master key has unwrapped the data keys, so the seal is
 * checked right after that, before anything is read with them.
 */
static void master_seal_key(const uint8_t dk1[KEYS_KEY_LEN], uint8_t out[CFGSEAL_KEY_LEN])
{
	const char *label = cfgseal_label(CFGSEAL_MASTER);

	ls_hmac_sha256(dk1, KEYS_KEY_LEN, label, strlen(label), out);
}

static ls_rc write_master(const char *path, json_t *o, const uint8_t dk1[KEYS_KEY_LEN],
			  struct ls_err *err)
{
	uint8_t k[CFGSEAL_KEY_LEN];
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS), *f = NULL;
	size_t n;
	ls_rc rc;

	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	master_seal_key(dk1, k);
	rc = cfgseal_seal(k, "master.json", s, strlen(s), &f, &n);
	ls_wipe(k, sizeof(k));
	free(s);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "%s: cannot seal", path);
	rc = fs_write_file(path, f, n, 0600, 0, err);
	free(f);
	return rc;
}

/* master.json: its text (seal removed, NUL-terminated) and its seal. */
static json_t *read_master(const char *path, char **text, size_t *tlen, int *sealed,
			   uint8_t mac[CFGSEAL_MAC_LEN], ls_rc *rc, struct ls_err *err)
{
	json_error_t je;
	json_t *o;

	*text = NULL;
	*rc = fs_read_file(path, JSON_CAP, text, tlen, err);
	if (*rc != LS_OK)
		return NULL;
	*sealed = cfgseal_split(*text, tlen, mac) == LS_OK;
	o = json_loadb(*text, *tlen, JSON_REJECT_DUPLICATES, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		free(*text);
		*text = NULL;
		*rc = ls_err_set(err, LS_CORRUPT, "%s: not a JSON object", path);
		return NULL;
	}
	return o;
}

static ls_rc check_master_seal(struct keyring *kr, const char *path, const char *text,
			       size_t tlen, int sealed, const uint8_t mac[CFGSEAL_MAC_LEN],
			       struct ls_err *err);

static json_t *master_json(const struct keys_source *src, const uint8_t check[LS_HASH_LEN])
{
	char hex[2 * LS_HASH_LEN + 1];
	json_t *o;

	ls_hex(check, LS_HASH_LEN, hex);
	o = json_pack("{s:i, s:s, s:s}", "version", 1, "check", hex, "source",
		      src->kind == KEYS_SRC_FILE ? "file" :
		      src->kind == KEYS_SRC_ENV ? "env" : "command");
	if (!o)
		return NULL;
	if (src->kind == KEYS_SRC_FILE && json_object_set_new(o, "path", json_string(src->arg)))
		goto fail;
	if (src->kind == KEYS_SRC_COMMAND &&
	    json_object_set_new(o, "command", json_string(src->arg)))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Parse master.json into src (strings point into o) and check. */
static ls_rc parse_master(const char *path, json_t *o, struct keys_source *src,
			  uint8_t check[LS_HASH_LEN], struct ls_err *err)
{
	const char *s = json_string_value(json_object_get(o, "source"));
	const char *c = json_string_value(json_object_get(o, "check"));

	if (json_integer_value(json_object_get(o, "version")) != 1 || !s || !c ||
	    ls_unhex(c, strlen(c), check, LS_HASH_LEN) != LS_OK)
		return ls_err_set(err, LS_CORRUPT, "%s: not a logseal master key description",
				  path);
	memset(src, 0, sizeof(*src));
	/* An environment source is always KEYS_ENV when the log is used. */
	if (strcmp(s, "file") == 0) {
		src->kind = KEYS_SRC_FILE;
		src->arg = json_string_value(json_object_get(o, "path"));
	} else if (strcmp(s, "env") == 0) {
		src->kind = KEYS_SRC_ENV;
	} else if (strcmp(s, "command") == 0) {
		src->kind = KEYS_SRC_COMMAND;
		src->arg = json_string_value(json_object_get(o, "command"));
	} else {
		return ls_err_set(err, LS_CORRUPT, "%s: unknown master key source \"%s\"", path, s);
	}
	if (src->kind != KEYS_SRC_ENV && !src->arg)
		return ls_err_set(err, LS_CORRUPT, "%s: the %s source has no %s", path, s,
				  src->kind == KEYS_SRC_FILE ? "path" : "command");
	return LS_OK;
}

static void describe(const struct keys_source *src, char *out, size_t cap)
{
	if (src->kind == KEYS_SRC_FILE)
		snprintf(out, cap, "file %s", src->arg);
	else if (src->kind == KEYS_SRC_ENV)
		snprintf(out, cap, "environment variable %s", KEYS_ENV);
	else
		snprintf(out, cap, "command `%s`", src->arg);
}

static void put32(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static ls_rc wrap_key(const uint8_t master[KEYS_KEY_LEN], uint32_t id,
		      const uint8_t key[KEYS_KEY_LEN], char *out, size_t cap)
{
	uint8_t aad[4], w[WRAPPED_LEN];
	ls_rc rc;

	put32(aad, id);
	rc = ls_aead_seal_blob(master, aad, sizeof(aad), key, KEYS_KEY_LEN, w);
	if (rc == LS_OK)
		ls_b64_encode(w, sizeof(w), out, cap);
	return rc;
}

/* datakeys.json as a JSON document for the keys of kr wrapped under master. */
static json_t *datakeys_json(const struct dkey *keys, size_t n, const uint8_t master[KEYS_KEY_LEN],
			     const uint8_t check[LS_HASH_LEN])
{
	char hex[2 * LS_HASH_LEN + 1], b64[LS_B64_LEN(WRAPPED_LEN) + 1];
	json_t *o, *arr;

	ls_hex(check, LS_HASH_LEN, hex);
	arr = json_array();
	o = json_pack("{s:i, s:s, s:o}", "version", 1, "check", hex, "keys", arr);
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (wrap_key(master, keys[i].id, keys[i].key, b64, sizeof(b64)) != LS_OK ||
		    json_array_append_new(arr, json_pack("{s:I, s:s}", "id",
							 (json_int_t)keys[i].id, "wrapped", b64))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* Read and unwrap datakeys.json into kr (replacing its list). */
static ls_rc load_datakeys(struct keyring *kr, struct ls_err *err)
{
	char path[PATH_MAX];
	json_t *o, *arr, *e;
	const char *c;
	uint8_t check[LS_HASH_LEN];
	struct dkey *keys = NULL;
	size_t n = 0, i;
	ls_rc rc;

	keys_path(path, sizeof(path), kr->dir, "datakeys.json");
	o = read_json(path, &rc, err);
	if (!o) {
		if (rc == LS_NOTFOUND)
			return ls_err_set(err, LS_CORRUPT, "%s is missing: the data keys are lost",
					  path);
		return rc;
	}
	arr = json_object_get(o, "keys");
	c = json_string_value(json_object_get(o, "check"));
	if (json_integer_value(json_object_get(o, "version")) != 1 || !json_is_array(arr) || !c ||
	    ls_unhex(c, strlen(c), check, sizeof(check)) != LS_OK) {
		rc = ls_err_set(err, LS_CORRUPT, "%s: not a logseal data key file", path);
		goto out;
	}
	if (!ls_ct_equal(check, kr->check, sizeof(check))) {
		rc = ls_err_set(err, LS_DENIED,
				"%s is wrapped under another master key than keys/master.json "
				"names (an interrupted `logseal keys rotate`?)", path);
		goto out;
	}
	keys = calloc(json_array_size(arr) + 1, sizeof(*keys));
	if (!keys) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(arr, i, e) {
		json_int_t id = json_integer_value(json_object_get(e, "id"));
		const char *w = json_string_value(json_object_get(e, "wrapped"));
		uint8_t blob[WRAPPED_LEN + 3], aad[4];
		size_t bl = 0;

		if (id <= 0 || id > UINT32_MAX || !w ||
		    ls_b64_decode(w, strlen(w), blob, sizeof(blob), &bl) != LS_OK ||
		    bl != WRAPPED_LEN || (n && keys[n - 1].id >= (uint32_t)id)) {
			rc = ls_err_set(err, LS_CORRUPT, "%s: data key %zu is malformed", path, i);
			goto out;
		}
		put32(aad, (uint32_t)id);
		if (ls_aead_open_blob(kr->master, aad, sizeof(aad), blob, bl, keys[n].key) != LS_OK) {
			rc = ls_err_set(err, LS_TAMPERED,
					"%s: data key %lld does not unwrap under the master key",
					path, (long long)id);
			goto out;
		}
		keys[n++].id = (uint32_t)id;
	}
	if (kr->keys) {
		ls_wipe(kr->keys, kr->cap * sizeof(*kr->keys));
		free(kr->keys);
	}
	kr->keys = keys;
	kr->n = n;
	kr->cap = json_array_size(arr) + 1;
	keys = NULL;
	rc = LS_OK;
out:
	if (keys) {
		ls_wipe(keys, (json_array_size(arr) + 1) * sizeof(*keys));
		free(keys);
	}
	json_decref(o);
	return rc;
}

static ls_rc save_datakeys(struct keyring *kr, const struct dkey *keys, size_t n,
			   struct ls_err *err)
{
	char path[PATH_MAX];
	json_t *o = datakeys_json(keys, n, kr->master, kr->check);
	ls_rc rc;

	if (!o)
		return ls_err_set(err, LS_NOMEM, "cannot wrap the data keys");
	keys_path(path, sizeof(path), kr->dir, "datakeys.json");
	rc = write_json(path, o, err);
	json_decref(o);
	return rc;
}

/* ------------------------------------------------------------- keyring --- */

static void keyring_free(struct keyring *kr)
{
	if (!kr)
		return;
	if (kr->keys) {
		ls_wipe(kr->keys, kr->cap * sizeof(*kr->keys));
		free(kr->keys);
	}
	ls_wipe(kr->master, sizeof(kr->master));
	pthread_mutex_destroy(&kr->mu);
	free(kr->dir);
	free(kr);
}

/* Load the keyring of the directory whose realpath is real. */
static ls_rc keyring_load(const char *real, struct keyring **out, struct ls_err *err)
{
	char path[PATH_MAX];
	struct keys_source src;
	uint8_t check[LS_HASH_LEN];
	struct keyring *kr;
	uint8_t mac[CFGSEAL_MAC_LEN];
	char *text = NULL;
	size_t tlen = 0;
	int sealed = 0;
	json_t *o;
	ls_rc rc;

	keys_path(path, sizeof(path), real, "master.json");
	o = read_master(path, &text, &tlen, &sealed, mac, &rc, err);
	if (!o)
		return rc;
	kr = calloc(1, sizeof(*kr));
	if (!kr || !(kr->dir = strdup(real))) {
		free(kr);
		free(text);
		json_decref(o);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&kr->mu, NULL);
	rc = parse_master(path, o, &src, kr->check, err);
	if (rc == LS_OK) {
		describe(&src, kr->desc, sizeof(kr->desc));
		rc = keys_master_load(&src, 0, kr->master, err);
	}
	if (rc == LS_OK) {
		key_check(kr->master, check);
		if (!ls_ct_equal(check, kr->check, sizeof(check)))
			rc = ls_err_set(err, LS_DENIED,
					"wrong master key: the key from %s does not match "
					"%s (nothing was read or changed)", kr->desc, path);
	} else if (rc != LS_NOMEM) {
		char m[sizeof(err->msg)];

		snprintf(m, sizeof(m), "%s", err ? err->msg : "");
		rc = ls_err_set(err, rc == LS_DENIED || rc == LS_INVALID ? rc : LS_DENIED,
				"cannot obtain the master key named by %s: %s", path, m);
	}
	json_decref(o);
	if (rc == LS_OK)
		rc = load_datakeys(kr, err);
	if (rc == LS_OK)
		rc = check_master_seal(kr, path, text, tlen, sealed, mac, err);
	free(text);
	if (rc != LS_OK) {
		keyring_free(kr);
		return rc;
	}
	*out = kr;
	return LS_OK;
}

ls_rc keys_get(const char *datadir, struct keyring **out, struct ls_err *err)
{
	char path[PATH_MAX], real[PATH_MAX];
	struct keyring *kr;
	ls_rc rc;

	*out = NULL;
	if (strlen(datadir) > PATH_MAX - 64)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	keys_path(path, sizeof(path), datadir, "master.json");
	if (access(path, F_OK) != 0)
		return LS_NOTFOUND;
	if (!realpath(datadir, real))
		return ls_err_set(err, LS_IO, "%s: %s", datadir, strerror(errno));
	pthread_mutex_lock(&cache_mu);
	for (kr = cache; kr; kr = kr->next)
		if (strcmp(kr->dir, real) == 0)
			break;
	if (!kr) {
		rc = keyring_load(real, &kr, err);
		if (rc != LS_OK) {
			pthread_mutex_unlock(&cache_mu);
			return rc;
		}
		kr->next = cache;
		cache = kr;
	}
	pthread_mutex_unlock(&cache_mu);
	*out = kr;
	return LS_OK;
}

ls_rc keys_get_parent(const char *sub, struct keyring **out, struct ls_err *err)
{
	char parent[PATH_MAX];
	size_t n = strlen(sub);
	char *slash;

	*out = NULL;
	if (n >= sizeof(parent))
		return ls_err_set(err, LS_LIMIT, "path too long");
	memcpy(parent, sub, n + 1);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = 0;
	slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = 0;
	else
		*slash = 0;
	return keys_get(parent, out, err);
}

void keys_forget(const char *datadir)
{
	char real[PATH_MAX];
	struct keyring **pp;

	if (!realpath(datadir, real))
		return;
	pthread_mutex_lock(&cache_mu);
	for (pp = &cache; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->dir, real) == 0) {
			struct keyring *kr = *pp;

			*pp = kr->next;
			keyring_free(kr);
			break;
		}
	}
	pthread_mutex_unlock(&cache_mu);
}

static int find_key(struct keyring *kr, uint32_t id, uint8_t key[KEYS_KEY_LEN])
{
	for (size_t i = 0; i < kr->n; i++) {
		if (kr->keys[i].id == id) {
			memcpy(key, kr->keys[i].key, KEYS_KEY_LEN);
			return 1;
		}
	}
	return 0;
}

static ls_rc check_master_seal(struct keyring *kr, const char *path, const char *text,
			       size_t tlen, int sealed, const uint8_t mac[CFGSEAL_MAC_LEN],
			       struct ls_err *err)
{
	uint8_t dk1[KEYS_KEY_LEN], k[CFGSEAL_KEY_LEN], want[CFGSEAL_MAC_LEN];
	int ok;

	if (!sealed)
		return cfgseal_adopt() ? LS_OK :
		       ls_err_set(err, LS_TAMPERED,
				  "%s: has no integrity seal (edited by hand, or written before files "
				  "were sealed: then stop the server and run `logseal keys seal-config "
				  "--data %s`)", path, kr->dir);
	if (!find_key(kr, 1, dk1))
		return ls_err_set(err, LS_CORRUPT, "%s/keys/datakeys.json has no data key 1", kr->dir);
	master_seal_key(dk1, k);
	cfgseal_mac(k, "master.json", text, tlen, want);
	ok = ls_ct_equal(mac, want, sizeof(want));
	ls_wipe(dk1, sizeof(dk1));
	ls_wipe(k, sizeof(k));
	return ok ? LS_OK :
	       ls_err_set(err, LS_TAMPERED,
			  "%s: its integrity seal does not match its content (changed outside "
			  "logseal)", path);
}

ls_rc keys_seal_master(const char *datadir, struct ls_err *err)
{
	char path[PATH_MAX];
	uint8_t mac[CFGSEAL_MAC_LEN], dk1[KEYS_KEY_LEN];
	struct keyring *kr;
	char *text = NULL;
	size_t tlen = 0;
	int sealed = 0;
	json_t *o;
	ls_rc rc;

	rc = keys_get(datadir, &kr, err);
	if (rc != LS_OK)
		return rc;
	keys_path(path, sizeof(path), kr->dir, "master.json");
	o = read_master(path, &text, &tlen, &sealed, mac, &rc, err);
	if (!o)
		return rc;
	free(text);
	pthread_mutex_lock(&kr->mu);
	if (!find_key(kr, 1, dk1))
		rc = ls_err_set(err, LS_CORRUPT, "%s/keys/datakeys.json has no data key 1", kr->dir);
	else
		rc = write_master(path, o, dk1, err);
	pthread_mutex_unlock(&kr->mu);
	ls_wipe(dk1, sizeof(dk1));
	json_decref(o);
	return rc;
}

ls_rc keys_data_key(struct keyring *kr, uint32_t id, uint8_t key[KEYS_KEY_LEN],
		    struct ls_err *err)
{
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&kr->mu);
	if (!find_key(kr, id, key)) {
		rc = load_datakeys(kr, err);
		if (rc == LS_OK && !find_key(kr, id, key))
			rc = ls_err_set(err, LS_NOTFOUND, "%s/keys/datakeys.json has no data key %u",
					kr->dir, id);
	}
	pthread_mutex_unlock(&kr->mu);
	return rc;
}

ls_rc keys_new_data_key(struct keyring *kr, uint32_t *id, uint8_t key[KEYS_KEY_LEN],
			struct ls_err *err)
{
	struct dkey *nk;
	ls_rc rc;

	pthread_mutex_lock(&kr->mu);
	/* Another process (`keys rotate`) may have added keys since. */
	rc = load_datakeys(kr, err);
	if (rc != LS_OK)
		goto out;
	if (kr->n && kr->keys[kr->n - 1].id == UINT32_MAX) {
		rc = ls_err_set(err, LS_LIMIT, "no data key ids left");
		goto out;
	}
	if (kr->n == kr->cap) {
		size_t cap = kr->cap * 2 + 4;

		nk = calloc(cap, sizeof(*nk));
		if (!nk) {
			rc = ls_err_set(err, LS_NOMEM, "out of memory");
			goto out;
		}
		memcpy(nk, kr->keys, kr->n * sizeof(*nk));
		ls_wipe(kr->keys, kr->cap * sizeof(*kr->keys));
		free(kr->keys);
		kr->keys = nk;
		kr->cap = cap;
	}
	nk = &kr->keys[kr->n];
	nk->id = kr->n ? kr->keys[kr->n - 1].id + 1 : 1;
	if (ls_random(nk->key, KEYS_KEY_LEN) != LS_OK) {
		rc = ls_err_set(err, LS_IO, "the system random generator failed");
		goto out;
	}
	/* Invariant 2: durable before use. */
	rc = save_datakeys(kr, kr->keys, kr->n + 1, err);
	if (rc != LS_OK) {
		ls_wipe(nk, sizeof(*nk));
		goto out;
	}
	kr->n++;
	*id = nk->id;
	memcpy(key, nk->key, KEYS_KEY_LEN);
out:
	pthread_mutex_unlock(&kr->mu);
	return rc;
}

ls_rc keys_current(struct keyring *kr, uint32_t *id, uint8_t key[KEYS_KEY_LEN],
		   struct ls_err *err)
{
	ls_rc rc = LS_OK;

	pthread_mutex_lock(&kr->mu);
	if (kr->n == 0) {
		rc = ls_err_set(err, LS_NOTFOUND, "%s has no data key", kr->dir);
	} else {
		*id = kr->keys[kr->n - 1].id;
		memcpy(key, kr->keys[kr->n - 1].key, KEYS_KEY_LEN);
	}
	pthread_mutex_unlock(&kr->mu);
	return rc;
}

ls_rc keys_derive(struct keyring *kr, const char *label, uint8_t out[KEYS_KEY_LEN],
		  struct ls_err *err)
{
	uint8_t root[KEYS_KEY_LEN];
	ls_rc rc = keys_data_key(kr, 1, root, err);

	if (rc != LS_OK)
		return rc;
	ls_hmac_sha256(root, sizeof(root), label, strlen(label), out);
	ls_wipe(root, sizeof(root));
	return LS_OK;
}

ls_rc keys_master_hkdf(struct keyring *kr, const char *info, uint8_t out[KEYS_KEY_LEN],
		       struct ls_err *err)
{
	ls_rc rc;

	pthread_mutex_lock(&kr->mu);
	rc = ls_hkdf_sha256(kr->master, KEYS_KEY_LEN, NULL, 0, info, strlen(info), out,
			    KEYS_KEY_LEN);
	pthread_mutex_unlock(&kr->mu);
	if (rc != LS_OK)
		return ls_err_set(err, rc, "keys: HKDF of the master key failed");
	return LS_OK;
}

size_t keys_count(struct keyring *kr)
{
	size_t n;

	pthread_mutex_lock(&kr->mu);
	n = kr->n;
	pthread_mutex_unlock(&kr->mu);
	return n;
}

const char *keys_source_desc(struct keyring *kr)
{
	return kr->desc;
}

/* --------------------------------------------------------- init/rewrap --- */

ls_rc keys_init(const char *datadir, const struct keys_source *src, int create,
		struct ls_err *err)
{
	char path[PATH_MAX];
	struct keyring kr;
	json_t *o;
	ls_rc rc;

	if (strlen(datadir) > PATH_MAX - 64)
		return ls_err_set(err, LS_LIMIT, "data directory path too long");
	snprintf(path, sizeof(path), "%s/journal", datadir);
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already holds a log; refusing to overwrite it",
				  datadir);
	snprintf(path, sizeof(path), "%s/log/checkpoint", datadir);
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already holds a log; refusing to overwrite it",
				  datadir);
	keys_path(path, sizeof(path), datadir, "master.json");
	if (access(path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s already exists; refusing to overwrite it", path);
	memset(&kr, 0, sizeof(kr));
	/* DIR first, so that a default key file beside it has a parent. */
	keys_path(path, sizeof(path), datadir, "");
	rc = fs_mkdirs(path, 0700, err);
	if (rc != LS_OK)
		return rc;
	rc = keys_master_load(src, create, kr.master, err);
	if (rc != LS_OK)
		return rc;
	key_check(kr.master, kr.check);
	kr.dir = (char *)datadir;
	kr.keys = calloc(1, sizeof(*kr.keys));
	if (!kr.keys) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	kr.keys[0].id = 1;
	if (ls_random(kr.keys[0].key, KEYS_KEY_LEN) != LS_OK) {
		rc = ls_err_set(err, LS_IO, "the system random generator failed");
		goto out;
	}
	/* datakeys.json first: master.json is what marks the directory as
	 * encrypted, so it must not exist without the keys. */
	rc = save_datakeys(&kr, kr.keys, 1, err);
	if (rc != LS_OK)
		goto out;
	o = master_json(src, kr.check);
	if (!o) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	keys_path(path, sizeof(path), datadir, "master.json");
	rc = write_master(path, o, kr.keys[0].key, err);
	json_decref(o);
out:
	if (kr.keys) {
		ls_wipe(kr.keys, sizeof(*kr.keys));
		free(kr.keys);
	}
	ls_wipe(kr.master, sizeof(kr.master));
	return rc;
}

ls_rc keys_rewrap(const char *datadir, const struct keys_source *newsrc, int create,
		  struct ls_err *err)
{
	char path[PATH_MAX];
	struct keyring *kr, nk;
	json_t *o;
	ls_rc rc;

	rc = keys_get(datadir, &kr, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_NOTFOUND, "%s is not encrypted (no keys/master.json)",
				  datadir);
	if (rc != LS_OK)
		return rc;
	memset(&nk, 0, sizeof(nk));
	rc = keys_master_load(newsrc, create, nk.master, err);
	if (rc != LS_OK)
		return rc;
	key_check(nk.master, nk.check);
	nk.dir = kr->dir;
	o = master_json(newsrc, nk.check);
	if (!o) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&kr->mu);
	rc = load_datakeys(kr, err);
	if (rc == LS_OK)
		rc = save_datakeys(&nk, kr->keys, kr->n, err);
	if (rc == LS_OK) {
		uint8_t dk1[KEYS_KEY_LEN];

		keys_path(path, sizeof(path), kr->dir, "master.json");
		rc = find_key(kr, 1, dk1) ? write_master(path, o, dk1, err) :
		     ls_err_set(err, LS_CORRUPT, "%s/keys/datakeys.json has no data key 1", kr->dir);
		ls_wipe(dk1, sizeof(dk1));
	}
	if (rc == LS_OK) {
		/* The cached keyring goes on with the new master key, so that
		 * an open log keeps working (and wraps new data keys with it). */
		memcpy(kr->master, nk.master, sizeof(kr->master));
		memcpy(kr->check, nk.check, sizeof(kr->check));
		describe(newsrc, kr->desc, sizeof(kr->desc));
	}
	pthread_mutex_unlock(&kr->mu);
	json_decref(o);
out:
	ls_wipe(nk.master, sizeof(nk.master));
	return rc;
}
