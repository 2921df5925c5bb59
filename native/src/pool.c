/*
 * `lxt-shim pool PAD`: a monitor made ahead of demand (lxtd's monitor pool,
 * docs/helper-protocol.md, _Pool_). It is spawned and exec'd before any start
 * needs it, then waits on fd 4 for one line, `start PLANFILE`, and from then
 * on is that container's monitor exactly as `lxt-shim monitor PLANFILE` would
 * be (fd 3 its status channel). End of file on fd 4 before a start (the
 * daemon ended or died) ends it having made nothing. PAD only makes room in
 * argv for the monitor's process title.
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define POOL_CONTROL_FD 4

int pool_main(int argc, char **argv)
{
	char line[4200], self[] = "lxt-shim", verb[] = "monitor";
	char *margv[4] = {self, verb, NULL, NULL};

	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	if (argc != 1) {
		fail("pool", "usage", NULL, EINVAL);
		send_error(2);
		return 2;
	}
	set_title("lxt pool", "[lxt pool]");
	if (read_line(POOL_CONTROL_FD, line, sizeof(line)) < 0)
		return 0;
	close(POOL_CONTROL_FD);
	if (strncmp(line, "start ", 6) != 0 || line[6] != '/') {
		fail("pool", "request", NULL, EINVAL);
		send_error(3);
		return 1;
	}
	/* The sealed re-exec of a privileged init shim runs as a plain monitor. */
	margv[2] = line + 6;
	return monitor_main(line + 6, margv);
}
