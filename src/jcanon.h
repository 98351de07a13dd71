/*
 * jcanon.h - one-pass strict JSON to canonical JSON, for the import path.
 *
 * Accepts exactly what the strict jansson path of event.c accepts (RFC 8259
 * text whose top level is an object; duplicate keys, invalid UTF-8, lone
 * surrogates, \u0000, raw control characters, integer overflow and real
 * overflow refused; nesting at most max_depth) and writes exactly the same
 * canonical bytes (event.h): this is a faster route to the same function,
 * and the fuzz target fuzz_jcanon checks the two against each other.
 * Pure: no I/O, no globals, thread-safe.
 */
#ifndef LS_JCANON_H
#define LS_JCANON_H

#include <stddef.h>

#include "ls.h"

/* Canonical JSON of the object in s[0..n) into *out (malloc'd, NUL-terminated,
 * *len bytes).  LS_INVALID (err says why and where), LS_LIMIT when the
 * result would exceed max_out bytes, LS_NOMEM. */
ls_rc jcanon_object(const char *s, size_t n, size_t max_depth, size_t max_out, char **out,
		    size_t *len, struct ls_err *err);

/* The canonical escape of byte c inside a JSON string, or NULL when c
 * stands for itself.  u (at least 8 bytes) holds \u00XX forms; *len is
 * the escape's length.  Shared by both canonical writers. */
const char *jcanon_escape(unsigned char c, char u[8], size_t *len);

#endif
