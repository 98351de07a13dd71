/*
 * test_session.c - the dashboard's sign-in sessions (server/session.h): a
 * session names its token's principal and CSRF value; a wrong, malformed or
 * closed cookie is refused; a token's revocation ends all its sessions; an
 * idle session ends (a 1 s idle timeout, waited for); the table is bounded
 * and replaces the session idle the longest; the Set-Cookie text exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/session.h"

static struct auth_principal who(const char *id, unsigned roles)
{
	struct auth_principal p;

	memset(&p, 0, sizeof(p));
	snprintf(p.id, sizeof(p.id), "%s", id);
	p.roles = roles;
	return p;
}

static void test_open_check_close(void **state)
{
	struct sessions *ss;
	struct session_info a, b;
	struct auth_principal p = who("tok_0123456789abcdef", AUTH_ROLE_ADMIN | AUTH_ROLE_AUDITOR);
	char c[SESSION_VALUE_LEN + 1], bad[SESSION_VALUE_LEN + 1];

	assert_int_equal(sessions_new(0, 0, &ss, NULL), LS_OK);
	assert_int_equal(sessions_idle(ss), SESSION_IDLE_DEFAULT_S);
	assert_int_equal(session_open(ss, &p, c, sizeof(c), &a, NULL), LS_OK);
	assert_int_equal(strlen(c), 64);
	assert_int_equal(strspn(c, "0123456789abcdef"), 64);
	assert_int_equal(strlen(a.csrf), 64);
	assert_string_not_equal(a.csrf, c);
	assert_int_equal(a.idle_s, SESSION_IDLE_DEFAULT_S);
	assert_int_equal(a.left_s, SESSION_MAX_S);

	assert_int_equal(session_check(ss, c, 64, &b), LS_OK);
	assert_string_equal(b.who.id, "tok_0123456789abcdef");
	assert_int_equal(b.who.roles, AUTH_ROLE_ADMIN | AUTH_ROLE_AUDITOR);
	assert_string_equal(b.csrf, a.csrf);
	assert_string_equal(b.id, a.id);

	/* one digit off, upper case, short, long: refused */
	memcpy(bad, c, sizeof(bad));
	bad[10] = bad[10] == '0' ? '1' : '0';
	assert_int_equal(session_check(ss, bad, 64, &b), LS_DENIED);
	memcpy(bad, c, sizeof(bad));
	bad[0] = 'A';
	assert_int_equal(session_check(ss, bad, 64, &b), LS_DENIED);
	assert_int_equal(session_check(ss, c, 63, &b), LS_DENIED);
	assert_int_equal(session_check(ss, "", 0, &b), LS_DENIED);

	/* a second session of the same token is another cookie, another CSRF */
	{
		char c2[SESSION_VALUE_LEN + 1];
		struct session_info a2;

		assert_int_equal(session_open(ss, &p, c2, sizeof(c2), &a2, NULL), LS_OK);
		assert_string_not_equal(c2, c);
		assert_string_not_equal(a2.csrf, a.csrf);
		assert_int_equal(session_close(ss, c2, 64, &b), LS_OK);
		assert_string_equal(b.id, a2.id);
		assert_int_equal(session_check(ss, c2, 64, &b), LS_DENIED);
		assert_int_equal(session_close(ss, c2, 64, NULL), LS_NOTFOUND);
	}
	assert_int_equal(session_check(ss, c, 64, &b), LS_OK);
	sessions_free(ss);
	sessions_free(NULL);
}

static void test_revoke_token(void **state)
{
	struct sessions *ss;
	struct auth_principal p = who("tok_aaaaaaaaaaaaaaaa", AUTH_ROLE_AUDITOR);
	struct auth_principal q = who("tok_bbbbbbbbbbbbbbbb", AUTH_ROLE_AUDITOR);
	char c1[65], c2[65], c3[65];

	assert_int_equal(sessions_new(60, 0, &ss, NULL), LS_OK);
	assert_int_equal(session_open(ss, &p, c1, sizeof(c1), NULL, NULL), LS_OK);
	assert_int_equal(session_open(ss, &p, c2, sizeof(c2), NULL, NULL), LS_OK);
	assert_int_equal(session_open(ss, &q, c3, sizeof(c3), NULL, NULL), LS_OK);
	assert_int_equal(sessions_revoke_token(ss, "tok_aaaaaaaaaaaaaaaa"), 2);
	assert_int_equal(session_check(ss, c1, 64, NULL), LS_DENIED);
	assert_int_equal(session_check(ss, c2, 64, NULL), LS_DENIED);
	assert_int_equal(session_check(ss, c3, 64, NULL), LS_OK);
	assert_int_equal(sessions_revoke_token(ss, "tok_aaaaaaaaaaaaaaaa"), 0);
	assert_int_equal(sessions_revoke_token(NULL, "x"), 0);
	sessions_free(ss);
}

/* Invariant 2: idle past the timeout ends it; use within it keeps it. */
static void test_idle(void **state)
{
	struct sessions *ss;
	struct auth_principal p = who("tok_cccccccccccccccc", AUTH_ROLE_ADMIN);
	struct session_info si;
	char c[65];

	assert_int_equal(sessions_new(1, 0, &ss, NULL), LS_OK);
	assert_int_equal(session_open(ss, &p, c, sizeof(c), NULL, NULL), LS_OK);
	usleep(600 * 1000);
	assert_int_equal(session_check(ss, c, 64, &si), LS_OK);	/* moves the deadline */
	usleep(600 * 1000);
	assert_int_equal(session_check(ss, c, 64, &si), LS_OK);
	usleep(1100 * 1000);
	assert_int_equal(session_check(ss, c, 64, &si), LS_DENIED);
	assert_int_equal(session_close(ss, c, 64, NULL), LS_NOTFOUND);
	sessions_free(ss);
}

/* Invariant 4: sessions that end by themselves are queued once each, with
 * their cause; an expired one no request touches is found by the sweep. */
static void test_ended_queue(void **state)
{
	struct sessions *ss;
	struct auth_principal a = who("tok_eeeeeeeeeeeeeeee", AUTH_ROLE_ADMIN);
	struct auth_principal b = who("tok_ffffffffffffffff", AUTH_ROLE_AUDITOR);
	struct session_info si;
	struct session_end e[8];
	unsigned lost = 9;
	char c1[65], c2[65], c3[65];

	assert_int_equal(sessions_new(1, 0, &ss, NULL), LS_OK);
	assert_int_equal(session_open(ss, &a, c1, sizeof(c1), &si, NULL), LS_OK);
	assert_int_equal(session_open(ss, &b, c2, sizeof(c2), NULL, NULL), LS_OK);
	assert_int_equal(session_open(ss, &a, c3, sizeof(c3), NULL, NULL), LS_OK);
	assert_int_equal(sessions_take_ended(ss, e, 8, &lost), 0);
	assert_int_equal(lost, 0);
	/* a sign-out is the caller's to log: not queued */
	assert_int_equal(session_close(ss, c3, 64, NULL), LS_OK);
	assert_int_equal(sessions_revoke_token(ss, b.id), 1);
	assert_int_equal(sessions_take_ended(ss, e, 8, NULL), 1);
	assert_string_equal(e[0].why, "revoked");
	assert_string_equal(e[0].who, b.id);
	assert_int_equal(sessions_sweep(ss), 0);	/* c1 still live */
	usleep(1200 * 1000);
	assert_int_equal(sessions_sweep(ss), 1);
	assert_int_equal(sessions_sweep(ss), 0);	/* once */
	assert_int_equal(sessions_take_ended(ss, e, 8, NULL), 1);
	assert_string_equal(e[0].why, "idle");
	assert_string_equal(e[0].who, a.id);
	assert_string_equal(e[0].id, si.id);
	assert_int_equal(session_check(ss, c1, 64, NULL), LS_DENIED);
	assert_int_equal(sessions_take_ended(ss, e, 8, NULL), 0);
	sessions_free(ss);
}

/* Invariant 3: full, a new session replaces the one idle the longest. */
static void test_bounded(void **state)
{
	struct sessions *ss;
	struct auth_principal p = who("tok_dddddddddddddddd", AUTH_ROLE_AUDITOR);
	static char c[SESSION_MAX_COUNT + 1][65];

	assert_int_equal(sessions_new(60, 0, &ss, NULL), LS_OK);
	for (unsigned i = 0; i < SESSION_MAX_COUNT; i++)
		assert_int_equal(session_open(ss, &p, c[i], 65, NULL, NULL), LS_OK);
	/* all deadlines share a second or so: make the first the freshest */
	usleep(20 * 1000);
	assert_int_equal(session_check(ss, c[0], 64, NULL), LS_OK);
	assert_int_equal(session_open(ss, &p, c[SESSION_MAX_COUNT], 65, NULL, NULL), LS_OK);
	assert_int_equal(session_check(ss, c[SESSION_MAX_COUNT], 64, NULL), LS_OK);
	assert_int_equal(session_check(ss, c[0], 64, NULL), LS_OK);
	assert_int_equal(session_check(ss, c[1], 64, NULL), LS_DENIED);
	assert_int_equal(session_check(ss, c[2], 64, NULL), LS_OK);
	sessions_free(ss);
}

static void test_cookie_header(void **state)
{
	struct sessions *plain, *tls;
	char h[192];

	assert_int_equal(sessions_new(0, 0, &plain, NULL), LS_OK);
	assert_int_equal(sessions_new(0, 1, &tls, NULL), LS_OK);
	session_cookie_header(plain, "00ff", h, sizeof(h));
	assert_string_equal(h, "logseal_session=00ff; HttpOnly; SameSite=Strict; Path=/");
	session_cookie_header(tls, "00ff", h, sizeof(h));
	assert_string_equal(h, "logseal_session=00ff; HttpOnly; SameSite=Strict; Path=/; Secure");
	session_cookie_header(tls, NULL, h, sizeof(h));
	assert_string_equal(h,
			    "logseal_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure");
	sessions_free(plain);
	sessions_free(tls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_check_close),
		cmocka_unit_test(test_revoke_token),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_ended_queue),
		cmocka_unit_test(test_cookie_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
