/*
 * cmd_serve.c - `logseal serve`.
 */
#include "cli/cli.h"

#include "server/serve.h"

int cmd_serve(int argc, char **argv)
{
	return serve_main(argc, argv);
}
