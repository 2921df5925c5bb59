/* The helpers' small parsers: fields, numbers, /proc stat lines, net records,
 * confinement records, device rules, shift maps. */
#include "../src/confine.h"
#include "../src/plan.h"
#include "../src/shim.h"
#include "../src/util.h"
#include "unit.h"

#include <linux/bpf.h>
#include <seccomp.h>
#include <stdlib.h>
#include <unistd.h>

/* Decodes a copy of IN; returns it (static) or NULL when refused. */
static const char *decoded(const char *in)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s", in);
	return pct_decode(buf) == 0 ? buf : NULL;
}

static void test_fields(void)
{
	char out[64];

	CHECK_STR(decoded("a%20b"), "a b");
	CHECK_STR(decoded("%"), "");
	CHECK_STR(decoded("caf%c3%A9"), "caf\xc3\xa9");
	CHECK_STR(decoded("/x/y:z=1,2+3@4-5._"), "/x/y:z=1,2+3@4-5._");
	CHECK(decoded("a%2") == NULL);
	CHECK(decoded("a%") == NULL);
	CHECK(decoded("%zz") == NULL);
	CHECK(decoded("a%00b") == NULL);
	CHECK(decoded("a b") == NULL);
	CHECK(decoded("a\tb") == NULL);
	CHECK(decoded("%%") == NULL);
	CHECK(pct_encode(out, sizeof(out), "a b\n") == 8);
	CHECK_STR(out, "a%20b%0A");
	CHECK(pct_encode(out, sizeof(out), "") == 1);
	CHECK_STR(out, "%");
	/* Truncation keeps the output a C string and says how much was needed. */
	CHECK(pct_encode(out, 4, "abcdef") == 6);
	CHECK_STR(out, "abc");
	CHECK(pct_encode(out, 4, "  ") == 6);
	CHECK_STR(out, "%20");
}

static void test_numbers(void)
{
	long long v = 0;
	unsigned long long u = 0;

	CHECK(parse_ll("0", 0, 10, &v) == 0 && v == 0);
	CHECK(parse_ll("-1", -1, 10, &v) == 0 && v == -1);
	CHECK(parse_ll("10", 0, 10, &v) == 0 && v == 10);
	CHECK(parse_ll("11", 0, 10, &v) < 0);
	CHECK(parse_ll("-2", -1, 10, &v) < 0);
	CHECK(parse_ll("", 0, 10, &v) < 0);
	CHECK(parse_ll("01", 0, 10, &v) < 0);
	CHECK(parse_ll("-0", -1, 10, &v) < 0);
	CHECK(parse_ll("+1", 0, 10, &v) < 0);
	CHECK(parse_ll(" 1", 0, 10, &v) < 0);
	CHECK(parse_ll("1 ", 0, 10, &v) < 0);
	CHECK(parse_ll("9223372036854775808", 0, 1LL << 62, &v) < 0);
	CHECK(parse_ull("755", 8, &u) == 0 && u == 0755);
	CHECK(parse_ull("8", 8, &u) < 0);
	CHECK(parse_ull("18446744073709551615", 10, &u) == 0 && u == ~0ULL);
	CHECK(parse_ull("18446744073709551616", 10, &u) < 0);
	CHECK(parse_ull("-1", 10, &u) < 0);
	CHECK(parse_ull("", 10, &u) < 0);
}

static void test_stat(void)
{
	/* Fields 3..22 after the comm; flags (9) and start time (22) wanted. */
	static const char line[] = "42 (a) b) (c) S 1 42 42 0 -1 4194624 100 0 0 0 1 2 0 0 20 0 1 0 "
				   "98765 1000 100 18446744073709551615\n";
	unsigned int flags = 0;
	unsigned long long start = 0;

	CHECK(parse_stat(line, &flags, &start) == 0);
	CHECK(flags == 4194624);
	CHECK(start == 98765);
	CHECK(parse_stat("42 (x) S 1 2 3", &flags, &start) < 0);
	CHECK(parse_stat("42 x S 1", &flags, &start) < 0);
	CHECK(parse_stat("42 (x)S 1 42 42 0 -1 64 0 0 0 0 0 0 0 0 20 0 1 0 5\n", &flags, &start) < 0);
	CHECK(parse_stat("42 (x) S 1 42 42 0 -1 z 0 0 0 0 0 0 0 0 20 0 1 0 5\n", &flags, &start) < 0);
	CHECK(parse_stat("42 (x) S 1 42 42 0 -1 64 0 0 0 0 0 0 0 0 20 0 1 0 5\n", &flags, &start) == 0);
	CHECK(flags == 64 && start == 5);
	CHECK(parse_stat("42 (x) S 1 42 42 0 -1 99999999999 0 0 0 0 0 0 0 0 20 0 1 0 5\n", &flags,
			 &start) < 0);
}

/* net_parse over a space-separated record (copied: fields are not changed). */
static int net_rec(const char *text)
{
	char buf[256], *f[8], *save = NULL;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", text);
	for (char *t = strtok_r(buf, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	return net_parse(f, n);
}

static void test_net(void)
{
	CHECK(valid_ifname("eth0"));
	CHECK(valid_ifname("abcdefghijklmno"));
	CHECK(!valid_ifname("abcdefghijklmnop"));
	CHECK(!valid_ifname(""));
	CHECK(!valid_ifname("."));
	CHECK(!valid_ifname(".."));
	CHECK(!valid_ifname("a/b"));
	CHECK(!valid_ifname("a:b"));
	CHECK(!valid_ifname("a b"));
	CHECK(net_rec("veth lxtv0 eth0 0 - br0 0 0") == 0);
	CHECK(net_rec("veth lxtv0 eth0 1500 00:16:3e:aa:bb:cc - 4 1024") == 0);
	CHECK(net_rec("veth lxtv0 eth0 0 - br0") < 0);
	CHECK(net_rec("veth lxtv0 eth0 0 - - 1025 0") < 0);
	CHECK(net_rec("veth lxtv0 eth0 0 - - 0 -1") < 0);
	CHECK(net_rec("veth lxtv0 eth0 67 - - 0 0") < 0);
	CHECK(net_rec("veth lxtv0 eth0 65536 - - 0 0") < 0);
	CHECK(net_rec("veth lxtv0 eth0 0 00:16:3e:aa:bb - 0 0") < 0);
	CHECK(net_rec("veth lxtv0 eth0 0 00:16:3e:aa:bb:cc: - 0 0") < 0);
	CHECK(net_rec("veth lxtv0 eth0 0 00-16-3e-aa-bb-cc - 0 0") < 0);
	CHECK(net_rec("veth lxtv0 eth0 0 -") < 0);
	CHECK(net_rec("vlan eth0 v42 42 0 -") == 0);
	CHECK(net_rec("vlan eth0 v0 0 1400 02:00:00:00:00:01") == 0);
	CHECK(net_rec("vlan eth0 v0 4095 0 -") < 0);
	CHECK(net_rec("vlan eth0 v0 none 0 -") < 0);
	CHECK(net_rec("ipvlan eth0 iv0 l3s private 0") == 0);
	CHECK(net_rec("ipvlan eth0 iv0 l2 bridge 1500") == 0);
	CHECK(net_rec("ipvlan eth0 iv0 l4 bridge 0") < 0);
	CHECK(net_rec("ipvlan eth0 iv0 l3 open 0") < 0);
	CHECK(net_rec("bridge-vlan lxtv0 br0 10 20,30") == 0);
	CHECK(net_rec("bridge-vlan lxtv0 br0 none -") == 0);
	CHECK(net_rec("bridge-vlan lxtv0 br0 - 4094") == 0);
	CHECK(net_rec("bridge-vlan lxtv0 br0 0 -") < 0);
	CHECK(net_rec("bridge-vlan lxtv0 br0 - 20,,30") < 0);
	CHECK(net_rec("bridge-vlan lxtv0 br0 - 20,") < 0);
	CHECK(net_rec("bridge-vlan lxtv0 br0 - none") < 0);
	CHECK(net_rec("macvlan eth0 mv0 bridge 0 -") == 0);
	CHECK(net_rec("macvlan eth0 mv0 vepa 9000 -") == 0);
	CHECK(net_rec("macvlan eth0 mv0 source 0 -") < 0);
	CHECK(net_rec("addr eth0 10.0.0.1/24") == 0);
	CHECK(net_rec("addr eth0 10.0.0.1") == 0);
	CHECK(net_rec("addr eth0 fd00::1/64") == 0);
	CHECK(net_rec("addr eth0 10.0.0.1/33") < 0);
	CHECK(net_rec("addr eth0 fd00::1/129") < 0);
	CHECK(net_rec("addr eth0 10.0.0.256/24") < 0);
	CHECK(net_rec("addr eth0 10.0.0.1/024") < 0);
	CHECK(net_rec("addr eth0 /24") < 0);
	CHECK(net_rec("route 0.0.0.0/0 10.0.0.1 eth0") == 0);
	CHECK(net_rec("route ::/0 fe80::1 eth0") == 0);
	CHECK(net_rec("route ::/0 - eth0") == 0);
	CHECK(net_rec("route ::/0 10.0.0.1 eth0") < 0);
	CHECK(net_rec("route 0.0.0.0/0 10.0.0.1/32 eth0") < 0);
	CHECK(net_rec("host-route 10.0.0.2/32 lxtv0") == 0);
	CHECK(net_rec("host-proxy fe80::1 lxtv0") == 0);
	CHECK(net_rec("pin /run/x/netns") == 0);
	CHECK(net_rec("pin netns") < 0);
	CHECK(net_rec("move eth1") == 0);
	CHECK(net_rec("link eth1 - 0 -") == 0);
	CHECK(net_rec("link eth1 lan0 1400 02:00:00:00:00:01") == 0);
	CHECK(net_rec("up lo") == 0);
	CHECK(net_rec("up lo lo") < 0);
	CHECK(net_rec("down lo") < 0);
}

static void test_confine(void)
{
	struct confinement c;
	char list[64], arches[64], r0[32], r1[32], r2[32], r3[32], r4[32];
	char *rule[] = {r0, r1, r2, r3, r4};

	memset(&c, 0, sizeof(c));
	strcpy(list, "0,1,63");
	CHECK(confine_parse_caps(&c, list) == 0 && c.keep == (1ULL | 2ULL | 1ULL << 63));
	strcpy(list, "");
	CHECK(confine_parse_caps(&c, list) == 0 && c.keep == 0 && c.has_caps);
	for (const char *bad = "1,1\0" "2,1\0" "64\0" "01\0" "-1\0" "1,,2\0"; *bad;
	     bad += strlen(bad) + 1) {
		strcpy(list, bad);
		CHECK(confine_parse_caps(&c, list) < 0);
	}
	memset(&c, 0, sizeof(c));
	strcpy(arches, "x86_64,x86,x32");
	if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
		CHECK(confine_parse_seccomp(&c, "allow", arches) == 0 && c.narches == 3);
		strcpy(r0, "all"), strcpy(r1, "errno:1"), strcpy(r2, "mkdir");
		strcpy(r3, "1,masked_eq,1,1"), strcpy(r4, "0,eq,5");
		CHECK(confine_parse_rule(&c, rule, 5) == 0 && c.rules[0].ncmp == 2);
		strcpy(r3, "0,eq,1"), strcpy(r4, "0,eq,2");
		CHECK(confine_parse_rule(&c, rule, 5) < 0); /* arg 0 twice */
		strcpy(r0, "x86"), strcpy(r1, "kill"), strcpy(r2, "83");
		CHECK(confine_parse_rule(&c, rule, 3) < 0); /* a number, not native */
		strcpy(r0, "x86_64");
		CHECK(confine_parse_rule(&c, rule, 3) == 0 && c.rules[c.nrules - 1].nr == 83);
		strcpy(r1, "allow");
		CHECK(confine_parse_rule(&c, rule, 3) < 0); /* the default action */
		strcpy(r1, "errno:4096");
		CHECK(confine_parse_rule(&c, rule, 3) < 0);
		strcpy(r0, "all"), strcpy(r1, "trap"), strcpy(r2, "Mkdir");
		CHECK(confine_parse_rule(&c, rule, 3) < 0);
		strcpy(r2, "mkdir"), strcpy(r3, "6,eq,1");
		CHECK(confine_parse_rule(&c, rule, 4) < 0);
		strcpy(r3, "0,eq,18446744073709551616");
		CHECK(confine_parse_rule(&c, rule, 4) < 0);
		free(c.rules);
		memset(&c, 0, sizeof(c));
		strcpy(arches, "x86_64,x86,x86");
		CHECK(confine_parse_seccomp(&c, "allow", arches) < 0);
		memset(&c, 0, sizeof(c));
		strcpy(arches, "aarch64");
		CHECK(confine_parse_seccomp(&c, "allow", arches) < 0);
		memset(&c, 0, sizeof(c));
		strcpy(arches, "x86_64");
		CHECK(confine_parse_seccomp(&c, "notify", arches) < 0);
	}
}

static void test_devices(void)
{
	struct dev_rule r;

	CHECK(devices_parse_rule("c:1:3:rwm", &r) == 0);
	CHECK(r.type == BPF_DEVCG_DEV_CHAR && r.major == 1 && r.minor == 3);
	CHECK(r.access == (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD));
	CHECK(devices_parse_rule("a:*:*:m", &r) == 0 && r.type == 0 && r.major == -1 && r.minor == -1);
	CHECK(devices_parse_rule("b:4095:1048575:r", &r) == 0);
	for (const char *bad = "b:4096:0:r\0" "c:1:1048576:r\0" "c:1:3:\0" "c:1:3:rr\0" "c:1:3:x\0"
			       "d:1:3:r\0" "c:1:3\0" "c:1:3:r:x\0" "c:01:3:r\0" "c::3:r\0";
	     *bad; bad += strlen(bad) + 1)
		CHECK(devices_parse_rule(bad, &r) < 0);
	CHECK(devices_parse_rule("c:1:3:rwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwmrwm", &r) < 0);
}

static void test_shift_map(void)
{
	static struct shift_map m;
	static char many[4096];
	size_t len = 0;

	CHECK(shift_parse_map("none", &m) == 0 && m.identity);
	CHECK(shift_parse_map("u:0:100000:65536,g:0:100000:65536", &m) == 0 && m.n == 2);
	CHECK(m.l[1].kind == 'g' && m.l[1].host == 100000 && m.l[1].count == 65536);
	CHECK(shift_parse_map("", &m) < 0);
	CHECK(shift_parse_map("x:0:1:1", &m) < 0);
	CHECK(shift_parse_map("u:0:1", &m) < 0);
	CHECK(shift_parse_map("u:0:1:1:1", &m) < 0);
	CHECK(shift_parse_map("u:0:4294967296:1", &m) < 0);
	CHECK(shift_parse_map("u:0:-1:1", &m) < 0);
	for (int i = 0; i <= SHIFT_MAP_MAX; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len, "%su:%d:%d:1", i ? "," : "", i,
					1000 + i);
	CHECK(shift_parse_map(many, &m) < 0); /* one line too many */
}

/* Parses a copy of IN as one attach control record. */
static int control(const char *in, struct attach_ctl *c)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s", in);
	return attach_control_parse(buf, c);
}

/* read_line: one line, nothing after it consumed; EOF, overlong lines refused. */
static void test_read_line(void)
{
	char buf[8];
	int fd = unit_file("abc\nrest\n123456789\n", 20);

	CHECK(fd >= 0);
	CHECK(read_line(fd, buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "abc");
	CHECK(read_line(fd, buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "rest");
	CHECK(read_line(fd, buf, sizeof(buf)) == -1); /* 9 bytes do not fit in 8 */
	close(fd);
	fd = unit_file("no newline", 10);
	CHECK(read_line(fd, buf, sizeof(buf)) == -1);
	close(fd);
}

static void test_attach_control(void)
{
	struct attach_ctl c = {0};

	CHECK(control("kill", &c) == 0 && c.kind == CTL_KILL);
	CHECK(control("signal 15", &c) == 0 && c.kind == CTL_SIGNAL && c.a == 15);
	CHECK(control("winsize 132 43", &c) == 0 && c.kind == CTL_WINSIZE && c.a == 132 &&
	      c.b == 43);
	CHECK(control("signal 0", &c) < 0);
	CHECK(control("signal 65", &c) < 0);
	CHECK(control("signal -9", &c) < 0);
	CHECK(control("signal", &c) < 0);
	CHECK(control("winsize 80", &c) < 0);
	CHECK(control("winsize 0 24", &c) < 0);
	CHECK(control("winsize 80 65536", &c) < 0);
	CHECK(control("winsize 80  24", &c) < 0);
	CHECK(control("kill now", &c) < 0);
	CHECK(control("", &c) < 0);
	CHECK(control("resize 80 24", &c) < 0);
}

void test_parsers(void)
{
	test_attach_control();
	test_read_line();
	test_fields();
	test_numbers();
	test_stat();
	test_net();
	test_confine();
	test_devices();
	test_shift_map();
}
