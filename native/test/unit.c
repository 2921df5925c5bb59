/* Runs the helper's C unit tests; argv[1] is the golden plan directory. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

int unit_checks, unit_failures;

int unit_file(const char *data, size_t len)
{
	char path[] = "/tmp/lxt-unit-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	unlink(path);
	if (write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
		perror("write");
		exit(2);
	}
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: unit FIXTURE_DIR\n");
		return 2;
	}
	test_procs();
	test_parsers();
	test_ringbuf();
	test_plan(argv[1]);
	printf("%d checks, %d failed\n", unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}
