/* How many threads this process has, from /proc/self/task (the pool
 * tests check that a pager starts and stops the threads it says). */
#ifndef MEMOBJ_TESTS_THREAD_COUNT_H
#define MEMOBJ_TESTS_THREAD_COUNT_H

#include <dirent.h>
#include <sched.h>
#include <time.h>

#include "harness.h"

static inline int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	REQUIRE(d != NULL);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The thread count once it is `want`, or what it is after a bound: a
 * joined thread can still be listed for a moment (pthread_join returns at
 * the kernel's tid wake-up, before the thread is reaped). */
static inline int thread_count_settled(int want)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int n;
	while ((n = thread_count()) != want) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 10)
			break;
		sched_yield();
	}
	return n;
}

#endif
