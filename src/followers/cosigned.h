/*
 * cosigned.h - the cosigned history: every signed checkpoint that witnesses
 * cosigned, with their cosignature lines appended, kept forever next to the
 * log's own history (docs/FORMAT.md, docs/WITNESS.md "Cosigning").
 *
 *	DIR/checkpoints/<020 size>   the log's signed note (store/log.h), never
 *	                             rewritten
 *	DIR/cosigned/<020 size>      the same note with the cosignature lines of
 *	                             the witnesses that cosigned it appended:
 *	                             "<checkpoint text>\n<log signature>\n"
 *	                             "<cosignature line>\n"...  Written durably
 *	                             (temp file, fsync, rename, fsync dir), again
 *	                             each time one more witness cosigns.
 *
 * A reader of DIR/cosigned/<size> checks it as any signed note: signature
 * lines by keys it does not know are ignored (C2SP signed-note), so the file
 * opens with the log's key alone (log.c's recovery reads DIR/log/checkpoint,
 * which may carry them too).  Nothing here trusts a cosignature line: the
 * witness follower (witness.h) verifies each with its witness's key before
 * it is merged.
 */
#ifndef LS_COSIGNED_H
#define LS_COSIGNED_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/ls.h"

/* The largest cosigned note kept (the log's note plus the lines). */
#define COSIGNED_MAX 65536

/* "DIR/cosigned/<020 size>" into out; LS_LIMIT when it does not fit. */
ls_rc cosigned_path(const char *dir, uint64_t size, char *out, size_t cap);

/* The best note of checkpoint `size`: the cosigned copy when there is one
 * (*cosigned = 1), else the log's signed note.  *note malloc'd.
 * LS_NOTFOUND when the log signed no checkpoint of that size.  cosigned
 * may be NULL. */
ls_rc cosigned_read(const char *dir, uint64_t size, char **note, int *cosigned);

/* Write DIR/cosigned/<size> durably (the directory is made when missing). */
ls_rc cosigned_store(const char *dir, uint64_t size, const char *note, size_t len,
		     struct ls_err *err);

/*
 * Pure: the note with the signature lines of `lines` (each "— name
 * base64\n", as a witness's 200 reply) merged in: a line already there is
 * not added twice, and a line whose name and key id (the first 4 bytes of
 * its base64 payload) are those of a line already there replaces it (a
 * witness that cosigned the same checkpoint again, with a later time).
 * *out malloc'd (NUL-terminated).  LS_INVALID when note has no signature
 * block or a line is not a signature line; LS_LIMIT past COSIGNED_MAX.
 */
ls_rc cosigned_merge(const char *note, size_t n, const char *lines, size_t ln, char **out,
		     size_t *out_len);

/* One signed checkpoint of the history (GET /v1/checkpoints). */
struct cosigned_ent {
	uint64_t size;
	struct timespec time;	/* when the log stored it (the file's mtime) */
	int cosigned;		/* DIR/cosigned/<size> exists */
};

/* The signed checkpoints of DIR/checkpoints with size >= from, in
 * increasing size, at most limit of them into *out (malloc'd); *more is 1
 * when there are others after the last.  Files whose name is not a size
 * are skipped. */
ls_rc cosigned_list(const char *dir, uint64_t from, size_t limit, struct cosigned_ent **out,
		    size_t *n, int *more, struct ls_err *err);

#endif
