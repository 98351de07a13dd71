/*
 * export.h - exports an auditor takes home: the verifiable bundle, and the
 * CSV / ECS / OCSF mappings for SIEMs; and the offline check of a bundle.
 * Pure formatting and checking: no files are written by the server side
 * (bytes go to a callback that streams them to the client), and the
 * verifier reads one file.
 *
 * Bundle (NDJSON, format documented in docs/FORMAT.md):
 *   line 1   header: origin, verifier key, the signed checkpoint note the
 *            proofs are made against, its size, the filter
 *   line 2.. one per entry: index, exact entry bytes (base64), leaf hash,
 *            inclusion proof (RFC 6962 order)
 *   last     the manifest: a note signed by the log's key whose first line
 *            is "logseal export manifest v1" (never a valid checkpoint),
 *            stating origin, filter, checkpoint size and root, entry count,
 *            and SHA-256 over (index as 8 bytes big-endian || leaf hash) of
 *            every entry in order.
 *
 * Calling sequence (server): export_begin() -> export_entry()* ->
 * export_end() -> export_free().  Entries must come in increasing index
 * order and be < the checkpoint size.
 */
#ifndef LS_EXPORT_H
#define LS_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"
#include "core/note.h"

struct log;

enum export_format { EXPORT_BUNDLE, EXPORT_CSV, EXPORT_ECS, EXPORT_OCSF };

/* Parse "bundle" (default when NULL), "csv", "ecs", "ocsf". */
ls_rc export_format_parse(const char *s, enum export_format *fmt);
/* Content type for the format ("application/x-ndjson", "text/csv; charset=utf-8"). */
const char *export_content_type(enum export_format fmt);

/* Where the bytes go; a non-LS_OK return aborts the export. */
typedef ls_rc (*export_out_fn)(void *ctx, const void *data, size_t n);

struct export_header {
	const char *origin;
	const char *verifier_key;   /* the C2SP verifier key string */
	const char *checkpoint;	    /* signed note text */
	uint64_t tree_size;	    /* its size */
	uint8_t root[LS_HASH_LEN];  /* its root */
	const char *filter_json;    /* canonical JSON of the filter, e.g. {"action":"db.*"} */
	int64_t created_us;	    /* when the export was made */
};

/*
 * What signs a bundle's manifest: the smallest thing that signs a note.
 * name and verifier are the key's (the header's origin and verifier key
 * must be them); sign() makes a signed note of text (ending in '\n') in a
 * malloc'd *note.  The writer keeps a copy of the struct; ctx must outlive
 * the writer.
 */
struct export_signer {
	const char *name;
	const struct note_verifier *verifier;
	ls_rc (*sign)(void *ctx, const char *text, size_t n, char **note, struct ls_err *err);
	void *ctx;
};

/* The signer of a log: its origin and key, log_sign_note(). */
struct export_signer export_log_signer(struct log *l);

struct export_writer;

/* signer: what signs the manifest (NULL only for CSV/ECS/OCSF). */
ls_rc export_begin(enum export_format fmt, const struct export_header *h,
		   const struct export_signer *signer, export_out_fn out, void *ctx,
		   struct export_writer **w, struct ls_err *err);
ls_rc export_entry(struct export_writer *w, uint64_t index, const uint8_t *entry, size_t len,
		   const uint8_t proof[][LS_HASH_LEN], size_t nproof, struct ls_err *err);
ls_rc export_end(struct export_writer *w, struct ls_err *err);
void export_free(struct export_writer *w);

struct bundle_report {
	uint64_t entries;
	uint64_t tree_size;
	char origin[NOTE_MAX_NAME];
	char filter[1024];
};

/* Check a bundle file offline against a verifier key: header, checkpoint
 * signature, every entry's proof, the manifest's signature and digest.
 * LS_OK only when all of it checks; otherwise err names the first bad line
 * ("line 17: inclusion proof does not match the checkpoint root"). */
ls_rc export_verify_bundle(const char *path, const struct note_verifier *key,
			   struct bundle_report *rep, struct ls_err *err);

/* A verifier key given on a command line: the key text itself
 * (name+keyid+key), or the name of a file holding it. */
ls_rc export_load_verifier(const char *arg, struct note_verifier *v, struct ls_err *err);

#endif
