/* Pseudo-terminal allocation and terminal modes. */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int pty_alloc(struct pty *t)
{
	if (openpty(&t->master, &t->slave, NULL, NULL, NULL) < 0)
		return fail("pty", "openpty", "/dev/ptmx", errno);
	if (ptsname_r(t->master, t->pts, sizeof(t->pts)) != 0)
		return fail("pty", "ptsname", NULL, errno);
	/* The master is polled; a full client must never stall the monitor. */
	fcntl(t->master, F_SETFD, FD_CLOEXEC);
	fcntl(t->slave, F_SETFD, FD_CLOEXEC);
	fcntl(t->master, F_SETFL, fcntl(t->master, F_GETFL) | O_NONBLOCK);
	return 0;
}

int tty_make_raw(int fd, struct termios *saved)
{
	struct termios t;

	if (tcgetattr(fd, saved) < 0)
		return -1;
	t = *saved;
	cfmakeraw(&t);
	return tcsetattr(fd, TCSAFLUSH, &t);
}

void tty_copy_winsize(int from, int to)
{
	struct winsize ws;

	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

int tty_set_winsize(int fd, unsigned short cols, unsigned short rows)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};

	return ioctl(fd, TIOCSWINSZ, &ws);
}
