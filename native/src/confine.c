/*
 * Capabilities, no_new_privs and the seccomp filter: the last things done
 * before exec, for the init and for attached commands alike. TypeScript
 * resolved every choice; this file checks the records and applies them.
 */
#include "confine.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Canonical decimal (no sign, no leading zero) within [0, max]. */
static int parse_dec(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;

	if (!*s || (s[0] == '0' && s[1]) || parse_ull(s, 10, &v) < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

int confine_parse_caps(struct confinement *c, char *list)
{
	char *items[64];
	int last = -1, n;

	c->has_caps = true;
	c->keep = 0;
	if (!*list)
		return 0; /* `%`: keep nothing */
	if ((n = split_list(list, ',', items, 64)) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *t = items[i];
		uint64_t v;
		/* Ascending and unique, so one set has one spelling. */
		if (parse_dec(t, 63, &v) < 0 || (int)v <= last)
			return -1;
		last = (int)v;
		c->keep |= 1ULL << v;
	}
	return 0;
}

static int parse_action(const char *s, uint32_t *out)
{
	uint64_t e;

	if (!strcmp(s, "allow"))
		*out = SCMP_ACT_ALLOW;
	else if (!strcmp(s, "kill"))
		*out = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(s, "trap"))
		*out = SCMP_ACT_TRAP;
	else if (!strcmp(s, "log"))
		*out = SCMP_ACT_LOG;
	else if (!strcmp(s, "notify"))
		*out = SCMP_ACT_NOTIFY;
	else if (!strncmp(s, "errno:", 6) && parse_dec(s + 6, 4095, &e) == 0)
		*out = SCMP_ACT_ERRNO((uint32_t)e);
	else
		return -1;
	return 0;
}

int confine_parse_seccomp(struct confinement *c, const char *action, char *arches)
{
	char *items[CONF_MAX_ARCHES];
	int n;

	if (parse_action(action, &c->sc_default) < 0 || c->sc_default == SCMP_ACT_NOTIFY)
		return -1;
	c->has_seccomp = true;
	if ((n = split_list(arches, ',', items, CONF_MAX_ARCHES)) < 0)
		return -1;
	for (int k = 0; k < n; k++) {
		uint32_t a = seccomp_arch_resolve_name(items[k]);
		if (!a)
			return -1;
		for (int i = 0; i < c->narches; i++)
			if (c->arches[i] == a)
				return -1;
		c->arches[c->narches++] = a;
	}
	/* The first is the native one: a plan rendered for another machine
	 * must not load as if it were ours. */
	if (!c->narches || c->arches[0] != seccomp_arch_native())
		return -1;
	return 0;
}

static int parse_cmp(char *s, struct sc_cmp *out)
{
	static const struct { const char *name; int op; } ops[] = {
		{"ne", SCMP_CMP_NE}, {"lt", SCMP_CMP_LT}, {"le", SCMP_CMP_LE},
		{"eq", SCMP_CMP_EQ}, {"ge", SCMP_CMP_GE}, {"gt", SCMP_CMP_GT},
		{"masked_eq", SCMP_CMP_MASKED_EQ},
	};
	char *parts[4];
	uint64_t arg;
	int n = split_list(s, ',', parts, 4);
	size_t i;

	if (n < 3 || parse_dec(parts[0], CONF_MAX_CMPS - 1, &arg) < 0)
		return -1;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(parts[1], ops[i].name))
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return -1;
	/* masked_eq takes MASK and VALUE, every other operator one VALUE. */
	if (n != (ops[i].op == SCMP_CMP_MASKED_EQ ? 4 : 3))
		return -1;
	out->arg = (unsigned int)arg;
	out->op = ops[i].op;
	out->b = 0;
	if (parse_dec(parts[2], UINT64_MAX, &out->a) < 0)
		return -1;
	return n == 4 ? parse_dec(parts[3], UINT64_MAX, &out->b) : 0;
}

static bool is_syscall_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

int confine_parse_rule(struct confinement *c, char **f, int n)
{
	struct sc_rule *r;
	uint64_t nr;

	if (!c->has_seccomp || n - 3 > CONF_MAX_CMPS)
		return -1;
	if (c->nrules == c->cap_rules) {
		int ncap = c->cap_rules ? c->cap_rules * 2 : 32;
		struct sc_rule *nrs = xcalloc((size_t)ncap, sizeof(*nrs));
		if (c->rules)
			memcpy(nrs, c->rules, (size_t)c->nrules * sizeof(*nrs));
		free(c->rules);
		c->rules = nrs;
		c->cap_rules = ncap;
	}
	r = &c->rules[c->nrules++];
	memset(r, 0, sizeof(*r));
	r->arch = -1;
	if (strcmp(f[0], "all")) {
		uint32_t a = seccomp_arch_resolve_name(f[0]);
		for (int i = 0; i < c->narches; i++)
			if (a && c->arches[i] == a)
				r->arch = i;
		if (r->arch < 0)
			return -1;
	}
	if (parse_action(f[1], &r->action) < 0 || r->action == c->sc_default)
		return -1;
	if (is_syscall_name(f[2])) {
		r->name = f[2];
	} else {
		/* A number is in the native numbering (profile version 1). */
		if (r->arch != 0 || parse_dec(f[2], 0x7fffffff, &nr) < 0)
			return -1;
		r->nr = (int)nr;
	}
	for (int i = 3; i < n; i++) {
		struct sc_cmp *cmp = &r->cmp[r->ncmp];
		if (parse_cmp(f[i], cmp) < 0)
			return -1;
		for (int j = 0; j < r->ncmp; j++)
			if (r->cmp[j].arg == cmp->arg)
				return -1;
		r->ncmp++;
	}
	return 0;
}

int confine_bounding(const struct confinement *c)
{
	char num[8];

	if (!c->has_caps)
		return 0;
	for (int cap = 0; cap < 64; cap++) {
		int has = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (has < 0)
			break; /* past the kernel's last capability */
		if (!has || (c->keep & (1ULL << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			snprintf(num, sizeof(num), "%d", cap);
			return fail("caps", "capbset-drop", num, errno);
		}
	}
	return 0;
}

void confine_keep_caps(const struct confinement *c)
{
	if (c->has_caps)
		prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
}

static int set_caps(const struct confinement *c, bool final)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	uint64_t have, want;

	/* Inherited by no one: a clear ambient set (kernels before 4.3 have
	 * none, EINVAL). */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return fail("caps", "ambient-clear", NULL, errno);
	if (syscall(SYS_capget, &hdr, d) < 0)
		return fail("caps", "capget", NULL, errno);
	have = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	want = have & c->keep;
	/*
	 * Loading a filter needs CAP_SYS_ADMIN or no_new_privs
	 * (seccomp(2)). Borrowing CAP_SYS_ADMIN until exec is safe: execve
	 * recomputes the permitted set from the bounding set (root) or the
	 * file (others), never from the old permitted set (capabilities(7)).
	 */
	if (c->has_seccomp && !c->nnp && !final)
		want |= have & (1ULL << CAP_SYS_ADMIN);
	/* The inheritable set stays empty: caps in it would pass to files
	 * with inheritable file caps even for non-root (CVE-2022-24769). */
	memset(d, 0, sizeof(d));
	d[0].permitted = d[0].effective = (uint32_t)want;
	d[1].permitted = d[1].effective = (uint32_t)(want >> 32);
	if (syscall(SYS_capset, &hdr, d) < 0)
		return fail("caps", "capset", NULL, errno);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

static scmp_filter_ctx arch_ctx(const struct confinement *c, uint32_t arch)
{
	scmp_filter_ctx ctx = seccomp_init(c->sc_default);

	if (!ctx)
		return NULL;
	/* no_new_privs is ours to decide (lxc.no_new_privs), not libseccomp's. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0 ||
	    (arch != seccomp_arch_native() &&
	     (seccomp_arch_add(ctx, arch) < 0 || seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE) < 0))) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * One context per architecture, merged into the native one: rules are
 * added with native numbers and libseccomp translates them per arch (so
 * i386 and x32 syscalls of a 64-bit host are filtered too, as LXC does).
 */
int confine_notify_fd = -1;

bool confine_has_notify(const struct confinement *c)
{
	for (int i = 0; i < c->nrules; i++)
		if (c->rules[i].action == SCMP_ACT_NOTIFY)
			return true;
	return false;
}

static int load_seccomp(const struct confinement *c)
{
	scmp_filter_ctx ctx[CONF_MAX_ARCHES] = {0};
	int rc = -1;

	for (int a = 0; a < c->narches; a++) {
		ctx[a] = arch_ctx(c, c->arches[a]);
		if (!ctx[a]) {
			fail("seccomp", "init", NULL, ENOMEM);
			goto out;
		}
	}
	for (int i = 0; i < c->nrules; i++) {
		const struct sc_rule *r = &c->rules[i];
		struct scmp_arg_cmp cmp[CONF_MAX_CMPS];
		int nr = r->name ? seccomp_syscall_resolve_name(r->name) : r->nr;

		/* A name this libseccomp does not know cannot be filtered: as
		 * LXC, it is skipped. */
		if (nr == __NR_SCMP_ERROR)
			continue;
		for (int j = 0; j < r->ncmp; j++)
			cmp[j] = (struct scmp_arg_cmp){r->cmp[j].arg, (enum scmp_compare)r->cmp[j].op,
						       r->cmp[j].a, r->cmp[j].b};
		for (int a = 0; a < c->narches; a++) {
			int e;
			if (r->arch >= 0 && r->arch != a)
				continue;
			e = seccomp_rule_add_array(ctx[a], r->action, nr, (unsigned int)r->ncmp, cmp);
			if (e < 0) {
				fail("seccomp", "rule", r->name ? r->name : "", -e);
				goto out;
			}
		}
	}
	for (int a = 1; a < c->narches; a++) {
		int e = seccomp_merge(ctx[0], ctx[a]);
		if (e < 0) {
			fail("seccomp", "merge", NULL, -e);
			goto out;
		}
		ctx[a] = NULL; /* merged contexts are released by seccomp_merge */
	}
	rc = seccomp_load(ctx[0]);
	if (rc < 0)
		fail("seccomp", "load", NULL, -rc);
	/* With notify rules the kernel made a listener (notify.c forwards it). */
	else if (confine_has_notify(c))
		confine_notify_fd = seccomp_notify_fd(ctx[0]);
out:
	for (int a = 0; a < c->narches; a++)
		if (ctx[a])
			seccomp_release(ctx[a]);
	return rc < 0 ? -1 : 0;
}

static int aa_procfd = -1;

int confine_open_proc(const struct confinement *c)
{
	if (!c->apparmor || aa_procfd >= 0)
		return 0;
	aa_procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return aa_procfd < 0 ? fail("apparmor", "open", "/proc", errno) : 0;
}

/*
 * AppArmor's exec transition (apparmor(7), aa_change_onexec(2)): "exec
 * PROFILE" to attr/apparmor/exec (attr/exec before Linux 5.8's LSM
 * stacking), or "changeprofile PROFILE" to attr/apparmor/current at once
 * (aa_change_profile(2)). The init changes at once: a profile transition at
 * exec makes the exec secure (AT_SECURE), which clears the parent-death
 * signal (prctl(2), PR_SET_PDEATHSIG), so an init that entered its profile
 * at exec would outlive a killed monitor.
 */
static int set_apparmor(const struct confinement *c, enum aa_when when)
{
	bool now = when == AA_NOW;
	const char *attr = now ? "current" : "exec";
	char path[64], cmd[4200];
	int fd, n;

	if (aa_procfd < 0)
		return fail("apparmor", "open", "/proc", EBADF);
	snprintf(path, sizeof(path), "thread-self/attr/apparmor/%s", attr);
	fd = openat(aa_procfd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "thread-self/attr/%s", attr);
		fd = openat(aa_procfd, path, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return fail("apparmor", "open", path, errno);
	n = snprintf(cmd, sizeof(cmd), "%s %s", now ? "changeprofile" : "exec", c->apparmor);
	if (n < 0 || (size_t)n >= sizeof(cmd) || write(fd, cmd, (size_t)n) != n) {
		int e = n < 0 || (size_t)n >= sizeof(cmd) ? ENAMETOOLONG : errno;
		close(fd);
		return fail("apparmor", "write", c->apparmor, e);
	}
	close(fd);
	return 0;
}

int confine_finish(const struct confinement *c, bool final, enum aa_when aa)
{
	if (c->apparmor && set_apparmor(c, final ? AA_NOW : aa) < 0)
		return -1;
	if (c->has_caps && set_caps(c, final) < 0)
		return -1;
	if ((c->nnp || (final && c->has_seccomp)) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("no-new-privs", "prctl", NULL, errno);
	if (c->has_seccomp && load_seccomp(c) < 0)
		return -1;
	return 0;
}
