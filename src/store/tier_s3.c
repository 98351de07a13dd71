/*
 * tier_s3.c - how the tier (tier.h) fetches a remote segment: through the
 * object store named in DIR/objstore.json (store/objstore.h).  Until the
 * object store client is built into this tree, there is nothing to fetch
 * from and a remote segment is an error that says so.
 */
#include "store/tier.h"

ls_rc tier_s3_fetch(void *ctx, const char *datadir, const char *key, const char *path,
		    struct ls_err *err);

ls_rc tier_s3_fetch(void *ctx, const char *datadir, const char *key, const char *path,
		    struct ls_err *err)
{
	(void)ctx;
	(void)path;
	return ls_err_set(err, LS_INVALID, "%s: object %s: no object store client in this build",
			  datadir, key);
}
