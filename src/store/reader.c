/*
 * reader.c - the storage seam (reader.h): every call goes to the backend
 * that keeps the log.  A backend hands out iterators and readers that carry
 * their own operations (reader_int.h), so a read stays one indirect call
 * away from the backend whatever it is.
 */
#include <stdlib.h>

#include "store/reader.h"
#include "store/reader_int.h"

/* ------------------------------------------------------------------ */
/* The seam: dispatch to the backend. */

ls_rc store_iter_open(const char *dir, uint64_t start, int flags, struct store_iter **out,
		      struct ls_err *err)
{
	*out = NULL;
	return store_backend_of(dir)->iter_open(dir, start, flags, out, err);
}

ls_rc store_iter_next(struct store_iter *it, const uint8_t **data, size_t *len, uint64_t *index,
		      struct ls_err *err)
{
	return it->next(it->impl, data, len, index, err);
}

void store_iter_where(const struct store_iter *it, const char **name, uint64_t *hint)
{
	it->where(it->impl, name, hint);
}

void store_iter_free(struct store_iter *it)
{
	if (!it)
		return;
	it->free(it->impl);
	free(it);
}

ls_rc store_reader_open(const char *dir, struct store_reader **out, struct ls_err *err)
{
	*out = NULL;
	return store_backend_of(dir)->reader_open(dir, out, err);
}

ls_rc store_reader_get(struct store_reader *r, struct store_pass *pass, uint64_t index,
		       uint64_t hint, uint8_t **data, size_t *len, struct ls_err *err)
{
	return r->get(r->impl, pass, index, hint, data, len, err);
}

ls_rc store_reader_bundle(struct store_reader *r, uint64_t n, unsigned w, uint8_t **data,
			  size_t *len, struct ls_err *err)
{
	return r->bundle(r->impl, n, w, data, len, err);
}

ls_rc store_bundle(const char *dir, uint64_t n, unsigned w, uint8_t **data, size_t *len,
		   struct ls_err *err)
{
	struct store_reader *r;
	ls_rc rc;

	*data = NULL;
	*len = 0;
	rc = store_reader_open(dir, &r, err);
	if (rc != LS_OK)
		return rc;
	rc = store_reader_bundle(r, n, w, data, len, err);
	store_reader_free(r);
	return rc;
}

void store_reader_free(struct store_reader *r)
{
	if (!r)
		return;
	r->free(r->impl);
	free(r);
}

ls_rc store_retained(const char *dir, uint64_t *first, struct ls_err *err)
{
	return store_backend_of(dir)->retained(dir, first, err);
}

ls_rc store_set_retained(const char *dir, uint64_t first, struct ls_err *err)
{
	return store_backend_of(dir)->set_retained(dir, first, err);
}

const struct store_backend *store_backend_of(const char *dir)
{
	(void)dir;
	return &store_segments;
}
