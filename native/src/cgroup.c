/*
 * Emptying and removing a container's cgroups, for the monitor: the pids of
 * cgroup.procs read a whole line at a time, a v1 freezer thawed before
 * anything is killed, cgroup.kill where cgroup v2 has it, and rmdir
 * depth-first.
 */
#include "shim.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROCS_CHUNK 4096
#define MAX_DEPTH 16

/* One line of cgroup.procs: a canonical positive decimal, or nothing. */
static int one_pid(const char *line, int (*fn)(long pid, void *arg), void *arg)
{
	long long pid;

	return parse_ll(line, 1, INT_MAX, &pid) == 0 && fn((long)pid, arg) == 0;
}

int procs_each(int fd, int (*fn)(long pid, void *arg), void *arg)
{
	char buf[PROCS_CHUNK + 1];
	size_t have = 0;
	bool skip = false; /* in a line longer than the buffer: no pid is */
	int n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + have, PROCS_CHUNK - have);
		char *s = buf, *nl;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		/* A read may end inside a line: only whole lines are parsed,
		 * the rest is carried to the front for the next read. */
		while ((nl = memchr(s, '\n', have - (size_t)(s - buf)))) {
			*nl = '\0';
			if (!skip)
				n += one_pid(s, fn, arg);
			skip = false;
			s = nl + 1;
		}
		have -= (size_t)(s - buf);
		memmove(buf, s, have);
		if (have == PROCS_CHUNK) {
			skip = true;
			have = 0;
		}
	}
	if (have && !skip) {
		buf[have] = '\0';
		n += one_pid(buf, fn, arg);
	}
	return n;
}

static int kill_pid(long pid, void *arg)
{
	(void)arg;
	return kill((pid_t)pid, SIGKILL);
}

/* Calls fn for dir's sub-cgroups (depth-first below MAX_DEPTH). */
static void each_child(const char *dir, int depth, void (*fn)(const char *, int))
{
	char path[4200];
	DIR *d = depth > MAX_DEPTH ? NULL : opendir(dir);

	if (!d)
		return;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			fn(path, depth + 1);
		}
	}
	closedir(d);
}

/* Tasks of a FROZEN v1 freezer cgroup do not die of SIGKILL until thawed
 * (v2 ones do). A cgroup frozen by itself stays frozen when only its parent
 * is thawed, so every cgroup of the tree is thawed. */
static void thaw_tree(const char *dir, int depth)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/freezer.state", dir);
	if (access(path, F_OK) != 0)
		return; /* not a v1 freezer cgroup */
	(void)write_file(path, "THAWED", "cgroup");
	each_child(dir, depth, thaw_tree);
}

void cgroup_thaw(const char *dir)
{
	thaw_tree(dir, 0);
}

/* "populated 1" in a v2 cgroup.events: tasks left in dir or below. */
static bool populated(const char *dir)
{
	char path[4200], buf[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, "populated 1") != NULL;
}

static int killed;

static void kill_procs(const char *dir, int depth)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		killed += procs_each(fd, kill_pid, NULL);
		close(fd);
	}
	each_child(dir, depth, kill_procs);
}

int cgroup_kill(const char *dir)
{
	char path[4200];

	/* cgroup v2 (Linux 5.14+) kills the whole subtree itself, with no
	 * window for a pid to be reused between reading it and the kill. */
	snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
	if (access(path, F_OK) == 0 && write_file(path, "1", "cgroup") == 0)
		return populated(dir);
	killed = 0;
	kill_procs(dir, 0);
	return killed;
}

/* A cgroup stays EBUSY for a moment after its last task exits: retry for 2 s. */
static void rmdir_tree(const char *dir, int depth)
{
	long long until = now_ms() + 2000;

	each_child(dir, depth, rmdir_tree);
	while (rmdir(dir) < 0 && errno == EBUSY && now_ms() < until)
		sleep_ms(20);
}

void cgroup_remove(const char *dir)
{
	rmdir_tree(dir, 0);
}
