/*
 * tier_s3.c - the object store of a data directory as the tier (tier.h)
 * and retention use it: DIR/objstore.json (sealed, purpose
 * CFGSEAL_OBJSTORE; {"url", "endpoint", "region", "path_style",
 * "lock_days", ...}, written by `init`/`serve --object-store`, see
 * followers/upload.h) read here too, because store/ reads the bucket's
 * segments below the layer of the uploader; credentials from the
 * environment and the AWS files (objstore_cfg_env).  One client per data
 * directory per process, opened on first use and kept.
 */
#include "store/tier.h"
#include "store/cfgseal.h"
#include "store/objstore.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX (64u << 10)

ls_rc tier_s3_fetch(void *ctx, const char *datadir, const char *key, const char *path,
		    struct ls_err *err);

struct conn {
	struct conn *next;
	char *dir;
	struct objstore *os;
	struct tier_store_cfg cfg;
};

static pthread_mutex_t c_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;

ls_rc tier_store_cfg_load(const char *datadir, struct tier_store_cfg *cfg, struct ls_err *err)
{
	char path[PATH_MAX], *text;
	size_t len;
	json_t *o, *v;
	ls_rc rc;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(path, sizeof(path), "%s/objstore.json", datadir);
	rc = cfgseal_read_file(datadir, CFGSEAL_OBJSTORE, path, CFG_MAX, &text, &len, err);
	if (rc != LS_OK)
		return rc;
	o = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "url"))) {
		json_decref(o);
		return ls_err_set(err, LS_CORRUPT, "%s: no \"url\"", path);
	}
	snprintf(cfg->url, sizeof(cfg->url), "%s", json_string_value(json_object_get(o, "url")));
	if (json_is_string(v = json_object_get(o, "endpoint")))
		snprintf(cfg->endpoint, sizeof(cfg->endpoint), "%s", json_string_value(v));
	if (json_is_string(v = json_object_get(o, "region")))
		snprintf(cfg->region, sizeof(cfg->region), "%s", json_string_value(v));
	cfg->path_style = json_is_true(json_object_get(o, "path_style")) ||
			  (json_is_integer(json_object_get(o, "path_style")) &&
			   json_integer_value(json_object_get(o, "path_style")));
	if (json_is_integer(v = json_object_get(o, "lock_days")) && json_integer_value(v) > 0)
		cfg->lock_days = (uint64_t)json_integer_value(v);
	json_decref(o);
	return LS_OK;
}

ls_rc tier_store(const char *datadir, struct objstore **os, struct tier_store_cfg *cfg,
		 struct ls_err *err)
{
	struct objstore_cfg oc;
	struct conn *c;
	ls_rc rc;

	*os = NULL;
	pthread_mutex_lock(&c_mu);
	for (c = conns; c; c = c->next)
		if (!strcmp(c->dir, datadir))
			break;
	if (c) {
		*os = c->os;
		if (cfg)
			*cfg = c->cfg;
		pthread_mutex_unlock(&c_mu);
		return LS_OK;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->dir = strdup(datadir))) {
		free(c);
		pthread_mutex_unlock(&c_mu);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	rc = tier_store_cfg_load(datadir, &c->cfg, err);
	if (rc == LS_OK) {
		memset(&oc, 0, sizeof(oc));
		snprintf(oc.url, sizeof(oc.url), "%s", c->cfg.url);
		snprintf(oc.endpoint, sizeof(oc.endpoint), "%s", c->cfg.endpoint);
		snprintf(oc.region, sizeof(oc.region), "%s", c->cfg.region);
		oc.path_style = c->cfg.path_style;
		rc = objstore_cfg_env(&oc, err);
		if (rc == LS_OK)
			rc = objstore_open(&oc, &c->os, err);
		memset(&oc, 0, sizeof(oc));
	}
	if (rc != LS_OK) {
		free(c->dir);
		free(c);
		pthread_mutex_unlock(&c_mu);
		return rc;
	}
	c->next = conns;
	conns = c;
	*os = c->os;
	if (cfg)
		*cfg = c->cfg;
	pthread_mutex_unlock(&c_mu);
	return LS_OK;
}

ls_rc tier_s3_fetch(void *ctx, const char *datadir, const char *key, const char *path,
		    struct ls_err *err)
{
	struct objstore *os;
	ls_rc rc;

	(void)ctx;
	rc = tier_store(datadir, &os, NULL, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_NOTFOUND,
				  "%s: object %s is in the bucket, and there is no objstore.json",
				  datadir, key);
	if (rc != LS_OK)
		return rc;
	return objstore_get_file(os, key, path, err);
}

void tier_md5_hex(const void *data, size_t n, char out[33])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	EVP_Digest(data, n, md, &mdlen, EVP_md5(), NULL);
	ls_hex(md, 16, out);
}
