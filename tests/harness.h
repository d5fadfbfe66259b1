/* A tiny test harness: each test file is one program; TEST(name) functions
 * run in order from main via RUN(name); a failed CHECK reports file:line and
 * marks the test failed. Exit status 0 only when every check passed. */
#ifndef MEMOBJ_TEST_HARNESS_H
#define MEMOBJ_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failures;
static int harness_test_failed;
static int harness_passed, harness_failed;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		harness_failures++; harness_test_failed = 1; \
	} \
} while (0)

/* Compare two integer codes and print both on failure. */
#define CHECK_EQ(actual, expected) do { \
	long long check_a_ = (long long)(actual), check_e_ = (long long)(expected); \
	if (check_a_ != check_e_) { \
		fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld (0x%llx), expected %s == %lld (0x%llx)\n", \
		        __FILE__, __LINE__, #actual, check_a_, (unsigned long long)check_a_, \
		        #expected, check_e_, (unsigned long long)check_e_); \
		harness_failures++; harness_test_failed = 1; \
	} \
} while (0)

/* A check whose failure makes going on pointless. */
#define REQUIRE(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
		exit(1); \
	} \
} while (0)

#define TEST(name) static void name(void)
#define RUN(name) do { \
	harness_test_failed = 0; \
	name(); \
	if (harness_test_failed) { harness_failed++; fprintf(stderr, "FAIL %s\n", #name); } \
	else { harness_passed++; printf("ok   %s\n", #name); } \
	fflush(stdout); \
} while (0)

/* Prints the closing line and returns main's exit status. */
static inline int harness_done(void)
{
	printf("%d passed, %d failed\n", harness_passed, harness_failed);
	return harness_failed ? 1 : 0;
}

#endif
