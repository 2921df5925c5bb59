/*
 * The per-container monitor: clones the container's first process, places it
 * in its cgroups, reports the start on fd 3, then serves the control socket,
 * drains the ptys and cleans up when the init ends.
 */
#include "notify.h"
#include "ringbuf.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define LOG_LIMIT (1 << 20)
#define IO_CHUNK 4096

enum client_kind { CL_LINE, CL_WAIT, CL_CONSOLE };

struct client {
	int fd;
	enum client_kind kind;
	int pty;
	unsigned int len;
	char buf[96];
};

struct monitor {
	struct plan p;
	int status_fd;
	int sigfd, lfd, log_fd;
	long long log_size;
	struct ringbuf ring;     /* the console's recent output (console-buffer) */
	struct pty *ptys;
	int npty;
	int holder[64];          /* client fd holding pty N, -1 if none */
	pid_t init;
	int init_pidfd;
	unsigned long long init_start;
	bool stopping, ended, started;
	bool cgroup2_late;       /* the child enters its v2 cgroup by a write (nsopts.c) */
	int notify_fd;           /* the init's seccomp listener (notify.c), or -1 */
	long long kill_at;       /* monotonic ms, -1 when no stop timeout runs */
	int wstatus;
	struct client cl[MAX_CLIENTS];
	int ncl;
	bool fg_stdin;
	bool raw;
	struct termios saved;
	int dev_fd;              /* console-path's terminal, -1 if none */
	bool dev_hup, dev_raw;
	struct termios dev_saved;
};

static struct monitor M;

static void rt_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", M.p.runtime, name);
}

static void status_line(const char *line)
{
	int fd = M.status_fd >= 0 ? M.status_fd : 2;

	(void)!write_all(fd, line, strlen(line));
}

static int write_state(void)
{
	char path[4200], data[96];

	rt_path(path, sizeof(path), "state");
	snprintf(data, sizeof(data), "%s %d %llu\n", M.stopping ? "STOPPING" : "RUNNING",
		 (int)M.init, M.init_start);
	return write_file_atomic(path, data);
}

static void end_text(char *buf, size_t cap)
{
	if (WIFSIGNALED(M.wstatus))
		snprintf(buf, cap, "signaled %d\n", WTERMSIG(M.wstatus));
	else
		snprintf(buf, cap, "exited %d\n", WEXITSTATUS(M.wstatus));
}

/* ---- cgroups ---------------------------------------------------------- */

/* Thaws every cgroup of the container first: a task frozen in the v1
 * freezer ignores SIGKILL, whichever hierarchy it comes through. */
static void thaw_all(void)
{
	for (int i = 0; i < M.p.ncgroup1; i++)
		cgroup_thaw(M.p.cgroup1[i]);
	for (int i = 0; i < M.p.ncgroup_kill; i++)
		cgroup_thaw(M.p.cgroup_kill[i]);
}

static void cleanup_cgroups(void)
{
	thaw_all();
	for (int i = 0; i < M.p.ncgroup_kill; i++) {
		long long until = now_ms() + 2000;
		while (cgroup_kill(M.p.cgroup_kill[i]) > 0 && now_ms() < until)
			sleep_ms(10);
	}
	for (int i = 0; i < M.p.ncgroup1; i++)
		cgroup_remove(M.p.cgroup1[i]);
	if (M.p.cgroup2)
		cgroup_remove(M.p.cgroup2);
	for (int i = 0; i < M.p.ncgroup_kill; i++)
		cgroup_remove(M.p.cgroup_kill[i]);
}

/* SIGKILL for the init, thawed first: a frozen init would keep it pending,
 * and a dying init waits for every task of its pid namespace, frozen ones
 * too (a sub-cgroup its root froze). */
static void kill_init(void)
{
	thaw_all();
	sys_pidfd_send_signal(M.init_pidfd, SIGKILL);
}

static void cleanup_runtime(void)
{
	static const char *const names[] = {"control.sock", "state", "monitor", "plan", "netns", "nics"};
	char path[4200];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		rt_path(path, sizeof(path), names[i]);
		unlink(path);
	}
	rmdir(M.p.runtime);
}

/* ---- ptys and clients ------------------------------------------------- */

static void client_close(int i)
{
	struct client *c = &M.cl[i];

	if (c->kind == CL_CONSOLE && M.holder[c->pty] == c->fd)
		M.holder[c->pty] = -1;
	close(c->fd);
	M.cl[i] = M.cl[--M.ncl];
}

static void client_reply(int i, const char *text, bool close_after)
{
	(void)!write_all(M.cl[i].fd, text, strlen(text));
	if (close_after)
		client_close(i);
}

/* `console-log [clear]`: `ok LEN`, then the ring buffer's bytes, oldest first
 * (`none` without a buffer); `clear` empties it after the copy. */
static void console_log_reply(int i, bool clear)
{
	char head[32];
	char *copy;
	size_t n;

	if (M.ring.size == 0) {
		client_reply(i, "none\n", true);
		return;
	}
	copy = malloc(M.ring.len ? M.ring.len : 1);
	if (!copy) {
		client_reply(i, "error socket console-log % 12\n", true);
		return;
	}
	n = ringbuf_copy(&M.ring, copy);
	snprintf(head, sizeof(head), "ok %zu\n", n);
	/* A blocking write: the client asked and reads; a bounded copy (the buffer's size). */
	fcntl(M.cl[i].fd, F_SETFL, fcntl(M.cl[i].fd, F_GETFL) & ~O_NONBLOCK);
	if (write_all(M.cl[i].fd, head, strlen(head)) == 0)
		(void)!write_all(M.cl[i].fd, copy, n);
	free(copy);
	if (clear)
		ringbuf_clear(&M.ring);
	client_close(i);
}

/* Past its limit the log starts again: moved to PATH.1 (one rotated file,
 * as LXC keeps) with console-log-rotate, else cut to nothing. */
static void log_restart(void)
{
	char old[PATH_MAX];

	if (M.p.console_log_rotate &&
	    snprintf(old, sizeof(old), "%s.1", M.p.console_log) < (int)sizeof(old) &&
	    rename(M.p.console_log, old) == 0) {
		int fd = open(M.p.console_log, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(M.log_fd);
			M.log_fd = fd;
			M.log_size = 0;
			return;
		}
	}
	if (ftruncate(M.log_fd, 0) == 0)
		M.log_size = 0;
}

static void log_output(const char *buf, size_t n)
{
	if (M.log_fd < 0)
		return;
	if (M.log_size > (M.p.console_log_size ? M.p.console_log_size : LOG_LIMIT))
		log_restart();
	if (write_all(M.log_fd, buf, n) == 0)
		M.log_size += (long long)n;
}

/* Output nobody reads is dropped: the init must never block on its console. */
static void pty_drain(int idx)
{
	char buf[IO_CHUNK];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(M.ptys[idx].master, buf, sizeof(buf));
		if (n <= 0)
			return;
		log_output(buf, (size_t)n);
		if (idx == 0)
			ringbuf_write(&M.ring, buf, (size_t)n);
		if (idx == 0 && M.p.foreground)
			(void)!write_all(1, buf, (size_t)n);
		/* Non-blocking: what a terminal nobody reads cannot take is lost. */
		if (idx == 0 && M.dev_fd >= 0)
			(void)!write(M.dev_fd, buf, (size_t)n);
		if (M.holder[idx] >= 0)
			(void)!write(M.holder[idx], buf, (size_t)n);
	}
}

static void begin_stop(int sig, long long timeout_s)
{
	if (!M.stopping) {
		M.stopping = true;
		write_state();
	}
	if (sig == SIGKILL)
		kill_init();
	else if (sig > 0)
		sys_pidfd_send_signal(M.init_pidfd, sig);
	if (timeout_s >= 0) {
		long long at = now_ms() + timeout_s * 1000;
		if (M.kill_at < 0 || at < M.kill_at)
			M.kill_at = at;
	}
}

static void handle_request(int i)
{
	struct client *c = &M.cl[i];
	char *nl = memchr(c->buf, '\n', c->len), *save = NULL, *verb, *a1, *a2, *a3;
	long long n, t, r;
	char reply[96];
	unsigned int rest;

	*nl = '\0';
	rest = c->len - (unsigned int)(nl + 1 - c->buf);
	verb = strtok_r(c->buf, " ", &save);
	a1 = strtok_r(NULL, " ", &save);
	a2 = strtok_r(NULL, " ", &save);
	a3 = strtok_r(NULL, " ", &save);
	if (!verb || strtok_r(NULL, " ", &save))
		goto bad;
	if (a3 && strcmp(verb, "winsize"))
		goto bad;
	if (!strcmp(verb, "state") && !a1) {
		snprintf(reply, sizeof(reply), "%s %d %llu\n", M.stopping ? "STOPPING" : "RUNNING",
			 (int)M.init, M.init_start);
		client_reply(i, reply, true);
	} else if (!strcmp(verb, "signal") && a1 && !a2 && parse_ll(a1, 1, 64, &n) == 0) {
		sys_pidfd_send_signal(M.init_pidfd, (int)n);
		client_reply(i, "ok\n", true);
	} else if (!strcmp(verb, "stop") && a1 && a2 && parse_ll(a1, 0, 64, &n) == 0 &&
		   parse_ll(a2, -1, 1LL << 31, &t) == 0) {
		begin_stop((int)n, t);
		c->kind = CL_WAIT;
		client_reply(i, "stopping\n", false);
	} else if (!strcmp(verb, "console-log") && !a2 && (!a1 || !strcmp(a1, "clear"))) {
		console_log_reply(i, a1 != NULL);
	} else if (!strcmp(verb, "wait") && !a1) {
		c->kind = CL_WAIT;
	} else if (!strcmp(verb, "console") && a1 && !a2 && parse_ll(a1, 0, 63, &n) == 0) {
		if (n >= M.npty || M.ptys[n].master < 0) {
			client_reply(i, "none\n", true);
		} else if (M.holder[n] >= 0 || (n == 0 && M.p.foreground)) {
			client_reply(i, "busy\n", true);
		} else {
			c->kind = CL_CONSOLE;
			c->pty = (int)n;
			M.holder[n] = c->fd;
			client_reply(i, "ok\n", false);
			if (rest)
				(void)!write(M.ptys[n].master, nl + 1, rest);
		}
	} else if (!strcmp(verb, "winsize") && a3 && parse_ll(a1, 0, 63, &n) == 0 &&
		   parse_ll(a2, 1, 65535, &t) == 0 && parse_ll(a3, 1, 65535, &r) == 0) {
		if (n >= M.npty || M.ptys[n].master < 0)
			client_reply(i, "none\n", true);
		else if (tty_set_winsize(M.ptys[n].master, (unsigned short)t, (unsigned short)r) < 0)
			client_reply(i, "error socket winsize % 25\n", true);
		else
			client_reply(i, "ok\n", true);
	} else {
		goto bad;
	}
	return;
bad:
	client_reply(i, "error socket request % 22\n", true);
}

static void client_input(int i)
{
	struct client *c = &M.cl[i];
	char buf[IO_CHUNK];
	ssize_t n;

	if (c->kind == CL_LINE) {
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN)
				client_close(i);
			return;
		}
		c->len += (unsigned int)n;
		if (memchr(c->buf, '\n', c->len))
			handle_request(i);
		else if (c->len == sizeof(c->buf) - 1)
			client_reply(i, "error socket request % 7\n", true);
		return;
	}
	n = read(c->fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			client_close(i);
		return;
	}
	if (c->kind == CL_CONSOLE)
		(void)!write(M.ptys[c->pty].master, buf, (size_t)n);
}

static void accept_client(void)
{
	int fd = accept4(M.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (M.ncl == MAX_CLIENTS) {
		close(fd);
		return;
	}
	M.cl[M.ncl++] = (struct client){.fd = fd, .kind = CL_LINE};
}

/* ---- signals and the loop -------------------------------------------- */

static void reap(void)
{
	pid_t w;
	int st;

	while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
		if (w == M.init) {
			M.wstatus = st;
			M.ended = true;
		}
	}
}

static void handle_signals(void)
{
	struct signalfd_siginfo si;

	while (read(M.sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGWINCH:
			if (M.npty && M.ptys[0].master >= 0)
				tty_copy_winsize(0, M.ptys[0].master);
			break;
		default:
			/* Someone is ending the monitor: the container goes with it,
			 * but through the normal cleanup path. */
			begin_stop(SIGKILL, -1);
			break;
		}
	}
}

/* Input for the console from FD (our stdin, or the console-path
 * terminal); false once FD has nothing more to give. */
static bool console_input(int fd)
{
	char buf[IO_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0)
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	if (M.npty && M.ptys[0].master >= 0)
		(void)!write_all(M.ptys[0].master, buf, (size_t)n);
	return true;
}

/* lxc.console.path: the console's peer is this host terminal, as LXC's
 * terminal peer: raw, its size given to the console, bytes both ways. */
static int open_console_path(void)
{
	M.dev_fd = open(M.p.console_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (M.dev_fd < 0)
		return fail("console-path", "open", M.p.console_path, errno);
	if (isatty(M.dev_fd)) {
		tty_copy_winsize(M.dev_fd, M.ptys[0].master);
		M.dev_raw = tty_make_raw(M.dev_fd, &M.dev_saved) == 0;
	}
	return 0;
}

static void loop(void)
{
	struct pollfd pfd[5 + 64 + MAX_CLIENTS];

	while (!M.ended) {
		int n = 0, base_pty, base_cl, timeout = -1;

		pfd[n++] = (struct pollfd){.fd = M.sigfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = M.lfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = M.fg_stdin ? 0 : -1, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = M.notify_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = M.dev_hup ? -1 : M.dev_fd, .events = POLLIN};
		base_pty = n;
		for (int i = 0; i < M.npty; i++)
			pfd[n++] = (struct pollfd){.fd = M.ptys[i].master, .events = POLLIN};
		base_cl = n;
		for (int i = 0; i < M.ncl; i++)
			pfd[n++] = (struct pollfd){.fd = M.cl[i].fd, .events = POLLIN};
		if (M.kill_at >= 0) {
			long long left = M.kill_at - now_ms();
			timeout = left < 0 ? 0 : (int)left;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			sleep_ms(10);
			continue;
		}
		if (M.kill_at >= 0 && now_ms() >= M.kill_at) {
			kill_init();
			M.kill_at = -1;
		}
		if (pfd[0].revents)
			handle_signals();
		if (pfd[1].revents)
			accept_client();
		if (pfd[2].revents)
			M.fg_stdin = console_input(0);
		/* A hung-up terminal (its other end closed) is not polled again. */
		if (pfd[4].revents && !((pfd[4].revents & POLLIN) && console_input(M.dev_fd)))
			M.dev_hup = true;
		/* POLLHUP: no task uses the filter any more. */
		if (pfd[3].revents & (POLLHUP | POLLERR | POLLNVAL) ||
		    (pfd[3].revents && notify_handle(M.notify_fd, getpid(), M.init) < 0)) {
			close(M.notify_fd);
			M.notify_fd = -1;
		}
		for (int i = 0; i < M.npty; i++)
			if (pfd[base_pty + i].revents)
				pty_drain(i);
		/* Walk backwards: client_close() moves the last entry into i. */
		for (int i = n - base_cl - 1; i >= 0; i--)
			if (pfd[base_cl + i].revents && i < M.ncl && M.cl[i].fd == pfd[base_cl + i].fd)
				client_input(i);
	}
}

/* ---- start ------------------------------------------------------------ */

static int setup_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (M.p.foreground)
		sigaddset(&set, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return fail("monitor", "sigprocmask", NULL, errno);
	M.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (M.sigfd < 0)
		return fail("monitor", "signalfd", NULL, errno);
	return 0;
}

static int setup_ptys(void)
{
	M.npty = M.p.nttys + 1;
	if (M.npty > 64)
		return fail("pty", "alloc", NULL, E2BIG);
	M.ptys = xcalloc((size_t)M.npty, sizeof(*M.ptys));
	for (int i = 0; i < M.npty; i++) {
		M.ptys[i].master = M.ptys[i].slave = -1;
		M.holder[i] = -1;
		M.ptys[i].target = i ? M.p.ttys[i - 1] : M.p.console;
		if (M.ptys[i].target && pty_alloc(&M.ptys[i]) < 0)
			return -1;
		/* The container's root must be able to open its terminals (as LXC). */
		if (M.ptys[i].target && M.p.nidmap) {
			unsigned int uid, gid;
			if (idmap_host_root(&M.p, 'u', &uid) == 0 && idmap_host_root(&M.p, 'g', &gid) == 0 &&
			    fchown(M.ptys[i].slave, uid, gid) < 0)
				return fail("pty", "chown", M.ptys[i].pts, errno);
		}
	}
	if (M.p.foreground && M.p.console && isatty(0)) {
		tty_copy_winsize(0, M.ptys[0].master);
		if (tty_make_raw(0, &M.saved) == 0)
			M.raw = true;
	}
	M.fg_stdin = M.p.foreground && M.p.console;
	if (M.p.console_path && open_console_path() < 0)
		return -1;
	if (M.p.console_buffer > 0 && ringbuf_init(&M.ring, (size_t)M.p.console_buffer) < 0)
		return fail("pty", "malloc", "console-buffer", errno);
	if (M.p.console_log) {
		struct stat st;
		M.log_fd = open(M.p.console_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (M.log_fd < 0)
			return fail("pty", "open", M.p.console_log, errno);
		if (fstat(M.log_fd, &st) == 0)
			M.log_size = st.st_size;
	}
	return 0;
}

static int setup_socket(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int rc;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", M.p.runtime) >=
	    sizeof(sa.sun_path))
		return fail("socket", "bind", M.p.runtime, ENAMETOOLONG);
	M.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (M.lfd < 0)
		return fail("socket", "socket", NULL, errno);
	unlink(sa.sun_path);
	/* umask, not chmod after bind, so the socket is never reachable wider. */
	old = umask(0177);
	rc = bind(M.lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0)
		return fail("socket", "bind", sa.sun_path, errno);
	if (listen(M.lfd, 16) < 0)
		return fail("socket", "listen", sa.sun_path, errno);
	return 0;
}

static int write_monitor_file(void)
{
	unsigned long long st;
	char path[4200], data[64];

	if (read_starttime(getpid(), &st) < 0)
		return -1;
	rt_path(path, sizeof(path), "monitor");
	snprintf(data, sizeof(data), "%d %llu\n", (int)getpid(), st);
	return write_file_atomic(path, data);
}

static void run_child(void *c)
{
	child_main(c);
}

static void close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* The v1 cgroups' `tasks` files, write-only, for the child to enter them by
 * (cgroup1_by_child); a failure is the placement's: `error cgroup open PATH`. */
static int open_tasks(int *fds)
{
	char path[4200];

	for (int i = 0; i < M.p.ncgroup1; i++) {
		snprintf(path, sizeof(path), "%s/tasks", M.p.cgroup1[i]);
		fds[i] = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fds[i] < 0) {
			int e = errno;

			close_fds(fds, i);
			return fail("cgroup", "open", path, e);
		}
	}
	return 0;
}

static int clone_child(int sync_child)
{
	struct clone_args ca = {0};
	int cgfd = -1, cg1[PLAN_MAX_CGROUPS];
	long pid;

	if (M.p.cgroup2) {
		cgfd = open(M.p.cgroup2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cgfd < 0)
			return fail("cgroup", "open", M.p.cgroup2, errno);
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cgfd;
	}
	ca.flags |= (uint64_t)M.p.clone_flags | CLONE_PIDFD;
	ca.pidfd = (uint64_t)(uintptr_t)&M.init_pidfd;
	ca.exit_signal = SIGCHLD;
	if (M.p.opts.nshare) {
		/* lxc.namespace.share.*: joined by an intermediate (nsopts.c). */
		struct child_ctx c = {.p = &M.p, .sync_fd = sync_child, .ptys = M.ptys, .npty = M.npty};
		pid = nsopts_open_shared(&M.p.opts) < 0 ? -1 :
			nsopts_clone_shared(&M.p.opts, &ca, run_child, &c, &M.cgroup2_late);
		if (cgfd >= 0)
			close(cgfd);
		if (pid < 0)
			return -1;
		M.init = (pid_t)pid;
		M.started = true;
		return 0;
	}
	if (cgroup1_by_child(&M.p) && open_tasks(cg1) < 0) {
		if (cgfd >= 0)
			close(cgfd);
		return -1;
	}
	/* No stack: clone3 then behaves like fork(2), returning twice. */
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		struct child_ctx c = {.p = &M.p, .sync_fd = sync_child, .ptys = M.ptys, .npty = M.npty,
				      .cg1_fds = cg1, .ncg1_fds = cgroup1_by_child(&M.p) ? M.p.ncgroup1 : 0};
		child_main(&c);
	}
	if (cgfd >= 0)
		close(cgfd);
	if (cgroup1_by_child(&M.p))
		close_fds(cg1, M.p.ncgroup1);
	if (pid < 0)
		return fail("clone", "clone3", NULL, errno);
	M.init = (pid_t)pid;
	M.started = true;
	return 0;
}

static int place_cgroup1(void)
{
	char path[4200], pid[24];

	snprintf(pid, sizeof(pid), "%d", (int)M.init);
	if (M.cgroup2_late) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", M.p.cgroup2);
		if (write_file(path, pid, "cgroup") < 0)
			return -1;
	}
	for (int i = 0; i < M.p.ncgroup1 && !cgroup1_by_child(&M.p); i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", M.p.cgroup1[i]);
		if (write_file(path, pid, "cgroup") < 0)
			return -1;
	}
	return 0;
}

/* Runs one hook and waits for it: fields "{pid}" and "{monitor}" become
 * the child's and the monitor's pid. Returns the wait status, or -1 with
 * the error recorded. */
static int run_hook(char **h, int *status)
{
	char pid[24], mon[24];
	char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
	char *argv[65];
	int n = 0;
	sigset_t none;
	pid_t c;

	snprintf(pid, sizeof(pid), "%d", (int)M.init);
	snprintf(mon, sizeof(mon), "%d", (int)getpid());
	for (; h[n] && n < 64; n++)
		argv[n] = !strcmp(h[n], "{pid}") ? pid : !strcmp(h[n], "{monitor}") ? mon : h[n];
	argv[n] = NULL;
	sigemptyset(&none);
	c = fork();
	if (c < 0)
		return fail("hook", "fork", h[0], errno);
	if (c == 0) {
		int fd = open("/dev/null", O_RDWR);

		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execve(argv[0], argv, envp);
		_exit(127);
	}
	while (waitpid(c, status, 0) < 0)
		if (errno != EINTR)
			return fail("hook", "waitpid", h[0], errno);
	return 0;
}

/* The program a hook runs: ARGV0, or for an env(1) wrapper (env [-i]
 * [NAME=VALUE]... PROGRAM) the program env runs, so errors name the script. */
static const char *hook_program(char **h)
{
	const char *base = strrchr(h[0], '/');

	if (strcmp(base ? base + 1 : h[0], "env") != 0)
		return h[0];
	for (int i = 1; h[i]; i++)
		if (h[i][0] != '-' && !strchr(h[i], '='))
			return h[i];
	return h[0];
}

/* Runs the plan's host-hook commands in order while the child waits. A hook
 * that does not exit 0 fails the start as "error hook exit:N ARGV0 0" (or
 * signal:N). */
static int run_hooks(void)
{
	static char op[32];

	for (int i = 0; i < M.p.nhooks; i++) {
		char **h = M.p.hooks[i];
		int st;

		if (run_hook(h, &st) < 0)
			return -1;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		if (WIFSIGNALED(st))
			snprintf(op, sizeof(op), "signal:%d", WTERMSIG(st));
		else
			snprintf(op, sizeof(op), "exit:%d", WEXITSTATUS(st));
		return fail("hook", op, hook_program(h), 0);
	}
	return 0;
}

/* Runs the plan's stop-hook commands in order once the child is gone (also
 * after a failed start): each is best effort, as they undo what host-hooks
 * may only partly have done. */
static void run_stop_hooks(void)
{
	for (int i = 0; i < M.p.nstop_hooks; i++) {
		int st;

		(void)run_hook(M.p.stop_hooks[i], &st);
	}
}

/* Runs the plan's exit-hook commands in order, the monitor's last step once
 * the init has ended and everything is cleaned up (lxt destroys an
 * ephemeral container with one); best effort. */
static void run_exit_hooks(void)
{
	for (int i = 0; i < M.p.nexit_hooks; i++) {
		int st;

		(void)run_hook(M.p.exit_hooks[i], &st);
	}
}

#define PF_EXITING 0x4       /* include/linux/sched.h */
#define PF_FORKNOEXEC 0x40

/*
 * End of file on the sync socket: every copy of the child's end is closed,
 * by its exec (O_CLOEXEC) or by its death (a signal, the OOM killer), and a
 * dying task closes its files before it becomes a zombie (do_exit:
 * exit_files before exit_notify). /proc/PID/stat tells which: an exec
 * clears PF_FORKNOEXEC before it closes O_CLOEXEC fds, a dying task has
 * PF_EXITING set before it closes anything. The init shim never execs
 * (its command does): there, only a dying pid 1 counts. How a child that
 * never got to its exec ended is read through its pidfd, without reaping
 * it (the failure path does), and reported as `error exec signal:N ARGV0 0`
 * (or exit:N).
 */
static int check_exec(void)
{
	static char op[32];
	unsigned int flags;
	siginfo_t si;

	if (read_stat(M.init, &flags, &M.init_start) < 0)
		return -1;
	if (M.p.init_shim ? !(flags & PF_EXITING) : !(flags & PF_FORKNOEXEC))
		return 0;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PIDFD, (id_t)M.init_pidfd, &si, WEXITED | WNOWAIT) < 0)
		if (errno != EINTR)
			return fail("monitor", "waitid", NULL, errno);
	if (si.si_code == CLD_EXITED) {
		if (M.p.init_shim)
			return 0; /* its command ran and ended: the loop reaps it */
		snprintf(op, sizeof(op), "exit:%d", si.si_status);
	} else {
		snprintf(op, sizeof(op), "signal:%d", si.si_status);
	}
	return fail("exec", op, M.p.argv[0], 0);
}

/*
 * lxc.hook.start-host: the child says it is set up ("h"), the hooks run on
 * the host with LXC_PID, then 'h' lets it go on to its start hooks and the
 * init. A child's error line instead is returned in line; at EOF (the child
 * died) the caller's read finds out how.
 */
static int start_host(int fd, char *line, size_t cap)
{
	ssize_t n = recv_msg(fd, line, cap - 1, 0);

	if (n < 0)
		return fail("monitor", "sync", NULL, errno);
	if (n == 0)
		return 0;
	line[n] = '\0';
	if (n != 1 || line[0] != 'h')
		return -1;
	line[0] = '\0';
	hooks_keep_ns(&M.p, M.init, true);
	if (hooks_run(&M.p, HOOK_START_HOST, M.init) < 0)
		return -1;
	if (send(fd, "h", 1, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		return fail("monitor", "sync", NULL, errno);
	return 0;
}

/* Returns 0 once the init exec'd, -1 with the child's error line in line. */
static int start_container(char *line, size_t cap)
{
	int sv[2], fds[SYNC_FDS_MAX], nfds = 0;
	struct child_go go = {.byte = 'g'};
	ssize_t n;

	/* lxc.hook.pre-start: on the host, before the container exists (LXC
	 * runs it before its terminal and the clone too). */
	if (write_monitor_file() < 0 || hooks_run(&M.p, HOOK_PRE_START, 0) < 0 ||
	    setup_ptys() < 0 || setup_socket() < 0 || setup_signals() < 0)
		return -1;
	if (M.p.opts.proxy && notify_connect(M.p.opts.proxy, M.p.opts.cookie) < 0)
		return -1;
	/* A checkpoint restored by CRIU stands in for the clone (restore.c). */
	if (M.p.restore_argv) {
		if (restore_init(&M.p, M.ptys, M.npty, &M.init, &M.init_pidfd, &M.init_start) < 0 ||
		    net_adopt(&M.p, M.init) < 0)
			return -1;
		M.started = true;
		return write_state();
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return fail("monitor", "socketpair", NULL, errno);
	if (clone_child(sv[1]) < 0)
		return -1;
	close(sv[1]);
	hooks_keep_ns(&M.p, M.init, false);
	/* The maps first: everything after runs with the child's ids in place. */
	if (M.p.nidmap && !M.p.opts.share_user && idmap_write_maps(M.init, &M.p) < 0)
		return -1;
	nfds = idmap_make_mounts(M.init, &M.p, fds, &go.skipped);
	if (nfds < 0)
		return -1;
	/* A block-device rootfs: its mount follows the idmapped ones' fds. */
	if (M.p.block) {
		if (block_make_mount(M.init, &M.p, &fds[nfds]) < 0)
			goto close_fds;
		nfds++;
	}
	if (nsopts_after_clone(&M.p.opts, M.init) < 0)
		goto close_fds;
	if (send_data_fds(sv[0], &go, sizeof(go), fds, nfds) < 0) {
		fail("monitor", "sync", NULL, errno ? errno : EPIPE);
		goto close_fds;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	/* The v1 cgroups (unless the child enters them itself), the NICs and
	 * script.up while the child prepares its rootfs; it waits for 'n'
	 * before anything that may need them and before its exec (child.c,
	 * wait_net). A write to cgroup.procs moves a task, and the first move
	 * after a quiet spell waits for an RCU grace period (10 ms and more):
	 * the child's mounts run meanwhile. */
	if ((M.p.ncgroup1 > 0 && !cgroup1_by_child(&M.p)) || M.cgroup2_late || M.p.nnets > 0 ||
	    M.p.nhooks > 0) {
		if (place_cgroup1() < 0 || net_run(&M.p, M.init) < 0 || run_hooks() < 0) {
			/* A child that failed first (its namespace gone with it) says why. */
			n = recv_msg(sv[0], line, cap - 1, MSG_DONTWAIT);
			line[n > 0 ? n : 0] = '\0';
			close(sv[0]);
			return -1;
		}
		/* EPIPE: the child is gone; its error line is read below. */
		if (send(sv[0], "n", 1, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET) {
			fail("monitor", "sync", NULL, errno);
			close(sv[0]);
			return -1;
		}
	}
	if (hooks_any(&M.p, HOOK_START_HOST) && start_host(sv[0], line, cap) < 0) {
		close(sv[0]);
		return -1;
	}
	/* A child that failed wrote its error line before it exited, maybe
	 * with our 'n' unread: recv_msg reads the line past that reset. */
	n = notify_recv_sync(sv[0], line, cap - 1, &M.notify_fd);
	close(sv[0]);
	if (n > 0) {
		line[n] = '\0';
		return -1;
	}
	if (n < 0)
		return fail("monitor", "sync", NULL, errno);
	line[0] = '\0';
	if (check_exec() < 0)
		return -1;
	hooks_keep_ns(&M.p, M.init, true);
	return write_state();
close_fds:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return -1;
}

/* lxc.cgroup.dir.monitor.pivot: leave the monitor's own cgroups for the
 * pivot ones, then remove them (nothing else is in them). Best effort: a
 * cgroup left behind is removed by the next stop of the container. */
static void pivot_out(void)
{
	char path[4200];

	if (M.p.nmonitor_pivot == 0)
		return;
	for (int i = 0; i < M.p.nmonitor_pivot; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", M.p.monitor_pivot[i]);
		if (write_file(path, "0", "monitor") < 0)
			return;
	}
	for (int i = 0; i < M.p.nmonitor_cgroup; i++)
		(void)rmdir(M.p.monitor_cgroup[i]);
}

static void finish(void)
{
	char text[64];

	for (int i = 0; i < M.npty; i++)
		if (M.ptys[i].master >= 0)
			pty_drain(i);
	cleanup_cgroups();
	pivot_out();
	/* lxc.hook.stop, with the namespaces kept since the clone; failures are
	 * logged, never fatal (LXC's lxc_end). */
	if (M.started)
		hooks_run_logged(&M.p, HOOK_STOP, M.init);
	if (M.started)
		run_stop_hooks();
	/* After script.down (as LXC), before anyone hears the container is gone. */
	net_undo();
	hooks_drop_ns();
	if (M.started && M.ended && M.p.exit_file) {
		end_text(text, sizeof(text));
		if (write_file_atomic(M.p.exit_file, text) < 0)
			send_error(2);
	}
	/* lxc.hook.post-stop: the container is gone, its exit recorded. */
	if (M.started)
		hooks_run_logged(&M.p, HOOK_POST_STOP, M.init);
	cleanup_runtime();
	if (M.ended) {
		end_text(text, sizeof(text));
		for (int i = M.ncl - 1; i >= 0; i--)
			if (M.cl[i].kind == CL_WAIT)
				(void)!write_all(M.cl[i].fd, text, strlen(text));
	}
	while (M.ncl)
		client_close(M.ncl - 1);
	if (M.raw)
		tcsetattr(0, TCSAFLUSH, &M.saved);
	if (M.dev_raw)
		tcsetattr(M.dev_fd, TCSANOW, &M.dev_saved);
}

int monitor_main(const char *planfile, char **argv)
{
	char line[2048] = "", title[300];

	M.status_fd = fcntl(3, F_SETFD, FD_CLOEXEC) == 0 ? 3 : -1;
	M.sigfd = M.lfd = M.log_fd = M.init_pidfd = M.notify_fd = M.dev_fd = -1;
	M.kill_at = -1;
	signal(SIGPIPE, SIG_IGN);
	if (plan_load(planfile, &M.p) < 0) {
		format_error(line, sizeof(line));
		status_line(line);
		return 1;
	}
	/* Its own cgroups first (a systemd scope's monitor leaf): nothing of the
	 * container exists yet, so a failure leaves nothing to undo. */
	for (int i = 0; i < M.p.nmonitor_cgroup; i++) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/cgroup.procs", M.p.monitor_cgroup[i]);
		if (write_file(path, "0", "monitor") < 0) {
			format_error(line, sizeof(line));
			status_line(line);
			return 1;
		}
	}
	if (nsopts_monitor_early(&M.p.opts) < 0) {
		format_error(line, sizeof(line));
		status_line(line);
		return 1;
	}
	/* A privileged pid 1 that stays the helper runs from a sealed copy; in a
	 * user namespace it is out of reach anyway (not dumpable, host-owned mm).
	 * fd 3 (the status channel) is handed to the copy. */
	if (M.p.init_shim && !M.p.nidmap && !running_sealed()) {
		if (M.status_fd >= 0)
			fcntl(3, F_SETFD, 0);
		reexec_sealed(argv);
		format_error(line, sizeof(line));
		status_line(line);
		return 1;
	}
	snprintf(title, sizeof(title), "[lxt monitor] %.256s", M.p.name);
	set_title("lxt monitor", title);

	if (start_container(line, sizeof(line)) < 0) {
		if (!line[0])
			format_error(line, sizeof(line));
		if (M.started) {
			int st;
			kill(M.init, SIGKILL);
			while (waitpid(M.init, &st, 0) < 0 && errno == EINTR)
				;
		}
		M.ended = false;
		finish();
		status_line(line);
		return 1;
	}
	if (M.status_fd >= 0) {
		snprintf(line, sizeof(line), "running %d %llu\n", (int)M.init, M.init_start);
		status_line(line);
		close(M.status_fd);
		M.status_fd = -1;
	}
	loop();
	finish();
	run_exit_hooks();
	if (!M.p.foreground)
		return 0;
	return WIFSIGNALED(M.wstatus) ? 128 + WTERMSIG(M.wstatus) : WEXITSTATUS(M.wstatus);
}
