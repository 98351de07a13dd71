/*
 * ls.h - the project-wide result codes and error detail buffer.
 *
 * Every fallible function returns an ls_rc and, when given a non-NULL
 * struct ls_err, writes a one-line human readable detail into it.  Core
 * modules never log: the caller (http, main) decides what to say.
 */
#ifndef LS_H
#define LS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum ls_rc {
	LS_OK = 0,
	LS_NOMEM,	/* allocation failed */
	LS_IO,		/* a system call failed */
	LS_CORRUPT,	/* stored data does not check (checksum, framing) */
	LS_TAMPERED,	/* a hash, root or signature does not match */
	LS_INVALID,	/* bad input from a caller or a client */
	LS_LIMIT,	/* a size or count limit was exceeded */
	LS_DENIED,	/* not allowed */
	LS_NOTFOUND,	/* no such item (also: end of iteration) */
	LS_EXISTS,	/* refusing to overwrite */
	LS_BUSY,	/* saturated: try again later */
	LS_NOSPACE,	/* the disk is full */
	LS_FAILED,	/* sticky failure: the journal refuses appends until reopened */
	LS_UNTRUSTED,	/* signed by a key we do not know */
} ls_rc;

struct ls_err {
	char msg[512];
};

/* Write a formatted detail into err (no-op when err is NULL). Returns rc. */
ls_rc ls_err_set(struct ls_err *err, ls_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Short stable name of a code, e.g. "corrupt". */
const char *ls_rc_name(ls_rc rc);

/* *ts = now on `clock` plus ms milliseconds: the absolute deadline of a
 * pthread_cond_timedwait() on a condition variable of that clock. */
void ls_deadline(struct timespec *ts, clockid_t clock, uint64_t ms);

/* A decimal unsigned integer written with digits only (no sign, space or
 * base prefix; at most 20 digits) whose value lies in min..max: returns 1
 * and sets *out; anything else returns 0 and leaves *out alone.  The one
 * parser of counts, sizes, indexes and option values. */
int ls_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* one or many by the count n, for messages: "%llu %s", n, LS_PL(n, "entry", "entries"). */
#define LS_PL(n, one, many) ((n) == 1 ? (one) : (many))

#endif
