/*
 * Confinement applied right before exec (docs/helper-protocol.md: caps,
 * no-new-privs, seccomp): the capability set, PR_SET_NO_NEW_PRIVS and a
 * seccomp filter compiled with libseccomp. Shared by the init and attach.
 */
#ifndef LXT_CONFINE_H
#define LXT_CONFINE_H

#include <stdbool.h>
#include <stdint.h>

#define CONF_MAX_ARCHES 4
#define CONF_MAX_CMPS 6

struct sc_cmp {
	unsigned int arg;
	int op;                 /* enum scmp_compare */
	uint64_t a, b;          /* libseccomp's datum_a, datum_b */
};

struct sc_rule {
	int arch;               /* index into arches, -1 for all */
	uint32_t action;
	const char *name;       /* syscall name, or NULL when nr is set */
	int nr;
	int ncmp;
	struct sc_cmp cmp[CONF_MAX_CMPS];
};

struct confinement {
	bool has_caps;
	uint64_t keep;          /* bounding = permitted = effective upper bound */
	bool nnp;
	bool has_seccomp;
	uint32_t sc_default;
	uint32_t arches[CONF_MAX_ARCHES]; /* libseccomp tokens; [0] is native */
	int narches;
	struct sc_rule *rules;
	int nrules, cap_rules;
	const char *apparmor;   /* AppArmor profile for exec, or NULL */
};

/* The seccomp listener of the filter loaded last (rules with `notify`), or -1. */
extern int confine_notify_fd;
bool confine_has_notify(const struct confinement *c);

/* Record parsers for plan.c: 0 or -1 (the caller reports the line). */
int confine_parse_caps(struct confinement *c, char *list);
int confine_parse_seccomp(struct confinement *c, const char *action, char *arches);
int confine_parse_rule(struct confinement *c, char **f, int n);

/* With an `apparmor` record: open the host's /proc now (before any
 * namespace or mount of the container can stand in for it), for
 * confine_finish to set the profile through. */
int confine_open_proc(const struct confinement *c);

/* Drop every capability outside the set from the bounding set. Needs
 * CAP_SETPCAP, so it runs before the ids change. */
int confine_bounding(const struct confinement *c);

/* Called right before a uid change: keep the permitted set across it so
 * confine_finish can still load the filter (PR_SET_KEEPCAPS). */
void confine_keep_caps(const struct confinement *c);

/* The AppArmor profile (entered as `aa` says), ambient set cleared, capset,
 * no_new_privs, then the seccomp filter. With `final`, the caller never execs
 * (the init shim): the profile is entered at once, CAP_SYS_ADMIN is not
 * borrowed for the filter, no_new_privs is set instead. */
/* How the AppArmor profile is entered: at the next exec, or at once. */
enum aa_when { AA_ON_EXEC, AA_NOW };
int confine_finish(const struct confinement *c, bool final, enum aa_when aa);

#endif
