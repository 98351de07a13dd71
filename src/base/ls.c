/* ls.c - result codes and error details (see ls.h). */
#include "base/ls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ls_rc ls_err_set(struct ls_err *err, ls_rc rc, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

const char *ls_rc_name(ls_rc rc)
{
	switch (rc) {
	case LS_OK: return "ok";
	case LS_NOMEM: return "out_of_memory";
	case LS_IO: return "io_error";
	case LS_CORRUPT: return "corrupt";
	case LS_TAMPERED: return "tampered";
	case LS_INVALID: return "invalid";
	case LS_LIMIT: return "too_large";
	case LS_DENIED: return "denied";
	case LS_NOTFOUND: return "not_found";
	case LS_EXISTS: return "exists";
	case LS_BUSY: return "busy";
	case LS_NOSPACE: return "no_space";
	case LS_FAILED: return "failed";
	case LS_UNTRUSTED: return "untrusted";
	}
	return "unknown";
}

void ls_deadline(struct timespec *ts, clockid_t clock, uint64_t ms)
{
	clock_gettime(clock, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int ls_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	size_t n;
	char *end;

	if (!s)
		return 0;
	n = strlen(s);
	if (n == 0 || n > 20 || strspn(s, "0123456789") != n)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return 0;
	*out = v;
	return 1;
}
