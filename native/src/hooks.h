/* LXC's container hooks (lxc.hook.*): run at the points TypeScript's plan
 * names, with the arguments and environment it rendered (docs/helper-protocol.md,
 * _Container hooks_). */
#ifndef LXT_HOOKS_H
#define LXT_HOOKS_H

#include <stdbool.h>
#include <sys/types.h>

enum hook_when {
	HOOK_PRE_START,
	HOOK_PRE_MOUNT,
	HOOK_MOUNT,
	HOOK_AUTODEV,
	HOOK_START_HOST,
	HOOK_START,
	HOOK_STOP,
	HOOK_POST_STOP,
	HOOK__COUNT
};

struct plan;

/* The hook type named S, or -1. */
int hook_when_parse(const char *s);
/* Whether the plan has hooks of this type. */
bool hooks_any(const struct plan *p, int when);
/* Runs one hook (argv[0] absolute) with the type's environment and waits:
 * "{pid}" (a whole field or a whole value) becomes PID, a field "{ns}" the
 * kept namespaces' TYPE:PATH arguments, an environment record "{ns-env}"
 * their LXC_*_NS variables. Exit 0 is 0; otherwise -1 with the error
 * "hook exit:N|signal:N ARGV0" recorded. */
int hook_run(const struct plan *p, int when, char **argv, pid_t pid);
/* Runs every hook of a type in plan order; stops at the first failure. */
int hooks_run(const struct plan *p, int when, pid_t pid);
/* Runs every hook of a type; failures are written to the plan's hook-log
 * (when set), not returned: stop and post-stop hooks, as LXC, never fail
 * the end. */
void hooks_run_logged(const struct plan *p, int when, pid_t pid);
/* Opens PID's namespaces (those the plan creates, cgroup once the child has
 * unshared it) so stop hooks can reach them after the init is gone, as LXC
 * keeps them (/proc/MONITOR/fd/N); only when the plan has stop hooks. */
void hooks_keep_ns(const struct plan *p, pid_t pid, bool cgroup);
/* Closes what hooks_keep_ns opened. */
void hooks_drop_ns(void);

#endif
