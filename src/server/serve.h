/*
 * serve.h - the entry points main.c calls for the server side of logseal:
 * `logseal serve`, `logseal token`, and the two pieces of `logseal init`
 * that belong to the server (the token store and a self-signed TLS
 * certificate for trying it out).
 *
 * serve_main() and token_main() take the arguments after "logseal"
 * (argv[0] is "serve" or "token") and return the process exit status.
 */
#ifndef LS_SERVE_H
#define LS_SERVE_H

#include "base/ls.h"

int serve_main(int argc, char **argv);

/* Create DIR/tokens.json with one admin token (roles admin + auditor) and
 * write its secret to DIR/admin.token (mode 0600, one line), the only place
 * a secret is ever written.  LS_EXISTS when DIR already has a token store. */
ls_rc auth_bootstrap(const char *dir, struct ls_err *err);

/* A self-signed ECDSA P-256 certificate for cn (subjectAltName DNS:localhost,
 * IP:127.0.0.1, IP:::1; valid one year) and its key (PEM, mode 0600).
 * Creates the parent directories (mode 0700) when missing; refuses
 * (LS_EXISTS) to overwrite either file. */
ls_rc tls_make_selfsigned(const char *cert_path, const char *key_path, const char *cn,
			  struct ls_err *err);

#endif
