/* cgroup.procs parsing: whole lines only, whatever the read size; the sync
 * socket's last message from a child that is gone; attach's byte relays. */
#include "../src/shim.h"
#include "../src/util.h"
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct seen {
	long pids[4096];
	int n;
};

static int record(long pid, void *arg)
{
	struct seen *s = arg;

	if (s->n < (int)(sizeof(s->pids) / sizeof(s->pids[0])))
		s->pids[s->n++] = pid;
	return 0;
}

static int procs_of(const char *text, struct seen *s)
{
	int fd = unit_file(text, strlen(text)), n;

	s->n = 0;
	n = procs_each(fd, record, s);
	close(fd);
	return n;
}

/* A child that failed writes its error line and exits with the monitor's
 * go-ahead unread: the line is still read, after the reset. */
static void child_line(void)
{
	char buf[64];
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	CHECK(send(sv[0], "n", 1, 0) == 1);
	CHECK(send(sv[1], "error mount mount /x 2", 22, 0) == 22);
	close(sv[1]);
	CHECK(recv_msg(sv[0], buf, sizeof(buf) - 1, 0) == 22);
	CHECK(recv_msg(sv[0], buf, sizeof(buf) - 1, 0) == 0);
	close(sv[0]);
	/* Nothing written: the end, not an error. */
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	CHECK(send(sv[0], "n", 1, 0) == 1);
	close(sv[1]);
	CHECK(recv_msg(sv[0], buf, sizeof(buf) - 1, MSG_DONTWAIT) == 0);
	close(sv[0]);
}

/* Steps r until it is done (or 1000 steps: a relay that never ends). */
static int run_relay(struct relay *r)
{
	for (int i = 0; i < 1000 && !r->done; i++)
		relay_step(r);
	return r->done;
}

static void relays(void)
{
	static struct relay r;
	int src[2], dst[2], sock[2];
	char buf[64];
	ssize_t n;

	/* Bytes, then the source's end: all through, then the end passed on. */
	CHECK(pipe(src) == 0 && pipe(dst) == 0);
	CHECK(write(src[1], "hello", 5) == 5);
	close(src[1]);
	relay_init(&r, src[0], dst[1]);
	CHECK(run_relay(&r));
	n = read(dst[0], buf, sizeof(buf));
	CHECK(n == 5 && !memcmp(buf, "hello", 5));
	CHECK(read(dst[0], buf, sizeof(buf)) == 0);
	close(src[0]);
	close(dst[0]);

	/* Into a socket: shut for writing, so its reader sees the end at once. */
	CHECK(pipe(src) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sock) == 0);
	CHECK(write(src[1], "x", 1) == 1);
	close(src[1]);
	relay_init(&r, src[0], sock[0]);
	CHECK(run_relay(&r));
	CHECK(read(sock[1], buf, sizeof(buf)) == 1 && read(sock[1], buf, sizeof(buf)) == 0);
	close(src[0]);
	close(sock[0]);
	close(sock[1]);

	/* A reader gone: what comes is dropped, the writer never blocks (the
	 * helper ignores SIGPIPE, as here). */
	void (*was)(int) = signal(SIGPIPE, SIG_IGN);
	CHECK(pipe(src) == 0 && pipe(dst) == 0);
	close(dst[0]);
	CHECK(write(src[1], "lost", 4) == 4);
	close(src[1]);
	relay_init(&r, src[0], dst[1]);
	CHECK(run_relay(&r));
	CHECK(r.broken);
	close(src[0]);
	signal(SIGPIPE, was);

	/* Nothing yet: a step does not block and does not end it. */
	CHECK(pipe(src) == 0 && pipe(dst) == 0);
	relay_init(&r, src[0], dst[1]);
	relay_step(&r);
	CHECK(!r.done && !r.eof && r.len == 0);
	close(src[1]);
	CHECK(run_relay(&r));
	CHECK(read(dst[0], buf, sizeof(buf)) == 0);
	close(src[0]);
	close(dst[0]);
}

void test_procs(void)
{
	relays();
	child_line();
	static struct seen s;
	static char text[16384];

	/* More than one read's worth of 7-digit pids after K short lines: for
	 * some K a pid straddles the end of the first read, and must not come
	 * back as two pids (each of which the monitor would SIGKILL). */
	for (int k = 0; k < 8; k++) {
		size_t len = 0;
		int want = 0, ok = 1;
		for (int i = 0; i < k; i++, want++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "1\n");
		for (int i = 0; i < 1000; i++, want++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%d\n", 1000000 + i);
		CHECK(len > 4096);
		CHECK(procs_of(text, &s) == want);
		CHECK(s.n == want);
		for (int i = 0; i < s.n && ok; i++)
			ok = s.pids[i] == (i < k ? 1 : 1000000 + i - k);
		CHECK(ok);
	}
	CHECK(procs_of("", &s) == 0 && s.n == 0);
	/* The last line may lack its newline. */
	CHECK(procs_of("12\n345", &s) == 2 && s.n == 2 && s.pids[0] == 12 && s.pids[1] == 345);
	/* Nothing that is not a positive pid reaches kill(2): -1 would be everyone. */
	CHECK(procs_of("0\n-1\n+5\n 7\n8x\n\n9\n", &s) == 1 && s.n == 1 && s.pids[0] == 9);
	/* A line longer than any pid is skipped whole, not read in pieces. */
	memset(text, '1', 5000);
	strcpy(text + 5000, "\n42\n");
	CHECK(procs_of(text, &s) == 1 && s.n == 1 && s.pids[0] == 42);
}
