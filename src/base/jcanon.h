/*
 * jcanon.h - one-pass strict JSON to canonical JSON, for the import path.
 *
 * Accepts exactly what the strict jansson path of event.c accepts (RFC 8259
 * text whose top level is an object; duplicate keys, invalid UTF-8, lone
 * surrogates, \u0000, raw control characters, integer overflow and real
 * overflow refused; nesting at most max_depth) and writes exactly the same
 * canonical bytes (event.h): this is a faster route to the same function,
 * and the fuzz target fuzz_jcanon checks the two against each other.
 * Its tokens (white space, strings, numbers, literals) are read by the one
 * JSON lexer, jlex.h; the grammar, the DOM and the writers live here.
 * Pure: no I/O, no globals, thread-safe.
 */
#ifndef LS_JCANON_H
#define LS_JCANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/jlex.h"
#include "base/ls.h"

/* Canonical JSON of the object in s[0..n) into *out (malloc'd, NUL-terminated,
 * *len bytes).  LS_INVALID (err says why and where), LS_LIMIT when the
 * result would exceed max_out bytes, LS_NOMEM. */
ls_rc jcanon_object(const char *s, size_t n, size_t max_depth, size_t max_out, char **out,
		    size_t *len, struct ls_err *err);

/* The length of the run at s[0..n) of bytes that stand for themselves in
 * a JSON string and need no UTF-8 check: printable ASCII (0x20..0x7f) other
 * than '"' and '\\'.  The lexer's (jlex_ascii_run()), under the name the
 * canonical writers have always used. */
static inline size_t jcanon_ascii_run(const char *s, size_t n)
{
	return jlex_ascii_run(s, n);
}

/* The canonical escape of byte c inside a JSON string, or NULL when c
 * stands for itself.  u (at least 8 bytes) holds \u00XX forms; *len is
 * the escape's length.  Shared by both canonical writers. */
const char *jcanon_escape(unsigned char c, char u[8], size_t *len);


/* ------------------------------------------------------------------ */
/*
 * jdom - the same strict parser building a small DOM in three arenas (no
 * per-node allocation), for the native ingest fast path (event_fast.c).
 *
 * Accepts a subset of what json_loadb(JSON_REJECT_DUPLICATES) accepts (top
 * level an object or an array; same rules as jcanon_object; nesting at
 * most max_depth, the top value being level 1); anything it refuses the
 * caller hands to the jansson path, which then says why.
 *
 * Nodes are kept in preorder; children are indexes.  An object's members
 * are listed twice in kid[]: in document order (kid[off .. off+len)) and
 * sorted by decoded key (kid[off+len .. off+2*len)); keys are unique.
 */
enum jnode_type { JN_NULL, JN_FALSE, JN_TRUE, JN_INT, JN_REAL, JN_STR, JN_ARR, JN_OBJ };

struct jnode {
	uint32_t type;	/* enum jnode_type */
	uint32_t depth;	/* 0 for scalars; 1 + deepest child for containers */
	uint32_t key;	/* member key in str (decoded, NUL-terminated), if a member */
	uint32_t key_len;
	uint32_t off;	/* STR: decoded bytes in str (NUL-terminated); INT/REAL: the
			 * canonical number text in str; ARR/OBJ: first kid */
	uint32_t len;	/* bytes, or number of children */
	int64_t ival;	/* INT only */
};

struct jdom {
	struct jnode *node;
	size_t nnode, node_cap;
	uint32_t *kid;
	size_t nkid, kid_cap;
	char *str;
	size_t nstr, str_cap;
	uint32_t *stk;	/* members of the objects being parsed */
	size_t nstk, stk_cap;
};

#define JDOM_MAX_INPUT (64u << 20) /* keeps every offset in 32 bits */

/* Is s[0..n) one JSON object that jdom_parse() takes (RFC 8259 grammar,
 * UTF-8, no \u0000 or lone surrogate, numbers in range, nesting at most
 * max_depth)?  It builds nothing and, unlike jdom_parse(), does not look
 * for duplicate keys: for bytes about to be copied into a JSON reply. */
bool jcanon_is_object(const char *s, size_t n, size_t max_depth);

/* Empty the dom, keeping its buffers for the next parse. */
void jdom_reset(struct jdom *d);
void jdom_release(struct jdom *d);

/* Parse s[0..n) (appending to d); *root is the top node's index.
 * LS_INVALID (err says why), LS_LIMIT (n > JDOM_MAX_INPUT), LS_NOMEM. */
ls_rc jdom_parse(struct jdom *d, const char *s, size_t n, size_t max_depth, size_t *root,
		 struct ls_err *err);

/* The member key of object node obj, or NULL. */
const struct jnode *jdom_get(const struct jdom *d, const struct jnode *obj, const char *key);
/* The decoded text of obj's member key when it is a string; NULL when obj
 * is NULL or no object, or the member is missing or no string. */
const char *jdom_get_str(const struct jdom *d, const struct jnode *obj, const char *key);

/* Growable output buffer; over is set (and nothing more written) past max. */
struct jcanon_buf {
	char *p;
	size_t len, cap, max;
	int nomem, over;
};

/* Append s[0..n) (raw).  Inline for the common case: room, no error. */
void jcanon_buf_put_slow(struct jcanon_buf *b, const char *s, size_t n);
static inline void jcanon_buf_put(struct jcanon_buf *b, const char *s, size_t n)
{
	if (b->cap - b->len > n && b->max - b->len >= n && !(b->nomem | b->over)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
		return;
	}
	jcanon_buf_put_slow(b, s, n);
}
/* s[0..n) (decoded bytes) as a canonical JSON string. */
void jcanon_buf_str(struct jcanon_buf *b, const char *s, size_t n);
/* The canonical JSON of node v (same bytes jcanon_object writes). */
void jdom_canon(const struct jdom *d, const struct jnode *v, struct jcanon_buf *b);

#endif /* LS_JCANON_H */
