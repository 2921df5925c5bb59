/*
 * `lxt-shim attach`: run a command inside a running container. The helper
 * joins the namespaces and cgroups, forks, and the fork execs the command
 * directly, so no helper image is left executing inside the container.
 */
#include "confine.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct attach_opts {
	pid_t pid;
	unsigned long long start;
	bool have_start;
	const char *ns;
	char **cgroups;
	int ncgroups;
	bool has_uid, has_gid;
	unsigned int uid, gid;
	const char *cwd;
	char **env;
	int nenv;
	bool pty;
	bool home_cwd; /* --home: cwd is HOME, and / when it cannot be entered */
	int control; /* --control-fd, or -1 */
	unsigned short cols, rows; /* --winsize */
	char **argv;
	struct plan conf_plan; /* --confinement: its caps, no-new-privs, seccomp */
};

static const struct {
	const char *name;
	int flag;
} ns_names[] = {
	{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID},
	{"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
	{"cgroup", CLONE_NEWCGROUP},
};

#define NS_COUNT (sizeof(ns_names) / sizeof(ns_names[0]))

/* "COLSxROWS", each 1..65535. */
static int parse_winsize(const char *s, unsigned short *cols, unsigned short *rows)
{
	char buf[16], *x;
	long long c, r;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (!(x = strchr(buf, 'x')))
		return -1;
	*x = '\0';
	if (parse_ll(buf, 1, 65535, &c) < 0 || parse_ll(x + 1, 1, 65535, &r) < 0)
		return -1;
	*cols = (unsigned short)c;
	*rows = (unsigned short)r;
	return 0;
}

int attach_control_parse(char *line, struct attach_ctl *out)
{
	char *items[4];
	long long a, b;
	int n = split_list(line, ' ', items, 4);

	if (n == 1 && !strcmp(items[0], "kill")) {
		out->kind = CTL_KILL;
		return 0;
	}
	if (n == 2 && !strcmp(items[0], "signal") && parse_ll(items[1], 1, 64, &a) == 0) {
		out->kind = CTL_SIGNAL;
		out->a = (int)a;
		return 0;
	}
	if (n == 3 && !strcmp(items[0], "winsize") && parse_ll(items[1], 1, 65535, &a) == 0 &&
	    parse_ll(items[2], 1, 65535, &b) == 0) {
		out->kind = CTL_WINSIZE;
		out->a = (int)a;
		out->b = (int)b;
		return 0;
	}
	return -1;
}

static int parse_args(int argc, char **argv, struct attach_opts *o)
{
	long long v;
	int i;

	o->env = xcalloc((size_t)argc + 1, sizeof(char *));
	o->cgroups = xcalloc((size_t)argc + 1, sizeof(char *));
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "--pty") || !strcmp(a, "--no-pty")) {
			o->pty = a[2] == 'p';
			takes = false;
		} else if (!val) {
			return fail("attach", "usage", a, EINVAL);
		} else if (!strcmp(a, "--pid")) {
			if (parse_ll(val, 1, 0x7fffffff, &v) < 0)
				return fail("attach", "usage", a, EINVAL);
			o->pid = (pid_t)v;
		} else if (!strcmp(a, "--pid-start")) {
			if (parse_ull(val, 10, &o->start) < 0)
				return fail("attach", "usage", a, EINVAL);
			o->have_start = true;
		} else if (!strcmp(a, "--ns")) {
			o->ns = val;
		} else if (!strcmp(a, "--cgroup")) {
			o->cgroups[o->ncgroups++] = argv[i + 1];
		} else if (!strcmp(a, "--uid") || !strcmp(a, "--gid")) {
			if (parse_ll(val, 0, 0xfffffffe, &v) < 0)
				return fail("attach", "usage", a, EINVAL);
			if (a[2] == 'u') {
				o->has_uid = true;
				o->uid = (unsigned int)v;
			} else {
				o->has_gid = true;
				o->gid = (unsigned int)v;
			}
		} else if (!strcmp(a, "--cwd") || !strcmp(a, "--home")) {
			o->cwd = val;
			o->home_cwd = a[2] == 'h';
		} else if (!strcmp(a, "--control-fd")) {
			if (parse_ll(val, 3, 1023, &v) < 0 || fcntl((int)v, F_GETFD) < 0)
				return fail("attach", "usage", a, EINVAL);
			o->control = (int)v;
			/* Ours alone: the command must not inherit it. */
			fcntl(o->control, F_SETFD, FD_CLOEXEC);
		} else if (!strcmp(a, "--winsize")) {
			if (parse_winsize(val, &o->cols, &o->rows) < 0)
				return fail("attach", "usage", a, EINVAL);
		} else if (!strcmp(a, "--confinement")) {
			if (plan_load(val, &o->conf_plan) < 0)
				return -1;
		} else if (!strcmp(a, "--env")) {
			if (!strchr(val, '=') || val[0] == '=')
				return fail("attach", "usage", a, EINVAL);
			o->env[o->nenv++] = argv[i + 1];
		} else {
			return fail("attach", "usage", a, EINVAL);
		}
		if (takes)
			i++;
	}
	if (i > argc || i == argc || !o->pid || !o->have_start)
		return fail("attach", "usage", NULL, EINVAL);
	o->argv = argv + i;
	return 0;
}

static bool same_ns(pid_t pid, const char *name)
{
	char a[64], b[64];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, name);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", name);
	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Namespaces to join: the listed ones (or all), minus those we share, since
 * re-entering our own user namespace is EINVAL (setns(2)). */
static int ns_flags(const struct attach_opts *o, int *out)
{
	char list[256], *items[2 * NS_COUNT];
	int n;

	*out = 0;
	if (!o->ns) {
		for (size_t i = 0; i < NS_COUNT; i++)
			if (!same_ns(o->pid, ns_names[i].name))
				*out |= ns_names[i].flag;
		*out |= nsopts_attach_time(o->pid);
		return 0;
	}
	if (strlen(o->ns) >= sizeof(list))
		return fail("attach", "usage", "--ns", EINVAL);
	strcpy(list, o->ns);
	if ((n = split_list(list, ',', items, 2 * NS_COUNT)) < 0)
		return fail("attach", "usage", "--ns", EINVAL);
	for (int k = 0; k < n; k++) {
		const char *t = items[k];
		size_t i;
		for (i = 0; i < NS_COUNT; i++)
			if (!strcmp(t, ns_names[i].name))
				break;
		if (i == NS_COUNT)
			return fail("attach", "usage", t, EINVAL);
		if (!same_ns(o->pid, t))
			*out |= ns_names[i].flag;
	}
	return 0;
}

static int join(struct attach_opts *o, int pidfd)
{
	char path[4200], pid[24];
	int flags;

	if (ns_flags(o, &flags) < 0)
		return -1;
	/* cgroup paths are host paths: write them before leaving the host's
	 * mount namespace. */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (int i = 0; i < o->ncgroups; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", o->cgroups[i]);
		if (write_file(path, pid, "attach") < 0)
			return -1;
	}
	if (flags && setns(pidfd, flags) < 0)
		return fail("attach", "setns", NULL, errno);
	/* Our host uid 0 means nothing in the container's user namespace: be
	 * its root unless told otherwise (as lxc-attach). */
	if (flags & CLONE_NEWUSER) {
		if (!o->has_uid)
			o->has_uid = true, o->uid = 0;
		if (!o->has_gid)
			o->has_gid = true, o->gid = 0;
	}
	return 0;
}

static int open_pty(int *master, int *slave)
{
	int unlock = 0;

	/* The container's devpts instance, so the pty is owned by it. */
	*master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		*master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		return fail("attach", "open", "/dev/pts/ptmx", errno);
	if (ioctl(*master, TIOCSPTLCK, &unlock) < 0)
		return fail("attach", "unlockpt", NULL, errno);
	/* TIOCGPTPEER opens the peer without a path lookup (ioctl_tty(2)). */
	*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		return fail("attach", "TIOCGPTPEER", NULL, errno);
	return 0;
}

static _Noreturn void run_child(const struct attach_opts *o, int slave, const int *pipes,
				int errfd, const sigset_t *mask)
{
	sigprocmask(SIG_SETMASK, mask, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Nothing the caller left open (a daemon's, a shell's) reaches the
	 * container: fds 0-2 only. Ours are close-on-exec already and stay
	 * usable until the exec. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (slave >= 0) {
		setsid();
		if (ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 ||
		    dup2(slave, 2) < 0) {
			fail("attach", "tty", NULL, errno);
			goto err;
		}
	} else if (o->control >= 0) {
		/* Its own process group, so `kill` reaches what it forks too. */
		setpgid(0, 0);
		for (int i = 0; i < 3; i++)
			if (dup2(pipes[i], i) < 0) {
				fail("attach", "dup2", NULL, errno);
				goto err;
			}
	}
	/* As the init: bounding set while we still have CAP_SETPCAP, the rest
	 * after the ids and cwd, the filter last. */
	if (confine_bounding(&o->conf_plan.conf) < 0 ||
	    nsopts_attach_personality(&o->conf_plan.opts) < 0)
		goto err;
	if (o->has_gid && (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0)) {
		fail("ids", "setresgid", NULL, errno);
		goto err;
	}
	if (o->has_uid && o->uid != 0)
		confine_keep_caps(&o->conf_plan.conf);
	if (o->has_uid && setresuid(o->uid, o->uid, o->uid) < 0) {
		fail("ids", "setresuid", NULL, errno);
		goto err;
	}
	if (o->home_cwd && chdir(o->cwd) < 0) {
		/* As lxc-attach with a HOME that cannot be entered: start in /. */
		(void)!chdir("/");
	} else if (!o->home_cwd && chdir(o->cwd ? o->cwd : "/") < 0) {
		fail("cwd", "chdir", o->cwd ? o->cwd : "/", errno);
		goto err;
	}
	if (confine_finish(&o->conf_plan.conf, false, AA_ON_EXEC) < 0)
		goto err;
	exec_search(o->argv, o->env);
err:
	send_error(errfd);
	_exit(!strcmp(lxt_err.stage, "exec") && lxt_err.err == ENOENT ? 127 : 126);
}

static int exit_code(int st)
{
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void relay_out(int master)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(master, buf, sizeof(buf))) > 0)
		(void)!write_all(1, buf, (size_t)n);
}

/* The command's stdin, stdout and stderr pipes, for a daemon without a pty. */
#define RELAYS 3

/* Whether the command's output relays (all but stdin's) have ended. */
static bool outputs_done(const struct relay *rl, int nrl)
{
	for (int i = 1; i < nrl; i++)
		if (!rl[i].done)
			return false;
	return true;
}

/* SIGKILL for the command and its process group (its own: see run_child). */
static void kill_command(pid_t child)
{
	kill(-child, SIGKILL);
	kill(child, SIGKILL);
}

/* Reads what the control fd has and applies each whole record; a record
 * that does not parse is ignored (the peer is the daemon, one version with
 * us). `child` is 0 once reaped: its pid may then be another process's, so
 * nothing is signalled by it any more. Returns -1 at the channel's end
 * (the daemon is gone or let go of the command), 1 for `kill`: either way
 * the command is killed, or, reaped, its relays given up. */
static int read_control(int fd, char *buf, size_t *len, size_t cap, pid_t child, int master)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);
	char *nl;
	int ret = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		if (child)
			kill_command(child);
		return -1;
	}
	*len += (size_t)n;
	buf[*len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		struct attach_ctl c;

		*nl = '\0';
		if (attach_control_parse(buf, &c) == 0) {
			if (c.kind == CTL_KILL) {
				if (child)
					kill_command(child);
				ret = 1;
			} else if (c.kind == CTL_SIGNAL) {
				if (child)
					kill(child, c.a);
			} else if (master >= 0) {
				tty_set_winsize(master, (unsigned short)c.a, (unsigned short)c.b);
			}
		}
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
	}
	/* A line longer than the buffer is garbage: drop it. */
	if (*len == cap - 1)
		*len = 0;
	return ret;
}

/* Forward signals, relay the pty (or the pipes: rl, nrl), apply control
 * records, and return the command's wait status once it has ended and its
 * output has (whoever else held it). */
static int supervise(pid_t child, int master, int sigfd, int control, struct relay *rl, int nrl)
{
	struct termios saved;
	bool raw = false, in_open = master >= 0, reaped = false;
	int status = 0;
	char ctl[256];
	size_t ctl_len = 0;

	if (master >= 0 && isatty(0)) {
		tty_copy_winsize(0, master);
		raw = tty_make_raw(0, &saved) == 0;
	}
	if (master >= 0)
		fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	while (!reaped || !outputs_done(rl, nrl)) {
		struct pollfd pfd[4 + 2 * RELAYS] = {
			{.fd = reaped ? -1 : sigfd, .events = POLLIN},
			{.fd = master, .events = POLLIN},
			{.fd = in_open ? 0 : -1, .events = POLLIN},
			{.fd = control, .events = POLLIN},
		};
		struct signalfd_siginfo si;

		for (int i = 0; i < nrl; i++)
			relay_poll(&rl[i], &pfd[4 + 2 * i], &pfd[5 + 2 * i]);
		if (poll(pfd, 4 + 2 * (nfds_t)nrl, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < nrl; i++)
			relay_step(&rl[i]);
		if (pfd[3].revents) {
			int r = read_control(control, ctl, &ctl_len, sizeof(ctl), reaped ? 0 : child,
					     master);

			if (r < 0)
				control = -1;
			/* Ended, but something it left holds its output: let go. */
			if (r != 0 && reaped)
				break;
		}
		if (pfd[1].revents)
			relay_out(master);
		if (pfd[2].revents) {
			char buf[4096];
			ssize_t n = read(0, buf, sizeof(buf));
			if (n > 0)
				(void)!write_all(master, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				in_open = false;
		}
		if (pfd[1].revents & (POLLHUP | POLLERR) && !(pfd[1].revents & POLLIN))
			master = -1;
		if (!pfd[0].revents || read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGWINCH) {
			if (master >= 0)
				tty_copy_winsize(0, master);
		} else if (si.ssi_signo != SIGCHLD) {
			kill(child, (int)si.ssi_signo);
		} else if (waitpid(child, &status, WNOHANG) == child) {
			if (master >= 0)
				relay_out(master);
			reaped = true;
		}
	}
	if (raw)
		tcsetattr(0, TCSAFLUSH, &saved);
	return status;
}

int attach_main(int argc, char **argv)
{
	static struct relay rl[RELAYS];
	struct attach_opts o = {.control = -1};
	int pidfd, master = -1, slave = -1, errp[2], sigfd, st, nrl = 0;
	int pipes[RELAYS][2], ends[RELAYS];
	sigset_t set, old;
	char line[2048];
	ssize_t n;
	pid_t child;

	signal(SIGPIPE, SIG_IGN);
	/* Not dumpable (inherited by the fork until its exec): no process of the
	 * container may ptrace us or open our /proc/PID/exe, the helper binary
	 * (CVE-2019-5736). The command is exec'd directly, so once it runs its
	 * /proc/self/exe is its own binary from the container. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fail("attach", "prctl", NULL, errno);
		goto err;
	}
	if (parse_args(argc, argv, &o) < 0 || (pidfd = pidfd_checked(o.pid, o.start, "attach")) < 0 ||
	    confine_open_proc(&o.conf_plan.conf) < 0 || join(&o, pidfd) < 0)
		goto err;
	if (o.pty && open_pty(&master, &slave) < 0)
		goto err;
	if (master >= 0 && o.cols)
		tty_set_winsize(master, o.cols, o.rows);
	if (pipe2(errp, O_CLOEXEC) < 0) {
		fail("attach", "pipe", NULL, errno);
		goto err;
	}
	/* A daemon's stdio are sockets: the command gets pipes (fd i takes end
	 * ends[i]), relayed in supervise. */
	if (o.control >= 0 && !o.pty) {
		/* Made as the command's ids, so it may reopen them (/dev/stdin is a
		 * reopen through /proc, checked against the pipe's owner; host root is
		 * no one in a user namespace). Nothing we open later needs ours. */
		if (o.has_gid)
			setfsgid(o.gid);
		if (o.has_uid)
			setfsuid(o.uid);
		for (int i = 0; i < RELAYS; i++) {
			if (pipe2(pipes[i], O_CLOEXEC) < 0) {
				fail("attach", "pipe", NULL, errno);
				goto err;
			}
			ends[i] = pipes[i][i == 0 ? 0 : 1];
		}
		nrl = RELAYS;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	if (o.pty) {
		/* Without a pty the terminal already signals our whole group. */
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGQUIT);
		sigaddset(&set, SIGWINCH);
	}
	sigprocmask(SIG_BLOCK, &set, &old);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sigfd < 0) {
		fail("attach", "signalfd", NULL, errno);
		goto err;
	}
	/* fork, not clone: the pid namespace from setns applies to children. */
	child = fork();
	if (child < 0) {
		fail("attach", "fork", NULL, errno);
		goto err;
	}
	if (child == 0) {
		close(errp[0]);
		run_child(&o, slave, ends, errp[1], &old);
	}
	close(errp[1]);
	for (int i = 0; i < nrl; i++) {
		close(ends[i]);
		if (i == 0)
			relay_init(&rl[i], 0, pipes[i][1]);
		else
			relay_init(&rl[i], pipes[i][0], i);
	}
	if (slave >= 0)
		close(slave);
	else if (o.control >= 0)
		setpgid(child, child); /* as the child does: whichever runs first */
	n = read(errp[0], line, sizeof(line) - 1);
	close(errp[0]);
	if (n > 0) {
		line[n] = '\0';
		/* A daemon reads the failure on the control fd, apart from the command's stderr. */
		(void)!write_all(o.control >= 0 ? o.control : 2, line, (size_t)n);
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 126;
	}
	return exit_code(supervise(child, master, sigfd, o.control, rl, nrl));
err:
	send_error(o.control >= 0 ? o.control : 2);
	return 126;
}
