/*
 * objstore.h - an S3-compatible bucket (or a read-only https tree) as the
 * rest of logseal sees it: put once, get, head, list, delete, with AWS
 * SigV4 signing done by libcurl (CURLOPT_AWS_SIGV4), never by hand.
 *
 * A store is named by a URL:
 *	s3://BUCKET/PREFIX     read-write; every key below is PREFIX/<key>
 *	https://HOST/PATH      read-only (get, head): a published tree, as an
 *	http://HOST/PATH       auditor or `verify --tiles` reads it
 * and configured the way AWS tools are (objstore_cfg_env): the variables
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_ENDPOINT_URL (AWS_ENDPOINT_URL_S3 first), AWS_REGION /
 * AWS_DEFAULT_REGION, AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE
 * (~/.aws/credentials) and AWS_CONFIG_FILE (~/.aws/config: region), plus
 * our own LOGSEAL_S3_PATH_STYLE=1 and LOGSEAL_S3_CACERT.  Explicit
 * settings (struct objstore_cfg, filled by options) win over the
 * environment, which wins over the files.  Secrets never appear in an
 * error message, a log line or objstore_describe().
 *
 * Invariants:
 *  1. Every request is signed with SigV4 by libcurl ("aws:amz:REGION:s3")
 *     and carries x-amz-content-sha256 (the payload's SHA-256; RGW and AWS
 *     refuse a signed request without it).  TLS peers are verified unless
 *     cfg.insecure (tests with a self-signed RGW use cfg.cacert instead).
 *  2. objstore_put() with if_none_match sends If-None-Match: * : an object
 *     is written once; 412 is LS_EXISTS and the object is left as it was.
 *     It HEADs the key first too (LS_EXISTS when there): Ceph RGW 16.2
 *     ignores If-None-Match on versioned buckets (all Object Lock ones)
 *     and would store a second version.  if_none_match = 2 skips that
 *     HEAD (a caller that knows the key is new: the uploader after its
 *     first step).
 *  3. With lock_until (Unix seconds) the PUT carries
 *     x-amz-object-lock-mode: COMPLIANCE and
 *     x-amz-object-lock-retain-until-date (and Content-MD5, which S3
 *     requires with a lock); legal_hold adds x-amz-object-lock-legal-hold.
 *  4. Errors name what failed without secrets, e.g.
 *	"s3://logs/prod: PUT log/tile/0/000: HTTP 403 SignatureDoesNotMatch
 *	 (The request signature we calculated does not match ...)"
 *     and map to: LS_IO (no reply: connect, TLS, timeout, 5xx after the
 *     retries of one call), LS_DENIED (401, 403: credentials, Object Lock),
 *     LS_NOTFOUND (404, NoSuchKey, NoSuchBucket), LS_EXISTS (412),
 *     LS_INVALID (other 4xx, a bad URL or configuration), LS_CORRUPT (a
 *     reply that does not parse).  objstore_last_s3_code() gives the S3
 *     error code of the thread's last failed call ("" when none).
 *  5. Thread-safe: any number of threads may call at once (each call takes
 *     its own curl handle from a small pool).  One call retries a 5xx or a
 *     dropped connection a few times with backoff (bounded, < 5 s in all);
 *     callers that must not give up (the uploader) retry on their own.
 *  6. Replies held in memory are capped (cap argument, else
 *     OBJSTORE_REPLY_CAP); a larger object is LS_LIMIT.
 */
#ifndef LS_OBJSTORE_H
#define LS_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define OBJSTORE_REPLY_CAP (64u << 20)
#define OBJSTORE_KEY_MAX 1024

struct objstore_cfg {
	char url[1024];		/* s3://BUCKET/PREFIX or http(s)://... */
	char endpoint[512];	/* "" : https://s3.REGION.amazonaws.com */
	char region[64];	/* "" : us-east-1 */
	int path_style;		/* 1: ENDPOINT/BUCKET/KEY; 0: BUCKET.HOST/KEY */
	char access_key[256];
	char secret_key[256];
	char session_token[4096];
	char cacert[1024];	/* "" : the system's CA store */
	int insecure;		/* 1: do not verify TLS peers (never the default) */
	uint32_t timeout_ms;	/* per request; 0: 30000 */
};

/* Fill what cfg leaves empty from the environment and the AWS files (see
 * above); cfg->url must be set.  LS_INVALID names a malformed URL or a
 * missing credential (for s3:// only). */
ls_rc objstore_cfg_env(struct objstore_cfg *cfg, struct ls_err *err);

struct objstore;
ls_rc objstore_open(const struct objstore_cfg *cfg, struct objstore **out, struct ls_err *err);
void objstore_close(struct objstore *s);

/* "s3://BUCKET/PREFIX at ENDPOINT (region R, path-style)": no secrets. */
const char *objstore_describe(const struct objstore *s);
/* 1 for s3:// stores (writable), 0 for http(s):// trees. */
int objstore_writable(const struct objstore *s);

struct objstore_put_opts {
	int if_none_match;	/* 1: write once (invariant 2); 2: the same
				 * without the HEAD first, for a caller that
				 * knows the key was never written (on RGW a
				 * mistaken second write then adds a version;
				 * the locked first one stays) */
	int64_t lock_until;	/* > 0: COMPLIANCE retention until (Unix s) */
	int legal_hold;		/* 1: legal hold ON */
	const char *content_type; /* NULL: application/octet-stream */
};
ls_rc objstore_put(struct objstore *s, const char *key, const void *data, size_t n,
		   const struct objstore_put_opts *o, struct ls_err *err);
/* The same, streaming the file at path (its SHA-256 and MD5 are computed
 * first, so the file must not change meanwhile). */
ls_rc objstore_put_file(struct objstore *s, const char *key, const char *path,
			const struct objstore_put_opts *o, struct ls_err *err);

/* The whole object into *data (malloc'd, NUL-terminated beyond *n); cap 0:
 * OBJSTORE_REPLY_CAP. */
ls_rc objstore_get(struct objstore *s, const char *key, char **data, size_t *n, size_t cap,
		   struct ls_err *err);
/* The object into the file at path (written to path.tmp, fsync'd, renamed). */
ls_rc objstore_get_file(struct objstore *s, const char *key, const char *path,
			struct ls_err *err);

struct objstore_info {
	uint64_t size;
	char etag[80];
	char version_id[128];	/* "" when the bucket has no versioning */
	char lock_mode[16];	/* "COMPLIANCE", "GOVERNANCE" or "" */
	int64_t lock_until;	/* Unix s, 0 when none */
	int legal_hold;
};
ls_rc objstore_head(struct objstore *s, const char *key, struct objstore_info *info,
		    struct ls_err *err);

/* Keys under prefix (relative to the store's PREFIX), in S3's order
 * (ascending), ListObjectsV2 page by page; fn returns non-zero to stop. */
typedef int (*objstore_list_fn)(void *ctx, const char *key, uint64_t size);
ls_rc objstore_list(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		    struct ls_err *err);

/* Delete one version (version_id NULL: the current one, which in a
 * versioned bucket only adds a delete marker).  LS_DENIED when Object
 * Lock or a legal hold forbids it. */
ls_rc objstore_delete(struct objstore *s, const char *key, const char *version_id,
		      struct ls_err *err);
/* Delete every version of key (purge): LS_DENIED, with nothing deleted
 * that a lock protects, when any version is locked or held. */
ls_rc objstore_delete_all(struct objstore *s, const char *key, struct ls_err *err);

/* Reach the bucket (HEAD bucket): LS_OK, or the error that says why not.
 * *object_lock (may be NULL): 1 when the bucket has Object Lock enabled. */
ls_rc objstore_ping(struct objstore *s, int *object_lock, struct ls_err *err);

/* Create the bucket with Object Lock enabled (tests, `init`): LS_EXISTS
 * when it is there. */
ls_rc objstore_create_bucket(struct objstore *s, struct ls_err *err);

/* The S3 error code of this thread's last failed call, or "". */
const char *objstore_last_s3_code(void);

/* Pure helpers (fuzzed): parse an s3:// or http(s):// URL; pull Code and
 * Message out of an S3 error document; walk a ListObjectsV2 /
 * ListObjectVersions reply. */
struct objstore_url {
	int s3;			/* 1: s3://, 0: http(s):// */
	char bucket[256];	/* s3 only */
	char prefix[OBJSTORE_KEY_MAX]; /* no leading or trailing '/' */
	char base[1024];	/* http(s) only: scheme://host[:port]/path */
};
ls_rc objstore_parse_url(const char *url, struct objstore_url *out, struct ls_err *err);
void objstore_parse_error(const char *xml, size_t n, char *code, size_t code_cap, char *msg,
			  size_t msg_cap);
struct objstore_listing {
	char **keys;		/* malloc'd */
	uint64_t *sizes;
	char **version_ids;	/* ListObjectVersions only, else NULL */
	size_t n;
	int truncated;
	char next_token[1024];	/* NextContinuationToken / NextKeyMarker */
	char next_version[256];	/* NextVersionIdMarker */
};
ls_rc objstore_parse_listing(const char *xml, size_t n, struct objstore_listing *out,
			     struct ls_err *err);
void objstore_listing_free(struct objstore_listing *l);

#endif
