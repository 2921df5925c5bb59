/* The helper's C unit tests (make -C native test): a check macro and the suites. */
#ifndef LXT_UNIT_H
#define LXT_UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_checks, unit_failures;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		unit_checks++;                                                               \
		if (!(cond)) {                                                               \
			unit_failures++;                                                     \
			fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__,  \
				__func__, #cond);                                            \
		}                                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                                      \
	do {                                                                                 \
		const char *a_ = (a), *b_ = (b);                                             \
		unit_checks++;                                                               \
		if (!a_ || !b_ || strcmp(a_, b_)) {                                          \
			unit_failures++;                                                     \
			fprintf(stderr, "%s:%d: %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
				__func__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");           \
		}                                                                            \
	} while (0)

/* A file holding LEN bytes of DATA, rewound (an unlinked temp file). */
int unit_file(const char *data, size_t len);

void test_procs(void);
void test_plan(const char *fixtures);
void test_parsers(void);
void test_ringbuf(void);

#endif
