/*
 * tlscert.h - a self-signed TLS certificate for trying logseal out over
 * HTTPS (`logseal init --self-signed`; tlscert.c).  Production deployments
 * bring their own.
 */
#ifndef LS_TLSCERT_H
#define LS_TLSCERT_H

#include "base/ls.h"

/* A self-signed ECDSA P-256 certificate for cn (subjectAltName DNS:localhost,
 * IP:127.0.0.1, IP:::1; valid one year) and its key (PEM, mode 0600).
 * Creates the parent directories (mode 0700) when missing; refuses
 * (LS_EXISTS) to overwrite either file. */
ls_rc tls_make_selfsigned(const char *cert_path, const char *key_path, const char *cn,
			  struct ls_err *err);

#endif
