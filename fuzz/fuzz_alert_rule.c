/*
 * fuzz_alert_rule.c - libFuzzer target for the alert rule parser and the
 * rule filter matcher (alert.h).
 *
 * The input is parsed as a rule (alert_rule_check_text).  Besides memory
 * safety it checks what must stay true:
 *  - an accepted rule's normalised form is accepted again and normalises
 *    to itself (validation is idempotent, so rules.json always reloads);
 *  - every refusal is LS_INVALID or LS_LIMIT with a message;
 *  - an accepted rule can be matched against fixed entries without error.
 * The input is also matched as an entry against fixed rules, which drives
 * the entry field extraction, the action prefix and the CIDR matcher.
 * Any broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "followers/alert.h"

static const char *const entries[] = {
	"{\"action\":\"user.login\",\"outcome\":\"denied\",\"service\":\"auth\","
	"\"actor\":{\"id\":\"alice\"},\"source\":{\"ip\":\"10.1.2.3\"},"
	"\"received\":\"2024-01-02T03:04:05.000000Z\"}",
	"{\"action\":\"logseal.token.create\",\"outcome\":\"success\",\"service\":\"logseal\","
	"\"actor\":{\"id\":\"admin\"},\"source\":{\"ip\":\"2001:db8::1\"},"
	"\"resource\":{\"type\":\"token\"}}",
	"{\"action\":\"logseal.alert.fired\",\"service\":\"logseal\"}",
	"[]",
};

static const char *const rules[] = {
	"{\"name\":\"a\",\"kind\":\"match\",\"filter\":{\"action\":\"user.*\","
	"\"source_ip\":\"10.0.0.0/8\"}}",
	"{\"name\":\"b\",\"kind\":\"match\",\"filter\":{\"source_ip\":\"2001:db8::/33\","
	"\"outcome\":\"success\",\"resource_type\":\"token\"}}",
	"{\"name\":\"c\",\"kind\":\"absence\",\"absence\":{\"service\":\"auth\",\"seconds\":5}}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_err err;
	json_t *out = NULL, *again = NULL;
	size_t i;
	int m;
	ls_rc rc;

	err.msg[0] = 0;
	rc = alert_rule_check_text((const char *)data, size, &out, &err);
	if (rc == LS_OK) {
		char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);

		if (!s)
			abort();
		if (alert_rule_check_text(s, strlen(s), &again, &err) != LS_OK ||
		    !json_equal(out, again))
			abort();
		free(s);
		for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
			rc = alert_rule_matches(out, entries[i], strlen(entries[i]), &m);
			if ((rc != LS_OK && i < 3) || m < 0 || m > 1)
				abort();
		}
		/* the engine's own events never match */
		alert_rule_matches(out, entries[2], strlen(entries[2]), &m);
		if (m)
			abort();
	} else if ((rc != LS_INVALID && rc != LS_LIMIT && rc != LS_NOMEM) || !err.msg[0] || out) {
		abort();
	}
	json_decref(out);
	json_decref(again);

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		json_t *r = NULL;

		if (alert_rule_check_text(rules[i], strlen(rules[i]), &r, NULL) != LS_OK)
			abort();
		rc = alert_rule_matches(r, (const char *)data, size, &m);
		if (rc != LS_OK && rc != LS_INVALID)
			abort();
		json_decref(r);
	}
	return 0;
}
