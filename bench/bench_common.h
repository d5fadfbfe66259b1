/* What several benchmarks share: medians (each figure a median of
 * several runs), a monotonic clock, a seeded random sequence, dying on a
 * failed setup call. */
#ifndef MEMOBJ_BENCH_COMMON_H
#define MEMOBJ_BENCH_COMMON_H

#include <dirent.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v[0..n) and returns its median (n > 0). */
static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void die(const char *what)
{
	perror(what);
	exit(2);
}

static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Sets the affinity of every thread of this process, as taskset -a does
 * (threads and processes started later inherit it from their creator).
 * On these VMs a wake-up on an idle vCPU costs 25-50 us and one on the
 * same CPU 1-2 us: pinned to one CPU, a figure is the software's cost.
 * 0, or -1 when a thread could not be moved. */
static inline int bench_set_affinity(const cpu_set_t *set)
{
	DIR *tasks = opendir("/proc/self/task");
	if (tasks == NULL)
		return -1;
	int rc = 0;
	struct dirent *entry;
	while ((entry = readdir(tasks)) != NULL) {
		pid_t tid = (pid_t)atoi(entry->d_name);
		if (tid > 0 && sched_setaffinity(tid, sizeof *set, set) != 0)
			rc = -1;
	}
	closedir(tasks);
	return rc;
}

#endif
