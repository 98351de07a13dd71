/*
 * event_int.h - what event.c shares with event_parse.c, private to the
 * event code (event.h is the API, formats/formats.h the templates' side).
 */
#ifndef LS_EVENT_INT_H
#define LS_EVENT_INT_H

#include <jansson.h>
#include <stddef.h>

#include "base/ls.h"

/* Canonical bytes of v, at most max bytes (LS_LIMIT beyond; LS_INVALID for
 * a value with no JSON form, LS_NOMEM). */
ls_rc evt_canon(const json_t *v, size_t max, char **out, size_t *len);

/* Nesting depth of a value: scalars 0, each array/object adds one. */
size_t evt_json_depth(const json_t *v);

/* The strict parse of one JSON text (event_parse.c): NUL bytes, nesting
 * past max_depth + outer, duplicate keys and invalid UTF-8 refused.  On
 * LS_INVALID why says what and *at the byte offset; or LS_NOMEM. */
ls_rc evt_strict_parse(const char *s, size_t n, size_t max_depth, size_t outer, json_t **out,
		       char *why, size_t whycap, size_t *at);

/* The envelope of a Kubernetes audit body v (event_parse.c): an
 * audit.k8s.io/v1 or v1beta1 EventList, whose items array goes to *items,
 * or a single Event (*items NULL).  LS_INVALID with e filled otherwise. */
struct event_error;
ls_rc evt_k8s_envelope(json_t *v, json_t **items, struct event_error *e);

#endif
