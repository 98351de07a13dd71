/*
 * backend_segments.c - the first storage backend: the log's entries in the
 * local segment files of journal.h, read through the seam of reader.h.
 */
#include <stdlib.h>

#include "store/reader.h"
#include "store/reader_int.h"
#include "store/journal.h"

static ls_rc seg_next(void *impl, const uint8_t **data, size_t *len, uint64_t *index,
		      struct ls_err *err)
{
	return journal_iter_next(impl, data, len, index, err);
}

static void seg_where(const void *impl, const char **name, uint64_t *hint)
{
	journal_iter_where(impl, name, hint);
}

static void seg_iter_free(void *impl)
{
	journal_iter_free(impl);
}

static ls_rc seg_iter_open(const char *dir, uint64_t start, int flags, struct store_iter **out,
			   struct ls_err *err)
{
	struct journal_iter *j = NULL;
	struct store_iter *it = calloc(1, sizeof(*it));
	ls_rc rc;

	if (!it)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = (flags & STORE_STRICT) ? journal_iter_open_strict(dir, start, &j, err)
				    : journal_iter_open(dir, start, &j, err);
	if (rc != LS_OK) {
		free(it);
		return rc;
	}
	it->next = seg_next;
	it->where = seg_where;
	it->free = seg_iter_free;
	it->impl = j;
	*out = it;
	return LS_OK;
}

static ls_rc seg_get(void *impl, struct store_pass *pass, uint64_t index, uint64_t hint,
		     uint8_t **data, size_t *len, struct ls_err *err)
{
	struct journal_pass jp = { .kept = pass ? pass->kept : 0, .known = pass ? pass->known : 0 };
	ls_rc rc;

	if (!pass)
		return journal_reader_get(impl, index, hint, data, len, err);
	rc = journal_reader_get_in(impl, &jp, index, hint, data, len, err);
	pass->kept = jp.kept;
	pass->known = jp.known;
	return rc;
}

static void seg_reader_free(void *impl)
{
	journal_reader_free(impl);
}

static ls_rc seg_reader_open(const char *dir, struct store_reader **out, struct ls_err *err)
{
	struct journal_reader *j = NULL;
	struct store_reader *r = calloc(1, sizeof(*r));
	ls_rc rc;

	if (!r)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = journal_reader_open(dir, &j, err);
	if (rc != LS_OK) {
		free(r);
		return rc;
	}
	r->get = seg_get;
	r->free = seg_reader_free;
	r->impl = j;
	*out = r;
	return LS_OK;
}

const struct store_backend store_segments = {
	.name = "segments",
	.iter_open = seg_iter_open,
	.reader_open = seg_reader_open,
	.retained = journal_retained,
	.set_retained = journal_set_retained,
};
