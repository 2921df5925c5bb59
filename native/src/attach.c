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
		} else if (!strcmp(a, "--cwd")) {
			o->cwd = val;
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

static _Noreturn void run_child(const struct attach_opts *o, int slave, int errfd,
				const sigset_t *mask)
{
	sigprocmask(SIG_SETMASK, mask, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (slave >= 0) {
		setsid();
		if (ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 ||
		    dup2(slave, 2) < 0) {
			fail("attach", "tty", NULL, errno);
			goto err;
		}
	}
	/* As the init: bounding set while we still have CAP_SETPCAP, the rest
	 * after the ids and cwd, the filter last. */
	if (confine_bounding(&o->conf_plan.conf) < 0)
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
	if (chdir(o->cwd ? o->cwd : "/") < 0) {
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

/* Forward signals, relay the pty, and return the command's wait status. */
static int supervise(pid_t child, int master, int sigfd)
{
	struct termios saved;
	bool raw = false, in_open = master >= 0;
	int status = 0;

	if (master >= 0 && isatty(0)) {
		tty_copy_winsize(0, master);
		raw = tty_make_raw(0, &saved) == 0;
	}
	if (master >= 0)
		fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd pfd[3] = {
			{.fd = sigfd, .events = POLLIN},
			{.fd = master, .events = POLLIN},
			{.fd = in_open ? 0 : -1, .events = POLLIN},
		};
		struct signalfd_siginfo si;

		if (poll(pfd, 3, -1) < 0 && errno != EINTR)
			break;
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
			break;
		}
	}
	if (raw)
		tcsetattr(0, TCSAFLUSH, &saved);
	return status;
}

int attach_main(int argc, char **argv)
{
	struct attach_opts o = {0};
	int pidfd, master = -1, slave = -1, errp[2], sigfd, st;
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
	if (pipe2(errp, O_CLOEXEC) < 0) {
		fail("attach", "pipe", NULL, errno);
		goto err;
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
		run_child(&o, slave, errp[1], &old);
	}
	close(errp[1]);
	if (slave >= 0)
		close(slave);
	n = read(errp[0], line, sizeof(line) - 1);
	close(errp[0]);
	if (n > 0) {
		line[n] = '\0';
		(void)!write_all(2, line, (size_t)n);
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 126;
	}
	return exit_code(supervise(child, master, sigfd));
err:
	send_error(2);
	return 126;
}
