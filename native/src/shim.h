/* Entry points of the helper's modes and what they share. */
#ifndef LXT_SHIM_H
#define LXT_SHIM_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

#include "plan.h"

/* One pty the monitor owns. Index 0 is the console (unused without one). */
struct pty {
	int master;
	int slave;             /* kept open so reads never see EIO between users */
	const char *target;    /* path inside the container, NULL if unused */
	char pts[32];          /* host /dev/pts/N of the slave */
};

struct child_ctx {
	const struct plan *p;
	int sync_fd;
	struct pty *ptys;
	int npty;
	/* The v1 cgroups' `tasks` files, opened by the monitor (cgroup1_by_child). */
	const int *cg1_fds;
	int ncg1_fds;
};

/*
 * Whether the child enters its v1 cgroups itself, writing 0 to each `tasks`
 * file through an fd the monitor opened (the kernel checks the opener's
 * credentials): a task moving only itself skips the kernel's global
 * threadgroup lock, whose first take after a quiet spell waits for an RCU
 * grace period (10-100 ms here), where the monitor's write of the child's
 * pid to `cgroup.procs` takes it. Not with shared namespaces (an
 * intermediate clones the init) nor with `host-hook` records (they run
 * before the child's 'n' and see the init already placed).
 */
static inline bool cgroup1_by_child(const struct plan *p)
{
	return p->ncgroup1 > 0 && p->opts.nshare == 0 && p->nhooks == 0;
}

/* The monitor's go-ahead to the child, sent with the idmapped trees' fds:
 * bit K of skipped marks the K-th idmapped bind as not made (optional). */
struct child_go {
	uint64_t skipped;
	char byte;
};

int monitor_main(const char *planfile, char **argv);
int pool_main(int argc, char **argv);
/* restore.c: runs the plan's criu-restore command and adopts the restored init. */
int restore_init(const struct plan *p, const struct pty *ptys, int npty, pid_t *init, int *pidfd,
		 unsigned long long *start);
int attach_main(int argc, char **argv);
/* attach-server.c: `attach-server SOCKET`, a daemon's pre-spawned attach helper. */
int attach_server_main(int argc, char **argv);

/* One record of attach's control fd (docs/helper-protocol.md, Attach). */
enum attach_ctl_kind { CTL_KILL, CTL_SIGNAL, CTL_WINSIZE };
struct attach_ctl {
	enum attach_ctl_kind kind;
	int a, b; /* signal: a; winsize: a = cols, b = rows */
};
/* Parses one record (without its newline; the line is split in place). */
int attach_control_parse(char *line, struct attach_ctl *out);
int lock_main(int argc, char **argv);
int locks_main(int argc, char **argv);
int hold_main(int argc, char **argv);
int sockopt_main(int argc, char **argv);
int devices_main(int argc, char **argv);
int file_main(int argc, char **argv);
/* `lxt metrics` asked of the state root's lxtd, else handed to Node (lxtd-metrics.c). */
int lxtd_metrics_main(int argc, char **argv);

/* The container's first process; never returns. */
_Noreturn void child_main(struct child_ctx *c);

/* cgroup.c: emptying and removing a container's cgroups. */
/* Calls fn for each pid listed in fd (cgroup.procs: one decimal per line),
 * whole lines only; returns how many calls returned 0. */
int procs_each(int fd, int (*fn)(long pid, void *arg), void *arg);
/* Thaws dir and every cgroup below it where a v1 freezer has them. */
void cgroup_thaw(const char *dir);
/* SIGKILLs every task of dir and below (cgroup.kill on v2); returns > 0
 * while tasks may be left (call again until 0). Thaw every hierarchy
 * first: a task frozen in the v1 freezer ignores SIGKILL from any. */
int cgroup_kill(const char *dir);
/* rmdir dir and every cgroup below it, depth-first. */
void cgroup_remove(const char *dir);

/* relay.c: non-blocking byte relays (see relay.c). */
struct relay {
	int from, to;
	bool eof;    /* the source has ended */
	bool done;   /* ... and all of it went through: `to` was shut */
	bool broken; /* `to` refused a write: the rest is dropped */
	size_t off, len;
	char buf[16384];
};
void relay_init(struct relay *r, int from, int to);
/* The poll entries for r: its source while the buffer is empty, its
 * destination while it holds bytes (fd -1 when not wanted). */
void relay_poll(const struct relay *r, struct pollfd *in, struct pollfd *out);
/* Moves what can move now without blocking. */
void relay_step(struct relay *r);

/* pty.c */
int pty_alloc(struct pty *t);
int tty_make_raw(int fd, struct termios *saved);
void tty_copy_winsize(int from, int to);
int tty_set_winsize(int fd, unsigned short cols, unsigned short rows);

/* idmap.c: user namespace maps and idmapped mounts (docs/helper-protocol.md). */
int idmap_write_maps(pid_t pid, const struct plan *p);
int idmap_host_root(const struct plan *p, char kind, unsigned int *out);
/* The idmapped-mount trees, then each idmapped bind's (plan order), into
 * fds; an optional bind that failed is left out and its bit (counting
 * binds) set in *skipped. Returns how many fds, or -1. */
int idmap_make_mounts(pid_t pid, const struct plan *p, int *fds, uint64_t *skipped);
int idmap_attach_mounts(const struct plan *p, const int *fds);
/* SRC idmapped with P's maps (a throwaway user namespace), mounted on DST. */
int idmap_mount_with_maps(const struct plan *p, const char *src, const char *dst);
int idmap_probe_main(int argc, char **argv);
/* blockdev.c: a rootfs on a block device (the block-mount record). */
int block_make_mount(pid_t pid, const struct plan *p, int *out);
int block_attach_mount(const struct plan *p, int fd);
int reexec_sealed(char **argv);
bool running_sealed(void);
/* shift.c: `lxt-shim shift` (rootfs ownership shifting). */
int shift_main(int argc, char **argv);
#define SHIFT_MAP_MAX 64
/* A map argument of `shift`: `none`, or u:NSID:HOSTID:COUNT / g:... lines. */
struct shift_map {
	int n;
	bool identity;
	struct idmap_line l[SHIFT_MAP_MAX];
};
int shift_parse_map(const char *s, struct shift_map *m);

/* devices.c: one rule of the v2 device program, TYPE:MAJOR:MINOR:ACCESS. */
struct dev_rule {
	int type;               /* BPF_DEVCG_DEV_CHAR, BPF_DEVCG_DEV_BLOCK, or 0 for any */
	long long major, minor; /* -1 for a wildcard */
	int access;             /* BPF_DEVCG_ACC_* bits */
};
int devices_parse_rule(const char *text, struct dev_rule *r);
/* One byte plus n fds (SCM_RIGHTS) over a socket; -1 on any mismatch. */
int send_with_fds(int sock, char byte, const int *fds, int n);
int recv_with_fds(int sock, char *byte, int *fds, int n);
int send_data_fds(int sock, const void *data, size_t len, const int *fds, int n);
/* LEN bytes plus up to n fds: how many came, or -1. */
int recv_data_fds(int sock, void *data, size_t len, int *fds, int n);

/* Send the current error record over fd as an error line. */
void send_error(int fd);

#endif
