/*
 * cfgseal_format.h - the seal of a sealed configuration file (cfgseal.h
 * says which files and with which key; keys.c seals keys/master.json with
 * these functions and its own key).  docs/FORMAT.md section 8 is the
 * byte-level description.
 *
 * A sealed file is the JSON object the module wrote, with one member put
 * first: {"mac":"<64 hex>",<the object's other members as written>}.  The
 * MAC is HMAC-SHA256(K, name || 0x00 || T) where name is the file's base
 * name and T the text without the "mac" member (`{` followed by what came
 * after the member's comma), so it covers the exact bytes, white space
 * included: no canonical form to agree on.  The member sits inside the file,
 * so a durable replace changes text and seal together (a sidecar file could
 * not be replaced in the same rename).
 */
#ifndef LS_CFGSEAL_FORMAT_H
#define LS_CFGSEAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define CFGSEAL_KEY_LEN 32
#define CFGSEAL_MAC_LEN 32

enum cfgseal_purpose {
	CFGSEAL_TOKENS,		/* tokens.json */
	CFGSEAL_MASTER,		/* keys/master.json */
	CFGSEAL_ALERTS,		/* alerts/rules.json, webhooks.json, state.json; searches.json */
	CFGSEAL_VERIFY,		/* state/last-verify.json */
	CFGSEAL_CHECKPOINTS,	/* checkpoints.index */
	CFGSEAL_OBJSTORE,	/* objstore.json (followers/upload.h) */
	CFGSEAL_CLUSTER_TOKENS,	/* rows of logseal.tokens (store/cluster_tokens.h) */
};

/* "logseal/cfgseal/v1/<purpose>": the derivation label. */
const char *cfgseal_label(enum cfgseal_purpose p);

/* HMAC-SHA256(key, name || 0x00 || text). */
void cfgseal_mac(const uint8_t key[CFGSEAL_KEY_LEN], const char *name, const void *text,
		 size_t len, uint8_t mac[CFGSEAL_MAC_LEN]);

/* text (len bytes, a JSON object: first byte '{') sealed as file `name`:
 * *out (malloc'd, NUL-terminated) and *outlen.  LS_INVALID if text is not
 * an object's text. */
ls_rc cfgseal_seal(const uint8_t key[CFGSEAL_KEY_LEN], const char *name, const char *text,
		   size_t len, char **out, size_t *outlen);

/* In place: a file's bytes -> the sealed text T (NUL-terminated, *len
 * updated) and the stored mac.  LS_NOTFOUND when the file has no seal (data
 * untouched). */
ls_rc cfgseal_split(char *data, size_t *len, uint8_t mac[CFGSEAL_MAC_LEN]);

/* cfgseal_split() then the check: LS_OK, LS_NOTFOUND (no seal), LS_TAMPERED
 * (the seal does not match). */
ls_rc cfgseal_open(const uint8_t key[CFGSEAL_KEY_LEN], const char *name, char *data,
		   size_t *len);

/* Adopt mode (process-wide): unsealed files are read as they are. */
void cfgseal_set_adopt(int on);
int cfgseal_adopt(void);

#endif
