/*
 * A rootfs on a block device (lxc.rootfs.path = loop:IMAGE or lvm:DEVICE),
 * the `block-mount` record. The monitor attaches an image to a free loop
 * device (LOOP_CONFIGURE with LO_FLAGS_AUTOCLEAR, loop(4)), makes a detached
 * mount of its filesystem (fsopen(2)/fsmount(2): the host's mount table
 * never holds it), idmaps that mount to the child's user namespace when the
 * plan has one, and hands its fd to the child with the release byte; the
 * child moves it onto the rootfs mount point in its own mount namespace.
 *
 * Once the monitor closes its fds, that mount is the loop device's only
 * holder: when the container's mount namespace goes, however the container
 * ends (a SIGKILLed monitor too, whose fds the kernel closes), the device is
 * detached by the kernel. Nothing has to be undone by a process that may
 * not run.
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* LOOP_CTL_GET_FREE hands out a number another process may configure first. */
#define LOOP_TRIES 16

static int loop_attach(const char *image, bool ro, char *dev, size_t cap)
{
	struct loop_config lc = {0};
	int ctl, img, fd = -1;

	img = open(image, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (img < 0)
		return fail("rootfs", "open", image, errno);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		fail("rootfs", "open", "/dev/loop-control", errno);
		close(img);
		return -1;
	}
	lc.fd = (unsigned int)img;
	lc.info.lo_flags = LO_FLAGS_AUTOCLEAR | (ro ? LO_FLAGS_READ_ONLY : 0);
	snprintf((char *)lc.info.lo_file_name, sizeof(lc.info.lo_file_name), "%s", image);
	for (int i = 0; i < LOOP_TRIES; i++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			fail("rootfs", "loop-get-free", "/dev/loop-control", errno);
			break;
		}
		snprintf(dev, cap, "/dev/loop%d", n);
		fd = open(dev, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			fail("rootfs", "open", dev, errno);
			break;
		}
		if (ioctl(fd, LOOP_CONFIGURE, &lc) == 0)
			break;
		if (errno != EBUSY) {
			fail("rootfs", "loop-configure", image, errno);
			close(fd);
			fd = -1;
			break;
		}
		close(fd);
		fd = -1;
		if (i == LOOP_TRIES - 1)
			fail("rootfs", "loop-configure", image, EBUSY);
	}
	close(ctl);
	close(img);
	return fd;
}

/* One `key=value` or `flag` of the record's DATA on the filesystem context. */
static int fs_option(int fsfd, char *opt)
{
	char *eq = strchr(opt, '=');
	int rc;

	if (eq) {
		*eq = '\0';
		rc = (int)syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, opt, eq + 1, 0);
		*eq = '=';
	} else {
		rc = (int)syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
	}
	return rc < 0 ? fail("rootfs", "fs-option", opt, errno) : 0;
}

static unsigned int mount_attrs(unsigned long ms)
{
	unsigned int a = 0;

	a |= ms & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0;
	a |= ms & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0;
	a |= ms & MS_NODEV ? MOUNT_ATTR_NODEV : 0;
	a |= ms & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0;
	a |= ms & MS_NODIRATIME ? MOUNT_ATTR_NODIRATIME : 0;
	if (ms & MS_NOATIME)
		a |= MOUNT_ATTR_NOATIME;
	else if (ms & MS_STRICTATIME)
		a |= MOUNT_ATTR_STRICTATIME;
	return a;
}

/* The filesystem on DEV as a detached mount. */
static int fs_mount(const struct block_mount *b, const char *dev)
{
	char data[4096];
	int fsfd, mfd = -1;

	fsfd = (int)syscall(SYS_fsopen, b->fstype, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return fail("rootfs", "fsopen", b->fstype, errno);
	if (syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "source", dev, 0) < 0) {
		fail("rootfs", "fs-source", dev, errno);
		goto out;
	}
	if ((b->flags & MS_RDONLY) &&
	    syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0) {
		fail("rootfs", "fs-option", "ro", errno);
		goto out;
	}
	snprintf(data, sizeof(data), "%s", b->data);
	for (char *save = NULL, *o = strtok_r(data, ",", &save); o; o = strtok_r(NULL, ",", &save))
		if (fs_option(fsfd, o) < 0)
			goto out;
	/* The superblock: EINVAL when DEV holds no such filesystem. */
	if (syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		fail("rootfs", "fs-create", b->source, errno);
		goto out;
	}
	mfd = (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, mount_attrs(b->flags));
	if (mfd < 0)
		fail("rootfs", "fsmount", b->source, errno);
out:
	close(fsfd);
	return mfd;
}

int block_make_mount(pid_t pid, const struct plan *p, int *out)
{
	const struct block_mount *b = p->block;
	char dev[64], path[64];
	int loopfd = -1, mfd;

	if (b->loop) {
		loopfd = loop_attach(b->source, b->flags & MS_RDONLY, dev, sizeof(dev));
		if (loopfd < 0)
			return -1;
	} else {
		snprintf(dev, sizeof(dev), "%s", b->source);
	}
	mfd = fs_mount(b, b->loop ? dev : b->source);
	/* The superblock holds the device now (or nothing does, and autoclear
	 * detaches it on this close). */
	if (loopfd >= 0)
		close(loopfd);
	if (mfd < 0)
		return -1;
	if (p->nidmap) {
		struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP};
		int userns;

		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		userns = open(path, O_RDONLY | O_CLOEXEC);
		if (userns < 0) {
			close(mfd);
			return fail("rootfs", "open", path, errno);
		}
		a.userns_fd = (uint64_t)userns;
		if (syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
			int e = errno;
			close(userns);
			close(mfd);
			return fail("rootfs", "idmap", b->source, e);
		}
		close(userns);
	}
	*out = mfd;
	return 0;
}

int block_attach_mount(const struct plan *p, int fd)
{
	int rc = (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, p->block->target,
			      MOVE_MOUNT_F_EMPTY_PATH);

	close(fd);
	return rc < 0 ? fail("rootfs", "move_mount", p->block->target, errno) : 0;
}
