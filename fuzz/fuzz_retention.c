/*
 * fuzz_retention.c - libFuzzer target for the retention policy parser and
 * the legal hold body parser (retention.h).
 *
 * Besides memory safety: every refusal is LS_INVALID, LS_LIMIT or LS_NOMEM
 * and leaves nothing allocated behind; an accepted policy has rules within
 * their bounds; an accepted hold has exactly the fields of its kind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "followers/retention.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 7 };
	struct retention_policy p;
	struct hold h;
	struct ls_err err;
	ls_rc rc;

	rc = retention_policy_parse((const char *)data, size, &p, &err);
	if (rc == LS_OK) {
		if (p.def.hot_days < 0 || p.def.hot_days > RETENTION_MAX_DAYS ||
		    p.def.archive_days < 0 || p.def.archive_days > RETENTION_MAX_DAYS)
			abort();
		for (size_t i = 0; i < p.nsvc; i++)
			if (!p.svc[i].service || p.svc[i].hot_days < 0 ||
			    p.svc[i].hot_days > RETENTION_MAX_DAYS ||
			    retention_rule_for(&p, p.svc[i].service) == &p.def)
				abort();
		retention_policy_release(&p);
	} else if (rc != LS_INVALID && rc != LS_LIMIT && rc != LS_NOMEM) {
		abort();
	} else if (p.svc || p.nsvc) {
		abort();
	}

	rc = hold_parse((const char *)data, size, key, &h, &err);
	if (rc == LS_OK) {
		if ((h.kind == HOLD_TIME) != (h.value == NULL))
			abort();
		if (h.kind == HOLD_TIME && h.to_us < h.from_us)
			abort();
		if (h.kind == HOLD_ACTOR && strlen(h.value) != 64)
			abort();
		hold_release(&h);
	} else if (rc != LS_INVALID && rc != LS_NOMEM) {
		abort();
	}
	return 0;
}
