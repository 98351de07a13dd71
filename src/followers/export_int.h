/*
 * export_int.h - what the pieces of the export module share (export.c: the
 * writer and the small helpers; export_formats.c: the CSV / ECS / OCSF
 * mappings; export_verify.c: the offline check of a bundle).  Not for use
 * outside src/followers/export*.c.  Include it after followers/export.h
 * (it does not include it, so that the module's include graph has no loop).
 */
#ifndef LS_EXPORT_INT_H
#define LS_EXPORT_INT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define BUNDLE_ID "logseal/export/v1"
#define MANIFEST_MARKER "logseal export manifest v1"
#define MANIFEST_LINES 7
#define MANIFEST_FMT MANIFEST_MARKER "\n%s\nfilter %s\ncheckpoint %llu %s\nentries %llu\n" \
		     "digest %s\ncreated %s\n"
/* The longest line the writer makes: the header or manifest, a note of at
 * most NOTE_MAX_SIZE bytes that JSON escaping at most doubles (a note has
 * no control character but '\n'), or an entry line, 87,380 bytes of base64
 * plus 64 proof hashes.  256 KiB covers them all. */
#define BUNDLE_LINE_MAX (256 * 1024)
#define FILTER_MAX 1023		/* canonical filter bytes (fits bundle_report.filter) */
#define EXPORT_FLUSH (64 * 1024)
#define VKEY_FILE_MAX 4096

#define ECS_VERSION "8.11.0"
#define OCSF_VERSION "1.1.0"

/* An output buffer that grows; the ob_* functions return LS_NOMEM when it
 * cannot. */
struct obuf {
	char *p;
	size_t n, cap;
};

ls_rc ob_reserve(struct obuf *b, size_t more);
ls_rc ob_put(struct obuf *b, const void *s, size_t n);
ls_rc ob_puts(struct obuf *b, const char *s);
ls_rc ob_u64(struct obuf *b, uint64_t v);
ls_rc ob_b64(struct obuf *b, const void *in, size_t n);
/* A JSON value appended compactly (strings escaped by jansson). */
ls_rc ob_json(struct obuf *b, const json_t *v, size_t flags);
ls_rc ob_json_str(struct obuf *b, const char *s);
/* Incremental SHA-256 over (index as 8 bytes big-endian || leaf hash), the
 * manifest digest. */
EVP_MD_CTX *digest_new(void);
int digest_add(EVP_MD_CTX *md, uint64_t index, const uint8_t leaf[LS_HASH_LEN]);
int digest_final(EVP_MD_CTX *md, uint8_t out[LS_HASH_LEN]);
/* The manifest's signed text (export.c says its lines): made by this one
 * function for the writer and the verifier. */
ls_rc manifest_text(const char *origin, const char *filter, uint64_t size,
		     const uint8_t root[LS_HASH_LEN], uint64_t count,
		     const uint8_t digest[LS_HASH_LEN], const char *created, char **out,
		     size_t *len);
/* Canonical JSON of a filter object (text given, or "{}" for none). */
ls_rc canon_filter(const char *text, char **out, struct ls_err *err);
int same_key(const struct note_verifier *a, const struct note_verifier *b);

struct export_writer {
	enum export_format fmt;
	export_out_fn out;
	void *ctx;
	struct export_signer signer;	/* bundles only */
	int has_signer;
	char *origin;		/* NULL for SIEM formats without a header */
	char *filter;		/* canonical */
	char created[32];
	uint64_t tree_size;
	uint8_t root[LS_HASH_LEN];
	uint64_t count;
	int have_last;
	uint64_t last;
	EVP_MD_CTX *md;
	struct obuf b;
	ls_rc failed;		/* sticky: first error, refused from then on */
	int ended;
};

/* The header line of a CSV export. */
extern const char *const export_csv_columns;

/* One entry in the writer's SIEM format (CSV, ECS or OCSF) appended to w->b. */
ls_rc export_siem_entry(struct export_writer *w, uint64_t index, const uint8_t *entry,
			size_t len, const uint8_t leaf[LS_HASH_LEN], struct ls_err *err);

#endif
