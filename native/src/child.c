/*
 * The container's first process: applies the child records in order, then
 * execs the init (or becomes the init shim). Runs in the new namespaces; every
 * mount lands in its own mount namespace, never on the host.
 */
#include "confine.h"
#include "hooks.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int rootfd = -1;
static bool pivoted;
static bool ptys_bound;

/* A container path beneath the root fd (open_in_root, util.h). */
static int resolve(const char *target, int flags, mode_t mode, const char *stage)
{
	return open_in_root(rootfd, target, flags, mode, stage);
}

static void fd_path(int fd, char *buf, size_t cap)
{
	snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* mkdir -p beneath the root: each prefix is re-resolved in-root, so a
 * symlinked component cannot redirect creation onto the host. */
static int mkdir_in_root(const char *target, mode_t mode, const char *stage)
{
	char prefix[PATH_MAX];
	size_t len = strlen(target);
	int parent, fd;

	if (len >= sizeof(prefix))
		return fail(stage, "mkdir", target, ENAMETOOLONG);
	parent = resolve("/", O_PATH | O_DIRECTORY, 0, stage);
	if (parent < 0)
		return -1;
	for (size_t i = 0; i < len;) {
		size_t start, end;
		while (target[i] == '/')
			i++;
		if (!target[i])
			break;
		start = i;
		while (target[i] && target[i] != '/')
			i++;
		end = i;
		memcpy(prefix, target, end);
		prefix[end] = '\0';
		fd = resolve(prefix, O_PATH | O_DIRECTORY, 0, stage);
		if (fd < 0 && lxt_err.err == ENOENT) {
			char comp[NAME_MAX + 1];
			if (end - start > NAME_MAX) {
				close(parent);
				return fail(stage, "mkdir", target, ENAMETOOLONG);
			}
			memcpy(comp, target + start, end - start);
			comp[end - start] = '\0';
			if (mkdirat(parent, comp, mode) < 0 && errno != EEXIST) {
				close(parent);
				return fail(stage, "mkdir", prefix, errno);
			}
			fd = resolve(prefix, O_PATH | O_DIRECTORY, 0, stage);
		}
		close(parent);
		if (fd < 0)
			return -1;
		parent = fd;
	}
	close(parent);
	return 0;
}

/* Open the parent directory of target in-root; *base gets the last name. */
static int open_parent(const char *target, const char **base, const char *stage)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(target, '/');
	size_t dlen;

	*base = slash + 1;
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, ".."))
		return fail(stage, "parse", target, EINVAL);
	dlen = (size_t)(slash - target);
	if (dlen >= sizeof(dir))
		return fail(stage, "open", target, ENAMETOOLONG);
	memcpy(dir, target, dlen);
	dir[dlen] = '\0';
	return resolve(dlen ? dir : "/", O_PATH | O_DIRECTORY, 0, stage);
}

static int create_file_in_root(const char *target, const char *stage)
{
	const char *base;
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s", target);
	*strrchr(dir, '/') = '\0';
	if (*dir && mkdir_in_root(dir, 0755, stage) < 0)
		return -1;
	fd = open_parent(target, &base, stage);
	if (fd < 0)
		return -1;
	close(fd);
	fd = resolve(target, O_CREAT | O_WRONLY, 0644, stage);
	if (fd < 0 && lxt_err.err == EISDIR)
		return 0; /* an existing directory is a valid bind target too */
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Bind a host path (or anything openable now) onto an in-root target. */
static int bind_onto(const char *src, const char *target, const char *stage)
{
	char tpath[32];
	int tfd = resolve(target, O_PATH, 0, stage);

	if (tfd < 0)
		return -1;
	fd_path(tfd, tpath, sizeof(tpath));
	if (mount(src, tpath, NULL, MS_BIND, NULL) < 0) {
		int e = errno;
		close(tfd);
		return fail(stage, "mount", target, e);
	}
	close(tfd);
	return 0;
}

/* Slave, not private: host unmounts still reach us, our mounts never reach
 * the host (mount_namespaces(7)). Done once, before the first mount of the
 * plan, which may precede the rootfs record (an overlay rootfs). */
static int make_rslave(const char *stage)
{
	static bool done;

	if (done)
		return 0;
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return fail(stage, "make-rslave", "/", errno);
	done = true;
	return 0;
}

/* lxc.rootfs.options' per-mount flags on the rootfs bind. A remount sets
 * them all: the ones the bind inherited stay (in a user namespace the
 * kernel refuses to clear those it locked). */
static int remount_rootfs(const char *path, unsigned long flags)
{
	static const struct { unsigned long st, ms; } keep[] = {
		{ST_RDONLY, MS_RDONLY}, {ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV},
		{ST_NOEXEC, MS_NOEXEC}, {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME},
		{ST_RELATIME, MS_RELATIME},
	};
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return fail("rootfs", "statvfs", path, errno);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (sv.f_flag & keep[i].st)
			flags |= keep[i].ms;
	if ((flags & MS_NOATIME) || (flags & MS_STRICTATIME))
		flags &= ~MS_RELATIME;
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		return fail("rootfs", "remount", path, errno);
	return 0;
}

/* The idmapped trees the monitor made (idmap.c), in the order of the
 * binds that attach them; -1 for an optional one it could not make. */
static int bind_fds[IDMAP_MAX];
static int next_bind;
/* The block-device rootfs's detached mount (block-mount), or -1. */
static int block_fd = -1;

/* The monitor's go-ahead: the idmapped-mount trees into fds, the binds'
 * into bind_fds. EOF (a monitor gone) or a count that does not add up fails. */
static int recv_idmapped(struct child_ctx *c, int *fds)
{
	const struct plan *p = c->p;
	struct child_go go;
	int all[SYNC_FDS_MAX], n = recv_data_fds(c->sync_fd, &go, sizeof(go), all, SYNC_FDS_MAX), k = 0;
	int want = p->nidmapped + !!p->block;

	if (n < 0)
		return -1;
	for (int i = 0; i < p->nidmap_binds; i++)
		want += !(go.skipped & (1ULL << i));
	if (n != want) {
		while (n-- > 0)
			close(all[n]);
		return -1;
	}
	memcpy(fds, all, sizeof(int) * (size_t)p->nidmapped);
	k = p->nidmapped;
	for (int i = 0; i < p->nidmap_binds; i++)
		bind_fds[i] = (go.skipped & (1ULL << i)) ? -1 : all[k++];
	/* A block-device rootfs's mount comes last (blockdev.c). */
	if (p->block)
		block_fd = all[k];
	return 0;
}

static int do_rootfs(const char *path, unsigned long flags)
{
	if (make_rslave("rootfs") < 0)
		return -1;
	/* pivot_root(2) needs the new root to be a mount point. */
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail("rootfs", "bind", path, errno);
	if (flags && remount_rootfs(path, flags) < 0)
		return -1;
	if (rootfd >= 0)
		close(rootfd);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return fail("rootfs", "open", path, errno);
	return 0;
}

static int do_mount(const struct rec *r)
{
	char **f = r->f, spath[32], tpath[32];
	const char *src = *f[0] ? f[0] : NULL, *target = f[1];
	const char *fstype = *f[2] ? f[2] : NULL, *data = *f[4] ? f[4] : NULL;
	int sfd = -1, tfd = -1, rc = -1;

	if (make_rslave("mount") < 0)
		return -1;
	if ((r->opts & MOUNT_OPT_IDMAPPED) && (sfd = bind_fds[next_bind++]) < 0)
		return -1; /* an optional bind the monitor could not make */
	if ((r->opts & MOUNT_OPT_CREATE_DIR) && mkdir_in_root(target, 0755, "mount") < 0)
		return -1;
	if ((r->opts & MOUNT_OPT_CREATE_FILE) && create_file_in_root(target, "mount") < 0)
		return -1;
	/* An idmapped tree (sfd already) is attached below instead of mount(2). */
	if (sfd < 0 && (r->opts & MOUNT_OPT_SRC_IN_ROOT)) {
		sfd = resolve(src, O_PATH, 0, "mount");
		if (sfd < 0)
			return -1;
	} else if (sfd < 0 && (r->flags & MS_BIND)) {
		sfd = open(src, O_PATH | O_CLOEXEC);
		if (sfd < 0)
			return fail("mount", "open", src, errno);
	}
	if (sfd >= 0) {
		fd_path(sfd, spath, sizeof(spath));
		src = spath;
	}
	tfd = resolve(target, O_PATH, 0, "mount");
	if (tfd < 0)
		goto out;
	fd_path(tfd, tpath, sizeof(tpath));
	if (r->opts & MOUNT_OPT_IDMAPPED) {
		if (syscall(SYS_move_mount, sfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH |
			    MOVE_MOUNT_T_EMPTY_PATH) < 0) {
			fail("mount", "move_mount", target, errno);
			goto out;
		}
	} else if (mount(src, tpath, fstype, r->flags, data) < 0) {
		fail("mount", "mount", target, errno);
		goto out;
	}
	if (r->remount) {
		/* The old fd names the covered directory; the new mount is on top. */
		close(tfd);
		tfd = resolve(target, O_PATH, 0, "mount");
		if (tfd < 0)
			goto out;
		fd_path(tfd, tpath, sizeof(tpath));
		if (mount(NULL, tpath, NULL, MS_REMOUNT | MS_BIND | r->remount, NULL) < 0) {
			fail("mount", "remount", target, errno);
			goto out;
		}
	}
	rc = 0;
out:
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	return rc;
}

static int do_mknod(const struct rec *r)
{
	const char *target = r->f[0], *hostpath = r->f[4], *base;
	int pfd = open_parent(target, &base, "mknod"), fd;

	if (pfd < 0)
		return -1;
	if (mknodat(pfd, base, (mode_t)r->flags, makedev(r->a, r->b)) == 0 || errno == EEXIST) {
		close(pfd);
		return 0;
	}
	if (errno != EPERM || !*hostpath) {
		int e = errno;
		close(pfd);
		return fail("mknod", "mknod", target, e);
	}
	/* Without CAP_MKNOD (user namespaces) the host node is bound instead. */
	fd = openat(pfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	close(pfd);
	if (fd < 0)
		return fail("mknod", "create", target, errno);
	close(fd);
	return bind_onto(hostpath, target, "mknod");
}

static int do_symlink(const struct rec *r)
{
	const char *base;
	int pfd = open_parent(r->f[1], &base, "symlink");

	if (pfd < 0)
		return -1;
	if (symlinkat(r->f[0], pfd, base) < 0 && errno != EEXIST) {
		int e = errno;
		close(pfd);
		return fail("symlink", "symlinkat", r->f[1], e);
	}
	close(pfd);
	return 0;
}

static int bind_ptys(struct child_ctx *c)
{
	for (int i = 0; i < c->npty; i++) {
		const char *t = c->ptys[i].target;
		if (!t)
			continue;
		if (create_file_in_root(t, "pty") < 0 || bind_onto(c->ptys[i].pts, t, "pty") < 0)
			return -1;
	}
	ptys_bound = true;
	return 0;
}

static int do_pivot(struct child_ctx *c)
{
	if (bind_ptys(c) < 0)
		return -1;
	/* pivot_root(".", ".") stacks the old root on the new one; detaching
	 * "." then drops it without needing a directory for it (pivot_root(2)). */
	if (fchdir(rootfd) < 0)
		return fail("pivot", "fchdir", "/", errno);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail("pivot", "pivot_root", ".", errno);
	if (umount2(".", MNT_DETACH) < 0)
		return fail("pivot", "umount", "/", errno);
	if (chdir("/") < 0)
		return fail("pivot", "chdir", "/", errno);
	close(rootfd);
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return fail("pivot", "open", "/", errno);
	pivoted = true;
	return 0;
}

static int do_sysctl(const struct rec *r)
{
	char path[PATH_MAX];
	const char *v = r->f[1];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/%s", r->f[0]);
	fd = resolve(path, O_WRONLY | O_NOFOLLOW, 0, "sysctl");
	if (fd < 0)
		return -1;
	if (write_all(fd, v, strlen(v)) < 0) {
		int e = errno;
		close(fd);
		return fail("sysctl", "write", path, e);
	}
	close(fd);
	return 0;
}

static int apply_record(struct child_ctx *c, const struct rec *r)
{
	switch (r->op) {
	case REC_ROOTFS:
		return do_rootfs(r->f[0], r->flags);
	case REC_HOSTNAME:
		if (sethostname(r->f[0], strlen(r->f[0])) < 0)
			return fail("hostname", "sethostname", r->f[0], errno);
		return 0;
	case REC_MOUNT:
		if (do_mount(r) < 0)
			return (r->opts & MOUNT_OPT_OPTIONAL) ? 0 : -1;
		return 0;
	case REC_MKDIR:
		return mkdir_in_root(r->f[0], (mode_t)r->flags, "mkdir");
	case REC_MKNOD:
		return do_mknod(r);
	case REC_SYMLINK:
		return do_symlink(r);
	case REC_PIVOT:
		return do_pivot(c);
	case REC_SYSCTL:
		return do_sysctl(r);
	case REC_RLIMIT: {
		struct rlimit rl = {.rlim_cur = r->a, .rlim_max = r->b};
		if (prlimit(0, (int)r->flags, &rl, NULL) < 0)
			return fail("rlimit", "prlimit", r->f[0], errno);
		return 0;
	}
	case REC_HOOK:
		/* The hook's mounts must not reach the host: slave first, as for ours. */
		if ((c->p->clone_flags & CLONE_NEWNS) && make_rslave("hook") < 0)
			return -1;
		return hook_run(c->p, (int)r->flags, r->f, 0);
	}
	return fail("plan", "apply", NULL, EINVAL);
}

/*
 * With cgroup1, net or host-hook records, the monitor places the child in
 * its v1 cgroups, sets the NICs up (and runs script.up) while this child
 * prepares the rootfs, and sends 'n' when done. The child waits for it
 * before the first record that may need the network (a sysctl:
 * per-interface keys name its devices; a mount of a filesystem that reaches
 * a server from the container's namespace) or its cgroups (a cgroup mount),
 * and at the latest once the records are done, before the init is exec'd.
 * Its cgroup namespace is made once it is placed: the namespace's root is
 * the cgroup it is in then.
 */
static bool net_pending;
static bool cgroupns_pending;
static _Noreturn void child_fail(struct child_ctx *c);

static bool needs_net(const struct rec *r)
{
	static const char *const local[] = {
		"proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "overlay",
		"devtmpfs", "ramfs", "securityfs", "binfmt_misc", "hugetlbfs", "debugfs",
		"tracefs", "efivarfs", "pstore", "configfs", "fusectl", "bpf", "autofs", "none",
		NULL,
	};

	/* Hooks see the container's network set up, as LXC's do. */
	if (r->op == REC_SYSCTL || r->op == REC_HOOK)
		return true;
	if (r->op == REC_MOUNT && (!strcmp(r->f[2], "cgroup") || !strcmp(r->f[2], "cgroup2")))
		return true;
	if (r->op != REC_MOUNT || (r->flags & (MS_BIND | MS_REMOUNT | MS_MOVE)) || !*r->f[2])
		return false;
	for (int i = 0; local[i]; i++)
		if (!strcmp(r->f[2], local[i]))
			return false;
	return true;
}

/* The monitor's 'n'; anything else (EOF: it failed and reports why) ends the child. */
static void wait_net(struct child_ctx *c)
{
	char b = 0;
	ssize_t n;

	net_pending = false;
	do
		n = read(c->sync_fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || b != 'n')
		_exit(1);
	if (cgroupns_pending && unshare(CLONE_NEWCGROUP) < 0) {
		fail("cgroup", "unshare", NULL, errno);
		child_fail(c);
	}
	cgroupns_pending = false;
}

/*
 * lxc.hook.start-host runs on the host once the container is set up and
 * before its init: this child says it is ready ("h") and waits for the
 * monitor's 'h' after the hooks; anything else (EOF: a hook failed, the
 * monitor reports it) ends the child.
 */
static void wait_start_host(struct child_ctx *c)
{
	char b = 0;
	ssize_t n;

	if (send(c->sync_fd, "h", 1, MSG_NOSIGNAL) != 1)
		_exit(1);
	do
		n = read(c->sync_fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || b != 'h')
		_exit(1);
}

static int set_ids(const struct plan *p)
{
	if (p->has_gid) {
		if (nsopts_setgroups(&p->opts) < 0)
			return -1;
		if (setresgid(p->gid, p->gid, p->gid) < 0)
			return fail("ids", "setresgid", NULL, errno);
	}
	if (p->has_uid && p->uid != 0)
		confine_keep_caps(&p->conf);
	if (p->has_uid && setresuid(p->uid, p->uid, p->uid) < 0)
		return fail("ids", "setresuid", NULL, errno);
	/* Credential changes clear the parent-death signal (PR_SET_PDEATHSIG). */
	prctl(PR_SET_PDEATHSIG, nsopts_pdeath(&p->opts), 0, 0, 0);
	return 0;
}

void send_error(int fd)
{
	char line[2048];

	format_error(line, sizeof(line));
	if (fd >= 0)
		(void)!write(fd, line, strlen(line));
}

static _Noreturn void child_fail(struct child_ctx *c)
{
	send_error(c->sync_fd);
	_exit(1);
}

/* Become the command's final self: ids, cwd, umask, exec. */
static _Noreturn void finish_exec(struct child_ctx *c, mode_t umask_saved)
{
	const struct plan *p = c->p;

	if (set_ids(p) < 0)
		child_fail(c);
	if (chdir(p->cwd ? p->cwd : "/") < 0) {
		fail("cwd", "chdir", p->cwd ? p->cwd : "/", errno);
		child_fail(c);
	}
	umask(umask_saved);
	/* Last before exec: the filter then applies to nothing of ours. */
	if (confine_finish(&p->conf, false, AA_NOW) < 0)
		child_fail(c);
	/* Its listener to the monitor, which forwards to the proxy (notify.c). */
	if (confine_notify_fd >= 0 && send_with_fds(c->sync_fd, 'N', &confine_notify_fd, 1) < 0) {
		fail("seccomp", "send-listener", NULL, errno);
		child_fail(c);
	}
	exec_search(p->argv, p->env);
	child_fail(c);
}

static void take_tty(int fd)
{
	if (fd < 0)
		return;
	setsid();
	ioctl(fd, TIOCSCTTY, 0);
}

/*
 * pid 1 as a small init (like lxc-init): forward the usual stop signals to the
 * command, reap everything reparented to us, exit with the command's status.
 */
static _Noreturn void run_init_shim(struct child_ctx *c, mode_t umask_saved, int ttyfd)
{
	static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPWR};
	sigset_t set, old;
	int sfd, status = 0;
	pid_t cmd;

	/* This pid 1 stays the helper's image: not dumpable, so the container
	 * cannot open its /proc/1/exe (CVE-2019-5736); the command's exec resets it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	cmd = fork();
	if (cmd < 0) {
		fail("exec", "fork", NULL, errno);
		child_fail(c);
	}
	if (cmd == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		take_tty(ttyfd);
		finish_exec(c, umask_saved);
	}
	/* pid 1 stays a helper image inside the container: it gets the same
	 * confinement (no_new_privs too: it never execs). */
	if (confine_finish(&c->p->conf, true, AA_NOW) < 0)
		child_fail(c);
	/* Our copy of the sync socket must go, or the monitor never sees the
	 * command's exec close it. */
	close(c->sync_fd);
	close_range(3, ~0U, 0);
	set_title("lxt init", "[lxt init]");
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		_exit(1);
	for (;;) {
		struct signalfd_siginfo si;
		pid_t w;
		int st;

		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			kill(cmd, (int)si.ssi_signo);
			continue;
		}
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			if (w == cmd) {
				status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				_exit(status);
			}
		}
	}
}

/* The v1 cgroups entered by the child itself (cgroup1_by_child): 0 in a
 * `tasks` file moves the writing thread, the child's only one. */
static int enter_cgroup1(struct child_ctx *c)
{
	int e = 0, i = 0;

	for (; i < c->ncg1_fds && !e; i++) {
		ssize_t n = write(c->cg1_fds[i], "0", 1);

		e = n == 1 ? 0 : n < 0 ? errno : EIO;
		close(c->cg1_fds[i]);
	}
	for (int k = i; k < c->ncg1_fds; k++)
		close(c->cg1_fds[k]);
	if (e) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/tasks", c->p->cgroup1[i - 1]);
		return fail("cgroup", "write", path, e);
	}
	return 0;
}

_Noreturn void child_main(struct child_ctx *c)
{
	const struct plan *p = c->p;
	sigset_t empty;
	mode_t umask_saved;
	int devnull = -1, ttyfd = -1, fds[SYNC_FDS_MAX];

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Everything the monitor had stays out of the init (fds 0-2 aside). */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	umask_saved = umask(0);
	if (confine_open_proc(&p->conf) < 0)
		child_fail(c);

	/* EOF here also covers a monitor that died before PDEATHSIG was set:
	 * in a new pid namespace getppid() is 0 and cannot tell us. */
	if (recv_idmapped(c, fds) < 0)
		_exit(1);
	/* After the go-ahead, so that the monitor reads a failure's line. */
	if (enter_cgroup1(c) < 0)
		child_fail(c);
	if (nsopts_child_timens(&p->opts) < 0)
		child_fail(c);
	/* In a user namespace the maps are written now: become its root
	 * (we are still the host's uid 0, which it does not map). */
	if (p->nidmap && (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
			  setresuid(0, 0, 0) < 0)) {
		fail("ids", "userns-root", NULL, errno);
		child_fail(c);
	}
	if (p->nidmap)
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* cleared by the id change */
	if (nsopts_child_early(&p->opts) < 0)
		child_fail(c);
	/* The block-device rootfs first: an idmapped mount may lie beneath it. */
	if (p->block && (make_rslave("rootfs") < 0 ||
			 block_attach_mount(p, block_fd) < 0))
		child_fail(c);
	if (p->nidmapped && (make_rslave("idmap") < 0 || idmap_attach_mounts(p, fds) < 0))
		child_fail(c);
	/* A v2 cgroup entered by a write (a shared-namespace clone, nsopts.c) is the monitor's too. */
	net_pending = (p->ncgroup1 > 0 && !cgroup1_by_child(p)) || (p->cgroup2 && p->opts.nshare > 0) ||
		      p->nnets > 0 || p->nhooks > 0;
	cgroupns_pending = p->ns_cgroup && p->ncgroup1 > 0 && !cgroup1_by_child(p);
	if (p->ns_cgroup && !cgroupns_pending && unshare(CLONE_NEWCGROUP) < 0) {
		fail("cgroup", "unshare", NULL, errno);
		child_fail(c);
	}
	if (!p->console && p->stdio_null) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull < 0) {
			fail("monitor", "open", "/dev/null", errno);
			child_fail(c);
		}
	}
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		fail("rootfs", "open", "/", errno);
		child_fail(c);
	}
	for (int i = 0; i < p->nrecs; i++) {
		if (net_pending && needs_net(&p->recs[i]))
			wait_net(c);
		if (apply_record(c, &p->recs[i]) < 0)
			child_fail(c);
	}
	if (net_pending)
		wait_net(c);
	if (hooks_any(p, HOOK_START_HOST))
		wait_start_host(c);
	if (!ptys_bound && bind_ptys(c) < 0)
		child_fail(c);

	if (p->console) {
		/* Reopened through the container path, so ttyname() is /dev/console. */
		ttyfd = resolve(p->console, O_RDWR | O_NOCTTY, 0, "pty");
		if (ttyfd < 0)
			child_fail(c);
		devnull = ttyfd;
	}
	if (devnull >= 0 && (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)) {
		fail("monitor", "dup2", NULL, errno);
		child_fail(c);
	}
	setsid();
	/* lxc.hook.start: in the container, the console its stdio, just before
	 * the init (LXC runs it last in do_start too). */
	if (hooks_run(p, HOOK_START, 0) < 0)
		child_fail(c);
	/* The bounding set needs CAP_SETPCAP: before the ids change. */
	if (confine_bounding(&p->conf) < 0)
		child_fail(c);
	if (p->init_shim)
		run_init_shim(c, umask_saved, ttyfd >= 0 ? 0 : -1);
	if (ttyfd >= 0)
		ioctl(0, TIOCSCTTY, 0);
	finish_exec(c, umask_saved);
}
