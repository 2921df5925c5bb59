/*
 * `lxt-shim attach-server SOCKET`: a daemon's attach helper, spawned once
 * and kept. Each attach is a connection to SOCKET carrying the arguments of
 * `lxt-shim attach`; a fork takes the connection as its control fd (3) and
 * the request's stream connections (or /dev/null) as fds 0-2 and runs
 * attach_main, exactly as an exec'd `lxt-shim attach` would, so it is
 * confined by the same code as `lxt attach`.
 *
 * The fork comes from a zygote: one process per running container, made on
 * that container's first attach, that is already in the container's
 * cgroups (and joins nothing else). Its forks start there, so an attach
 * writes no cgroup.procs: the first such write of a process takes the cgroup
 * threadgroup lock for writing, which waits for an RCU grace period
 * (milliseconds, most of an attach's cost). The zygote itself takes none
 * either: it is cloned into the v2 cgroup and moves only itself into the v1
 * ones (place). A zygote ends when its
 * container's init does, or with the server. docs/helper-protocol.md,
 * _Attach server_.
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define AS_MAX 256               /* connections, and attaches running, at once */
#define AS_ZYGOTES 1024          /* containers with a zygote */
#define AS_HEAD 128              /* a request's first line */
#define AS_ARGS_MAX (1 << 20)    /* its arguments */
#define AS_TOKEN 40

enum as_state {
	AS_FREE,
	AS_HEADER,  /* reading the first line */
	AS_ARGS,    /* an attach: reading its arguments */
	AS_WAITING, /* an attach: waiting for its stream connections */
	AS_STREAM,  /* a stream connection come before its attach was read */
};

struct as_conn {
	enum as_state state;
	int fd;
	char token[AS_TOKEN];
	char *args;          /* AS_ARGS..: NUL-separated, `len` bytes */
	size_t len, got;
	unsigned want;       /* bit K: stream K comes as a connection (AS_STREAM: it is K) */
	int streams[3];      /* their fds, -1 until connected */
};

/* An attach forked by this process: its exit is written to its control fd. */
struct running {
	pid_t pid;
	int control;
};

struct zygote {
	pid_t pid;           /* 0: free */
	pid_t init;
	unsigned long long start;
	int sock;            /* SOCK_SEQPACKET: a request's args, its fds attached */
};

static struct as_conn C[AS_MAX];
static struct running R[AS_MAX];
static struct zygote Z[AS_ZYGOTES];

static const char bad_request[] = "error attach request % 22\n";

/* ---- attaches --------------------------------------------------------- */

/* The fork: the streams (or /dev/null) become fds 0-2, the control
 * connection fd 3, nothing else stays open, and attach runs as if exec'd. */
static _Noreturn void run_attach(char **argv, const int *streams, int control)
{
	int fds[4], nul = open("/dev/null", O_RDWR | O_CLOEXEC), argc = 0, code;
	char line[32];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, 0);
	for (int k = 0; k < 3; k++)
		fds[k] = streams[k] >= 0 ? streams[k] : nul;
	fds[3] = control;
	/* Above 3 first, so no dup2 below clobbers a source. */
	for (int k = 0; k < 4; k++)
		if ((fds[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 10)) < 0)
			_exit(126);
	for (int k = 0; k < 4; k++)
		if (dup2(fds[k], k) < 0)
			_exit(126);
	close_range(4, ~0U, 0);
	while (argv[argc])
		argc++;
	code = attach_main(argc, argv);
	/* The exit line at once: the daemon answers on the first one it reads,
	 * without waiting for our reaper to wake (its line, written after our
	 * end, repeats it; it is the only one when we die before this). Fd 3 is
	 * still the control connection: attach never closes it. */
	snprintf(line, sizeof(line), "exit %d\n", code);
	(void)!write_all(3, line, strlen(line));
	_exit(code);
}

static void answer_failed(int control)
{
	char line[700];

	format_error(line, sizeof(line));
	(void)!write_all(control, line, strlen(line));
	(void)!write_all(control, "exit 126\n", 9);
}

/* Forks the attach; the control fd is then ours until its exit is written.
 * The streams are the fork's: closed here either way. */
static void fork_attach(char **argv, int *streams, int control)
{
	int slot = -1;
	pid_t pid;

	for (int i = 0; i < AS_MAX && slot < 0; i++)
		if (!R[i].pid)
			slot = i;
	pid = slot < 0 ? (errno = EAGAIN, -1) : fork();
	if (pid == 0)
		run_attach(argv, streams, control);
	for (int k = 0; k < 3; k++)
		if (streams[k] >= 0)
			close(streams[k]);
	if (pid < 0) {
		fail("attach", "fork", NULL, errno);
		answer_failed(control);
		close(control);
		return;
	}
	R[slot] = (struct running){.pid = pid, .control = control};
}

/* Reaps one attach of ours; false when pid is none of them. */
static bool reap_attach(pid_t pid, int st)
{
	for (int i = 0; i < AS_MAX; i++) {
		char line[32];

		if (R[i].pid != pid)
			continue;
		snprintf(line, sizeof(line), "exit %d\n",
			 WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
		(void)!write_all(R[i].control, line, strlen(line));
		close(R[i].control);
		R[i] = (struct running){0};
		return true;
	}
	return false;
}

static int running_count(void)
{
	int n = 0;

	for (int i = 0; i < AS_MAX; i++)
		n += R[i].pid != 0;
	return n;
}

/* ---- the zygote ------------------------------------------------------- */

/* A request to a zygote: one byte (bit K: stream K is attached), then the
 * arguments; fds: control, then the attached streams in order. */
static char zmsg[AS_ARGS_MAX + 2];

static int zygote_recv(int sock, int *control, int *streams, char ***argv)
{
	char ctl[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = {.iov_base = zmsg, .iov_len = sizeof(zmsg) - 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			   .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	int fds[4], nfd = 0, argc = 0, next = 1;
	ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (n <= 0)
		return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)nfd);
		}
	if (nfd < 1)
		return 0; /* from the server, which sends none without fds */
	zmsg[n] = '\0';
	*control = fds[0];
	for (int k = 0; k < 3; k++)
		streams[k] = zmsg[0] & (1 << k) && next < nfd ? fds[next++] : -1;
	*argv = xcalloc((size_t)n + 1, sizeof(char *));
	for (ssize_t off = 1; off < n; off += (ssize_t)strlen(zmsg + off) + 1)
		(*argv)[argc++] = zmsg + off;
	return 1;
}

/* A v1 cgroup directory has a `tasks` file; a v2 one has none. */
static bool is_v1(const char *dir)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/tasks", dir);
	return access(path, F_OK) == 0;
}

/* Moves this process (one thread) into the container's cgroups (host
 * paths): a v1 one by 0 in its `tasks` (a task moving only itself skips the
 * kernel's threadgroup lock and its RCU grace period), the v2 one by its pid
 * in cgroup.procs unless the clone already put it there (in_v2). */
static int place(char **cgroups, int n, bool in_v2)
{
	char path[4200], pid[24];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (int i = 0; i < n; i++) {
		bool v1 = is_v1(cgroups[i]);

		if (!v1 && in_v2)
			continue;
		snprintf(path, sizeof(path), "%s/%s", cgroups[i], v1 ? "tasks" : "cgroup.procs");
		if (write_file(path, v1 ? "0" : pid, "attach") < 0)
			return -1;
	}
	return 0;
}

/* Serves one container's attaches until its init ends or the server goes.
 * One that could not place itself answers what was sent with the error
 * and ends: the server then forks such attaches itself. */
static _Noreturn void zygote_main(int sock, pid_t init, unsigned long long start,
				  char **cgroups, int ncg, bool in_v2)
{
	sigset_t set;
	int sigfd, pidfd;
	bool placed;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0);
	set_title("lxt attach", "[lxt attach zygote]");
	if ((sock = fcntl(sock, F_DUPFD_CLOEXEC, 3)) < 0 || dup2(sock, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	sock = 3;
	fcntl(sock, F_SETFD, FD_CLOEXEC);
	memset(R, 0, sizeof(R));
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if ((sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		_exit(1);
	pidfd = pidfd_checked(init, start, "attach");
	placed = pidfd >= 0 && place(cgroups, ncg, in_v2) == 0;
	for (;;) {
		struct pollfd pfd[3] = {
			{.fd = sock, .events = POLLIN},
			{.fd = sigfd, .events = POLLIN},
			{.fd = pidfd, .events = POLLIN},
		};
		struct signalfd_siginfo si;
		int st;
		pid_t pid;

		if (sock < 0 && running_count() == 0)
			_exit(0);
		if (poll(pfd, 3, -1) < 0 && errno != EINTR)
			_exit(1);
		while (sock >= 0 && (pfd[0].revents || !placed)) {
			int control, streams[3], r;
			char **argv;

			r = zygote_recv(sock, &control, streams, &argv);
			if (r < 0 || (r == 0 && !placed)) {
				close(sock);
				sock = -1;
			} else if (r == 0) {
				break;
			} else if (!placed) {
				answer_failed(control);
				close(control);
				for (int k = 0; k < 3; k++)
					if (streams[k] >= 0)
						close(streams[k]);
				free(argv);
			} else {
				fork_attach(argv, streams, control);
				free(argv);
				break;
			}
		}
		/* The init ended: the container stops, no new attach. */
		if (pfd[2].revents && sock >= 0) {
			close(sock);
			sock = -1;
		}
		if (pfd[1].revents)
			while (read(sigfd, &si, sizeof(si)) == sizeof(si))
				;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			reap_attach(pid, st);
	}
}

/* A fork, born in the v2 cgroup among dirs (CLONE_INTO_CGROUP: no move, so
 * no wait for the threadgroup lock) when there is one and the kernel takes
 * it (*in_v2 set), else a plain fork that places itself. */
static pid_t clone_into_v2(char **dirs, int n, bool *in_v2)
{
	struct clone_args ca = {.exit_signal = SIGCHLD};
	int fd = -1;
	long pid;

	for (int i = 0; i < n && fd < 0; i++)
		if (!is_v1(dirs[i]))
			fd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		ca.flags = CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)fd;
		/* No stack: clone3 then behaves like fork(2), returning twice. */
		pid = syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid == 0) {
			*in_v2 = true;
			return 0;
		}
		close(fd);
		if (pid > 0)
			return (pid_t)pid;
	}
	return fork();
}

/* The zygote of the container whose init is pid/start, made when missing;
 * NULL when none can be (the caller forks the attach itself). */
static struct zygote *zygote_for(pid_t init, unsigned long long start, char **cgroups, int ncg)
{
	struct zygote *z = NULL;
	int sv[2];
	bool in_v2 = false;
	pid_t pid;

	for (int i = 0; i < AS_ZYGOTES; i++) {
		if (Z[i].pid && Z[i].init == init && Z[i].start == start)
			return &Z[i];
		if (!Z[i].pid && !z)
			z = &Z[i];
	}
	if (!z || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	pid = clone_into_v2(cgroups, ncg, &in_v2);
	if (pid == 0) {
		close(sv[0]);
		zygote_main(sv[1], init, start, cgroups, ncg, in_v2);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return NULL;
	}
	*z = (struct zygote){.pid = pid, .init = init, .start = start, .sock = sv[0]};
	return z;
}

static int zygote_send(struct zygote *z, char **argv, int control, const int *streams)
{
	char ctl[CMSG_SPACE(sizeof(int) * 4)] = {0};
	struct iovec iov = {.iov_base = zmsg};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl};
	struct cmsghdr *c;
	int fds[4] = {control}, nfd = 1;
	size_t len = 1;

	zmsg[0] = 0;
	for (int k = 0; k < 3; k++)
		if (streams[k] >= 0) {
			zmsg[0] |= (char)(1 << k);
			fds[nfd++] = streams[k];
		}
	for (int i = 0; argv[i]; i++) {
		size_t n = strlen(argv[i]) + 1;

		if (len + n > sizeof(zmsg) - 1)
			return -1;
		memcpy(zmsg + len, argv[i], n);
		len += n;
	}
	iov.iov_len = len;
	m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
	return sendmsg(z->sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len ? 0 : -1;
}

static void zygote_drop(struct zygote *z)
{
	kill(z->pid, SIGKILL);
	close(z->sock);
	z->sock = -1;
	z->init = 0; /* reaped later: the slot is taken until then */
}

/* ---- requests --------------------------------------------------------- */

static void conn_close(struct as_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	for (int k = 0; k < 3; k++)
		if (c->streams[k] >= 0)
			close(c->streams[k]);
	free(c->args);
	*c = (struct as_conn){.state = AS_FREE, .fd = -1, .streams = {-1, -1, -1}};
}

/* Runs a whole request: through its container's zygote (without the
 * --cgroup arguments: the zygote is in them), else forked here. */
static void dispatch(struct as_conn *c)
{
	char **argv = xcalloc(c->len + 1, sizeof(char *)), **fwd, **cgroups;
	long long pid = 0;
	unsigned long long start = 0;
	int argc = 0, nfwd = 0, ncg = 0, control = c->fd;
	struct zygote *z;

	for (size_t off = 0; off < c->len; off += strlen(c->args + off) + 1)
		argv[argc++] = c->args + off;
	fwd = xcalloc((size_t)argc + 1, sizeof(char *));
	cgroups = xcalloc((size_t)argc + 1, sizeof(char *));
	/* attach's options all take a value but --pty and --no-pty (attach.c). */
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			while (i < argc)
				fwd[nfwd++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--pty") || !strcmp(a, "--no-pty") || i + 1 == argc) {
			fwd[nfwd++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--pid"))
			(void)parse_ll(argv[i + 1], 1, 0x7fffffff, &pid);
		else if (!strcmp(a, "--pid-start"))
			(void)parse_ull(argv[i + 1], 10, &start);
		if (!strcmp(a, "--cgroup")) {
			cgroups[ncg++] = argv[++i];
			continue;
		}
		fwd[nfwd++] = argv[i];
		fwd[nfwd++] = argv[++i];
	}
	z = pid && start ? zygote_for((pid_t)pid, start, cgroups, ncg) : NULL;
	if (z && zygote_send(z, fwd, control, c->streams) < 0) {
		/* Full (busy placing itself): this one is forked here; gone: made again next time. */
		if (errno != EAGAIN)
			zygote_drop(z);
		z = NULL;
	}
	if (!z)
		fork_attach(argv, c->streams, control);
	/* Sent (the zygote holds copies) or forked: the fds are no longer ours. */
	if (z) {
		close(control);
		for (int k = 0; k < 3; k++)
			if (c->streams[k] >= 0)
				close(c->streams[k]);
	}
	for (int k = 0; k < 3; k++)
		c->streams[k] = -1;
	c->fd = -1;
	conn_close(c);
	free(argv);
	free(fwd);
	free(cgroups);
}

static struct as_conn *find_attach(const char *token)
{
	for (int i = 0; i < AS_MAX; i++)
		if (C[i].state == AS_WAITING && !strcmp(C[i].token, token))
			return &C[i];
	return NULL;
}

/* Bytes up to and including the first newline, read exactly (what follows
 * is the stream's or the control channel's and must stay unread): 0 while
 * incomplete, -1 for a line that is too long or a closed connection. */
static ssize_t peek_line(int fd, char *line, size_t cap)
{
	ssize_t n = recv(fd, line, cap - 1, MSG_PEEK | MSG_DONTWAIT);
	char *nl;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	if (!(nl = memchr(line, '\n', (size_t)n)))
		return (size_t)n == cap - 1 ? -1 : 0;
	n = nl + 1 - line;
	if (recv(fd, line, (size_t)n, MSG_DONTWAIT) != n)
		return -1;
	*nl = '\0';
	return n;
}

/* Hands stream connection s to attach a; -1 when a does not want it. */
static int take_stream(struct as_conn *a, struct as_conn *s)
{
	unsigned k = s->want;

	if (!(a->want & (1u << k)) || a->streams[k] >= 0)
		return -1;
	a->streams[k] = s->fd;
	s->fd = -1;
	conn_close(s);
	return 0;
}

/* An attach whose request is read takes the stream connections that came first. */
static void collect_streams(struct as_conn *a)
{
	for (int i = 0; i < AS_MAX; i++)
		if (C[i].state == AS_STREAM && !strcmp(C[i].token, a->token) && take_stream(a, &C[i]) < 0)
			conn_close(&C[i]);
}

static bool all_streams(const struct as_conn *c)
{
	for (int k = 0; k < 3; k++)
		if ((c->want & (1u << k)) && c->streams[k] < 0)
			return false;
	return true;
}

/* `attach TOKEN LEN STREAMS` (STREAMS: the digits of the stream
 * connections to wait for, or `-`) or `stream TOKEN K`. */
static void on_header(struct as_conn *c, char *line)
{
	char *items[5];
	long long len, k;
	int n = split_list(line, ' ', items, 5);

	if (n == 4 && !strcmp(items[0], "attach") && strlen(items[1]) < AS_TOKEN &&
	    parse_ll(items[2], 1, AS_ARGS_MAX, &len) == 0) {
		if (strcmp(items[3], "-"))
			for (const char *s = items[3]; *s; s++) {
				if (*s < '0' || *s > '2')
					goto bad;
				c->want |= 1u << (*s - '0');
			}
		strcpy(c->token, items[1]);
		c->len = (size_t)len;
		c->args = malloc(c->len + 1);
		if (!c->args)
			goto bad;
		c->state = AS_ARGS;
		return;
	}
	if (n == 3 && !strcmp(items[0], "stream") && strlen(items[1]) < AS_TOKEN &&
	    parse_ll(items[2], 0, 2, &k) == 0) {
		struct as_conn *a = find_attach(items[1]);

		strcpy(c->token, items[1]);
		c->want = (unsigned)k;
		c->state = AS_STREAM;
		/* Its attach's request may not be read yet: then it collects this one. */
		if (a && take_stream(a, c) < 0)
			goto bad;
		if (a && all_streams(a))
			dispatch(a);
		return;
	}
bad:
	(void)!write_all(c->fd, bad_request, sizeof(bad_request) - 1);
	conn_close(c);
}

static void on_input(struct as_conn *c)
{
	if (c->state == AS_HEADER) {
		char line[AS_HEAD];
		ssize_t n = peek_line(c->fd, line, sizeof(line));

		if (n < 0)
			conn_close(c);
		else if (n > 0)
			on_header(c, line);
		/* The arguments usually came with the line. */
		if (c->state != AS_ARGS)
			return;
	}
	if (c->state == AS_ARGS) {
		ssize_t n = read(c->fd, c->args + c->got, c->len - c->got);

		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				conn_close(c);
			return;
		}
		c->got += (size_t)n;
		if (c->got < c->len)
			return;
		/* Every argument NUL-terminated, the last one too. */
		if (c->args[c->len - 1] != '\0') {
			(void)!write_all(c->fd, bad_request, sizeof(bad_request) - 1);
			conn_close(c);
			return;
		}
		c->state = AS_WAITING;
		collect_streams(c);
		if (all_streams(c))
			dispatch(c);
		return;
	}
	/* AS_WAITING, AS_STREAM: only their end is polled for (POLLHUP): the daemon gave up. */
	if (c->state == AS_WAITING || c->state == AS_STREAM)
		conn_close(c);
}

static void reap(void)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (reap_attach(pid, st))
			continue;
		for (int i = 0; i < AS_ZYGOTES; i++)
			if (Z[i].pid == pid) {
				if (Z[i].sock >= 0)
					close(Z[i].sock);
				Z[i] = (struct zygote){.sock = -1};
			}
	}
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail("attach", "bind", path, ENAMETOOLONG);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail("attach", "socket", NULL, errno);
	unlink(path);
	/* umask, not chmod after bind: never reachable by anyone but us. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0)
		return fail("attach", rc < 0 ? "bind" : "listen", path, errno);
	return fd;
}

static void accept_conn(int lfd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	/* Only our own uid (the daemon's) may run commands in containers. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
		close(fd);
		return;
	}
	for (int i = 0; i < AS_MAX; i++)
		if (C[i].state == AS_FREE) {
			C[i] = (struct as_conn){.state = AS_HEADER, .fd = fd, .streams = {-1, -1, -1}};
			return;
		}
	close(fd);
}

int attach_server_main(int argc, char **argv)
{
	struct pollfd pfd[2 + AS_MAX];
	int map[AS_MAX], lfd, sigfd;
	sigset_t set;

	if (argc != 1) {
		fail("attach", "usage", NULL, EINVAL);
		send_error(2);
		return 2;
	}
	/* Lives no longer than the daemon that spawned it; its attaches live
	 * as long as their control connections (attach's own rule). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < AS_MAX; i++)
		C[i] = (struct as_conn){.state = AS_FREE, .fd = -1, .streams = {-1, -1, -1}};
	for (int i = 0; i < AS_ZYGOTES; i++)
		Z[i].sock = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fail("attach", "signalfd", NULL, errno);
		send_error(2);
		return 1;
	}
	if ((lfd = listen_on(argv[0])) < 0) {
		send_error(2);
		return 1;
	}
	set_title("lxt attach", "[lxt attach server]");
	(void)!write_all(1, "ready\n", 6);
	for (;;) {
		struct signalfd_siginfo si;
		int n = 2;

		pfd[0] = (struct pollfd){.fd = sigfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < AS_MAX; i++) {
			if (C[i].state == AS_FREE)
				continue;
			/* Waiting ones only for their end (POLLHUP): a stdin shut early is no end. */
			map[n - 2] = i;
			pfd[n++] = (struct pollfd){
				.fd = C[i].fd,
				.events = C[i].state == AS_HEADER || C[i].state == AS_ARGS ? POLLIN : 0,
			};
		}
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int j = 2; j < n; j++)
			if (pfd[j].revents)
				on_input(&C[map[j - 2]]);
		if (pfd[1].revents)
			accept_conn(lfd);
		if (pfd[0].revents) {
			while (read(sigfd, &si, sizeof(si)) == sizeof(si))
				;
			reap();
		}
	}
}
