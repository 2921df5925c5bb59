/* The launch plan (docs/helper-protocol.md, version 1), decoded and validated. */
#ifndef LXT_PLAN_H
#define LXT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "confine.h"
#include "hooks.h"
#include "nsopts.h"

enum rec_op {
	REC_ROOTFS,
	REC_HOSTNAME,
	REC_MOUNT,
	REC_MKDIR,
	REC_MKNOD,
	REC_SYMLINK,
	REC_PIVOT,
	REC_SYSCTL,
	REC_RLIMIT,
	REC_HOOK,               /* lxc-hook pre-mount|mount|autodev: flags is the type */
};

#define MOUNT_OPT_OPTIONAL 1
#define MOUNT_OPT_CREATE_DIR 2
#define MOUNT_OPT_CREATE_FILE 4
#define MOUNT_OPT_SRC_IN_ROOT 8
#define MOUNT_OPT_IDMAPPED 16     /* a bind of a tree the monitor idmaps; f[4] names the user namespace */

/* Child records that must run in plan order. Numeric fields are pre-parsed
 * so the child never sees a value the parser did not check. */
struct rec {
	enum rec_op op;
	int line;
	char **f;               /* decoded fields, f[0] is the first after op */
	unsigned long flags;    /* mount FLAGS / mknod MODE / mkdir MODE / rlimit RESOURCE */
	unsigned long remount;  /* mount REMOUNT */
	unsigned long long a, b; /* mknod MAJOR MINOR / rlimit SOFT HARD */
	int opts;               /* mount OPTS */
};

/* How many records of a kind a plan may hold (plan.c, docs/helper-protocol.md).
 * IDMAP_MAX bounds `idmap` lines, and `idmapped-mount` records with
 * `idmapped` mounts together: their fds travel in one fixed SCM_RIGHTS array. PLAN_MAX_TTYS leaves pty 0 to
 * the console within the monitor's 64 ptys. */
#define IDMAP_MAX 64
/* The fds sent with the release byte: the idmapped mounts, then the block-mount's. */
#define SYNC_FDS_MAX (IDMAP_MAX + 1)
#define PLAN_MAX_TTYS 63
#define PLAN_MAX_CGROUPS 64
#define PLAN_MAX_RECS 4096      /* each child record op: mount, mkdir, mknod, ... */
#define PLAN_MAX_ENV 4096
#define PLAN_MAX_RULES 8192     /* seccomp-rule */
#define PLAN_MAX_HOOKS 256      /* host-hook, stop-hook, each */
#define PLAN_MAX_NETS 4096
#define PLAN_MAX_NETDEVS 1024
#define PLAN_MAX_OPTS 512       /* opt */

/* The `block-mount` record: a rootfs on a block device (blockdev.c). */
struct block_mount {
	bool loop;              /* SOURCE is an image to attach to a loop device */
	char *source;
	char *fstype;
	char *target;
	unsigned long flags;    /* MS_* per-mount flags (MS_RDONLY: the superblock too) */
	char *data;             /* filesystem options, a comma list ("" for none) */
};

/* One uid_map / gid_map line. */
struct idmap_line {
	char kind;              /* 'u' or 'g' */
	unsigned int ns, host, count;
};

struct plan_mem;

struct plan {
	const char *file;
	struct plan_mem *mem;   /* everything the plan allocated (plan_free) */
	char *name;
	char *runtime;
	char *exit_file;
	char *cgroup2;
	char **cgroup1;
	int ncgroup1;
	char **cgroup_kill;
	int ncgroup_kill;
	/* Where the monitor moves itself before anything else, one per hierarchy. */
	char **monitor_cgroup;
	int nmonitor_cgroup;
	/* Where the monitor moves itself at the end (lxc.cgroup.dir.monitor.pivot),
	 * so that its own cgroups can be removed. */
	char **monitor_pivot;
	int nmonitor_pivot;
	int clone_flags;
	bool ns_cgroup;
	char *console;          /* pty 0 target or NULL */
	char **ttys;            /* pty 1.. targets */
	int nttys;
	char *console_log;
	long long console_buffer;   /* ring buffer bytes, 0: none (lxc.console.buffer.size) */
	long long console_log_size; /* console_log's limit, 0: the default (lxc.console.size) */
	bool console_log_rotate;    /* at the limit: PATH -> PATH.1 rather than truncated */
	char *console_path;         /* a host terminal relayed to and from the console (lxc.console.path) */
	bool stdio_null;
	bool foreground;
	bool init_shim;
	char ***hooks;          /* host-hook argvs, each NULL-terminated, in plan order */
	int nhooks;
	char ***stop_hooks;     /* stop-hook argvs, run after the init ended */
	int nstop_hooks;
	char ***exit_hooks;     /* exit-hook argvs, the monitor's last step after the init ended */
	int nexit_hooks;
	/* lxc-hook argvs per type (enum hook_when), in plan order, and each
	 * type's environment (lxc-hook-env); hook_log gets their output. */
	char ***lxc_hooks[HOOK__COUNT];
	int nlxc_hooks[HOOK__COUNT];
	char **hook_env[HOOK__COUNT];
	int nhook_env[HOOK__COUNT];
	char *hook_log;
	char ***nets;           /* net records (verb first), each NULL-terminated, in plan order */
	int nnets;
	char **netdevs;         /* netdev host interface names */
	int nnetdevs;
	struct idmap_line idmap[IDMAP_MAX]; /* with "user" in namespaces */
	int nidmap;
	char **idmapped;        /* idmapped-mount host paths, in plan order */
	int nidmapped;
	struct block_mount *block; /* block-mount, or NULL */
	int nidmap_binds;       /* mount records with MOUNT_OPT_IDMAPPED */

	struct rec *recs;
	int nrecs;
	char **env;             /* NULL-terminated */
	int nenv;
	char **argv;            /* NULL-terminated */
	char *cwd;
	bool has_uid, has_gid;
	unsigned int uid, gid;
	struct confinement conf; /* caps, no-new-privs, seccomp records */
	struct nsopts opts;     /* opt records (nsopts.c) */
	/* criu-restore: the init comes from `criu restore` (restore.c), not a clone. */
	char *restore_pidfile;
	char **restore_argv;    /* NULL-terminated */
};

/* Reads and validates PATH; on failure the error record names the line. */
int plan_load(const char *path, struct plan *p);
/* Validates LEN bytes of plan text (NAME for errors) into p, as plan_load. */
int plan_parse(struct plan *p, const char *name, const char *data, size_t len);
/* Releases everything plan_parse allocated, also after a failed parse. */
void plan_free(struct plan *p);

/* netlink.c: an interface name as the kernel accepts it (dev_valid_name):
 * 1-15 bytes, not "." or "..", no '/', ':' or whitespace. */
bool valid_ifname(const char *name);
/* netlink.c: checks one `net` record (f[0] the verb, n fields); -1 if malformed. */
int net_parse(char **f, int n);
/* Runs the plan's `net` records for the cloned child; -1 with the error record set. */
int net_run(const struct plan *p, pid_t child);
/* After a restore (restore.c), where CRIU made the NICs from the plan's
 * `net veth` records' names: notes their host ends, and keeps the init's
 * namespace, for net_undo as if net_run had made them. */
int net_adopt(const struct plan *p, pid_t init);
/* Deletes what net_run made (veths with their peers, macvlans) and moves
 * phys devices still inside back, synchronously; closes its sockets. */
void net_undo(void);

#endif
