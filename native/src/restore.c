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
 * A container with a user namespace (`idmap` records): CRIU makes the
 * user namespace from its images and opens the images and the container's
 * files from inside it, where root's 0700 image directory is closed and the
 * host's view of an idmapped rootfs (owned by root) is nobody's. So before
 * the fork the monitor gives the image directory (`-D`) to the container's
 * root (the maps' host id of 0), and with an `idmapped-mount` record (the
 * rootfs) mounts it idmapped with the plan's maps beside it on
 * `.criu-root`, the view the container has, which replaces `--root`'s
 * value; the mount is
 * detached once criu is done (the restored mount namespace holds its own).
 *
 * A criu that fails has killed what it restored; what is left in the
 * cgroups is the monitor's cleanup's, as after a failed start.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"
#include "shim.h"
#include "util.h"

/* The container's view of its rootfs, for --root (see the top). */
static char criu_root[4200];

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
		if (i > 0 && p->nidmapped > 0 && !strcmp(p->restore_argv[i - 1], "--root")) {
			argv[i] = criu_root;
			continue;
		}
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

/* The ARGV field after FLAG (`--root`, `-D`), or NULL. */
static const char *arg_after(const struct plan *p, const char *flag)
{
	for (int i = 0; p->restore_argv[i]; i++)
		if (!strcmp(p->restore_argv[i], flag))
			return p->restore_argv[i + 1];
	return NULL;
}

/*
 * DIR and the files in it owned by the container's root, the images 0600.
 * criu's root task opens timens-0.img (clock offsets only) in the new user
 * namespace before criu has written its maps (cr-restore.c, before "Wait
 * prepare_userns"), as an unmapped id: that file is left 0644 and DIR made
 * 0711, so that open does not depend on which side wins.
 */
static int give_images(const struct plan *p, const char *dir)
{
	unsigned int uid, gid;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if (idmap_host_root(p, 'u', &uid) < 0 || idmap_host_root(p, 'g', &gid) < 0)
		return fail("restore", "idmap-root", dir, EINVAL);
	d = opendir(dir);
	if (!d)
		return fail("restore", "opendir", dir, errno);
	while (rc == 0 && (e = readdir(d))) {
		bool self = !strcmp(e->d_name, ".");
		mode_t mode = self ? 0711 : !strcmp(e->d_name, "timens-0.img") ? 0644 : 0600;

		if (!strcmp(e->d_name, "..") || (e->d_type != DT_REG && !self))
			continue;
		if (fchownat(dirfd(d), e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			rc = fail("restore", "chown", e->d_name, errno);
		else if (fchmodat(dirfd(d), e->d_name, mode, 0) < 0)
			rc = fail("restore", "chmod", e->d_name, errno);
	}
	closedir(d);
	return rc;
}

static int idmapped_root(const struct plan *p)
{
	const char *rootfs = p->idmapped[0], *slash = strrchr(rootfs, '/');

	/* Beside the rootfs: a path the container's root can reach (start.ts
	 * makes the rootfs's parents traversable), where criu, in the user
	 * namespace, looks for it again. */
	snprintf(criu_root, sizeof(criu_root), "%.*s/.criu-root", (int)(slash ? slash - rootfs : 0),
		 rootfs);
	if (mkdir(criu_root, 0700) < 0 && errno != EEXIST)
		return fail("restore", "mkdir", criu_root, errno);
	return idmap_mount_with_maps(p, p->idmapped[0], criu_root);
}

static void drop_root(const char *root)
{
	(void)umount2(root, MNT_DETACH);
	(void)rmdir(root);
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

	const char *dir = arg_after(p, "-D");
	bool root = p->nidmapped > 0;

	if (p->nidmap > 0 && (!dir || give_images(p, dir) < 0))
		return dir ? -1 : fail("restore", "no-images-dir", NULL, EINVAL);
	if (root && idmapped_root(p) < 0) {
		drop_root(criu_root);
		return -1;
	}
	criu = fork();
	if (criu == 0)
		exec_criu(p, ptys, npty);
	while (criu > 0 && waitpid(criu, &st, 0) < 0)
		if (errno != EINTR) {
			criu = -1;
			break;
		}
	if (root)
		drop_root(criu_root);
	if (criu < 0)
		return fail("restore", "fork", NULL, errno);
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
