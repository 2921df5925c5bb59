/*
 * Seccomp user notifications forwarded to a proxy (lxc.seccomp.notify.proxy),
 * in LXC's wire format (its struct seccomp_notify_proxy_msg): for each
 * notification the monitor sends the proxy one SOCK_SEQPACKET message of
 *
 *   struct { u64 reserved; pid_t monitor_pid, init_pid;
 *            struct seccomp_notif_sizes sizes; u64 cookie_len; }
 *   struct seccomp_notif, struct seccomp_notif_resp, the cookie's bytes
 *
 * with three fds (SCM_RIGHTS): /proc/PID of the caller, its /proc/PID/mem
 * (opened read-write, checked still to be that caller's), and the listener;
 * the proxy answers with the header, request and response (without the
 * cookie), and the monitor hands the response to the kernel. When the proxy
 * cannot be reached or answers wrongly, the syscall fails with ENOSYS, as
 * in LXC.
 */
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

struct proxy_msg {
	uint64_t reserved;
	pid_t monitor_pid;
	pid_t init_pid;
	struct seccomp_notif_sizes sizes;
	uint64_t cookie_len;
};

static struct {
	int sock;
	const char *cookie;
	struct seccomp_notif_sizes sizes;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
} P = {.sock = -1};

int notify_connect(const char *addr, const char *cookie)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 30};
	size_t len = strlen(addr);
	socklen_t salen;

	if (len >= sizeof(sa.sun_path))
		return fail("seccomp-notify", "connect", addr, ENAMETOOLONG);
	/* "@NAME" is an abstract socket: a NUL first, no NUL after. */
	memcpy(sa.sun_path, addr, len);
	if (addr[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (addr[0] == '@' ? 0 : 1));
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &P.sizes) < 0)
		return fail("seccomp-notify", "sizes", NULL, errno);
	P.req = xcalloc(1, P.sizes.seccomp_notif);
	P.resp = xcalloc(1, P.sizes.seccomp_notif_resp);
	P.cookie = cookie;
	P.sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (P.sock < 0)
		return fail("seccomp-notify", "socket", addr, errno);
	if (connect(P.sock, (struct sockaddr *)&sa, salen) < 0)
		return fail("seccomp-notify", "connect", addr, errno);
	/* A proxy that hangs holds the caller's syscall, never the monitor. */
	setsockopt(P.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(P.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

ssize_t notify_recv_sync(int sock, char *buf, size_t cap, int *listener)
{
	int resets = 0;

	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = cap};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				   .msg_controllen = sizeof(ctl.b)};
		struct cmsghdr *c;
		ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

		if (n < 0) {
			if (errno == EINTR || (errno == ECONNRESET && resets++ == 0))
				continue;
			return -1;
		}
		c = CMSG_FIRSTHDR(&m);
		/* The child's listener ("N" and its fd), sent after it loaded the
		 * filter; then its exec or its error line follows. */
		if (n == 1 && buf[0] == 'N' && c && c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
			memcpy(listener, CMSG_DATA(c), sizeof(int));
			continue;
		}
		return n;
	}
}

static void answer(int listener, uint64_t id, int error)
{
	memset(P.resp, 0, P.sizes.seccomp_notif_resp);
	P.resp->id = id;
	P.resp->error = error;
	(void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, P.resp);
}

/* Sends one notification to the proxy and reads its answer into P.resp;
 * -1 when the exchange failed (the caller answers ENOSYS). */
static int exchange(int listener, pid_t monitor, pid_t init, int pidfd, int memfd)
{
	struct proxy_msg msg = {.monitor_pid = monitor, .init_pid = init, .sizes = P.sizes};
	size_t cookie_len = P.cookie ? strlen(P.cookie) : 0;
	struct iovec iov[4] = {
		{&msg, sizeof(msg)},
		{P.req, P.sizes.seccomp_notif},
		{P.resp, P.sizes.seccomp_notif_resp},
		{(void *)P.cookie, cookie_len},
	};
	int fds[3] = {pidfd, memfd, listener};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(fds))];
	} ctl;
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = cookie_len ? 4 : 3, .msg_control = ctl.b,
			   .msg_controllen = sizeof(ctl.b)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	size_t base = sizeof(msg) + P.sizes.seccomp_notif + P.sizes.seccomp_notif_resp;
	ssize_t n;

	msg.cookie_len = cookie_len;
	memset(&ctl, 0, sizeof(ctl));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	memset(P.resp, 0, P.sizes.seccomp_notif_resp);
	P.resp->id = P.req->id;
	if (sendmsg(P.sock, &m, MSG_NOSIGNAL) != (ssize_t)(base + cookie_len))
		return -1;
	/* The answer: header, request, response; nothing else. */
	m = (struct msghdr){.msg_iov = iov, .msg_iovlen = 3};
	do
		n = recvmsg(P.sock, &m, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)base || msg.reserved != 0)
		return -1;
	return 0;
}

int notify_handle(int listener, pid_t monitor, pid_t init)
{
	char path[64];
	int pidfd, memfd, rc;
	uint64_t id;

	memset(P.req, 0, P.sizes.seccomp_notif);
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, P.req) < 0)
		return errno == EINTR || errno == ENOENT ? 0 : -1; /* ENOENT: the caller gave up */
	id = P.req->id;
	snprintf(path, sizeof(path), "/proc/%u", P.req->pid);
	pidfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%u/mem", P.req->pid);
	memfd = open(path, O_RDWR | O_CLOEXEC);
	/* The pid may have been reused between RECV and the opens: the id
	 * still being valid says the fds are the caller's (seccomp_unotify(2)). */
	rc = pidfd >= 0 && memfd >= 0 && P.sock >= 0 &&
			     ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0
		     ? exchange(listener, monitor, init, pidfd, memfd)
		     : -1;
	if (pidfd >= 0)
		close(pidfd);
	if (memfd >= 0)
		close(memfd);
	if (rc < 0 || P.resp->id != id) {
		answer(listener, id, -ENOSYS);
		return 0;
	}
	(void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, P.resp);
	return 0;
}
