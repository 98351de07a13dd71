/*
 * event_fast.h - the native-format ingest fast path (event_fast.c) and the
 * jansson reference it must agree with byte for byte (event_parse.c has
 * both).  Internal to event_parse.c, event_fast.c, their tests, fuzz
 * targets and benchmark.
 */
#ifndef LS_EVENT_FAST_H
#define LS_EVENT_FAST_H

#include <stdbool.h>

#include "core/event_types.h"

/* event_batch_parse() over jansson for every format: the reference. */
ls_rc event_batch_parse_ref(const char *body, size_t n, enum event_body kind,
			    enum event_format fmt, const struct event_ctx *ctx,
			    struct event_batch *out, struct event_error *e);

/*
 * event_batch_parse() for EVENT_FORMAT_NATIVE without jansson: same rc,
 * items and event_error.  A body the strict arena parser refuses (not
 * JSON, duplicate keys, too deep, ...) and a ctx whose strings are not
 * UTF-8 go to event_batch_parse_ref(), which words the error; *fell_back
 * (may be NULL) says so.
 */
ls_rc event_fast_parse(const char *body, size_t n, enum event_body kind,
		       const struct event_ctx *ctx, struct event_batch *out,
		       struct event_error *e, bool *fell_back);

#endif
