/*
 * `lxt-shim shift ROOT FROM TO`: rewrites the ownership of every file under
 * ROOT (one filesystem, symlinks not followed) from the id map FROM to the
 * id map TO, for rootfs trees that cannot be idmapped at mount time.
 * A map is `none` (host ids are the namespace's own: an unshifted tree) or a
 * comma list of `u:NSID:HOSTID:COUNT` and `g:...`. Ids FROM does not map are
 * left alone. Kept across the chown: setuid/setgid bits, file capabilities
 * (security.capability, its root id shifted, v2 <-> v3) and POSIX ACLs
 * (ids in system.posix_acl_access/default shifted).
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static struct shift_map from_map, to_map;
static int shift_err;

int shift_parse_map(const char *s, struct shift_map *m)
{
	char buf[4096], *lines[SHIFT_MAP_MAX];

	memset(m, 0, sizeof(*m));
	if (!strcmp(s, "none")) {
		m->identity = true;
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	m->n = split_list(buf, ',', lines, SHIFT_MAP_MAX);
	if (m->n < 0)
		return -1;
	for (int i = 0; i < m->n; i++) {
		unsigned long long v[3];
		char *f[4];
		if (split_list(lines[i], ':', f, 4) != 4 || (strcmp(f[0], "u") && strcmp(f[0], "g")))
			return -1;
		for (int k = 0; k < 3; k++)
			if (parse_ull(f[k + 1], 10, &v[k]) < 0 || v[k] > UINT32_MAX)
				return -1;
		m->l[i] = (struct idmap_line){f[0][0], (unsigned)v[0], (unsigned)v[1], (unsigned)v[2]};
	}
	return 0;
}

/* Host id -> namespace id under m (false: not mapped). */
static bool to_ns(const struct shift_map *m, char kind, uint32_t id, uint32_t *out)
{
	if (m->identity) {
		*out = id;
		return true;
	}
	for (int i = 0; i < m->n; i++) {
		const struct idmap_line *l = &m->l[i];
		if (l->kind == kind && id >= l->host && id - l->host < l->count) {
			*out = l->ns + (id - l->host);
			return true;
		}
	}
	return false;
}

static bool to_host(const struct shift_map *m, char kind, uint32_t id, uint32_t *out)
{
	if (m->identity) {
		*out = id;
		return true;
	}
	for (int i = 0; i < m->n; i++) {
		const struct idmap_line *l = &m->l[i];
		if (l->kind == kind && id >= l->ns && id - l->ns < l->count) {
			*out = l->host + (id - l->ns);
			return true;
		}
	}
	return false;
}

static uint32_t shift_id(char kind, uint32_t id)
{
	uint32_t ns, host;

	if (!to_ns(&from_map, kind, id, &ns) || !to_host(&to_map, kind, ns, &host))
		return id;
	return host;
}

static uint32_t le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_le32(unsigned char *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

/* security.capability (linux/capability.h): v2 is 20 bytes (root = host 0),
 * v3 24 with the owning root's host uid last. */
static int fix_caps(const char *path, unsigned char *cap, ssize_t n)
{
	uint32_t magic = le32(cap), root = 0, newroot;

	if (n == 24 && (magic & 0xff000000U) == 0x03000000U)
		root = le32(cap + 20);
	else if (n != 20 || (magic & 0xff000000U) != 0x02000000U)
		return 0; /* unknown revision: left as the chown made it */
	newroot = shift_id('u', root);
	if (newroot == 0) {
		put_le32(cap, (magic & 0x00ffffffU) | 0x02000000U);
		n = 20;
	} else {
		put_le32(cap, (magic & 0x00ffffffU) | 0x03000000U);
		put_le32(cap + 20, newroot);
		n = 24;
	}
	if (lsetxattr(path, "security.capability", cap, (size_t)n, 0) < 0)
		return fail("shift", "setxattr", path, errno);
	return 0;
}

/* A POSIX ACL xattr: le32 version, then {le16 tag, le16 perm, le32 id}. */
static int fix_acl(const char *path, const char *name)
{
	unsigned char buf[8192];
	ssize_t n = lgetxattr(path, name, buf, sizeof(buf));

	if (n < 0)
		return errno == ENODATA || errno == EOPNOTSUPP ? 0 : fail("shift", "getxattr", path, errno);
	if (n < 4 || (n - 4) % 8)
		return 0;
	for (ssize_t off = 4; off < n; off += 8) {
		unsigned tag = (unsigned)buf[off] | (unsigned)buf[off + 1] << 8;
		if (tag == 0x02 || tag == 0x08)
			put_le32(buf + off + 4, shift_id(tag == 0x02 ? 'u' : 'g', le32(buf + off + 4)));
	}
	if (lsetxattr(path, name, buf, (size_t)n, 0) < 0)
		return fail("shift", "setxattr", path, errno);
	return 0;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	unsigned char cap[24];
	ssize_t ncap = -1;
	bool link = S_ISLNK(st->st_mode);
	uid_t u = shift_id('u', st->st_uid);
	gid_t g = shift_id('g', st->st_gid);

	(void)type;
	(void)ftw;
	if (u == st->st_uid && g == st->st_gid)
		return 0;
	if (S_ISREG(st->st_mode))
		ncap = lgetxattr(path, "security.capability", cap, sizeof(cap));
	if (lchown(path, u, g) < 0) {
		shift_err = fail("shift", "lchown", path, errno);
		return 1;
	}
	/* chown(2) clears setuid/setgid (and file capabilities) of non-directories. */
	if (!link && (st->st_mode & (S_ISUID | S_ISGID)) && chmod(path, st->st_mode & 07777) < 0) {
		shift_err = fail("shift", "chmod", path, errno);
		return 1;
	}
	if ((ncap > 0 && fix_caps(path, cap, ncap) < 0) ||
	    (!link && fix_acl(path, "system.posix_acl_access") < 0) ||
	    (S_ISDIR(st->st_mode) && fix_acl(path, "system.posix_acl_default") < 0)) {
		shift_err = -1;
		return 1;
	}
	return 0;
}

int shift_main(int argc, char **argv)
{
	char line[700];

	if (argc != 3 || argv[0][0] != '/' || shift_parse_map(argv[1], &from_map) < 0 ||
	    shift_parse_map(argv[2], &to_map) < 0) {
		fail("shift", "usage", NULL, EINVAL);
	} else if (nftw(argv[0], visit, 64, FTW_PHYS | FTW_MOUNT) == 0) {
		puts("ok");
		return 0;
	} else if (!shift_err) {
		fail("shift", "walk", argv[0], errno);
	}
	format_error(line, sizeof(line));
	fputs(line, stdout);
	return 1;
}
