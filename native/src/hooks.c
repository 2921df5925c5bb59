/*
 * LXC's container hooks. Mechanism only: which hooks run where, with which
 * arguments and variables, is rendered by TypeScript (container/hooks.ts)
 * into `lxc-hook WHEN ARGV...` and `lxc-hook-env WHEN K=V` records; this
 * file runs them, expands the values only the helper knows (the child's
 * pid, the kept namespaces), and says how each ended.
 */
#include "confine.h"
#include "hooks.h"
#include "plan.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const when_names[HOOK__COUNT] = {
	[HOOK_PRE_START] = "pre-start",
	[HOOK_PRE_MOUNT] = "pre-mount",
	[HOOK_MOUNT] = "mount",
	[HOOK_AUTODEV] = "autodev",
	[HOOK_START_HOST] = "start-host",
	[HOOK_START] = "start",
	[HOOK_STOP] = "stop",
	[HOOK_POST_STOP] = "post-stop",
};

/* LXC's order (namespace.c ns_info), with its variable names. */
static const struct {
	const char *name;
	const char *env;
	int flag;
} ns_kinds[] = {
	{"user", "LXC_USER_NS", CLONE_NEWUSER}, {"mnt", "LXC_MNT_NS", CLONE_NEWNS},
	{"pid", "LXC_PID_NS", CLONE_NEWPID},    {"uts", "LXC_UTS_NS", CLONE_NEWUTS},
	{"ipc", "LXC_IPC_NS", CLONE_NEWIPC},    {"net", "LXC_NET_NS", CLONE_NEWNET},
	{"cgroup", "LXC_CGROUP_NS", 0},
};
#define NS_KINDS ((int)(sizeof(ns_kinds) / sizeof(ns_kinds[0])))

static int ns_fd[7] = {-1, -1, -1, -1, -1, -1, -1};

int hook_when_parse(const char *s)
{
	for (int i = 0; i < HOOK__COUNT; i++)
		if (strcmp(s, when_names[i]) == 0)
			return i;
	return -1;
}

bool hooks_any(const struct plan *p, int when)
{
	return p->nlxc_hooks[when] > 0;
}

static void keep_one(int i, pid_t pid)
{
	char path[64];

	if (ns_fd[i] >= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns_kinds[i].name);
	ns_fd[i] = open(path, O_RDONLY | O_CLOEXEC);
}

void hooks_keep_ns(const struct plan *p, pid_t pid, bool cgroup)
{
	if (!hooks_any(p, HOOK_STOP))
		return;
	for (int i = 0; i < NS_KINDS; i++) {
		bool made = ns_kinds[i].flag ? (p->clone_flags & ns_kinds[i].flag) != 0
					     : cgroup && p->ns_cgroup;
		if (made)
			keep_one(i, pid);
	}
}

void hooks_drop_ns(void)
{
	for (int i = 0; i < NS_KINDS; i++) {
		if (ns_fd[i] >= 0)
			close(ns_fd[i]);
		ns_fd[i] = -1;
	}
}

/* The argv and environment of one run; the expansions live in a heap
 * block freed by the caller (the fork's copy goes with its exec). */
struct run {
	char **argv;
	char **envp;
	char *strings;
};

/* A+SEP+B (or A alone when SEP is 0), copied to *pos (< 96 bytes). */
static char *put(char **pos, const char *a, char sep, const char *b)
{
	char *s = *pos;
	int n = sep ? snprintf(s, 96, "%s%c%s", a, sep, b) : snprintf(s, 96, "%s", a);

	*pos += n + 1;
	return s;
}

static void build(const struct plan *p, int when, char **argv, pid_t pid, struct run *r)
{
	char pidstr[24], self[24], path[64];
	int nargs = 0, nenv = 0;
	char *pos;

	snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while (argv[nargs])
		nargs++;
	/* Each field or record expands to at most NS_KINDS strings of < 96 bytes. */
	r->argv = xcalloc((size_t)nargs * NS_KINDS + 1, sizeof(char *));
	r->envp = xcalloc((size_t)p->nhook_env[when] * NS_KINDS + 1, sizeof(char *));
	r->strings = pos = xcalloc(((size_t)nargs + (size_t)p->nhook_env[when]) * NS_KINDS + 1, 96);
	for (int i = 0, o = 0; i < nargs; i++) {
		if (strcmp(argv[i], "{ns}") == 0) {
			for (int k = 0; k < NS_KINDS; k++) {
				if (ns_fd[k] < 0)
					continue;
				snprintf(path, sizeof(path), "/proc/%s/fd/%d", self, ns_fd[k]);
				r->argv[o++] = put(&pos, ns_kinds[k].name, ':', path);
			}
		} else {
			r->argv[o++] = strcmp(argv[i], "{pid}") == 0 ? put(&pos, pidstr, 0, NULL)
								     : argv[i];
		}
	}
	for (int i = 0; i < p->nhook_env[when]; i++) {
		const char *e = p->hook_env[when][i];
		const char *eq = strchr(e, '=');

		if (strcmp(e, "{ns-env}") == 0) {
			for (int k = 0; k < NS_KINDS; k++) {
				if (ns_fd[k] < 0)
					continue;
				snprintf(path, sizeof(path), "/proc/%s/fd/%d", self, ns_fd[k]);
				r->envp[nenv++] = put(&pos, ns_kinds[k].env, '=', path);
			}
		} else if (eq && strcmp(eq + 1, "{pid}") == 0 && eq - e < 64) {
			char key[64];

			memcpy(key, e, (size_t)(eq - e));
			key[eq - e] = '\0';
			r->envp[nenv++] = put(&pos, key, '=', pidstr);
		} else {
			r->envp[nenv++] = (char *)e;
		}
	}
}

static void free_run(struct run *r)
{
	free(r->argv);
	free(r->envp);
	free(r->strings);
}

int hook_run(const struct plan *p, int when, char **argv, pid_t pid)
{
	static char op[64];
	struct run r;
	sigset_t none;
	int st;
	pid_t c;

	build(p, when, argv, pid, &r);
	sigemptyset(&none);
	c = fork();
	if (c < 0) {
		free_run(&r);
		return fail("hook", "fork", argv[0], errno);
	}
	if (c == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = p->hook_log && when != HOOK_START
				  ? open(p->hook_log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600)
				  : -1;

		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* stdin from /dev/null; stdout and stderr to the hook log, or
		 * (inside the container, the start hook) the init's own. */
		if (in >= 0)
			dup2(in, 0);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		/* Inside the container a start hook is its program: confined as the
		 * init will be (bounding set, capabilities, no_new_privs, seccomp,
		 * the AppArmor profile at its exec), as LXC runs it after its drops. */
		if (when == HOOK_START &&
		    (confine_bounding(&p->conf) < 0 || confine_finish(&p->conf, false, AA_ON_EXEC) < 0))
			_exit(126);
		close_range(3, ~0U, 0);
		execve(r.argv[0], r.argv, r.envp);
		_exit(127);
	}
	free_run(&r);
	while (waitpid(c, &st, 0) < 0)
		if (errno != EINTR)
			return fail("hook", "waitpid", argv[0], errno);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		snprintf(op, sizeof(op), "lxc.hook.%s:signal:%d", when_names[when], WTERMSIG(st));
	else
		snprintf(op, sizeof(op), "lxc.hook.%s:exit:%d", when_names[when], WEXITSTATUS(st));
	/* A hook is `sh -c 'exec CMD "$@"' CMD ...`: name CMD, the user's command. */
	return fail("hook", op, argv[0] && argv[1] && argv[2] && argv[3] ? argv[3] : argv[0], 0);
}

int hooks_run(const struct plan *p, int when, pid_t pid)
{
	for (int i = 0; i < p->nlxc_hooks[when]; i++)
		if (hook_run(p, when, p->lxc_hooks[when][i], pid) < 0)
			return -1;
	return 0;
}

void hooks_run_logged(const struct plan *p, int when, pid_t pid)
{
	char line[2048];

	for (int i = 0; i < p->nlxc_hooks[when]; i++) {
		int fd;

		if (hook_run(p, when, p->lxc_hooks[when][i], pid) == 0 || !p->hook_log)
			continue;
		format_error(line, sizeof(line));
		fd = open(p->hook_log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		dprintf(fd, "lxt-shim: %s: lxc.hook.%s failed: %s", p->name, when_names[when], line);
		close(fd);
	}
}
