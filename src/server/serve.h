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
/* auth_bootstrap() and tls_make_selfsigned(), the server's parts of
 * `logseal init`, are declared where they are defined: */
#include "server/auth.h"
#include "server/tlscert.h"

int serve_main(int argc, char **argv);
int token_main(int argc, char **argv);
/* `logseal keys rotate` against the running server of dir (it holds the
 * journal): POST /v1/keys/rotate with the admin token (token_file, else
 * DIR/admin.token, else $LOGSEAL_TOKEN) at server (NULL: $LOGSEAL_URL,
 * else the default).  Exit status. */
int keys_rotate_online(const char *dir, const char *server, const char *token_file,
		       const char *cacert);

/* `logseal reindex --data DIR`: rebuild the query index from the journal. */
int reindex_main(int argc, char **argv);

#endif
