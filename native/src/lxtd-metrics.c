/*
 * `lxt-shim lxtd-metrics NODE SCRIPT metrics [ARGS...]`: `lxt metrics` answered by
 * the lxtd that serves the same state root, without starting Node.
 *
 * A metrics sample of a hundred containers is cheap in a running lxtd (it
 * keeps their cgroup files open and its scrape is compiled), while a Node
 * start alone costs about as much as that whole sample. So the launchers
 * (bin/lxt, the ones scripts/setup.sh and the Debian package install) send
 * `lxt metrics` here first. When STATE_ROOT/.lxtd/unix.socket answers
 * `GET /1.0/metrics?view=cli` with 200 and the whole body, that body (the
 * text `lxt metrics` prints: src/container/metrics.ts scrapeText, run in
 * the daemon) is written out. Anything else (no daemon, other flags or
 * `--help`, a name the query cannot carry, an error answer such as an
 * unknown container, a short answer, no answer in 10 s) hands the command
 * unchanged to Node (`NODE SCRIPT metrics ARGS...`; NODE
 * is looked up in $PATH when it has no slash), which samples by itself
 * and reports errors as every verb does. Nothing is written before the
 * answer is whole, so a fallback never follows partial output.
 * $LXT_METRICS_NO_DAEMON (any value) skips the daemon: Node samples by itself.
 *
 * The arguments are read as src/cli/metrics-entry.ts reads them: names,
 * `-n`/`--name NAME`, `-P`/`--lxcpath PATH`; the state root is `-P`, else
 * $LXT_PATH, else /var/lib/lxt.
 */
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define QUERY_CAP 8192
#define ANSWER_TIMEOUT_S 10

/* The value of a `-n NAME`-style option at argv[*i] (advancing *i past a
 * separate value), NULL when argv[*i] is not that option; *missing is set
 * when the option has no value. */
static const char *option_value(char **argv, int argc, int *i, const char *sh,
				const char *lg, int *missing)
{
	const char *a = argv[*i];
	size_t ll = strlen(lg);
	if (!strcmp(a, sh) || !strcmp(a, lg)) {
		if (*i + 1 >= argc) {
			*missing = 1;
			return NULL;
		}
		return argv[++*i];
	}
	if (!strncmp(a, lg, ll) && a[ll] == '=')
		return a + ll + 1;
	if (!strncmp(a, sh, 2) && a[2])
		return a + 2;
	return NULL;
}

/* A name the query carries as it is (what names may hold: src/core/names.ts). */
static int plain_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* Builds the request for argv (the words after `metrics`) and the socket's
 * path; -1 when Node must answer. */
static int request_for(int argc, char **argv, char *req, size_t cap, struct sockaddr_un *sun)
{
	const char *root = NULL;
	size_t len;
	int n = snprintf(req, cap, "GET /1.0/metrics?view=cli");
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *name = option_value(argv, argc, &i, "-n", "--name", &missing);
		const char *path = NULL;
		if (missing)
			return -1;
		if (!name) {
			path = option_value(argv, argc, &i, "-P", "--lxcpath", &missing);
			if (missing)
				return -1;
			if (path) {
				root = path;
				continue;
			}
			if (argv[i][0] == '-')
				return -1;
			name = argv[i];
		}
		if (!plain_name(name))
			return -1;
		n += snprintf(req + n, n < (int)cap ? cap - n : 0, "&name=%s", name);
		if (n >= (int)cap)
			return -1;
	}
	n += snprintf(req + n, n < (int)cap ? cap - n : 0,
		      " HTTP/1.0\r\nHost: lxd\r\nConnection: close\r\n\r\n");
	if (n >= (int)cap)
		return -1;
	if (!root || !*root)
		root = getenv("LXT_PATH");
	if (!root || !*root)
		root = "/var/lib/lxt";
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	len = (size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/.lxtd/unix.socket", root);
	return len < sizeof(sun->sun_path) ? 0 : -1;
}

/* The whole answer to req from the socket (malloc'd, its length in *len), or NULL. */
static char *ask(const struct sockaddr_un *sun, const char *req, size_t *len)
{
	struct timeval tv = { .tv_sec = ANSWER_TIMEOUT_S };
	size_t cap = 1 << 18, got = 0;
	char *buf = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 ||
	    write_all(fd, req, strlen(req)) < 0)
		goto fail;
	buf = malloc(cap);
	for (;;) {
		ssize_t r;
		if (!buf)
			goto fail;
		if (got == cap) {
			char *more = realloc(buf, cap *= 2);
			if (!more)
				goto fail;
			buf = more;
		}
		r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* The body of a whole 200 answer with a Content-Length (in *body_len), or NULL. */
static const char *body_of(const char *ans, size_t len, size_t *body_len)
{
	const char *end = memmem(ans, len, "\r\n\r\n", 4);
	long long want = -1;
	if (!end || len < 13 || (strncmp(ans, "HTTP/1.1 200 ", 13) && strncmp(ans, "HTTP/1.0 200 ", 13)))
		return NULL;
	for (const char *h = memchr(ans, '\n', (size_t)(end - ans)); h && h < end;
	     h = memchr(h, '\n', (size_t)(end - h))) {
		h++;
		if (!strncasecmp(h, "content-length:", 15))
			want = strtoll(h + 15, NULL, 10);
		else if (!strncasecmp(h, "transfer-encoding:", 18))
			return NULL;
	}
	end += 4;
	if (want < 0 || (size_t)want != len - (size_t)(end - ans))
		return NULL;
	*body_len = (size_t)want;
	return end;
}

int lxtd_metrics_main(int argc, char **argv)
{
	static char req[QUERY_CAP];
	struct sockaddr_un sun;
	if (argc < 3 || strcmp(argv[2], "metrics")) {
		fputs("usage: lxt-shim lxtd-metrics NODE SCRIPT metrics [ARGS...]\n", stderr);
		return 2;
	}
	if (!getenv("LXT_METRICS_NO_DAEMON") &&
	    request_for(argc - 3, argv + 3, req, sizeof(req), &sun) == 0) {
		size_t len, body_len;
		char *ans = ask(&sun, req, &len);
		const char *body = ans ? body_of(ans, len, &body_len) : NULL;
		if (body)
			return write_all(STDOUT_FILENO, body, body_len) < 0 ? 1 : 0;
		free(ans);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "lxt: cannot run %s: %s\n", argv[0], strerror(errno));
	return 127;
}
