/*
 * User namespace mechanics: writing a child's uid/gid maps, idmapped mounts
 * (mount_setattr(2) MOUNT_ATTR_IDMAP) handed to the child as fds, and the
 * `idmap-probe` mode that tells TypeScript whether a path can be idmapped.
 * Which map and which rootfs strategy is TypeScript's choice (the plan).
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int sys_open_tree(int dfd, const char *path, unsigned int flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static int sys_mount_setattr(int dfd, const char *path, unsigned int flags, struct mount_attr *a)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, a, sizeof(*a));
}

static int write_map(pid_t pid, const struct plan *p, char kind)
{
	char path[64], buf[IDMAP_MAX * 40];
	size_t len = 0;
	int fd, rc = 0;

	for (int i = 0; i < p->nidmap; i++)
		if (p->idmap[i].kind == kind)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n",
						p->idmap[i].ns, p->idmap[i].host, p->idmap[i].count);
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, kind == 'u' ? "uid_map" : "gid_map");
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("idmap", "open", path, errno);
	/* The whole map in one write(2): the kernel accepts exactly one. */
	if (write(fd, buf, len) != (ssize_t)len)
		rc = fail("idmap", "write", path, errno ? errno : EIO);
	close(fd);
	return rc;
}

int idmap_write_maps(pid_t pid, const struct plan *p)
{
	return write_map(pid, p, 'u') < 0 ? -1 : write_map(pid, p, 'g');
}

int idmap_host_root(const struct plan *p, char kind, unsigned int *out)
{
	for (int i = 0; i < p->nidmap; i++)
		if (p->idmap[i].kind == kind && p->idmap[i].ns == 0) {
			*out = p->idmap[i].host;
			return 0;
		}
	return -1;
}

/* A detached copy of PATH (with its submounts if RECURSIVE) idmapped to USERNS. */
static int idmapped_tree(const char *path, int userns, bool recursive)
{
	struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
	unsigned int rec = recursive ? AT_RECURSIVE : 0;
	int fd = sys_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);

	if (fd < 0)
		return fail("idmap", "open_tree", path, errno);
	if (sys_mount_setattr(fd, "", AT_EMPTY_PATH | rec, &a) < 0) {
		int e = errno;
		close(fd);
		return fail("idmap", "mount_setattr", path, e);
	}
	return fd;
}

/* An idmapped bind's tree (lxc.mount.entry's idmap=): to the container's
 * user namespace, or to the one an nsfs path names (idmap=/proc/PID/ns/user). */
static int idmapped_bind(const struct rec *r, int own_userns)
{
	int userns = own_userns, fd;

	if (strcmp(r->f[4], "container") != 0) {
		userns = open(r->f[4], O_RDONLY | O_CLOEXEC);
		if (userns < 0)
			return fail("idmap", "open", r->f[4], errno);
	}
	fd = idmapped_tree(r->f[0], userns, (r->flags & MS_REC) != 0);
	if (userns != own_userns)
		close(userns);
	return fd;
}

int idmap_make_mounts(pid_t pid, const struct plan *p, int *fds, uint64_t *skipped)
{
	char path[64];
	int userns = -1, n = 0, k = 0;

	*skipped = 0;
	if (p->nidmapped == 0 && p->nidmap_binds == 0)
		return 0;
	if (p->nidmap) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		userns = open(path, O_RDONLY | O_CLOEXEC);
		if (userns < 0)
			return fail("idmap", "open", path, errno);
	}
	for (int i = 0; i < p->nidmapped; i++) {
		fds[n] = idmapped_tree(p->idmapped[i], userns, true);
		if (fds[n] < 0)
			goto undo;
		n++;
	}
	for (int i = 0; i < p->nrecs; i++) {
		const struct rec *r = &p->recs[i];
		if (r->op != REC_MOUNT || !(r->opts & MOUNT_OPT_IDMAPPED))
			continue;
		fds[n] = idmapped_bind(r, userns);
		if (fds[n] >= 0)
			n++;
		else if (r->opts & MOUNT_OPT_OPTIONAL)
			*skipped |= 1ULL << k; /* the child skips it, as any optional mount */
		else
			goto undo;
		k++;
	}
	if (userns >= 0)
		close(userns);
	return n;
undo:
	while (n-- > 0)
		close(fds[n]);
	if (userns >= 0)
		close(userns);
	return -1;
}

int idmap_attach_mounts(const struct plan *p, const int *fds)
{
	for (int i = 0; i < p->nidmapped; i++) {
		if (syscall(SYS_move_mount, fds[i], "", AT_FDCWD, p->idmapped[i],
			    MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return fail("idmap", "move_mount", p->idmapped[i], errno);
		close(fds[i]);
	}
	return 0;
}

int send_with_fds(int sock, char byte, const int *fds, int n)
{
	return send_data_fds(sock, &byte, 1, fds, n);
}

int send_data_fds(int sock, const void *data, size_t len, const int *fds, int n)
{
	char ctl[CMSG_SPACE(sizeof(int) * SYNC_FDS_MAX)] = {0};
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (n > 0) {
		struct cmsghdr *c;
		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int recv_with_fds(int sock, char *byte, int *fds, int n)
{
	int got = recv_data_fds(sock, byte, 1, fds, n);

	if (got >= 0 && got != n) {
		while (got-- > 0)
			close(fds[got]);
		return -1;
	}
	return got < 0 ? -1 : 0;
}

int recv_data_fds(int sock, void *data, size_t len, int *fds, int n)
{
	int got;
	char ctl[CMSG_SPACE(sizeof(int) * SYNC_FDS_MAX)] = {0};
	struct iovec iov = {.iov_base = data, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			   .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	ssize_t r;

	do
		r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)len || (m.msg_flags & MSG_CTRUNC))
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c)
		return 0;
	if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len < CMSG_LEN(0) || (c->cmsg_len - CMSG_LEN(0)) % sizeof(int) ||
	    (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) > (size_t)n)
		return -1;
	got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)got);
	return got;
}

/*
 * `lxt-shim idmap-probe PATH`: can PATH's mount(s) be idmapped? A throwaway
 * user namespace (mapping only nobody) is made in a child, PATH cloned and
 * idmapped to it, then everything is dropped. Prints `ok` or an error line.
 */
/*
 * A detached copy of SRC idmapped to a throwaway user namespace with P's
 * maps (made in a child, dropped once the copy is made): the ids a user
 * namespace with those maps sees through it are the container's. The fd,
 * or -1 with the error reported.
 */
static int idmapped_with_maps(const struct plan *p, const char *src)
{
	char b = 0, path[64];
	int sv[2], fd = -1, st, userns;
	pid_t c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fail("idmap", "socketpair", NULL, errno);
	c = fork();
	if (c == 0) {
		close(sv[0]);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		/* Tell the parent, then wait for it to close its end. */
		(void)!write(sv[1], "u", 1);
		(void)!read(sv[1], &b, 1);
		_exit(0);
	}
	close(sv[1]);
	if (c < 0) {
		close(sv[0]);
		return fail("idmap", "fork", NULL, errno);
	}
	if (read(sv[0], &b, 1) != 1) {
		fail("idmap", "unshare", NULL, EPERM);
	} else if (idmap_write_maps(c, p) == 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)c);
		userns = open(path, O_RDONLY | O_CLOEXEC);
		if (userns < 0) {
			fail("idmap", "open", path, errno);
		} else {
			fd = idmapped_tree(src, userns, true);
			close(userns);
		}
	}
	close(sv[0]);
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	return fd;
}

int idmap_mount_with_maps(const struct plan *p, const char *src, const char *dst)
{
	int fd = idmapped_with_maps(p, src), rc = 0;

	if (fd < 0)
		return -1;
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		rc = fail("idmap", "move_mount", dst, errno);
	close(fd);
	return rc;
}

/*
 * `lxt-shim idmap-probe PATH`: can PATH's mount(s) be idmapped? A throwaway
 * user namespace (mapping only nobody) is made in a child, PATH cloned and
 * idmapped to it, then everything is dropped. Prints `ok` or an error line.
 */
int idmap_probe_main(int argc, char **argv)
{
	struct plan p = {.nidmap = 2,
			 .idmap = {{'u', 0, 65534, 1}, {'g', 0, 65534, 1}}};
	char line[700];
	int fd = -1;

	if (argc != 1 || argv[0][0] != '/')
		fail("idmap", "usage", NULL, EINVAL);
	else
		fd = idmapped_with_maps(&p, argv[0]);
	if (fd >= 0) {
		close(fd);
		puts("ok");
		return 0;
	}
	format_error(line, sizeof(line));
	fputs(line, stdout);
	return 1;
}

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/*
 * Whether this process runs from a sealed copy, asked of the kernel, never
 * of the environment (which whoever runs lxt controls): /proc/self/exe is
 * then a memfd that carries every seal reexec_sealed sets, so nothing can
 * write the image (F_GET_SEALS fails with EINVAL on any other file).
 */
bool running_sealed(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int seals = fd < 0 ? -1 : fcntl(fd, F_GET_SEALS);

	if (fd >= 0)
		close(fd);
	return seals >= 0 && (seals & SEALS) == SEALS;
}

/*
 * Re-executes the helper from a sealed memfd copy of itself (as runc does),
 * for a privileged container whose pid 1 stays the helper (`init-shim`): its
 * /proc/1/exe is then that copy, which nothing can write (CVE-2019-5736).
 * Returns only on failure.
 */
int reexec_sealed(char **argv)
{
	extern char **environ;
	struct stat st;
	int src, fd;
	off_t off = 0;

	src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return fail("monitor", "open", "/proc/self/exe", errno);
	fd = memfd_create("lxt-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || fstat(src, &st) < 0) {
		close(src);
		return fail("monitor", "memfd_create", NULL, errno);
	}
	while (off < st.st_size)
		if (sendfile(fd, src, &off, (size_t)(st.st_size - off)) <= 0) {
			close(src);
			close(fd);
			return fail("monitor", "sendfile", "/proc/self/exe", errno ? errno : EIO);
		}
	close(src);
	if (fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
		close(fd);
		return fail("monitor", "seal", NULL, errno);
	}
	fexecve(fd, argv, environ);
	close(fd);
	return fail("monitor", "fexecve", NULL, errno);
}
