/*
 * Process and namespace options (the plan's `opt` records): namespaces
 * joined rather than made, a time namespace with offsets, /proc/PID files
 * of the init, supplementary groups, the session keyring, core scheduling,
 * the parent-death signal, the personality, the monitor's own mount
 * namespace. Mechanism only: TypeScript decided every value.
 */
#include "nsopts.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef PR_SCHED_CORE
#define PR_SCHED_CORE 62
#define PR_SCHED_CORE_CREATE 1
#endif
#define PIDTYPE_TGID 1               /* include/linux/pid.h */
#define KEYCTL_JOIN_SESSION_KEYRING 1 /* linux/keyctl.h */

/* The verbs of an `opt` record and their argument counts (after the verb);
 * src/host/helper-protocol.ts OPT_VERBS must match (a unit test reads this). */
static const struct { const char *name; int args; } verbs[] = {
	{"ns-share", 2}, {"timens", 4}, {"proc", 2}, {"groups", 1}, {"keyring", 1},
	{"sched-core", 1}, {"pdeath", 1}, {"personality", 1}, {"monitor-unshare", 1},
	{"seccomp-proxy", 2},
};

static const struct { const char *name; int flag; } ns_names[] = {
	{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID},
	{"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
	{"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
};

static int parse_timens(struct nsopts *o, char **f)
{
	long long v[4];

	for (int i = 0; i < 4; i++) {
		/* Seconds within what the kernel takes (KTIME_SEC_MAX / 2 is far
		 * beyond any use); nanoseconds below one second. */
		long long lim = i % 2 ? 999999999LL : (1LL << 40);
		if (parse_ll(f[i], -lim, lim, &v[i]) < 0)
			return -1;
	}
	o->timens = true;
	o->boot_s = v[0];
	o->boot_ns = v[1];
	o->mono_s = v[2];
	o->mono_ns = v[3];
	return 0;
}

/* FILE of /proc/PID: one plain name or a path of plain names (no way up). */
static int parse_proc_file(const char *file)
{
	const char *c = file;

	for (;;) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return -1;
		if (!c[len])
			return 0;
		c += len + 1;
	}
}

static int parse_groups(struct nsopts *o, char *list)
{
	char *items[NSOPT_MAX_GROUPS];
	int n = split_list(list, ',', items, NSOPT_MAX_GROUPS);
	long long g;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (parse_ll(items[i], 0, 0xfffffffe, &g) < 0)
			return -1;
		o->groups[i] = (gid_t)g;
	}
	o->ngroups = n;
	return 0;
}

int nsopts_parse(struct nsopts *o, char **f, int n)
{
	const char *v = f[0];
	size_t i;
	long long x;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(v, verbs[i].name))
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]) || n != verbs[i].args + 1)
		return -1;
	if (!strcmp(v, "ns-share")) {
		size_t k;
		for (k = 0; k < sizeof(ns_names) / sizeof(ns_names[0]); k++)
			if (!strcmp(f[1], ns_names[k].name))
				break;
		if (k == sizeof(ns_names) / sizeof(ns_names[0]) || f[2][0] != '/' ||
		    strlen(f[2]) >= PATH_MAX || o->nshare == NSOPT_MAX_SHARE)
			return -1;
		for (int j = 0; j < o->nshare; j++)
			if (o->share[j].flag == ns_names[k].flag)
				return -1;
		o->share[o->nshare].flag = ns_names[k].flag;
		o->share[o->nshare].name = ns_names[k].name;
		o->share[o->nshare].path = f[2];
		o->share[o->nshare++].fd = -1;
		return 0;
	}
	if (!strcmp(v, "timens"))
		return o->timens ? -1 : parse_timens(o, f + 1);
	if (!strcmp(v, "proc")) {
		if (o->nproc == NSOPT_MAX_PROC || parse_proc_file(f[1]) < 0)
			return -1;
		o->proc[o->nproc].file = f[1];
		o->proc[o->nproc++].value = f[2];
		return 0;
	}
	if (!strcmp(v, "groups"))
		return o->ngroups ? -1 : parse_groups(o, f[1]);
	if (!strcmp(v, "keyring")) {
		if (strcmp(f[1], "new"))
			return -1;
		o->keyring = true;
		return 0;
	}
	if (!strcmp(v, "sched-core")) {
		if (strcmp(f[1], "create"))
			return -1;
		o->sched_core = true;
		return 0;
	}
	if (!strcmp(v, "monitor-unshare")) {
		if (strcmp(f[1], "mnt"))
			return -1;
		o->monitor_unshare = true;
		return 0;
	}
	if (!strcmp(v, "seccomp-proxy")) {
		/* A socket path, or @NAME for an abstract one (sun_path's 108 bytes). */
		if (o->proxy || (f[1][0] != '/' && f[1][0] != '@') || !f[1][1] || strlen(f[1]) >= 108)
			return -1;
		o->proxy = f[1];
		o->cookie = f[2];
		return 0;
	}
	if (!strcmp(v, "pdeath")) {
		if (o->pdeath || parse_ll(f[1], 1, 64, &x) < 0)
			return -1;
		o->pdeath = (int)x;
		return 0;
	}
	/* personality: a persona number (personality(2)), PER_LINUX32 for lxc.arch = i686. */
	if (o->personality > 0 || parse_ll(f[1], 0, 0xffff, &x) < 0)
		return -1;
	o->personality = x;
	return 0;
}

int nsopts_check(struct nsopts *o, int clone_flags, bool ns_cgroup)
{
	for (int i = 0; i < o->nshare; i++) {
		int flag = o->share[i].flag;
		if ((clone_flags & flag) || (flag == CLONE_NEWCGROUP && ns_cgroup) ||
		    (flag == CLONE_NEWTIME && o->timens))
			return -1;
		if (flag == CLONE_NEWUSER)
			o->share_user = true;
	}
	return 0;
}

int nsopts_monitor_early(const struct nsopts *o)
{
	if (!o->monitor_unshare)
		return 0;
	if (unshare(CLONE_NEWNS) < 0)
		return fail("namespace", "unshare", "mnt", errno);
	/* Slave: the host's mounts still reach the monitor, its own never the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return fail("namespace", "make-rslave", "/", errno);
	return 0;
}

int nsopts_open_shared(struct nsopts *o)
{
	for (int i = 0; i < o->nshare; i++) {
		o->share[i].fd = open(o->share[i].path, O_RDONLY | O_CLOEXEC);
		if (o->share[i].fd < 0)
			return fail("namespace", o->share[i].name, o->share[i].path, errno);
	}
	return 0;
}

/* The same namespace as ours: setns refuses re-entering one's own user
 * namespace (EINVAL), and joining any other of ours changes nothing. */
static bool is_own(int fd, const char *name)
{
	char self[64];
	struct stat a, b;

	snprintf(self, sizeof(self), "/proc/self/ns/%s", name);
	return fstat(fd, &a) == 0 && stat(self, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* What the intermediate reports: the child's pid, or which step failed. */
struct share_result {
	long pid;
	int err;
	int share; /* index of the namespace that could not be joined, -1: the clone */
};

/* The intermediate: a fork of the monitor, single-threaded with a memory of
 * its own (setns into a time namespace refuses a shared mm: EUSERS), so it
 * may join user, mount and time namespaces; its clone's child has the
 * monitor as parent. User first: the others are then joined with its
 * powers. */
static _Noreturn void share_intermediate(struct nsopts *o, struct clone_args *ca,
					 void (*child)(void *), void *arg, int out)
{
	struct share_result r = {.pid = -1, .share = -1};

	for (size_t k = 0; k < sizeof(ns_names) / sizeof(ns_names[0]) && !r.err; k++) {
		for (int i = 0; i < o->nshare; i++) {
			if (o->share[i].flag != ns_names[k].flag || is_own(o->share[i].fd, o->share[i].name))
				continue;
			if (setns(o->share[i].fd, o->share[i].flag) < 0) {
				r.err = errno;
				r.share = i;
				break;
			}
		}
	}
	if (!r.err) {
		/* clone3 takes no exit signal with CLONE_PARENT: the child gets
		 * ours, SIGCHLD (kernel/fork.c). Its pidfd the monitor opens. */
		ca->flags |= CLONE_PARENT;
		ca->flags &= ~(uint64_t)CLONE_PIDFD;
		ca->exit_signal = 0;
		r.pid = syscall(SYS_clone3, ca, sizeof(*ca));
		if (r.pid == 0) {
			close(out);
			child(arg);
			_exit(1);
		}
		if (r.pid < 0)
			r.err = errno;
	}
	(void)!write(out, &r, sizeof(r));
	_exit(r.err ? 1 : 0);
}

long nsopts_clone_shared(struct nsopts *o, struct clone_args *ca,
			 void (*child)(void *), void *arg, bool *v2_late)
{
	struct share_result r = {.pid = -1};
	int pipefd[2], st, *pidfd = (int *)(uintptr_t)ca->pidfd;
	ssize_t n;
	pid_t mid;

	/* A cgroup is entered by a write once the child exists (as v1's are):
	 * the intermediate's credentials may be another user namespace's. */
	*v2_late = (ca->flags & CLONE_INTO_CGROUP) != 0;
	ca->flags &= ~(uint64_t)CLONE_INTO_CGROUP;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return fail("clone", "pipe", NULL, errno);
	mid = fork();
	if (mid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return fail("clone", "fork", NULL, errno);
	}
	if (mid == 0) {
		close(pipefd[0]);
		share_intermediate(o, ca, child, arg, pipefd[1]);
	}
	close(pipefd[1]);
	do
		n = read(pipefd[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	while (waitpid(mid, &st, 0) < 0)
		if (errno != EINTR)
			return fail("clone", "waitpid", NULL, errno);
	if (n != (ssize_t)sizeof(r))
		return fail("clone", "intermediate", NULL, ECHILD);
	if (r.err && r.share >= 0)
		return fail("namespace", o->share[r.share].name, o->share[r.share].path, r.err);
	if (r.err)
		return fail("clone", "clone3", NULL, r.err);
	/* Our child (CLONE_PARENT): its pid is not reused before we reap it. */
	if (pidfd) {
		*pidfd = sys_pidfd_open((pid_t)r.pid, 0);
		if (*pidfd < 0) {
			int e = errno;
			kill((pid_t)r.pid, SIGKILL);
			return fail("clone", "pidfd_open", NULL, e);
		}
	}
	return r.pid;
}

int nsopts_after_clone(const struct nsopts *o, pid_t pid)
{
	char path[PATH_MAX];

	for (int i = 0; i < o->nproc; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, o->proc[i].file);
		if (write_file(path, o->proc[i].value, "proc") < 0)
			return -1;
	}
	return 0;
}

static int write_timens_offsets(const struct nsopts *o)
{
	char buf[128];

	/* time_namespaces(7): "<clock-id> <secs> <nanosecs>" lines, before any
	 * process enters the namespace. CLOCK_MONOTONIC 1, CLOCK_BOOTTIME 7. */
	snprintf(buf, sizeof(buf), "%d %lld %lld\n%d %lld %lld\n", CLOCK_MONOTONIC, o->mono_s,
		 o->mono_ns, CLOCK_BOOTTIME, o->boot_s, o->boot_ns);
	return write_file("/proc/self/timens_offsets", buf, "namespace");
}

int nsopts_child_timens(const struct nsopts *o)
{
	if (o->timens) {
		int fd;
		/* unshare makes the namespace of our children; we join it
		 * ourselves before anything runs in it (as LXC does). */
		if (unshare(CLONE_NEWTIME) < 0)
			return fail("namespace", "unshare", "time", errno);
		if (write_timens_offsets(o) < 0)
			return -1;
		fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("namespace", "open", "/proc/self/ns/time_for_children", errno);
		if (setns(fd, CLONE_NEWTIME) < 0) {
			int e = errno;
			close(fd);
			return fail("namespace", "setns", "time", e);
		}
		close(fd);
	}
	return 0;
}

int nsopts_child_early(const struct nsopts *o)
{
	/* A keyring of its own, so the container sees none of the caller's keys;
	 * where keyctl is filtered or refused the caller's stays, as in LXC. */
	if (o->keyring && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 &&
	    errno != ENOSYS && errno != EACCES && errno != EPERM)
		return fail("keyring", "keyctl", NULL, errno);
	/* ENODEV: no SMT on this machine, so nothing to isolate (as LXC). */
	if (o->sched_core && prctl(PR_SCHED_CORE, PR_SCHED_CORE_CREATE, 0, PIDTYPE_TGID, 0) < 0 &&
	    errno != ENODEV)
		return fail("sched-core", "prctl", NULL, errno);
	if (o->personality > 0 && personality((unsigned long)o->personality) < 0)
		return fail("personality", "personality", NULL, errno);
	return 0;
}

int nsopts_attach_time(pid_t pid)
{
	char theirs[64];
	struct stat a, b;

	snprintf(theirs, sizeof(theirs), "/proc/%d/ns/time", (int)pid);
	if (stat(theirs, &a) < 0 || stat("/proc/self/ns/time", &b) < 0)
		return 0; /* no time namespaces in this kernel */
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev ? 0 : CLONE_NEWTIME;
}

int nsopts_attach_personality(const struct nsopts *o)
{
	if (o->personality > 0 && personality((unsigned long)o->personality) < 0)
		return fail("personality", "personality", NULL, errno);
	return 0;
}

int nsopts_setgroups(const struct nsopts *o)
{
	if (setgroups((size_t)o->ngroups, o->ngroups ? o->groups : NULL) < 0)
		return fail("ids", "setgroups", NULL, errno);
	return 0;
}

int nsopts_pdeath(const struct nsopts *o)
{
	return o->pdeath ? o->pdeath : SIGKILL;
}
