/*
 * `lxt-shim locks`: one process that holds many flock(2)s for lxtd, so that an
 * uncontended lock costs a line on a pipe instead of a helper's spawn.
 *
 * Requests on stdin, one a line; one answer line each on stdout, in order:
 *   take ID PATH   -> `ID locked` | `ID busy` (another open file holds it) |
 *                     `ID error ERRNO` (open or flock failed)
 *   drop ID        -> `ID dropped` (the lock is gone: its descriptor closed)
 * ID is the caller's number for the lock (decimal). A take never waits: a
 * busy lock is the caller's to wait for by other means (`lxt-shim lock`).
 * When stdin ends (lxtd exited or died) this process exits and the kernel
 * drops every lock it held, as it does for `lxt-shim lock`.
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct held {
	unsigned long long id;
	int fd;
};

static struct held *held;
static size_t nheld, capheld;

static int reply(unsigned long long id, const char *what)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%llu %s\n", id, what);

	return write_all(1, line, (size_t)n);
}

static int take(unsigned long long id, const char *path)
{
	char msg[32];
	int fd;

	for (size_t i = 0; i < nheld; i++)
		if (held[i].id == id)
			return reply(id, "error 22"); /* EINVAL: an id in use */
	if (nheld == capheld) {
		size_t cap = capheld ? capheld * 2 : 64;
		struct held *h = realloc(held, cap * sizeof(*h));

		if (!h)
			return reply(id, "error 12");
		held = h;
		capheld = cap;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "error %d", errno);
		return reply(id, msg);
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(fd);
		if (e == EWOULDBLOCK)
			return reply(id, "busy");
		snprintf(msg, sizeof(msg), "error %d", e);
		return reply(id, msg);
	}
	held[nheld].id = id;
	held[nheld].fd = fd;
	nheld++;
	return reply(id, "locked");
}

static int drop(unsigned long long id)
{
	for (size_t i = 0; i < nheld; i++) {
		if (held[i].id != id)
			continue;
		close(held[i].fd);
		held[i] = held[--nheld];
		break;
	}
	/* An unknown id is dropped already: the answer is the same. */
	return reply(id, "dropped");
}

int locks_main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	if (argc != 0) {
		fail("locks", "usage", NULL, EINVAL);
		send_error(1);
		return 1;
	}
	while ((len = getline(&line, &cap, stdin)) > 0) {
		unsigned long long id;
		char *end, *rest;
		int r;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (!strncmp(line, "take ", 5)) {
			id = strtoull(line + 5, &end, 10);
			if (end == line + 5 || *end != ' ' || !end[1])
				goto bad;
			rest = end + 1;
			r = take(id, rest);
		} else if (!strncmp(line, "drop ", 5)) {
			id = strtoull(line + 5, &end, 10);
			if (end == line + 5 || *end)
				goto bad;
			r = drop(id);
		} else {
			goto bad;
		}
		if (r < 0)
			return 1; /* the caller is gone */
		continue;
bad:
		/* A malformed line is a bug of the caller's: said once, then this ends. */
		fprintf(stderr, "lxt-shim locks: bad request: %.100s\n", line);
		free(line);
		return 2;
	}
	free(line);
	return 0;
}
