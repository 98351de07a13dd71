/*
 * verify_src.c - the sources `verify --tiles` reads objects from
 * (verify_src.h): a local directory (files under it, walked for a listing)
 * or an object store (objstore_get / objstore_list).
 */
#include "followers/verify_src.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fsutil.h"
#include "store/objstore.h"

struct verify_src {
	char name[1100];
	char dir[PATH_MAX];	/* directory source */
	struct objstore *os;	/* store source */
};

ls_rc verify_src_dir(const char *dir, struct verify_src **out, struct ls_err *err)
{
	struct verify_src *s;
	struct stat st;
	size_t n = strlen(dir);

	if (n == 0 || n > PATH_MAX - 300)
		return ls_err_set(err, LS_INVALID, "bad directory path");
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return ls_err_set(err, LS_NOTFOUND, "%s: not a directory", dir);
	s = calloc(1, sizeof(*s));
	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	while (n > 1 && dir[n - 1] == '/')
		n--;
	snprintf(s->dir, sizeof(s->dir), "%.*s", (int)n, dir);
	snprintf(s->name, sizeof(s->name), "%s", s->dir);
	*out = s;
	return LS_OK;
}

ls_rc verify_src_objstore(struct objstore *os, const char *name, struct verify_src **out,
			  struct ls_err *err)
{
	struct verify_src *s = calloc(1, sizeof(*s));
	size_t n = strlen(name);

	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	while (n > 0 && name[n - 1] == '/')
		n--;
	snprintf(s->name, sizeof(s->name), "%.*s", (int)n, name);
	s->os = os;
	*out = s;
	return LS_OK;
}

void verify_src_free(struct verify_src *src)
{
	free(src);
}

const char *verify_src_name(const struct verify_src *src)
{
	return src->name;
}

int verify_src_can_list(const struct verify_src *src)
{
	return !src->os || objstore_writable(src->os);
}

/* A key must stay under the source: no "..", no absolute path. */
static int key_ok(const char *key)
{
	const char *p = key;

	if (!*key || *key == '/' || strlen(key) >= OBJSTORE_KEY_MAX)
		return 0;
	while (p) {
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0))
			return 0;
		p = strchr(p, '/');
		if (p)
			p++;
	}
	return 1;
}

ls_rc verify_src_get(struct verify_src *src, const char *key, size_t cap, uint8_t **data,
		     size_t *n, struct ls_err *err)
{
	if (!key_ok(key))
		return ls_err_set(err, LS_INVALID, "%s: not a key", key);
	if (src->os)
		return objstore_get(src->os, key, (char **)data, n, cap, err);
	{
		char path[PATH_MAX + OBJSTORE_KEY_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", src->dir, key);
		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
			return ls_err_set(err, LS_NOTFOUND, "%s: not a file", path);
		return fs_read_file(path, cap, (char **)data, n, err);
	}
}

/* Files under DIR/rel, recursively; keys relative to DIR. */
static ls_rc walk(const char *base, char *rel, size_t cap, verify_src_list_fn fn, void *ctx,
		  int *stop, struct ls_err *err)
{
	char path[PATH_MAX + OBJSTORE_KEY_MAX];
	size_t rl = strlen(rel);
	struct dirent *de;
	ls_rc rc = LS_OK;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	d = opendir(path);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? LS_OK :
			ls_err_set(err, LS_IO, "%s: %s", path, strerror(errno));
	while (rc == LS_OK && !*stop && (de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp"))
			continue; /* an interrupted durable write: never published */
		if (rl + strlen(de->d_name) + 2 >= cap) {
			rc = ls_err_set(err, LS_LIMIT, "%s/%s: path too long", path, de->d_name);
			break;
		}
		snprintf(rel + rl, cap - rl, "%s%s", rl ? "/" : "", de->d_name);
		snprintf(path, sizeof(path), "%s/%s", base, rel);
		if (lstat(path, &st) != 0)
			; /* gone meanwhile */
		else if (S_ISDIR(st.st_mode))
			rc = walk(base, rel, cap, fn, ctx, stop, err);
		else if (S_ISREG(st.st_mode) && fn(ctx, rel, (uint64_t)st.st_size))
			*stop = 1;
		rel[rl] = 0;
	}
	closedir(d);
	return rc;
}

ls_rc verify_src_list(struct verify_src *src, const char *prefix, verify_src_list_fn fn,
		      void *ctx, struct ls_err *err)
{
	char rel[OBJSTORE_KEY_MAX];
	size_t n = strlen(prefix);
	int stop = 0;

	if (src->os) {
		if (!objstore_writable(src->os))
			return ls_err_set(err, LS_INVALID, "%s: an http(s) tree has no listing",
					  src->name);
		return objstore_list(src->os, prefix, fn, ctx, err);
	}
	/* prefix is a folder ("log/tile/"): walk it */
	if (n >= sizeof(rel) || (n && !key_ok(prefix)))
		return ls_err_set(err, LS_INVALID, "%s: not a prefix", prefix);
	snprintf(rel, sizeof(rel), "%.*s", (int)(n && prefix[n - 1] == '/' ? n - 1 : n), prefix);
	return walk(src->dir, rel, sizeof(rel), fn, ctx, &stop, err);
}
