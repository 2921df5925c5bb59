/*
 * `lxt-shim lock [-n] PATH`: a flock(2) held for as long as our stdin is open.
 * With -n the lock is only tried: `busy` when another process holds it.
 * PATH `-`: the path is read from stdin's first line (lxtd's pool).
 * `lxt-shim hold`: a process that lives as long as our stdin is open (the
 * first process of a container's systemd scope, until its monitor is in).
 * `lxt-shim sockopt`: see below.
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

/* Returns once stdin is closed: the TypeScript side ended, or died. */
static int until_stdin_closes(void)
{
	char buf[256];

	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR))
			return 0;
	}
}

int hold_main(int argc, char **argv)
{
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	if (argc != 0) {
		fail("hold", "usage", NULL, EINVAL);
		send_error(1);
		return 1;
	}
	if (write_all(1, "held\n", 5) < 0)
		return 1;
	return until_stdin_closes();
}

int lock_main(int argc, char **argv)
{
	int fd, op = LOCK_EX;
	char path[4096];

	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && !strcmp(argv[0], "-n")) {
		op |= LOCK_NB;
		argc--;
		argv++;
	}
	if (argc != 1) {
		fail("lock", "usage", NULL, EINVAL);
		goto err;
	}
	/* `-`: the path is the first line of stdin (a helper made ahead of demand). */
	if (!strcmp(argv[0], "-")) {
		if (read_line(0, path, sizeof(path)) < 0 || !path[0])
			return 0; /* never asked: its spawner ended */
		argv[0] = path;
	}
	fd = open(argv[0], O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fail("lock", "open", argv[0], errno);
		goto err;
	}
	while (flock(fd, op) < 0) {
		if (errno == EWOULDBLOCK && (op & LOCK_NB))
			return write_all(1, "busy\n", 5) < 0;
		if (errno != EINTR) {
			fail("lock", "flock", argv[0], errno);
			goto err;
		}
	}
	if (write_all(1, "locked\n", 7) < 0)
		return 1;
	/* The lock lives exactly as long as the TypeScript side keeps stdin. */
	return until_stdin_closes();
err:
	send_error(1);
	return 1;
}

/*
 * `lxt-shim sockopt OPTION...`: stdin is a TCP socket, and each OPTION is
 * set on it (on the socket, so every descriptor of it sees it):
 * `reset-on-close`, SO_LINGER 0, so that its last close, however its holder
 * ends (a SIGKILL too), resets the connection instead of closing it;
 * `blocking`, O_NONBLOCK cleared. Node has neither setsockopt nor fcntl:
 * this is how a lazy dump's page-server connection (container/criu-lazy.ts)
 * makes criu fail the dump, rather than take the close as success, when
 * lxt dies holding its end, and how criu gets a blocking one.
 */
int sockopt_main(int argc, char **argv)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	int i, flags;

	if (argc == 0) {
		fail("sockopt", "usage", NULL, EINVAL);
		send_error(1);
		return 1;
	}
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "reset-on-close")) {
			if (setsockopt(0, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0) {
				fail("sockopt", "setsockopt", "SO_LINGER", errno);
				send_error(1);
				return 1;
			}
		} else if (!strcmp(argv[i], "blocking")) {
			flags = fcntl(0, F_GETFL);
			if (flags < 0 || fcntl(0, F_SETFL, flags & ~O_NONBLOCK) < 0) {
				fail("sockopt", "fcntl", "O_NONBLOCK", errno);
				send_error(1);
				return 1;
			}
		} else {
			fail("sockopt", "usage", argv[i], EINVAL);
			send_error(1);
			return 1;
		}
	}
	return 0;
}
