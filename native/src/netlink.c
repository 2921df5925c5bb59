/*
 * A container's NICs, made and configured by rtnetlink: the plan's `net`
 * records (docs/helper-protocol.md), run by the monitor after the child is
 * cloned and before it is released. Host-side records act in the monitor's
 * network namespace; container-side ones through a socket the monitor opens
 * inside the child's (setns there and straight back). One message per step,
 * each acknowledged, no exec: a NIC costs a few hundred microseconds.
 */
#include "plan.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#define NL_BUF 4096      /* a request */
#define NL_REPLY 32768   /* a reply: a link with every attribute but its stats fits */

/* The sockets of one run: the monitor's namespace and the child's. */
struct nl {
	int host, inside;
	int child_ns; /* /proc/PID/ns/net of the child */
	unsigned int seq;
};

/*
 * What net_run made or moved, for net_undo, which runs before the monitor
 * reports a failed start or answers a stop. A namespace that dies takes its
 * devices with it, but later, from a kernel worker: a veth's host end stays
 * listed for a moment, a phys device goes to the initial namespace. So the
 * run's sockets and the child's namespace stay open until then (they also
 * keep that namespace alive after the init), and each device is undone by
 * index: deleted (a veth with its peer), or moved back.
 */
enum made_kind { MADE_HOST, MADE_INSIDE, MADE_MOVED };

struct made {
	enum made_kind kind;
	int index;
	const char *name;       /* a moved device's name in the monitor's namespace */
};

static struct nl kept = {.host = -1, .inside = -1, .child_ns = -1};
static struct made *made;
static int nmade;

/* One request under construction. */
struct msg {
	union {
		struct nlmsghdr h;
		char buf[NL_BUF];
	} u;
	bool overflow;
};

static void *msg_start(struct msg *m, int type, int flags, const void *hdr, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->u.h.nlmsg_type = (unsigned short)type;
	m->u.h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
	m->u.h.nlmsg_len = NLMSG_LENGTH(len);
	memcpy(NLMSG_DATA(&m->u.h), hdr, len);
	return NLMSG_DATA(&m->u.h);
}

/* Appends an attribute; returns it (for nests), NULL once the buffer is full. */
static struct rtattr *put(struct msg *m, int type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(m->u.h.nlmsg_len);
	struct rtattr *a;

	if (at + RTA_SPACE(len) > sizeof(m->u.buf)) {
		m->overflow = true;
		return NULL;
	}
	a = (struct rtattr *)(m->u.buf + at);
	a->rta_type = (unsigned short)type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	m->u.h.nlmsg_len = (unsigned int)(at + RTA_ALIGN(a->rta_len));
	return a;
}

static void put_u32(struct msg *m, int type, unsigned int v)
{
	put(m, type, &v, sizeof(v));
}

static void put_str(struct msg *m, int type, const char *s)
{
	put(m, type, s, strlen(s) + 1);
}

static void nest_end(struct msg *m, struct rtattr *a)
{
	if (a)
		a->rta_len = (unsigned short)(m->u.buf + m->u.h.nlmsg_len - (char *)a);
}

static int nl_socket(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Sends the request and reads until its acknowledgement. A reply of type
 * `want` before it is copied into `reply` (GETLINK). Returns 0 or a negative
 * errno from the kernel.
 */
static int talk(struct nl *n, int fd, struct msg *m, int want, char *reply, size_t cap)
{
	char buf[NL_REPLY];
	unsigned int seq = ++n->seq;

	if (m->overflow)
		return -EMSGSIZE;
	m->u.h.nlmsg_seq = seq;
	if (send(fd, m->u.buf, m->u.h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (h->nlmsg_type == want && reply && h->nlmsg_len <= cap)
				memcpy(reply, h, h->nlmsg_len);
		}
	}
}

/* What a link lookup learns. */
struct link_info {
	int index;
	unsigned int mtu;
	char kind[16];
	/* A bridge's: IFLA_BR_VLAN_FILTERING and IFLA_BR_VLAN_DEFAULT_PVID
	 * (absent: a kernel without CONFIG_BRIDGE_VLAN_FILTERING). */
	bool can_filter, vlan_filtering;
	unsigned short default_pvid;
};

/* A bridge's vlan settings from its IFLA_INFO_DATA. */
static void bridge_data(struct rtattr *data, struct link_info *out)
{
	int len = (int)RTA_PAYLOAD(data);

	for (struct rtattr *c = RTA_DATA(data); RTA_OK(c, len); c = RTA_NEXT(c, len)) {
		if (c->rta_type == IFLA_BR_VLAN_FILTERING && RTA_PAYLOAD(c) >= 1)
			out->vlan_filtering = *(unsigned char *)RTA_DATA(c) != 0;
		if (c->rta_type == IFLA_BR_VLAN_DEFAULT_PVID && RTA_PAYLOAD(c) >= 2) {
			out->can_filter = true;
			memcpy(&out->default_pvid, RTA_DATA(c), 2);
		}
	}
}

/* Looks a link up by name on fd's namespace: 0, or a negative errno (-ENODEV: none). */
static int get_link(struct nl *n, int fd, const char *name, struct link_info *out)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	char reply[NL_REPLY];
	struct nlmsghdr *h = (struct nlmsghdr *)reply;
	struct ifinfomsg *r;
	struct rtattr *a;
	struct msg m;
	int len, rc;

	msg_start(&m, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	put_str(&m, IFLA_IFNAME, name);
	put_u32(&m, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	h->nlmsg_type = NLMSG_NOOP;
	rc = talk(n, fd, &m, RTM_NEWLINK, reply, sizeof(reply));
	if (rc < 0)
		return rc;
	if (h->nlmsg_type != RTM_NEWLINK)
		return -ENODEV;
	memset(out, 0, sizeof(*out));
	r = NLMSG_DATA(h);
	out->index = r->ifi_index;
	len = (int)IFLA_PAYLOAD(h);
	for (a = IFLA_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_MTU && RTA_PAYLOAD(a) >= 4)
			memcpy(&out->mtu, RTA_DATA(a), 4);
		if (a->rta_type == IFLA_LINKINFO) {
			int l2 = (int)RTA_PAYLOAD(a);
			struct rtattr *data = NULL;
			for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, l2); b = RTA_NEXT(b, l2)) {
				if (b->rta_type == IFLA_INFO_KIND)
					snprintf(out->kind, sizeof(out->kind), "%.*s",
						 (int)RTA_PAYLOAD(b), (char *)RTA_DATA(b));
				if (b->rta_type == IFLA_INFO_DATA)
					data = b;
			}
			if (data && !strcmp(out->kind, "bridge"))
				bridge_data(data, out);
		}
	}
	return 0;
}

/* A link that must exist: its info, or the error record naming it. */
static int need_link(struct nl *n, int fd, const char *name, struct link_info *out)
{
	int rc = get_link(n, fd, name, out);

	return rc < 0 ? fail("net", "no-link", name, -rc) : 0;
}

/* "xx:xx:xx:xx:xx:xx" into 6 bytes; -1 unless exactly that. */
static int parse_mac(const char *s, unsigned char mac[6])
{
	unsigned int b[6];
	char end;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3 + 2] != (i < 5 ? ':' : '\0'))
			return -1;
		mac[i] = (unsigned char)b[i];
	}
	return 0;
}

/* An address with an optional /PREFIX: family, bytes, prefix (default: full length). */
struct addr {
	int family;
	unsigned char bytes[16];
	int len;    /* 4 or 16 */
	int prefix;
};

/* The first n bytes of s as a string in buf (cap bytes); -1 when empty or too long. */
static int take(char *buf, size_t cap, const char *s, size_t n)
{
	if (n == 0 || n >= cap)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

static int parse_addr(const char *s, struct addr *a)
{
	char text[64];
	const char *slash = strchr(s, '/');
	long long p;

	if (take(text, sizeof(text), s, slash ? (size_t)(slash - s) : strlen(s)) < 0)
		return -1;
	if (inet_pton(AF_INET, text, a->bytes) == 1) {
		a->family = AF_INET;
		a->len = 4;
	} else if (inet_pton(AF_INET6, text, a->bytes) == 1) {
		a->family = AF_INET6;
		a->len = 16;
	} else {
		return -1;
	}
	a->prefix = a->len * 8;
	if (slash) {
		if (parse_ll(slash + 1, 0, a->len * 8, &p) < 0)
			return -1;
		a->prefix = (int)p;
	}
	return 0;
}

/* MTU field: "0" for none, else 68..65535. */
static int parse_mtu(const char *s, unsigned int *out)
{
	long long v;

	if (!strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	if (parse_ll(s, 68, 65535, &v) < 0)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

bool valid_ifname(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 15 && strcmp(name, ".") && strcmp(name, "..") &&
	       !strpbrk(name, "/: \t\n");
}

/* A mode's kernel value by its LXC name; -1 for none. */
struct named {
	const char *name;
	int value;
};

static int by_name(const struct named *t, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, t[i].name))
			return t[i].value;
	return -1;
}

#define BY_NAME(t, s) by_name(t, sizeof(t) / sizeof(t[0]), s)

static const struct named macvlan_modes[] = {
	{"private", MACVLAN_MODE_PRIVATE},
	{"vepa", MACVLAN_MODE_VEPA},
	{"bridge", MACVLAN_MODE_BRIDGE},
	{"passthru", MACVLAN_MODE_PASSTHRU},
};

/* ipvlan modes and isolations (IFLA_IPVLAN_MODE, IFLA_IPVLAN_FLAGS; bridge has no flag). */
static const struct named ipvlan_modes[] = {
	{"l2", IPVLAN_MODE_L2}, {"l3", IPVLAN_MODE_L3}, {"l3s", IPVLAN_MODE_L3S}};
static const struct named ipvlan_isolations[] = {
	{"bridge", 0}, {"private", IPVLAN_F_PRIVATE}, {"vepa", IPVLAN_F_VEPA}};

static void put_u16(struct msg *m, int type, unsigned short v)
{
	put(m, type, &v, sizeof(v));
}

/* A queue count: "0" for the kernel's default, else 1..1024. */
static int parse_queues(const char *s, unsigned int *out)
{
	long long v;

	if (parse_ll(s, 0, 1024, &v) < 0)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/* A VLAN id min..4094 (`none` is 0 where allowed). */
static int parse_vid(const char *s, bool none_ok, int min, unsigned short *out)
{
	long long v;

	if (none_ok && !strcmp(s, "none")) {
		*out = 0;
		return 0;
	}
	if (parse_ll(s, min, 4094, &v) < 0)
		return -1;
	*out = (unsigned short)v;
	return 0;
}

/* A comma list of VLAN ids, or "-"; calls each(vid) when given. */
static int each_vid(const char *list, int (*each)(void *, unsigned short), void *arg)
{
	char buf[8];
	const char *p = list;

	if (!strcmp(list, "-"))
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		unsigned short vid;

		if (take(buf, sizeof(buf), p, comma ? (size_t)(comma - p) : strlen(p)) < 0)
			return -1;
		if (parse_vid(buf, false, 1, &vid) < 0 || (each && each(arg, vid) < 0))
			return -1;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* The record verbs: name, field count after the verb. */
static const struct {
	const char *verb;
	int nargs;
} verbs[] = {
	{"pin", 1},     {"veth", 7}, {"macvlan", 5},    {"move", 1},       {"link", 4},
	{"up", 1},      {"addr", 2}, {"route", 3},      {"host-route", 2}, {"host-proxy", 2},
	{"vlan", 5},    {"ipvlan", 5}, {"bridge-vlan", 4},
};

/* Checks one `net` record's fields (f[0] the verb, n fields in all). */
int net_parse(char **f, int n)
{
	unsigned char mac[6];
	unsigned int mtu = 0;
	struct addr a;
	const char *v = f[0];
	bool known = false;

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(v, verbs[i].verb)) {
			if (n != verbs[i].nargs + 1)
				return -1;
			known = true;
		}
	if (!known)
		return -1;
	if (!strcmp(v, "pin"))
		return f[1][0] == '/' ? 0 : -1;
	if (!strcmp(v, "veth")) { /* HOST PEER MTU MAC MASTER RXQ TXQ */
		unsigned int q;
		return valid_ifname(f[1]) && valid_ifname(f[2]) && parse_mtu(f[3], &mtu) == 0 &&
			       (!strcmp(f[4], "-") || parse_mac(f[4], mac) == 0) &&
			       (!strcmp(f[5], "-") || valid_ifname(f[5])) &&
			       parse_queues(f[6], &q) == 0 && parse_queues(f[7], &q) == 0
			   ? 0
			   : -1;
	}
	if (!strcmp(v, "vlan")) { /* PARENT NAME VID MTU MAC */
		unsigned short vid;
		return valid_ifname(f[1]) && valid_ifname(f[2]) && parse_vid(f[3], false, 0, &vid) == 0 &&
			       parse_mtu(f[4], &mtu) == 0 &&
			       (!strcmp(f[5], "-") || parse_mac(f[5], mac) == 0)
			   ? 0
			   : -1;
	}
	if (!strcmp(v, "ipvlan")) /* PARENT NAME MODE ISOLATION MTU */
		return valid_ifname(f[1]) && valid_ifname(f[2]) && BY_NAME(ipvlan_modes, f[3]) >= 0 &&
			       BY_NAME(ipvlan_isolations, f[4]) >= 0 && parse_mtu(f[5], &mtu) == 0
			   ? 0
			   : -1;
	if (!strcmp(v, "bridge-vlan")) { /* PORT BRIDGE PVID TAGGED */
		unsigned short vid;
		return valid_ifname(f[1]) && valid_ifname(f[2]) &&
			       (!strcmp(f[3], "-") || parse_vid(f[3], true, 1, &vid) == 0) &&
			       each_vid(f[4], NULL, NULL) == 0
			   ? 0
			   : -1;
	}
	if (!strcmp(v, "macvlan")) /* PARENT NAME MODE MTU MAC */
		return valid_ifname(f[1]) && valid_ifname(f[2]) && BY_NAME(macvlan_modes, f[3]) > 0 &&
			       parse_mtu(f[4], &mtu) == 0 &&
			       (!strcmp(f[5], "-") || parse_mac(f[5], mac) == 0)
			   ? 0
			   : -1;
	if (!strcmp(v, "link")) /* IFNAME NEWNAME MTU MAC */
		return valid_ifname(f[1]) && (!strcmp(f[2], "-") || valid_ifname(f[2])) &&
			       parse_mtu(f[3], &mtu) == 0 &&
			       (!strcmp(f[4], "-") || parse_mac(f[4], mac) == 0)
			   ? 0
			   : -1;
	if (!strcmp(v, "move") || !strcmp(v, "up"))
		return valid_ifname(f[1]) ? 0 : -1;
	if (!strcmp(v, "addr")) /* IFNAME CIDR */
		return valid_ifname(f[1]) && parse_addr(f[2], &a) == 0 ? 0 : -1;
	if (!strcmp(v, "route")) { /* DST VIA IFNAME */
		struct addr via;
		if (parse_addr(f[1], &a) < 0 || !valid_ifname(f[3]))
			return -1;
		if (!strcmp(f[2], "-"))
			return 0;
		return parse_addr(f[2], &via) == 0 && !strchr(f[2], '/') && via.family == a.family ? 0
												    : -1;
	}
	/* host-route CIDR IFNAME, host-proxy ADDR IFNAME */
	return parse_addr(f[1], &a) == 0 && valid_ifname(f[2]) ? 0 : -1;
}

/* Opens the route socket inside the child's network namespace. */
static int open_inside(struct nl *n, pid_t pid)
{
	char path[64];
	int self, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	n->child_ns = open(path, O_RDONLY | O_CLOEXEC);
	if (n->child_ns < 0)
		return fail("net", "open", path, errno);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return fail("net", "open", "/proc/self/ns/net", errno);
	if (setns(n->child_ns, CLONE_NEWNET) < 0) {
		rc = fail("net", "setns", path, errno);
	} else {
		n->inside = nl_socket();
		if (n->inside < 0)
			rc = fail("net", "socket", path, errno);
		/* Back home; staying in the child's namespace is not an option. */
		if (setns(self, CLONE_NEWNET) < 0) {
			close(self);
			fail("net", "setns", "/proc/self/ns/net", errno);
			abort();
		}
	}
	close(self);
	return rc;
}

static int check(int rc, const char *verb, const char *what)
{
	return rc < 0 ? fail("net", verb, what, -rc) : 0;
}

/* Notes a device just made (or moved in) as NAME on fd's namespace, for net_undo. */
static int remember(struct nl *n, int fd, const char *name, enum made_kind kind)
{
	struct link_info l;

	if (need_link(n, fd, name, &l) < 0)
		return -1;
	made[nmade++] = (struct made){.kind = kind, .index = l.index, .name = name};
	return 0;
}

/* veth HOST PEER MTU MAC MASTER: host end up (on MASTER), peer in the child's namespace. */
static int do_veth(struct nl *n, char **f)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
	struct ifinfomsg peer = {.ifi_family = AF_UNSPEC};
	struct rtattr *info, *data, *pa;
	struct link_info master = {0};
	unsigned char mac[6];
	unsigned int mtu = 0, rxq = 0, txq = 0;
	struct msg m;

	parse_mtu(f[3], &mtu);
	parse_queues(f[6], &rxq);
	parse_queues(f[7], &txq);
	if (strcmp(f[5], "-") != 0) {
		if (need_link(n, n->host, f[5], &master) < 0)
			return -1;
		if (strcmp(master.kind, "bridge") != 0)
			return fail("net", "not-bridge", f[5], 0);
		/* As LXC: without an MTU of its own, the pair takes the bridge's. */
		if (!mtu)
			mtu = master.mtu;
	}
	msg_start(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
	put_str(&m, IFLA_IFNAME, f[1]);
	if (mtu)
		put_u32(&m, IFLA_MTU, mtu);
	if (master.index)
		put_u32(&m, IFLA_MASTER, (unsigned int)master.index);
	/* RXQ/TXQ are the container's end's; the host end mirrors them, as LXC does. */
	if (txq)
		put_u32(&m, IFLA_NUM_RX_QUEUES, txq);
	if (rxq)
		put_u32(&m, IFLA_NUM_TX_QUEUES, rxq);
	info = put(&m, IFLA_LINKINFO, NULL, 0);
	put_str(&m, IFLA_INFO_KIND, "veth");
	data = put(&m, IFLA_INFO_DATA, NULL, 0);
	pa = put(&m, VETH_INFO_PEER, &peer, sizeof(peer));
	put_str(&m, IFLA_IFNAME, f[2]);
	put_u32(&m, IFLA_NET_NS_FD, (unsigned int)n->child_ns);
	if (strcmp(f[4], "-") != 0 && parse_mac(f[4], mac) == 0)
		put(&m, IFLA_ADDRESS, mac, 6);
	if (mtu)
		put_u32(&m, IFLA_MTU, mtu);
	if (rxq)
		put_u32(&m, IFLA_NUM_RX_QUEUES, rxq);
	if (txq)
		put_u32(&m, IFLA_NUM_TX_QUEUES, txq);
	nest_end(&m, pa);
	nest_end(&m, data);
	nest_end(&m, info);
	if (check(talk(n, n->host, &m, 0, NULL, 0), "veth", f[1]) < 0)
		return -1;
	return remember(n, n->host, f[1], MADE_HOST);
}

/*
 * A device on PARENT made straight in the child's namespace:
 * macvlan PARENT NAME MODE MTU MAC, vlan PARENT NAME VID MTU MAC,
 * ipvlan PARENT NAME MODE ISOLATION MTU (an ipvlan has its parent's MAC).
 */
static int do_sublink(struct nl *n, char **f)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	bool ipvlan = !strcmp(f[0], "ipvlan");
	const char *mac_field = ipvlan ? "-" : f[5];
	struct link_info parent;
	struct rtattr *info, *data;
	unsigned char mac[6];
	unsigned int mtu = 0;
	unsigned short vid = 0;
	struct msg m;

	if (need_link(n, n->host, f[1], &parent) < 0)
		return -1;
	parse_mtu(ipvlan ? f[5] : f[4], &mtu);
	msg_start(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
	put_str(&m, IFLA_IFNAME, f[2]);
	put_u32(&m, IFLA_LINK, (unsigned int)parent.index);
	put_u32(&m, IFLA_NET_NS_FD, (unsigned int)n->child_ns);
	if (mtu)
		put_u32(&m, IFLA_MTU, mtu);
	if (strcmp(mac_field, "-") != 0 && parse_mac(mac_field, mac) == 0)
		put(&m, IFLA_ADDRESS, mac, 6);
	info = put(&m, IFLA_LINKINFO, NULL, 0);
	put_str(&m, IFLA_INFO_KIND, f[0]);
	data = put(&m, IFLA_INFO_DATA, NULL, 0);
	if (ipvlan) {
		put_u16(&m, IFLA_IPVLAN_MODE, (unsigned short)BY_NAME(ipvlan_modes, f[3]));
		put_u16(&m, IFLA_IPVLAN_FLAGS, (unsigned short)BY_NAME(ipvlan_isolations, f[4]));
	} else if (!strcmp(f[0], "vlan")) {
		parse_vid(f[3], false, 0, &vid);
		put_u16(&m, IFLA_VLAN_ID, vid);
	} else {
		put_u32(&m, IFLA_MACVLAN_MODE, (unsigned int)BY_NAME(macvlan_modes, f[3]));
	}
	nest_end(&m, data);
	nest_end(&m, info);
	if (check(talk(n, n->host, &m, 0, NULL, 0), f[0], f[2]) < 0)
		return -1;
	return remember(n, n->inside, f[2], MADE_INSIDE);
}

/* One VLAN of a bridge port: added (RTM_SETLINK) or deleted (RTM_DELLINK). */
static int port_vlan(struct nl *n, int ifindex, int op, unsigned short vid, bool untagged)
{
	struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = ifindex};
	struct bridge_vlan_info vi = {.vid = vid};
	struct rtattr *spec;
	struct msg m;

	if (untagged)
		vi.flags = BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED;
	msg_start(&m, op, 0, &ifi, sizeof(ifi));
	spec = put(&m, IFLA_AF_SPEC, NULL, 0);
	put_u16(&m, IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_MASTER);
	put(&m, IFLA_BRIDGE_VLAN_INFO, &vi, sizeof(vi));
	nest_end(&m, spec);
	return talk(n, n->host, &m, 0, NULL, 0);
}

struct tag_arg {
	struct nl *n;
	int ifindex;
	const char *port;
};

static int add_tagged(void *arg, unsigned short vid)
{
	struct tag_arg *t = arg;
	char what[32];

	snprintf(what, sizeof(what), "%s:%u", t->port, vid);
	return check(port_vlan(t->n, t->ifindex, RTM_SETLINK, vid, false), "bridge-vlan", what);
}

/*
 * bridge-vlan PORT BRIDGE PVID TAGGED: a veth host end's VLANs on its
 * bridge, which must filter VLANs. PVID (or `none`) replaces the bridge's
 * default untagged VLAN on the port; TAGGED are added as tagged.
 */
static int do_bridge_vlan(struct nl *n, char **f)
{
	struct link_info port, bridge;
	unsigned short pvid = 0;

	if (need_link(n, n->host, f[2], &bridge) < 0 || need_link(n, n->host, f[1], &port) < 0)
		return -1;
	if (strcmp(bridge.kind, "bridge") != 0)
		return fail("net", "not-bridge", f[2], 0);
	if (!bridge.can_filter)
		return fail("net", "vlan-filtering", f[2], EOPNOTSUPP);
	if (!bridge.vlan_filtering)
		return fail("net", "vlan-filtering", f[2], EPERM);
	if (strcmp(f[3], "-") != 0) {
		parse_vid(f[3], true, 1, &pvid);
		if (bridge.default_pvid && bridge.default_pvid != pvid &&
		    check(port_vlan(n, port.index, RTM_DELLINK, bridge.default_pvid, false),
			  "bridge-vlan", f[1]) < 0)
			return -1;
		if (pvid && check(port_vlan(n, port.index, RTM_SETLINK, pvid, true), "bridge-vlan",
				  f[1]) < 0)
			return -1;
	}
	struct tag_arg t = {.n = n, .ifindex = port.index, .port = f[1]};
	return each_vid(f[4], add_tagged, &t);
}

/* move IFNAME: a host device into the child's namespace (phys). */
static int do_move(struct nl *n, char **f)
{
	struct link_info l;
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	struct msg m;

	if (need_link(n, n->host, f[1], &l) < 0)
		return -1;
	ifi.ifi_index = l.index;
	msg_start(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	put_u32(&m, IFLA_NET_NS_FD, (unsigned int)n->child_ns);
	if (check(talk(n, n->host, &m, 0, NULL, 0), "move", f[1]) < 0)
		return -1;
	return remember(n, n->inside, f[1], MADE_MOVED);
}

/* link IFNAME NEWNAME MTU MAC, and up IFNAME: inside the child's namespace. */
static int do_link(struct nl *n, char **f, bool up)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	struct link_info l;
	unsigned char mac[6];
	unsigned int mtu = 0;
	struct msg m;

	if (need_link(n, n->inside, f[1], &l) < 0)
		return -1;
	ifi.ifi_index = l.index;
	if (up) {
		ifi.ifi_flags = IFF_UP;
		ifi.ifi_change = IFF_UP;
	}
	msg_start(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	if (!up) {
		if (strcmp(f[2], "-") != 0)
			put_str(&m, IFLA_IFNAME, f[2]);
		parse_mtu(f[3], &mtu);
		if (mtu)
			put_u32(&m, IFLA_MTU, mtu);
		if (strcmp(f[4], "-") != 0 && parse_mac(f[4], mac) == 0)
			put(&m, IFLA_ADDRESS, mac, 6);
	}
	return check(talk(n, n->inside, &m, 0, NULL, 0), up ? "up" : "link", f[1]);
}

/* addr IFNAME CIDR inside: IPv4 with its broadcast, IPv6 without DAD (usable at once). */
static int do_addr(struct nl *n, char **f)
{
	struct ifaddrmsg ifa = {0};
	struct link_info l;
	struct addr a;
	struct msg m;

	parse_addr(f[2], &a);
	if (need_link(n, n->inside, f[1], &l) < 0)
		return -1;
	ifa.ifa_family = (unsigned char)a.family;
	ifa.ifa_prefixlen = (unsigned char)a.prefix;
	ifa.ifa_index = (unsigned int)l.index;
	if (a.family == AF_INET6)
		ifa.ifa_flags = IFA_F_NODAD;
	msg_start(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
	put(&m, IFA_LOCAL, a.bytes, (size_t)a.len);
	put(&m, IFA_ADDRESS, a.bytes, (size_t)a.len);
	if (a.family == AF_INET && a.prefix < 31) {
		unsigned char b[4];
		for (int i = 0; i < 4; i++) {
			int bits = a.prefix - i * 8;
			unsigned char mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
			b[i] = a.bytes[i] | (unsigned char)~mask;
		}
		put(&m, IFA_BROADCAST, b, 4);
	}
	return check(talk(n, n->inside, &m, 0, NULL, 0), "addr", f[2]);
}

/* A route through IFNAME on fd's namespace: to DST, via GW (on-link) or straight on the link. */
static int add_route(struct nl *n, int fd, const char *dst, const char *via, int ifindex,
		     const char *verb)
{
	struct rtmsg rt = {.rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
			   .rtm_type = RTN_UNICAST};
	struct addr d, g;
	struct msg m;

	parse_addr(dst, &d);
	rt.rtm_family = (unsigned char)d.family;
	rt.rtm_dst_len = (unsigned char)d.prefix;
	rt.rtm_scope = via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	if (via)
		rt.rtm_flags = RTNH_F_ONLINK;
	msg_start(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
	if (d.prefix)
		put(&m, RTA_DST, d.bytes, (size_t)d.len);
	if (via && parse_addr(via, &g) == 0)
		put(&m, RTA_GATEWAY, g.bytes, (size_t)g.len);
	put_u32(&m, RTA_OIF, (unsigned int)ifindex);
	return check(talk(n, fd, &m, 0, NULL, 0), verb, dst);
}

/* host-proxy ADDR IFNAME: answer ARP/NDP for ADDR on IFNAME (router mode's gateway). */
static int do_proxy(struct nl *n, char **f)
{
	struct ndmsg nd = {.ndm_state = NUD_PERMANENT, .ndm_flags = NTF_PROXY};
	struct link_info l;
	struct addr a;
	struct msg m;

	parse_addr(f[1], &a);
	if (need_link(n, n->host, f[2], &l) < 0)
		return -1;
	nd.ndm_family = (unsigned char)a.family;
	nd.ndm_ifindex = l.index;
	msg_start(&m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, &nd, sizeof(nd));
	put(&m, NDA_DST, a.bytes, (size_t)a.len);
	return check(talk(n, n->host, &m, 0, NULL, 0), "host-proxy", f[1]);
}

static int run_one(struct nl *n, char **f)
{
	struct link_info l;
	const char *v = f[0];

	if (!strcmp(v, "pin")) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", n->child_ns);
		return mount(path, f[1], NULL, MS_BIND, NULL) < 0 ? fail("net", "pin", f[1], errno) : 0;
	}
	if (!strcmp(v, "veth"))
		return do_veth(n, f);
	if (!strcmp(v, "macvlan") || !strcmp(v, "vlan") || !strcmp(v, "ipvlan"))
		return do_sublink(n, f);
	if (!strcmp(v, "bridge-vlan"))
		return do_bridge_vlan(n, f);
	if (!strcmp(v, "move"))
		return do_move(n, f);
	if (!strcmp(v, "link") || !strcmp(v, "up"))
		return do_link(n, f, !strcmp(v, "up"));
	if (!strcmp(v, "addr"))
		return do_addr(n, f);
	if (!strcmp(v, "route")) {
		if (need_link(n, n->inside, f[3], &l) < 0)
			return -1;
		return add_route(n, n->inside, f[1], strcmp(f[2], "-") ? f[2] : NULL, l.index, "route");
	}
	if (!strcmp(v, "host-route")) {
		if (need_link(n, n->host, f[2], &l) < 0)
			return -1;
		return add_route(n, n->host, f[1], NULL, l.index, "host-route");
	}
	return do_proxy(n, f);
}

/* The run's sockets: the monitor's namespace and PID's, kept for net_undo. */
static int net_open(const struct plan *p, pid_t pid)
{
	struct nl *n = &kept;

	made = xcalloc((size_t)p->nnets, sizeof(*made));
	n->host = nl_socket();
	if (n->host < 0)
		return fail("net", "socket", NULL, errno);
	return open_inside(n, pid);
}

int net_run(const struct plan *p, pid_t child)
{
	int rc;

	if (p->nnets == 0)
		return 0;
	rc = net_open(p, child);
	for (int i = 0; rc == 0 && i < p->nnets; i++)
		rc = run_one(&kept, p->nets[i]);
	return rc;
}

int net_adopt(const struct plan *p, pid_t init)
{
	int rc;

	if (p->nnets == 0)
		return 0;
	rc = net_open(p, init);
	for (int i = 0; rc == 0 && i < p->nnets; i++)
		if (!strcmp(p->nets[i][0], "veth"))
			rc = remember(&kept, kept.host, p->nets[i][1], MADE_HOST);
	return rc;
}

/* RTM_DELLINK, or (with to_ns >= 0) back to the namespace to_ns as NAME. */
static int undo_one(struct nl *n, int fd, const struct made *d, int to_ns)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = d->index};
	struct msg m;

	if (to_ns < 0) {
		msg_start(&m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	} else {
		msg_start(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
		put_u32(&m, IFLA_NET_NS_FD, (unsigned int)to_ns);
		put_str(&m, IFLA_IFNAME, d->name);
	}
	return talk(n, fd, &m, 0, NULL, 0);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void net_undo(void)
{
	struct nl *n = &kept;
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	/* Best effort, newest first; a device already gone (ENODEV) is fine: a
	 * stop-hook took a phys device back, or a veth went with its peer. */
	while (nmade > 0) {
		const struct made *d = &made[--nmade];
		if (d->kind == MADE_HOST && n->host >= 0)
			undo_one(n, n->host, d, -1);
		else if (d->kind == MADE_INSIDE && n->inside >= 0)
			undo_one(n, n->inside, d, -1);
		else if (d->kind == MADE_MOVED && n->inside >= 0 && self >= 0)
			undo_one(n, n->inside, d, self);
	}
	if (self >= 0)
		close(self);
	close_fd(&n->host);
	close_fd(&n->inside);
	close_fd(&n->child_ns);
	free(made);
	made = NULL;
}
