/*
 * Byte relays between descriptors, for an attach a daemon runs: the
 * command gets real pipes (so /dev/stdin and /dev/stderr open, as they do
 * for a terminal or a shell's pipe), and the helper moves their bytes to
 * and from the daemon's sockets. Non-blocking both ways, one buffer per
 * direction, so a full side never stops the others (a command that does
 * not read its stdin still gets its output relayed).
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

void relay_init(struct relay *r, int from, int to)
{
	*r = (struct relay){.from = from, .to = to};
	fcntl(from, F_SETFL, fcntl(from, F_GETFL) | O_NONBLOCK);
	fcntl(to, F_SETFL, fcntl(to, F_GETFL) | O_NONBLOCK);
}

void relay_poll(const struct relay *r, struct pollfd *in, struct pollfd *out)
{
	*in = (struct pollfd){.fd = !r->eof && r->len == 0 ? r->from : -1, .events = POLLIN};
	*out = (struct pollfd){.fd = r->len > 0 ? r->to : -1, .events = POLLOUT};
}

/* The source is done and everything is through: the far side sees the end
 * (a socket is shut for writing, so its reader gets EOF while we live). */
static void finish(struct relay *r)
{
	if (r->done)
		return;
	r->done = true;
	if (shutdown(r->to, SHUT_WR) < 0)
		close(r->to);
}

void relay_step(struct relay *r)
{
	if (r->len == 0 && !r->eof) {
		ssize_t n = read(r->from, r->buf, sizeof(r->buf));

		if (n > 0) {
			r->len = (size_t)n;
			r->off = 0;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->eof = true;
		}
	}
	while (r->len > 0) {
		ssize_t n = r->broken ? (ssize_t)r->len : write(r->to, r->buf + r->off, r->len);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* The reader is gone: drop what comes, so the writer never blocks. */
			r->broken = true;
			continue;
		}
		r->off += (size_t)n;
		r->len -= (size_t)n;
	}
	if (r->eof)
		finish(r);
}
