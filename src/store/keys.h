/*
 * keys.h - encryption keys of a data directory: one master key kept apart
 * from the data, and data keys (one per journal segment) stored wrapped by
 * it.  docs/FORMAT.md §6 is the byte-level description.
 *
 *	DIR/keys/master.json     where the master key comes from and its check
 *	                         value (never the key itself)
 *	DIR/keys/datakeys.json   the data keys, each AES-256-GCM-wrapped by the
 *	                         master key with its id as associated data
 *
 * The master key comes from a file (mode 0600, refused when group or others
 * may read it), the environment (LOGSEAL_MASTER_KEY) or the standard output
 * of a command (the hook for a KMS or a vault); in all three it is the
 * standard base64 of 32 bytes, white space around it ignored.
 *
 * Calling sequence:
 *	keys_init() once, by `logseal init`, before the journal is created;
 *	keys_get() wherever the data is read or written: the first call in a
 *	process obtains the master key, checks it and unwraps the data keys; the
 *	keyring is then shared by every module of the process (journal, tiles)
 *	and lives until the process ends;
 *	keys_rewrap() with the log closed (`logseal keys rotate --new-master-...`).
 *
 * Invariants:
 *  1. A master key that does not give the stored check value
 *     (HMAC-SHA256(master, "logseal key check")) is refused before anything
 *     is read or written with it.
 *  2. A data key is durable in datakeys.json before anything is encrypted
 *     with it; ids are 1, 2, 3, ... and never reused.
 *  3. Key material is wiped when it is dropped.
 */
#ifndef LS_KEYS_H
#define LS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "base/crypto.h"
#include "base/ls.h"

#define KEYS_ENV "LOGSEAL_MASTER_KEY"
#define KEYS_KEY_LEN LS_AEAD_KEY_LEN

enum keys_source_kind {
	KEYS_SRC_FILE = 1,
	KEYS_SRC_ENV,
	KEYS_SRC_COMMAND,
};

struct keys_source {
	enum keys_source_kind kind;
	const char *arg;	/* file path, command, or for the environment the
				 * variable to read now (NULL: KEYS_ENV); a log
				 * whose source is the environment reads KEYS_ENV */
};

struct keyring;

/* The words of a master key command (docs/FORMAT.md §6: blanks, '...',
 * "...", backslash), as the command source runs it; pure, so that tests and
 * the fuzz target check the rule itself.  *argv is NULL-terminated and one
 * allocation with its strings: free(*argv).  LS_INVALID for an unclosed
 * quote, a trailing backslash or no word. */
ls_rc keys_split_command(const char *cmd, char ***argv, struct ls_err *err);

/* Obtain a master key from src.  With create and a file source whose file
 * does not exist, a fresh random key is written there first (mode 0600). */
ls_rc keys_master_load(const struct keys_source *src, int create, uint8_t key[KEYS_KEY_LEN],
		       struct ls_err *err);

/* Set up encryption for a new data directory: master.json naming src, and
 * data key 1 (the root of derived keys, keys_derive).  LS_EXISTS when DIR
 * already holds keys or a journal. */
ls_rc keys_init(const char *datadir, const struct keys_source *src, int create,
		struct ls_err *err);

/* The process-wide keyring of datadir (see the calling sequence).
 * LS_NOTFOUND when DIR/keys/master.json does not exist: the directory is not
 * encrypted.  LS_DENIED for a wrong master key. */
ls_rc keys_get(const char *datadir, struct keyring **out, struct ls_err *err);

/* keys_get() for the data directory that contains sub (its parent by
 * name, e.g. DIR for DIR/journal or DIR/log), whether sub exists or not. */
ls_rc keys_get_parent(const char *sub, struct keyring **out, struct ls_err *err);

/* Data key `id` into key (reloading datakeys.json once when it is not
 * known yet: another process may have added it).  LS_NOTFOUND if absent. */
ls_rc keys_data_key(struct keyring *kr, uint32_t id, uint8_t key[KEYS_KEY_LEN],
		    struct ls_err *err);

/* A new random data key, durable in datakeys.json before it is returned. */
ls_rc keys_new_data_key(struct keyring *kr, uint32_t *id, uint8_t key[KEYS_KEY_LEN],
			struct ls_err *err);

/* The newest data key (what new entry bundles are sealed with). */
ls_rc keys_current(struct keyring *kr, uint32_t *id, uint8_t key[KEYS_KEY_LEN],
		   struct ls_err *err);

/* HMAC-SHA256(data key 1, label): keys for other purposes (a blind index)
 * that stay the same when the master key is rotated. */
ls_rc keys_derive(struct keyring *kr, const char *label, uint8_t out[KEYS_KEY_LEN],
		  struct ls_err *err);

/* HKDF-SHA256(master key, info) into out (32 bytes): keys derived from
 * the master key itself (the bucket's bundle key, store/bundlekey.h), which
 * change only when the master key does.  The master key never leaves. */
ls_rc keys_master_hkdf(struct keyring *kr, const char *info, uint8_t out[KEYS_KEY_LEN],
		       struct ls_err *err);

/* Number of data keys and a description of the master key's source. */
size_t keys_count(struct keyring *kr);
const char *keys_source_desc(struct keyring *kr);

/* Re-wrap every data key of datadir under the master key from newsrc and
 * make master.json name it; events are not touched.  Hold the journal's
 * lock (an open log) so that no other process adds a data key meanwhile.
 * The cached keyring goes on with the new master key.  datakeys.json is
 * replaced before master.json: a crash between the two leaves a directory
 * that names the old master key while its data keys are wrapped by the new
 * one, reported as such at start. */
ls_rc keys_rewrap(const char *datadir, const struct keys_source *newsrc, int create,
		  struct ls_err *err);

/* Rewrite keys/master.json with its integrity seal (cfgseal.h; the
 * migration `logseal keys seal-config`, with cfgseal adopt mode on). */
ls_rc keys_seal_master(const char *datadir, struct ls_err *err);

/* Drop the cached keyring of datadir (tests; after keys_rewrap). */
void keys_forget(const char *datadir);

#endif
