/* cmd_monitor.c - `logseal monitor` (followers/monitor.h). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_monitor(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_die("monitor", "not built yet");
}
