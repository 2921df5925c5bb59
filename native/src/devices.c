/*
 * `lxt-shim devices`: the cgroup v2 device controller, an eBPF program of
 * type BPF_PROG_TYPE_CGROUP_DEVICE (Documentation/admin-guide/cgroup-v2.rst,
 * "Device controller"). TypeScript decides the rules; this file only
 * encodes them as eBPF instructions, loads the program and attaches it.
 *
 *   lxt-shim devices attach CGROUPDIR DEFAULT [RULE]...
 *   lxt-shim devices load DEFAULT [RULE]...     load only, print "ok N"
 *   lxt-shim devices dump DEFAULT [RULE]...     print the instructions
 *
 * DEFAULT is `allow` or `deny`: the verdict when no rule matches. Each RULE
 * `TYPE:MAJOR:MINOR:ACCESS` (TYPE c, b or a; MAJOR/MINOR decimal or `*`;
 * ACCESS a non-empty subset of `rwm`) is an exception with the opposite
 * verdict, as in the v1 controller: under `deny` a rule matches an access it
 * covers entirely, under `allow` one it covers in part. The first matching
 * rule decides.
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_RULES 4096
/* Per rule at most 8 instructions, plus the prologue and the default. */
#define MAX_INSNS (MAX_RULES * 8 + 16)
#define ANY -1

struct prog {
	struct bpf_insn *insns;
	int n;
};

static void emit(struct prog *p, __u8 code, __u8 dst, __u8 src, __s16 off, __s32 imm)
{
	struct bpf_insn *i = &p->insns[p->n++];

	memset(i, 0, sizeof(*i));
	i->code = code;
	i->dst_reg = dst & 0xf;
	i->src_reg = src & 0xf;
	i->off = off;
	i->imm = imm;
}

static int parse_num(const char *s, long long max, long long *out)
{
	if (!strcmp(s, "*")) {
		*out = ANY;
		return 0;
	}
	return parse_ll(s, 0, max, out);
}

int devices_parse_rule(const char *text, struct dev_rule *r)
{
	char buf[64], *f[4];

	if (strlen(text) >= sizeof(buf))
		return fail("devices", "rule", text, EINVAL);
	strcpy(buf, text);
	if (split_list(buf, ':', f, 4) != 4)
		return fail("devices", "rule", text, EINVAL);
	if (!strcmp(f[0], "c"))
		r->type = BPF_DEVCG_DEV_CHAR;
	else if (!strcmp(f[0], "b"))
		r->type = BPF_DEVCG_DEV_BLOCK;
	else if (!strcmp(f[0], "a"))
		r->type = 0;
	else
		return fail("devices", "rule", text, EINVAL);
	/* Majors are 12 bits, minors 20 (MINORBITS in the kernel). */
	if (parse_num(f[1], 4095, &r->major) < 0 || parse_num(f[2], (1 << 20) - 1, &r->minor) < 0)
		return fail("devices", "rule", text, EINVAL);
	r->access = 0;
	for (const char *c = f[3]; *c; c++) {
		int bit = *c == 'r' ? BPF_DEVCG_ACC_READ :
			  *c == 'w' ? BPF_DEVCG_ACC_WRITE :
			  *c == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
		if (!bit || (r->access & bit))
			return fail("devices", "rule", text, EINVAL);
		r->access |= bit;
	}
	if (!r->access)
		return fail("devices", "rule", text, EINVAL);
	return 0;
}

#define ALL_ACCESS (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)

/*
 * Registers: r1 the context (struct bpf_cgroup_dev_ctx), then scratch;
 * r2 the device type, r3 the requested access, r4 major, r5 minor.
 */
static void encode(struct prog *p, int deflt_allow, const struct dev_rule *rules, int nrules)
{
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);
	emit(p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 0, 0);
	emit(p, BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1,
	     offsetof(struct bpf_cgroup_dev_ctx, major), 0);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1,
	     offsetof(struct bpf_cgroup_dev_ctx, minor), 0);

	for (int k = 0; k < nrules; k++) {
		const struct dev_rule *r = &rules[k];
		int jumps[4], nj = 0;

		if (r->type)
			jumps[nj++] = p->n,
			emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0, r->type);
		if (r->access != ALL_ACCESS) {
			emit(p, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
			if (deflt_allow) {
				/* Any requested bit the rule names: denied. */
				emit(p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, r->access);
				jumps[nj++] = p->n;
				emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, 0);
			} else {
				/* Every requested bit must be one the rule names. */
				emit(p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0,
				     ~r->access & ALL_ACCESS);
				jumps[nj++] = p->n;
				emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0);
			}
		}
		if (r->major != ANY)
			jumps[nj++] = p->n,
			emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (__s32)r->major);
		if (r->minor != ANY)
			jumps[nj++] = p->n,
			emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (__s32)r->minor);
		emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, deflt_allow ? 0 : 1);
		emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
		/* Every failed test skips to the next rule's first instruction. */
		for (int j = 0; j < nj; j++)
			p->insns[jumps[j]].off = (__s16)(p->n - jumps[j] - 1);
	}
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, deflt_allow ? 1 : 0);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static char verifier_log[65536];

static int load(const struct prog *p)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (__u64)(unsigned long)p->insns;
	attr.insn_cnt = (__u32)p->n;
	attr.license = (__u64)(unsigned long)"GPL";
	strncpy(attr.prog_name, "lxt_devices", sizeof(attr.prog_name) - 1);
	fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd >= 0 || errno != EACCES)
		return fd < 0 ? fail("devices", "bpf-prog-load", NULL, errno) : fd;
	/* Rejected by the verifier: load again with its log, for the report. */
	attr.log_buf = (__u64)(unsigned long)verifier_log;
	attr.log_size = sizeof(verifier_log);
	attr.log_level = 1;
	fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd >= 0)
		return fd;
	fprintf(stderr, "%s\n", verifier_log);
	return fail("devices", "bpf-prog-load", NULL, errno);
}

static int attach(int prog_fd, const char *dir)
{
	union bpf_attr attr;
	int cg = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (cg < 0)
		return fail("devices", "open", dir, errno);
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (__u32)cg;
	attr.attach_bpf_fd = (__u32)prog_fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	/* Programs of the caller's cgroups keep running too: all must allow. */
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0) {
		int e = errno;
		close(cg);
		return fail("devices", "bpf-prog-attach", dir, e);
	}
	close(cg);
	return 0;
}

int devices_main(int argc, char **argv)
{
	static struct bpf_insn insns[MAX_INSNS];
	static struct dev_rule rules[MAX_RULES];
	struct prog p = { insns, 0 };
	const char *verb, *dir = NULL;
	int i = 0, nrules, deflt_allow, fd;

	if (argc < 2)
		goto usage;
	verb = argv[i++];
	if (!strcmp(verb, "attach")) {
		if (argc < 3)
			goto usage;
		dir = argv[i++];
		if (dir[0] != '/')
			goto usage;
	} else if (strcmp(verb, "load") && strcmp(verb, "dump")) {
		goto usage;
	}
	if (!strcmp(argv[i], "allow"))
		deflt_allow = 1;
	else if (!strcmp(argv[i], "deny"))
		deflt_allow = 0;
	else
		goto usage;
	i++;
	nrules = argc - i;
	if (nrules > MAX_RULES) {
		fail("devices", "rules", NULL, E2BIG);
		goto err;
	}
	for (int k = 0; k < nrules; k++)
		if (devices_parse_rule(argv[i + k], &rules[k]) < 0)
			goto err;
	encode(&p, deflt_allow, rules, nrules);

	if (!strcmp(verb, "dump")) {
		for (int k = 0; k < p.n; k++)
			printf("%02x %u %u %d %d\n", insns[k].code, insns[k].dst_reg,
			       insns[k].src_reg, insns[k].off, insns[k].imm);
		return 0;
	}
	fd = load(&p);
	if (fd < 0)
		goto err;
	if (!strcmp(verb, "load")) {
		printf("ok %d\n", p.n);
		close(fd);
		return 0;
	}
	if (attach(fd, dir) < 0)
		goto err;
	close(fd);
	return 0;
usage:
	fail("devices", "usage", NULL, EINVAL);
err:
	send_error(2);
	return 1;
}
