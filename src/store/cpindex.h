/*
 * cpindex.h - DIR/checkpoints.index, the sealed record of every signed
 * checkpoint (docs/FORMAT.md §8).
 *
 * DIR/checkpoints/ keeps every signed checkpoint, but a file deleted from
 * there leaves no trace in the others: the index is what says that it
 * existed.  One line per checkpoint, appended (and made durable) after the
 * checkpoint's file is written and before it is published:
 *
 *	<size> <previous size> <root, base64> <64 hex: HMAC>\n
 *
 * HMAC = HMAC-SHA256(K, "checkpoints.index" || 0x00 || the line's first
 * three fields with their separating spaces), K = cfgseal_key(dir,
 * CFGSEAL_CHECKPOINTS).  The first line is "0 0 <empty root> ...";
 * every next line's previous size is the size of the line before it, so a
 * line removed from the middle breaks the chain, and a line cannot be made
 * without K.  Removing lines at the end, with the newest checkpoints, is a
 * rollback, which only a witness can show (out of scope here).
 *
 * A crash between the checkpoint file and its line leaves one signed
 * checkpoint above the last line: log_open() adds its line.  A crash in the
 * middle of an append leaves a last line without its newline: readers skip
 * it and log_open() cuts it.
 */
#ifndef LS_CPINDEX_H
#define LS_CPINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define CPINDEX_FILE "checkpoints.index"

struct cpindex_ent {
	uint64_t size;
	uint8_t root[LS_HASH_LEN];
};

/* One line of the index without its newline (line[len] == 0), checked:
 * LS_CORRUPT when it is not of the form above, LS_TAMPERED when its HMAC
 * under key does not match.  Pure (cpindex_load reads the file), so that the
 * fuzz target can reach it without a file. */
ls_rc cpindex_parse_line(const uint8_t key[32], const char *line, size_t len, uint64_t *size,
			 uint64_t *prev, uint8_t root[LS_HASH_LEN]);

/* Every line of DIR/checkpoints.index, checked (seal, chain, increasing
 * sizes).  LS_NOTFOUND when there is no index; LS_TAMPERED naming the
 * line.  A last line without its newline is skipped, and with repair cut
 * from the file. */
ls_rc cpindex_load(const char *dir, const uint8_t key[32], int repair, struct cpindex_ent **out,
		   size_t *n, struct ls_err *err);

/* Append the line of checkpoint (size, root) after the one of size prev,
 * durably (fdatasync; directory fsync when the file is new). */
ls_rc cpindex_append(const char *dir, const uint8_t key[32], uint64_t prev, uint64_t size,
		     const uint8_t root[LS_HASH_LEN], struct ls_err *err);

/* Replace the index with the lines of e[0..n) (sizes increasing, e[0]
 * the empty tree), durably: the migration of a directory made before the
 * index existed. */
ls_rc cpindex_write_all(const char *dir, const uint8_t key[32], const struct cpindex_ent *e,
			size_t n, struct ls_err *err);

#endif
