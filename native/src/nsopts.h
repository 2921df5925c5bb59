/* Process and namespace options: the plan's `opt` records
 * (docs/helper-protocol.md, _Process options_). */
#ifndef LXT_NSOPTS_H
#define LXT_NSOPTS_H

#include <stdbool.h>
#include <sys/types.h>

struct clone_args;

#define NSOPT_MAX_SHARE 8
#define NSOPT_MAX_PROC 256
#define NSOPT_MAX_GROUPS 64

struct nsopts {
	/* ns-share NS PATH: namespaces joined instead of made (setns). */
	struct { int flag; const char *name; const char *path; int fd; } share[NSOPT_MAX_SHARE];
	int nshare;
	bool share_user;     /* one of them is a user namespace */
	/* timens: a new time namespace with these offsets. */
	bool timens;
	long long boot_s, boot_ns, mono_s, mono_ns;
	/* proc FILE VALUE: written to /proc/INIT/FILE by the monitor. */
	struct { const char *file, *value; } proc[NSOPT_MAX_PROC];
	int nproc;
	/* groups LIST: the init's supplementary groups. */
	gid_t groups[NSOPT_MAX_GROUPS];
	int ngroups;
	bool keyring;      /* keyring new: a new session keyring */
	bool sched_core;   /* sched-core: a core-scheduling domain of its own */
	int pdeath;        /* pdeath SIG: the init's parent-death signal (0: SIGKILL) */
	long personality;  /* personality N; 0: unchanged */
	bool monitor_unshare; /* monitor-unshare: the monitor in a mount namespace of its own */
	/* seccomp-proxy ADDR COOKIE: where seccomp notifications go (notify.c). */
	const char *proxy, *cookie;
};

/* Checks one `opt` record (f[0] the verb, n fields) into o; -1 if malformed. */
int nsopts_parse(struct nsopts *o, char **f, int n);

/* After the whole plan: a namespace is either made or joined, and a
 * joined time namespace takes no offsets; -1 if not. */
int nsopts_check(struct nsopts *o, int clone_flags, bool ns_cgroup);

/* Monitor, before anything else: lxc.monitor.unshare. */
int nsopts_monitor_early(const struct nsopts *o);

/* Monitor, before the clone: opens every shared namespace (ns-share). */
int nsopts_open_shared(struct nsopts *o);

/* Monitor: clone3(ca) through an intermediate that first joins the shared
 * namespaces (CLONE_PARENT: the child is still ours). The child runs
 * child(arg) and never returns here. Returns the child's pid, or -1 with
 * the error record set. CLONE_INTO_CGROUP is dropped: *v2_late says the
 * child must be moved into its v2 cgroup by the caller. */
long nsopts_clone_shared(struct nsopts *o, struct clone_args *ca,
			 void (*child)(void *), void *arg, bool *v2_late);

/* Monitor, once the child is cloned and placed, before it is released:
 * the `proc` writes to /proc/PID/FILE. */
int nsopts_after_clone(const struct nsopts *o, pid_t pid);

/* Child, before it becomes root of its user namespace (its /proc/self
 * files are still its own then): the time namespace with its offsets. */
int nsopts_child_timens(const struct nsopts *o);

/* Child, once it is root of its user namespace, before its records: the
 * session keyring, the core-scheduling domain, the personality. */
int nsopts_child_early(const struct nsopts *o);

/* Child, at its id change: setgroups() with the `groups` list (or none). */
int nsopts_setgroups(const struct nsopts *o);

/* Attach: CLONE_NEWTIME when PID's time namespace is not ours (0 where
 * the kernel has none), so attached commands see the container's clocks. */
int nsopts_attach_time(pid_t pid);

/* Attach: the init's personality (lxc.arch) for the attached command. */
int nsopts_attach_personality(const struct nsopts *o);

/* The init's parent-death signal. */
int nsopts_pdeath(const struct nsopts *o);

#endif
