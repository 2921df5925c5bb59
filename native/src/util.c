/* Error record, field encoding, atomic files and small /proc helpers. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

struct lxt_err lxt_err;

int fail(const char *stage, const char *op, const char *path, int err)
{
	size_t n = 0;

	lxt_err.stage = stage;
	lxt_err.op = op;
	/* Truncation is fine: the path is context for a human. */
	for (; path && path[n] && n < sizeof(lxt_err.path) - 1; n++)
		lxt_err.path[n] = path[n];
	lxt_err.path[n] = '\0';
	lxt_err.err = err < 0 ? -err : err;
	return -1;
}

void format_error(char *buf, size_t cap)
{
	char stage[64], op[96], path[3 * sizeof(lxt_err.path) + 1];

	pct_encode(stage, sizeof(stage), lxt_err.stage ? lxt_err.stage : "monitor");
	pct_encode(op, sizeof(op), lxt_err.op ? lxt_err.op : "");
	pct_encode(path, sizeof(path), lxt_err.path);
	snprintf(buf, cap, "error %s %s %s %d\n", stage, op, path, lxt_err.err);
}

static int is_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("._/:=,+@-", c));
}

size_t pct_encode(char *out, size_t cap, const char *in)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (!*in) {
		if (cap > 1)
			out[n] = '%';
		n = 1;
	}
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (is_plain(*p)) {
			if (n + 1 < cap)
				out[n] = (char)*p;
			n++;
		} else {
			if (n + 3 < cap) {
				out[n] = '%';
				out[n + 1] = hex[*p >> 4];
				out[n + 2] = hex[*p & 15];
			}
			n += 3;
		}
	}
	if (cap)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int pct_decode(char *s)
{
	char *w = s;

	if (strcmp(s, "%") == 0) {
		*s = '\0';
		return 0;
	}
	for (char *r = s; *r; r++) {
		if (*r == '%') {
			int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else if (is_plain((unsigned char)*r)) {
			*w++ = *r;
		} else {
			return -1;
		}
	}
	*w = '\0';
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t recv_msg(int fd, void *buf, size_t cap, int flags)
{
	int resets = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, cap, flags);

		if (n >= 0)
			return n;
		if (errno == EINTR || (errno == ECONNRESET && resets++ == 0))
			continue;
		return -1;
	}
}

int write_file_atomic(const char *path, const char *data)
{
	char tmp[4096];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return fail("monitor", "write", path, ENAMETOOLONG);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return fail("monitor", "open", tmp, errno);
	if (write_all(fd, data, strlen(data)) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return fail("monitor", "write", tmp, e);
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return fail("monitor", "rename", path, e);
	}
	return 0;
}

int write_file(const char *path, const char *data, const char *stage)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return fail(stage, "open", path, errno);
	if (write_all(fd, data, strlen(data)) < 0) {
		int e = errno;
		close(fd);
		return fail(stage, "write", path, e);
	}
	close(fd);
	return 0;
}

int parse_stat(const char *line, unsigned int *flags, unsigned long long *start)
{
	/* comm may hold spaces and ')', so fields are counted after the last ')'. */
	const char *p = strrchr(line, ')');
	unsigned long long v;
	char *end;

	if (!p || p[1] != ' ')
		return -1;
	p++;
	for (int field = 3; field <= 22; field++) {
		if (*p != ' ' || p[1] == ' ' || !p[1])
			return -1;
		p++;
		if (field == 9 || field == 22) {
			errno = 0;
			v = strtoull(p, &end, 10);
			if (errno || end == p || (*end != ' ' && *end != '\n' && *end))
				return -1;
			if (field == 9) {
				if (v > UINT_MAX)
					return -1;
				*flags = (unsigned int)v;
			} else {
				*start = v;
			}
		}
		p += strcspn(p, " ");
	}
	return 0;
}

int read_stat(pid_t pid, unsigned int *flags, unsigned long long *start)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("monitor", "open", path, errno);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return fail("monitor", "read", path, n < 0 ? errno : EIO);
	buf[n] = '\0';
	if (parse_stat(buf, flags, start) < 0)
		return fail("monitor", "parse", path, EINVAL);
	return 0;
}

int read_starttime(pid_t pid, unsigned long long *out)
{
	unsigned int flags;

	return read_stat(pid, &flags, out);
}

int parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!*s || (s[0] == '0' && s[1]) || (s[0] == '-' && s[1] == '0'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max || s[0] == '+' || s[0] == ' ')
		return -1;
	*out = v;
	return 0;
}

int parse_ull(const char *s, int base, unsigned long long *out)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, base);
	return errno || *end ? -1 : 0;
}

int split_list(char *s, char sep, char **items, int max)
{
	const char seps[2] = {sep, '\0'};
	int n = 0;

	for (char *item; (item = strsep(&s, seps));) {
		if (!*item || n == max)
			return -1;
		items[n++] = item;
	}
	return n;
}

static char *title_start;
static size_t title_len;

void title_init(int argc, char **argv)
{
	if (argc < 1)
		return;
	/* argv strings are contiguous; overwriting them is what ps shows. */
	title_start = argv[0];
	title_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
}

void set_title(const char *comm, const char *title)
{
	prctl(PR_SET_NAME, (unsigned long)comm, 0, 0, 0);
	if (!title_start || title_len < 2)
		return;
	memset(title_start, 0, title_len + 1);
	snprintf(title_start, title_len + 1, "%s", title);
}

int sys_pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

int open_in_root(int root, const char *path, int flags, mode_t mode, const char *stage)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	/* EAGAIN: a rename raced a ".." walk; the kernel asks us to retry. */
	do
		fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	if (fd < 0)
		return fail(stage, "openat2", path, errno);
	return fd;
}

int pidfd_checked(pid_t pid, unsigned long long start, const char *stage)
{
	unsigned long long st;
	char path[64];
	int fd = sys_pidfd_open(pid, 0);

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (fd < 0)
		return fail(stage, "pidfd_open", path, errno);
	/* The pidfd pins the process; a start time read while it is still alive
	 * therefore belongs to it, not to a recycled pid. */
	if (read_starttime(pid, &st) < 0 || st != start || sys_pidfd_send_signal(fd, 0) < 0) {
		close(fd);
		return fail(stage, "pid-start", path, ESRCH);
	}
	return fd;
}

int sys_pidfd_send_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		static const char msg[] = "error monitor calloc % 12\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(1);
	}
	return p;
}

/* execvpe() would search the helper's PATH; the container's is in envp. */
int exec_search(char *const argv[], char *const envp[])
{
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	int saved = ENOENT;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		return fail("exec", "execve", argv[0], errno);
	}
	for (char *const *e = envp; *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	while (*path) {
		char full[PATH_MAX];
		size_t len = strcspn(path, ":");
		if (snprintf(full, sizeof(full), "%.*s/%s", (int)len, len ? path : ".", argv[0]) <
		    (int)sizeof(full)) {
			execve(full, argv, envp);
			if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		path += len;
		if (*path == ':')
			path++;
	}
	return fail("exec", "execve", argv[0], saved);
}

int read_line(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return 0;
		}
		len++;
	}
	return -1;
}
