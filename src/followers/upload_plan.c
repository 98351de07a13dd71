/*
 * upload_plan.c - the uploader's pure parts (upload.h "planning"): which
 * tiles and bundles a tree size needs, the object keys of the bucket
 * layout (docs/FORMAT.md §13), the size in a checkpoint note; and
 * DIR/objstore.json, the store's configuration (sealed, cfgseal.h).
 */
#include "followers/upload.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "followers/retention.h"
#include "store/cfgseal.h"
#include "store/tiles.h"

/* Nodes at tile level L of a tree of size s: s >> 8L. */
static uint64_t nodes_at(uint64_t s, int level)
{
	return level * TILE_HEIGHT >= 64 ? 0 : s >> (level * TILE_HEIGHT);
}

int upload_plan_full(uint64_t from, uint64_t to, upload_tile_fn fn, void *ctx)
{
	uint64_t a, b, n;
	int level, r;

	if (from > to)
		return 0;
	/* entry bundles */
	for (n = from / TILE_WIDTH; n < to / TILE_WIDTH; n++)
		if ((r = fn(ctx, -1, n, TILE_WIDTH)) != 0)
			return r;
	for (level = 0; nodes_at(to, level) >= TILE_WIDTH; level++) {
		a = nodes_at(from, level) / TILE_WIDTH;
		b = nodes_at(to, level) / TILE_WIDTH;
		for (n = a; n < b; n++)
			if ((r = fn(ctx, level, n, TILE_WIDTH)) != 0)
				return r;
	}
	return 0;
}

int upload_plan_partial(uint64_t size, upload_tile_fn fn, void *ctx)
{
	uint64_t nodes;
	int level, r;

	if (size % TILE_WIDTH && (r = fn(ctx, -1, size / TILE_WIDTH, size % TILE_WIDTH)) != 0)
		return r;
	for (level = 0; (nodes = nodes_at(size, level)) > 0; level++) {
		if (nodes % TILE_WIDTH &&
		    (r = fn(ctx, level, nodes / TILE_WIDTH, (unsigned)(nodes % TILE_WIDTH))) != 0)
			return r;
		if (nodes < TILE_WIDTH)
			break;
	}
	return 0;
}

void upload_tile_key(int level, uint64_t n, unsigned w, char *out, size_t cap)
{
	char p[TILES_PATH_MAX];

	if (tiles_path(level, n, w, p, sizeof(p)) != LS_OK)
		p[0] = 0;
	snprintf(out, cap, "log/%s", p);
}

void upload_segment_key(uint64_t first, char *out, size_t cap)
{
	snprintf(out, cap, "segments/%016" PRIx64 ".seal", first);
}

void upload_checkpoint_key(uint64_t size, char *out, size_t cap)
{
	snprintf(out, cap, "checkpoints/%" PRIu64, size);
}

int64_t upload_note_size(const char *note, size_t n)
{
	const char *nl = memchr(note, '\n', n), *p, *end;
	uint64_t v = 0;

	if (!nl)
		return -1;
	p = nl + 1;
	end = memchr(p, '\n', n - (size_t)(p - note));
	if (!end || end == p || (end - p > 1 && *p == '0'))
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return v > INT64_MAX ? -1 : (int64_t)v;
}

/* --------------------------------------------------------------- config --- */

static void copy_str(json_t *o, const char *k, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (s)
		snprintf(out, cap, "%s", s);
}

ls_rc upload_cfg_load(const char *dir, struct upload_cfg *cfg, struct ls_err *err)
{
	char path[PATH_MAX], *text = NULL;
	json_error_t je;
	json_t *o, *v;
	size_t len;
	ls_rc rc;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(path, sizeof(path), "%s/%s", dir, UPLOAD_CFG_FILE);
	rc = cfgseal_read_file(dir, CFGSEAL_OBJSTORE, path, 1u << 20, &text, &len, err);
	if (rc != LS_OK)
		return rc;
	o = json_loadb(text, len, 0, &je);
	free(text);
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "url"))) {
		json_decref(o);
		return ls_err_set(err, LS_CORRUPT, "%s: not an object store configuration "
				  "(a JSON object with \"url\")", path);
	}
	copy_str(o, "url", cfg->url, sizeof(cfg->url));
	copy_str(o, "endpoint", cfg->endpoint, sizeof(cfg->endpoint));
	copy_str(o, "region", cfg->region, sizeof(cfg->region));
	cfg->path_style = json_is_true(json_object_get(o, "path_style"));
	if (json_is_integer(v = json_object_get(o, "lock_days")) && json_integer_value(v) > 0)
		cfg->lock_days = (uint64_t)json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "backlog_bytes")) && json_integer_value(v) > 0)
		cfg->backlog_bytes = (uint64_t)json_integer_value(v);
	json_decref(o);
	return LS_OK;
}

ls_rc upload_cfg_save(const char *dir, const struct upload_cfg *cfg, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	json_t *o = json_object();
	ls_rc rc;

	json_object_set_new(o, "url", json_string(cfg->url));
	json_object_set_new(o, "endpoint", json_string(cfg->endpoint));
	json_object_set_new(o, "region", json_string(cfg->region));
	json_object_set_new(o, "path_style", json_boolean(cfg->path_style));
	if (cfg->lock_days)
		json_object_set_new(o, "lock_days", json_integer((json_int_t)cfg->lock_days));
	else
		json_object_set_new(o, "lock_days", json_null());
	if (cfg->backlog_bytes)
		json_object_set_new(o, "backlog_bytes",
				    json_integer((json_int_t)cfg->backlog_bytes));
	else
		json_object_set_new(o, "backlog_bytes", json_null());
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", dir, UPLOAD_CFG_FILE);
	rc = cfgseal_write_file(dir, CFGSEAL_OBJSTORE, path, text, strlen(text), 0600, err);
	free(text);
	return rc;
}

uint64_t upload_default_lock_days(const char *dir)
{
	struct retention_policy p;
	struct ls_err err = { "" };
	int64_t best;

	if (retention_policy_load(dir, &p, &err) != LS_OK)
		return UPLOAD_DEFAULT_LOCK_DAYS;
	best = p.def.hot_days + p.def.archive_days;
	for (size_t i = 0; i < p.nsvc; i++)
		if (p.svc[i].hot_days + p.svc[i].archive_days > best)
			best = p.svc[i].hot_days + p.svc[i].archive_days;
	retention_policy_release(&p);
	return best > 0 ? (uint64_t)best : UPLOAD_DEFAULT_LOCK_DAYS;
}
