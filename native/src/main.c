/* lxt-shim: the native helper of lxt. See docs/helper-protocol.md. */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int usage(void)
{
	fail("plan", "usage", NULL, EINVAL);
	send_error(2);
	fputs("usage: lxt-shim monitor PLANFILE | pool PAD | attach [opts] -- ARGV | attach-server SOCKET | lock [-n] PATH | locks | hold | sockopt reset-on-close|blocking... | idmap-probe PATH | shift ROOT FROM TO | devices attach|load|dump ... | file TARGET get|put|delete PATH | lxtd-metrics NODE SCRIPT metrics [ARGS] | version\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	title_init(argc, argv);
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "version") && argc == 2) {
		printf("lxt-shim %s plan=%d\n", LXT_VERSION, LXT_PLAN_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "monitor") && argc == 3)
		return monitor_main(argv[2], argv);
	if (!strcmp(argv[1], "pool"))
		return pool_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "attach"))
		return attach_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "attach-server"))
		return attach_server_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "idmap-probe"))
		return idmap_probe_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "shift"))
		return shift_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "lock"))
		return lock_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "locks"))
		return locks_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "hold"))
		return hold_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "sockopt"))
		return sockopt_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "file"))
		return file_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "lxtd-metrics"))
		return lxtd_metrics_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "devices"))
		return devices_main(argc - 2, argv + 2);
	return usage();
}
