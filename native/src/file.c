/*
 * `lxt-shim file`: reads, writes or deletes one path inside a container's
 * root, for lxtd's files API (docs/helper-protocol.md, "file").
 *
 * The root is the running container's own (its mount namespace joined, and
 * its user namespace when it has one, as its root: files get the ids and the
 * permission checks the container's root has), or a stopped container's
 * rootfs directory (an overlay mounted first in a private mount namespace of
 * ours). Every path is resolved beneath that root with openat2(2)
 * RESOLVE_IN_ROOT, and the helper is chrooted there too: `..` and symlinks,
 * absolute or not, intermediate or final, stay inside; magic links are
 * refused. The helper decides nothing: TypeScript passes the ids and modes
 * to apply, already mapped.
 */
#include "shim.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct file_opts {
	pid_t pid;
	unsigned long long start;
	bool have_start;
	const char *root;                     /* --root DIR */
	const char *mnt[4];                   /* --mount SOURCE FSTYPE TARGET DATA */
	const char *type;                     /* put: file, directory, symlink */
	long long uid, gid, mode;             /* put: for a new object */
	bool mod_uid, mod_gid, mod_mode;      /* put: apply to an existing one too */
	bool append;
	const char *op, *path;
};

static int rootfd = -1, procfd = -1;

static int in_root(const char *path, int flags, mode_t mode)
{
	return open_in_root(rootfd, path, flags, mode, "file");
}

/* The parent directory of path (resolved in the root) and its last name. */
static int open_parent(const char *path, char *parent, size_t cap, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash || !slash[1] || !strcmp(slash + 1, ".") || !strcmp(slash + 1, ".."))
		return fail("file", "path", path, EINVAL);
	n = (size_t)(slash - path);
	if (n + 2 > cap)
		return fail("file", "path", path, ENAMETOOLONG);
	memcpy(parent, path, n);
	parent[n ? n : 1] = '\0';
	if (!n)
		parent[0] = '/';
	*name = slash + 1;
	return in_root(parent, O_PATH | O_DIRECTORY, 0);
}

static const char *type_of(mode_t m)
{
	return S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : S_ISREG(m) ? "file" : "other";
}

/* fd 3: `TYPE UID GID MODE SIZE MTIME` for the object fd refers to. */
static int send_meta(const struct stat *st)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "%s %u %u %o %lld %lld\n", type_of(st->st_mode),
			 (unsigned)st->st_uid, (unsigned)st->st_gid, (unsigned)(st->st_mode & 07777),
			 (long long)st->st_size, (long long)st->st_mtim.tv_sec);

	if (write_all(3, line, (size_t)n) < 0)
		return fail("file", "write", "meta", errno);
	close(3);
	return 0;
}

static int copy_fd(int from, int to, const char *what)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("file", "read", what, errno);
		}
		if (write_all(to, buf, (size_t)n) < 0)
			return fail("file", "write", what, errno);
	}
	return 0;
}

static int do_get(const char *path)
{
	struct stat st;
	int fd = in_root(path, O_PATH | O_NOFOLLOW, 0), rc = -1;

	if (fd < 0)
		return -1;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH) < 0) {
		close(fd);
		return fail("file", "stat", path, errno);
	}
	close(fd);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX + 1], parent[PATH_MAX];
		const char *name;
		int dir = open_parent(path, parent, sizeof(parent), &name);
		ssize_t n = dir < 0 ? -1 : readlinkat(dir, name, target, sizeof(target) - 1);
		if (dir >= 0)
			close(dir);
		if (n < 0)
			return dir < 0 ? -1 : fail("file", "readlink", path, errno);
		if (send_meta(&st) < 0 || write_all(1, target, (size_t)n) < 0)
			return fail("file", "write", path, errno);
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d;
		struct dirent *e;
		if ((fd = in_root(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)) < 0)
			return -1;
		if (!(d = fdopendir(fd))) {
			close(fd);
			return fail("file", "opendir", path, errno);
		}
		if (send_meta(&st) < 0)
			goto out_dir;
		/* NUL after each name: names may hold any other byte. */
		errno = 0;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (write_all(1, e->d_name, strlen(e->d_name) + 1) < 0) {
				fail("file", "write", path, errno);
				goto out_dir;
			}
			errno = 0;
		}
		rc = errno ? fail("file", "readdir", path, errno) : 0;
out_dir:
		closedir(d);
		return rc;
	}
	if (!S_ISREG(st.st_mode))
		return fail("file", "type", path, EINVAL);
	/* O_NOFOLLOW + the same inode: what was stat'ed is what is read. */
	if ((fd = in_root(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY, 0)) < 0)
		return -1;
	{
		struct stat again;
		if (fstat(fd, &again) < 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
			close(fd);
			return fail("file", "stat", path, ESTALE);
		}
	}
	rc = send_meta(&st) < 0 ? -1 : copy_fd(fd, 1, path);
	close(fd);
	return rc;
}

/* The container path an fd refers to (we are chrooted to the root). */
static int fd_path(int fd, char *out, size_t cap, const char *path)
{
	char link[32];
	ssize_t n;

	snprintf(link, sizeof(link), "self/fd/%d", fd);
	n = readlinkat(procfd, link, out, cap - 1);
	if (n < 0)
		return fail("file", "readlink", path, errno);
	if ((size_t)n >= cap - 1 || out[0] != '/')
		return fail("file", "readlink", path, ENAMETOOLONG);
	out[n] = '\0';
	return 0;
}

/* Whether the caller said "commit" on fd 3 once the body was whole. */
static int wait_commit(const char *path)
{
	char buf[16];
	size_t have = 0;
	ssize_t n;

	while (have < sizeof(buf) - 1 && (n = read(3, buf + have, sizeof(buf) - 1 - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		have += (size_t)n;
		if (memchr(buf, '\n', have))
			break;
	}
	buf[have] = '\0';
	if (strcmp(buf, "commit\n"))
		return fail("file", "commit", path, ECANCELED);
	return 0;
}

static int set_owner_mode(int fd, const struct file_opts *o, const struct stat *old, const char *path)
{
	uid_t uid = old && !o->mod_uid ? old->st_uid : (uid_t)o->uid;
	gid_t gid = old && !o->mod_gid ? old->st_gid : (gid_t)o->gid;
	mode_t mode = old && !o->mod_mode ? old->st_mode & 07777 : (mode_t)o->mode;

	/* chown clears setuid/setgid: the mode goes after it. */
	if (fchown(fd, uid, gid) < 0)
		return fail("file", "chown", path, errno);
	if (fchmod(fd, mode) < 0)
		return fail("file", "chmod", path, errno);
	return 0;
}

/* Append: the whole body lands, or the file is cut back to its old size. */
static int put_append(const struct file_opts *o, const char *path)
{
	struct stat st;
	int fd = in_root(path, O_WRONLY | O_APPEND | O_NOCTTY, 0), rc;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail("file", "stat", path, errno);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail("file", "type", path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
	}
	rc = copy_fd(0, fd, path);
	if (rc == 0)
		rc = wait_commit(path);
	if (rc == 0 && (o->mod_uid || o->mod_gid || o->mod_mode))
		rc = set_owner_mode(fd, o, &st, path);
	if (rc == 0 && fsync(fd) < 0)
		rc = fail("file", "fsync", path, errno);
	if (rc < 0 && ftruncate(fd, st.st_size) < 0) {
		/* Keep the first error: it says why. */
	}
	close(fd);
	return rc;
}

static void temp_name(char *out, size_t cap)
{
	unsigned char r[6];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, (int)getpid(), sizeof(r));
	snprintf(out, cap, ".lxt-put-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

/*
 * Overwrite: the body goes to an unnamed file (O_TMPFILE) in the target's
 * directory, linked under a temporary name and renamed over the target only
 * once it is whole, so a full disk or a broken upload leaves the old file
 * (or none) and nothing else. A final symlink is followed inside the root,
 * as the container would follow it.
 */
static int put_file(const struct file_opts *o, const char *path)
{
	char real[PATH_MAX], parent[PATH_MAX], tmp[64], link[32];
	const char *name;
	struct stat old, *have = NULL;
	int fd = in_root(path, O_PATH, 0), dir = -1, tf = -1, rc = -1;
	bool named = false;

	if (fd >= 0) {
		rc = fstat(fd, &old) < 0 ? fail("file", "stat", path, errno)
					  : fd_path(fd, real, sizeof(real), path);
		close(fd);
		if (rc < 0)
			return -1;
		rc = -1;
		if (S_ISDIR(old.st_mode))
			return fail("file", "type", path, EISDIR);
		if (!S_ISREG(old.st_mode))
			return fail("file", "type", path, EINVAL);
		have = &old;
		path = real;
	} else if (lxt_err.err != ENOENT) {
		return -1;
	}
	if ((dir = open_parent(path, parent, sizeof(parent), &name)) < 0)
		return -1;
	tf = openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (tf < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* No O_TMPFILE on this filesystem: a named temporary file. */
		temp_name(tmp, sizeof(tmp));
		tf = openat(dir, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		named = tf >= 0;
	}
	if (tf < 0) {
		fail("file", "create", path, errno);
		goto out;
	}
	if (copy_fd(0, tf, path) < 0 || wait_commit(path) < 0 ||
	    set_owner_mode(tf, o, have, path) < 0)
		goto out;
	if (fsync(tf) < 0) {
		fail("file", "fsync", path, errno);
		goto out;
	}
	if (!named) {
		temp_name(tmp, sizeof(tmp));
		snprintf(link, sizeof(link), "self/fd/%d", tf);
		if (linkat(procfd, link, dir, tmp, AT_SYMLINK_FOLLOW) < 0) {
			fail("file", "link", path, errno);
			goto out;
		}
		named = true;
	}
	if (renameat(dir, tmp, dir, name) < 0) {
		fail("file", "rename", path, errno);
		goto out;
	}
	named = false;
	rc = 0;
out:
	if (named)
		unlinkat(dir, tmp, 0);
	if (tf >= 0)
		close(tf);
	close(dir);
	return rc;
}

static int put_directory(const struct file_opts *o, const char *path)
{
	char parent[PATH_MAX];
	const char *name;
	int fd, dir, rc;

	/* As LXD: a path that exists already (whatever it is) is success. */
	if ((fd = in_root(path, O_PATH, 0)) >= 0) {
		close(fd);
		return 0;
	}
	if (lxt_err.err != ENOENT || (dir = open_parent(path, parent, sizeof(parent), &name)) < 0)
		return -1;
	if (mkdirat(dir, name, 0700) < 0) {
		close(dir);
		return fail("file", "mkdir", path, errno);
	}
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(dir);
	if (fd < 0)
		return fail("file", "open", path, errno);
	rc = set_owner_mode(fd, o, NULL, path);
	close(fd);
	return rc;
}

static int put_symlink(const struct file_opts *o, const char *path)
{
	char target[PATH_MAX + 1], parent[PATH_MAX], cur[PATH_MAX + 1];
	const char *name;
	size_t have = 0;
	ssize_t n;
	int dir, rc = 0;

	while ((n = read(0, target + have, sizeof(target) - 1 - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("file", "read", path, errno);
		have += (size_t)n;
		if (have == sizeof(target) - 1)
			return fail("file", "read", path, ENAMETOOLONG);
	}
	target[have] = '\0';
	if (!have || strlen(target) != have)
		return fail("file", "symlink", path, EINVAL);
	if (wait_commit(path) < 0 || (dir = open_parent(path, parent, sizeof(parent), &name)) < 0)
		return -1;
	/* As LXD: the same link already there is success. */
	n = readlinkat(dir, name, cur, sizeof(cur) - 1);
	if (n >= 0 && (size_t)n == have && !memcmp(cur, target, have))
		goto out;
	if (symlinkat(target, dir, name) < 0)
		rc = fail("file", "symlink", path, errno);
	else if (fchownat(dir, name, (uid_t)o->uid, (gid_t)o->gid, AT_SYMLINK_NOFOLLOW) < 0)
		rc = fail("file", "chown", path, errno);
out:
	close(dir);
	return rc;
}

/* A file or an empty directory; a final symlink itself, not its target. */
static int do_delete(const char *path)
{
	char parent[PATH_MAX];
	const char *name;
	struct stat st;
	int dir = open_parent(path, parent, sizeof(parent), &name), rc = 0;

	if (dir < 0)
		return -1;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = fail("file", "stat", path, errno);
	else if (unlinkat(dir, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
		rc = fail("file", "remove", path, errno);
	close(dir);
	return rc;
}

static bool same_userns(pid_t pid)
{
	char p[64];
	struct stat a, b;

	snprintf(p, sizeof(p), "/proc/%d/ns/user", (int)pid);
	return stat(p, &a) == 0 && stat("/proc/self/ns/user", &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Join the running container: its mount namespace (which makes its root
 * ours), and its user namespace as its root when it has one. */
static int enter_running(const struct file_opts *o)
{
	int pidfd = pidfd_checked(o->pid, o->start, "file"), flags = CLONE_NEWNS;

	if (pidfd < 0)
		return -1;
	if (!same_userns(o->pid))
		flags |= CLONE_NEWUSER;
	if (setns(pidfd, flags) < 0)
		return fail("file", "setns", NULL, errno);
	close(pidfd);
	if ((flags & CLONE_NEWUSER) &&
	    (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return fail("file", "setresuid", NULL, errno);
	return 0;
}

/* A stopped container: its rootfs, after the mount (an overlay) that makes
 * it, in a private mount namespace that goes away with us. */
static int enter_stopped(const struct file_opts *o)
{
	if (o->mnt[0]) {
		if (unshare(CLONE_NEWNS) < 0)
			return fail("file", "unshare", NULL, errno);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			return fail("file", "mount", "/", errno);
		if (mount(o->mnt[0], o->mnt[2], o->mnt[1], 0, o->mnt[3]) < 0)
			return fail("file", "mount", o->mnt[2], errno);
	}
	if (chdir(o->root) < 0)
		return fail("file", "chdir", o->root, errno);
	return 0;
}

static int parse_id(const char *s, long long max, long long *out)
{
	return parse_ll(s, 0, max, out);
}

static int parse_args(int argc, char **argv, struct file_opts *o)
{
	long long v;
	int i;

	o->uid = o->gid = 0;
	o->mode = -1;
	for (i = 0; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--append")) {
			o->append = true;
			continue;
		}
		if (!val)
			return fail("file", "usage", a, EINVAL);
		if (!strcmp(a, "--pid")) {
			if (parse_ll(val, 1, 0x7fffffff, &v) < 0)
				return fail("file", "usage", a, EINVAL);
			o->pid = (pid_t)v;
		} else if (!strcmp(a, "--pid-start")) {
			if (parse_ull(val, 10, &o->start) < 0)
				return fail("file", "usage", a, EINVAL);
			o->have_start = true;
		} else if (!strcmp(a, "--root")) {
			o->root = val;
		} else if (!strcmp(a, "--mount")) {
			if (i + 4 >= argc)
				return fail("file", "usage", a, EINVAL);
			for (int k = 0; k < 4; k++)
				o->mnt[k] = argv[i + 1 + k];
			i += 3;
		} else if (!strcmp(a, "--type")) {
			o->type = val;
		} else if (!strcmp(a, "--uid") || !strcmp(a, "--gid")) {
			if (parse_id(val, 0xfffffffe, a[2] == 'u' ? &o->uid : &o->gid) < 0)
				return fail("file", "usage", a, EINVAL);
		} else if (!strcmp(a, "--mode")) {
			unsigned long long m;
			if (parse_ull(val, 8, &m) < 0 || m > 07777)
				return fail("file", "usage", a, EINVAL);
			o->mode = (long long)m;
		} else if (!strcmp(a, "--modify")) {
			o->mod_uid = strstr(val, "uid") != NULL;
			o->mod_gid = strstr(val, "gid") != NULL;
			o->mod_mode = strstr(val, "mode") != NULL;
		} else {
			return fail("file", "usage", a, EINVAL);
		}
		i++;
	}
	if (argc - i != 2 || argv[i + 1][0] != '/' || (!o->root == !o->have_start) ||
	    (o->pid && !o->have_start) || (o->have_start && !o->pid))
		return fail("file", "usage", NULL, EINVAL);
	if (o->mode < 0)
		o->mode = o->type && !strcmp(o->type, "directory") ? 0750 : 0644;
	o->op = argv[i];
	o->path = argv[i + 1];
	return 0;
}

int file_main(int argc, char **argv)
{
	struct file_opts o = {0};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* Not dumpable: no process of the container may ptrace us once we
	 * are in its namespaces, or open our /proc/PID/exe (as attach). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fail("file", "prctl", NULL, errno);
		goto err;
	}
	if (parse_args(argc, argv, &o) < 0)
		goto err;
	/* The host's /proc, for our own fds once the root is the container's. */
	procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		fail("file", "open", "/proc", errno);
		goto err;
	}
	if ((o.have_start ? enter_running(&o) : enter_stopped(&o)) < 0)
		goto err;
	if (chroot(".") < 0) {
		fail("file", "chroot", NULL, errno);
		goto err;
	}
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		fail("file", "open", "/", errno);
		goto err;
	}
	if (!strcmp(o.op, "get"))
		rc = do_get(o.path);
	else if (!strcmp(o.op, "delete"))
		rc = do_delete(o.path);
	else if (!strcmp(o.op, "put") && o.type && !strcmp(o.type, "directory"))
		rc = put_directory(&o, o.path);
	else if (!strcmp(o.op, "put") && o.type && !strcmp(o.type, "symlink"))
		rc = put_symlink(&o, o.path);
	else if (!strcmp(o.op, "put") && o.type && !strcmp(o.type, "file"))
		rc = o.append ? put_append(&o, o.path) : put_file(&o, o.path);
	else
		rc = fail("file", "usage", o.op, EINVAL);
	if (rc == 0)
		return 0;
err:
	send_error(2);
	return 1;
}
