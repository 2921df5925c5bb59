/*
 * The monitor's other way to its init: a checkpoint restored by CRIU
 * instead of a child cloned and set up (docs/checkpoint.md). The plan's
 * `criu-restore PIDFILE ARGV...` record is the whole `criu restore` command
 * line, decided by TypeScript; the monitor only:
 *
 *   - forks, moves the fork into the container's cgroups (the `cgroup2` and
 *     `cgroup1` records, created by TypeScript as for a start), so that the
 *     tree CRIU restores (`--manage-cgroups=ignore`) lands in them;
 *   - hands the fork the ptys' slaves (the console is pty 0): `{tty:K}` in
 *     a field becomes pty K's slave fd (for `--inherit-fd
 *     fd[{tty:K}]:tty[RDEV:DEV]`), `{tty-pts:K}` its host path (for
 *     `--external mnt[KEY]:{tty-pts:K}`, its bind on /dev/console or /dev/ttyK);
 *   - execs criu there. With `--restore-detached --restore-sibling` the
 *     restored root task is criu's sibling, the monitor's own child, so the
 *     monitor reaps it and signals it through a pidfd exactly as a cloned
 *     init, once criu has exited 0 and PIDFILE names it.
 *
 * A criu that fails has killed what it restored; what is left in the
 * cgroups is the monitor's cleanup's, as after a failed start.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"
#include "shim.h"
#include "util.h"

static void join_cgroups(const struct plan *p)
{
	char path[4200];

	if (p->cgroup2) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", p->cgroup2);
		if (write_file(path, "0", "restore") < 0)
			goto out;
	}
	for (int i = 0; i < p->ncgroup1; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", p->cgroup1[i]);
		if (write_file(path, "0", "restore") < 0)
			goto out;
	}
	return;
out:
	send_error(2);
	_exit(125);
}

/* FIELD with every `{tty:K}` replaced by pty K's slave fd and every
 * `{tty-pts:K}` by its host path; NULL when K names no pty. */
static char *substitute(const char *field, const struct pty *ptys, int npty)
{
	size_t cap = strlen(field) + 1, len = 0;
	char *out = xcalloc(cap, 1);

	while (*field) {
		bool path = strncmp(field, "{tty-pts:", 9) == 0;
		if (path || strncmp(field, "{tty:", 5) == 0) {
			char *end;
			long k = strtol(field + (path ? 9 : 5), &end, 10);
			char val[64];
			if (*end != '}' || k < 0 || k >= npty || ptys[k].slave < 0)
				return NULL;
			if (path)
				snprintf(val, sizeof(val), "%s", ptys[k].pts);
			else
				snprintf(val, sizeof(val), "%d", ptys[k].slave);
			cap += strlen(val);
			out = realloc(out, cap);
			if (!out)
				abort();
			memcpy(out + len, val, strlen(val));
			len += strlen(val);
			field = end + 1;
		} else {
			out[len++] = *field++;
		}
	}
	out[len] = '\0';
	return out;
}

static void exec_criu(const struct plan *p, const struct pty *ptys, int npty)
{
	int n = 0;
	char **argv;

	join_cgroups(p);
	while (p->restore_argv[n])
		n++;
	argv = xcalloc((size_t)n + 1, sizeof(*argv));
	for (int i = 0; i < n; i++) {
		argv[i] = substitute(p->restore_argv[i], ptys, npty);
		if (!argv[i]) {
			fail("restore", "tty", p->restore_argv[i], EINVAL);
			send_error(2);
			_exit(125);
		}
	}
	/* The ptys' slaves are the descriptors criu inherits on purpose (--inherit-fd). */
	for (int i = 0; i < npty; i++)
		if (ptys[i].slave >= 0)
			(void)fcntl(ptys[i].slave, F_SETFD, 0);
	execv(argv[0], argv);
	fail("restore", "exec", argv[0], errno);
	send_error(2);
	_exit(127);
}

/* The pid criu wrote, checked to be our child (sibling mode), or -1. */
static pid_t read_pidfile(const char *path)
{
	char buf[32] = "";
	long long pid;
	unsigned long long ppid = 0;
	char stat_path[64], line[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return fail("restore", "open", path, errno);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (parse_ll(buf, 1, 1 << 22, &pid) < 0)
		return fail("restore", "pidfile", path, EINVAL);
	/* Field 4 of /proc/PID/stat, after the comm's closing parenthesis. */
	snprintf(stat_path, sizeof(stat_path), "/proc/%lld/stat", pid);
	fd = open(stat_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("restore", "open", stat_path, errno);
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	line[n > 0 ? n : 0] = '\0';
	{
		char *rp = strrchr(line, ')');
		if (!rp || sscanf(rp + 1, " %*c %llu", &ppid) != 1)
			return fail("restore", "stat", stat_path, EINVAL);
	}
	if (ppid != (unsigned long long)getpid())
		return fail("restore", "not-sibling", stat_path, ECHILD);
	return (pid_t)pid;
}

int restore_init(const struct plan *p, const struct pty *ptys, int npty, pid_t *init, int *pidfd,
		 unsigned long long *start)
{
	static char op[32];
	int st;
	pid_t criu, pid;

	criu = fork();
	if (criu < 0)
		return fail("restore", "fork", NULL, errno);
	if (criu == 0)
		exec_criu(p, ptys, npty);
	while (waitpid(criu, &st, 0) < 0)
		if (errno != EINTR)
			return fail("restore", "waitpid", NULL, errno);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFSIGNALED(st))
			snprintf(op, sizeof(op), "signal:%d", WTERMSIG(st));
		else
			snprintf(op, sizeof(op), "exit:%d", WEXITSTATUS(st));
		return fail("restore", op, p->restore_argv[0], 0);
	}
	pid = read_pidfile(p->restore_pidfile);
	if (pid < 0)
		return -1;
	*pidfd = sys_pidfd_open(pid, 0);
	if (*pidfd < 0)
		return fail("restore", "pidfd_open", NULL, errno);
	*init = pid;
	return read_starttime(pid, start);
}
