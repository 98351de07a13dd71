/*
 * serve_upload.c - the server's start of the uploader (serve_upload.h):
 * options over DIR/objstore.json, options written back to it, the
 * credentials left to objstore_cfg_env().
 */
#include "server/serve_upload.h"

#include <stdio.h>
#include <string.h>

#include "store/objstore.h"

ls_rc serve_upload_open(const struct serve_upload_args *o, struct upload **out,
			struct ls_err *err)
{
	struct upload_cfg uc;
	struct upload_opts uo;
	struct objstore_cfg sc;
	struct objstore_url pu;
	struct ls_err e = { "" };
	ls_rc rc;

	*out = NULL;
	rc = upload_cfg_load(o->dir, &uc, &e);
	if (rc == LS_NOTFOUND && !o->object_store)
		return LS_OK;
	if (rc != LS_OK && rc != LS_NOTFOUND)
		return ls_err_set(err, rc, "object store configuration: %s%s", e.msg,
				  rc == LS_TAMPERED ? " (refusing to upload anywhere it names)" : "");
	if (rc == LS_NOTFOUND)
		memset(&uc, 0, sizeof(uc));
	{
		/* The options win over the file and are written to it. */
		struct upload_cfg old = uc;

		if (o->object_store && strcmp(uc.url, o->object_store) != 0) {
			memset(&uc, 0, sizeof(uc));
			snprintf(uc.url, sizeof(uc.url), "%s", o->object_store);
		}
		if (o->object_store_endpoint)
			snprintf(uc.endpoint, sizeof(uc.endpoint), "%s", o->object_store_endpoint);
		if (o->object_store_region)
			snprintf(uc.region, sizeof(uc.region), "%s", o->object_store_region);
		if (o->object_store_path_style)
			uc.path_style = 1;
		if (o->object_lock_days)
			uc.lock_days = o->object_lock_days;
		if (o->object_store_backlog)
			uc.backlog_bytes = o->object_store_backlog;
		if (memcmp(&old, &uc, sizeof(uc)) != 0) {
			rc = objstore_parse_url(uc.url, &pu, &e);
			if (rc != LS_OK)
				return ls_err_set(err, rc, "--object-store: %s", e.msg);
			if (!pu.s3)
				return ls_err_set(err, LS_INVALID, "--object-store %s: uploads need an "
						  "s3://BUCKET/PREFIX URL", uc.url);
			rc = upload_cfg_save(o->dir, &uc, &e);
			if (rc != LS_OK)
				return ls_err_set(err, rc, "saving %s/%s: %s", o->dir,
						  UPLOAD_CFG_FILE, e.msg);
		}
	}
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.url, sizeof(sc.url), "%s", uc.url);
	snprintf(sc.endpoint, sizeof(sc.endpoint), "%s", uc.endpoint);
	snprintf(sc.region, sizeof(sc.region), "%s", uc.region);
	sc.path_style = uc.path_style;
	rc = objstore_cfg_env(&sc, &e);
	if (rc == LS_OK) {
		rc = objstore_parse_url(sc.url, &pu, &e);
		if (rc == LS_OK && !pu.s3)
			rc = ls_err_set(&e, LS_INVALID, "uploads need an s3://BUCKET/PREFIX URL");
	}
	if (rc != LS_OK)
		goto fail;
	memset(&uo, 0, sizeof(uo));
	uo.dir = o->dir;
	uo.store = &sc;
	uo.lock_days = uc.lock_days;
	uo.backlog_bytes = uc.backlog_bytes;
	uo.log = o->log;
	uo.notice = o->notice;
	uo.notice_ctx = o->notice_ctx;
	uo.gate = o->gate;
	rc = upload_start(&uo, out, &e);
	if (rc == LS_OK) {
		memset(&sc, 0, sizeof(sc));
		return LS_OK;
	}
fail:
	memset(&sc, 0, sizeof(sc));
	return ls_err_set(err, rc, "object store %s: %s", uc.url, e.msg);
}
