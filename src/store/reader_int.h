/*
 * reader_int.h - what the seam (reader.c) and its backends share: iterators
 * and readers carry the backend's operations.  Private to store/.
 */
#ifndef LS_READER_INT_H
#define LS_READER_INT_H

#include "store/reader.h"

struct store_iter {
	ls_rc (*next)(void *impl, const uint8_t **data, size_t *len, uint64_t *index,
		      struct ls_err *err);
	void (*where)(const void *impl, const char **name, uint64_t *hint);
	void (*free)(void *impl);
	void *impl;
};

struct store_reader {
	ls_rc (*get)(void *impl, struct store_pass *pass, uint64_t index, uint64_t hint,
		     uint8_t **data, size_t *len, struct ls_err *err);
	ls_rc (*bundle)(void *impl, uint64_t n, unsigned w, uint8_t **data, size_t *len,
			struct ls_err *err);
	void (*free)(void *impl);
	void *impl;
};

/* The backends. */
extern const struct store_backend store_segments;	/* backend_segments.c */

#endif
