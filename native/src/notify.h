/* Seccomp user notifications forwarded to a proxy, in LXC's format (notify.c). */
#ifndef LXT_NOTIFY_H
#define LXT_NOTIFY_H

#include <stddef.h>
#include <sys/types.h>

/* Monitor, before the clone: connects to the proxy at ADDR ("/path" or
 * "@abstract") and sizes the buffers; COOKIE (may be "") goes with each
 * notification. */
int notify_connect(const char *addr, const char *cookie);

/* Monitor: recv_msg() on the child's sync socket that also takes the
 * child's seccomp listener ("N" with an fd) into *listener. */
ssize_t notify_recv_sync(int sock, char *buf, size_t cap, int *listener);

/* Monitor: one notification from LISTENER, forwarded and answered. */
int notify_handle(int listener, pid_t monitor, pid_t init);

#endif
