/*
 * serve_upload.h - how the server starts the object store's uploader
 * (followers/upload.h): the store's settings from the serve options or
 * DIR/objstore.json (the options are written there), the credentials from
 * the environment and the AWS files (never stored), then upload_start().
 */
#ifndef LS_SERVE_UPLOAD_H
#define LS_SERVE_UPLOAD_H

#include "base/ls.h"
#include "followers/upload.h"
#include "store/log.h"

/* *out NULL (LS_OK) when no store is configured.  A tampered objstore.json
 * is LS_TAMPERED: the server does not start rather than upload elsewhere. */
struct serve_upload_args {
	const char *dir;
	const char *object_store;		/* the serve options (serve.h) */
	const char *object_store_endpoint;
	const char *object_store_region;
	int object_store_path_style;
	uint64_t object_lock_days;
	uint64_t object_store_backlog;
	struct log *log;
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
	const struct upload_gate *gate;		/* cluster mode; NULL: none */
};
ls_rc serve_upload_open(const struct serve_upload_args *o, struct upload **out,
			struct ls_err *err);

#endif
