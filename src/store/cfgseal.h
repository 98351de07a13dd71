/*
 * cfgseal.h - integrity seals of a data directory's configuration files
 * (tokens.json, keys/master.json, the alerts/ files, state/last-verify.json)
 * and of the checkpoint history index.  docs/FORMAT.md §8 is the byte-level
 * description.
 *
 * A sealed file is the JSON object the module wrote, with one member put
 * first: {"mac":"<64 hex>",<the object's other members as written>}.  The
 * MAC is HMAC-SHA256(K, name || 0x00 || T) where name is the file's base
 * name and T the text without the "mac" member (`{` followed by what came
 * after the member's comma), so it covers the exact bytes, white space
 * included: no canonical form to agree on.  The member sits inside the file,
 * so a durable replace changes text and seal together (a sidecar file could
 * not be replaced in the same rename).
 *
 * The seal itself (format, MAC, seal and check with a given key, adopt
 * mode) is cfgseal_format.h, which this header includes.
 *
 * K is per purpose (a distinct derivation label each):
 *   encrypted directory (keys/master.json):  keys_derive(kr, label), from
 *       data key 1, which only the master key unwraps;
 *   plaintext directory: HMAC-SHA256(Ed25519 seed of keys/log.key, label):
 *       there is no master key; the seal then stops whoever can write the
 *       files but not read keys/log.key, and is as strong as the checkpoint
 *       signatures of such a directory (whoever reads log.key can forge both).
 *
 * Invariant: a reader never hands on the text of a file whose seal is
 * missing or wrong, except in adopt mode (`logseal keys seal-config`), which
 * accepts unsealed files so that they can be sealed once.
 */
#ifndef LS_CFGSEAL_H
#define LS_CFGSEAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/ls.h"
#include "store/cfgseal_format.h"

/* The sealed files other than keys/master.json (sealed through keys.h) and
 * checkpoints.index (cpindex.h), relative to the data directory: the one
 * list that `keys seal-config` migrates and `verify` checks. */
struct cfgseal_file {
	const char *rel;
	enum cfgseal_purpose purpose;
};
extern const struct cfgseal_file cfgseal_files[];
extern const size_t cfgseal_nfiles;

/* The key of purpose p for data directory dir (see above).  LS_NOTFOUND when
 * dir has neither keys/master.json nor keys/log.key (not a data directory;
 * files there are neither sealed nor checked). */
ls_rc cfgseal_key(const char *dir, enum cfgseal_purpose p, uint8_t key[CFGSEAL_KEY_LEN],
		  struct ls_err *err);

/* Durable sealed write of path (a file of data directory dir) and the
 * checked read (*data malloc'd, NUL-terminated: the text without its seal).
 * Errors name the file.  An unsealed file is refused (LS_TAMPERED) with the
 * migration command, unless adopt mode is on.  When dir has no key
 * (cfgseal_key LS_NOTFOUND) files are written and read as they are. */
ls_rc cfgseal_write_file(const char *dir, enum cfgseal_purpose p, const char *path,
			 const char *text, size_t len, mode_t mode, struct ls_err *err);
ls_rc cfgseal_read_file(const char *dir, enum cfgseal_purpose p, const char *path, size_t cap,
			char **data, size_t *len, struct ls_err *err);

/* The data directory of path: its parent (levels = 1) or grandparent (2),
 * by name.  LS_LIMIT if out is too small. */
ls_rc cfgseal_parent(const char *path, int levels, char *out, size_t cap);

#endif
