/*
 * Plan parser. The plan is written by TypeScript; anything this file does not
 * understand exactly is an error, so the two sides cannot silently disagree.
 */
#include "plan.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLAN_MAX_BYTES (1 << 20)
#define FIELD_MAX 131072 /* MAX_ARG_STRLEN: longer could never be exec'd */

struct op_desc {
	const char *name;
	int min, max; /* field counts */
	bool once;
	bool child;   /* needs a preceding rootfs when it touches paths */
};

enum {
	OP_NAME, OP_RUNTIME, OP_EXIT_FILE, OP_CGROUP2, OP_CGROUP1, OP_CGROUP_KILL,
	OP_NAMESPACES, OP_CONSOLE, OP_TTY, OP_CONSOLE_LOG, OP_STDIO, OP_FOREGROUND,
	OP_INIT_SHIM, OP_ROOTFS, OP_HOSTNAME, OP_MOUNT, OP_MKDIR, OP_MKNOD,
	OP_SYMLINK, OP_PIVOT, OP_SYSCTL, OP_RLIMIT, OP_CWD, OP_GID, OP_UID, OP_ENV,
	OP_EXEC, OP_CAPS, OP_NO_NEW_PRIVS, OP_SECCOMP, OP_SECCOMP_RULE, OP_APPARMOR, OP_HOST_HOOK, OP_NET, OP_NETDEV,
	OP_STOP_HOOK, OP_IDMAP, OP_IDMAPPED_MOUNT, OP_EXIT_HOOK, OP_MONITOR_CGROUP, OP_MONITOR_PIVOT,
	OP_LXC_HOOK, OP_LXC_HOOK_ENV, OP_HOOK_LOG, OP_OPT,
	OP_CONSOLE_BUFFER, OP_CONSOLE_LOG_SIZE, OP_CONSOLE_LOG_ROTATE, OP_CONSOLE_PATH, OP_CRIU_RESTORE,
	OP_BLOCK_MOUNT, OP__COUNT
};

static const struct op_desc ops[OP__COUNT] = {
	[OP_NAME] = {"name", 1, 1, true, false},
	[OP_RUNTIME] = {"runtime", 1, 1, true, false},
	[OP_EXIT_FILE] = {"exit-file", 1, 1, true, false},
	[OP_CGROUP2] = {"cgroup2", 1, 1, true, false},
	[OP_CGROUP1] = {"cgroup1", 1, 1, false, false},
	[OP_CGROUP_KILL] = {"cgroup-kill", 1, 1, false, false},
	[OP_NAMESPACES] = {"namespaces", 1, 1, true, false},
	[OP_CONSOLE] = {"console", 1, 1, true, false},
	[OP_TTY] = {"tty", 1, 1, false, false},
	[OP_CONSOLE_LOG] = {"console-log", 1, 1, true, false},
	[OP_CONSOLE_BUFFER] = {"console-buffer", 1, 1, true, false},
	[OP_CONSOLE_LOG_SIZE] = {"console-log-size", 1, 1, true, false},
	[OP_CONSOLE_LOG_ROTATE] = {"console-log-rotate", 1, 1, true, false},
	[OP_CONSOLE_PATH] = {"console-path", 1, 1, true, false},
	[OP_STDIO] = {"stdio", 1, 1, true, false},
	[OP_FOREGROUND] = {"foreground", 1, 1, true, false},
	[OP_INIT_SHIM] = {"init-shim", 1, 1, true, false},
	[OP_ROOTFS] = {"rootfs", 1, 2, true, false},
	[OP_BLOCK_MOUNT] = {"block-mount", 6, 6, true, false},
	[OP_HOSTNAME] = {"hostname", 1, 1, true, false},
	[OP_MOUNT] = {"mount", 7, 7, false, true},
	[OP_MKDIR] = {"mkdir", 2, 2, false, true},
	[OP_MKNOD] = {"mknod", 5, 5, false, true},
	[OP_SYMLINK] = {"symlink", 2, 2, false, true},
	[OP_PIVOT] = {"pivot", 0, 0, true, true},
	[OP_SYSCTL] = {"sysctl", 2, 2, false, false},
	[OP_RLIMIT] = {"rlimit", 3, 3, false, false},
	[OP_CWD] = {"cwd", 1, 1, true, false},
	[OP_GID] = {"gid", 1, 1, true, false},
	[OP_UID] = {"uid", 1, 1, true, false},
	[OP_ENV] = {"env", 1, 1, false, false},
	[OP_EXEC] = {"exec", 1, 4096, true, false},
	[OP_CAPS] = {"caps", 1, 1, true, false},
	[OP_NO_NEW_PRIVS] = {"no-new-privs", 1, 1, true, false},
	[OP_SECCOMP] = {"seccomp", 2, 2, true, false},
	[OP_SECCOMP_RULE] = {"seccomp-rule", 3, 3 + CONF_MAX_CMPS, false, false},
	[OP_APPARMOR] = {"apparmor", 1, 1, true, false},
	[OP_HOST_HOOK] = {"host-hook", 1, 64, false, false},
	[OP_NET] = {"net", 2, 8, false, false},
	[OP_NETDEV] = {"netdev", 1, 1, false, false},
	[OP_STOP_HOOK] = {"stop-hook", 1, 64, false, false},
	[OP_IDMAP] = {"idmap", 4, 4, false, false},
	[OP_IDMAPPED_MOUNT] = {"idmapped-mount", 1, 1, false, false},
	[OP_EXIT_HOOK] = {"exit-hook", 1, 64, false, false},
	[OP_MONITOR_CGROUP] = {"monitor-cgroup", 1, 1, false, false},
	[OP_MONITOR_PIVOT] = {"monitor-pivot", 1, 1, false, false},
	[OP_LXC_HOOK] = {"lxc-hook", 2, 65, false, false},
	[OP_LXC_HOOK_ENV] = {"lxc-hook-env", 2, 2, false, false},
	[OP_HOOK_LOG] = {"hook-log", 1, 1, true, false},
	[OP_OPT] = {"opt", 2, 5, false, false},
	[OP_CRIU_RESTORE] = {"criu-restore", 2, 256, true, false},
};

/* How many records of each op a plan may hold; `once` ops hold one. The
 * limits keep the fixed arrays they fill (ptys, idmap lines, idmapped mount
 * fds) from overflowing and every list short; each is far above what lxt
 * writes. An op missing here refuses its first record. */
static const int limits[OP__COUNT] = {
	[OP_CGROUP1] = PLAN_MAX_CGROUPS,
	[OP_CGROUP_KILL] = PLAN_MAX_CGROUPS,
	[OP_MONITOR_CGROUP] = PLAN_MAX_CGROUPS,
	[OP_MONITOR_PIVOT] = PLAN_MAX_CGROUPS,
	[OP_TTY] = PLAN_MAX_TTYS,
	[OP_MOUNT] = PLAN_MAX_RECS,
	[OP_MKDIR] = PLAN_MAX_RECS,
	[OP_MKNOD] = PLAN_MAX_RECS,
	[OP_SYMLINK] = PLAN_MAX_RECS,
	[OP_SYSCTL] = PLAN_MAX_RECS,
	[OP_RLIMIT] = PLAN_MAX_RECS,
	[OP_ENV] = PLAN_MAX_ENV,
	[OP_SECCOMP_RULE] = PLAN_MAX_RULES,
	[OP_HOST_HOOK] = PLAN_MAX_HOOKS,
	[OP_STOP_HOOK] = PLAN_MAX_HOOKS,
	[OP_EXIT_HOOK] = PLAN_MAX_HOOKS,
	[OP_LXC_HOOK] = PLAN_MAX_HOOKS,
	[OP_LXC_HOOK_ENV] = PLAN_MAX_ENV,
	[OP_NET] = PLAN_MAX_NETS,
	[OP_NETDEV] = PLAN_MAX_NETDEVS,
	[OP_IDMAP] = IDMAP_MAX,
	[OP_IDMAPPED_MOUNT] = IDMAP_MAX,
	[OP_OPT] = PLAN_MAX_OPTS,
};

struct parser {
	struct plan *p;
	const char *op;
	char where[64];
	int line;
	int seen[OP__COUNT];
	bool pivoted;
	int host_mounts;
	bool idmap_container;   /* an idmapped bind to the container's own user namespace */
	int cap_recs, cap_env, cap_cg1, cap_kill, cap_mon, cap_pivot, cap_tty, cap_hooks, cap_nets, cap_netdevs, cap_idm, cap_stop_hooks, cap_exit_hooks;
	int cap_lxc_hooks[HOOK__COUNT], cap_hook_env[HOOK__COUNT];
};

static int bad(struct parser *ps, const char *op, int err)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s:%d", ps->p->file, ps->line);
	return fail("plan", op ? op : ps->op, path, err);
}

/* One allocation of a plan: all of them hang on one list, for plan_free. */
struct plan_mem {
	struct plan_mem *next;
	max_align_t data[];
};

static void *palloc(struct plan *p, size_t n, size_t size)
{
	struct plan_mem *m = xcalloc(1, sizeof(*m) + n * size);

	m->next = p->mem;
	p->mem = m;
	return m->data;
}

void plan_free(struct plan *p)
{
	for (struct plan_mem *m = p->mem, *next; m; m = next) {
		next = m->next;
		free(m);
	}
	free(p->conf.rules);
	memset(p, 0, sizeof(*p));
}

/* Grown lists leave their old arrays on the plan's list: at most double. */
static void push(struct plan *p, char ***arr, int *n, int *cap, char *v)
{
	if (*n + 2 > *cap) {
		int ncap = *cap ? *cap * 2 : 8;
		char **na = palloc(p, (size_t)ncap, sizeof(char *));
		if (*arr)
			memcpy(na, *arr, (size_t)*n * sizeof(char *));
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = v;
	(*arr)[*n] = NULL;
}

/* Appends one NULL-terminated argv to a list of argvs. */
static void push_argv(struct plan *p, char ****arr, int *n, int *cap, char **argv)
{
	if (*n + 2 > *cap) {
		int ncap = *cap ? *cap * 2 : 8;
		char ***na = palloc(p, (size_t)ncap, sizeof(char **));
		if (*arr)
			memcpy(na, *arr, (size_t)*n * sizeof(char **));
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = argv;
}

static int check_abs(struct parser *ps, const char *path)
{
	if (path[0] != '/' || strlen(path) >= PATH_MAX)
		return bad(ps, NULL, EINVAL);
	return 0;
}

/* The per-mount flags a `rootfs` or `block-mount` record may set. */
#define ROOTFS_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | \
		      MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)

/* block-mount KIND SOURCE FSTYPE TARGET FLAGS DATA */
static int parse_block_mount(struct parser *ps, char **f)
{
	struct block_mount *b = palloc(ps->p, 1, sizeof(*b));
	unsigned long long u;

	if (strcmp(f[0], "loop") && strcmp(f[0], "dev"))
		return bad(ps, NULL, EINVAL);
	b->loop = strcmp(f[0], "loop") == 0;
	b->source = f[1];
	b->fstype = f[2];
	b->target = f[3];
	if (parse_ull(f[4], 10, &u) < 0 || u & ~ROOTFS_FLAGS || !*f[2] || strlen(f[5]) >= 4096)
		return bad(ps, NULL, EINVAL);
	b->flags = (unsigned long)u;
	b->data = f[5];
	ps->p->block = b;
	return check_abs(ps, f[1]) < 0 ? -1 : check_abs(ps, f[3]);
}

static int parse_bool(struct parser *ps, const char *s, bool *out)
{
	if (strcmp(s, "0") && strcmp(s, "1"))
		return bad(ps, NULL, EINVAL);
	*out = s[0] == '1';
	return 0;
}

static int parse_namespaces(struct parser *ps, char *list)
{
	static const struct { const char *name; int flag; } ns[] = {
		{"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}, {"uts", CLONE_NEWUTS},
		{"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET}, {"cgroup", 0},
		{"user", CLONE_NEWUSER},
	};
	char *items[16];
	int n;

	if (!*list)
		return 0;
	if ((n = split_list(list, ',', items, 16)) < 0)
		return bad(ps, NULL, EINVAL);
	for (int k = 0; k < n; k++) {
		const char *tok = items[k];
		size_t i;
		for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			if (strcmp(tok, ns[i].name) == 0)
				break;
		if (i == sizeof(ns) / sizeof(ns[0]))
			return bad(ps, NULL, EINVAL);
		if (ns[i].flag)
			ps->p->clone_flags |= ns[i].flag;
		else
			ps->p->ns_cgroup = true;
	}
	return 0;
}

static int parse_mount_opts(struct parser *ps, char *list, int *out)
{
	char *items[8];
	int n;

	*out = 0;
	if (!*list)
		return 0;
	if ((n = split_list(list, ',', items, 8)) < 0)
		return bad(ps, NULL, EINVAL);
	for (int k = 0; k < n; k++) {
		const char *tok = items[k];
		if (strcmp(tok, "optional") == 0)
			*out |= MOUNT_OPT_OPTIONAL;
		else if (strcmp(tok, "create-dir") == 0)
			*out |= MOUNT_OPT_CREATE_DIR;
		else if (strcmp(tok, "create-file") == 0)
			*out |= MOUNT_OPT_CREATE_FILE;
		else if (strcmp(tok, "src-in-root") == 0)
			*out |= MOUNT_OPT_SRC_IN_ROOT;
		else if (strcmp(tok, "idmapped") == 0)
			*out |= MOUNT_OPT_IDMAPPED;
		else
			return bad(ps, NULL, EINVAL);
	}
	if ((*out & MOUNT_OPT_CREATE_DIR) && (*out & MOUNT_OPT_CREATE_FILE))
		return bad(ps, NULL, EINVAL);
	return 0;
}

/* An idmapped bind: a host source cloned by the monitor (so neither
 * src-in-root nor a filesystem), DATA the user namespace: `container` or
 * an nsfs path. Its fd shares the SCM_RIGHTS array with idmapped-mount's. */
static int parse_idmapped_bind(struct parser *ps, const struct rec *r)
{
	if (!(r->flags & MS_BIND) || (r->opts & MOUNT_OPT_SRC_IN_ROOT) || *r->f[2] ||
	    ++ps->p->nidmap_binds + ps->p->nidmapped > IDMAP_MAX)
		return bad(ps, NULL, EINVAL);
	if (strcmp(r->f[4], "container") == 0) {
		ps->idmap_container = true;
		return 0;
	}
	return check_abs(ps, r->f[4]);
}

static int parse_ifname(struct parser *ps, const char *name)
{
	return valid_ifname(name) ? 0 : bad(ps, NULL, EINVAL);
}

static int parse_sysctl_key(struct parser *ps, const char *key)
{
	const char *c = key;

	/* Each component must be a plain name: no way out of /proc/sys. */
	for (;;) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return bad(ps, NULL, EINVAL);
		if (!c[len])
			return 0;
		c += len + 1;
	}
}

/* "u|g NSID HOSTID COUNT": one line of uid_map or gid_map (user_namespaces(7):
 * at most 340 lines each, no overflow of either range). */
static int parse_idmap(struct parser *ps, char **f)
{
	struct plan *p = ps->p;
	unsigned long long v[3];
	struct idmap_line *m;

	if (strcmp(f[0], "u") && strcmp(f[0], "g"))
		return bad(ps, NULL, EINVAL);
	for (int i = 0; i < 3; i++)
		if (parse_ull(f[i + 1], 10, &v[i]) < 0 || v[i] > UINT32_MAX)
			return bad(ps, NULL, EINVAL);
	if (v[2] == 0 || v[0] + v[2] > UINT32_MAX || v[1] + v[2] > UINT32_MAX)
		return bad(ps, NULL, EINVAL);
	m = &p->idmap[p->nidmap++];
	m->kind = f[0][0];
	m->ns = (unsigned int)v[0];
	m->host = (unsigned int)v[1];
	m->count = (unsigned int)v[2];
	return 0;
}

static struct rec *new_rec(struct parser *ps, enum rec_op op, char **f)
{
	struct plan *p = ps->p;
	struct rec *r;

	if (p->nrecs == ps->cap_recs) {
		int ncap = ps->cap_recs ? ps->cap_recs * 2 : 16;
		struct rec *nr = palloc(p, (size_t)ncap, sizeof(*nr));
		if (p->recs)
			memcpy(nr, p->recs, (size_t)p->nrecs * sizeof(*nr));
		p->recs = nr;
		ps->cap_recs = ncap;
	}
	r = &p->recs[p->nrecs++];
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->line = ps->line;
	r->f = f;
	return r;
}

static int parse_record(struct parser *ps, int op, char **f, int n)
{
	struct plan *p = ps->p;
	unsigned long long u;
	long long v;
	struct rec *r;

	switch (op) {
	case OP_NAME:
		if (!*f[0])
			return bad(ps, NULL, EINVAL);
		p->name = f[0];
		return 0;
	case OP_RUNTIME:
		p->runtime = f[0];
		return check_abs(ps, f[0]);
	case OP_EXIT_FILE:
		p->exit_file = f[0];
		return check_abs(ps, f[0]);
	case OP_CGROUP2:
		p->cgroup2 = f[0];
		return check_abs(ps, f[0]);
	case OP_CGROUP1:
		push(p, &p->cgroup1, &p->ncgroup1, &ps->cap_cg1, f[0]);
		return check_abs(ps, f[0]);
	case OP_CGROUP_KILL:
		push(p, &p->cgroup_kill, &p->ncgroup_kill, &ps->cap_kill, f[0]);
		return check_abs(ps, f[0]);
	case OP_MONITOR_CGROUP:
		push(p, &p->monitor_cgroup, &p->nmonitor_cgroup, &ps->cap_mon, f[0]);
		return check_abs(ps, f[0]);
	case OP_MONITOR_PIVOT:
		push(p, &p->monitor_pivot, &p->nmonitor_pivot, &ps->cap_pivot, f[0]);
		return check_abs(ps, f[0]);
	case OP_NAMESPACES:
		return parse_namespaces(ps, f[0]);
	case OP_CONSOLE:
		p->console = f[0];
		return check_abs(ps, f[0]);
	case OP_TTY:
		push(p, &p->ttys, &p->nttys, &ps->cap_tty, f[0]);
		return check_abs(ps, f[0]);
	case OP_CONSOLE_LOG:
		p->console_log = f[0];
		return check_abs(ps, f[0]);
	case OP_CONSOLE_BUFFER:
	case OP_CONSOLE_LOG_SIZE:
		/* A page up to 1 GiB: LXC's floor; the ceiling keeps a typo from taking the host's RAM. */
		if (parse_ll(f[0], 4096, 1LL << 30, &v) < 0)
			return bad(ps, NULL, EINVAL);
		*(op == OP_CONSOLE_BUFFER ? &p->console_buffer : &p->console_log_size) = v;
		return 0;
	case OP_CONSOLE_LOG_ROTATE:
		return parse_bool(ps, f[0], &p->console_log_rotate);
	case OP_CONSOLE_PATH:
		p->console_path = f[0];
		return check_abs(ps, f[0]);
	case OP_STDIO:
		if (strcmp(f[0], "inherit") && strcmp(f[0], "null"))
			return bad(ps, NULL, EINVAL);
		p->stdio_null = strcmp(f[0], "null") == 0;
		return 0;
	case OP_FOREGROUND:
		return parse_bool(ps, f[0], &p->foreground);
	case OP_INIT_SHIM:
		return parse_bool(ps, f[0], &p->init_shim);
	case OP_ROOTFS:
		r = new_rec(ps, REC_ROOTFS, f);
		if (n > 1) {
			if (parse_ull(f[1], 10, &u) < 0 || u & ~ROOTFS_FLAGS)
				return bad(ps, NULL, EINVAL);
			r->flags = (unsigned long)u;
		}
		return check_abs(ps, f[0]);
	case OP_BLOCK_MOUNT:
		return parse_block_mount(ps, f);
	case OP_HOSTNAME:
		if (strlen(f[0]) > 64)
			return bad(ps, NULL, EINVAL);
		new_rec(ps, REC_HOSTNAME, f);
		return 0;
	case OP_MOUNT:
		r = new_rec(ps, REC_MOUNT, f);
		if (check_abs(ps, f[1]) < 0)
			return -1;
		if (parse_ull(f[3], 10, &u) < 0 || u > ULONG_MAX)
			return bad(ps, NULL, EINVAL);
		r->flags = (unsigned long)u;
		if (parse_ull(f[5], 10, &u) < 0 || u > ULONG_MAX)
			return bad(ps, NULL, EINVAL);
		r->remount = (unsigned long)u;
		if (parse_mount_opts(ps, f[6], &r->opts) < 0)
			return -1;
		if ((r->flags & MS_BIND || r->opts & MOUNT_OPT_SRC_IN_ROOT) && check_abs(ps, f[0]) < 0)
			return -1;
		if (r->opts & MOUNT_OPT_IDMAPPED)
			return parse_idmapped_bind(ps, r);
		return 0;
	case OP_MKDIR:
		r = new_rec(ps, REC_MKDIR, f);
		if (parse_ull(f[1], 8, &u) < 0 || u > 07777)
			return bad(ps, NULL, EINVAL);
		r->flags = (unsigned long)u;
		return check_abs(ps, f[0]);
	case OP_MKNOD:
		r = new_rec(ps, REC_MKNOD, f);
		if (parse_ull(f[1], 8, &u) < 0 || (u & ~(unsigned long long)(S_IFMT | 07777)) ||
		    ((u & S_IFMT) && (u & S_IFMT) != S_IFCHR))
			return bad(ps, NULL, EINVAL);
		r->flags = (unsigned long)u | S_IFCHR;
		if (parse_ull(f[2], 10, &r->a) < 0 || r->a > 0xfff ||
		    parse_ull(f[3], 10, &r->b) < 0 || r->b > 0xfffff)
			return bad(ps, NULL, EINVAL);
		if (check_abs(ps, f[0]) < 0)
			return -1;
		return *f[4] ? check_abs(ps, f[4]) : 0;
	case OP_SYMLINK:
		new_rec(ps, REC_SYMLINK, f);
		if (!*f[0])
			return bad(ps, NULL, EINVAL);
		return check_abs(ps, f[1]);
	case OP_PIVOT:
		ps->pivoted = true;
		new_rec(ps, REC_PIVOT, f);
		return 0;
	case OP_SYSCTL:
		new_rec(ps, REC_SYSCTL, f);
		return parse_sysctl_key(ps, f[0]);
	case OP_RLIMIT:
		r = new_rec(ps, REC_RLIMIT, f);
		if (parse_ll(f[0], 0, RLIM_NLIMITS - 1, &v) < 0)
			return bad(ps, NULL, EINVAL);
		r->flags = (unsigned long)v;
		if (parse_ll(f[1], -1, LLONG_MAX, &v) < 0)
			return bad(ps, NULL, EINVAL);
		r->a = v < 0 ? RLIM_INFINITY : (unsigned long long)v;
		if (parse_ll(f[2], -1, LLONG_MAX, &v) < 0)
			return bad(ps, NULL, EINVAL);
		r->b = v < 0 ? RLIM_INFINITY : (unsigned long long)v;
		if (r->a > r->b)
			return bad(ps, NULL, EINVAL);
		return 0;
	case OP_CWD:
		p->cwd = f[0];
		return check_abs(ps, f[0]);
	case OP_GID:
	case OP_UID:
		if (parse_ll(f[0], 0, 0xfffffffe, &v) < 0)
			return bad(ps, NULL, EINVAL);
		if (op == OP_GID) {
			p->has_gid = true;
			p->gid = (unsigned int)v;
		} else {
			p->has_uid = true;
			p->uid = (unsigned int)v;
		}
		return 0;
	case OP_ENV: {
		char *eq = strchr(f[0], '=');
		if (!eq || eq == f[0])
			return bad(ps, NULL, EINVAL);
		push(p, &p->env, &p->nenv, &ps->cap_env, f[0]);
		return 0;
	}
	case OP_EXEC:
		if (!*f[0])
			return bad(ps, NULL, EINVAL);
		p->argv = f;
		return 0;
	case OP_CAPS:
		return confine_parse_caps(&p->conf, f[0]) < 0 ? bad(ps, NULL, EINVAL) : 0;
	case OP_NO_NEW_PRIVS:
		return parse_bool(ps, f[0], &p->conf.nnp);
	case OP_SECCOMP:
		return confine_parse_seccomp(&p->conf, f[0], f[1]) < 0 ? bad(ps, NULL, EINVAL) : 0;
	case OP_SECCOMP_RULE:
		return confine_parse_rule(&p->conf, f, n) < 0 ? bad(ps, NULL, EINVAL) : 0;
	case OP_APPARMOR:
		/* A profile name: printable, no blanks (the kernel's own limit is the page). */
		for (const char *s = f[0]; *s; s++)
			if (*s <= ' ' || *s == 0x7f)
				return bad(ps, NULL, EINVAL);
		p->conf.apparmor = f[0];
		return 0;
	case OP_HOST_HOOK:
		push_argv(p, &p->hooks, &p->nhooks, &ps->cap_hooks, f);
		return check_abs(ps, f[0]);
	case OP_STOP_HOOK:
		push_argv(p, &p->stop_hooks, &p->nstop_hooks, &ps->cap_stop_hooks, f);
		return check_abs(ps, f[0]);
	case OP_NET:
		push_argv(p, &p->nets, &p->nnets, &ps->cap_nets, f);
		return net_parse(f, n) < 0 ? bad(ps, NULL, EINVAL) : 0;
	case OP_NETDEV:
		push(p, &p->netdevs, &p->nnetdevs, &ps->cap_netdevs, f[0]);
		return parse_ifname(ps, f[0]);
	case OP_IDMAP:
		return parse_idmap(ps, f);
	case OP_IDMAPPED_MOUNT:
		push(p, &p->idmapped, &p->nidmapped, &ps->cap_idm, f[0]);
		if (p->nidmapped + p->nidmap_binds > IDMAP_MAX)
			return bad(ps, NULL, EINVAL);
		return check_abs(ps, f[0]);
	case OP_CRIU_RESTORE:
		/* restore.c: PIDFILE, then criu's command line. */
		p->restore_pidfile = f[0];
		p->restore_argv = f + 1;
		return check_abs(ps, f[0]) < 0 ? -1 : check_abs(ps, f[1]);
	case OP_EXIT_HOOK:
		push_argv(p, &p->exit_hooks, &p->nexit_hooks, &ps->cap_exit_hooks, f);
		return check_abs(ps, f[0]);
	case OP_LXC_HOOK: {
		int w = hook_when_parse(f[0]);
		if (w < 0)
			return bad(ps, NULL, EINVAL);
		/* In-root hooks run in plan order among the child's records. */
		if (w == HOOK_PRE_MOUNT || w == HOOK_MOUNT || w == HOOK_AUTODEV)
			new_rec(ps, REC_HOOK, f + 1)->flags = (unsigned long)w;
		push_argv(p, &p->lxc_hooks[w], &p->nlxc_hooks[w], &ps->cap_lxc_hooks[w], f + 1);
		return check_abs(ps, f[1]);
	}
	case OP_LXC_HOOK_ENV: {
		int w = hook_when_parse(f[0]);
		char *eq = strchr(f[1], '=');
		if (w < 0 || ((!eq || eq == f[1]) && strcmp(f[1], "{ns-env}") != 0))
			return bad(ps, NULL, EINVAL);
		push(p, &p->hook_env[w], &p->nhook_env[w], &ps->cap_hook_env[w], f[1]);
		return 0;
	}
	case OP_HOOK_LOG:
		p->hook_log = f[0];
		return check_abs(ps, f[0]);
	case OP_OPT:
		return nsopts_parse(&p->opts, f, n) < 0 ? bad(ps, NULL, EINVAL) : 0;
	}
	return bad(ps, NULL, EINVAL);
}

static int find_op(const char *name)
{
	for (int i = 0; i < OP__COUNT; i++)
		if (strcmp(ops[i].name, name) == 0)
			return i;
	return -1;
}

static int parse_line(struct parser *ps, char *line)
{
	char **f;
	int n = 0, op;
	char *sp;

	if (!*line)
		return bad(ps, "line", EINVAL);
	sp = strchr(line, ' ');
	if (sp)
		*sp = '\0';
	op = find_op(line);
	if (op < 0)
		return bad(ps, "op", EINVAL);
	ps->op = ops[op].name;
	if (ops[op].once && ps->seen[op]++)
		return bad(ps, NULL, EINVAL);
	if (!ops[op].once && ++ps->seen[op] > limits[op]) {
		static char over[64];
		snprintf(over, sizeof(over), "%s:max=%d", ops[op].name, limits[op]);
		return bad(ps, over, E2BIG);
	}
	/* A mount before rootfs is made in the container's mount namespace on
	 * a host path (an overlay rootfs); checked at the end: needs "mnt". */
	if (op == OP_MOUNT && !ps->seen[OP_ROOTFS])
		ps->host_mounts++;
	else if (ops[op].child && !ps->seen[OP_ROOTFS])
		return bad(ps, NULL, EINVAL);

	/* Count fields: single spaces, no empty fields (an empty value is "%"). */
	if (sp) {
		for (char *c = sp + 1;; c++) {
			if (*c == ' ' || !*c) {
				if (c[-1] == ' ' || c[-1] == '\0')
					return bad(ps, NULL, EINVAL);
				n++;
				if (!*c)
					break;
			}
		}
	}
	if (n < ops[op].min || n > ops[op].max)
		return bad(ps, NULL, EINVAL);
	f = palloc(ps->p, (size_t)n + 1, sizeof(char *));
	if (sp) {
		char *c = sp + 1;
		for (int i = 0; i < n; i++) {
			char *e = strchr(c, ' ');
			if (e)
				*e = '\0';
			if (pct_decode(c) < 0 || strlen(c) > FIELD_MAX)
				return bad(ps, NULL, EINVAL);
			f[i] = c;
			c = e ? e + 1 : c + strlen(c);
		}
	}
	return parse_record(ps, op, f, n);
}

int plan_parse(struct plan *p, const char *name, const char *data, size_t len)
{
	struct parser ps = {.p = p};
	char *buf, *line;

	memset(p, 0, sizeof(*p));
	p->file = name;
	if (len > PLAN_MAX_BYTES)
		return fail("plan", "read", name, E2BIG);
	if (memchr(data, '\0', len))
		return fail("plan", "read", name, EINVAL);
	/* Fields are decoded in place and the plan points into this copy. */
	buf = palloc(p, len + 1, 1);
	memcpy(buf, data, len);

	line = buf;
	for (ps.line = 1; *line; ps.line++) {
		char *nl = strchr(line, '\n');
		/* A missing final newline means a truncated write. */
		if (!nl)
			return bad(&ps, "line", EINVAL);
		*nl = '\0';
		if (ps.line == 1) {
			if (strcmp(line, "lxt-plan 1"))
				return bad(&ps, "header", EINVAL);
		} else if (parse_line(&ps, line) < 0) {
			return -1;
		}
		line = nl + 1;
	}
	if (ps.line == 1)
		return bad(&ps, "header", EINVAL);
	ps.op = "end";
	if (!p->name)
		return bad(&ps, "name", EINVAL);
	if (!p->runtime)
		return bad(&ps, "runtime", EINVAL);
	if (!p->argv)
		return bad(&ps, "exec", EINVAL);
	if (ps.host_mounts && !(p->clone_flags & CLONE_NEWNS))
		return bad(&ps, "mount", EINVAL);
	if (p->console_path && !p->console)
		return bad(&ps, "console-path", EINVAL);
	if (nsopts_check(&p->opts, p->clone_flags, p->ns_cgroup) < 0)
		return bad(&ps, "opt", EINVAL);
	/* A user namespace needs both maps; maps and idmapped mounts need it
	 * (a shared one's maps are its own: written, but still the plan's). */
	if (!!(p->clone_flags & CLONE_NEWUSER || p->opts.share_user) != (p->nidmap > 0) ||
	    (p->nidmapped && !(p->clone_flags & CLONE_NEWNS)))
		return bad(&ps, "idmap", EINVAL);
	if ((p->nidmapped || ps.idmap_container) && !(p->clone_flags & CLONE_NEWUSER) &&
	    !p->opts.share_user)
		return bad(&ps, "idmapped-mount", EINVAL);
	if (p->block && !(p->clone_flags & CLONE_NEWNS))
		return bad(&ps, "block-mount", EINVAL);
	if (p->nidmap) {
		bool u = false, g = false;
		for (int i = 0; i < p->nidmap; i++)
			*(p->idmap[i].kind == 'u' ? &u : &g) = true;
		if (!u || !g)
			return bad(&ps, "idmap", EINVAL);
	}
	if (!p->env) /* the init gets an empty environment, not ours */
		p->env = palloc(p, 1, sizeof(char *));
	return 0;
}

int plan_load(const char *path, struct plan *p)
{
	char *buf;
	size_t len = 0;
	int fd, rc;

	memset(p, 0, sizeof(*p));
	p->file = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("plan", "open", path, errno);
	buf = xcalloc(PLAN_MAX_BYTES + 1, 1);
	for (;;) {
		ssize_t n = read(fd, buf + len, PLAN_MAX_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return fail("plan", "read", path, e);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PLAN_MAX_BYTES)
			break;
	}
	close(fd);
	rc = plan_parse(p, path, buf, len);
	free(buf);
	return rc;
}
