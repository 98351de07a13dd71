/*
 * test_ls.c - the base helpers of src/base/ls.h: ls_parse_u64() (the one
 * parser of counts, sizes and indexes: digits only, bounds, overflow),
 * ls_deadline() and the error detail buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/ls.h"

static void test_parse_u64_accepts(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_true(ls_parse_u64("0", 0, 10, &v));
	assert_int_equal(v, 0);
	assert_true(ls_parse_u64("10", 0, 10, &v));
	assert_int_equal(v, 10);
	assert_true(ls_parse_u64("0007", 0, 10, &v));
	assert_int_equal(v, 7);
	assert_true(ls_parse_u64("18446744073709551615", 0, UINT64_MAX, &v));
	assert_true(v == UINT64_MAX);
}

static void test_parse_u64_refuses(void **state)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1e3", "1.0",
		"18446744073709551616",		/* 2^64: overflows */
		"000000000000000000001",	/* 21 digits */
		"99999999999999999999",		/* 20 digits, over 2^64 */
	};
	uint64_t v = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ls_parse_u64(bad[i], 0, UINT64_MAX, &v))
			fail_msg("\"%s\" was accepted as %llu", bad[i], (unsigned long long)v);
		assert_int_equal(v, 42);
	}
	assert_false(ls_parse_u64(NULL, 0, 10, &v));
	assert_false(ls_parse_u64("11", 0, 10, &v));	/* above max */
	assert_false(ls_parse_u64("4", 5, 10, &v));	/* below min */
	assert_int_equal(v, 42);
}

static void test_deadline(void **state)
{
	struct timespec now, d;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ls_deadline(&d, CLOCK_MONOTONIC, 1500);
	assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
	double diff = (double)(d.tv_sec - now.tv_sec) + (double)(d.tv_nsec - now.tv_nsec) / 1e9;
	assert_true(diff >= 1.5 && diff < 2.5);
	ls_deadline(&d, CLOCK_MONOTONIC, 0);
	assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
}

static void test_err(void **state)
{
	struct ls_err err = { "" };

	(void)state;
	assert_int_equal(ls_err_set(&err, LS_CORRUPT, "segment %s at %d", "x.seg", 12), LS_CORRUPT);
	assert_string_equal(err.msg, "segment x.seg at 12");
	assert_int_equal(ls_err_set(NULL, LS_NOTFOUND, "ignored"), LS_NOTFOUND);
	assert_string_equal(ls_rc_name(LS_OK), "ok");
	assert_string_equal(ls_rc_name(LS_CORRUPT), "corrupt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64_accepts),
		cmocka_unit_test(test_parse_u64_refuses),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_err),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
