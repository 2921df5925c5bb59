/* The plan parser: the golden plans, malformed plans and the record bounds. */
#include "../src/plan.h"
#include "../src/util.h"
#include "unit.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#define HEAD "lxt-plan 1\nname x\nruntime /run/x\n"
#define EXEC "exec /bin/true\n"

static int parse(const char *text, struct plan *p)
{
	return plan_parse(p, "t.plan", text, strlen(text));
}

/* TEXT is refused as `error plan OP t.plan:LINE ERR`. */
static void refused(int src_line, const char *text, const char *op, int line, int err)
{
	struct plan p;
	char where[32];
	int rc = parse(text, &p);

	snprintf(where, sizeof(where), "t.plan:%d", line);
	unit_checks++;
	if (rc == 0 || strcmp(lxt_err.stage, "plan") || strcmp(lxt_err.op, op) ||
	    strcmp(lxt_err.path, where) || lxt_err.err != err) {
		unit_failures++;
		fprintf(stderr, "test-plan.c:%d: want plan %s %s %d, got rc %d: %s %s %s %d\n",
			src_line, op, where, err, rc, lxt_err.stage, lxt_err.op, lxt_err.path,
			lxt_err.err);
	}
	plan_free(&p);
}
#define REFUSED(text, op, line, err) refused(__LINE__, text, op, line, err)

static void golden(const char *dir)
{
	static const char *const names[] = {"system", "unprivileged", "execute", "options"};
	char path[4096];
	struct plan p;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.plan", dir, names[i]);
		CHECK(plan_load(path, &p) == 0);
		CHECK_STR(p.name, "c1");
		CHECK_STR(p.runtime, "/run/lxt/abc/c1");
		CHECK_STR(p.cgroup2, "/sys/fs/cgroup/unified/lxt.payload.c1");
		CHECK(p.ncgroup1 == 1 && p.ncgroup_kill == 2);
		/* options.plan sets no hostname: one record fewer. */
		CHECK(p.nrecs == (strcmp(names[i], "options") ? 37 : 36));
		CHECK(p.recs[0].op == REC_ROOTFS && p.recs[p.nrecs - 1].op == REC_RLIMIT);
		CHECK(p.conf.has_caps && p.conf.has_seccomp && p.conf.nrules == 18);
		CHECK(p.nenv == 2 && p.env[2] == NULL);
		CHECK(p.clone_flags & CLONE_NEWPID);
		if (!strcmp(names[i], "unprivileged")) {
			CHECK(p.nidmap == 2 && p.nidmapped == 1 && (p.clone_flags & CLONE_NEWUSER));
			CHECK(p.idmap[0].kind == 'u' && p.idmap[0].host == 1065536);
		}
		if (!strcmp(names[i], "options")) {
			CHECK(p.nidmap == 2 && !(p.clone_flags & (CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWUTS)));
			CHECK(p.opts.share_user && p.opts.nshare == 3 && p.opts.timens && p.opts.ngroups == 2);
			CHECK_STR(p.opts.cookie, "a cookie");
		}
		if (!strcmp(names[i], "execute")) {
			CHECK(p.init_shim && p.foreground);
			CHECK_STR(p.argv[2], "exit 3");
			CHECK(p.argv[3] == NULL);
		}
		plan_free(&p);
	}
	CHECK(plan_load("/nonexistent/plan", &p) < 0 && lxt_err.err == ENOENT);
	plan_free(&p);
}

/* The hooks golden plan (test/unit/hooks.test.ts): every start type, the
 * in-root ones among the child's records, each type's environment. */
static void hooks(const char *dir)
{
	char path[4096];
	struct plan p;
	int pre_mount = -1, rootfs = -1, mount = -1, autodev = -1, mknod = -1;

	snprintf(path, sizeof(path), "%s/hooks.plan", dir);
	CHECK(plan_load(path, &p) == 0);
	for (int w = 0; w < HOOK__COUNT; w++)
		CHECK(p.nlxc_hooks[w] == 1 && p.nhook_env[w] >= 7);
	CHECK_STR(p.hook_log, "/var/lib/lxt/c1/hooks.log");
	CHECK_STR(p.lxc_hooks[HOOK_STOP][0][0], "/bin/sh");
	CHECK_STR(p.lxc_hooks[HOOK_STOP][0][7], "{ns}");
	CHECK(p.lxc_hooks[HOOK_STOP][0][8] == NULL);
	for (int i = 0; i < p.nrecs; i++) {
		const struct rec *r = &p.recs[i];
		if (r->op == REC_HOOK && r->flags == HOOK_PRE_MOUNT)
			pre_mount = i;
		if (r->op == REC_HOOK && r->flags == HOOK_MOUNT)
			mount = i;
		if (r->op == REC_HOOK && r->flags == HOOK_AUTODEV)
			autodev = i;
		if (r->op == REC_ROOTFS)
			rootfs = i;
		if (r->op == REC_MKNOD && mknod < 0)
			mknod = i;
	}
	CHECK(pre_mount == 0 && rootfs == 1 && rootfs < mount && mount < autodev && autodev < mknod);
	plan_free(&p);
	REFUSED(HEAD "lxc-hook reboot /bin/sh\n" EXEC, "lxc-hook", 4, EINVAL);
	REFUSED(HEAD "lxc-hook stop sh -c x\n" EXEC, "lxc-hook", 4, EINVAL);
	REFUSED(HEAD "lxc-hook stop\n" EXEC, "lxc-hook", 4, EINVAL);
	REFUSED(HEAD "lxc-hook-env stop NOEQUALS\n" EXEC, "lxc-hook-env", 4, EINVAL);
	REFUSED(HEAD "lxc-hook-env stop =x\n" EXEC, "lxc-hook-env", 4, EINVAL);
	REFUSED(HEAD "hook-log rel/log\n" EXEC, "hook-log", 4, EINVAL);
}

static void minimal(void)
{
	struct plan p;

	CHECK(parse(HEAD EXEC, &p) == 0);
	CHECK_STR(p.name, "x");
	CHECK(p.env && p.env[0] == NULL); /* an empty environment, never the helper's */
	CHECK(p.nrecs == 0 && p.argv[1] == NULL);
	plan_free(&p);
	CHECK(parse(HEAD "hostname a%20b\nenv A=%3D\n" EXEC, &p) == 0);
	CHECK(p.nrecs == 1 && !strcmp(p.recs[0].f[0], "a b") && p.recs[0].line == 4);
	CHECK_STR(p.env[0], "A==");
	plan_free(&p);
	CHECK(parse(HEAD "exit-hook /usr/bin/env -i a%20b\nexit-hook /bin/true\n" EXEC, &p) == 0);
	CHECK(p.nexit_hooks == 2 && p.nhooks == 0 && p.nstop_hooks == 0);
	CHECK_STR(p.exit_hooks[0][2], "a b");
	CHECK(p.exit_hooks[0][3] == NULL && p.exit_hooks[1][1] == NULL);
	plan_free(&p);
	CHECK(parse(HEAD "criu-restore /ck/restore.pid /usr/sbin/criu restore --inherit-fd fd%5B%7Btty:0%7D%5D:tty%5B88be:1a%5D\n" EXEC, &p) == 0);
	CHECK_STR(p.restore_pidfile, "/ck/restore.pid");
	CHECK_STR(p.restore_argv[0], "/usr/sbin/criu");
	CHECK_STR(p.restore_argv[3], "fd[{tty:0}]:tty[88be:1a]");
	CHECK(p.restore_argv[4] == NULL);
	plan_free(&p);
	CHECK(parse(HEAD "namespaces mnt\nrootfs /r\n"
		    "mount /srv /mnt % 4096 /proc/7/ns/user 0 create-dir,idmapped\n"
		    "mount /srv /mnt2 % 20480 /proc/8/ns/user 1 optional,idmapped\n" EXEC, &p) == 0);
	CHECK(p.nidmap_binds == 2 && p.nidmapped == 0 && p.nrecs == 3);
	CHECK(p.recs[1].opts == (MOUNT_OPT_CREATE_DIR | MOUNT_OPT_IDMAPPED));
	CHECK_STR(p.recs[2].f[4], "/proc/8/ns/user");
	plan_free(&p);
	CHECK(parse(HEAD "console /dev/console\nconsole-path /dev/ttyS0\n" EXEC, &p) == 0);
	CHECK_STR(p.console_path, "/dev/ttyS0");
	plan_free(&p);
	CHECK(parse(HEAD "monitor-cgroup /sys/fs/cgroup/s/lxt.monitor.c1\nmonitor-cgroup /m\n" EXEC, &p) == 0);
	CHECK(p.nmonitor_cgroup == 2);
	CHECK_STR(p.monitor_cgroup[0], "/sys/fs/cgroup/s/lxt.monitor.c1");
	plan_free(&p);
}

static void malformed(void)
{
	REFUSED("", "header", 1, EINVAL);
	REFUSED("lxt-plan 2\n", "header", 1, EINVAL);
	REFUSED("lxt-plan 1", "line", 1, EINVAL);
	REFUSED(HEAD "exec /bin/tr", "line", 4, EINVAL);
	REFUSED(HEAD "\n" EXEC, "line", 4, EINVAL);
	REFUSED(HEAD "frob 1\n" EXEC, "op", 4, EINVAL);
	REFUSED(HEAD "hostname a%G1\n" EXEC, "hostname", 4, EINVAL);
	REFUSED(HEAD "hostname a%00\n" EXEC, "hostname", 4, EINVAL);
	REFUSED(HEAD "hostname  a\n" EXEC, "hostname", 4, EINVAL);
	REFUSED(HEAD "hostname a \n" EXEC, "hostname", 4, EINVAL);
	REFUSED(HEAD "hostname a\nhostname b\n" EXEC, "hostname", 5, EINVAL);
	REFUSED(HEAD "name y z\n" EXEC, "name", 4, EINVAL);
	REFUSED("lxt-plan 1\nname x\n" EXEC, "runtime", 4, EINVAL);
	REFUSED(HEAD, "exec", 4, EINVAL);
	REFUSED(HEAD "namespaces pid,,mnt\n" EXEC, "namespaces", 4, EINVAL);
	REFUSED(HEAD "namespaces pid,\n" EXEC, "namespaces", 4, EINVAL);
	REFUSED(HEAD "namespaces mnt,user\n" EXEC, "idmap", 6, EINVAL); /* the end checks: past the last */
	REFUSED(HEAD "rootfs /r\nmount proc /p proc 0 % 0 ,optional\n" EXEC, "mount", 5, EINVAL);
	REFUSED(HEAD "rootfs /r\nmount proc /p proc 0 % 0 create-dir,create-file\n" EXEC, "mount", 5,
		EINVAL);
	/* idmapped binds: only a bind of a host path, DATA `container` or absolute;
	 * `container` needs a user namespace (the end check). */
	REFUSED(HEAD "namespaces mnt\nrootfs /r\nmount /s /m % 0 container 0 idmapped\n" EXEC,
		"mount", 6, EINVAL);
	REFUSED(HEAD "namespaces mnt\nrootfs /r\nmount /s /m tmpfs 4096 container 0 idmapped\n" EXEC,
		"mount", 6, EINVAL);
	REFUSED(HEAD "namespaces mnt\nrootfs /r\nmount /s /m % 4096 container 0 src-in-root,idmapped\n"
		EXEC, "mount", 6, EINVAL);
	REFUSED(HEAD "namespaces mnt\nrootfs /r\nmount /s /m % 4096 proc/1/ns/user 0 idmapped\n" EXEC,
		"mount", 6, EINVAL);
	REFUSED(HEAD "namespaces mnt\nrootfs /r\nmount /s /m % 4096 container 0 idmapped\n" EXEC,
		"idmapped-mount", 8, EINVAL);
	REFUSED(HEAD "console /dev/console\nconsole-path ttyS0\n" EXEC, "console-path", 5, EINVAL);
	REFUSED(HEAD "console-path /dev/ttyS0\n" EXEC, "console-path", 6, EINVAL); /* the end check */
	REFUSED(HEAD "mkdir /d 755\n" EXEC, "mkdir", 4, EINVAL);
	REFUSED(HEAD "rootfs /r\nmknod /dev/sda 60660 8 0 %\n" EXEC, "mknod", 5, EINVAL);
	REFUSED(HEAD "rlimit 7 10 5\n" EXEC, "rlimit", 4, EINVAL);
	REFUSED(HEAD "rlimit 16 1 1\n" EXEC, "rlimit", 4, EINVAL);
	REFUSED(HEAD "sysctl net/../x 1\n" EXEC, "sysctl", 4, EINVAL);
	REFUSED(HEAD "uid 4294967295\n" EXEC, "uid", 4, EINVAL);
	REFUSED(HEAD "caps 1,,2\n" EXEC, "caps", 4, EINVAL);
	REFUSED(HEAD "host-hook sh\n" EXEC, "host-hook", 4, EINVAL);
	REFUSED(HEAD "exit-hook lxt destroy\n" EXEC, "exit-hook", 4, EINVAL);
	REFUSED(HEAD "criu-restore /ck/pid criu restore\n" EXEC, "criu-restore", 4, EINVAL);
	REFUSED(HEAD "criu-restore pid /usr/sbin/criu restore\n" EXEC, "criu-restore", 4, EINVAL);
	REFUSED(HEAD "criu-restore /ck/pid\n" EXEC, "criu-restore", 4, EINVAL);
	REFUSED(HEAD "monitor-cgroup relative/leaf\n" EXEC, "monitor-cgroup", 4, EINVAL);
	REFUSED(HEAD "monitor-pivot relative\n" EXEC, "monitor-pivot", 4, EINVAL);
	REFUSED(HEAD "netdev a/b\n" EXEC, "netdev", 4, EINVAL);
	REFUSED(HEAD "idmap u 0 4294967295 2\n" EXEC, "idmap", 4, EINVAL);
	REFUSED(HEAD "env =x\n" EXEC, "env", 4, EINVAL);
	REFUSED(HEAD "apparmor a%09b\n" EXEC, "apparmor", 4, EINVAL);
}

/* Plan text with COUNT copies of RECORD after PRELUDE (static buffer). */
static const char *repeated(const char *prelude, const char *record, int count)
{
	static char *buf;
	static size_t cap;
	size_t need = strlen(HEAD) + strlen(prelude) + 1 + (strlen(record) + 1) * (size_t)count +
		      strlen(EXEC) + 1, len;

	if (need > cap) {
		free(buf);
		buf = calloc(1, need);
		cap = need;
	}
	if (!buf)
		abort();
	len = (size_t)snprintf(buf, cap, "%s%s%s", HEAD, prelude, *prelude ? "\n" : "");
	for (int i = 0; i < count; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s\n", record);
	snprintf(buf + len, cap - len, "%s", EXEC);
	return buf;
}

static void bounds(void)
{
	static const struct {
		const char *op, *record, *prelude;
		int limit;
	} b[] = {
		{"cgroup1", "cgroup1 /c", "", PLAN_MAX_CGROUPS},
		{"cgroup-kill", "cgroup-kill /c", "", PLAN_MAX_CGROUPS},
		{"monitor-cgroup", "monitor-cgroup /c", "", PLAN_MAX_CGROUPS},
		{"monitor-pivot", "monitor-pivot /c", "", PLAN_MAX_CGROUPS},
		{"tty", "tty /dev/tty1", "", PLAN_MAX_TTYS},
		{"idmap", "idmap u 0 100000 1", "namespaces user", IDMAP_MAX},
		{"idmapped-mount", "idmapped-mount /r", "namespaces mnt,user", IDMAP_MAX},
		{"mount", "mount proc /proc proc 0 % 0 %", "rootfs /r", PLAN_MAX_RECS},
		{"mkdir", "mkdir /d 755", "rootfs /r", PLAN_MAX_RECS},
		{"mknod", "mknod /dev/null 666 1 3 %", "rootfs /r", PLAN_MAX_RECS},
		{"symlink", "symlink a /b", "rootfs /r", PLAN_MAX_RECS},
		{"sysctl", "sysctl kernel/domainname x", "", PLAN_MAX_RECS},
		{"rlimit", "rlimit 7 1 1", "", PLAN_MAX_RECS},
		{"env", "env A=1", "", PLAN_MAX_ENV},
		{"host-hook", "host-hook /bin/true", "", PLAN_MAX_HOOKS},
		{"stop-hook", "stop-hook /bin/true", "", PLAN_MAX_HOOKS},
		{"exit-hook", "exit-hook /bin/true", "", PLAN_MAX_HOOKS},
		{"lxc-hook", "lxc-hook stop /bin/true", "", PLAN_MAX_HOOKS},
		{"lxc-hook-env", "lxc-hook-env stop A=1", "", PLAN_MAX_ENV},
		{"net", "net up lo", "", PLAN_MAX_NETS},
		{"netdev", "netdev lxtv0", "", PLAN_MAX_NETDEVS},
		{"opt", "opt keyring new", "", PLAN_MAX_OPTS},
		{"seccomp-rule", "seccomp-rule all errno:1 mkdir", "seccomp allow x86_64",
		 PLAN_MAX_RULES},
	};
	char op[64];

	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		struct plan p;
		int head = 3 + (*b[i].prelude ? 1 : 0), rc;

#if !defined(__x86_64__)
		if (!strcmp(b[i].op, "seccomp-rule"))
			continue;
#endif
		/* The limit itself parses (up to the end checks, which some fail). */
		rc = parse(repeated(b[i].prelude, b[i].record, b[i].limit), &p);
		unit_checks++;
		if (rc < 0 && strstr(lxt_err.op, ":max=")) {
			unit_failures++;
			fprintf(stderr, "test-plan.c: %d %s records refused: %s\n", b[i].limit, b[i].op,
				lxt_err.op);
		}
		plan_free(&p);
		snprintf(op, sizeof(op), "%s:max=%d", b[i].op, b[i].limit);
		refused(__LINE__, repeated(b[i].prelude, b[i].record, b[i].limit + 1), op,
			head + b[i].limit + 1, E2BIG);
	}
	/* Idmapped binds share the 64 fds of the release message with idmapped-mount's. */
	{
		const char *bind = "mount /s /m % 4096 /proc/1/ns/user 0 idmapped";
		struct plan p;

		CHECK(parse(repeated("namespaces mnt\nrootfs /r", bind, IDMAP_MAX), &p) == 0);
		plan_free(&p);
		REFUSED(repeated("namespaces mnt\nrootfs /r", bind, IDMAP_MAX + 1), "mount",
			5 + IDMAP_MAX + 1, EINVAL);
		REFUSED(repeated("namespaces mnt,user\nidmap u 0 1 1\nidmap g 0 1 1\nidmapped-mount /x\nrootfs /r",
				 bind, IDMAP_MAX), "mount", 8 + IDMAP_MAX, EINVAL);
	}
}

/* `opt` records (nsopts.c): accepted as TypeScript writes them, refused otherwise. */
static void opts(void)
{
	struct plan p;

	CHECK(parse(HEAD "namespaces pid,mnt,uts\n"
			 "opt ns-share net /proc/42/ns/net\n"
			 "opt ns-share ipc /run/ipcns\n"
			 "opt timens 36000 0 -5 500\n"
			 "opt proc oom_score_adj -1000\n"
			 "opt proc attr/apparmor/exec x\n"
			 "opt groups 10,20,4294967294\n"
			 "opt keyring new\n"
			 "opt sched-core create\n"
			 "opt pdeath 15\n"
			 "opt personality 8\n"
			 "opt monitor-unshare mnt\n"
			 "opt seccomp-proxy @lxd/seccomp %\n" EXEC,
		    &p) == 0);
	CHECK(p.opts.nshare == 2 && p.opts.share[0].flag == CLONE_NEWNET && !p.opts.share_user);
	CHECK(p.opts.timens && p.opts.boot_s == 36000 && p.opts.mono_s == -5 && p.opts.mono_ns == 500);
	CHECK(p.opts.nproc == 2 && !strcmp(p.opts.proc[0].value, "-1000"));
	CHECK(p.opts.ngroups == 3 && p.opts.groups[2] == 4294967294u);
	CHECK(p.opts.keyring && p.opts.sched_core && p.opts.pdeath == 15 && p.opts.personality == 8);
	CHECK(p.opts.monitor_unshare);
	CHECK_STR(p.opts.proxy, "@lxd/seccomp");
	CHECK_STR(p.opts.cookie, "");
	plan_free(&p);
	/* A shared user namespace: its map is the plan's, not written, not cloned. */
	CHECK(parse(HEAD "namespaces mnt\nopt ns-share user /proc/42/ns/user\n"
			 "idmap u 0 100000 65536\nidmap g 0 100000 65536\n" EXEC,
		    &p) == 0);
	CHECK(p.opts.share_user && !(p.clone_flags & CLONE_NEWUSER));
	plan_free(&p);
#if defined(__x86_64__)
	CHECK(parse(HEAD "seccomp allow x86_64\nseccomp-rule all notify mknod\n" EXEC, &p) == 0);
	plan_free(&p);
	REFUSED(HEAD "seccomp notify x86_64\n" EXEC, "seccomp", 4, EINVAL);
#endif
	REFUSED(HEAD "opt\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt frob 1\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt keyring old\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt ns-share disk /x\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt ns-share net relative\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt ns-share net /a\nopt ns-share net /b\n" EXEC, "opt", 5, EINVAL);
	REFUSED(HEAD "opt timens 1 1000000000 0 0\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt timens 1 0 0\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt proc ../../etc/x 1\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt proc a//b 1\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt groups 1,,2\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt groups 4294967295\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt pdeath 0\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt pdeath 65\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt personality -1\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt seccomp-proxy relative c\n" EXEC, "opt", 4, EINVAL);
	REFUSED(HEAD "opt seccomp-proxy @ c\n" EXEC, "opt", 4, EINVAL);
	/* A namespace is made or joined, never both; a joined time namespace has its offsets. */
	REFUSED(HEAD "namespaces net\nopt ns-share net /x\n" EXEC, "opt", 7, EINVAL);
	REFUSED(HEAD "namespaces cgroup\nopt ns-share cgroup /x\n" EXEC, "opt", 7, EINVAL);
	REFUSED(HEAD "opt timens 0 0 0 0\nopt ns-share time /x\n" EXEC, "opt", 7, EINVAL);
	/* A shared user namespace still needs the maps (the ptys are chowned to its root). */
	REFUSED(HEAD "opt ns-share user /x\n" EXEC, "idmap", 6, EINVAL);
}

/* block-mount and the rootfs record's flags (lxc.rootfs.path = loop:, lxc.rootfs.options). */
static void block_mount(void)
{
	struct plan p;

	CHECK(parse(HEAD "namespaces mnt\nblock-mount loop /i ext4 /r 3 data=journal,discard\n"
			 "rootfs /r 1\n" EXEC, &p) == 0);
	CHECK(p.block && p.block->loop && p.block->flags == 3);
	CHECK_STR(p.block->fstype, "ext4");
	CHECK_STR(p.block->data, "data=journal,discard");
	CHECK(p.recs[0].op == REC_ROOTFS && p.recs[0].flags == 1);
	plan_free(&p);
	CHECK(parse(HEAD "namespaces mnt\nblock-mount dev /dev/vg/lv xfs /r 0 %\n" EXEC, &p) == 0);
	CHECK(p.block && !p.block->loop && !strcmp(p.block->data, ""));
	plan_free(&p);
	REFUSED(HEAD "namespaces mnt\nblock-mount tape /i ext4 /r 0 %\n" EXEC, "block-mount", 5, EINVAL);
	REFUSED(HEAD "namespaces mnt\nblock-mount loop i ext4 /r 0 %\n" EXEC, "block-mount", 5, EINVAL);
	REFUSED(HEAD "namespaces mnt\nblock-mount loop /i % /r 0 %\n" EXEC, "block-mount", 5, EINVAL);
	/* MS_BIND is the helper's to choose, not the config's. */
	REFUSED(HEAD "namespaces mnt\nblock-mount loop /i ext4 /r 4096 %\n" EXEC, "block-mount", 5,
		EINVAL);
	REFUSED(HEAD "namespaces mnt\nblock-mount loop /i ext4 /r 0 %\nblock-mount dev /d ext4 /r 0 %\n" EXEC,
		"block-mount", 6, EINVAL);
	/* Its mount lives in the container's own mount namespace. */
	REFUSED(HEAD "block-mount loop /i ext4 /r 0 %\n" EXEC, "block-mount", 6, EINVAL);
	REFUSED(HEAD "rootfs /r 4096\n" EXEC, "rootfs", 4, EINVAL);
	REFUSED(HEAD "rootfs /r x\n" EXEC, "rootfs", 4, EINVAL);
}

void test_plan(const char *fixtures)
{
	golden(fixtures);
	hooks(fixtures);
	minimal();
	malformed();
	opts();
	block_mount();
	bounds();
}
