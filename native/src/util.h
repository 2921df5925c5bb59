/* Shared helpers: the error record, encoding, small file and /proc utilities. */
#ifndef LXT_UTIL_H
#define LXT_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2) /* close_range(2), Linux 5.11 */
#endif

#define LXT_VERSION "0.1.0"
#define LXT_PLAN_VERSION 1

/*
 * The single error record. Every fallible function returns < 0 and fills it
 * through fail(); the outermost caller turns it into an `error ...` line.
 */
struct lxt_err {
	const char *stage;
	const char *op;
	char path[512];
	int err;
};

extern struct lxt_err lxt_err;

/* Fill the error record and return -1. errno-like values are positive. */
int fail(const char *stage, const char *op, const char *path, int err);

/* Render the record as "error STAGE OP PATH ERRNO\n" into buf (NUL-terminated). */
void format_error(char *buf, size_t cap);

/* Percent-encode one field (see docs/helper-protocol.md); returns the length
 * needed excluding the NUL; output truncated to cap. */
size_t pct_encode(char *out, size_t cap, const char *in);

/* Decode a field in place; rejects malformed escapes, %00 and raw bytes
 * outside the unescaped set. */
int pct_decode(char *s);

int write_all(int fd, const void *buf, size_t len);
/* One line from fd into buf, without its newline, read a byte at a time so
 * that nothing after it is consumed; -1 on end of file before the newline,
 * an error, or a line that does not fit. */
int read_line(int fd, char *buf, size_t cap);

/* One message from a socket whose peer may be gone: its length (0 at the
 * end), or -1 with errno. A peer that closed with data of ours unread
 * leaves ECONNRESET pending, which the kernel reports (once) before any
 * message the peer sent first: that one is read past. */
ssize_t recv_msg(int fd, void *buf, size_t cap, int flags);

/* Write data to path via path.tmp + rename, so readers never see a torn file. */
int write_file_atomic(const char *path, const char *data);

/* Write a short string to an existing file (cgroup.procs, /proc/sys). */
int write_file(const char *path, const char *data, const char *stage);

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
int read_starttime(pid_t pid, unsigned long long *out);
/* Fields 9 (flags, PF_*) and 22 (start time) of /proc/PID/stat. */
int read_stat(pid_t pid, unsigned int *flags, unsigned long long *start);
/* The same from the text of a stat file; -1 unless it has both. */
int parse_stat(const char *line, unsigned int *flags, unsigned long long *start);

/* Strict decimal parse of [min, max]. */
int parse_ll(const char *s, long long min, long long max, long long *out);

/* Strict unsigned parse in the given base (8 or 10). */
int parse_ull(const char *s, int base, unsigned long long *out);

/* Splits s in place at each sep into at most max items; -1 for an empty
 * item (also "" itself, a leading or trailing sep) or one too many. */
int split_list(char *s, char sep, char **items, int max);

/* Save the argv memory area so set_title() can overwrite it later. */
void title_init(int argc, char **argv);
void set_title(const char *comm, const char *title);

/* Raw syscalls glibc 2.36 does not wrap. */
int sys_pidfd_open(pid_t pid, unsigned int flags);
int sys_pidfd_send_signal(int pidfd, int sig);
/* Open path beneath the directory fd root, as if root were "/" (openat2(2)
 * RESOLVE_IN_ROOT: absolute symlinks and ".." stay inside it) and refusing
 * magic links (/proc/PID/fd-style jumps out of it); O_CLOEXEC always. */
int open_in_root(int root, const char *path, int flags, mode_t mode, const char *stage);
/* A pidfd of pid, checked to be the process that started at `start` (clock
 * ticks, /proc/PID/stat field 22); -1 with the error record otherwise. */
int pidfd_checked(pid_t pid, unsigned long long start, const char *stage);

/* ms since an arbitrary monotonic origin. */
long long now_ms(void);
void sleep_ms(int ms);

void *xcalloc(size_t n, size_t size);

/* execve argv, searching the PATH found in envp (not ours) when argv[0] has
 * no '/'. Returns only on failure. */
int exec_search(char *const argv[], char *const envp[]);

#endif
