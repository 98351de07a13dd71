/*
 * denials.h - how many refused requests (401/403) become entries of the log.
 *
 * Every denial is accounted for, but not every denial is its own entry: an
 * unauthenticated client must not be able to make the server write without
 * bound.  Time is cut into fixed windows (window_ms, from the start).  Per
 * source and actor in a window - a source is an IPv4 address or an IPv6 /64,
 * the actor "anonymous" or the token id of a 403 - the first `burst`
 * denials (and at most 20 x burst across all sources) are logged one by one
 * as before; the others are counted, and when the window closes one summary
 * per source and actor with anything counted is handed to the emit callback
 * (logseal.auth.denied.summary).  Past `throttle` denials in a window a
 * source's further denials are answered 429 instead (still counted).
 *
 * Memory is fixed at creation: max_sources entries per window (two windows:
 * the one filling and the one being summarised).  When the table is full, a
 * new source's denials go to one global aggregate (source "various")
 * instead of being dropped.  Entries are found by SipHash-2-4 under a key
 * drawn at random at creation, so clients cannot choose colliding sources.
 *
 * Calling sequence: denials_new() (starts the thread that closes windows) ->
 * denials_note() from any thread -> denials_close() (stops the thread and
 * summarises the open window: nothing counted is lost at shutdown) ->
 * denials_free().
 *
 * Invariants:
 *  1. For every window, the denials noted = those answered DENIALS_LOG (the
 *     caller logs them) + the `count` of the window's summaries.
 *  2. emit is called only from the window thread or denials_close(), never
 *     with the table lock held, and never after denials_close() returned.
 */
#ifndef LS_DENIALS_H
#define LS_DENIALS_H

#include <jansson.h>
#include <stdint.h>

#include "base/ls.h"

#define DENIALS_PATH_MAX 128	/* bytes of a request path kept (denial events, samples) */

struct denials;

struct denials_opts {
	unsigned window_ms;	/* 0: 10000 */
	unsigned burst;		/* denials logged one by one per source and window; 0: 10 */
	unsigned throttle;	/* denials per source and window before 429; 0: 1000 */
	unsigned max_sources;	/* sources tracked per window; 0: 1024 */
	int no_throttle;	/* never answer 429 */
	/* One summary: source is an address (IPv6: the /64's first address),
	 * "unknown" or "various"; details is not stolen. */
	void (*emit)(void *ctx, const char *source, const char *actor, json_t *details);
	void *ctx;
};

enum denials_verdict {
	DENIALS_LOG,		/* log this denial as its own event */
	DENIALS_COUNT,		/* counted for the window's summary: do not log it */
	DENIALS_THROTTLE,	/* counted; answer 429 instead of 401/403 */
};

ls_rc denials_new(const struct denials_opts *o, struct denials **out, struct ls_err *err);

/* One refused request: ip is the client's address as text, actor "anonymous"
 * or a token id, status 401 or 403, path (cut to DENIALS_PATH_MAX bytes when
 * kept) and reason.  *retry_after_s: seconds until the window closes. */
enum denials_verdict denials_note(struct denials *d, const char *ip, const char *actor,
				  unsigned status, const char *path, const char *reason,
				  int64_t now_us, unsigned *retry_after_s);

/* Stop the window thread and summarise what is counted.  NULL: no-op. */
void denials_close(struct denials *d);
void denials_free(struct denials *d);

/* The first at most max bytes of s ending on a UTF-8 character boundary
 * (s is assumed UTF-8; its length is returned when it fits). */
size_t denials_cut_utf8(const char *s, size_t max);

#endif
